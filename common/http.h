/*
 * http: olb's HTTP/1.x request and response parser (SPEC §3), used by the
 * proxy workers on their hot path: requests from clients, responses from
 * instances (workers/proxy/upstream.c).  Pure and allocation-free: it reads a
 * caller's buffer, never writes outside what it is given, and keeps no state
 * between calls except the chunked decoder's small struct.
 *
 * The head parsers are strict, like a security-minded proxy (RFC 9112): CRLF
 * line endings only, origin-form targets, HTTP/1.0 and HTTP/1.1 only, and
 * every smuggling shape (Content-Length with Transfer-Encoding, duplicate
 * Content-Length, codings other than "chunked", obs-fold, bad chunk sizes)
 * is rejected.  Request errors are HTTP status codes, so the caller can
 * answer with them directly; a response error is -1 (the proxy answers 502).
 */
#ifndef OLB_HTTP_H
#define OLB_HTTP_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS	64	/* more header lines: 431 */
#define HTTP_MAX_METHOD		32	/* longer methods: 501 */
#define HTTP_CHUNK_EXT_MAX	1024	/* bytes of extensions on one chunk-size line: 400 */
#define HTTP_CHUNK_TRAILER_MAX	8192	/* bytes of the trailer section: 431 */
#define HTTP_CHUNK_OVERHEAD_MAX	65536	/* framing bytes allowed on top of max_body: 413 */

struct http_header {
	const char	*name;		/* a token, as sent (any case) */
	size_t		 name_len;
	const char	*value;		/* without surrounding whitespace */
	size_t		 value_len;
};

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP_PATCH,
	HTTP_OTHER,		/* any other token: the router answers 405 or 501 */
};

/*
 * A parsed request head.  Every pointer points into the caller's buffer (the
 * named header pointers point into headers[]), so the buffer must outlive the
 * struct and must not move while the struct is in use.
 */
struct http_request {
	enum http_method	 method;
	const char		*method_str;	/* the method token as sent */
	size_t			 method_len;
	const char		*target;	/* "/path?query", or "*" (OPTIONS) */
	size_t			 target_len;
	const char		*path;		/* target without "?query" */
	size_t			 path_len;
	int			 minor;		/* HTTP/1.<minor>: 0 or 1 */
	struct http_header	 headers[HTTP_MAX_HEADERS];
	size_t			 nheaders;
	int64_t			 content_length;	/* -1 when absent */
	int			 chunked;	/* Transfer-Encoding: chunked */
	int			 keep_alive;	/* from the version and Connection */
	int			 expect_continue;	/* HTTP/1.1 Expect: 100-continue */
	const struct http_header *authorization;	/* NULL when absent */
	const struct http_header *content_type;
	const struct http_header *host;
	const struct http_header *request_id;	/* the first X-Request-Id */
	size_t			 header_len;	/* request line, fields, final CRLF */
};

/*
 * Parse the request head at buf[0..len), of at most max_head bytes.  Returns
 * header_len (> 0) when the head is complete, 0 when more bytes are needed,
 * or -status on error: -400, -413, -414, -431, -501 or -505.  Safe to call
 * again on the same buffer after more bytes arrive; req is filled on success.
 */
int		 http_parse_request(const char *buf, size_t len, size_t max_head,
		    struct http_request *req);

/*
 * A parsed response head, from an instance.  Like struct http_request, every
 * pointer points into the caller's buffer.  When no_body is set no body
 * follows the head whatever the fields say; content_length and chunked then
 * only describe the representation (a HEAD or 304 answer).
 */
struct http_response {
	int			 minor;		/* HTTP/1.<minor>: 0 or 1 */
	int			 status;	/* 100..999, never 101 */
	const char		*reason;	/* as sent, may be empty */
	size_t			 reason_len;
	struct http_header	 headers[HTTP_MAX_HEADERS];
	size_t			 nheaders;
	int64_t			 content_length;	/* -1 when absent */
	int			 chunked;	/* Transfer-Encoding: chunked */
	int			 keep_alive;	/* connection reusable after this response */
	int			 no_body;	/* 1xx, 204, 304, or the request was HEAD */
	size_t			 header_len;	/* status line, fields, final CRLF */
};

/*
 * Parse the response head at buf[0..len), of at most max_head bytes;
 * head_request: the request was HEAD.  Returns header_len (> 0) when the
 * head is complete, 0 when more bytes are needed, or -1 for a malformed or
 * unsupported response (the proxy answers 502).  A 1xx head is returned like
 * any other (the final response follows it); 101 is unsupported.  A body
 * that is neither chunked nor sized ends at the close (keep_alive is 0).
 * Safe to call again after more bytes arrive; res is filled on success.
 */
int		 http_parse_response(const char *buf, size_t len, size_t max_head,
		    int head_request, struct http_response *res);

/* 1 if the field name[0..len) is hop-by-hop and must not be relayed
 * (Connection, Keep-Alive, Proxy-Connection, Proxy-Authenticate,
 * Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade) or is
 * Content-Length, which the proxy writes itself; any case. */
int		 http_header_is_hop_by_hop(const char *name, size_t len);

/* 1 if token (a NUL-terminated string, any case) is an option of any
 * Connection field among headers[0..n), else 0. */
int		 http_connection_has(const struct http_header *headers, size_t n,
		    const char *token);

/* The reason phrase for status ("Bad Request"); never NULL. */
const char	*http_status_reason(int status);
/* A short JSON-safe message for an error body with status; never NULL. */
const char	*http_error_message(int status);

/*
 * Incremental decoder of a chunked body (RFC 9112 §7.1), of a request or of
 * a response: chunk extensions and trailer fields are checked, then dropped.
 * The caller owns the struct; only `done` is meant to be read, the rest is
 * private.
 */
struct http_chunked {
	int		 state;
	int		 done;		/* last chunk and trailers consumed */
	uint64_t	 remaining;	/* data bytes left in the current chunk */
	uint64_t	 total;		/* data bytes decoded so far */
	uint64_t	 overhead;	/* framing bytes consumed so far */
	unsigned int	 digits;	/* hex digits of the current size */
	size_t		 ext_len;	/* bytes of the current chunk extensions */
	size_t		 trailer_len;	/* bytes of the trailer section */
};

/* Prepare c for a new body. */
void		 http_chunked_init(struct http_chunked *c);

/*
 * Decode in[0..len) in place: decoded data is moved to in[0..*out_len).
 * Returns the bytes consumed (all of len until the body ends, then exactly
 * up to its end), -400 on a malformed body, -413 when the data exceeds
 * max_body (or the framing exceeds it by HTTP_CHUNK_OVERHEAD_MAX), -431 when
 * the trailers are too large (for a response body, any error is a 502).
 * Splits may fall anywhere.
 */
ssize_t		 http_chunked_decode(struct http_chunked *c, char *in, size_t len,
		    size_t *out_len, uint64_t max_body);

#endif
