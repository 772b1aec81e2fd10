/*
 * Tests of the instance registry (common/registry.c, running the Lua scripts
 * of common/scripts.c) on a blocking hiredis context against a real
 * redis-server started for each test: add, list, state and remove round
 * trips, the live sets following states, the routing messages (read by a
 * second, subscribed context), placement look-ups, the NOSCRIPT fallback and
 * a lost server.
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

#include "common/conf.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/registry.h"
#include "common/scripts.h"
#include "tests/unit/support.h"


/* What registry_list delivered. */
struct listing {
	struct registry_instance	 v[16];
	int				 n;
};

static void
collect(const struct registry_instance *inst, void *arg)
{
	struct listing *l = arg;

	assert_true(l->n < 16);
	l->v[l->n++] = *inst;
}

static int
list(struct test_sync *f, struct listing *l)
{
	memset(l, 0, sizeof(*l));
	return registry_list(f->ctx, collect, l);
}

static void
add(struct test_sync *f, const char *role, uint16_t port, const char *state,
    const char *want)
{
	char id[REGISTRY_ID_MAX] = "";

	assert_int_equal(registry_add(f->ctx, role, "10.0.0.1", port, NULL, state,
	    NULL, id, sizeof(id)), 0);
	assert_string_equal(id, want);
}

/* The score of id in a live set, or -1 if it is not a member. */
static long long
live_score(struct test_sync *f, const char *set, const char *id)
{
	long long n = test_redis_int(f->ctx, "ZSCORE %s %s", set, id);

	assert_true(n >= -1);
	return n;
}

/* Run one script call on the blocking context, loading it if needed. */
static redisReply *
run(struct test_sync *f, struct scripts_call *c)
{
	redisReply *r = test_script(f->ctx, c);

	assert_non_null(r);
	assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
	return r;
}

static void
test_round_trip(void **state)
{
	struct test_sync *f = *state;
	struct listing l;
	char id[REGISTRY_ID_MAX] = "", previous[REGISTRY_STATE_MAX];

	assert_int_equal(list(f, &l), 0);
	assert_int_equal(registry_add(f->ctx, "master", "10.0.0.5", 8080,
	    "Master_Listener-1", NULL, "process", id, sizeof(id)), 0);
	assert_string_equal(id, "inst-1");
	add(f, "client", 8081, "pending", "inst-2");

	assert_int_equal(list(f, &l), 2);
	assert_string_equal(l.v[0].id, "inst-1");
	assert_true(l.v[0].is_master);
	assert_string_equal(l.v[0].name, "Master_Listener-1");
	assert_string_equal(l.v[0].ip, "10.0.0.5");
	assert_int_equal(l.v[0].port, 8080);
	assert_string_equal(l.v[0].state, "running");
	assert_string_equal(l.v[0].provider, "process");
	assert_int_equal(l.v[0].launch_order, 1);
	assert_true(l.v[0].launched_at > 1700000000000LL);
	assert_int_equal(l.v[0].count, 0);
	assert_string_equal(l.v[1].id, "inst-2");
	assert_false(l.v[1].is_master);
	assert_string_equal(l.v[1].name, "inst-2");
	assert_string_equal(l.v[1].state, "pending");
	assert_string_equal(l.v[1].provider, "manual");
	assert_int_equal(l.v[1].launch_order, 2);

	assert_int_equal(registry_set_state(f->ctx, "inst-2", "running",
	    previous), 0);
	assert_string_equal(previous, "pending");
	assert_int_equal(registry_get(f->ctx, "inst-2", &l.v[0]), 0);
	assert_string_equal(l.v[0].state, "running");

	assert_int_equal(registry_remove(f->ctx, "inst-1"), 0);
	assert_int_equal(registry_remove(f->ctx, "inst-1"), -1);
	assert_string_equal(registry_error(), "no such instance: inst-1");
	assert_int_equal(registry_set_state(f->ctx, "inst-1", "running", NULL),
	    -1);
	assert_string_equal(registry_error(), "no such instance: inst-1");
	assert_int_equal(registry_get(f->ctx, "inst-1", &l.v[0]), -1);
	assert_int_equal(list(f, &l), 1);
	assert_string_equal(l.v[0].id, "inst-2");

	/* Refused before Redis is asked. */
	assert_int_equal(registry_set_state(f->ctx, "inst-2", "sleeping", NULL),
	    -1);
	assert_int_equal(registry_add(f->ctx, "leader", "10.0.0.1", 1, NULL, NULL,
	    NULL, id, sizeof(id)), -1);
	assert_int_equal(registry_add(f->ctx, "master", "10.0.0.1", 0, NULL, NULL,
	    NULL, id, sizeof(id)), -1);
}

static void
test_explicit_id_and_replace(void **state)
{
	struct test_sync *f = *state;
	struct registry_instance inst;
	char id[REGISTRY_ID_MAX] = "i-0abc";
	redisReply *r;

	add(f, "master", 8080, NULL, "inst-1");
	assert_int_equal(registry_add(f->ctx, "client", "10.0.0.2", 9000, "C-1",
	    NULL, "ec2", id, sizeof(id)), 0);
	assert_string_equal(id, "i-0abc");
	assert_int_equal(registry_get(f->ctx, "i-0abc", &inst), 0);
	assert_int_equal(inst.launch_order, 2);
	/* Replacing a record keeps its launch order and its count. */
	r = redisCommand(f->ctx, "HSET %s i-0abc 3", keys_instance_user_counts());
	freeReplyObject(r);
	assert_int_equal(registry_add(f->ctx, "client", "10.0.0.3", 9001, "C-1",
	    "draining", "ec2", id, sizeof(id)), 0);
	assert_int_equal(registry_get(f->ctx, "i-0abc", &inst), 0);
	assert_int_equal(inst.launch_order, 2);
	assert_int_equal(inst.count, 3);
	assert_string_equal(inst.ip, "10.0.0.3");
	assert_string_equal(inst.state, "draining");
	/* The next generated id follows the sequence. */
	add(f, "master", 8082, NULL, "inst-3");
}

static void
test_live_sets(void **state)
{
	struct test_sync *f = *state;

	add(f, "master", 8080, "pending", "inst-1");
	add(f, "client", 8081, NULL, "inst-2");
	assert_int_equal(live_score(f, keys_live_master(), "inst-1"), -1);
	assert_int_equal(live_score(f, keys_live_client(), "inst-2"), 2);
	assert_int_equal(live_score(f, keys_live_master(), "inst-2"), -1);

	assert_int_equal(registry_set_state(f->ctx, "inst-1", "running", NULL), 0);
	assert_int_equal(live_score(f, keys_live_master(), "inst-1"), 1);
	for (int i = 0; i < 4; i++) {
		const char *states[] = { "unhealthy", "draining", "terminating",
		    "terminated" };

		assert_int_equal(registry_set_state(f->ctx, "inst-1", states[i],
		    NULL), 0);
		assert_int_equal(live_score(f, keys_live_master(), "inst-1"), -1);
		assert_int_equal(registry_set_state(f->ctx, "inst-1", "running",
		    NULL), 0);
		assert_int_equal(live_score(f, keys_live_master(), "inst-1"), 1);
	}
	assert_int_equal(registry_remove(f->ctx, "inst-1"), 0);
	assert_int_equal(registry_remove(f->ctx, "inst-2"), 0);
	assert_int_equal(live_score(f, keys_live_master(), "inst-1"), -1);
	assert_int_equal(live_score(f, keys_live_client(), "inst-2"), -1);
}

/* The next routing message on sub, parsed, with its op checked. */
static json_object *
next_message(redisContext *sub, const char *op)
{
	redisReply *r = NULL;
	json_object *o, *v;

	assert_int_equal(redisGetReply(sub, (void **)&r), REDIS_OK);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 3);
	assert_string_equal(r->element[0]->str, "message");
	assert_string_equal(r->element[1]->str, keys_routing_channel());
	assert_non_null(o = json_tokener_parse(r->element[2]->str));
	freeReplyObject(r);
	assert_true(json_object_object_get_ex(o, "op", &v));
	assert_string_equal(json_object_get_string(v), op);
	return o;
}

static void
assert_member(json_object *o, const char *key, const char *want)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	assert_string_equal(json_object_get_string(v), want);
}

static void
test_routing_messages(void **state)
{
	struct test_sync *f = *state;
	struct timeval tv = { 2, 0 };
	struct scripts_call c;
	redisContext *sub;
	redisReply *r;
	json_object *o;
	long long seq;

	sub = redisConnectWithTimeout("127.0.0.1", f->env.srv.port, tv);
	assert_non_null(sub);
	redisSetTimeout(sub, tv);
	r = redisCommand(sub, "SUBSCRIBE %s", keys_routing_channel());
	assert_non_null(r);
	freeReplyObject(r);

	add(f, "master", 8080, NULL, "inst-1");
	o = next_message(sub, "instance");
	assert_member(o, "id", "inst-1");
	assert_member(o, "state", "running");
	json_object_put(o);

	assert_int_equal(registry_set_state(f->ctx, "inst-1", "unhealthy", NULL),
	    0);
	o = next_message(sub, "instance");
	assert_member(o, "state", "unhealthy");
	json_object_put(o);
	assert_int_equal(registry_set_state(f->ctx, "inst-1", "running", NULL), 0);
	json_object_put(next_message(sub, "instance"));

	/* A placement publishes nothing; its release does. */
	assert_int_equal(scripts_call_place_master(&c, "A/1", 5), 0);
	freeReplyObject(run(f, &c));
	assert_int_equal(scripts_call_release(&c, "master", "A/1", "", NULL), 0);
	r = run(f, &c);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->element[0]->integer, 1);
	seq = r->element[1]->integer;	/* the release message's number */
	freeReplyObject(r);
	o = next_message(sub, "release");
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "seq")), seq);
	assert_member(o, "role", "master");
	assert_member(o, "actid", "A/1");
	json_object_put(o);

	assert_int_equal(registry_remove(f->ctx, "inst-1"), 0);
	o = next_message(sub, "instance");
	assert_member(o, "id", "inst-1");
	assert_member(o, "state", "removed");
	json_object_put(o);
	redisFree(sub);
}

/* A batch is placed in order, one decision per account: a repeated account
 * is found where the batch put it, the cap holds inside the batch, and the
 * spread of one master's clients counts the batch's own placements. */
static void
test_placement_batch(void **state)
{
	struct test_sync *f = *state;
	const char *masters_in[] = { "A", "B", "A" };
	const char *clients[] = { "c1", "c2", "c3", "c1" };
	const char *their_master[] = { "M", "M", "N", "M" };
	struct scripts_call c;
	redisReply *r;

	add(f, "master", 8080, NULL, "inst-1");
	add(f, "client", 8081, NULL, "inst-2");
	add(f, "client", 8082, NULL, "inst-3");
	assert_int_equal(scripts_call_place_masters(&c, 1, masters_in, 3), 0);
	r = run(f, &c);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 1 + 3 + 3);
	/* first the routing sequence: two instance records written; then a
	 * code per account (j: placed on the j-th instance named, -j: already
	 * there, 0: none), then id, ip and port of each instance named */
	assert_int_equal(r->element[0]->type, REDIS_REPLY_INTEGER);
	assert_int_equal(r->element[0]->integer, 3);
	assert_int_equal(r->element[1]->integer, 1);	/* placed */
	assert_int_equal(r->element[2]->type, REDIS_REPLY_INTEGER);
	assert_int_equal(r->element[2]->integer, 0);	/* full */
	assert_int_equal(r->element[3]->integer, -1);	/* existing */
	assert_string_equal(r->element[4]->str, "inst-1");
	assert_string_equal(r->element[5]->str, "10.0.0.1");
	assert_int_equal(r->element[6]->integer, 8080);
	freeReplyObject(r);

	assert_int_equal(scripts_call_place_clients(&c, 10, clients, their_master,
	    4), 0);
	r = run(f, &c);
	assert_int_equal(r->elements, 1 + 4 + 3 * 2);
	assert_int_equal(r->element[0]->integer, 3);
	/* c1 and c2 (both of M) go to different instances; c3 (of N) to the
	 * first launched of the two, now tied at one account each. */
	assert_int_equal(r->element[1]->integer, 1);
	assert_int_equal(r->element[2]->integer, 2);
	assert_int_equal(r->element[3]->integer, 1);
	assert_int_equal(r->element[4]->integer, -1);
	assert_string_equal(r->element[5]->str, "inst-2");
	assert_int_equal(r->element[7]->integer, 8081);
	assert_string_equal(r->element[8]->str, "inst-3");
	assert_int_equal(r->element[10]->integer, 8082);
	freeReplyObject(r);

	/* Bad batches: an empty id, too many accounts. */
	masters_in[1] = "";
	assert_int_equal(scripts_call_place_masters(&c, 1, masters_in, 3), -1);
	assert_int_equal(scripts_call_place_masters(&c, 1, masters_in,
	    SCRIPTS_BATCH_MAX + 1), -1);
	assert_int_equal(scripts_call_place_masters(&c, 1, masters_in, 0), -1);
}

static void
test_placement_lookup(void **state)
{
	struct test_sync *f = *state;
	struct registry_account acct;
	struct scripts_call c;

	add(f, "master", 8080, NULL, "inst-1");
	add(f, "client", 8081, NULL, "inst-2");
	assert_int_equal(registry_placement(f->ctx, "A", &acct), 0);
	assert_false(acct.as_master);
	assert_false(acct.as_client);

	assert_int_equal(scripts_call_place_master(&c, "A", 5), 0);
	freeReplyObject(run(f, &c));
	assert_int_equal(scripts_call_place_client(&c, "A", "B", 5), 0);
	freeReplyObject(run(f, &c));
	assert_int_equal(registry_placement(f->ctx, "A", &acct), 0);
	assert_true(acct.as_master);
	assert_string_equal(acct.master.id, "inst-1");
	assert_int_equal(acct.master.port, 8080);
	assert_int_equal(acct.master.count, 1);
	assert_true(acct.as_client);
	assert_string_equal(acct.client.id, "inst-2");
	assert_string_equal(acct.master_actid, "B");

	/* Its instance is gone: the id is kept, the state says so. */
	assert_int_equal(registry_remove(f->ctx, "inst-1"), 0);
	assert_int_equal(registry_placement(f->ctx, "A", &acct), 0);
	assert_true(acct.as_master);
	assert_string_equal(acct.master.id, "inst-1");
	assert_true(acct.master.is_master);
	assert_string_equal(acct.master.state, "removed");
}

static void
test_noscript_fallback(void **state)
{
	struct test_sync *f = *state;

	add(f, "master", 8080, NULL, "inst-1");
	assert_int_equal(test_redis_do(f->ctx, "SCRIPT FLUSH"), 0);
	assert_int_equal(registry_set_state(f->ctx, "inst-1", "draining", NULL), 0);
	assert_int_equal(test_redis_do(f->ctx, "SCRIPT FLUSH"), 0);
	add(f, "client", 8081, NULL, "inst-2");
	assert_int_equal(test_redis_int(f->ctx, "SCRIPT EXISTS %s",
	    scripts_sha(SCRIPTS_INSTANCE_PUT)), 1);
}

static void
test_server_lost(void **state)
{
	struct test_sync *f = *state;
	struct listing l;
	char id[REGISTRY_ID_MAX] = "";

	test_redis_stop(&f->env.srv);
	assert_int_equal(list(f, &l), -1);
	assert_non_null(strstr(registry_error(), "HGETALL("));
	assert_int_equal(registry_add(f->ctx, "master", "10.0.0.1", 80, NULL,
	    NULL, NULL, id, sizeof(id)), -1);
	assert_non_null(strstr(registry_error(), "instance_put(127.0.0.1:"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_placement_batch,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_round_trip,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_explicit_id_and_replace,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_live_sets,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_routing_messages,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_placement_lookup,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_noscript_fallback,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_server_lost,
		    test_sync_setup, test_sync_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	log_open("stderr", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
