/*
 * libFuzzer target for the listener API's payload validation
 * (workers/proxy/payload.c).
 *
 * Each input is validated twice: as the whole body, and cut at 0xff bytes
 * (never valid in JSON) into up to three pieces placed as the values of
 * actid, master_actid and services.master in an otherwise valid body, so the
 * field rules are reached as often as the JSON parser.
 *
 * Invariants: a success has a non-empty actid and, for a client, a non-empty
 * master_actid, both NUL-terminated within bounds and free of control
 * characters, and an empty message; an error is a 400 with one of the fixed
 * texts or "Required fields missing: " and field names in their order, and
 * empty ids (so nothing taken from the body, the access_token included, can
 * reach a message); white space after a body changes nothing; and
 * payload_parse answers exactly as payload_parse_reference (json-c's tree
 * alone), so its fast path for plain bodies reads what json-c reads.
 *
 * Build and run: make -f tests/fuzz/Makefile fuzz-run TARGET=payload
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workers/proxy/payload.h"
#include "tests/fuzz/fuzz.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define MISSING		"Required fields missing: "


static const char *const fixed_messages[] = {
	"Invalid JSON payload",
	"Request body must be a JSON object",
	"master_actid is required when services.master is false",
	"services must be an object",
	"actid must be a string or an integer",
	"actid is too long",
	"actid contains control characters",
	"master_actid must be a string, an integer or an object",
	"master_actid is too long",
	"master_actid contains control characters",
};

static const char *const field_names[] = {
	"actid", "broker", "access_token", "master_actid", "services",
};

/* "Required fields missing: " then field names, in order, ", " between. */
static int
missing_ok(const char *m)
{
	size_t len;

	if (strncmp(m, MISSING, strlen(MISSING)) != 0)
		return 0;
	m += strlen(MISSING);
	for (size_t i = 0; i < NELEM(field_names); i++) {
		len = strlen(field_names[i]);
		if (strncmp(m, field_names[i], len) != 0 ||
		    (m[len] != '\0' && m[len] != ','))
			continue;
		m += len;
		if (*m == '\0')
			return 1;
		if (strncmp(m, ", ", 2) != 0)
			return 0;
		m += 2;
	}
	return 0;
}

static int
message_ok(const char *m)
{
	for (size_t i = 0; i < NELEM(fixed_messages); i++)
		if (strcmp(m, fixed_messages[i]) == 0)
			return 1;
	return missing_ok(m);
}

static void
check_id(const char *id, size_t size)
{
	const unsigned char *s = (const unsigned char *)id;
	size_t len;

	CHECK(memchr(id, '\0', size) != NULL);
	len = strlen(id);
	for (size_t i = 0; i < len; i++) {
		CHECK(s[i] >= 0x20 && s[i] != 0x7f);
		CHECK(!(s[i] == 0xc2 && s[i + 1] < 0xa0));
	}
}

/* fn on a heap copy of body[0..len) (so ASan sees any over-read). */
static int
parse_copy(int (*fn)(const char *, size_t, struct payload *), const char *body,
    size_t len, struct payload *p)
{
	char *copy = malloc(len > 0 ? len : 1);
	int status;

	CHECK(copy != NULL);
	memcpy(copy, body, len);
	memset(p, 0x55, sizeof(*p));
	status = fn(copy, len, p);
	free(copy);
	return status;
}

/*
 * Validate body[0..len), check the result's invariants, and that the json-c
 * reference gives the same answer (the fast path for plain bodies is exact).
 */
static int
validate(const char *body, size_t len, struct payload *p)
{
	struct payload ref;
	int status = parse_copy(payload_parse, body, len, p);

	CHECK(parse_copy(payload_parse_reference, body, len, &ref) == status);
	CHECK(strcmp(ref.message, p->message) == 0);
	CHECK(memchr(p->message, '\0', sizeof(p->message)) != NULL);
	check_id(p->actid, sizeof(p->actid));
	check_id(p->master_actid, sizeof(p->master_actid));
	if (status == 0) {
		CHECK(strcmp(ref.actid, p->actid) == 0);
		CHECK(strcmp(ref.master_actid, p->master_actid) == 0);
		CHECK(ref.is_master == p->is_master);
		CHECK(p->message[0] == '\0');
		CHECK(p->actid[0] != '\0');
		CHECK(p->is_master == 0 || p->is_master == 1);
		CHECK(p->is_master || p->master_actid[0] != '\0');
	} else {
		CHECK(status == 400);
		CHECK(message_ok(p->message));
		CHECK(p->actid[0] == '\0' && p->master_actid[0] == '\0');
	}
	return status;
}

/* The body, then the body with white space after it: the same result. */
static void
fuzz_body(const char *body, size_t len)
{
	struct payload a, b;
	char *padded = malloc(len + 3);
	int status;

	CHECK(padded != NULL);
	memcpy(padded, body, len);
	memcpy(padded + len, " \r\n", 3);
	status = validate(body, len, &a);
	CHECK(validate(padded, len + 3, &b) == status);
	CHECK(strcmp(a.message, b.message) == 0);
	if (status == 0) {
		CHECK(strcmp(a.actid, b.actid) == 0);
		CHECK(strcmp(a.master_actid, b.master_actid) == 0);
		CHECK(a.is_master == b.is_master);
	}
	free(padded);
}

/* Append s[0..n) to buf at *off. */
static void
append(char *buf, size_t *off, const void *s, size_t n)
{
	memcpy(buf + *off, s, n);
	*off += n;
}

#define APPEND(buf, off, literal)	append(buf, off, literal, sizeof(literal) - 1)

/* The input cut at 0xff into the values of actid, master_actid, services.master. */
static void
fuzz_fields(const uint8_t *data, size_t size)
{
	static const char *const glue[] = {
		"{\"actid\":",
		",\"broker\":\"b\",\"access_token\":\"SECRET\",\"master_actid\":",
		",\"services\":{\"master\":",
	};
	char *body = malloc(size + 160);
	size_t off = 0, start = 0, end;

	CHECK(body != NULL);
	for (size_t i = 0; i < NELEM(glue); i++) {
		append(body, &off, glue[i], strlen(glue[i]));
		end = start;
		while (end < size && (data[end] != 0xff || i == NELEM(glue) - 1))
			end++;
		append(body, &off, data + start, end - start);
		start = end < size ? end + 1 : end;
	}
	APPEND(body, &off, "}}");
	fuzz_body(body, off);
	free(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_body((const char *)data, size);
	fuzz_fields(data, size);
	return 0;
}
