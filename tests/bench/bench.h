/*
 * What the benchmark programs of tests/bench/ share.
 */
#ifndef OLB_TESTS_BENCH_H
#define OLB_TESTS_BENCH_H

#include <time.h>

/* The monotonic clock in ns, for timing rounds of calls. */
static inline double
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#endif
