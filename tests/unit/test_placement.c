/*
 * Tests of the placement rules (common/scripts.c through the async API of
 * workers/proxy/placement.c) against a real redis-server started for each test.
 * Instances are registered with common/registry.c on a blocking context,
 * placements are driven on an ev loop with a deadline, and after each test
 * the keys are read back to check the invariants: one placement per account
 * and role, counts equal to the accounts mapped, caps respected, spread and
 * tracking consistent with the client mappings.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/keys.h"
#include "common/log.h"
#include "workers/proxy/placement.h"
#include "common/redis.h"
#include "common/registry.h"
#include "common/sbuf.h"
#include "common/scripts.h"
#include "common/scripts_lua.h"
#include "tests/unit/support.h"

#define NCONNS	4

/* A test's world: its server, async connections, and a blocking context. */
struct pfx {
	struct test_env	 env;
	struct rconn	*rc[NCONNS];
	int		 up[NCONNS];
	redisContext	*sync;
};

/* One answer of the placement API. */
struct answer {
	int			 done;
	enum placement_status	 status;
	struct placement	 where;
};

static void
on_state(struct rconn *rc, int up, void *arg)
{
	(void)rc;
	*(int *)arg = up;
}

static int
all_up(void *arg)
{
	struct pfx *f = arg;

	for (int i = 0; i < NCONNS; i++)
		if (!f->up[i])
			return 0;
	return 1;
}

static int
pfx_setup(void **state)
{
	struct pfx *f = calloc(1, sizeof(*f));

	*state = f;
	if (f == NULL || test_env_init(&f->env) == -1 ||
	    test_redis_start(&f->env.srv) == -1 ||
	    keys_init("loadbalancer:", "loadbalancer:events") == -1)
		return -1;
	for (int i = 0; i < NCONNS; i++)
		if ((f->rc[i] = rconn_new(f->env.loop, &f->env.conf, "placement",
		    on_state, &f->up[i])) == NULL)
			return -1;
	if (test_wait_for(f->env.loop, all_up, f, 3000) == -1)
		return -1;
	f->sync = redisConnect("127.0.0.1", f->env.srv.port);
	return f->sync == NULL || f->sync->err ? -1 : 0;
}

static int
pfx_teardown(void **state)
{
	struct pfx *f = *state;

	for (int i = 0; i < NCONNS; i++) {
		placement_drop(f->rc[i]);
		rconn_free(f->rc[i]);
	}
	if (f->sync != NULL)
		redisFree(f->sync);
	test_env_fini(&f->env);
	free(f);
	return 0;
}

static void
on_answer(enum placement_status status, const struct placement *where,
    void *arg)
{
	struct answer *a = arg;

	a->done = 1;
	a->status = status;
	a->where = *where;
}

static int
answered(void *arg)
{
	return ((struct answer *)arg)->done;
}

static enum placement_status
place_master(struct pfx *f, const char *actid, long long max,
    struct placement *where)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(placement_place_master(f->rc[0], actid, max, on_answer,
	    &a), 0);
	assert_int_equal(test_wait_for(f->env.loop, answered, &a, 3000), 0);
	if (where != NULL)
		*where = a.where;
	return a.status;
}

static enum placement_status
place_client(struct pfx *f, const char *actid, const char *master,
    long long max, struct placement *where)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(placement_place_client(f->rc[0], actid, master, max,
	    on_answer, &a), 0);
	assert_int_equal(test_wait_for(f->env.loop, answered, &a, 3000), 0);
	if (where != NULL)
		*where = a.where;
	return a.status;
}

/* Release from instance (NULL: wherever it is); returns where.found (1 if
 * it was placed there). */
static int
release_on(struct pfx *f, enum placement_role role, const char *actid,
    const char *master, const char *instance)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(placement_release(f->rc[0], role, actid, master,
	    instance, on_answer, &a), 0);
	assert_int_equal(test_wait_for(f->env.loop, answered, &a, 3000), 0);
	assert_int_equal(a.status, PLACEMENT_OK);
	return a.where.found;
}

static int
release(struct pfx *f, enum placement_role role, const char *actid,
    const char *master)
{
	return release_on(f, role, actid, master, NULL);
}

/* Apply the pending tracking changes (the proxies' timer does it in olbd),
 * two masters per call, until nothing is left that could be done now; an
 * array of n KiB is written only if not written in the last n * ms_per_kib
 * ms.  Returns the number of calls. */
static int
flush_tracking_per(struct pfx *f, int ms_per_kib)
{
	struct answer a;
	int calls = 0;

	do {
		memset(&a, 0, sizeof(a));
		assert_int_equal(placement_flush_tracking(f->rc[0], 2,
		    ms_per_kib, on_answer, &a), 0);
		assert_int_equal(test_wait_for(f->env.loop, answered, &a, 3000),
		    0);
		assert_int_equal(a.status, PLACEMENT_OK);
		calls++;
	} while (a.where.found == 1);
	return calls;
}

static int
flush_tracking(struct pfx *f)
{
	return flush_tracking_per(f, 0);
}

/* Register a running instance on 127.0.0.1:port; its id must be want. */
static void
add_instance(struct pfx *f, const char *role, uint16_t port, const char *want)
{
	char id[REGISTRY_ID_MAX] = "";

	assert_int_equal(registry_add(f->sync, role, "127.0.0.1", port, NULL,
	    "running", "test", id, sizeof(id)), 0);
	assert_string_equal(id, want);
}

/* Register n running client instances, inst-1..inst-n on ports 9001..:
 * the first instances of the test. */
static void
add_clients(struct pfx *f, int n)
{
	char id[16];

	for (int i = 1; i <= n; i++) {
		snprintf(id, sizeof(id), "inst-%d", i);
		add_instance(f, "client", (uint16_t)(9000 + i), id);
	}
}

/* An integer field of a hash, -1 when absent. */
static long long
hget_int(struct pfx *f, const char *key, const char *field)
{
	long long n = test_redis_int(f->sync, "HGET %s %s", key, field);

	assert_true(n >= -1);
	return n;
}

static long long
hlen(struct pfx *f, const char *key)
{
	long long n = test_redis_int(f->sync, "HLEN %s", key);

	assert_true(n >= 0);
	return n;
}

/* A hash read back: field and value pairs. */
#define PAIRS_MAX	512
struct pairs {
	char	 k[PAIRS_MAX][64];
	char	 v[PAIRS_MAX][64];
	int	 n;
};

static struct pairs *
hgetall(struct pfx *f, const char *key)
{
	struct pairs *p = calloc(1, sizeof(*p));
	redisReply *r = redisCommand(f->sync, "HGETALL %s", key);

	assert_non_null(p);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_true(r->elements / 2 <= PAIRS_MAX);
	for (size_t i = 0; i + 1 < r->elements; i += 2, p->n++) {
		snprintf(p->k[p->n], sizeof(p->k[0]), "%s", r->element[i]->str);
		snprintf(p->v[p->n], sizeof(p->v[0]), "%s", r->element[i + 1]->str);
	}
	freeReplyObject(r);
	return p;
}

static const char *
pairs_get(const struct pairs *p, const char *k)
{
	for (int i = 0; i < p->n; i++)
		if (strcmp(p->k[i], k) == 0)
			return p->v[i];
	return NULL;
}

/* The clients' masters, out of the client mapping cm ('<id>\n<master>':
 * cm is left with the ids) or, for a value of the earlier layout ('<id>'),
 * out of client_master (old), which holds no other client. */
static struct pairs *
mapping_masters(struct pairs *cm, const struct pairs *old)
{
	struct pairs *p = calloc(1, sizeof(*p));
	char *nl;

	assert_non_null(p);
	for (int i = 0; i < cm->n; i++, p->n++) {
		snprintf(p->k[p->n], sizeof(p->k[0]), "%s", cm->k[i]);
		if ((nl = strchr(cm->v[i], '\n')) != NULL) {
			*nl = '\0';
			snprintf(p->v[p->n], sizeof(p->v[0]), "%s", nl + 1);
			assert_null(pairs_get(old, cm->k[i]));
		} else {
			assert_non_null(pairs_get(old, cm->k[i]));
			snprintf(p->v[p->n], sizeof(p->v[0]), "%s",
			    pairs_get(old, cm->k[i]));
		}
	}
	for (int i = 0; i < old->n; i++)
		assert_non_null(pairs_get(cm, old->k[i]));
	return p;
}

/* How many fields of p have value v. */
static long long
pairs_count_value(const struct pairs *p, const char *v)
{
	long long n = 0;

	for (int i = 0; i < p->n; i++)
		n += strcmp(p->v[i], v) == 0;
	return n;
}

/* master's spread read back (prelude.lua: a JSON object, instance id -> n,
 * each n an integer above 0): k the instance, v its n. */
static struct pairs *
spread_read(struct pfx *f, const char *master)
{
	struct pairs *p = calloc(1, sizeof(*p));
	redisReply *r = redisCommand(f->sync, "HGET %s %s",
	    keys_client_spread(), master);
	struct json_object *o;

	assert_non_null(p);
	assert_non_null(r);
	if (r->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		return p;
	}
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	assert_non_null(o = json_tokener_parse(r->str));
	assert_true(json_object_is_type(o, json_type_object));
	assert_true(json_object_object_length(o) > 0);
	json_object_object_foreach(o, id, n) {
		assert_true(json_object_is_type(n, json_type_int));
		assert_true(json_object_get_int64(n) > 0);
		assert_true(p->n < PAIRS_MAX && strlen(id) < 64);
		snprintf(p->k[p->n], sizeof(p->k[0]), "%s", id);
		assert_null(pairs_get(p, p->k[p->n]));
		snprintf(p->v[p->n++], sizeof(p->v[0]), "%lld",
		    (long long)json_object_get_int64(n));
	}
	json_object_put(o);
	freeReplyObject(r);
	return p;
}

/* master's clients on id by its spread, -1 when it does not list id. */
static long long
spread(struct pfx *f, const char *master, const char *id)
{
	struct pairs *sp = spread_read(f, master);
	const char *n = pairs_get(sp, id);
	long long v = n ? strtoll(n, NULL, 10) : -1;

	free(sp);
	return v;
}

/* Every instance's count equals the accounts mapped to it, within max. */
static void
check_counts(struct pfx *f, const struct pairs *mm, const struct pairs *cm,
    long long max)
{
	struct pairs *counts = hgetall(f, keys_instance_user_counts());
	for (int i = 0; i < counts->n; i++) {
		long long n = strtoll(counts->v[i], NULL, 10);

		assert_int_equal(n, pairs_count_value(mm, counts->k[i]) +
		    pairs_count_value(cm, counts->k[i]));
		assert_true(n <= max);
	}
	for (int i = 0; i < mm->n; i++)
		assert_non_null(pairs_get(counts, mm->v[i]));
	for (int i = 0; i < cm->n; i++)
		assert_non_null(pairs_get(counts, cm->v[i]));
	assert_int_equal(hget_int(f, keys_global_state(), "masterCount") < 0 ?
	    0 : hget_int(f, keys_global_state(), "masterCount"), mm->n);
	assert_int_equal(hget_int(f, keys_global_state(), "clientCount") < 0 ?
	    0 : hget_int(f, keys_global_state(), "clientCount"), cm->n);
	free(counts);
}

/* master's tracking array holds each of its clients once, nothing else. */
static void
check_tracking(struct pfx *f, const char *master, const struct pairs *cmaster)
{
	redisReply *r = redisCommand(f->sync, "HGET %s %s",
	    keys_client_master_tracking(), master);
	json_object *list;
	long long want = pairs_count_value(cmaster, master), found;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	assert_non_null(list = json_tokener_parse(r->str));
	assert_int_equal(json_object_array_length(list), want);
	for (int i = 0; i < cmaster->n; i++) {
		if (strcmp(cmaster->v[i], master) != 0)
			continue;
		found = 0;
		for (size_t j = 0; j < json_object_array_length(list); j++)
			found += strcmp(json_object_get_string(
			    json_object_array_get_idx(list, j)), cmaster->k[i]) == 0;
		assert_int_equal(found, 1);
	}
	json_object_put(list);
	freeReplyObject(r);
}

/* master's spread counts its clients on each instance (no zeros). */
static void
check_spread(struct pfx *f, const char *master, const struct pairs *cmaster,
    const struct pairs *cm)
{
	struct pairs *sp = spread_read(f, master);
	long long total = 0, n;

	for (int i = 0; i < sp->n; i++) {
		n = 0;
		for (int j = 0; j < cmaster->n; j++)
			n += strcmp(cmaster->v[j], master) == 0 &&
			    strcmp(pairs_get(cm, cmaster->k[j]), sp->k[i]) == 0;
		assert_true(n > 0);
		assert_int_equal(strtoll(sp->v[i], NULL, 10), n);
		total += n;
	}
	assert_int_equal(total, pairs_count_value(cmaster, master));
	free(sp);
}

/* Number of keys matching pattern (SCAN: fine in a test). */
static long long
count_keys(struct pfx *f, const char *pattern)
{
	char cursor[32] = "0";
	long long n = 0;
	redisReply *r;

	do {
		r = redisCommand(f->sync, "SCAN %s MATCH %s COUNT 1000", cursor,
		    pattern);
		assert_non_null(r);
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		n += (long long)r->element[1]->elements;
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return n;
}

/* Read every key back and check the invariants of the placement rules. */
static void
check_invariants(struct pfx *f, long long max)
{
	struct pairs *mm = hgetall(f, keys_master_mapping());
	struct pairs *cm = hgetall(f, keys_client_mapping());
	struct pairs *old = hgetall(f, keys_client_master());
	struct pairs *cmaster = mapping_masters(cm, old);
	char pattern[KEYS_NAME_MAX];
	long long masters = 0;

	flush_tracking(f);
	check_counts(f, mm, cm, max);
	assert_int_equal(cmaster->n, cm->n);
	for (int i = 0; i < cm->n; i++)
		assert_non_null(pairs_get(cmaster, cm->k[i]));
	for (int i = 0; i < cmaster->n; i++) {
		int first = 1;

		for (int j = 0; j < i && first; j++)
			first = strcmp(cmaster->v[j], cmaster->v[i]) != 0;
		if (!first)
			continue;
		masters++;
		check_tracking(f, cmaster->v[i], cmaster);
		check_spread(f, cmaster->v[i], cmaster, cm);
	}
	assert_int_equal(hlen(f, keys_client_master_tracking()), masters);
	/* the spreads of these masters and the layout mark, nothing else */
	if (cm->n > 0)
		assert_int_equal(hlen(f, keys_client_spread()), masters + 1);
	snprintf(pattern, sizeof(pattern), "%s:*", keys_client_spread());
	assert_int_equal(count_keys(f, pattern), 0);
	snprintf(pattern, sizeof(pattern), "%s*",
	    keys_tracking_pending_prefix());
	assert_int_equal(count_keys(f, pattern), 0);
	assert_int_equal(test_redis_int(f->sync, "EXISTS %s",
	    keys_tracking_due()), 0);
	free(mm);
	free(cm);
	free(old);
	free(cmaster);
}

/* Set an instance's state through the registry (the health worker's job). */
static void
set_state(struct pfx *f, const char *id, const char *state)
{
	assert_int_equal(registry_set_state(f->sync, id, state, NULL), 0);
}

static void
test_master_idempotent(void **state)
{
	struct pfx *f = *state;
	struct placement w;

	add_instance(f, "master", 9001, "inst-1");
	add_instance(f, "master", 9002, "inst-2");
	assert_int_equal(place_master(f, "A", 10, &w), PLACEMENT_OK);
	assert_true(w.found);
	assert_string_equal(w.id, "inst-1");
	assert_string_equal(w.ip, "127.0.0.1");
	assert_int_equal(w.port, 9001);
	assert_int_equal(w.existing, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(place_master(f, "A", 10, &w), PLACEMENT_OK);
		assert_string_equal(w.id, "inst-1");
		assert_int_equal(w.existing, 1);
	}
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-1"), 1);
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-2"), 0);
	assert_int_equal(hget_int(f, keys_global_state(), "masterCount"), 1);
	check_invariants(f, 10);
}

static void
test_master_least_loaded_then_cap(void **state)
{
	struct pfx *f = *state;
	const char *want[] = { "inst-1", "inst-2", "inst-1", "inst-2" };
	struct placement w;
	char actid[16];

	add_instance(f, "master", 9001, "inst-1");
	add_instance(f, "master", 9002, "inst-2");
	add_instance(f, "client", 9003, "inst-3");	/* never for masters */
	for (int i = 0; i < 4; i++) {
		snprintf(actid, sizeof(actid), "M%d", i);
		assert_int_equal(place_master(f, actid, 2, &w), PLACEMENT_OK);
		assert_string_equal(w.id, want[i]);
	}
	/* Both at the cap. */
	assert_int_equal(place_master(f, "M4", 2, &w), PLACEMENT_NO_CAPACITY);
	assert_false(w.found);
	/* A third master, launched later, takes the next one. */
	add_instance(f, "master", 9004, "inst-4");
	assert_int_equal(place_master(f, "M4", 2, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-4");
	/* Fewest first: inst-4 (1) beats the older ones (2); a higher cap now. */
	assert_int_equal(place_master(f, "M5", 3, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-4");
	assert_int_equal(place_master(f, "M6", 3, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-1");
	check_invariants(f, 3);
}

static void
test_master_none_available(void **state)
{
	struct pfx *f = *state;
	struct placement w;

	/* No instance at all, then only instances that are not running. */
	assert_int_equal(place_master(f, "A", 5, &w), PLACEMENT_NO_CAPACITY);
	add_instance(f, "master", 9001, "inst-1");
	set_state(f, "inst-1", "pending");
	add_instance(f, "master", 9002, "inst-2");
	set_state(f, "inst-2", "draining");
	assert_int_equal(place_master(f, "A", 5, &w), PLACEMENT_NO_CAPACITY);
	/* A cap of 0 takes nobody. */
	set_state(f, "inst-1", "running");
	assert_int_equal(place_master(f, "A", 0, &w), PLACEMENT_NO_CAPACITY);
	assert_int_equal(hlen(f, keys_master_mapping()), 0);
	assert_int_equal(hget_int(f, keys_global_state(), "masterCount"), -1);
	check_invariants(f, 5);
}

/* Clients C0..C<n-1> of master placed, each new (cap 100). */
static void
place_new_clients(struct pfx *f, const char *master, int n)
{
	struct placement w;
	char actid[16];

	for (int i = 0; i < n; i++) {
		snprintf(actid, sizeof(actid), "C%d", i);
		assert_int_equal(place_client(f, actid, master, 100, &w),
		    PLACEMENT_OK);
		assert_int_equal(w.existing, 0);
	}
}

static void
test_client_spread(void **state)
{
	struct pfx *f = *state;
	struct placement w;

	add_clients(f, 3);
	place_new_clients(f, "M", 6);
	for (int i = 1; i <= 3; i++) {
		char id[32];

		snprintf(id, sizeof(id), "inst-%d", i);
		assert_int_equal(spread(f, "M", id), 2);
		assert_int_equal(hget_int(f, keys_instance_user_counts(), id), 2);
	}
	/* Re-login: same instance, nothing counted twice. */
	assert_int_equal(place_client(f, "C0", "M", 100, &w), PLACEMENT_OK);
	assert_int_equal(w.existing, 1);
	assert_int_equal(hget_int(f, keys_global_state(), "clientCount"), 6);
	check_invariants(f, 100);
}

static void
test_client_tie_breaks(void **state)
{
	struct pfx *f = *state;
	struct placement w;

	add_clients(f, 3);
	/* Clients of X load inst-1 and inst-2 (launch order breaks the tie). */
	assert_int_equal(place_client(f, "X1", "X", 10, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-1");
	assert_int_equal(place_client(f, "X2", "X", 10, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-2");
	/* M has no client anywhere: the lowest total, inst-3. */
	assert_int_equal(place_client(f, "M1", "M", 10, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-3");
	/* M's spread ties inst-1 and inst-2 (0 each), totals tie (1 each):
	 * launch order, inst-1; then inst-2. */
	assert_int_equal(place_client(f, "M2", "M", 10, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-1");
	assert_int_equal(place_client(f, "M3", "M", 10, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-2");
	/* Spread first: M4 goes to the least loaded in M's terms even though
	 * inst-3 holds fewer accounts in total (inst-3: 1, others 2). */
	assert_int_equal(place_client(f, "M4", "M", 10, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-3");
	check_invariants(f, 10);
}

static void
test_client_cap(void **state)
{
	struct pfx *f = *state;
	struct placement w;

	add_clients(f, 2);
	add_instance(f, "master", 9003, "inst-3");	/* never for clients */
	assert_int_equal(place_client(f, "C1", "M", 1, &w), PLACEMENT_OK);
	assert_int_equal(place_client(f, "C2", "N", 1, &w), PLACEMENT_OK);
	assert_int_equal(place_client(f, "C3", "M", 1, &w),
	    PLACEMENT_NO_CAPACITY);
	assert_false(w.found);
	/* An existing client still logs in at the cap. */
	assert_int_equal(place_client(f, "C1", "M", 1, &w), PLACEMENT_OK);
	assert_int_equal(w.existing, 1);
	check_invariants(f, 1);
}

/* The calls of one command Redis has run since the last RESETSTAT. */
static long long
command_calls(struct pfx *f, const char *command)
{
	redisReply *r = redisCommand(f->sync, "INFO commandstats");
	char needle[64];
	const char *p;
	long long n = 0;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", command);
	if ((p = strstr(r->str, needle)) != NULL)
		n = strtoll(p + strlen(needle), NULL, 10);
	freeReplyObject(r);
	return n;
}

static int
all_answered(void *arg)
{
	struct answer *a = arg;

	for (int i = 0; i < 21; i++)
		if (!a[i].done)
			return 0;
	return 1;
}

/* While a batch waits for its answer (Redis paused), the placements asked
 * for meanwhile, one per loop iteration, fill the next batch: 21 accounts
 * in 2 script calls. */
static void
test_batch_fills_while_one_is_answered(void **state)
{
	struct pfx *f = *state;
	struct answer a[21];
	char actid[21][16];

	add_instance(f, "client", 9001, "inst-1");
	assert_int_equal(place_client(f, "WARM", "M", 100, NULL), PLACEMENT_OK);
	assert_int_equal(test_redis_do(f->sync, "CONFIG RESETSTAT"), 0);
	assert_int_equal(test_redis_do(f->sync, "CLIENT PAUSE 300 ALL"), 0);
	memset(a, 0, sizeof(a));
	for (int i = 0; i < 21; i++) {
		snprintf(actid[i], sizeof(actid[i]), "C%d", i);
		assert_int_equal(placement_place_client(f->rc[0], actid[i], "M",
		    100, on_answer, &a[i]), 0);
		test_wait_for(f->env.loop, NULL, NULL, 5);
	}
	assert_int_equal(test_wait_for(f->env.loop, all_answered, a, 3000), 0);
	for (int i = 0; i < 21; i++)
		assert_int_equal(a[i].status, PLACEMENT_OK);
	assert_int_equal(command_calls(f, "evalsha"), 2);
	check_invariants(f, 100);
}

static void
test_release(void **state)
{
	struct pfx *f = *state;
	struct placement w;

	add_instance(f, "master", 9001, "inst-1");
	add_instance(f, "client", 9002, "inst-2");
	assert_int_equal(place_master(f, "A", 1, &w), PLACEMENT_OK);
	assert_int_equal(place_client(f, "C1", "A", 5, &w), PLACEMENT_OK);
	assert_int_equal(place_client(f, "C2", "A", 5, &w), PLACEMENT_OK);
	/* The master's place is free again. */
	assert_int_equal(place_master(f, "B", 1, &w), PLACEMENT_NO_CAPACITY);
	assert_int_equal(release(f, PLACEMENT_MASTER, "A", NULL), 1);
	assert_int_equal(release(f, PLACEMENT_MASTER, "A", NULL), 0);
	assert_int_equal(place_master(f, "B", 1, &w), PLACEMENT_OK);
	assert_int_equal(hget_int(f, keys_global_state(), "masterCount"), 1);
	/* Clients: tracking shrinks, then vanishes with the last one; the
	 * recorded master is used when none is given. */
	assert_int_equal(release(f, PLACEMENT_CLIENT, "C1", "A"), 1);
	assert_int_equal(spread(f, "A", "inst-2"), 1);
	check_invariants(f, 5);
	assert_int_equal(release(f, PLACEMENT_CLIENT, "C2", ""), 1);
	assert_int_equal(release(f, PLACEMENT_CLIENT, "C2", "A"), 0);
	flush_tracking(f);
	assert_int_equal(hlen(f, keys_client_master_tracking()), 0);
	assert_int_equal(spread(f, "A", "inst-2"), -1);
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-2"), 0);
	assert_int_equal(hget_int(f, keys_global_state(), "clientCount"), 0);
	check_invariants(f, 5);
}

static void
test_client_changes_master(void **state)
{
	struct pfx *f = *state;
	struct placement w;

	add_clients(f, 2);
	assert_int_equal(place_client(f, "K", "A", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-1");
	assert_int_equal(place_client(f, "L", "A", 5, &w), PLACEMENT_OK);
	/* K now copies B: same instance, B's books. */
	assert_int_equal(place_client(f, "K", "B", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-1");
	assert_int_equal(w.existing, 1);
	assert_int_equal(spread(f, "A", "inst-1"), -1);
	assert_int_equal(spread(f, "B", "inst-1"), 1);
	check_invariants(f, 5);
	/* ... and back to A while its instance is down: moved and re-booked. */
	set_state(f, "inst-1", "unhealthy");
	assert_int_equal(place_client(f, "K", "A", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-2");
	assert_int_equal(spread(f, "A", "inst-2"), 2);
	flush_tracking(f);
	assert_int_equal(hlen(f, keys_client_master_tracking()), 1);
	check_invariants(f, 5);
	/* A release names a wrong master: the recorded one is cleaned. */
	assert_int_equal(release(f, PLACEMENT_CLIENT, "K", "Z"), 1);
	assert_int_equal(spread(f, "A", "inst-2"), 1);
	check_invariants(f, 5);
}

/* The tracking array of master, exactly as stored ("" if absent). */
static void
tracking_is(struct pfx *f, const char *master, const char *want)
{
	redisReply *r = redisCommand(f->sync, "HGET %s %s",
	    keys_client_master_tracking(), master);

	assert_non_null(r);
	assert_string_equal(r->type == REDIS_REPLY_STRING ? r->str : "", want);
	freeReplyObject(r);
}

/* The number of changes (op, client) pending for master's array. */
static long long
pending(struct pfx *f, const char *master)
{
	long long n = test_redis_int(f->sync, "LLEN %s%s",
	    keys_tracking_pending_prefix(), master);

	return n < 0 ? 0 : n / 2;
}

static void
test_tracking_order_and_flush(void **state)
{
	struct pfx *f = *state;

	add_clients(f, 2);
	assert_int_equal(place_client(f, "C1", "M", 5, NULL), PLACEMENT_OK);
	assert_int_equal(place_client(f, "C2", "M", 5, NULL), PLACEMENT_OK);
	assert_int_equal(place_client(f, "C3", "M", 5, NULL), PLACEMENT_OK);
	/* Placements only queue; a flush writes the array, in placement
	 * order. */
	tracking_is(f, "M", "");
	assert_int_equal(pending(f, "M"), 3);
	flush_tracking(f);
	tracking_is(f, "M", "[\"C1\",\"C2\",\"C3\"]");
	assert_int_equal(pending(f, "M"), 0);
	/* A re-login queues nothing. */
	assert_int_equal(place_client(f, "C2", "M", 5, NULL), PLACEMENT_OK);
	assert_int_equal(pending(f, "M"), 0);
	assert_int_equal(release(f, PLACEMENT_CLIENT, "C2", NULL), 1);
	assert_int_equal(pending(f, "M"), 1);
	flush_tracking(f);
	tracking_is(f, "M", "[\"C1\",\"C3\"]");

	/* An array written before olb is appended to as it is (7 stays a
	 * number); a removal decodes it, and the ids come out as strings. */
	assert_int_equal(test_redis_do(f->sync, "HSET %s N [\"X\",7,\"Y\"]",
	    keys_client_master_tracking()), 0);
	assert_int_equal(place_client(f, "Z", "N", 5, NULL), PLACEMENT_OK);
	flush_tracking_per(f, 100000);
	tracking_is(f, "N", "[\"X\",7,\"Y\",\"Z\"]");
	/* A big array is not written again too soon: at 100 s per KiB, N's
	 * 17 bytes hold it back for 1.6 s, and N waits in tracking_due. */
	assert_int_equal(place_client(f, "Z2", "N", 5, NULL), PLACEMENT_OK);
	assert_int_equal(flush_tracking_per(f, 100000), 1);
	assert_int_equal(pending(f, "N"), 1);
	tracking_is(f, "N", "[\"X\",7,\"Y\",\"Z\"]");
	assert_int_equal(test_redis_int(f->sync, "ZCARD %s",
	    keys_tracking_due()), 1);
	assert_int_equal(test_redis_do(f->sync, "ZADD %s 0 N",
	    keys_tracking_due()), 0);
	flush_tracking(f);
	tracking_is(f, "N", "[\"X\",7,\"Y\",\"Z\",\"Z2\"]");
	assert_int_equal(release(f, PLACEMENT_CLIENT, "Z", NULL), 1);
	flush_tracking(f);
	tracking_is(f, "N", "[\"X\",\"7\",\"Y\",\"Z2\"]");
	/* Releasing the last client removes the array. */
	assert_int_equal(release(f, PLACEMENT_CLIENT, "C1", NULL), 1);
	assert_int_equal(release(f, PLACEMENT_CLIENT, "C3", NULL), 1);
	flush_tracking(f);
	tracking_is(f, "M", "");
}

/* A master with a pending list is queued: a placement that finds the list
 * there sends no ZADD, so a queue lost by hand would strand the list; it
 * is queued again once the list passes 64 entries (prelude.lua:
 * TRACKING_HEAL), and the flush then applies every change in order. */
static void
test_tracking_queue_heals(void **state)
{
	struct pfx *f = *state;
	char want[512] = "[", actid[16];

	add_clients(f, 2);
	assert_int_equal(place_client(f, "C0", "M", 100, NULL), PLACEMENT_OK);
	assert_int_equal(test_redis_int(f->sync, "ZCARD %s",
	    keys_tracking_due()), 1);
	assert_int_equal(test_redis_int(f->sync, "DEL %s",
	    keys_tracking_due()), 1);
	for (int i = 1; i < 31; i++) {
		snprintf(actid, sizeof(actid), "C%d", i);
		assert_int_equal(place_client(f, actid, "M", 100, NULL),
		    PLACEMENT_OK);
	}
	/* 31 changes, 62 entries: not queued, a flush does not see them */
	assert_int_equal(test_redis_int(f->sync, "ZCARD %s",
	    keys_tracking_due()), 0);
	flush_tracking(f);
	tracking_is(f, "M", "");
	assert_int_equal(pending(f, "M"), 31);
	/* the 32nd change takes the list to 64 entries: queued again */
	assert_int_equal(place_client(f, "C31", "M", 100, NULL), PLACEMENT_OK);
	assert_int_equal(test_redis_int(f->sync, "ZCARD %s",
	    keys_tracking_due()), 1);
	flush_tracking(f);
	for (int i = 0; i < 32; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
		    "%s\"C%d\"%s", i ? "," : "", i, i == 31 ? "]" : "");
	tracking_is(f, "M", want);
	assert_int_equal(pending(f, "M"), 0);
}

/* Arrays of the layout before the pending lists (a sorted set per master,
 * stale ones listed in tracking_dirty) are rebuilt from their sets first,
 * which then go; the pending changes are applied after. */
static void
test_tracking_earlier_layout(void **state)
{
	struct pfx *f = *state;

	add_instance(f, "client", 9001, "inst-1");
	assert_int_equal(test_redis_do(f->sync, "ZADD %sM 1 A 2 B",
	    keys_client_list_prefix()), 0);
	assert_int_equal(test_redis_do(f->sync, "SADD %s M",
	    keys_tracking_dirty()), 0);
	assert_int_equal(test_redis_do(f->sync, "HSET %s M [\"A\"]",
	    keys_client_master_tracking()), 0);
	assert_int_equal(place_client(f, "C", "M", 5, NULL), PLACEMENT_OK);
	flush_tracking(f);
	tracking_is(f, "M", "[\"A\",\"B\",\"C\"]");
	assert_int_equal(test_redis_int(f->sync, "EXISTS %s %sM",
	    keys_tracking_dirty(), keys_client_list_prefix()), 0);
}

/* registry_check's lines, one after another. */
static void
check_line(const char *line, void *arg)
{
	struct sbuf *b = arg;

	sbuf_printf(b, "%s\n", line);
}

/* The differences registry_check finds with master M's spread set to v
 * (NULL: as placed); how many, and the first holds want. */
static void
check_spread_finds(struct pfx *f, const char *v, const char *want)
{
	struct registry_totals totals;
	struct sbuf b;
	size_t len;
	char *text;
	int n;

	if (v != NULL)
		assert_int_equal(test_redis_do(f->sync, "HSET %s M %s",
		    keys_client_spread(), v), 0);
	assert_int_equal(sbuf_init(&b, 256), 0);
	n = registry_check(f->sync, 0, 0, &totals, check_line, &b);
	text = sbuf_finish(&b, &len);
	assert_non_null(text);
	if (want == NULL)
		assert_int_equal(n, 0);
	else if (n < 1 || strstr(text, want) == NULL)
		fail_msg("check found %d, not \"%s\":\n%s", n, want, text);
	free(text);
}

/* olbctl check reads the spreads: each way one can be wrong is found. */
static void
test_check_spread(void **state)
{
	struct pfx *f = *state;

	add_clients(f, 2);
	place_new_clients(f, "M", 3);
	flush_tracking(f);
	check_spread_finds(f, NULL, NULL);
	check_spread_finds(f, "{\"inst-1\":2,\"inst-2\":2}",
	    "master M: spread on inst-2 is 2, 1 clients there");
	check_spread_finds(f, "{\"inst-1\":2}",
	    "master M: spread on inst-2 is nil, 1 clients there");
	check_spread_finds(f, "{\"inst-1\":2,\"inst-2\":1,\"inst-3\":1}",
	    "master M: spread on inst-3 is 1, no client there");
	check_spread_finds(f, "{\"inst-1\":2,\"inst-2\":1,\"inst-3\":0}",
	    "master M: spread on inst-3 is 0");
	check_spread_finds(f, "{\"inst-1\":2,\"inst-2\":1.5}",
	    "master M: spread on inst-2 is 1.5");
	check_spread_finds(f, "{\"inst-1\":2,\"inst-2\":\"1\"}",
	    "master M: spread on inst-2 is 1");
	check_spread_finds(f, "{}", "master M: the spread \"{}\" is not "
	    "instances");
	check_spread_finds(f, "\ninst-1 2\ninst-2 1",
	    "master M: the spread \"\\ninst-1 2\\ninst-2 1\" is not "
	    "instances");
	check_spread_finds(f, "{\"inst-1\":2,\"inst-2\":1}", NULL);
	assert_int_equal(test_redis_do(f->sync, "HSET %s Z %s",
	    keys_client_spread(), "{\"inst-1\":1}"), 0);
	check_spread_finds(f, NULL, "master Z: a spread, but no clients");
	/* spreads of an earlier layout, until the next placement moves them */
	assert_int_equal(test_redis_do(f->sync, "HSET %s \nlayout 1",
	    keys_client_spread()), 0);
	check_spread_finds(f, NULL, "an earlier layout");
}

/* spread_decode(v) of the prelude, run by Redis, as JSON (sorted keys):
 * must be want. */
static void
decode_is(struct pfx *f, const char *v, const char *want)
{
	redisReply *r = redisCommand(f->sync, "EVAL %s 0 %s",
	    SCRIPTS_LUA_PRELUDE "local t, ids, out = spread_decode(ARGV[1]), "
	    "{}, {} for id in pairs(t) do ids[#ids + 1] = id end "
	    "table.sort(ids) for _, id in ipairs(ids) do "
	    "out[#out + 1] = id .. '=' .. t[id] end "
	    "return table.concat(out, ',')", v);

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	if (strcmp(r->str, want) != 0)
		fail_msg("spread_decode(%s) gave \"%s\", not \"%s\"", v, r->str,
		    want);
	freeReplyObject(r);
}

/* A spread is read whole; a damaged entry is left out (it must never stop
 * a script half way: scripts do not roll back), a damaged value is none. */
static void
test_spread_decode(void **state)
{
	struct pfx *f = *state;

	decode_is(f, "{\"inst-1\":1,\"inst-2\":7}", "inst-1=1,inst-2=7");
	decode_is(f, "{\"a\":0,\"b\":-1,\"c\":\"2\",\"d\":2.5,\"e\":1e300,"
	    "\"f\":null,\"g\":{},\"h\":3}", "d=2,h=3");
	decode_is(f, "[1,2]", "");
	decode_is(f, "{\"a\":1", "");
	decode_is(f, "\ninst-1 2", "");
	decode_is(f, "7", "");
}

/* The reply hiredis reads from the RESP text s (len bytes). */
static redisReply *
resp(const char *s, size_t len)
{
	redisReader *rd = redisReaderCreate();
	void *reply = NULL;

	assert_non_null(rd);
	assert_int_equal(redisReaderFeed(rd, s, len), REDIS_OK);
	assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
	assert_non_null(reply);
	redisReaderFree(rd);
	return reply;
}

#define RESP(s)		resp((s), sizeof(s) - 1)
#define INST1		"$6\r\ninst-1\r\n$9\r\n127.0.0.1\r\n:9001\r\n"

/* The status placement_parse_batch gives one account (a batch of one)
 * whose code and named instance are the RESP text acct; where into w. */
static enum placement_status
one_answer(const char *acct, size_t len, struct placement *w)
{
	static const char head[] = "*5\r\n:7\r\n";
	char buf[512];
	enum placement_status st;
	redisReply *r;

	assert_true(sizeof(head) + len < sizeof(buf));
	memcpy(buf, head, sizeof(head) - 1);
	memcpy(buf + sizeof(head) - 1, acct, len);
	r = resp(buf, sizeof(head) - 1 + len);
	assert_int_equal(placement_parse_batch(r, 1, &st, w), 0);
	freeReplyObject(r);
	return st;
}

#define ONE(s)		one_answer((s), sizeof(s) - 1, &one)

/* A batch answer as Redis sends it, and every wrong one: a wrong shape
 * fails the batch, a wrong account answer fails that account only. */
static void
test_batch_answer_shapes(void **state)
{
	enum placement_status st[3];
	struct placement w[3], one;
	redisReply *r;

	(void)state;
	/* placed, none, already there: one instance named once */
	r = RESP("*7\r\n:7\r\n:1\r\n:0\r\n:-1\r\n" INST1);
	assert_int_equal(placement_parse_batch(r, 3, st, w), 0);
	assert_int_equal(st[0], PLACEMENT_OK);
	assert_string_equal(w[0].id, "inst-1");
	assert_string_equal(w[0].ip, "127.0.0.1");
	assert_int_equal(w[0].port, 9001);
	assert_int_equal(w[0].existing, 0);
	assert_int_equal(w[0].live, 1);
	assert_int_equal(w[0].seq, 7);
	assert_int_equal(st[1], PLACEMENT_NO_CAPACITY);
	assert_int_equal(w[1].seq, 7);
	assert_int_equal(st[2], PLACEMENT_OK);
	assert_string_equal(w[2].id, "inst-1");
	assert_int_equal(w[2].existing, 1);
	/* a count of accounts that is not the batch's */
	assert_int_equal(placement_parse_batch(r, 1, st, w), -1);
	assert_int_equal(placement_parse_batch(r, 2, st, w), -1);
	assert_int_equal(placement_parse_batch(r, 0, st, w), -1);
	freeReplyObject(r);
	/* two instances, the second unreadable: only its account fails */
	r = RESP("*9\r\n:7\r\n:2\r\n:1\r\n" INST1
	    "$1\r\na\r\n$1\r\nb\r\n:0\r\n");
	assert_int_equal(placement_parse_batch(r, 2, st, w), 0);
	assert_int_equal(st[0], PLACEMENT_ERROR);
	assert_int_equal(st[1], PLACEMENT_OK);
	assert_string_equal(w[1].id, "inst-1");
	/* more instances named than accounts */
	assert_int_equal(placement_parse_batch(r, 1, st, w), -1);
	freeReplyObject(r);
	assert_int_equal(placement_parse_batch(NULL, 1, st, w), -1);
	r = RESP("+OK\r\n");
	assert_int_equal(placement_parse_batch(r, 1, st, w), -1);
	freeReplyObject(r);
	r = RESP("*5\r\n:-1\r\n:1\r\n" INST1);	/* no sequence below 0 */
	assert_int_equal(placement_parse_batch(r, 1, st, w), -1);
	freeReplyObject(r);
	r = RESP("*5\r\n$1\r\n7\r\n:1\r\n" INST1);
	assert_int_equal(placement_parse_batch(r, 1, st, w), -1);
	freeReplyObject(r);
	/* one account's answer */
	assert_int_equal(ONE(":1\r\n" INST1), PLACEMENT_OK);
	assert_int_equal(one.existing, 0);
	assert_int_equal(ONE(":-1\r\n$1\r\na\r\n$1\r\nb\r\n$4\r\n9001\r\n"),
	    PLACEMENT_OK);
	assert_int_equal(one.existing, 1);
	assert_int_equal(one.port, 9001);
	assert_int_equal(ONE(":2\r\n" INST1), PLACEMENT_ERROR);
	assert_int_equal(ONE(":-2\r\n" INST1), PLACEMENT_ERROR);
	assert_int_equal(ONE(":-9223372036854775808\r\n" INST1),
	    PLACEMENT_ERROR);
	assert_int_equal(ONE("$1\r\n1\r\n" INST1), PLACEMENT_ERROR);
	assert_int_equal(ONE("$-1\r\n" INST1), PLACEMENT_ERROR);
	assert_int_equal(one.seq, 0);
	assert_int_equal(ONE(":1\r\n$1\r\na\r\n$1\r\nb\r\n:0\r\n"),
	    PLACEMENT_ERROR);
	assert_int_equal(ONE(":1\r\n$1\r\na\r\n$1\r\nb\r\n:65536\r\n"),
	    PLACEMENT_ERROR);
	assert_int_equal(ONE(":1\r\n$1\r\na\r\n$1\r\nb\r\n$2\r\n9x\r\n"),
	    PLACEMENT_ERROR);
	assert_int_equal(ONE(":1\r\n$0\r\n\r\n$1\r\nb\r\n:1\r\n"),
	    PLACEMENT_ERROR);
	assert_int_equal(ONE(":1\r\n$3\r\na\0b\r\n$1\r\nb\r\n:1\r\n"),
	    PLACEMENT_ERROR);
	assert_int_equal(ONE(":1\r\n$-1\r\n$1\r\nb\r\n:1\r\n"),
	    PLACEMENT_ERROR);
	assert_int_equal(ONE(":1\r\n$1\r\na\r\n$-1\r\n$-1\r\n"),
	    PLACEMENT_ERROR);
	/* an instance nested as earlier versions did */
	assert_int_equal(ONE(":1\r\n*3\r\n" INST1 "$-1\r\n$-1\r\n"),
	    PLACEMENT_ERROR);
	assert_int_equal(ONE(":1\r\n$1\r\na\r\n$70\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890123456789"
	    "\r\n:1\r\n"), PLACEMENT_ERROR);
}

/* Redis keeps key in encoding want (OBJECT ENCODING). */
static void
encoding_is(struct pfx *f, const char *key, const char *want)
{
	redisReply *r = redisCommand(f->sync, "OBJECT ENCODING %s", key);

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	assert_string_equal(r->str, want);
	freeReplyObject(r);
}

/* The spreads of olb's earlier layouts, a hash per master and then a field
 * per master and instance (here both at once), are moved into one field per
 * master by the first placement, and decide it. */
static void
test_spread_earlier_layout(void **state)
{
	struct pfx *f = *state;
	struct placement w;

	add_clients(f, 2);
	assert_int_equal(test_redis_do(f->sync, "HSET %s:A inst-1 3 inst-2 0",
	    keys_client_spread()), 0);
	assert_int_equal(test_redis_do(f->sync, "HSET %s B\ninst-2 2 "
	    "A\ninst-2 0 layout 1", keys_client_spread()), 0);
	assert_int_equal(place_client(f, "C", "A", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-2");
	assert_int_equal(spread(f, "A", "inst-1"), 3);
	assert_int_equal(spread(f, "A", "inst-2"), 1);
	assert_int_equal(spread(f, "B", "inst-2"), 2);
	assert_int_equal(spread(f, "B", "inst-1"), -1);
	assert_int_equal(test_redis_int(f->sync, "EXISTS %s:A %s:B",
	    keys_client_spread(), keys_client_spread()), 0);
	assert_int_equal(test_redis_int(f->sync, "HEXISTS %s layout",
	    keys_client_spread()), 0);
	assert_int_equal(hlen(f, keys_client_spread()), 3);	/* and the mark */
	encoding_is(f, keys_client_spread(), "hashtable");
}

/* The layout before JSON objects, "\n<id> <n>" per instance in a field
 * per master under a mark of its own, is moved in by the first placement
 * (and decides it), and by the first release. */
static void
test_spread_text_layout(void **state)
{
	static const char earlier_mark[] = "one field per master: "
	    "\"\\n<id> <n>\" per instance; a long value, so that Redis keeps "
	    "this hash as a hash table";
	struct pfx *f = *state;
	struct placement w;
	redisReply *r;

	add_clients(f, 2);
	for (int by_release = 0; by_release < 2; by_release++) {
		assert_int_equal(test_redis_do(f->sync, "DEL %s",
		    keys_client_spread()), 0);
		r = redisCommand(f->sync, "HSET %s A %s B %s \nlayout %s",
		    keys_client_spread(), "\ninst-1 3\ninst-2 1", "\ninst-2 2",
		    earlier_mark);
		assert_non_null(r);
		freeReplyObject(r);
		if (by_release)
			assert_int_equal(release(f, PLACEMENT_CLIENT, "C", "A"), 1);
		else {
			assert_int_equal(place_client(f, "C", "A", 5, &w),
			    PLACEMENT_OK);
			assert_string_equal(w.id, "inst-2");
		}
		assert_int_equal(spread(f, "A", "inst-1"), 3);
		assert_int_equal(spread(f, "A", "inst-2"), by_release ? -1 : 2);
		assert_int_equal(spread(f, "B", "inst-2"), 2);
		r = redisCommand(f->sync, "HGET %s \nlayout", keys_client_spread());
		assert_non_null(r);
		assert_int_equal(r->type, REDIS_REPLY_STRING);
		assert_string_not_equal(r->str, earlier_mark);
		assert_true(r->len > 64);
		freeReplyObject(r);
	}
}

/* The spread hash is a hash table however few its fields (each field of a
 * listpack is found by a scan), also when an earlier mark made it a
 * listpack: the next placement writes the long mark. */
static void
test_spread_hash_table(void **state)
{
	struct pfx *f = *state;

	add_clients(f, 2);
	place_new_clients(f, "M", 3);
	encoding_is(f, keys_client_spread(), "hashtable");
	assert_int_equal(test_redis_do(f->sync, "DEL %s", keys_client_spread()),
	    0);
	assert_int_equal(test_redis_do(f->sync, "HSET %s M %s \nlayout 1",
	    keys_client_spread(), "\ninst-1 2\ninst-2 1"), 0);
	encoding_is(f, keys_client_spread(), "listpack");
	assert_int_equal(place_client(f, "C9", "M", 100, NULL), PLACEMENT_OK);
	encoding_is(f, keys_client_spread(), "hashtable");
	assert_int_equal(spread(f, "M", "inst-2"), 2);
	check_invariants(f, 100);
}

/* field of hash key is want (NULL: absent). */
static void
hash_is(struct pfx *f, const char *key, const char *field, const char *want)
{
	redisReply *r = redisCommand(f->sync, "HGET %s %s", key, field);

	assert_non_null(r);
	if (want == NULL)
		assert_int_equal(r->type, REDIS_REPLY_NIL);
	else {
		assert_int_equal(r->type, REDIS_REPLY_STRING);
		assert_string_equal(r->str, want);
	}
	freeReplyObject(r);
}

/* Placements of the earlier layout (the id alone in client_mapping, the
 * master in client_master) keep working: found as placed, moved to another
 * master by a rewrite of the mapping that takes the client_master field
 * away, released with it; olbctl check accepts them, and finds a client
 * with its master in both places. */
static void
test_mapping_earlier_layout(void **state)
{
	static const char *const earlier[] = { "C0", "C1", "C2" };
	struct pfx *f = *state;
	struct placement w;

	add_clients(f, 2);
	place_new_clients(f, "M", 3);
	flush_tracking(f);
	/* C0, C1 and C2 as an earlier olb wrote them */
	for (size_t i = 0; i < sizeof(earlier) / sizeof(earlier[0]); i++) {
		const char *a = earlier[i];
		redisReply *r = redisCommand(f->sync, "HGET %s %s",
		    keys_client_mapping(), a);
		char id[64];

		assert_non_null(r);
		assert_int_equal(r->type, REDIS_REPLY_STRING);
		assert_non_null(strchr(r->str, '\n'));
		snprintf(id, sizeof(id), "%.*s", (int)(strchr(r->str, '\n') -
		    r->str), r->str);
		freeReplyObject(r);
		assert_int_equal(test_redis_do(f->sync, "HSET %s %s %s",
		    keys_client_mapping(), a, id), 0);
		assert_int_equal(test_redis_do(f->sync, "HSET %s %s M",
		    keys_client_master(), a), 0);
	}
	check_spread_finds(f, NULL, NULL);
	check_invariants(f, 5);
	/* the same master: existing, nothing rewritten */
	assert_int_equal(place_client(f, "C0", "M", 5, &w), PLACEMENT_OK);
	assert_int_equal(w.existing, 1);
	hash_is(f, keys_client_master(), "C0", "M");
	/* another master: the mapping holds it now, the old field is gone */
	assert_int_equal(place_client(f, "C1", "N", 5, &w), PLACEMENT_OK);
	assert_int_equal(w.existing, 1);
	hash_is(f, keys_client_master(), "C1", NULL);
	flush_tracking(f);
	check_invariants(f, 5);
	/* released: the old field goes with the mapping */
	assert_int_equal(release(f, PLACEMENT_CLIENT, "C2", ""), 1);
	hash_is(f, keys_client_master(), "C2", NULL);
	hash_is(f, keys_client_mapping(), "C2", NULL);
	flush_tracking(f);
	check_invariants(f, 5);
	check_spread_finds(f, NULL, NULL);
	/* a master in the mapping and in client_master: found */
	assert_int_equal(test_redis_do(f->sync, "HSET %s C1 N",
	    keys_client_master()), 0);
	check_spread_finds(f, NULL,
	    "client C1: a master in its mapping and in client_master");
}

/* One tracking_flush call spends about its budget at most (64 KiB in olbd;
 * 4 bytes here, by rewriting the call's budget argument): the second master
 * waits for the next call. */
static void
test_tracking_budget(void **state)
{
	struct pfx *f = *state;
	struct scripts_call c;
	redisReply *r;
	char actid[16];

	add_instance(f, "client", 9001, "inst-1");
	for (int i = 0; i < 8; i++) {
		snprintf(actid, sizeof(actid), "c%d", i);
		assert_int_equal(place_client(f, actid, i % 2 ? "P" : "Q", 10,
		    NULL), PLACEMENT_OK);
		if (i == 5)
			flush_tracking(f);
	}
	assert_int_equal(scripts_call_tracking_flush(&c, 8, 0), 0);
	scripts_call_by_source(&c);
	c.argv[c.argc - 4] = "4";
	c.argvlen[c.argc - 4] = strlen(c.argv[c.argc - 4]);
	for (int call = 1; call <= 2; call++) {
		r = redisCommandArgv(f->sync, c.argc, c.argv, c.argvlen);
		assert_non_null(r);
		assert_int_equal(r->type, REDIS_REPLY_INTEGER);
		if (call == 1)
			assert_int_equal(r->integer, 1);	/* Q is due */
		freeReplyObject(r);
		assert_int_equal(pending(f, "P") + pending(f, "Q"), 2 - call);
	}
	check_invariants(f, 10);
}

static void
test_broken_record_skipped(void **state)
{
	struct pfx *f = *state;
	struct placement w;

	add_instance(f, "master", 9001, "inst-1");
	add_instance(f, "master", 9002, "inst-2");
	/* A record written by hand with an oversized ip, another with a port
	 * that is not a number: both leave the live set, inst-2 serves. */
	assert_int_equal(test_redis_do(f->sync, "HSET %s inst-1 {\"ip\":\"%0100d\","
	    "\"port\":1,\"isMasterServer\":true,\"state\":\"running\"}",
	    keys_instance_details(), 0), 0);
	add_instance(f, "master", 9003, "inst-3");
	assert_int_equal(test_redis_do(f->sync, "HSET %s inst-3 "
	    "{\"ip\":\"1.2.3.4\",\"port\":\"x\"}", keys_instance_details()), 0);
	assert_int_equal(place_master(f, "A", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-2");
	assert_int_equal(place_master(f, "B", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-2");
	assert_int_equal(test_redis_int(f->sync, "ZCARD %s", keys_live_master()),
	    1);
	check_invariants(f, 5);
}

static void
test_unhealthy_moves(void **state)
{
	struct pfx *f = *state;
	struct placement w;

	add_instance(f, "master", 9001, "inst-1");
	add_instance(f, "master", 9002, "inst-2");
	add_instance(f, "client", 9003, "inst-3");
	add_instance(f, "client", 9004, "inst-4");
	assert_int_equal(place_master(f, "A", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-1");
	assert_int_equal(place_client(f, "K", "A", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-3");

	set_state(f, "inst-1", "unhealthy");
	set_state(f, "inst-3", "unhealthy");
	assert_int_equal(place_master(f, "A", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-2");
	assert_int_equal(w.existing, 0);
	assert_int_equal(place_client(f, "K", "A", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-4");
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-1"), 0);
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-2"), 1);
	assert_int_equal(spread(f, "A", "inst-3"), -1);
	assert_int_equal(spread(f, "A", "inst-4"), 1);
	/* A move is not a new account. */
	assert_int_equal(hget_int(f, keys_global_state(), "masterCount"), 1);
	assert_int_equal(hget_int(f, keys_global_state(), "clientCount"), 1);
	check_invariants(f, 5);

	/* Recovered: the accounts stay where they went. */
	set_state(f, "inst-1", "running");
	assert_int_equal(place_master(f, "A", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-2");
	assert_int_equal(w.existing, 1);

	/* No capacity elsewhere: the account keeps its old placement. */
	set_state(f, "inst-4", "unhealthy");
	assert_int_equal(place_client(f, "K", "A", 5, &w), PLACEMENT_NO_CAPACITY);
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-4"), 1);
	check_invariants(f, 5);
}

static void
test_removed_instance(void **state)
{
	struct pfx *f = *state;
	struct placement w;
	struct answer a;

	add_instance(f, "master", 9001, "inst-1");
	add_instance(f, "client", 9002, "inst-2");
	assert_int_equal(place_master(f, "A", 5, &w), PLACEMENT_OK);
	assert_int_equal(place_master(f, "B", 5, &w), PLACEMENT_OK);
	assert_int_equal(place_client(f, "K", "A", 5, &w), PLACEMENT_OK);
	assert_int_equal(registry_remove(f->sync, "inst-1"), 0);
	/* Its count stays while accounts are mapped there. */
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-1"), 2);
	check_invariants(f, 5);
	add_instance(f, "master", 9003, "inst-3");
	assert_int_equal(place_master(f, "A", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-3");
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-1"), 1);
	/* locate finds a placement in any state, and releases one whose
	 * instance is gone. */
	memset(&a, 0, sizeof(a));
	assert_int_equal(placement_locate(f->rc[0], PLACEMENT_MASTER, "B",
	    on_answer, &a), 0);
	assert_int_equal(test_wait_for(f->env.loop, answered, &a, 3000), 0);
	assert_int_equal(a.status, PLACEMENT_NOT_PLACED);
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-1"), -1);
	assert_int_equal(hget_int(f, keys_global_state(), "masterCount"), 1);
	set_state(f, "inst-2", "draining");
	memset(&a, 0, sizeof(a));
	assert_int_equal(placement_locate(f->rc[0], PLACEMENT_CLIENT, "K",
	    on_answer, &a), 0);
	assert_int_equal(test_wait_for(f->env.loop, answered, &a, 3000), 0);
	assert_int_equal(a.status, PLACEMENT_OK);
	assert_string_equal(a.where.id, "inst-2");
	assert_int_equal(a.where.port, 9002);
	assert_int_equal(a.where.live, 0);	/* draining: never cached */
	check_invariants(f, 5);
}

/* A release names the instance whose listener was removed: a placement made
 * meanwhile on another instance stays, with its count and tracking. */
static void
test_release_compare_and_delete(void **state)
{
	struct pfx *f = *state;
	struct placement w;

	add_clients(f, 2);
	assert_int_equal(place_client(f, "K", "M", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-1");
	set_state(f, "inst-1", "draining");
	assert_int_equal(place_client(f, "K", "M", 5, &w), PLACEMENT_OK);
	assert_string_equal(w.id, "inst-2");	/* moved off the draining one */
	/* inst-1's remove answers late: nothing of inst-2's placement goes. */
	assert_int_equal(release_on(f, PLACEMENT_CLIENT, "K", "M", "inst-1"), 0);
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-2"), 1);
	assert_int_equal(spread(f, "M", "inst-2"), 1);
	check_invariants(f, 5);
	assert_int_equal(release_on(f, PLACEMENT_CLIENT, "K", "M", "inst-2"), 1);
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-2"), 0);
	check_invariants(f, 5);
}

/* Placement and locate answers carry the routing sequence; every change
 * that can make a cached placement stale raises it by one and publishes
 * that number. */
static void
test_routing_sequence(void **state)
{
	struct pfx *f = *state;
	struct placement w;
	struct answer a;

	add_instance(f, "master", 9001, "inst-1");	/* instance_put: 1 */
	assert_int_equal(place_master(f, "A", 5, &w), PLACEMENT_OK);
	assert_int_equal(w.seq, 1);
	assert_int_equal(w.live, 1);
	set_state(f, "inst-1", "unhealthy");		/* 2 */
	set_state(f, "inst-1", "running");		/* 3 */
	assert_int_equal(place_master(f, "B", 5, &w), PLACEMENT_OK);
	assert_int_equal(w.seq, 3);
	assert_int_equal(release(f, PLACEMENT_MASTER, "B", NULL), 1);	/* 4 */
	assert_int_equal(release(f, PLACEMENT_MASTER, "B", NULL), 0);	/* none */
	memset(&a, 0, sizeof(a));
	assert_int_equal(placement_locate(f->rc[0], PLACEMENT_MASTER, "A",
	    on_answer, &a), 0);
	assert_int_equal(test_wait_for(f->env.loop, answered, &a, 3000), 0);
	assert_int_equal(a.status, PLACEMENT_OK);
	assert_int_equal(a.where.seq, 4);
	assert_int_equal(a.where.live, 1);
	assert_int_equal(test_redis_int(f->sync, "GET %s", keys_routing_seq()), 4);
}

/* Sweep calls over a whole mapping (EVAL, as the scaler sends them; keeping
 * terminated instances' accounts, as while the fleet is down, or not): the
 * accounts released. */
static long long
sweep_keeping(struct pfx *f, const char *role, int keep_terminated)
{
	struct scripts_call c;
	char cursor[32] = "0";
	long long released = 0;
	redisReply *r;

	do {
		assert_int_equal(scripts_call_sweep(&c, role, cursor, 2,
		    keep_terminated), 0);
		scripts_call_by_source(&c);
		r = redisCommandArgv(f->sync, c.argc, c.argv, c.argvlen);
		assert_non_null(r);
		assert_int_equal(r->type, REDIS_REPLY_ARRAY);
		assert_int_equal(r->elements, 2);
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		released += r->element[1]->integer;
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return released;
}

static long long
sweep(struct pfx *f, const char *role)
{
	return sweep_keeping(f, role, 0);
}

/* The sweep frees the places of accounts whose instance is gone or
 * terminated, and only those: their keys do not outlive them. */
static void
test_sweep(void **state)
{
	struct pfx *f = *state;
	char actid[16];

	add_instance(f, "master", 9001, "inst-1");
	add_instance(f, "client", 9002, "inst-2");
	add_instance(f, "client", 9003, "inst-3");
	assert_int_equal(place_master(f, "A", 5, NULL), PLACEMENT_OK);
	for (int i = 0; i < 10; i++) {
		snprintf(actid, sizeof(actid), "c%d", i);
		assert_int_equal(place_client(f, actid, "A", 5, NULL), PLACEMENT_OK);
	}
	assert_int_equal(sweep(f, "client"), 0);	/* nothing gone */
	set_state(f, "inst-2", "terminated");
	assert_int_equal(registry_remove(f->sync, "inst-1"), 0);
	/* while the fleet is down, terminated instances' accounts wait for
	 * daily_reset's archive; a removed instance's go */
	assert_int_equal(sweep_keeping(f, "client", 1), 0);
	assert_int_equal(sweep_keeping(f, "master", 1), 1);
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-2"), 5);
	assert_int_equal(sweep(f, "client"), 5);
	assert_int_equal(sweep(f, "master"), 0);
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-1"), -1);
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-2"), 0);
	assert_int_equal(hget_int(f, keys_instance_user_counts(), "inst-3"), 5);
	assert_int_equal(spread(f, "A", "inst-2"), -1);
	assert_int_equal(hget_int(f, keys_global_state(), "clientCount"), 5);
	assert_int_equal(hget_int(f, keys_global_state(), "masterCount"), 0);
	check_invariants(f, 5);
	flush_tracking(f);
	check_invariants(f, 5);
}

static int
script_cached(struct pfx *f, enum scripts_id id)
{
	return test_redis_int(f->sync, "SCRIPT EXISTS %s", scripts_sha(id)) == 1;
}

static void
flush_scripts(struct pfx *f)
{
	assert_int_equal(test_redis_do(f->sync, "SCRIPT FLUSH"), 0);
}

static int
all_cached(void *arg)
{
	struct pfx *f = arg;

	for (int i = 0; i < SCRIPTS_COUNT; i++)
		if (!script_cached(f, (enum scripts_id)i))
			return 0;
	return 1;
}

static void
test_noscript_fallback(void **state)
{
	struct pfx *f = *state;
	struct placement w;

	add_instance(f, "master", 9001, "inst-1");
	flush_scripts(f);
	assert_int_equal(script_cached(f, SCRIPTS_PLACE_MASTER), 0);
	assert_int_equal(place_master(f, "A", 5, &w), PLACEMENT_OK);
	assert_int_equal(w.existing, 0);
	/* EVAL cached it: the next call is a plain EVALSHA. */
	assert_int_equal(script_cached(f, SCRIPTS_PLACE_MASTER), 1);
	flush_scripts(f);
	assert_int_equal(place_master(f, "A", 5, &w), PLACEMENT_OK);
	assert_int_equal(w.existing, 1);
	flush_scripts(f);
	assert_int_equal(release(f, PLACEMENT_MASTER, "A", NULL), 1);
	/* placement_load loads them all. */
	flush_scripts(f);
	assert_int_equal(placement_load(f->rc[1]), 0);
	assert_int_equal(test_wait_for(f->env.loop, all_cached, f, 3000), 0);
	check_invariants(f, 5);
}

static int
is_down(void *arg)
{
	return !*(int *)arg;
}

static void
test_connection_lost(void **state)
{
	struct pfx *f = *state;
	struct answer a;

	add_instance(f, "master", 9001, "inst-1");
	/* A call in flight when the server dies: one error answer. */
	memset(&a, 0, sizeof(a));
	kill(f->env.srv.pid, SIGSTOP);
	assert_int_equal(placement_place_master(f->rc[0], "A", 5, on_answer,
	    &a), 0);
	test_redis_stop(&f->env.srv);
	assert_int_equal(test_wait_for(f->env.loop, answered, &a, 3000), 0);
	assert_int_equal(a.status, PLACEMENT_UNAVAILABLE);
	assert_false(a.where.found);
	/* Down: refused at once, no callback. */
	assert_int_equal(test_wait_for(f->env.loop, is_down, &f->up[0], 3000), 0);
	memset(&a, 0, sizeof(a));
	assert_int_equal(placement_place_master(f->rc[0], "A", 5, on_answer,
	    &a), -1);
	assert_int_equal(placement_place_client(f->rc[0], "A", "", 5, on_answer,
	    &a), -1);
	assert_false(a.done);
}

/* Many calls in flight on several connections, all at once. */
struct burst {
	struct answer	 a[400];
	int		 n;
};

static int
burst_done(void *arg)
{
	struct burst *b = arg;

	for (int i = 0; i < b->n; i++)
		if (!b->a[i].done)
			return 0;
	return 1;
}

static void
test_concurrent_invariants(void **state)
{
	struct pfx *f = *state;
	struct burst *b = calloc(1, sizeof(*b));
	char actid[32], master[32], id[32];
	int placed = 0;

	assert_non_null(b);
	for (int i = 1; i <= 5; i++) {
		snprintf(id, sizeof(id), "inst-%d", i);
		add_instance(f, "master", (uint16_t)(9000 + i), id);
	}
	for (int i = 6; i <= 9; i++) {
		snprintf(id, sizeof(id), "inst-%d", i);
		add_instance(f, "client", (uint16_t)(9000 + i), id);
	}
	/* 200 master calls for 120 accounts (capacity 50), 200 client calls
	 * for 100 accounts of 3 masters (capacity 32). */
	for (int i = 0; i < 400; i++) {
		struct rconn *rc = f->rc[i % NCONNS];

		if (i % 2 == 0) {
			snprintf(actid, sizeof(actid), "m%d", (i / 2) % 120);
			assert_int_equal(placement_place_master(rc, actid, 10,
			    on_answer, &b->a[i]), 0);
		} else {
			snprintf(actid, sizeof(actid), "c%d", (i / 2) % 100);
			snprintf(master, sizeof(master), "M%d", (i / 2) % 3);
			assert_int_equal(placement_place_client(rc, actid, master, 8,
			    on_answer, &b->a[i]), 0);
		}
	}
	b->n = 400;
	assert_int_equal(test_wait_for(f->env.loop, burst_done, b, 10000), 0);
	for (int i = 0; i < 400; i++) {
		assert_int_not_equal(b->a[i].status, PLACEMENT_ERROR);
		placed += b->a[i].status == PLACEMENT_OK && !b->a[i].where.existing;
	}
	assert_int_equal(placed, 50 + 32);
	assert_int_equal(hlen(f, keys_master_mapping()), 50);
	assert_int_equal(hlen(f, keys_client_mapping()), 32);
	check_invariants(f, 10);

	/* Releases racing with placements and an instance going away. */
	memset(b, 0, sizeof(*b));
	for (int i = 0; i < 300; i++) {
		struct rconn *rc = f->rc[i % NCONNS];

		snprintf(actid, sizeof(actid), "%c%d", i % 2 ? 'c' : 'm',
		    (i / 2) % 60);
		if (i % 3 == 0)
			assert_int_equal(placement_release(rc, i % 2 ?
			    PLACEMENT_CLIENT : PLACEMENT_MASTER, actid, NULL,
			    NULL, on_answer, &b->a[i]), 0);
		else if (i % 2 == 0)
			assert_int_equal(placement_place_master(rc, actid, 10,
			    on_answer, &b->a[i]), 0);
		else
			assert_int_equal(placement_place_client(rc, actid, "M0", 8,
			    on_answer, &b->a[i]), 0);
		if (i == 150)
			set_state(f, "inst-6", "unhealthy");
	}
	b->n = 300;
	assert_int_equal(test_wait_for(f->env.loop, burst_done, b, 10000), 0);
	for (int i = 0; i < 300; i++)
		assert_int_not_equal(b->a[i].status, PLACEMENT_ERROR);
	check_invariants(f, 10);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_master_idempotent,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_master_least_loaded_then_cap,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_master_none_available,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_client_spread,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_client_tie_breaks,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_client_cap,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_release,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_client_changes_master,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_tracking_order_and_flush,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_tracking_queue_heals,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_tracking_earlier_layout,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_spread_decode, pfx_setup,
		    pfx_teardown),
		cmocka_unit_test_setup_teardown(test_mapping_earlier_layout,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test(test_batch_answer_shapes),
		cmocka_unit_test_setup_teardown(test_spread_text_layout,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_spread_hash_table,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_check_spread, pfx_setup,
		    pfx_teardown),
		cmocka_unit_test_setup_teardown(test_spread_earlier_layout,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_tracking_budget,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_broken_record_skipped,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_unhealthy_moves,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_removed_instance,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_release_compare_and_delete,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_routing_sequence,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_sweep,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_noscript_fallback,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_connection_lost,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_invariants,
		    pfx_setup, pfx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_fills_while_one_is_answered,
		    pfx_setup, pfx_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	log_open("stderr", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
