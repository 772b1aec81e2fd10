/*
 * registry: instance records and placements for olbctl (see registry.h).
 *
 * Writes go through the Lua scripts of common/scripts.c (EVALSHA, EVAL after
 * NOSCRIPT) on the caller's blocking hiredis context; reads are plain HGET,
 * HGETALL and HMGET of the keys named in common/keys.c.  Records are JSON
 * built and read with json-c.  Not for the workers' loops: every call blocks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/keys.h"
#include "common/registry.h"
#include "common/rscript.h"
#include "common/scripts.h"
#include "common/util.h"

static char	registry_errbuf[512];

static int	registry_fail(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));

/* Record the reason of a failure; returns -1 for the caller to return. */
static int
registry_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(registry_errbuf, sizeof(registry_errbuf), fmt, ap);
	va_end(ap);
	return -1;
}

const char *
registry_error(void)
{
	return registry_errbuf;
}

/* "host:port" or the socket path of ctx, for messages. */
static const char *
registry_addr(const redisContext *ctx, char *buf, size_t size)
{
	if (ctx->connection_type == REDIS_CONN_UNIX && ctx->unix_sock.path)
		snprintf(buf, size, "%s", ctx->unix_sock.path);
	else
		snprintf(buf, size, "%s:%d", ctx->tcp.host ? ctx->tcp.host : "?",
		    ctx->tcp.port);
	return buf;
}

/* Run one script; after NOSCRIPT run it again by source.  The reply (the
 * caller frees it), or NULL with the error recorded (also for an error
 * reply). */
static redisReply *
registry_eval(redisContext *ctx, struct scripts_call *c)
{
	redisReply *r;
	char addr[128];

	r = rscript_run_sync(ctx, c);
	if (r == NULL) {
		registry_fail("%s %s(%s): %s", scripts_call_verb(c),
		    scripts_name(c->id), registry_addr(ctx, addr, sizeof(addr)),
		    ctx->errstr[0] ? ctx->errstr : "no reply");
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		registry_fail("%s %s(%s): %s", scripts_call_verb(c),
		    scripts_name(c->id), registry_addr(ctx, addr, sizeof(addr)),
		    r->str != NULL ? r->str : "error");
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* A plain command with argv; the reply, or NULL with the error recorded
 * (also for an error reply or a reply not of type want). */
static redisReply *
registry_command(redisContext *ctx, int want, int argc, const char **argv,
    const size_t *argvlen)
{
	redisReply *r;
	char addr[128];

	r = redisCommandArgv(ctx, argc, argv, argvlen);
	if (r == NULL || r->type != want) {
		registry_fail("%s(%s): %s", argv[0], registry_addr(ctx, addr,
		    sizeof(addr)), r == NULL ? (ctx->errstr[0] ? ctx->errstr :
		    "no reply") : r->type == REDIS_REPLY_ERROR && r->str ? r->str :
		    "unexpected reply");
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* HGET key field: the reply (STRING or NIL), or NULL on failure. */
static redisReply *
registry_hget(redisContext *ctx, const char *key, const char *field)
{
	const char *argv[3] = { "HGET", key, field };
	size_t lens[3] = { 4, strlen(key), strlen(field) };
	redisReply *r;
	char addr[128];

	r = redisCommandArgv(ctx, 3, argv, lens);
	if (r == NULL || (r->type != REDIS_REPLY_STRING &&
	    r->type != REDIS_REPLY_NIL)) {
		registry_fail("HGET %s(%s): %s", key, registry_addr(ctx, addr,
		    sizeof(addr)), r == NULL ? ctx->errstr : r->type ==
		    REDIS_REPLY_ERROR && r->str ? r->str : "unexpected reply");
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static const char *
registry_json_string(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static long long
registry_json_int(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	return (long long)json_object_get_int64(v);
}

void
registry_decode(const char *id, const char *json, struct registry_instance *inst)
{
	json_object *o = json != NULL ? json_tokener_parse(json) : NULL, *v;
	long long port;

	memset(inst, 0, sizeof(*inst));
	snprintf(inst->id, sizeof(inst->id), "%s", id);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		snprintf(inst->state, sizeof(inst->state), "?");
		json_object_put(o);
		return;
	}
	inst->is_master = json_object_object_get_ex(o, "isMasterServer", &v) &&
	    json_object_get_boolean(v);
	snprintf(inst->name, sizeof(inst->name), "%s",
	    registry_json_string(o, "serverName"));
	snprintf(inst->ip, sizeof(inst->ip), "%s", registry_json_string(o, "ip"));
	port = registry_json_int(o, "port");
	inst->port = port > 0 && port <= 65535 ? (uint16_t)port : 0;
	snprintf(inst->state, sizeof(inst->state), "%s",
	    registry_json_string(o, "state"));
	snprintf(inst->provider, sizeof(inst->provider), "%s",
	    registry_json_string(o, "provider"));
	snprintf(inst->cluster, sizeof(inst->cluster), "%s",
	    registry_json_string(o, "cluster"));
	inst->launched_at = registry_json_int(o, "launchedAt");
	inst->state_since = registry_json_int(o, "stateSince");
	inst->launch_order = registry_json_int(o, "launchOrder");
	json_object_put(o);
}

/* The record JSON of a new instance, or NULL (out of memory).  Owned by the
 * caller (json_object_put). */
static json_object *
registry_record(int is_master, const char *ip, uint16_t port, const char *name,
    const char *state, const char *provider)
{
	json_object *o;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "isMasterServer",
	    json_object_new_boolean(is_master));
	if (name != NULL && name[0] != '\0')
		json_object_object_add(o, "serverName",
		    json_object_new_string(name));
	json_object_object_add(o, "ip", json_object_new_string(ip));
	json_object_object_add(o, "port", json_object_new_int(port));
	json_object_object_add(o, "state", json_object_new_string(state));
	json_object_object_add(o, "provider", json_object_new_string(provider));
	json_object_object_add(o, "launchedAt",
	    json_object_new_int64((int64_t)util_wall_ms()));
	return o;
}

int
registry_add(redisContext *ctx, const char *role, const char *ip,
    uint16_t port, const char *name, const char *state, const char *provider,
    char *id, size_t id_size)
{
	struct scripts_call c;
	json_object *rec = NULL;
	redisReply *r = NULL;
	const redisReply *got;

	if (state == NULL)
		state = "running";
	if (role == NULL || (strcmp(role, "master") != 0 &&
	    strcmp(role, "client") != 0))
		return registry_fail("bad role \"%s\" (master or client)",
		    role ? role : "");
	if (!scripts_state_valid(state))
		return registry_fail("bad state \"%s\"", state);
	if (ip == NULL || ip[0] == '\0' || strlen(ip) >= REGISTRY_IP_MAX ||
	    port == 0 || id == NULL || id_size == 0 || strlen(id) >= REGISTRY_ID_MAX)
		return registry_fail("bad instance address or id");
	rec = registry_record(strcmp(role, "master") == 0, ip, port, name, state,
	    provider != NULL ? provider : "manual");
	if (rec == NULL) {
		registry_fail("out of memory");
		goto fail;
	}
	if (scripts_call_instance_put(&c, id, json_object_to_json_string_ext(rec,
	    JSON_C_TO_STRING_PLAIN)) == -1) {
		registry_fail("instance_put: bad arguments");
		goto fail;
	}
	if ((r = registry_eval(ctx, &c)) == NULL)
		goto fail;
	got = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[0] :
	    NULL;
	if (got == NULL || got->type != REDIS_REPLY_STRING || got->len >= id_size) {
		registry_fail("instance_put: unexpected reply");
		goto fail;
	}
	memcpy(id, got->str, got->len + 1);
	freeReplyObject(r);
	json_object_put(rec);
	return 0;
fail:
	freeReplyObject(r);
	json_object_put(rec);
	return -1;
}

int
registry_remove(redisContext *ctx, const char *id)
{
	struct scripts_call c;
	redisReply *r;
	int rv = 0;

	if (scripts_call_instance_remove(&c, id) == -1)
		return registry_fail("instance_remove: bad arguments");
	if ((r = registry_eval(ctx, &c)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_INTEGER)
		rv = registry_fail("instance_remove: unexpected reply");
	else if (r->integer == 0)
		rv = registry_fail("no such instance: %s", id);
	freeReplyObject(r);
	return rv;
}

int
registry_set_state(redisContext *ctx, const char *id, const char *state,
    char previous[REGISTRY_STATE_MAX])
{
	struct scripts_call c;
	redisReply *r;
	int rv = 0;

	if (!scripts_state_valid(state))
		return registry_fail("bad state \"%s\"", state ? state : "");
	if (scripts_call_instance_state(&c, id, state) == -1)
		return registry_fail("instance_state: bad arguments");
	if ((r = registry_eval(ctx, &c)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_NIL)
		rv = registry_fail("no such instance: %s", id);
	else if (r->type != REDIS_REPLY_STRING)
		rv = registry_fail("instance_state: unexpected reply");
	else if (previous != NULL)
		snprintf(previous, REGISTRY_STATE_MAX, "%s", r->str);
	freeReplyObject(r);
	return rv;
}

static int
registry_cmp_order(const void *a, const void *b)
{
	const struct registry_instance *x = a, *y = b;

	if (x->launch_order != y->launch_order)
		return x->launch_order < y->launch_order ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Fill the count of each of n instances with one HMGET.  0 or -1. */
static int
registry_fill_counts(redisContext *ctx, struct registry_instance *v, size_t n)
{
	const char **argv = NULL;
	size_t *lens = NULL;
	redisReply *r = NULL;
	int rv = -1;

	if (n == 0)
		return 0;
	argv = calloc(n + 2, sizeof(*argv));
	lens = calloc(n + 2, sizeof(*lens));
	if (argv == NULL || lens == NULL) {
		registry_fail("out of memory");
		goto fail;
	}
	argv[0] = "HMGET";
	argv[1] = keys_instance_user_counts();
	for (size_t i = 0; i < n; i++)
		argv[i + 2] = v[i].id;
	for (size_t i = 0; i < n + 2; i++)
		lens[i] = strlen(argv[i]);
	r = registry_command(ctx, REDIS_REPLY_ARRAY, (int)n + 2, argv, lens);
	if (r == NULL || r->elements != n)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			v[i].count = strtoll(r->element[i]->str, NULL, 10);
	rv = 0;
fail:
	freeReplyObject(r);
	free(argv);
	free(lens);
	return rv;
}

int
registry_list(redisContext *ctx, registry_list_cb *cb, void *arg)
{
	const char *argv[2] = { "HGETALL", keys_instance_details() };
	size_t lens[2] = { 7, strlen(argv[1]) }, n = 0;
	struct registry_instance *v = NULL;
	redisReply *r;
	int rv = -1;

	if ((r = registry_command(ctx, REDIS_REPLY_ARRAY, 2, argv, lens)) == NULL)
		return -1;
	if ((v = calloc(r->elements / 2 + 1, sizeof(*v))) == NULL) {
		registry_fail("out of memory");
		goto fail;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    r->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		registry_decode(r->element[i]->str, r->element[i + 1]->str, &v[n++]);
	}
	if (registry_fill_counts(ctx, v, n) == -1)
		goto fail;
	qsort(v, n, sizeof(*v), registry_cmp_order);
	for (size_t i = 0; i < n; i++)
		cb(&v[i], arg);
	rv = (int)n;
fail:
	free(v);
	freeReplyObject(r);
	return rv;
}

int
registry_get(redisContext *ctx, const char *id, struct registry_instance *inst)
{
	redisReply *r;

	if (id == NULL || id[0] == '\0')
		return registry_fail("no such instance: \"\"");
	if ((r = registry_hget(ctx, keys_instance_details(), id)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		return registry_fail("no such instance: %s", id);
	}
	registry_decode(id, r->str, inst);
	freeReplyObject(r);
	return registry_fill_counts(ctx, inst, 1);
}

/* The instance mapped to actid in the master or client mapping, into inst
 * (state "removed" if the record is gone), and a client's master into
 * master (size bytes; "" when the mapping does not hold it: a placement of
 * an earlier layout, see prelude.lua's mapping_split).  1 if mapped, 0 if
 * not, -1 on failure. */
static int
registry_mapped(redisContext *ctx, int is_master, const char *actid,
    struct registry_instance *inst, char *master, size_t size)
{
	const char *mapping = is_master ? keys_master_mapping() :
	    keys_client_mapping();
	redisReply *r;
	char id[REGISTRY_ID_MAX], *nl;

	if ((r = registry_hget(ctx, mapping, actid)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		return 0;
	}
	if (!is_master && (nl = strchr(r->str, '\n')) != NULL) {
		*nl = '\0';
		snprintf(master, size, "%s", nl + 1);
	}
	snprintf(id, sizeof(id), "%s", r->str);
	freeReplyObject(r);
	if (registry_get(ctx, id, inst) == -1) {
		if (ctx->err)
			return -1;
		registry_decode(id, NULL, inst);
		inst->is_master = is_master;
		snprintf(inst->state, sizeof(inst->state), "removed");
	}
	return 1;
}

int
registry_placement(redisContext *ctx, const char *actid,
    struct registry_account *acct)
{
	redisReply *r;

	memset(acct, 0, sizeof(*acct));
	if (actid == NULL || actid[0] == '\0')
		return registry_fail("empty account id");
	if ((acct->as_master = registry_mapped(ctx, 1, actid,
	    &acct->master, NULL, 0)) == -1 ||
	    (acct->as_client = registry_mapped(ctx, 0, actid,
	    &acct->client, acct->master_actid,
	    sizeof(acct->master_actid))) == -1)
		return -1;
	if (!acct->as_client || acct->master_actid[0] != '\0')
		return 0;
	if ((r = registry_hget(ctx, keys_client_master(), actid)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING)
		snprintf(acct->master_actid, sizeof(acct->master_actid), "%s",
		    r->str);
	freeReplyObject(r);
	return 0;
}

int
registry_check(redisContext *ctx, long long max_per_master,
    long long max_per_client, struct registry_totals *totals,
    registry_line_cb *cb, void *arg)
{
	struct scripts_call c;
	redisReply *r;
	int n;

	if (scripts_call_check(&c, max_per_master, max_per_client) == -1) {
		registry_fail("check: bad arguments");
		return -1;
	}
	if ((r = registry_eval(ctx, &c)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) {
		registry_fail("check: unexpected answer");
		freeReplyObject(r);
		return -1;
	}
	for (size_t i = 0; i < 3; i++)
		if (r->element[i]->type != REDIS_REPLY_INTEGER) {
			registry_fail("check: unexpected answer");
			freeReplyObject(r);
			return -1;
		}
	totals->masters = r->element[0]->integer;
	totals->clients = r->element[1]->integer;
	totals->instances = r->element[2]->integer;
	for (size_t i = 3; i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			cb(r->element[i]->str, arg);
	n = (int)(r->elements - 3);
	freeReplyObject(r);
	return n;
}
