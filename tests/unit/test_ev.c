/*
 * Unit tests of the event loop: timer order and re-arming, descriptor
 * readiness, signals through the loop, and stopping.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/ev.h"

struct record {
	int	 order[16];
	int	 n;
};

struct tagged {
	struct ev_timer	 t;
	struct record	*rec;
	int		 tag;
};

static void
on_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct tagged *x = arg;

	(void)t;
	x->rec->order[x->rec->n++] = x->tag;
	if (x->tag == 99)
		ev_stop(loop);
}

static void
test_timers_fire_in_deadline_order(void **state)
{
	struct ev_loop *loop = ev_loop_new(64);
	struct record rec = { .n = 0 };
	struct tagged x[5];
	const uint64_t ms[5] = { 30, 10, 20, 5, 40 };

	(void)state;
	memset(x, 0, sizeof(x));
	for (int i = 0; i < 5; i++) {
		x[i].rec = &rec;
		x[i].tag = i == 4 ? 99 : i;
		ev_timer_start(loop, &x[i].t, ms[i], on_timer, &x[i]);
	}
	ev_timer_stop(loop, &x[2].t);		/* cancelled: never fires */
	ev_timer_start(loop, &x[1].t, 25, on_timer, &x[1]);	/* re-armed later */
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(rec.n, 4);
	assert_int_equal(rec.order[0], 3);
	assert_int_equal(rec.order[1], 1);
	assert_int_equal(rec.order[2], 0);
	assert_int_equal(rec.order[3], 99);
	ev_loop_free(loop);
}

struct ordered {
	uint64_t	 last_when;
	int		 fired;
	int		 in_order;
};

static void
on_ordered(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct ordered *o = arg;

	if (t->when < o->last_when)
		o->in_order = 0;
	o->last_when = t->when;
	if (++o->fired == 101)
		ev_stop(loop);
}

static void
test_many_timers_stay_ordered(void **state)
{
	struct ev_loop *loop = ev_loop_new(64);
	static struct ev_timer t[201];
	struct ordered o = { 0, 0, 1 };

	(void)state;
	memset(t, 0, sizeof(t));
	/* Arm 200 timers, stop every other one: the heap must stay ordered. */
	for (int i = 0; i < 200; i++)
		ev_timer_start(loop, &t[i], (uint64_t)((i * 7919) % 50), on_ordered, &o);
	for (int i = 0; i < 200; i += 2)
		ev_timer_stop(loop, &t[i]);
	ev_timer_start(loop, &t[200], 60, on_ordered, &o);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(o.fired, 101);
	assert_true(o.in_order);
	ev_loop_free(loop);
}

static void
on_readable(struct ev_loop *loop, int fd, int mask, void *arg)
{
	char buf[16];
	int *got = arg;

	assert_true(mask & EV_READ);
	*got = (int)read(fd, buf, sizeof(buf));
	ev_io_del(loop, fd, EV_READ);
	ev_stop(loop);
}

static void
test_io_readiness(void **state)
{
	struct ev_loop *loop = ev_loop_new(64);
	int pfd[2], got = 0;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(ev_io_add(loop, pfd[0], EV_READ, on_readable, &got), 0);
	assert_int_equal(ev_io_mask(loop, pfd[0]), EV_READ);
	assert_int_equal(write(pfd[1], "hello", 5), 5);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(got, 5);
	assert_int_equal(ev_io_mask(loop, pfd[0]), 0);
	assert_int_equal(ev_io_add(loop, 100000, EV_READ, on_readable, &got), -1);
	close(pfd[0]);
	close(pfd[1]);
	ev_loop_free(loop);
}

/* Order of dispatch: each callback appends its fd. */
struct io_order {
	int	 fds[8];
	int	 n;
};

static void
on_io_ordered(struct ev_loop *loop, int fd, int mask, void *arg)
{
	struct io_order *o = arg;
	char buf[16];

	(void)mask;
	(void)read(fd, buf, sizeof(buf));
	ev_io_del(loop, fd, EV_READ);
	o->fds[o->n++] = fd;
	if (o->n == 3)
		ev_stop(loop);
}

/* Three descriptors ready at one wakeup: the one marked first is
 * dispatched first whatever epoll's order; the mark goes with the fd. */
static void
test_io_first(void **state)
{
	struct ev_loop *loop = ev_loop_new(64);
	int p[3][2];
	struct io_order o;

	(void)state;
	for (int round = 0; round < 3; round++) {
		memset(&o, 0, sizeof(o));
		for (int i = 0; i < 3; i++) {
			assert_int_equal(pipe(p[i]), 0);
			assert_int_equal(ev_io_add(loop, p[i][0], EV_READ, on_io_ordered, &o), 0);
		}
		ev_io_first(loop, p[round][0]);
		for (int i = 0; i < 3; i++)
			assert_int_equal(write(p[i][1], "x", 1), 1);
		assert_int_equal(ev_run(loop), 0);
		assert_int_equal(o.n, 3);
		assert_int_equal(o.fds[0], p[round][0]);
		for (int i = 0; i < 3; i++) {
			close(p[i][0]);
			close(p[i][1]);
		}
	}
	ev_loop_free(loop);
}

static void
on_signal(struct ev_loop *loop, int signo, void *arg)
{
	*(int *)arg = signo;
	ev_stop(loop);
}

static void
test_signal_through_loop(void **state)
{
	struct ev_loop *loop = ev_loop_new(64);
	int got = 0;

	(void)state;
	assert_int_equal(ev_signal_add(loop, SIGUSR2, on_signal, &got), 0);
	kill(getpid(), SIGUSR2);	/* blocked: delivered by the loop */
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(got, SIGUSR2);
	ev_loop_free(loop);
	ev_signals_reset();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_deadline_order),
		cmocka_unit_test(test_many_timers_stay_ordered),
		cmocka_unit_test(test_io_readiness),
		cmocka_unit_test(test_io_first),
		cmocka_unit_test(test_signal_through_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
