/*
 * crontz: cron runs as instants in a time zone (see crontz.h).
 *
 * The search runs in local wall-clock minutes (cron_next) and turns each
 * candidate into an instant (the offsets a day either side, each checked),
 * keeping the interpretations that map back to the same wall clock.  None
 * means a gap: the run moves to the gap's end, found by bisection between
 * the two interpretations.  Two mean an overlap: the first is the run, and
 * a search that starts inside the second pass skips it.
 */
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"
#include "common/crontz.h"

/* Candidates looked at per search: the minutes of a gap or a repeated
 * period (three hours at most anywhere) are each looked at once. */
#define CRONTZ_TRIES	200

int
crontz_known(const char *zone)
{
	const char *dir = getenv("TZDIR");	/* as glibc reads it */
	char path[PATH_MAX];
	struct stat st;

	if (dir == NULL || dir[0] == '\0')
		dir = "/usr/share/zoneinfo";
	return zone != NULL && zone[0] != '\0' && zone[0] != '/' &&
	    strstr(zone, "..") == NULL &&
	    snprintf(path, sizeof(path), "%s/%s", dir, zone) < (int)sizeof(path) &&
	    stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int
crontz_zone(const char *zone)
{
	if (!crontz_known(zone) || setenv("TZ", zone, 1) == -1)
		return -1;
	tzset();
	return 0;
}

static void
crontz_local(time_t t, struct cron_time *ct)
{
	struct tm tm;

	localtime_r(&t, &tm);
	ct->year = tm.tm_year + 1900;
	ct->month = tm.tm_mon + 1;
	ct->mday = tm.tm_mday;
	ct->hour = tm.tm_hour;
	ct->minute = tm.tm_min;
}

/* -1, 0, 1 as a is before, at, after b. */
static int
crontz_cmp(const struct cron_time *a, const struct cron_time *b)
{
	const int x[] = { a->year, a->month, a->mday, a->hour, a->minute };
	const int y[] = { b->year, b->month, b->mday, b->hour, b->minute };

	for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

/* The zone's offset from UTC at instant t, in seconds. */
static long
crontz_offset(time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return tm.tm_gmtoff;
}

/* Wall clock ct read as UTC: the instant plus the offset at it. */
static time_t
crontz_wall(const struct cron_time *ct)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = ct->year - 1900;
	tm.tm_mon = ct->month - 1;
	tm.tm_mday = ct->mday;
	tm.tm_hour = ct->hour;
	tm.tm_min = ct->minute;
	return timegm(&tm);
}

/*
 * The instants at which the wall clock shows ct: *first and *last (equal
 * for most minutes), and 1; or, when ct falls in a gap, the end of the gap
 * (the first instant whose wall clock is past ct) in both, and 0.
 *
 * An instant t shows ct when t + offset(t) = wall, the wall clock read as
 * UTC.  Offsets change at most once within a day of any instant (true of
 * every zone of the tz database), so the only candidates are wall less the
 * offset a day before and a day after; each is kept if its own offset is
 * the one it assumed.  This costs three or four conversions where mktime
 * would make a dozen (each a parse of the zone's rule, in glibc, past the
 * zone's last listed transition).
 */
static int
crontz_resolve(const struct cron_time *ct, time_t *first, time_t *last)
{
	time_t wall = crontz_wall(ct), t[2], lo, hi, mid;
	long off[2];
	int found = 0;
	struct cron_time back;

	off[0] = crontz_offset(wall - 86400);
	off[1] = crontz_offset(wall + 86400);
	for (int i = 0; i < 2; i++) {
		t[i] = wall - off[i];
		if ((i == 1 && off[1] == off[0]) || crontz_offset(t[i]) != off[i])
			continue;
		if (!found || t[i] < *first)
			*first = t[i];
		if (!found || t[i] > *last)
			*last = t[i];
		found = 1;
	}
	if (found)
		return 1;
	/* A gap: its end lies between the two readings. */
	lo = t[0] < t[1] ? t[0] : t[1];
	hi = (t[0] < t[1] ? t[1] : t[0]) + 60;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		crontz_local(mid, &back);
		if (crontz_cmp(&back, ct) > 0)
			hi = mid;
		else
			lo = mid;
	}
	*first = *last = hi;
	return 0;
}

int
crontz_next(const struct cron *c, time_t after, time_t *next)
{
	struct cron_time from, cand;
	time_t first, last;

	crontz_local(after, &from);
	for (int i = 0; i < CRONTZ_TRIES; i++) {
		if (cron_next(c, &from, &cand) == -1)
			return -1;
		(void)crontz_resolve(&cand, &first, &last);
		if (first > after) {
			*next = first;
			return 0;
		}
		/* Its first occurrence (or the gap's end) is not after: the
		 * second pass of a repeated hour, or a gap already run. */
		from = cand;
	}
	return -1;
}
