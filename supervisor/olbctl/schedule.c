/*
 * olbctl schedule: the scheduler's jobs as an operator sees them (SPEC
 * §9): expression, time zone, next run with holidays skipped (common/
 * schedule.c, the scheduler's own computation), and the last run's record
 * (workers/scheduler/scheduler.c writes them); "schedule run JOB" asks the
 * scheduler, through schedule:state and an event, to run a job now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "common/conf.h"
#include "common/crontz.h"
#include "common/keys.h"
#include "common/schedule.h"
#include "common/util.h"
#include "supervisor/olbctl/olbctl.h"

#define CTL_RUN_WAIT_MS		10000	/* schedule run waits for the claim */
#define CTL_RUN_POLL_MS		100

/* The newest run record of job (JSON, caller frees), or NULL. */
static json_object *
ctl_last_run(redisContext *rc, const char *job)
{
	long long best = -1, at;
	redisReply *r;
	json_object *o = NULL;

	r = redisCommand(rc, "HGETALL %s%s", keys_schedule_runs_prefix(), job);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return NULL;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		at = strtoll(r->element[i]->str, NULL, 10);
		if (at > best) {
			json_object_put(o);
			o = json_tokener_parse(r->element[i + 1]->str);
			best = at;
		}
	}
	freeReplyObject(r);
	return o;
}

static long long
ctl_int(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *
ctl_str(json_object *o, const char *key, const char *dflt)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : dflt;
}

/* One job's line, or its JSON object added to arr. */
static void
ctl_schedule_job(redisContext *rc, const struct conf_job *cj, time_t now,
    json_object *arr)
{
	struct schedule_job j = { cj->name, { 0 }, cj->skip, cj->nskip };
	char next_l[48] = "never", next_u[48] = "never", last_at[48] = "-";
	char last[256] = "never";
	json_object *rec, *o;
	time_t next = 0;

	if (cron_parse(cj->cron, &j.cron, NULL, 0) == 0 &&
	    schedule_next(&j, now, &next) == 0) {
		schedule_format(next, 0, next_l, sizeof(next_l));
		schedule_format(next, 1, next_u, sizeof(next_u));
	} else {
		next = 0;
	}
	rec = rc != NULL ? ctl_last_run(rc, cj->name) : NULL;
	if (rec != NULL) {
		schedule_format((time_t)(ctl_int(rec, "scheduled") / 1000), 0, last_at,
		    sizeof(last_at));
		snprintf(last, sizeof(last), "%s %s on %s, %.1f s",
		    ctl_str(rec, "status", "?"), last_at, ctl_str(rec, "host", "?"),
		    (double)ctl_int(rec, "durationMs") / 1000.0);
	}
	if (arr == NULL) {
		printf("%-16s %-10s %-14s %-24s %-20s %s\n", cj->name, cj->action,
		    cj->cron, next_l, next_u, last);
		json_object_put(rec);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "job", json_object_new_string(cj->name));
	json_object_object_add(o, "action", json_object_new_string(cj->action));
	json_object_object_add(o, "cron", json_object_new_string(cj->cron));
	json_object_object_add(o, "holidays", json_object_new_int64(
	    (int64_t)cj->nskip));
	json_object_object_add(o, "next", next != 0 ?
	    json_object_new_int64((int64_t)next * 1000) : NULL);
	json_object_object_add(o, "nextLocal", json_object_new_string(next_l));
	json_object_object_add(o, "nextUtc", json_object_new_string(next_u));
	json_object_object_add(o, "last", rec);
	json_object_array_add(arr, o);
}

static int
ctl_schedule_show(struct ctl *ctl, int json)
{
	const struct conf *conf = ctl->conf;
	time_t now = (time_t)(schedule_now_ms() / 1000);
	json_object *arr = json ? json_object_new_array() : NULL, *top;
	char now_l[48], now_u[48];
	redisContext *rc;
	redisReply *lease;

	if ((rc = ctl_redis(conf)) == NULL) {
		json_object_put(arr);
		return 1;
	}
	lease = redisCommand(rc, "GET %slease:scheduler", keys_prefix());
	if (lease == NULL) {
		fprintf(stderr, "olbctl: schedule: redis: %s\n", rc->errstr);
		json_object_put(arr);
		redisFree(rc);
		return 1;
	}
	schedule_format(now, 0, now_l, sizeof(now_l));
	schedule_format(now, 1, now_u, sizeof(now_u));
	if (!json) {
		printf("time zone %s, now %s (%s); scheduler lease %s\n",
		    conf->scheduler.timezone, now_l, now_u,
		    lease != NULL && lease->type == REDIS_REPLY_STRING ?
		    lease->str : "not held");
		printf("%-16s %-10s %-14s %-24s %-20s %s\n", "JOB", "ACTION", "CRON",
		    "NEXT", "NEXT (UTC)", "LAST RUN");
	}
	for (size_t i = 0; i < conf->scheduler.njobs; i++)
		ctl_schedule_job(rc, &conf->scheduler.jobs[i], now, arr);
	if (json) {
		top = json_object_new_object();
		json_object_object_add(top, "timezone",
		    json_object_new_string(conf->scheduler.timezone));
		json_object_object_add(top, "now", json_object_new_int64(
		    (int64_t)now * 1000));
		json_object_object_add(top, "lease", lease != NULL &&
		    lease->type == REDIS_REPLY_STRING ?
		    json_object_new_string(lease->str) : NULL);
		json_object_object_add(top, "jobs", arr);
		printf("%s\n", json_object_to_json_string_ext(top,
		    JSON_C_TO_STRING_PLAIN));
		json_object_put(top);
	}
	freeReplyObject(lease);
	redisFree(rc);
	return 0;
}

/* schedule run JOB: request it, then wait until the scheduler claims it. */
static int
ctl_schedule_run(struct ctl *ctl, const char *job)
{
	long long at = schedule_now_ms();
	char field[128], atbuf[24];
	redisContext *rc;
	redisReply *r;
	json_object *f;
	size_t i;

	for (i = 0; i < ctl->conf->scheduler.njobs; i++)
		if (strcmp(ctl->conf->scheduler.jobs[i].name, job) == 0)
			break;
	if (i == ctl->conf->scheduler.njobs) {
		fprintf(stderr, "olbctl: schedule run: no job '%s'\n", job);
		return 1;
	}
	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	snprintf(field, sizeof(field), "request:%s", job);
	snprintf(atbuf, sizeof(atbuf), "%lld", at);
	r = redisCommand(rc, "HSET %s %s %s", keys_schedule_state(), field, atbuf);
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		fprintf(stderr, "olbctl: schedule run: %s\n", r != NULL &&
		    r->type == REDIS_REPLY_ERROR ? r->str : "Redis did not answer");
		freeReplyObject(r);
		redisFree(rc);
		return 1;
	}
	freeReplyObject(r);
	f = json_object_new_object();
	json_object_object_add(f, "job", json_object_new_string(job));
	json_object_object_add(f, "requested", json_object_new_int64(at));
	ctl_event(rc, EVENT_INFO, "schedule.requested", f);
	for (int waited = 0; waited < CTL_RUN_WAIT_MS; waited += CTL_RUN_POLL_MS) {
		r = redisCommand(rc, "HGET %s%s %s", keys_schedule_runs_prefix(),
		    job, atbuf);
		if (r != NULL && r->type == REDIS_REPLY_STRING) {
			if (ctl->json) {
				json_object *o = json_object_new_object();

				json_object_object_add(o, "job", json_object_new_string(job));
				json_object_object_add(o, "run", json_object_new_int64(at));
				json_object_object_add(o, "claimed", json_object_new_boolean(1));
				ctl_json_print(o);
			} else
				printf("%s: run %s claimed by the scheduler\n", job, atbuf);
			freeReplyObject(r);
			redisFree(rc);
			return 0;
		}
		freeReplyObject(r);
		usleep(CTL_RUN_POLL_MS * 1000);
	}
	fprintf(stderr, "olbctl: schedule run: no scheduler claimed %s within "
	    "%d s; the request stays for the next holder of the lease\n", job,
	    CTL_RUN_WAIT_MS / 1000);
	redisFree(rc);
	return 1;
}

int
cmd_schedule(struct ctl *ctl, int argc, char **argv)
{
	if (crontz_zone(ctl->conf->scheduler.timezone) == -1) {
		fprintf(stderr, "olbctl: schedule: time zone '%s' is not in the tz "
		    "database\n", ctl->conf->scheduler.timezone);
		return 1;
	}
	if (argc == 1)
		return ctl_schedule_show(ctl, ctl->json);
	if (argc == 3 && strcmp(argv[1], "run") == 0)
		return ctl_schedule_run(ctl, argv[2]);
	fprintf(stderr, "usage: olbctl schedule [--json] | schedule run JOB [--json]\n");
	return 2;
}
