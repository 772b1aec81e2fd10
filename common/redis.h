/*
 * redis: one managed Redis connection on hiredis' async API inside an ev loop.
 *
 * An rconn connects (TCP host:port or unix socket), authenticates, selects the
 * database, and reconnects forever after any failure with capped exponential
 * backoff and jitter.  Commands issued while it is down fail at once (their
 * callback is not called and -1 is returned); a command unanswered for
 * redis.command_timeout_ms drops the connection, which calls every pending
 * callback with a NULL reply and starts a reconnect.  Where to connect is
 * decided in one place (rconn_resolve in redis.c), so Sentinel discovery can be
 * added there without touching callers.
 */
#ifndef OLB_REDIS_H
#define OLB_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

struct ev_loop;
struct conf;
struct rconn;

/* Called when the connection becomes usable (up = 1: connected, AUTH and SELECT
 * done) or is lost (up = 0). */
typedef void rconn_state_cb(struct rconn *rc, int up, void *arg);
/* Reply callback: reply is NULL when the connection was lost or timed out.
 * The reply is owned by hiredis and valid only during the call. */
typedef void rconn_reply_cb(struct rconn *rc, redisReply *reply, void *arg);
/* Pub/sub message on a subscribed channel. */
typedef void rconn_message_cb(struct rconn *rc, const char *channel,
    const char *msg, size_t len, void *arg);

/* Reconnect backoff bounds, in ms. */
#define RCONN_BACKOFF_MIN_MS	50
#define RCONN_BACKOFF_MAX_MS	2000

/* Create and start connecting with the redis.* settings of conf (copied; conf
 * may be freed afterwards).  name is for log lines ("events", "placement"). */
struct rconn	*rconn_new(struct ev_loop *loop, const struct conf *conf, const char *name,
		    rconn_state_cb *state_cb, void *arg);
/* Disconnect (pending callbacks get NULL) and free. */
void		 rconn_free(struct rconn *rc);
int		 rconn_is_up(const struct rconn *rc);
/* Times the connection came up after having been lost. */
uint64_t	 rconn_reconnects(const struct rconn *rc);

/* Send a command (printf-like, hiredis format).  cb may be NULL.  0 if queued,
 * -1 if the connection is down (cb is then never called). */
int		 rconn_command(struct rconn *rc, rconn_reply_cb *cb, void *arg,
		    const char *fmt, ...);
int		 rconn_commandargv(struct rconn *rc, rconn_reply_cb *cb, void *arg,
		    int argc, const char **argv, const size_t *argvlen);

/* Turn rc into a subscriber of channel (kept across reconnects).  A subscribing
 * rconn is used for nothing else.  0 or -1. */
int		 rconn_subscribe(struct rconn *rc, const char *channel,
		    rconn_message_cb *cb, void *arg);

#endif
