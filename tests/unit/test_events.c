/*
 * Tests of the events publisher (common/events.c) and the key names
 * (common/keys.c).  Events go through a real redis-server started on a free
 * loopback port and are read back by a subscriber rconn: the JSON envelope,
 * queueing while Redis is down and delivery in order afterwards, overflow
 * (events.dropped first), and a forked child not inheriting the queue.
 */
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/events.h"
#include "common/keys.h"
#include "common/redis.h"
#include "common/util.h"
#include "tests/unit/support.h"

#define CHANNEL		"olb:test:events"
#define MSG_MAX		(EVENTS_QUEUE_MAX + 16)

/* One received event, parsed. */
struct received {
	char		 type[64];
	long long	 seq;
	long long	 count;
};

struct fixture {
	struct test_env	 env;		/* loop, server, conf */
	struct rconn	*sub;
	struct rconn	*pub;
	int		 flush_when_both_up;
	struct json_object *first;	/* first message, whole */
	struct received	 msgs[MSG_MAX];
	int		 nmsgs;
	int		 want;		/* for has_messages */
};

static long long
json_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) :
	    -1;
}

static void
on_message(struct rconn *rc, const char *channel, const char *msg, size_t len,
    void *arg)
{
	struct fixture *fx = arg;
	struct json_object *o, *v;
	struct received *r;

	(void)rc;
	(void)len;
	if (strcmp(channel, CHANNEL) != 0 || fx->nmsgs == MSG_MAX ||
	    (o = json_tokener_parse(msg)) == NULL)
		return;
	r = &fx->msgs[fx->nmsgs++];
	if (json_object_object_get_ex(o, "type", &v))
		snprintf(r->type, sizeof(r->type), "%s", json_object_get_string(v));
	r->seq = json_int(o, "seq");
	r->count = json_int(o, "count");
	if (fx->first == NULL)
		fx->first = o;
	else
		json_object_put(o);
}

/* Flush only when the subscriber listens too, so nothing is missed. */
static void
on_state(struct rconn *rc, int up, void *arg)
{
	struct fixture *fx = arg;

	(void)rc;
	if (up && fx->flush_when_both_up && fx->sub != NULL && fx->pub != NULL &&
	    rconn_is_up(fx->sub) && rconn_is_up(fx->pub))
		events_flush();
}

static int
has_messages(void *arg)
{
	struct fixture *fx = arg;

	return fx->nmsgs >= fx->want;
}

static int
both_up(void *arg)
{
	struct fixture *fx = arg;

	return rconn_is_up(fx->sub) && rconn_is_up(fx->pub);
}

static int
pub_down(void *arg)
{
	return !rconn_is_up(((struct fixture *)arg)->pub);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	*state = fx;
	return test_env_init(&fx->env);
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	events_shutdown();
	rconn_free(fx->pub);
	rconn_free(fx->sub);
	json_object_put(fx->first);
	test_env_fini(&fx->env);
	free(fx);
	return 0;
}

/* Subscriber first, publisher second, both up. */
static void
connect_both(struct fixture *fx)
{
	fx->sub = rconn_new(fx->env.loop, &fx->env.conf, "sub", on_state, fx);
	assert_non_null(fx->sub);
	assert_int_equal(rconn_subscribe(fx->sub, CHANNEL, on_message, fx), 0);
	fx->pub = rconn_new(fx->env.loop, &fx->env.conf, "pub", on_state, fx);
	assert_non_null(fx->pub);
	assert_int_equal(test_wait_for(fx->env.loop, both_up, fx, 2000), 0);
}

static struct json_object *
fields_seq(int seq)
{
	struct json_object *f = json_object_new_object();

	json_object_object_add(f, "seq", json_object_new_int(seq));
	return f;
}

static const char *
json_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ?
	    json_object_get_string(v) : "";
}

static void
test_event_has_every_field(void **state)
{
	struct fixture *fx = *state;
	struct json_object *f = json_object_new_object();
	uint64_t before, after;

	assert_int_equal(test_redis_start(&fx->env.srv), 0);
	connect_both(fx);
	assert_int_equal(events_init(fx->pub, CHANNEL, "host-a", "proxy-1"), 0);
	json_object_object_add(f, "instance", json_object_new_string("i-1"));
	json_object_object_add(f, "fails", json_object_new_int(5));
	json_object_object_add(f, "path", json_object_new_string("/api/v1"));
	json_object_object_add(f, "pid", json_object_new_int(1));	/* ignored */
	json_object_object_add(f, "type", json_object_new_string("forged"));
	before = util_wall_ms();
	event_publish(EVENT_NOTIFY, "instance.unhealthy", f);
	after = util_wall_ms();
	assert_int_equal(events_queued(), 0);
	fx->want = 1;
	assert_int_equal(test_wait_for(fx->env.loop, has_messages, fx, 2000),
	    0);

	assert_true(json_int(fx->first, "ts") >= (long long)before);
	assert_true(json_int(fx->first, "ts") <= (long long)after);
	assert_string_equal(json_str(fx->first, "level"), "notify");
	assert_string_equal(json_str(fx->first, "type"), "instance.unhealthy");
	assert_string_equal(json_str(fx->first, "host"), "host-a");
	assert_string_equal(json_str(fx->first, "role"), "proxy-1");
	assert_int_equal(json_int(fx->first, "pid"), getpid());
	assert_string_equal(json_str(fx->first, "instance"), "i-1");
	assert_int_equal(json_int(fx->first, "fails"), 5);
	assert_string_equal(json_str(fx->first, "path"), "/api/v1");

	events_set_role("scaler");
	event_publish(EVENT_ERROR, "scale.out", NULL);
	fx->want = 2;
	assert_int_equal(test_wait_for(fx->env.loop, has_messages, fx, 2000),
	    0);
	assert_string_equal(fx->msgs[1].type, "scale.out");
	assert_int_equal(events_lost(), 0);
	assert_int_equal(events_dropped(), 0);
}

static void
test_queued_while_down_delivered_in_order(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(test_redis_start(&fx->env.srv), 0);
	connect_both(fx);
	fx->flush_when_both_up = 1;
	assert_int_equal(events_init(fx->pub, CHANNEL, "host-a", "scaler"), 0);
	event_publish(EVENT_INFO, "test.seq", fields_seq(0));
	fx->want = 1;
	assert_int_equal(test_wait_for(fx->env.loop, has_messages, fx, 2000),
	    0);

	test_redis_stop(&fx->env.srv);
	assert_int_equal(test_wait_for(fx->env.loop, pub_down, fx, 2000), 0);
	for (int i = 1; i <= 5; i++)
		event_publish(EVENT_INFO, "test.seq", fields_seq(i));
	assert_int_equal(events_queued(), 5);
	assert_int_equal(fx->nmsgs, 1);

	assert_int_equal(test_redis_start(&fx->env.srv), 0);
	fx->want = 6;
	assert_int_equal(test_wait_for(fx->env.loop, has_messages, fx,
	    RCONN_BACKOFF_MAX_MS + 2000), 0);
	for (int i = 0; i < 6; i++) {
		assert_string_equal(fx->msgs[i].type, "test.seq");
		assert_int_equal(fx->msgs[i].seq, i);
	}
	assert_int_equal(events_queued(), 0);
	assert_int_equal(events_dropped(), 0);
}

static void
test_overflow_reports_drops_first(void **state)
{
	struct fixture *fx = *state;
	const int extra = 10;

	assert_int_equal(events_init(NULL, CHANNEL, "host-a", "health"), 0);
	for (int i = 0; i < EVENTS_QUEUE_MAX + extra; i++)
		event_publish(EVENT_INFO, "test.seq", fields_seq(i));
	assert_int_equal(events_queued(), EVENTS_QUEUE_MAX);
	assert_int_equal(events_dropped(), extra);

	assert_int_equal(test_redis_start(&fx->env.srv), 0);
	connect_both(fx);
	events_set_conn(fx->pub);
	fx->want = EVENTS_QUEUE_MAX + 1;
	assert_int_equal(test_wait_for(fx->env.loop, has_messages, fx, 5000),
	    0);
	assert_string_equal(fx->msgs[0].type, "events.dropped");
	assert_int_equal(fx->msgs[0].count, extra);
	assert_string_equal(json_str(fx->first, "level"), "error");
	for (int i = 1; i <= EVENTS_QUEUE_MAX; i++)
		assert_int_equal(fx->msgs[i].seq, extra + i - 1);
	assert_int_equal(events_queued(), 0);

	/* Reported once: the next event comes alone. */
	event_publish(EVENT_INFO, "test.seq", fields_seq(-7));
	fx->want = EVENTS_QUEUE_MAX + 2;
	assert_int_equal(test_wait_for(fx->env.loop, has_messages, fx, 2000),
	    0);
	assert_int_equal(fx->msgs[EVENTS_QUEUE_MAX + 1].seq, -7);
	assert_int_equal(events_dropped(), extra);
}

static void
test_forked_child_inherits_nothing(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(events_init(NULL, CHANNEL, "host-a", "supervisor"), 0);
	for (int i = 0; i < 3; i++)
		event_publish(EVENT_INFO, "test.seq", fields_seq(i));
	assert_int_equal(events_queued(), 3);
	if ((pid = fork()) == 0)
		_exit(events_queued() == 0 ? 0 : 1);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(events_queued(), 3);
}

static void
test_key_names(void **state)
{
	char buf[64], tiny[8];

	(void)state;
	assert_int_equal(keys_init("loadbalancer:", "loadbalancer:events"), 0);
	assert_string_equal(keys_events_channel(), "loadbalancer:events");
	assert_int_equal(keys_worker(buf, sizeof(buf), "web1", "proxy-1"), 0);
	assert_string_equal(buf, "loadbalancer:worker:web1:proxy-1");
	assert_int_equal(keys_worker_pattern(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "loadbalancer:worker:*");
	assert_int_equal(keys_worker(tiny, sizeof(tiny), "web1", "scaler"), -1);
	assert_string_equal(tiny, "");
	assert_string_equal(keys_instance_details(),
	    "loadbalancer:instance_details");
	assert_string_equal(keys_instance_user_counts(),
	    "loadbalancer:instance_user_counts");
	assert_string_equal(keys_master_mapping(), "loadbalancer:master_mapping");
	assert_string_equal(keys_client_master_tracking(),
	    "loadbalancer:client_master_tracking");
	assert_string_equal(keys_global_state(), "loadbalancer:global_state");
	assert_int_equal(keys_health_history(buf, sizeof(buf), "i-9"), 0);
	assert_string_equal(buf, "OrderListenerHealthManager:history:i-9");
	assert_int_equal(keys_health_stats(buf, sizeof(buf), "i-9"), 0);
	assert_string_equal(buf, "OrderListenerHealthManager:stats:i-9");
	assert_int_equal(keys_init("p:", "c"), 0);
	assert_int_equal(keys_worker(buf, sizeof(buf), "h", "scaler"), 0);
	assert_string_equal(buf, "p:worker:h:scaler");
	assert_int_equal(keys_init(NULL, "c"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_event_has_every_field,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_queued_while_down_delivered_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_reports_drops_first,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_forked_child_inherits_nothing,
		    setup, teardown),
		cmocka_unit_test(test_key_names),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
