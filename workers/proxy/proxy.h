/*
 * proxy: what the proxy worker's two files share.  proxy.c serves HTTP/1.x on
 * client connections; proxy_api.c decides what each request gets (SPEC §3:
 * routes, auth, payload, placement, proxying to the instance).
 */
#ifndef OLB_PROXY_H
#define OLB_PROXY_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "common/ev.h"
#include "common/hconn.h"
#include "common/http.h"

struct api_request;
struct worker;

/* What a request asked for, as its metrics count it. */
enum proxy_route {
	ROUTE_HEALTH,		/* /api/v1/healthCheck */
	ROUTE_TEST,		/* /api/v1/test */
	ROUTE_CREATE,		/* create_user_listener */
	ROUTE_REMOVE,		/* remove_user_listener */
	ROUTE_OTHER,		/* anything else, and heads that failed */
	ROUTE_COUNT
};

/* A client connection: the server connection (common/hconn.c) and what the
 * proxy keeps of the request being served. */
struct conn {
	struct hconn		 hc;		/* first: hconn allocates conns */
	enum proxy_route	 route;		/* of the request being served */
	uint64_t		 started_us;	/* its head parsed (monotonic); 0:
						   no head (a parse error) */
	int			 answer_status;	/* sent once the body is read */
	const char		*answer_body;	/* static string */
	struct api_request	*api;		/* owned: a request proxy_api serves */
	struct conn_log		*log;		/* owned: access log fields, or NULL */
};

struct proxy {
	struct worker		*w;
	const struct conf	*conf;
	struct hserver		 srv;
};

/* What the access log says of the request being served (kept only while
 * the access log is on). */
struct conn_log {
	uint64_t		 started;	/* monotonic ms */
	char			 method[16];
	char			 path[200];
	char			 request_id[65];
	char			 instance[64];
	char			 actid[129];
};

/* The request being served was answered (by olb, or relayed from its
 * instance): count it in the metrics, write its access log line. */
void	conn_answered(struct conn *c, int status, size_t bytes);

/* Queue a complete answer with a JSON body (hconn_respond); the connection
 * closes after it unless the request asked for keep-alive and the worker
 * is not stopping. */
void	conn_respond(struct conn *c, int status, const char *body);
/* The same with extra header lines (each ending in CRLF), e.g. Retry-After. */
void	conn_respond_with(struct conn *c, int status, const char *headers,
	    const char *body);

/* proxy_api.c: decide the answer of a parsed head.  Sets c->answer_* for a
 * static answer, or c->api for a request it serves itself; may answer an
 * error at once (hconn_error). */
void	api_route(struct conn *c, const struct http_request *req);
/* Body bytes of an api request, in order (decoded when chunked). 0 or -1
 * (an error answer was queued). */
int	api_body(struct conn *c, const char *data, size_t len);
/* The body is complete: start serving (placement, proxying).  The answer
 * arrives later through conn_respond / hconn_resume. */
void	api_start(struct conn *c);
/* The connection is closing: drop c->api and anything it waits for. */
void	api_abort(struct conn *c);

/* proxy_api.c's per-worker set-up and teardown. */
int	api_init(struct proxy *p);
void	api_shutdown(void);
/* The worker's Redis connection came up (1) or went down (0). */
void	api_redis_state(int up);
/* 1 if no request is left without a client but with work (a remove's
 * release): with no connection left, a draining worker may exit. */
int	api_idle(void);

/* proxy_routing.c: the placement cache kept coherent with Redis through the
 * routing channel (the rule is at the top of that file).  routing_init
 * subscribes (cache: proxy_api's, not owned); routing_redis_up is called
 * when the worker's command connection comes up; routing_cacheable says
 * whether a placement answer may go into the cache. */
struct pcache;
struct placement;
int	routing_init(struct proxy *p, struct pcache *cache);
void	routing_redis_up(void);
int	routing_cacheable(const struct placement *where);
void	routing_shutdown(void);

/* Waiting until this worker has applied routing message seq (a release it
 * wrote): Redis sends that message to every subscriber in the same turn, so
 * once this worker has it, so have the others, and a client told of the
 * release after that cannot reach a worker that still caches the account.
 * Owned by the waiting caller; routing only links it. */
struct routing_waiter {
	TAILQ_ENTRY(routing_waiter) entry;
	uint64_t		 seq;
	uint64_t		 since;		/* monotonic ms */
	void			(*cb)(void *arg);
	void			*arg;
	int			 linked;
};
/* 1 if w now waits (cb(arg) is called once, when message seq was applied,
 * the subscription was lost, or after a second), 0 if there is nothing to
 * wait for (cb is not called). */
int	routing_wait(struct routing_waiter *w, uint64_t seq, void (*cb)(void *),
	    void *arg);
/* Stop waiting (cb will not be called); no-op if w does not wait. */
void	routing_wait_cancel(struct routing_waiter *w);

/* proxy.c: a draining worker with no connection left and api_idle() is
 * done; call when a request without a client finishes. */
void	proxy_check_drained(struct proxy *p);

#endif
