/*
 * events: the monitoring channel publisher (SPEC §8).
 *
 * Each process has one publisher.  An event is one JSON object
 * {"ts":ms,"level":..,"type":..,"host":..,"role":..,"pid":..,<fields>} sent with
 * PUBLISH on redis.events_channel.  While Redis is down events wait in a bounded
 * queue (EVENTS_QUEUE_MAX); when it overflows the oldest are dropped and counted,
 * and the next flush first publishes an "events.dropped" event with the count.
 *
 * Delivery: the timestamp and pid are taken when event_publish is called, and
 * events leave in the order they were published (a new event waits behind the
 * queue).  An event handed to Redis is never sent again: if its PUBLISH gets no
 * reply (connection lost), it is lost and counted in events_lost() --
 * at-most-once once sent, so a reconnect never duplicates an event.  Members
 * of fields named like the envelope (ts, level, type, host, role, pid) are
 * ignored.  A process that forks inherits nothing: the child's first call
 * drops the queue and the connection it inherited (they are the parent's).
 */
#ifndef OLB_EVENTS_H
#define OLB_EVENTS_H

#include <stddef.h>
#include <stdint.h>

struct conf;
struct json_object;
struct rconn;
struct redisReply;

#define EVENTS_QUEUE_MAX	1024
#define EVENTS_RECENT		50	/* notify and error events kept for /status */

enum event_level {
	EVENT_INFO,
	EVENT_NOTIFY,
	EVENT_ERROR,
};

/* Set up the process's publisher (resetting any earlier one).  rc may be NULL
 * (queue only) and set later with events_set_conn.  channel, host and role are
 * copied.  0 or -1. */
int		 events_init(struct rconn *rc, const char *channel, const char *host,
		    const char *role);
/* Publish through rc from now on (NULL: queue only); flushes if rc is up. */
void		 events_set_conn(struct rconn *rc);
/* As conf says: with a webhook (notify.enabled), notify-level events also
 * join its outbox (common/lua/notify.lua), which keeps at most
 * notify.queue of them; without, plain PUBLISH. */
void		 events_set_outbox(const struct conf *conf);
/* That bound (0: no webhook), for olbctl, which publishes by itself. */
long long	 events_outbox(void);
/* Log (at most once a minute) that the outbox was full, from the answer
 * of its push (common/lua/notify.lua).  r may be NULL or anything. */
void		 events_outbox_reply(const struct redisReply *r);
/* Change the role printed in events (after fork). */
void		 events_set_role(const char *role);
/* Drop the queue and forget the connection. */
void		 events_shutdown(void);

/* Publish (or queue) one event.  fields: a JSON object whose members are added
 * to the event, or NULL; ownership passes to this function.  Before
 * events_init the event is discarded. */
void		 event_publish(enum event_level level, const char *type,
		    struct json_object *fields);
/* The event as the JSON text event_publish sends (the envelope of
 * events_init's host and role), for a process that publishes by other means
 * (olbctl's blocking connection).  The caller frees it; NULL if out of
 * memory.  Consumes fields. */
char		*event_format(enum event_level level, const char *type,
		    struct json_object *fields);
/* Send everything queued; call when the connection comes up.  Does nothing
 * while the connection is down. */
void		 events_flush(void);

/* Events dropped from a full queue since events_init. */
uint64_t	 events_dropped(void);
/* Events waiting in the queue. */
size_t		 events_queued(void);
/* Events whose PUBLISH got no reply since events_init. */
uint64_t	 events_lost(void);
/* "info", "notify", "error". */
const char	*event_level_name(enum event_level level);

#endif
