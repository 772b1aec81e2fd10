/*
 * crontz: when a cron expression (common/cron.h) next runs, as an instant,
 * in the process's time zone (crontz_zone sets it from the tz database,
 * whatever the host's own TZ), with the daylight saving rule of
 * docs/DECISIONS.md:
 *
 *   - a run whose wall-clock time falls in a spring-forward gap runs once,
 *     at the end of the gap (however many of its minutes match);
 *   - a wall-clock time that repeats in a fall-back hour runs once, at its
 *     first occurrence.
 *
 * The time zone is the process's (TZ and tzset): the scheduler and olbctl
 * each set it once.  No allocation; a search costs a few localtime_r calls
 * per candidate, never a walk minute by minute.
 */
#ifndef OLB_CRONTZ_H
#define OLB_CRONTZ_H

#include <time.h>

struct cron;

/* 1 if zone is a name of the tz database: a file under $TZDIR (default
 * /usr/share/zoneinfo), no absolute path, no "..".  conf.c checks
 * scheduler.timezone with it. */
int	 crontz_known(const char *zone);
/* Use zone (an IANA name, "Asia/Kolkata") for local times from now on.
 * 0, or -1 if the tz database has no such zone. */
int	 crontz_zone(const char *zone);

/* The first run of c strictly after the instant after (seconds), into
 * *next (on a minute).  0, or -1 if none within cron_next's horizon. */
int	 crontz_next(const struct cron *c, time_t after, time_t *next);

#endif
