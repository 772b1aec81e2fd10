/*
 * Tests of a singleton duty's lease (workers/lease.c) on the async
 * connection, against a real redis-server: taken at start and announced
 * once, renewed (same token, fence unchanged), held by one lease of a duty
 * only and independent between duties, given up when another holder has it
 * or when it could not be renewed within its ttl (Redis stopped), a dead
 * holder of this host replaced at once, writes fenced by its token, given
 * back by a drop so another takes it at once, and freed with a call in
 * flight without a callback.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "common/ev.h"
#include "common/keys.h"
#include "common/redis.h"
#include "common/scripts.h"
#include "common/util.h"
#include "tests/unit/support.h"
#include "workers/lease.h"

#define TTL_MS		300	/* renewed every 100 ms */

/* What one lease's callback saw. */
struct seen {
	int	 acquired;
	int	 lost;
	int	 held;		/* the last callback's */
};

struct fixture {
	struct test_sync	 s;	/* loop, server, blocking ctx */
	struct rconn		*rc;
	struct seen		 a, b;
	int			 dropped;
};

static void
on_lease(struct lease *l, int held, void *arg)
{
	struct seen *s = arg;

	(void)l;
	s->held = held;
	if (held)
		s->acquired++;
	else
		s->lost++;
}

static int
rc_up(void *arg)
{
	return rconn_is_up(arg);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	*state = fx;
	if (fx == NULL || test_sync_init(&fx->s) == -1)
		return -1;
	fx->rc = rconn_new(fx->s.env.loop, &fx->s.env.conf, "lease", NULL, NULL);
	if (fx->rc == NULL)
		return -1;
	return test_wait_for(fx->s.env.loop, rc_up, fx->rc, 2000);
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	rconn_free(fx->rc);
	test_sync_fini(&fx->s);
	free(fx);
	return 0;
}

/* The value of key in Redis, in buf ("" if none). */
static const char *
redis_get(struct fixture *fx, const char *key, char *buf, size_t size)
{
	redisReply *r = redisCommand(fx->s.ctx, "GET %s", key);

	buf[0] = '\0';
	if (r != NULL && r->type == REDIS_REPLY_STRING)
		snprintf(buf, size, "%s", r->str);
	freeReplyObject(r);
	return buf;
}

static int
a_acquired(void *arg)
{
	return ((struct fixture *)arg)->a.acquired > 0;
}

static int
a_lost(void *arg)
{
	return ((struct fixture *)arg)->a.lost > 0;
}

static int
b_acquired(void *arg)
{
	return ((struct fixture *)arg)->b.acquired > 0;
}

static struct lease *
start(struct fixture *fx, const char *duty, struct seen *seen)
{
	struct lease *l = lease_new(fx->rc, duty, TTL_MS, on_lease, seen);

	assert_non_null(l);
	lease_start(l);
	return l;
}

static void
test_taken_announced_once_and_renewed(void **state)
{
	struct fixture *fx = *state;
	char key[KEYS_NAME_MAX], want[256], buf[256];
	struct lease *l = start(fx, "scaler", &fx->a);

	assert_int_equal(lease_held(l), 0);
	assert_string_equal(lease_token(l), "");
	assert_int_equal(test_wait_for(fx->s.env.loop, a_acquired, fx, 2000), 0);
	snprintf(want, sizeof(want), "%s:%d#1", util_hostname(), (int)getpid());
	assert_string_equal(lease_token(l), want);
	assert_string_equal(lease_key(l), keys_lease_scaler());
	assert_string_equal(redis_get(fx, keys_lease_scaler(), buf, sizeof(buf)),
	    want);
	assert_int_equal(keys_lease(key, sizeof(key), "scaler"), 0);
	assert_string_equal(key, "olbtest:lease:scaler");

	/* Three ttls later: renewed all along, same token, one announcement. */
	test_wait_for(fx->s.env.loop, NULL, NULL, 3 * TTL_MS);
	assert_int_equal(lease_held(l), 1);
	assert_string_equal(lease_token(l), want);
	assert_int_equal(fx->a.acquired, 1);
	assert_int_equal(fx->a.lost, 0);
	assert_int_equal(test_redis_int(fx->s.ctx, "GET %s",
	    keys_lease_scaler_fence()), 1);
	assert_true(test_redis_int(fx->s.ctx, "PTTL %s", keys_lease_scaler()) >
	    0);
	lease_free(l);
}

static void
test_one_holder_per_duty(void **state)
{
	struct fixture *fx = *state;
	struct lease *a = start(fx, "health", &fx->a), *b;
	struct seen other = { 0, 0, 0 };
	struct lease *c;

	assert_int_equal(test_wait_for(fx->s.env.loop, a_acquired, fx, 2000), 0);
	b = start(fx, "health", &fx->b);
	c = start(fx, "scheduler", &other);
	test_wait_for(fx->s.env.loop, NULL, NULL, 2 * TTL_MS);
	assert_int_equal(lease_held(a), 1);
	assert_int_equal(lease_held(b), 0);
	assert_int_equal(fx->b.acquired, 0);
	assert_int_equal(lease_held(c), 1);
	assert_int_equal(other.acquired, 1);
	lease_free(a);
	lease_free(b);
	lease_free(c);
}

static void
test_lost_to_another_holder(void **state)
{
	struct fixture *fx = *state;
	struct lease *l = start(fx, "scaler", &fx->a);

	assert_int_equal(test_wait_for(fx->s.env.loop, a_acquired, fx, 2000), 0);
	/* Another host took it over (the lease expired there meanwhile). */
	assert_int_equal(test_redis_do(fx->s.ctx, "SET %s otherhost:7#9 PX 60000",
	    keys_lease_scaler()), 0);
	assert_int_equal(test_wait_for(fx->s.env.loop, a_lost, fx, 2000), 0);
	assert_int_equal(lease_held(l), 0);
	assert_int_equal(fx->a.held, 0);
	assert_string_equal(lease_token(l), "");
	/* It is not taken back while the other holds it. */
	test_wait_for(fx->s.env.loop, NULL, NULL, 2 * TTL_MS);
	assert_int_equal(fx->a.acquired, 1);
	assert_int_equal(fx->a.lost, 1);
	lease_free(l);
}

static void
test_lost_when_not_renewed_in_time(void **state)
{
	struct fixture *fx = *state;
	struct lease *l = start(fx, "scaler", &fx->a);
	uint64_t t0;

	assert_int_equal(test_wait_for(fx->s.env.loop, a_acquired, fx, 2000), 0);
	t0 = util_mono_ms();
	test_redis_stop(&fx->s.env.srv);
	assert_int_equal(test_wait_for(fx->s.env.loop, a_lost, fx, 5 * TTL_MS), 0);
	/* Not before the ttl ran out since the last renewal. */
	assert_true(util_mono_ms() - t0 >= TTL_MS - TTL_MS / 3 - 20);
	assert_int_equal(lease_held(l), 0);

	/* Redis back (empty): taken again, under a new fence. */
	assert_int_equal(test_redis_start(&fx->s.env.srv), 0);
	fx->a.acquired = 0;
	lease_retry(l);
	assert_int_equal(test_wait_for(fx->s.env.loop, a_acquired, fx, 5000), 0);
	assert_int_equal(lease_held(l), 1);
	lease_free(l);
}

static void
test_dead_local_holder_replaced_at_once(void **state)
{
	struct fixture *fx = *state;
	struct lease *l;
	pid_t dead;
	uint64_t t0;

	if ((dead = fork()) == 0)
		_exit(0);
	assert_true(dead > 0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	/* A lease far from expiry, held by a process of this host now gone. */
	assert_int_equal(test_redis_do(fx->s.ctx, "SET %s %s:%d#4 PX 60000",
	    keys_lease_scaler(), util_hostname(), (int)dead), 0);
	assert_int_equal(test_redis_do(fx->s.ctx, "SET %s 4",
	    keys_lease_scaler_fence()), 0);
	t0 = util_mono_ms();
	l = start(fx, "scaler", &fx->a);
	assert_int_equal(test_wait_for(fx->s.env.loop, a_acquired, fx, 2000), 0);
	assert_true(util_mono_ms() - t0 < 2000);
	assert_non_null(strstr(lease_token(l), "#5"));

	/* A holder of this host that is alive is waited for. */
	lease_free(l);
	assert_int_equal(test_redis_do(fx->s.ctx, "SET %s %s:1#6 PX 60000",
	    keys_lease_scaler(), util_hostname()), 0);
	fx->b.acquired = 0;
	l = start(fx, "scaler", &fx->b);
	test_wait_for(fx->s.env.loop, NULL, NULL, 2 * TTL_MS);
	assert_int_equal(fx->b.acquired, 0);
	lease_free(l);
}

static void
test_writes_fenced_by_the_token(void **state)
{
	struct fixture *fx = *state;
	struct lease *l = start(fx, "scaler", &fx->a);
	struct scripts_call c;
	redisReply *r;

	assert_int_equal(test_wait_for(fx->s.env.loop, a_acquired, fx, 2000), 0);
	assert_int_equal(scripts_call_instance_remove(&c, "i-1"), 0);
	assert_int_equal(lease_fence(l, &c), 0);
	r = test_script(fx->s.ctx, &c);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	freeReplyObject(r);

	/* The same write built after the lease passed on is refused. */
	assert_int_equal(test_redis_do(fx->s.ctx, "SET %s otherhost:7#9 PX 60000",
	    keys_lease_scaler()), 0);
	assert_int_equal(scripts_call_instance_remove(&c, "i-1"), 0);
	assert_int_equal(lease_fence(l, &c), 0);
	r = test_script(fx->s.ctx, &c);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ERROR);
	assert_non_null(strstr(r->str, "FENCED"));
	freeReplyObject(r);
	lease_lost(l, "a write was fenced");
	assert_int_equal(lease_held(l), 0);
	assert_int_equal(fx->a.lost, 1);
	lease_lost(l, "again");
	assert_int_equal(fx->a.lost, 1);
	lease_free(l);
}

static void
on_dropped(void *arg)
{
	((struct fixture *)arg)->dropped++;
}

static int
dropped(void *arg)
{
	return ((struct fixture *)arg)->dropped > 0;
}

static void
test_drop_hands_over_at_once(void **state)
{
	struct fixture *fx = *state;
	struct lease *a = start(fx, "scaler", &fx->a), *b;
	char buf[256];

	assert_int_equal(test_wait_for(fx->s.env.loop, a_acquired, fx, 2000), 0);
	b = lease_new(fx->rc, "scaler", 60000, on_lease, &fx->b);
	assert_non_null(b);
	lease_start(b);
	test_wait_for(fx->s.env.loop, NULL, NULL, 100);
	assert_int_equal(lease_held(b), 0);

	/* A renewal in flight when the drop is sent must not make a
	 * holder again. */
	lease_retry(a);
	assert_int_equal(lease_drop(a, on_dropped, fx), 0);
	assert_int_equal(lease_held(a), 0);
	assert_int_equal(test_wait_for(fx->s.env.loop, dropped, fx, 2000), 0);
	assert_string_equal(redis_get(fx, keys_lease_scaler(), buf, sizeof(buf)),
	    "");
	/* Nothing left to give back; no renewal after a drop. */
	assert_int_equal(lease_drop(a, on_dropped, fx), -1);
	/* b takes it at a retry, not after a's ttl (b's tick is 20 s). */
	lease_retry(b);
	assert_int_equal(test_wait_for(fx->s.env.loop, b_acquired, fx, 2000), 0);
	test_wait_for(fx->s.env.loop, NULL, NULL, 2 * TTL_MS);
	assert_int_equal(fx->dropped, 1);
	assert_int_equal(fx->a.acquired, 1);
	assert_int_equal(lease_held(b), 1);
	lease_free(a);
	lease_free(b);
}

static void
test_freed_with_a_call_in_flight(void **state)
{
	struct fixture *fx = *state;
	struct lease *l = start(fx, "scaler", &fx->a);
	char buf[256];

	/* A take is sent at once (the first tick has not run); free before
	 * its answer. */
	lease_retry(l);
	lease_free(l);
	test_wait_for(fx->s.env.loop, NULL, NULL, 2 * TTL_MS);
	assert_int_equal(fx->a.acquired, 0);
	assert_int_equal(fx->a.lost, 0);
	/* The lease may have been written; it is simply not renewed. */
	redis_get(fx, keys_lease_scaler(), buf, sizeof(buf));
	assert_true(buf[0] == '\0' || strstr(buf, "#1") != NULL);
}

static void
test_bad_arguments(void **state)
{
	struct fixture *fx = *state;
	char longduty[300];

	memset(longduty, 'd', sizeof(longduty) - 1);
	longduty[sizeof(longduty) - 1] = '\0';
	assert_null(lease_new(NULL, "scaler", TTL_MS, NULL, NULL));
	assert_null(lease_new(fx->rc, NULL, TTL_MS, NULL, NULL));
	assert_null(lease_new(fx->rc, "scaler", 0, NULL, NULL));
	assert_null(lease_new(fx->rc, longduty, TTL_MS, NULL, NULL));
	lease_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_taken_announced_once_and_renewed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_holder_per_duty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lost_to_another_holder, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lost_when_not_renewed_in_time,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_local_holder_replaced_at_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_writes_fenced_by_the_token,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_hands_over_at_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_freed_with_a_call_in_flight,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
