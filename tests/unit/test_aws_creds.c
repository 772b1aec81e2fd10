/*
 * Tests of the shared credentials file reader (workers/scaler/aws_creds.c): the
 * profile chosen among several, comments, spaces, CRLF, a session token;
 * then every refusal with its line number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "workers/scaler/aws_creds.h"

static const char file[] =
    "# written by aws configure\n"
    "[default]\n"
    "aws_access_key_id = AKIDDEFAULT\n"
    "aws_secret_access_key = secretdefault\n"
    "\n"
    "; the scaler's own\n"
    "[ olb-prod ]\r\n"
    "\taws_access_key_id=ASIAPROD  \r\n"
    "aws_secret_access_key = wJalr/K7+x=\r\n"
    "aws_session_token = FwoG//token==\r\n"
    "region = ap-south-1\r\n"
    "[other]\n"
    "aws_access_key_id = AKIDOTHER\n"
    "aws_access_key_id = AKIDOTHER\n";	/* twice, but not our profile */

static int
parse(const char *text, const char *profile, struct aws_creds *c, char *why)
{
	return aws_creds_parse(text, strlen(text), profile, c, why, 128);
}

static void
test_profiles(void **state)
{
	struct aws_creds c;
	char why[128];

	(void)state;
	assert_int_equal(parse(file, "default", &c, why), 0);
	assert_string_equal(c.access_key, "AKIDDEFAULT");
	assert_string_equal(c.secret_key, "secretdefault");
	assert_string_equal(c.session_token, "");
	assert_int_equal(parse(file, "olb-prod", &c, why), 0);
	assert_string_equal(c.access_key, "ASIAPROD");
	/* '=' inside a value is part of it. */
	assert_string_equal(c.secret_key, "wJalr/K7+x=");
	assert_string_equal(c.session_token, "FwoG//token==");
	/* No newline at the end of the file. */
	assert_int_equal(parse("[p]\naws_access_key_id=a\naws_secret_access_key=b",
	    "p", &c, why), 0);
	assert_string_equal(c.secret_key, "b");
}

static void
test_refusals(void **state)
{
	static const struct {
		const char	*text;
		const char	*profile;
		const char	*why;
	} cases[] = {
		{ "[a]\naws_access_key_id=x\n", "b", "no profile [b]" },
		{ "[a]\naws_access_key_id=x\n", "a",
		    "profile [a] lacks aws_access_key_id or aws_secret_access_key" },
		{ "[a]\naws_access_key_id=\naws_secret_access_key=y\n", "a",
		    "profile [a] lacks aws_access_key_id or aws_secret_access_key" },
		{ "aws_access_key_id=x\n", "a", "line 1: a key before any [profile]" },
		{ "[a\n", "a", "line 1: a section name must end with ']'" },
		{ "[ ]\n", "a", "line 1: empty section name" },
		{ "[a]\njust words\n", "a", "line 2: expected key = value" },
		{ "[a]\n = x\n", "a", "line 2: empty key" },
		{ "[a]\naws_secret_access_key=1\naws_secret_access_key=2\n", "a",
		    "line 3: aws_secret_access_key given twice" },
		/* A bare CR inside a value: it would split an HTTP header. */
		{ "[a]\naws_access_key_id=x\naws_secret_access_key=y\r\n"
		    "aws_session_token=t\rX-Evil: 1\n", "a",
		    "line 4: a control character" },
		{ "[a]\naws_access_key_id=x\x1b[0m\n", "a",
		    "line 2: a control character" },
	};
	struct aws_creds c;
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].text, cases[i].profile, &c, why), -1);
		assert_string_equal(why, cases[i].why);
	}
	assert_int_equal(aws_creds_parse("[a]\0x", 6, "a", &c, why, sizeof(why)), -1);
	assert_string_equal(why, "a NUL byte in the file");
	assert_int_equal(parse(file, "", &c, why), -1);
	assert_int_equal(aws_creds_parse(NULL, 0, "a", &c, why, sizeof(why)), -1);
}

static void
test_limits(void **state)
{
	char *text = malloc(3 * AWS_CREDS_LINE_MAX);
	struct aws_creds c;
	char why[128];
	int n;

	(void)state;
	assert_non_null(text);
	/* A line over the limit, even in another profile. */
	n = sprintf(text, "[x]\nk = ");
	memset(text + n, 'v', AWS_CREDS_LINE_MAX);
	strcpy(text + n + AWS_CREDS_LINE_MAX, "\n");
	assert_int_equal(parse(text, "a", &c, why), -1);
	assert_string_equal(why, "line 2: line too long");
	/* A value longer than its field. */
	n = sprintf(text, "[a]\naws_secret_access_key = y\naws_access_key_id = ");
	memset(text + n, 'k', 200);
	strcpy(text + n + 200, "\n");
	assert_int_equal(parse(text, "a", &c, why), -1);
	assert_string_equal(why, "line 3: aws_access_key_id is too long");
	free(text);
}

/* The metadata service's answer, as EC2 sends it. */
static void
test_imds(void **state)
{
	const char *doc = "{\n  \"Code\" : \"Success\",\n"
	    "  \"LastUpdated\" : \"2026-11-27T08:00:00Z\",\n"
	    "  \"Type\" : \"AWS-HMAC\",\n"
	    "  \"AccessKeyId\" : \"ASIAEXAMPLE\",\n"
	    "  \"SecretAccessKey\" : \"wJalr/K7+x=\",\n"
	    "  \"Token\" : \"IQoJb3JpZ2lu//token==\",\n"
	    "  \"Expiration\" : \"2026-11-27T14:30:00Z\"\n}";
	struct aws_creds c;
	uint64_t expires;
	char why[128] = "";

	(void)state;
	assert_int_equal(aws_creds_parse_imds(doc, strlen(doc), &c, &expires, why,
	    sizeof(why)), 0);
	assert_string_equal(c.access_key, "ASIAEXAMPLE");
	assert_string_equal(c.secret_key, "wJalr/K7+x=");
	assert_string_equal(c.session_token, "IQoJb3JpZ2lu//token==");
	assert_int_equal(expires, 1795789800000ULL);	/* 2026-11-27T14:30:00Z */
	/* No Code member (older answers), a fraction of a second. */
	doc = "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\","
	    "\"Expiration\":\"2026-11-27T14:30:00.250Z\"}";
	assert_int_equal(aws_creds_parse_imds(doc, strlen(doc), &c, &expires, why,
	    sizeof(why)), 0);
	assert_int_equal(expires, 1795789800000ULL);
}

static void
test_imds_refusals(void **state)
{
	static const struct {
		const char	*doc;
		const char	*why;
	} bad[] = {
		{ "", "not a JSON object" },
		{ "[]", "not a JSON object" },
		{ "<html>502 Bad Gateway</html>", "not a JSON object" },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\","
		    "\"Expiration\":\"2026-11-27T14:30:00Z\"} trailing",
		    "not a JSON object" },
		{ "{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
		    "\"S\",\"Token\":\"T\",\"Expiration\":\"2026-11-27T14:30:00Z\"}",
		    "Code is not Success" },
		{ "{\"SecretAccessKey\":\"S\",\"Token\":\"T\","
		    "\"Expiration\":\"2026-11-27T14:30:00Z\"}",
		    "AccessKeyId, SecretAccessKey or Token missing or unusable" },
		{ "{\"AccessKeyId\":\"A\\r\\nX-Injected: 1\",\"SecretAccessKey\":\"S\","
		    "\"Token\":\"T\",\"Expiration\":\"2026-11-27T14:30:00Z\"}",
		    "AccessKeyId, SecretAccessKey or Token missing or unusable" },
		{ "{\"AccessKeyId\":\"A\\u0000B\",\"SecretAccessKey\":\"S\","
		    "\"Token\":\"T\",\"Expiration\":\"2026-11-27T14:30:00Z\"}",
		    "AccessKeyId, SecretAccessKey or Token missing or unusable" },
		{ "{\"AccessKeyId\":7,\"SecretAccessKey\":\"S\",\"Token\":\"T\","
		    "\"Expiration\":\"2026-11-27T14:30:00Z\"}",
		    "AccessKeyId, SecretAccessKey or Token missing or unusable" },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\"}",
		    "Expiration missing or not a UTC time" },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\","
		    "\"Expiration\":\"2026-11-27 14:30:00\"}",
		    "Expiration missing or not a UTC time" },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\","
		    "\"Expiration\":\"2026-11-27T14:30:00+05:30\"}",
		    "Expiration missing or not a UTC time" },
	};
	struct aws_creds c;
	uint64_t expires;
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(aws_creds_parse_imds(bad[i].doc,
		    strlen(bad[i].doc), &c, &expires,
		    why, sizeof(why)), -1);
		assert_string_equal(why, bad[i].why);
		assert_int_equal(expires, 0);
		assert_string_equal(c.access_key, "");
	}
	/* Too long for the token's buffer. */
	{
		static char doc[4096];
		char token[sizeof(c.session_token) + 1];

		memset(token, 'T', sizeof(token) - 1);
		token[sizeof(token) - 1] = '\0';
		snprintf(doc, sizeof(doc), "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
		    "\"S\",\"Token\":\"%s\",\"Expiration\":\"2026-11-27T14:30:00Z\"}",
		    token);
		assert_int_equal(aws_creds_parse_imds(doc, strlen(doc), &c, &expires,
		    why, sizeof(why)), -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_imds),
		cmocka_unit_test(test_imds_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
