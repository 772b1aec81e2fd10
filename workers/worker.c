/*
 * worker: the runtime every role process shares (see worker.h).
 *
 * Owns the process's event loop, its Redis connection and event publisher, the
 * heartbeat key (<prefix>worker:<host>:<name>, refreshed every
 * daemon.heartbeat_ms with a TTL of three periods) and the stop protocol:
 * SIGTERM asks the role to drain (bounded by daemon.drain_timeout_ms), SIGQUIT
 * and end-of-file on the liveness pipe end the process at once.
 */
#include <sys/resource.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/conf.h"
#include "common/events.h"
#include "common/hconn.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "workers/lease.h"
#include "workers/worker.h"

#define WORKER_EXIT_GRACE_MS	300	/* wait for the heartbeat DEL at exit */

static const struct worker_role_ops *worker_ops;
static struct ev_timer heartbeat_timer, drain_timer, exit_timer;
static char heartbeat_key[512];

static void
worker_heartbeat_send(struct worker *w)
{
	const struct conf *conf = w->conf;
	char ttl[32];
	json_object *o;

	if (!rconn_is_up(w->redis))
		return;
	o = json_object_new_object();
	json_object_object_add(o, "role", json_object_new_string(w->role));
	json_object_object_add(o, "slot", json_object_new_int(w->slot));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "host", json_object_new_string(util_hostname()));
	json_object_object_add(o, "generation", json_object_new_int(w->generation));
	json_object_object_add(o, "restarts", json_object_new_int(w->restarts));
	json_object_object_add(o, "started", json_object_new_int64((int64_t)w->started_ms));
	json_object_object_add(o, "ts", json_object_new_int64((int64_t)util_wall_ms()));
	json_object_object_add(o, "stopping", json_object_new_boolean(w->stopping));
	snprintf(ttl, sizeof(ttl), "%lld", (long long)conf->daemon.heartbeat_ms * 3);
	rconn_command(w->redis, NULL, NULL, "SET %s %s PX %s", heartbeat_key,
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), ttl);
	json_object_put(o);
}

static void
worker_heartbeat_tick(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct worker *w = arg;

	worker_heartbeat_send(w);
	(void)metrics_flush(w->redis, 0);
	ev_timer_start(loop, t, (uint64_t)w->conf->daemon.heartbeat_ms,
	    worker_heartbeat_tick, w);
}

static void
worker_redis_state(struct rconn *rc, int up, void *arg)
{
	struct worker *w = arg;

	if (up) {
		if (rconn_reconnects(rc) > 0)
			event_publish(EVENT_INFO, "redis.reconnected", NULL);
		events_flush();
		worker_heartbeat_send(w);
	}
	if (worker_ops->redis_state != NULL)
		worker_ops->redis_state(w, up);
}

static void
worker_exit_now(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	ev_stop(loop);
}

static void
worker_heartbeat_deleted(struct rconn *rc, redisReply *reply, void *arg)
{
	struct worker *w = arg;

	(void)rc;
	(void)reply;
	ev_stop(w->loop);
}

static void
worker_lease_dropped(void *arg)
{
	worker_done(arg);
}

void
worker_done_after_lease(struct worker *w, struct lease *l)
{
	if (lease_drop(l, worker_lease_dropped, w) == -1)
		worker_done(w);
}

void
worker_accept_gate(struct worker *w, struct hserver *s, int start)
{
	uint64_t wait = (uint64_t)w->conf->proxy.redis_wait_ms;

	if (w->stopping)
		return;
	if (rconn_is_up(w->redis) || wait == 0)
		hserver_accept_resume(s);
	else if (start)
		hserver_accept_pause(s, wait);
}

void
worker_done(struct worker *w)
{
	ev_timer_stop(w->loop, &heartbeat_timer);
	ev_timer_stop(w->loop, &drain_timer);
	(void)metrics_flush(w->redis, 1);	/* applied before the DEL's reply */
	if (rconn_command(w->redis, worker_heartbeat_deleted, w, "DEL %s",
	    heartbeat_key) == -1) {
		ev_stop(w->loop);
		return;
	}
	ev_timer_start(w->loop, &exit_timer, WORKER_EXIT_GRACE_MS, worker_exit_now, w);
}

static void
worker_drain_expired(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct worker *w = arg;

	(void)loop;
	(void)t;
	log_warn("drain did not finish within %lld ms; stopping",
	    (long long)w->conf->daemon.drain_timeout_ms);
	worker_done(w);
}

static void
worker_on_signal(struct ev_loop *loop, int signo, void *arg)
{
	struct worker *w = arg;

	switch (signo) {
	case SIGTERM:
		if (w->stopping)
			return;
		w->stopping = 1;
		log_debug("draining");
		worker_heartbeat_send(w);
		ev_timer_start(loop, &drain_timer,
		    (uint64_t)w->conf->daemon.drain_timeout_ms,
		    worker_drain_expired, w);
		if (worker_ops->drain != NULL)
			worker_ops->drain(w);
		else
			worker_done(w);
		break;
	case SIGQUIT:
		w->stopping = 1;
		ev_stop(loop);
		break;
	case SIGUSR1:
		log_reopen();
		if (worker_ops->reopen != NULL)
			worker_ops->reopen(w);
		break;
	}
}

/* The supervisor holds the write end: readable means it is gone. */
static void
worker_on_liveness(struct ev_loop *loop, int fd, int mask, void *arg)
{
	char c;

	(void)loop;
	(void)mask;
	(void)arg;
	if (read(fd, &c, 1) == -1 && errno == EAGAIN)
		return;
	log_warn("supervisor is gone; exiting");
	_exit(0);
}

static int
worker_loop_size(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (1 << 20))
		return 1 << 20;
	return (int)rl.rlim_cur;
}

#ifdef OLB_TEST
static int
worker_test_named(const struct worker *w, const char *variable)
{
	const char *name = getenv(variable);

	return name != NULL && (strcmp(name, w->name) == 0 || strcmp(name, w->role) == 0);
}

/* Test builds only: OLB_TEST_CRASH=<name> makes that worker fail at start,
 * OLB_TEST_EXIT2=<name> makes it exit with the fatal-configuration status. */
static void
worker_test_faults(const struct worker *w)
{
	if (worker_test_named(w, "OLB_TEST_CRASH")) {
		log_error("OLB_TEST_CRASH: failing at start");
		_exit(1);
	}
	if (worker_test_named(w, "OLB_TEST_EXIT2")) {
		log_error("OLB_TEST_EXIT2: fatal configuration error");
		_exit(WORKER_EXIT_FATAL_CONFIG);
	}
}
#endif

static int
worker_setup(struct worker *w)
{
	const struct conf *conf = w->conf;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if ((w->loop = ev_loop_new(worker_loop_size())) == NULL)
		return -1;
	if (ev_signal_add(w->loop, SIGTERM, worker_on_signal, w) == -1 ||
	    ev_signal_add(w->loop, SIGQUIT, worker_on_signal, w) == -1 ||
	    ev_signal_add(w->loop, SIGUSR1, worker_on_signal, w) == -1)
		return -1;
	if (util_set_nonblock(w->liveness_fd) == -1 ||
	    ev_io_add(w->loop, w->liveness_fd, EV_READ, worker_on_liveness, w) == -1)
		return -1;
	if (keys_worker(heartbeat_key, sizeof(heartbeat_key), util_hostname(),
	    w->name) == -1)
		return -1;
	w->redis = rconn_new(w->loop, conf, w->name, worker_redis_state, w);
	if (w->redis == NULL)
		return -1;
	events_set_conn(w->redis);
	ev_timer_start(w->loop, &heartbeat_timer, (uint64_t)conf->daemon.heartbeat_ms,
	    worker_heartbeat_tick, w);
	return 0;
}

int
worker_run(struct worker *w, const struct worker_role_ops *ops)
{
	json_object *fields;
	int status = 0;

	worker_ops = ops;
	if (strcmp(w->role, "proxy") == 0) {
		snprintf(w->name, sizeof(w->name), "%s-%d", w->role, w->slot + 1);
		proctitle_set("olbd: %s %d", w->role, w->slot + 1);
	} else {
		snprintf(w->name, sizeof(w->name), "%s", w->role);
		proctitle_set("olbd: %s", w->role);
	}
	log_set_role(w->name);
	events_set_role(w->name);
	metrics_process(w->role);
	w->started_ms = util_wall_ms();
#ifdef OLB_TEST
	worker_test_faults(w);
#endif
	if (worker_setup(w) == -1 || ops->start(w) == -1) {
		status = 1;
		goto done;
	}
	fields = json_object_new_object();
	json_object_object_add(fields, "generation", json_object_new_int(w->generation));
	json_object_object_add(fields, "restarts", json_object_new_int(w->restarts));
	event_publish(EVENT_INFO, "worker.started", fields);
	log_info("started (generation %d)", w->generation);
	if (ev_run(w->loop) == -1)
		status = 1;
done:
	if (ops->cleanup != NULL)
		ops->cleanup(w);
	rconn_free(w->redis);
	events_shutdown();
	ev_loop_free(w->loop);
	return status;
}
