/*
 * upstream: pooled keep-alive connections from a proxy worker to instances
 * (see upstream.h).
 *
 * Each struct upstream is one TCP connection serving one request at a time:
 * CONNECTING -> WRITING -> READING -> (back to the pool: IDLE) or closed.
 * upstream_close is its only exit.  The response is read whole into the
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
#include "workers/upstream.h"

enum upstream_state {
	UPSTREAM_CONNECTING,
	UPSTREAM_WRITING,
	UPSTREAM_READING,
	UPSTREAM_IDLE,
};

struct upstream {
	int			 fd;
	enum upstream_state	 state;
	char			 ip[64];
	uint16_t		 port;
	char			*out;		/* owned: the request */
	size_t			 out_len, out_off;
	char			*in;		/* owned: the response */
	size_t			 in_len, in_cap;
	int			 head_request;
	int			 head_done;
	struct http_response	 res;
	struct http_chunked	 chunk;
	size_t			 body_len;	/* decoded body bytes after the head */
	size_t			 raw_off;	/* chunked: first undecoded byte */
	upstream_cb		*cb;		/* NULL once called or cancelled */
	void			*arg;
	struct ev_timer		 timer;
	struct upstream		*next;		/* IDLE: the pool list */
};

static struct {
	struct ev_loop		*loop;
	struct upstream_settings s;
	struct upstream		*idle;		/* list of pooled connections */
	size_t			 nidle;
	uint64_t		 connects;
} up;

static void	upstream_on_io(struct ev_loop *loop, int fd, int mask, void *arg);

void
upstream_init(struct ev_loop *loop, const struct upstream_settings *s)
{
	up.loop = loop;
	up.s = *s;
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

static void
upstream_unpool(struct upstream *u)
{
	for (struct upstream **p = &up.idle; *p != NULL; p = &(*p)->next) {
		if (*p == u) {
			*p = u->next;
			up.nidle--;
			return;
		}
	}
}

/* The only way a connection ends. */
static void
upstream_close(struct upstream *u)
{
	if (u->state == UPSTREAM_IDLE)
		upstream_unpool(u);
	ev_timer_stop(up.loop, &u->timer);
	ev_io_del(up.loop, u->fd, EV_READ | EV_WRITE);
	close(u->fd);
	free(u->out);
	free(u->in);
	free(u);
}

/* Call back once with a failure, then close. */
static void
upstream_fail(struct upstream *u, int status, const char *why)
{
	upstream_cb *cb = u->cb;

	log_warn("upstream %s:%u: %s", u->ip, u->port, why);
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

/* Count idle connections to u's address. */
static size_t
upstream_idle_for(const char *ip, uint16_t port)
{
	size_t n = 0;

	for (struct upstream *i = up.idle; i != NULL; i = i->next)
		if (i->port == port && strcmp(i->ip, ip) == 0)
			n++;
	return n;
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
	if (!reuse || upstream_idle_for(u->ip, u->port) >= up.s.max_idle_per_address) {
		upstream_close(u);
		return;
	}
	free(u->out);
	u->out = NULL;
	u->out_len = u->out_off = u->in_len = 0;
	u->head_done = 0;
	u->body_len = u->raw_off = 0;
	u->state = UPSTREAM_IDLE;
	ev_io_del(up.loop, u->fd, EV_WRITE);
	u->next = up.idle;
	up.idle = u;
	up.nidle++;
	ev_timer_start(up.loop, &u->timer, 60000, upstream_on_timeout, u);
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
		n = read(u->fd, u->in + u->in_len, u->in_cap - u->in_len);
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
	}
}

/* Write the request; then wait for the answer.  0, or -1 if u was closed. */
static int
upstream_write(struct upstream *u)
{
	while (u->out_off < u->out_len) {
		ssize_t n = write(u->fd, u->out + u->out_off, u->out_len - u->out_off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			ev_io_add(up.loop, u->fd, EV_WRITE, upstream_on_io, u);
			return 0;
		}
		if (n == -1) {
			upstream_fail(u, 502, strerror(errno));
			return -1;
		}
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
		upstream_fail(u, 502, why);
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

/* A pooled connection to ip:port that is still open, taken out of the pool. */
static struct upstream *
upstream_take_idle(const char *ip, uint16_t port)
{
	struct upstream *u, **p;
	char c;

	for (p = &up.idle; (u = *p) != NULL;) {
		if (u->port != port || strcmp(u->ip, ip) != 0) {
			p = &u->next;
			continue;
		}
		*p = u->next;
		up.nidle--;
		u->state = UPSTREAM_WRITING;
		if (recv(u->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1 && errno == EAGAIN) {
			ev_timer_stop(up.loop, &u->timer);
			return u;
		}
		upstream_close(u);	/* closed by the instance meanwhile */
	}
	return NULL;
}

static struct upstream *
upstream_connect(const char *ip, uint16_t port)
{
	struct sockaddr_in sin;
	struct upstream *u;
	int fd, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1)
		return NULL;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return NULL;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		close(fd);
		return NULL;
	}
	u->fd = fd;
	snprintf(u->ip, sizeof(u->ip), "%s", ip);
	u->port = port;
	u->state = UPSTREAM_CONNECTING;
	up.connects++;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS) {
		log_warn("upstream connect(%s:%u): %s", ip, port, strerror(errno));
		close(fd);
		free(u);
		return NULL;
	}
	return u;
}

struct upstream *
upstream_send(const char *ip, uint16_t port, char *req, size_t len, int head_request,
    upstream_cb *cb, void *arg)
{
	struct upstream *u;

	if ((u = upstream_take_idle(ip, port)) == NULL &&
	    (u = upstream_connect(ip, port)) == NULL) {
		free(req);
		cb(arg, 502, NULL, NULL, NULL, 0);
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
	return upstream_write(u) == -1 ? NULL : u;
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
	while (up.idle != NULL)
		upstream_close(up.idle);
}
