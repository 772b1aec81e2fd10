/*
 * test_sentinel: the readers of sentinels' and servers' answers, and rconns
 * that find their master through a real redis-sentinel and follow a
 * failover (a master, its replica and one sentinel, quorum 1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/redis.h"
#include "common/sentinel.h"
#include "tests/unit/support.h"

#define NAME	"olbm"

/* The reply hiredis reads from RESP text, or NULL. */
static redisReply *
reply_of(const char *resp)
{
	redisReader *rd = redisReaderCreate();
	void *r = NULL;

	assert_non_null(rd);
	assert_int_equal(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
	if (redisReaderGetReply(rd, &r) != REDIS_OK)
		r = NULL;
	redisReaderFree(rd);
	return r;
}

static int
addr_of(const char *resp, char *host, int *port)
{
	redisReply *r = reply_of(resp);
	int rv = sentinel_parse_addr(r, host, 64, port);

	freeReplyObject(r);
	return rv;
}

static void
test_parse_addr(void **state)
{
	char host[64];
	int port = 0;

	(void)state;
	assert_int_equal(addr_of("*2\r\n$9\r\n10.0.0.7\r\n$4\r\n6380\r\n", host,
	    &port), -1);	/* a bulk of 9 bytes holding 8 and CR: torn */
	assert_int_equal(addr_of("*2\r\n$8\r\n10.0.0.7\r\n$4\r\n6380\r\n", host,
	    &port), 0);
	assert_string_equal(host, "10.0.0.7");
	assert_int_equal(port, 6380);
	assert_int_equal(addr_of("*2\r\n$3\r\n::1\r\n$5\r\n65535\r\n", host,
	    &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 65535);
	/* nil (not monitored), an error, the wrong shapes, bad ports, hosts
	 * with blanks or a NUL, a host too long for the buffer */
	static const char *bad[] = {
		"$-1\r\n", "*-1\r\n", "-IDONTKNOW no\r\n", ":6379\r\n",
		"*1\r\n$1\r\na\r\n", "*3\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\n1\r\n",
		"*2\r\n$1\r\na\r\n:6379\r\n", "*2\r\n$1\r\na\r\n$1\r\n0\r\n",
		"*2\r\n$1\r\na\r\n$5\r\n65536\r\n", "*2\r\n$1\r\na\r\n$6\r\n006379\r\n",
		"*2\r\n$1\r\na\r\n$2\r\n-1\r\n", "*2\r\n$1\r\na\r\n$0\r\n\r\n",
		"*2\r\n$0\r\n\r\n$4\r\n6379\r\n", "*2\r\n$3\r\na b\r\n$4\r\n6379\r\n",
		"*2\r\n$3\r\na\0b\r\n$4\r\n6379\r\n",
		"*2\r\n$64\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
		    "$4\r\n6379\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		port = -7;
		assert_int_equal(addr_of(bad[i], host, &port), -1);
		assert_int_equal(port, -7);
	}
	assert_int_equal(sentinel_parse_addr(NULL, host, sizeof(host), &port), -1);
}

static void
test_parse_switch(void **state)
{
	char host[64];
	int port = 0;
	const char *ok = "olbm 10.0.0.1 6379 10.0.0.2 6380";

	(void)state;
	assert_int_equal(sentinel_parse_switch(ok, strlen(ok), NAME, host,
	    sizeof(host), &port), 0);
	assert_string_equal(host, "10.0.0.2");
	assert_int_equal(port, 6380);
	static const char *bad[] = {
		"other 10.0.0.1 6379 10.0.0.2 6380",	/* another master */
		"olbmx 10.0.0.1 6379 10.0.0.2 6380",
		"olb 10.0.0.1 6379 10.0.0.2 6380",
		"olbm 10.0.0.1 6379 10.0.0.2",		/* 4 words */
		"olbm 10.0.0.1 6379 10.0.0.2 6380 x",	/* 6 */
		"olbm 10.0.0.1 6379 10.0.0.2 http",
		"olbm 10.0.0.1 6379 10.0.0.2 99999",
		"", "     ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sentinel_parse_switch(bad[i], strlen(bad[i]),
		    NAME, host, sizeof(host), &port), -1);
	/* Only len bytes count: the same text cut short is 4 words. */
	assert_int_equal(sentinel_parse_switch(ok, strlen(ok) - 5, NAME, host,
	    sizeof(host), &port), -1);
	/* Extra blanks between words are tolerated. */
	assert_int_equal(sentinel_parse_switch("olbm  a 1  b 2 ", 15, NAME, host,
	    sizeof(host), &port), 0);
	assert_string_equal(host, "b");
	assert_int_equal(port, 2);
}

static void
test_parse_role(void **state)
{
	static const struct {
		const char *resp, *role;
	} cases[] = {
		{ "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n", "master" },
		{ "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n"
		    ":10\r\n", "slave" },
		{ "*2\r\n$8\r\nsentinel\r\n*0\r\n", "sentinel" },
		{ "*1\r\n$7\r\nreplica\r\n", NULL },
		{ "*1\r\n$7\r\nmasterx\r\n", NULL },
		{ "*0\r\n", NULL },
		{ "*1\r\n:1\r\n", NULL },
		{ "$6\r\nmaster\r\n", NULL },
		{ "-ERR unknown command 'ROLE'\r\n", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *r = reply_of(cases[i].resp);
		const char *role = sentinel_parse_role(r);

		if (cases[i].role == NULL)
			assert_null(role);
		else
			assert_string_equal(role, cases[i].role);
		freeReplyObject(r);
	}
	assert_null(sentinel_parse_role(NULL));
}

/* A master, a replica and one sentinel (quorum 1), with a fixture env
 * whose conf names the sentinel after a dead one. */
struct group {
	struct test_env		 env;
	struct test_redis	 replica, sentinel;
	char			 dir[64], conf_path[128];
	char			 nodes_buf[2][32];
	char			*nodes[2];
};

static int
group_setup(void **state)
{
	struct group *g = calloc(1, sizeof(*g));
	FILE *f;

	if (g == NULL || test_env_init(&g->env) == -1 ||
	    test_redis_start(&g->env.srv) == -1)
		return -1;
	g->replica.port = test_free_port();
	g->replica.replicaof = g->env.srv.port;
	if (test_redis_start(&g->replica) == -1)
		return -1;
	snprintf(g->dir, sizeof(g->dir), "/tmp/olb-sentinel-XXXXXX");
	if (mkdtemp(g->dir) == NULL)
		return -1;
	snprintf(g->conf_path, sizeof(g->conf_path), "%s/sentinel.conf", g->dir);
	g->sentinel.port = test_free_port();
	if ((f = fopen(g->conf_path, "w")) == NULL)
		return -1;
	fprintf(f, "port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 1\n"
	    "sentinel down-after-milliseconds %s 500\nsentinel failover-timeout %s 4000\n",
	    g->sentinel.port, g->dir, NAME, g->env.srv.port, NAME, NAME);
	fclose(f);
	snprintf(g->sentinel.sentinel, sizeof(g->sentinel.sentinel), "%s", g->conf_path);
	if (test_redis_start(&g->sentinel) == -1)
		return -1;
	/* The first sentinel listed is dead: the watcher goes on to the next. */
	snprintf(g->nodes_buf[0], sizeof(g->nodes_buf[0]), "127.0.0.1:%d",
	    test_free_port());
	snprintf(g->nodes_buf[1], sizeof(g->nodes_buf[1]), "127.0.0.1:%d",
	    g->sentinel.port);
	g->nodes[0] = g->nodes_buf[0];
	g->nodes[1] = g->nodes_buf[1];
	g->env.conf.redis.sentinel.master = NAME;
	g->env.conf.redis.sentinel.nodes.v = g->nodes;
	g->env.conf.redis.sentinel.nodes.n = 2;
	g->env.conf.redis.sentinel.check_ms = 200;
	g->env.conf.redis.port = 1;	/* never used with Sentinel */
	*state = g;
	return 0;
}

static int
group_teardown(void **state)
{
	struct group *g = *state;
	char path[192];

	test_redis_stop(&g->sentinel);
	test_redis_stop(&g->replica);
	test_env_fini(&g->env);
	snprintf(path, sizeof(path), "%s/sentinel.conf", g->dir);
	unlink(path);
	rmdir(g->dir);
	free(g);
	return 0;
}

/* A master connection and a subscriber, as a worker has them. */
struct watch {
	struct rconn	*cmd, *sub;
	int		 messages;
	char		 addr[64];	/* where the last reply came from */
	int		 replies;
	long long	 last;
};

static void
watch_message(struct rconn *rc, const char *channel, const char *msg,
    size_t len, void *arg)
{
	(void)rc;
	(void)channel;
	(void)msg;
	(void)len;
	((struct watch *)arg)->messages++;
}

static void
watch_reply(struct rconn *rc, redisReply *r, void *arg)
{
	struct watch *w = arg;

	w->replies++;
	w->last = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
	snprintf(w->addr, sizeof(w->addr), "%s", rconn_addr(rc));
}

static char want_addr[64];

static int
both_on(void *arg)
{
	struct watch *w = arg;

	return rconn_is_up(w->cmd) && rconn_is_up(w->sub) &&
	    strcmp(rconn_addr(w->cmd), want_addr) == 0 &&
	    strcmp(rconn_addr(w->sub), want_addr) == 0;
}

static int
has_reply(void *arg)
{
	return ((struct watch *)arg)->replies > 0;
}

static int
has_message(void *arg)
{
	return ((struct watch *)arg)->messages > 0;
}

/* The sentinel lists the replica with its link up (it can be promoted). */
static int
replica_ready(struct group *g)
{
	for (int i = 0; i < 150; i++) {
		redisContext *c = redisConnect("127.0.0.1", g->sentinel.port);
		redisReply *r = c != NULL && !c->err ?
		    redisCommand(c, "SENTINEL replicas %s", NAME) : NULL;
		int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
		    strcmp(redis_hash_field(r->element[0], "master-link-status") ?
		    redis_hash_field(r->element[0], "master-link-status") : "", "ok") == 0;

		freeReplyObject(r);
		if (c != NULL)
			redisFree(c);
		if (ok)
			return 0;
		usleep(100000);
	}
	return -1;
}

/* An rconn reaches the master through the sentinels, and a failover moves
 * the connection and the subscriber to the new master. */
static void
test_follows_failover(void **state)
{
	struct group *g = *state;
	struct watch w;
	redisContext *c;

	memset(&w, 0, sizeof(w));
	assert_non_null(w.cmd = rconn_new(g->env.loop, &g->env.conf, "cmd", NULL, NULL));
	assert_non_null(w.sub = rconn_new(g->env.loop, &g->env.conf, "sub", NULL, NULL));
	assert_int_equal(rconn_subscribe(w.sub, "olbtest:ch", watch_message, &w), 0);
	snprintf(want_addr, sizeof(want_addr), "127.0.0.1:%d", g->env.srv.port);
	assert_int_equal(test_wait_for(g->env.loop, both_on, &w, 5000), 0);
	assert_int_equal(rconn_command(w.cmd, watch_reply, &w, "INCR olbtest:n"), 0);
	assert_int_equal(test_wait_for(g->env.loop, has_reply, &w, 2000), 0);
	assert_int_equal(w.last, 1);

	assert_int_equal(replica_ready(g), 0);
	c = redisConnect("127.0.0.1", g->sentinel.port);
	assert_true(c != NULL && !c->err);
	assert_int_equal(test_redis_do(c, "SENTINEL failover %s", NAME), 0);
	redisFree(c);
	snprintf(want_addr, sizeof(want_addr), "127.0.0.1:%d", g->replica.port);
	assert_int_equal(test_wait_for(g->env.loop, both_on, &w, 10000), 0);

	/* Writes go to the new master; it had the old one's data. */
	w.replies = 0;
	assert_int_equal(rconn_command(w.cmd, watch_reply, &w, "INCR olbtest:n"), 0);
	assert_int_equal(test_wait_for(g->env.loop, has_reply, &w, 2000), 0);
	assert_int_equal(w.last, 2);
	assert_string_equal(w.addr, want_addr);
	/* The subscriber hears what is published on the new master. */
	w.replies = 0;
	assert_int_equal(rconn_command(w.cmd, watch_reply, &w,
	    "PUBLISH olbtest:ch hello"), 0);
	assert_int_equal(test_wait_for(g->env.loop, has_message, &w, 2000), 0);
	rconn_free(w.sub);
	rconn_free(w.cmd);
	/* The watcher went with its last rconn; a new one starts afresh. */
	assert_non_null(w.cmd = rconn_new(g->env.loop, &g->env.conf, "again", NULL, NULL));
	w.sub = w.cmd;
	assert_int_equal(test_wait_for(g->env.loop, both_on, &w, 5000), 0);
	rconn_free(w.cmd);
}

static int
is_up(void *arg)
{
	return rconn_is_up(arg);
}

/* A name the sentinels do not monitor: nothing to connect to, never a
 * guess (redis.host is a live server here, and still unused). */
static void
test_unknown_master_is_never_guessed(void **state)
{
	struct group *g = *state;
	struct rconn *rc;

	g->env.conf.redis.sentinel.master = "nosuch";
	g->env.conf.redis.port = g->env.srv.port;
	assert_non_null(rc = rconn_new(g->env.loop, &g->env.conf, "x", NULL, NULL));
	assert_int_equal(test_wait_for(g->env.loop, is_up, rc, 1000), -1);
	rconn_free(rc);
	/* The right name from the same process: up at once. */
	g->env.conf.redis.sentinel.master = NAME;
	assert_non_null(rc = rconn_new(g->env.loop, &g->env.conf, "y", NULL, NULL));
	assert_int_equal(test_wait_for(g->env.loop, is_up, rc, 3000), 0);
	assert_int_equal(rconn_errors(rc), 0);
	rconn_free(rc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_parse_switch),
		cmocka_unit_test(test_parse_role),
		cmocka_unit_test_setup_teardown(test_follows_failover, group_setup,
		    group_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_master_is_never_guessed,
		    group_setup, group_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
