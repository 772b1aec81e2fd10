/*
 * proxy: the proxy worker role (SPEC §3).  Accepts connections on its slot's
 * SO_REUSEPORT socket and serves HTTP/1.x on them: keep-alive, pipelining,
 * chunked and Content-Length request bodies, limits and timeouts.
 *
 * Each connection is one struct conn with one input and one output buffer,
 * freed in conn_close (its only exit).  Requests are answered in order; a
 * connection stops reading while its output backs up.  On SIGTERM the worker
 * stops accepting, answers each connection's next request with
 * "Connection: close", closes it gracefully, and exits when none is left.
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

#include "common/conf.h"
#include "common/http.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/proxy/access_log.h"
#include "workers/proxy/proxy.h"
#include "workers/worker.h"

static struct proxy proxy;

static void	conn_on_io(struct ev_loop *loop, int fd, int mask, void *arg);
static void	conn_process(struct conn *c);
static int	conn_flush(struct conn *c);
static void	conn_timer(struct conn *c, int64_t ms);
static void	proxy_accept_resume(struct proxy *p);

/* The only way a connection ends: unlink, free buffers, close the fd. */
static void
conn_close(struct conn *c)
{
	struct proxy *p = c->proxy;

	if (c->api != NULL)
		api_abort(c);
	ev_timer_stop(p->w->loop, &c->timer);
	ev_io_del(p->w->loop, c->fd, EV_READ | EV_WRITE);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->in);
	free(c->out);
	free(c->log);
	free(c);
	p->nconns--;
	if (p->closing_all)
		return;
	if (p->w->stopping)
		proxy_check_drained(p);
	else if (!p->accepting)
		proxy_accept_resume(p);
}

void
proxy_check_drained(struct proxy *p)
{
	if (p->w->stopping && !p->closing_all && p->nconns == 0 && api_idle())
		worker_done(p->w);
}

/* Idle or lingering: close.  A request begun and stalled: answer 408. */
static void
conn_on_timeout(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)t;
	if (c->state == CONN_LINGER || (c->state == CONN_HEAD && c->in_len == 0)) {
		conn_close(c);
		return;
	}
	conn_respond_error(c, 408);
	if (conn_flush(c) == 0 && c->state == CONN_LINGER && c->out_len > 0)
		conn_timer(c, CONN_LINGER_MS);
}

static void
conn_timer(struct conn *c, int64_t ms)
{
	ev_timer_start(c->proxy->w->loop, &c->timer, (uint64_t)ms, conn_on_timeout, c);
}

int
conn_out_append(struct conn *c, const char *data, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 1024;
		char *out;

		while (cap < c->out_len + n)
			cap *= 2;
		if ((out = realloc(c->out, cap)) == NULL)
			return -1;
		c->out = out;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
	return 0;
}

int
conn_closes_after_answer(struct conn *c)
{
	if (!c->keep_alive || c->proxy->w->stopping)
		c->close_after = 1;
	return c->close_after;
}

void
conn_respond(struct conn *c, int status, const char *body)
{
	conn_respond_with(c, status, "", body);
}

void
conn_respond_with(struct conn *c, int status, const char *headers, const char *body)
{
	char head[512];
	size_t blen = strlen(body);
	int n;

	conn_closes_after_answer(c);
	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%s"
	    "Content-Length: %zu\r\n%s\r\n", status, http_status_reason(status),
	    headers, blen, c->close_after ? "Connection: close\r\n" : "");
	if (conn_out_append(c, head, (size_t)n) == -1 ||
	    (!c->head_only && conn_out_append(c, body, blen) == -1))
		c->close_after = 1;
	conn_log_answer(c, status, (size_t)n + (c->head_only ? 0 : blen));
}

void
conn_respond_error(struct conn *c, int status)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"status\":false,\"message\":\"%s\"}",
	    http_error_message(status));
	c->keep_alive = 0;
	conn_respond(c, status, body);
	c->state = CONN_LINGER;
}

void
conn_log_answer(struct conn *c, int status, size_t bytes)
{
	struct conn_log *l = c->log;
	struct access_entry e;

	if (l == NULL)
		return;
	e.request_id = l->request_id;
	e.method = l->method;
	e.method_len = strlen(l->method);
	e.path = l->path;
	e.path_len = strlen(l->path);
	e.status = status;
	e.bytes = bytes;
	e.duration_ms = ev_now(c->proxy->w->loop) - l->started;
	e.instance = l->instance;
	e.actid = l->actid;
	access_log_write(&e);
}

/* Remember what the access log needs of a new request (when it is on). */
static void
conn_log_start(struct conn *c, const struct http_request *req)
{
	struct conn_log *l = c->log;

	if (!access_log_enabled())
		return;
	if (l == NULL && (l = c->log = malloc(sizeof(*l))) == NULL)
		return;
	memset(l, 0, sizeof(*l));
	l->started = ev_now(c->proxy->w->loop);
	snprintf(l->method, sizeof(l->method), "%.*s", (int)req->method_len,
	    req->method_str);
	snprintf(l->path, sizeof(l->path), "%.*s", (int)req->path_len, req->path);
}

/* The request has been read whole: answer it, or let proxy_api serve it. */
static void
conn_request_done(struct conn *c)
{
	if (c->api == NULL) {
		c->state = CONN_HEAD;
		conn_respond(c, c->answer_status, c->answer_body);
		return;
	}
	c->state = CONN_WAIT;
	ev_timer_stop(c->proxy->w->loop, &c->timer);
	api_start(c);
}

void
conn_resume(struct conn *c)
{
	if (c->state == CONN_WAIT)
		c->state = CONN_HEAD;
	if (c->processing)
		return;		/* answered at once: conn_process goes on */
	if (c->state != CONN_LINGER)
		conn_process(c);
	if (c->out_len > 0)
		(void)conn_flush(c);
}

/* A request head was parsed: check its body framing, answer or read on. */
static void
conn_on_head(struct conn *c, const struct http_request *req)
{
	const struct conf *conf = c->proxy->conf;

	c->keep_alive = req->keep_alive;
	c->head_only = req->method == HTTP_HEAD;
	c->head_started = 0;
	conn_log_start(c, req);
	if (req->method == HTTP_OTHER) {
		conn_respond_error(c, 501);
		return;
	}
	if (req->content_length > conf->proxy.max_body) {
		conn_respond_error(c, 413);
		return;
	}
	api_route(c, req);
	if (c->state == CONN_LINGER)
		return;		/* answered at once (401, 403, 415...) */
	if (req->expect_continue && (req->chunked || req->content_length > 0))
		(void)conn_out_append(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	c->chunked = req->chunked;
	c->body_left = req->content_length > 0 ? (uint64_t)req->content_length : 0;
	if (c->chunked)
		http_chunked_init(&c->chunk);
	if (c->chunked || c->body_left > 0) {
		c->state = CONN_BODY;
		conn_timer(c, conf->proxy.body_timeout_ms);
	} else
		conn_request_done(c);
}

/* Consume body bytes at the front of the input buffer.  0 when more input
 * is needed or the body is complete, -1 after an error answer. */
static int
conn_read_body(struct conn *c, size_t *used)
{
	size_t out_len = 0;
	ssize_t n;

	if (!c->chunked) {
		size_t take = c->in_len < c->body_left ? c->in_len : (size_t)c->body_left;

		c->body_left -= take;
		*used = take;
		if (c->api != NULL && api_body(c, c->in, take) == -1)
			return -1;
		if (c->body_left == 0)
			conn_request_done(c);
		return 0;
	}
	n = http_chunked_decode(&c->chunk, c->in, c->in_len, &out_len,
	    (uint64_t)c->proxy->conf->proxy.max_body);
	if (n < 0) {
		conn_respond_error(c, (int)-n);
		return -1;
	}
	*used = (size_t)n;
	if (c->api != NULL && api_body(c, c->in, out_len) == -1)
		return -1;
	if (c->chunk.done)
		conn_request_done(c);
	return 0;
}

/* Serve as many complete requests as the input holds. */
static void
conn_process(struct conn *c)
{
	const struct conf *conf = c->proxy->conf;
	struct http_request req;

	c->processing = 1;
	while (c->in_len > 0 && c->state != CONN_LINGER && c->state != CONN_WAIT &&
	    !c->close_after &&
	    c->out_len - c->out_off < CONN_OUT_HIGH) {
		size_t used = 0;
		int rc;

		if (c->state == CONN_BODY) {
			if (conn_read_body(c, &used) == -1)
				break;
		} else {
			rc = http_parse_request(c->in, c->in_len,
			    (size_t)conf->proxy.max_header, &req);
			if (rc == 0)
				break;	/* the parser answers 414/431 at the limit */
			if (rc < 0) {
				conn_respond_error(c, -rc);
				break;
			}
			used = (size_t)rc;
			conn_on_head(c, &req);
		}
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		if (used == 0)
			break;
	}
	c->processing = 0;
	/* The head timeout runs from a request's first byte, not its last, so
	 * a client dribbling bytes cannot hold the connection forever. */
	if (c->state == CONN_HEAD && c->in_len == 0) {
		c->head_started = 0;
		conn_timer(c, conf->proxy.idle_timeout_ms);
	} else if (c->state == CONN_HEAD && !c->head_started) {
		c->head_started = 1;
		conn_timer(c, conf->proxy.header_timeout_ms);
	}
}

/* Write what is pending; on the final answer begin the lingering close.
 * 0, or -1 if the connection was closed. */
static int
conn_flush(struct conn *c)
{
	struct ev_loop *loop = c->proxy->w->loop;

	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			ev_io_add(loop, c->fd, EV_WRITE, conn_on_io, c);
			return 0;
		}
		if (n == -1) {
			conn_close(c);
			return -1;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	ev_io_del(loop, c->fd, EV_WRITE);
	if (c->close_after) {
		/* Half-close and read until the peer closes, so unread input
		 * never turns our close into a reset. */
		shutdown(c->fd, SHUT_WR);
		c->state = CONN_LINGER;
		c->in_len = 0;
		conn_timer(c, CONN_LINGER_MS);
	}
	return 0;
}

/* Read what the peer sent.  A short read means the socket is drained (the
 * loop is level-triggered, so anything later is another event), which
 * saves the read that would only say EAGAIN.  0, or -1 if the connection
 * was closed. */
static int
conn_fill(struct conn *c)
{
	for (;;) {
		size_t room;
		ssize_t n;

		if (c->in_len == c->in_cap) {
			if (c->state != CONN_LINGER)
				return 0;	/* full: process first */
			c->in_len = 0;
		}
		room = c->in_cap - c->in_len;
		n = read(c->fd, c->in + c->in_len, room);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			conn_close(c);
			return -1;
		}
		if (c->state == CONN_LINGER)
			continue;
		c->in_len += (size_t)n;
		if ((size_t)n < room)
			return 0;
	}
}

static void
conn_on_io(struct ev_loop *loop, int fd, int mask, void *arg)
{
	struct conn *c = arg;

	(void)loop;
	(void)fd;
	if ((mask & EV_READ) && conn_fill(c) == -1)
		return;
	if (c->state != CONN_LINGER)
		conn_process(c);
	if (c->out_len > 0 && conn_flush(c) == -1)
		return;
	/* Output drained below the mark: serve requests read meanwhile. */
	if (c->state != CONN_LINGER && c->in_len > 0 && c->out_len == 0 &&
	    !c->close_after) {
		conn_process(c);
		if (c->out_len > 0)
			(void)conn_flush(c);
	}
}

/* The client's address as text, for X-Forwarded-For. */
static void
conn_peer_name(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const void *addr = NULL;

	if (ss->ss_family == AF_INET)
		addr = &((const struct sockaddr_in *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (addr == NULL || inet_ntop(ss->ss_family, addr, buf, (socklen_t)size) == NULL)
		snprintf(buf, size, "unknown");
}

static struct conn *
conn_new(struct proxy *p, int fd, const struct sockaddr_storage *peer)
{
	struct conn *c;
	int one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	/* Each answer is one write: send it now, not after the client's ACK. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->in_cap = (size_t)p->conf->proxy.max_header;
	if ((c->in = malloc(c->in_cap)) == NULL) {
		free(c);
		return NULL;
	}
	c->fd = fd;
	c->proxy = p;
	conn_peer_name(peer, c->peer, sizeof(c->peer));
	c->state = CONN_HEAD;
	c->keep_alive = 1;
	if (ev_io_add(p->w->loop, fd, EV_READ, conn_on_io, c) == -1) {
		free(c->in);
		free(c);
		return NULL;
	}
	c->next = p->conns;
	if (p->conns != NULL)
		p->conns->prev = c;
	p->conns = c;
	p->nconns++;
	conn_timer(c, p->conf->proxy.idle_timeout_ms);
	return c;
}

static void
proxy_on_accept_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	proxy_accept_resume(arg);
}

static void
proxy_accept_pause(struct proxy *p, uint64_t retry_ms)
{
	ev_io_del(p->w->loop, p->listen_fd, EV_READ);
	p->accepting = 0;
	if (retry_ms > 0)
		ev_timer_start(p->w->loop, &p->accept_timer, retry_ms,
		    proxy_on_accept_timer, p);
}

static void
proxy_on_accept(struct ev_loop *loop, int fd, int mask, void *arg)
{
	struct proxy *p = arg;

	(void)loop;
	(void)mask;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer;
		socklen_t peer_len;
		int cfd;

		if (p->nconns >= (size_t)p->conf->proxy.max_connections) {
			proxy_accept_pause(p, 0);	/* resumed by conn_close */
			return;
		}
		peer_len = sizeof(peer);
		cfd = accept4(fd, (struct sockaddr *)&peer, &peer_len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warn("accept: %m; pausing for %d ms", ACCEPT_RETRY_MS);
				proxy_accept_pause(p, ACCEPT_RETRY_MS);
			}
			return;
		}
		if (conn_new(p, cfd, &peer) == NULL) {
			log_warn("connection setup failed: out of memory");
			close(cfd);
		}
	}
}

static void
proxy_accept_resume(struct proxy *p)
{
	if (p->accepting || p->w->stopping)
		return;
	ev_timer_stop(p->w->loop, &p->accept_timer);
	if (ev_io_add(p->w->loop, p->listen_fd, EV_READ, proxy_on_accept, p) == 0)
		p->accepting = 1;
}

static int
proxy_start(struct worker *w)
{
	struct proxy *p = &proxy;

	p->w = w;
	p->conf = w->conf;
	p->listen_fd = w->listen_fd;
	if (api_init(p) == -1 || access_log_open(p->conf->log.access_log,
	    p->conf->log.format == LOG_FORMAT_JSON) == -1)
		return -1;
	/* Accept once Redis is up (a request for an account not in memory
	 * needs it), or after proxy.redis_wait_ms anyway so the slot is never
	 * deaf; the kernel queues connections on the socket meanwhile. */
	if (p->conf->proxy.redis_wait_ms > 0 && !rconn_is_up(w->redis))
		proxy_accept_pause(p, (uint64_t)p->conf->proxy.redis_wait_ms);
	else
		proxy_accept_resume(p);
	return 0;
}

static void
proxy_redis_state(struct worker *w, int up)
{
	if (up && !w->stopping)
		proxy_accept_resume(&proxy);
	api_redis_state(up);
}

/* Stop accepting (the supervisor keeps the socket, so queued connections
 * wait for the next worker of this slot); close idle connections once their
 * next request is answered. */
static void
proxy_drain(struct worker *w)
{
	struct proxy *p = &proxy;

	ev_io_del(w->loop, p->listen_fd, EV_READ);
	ev_timer_stop(w->loop, &p->accept_timer);
	p->accepting = 0;
	close(p->listen_fd);
	p->listen_fd = -1;
	proxy_check_drained(p);
}

static void
proxy_cleanup(struct worker *w)
{
	struct proxy *p = &proxy;

	(void)w;
	p->closing_all = 1;
	while (p->conns != NULL)
		conn_close(p->conns);
	api_shutdown();
	access_log_close();
}

static void
proxy_reopen(struct worker *w)
{
	(void)w;
	access_log_reopen();
}

static const struct worker_role_ops proxy_ops = {
	.start = proxy_start,
	.drain = proxy_drain,
	.redis_state = proxy_redis_state,
	.reopen = proxy_reopen,
	.cleanup = proxy_cleanup,
};

int
proxy_main(struct worker *w)
{
	return worker_run(w, &proxy_ops);
}
