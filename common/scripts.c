/*
 * scripts: the placement and registry Lua scripts (see scripts.h), their SHA1
 * digests (OpenSSL EVP) and their EVALSHA command lines.
 *
 * Each script is one decision and runs atomically in Redis, so the rules hold
 * under any interleaving of callers: an account has at most one placement per
 * role, an instance's count equals the accounts mapped to it and never passes
 * the cap it was placed under, a master's tracking array has no duplicates,
 * masterCount and clientCount equal the entries of master_mapping and
 * client_mapping.  Scripts do not roll back on error, so each one validates
 * its arguments before its first write, and counters are written with HSET of
 * a value computed in Lua (a damaged counter reads as 0 rather than failing
 * HINCRBY half way).  Placement reads only the live sets, the counts and the
 * one chosen record, never every instance.  Changes that make a cached
 * placement stale are published on the routing channel from inside the
 * scripts: {"op":"release","role":..,"actid":..} and
 * {"op":"instance","id":..,"state":..} (state "removed" for a removal).
 *
 * Talks to nobody: placement.c and registry.c send the command lines.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/keys.h"
#include "common/scripts.h"

/*
 * The sources, one file each in common/lua/, embedded at build time by
 * scripts/lua2c as SCRIPTS_LUA_<NAME>.  Each EVAL is self-contained, so a
 * script is sent with the helpers it uses in front of it: prelude.lua
 * (every script but tracking_flush, metrics_flush and status, which use
 * none of it), and
 * place_helpers.lua for the two placement scripts, which place a batch of
 * accounts in order, one decision each exactly as if one script ran per
 * account, reading the live instances once per batch.
 */
#include "common/scripts_lua.h"

/* What one tracking_flush call spends at most (and one array more), in
 * bytes of arrays read and written: about half a millisecond of Redis. */
#define SCRIPTS_TRACKING_BUDGET	"65536"

#define PRELUDE		SCRIPTS_LUA_PRELUDE
#define PLACE		SCRIPTS_LUA_PRELUDE SCRIPTS_LUA_PLACE_HELPERS

static struct {
	const char	*name;
	const char	*source;
	char		 sha[41];
} scripts[SCRIPTS_COUNT] = {
	[SCRIPTS_PLACE_MASTER] = { "place_master",
	    PLACE SCRIPTS_LUA_PLACE_MASTER, "" },
	[SCRIPTS_PLACE_CLIENT] = { "place_client",
	    PLACE SCRIPTS_LUA_PLACE_CLIENT, "" },
	[SCRIPTS_RELEASE] = { "release", PRELUDE SCRIPTS_LUA_RELEASE, "" },
	[SCRIPTS_LOCATE] = { "locate", PRELUDE SCRIPTS_LUA_LOCATE, "" },
	[SCRIPTS_TRACKING_FLUSH] = { "tracking_flush",
	    SCRIPTS_LUA_TRACKING_FLUSH, "" },
	[SCRIPTS_INSTANCE_PUT] = { "instance_put",
	    PRELUDE SCRIPTS_LUA_INSTANCE_PUT, "" },
	[SCRIPTS_INSTANCE_STATE] = { "instance_state",
	    PRELUDE SCRIPTS_LUA_INSTANCE_STATE, "" },
	[SCRIPTS_INSTANCE_REMOVE] = { "instance_remove",
	    PRELUDE SCRIPTS_LUA_INSTANCE_REMOVE, "" },
	[SCRIPTS_INSTANCE_RETIRE] = { "instance_retire",
	    PRELUDE SCRIPTS_LUA_INSTANCE_RETIRE, "" },
	[SCRIPTS_HEALTH_RECORD] = { "health_record",
	    PRELUDE SCRIPTS_LUA_HEALTH_RECORD, "" },
	[SCRIPTS_LEASE] = { "lease", PRELUDE SCRIPTS_LUA_LEASE, "" },
	[SCRIPTS_FLEET] = { "fleet", PRELUDE SCRIPTS_LUA_FLEET, "" },
	[SCRIPTS_SWEEP] = { "sweep", PRELUDE SCRIPTS_LUA_SWEEP, "" },
	[SCRIPTS_CHECK] = { "check", PRELUDE SCRIPTS_LUA_CHECK, "" },
	[SCRIPTS_NOTIFY] = { "notify", PRELUDE SCRIPTS_LUA_NOTIFY, "" },
	[SCRIPTS_SCHEDULE] = { "schedule", PRELUDE SCRIPTS_LUA_SCHEDULE, "" },
	[SCRIPTS_DAILY_RESET] = { "daily_reset",
	    PRELUDE SCRIPTS_LUA_DAILY_RESET, "" },
	[SCRIPTS_METRICS_FLUSH] = { "metrics_flush",
	    SCRIPTS_LUA_METRICS_FLUSH, "" },
	[SCRIPTS_STATUS] = { "status", SCRIPTS_LUA_STATUS, "" },
};

#undef PRELUDE
#undef PLACE

static int	scripts_ready;

int
scripts_init(void)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;

	if (scripts_ready)
		return 0;
	for (int i = 0; i < SCRIPTS_COUNT; i++) {
		if (EVP_Digest(scripts[i].source, strlen(scripts[i].source), md,
		    &len, EVP_sha1(), NULL) != 1 || len != 20)
			return -1;
		for (unsigned int j = 0; j < len; j++)
			snprintf(scripts[i].sha + 2 * j, 3, "%02x", md[j]);
	}
	scripts_ready = 1;
	return 0;
}

const char *
scripts_name(enum scripts_id id)
{
	return (unsigned int)id < SCRIPTS_COUNT ? scripts[id].name : "?";
}

const char *
scripts_source(enum scripts_id id)
{
	return (unsigned int)id < SCRIPTS_COUNT ? scripts[id].source : "";
}

const char *
scripts_sha(enum scripts_id id)
{
	return (unsigned int)id < SCRIPTS_COUNT ? scripts[id].sha : "";
}

int
scripts_state_valid(const char *state)
{
	static const char *const states[] = { "pending", "running", "unhealthy",
	    "draining", "terminating", "terminated" };

	if (state == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(state, states[i]) == 0)
			return 1;
	return 0;
}

/* Start c as "EVALSHA <sha> <nkeys>".  0, or -1 before keys_init or if the
 * digests cannot be computed. */
static int
scripts_call_begin(struct scripts_call *c, enum scripts_id id, int nkeys)
{
	memset(c, 0, sizeof(*c));
	if (scripts_init() == -1 || keys_instance_details()[0] == '\0')
		return -1;
	c->id = id;
	snprintf(c->numkeys, sizeof(c->numkeys), "%d", nkeys);
	c->argv[0] = "EVALSHA";
	c->argv[1] = scripts[id].sha;
	c->argv[2] = c->numkeys;
	c->argc = 3;
	for (int i = 0; i < 3; i++)
		c->argvlen[i] = strlen(c->argv[i]);
	return 0;
}

/* Append one key or argument; NULL is refused.  0 or -1. */
static int
scripts_call_push(struct scripts_call *c, const char *s)
{
	if (s == NULL || c->argc == SCRIPTS_ARGV_MAX)
		return -1;
	c->argv[c->argc] = s;
	c->argvlen[c->argc] = strlen(s);
	c->argc++;
	return 0;
}

static int
scripts_nonempty(const char *s)
{
	return s != NULL && s[0] != '\0';
}

int
scripts_call_place_masters(struct scripts_call *c, long long max_per_master,
    const char *const *actids, size_t n)
{
	if (n == 0 || n > SCRIPTS_BATCH_MAX ||
	    scripts_call_begin(c, SCRIPTS_PLACE_MASTER, 5) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", max_per_master);
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_master_mapping());
	scripts_call_push(c, keys_live_master());
	scripts_call_push(c, keys_global_state());
	scripts_call_push(c, c->number);
	scripts_call_push(c, keys_routing_channel());
	scripts_call_push(c, keys_instance_accounts_prefix());
	for (size_t i = 0; i < n; i++)
		if (!scripts_nonempty(actids[i]) ||
		    scripts_call_push(c, actids[i]) == -1)
			return -1;
	return 0;
}

int
scripts_call_place_clients(struct scripts_call *c, long long max_per_client,
    const char *const *actids, const char *const *masters, size_t n)
{
	if (n == 0 || n > SCRIPTS_BATCH_MAX ||
	    scripts_call_begin(c, SCRIPTS_PLACE_CLIENT, 7) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", max_per_client);
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_client_mapping());
	scripts_call_push(c, keys_live_client());
	scripts_call_push(c, keys_global_state());
	scripts_call_push(c, keys_client_master());
	scripts_call_push(c, keys_tracking_due());
	scripts_call_push(c, c->number);
	scripts_call_push(c, keys_client_spread());
	scripts_call_push(c, keys_routing_channel());
	scripts_call_push(c, keys_instance_accounts_prefix());
	scripts_call_push(c, keys_tracking_pending_prefix());
	for (size_t i = 0; i < n; i++)
		if (!scripts_nonempty(actids[i]) || !scripts_nonempty(masters[i]) ||
		    scripts_call_push(c, actids[i]) == -1 ||
		    scripts_call_push(c, masters[i]) == -1)
			return -1;
	return 0;
}

int
scripts_call_place_master(struct scripts_call *c, const char *actid,
    long long max_per_master)
{
	return scripts_call_place_masters(c, max_per_master, &actid, 1);
}

int
scripts_call_place_client(struct scripts_call *c, const char *actid,
    const char *master, long long max_per_client)
{
	return scripts_call_place_clients(c, max_per_client, &actid, &master, 1);
}

/* release, locate and sweep take the same KEYS and ARGV (sweep: cursor and
 * count in place of actid and master). */
static int
scripts_call_account(struct scripts_call *c, enum scripts_id id,
    const char *role, const char *actid, const char *master)
{
	int is_master;

	if (role == NULL || (strcmp(role, "master") != 0 &&
	    strcmp(role, "client") != 0) || !scripts_nonempty(actid) ||
	    scripts_call_begin(c, id, 6) == -1)
		return -1;
	is_master = strcmp(role, "master") == 0;
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, is_master ? keys_master_mapping() :
	    keys_client_mapping());
	scripts_call_push(c, keys_global_state());
	scripts_call_push(c, keys_client_master());
	scripts_call_push(c, keys_tracking_due());
	scripts_call_push(c, role);
	scripts_call_push(c, actid);
	scripts_call_push(c, master != NULL ? master : "");
	scripts_call_push(c, keys_client_spread());
	scripts_call_push(c, keys_routing_channel());
	scripts_call_push(c, keys_instance_accounts_prefix());
	return scripts_call_push(c, keys_tracking_pending_prefix());
}

int
scripts_call_release(struct scripts_call *c, const char *role,
    const char *actid, const char *master, const char *instance)
{
	if (scripts_call_account(c, SCRIPTS_RELEASE, role, actid, master) == -1)
		return -1;
	return scripts_call_push(c, instance != NULL ? instance : "");
}

int
scripts_call_sweep(struct scripts_call *c, const char *role,
    const char *cursor, int count, int keep_terminated)
{
	if (count < 1 ||
	    scripts_call_account(c, SCRIPTS_SWEEP, role, cursor, "") == -1)
		return -1;
	/* the count stands where a release has the master (ARGV 3) */
	snprintf(c->number2, sizeof(c->number2), "%d", count);
	c->argv[c->argc - 5] = c->number2;
	c->argvlen[c->argc - 5] = strlen(c->number2);
	return scripts_call_push(c, keep_terminated ? "1" : "0");
}

int
scripts_call_locate(struct scripts_call *c, const char *role,
    const char *actid, const char *master)
{
	return scripts_call_account(c, SCRIPTS_LOCATE, role, actid, master);
}

int
scripts_call_check(struct scripts_call *c, long long max_per_master,
    long long max_per_client)
{
	if (scripts_call_begin(c, SCRIPTS_CHECK, 10) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", max_per_master);
	snprintf(c->number2, sizeof(c->number2), "%lld", max_per_client);
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_master_mapping());
	scripts_call_push(c, keys_client_mapping());
	scripts_call_push(c, keys_client_master());
	scripts_call_push(c, keys_global_state());
	scripts_call_push(c, keys_client_master_tracking());
	scripts_call_push(c, keys_tracking_due());
	scripts_call_push(c, keys_live_master());
	scripts_call_push(c, keys_live_client());
	scripts_call_push(c, keys_client_spread());
	scripts_call_push(c, c->number);
	scripts_call_push(c, c->number2);
	scripts_call_push(c, keys_instance_accounts_prefix());
	return scripts_call_push(c, keys_tracking_pending_prefix());
}

int
scripts_call_tracking_flush(struct scripts_call *c, int max, int ms_per_kib)
{
	if (max < 1 || ms_per_kib < 0 ||
	    scripts_call_begin(c, SCRIPTS_TRACKING_FLUSH, 3) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%d", max);
	snprintf(c->number2, sizeof(c->number2), "%d", ms_per_kib);
	scripts_call_push(c, keys_client_master_tracking());
	scripts_call_push(c, keys_tracking_due());
	scripts_call_push(c, keys_tracking_dirty());
	scripts_call_push(c, c->number);
	scripts_call_push(c, SCRIPTS_TRACKING_BUDGET);
	scripts_call_push(c, c->number2);
	scripts_call_push(c, keys_tracking_pending_prefix());
	return scripts_call_push(c, keys_client_list_prefix());
}

int
scripts_call_instance_put(struct scripts_call *c, const char *id,
    const char *json)
{
	if (id == NULL || !scripts_nonempty(json) ||
	    scripts_call_begin(c, SCRIPTS_INSTANCE_PUT, 5) == -1)
		return -1;
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_live_master());
	scripts_call_push(c, keys_live_client());
	scripts_call_push(c, keys_launch_seq());
	scripts_call_push(c, id);
	scripts_call_push(c, json);
	return scripts_call_push(c, keys_routing_channel());
}

int
scripts_call_instance_state(struct scripts_call *c, const char *id,
    const char *state)
{
	return scripts_call_instance_move(c, id, "", state);
}

int
scripts_call_instance_move(struct scripts_call *c, const char *id,
    const char *from, const char *state)
{
	if (!scripts_nonempty(id) || !scripts_state_valid(state) ||
	    from == NULL || (from[0] != '\0' && !scripts_state_valid(from)) ||
	    scripts_call_begin(c, SCRIPTS_INSTANCE_STATE, 3) == -1)
		return -1;
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_live_master());
	scripts_call_push(c, keys_live_client());
	scripts_call_push(c, id);
	scripts_call_push(c, state);
	scripts_call_push(c, keys_routing_channel());
	return scripts_call_push(c, from);
}

int
scripts_call_instance_retire(struct scripts_call *c, const char *id,
    const char *from)
{
	if (!scripts_nonempty(id) || !scripts_state_valid(from) ||
	    scripts_call_begin(c, SCRIPTS_INSTANCE_RETIRE, 6) == -1)
		return -1;
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_live_master());
	scripts_call_push(c, keys_live_client());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_master_mapping());
	scripts_call_push(c, keys_client_mapping());
	scripts_call_push(c, id);
	scripts_call_push(c, keys_routing_channel());
	scripts_call_push(c, keys_instance_accounts_prefix());
	return scripts_call_push(c, from);
}

int
scripts_call_health_record(struct scripts_call *c, long long history,
    long long fall, long long rise, const char *hold)
{
	if (history < 1 || fall < 1 || rise < 1 || !scripts_nonempty(hold) ||
	    scripts_call_begin(c, SCRIPTS_HEALTH_RECORD, 4) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", history);
	snprintf(c->number2, sizeof(c->number2), "%lld", fall);
	snprintf(c->number3, sizeof(c->number3), "%lld", rise);
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_live_master());
	scripts_call_push(c, keys_live_client());
	scripts_call_push(c, keys_health_streak());
	scripts_call_push(c, keys_health_history_prefix());
	scripts_call_push(c, keys_health_stats_prefix());
	scripts_call_push(c, c->number);
	scripts_call_push(c, c->number2);
	scripts_call_push(c, c->number3);
	scripts_call_push(c, keys_routing_channel());
	return scripts_call_push(c, hold);
}

int
scripts_call_health_add(struct scripts_call *c, const char *id, int ok,
    const char *json)
{
	/* Three for the result, two kept for a fence. */
	if (c->id != SCRIPTS_HEALTH_RECORD || !scripts_nonempty(id) ||
	    !scripts_nonempty(json) || c->argc + 5 > SCRIPTS_ARGV_MAX)
		return -1;
	scripts_call_push(c, id);
	scripts_call_push(c, ok ? "1" : "0");
	return scripts_call_push(c, json);
}

int
scripts_call_instance_remove(struct scripts_call *c, const char *id)
{
	if (!scripts_nonempty(id) ||
	    scripts_call_begin(c, SCRIPTS_INSTANCE_REMOVE, 4) == -1)
		return -1;
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_live_master());
	scripts_call_push(c, keys_live_client());
	scripts_call_push(c, id);
	return scripts_call_push(c, keys_routing_channel());
}

int
scripts_call_fence(struct scripts_call *c, const char *lease_key,
    const char *token)
{
	int nkeys = atoi(c->numkeys), at = 3 + nkeys;

	if ((c->id != SCRIPTS_INSTANCE_PUT && c->id != SCRIPTS_INSTANCE_STATE &&
	    c->id != SCRIPTS_INSTANCE_REMOVE && c->id != SCRIPTS_INSTANCE_RETIRE &&
	    c->id != SCRIPTS_HEALTH_RECORD && c->id != SCRIPTS_NOTIFY) ||
	    !scripts_nonempty(lease_key) ||
	    !scripts_nonempty(token) || c->argc + 2 > SCRIPTS_ARGV_MAX ||
	    nkeys < 1 || nkeys > 98 || at > c->argc)
		return -1;
	memmove(&c->argv[at + 1], &c->argv[at],
	    (size_t)(c->argc - at) * sizeof(c->argv[0]));
	memmove(&c->argvlen[at + 1], &c->argvlen[at],
	    (size_t)(c->argc - at) * sizeof(c->argvlen[0]));
	c->argv[at] = lease_key;
	c->argvlen[at] = strlen(lease_key);
	c->argc++;
	snprintf(c->numkeys, sizeof(c->numkeys), "%u",
	    (unsigned int)(nkeys + 1) % 100);	/* nkeys < 99, checked */
	c->argvlen[2] = strlen(c->numkeys);
	return scripts_call_push(c, token);
}

int
scripts_call_lease(struct scripts_call *c, const char *lease_key,
    const char *fence_key, const char *holder, long long ttl_ms,
    const char *op, const char *mine)
{
	if (!scripts_nonempty(lease_key) || !scripts_nonempty(fence_key) ||
	    !scripts_nonempty(holder) || ttl_ms < 1 || op == NULL ||
	    mine == NULL || scripts_call_begin(c, SCRIPTS_LEASE, 2) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", ttl_ms);
	scripts_call_push(c, lease_key);
	scripts_call_push(c, fence_key);
	scripts_call_push(c, holder);
	scripts_call_push(c, c->number);
	scripts_call_push(c, op);
	return scripts_call_push(c, mine);
}

/* The KEYS and the operation of every notify call. */
static int
scripts_call_notify(struct scripts_call *c, const char *op)
{
	if (scripts_call_begin(c, SCRIPTS_NOTIFY, 2) == -1)
		return -1;
	scripts_call_push(c, keys_notify_outbox());
	scripts_call_push(c, keys_notify_state());
	return scripts_call_push(c, op);
}

int
scripts_call_notify_push(struct scripts_call *c, long long bound,
    const char *channel, const char *json)
{
	if (bound < 1 || !scripts_nonempty(channel) || !scripts_nonempty(json) ||
	    scripts_call_notify(c, "push") == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", bound);
	scripts_call_push(c, c->number);
	scripts_call_push(c, channel);
	return scripts_call_push(c, json);
}

int
scripts_call_notify_peek(struct scripts_call *c, long long n)
{
	if (n < 1 || scripts_call_notify(c, "peek") == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", n);
	return scripts_call_push(c, c->number);
}

int
scripts_call_notify_ack(struct scripts_call *c, long long head, long long n,
    int refused)
{
	if (head < 0 || n < 0 || scripts_call_notify(c, "ack") == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", head);
	snprintf(c->number2, sizeof(c->number2), "%lld", n);
	scripts_call_push(c, c->number);
	scripts_call_push(c, c->number2);
	return scripts_call_push(c, refused ? "1" : "0");
}

/* The KEYS and first ARGV of every fleet call. */
static int
scripts_call_fleet(struct scripts_call *c, const char *token, const char *op)
{
	if (!scripts_nonempty(token) ||
	    scripts_call_begin(c, SCRIPTS_FLEET, 4) == -1)
		return -1;
	scripts_call_push(c, keys_lease_scaler());
	scripts_call_push(c, keys_fleet());
	scripts_call_push(c, keys_launches());
	scripts_call_push(c, keys_name_seq());
	scripts_call_push(c, token);
	return scripts_call_push(c, op);
}

int
scripts_call_fleet_reserve(struct scripts_call *c, const char *token,
    const char *launch, const char *role, const char *json)
{
	if (!scripts_nonempty(launch) || !scripts_nonempty(role) ||
	    !scripts_nonempty(json) ||
	    scripts_call_fleet(c, token, "reserve") == -1)
		return -1;
	scripts_call_push(c, launch);
	scripts_call_push(c, role);
	return scripts_call_push(c, json);
}

int
scripts_call_fleet_forget(struct scripts_call *c, const char *token,
    const char *launch)
{
	if (!scripts_nonempty(launch) ||
	    scripts_call_fleet(c, token, "forget") == -1)
		return -1;
	return scripts_call_push(c, launch);
}

int
scripts_call_fleet_desire(struct scripts_call *c, const char *token,
    const char *const *pairs, size_t n)
{
	if (n == 0 || n % 2 != 0 ||
	    scripts_call_fleet(c, token, "desire") == -1)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (pairs[i] == NULL || scripts_call_push(c, pairs[i]) == -1)
			return -1;
	return 0;
}

int
scripts_call_schedule(struct scripts_call *c, const char *lease_key,
    const char *token, const char *op, const char *now, const char *host,
    long long keep, const char *const *args, size_t n)
{
	if (!scripts_nonempty(lease_key) || !scripts_nonempty(token) ||
	    !scripts_nonempty(op) || !scripts_nonempty(now) ||
	    !scripts_nonempty(host) || keep < 1 ||
	    scripts_call_begin(c, SCRIPTS_SCHEDULE, 3) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", keep);
	scripts_call_push(c, lease_key);
	scripts_call_push(c, keys_schedule_state());
	scripts_call_push(c, keys_fleet());
	scripts_call_push(c, token);
	scripts_call_push(c, op);
	scripts_call_push(c, keys_schedule_runs_prefix());
	scripts_call_push(c, now);
	scripts_call_push(c, host);
	scripts_call_push(c, c->number);
	for (size_t i = 0; i < n; i++)
		if (scripts_call_push(c, args[i]) == -1)
			return -1;
	return 0;
}

int
scripts_call_daily_reset(struct scripts_call *c, const char *lease_key,
    const char *token, const char *archive, long long ttl_ms)
{
	if (!scripts_nonempty(lease_key) || !scripts_nonempty(token) ||
	    !scripts_nonempty(archive) || ttl_ms < 1 ||
	    scripts_call_begin(c, SCRIPTS_DAILY_RESET, 12) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", ttl_ms);
	scripts_call_push(c, lease_key);
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_master_mapping());
	scripts_call_push(c, keys_client_mapping());
	scripts_call_push(c, keys_client_master());
	scripts_call_push(c, keys_global_state());
	scripts_call_push(c, keys_client_master_tracking());
	scripts_call_push(c, keys_tracking_due());
	scripts_call_push(c, keys_name_seq());
	scripts_call_push(c, keys_tracking_built());
	scripts_call_push(c, keys_tracking_dirty());
	scripts_call_push(c, keys_tracking_seq());
	scripts_call_push(c, token);
	scripts_call_push(c, archive);
	scripts_call_push(c, c->number);
	scripts_call_push(c, keys_client_spread());
	scripts_call_push(c, keys_client_list_prefix());
	scripts_call_push(c, keys_instance_accounts_prefix());
	scripts_call_push(c, keys_routing_channel());
	return scripts_call_push(c, keys_tracking_pending_prefix());
}

int
scripts_call_status(struct scripts_call *c, const char *worker_pattern,
    const char *lease_prefix, long long probes, const char *const *jobs,
    size_t n)
{
	if (!scripts_nonempty(worker_pattern) || !scripts_nonempty(lease_prefix) ||
	    probes < 0 || n > 64 || scripts_call_begin(c, SCRIPTS_STATUS, 6) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", probes);
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_fleet());
	scripts_call_push(c, keys_schedule_state());
	scripts_call_push(c, keys_events_recent());
	scripts_call_push(c, keys_health_panic());
	scripts_call_push(c, worker_pattern);
	scripts_call_push(c, lease_prefix);
	scripts_call_push(c, keys_health_history_prefix());
	scripts_call_push(c, c->number);
	scripts_call_push(c, keys_schedule_runs_prefix());
	for (size_t i = 0; i < n; i++)
		if (scripts_call_push(c, jobs[i]) == -1)
			return -1;
	return 0;
}

int
scripts_call_metrics_flush(struct scripts_call *c, const char *hash,
    const char *seq_key, const char *proc, unsigned long long seq,
    long long ttl_ms, const char *batch)
{
	if (!scripts_nonempty(hash) || !scripts_nonempty(seq_key) ||
	    !scripts_nonempty(proc) || ttl_ms < 1 || batch == NULL ||
	    scripts_call_begin(c, SCRIPTS_METRICS_FLUSH, 2) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%llu", seq);
	snprintf(c->number2, sizeof(c->number2), "%lld", ttl_ms);
	scripts_call_push(c, hash);
	scripts_call_push(c, seq_key);
	scripts_call_push(c, proc);
	scripts_call_push(c, c->number);
	scripts_call_push(c, c->number2);
	return scripts_call_push(c, batch);
}

void
scripts_call_by_source(struct scripts_call *c)
{
	c->argv[0] = "EVAL";
	c->argvlen[0] = 4;
	c->argv[1] = scripts[c->id].source;
	c->argvlen[1] = strlen(scripts[c->id].source);
}

const char *
scripts_call_verb(const struct scripts_call *c)
{
	return c->argv[0] != NULL ? c->argv[0] : "EVALSHA";
}

int
scripts_reply_is_noscript(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0;
}
