/*
 * A batch of placements decides exactly what the same accounts decide one
 * call each (common/lua/place_client.lua, place_master.lua).  A seeded
 * random run of steps is played on two databases of one real redis-server:
 * batches on database 0, the same accounts one per call on database 1, and
 * the same releases, state changes and tracking flushes on both.  Batches
 * repeat accounts, move clients between masters, meet instances that left
 * or came back and fill instances to their cap.  Every answer must agree,
 * and after every step so must every key the scripts keep (a zset by the
 * order of its members: a batch may leave gaps in the order numbers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "common/keys.h"
#include "common/registry.h"
#include "common/sbuf.h"
#include "common/scripts.h"
#include "tests/unit/support.h"

#define NINST_MAX	16

/* A run's fleet and accounts. */
struct shape {
	unsigned	 steps;
	unsigned	 clients;	/* client accounts c0.. */
	unsigned	 masters;	/* of masters m0.. */
	unsigned	 master_accts;	/* master accounts M0.. */
	unsigned	 client_insts, client_max;
	unsigned	 master_insts, master_max;
};

/* Few instances, filled past their caps; and more instances than a
 * master has clients, where a pick walks past the instances that hold
 * some. */
static const struct shape narrow = { 400, 40, 5, 15, 3, 12, 2, 6 };
static const struct shape wide = { 300, 150, 40, 15, 13, 12, 2, 6 };

struct two {
	struct test_sync	 s;
	redisContext		*one;	/* database 1: one account per call */
	unsigned		 rng;
	const struct shape	*sh;
	char			 ids[NINST_MAX][REGISTRY_ID_MAX];
	int			 placed, existing, none;	/* answers seen */
	int			 checked;	/* placed answers the rule checked */
};

static int
two_setup(void **state)
{
	struct two *t = calloc(1, sizeof(*t));

	*state = t;
	if (t == NULL || test_sync_init(&t->s) == -1)
		return -1;
	t->one = redisConnect("127.0.0.1", t->s.env.srv.port);
	if (t->one == NULL || t->one->err)
		return -1;
	return test_redis_do(t->one, "SELECT 1");
}

static int
two_teardown(void **state)
{
	struct two *t = *state;

	if (t->one != NULL)
		redisFree(t->one);
	test_sync_fini(&t->s);
	free(t);
	return 0;
}

static unsigned
rnd(struct two *t, unsigned n)
{
	return (unsigned)rand_r(&t->rng) % n;
}

/* Keys compared: everything but what holds times or order numbers. */
static int
compared(const char *key)
{
	return strstr(key, "instance_details") == NULL &&
	    strstr(key, "tracking_seq") == NULL &&
	    strstr(key, "tracking_built") == NULL &&
	    strstr(key, "events") == NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* v as compared: a JSON object (a spread: prelude.lua) with its members
 * sorted, as the order cjson writes them in is the table's; any other
 * text as it is.  Allocated. */
static char *
canonical(const char *v)
{
	struct json_object *o = v[0] == '{' ? json_tokener_parse(v) : NULL;
	const char *names[512];
	struct sbuf b;
	size_t n = 0, len;

	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return strdup(v);
	}
	json_object_object_foreach(o, name, value) {
		(void)value;
		assert_true(n < sizeof(names) / sizeof(names[0]));
		names[n++] = name;
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	assert_int_equal(sbuf_init(&b, 64), 0);
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&b, "%s%s:%s", i ? "," : "{", names[i],
		    json_object_to_json_string(json_object_object_get(o,
		    names[i])));
	sbuf_printf(&b, "}");
	json_object_put(o);
	return sbuf_finish(&b, &len);
}

/* The elements of an array reply as text, sorted unless keep_order; hashes
 * as "field=value" pairs (canonical values). */
static void
dump_elements(struct sbuf *b, const redisReply *r, int pairs, int keep_order)
{
	size_t n = pairs ? r->elements / 2 : r->elements;
	char **v = calloc(n + 1, sizeof(*v));

	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		if (pairs) {
			char *value = canonical(r->element[2 * i + 1]->str);

			assert_non_null(value);
			assert_true(asprintf(&v[i], "%s=%s", r->element[2 * i]->str,
			    value) > 0);
			free(value);
		} else
			assert_non_null(v[i] = strdup(r->element[i]->str));
	}
	if (!keep_order)
		qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++) {
		sbuf_printf(b, " %s", v[i]);
		free(v[i]);
	}
	free(v);
}

/* How to read a key of each type, and how its elements compare. */
static const struct {
	const char	*type;
	const char	*command;
	int		 pairs;		/* field=value */
	int		 keep_order;
} readers[] = {
	{ "hash", "HGETALL %s", 1, 0 },
	{ "set", "SMEMBERS %s", 0, 0 },
	{ "zset", "ZRANGE %s 0 -1", 0, 1 },
	{ "list", "LRANGE %s 0 -1", 0, 1 },
	{ "string", "GET %s", 0, 0 },
};

/* Every compared key of ctx's database, one line each, by name. */
static char *
dump(redisContext *ctx)
{
	redisReply *keys = redisCommand(ctx, "KEYS *"), *r;
	struct sbuf b;
	char **names;
	size_t len, j;

	assert_non_null(keys);
	assert_int_equal(keys->type, REDIS_REPLY_ARRAY);
	assert_non_null(names = calloc(keys->elements + 1, sizeof(*names)));
	for (size_t i = 0; i < keys->elements; i++)
		names[i] = keys->element[i]->str;
	qsort(names, keys->elements, sizeof(*names), cmp_str);
	assert_int_equal(sbuf_init(&b, 4096), 0);
	for (size_t i = 0; i < keys->elements; i++) {
		if (!compared(names[i]))
			continue;
		r = redisCommand(ctx, "TYPE %s", names[i]);
		assert_non_null(r);
		sbuf_printf(&b, "%s (%s):", names[i], r->str);
		for (j = 0; j < sizeof(readers) / sizeof(readers[0]) &&
		    strcmp(readers[j].type, r->str) != 0; j++)
			;
		freeReplyObject(r);
		assert_true(j < sizeof(readers) / sizeof(readers[0]));
		assert_non_null(r = redisCommand(ctx, readers[j].command, names[i]));
		if (r->type == REDIS_REPLY_ARRAY)
			dump_elements(&b, r, readers[j].pairs, readers[j].keep_order);
		else
			sbuf_printf(&b, " %s", r->str);
		freeReplyObject(r);
		sbuf_printf(&b, "\n");
	}
	free(names);
	freeReplyObject(keys);
	return sbuf_finish(&b, &len);
}

static void
same_keys(struct two *t, int step)
{
	char *a = dump(t->s.ctx), *b = dump(t->one);

	assert_non_null(a);
	assert_non_null(b);
	if (strcmp(a, b) != 0)
		fail_msg("step %d: the keys differ\nbatched:\n%s\none by one:\n%s",
		    step, a, b);
	free(a);
	free(b);
}

/* Account i's answer in r, a batch answer of n accounts (a code each, then
 * the instances they name: place_helpers.lua, answer_new), as text: "id
 * how" or "none". */
static void
answer_text(const redisReply *r, size_t n, size_t i, char *out, size_t size)
{
	const redisReply *code = r->element[1 + i];
	long long j;

	assert_int_equal(code->type, REDIS_REPLY_INTEGER);
	if (code->integer == 0) {
		snprintf(out, size, "none");
		return;
	}
	j = code->integer < 0 ? -code->integer : code->integer;
	assert_true((size_t)j <= (r->elements - 1 - n) / 3);
	snprintf(out, size, "%s %s", r->element[1 + n + 3 * (j - 1)]->str,
	    code->integer < 0 ? "existing" : "placed");
}

/* master's clients on id by the spread value v (prelude.lua: a JSON
 * object, instance id -> n), 0 when v does not list id. */
static long long
spread_on(const char *v, const char *id)
{
	struct json_object *o = json_tokener_parse(v), *n;
	long long got = 0;

	assert_non_null(o);
	if (json_object_object_get_ex(o, id, &n)) {
		assert_true(json_object_is_type(n, json_type_int));
		got = json_object_get_int64(n);
	}
	json_object_put(o);
	return got;
}

/* SPEC 4's pick, computed from ctx's keys: among the live instances of
 * the role below max, the fewest clients of master (NULL: a master
 * account), then the fewest accounts, then the first launched.  Into out
 * ("" when none). */
static void
rule_pick(redisContext *ctx, const char *master, unsigned max, char *out,
    size_t size)
{
	redisReply *live = redisCommand(ctx, "ZRANGE %s 0 -1", master ?
	    keys_live_client() : keys_live_master()), *sp = NULL;
	long long best_same = 0, best_total = 0, same, total;

	assert_non_null(live);
	if (master != NULL)
		assert_non_null(sp = redisCommand(ctx, "HGET %s %s",
		    keys_client_spread(), master));
	out[0] = '\0';
	for (size_t i = 0; i < live->elements; i++) {
		const char *id = live->element[i]->str;

		total = test_redis_int(ctx, "HGET %s %s",
		    keys_instance_user_counts(), id);
		total = total < 0 ? 0 : total;
		if (total >= (long long)max)
			continue;
		same = sp != NULL && sp->type == REDIS_REPLY_STRING ?
		    spread_on(sp->str, id) : 0;
		if (out[0] == '\0' || same < best_same ||
		    (same == best_same && total < best_total)) {
			snprintf(out, size, "%s", id);
			best_same = same;
			best_total = total;
		}
	}
	if (sp != NULL)
		freeReplyObject(sp);
	freeReplyObject(live);
}

/* Place n accounts (clients when masters is not NULL) batched on database 0
 * and one by one on database 1; the answers must agree. */
static void
place_both(struct two *t, int step, const char *const *actids,
    const char *const *masters, size_t n)
{
	struct scripts_call c;
	redisReply *batch, *one;
	char a[128], b[128], want[REGISTRY_ID_MAX];

	if (masters != NULL)
		assert_int_equal(scripts_call_place_clients(&c, t->sh->client_max,
		    actids, masters, n), 0);
	else
		assert_int_equal(scripts_call_place_masters(&c, t->sh->master_max,
		    actids, n), 0);
	assert_non_null(batch = test_script(t->s.ctx, &c));
	assert_int_equal(batch->type, REDIS_REPLY_ARRAY);
	assert_true(batch->elements >= 1 + n);
	assert_int_equal((batch->elements - 1 - n) % 3, 0);
	for (size_t i = 0; i < n; i++) {
		rule_pick(t->one, masters ? masters[i] : NULL, masters ?
		    t->sh->client_max : t->sh->master_max, want, sizeof(want));
		if (masters != NULL)
			assert_int_equal(scripts_call_place_client(&c, actids[i],
			    masters[i], t->sh->client_max), 0);
		else
			assert_int_equal(scripts_call_place_master(&c, actids[i],
			    t->sh->master_max), 0);
		assert_non_null(one = test_script(t->one, &c));
		assert_int_equal(one->type, REDIS_REPLY_ARRAY);
		answer_text(batch, n, i, a, sizeof(a));
		answer_text(one, 1, 0, b, sizeof(b));
		if (strcmp(a, b) != 0)
			fail_msg("step %d: %s (of %zu) batched: %s, alone: %s",
			    step, actids[i], n, a, b);
		if (strstr(b, " placed") != NULL) {
			if (strncmp(b, want, strlen(want)) != 0 ||
			    b[strlen(want)] != ' ')
				fail_msg("step %d: %s placed on %s, the rule "
				    "picks %s", step, actids[i], b, want);
			t->checked++;
		}
		t->none += strcmp(a, "none") == 0;
		t->placed += strstr(a, " placed") != NULL;
		t->existing += strstr(a, " existing") != NULL;
		freeReplyObject(one);
	}
	freeReplyObject(batch);
}

/* The same script call on both databases; their answers must agree. */
static void
call_both(struct two *t, int step, struct scripts_call *c)
{
	redisReply *a = test_script(t->s.ctx, c), *b = test_script(t->one, c);

	assert_non_null(a);
	assert_non_null(b);
	if (a->type != b->type || a->integer != b->integer)
		fail_msg("step %d: %s answered differently", step,
		    scripts_name(c->id));
	freeReplyObject(a);
	freeReplyObject(b);
}

static void
batch_of_clients(struct two *t, int step)
{
	char ids[SCRIPTS_BATCH_MAX][16], ms[SCRIPTS_BATCH_MAX][16];
	const char *actids[SCRIPTS_BATCH_MAX], *masters[SCRIPTS_BATCH_MAX];
	size_t n = 1 + rnd(t, 12);

	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "c%u", rnd(t, t->sh->clients));
		snprintf(ms[i], sizeof(ms[i]), "m%u", rnd(t, t->sh->masters));
		actids[i] = ids[i];
		masters[i] = ms[i];
	}
	place_both(t, step, actids, masters, n);
}

static void
batch_of_masters(struct two *t, int step)
{
	char ids[SCRIPTS_BATCH_MAX][16];
	const char *actids[SCRIPTS_BATCH_MAX];
	size_t n = 1 + rnd(t, 8);

	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "M%u", rnd(t, t->sh->master_accts));
		actids[i] = ids[i];
	}
	place_both(t, step, actids, NULL, n);
}

static void
release_one(struct two *t, int step)
{
	struct scripts_call c;
	char actid[16], master[16] = "";
	int client = rnd(t, 3) != 0;

	snprintf(actid, sizeof(actid), client ? "c%u" : "M%u",
	    rnd(t, client ? t->sh->clients : t->sh->master_accts));
	if (client && rnd(t, 2))
		snprintf(master, sizeof(master), "m%u", rnd(t, t->sh->masters));
	assert_int_equal(scripts_call_release(&c, client ? "client" : "master",
	    actid, master, NULL), 0);
	call_both(t, step, &c);
}

/* An instance leaves (unhealthy, draining) or comes back (running). */
static void
change_state(struct two *t, int step)
{
	static const char *const states[] = { "running", "running",
	    "unhealthy", "draining" };
	const char *id = t->ids[rnd(t, t->sh->client_insts + t->sh->master_insts)];
	const char *state = states[rnd(t, 4)];

	(void)step;
	assert_int_equal(registry_set_state(t->s.ctx, id, state, NULL), 0);
	assert_int_equal(registry_set_state(t->one, id, state, NULL), 0);
}

static void
flush_both(struct two *t, int step)
{
	struct scripts_call c;

	assert_int_equal(scripts_call_tracking_flush(&c, t->sh->masters, 0), 0);
	call_both(t, step, &c);
}

static void
run(struct two *t, const struct shape *sh)
{
	unsigned ninst = sh->client_insts + sh->master_insts;
	char other[REGISTRY_ID_MAX];

	assert_true(ninst <= NINST_MAX);
	t->sh = sh;
	t->rng = 20261207;
	for (unsigned i = 0; i < ninst; i++) {
		const char *role = i < sh->client_insts ? "client" : "master";

		t->ids[i][0] = other[0] = '\0';
		assert_int_equal(registry_add(t->s.ctx, role, "127.0.0.1",
		    (uint16_t)(9000 + i), NULL, "running", "test", t->ids[i],
		    sizeof(t->ids[i])), 0);
		assert_int_equal(registry_add(t->one, role, "127.0.0.1",
		    (uint16_t)(9000 + i), NULL, "running", "test", other,
		    sizeof(other)), 0);
		assert_string_equal(t->ids[i], other);
	}
	for (unsigned step = 0; step < sh->steps; step++) {
		unsigned what = rnd(t, 20);

		if (what < 10)
			batch_of_clients(t, (int)step);
		else if (what < 13)
			batch_of_masters(t, (int)step);
		else if (what < 16)
			release_one(t, (int)step);
		else if (what < 19)
			change_state(t, (int)step);
		else
			flush_both(t, (int)step);
		same_keys(t, (int)step);
	}
	/* the run met every kind of answer, and the rule checked them */
	assert_true(t->placed > 50 && t->existing > 50 && t->none > 10);
	assert_int_equal(t->checked, t->placed);
}

static void
test_batch_decides_as_one_by_one(void **state)
{
	run(*state, &narrow);
}

static void
test_batch_decides_as_one_by_one_wide(void **state)
{
	run(*state, &wide);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batch_decides_as_one_by_one,
		    two_setup, two_teardown),
		cmocka_unit_test_setup_teardown(
		    test_batch_decides_as_one_by_one_wide, two_setup, two_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
