/*
 * scheduler: the daily fleet jobs (SPEC §9) at wall-clock times in
 * scheduler.timezone, exactly once across hosts, restarts and reloads.
 *
 * A singleton duty under "lease:scheduler" (workers/lease.c).  Every
 * write is a fenced call of common/lua/schedule.lua or daily_reset.lua, so
 * a host that lost the lease writes nothing.  What is due comes from
 * common/schedule.c: the holder reads "checked" (every run at or before
 * it was handled) and "current" (the run under way) from schedule:state,
 * and claims in one script call the latest run due since checked, records
 * the older ones as missed and moves checked to now.  A claimed run's
 * record says started until the run ends; a holder that dies leaves it so,
 * and the next holder (another host, the next generation after a reload,
 * the respawned worker) finds it as current and resumes it: both actions
 * are idempotent.  A run that falls due while another is under way
 * overtakes it (the older one is recorded failed).
 *
 * Between runs the process sleeps until the next one (at most
 * SCHED_SLEEP_MAX_MS at a time, so a stepped wall clock is noticed): no
 * polling.  During a run it reads the fleet every SCHED_POLL_MS.
 *
 * The actions:
 *   fleet_up    the desired fleet up with scaling.initial_instances (the
 *               first a master; never lowering a fleet already up), then
 *               wait until that many managed instances run;
 *   fleet_down  the desired fleet down, wait until no managed instance
 *               and no launch is left, then the daily reset (archive the
 *               day's placements, counts, mappings and counters to zero).
 * Each waits at most scheduler.run_timeout_ms, then fails naming what is
 * missing or left.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/conf.h"
#include "common/cron.h"
#include "common/crontz.h"
#include "common/events.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/registry.h"
#include "common/rscript.h"
#include "common/schedule.h"
#include "common/util.h"
#include "workers/lease.h"
#include "workers/worker.h"

#define SCHED_SLEEP_MAX_MS	60000	/* longest sleep between looks at the clock */
#define SCHED_POLL_MS		500	/* a run's look at the fleet */
#define SCHED_RETRY_MS		1000	/* after Redis did not answer */
#define SCHED_MISSED_MAX	40	/* missed runs recorded per plan */
#define SCHED_SURVIVORS_MAX	20	/* instances named by a failed fleet_down */

enum sched_action { SCHED_UP, SCHED_DOWN };

/* Results of a run, as olb_schedule_runs_total counts them. */
enum sched_result { SCHED_FINISHED, SCHED_FAILED, SCHED_MISSED };
static const char *const sched_results[3] = { "finished", "failed", "missed" };

enum sched_step { STEP_DESIRE, STEP_WAIT, STEP_RESET, STEP_FINISH };

/* The run this holder carries out. */
struct sched_run {
	int			 active;
	uintptr_t		 gen;		/* tells its replies from an older run's */
	size_t			 job;		/* index in s.jobs */
	int64_t			 at;		/* scheduled, ms (scheduler clock) */
	char			 how[16];	/* due, catch-up, manual */
	enum sched_step		 step;
	int			 busy;		/* a Redis call in flight */
	uint64_t		 deadline;	/* monotonic ms */
	uint64_t		 began;		/* monotonic ms */
	long long		 launches;	/* read with the fleet */
	int			 failed;
	char			 detail[512];
	json_object		*survivors;	/* names, for a failed fleet_down */
};

static struct {
	struct worker		*w;
	const struct conf	*conf;
	struct lease		*lease;
	struct rconn		*sub;		/* events: olbctl's run requests */
	struct schedule_job	*jobs;
	enum sched_action	*actions;
	struct metric		*(*counts)[3];	/* per job: olb_schedule_runs_total */
	size_t			 njobs;
	struct ev_timer		 wake;		/* the next run falls due */
	struct ev_timer		 step_timer;	/* the run's next step */
	int64_t			 next_at;	/* ms; 0 when none */
	struct ev_timer		 retry;		/* plan again after a failure */
	int			 planning;	/* a plan in flight */
	int			 replan;	/* plan again when it is answered */
	int64_t			 woke_for;	/* ms: the run the wake timer was for */
	size_t			 pending_job;	/* the run a plan call claims */
	int64_t			 pending_at;
	const char		*pending_how;
	struct sched_run	 run;
	uintptr_t		 runs;		/* runs started: the next gen */
	int			 stopped;
} s;

static void	sched_plan(void);
static void	sched_step(void);
static void	sched_arm(void);

static const char *
sched_action_name(enum sched_action a)
{
	return a == SCHED_UP ? "fleet_up" : "fleet_down";
}

static size_t
sched_job_find(const char *name)
{
	for (size_t i = 0; i < s.njobs; i++)
		if (strcmp(s.jobs[i].name, name) == 0)
			return i;
	return s.njobs;
}

/* "2026-12-06T23:52+0530": a scheduled time as the zone shows it. */
static void
sched_local(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	if (strftime(buf, size, "%Y-%m-%dT%H:%M%z", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)ms);
}

/* The fields every schedule.* event carries. */
static json_object *
sched_event_fields(size_t job, int64_t at, const char *how)
{
	json_object *f = json_object_new_object();
	char local[64];

	sched_local(at, local, sizeof(local));
	json_object_object_add(f, "job", json_object_new_string(s.jobs[job].name));
	json_object_object_add(f, "action",
	    json_object_new_string(sched_action_name(s.actions[job])));
	json_object_object_add(f, "scheduled", json_object_new_int64(at));
	json_object_object_add(f, "scheduledLocal", json_object_new_string(local));
	json_object_object_add(f, "timezone",
	    json_object_new_string(s.conf->scheduler.timezone));
	if (how != NULL)
		json_object_object_add(f, "how", json_object_new_string(how));
	return f;
}

/* A reply of a fenced write: 1 if usable; on FENCED the lease is given up. */
static int
sched_reply_ok(redisReply *r, const char *what)
{
	if (r != NULL && r->type != REDIS_REPLY_ERROR)
		return 1;
	log_warn("%s: %s", what, r == NULL ? "no answer from Redis" : r->str);
	if (r != NULL && strstr(r->str, "FENCED") != NULL)
		lease_lost(s.lease, "a write was fenced");
	return 0;
}

/* Build and send one schedule.lua call; 0 if sent. */
static int
sched_call(const char *op, const char *const *args, size_t n,
    rconn_reply_cb *cb, void *arg)
{
	struct scripts_call c;
	char now[24];

	snprintf(now, sizeof(now), "%lld", (long long)schedule_now_ms());
	if (!lease_held(s.lease) ||
	    scripts_call_schedule(&c, lease_key(s.lease), lease_token(s.lease),
	    op, now, util_hostname(), (long long)s.conf->scheduler.history,
	    args, n) == -1)
		return -1;
	return rscript_run(s.w->redis, &c, cb, arg);
}

/* The run */

static void
sched_run_clear(void)
{
	ev_timer_stop(s.w->loop, &s.step_timer);
	json_object_put(s.run.survivors);
	memset(&s.run, 0, sizeof(s.run));
}

static void
sched_on_step_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	(void)arg;
	sched_step();
}

static void
sched_step_later(uint64_t ms)
{
	ev_timer_start(s.w->loop, &s.step_timer, ms, sched_on_step_timer, NULL);
}

/* A step sent its Redis call (rv 0): busy until it is answered; or it
 * could not (rv -1): the step is tried again after SCHED_RETRY_MS. */
static void
sched_sent(int rv)
{
	if (rv == 0)
		s.run.busy = 1;
	else
		sched_step_later(SCHED_RETRY_MS);
}

/* The argument of a run's Redis calls: its generation. */
#define SCHED_GEN	((void *)s.run.gen)

/* A reply during a run (arg: the generation of the run that sent it): 1 if
 * the run may go on with it; a reply to an ended run is ignored. */
static int
sched_run_reply(redisReply *r, void *arg, const char *what)
{
	if (s.stopped || !s.run.active || (uintptr_t)arg != s.run.gen)
		return 0;
	s.run.busy = 0;
	if (!sched_reply_ok(r, what)) {
		if (s.run.active && lease_held(s.lease))
			sched_step_later(SCHED_RETRY_MS);
		return 0;
	}
	return 1;
}

static void
sched_run_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sched_run_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s.run.detail, sizeof(s.run.detail), fmt, ap);
	va_end(ap);
	s.run.failed = 1;
	s.run.step = STEP_FINISH;
}

static void
sched_on_finished(struct rconn *rc, redisReply *r, void *arg)
{
	json_object *f;

	(void)rc;
	if (!sched_run_reply(r, arg, "schedule finish"))
		return;
	f = sched_event_fields(s.run.job, s.run.at, s.run.how);
	json_object_object_add(f, "durationMs", json_object_new_int64(
	    (int64_t)(util_mono_ms() - s.run.began)));
	json_object_object_add(f, s.run.failed ? "error" : "detail",
	    json_object_new_string(s.run.detail));
	if (s.run.survivors != NULL)
		json_object_object_add(f, "survivors",
		    json_object_get(s.run.survivors));
	if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
		log_info("%s %s: %s", s.jobs[s.run.job].name,
		    s.run.failed ? "failed" : "finished", s.run.detail);
		event_publish(s.run.failed ? EVENT_NOTIFY : EVENT_INFO,
		    s.run.failed ? "schedule.failed" : "schedule.finished", f);
		metric_add(s.counts[s.run.job][s.run.failed ? SCHED_FAILED :
		    SCHED_FINISHED], 1);
	} else {
		log_warn("%s: the run's record is no longer this holder's; "
		    "not recorded", s.jobs[s.run.job].name);
		json_object_put(f);
	}
	sched_run_clear();
}

static void
sched_finish(void)
{
	char at[24];
	const char *args[4];

	snprintf(at, sizeof(at), "%lld", (long long)s.run.at);
	args[0] = s.jobs[s.run.job].name;
	args[1] = at;
	args[2] = s.run.failed ? "failed" : "finished";
	args[3] = s.run.detail;
	sched_sent(sched_call("finish", args, 4, sched_on_finished, SCHED_GEN));
}

static void
sched_on_desired(struct rconn *rc, redisReply *r, void *arg)
{
	json_object *f;

	(void)rc;
	if (!sched_run_reply(r, arg, "schedule desire"))
		return;
	f = json_object_new_object();
	json_object_object_add(f, "state", json_object_new_string(
	    s.actions[s.run.job] == SCHED_UP ? "up" : "down"));
	json_object_object_add(f, "job", json_object_new_string(
	    s.jobs[s.run.job].name));
	event_publish(EVENT_NOTIFY, "fleet.changed", f);
	s.run.step = STEP_WAIT;
	sched_step();
}

/* The desired fleet for the run's action. */
static void
sched_desire(void)
{
	long long n = s.conf->scaling.initial_instances;
	char m[24], c[24], at[24];
	const char *args[8];
	int up = s.actions[s.run.job] == SCHED_UP;

	snprintf(m, sizeof(m), "%lld", up && n > 0 ? 1LL : 0LL);
	snprintf(c, sizeof(c), "%lld", up && n > 1 ? n - 1 : 0LL);
	snprintf(at, sizeof(at), "%llu", (unsigned long long)util_wall_ms());
	args[0] = "state";
	args[1] = up ? "up" : "down";
	args[2] = "masters";
	args[3] = m;
	args[4] = "clients";
	args[5] = c;
	args[6] = "changedAt";
	args[7] = at;
	sched_sent(sched_call("desire", args, 8, sched_on_desired, SCHED_GEN));
}

static void
sched_on_launches(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	if ((uintptr_t)arg != s.run.gen)
		return;
	s.run.launches = r != NULL && r->type == REDIS_REPLY_INTEGER ?
	    r->integer : -1;
}

/* What the fleet read shows, against the run's action. */
struct sched_tally {
	long long	 running[2];	/* managed running masters, clients */
	long long	 left;		/* managed, not terminated */
	json_object	*names;		/* of those left */
};

static void
sched_tally_add(struct sched_tally *t, const struct registry_instance *in,
    const struct conf *conf)
{
	if (strcmp(in->provider, conf_provider_name(conf->provider.type)) != 0 ||
	    strcmp(in->cluster, conf->provider.cluster) != 0)
		return;
	if (strcmp(in->state, "running") == 0)
		t->running[in->is_master ? 0 : 1]++;
	if (strcmp(in->state, "terminated") != 0) {
		t->left++;
		if (json_object_array_length(t->names) < SCHED_SURVIVORS_MAX)
			json_object_array_add(t->names, json_object_new_string(
			    in->name[0] != '\0' ? in->name : in->id));
	}
}

static void
sched_on_fleet(struct rconn *rc, redisReply *r, void *arg)
{
	struct sched_tally t = { { 0, 0 }, 0, NULL };
	struct registry_instance in;
	long long n = s.conf->scaling.initial_instances;
	long long want[2] = { n > 0 ? 1 : 0, n > 1 ? n - 1 : 0 };

	(void)rc;
	if (!sched_run_reply(r, arg, "schedule: reading the fleet"))
		return;
	if (r->type != REDIS_REPLY_ARRAY || s.run.launches < 0) {
		sched_step_later(SCHED_RETRY_MS);
		return;
	}
	t.names = json_object_new_array();
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    r->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		registry_decode(r->element[i]->str, r->element[i + 1]->str, &in);
		sched_tally_add(&t, &in, s.conf);
	}
	if (s.actions[s.run.job] == SCHED_UP) {
		if (t.running[0] >= want[0] && t.running[1] >= want[1]) {
			snprintf(s.run.detail, sizeof(s.run.detail), "fleet up: "
			    "%lld master(s), %lld client(s) running",
			    t.running[0], t.running[1]);
			s.run.step = STEP_FINISH;
		} else if (util_mono_ms() >= s.run.deadline) {
			sched_run_fail("fleet up: %lld of %lld master(s) and %lld of "
			    "%lld client(s) running after %lld ms", t.running[0],
			    want[0], t.running[1], want[1],
			    (long long)s.conf->scheduler.run_timeout_ms);
		}
	} else if (t.left == 0 && s.run.launches == 0) {
		s.run.step = STEP_RESET;
	} else if (util_mono_ms() >= s.run.deadline) {
		sched_run_fail("fleet down: %lld instance(s) and %lld launch(es) "
		    "left after %lld ms", t.left, s.run.launches,
		    (long long)s.conf->scheduler.run_timeout_ms);
		s.run.survivors = json_object_get(t.names);
	}
	json_object_put(t.names);
	if (s.run.step == STEP_WAIT)
		sched_step_later(SCHED_POLL_MS);
	else
		sched_step();
}

static void
sched_read_fleet(void)
{
	s.run.launches = -1;
	sched_sent(rconn_command(s.w->redis, sched_on_launches, SCHED_GEN,
	    "HLEN %s", keys_launches()) == 0 &&
	    rconn_command(s.w->redis, sched_on_fleet, SCHED_GEN, "HGETALL %s",
	    keys_instance_details()) == 0 ? 0 : -1);
}

static void
sched_on_reset(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	if (!sched_run_reply(r, arg, "daily_reset"))
		return;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER &&
	    r->element[1]->type == REDIS_REPLY_INTEGER)
		snprintf(s.run.detail, sizeof(s.run.detail), "fleet down; %lld "
		    "master and %lld client placement(s) archived, counts and "
		    "names reset", r->element[0]->integer, r->element[1]->integer);
	s.run.step = STEP_FINISH;
	sched_step();
}

/* The day's archive is named by the scheduled time's local date. */
static void
sched_reset(void)
{
	char archive[KEYS_NAME_MAX];
	struct scripts_call c;
	int date = schedule_date((time_t)(s.run.at / 1000));

	snprintf(archive, sizeof(archive), "%s%04d-%02d-%02d:",
	    keys_archive_prefix(), date / 10000, date / 100 % 100, date % 100);
	sched_sent(lease_held(s.lease) && scripts_call_daily_reset(&c,
	    lease_key(s.lease), lease_token(s.lease), archive,
	    (long long)s.conf->scheduler.archive_ttl_ms) == 0 &&
	    rscript_run(s.w->redis, &c, sched_on_reset, SCHED_GEN) == 0 ? 0 : -1);
}

/* Carry the run on from its step (each step is idempotent, so a retry or
 * a resumed run repeats one safely). */
static void
sched_step(void)
{
	if (s.stopped || !s.run.active || s.run.busy || !lease_held(s.lease))
		return;
	ev_timer_stop(s.w->loop, &s.step_timer);
	switch (s.run.step) {
	case STEP_DESIRE:
		sched_desire();
		break;
	case STEP_WAIT:
		sched_read_fleet();
		break;
	case STEP_RESET:
		sched_reset();
		break;
	case STEP_FINISH:
		sched_finish();
		break;
	}
}

static void
sched_run_start(size_t job, int64_t at, const char *how, int resumed)
{
	json_object *f;

	sched_run_clear();
	s.run.active = 1;
	s.run.gen = ++s.runs;
	s.run.job = job;
	s.run.at = at;
	snprintf(s.run.how, sizeof(s.run.how), "%s", how);
	s.run.step = STEP_DESIRE;
	s.run.began = util_mono_ms();
	s.run.deadline = s.run.began + (uint64_t)s.conf->scheduler.run_timeout_ms;
	f = sched_event_fields(job, at, how);
	if (resumed)
		json_object_object_add(f, "resumed", json_object_new_boolean(1));
	log_info("%s (%s) %s", s.jobs[job].name, sched_action_name(s.actions[job]),
	    resumed ? "resumed" : "started");
	event_publish(EVENT_INFO, "schedule.started", f);
	sched_step();
}

/* The plan */

/* What the holder claims next, from schedule:state. */
struct sched_claim {
	size_t		 job;		/* s.njobs: nothing */
	int64_t		 at;
	const char	*how;
	char		 checked[24];	/* "" keeps it */
	struct schedule_due missed[SCHED_MISSED_MAX];
	size_t		 nmissed;
};

/* Decide from schedule:state (r, an HGETALL answer): the due run, else an
 * operator's request (run now: it overtakes a run under way), else the run
 * under way, to resume if its holder is gone. */
static void
sched_decide(const redisReply *r, struct sched_claim *cl)
{
	const char *checked = redis_hash_field(r, "checked"), *cur;
	int64_t now = schedule_now_ms();
	struct schedule_due run;
	char name[128];
	long long at;

	snprintf(cl->checked, sizeof(cl->checked), "%lld", (long long)now);
	cl->nmissed = schedule_due(s.jobs, s.njobs,
	    checked != NULL ? (time_t)(strtoll(checked, NULL, 10) / 1000) : 0,
	    (time_t)(now / 1000), &run, cl->missed, SCHED_MISSED_MAX,
	    (size_t)s.conf->scheduler.history);
	if ((cl->job = run.job) < s.njobs) {
		cl->at = (int64_t)run.at * 1000;
		cl->how = cl->at == s.woke_for ? "due" : "catch-up";
		return;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i];

		if (k->type == REDIS_REPLY_STRING &&
		    strncmp(k->str, "request:", 8) == 0 &&
		    (cl->job = sched_job_find(k->str + 8)) < s.njobs) {
			cl->at = strtoll(r->element[i + 1]->str, NULL, 10);
			cl->how = "manual";
			return;
		}
	}
	if ((cur = redis_hash_field(r, "current")) != NULL &&
	    sscanf(cur, "%127[^@]@%lld", name, &at) == 2 &&
	    (cl->job = sched_job_find(name)) < s.njobs) {
		cl->at = at;
		cl->how = "resumed";
		return;
	}
	cl->job = s.njobs;
}

static void
sched_on_retry(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	(void)arg;
	sched_plan();
}

static void
sched_plan_failed(void)
{
	s.planning = 0;
	if (!s.stopped && lease_held(s.lease))
		ev_timer_start(s.w->loop, &s.retry, SCHED_RETRY_MS, sched_on_retry,
		    NULL);
}

/* The claim answered: events for the missed runs, then the run. */
static void
sched_on_planned(struct rconn *rc, redisReply *r, void *arg)
{
	const char *claim;
	json_object *f;
	char name[128];
	long long at;
	size_t k;

	(void)rc;
	(void)arg;
	if (s.stopped)
		return;
	if (!sched_reply_ok(r, "schedule plan") || r->type != REDIS_REPLY_ARRAY ||
	    r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING) {
		sched_plan_failed();
		return;
	}
	s.planning = 0;
	for (size_t i = 2; i + 1 < r->elements; i += 2) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    r->element[i + 1]->type != REDIS_REPLY_STRING ||
		    (k = sched_job_find(r->element[i]->str)) == s.njobs)
			continue;
		f = sched_event_fields(k, strtoll(r->element[i + 1]->str, NULL, 10),
		    NULL);
		log_warn("%s: the run of %s was missed", s.jobs[k].name,
		    json_object_get_string(json_object_object_get(f,
		    "scheduledLocal")));
		event_publish(EVENT_NOTIFY, "schedule.missed", f);
		metric_add(s.counts[k][SCHED_MISSED], 1);
	}
	/* the run under way here, overtaken by the one claimed */
	if (s.run.active && sscanf(r->element[1]->str, "%127[^@]@%lld", name,
	    &at) == 2 && strcmp(name, s.jobs[s.run.job].name) == 0 &&
	    at == s.run.at) {
		f = sched_event_fields(s.run.job, s.run.at, s.run.how);
		json_object_object_add(f, "error", json_object_new_string(
		    "overtaken by a later run"));
		log_warn("%s: overtaken by a later run", s.jobs[s.run.job].name);
		event_publish(EVENT_NOTIFY, "schedule.failed", f);
		metric_add(s.counts[s.run.job][SCHED_FAILED], 1);
		sched_run_clear();
	}
	claim = r->element[0]->str;
	if (s.pending_job < s.njobs && (strcmp(claim, "claimed") == 0 ||
	    strcmp(claim, "resumed") == 0))
		sched_run_start(s.pending_job, s.pending_at, s.pending_how,
		    strcmp(claim, "resumed") == 0);
	if (s.replan) {
		s.replan = 0;
		sched_plan();
	}
}

/* schedule:state read: claim what is due (and record what was missed). */
static void
sched_on_state(struct rconn *rc, redisReply *r, void *arg)
{
	struct sched_claim cl;
	const char *args[8 + 3 * SCHED_MISSED_MAX];
	char at[24], mat[SCHED_MISSED_MAX][24];
	size_t n = 0;

	(void)rc;
	(void)arg;
	if (s.stopped)
		return;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || !lease_held(s.lease)) {
		sched_plan_failed();
		return;
	}
	sched_decide(r, &cl);
	if (cl.job == s.njobs && cl.nmissed == 0) {
		s.planning = 0;		/* nothing due, nothing to record */
		if (s.replan) {
			s.replan = 0;
			sched_plan();
		}
		return;
	}
	snprintf(at, sizeof(at), "%lld", (long long)cl.at);
	args[n++] = cl.checked;
	args[n++] = cl.job < s.njobs ? s.jobs[cl.job].name : "";
	args[n++] = at;
	args[n++] = cl.job < s.njobs ? sched_action_name(s.actions[cl.job]) : "";
	args[n++] = cl.job < s.njobs ? cl.how : "";
	for (size_t i = 0; i < cl.nmissed; i++) {
		snprintf(mat[i], sizeof(mat[i]), "%lld",
		    (long long)cl.missed[i].at * 1000);
		args[n++] = s.jobs[cl.missed[i].job].name;
		args[n++] = mat[i];
		args[n++] = sched_action_name(s.actions[cl.missed[i].job]);
	}
	s.pending_job = cl.job;
	s.pending_at = cl.at;
	s.pending_how = cl.how;
	if (sched_call("plan", args, n, sched_on_planned, NULL) == -1)
		sched_plan_failed();
}

/* Look at what is due now (after a wake, the lease, a request). */
static void
sched_plan(void)
{
	if (s.stopped || !lease_held(s.lease))
		return;
	if (s.planning) {
		s.replan = 1;
		return;
	}
	ev_timer_stop(s.w->loop, &s.retry);
	s.planning = 1;
	if (rconn_command(s.w->redis, sched_on_state, NULL, "HGETALL %s",
	    keys_schedule_state()) == -1)
		sched_plan_failed();
}

static void
sched_on_wake(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	(void)arg;
	if (s.next_at != 0 && schedule_now_ms() >= s.next_at) {
		s.woke_for = s.next_at;
		sched_plan();
	}
	sched_arm();
}

/* Sleep until the next run of any job (or SCHED_SLEEP_MAX_MS). */
static void
sched_arm(void)
{
	struct schedule_due next;
	uint64_t wait = SCHED_SLEEP_MAX_MS;

	s.next_at = 0;
	if (schedule_upcoming(s.jobs, s.njobs,
	    (time_t)(schedule_now_ms() / 1000), &next) == 0) {
		s.next_at = (int64_t)next.at * 1000;
		if (schedule_wait_ms(s.next_at) < wait)
			wait = schedule_wait_ms(s.next_at);
	}
	ev_timer_start(s.w->loop, &s.wake, wait, sched_on_wake, NULL);
}

/* olbctl schedule run JOB: plan at once. */
static void
sched_on_event(struct rconn *rc, const char *channel, const char *msg,
    size_t len, void *arg)
{
	static const char requested[] = "\"type\":\"schedule.requested\"";

	(void)rc;
	(void)channel;
	(void)arg;
	if (len < 65536 && memmem(msg, len, requested, sizeof(requested) - 1))
		sched_plan();
}

/* The role */

static void
sched_on_lease(struct lease *l, int held, void *arg)
{
	(void)l;
	(void)arg;
	if (held) {
		sched_plan();
		return;
	}
	/* Another holder carries on from the records. */
	ev_timer_stop(s.w->loop, &s.retry);
	sched_run_clear();
	s.planning = s.replan = 0;
}

/* The jobs of the configuration, compiled (conf.c checked them). */
static int
sched_jobs_load(const struct conf *conf)
{
	char err[256];

	if (conf->scheduler.njobs == 0)
		return 0;
	s.jobs = calloc(conf->scheduler.njobs, sizeof(*s.jobs));
	s.actions = calloc(conf->scheduler.njobs, sizeof(*s.actions));
	s.counts = calloc(conf->scheduler.njobs, sizeof(*s.counts));
	if (s.jobs == NULL || s.actions == NULL || s.counts == NULL)
		return -1;
	for (size_t i = 0; i < conf->scheduler.njobs; i++) {
		const struct conf_job *j = &conf->scheduler.jobs[i];

		if (cron_parse(j->cron, &s.jobs[i].cron, err, sizeof(err)) == -1) {
			log_error("job %s: %s", j->name, err);
			return -1;
		}
		s.jobs[i].name = j->name;
		s.jobs[i].skip = j->skip;
		s.jobs[i].nskip = j->nskip;
		s.actions[i] = strcmp(j->action, "fleet_up") == 0 ? SCHED_UP :
		    SCHED_DOWN;
		for (int k = 0; k < 3; k++)
			s.counts[i][k] = metric_counter("olb_schedule_runs_total",
			    "job=\"%s\",result=\"%s\"", j->name, sched_results[k]);
		s.njobs++;
	}
	return 0;
}

static int
scheduler_start(struct worker *w)
{
	memset(&s, 0, sizeof(s));
	s.w = w;
	s.conf = w->conf;
	if (crontz_zone(w->conf->scheduler.timezone) == -1) {
		log_error("scheduler.timezone '%s' is not in the tz database",
		    w->conf->scheduler.timezone);
		return -1;
	}
	if (sched_jobs_load(w->conf) == -1 ||
	    (s.lease = lease_new(w->redis, "scheduler", w->conf->daemon.lease_ms,
	    sched_on_lease, NULL)) == NULL)
		return -1;
	s.sub = rconn_new(w->loop, w->conf, "scheduler-events", NULL, NULL);
	if (s.sub == NULL || rconn_subscribe(s.sub, keys_events_channel(),
	    sched_on_event, NULL) == -1)
		return -1;
	lease_start(s.lease);
	sched_arm();
	return 0;
}

static void
scheduler_redis_state(struct worker *w, int up)
{
	(void)w;
	if (up)
		lease_retry(s.lease);
}

/* Stop: hand the lease over at once; a run under way is resumed by the
 * next holder (the next generation after a reload, or another host). */
static void
scheduler_drain(struct worker *w)
{
	ev_timer_stop(w->loop, &s.wake);
	ev_timer_stop(w->loop, &s.retry);
	ev_timer_stop(w->loop, &s.step_timer);
	s.stopped = 1;
	worker_done_after_lease(w, s.lease);
}

static void
scheduler_cleanup(struct worker *w)
{
	(void)w;
	s.stopped = 1;
	sched_run_clear();
	rconn_free(s.sub);
	lease_free(s.lease);
	free(s.jobs);
	free(s.actions);
	free(s.counts);
	s.sub = NULL;
	s.lease = NULL;
	s.jobs = NULL;
	s.actions = NULL;
	s.njobs = 0;
}

static const struct worker_role_ops scheduler_ops = {
	.start = scheduler_start,
	.drain = scheduler_drain,
	.redis_state = scheduler_redis_state,
	.cleanup = scheduler_cleanup,
};

int
scheduler_main(struct worker *w)
{
	return worker_run(w, &scheduler_ops);
}
