/*
 * httpc: asynchronous HTTP client on libcurl's multi interface, driven by an
 * ev loop.
 *
 * One struct httpc per loop owns a curl multi handle (and with it curl's
 * connection and DNS caches, shared by every transfer it runs).  Each
 * httpc_request starts one transfer and calls its callback exactly once, from
 * the loop, with the answer or the reason there is none.  Nothing blocks:
 * descriptors and curl's timer live in the loop, and a request being resolved
 * by curl's resolver thread is abandoned, not waited for, when it is cancelled.
 *
 * Transfers follow no redirects, speak http and https only, and use a proxy
 * from the environment (https_proxy) only for https URLs: the health probes go
 * to private addresses.  curl is told to install no signal handler
 * (CURLOPT_NOSIGNAL): the process ignores SIGPIPE, as every olb worker does.
 * The loop's setsize must exceed every descriptor curl opens (one per
 * transfer in flight, plus idle cached connections): a transfer whose
 * descriptor the loop refuses fails at once with a message saying so.
 *
 * Ownership: the options are copied by httpc_request; a result and everything
 * it points to belong to httpc and are valid only during the callback.  A
 * request belongs to httpc: it is freed after its callback returns or by
 * httpc_cancel, and must not be used after either.  Free every httpc before its
 * loop.
 */
#ifndef OLB_HTTPC_H
#define OLB_HTTPC_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct httpc;			/* one per event loop: owns the curl multi handle */
struct httpc_req;		/* one transfer in flight */

#define HTTPC_TIMEOUT_DEFAULT_MS	10000
#define HTTPC_MAX_BODY_DEFAULT		(1024 * 1024)

struct httpc_opts {
	const char		*method;	/* GET, HEAD, POST, PUT, DELETE; NULL = GET */
	const char		*url;
	const char *const	*headers;	/* NULL-terminated "Name: value" list, or NULL */
	const char		*body;		/* request body, may be NULL */
	size_t			 body_len;
	long			 timeout_ms;	/* whole transfer; 0 = HTTPC_TIMEOUT_DEFAULT_MS */
	long			 connect_timeout_ms; /* 0 = timeout_ms */
	size_t			 max_body;	/* answers longer than this fail; 0 = 1 MiB */
	int			 fresh;		/* a new connection, closed after,
						 * and no DNS cache entry kept: a
						 * health check measures the connect,
						 * and a fleet of thousands gains
						 * nothing from caches that curl
						 * walks whole on every transfer */
};

struct httpc_result {
	long			 status;	/* HTTP status; 0 when there was no (complete) answer */
	const char		*body;		/* NUL-terminated copy ("" if none), valid during the callback */
	size_t			 body_len;	/* the body may be binary: use this, not strlen */
	const char		*error;		/* NULL on an answer; else a short message ("timeout",
						 * "connection refused", "answer over 1048576 bytes",
						 * curl's text) */
	int			 timed_out;	/* 1 if the failure was a timeout */
	int64_t			 date;		/* the answer's Date header (s since
						 * the epoch), 0 if none */
	int64_t			 retry_after;	/* its Retry-After in seconds from
						 * now, 0 if none */
};

typedef void httpc_done_cb(const struct httpc_result *res, void *arg);

/* A client running its transfers on loop.  NULL on failure. */
struct httpc	*httpc_new(struct ev_loop *loop);
/* Cancel every transfer (no callbacks) and free h.  Safe inside a callback: h
 * is then released when the callback returns, and no other callback runs. */
void		 httpc_free(struct httpc *h);

/*
 * Start a transfer; cb is called exactly once, always from the loop (never from
 * inside httpc_request), unless httpc_cancel or httpc_free comes first.  The
 * options' strings are copied.  NULL on failure (allocation, bad options: no
 * URL, an unknown method, a body with GET or HEAD, a header with CR or LF); an
 * unusable URL is reported through cb.  Safe inside a callback.
 */
struct httpc_req *httpc_request(struct httpc *h, const struct httpc_opts *o,
		    httpc_done_cb *cb, void *arg);
/* Abandon r: its callback is not called and r is freed.  Harmless on NULL and
 * on the request whose callback is running.  Safe inside a callback. */
void		 httpc_cancel(struct httpc_req *r);
/* Transfers in flight (started, neither finished nor cancelled). */
size_t		 httpc_active(const struct httpc *h);

#endif
