/*
 * schedule: the scheduler's jobs as instants (see schedule.h).
 *
 * A job's runs are a fixed set of instants (crontz_next less holidays), so
 * "the first run after t" is monotonic in t and the last run before a
 * moment is found by bisection on it: from a window known to hold a run,
 * halve it while its second half still does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crontz.h"
#include "common/schedule.h"
#include "common/util.h"

/* Runs skipped in a row as holidays before a search gives up. */
#define SCHEDULE_SKIP_TRIES	1000

/* Windows looked back through for a previous run, each wider. */
static const time_t schedule_windows[] = {
	86400, 8 * 86400, 64 * 86400, 400 * 86400, 8 * 366 * 86400
};

void
schedule_format(time_t t, int utc, char *buf, size_t size)
{
	struct tm tm;

	if (utc)
		gmtime_r(&t, &tm);
	else
		localtime_r(&t, &tm);
	if (strftime(buf, size, utc ? "%Y-%m-%d %H:%M UTC" : "%Y-%m-%d %H:%M %Z",
	    &tm) == 0)
		snprintf(buf, size, "?");
}

int
schedule_date(time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

static int
schedule_datecmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

int
schedule_skipped(const struct schedule_job *j, int date)
{
	return j->nskip > 0 && bsearch(&date, j->skip, j->nskip, sizeof(int),
	    schedule_datecmp) != NULL;
}

int
schedule_next(const struct schedule_job *j, time_t after, time_t *next)
{
	for (int i = 0; i < SCHEDULE_SKIP_TRIES; i++) {
		if (crontz_next(&j->cron, after, next) == -1)
			return -1;
		if (!schedule_skipped(j, schedule_date(*next)))
			return 0;
		after = *next;
	}
	return -1;
}

int
schedule_prev(const struct schedule_job *j, time_t at, time_t *prev)
{
	time_t lo = 0, hi = at, mid, t;
	size_t w;

	/* A window (lo, at] that holds a run: next(lo) <= at. */
	for (w = 0; w < sizeof(schedule_windows) / sizeof(schedule_windows[0]); w++) {
		lo = at - schedule_windows[w];
		if (schedule_next(j, lo, &t) == 0 && t <= at)
			break;
	}
	if (w == sizeof(schedule_windows) / sizeof(schedule_windows[0]))
		return -1;
	/* The last run in (lo, hi] is the answer; shrink the window. */
	while (hi - lo > 60) {
		mid = lo + (hi - lo) / 2;
		if (schedule_next(j, mid, &t) == 0 && t <= hi)
			lo = mid;	/* a run in (mid, hi]: the last is there */
		else
			hi = mid;	/* none in (mid, hi] */
	}
	/* (lo, hi] is at most a minute: it holds exactly the answer. */
	if (schedule_next(j, lo, prev) == -1 || *prev > at)
		return -1;
	return 0;
}

/* Insert d into list (n entries, newest first, room for max): 1 if kept. */
static int
schedule_insert(struct schedule_due *list, size_t *n, size_t max,
    struct schedule_due d)
{
	size_t i = *n;

	if (*n == max && (max == 0 || list[max - 1].at >= d.at))
		return 0;
	if (*n < max)
		(*n)++;
	else
		i = max - 1;
	for (; i > 0 && list[i - 1].at < d.at; i--)
		list[i] = list[i - 1];
	list[i] = d;
	return 1;
}

size_t
schedule_due(const struct schedule_job *jobs, size_t n, time_t checked,
    time_t now, struct schedule_due *run, struct schedule_due *missed,
    size_t max, size_t per_job)
{
	struct schedule_due d;
	size_t nmissed = 0, k;
	time_t t;

	/* the run: the latest run of any job (ties: the last job listed) */
	run->job = n;
	run->at = 0;
	for (size_t i = 0; i < n; i++)
		if (schedule_prev(&jobs[i], now, &t) == 0 &&
		    (checked == 0 || t > checked) &&
		    (run->job == n || t >= run->at)) {
			run->job = i;
			run->at = t;
		}
	if (checked == 0)
		return 0;	/* no history to look through */
	/* the missed: every other run since checked, newest first */
	for (size_t i = 0; i < n; i++) {
		if (schedule_prev(&jobs[i], now, &t) == -1)
			continue;
		d.job = i;
		for (k = 0; k < per_job && t > checked; ) {
			d.at = t;
			if (!(i == run->job && t == run->at)) {
				if (!schedule_insert(missed, &nmissed, max, d))
					break;	/* older ones would not fit either */
				k++;
			}
			if (schedule_prev(&jobs[i], t - 1, &t) == -1)
				break;
		}
	}
	return nmissed;
}

int
schedule_upcoming(const struct schedule_job *jobs, size_t n, time_t now,
    struct schedule_due *next)
{
	time_t t;
	int found = 0;

	for (size_t i = 0; i < n; i++) {
		if (schedule_next(&jobs[i], now, &t) == -1)
			continue;
		if (!found || t < next->at) {
			next->job = i;
			next->at = t;
			found = 1;
		}
	}
	return found ? 0 : -1;
}

/* The clock */

static struct {
	int		 read;
	int64_t		 real0, sim0, speed;
} schedule_clock = { 0, 0, 0, 1 };

static void
schedule_clock_read(void)
{
	schedule_clock.read = 1;
#ifdef OLB_TEST
	const char *s = getenv("OLB_TEST_CLOCK");
	long long real0, sim0, speed;

	if (s != NULL && sscanf(s, "%lld:%lld:%lld", &real0, &sim0, &speed) == 3 &&
	    real0 > 0 && sim0 > 0 && speed >= 1 && speed <= 1000000) {
		schedule_clock.real0 = real0;
		schedule_clock.sim0 = sim0;
		schedule_clock.speed = speed;
	}
#endif
}

int64_t
schedule_now_ms(void)
{
	int64_t real = (int64_t)util_wall_ms();

	if (!schedule_clock.read)
		schedule_clock_read();
	if (schedule_clock.real0 == 0)
		return real;
	return schedule_clock.sim0 + (real - schedule_clock.real0) *
	    schedule_clock.speed;
}

uint64_t
schedule_wait_ms(int64_t at_ms)
{
	int64_t now = schedule_now_ms();

	if (at_ms <= now)
		return 0;
	/* rounded up, so the clock shows at_ms when the wait ends */
	return (uint64_t)((at_ms - now + schedule_clock.speed - 1) /
	    schedule_clock.speed);
}
