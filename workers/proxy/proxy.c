/*
 * proxy: the proxy worker role (SPEC §3).  Accepts connections on its slot's
 * SO_REUSEPORT socket and serves HTTP/1.x on them through the server
 * connection layer (common/hconn.c: keep-alive, pipelining, bodies, limits
 * and timeouts); proxy_api.c decides what each request gets.  This file
 * ties the two together, keeps the access log, and runs the role.
 *
 * On SIGTERM the worker stops accepting, answers each connection's next
 * request with "Connection: close", closes it gracefully, and exits when
 * none is left.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/hconn.h"
#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "workers/proxy/access_log.h"
#include "workers/proxy/proxy.h"
#include "workers/worker.h"

static struct proxy proxy;

/* olb_http_requests_total by route and status class (1xx..5xx), and the
 * latency histogram by route. */
static const char *const route_names[ROUTE_COUNT] = {
	"health", "test", "create", "remove", "other",
};
static struct metric *requests[ROUTE_COUNT][5];
static struct metric_hist *latency[ROUTE_COUNT];

static void
proxy_metrics_init(void)
{
	for (int r = 0; r < ROUTE_COUNT; r++) {
		for (int k = 0; k < 5; k++)
			requests[r][k] = metric_counter("olb_http_requests_total",
			    "route=\"%s\",code=\"%dxx\"", route_names[r], k + 1);
		latency[r] = metric_histogram("olb_http_request_duration_seconds",
		    "route=\"%s\"", route_names[r]);
	}
}

/* The conn of a server connection (struct hconn is its first member). */
static struct conn *
proxy_conn(struct hconn *hc)
{
	return (struct conn *)hc;
}

void
proxy_check_drained(struct proxy *p)
{
	if (p->w->stopping && !p->srv.closing_all && p->srv.nconns == 0 &&
	    api_idle())
		worker_done(p->w);
}

void
conn_respond(struct conn *c, int status, const char *body)
{
	conn_respond_with(c, status, "", body);
}

void
conn_respond_with(struct conn *c, int status, const char *headers,
    const char *body)
{
	hconn_respond(&c->hc, status, headers, body, strlen(body));
}

void
conn_answered(struct conn *c, int status, size_t bytes)
{
	struct conn_log *l = c->log;
	struct access_entry e;
	int k = status / 100 - 1;
	enum proxy_route r = c->started_us != 0 ? c->route : ROUTE_OTHER;

	metric_add(requests[r][k < 0 ? 0 : k > 4 ? 4 : k], 1);
	if (c->started_us != 0)
		metric_observe_us(latency[r], util_mono_us() - c->started_us);
	c->started_us = 0;
	if (l == NULL)
		return;
	e.request_id = l->request_id;
	e.method = l->method;
	e.method_len = strlen(l->method);
	e.path = l->path;
	e.path_len = strlen(l->path);
	e.status = status;
	e.bytes = bytes;
	e.duration_ms = ev_now(proxy.w->loop) - l->started;
	e.instance = l->instance;
	e.actid = l->actid;
	access_log_write(&e);
}

/* Remember what the access log needs of a new request (when it is on). */
static void
conn_log_start(struct conn *c, const struct http_request *req)
{
	struct conn_log *l = c->log;

	if (!access_log_enabled())
		return;
	if (l == NULL && (l = c->log = malloc(sizeof(*l))) == NULL)
		return;
	memset(l, 0, sizeof(*l));
	l->started = ev_now(proxy.w->loop);
	snprintf(l->method, sizeof(l->method), "%.*s", (int)req->method_len,
	    req->method_str);
	snprintf(l->path, sizeof(l->path), "%.*s", (int)req->path_len, req->path);
}

/* The server connection layer's hooks */

/* A request head was parsed: check its method and body size, then route. */
static void
proxy_on_head(struct hconn *hc, const struct http_request *req)
{
	struct conn *c = proxy_conn(hc);

	c->route = ROUTE_OTHER;
	c->started_us = METRICS_ON ? util_mono_us() : 0;
	conn_log_start(c, req);
	if (req->method == HTTP_OTHER) {
		hconn_error(hc, 501);
		return;
	}
	if (hconn_body_too_large(req, (uint64_t)proxy.conf->proxy.max_body)) {
		hconn_error(hc, 413);
		return;
	}
	api_route(c, req);
}

static int
proxy_on_body(struct hconn *hc, const char *data, size_t len)
{
	struct conn *c = proxy_conn(hc);

	return c->api != NULL ? api_body(c, data, len) : 0;
}

/* The request has been read whole: answer it, or let proxy_api serve it. */
static void
proxy_on_request(struct hconn *hc)
{
	struct conn *c = proxy_conn(hc);

	if (c->api != NULL) {
		api_start(c);
		return;
	}
	conn_respond(c, c->answer_status, c->answer_body);
	hconn_resume(hc);
}

static void
proxy_on_answered(struct hconn *hc, int status, size_t bytes)
{
	conn_answered(proxy_conn(hc), status, bytes);
}

static void
proxy_on_closing(struct hconn *hc)
{
	struct conn *c = proxy_conn(hc);

	if (c->api != NULL)
		api_abort(c);
	free(c->log);
}

static void
proxy_on_closed(struct hserver *s)
{
	proxy_check_drained(s->owner);
}

static const struct hserver_ops proxy_conn_ops = {
	.head = proxy_on_head,
	.body = proxy_on_body,
	.request = proxy_on_request,
	.answered = proxy_on_answered,
	.closing = proxy_on_closing,
	.closed = proxy_on_closed,
};

/* The role */

static int
proxy_start(struct worker *w)
{
	struct proxy *p = &proxy;
	const struct conf *conf = w->conf;
	struct hserver_limits lim = {
		.conn_size = sizeof(struct conn),
		.max_header = (size_t)conf->proxy.max_header,
		.max_body = (uint64_t)conf->proxy.max_body,
		.max_connections = (size_t)conf->proxy.max_connections,
		.idle_timeout_ms = (uint64_t)conf->proxy.idle_timeout_ms,
		.header_timeout_ms = (uint64_t)conf->proxy.header_timeout_ms,
		.body_timeout_ms = (uint64_t)conf->proxy.body_timeout_ms,
	};

	p->w = w;
	p->conf = conf;
	proxy_metrics_init();
	if (hserver_init(&p->srv, w->loop, w->listen_fd, &proxy_conn_ops, &lim,
	    p) == -1 || api_init(p) == -1 ||
	    access_log_open(conf->log.access_log,
	    conf->log.format == LOG_FORMAT_JSON) == -1)
		return -1;
	/* A request for an account not in memory needs Redis. */
	worker_accept_gate(w, &p->srv, 1);
	return 0;
}

static void
proxy_redis_state(struct worker *w, int up)
{
	if (up)
		worker_accept_gate(w, &proxy.srv, 0);
	api_redis_state(up);
}

/* Stop accepting (the supervisor keeps the socket, so queued connections
 * wait for the next worker of this slot); close connections once their
 * next request is answered. */
static void
proxy_drain(struct worker *w)
{
	(void)w;
	hserver_drain(&proxy.srv);
	proxy_check_drained(&proxy);
}

static void
proxy_cleanup(struct worker *w)
{
	(void)w;
	hserver_close_all(&proxy.srv);
	api_shutdown();
	access_log_close();
}

static void
proxy_reopen(struct worker *w)
{
	(void)w;
	access_log_reopen();
}

static const struct worker_role_ops proxy_ops = {
	.start = proxy_start,
	.drain = proxy_drain,
	.redis_state = proxy_redis_state,
	.reopen = proxy_reopen,
	.cleanup = proxy_cleanup,
};

int
proxy_main(struct worker *w)
{
	return worker_run(w, &proxy_ops);
}
