/*
 * upstream: pooled keep-alive connections from a proxy worker to instances
 * (see upstream.h).
 *
 * Each struct upstream is one TCP connection serving one request at a time:
 * CONNECTING -> WRITING -> READING -> (back to the pool: IDLE) or closed.
 * upstream_close is its only exit.  Connections belong to the pool of their
 * address (a small hash table of addresses), which keeps the idle ones and
 * counts them all; a pool lives while it has connections, so finding an
 * idle connection costs the same with 2 instances or 1,000.  The response is read whole into the
 * connection's buffer (at most UPSTREAM_RESPONSE_MAX); a chunked body is
 * decoded in place as it arrives.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/log.h"
#include "workers/proxy/upstream.h"

/* How long a pooled connection may stay idle: below the 5 s keep-alive
 * timeout of Node.js, the order listeners' runtime, so olb closes first and
 * never sends a request on a connection the instance is closing. */
#define UPSTREAM_IDLE_MS	4000

enum upstream_state {
	UPSTREAM_CONNECTING,
	UPSTREAM_WRITING,
	UPSTREAM_READING,
	UPSTREAM_IDLE,
};

/* The connections to one address. */
struct upstream_pool {
	char			 ip[64];
	uint16_t		 port;
	uint32_t		 hash;
	size_t			 nconns;	/* busy and idle */
	size_t			 nidle;
	struct upstream		*idle;		/* most recently used first */
	struct upstream_pool	*next;		/* hash chain */
};

#define UPSTREAM_POOL_BUCKETS	256

struct upstream {
	int			 fd;
	enum upstream_state	 state;
	struct upstream_pool	*pool;
	const char		*out;		/* borrowed: the request */
	size_t			 out_len, out_off;
	char			*in;		/* owned: the response */
	size_t			 in_len, in_cap;
	int			 head_request;
	int			 reused;	/* taken from the pool, nothing written
					   on it yet for this request */
	int			 head_done;
	struct http_response	 res;
	struct http_chunked	 chunk;
	size_t			 body_len;	/* decoded body bytes after the head */
	size_t			 raw_off;	/* chunked: first undecoded byte */
	upstream_cb		*cb;		/* NULL once called or cancelled */
	void			*arg;
	struct ev_timer		 timer;
	struct upstream		*next;		/* IDLE: its pool's list */
	struct upstream		*send_next;	/* on the send queue */
	struct upstream		**send_prev;	/* NULL: not queued */
};

static struct {
	struct ev_loop		*loop;
	struct upstream_settings s;
	struct upstream_pool	*pools[UPSTREAM_POOL_BUCKETS];
	struct upstream		*send_queue;	/* written before the loop sleeps */
	size_t			 nqueued;
	size_t			 nidle;		/* over all pools */
	uint64_t		 connects;
} up;

static void	upstream_on_io(struct ev_loop *loop, int fd, int mask, void *arg);

static void	upstream_flush_queue(struct ev_loop *loop, void *arg);

void
upstream_init(struct ev_loop *loop, const struct upstream_settings *s)
{
	up.loop = loop;
	up.s = *s;
	(void)ev_before_sleep_add(loop, upstream_flush_queue, NULL);
}

/* Requests on reused connections are written together just before the loop
 * sleeps, not one by one while the loop still reads its clients: an
 * instance then wakes once for several requests instead of once for each.
 * A long loop turn writes every UPSTREAM_SEND_BATCH requests, so the first
 * of a turn does not wait for the whole turn. */
#define UPSTREAM_SEND_BATCH	16

static void
upstream_queue_send(struct upstream *u)
{
	if (u->send_prev != NULL)
		return;
	u->send_next = up.send_queue;
	if (up.send_queue != NULL)
		up.send_queue->send_prev = &u->send_next;
	up.send_queue = u;
	u->send_prev = &up.send_queue;
	if (++up.nqueued >= UPSTREAM_SEND_BATCH)
		upstream_flush_queue(up.loop, NULL);
}

static void
upstream_unqueue_send(struct upstream *u)
{
	if (u->send_prev == NULL)
		return;
	*u->send_prev = u->send_next;
	if (u->send_next != NULL)
		u->send_next->send_prev = u->send_prev;
	u->send_prev = NULL;
	u->send_next = NULL;
	up.nqueued--;
}

size_t
upstream_idle_count(void)
{
	return up.nidle;
}

uint64_t
upstream_connects(void)
{
	return up.connects;
}

static uint32_t
upstream_hash(const char *ip, uint16_t port)
{
	uint32_t h = 2166136261u ^ port;

	for (; *ip != '\0'; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h;
}

/* The link to the pool of ip:port, or to the NULL ending its chain. */
static struct upstream_pool **
upstream_pool_slot(const char *ip, uint16_t port, uint32_t h)
{
	struct upstream_pool **p = &up.pools[h % UPSTREAM_POOL_BUCKETS];

	for (; *p != NULL; p = &(*p)->next)
		if ((*p)->hash == h && (*p)->port == port &&
		    strcmp((*p)->ip, ip) == 0)
			break;
	return p;
}

/* The pool of ip:port, created if needed; NULL if ip does not fit or out of
 * memory. */
static struct upstream_pool *
upstream_pool_get(const char *ip, uint16_t port)
{
	uint32_t h = upstream_hash(ip, port);
	struct upstream_pool **p = upstream_pool_slot(ip, port, h), *pool;

	if (*p != NULL)
		return *p;
	if (strlen(ip) >= sizeof(pool->ip) ||
	    (pool = calloc(1, sizeof(*pool))) == NULL)
		return NULL;
	memcpy(pool->ip, ip, strlen(ip) + 1);
	pool->port = port;
	pool->hash = h;
	*p = pool;
	return pool;
}

/* Take u out of its pool's idle list. */
static void
upstream_unpool(struct upstream *u)
{
	struct upstream_pool *pool = u->pool;

	for (struct upstream **p = &pool->idle; *p != NULL; p = &(*p)->next) {
		if (*p == u) {
			*p = u->next;
			pool->nidle--;
			up.nidle--;
			return;
		}
	}
}

/* Free pool if it has no connection left. */
static void
upstream_pool_drop_unused(struct upstream_pool *pool)
{
	struct upstream_pool **p;

	if (pool->nconns > 0)
		return;
	p = upstream_pool_slot(pool->ip, pool->port, pool->hash);
	*p = pool->next;
	free(pool);
}

/* The only way a connection ends. */
static void
upstream_close(struct upstream *u)
{
	if (u->state == UPSTREAM_IDLE)
		upstream_unpool(u);
	upstream_unqueue_send(u);
	ev_timer_stop(up.loop, &u->timer);
	if (u->fd != -1) {	/* -1: a resend could not open a new one */
		ev_io_del(up.loop, u->fd, EV_READ | EV_WRITE);
		close(u->fd);
	}
	u->pool->nconns--;
	upstream_pool_drop_unused(u->pool);
	free(u->in);
	free(u);
}

/* Call back once with a failure, then close. */
static void
upstream_fail(struct upstream *u, int status, const char *why)
{
	upstream_cb *cb = u->cb;

	log_warn("upstream %s:%u: %s", u->pool->ip, u->pool->port, why);
	u->cb = NULL;
	if (cb != NULL)
		cb(u->arg, status, NULL, NULL, NULL, 0);
	upstream_close(u);
}

static void
upstream_on_timeout(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct upstream *u = arg;

	(void)loop;
	(void)t;
	if (u->state == UPSTREAM_IDLE) {
		upstream_close(u);
		return;
	}
	upstream_fail(u, 504, u->state == UPSTREAM_CONNECTING ? "connect timed out" :
	    "no answer in time");
}

/* The answer is complete: deliver it, then pool or close the connection. */
static void
upstream_complete(struct upstream *u)
{
	upstream_cb *cb = u->cb;
	int reuse = u->res.keep_alive;

	u->cb = NULL;
	if (cb != NULL)
		cb(u->arg, 0, &u->res, u->in, u->in + u->res.header_len, u->body_len);
	if (!reuse || u->pool->nidle >= up.s.max_idle_per_address) {
		upstream_close(u);
		return;
	}
	u->out = NULL;
	u->out_len = u->out_off = u->in_len = 0;
	u->head_done = 0;
	u->body_len = u->raw_off = 0;
	u->state = UPSTREAM_IDLE;
	ev_io_del(up.loop, u->fd, EV_WRITE);
	u->next = u->pool->idle;
	u->pool->idle = u;
	u->pool->nidle++;
	up.nidle++;
	ev_timer_start(up.loop, &u->timer, UPSTREAM_IDLE_MS, upstream_on_timeout, u);
}

/* Decode newly read chunked bytes behind the decoded body.  1 when the body
 * is complete, 0 for more, -1 malformed. */
static int
upstream_chunked(struct upstream *u)
{
	size_t out = 0;
	ssize_t n;

	n = http_chunked_decode(&u->chunk, u->in + u->raw_off, u->in_len - u->raw_off,
	    &out, UPSTREAM_RESPONSE_MAX);
	if (n < 0)
		return -1;
	memmove(u->in + u->res.header_len + u->body_len, u->in + u->raw_off, out);
	u->body_len += out;
	u->raw_off += (size_t)n;
	if (!u->chunk.done)
		return 0;
	return u->raw_off == u->in_len ? 1 : -1;	/* nothing may follow */
}

/* Look at what has been read.  1 complete, 0 more needed, -1 bad. */
static int
upstream_parse(struct upstream *u, int eof)
{
	int rc;

	while (!u->head_done) {
		rc = http_parse_response(u->in, u->in_len, 16384, u->head_request, &u->res);
		if (rc <= 0)
			return rc < 0 || eof ? -1 : 0;
		if (u->res.status >= 100 && u->res.status < 200) {
			/* 100 Continue and friends: skip, the real answer follows. */
			memmove(u->in, u->in + rc, u->in_len - (size_t)rc);
			u->in_len -= (size_t)rc;
			continue;
		}
		u->head_done = 1;
		u->raw_off = u->res.header_len;
		if (u->res.chunked)
			http_chunked_init(&u->chunk);
	}
	if (u->res.no_body)
		return u->in_len == u->res.header_len ? 1 : -1;
	if (u->res.chunked) {
		rc = upstream_chunked(u);
		return rc == 0 && eof ? -1 : rc;
	}
	u->body_len = u->in_len - u->res.header_len;
	if (u->res.content_length >= 0) {
		if (u->body_len > (size_t)u->res.content_length)
			return -1;
		return u->body_len == (size_t)u->res.content_length ? 1 : 0;
	}
	return eof ? 1 : 0;	/* delimited by the close */
}

/* Read what the instance sent.  Called on EV_READ while READING or IDLE. */
static void
upstream_read(struct upstream *u)
{
	for (;;) {
		size_t room;
		ssize_t n;
		int rc;

		if (u->in_len == u->in_cap) {
			size_t cap = u->in_cap ? u->in_cap * 2 : 4096;
			char *in;

			if (cap > UPSTREAM_RESPONSE_MAX + 16384 ||
			    (in = realloc(u->in, cap)) == NULL) {
				upstream_fail(u, 502, "answer too large");
				return;
			}
			u->in = in;
			u->in_cap = cap;
		}
		room = u->in_cap - u->in_len;
		n = recv(u->fd, u->in + u->in_len, room, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n == -1) {
			upstream_fail(u, 502, strerror(errno));
			return;
		}
		u->in_len += (size_t)n;
		rc = upstream_parse(u, n == 0);
		if (rc == 1) {
			upstream_complete(u);
			return;
		}
		if (rc == -1 || n == 0) {
			upstream_fail(u, 502, n == 0 ? "connection closed before the answer "
			    "was complete" : "malformed answer");
			return;
		}
		if ((size_t)n < room)
			return;		/* drained: the rest is a later event */
	}
}

static int	upstream_open(struct upstream *u);
static void	upstream_on_timeout(struct ev_loop *loop, struct ev_timer *t,
    void *arg);

/*
 * u's request provably never reached the instance: u is a pooled connection
 * that the instance had closed (end of file or reset seen) before a byte of
 * this request was written.  Send it again on a new connection, once (SPEC
 * §3 forbids a retry only for a request that may have reached the
 * instance).  0, or -1 if u failed (closed, callback called).
 */
static int
upstream_resend(struct upstream *u, const char *why)
{
	log_debug("upstream %s:%u: pooled connection closed by the instance "
	    "(%s) before the request was written; sending it on a new one",
	    u->pool->ip, u->pool->port, why);
	u->reused = 0;
	upstream_unqueue_send(u);
	ev_io_del(up.loop, u->fd, EV_READ | EV_WRITE);
	close(u->fd);
	u->fd = -1;
	if (upstream_open(u) == -1 ||
	    ev_io_add(up.loop, u->fd, EV_READ | EV_WRITE, upstream_on_io, u) == -1) {
		upstream_fail(u, UPSTREAM_UNREACHABLE, "reconnect failed");
		return -1;
	}
	ev_timer_start(up.loop, &u->timer, up.s.connect_timeout_ms,
	    upstream_on_timeout, u);
	return 0;
}

/* Write the request; then wait for the answer.  0, or -1 if u was closed
 * (or is connecting again: upstream_resend). */
static int
upstream_write(struct upstream *u)
{
	while (u->out_off < u->out_len) {
		ssize_t n = send(u->fd, u->out + u->out_off,
		    u->out_len - u->out_off, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			ev_io_add(up.loop, u->fd, EV_WRITE, upstream_on_io, u);
			return 0;
		}
		if (n == -1 && u->reused && u->out_off == 0 &&
		    (errno == EPIPE || errno == ECONNRESET)) {
			(void)upstream_resend(u, strerror(errno));
			return -1;
		}
		if (n == -1) {
			upstream_fail(u, 502, strerror(errno));
			return -1;
		}
		u->reused = 0;
		u->out_off += (size_t)n;
	}
	ev_io_del(up.loop, u->fd, EV_WRITE);
	u->state = UPSTREAM_READING;
	ev_timer_start(up.loop, &u->timer, up.s.response_timeout_ms,
	    upstream_on_timeout, u);
	return 0;
}

static void
upstream_connected(struct upstream *u)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		char why[128];

		snprintf(why, sizeof(why), "connect: %s", strerror(err));
		upstream_fail(u, UPSTREAM_UNREACHABLE, why);
		return;
	}
	u->state = UPSTREAM_WRITING;
	(void)upstream_write(u);
}

static void
upstream_on_io(struct ev_loop *loop, int fd, int mask, void *arg)
{
	struct upstream *u = arg;

	(void)loop;
	(void)fd;
	switch (u->state) {
	case UPSTREAM_CONNECTING:
		if (mask & (EV_WRITE | EV_READ))
			upstream_connected(u);
		break;
	case UPSTREAM_WRITING:
		if ((mask & EV_READ) && u->reused) {
			/* closed (or spoke) before this request was written */
			(void)upstream_resend(u, "end of file");
			break;
		}
		if ((mask & EV_WRITE) && upstream_write(u) == -1)
			break;
		if (u->state == UPSTREAM_READING && (mask & EV_READ))
			upstream_read(u);
		break;
	case UPSTREAM_READING:
		upstream_read(u);
		break;
	case UPSTREAM_IDLE:
		/* The instance closed (or spoke out of turn): drop it. */
		upstream_close(u);
		break;
	}
}

/* A pooled connection to ip:port, taken out of the pool.  Idle connections
 * stay watched for reading, so one the instance closed has already been
 * dropped by upstream_on_io (no probe per request). */
static struct upstream *
upstream_take_idle(struct upstream_pool *pool)
{
	struct upstream *u = pool->idle;

	if (u == NULL)
		return NULL;
	pool->idle = u->next;
	pool->nidle--;
	up.nidle--;
	u->state = UPSTREAM_WRITING;
	u->reused = 1;
	ev_timer_stop(up.loop, &u->timer);
	return u;
}

/* Open u's socket and start connecting to its pool's address: u->fd, state
 * CONNECTING.  0, or -1 (u->fd is -1). */
static int
upstream_open(struct upstream *u)
{
	struct upstream_pool *pool = u->pool;
	struct sockaddr_in sin;
	int one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(pool->port);
	u->fd = -1;
	if (inet_pton(AF_INET, pool->ip, &sin.sin_addr) != 1)
		return -1;
	if ((u->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	(void)setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	u->state = UPSTREAM_CONNECTING;
	up.connects++;
	if (connect(u->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS) {
		log_warn("upstream connect(%s:%u): %s", pool->ip, pool->port,
		    strerror(errno));
		close(u->fd);
		u->fd = -1;
		return -1;
	}
	return 0;
}

static struct upstream *
upstream_connect(struct upstream_pool *pool)
{
	struct upstream *u;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->pool = pool;
	if (upstream_open(u) == -1) {
		free(u);
		return NULL;
	}
	pool->nconns++;
	return u;
}

struct upstream *
upstream_send(const char *ip, uint16_t port, const char *req, size_t len, int head_request,
    upstream_cb *cb, void *arg)
{
	struct upstream_pool *pool = upstream_pool_get(ip, port);
	struct upstream *u = NULL;

	if (pool == NULL || ((u = upstream_take_idle(pool)) == NULL &&
	    (u = upstream_connect(pool)) == NULL)) {
		if (pool != NULL)
			upstream_pool_drop_unused(pool);
		cb(arg, UPSTREAM_UNREACHABLE, NULL, NULL, NULL, 0);
		return NULL;
	}
	u->out = req;
	u->out_len = len;
	u->out_off = 0;
	u->head_request = head_request;
	u->cb = cb;
	u->arg = arg;
	if (ev_io_add(up.loop, u->fd, EV_READ, upstream_on_io, u) == -1) {
		upstream_fail(u, 502, "cannot watch the connection");
		return NULL;
	}
	if (u->state == UPSTREAM_CONNECTING) {
		ev_io_add(up.loop, u->fd, EV_WRITE, upstream_on_io, u);
		ev_timer_start(up.loop, &u->timer, up.s.connect_timeout_ms,
		    upstream_on_timeout, u);
		return u;
	}
	upstream_queue_send(u);
	return u;
}

/* Before the loop sleeps: write every queued request (a failed write calls
 * its callback, which may queue another: each is taken off first). */
static void
upstream_flush_queue(struct ev_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	while (up.send_queue != NULL) {
		struct upstream *u = up.send_queue;

		upstream_unqueue_send(u);
		(void)upstream_write(u);
	}
}

void
upstream_cancel(struct upstream *u)
{
	u->cb = NULL;
	upstream_close(u);
}

void
upstream_shutdown(void)
{
	ev_before_sleep_del(up.loop, upstream_flush_queue, NULL);
	for (size_t i = 0; i < UPSTREAM_POOL_BUCKETS; i++) {
		struct upstream_pool *pool = up.pools[i];

		/* Close the idle ones; the last close frees the pool. */
		while (pool != NULL) {
			struct upstream_pool *next = pool->next;

			for (size_t n = pool->nidle; n > 0; n--)
				upstream_close(pool->idle);
			pool = next;
		}
	}
}
