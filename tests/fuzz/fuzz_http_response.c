/*
 * libFuzzer target for the HTTP response parser (common/http.c), which reads
 * what instances answer, and for the helpers the proxy relays fields with.
 *
 * Input: byte 0 picks the head limit and whether the request was HEAD,
 * byte 1 seeds the split pattern, the rest is the response.  The parser runs
 * on the response and on prefixes of it, each a heap copy of exactly its
 * length so that any over-read is caught.  When the head announces a chunked
 * body, the chunked decoder runs on what follows, whole and byte by byte.
 *
 * Invariants: results stay within the buffer and the limit; pointers land
 * inside the head; the framing fields agree with each other and with the
 * Connection options; a prefix of a complete head needs more bytes; an error
 * seen on a prefix is the error of the whole; HEAD changes the body rules
 * only, never the result; the hop-by-hop table matches a plain reference.
 *
 * Build and run: make -f tests/fuzz/Makefile fuzz-run TARGET=http_response
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/http.h"
#include "tests/fuzz/fuzz.h"


static const size_t head_limits[] = {
	8192, 0, 1, 13, 16, 64, 256, 1024, 65536, SIZE_MAX,
};



/* Parse a heap copy of buf[0..len). */
static int
parse_copy(const char *buf, size_t len, size_t max_head, int head_request)
{
	struct http_response res;
	char *copy = malloc(len > 0 ? len : 1);
	int rc;

	CHECK(copy != NULL);
	memcpy(copy, buf, len);
	rc = http_parse_response(copy, len, max_head, head_request, &res);
	free(copy);
	return rc;
}

/* The hop-by-hop table, written the obvious way. */
static int
reference_hop_by_hop(const char *name, size_t len)
{
	static const char *hop[] = {
		"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
		"proxy-authorization", "te", "trailer", "transfer-encoding",
		"upgrade", "content-length",
	};

	for (size_t i = 0; i < NLIMITS(hop); i++)
		if (strlen(hop[i]) == len && strncasecmp(name, hop[i], len) == 0)
			return 1;
	return 0;
}

static void
check_header(const struct http_header *h, const char *buf, size_t head_len)
{
	fuzz_check_field(h, buf, head_len);
	for (size_t i = 0; i < h->name_len; i++)
		CHECK(h->name[i] > ' ' && h->name[i] != ':' && h->name[i] != 0x7f);
	CHECK(http_header_is_hop_by_hop(h->name, h->name_len) ==
	    reference_hop_by_hop(h->name, h->name_len));
}

static void
check_response(const struct http_response *res, const char *buf, int rc,
    int head_request)
{
	size_t n = (size_t)rc;
	int close, keep_alive, keep_alive_expected, status = res->status;

	CHECK(res->header_len == n && n >= 16);	/* "HTTP/1.1 200" CRLF CRLF */
	CHECK(memcmp(buf, "HTTP/1.", 7) == 0);
	CHECK(memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
	CHECK(res->minor == 0 || res->minor == 1);
	CHECK(status >= 100 && status <= 999 && status != 101);
	CHECK(inside(res->reason, res->reason_len, buf, n));
	for (size_t i = 0; i < res->reason_len; i++)
		CHECK(res->reason[i] != '\r' && res->reason[i] != '\n' &&
		    res->reason[i] != '\0');
	CHECK(res->nheaders <= HTTP_MAX_HEADERS);
	for (size_t i = 0; i < res->nheaders; i++)
		check_header(&res->headers[i], buf, n);
	CHECK(res->content_length >= -1);
	CHECK(res->chunked == 0 || res->chunked == 1);
	CHECK(!(res->chunked && res->content_length != -1));
	CHECK(!(res->chunked && res->minor == 0));
	CHECK(status >= 200 || (res->content_length == -1 && !res->chunked));
	CHECK(res->no_body == (status < 200 || status == 204 || status == 304 ||
	    head_request));

	close = http_connection_has(res->headers, res->nheaders, "close");
	keep_alive = http_connection_has(res->headers, res->nheaders, "Keep-Alive");
	keep_alive_expected = res->minor == 1 ? !close : keep_alive && !close;
	if (status == 204 && (res->chunked || res->content_length > 0))
		keep_alive_expected = 0;
	else if (!res->no_body && !res->chunked && res->content_length == -1)
		keep_alive_expected = 0;
	CHECK(res->keep_alive == keep_alive_expected);
}

/* Decode body[0..len) whole and byte by byte: the same result. */
static void
fuzz_chunked(const char *body, size_t len)
{
	struct http_chunked whole, bytes;
	char *a = malloc(len > 0 ? len : 1), *b = malloc(len > 0 ? len : 1), one;
	size_t a_len, b_len = 0, consumed = 0, out_len;
	ssize_t n, m, error = 0;

	CHECK(a != NULL && b != NULL);
	memcpy(a, body, len);
	http_chunked_init(&whole);
	n = http_chunked_decode(&whole, a, len, &a_len, 1 << 20);
	http_chunked_init(&bytes);
	for (size_t i = 0; i < len && !bytes.done; i++) {
		one = body[i];
		m = http_chunked_decode(&bytes, &one, 1, &out_len, 1 << 20);
		if (m < 0) {
			error = m;
			break;
		}
		CHECK(m == 1);
		CHECK(out_len <= 1 && b_len + out_len <= len);
		if (out_len == 1)
			b[b_len++] = one;
		consumed++;
	}
	if (n < 0) {
		CHECK(n == -400 || n == -413 || n == -431);
		CHECK(error == n);
	} else {
		CHECK(error == 0);
		CHECK((size_t)n <= len && a_len <= (size_t)n);
		CHECK((size_t)n == consumed && a_len == b_len);
		CHECK(memcmp(a, b, a_len) == 0);
		CHECK(whole.done == bytes.done);
		CHECK((size_t)n == len || whole.done);
	}
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response res;
	const char *buf;
	size_t len, max_head, k;
	uint32_t seed;
	int head_request, rc, prefix;

	if (size < 2)
		return 0;
	max_head = head_limits[data[0] % NLIMITS(head_limits)];
	head_request = data[0] / NLIMITS(head_limits) & 1;
	seed = (uint32_t)data[1] * 2654435761u + (uint32_t)size;
	if (seed == 0)
		seed = 1;
	/* libFuzzer's copy of the input ends where its allocation ends, so
	 * reading past buf[len - 1] is caught. */
	len = size - 2;
	buf = (const char *)data + 2;

	rc = http_parse_response(buf, len, max_head, head_request, &res);
	CHECK(rc >= -1);
	CHECK(parse_copy(buf, len, max_head, !head_request) == rc);
	if (rc > 0) {
		CHECK((size_t)rc <= len && (size_t)rc <= max_head);
		check_response(&res, buf, rc, head_request);
		CHECK(parse_copy(buf, (size_t)rc, max_head, head_request) == rc);
		CHECK(parse_copy(buf, (size_t)rc - 1, max_head, head_request) == 0);
		k = next_random(&seed) % (size_t)rc;
		CHECK(parse_copy(buf, k, max_head, head_request) == 0);
		if (max_head < SIZE_MAX)
			CHECK(parse_copy(buf, len, max_head + 1, head_request) == rc);
		if (res.chunked && !res.no_body)
			fuzz_chunked(buf + rc, len - (size_t)rc);
	} else if (len > 0) {
		if (rc == 0)
			CHECK(len < max_head);
		k = next_random(&seed) % len;
		prefix = parse_copy(buf, k, max_head, head_request);
		CHECK(prefix == 0 || prefix == rc);
	}
	return 0;
}
