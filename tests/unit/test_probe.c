/*
 * Tests of the instance probes (workers/probe.c) against a small HTTP
 * server on the test's own loop: the configured path is the one asked for;
 * 2xx is a success and anything else (503, a refused connection, a
 * timeout) a failure with its status or reason; one probe per instance in
 * flight and none before the interval has passed; forgetting, pruning and
 * freeing cancel a probe in flight (no callback), also from inside a
 * callback; and bad addresses are refused.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/httpc.h"
#include "tests/unit/support.h"
#include "workers/probe.h"

#define CONNS_MAX	16

/* The test server: answers "/ok..." 200, "/down" 503, anything else never;
 * closes after each answer. */
struct srv {
	struct ev_loop	*loop;
	int		 fd;
	int		 port;
	int		 requests;
	char		 line[256];	/* the last request line */
	int		 conns[CONNS_MAX];
	char		 in[CONNS_MAX][1024];
	size_t		 inlen[CONNS_MAX];
};

struct fixture {
	struct test_env	 env;
	struct srv	 srv;
	struct httpc	*http;
	struct probes	*probes;
	int		 done;
	int		 ok, failed;
	long		 status;
	char		 error[64];
	char		 id[64];
	uint64_t	 ms;
	int		 forget_in_callback;
};

static void
srv_close(struct srv *s, int i)
{
	ev_io_del(s->loop, s->conns[i], EV_READ);
	close(s->conns[i]);
	s->conns[i] = -1;
	s->inlen[i] = 0;
}

static void
srv_read(struct ev_loop *loop, int fd, int mask, void *arg)
{
	struct srv *s = arg;
	const char *answer = NULL;
	char *eol;
	ssize_t n;
	int i;

	(void)loop;
	(void)mask;
	for (i = 0; i < CONNS_MAX && s->conns[i] != fd; i++)
		;
	assert_true(i < CONNS_MAX);
	n = read(fd, s->in[i] + s->inlen[i], sizeof(s->in[i]) - 1 - s->inlen[i]);
	if (n <= 0) {
		srv_close(s, i);
		return;
	}
	s->inlen[i] += (size_t)n;
	s->in[i][s->inlen[i]] = '\0';
	if (strstr(s->in[i], "\r\n\r\n") == NULL)
		return;
	s->requests++;
	if ((eol = strstr(s->in[i], "\r\n")) != NULL)
		*eol = '\0';
	snprintf(s->line, sizeof(s->line), "%s", s->in[i]);
	if (strncmp(s->line, "GET /ok", 7) == 0)
		answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
		    "Connection: close\r\n\r\nok";
	else if (strncmp(s->line, "GET /down ", 10) == 0)
		answer = "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n";
	if (answer != NULL) {
		assert_int_equal(write(fd, answer, strlen(answer)),
		    (ssize_t)strlen(answer));
		srv_close(s, i);
	}
}

static void
srv_accept(struct ev_loop *loop, int fd, int mask, void *arg)
{
	struct srv *s = arg;
	int cfd, i;

	(void)mask;
	while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) !=
	    -1) {
		for (i = 0; i < CONNS_MAX && s->conns[i] != -1; i++)
			;
		assert_true(i < CONNS_MAX);
		s->conns[i] = cfd;
		assert_int_equal(ev_io_add(loop, cfd, EV_READ, srv_read, s), 0);
	}
}

static void
srv_start(struct srv *s, struct ev_loop *loop)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	for (int i = 0; i < CONNS_MAX; i++)
		s->conns[i] = -1;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(s->fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->fd, 64), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	assert_int_equal(ev_io_add(loop, s->fd, EV_READ, srv_accept, s), 0);
}

static void
srv_stop(struct srv *s)
{
	for (int i = 0; i < CONNS_MAX; i++)
		if (s->conns[i] != -1)
			srv_close(s, i);
	ev_io_del(s->loop, s->fd, EV_READ);
	close(s->fd);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || test_env_init(&fx->env) == -1)
		return -1;
	*state = fx;
	srv_start(&fx->srv, fx->env.loop);
	fx->env.conf.health.timeout_ms = 300;
	return (fx->http = httpc_new(fx->env.loop)) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	probes_free(fx->probes);
	httpc_free(fx->http);
	srv_stop(&fx->srv);
	test_env_fini(&fx->env);
	free(fx);
	return 0;
}

/* Probes on path. */
static void
use_path(struct fixture *fx, const char *path)
{
	probes_free(fx->probes);
	fx->env.conf.health.path = (char *)(uintptr_t)path;
	fx->probes = probes_new(fx->env.loop, fx->http, &fx->env.conf);
	assert_non_null(fx->probes);
}

static void
on_probe(const char *id, const struct probe_result *r, void *arg)
{
	struct fixture *fx = arg;

	fx->done++;
	if (r->ok)
		fx->ok++;
	else
		fx->failed++;
	fx->status = r->status;
	fx->ms = r->ms;
	snprintf(fx->error, sizeof(fx->error), "%s", r->error ? r->error : "");
	snprintf(fx->id, sizeof(fx->id), "%s", id);
	if (fx->forget_in_callback)
		probes_forget(fx->probes, id);
}

static int
done(void *arg)
{
	return ((struct fixture *)arg)->done > 0;
}

static int
start(struct fixture *fx, const char *id, uint64_t interval)
{
	return probes_start(fx->probes, id, "127.0.0.1",
	    (unsigned int)fx->srv.port, interval, on_probe, fx);
}

static void
test_success_on_the_configured_path(void **state)
{
	struct fixture *fx = *state;

	use_path(fx, "/ok/custom?x=1");
	assert_int_equal(start(fx, "i-1", 0), 1);
	assert_int_equal(probes_active(fx->probes), 1);
	assert_int_equal(test_wait_for(fx->env.loop, done, fx, 2000), 0);
	assert_int_equal(fx->ok, 1);
	assert_int_equal(fx->status, 200);
	assert_string_equal(fx->error, "");
	assert_string_equal(fx->id, "i-1");
	assert_string_equal(fx->srv.line, "GET /ok/custom?x=1 HTTP/1.1");
	assert_int_equal(probes_active(fx->probes), 0);
}

static void
test_failures(void **state)
{
	struct fixture *fx = *state;
	int refused_port;

	use_path(fx, "/down");
	assert_int_equal(start(fx, "i-1", 0), 1);
	assert_int_equal(test_wait_for(fx->env.loop, done, fx, 2000), 0);
	assert_int_equal(fx->failed, 1);
	assert_int_equal(fx->status, 503);
	assert_string_equal(fx->error, "");

	/* Nobody listens. */
	fx->done = 0;
	assert_true((refused_port = test_free_port()) > 0);
	assert_int_equal(probes_start(fx->probes, "i-2", "127.0.0.1",
	    (unsigned int)refused_port, 0, on_probe, fx), 1);
	assert_int_equal(test_wait_for(fx->env.loop, done, fx, 2000), 0);
	assert_int_equal(fx->failed, 2);
	assert_int_equal(fx->status, 0);
	assert_string_not_equal(fx->error, "");

	/* An instance that never answers: a failure at the timeout. */
	use_path(fx, "/hang");
	fx->done = 0;
	assert_int_equal(start(fx, "i-3", 0), 1);
	assert_int_equal(test_wait_for(fx->env.loop, done, fx, 3000), 0);
	assert_int_equal(fx->failed, 3);
	assert_int_equal(fx->status, 0);
	assert_string_equal(fx->error, "timeout");
	assert_true(fx->ms >= 250 && fx->ms < 2000);
}

static void
test_one_in_flight_and_the_interval(void **state)
{
	struct fixture *fx = *state;

	use_path(fx, "/hang");
	assert_int_equal(start(fx, "i-1", 0), 1);
	assert_int_equal(start(fx, "i-1", 0), 0);	/* in flight */
	assert_int_equal(start(fx, "i-2", 0), 1);	/* another instance */
	assert_int_equal(probes_active(fx->probes), 2);
	probes_free(fx->probes);			/* no callbacks */
	fx->probes = NULL;

	use_path(fx, "/ok");
	assert_int_equal(start(fx, "i-1", 60000), 1);
	assert_int_equal(test_wait_for(fx->env.loop, done, fx, 2000), 0);
	assert_int_equal(start(fx, "i-1", 60000), 0);	/* not due */
	assert_int_equal(start(fx, "i-1", 0), 1);	/* due */
	fx->done = 0;
	assert_int_equal(test_wait_for(fx->env.loop, done, fx, 2000), 0);
	test_wait_for(fx->env.loop, NULL, NULL, 500);
	assert_int_equal(fx->ok, 2);
	assert_int_equal(fx->srv.requests, 2);	/* the cancelled never left */
}

static int
keep_odd(const char *id, void *arg)
{
	(void)arg;
	return (id[strlen(id) - 1] - '0') % 2 == 1;
}

static void
test_forget_and_prune_cancel(void **state)
{
	struct fixture *fx = *state;
	char id[16];

	use_path(fx, "/hang");
	for (int i = 1; i <= 4; i++) {
		snprintf(id, sizeof(id), "i-%d", i);
		assert_int_equal(start(fx, id, 0), 1);
	}
	probes_forget(fx->probes, "i-1");
	probes_forget(fx->probes, "i-none");
	assert_int_equal(probes_active(fx->probes), 3);
	probes_prune(fx->probes, keep_odd, NULL);	/* i-2, i-4 go */
	assert_int_equal(probes_active(fx->probes), 1);
	/* i-3 times out; the others were cancelled and say nothing. */
	assert_int_equal(test_wait_for(fx->env.loop, done, fx, 3000), 0);
	test_wait_for(fx->env.loop, NULL, NULL, 500);
	assert_int_equal(fx->done, 1);
	assert_string_equal(fx->id, "i-3");
	/* A forgotten instance is due again at once. */
	assert_int_equal(start(fx, "i-1", 60000), 1);
}

static void
test_forget_inside_the_callback(void **state)
{
	struct fixture *fx = *state;

	use_path(fx, "/ok");
	fx->forget_in_callback = 1;
	assert_int_equal(start(fx, "i-1", 60000), 1);
	assert_int_equal(test_wait_for(fx->env.loop, done, fx, 2000), 0);
	assert_string_equal(fx->id, "i-1");
	assert_int_equal(start(fx, "i-1", 60000), 1);	/* forgotten */
	fx->done = 0;
	assert_int_equal(test_wait_for(fx->env.loop, done, fx, 2000), 0);
	assert_int_equal(fx->ok, 2);
}

static void
test_bad_addresses(void **state)
{
	struct fixture *fx = *state;
	char longid[200];

	use_path(fx, "/ok");
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(probes_start(fx->probes, "i-1", "", 80, 0, on_probe,
	    fx), -1);
	assert_int_equal(probes_start(fx->probes, "i-1", "127.0.0.1", 0, 0,
	    on_probe, fx), -1);
	assert_int_equal(probes_start(fx->probes, "i-1", "127.0.0.1", 70000, 0,
	    on_probe, fx), -1);
	assert_int_equal(probes_start(fx->probes, longid, "127.0.0.1", 80, 0,
	    on_probe, fx), -1);
	assert_int_equal(probes_active(fx->probes), 0);
	/* IPv6 literals are bracketed: ::1 is refused or answered, but
	 * always reported. */
	assert_int_equal(probes_start(fx->probes, "i-6", "::1",
	    (unsigned int)fx->srv.port, 0, on_probe, fx), 1);
	assert_int_equal(test_wait_for(fx->env.loop, done, fx, 2000), 0);
	assert_int_equal(fx->failed, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_success_on_the_configured_path,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_in_flight_and_the_interval,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_and_prune_cancel,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_inside_the_callback,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_addresses, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
