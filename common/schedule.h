/*
 * schedule: the scheduler's jobs as instants (SPEC §9): when a job next
 * runs and when it last fell due, with its holidays skipped, and what is
 * due at a moment given what was already handled, the phase rule of
 * docs/DECISIONS.md ("Scheduler").  Shared by the scheduler and olbctl so
 * that both tell the same times.  Pure but for the zone (crontz_zone) and
 * the clock (schedule_now_ms).
 *
 * Times are instants in seconds on a minute; a job's runs are the instants
 * crontz_next gives (the daylight saving rule lives there), less those
 * whose local date is one of the job's holidays.
 */
#ifndef OLB_SCHEDULE_H
#define OLB_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/cron.h"

/* A job as the scheduler sees it; the holidays are borrowed. */
struct schedule_job {
	const char	*name;
	struct cron	 cron;
	const int	*skip;		/* sorted local dates, YYYYMMDD */
	size_t		 nskip;
};

/* One run of a job: jobs[job] at at. */
struct schedule_due {
	size_t		 job;
	time_t		 at;
};

/* The local calendar date of t as YYYYMMDD (20261206). */
int		 schedule_date(time_t t);
/* t as "YYYY-MM-DD HH:MM <zone>" in the local zone, or with utc "... UTC",
 * for people ("?" if it does not fit). */
void		 schedule_format(time_t t, int utc, char *buf, size_t size);
/* 1 if date (YYYYMMDD) is one of j's holidays. */
int		 schedule_skipped(const struct schedule_job *j, int date);

/* The first run of j strictly after after, into *next.  0, or -1 if none
 * within cron_next's horizon (or only holidays for a long while). */
int		 schedule_next(const struct schedule_job *j, time_t after,
		    time_t *next);
/* The last run of j at or before at, into *prev.  0, or -1 if none in the
 * last 8 years.  A few dozen schedule_next calls (bisection), never a walk
 * run by run. */
int		 schedule_prev(const struct schedule_job *j, time_t at,
		    time_t *prev);

/*
 * What is due at now, when every run at or before checked was handled
 * (checked 0: nothing is known; the history is then not looked at):
 *   *run: the run to carry out, the latest of all jobs' runs in
 *         (checked, now] (with checked 0: the latest at or before now;
 *         the phase the schedule is in), run->job == n if none;
 *   missed[]: the other runs in (checked, now], newest first, at most
 *         per_job of each job and max in all: recorded, never replayed.
 * Answers the number of missed runs.
 */
size_t		 schedule_due(const struct schedule_job *jobs, size_t n,
		    time_t checked, time_t now, struct schedule_due *run,
		    struct schedule_due *missed, size_t max, size_t per_job);
/* The first run of any job strictly after now (ties: the first job).
 * 0, or -1 if none. */
int		 schedule_upcoming(const struct schedule_job *jobs, size_t n,
		    time_t now, struct schedule_due *next);

/*
 * The scheduler's clock, in ms since the epoch: the wall clock.  Test
 * builds (-DOLB_TEST) read OLB_TEST_CLOCK="REAL_MS:SIM_MS:SPEED": the
 * clock then shows SIM_MS at the real instant REAL_MS and runs SPEED times
 * faster, the same in every process, so a system test lives through days
 * in minutes.
 */
int64_t		 schedule_now_ms(void);
/* Real milliseconds until the scheduler's clock shows at_ms (0 if it
 * already does). */
uint64_t	 schedule_wait_ms(int64_t at_ms);

#endif
