/*
 * libFuzzer target for the shared credentials file reader
 * (workers/scaler/aws_creds.c).  The first byte picks the profile asked for.
 *
 * Invariants: a success has a non-empty access key and secret key, every
 * field NUL-terminated within its buffer and without line breaks; a failure
 * says why; the answer does not depend on anything but the bytes.
 *
 * Build and run: make -f tests/fuzz/Makefile fuzz-run TARGET=aws_creds
 */
#include <stdint.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "workers/scaler/aws_creds.h"

#define TERMINATED(s)	CHECK(memchr((s), '\0', sizeof(s)) != NULL)

static void
check_field(const char *s)
{
	CHECK(strchr(s, '\n') == NULL && strchr(s, '\r') == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const profiles[] = { "default", "olb", "a", "p q" };
	struct aws_creds c, d;
	char why[128], why2[128];
	const char *profile;
	int rc;

	if (size == 0)
		return 0;
	profile = profiles[data[0] % 4];
	rc = aws_creds_parse((const char *)data + 1, size - 1, profile, &c, why,
	    sizeof(why));
	CHECK(rc == aws_creds_parse((const char *)data + 1, size - 1, profile,
	    &d, why2, sizeof(why2)));
	if (rc == 0) {
		TERMINATED(c.access_key);
		TERMINATED(c.secret_key);
		TERMINATED(c.session_token);
		CHECK(c.access_key[0] != '\0' && c.secret_key[0] != '\0');
		check_field(c.access_key);
		check_field(c.secret_key);
		check_field(c.session_token);
		CHECK(memcmp(&c, &d, sizeof(c)) == 0);
	} else {
		CHECK(why[0] != '\0' && strcmp(why, why2) == 0);
	}
	return 0;
}
