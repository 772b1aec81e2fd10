/*
 * test_crontz: cron runs as instants in real time zones of the tz database,
 * on real 2026 transition days: a run in a spring-forward gap happens once,
 * at the gap's end; a repeated wall-clock time runs once, at its first
 * occurrence; the default zone (no daylight saving) maps the default jobs
 * to their UTC times.
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
#include "tests/unit/support.h"

/* The runs of expr in zone after from, n of them, must be want[]. */
static void
runs(const char *zone, const char *expr, time_t from, const time_t *want,
    size_t n)
{
	struct cron c;
	time_t t = from, next;

	assert_int_equal(crontz_zone(zone), 0);
	assert_int_equal(cron_parse(expr, &c, NULL, 0), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(crontz_next(&c, t, &next), 0);
		if (next != want[i])
			fail_msg("%s \"%s\" run %zu: %lld, want %lld (%lld s off)",
			    zone, expr, i, (long long)next, (long long)want[i],
			    (long long)(next - want[i]));
		t = next;
	}
}

/* America/New_York, 2026-03-08: 02:00 EST becomes 03:00 EDT. */
static void
test_new_york_gap(void **state)
{
	const time_t daily[] = {
		test_utc(2026, 3, 8, 7, 0),		/* 02:30 does not exist: 03:00 EDT */
		test_utc(2026, 3, 9, 6, 30),		/* 02:30 EDT the next day */
	};
	const time_t every[] = {
		test_utc(2026, 3, 8, 7, 0),		/* the whole hour 2: once, at 03:00 */
		test_utc(2026, 3, 9, 6, 0),		/* 02:00 EDT the next day */
	};

	(void)state;
	runs("America/New_York", "30 2 * * *", test_utc(2026, 3, 8, 5, 0), daily, 2);
	runs("America/New_York", "* 2 * * *", test_utc(2026, 3, 8, 6, 0), every, 2);
}

/* America/New_York, 2026-11-01: 02:00 EDT becomes 01:00 EST. */
static void
test_new_york_overlap(void **state)
{
	const time_t daily[] = {
		test_utc(2026, 11, 1, 5, 30),	/* 01:30 EDT, the first */
		test_utc(2026, 11, 2, 6, 30),	/* not 01:30 EST: the next day */
	};
	const time_t half[] = {
		test_utc(2026, 11, 1, 5, 30),	/* 01:30 EDT */
		test_utc(2026, 11, 1, 7, 0),		/* 02:00 EST: 01:00 and 01:30 EST skipped */
		test_utc(2026, 11, 1, 7, 30),
	};

	(void)state;
	runs("America/New_York", "30 1 * * *", test_utc(2026, 11, 1, 4, 0), daily, 2);
	runs("America/New_York", "*/30 * * * *", test_utc(2026, 11, 1, 5, 10), half, 3);
	/* Started in the second pass (01:10 EST): nothing repeats. */
	runs("America/New_York", "30 1 * * *", test_utc(2026, 11, 1, 6, 10), daily + 1, 1);
}

/* Europe/London, 2026-03-29 01:00 GMT -> 02:00 BST and 2026-10-25
 * 02:00 BST -> 01:00 GMT. */
static void
test_london(void **state)
{
	const time_t spring[] = {
		test_utc(2026, 3, 29, 1, 0),		/* 01:30 does not exist: 02:00 BST */
		test_utc(2026, 3, 30, 0, 30),	/* 01:30 BST */
	};
	const time_t autumn[] = {
		test_utc(2026, 10, 25, 0, 30),	/* 01:30 BST, the first */
		test_utc(2026, 10, 26, 1, 30),	/* 01:30 GMT the next day */
	};

	(void)state;
	runs("Europe/London", "30 1 * * *", test_utc(2026, 3, 28, 12, 0), spring, 2);
	runs("Europe/London", "30 1 * * *", test_utc(2026, 10, 24, 12, 0), autumn, 2);
}

/* The default zone and jobs: 23:52 and 23:55 Asia/Kolkata are 18:22 and
 * 18:25 UTC; the host's TZ does not matter. */
static void
test_kolkata_defaults(void **state)
{
	const time_t up[] = { test_utc(2026, 12, 6, 18, 22), test_utc(2026, 12, 7, 18, 22) };
	const time_t down[] = { test_utc(2026, 12, 6, 18, 25) };

	(void)state;
	runs("Asia/Kolkata", "52 23 * * *", test_utc(2026, 12, 6, 0, 0), up, 2);
	runs("Asia/Kolkata", "55 23 * * *", test_utc(2026, 12, 6, 18, 22), down, 1);
}

static void
test_bad_zones(void **state)
{
	(void)state;
	assert_int_equal(crontz_zone("Mars/Olympus_Mons"), -1);
	assert_int_equal(crontz_zone(""), -1);
	assert_int_equal(crontz_zone("../../etc/passwd"), -1);
	assert_int_equal(crontz_zone("/etc/localtime"), -1);
	assert_int_equal(crontz_zone(NULL), -1);
}

/* An expression that never matches has no next run. */
static void
test_never(void **state)
{
	struct cron c;
	time_t next;

	(void)state;
	assert_int_equal(crontz_zone("UTC"), 0);
	assert_int_equal(cron_parse("0 0 30 2 *", &c, NULL, 0), 0);
	assert_int_equal(crontz_next(&c, test_utc(2026, 1, 1, 0, 0), &next), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_york_gap),
		cmocka_unit_test(test_new_york_overlap),
		cmocka_unit_test(test_london),
		cmocka_unit_test(test_kolkata_defaults),
		cmocka_unit_test(test_bad_zones),
		cmocka_unit_test(test_never),
	};

	setenv("TZ", "Pacific/Auckland", 1);	/* the host's: never used */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
