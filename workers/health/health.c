/*
 * health: the health checker (SPEC §7), a singleton duty: it acts only
 * while this host holds the health lease (workers/lease.c), and its writes
 * are fenced by that lease, so two olb hosts on one Redis never both record
 * a probe or both change a state.
 *
 * Targets: the instances of instance_details that serve or are about to
 * (pending, running, unhealthy, draining), read again every HEALTH_READ_MS
 * and soon after an instance.* event of another role (a launch is probed
 * at once), at most every HEALTH_READ_GAP_MS: a read of 10,000 records is
 * the worker's largest cost.  The changes its own results make are applied
 * to the targets as Redis answers them.
 * A pending instance is probed every health.pending_interval_ms and becomes
 * running at its first 2xx; the others every health.interval_ms, each at its
 * own offset in the interval (from its id), so a round is spread over the
 * interval instead of starting all at once.
 *
 * Results are written in batches of up to HEALTH_BATCH, one health_record
 * script each (the earlier service's history and stats, the consecutive
 * count, and the state change health.fall / health.rise call for), so the
 * Redis cost per probe is a small constant.  The script answers the changes
 * it applied; the worker publishes one event for each.  An instance that
 * leaves the targets (terminated, removed) has its history and stats kept
 * for HEALTH_GONE_TTL_S, then they expire.
 *
 * Panic (health.panic_percent): when most of a role fails at once by the
 * last probes, the role is held (its running instances stay running) and
 * <prefix>health:panic tells the scaler to replace none of it.  The holder
 * of the health lease is also the cluster's webhook sender (notify.c).
 *
 * Ownership: the targets and the batch are the worker's; probes (their
 * httpc transfers) are cancelled by probes_free at cleanup.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "common/conf.h"
#include "common/events.h"
#include "common/httpc.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/registry.h"
#include "common/rscript.h"
#include "common/scripts.h"
#include "common/util.h"
#include "workers/health/notify.h"
#include "workers/lease.h"
#include "workers/probe.h"
#include "workers/worker.h"

#define HEALTH_READ_MS		5000	/* the targets are read again */
#define HEALTH_SOON_MS		20	/* ... and soon after an instance event */
#define HEALTH_READ_GAP_MS	250	/* ... but reads are this far apart */
#define HEALTH_TICK_MS		50	/* due probes are started */
#define HEALTH_FLUSH_MS		20	/* results wait at most this for a batch */
#define HEALTH_BATCH		40	/* results per health_record call */
#define HEALTH_GONE_TTL_S	"86400"	/* history and stats of a gone instance */
#define HEALTH_EARLY		8	/* reports of instances not read yet */
#define HEALTH_EARLY_MS		5000	/* ... kept this long */

/* One instance to probe. */
struct target {
	char		 id[REGISTRY_ID_MAX];
	char		 name[REGISTRY_NAME_MAX];
	char		 ip[REGISTRY_IP_MAX];
	uint16_t	 port;
	int		 is_master;
	int		 pending;
	int		 serving;	/* running or unhealthy: counts for panic */
	int		 unhealthy;
	int		 last;		/* the last probe here: 1 ok, -1 failed,
					   0 none since the lease was taken */
	int		 suspect;	/* a proxy reported it: probed fast */
	uint64_t	 due;		/* mono ms: the next probe */
};

static struct health {
	struct worker		*w;
	const struct conf	*conf;
	struct httpc		*http;
	struct probes		*probes;
	struct lease		*lease;
	struct rconn		*sub;		/* the monitoring channel */
	struct ev_timer		 read_timer, tick_timer, flush_timer;
	int			 reading;
	uint64_t		 read_at;	/* mono ms of the last read sent */
	int			 stopped;	/* cleaned up: late replies only */
	struct target		*targets;	/* sorted by id */
	size_t			 ntargets;
	/* Instances a proxy reported before this worker read them. */
	struct {
		char		 id[REGISTRY_ID_MAX];
		uint64_t	 at;		/* mono ms */
	}			 early[HEALTH_EARLY];
	/* The results waiting for the next health_record call. */
	struct {
		char		 id[REGISTRY_ID_MAX];
		int		 ok;
		char		*json;		/* owned */
	}			 res[HEALTH_BATCH];
	size_t			 nbatch;
	/* The roles in panic (FLEET roles: master, client), as this holder
	 * last wrote them; -1: not known yet. */
	int			 panic[2];
	struct {
		struct metric	*probes_ok, *probes_failed;
		struct metric_hist *probe_time;
		struct metric	*posts[3];	/* delivered, failed, refused */
		struct metric	*dropped;
	}			 m;
} h;

static void
health_metrics_init(void)
{
	static const char *const results[3] = { "delivered", "failed", "refused" };

	h.m.probes_ok = metric_counter("olb_health_probes_total",
	    "result=\"success\"");
	h.m.probes_failed = metric_counter("olb_health_probes_total",
	    "result=\"failure\"");
	h.m.probe_time = metric_histogram("olb_health_probe_duration_seconds", NULL);
	for (int i = 0; i < 3; i++)
		h.m.posts[i] = metric_counter("olb_webhook_posts_total",
		    "result=\"%s\"", results[i]);
	h.m.dropped = metric_counter("olb_webhook_dropped_events_total", NULL);
}

/* The webhook sender's counts, as metrics. */
static void
health_metrics_notify(void)
{
	struct notify_stats st;

	notify_stats(&st);
	metric_set_total(h.m.posts[0], st.posts);
	metric_set_total(h.m.posts[1], st.failures);
	metric_set_total(h.m.posts[2], st.rejected);
	metric_set_total(h.m.dropped, st.dropped);
}

static int
target_cmp(const void *a, const void *b)
{
	return strcmp(((const struct target *)a)->id,
	    ((const struct target *)b)->id);
}

static struct target *
target_find(struct target *v, size_t n, const char *id)
{
	struct target key;

	if (n == 0 || strlen(id) >= sizeof(key.id))
		return NULL;
	snprintf(key.id, sizeof(key.id), "%s", id);
	return bsearch(&key, v, n, sizeof(*v), target_cmp);
}

/* Where in the interval id's probes fall: the same every round. */
static uint64_t
target_offset(const char *id, uint64_t interval)
{
	return interval > 0 ? util_fnv1a(id) % interval : 0;
}

/* Writing results */

static void
health_batch_reset(void)
{
	for (size_t i = 0; i < h.nbatch; i++)
		free(h.res[i].json);
	h.nbatch = 0;
}

/* A state change health_record made, applied to t at once (the next
 * read would find it too, later). */
static void
health_target_moved(struct target *t, const char *to)
{
	int was_pending = t->pending;

	t->pending = 0;
	t->unhealthy = strcmp(to, "unhealthy") == 0;
	t->serving = 1;
	if (t->unhealthy)
		t->suspect = 0;		/* decided */
	if (was_pending)
		t->due = ev_now(h.w->loop) + target_offset(t->id,
		    (uint64_t)h.conf->health.interval_ms);
}

/* One event per state change the script applied: {id, from, to, n}. */
static void
health_on_recorded(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	(void)arg;
	if (h.stopped)
		return;
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		log_warn("health_record: %s", r == NULL ? "no answer from Redis" :
		    r->str);
		if (r != NULL && strstr(r->str, "FENCED") != NULL)
			lease_lost(h.lease, "a write was fenced");
		return;
	}
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		redisReply *c = r->element[i];
		struct target *t;
		const char *id, *from, *to;
		json_object *f;

		if (c->type != REDIS_REPLY_ARRAY || c->elements != 4 ||
		    c->element[0]->type != REDIS_REPLY_STRING ||
		    c->element[1]->type != REDIS_REPLY_STRING ||
		    c->element[2]->type != REDIS_REPLY_STRING)
			continue;
		id = c->element[0]->str;
		from = c->element[1]->str;
		to = c->element[2]->str;
		f = json_object_new_object();
		json_object_object_add(f, "id", json_object_new_string(id));
		if ((t = target_find(h.targets, h.ntargets, id)) != NULL) {
			json_object_object_add(f, "name",
			    json_object_new_string(t->name));
			json_object_object_add(f, "instanceRole",
			    json_object_new_string(t->is_master ? "master" :
			    "client"));
			health_target_moved(t, to);
		}
		if (strcmp(to, "unhealthy") == 0) {
			json_object_object_add(f, "failures", json_object_new_int64(
			    c->element[3]->type == REDIS_REPLY_INTEGER ?
			    -c->element[3]->integer : 0));
			log_warn("%s: %s -> unhealthy", id, from);
			event_publish(EVENT_NOTIFY, "instance.unhealthy", f);
		} else if (strcmp(from, "pending") == 0) {
			log_info("%s answers: running", id);
			event_publish(EVENT_INFO, "instance.running", f);
		} else {
			log_info("%s: %s -> %s", id, from, to);
			event_publish(EVENT_INFO, "instance.recovered", f);
		}
	}
}

/* Panic (SPEC §7) */

static const char *const health_roles[2] = { "master", "client" };

/* Panic of role begins (on) or ends: the event, and the flag the scaler
 * reads. */
static void
health_panic_set(int role, int on, int failing, int total)
{
	json_object *f = json_object_new_object();

	h.panic[role] = on;
	json_object_object_add(f, "instanceRole",
	    json_object_new_string(health_roles[role]));
	json_object_object_add(f, "failing", json_object_new_int(failing));
	json_object_object_add(f, "instances", json_object_new_int(total));
	json_object_object_add(f, "panicPercent",
	    json_object_new_int64(h.conf->health.panic_percent));
	if (on) {
		log_warn("panic: %d of %d %s instances fail at once: olb "
		    "suspects itself, they keep routing and none is replaced",
		    failing, total, health_roles[role]);
		event_publish(EVENT_NOTIFY, "health.panic", f);
		(void)rconn_command(h.w->redis, NULL, NULL, "HSET %s %s %llu",
		    keys_health_panic(), health_roles[role],
		    (unsigned long long)util_wall_ms());
	} else {
		log_info("panic over: %d of %d %s instances fail", failing,
		    total, health_roles[role]);
		event_publish(EVENT_NOTIFY, "health.panic_cleared", f);
		(void)rconn_command(h.w->redis, NULL, NULL, "HDEL %s %s",
		    keys_health_panic(), health_roles[role]);
	}
}

/*
 * Whether each role is in panic now, from the last probe of each of its
 * running and unhealthy instances: more than health.panic_percent of them
 * fail (a role of two or more), or of the whole fleet's while some of the
 * role's fail (so a single master is held too when the fleet looks dead).
 * A role with an instance not probed since the lease was taken keeps its
 * panic as it was.  hold gets the roles held, for health_record.
 */
static void
health_panic_check(char hold[3])
{
	int total[2] = { 0, 0 }, failing[2] = { 0, 0 }, known[2] = { 1, 1 };
	int all, all_failing;
	long long pct = h.conf->health.panic_percent;
	char *p = hold;

	for (size_t i = 0; i < h.ntargets; i++) {
		const struct target *t = &h.targets[i];
		int role = t->is_master ? 0 : 1;

		if (!t->serving)
			continue;
		total[role]++;
		if (t->last == 0)
			known[role] = 0;
		if (t->last < 0 || (t->last == 0 && t->unhealthy))
			failing[role]++;
	}
	all = total[0] + total[1];
	all_failing = failing[0] + failing[1];
	for (int role = 0; role < 2; role++) {
		int now;

		if (h.panic[role] == -1 || (!known[role] && pct < 100))
			continue;
		now = pct < 100 && failing[role] > 0 &&
		    ((total[role] >= 2 && failing[role] * 100 > pct * total[role]) ||
		    (all >= 2 && all_failing * 100 > pct * all));
		if (now != h.panic[role])
			health_panic_set(role, now, failing[role], total[role]);
	}
	if (h.panic[0] == 1)
		*p++ = 'm';
	if (h.panic[1] == 1)
		*p++ = 'c';
	if (p == hold)
		*p++ = '-';
	*p = '\0';
}

/* The panic flags as the last holder left them (so a panic is neither
 * announced twice nor left behind). */
static void
health_on_panic_read(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	(void)arg;
	if (h.stopped || r == NULL || r->type != REDIS_REPLY_ARRAY ||
	    !lease_held(h.lease))
		return;
	h.panic[0] = h.panic[1] = 0;
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		for (int role = 0; role < 2; role++)
			if (r->element[i]->type == REDIS_REPLY_STRING &&
			    strcmp(r->element[i]->str, health_roles[role]) == 0)
				h.panic[role] = 1;
}

/* Send the batch, fenced by the lease; results of a host that lost the
 * lease meanwhile are dropped (the holder probes for itself). */
static void
health_flush(void)
{
	struct scripts_call c;
	char hold[3] = "-";
	size_t i = 0;
	int failed = 0;

	ev_timer_stop(h.w->loop, &h.flush_timer);
	if (h.nbatch == 0)
		return;
	if (lease_held(h.lease)) {
		/* Only failures start a panic, and only a panic ends: a
		 * healthy fleet's batches skip the look at every target. */
		for (i = 0; i < h.nbatch && !failed; i++)
			failed = !h.res[i].ok;
		if (failed || h.panic[0] == 1 || h.panic[1] == 1)
			health_panic_check(hold);
		i = 0;
		if (scripts_call_health_record(&c, h.conf->health.history,
		    h.conf->health.fall, h.conf->health.rise, hold) == 0)
			for (; i < h.nbatch; i++)
				if (scripts_call_health_add(&c, h.res[i].id,
				    h.res[i].ok, h.res[i].json) == -1)
					break;
		if (i == h.nbatch && lease_fence(h.lease, &c) == 0 &&
		    rscript_run(h.w->redis, &c, health_on_recorded, NULL) == -1)
			log_warn("health_record: Redis is down: %zu results "
			    "dropped", h.nbatch);
	}
	health_batch_reset();
}

static void
health_flush_due(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	(void)arg;
	health_flush();
}

/* The record of one probe as history:<id> keeps it. */
static char *
health_record_json(const char *id, const struct probe_result *r)
{
	json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "timestamp", json_object_new_int64(
	    (int64_t)util_wall_ms()));
	json_object_object_add(o, "instanceId", json_object_new_string(id));
	json_object_object_add(o, "healthy", json_object_new_boolean(r->ok));
	json_object_object_add(o, "statusCode", json_object_new_int64(r->status));
	json_object_object_add(o, "responseTimeMs", json_object_new_int64(
	    (int64_t)r->ms));
	json_object_object_add(o, "error", r->error != NULL ?
	    json_object_new_string(r->error) : NULL);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static void
health_on_probe(const char *id, const struct probe_result *r, void *arg)
{
	struct target *t;
	char *json;

	(void)arg;
	metric_add(r->ok ? h.m.probes_ok : h.m.probes_failed, 1);
	metric_observe_us(h.m.probe_time, r->ms * 1000);
	if ((t = target_find(h.targets, h.ntargets, id)) != NULL) {
		t->last = r->ok ? 1 : -1;
		if (r->ok)
			t->suspect = 0;		/* it answers: a false alarm */
	}
	if (!lease_held(h.lease) || strlen(id) >= sizeof(h.res[0].id) ||
	    (json = health_record_json(id, r)) == NULL)
		return;
	/* id is the probe's, gone after this callback: copied. */
	snprintf(h.res[h.nbatch].id, sizeof(h.res[0].id), "%s", id);
	h.res[h.nbatch].ok = r->ok;
	h.res[h.nbatch++].json = json;
	if (h.nbatch == HEALTH_BATCH)
		health_flush();
	else if (!h.flush_timer.armed)
		ev_timer_start(h.w->loop, &h.flush_timer, HEALTH_FLUSH_MS,
		    health_flush_due, NULL);
}

/* Probing */

static void
health_tick(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	uint64_t now = ev_now(loop);

	(void)arg;
	if (lease_held(h.lease)) {
		for (size_t i = 0; i < h.ntargets; i++) {
			struct target *x = &h.targets[i];
			uint64_t every = (uint64_t)(x->suspect ?
			    h.conf->health.suspect_interval_ms : x->pending ?
			    h.conf->health.pending_interval_ms :
			    h.conf->health.interval_ms);

			if (now < x->due)
				continue;
			/* Not due again until a period after this start; one
			 * still in flight is tried at the next tick. */
			if (probes_start(h.probes, x->id, x->ip, x->port, 0,
			    health_on_probe, NULL) != 0)
				x->due = now + every;
		}
	}
	health_metrics_notify();
	ev_timer_start(loop, t, HEALTH_TICK_MS, health_tick, NULL);
}

/* An instance that left the targets: its history and stats expire, its
 * consecutive count goes. */
static void
health_gone(const char *id)
{
	probes_forget(h.probes, id);
	if (!lease_held(h.lease))
		return;
	(void)rconn_command(h.w->redis, NULL, NULL, "EXPIRE %s%s %s",
	    keys_health_history_prefix(), id, HEALTH_GONE_TTL_S);
	(void)rconn_command(h.w->redis, NULL, NULL, "EXPIRE %s%s %s",
	    keys_health_stats_prefix(), id, HEALTH_GONE_TTL_S);
	(void)rconn_command(h.w->redis, NULL, NULL, "HDEL %s %s",
	    keys_health_streak(), id);
}

static int
health_probed_state(const char *state)
{
	return strcmp(state, "pending") == 0 || strcmp(state, "running") == 0 ||
	    strcmp(state, "unhealthy") == 0 || strcmp(state, "draining") == 0;
}

static void	health_suspect_early(void);

/* The instance records: the new targets, keeping each one's schedule. */
static void
health_on_details(struct rconn *rc, redisReply *r, void *arg)
{
	uint64_t now = ev_now(h.w->loop);
	struct target *v = NULL, *old;
	size_t n = 0;

	(void)rc;
	(void)arg;
	h.reading = 0;
	if (h.stopped || r == NULL || r->type != REDIS_REPLY_ARRAY ||
	    (r->elements > 0 && (v = calloc(r->elements / 2, sizeof(*v))) == NULL))
		return;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		struct registry_instance in;
		struct target *t = &v[n];

		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    r->element[i + 1]->type != REDIS_REPLY_STRING ||
		    strlen(r->element[i]->str) >= sizeof(t->id))
			continue;
		registry_decode(r->element[i]->str, r->element[i + 1]->str, &in);
		if (!health_probed_state(in.state) || in.ip[0] == '\0' ||
		    in.port == 0)
			continue;
		memcpy(t->id, in.id, sizeof(t->id));
		memcpy(t->name, in.name, sizeof(t->name));
		memcpy(t->ip, in.ip, sizeof(t->ip));
		t->port = in.port;
		t->is_master = in.is_master;
		t->pending = strcmp(in.state, "pending") == 0;
		t->unhealthy = strcmp(in.state, "unhealthy") == 0;
		t->serving = t->unhealthy || strcmp(in.state, "running") == 0;
		n++;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), target_cmp);
	for (size_t i = 0; i < n; i++) {
		old = target_find(h.targets, h.ntargets, v[i].id);
		if (old != NULL) {
			v[i].suspect = old->suspect;
			v[i].last = old->last;
		}
		if (old != NULL && old->pending == v[i].pending)
			v[i].due = old->due;
		else if (v[i].pending)
			v[i].due = now;
		else
			v[i].due = now + target_offset(v[i].id,
			    (uint64_t)h.conf->health.interval_ms);
	}
	for (size_t i = 0; i < h.ntargets; i++)
		if (target_find(v, n, h.targets[i].id) == NULL)
			health_gone(h.targets[i].id);
	free(h.targets);
	h.targets = v;
	h.ntargets = n;
	health_suspect_early();
}

static void
health_read(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)arg;
	if (lease_held(h.lease) && !h.reading && rconn_is_up(h.w->redis) &&
	    rconn_command(h.w->redis, health_on_details, NULL, "HGETALL %s",
	    keys_instance_details()) == 0) {
		h.reading = 1;
		h.read_at = ev_now(loop);
	}
	ev_timer_start(loop, t, HEALTH_READ_MS, health_read, NULL);
}

/* Read the targets soon (an instance changed), but not sooner than
 * HEALTH_READ_GAP_MS after the last read. */
static void
health_read_soon(void)
{
	uint64_t now = ev_now(h.w->loop), when = now + HEALTH_SOON_MS;

	if (h.read_at + HEALTH_READ_GAP_MS > when)
		when = h.read_at + HEALTH_READ_GAP_MS;
	if (!h.read_timer.armed || h.read_timer.when > when)
		ev_timer_start(h.w->loop, &h.read_timer, when - now,
		    health_read, NULL);
}

/* Probe t now, and fast until it is unhealthy or answers. */
static void
health_suspect_target(struct target *t)
{
	if (t->suspect)
		return;
	log_info("%s reported by a proxy: probing every %lld ms", t->id,
	    (long long)h.conf->health.suspect_interval_ms);
	t->suspect = 1;
	t->due = ev_now(h.w->loop);
}

/* A proxy reported an instance (instance.suspect).  One not read yet (just
 * added) is remembered for a while and the targets are read soon. */
static void
health_suspect(const char *msg)
{
	uint64_t now = ev_now(h.w->loop);
	json_object *o, *v;
	struct target *t;
	const char *id;
	size_t slot = 0;

	if ((o = json_tokener_parse(msg)) == NULL)
		return;
	if (!json_object_object_get_ex(o, "id", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strlen(id = json_object_get_string(v)) >= sizeof(h.early[0].id)) {
		json_object_put(o);
		return;
	}
	if ((t = target_find(h.targets, h.ntargets, id)) != NULL) {
		health_suspect_target(t);
	} else {
		for (size_t i = 1; i < HEALTH_EARLY; i++)
			if (h.early[i].at < h.early[slot].at)
				slot = i;
		snprintf(h.early[slot].id, sizeof(h.early[slot].id), "%s", id);
		h.early[slot].at = now;
		health_read_soon();
	}
	json_object_put(o);
}

/* Reports that came before the targets knew the instance. */
static void
health_suspect_early(void)
{
	uint64_t now = ev_now(h.w->loop);
	struct target *t;

	for (size_t i = 0; i < HEALTH_EARLY; i++) {
		if (h.early[i].at == 0 || now - h.early[i].at > HEALTH_EARLY_MS)
			continue;
		if ((t = target_find(h.targets, h.ntargets, h.early[i].id)) == NULL)
			continue;
		health_suspect_target(t);
		h.early[i].at = 0;
	}
}

/* An instance changed (launched, adopted, added, removed...): read the
 * targets soon rather than at the next period. */
static void
health_on_event(struct rconn *rc, const char *channel, const char *msg,
    size_t len, void *arg)
{
	static const char any[] = "\"type\":\"instance.";
	static const char suspect[] = "\"type\":\"instance.suspect\"";
	static const char notify[] = "\"level\":\"notify\"";
	static const char mine[] = "\"role\":\"health\"";

	(void)rc;
	(void)channel;
	(void)arg;
	if (len > 65536 || !lease_held(h.lease))
		return;
	if (memmem(msg, len, notify, sizeof(notify) - 1) != NULL)
		notify_kick();
	if (memmem(msg, len, any, sizeof(any) - 1) == NULL)
		return;
	if (memmem(msg, len, suspect, sizeof(suspect) - 1) != NULL) {
		health_suspect(msg);
		return;
	}
	/* This worker's own changes are applied as they are made. */
	if (memmem(msg, len, mine, sizeof(mine) - 1) == NULL)
		health_read_soon();
}

/* The role */

static void
health_on_lease(struct lease *l, int held, void *arg)
{
	(void)l;
	(void)arg;
	notify_lease(held);
	h.panic[0] = h.panic[1] = -1;
	if (held) {
		(void)rconn_command(h.w->redis, health_on_panic_read, NULL,
		    "HGETALL %s", keys_health_panic());
		ev_timer_start(h.w->loop, &h.read_timer, 0, health_read, NULL);
		return;
	}
	/* Another host probes now: what is in flight here is not ours to
	 * write, and the next holder starts every schedule afresh. */
	health_batch_reset();
	for (size_t i = 0; i < h.ntargets; i++)
		probes_forget(h.probes, h.targets[i].id);
	free(h.targets);
	h.targets = NULL;
	h.ntargets = 0;
}

static int
health_start(struct worker *w)
{
	memset(&h, 0, sizeof(h));
	h.panic[0] = h.panic[1] = -1;
	h.w = w;
	h.conf = w->conf;
	if ((h.http = httpc_new(w->loop)) == NULL ||
	    (h.probes = probes_new(w->loop, h.http, w->conf)) == NULL ||
	    (h.lease = lease_new(w->redis, "health", w->conf->daemon.lease_ms,
	    health_on_lease, NULL)) == NULL)
		return -1;
	notify_start(w->loop, w->redis, h.http, w->conf, h.lease);
	health_metrics_init();
	h.sub = rconn_new(w->loop, w->conf, "health-events", NULL, NULL);
	if (h.sub == NULL || rconn_subscribe(h.sub, keys_events_channel(),
	    health_on_event, NULL) == -1)
		return -1;
	lease_start(h.lease);
	ev_timer_start(w->loop, &h.read_timer, HEALTH_READ_MS, health_read, NULL);
	ev_timer_start(w->loop, &h.tick_timer, HEALTH_TICK_MS, health_tick, NULL);
	return 0;
}

static void
health_redis_state(struct worker *w, int up)
{
	(void)w;
	if (up)
		lease_retry(h.lease);
}

/* Stop: hand the lease over at once (the next generation after a reload,
 * or another host). */
static void
health_drain(struct worker *w)
{
	ev_timer_stop(w->loop, &h.read_timer);
	ev_timer_stop(w->loop, &h.tick_timer);
	health_flush();
	worker_done_after_lease(w, h.lease);
}

static void
health_cleanup(struct worker *w)
{
	(void)w;
	health_batch_reset();
	notify_stop();
	probes_free(h.probes);
	httpc_free(h.http);
	rconn_free(h.sub);
	lease_free(h.lease);
	free(h.targets);
	h.probes = NULL;
	h.http = NULL;
	h.sub = NULL;
	h.lease = NULL;
	h.targets = NULL;
	h.ntargets = 0;
	h.stopped = 1;
}

static const struct worker_role_ops health_ops = {
	.start = health_start,
	.drain = health_drain,
	.redis_state = health_redis_state,
	.cleanup = health_cleanup,
};

int
health_main(struct worker *w)
{
	return worker_run(w, &health_ops);
}
