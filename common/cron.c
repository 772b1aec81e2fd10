/*
 * cron: parse, match and search 5-field cron expressions (see cron.h).
 * Each field compiles to a bit set; matching is a few bit tests, and the
 * search for the next run walks months, then days, then hours and minutes,
 * so it never loops minute by minute over a day that cannot match.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/cron.h"

#define CRON_NUMBER_MAX	1000		/* larger numbers read as this */
#define CRON_SEARCH_DAYS (8 * 366)	/* cron_next gives up after this */

enum cron_field_id { CRON_MINUTE, CRON_HOUR, CRON_MDAY, CRON_MONTH, CRON_WDAY };

static const struct cron_field {
	const char	*name;
	long		 min, max;
	const char	*const *names;	/* names[i] stands for min + i, or NULL */
} cron_fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, (const char *const[]){ "jan", "feb", "mar", "apr",
	    "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL } },
	{ "day of week", 0, 7, (const char *const[]){ "sun", "mon", "tue", "wed",
	    "thu", "fri", "sat", NULL } },
};

static void
cron_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cron_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* One number or name of field f at *p, advancing p; -1 if there is none. */
static long
cron_value(const char **p, const struct cron_field *f)
{
	long v = 0;

	if (f->names != NULL && ((**p >= 'a' && **p <= 'z') ||
	    (**p >= 'A' && **p <= 'Z'))) {
		for (int i = 0; f->names[i] != NULL; i++)
			if (strncasecmp(*p, f->names[i], 3) == 0) {
				*p += 3;
				return f->min + i;
			}
		return -1;
	}
	if (**p < '0' || **p > '9')
		return -1;
	for (; **p >= '0' && **p <= '9'; (*p)++)
		if ((v = v * 10 + (**p - '0')) > CRON_NUMBER_MAX)
			v = CRON_NUMBER_MAX;
	return v;
}

/* A step: digits only. */
static long
cron_step(const char **p)
{
	static const struct cron_field digits = { "step", 0, 0, NULL };

	return cron_value(p, &digits);
}

/* One comma-separated item of field f, [p, end): "*", "N", "N-M", each with
 * an optional "/STEP" ("N/STEP" runs from N to the field's maximum).  Sets
 * its bits in *bits.  0, -1 if malformed, -2 if out of range (message in
 * err). */
static int
cron_item(const char *p, const char *end, const struct cron_field *f,
    uint64_t *bits, char *err, size_t errlen)
{
	long a = f->min, b = f->max, step = 1, wrong;
	int single = 0;

	if (*p == '*')
		p++;
	else if ((a = b = cron_value(&p, f)) == -1)
		return -1;
	else if (*p == '-') {
		p++;
		if ((b = cron_value(&p, f)) == -1)
			return -1;
	} else
		single = 1;
	if (*p == '/') {
		p++;
		if ((step = cron_step(&p)) <= 0)
			return -1;
		if (single)
			b = f->max;	/* "N/STEP": N to the maximum */
	}
	if (p != end)
		return -1;
	if (a < f->min || a > f->max)
		wrong = a;
	else if (b < f->min || b > f->max)
		wrong = b;
	else if (step > f->max)
		wrong = step;
	else {
		if (a > b)
			return -1;
		for (long v = a; v <= b; v += step)
			*bits |= (uint64_t)1 << v;
		return 0;
	}
	cron_error(err, errlen, "%s %ld is out of range (%ld..%ld)", f->name, wrong,
	    f->min, f->max);
	return -2;
}

/* A whole field [field, field + flen) into *bits.  0 or -1 (err). */
static int
cron_field_parse(const char *field, size_t flen, const struct cron_field *f,
    uint64_t *bits, char *err, size_t errlen)
{
	const char *p = field, *end = field + flen, *comma;
	int rc;

	*bits = 0;
	do {
		if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL)
			comma = end;
		if ((rc = cron_item(p, comma, f, bits, err, errlen)) == -1)
			cron_error(err, errlen, "bad %s field '%.*s'", f->name,
			    (int)flen, field);
		if (rc != 0)
			return -1;
		p = comma + 1;
	} while (comma != end);
	return 0;
}

/* The shorthands of Vixie cron, as the 5 fields they stand for. */
static const struct {
	const char	*name, *fields;
} cron_shorthands[] = {
	{ "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" }, { "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" }, { "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

int
cron_parse(const char *expr, struct cron *c, char *err, size_t errlen)
{
	const char *p = expr, *fields[6];
	size_t lens[6], n = 0;
	uint64_t bits[5];

	memset(c, 0, sizeof(*c));
	if (expr[0] == '@') {
		for (size_t i = 0; i < sizeof(cron_shorthands) /
		    sizeof(cron_shorthands[0]); i++)
			if (strcasecmp(expr, cron_shorthands[i].name) == 0)
				return cron_parse(cron_shorthands[i].fields, c, err,
				    errlen);
		cron_error(err, errlen, "'%s' is not one of @yearly, @annually, "
		    "@monthly, @weekly, @daily, @midnight, @hourly", expr);
		return -1;
	}
	while (n < 6) {
		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		fields[n] = p;
		lens[n] = strcspn(p, " \t");
		p += lens[n++];
	}
	if (n != 5) {
		cron_error(err, errlen, "'%s' must have 5 fields (minute hour day "
		    "month weekday)", expr);
		return -1;
	}
	for (size_t i = 0; i < 5; i++)
		if (cron_field_parse(fields[i], lens[i], &cron_fields[i], &bits[i],
		    err, errlen) == -1)
			return -1;
	c->minute = bits[CRON_MINUTE];
	c->hour = (uint32_t)bits[CRON_HOUR];
	c->mday = (uint32_t)bits[CRON_MDAY];
	c->month = (uint16_t)bits[CRON_MONTH];
	/* 7 is Sunday too */
	c->wday = (uint8_t)((bits[CRON_WDAY] | bits[CRON_WDAY] >> 7) & 0x7f);
	c->mday_star = fields[CRON_MDAY][0] == '*';
	c->wday_star = fields[CRON_WDAY][0] == '*';
	return 0;
}

int
cron_weekday(int year, int month, int mday)
{
	static const int t[] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };

	if (month < 3)
		year--;
	return (year + year / 4 - year / 100 + year / 400 + t[month - 1] + mday) % 7;
}

static int
cron_days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* The day rule: both restricted, either matches; else the restricted one. */
static int
cron_day_matches(const struct cron *c, int year, int month, int mday)
{
	int dom = (c->mday >> mday) & 1;
	int dow = (c->wday >> cron_weekday(year, month, mday)) & 1;

	if (c->mday_star || c->wday_star)
		return dom && dow;
	return dom || dow;
}

int
cron_matches(const struct cron *c, const struct cron_time *t)
{
	return ((c->minute >> t->minute) & 1) && ((c->hour >> t->hour) & 1) &&
	    ((c->month >> t->month) & 1) &&
	    cron_day_matches(c, t->year, t->month, t->mday);
}

/* The first matching hour and minute of a day at or after h:m.  0 (found,
 * into *h, *m) or -1. */
static int
cron_time_of_day(const struct cron *c, int *h, int *m)
{
	for (int hour = *h; hour < 24; hour++) {
		if (!((c->hour >> hour) & 1))
			continue;
		for (int minute = hour == *h ? *m : 0; minute < 60; minute++)
			if ((c->minute >> minute) & 1) {
				*h = hour;
				*m = minute;
				return 0;
			}
	}
	return -1;
}

/* Midnight of the next day (or of the first of the next month). */
static void
cron_next_day(struct cron_time *t, int whole_month)
{
	t->hour = t->minute = 0;
	if (!whole_month && t->mday < cron_days_in_month(t->year, t->month)) {
		t->mday++;
		return;
	}
	t->mday = 1;
	if (++t->month == 13) {
		t->month = 1;
		t->year++;
	}
}

int
cron_next(const struct cron *c, const struct cron_time *t, struct cron_time *next)
{
	struct cron_time n = *t;

	/* one minute later */
	if (++n.minute == 60) {
		n.minute = 0;
		if (++n.hour == 24)
			cron_next_day(&n, 0);
	}
	for (int steps = 0; steps < CRON_SEARCH_DAYS; steps++) {
		if (!((c->month >> n.month) & 1))
			cron_next_day(&n, 1);
		else if (!cron_day_matches(c, n.year, n.month, n.mday) ||
		    cron_time_of_day(c, &n.hour, &n.minute) == -1)
			cron_next_day(&n, 0);
		else {
			*next = n;
			return 0;
		}
	}
	return -1;
}
