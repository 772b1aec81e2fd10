/*
 * proxy_api: what each request on a proxy worker gets (SPEC §3, §4).
 *
 * Static answers (healthCheck, test, 404) are decided from the head alone.
 * The listener API (create_user_listener, remove_user_listener) is served
 * here: bearer auth (constant time, several tokens), the JSON payload
 * (workers/proxy/payload.c), the account's placement (a per-worker cache in front
 * of the Lua scripts of workers/proxy/placement.c, kept coherent with Redis by
 * workers/proxy/proxy_routing.c), then the call is forwarded byte for
 * byte to the instance (workers/proxy/upstream.c) and its answer relayed as it
 * came.  A remove's 2xx frees the place on the instance that answered
 * before the client hears it, and even if the client has gone.
 *
 * A request that needs Redis while it is unreachable waits on a list (at
 * most API_WAIT_MAX, for proxy.redis_wait_ms) and is sent when Redis is
 * back, else answered 503 "Placement store unavailable".
 */
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/bearer.h"
#include "common/conf.h"
#include "common/events.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/metrics.h"
#include "workers/proxy/payload.h"
#include "workers/proxy/pcache.h"
#include "workers/proxy/placement.h"
#include "common/util.h"
#include "workers/proxy/proxy.h"
#include "workers/proxy/upstream.h"
#include "workers/worker.h"

#define API_PREFIX		"/api/v1/listener"
#define API_REQUEST_ID_MAX	64
#define API_RETRY_AFTER		"5"	/* seconds, with 503 */
#define API_EXHAUSTED_MS	1000	/* least time between capacity events */
#define API_TRACKING_MS		100	/* tracking flush period */
#define API_TRACKING_BATCH	64	/* masters per flush call at most */
#define API_TRACKING_CALLS	8	/* flush calls per period at most */
#define API_TRACKING_MS_PER_KIB	50	/* an array of n KiB: written at most
					   every 50 n ms */
#define API_SPARE_MAX		256	/* finished requests kept for reuse */
#define API_SPARE_BUF_MAX	16384	/* larger buffers are not kept */
#define API_SUSPECTS		16	/* instances reported lately, per worker */
#define API_SUSPECT_EVERY_MS	1000	/* least time between two reports of one */
#define API_WAIT_MAX		4096	/* requests waiting for Redis */
#define API_UNAVAILABLE_BODY	"{\"status\":false,\"message\":" \
	"\"Placement store unavailable, retry later\"}"

enum api_route {
	API_CREATE,
	API_REMOVE,
};

enum api_result {
	API_PLACED,
	API_CACHED,
	API_NO_CAPACITY,
	API_UNAVAILABLE,
	API_RESULTS
};

/* One listener request, owned by its connection (c->api) while it has one;
 * a remove whose client went away is owned by itself (api.detached counts
 * it) until its release is written. */
struct api_request {
	enum api_route		 route;
	struct conn		*conn;		/* NULL: the client went away */
	char			*head;		/* owned: forwarded request line + headers */
	size_t			 head_len, head_cap;
	char			*body;		/* owned: the body as received, then
						   a remove's answer to relay */
	size_t			 body_len, body_cap;
	char			 request_id[API_REQUEST_ID_MAX + 1];
	struct payload		 payload;
	struct placement	 where;
	int			 no_host;	/* the client sent no Host (HTTP/1.0):
						   api_forward names the instance */
	struct upstream		*upstream;	/* in flight */
	int			 placing;	/* a script call in flight */
	int			 releasing;	/* a remove's release: answer held in
						   body until it is written */
	int			 answer_status;	/* of the held answer */
	int			 waiting;	/* on api.waiting (Redis away) */
	uint64_t		 wait_until;	/* monotonic ms, from the first wait */
	TAILQ_ENTRY(api_request) wait_entry;
	struct routing_waiter	 seen;		/* a release waits until its routing
						   message was applied here */
	int			 detached;	/* on api.detached_list */
	TAILQ_ENTRY(api_request) detached_entry;
	struct api_request	*next_spare;	/* on api.spare */
};

TAILQ_HEAD(api_request_list, api_request);

static struct {
	struct proxy		*proxy;
	const struct conf	*conf;
	struct bearer		 tokens;	/* proxy.auth_tokens */


	/* Requests waiting for Redis, oldest (first deadline) first; releases
	 * whose client was answered have no deadline. */
	struct api_request_list	 waiting;
	size_t			 nwaiting;
	struct ev_timer		 wait_timer;
	uint64_t		 wait_armed;	/* its deadline, 0: stopped */
	struct api_request_list	 detached_list;	/* requests without a client
						   that still have work */
	size_t			 detached;
	int			 closed;	/* api_shutdown ran */
	/* Instances this worker reported as suspect lately, at most one
	 * report a second each (a dead instance under load fails every
	 * request it gets). */
	struct {
		char		 id[PLACEMENT_ID_MAX];
		uint64_t	 at;		/* mono ms */
	}			 suspects[API_SUSPECTS];

	struct ev_timer		 tracking_timer;
	int			 tracking_busy;	/* a flush is in flight */
	int			 tracking_left;	/* flush calls left this tick */
	struct pcache		*cache;
	struct api_request	*spare;		/* finished requests kept for reuse */
	size_t			 nspare;
	uint64_t		 rid_state[2];

	/* By placement role (PLACEMENT_MASTER, PLACEMENT_CLIENT). */
	struct metric		*placements[2][API_RESULTS];
	struct metric		*connect_failures[2], *timeouts[2];
} api;

/* Results of a create's placement, as olb_placements_total counts them. */
static const char *const api_result_names[API_RESULTS] = {
	"placed", "cached", "no_capacity", "unavailable",
};

static void
api_metrics_init(void)
{
	static const char *const roles[2] = { "master", "client" };

	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < API_RESULTS; k++)
			api.placements[i][k] = metric_counter("olb_placements_total",
			    "role=\"%s\",result=\"%s\"", roles[i],
			    api_result_names[k]);
		api.connect_failures[i] = metric_counter(
		    "olb_upstream_connect_failures_total", "role=\"%s\"", roles[i]);
		api.timeouts[i] = metric_counter("olb_upstream_timeouts_total",
		    "role=\"%s\"", roles[i]);
	}
}

/* Count the outcome of r's placement (creates only). */
static void
api_count_placement(const struct api_request *r, enum api_result result)
{
	if (r->route == API_CREATE && !r->releasing)
		metric_add(api.placements[r->payload.is_master ? 0 : 1][result], 1);
}

/* Done with r: keep it for the next request (its buffers too, unless they
 * grew large), up to API_SPARE_MAX spare requests per worker. */
static void
api_request_free(struct api_request *r)
{
	if (api.nspare == API_SPARE_MAX || api.closed) {
		free(r->head);
		free(r->body);
		free(r);
		return;
	}
	if (r->head_cap > API_SPARE_BUF_MAX) {
		free(r->head);
		r->head = NULL;
		r->head_cap = 0;
	}
	if (r->body_cap > API_SPARE_BUF_MAX) {
		free(r->body);
		r->body = NULL;
		r->body_cap = 0;
	}
	r->next_spare = api.spare;
	api.spare = r;
	api.nspare++;
}

/* A clean request, its buffers empty (kept from a spare when there is one),
 * or NULL. */
static struct api_request *
api_request_new(void)
{
	struct api_request *r = api.spare;
	char *head, *body;
	size_t head_cap, body_cap;

	if (r == NULL)
		return calloc(1, sizeof(*r));
	api.spare = r->next_spare;
	api.nspare--;
	head = r->head;
	head_cap = r->head_cap;
	body = r->body;
	body_cap = r->body_cap;
	memset(r, 0, sizeof(*r));
	r->head = head;
	r->head_cap = head_cap;
	r->body = body;
	r->body_cap = body_cap;
	return r;
}

static void
api_spare_free(void)
{
	while (api.spare != NULL) {
		struct api_request *r = api.spare;

		api.spare = r->next_spare;
		free(r->head);
		free(r->body);
		free(r);
	}
	api.nspare = 0;
}

static void	api_tracking_flush(void);

/* A flush answered: 1 means entries are left. */
static void
api_on_tracking_flushed(enum placement_status status,
    const struct placement *where, void *arg)
{
	(void)arg;
	api.tracking_busy = 0;
	if (status == PLACEMENT_OK && where->found == 1)
		api_tracking_flush();
}

/* Apply the pending tracking changes of the next masters due, unless this
 * tick's share is used up (changes come all the time under load: the share
 * keeps the flushes from running back to back). */
static void
api_tracking_flush(void)
{
	if (api.tracking_busy || api.tracking_left == 0 ||
	    !rconn_is_up(api.proxy->w->redis))
		return;
	api.tracking_left--;
	if (placement_flush_tracking(api.proxy->w->redis, API_TRACKING_BATCH,
	    API_TRACKING_MS_PER_KIB, api_on_tracking_flushed, NULL) == 0)
		api.tracking_busy = 1;
}

/* Every API_TRACKING_MS, apply the pending tracking changes to the tracking
 * arrays (the placement scripts only queue them: see common/lua/prelude.lua).
 * Every proxy worker does it; each call takes the masters due first. */
static void
api_on_tracking_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)arg;
	ev_timer_start(loop, t, API_TRACKING_MS, api_on_tracking_timer, NULL);
	api.tracking_left = API_TRACKING_CALLS;
	api_tracking_flush();
}

int
api_init(struct proxy *p)
{
	const struct conf *conf = p->conf;
	struct upstream_settings us;

	api.proxy = p;
	api.conf = conf;
	api_metrics_init();
	placement_set_wait((int)conf->redis.wait_replicas,
	    (int)conf->redis.wait_timeout_ms);
	api.cache = pcache_new((size_t)conf->proxy.placement_cache);
	if (api.cache == NULL || bearer_init(&api.tokens, conf->proxy.auth_tokens.v,
	    conf->proxy.auth_tokens.n) == -1)
		return -1;
	if (getrandom(api.rid_state, sizeof(api.rid_state), 0) != sizeof(api.rid_state))
		api.rid_state[0] = util_mono_ms() ^ (uint64_t)getpid();
	us.connect_timeout_ms = (uint64_t)conf->proxy.connect_timeout_ms;
	us.response_timeout_ms = (uint64_t)conf->proxy.upstream_timeout_ms;
	us.max_idle_per_address = 256;
	upstream_init(p->w->loop, &us);
	TAILQ_INIT(&api.waiting);
	TAILQ_INIT(&api.detached_list);
	if (routing_init(p, api.cache) == -1)
		return -1;
	ev_timer_start(p->w->loop, &api.tracking_timer, API_TRACKING_MS,
	    api_on_tracking_timer, NULL);
	return 0;
}

static void	api_wait_drop_all(void);

void
api_shutdown(void)
{
	api.closed = 1;
	api_wait_drop_all();
	upstream_shutdown();
	placement_drop(api.proxy->w->redis);
	ev_timer_stop(api.proxy->w->loop, &api.tracking_timer);
	ev_timer_stop(api.proxy->w->loop, &api.wait_timer);
	routing_shutdown();
	pcache_free(api.cache);
	api.cache = NULL;
	api_spare_free();
	bearer_free(&api.tokens);
}

/* 1 if header h must not be forwarded: hop-by-hop, or named by Connection. */
static int
api_header_dropped(const struct http_header *headers, size_t n,
    const struct http_header *h)
{
	char name[128];

	if (http_header_is_hop_by_hop(h->name, h->name_len))
		return 1;
	if (h->name_len >= sizeof(name))
		return 0;
	memcpy(name, h->name, h->name_len);
	name[h->name_len] = '\0';
	return http_connection_has(headers, n, name);
}

/* Append to a growing buffer.  0 or -1. */
static int
api_buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
	if (*len + n > *cap) {
		size_t ncap = *cap ? *cap : 512;
		char *nbuf;

		while (ncap < *len + n)
			ncap *= 2;
		if ((nbuf = realloc(*buf, ncap)) == NULL)
			return -1;
		*buf = nbuf;
		*cap = ncap;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	return 0;
}

static int
api_head_add(struct api_request *r, const char *data, size_t n)
{
	return api_buf_append(&r->head, &r->head_len, &r->head_cap, data, n);
}

/* v as 16 lowercase hex digits at out[0..16) (no NUL): without printf,
 * which cost more than the rest of the request id. */
static void
api_hex64(uint64_t v, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = digits[v & 15];
}

/* A request id: the client's X-Request-Id when it is sane, else 32 new hex
 * digits (xorshift128+, seeded from getrandom). */
static void
api_request_id(const struct http_request *req, char *out)
{
	const struct http_header *h = req->request_id;
	uint64_t s1 = api.rid_state[0], s0 = api.rid_state[1], a, b;

	if (h != NULL && h->value_len > 0 && h->value_len <= API_REQUEST_ID_MAX) {
		size_t i;

		for (i = 0; i < h->value_len; i++)
			if (h->value[i] <= ' ' || h->value[i] > '~' || h->value[i] == '"')
				break;
		if (i == h->value_len) {
			memcpy(out, h->value, h->value_len);
			out[h->value_len] = '\0';
			return;
		}
	}
	s1 ^= s1 << 23;
	a = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	api.rid_state[0] = s0;
	api.rid_state[1] = a;
	b = a + s0;
	api_hex64(b, out);
	api_hex64(b * 0x9e3779b97f4a7c15ULL, out + 16);
	out[32] = '\0';
}

#define API_FORWARDED_MIDDLE	"\r\nX-Forwarded-Proto: http\r\nX-Request-Id: "

/* Build the forwarded head: request line, the client's end-to-end headers,
 * X-Forwarded-For/-Proto and X-Request-Id.  Content-Length comes later. */
static int
api_build_head(struct api_request *r, const struct http_request *req, const char *peer)
{
	const char *xff = NULL;
	size_t xff_len = 0;

	r->no_host = req->host == NULL;
	if (api_head_add(r, req->method_str, req->method_len) == -1 ||
	    api_head_add(r, " ", 1) == -1 ||
	    api_head_add(r, req->target, req->target_len) == -1 ||
	    api_head_add(r, " HTTP/1.1\r\n", 11) == -1)
		return -1;
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];

		if (api_header_dropped(req->headers, req->nheaders, h) ||
		    (h->name_len == 12 && strncasecmp(h->name, "X-Request-Id", 12) == 0) ||
		    (h->name_len == 17 && strncasecmp(h->name, "X-Forwarded-Proto", 17) == 0))
			continue;
		if (h->name_len == 15 && strncasecmp(h->name, "X-Forwarded-For", 15) == 0) {
			xff = h->value;
			xff_len = h->value_len;
			continue;
		}
		if (api_head_add(r, h->name, h->name_len) == -1 ||
		    api_head_add(r, ": ", 2) == -1 ||
		    api_head_add(r, h->value, h->value_len) == -1 ||
		    api_head_add(r, "\r\n", 2) == -1)
			return -1;
	}
	if (api_head_add(r, "X-Forwarded-For: ", 17) == -1 ||
	    (xff != NULL && (api_head_add(r, xff, xff_len) == -1 ||
	    api_head_add(r, ", ", 2) == -1)) ||
	    api_head_add(r, peer, strlen(peer)) == -1 ||
	    api_head_add(r, API_FORWARDED_MIDDLE, sizeof(API_FORWARDED_MIDDLE) - 1) == -1 ||
	    api_head_add(r, r->request_id, strlen(r->request_id)) == -1)
		return -1;
	return api_head_add(r, "\r\n", 2);
}

static int
api_content_type_json(const struct http_request *req)
{
	const struct http_header *h = req->content_type;

	return h != NULL && h->value_len >= 16 &&
	    strncasecmp(h->value, "application/json", 16) == 0 &&
	    (h->value_len == 16 || h->value[16] == ';' || h->value[16] == ' ');
}

/* A listener route: auth, then collect the request for api_start. */
static void
api_route_listener(struct conn *c, const struct http_request *req)
{
	static const char create[] = API_PREFIX "/create_user_listener";
	static const char remove_[] = API_PREFIX "/remove_user_listener";
	struct api_request *r;
	int status, route = -1;

	if (req->path_len == sizeof(create) - 1 && memcmp(req->path, create, req->path_len) == 0)
		route = API_CREATE;
	else if (req->path_len == sizeof(remove_) - 1 &&
	    memcmp(req->path, remove_, req->path_len) == 0)
		route = API_REMOVE;
	if (route != -1)
		c->route = route == API_CREATE ? ROUTE_CREATE : ROUTE_REMOVE;
	if ((status = bearer_check(&api.tokens, req->authorization)) != 0) {
		hconn_error(&c->hc, status);
		return;
	}
	c->answer_status = 404;
	c->answer_body = "{\"status\":false,\"message\":\"Path not found\"}";
	if (req->method != HTTP_POST || route == -1)
		return;
	if (!api_content_type_json(req)) {
		hconn_error(&c->hc, 415);
		return;
	}
	if ((r = api_request_new()) == NULL) {
		hconn_error(&c->hc, 503);
		return;
	}
	r->route = (enum api_route)route;
	r->conn = c;
	api_request_id(req, r->request_id);
	if (c->log != NULL)
		snprintf(c->log->request_id, sizeof(c->log->request_id), "%s",
		    r->request_id);
	if (api_build_head(r, req, c->hc.peer) == -1) {
		api_request_free(r);
		hconn_error(&c->hc, 503);
		return;
	}
	c->api = r;
}

void
api_route(struct conn *c, const struct http_request *req)
{
	static const char health[] = "/api/v1/healthCheck";
	size_t hl = sizeof(health) - 1, pl = sizeof(API_PREFIX) - 1;

	if (req->path_len >= hl && memcmp(req->path, health, hl) == 0 &&
	    (req->path_len == hl || req->path[hl] == '/')) {
		c->route = ROUTE_HEALTH;
		c->answer_status = 200;
		c->answer_body = "{\"status\":true,\"message\":\"Health is OK\"}";
	} else if ((req->method == HTTP_GET || req->method == HTTP_HEAD) &&
	    req->path_len == 12 && memcmp(req->path, "/api/v1/test", 12) == 0) {
		c->route = ROUTE_TEST;
		c->answer_status = 200;
		c->answer_body = "{\"status\":true,\"message\":\"success\"}";
	} else if (req->path_len >= pl && memcmp(req->path, API_PREFIX, pl) == 0 &&
	    (req->path_len == pl || req->path[pl] == '/')) {
		api_route_listener(c, req);
	} else {
		c->answer_status = 404;
		c->answer_body = "{\"status\":false,\"message\":\"Path not found\"}";
	}
}

int
api_body(struct conn *c, const char *data, size_t len)
{
	struct api_request *r = c->api;

	if (api_buf_append(&r->body, &r->body_len, &r->body_cap, data, len) == -1) {
		hconn_error(&c->hc, 503);
		return -1;
	}
	return 0;
}

/* Done with r.  A detached request was the last thing a draining worker
 * may have waited for. */
static void
api_done(struct api_request *r)
{
	int detached = r->detached;

	routing_wait_cancel(&r->seen);
	if (detached) {
		TAILQ_REMOVE(&api.detached_list, r, detached_entry);
		api.detached--;
	}
	api_request_free(r);
	if (detached && !api.closed)
		proxy_check_drained(api.proxy);
}

/* r has no client any more but work to finish (a remove's release); it now
 * owns itself. */
static void
api_detach(struct api_request *r)
{
	if (r->conn != NULL)
		r->conn->api = NULL;
	r->conn = NULL;
	if (!r->detached) {
		r->detached = 1;
		TAILQ_INSERT_TAIL(&api.detached_list, r, detached_entry);
		api.detached++;
	}
}

int
api_idle(void)
{
	return api.detached == 0;
}

static void	api_wait_unlink(struct api_request *r);
static void	api_detach_answered(struct api_request *r);

void
api_abort(struct conn *c)
{
	struct api_request *r = c->api;

	/* A remove that may reach (or has reached) the instance: its release
	 * must still follow a 2xx. */
	if (r->route == API_REMOVE && (r->upstream != NULL || r->releasing)) {
		api_detach(r);
		return;
	}
	r->conn = NULL;
	c->api = NULL;
	if (r->upstream != NULL) {
		upstream_cancel(r->upstream);
		r->upstream = NULL;
	}
	if (r->waiting)
		api_wait_unlink(r);
	if (!r->placing)
		api_request_free(r);
	/* else freed by the placement callback, which sees conn == NULL */
}

/* Append answer bytes: to the client's output, or, for an answer held until
 * a remove's release is written (hold), to r->body (the request body is no
 * longer needed).  0 or -1 (out of memory). */
static int
api_answer_add(struct api_request *r, int hold, const char *data, size_t n)
{
	if (hold)
		return api_buf_append(&r->body, &r->body_len, &r->body_cap, data, n);
	return hconn_out_append(&r->conn->hc, data, n);
}

/* The longest status line api_relay writes: a status of 3 digits
 * (http.h), a reason cut at 100 bytes; or its request id's field. */
#define API_LINE_MAX	160
_Static_assert(9 + 3 + 1 + 100 + 2 <= API_LINE_MAX &&
    14 + API_REQUEST_ID_MAX + 2 <= API_LINE_MAX &&
    HCONN_FRAMING_MAX <= API_LINE_MAX, "API_LINE_MAX");

/* The status line of res at line[API_LINE_MAX]: its length. */
static size_t
api_status_line(const struct http_response *res, char *line)
{
	size_t reason = res->reason_len > 100 ? 100 : res->reason_len, n;

	memcpy(line, "HTTP/1.1 ", 9);
	n = 9 + util_decimal((uint64_t)res->status, line + 9);	/* 3 digits */
	line[n++] = ' ';
	memcpy(line + n, res->reason, reason);
	n += reason;
	memcpy(line + n, "\r\n", 2);
	return n + 2;
}

/* The X-Request-Id field of request_id at line[API_LINE_MAX]: its length. */
static size_t
api_request_id_field(const char *request_id, char *line)
{
	size_t rid = strlen(request_id);	/* at most API_REQUEST_ID_MAX */

	memcpy(line, "X-Request-Id: ", 14);
	memcpy(line + 14, request_id, rid);
	memcpy(line + 14 + rid, "\r\n", 2);
	return 16 + rid;
}

/* Relay the instance's answer: its status line and end-to-end headers as
 * they came, the body with our own framing; straight to the client, or held
 * in r->body for api_send_held.  0 or -1 (out of memory; a held answer is
 * then incomplete, a direct one as complete as memory allowed). */
static int
api_relay(struct api_request *r, int hold, const struct http_response *res,
    const char *body, size_t body_len)
{
	struct conn *c = r->conn;
	size_t start = c->hc.out_len;
	char line[API_LINE_MAX];
	int has_rid = 0, rv = 0;

	r->body_len = 0;
	r->answer_status = res->status;
	rv |= api_answer_add(r, hold, line, api_status_line(res, line));
	for (size_t i = 0; i < res->nheaders; i++) {
		const struct http_header *h = &res->headers[i];

		if (api_header_dropped(res->headers, res->nheaders, h))
			continue;
		if (h->name_len == 12 && strncasecmp(h->name, "X-Request-Id", 12) == 0)
			has_rid = 1;
		rv |= api_answer_add(r, hold, h->name, h->name_len);
		rv |= api_answer_add(r, hold, ": ", 2);
		rv |= api_answer_add(r, hold, h->value, h->value_len);
		rv |= api_answer_add(r, hold, "\r\n", 2);
	}
	if (!has_rid)
		rv |= api_answer_add(r, hold, line,
		    api_request_id_field(r->request_id, line));
	/* the body's length, except where none can follow: a 204 must not
	 * carry one, and a 304's would describe the representation, not
	 * this empty body (RFC 9110 §8.6) */
	rv |= api_answer_add(r, hold, line,
	    hconn_framing(&c->hc, body_len, res->no_body, line));
	if (!c->hc.head_only)
		rv |= api_answer_add(r, hold, body, body_len);
	if (!hold)
		conn_answered(c, res->status, c->hc.out_len - start);
	return rv;
}

/* Send the answer held in r->body to r's client; r keeps no client. */
static void
api_send_held(struct api_request *r)
{
	struct conn *c = r->conn;

	c->api = NULL;
	r->conn = NULL;
	hconn_out_append(&c->hc, r->body, r->body_len);
	conn_answered(c, r->answer_status, r->body_len);
	hconn_resume(&c->hc);
}

/* Answer an api request with a JSON error (502, 503, 504...) and go on. */
static void
api_fail(struct api_request *r, int status)
{
	struct conn *c = r->conn;
	char body[160];

	c->api = NULL;
	api_request_free(r);
	snprintf(body, sizeof(body), "{\"status\":false,\"message\":\"%s\"}",
	    http_error_message(status));
	conn_respond_with(c, status, status == 503 ?
	    "Retry-After: " API_RETRY_AFTER "\r\n" : "", body);
	hconn_resume(&c->hc);
}

/* Redis stayed away for the whole wait: 503 with a message of its own (not
 * "No instance available", which means the fleet is full). */
static void
api_fail_unavailable(struct api_request *r)
{
	struct conn *c = r->conn;

	c->api = NULL;
	api_request_free(r);
	conn_respond_with(c, 503, "Retry-After: " API_RETRY_AFTER "\r\n",
	    API_UNAVAILABLE_BODY);
	hconn_resume(&c->hc);
}

static void	api_forward(struct api_request *r);
static void	api_submit(struct api_request *r);

static enum placement_role
api_role(const struct payload *p)
{
	return p->is_master ? PLACEMENT_MASTER : PLACEMENT_CLIENT;
}

/*
 * Waiting for Redis.  A request whose script call could not be sent, or
 * whose connection was lost before the answer (every script here may run
 * again: placements and locate are idempotent, a release is a compare and
 * delete), waits on api.waiting until Redis is back (api_redis_state), for
 * at most proxy.redis_wait_ms from its first wait, and the connection is
 * hurried meanwhile (rconn_hurry).  Then a placement gets
 * api_fail_unavailable; a remove's release sends the instance's answer to
 * its client and goes on waiting, without a deadline, detached.
 */

static void
api_wait_unlink(struct api_request *r)
{
	TAILQ_REMOVE(&api.waiting, r, wait_entry);
	api.nwaiting--;
	r->waiting = 0;
}

static void	api_on_wait_timer(struct ev_loop *loop, struct ev_timer *t,
    void *arg);

/* Arm the timer for deadline (monotonic ms; 0: stop it) unless it is armed
 * for an earlier one already. */
static void
api_wait_arm_for(uint64_t deadline)
{
	uint64_t now = util_mono_ms();

	if (deadline == 0) {
		ev_timer_stop(api.proxy->w->loop, &api.wait_timer);
		api.wait_armed = 0;
	} else if (api.wait_armed == 0 || deadline < api.wait_armed) {
		api.wait_armed = deadline;
		ev_timer_start(api.proxy->w->loop, &api.wait_timer,
		    deadline > now ? deadline - now : 0, api_on_wait_timer, NULL);
	}
}

/* Arm the timer for the first deadline on the list, if any: one scan, on
 * the timer and when Redis is back, not per request. */
static void
api_wait_arm(void)
{
	uint64_t first = 0;
	struct api_request *r;

	TAILQ_FOREACH(r, &api.waiting, wait_entry)
		if (r->conn != NULL && (first == 0 || r->wait_until < first))
			first = r->wait_until;
	api_wait_arm_for(0);
	api_wait_arm_for(first);
}

static void	api_wait(struct api_request *r);

/* r's wait is over (deadline, or no room on the list); r is not on it. */
static void
api_wait_expired(struct api_request *r)
{
	if (!r->releasing) {
		api_count_placement(r, API_UNAVAILABLE);
		if (r->conn != NULL)
			api_fail_unavailable(r);
		else
			api_done(r);
		return;
	}
	if (r->conn != NULL) {
		log_warn("release of %s on %s waits for Redis; answering the "
		    "client meanwhile", r->payload.actid, r->where.id);
		api_detach_answered(r);
		if (api.nwaiting < API_WAIT_MAX) {
			api_wait(r);
			return;
		}
	}
	log_error("release of %s on %s lost: %zu requests already wait for "
	    "Redis; olbctl check lists the account", r->payload.actid,
	    r->where.id, api.nwaiting);
	api_done(r);
}

/* Put r on the wait list (see above). */
static void
api_wait(struct api_request *r)
{
	uint64_t now = util_mono_ms();

	if (r->conn != NULL && r->wait_until == 0)
		r->wait_until = now + (uint64_t)api.conf->proxy.redis_wait_ms;
	if ((r->conn != NULL && now >= r->wait_until) ||
	    api.nwaiting >= API_WAIT_MAX) {
		api_wait_expired(r);
		return;
	}
	r->waiting = 1;
	TAILQ_INSERT_TAIL(&api.waiting, r, wait_entry);
	api.nwaiting++;
	if (r->conn != NULL) {
		api_wait_arm_for(r->wait_until);
		/* a client waits: the backoff must not outlast the outage */
		rconn_hurry(api.proxy->w->redis, r->wait_until - now);
	}
}

static void
api_on_wait_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	uint64_t now = util_mono_ms();
	struct api_request *r, *next;

	(void)loop;
	(void)t;
	(void)arg;
	api.wait_armed = 0;
	for (r = TAILQ_FIRST(&api.waiting); r != NULL; r = next) {
		next = TAILQ_NEXT(r, wait_entry);
		if (r->conn == NULL || r->wait_until > now)
			continue;
		api_wait_unlink(r);
		api_wait_expired(r);
	}
	api_wait_arm();
}

/* Redis is back: send every waiting call again, in order. */
static void
api_wait_resume(void)
{
	struct api_request_list todo = TAILQ_HEAD_INITIALIZER(todo);
	struct api_request *r;

	TAILQ_CONCAT(&todo, &api.waiting, wait_entry);
	api.nwaiting = 0;
	while ((r = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, r, wait_entry);
		r->waiting = 0;
		api_submit(r);
	}
	api_wait_arm();
}

/* Worker exit: what still waits is answered by nobody; releases are lost
 * (and said so). */
static void
api_wait_drop_all(void)
{
	struct api_request *r, *next;

	while ((r = TAILQ_FIRST(&api.waiting)) != NULL) {
		api_wait_unlink(r);
		if (r->releasing)
			log_error("release of %s on %s lost: the worker stops "
			    "while Redis is unreachable", r->payload.actid,
			    r->where.id);
		if (r->conn != NULL)
			r->conn->api = NULL;
		r->conn = NULL;
		api_done(r);
	}
	for (r = TAILQ_FIRST(&api.detached_list); r != NULL; r = next) {
		next = TAILQ_NEXT(r, detached_entry);
		if (r->upstream != NULL) {
			upstream_cancel(r->upstream);
			r->upstream = NULL;
		}
		if (!r->placing)
			api_done(r);
		/* else freed by its callback when the connection is freed */
	}
}

void
api_redis_state(int up)
{
	if (!up)
		return;
	routing_redis_up();
	api_wait_resume();
}

/* A remove's answer is held until its release is written; the client gets
 * it now, and the release goes on without it. */
static void
api_detach_answered(struct api_request *r)
{
	api_send_held(r);
	api_detach(r);
}

/* The release is written and every worker of this host has its routing
 * message (placement_release, routing_wait): the client, if still there,
 * gets the instance's answer now. */
static void
api_release_done(void *arg)
{
	struct api_request *r = arg;

	if (r->conn != NULL)
		api_send_held(r);
	api_done(r);
}

/* The release after a remove's 2xx was written (or failed for good).  Its
 * answer waits until this worker has applied the release's routing
 * message, so no other worker still caches the account when the client
 * calls again (see routing_wait). */
static void
api_on_released(enum placement_status status, const struct placement *where,
    void *arg)
{
	struct api_request *r = arg;

	r->placing = 0;
	if (status == PLACEMENT_UNAVAILABLE && !api.closed) {
		api_wait(r);
		return;
	}
	if (status != PLACEMENT_OK)
		log_warn("release of %s on %s failed; olbctl check lists it",
		    r->payload.actid, r->where.id);
	else if (!where->found)
		log_debug("release of %s on %s: placed elsewhere meanwhile, kept",
		    r->payload.actid, r->where.id);
	else if (!api.closed &&
	    routing_wait(&r->seen, where->seq, api_release_done, r))
		return;
	api_release_done(r);
}

/* An instance could not be reached, or did not answer in time: tell the
 * health worker, which probes it at once and quickly until it decides (a
 * passive health signal).  At most once a second per instance and worker. */
static void
api_suspect(const char *id, const char *why)
{
	uint64_t now = util_mono_ms();
	size_t slot = 0;
	json_object *f;

	for (size_t i = 0; i < API_SUSPECTS; i++) {
		if (strcmp(api.suspects[i].id, id) == 0) {
			if (now - api.suspects[i].at < API_SUSPECT_EVERY_MS)
				return;
			slot = i;
			break;
		}
		if (api.suspects[i].at < api.suspects[slot].at)
			slot = i;
	}
	snprintf(api.suspects[slot].id, sizeof(api.suspects[slot].id), "%s", id);
	api.suspects[slot].at = now;
	f = json_object_new_object();
	json_object_object_add(f, "id", json_object_new_string(id));
	json_object_object_add(f, "reason", json_object_new_string(why));
	event_publish(EVENT_INFO, "instance.suspect", f);
}

/* The instance answered (or failed).  A 2xx to remove_user_listener frees
 * the account's place on that instance before the client is answered; an
 * instance that is gone from the registry is released by the locate script
 * before any call is made. */
static void
api_on_answer(void *arg, int status, const struct http_response *res,
    const char *head, const char *body, size_t body_len)
{
	struct api_request *r = arg;

	(void)head;	/* relayed field by field from res */
	r->upstream = NULL;
	if (status == UPSTREAM_UNREACHABLE || status == 504) {
		metric_add(status == 504 ? api.timeouts[r->payload.is_master ? 0 : 1] :
		    api.connect_failures[r->payload.is_master ? 0 : 1], 1);
		api_suspect(r->where.id, status == 504 ? "timeout" :
		    "unreachable");
	}
	if (status == UPSTREAM_UNREACHABLE)
		status = 502;
	if (status == 502)
		pcache_drop(api.cache, r->payload.actid, r->payload.is_master);
	if (r->route == API_REMOVE && status == 0 && res->status >= 200 &&
	    res->status < 300) {
		pcache_drop(api.cache, r->payload.actid, r->payload.is_master);
		if (r->conn != NULL && api_relay(r, 1, res, body, body_len) == -1) {
			struct conn *c = r->conn;

			log_warn("out of memory: answering 503 to a remove that "
			    "succeeded; its release follows");
			api_detach(r);
			hconn_error(&c->hc, 503);
			hconn_resume(&c->hc);
		}
		r->releasing = 1;
		r->wait_until = 0;	/* the release's own wait, if any */
		api_submit(r);
		return;
	}
	if (r->conn == NULL)
		api_done(r);
	else if (status != 0)
		api_fail(r, status);
	else {
		struct conn *c = r->conn;

		c->api = NULL;
		(void)api_relay(r, 0, res, body, body_len);
		api_request_free(r);
		hconn_resume(&c->hc);
	}
}

/* A Host field naming r's instance, at the end of r's head.  0 or -1. */
static int
api_forward_host(struct api_request *r)
{
	char port[UTIL_DECIMAL_MAX];

	return api_head_add(r, "Host: ", 6) == -1 ||
	    api_head_add(r, r->where.ip, strlen(r->where.ip)) == -1 ||
	    api_head_add(r, ":", 1) == -1 ||
	    api_head_add(r, port, util_decimal(r->where.port, port)) == -1 ||
	    api_head_add(r, "\r\n", 2) == -1 ? -1 : 0;
}

/* Send the request to the placed instance: the head built at routing time,
 * Content-Length and the body, appended to the head buffer, which the
 * upstream borrows until it calls back or is cancelled (one buffer per
 * request, no second copy). */
static void
api_forward(struct api_request *r)
{
	char line[16 + UTIL_DECIMAL_MAX + 4] = "Content-Length: ";
	size_t n = 16;

	n += util_decimal(r->body_len, line + n);
	memcpy(line + n, "\r\n\r\n", 4);
	/* The head says HTTP/1.1, which needs a Host (RFC 9112 §3.2): an
	 * HTTP/1.0 client may have sent none. */
	if ((r->no_host && api_forward_host(r) == -1) ||
	    api_head_add(r, line, n + 4) == -1 ||
	    api_head_add(r, r->body, r->body_len) == -1) {
		api_fail(r, 503);
		return;
	}
	if (r->conn->log != NULL)
		snprintf(r->conn->log->instance, sizeof(r->conn->log->instance), "%s",
		    r->where.id);
	/* The callback may run before upstream_send returns. */
	r->upstream = upstream_send(r->where.ip, r->where.port, r->head,
	    r->head_len, r->conn->hc.head_only, api_on_answer, r);
}

/* No live instance of the role had room: tell the scaler (and the
 * operators), at most once a second per role and worker, however many
 * requests are refused. */
static void
api_no_capacity(int is_master)
{
	static uint64_t last[2];
	uint64_t now = util_mono_ms();
	json_object *f;

	if (last[is_master] != 0 && now - last[is_master] < API_EXHAUSTED_MS)
		return;
	last[is_master] = now;
	f = json_object_new_object();
	json_object_object_add(f, "instanceRole", json_object_new_string(
	    is_master ? "master" : "client"));
	event_publish(EVENT_NOTIFY, "capacity.exhausted", f);
}

/* A client's master as the cache keys it ("" for a master account). */
static const char *
api_master_of(const struct api_request *r)
{
	return r->payload.is_master ? "" : r->payload.master_actid;
}

/* The placement (or, for a remove, locate) decision arrived from Redis. */
static void
api_on_placed(enum placement_status rc, const struct placement *where, void *arg)
{
	struct api_request *r = arg;

	r->placing = 0;
	if (r->conn == NULL) {		/* the client went away meanwhile */
		api_done(r);
		return;
	}
	if (rc == PLACEMENT_UNAVAILABLE && !api.closed) {
		api_wait(r);
		return;
	}
	if (rc == PLACEMENT_NO_CAPACITY && r->route == API_REMOVE) {
		struct conn *c = r->conn;

		c->api = NULL;
		api_request_free(r);
		conn_respond(c, 404, "{\"status\":false,\"message\":\"Listener not found\"}");
		hconn_resume(&c->hc);
		return;
	}
	if (rc == PLACEMENT_NO_CAPACITY) {
		api_count_placement(r, API_NO_CAPACITY);
		api_no_capacity(r->payload.is_master);
		api_fail(r, 503);
		return;
	}
	if (rc != PLACEMENT_OK) {
		api_count_placement(r, API_UNAVAILABLE);
		api_fail(r, 503);
		return;
	}
	api_count_placement(r, API_PLACED);
	r->where = *where;
	if (routing_cacheable(where))
		pcache_put(api.cache, r->payload.actid, r->payload.is_master,
		    api_master_of(r), where);
	api_forward(r);
}

/* Send r's script call: its release once a remove was answered, else its
 * locate (remove) or placement (create).  Waits for Redis if it cannot be
 * sent. */
static void
api_submit(struct api_request *r)
{
	struct rconn *redis = api.proxy->w->redis;
	int rc;

	if (!rconn_is_up(redis))
		rc = -1;
	else if (r->releasing)
		rc = placement_release(redis, api_role(&r->payload),
		    r->payload.actid, r->payload.master_actid, r->where.id,
		    api_on_released, r);
	else if (r->route == API_REMOVE)
		rc = placement_locate(redis, api_role(&r->payload),
		    r->payload.actid, api_on_placed, r);
	else if (r->payload.is_master)
		rc = placement_place_master(redis, r->payload.actid,
		    api.conf->scaling.max_users_per_master, api_on_placed, r);
	else
		rc = placement_place_client(redis, r->payload.actid,
		    r->payload.master_actid, api.conf->scaling.max_users_per_client,
		    api_on_placed, r);
	if (rc == 0)
		r->placing = 1;
	else
		api_wait(r);
}

void
api_start(struct conn *c)
{
	struct api_request *r = c->api;
	const struct placement *cached;
	int status;

	status = payload_parse(r->body, r->body_len, &r->payload);
	if (status != 0) {
		char body[256];

		snprintf(body, sizeof(body), "{\"status\":false,\"message\":\"%s\"}",
		    r->payload.message);
		c->api = NULL;
		api_request_free(r);
		conn_respond(c, status, body);
		hconn_resume(&c->hc);
		return;
	}
	if (c->log != NULL)
		snprintf(c->log->actid, sizeof(c->log->actid), "%s", r->payload.actid);
	if ((cached = pcache_get(api.cache, r->payload.actid,
	    r->payload.is_master, api_master_of(r))) != NULL) {
		api_count_placement(r, API_CACHED);
		r->where = *cached;
		api_forward(r);
		return;
	}
	api_submit(r);
}
