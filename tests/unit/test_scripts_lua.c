/*
 * The Redis scripts as Redis receives them (the files of common/lua, embedded by
 * scripts/lua2c, with their helpers in front) parse as Lua 5.1, Redis'
 * dialect: each one is piped to luac5.1 -p (Debian's lua5.1, installed by
 * scripts/install-deps).  A chunk with a syntax error is refused, so the
 * check can fail; and every script has its digest.
 */
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/scripts.h"

#define LUAC	"luac5.1"

/* 0 if luac accepts source; its exit status (or -1) if not. */
static int
luac_check(const char *source)
{
	FILE *p;
	int st;

	if ((p = popen(LUAC " -p - 2>&1", "w")) == NULL)
		return -1;
	fputs(source, p);
	st = pclose(p);
	return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_luac_is_installed(void **state)
{
	(void)state;
	if (system(LUAC " -v >/dev/null 2>&1") != 0)
		fail_msg(LUAC " not found: run scripts/install-deps (package lua5.1)");
}

static void
test_every_script_parses(void **state)
{
	(void)state;
	for (int i = 0; i < SCRIPTS_COUNT; i++) {
		const char *src = scripts_source(i);

		assert_true(strlen(src) > 100);
		if (luac_check(src) != 0)
			fail_msg("script %s does not parse as Lua 5.1",
			    scripts_name(i));
	}
}

static void
test_a_broken_script_is_refused(void **state)
{
	(void)state;
	assert_int_equal(luac_check("local x = 1\nreturn x\n"), 0);
	assert_int_not_equal(luac_check("local x = \nend\n"), 0);
	/* Lua 5.2's goto is not Redis' Lua. */
	assert_int_not_equal(luac_check("goto done\n::done::\n"), 0);
}

static void
test_digests(void **state)
{
	(void)state;
	assert_int_equal(scripts_init(), 0);
	for (int i = 0; i < SCRIPTS_COUNT; i++) {
		assert_int_equal(strlen(scripts_sha(i)), 40);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(scripts_sha(i), scripts_sha(j));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_luac_is_installed),
		cmocka_unit_test(test_every_script_parses),
		cmocka_unit_test(test_a_broken_script_is_refused),
		cmocka_unit_test(test_digests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
