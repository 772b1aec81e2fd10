/*
 * support: helpers shared by the unit tests that need a real redis-server
 * (test_redis.c, test_events.c): a free loopback port, a redis-server child
 * started and stopped by the test, and running an ev loop until a predicate
 * holds or a deadline passes.
 */
#ifndef OLB_TEST_SUPPORT_H
#define OLB_TEST_SUPPORT_H

#include <sys/types.h>

#include <stdint.h>

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
};

/* A loopback TCP port free at the time of the call, or -1. */
int	 test_free_port(void);

/* Start s and wait up to 5 s for it to answer PING.  0 or -1. */
int	 test_redis_start(struct test_redis *s);
/* Kill (SIGKILL) and reap s; harmless if it is not running. */
void	 test_redis_stop(struct test_redis *s);

/* Run loop until pred(arg) holds or ms pass (pred NULL: just run ms).  0 if
 * pred holds at the end, else -1. */
int	 test_wait_for(struct ev_loop *loop, int (*pred)(void *), void *arg,
	    uint64_t ms);

#endif
