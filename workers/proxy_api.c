/*
 * proxy_api: what each request on a proxy worker gets (SPEC §3, §4).
 *
 * Static answers (healthCheck, test, 404) are decided from the head alone.
 * The listener API (create_user_listener, remove_user_listener) is served
 * here: bearer auth (constant time, several tokens), the JSON payload
 * (common/payload.c), the account's placement (a per-worker cache in front
 * of the Lua scripts of common/placement.c, invalidated by the routing
 * channel), then the call is forwarded byte for byte to the instance
 * (workers/upstream.c) and its answer relayed as it came.
 */
#include <sys/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <json-c/json.h>

#include "common/conf.h"
#include "common/events.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/payload.h"
#include "common/pcache.h"
#include "common/placement.h"
#include "common/util.h"
#include "workers/proxy.h"
#include "workers/upstream.h"
#include "workers/worker.h"

#define API_PREFIX		"/api/v1/listener"
#define API_REQUEST_ID_MAX	64
#define API_RETRY_AFTER		"5"	/* seconds, with 503 */
#define API_EXHAUSTED_MS	1000	/* least time between capacity events */
#define API_TRACKING_MS		1000	/* client_master_tracking rebuild period */
#define API_TRACKING_BATCH	8	/* masters rebuilt per script call */
#define API_TRACKING_CALLS	16	/* flush calls per period at most */
#define API_TRACKING_PER_CLIENT_MS 1	/* an array of n clients: rebuilt at
					   most every n ms */
#define API_SPARE_MAX		256	/* finished requests kept for reuse */
#define API_SPARE_BUF_MAX	16384	/* larger buffers are not kept */

enum api_route {
	API_CREATE,
	API_REMOVE,
};

/* One listener request, owned by its connection (c->api). */
struct api_request {
	enum api_route		 route;
	struct conn		*conn;
	char			*head;		/* owned: forwarded request line + headers */
	size_t			 head_len, head_cap;
	char			*body;		/* owned: the body as received */
	size_t			 body_len, body_cap;
	char			 request_id[API_REQUEST_ID_MAX + 1];
	struct payload		 payload;
	struct placement	 where;
	struct upstream		*upstream;	/* in flight */
	int			 placing;	/* waiting for Redis */
	int			 head_request;
	struct api_request	*next_spare;	/* on api.spare */
};

static struct {
	struct proxy		*proxy;
	const struct conf	*conf;
	unsigned char		 (*token_digests)[32];	/* owned */
	size_t			 ntokens;
	struct rconn		*routing;	/* subscriber to the routing channel */
	struct ev_timer		 tracking_timer;
	int			 tracking_busy;	/* a flush is in flight */
	int			 tracking_left;	/* flush calls left this tick */
	struct pcache		*cache;
	struct api_request	*spare;		/* finished requests kept for reuse */
	size_t			 nspare;
	EVP_MD			*sha256;	/* fetched once: no lookup per request */
	uint64_t		 rid_state[2];
} api;

/* Done with r: keep it for the next request (its buffers too, unless they
 * grew large), up to API_SPARE_MAX spare requests per worker. */
static void
api_request_free(struct api_request *r)
{
	if (api.nspare == API_SPARE_MAX) {
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

/* A routing message: a release drops one account, any instance change
 * drops everything (rare, and never wrong). */
static void
api_on_routing(struct rconn *rc, const char *channel, const char *msg, size_t len,
    void *arg)
{
	json_object *o, *op, *actid, *role;

	(void)rc;
	(void)channel;
	(void)arg;
	if ((o = json_tokener_parse(msg)) == NULL || len == 0) {
		pcache_clear(api.cache);
		return;
	}
	if (json_object_object_get_ex(o, "op", &op) &&
	    strcmp(json_object_get_string(op), "release") == 0 &&
	    json_object_object_get_ex(o, "actid", &actid) &&
	    json_object_object_get_ex(o, "role", &role))
		pcache_drop(api.cache, json_object_get_string(actid),
		    strcmp(json_object_get_string(role), "master") == 0);
	else
		pcache_clear(api.cache);
	json_object_put(o);
}

/* Subscribed again after an outage: what was missed is unknown. */
static void
api_on_routing_state(struct rconn *rc, int up, void *arg)
{
	(void)rc;
	(void)arg;
	if (up)
		pcache_clear(api.cache);
}

static void
api_digest(const char *token, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	EVP_Digest(token, len, out, &n, api.sha256, NULL);
}

static void	api_tracking_flush(void);

/* A flush answered: a full batch means more masters may be waiting. */
static void
api_on_tracking_flushed(enum placement_status status,
    const struct placement *where, void *arg)
{
	(void)arg;
	api.tracking_busy = 0;
	if (status == PLACEMENT_OK && where->found == API_TRACKING_BATCH)
		api_tracking_flush();
}

/* Rebuild the next batch of dirty tracking arrays, unless this tick's share
 * is used up (masters are marked dirty again all the time under load: the
 * share keeps the rebuilds from running back to back). */
static void
api_tracking_flush(void)
{
	if (api.tracking_busy || api.tracking_left == 0 ||
	    !rconn_is_up(api.proxy->w->redis))
		return;
	api.tracking_left--;
	if (placement_flush_tracking(api.proxy->w->redis, API_TRACKING_BATCH,
	    API_TRACKING_PER_CLIENT_MS, api_on_tracking_flushed, NULL) == 0)
		api.tracking_busy = 1;
}

/* Every API_TRACKING_MS, rebuild the tracking arrays of masters whose clients
 * changed (the placement scripts only mark them: see common/scripts.c).
 * Every proxy worker does it; SPOP gives each master to one of them. */
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
	api.ntokens = conf->proxy.auth_tokens.n;
	api.token_digests = calloc(api.ntokens ? api.ntokens : 1, 32);
	api.cache = pcache_new((size_t)conf->proxy.placement_cache);
	api.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (api.token_digests == NULL || api.cache == NULL || api.sha256 == NULL)
		return -1;
	for (size_t i = 0; i < api.ntokens; i++)
		api_digest(conf->proxy.auth_tokens.v[i], strlen(conf->proxy.auth_tokens.v[i]),
		    api.token_digests[i]);
	if (getrandom(api.rid_state, sizeof(api.rid_state), 0) != sizeof(api.rid_state))
		api.rid_state[0] = util_mono_ms() ^ (uint64_t)getpid();
	us.connect_timeout_ms = (uint64_t)conf->proxy.connect_timeout_ms;
	us.response_timeout_ms = (uint64_t)conf->proxy.upstream_timeout_ms;
	us.max_idle_per_address = 256;
	upstream_init(p->w->loop, &us);
	api.routing = rconn_new(p->w->loop, conf, "routing", api_on_routing_state, NULL);
	if (api.routing == NULL ||
	    rconn_subscribe(api.routing, keys_routing_channel(), api_on_routing, NULL) == -1)
		return -1;
	ev_timer_start(p->w->loop, &api.tracking_timer, API_TRACKING_MS,
	    api_on_tracking_timer, NULL);
	return 0;
}

void
api_shutdown(void)
{
	upstream_shutdown();
	placement_drop(api.proxy->w->redis);
	ev_timer_stop(api.proxy->w->loop, &api.tracking_timer);
	rconn_free(api.routing);
	api.routing = NULL;
	pcache_free(api.cache);
	api.cache = NULL;
	api_spare_free();
	EVP_MD_free(api.sha256);
	api.sha256 = NULL;
	free(api.token_digests);
	api.token_digests = NULL;
}

/* Bearer auth (SPEC §3): 0 ok, else the status to answer (401, 403).  Every
 * configured token is compared, in constant time, through its digest. */
static int
api_auth(const struct http_request *req)
{
	const struct http_header *h = req->authorization;
	unsigned char digest[32];
	int ok = 0;

	if (h == NULL || h->value_len < 7 || strncmp(h->value, "Bearer ", 7) != 0)
		return 401;
	api_digest(h->value + 7, h->value_len - 7, digest);
	for (size_t i = 0; i < api.ntokens; i++)
		ok |= CRYPTO_memcmp(digest, api.token_digests[i], 32) == 0;
	return ok ? 0 : 403;
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
	snprintf(out, API_REQUEST_ID_MAX + 1, "%016llx%016llx",
	    (unsigned long long)b, (unsigned long long)(b * 0x9e3779b97f4a7c15ULL));
}

/* Build the forwarded head: request line, the client's end-to-end headers,
 * X-Forwarded-For/-Proto and X-Request-Id.  Content-Length comes later. */
static int
api_build_head(struct api_request *r, const struct http_request *req, const char *peer)
{
	const char *xff = NULL;
	size_t xff_len = 0;
	char line[256];
	int n;

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
	if (xff != NULL && (api_head_add(r, "X-Forwarded-For: ", 17) == -1 ||
	    api_head_add(r, xff, xff_len) == -1 || api_head_add(r, ", ", 2) == -1))
		return -1;
	n = snprintf(line, sizeof(line), "%s%s\r\nX-Forwarded-Proto: http\r\n"
	    "X-Request-Id: %s\r\n", xff != NULL ? "" : "X-Forwarded-For: ", peer,
	    r->request_id);
	return api_head_add(r, line, (size_t)n);
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
	int status;

	if ((status = api_auth(req)) != 0) {
		conn_respond_error(c, status);
		return;
	}
	c->answer_status = 404;
	c->answer_body = "{\"status\":false,\"message\":\"Path not found\"}";
	if (req->method != HTTP_POST)
		return;
	if (req->path_len == sizeof(create) - 1 && memcmp(req->path, create, req->path_len) == 0)
		status = API_CREATE;
	else if (req->path_len == sizeof(remove_) - 1 &&
	    memcmp(req->path, remove_, req->path_len) == 0)
		status = API_REMOVE;
	else
		return;
	if (!api_content_type_json(req)) {
		conn_respond_error(c, 415);
		return;
	}
	if ((r = api_request_new()) == NULL) {
		conn_respond_error(c, 503);
		return;
	}
	r->route = (enum api_route)status;
	r->conn = c;
	api_request_id(req, r->request_id);
	if (c->log != NULL)
		snprintf(c->log->request_id, sizeof(c->log->request_id), "%s",
		    r->request_id);
	if (api_build_head(r, req, c->peer) == -1) {
		api_request_free(r);
		conn_respond_error(c, 503);
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
		c->answer_status = 200;
		c->answer_body = "{\"status\":true,\"message\":\"Health is OK\"}";
	} else if ((req->method == HTTP_GET || req->method == HTTP_HEAD) &&
	    req->path_len == 12 && memcmp(req->path, "/api/v1/test", 12) == 0) {
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
		conn_respond_error(c, 503);
		return -1;
	}
	return 0;
}

void
api_abort(struct conn *c)
{
	struct api_request *r = c->api;

	if (r->upstream != NULL)
		upstream_cancel(r->upstream);
	r->conn = NULL;
	c->api = NULL;
	if (!r->placing)
		api_request_free(r);
	/* else freed by the placement callback, which sees conn == NULL */
}

/* Relay the instance's answer to the client: its status line and end-to-end
 * headers as they came, the body with our own framing. */
static void
api_relay(struct conn *c, const struct http_response *res, const char *body,
    size_t body_len, const char *request_id)
{
	char line[160];
	size_t start = c->out_len;
	int has_rid = 0, n;

	n = snprintf(line, sizeof(line), "HTTP/1.1 %d %.*s\r\n", res->status,
	    (int)(res->reason_len > 100 ? 100 : res->reason_len), res->reason);
	conn_out_append(c, line, (size_t)n);
	for (size_t i = 0; i < res->nheaders; i++) {
		const struct http_header *h = &res->headers[i];

		if (api_header_dropped(res->headers, res->nheaders, h))
			continue;
		if (h->name_len == 12 && strncasecmp(h->name, "X-Request-Id", 12) == 0)
			has_rid = 1;
		conn_out_append(c, h->name, h->name_len);
		conn_out_append(c, ": ", 2);
		conn_out_append(c, h->value, h->value_len);
		conn_out_append(c, "\r\n", 2);
	}
	n = snprintf(line, sizeof(line), "%s%s%sContent-Length: %zu\r\n%s\r\n",
	    has_rid ? "" : "X-Request-Id: ", has_rid ? "" : request_id,
	    has_rid ? "" : "\r\n", body_len,
	    conn_closes_after_answer(c) ? "Connection: close\r\n" : "");
	conn_out_append(c, line, (size_t)n);
	if (!c->head_only)
		conn_out_append(c, body, body_len);
	conn_log_answer(c, res->status, c->out_len - start);
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
	conn_resume(c);
}

static void	api_forward(struct api_request *r);

static enum placement_role
api_role(const struct payload *p)
{
	return p->is_master ? PLACEMENT_MASTER : PLACEMENT_CLIENT;
}

static void
api_on_released(enum placement_status status, const struct placement *where, void *arg)
{
	(void)where;
	(void)arg;
	if (status != PLACEMENT_OK)
		log_warn("release after remove_user_listener failed; the place stays "
		    "counted until the account is placed again");
}

/* The instance answered (or failed).  A 2xx to remove_user_listener frees the
 * account's place; an instance that is gone from the registry is released by
 * the locate script before any call is made. */
static void
api_on_answer(void *arg, int status, const struct http_response *res,
    const char *head, const char *body, size_t body_len)
{
	struct api_request *r = arg;
	struct conn *c = r->conn;

	(void)head;	/* relayed field by field from res */
	r->upstream = NULL;
	if (status != 0) {
		if (status == 502)
			pcache_drop(api.cache, r->payload.actid, r->payload.is_master);
		api_fail(r, status);
		return;
	}
	if (r->route == API_REMOVE && res->status >= 200 && res->status < 300) {
		(void)placement_release(api.proxy->w->redis, api_role(&r->payload),
		    r->payload.actid, r->payload.master_actid, api_on_released, NULL);
		pcache_drop(api.cache, r->payload.actid, r->payload.is_master);
	}
	c->api = NULL;
	api_relay(c, res, body, body_len, r->request_id);
	api_request_free(r);
	conn_resume(c);
}

/* Send the request to the placed instance: the head built at routing time,
 * Content-Length and the body, appended to the head buffer, which the
 * upstream borrows until it calls back or is cancelled (one buffer per
 * request, no second copy). */
static void
api_forward(struct api_request *r)
{
	char line[64];
	int n;

	n = snprintf(line, sizeof(line), "Content-Length: %zu\r\n\r\n", r->body_len);
	if (api_head_add(r, line, (size_t)n) == -1 ||
	    api_head_add(r, r->body, r->body_len) == -1) {
		api_fail(r, 503);
		return;
	}
	if (r->conn->log != NULL)
		snprintf(r->conn->log->instance, sizeof(r->conn->log->instance), "%s",
		    r->where.id);
	/* The callback may run before upstream_send returns. */
	r->upstream = upstream_send(r->where.ip, r->where.port, r->head,
	    r->head_len, r->conn->head_only, api_on_answer, r);
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

/* The placement decision arrived from Redis. */
static void
api_on_placed(enum placement_status rc, const struct placement *where, void *arg)
{
	struct api_request *r = arg;

	r->placing = 0;
	if (r->conn == NULL) {		/* the client went away meanwhile */
		api_request_free(r);
		return;
	}
	if (rc == PLACEMENT_NO_CAPACITY && r->route == API_REMOVE) {
		struct conn *c = r->conn;

		c->api = NULL;
		api_request_free(r);
		conn_respond(c, 404, "{\"status\":false,\"message\":\"Listener not found\"}");
		conn_resume(c);
		return;
	}
	if (rc == PLACEMENT_NO_CAPACITY) {
		api_no_capacity(r->payload.is_master);
		api_fail(r, 503);
		return;
	}
	if (rc != PLACEMENT_OK) {
		api_fail(r, 503);
		return;
	}
	r->where = *where;
	pcache_put(api.cache, r->payload.actid, r->payload.is_master, where);
	api_forward(r);
}

void
api_start(struct conn *c)
{
	struct api_request *r = c->api;
	const struct placement *cached;
	int status, rc;

	status = payload_parse(r->body, r->body_len, &r->payload);
	if (status != 0) {
		char body[256];

		snprintf(body, sizeof(body), "{\"status\":false,\"message\":\"%s\"}",
		    r->payload.message);
		c->api = NULL;
		api_request_free(r);
		conn_respond(c, status, body);
		conn_resume(c);
		return;
	}
	if (c->log != NULL)
		snprintf(c->log->actid, sizeof(c->log->actid), "%s", r->payload.actid);
	if ((cached = pcache_get(api.cache, r->payload.actid,
	    r->payload.is_master)) != NULL) {
		r->where = *cached;
		api_forward(r);
		return;
	}
	r->placing = 1;
	if (r->route == API_REMOVE)
		rc = placement_locate(api.proxy->w->redis, api_role(&r->payload),
		    r->payload.actid, api_on_placed, r);
	else if (r->payload.is_master)
		rc = placement_place_master(api.proxy->w->redis, r->payload.actid,
		    api.conf->scaling.max_users_per_master, api_on_placed, r);
	else
		rc = placement_place_client(api.proxy->w->redis, r->payload.actid,
		    r->payload.master_actid, api.conf->scaling.max_users_per_client,
		    api_on_placed, r);
	if (rc == -1) {
		r->placing = 0;
		api_fail(r, 503);
	}
}
