/*
 * aws_creds: the shared credentials file (see aws_creds.h).  One pass over
 * the lines; only the chosen profile's keys are kept, but every line of the
 * file must be well-formed.  Also the metadata service's credentials
 * answer (JSON, json-c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "workers/scaler/aws_creds.h"

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

/* The instance metadata service's answer */

/* A string member of o that fits size and has no control character; NULL
 * otherwise. */
static const char *
imds_member(json_object *o, const char *key, size_t size)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) ||
	    strlen(s) == 0 || strlen(s) >= size)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return NULL;
	return s;
}

/* "2026-11-27T14:30:00Z" (seconds, optional fraction) to ms since the
 * epoch; 0 if it is anything else. */
static uint64_t
imds_time(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return 0;
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if (strcmp(end, "Z") != 0 || tm.tm_year < 100 || tm.tm_year > 1100)
		return 0;
	return (uint64_t)timegm(&tm) * 1000;
}

int
aws_creds_parse_imds(const char *json, size_t len, struct aws_creds *out,
    uint64_t *expires, char *why, size_t why_size)
{
	const char *code, *ak, *sk, *token, *msg = NULL;
	json_tokener *tok;
	json_object *o;

	memset(out, 0, sizeof(*out));
	*expires = 0;
	if (len > AWS_CREDS_IMDS_MAX || (tok = json_tokener_new()) == NULL) {
		snprintf(why, why_size, "answer too long");
		return -1;
	}
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (o == NULL || json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, json_type_object))
		msg = "not a JSON object";
	json_tokener_free(tok);
	if (msg == NULL && (code = imds_member(o, "Code", 64)) != NULL &&
	    strcmp(code, "Success") != 0)
		msg = "Code is not Success";
	if (msg == NULL &&
	    ((ak = imds_member(o, "AccessKeyId", sizeof(out->access_key))) == NULL ||
	    (sk = imds_member(o, "SecretAccessKey", sizeof(out->secret_key))) == NULL ||
	    (token = imds_member(o, "Token", sizeof(out->session_token))) == NULL))
		msg = "AccessKeyId, SecretAccessKey or Token missing or unusable";
	if (msg == NULL && (*expires = imds_time(imds_member(o, "Expiration",
	    64))) == 0)
		msg = "Expiration missing or not a UTC time";
	if (msg == NULL) {
		snprintf(out->access_key, sizeof(out->access_key), "%s", ak);
		snprintf(out->secret_key, sizeof(out->secret_key), "%s", sk);
		snprintf(out->session_token, sizeof(out->session_token), "%s", token);
	}
	json_object_put(o);
	if (msg != NULL) {
		memset(out, 0, sizeof(*out));
		*expires = 0;
		snprintf(why, why_size, "%s", msg);
		return -1;
	}
	return 0;
}
