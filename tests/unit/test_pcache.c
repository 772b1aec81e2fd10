/*
 * Tests of the proxies' placement cache (workers/proxy/pcache.c): lookups by account
 * and role, replacement, drop, growth past many bucket doublings with every
 * entry still found, and the bound at which the cache empties itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "workers/proxy/pcache.h"

static struct placement
at(const char *id, uint16_t port)
{
	struct placement p;

	memset(&p, 0, sizeof(p));
	p.found = 1;
	snprintf(p.id, sizeof(p.id), "%s", id);
	snprintf(p.ip, sizeof(p.ip), "127.0.0.1");
	p.port = port;
	return p;
}

static void
test_roles_replace_drop(void **state)
{
	struct pcache *pc = pcache_new(10);
	struct placement a = at("inst-1", 9001), b = at("inst-2", 9002);
	const struct placement *got;

	(void)state;
	assert_non_null(pc);
	assert_null(pcache_get(pc, "A", 0, NULL));
	pcache_put(pc, "A", 0, NULL, &a);
	pcache_put(pc, "A", 1, NULL, &b);
	assert_int_equal(pcache_count(pc), 2);
	/* The same actid as master and as client are two entries. */
	assert_non_null(got = pcache_get(pc, "A", 0, NULL));
	assert_string_equal(got->id, "inst-1");
	assert_non_null(got = pcache_get(pc, "A", 1, NULL));
	assert_string_equal(got->id, "inst-2");
	/* Replace, then drop one role only. */
	pcache_put(pc, "A", 0, NULL, &b);
	assert_int_equal(pcache_count(pc), 2);
	assert_int_equal(pcache_get(pc, "A", 0, NULL)->port, 9002);
	pcache_drop(pc, "A", 1);
	pcache_drop(pc, "missing", 1);
	assert_null(pcache_get(pc, "A", 1, NULL));
	assert_non_null(pcache_get(pc, "A", 0, NULL));
	assert_null(pcache_get(pc, "", 0, NULL));
	assert_int_equal(pcache_count(pc), 1);
	pcache_clear(pc);
	assert_int_equal(pcache_count(pc), 0);
	assert_null(pcache_get(pc, "A", 0, NULL));
	pcache_free(pc);
	pcache_free(NULL);
	assert_null(pcache_new(0));
}

static void
test_grows_and_finds_all(void **state)
{
	enum { N = 50000 };
	struct pcache *pc = pcache_new(N);
	char actid[32];

	(void)state;
	assert_non_null(pc);
	for (int i = 0; i < N; i++) {
		struct placement p = at("inst", (uint16_t)(1 + i % 60000));

		snprintf(actid, sizeof(actid), "acct-%d", i);
		pcache_put(pc, actid, i % 2, NULL, &p);
	}
	assert_int_equal(pcache_count(pc), N);
	for (int i = 0; i < N; i++) {
		const struct placement *p;

		snprintf(actid, sizeof(actid), "acct-%d", i);
		assert_non_null(p = pcache_get(pc, actid, i % 2, NULL));
		assert_int_equal(p->port, 1 + i % 60000);
		assert_null(pcache_get(pc, actid, !(i % 2), NULL));
	}
	for (int i = 0; i < N; i += 2) {
		snprintf(actid, sizeof(actid), "acct-%d", i);
		pcache_drop(pc, actid, 0);
	}
	assert_int_equal(pcache_count(pc), N / 2);
	pcache_free(pc);
}

static void
test_bound_empties(void **state)
{
	struct pcache *pc = pcache_new(3);
	struct placement p = at("inst-1", 9001);

	(void)state;
	pcache_put(pc, "a", 0, NULL, &p);
	pcache_put(pc, "b", 0, NULL, &p);
	pcache_put(pc, "c", 0, NULL, &p);
	assert_int_equal(pcache_count(pc), 3);
	/* Replacing at the bound keeps everything. */
	pcache_put(pc, "c", 0, NULL, &p);
	assert_int_equal(pcache_count(pc), 3);
	/* A fourth account empties the cache and is kept. */
	pcache_put(pc, "d", 0, NULL, &p);
	assert_int_equal(pcache_count(pc), 1);
	assert_null(pcache_get(pc, "a", 0, NULL));
	assert_non_null(pcache_get(pc, "d", 0, NULL));
	pcache_free(pc);
}

/* A client cached under one master is not found under another (the
 * placement script must move it), and a put replaces the master; a
 * replaced entry keeps the rest of its chain. */
static void
test_client_master_change(void **state)
{
	struct pcache *pc = pcache_new(10000);
	struct placement a = at("inst-1", 9001), b = at("inst-2", 9002);
	char actid[16];

	(void)state;
	assert_non_null(pc);
	pcache_put(pc, "C", 0, "M1", &a);
	assert_non_null(pcache_get(pc, "C", 0, "M1"));
	assert_null(pcache_get(pc, "C", 0, "M2"));
	assert_null(pcache_get(pc, "C", 0, NULL));
	pcache_put(pc, "C", 0, "M2", &b);
	assert_int_equal(pcache_count(pc), 1);
	assert_null(pcache_get(pc, "C", 0, "M1"));
	assert_int_equal(pcache_get(pc, "C", 0, "M2")->port, 9002);
	/* 3,000 entries share 1,024 buckets: replacing each keeps them all */
	for (int i = 0; i < 3000; i++) {
		snprintf(actid, sizeof(actid), "K%d", i);
		pcache_put(pc, actid, 0, "M1", &a);
	}
	for (int i = 0; i < 3000; i++) {
		snprintf(actid, sizeof(actid), "K%d", i);
		pcache_put(pc, actid, 0, "M2", &b);
	}
	for (int i = 0; i < 3000; i++) {
		snprintf(actid, sizeof(actid), "K%d", i);
		assert_non_null(pcache_get(pc, actid, 0, "M2"));
	}
	pcache_free(pc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles_replace_drop),
		cmocka_unit_test(test_grows_and_finds_all),
		cmocka_unit_test(test_bound_empties),
		cmocka_unit_test(test_client_master_change),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
