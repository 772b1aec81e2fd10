/*
 * Unit tests of the listener API's payload validation (workers/proxy/payload.c):
 * one table of bodies with their exact status and message (or ids), covering
 * malformed JSON and what json-c alone would accept, non-object bodies, every
 * required-field rule and its order, the three master_actid shapes, numbers,
 * blank and control characters, duplicate keys, unicode escapes and length
 * limits; then a truthiness table for services.master, the nesting limit and
 * a body of proxy.max_body bytes.
 *
 * Every parse runs on a heap copy of exactly the bytes under test, so an
 * over-read shows up under AddressSanitizer; no message may hold anything
 * taken from the body (the access_token of every body is "SECRET-TOKEN");
 * and every body is parsed twice, by payload_parse and by the json-c
 * reference, which must agree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "workers/proxy/payload.h"

#define INVALID		"Invalid JSON payload"
#define NOT_OBJECT	"Request body must be a JSON object"
#define MASTER_REQUIRED	"master_actid is required when services.master is false"
#define SERVICES_TYPE	"services must be an object"
#define MISSING		"Required fields missing: "
#define ACTID_TYPE	"actid must be a string or an integer"
#define ACTID_LONG	"actid is too long"
#define ACTID_CONTROL	"actid contains control characters"
#define MASTER_TYPE	"master_actid must be a string, an integer or an object"
#define MASTER_LONG	"master_actid is too long"
#define MASTER_CONTROL	"master_actid contains control characters"

#define SECRET		"SECRET-TOKEN"

/* A body with every field; actid, master_actid and services as given. */
#define BODY(actid, master_actid, services)				\
	"{\"actid\":" actid ",\"broker\":\"b1\",\"access_token\":\""	\
	SECRET "\",\"master_actid\":" master_actid ",\"services\":"	\
	services "}"
#define CLIENT(actid)		BODY(actid, "\"m1\"", "{\"master\":false}")
#define FOR_MASTER(master_actid)					\
	BODY("\"a1\"", master_actid, "{\"master\":true}")
#define FOR_CLIENT(master_actid)					\
	BODY("\"a1\"", master_actid, "{\"master\":false}")

#define A16		"aaaaaaaaaaaaaaaa"
#define A128		A16 A16 A16 A16 A16 A16 A16 A16	/* PAYLOAD_ID_MAX */

struct payload_case {
	const char	*name;
	const char	*body;
	size_t		 len;
	int		 status;
	const char	*expect;	/* the message, or on success the actid */
	const char	*master_actid;	/* on success */
	int		 is_master;	/* on success */
};

#define OK(name, body, actid, master_actid, is_master)			\
	{ name, body, sizeof(body) - 1, 0, actid, master_actid, is_master }
#define ERR(name, body, message)					\
	{ name, body, sizeof(body) - 1, 400, message, NULL, 0 }

static const struct payload_case cases[] = {
	/* Valid bodies. */
	OK("client", CLIENT("\"a1\""), "a1", "m1", 0),
	OK("master", FOR_MASTER("\"m9\""), "a1", "m9", 1),
	OK("master with a blank master_actid", FOR_MASTER("\"  \""), "a1", "", 1),
	OK("white space everywhere",
	    " \r\n{ \"actid\" :\t\"a1\" ,\n\"broker\" : \"b\", \"access_token\": \"t\","
	    " \"master_actid\" : \"m1\" , \"services\" : { \"master\" : false } }\t\r\n",
	    "a1", "m1", 0),
	OK("byte order mark", "\xef\xbb\xbf" CLIENT("\"a1\""), "a1", "m1", 0),
	OK("extra fields and nesting",
	    "{\"x\":[1,{\"y\":null}],\"actid\":\"a1\",\"broker\":{\"k\":[]},"
	    "\"access_token\":7,\"master_actid\":\"m1\",\"services\":{\"master\":false,"
	    "\"copy\":{\"a\":[true,false,null,-1.5e-3]}}}", "a1", "m1", 0),

	/* Malformed JSON. */
	ERR("empty body", "", INVALID),
	ERR("white space only", " \r\n\t", INVALID),
	ERR("truncated object", "{", INVALID),
	ERR("truncated body", "{\"actid\":\"a1\",\"broker\":\"b", INVALID),
	ERR("truncated after a number", "{\"actid\":12", INVALID),
	ERR("trailing garbage", CLIENT("\"a1\"") " x", INVALID),
	ERR("two objects", CLIENT("\"a1\"") "{}", INVALID),
	ERR("trailing comma", "{\"actid\":\"a1\",}", INVALID),
	ERR("comment", "{\"actid\":\"a1\" /* c */}", INVALID),
	ERR("single quotes", "{'actid':'a1'}", INVALID),
	ERR("NUL after the body", CLIENT("\"a1\"") "\0", INVALID),
	ERR("NUL before the body", "\0" CLIENT("\"a1\""), INVALID),
	ERR("raw NUL in a string", CLIENT("\"a\0b\""), INVALID),
	ERR("raw tab in a string", CLIENT("\"a\tb\""), INVALID),
	ERR("raw newline in a key", "{\"act\nid\":1}", INVALID),
	ERR("\\u0000 in a key", "{\"actid\\u0000x\":\"a1\"}", INVALID),
	ERR("form feed as white space", "\f" CLIENT("\"a1\""), INVALID),
	ERR("NaN", CLIENT("NaN"), INVALID),
	ERR("Infinity", CLIENT("Infinity"), INVALID),
	ERR("-Infinity", CLIENT("-Infinity"), INVALID),
	ERR("1.", CLIENT("1."), INVALID),
	ERR("-01", CLIENT("-01"), INVALID),
	ERR(".5", CLIENT(".5"), INVALID),
	ERR("+1", CLIENT("+1"), INVALID),
	ERR("0x10", CLIENT("0x10"), INVALID),
	ERR("1e", CLIENT("1e"), INVALID),
	ERR("TRUE", CLIENT("TRUE"), INVALID),
	ERR("truex", "{\"a\":truex}", INVALID),
	ERR("bad escape", CLIENT("\"a\\x\""), INVALID),
	ERR("short \\u escape", CLIENT("\"\\u12\""), INVALID),
	ERR("invalid UTF-8 byte", CLIENT("\"a\xff\""), INVALID),
	ERR("overlong UTF-8", CLIENT("\"\xc0\x80\""), INVALID),
	ERR("UTF-8 surrogate", CLIENT("\"\xed\xa0\x80\""), INVALID),
	ERR("UTF-8 above U+10FFFF", CLIENT("\"\xf4\x90\x80\x80\""), INVALID),
	ERR("truncated UTF-8", CLIENT("\"\xe2\x82\""), INVALID),
	ERR("\\u0000 in a key, space before the colon", "{\"a\\u0000\" : 1}", INVALID),
	ERR("overlong 3-byte UTF-8", CLIENT("\"\xe0\x80\xaf\""), INVALID),
	ERR("overlong 4-byte UTF-8", CLIENT("\"\xf0\x80\x80\xaf\""), INVALID),
	ERR("UTF-8 continuation byte alone", CLIENT("\"\x80\""), INVALID),
	ERR("UTF-8 outside a string", "{\"a\":\xc3\xa9}", INVALID),
	ERR("two byte order marks", "\xef\xbb\xbf\xef\xbb\xbf{}", INVALID),

	/* Not an object. */
	ERR("array", "[]", NOT_OBJECT),
	ERR("array of the object", "[" CLIENT("\"a1\"") "]", NOT_OBJECT),
	ERR("string", "\"x\"", NOT_OBJECT),
	ERR("number", "123", NOT_OBJECT),
	ERR("negative zero", " -0 ", NOT_OBJECT),
	ERR("null", "null", NOT_OBJECT),
	ERR("true", "true", NOT_OBJECT),
	ERR("two numbers", "12 3", INVALID),

	/* Required fields, in their order. */
	ERR("empty object", "{}",
	    MISSING "actid, broker, access_token, master_actid, services"),
	ERR("all null",
	    "{\"actid\":null,\"broker\":null,\"access_token\":null,\"master_actid\":null,"
	    "\"services\":null}",
	    MISSING "actid, broker, access_token, master_actid, services"),
	ERR("actid absent",
	    "{\"broker\":\"b\",\"access_token\":\"" SECRET "\",\"master_actid\":\"m1\","
	    "\"services\":{}}", MISSING "actid"),
	ERR("actid blank", BODY("\" \\t \"", "\"m1\"", "{}"), MISSING "actid"),
	ERR("actid empty", BODY("\"\"", "\"m1\"", "{}"), MISSING "actid"),
	ERR("actid of JavaScript white space",
	    BODY("\"\\u00a0\\u3000\\ufeff\\u2028\\u000b\"", "\"m1\"", "{}"), MISSING "actid"),
	ERR("broker absent",
	    "{\"actid\":\"a1\",\"access_token\":\"" SECRET "\",\"master_actid\":\"m1\","
	    "\"services\":{}}", MISSING "broker"),
	ERR("broker and access_token empty",
	    "{\"actid\":\"a1\",\"broker\":\"\",\"access_token\":\"\",\"master_actid\":\"m1\","
	    "\"services\":{}}", MISSING "broker, access_token"),
	OK("broker blank but not empty",
	    "{\"actid\":\"a1\",\"broker\":\" \",\"access_token\":false,\"master_actid\":\"m1\","
	    "\"services\":{}}", "a1", "m1", 0),
	ERR("access_token null",
	    "{\"actid\":\"a1\",\"broker\":0,\"access_token\":null,\"master_actid\":\"m1\","
	    "\"services\":{}}", MISSING "access_token"),
	ERR("master_actid absent, master",
	    "{\"actid\":\"a1\",\"broker\":\"b\",\"access_token\":\"" SECRET "\","
	    "\"services\":{\"master\":true}}", MISSING "master_actid"),
	ERR("master_actid null, master", FOR_MASTER("null"), MISSING "master_actid"),
	ERR("services absent",
	    "{\"actid\":\"a1\",\"broker\":\"b\",\"access_token\":\"" SECRET "\","
	    "\"master_actid\":\"m1\"}", MISSING "services"),
	ERR("master_actid and services absent",
	    "{\"actid\":\"a1\",\"broker\":\"b\",\"access_token\":\"" SECRET "\"}",
	    MISSING "master_actid, services"),
	ERR("actid and services absent",
	    "{\"broker\":\"b\",\"access_token\":\"" SECRET "\",\"master_actid\":\"m\"}",
	    MISSING "actid, services"),
	ERR("missing before services type",
	    "{\"actid\":\"a1\",\"services\":\"x\"}", MISSING "broker, access_token, master_actid"),

	/* services.master false is checked first. */
	ERR("master false, everything else missing", "{\"services\":{\"master\":false}}",
	    MASTER_REQUIRED),
	ERR("master false, master_actid null", FOR_CLIENT("null"), MASTER_REQUIRED),
	ERR("master false, master_actid blank", FOR_CLIENT("\" \""), MASTER_REQUIRED),
	ERR("master false, master_actid {}", FOR_CLIENT("{}"), MASTER_REQUIRED),
	ERR("master false, master_actid of a blank key", FOR_CLIENT("{\" \":{}}"),
	    MASTER_REQUIRED),
	ERR("master false, master_actid of a bad type", FOR_CLIENT("true"), MASTER_TYPE),
	ERR("master \"false\" is not false",
	    "{\"services\":{\"master\":\"false\"}}",
	    MISSING "actid, broker, access_token, master_actid"),
	ERR("client (master absent), blank master_actid",
	    BODY("\"a1\"", "\"\"", "{}"), MASTER_REQUIRED),
	ERR("client (master 0), empty object", BODY("\"a1\"", "{}", "{\"master\":0}"),
	    MASTER_REQUIRED),

	/* services. */
	ERR("services a string", BODY("\"a1\"", "\"m1\"", "\"x\""), SERVICES_TYPE),
	ERR("services an array", BODY("\"a1\"", "\"m1\"", "[{\"master\":true}]"),
	    SERVICES_TYPE),
	ERR("services true", BODY("\"a1\"", "\"m1\"", "true"), SERVICES_TYPE),
	ERR("services false (present)", BODY("\"a1\"", "\"m1\"", "false"), SERVICES_TYPE),

	/* actid. */
	OK("actid integer", CLIENT("12345"), "12345", "m1", 0),
	OK("actid negative", CLIENT("-7"), "-7", "m1", 0),
	OK("actid zero", CLIENT("0"), "0", "m1", 0),
	OK("actid -0", CLIENT("-0"), "0", "m1", 0),
	OK("actid just inside int64", CLIENT("9223372036854775806"),
	    "9223372036854775806", "m1", 0),
	OK("actid just inside int64, negative", CLIENT("-9223372036854775807"),
	    "-9223372036854775807", "m1", 0),
	ERR("actid INT64_MAX (may be saturated)", CLIENT("9223372036854775807"), ACTID_TYPE),
	ERR("actid above int64", CLIENT("12345678901234567890"), ACTID_TYPE),
	ERR("actid huge", CLIENT("12345678901234567890123"), ACTID_TYPE),
	ERR("actid huge, negative", CLIENT("-12345678901234567890123"), ACTID_TYPE),
	ERR("actid float", CLIENT("1.0"), ACTID_TYPE),
	ERR("actid exponent", CLIENT("1e5"), ACTID_TYPE),
	ERR("actid overflowing double", CLIENT("1e999"), ACTID_TYPE),
	ERR("actid true", CLIENT("true"), ACTID_TYPE),
	ERR("actid false", CLIENT("false"), ACTID_TYPE),
	ERR("actid object", CLIENT("{\"a\":1}"), ACTID_TYPE),
	ERR("actid array", CLIENT("[\"a1\"]"), ACTID_TYPE),
	ERR("actid type before master_actid type", BODY("1.5", "1.5", "{}"), ACTID_TYPE),
	OK("actid not trimmed", CLIENT("\" a 1 \""), " a 1 ", "m1", 0),
	OK("actid of PAYLOAD_ID_MAX bytes", CLIENT("\"" A128 "\""), A128, "m1", 0),
	ERR("actid too long", CLIENT("\"" A128 "b\""), ACTID_LONG),
	OK("actid of 64 two-byte characters (128 bytes)",
	    CLIENT("\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\""),
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "m1", 0),
	ERR("actid with \\u0000", CLIENT("\"a\\u0000b\""), ACTID_CONTROL),
	ERR("actid with \\u0001", CLIENT("\"a\\u0001\""), ACTID_CONTROL),
	ERR("actid with a newline around text", CLIENT("\"a1\\n\""), ACTID_CONTROL),
	ERR("actid with DEL", CLIENT("\"a\x7f\""), ACTID_CONTROL),
	ERR("actid with C1 (U+0085)", CLIENT("\"a\\u0085\""), ACTID_CONTROL),
	OK("actid with U+00A0 inside", CLIENT("\"a\\u00a0b\""), "a\xc2\xa0" "b", "m1", 0),
	OK("actid with escapes", CLIENT("\"\\u00e9t\\u00e9\\/\\ud83d\\ude00\""),
	    "\xc3\xa9t\xc3\xa9/\xf0\x9f\x98\x80", "m1", 0),
	OK("actid with a lone surrogate", CLIENT("\"a\\ud800\""), "a\xef\xbf\xbd", "m1", 0),
	OK("actid raw UTF-8 of 2, 3 and 4 bytes",
	    CLIENT("\"\xc3\xa9\xe0\xa0\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""),
	    "\xc3\xa9\xe0\xa0\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", "m1", 0),
	ERR("actid exponent with a sign", CLIENT("-1E+5"), ACTID_TYPE),
	OK("actid raw UTF-8", CLIENT("\"\xe2\x82\xac" "1\""), "\xe2\x82\xac" "1", "m1", 0),

	/* master_actid's three shapes. */
	OK("master_actid string", FOR_CLIENT("\"12345\""), "a1", "12345", 0),
	OK("master_actid integer", FOR_CLIENT("12345"), "a1", "12345", 0),
	OK("master_actid object", FOR_CLIENT("{\"12345\":{\"name\":\"x\"}}"),
	    "a1", "12345", 0),
	OK("master_actid object, insertion order", FOR_CLIENT("{\"b\":1,\"a\":2}"),
	    "a1", "b", 0),
	OK("master_actid object, array indexes first",
	    FOR_CLIENT("{\"b\":1,\"7\":2,\"3\":3}"), "a1", "3", 0),
	OK("master_actid object, \"01\" is no index",
	    FOR_CLIENT("{\"01\":1,\"5\":2}"), "a1", "5", 0),
	OK("master_actid object, 2^32-1 is no index",
	    FOR_CLIENT("{\"4294967295\":1,\"4294967294\":2}"), "a1", "4294967294", 0),
	OK("master_actid object, only a non-index", FOR_CLIENT("{\"4294967295\":1}"),
	    "a1", "4294967295", 0),
	OK("master_actid object key not trimmed", FOR_CLIENT("{\" m \":1}"),
	    "a1", " m ", 0),
	ERR("master_actid float", FOR_CLIENT("1.5"), MASTER_TYPE),
	ERR("master_actid huge", FOR_CLIENT("-99999999999999999999"), MASTER_TYPE),
	ERR("master_actid array", FOR_CLIENT("[\"m1\"]"), MASTER_TYPE),
	ERR("master_actid false, master", FOR_MASTER("false"), MASTER_TYPE),
	ERR("master_actid too long", FOR_MASTER("\"" A128 "b\""), MASTER_LONG),
	ERR("master_actid key too long", FOR_CLIENT("{\"" A128 "b\":1}"), MASTER_LONG),
	OK("master_actid key of PAYLOAD_ID_MAX bytes", FOR_CLIENT("{\"" A128 "\":1}"),
	    "a1", A128, 0),
	ERR("master_actid with a control", FOR_MASTER("\"m\\u001f\""), MASTER_CONTROL),
	ERR("master_actid key with a control", FOR_CLIENT("{\"m\\u0002\":1}"),
	    MASTER_CONTROL),
	ERR("master_actid with \\u0000 (a value, not a key)", FOR_CLIENT("\"\\u0000\""),
	    MASTER_CONTROL),
	OK("\\u0000 in another field", "{\"actid\":\"a1\",\"broker\":\"b\\u0000\","
	    "\"access_token\":\"t\",\"master_actid\":\"m1\",\"services\":{}}",
	    "a1", "m1", 0),

	/* Duplicate keys: the last value wins. */
	OK("duplicate actid",
	    "{\"actid\":\"a1\",\"broker\":\"b\",\"access_token\":\"t\",\"master_actid\":\"m1\","
	    "\"services\":{},\"actid\":\"a2\"}", "a2", "m1", 0),
	OK("duplicate services",
	    "{\"services\":{\"master\":false},\"actid\":\"a1\",\"broker\":\"b\","
	    "\"access_token\":\"t\",\"master_actid\":\"\",\"services\":{\"master\":true}}",
	    "a1", "", 1),
	/* What payload_parse's walk of plain bodies must read as json-c does
	 * (parse() compares every body with the reference too). */
	OK("duplicate master_actid objects: the last one's first key",
	    "{\"actid\":\"a1\",\"master_actid\":{\"k1\":1},\"broker\":\"b\","
	    "\"access_token\":\"t\",\"master_actid\":{\"k2\":[],\"k1\":2},"
	    "\"services\":{}}", "a1", "k2", 0),
	OK("duplicate master_actid: an object, then an empty one",
	    "{\"actid\":\"a1\",\"master_actid\":{\"k1\":1},\"broker\":\"b\","
	    "\"access_token\":\"t\",\"master_actid\":{},"
	    "\"services\":{\"master\":true}}", "a1", "", 1),
	OK("services.master: the last of the last services",
	    "{\"actid\":\"a1\",\"master_actid\":\"m1\",\"broker\":\"b\","
	    "\"access_token\":\"t\",\"services\":{\"master\":true},"
	    "\"services\":{\"x\":{\"master\":true},\"master\":true,\"master\":false}}",
	    "a1", "m1", 0),
	OK("fields inside other values are not the fields",
	    "{\"x\":{\"actid\":\"no\",\"services\":{\"master\":true}},"
	    "\"actid\":\"a1\",\"broker\":[1,-2.5,{\"a\":[]},[[]],true,null],"
	    "\"access_token\":{},\"master_actid\":\"m1\",\"services\":"
	    "{\"y\":[{\"master\":true}]}}", "a1", "m1", 0),
	OK("actid integers of 15 and of 19 digits",
	    "{\"actid\":123456789012345,\"broker\":\"b\",\"access_token\":\"t\","
	    "\"master_actid\":1234567890123456789,\"services\":{}}",
	    "123456789012345", "1234567890123456789", 0),
	OK("white space everywhere",
	    "{ \"actid\" :\t\"a1\" ,\r\n\"broker\": \"b\", \"access_token\" : \"t\","
	    " \"master_actid\" : { \"k\" : { } } , \"services\" : { \"master\" : false } } ",
	    "a1", "k", 0),
	OK("a plain body with an array index as master_actid's second key",
	    "{\"actid\":\"a1\",\"broker\":\"b\",\"access_token\":\"t\","
	    "\"master_actid\":{\"k\":1,\"7\":2},\"services\":{\"master\":false}}",
	    "a1", "7", 0),
	ERR("duplicate actid, last one blank",
	    "{\"actid\":\"a1\",\"actid\":\" \",\"broker\":\"b\",\"access_token\":\"t\","
	    "\"master_actid\":\"m1\",\"services\":{}}", MISSING "actid"),
};

/* Parse a heap copy of body[0..len) (so ASan sees any over-read) with fn. */
static int
parse_with(int (*fn)(const char *, size_t, struct payload *), const char *body,
    size_t len, struct payload *p)
{
	char *copy = malloc(len > 0 ? len : 1);
	int status;

	assert_non_null(copy);
	memcpy(copy, body, len);
	memset(p, 0x55, sizeof(*p));
	status = fn(copy, len, p);
	free(copy);
	return status;
}

/*
 * payload_parse on body[0..len), held to the same answer as the json-c
 * reference: every body of this file checks the fast path for plain
 * bodies against the tree.
 */
static int
parse(const char *body, size_t len, struct payload *p)
{
	struct payload ref;
	int status = parse_with(payload_parse, body, len, p);
	int ref_status = parse_with(payload_parse_reference, body, len, &ref);

	if (ref_status != status ||
	    strcmp(ref.message, p->message) != 0 ||
	    (status == 0 && (strcmp(ref.actid, p->actid) != 0 ||
	    strcmp(ref.master_actid, p->master_actid) != 0 ||
	    ref.is_master != p->is_master)))
		fail_msg("%.*s: %d \"%s\" \"%s\" \"%s\" %d, the reference %d \"%s\" "
		    "\"%s\" \"%s\" %d", (int)(len < 200 ? len : 200), body, status,
		    p->message, p->actid, p->master_actid, p->is_master,
		    ref_status, ref.message,
		    ref.actid, ref.master_actid, ref.is_master);
	return status;
}

static void
check_case(const struct payload_case *c)
{
	struct payload p;
	int status = parse(c->body, c->len, &p);

	if (status != c->status)
		fail_msg("%s: status %d, expected %d (%s)", c->name, status,
		    c->status, p.message);
	if (strstr(p.message, SECRET) != NULL)
		fail_msg("%s: the access_token in \"%s\"", c->name, p.message);
	if (status != 0) {
		if (strcmp(p.message, c->expect) != 0)
			fail_msg("%s: \"%s\", expected \"%s\"", c->name, p.message,
			    c->expect);
		return;
	}
	if (strcmp(p.actid, c->expect) != 0 ||
	    strcmp(p.master_actid, c->master_actid) != 0 ||
	    p.is_master != c->is_master || p.message[0] != '\0')
		fail_msg("%s: actid \"%s\" master_actid \"%s\" is_master %d, expected "
		    "\"%s\" \"%s\" %d", c->name, p.actid, p.master_actid, p.is_master,
		    c->expect, c->master_actid, c->is_master);
}

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
}

/* services.master: JavaScript truthiness decides master or client. */
static void
test_master_truthiness(void **state)
{
	static const struct {
		const char	*value;
		int		 is_master;
	} table[] = {
		{ "true", 1 }, { "false", 0 }, { "null", 0 }, { "1", 1 }, { "0", 0 },
		{ "-1", 1 }, { "-0", 0 }, { "0.0", 0 }, { "-0.0", 0 }, { "0.5", 1 },
		{ "1e-400", 0 }, { "1e999", 1 }, { "12345678901234567890", 1 },
		{ "\"\"", 0 }, { "\"false\"", 1 }, { "\"0\"", 1 }, { "\" \"", 1 },
		{ "[]", 1 }, { "{}", 1 }, { "[0]", 1 },
	};
	char body[256];
	struct payload p;

	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		int n = snprintf(body, sizeof(body), BODY("\"a1\"", "\"m1\"",
		    "{\"master\":%s}"), table[i].value);

		assert_int_equal(parse(body, (size_t)n, &p), 0);
		if (p.is_master != table[i].is_master)
			fail_msg("master %s: is_master %d", table[i].value, p.is_master);
	}
	/* Absent: a client. */
	assert_int_equal(parse(BODY("\"a1\"", "\"m1\"", "{\"x\":1}"),
	    sizeof(BODY("\"a1\"", "\"m1\"", "{\"x\":1}")) - 1, &p), 0);
	assert_int_equal(p.is_master, 0);
}

/* A body whose services hold `levels` nested arrays. */
static char *
nested_body(int levels, size_t *len)
{
	static const char head[] = "{\"actid\":\"a1\",\"broker\":\"b\",\"access_token\":\"t\","
	    "\"master_actid\":\"m1\",\"services\":{\"x\":";
	char *body = malloc(sizeof(head) + 2 * (size_t)levels + 2);
	size_t n = sizeof(head) - 1;

	assert_non_null(body);
	memcpy(body, head, n);
	for (int i = 0; i < levels; i++)
		body[n++] = '[';
	for (int i = 0; i < levels; i++)
		body[n++] = ']';
	body[n++] = '}';
	body[n++] = '}';
	*len = n;
	return body;
}

/* The root and services take two levels of PAYLOAD_DEPTH_MAX. */
static void
test_depth(void **state)
{
	static const int levels[] = { PAYLOAD_DEPTH_MAX - 2, PAYLOAD_DEPTH_MAX - 1, 10000 };
	static const int status[] = { 0, 400, 400 };
	struct payload p;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		size_t len;
		char *body = nested_body(levels[i], &len);

		assert_int_equal(parse(body, len, &p), status[i]);
		if (status[i] != 0)
			assert_string_equal(p.message, INVALID);
		free(body);
	}
}

/* A body of proxy.max_body (100 KiB) is fine; a length past the bound is a 413. */
static void
test_sizes(void **state)
{
	static const char head[] = "{\"actid\":\"a1\",\"broker\":\"b\",\"access_token\":\"t\","
	    "\"master_actid\":\"m1\",\"services\":{},\"pad\":\"";
	size_t len = 100 * 1024;
	char *body = malloc(len);
	struct payload p;

	(void)state;
	assert_non_null(body);
	memcpy(body, head, sizeof(head) - 1);
	memset(body + sizeof(head) - 1, 'x', len - (sizeof(head) - 1) - 2);
	memcpy(body + len - 2, "\"}", 2);
	assert_int_equal(parse(body, len, &p), 0);
	assert_string_equal(p.actid, "a1");
	free(body);

	/* The length is checked before a byte is read. */
	assert_int_equal(payload_parse("{}", (size_t)PAYLOAD_BODY_MAX + 1, &p), 413);
	assert_string_equal(p.message, "Request body too large");
}

/* The same struct reused: nothing of a previous call survives. */
static void
test_reuse(void **state)
{
	struct payload p;

	(void)state;
	assert_int_equal(parse(FOR_MASTER("\"m9\""), sizeof(FOR_MASTER("\"m9\"")) - 1,
	    &p), 0);
	assert_int_equal(p.is_master, 1);
	assert_int_equal(payload_parse("{}", 2, &p), 400);
	assert_string_equal(p.actid, "");
	assert_string_equal(p.master_actid, "");
	assert_int_equal(payload_parse(CLIENT("\"a2\""), sizeof(CLIENT("\"a2\"")) - 1,
	    &p), 0);
	assert_string_equal(p.message, "");
	assert_int_equal(p.is_master, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_master_truthiness),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
