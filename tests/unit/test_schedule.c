/*
 * test_schedule: jobs' runs as instants (common/schedule.c): the last run
 * before a moment (checked against the next-run function, not a walk),
 * holidays, what is due after downtime (the phase rule and the missed
 * runs, bounded) and the test clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/cron.h"
#include "common/crontz.h"
#include "common/schedule.h"
#include "common/util.h"
#include "tests/unit/support.h"

static struct schedule_job
job(const char *name, const char *expr, const int *skip, size_t nskip)
{
	struct schedule_job j = { name, { 0 }, skip, nskip };

	assert_int_equal(cron_parse(expr, &j.cron, NULL, 0), 0);
	return j;
}

/* prev(at) is a run, at or before at, and no run lies in (prev, at]. */
static void
check_prev(const struct schedule_job *j, time_t at)
{
	time_t prev, t;

	assert_int_equal(schedule_prev(j, at, &prev), 0);
	assert_true(prev <= at);
	assert_int_equal(schedule_next(j, prev - 1, &t), 0);
	if (t != prev)
		fail_msg("%s: prev(%lld) = %lld is not a run", j->name,
		    (long long)at, (long long)prev);
	assert_int_equal(schedule_next(j, prev, &t), 0);
	if (t <= at)
		fail_msg("%s: prev(%lld) = %lld, but %lld runs in between",
		    j->name, (long long)at, (long long)prev, (long long)t);
}

static void
test_prev_is_the_last_run(void **state)
{
	static const char *const zones[] = { "Asia/Kolkata", "America/New_York",
	    "Europe/London" };
	static const char *const exprs[] = { "52 23 * * *", "*/7 * * * *",
	    "0 9 * * 1-5", "30 1 * * *", "30 2 * * *", "0 0 29 2 *",
	    "* * * 1 *", "15 10 1,15 * 5" };
	time_t from = test_utc(2026, 1, 1, 0, 0);

	(void)state;
	srandom(42);
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		assert_int_equal(crontz_zone(zones[z]), 0);
		for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++) {
			struct schedule_job j = job(exprs[e], exprs[e], NULL, 0);

			for (int k = 0; k < 300; k++)
				check_prev(&j, from + random() % (366 * 86400));
			/* the DST days of 2026, minute by minute around 2 am */
			for (time_t t = test_utc(2026, 3, 8, 5, 0); t < test_utc(2026, 3, 8, 9, 0);
			    t += 60)
				check_prev(&j, t);
			for (time_t t = test_utc(2026, 11, 1, 4, 0); t < test_utc(2026, 11, 1, 8, 0);
			    t += 60)
				check_prev(&j, t);
		}
	}
}

/* A run on a holiday does not happen, in both directions. */
static void
test_holidays(void **state)
{
	static const int skip[] = { 20261225, 20261226 };
	struct schedule_job j = job("up", "0 9 * * *", skip, 2);
	time_t t;

	(void)state;
	assert_int_equal(crontz_zone("Asia/Kolkata"), 0);
	assert_true(schedule_skipped(&j, 20261225));
	assert_false(schedule_skipped(&j, 20261224));
	/* 09:00 IST is 03:30 UTC */
	assert_int_equal(schedule_next(&j, test_utc(2026, 12, 24, 4, 0), &t), 0);
	assert_int_equal(t, test_utc(2026, 12, 27, 3, 30));
	assert_int_equal(schedule_prev(&j, test_utc(2026, 12, 26, 12, 0), &t), 0);
	assert_int_equal(t, test_utc(2026, 12, 24, 3, 30));
	assert_int_equal(schedule_date(test_utc(2026, 12, 24, 20, 0)), 20261225);
}

/* "0 0 30 2 *" never runs: no next, no prev. */
static void
test_never(void **state)
{
	struct schedule_job j = job("never", "0 0 30 2 *", NULL, 0);
	time_t t;

	(void)state;
	assert_int_equal(schedule_next(&j, test_utc(2026, 1, 1, 0, 0), &t), -1);
	assert_int_equal(schedule_prev(&j, test_utc(2026, 1, 1, 0, 0), &t), -1);
}

/* Kolkata: up at 09:00 (03:30 UTC), down at 23:55 (18:25 UTC). */
static void
daily(struct schedule_job *jobs)
{
	assert_int_equal(crontz_zone("Asia/Kolkata"), 0);
	jobs[0] = job("up", "0 9 * * *", NULL, 0);
	jobs[1] = job("down", "55 23 * * *", NULL, 0);
}

static void
test_due_phase_without_history(void **state)
{
	struct schedule_job jobs[2];
	struct schedule_due run, missed[8];

	(void)state;
	daily(jobs);
	/* 10:00 IST: inside the day, the fleet comes up */
	assert_int_equal(schedule_due(jobs, 2, 0, test_utc(2026, 12, 6, 4, 30), &run,
	    missed, 8, 8), 0);
	assert_int_equal(run.job, 0);
	assert_int_equal(run.at, test_utc(2026, 12, 6, 3, 30));
	/* 23:58 IST: after teardown, down */
	assert_int_equal(schedule_due(jobs, 2, 0, test_utc(2026, 12, 6, 18, 28), &run,
	    missed, 8, 8), 0);
	assert_int_equal(run.job, 1);
	assert_int_equal(run.at, test_utc(2026, 12, 6, 18, 25));
	/* 08:00 IST: still yesterday's teardown */
	assert_int_equal(schedule_due(jobs, 2, 0, test_utc(2026, 12, 7, 2, 30), &run,
	    missed, 8, 8), 0);
	assert_int_equal(run.job, 1);
	assert_int_equal(run.at, test_utc(2026, 12, 6, 18, 25));
}

static void
test_due_after_downtime(void **state)
{
	struct schedule_job jobs[2];
	struct schedule_due run, missed[8];
	time_t now = test_utc(2026, 12, 9, 4, 30);	/* 10:00 IST, Dec 9 */

	(void)state;
	daily(jobs);
	/* nothing since 09:30 */
	assert_int_equal(schedule_due(jobs, 2, test_utc(2026, 12, 9, 4, 0), now, &run,
	    missed, 8, 8), 0);
	assert_int_equal(run.job, 2);
	/* exactly at the run: due */
	assert_int_equal(schedule_due(jobs, 2, test_utc(2026, 12, 9, 3, 29),
	    test_utc(2026, 12, 9, 3, 30), &run, missed, 8, 8), 0);
	assert_int_equal(run.job, 0);
	/* down since Dec 6 10:00: three teardowns and two launches missed */
	assert_int_equal(schedule_due(jobs, 2, test_utc(2026, 12, 6, 4, 30), now, &run,
	    missed, 8, 8), 5);
	assert_int_equal(run.job, 0);
	assert_int_equal(run.at, test_utc(2026, 12, 9, 3, 30));
	assert_int_equal(missed[0].job, 1);
	assert_int_equal(missed[0].at, test_utc(2026, 12, 8, 18, 25));
	assert_int_equal(missed[1].job, 0);
	assert_int_equal(missed[1].at, test_utc(2026, 12, 8, 3, 30));
	assert_int_equal(missed[4].job, 1);
	assert_int_equal(missed[4].at, test_utc(2026, 12, 6, 18, 25));
	/* bounded: one per job, two in all */
	assert_int_equal(schedule_due(jobs, 2, test_utc(2026, 12, 6, 4, 30), now, &run,
	    missed, 8, 1), 2);
	assert_int_equal(missed[0].at, test_utc(2026, 12, 8, 18, 25));
	assert_int_equal(missed[1].at, test_utc(2026, 12, 8, 3, 30));
	assert_int_equal(schedule_due(jobs, 2, test_utc(2026, 12, 6, 4, 30), now, &run,
	    missed, 3, 8), 3);
	assert_int_equal(missed[2].at, test_utc(2026, 12, 7, 18, 25));
	assert_int_equal(run.at, test_utc(2026, 12, 9, 3, 30));
}

/* New York's spring-forward day: a 02:30 job runs at 03:00 EDT, once. */
static void
test_due_in_a_gap(void **state)
{
	struct schedule_job j;
	struct schedule_due run, missed[4], next;

	(void)state;
	assert_int_equal(crontz_zone("America/New_York"), 0);
	j = job("gap", "30 2 * * *", NULL, 0);
	assert_int_equal(schedule_upcoming(&j, 1, test_utc(2026, 3, 7, 12, 0), &next), 0);
	assert_int_equal(next.at, test_utc(2026, 3, 8, 7, 0));	/* 03:00 EDT */
	assert_int_equal(schedule_due(&j, 1, test_utc(2026, 3, 8, 6, 59),
	    test_utc(2026, 3, 8, 7, 30), &run, missed, 4, 4), 0);
	assert_int_equal(run.at, test_utc(2026, 3, 8, 7, 0));
	assert_int_equal(schedule_upcoming(&j, 1, run.at, &next), 0);
	assert_int_equal(next.at, test_utc(2026, 3, 9, 6, 30));	/* 02:30 EDT */
}

static void
test_clock(void **state)
{
	(void)state;
#ifdef OLB_TEST
	char v[96];
	long long real0 = (long long)util_wall_ms(), sim0 = 1796000000000LL;
	int64_t now;

	snprintf(v, sizeof(v), "%lld:%lld:%d", real0, sim0, 1000);
	setenv("OLB_TEST_CLOCK", v, 1);
	now = schedule_now_ms();
	assert_true(now >= sim0 && now < sim0 + 5000 * 1000LL);
	/* a simulated minute is 60 real ms */
	assert_true(schedule_wait_ms(now + 60000) <= 60);
	assert_true(schedule_wait_ms(now + 60000) >= 59);
	assert_int_equal(schedule_wait_ms(now - 1), 0);
#else
	int64_t now = schedule_now_ms();

	assert_true(now - (int64_t)util_wall_ms() < 1000);
	assert_true(schedule_wait_ms(now + 60000) > 58000);
#endif
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prev_is_the_last_run),
		cmocka_unit_test(test_holidays),
		cmocka_unit_test(test_never),
		cmocka_unit_test(test_due_phase_without_history),
		cmocka_unit_test(test_due_after_downtime),
		cmocka_unit_test(test_due_in_a_gap),
		cmocka_unit_test(test_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
