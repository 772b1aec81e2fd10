/*
 * bench_schedule: what the scheduler's time arithmetic costs (common/
 * schedule.c over common/crontz.c), for docs/PERFORMANCE.md: per job and
 * zone, the runs of a year walked with schedule_next, and schedule_prev at
 * random instants of that year, each timed per call.  Run by
 * scripts/bench-scheduler; prints one line per case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cron.h"
#include "common/crontz.h"
#include "common/schedule.h"
#include "tests/bench/bench.h"

#define PREV_CALLS	2000

static double
now_us(void)
{
	return bench_now_ns() / 1e3;
}

static int
bench(const char *zone, const char *expr)
{
	struct schedule_job j = { expr, { 0 }, NULL, 0 };
	time_t from = 1767225600, to = from + 365 * 86400, t = from, prev;	/* 2026 UTC */
	double t0, walk, first, prevs;
	long runs = 0;

	if (crontz_zone(zone) == -1 || cron_parse(expr, &j.cron, NULL, 0) == -1) {
		fprintf(stderr, "bench_schedule: %s / %s\n", zone, expr);
		return -1;
	}
	t0 = now_us();
	(void)schedule_next(&j, from, &t);
	first = now_us() - t0;
	t = from;
	t0 = now_us();
	while (schedule_next(&j, t, &t) == 0 && t < to)
		runs++;
	walk = now_us() - t0;
	srandom(1);
	t0 = now_us();
	for (int i = 0; i < PREV_CALLS; i++)
		(void)schedule_prev(&j, from + random() % (365 * 86400), &prev);
	prevs = (now_us() - t0) / PREV_CALLS;
	printf("%-18s %-16s runs/year %6ld  next: first %.1f us, %.2f us/run "
	    "(%.1f ms for the year)  prev: %.1f us/call\n", zone, expr, runs, first,
	    walk / (double)(runs + 1), walk / 1000.0, prevs);
	return 0;
}

int
main(void)
{
	static const char *const cases[][2] = {
		{ "Asia/Kolkata", "52 23 * * *" },
		{ "Asia/Kolkata", "55 23 * * *" },
		{ "Asia/Kolkata", "*/1 * * * *" },
		{ "America/New_York", "30 2 * * *" },
		{ "America/New_York", "*/1 * * * *" },
		{ "UTC", "*/1 * * * *" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (bench(cases[i][0], cases[i][1]) == -1)
			return 1;
	return 0;
}
