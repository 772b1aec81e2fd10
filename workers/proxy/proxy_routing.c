/*
 * proxy_routing: a proxy worker's placement cache kept coherent with Redis
 * (SPEC §4: "the cache is invalidated by pub/sub events ... a reply that is
 * older than the last invalidation it could have missed is never cached").
 * It owns the worker's subscription to the routing channel and applies its
 * messages to the cache that proxy_api.c fills; it talks to Redis through
 * the subscriber and, for the sequence and the pings, the worker's command
 * connection.
 *
 * The coherence rule.
 *
 * Every change that can make a placement stale (a release, any change of an
 * instance) is published on the routing channel by the script that makes it,
 * numbered by one counter (routing:seq); placement and locate answers carry
 * the counter's value when their script ran.  A worker applies each message
 * (a release drops one entry, an instance change drops them all) and keeps
 * the highest number applied, seen.  An answer is cached only if the
 * subscription is valid (below) and its number is not below seen:
 * an answer below it may predate a change already applied, so caching it
 * would undo the change.  Messages arrive in order on one subscription: a
 * gap in the numbers means one was lost, and the cache is emptied.
 *
 * Valid means: subscribed, and nothing missed since.  When the subscription
 * is lost, or found dead (the worker publishes a ping on a channel of its
 * own every ROUTING_PING_MS through its command connection; a ping not received
 * within ROUTING_PING_TIMEOUT_MS after Redis counted the subscriber, or a
 * PUBLISH that reached no subscriber, resets the subscription), the cache
 * stays in use but takes no new entries.  Once subscribed again, one GET of
 * the counter decides: the same number as at the loss means nothing changed,
 * and the cache is valid again as it is; any other number (changes, or a
 * Redis that lost its data) empties it.  So a reconnect costs one round
 * trip, never one per cached account; stale entries can be used only
 * between a change and the moment its loss is noticed (see
 * docs/ARCHITECTURE.md).
 */
#include <sys/queue.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/ev.h"
#include "common/keys.h"
#include "common/log.h"
#include "workers/proxy/pcache.h"
#include "workers/proxy/placement.h"
#include "common/redis.h"
#include "common/util.h"
#include "workers/proxy/proxy.h"
#include "workers/worker.h"

#define ROUTING_PING_MS		1000	/* subscription check period */
#define ROUTING_PING_TIMEOUT_MS	1000	/* a ping not received this long after
					   its PUBLISH answered: dead */
#define ROUTING_WAIT_MS		1000	/* a waiter waits this long at most */

static struct {
	struct proxy		*proxy;
	struct pcache		*cache;		/* proxy_api's */
	struct rconn		*sub;		/* subscriber to the routing channel */
	uint64_t		 seen;		/* highest change number applied */
	uint64_t		 seen_at_loss;
	uint64_t		 sub_max;	/* highest since subscribed */
	int			 valid;		/* every change after seen will
						   arrive: answers may be cached */
	int			 checking;	/* a GET of the sequence in flight */
	int			 ever_valid;
	int			 closed;	/* routing_shutdown ran */
	char			 ping_channel[256];
	uint64_t		 ping_sent;	/* number of the ping in flight, 0 */
	uint64_t		 ping_answered_ms;	/* its PUBLISH answered */
	struct ev_timer		 ping_timer;
	TAILQ_HEAD(, routing_waiter) waiters;	/* borrowed, oldest first */
} rt;

/* Call back (and unlink) the waiters whose message was applied, or all of
 * them (the subscription was lost), or those waiting longer than
 * ROUTING_WAIT_MS. */
static void
routing_wake(int all)
{
	uint64_t now = util_mono_ms();
	struct routing_waiter *w, *next;

	for (w = TAILQ_FIRST(&rt.waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (!all && w->seq > rt.seen && now - w->since < ROUTING_WAIT_MS)
			continue;
		TAILQ_REMOVE(&rt.waiters, w, entry);
		w->linked = 0;
		w->cb(w->arg);
		/* a callback never frees another waiter: next is still valid */
	}
}

int
routing_wait(struct routing_waiter *w, uint64_t seq, void (*cb)(void *),
    void *arg)
{
	if (!rt.valid || seq <= rt.seen || w->linked)
		return 0;
	w->seq = seq;
	w->since = util_mono_ms();
	w->cb = cb;
	w->arg = arg;
	w->linked = 1;
	TAILQ_INSERT_TAIL(&rt.waiters, w, entry);
	return 1;
}

void
routing_wait_cancel(struct routing_waiter *w)
{
	if (!w->linked)
		return;
	TAILQ_REMOVE(&rt.waiters, w, entry);
	w->linked = 0;
}

/* A message numbered seq is applied: note it, and empty the cache if a
 * message before it was lost. */
static void
routing_number(uint64_t seq)
{
	if (seq == 0)
		return;
	if (seq > rt.sub_max)
		rt.sub_max = seq;
	if (rt.valid && seq > rt.seen + 1) {
		log_warn("routing: messages %llu to %llu were lost; forgetting "
		    "every placement", (unsigned long long)rt.seen + 1,
		    (unsigned long long)seq - 1);
		pcache_clear(rt.cache);
	}
	if (seq > rt.seen)
		rt.seen = seq;
}

/* The ping of this worker came back through the subscription. */
static void
routing_pong(const char *msg)
{
	if (rt.ping_sent != 0 && strtoull(msg, NULL, 10) == rt.ping_sent)
		rt.ping_sent = 0;
}

/* A routing message: a release drops one account, any instance change
 * drops everything (rare, and never wrong); then the releases waiting for
 * it are answered. */
static void
routing_on_message(struct rconn *rc, const char *channel, const char *msg, size_t len,
    void *arg)
{
	json_object *o, *op, *actid, *role, *seq;

	(void)rc;
	(void)arg;
	if (strcmp(channel, rt.ping_channel) == 0) {
		routing_pong(msg);
		return;
	}
	if (len == 0 || (o = json_tokener_parse(msg)) == NULL) {
		pcache_clear(rt.cache);
		return;
	}
	if (json_object_object_get_ex(o, "seq", &seq) &&
	    json_object_is_type(seq, json_type_int))
		routing_number((uint64_t)json_object_get_int64(seq));
	if (json_object_object_get_ex(o, "op", &op) &&
	    strcmp(json_object_get_string(op), "release") == 0 &&
	    json_object_object_get_ex(o, "actid", &actid) &&
	    json_object_object_get_ex(o, "role", &role))
		pcache_drop(rt.cache, json_object_get_string(actid),
		    strcmp(json_object_get_string(role), "master") == 0);
	else
		pcache_clear(rt.cache);
	json_object_put(o);
	/* applied: releases waiting for this message may be answered */
	if (!TAILQ_EMPTY(&rt.waiters))
		routing_wake(0);
}

/* The counter as it is now, read after (re)subscribing. */
static void
routing_on_seq(struct rconn *rc, redisReply *reply, void *arg)
{
	uint64_t now;

	(void)rc;
	(void)arg;
	rt.checking = 0;
	if (rt.closed || !rconn_is_up(rt.sub))
		return;		/* lost again meanwhile: checked when back */
	if (reply == NULL || (reply->type != REDIS_REPLY_NIL &&
	    reply->type != REDIS_REPLY_STRING)) {
		log_warn("routing: GET %s: unexpected answer", keys_routing_seq());
		return;
	}
	now = reply->type == REDIS_REPLY_STRING ? strtoull(reply->str, NULL, 10) : 0;
	if (!rt.ever_valid || now != rt.seen_at_loss) {
		if (pcache_count(rt.cache) > 0)
			log_info("routing: %llu changes while unsubscribed; "
			    "forgetting every placement", (unsigned long long)(now >
			    rt.seen_at_loss ? now - rt.seen_at_loss : 0));
		pcache_clear(rt.cache);
	}
	rt.seen = now > rt.sub_max ? now : rt.sub_max;
	rt.valid = 1;
	rt.ever_valid = 1;
}

/* Subscribed but not yet valid: read the counter (both connections up). */
static void
routing_check(void)
{
	if (rt.valid || rt.checking ||
	    !rconn_is_up(rt.sub) || !rconn_is_up(rt.proxy->w->redis))
		return;
	if (rconn_command(rt.proxy->w->redis, routing_on_seq, NULL, "GET %s",
	    keys_routing_seq()) == 0)
		rt.checking = 1;
}

/* The subscription is up (check it) or lost (stop caching). */
static void
routing_on_state(struct rconn *rc, int up, void *arg)
{
	(void)rc;
	(void)arg;
	rt.ping_sent = 0;
	if (up) {
		rt.sub_max = 0;
		routing_check();
		return;
	}
	if (rt.valid)
		rt.seen_at_loss = rt.seen;
	rt.valid = 0;
	routing_wake(1);	/* their messages may never come */
}

int
routing_cacheable(const struct placement *where)
{
	return rt.valid && where->live && where->seq >= rt.seen;
}

static void	routing_on_ping_timer(struct ev_loop *loop, struct ev_timer *t,
    void *arg);

/* The PUBLISH of a ping answered: Redis counted our subscriber, or not. */
static void
routing_on_ping_published(struct rconn *rc, redisReply *reply, void *arg)
{
	(void)rc;
	(void)arg;
	if (rt.closed || rt.ping_sent == 0)
		return;
	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		rt.ping_sent = 0;	/* tried again on the next tick */
		return;
	}
	if (reply->integer == 0 && rconn_is_up(rt.sub)) {
		rt.ping_sent = 0;
		rconn_reset(rt.sub, "not subscribed on the server");
		return;
	}
	/* the message is due now: look again after the timeout */
	rt.ping_answered_ms = util_mono_ms();
	ev_timer_start(rt.proxy->w->loop, &rt.ping_timer, ROUTING_PING_TIMEOUT_MS,
	    routing_on_ping_timer, NULL);
}

/* Every ROUTING_PING_MS: is the subscription still receiving? */
static void
routing_on_ping_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)arg;
	ev_timer_start(loop, t, ROUTING_PING_MS, routing_on_ping_timer, NULL);
	routing_wake(0);	/* those waiting too long */
	routing_check();
	if (!rconn_is_up(rt.sub)) {
		rt.ping_sent = 0;
		return;
	}
	if (rt.ping_sent != 0) {
		if (rt.ping_answered_ms != 0 &&
		    util_mono_ms() - rt.ping_answered_ms >= ROUTING_PING_TIMEOUT_MS) {
			rt.ping_sent = 0;
			rconn_reset(rt.sub, "ping not received");
		}
		return;
	}
	if (!rconn_is_up(rt.proxy->w->redis))
		return;
	rt.ping_sent = util_mono_ms();
	rt.ping_answered_ms = 0;
	if (rconn_command(rt.proxy->w->redis, routing_on_ping_published, NULL,
	    "PUBLISH %s %llu", rt.ping_channel,
	    (unsigned long long)rt.ping_sent) == -1)
		rt.ping_sent = 0;
}

int
routing_init(struct proxy *p, struct pcache *cache)
{
	rt.proxy = p;
	rt.cache = cache;
	TAILQ_INIT(&rt.waiters);
	if (keys_routing_ping(rt.ping_channel, sizeof(rt.ping_channel),
	    util_hostname(), (long)getpid()) == -1)
		return -1;
	rt.sub = rconn_new(p->w->loop, p->conf, "routing", routing_on_state, NULL);
	if (rt.sub == NULL ||
	    rconn_subscribe(rt.sub, keys_routing_channel(), routing_on_message,
	    NULL) == -1 ||
	    rconn_subscribe(rt.sub, rt.ping_channel, routing_on_message, NULL) == -1)
		return -1;
	ev_timer_start(p->w->loop, &rt.ping_timer, ROUTING_PING_MS,
	    routing_on_ping_timer, NULL);
	return 0;
}

void
routing_redis_up(void)
{
	routing_check();
}

void
routing_shutdown(void)
{
	rt.closed = 1;
	while (!TAILQ_EMPTY(&rt.waiters))
		routing_wait_cancel(TAILQ_FIRST(&rt.waiters));
	if (rt.proxy != NULL)
		ev_timer_stop(rt.proxy->w->loop, &rt.ping_timer);
	rconn_free(rt.sub);
	rt.sub = NULL;
}
