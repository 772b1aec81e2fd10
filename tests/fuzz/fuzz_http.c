/*
 * libFuzzer target for the HTTP request parser (common/http.c).
 *
 * Input: byte 0 picks the head and body limits, byte 1 seeds the split
 * pattern, the rest is the request.  The head parser runs on the request and
 * on prefixes of it (each a heap copy of exactly its length, so any over-read
 * is caught); the chunked decoder runs on the body (or the whole request
 * when no chunked head was parsed) in one piece and in pseudo-random pieces.
 *
 * Invariants: results stay within the buffer and the limits; pointers land
 * inside the head; a prefix of a complete head needs more bytes; an error
 * seen on a prefix is the error of the whole; the decoder's output, errors
 * and consumption do not depend on how its input was split.
 *
 * Build and run: make -f tests/fuzz/Makefile fuzz-smoke
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http.h"
#include "tests/fuzz/fuzz.h"


static const size_t head_limits[] = {
	8192, 0, 1, 16, 64, 256, 1024, 65536, SIZE_MAX,
};
static const uint64_t body_limits[] = {
	102400, 0, 1, 16, 1000, UINT64_MAX,
};



/* Parse a heap copy of buf[0..len). */
static int
parse_copy(const char *buf, size_t len, size_t max_head)
{
	struct http_request req;
	char *copy = malloc(len > 0 ? len : 1);
	int rc;

	CHECK(copy != NULL);
	memcpy(copy, buf, len);
	rc = http_parse_request(copy, len, max_head, &req);
	free(copy);
	return rc;
}

static int
named_header_ok(const struct http_request *req, const struct http_header *h)
{
	return h == NULL ||
	    (h >= req->headers && h < req->headers + req->nheaders);
}

static void
check_request(const struct http_request *req, const char *buf, int rc)
{
	size_t n = (size_t)rc;

	CHECK(req->header_len == n && n >= 16);	/* "X / HTTP/1.0" CRLF CRLF */
	CHECK(memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
	CHECK(req->method_len > 0 && req->method_len <= HTTP_MAX_METHOD);
	CHECK(inside(req->method_str, req->method_len, buf, n));
	CHECK(req->target_len > 0 && inside(req->target, req->target_len, buf, n));
	CHECK(req->path == req->target && req->path_len <= req->target_len);
	CHECK(req->target[0] == '/' ||
	    (req->target_len == 1 && req->method == HTTP_OPTIONS));
	CHECK(req->minor == 0 || req->minor == 1);
	CHECK(req->nheaders <= HTTP_MAX_HEADERS);
	for (size_t i = 0; i < req->nheaders; i++)
		fuzz_check_field(&req->headers[i], buf, n);
	CHECK(req->content_length >= -1);
	CHECK(!(req->chunked && req->content_length != -1));
	CHECK(!(req->chunked && req->minor == 0));
	CHECK(req->minor == 0 || req->host != NULL);
	CHECK(req->keep_alive == 0 || req->keep_alive == 1);
	CHECK(req->expect_continue == 0 || req->minor == 1);
	CHECK(named_header_ok(req, req->authorization));
	CHECK(named_header_ok(req, req->content_type));
	CHECK(named_header_ok(req, req->host));
	CHECK(named_header_ok(req, req->request_id));
}

/* The head parser on buf[0..len); returns its result. */
static int
fuzz_head(const char *buf, size_t len, size_t max_head, uint32_t *seed,
    struct http_request *req)
{
	int rc = http_parse_request(buf, len, max_head, req);
	size_t k;

	CHECK(rc == 0 || rc == -400 || rc == -413 || rc == -414 || rc == -431 ||
	    rc == -501 || rc == -505 || rc > 0);
	if (rc > 0) {
		CHECK((size_t)rc <= len && (size_t)rc <= max_head);
		check_request(req, buf, rc);
		CHECK(parse_copy(buf, (size_t)rc, max_head) == rc);
		CHECK(parse_copy(buf, (size_t)rc - 1, max_head) == 0);
		k = next_random(seed) % (size_t)rc;
		CHECK(parse_copy(buf, k, max_head) == 0);
		if (max_head < SIZE_MAX)
			CHECK(parse_copy(buf, len, max_head + 1) == rc);
	} else if (len > 0) {
		int prefix;

		if (rc == 0)
			CHECK(len < max_head);
		k = next_random(seed) % len;
		prefix = parse_copy(buf, k, max_head);
		CHECK(prefix == 0 || prefix == rc);
	}
	return rc;
}

struct decoded {
	ssize_t		 error;
	char		*out;		/* owned */
	size_t		 out_len;
	size_t		 consumed;
	int		 done;
};

/* Decode body[0..len) fed in segments; seed 0 means in one piece. */
static void
decode(const char *body, size_t len, uint32_t seed, uint64_t max_body,
    struct decoded *d)
{
	struct http_chunked c;
	char *buf = malloc(len > 0 ? len : 1);
	size_t buf_len = 0, fed = 0;

	d->out = malloc(len > 0 ? len : 1);
	CHECK(buf != NULL && d->out != NULL);
	d->error = 0;
	d->out_len = d->consumed = 0;
	http_chunked_init(&c);
	while (fed < len || buf_len > 0) {
		size_t piece = seed == 0 ? len - fed : next_random(&seed) % 64;
		size_t out_len;
		ssize_t n;

		if (piece > len - fed)
			piece = len - fed;
		memcpy(buf + buf_len, body + fed, piece);
		buf_len += piece;
		fed += piece;
		n = http_chunked_decode(&c, buf, buf_len, &out_len, max_body);
		if (n < 0) {
			CHECK(n == -400 || n == -413 || n == -431);
			d->error = n;
			break;
		}
		CHECK((size_t)n <= buf_len && out_len <= (size_t)n);
		CHECK((size_t)n == buf_len || c.done);
		memcpy(d->out + d->out_len, buf, out_len);
		d->out_len += out_len;
		d->consumed += (size_t)n;
		memmove(buf, buf + n, buf_len - (size_t)n);
		buf_len -= (size_t)n;
		if (c.done || (fed == len && n == 0))
			break;
	}
	d->done = c.done;
	CHECK(d->out_len <= max_body);
	free(buf);
}

static void
fuzz_chunked(const char *body, size_t len, uint32_t seed, uint64_t max_body)
{
	struct decoded whole, pieces;

	decode(body, len, 0, max_body, &whole);
	decode(body, len, seed | 1, max_body, &pieces);
	CHECK(whole.error == pieces.error);
	if (whole.error == 0) {
		CHECK(whole.done == pieces.done);
		CHECK(whole.consumed == pieces.consumed);
		CHECK(whole.out_len == pieces.out_len);
		CHECK(memcmp(whole.out, pieces.out, whole.out_len) == 0);
		CHECK(whole.done || whole.consumed == len);
	}
	free(whole.out);
	free(pieces.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req;
	const char *buf;
	size_t len, max_head;
	uint64_t max_body;
	uint32_t seed;
	int rc;

	if (size < 2)
		return 0;
	max_head = head_limits[data[0] % NLIMITS(head_limits)];
	max_body = body_limits[data[0] / NLIMITS(head_limits) % NLIMITS(body_limits)];
	seed = (uint32_t)data[1] * 2654435761u + (uint32_t)size;
	if (seed == 0)
		seed = 1;
	/* libFuzzer's copy of the input ends where its allocation ends, so
	 * reading past buf[len - 1] is caught. */
	len = size - 2;
	buf = (const char *)data + 2;
	rc = fuzz_head(buf, len, max_head, &seed, &req);
	if (rc > 0 && req.chunked)
		fuzz_chunked(buf + rc, len - (size_t)rc, seed, max_body);
	else
		fuzz_chunked(buf, len, seed, max_body);
	return 0;
}
