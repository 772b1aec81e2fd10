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

#include <hiredis/hiredis.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/rscript.h"
#include "common/scripts.h"
#include "workers/health/notify.h"
#include "workers/health/notify_text.h"
#include "workers/lease.h"

#define NOTIFY_POLL_MS		10000	/* the outbox is looked at anyway */
#define NOTIFY_BACKOFF_MIN_MS	1000
#define NOTIFY_BACKOFF_MAX_MS	60000
#define NOTIFY_RETRY_AFTER_MAX_MS 600000

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

	if (!notify_current(arg))
		return;
	nt.req = NULL;
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
		nt.stats.rejected++;
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
	const char *v[NOTIFY_BATCH];
	struct httpc_opts o;
	size_t n = 0, taken;
	char *body;

	for (; n < events->elements && n < NOTIFY_BATCH; n++)
		v[n] = events->element[n]->type == REDIS_REPLY_STRING ?
		    events->element[n]->str : NULL;
	if ((body = notify_text_body(v, n, nt.dropped_unsaid, &taken)) ==
	    NULL) {
		notify_later(NOTIFY_WAIT, NOTIFY_BACKOFF_MIN_MS);
		return;
	}
	nt.nposted = (long long)taken;
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
		nt.stats.dropped += (uint64_t)(dropped - nt.dropped_seen);
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

void
notify_start(struct ev_loop *loop, struct rconn *rc, struct httpc *http,
    const struct conf *conf, struct lease *lease)
{
	memset(&nt, 0, sizeof(nt));
	if (!conf->notify.enabled)
		return;
	nt.on = 1;
	nt.loop = loop;
	nt.rc = rc;
	nt.http = http;
	nt.conf = conf;
	nt.lease = lease;
	nt.step = NOTIFY_OFF;
	nt.dropped_seen = -1;
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
