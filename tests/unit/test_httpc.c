/*
 * Tests of httpc (common/httpc.c) against a small HTTP/1.1 server running on
 * the same ev loop, on a loopback port of its own per test: answers with a
 * body, echoed requests (POST, PUT, headers, no Expect), kept statuses,
 * refused and empty connections, timeouts, the answer-size cap (with and
 * without Content-Length), 200 parallel transfers, cancelling, starting and
 * cancelling transfers and freeing the client from inside callbacks, a
 * descriptor the loop refuses, and the environment proxy (https only).  Every
 * wait is bounded by an ev timer.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/ev.h"
#include "common/httpc.h"
#include "tests/unit/support.h"

#define LOOP_SETSIZE	4096
#define SRV_IN_MAX	(4 * 1024 * 1024)
#define NPARALLEL	200

/*
 * The test server.  Routes: /hello ("hello, world"), /echo (the raw request
 * as the body), /path/... (the path as the body), /status/N, /hang (read,
 * never answer), /drop (close at once), /big/N (N bytes with Content-Length),
 * /stream/N (N bytes ended by closing), and CONNECT (counted, refused 403).
 * Keep-alive; one request at a time per connection.
 */
struct sconn {
	LIST_ENTRY(sconn)	 entry;
	struct srv		*srv;
	int			 fd;
	char			*in;
	size_t			 inlen;
	size_t			 incap;
	char			*out;
	size_t			 outlen;
	size_t			 outoff;
	int			 hang;		/* never answers again */
	int			 close_after;	/* close once out is written */
};

struct srv {
	struct ev_loop		*loop;
	int			 fd;
	int			 port;
	LIST_HEAD(, sconn)	 conns;
	int			 accepts;
	int			 requests;
	int			 connects;	/* CONNECT requests */
};

/* Byte i of the /big and /stream bodies: binary, with NULs. */
static char
pattern(size_t i)
{
	return (char)(i % 251);
}

static void
sconn_close(struct sconn *c)
{
	ev_io_del(c->srv->loop, c->fd, EV_READ | EV_WRITE);
	close(c->fd);
	LIST_REMOVE(c, entry);
	free(c->in);
	free(c->out);
	free(c);
}

static int	sconn_serve(struct sconn *);
static void	sconn_io(struct ev_loop *, int, int, void *);

/* Write what is queued, then serve what is buffered.  -1 if c was closed. */
static int
sconn_flush(struct sconn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);

		if (n == -1 && errno == EAGAIN) {
			assert_int_equal(ev_io_add(c->srv->loop, c->fd,
			    EV_WRITE, sconn_io, c), 0);
			return 0;
		}
		if (n <= 0) {
			sconn_close(c);
			return -1;
		}
		c->outoff += (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	c->outlen = c->outoff = 0;
	ev_io_del(c->srv->loop, c->fd, EV_WRITE);
	if (c->close_after) {
		sconn_close(c);
		return -1;
	}
	return sconn_serve(c);
}

/* Queue an answer: status, then body (with a Content-Length unless the
 * connection is to close after it). */
static void
sconn_reply(struct sconn *c, int status, const char *body, size_t len)
{
	char head[256];
	int n;

	if (c->close_after)
		n = snprintf(head, sizeof(head),
		    "HTTP/1.1 %d X\r\nConnection: close\r\n\r\n", status);
	else
		n = snprintf(head, sizeof(head),
		    "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n\r\n", status, len);
	c->out = malloc((size_t)n + len);
	assert_non_null(c->out);
	memcpy(c->out, head, (size_t)n);
	if (len > 0)
		memcpy(c->out + n, body, len);
	c->outlen = (size_t)n + len;
	c->outoff = 0;
}

/* Queue n bytes of pattern. */
static void
sconn_reply_pattern(struct sconn *c, size_t n)
{
	char *body = malloc(n + 1);

	assert_non_null(body);
	for (size_t i = 0; i < n; i++)
		body[i] = pattern(i);
	sconn_reply(c, 200, body, n);
	free(body);
}

/* Answer the request in c->in[0..len) whose path is path. */
static void
sconn_route(struct sconn *c, const char *method, const char *path, size_t len)
{
	char text[64];

	if (strcmp(method, "CONNECT") == 0) {
		c->srv->connects++;
		sconn_reply(c, 403, "", 0);
	} else if (strcmp(path, "/hello") == 0)
		sconn_reply(c, 200, "hello, world", 12);
	else if (strcmp(path, "/echo") == 0)
		sconn_reply(c, 200, c->in, len);
	else if (strncmp(path, "/path/", 6) == 0)
		sconn_reply(c, 200, path, strlen(path));
	else if (strncmp(path, "/status/", 8) == 0) {
		snprintf(text, sizeof(text), "status %d", atoi(path + 8));
		sconn_reply(c, atoi(path + 8), text, strlen(text));
	} else if (strcmp(path, "/hang") == 0)
		c->hang = 1;
	else if (strncmp(path, "/big/", 5) == 0)
		sconn_reply_pattern(c, strtoul(path + 5, NULL, 10));
	else if (strncmp(path, "/stream/", 8) == 0) {
		c->close_after = 1;
		sconn_reply_pattern(c, strtoul(path + 8, NULL, 10));
	} else if (strcmp(path, "/drop") == 0) {
		c->close_after = 1;
		c->out = malloc(1);	/* nothing to send, then close */
		assert_non_null(c->out);
	} else
		sconn_reply(c, 404, "", 0);
}

/* Answer the first complete request buffered in c, if any.  -1 if c was
 * closed. */
static int
sconn_serve(struct sconn *c)
{
	char method[16], path[256], *end, *cl;
	size_t head, len, body = 0;

	if (c->out != NULL || c->hang || c->inlen == 0)
		return 0;
	c->in[c->inlen] = '\0';
	if ((end = strstr(c->in, "\r\n\r\n")) == NULL)
		return 0;
	head = (size_t)(end - c->in) + 4;
	if ((cl = strcasestr(c->in, "\r\nContent-Length:")) != NULL && cl < end)
		body = strtoul(cl + 17, NULL, 10);
	if (c->inlen < head + body)
		return 0;
	len = head + body;
	if (sscanf(c->in, "%15s %255s", method, path) != 2)
		strcpy(path, "/");
	c->srv->requests++;
	sconn_route(c, method, path, len);
	memmove(c->in, c->in + len, c->inlen - len);
	c->inlen -= len;
	return c->out != NULL ? sconn_flush(c) : 0;
}

/* Read what the client sent.  Closes c on EOF or error. */
static void
sconn_read(struct sconn *c)
{
	ssize_t n;

	if (c->inlen == c->incap) {
		size_t cap = c->incap ? c->incap * 2 : 65536;
		char *in;

		if (cap > SRV_IN_MAX || (in = realloc(c->in, cap + 1)) == NULL) {
			sconn_close(c);
			return;
		}
		c->in = in;
		c->incap = cap;
	}
	n = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
	if (n == -1 && errno == EAGAIN)
		return;
	if (n <= 0) {
		sconn_close(c);
		return;
	}
	c->inlen += (size_t)n;
	if (c->hang)
		c->inlen = 0;
	(void)sconn_serve(c);
}

static void
sconn_io(struct ev_loop *loop, int fd, int mask, void *arg)
{
	struct sconn *c = arg;

	(void)loop;
	(void)fd;
	if ((mask & EV_WRITE) && c->out != NULL && sconn_flush(c) == -1)
		return;
	if (mask & EV_READ)
		sconn_read(c);
}

static void
srv_accept(struct ev_loop *loop, int fd, int mask, void *arg)
{
	struct srv *srv = arg;
	struct sconn *c;
	int cfd;

	(void)mask;
	while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		c = calloc(1, sizeof(*c));
		assert_non_null(c);
		c->srv = srv;
		c->fd = cfd;
		LIST_INSERT_HEAD(&srv->conns, c, entry);
		srv->accepts++;
		assert_int_equal(ev_io_add(loop, cfd, EV_READ, sconn_io, c), 0);
	}
}

/* A listening socket on 127.0.0.1, any port.  The descriptor, or -1. */
static int
listen_loopback(int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, on = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 1024) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
srv_start(struct srv *srv, struct ev_loop *loop)
{
	memset(srv, 0, sizeof(*srv));
	srv->loop = loop;
	LIST_INIT(&srv->conns);
	if ((srv->fd = listen_loopback(&srv->port)) == -1)
		return -1;
	return ev_io_add(loop, srv->fd, EV_READ, srv_accept, srv);
}

static void
srv_stop(struct srv *srv)
{
	while (!LIST_EMPTY(&srv->conns))
		sconn_close(LIST_FIRST(&srv->conns));
	if (srv->fd > 0) {
		ev_io_del(srv->loop, srv->fd, EV_READ);
		close(srv->fd);
	}
	srv->fd = -1;
}

static int
srv_nconns(struct srv *srv)
{
	struct sconn *c;
	int n = 0;

	LIST_FOREACH(c, &srv->conns, entry)
		n++;
	return n;
}

static int
srv_owns(struct srv *srv, int fd)
{
	struct sconn *c;

	if (fd == srv->fd)
		return 1;
	LIST_FOREACH(c, &srv->conns, entry)
		if (c->fd == fd)
			return 1;
	return 0;
}

static int
srv_has_no_conns(void *arg)
{
	return srv_nconns(arg) == 0;
}

/* One test's loop, server and client. */
struct fx {
	struct ev_loop	*loop;
	struct srv	 srv;
	struct httpc	*h;
	char		 urls[8][300];	/* rotating, for url() */
	int		 nurl;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	*state = fx;
	if ((fx->loop = ev_loop_new(LOOP_SETSIZE)) == NULL ||
	    srv_start(&fx->srv, fx->loop) == -1 ||
	    (fx->h = httpc_new(fx->loop)) == NULL)
		return -1;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	httpc_free(fx->h);
	srv_stop(&fx->srv);
	ev_loop_free(fx->loop);
	free(fx);
	return 0;
}

/* The test server's URL for path (valid for the next 7 calls). */
static const char *
url(struct fx *fx, const char *path)
{
	char *u = fx->urls[fx->nurl++ % 8];

	snprintf(u, sizeof(fx->urls[0]), "http://127.0.0.1:%d%s", fx->srv.port,
	    path);
	return u;
}

/* Descriptors the loop watches that are not the server's (curl's). */
static int
foreign_fds(struct fx *fx)
{
	int n = 0;

	for (int fd = 0; fd < LOOP_SETSIZE; fd++)
		if (ev_io_mask(fx->loop, fd) != 0 && !srv_owns(&fx->srv, fd))
			n++;
	return n;
}

/* What one request's callback saw, and what it should do. */
struct got {
	int		 calls;
	long		 status;
	int		 timed_out;
	int		 failed;
	char		 error[256];
	char		*body;		/* copy, NUL-terminated */
	size_t		 body_len;
	int		 body_nul;	/* res->body[body_len] was NUL */
	uint64_t	 done_ms;
	struct fx	*fx;
	/* In the callback: */
	struct httpc_req *cancel;	/* cancel this request */
	struct got	*chain;		/* start GET chain_url for chain */
	const char	*chain_url;
	int		 free_client;	/* httpc_free(fx->h) */
};

static void
got_done(const struct httpc_result *res, void *arg)
{
	struct got *g = arg;
	struct httpc_opts o;

	g->calls++;
	g->status = res->status;
	g->timed_out = res->timed_out;
	g->failed = res->error != NULL;
	snprintf(g->error, sizeof(g->error), "%s", res->error ? res->error : "");
	free(g->body);
	g->body = malloc(res->body_len + 1);
	assert_non_null(g->body);
	memcpy(g->body, res->body, res->body_len + 1);
	g->body_len = res->body_len;
	g->body_nul = res->body[res->body_len] == '\0';
	g->done_ms = ev_now_update(g->fx->loop);
	if (g->cancel != NULL)
		httpc_cancel(g->cancel);
	if (g->chain != NULL) {
		memset(&o, 0, sizeof(o));
		o.url = g->chain_url;
		assert_non_null(httpc_request(g->fx->h, &o, got_done, g->chain));
	}
	if (g->free_client) {
		httpc_free(g->fx->h);
		g->fx->h = NULL;
	}
}

static void
got_init(struct got *g, struct fx *fx, size_t n)
{
	memset(g, 0, n * sizeof(*g));
	for (size_t i = 0; i < n; i++)
		g[i].fx = fx;
}

static void
got_fini(struct got *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(g[i].body);
}

static int
got_called(void *arg)
{
	return ((struct got *)arg)->calls > 0;
}

/* n gots in an array, for all_called. */
struct gots {
	struct got	*g;
	size_t		 n;
};

static int
all_called(void *arg)
{
	struct gots *s = arg;

	for (size_t i = 0; i < s->n; i++)
		if (s->g[i].calls == 0)
			return 0;
	return 1;
}

/* Start method url (no body, no headers) for g; asserts it started. */
static struct httpc_req *
start(struct fx *fx, const char *target, struct got *g)
{
	struct httpc_opts o;
	struct httpc_req *r;

	memset(&o, 0, sizeof(o));
	o.url = target;
	r = httpc_request(fx->h, &o, got_done, g);
	assert_non_null(r);
	return r;
}

static void
test_get_200_keeps_connection(void **state)
{
	struct fx *fx = *state;
	struct got g[2];

	got_init(g, fx, 2);
	start(fx, url(fx, "/hello"), &g[0]);
	assert_int_equal(httpc_active(fx->h), 1);
	assert_int_equal(test_wait_for(fx->loop, got_called, &g[0], 2000), 0);
	assert_int_equal(g[0].calls, 1);
	assert_int_equal(g[0].status, 200);
	assert_false(g[0].failed);
	assert_false(g[0].timed_out);
	assert_int_equal(g[0].body_len, 12);
	assert_string_equal(g[0].body, "hello, world");
	assert_true(g[0].body_nul);
	assert_int_equal(httpc_active(fx->h), 0);

	/* The second request rides the first one's connection. */
	start(fx, url(fx, "/hello"), &g[1]);
	assert_int_equal(test_wait_for(fx->loop, got_called, &g[1], 2000), 0);
	assert_int_equal(g[1].status, 200);
	assert_int_equal(fx->srv.requests, 2);
	assert_int_equal(fx->srv.accepts, 1);
	got_fini(g, 2);
}

/* The header block of an echoed request, NUL-terminated in place; *rest is
 * set to what follows it. */
static char *
echo_head(struct got *g, char **rest)
{
	char *end = strstr(g->body, "\r\n\r\n");

	assert_non_null(end);
	end[2] = '\0';
	*rest = end + 4;
	return g->body;
}

static void
test_post_and_put_echoed(void **state)
{
	struct fx *fx = *state;
	const char *headers[] = { "X-Test: one", "Content-Type: application/octet-stream",
	    NULL };
	const size_t n = 1536 * 1024;	/* large enough for curl's 100-continue */
	struct httpc_opts o;
	struct got g[2];
	struct gots all = { g, 2 };
	char *body = malloc(n), *head, *rest;

	assert_non_null(body);
	for (size_t i = 0; i < n; i++)
		body[i] = pattern(i * 3);
	got_init(g, fx, 2);
	memset(&o, 0, sizeof(o));
	o.method = "POST";
	o.url = url(fx, "/echo");
	o.headers = headers;
	o.body = body;
	o.body_len = n;
	o.max_body = 4 * 1024 * 1024;
	assert_non_null(httpc_request(fx->h, &o, got_done, &g[0]));
	memset(body, 'x', n);		/* the request holds its own copy */
	memset(&o, 0, sizeof(o));
	o.method = "PUT";
	o.url = url(fx, "/echo");
	o.body = "{\"a\":1}";
	o.body_len = 7;
	assert_non_null(httpc_request(fx->h, &o, got_done, &g[1]));
	assert_int_equal(test_wait_for(fx->loop, all_called, &all, 5000), 0);

	assert_int_equal(g[0].status, 200);
	head = echo_head(&g[0], &rest);
	assert_true(strncmp(head, "POST /echo HTTP/1.1\r\n", 21) == 0);
	assert_non_null(strstr(head, "\r\nX-Test: one\r\n"));
	assert_non_null(strstr(head, "\r\nContent-Type: application/octet-stream\r\n"));
	assert_non_null(strstr(head, "\r\nContent-Length: 1572864\r\n"));
	assert_non_null(strstr(head, "\r\nUser-Agent: olb/"));
	assert_null(strcasestr(head, "Expect"));
	assert_int_equal(g[0].body_len - (size_t)(rest - g[0].body), n);
	for (size_t i = 0; i < n; i++)
		if (rest[i] != pattern(i * 3))
			fail_msg("echoed body differs at byte %zu", i);

	assert_int_equal(g[1].status, 200);
	head = echo_head(&g[1], &rest);
	assert_true(strncmp(head, "PUT /echo HTTP/1.1\r\n", 20) == 0);
	assert_non_null(strstr(head, "\r\nContent-Length: 7\r\n"));
	assert_string_equal(rest, "{\"a\":1}");
	free(body);
	got_fini(g, 2);
}

static void
test_head_and_delete(void **state)
{
	struct fx *fx = *state;
	struct httpc_opts o;
	struct got g[2];
	struct gots all = { g, 2 };

	got_init(g, fx, 2);
	memset(&o, 0, sizeof(o));
	o.method = "HEAD";
	o.url = url(fx, "/hello");
	assert_non_null(httpc_request(fx->h, &o, got_done, &g[0]));
	o.method = "DELETE";
	o.url = url(fx, "/echo");
	assert_non_null(httpc_request(fx->h, &o, got_done, &g[1]));
	assert_int_equal(test_wait_for(fx->loop, all_called, &all, 2000), 0);
	assert_int_equal(g[0].status, 200);
	assert_int_equal(g[0].body_len, 0);
	assert_false(g[0].failed);
	assert_int_equal(g[1].status, 200);
	assert_true(strncmp(g[1].body, "DELETE /echo HTTP/1.1\r\n", 23) == 0);
	got_fini(g, 2);
}

static void
test_status_kept(void **state)
{
	struct fx *fx = *state;
	struct got g[2];
	struct gots all = { g, 2 };

	got_init(g, fx, 2);
	start(fx, url(fx, "/status/503"), &g[0]);
	start(fx, url(fx, "/status/404"), &g[1]);
	assert_int_equal(test_wait_for(fx->loop, all_called, &all, 2000), 0);
	assert_int_equal(g[0].status, 503);
	assert_false(g[0].failed);
	assert_string_equal(g[0].body, "status 503");
	assert_int_equal(g[1].status, 404);
	assert_false(g[1].failed);
	got_fini(g, 2);
}

static void
test_connection_refused(void **state)
{
	struct fx *fx = *state;
	char target[64];
	struct got g;
	int port = test_free_port();

	assert_true(port > 0);
	snprintf(target, sizeof(target), "http://127.0.0.1:%d/hello", port);
	got_init(&g, fx, 1);
	start(fx, target, &g);
	assert_int_equal(g.calls, 0);		/* never from inside the call */
	assert_int_equal(test_wait_for(fx->loop, got_called, &g, 2000), 0);
	assert_int_equal(g.calls, 1);
	assert_true(g.failed);
	assert_string_equal(g.error, "connection refused");
	assert_int_equal(g.status, 0);
	assert_false(g.timed_out);
	assert_int_equal(g.body_len, 0);
	assert_true(g.body_nul);
	got_fini(&g, 1);
}

static void
test_empty_reply_is_curls_error(void **state)
{
	struct fx *fx = *state;
	struct got g;

	got_init(&g, fx, 1);
	start(fx, url(fx, "/drop"), &g);
	assert_int_equal(test_wait_for(fx->loop, got_called, &g, 2000), 0);
	assert_true(g.failed);
	assert_int_equal(g.status, 0);
	assert_false(g.timed_out);
	assert_non_null(strstr(g.error, "mpty reply"));
	got_fini(&g, 1);
}

static void
count_wakeup(struct ev_loop *loop, void *arg)
{
	(void)loop;
	(*(int *)arg)++;
}

static void
test_timeout(void **state)
{
	struct fx *fx = *state;
	struct httpc_opts o;
	struct got g;
	uint64_t start_ms, took;
	int wakeups = 0;

	got_init(&g, fx, 1);
	memset(&o, 0, sizeof(o));
	o.url = url(fx, "/hang");
	o.timeout_ms = 300;
	start_ms = ev_now_update(fx->loop);
	assert_non_null(httpc_request(fx->h, &o, got_done, &g));
	/* Waiting for the answer leaves the loop asleep: a descriptor still
	 * watched for writing once curl only reads would wake it constantly. */
	assert_int_equal(ev_before_sleep_add(fx->loop, count_wakeup, &wakeups), 0);
	assert_int_equal(test_wait_for(fx->loop, got_called, &g, 3000), 0);
	ev_before_sleep_del(fx->loop, count_wakeup, &wakeups);
	assert_true(wakeups < 50);
	took = g.done_ms - start_ms;
	assert_true(took >= 290);
	assert_true(took <= 1500);
	assert_true(g.failed);
	assert_true(g.timed_out);
	assert_string_equal(g.error, "timeout");
	assert_int_equal(g.status, 0);
	/* curl dropped the connection: the server sees it close. */
	assert_int_equal(test_wait_for(fx->loop, srv_has_no_conns, &fx->srv,
	    2000), 0);
	got_fini(&g, 1);
}

/* Start GET path with max_body for g. */
static void
start_capped(struct fx *fx, const char *path, size_t max_body, struct got *g)
{
	struct httpc_opts o;

	memset(&o, 0, sizeof(o));
	o.url = url(fx, path);
	o.max_body = max_body;
	assert_non_null(httpc_request(fx->h, &o, got_done, g));
}

static void
assert_pattern(const struct got *g, size_t n)
{
	assert_false(g->failed);
	assert_int_equal(g->status, 200);
	assert_int_equal(g->body_len, n);
	assert_true(g->body_nul);
	for (size_t i = 0; i < n; i++)
		if (g->body[i] != pattern(i))
			fail_msg("body differs at byte %zu", i);
}

static void
assert_over(const struct got *g, const char *msg)
{
	assert_true(g->failed);
	assert_string_equal(g->error, msg);
	assert_int_equal(g->status, 0);
	assert_false(g->timed_out);
}

static void
test_body_cap(void **state)
{
	struct fx *fx = *state;
	struct got g[7];
	struct gots all = { g, 7 };

	got_init(g, fx, 7);
	start_capped(fx, "/big/2000", 1000, &g[0]);	/* Content-Length */
	start_capped(fx, "/stream/2000", 1000, &g[1]);	/* counted as it comes */
	start_capped(fx, "/stream/1000", 1000, &g[2]);	/* exactly the cap */
	start_capped(fx, "/big/1000", 1000, &g[3]);
	start_capped(fx, "/big/1048577", 0, &g[4]);	/* the default cap */
	start_capped(fx, "/stream/1048577", 0, &g[5]);
	start_capped(fx, "/stream/1048576", 0, &g[6]);
	assert_int_equal(test_wait_for(fx->loop, all_called, &all, 5000), 0);
	assert_over(&g[0], "answer over 1000 bytes");
	assert_over(&g[1], "answer over 1000 bytes");
	assert_pattern(&g[2], 1000);
	assert_pattern(&g[3], 1000);
	assert_over(&g[4], "answer over 1048576 bytes");
	assert_over(&g[5], "answer over 1048576 bytes");
	assert_pattern(&g[6], 1048576);
	got_fini(g, 7);
}

static void
test_parallel(void **state)
{
	struct fx *fx = *state;
	struct got *g = calloc(NPARALLEL, sizeof(*g));
	struct gots all = { g, NPARALLEL };
	char path[64];

	assert_non_null(g);
	got_init(g, fx, NPARALLEL);
	for (int i = 0; i < NPARALLEL; i++) {
		snprintf(path, sizeof(path), "/path/%d", i);
		start(fx, url(fx, path), &g[i]);
	}
	assert_int_equal(httpc_active(fx->h), NPARALLEL);
	assert_int_equal(test_wait_for(fx->loop, all_called, &all, 10000), 0);
	assert_int_equal(test_wait_for(fx->loop, NULL, NULL, 100), -1);
	for (int i = 0; i < NPARALLEL; i++) {
		snprintf(path, sizeof(path), "/path/%d", i);
		assert_int_equal(g[i].calls, 1);
		assert_int_equal(g[i].status, 200);
		assert_string_equal(g[i].body, path);
	}
	assert_int_equal(httpc_active(fx->h), 0);
	assert_int_equal(fx->srv.requests, NPARALLEL);
	got_fini(g, NPARALLEL);
	free(g);
}

static int
srv_has_hang(void *arg)
{
	struct srv *srv = arg;
	struct sconn *c;

	LIST_FOREACH(c, &srv->conns, entry)
		if (c->hang)
			return 1;
	return 0;
}

static int
srv_has_no_hang(void *arg)
{
	return !srv_has_hang(arg);
}

static void
test_cancel(void **state)
{
	struct fx *fx = *state;
	struct httpc_req *early, *hung;
	struct got g[4];
	struct gots done = { g + 2, 2 };

	got_init(g, fx, 4);
	early = start(fx, url(fx, "/hello"), &g[0]);
	hung = start(fx, url(fx, "/hang"), &g[1]);
	start(fx, url(fx, "/hello"), &g[2]);
	g[3].cancel = start(fx, url(fx, "/hello"), &g[3]);	/* itself: a no-op */
	httpc_cancel(early);			/* before it even started */
	httpc_cancel(NULL);
	assert_int_equal(httpc_active(fx->h), 3);
	assert_int_equal(test_wait_for(fx->loop, all_called, &done, 2000), 0);
	/* The hung one is on the wire, waiting: cancel it there. */
	assert_int_equal(test_wait_for(fx->loop, srv_has_hang, &fx->srv, 2000), 0);
	httpc_cancel(hung);
	assert_int_equal(httpc_active(fx->h), 0);
	assert_int_equal(test_wait_for(fx->loop, srv_has_no_hang, &fx->srv,
	    2000), 0);
	assert_int_equal(test_wait_for(fx->loop, NULL, NULL, 200), -1);
	assert_int_equal(g[0].calls, 0);
	assert_int_equal(g[1].calls, 0);
	assert_int_equal(g[2].calls, 1);
	assert_int_equal(g[2].status, 200);
	assert_int_equal(g[3].calls, 1);
	assert_int_equal(g[3].status, 200);
	got_fini(g, 4);
}

static void
test_request_and_cancel_from_callback(void **state)
{
	struct fx *fx = *state;
	struct got g[3];

	got_init(g, fx, 3);
	g[1].cancel = start(fx, url(fx, "/hang"), &g[2]);
	assert_int_equal(test_wait_for(fx->loop, srv_has_hang, &fx->srv, 2000), 0);
	g[1].chain = &g[0];
	g[1].chain_url = url(fx, "/path/chained");
	start(fx, url(fx, "/hello"), &g[1]);
	assert_int_equal(test_wait_for(fx->loop, got_called, &g[0], 2000), 0);
	assert_int_equal(test_wait_for(fx->loop, NULL, NULL, 200), -1);
	assert_int_equal(g[1].calls, 1);
	assert_int_equal(g[1].status, 200);
	assert_int_equal(g[0].calls, 1);
	assert_int_equal(g[0].status, 200);
	assert_string_equal(g[0].body, "/path/chained");
	assert_int_equal(g[2].calls, 0);
	assert_int_equal(httpc_active(fx->h), 0);
	assert_false(srv_has_hang(&fx->srv));
	got_fini(g, 3);
}

static void
test_bad_options_and_late_errors(void **state)
{
	struct fx *fx = *state;
	const char *crlf[] = { "X-A: 1\r\nX-B: 2", NULL };
	struct httpc_opts o;
	struct got g;

	got_init(&g, fx, 1);
	memset(&o, 0, sizeof(o));
	assert_null(httpc_request(fx->h, NULL, got_done, &g));
	assert_null(httpc_request(fx->h, &o, got_done, &g));	/* no URL */
	o.url = "";
	assert_null(httpc_request(fx->h, &o, got_done, &g));
	o.url = url(fx, "/hello");
	assert_null(httpc_request(fx->h, &o, NULL, &g));
	o.method = "BREW";
	assert_null(httpc_request(fx->h, &o, got_done, &g));
	o.method = "GET";
	o.body = "x";
	o.body_len = 1;
	assert_null(httpc_request(fx->h, &o, got_done, &g));
	o.method = "POST";
	o.body = NULL;
	assert_null(httpc_request(fx->h, &o, got_done, &g));
	o.body_len = 0;
	o.headers = crlf;
	assert_null(httpc_request(fx->h, &o, got_done, &g));
	o.headers = NULL;
	o.timeout_ms = -1;
	assert_null(httpc_request(fx->h, &o, got_done, &g));
	assert_int_equal(httpc_active(fx->h), 0);

	/* A protocol curl may not speak fails later, from the loop. */
	start(fx, "ftp://127.0.0.1/", &g);
	assert_int_equal(g.calls, 0);
	assert_int_equal(test_wait_for(fx->loop, got_called, &g, 2000), 0);
	assert_int_equal(g.calls, 1);
	assert_true(g.failed);
	assert_int_equal(g.status, 0);
	assert_int_equal(fx->srv.requests, 0);
	got_fini(&g, 1);
}

static void
test_free_with_transfers_in_flight(void **state)
{
	struct fx *fx = *state;
	struct got g[8];
	struct gots done = { g + 5, 3 };

	got_init(g, fx, 8);
	for (int i = 0; i < 5; i++)
		start(fx, url(fx, "/hang"), &g[i]);
	for (int i = 5; i < 8; i++)
		start(fx, url(fx, "/hello"), &g[i]);
	assert_int_equal(test_wait_for(fx->loop, all_called, &done, 2000), 0);
	assert_true(foreign_fds(fx) > 0);	/* the hung transfers' sockets */
	assert_int_equal(httpc_active(fx->h), 5);
	httpc_free(fx->h);
	fx->h = NULL;
	assert_int_equal(foreign_fds(fx), 0);
	/* Every connection closed, idle ones included; no timer left behind. */
	assert_int_equal(test_wait_for(fx->loop, srv_has_no_conns, &fx->srv,
	    2000), 0);
	assert_int_equal(test_wait_for(fx->loop, NULL, NULL, 200), -1);
	for (int i = 0; i < 5; i++)
		assert_int_equal(g[i].calls, 0);
	got_fini(g, 8);
}

static void
test_free_from_callback(void **state)
{
	struct fx *fx = *state;
	struct got g[4];

	got_init(g, fx, 4);
	for (int i = 1; i < 4; i++)
		start(fx, url(fx, "/hang"), &g[i]);
	assert_int_equal(test_wait_for(fx->loop, srv_has_hang, &fx->srv, 2000), 0);
	g[0].free_client = 1;
	start(fx, url(fx, "/hello"), &g[0]);
	assert_int_equal(test_wait_for(fx->loop, got_called, &g[0], 2000), 0);
	assert_null(fx->h);
	assert_int_equal(foreign_fds(fx), 0);
	assert_int_equal(test_wait_for(fx->loop, srv_has_no_conns, &fx->srv,
	    2000), 0);
	assert_int_equal(test_wait_for(fx->loop, NULL, NULL, 200), -1);
	assert_int_equal(g[0].calls, 1);
	for (int i = 1; i < 4; i++)
		assert_int_equal(g[i].calls, 0);
	got_fini(g, 4);
}

/* The loop refuses curl's socket (beyond its setsize): the transfer fails at
 * once with a message instead of hanging until its timeout. */
static void
test_descriptor_refused_by_loop(void **state)
{
	struct fx fx;
	struct httpc_opts o;
	struct got g;
	char target[64];
	int lowest, lfd, port;
	uint64_t start_ms;

	(void)state;
	memset(&fx, 0, sizeof(fx));
	assert_true((lowest = dup(0)) >= 0);
	close(lowest);
	/* The loop's epoll descriptor takes lowest: anything newer is beyond. */
	assert_non_null(fx.loop = ev_loop_new(lowest + 1));
	assert_true((lfd = listen_loopback(&port)) > lowest);	/* never accepts */
	fx.srv.fd = -1;
	LIST_INIT(&fx.srv.conns);
	assert_non_null(fx.h = httpc_new(fx.loop));
	snprintf(target, sizeof(target), "http://127.0.0.1:%d/", port);
	got_init(&g, &fx, 1);
	memset(&o, 0, sizeof(o));
	o.url = target;
	o.timeout_ms = 5000;
	start_ms = ev_now_update(fx.loop);
	assert_non_null(httpc_request(fx.h, &o, got_done, &g));
	assert_int_equal(test_wait_for(fx.loop, got_called, &g, 6000), 0);
	assert_true(g.done_ms - start_ms < 1000);
	assert_true(g.failed);
	assert_false(g.timed_out);
	assert_int_equal(g.status, 0);
	assert_non_null(strstr(g.error, "cannot watch descriptor"));
	assert_int_equal(httpc_active(fx.h), 0);
	httpc_free(fx.h);
	ev_loop_free(fx.loop);
	close(lfd);
	got_fini(&g, 1);
}

static void
test_environment_proxy_for_https_only(void **state)
{
	struct fx *fx = *state;
	char proxy[64];
	struct got g[2];
	struct gots all = { g, 2 };
	int refused = test_free_port();

	assert_true(refused > 0);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("HTTPS_PROXY");
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", refused);
	setenv("http_proxy", proxy, 1);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", fx->srv.port);
	setenv("https_proxy", proxy, 1);
	got_init(g, fx, 2);
	start(fx, url(fx, "/hello"), &g[0]);		/* straight to the server */
	start(fx, "https://olb-test.invalid/", &g[1]);	/* CONNECT to the proxy */
	assert_int_equal(test_wait_for(fx->loop, all_called, &all, 3000), 0);
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	assert_int_equal(g[0].status, 200);
	assert_string_equal(g[0].body, "hello, world");
	assert_true(g[1].failed);
	assert_int_equal(g[1].status, 0);
	assert_int_equal(fx->srv.connects, 1);
	got_fini(g, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_200_keeps_connection,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_post_and_put_echoed,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_head_and_delete,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_status_kept,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_empty_reply_is_curls_error,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_timeout,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_body_cap,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_parallel,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cancel,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_request_and_cancel_from_callback,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_options_and_late_errors,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_free_with_transfers_in_flight,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_free_from_callback,
		    fx_setup, fx_teardown),
		cmocka_unit_test(test_descriptor_refused_by_loop),
		cmocka_unit_test_setup_teardown(test_environment_proxy_for_https_only,
		    fx_setup, fx_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
