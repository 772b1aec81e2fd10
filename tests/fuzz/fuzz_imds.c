/*
 * libFuzzer target for the instance metadata service's credentials answer
 * (aws_creds_parse_imds in workers/scaler/aws_creds.c).
 *
 * Invariants: a success has every key non-empty, NUL-terminated within its
 * buffer and free of control characters, and an expiry; a failure says why
 * and leaves nothing behind; the answer depends only on the bytes.
 *
 * Build and run: make -f tests/fuzz/Makefile fuzz-run TARGET=imds
 */
#include <stdint.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "workers/scaler/aws_creds.h"

static void
check_key(const char *s, size_t size)
{
	CHECK(memchr(s, '\0', size) != NULL && s[0] != '\0');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		CHECK(*p >= 0x20 && *p != 0x7f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_creds c, d;
	uint64_t expires, expires2;
	char why[128], why2[128];
	int rc;

	rc = aws_creds_parse_imds((const char *)data, size, &c, &expires, why,
	    sizeof(why));
	CHECK(rc == aws_creds_parse_imds((const char *)data, size, &d, &expires2,
	    why2, sizeof(why2)));
	if (rc == 0) {
		check_key(c.access_key, sizeof(c.access_key));
		check_key(c.secret_key, sizeof(c.secret_key));
		check_key(c.session_token, sizeof(c.session_token));
		CHECK(expires != 0 && expires == expires2);
		CHECK(memcmp(&c, &d, sizeof(c)) == 0);
	} else {
		CHECK(why[0] != '\0' && strcmp(why, why2) == 0);
		CHECK(expires == 0 && c.access_key[0] == '\0');
	}
	return 0;
}
