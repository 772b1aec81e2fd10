/*
 * Tests of the scaler's Lua scripts (common/scripts.c) on a blocking hiredis
 * context against a real redis-server started for each test: the lease
 * (take, renew, held, a dead holder's token replaced, drop, the fence
 * counter, bad arguments), the fleet writes (launch reservations and their
 * names, forget, desire) and the fencing of those and of the instance
 * scripts (put, state, move, remove) by the lease token: a stale token is
 * refused with "FENCED" and changes nothing.  Also the from-state of
 * instance_move and the stateSince stamp.
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
#include "common/keys.h"
#include "common/log.h"
#include "common/scripts.h"
#include "tests/unit/support.h"

#define TTL_MS		10000
#define AFTER_2023	1700000000000LL		/* a Redis TIME in ms is past it */
#define HOLDER_A	"hostA:100"
#define HOLDER_B	"hostB:200"
#define TOKEN_MAX	128


/* Run one script call on the blocking context, loading it if needed; the
 * reply (maybe an error) is the caller's. */
static redisReply *
run(struct test_sync *f, struct scripts_call *c)
{
	redisReply *r = test_script(f->ctx, c);

	assert_non_null(r);
	return r;
}

static redisReply *
run_ok(struct test_sync *f, struct scripts_call *c)
{
	redisReply *r = run(f, c);

	if (r->type == REDIS_REPLY_ERROR)
		fail_msg("%s: %s", scripts_name(c->id), r->str);
	return r;
}

/* Run c, which must be refused with an error containing want. */
static void
run_refused(struct test_sync *f, struct scripts_call *c, const char *want)
{
	redisReply *r = run(f, c);

	assert_int_equal(r->type, REDIS_REPLY_ERROR);
	if (strstr(r->str, want) == NULL)
		fail_msg("%s: error \"%s\", want \"%s\"", scripts_name(c->id),
		    r->str, want);
	freeReplyObject(r);
}

/* Run c, whose answer must be the string want. */
static void
run_string(struct test_sync *f, struct scripts_call *c, const char *want)
{
	redisReply *r = run_ok(f, c);

	assert_int_equal(r->type, REDIS_REPLY_STRING);
	assert_string_equal(r->str, want);
	freeReplyObject(r);
}

/* Run c, whose answer must be the integer want. */
static void
run_integer(struct test_sync *f, struct scripts_call *c, long long want)
{
	redisReply *r = run_ok(f, c);

	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	assert_int_equal(r->integer, want);
	freeReplyObject(r);
}

/* A string value (GET, HGET) into buf: 1, or 0 if nil. */
static int
redis_string(struct test_sync *f, char *buf, size_t size, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;
	int found;

	va_start(ap, fmt);
	r = redisvCommand(f->ctx, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	assert_true(r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL);
	found = r->type == REDIS_REPLY_STRING;
	buf[0] = '\0';
	if (found) {
		assert_true(r->len < size);
		memcpy(buf, r->str, r->len + 1);
	}
	freeReplyObject(r);
	return found;
}

/* The current lease token ("" if there is none). */
static const char *
lease_now(struct test_sync *f, char *buf)
{
	redis_string(f, buf, TOKEN_MAX, "GET %s", keys_lease_scaler());
	return buf;
}

static long long
fence_now(struct test_sync *f)
{
	return test_redis_int(f->ctx, "GET %s", keys_lease_scaler_fence());
}

/* One lease call by holder; its answer must be {want_token, want_what,
 * want_cur}.  The token answered is copied to token (if not NULL). */
static void
lease(struct test_sync *f, const char *holder, const char *op, const char *mine,
    const char *want_token, const char *want_what, const char *want_cur,
    char *token)
{
	struct scripts_call c;
	redisReply *r;

	assert_int_equal(scripts_call_lease(&c, keys_lease_scaler(),
	    keys_lease_scaler_fence(), holder, TTL_MS, op, mine), 0);
	r = run_ok(f, &c);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r->element[i]->type, REDIS_REPLY_STRING);
	assert_string_equal(r->element[0]->str, want_token);
	assert_string_equal(r->element[1]->str, want_what);
	assert_string_equal(r->element[2]->str, want_cur);
	if (token != NULL) {
		assert_true(r->element[0]->len < TOKEN_MAX);
		memcpy(token, r->element[0]->str, r->element[0]->len + 1);
	}
	freeReplyObject(r);
}

/* Take the free lease as holder: token "<holder>#<fence>". */
static void
lease_acquire(struct test_sync *f, const char *holder, const char *mine,
    long long fence, char *token)
{
	char want[TOKEN_MAX];

	snprintf(want, sizeof(want), "%s#%lld", holder, fence);
	lease(f, holder, "take", mine, want, "acquired", want, token);
}

static void
test_lease_take_renew_held(void **state)
{
	struct test_sync *f = *state;
	char tok[TOKEN_MAX], buf[TOKEN_MAX];
	long long pttl;

	assert_int_equal(fence_now(f), -1);
	lease_acquire(f, HOLDER_A, "", 1, tok);
	assert_string_equal(tok, HOLDER_A "#1");
	assert_string_equal(lease_now(f, buf), tok);
	assert_int_equal(fence_now(f), 1);
	pttl = test_redis_int(f->ctx, "PTTL %s", keys_lease_scaler());
	assert_true(pttl > TTL_MS - 2000 && pttl <= TTL_MS);

	/* Renewed by its holder with its token: the TTL is set again. */
	assert_int_equal(test_redis_do(f->ctx, "PEXPIRE %s 1000",
	    keys_lease_scaler()), 0);
	assert_true(test_redis_int(f->ctx, "PTTL %s", keys_lease_scaler()) <=
	    1000);
	lease(f, HOLDER_A, "take", tok, tok, "renewed", tok, NULL);
	pttl = test_redis_int(f->ctx, "PTTL %s", keys_lease_scaler());
	assert_true(pttl > TTL_MS - 2000 && pttl <= TTL_MS);
	assert_int_equal(fence_now(f), 1);

	/* Held: by another holder, with no token or a token of its own; by
	 * the holder itself without its token. */
	lease(f, HOLDER_B, "take", "", "", "held", tok, NULL);
	lease(f, HOLDER_B, "take", HOLDER_B "#7", "", "held", tok, NULL);
	lease(f, HOLDER_A, "take", "", "", "held", tok, NULL);
	lease(f, HOLDER_A, "take", HOLDER_A "#0", "", "held", tok, NULL);
	assert_string_equal(lease_now(f, buf), tok);
	assert_int_equal(fence_now(f), 1);

	/* A holder whose name is a prefix of the holder's ("hostA:10" of
	 * "hostA:100") does not renew it: the '#' ends the name, so the token
	 * is taken for a dead holder's and replaced. */
	lease(f, "hostA:10", "take", tok, "hostA:10#2", "acquired", "hostA:10#2",
	    NULL);
}

/* A holder presenting the token of a dead holder (the same token, another
 * holder) takes the lease over with a new token; the old one is dead for
 * good, even for its own holder. */
static void
test_lease_dead_holder(void **state)
{
	struct test_sync *f = *state;
	char a[TOKEN_MAX], b[TOKEN_MAX], c[TOKEN_MAX], buf[TOKEN_MAX];

	lease_acquire(f, HOLDER_A, "", 1, a);
	lease_acquire(f, HOLDER_B, a, 2, b);
	assert_string_equal(b, HOLDER_B "#2");
	assert_string_equal(lease_now(f, buf), b);
	assert_int_equal(fence_now(f), 2);
	assert_true(test_redis_int(f->ctx, "PTTL %s", keys_lease_scaler()) >
	    TTL_MS - 2000);
	lease(f, HOLDER_A, "take", a, "", "held", b, NULL);

	/* Expired: its holder takes it again, with a new token. */
	assert_int_equal(test_redis_do(f->ctx, "DEL %s", keys_lease_scaler()), 0);
	lease_acquire(f, HOLDER_B, b, 3, c);
	assert_string_equal(c, HOLDER_B "#3");
	assert_int_equal(fence_now(f), 3);
}

static void
test_lease_drop(void **state)
{
	struct test_sync *f = *state;
	char a[TOKEN_MAX], b[TOKEN_MAX], buf[TOKEN_MAX];

	lease_acquire(f, HOLDER_A, "", 1, a);
	/* Not with another token, nor with none. */
	lease(f, HOLDER_A, "drop", HOLDER_A "#2", "", "held", a, NULL);
	lease(f, HOLDER_B, "drop", "", "", "held", a, NULL);
	assert_string_equal(lease_now(f, buf), a);

	lease(f, HOLDER_A, "drop", a, "", "released", "", NULL);
	assert_int_equal(test_redis_int(f->ctx, "EXISTS %s", keys_lease_scaler()),
	    0);
	lease(f, HOLDER_A, "drop", a, "", "held", "", NULL);

	/* The fence counter only grows: through drops, expiries and takes. */
	assert_int_equal(fence_now(f), 1);
	lease_acquire(f, HOLDER_B, "", 2, b);
	lease(f, HOLDER_B, "drop", b, "", "released", "", NULL);
	lease_acquire(f, HOLDER_A, a, 3, NULL);
	assert_int_equal(test_redis_do(f->ctx, "DEL %s", keys_lease_scaler()), 0);
	lease_acquire(f, HOLDER_A, "", 4, NULL);
	assert_int_equal(fence_now(f), 4);
}

static void
test_lease_bad_arguments(void **state)
{
	static const char *const ttls[] = { "0", "-5", "soon", "" };
	struct test_sync *f = *state;
	struct scripts_call c;

	/* Refused before Redis is asked. */
	assert_int_equal(scripts_call_lease(&c, keys_lease_scaler(),
	    keys_lease_scaler_fence(), HOLDER_A, 0, "take", ""), -1);
	assert_int_equal(scripts_call_lease(&c, keys_lease_scaler(),
	    keys_lease_scaler_fence(), "", TTL_MS, "take", ""), -1);
	assert_int_equal(scripts_call_lease(&c, keys_lease_scaler(),
	    keys_lease_scaler_fence(), HOLDER_A, TTL_MS, NULL, ""), -1);
	assert_int_equal(scripts_call_lease(&c, keys_lease_scaler(),
	    keys_lease_scaler_fence(), HOLDER_A, TTL_MS, "take", NULL), -1);
	assert_int_equal(scripts_call_lease(&c, "", keys_lease_scaler_fence(),
	    HOLDER_A, TTL_MS, "take", ""), -1);

	/* Refused by the script: an unknown op, a bad TTL, no holder, no
	 * token argument.  argv: 5 holder, 6 ttl, 7 op, 8 mine. */
	assert_int_equal(scripts_call_lease(&c, keys_lease_scaler(),
	    keys_lease_scaler_fence(), HOLDER_A, TTL_MS, "grab", ""), 0);
	run_refused(f, &c, "lease: bad arguments");
	for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
		assert_int_equal(scripts_call_lease(&c, keys_lease_scaler(),
		    keys_lease_scaler_fence(), HOLDER_A, TTL_MS, "take", ""), 0);
		c.argv[6] = ttls[i];
		c.argvlen[6] = strlen(ttls[i]);
		run_refused(f, &c, "lease: bad arguments");
	}
	assert_int_equal(scripts_call_lease(&c, keys_lease_scaler(),
	    keys_lease_scaler_fence(), HOLDER_A, TTL_MS, "take", ""), 0);
	c.argv[5] = "";
	c.argvlen[5] = 0;
	run_refused(f, &c, "lease: bad arguments");
	assert_int_equal(scripts_call_lease(&c, keys_lease_scaler(),
	    keys_lease_scaler_fence(), HOLDER_A, TTL_MS, "take", ""), 0);
	c.argc--;
	run_refused(f, &c, "lease: bad arguments");

	assert_int_equal(test_redis_int(f->ctx, "EXISTS %s %s",
	    keys_lease_scaler(), keys_lease_scaler_fence()), 0);
}

/* The record of a launch reservation, parsed (NULL if none). */
static json_object *
launch_record(struct test_sync *f, const char *launch)
{
	char buf[1024];

	if (!redis_string(f, buf, sizeof(buf), "HGET %s %s", keys_launches(),
	    launch))
		return NULL;
	return json_tokener_parse(buf);
}

static const char *
json_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static long long
json_int(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !(json_object_is_type(v, json_type_int) ||
	    json_object_is_type(v, json_type_double)))
		return -1;
	return (long long)json_object_get_int64(v);
}

static void
reserve(struct test_sync *f, const char *token, const char *launch,
    const char *role, const char *json, const char *want)
{
	struct scripts_call c;

	assert_int_equal(scripts_call_fleet_reserve(&c, token, launch, role,
	    json), 0);
	run_string(f, &c, want);
}

static long long
name_seq(struct test_sync *f, const char *role)
{
	return test_redis_int(f->ctx, "HGET %s %s", keys_name_seq(), role);
}

static void
test_fleet_reserve(void **state)
{
	struct test_sync *f = *state;
	struct scripts_call c;
	char tok[TOKEN_MAX];
	json_object *o;

	lease_acquire(f, HOLDER_A, "", 1, tok);
	reserve(f, tok, "L-m1", "master", "{\"zone\":\"a\"}", "Master_Listener-1");
	reserve(f, tok, "L-c1", "client", "{}", "Client_Listener-1");
	reserve(f, tok, "L-c2", "client", "{\"name\":\"mine\"}",
	    "Client_Listener-2");
	assert_int_equal(name_seq(f, "master"), 1);
	assert_int_equal(name_seq(f, "client"), 2);

	/* The same launch token again: the same name, no counter moved. */
	reserve(f, tok, "L-c1", "client", "{}", "Client_Listener-1");
	reserve(f, tok, "L-m1", "master", "{}", "Master_Listener-1");
	assert_int_equal(name_seq(f, "master"), 1);
	assert_int_equal(name_seq(f, "client"), 2);
	assert_int_equal(test_redis_int(f->ctx, "HLEN %s", keys_launches()), 3);

	assert_non_null(o = launch_record(f, "L-m1"));
	assert_string_equal(json_str(o, "name"), "Master_Listener-1");
	assert_string_equal(json_str(o, "role"), "master");
	assert_string_equal(json_str(o, "zone"), "a");
	assert_true(json_int(o, "reservedAt") > AFTER_2023);
	json_object_put(o);
	assert_non_null(o = launch_record(f, "L-c2"));
	assert_string_equal(json_str(o, "name"), "Client_Listener-2");
	assert_string_equal(json_str(o, "role"), "client");
	json_object_put(o);

	/* Bad reservations change nothing. */
	assert_int_equal(scripts_call_fleet_reserve(&c, tok, "L-x", "leader",
	    "{}"), 0);
	run_refused(f, &c, "fleet: bad reserve arguments");
	assert_int_equal(scripts_call_fleet_reserve(&c, tok, "L-x", "client",
	    "not json"), 0);
	run_refused(f, &c, "fleet: bad reserve arguments");
	assert_int_equal(scripts_call_fleet_reserve(&c, tok, "L-x", "client",
	    "42"), 0);
	run_refused(f, &c, "fleet: bad reserve arguments");
	assert_int_equal(scripts_call_fleet_reserve(&c, tok, "", "client", "{}"),
	    -1);
	assert_int_equal(scripts_call_fleet_reserve(&c, "", "L-x", "client",
	    "{}"), -1);
	assert_null(launch_record(f, "L-x"));
	assert_int_equal(name_seq(f, "client"), 2);
	assert_int_equal(test_redis_int(f->ctx, "HLEN %s", keys_launches()), 3);
}

static void
test_fleet_forget_desire(void **state)
{
	struct test_sync *f = *state;
	const char *pairs[] = { "masters", "3", "clients", "7" };
	const char *odd[] = { "masters", "3", "clients" };
	struct scripts_call c;
	char tok[TOKEN_MAX], buf[64];

	lease_acquire(f, HOLDER_A, "", 1, tok);
	reserve(f, tok, "L-1", "client", "{}", "Client_Listener-1");
	assert_int_equal(scripts_call_fleet_forget(&c, tok, "L-1"), 0);
	run_integer(f, &c, 1);
	assert_null(launch_record(f, "L-1"));
	assert_int_equal(scripts_call_fleet_forget(&c, tok, "L-1"), 0);
	run_integer(f, &c, 0);
	/* Forgotten does not give the name back. */
	reserve(f, tok, "L-1", "client", "{}", "Client_Listener-2");

	assert_int_equal(scripts_call_fleet_desire(&c, tok, pairs, 4), 0);
	run_integer(f, &c, 1);
	assert_true(redis_string(f, buf, sizeof(buf), "HGET %s masters",
	    keys_fleet()));
	assert_string_equal(buf, "3");
	assert_true(redis_string(f, buf, sizeof(buf), "HGET %s clients",
	    keys_fleet()));
	assert_string_equal(buf, "7");
	pairs[1] = "4";
	assert_int_equal(scripts_call_fleet_desire(&c, tok, pairs, 2), 0);
	run_integer(f, &c, 1);
	assert_true(redis_string(f, buf, sizeof(buf), "HGET %s masters",
	    keys_fleet()));
	assert_string_equal(buf, "4");

	/* Bad ones: refused here, or by the script. */
	assert_int_equal(scripts_call_fleet_desire(&c, tok, odd, 3), -1);
	assert_int_equal(scripts_call_fleet_desire(&c, tok, pairs, 0), -1);
	assert_int_equal(scripts_call_fleet_desire(&c, tok, pairs, 4), 0);
	c.argc--;
	run_refused(f, &c, "fleet: bad desire arguments");
	assert_int_equal(scripts_call_fleet_desire(&c, tok, pairs, 2), 0);
	c.argv[8] = "explode";		/* 3..6 keys, 7 token, 8 op */
	c.argvlen[8] = strlen(c.argv[8]);
	run_refused(f, &c, "fleet: unknown op");
	assert_int_equal(scripts_call_fleet_forget(&c, tok, "L-1"), 0);
	c.argc--;
	run_refused(f, &c, "fleet: bad forget arguments");
	assert_true(redis_string(f, buf, sizeof(buf), "HGET %s clients",
	    keys_fleet()));
	assert_string_equal(buf, "7");
	assert_int_equal(test_redis_int(f->ctx, "HEXISTS %s L-1",
	    keys_launches()), 1);
}

/* A raw value of a hash field, for "unchanged" checks. */
static void
hash_raw(struct test_sync *f, const char *key, const char *field, char *buf,
    size_t size)
{
	assert_true(redis_string(f, buf, size, "HGET %s %s", key, field));
}

/* Every fleet write under a stale token is refused with FENCED and changes
 * nothing: after the lease moved to another holder, after it expired. */
static void
test_fleet_fenced(void **state)
{
	struct test_sync *f = *state;
	const char *pairs[] = { "masters", "9" };
	struct scripts_call c;
	char a[TOKEN_MAX], b[TOKEN_MAX], before[512], after[512];

	lease_acquire(f, HOLDER_A, "", 1, a);
	reserve(f, a, "L-1", "master", "{}", "Master_Listener-1");
	pairs[1] = "2";
	assert_int_equal(scripts_call_fleet_desire(&c, a, pairs, 2), 0);
	run_integer(f, &c, 1);
	pairs[1] = "9";
	hash_raw(f, keys_launches(), "L-1", before, sizeof(before));

	for (int round = 0; round < 2; round++) {
		const char *stale = round == 0 ? a : b;

		if (round == 0)
			lease_acquire(f, HOLDER_B, a, 2, b);
		else
			assert_int_equal(test_redis_do(f->ctx, "DEL %s",
			    keys_lease_scaler()), 0);
		assert_int_equal(scripts_call_fleet_reserve(&c, stale, "L-2",
		    "master", "{}"), 0);
		run_refused(f, &c, "FENCED");
		assert_int_equal(scripts_call_fleet_reserve(&c, stale, "L-1",
		    "master", "{}"), 0);
		run_refused(f, &c, "FENCED");
		assert_int_equal(scripts_call_fleet_forget(&c, stale, "L-1"), 0);
		run_refused(f, &c, "FENCED");
		assert_int_equal(scripts_call_fleet_desire(&c, stale, pairs, 2),
		    0);
		run_refused(f, &c, "FENCED");

		assert_null(launch_record(f, "L-2"));
		hash_raw(f, keys_launches(), "L-1", after, sizeof(after));
		assert_string_equal(after, before);
		assert_int_equal(name_seq(f, "master"), 1);
		assert_int_equal(test_redis_int(f->ctx, "HGET %s masters",
		    keys_fleet()), 2);
	}

	/* A token of the right form that was never handed out. */
	lease_acquire(f, HOLDER_A, "", 3, a);
	assert_int_equal(scripts_call_fleet_forget(&c, HOLDER_A "#4", "L-1"), 0);
	run_refused(f, &c, "FENCED");
	assert_int_equal(test_redis_int(f->ctx, "HEXISTS %s L-1",
	    keys_launches()), 1);
	/* The holder of the lease now may. */
	assert_int_equal(scripts_call_fleet_forget(&c, a, "L-1"), 0);
	run_integer(f, &c, 1);
}

#define REC_PENDING "{\"isMasterServer\":false,\"ip\":\"10.0.0.1\"," \
	"\"port\":9000,\"state\":\"pending\",\"provider\":\"ec2\"," \
	"\"serverName\":\"Client_Listener-1\"}"
#define REC_RUNNING "{\"isMasterServer\":false,\"ip\":\"10.0.0.1\"," \
	"\"port\":9001,\"state\":\"running\",\"provider\":\"ec2\"," \
	"\"serverName\":\"Client_Listener-1\"}"

/* The record of an instance, parsed (NULL if none). */
static json_object *
instance_record(struct test_sync *f, const char *id)
{
	char buf[1024];

	if (!redis_string(f, buf, sizeof(buf), "HGET %s %s",
	    keys_instance_details(), id))
		return NULL;
	return json_tokener_parse(buf);
}

static void
instance_put(struct test_sync *f, const char *id, const char *json,
    const char *token)
{
	struct scripts_call c;
	redisReply *r;

	assert_int_equal(scripts_call_instance_put(&c, id, json), 0);
	if (token != NULL)
		assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(),
		    token), 0);
	r = run_ok(f, &c);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_string_equal(r->element[0]->str, id);
	freeReplyObject(r);
}

/* instance_move (from "" = instance_state), fenced by token if not NULL:
 * the answer must be want (NULL: nil). */
static void
instance_move(struct test_sync *f, const char *id, const char *from,
    const char *to, const char *token, const char *want)
{
	struct scripts_call c;
	redisReply *r;

	assert_int_equal(scripts_call_instance_move(&c, id, from, to), 0);
	if (token != NULL)
		assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(),
		    token), 0);
	r = run_ok(f, &c);
	if (want == NULL) {
		assert_int_equal(r->type, REDIS_REPLY_NIL);
	} else {
		assert_int_equal(r->type, REDIS_REPLY_STRING);
		assert_string_equal(r->str, want);
	}
	freeReplyObject(r);
}

/* Each instance script fenced with a stale token is refused and changes
 * nothing; with the current token it is applied. */
static void
test_instance_fenced(void **state)
{
	struct test_sync *f = *state;
	struct scripts_call c;
	char a[TOKEN_MAX], b[TOKEN_MAX], before[1024], after[1024];
	json_object *o;

	/* an id a mapping or a spread could not hold */
	assert_int_equal(scripts_call_instance_put(&c, "i-1\nx", REC_PENDING), 0);
	run_refused(f, &c, "instance_put: bad arguments");
	instance_put(f, "i-1", REC_PENDING, NULL);
	hash_raw(f, keys_instance_details(), "i-1", before, sizeof(before));
	lease_acquire(f, HOLDER_A, "", 1, a);
	lease_acquire(f, HOLDER_B, a, 2, b);

	assert_int_equal(scripts_call_instance_put(&c, "i-1", REC_RUNNING), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), a), 0);
	run_refused(f, &c, "FENCED");
	assert_int_equal(scripts_call_instance_put(&c, "i-2", REC_RUNNING), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), a), 0);
	run_refused(f, &c, "FENCED");
	assert_int_equal(scripts_call_instance_state(&c, "i-1", "running"), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), a), 0);
	run_refused(f, &c, "FENCED");
	assert_int_equal(scripts_call_instance_move(&c, "i-1", "pending",
	    "running"), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), a), 0);
	run_refused(f, &c, "FENCED");
	assert_int_equal(scripts_call_instance_remove(&c, "i-1"), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), a), 0);
	run_refused(f, &c, "FENCED");

	hash_raw(f, keys_instance_details(), "i-1", after, sizeof(after));
	assert_string_equal(after, before);
	assert_null(instance_record(f, "i-2"));
	assert_int_equal(test_redis_int(f->ctx, "ZSCORE %s i-1",
	    keys_live_client()), -1);

	/* The current token: applied. */
	instance_move(f, "i-1", "", "running", b, "pending");
	assert_true(test_redis_int(f->ctx, "ZSCORE %s i-1",
	    keys_live_client()) >= 0);
	instance_put(f, "i-1", REC_RUNNING, b);
	assert_non_null(o = instance_record(f, "i-1"));
	assert_int_equal(json_int(o, "port"), 9001);
	json_object_put(o);
	assert_int_equal(scripts_call_instance_remove(&c, "i-1"), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), b), 0);
	run_integer(f, &c, 1);
	assert_null(instance_record(f, "i-1"));

	/* No lease at all: refused. */
	instance_put(f, "i-3", REC_PENDING, NULL);
	assert_int_equal(test_redis_do(f->ctx, "DEL %s", keys_lease_scaler()), 0);
	assert_int_equal(scripts_call_instance_remove(&c, "i-3"), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), b), 0);
	run_refused(f, &c, "FENCED");
	assert_non_null(o = instance_record(f, "i-3"));
	json_object_put(o);

	/* Only the instance scripts are fenced this way, never with "". */
	assert_int_equal(scripts_call_lease(&c, keys_lease_scaler(),
	    keys_lease_scaler_fence(), HOLDER_A, TTL_MS, "take", ""), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), b), -1);
	assert_int_equal(scripts_call_instance_remove(&c, "i-3"), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), ""), -1);
}

/* Set i's stateSince to since (a mark to tell kept from stamped). */
static void
mark_since(struct test_sync *f, const char *id, long long since)
{
	json_object *o = instance_record(f, id);

	assert_non_null(o);
	json_object_object_add(o, "stateSince", json_object_new_int64(since));
	assert_int_equal(test_redis_do(f->ctx, "HSET %s %s %s",
	    keys_instance_details(), id, json_object_to_json_string(o)), 0);
	json_object_put(o);
}

static long long
state_since(struct test_sync *f, const char *id, const char *want_state)
{
	json_object *o = instance_record(f, id);
	long long since;

	assert_non_null(o);
	assert_string_equal(json_str(o, "state"), want_state);
	since = json_int(o, "stateSince");
	json_object_put(o);
	return since;
}

static void
test_instance_move_and_since(void **state)
{
	struct test_sync *f = *state;

	instance_put(f, "i-1", REC_PENDING, NULL);
	assert_true(state_since(f, "i-1", "pending") > AFTER_2023);
	mark_since(f, "i-1", 1000);

	/* The same state again: stateSince kept (state and put). */
	instance_move(f, "i-1", "", "pending", NULL, "pending");
	assert_int_equal(state_since(f, "i-1", "pending"), 1000);
	instance_put(f, "i-1", REC_PENDING, NULL);
	assert_int_equal(state_since(f, "i-1", "pending"), 1000);

	/* From a state it is not in: the current state, nothing changed. */
	instance_move(f, "i-1", "running", "draining", NULL, "pending");
	instance_move(f, "i-1", "unhealthy", "running", NULL, "pending");
	assert_int_equal(state_since(f, "i-1", "pending"), 1000);
	assert_int_equal(test_redis_int(f->ctx, "ZSCORE %s i-1",
	    keys_live_client()), -1);

	/* From the state it is in: moved, stamped. */
	instance_move(f, "i-1", "pending", "running", NULL, "pending");
	assert_true(state_since(f, "i-1", "running") > AFTER_2023);
	assert_true(test_redis_int(f->ctx, "ZSCORE %s i-1",
	    keys_live_client()) >= 0);
	mark_since(f, "i-1", 2000);
	instance_move(f, "i-1", "running", "running", NULL, "running");
	assert_int_equal(state_since(f, "i-1", "running"), 2000);

	/* A put that changes the state stamps it; one that does not keeps it. */
	instance_put(f, "i-1", REC_RUNNING, NULL);
	assert_int_equal(state_since(f, "i-1", "running"), 2000);
	instance_put(f, "i-1", REC_PENDING, NULL);
	assert_true(state_since(f, "i-1", "pending") > AFTER_2023);
	mark_since(f, "i-1", 3000);
	instance_move(f, "i-1", "", "draining", NULL, "pending");
	assert_true(state_since(f, "i-1", "draining") > AFTER_2023);

	/* No such instance: nil, from-state or not. */
	instance_move(f, "i-9", "", "running", NULL, NULL);
	instance_move(f, "i-9", "pending", "running", NULL, NULL);
	assert_null(instance_record(f, "i-9"));
}

/* instance_retire fenced by token: the answer must be {want_prev,
 * want_accounts}. */
static void
instance_retire(struct test_sync *f, const char *id, const char *token,
    const char *want_prev, long long want_accounts)
{
	struct scripts_call c;
	redisReply *r;

	assert_int_equal(scripts_call_instance_retire(&c, id, "draining"), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), token), 0);
	r = run_ok(f, &c);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 2);
	assert_string_equal(r->element[0]->str, want_prev);
	assert_int_equal(r->element[1]->integer, want_accounts);
	freeReplyObject(r);
}

static void
place_client(struct test_sync *f, const char *actid)
{
	struct scripts_call c;
	redisReply *r;

	assert_int_equal(scripts_call_place_client(&c, actid, "M-1", 10), 0);
	r = run_ok(f, &c);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 1 + 1 + 3);
	assert_int_equal(r->element[1]->integer, 1);	/* placed */
	freeReplyObject(r);
}

static long long
accounts_on(struct test_sync *f, const char *id)
{
	return test_redis_int(f->ctx, "SCARD %s%s",
	    keys_instance_accounts_prefix(), id);
}

/* Every placement script keeps the instance's set of accounts with the
 * mapping, and a drained instance goes to terminating only when that set
 * (checked against the mapping) and its count both say empty: a count that
 * reads 0 with an account still mapped there terminates nothing. */
static void
test_instance_retire_proves_empty(void **state)
{
	struct test_sync *f = *state;
	struct scripts_call c;
	char tok[TOKEN_MAX];
	json_object *o;

	lease_acquire(f, HOLDER_A, "", 1, tok);
	instance_put(f, "i-1", REC_RUNNING, tok);
	place_client(f, "C-1");
	place_client(f, "C-2");
	assert_int_equal(accounts_on(f, "i-1"), 2);
	assert_int_equal(test_redis_int(f->ctx, "SISMEMBER %s%s C-2",
	    keys_instance_accounts_prefix(), "i-1"), 1);

	/* Not draining: nothing moves. */
	instance_retire(f, "i-1", tok, "running", 0);
	instance_move(f, "i-1", "running", "draining", tok, "running");
	instance_retire(f, "i-1", tok, "draining", 2);

	/* The count drifted to 0; the placements still show one account. */
	assert_int_equal(scripts_call_release(&c, "client", "C-1", "M-1", ""), 0);
	freeReplyObject(run_ok(f, &c));
	assert_int_equal(accounts_on(f, "i-1"), 1);
	assert_int_equal(test_redis_do(f->ctx, "HSET %s i-1 0",
	    keys_instance_user_counts()), 0);
	instance_retire(f, "i-1", tok, "draining", 1);
	assert_non_null(o = instance_record(f, "i-1"));
	assert_string_equal(json_object_get_string(json_object_object_get(o,
	    "state")), "draining");
	json_object_put(o);

	/* A member the mapping no longer puts there is dropped; a count
	 * still above 0 with an empty set waits too. */
	assert_int_equal(test_redis_do(f->ctx, "HSET %s C-2 i-other",
	    keys_client_mapping()), 0);
	assert_int_equal(test_redis_do(f->ctx, "HSET %s i-1 3",
	    keys_instance_user_counts()), 0);
	instance_retire(f, "i-1", tok, "draining", 3);
	assert_int_equal(accounts_on(f, "i-1"), 0);

	/* Empty by both: terminating, in the same script. */
	assert_int_equal(test_redis_do(f->ctx, "HSET %s i-1 0",
	    keys_instance_user_counts()), 0);
	instance_retire(f, "i-1", tok, "draining", 0);
	assert_non_null(o = instance_record(f, "i-1"));
	assert_string_equal(json_object_get_string(json_object_object_get(o,
	    "state")), "terminating");
	json_object_put(o);

	/* Fenced like the other instance scripts. */
	assert_int_equal(scripts_call_instance_retire(&c, "i-1", "draining"), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), "x#9"), 0);
	run_refused(f, &c, "FENCED");
	assert_int_equal(scripts_call_instance_retire(&c, "i-1", "nonsense"), -1);
}

/* One health_record batch of n results for id (ok or not), fenced by
 * token: the changes answered must number want_changes; the last one's
 * to state is copied to to (if not NULL). */
static void
health_round_held(struct test_sync *f, const char *token, const char *hold,
    const char *id, int ok, int n, size_t want_changes, char *to)
{
	struct scripts_call c;
	char json[128];
	redisReply *r;

	assert_int_equal(scripts_call_health_record(&c, 3, 2, 2, hold), 0);
	for (int i = 0; i < n; i++) {
		snprintf(json, sizeof(json), "{\"timestamp\":%d,\"healthy\":%s}",
		    1000 + i, ok ? "true" : "false");
		assert_int_equal(scripts_call_health_add(&c, id, ok, json), 0);
	}
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), token), 0);
	r = run_ok(f, &c);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, want_changes);
	if (want_changes > 0 && to != NULL) {
		redisReply *last = r->element[r->elements - 1];

		assert_int_equal(last->elements, 4);
		strcpy(to, last->element[2]->str);
	}
	freeReplyObject(r);
}

static void
health_round(struct test_sync *f, const char *token, const char *id, int ok,
    int n, size_t want_changes, char *to)
{
	health_round_held(f, token, "-", id, ok, n, want_changes, to);
}

/* The health worker's batches: the earlier service's history (newest
 * first, trimmed) and stats, the consecutive count in Redis, and the
 * changes fall and rise call for, each once. */
static void
test_health_record(void **state)
{
	struct test_sync *f = *state;
	char tok[TOKEN_MAX], to[32], buf[256];
	struct scripts_call c;

	lease_acquire(f, HOLDER_A, "", 1, tok);
	instance_put(f, "i-1", REC_PENDING, tok);
	health_round(f, tok, "i-1", 1, 1, 1, to);
	assert_string_equal(to, "running");
	/* Two failures (fall 2) in one batch: unhealthy once. */
	health_round(f, tok, "i-1", 0, 1, 0, NULL);
	health_round(f, tok, "i-1", 0, 2, 1, to);
	assert_string_equal(to, "unhealthy");
	assert_int_equal(test_redis_int(f->ctx, "HGET %s i-1",
	    keys_health_streak()), -3);
	assert_int_equal(test_redis_int(f->ctx, "ZSCORE %s i-1",
	    keys_live_client()), -1);
	/* One success is not enough (rise 2); a second is. */
	health_round(f, tok, "i-1", 1, 1, 0, NULL);
	health_round(f, tok, "i-1", 1, 1, 1, to);
	assert_string_equal(to, "running");
	assert_true(test_redis_int(f->ctx, "ZSCORE %s i-1",
	    keys_live_client()) >= 0);

	/* History: newest first, trimmed to 3; stats counted. */
	assert_int_equal(test_redis_int(f->ctx, "LLEN %s%s",
	    keys_health_history_prefix(), "i-1"), 3);
	redis_string(f, buf, sizeof(buf), "LINDEX %s%s 0",
	    keys_health_history_prefix(), "i-1");
	assert_string_equal(buf, "{\"timestamp\":1000,\"healthy\":true}");
	assert_int_equal(test_redis_int(f->ctx, "HGET %s%s totalSuccesses",
	    keys_health_stats_prefix(), "i-1"), 3);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s%s totalFailures",
	    keys_health_stats_prefix(), "i-1"), 3);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s%s lastCheckedAt",
	    keys_health_stats_prefix(), "i-1"), 1000);

	/* A role in panic (held) keeps its running instances running however
	 * many probes fail; the other role's move; the panic over, the next
	 * failure moves it. */
	health_round(f, tok, "i-1", 0, 1, 0, NULL);
	health_round_held(f, tok, "c", "i-1", 0, 3, 0, NULL);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s i-1",
	    keys_health_streak()), -4);
	health_round_held(f, tok, "m", "i-1", 0, 1, 1, to);
	assert_string_equal(to, "unhealthy");
	health_round(f, tok, "i-1", 1, 2, 1, to);
	assert_string_equal(to, "running");

	/* An instance without a record: nothing written. */
	health_round(f, tok, "i-gone", 0, 3, 0, NULL);
	assert_int_equal(test_redis_int(f->ctx, "EXISTS %s%s",
	    keys_health_history_prefix(), "i-gone"), 0);

	/* Fenced: a stale token writes nothing. */
	assert_int_equal(scripts_call_health_record(&c, 3, 2, 2, "-"), 0);
	assert_int_equal(scripts_call_health_add(&c, "i-1", 0, "{}"), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), "x#9"), 0);
	run_refused(f, &c, "FENCED");
	assert_int_equal(test_redis_int(f->ctx, "HGET %s i-1",
	    keys_health_streak()), 2);
	/* No room past the batch: refused, not overrun. */
	assert_int_equal(scripts_call_health_record(&c, 3, 2, 2, "-"), 0);
	for (int i = 0; i < 100; i++)
		if (scripts_call_health_add(&c, "i-1", 1, "{}") == -1) {
			assert_true(i >= 40);
			return;
		}
	fail_msg("a batch took 100 results");
}

/* Push one notify event "e<n>" into an outbox of bound events. */
static void
notify_push(struct test_sync *f, int n, long long bound)
{
	struct scripts_call c;
	char json[32];
	redisReply *r;

	snprintf(json, sizeof(json), "{\"n\":%d}", n);
	assert_int_equal(scripts_call_notify_push(&c, bound, "test-channel",
	    json), 0);
	r = run_ok(f, &c);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 2);
	freeReplyObject(r);
}

/* The outbox as a string of its events' numbers, oldest first. */
static void
notify_outbox(struct test_sync *f, char *buf, size_t size)
{
	redisReply *r = redisCommand(f->ctx, "LRANGE %s 0 -1",
	    keys_notify_outbox());
	size_t len = 0;

	assert_non_null(r);
	buf[0] = '\0';
	for (size_t i = 0; i < r->elements; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%d",
		    i > 0 ? "," : "", atoi(r->element[i]->str + 5)); /* {"n": */
	freeReplyObject(r);
}

/* The webhook's outbox: bounded, drops counted, and an acknowledgement
 * removes exactly what was posted even when pushes overflowed the outbox
 * between the peek and the ack; an ack is fenced by the sender's lease. */
static void
test_notify_outbox(void **state)
{
	struct test_sync *f = *state;
	char tok[TOKEN_MAX], buf[256];
	struct scripts_call c;
	redisReply *r;

	lease_acquire(f, HOLDER_A, "", 1, tok);
	for (int i = 1; i <= 3; i++)
		notify_push(f, i, 4);
	assert_int_equal(scripts_call_notify_peek(&c, 2), 0);
	r = run_ok(f, &c);
	assert_int_equal(r->elements, 3);
	assert_int_equal(r->element[0]->integer, 0);	/* head */
	assert_int_equal(r->element[1]->integer, 0);	/* dropped */
	assert_int_equal(r->element[2]->elements, 2);
	assert_string_equal(r->element[2]->element[0]->str, "{\"n\":1}");
	freeReplyObject(r);
	/* While 1 and 2 are posted, three more come: 1 and 2 overflow. */
	for (int i = 4; i <= 6; i++)
		notify_push(f, i, 4);
	notify_outbox(f, buf, sizeof(buf));
	assert_string_equal(buf, "3,4,5,6");
	assert_int_equal(test_redis_int(f->ctx, "HGET %s dropped",
	    keys_notify_state()), 2);
	/* The ack of 1 and 2 (head 0) removes nothing more. */
	assert_int_equal(scripts_call_notify_ack(&c, 0, 2, 0), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), tok), 0);
	run_integer(f, &c, 0);
	/* Peek 3 and 4 (head 2), ack them: 5 and 6 are left. */
	assert_int_equal(scripts_call_notify_peek(&c, 2), 0);
	r = run_ok(f, &c);
	assert_int_equal(r->element[0]->integer, 2);
	freeReplyObject(r);
	assert_int_equal(scripts_call_notify_ack(&c, 2, 2, 0), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), tok), 0);
	run_integer(f, &c, 2);
	notify_outbox(f, buf, sizeof(buf));
	assert_string_equal(buf, "5,6");
	/* A refused batch counts as dropped. */
	assert_int_equal(scripts_call_notify_ack(&c, 4, 1, 1), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(), tok), 0);
	run_integer(f, &c, 1);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s dropped",
	    keys_notify_state()), 3);
	/* An ack under a stale token is fenced. */
	assert_int_equal(scripts_call_notify_ack(&c, 5, 1, 0), 0);
	assert_int_equal(scripts_call_fence(&c, keys_lease_scaler(),
	    HOLDER_A "#0"), 0);
	run_refused(f, &c, "FENCED");
	notify_outbox(f, buf, sizeof(buf));
	assert_string_equal(buf, "6");
	assert_int_equal(scripts_call_notify_push(&c, 0, "ch", "{}"), -1);
	assert_int_equal(scripts_call_notify_peek(&c, 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lease_take_renew_held,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_lease_dead_holder,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_lease_drop,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_lease_bad_arguments,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_fleet_reserve,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_fleet_forget_desire,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_fleet_fenced,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_instance_fenced,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_instance_move_and_since,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_instance_retire_proves_empty,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_health_record,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_notify_outbox,
		    test_sync_setup, test_sync_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	log_open("stderr", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
