/*
 * cron: 5-field cron expressions (SPEC §9), parsed once into a compiled
 * form, then matched against a wall-clock time and searched for the next
 * run.  Pure: no allocation, no clock, no time zone; the caller turns local
 * broken-down times into instants in its own time zone (the scheduler, with
 * the tz database).  conf.c validates scheduler.jobs[].cron with cron_parse,
 * so the configuration check, the scheduler and olbctl share one parser.
 *
 * Syntax, as Vixie cron and cronie: minute (0-59), hour (0-23), day of month
 * (1-31), month (1-12 or jan-dec), day of week (0-7 or sun-sat; 0 and 7 are
 * Sunday).  Each field is a comma list of "*", "N" or "N-M", each with an
 * optional "/STEP"; names are case-insensitive and stand for numbers.  When
 * both day fields are restricted (neither starts with "*"), a day matches if
 * either does; otherwise only the restricted one counts.  The shorthands
 * @yearly (@annually), @monthly, @weekly, @daily (@midnight) and @hourly
 * stand for their usual expressions; @reboot is not a time, so refused.
 */
#ifndef OLB_CRON_H
#define OLB_CRON_H

#include <stddef.h>
#include <stdint.h>

/* A compiled expression: one bit per allowed value. */
struct cron {
	uint64_t	 minute;	/* bits 0..59 */
	uint32_t	 hour;		/* bits 0..23 */
	uint32_t	 mday;		/* bits 1..31 */
	uint16_t	 month;		/* bits 1..12 */
	uint8_t		 wday;		/* bits 0..6, Sunday 0 */
	int		 mday_star;	/* the day of month field starts with '*' */
	int		 wday_star;	/* the day of week field starts with '*' */
};

/* A wall-clock minute, as a local calendar shows it. */
struct cron_time {
	int		 year;		/* e.g. 2026 */
	int		 month;		/* 1..12 */
	int		 mday;		/* 1..31 */
	int		 hour;		/* 0..23 */
	int		 minute;	/* 0..59 */
};

/* Parse expr into c.  0, or -1 with a message for people in err (for
 * example "hour 24 is out of range (0..23)"; err may be NULL). */
int	 cron_parse(const char *expr, struct cron *c, char *err, size_t errlen);

/* 1 if t (a valid calendar minute) matches c, else 0. */
int	 cron_matches(const struct cron *c, const struct cron_time *t);

/* The first minute strictly after t that matches c, into next.  0, or -1 if
 * none within the next 8 years (an expression that never matches, such as
 * "0 0 30 2 *"). */
int	 cron_next(const struct cron *c, const struct cron_time *t,
	    struct cron_time *next);

/* Day of week of a calendar date, Sunday 0 (proleptic Gregorian). */
int	 cron_weekday(int year, int month, int mday);

#endif
