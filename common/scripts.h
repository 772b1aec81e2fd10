/*
 * scripts: the Lua scripts that make every placement and instance decision in
 * Redis (SPEC §4), one script per decision, so any number of proxy workers,
 * hosts and olbctl agree without locks.  This module holds their sources and
 * SHA1 digests and builds their EVALSHA command lines (KEYS from
 * common/keys.c); it sends nothing itself.  workers/proxy/placement.c runs them on
 * the proxies' async connections, common/registry.c on olbctl's blocking one.
 *
 * The client scripts build "<prefix>tracking_pending:<master>" and
 * "<prefix>instance_accounts:<id>" names from ARGV prefixes, so those keys
 * are not declared: not Redis Cluster safe, which is fine, as olb uses one
 * Redis (or Sentinel).  See docs/ARCHITECTURE.md.
 */
#ifndef OLB_SCRIPTS_H
#define OLB_SCRIPTS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

enum scripts_id {
	SCRIPTS_PLACE_MASTER,	/* max, actids -> {seq, per actid {id, ip, port,
				   how} | nil} */
	SCRIPTS_PLACE_CLIENT,	/* max, (actid, master)s -> same */
	SCRIPTS_RELEASE,	/* role, actid, master, instance -> {1 | 0, seq} */
	SCRIPTS_LOCATE,		/* role, actid, master -> {seq, {id, ip, port,
				   how} | nil} */
	SCRIPTS_TRACKING_FLUSH,	/* max -> 1 if a master is still due */
	SCRIPTS_INSTANCE_PUT,	/* id, json -> {id, launchOrder} */
	SCRIPTS_INSTANCE_STATE,	/* id, state -> previous state | nil */
	SCRIPTS_INSTANCE_REMOVE,/* id -> 1 | 0 */
	SCRIPTS_INSTANCE_RETIRE,/* id, from -> {previous, accounts} | nil */
	SCRIPTS_HEALTH_RECORD,	/* results -> {{id, from, to, n}...} */
	SCRIPTS_LEASE,		/* holder, ttl, take|drop, token -> {token, what, cur} */
	SCRIPTS_FLEET,		/* token, reserve|forget|desire, ... (the scaler) */
	SCRIPTS_SWEEP,		/* role, cursor, count -> {cursor, released} */
	SCRIPTS_CHECK,		/* caps -> {masters, clients, instances, diff...} */
	SCRIPTS_NOTIFY,		/* push|peek|ack the webhook's outbox */
	SCRIPTS_SCHEDULE,	/* token, plan|finish|desire (the scheduler) */
	SCRIPTS_DAILY_RESET,	/* token, archive, ttl -> {masters, clients} */
	SCRIPTS_METRICS_FLUSH,	/* process, seq, ttl, batch -> 1 | 0 */
	SCRIPTS_STATUS,		/* the status page's reads (read only) */
	SCRIPTS_COUNT
};

#define SCRIPTS_BATCH_MAX	64	/* accounts per placement script call */
#define SCRIPTS_ARGV_MAX	(16 + 2 * SCRIPTS_BATCH_MAX)

/*
 * One EVALSHA (or, after scripts_call_by_source, EVAL) command line for
 * redisCommandArgv or rconn_commandargv.  argv borrows the caller's strings:
 * they must live until the command is sent (hiredis copies them then).
 */
struct scripts_call {
	enum scripts_id	 id;
	int		 argc;
	const char	*argv[SCRIPTS_ARGV_MAX];
	size_t		 argvlen[SCRIPTS_ARGV_MAX];
	char		 numkeys[8];	/* owned text of argv[2] */
	char		 number[24];	/* owned text of a numeric argument */
	char		 number2[24];	/* and of a second one */
	char		 number3[24];	/* and a third */
};

/* Compute the SHA1 of every script (done on first use anyway).  0, or -1 if
 * OpenSSL fails. */
int		 scripts_init(void);
/* "place_master", ... for log lines. */
const char	*scripts_name(enum scripts_id id);
const char	*scripts_source(enum scripts_id id);
/* 40 lowercase hex digits; "" before a successful scripts_init. */
const char	*scripts_sha(enum scripts_id id);

/* 1 if state is one of pending, running, unhealthy, draining, terminating,
 * terminated (SPEC §8), else 0. */
int		 scripts_state_valid(const char *state);

/* Fill c for one script.  0, or -1 if an argument is NULL or empty where a
 * value is needed (master may be "" for a release), or keys_init was not
 * called. */
/* Place n (1..SCRIPTS_BATCH_MAX) accounts in one call, in order: the answer
 * is an array of the routing sequence when the script ran (see
 * workers/proxy/placement.h), a code per account, then id, ip and port of
 * each instance the codes name (common/lua/place_helpers.lua, answer_new;
 * read by placement_parse_batch). */
int		 scripts_call_place_masters(struct scripts_call *c,
		    long long max_per_master, const char *const *actids, size_t n);
int		 scripts_call_place_clients(struct scripts_call *c,
		    long long max_per_client, const char *const *actids,
		    const char *const *masters, size_t n);
/* One account (a batch of one). */
int		 scripts_call_place_master(struct scripts_call *c, const char *actid,
		    long long max_per_master);
int		 scripts_call_place_client(struct scripts_call *c, const char *actid,
		    const char *master, long long max_per_client);
/* role: "master" or "client"; instance: free the placement only if it is on
 * that instance (the one whose listener was removed), NULL or "" = any. */
int		 scripts_call_release(struct scripts_call *c, const char *role,
		    const char *actid, const char *master, const char *instance);
/* Free up to about count accounts of role whose instance is gone (no record,
 * or terminated unless keep_terminated), from HSCAN cursor ("0" to start) of
 * that role's mapping.  Answer {next cursor, released}. */
int		 scripts_call_sweep(struct scripts_call *c, const char *role,
		    const char *cursor, int count, int keep_terminated);
/* Where actid is placed, whatever its instance's state (an account of a
 * removed instance is released); role and master as for a release.  The
 * answer is {seq, place or nil}; how is "located" when the instance is not
 * live. */
int		 scripts_call_locate(struct scripts_call *c, const char *role,
		    const char *actid, const char *master);
/* Compare counts, mappings, client records, sets, spreads, tracking arrays,
 * global counters and live sets (caps 0: not checked): the answer is
 * {masters, clients, instances, then one line of text per difference}. */
int		 scripts_call_check(struct scripts_call *c,
		    long long max_per_master, long long max_per_client);
/* Apply the pending tracking changes of up to max (>= 1) masters that are
 * due to their client_master_tracking arrays, an array of b bytes at most
 * every b / 1024 * ms_per_kib (>= 0) ms; someone must call it now and then,
 * as the placement scripts only queue the changes.  The answer is 1 when a
 * master is left that is due now, else 0. */
int		 scripts_call_tracking_flush(struct scripts_call *c, int max,
		    int ms_per_kib);
/* id "" = assign "inst-<launch_seq>". */
int		 scripts_call_instance_put(struct scripts_call *c, const char *id,
		    const char *json);
int		 scripts_call_instance_state(struct scripts_call *c, const char *id,
		    const char *state);
/* The same, only if the instance is in state from now (the answer is then
 * from; any other answer means nothing changed). */
int		 scripts_call_instance_move(struct scripts_call *c, const char *id,
		    const char *from, const char *state);
int		 scripts_call_instance_remove(struct scripts_call *c, const char *id);
/* Move a drained instance (in state from) to terminating only if no
 * account is placed there: its set of accounts, checked against the
 * mapping, and its count.  Answer {previous state, accounts placed}. */
int		 scripts_call_instance_retire(struct scripts_call *c, const char *id,
		    const char *from);

/* A batch of the health worker's probe results: begin it, then add each
 * result (-1 when the call has no room left for one more and a fence).
 * hold: the roles in panic, whose running instances stay running however
 * many probes fail: "m", "c", "mc" or "-". */
int		 scripts_call_health_record(struct scripts_call *c,
		    long long history, long long fall, long long rise,
		    const char *hold);
int		 scripts_call_health_add(struct scripts_call *c, const char *id,
		    int ok, const char *json);

/* The webhook's outbox (common/lua/notify.lua): push one notify-level
 * event (and PUBLISH it on channel), keeping at most bound; peek at the
 * first n ({head, dropped, events}); ack n posted from head (refused: they
 * count as dropped).  An ack is fenced by the sender's lease. */
int		 scripts_call_notify_push(struct scripts_call *c, long long bound,
		    const char *channel, const char *json);
int		 scripts_call_notify_peek(struct scripts_call *c, long long n);
int		 scripts_call_notify_ack(struct scripts_call *c, long long head,
		    long long n, int refused);

/* Make an instance_put, _state, _remove or _retire call, a
 * health_record batch or a notify ack, a fenced one: refused by
 * Redis ("FENCED ...") unless lease_key still holds token.  Call last.
 * 0, or -1 if c has no room or is not one of those. */
int		 scripts_call_fence(struct scripts_call *c, const char *lease_key,
		    const char *token);

/* The lease of a singleton duty: op "take" (acquire or renew) or "drop";
 * mine is the token held, or a dead holder's token to replace, or "".
 * Answer {token or "", "acquired"|"renewed"|"held"|"released", current}. */
int		 scripts_call_lease(struct scripts_call *c, const char *lease_key,
		    const char *fence_key, const char *holder, long long ttl_ms,
		    const char *op, const char *mine);
/* The scaler's fleet writes, fenced by its lease token:
 * reserve a launch (answer: the instance name given), forget one (1 | 0),
 * or set fields of the desired fleet (pairs: field, value, ...; n even). */
int		 scripts_call_fleet_reserve(struct scripts_call *c,
		    const char *token, const char *launch, const char *role,
		    const char *json);
int		 scripts_call_fleet_forget(struct scripts_call *c,
		    const char *token, const char *launch);
int		 scripts_call_fleet_desire(struct scripts_call *c,
		    const char *token, const char *const *pairs, size_t n);

/* The scheduler's run records and desired fleet (common/lua/schedule.lua),
 * fenced by its lease: op "plan", "finish" or "desire" at now (the
 * scheduler's clock, ms, as text) by host, keeping keep records per job;
 * args (borrowed) are the op's own arguments, ARGV 7 on. */
int		 scripts_call_schedule(struct scripts_call *c,
		    const char *lease_key, const char *token, const char *op,
		    const char *now, const char *host, long long keep,
		    const char *const *args, size_t n);
/* The daily reset (common/lua/daily_reset.lua), fenced by the scheduler's
 * lease: archive is "<prefix>archive:YYYY-MM-DD:", kept ttl_ms. */
int		 scripts_call_daily_reset(struct scripts_call *c,
		    const char *lease_key, const char *token, const char *archive,
		    long long ttl_ms);

/* One process's counter increments (common/lua/metrics_flush.lua) into
 * hash, at most once per (proc, seq): seq_key remembers the last; batch
 * (borrowed) holds "<field> <delta>\n" lines.  Both keys live ttl_ms. */
int		 scripts_call_metrics_flush(struct scripts_call *c,
		    const char *hash, const char *seq_key, const char *proc,
		    unsigned long long seq, long long ttl_ms, const char *batch);

/* Everything the status page shows (common/lua/status.lua): the
 * heartbeats matching worker_pattern (keys_worker_pattern), the leases
 * under lease_prefix (keys_lease of ""), probes records per instance, and
 * the last run of each of jobs[0..n) (at most 64); all borrowed. */
int		 scripts_call_status(struct scripts_call *c,
		    const char *worker_pattern, const char *lease_prefix,
		    long long probes, const char *const *jobs, size_t n);

/* Turn c into EVAL <source>: after a NOSCRIPT error (the server restarted or
 * was flushed); EVAL also caches the script for the next EVALSHA. */
void		 scripts_call_by_source(struct scripts_call *c);
/* "EVALSHA" or "EVAL", for log lines. */
const char	*scripts_call_verb(const struct scripts_call *c);

/* 1 if r is the NOSCRIPT error of an EVALSHA, else 0 (r may be NULL). */
int		 scripts_reply_is_noscript(const redisReply *r);

#endif
