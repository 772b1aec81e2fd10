/*
 * keys: every Redis key and channel name olb uses is built here and nowhere
 * else, from redis.prefix and redis.events_channel.  See docs/ARCHITECTURE.md
 * for what each key holds.  Functions that fill a caller's buffer return 0, or
 * -1 (buffer left holding "") if the name does not fit.
 */
#ifndef OLB_KEYS_H
#define OLB_KEYS_H

#include <stddef.h>

#define KEYS_NAME_MAX	256	/* longest fixed name, with its NUL */

/* Remember the prefix ("loadbalancer:") and events channel and build the
 * fixed names.  0, or -1 if either is NULL or too long (KEYS_NAME_MAX). */
int		 keys_init(const char *prefix, const char *events_channel);

const char	*keys_events_channel(void);
/* "<prefix>worker:<host>:<role>": heartbeat of one worker (string, TTL). */
int		 keys_worker(char *buf, size_t size, const char *host, const char *role);
/* "<prefix>worker:*": pattern for SCAN over heartbeats. */
int		 keys_worker_pattern(char *buf, size_t size);

/* The keys of the earlier service (SPEC §8), "<prefix>instance_details" and so
 * on; valid after keys_init. */
const char	*keys_instance_details(void);
const char	*keys_instance_user_counts(void);
const char	*keys_master_mapping(void);
const char	*keys_client_master_tracking(void);
const char	*keys_global_state(void);
/* "OrderListenerHealthManager:history:<id>" and ":stats:<id>": not prefixed,
 * as the earlier service named them.  0, or -1 if buf is too small. */
int		 keys_health_history(char *buf, size_t size, const char *instance_id);
int		 keys_health_stats(char *buf, size_t size, const char *instance_id);

/* Placement and instance registry (common/scripts.c), valid after keys_init:
 * "<prefix>client_mapping" (hash client actid -> instance id),
 * "<prefix>client_master" (hash client actid -> its master actid),
 * "<prefix>live:master" and "<prefix>live:client" (sorted sets of running
 * instance ids, score = launch order), "<prefix>launch_seq" (counter). */
const char	*keys_prefix(void);
const char	*keys_client_mapping(void);
const char	*keys_client_master(void);
const char	*keys_live_master(void);
const char	*keys_live_client(void);
const char	*keys_launch_seq(void);
/* "<prefix>client_spread": hash master actid -> a JSON object, instance id
 * -> n of its clients there (and the field "\nlayout": olb's earlier
 * layouts, a hash per master "<prefix>client_spread:<master actid>", then
 * fields master actid "\n" instance id, then "\n<id> <n>" text per master,
 * were moved in; common/lua/prelude.lua). */
const char	*keys_client_spread(void);
/* The health worker's (workers/health/health.c): the earlier service's
 * "OrderListenerHealthManager:history:" + id (list of probe records,
 * newest first) and "OrderListenerHealthManager:stats:" + id (hash
 * totalSuccesses, totalFailures, lastCheckedAt), both without redis.prefix
 * (SPEC §8), and "<prefix>health:streak" (hash id -> consecutive
 * successes, or failures as a negative number). */
const char	*keys_health_history_prefix(void);
const char	*keys_health_stats_prefix(void);
const char	*keys_health_streak(void);
/* "<prefix>health:panic": hash role -> ms the health worker's panic of
 * that role began (SPEC §7); the scaler replaces none of its instances
 * meanwhile. */
const char	*keys_health_panic(void);
/* The webhook's outbox (workers/health/notify.c): "<prefix>notify:outbox",
 * a list of notify-level events (JSON, oldest first) that every publisher
 * appends to, bounded by notify.queue; "<prefix>notify:state", a hash:
 * head (entries ever removed from the front), dropped (of those, the ones
 * never posted). */
const char	*keys_notify_outbox(void);
const char	*keys_notify_state(void);
/* The scheduler (workers/scheduler/scheduler.c): "<prefix>schedule:state"
 * (hash: checked, the scheduler's clock in ms up to which every job's runs
 * were handled; current, "job@ms" of the run under way; request:<job>,
 * when olbctl asked for a run now), "<prefix>schedule:runs:" + job (hash
 * scheduled ms -> JSON run record, the newest scheduler.history kept), and
 * "<prefix>archive:" + "YYYY-MM-DD:master_mapping" / ":client_mapping"
 * (a day's placements, renamed there by the daily reset, with a TTL). */
const char	*keys_schedule_state(void);
/* "<prefix>events:recent": list of the latest notify and error events,
 * newest first (EVENTS_RECENT of them), for the status page. */
const char	*keys_events_recent(void);
const char	*keys_schedule_runs_prefix(void);
const char	*keys_archive_prefix(void);
/* "<prefix>instance_accounts:" + instance id: set of the actids placed on
 * that instance, kept with the mappings by the placement scripts (a
 * drained instance is terminated only when its set proves it empty). */
const char	*keys_instance_accounts_prefix(void);
/* The changes to client_master_tracking not yet applied (tracking_flush):
 * "<prefix>tracking_pending:" + a master actid (list of op, client actid
 * pairs, in order) and "<prefix>tracking_due" (sorted set: master actid ->
 * when (ms) its pending list may be applied). */
const char	*keys_tracking_pending_prefix(void);
const char	*keys_tracking_due(void);
/* The earlier tracking layout, read once by tracking_flush and deleted by
 * daily_reset: "<prefix>client_list:" + a master actid (sorted set of its
 * clients), "<prefix>tracking_dirty" (set of masters whose array is stale),
 * "<prefix>tracking_seq" and "<prefix>tracking_built". */
const char	*keys_client_list_prefix(void);
const char	*keys_tracking_dirty(void);
const char	*keys_tracking_seq(void);
const char	*keys_tracking_built(void);
/* The scaler (workers/scaler/scaler.c), valid after keys_init:
 * "<prefix>fleet" (hash: the desired fleet: state up|down, masters, clients,
 * and the scaler's lastScaleOut:<role> times),
 * "<prefix>launches" (hash launch token -> JSON reservation of a launch in
 * flight), "<prefix>deployment" (string: the deployment's identity, made
 * once, on every instance it launches), "<prefix>name_seq" (hash role ->
 * last Master_/Client_Listener-N),
 * "<prefix>lease:scaler" (string, PX: the holder's token) and
 * "<prefix>lease:scaler:fence" (counter). */
const char	*keys_fleet(void);
const char	*keys_launches(void);
const char	*keys_deployment(void);
const char	*keys_name_seq(void);
const char	*keys_lease_scaler(void);
const char	*keys_lease_scaler_fence(void);
/* The lease of any singleton duty (workers/lease.c): "<prefix>lease:<duty>"
 * and its fence counter "<prefix>lease:<duty>:fence".  0 or -1. */
int		 keys_lease(char *buf, size_t size, const char *duty);
int		 keys_lease_fence(char *buf, size_t size, const char *duty);
/* "<prefix>routing": placement cache invalidation for the proxy workers;
 * "<prefix>routing:seq": the number of the last message published there (the
 * scripts derive it as channel .. ":seq"). */
const char	*keys_routing_channel(void);
const char	*keys_routing_seq(void);
/* "<prefix>routing:ping:<host>:<pid>": the channel on which one proxy worker
 * checks that its routing subscription still receives.  0 or -1. */
int		 keys_routing_ping(char *buf, size_t size, const char *host,
		    long pid);

#endif
