/*
 * libFuzzer target for cron expressions (common/cron.c): arbitrary bytes,
 * cut at the first NUL, as scheduler.jobs[].cron.
 *
 * Invariants: a refusal always says why; a parsed expression has at least
 * one value in each field and none outside its range; the next run from a
 * few fixed times, when there is one, is strictly later, matches, and no
 * earlier minute of the same day matches.
 *
 * Build and run: make -f tests/fuzz/Makefile fuzz-run TARGET=cron
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"
#include "tests/fuzz/fuzz.h"

/* a before b */
static int
before(const struct cron_time *a, const struct cron_time *b)
{
	const int x[5] = { a->year, a->month, a->mday, a->hour, a->minute };
	const int y[5] = { b->year, b->month, b->mday, b->hour, b->minute };

	for (int i = 0; i < 5; i++)
		if (x[i] != y[i])
			return x[i] < y[i];
	return 0;
}

static void
check_next(const struct cron *c, struct cron_time from)
{
	struct cron_time next, t;

	if (cron_next(c, &from, &next) == -1)
		return;
	if (!before(&from, &next) || !cron_matches(c, &next))
		abort();
	/* nothing matches earlier the same day (after from) */
	t = next;
	for (t.hour = 0; t.hour <= next.hour; t.hour++)
		for (t.minute = 0; t.minute < 60; t.minute++)
			if (before(&from, &t) && before(&t, &next) && cron_matches(c, &t))
				abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct cron_time from[] = {
		{ 2026, 12, 6, 10, 0 }, { 2026, 12, 31, 23, 59 }, { 2028, 2, 28, 23, 59 },
	};
	struct cron c;
	char err[160] = "";
	char *expr = strndup((const char *)data, size);

	if (expr == NULL)
		return 0;
	if (cron_parse(expr, &c, err, sizeof(err)) == -1) {
		if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		free(expr);
		return 0;
	}
	if (c.minute == 0 || c.minute >> 60 || c.hour == 0 || c.hour >> 24 ||
	    c.mday == 0 || (c.mday & 1) || c.month == 0 || (c.month & 1) ||
	    c.month >> 13 || c.wday == 0 || c.wday >> 7)
		abort();
	for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++)
		check_next(&c, from[i]);
	free(expr);
	return 0;
}
