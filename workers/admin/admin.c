/*
 * admin: the admin listener's worker (SPEC §10; docs/ARCHITECTURE.md,
 * "Metrics and the status page").  One slot, on its own socket
 * (admin.listen, loopback by default), never the API's:
 *
 *   GET /metrics      Prometheus text: this olbd's counters (the metrics
 *                     hash every process flushes to, common/metrics.c)
 *                     and the cluster's gauges, read in one pipelined
 *                     batch of five commands whatever the number of series
 *   GET /status.json  the status document: one status script call
 *   GET /status       the same document as a self-contained HTML page
 *                     (workers/admin/page.c)
 *
 * With admin.auth_token set, every request needs "Authorization: Bearer
 * <token>" (401 without, 403 with another; compared in constant time).
 * A request's Redis reads belong to it; a client that goes away leaves
 * them to finish unanswered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include "common/bearer.h"
#include "common/conf.h"
#include "common/crontz.h"
#include "common/hconn.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/registry.h"
#include "common/rscript.h"
#include "common/schedule.h"
#include "common/scripts.h"
#include "common/util.h"
#include "workers/admin/admin.h"
#include "workers/worker.h"

#define ADMIN_MAX_CONNS		64
#define ADMIN_IDLE_MS		30000
#define ADMIN_HISTORY		20	/* probes per instance on the page */
#define ADMIN_METRIC_READS	5

enum admin_page { PAGE_METRICS, PAGE_STATUS, PAGE_STATUS_JSON };

struct gather;

/* Which read of a request a reply answers. */
struct gather_part {
	struct gather		*g;
	int			 idx;
};

struct aconn {
	struct hconn		 hc;		/* first: hconn allocates it */
	enum admin_page		 page;
	int			 status;	/* 0, or an error to answer */
	struct gather		*g;		/* the reads for its request */
};

/* One request's reads: owned by itself until its last reply. */
struct gather {
	struct aconn		*c;		/* NULL: the client went away */
	int			 pending;	/* replies still due */
	int			 failed;
	/* /metrics: the samples, their strings owned */
	struct metric_sample	*v;
	size_t			 n, cap;
	struct gather_part	 part[ADMIN_METRIC_READS];
	/* /status: the document */
	json_object		*doc;
};

static struct {
	struct worker		*w;
	const struct conf	*conf;
	struct hserver		 srv;
	struct bearer		 token;		/* admin.auth_token */
	int			 has_token;
} adm;

static struct aconn *
admin_conn(struct hconn *hc)
{
	return (struct aconn *)hc;
}

/* Answers */

static void
admin_answer(struct aconn *c, int status, const char *type, const char *body,
    size_t len)
{
	hconn_respond_type(&c->hc, status, type, "Cache-Control: no-store\r\n",
	    body, len);
	hconn_resume(&c->hc);
}

static void
admin_unavailable(struct aconn *c)
{
	static const char body[] =
	    "{\"status\":false,\"message\":\"Redis is unavailable\"}";

	hconn_respond(&c->hc, 503, "Retry-After: 1\r\n", body, sizeof(body) - 1);
	hconn_resume(&c->hc);
}

static void
gather_free(struct gather *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->v[i].field);
		free(g->v[i].value);
	}
	free(g->v);
	json_object_put(g->doc);
	free(g);
}

/* Metrics */

/* Add one sample (copied).  0 or -1. */
static int
gather_add(struct gather *g, const char *field, const char *value)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct metric_sample *v = realloc(g->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n].field = strdup(field);
	g->v[g->n].value = strdup(value);
	if (g->v[g->n].field == NULL || g->v[g->n].value == NULL) {
		free(g->v[g->n].field);
		free(g->v[g->n].value);
		return -1;
	}
	g->n++;
	return 0;
}

static int
gather_add_int(struct gather *g, const char *field, long long value)
{
	char v[32];

	snprintf(v, sizeof(v), "%lld", value);
	return gather_add(g, field, v);
}

static const char *const admin_states[] = {
	"pending", "running", "unhealthy", "draining", "terminating", "terminated",
};

/* olb_instances{role,state} from instance_details. */
static void
metrics_instances(struct gather *g, const redisReply *r)
{
	long long n[2][ARRAY_SIZE(admin_states)] = { { 0 } };
	struct registry_instance inst;
	char field[128];

	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    r->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		registry_decode(r->element[i]->str, r->element[i + 1]->str, &inst);
		for (size_t s = 0; s < ARRAY_SIZE(admin_states); s++)
			if (strcmp(inst.state, admin_states[s]) == 0)
				n[inst.is_master ? 0 : 1][s]++;
	}
	for (int role = 0; role < 2; role++)
		for (size_t s = 0; s < ARRAY_SIZE(admin_states); s++) {
			snprintf(field, sizeof(field),
			    "olb_instances{role=\"%s\",state=\"%s\"}",
			    role == 0 ? "master" : "client", admin_states[s]);
			g->failed |= gather_add_int(g, field, n[role][s]);
		}
}

/* olb_fleet_desired_instances from the fleet hash (0 unless up). */
static void
metrics_fleet(struct gather *g, const redisReply *r)
{
	const char *state = redis_hash_field(r, "state"), *v;
	int up = state != NULL && strcmp(state, "up") == 0;

	v = redis_hash_field(r, "masters");
	g->failed |= gather_add_int(g,
	    "olb_fleet_desired_instances{role=\"master\"}",
	    up && v != NULL ? atoll(v) : 0);
	v = redis_hash_field(r, "clients");
	g->failed |= gather_add_int(g,
	    "olb_fleet_desired_instances{role=\"client\"}",
	    up && v != NULL ? atoll(v) : 0);
}

static void	admin_metrics_done(struct gather *g);

static void
metrics_on_reply(struct rconn *rc, redisReply *r, void *arg)
{
	const struct gather_part *p = arg;
	struct gather *g = p->g;
	int idx = p->idx;

	(void)rc;
	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		g->failed = 1;
	else if (idx == 0 && r->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i + 1 < r->elements; i += 2)
			g->failed |= gather_add(g, r->element[i]->str,
			    r->element[i + 1]->str);
	} else if (idx == 1 && r->type == REDIS_REPLY_ARRAY)
		metrics_instances(g, r);
	else if (idx == 2 && r->type == REDIS_REPLY_ARRAY)
		metrics_fleet(g, r);
	else if ((idx == 3 || idx == 4) && r->type == REDIS_REPLY_INTEGER)
		g->failed |= gather_add_int(g, idx == 3 ?
		    "olb_accounts{role=\"master\"}" :
		    "olb_accounts{role=\"client\"}", r->integer);
	if (--g->pending == 0)
		admin_metrics_done(g);
}

static void
admin_metrics_done(struct gather *g)
{
	struct aconn *c = g->c;
	char *text;
	size_t len;

	if (c != NULL) {
		c->g = NULL;
		if (g->failed)
			admin_unavailable(c);
		else if ((text = metrics_render(g->v, g->n, &len)) == NULL)
			admin_unavailable(c);
		else {
			admin_answer(c, 200, "text/plain; version=0.0.4; "
			    "charset=utf-8", text, len);
			free(text);
		}
	}
	gather_free(g);
}

static int
admin_metrics_start(struct gather *g)
{
	struct rconn *rc = adm.w->redis;
	char field[96];
	int sent = 0;

	snprintf(field, sizeof(field), "olb_build_info{version=\"%s\"}",
	    OLB_VERSION);
	if (gather_add(g, field, "1") == -1)
		return -1;
	for (int i = 0; i < ADMIN_METRIC_READS; i++) {
		g->part[i].g = g;
		g->part[i].idx = i;
	}
	g->pending = ADMIN_METRIC_READS;
	sent += rconn_command(rc, metrics_on_reply, &g->part[0], "HGETALL %s",
	    metrics_hash()) == 0;
	sent += rconn_command(rc, metrics_on_reply, &g->part[1], "HGETALL %s",
	    keys_instance_details()) == 0;
	sent += rconn_command(rc, metrics_on_reply, &g->part[2], "HGETALL %s",
	    keys_fleet()) == 0;
	sent += rconn_command(rc, metrics_on_reply, &g->part[3], "HLEN %s",
	    keys_master_mapping()) == 0;
	sent += rconn_command(rc, metrics_on_reply, &g->part[4], "HLEN %s",
	    keys_client_mapping()) == 0;
	if (sent == 0)
		return -1;
	g->pending = sent;	/* what was not sent never answers */
	g->failed |= sent != ADMIN_METRIC_READS;
	return 0;
}

/* The status document */

static json_object *
json_parse_or_null(const char *s)
{
	return s != NULL ? json_tokener_parse(s) : NULL;
}

static int
cmp_reply_str(const void *a, const void *b)
{
	const redisReply *x = *(redisReply *const *)a, *y = *(redisReply *const *)b;

	return strcmp(x->str, y->str);
}

/* Parsed JSON values of the string elements of r, sorted as text. */
static json_object *
status_json_list(const redisReply *r, int sort)
{
	json_object *arr = json_object_new_array(), *o;
	redisReply **v;
	size_t n = 0;

	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
	    (v = calloc(r->elements, sizeof(*v))) == NULL)
		return arr;
	for (size_t i = 0; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			v[n++] = r->element[i];
	if (sort)
		qsort(v, n, sizeof(*v), cmp_reply_str);
	for (size_t i = 0; i < n; i++)
		if ((o = json_parse_or_null(v[i]->str)) != NULL)
			json_object_array_add(arr, o);
	free(v);
	return arr;
}

/* A flat HGETALL array as a JSON object of strings. */
static json_object *
status_hash(const redisReply *r)
{
	json_object *o = json_object_new_object();

	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING)
			json_object_object_add(o, r->element[i]->str,
			    json_object_new_string(r->element[i + 1]->str));
	return o;
}

/* The probe strip of id ("10..." newest first) as booleans, oldest first. */
static json_object *
status_strip(const redisReply *health, const char *id)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; health->type == REDIS_REPLY_ARRAY &&
	    i + 1 < health->elements; i += 2) {
		const char *s = health->element[i + 1]->str;

		if (health->element[i]->type != REDIS_REPLY_STRING ||
		    strcmp(health->element[i]->str, id) != 0 || s == NULL)
			continue;
		for (size_t k = strlen(s); k > 0; k--)
			json_object_array_add(arr, json_object_new_boolean(s[k - 1] == '1'));
		break;
	}
	return arr;
}

static int
cmp_instances(const void *a, const void *b)
{
	json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;
	json_object *v;
	int rx, ry;

	rx = json_object_object_get_ex(x, "role", &v) &&
	    strcmp(json_object_get_string(v), "master") == 0;
	ry = json_object_object_get_ex(y, "role", &v) &&
	    strcmp(json_object_get_string(v), "master") == 0;
	if (rx != ry)
		return ry - rx;
	return strcmp(json_object_get_string(json_object_object_get(x, "name")),
	    json_object_get_string(json_object_object_get(y, "name")));
}

static json_object *
status_instances(const redisReply *details, const redisReply *counts,
    const redisReply *health)
{
	json_object *arr = json_object_new_array(), *o;
	struct registry_instance inst;
	const char *count;

	for (size_t i = 0; details->type == REDIS_REPLY_ARRAY &&
	    i + 1 < details->elements; i += 2) {
		if (details->element[i]->type != REDIS_REPLY_STRING ||
		    details->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		registry_decode(details->element[i]->str,
		    details->element[i + 1]->str, &inst);
		if (strcmp(inst.state, "?") == 0)
			continue;
		count = redis_hash_field(counts, inst.id);
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_string(inst.id));
		json_object_object_add(o, "name", json_object_new_string(inst.name));
		json_object_object_add(o, "role", json_object_new_string(
		    inst.is_master ? "master" : "client"));
		json_object_object_add(o, "state", json_object_new_string(inst.state));
		json_object_object_add(o, "ip", json_object_new_string(inst.ip));
		json_object_object_add(o, "port", json_object_new_int(inst.port));
		json_object_object_add(o, "provider",
		    json_object_new_string(inst.provider));
		json_object_object_add(o, "stateSince",
		    json_object_new_int64(inst.state_since));
		json_object_object_add(o, "accounts",
		    json_object_new_int64(count != NULL ? atoll(count) : 0));
		json_object_object_add(o, "maxAccounts", json_object_new_int64(
		    inst.is_master ? adm.conf->scaling.max_users_per_master :
		    adm.conf->scaling.max_users_per_client));
		json_object_object_add(o, "health", status_strip(health, inst.id));
		json_object_array_add(arr, o);
	}
	json_object_array_sort(arr, cmp_instances);
	return arr;
}

/* The configured jobs, their next runs and the last run of each. */
static json_object *
status_schedule(const redisReply *runs)
{
	const struct conf *conf = adm.conf;
	json_object *o = json_object_new_object(), *jobs = json_object_new_array();
	time_t now = time(NULL);

	json_object_object_add(o, "timezone",
	    json_object_new_string(conf->scheduler.timezone));
	for (size_t i = 0; i < conf->scheduler.njobs; i++) {
		const struct conf_job *cj = &conf->scheduler.jobs[i];
		struct schedule_job j = { cj->name, { 0 }, cj->skip, cj->nskip };
		json_object *x = json_object_new_object(), *last = NULL;
		char local[48];
		time_t next;

		json_object_object_add(x, "job", json_object_new_string(cj->name));
		json_object_object_add(x, "action", json_object_new_string(cj->action));
		json_object_object_add(x, "cron", json_object_new_string(cj->cron));
		if (cron_parse(cj->cron, &j.cron, NULL, 0) == 0 &&
		    schedule_next(&j, now, &next) == 0) {
			schedule_format(next, 0, local, sizeof(local));
			json_object_object_add(x, "next",
			    json_object_new_int64((int64_t)next * 1000));
			json_object_object_add(x, "nextLocal",
			    json_object_new_string(local));
		}
		for (size_t k = 0; runs->type == REDIS_REPLY_ARRAY &&
		    k + 2 < runs->elements; k += 3)
			if (runs->element[k]->type == REDIS_REPLY_STRING &&
			    strcmp(runs->element[k]->str, cj->name) == 0 &&
			    runs->element[k + 2]->type == REDIS_REPLY_STRING)
				last = json_parse_or_null(runs->element[k + 2]->str);
		json_object_object_add(x, "last", last);
		json_object_array_add(jobs, x);
	}
	json_object_object_add(o, "jobs", jobs);
	return o;
}

/* The document from the status script's answer, or NULL if it is not one. */
static json_object *
status_doc(const redisReply *r)
{
	static const char *const duties[3] = { "scaler", "health", "scheduler" };
	json_object *doc, *leases;
	const redisReply *l;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 10)
		return NULL;
	for (size_t i = 0; i < 10; i++)
		if (r->element[i]->type != REDIS_REPLY_ARRAY)
			return NULL;
	doc = json_object_new_object();
	json_object_object_add(doc, "host", json_object_new_string(util_hostname()));
	json_object_object_add(doc, "version", json_object_new_string(OLB_VERSION));
	json_object_object_add(doc, "now", json_object_new_int64(
	    (int64_t)util_wall_ms()));
	json_object_object_add(doc, "workers", status_json_list(r->element[5], 1));
	leases = json_object_new_object();
	l = r->element[6];
	for (size_t i = 0; i < 3 && i < l->elements; i++)
		json_object_object_add(leases, duties[i],
		    l->element[i]->type == REDIS_REPLY_STRING ?
		    json_object_new_string(l->element[i]->str) : NULL);
	json_object_object_add(doc, "leases", leases);
	json_object_object_add(doc, "fleet", status_hash(r->element[2]));
	json_object_object_add(doc, "panic", status_hash(r->element[4]));
	json_object_object_add(doc, "instances", status_instances(r->element[0],
	    r->element[1], r->element[8]));
	json_object_object_add(doc, "schedule", status_schedule(r->element[9]));
	json_object_object_add(doc, "scheduleState", status_hash(r->element[3]));
	json_object_object_add(doc, "events", status_json_list(r->element[7], 0));
	return doc;
}

static void
status_on_reply(struct rconn *rc, redisReply *r, void *arg)
{
	struct gather *g = arg;
	struct aconn *c = g->c;
	const char *text;
	char *html;
	size_t len;

	(void)rc;
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		if (r != NULL)
			log_warn("status: %s", r->str);
	} else
		g->doc = status_doc(r);
	if (c == NULL) {
		gather_free(g);
		return;
	}
	c->g = NULL;
	if (g->doc == NULL)
		admin_unavailable(c);
	else if (c->page == PAGE_STATUS_JSON) {
		text = json_object_to_json_string_ext(g->doc, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		admin_answer(c, 200, "application/json", text, strlen(text));
	} else if ((html = page_render(g->doc, (int)adm.conf->admin.refresh_s,
	    &len)) == NULL)
		admin_unavailable(c);
	else {
		admin_answer(c, 200, "text/html; charset=utf-8", html, len);
		free(html);
	}
	gather_free(g);
}

static int
admin_status_start(struct gather *g)
{
	static char pattern[KEYS_NAME_MAX], leases[KEYS_NAME_MAX];
	const char *jobs[64];
	size_t n = adm.conf->scheduler.njobs < 64 ? adm.conf->scheduler.njobs : 64;
	struct scripts_call c;

	if (keys_worker_pattern(pattern, sizeof(pattern)) == -1 ||
	    keys_lease(leases, sizeof(leases), "") == -1)
		return -1;
	for (size_t i = 0; i < n; i++)
		jobs[i] = adm.conf->scheduler.jobs[i].name;
	if (scripts_call_status(&c, pattern, leases, ADMIN_HISTORY, jobs, n) == -1)
		return -1;
	return rscript_run(adm.w->redis, &c, status_on_reply, g);
}

/* HTTP */

static int
path_is(const struct http_request *req, const char *path)
{
	return req->path_len == strlen(path) &&
	    memcmp(req->path, path, req->path_len) == 0;
}

static void
admin_on_head(struct hconn *hc, const struct http_request *req)
{
	struct aconn *c = admin_conn(hc);
	int status;

	c->status = 0;
	if (path_is(req, "/metrics"))
		c->page = PAGE_METRICS;
	else if (path_is(req, "/status"))
		c->page = PAGE_STATUS;
	else if (path_is(req, "/status.json"))
		c->page = PAGE_STATUS_JSON;
	else
		c->status = 404;
	if (c->status == 0 && req->method != HTTP_GET && req->method != HTTP_HEAD)
		c->status = 405;
	if (req->chunked || hconn_body_too_large(req, 0))
		c->status = 413;	/* no admin request has a body */
	if (adm.has_token &&
	    (status = bearer_check(&adm.token, req->authorization)) != 0)
		c->status = status;
	if (c->status == 401 || c->status == 403 || c->status == 413)
		hconn_error(hc, c->status);
}

/* Never called: a request with a body is refused at its head. */
static int
admin_on_body(struct hconn *hc, const char *data, size_t len)
{
	(void)hc;
	(void)data;
	(void)len;
	return 0;
}

static void
admin_on_request(struct hconn *hc)
{
	struct aconn *c = admin_conn(hc);
	struct gather *g;
	int rv;

	if (c->status != 0) {
		char body[128];
		int n = snprintf(body, sizeof(body),
		    "{\"status\":false,\"message\":\"%s\"}",
		    http_error_message(c->status));

		hconn_respond(hc, c->status, c->status == 405 ?
		    "Allow: GET, HEAD\r\n" : "", body, (size_t)n);
		hconn_resume(hc);
		return;
	}
	if (!rconn_is_up(adm.w->redis) || (g = calloc(1, sizeof(*g))) == NULL) {
		admin_unavailable(c);
		return;
	}
	g->c = c;
	c->g = g;
	rv = c->page == PAGE_METRICS ? admin_metrics_start(g) :
	    admin_status_start(g);
	if (rv == -1) {
		c->g = NULL;
		gather_free(g);
		admin_unavailable(c);
	}
}

static void
admin_on_closing(struct hconn *hc)
{
	struct aconn *c = admin_conn(hc);

	if (c->g != NULL)
		c->g->c = NULL;	/* its reads finish unanswered */
}

static void
admin_on_closed(struct hserver *s)
{
	(void)s;
	if (adm.w->stopping && adm.srv.nconns == 0)
		worker_done(adm.w);
}

static const struct hserver_ops admin_conn_ops = {
	.head = admin_on_head,
	.body = admin_on_body,
	.request = admin_on_request,
	.closing = admin_on_closing,
	.closed = admin_on_closed,
};

/* The role */

static int
admin_start(struct worker *w)
{
	const struct conf *conf = w->conf;
	struct hserver_limits lim = {
		.conn_size = sizeof(struct aconn),
		.max_header = 8192,
		.max_body = 0,
		.max_connections = ADMIN_MAX_CONNS,
		.idle_timeout_ms = ADMIN_IDLE_MS,
		.header_timeout_ms = 10000,
		.body_timeout_ms = 10000,
	};
	char *token = conf->admin.auth_token;

	memset(&adm, 0, sizeof(adm));
	adm.w = w;
	adm.conf = conf;
	adm.has_token = token != NULL && token[0] != '\0';
	if (adm.has_token && bearer_init(&adm.token, &token, 1) == -1)
		return -1;
	if (crontz_zone(conf->scheduler.timezone) == -1)
		log_warn("time zone %s is not in the tz database; the status page "
		    "shows next runs in the host's", conf->scheduler.timezone);
	if (hserver_init(&adm.srv, w->loop, w->listen_fd, &admin_conn_ops, &lim,
	    &adm) == -1)
		return -1;
	/* A scrape right after start waits for Redis, not a 503. */
	worker_accept_gate(w, &adm.srv, 1);
	return 0;
}

static void
admin_redis_state(struct worker *w, int up)
{
	if (up)
		worker_accept_gate(w, &adm.srv, 0);
}

static void
admin_drain(struct worker *w)
{
	hserver_drain(&adm.srv);
	if (adm.srv.nconns == 0)
		worker_done(w);
}

static void
admin_cleanup(struct worker *w)
{
	(void)w;
	hserver_close_all(&adm.srv);
	if (adm.has_token)
		bearer_free(&adm.token);
}

static const struct worker_role_ops admin_ops = {
	.start = admin_start,
	.drain = admin_drain,
	.redis_state = admin_redis_state,
	.cleanup = admin_cleanup,
};

int
admin_main(struct worker *w)
{
	return worker_run(w, &admin_ops);
}
