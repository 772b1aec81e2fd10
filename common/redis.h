/*
 * redis: one managed Redis connection on hiredis' async API inside an ev loop.
 *
 * An rconn connects (TCP host:port or unix socket), authenticates, selects the
 * database, and reconnects forever after any failure with capped exponential
 * backoff and jitter.  Commands issued while it is down fail at once (their
 * callback is not called and -1 is returned); a command unanswered for
 * redis.command_timeout_ms drops the connection, which calls every pending
 * callback with a NULL reply and starts a reconnect.  Where to connect is
 * decided in one place (rconn_resolve in redis.c): with redis.sentinel.master
 * set, the master the sentinels name (see sentinel.h), accepted only if ROLE
 * says master; a READONLY error reply then drops the connection, which
 * reconnects to the master named afresh.
 *
 * Backoff: the first retry waits RCONN_BACKOFF_MIN_MS, each further failure
 * doubles the delay up to RCONN_BACKOFF_MAX_MS, and each wait is drawn between
 * half of it and all of it (jitter); it restarts from the minimum once the
 * connection is up.  An owner with work waiting for the connection (requests
 * that must be answered within a bound) says so with rconn_hurry: until then
 * the delay is at most RCONN_HURRY_MS, so the connection is back within that
 * of Redis, at the cost of a few refused connects a second.  redis.connect_timeout_ms bounds connect plus handshake
 * (AUTH, SELECT, PING or SUBSCRIBE): "up" means the server answered.  A
 * failure is logged at warn when it is news (first of an outage, or a new
 * error), at debug while it repeats; the recovery at info.
 *
 * A subscriber's descriptor is dispatched before the others of each loop
 * wakeup (ev_io_first): a message that arrived before a request is applied
 * before that request is served.
 *
 * A subscriber notices a dead server by EOF or reset only (it sends no
 * commands, so the command timeout does not apply to it).  hiredis writes with
 * write(2): the process must ignore SIGPIPE.  hiredis resolves a host name
 * with a blocking getaddrinfo(3): configure an address or a unix socket.
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

/* Called when the connection becomes usable (up = 1: connected, AUTH, SELECT
 * and PING, or every SUBSCRIBE, answered) or is lost (up = 0; only after an
 * up, and before the NULL replies of the commands that were pending). */
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
#define RCONN_HURRY_MS		100

/* Create and start connecting with the redis.* settings of conf (copied; conf
 * may be freed afterwards).  name is for log lines ("events", "placement").
 * NULL only when out of memory: an unreachable server is retried forever. */
struct rconn	*rconn_new(struct ev_loop *loop, const struct conf *conf, const char *name,
		    rconn_state_cb *state_cb, void *arg);
/* A connection to the sentinels of conf's redis.sentinel.nodes rather than
 * to the master: each attempt goes to one of them, the next after a
 * failure; no AUTH, SELECT or ROLE.  For the watcher in sentinel.c. */
struct rconn	*rconn_new_sentinel(struct ev_loop *loop, const struct conf *conf,
		    const char *name, rconn_state_cb *state_cb, void *arg);
/* The sentinels now name host:port as the master: a connection elsewhere is
 * dropped (and reconnects there), one waiting to retry retries now.  For
 * the watcher in sentinel.c. */
void		 rconn_master_moved(struct rconn *rc, const char *host, int port);
/* Work waits for rc for the next ms milliseconds: while it is down, retry
 * at least every RCONN_HURRY_MS until then (never more often, however many
 * callers; see Backoff above).  Harmless while it is up. */
void		 rconn_hurry(struct rconn *rc, uint64_t ms);
/* Disconnect (pending callbacks get NULL) and free; no state callback.  Safe
 * anywhere, also inside rc's own callbacks: the work is then deferred to the
 * moment the loop's dispatch into rc returns (no later callback sees a reply).
 * Free every rconn before its loop. */
void		 rconn_free(struct rconn *rc);
int		 rconn_is_up(const struct rconn *rc);
/* Drop the connection as if it had failed (why is logged) and reconnect
 * after the backoff: for an owner that found it dead by its own means (a
 * subscriber that no longer receives).  Pending callbacks get NULL and the
 * state callback reports the loss.  Safe anywhere, also inside rc's own
 * callbacks (the close is deferred as in rconn_free). */
void		 rconn_reset(struct rconn *rc, const char *why);
/* This rconn's number, unique in the process (never 0): tells a new rconn
 * from a freed one whose address it took. */
uint64_t	 rconn_serial(const struct rconn *rc);
/* Times the connection came up after having been lost. */
uint64_t	 rconn_reconnects(const struct rconn *rc);
/* Error replies (but NOSCRIPT, which rscript answers) and failed or lost
 * connections, since rconn_new. */
uint64_t	 rconn_errors(const struct rconn *rc);
/* "host:port" or socket path of the current (or last) server, for logs. */
const char	*rconn_addr(const struct rconn *rc);
/* The loop rc runs on. */
struct ev_loop	*rconn_loop(const struct rconn *rc);

/* Send a command (printf-like, hiredis format).  cb may be NULL.  0 if queued,
 * -1 if the connection is down or rc is a subscriber (cb is then never
 * called).  Once queued, cb is called exactly once. */
int		 rconn_command(struct rconn *rc, rconn_reply_cb *cb, void *arg,
		    const char *fmt, ...);
int		 rconn_commandargv(struct rconn *rc, rconn_reply_cb *cb, void *arg,
		    int argc, const char **argv, const size_t *argvlen);

/* Turn rc into a subscriber of channel (kept across reconnects).  A subscribing
 * rconn is used for nothing else.  Called before rc is up, "up" then means
 * subscribed: no message published after the state callback is missed.
 * Several channels may be subscribed.  0 or -1 (commands outstanding). */
int		 rconn_subscribe(struct rconn *rc, const char *channel,
		    rconn_message_cb *cb, void *arg);

/* The value of field in r, an HGETALL answer (async or blocking), or NULL
 * (r NULL, not an array, or no such field). */
const char	*redis_hash_field(const redisReply *r, const char *field);

#endif
