/*
 * test_cron: the cron expression parser, matcher and next-run search
 * (common/cron.c) as tables: what parses into which values, every refusal
 * with its message, the day-of-month / day-of-week rule, and next runs
 * across days, months, years and leap days.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/cron.h"

static struct cron_time
at(int year, int month, int mday, int hour, int minute)
{
	struct cron_time t = { year, month, mday, hour, minute };

	return t;
}

static void
test_parse_values(void **state)
{
	static const struct {
		const char	*expr;
		uint64_t	 minute;
		uint32_t	 hour;
		uint16_t	 month;
		uint8_t		 wday;
	} ok[] = {
		{ "52 23 * * *", 1ULL << 52, 1u << 23, 0x1ffe, 0x7f },
		{ "*/15 1-5 1,15 1-12/2 7", 1ULL | 1ULL << 15 | 1ULL << 30 | 1ULL << 45,
		    0x3e, 1u << 1 | 1u << 3 | 1u << 5 | 1u << 7 | 1u << 9 | 1u << 11, 1 },
		{ "5/20 0 * * mon-fri", 1ULL << 5 | 1ULL << 25 | 1ULL << 45, 1, 0x1ffe,
		    0x3e },
		{ "0 0 1 JAN,jul sun", 1, 1, 1u << 1 | 1u << 7, 1 },
		{ "0 0 * dec-dec/1 sat,0", 1, 1, 1u << 12, 1u << 6 | 1 },
		{ "  0\t0   *  *  *  ", 1, 1, 0x1ffe, 0x7f },
		{ "0-59/30 0-23/12 * * 0-7", 1ULL | 1ULL << 30, 1u | 1u << 12, 0x1ffe,
		    0x7f },
		{ "@hourly", 1, 0xffffff, 0x1ffe, 0x7f },
		{ "@DAILY", 1, 1, 0x1ffe, 0x7f },
		{ "@midnight", 1, 1, 0x1ffe, 0x7f },
		{ "@weekly", 1, 1, 0x1ffe, 1 },
		{ "@monthly", 1, 1, 0x1ffe, 0x7f },
		{ "@yearly", 1, 1, 1u << 1, 0x7f },
		{ "@annually", 1, 1, 1u << 1, 0x7f },
	};
	struct cron c;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(cron_parse(ok[i].expr, &c, err, sizeof(err)), 0);
		assert_int_equal(c.minute, ok[i].minute);
		assert_int_equal(c.hour, ok[i].hour);
		assert_int_equal(c.month, ok[i].month);
		assert_int_equal(c.wday, ok[i].wday);
	}
	assert_int_equal(cron_parse("0 0 1,15 * *", &c, NULL, 0), 0);
	assert_int_equal(c.mday, 1u << 1 | 1u << 15);
	assert_false(c.mday_star);
	assert_true(c.wday_star);
}

static void
test_refusals(void **state)
{
	static const struct {
		const char	*expr;
		const char	*message;
	} bad[] = {
		{ "", "'' must have 5 fields (minute hour day month weekday)" },
		{ "52 23 * *", "'52 23 * *' must have 5 fields (minute hour day month "
		    "weekday)" },
		{ "0 0 * * * *", "'0 0 * * * *' must have 5 fields (minute hour day "
		    "month weekday)" },
		{ "60 * * * *", "minute 60 is out of range (0..59)" },
		{ "* 24 * * *", "hour 24 is out of range (0..23)" },
		{ "* * 0 * *", "day of month 0 is out of range (1..31)" },
		{ "* * 32 * *", "day of month 32 is out of range (1..31)" },
		{ "* * * 13 *", "month 13 is out of range (1..12)" },
		{ "* * * 0 *", "month 0 is out of range (1..12)" },
		{ "* * * * 8", "day of week 8 is out of range (0..7)" },
		{ "*/60 * * * *", "minute 60 is out of range (0..59)" },
		{ "99999999999 * * * *", "minute 1000 is out of range (0..59)" },
		{ "5x * * * *", "bad minute field '5x'" },
		{ "*/0 * * * *", "bad minute field '*/0'" },
		{ "1,,2 * * * *", "bad minute field '1,,2'" },
		{ "1, * * * *", "bad minute field '1,'" },
		{ "- * * * *", "bad minute field '-'" },
		{ "5- * * * *", "bad minute field '5-'" },
		{ "5/ * * * *", "bad minute field '5/'" },
		{ "*/x * * * *", "bad minute field '*/x'" },
		{ "** * * * *", "bad minute field '**'" },
		{ "mon * * * *", "bad minute field 'mon'" },
		{ "0 0 * * 1-0", "bad day of week field '1-0'" },
		{ "0 0 * * foo", "bad day of week field 'foo'" },
		{ "0 0 * * monday", "bad day of week field 'monday'" },
		{ "0 0 * ja *", "bad month field 'ja'" },
		{ "0 0 * jan-mon *", "bad month field 'jan-mon'" },
		{ "0 0 20-10 * *", "bad day of month field '20-10'" },
		{ "0 0 * * */mon", "bad day of week field '*/mon'" },
		{ "@reboot", "'@reboot' is not one of @yearly, @annually, @monthly, "
		    "@weekly, @daily, @midnight, @hourly" },
		{ "@daily ", "'@daily ' is not one of @yearly, @annually, @monthly, "
		    "@weekly, @daily, @midnight, @hourly" },
		{ "@", "'@' is not one of @yearly, @annually, @monthly, @weekly, "
		    "@daily, @midnight, @hourly" },
	};
	struct cron c;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(err, 0, sizeof(err));
		assert_int_equal(cron_parse(bad[i].expr, &c, err, sizeof(err)), -1);
		assert_string_equal(err, bad[i].message);
	}
	/* no room for the message is not an error of its own */
	assert_int_equal(cron_parse("x", &c, NULL, 0), -1);
}

/* Both day fields restricted: either matches (Vixie cron); one of them
 * starting with '*' (also "*\/2"): both must. */
static void
test_day_rule(void **state)
{
	struct cron c;
	struct cron_time fri4 = at(2026, 12, 4, 0, 0), sun13 = at(2026, 12, 13, 0, 0),
	    mon7 = at(2026, 12, 7, 0, 0), fri18 = at(2026, 12, 18, 0, 0);

	(void)state;
	assert_int_equal(cron_parse("0 0 13 * 5", &c, NULL, 0), 0);
	assert_true(cron_matches(&c, &fri4));
	assert_true(cron_matches(&c, &sun13));
	assert_false(cron_matches(&c, &mon7));
	assert_int_equal(cron_parse("0 0 13 * *", &c, NULL, 0), 0);
	assert_false(cron_matches(&c, &fri4));
	assert_true(cron_matches(&c, &sun13));
	assert_int_equal(cron_parse("0 0 * * fri", &c, NULL, 0), 0);
	assert_true(cron_matches(&c, &fri4));
	assert_false(cron_matches(&c, &sun13));
	/* "*\/2" (days 1, 3, 5...) counts as '*': odd days that are Fridays */
	assert_int_equal(cron_parse("0 0 */2 * 5", &c, NULL, 0), 0);
	assert_false(cron_matches(&c, &fri4));		/* a Friday, even */
	assert_false(cron_matches(&c, &sun13));		/* odd, a Sunday */
	assert_false(cron_matches(&c, &fri18));
	assert_true(cron_matches(&c, &(struct cron_time){ 2026, 12, 11, 0, 0 }));
	/* the time of day must match too */
	assert_int_equal(cron_parse("52 23 * * *", &c, NULL, 0), 0);
	assert_false(cron_matches(&c, &fri4));
	assert_true(cron_matches(&c, &(struct cron_time){ 2026, 12, 4, 23, 52 }));
}

static void
test_next(void **state)
{
	static const struct {
		const char		*expr;
		struct cron_time	 from, want;
	} runs[] = {
		{ "52 23 * * *", { 2026, 12, 6, 10, 0 }, { 2026, 12, 6, 23, 52 } },
		{ "52 23 * * *", { 2026, 12, 6, 23, 52 }, { 2026, 12, 7, 23, 52 } },
		{ "55 23 * * *", { 2026, 12, 31, 23, 55 }, { 2027, 1, 1, 23, 55 } },
		{ "0 0 1 1 *", { 2026, 12, 31, 23, 59 }, { 2027, 1, 1, 0, 0 } },
		{ "0 0 29 2 *", { 2026, 3, 1, 0, 0 }, { 2028, 2, 29, 0, 0 } },
		{ "30 8 * * mon", { 2026, 12, 6, 12, 0 }, { 2026, 12, 7, 8, 30 } },
		{ "*/15 * * * *", { 2026, 12, 6, 10, 59 }, { 2026, 12, 6, 11, 0 } },
		{ "*/15 * * * *", { 2026, 12, 6, 10, 1 }, { 2026, 12, 6, 10, 15 } },
		{ "0 12 31 * *", { 2026, 11, 1, 0, 0 }, { 2026, 12, 31, 12, 0 } },
		{ "0 0 13 * 5", { 2026, 12, 5, 0, 0 }, { 2026, 12, 11, 0, 0 } },
		{ "0 0 * feb sun", { 2026, 12, 6, 0, 0 }, { 2027, 2, 7, 0, 0 } },
		{ "59 23 31 12 *", { 2026, 12, 31, 23, 59 }, { 2027, 12, 31, 23, 59 } },
	};
	struct cron c;
	struct cron_time got;

	(void)state;
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		assert_int_equal(cron_parse(runs[i].expr, &c, NULL, 0), 0);
		assert_int_equal(cron_next(&c, &runs[i].from, &got), 0);
		assert_int_equal(got.year, runs[i].want.year);
		assert_int_equal(got.month, runs[i].want.month);
		assert_int_equal(got.mday, runs[i].want.mday);
		assert_int_equal(got.hour, runs[i].want.hour);
		assert_int_equal(got.minute, runs[i].want.minute);
		assert_true(cron_matches(&c, &got));
	}
	/* never: February 30th */
	assert_int_equal(cron_parse("0 0 30 2 *", &c, NULL, 0), 0);
	assert_int_equal(cron_next(&c, &runs[0].from, &got), -1);
}

/* One minute later, on the calendar. */
static void
tick(struct cron_time *t)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (t->year % 4 == 0 && t->year % 100 != 0) || t->year % 400 == 0;
	int mdays = t->month == 2 && leap ? 29 : days[t->month - 1];

	if (++t->minute < 60)
		return;
	t->minute = 0;
	if (++t->hour < 24)
		return;
	t->hour = 0;
	if (++t->mday <= mdays)
		return;
	t->mday = 1;
	if (++t->month <= 12)
		return;
	t->month = 1;
	t->year++;
}

/* cron_next agrees with a minute-by-minute search (up to its own 8 years). */
static void
test_next_brute_force(void **state)
{
	static const char *const exprs[] = {
		"52 23 * * *", "*/7 */5 * * *", "0 0 13 * 5", "0 12 */10 * mon",
		"30 2 29 2 *", "15 4 1,31 * *", "0 0 * * 0", "59 23 31 12 *",
		"5/20 8-17 * jun-aug tue,thu", "0 0 */2 * 5",
	};
	static const struct cron_time starts[] = {
		{ 2026, 12, 6, 10, 0 }, { 2027, 2, 28, 23, 59 }, { 2028, 12, 31, 23, 30 },
	};
	struct cron c;
	struct cron_time got, t;

	(void)state;
	for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		assert_int_equal(cron_parse(exprs[i], &c, NULL, 0), 0);
		for (size_t j = 0; j < sizeof(starts) / sizeof(starts[0]); j++) {
			int found = 0;

			t = starts[j];
			for (long n = 0; n < 8L * 366 * 24 * 60 && !found; n++) {
				tick(&t);
				found = cron_matches(&c, &t);
			}
			assert_true(found);
			assert_int_equal(cron_next(&c, &starts[j], &got), 0);
			assert_memory_equal(&got, &t, sizeof(t));
		}
	}
}

static void
test_weekday(void **state)
{
	(void)state;
	assert_int_equal(cron_weekday(2026, 12, 6), 0);
	assert_int_equal(cron_weekday(2026, 12, 4), 5);
	assert_int_equal(cron_weekday(2028, 2, 29), 2);
	assert_int_equal(cron_weekday(2000, 1, 1), 6);
	assert_int_equal(cron_weekday(1900, 3, 1), 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_day_rule),
		cmocka_unit_test(test_next),
		cmocka_unit_test(test_next_brute_force),
		cmocka_unit_test(test_weekday),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
