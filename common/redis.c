/*
 * redis: one managed Redis connection on hiredis' async API (see redis.h).
 *
 * An rconn owns at most one redisAsyncContext at a time and plugs it into the
 * process's ev loop through the small adapter below (the addRead, delRead,
 * addWrite, delWrite and cleanup hooks).  It talks to one Redis server, chosen
 * by rconn_resolve, to hiredis, and to its owner through the state, reply and
 * message callbacks.
 *
 * States: WAITING (no context, retry timer armed) -> CONNECTING (connect(2) in
 * progress, connect timer armed) -> HANDSHAKE (AUTH, SELECT, then PING or the
 * SUBSCRIBEs; same timer) -> UP.  Any failure goes back to WAITING with capped
 * exponential backoff and jitter; the backoff restarts from the minimum once a
 * connection is UP again.  While an owner has work waiting (rconn_hurry), the
 * delay is capped at RCONN_HURRY_MS and attempts are at least that far apart.
 *
 * Lifetime rules of hiredis 0.14: after a failed connect or an I/O error
 * hiredis frees the context itself, running every pending callback with a NULL
 * reply first; redisAsyncFree must never be called from inside one of the
 * context's callbacks.  So every entry into this module from the loop (I/O
 * events, timers) and every public call that may run callbacks counts itself
 * in rc->busy, and what must not happen inside a callback (freeing the context
 * or the rconn) is deferred to rconn_leave, when the outermost entry returns.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/sentinel.h"

#define RCONN_CONNECT_TIMEOUT_DEFAULT_MS	1000
#define RCONN_HANDSHAKE_MAX			4	/* AUTH, SELECT, ROLE, PING */
#define RCONN_MSG_MAX				512	/* one failure message */

static uint64_t		rconn_serials;	/* the last rconn_serial given */

/* rconn_resolve's answer while the sentinels have not named a master. */
static const char	rconn_no_master[] = "no sentinel has named the master yet";

enum rconn_state {
	RCONN_WAITING,		/* no context; the retry timer is armed */
	RCONN_CONNECTING,	/* connect(2) in progress */
	RCONN_HANDSHAKE,	/* AUTH, SELECT, PING or SUBSCRIBE sent */
	RCONN_UP,
	RCONN_CLOSED,		/* being freed */
};

/* One command waiting for its reply; replies come back in order. */
struct rcmd {
	TAILQ_ENTRY(rcmd)	 entry;
	struct rconn		*rc;
	rconn_reply_cb		*cb;
	void			*arg;
	uint64_t		 sent_ms;
};

TAILQ_HEAD(rcmd_list, rcmd);

/* Where the next attempt connects; filled by rconn_resolve. */
struct rconn_target {
	char			 host[256];
	int			 port;
	char			 path[108];	/* unix socket, "" = TCP */
};

/* One subscribed channel; hiredis holds a pointer to it as privdata. */
struct rsub {
	struct rconn		*rc;
	char			*channel;
	rconn_message_cb	*cb;
	void			*arg;
};

struct rconn {
	struct ev_loop		*loop;
	char			*name;		/* for log lines */

	/* Copied from struct conf in rconn_new. */
	char			*host;
	int			 port;
	char			*socket;	/* NULL = TCP */
	char			*password;	/* NULL = no AUTH; wiped, never logged */
	int			 db;
	/* Sentinel: a master connection has its watcher; a connection to
	 * the sentinels themselves (rconn_new_sentinel) has their list and
	 * the one in use, and skips AUTH, SELECT and ROLE. */
	struct sentinel		*sentinel;
	char			**nodes;
	size_t			 nnodes;
	size_t			 node;
	uint64_t		 connect_timeout_ms;
	uint64_t		 command_timeout_ms;	/* 0 = no command timeout */

	rconn_state_cb		*state_cb;
	void			*arg;

	enum rconn_state	 state;
	redisAsyncContext	*ac;		/* NULL once hiredis frees it */
	int			 fd;		/* ac's descriptor while in the loop */
	struct rconn_target	 target;
	char			 addr[300];	/* target as "host:port" or path */

	const char		*hs_names[RCONN_HANDSHAKE_MAX];	/* sent, in order */
	int			 hs_next;	/* next of hs_names to answer */
	int			 hs_left;	/* handshake replies still due */

	struct rcmd_list	 cmds;		/* outstanding, oldest first */
	struct rsub		**subs;
	size_t			 nsubs;

	struct ev_timer		 retry_timer;
	struct ev_timer		 connect_timer;	/* connect and handshake */
	struct ev_timer		 command_timer;
	uint64_t		 backoff_ms;
	uint64_t		 hurry_until;	/* ev_now bound of rconn_hurry */
	uint64_t		 attempt_at;	/* ev_now of the last attempt */
	uint64_t		 rng;
	uint64_t		 reconnects;
	uint64_t		 errors;	/* see rconn_errors */
	int			 ever_up;
	uint64_t		 down_since;	/* ev_now when the outage began */
	char			 last_error[RCONN_MSG_MAX];	/* last failure logged at warn */

	uint64_t		 serial;	/* see rconn_serial */
	int			 busy;		/* nested entries from the loop */
	int			 close_pending;	/* drop ac at the outermost leave */
	int			 freeing;	/* rconn_free was called */
};

static void	rconn_connect(struct rconn *);
static void	rconn_down(struct rconn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void	rconn_destroy(struct rconn *);

/* Free our context now; never from inside one of its callbacks. */
static void
rconn_close(struct rconn *rc)
{
	redisAsyncContext *ac = rc->ac;

	rc->close_pending = 0;
	if (ac == NULL)
		return;
	/* Detach first: the callbacks run by the free see a stale context. */
	rc->ac = NULL;
	redisAsyncFree(ac);
}

/*
 * Entry and exit of every call that may run hiredis callbacks.  rconn_leave
 * returns -1 when it freed rc: the caller must not touch rc afterwards.
 */
static void
rconn_enter(struct rconn *rc)
{
	rc->busy++;
}

static int
rconn_leave(struct rconn *rc)
{
	if (rc->busy == 1) {
		if (rc->close_pending && !rc->freeing)
			rconn_close(rc);
		if (rc->freeing) {
			rconn_destroy(rc);
			return -1;
		}
	}
	rc->busy--;
	return 0;
}

/* xorshift64*, seeded per process and rconn: jitter only. */
static uint64_t
rconn_random(struct rconn *rc)
{
	rc->rng ^= rc->rng >> 12;
	rc->rng ^= rc->rng << 25;
	rc->rng ^= rc->rng >> 27;
	return rc->rng * 2685821657736338717ULL;
}

/* Next delay: the backoff doubles up to the cap; wait between half of it and
 * all of it, so processes that lost Redis together do not return together.
 * While work waits (rconn_hurry), at most RCONN_HURRY_MS; the backoff goes
 * on doubling underneath, for when the hurry is over. */
static uint64_t
rconn_backoff(struct rconn *rc)
{
	uint64_t ms;

	if (rc->backoff_ms == 0)
		rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
	else if (rc->backoff_ms * 2 > RCONN_BACKOFF_MAX_MS)
		rc->backoff_ms = RCONN_BACKOFF_MAX_MS;
	else
		rc->backoff_ms *= 2;
	ms = rc->backoff_ms / 2 + rconn_random(rc) % (rc->backoff_ms / 2 + 1);
	if (ev_now(rc->loop) < rc->hurry_until && ms > RCONN_HURRY_MS)
		ms = RCONN_HURRY_MS;
	return ms;
}

/*
 * Where to connect: the one place that decides, before every attempt.  A
 * connection to the sentinels: the sentinel in use.  A master connection
 * with Sentinel: the master as the watcher last heard it (which asks
 * again).  Otherwise the configured socket (which wins) or host:port.
 * Fills rc->target and rc->addr.  NULL, or why there is nowhere to go.
 */
static const char *
rconn_resolve(struct rconn *rc)
{
	struct rconn_target *t = &rc->target;
	struct conf_addr a;
	int n;

	memset(t, 0, sizeof(*t));
	if (rc->nodes != NULL) {
		if (conf_addr_parse(rc->nodes[rc->node], &a) == -1)
			return "sentinel address unreadable";
		snprintf(t->host, sizeof(t->host), "%s", a.host);
		t->port = a.port;
	} else if (rc->sentinel != NULL) {
		if (sentinel_master(rc->sentinel, t->host, sizeof(t->host),
		    &t->port) == -1)
			return rconn_no_master;
	} else if (rc->socket != NULL) {
		n = snprintf(t->path, sizeof(t->path), "%s", rc->socket);
		if (n < 0 || (size_t)n >= sizeof(t->path))
			return "socket path too long";
		snprintf(rc->addr, sizeof(rc->addr), "%s", t->path);
		return NULL;
	} else {
		n = snprintf(t->host, sizeof(t->host), "%s", rc->host);
		if (n < 0 || (size_t)n >= sizeof(t->host))
			return "host name too long";
		t->port = rc->port;
	}
	snprintf(rc->addr, sizeof(rc->addr),
	    strchr(t->host, ':') != NULL ? "[%s]:%d" : "%s:%d", t->host, t->port);
	return NULL;
}

/* ev adapter: hiredis' hooks; privdata is the rconn, the fd is rc->fd. */

static void
rconn_io(struct ev_loop *loop, int fd, int mask, void *arg)
{
	struct rconn *rc = arg;
	redisAsyncContext *ac = rc->ac;

	if (ac == NULL || fd != rc->fd)
		return;
	rconn_enter(rc);
	if (mask & EV_READ)
		redisAsyncHandleRead(ac);
	/* The read may have ended the context (rc->ac is then cleared). */
	if ((mask & EV_WRITE) && rc->ac == ac && !rc->close_pending &&
	    (ev_io_mask(loop, fd) & EV_WRITE))
		redisAsyncHandleWrite(ac);
	rconn_leave(rc);
}

static void
rconn_ev_add_read(void *privdata)
{
	struct rconn *rc = privdata;

	if (rc->fd != -1 && ev_io_add(rc->loop, rc->fd, EV_READ, rconn_io, rc) == 0 &&
	    rc->nsubs > 0)
		ev_io_first(rc->loop, rc->fd);
}

static void
rconn_ev_del_read(void *privdata)
{
	struct rconn *rc = privdata;

	if (rc->fd != -1)
		ev_io_del(rc->loop, rc->fd, EV_READ);
}

static void
rconn_ev_add_write(void *privdata)
{
	struct rconn *rc = privdata;

	if (rc->fd != -1)
		(void)ev_io_add(rc->loop, rc->fd, EV_WRITE, rconn_io, rc);
}

static void
rconn_ev_del_write(void *privdata)
{
	struct rconn *rc = privdata;

	if (rc->fd != -1)
		ev_io_del(rc->loop, rc->fd, EV_WRITE);
}

static void
rconn_ev_cleanup(void *privdata)
{
	struct rconn *rc = privdata;

	if (rc->fd != -1)
		ev_io_del(rc->loop, rc->fd, EV_READ | EV_WRITE);
	rc->fd = -1;
}

static void
rconn_attach(struct rconn *rc, redisAsyncContext *ac)
{
	rc->fd = ac->c.fd;
	ac->ev.data = rc;
	ac->ev.addRead = rconn_ev_add_read;
	ac->ev.delRead = rconn_ev_del_read;
	ac->ev.addWrite = rconn_ev_add_write;
	ac->ev.delWrite = rconn_ev_del_write;
	ac->ev.cleanup = rconn_ev_cleanup;
}

/* State changes */

static void
rconn_retry(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct rconn *rc = arg;

	(void)loop;
	(void)t;
	rconn_enter(rc);
	rconn_connect(rc);
	rconn_leave(rc);
}

/* A WAITING connection retries within ms at the latest (a retry already
 * due sooner stays). */
static void
rconn_retry_within(struct rconn *rc, uint64_t ms)
{
	if (rc->state != RCONN_WAITING || (rc->retry_timer.armed &&
	    rc->retry_timer.when <= ev_now(rc->loop) + ms))
		return;
	ev_timer_start(rc->loop, &rc->retry_timer, ms, rconn_retry, rc);
}

/* Log one failure: at warn when it is news (the first one of an outage, or a
 * different error than the last), at debug while the same failure repeats. */
static void
rconn_log_failure(struct rconn *rc, const char *msg, int was_up)
{
	if (was_up || strcmp(msg, rc->last_error) != 0) {
		log_warn("redis %s: %s", rc->name, msg);
		snprintf(rc->last_error, sizeof(rc->last_error), "%s", msg);
	} else
		log_debug("redis %s: %s (still failing)", rc->name, msg);
}

/*
 * The connection failed or was lost: back to WAITING, retry after the backoff,
 * tell the owner if it was up.  The context, if still ours, is dropped when the
 * outermost entry returns (never inside a hiredis callback).
 */
static void
rconn_down(struct rconn *rc, const char *fmt, ...)
{
	char msg[RCONN_MSG_MAX];
	va_list ap;
	int was_up = rc->state == RCONN_UP;

	if (rc->state == RCONN_WAITING || rc->state == RCONN_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rc->state = RCONN_WAITING;
	rc->errors++;
	rc->close_pending = rc->ac != NULL;
	if (rc->nodes != NULL)		/* the next attempt asks the next one */
		rc->node = (rc->node + 1) % rc->nnodes;
	ev_timer_stop(rc->loop, &rc->connect_timer);
	ev_timer_stop(rc->loop, &rc->command_timer);
	if (rc->down_since == 0)
		rc->down_since = ev_now(rc->loop) ? ev_now(rc->loop) : 1;
	rconn_log_failure(rc, msg, was_up);
	ev_timer_start(rc->loop, &rc->retry_timer, rconn_backoff(rc),
	    rconn_retry, rc);
	if (was_up && rc->state_cb != NULL && !rc->freeing)
		rc->state_cb(rc, 0, rc->arg);
}

/* The handshake command waiting for its reply, for messages. */
static const char *
rconn_handshake_pending(const struct rconn *rc)
{
	if (rc->hs_next < RCONN_HANDSHAKE_MAX && rc->hs_names[rc->hs_next] != NULL)
		return rc->hs_names[rc->hs_next];
	return "SUBSCRIBE";
}

/* hiredis is freeing ac on its own (I/O error, server gone): forget it. */
static void
rconn_lost(struct rconn *rc, const redisAsyncContext *ac)
{
	const char *why = ac->err && ac->errstr != NULL ? ac->errstr : "closed";

	if (rc->ac != ac)
		return;
	rc->ac = NULL;
	if (rc->state == RCONN_HANDSHAKE)
		rconn_down(rc, "%s(%s): %s", rconn_handshake_pending(rc),
		    rc->addr, why);
	else
		rconn_down(rc, "connection to %s lost: %s", rc->addr, why);
}

static void
rconn_up(struct rconn *rc)
{
	ev_timer_stop(rc->loop, &rc->connect_timer);
	rc->state = RCONN_UP;
	rc->backoff_ms = 0;
	if (rc->down_since != 0)
		log_info("redis %s: connected to redis %s (after %llu ms)",
		    rc->name, rc->addr,
		    (unsigned long long)(ev_now(rc->loop) - rc->down_since));
	else
		log_info("redis %s: connected to redis %s", rc->name, rc->addr);
	rc->down_since = 0;
	rc->last_error[0] = '\0';
	if (rc->ever_up)
		rc->reconnects++;
	rc->ever_up = 1;
	if (rc->state_cb != NULL && !rc->freeing)
		rc->state_cb(rc, 1, rc->arg);
}

static void
rconn_connect_timeout(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct rconn *rc = arg;

	(void)loop;
	(void)t;
	rconn_enter(rc);
	if (rc->state == RCONN_CONNECTING)
		rconn_down(rc, "connect(%s): timed out after %llu ms", rc->addr,
		    (unsigned long long)rc->connect_timeout_ms);
	else if (rc->state == RCONN_HANDSHAKE)
		rconn_down(rc, "%s(%s): no reply in %llu ms",
		    rconn_handshake_pending(rc), rc->addr,
		    (unsigned long long)rc->connect_timeout_ms);
	rconn_leave(rc);
}

/* The oldest outstanding reply is overdue: drop the connection (pending
 * callbacks get NULL) and reconnect.  Otherwise look again when it will be. */
static void
rconn_command_timeout(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct rconn *rc = arg;
	struct rcmd *oldest = TAILQ_FIRST(&rc->cmds);
	uint64_t age;

	(void)t;
	if (oldest == NULL || rc->state != RCONN_UP)
		return;
	rconn_enter(rc);
	age = ev_now(loop) - oldest->sent_ms;
	if (age >= rc->command_timeout_ms)
		rconn_down(rc, "command(%s): no reply in %llu ms", rc->addr,
		    (unsigned long long)age);
	else
		ev_timer_start(loop, &rc->command_timer,
		    rc->command_timeout_ms - age, rconn_command_timeout, rc);
	rconn_leave(rc);
}

/* Handshake */

static void
rconn_handshake_step(struct rconn *rc)
{
	if (--rc->hs_left == 0)
		rconn_up(rc);
}

static void
rconn_on_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
	struct rconn *rc = privdata;
	redisReply *reply = r;
	const char *name, *role;

	if (reply == NULL) {
		rconn_lost(rc, ac);
		return;
	}
	if (rc->ac != ac || rc->state != RCONN_HANDSHAKE)
		return;
	name = rc->hs_next < RCONN_HANDSHAKE_MAX ? rc->hs_names[rc->hs_next++] :
	    "handshake";
	if (reply->type == REDIS_REPLY_ERROR) {
		/* Never the arguments: AUTH's is the password. */
		rconn_down(rc, "%s(%s): %s", name, rc->addr, reply->str);
		return;
	}
	if (strcmp(name, "ROLE") == 0 && (role = sentinel_parse_role(reply),
	    role == NULL || strcmp(role, "master") != 0)) {
		rconn_down(rc, "ROLE(%s): %s, not the master", rc->addr,
		    role != NULL ? role : "unreadable answer");
		return;
	}
	rconn_handshake_step(rc);
}

static void
rconn_on_message(redisAsyncContext *ac, void *r, void *privdata)
{
	struct rsub *sub = privdata;
	struct rconn *rc = sub->rc;
	redisReply *reply = r;
	const char *kind;

	if (reply == NULL) {
		rconn_lost(rc, ac);
		return;
	}
	if (rc->ac != ac || rc->freeing || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 3 ||
	    reply->element[0]->type != REDIS_REPLY_STRING)
		return;
	kind = reply->element[0]->str;
	if (strcmp(kind, "subscribe") == 0) {
		if (rc->state == RCONN_HANDSHAKE)
			rconn_handshake_step(rc);
	} else if (strcmp(kind, "message") == 0 &&
	    reply->element[2]->type == REDIS_REPLY_STRING && sub->cb != NULL)
		sub->cb(rc, reply->element[1]->str, reply->element[2]->str,
		    reply->element[2]->len, sub->arg);
}

static int
rconn_send_subscribe(struct rconn *rc, struct rsub *sub)
{
	if (redisAsyncCommand(rc->ac, rconn_on_message, sub, "SUBSCRIBE %s",
	    sub->channel) != REDIS_OK) {
		rconn_down(rc, "SUBSCRIBE(%s) %s: cannot queue the command",
		    rc->addr, sub->channel);
		return -1;
	}
	return 0;
}

static int
rconn_send_handshake(struct rconn *rc, const char *name, const char *fmt, ...)
{
	va_list ap;
	int rv;

	va_start(ap, fmt);
	rv = redisvAsyncCommand(rc->ac, rconn_on_handshake, rc, fmt, ap);
	va_end(ap);
	if (rv != REDIS_OK) {
		rconn_down(rc, "%s(%s): cannot queue the command", name,
		    rc->addr);
		return -1;
	}
	rc->hs_names[rc->hs_left++] = name;
	return 0;
}

/* Connected: AUTH, SELECT, ROLE (with Sentinel: only a master will do),
 * then PING (or SUBSCRIBE), all pipelined; a sentinel gets only the last.
 * UP is reported when the last of them has answered. */
static void
rconn_handshake(struct rconn *rc)
{
	rc->state = RCONN_HANDSHAKE;
	rc->hs_next = 0;
	rc->hs_left = 0;
	memset(rc->hs_names, 0, sizeof(rc->hs_names));
	if (rc->password != NULL && rc->nodes == NULL &&
	    rconn_send_handshake(rc, "AUTH", "AUTH %s", rc->password) == -1)
		return;
	if (rc->db != 0 && rc->nodes == NULL &&
	    rconn_send_handshake(rc, "SELECT", "SELECT %d", rc->db) == -1)
		return;
	if (rc->sentinel != NULL &&
	    rconn_send_handshake(rc, "ROLE", "ROLE") == -1)
		return;
	if (rc->nsubs == 0) {
		(void)rconn_send_handshake(rc, "PING", "PING");
		return;
	}
	for (size_t i = 0; i < rc->nsubs; i++) {
		if (rconn_send_subscribe(rc, rc->subs[i]) == -1)
			return;
		rc->hs_left++;
	}
}

static void
rconn_on_connect(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;

	if (rc->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees ac when this returns. */
		rc->ac = NULL;
		rconn_down(rc, "connect(%s): %s", rc->addr,
		    ac->errstr != NULL ? ac->errstr : "failed");
		return;
	}
	rconn_handshake(rc);
}

/* Called for clean and error disconnects; hiredis frees ac afterwards. */
static void
rconn_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;

	(void)status;
	rconn_lost(rc, ac);
}

/* Start one connection attempt (from rconn_new or the retry timer). */
static void
rconn_connect(struct rconn *rc)
{
	redisAsyncContext *ac;
	const char *why;

	if (rc->ac != NULL)
		rconn_close(rc);
	rc->state = RCONN_CONNECTING;
	rc->attempt_at = ev_now_update(rc->loop); /* the connect timer starts now */
	if ((why = rconn_resolve(rc)) == rconn_no_master) {
		/* Not a failure of this connection: the watcher's own
		 * connections log why, and its answer retries us at once. */
		log_debug("redis %s: %s", rc->name, why);
		rc->state = RCONN_WAITING;
		ev_timer_start(rc->loop, &rc->retry_timer, rconn_backoff(rc),
		    rconn_retry, rc);
		return;
	}
	if (why != NULL) {
		rconn_down(rc, "rconn_resolve(%s): %s", rc->socket != NULL ?
		    rc->socket : rc->host, why);
		return;
	}
	if (rc->target.path[0] != '\0')
		ac = redisAsyncConnectUnix(rc->target.path);
	else
		ac = redisAsyncConnect(rc->target.host, rc->target.port);
	if (ac == NULL) {
		rconn_down(rc, "connect(%s): out of memory", rc->addr);
		return;
	}
	if (ac->err) {
		rconn_down(rc, "connect(%s): %s", rc->addr, ac->errstr);
		redisAsyncFree(ac);
		return;
	}
	rc->ac = ac;
	ac->data = rc;
	rconn_attach(rc, ac);
	/* The connect callback arms the write watch: attach first. */
	redisAsyncSetConnectCallback(ac, rconn_on_connect);
	redisAsyncSetDisconnectCallback(ac, rconn_on_disconnect);
	ev_timer_start(rc->loop, &rc->connect_timer, rc->connect_timeout_ms,
	    rconn_connect_timeout, rc);
}

static char *
rconn_strdup_nonempty(const char *s, int *failed)
{
	char *copy;

	if (s == NULL || *s == '\0')
		return NULL;
	if ((copy = strdup(s)) == NULL)
		*failed = 1;
	return copy;
}

static int
rconn_copy_conf(struct rconn *rc, const struct conf *conf, const char *name)
{
	int failed = 0;

	rc->name = strdup(name != NULL ? name : "redis");
	rc->host = strdup(conf->redis.host != NULL ? conf->redis.host :
	    "127.0.0.1");
	rc->socket = rconn_strdup_nonempty(conf->redis.socket, &failed);
	rc->password = rconn_strdup_nonempty(conf->redis.password, &failed);
	if (rc->name == NULL || rc->host == NULL || failed)
		return -1;
	rc->port = (int)conf->redis.port;
	rc->db = (int)conf->redis.db;
	rc->connect_timeout_ms = conf->redis.connect_timeout_ms > 0 ?
	    (uint64_t)conf->redis.connect_timeout_ms :
	    RCONN_CONNECT_TIMEOUT_DEFAULT_MS;
	rc->command_timeout_ms = conf->redis.command_timeout_ms > 0 ?
	    (uint64_t)conf->redis.command_timeout_ms : 0;
	return 0;
}

/* A copy of conf's sentinels for a connection to them.  0 or -1. */
static int
rconn_copy_nodes(struct rconn *rc, const struct conf *conf)
{
	const struct conf_strlist *l = &conf->redis.sentinel.nodes;

	if (l->n == 0 || (rc->nodes = calloc(l->n, sizeof(char *))) == NULL)
		return -1;
	rc->nnodes = l->n;
	for (size_t i = 0; i < l->n; i++)
		if ((rc->nodes[i] = strdup(l->v[i])) == NULL)
			return -1;
	return 0;
}

enum rconn_kind { RCONN_MASTER, RCONN_SENTINEL };

static struct rconn *
rconn_make(struct ev_loop *loop, const struct conf *conf, const char *name,
    rconn_state_cb *state_cb, void *arg, enum rconn_kind kind)
{
	struct rconn *rc;

	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		goto fail;
	rc->serial = ++rconn_serials;
	rc->loop = loop;
	rc->fd = -1;
	rc->state = RCONN_WAITING;
	rc->state_cb = state_cb;
	rc->arg = arg;
	TAILQ_INIT(&rc->cmds);
	rc->rng = ((uint64_t)getpid() << 32) ^ ev_now_update(loop) ^
	    (uint64_t)(uintptr_t)rc;
	if (rc->rng == 0)
		rc->rng = 1;
	if (rconn_copy_conf(rc, conf, name) == -1)
		goto fail;
	if (kind == RCONN_SENTINEL && rconn_copy_nodes(rc, conf) == -1)
		goto fail;
	if (kind == RCONN_MASTER && conf->redis.sentinel.master != NULL &&
	    conf->redis.sentinel.master[0] != '\0' &&
	    (rc->sentinel = sentinel_attach(loop, conf, rc)) == NULL)
		goto fail;
	/* A failed first attempt only arms the retry timer. */
	rconn_enter(rc);
	rconn_connect(rc);
	rconn_leave(rc);
	return rc;
fail:
	log_error("rconn_new(%s): out of memory", name != NULL ? name : "redis");
	if (rc != NULL) {
		rc->busy = 1;
		rconn_destroy(rc);
	}
	return NULL;
}

struct rconn *
rconn_new(struct ev_loop *loop, const struct conf *conf, const char *name,
    rconn_state_cb *state_cb, void *arg)
{
	return rconn_make(loop, conf, name, state_cb, arg, RCONN_MASTER);
}

struct rconn *
rconn_new_sentinel(struct ev_loop *loop, const struct conf *conf,
    const char *name, rconn_state_cb *state_cb, void *arg)
{
	return rconn_make(loop, conf, name, state_cb, arg, RCONN_SENTINEL);
}

static void
rconn_destroy(struct rconn *rc)
{
	struct rcmd *cmd;

	rc->freeing = 1;
	rc->state = RCONN_CLOSED;
	ev_timer_stop(rc->loop, &rc->retry_timer);
	ev_timer_stop(rc->loop, &rc->connect_timer);
	ev_timer_stop(rc->loop, &rc->command_timer);
	rconn_close(rc);	/* pending callbacks get NULL */
	while ((cmd = TAILQ_FIRST(&rc->cmds)) != NULL) {
		TAILQ_REMOVE(&rc->cmds, cmd, entry);
		free(cmd);
	}
	for (size_t i = 0; i < rc->nsubs; i++) {
		free(rc->subs[i]->channel);
		free(rc->subs[i]);
	}
	free(rc->subs);
	sentinel_detach(rc->sentinel, rc);
	for (size_t i = 0; rc->nodes != NULL && i < rc->nnodes; i++)
		free(rc->nodes[i]);
	free(rc->nodes);
	if (rc->password != NULL) {
		explicit_bzero(rc->password, strlen(rc->password));
		free(rc->password);
	}
	free(rc->socket);
	free(rc->host);
	free(rc->name);
	free(rc);
}

void
rconn_free(struct rconn *rc)
{
	if (rc == NULL || rc->freeing)
		return;
	rc->freeing = 1;
	if (rc->busy > 0)
		return;		/* rconn_leave finishes it */
	rc->busy = 1;
	rconn_destroy(rc);
}

void
rconn_reset(struct rconn *rc, const char *why)
{
	if (rc == NULL || rc->freeing)
		return;
	rconn_enter(rc);
	rconn_down(rc, "%s(%s): %s", rc->nsubs > 0 ? "subscriber" : "connection",
	    rc->addr, why);
	rconn_leave(rc);
}

int
rconn_is_up(const struct rconn *rc)
{
	return rc->state == RCONN_UP && rc->ac != NULL && !rc->close_pending &&
	    !rc->freeing;
}

uint64_t
rconn_serial(const struct rconn *rc)
{
	return rc->serial;
}

uint64_t
rconn_reconnects(const struct rconn *rc)
{
	return rc->reconnects;
}

uint64_t
rconn_errors(const struct rconn *rc)
{
	return rc->errors;
}

struct ev_loop *
rconn_loop(const struct rconn *rc)
{
	return rc->loop;
}

const char *
rconn_addr(const struct rconn *rc)
{
	return rc->addr;
}

void
rconn_master_moved(struct rconn *rc, const char *host, int port)
{
	if (rc->freeing)
		return;
	rconn_enter(rc);
	if (rc->state == RCONN_WAITING)
		rconn_retry_within(rc, 0);
	else if (strcmp(rc->target.host, host) != 0 || rc->target.port != port)
		rconn_down(rc, "%s(%s): the master is now %s:%d",
		    rc->nsubs > 0 ? "subscriber" : "connection", rc->addr,
		    host, port);
	rconn_leave(rc);
}

void
rconn_hurry(struct rconn *rc, uint64_t ms)
{
	uint64_t now = ev_now(rc->loop);
	uint64_t next = rc->attempt_at + RCONN_HURRY_MS;

	if (rc->freeing)
		return;
	if (rc->hurry_until < now + ms)
		rc->hurry_until = now + ms;
	rconn_retry_within(rc, next > now ? next - now : 0);
}

/* Commands */

/* An error reply of a replica refusing a write: the plain command's, or
 * the same inside a script's error ("... READONLY You can't write..."). */
static int
rconn_is_readonly(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	    (strncmp(r->str, "READONLY", 8) == 0 ||
	    strstr(r->str, "-READONLY") != NULL ||
	    strstr(r->str, " READONLY ") != NULL);
}

static void
rconn_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct rcmd *cmd = privdata;
	struct rconn *rc = cmd->rc;

	TAILQ_REMOVE(&rc->cmds, cmd, entry);
	if (r != NULL && ((redisReply *)r)->type == REDIS_REPLY_ERROR &&
	    strncmp(((redisReply *)r)->str, "NOSCRIPT", 8) != 0)
		rc->errors++;	/* a lost command counts with its connection */
	if (r == NULL)
		rconn_lost(rc, ac);
	else if (rc->sentinel != NULL && rconn_is_readonly(r))
		rconn_down(rc, "command(%s): READONLY: the server is no "
		    "longer the master", rc->addr);
	if (cmd->cb != NULL)
		cmd->cb(rc, rc->freeing ? NULL : r, cmd->arg);
	free(cmd);
}

static struct rcmd *
rconn_cmd_new(struct rconn *rc, rconn_reply_cb *cb, void *arg)
{
	struct rcmd *cmd;

	if (!rconn_is_up(rc) || rc->nsubs > 0)
		return NULL;
	if ((cmd = calloc(1, sizeof(*cmd))) == NULL)
		return NULL;
	cmd->rc = rc;
	cmd->cb = cb;
	cmd->arg = arg;
	/* Fresh: the caller may have run long since the loop woke up. */
	cmd->sent_ms = ev_now_update(rc->loop);
	return cmd;
}

/* After hiredis took (rv == REDIS_OK) or refused the command. */
static int
rconn_cmd_sent(struct rconn *rc, struct rcmd *cmd, int rv)
{
	if (rv != REDIS_OK) {
		free(cmd);
		return -1;
	}
	TAILQ_INSERT_TAIL(&rc->cmds, cmd, entry);
	if (rc->command_timeout_ms > 0 && !rc->command_timer.armed)
		ev_timer_start(rc->loop, &rc->command_timer,
		    rc->command_timeout_ms, rconn_command_timeout, rc);
	return 0;
}

int
rconn_command(struct rconn *rc, rconn_reply_cb *cb, void *arg,
    const char *fmt, ...)
{
	struct rcmd *cmd;
	va_list ap;
	int rv;

	if ((cmd = rconn_cmd_new(rc, cb, arg)) == NULL)
		return -1;
	va_start(ap, fmt);
	rv = redisvAsyncCommand(rc->ac, rconn_on_reply, cmd, fmt, ap);
	va_end(ap);
	return rconn_cmd_sent(rc, cmd, rv);
}

int
rconn_commandargv(struct rconn *rc, rconn_reply_cb *cb, void *arg,
    int argc, const char **argv, const size_t *argvlen)
{
	struct rcmd *cmd;

	if ((cmd = rconn_cmd_new(rc, cb, arg)) == NULL)
		return -1;
	return rconn_cmd_sent(rc, cmd, redisAsyncCommandArgv(rc->ac,
	    rconn_on_reply, cmd, argc, argv, argvlen));
}

int
rconn_subscribe(struct rconn *rc, const char *channel, rconn_message_cb *cb,
    void *arg)
{
	struct rsub *sub = NULL, **subs;

	if (!TAILQ_EMPTY(&rc->cmds) || rc->freeing)
		goto fail;
	if ((sub = calloc(1, sizeof(*sub))) == NULL ||
	    (sub->channel = strdup(channel)) == NULL)
		goto fail;
	sub->rc = rc;
	sub->cb = cb;
	sub->arg = arg;
	subs = reallocarray(rc->subs, rc->nsubs + 1, sizeof(*subs));
	if (subs == NULL)
		goto fail;
	rc->subs = subs;
	rc->subs[rc->nsubs++] = sub;
	/* Connected already: subscribe now; otherwise the handshake does it. */
	if (rc->ac != NULL && !rc->close_pending &&
	    (rc->state == RCONN_HANDSHAKE || rc->state == RCONN_UP)) {
		rconn_enter(rc);
		if (rconn_send_subscribe(rc, sub) == 0 &&
		    rc->state == RCONN_HANDSHAKE)
			rc->hs_left++;
		rconn_leave(rc);
	}
	return 0;
fail:
	log_error("rconn_subscribe(%s): %s", channel,
	    rc->freeing ? "connection being freed" :
	    !TAILQ_EMPTY(&rc->cmds) ? "commands outstanding" : "out of memory");
	if (sub != NULL)
		free(sub->channel);
	free(sub);
	return -1;
}

const char *
redis_hash_field(const redisReply *r, const char *field)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[i]->str, field) == 0)
			return r->element[i + 1]->str;
	return NULL;
}
