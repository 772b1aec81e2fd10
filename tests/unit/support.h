/*
 * support: helpers shared by the unit tests that need a real redis-server
 * (test_redis.c, test_events.c): a free loopback port, a redis-server child
 * started and stopped by the test, a fixture holding such a server with a loop
 * and a conf pointing at it, and running an ev loop until a predicate holds or
 * a deadline passes.
 */
#ifndef OLB_TEST_SUPPORT_H
#define OLB_TEST_SUPPORT_H

#include <sys/types.h>

#include <stdint.h>

#include <time.h>

#include "common/conf.h"

struct redisContext;

struct ev_loop;

/* A redis-server child of the test.  Fill port (and password, sock if wanted)
 * before test_redis_start; start again after test_redis_stop to restart the
 * server on the same port or socket. */
struct test_redis {
	pid_t	 pid;		/* 0 = not running */
	int	 port;
	char	 password[64];	/* "" = none, else --requirepass */
	char	 sock[108];	/* unix socket path, "" = TCP only (then the
				 * server listens on no TCP port) */
	int	 replicaof;	/* > 0: a replica of 127.0.0.1:replicaof */
	char	 sentinel[256];	/* "" or a sentinel's configuration file:
				 * run as redis-sentinel with it */
};

/* A loopback TCP port free at the time of the call, or -1. */
int	 test_free_port(void);

/* Start s and wait up to 5 s for it to answer PING.  0 or -1. */
int	 test_redis_start(struct test_redis *s);
/* Kill (SIGKILL) and reap s; harmless if it is not running. */
void	 test_redis_stop(struct test_redis *s);

/* A redis test's fixture: its loop, its server (not started), and a conf whose
 * redis section points at the server. */
struct test_env {
	struct ev_loop		*loop;
	struct test_redis	 srv;
	struct conf		 conf;
};

/* On a zeroed e: make its loop, give e->srv a free port and point e->conf at it
 * over TCP (no password, connect timeout 500 ms, command timeout 2 s).  0 or
 * -1. */
int	 test_env_init(struct test_env *e);
/* Stop e's server, remove its unix socket if any, free the loop. */
void	 test_env_fini(struct test_env *e);
/* cmocka setup: *state = a new struct test_env, test_env_init'ed.  0 or -1. */
int	 test_env_setup(void **state);
/* cmocka teardown of test_env_setup.  0. */
int	 test_env_teardown(void **state);

/* A fixture with its server started, keys_init("olbtest:",
 * "olbtest:events") done, and a blocking context on the server. */
struct test_sync {
	struct test_env		 env;
	struct redisContext	*ctx;
};

/* Send script call c on ctx as EVALSHA, and once more as EVAL after
 * NOSCRIPT.  The reply (maybe an error; NULL if the connection failed) is
 * the caller's. */
struct scripts_call;
struct redisReply *test_script(struct redisContext *ctx, struct scripts_call *c);

/* On a zeroed f: the same, for a fixture that embeds a struct test_sync.
 * 0 or -1.  test_sync_fini undoes it. */
int	 test_sync_init(struct test_sync *f);
void	 test_sync_fini(struct test_sync *f);
/* cmocka setup: *state = a new struct test_sync.  0 or -1. */
int	 test_sync_setup(void **state);
/* cmocka teardown of test_sync_setup.  0. */
int	 test_sync_teardown(void **state);

/* Blocking commands on a hiredis context (the tests' view of Redis):
 * test_redis_int answers the integer of an integer reply, of a string
 * holding one, or of an array's first element; -1 for nil, -2 for anything
 * else (an error, a lost connection).  test_redis_do sends a command and
 * drops its answer: 0, or -1 if it failed. */
long long test_redis_int(struct redisContext *ctx, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	 test_redis_do(struct redisContext *ctx, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* Run loop until pred(arg) holds or ms pass (pred NULL: just run ms).  0 if
 * pred holds at the end, else -1. */
int	 test_wait_for(struct ev_loop *loop, int (*pred)(void *), void *arg,
	    uint64_t ms);

/* Seconds since the epoch of a UTC wall-clock time. */
time_t	 test_utc(int year, int month, int mday, int hour, int minute);

#endif
