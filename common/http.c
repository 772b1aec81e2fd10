/*
 * http: strict HTTP/1.x request- and response-head parsers and chunked-body
 * decoder (see http.h).  Used by the proxy workers on every request
 * (workers/proxy/proxy.c) and on every answer of an instance (workers/proxy/upstream.c).
 *
 * A head parser is a single left-to-right pass over the caller's buffer
 * that keeps no state between calls: when the head is incomplete it returns
 * 0 and the caller calls again, from the start, once more bytes arrived.  A
 * head is at most max_head bytes (proxy.max_header), so a slow peer costs
 * at most max_head bytes of re-scanning per read, and header_timeout bounds
 * how many reads it gets.  Bytes are classified through one 256-entry table,
 * and header names are compared with the few names olb cares about only when
 * their length matches.  Both heads share the field parser, so a response
 * field is held to exactly the rules of a request field.
 *
 * Decisions:
 * - lines end with CRLF; a bare LF or a bare CR is a 400 (no parser
 *   disagreement about where a line ends can exist between olb and anything
 *   in front of it);
 * - empty lines before the request line are skipped (RFC 9112 §2.2);
 * - the target is origin-form ("/path?query") or "*" for OPTIONS; absolute-
 *   and authority-form (hence CONNECT) are a 400; the target is printable
 *   ASCII from the RFC 3986 set, without '#';
 * - the parser accepts any method token (HTTP_OTHER) and leaves 405/501 to
 *   the router; only a method longer than HTTP_MAX_METHOD is a 501.
 *
 * Response decisions (an instance is trusted no more than a client):
 * - the status line is "HTTP/1.x" SP 3DIGIT SP reason CRLF; the SP before an
 *   empty reason may be missing ("HTTP/1.1 200" CRLF): the reason carries no
 *   meaning (RFC 9112 §4) and the line end is unambiguous.  No empty line
 *   may precede it (that would mean the previous body was mis-framed);
 * - Content-Length twice, even with the same value, is rejected, as in a
 *   request (RFC 9110 §8.6 allows either; a server that sends it is broken
 *   and a 502 shows it, where merging would hide it);
 * - a 1xx with Content-Length or Transfer-Encoding is rejected (RFC 9110
 *   §8.6, RFC 9112 §6.1 forbid both); 101 is rejected, as the proxy never
 *   forwards Upgrade and bytes after a 101 are not HTTP;
 * - a 204 with Transfer-Encoding or a non-zero Content-Length (forbidden,
 *   but often sent) has no body (RFC 9112 §6.3) and is relayed, but its
 *   connection is not reused, in case the server did write a body;
 * - framing fields are validated even when no body follows (HEAD, 304), so
 *   the same bytes never parse differently depending on the request.
 */
#include <limits.h>
#include <string.h>

#include "common/http.h"

#define HTTP_INCOMPLETE		1	/* internal: more bytes are needed */

/* Character classes of http_char_class. */
#define HTTP_CHAR_TOKEN		0x01	/* tchar (RFC 9110 §5.6.2) */
#define HTTP_CHAR_VALUE		0x02	/* field-vchar, SP, HTAB */
#define HTTP_CHAR_TARGET	0x04	/* RFC 3986 characters except '#' */
#define HTTP_CHAR_HOST		0x08	/* reg-name, IP-literal, ':' port */

/*
 * The class bits of every byte: 1 token, 2 field value, 4 request target,
 * 8 Host value (15 = all four).  Controls other than HTAB belong to none.
 */
static const unsigned char http_char_class[256] = {
	/* 0x00 controls */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,
	/* 0x10 controls */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 0x20 SP ! " # $ % & ' ( ) * + , - . / */
	2, 15, 2, 3, 15, 15, 15, 15, 14, 14, 15, 15, 14, 15, 15, 6,
	/* 0x30 0 1 2 3 4 5 6 7 8 9 : ; < = > ? */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 14, 2, 14, 2, 6,
	/* 0x40 @ A B C D E F G H I J K L M N O */
	6, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
	/* 0x50 P Q R S T U V W X Y Z [ \ ] ^ _ */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 2, 14, 3, 15,
	/* 0x60 ` a b c d e f g h i j k l m n o */
	3, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
	/* 0x70 p q r s t u v w x y z { | } ~ DEL */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 2, 3, 2, 15, 0,
	/* 0x80 - 0xff obs-text: allowed in field values only */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

#define HTTP_IS(c, class)	(http_char_class[(unsigned char)(c)] & (class))

/* What the header fields of a head said, while they are parsed. */
struct http_fields {
	struct http_header	*headers;	/* HTTP_MAX_HEADERS slots */
	size_t			 nheaders;
	struct http_request	*req;		/* request-only fields; NULL: a response */
	int64_t			 content_length;	/* -1 when absent */
	int			 transfer_encoding;	/* a Transfer-Encoding field was seen */
	int			 transfer_chunked;	/* ... and it was exactly "chunked" */
	int			 connection_close;
	int			 connection_keep_alive;
	int			 expect_continue;
};

static inline unsigned char
http_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

/* Whether s[0..len) equals the lower-case lower[0..len), ignoring case. */
static int
http_equal_nocase(const char *s, const char *lower, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (http_lower((unsigned char)s[i]) != (unsigned char)lower[i])
			return 0;
	return 1;
}

/* Whether a[0..len) equals b[0..len), both in any case. */
static int
http_equal_anycase(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (http_lower((unsigned char)a[i]) != http_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int
http_header_is(const struct http_header *h, const char *lower, size_t len)
{
	return h->name_len == len && http_equal_nocase(h->name, lower, len);
}

static int
http_value_is(const struct http_header *h, const char *lower, size_t len)
{
	return h->value_len == len && http_equal_nocase(h->value, lower, len);
}

static enum http_method
http_method_lookup(const char *m, size_t len)
{
	static const struct {
		const char	*name;
		size_t		 len;
		enum http_method method;
	} methods[] = {
		{ "GET", 3, HTTP_GET },
		{ "PUT", 3, HTTP_PUT },
		{ "HEAD", 4, HTTP_HEAD },
		{ "POST", 4, HTTP_POST },
		{ "PATCH", 5, HTTP_PATCH },
		{ "DELETE", 6, HTTP_DELETE },
		{ "OPTIONS", 7, HTTP_OPTIONS },
	};

	/* Methods are case-sensitive (RFC 9110 §9.1). */
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].len == len && memcmp(methods[i].name, m, len) == 0)
			return methods[i].method;
	return HTTP_OTHER;
}

/* The target between start and end: origin-form, or "*" for OPTIONS. */
static int
http_set_target(struct http_request *req, const char *start, const char *end)
{
	size_t len = (size_t)(end - start);
	const char *query;

	if (len == 0)
		return -400;
	if (start[0] == '/') {
		query = memchr(start, '?', len);
		req->path_len = query != NULL ? (size_t)(query - start) : len;
	} else if (len == 1 && start[0] == '*' && req->method == HTTP_OPTIONS)
		req->path_len = 1;
	else
		return -400;	/* absolute-form, authority-form, garbage */
	req->target = req->path = start;
	req->target_len = len;
	return 0;
}

/* The HTTP-version at p[0..8): the minor version of "HTTP/1.0" or
 * "HTTP/1.1", -505 for another "HTTP/d.d", else -400. */
static int
http_version_minor(const char *p)
{
	if (memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' ||
	    p[6] != '.' || p[7] < '0' || p[7] > '9')
		return -400;
	if (p[5] != '1' || p[7] > '1')
		return -505;
	return p[7] - '0';
}

/* "HTTP/1.x" CRLF at p: 0, HTTP_INCOMPLETE, -400 or -505. */
static int
http_parse_version(const char *p, const char *end, struct http_request *req)
{
	int minor;

	if (end - p < 10)
		return HTTP_INCOMPLETE;
	if ((minor = http_version_minor(p)) == -400 || p[8] != '\r' ||
	    p[9] != '\n')
		return -400;
	if (minor < 0)
		return minor;
	req->minor = minor;
	return 0;
}

/* The request line at *pos; on success *pos moves past its CRLF.
 * 0, HTTP_INCOMPLETE or -status. */
static int
http_parse_request_line(const char **pos, const char *end,
    struct http_request *req)
{
	const char *p = *pos, *start;
	int rc;

	/* RFC 9112 §2.2: skip empty lines before the request line. */
	while (p < end && *p == '\r') {
		if (end - p < 2)
			return HTTP_INCOMPLETE;
		if (p[1] != '\n')
			return -400;
		p += 2;
	}
	for (start = p; p < end && HTTP_IS(*p, HTTP_CHAR_TOKEN); p++)
		;
	if (p - start > HTTP_MAX_METHOD)
		return -501;
	if (p == end)
		return HTTP_INCOMPLETE;
	if (p == start || *p != ' ')
		return -400;
	req->method_str = start;
	req->method_len = (size_t)(p - start);
	req->method = http_method_lookup(start, req->method_len);

	for (start = ++p; p < end && HTTP_IS(*p, HTTP_CHAR_TARGET); p++)
		;
	if (p == end)
		return HTTP_INCOMPLETE;
	if (*p != ' ')
		return -400;	/* control, non-ASCII, '#', second space... */
	if ((rc = http_set_target(req, start, p)) != 0)
		return rc;
	if ((rc = http_parse_version(++p, end, req)) != 0)
		return rc;
	*pos = p + 10;
	return 0;
}

/* Content-Length: 1*DIGIT, once.  An absurd value is a 413. */
static int
http_on_content_length(struct http_fields *f, const struct http_header *h)
{
	int64_t n = 0;
	int overflow = 0;

	if (f->content_length != -1 || h->value_len == 0)
		return -400;	/* duplicate (even with the same value), empty */
	for (size_t i = 0; i < h->value_len; i++) {
		char ch = h->value[i];

		if (ch < '0' || ch > '9')
			return -400;	/* sign, list, space, anything */
		if (n > (INT64_MAX - (ch - '0')) / 10)
			overflow = 1;
		else
			n = n * 10 + (ch - '0');
	}
	if (overflow)
		return -413;
	f->content_length = n;
	return 0;
}

/* The next option of a Connection value at *pos (before end): its start,
 * with *len set, or NULL when none is left.  Commas and whitespace separate
 * options, so a malformed "keep-alive close" still says close. */
static const char *
http_next_option(const char **pos, const char *end, size_t *len)
{
	const char *p = *pos, *option;

	while (p < end && (*p == ',' || *p == ' ' || *p == '\t'))
		p++;
	for (option = p; p < end && *p != ',' && *p != ' ' && *p != '\t'; p++)
		;
	*pos = p;
	*len = (size_t)(p - option);
	return *len > 0 ? option : NULL;
}

/* Connection: a comma list of case-insensitive options. */
static void
http_on_connection(struct http_fields *f, const struct http_header *h)
{
	const char *p = h->value, *end = h->value + h->value_len, *option;
	size_t len;

	while ((option = http_next_option(&p, end, &len)) != NULL) {
		if (len == 5 && http_equal_nocase(option, "close", 5))
			f->connection_close = 1;
		else if (len == 10 && http_equal_nocase(option, "keep-alive", 10))
			f->connection_keep_alive = 1;
	}
}

/* Host: once, with URI host characters only (RFC 9112 §3.2). */
static int
http_on_host(struct http_request *req, const struct http_header *h)
{
	if (req->host != NULL)
		return -400;
	for (size_t i = 0; i < h->value_len; i++)
		if (!HTTP_IS(h->value[i], HTTP_CHAR_HOST))
			return -400;
	req->host = h;
	return 0;
}

/* A singleton field olb acts on: a second copy is ambiguous, so a 400. */
static int
http_on_singleton(const struct http_header **slot, const struct http_header *h)
{
	if (*slot != NULL)
		return -400;
	*slot = h;
	return 0;
}

/* Note what a field olb cares about says; the request-only fields are
 * ignored in a response (f->req NULL).  0 or -status. */
static int
http_on_field(struct http_fields *f, const struct http_header *h)
{
	struct http_request *req = f->req;

	switch (h->name_len) {
	case 4:
		if (req != NULL && http_header_is(h, "host", 4))
			return http_on_host(req, h);
		break;
	case 6:
		if (req != NULL && http_header_is(h, "expect", 6) &&
		    http_value_is(h, "100-continue", 12))
			f->expect_continue = 1;
		break;
	case 10:
		if (http_header_is(h, "connection", 10))
			http_on_connection(f, h);
		break;
	case 12:
		if (req == NULL)
			break;
		if (http_header_is(h, "content-type", 12))
			return http_on_singleton(&req->content_type, h);
		if (http_header_is(h, "x-request-id", 12) && req->request_id == NULL)
			req->request_id = h;
		break;
	case 13:
		if (req != NULL && http_header_is(h, "authorization", 13))
			return http_on_singleton(&req->authorization, h);
		break;
	case 14:
		if (http_header_is(h, "content-length", 14))
			return http_on_content_length(f, h);
		break;
	case 17:
		if (http_header_is(h, "transfer-encoding", 17)) {
			if (f->transfer_encoding || h->value_len == 0)
				return -400;
			f->transfer_encoding = 1;
			f->transfer_chunked = http_value_is(h, "chunked", 7);
		}
		break;
	}
	return 0;
}

/* The header fields at *pos up to and including the empty line, into
 * f->headers; on success *pos moves past it.  0, HTTP_INCOMPLETE or
 * -status. */
static int
http_parse_fields(const char **pos, const char *end, struct http_fields *f)
{
	const char *p = *pos, *value, *value_end;
	struct http_header *h;
	int rc;

	for (;;) {
		if (p == end)
			return HTTP_INCOMPLETE;
		if (*p == '\r')
			break;
		if (f->nheaders == HTTP_MAX_HEADERS)
			return -431;
		h = &f->headers[f->nheaders];
		/* A line starting with SP or HTAB is obs-fold (or whitespace
		 * before the first field): both fail the token test. */
		for (h->name = p; p < end && HTTP_IS(*p, HTTP_CHAR_TOKEN); p++)
			;
		if (p == end)
			return HTTP_INCOMPLETE;
		if (*p != ':' || p == h->name)
			return -400;
		h->name_len = (size_t)(p - h->name);
		for (p++; p < end && (*p == ' ' || *p == '\t'); p++)
			;
		for (value = p; p < end && HTTP_IS(*p, HTTP_CHAR_VALUE); p++)
			;
		if (p < end && *p != '\r')
			return -400;	/* a control character or a bare LF */
		if (end - p < 2)
			return HTTP_INCOMPLETE;
		if (p[1] != '\n')
			return -400;	/* a bare CR */
		for (value_end = p; value_end > value &&
		    (value_end[-1] == ' ' || value_end[-1] == '\t'); value_end--)
			;
		h->value = value;
		h->value_len = (size_t)(value_end - value);
		p += 2;
		f->nheaders++;
		if ((rc = http_on_field(f, h)) != 0)
			return rc;
	}
	if (end - p < 2)
		return HTTP_INCOMPLETE;
	if (p[1] != '\n')
		return -400;
	*pos = p + 2;
	return 0;
}

/* Whether the connection may carry another message, from the version and
 * the Connection options (RFC 9112 §9.3). */
static int
http_keep_alive(int minor, const struct http_fields *f)
{
	if (minor == 1)
		return !f->connection_close;
	return f->connection_keep_alive && !f->connection_close;
}

/* The message framing and connection rules once every field is known. */
static int
http_finish(struct http_request *req, const struct http_fields *f)
{
	req->nheaders = f->nheaders;
	req->content_length = f->content_length;
	if (f->transfer_encoding) {
		if (req->content_length != -1)
			return -400;	/* RFC 9112 §6.1: a smuggling shape */
		if (req->minor == 0)
			return -400;
		if (!f->transfer_chunked)
			return -501;
		req->chunked = 1;
	}
	if (req->minor == 1 && req->host == NULL)
		return -400;
	req->keep_alive = http_keep_alive(req->minor, f);
	req->expect_continue = req->minor == 1 && f->expect_continue;
	return 0;
}

int
http_parse_request(const char *buf, size_t len, size_t max_head,
    struct http_request *req)
{
	struct http_fields f = { .headers = req->headers, .req = req,
	    .content_length = -1 };
	const char *p = buf, *end;
	int rc;

	if (max_head > INT_MAX)
		max_head = INT_MAX;
	end = buf + (len < max_head ? len : max_head);
	req->nheaders = 0;
	req->content_length = -1;
	req->chunked = req->keep_alive = req->expect_continue = 0;
	req->authorization = req->content_type = req->host = NULL;
	req->request_id = NULL;
	req->header_len = 0;

	rc = http_parse_request_line(&p, end, req);
	if (rc == HTTP_INCOMPLETE)
		return len < max_head ? 0 : -414;
	if (rc != 0)
		return rc;
	rc = http_parse_fields(&p, end, &f);
	if (rc == HTTP_INCOMPLETE)
		return len < max_head ? 0 : -431;
	if (rc != 0)
		return rc;
	if ((rc = http_finish(req, &f)) != 0)
		return rc;
	req->header_len = (size_t)(p - buf);
	return (int)req->header_len;
}

/* The status line at *pos; on success *pos moves past its CRLF.
 * 0, HTTP_INCOMPLETE or -1. */
static int
http_parse_status_line(const char **pos, const char *end,
    struct http_response *res)
{
	const char *p = *pos;
	int minor;

	/* "HTTP/1.1 200" and the byte after it. */
	if (end - p < 13)
		return HTTP_INCOMPLETE;
	if ((minor = http_version_minor(p)) < 0 || p[8] != ' ')
		return -1;	/* HTTP/2, HTTP/1.2, HTTP/11, garbage */
	if (p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9' ||
	    p[11] < '0' || p[11] > '9' || (p[12] != ' ' && p[12] != '\r'))
		return -1;	/* 3DIGIT exactly, 100 to 999 */
	res->minor = minor;
	res->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	p += p[12] == ' ' ? 13 : 12;
	for (res->reason = p; p < end && HTTP_IS(*p, HTTP_CHAR_VALUE); p++)
		;
	if (p == end)
		return HTTP_INCOMPLETE;
	if (*p != '\r')
		return -1;	/* a control character or a bare LF */
	if (end - p < 2)
		return HTTP_INCOMPLETE;
	if (p[1] != '\n')
		return -1;	/* a bare CR */
	res->reason_len = (size_t)(p - res->reason);
	*pos = p + 2;
	return 0;
}

/* The framing and connection rules of a response once every field is
 * known (RFC 9112 §6.3).  0 or -1. */
static int
http_finish_response(struct http_response *res, const struct http_fields *f,
    int head_request)
{
	int status = res->status;

	res->nheaders = f->nheaders;
	res->content_length = f->content_length;
	if (status == 101)
		return -1;	/* no Upgrade was forwarded */
	if (status < 200 && (f->transfer_encoding || f->content_length != -1))
		return -1;
	if (f->transfer_encoding) {
		if (f->content_length != -1 || res->minor == 0 ||
		    !f->transfer_chunked)
			return -1;
		res->chunked = 1;
	}
	res->keep_alive = http_keep_alive(res->minor, f);
	res->no_body = status < 200 || status == 204 || status == 304 ||
	    head_request;
	if (status == 204 && (res->chunked || res->content_length > 0))
		res->keep_alive = 0;	/* a body may follow all the same */
	else if (!res->no_body && !res->chunked && res->content_length == -1)
		res->keep_alive = 0;	/* the body ends at the close */
	return 0;
}

int
http_parse_response(const char *buf, size_t len, size_t max_head,
    int head_request, struct http_response *res)
{
	struct http_fields f = { .headers = res->headers, .content_length = -1 };
	const char *p = buf, *end;
	int rc;

	if (max_head > INT_MAX)
		max_head = INT_MAX;
	end = buf + (len < max_head ? len : max_head);
	res->nheaders = 0;
	res->content_length = -1;
	res->chunked = res->keep_alive = res->no_body = 0;
	res->header_len = 0;

	if ((rc = http_parse_status_line(&p, end, res)) == 0)
		rc = http_parse_fields(&p, end, &f);
	if (rc == HTTP_INCOMPLETE)
		return len < max_head ? 0 : -1;
	if (rc != 0 || http_finish_response(res, &f, head_request) != 0)
		return -1;
	res->header_len = (size_t)(p - buf);
	return (int)res->header_len;
}

int
http_header_is_hop_by_hop(const char *name, size_t len)
{
	static const struct {
		const char	*lower;
		size_t		 len;
	} hop[] = {
		{ "te", 2 },
		{ "trailer", 7 },
		{ "upgrade", 7 },
		{ "connection", 10 },
		{ "keep-alive", 10 },
		{ "content-length", 14 },
		{ "proxy-connection", 16 },
		{ "transfer-encoding", 17 },
		{ "proxy-authenticate", 18 },
		{ "proxy-authorization", 19 },
	};

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (hop[i].len == len && http_equal_nocase(name, hop[i].lower, len))
			return 1;
	return 0;
}

int
http_connection_has(const struct http_header *headers, size_t n,
    const char *token)
{
	size_t token_len = strlen(token), len;
	const char *p, *end, *option;

	for (size_t i = 0; i < n; i++) {
		if (!http_header_is(&headers[i], "connection", 10))
			continue;
		p = headers[i].value;
		end = p + headers[i].value_len;
		while ((option = http_next_option(&p, end, &len)) != NULL)
			if (len == token_len &&
			    http_equal_anycase(option, token, len))
				return 1;
	}
	return 0;
}

const char *
http_status_reason(int status)
{
	switch (status) {
	case 100:	return "Continue";
	case 101:	return "Switching Protocols";
	case 200:	return "OK";
	case 201:	return "Created";
	case 202:	return "Accepted";
	case 204:	return "No Content";
	case 206:	return "Partial Content";
	case 301:	return "Moved Permanently";
	case 302:	return "Found";
	case 303:	return "See Other";
	case 304:	return "Not Modified";
	case 307:	return "Temporary Redirect";
	case 308:	return "Permanent Redirect";
	case 400:	return "Bad Request";
	case 401:	return "Unauthorized";
	case 403:	return "Forbidden";
	case 404:	return "Not Found";
	case 405:	return "Method Not Allowed";
	case 408:	return "Request Timeout";
	case 409:	return "Conflict";
	case 411:	return "Length Required";
	case 413:	return "Content Too Large";
	case 414:	return "URI Too Long";
	case 415:	return "Unsupported Media Type";
	case 417:	return "Expectation Failed";
	case 422:	return "Unprocessable Content";
	case 429:	return "Too Many Requests";
	case 431:	return "Request Header Fields Too Large";
	case 500:	return "Internal Server Error";
	case 501:	return "Not Implemented";
	case 502:	return "Bad Gateway";
	case 503:	return "Service Unavailable";
	case 504:	return "Gateway Timeout";
	case 505:	return "HTTP Version Not Supported";
	}
	if (status >= 100 && status < 200)
		return "Informational";
	if (status >= 200 && status < 300)
		return "Success";
	if (status >= 300 && status < 400)
		return "Redirection";
	if (status >= 400 && status < 500)
		return "Client Error";
	if (status >= 500 && status < 600)
		return "Server Error";
	return "Unknown";
}

const char *
http_error_message(int status)
{
	switch (status) {
	case 400:	return "Bad request";
	case 401:	return "Unauthorized: Bearer token required";
	case 403:	return "Forbidden: Invalid token";
	case 404:	return "Path not found";
	case 405:	return "Method not allowed";
	case 408:	return "Request timeout";
	case 411:	return "Length required";
	case 413:	return "Request body too large";
	case 414:	return "Request target too long";
	case 415:	return "Content-Type must be application/json";
	case 431:	return "Request headers too large";
	case 500:	return "Internal error";
	case 501:	return "Not implemented";
	case 502:	return "Instance unreachable";
	case 503:	return "No instance available";
	case 504:	return "Instance timed out";
	case 505:	return "HTTP version not supported";
	}
	return status >= 500 ? "Server error" : "Request error";
}

/*
 * The chunked decoder.  Each state names what the next byte must be.
 */
enum http_chunked_state {
	CHUNK_SIZE_FIRST,	/* the first hex digit of a chunk size */
	CHUNK_SIZE,		/* more hex digits, ';' or CR */
	CHUNK_EXTENSION,	/* extension bytes up to CR */
	CHUNK_SIZE_LF,		/* LF ending the size line */
	CHUNK_DATA,		/* `remaining` data bytes */
	CHUNK_DATA_CR,		/* CR after the data */
	CHUNK_DATA_LF,		/* LF after the data */
	CHUNK_TRAILER_START,	/* a trailer field name, or CR ending the body */
	CHUNK_TRAILER_NAME,	/* more name bytes or ':' */
	CHUNK_TRAILER_VALUE,	/* value bytes up to CR */
	CHUNK_TRAILER_LF,	/* LF ending a trailer field */
	CHUNK_END_LF,		/* LF ending the body */
	CHUNK_DONE,
};

void
http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CHUNK_SIZE_FIRST;
}

static int
http_hex_digit(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = http_lower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* One byte of chunk extensions, which are discarded: any field-value byte,
 * HTTP_CHUNK_EXT_MAX of them at most. */
static int
http_chunk_extension_byte(struct http_chunked *c, unsigned char ch)
{
	if (ch == '\r') {
		c->state = CHUNK_SIZE_LF;
		return 0;
	}
	if (!HTTP_IS(ch, HTTP_CHAR_VALUE) || ++c->ext_len > HTTP_CHUNK_EXT_MAX)
		return -400;
	return 0;
}

/* One byte of a chunk size: a hex digit, then ';' or CR (no whitespace:
 * strict).  0 or -status. */
static int
http_chunk_size_byte(struct http_chunked *c, unsigned char ch, uint64_t max_body)
{
	int digit;

	if ((digit = http_hex_digit(ch)) >= 0) {
		if (++c->digits > 16)
			return -400;	/* would overflow 64 bits */
		c->remaining = c->remaining << 4 | (uint64_t)digit;
		c->state = CHUNK_SIZE;
		return 0;
	}
	if (c->state == CHUNK_SIZE_FIRST || (ch != ';' && ch != '\r'))
		return -400;	/* empty size, sign, space, "0x"... */
	if (c->total > max_body || c->remaining > max_body - c->total)
		return -413;
	c->state = CHUNK_EXTENSION;
	return http_chunk_extension_byte(c, ch);
}

/* One byte of the trailer section (fields are checked, then discarded). */
static int
http_chunk_trailer_byte(struct http_chunked *c, unsigned char ch)
{
	if (++c->trailer_len > HTTP_CHUNK_TRAILER_MAX)
		return -431;
	switch (c->state) {
	case CHUNK_TRAILER_START:
		if (ch == '\r')
			c->state = CHUNK_END_LF;
		else if (HTTP_IS(ch, HTTP_CHAR_TOKEN))
			c->state = CHUNK_TRAILER_NAME;
		else
			return -400;	/* obs-fold, empty name, bare LF */
		return 0;
	case CHUNK_TRAILER_NAME:
		if (ch == ':')
			c->state = CHUNK_TRAILER_VALUE;
		else if (!HTTP_IS(ch, HTTP_CHAR_TOKEN))
			return -400;
		return 0;
	case CHUNK_TRAILER_VALUE:
		if (ch == '\r')
			c->state = CHUNK_TRAILER_LF;
		else if (!HTTP_IS(ch, HTTP_CHAR_VALUE))
			return -400;
		return 0;
	default:	/* CHUNK_TRAILER_LF */
		if (ch != '\n')
			return -400;
		c->state = CHUNK_TRAILER_START;
		return 0;
	}
}

/* One framing byte (anything but chunk data).  0 or -status. */
static int
http_chunk_framing_byte(struct http_chunked *c, unsigned char ch,
    uint64_t max_body)
{
	uint64_t overhead_max = max_body > UINT64_MAX - HTTP_CHUNK_OVERHEAD_MAX ?
	    UINT64_MAX : max_body + HTTP_CHUNK_OVERHEAD_MAX;

	if (++c->overhead > overhead_max)
		return -413;	/* tiny chunks or huge extensions */
	switch (c->state) {
	case CHUNK_SIZE_FIRST:
	case CHUNK_SIZE:
		return http_chunk_size_byte(c, ch, max_body);
	case CHUNK_EXTENSION:
		return http_chunk_extension_byte(c, ch);
	case CHUNK_SIZE_LF:
		if (ch != '\n')
			return -400;
		c->state = c->remaining > 0 ? CHUNK_DATA : CHUNK_TRAILER_START;
		c->digits = 0;
		c->ext_len = 0;
		return 0;
	case CHUNK_DATA_CR:
		if (ch != '\r')
			return -400;	/* more data than the size said */
		c->state = CHUNK_DATA_LF;
		return 0;
	case CHUNK_DATA_LF:
		if (ch != '\n')
			return -400;
		c->state = CHUNK_SIZE_FIRST;
		return 0;
	case CHUNK_END_LF:
		if (ch != '\n')
			return -400;
		c->state = CHUNK_DONE;
		c->done = 1;
		return 0;
	default:
		return http_chunk_trailer_byte(c, ch);
	}
}

ssize_t
http_chunked_decode(struct http_chunked *c, char *in, size_t len,
    size_t *out_len, uint64_t max_body)
{
	size_t i = 0, out = 0;
	int rc;

	*out_len = 0;
	while (i < len && c->state != CHUNK_DONE) {
		if (c->state == CHUNK_DATA) {
			size_t n = len - i;

			if (n > c->remaining)
				n = (size_t)c->remaining;
			if (out != i)
				memmove(in + out, in + i, n);
			out += n;
			i += n;
			c->total += n;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = CHUNK_DATA_CR;
			continue;
		}
		if ((rc = http_chunk_framing_byte(c, (unsigned char)in[i], max_body)) != 0)
			return rc;
		i++;
	}
	*out_len = out;
	return (ssize_t)i;
}
