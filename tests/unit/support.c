/*
 * Shared support for the unit tests (see support.h): a free loopback port, a
 * redis-server child per test (TCP, optionally with a password and a unix
 * socket), the fixture around it, and an ev loop run bounded by a deadline
 * timer.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/keys.h"
#include "common/rscript.h"
#include "common/scripts.h"
#include "tests/unit/support.h"

#define REDIS_SERVER	"/usr/bin/redis-server"

int
test_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* In the child: become redis-server for s, dying with the test. */
static void
redis_exec(struct test_redis *s)
{
	char port[16], master[16], *argv[32];
	int n = 0, fd;

	snprintf(port, sizeof(port), "%d", s->sock[0] ? 0 : s->port);
	snprintf(master, sizeof(master), "%d", s->replicaof);
	argv[n++] = "redis-server";
	if (s->sentinel[0]) {
		argv[n++] = s->sentinel;
		argv[n++] = "--sentinel";
	}
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	if (!s->sentinel[0]) {
		argv[n++] = "--save";
		argv[n++] = "";
		argv[n++] = "--appendonly";
		argv[n++] = "no";
		/* A replica (or a master demoted by a failover) loads its
		 * sync from the socket: no dump.rdb in the working directory
		 * for the next server to load. */
		argv[n++] = "--repl-diskless-load";
		argv[n++] = "swapdb";
	}
	if (s->replicaof > 0) {
		argv[n++] = "--replicaof";
		argv[n++] = "127.0.0.1";
		argv[n++] = master;
		argv[n++] = "--repl-diskless-sync-delay";
		argv[n++] = "0";
	}
	if (s->password[0]) {
		argv[n++] = "--requirepass";
		argv[n++] = s->password;
	}
	if (s->sock[0]) {
		argv[n++] = "--unixsocket";
		argv[n++] = s->sock;
		argv[n++] = "--unixsocketperm";
		argv[n++] = "700";
	}
	argv[n] = NULL;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		close(fd);
	}
	execv(REDIS_SERVER, argv);
	_exit(127);
}

/* Answers PING (any reply, NOAUTH included) within 5 s.  0 or -1. */
static int
redis_wait_ready(struct test_redis *s)
{
	struct timeval tv = { 0, 200000 };

	for (int i = 0; i < 500; i++) {
		redisContext *c;
		redisReply *r = NULL;

		if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
			return -1;
		c = s->sock[0] ? redisConnectUnixWithTimeout(s->sock, tv) :
		    redisConnectWithTimeout("127.0.0.1", s->port, tv);
		if (c != NULL && c->err == 0)
			r = redisCommand(c, "PING");
		if (c != NULL)
			redisFree(c);
		if (r != NULL) {
			freeReplyObject(r);
			return 0;
		}
		usleep(10000);
	}
	return -1;
}

int
test_redis_start(struct test_redis *s)
{
	if ((s->pid = fork()) == -1)
		return -1;
	if (s->pid == 0)
		redis_exec(s);
	return redis_wait_ready(s);
}

void
test_redis_stop(struct test_redis *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

int
test_env_init(struct test_env *e)
{
	if ((e->loop = ev_loop_new(1024)) == NULL)
		return -1;
	e->srv.port = test_free_port();
	e->conf.redis.host = "127.0.0.1";
	e->conf.redis.port = e->srv.port;
	e->conf.redis.socket = "";
	e->conf.redis.password = "";
	e->conf.redis.connect_timeout_ms = 500;
	e->conf.redis.command_timeout_ms = 2000;
	return e->srv.port > 0 ? 0 : -1;
}

void
test_env_fini(struct test_env *e)
{
	if (e->srv.sock[0])
		unlink(e->srv.sock);
	test_redis_stop(&e->srv);
	ev_loop_free(e->loop);
}

int
test_env_setup(void **state)
{
	struct test_env *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return -1;
	*state = e;
	return test_env_init(e);
}

int
test_env_teardown(void **state)
{
	struct test_env *e = *state;

	test_env_fini(e);
	free(e);
	return 0;
}

redisReply *
test_script(redisContext *ctx, struct scripts_call *c)
{
	return rscript_run_sync(ctx, c);
}

int
test_sync_init(struct test_sync *f)
{
	if (test_env_init(&f->env) == -1 || test_redis_start(&f->env.srv) == -1 ||
	    keys_init("olbtest:", "olbtest:events") == -1)
		return -1;
	f->ctx = redisConnect("127.0.0.1", f->env.srv.port);
	return f->ctx == NULL || f->ctx->err ? -1 : 0;
}

void
test_sync_fini(struct test_sync *f)
{
	if (f->ctx != NULL)
		redisFree(f->ctx);
	f->ctx = NULL;
	test_env_fini(&f->env);
}

int
test_sync_setup(void **state)
{
	struct test_sync *f = calloc(1, sizeof(*f));

	*state = f;
	return f == NULL ? -1 : test_sync_init(f);
}

int
test_sync_teardown(void **state)
{
	struct test_sync *f = *state;

	if (f == NULL)
		return 0;
	test_sync_fini(f);
	free(f);
	return 0;
}

/* One test_wait_for in progress. */
struct waiter {
	int		(*pred)(void *);
	void		*arg;
	struct ev_timer	 deadline;
};

static void
wait_check(struct ev_loop *loop, void *arg)
{
	struct waiter *w = arg;

	if (w->pred != NULL && w->pred(w->arg))
		ev_stop(loop);
}

static void
wait_expired(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	ev_stop(loop);
}

int
test_wait_for(struct ev_loop *loop, int (*pred)(void *), void *arg,
    uint64_t ms)
{
	struct waiter w;

	memset(&w, 0, sizeof(w));
	w.pred = pred;
	w.arg = arg;
	ev_now_update(loop);
	if (ev_before_sleep_add(loop, wait_check, &w) == -1)
		return -1;
	ev_timer_start(loop, &w.deadline, ms, wait_expired, &w);
	ev_run(loop);
	ev_timer_stop(loop, &w.deadline);
	ev_before_sleep_del(loop, wait_check, &w);
	return pred != NULL && pred(arg) ? 0 : -1;
}

/* One reply, checked only for presence: the caller reads and frees it. */
static redisReply *
test_redis_vcommand(redisContext *ctx, const char *fmt, va_list ap)
{
	return ctx != NULL ? redisvCommand(ctx, fmt, ap) : NULL;
}

long long
test_redis_int(redisContext *ctx, const char *fmt, ...)
{
	redisReply *r, *v;
	long long n = -2;
	va_list ap;

	va_start(ap, fmt);
	r = test_redis_vcommand(ctx, fmt, ap);
	va_end(ap);
	if (r == NULL)
		return -2;
	v = r->type == REDIS_REPLY_ARRAY && r->elements > 0 ? r->element[0] : r;
	if (v->type == REDIS_REPLY_INTEGER)
		n = v->integer;
	else if (v->type == REDIS_REPLY_STRING)
		n = strtoll(v->str, NULL, 10);
	else if (v->type == REDIS_REPLY_NIL)
		n = -1;
	freeReplyObject(r);
	return n;
}

int
test_redis_do(redisContext *ctx, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;
	int rv = -1;

	va_start(ap, fmt);
	r = test_redis_vcommand(ctx, fmt, ap);
	va_end(ap);
	if (r != NULL && r->type != REDIS_REPLY_ERROR)
		rv = 0;
	freeReplyObject(r);
	return rv;
}

time_t
test_utc(int year, int month, int mday, int hour, int minute)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = mday;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	return timegm(&tm);
}
