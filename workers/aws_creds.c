/*
 * aws_creds: the shared credentials file (see aws_creds.h).  One pass over
 * the lines; only the chosen profile's keys are kept, but every line of the
 * file must be well-formed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "workers/aws_creds.h"

struct creds_parse {
	const char		*profile;
	struct aws_creds	*out;
	int			 in_profile;	/* the current section is ours */
	int			 found;		/* the section was seen */
	int			 seen[3];	/* each key of ours, once */
	char			*why;
	size_t			 why_size;
};

static int	creds_fail(struct creds_parse *ps, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
creds_fail(struct creds_parse *ps, unsigned line, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(ps->why, ps->why_size, "line %u: %s", line, msg);
	else
		snprintf(ps->why, ps->why_size, "%s", msg);
	return -1;
}

/* s[0..*n) without leading and trailing spaces and tabs. */
static const char *
trim(const char *s, size_t *n)
{
	while (*n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*n)--;
	}
	while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
		(*n)--;
	return s;
}

static int
equals(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* "[name]": enter a section. */
static int
creds_section(struct creds_parse *ps, unsigned line, const char *s, size_t n)
{
	const char *name;

	if (n < 2 || s[n - 1] != ']')
		return creds_fail(ps, line, "a section name must end with ']'");
	n -= 2;
	name = trim(s + 1, &n);
	if (n == 0)
		return creds_fail(ps, line, "empty section name");
	ps->in_profile = equals(name, n, ps->profile);
	ps->found |= ps->in_profile;
	return 0;
}

/* "key = value" inside a section. */
static int
creds_pair(struct creds_parse *ps, unsigned line, const char *s, size_t n)
{
	static const char *const keys[3] = { "aws_access_key_id",
	    "aws_secret_access_key", "aws_session_token" };
	const char *eq = memchr(s, '=', n), *key, *value;
	size_t kn, vn;
	char *dst[3] = { ps->out->access_key, ps->out->secret_key,
	    ps->out->session_token };
	size_t size[3] = { sizeof(ps->out->access_key),
	    sizeof(ps->out->secret_key), sizeof(ps->out->session_token) };

	if (eq == NULL)
		return creds_fail(ps, line, "expected key = value");
	kn = (size_t)(eq - s);
	vn = n - kn - 1;
	key = trim(s, &kn);
	value = trim(eq + 1, &vn);
	if (kn == 0)
		return creds_fail(ps, line, "empty key");
	if (!ps->in_profile)
		return 0;
	for (int i = 0; i < 3; i++) {
		if (!equals(key, kn, keys[i]))
			continue;
		if (ps->seen[i])
			return creds_fail(ps, line, "%s given twice", keys[i]);
		if (vn >= size[i])
			return creds_fail(ps, line, "%s is too long", keys[i]);
		memcpy(dst[i], value, vn);
		dst[i][vn] = '\0';
		ps->seen[i] = 1;
	}
	return 0;
}

static int
creds_line(struct creds_parse *ps, unsigned line, const char *s, size_t n,
    int *in_section)
{
	/* A key ends up in an HTTP header: no CR, no other control byte. */
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return creds_fail(ps, line, "a control character");
	s = trim(s, &n);
	if (n == 0 || s[0] == '#' || s[0] == ';')
		return 0;
	if (s[0] == '[') {
		*in_section = 1;
		return creds_section(ps, line, s, n);
	}
	if (!*in_section)
		return creds_fail(ps, line, "a key before any [profile]");
	return creds_pair(ps, line, s, n);
}

int
aws_creds_parse(const char *text, size_t len, const char *profile,
    struct aws_creds *out, char *why, size_t why_size)
{
	struct creds_parse ps = { .profile = profile, .out = out, .why = why,
	    .why_size = why_size };
	int in_section = 0;
	unsigned line = 0;

	memset(out, 0, sizeof(*out));
	if (why_size > 0)
		why[0] = '\0';
	if (text == NULL || profile == NULL || profile[0] == '\0')
		return creds_fail(&ps, 0, "no file or no profile");
	if (memchr(text, '\0', len) != NULL)
		return creds_fail(&ps, 0, "a NUL byte in the file");
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t n = end - off;

		line++;
		if (n > AWS_CREDS_LINE_MAX)
			return creds_fail(&ps, line, "line too long");
		if (n > 0 && text[off + n - 1] == '\r')
			n--;
		if (creds_line(&ps, line, text + off, n, &in_section) == -1)
			return -1;
		off = end + 1;
	}
	if (!ps.found)
		return creds_fail(&ps, 0, "no profile [%s]", profile);
	if (!ps.seen[0] || !ps.seen[1] || out->access_key[0] == '\0' ||
	    out->secret_key[0] == '\0')
		return creds_fail(&ps, 0, "profile [%s] lacks aws_access_key_id or "
		    "aws_secret_access_key", profile);
	return 0;
}
