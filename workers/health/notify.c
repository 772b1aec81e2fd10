/*
 * notify: the webhook sender (see notify.h).
 *
 * One cycle: peek at the outbox (the first NOTIFY_BATCH events, with the
 * outbox's head and drop count), post what fits in one message, then ack
 * (remove) exactly the events posted, or back off and peek again.  Only one
 * step is under way at a time (nt.step); a kick that comes meanwhile is
 * served by the peek that ends every cycle.  Replies carry the generation
 * they were sent in: one from before a lease change is ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/rscript.h"
#include "common/scripts.h"
#include "workers/health/notify.h"
#include "workers/lease.h"

#define NOTIFY_POLL_MS		10000	/* the outbox is looked at anyway */
#define NOTIFY_BACKOFF_MIN_MS	1000
#define NOTIFY_BACKOFF_MAX_MS	60000
#define NOTIFY_RETRY_AFTER_MAX_MS 600000
#define NOTIFY_TEXT_MAX		12000	/* bytes of one post's text */
#define NOTIFY_VALUE_MAX	160	/* bytes of one field's value */

enum notify_step {
	NOTIFY_OFF,		/* no lease (or stopped) */
	NOTIFY_IDLE,		/* nothing known to send: poll timer */
	NOTIFY_WAIT,		/* the batch window, or a backoff */
	NOTIFY_PEEK,		/* reading the outbox */
	NOTIFY_POST,		/* a post in flight */
	NOTIFY_ACK,		/* removing what was posted */
};

static struct {
	int			 on;		/* started with a URL */
	struct ev_loop		*loop;
	struct rconn		*rc;
	struct httpc		*http;
	const struct conf	*conf;
	struct lease		*lease;
	enum notify_step	 step;
	unsigned int		 gen;		/* lease changes */
	struct ev_timer		 timer;
	struct httpc_req	*req;
	long long		 head;		/* of the batch posted */
	long long		 nposted;	/* events in it */
	long long		 dropped_seen;	/* -1: not read yet */
	long long		 dropped_unsaid; /* to mention in a post */
	int			 attempts;	/* failed posts in a row */
	struct notify_stats	 stats;
} nt;

static void	notify_peek(void);

static void *
notify_gen_arg(void)
{
	return (void *)(uintptr_t)nt.gen;
}

static int
notify_current(void *arg)
{
	return nt.on && nt.step != NOTIFY_OFF && (uintptr_t)arg == nt.gen;
}

static void
notify_timer_fired(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	(void)arg;
	notify_peek();
}

/* Peek again in ms (the window, a backoff, the poll). */
static void
notify_later(enum notify_step step, uint64_t ms)
{
	nt.step = step;
	ev_timer_start(nt.loop, &nt.timer, ms, notify_timer_fired, NULL);
}

/* The text of one event, appended to buf: its time, type, host and role,
 * then its own fields as key=value. */
static void
notify_line(struct json_object *ev, char *buf, size_t size)
{
	struct json_object_iterator it, end;
	struct json_object *v;
	char when[32] = "", *p = buf;
	const char *host = "", *role = "", *type = "?";
	time_t ts;
	struct tm tm;
	int n;

	if (json_object_object_get_ex(ev, "ts", &v)) {
		ts = (time_t)(json_object_get_int64(v) / 1000);
		if (gmtime_r(&ts, &tm) != NULL)
			strftime(when, sizeof(when), "%H:%M:%SZ", &tm);
	}
	if (json_object_object_get_ex(ev, "type", &v))
		type = json_object_get_string(v);
	if (json_object_object_get_ex(ev, "host", &v))
		host = json_object_get_string(v);
	if (json_object_object_get_ex(ev, "role", &v))
		role = json_object_get_string(v);
	n = snprintf(p, size, "%s **%s** %s/%s", when, type, host, role);
	if (n < 0 || (size_t)n >= size)
		return;
	p += n;
	size -= (size_t)n;
	it = json_object_iter_begin(ev);
	end = json_object_iter_end(ev);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *k = json_object_iter_peek_name(&it), *s;

		if (strcmp(k, "ts") == 0 || strcmp(k, "level") == 0 ||
		    strcmp(k, "type") == 0 || strcmp(k, "host") == 0 ||
		    strcmp(k, "role") == 0 || strcmp(k, "pid") == 0)
			continue;
		v = json_object_iter_peek_value(&it);
		s = json_object_is_type(v, json_type_string) ?
		    json_object_get_string(v) : json_object_to_json_string_ext(v,
		    JSON_C_TO_STRING_PLAIN);
		n = snprintf(p, size, " %s=%.*s", k, NOTIFY_VALUE_MAX,
		    s != NULL ? s : "null");
		if (n < 0 || (size_t)n >= size)
			return;
		p += n;
		size -= (size_t)n;
	}
}

/* The post's JSON body for the first events of r (an array of JSON
 * strings): as many as fit in NOTIFY_TEXT_MAX (at least one), counted in
 * *n.  NULL if out of memory. */
static char *
notify_body(const redisReply *r, long long *n)
{
	char text[NOTIFY_TEXT_MAX + 1024], line[2048];
	struct json_object *o, *ev;
	size_t len = 0;
	char *body;

	text[0] = '\0';
	*n = 0;
	if (nt.dropped_unsaid > 0)
		len = (size_t)snprintf(text, sizeof(text),
		    "olb: %lld notify events were dropped (outbox full)\n",
		    nt.dropped_unsaid);
	for (size_t i = 0; i < r->elements; i++) {
		line[0] = '\0';
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    (ev = json_tokener_parse(r->element[i]->str)) != NULL) {
			if (json_object_is_type(ev, json_type_object))
				notify_line(ev, line, sizeof(line));
			json_object_put(ev);
		}
		if (line[0] == '\0')
			snprintf(line, sizeof(line), "(an unreadable event)");
		if (*n > 0 && len + strlen(line) + 1 > NOTIFY_TEXT_MAX)
			break;
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\n",
		    line);
		(*n)++;
	}
	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "text", json_object_new_string(text));
	body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return body;
}

static void
notify_on_ack(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	if (!notify_current(arg))
		return;
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		log_warn("webhook: removing %lld posted events: %s", nt.nposted,
		    r == NULL ? "no answer from Redis" : r->str);
		if (r != NULL && strstr(r->str, "FENCED") != NULL)
			lease_lost(nt.lease, "a write was fenced");
		if (nt.step != NOTIFY_OFF)
			notify_later(NOTIFY_WAIT, NOTIFY_BACKOFF_MIN_MS);
		return;
	}
	nt.step = NOTIFY_IDLE;
	notify_peek();		/* what came during the post */
}

/* Remove the batch posted (refused: as dropped). */
static void
notify_ack(int refused)
{
	struct scripts_call c;

	nt.step = NOTIFY_ACK;
	if (scripts_call_notify_ack(&c, nt.head, nt.nposted, refused) == -1 ||
	    lease_fence(nt.lease, &c) == -1 ||
	    rscript_run(nt.rc, &c, notify_on_ack, notify_gen_arg()) == -1)
		notify_later(NOTIFY_WAIT, NOTIFY_BACKOFF_MIN_MS);
}

/* The backoff after attempts failures in a row: doubling, with jitter,
 * at least what the webhook asked for. */
static uint64_t
notify_backoff(int64_t retry_after_s)
{
	uint64_t ms = NOTIFY_BACKOFF_MIN_MS;

	for (int i = 1; i < nt.attempts && ms < NOTIFY_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > NOTIFY_BACKOFF_MAX_MS)
		ms = NOTIFY_BACKOFF_MAX_MS;
	ms = ms / 2 + (uint64_t)random() % (ms / 2 + 1);
	if (retry_after_s > 0) {
		uint64_t asked = (uint64_t)retry_after_s * 1000;

		if (asked > NOTIFY_RETRY_AFTER_MAX_MS)
			asked = NOTIFY_RETRY_AFTER_MAX_MS;
		if (asked > ms)
			ms = asked;
	}
	return ms;
}

static void
notify_on_post(const struct httpc_result *res, void *arg)
{
	long st = res->status;
	uint64_t ms;

	nt.req = NULL;
	if (!notify_current(arg))
		return;
	if (st >= 200 && st < 300) {
		nt.attempts = 0;
		nt.stats.posts++;
		nt.stats.sent += (uint64_t)nt.nposted;
		nt.dropped_unsaid = 0;
		notify_ack(0);
		return;
	}
	if (st >= 400 && st < 500 && st != 408 && st != 429) {
		log_error("webhook: HTTP %ld: %lld events refused, dropped", st,
		    nt.nposted);
		nt.attempts = 0;
		nt.stats.refused += (uint64_t)nt.nposted;
		notify_ack(1);
		return;
	}
	nt.attempts++;
	nt.stats.failures++;
	ms = notify_backoff(res->retry_after);
	/* curl's text names the host at most, never the secret path. */
	if (st != 0)
		log_warn("webhook: HTTP %ld: %lld events wait, retry %d in %llu ms",
		    st, nt.nposted, nt.attempts, (unsigned long long)ms);
	else
		log_warn("webhook: %s: %lld events wait, retry %d in %llu ms",
		    res->timed_out ? "timeout" : "post failed", nt.nposted,
		    nt.attempts, (unsigned long long)ms);
	notify_later(NOTIFY_WAIT, ms);
}

static void
notify_post(const redisReply *events)
{
	static const char *const headers[] = {
		"Content-Type: application/json", NULL
	};
	struct httpc_opts o;
	char *body;

	if ((body = notify_body(events, &nt.nposted)) == NULL) {
		notify_later(NOTIFY_WAIT, NOTIFY_BACKOFF_MIN_MS);
		return;
	}
	memset(&o, 0, sizeof(o));
	o.method = "POST";
	o.url = nt.conf->notify.webhook_url;
	o.headers = headers;
	o.body = body;
	o.body_len = strlen(body);
	o.timeout_ms = (long)nt.conf->notify.timeout_ms;
	o.max_body = 64 * 1024;
	nt.step = NOTIFY_POST;
	nt.req = httpc_request(nt.http, &o, notify_on_post, notify_gen_arg());
	free(body);
	if (nt.req == NULL) {
		log_error("webhook: cannot start a post");
		notify_later(NOTIFY_WAIT, NOTIFY_BACKOFF_MIN_MS);
	}
}

/* Drops the outbox counted since last seen are logged, and said in the
 * next post. */
static void
notify_drops(long long dropped)
{
	if (nt.dropped_seen >= 0 && dropped > nt.dropped_seen) {
		log_warn("webhook: %lld notify events dropped (outbox full: "
		    "notify.queue = %lld)", dropped - nt.dropped_seen,
		    (long long)nt.conf->notify.queue);
		nt.dropped_unsaid += dropped - nt.dropped_seen;
	}
	nt.dropped_seen = dropped;
}

static void
notify_on_peek(struct rconn *rc, redisReply *r, void *arg)
{
	const redisReply *events;

	(void)rc;
	if (!notify_current(arg))
		return;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER ||
	    r->element[2]->type != REDIS_REPLY_ARRAY) {
		if (r != NULL && r->type == REDIS_REPLY_ERROR)
			log_warn("webhook: reading the outbox: %s", r->str);
		notify_later(NOTIFY_IDLE, NOTIFY_POLL_MS);
		return;
	}
	notify_drops(r->element[1]->integer);
	events = r->element[2];
	if (events->elements == 0) {
		notify_later(NOTIFY_IDLE, NOTIFY_POLL_MS);
		return;
	}
	nt.head = r->element[0]->integer;
	notify_post(events);
}

static void
notify_peek(void)
{
	struct scripts_call c;

	ev_timer_stop(nt.loop, &nt.timer);
	if (!nt.on || nt.step == NOTIFY_OFF)
		return;
	if (!lease_held(nt.lease) || !rconn_is_up(nt.rc) ||
	    scripts_call_notify_peek(&c, NOTIFY_BATCH) == -1 ||
	    rscript_run(nt.rc, &c, notify_on_peek, notify_gen_arg()) == -1) {
		notify_later(NOTIFY_IDLE, NOTIFY_POLL_MS);
		return;
	}
	nt.step = NOTIFY_PEEK;
}

void
notify_kick(void)
{
	if (nt.on && nt.step == NOTIFY_IDLE)
		notify_later(NOTIFY_WAIT, (uint64_t)nt.conf->notify.batch_ms);
}

void
notify_lease(int held)
{
	if (!nt.on)
		return;
	nt.gen++;
	ev_timer_stop(nt.loop, &nt.timer);
	httpc_cancel(nt.req);
	nt.req = NULL;
	nt.attempts = 0;
	nt.step = NOTIFY_OFF;
	if (!held)
		return;
	/* What waits (a crashed sender's batch, events of the hand-over)
	 * goes after one window. */
	nt.dropped_seen = -1;
	notify_later(NOTIFY_WAIT, (uint64_t)nt.conf->notify.batch_ms);
}

int
notify_start(struct ev_loop *loop, struct rconn *rc, struct httpc *http,
    const struct conf *conf, struct lease *lease)
{
	memset(&nt, 0, sizeof(nt));
	if (!conf->notify.enabled)
		return 0;
	nt.on = 1;
	nt.loop = loop;
	nt.rc = rc;
	nt.http = http;
	nt.conf = conf;
	nt.lease = lease;
	nt.step = NOTIFY_OFF;
	nt.dropped_seen = -1;
	return 0;
}

void
notify_stop(void)
{
	if (!nt.on)
		return;
	ev_timer_stop(nt.loop, &nt.timer);
	httpc_cancel(nt.req);
	nt.req = NULL;
	nt.step = NOTIFY_OFF;
	nt.on = 0;
}

void
notify_stats(struct notify_stats *out)
{
	*out = nt.stats;
}
