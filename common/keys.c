/*
 * keys: the one place Redis key and channel names are spelled (see keys.h).
 *
 * Fixed names are built once by keys_init into static buffers; names that
 * carry an identifier are formatted into the caller's buffer.  Talks to
 * nobody: callers pass the names to rconn commands.
 */
#include <stdarg.h>
#include <stdio.h>

#include "common/keys.h"

#define KEYS_HEALTH_PREFIX	"OrderListenerHealthManager:"

static struct {
	char	 prefix[KEYS_NAME_MAX];
	char	 events_channel[KEYS_NAME_MAX];
	char	 instance_details[KEYS_NAME_MAX];
	char	 instance_user_counts[KEYS_NAME_MAX];
	char	 master_mapping[KEYS_NAME_MAX];
	char	 client_master_tracking[KEYS_NAME_MAX];
	char	 global_state[KEYS_NAME_MAX];
	char	 client_mapping[KEYS_NAME_MAX];
	char	 client_master[KEYS_NAME_MAX];
	char	 live_master[KEYS_NAME_MAX];
	char	 live_client[KEYS_NAME_MAX];
	char	 launch_seq[KEYS_NAME_MAX];
	char	 client_spread[KEYS_NAME_MAX];
	char	 client_list_prefix[KEYS_NAME_MAX];
	char	 tracking_dirty[KEYS_NAME_MAX];
	char	 tracking_seq[KEYS_NAME_MAX];
	char	 tracking_built[KEYS_NAME_MAX];
	char	 tracking_pending_prefix[KEYS_NAME_MAX];
	char	 tracking_due[KEYS_NAME_MAX];
	char	 routing_channel[KEYS_NAME_MAX];
	char	 routing_seq[KEYS_NAME_MAX];
	char	 fleet[KEYS_NAME_MAX];
	char	 launches[KEYS_NAME_MAX];
	char	 deployment[KEYS_NAME_MAX];
	char	 instance_accounts_prefix[KEYS_NAME_MAX];
	char	 health_streak[KEYS_NAME_MAX];
	char	 health_panic[KEYS_NAME_MAX];
	char	 notify_outbox[KEYS_NAME_MAX];
	char	 notify_state[KEYS_NAME_MAX];
	char	 schedule_state[KEYS_NAME_MAX];
	char	 events_recent[KEYS_NAME_MAX];
	char	 schedule_runs_prefix[KEYS_NAME_MAX];
	char	 archive_prefix[KEYS_NAME_MAX];
	char	 name_seq[KEYS_NAME_MAX];
	char	 lease_scaler[KEYS_NAME_MAX];
	char	 lease_scaler_fence[KEYS_NAME_MAX];
} keys;

static int
keys_format(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
keys_format(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (buf == NULL || size == 0)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

/* The names of the placement scripts and the instance registry. */
static int
keys_init_placement(const char *prefix)
{
	if (keys_format(keys.client_mapping, sizeof(keys.client_mapping),
	    "%sclient_mapping", prefix) == -1 ||
	    keys_format(keys.client_master, sizeof(keys.client_master),
	    "%sclient_master", prefix) == -1 ||
	    keys_format(keys.live_master, sizeof(keys.live_master),
	    "%slive:master", prefix) == -1 ||
	    keys_format(keys.live_client, sizeof(keys.live_client),
	    "%slive:client", prefix) == -1 ||
	    keys_format(keys.launch_seq, sizeof(keys.launch_seq),
	    "%slaunch_seq", prefix) == -1 ||
	    keys_format(keys.client_spread, sizeof(keys.client_spread),
	    "%sclient_spread", prefix) == -1 ||
	    keys_format(keys.client_list_prefix, sizeof(keys.client_list_prefix),
	    "%sclient_list:", prefix) == -1 ||
	    keys_format(keys.tracking_dirty, sizeof(keys.tracking_dirty),
	    "%stracking_dirty", prefix) == -1 ||
	    keys_format(keys.tracking_seq, sizeof(keys.tracking_seq),
	    "%stracking_seq", prefix) == -1 ||
	    keys_format(keys.tracking_built, sizeof(keys.tracking_built),
	    "%stracking_built", prefix) == -1 ||
	    keys_format(keys.tracking_pending_prefix,
	    sizeof(keys.tracking_pending_prefix), "%stracking_pending:",
	    prefix) == -1 ||
	    keys_format(keys.tracking_due, sizeof(keys.tracking_due),
	    "%stracking_due", prefix) == -1 ||
	    keys_format(keys.routing_channel, sizeof(keys.routing_channel),
	    "%srouting", prefix) == -1 ||
	    keys_format(keys.routing_seq, sizeof(keys.routing_seq),
	    "%srouting:seq", prefix) == -1 ||
	    keys_format(keys.fleet, sizeof(keys.fleet), "%sfleet", prefix) == -1 ||
	    keys_format(keys.launches, sizeof(keys.launches), "%slaunches",
	    prefix) == -1 ||
	    keys_format(keys.deployment, sizeof(keys.deployment), "%sdeployment",
	    prefix) == -1 ||
	    keys_format(keys.instance_accounts_prefix,
	    sizeof(keys.instance_accounts_prefix), "%sinstance_accounts:",
	    prefix) == -1 ||
	    keys_format(keys.health_streak, sizeof(keys.health_streak),
	    "%shealth:streak", prefix) == -1 ||
	    keys_format(keys.health_panic, sizeof(keys.health_panic),
	    "%shealth:panic", prefix) == -1 ||
	    keys_format(keys.notify_outbox, sizeof(keys.notify_outbox),
	    "%snotify:outbox", prefix) == -1 ||
	    keys_format(keys.notify_state, sizeof(keys.notify_state),
	    "%snotify:state", prefix) == -1 ||
	    keys_format(keys.schedule_state, sizeof(keys.schedule_state),
	    "%sschedule:state", prefix) == -1 ||
	    keys_format(keys.events_recent, sizeof(keys.events_recent),
	    "%sevents:recent", prefix) == -1 ||
	    keys_format(keys.schedule_runs_prefix,
	    sizeof(keys.schedule_runs_prefix), "%sschedule:runs:", prefix) == -1 ||
	    keys_format(keys.archive_prefix, sizeof(keys.archive_prefix),
	    "%sarchive:", prefix) == -1 ||
	    keys_format(keys.name_seq, sizeof(keys.name_seq), "%sname_seq",
	    prefix) == -1 ||
	    keys_lease(keys.lease_scaler, sizeof(keys.lease_scaler),
	    "scaler") == -1 ||
	    keys_lease_fence(keys.lease_scaler_fence,
	    sizeof(keys.lease_scaler_fence), "scaler") == -1)
		return -1;
	return 0;
}

int
keys_init(const char *prefix, const char *events_channel)
{
	if (prefix == NULL || events_channel == NULL)
		return -1;
	if (keys_format(keys.prefix, sizeof(keys.prefix), "%s", prefix) == -1 ||
	    keys_format(keys.events_channel, sizeof(keys.events_channel), "%s",
	    events_channel) == -1 ||
	    keys_format(keys.instance_details, sizeof(keys.instance_details),
	    "%sinstance_details", prefix) == -1 ||
	    keys_format(keys.instance_user_counts,
	    sizeof(keys.instance_user_counts), "%sinstance_user_counts",
	    prefix) == -1 ||
	    keys_format(keys.master_mapping, sizeof(keys.master_mapping),
	    "%smaster_mapping", prefix) == -1 ||
	    keys_format(keys.client_master_tracking,
	    sizeof(keys.client_master_tracking), "%sclient_master_tracking",
	    prefix) == -1 ||
	    keys_format(keys.global_state, sizeof(keys.global_state),
	    "%sglobal_state", prefix) == -1)
		return -1;
	return keys_init_placement(prefix);
}

const char *
keys_events_channel(void)
{
	return keys.events_channel;
}

int
keys_worker(char *buf, size_t size, const char *host, const char *role)
{
	return keys_format(buf, size, "%sworker:%s:%s", keys.prefix, host, role);
}

int
keys_worker_pattern(char *buf, size_t size)
{
	return keys_format(buf, size, "%sworker:*", keys.prefix);
}

const char *
keys_instance_details(void)
{
	return keys.instance_details;
}

const char *
keys_instance_user_counts(void)
{
	return keys.instance_user_counts;
}

const char *
keys_master_mapping(void)
{
	return keys.master_mapping;
}

const char *
keys_client_master_tracking(void)
{
	return keys.client_master_tracking;
}

const char *
keys_global_state(void)
{
	return keys.global_state;
}

int
keys_health_history(char *buf, size_t size, const char *instance_id)
{
	return keys_format(buf, size, KEYS_HEALTH_PREFIX "history:%s",
	    instance_id);
}

int
keys_health_stats(char *buf, size_t size, const char *instance_id)
{
	return keys_format(buf, size, KEYS_HEALTH_PREFIX "stats:%s",
	    instance_id);
}

const char *
keys_prefix(void)
{
	return keys.prefix;
}

const char *
keys_client_mapping(void)
{
	return keys.client_mapping;
}

const char *
keys_client_master(void)
{
	return keys.client_master;
}

const char *
keys_live_master(void)
{
	return keys.live_master;
}

const char *
keys_live_client(void)
{
	return keys.live_client;
}

const char *
keys_launch_seq(void)
{
	return keys.launch_seq;
}

const char *
keys_client_spread(void)
{
	return keys.client_spread;
}

const char *
keys_routing_channel(void)
{
	return keys.routing_channel;
}

const char *
keys_routing_seq(void)
{
	return keys.routing_seq;
}

int
keys_routing_ping(char *buf, size_t size, const char *host, long pid)
{
	return keys_format(buf, size, "%s:ping:%s:%ld", keys.routing_channel,
	    host, pid);
}

int
keys_lease(char *buf, size_t size, const char *duty)
{
	return keys_format(buf, size, "%slease:%s", keys.prefix, duty);
}

int
keys_lease_fence(char *buf, size_t size, const char *duty)
{
	return keys_format(buf, size, "%slease:%s:fence", keys.prefix, duty);
}

const char *
keys_client_list_prefix(void)
{
	return keys.client_list_prefix;
}

const char *
keys_tracking_dirty(void)
{
	return keys.tracking_dirty;
}

const char *
keys_tracking_seq(void)
{
	return keys.tracking_seq;
}

const char *
keys_tracking_built(void)
{
	return keys.tracking_built;
}

const char *
keys_tracking_pending_prefix(void)
{
	return keys.tracking_pending_prefix;
}

const char *
keys_tracking_due(void)
{
	return keys.tracking_due;
}

const char *
keys_fleet(void)
{
	return keys.fleet;
}

const char *
keys_launches(void)
{
	return keys.launches;
}

/* The earlier service's names, without redis.prefix (SPEC §8). */
const char *
keys_health_history_prefix(void)
{
	return "OrderListenerHealthManager:history:";
}

const char *
keys_health_stats_prefix(void)
{
	return "OrderListenerHealthManager:stats:";
}

const char *
keys_health_streak(void)
{
	return keys.health_streak;
}

const char *
keys_health_panic(void)
{
	return keys.health_panic;
}

const char *
keys_notify_outbox(void)
{
	return keys.notify_outbox;
}

const char *
keys_notify_state(void)
{
	return keys.notify_state;
}

const char *
keys_schedule_state(void)
{
	return keys.schedule_state;
}

const char *
keys_events_recent(void)
{
	return keys.events_recent;
}

const char *
keys_schedule_runs_prefix(void)
{
	return keys.schedule_runs_prefix;
}

const char *
keys_archive_prefix(void)
{
	return keys.archive_prefix;
}

const char *
keys_instance_accounts_prefix(void)
{
	return keys.instance_accounts_prefix;
}

const char *
keys_deployment(void)
{
	return keys.deployment;
}

const char *
keys_name_seq(void)
{
	return keys.name_seq;
}

const char *
keys_lease_scaler(void)
{
	return keys.lease_scaler;
}

const char *
keys_lease_scaler_fence(void)
{
	return keys.lease_scaler_fence;
}
