/*
 * Tests of the SigV4 signer (workers/scaler/sigv4.c) against signatures computed by
 * an independent implementation: botocore 1.29 (Debian's python3-botocore),
 * SigV4Auth with the clock fixed, for the same method, URL, body, headers,
 * region, service and credentials (tests/unit/sigv4_vectors.py prints
 * them again).  Then the refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "workers/scaler/sigv4.h"

#define FORM	"application/x-www-form-urlencoded; charset=utf-8"

/* 2026-11-27T06:30:00Z and so on, as seconds since the epoch. */
#define T_20261127_063000	1795761000
#define T_20260102_030405	1767323045
#define T_20251231_235959	1767225599

/* The requests of tests/unit/sigv4_vectors.py and what botocore answered. */
static const struct vector {
	struct sigv4_request	 r;
	const char		*amz_date;
	const char		*authorization;
} vectors[] = {
	{	/* a POST form */
		{ .method = "POST", .host = "ec2.us-east-1.amazonaws.com",
		  .path = "/", .query = "", .content_type = FORM,
		  .body = "Action=DescribeInstances&Version=2016-11-15",
		  .region = "us-east-1", .service = "ec2",
		  .access_key = "AKIDEXAMPLE",
		  .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		  .now = T_20261127_063000 },
		"20261127T063000Z",
		"AWS4-HMAC-SHA256 "
		"Credential=AKIDEXAMPLE/20261127/us-east-1/ec2/aws4_request, "
		"SignedHeaders=content-type;host;x-amz-date, "
		"Signature=2873b133fc2c902ad4393a777bb23cb48bd62a7df11f9c9d75e64ffca3a1b986",
	},
	{	/* a session token, a host with a port (a test endpoint) */
		{ .method = "POST", .host = "127.0.0.1:18443", .path = "/",
		  .query = "", .content_type = FORM,
		  .body = "Action=RunInstances&ClientToken=olb-abc&ImageId=ami-12345678"
		      "&MaxCount=1&MinCount=1&Version=2016-11-15",
		  .region = "ap-south-1", .service = "ec2",
		  .access_key = "ASIATESTKEY", .secret_key = "secret/with+chars",
		  .session_token = "FwoGZXIvYXdzEJr//////////token==",
		  .now = T_20260102_030405 },
		"20260102T030405Z",
		"AWS4-HMAC-SHA256 "
		"Credential=ASIATESTKEY/20260102/ap-south-1/ec2/aws4_request, "
		"SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
		"Signature=2396dfaf1e21ce2ca64a3eb40bf2db9c137509acd876f94c650906438b2f23ed",
	},
	{	/* GET with an unsorted query: the canonical query sorts it */
		{ .method = "GET", .host = "ec2.eu-west-1.amazonaws.com",
		  .path = "/", .query = "Version=2016-11-15&Action=DescribeInstances"
		      "&Filter.1.Name=tag%3Aolb%3Acluster&Filter.1.Value.1=prod",
		  .region = "eu-west-1", .service = "ec2",
		  .access_key = "AKID2", .secret_key = "sk2",
		  .now = T_20251231_235959 },
		"20251231T235959Z",
		"AWS4-HMAC-SHA256 "
		"Credential=AKID2/20251231/eu-west-1/ec2/aws4_request, "
		"SignedHeaders=host;x-amz-date, "
		"Signature=186fde473f465eb321d0d027ee739fd4fd32bf805486088234ac73b828433020",
	},
};

static void
test_botocore_vectors(void **state)
{
	struct sigv4_result out;

	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct sigv4_request r = vectors[i].r;

		r.body_len = r.body != NULL ? strlen(r.body) : 0;
		assert_int_equal(sigv4_sign(&r, &out), 0);
		assert_string_equal(out.amz_date, vectors[i].amz_date);
		assert_string_equal(out.authorization, vectors[i].authorization);
	}
}

/* The same parameters in another order sign the same. */
static void
test_query_order(void **state)
{
	struct sigv4_request r = vectors[2].r;
	struct sigv4_result out;

	(void)state;
	r.query = "Filter.1.Value.1=prod&Action=DescribeInstances"
	    "&Filter.1.Name=tag%3Aolb%3Acluster&Version=2016-11-15";
	assert_int_equal(sigv4_sign(&r, &out), 0);
	assert_string_equal(out.authorization, vectors[2].authorization);
}

static void
test_refusals(void **state)
{
	static char query[256 * 4 + 8];
	struct sigv4_request ok = {
		.method = "GET", .host = "h", .path = "/", .query = "",
		.region = "r", .service = "ec2", .access_key = "a",
		.secret_key = "s", .now = 0,
	}, r;
	struct sigv4_result out;
	char secret[300];

	(void)state;
	assert_int_equal(sigv4_sign(&ok, &out), 0);
	assert_string_equal(out.amz_date, "19700101T000000Z");
	assert_int_equal(sigv4_sign(NULL, &out), -1);
	r = ok;
	r.access_key = "";
	assert_int_equal(sigv4_sign(&r, &out), -1);
	r = ok;
	r.region = NULL;
	assert_int_equal(sigv4_sign(&r, &out), -1);
	r = ok;
	r.body_len = 3;		/* no body */
	assert_int_equal(sigv4_sign(&r, &out), -1);
	/* 257 parameters; a secret longer than any real one. */
	r = ok;
	for (int i = 0; i < 257; i++)
		strcat(query, i ? "&a=" : "a=");
	r.query = query;
	assert_int_equal(sigv4_sign(&r, &out), -1);
	r = ok;
	memset(secret, 'k', sizeof(secret) - 1);
	secret[sizeof(secret) - 1] = '\0';
	r.secret_key = secret;
	assert_int_equal(sigv4_sign(&r, &out), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_botocore_vectors),
		cmocka_unit_test(test_query_order),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
