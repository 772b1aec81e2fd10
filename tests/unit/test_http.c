/*
 * Unit tests of the HTTP parsers (common/http.c).  Requests: well-formed
 * heads, pipelining, every split point, keep-alive rules, limits, a table of
 * rejected shapes with their exact status.  Responses: typical answers and
 * their framing, 1xx, every split point, limits, a table of rejected shapes,
 * the hop-by-hop table and Connection options.  The chunked-body decoder at
 * every split point, on its own and behind a response head.
 *
 * Every parse runs on a heap copy of exactly the bytes under test, so an
 * over-read shows up under AddressSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/http.h"

#define MAX_HEAD	8192
#define S(literal)	literal, sizeof(literal) - 1

#define REPOINT(p)	(buf + ((p) - copy))

/* Parse a heap copy of buf[0..len) (so ASan sees any over-read). */
static int
parse(const char *buf, size_t len, size_t max_head, struct http_request *req)
{
	char *copy = malloc(len > 0 ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	rc = http_parse_request(copy, len, max_head, req);
	if (rc > 0) {
		/* Re-point into the caller's buffer before the copy is gone. */
		req->method_str = REPOINT(req->method_str);
		req->target = REPOINT(req->target);
		req->path = REPOINT(req->path);
		for (size_t i = 0; i < req->nheaders; i++) {
			req->headers[i].name = REPOINT(req->headers[i].name);
			req->headers[i].value = REPOINT(req->headers[i].value);
		}
	}
	free(copy);
	return rc;
}

static int
span_is(const char *p, size_t len, const char *expect)
{
	return len == strlen(expect) && memcmp(p, expect, len) == 0;
}

static void
test_simple_get(void **state)
{
	static const char r[] = "GET /api/v1/test HTTP/1.1\r\nHost: example.com\r\n"
	    "User-Agent: curl/8.0\r\nAccept: */*\r\n\r\n";
	struct http_request req;

	(void)state;
	assert_int_equal(parse(S(r), MAX_HEAD, &req), sizeof(r) - 1);
	assert_int_equal(req.header_len, sizeof(r) - 1);
	assert_int_equal(req.method, HTTP_GET);
	assert_true(span_is(req.method_str, req.method_len, "GET"));
	assert_true(span_is(req.target, req.target_len, "/api/v1/test"));
	assert_true(span_is(req.path, req.path_len, "/api/v1/test"));
	assert_int_equal(req.minor, 1);
	assert_int_equal(req.nheaders, 3);
	assert_true(span_is(req.headers[1].name, req.headers[1].name_len, "User-Agent"));
	assert_true(span_is(req.headers[1].value, req.headers[1].value_len, "curl/8.0"));
	assert_non_null(req.host);
	assert_true(span_is(req.host->value, req.host->value_len, "example.com"));
	assert_int_equal(req.content_length, -1);
	assert_false(req.chunked);
	assert_true(req.keep_alive);
	assert_false(req.expect_continue);
	assert_null(req.authorization);
	assert_null(req.content_type);
	assert_null(req.request_id);
}

static void
test_post_with_body(void **state)
{
	static const char r[] = "POST /api/v1/listener/create_user_listener?x=1&y=2 HTTP/1.1\r\n"
	    "host: a:8080\r\nAUTHORIZATION: Bearer t0k\r\n"
	    "Content-Type:application/json  \r\nx-request-id: \t abc \t\r\n"
	    "X-Request-Id: second\r\ncontent-length: 007\r\n\r\n{\"a\":1}";
	struct http_request req;
	int rc;

	(void)state;
	rc = parse(S(r), MAX_HEAD, &req);
	assert_int_equal(rc, sizeof(r) - 1 - 7);
	assert_int_equal(req.method, HTTP_POST);
	assert_true(span_is(req.target, req.target_len,
	    "/api/v1/listener/create_user_listener?x=1&y=2"));
	assert_true(span_is(req.path, req.path_len,
	    "/api/v1/listener/create_user_listener"));
	assert_int_equal(req.content_length, 7);
	assert_true(span_is(r + rc, 7, "{\"a\":1}"));
	assert_true(span_is(req.authorization->value, req.authorization->value_len,
	    "Bearer t0k"));
	assert_true(span_is(req.content_type->value, req.content_type->value_len,
	    "application/json"));
	assert_true(span_is(req.request_id->value, req.request_id->value_len, "abc"));
	assert_true(span_is(req.host->value, req.host->value_len, "a:8080"));
}

static void
test_methods_and_targets(void **state)
{
	static const struct {
		const char	*request;
		enum http_method method;
		const char	*path;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_GET, "/" },
		{ "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_HEAD, "/x" },
		{ "PUT /x? HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PUT, "/x" },
		{ "DELETE //x HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_DELETE, "//x" },
		{ "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_OPTIONS, "*" },
		{ "PATCH /a%20b HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_PATCH, "/a%20b" },
		{ "get / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_OTHER, "/" },
		{ "TRACE /?q=[1]:@!$&'()*+,;= HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_OTHER, "/" },
		{ "\r\n\r\nGET / HTTP/1.0\r\n\r\n", HTTP_GET, "/" },
	};
	struct http_request req;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].request);

		assert_int_equal(parse(cases[i].request, len, MAX_HEAD, &req), len);
		assert_int_equal(req.method, cases[i].method);
		assert_true(span_is(req.path, req.path_len, cases[i].path));
	}
}

static void
test_pipelined(void **state)
{
	static const char r[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
	    "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
	    "GET /c HTTP/1.1\r\n";
	struct http_request req;
	size_t off = 0;
	int rc;

	(void)state;
	rc = parse(S(r), MAX_HEAD, &req);
	assert_int_equal(rc, 28);
	assert_true(span_is(req.path, req.path_len, "/a"));
	off += (size_t)rc;
	rc = parse(r + off, sizeof(r) - 1 - off, MAX_HEAD, &req);
	assert_int_equal(rc, 48);
	assert_int_equal(req.method, HTTP_POST);
	assert_int_equal(req.content_length, 0);
	off += (size_t)rc;
	assert_int_equal(parse(r + off, sizeof(r) - 1 - off, MAX_HEAD, &req), 0);
}

/* Every proper prefix of a complete head needs more bytes. */
static void
test_every_split_point(void **state)
{
	static const char *requests[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\nPOST /api/v1/listener/create_user_listener?q=1 HTTP/1.1\r\n"
		    "Host: lb.example\r\nAuthorization: Bearer x\r\n"
		    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
		    "Connection: keep-alive, Upgrade\r\nExpect: 100-continue\r\n"
		    "X-Empty:\r\nX-Spaces:  \t \r\n\r\n",
		"OPTIONS * HTTP/1.0\r\n\r\n",
	};
	struct http_request req;

	(void)state;
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		size_t len = strlen(requests[i]);

		for (size_t k = 0; k < len; k++)
			assert_int_equal(parse(requests[i], k, MAX_HEAD, &req), 0);
		assert_int_equal(parse(requests[i], len, MAX_HEAD, &req), len);
	}
}

static void
test_keep_alive_rules(void **state)
{
	static const struct {
		const char	*version;
		const char	*connection;	/* NULL: no Connection field */
		int		 keep_alive;
	} cases[] = {
		{ "1.1", NULL, 1 },
		{ "1.1", "close", 0 },
		{ "1.1", "CLOSE", 0 },
		{ "1.1", "keep-alive", 1 },
		{ "1.1", "Upgrade, close", 0 },
		{ "1.1", "closed", 1 },
		{ "1.0", NULL, 0 },
		{ "1.0", "keep-alive", 1 },
		{ "1.0", "Keep-Alive", 1 },
		{ "1.0", "foo ,keep-alive,bar", 1 },
		{ "1.0", "keep-alive, close", 0 },
		{ "1.0", "keep-alives", 0 },
	};
	struct http_request req;
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "GET / HTTP/%s\r\nHost: a\r\n%s%s%s\r\n",
		    cases[i].version, cases[i].connection ? "Connection: " : "",
		    cases[i].connection ? cases[i].connection : "",
		    cases[i].connection ? "\r\n" : "");

		assert_int_equal(parse(buf, (size_t)n, MAX_HEAD, &req), n);
		assert_int_equal(req.keep_alive, cases[i].keep_alive);
		assert_int_equal(req.minor, cases[i].version[2] - '0');
	}
	/* Several Connection fields add up. */
	assert_true(parse(S("GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\n"
	    "Connection: close\r\n\r\n"), MAX_HEAD, &req) > 0);
	assert_false(req.keep_alive);
}

static void
test_expect_continue(void **state)
{
	struct http_request req;

	(void)state;
	assert_true(parse(S("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
	    "Content-Length: 5\r\n\r\n"), MAX_HEAD, &req) > 0);
	assert_true(req.expect_continue);
	/* RFC 9110 §10.1.1: ignored in HTTP/1.0. */
	assert_true(parse(S("POST / HTTP/1.0\r\nExpect: 100-continue\r\n"
	    "Content-Length: 5\r\n\r\n"), MAX_HEAD, &req) > 0);
	assert_false(req.expect_continue);
	assert_true(parse(S("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n"),
	    MAX_HEAD, &req) > 0);
	assert_false(req.expect_continue);
}

static void
test_framing_accepted(void **state)
{
	struct http_request req;

	(void)state;
	assert_true(parse(S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding:  ChUnKeD \t\r\n\r\n"), MAX_HEAD, &req) > 0);
	assert_true(req.chunked);
	assert_int_equal(req.content_length, -1);
	assert_true(parse(S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 9223372036854775807\r\n\r\n"), MAX_HEAD, &req) > 0);
	assert_int_equal(req.content_length, INT64_MAX);
	assert_true(parse(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
	    MAX_HEAD, &req) > 0);
	assert_int_equal(req.content_length, 0);
	assert_false(req.chunked);
	/* An empty Host is valid (RFC 9112 §3.2). */
	assert_true(parse(S("GET / HTTP/1.1\r\nHost:\r\n\r\n"), MAX_HEAD, &req) > 0);
	assert_int_equal(req.host->value_len, 0);
}

static void
test_limits(void **state)
{
	static const char r[] = "GET /abc HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789\r\n\r\n";
	size_t len = sizeof(r) - 1;
	struct http_request req;
	char buf[4096];
	size_t n;

	(void)state;
	/* A head of exactly max_head bytes fits; one byte less does not. */
	assert_int_equal(parse(r, len, len, &req), len);
	assert_int_equal(parse(r, len, len - 1, &req), -431);
	/* Below the limit an incomplete head waits for more. */
	assert_int_equal(parse(r, len - 1, len, &req), 0);
	/* The request line alone is longer than the limit. */
	assert_int_equal(parse(r, len, 12, &req), -414);
	assert_int_equal(parse(r, 12, 12, &req), -414);
	assert_int_equal(parse(r, 11, 12, &req), 0);
	assert_int_equal(parse(r, len, 0, &req), -414);
	/* Extra bytes after a complete head do not count. */
	assert_int_equal(parse(S("GET / HTTP/1.1\r\nHost: a\r\n\r\nxxxxxxxx"), 27, &req), 27);

	/* HTTP_MAX_HEADERS fields fit, one more is a 431. */
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 1; i < HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	assert_int_equal(parse(buf, n, sizeof(buf), &req), n);
	assert_int_equal(req.nheaders, HTTP_MAX_HEADERS);
	n -= 2;
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-Last: v\r\n\r\n");
	assert_int_equal(parse(buf, n, sizeof(buf), &req), -431);
	/* A huge max_head is clamped, not overflowed. */
	assert_int_equal(parse(r, len, SIZE_MAX, &req), len);
}

struct reject_case {
	const char	*request;
	size_t		 len;
	int		 status;
};

#define HOST	"Host: a\r\n"
#define REJECT(literal, status)	{ literal, sizeof(literal) - 1, status }

static const struct reject_case reject_cases[] = {
	/* Request line. */
	REJECT("GET  / HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET /  HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET\t/ HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT(" GET / HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("/ HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("G@T / HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET / HTTP/1.1\n" HOST "\r\n", 400),
	REJECT("GET / HTTP/1.1\r" HOST "\r\n", 400),
	REJECT("\rGET / HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("\nGET / HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET / HTTP/1.1 \r\n" HOST "\r\n", 400),
	REJECT("GET / http/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET / HTTP/11\r\n" HOST "\r\n", 400),
	REJECT("GET / HTTP/1.10\r\n" HOST "\r\n", 400),
	REJECT("GET / HTTP/1.x\r\n" HOST "\r\n", 400),
	REJECT("GET /\r\n" HOST "\r\n", 400),
	REJECT("GET  HTTP/1.1\r\n" HOST "\r\n", 400),
	/* Request target. */
	REJECT("GET http://a/ HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("CONNECT a:443 HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET * HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("OPTIONS *x HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET /a\0b HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET /a\x01 HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET /a\x7f HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET /a\tb HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET /a#frag HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET /caf\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET /a\\b HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET /a<b> HTTP/1.1\r\n" HOST "\r\n", 400),
	REJECT("GET /\"x\" HTTP/1.1\r\n" HOST "\r\n", 400),
	/* Header fields. */
	REJECT("GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
	REJECT("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n" HOST "\r\r\n", 400),
	REJECT("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n" HOST ": a\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n" HOST "X: a\r\n b\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n" HOST "X: a\r\n\tb\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n " HOST "\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n" HOST "X(y): a\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n" HOST "X\xc3\xa9: a\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n" HOST "X: a\0b\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n" HOST "X: a\x01\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n" HOST "X: a\x7f\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n" HOST "X a\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n" HOST "X\r\n\r\n", 400),
	/* Host (RFC 9112 §3.2). */
	REJECT("GET / HTTP/1.1\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\nX: a\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 400),
	/* Singleton fields olb acts on. */
	REJECT("GET / HTTP/1.1\r\n" HOST "Authorization: a\r\nAuthorization: b\r\n\r\n", 400),
	REJECT("GET / HTTP/1.1\r\n" HOST "Content-Type: a\r\ncontent-type: a\r\n\r\n", 400),
	/* Content-Length. */
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length: abc\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length: -1\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length: +5\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length:\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length: 5, 5\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length: 5 5\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length: 0x5\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length: 5.0\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length: 99999999999999999999\r\n\r\n", 413),
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length: 9223372036854775808\r\n\r\n", 413),
	/* Transfer-Encoding. */
	REJECT("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n", 400),
	REJECT("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding:\r\n\r\n", 400),
	REJECT("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n\r\n", 501),
	REJECT("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
	REJECT("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, gzip\r\n\r\n", 501),
	REJECT("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, chunked\r\n\r\n", 501),
	REJECT("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: identity\r\n\r\n", 501),
	REJECT("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked;q=1\r\n\r\n", 501),
	REJECT("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: \"chunked\"\r\n\r\n", 501),
	/* Methods and versions. */
	REJECT("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG / HTTP/1.1\r\n" HOST "\r\n", 501),
	REJECT("GET / HTTP/2.0\r\n" HOST "\r\n", 505),
	REJECT("GET / HTTP/0.9\r\n" HOST "\r\n", 505),
	REJECT("GET / HTTP/1.2\r\n" HOST "\r\n", 505),
	REJECT("GET / HTTP/3.1\r\n" HOST "\r\n", 505),
	REJECT("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
};

/* Every rejected shape gets its exact status, on the whole head and on any
 * longer buffer; no prefix of it is accepted. */
static void
test_rejections(void **state)
{
	struct http_request req;
	size_t failures = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(reject_cases) / sizeof(reject_cases[0]); i++) {
		const struct reject_case *rc = &reject_cases[i];
		int got = parse(rc->request, rc->len, MAX_HEAD, &req);

		if (got != -rc->status) {
			print_message("case %zu: got %d, want %d: %.*s\n", i, got,
			    -rc->status, (int)rc->len, rc->request);
			failures++;
		}
		for (size_t k = 0; k < rc->len; k++) {
			got = parse(rc->request, k, MAX_HEAD, &req);
			if (got > 0 || (got < 0 && got != -rc->status)) {
				print_message("case %zu prefix %zu: got %d\n", i, k, got);
				failures++;
			}
		}
	}
	assert_true(sizeof(reject_cases) / sizeof(reject_cases[0]) >= 40);
	assert_int_equal(failures, 0);
}

static void
test_status_texts(void **state)
{
	static const int statuses[] = { 100, 200, 400, 401, 403, 404, 405, 408,
	    413, 414, 415, 431, 500, 501, 502, 503, 504, 505 };

	(void)state;
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		const char *m = http_error_message(statuses[i]);

		assert_non_null(http_status_reason(statuses[i]));
		assert_non_null(m);
		assert_null(strpbrk(m, "\"\\\r\n"));	/* JSON-safe */
	}
	assert_string_equal(http_status_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_status_reason(599), "Server Error");
	assert_string_equal(http_error_message(404), "Path not found");
	assert_string_equal(http_error_message(503), "No instance available");
	assert_string_equal(http_error_message(401), "Unauthorized: Bearer token required");
	assert_string_equal(http_error_message(403), "Forbidden: Invalid token");
}

/* Parse a heap copy of buf[0..len) as a response head. */
static int
parse_response(const char *buf, size_t len, size_t max_head, int head_request,
    struct http_response *res)
{
	char *copy = malloc(len > 0 ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	rc = http_parse_response(copy, len, max_head, head_request, res);
	if (rc > 0) {
		res->reason = REPOINT(res->reason);
		for (size_t i = 0; i < res->nheaders; i++) {
			res->headers[i].name = REPOINT(res->headers[i].name);
			res->headers[i].value = REPOINT(res->headers[i].value);
		}
	}
	free(copy);
	return rc;
}

struct response_case {
	const char	*response;	/* the head, maybe followed by a body */
	size_t		 body_len;	/* bytes after the head */
	int		 head_request;
	int		 minor;
	int		 status;
	const char	*reason;
	size_t		 nheaders;
	int64_t		 content_length;
	int		 chunked;
	int		 keep_alive;
	int		 no_body;
};

static const struct response_case response_cases[] = {
	{ "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: 7\r\n\r\n{\"a\":1}", 7, 0,
	    1, 200, "OK", 2, 7, 0, 1, 0 },
	{ "HTTP/1.1 201 Created\r\nLocation: /x/1\r\nContent-Length: 0\r\n\r\n", 0, 0,
	    1, 201, "Created", 2, 0, 0, 1, 0 },
	{ "HTTP/1.1 204 No Content\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n", 0, 0,
	    1, 204, "No Content", 1, -1, 0, 1, 1 },
	{ "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 0, 0,
	    1, 204, "No Content", 1, 0, 0, 1, 1 },
	/* A 204 with framing fields: no body, but the connection is dropped. */
	{ "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 0, 0,
	    1, 204, "No Content", 1, 5, 0, 0, 1 },
	{ "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0,
	    1, 204, "No Content", 1, -1, 1, 0, 1 },
	/* 304: Content-Length is the representation's, no body follows. */
	{ "HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\nContent-Length: 1234\r\n\r\n", 0, 0,
	    1, 304, "Not Modified", 2, 1234, 0, 1, 1 },
	{ "HTTP/1.1 304 Not Modified\r\n\r\n", 0, 0,
	    1, 304, "Not Modified", 0, -1, 0, 1, 1 },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 15, 0,
	    1, 200, "OK", 1, -1, 1, 1, 0 },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding:  ChUnKeD \t\r\n\r\n", 0, 0,
	    1, 200, "OK", 1, -1, 1, 1, 0 },
	/* Neither sized nor chunked: delimited by the close. */
	{ "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", 13, 0,
	    1, 200, "OK", 1, -1, 0, 0, 0 },
	{ "HTTP/1.0 200 OK\r\n\r\n", 0, 0,
	    0, 200, "OK", 0, -1, 0, 0, 0 },
	{ "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", 3, 0,
	    0, 200, "OK", 1, 3, 0, 0, 0 },
	{ "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\n", 0, 0,
	    0, 200, "OK", 2, 3, 0, 1, 0 },
	{ "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", 0, 0,
	    0, 200, "OK", 1, -1, 0, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n", 0, 0,
	    1, 200, "OK", 2, 3, 0, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n", 0, 0,
	    1, 200, "OK", 2, 3, 0, 1, 0 },
	{ "HTTP/1.1 200 OK\r\nConnection: x\r\nconnection: CLOSE\r\n"
	    "Content-Length: 3\r\n\r\n", 0, 0,
	    1, 200, "OK", 3, 3, 0, 0, 0 },
	/* The request was HEAD: no body, and no close needed to end it. */
	{ "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", 0, 1,
	    1, 200, "OK", 1, 1234, 0, 1, 1 },
	{ "HTTP/1.1 200 OK\r\n\r\n", 0, 1,
	    1, 200, "OK", 0, -1, 0, 1, 1 },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 1,
	    1, 200, "OK", 1, -1, 1, 1, 1 },
	{ "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0, 1,
	    1, 404, "Not Found", 1, 0, 0, 1, 1 },
	/* 1xx: reported, no body. */
	{ "HTTP/1.1 100 Continue\r\n\r\n", 0, 0,
	    1, 100, "Continue", 0, -1, 0, 1, 1 },
	{ "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", 0, 0,
	    1, 103, "Early Hints", 1, -1, 0, 1, 1 },
	/* Reason phrases. */
	{ "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0, 0,
	    1, 200, "", 1, 0, 0, 1, 0 },
	{ "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, 0,
	    1, 200, "", 1, 0, 0, 1, 0 },
	{ "HTTP/1.1 404  Not\tFound \r\nContent-Length: 0\r\n\r\n", 0, 0,
	    1, 404, " Not\tFound ", 1, 0, 0, 1, 0 },
	{ "HTTP/1.1 200 \xc3\x89t\xc3\xa9 (ok) 2xx\r\nContent-Length: 0\r\n\r\n", 0, 0,
	    1, 200, "\xc3\x89t\xc3\xa9 (ok) 2xx", 1, 0, 0, 1, 0 },
	/* Any three digits from 100. */
	{ "HTTP/1.1 599 Custom\r\nContent-Length: 0\r\n\r\n", 0, 0,
	    1, 599, "Custom", 1, 0, 0, 1, 0 },
	{ "HTTP/1.1 999 Nine\r\nContent-Length: 0\r\n\r\n", 0, 0,
	    1, 999, "Nine", 1, 0, 0, 1, 0 },
	{ "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0009223372036854775807\r\n\r\n", 0, 0,
	    1, 502, "Bad Gateway", 1, INT64_MAX, 0, 1, 0 },
	/* Request-only fields mean nothing in a response. */
	{ "HTTP/1.1 200 OK\r\nHost: a b\r\nHost: c\r\nContent-Type: a\r\n"
	    "Content-Type: b\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n", 0, 0,
	    1, 200, "OK", 6, 0, 0, 1, 0 },
};

static void
test_response_typical(void **state)
{
	struct http_response res;

	(void)state;
	for (size_t i = 0; i < sizeof(response_cases) / sizeof(response_cases[0]); i++) {
		const struct response_case *c = &response_cases[i];
		size_t len = strlen(c->response);
		int rc = parse_response(c->response, len, MAX_HEAD, c->head_request, &res);

		if (rc != (int)(len - c->body_len))
			print_message("response case %zu: got %d\n", i, rc);
		assert_int_equal(rc, len - c->body_len);
		assert_int_equal(res.header_len, rc);
		assert_int_equal(res.minor, c->minor);
		assert_int_equal(res.status, c->status);
		assert_true(span_is(res.reason, res.reason_len, c->reason));
		assert_int_equal(res.nheaders, c->nheaders);
		assert_int_equal(res.content_length, c->content_length);
		assert_int_equal(res.chunked, c->chunked);
		if (res.keep_alive != c->keep_alive || res.no_body != c->no_body)
			print_message("response case %zu: keep_alive %d no_body %d\n",
			    i, res.keep_alive, res.no_body);
		assert_int_equal(res.keep_alive, c->keep_alive);
		assert_int_equal(res.no_body, c->no_body);
	}
}

static void
test_response_headers(void **state)
{
	static const char r[] = "HTTP/1.1 200 OK\r\nContent-Type:text/plain  \r\n"
	    "X-Empty:\r\nX-Spaces: \t \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
	    "X-Obs: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nok";
	struct http_response res;

	(void)state;
	assert_int_equal(parse_response(S(r), MAX_HEAD, 0, &res), sizeof(r) - 3);
	assert_int_equal(res.nheaders, 7);
	assert_true(span_is(res.headers[0].name, res.headers[0].name_len, "Content-Type"));
	assert_true(span_is(res.headers[0].value, res.headers[0].value_len, "text/plain"));
	assert_int_equal(res.headers[1].value_len, 0);
	assert_int_equal(res.headers[2].value_len, 0);
	assert_true(span_is(res.headers[3].value, res.headers[3].value_len, "a=1"));
	assert_true(span_is(res.headers[4].value, res.headers[4].value_len, "b=2"));
	assert_true(span_is(res.headers[5].value, res.headers[5].value_len, "caf\xc3\xa9"));
	assert_true(span_is(res.headers[6].name, res.headers[6].name_len, "Content-Length"));
	assert_int_equal(res.content_length, 2);
}

/* 100 Continue, then the final answer, on one connection. */
static void
test_response_continue_then_final(void **state)
{
	static const char r[] = "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 102 Processing\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct http_response res;
	size_t off = 0;
	int rc;

	(void)state;
	rc = parse_response(S(r), MAX_HEAD, 0, &res);
	assert_int_equal(rc, 25);
	assert_int_equal(res.status, 100);
	assert_true(res.no_body);
	off += (size_t)rc;
	rc = parse_response(r + off, sizeof(r) - 1 - off, MAX_HEAD, 0, &res);
	assert_int_equal(rc, 27);
	assert_int_equal(res.status, 102);
	off += (size_t)rc;
	rc = parse_response(r + off, sizeof(r) - 1 - off, MAX_HEAD, 0, &res);
	assert_int_equal(rc, sizeof(r) - 1 - off - 2);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.content_length, 2);
	assert_true(res.keep_alive);
	assert_false(res.no_body);
}

/* Every proper prefix of a complete head needs more bytes; the request
 * method never changes the outcome of a parse, only the body rules. */
static void
test_response_every_split_point(void **state)
{
	struct http_response res;

	(void)state;
	for (size_t i = 0; i < sizeof(response_cases) / sizeof(response_cases[0]); i++) {
		const struct response_case *c = &response_cases[i];
		size_t len = strlen(c->response) - c->body_len;

		for (size_t k = 0; k < len; k++) {
			assert_int_equal(parse_response(c->response, k, MAX_HEAD, 0, &res), 0);
			assert_int_equal(parse_response(c->response, k, MAX_HEAD, 1, &res), 0);
		}
		assert_int_equal(parse_response(c->response, len, MAX_HEAD, 0, &res), len);
		assert_int_equal(parse_response(c->response, len, MAX_HEAD, 1, &res), len);
		assert_true(res.no_body);
	}
}

static void
test_response_limits(void **state)
{
	static const char r[] = "HTTP/1.1 200 OK\r\nX-Pad: 0123456789\r\n\r\n";
	size_t len = sizeof(r) - 1;
	struct http_response res;
	char buf[4096];
	size_t n;

	(void)state;
	/* A head of exactly max_head bytes fits; one byte less does not. */
	assert_int_equal(parse_response(r, len, len, 0, &res), len);
	assert_int_equal(parse_response(r, len, len - 1, 0, &res), -1);
	assert_int_equal(parse_response(r, len - 1, len, 0, &res), 0);
	/* The status line alone is longer than the limit. */
	assert_int_equal(parse_response(r, len, 10, 0, &res), -1);
	assert_int_equal(parse_response(r, 10, 10, 0, &res), -1);
	assert_int_equal(parse_response(r, 9, 10, 0, &res), 0);
	assert_int_equal(parse_response(r, len, 0, 0, &res), -1);
	assert_int_equal(parse_response(r, 0, 0, 0, &res), -1);
	assert_int_equal(parse_response(r, 0, 1, 0, &res), 0);
	/* A huge max_head is clamped, not overflowed. */
	assert_int_equal(parse_response(r, len, SIZE_MAX, 0, &res), len);
	/* Bytes after the head do not count. */
	assert_int_equal(parse_response(S("HTTP/1.1 204 \r\n\r\nxxxxxxxx"), 17, 0, &res), 17);

	/* HTTP_MAX_HEADERS fields fit, one more is too many. */
	n = (size_t)snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	assert_int_equal(parse_response(buf, n, sizeof(buf), 0, &res), n);
	assert_int_equal(res.nheaders, HTTP_MAX_HEADERS);
	n -= 2;
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-Last: v\r\n\r\n");
	assert_int_equal(parse_response(buf, n, sizeof(buf), 0, &res), -1);
	/* A head that never ends within max_head. */
	memset(buf, 'a', sizeof(buf));
	n = (size_t)snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nX: ");
	buf[n] = 'a';
	assert_int_equal(parse_response(buf, sizeof(buf), sizeof(buf), 0, &res), -1);
	assert_int_equal(parse_response(buf, sizeof(buf) - 1, sizeof(buf), 0, &res), 0);
}

#define BAD(literal)	{ literal, sizeof(literal) - 1, 1 }
#define OK_CL		"HTTP/1.1 200 OK\r\n"

static const struct reject_case response_reject_cases[] = {
	/* Status line. */
	BAD("HTTP/2 200\r\n\r\n"),
	BAD("HTTP/2.0 200 OK\r\n\r\n"),
	BAD("HTTP/1.2 200 OK\r\n\r\n"),
	BAD("HTTP/0.9 200 OK\r\n\r\n"),
	BAD("HTTP/11 200 OK\r\n\r\n"),
	BAD("HTTP/1.x 200 OK\r\n\r\n"),
	BAD("http/1.1 200 OK\r\n\r\n"),
	BAD("HTTP/1.1 20 OK\r\n\r\n"),
	BAD("HTTP/1.1 20\r\n\r\n"),
	BAD("HTTP/1.1 2000 OK\r\n\r\n"),
	BAD("HTTP/1.1 2000\r\n\r\n"),
	BAD("HTTP/1.1 099 OK\r\n\r\n"),
	BAD("HTTP/1.1 000 OK\r\n\r\n"),
	BAD("HTTP/1.1 -20 OK\r\n\r\n"),
	BAD("HTTP/1.1 abc OK\r\n\r\n"),
	BAD("HTTP/1.1 2x0 OK\r\n\r\n"),
	BAD("HTTP/1.1 20x OK\r\n\r\n"),
	BAD("HTTP/1.1  200 OK\r\n\r\n"),
	BAD("HTTP/1.1\t200 OK\r\n\r\n"),
	BAD("HTTP/1.1 200\tOK\r\n\r\n"),
	BAD("HTTP/1.1 200OK\r\n\r\n"),
	BAD(" HTTP/1.1 200 OK\r\n\r\n"),
	BAD("\r\nHTTP/1.1 200 OK\r\n\r\n"),
	BAD("\nHTTP/1.1 200 OK\r\n\r\n"),
	BAD("HTTP/1.1 200 OK\n\r\n"),
	BAD("HTTP/1.1 200\n\r\n"),
	BAD("HTTP/1.1 200 OK\rX: a\r\n\r\n"),
	BAD("HTTP/1.1 200 OK\r\r\n\r\n"),
	BAD("HTTP/1.1 200 O\x01K\r\n\r\n"),
	BAD("HTTP/1.1 200 O\0K\r\n\r\n"),
	BAD("HTTP/1.1 200 O\x7fK\r\n\r\n"),
	BAD("HTTP/1\0.1 200 OK\r\n\r\n"),
	BAD("\0HTTP/1.1 200 OK\r\n\r\n"),
	BAD("ICY 200 OK\r\n\r\n\r\n"),
	BAD("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	/* Header fields, as strict as a request's. */
	BAD(OK_CL "X: a\n\r\n"),
	BAD(OK_CL "X: a\r\n\n"),
	BAD(OK_CL "X: a\rY: b\r\n\r\n"),
	BAD(OK_CL "X: a\r\n\r\r"),
	BAD(OK_CL "X: a\r\n b\r\n\r\n"),
	BAD(OK_CL "X: a\r\n\tb\r\n\r\n"),
	BAD(OK_CL " X: a\r\n\r\n"),
	BAD(OK_CL "X : a\r\n\r\n"),
	BAD(OK_CL "X\t: a\r\n\r\n"),
	BAD(OK_CL ": a\r\n\r\n"),
	BAD(OK_CL "X\r\n\r\n"),
	BAD(OK_CL "X a\r\n\r\n"),
	BAD(OK_CL "X(y): a\r\n\r\n"),
	BAD(OK_CL "X\xc3\xa9: a\r\n\r\n"),
	BAD(OK_CL "X: a\0b\r\n\r\n"),
	BAD(OK_CL "X: a\x01\r\n\r\n"),
	BAD(OK_CL "X: a\x7f\r\n\r\n"),
	BAD(OK_CL "\0: a\r\n\r\n"),
	/* Content-Length. */
	BAD(OK_CL "Content-Length: abc\r\n\r\n"),
	BAD(OK_CL "Content-Length: -1\r\n\r\n"),
	BAD(OK_CL "Content-Length: +5\r\n\r\n"),
	BAD(OK_CL "Content-Length:\r\n\r\n"),
	BAD(OK_CL "Content-Length: 5, 5\r\n\r\n"),
	BAD(OK_CL "Content-Length: 5 5\r\n\r\n"),
	BAD(OK_CL "Content-Length: 0x5\r\n\r\n"),
	BAD(OK_CL "Content-Length: 5.0\r\n\r\n"),
	BAD(OK_CL "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"),
	BAD(OK_CL "Content-Length: 5\r\ncontent-length: 5\r\n\r\n"),
	BAD(OK_CL "Content-Length: 99999999999999999999\r\n\r\n"),
	BAD(OK_CL "Content-Length: 9223372036854775808\r\n\r\n"),
	BAD("HTTP/1.1 304 Not Modified\r\nContent-Length: x\r\n\r\n"),
	/* Transfer-Encoding. */
	BAD(OK_CL "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
	BAD(OK_CL "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
	BAD(OK_CL "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"),
	BAD(OK_CL "Transfer-Encoding: gzip\r\n\r\n"),
	BAD(OK_CL "Transfer-Encoding: gzip, chunked\r\n\r\n"),
	BAD(OK_CL "Transfer-Encoding: chunked, gzip\r\n\r\n"),
	BAD(OK_CL "Transfer-Encoding: chunked, chunked\r\n\r\n"),
	BAD(OK_CL "Transfer-Encoding: identity\r\n\r\n"),
	BAD(OK_CL "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
	BAD(OK_CL "Transfer-Encoding:\r\n\r\n"),
	BAD("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
	BAD("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: gzip\r\n\r\n"),
	BAD("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"),
	/* Informational answers. */
	BAD("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n"),
	BAD("HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\n"),
	BAD("HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\n"),
};

/* Every rejected shape is -1, with or without HEAD, and no prefix of it
 * is accepted. */
static void
test_response_rejections(void **state)
{
	struct http_response res;
	size_t failures = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(response_reject_cases) /
	    sizeof(response_reject_cases[0]); i++) {
		const struct reject_case *rc = &response_reject_cases[i];

		for (int head = 0; head <= 1; head++) {
			int got = parse_response(rc->request, rc->len, MAX_HEAD, head, &res);

			if (got != -1) {
				print_message("response case %zu: got %d: %.*s\n", i,
				    got, (int)rc->len, rc->request);
				failures++;
			}
		}
		for (size_t k = 0; k < rc->len; k++) {
			int got = parse_response(rc->request, k, MAX_HEAD, 0, &res);

			if (got != 0 && got != -1) {
				print_message("response case %zu prefix %zu: got %d\n",
				    i, k, got);
				failures++;
			}
		}
	}
	assert_true(sizeof(response_reject_cases) / sizeof(response_reject_cases[0]) >= 30);
	assert_int_equal(failures, 0);
}

static void
test_hop_by_hop(void **state)
{
	static const char *hop[] = {
		"Connection", "connection", "CONNECTION", "Keep-Alive", "keep-alive",
		"Proxy-Connection", "Proxy-Authenticate", "proxy-authorization",
		"TE", "te", "Trailer", "Transfer-Encoding", "transfer-encoding",
		"Upgrade", "UPGRADE", "Content-Length", "content-length",
	};
	static const char *end_to_end[] = {
		"", "T", "TEx", "Trailers", "Connections", "Connectio", "Keep-Alives",
		"Content-Type", "Content-Lengths", "Content-Encoding", "Upgrade-Insecure-Requests",
		"X-Connection", "Proxy-Authorization2", "Set-Cookie", "Date", "Host",
		"Authorization", "WWW-Authenticate", "Location", "Via",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++) {
		if (!http_header_is_hop_by_hop(hop[i], strlen(hop[i])))
			print_message("hop-by-hop: %s\n", hop[i]);
		assert_true(http_header_is_hop_by_hop(hop[i], strlen(hop[i])));
	}
	for (size_t i = 0; i < sizeof(end_to_end) / sizeof(end_to_end[0]); i++) {
		if (http_header_is_hop_by_hop(end_to_end[i], strlen(end_to_end[i])))
			print_message("end-to-end: %s\n", end_to_end[i]);
		assert_false(http_header_is_hop_by_hop(end_to_end[i], strlen(end_to_end[i])));
	}
	/* Only name[0..len) is read. */
	assert_true(http_header_is_hop_by_hop("TE: trailers", 2));
	assert_false(http_header_is_hop_by_hop("Upgrade", 6));
}

#define FIELD(name, value)	{ name, sizeof(name) - 1, value, sizeof(value) - 1 }

static void
test_connection_has(void **state)
{
	static const struct http_header h[] = {
		FIELD("Content-Type", "text/plain"),
		FIELD("Connection", "Upgrade,  X-Custom\t,, keep-alive"),
		FIELD("X-Connection", "close"),
		FIELD("connection", ""),
		FIELD("CONNECTION", "te"),
		FIELD("Connection", "closed, foo bar"),
	};
	static const char resp[] = "HTTP/1.1 200 OK\r\nConnection: X-Hop, close\r\n"
	    "X-Hop: 1\r\nContent-Length: 0\r\n\r\n";
	struct http_response res;
	size_t n = sizeof(h) / sizeof(h[0]);

	(void)state;
	assert_true(http_connection_has(h, n, "upgrade"));
	assert_true(http_connection_has(h, n, "UPGRADE"));
	assert_true(http_connection_has(h, n, "x-custom"));
	assert_true(http_connection_has(h, n, "Keep-Alive"));
	assert_true(http_connection_has(h, n, "TE"));
	assert_true(http_connection_has(h, n, "closed"));
	assert_true(http_connection_has(h, n, "foo"));
	assert_true(http_connection_has(h, n, "bar"));
	assert_false(http_connection_has(h, n, "close"));	/* only in X-Connection */
	assert_false(http_connection_has(h, n, "keep"));
	assert_false(http_connection_has(h, n, "keep-alive2"));
	assert_false(http_connection_has(h, n, "text/plain"));
	assert_false(http_connection_has(h, n, ""));
	assert_false(http_connection_has(h, n, "foo bar"));
	/* Only headers[0..n) are looked at. */
	assert_false(http_connection_has(h, 1, "upgrade"));
	assert_false(http_connection_has(h, 4, "te"));
	assert_true(http_connection_has(h, 5, "te"));
	assert_false(http_connection_has(h, 0, "upgrade"));

	/* As the proxy uses it: drop hop-by-hop fields and those Connection names. */
	assert_int_equal(parse_response(S(resp), MAX_HEAD, 0, &res), sizeof(resp) - 1);
	assert_false(res.keep_alive);
	assert_true(http_connection_has(res.headers, res.nheaders, "close"));
	assert_true(http_connection_has(res.headers, res.nheaders, "x-hop"));
	assert_true(http_header_is_hop_by_hop(res.headers[0].name, res.headers[0].name_len));
	assert_false(http_header_is_hop_by_hop(res.headers[1].name, res.headers[1].name_len));
	assert_true(http_header_is_hop_by_hop(res.headers[2].name, res.headers[2].name_len));
}

/*
 * The chunked decoder, driven like the proxy drives it: bytes arrive in
 * segments ending at splits[], are appended to a buffer, decoded, and the
 * consumed bytes are removed from its front.
 */
struct chunk_result {
	ssize_t		 error;		/* 0, or the negative status */
	char		 out[8192];
	size_t		 out_len;
	size_t		 consumed;
	int		 done;
};

static void
chunk_feed(const char *body, size_t len, const size_t *splits, size_t nsplits,
    uint64_t max_body, struct chunk_result *r)
{
	struct http_chunked c;
	char *buf = malloc(len + 1);
	size_t buf_len = 0, fed = 0;

	assert_non_null(buf);
	memset(r, 0, sizeof(*r));
	http_chunked_init(&c);
	for (size_t s = 0; s < nsplits && r->error == 0; s++) {
		size_t out_len;
		ssize_t n;

		memcpy(buf + buf_len, body + fed, splits[s] - fed);
		buf_len += splits[s] - fed;
		fed = splits[s];
		n = http_chunked_decode(&c, buf, buf_len, &out_len, max_body);
		if (n < 0) {
			r->error = n;
			break;
		}
		assert_true((size_t)n <= buf_len);
		assert_true(out_len <= (size_t)n);
		assert_true(r->out_len + out_len <= sizeof(r->out));
		memcpy(r->out + r->out_len, buf, out_len);
		r->out_len += out_len;
		r->consumed += (size_t)n;
		memmove(buf, buf + n, buf_len - (size_t)n);
		buf_len -= (size_t)n;
	}
	r->done = c.done;
	free(buf);
}

static void
chunk_feed_whole(const char *body, size_t len, uint64_t max_body,
    struct chunk_result *r)
{
	chunk_feed(body, len, &len, 1, max_body, r);
}

static void
test_chunked_simple(void **state)
{
	static const char b[] = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
	struct chunk_result r;

	(void)state;
	chunk_feed_whole(S(b), 100, &r);
	assert_int_equal(r.error, 0);
	assert_true(r.done);
	assert_int_equal(r.consumed, sizeof(b) - 1);
	assert_int_equal(r.out_len, 11);
	assert_memory_equal(r.out, "hello world", 11);
}

/* Split anywhere, once or at every byte: same data, same end. */
static void
test_chunked_every_split_point(void **state)
{
	static const char b[] = "A;name=value;q=\"x y\"\r\n0123456789\r\n"
	    "00001\r\n!\r\n0;last\r\nX-Trailer: v\r\nY:\r\n\r\n"
	    "GET /next HTTP/1.1\r\n";
	size_t len = sizeof(b) - 1, body_len = len - 20;
	size_t splits[sizeof(b)];
	struct chunk_result r;

	(void)state;
	for (size_t k = 0; k <= len; k++) {
		size_t two[2] = { k, len };

		chunk_feed(b, len, two, 2, 100, &r);
		assert_int_equal(r.error, 0);
		assert_true(r.done);
		assert_int_equal(r.consumed, body_len);
		assert_int_equal(r.out_len, 11);
		assert_memory_equal(r.out, "0123456789!", 11);
	}
	for (size_t k = 0; k < len; k++)
		splits[k] = k + 1;
	chunk_feed(b, len, splits, len, 100, &r);
	assert_int_equal(r.error, 0);
	assert_true(r.done);
	assert_int_equal(r.consumed, body_len);
	assert_memory_equal(r.out, "0123456789!", 11);
}

static void
test_chunked_stops_at_end(void **state)
{
	char b[] = "0\r\n\r\nGET / HTTP/1.1\r\n";
	struct http_chunked c;
	size_t out_len;

	(void)state;
	http_chunked_init(&c);
	assert_int_equal(http_chunked_decode(&c, b, sizeof(b) - 1, &out_len, 10), 5);
	assert_true(c.done);
	assert_int_equal(out_len, 0);
	assert_int_equal(http_chunked_decode(&c, b + 5, sizeof(b) - 6, &out_len, 10), 0);
	/* Incomplete input is consumed and remembered, never an error. */
	http_chunked_init(&c);
	assert_int_equal(http_chunked_decode(&c, b, 3, &out_len, 10), 3);
	assert_false(c.done);
	assert_int_equal(http_chunked_decode(&c, b, 0, &out_len, 10), 0);
}

static void
test_chunked_sizes(void **state)
{
	struct chunk_result r;

	(void)state;
	chunk_feed_whole(S("aB\r\n"), 1000, &r);
	assert_int_equal(r.error, 0);
	chunk_feed_whole(S("0000000000000001\r\nx\r\n0\r\n\r\n"), 1000, &r);
	assert_int_equal(r.error, 0);
	assert_true(r.done);
	/* Sixteen hex digits fit; seventeen are rejected. */
	chunk_feed_whole(S("ffffffffffffffff\r\nabc"), UINT64_MAX, &r);
	assert_int_equal(r.error, 0);
	assert_int_equal(r.out_len, 3);
	chunk_feed_whole(S("00000000000000001\r\nx\r\n"), UINT64_MAX, &r);
	assert_int_equal(r.error, -400);
	chunk_feed_whole(S("10000000000000000\r\n"), UINT64_MAX, &r);
	assert_int_equal(r.error, -400);
	chunk_feed_whole(S("ffffffffffffffff\r\n"), 1000, &r);
	assert_int_equal(r.error, -413);
}

static void
test_chunked_max_body(void **state)
{
	struct chunk_result r;

	(void)state;
	chunk_feed_whole(S("5\r\nhello\r\n0\r\n\r\n"), 5, &r);
	assert_int_equal(r.error, 0);
	assert_true(r.done);
	chunk_feed_whole(S("6\r\nhello!\r\n0\r\n\r\n"), 5, &r);
	assert_int_equal(r.error, -413);
	chunk_feed_whole(S("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"), 5, &r);
	assert_int_equal(r.error, -413);
	assert_int_equal(r.out_len, 0);	/* the failing call yields nothing */
	chunk_feed_whole(S("0\r\n\r\n"), 0, &r);
	assert_int_equal(r.error, 0);
	assert_true(r.done);
}

static void
test_chunked_extensions_and_trailers(void **state)
{
	char big[HTTP_CHUNK_TRAILER_MAX + 64];
	struct chunk_result r;
	size_t n;

	(void)state;
	chunk_feed_whole(S("1;a=b;c\r\nx\r\n0;z=\"q;r\"\r\nT: 1\r\nU:  v w \r\n\r\n"),
	    10, &r);
	assert_int_equal(r.error, 0);
	assert_true(r.done);
	/* Extensions at the bound, and one byte past it. */
	n = (size_t)snprintf(big, sizeof(big), "1");
	memset(big + n, 'e', HTTP_CHUNK_EXT_MAX);
	big[n] = ';';
	memcpy(big + n + HTTP_CHUNK_EXT_MAX, "\r\nx\r\n0\r\n\r\n", 10);
	chunk_feed_whole(big, n + HTTP_CHUNK_EXT_MAX + 10, 10, &r);
	assert_int_equal(r.error, 0);
	assert_true(r.done);
	memmove(big + n + 1, big + n, HTTP_CHUNK_EXT_MAX + 10);
	chunk_feed_whole(big, n + HTTP_CHUNK_EXT_MAX + 11, 10, &r);
	assert_int_equal(r.error, -400);
	/* A trailer section past its bound. */
	memcpy(big, "0\r\nX: ", 6);
	memset(big + 6, 'v', sizeof(big) - 6);
	chunk_feed_whole(big, sizeof(big), 10, &r);
	assert_int_equal(r.error, -431);
}

/* Framing beyond max_body + HTTP_CHUNK_OVERHEAD_MAX is refused. */
static void
test_chunked_overhead(void **state)
{
	static char b[200 * 1010];
	struct chunk_result r;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 200; i++) {
		memcpy(b + n, "1;", 2);
		memset(b + n + 2, 'e', 1000);
		memcpy(b + n + 1002, "\r\nx\r\n", 5);
		n += 1007;
	}
	chunk_feed_whole(b, n, 1000, &r);
	assert_int_equal(r.error, -413);
	chunk_feed_whole(b, 50 * 1007, 1000, &r);
	assert_int_equal(r.error, 0);
}

static void
test_chunked_rejections(void **state)
{
	static const struct reject_case cases[] = {
		REJECT("\r\n", 400),
		REJECT(";x\r\n", 400),
		REJECT("g\r\n", 400),
		REJECT("-5\r\n", 400),
		REJECT("+5\r\n", 400),
		REJECT(" 5\r\n", 400),
		REJECT("5 \r\n", 400),
		REJECT("5\t;x\r\n", 400),
		REJECT("0x5\r\n", 400),
		REJECT("5\n", 400),
		REJECT("5\rX", 400),
		REJECT("5\r\nhello\n", 400),
		REJECT("5\r\nhelloX\r\n", 400),
		REJECT("5\r\nhello\r\r", 400),
		REJECT("5;a\nb\r\n", 400),
		REJECT("5;\x01\r\n", 400),
		REJECT("5;\0\r\n", 400),
		REJECT("0\r\nX y\r\n\r\n", 400),
		REJECT("0\r\n y\r\n\r\n", 400),
		REJECT("0\r\n:y\r\n\r\n", 400),
		REJECT("0\r\nX: a\n\r\n", 400),
		REJECT("0\r\nX: a\x01\r\n\r\n", 400),
		REJECT("0\r\nX: a\r\n\n", 400),
		REJECT("0\r\n\n", 400),
		REJECT("0\r\n\rX", 400),
	};
	struct chunk_result r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		chunk_feed_whole(cases[i].request, cases[i].len, 1000, &r);
		if (r.error != -cases[i].status)
			print_message("chunked case %zu: got %zd\n", i, r.error);
		assert_int_equal(r.error, -cases[i].status);
	}
}

/* A chunked response body, with trailers, decoded behind its head; the
 * decoder stops exactly where the next response on the connection starts. */
static void
test_chunked_response_body(void **state)
{
	static const char r[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Trailer: X-Checksum\r\n\r\n"
	    "6;ext=1\r\nhello \r\n5\r\nworld\r\n0\r\nX-Checksum: abc\r\nX-More: 1\r\n\r\n"
	    "HTTP/1.1 204 No Content\r\n\r\n";
	size_t len = sizeof(r) - 1, splits[sizeof(r)];
	struct http_response res;
	struct chunk_result cr;
	int rc;

	(void)state;
	rc = parse_response(r, len, MAX_HEAD, 0, &res);
	assert_true(rc > 0);
	assert_true(res.chunked && res.keep_alive && !res.no_body);
	for (size_t k = (size_t)rc; k <= len; k++) {
		size_t two[2] = { k - (size_t)rc, len - (size_t)rc };

		chunk_feed(r + rc, len - (size_t)rc, two, 2, 1024, &cr);
		assert_int_equal(cr.error, 0);
		assert_true(cr.done);
		assert_int_equal(cr.out_len, 11);
		assert_memory_equal(cr.out, "hello world", 11);
		assert_int_equal(cr.consumed, len - (size_t)rc - 27);
	}
	for (size_t k = 0; k < len - (size_t)rc; k++)
		splits[k] = k + 1;
	chunk_feed(r + rc, len - (size_t)rc, splits, len - (size_t)rc, 1024, &cr);
	assert_int_equal(cr.error, 0);
	assert_int_equal(cr.consumed, len - (size_t)rc - 27);
	assert_int_equal(parse_response(r + len - 27, 27, MAX_HEAD, 0, &res), 27);
	assert_int_equal(res.status, 204);
	/* A body over the caller's limit. */
	chunk_feed_whole(r + rc, len - (size_t)rc, 10, &cr);
	assert_int_equal(cr.error, -413);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_post_with_body),
		cmocka_unit_test(test_methods_and_targets),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_every_split_point),
		cmocka_unit_test(test_keep_alive_rules),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_framing_accepted),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_status_texts),
		cmocka_unit_test(test_response_typical),
		cmocka_unit_test(test_response_headers),
		cmocka_unit_test(test_response_continue_then_final),
		cmocka_unit_test(test_response_every_split_point),
		cmocka_unit_test(test_response_limits),
		cmocka_unit_test(test_response_rejections),
		cmocka_unit_test(test_hop_by_hop),
		cmocka_unit_test(test_connection_has),
		cmocka_unit_test(test_chunked_simple),
		cmocka_unit_test(test_chunked_every_split_point),
		cmocka_unit_test(test_chunked_stops_at_end),
		cmocka_unit_test(test_chunked_sizes),
		cmocka_unit_test(test_chunked_max_body),
		cmocka_unit_test(test_chunked_extensions_and_trailers),
		cmocka_unit_test(test_chunked_overhead),
		cmocka_unit_test(test_chunked_rejections),
		cmocka_unit_test(test_chunked_response_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
