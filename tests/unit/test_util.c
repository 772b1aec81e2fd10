/*
 * Unit tests of common/util.c's pure helpers: util_decimal (a number's
 * digits, written on the proxy's hot path instead of printf) against
 * snprintf at the edges and over a sweep, and util_fnv1a's known values.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"

/* util_decimal(v) is snprintf's "%" PRIu64, and writes nothing past it. */
static void
check_decimal(uint64_t v)
{
	char want[32], got[UTIL_DECIMAL_MAX + 1];
	size_t n;

	snprintf(want, sizeof(want), "%" PRIu64, v);
	memset(got, '#', sizeof(got));
	n = util_decimal(v, got);
	if (n != strlen(want) || memcmp(got, want, n) != 0 ||
	    (n < sizeof(got) && got[n] != '#'))
		fail_msg("util_decimal(%s): \"%.*s\"", want, (int)n, got);
}

static void
test_decimal(void **state)
{
	static const uint64_t edges[] = {
		0, 1, 9, 10, 99, 100, 999, 1000, 4294967295u, 4294967296u,
		9999999999999999999u, 10000000000000000000u, UINT64_MAX,
	};
	uint64_t v = 1;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(edges); i++)
		check_decimal(edges[i]);
	for (int i = 0; i < 2000; i++, v = v * 6364136223846793005u + 1442695040888963407u)
		check_decimal(v >> (i % 64));
}

static void
test_fnv1a(void **state)
{
	(void)state;
	assert_int_equal(util_fnv1a(""), 2166136261u);
	assert_int_equal(util_fnv1a("a"), 0xe40c292cu);
	assert_int_equal(util_fnv1a("foobar"), 0xbf9cf968u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decimal),
		cmocka_unit_test(test_fnv1a),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
