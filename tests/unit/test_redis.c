/*
 * Tests of rconn (common/redis.c) against a real redis-server started on a
 * free loopback port for each test: round trips through the ev loop, AUTH and
 * SELECT, losing and regaining the server, command timeouts (server paused
 * with SIGSTOP), pub/sub across a restart, a unix socket, rconn_free from
 * inside callbacks, and rconn_hurry's bounds.  Every wait is bounded by an ev timer.
 */
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
#include <hiredis/hiredis.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/log.h"
#include "common/redis.h"
#include "tests/unit/support.h"

/* What one rconn's callbacks saw. */
struct probe {
	struct rconn	*rc;
	int		 up;
	int		 ups;
	int		 downs;
	int		 replies;
	int		 nulls;
	int		 last_type;
	long long	 last_integer;
	char		 last_str[128];
	int		 messages;
	char		 last_channel[64];
	char		 last_msg[128];
	int		 free_on_reply;	/* rconn_free in the first reply */
	int		 free_on_down;	/* rconn_free when the server goes */
};

static void
probe_state(struct rconn *rc, int up, void *arg)
{
	struct probe *p = arg;

	p->up = up;
	if (up)
		p->ups++;
	else
		p->downs++;
	if (!up && p->free_on_down) {
		rconn_free(rc);
		p->rc = NULL;
	}
}

static void
probe_reply(struct rconn *rc, redisReply *reply, void *arg)
{
	struct probe *p = arg;

	p->replies++;
	if (reply == NULL)
		p->nulls++;
	else {
		p->last_type = reply->type;
		p->last_integer = reply->integer;
		snprintf(p->last_str, sizeof(p->last_str), "%s",
		    reply->str != NULL ? reply->str : "");
	}
	if (p->free_on_reply && p->replies == 1) {
		rconn_free(rc);
		p->rc = NULL;
	}
}

static void
probe_message(struct rconn *rc, const char *channel, const char *msg,
    size_t len, void *arg)
{
	struct probe *p = arg;

	(void)rc;
	p->messages++;
	snprintf(p->last_channel, sizeof(p->last_channel), "%s", channel);
	snprintf(p->last_msg, sizeof(p->last_msg), "%.*s", (int)len, msg);
}

static int
probe_is_up(void *arg)
{
	return ((struct probe *)arg)->up;
}

static int
probe_is_down(void *arg)
{
	return !((struct probe *)arg)->up;
}

static int
probe_has_reply(void *arg)
{
	return ((struct probe *)arg)->replies > 0;
}

static int
probe_has_message(void *arg)
{
	return ((struct probe *)arg)->messages > 0;
}

static int
never(void *arg)
{
	(void)arg;
	return 0;
}

static struct rconn *
probe_connect(struct test_env *fx, struct probe *p, const char *name)
{
	memset(p, 0, sizeof(*p));
	p->rc = rconn_new(fx->loop, &fx->conf, name, probe_state, p);
	return p->rc;
}

/* Send one command and wait for its reply; 0 if one came back. */
static int
round_trip(struct test_env *fx, struct probe *p, const char *fmt, const char *a,
    const char *b)
{
	p->replies = p->nulls = 0;
	if (rconn_command(p->rc, probe_reply, p, fmt, a, b) == -1)
		return -1;
	return test_wait_for(fx->loop, probe_has_reply, p, 2000);
}

static void
test_command_round_trip(void **state)
{
	struct test_env *fx = *state;
	struct probe p;
	const char *argv[2] = { "GET", "olb:test:key" };
	size_t lens[2] = { 3, 12 };

	assert_int_equal(test_redis_start(&fx->srv), 0);
	assert_non_null(probe_connect(fx, &p, "test"));
	assert_int_equal(test_wait_for(fx->loop, probe_is_up, &p, 2000), 0);
	assert_true(rconn_is_up(p.rc));
	assert_int_equal(round_trip(fx, &p, "SET %s %s", "olb:test:key",
	    "v1"), 0);
	assert_int_equal(p.last_type, REDIS_REPLY_STATUS);
	assert_string_equal(p.last_str, "OK");

	p.replies = 0;
	assert_int_equal(rconn_commandargv(p.rc, probe_reply, &p, 2, argv,
	    lens), 0);
	assert_int_equal(test_wait_for(fx->loop, probe_has_reply, &p, 2000), 0);
	assert_int_equal(p.last_type, REDIS_REPLY_STRING);
	assert_string_equal(p.last_str, "v1");
	assert_int_equal(p.nulls, 0);
	assert_int_equal(rconn_reconnects(p.rc), 0);
	assert_int_equal(p.ups, 1);
	rconn_free(p.rc);
}

static void
test_auth_and_select(void **state)
{
	struct test_env *fx = *state;
	struct probe p3, p0, bad;

	snprintf(fx->srv.password, sizeof(fx->srv.password), "s3cret");
	assert_int_equal(test_redis_start(&fx->srv), 0);
	fx->conf.redis.password = "s3cret";
	fx->conf.redis.db = 3;
	assert_non_null(probe_connect(fx, &p3, "db3"));
	fx->conf.redis.db = 0;
	assert_non_null(probe_connect(fx, &p0, "db0"));
	fx->conf.redis.password = "wrong";
	assert_non_null(probe_connect(fx, &bad, "badauth"));

	assert_int_equal(test_wait_for(fx->loop, probe_is_up, &p3, 2000), 0);
	assert_int_equal(test_wait_for(fx->loop, probe_is_up, &p0, 2000), 0);
	assert_int_equal(round_trip(fx, &p3, "SET %s %s", "olb:k", "in3"), 0);
	assert_string_equal(p3.last_str, "OK");
	assert_int_equal(round_trip(fx, &p3, "GET %s", "olb:k", NULL), 0);
	assert_string_equal(p3.last_str, "in3");
	assert_int_equal(round_trip(fx, &p0, "GET %s", "olb:k", NULL), 0);
	assert_int_equal(p0.last_type, REDIS_REPLY_NIL);

	/* A wrong password never comes up and refuses commands. */
	test_wait_for(fx->loop, never, NULL, 300);
	assert_int_equal(bad.ups, 0);
	assert_false(rconn_is_up(bad.rc));
	assert_int_equal(rconn_command(bad.rc, probe_reply, &bad, "PING"), -1);
	rconn_free(bad.rc);
	rconn_free(p0.rc);
	rconn_free(p3.rc);
}

static void
test_server_lost_and_back(void **state)
{
	struct test_env *fx = *state;
	struct probe p;
	uint64_t t0;

	assert_int_equal(test_redis_start(&fx->srv), 0);
	assert_non_null(probe_connect(fx, &p, "restart"));
	assert_int_equal(test_wait_for(fx->loop, probe_is_up, &p, 2000), 0);

	test_redis_stop(&fx->srv);
	assert_int_equal(test_wait_for(fx->loop, probe_is_down, &p, 2000), 0);
	assert_int_equal(p.downs, 1);
	assert_false(rconn_is_up(p.rc));
	assert_int_equal(rconn_command(p.rc, probe_reply, &p, "PING"), -1);
	/* Stay down long enough for the backoff to reach its cap. */
	test_wait_for(fx->loop, never, NULL, 2500);
	assert_int_equal(p.ups, 1);

	assert_int_equal(test_redis_start(&fx->srv), 0);
	t0 = ev_now_update(fx->loop);
	assert_int_equal(test_wait_for(fx->loop, probe_is_up, &p,
	    RCONN_BACKOFF_MAX_MS + 1000), 0);
	assert_true(ev_now_update(fx->loop) - t0 <= RCONN_BACKOFF_MAX_MS + 500);
	assert_int_equal(rconn_reconnects(p.rc), 1);
	assert_int_equal(p.ups, 2);
	assert_int_equal(round_trip(fx, &p, "PING", NULL, NULL), 0);
	assert_string_equal(p.last_str, "PONG");
	rconn_free(p.rc);
}

static void
test_command_timeout(void **state)
{
	struct test_env *fx = *state;
	struct probe p;
	uint64_t t0, waited;

	fx->conf.redis.command_timeout_ms = 300;
	fx->conf.redis.connect_timeout_ms = 300;
	assert_int_equal(test_redis_start(&fx->srv), 0);
	assert_non_null(probe_connect(fx, &p, "timeout"));
	assert_int_equal(test_wait_for(fx->loop, probe_is_up, &p, 2000), 0);

	assert_int_equal(kill(fx->srv.pid, SIGSTOP), 0);
	t0 = ev_now_update(fx->loop);
	assert_int_equal(rconn_command(p.rc, probe_reply, &p, "PING"), 0);
	assert_int_equal(test_wait_for(fx->loop, probe_has_reply, &p, 3000), 0);
	waited = ev_now_update(fx->loop) - t0;
	assert_int_equal(p.nulls, 1);
	assert_true(waited >= 290 && waited < 1500);
	assert_int_equal(p.downs, 1);
	assert_false(rconn_is_up(p.rc));

	/* Paused, the server accepts connections but answers nothing: the
	 * handshake times out and the rconn keeps retrying. */
	test_wait_for(fx->loop, never, NULL, 800);
	assert_int_equal(p.ups, 1);
	assert_int_equal(kill(fx->srv.pid, SIGCONT), 0);
	assert_int_equal(test_wait_for(fx->loop, probe_is_up, &p,
	    RCONN_BACKOFF_MAX_MS + 1500), 0);
	assert_int_equal(rconn_reconnects(p.rc), 1);
	assert_int_equal(round_trip(fx, &p, "PING", NULL, NULL), 0);
	assert_string_equal(p.last_str, "PONG");
	rconn_free(p.rc);
}

static int
both_up(void *arg)
{
	struct probe *p = arg;

	return p[0].up && p[1].up;
}

static int
both_reconnected(void *arg)
{
	struct probe *p = arg;

	return p[0].up && p[1].up && p[0].ups == 2 && p[1].ups == 2;
}

static void
test_subscribe_across_restart(void **state)
{
	struct test_env *fx = *state;
	struct probe p[2];	/* subscriber, publisher */

	assert_int_equal(test_redis_start(&fx->srv), 0);
	assert_non_null(probe_connect(fx, &p[0], "sub"));
	assert_int_equal(rconn_subscribe(p[0].rc, "olb:test:chan",
	    probe_message, &p[0]), 0);
	assert_non_null(probe_connect(fx, &p[1], "pub"));
	assert_int_equal(test_wait_for(fx->loop, both_up, p, 2000), 0);
	assert_int_equal(rconn_command(p[0].rc, probe_reply, &p[0], "PING"),
	    -1);

	assert_int_equal(round_trip(fx, &p[1], "PUBLISH %s %s",
	    "olb:test:chan", "hello"), 0);
	assert_int_equal(p[1].last_integer, 1);
	assert_int_equal(test_wait_for(fx->loop, probe_has_message, &p[0],
	    2000), 0);
	assert_string_equal(p[0].last_channel, "olb:test:chan");
	assert_string_equal(p[0].last_msg, "hello");

	test_redis_stop(&fx->srv);
	assert_int_equal(test_redis_start(&fx->srv), 0);
	assert_int_equal(test_wait_for(fx->loop, both_reconnected, p,
	    RCONN_BACKOFF_MAX_MS + 2000), 0);
	assert_int_equal(rconn_reconnects(p[0].rc), 1);
	p[0].messages = 0;
	assert_int_equal(round_trip(fx, &p[1], "PUBLISH %s %s",
	    "olb:test:chan", "again"), 0);
	assert_int_equal(p[1].last_integer, 1);
	assert_int_equal(test_wait_for(fx->loop, probe_has_message, &p[0],
	    2000), 0);
	assert_string_equal(p[0].last_msg, "again");
	rconn_free(p[1].rc);
	rconn_free(p[0].rc);
}

static void
test_unix_socket(void **state)
{
	struct test_env *fx = *state;
	struct probe p;

	snprintf(fx->srv.sock, sizeof(fx->srv.sock), "/tmp/olb-test-redis-%d.sock",
	    (int)getpid());
	assert_int_equal(test_redis_start(&fx->srv), 0);
	fx->conf.redis.socket = fx->srv.sock;
	fx->conf.redis.port = 1;	/* ignored: the socket wins */
	assert_non_null(probe_connect(fx, &p, "unix"));
	assert_int_equal(test_wait_for(fx->loop, probe_is_up, &p, 2000), 0);
	assert_string_equal(rconn_addr(p.rc), fx->srv.sock);
	assert_int_equal(round_trip(fx, &p, "PING", NULL, NULL), 0);
	assert_string_equal(p.last_str, "PONG");
	rconn_free(p.rc);
}

static int
count_lines(const char *path, const char *needle)
{
	char line[1024];
	FILE *fp = fopen(path, "r");
	int n = 0;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(fp);
	return n;
}

static void
test_first_connect_waits_quietly(void **state)
{
	struct test_env *fx = *state;
	struct probe p;
	char logpath[] = "/tmp/olb-test-redis-log-XXXXXX";
	int fd;

	/* No server yet: retries are logged once, not once per attempt. */
	assert_true((fd = mkstemp(logpath)) != -1);
	close(fd);
	assert_int_equal(log_open(logpath, LOG_LEVEL_INFO, LOG_FORMAT_TEXT), 0);
	assert_non_null(probe_connect(fx, &p, "early"));
	test_wait_for(fx->loop, never, NULL, 1000);
	assert_int_equal(p.ups, 0);
	assert_false(rconn_is_up(p.rc));
	assert_int_equal(rconn_command(p.rc, probe_reply, &p, "PING"), -1);

	assert_int_equal(test_redis_start(&fx->srv), 0);
	assert_int_equal(test_wait_for(fx->loop, probe_is_up, &p,
	    RCONN_BACKOFF_MAX_MS + 1000), 0);
	assert_int_equal(rconn_reconnects(p.rc), 0);	/* never lost */
	log_close();
	assert_int_equal(count_lines(logpath, "Connection refused"), 1);
	assert_int_equal(count_lines(logpath, "connected to redis 127.0.0.1:"),
	    1);
	unlink(logpath);
	rconn_free(p.rc);
}

/* A caller that asks for a hurry every 5 ms (requests arriving). */
struct hurrier {
	struct rconn	*rc;
	struct ev_timer	 timer;
	uint64_t	 until;	/* ev_now at which it stops asking */
};

static void
hurrier_tick(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct hurrier *h = arg;

	if (ev_now(loop) >= h->until)
		return;
	rconn_hurry(h->rc, h->until - ev_now(loop));
	ev_timer_start(loop, t, 5, hurrier_tick, h);
}

static void
test_hurry_caps_the_backoff_not_the_rate(void **state)
{
	struct test_env *fx = *state;
	struct hurrier h;
	struct probe p;
	uint64_t e0, e1, e2;

	/* No server, for long enough that attempts are 1 to 2 s apart. */
	assert_non_null(probe_connect(fx, &p, "hurried"));
	test_wait_for(fx->loop, never, NULL, 3000);
	e0 = rconn_errors(p.rc);

	/* Asked 200 times in a second: an attempt every RCONN_HURRY_MS (the
	 * first at once), never more often. */
	memset(&h, 0, sizeof(h));
	h.rc = p.rc;
	h.until = ev_now_update(fx->loop) + 1000;
	ev_timer_start(fx->loop, &h.timer, 0, hurrier_tick, &h);
	test_wait_for(fx->loop, never, NULL, 1000);
	e1 = rconn_errors(p.rc);
	assert_true(e1 - e0 >= 4);
	assert_true(e1 - e0 <= 1000 / RCONN_HURRY_MS + 1);

	/* Nobody waits any more: back to the capped backoff, which went on
	 * doubling meanwhile (at most the attempt already armed, and one). */
	test_wait_for(fx->loop, never, NULL, 1000);
	e2 = rconn_errors(p.rc);
	assert_true(e2 - e1 <= 2);

	/* And a hurried connection is up at the next attempt. */
	assert_int_equal(test_redis_start(&fx->srv), 0);
	h.until = ev_now_update(fx->loop) + 2000;
	ev_timer_start(fx->loop, &h.timer, 0, hurrier_tick, &h);
	assert_int_equal(test_wait_for(fx->loop, probe_is_up, &p,
	    RCONN_BACKOFF_MAX_MS), 0);
	ev_timer_stop(fx->loop, &h.timer);
	rconn_free(p.rc);
}

static void
test_free_inside_callbacks(void **state)
{
	struct test_env *fx = *state;
	struct probe p, q;

	assert_int_equal(test_redis_start(&fx->srv), 0);
	assert_non_null(probe_connect(fx, &p, "free-in-reply"));
	assert_non_null(probe_connect(fx, &q, "free-in-state"));
	assert_int_equal(test_wait_for(fx->loop, probe_is_up, &p, 2000), 0);
	assert_int_equal(test_wait_for(fx->loop, probe_is_up, &q, 2000), 0);

	/* Freed in the first reply: the two later callbacks get NULL. */
	p.free_on_reply = 1;
	for (int i = 0; i < 3; i++)
		assert_int_equal(rconn_command(p.rc, probe_reply, &p, "PING"),
		    0);
	assert_int_equal(test_wait_for(fx->loop, probe_has_reply, &p, 2000), 0);
	assert_null(p.rc);
	assert_int_equal(p.replies, 3);
	assert_int_equal(p.nulls, 2);

	/* Freed in the state callback while hiredis drops the context. */
	q.free_on_down = 1;
	assert_int_equal(rconn_command(q.rc, probe_reply, &q, "PING"), 0);
	test_redis_stop(&fx->srv);
	assert_int_equal(test_wait_for(fx->loop, probe_is_down, &q, 2000), 0);
	assert_null(q.rc);
	assert_int_equal(q.nulls, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_command_round_trip,
		    test_env_setup, test_env_teardown),
		cmocka_unit_test_setup_teardown(test_auth_and_select,
		    test_env_setup, test_env_teardown),
		cmocka_unit_test_setup_teardown(test_server_lost_and_back,
		    test_env_setup, test_env_teardown),
		cmocka_unit_test_setup_teardown(test_command_timeout,
		    test_env_setup, test_env_teardown),
		cmocka_unit_test_setup_teardown(test_subscribe_across_restart,
		    test_env_setup, test_env_teardown),
		cmocka_unit_test_setup_teardown(test_unix_socket,
		    test_env_setup, test_env_teardown),
		cmocka_unit_test_setup_teardown(test_free_inside_callbacks,
		    test_env_setup, test_env_teardown),
		cmocka_unit_test_setup_teardown(test_first_connect_waits_quietly,
		    test_env_setup, test_env_teardown),
		cmocka_unit_test_setup_teardown(test_hurry_caps_the_backoff_not_the_rate,
		    test_env_setup, test_env_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
