/*
 * supervisor: olbd's master process.  All process plumbing lives here and only
 * here: the role table, the slot table, fork, reaping, restart backoff, the
 * crash-loop breaker, reloads by generation and shutdown.
 *
 * It talks to its workers only through fork, signals, exit statuses and the
 * liveness pipe (workers hold its read end; when the supervisor dies the pipe
 * reports end-of-file and they exit).  It publishes supervisor.*, worker.* and
 * config.* events through its own Redis connection, but never waits on Redis:
 * events queue while Redis is away.
 */
#include <sys/queue.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/events.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/redis.h"
#include "common/util.h"
#include "supervisor/supervisor.h"
#include "workers/worker.h"

#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		30000
#define BACKOFF_RESET_MS	60000	/* a run this long forgives past deaths */
#define BREAKER_MAX_DEATHS	64
#define CRON_MS			1000
#define METRICS_TTL_MS		(24LL * 3600 * 1000)	/* after the last flush */
#define KILL_GRACE_MS		2000	/* after drain_timeout_ms, SIGKILL */

#define ROLE_EXEC	0x2	/* execs another program: no liveness pipe */
#define ROLE_KEEP	0x4	/* survives reloads (settings are NO_RELOAD) */
#define ROLE_NUMBERED	0x8	/* slots are named "<role>-<n>" */

struct role {
	const char	*name;
	int		(*main)(struct worker *w);
	int		(*count)(const struct conf *conf);
	/* Non-NULL: each slot owns a listening socket on this address. */
	const struct conf_addr *(*listen)(const struct conf *conf);
	int		 flags;
	unsigned int	 secrets;	/* CONF_ROLE_*: the secrets it keeps */
};

static int	role_count_redis(const struct conf *conf);
static int	role_count_proxy(const struct conf *conf);
static int	role_count_one(const struct conf *conf);
static int	role_count_admin(const struct conf *conf);
static const struct conf_addr *role_listen_proxy(const struct conf *conf);
static const struct conf_addr *role_listen_admin(const struct conf *conf);

/* Start order is table order; the embedded Redis comes first. */
static const struct role roles[] = {
	{ "redis",	embedded_redis_main,	role_count_redis, NULL,
	    ROLE_EXEC | ROLE_KEEP, CONF_ROLE_REDIS },
	{ "proxy",	proxy_main,		role_count_proxy, role_listen_proxy,
	    ROLE_NUMBERED, CONF_ROLE_PROXY },
	{ "scaler",	scaler_main,		role_count_one,	  NULL, 0,
	    CONF_ROLE_SCALER },
	{ "health",	health_main,		role_count_one,	  NULL, 0,
	    CONF_ROLE_HEALTH },
	{ "scheduler",	scheduler_main,		role_count_one,	  NULL, 0,
	    CONF_ROLE_SCHEDULER },
	{ "admin",	admin_main,		role_count_admin, role_listen_admin,
	    0, CONF_ROLE_ADMIN },
};

struct slot {
	const struct role *role;
	int		 index;
	pid_t		 pid;		/* 0: not running */
	int		 listen_fd;	/* ROLE_LISTENER: owned by the supervisor */
	uint64_t	 started;	/* monotonic ms */
	int		 consecutive;	/* deaths since the last long run */
	uint64_t	 deaths[BREAKER_MAX_DEATHS];	/* ring of death times */
	unsigned	 ndeaths;
	int		 tripped;	/* breaker open: backoff at the cap */
	int		 disabled;	/* exited 2: not respawned */
	int		 stop_sent;	/* stopping: SIGTERM already sent */
	int		 restarts;
	uint64_t	 delay;		/* of the pending respawn */
	pid_t		 last_pid;
	struct ev_timer	 respawn;
};

/* A worker of an older generation, draining after a reload. */
struct retiree {
	pid_t		 pid;
	char		 name[32];
	uint64_t	 deadline;	/* monotonic ms: SIGKILL after this */
	LIST_ENTRY(retiree) entry;
};

enum stop_mode {
	STOP_NONE,
	STOP_GRACEFUL,
	STOP_FAST,
};

static struct {
	const struct supervisor_opts *opts;
	struct ev_loop	*loop;
	struct conf	*conf;		/* the running configuration */
	struct slot	*slots;		/* owned array */
	size_t		 nslots;
	LIST_HEAD(, retiree) retirees;	/* owned list */
	int		 generation;
	int		 liveness[2];	/* [0] inherited by workers, [1] kept here */
	enum stop_mode	 stopping;
	uint64_t	 stop_deadline;
	struct rconn	*redis;
	char		 heartbeat_key[512];
	uint64_t	 started_ms;
	struct ev_timer	 cron;
	struct metric	*restarts[ARRAY_SIZE(roles)];	/* olb_worker_restarts_total */
} sv;

static void	slot_spawn(struct slot *s);
static void	slot_respawn(struct ev_loop *loop, struct ev_timer *t, void *arg);

static int
role_count_redis(const struct conf *conf)
{
	return conf->redis.embedded ? 1 : 0;
}

static int
role_count_proxy(const struct conf *conf)
{
	return (int)conf->proxy.workers;
}

static int
role_count_one(const struct conf *conf)
{
	(void)conf;
	return 1;
}

/* The admin listener (metrics, status page) is off with port 0. */
static int
role_count_admin(const struct conf *conf)
{
	return conf->admin.listen.port != 0 ? 1 : 0;
}

static const struct conf_addr *
role_listen_proxy(const struct conf *conf)
{
	return &conf->proxy.listen;
}

static const struct conf_addr *
role_listen_admin(const struct conf *conf)
{
	return &conf->admin.listen;
}

/* 1 if role listens on the same address in old and conf. */
static int
role_same_listen(const struct role *role, const struct conf *old,
    const struct conf *conf)
{
	const struct conf_addr *a, *b;

	if (old == NULL || role->listen == NULL)
		return 0;
	a = role->listen(old);
	b = role->listen(conf);
	return strcmp(a->host, b->host) == 0 && a->port == b->port;
}

static void
slot_name(const struct slot *s, char *buf, size_t size)
{
	if (s->role->flags & ROLE_NUMBERED)
		snprintf(buf, size, "%s-%d", s->role->name, s->index + 1);
	else
		snprintf(buf, size, "%s", s->role->name);
}

static json_object *
slot_fields(const struct slot *s, pid_t pid)
{
	json_object *o = json_object_new_object();
	char name[32];

	slot_name(s, name, sizeof(name));
	json_object_object_add(o, "worker", json_object_new_string(name));
	json_object_object_add(o, "worker_pid", json_object_new_int(pid));
	json_object_object_add(o, "generation", json_object_new_int(sv.generation));
	return o;
}

/* Describe a wait status as "exit status N" or "signal N (name)". */
static void
status_describe(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "signal %d (%s)", WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "status 0x%x", status);
}

/* In the child: drop to daemon.user when started as root.  0 or -1. */
static int
child_drop_privileges(const struct conf *conf)
{
	struct passwd *pw;

	if (conf->daemon.user[0] == '\0' || geteuid() != 0)
		return 0;
	if ((pw = getpwnam(conf->daemon.user)) == NULL) {
		log_error("getpwnam(%s): no such user", conf->daemon.user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		log_error("setuid(%s): %m", conf->daemon.user);
		return -1;
	}
	return 0;
}

/* Close every descriptor above 2 but keep[0..n). */
static void
child_close_fds(const int *keep, size_t n)
{
	unsigned lo = 3;

	for (;;) {
		unsigned next = ~0U;

		for (size_t i = 0; i < n; i++)
			if (keep[i] >= (int)lo && (unsigned)keep[i] < next)
				next = (unsigned)keep[i];
		if (next > lo)
			close_range(lo, next == ~0U ? ~0U : next - 1, 0);
		if (next == ~0U)
			break;
		lo = next + 1;
	}
}

int
supervisor_log_open(const struct conf *conf, int foreground)
{
	const char *target = conf->log.file;

	if (foreground)
		target = "stderr";
	else if (strcmp(target, "stderr") == 0)
		target = "syslog";	/* a daemon's stderr is /dev/null */
	return log_open(target, conf->log.level, conf->log.format);
}

/* In the child after fork(): become the slot's worker.  Never returns. */
static void __attribute__((noreturn))
slot_child(struct slot *s)
{
	const struct conf *conf = sv.conf;
	struct worker w;
	int keep[2];

	/* Least knowledge: this process's copy of the configuration keeps
	 * only the secrets of its role (SPEC §2: proxies never see the cloud
	 * credentials). */
	conf_keep_secrets(sv.conf, s->role->secrets);
	for (size_t i = 0; i < sv.opts->noverrides; i++)	/* -o k=secret */
		explicit_bzero(sv.opts->overrides[i], strlen(sv.opts->overrides[i]));
	ev_signals_reset();
	signal(SIGPIPE, SIG_DFL);
	memset(&w, 0, sizeof(w));
	w.conf = conf;
	w.role = s->role->name;
	w.slot = s->index;
	w.generation = sv.generation;
	w.restarts = s->restarts;
	w.listen_fd = s->listen_fd;
	w.liveness_fd = (s->role->flags & ROLE_EXEC) ? -1 : sv.liveness[0];
	keep[0] = w.listen_fd;
	keep[1] = w.liveness_fd;
	/* Forget the supervisor's descriptors and queued events. */
	log_close();
	child_close_fds(keep, 2);
	supervisor_log_open(conf, sv.opts->foreground);
	events_shutdown();
	events_init(NULL, conf->redis.events_channel, util_hostname(), s->role->name);
	events_set_outbox(conf);
	if (child_drop_privileges(conf) == -1)
		_exit(WORKER_EXIT_FATAL_CONFIG);
	exit(s->role->main(&w));
}

static void
slot_spawn(struct slot *s)
{
	char name[32];
	pid_t pid;

	slot_name(s, name, sizeof(name));
	fflush(NULL);
	if ((pid = fork()) == -1) {
		log_error("fork(%s): %m", name);
		s->delay = BACKOFF_MAX_MS;
		ev_timer_start(sv.loop, &s->respawn, s->delay, slot_respawn, s);
		return;
	}
	if (pid == 0)
		slot_child(s);
	s->pid = pid;
	s->started = ev_now(sv.loop);
	log_debug("%s started, pid %d", name, (int)pid);
}

static void
slot_respawn(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct slot *s = arg;
	json_object *fields;

	(void)loop;
	(void)t;
	if (sv.stopping != STOP_NONE)
		return;
	s->restarts++;
	metric_add(sv.restarts[s->role - roles], 1);
	slot_spawn(s);
	if (s->pid == 0)
		return;
	fields = slot_fields(s, s->pid);
	json_object_object_add(fields, "previous_pid", json_object_new_int(s->last_pid));
	json_object_object_add(fields, "delay_ms", json_object_new_int64((int64_t)s->delay));
	json_object_object_add(fields, "restarts", json_object_new_int(s->restarts));
	event_publish(EVENT_INFO, "worker.restarted", fields);
}

/* Count deaths within the breaker window, after recording one at now. */
static unsigned
slot_record_death(struct slot *s, uint64_t now)
{
	uint64_t window = (uint64_t)sv.conf->daemon.breaker_window_ms;
	unsigned n = 0;

	s->deaths[s->ndeaths++ % BREAKER_MAX_DEATHS] = now;
	for (unsigned i = 0; i < BREAKER_MAX_DEATHS && i < s->ndeaths; i++)
		if (now - s->deaths[i] <= window)
			n++;
	return n;
}

/* Decide when a dead slot comes back: exponential backoff from 100 ms to
 * 30 s, reset by a long run; the breaker keeps it at the cap. */
static void
slot_schedule_respawn(struct slot *s)
{
	uint64_t now = ev_now(sv.loop);
	unsigned recent;
	char name[32];

	if (now - s->started >= BACKOFF_RESET_MS) {
		s->consecutive = 0;
		s->tripped = 0;
		s->ndeaths = 0;
	}
	recent = slot_record_death(s, now);
	s->consecutive++;
	s->delay = BACKOFF_MIN_MS << (s->consecutive > 9 ? 9 : s->consecutive - 1);
	if (s->delay > BACKOFF_MAX_MS)
		s->delay = BACKOFF_MAX_MS;
	if (!s->tripped && recent >= (unsigned)sv.conf->daemon.breaker_deaths) {
		s->tripped = 1;
		slot_name(s, name, sizeof(name));
		log_error("%s died %u times in %lld ms: crash loop, restarting every %d ms",
		    name, recent, (long long)sv.conf->daemon.breaker_window_ms,
		    BACKOFF_MAX_MS);
		event_publish(EVENT_ERROR, "worker.crashloop", slot_fields(s, s->last_pid));
	}
	if (s->tripped)
		s->delay = BACKOFF_MAX_MS;
	ev_timer_start(sv.loop, &s->respawn, s->delay, slot_respawn, s);
}

static void
slot_exited(struct slot *s, int status)
{
	char name[32], how[64];
	json_object *fields;

	slot_name(s, name, sizeof(name));
	status_describe(status, how, sizeof(how));
	s->last_pid = s->pid;
	s->pid = 0;
	fields = slot_fields(s, s->last_pid);
	json_object_object_add(fields, "status", json_object_new_string(how));
	event_publish(sv.stopping ? EVENT_INFO : EVENT_ERROR, "worker.exited", fields);
	if (sv.stopping != STOP_NONE) {
		log_info("%s (pid %d) exited: %s", name, (int)s->last_pid, how);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_FATAL_CONFIG) {
		log_error("%s (pid %d) exited with status 2 (fatal configuration "
		    "error): not restarting it", name, (int)s->last_pid);
		s->disabled = 1;
		return;
	}
	log_error("%s (pid %d) exited: %s", name, (int)s->last_pid, how);
	slot_schedule_respawn(s);
}

static void
retiree_add(pid_t pid, const struct slot *s, int signo)
{
	struct retiree *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		kill(pid, SIGKILL);
		return;
	}
	r->pid = pid;
	slot_name(s, r->name, sizeof(r->name));
	r->deadline = ev_now(sv.loop) + (uint64_t)sv.conf->daemon.drain_timeout_ms +
	    KILL_GRACE_MS;
	LIST_INSERT_HEAD(&sv.retirees, r, entry);
	kill(pid, signo);
}

/* Forget a reaped retiree.  1 if pid was one. */
static int
retiree_reaped(pid_t pid, int status)
{
	struct retiree *r;
	char how[64];

	LIST_FOREACH(r, &sv.retirees, entry) {
		if (r->pid != pid)
			continue;
		status_describe(status, how, sizeof(how));
		log_debug("retired %s (pid %d) exited: %s", r->name, (int)pid, how);
		LIST_REMOVE(r, entry);
		free(r);
		return 1;
	}
	return 0;
}

static void
retirees_enforce(uint64_t now)
{
	struct retiree *r;

	LIST_FOREACH(r, &sv.retirees, entry) {
		if (now < r->deadline)
			continue;
		log_warn("retired %s (pid %d) still running after drain; killing it",
		    r->name, (int)r->pid);
		kill(r->pid, SIGKILL);
		r->deadline = now + KILL_GRACE_MS;
	}
}

static size_t
workers_alive(int with_exec)
{
	struct retiree *r;
	size_t n = 0;

	for (size_t i = 0; i < sv.nslots; i++)
		if (sv.slots[i].pid != 0 &&
		    (with_exec || !(sv.slots[i].role->flags & ROLE_EXEC)))
			n++;
	LIST_FOREACH(r, &sv.retirees, entry)
		n++;
	return n;
}

/* During a stop: once the workers are gone stop the exec'd children (Redis),
 * then leave the loop. */
static void
stop_progress(void)
{
	if (workers_alive(0) > 0)
		return;
	for (size_t i = 0; i < sv.nslots; i++) {
		struct slot *s = &sv.slots[i];

		if (s->pid != 0 && (s->role->flags & ROLE_EXEC) && !s->stop_sent) {
			kill(s->pid, SIGTERM);
			s->stop_sent = 1;
		}
	}
	if (workers_alive(1) == 0)
		ev_stop(sv.loop);
}

static void
supervisor_reap(void)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (retiree_reaped(pid, status))
			continue;
		for (size_t i = 0; i < sv.nslots; i++) {
			if (sv.slots[i].pid == pid) {
				slot_exited(&sv.slots[i], status);
				break;
			}
		}
	}
	if (sv.stopping != STOP_NONE)
		stop_progress();
}

static void
supervisor_signal_workers(int signo)
{
	struct retiree *r;

	for (size_t i = 0; i < sv.nslots; i++) {
		struct slot *s = &sv.slots[i];

		ev_timer_stop(sv.loop, &s->respawn);
		if (s->pid != 0 && !(s->role->flags & ROLE_EXEC))
			kill(s->pid, signo);
	}
	LIST_FOREACH(r, &sv.retirees, entry)
		kill(r->pid, signo);
}

static void
supervisor_stop(enum stop_mode mode)
{
	if (sv.stopping >= mode)
		return;
	sv.stopping = mode;
	log_info("%s stop requested", mode == STOP_FAST ? "fast" : "graceful");
	event_publish(EVENT_INFO, "supervisor.stopping", NULL);
	supervisor_signal_workers(mode == STOP_FAST ? SIGQUIT : SIGTERM);
	sv.stop_deadline = ev_now(sv.loop) + KILL_GRACE_MS + (mode == STOP_FAST ? 0 :
	    (uint64_t)sv.conf->daemon.drain_timeout_ms);
	stop_progress();
}

static void
supervisor_stop_enforce(uint64_t now)
{
	struct retiree *r;

	if (sv.stopping == STOP_NONE || now < sv.stop_deadline)
		return;
	log_warn("children still running at the stop deadline; killing them");
	for (size_t i = 0; i < sv.nslots; i++)
		if (sv.slots[i].pid != 0)
			kill(sv.slots[i].pid, SIGKILL);
	LIST_FOREACH(r, &sv.retirees, entry)
		kill(r->pid, SIGKILL);
	sv.stop_deadline = now + KILL_GRACE_MS;
}

/* 1 if fd is the listening socket of a slot in slots[0..n). */
static int
slots_hold_fd(const struct slot *slots, size_t n, int fd)
{
	for (size_t i = 0; i < n; i++)
		if (slots[i].listen_fd == fd)
			return 1;
	return 0;
}

/* Close the listening sockets of slots[0..n) that keep[0..nkeep) does not use. */
static void
slots_close_fds(const struct slot *slots, size_t n, const struct slot *keep,
    size_t nkeep)
{
	for (size_t i = 0; i < n; i++)
		if (slots[i].listen_fd != -1 &&
		    !slots_hold_fd(keep, nkeep, slots[i].listen_fd))
			close(slots[i].listen_fd);
}

/* Build the slot table for conf, sharing what the running table can keep: the
 * listening sockets (same address), the embedded Redis (ROLE_KEEP), restart
 * counts.  Returns the new table, or NULL if a socket could not be opened. */
static struct slot *
slots_build(const struct conf *conf, const struct conf *old, size_t *nslots)
{
	struct slot *slots, *s;
	size_t n = 0;

	for (size_t r = 0; r < ARRAY_SIZE(roles); r++)
		n += (size_t)roles[r].count(conf);
	if ((slots = calloc(n ? n : 1, sizeof(*slots))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		slots[i].listen_fd = -1;
	s = slots;
	for (size_t r = 0; r < ARRAY_SIZE(roles); r++) {
		for (int i = 0; i < roles[r].count(conf); i++, s++) {
			s->role = &roles[r];
			s->index = i;
			s->listen_fd = -1;
			for (size_t o = 0; o < sv.nslots; o++) {
				const struct slot *os = &sv.slots[o];

				if (os->role != s->role || os->index != i)
					continue;
				if (s->role->flags & ROLE_KEEP) {
					/* A pending respawn is not carried over:
					 * the reload starts a stopped one now. */
					*s = *os;
					memset(&s->respawn, 0, sizeof(s->respawn));
				}
				s->restarts = os->restarts;
				if (role_same_listen(s->role, old, conf))
					s->listen_fd = os->listen_fd;
			}
			if (s->role->listen != NULL && s->listen_fd == -1 &&
			    (s->listen_fd = listen_open(s->role->listen(conf))) == -1)
				goto fail;
		}
	}
	*nslots = n;
	return slots;
fail:
	slots_close_fds(slots, n, sv.slots, sv.nslots);
	free(slots);
	return NULL;
}

/* Retire the workers of the old table that the new one does not keep, and
 * close the sockets it no longer uses. */
static void
slots_retire(struct slot *old, size_t n, const struct slot *slots, size_t nslots)
{
	for (size_t i = 0; i < n; i++) {
		struct slot *s = &old[i];

		ev_timer_stop(sv.loop, &s->respawn);
		if (!(s->role->flags & ROLE_KEEP) && s->pid != 0)
			retiree_add(s->pid, s, SIGTERM);
	}
	slots_close_fds(old, n, slots, nslots);
}

static void	supervisor_heartbeat(void);

static void
supervisor_redis_state(struct rconn *rc, int up, void *arg)
{
	(void)arg;
	if (!up)
		return;
	if (rconn_reconnects(rc) > 0)
		event_publish(EVENT_INFO, "redis.reconnected", NULL);
	events_flush();
	supervisor_heartbeat();
}

static void
supervisor_redis_connect(void)
{
	rconn_free(sv.redis);
	sv.redis = rconn_new(sv.loop, sv.conf, "supervisor", supervisor_redis_state, NULL);
	events_set_conn(sv.redis);
}

static void
reload_failed(const struct conf_errors *errs)
{
	json_object *fields = json_object_new_object(), *list = json_object_new_array();
	char *joined = conf_errors_join(errs);
	char *line, *save = NULL;

	log_error("reload failed; still running generation %d", sv.generation);
	for (line = strtok_r(joined, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		log_error("%s", line);
		json_object_array_add(list, json_object_new_string(line));
	}
	free(joined);
	json_object_object_add(fields, "errors", list);
	event_publish(EVENT_ERROR, "config.reload_failed", fields);
}

/* SIGHUP: build a new configuration and slot table; swap only if both are
 * entirely valid, then start a new generation and retire the old one. */
static void
supervisor_reload(void)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf;
	struct slot *slots, *old_slots;
	size_t nslots, old_n;
	json_object *fields;

	log_info("reloading %s", sv.opts->conf_path);
	conf = conf_load(sv.opts->conf_path, sv.opts->overrides, sv.opts->noverrides,
	    &errs);
	if (conf == NULL || conf_check_reload(sv.conf, conf, &errs) == -1 ||
	    (slots = slots_build(conf, sv.conf, &nslots)) == NULL) {
		if (errs.n == 0)
			conf_errors_add(&errs, sv.opts->conf_path, 0,
			    "cannot open the listening sockets (see the log)");
		reload_failed(&errs);
		conf_errors_free(&errs);
		conf_free(conf);
		return;
	}
	old_slots = sv.slots;
	old_n = sv.nslots;
	slots_retire(old_slots, old_n, slots, nslots);
	free(old_slots);
	conf_free(sv.conf);
	sv.conf = conf;
	sv.slots = slots;
	sv.nslots = nslots;
	sv.generation++;
	events_set_outbox(conf);
	supervisor_log_open(conf, sv.opts->foreground);
	keys_init(conf->redis.prefix, conf->redis.events_channel);
	supervisor_redis_connect();
	for (size_t i = 0; i < sv.nslots; i++)
		if (sv.slots[i].pid == 0 && !sv.slots[i].disabled)
			slot_spawn(&sv.slots[i]);
	fields = json_object_new_object();
	json_object_object_add(fields, "generation", json_object_new_int(sv.generation));
	event_publish(EVENT_INFO, "config.reloaded", fields);
	log_info("configuration reloaded: generation %d", sv.generation);
}

static void
supervisor_on_signal(struct ev_loop *loop, int signo, void *arg)
{
	(void)loop;
	(void)arg;
	switch (signo) {
	case SIGCHLD:
		supervisor_reap();
		break;
	case SIGHUP:
		if (sv.stopping == STOP_NONE)
			supervisor_reload();
		break;
	case SIGTERM:
	case SIGINT:
		supervisor_stop(STOP_GRACEFUL);
		break;
	case SIGQUIT:
		supervisor_stop(STOP_FAST);
		break;
	case SIGUSR1:
		log_reopen();
		for (size_t i = 0; i < sv.nslots; i++)
			if (sv.slots[i].pid != 0 && !(sv.slots[i].role->flags & ROLE_EXEC))
				kill(sv.slots[i].pid, SIGUSR1);
		break;
	}
}

static void
supervisor_heartbeat(void)
{
	json_object *o;
	char ttl[32];

	if (!rconn_is_up(sv.redis))
		return;
	o = json_object_new_object();
	json_object_object_add(o, "role", json_object_new_string("supervisor"));
	json_object_object_add(o, "slot", json_object_new_int(0));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "host", json_object_new_string(util_hostname()));
	json_object_object_add(o, "generation", json_object_new_int(sv.generation));
	json_object_object_add(o, "restarts", json_object_new_int(0));
	json_object_object_add(o, "started", json_object_new_int64((int64_t)sv.started_ms));
	json_object_object_add(o, "ts", json_object_new_int64((int64_t)util_wall_ms()));
	snprintf(ttl, sizeof(ttl), "%d", CRON_MS * 3);
	rconn_command(sv.redis, NULL, NULL, "SET %s %s PX %s", sv.heartbeat_key,
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), ttl);
	json_object_put(o);
}

/* Periodic duties: deadlines, the event queue, the heartbeat. */
static void
supervisor_cron(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	uint64_t now = ev_now(loop);

	(void)arg;
	retirees_enforce(now);
	supervisor_stop_enforce(now);
	if (rconn_is_up(sv.redis))
		events_flush();
	if (sv.stopping == STOP_NONE)
		supervisor_heartbeat();
	(void)metrics_flush(sv.redis, 0);
	ev_timer_start(loop, t, CRON_MS, supervisor_cron, NULL);
}

static int
supervisor_setup(void)
{
	static const int signals[] = {
		SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1,
	};

	signal(SIGPIPE, SIG_IGN);
	if ((sv.loop = ev_loop_new(4096)) == NULL)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
		if (ev_signal_add(sv.loop, signals[i], supervisor_on_signal, NULL) == -1)
			return -1;
	if (pipe2(sv.liveness, O_CLOEXEC) == -1) {
		log_error("pipe2: %m");
		return -1;
	}
	/* Workers keep the read end across fork (they do not exec). */
	if (keys_init(sv.conf->redis.prefix, sv.conf->redis.events_channel) == -1 ||
	    keys_worker(sv.heartbeat_key, sizeof(sv.heartbeat_key), util_hostname(),
	    "supervisor") == -1)
		return -1;
	events_init(NULL, sv.conf->redis.events_channel, util_hostname(), "supervisor");
	events_set_outbox(sv.conf);
	if (metrics_setup(util_hostname(), (long)getpid(), METRICS_TTL_MS) == -1) {
		log_error("redis.prefix or the host name is too long");
		return -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++)
		sv.restarts[i] = metric_counter("olb_worker_restarts_total",
		    "role=\"%s\"", roles[i].name);
	if ((sv.slots = slots_build(sv.conf, NULL, &sv.nslots)) == NULL)
		return -1;
	return 0;
}

static void
supervisor_start_all(void)
{
	for (size_t i = 0; i < sv.nslots; i++) {
		struct slot *s = &sv.slots[i];

		slot_spawn(s);
		if ((s->role->flags & ROLE_EXEC) && s->pid != 0 &&
		    embedded_redis_wait(sv.conf, 3000) == -1)
			log_warn("embedded redis is not accepting connections yet");
	}
}

static void
supervisor_cleanup(void)
{
	for (size_t i = 0; i < sv.nslots; i++)
		if (sv.slots[i].listen_fd != -1)
			close(sv.slots[i].listen_fd);
	free(sv.slots);
	rconn_free(sv.redis);
	events_shutdown();
	ev_loop_free(sv.loop);
	conf_free(sv.conf);
}

/* Tell the process that daemonized us whether we are running. */
static void
supervisor_report_ready(int ok)
{
	char c = ok ? 0 : 1;

	if (sv.opts->ready_fd == -1)
		return;
	(void)!write(sv.opts->ready_fd, &c, 1);
	close(sv.opts->ready_fd);
}

int
supervisor_run(struct conf *conf, const struct supervisor_opts *opts)
{
	json_object *fields;

	sv.opts = opts;
	sv.conf = conf;
	sv.generation = 1;
	sv.started_ms = util_wall_ms();
	proctitle_set("olbd: supervisor");
	log_set_role("supervisor");
	if (supervisor_setup() == -1) {
		supervisor_report_ready(0);
		supervisor_cleanup();
		return 1;
	}
	supervisor_start_all();
	supervisor_redis_connect();	/* after the embedded Redis is up */
	supervisor_report_ready(1);
	fields = json_object_new_object();
	json_object_object_add(fields, "version", json_object_new_string(OLB_VERSION));
	json_object_object_add(fields, "workers", json_object_new_int((int)sv.nslots));
	event_publish(EVENT_INFO, "supervisor.started", fields);
	log_info("olbd %s started: %zu children, listening on %s:%u", OLB_VERSION,
	    sv.nslots, conf->proxy.listen.host, conf->proxy.listen.port);
	ev_timer_start(sv.loop, &sv.cron, CRON_MS, supervisor_cron, NULL);
	ev_run(sv.loop);
	log_info("stopped");
	supervisor_cleanup();
	return 0;
}
