/*
 * notify: the webhook sender (SPEC §8).  Every olb process appends its
 * notify-level events to the outbox in Redis (common/events.c,
 * common/lua/notify.lua); the one process that holds the health lease posts
 * them to notify.webhook_url as Mattermost/Slack incoming-webhook JSON, so a
 * cluster has exactly one sender, and an event published while the sender
 * restarts or the lease moves waits in the outbox instead of being lost.
 *
 * A post carries the events of a window (notify.batch_ms from the first
 * one), up to NOTIFY_BATCH of them.  It is removed from the outbox only
 * once the webhook answered 2xx (at-least-once: a sender that dies after
 * the post and before the removal posts it again).  A timeout, a failed
 * connection, 408, 429 or 5xx is retried with exponential backoff and
 * jitter (at least Retry-After when the answer has one); any other answer
 * refuses the batch, which is dropped, counted and logged.  The outbox is
 * bounded (notify.queue): the oldest events go first, counted in
 * notify:state and logged by the sender.
 *
 * The URL is a secret: no log line names it.  Posts run on the health
 * worker's event loop with their own timeout (notify.timeout_ms), so a
 * slow or dead webhook never delays a probe.
 *
 * One sender per process (the state is the module's); all of it runs on
 * the loop given to notify_start.
 */
#ifndef OLB_NOTIFY_H
#define OLB_NOTIFY_H

#include <stdint.h>

struct conf;
struct ev_loop;
struct httpc;
struct lease;
struct rconn;

#define NOTIFY_BATCH	50	/* events per post at most */

/* Start the sender (idle until the lease is held); every pointer is
 * borrowed and must outlive notify_stop.  Does nothing without a webhook
 * URL. */
void		 notify_start(struct ev_loop *loop, struct rconn *rc,
		    struct httpc *http, const struct conf *conf,
		    struct lease *lease);
/* A notify-level event went out (seen on the events channel): post the
 * outbox after the batch window. */
void		 notify_kick(void);
/* The lease was taken (held) or lost: start sending, or stop at once
 * (the post in flight is abandoned; the next holder sends it). */
void		 notify_lease(int held);
/* Stop; late replies are ignored. */
void		 notify_stop(void);

/* Counts since notify_start, for the logs and metrics. */
struct notify_stats {
	uint64_t	 posts;		/* answered 2xx */
	uint64_t	 failures;	/* posts retried */
	uint64_t	 sent;		/* events in posts answered 2xx */
	uint64_t	 refused;	/* events in refused posts */
	uint64_t	 rejected;	/* posts refused for good (4xx) */
	uint64_t	 dropped;	/* events the full outbox dropped, as seen */
};
void		 notify_stats(struct notify_stats *out);

#endif
