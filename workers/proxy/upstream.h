/*
 * upstream: a proxy worker's connections to instances (SPEC §3, proxying).
 *
 * upstream_send queues one complete request to ip:port on a pooled
 * keep-alive connection (or a new one); the queue is written when the loop
 * turn ends (or every 16 requests), the whole response is read, and the
 * callback runs once with it.  Idle connections wait in a per-worker pool,
 * keyed by address, watched for reading so that one the instance closes is
 * dropped at once, and closed after 4 s idle.  A request is never sent again
 * once a byte of it was written; one whose pooled connection turns out to
 * have been closed by the instance before that (end of file or reset seen
 * first) is sent on a new connection, once.
 */
#ifndef OLB_UPSTREAM_H
#define OLB_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "common/http.h"

struct ev_loop;
struct upstream;

#define UPSTREAM_RESPONSE_MAX	(1024 * 1024)	/* larger answers: 502 */

/* The response of one request.  status is 0 when res, head and body are valid
 * (head: the raw response head; body: the decoded body), else 502 (reset,
 * malformed or oversized answer), UPSTREAM_UNREACHABLE (the connection
 * could not be made: a 502 to the client, and a sign the instance is down)
 * or 504 (timeout).  The pointers are valid only during the call. */
#define UPSTREAM_UNREACHABLE	1502
typedef void upstream_cb(void *arg, int status, const struct http_response *res,
    const char *head, const char *body, size_t body_len);

/* Per-worker settings, copied at upstream_init. */
struct upstream_settings {
	uint64_t	 connect_timeout_ms;
	uint64_t	 response_timeout_ms;
	size_t		 max_idle_per_address;
};

void		 upstream_init(struct ev_loop *loop, const struct upstream_settings *s);
/* Close every pooled connection (worker exit). */
void		 upstream_shutdown(void);

/* Send req[0..len) to ip:port and call cb once with the answer.  req is
 * borrowed: it must stay valid until cb is called or upstream_cancel.  head_request: the request was HEAD (no body follows).  Returns a
 * handle for upstream_cancel, or NULL when cb has already been called (a
 * failure found at once). */
struct upstream	*upstream_send(const char *ip, uint16_t port, const char *req, size_t len,
		    int head_request, upstream_cb *cb, void *arg);
/* The caller lost interest (its client went away): cb will not be called and
 * the connection is closed. */
void		 upstream_cancel(struct upstream *u);

/* Connections in the pool now, and opened in total (for tests and metrics). */
size_t		 upstream_idle_count(void);
uint64_t	 upstream_connects(void);

#endif
