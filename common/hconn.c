/*
 * hconn: HTTP/1.x server connections (see hconn.h).  Each connection has
 * one input buffer (max_header bytes: a head must fit; body bytes pass
 * through to the owner) and one output buffer, and is freed in hconn_close.
 * The loop is level-triggered: a connection that must not read now (output
 * backed up, input full, closing) stops watching for input rather than
 * being woken for nothing.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hconn.h"
#include "common/log.h"
#include "common/util.h"

static void	hconn_on_io(struct ev_loop *loop, int fd, int mask, void *arg);
static void	hconn_process(struct hconn *c);
static int	hconn_flush(struct hconn *c);
static void	hconn_service(struct hconn *c);

/* Connections */

void
hconn_close(struct hconn *c)
{
	struct hserver *s = c->srv;

	if (s->ops->closing != NULL)
		s->ops->closing(c);
	ev_timer_stop(s->loop, &c->timer);
	ev_io_del(s->loop, c->fd, EV_READ | EV_WRITE);
	close(c->fd);
	LIST_REMOVE(c, entry);
	free(c->in);
	free(c->out);
	free(c);
	s->nconns--;
	if (s->closing_all)
		return;
	if (!s->accepting && !s->draining)
		hserver_accept_resume(s);
	if (s->ops->closed != NULL)
		s->ops->closed(s);
}

static void
hconn_on_timeout(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct hconn *c = arg;

	(void)loop;
	(void)t;
	/* Idle or lingering: close.  A request begun and stalled: 408. */
	if (c->state == HCONN_LINGER ||
	    (c->state == HCONN_HEAD && c->in_len == 0)) {
		hconn_close(c);
		return;
	}
	hconn_error(c, 408);
	if (hconn_flush(c) == 0 && c->state == HCONN_LINGER && c->out_len > 0)
		ev_timer_start(loop, &c->timer, HCONN_LINGER_MS, hconn_on_timeout,
		    c);
}

/* Run the timer for ms (0: no timer). */
static void
hconn_timer(struct hconn *c, uint64_t ms)
{
	if (ms == 0)
		ev_timer_stop(c->srv->loop, &c->timer);
	else
		ev_timer_start(c->srv->loop, &c->timer, ms, hconn_on_timeout, c);
}

/* Answers */

int
hconn_out_append(struct hconn *c, const char *data, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 1024;
		char *out;

		while (cap < c->out_len + n)
			cap *= 2;
		if ((out = realloc(c->out, cap)) == NULL) {
			c->close_after = 1;
			return -1;
		}
		c->out = out;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
	return 0;
}

int
hconn_closes_after(struct hconn *c)
{
	if (!c->keep_alive || c->srv->draining)
		c->close_after = 1;
	return c->close_after;
}

size_t
hconn_framing(struct hconn *c, size_t len, int bodiless, char *out)
{
	static const char close[] = "Connection: close\r\n";
	static const char keep[] = "Connection: keep-alive\r\n";
	size_t n = 0;

	if (!bodiless) {
		memcpy(out, "Content-Length: ", 16);
		n = 16 + util_decimal(len, out + 16);
		memcpy(out + n, "\r\n", 2);
		n += 2;
	}
	if (hconn_closes_after(c)) {
		memcpy(out + n, close, sizeof(close) - 1);
		n += sizeof(close) - 1;
	} else if (c->minor == 0) {
		memcpy(out + n, keep, sizeof(keep) - 1);
		n += sizeof(keep) - 1;
	}
	memcpy(out + n, "\r\n", 2);
	return n + 2;
}
_Static_assert(16 + UTIL_DECIMAL_MAX + 2 + 24 + 2 <= HCONN_FRAMING_MAX,
    "HCONN_FRAMING_MAX");

size_t
hconn_respond(struct hconn *c, int status, const char *headers,
    const char *body, size_t len)
{
	return hconn_respond_type(c, status, "application/json", headers, body,
	    len);
}

size_t
hconn_respond_type(struct hconn *c, int status, const char *type,
    const char *headers, const char *body, size_t len)
{
	int bodiless = status == 204 || status == 304;
	size_t start = c->out_len;
	char line[192];
	int n, rv;

	n = snprintf(line, sizeof(line),
	    "HTTP/1.1 %d %s\r\nContent-Type: %.100s\r\n", status,
	    http_status_reason(status), type);
	rv = hconn_out_append(c, line, (size_t)n);
	rv |= hconn_out_append(c, headers, strlen(headers));
	rv |= hconn_out_append(c, line, hconn_framing(c, len, bodiless, line));
	if (!c->head_only && !bodiless)
		rv |= hconn_out_append(c, body, len);
	if (rv != 0)
		log_warn("connection %d: out of memory", c->fd);
	if (c->srv->ops->answered != NULL)
		c->srv->ops->answered(c, status, c->out_len - start);
	return c->out_len - start;
}

void
hconn_error(struct hconn *c, int status)
{
	char body[256];
	int n;

	n = snprintf(body, sizeof(body), "{\"status\":false,\"message\":\"%s\"}",
	    http_error_message(status));
	c->keep_alive = 0;
	hconn_respond(c, status, "", body, (size_t)n);
	c->state = HCONN_LINGER;
}

int
hconn_body_too_large(const struct http_request *req, uint64_t max)
{
	return req->content_length > 0 && (uint64_t)req->content_length > max;
}

void
hconn_resume(struct hconn *c)
{
	if (c->state == HCONN_WAIT)
		c->state = HCONN_HEAD;
	if (c->processing)
		return;		/* answered at once: hconn_process goes on */
	hconn_service(c);
}

/* Reading requests */

/* The request was read whole: the owner answers it now or later. */
static void
hconn_request_done(struct hconn *c)
{
	c->state = HCONN_WAIT;
	ev_timer_stop(c->srv->loop, &c->timer);
	c->srv->ops->request(c);
}

/* A request head was parsed: let the owner route it, then read its body. */
static void
hconn_on_head(struct hconn *c, const struct http_request *req)
{
	const struct hserver_limits *lim = &c->srv->lim;

	c->keep_alive = req->keep_alive;
	c->minor = req->minor;
	c->head_only = req->method == HTTP_HEAD;
	c->head_started = 0;
	c->srv->ops->head(c, req);
	if (c->state == HCONN_LINGER)
		return;		/* answered at once */
	if (req->expect_continue && (req->chunked || req->content_length > 0))
		(void)hconn_out_append(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	c->chunked = req->chunked;
	c->body_left = req->content_length > 0 ?
	    (uint64_t)req->content_length : 0;
	if (c->chunked)
		http_chunked_init(&c->chunk);
	if (c->chunked || c->body_left > 0) {
		c->state = HCONN_BODY;
		hconn_timer(c, lim->body_timeout_ms);
	} else
		hconn_request_done(c);
}

/* Consume body bytes at the front of the input.  0 when more input is
 * needed or the body is complete, -1 after an error answer. */
static int
hconn_read_body(struct hconn *c, size_t *used)
{
	size_t out_len = 0;
	ssize_t n;

	if (!c->chunked) {
		size_t take = c->in_len < c->body_left ? c->in_len :
		    (size_t)c->body_left;

		c->body_left -= take;
		*used = take;
		if (c->srv->ops->body(c, c->in, take) == -1)
			return -1;
		if (c->body_left == 0)
			hconn_request_done(c);
		return 0;
	}
	n = http_chunked_decode(&c->chunk, c->in, c->in_len, &out_len,
	    c->srv->lim.max_body);
	if (n < 0) {
		hconn_error(c, (int)-n);
		return -1;
	}
	*used = (size_t)n;
	if (c->srv->ops->body(c, c->in, out_len) == -1)
		return -1;
	if (c->chunk.done)
		hconn_request_done(c);
	return 0;
}

/* Serve as many complete requests as the input holds. */
static void
hconn_process(struct hconn *c)
{
	const struct hserver_limits *lim = &c->srv->lim;
	struct http_request req;

	c->processing = 1;
	while (c->in_len > 0 && c->state != HCONN_LINGER &&
	    c->state != HCONN_WAIT && !c->close_after &&
	    c->out_len - c->out_off < HCONN_OUT_HIGH) {
		size_t used = 0;
		int rc;

		if (c->state == HCONN_BODY) {
			if (hconn_read_body(c, &used) == -1)
				break;
		} else {
			rc = http_parse_request(c->in, c->in_len, lim->max_header,
			    &req);
			if (rc == 0)
				break;	/* the parser answers 414/431 at the limit */
			if (rc < 0) {
				hconn_error(c, -rc);
				break;
			}
			used = (size_t)rc;
			hconn_on_head(c, &req);
		}
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		if (used == 0)
			break;
	}
	c->processing = 0;
	/* The head timeout runs from a request's first byte, not its last, so
	 * a client dribbling bytes cannot hold the connection forever. */
	if (c->state == HCONN_HEAD && c->in_len == 0) {
		c->head_started = 0;
		hconn_timer(c, lim->idle_timeout_ms);
	} else if (c->state == HCONN_HEAD && !c->head_started) {
		c->head_started = 1;
		hconn_timer(c, lim->header_timeout_ms);
	}
}

/* Writing answers */

/* Half-close and read until the peer closes, so unread input never turns
 * our close into a reset. */
static void
hconn_linger(struct hconn *c)
{
	shutdown(c->fd, SHUT_WR);
	c->shut = 1;
	c->state = HCONN_LINGER;
	c->in_len = 0;
	hconn_timer(c, HCONN_LINGER_MS);
}

/* Write what is pending; after the final answer, linger.  0, or -1 if the
 * connection was closed. */
static int
hconn_flush(struct hconn *c)
{
	struct ev_loop *loop = c->srv->loop;

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
		    c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN &&
		    ev_io_add(loop, c->fd, EV_WRITE, hconn_on_io, c) == 0)
			return 0;
		if (n == -1) {
			hconn_close(c);
			return -1;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	if (c->out_cap > HCONN_OUT_KEEP) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	ev_io_del(loop, c->fd, EV_WRITE);
	if (c->close_after && !c->shut)
		hconn_linger(c);
	return 0;
}

/* Read what the peer sent.  A short read means the socket is drained (the
 * loop is level-triggered: anything later is another event), which saves
 * the read that would only say EAGAIN.  0, or -1 if the connection was
 * closed. */
static int
hconn_fill(struct hconn *c)
{
	for (;;) {
		size_t room;
		ssize_t n;

		if (c->state == HCONN_LINGER)
			c->in_len = 0;
		if (c->in_len == c->in_cap)
			return 0;	/* full: process first */
		room = c->in_cap - c->in_len;
		n = recv(c->fd, c->in + c->in_len, room, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n == 0 && c->state != HCONN_LINGER &&
		    c->srv->lim.finish_on_eof) {
			c->peer_eof = 1;	/* answer what came, then close */
			return 0;
		}
		if (n <= 0) {
			hconn_close(c);
			return -1;
		}
		if (c->state == HCONN_LINGER)
			continue;
		c->in_len += (size_t)n;
		if ((size_t)n < room)
			return 0;
	}
}

/* Watch for input unless the connection must not read now. */
static void
hconn_watch(struct hconn *c)
{
	int want = !c->peer_eof && (c->state == HCONN_LINGER ||
	    (!c->close_after && c->in_len < c->in_cap &&
	    c->out_len - c->out_off < HCONN_OUT_HIGH));

	if (!want)
		ev_io_del(c->srv->loop, c->fd, EV_READ);
	else if (ev_io_add(c->srv->loop, c->fd, EV_READ, hconn_on_io, c) == -1)
		hconn_close(c);
}

/* Answer what the input holds, write what may go, and watch for what the
 * connection waits for next.  May close c. */
static void
hconn_service(struct hconn *c)
{
	int backed_up;

	/* A batch that stopped because the output backed up goes on as long
	 * as the output is then written whole: the requests still in the
	 * input would get no other wakeup (the peer may have sent them all). */
	do {
		if (c->state != HCONN_LINGER)
			hconn_process(c);
		backed_up = c->out_len - c->out_off >= HCONN_OUT_HIGH;
		if (c->out_len > 0 && hconn_flush(c) == -1)
			return;
	} while (backed_up && c->out_len == 0 && c->state != HCONN_LINGER &&
	    !c->close_after && c->in_len > 0);
	if (c->peer_eof && c->state != HCONN_WAIT && c->out_len == 0) {
		hconn_close(c);
		return;
	}
	hconn_watch(c);
}

static void
hconn_on_io(struct ev_loop *loop, int fd, int mask, void *arg)
{
	struct hconn *c = arg;

	(void)loop;
	(void)fd;
	if ((mask & EV_READ) && hconn_fill(c) == -1)
		return;
	hconn_service(c);
}

/* Accepting */

/* The client's address as text (X-Forwarded-For, logs). */
static void
hconn_peer_name(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const void *addr = NULL;

	if (ss->ss_family == AF_INET)
		addr = &((const struct sockaddr_in *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (addr == NULL ||
	    inet_ntop(ss->ss_family, addr, buf, (socklen_t)size) == NULL)
		snprintf(buf, size, "unknown");
}

static struct hconn *
hconn_new(struct hserver *s, int fd, const struct sockaddr_storage *peer)
{
	struct hconn *c;
	int one = 1;

	if ((c = calloc(1, s->lim.conn_size)) == NULL)
		return NULL;
	/* Each answer is one write: send it now, not after the client's ACK. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->in_cap = s->lim.max_header;
	if ((c->in = malloc(c->in_cap)) == NULL) {
		free(c);
		return NULL;
	}
	c->fd = fd;
	c->srv = s;
	hconn_peer_name(peer, c->peer, sizeof(c->peer));
	c->state = HCONN_HEAD;
	c->keep_alive = 1;
	c->minor = 1;
	if (ev_io_add(s->loop, fd, EV_READ, hconn_on_io, c) == -1) {
		free(c->in);
		free(c);
		return NULL;
	}
	LIST_INSERT_HEAD(&s->conns, c, entry);
	s->nconns++;
	hconn_timer(c, s->lim.idle_timeout_ms);
	return c;
}

static void
hserver_on_accept_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	hserver_accept_resume(arg);
}

void
hserver_accept_pause(struct hserver *s, uint64_t retry_ms)
{
	if (s->listen_fd >= 0)
		ev_io_del(s->loop, s->listen_fd, EV_READ);
	s->accepting = 0;
	if (retry_ms > 0)
		ev_timer_start(s->loop, &s->accept_timer, retry_ms,
		    hserver_on_accept_timer, s);
}

/* Out of descriptors or memory: wait a little before accepting again (the
 * connections stay in the listen queue).  Logged at warn once a shortage,
 * at debug while it lasts (under a flood each freed descriptor takes one
 * connection and the next accept fails again), at info when the queue is
 * empty again. */
static void
hserver_accept_failed(struct hserver *s)
{
	if (s->accept_failures++ == 0)
		log_warn("accept: %m; retrying every %d ms until it succeeds",
		    HCONN_ACCEPT_RETRY_MS);
	else
		log_debug("accept: %m (still failing)");
	hserver_accept_pause(s, HCONN_ACCEPT_RETRY_MS);
}

static void
hserver_on_accept(struct ev_loop *loop, int fd, int mask, void *arg)
{
	struct hserver *s = arg;

	(void)loop;
	(void)mask;
	for (int i = 0; i < HCONN_ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer;
		socklen_t peer_len = sizeof(peer);
		int cfd;

		if (s->lim.max_connections > 0 &&
		    s->nconns >= s->lim.max_connections) {
			hserver_accept_pause(s, 0);	/* resumed by a close */
			return;
		}
		cfd = accept4(fd, (struct sockaddr *)&peer, &peer_len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				hserver_accept_failed(s);
			else if (s->accept_failures > 0 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK)) {
				/* The queue is empty: the shortage is over. */
				log_info("accept: every queued connection "
				    "accepted, after %llu refusals",
				    (unsigned long long)s->accept_failures);
				s->accept_failures = 0;
			}
			return;
		}
		if (hconn_new(s, cfd, &peer) == NULL) {
			log_warn("connection setup failed: out of memory");
			close(cfd);
		}
	}
}

void
hserver_accept_resume(struct hserver *s)
{
	if (s->accepting || s->draining || s->listen_fd < 0)
		return;
	ev_timer_stop(s->loop, &s->accept_timer);
	if (ev_io_add(s->loop, s->listen_fd, EV_READ, hserver_on_accept, s) == 0)
		s->accepting = 1;
}

int
hserver_init(struct hserver *s, struct ev_loop *loop, int listen_fd,
    const struct hserver_ops *ops, const struct hserver_limits *lim,
    void *owner)
{
	if (lim->conn_size < sizeof(struct hconn) || lim->max_header == 0)
		return -1;
	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->ops = ops;
	s->lim = *lim;
	s->owner = owner;
	s->listen_fd = listen_fd;
	LIST_INIT(&s->conns);
	return 0;
}

void
hserver_drain(struct hserver *s)
{
	hserver_accept_pause(s, 0);
	ev_timer_stop(s->loop, &s->accept_timer);
	s->draining = 1;
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	s->listen_fd = -1;
}

void
hserver_close_all(struct hserver *s)
{
	s->closing_all = 1;
	while (!LIST_EMPTY(&s->conns))
		hconn_close(LIST_FIRST(&s->conns));
	s->closing_all = 0;
}
