/*
 * Tests of the scheduler's Lua scripts (common/lua/schedule.lua and
 * daily_reset.lua) against a real redis-server: a run is claimed once, a
 * run its holder left started is resumed by the next holder (not run
 * again), a newer run overtakes one under way, missed runs are recorded
 * once, the history is bounded, the desired fleet is never lowered while
 * up, every write is fenced by the scheduler lease; the daily reset
 * archives the day and leaves nothing of it, also when run twice.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "common/keys.h"
#include "common/log.h"
#include "common/scripts.h"
#include "tests/unit/support.h"

#define TOKEN_A		"hostA:100#1"
#define TOKEN_B		"hostB:200#2"

static char lease_key[KEYS_NAME_MAX];

/* The scheduler lease is held by token from now on. */
static void
hold(struct test_sync *f, const char *token)
{
	assert_int_equal(keys_lease(lease_key, sizeof(lease_key), "scheduler"), 0);
	assert_int_equal(test_redis_do(f->ctx, "SET %s %s", lease_key, token), 0);
}

/* One schedule.lua call by token at now, keeping keep records per job. */
static redisReply *
schedule(struct test_sync *f, const char *token, const char *op,
    long long keep, const char *const *args, size_t n)
{
	struct scripts_call c;
	redisReply *r;

	assert_int_equal(scripts_call_schedule(&c, lease_key, token, op, "5000",
	    "host", keep, args, n), 0);
	assert_non_null(r = test_script(f->ctx, &c));
	return r;
}

/* plan: claim job@at (no missed); the claim answered must be want. */
static void
claim(struct test_sync *f, const char *token, const char *job, const char *at,
    const char *want, const char *want_overtaken)
{
	const char *args[] = { "", job, at, "fleet_up", "due" };
	redisReply *r = schedule(f, token, "plan", 10, args, 5);

	if (r->type == REDIS_REPLY_ERROR)
		fail_msg("plan: %s", r->str);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_true(r->elements >= 2);
	assert_string_equal(r->element[0]->str, want);
	assert_string_equal(r->element[1]->str, want_overtaken);
	freeReplyObject(r);
}

static long long
finish(struct test_sync *f, const char *token, const char *job, const char *at,
    const char *status)
{
	const char *args[] = { job, at, status, "done" };
	redisReply *r = schedule(f, token, "finish", 10, args, 4);
	long long v;

	if (r->type == REDIS_REPLY_ERROR) {
		v = strstr(r->str, "FENCED") != NULL ? -2 : -1;
	} else {
		assert_int_equal(r->type, REDIS_REPLY_INTEGER);
		v = r->integer;
	}
	freeReplyObject(r);
	return v;
}

/* A field of job's record at at, as a string into buf ("" if absent). */
static const char *
record_field(struct test_sync *f, const char *job, const char *at,
    const char *field, char *buf, size_t size)
{
	redisReply *r = redisCommand(f->ctx, "HGET %s%s %s",
	    keys_schedule_runs_prefix(), job, at);
	json_object *o, *v;

	buf[0] = '\0';
	assert_non_null(r);
	if (r->type == REDIS_REPLY_STRING && (o = json_tokener_parse(r->str)) != NULL) {
		if (json_object_object_get_ex(o, field, &v))
			snprintf(buf, size, "%s", json_object_get_string(v));
		json_object_put(o);
	}
	freeReplyObject(r);
	return buf;
}

static void
test_claimed_once_resumed_by_the_next_holder(void **state)
{
	struct test_sync *f = *state;
	char buf[128];

	hold(f, TOKEN_A);
	claim(f, TOKEN_A, "up", "1000", "claimed", "");
	claim(f, TOKEN_A, "up", "1000", "running", "");
	assert_string_equal(record_field(f, "up", "1000", "status", buf,
	    sizeof(buf)), "started");
	/* A dies; B holds the lease and finds the run started: resumed */
	hold(f, TOKEN_B);
	claim(f, TOKEN_B, "up", "1000", "resumed", "");
	assert_string_equal(record_field(f, "up", "1000", "holder", buf,
	    sizeof(buf)), TOKEN_B);
	assert_string_equal(record_field(f, "up", "1000", "resumed", buf,
	    sizeof(buf)), "1");
	/* A's late finish is fenced; B's is recorded, once */
	assert_int_equal(finish(f, TOKEN_A, "up", "1000", "finished"), -2);
	assert_int_equal(finish(f, TOKEN_B, "up", "1000", "finished"), 1);
	assert_int_equal(finish(f, TOKEN_B, "up", "1000", "failed"), 0);
	assert_string_equal(record_field(f, "up", "1000", "status", buf,
	    sizeof(buf)), "finished");
	/* claimed again by anyone: the run is over */
	claim(f, TOKEN_B, "up", "1000", "finished", "");
	assert_int_equal(test_redis_int(f->ctx, "HEXISTS %s current",
	    keys_schedule_state()), 0);
	/* a stale holder claims nothing */
	{
		const char *args[] = { "", "up", "2000", "fleet_up", "due" };
		redisReply *r = schedule(f, TOKEN_A, "plan", 10, args, 5);

		assert_int_equal(r->type, REDIS_REPLY_ERROR);
		assert_non_null(strstr(r->str, "FENCED"));
		freeReplyObject(r);
	}
	assert_int_equal(test_redis_int(f->ctx, "HLEN %sup",
	    keys_schedule_runs_prefix()), 1);
}

static void
test_overtaken(void **state)
{
	struct test_sync *f = *state;
	char buf[128];

	hold(f, TOKEN_A);
	claim(f, TOKEN_A, "up", "1000", "claimed", "");
	claim(f, TOKEN_A, "down", "2000", "claimed", "up@1000");
	assert_string_equal(record_field(f, "up", "1000", "status", buf,
	    sizeof(buf)), "failed");
	assert_string_equal(record_field(f, "up", "1000", "detail", buf,
	    sizeof(buf)), "overtaken by down@2000");
	assert_int_equal(finish(f, TOKEN_A, "up", "1000", "finished"), 0);
	assert_int_equal(finish(f, TOKEN_A, "down", "2000", "finished"), 1);
}

static void
test_missed_checked_and_history(void **state)
{
	struct test_sync *f = *state;
	const char *args[] = { "3000", "", "0", "", "",
	    "x", "1", "fleet_up", "x", "2", "fleet_up", "x", "3", "fleet_up",
	    "x", "4", "fleet_up", "x", "5", "fleet_up" };
	const char *older[] = { "1000", "", "0", "", "", "x", "5", "fleet_up" };
	redisReply *r;
	char buf[128];

	hold(f, TOKEN_A);
	r = schedule(f, TOKEN_A, "plan", 3, args, 20);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 2 + 10);
	assert_string_equal(r->element[0]->str, "none");
	freeReplyObject(r);
	/* the newest 3 kept */
	assert_int_equal(test_redis_int(f->ctx, "HLEN %sx",
	    keys_schedule_runs_prefix()), 3);
	assert_string_equal(record_field(f, "x", "3", "status", buf, sizeof(buf)),
	    "missed");
	assert_string_equal(record_field(f, "x", "2", "status", buf, sizeof(buf)),
	    "");
	/* recorded once; checked never goes back */
	r = schedule(f, TOKEN_A, "plan", 3, older, 8);
	assert_int_equal(r->elements, 2);
	freeReplyObject(r);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s checked",
	    keys_schedule_state()), 3000);
}

static void
test_desire_never_lowers_an_up_fleet(void **state)
{
	struct test_sync *f = *state;
	const char *up[] = { "state", "up", "masters", "1", "clients", "1" };
	const char *down[] = { "state", "down", "masters", "0", "clients", "0" };
	redisReply *r;

	hold(f, TOKEN_A);
	assert_int_equal(test_redis_do(f->ctx, "HSET %s state up masters 3 "
	    "clients 0", keys_fleet()), 0);
	r = schedule(f, TOKEN_A, "desire", 10, up, 6);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	freeReplyObject(r);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s masters", keys_fleet()), 3);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s clients", keys_fleet()), 1);
	freeReplyObject(schedule(f, TOKEN_A, "desire", 10, down, 6));
	freeReplyObject(schedule(f, TOKEN_A, "desire", 10, up, 6));
	assert_int_equal(test_redis_int(f->ctx, "HGET %s masters", keys_fleet()), 1);
	r = schedule(f, TOKEN_A, "desire", 10, up, 5);
	assert_int_equal(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
	hold(f, TOKEN_B);
	r = schedule(f, TOKEN_A, "desire", 10, down, 6);
	assert_int_equal(r->type, REDIS_REPLY_ERROR);
	assert_non_null(strstr(r->str, "FENCED"));
	freeReplyObject(r);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s masters", keys_fleet()), 1);
}

/* A day's placement keys, as the placement scripts leave them. */
static void
a_day(struct test_sync *f, const char *master, const char *client)
{
	const char *p = keys_prefix();

	assert_int_equal(test_redis_do(f->ctx, "HSET %s %s i1", keys_master_mapping(),
	    master), 0);
	assert_int_equal(test_redis_do(f->ctx, "HSET %s %s i2", keys_client_mapping(),
	    client), 0);
	assert_int_equal(test_redis_do(f->ctx, "HSET %s %s %s", keys_client_master(),
	    client, master), 0);
	assert_int_equal(test_redis_do(f->ctx, "HSET %sclient_spread:%s i2 1", p,
	    master), 0);	/* the earlier layout */
	assert_int_equal(test_redis_do(f->ctx, "HSET %s %s %s",
	    keys_client_spread(), master, "\ni2 1"), 0);
	assert_int_equal(test_redis_do(f->ctx, "ZADD %sclient_list:%s 1 %s", p,
	    master, client), 0);
	assert_int_equal(test_redis_do(f->ctx, "SADD %sinstance_accounts:i1 %s", p,
	    master), 0);
	assert_int_equal(test_redis_do(f->ctx, "HSET %s i1 1 i2 1",
	    keys_instance_user_counts()), 0);
	assert_int_equal(test_redis_do(f->ctx, "HSET %s masterCount 1 clientCount 1",
	    keys_global_state()), 0);
	assert_int_equal(test_redis_do(f->ctx, "HSET %s %s [\"%s\"]",
	    keys_client_master_tracking(), master, client), 0);
	assert_int_equal(test_redis_do(f->ctx, "HSET %s master 4 client 2",
	    keys_name_seq()), 0);
	assert_int_equal(test_redis_do(f->ctx, "RPUSH %s%s + %s",
	    keys_tracking_pending_prefix(), master, client), 0);
	assert_int_equal(test_redis_do(f->ctx, "ZADD %s 1 %s",
	    keys_tracking_due(), master), 0);
	assert_int_equal(test_redis_do(f->ctx, "HSET %s %s 1",
	    keys_tracking_built(), master), 0);
}

static void
reset(struct test_sync *f, const char *token, long long masters,
    long long clients)
{
	char archive[KEYS_NAME_MAX];
	struct scripts_call c;
	redisReply *r;

	snprintf(archive, sizeof(archive), "%s2026-12-06:", keys_archive_prefix());
	assert_int_equal(scripts_call_daily_reset(&c, lease_key, token, archive,
	    60000), 0);
	assert_non_null(r = test_script(f->ctx, &c));
	if (masters < 0) {
		assert_int_equal(r->type, REDIS_REPLY_ERROR);
		assert_non_null(strstr(r->str, "FENCED"));
	} else {
		assert_int_equal(r->type, REDIS_REPLY_ARRAY);
		assert_int_equal(r->element[0]->integer, masters);
		assert_int_equal(r->element[1]->integer, clients);
	}
	freeReplyObject(r);
}

static void
test_daily_reset(void **state)
{
	struct test_sync *f = *state;
	const char *p = keys_prefix();
	long long seq;

	hold(f, TOKEN_A);
	a_day(f, "m1", "c1");
	reset(f, TOKEN_B, -1, -1);	/* fenced: nothing moves */
	assert_int_equal(test_redis_int(f->ctx, "HLEN %s", keys_master_mapping()), 1);
	seq = test_redis_int(f->ctx, "GET %s", keys_routing_seq());
	reset(f, TOKEN_A, 1, 1);
	assert_int_equal(test_redis_int(f->ctx, "GET %s", keys_routing_seq()),
	    seq < 0 ? 1 : seq + 1);
	assert_int_equal(test_redis_int(f->ctx, "EXISTS %s %s %s %s %s %s",
	    keys_master_mapping(), keys_client_mapping(), keys_client_master(),
	    keys_instance_user_counts(), keys_client_master_tracking(),
	    keys_name_seq()), 0);
	assert_int_equal(test_redis_int(f->ctx, "EXISTS %sclient_spread:m1 "
	    "%sclient_list:m1 %sinstance_accounts:i1", p, p, p), 0);
	assert_int_equal(test_redis_int(f->ctx, "HLEN %s", keys_client_spread()),
	    1);	/* the layout mark only */
	assert_int_equal(test_redis_int(f->ctx, "HEXISTS %s %s",
	    keys_client_spread(), "\nlayout"), 1);
	assert_int_equal(test_redis_int(f->ctx, "EXISTS %sm1 %s %s",
	    keys_tracking_pending_prefix(), keys_tracking_due(),
	    keys_tracking_built()), 0);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s masterCount",
	    keys_global_state()), 0);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s clientCount",
	    keys_global_state()), 0);
	assert_int_equal(test_redis_int(f->ctx, "HLEN %s2026-12-06:master_mapping",
	    keys_archive_prefix()), 1);
	assert_true(test_redis_int(f->ctx, "PTTL %s2026-12-06:client_mapping",
	    keys_archive_prefix()) > 0);
	/* a second teardown the same day adds to the archive */
	a_day(f, "m2", "c2");
	reset(f, TOKEN_A, 1, 1);
	assert_int_equal(test_redis_int(f->ctx, "HLEN %s2026-12-06:master_mapping",
	    keys_archive_prefix()), 2);
	/* and one on an empty day changes nothing */
	reset(f, TOKEN_A, 0, 0);
	assert_int_equal(test_redis_int(f->ctx, "HLEN %s2026-12-06:client_mapping",
	    keys_archive_prefix()), 2);
}

static void
test_bad_arguments(void **state)
{
	struct test_sync *f = *state;
	const char *odd[] = { "", "up", "1000", "fleet_up" };
	const char *finish_bad[] = { "up", "1000", "exploded", "x" };
	struct scripts_call c;
	redisReply *r;

	hold(f, TOKEN_A);
	r = schedule(f, TOKEN_A, "plan", 10, odd, 4);
	assert_int_equal(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
	r = schedule(f, TOKEN_A, "finish", 10, finish_bad, 4);
	assert_int_equal(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
	r = schedule(f, TOKEN_A, "explode", 10, NULL, 0);
	assert_int_equal(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
	assert_int_equal(scripts_call_schedule(&c, lease_key, "", "plan", "1",
	    "h", 10, NULL, 0), -1);
	assert_int_equal(scripts_call_schedule(&c, lease_key, TOKEN_A, "plan",
	    "1", "h", 0, NULL, 0), -1);
	assert_int_equal(scripts_call_daily_reset(&c, lease_key, TOKEN_A, "", 1),
	    -1);
	assert_int_equal(scripts_call_daily_reset(&c, lease_key, TOKEN_A, "a:", 0),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_claimed_once_resumed_by_the_next_holder,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_overtaken,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_missed_checked_and_history,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_desire_never_lowers_an_up_fleet,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_daily_reset,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments,
		    test_sync_setup, test_sync_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	log_open("stderr", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
