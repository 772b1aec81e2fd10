/*
 * events: the monitoring channel publisher (SPEC §8).
 *
 * Each process has one publisher.  An event is one JSON object
 * {"ts":ms,"level":..,"type":..,"host":..,"role":..,"pid":..,<fields>} sent with
 * PUBLISH on redis.events_channel.  While Redis is down events wait in a bounded
 * queue (EVENTS_QUEUE_MAX); when it overflows the oldest are dropped and counted,
 * and the next flush first publishes an "events.dropped" event with the count.
 */
#ifndef OLB_EVENTS_H
#define OLB_EVENTS_H

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct rconn;

#define EVENTS_QUEUE_MAX	1024

enum event_level {
	EVENT_INFO,
	EVENT_NOTIFY,
	EVENT_ERROR,
};

/* Set up the process's publisher.  rc may be NULL (queue only) and set later
 * with events_set_conn.  channel, host and role are copied. */
int		 events_init(struct rconn *rc, const char *channel, const char *host,
		    const char *role);
void		 events_set_conn(struct rconn *rc);
/* Change the role printed in events (after fork). */
void		 events_set_role(const char *role);
/* Drop the queue and forget the connection. */
void		 events_shutdown(void);

/* Publish (or queue) one event.  fields: a JSON object whose members are added
 * to the event, or NULL; ownership passes to this function. */
void		 event_publish(enum event_level level, const char *type,
		    struct json_object *fields);
/* Send everything queued; call when the connection comes up. */
void		 events_flush(void);

uint64_t	 events_dropped(void);
size_t		 events_queued(void);

#endif
