/*
 * Tests of the fenced, conditional instance state moves
 * (workers/instance_state.c) against a real redis-server: a move applied
 * when the instance is in the state the caller saw, with exactly one event;
 * refused without an event when the state has changed meanwhile or the
 * instance is gone; refused and the lease given up when the lease has
 * passed on; not sent without the lease or with Redis down; and two movers
 * racing from the same state: one applies, the other is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "common/ev.h"
#include "common/events.h"
#include "common/keys.h"
#include "common/redis.h"
#include "common/scripts.h"
#include "tests/unit/support.h"
#include "workers/instance_state.h"
#include "workers/lease.h"

#define TTL_MS		5000
#define REC_PENDING "{\"isMasterServer\":false,\"ip\":\"10.0.0.1\"," \
	"\"port\":9000,\"state\":\"pending\",\"provider\":\"process\"," \
	"\"serverName\":\"Client_Listener-1\"}"
#define EVENTS		"olbtest:events"

struct fixture {
	struct test_sync	 s;
	struct rconn		*rc, *sub;
	struct lease		*lease;
	int			 held;
	int			 answers, applied;
	char			 last_id[64];
	int			 events;
	char			 event_type[64];
	char			 event_instance[64];
};

static void
on_lease(struct lease *l, int held, void *arg)
{
	(void)l;
	((struct fixture *)arg)->held = held;
}

static void
on_event(struct rconn *rc, const char *channel, const char *msg, size_t len,
    void *arg)
{
	struct fixture *fx = arg;
	json_object *o, *v;

	(void)rc;
	(void)channel;
	(void)len;
	if ((o = json_tokener_parse(msg)) == NULL)
		return;
	/* The lease's own events (leader.*) are not counted. */
	if (!json_object_object_get_ex(o, "type", &v) ||
	    strncmp(json_object_get_string(v), "instance.", 9) != 0) {
		json_object_put(o);
		return;
	}
	fx->events++;
	snprintf(fx->event_type, sizeof(fx->event_type), "%s",
	    json_object_get_string(v));
	if (json_object_object_get_ex(o, "instance", &v))
		snprintf(fx->event_instance, sizeof(fx->event_instance), "%s",
		    json_object_get_string(v));
	json_object_put(o);
}

static void
on_moved(const char *id, int applied, void *arg)
{
	struct fixture *fx = arg;

	fx->answers++;
	fx->applied += applied;
	snprintf(fx->last_id, sizeof(fx->last_id), "%s", id);
}

static int
rc_is_up(void *arg)
{
	return rconn_is_up(arg);
}

static int
ready(void *arg)
{
	struct fixture *fx = arg;

	return rconn_is_up(fx->rc) && rconn_is_up(fx->sub) && fx->held;
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	*state = fx;
	if (fx == NULL || test_sync_init(&fx->s) == -1)
		return -1;
	fx->rc = rconn_new(fx->s.env.loop, &fx->s.env.conf, "moves", NULL, NULL);
	fx->sub = rconn_new(fx->s.env.loop, &fx->s.env.conf, "sub", NULL, NULL);
	if (fx->rc == NULL || fx->sub == NULL ||
	    rconn_subscribe(fx->sub, EVENTS, on_event, fx) == -1 ||
	    events_init(fx->rc, EVENTS, "host-a", "health") == -1 ||
	    (fx->lease = lease_new(fx->rc, "health", TTL_MS, on_lease, fx)) ==
	    NULL)
		return -1;
	lease_start(fx->lease);
	return test_wait_for(fx->s.env.loop, ready, fx, 3000);
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	lease_free(fx->lease);
	events_shutdown();
	rconn_free(fx->rc);
	rconn_free(fx->sub);
	test_sync_fini(&fx->s);
	free(fx);
	return 0;
}

static void
put_instance(struct fixture *fx, const char *id)
{
	struct scripts_call c;
	redisReply *r;

	assert_int_equal(scripts_call_instance_put(&c, id, REC_PENDING), 0);
	r = test_script(fx->s.ctx, &c);
	assert_non_null(r);
	assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
}

/* The state in the record of id, in buf. */
static const char *
state_of(struct fixture *fx, const char *id, char *buf, size_t size)
{
	redisReply *r = redisCommand(fx->s.ctx, "HGET %s %s",
	    keys_instance_details(), id);
	json_object *o = NULL, *v;

	buf[0] = '\0';
	if (r != NULL && r->type == REDIS_REPLY_STRING &&
	    (o = json_tokener_parse(r->str)) != NULL &&
	    json_object_object_get_ex(o, "state", &v))
		snprintf(buf, size, "%s", json_object_get_string(v));
	json_object_put(o);
	freeReplyObject(r);
	return buf;
}

static json_object *
fields(const char *id)
{
	json_object *f = json_object_new_object();

	json_object_object_add(f, "instance", json_object_new_string(id));
	return f;
}

static int
answered(void *arg)
{
	struct fixture *fx = arg;

	return fx->answers > 0;
}

/* Send one move and wait for its answer and what it published. */
static void
move(struct fixture *fx, const char *id, const char *from, const char *to,
    const char *event)
{
	struct instance_move mv = {
		.id = id, .from = from, .to = to, .event = event,
		.level = EVENT_NOTIFY, .fields = fields(id),
	};

	fx->answers = fx->applied = 0;
	assert_int_equal(instance_state_move(fx->rc, fx->lease, &mv, on_moved,
	    fx), 0);
	assert_int_equal(test_wait_for(fx->s.env.loop, answered, fx, 2000), 0);
	/* An event, if any, is published before the answer comes back; wait
	 * for the subscriber to have it. */
	test_wait_for(fx->s.env.loop, NULL, NULL, 100);
	assert_int_equal(fx->answers, 1);
	assert_string_equal(fx->last_id, id);
}

static void
test_applied_once_with_one_event(void **state)
{
	struct fixture *fx = *state;
	char buf[32];

	put_instance(fx, "i-1");
	move(fx, "i-1", "pending", "running", "instance.running");
	assert_int_equal(fx->applied, 1);
	assert_string_equal(state_of(fx, "i-1", buf, sizeof(buf)), "running");
	assert_int_equal(fx->events, 1);
	assert_string_equal(fx->event_type, "instance.running");
	assert_string_equal(fx->event_instance, "i-1");
	assert_true(test_redis_int(fx->s.ctx, "ZSCORE %s i-1",
	    keys_live_client()) >= 0);

	/* The same move again: the instance is no longer pending. */
	move(fx, "i-1", "pending", "running", "instance.running");
	assert_int_equal(fx->applied, 0);
	assert_int_equal(fx->events, 1);
	assert_string_equal(state_of(fx, "i-1", buf, sizeof(buf)), "running");

	/* A move without an event publishes nothing. */
	move(fx, "i-1", "running", "unhealthy", NULL);
	assert_int_equal(fx->applied, 1);
	assert_int_equal(fx->events, 1);
	assert_int_equal(test_redis_int(fx->s.ctx, "ZSCORE %s i-1",
	    keys_live_client()), -1);
}

static void
test_refused_when_the_state_changed(void **state)
{
	struct fixture *fx = *state;
	struct scripts_call c;
	redisReply *r;
	char buf[32];

	put_instance(fx, "i-2");
	/* Someone else (the operator) drained it after the caller looked. */
	assert_int_equal(scripts_call_instance_state(&c, "i-2", "draining"), 0);
	r = test_script(fx->s.ctx, &c);
	assert_non_null(r);
	freeReplyObject(r);
	move(fx, "i-2", "pending", "running", "instance.running");
	assert_int_equal(fx->applied, 0);
	assert_int_equal(fx->events, 0);
	assert_string_equal(state_of(fx, "i-2", buf, sizeof(buf)), "draining");

	/* An instance that is gone. */
	move(fx, "i-none", "pending", "running", "instance.running");
	assert_int_equal(fx->applied, 0);
	assert_int_equal(fx->events, 0);
	assert_int_equal(fx->held, 1);
}

static void
test_fenced_gives_the_lease_up(void **state)
{
	struct fixture *fx = *state;
	char buf[32];

	put_instance(fx, "i-3");
	assert_int_equal(test_redis_do(fx->s.ctx, "SET olbtest:lease:health "
	    "otherhost:9#7 PX 60000"), 0);
	move(fx, "i-3", "pending", "running", "instance.running");
	assert_int_equal(fx->applied, 0);
	assert_int_equal(fx->events, 0);
	assert_int_equal(fx->held, 0);
	assert_int_equal(lease_held(fx->lease), 0);
	assert_string_equal(state_of(fx, "i-3", buf, sizeof(buf)), "pending");
}

static void
test_not_sent(void **state)
{
	struct fixture *fx = *state;
	struct instance_move mv = {
		.id = "i-4", .from = "pending", .to = "running",
		.event = "instance.running", .fields = fields("i-4"),
	};
	char longid[200];

	put_instance(fx, "i-4");
	/* A bad state. */
	mv.to = "sleeping";
	assert_int_equal(instance_state_move(fx->rc, fx->lease, &mv, on_moved,
	    fx), -1);
	/* An id too long. */
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	mv.id = longid;
	mv.to = "running";
	mv.fields = fields("x");
	assert_int_equal(instance_state_move(fx->rc, fx->lease, &mv, on_moved,
	    fx), -1);
	/* The lease not held. */
	lease_lost(fx->lease, "test");
	mv.id = "i-4";
	mv.fields = fields("i-4");
	assert_int_equal(instance_state_move(fx->rc, fx->lease, &mv, on_moved,
	    fx), -1);
	test_wait_for(fx->s.env.loop, NULL, NULL, 100);
	assert_int_equal(fx->answers, 0);
	assert_int_equal(fx->events, 0);
}

static void
test_redis_down(void **state)
{
	struct fixture *fx = *state;
	struct instance_move mv = {
		.id = "i-5", .from = "pending", .to = "running",
		.event = "instance.running", .fields = NULL,
	};

	put_instance(fx, "i-5");
	test_redis_stop(&fx->s.env.srv);
	test_wait_for(fx->s.env.loop, NULL, NULL, 100);
	mv.fields = fields("i-5");
	assert_int_equal(instance_state_move(fx->rc, fx->lease, &mv, on_moved,
	    fx), -1);
	assert_int_equal(fx->answers, 0);
}

static int
two_answers(void *arg)
{
	return ((struct fixture *)arg)->answers >= 2;
}

/* Two movers (an old and a new decision) race from the same state: Redis
 * applies exactly one. */
static void
test_race_one_applies(void **state)
{
	struct fixture *fx = *state;
	struct instance_move a = {
		.id = "i-6", .from = "running", .to = "unhealthy",
		.event = "instance.unhealthy", .level = EVENT_NOTIFY,
	};
	struct instance_move b = {
		.id = "i-6", .from = "running", .to = "draining",
		.event = "instance.draining", .level = EVENT_INFO,
	};
	struct rconn *other;
	char buf[32];

	put_instance(fx, "i-6");
	move(fx, "i-6", "pending", "running", NULL);
	other = rconn_new(fx->s.env.loop, &fx->s.env.conf, "other", NULL, NULL);
	assert_non_null(other);
	assert_int_equal(test_wait_for(fx->s.env.loop, rc_is_up, other, 2000),
	    0);
	fx->answers = fx->applied = 0;
	a.fields = fields("i-6");
	b.fields = fields("i-6");
	assert_int_equal(instance_state_move(fx->rc, fx->lease, &a, on_moved,
	    fx), 0);
	assert_int_equal(instance_state_move(other, fx->lease, &b, on_moved,
	    fx), 0);
	assert_int_equal(test_wait_for(fx->s.env.loop, two_answers, fx, 2000),
	    0);
	test_wait_for(fx->s.env.loop, NULL, NULL, 100);
	assert_int_equal(fx->applied, 1);
	assert_int_equal(fx->events, 1);
	state_of(fx, "i-6", buf, sizeof(buf));
	assert_true(strcmp(buf, "unhealthy") == 0 ||
	    strcmp(buf, "draining") == 0);
	assert_string_equal(fx->event_type, strcmp(buf, "unhealthy") == 0 ?
	    "instance.unhealthy" : "instance.draining");
	rconn_free(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_applied_once_with_one_event,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_when_the_state_changed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_fenced_gives_the_lease_up,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redis_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_race_one_applies, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
