/*
 * provider_process: instances that are local processes (SPEC §6), the
 * embedded default used by `make run` and the tests.
 *
 * An instance is provider.process.command, its words with {port} and
 * {name} substituted, started with posix_spawn on the lowest free port of
 * [port_min, port_max].  Its environment is its tag set:
 *
 *   OLB_CLUSTER	provider.cluster	OLB_ROLE	master | client
 *   OLB_INSTANCE_ID	"p-<launch token>"	OLB_NAME	Master_Listener-N ...
 *   OLB_LAUNCH		the launch token	OLB_PORT	the port
 *   OLB_DEPLOYMENT	the deployment
 *
 * so the instances are found again after any restart of the scaler by
 * reading /proc/<pid>/environ (the process analogue of EC2's tag filter),
 * and a launch whose token already runs answers that process.  A process
 * outlives the scaler that started it, as an EC2 machine would; it keeps the
 * scaler's process group, so a terminal's Ctrl-C under `make run` reaches it.
 *
 * Termination: SIGTERM, then SIGKILL after PROCESS_KILL_AFTER_MS; done when
 * no process carries the id any more.  Exited children are reaped at each
 * scan.  Ownership: ops in flight are on the provider's list and freed by
 * provider_free without their callbacks.
 */
#include <sys/queue.h>

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/scaler/provider.h"

extern char **environ;

#define PROCESS_KILL_AFTER_MS	5000	/* SIGTERM, then SIGKILL */
#define PROCESS_POLL_MS		50	/* while waiting for an exit */
#define PROCESS_ENV_MAX		65536	/* /proc/<pid>/environ read at most */
#define PROCESS_TAGS		7	/* OLB_* variables of an instance */
#define PROCESS_ARGS_MAX	64	/* words of the command */
#define PROCESS_IP		"127.0.0.1"

enum pp_kind { PP_LAUNCH, PP_LIST, PP_TERMINATE };

/* One terminate target. */
#define PROCESS_TARGET_PIDS	4	/* processes carrying one id, watched */

struct pp_target {
	char		 id[PROVIDER_ID_MAX];
	pid_t		 pids[PROCESS_TARGET_PIDS];
	int		 npids;
	int		 done;
};

/* One operation in flight. */
struct pp_op {
	LIST_ENTRY(pp_op)	 entry;
	struct pp		*pp;
	enum pp_kind		 kind;
	struct ev_timer		 timer;
	void			*cb;
	void			*arg;
	/* PP_LAUNCH */
	struct provider_instance inst;
	char			 error[256];
	/* PP_TERMINATE */
	struct pp_target	*targets;
	size_t			 ntargets;
	uint64_t		 kill_at;	/* monotonic ms */
	int			 killed;
};

/* Processes started lately: a process's environment shows in /proc only
 * once its exec has set it up, a moment after posix_spawn returned, so a
 * scan right after a spawn might miss it (and give its port away). */
#define PROCESS_RECENT_MAX	64
#define PROCESS_RECENT_MS	5000

/* A scan of /proc costs about 30 µs per process: launches and terminations
 * use the last one while it is younger than this; listing always scans. */
#define PROCESS_SCAN_FRESH_MS	1000

struct pp {
	struct provider		*p;
	LIST_HEAD(, pp_op)	 ops;
	struct provider_instance *scanned;	/* the last scan, without recent */
	size_t			 nscanned;
	uint64_t		 scanned_at;	/* mono ms; 0 = none */
	struct provider_instance recent[PROCESS_RECENT_MAX];
	uint64_t		 recent_at[PROCESS_RECENT_MAX];	/* mono ms */
	size_t			 nrecent;
};

/* What a scan finds. */
struct pp_found {
	struct provider_instance	*v;
	size_t				 n, cap;
};

/* Reaping and scanning */

/* Room for more in f.  0 or -1. */
static int
pp_found_grow(struct pp_found *f)
{
	size_t cap = f->cap ? f->cap * 2 : 16;
	struct provider_instance *nv;

	if ((nv = realloc(f->v, cap * sizeof(*nv))) == NULL)
		return -1;
	f->v = nv;
	f->cap = cap;
	return 0;
}

/* Collect exited children (instances started by this scaler). */
static void
pp_reap(void)
{
	int status;

	while (waitpid(-1, &status, WNOHANG) > 0)
		;
}

/* 1 if pid is a live (not zombie) process. */
static int
pp_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0' || p[2] == '\0')
		return 0;
	return p[2] != 'Z' && p[2] != 'X';
}

/* The value of name in an environ block (NUL-separated), or NULL. */
static const char *
pp_env_get(const char *env, size_t len, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < len; i += strlen(env + i) + 1)
		if (strncmp(env + i, name, nl) == 0 && env[i + nl] == '=')
			return env + i + nl + 1;
	return NULL;
}

/* Read pid's environment into buf (NUL-terminated).  Its length, or -1 (not
 * ours, gone). */
static ssize_t
pp_env_read(pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n, got = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((size_t)got < size - 1 &&
	    (n = read(fd, buf + got, size - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	return got;
}

/* Fill inst from pid's environment if it is an instance of cluster.  1 if
 * it is, else 0. */
static int
pp_env_instance(pid_t pid, const char *cluster, char *buf, size_t size,
    struct provider_instance *inst)
{
	const char *v, *id, *role, *port;
	ssize_t len;
	long n;

	if ((len = pp_env_read(pid, buf, size)) <= 0 ||
	    (v = pp_env_get(buf, (size_t)len, "OLB_CLUSTER")) == NULL ||
	    strcmp(v, cluster) != 0 ||
	    (id = pp_env_get(buf, (size_t)len, "OLB_INSTANCE_ID")) == NULL ||
	    (role = pp_env_get(buf, (size_t)len, "OLB_ROLE")) == NULL ||
	    (port = pp_env_get(buf, (size_t)len, "OLB_PORT")) == NULL)
		return 0;
	n = strtol(port, NULL, 10);
	if (n < 1 || n > 65535 || strlen(id) >= sizeof(inst->id))
		return 0;
	memset(inst, 0, sizeof(*inst));
	snprintf(inst->id, sizeof(inst->id), "%s", id);
	snprintf(inst->ip, sizeof(inst->ip), "%s", PROCESS_IP);
	inst->port = (uint16_t)n;
	inst->is_master = strcmp(role, "master") == 0;
	if ((v = pp_env_get(buf, (size_t)len, "OLB_NAME")) != NULL)
		snprintf(inst->name, sizeof(inst->name), "%s", v);
	if ((v = pp_env_get(buf, (size_t)len, "OLB_LAUNCH")) != NULL)
		snprintf(inst->launch, sizeof(inst->launch), "%s", v);
	if ((v = pp_env_get(buf, (size_t)len, "OLB_DEPLOYMENT")) != NULL)
		snprintf(inst->deployment, sizeof(inst->deployment), "%s", v);
	snprintf(inst->state, sizeof(inst->state), "running");
	inst->pid = pid;
	return 1;
}

/* Add to f the processes started lately that the scan did not show yet;
 * forget those seen or old. */
static void
pp_scan_recent(struct pp *pp, struct pp_found *f)
{
	uint64_t now = util_mono_ms();
	size_t k = 0;

	for (size_t i = 0; i < pp->nrecent; i++) {
		struct provider_instance *in = &pp->recent[i];
		int seen = 0;

		for (size_t j = 0; j < f->n && !seen; j++)
			seen = strcmp(f->v[j].id, in->id) == 0;
		if (seen || now - pp->recent_at[i] > PROCESS_RECENT_MS ||
		    !pp_alive((pid_t)in->pid))
			continue;
		if (f->n < f->cap || pp_found_grow(f) == 0)
			f->v[f->n++] = *in;
		pp->recent[k] = *in;
		pp->recent_at[k++] = pp->recent_at[i];
	}
	pp->nrecent = k;
}

/* Keep a copy of scan f as the last scan. */
static void
pp_scan_keep(struct pp *pp, const struct pp_found *f)
{
	struct provider_instance *v = NULL;

	if (f->n > 0 && (v = calloc(f->n, sizeof(*v))) == NULL) {
		pp->scanned_at = 0;
		return;
	}
	if (f->n > 0)
		memcpy(v, f->v, f->n * sizeof(*v));
	free(pp->scanned);
	pp->scanned = v;
	pp->nscanned = f->n;
	pp->scanned_at = util_mono_ms();
}

/* Every live process of this cluster, one per instance id (the lowest pid:
 * a command that forks shares its environment with its children).  0, or
 * -1 if /proc cannot be read or out of memory. */
static int
pp_scan(struct pp *pp, struct pp_found *f)
{
	const char *cluster = pp->p->conf->provider.cluster;
	struct provider_instance inst;
	struct dirent *de;
	char *buf;
	DIR *d;
	int dup;

	memset(f, 0, sizeof(*f));
	pp_reap();
	if ((buf = malloc(PROCESS_ENV_MAX)) == NULL)
		return -1;
	if ((d = opendir("/proc")) == NULL) {
		free(buf);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);

		if (pid <= 0 || pid == getpid() ||
		    !pp_env_instance(pid, cluster, buf, PROCESS_ENV_MAX, &inst) ||
		    !pp_alive(pid))
			continue;
		dup = 0;
		for (size_t i = 0; i < f->n && !dup; i++)
			if (strcmp(f->v[i].id, inst.id) == 0) {
				dup = 1;
				if (inst.pid < f->v[i].pid)
					f->v[i] = inst;
			}
		if (dup)
			continue;
		if (f->n == f->cap && pp_found_grow(f) == -1)
			break;
		f->v[f->n++] = inst;
	}
	closedir(d);
	free(buf);
	pp_scan_keep(pp, f);
	pp_scan_recent(pp, f);
	return 0;
}

/* f = the last scan if it is fresh (with the processes started since), else
 * a new scan.  0 or -1. */
static int
pp_snapshot(struct pp *pp, struct pp_found *f)
{
	memset(f, 0, sizeof(*f));
	if (pp->scanned_at == 0 ||
	    util_mono_ms() - pp->scanned_at >= PROCESS_SCAN_FRESH_MS)
		return pp_scan(pp, f);
	pp_reap();
	if (pp->nscanned > 0) {
		if ((f->v = calloc(pp->nscanned, sizeof(*f->v))) == NULL)
			return -1;
		memcpy(f->v, pp->scanned, pp->nscanned * sizeof(*f->v));
		f->n = f->cap = pp->nscanned;
	}
	pp_scan_recent(pp, f);
	return 0;
}

/* The pids of scan f carrying id into tg.  The number found. */
static int
pp_target_pids(const struct pp_found *f, struct pp_target *tg)
{
	tg->npids = 0;
	for (size_t i = 0; i < f->n && tg->npids < PROCESS_TARGET_PIDS; i++)
		if (strcmp(f->v[i].id, tg->id) == 0)
			tg->pids[tg->npids++] = (pid_t)f->v[i].pid;
	return tg->npids;
}

/* 1 if pid still runs as instance id (its environment says so). */
static int
pp_pid_is(const struct pp *pp, pid_t pid, const char *id)
{
	struct provider_instance inst;
	char *buf;
	int is;

	if (!pp_alive(pid) || (buf = malloc(PROCESS_ENV_MAX)) == NULL)
		return 0;
	is = pp_env_instance(pid, pp->p->conf->provider.cluster, buf,
	    PROCESS_ENV_MAX, &inst) && strcmp(inst.id, id) == 0;
	free(buf);
	return is;
}

/* Signal (sig 0: only check) tg's processes that still carry its id; forget
 * the others.  The number left. */
static int
pp_target_signal(const struct pp *pp, struct pp_target *tg, int sig)
{
	int k = 0;

	for (int i = 0; i < tg->npids; i++)
		if (pp_pid_is(pp, tg->pids[i], tg->id)) {
			if (sig != 0)
				kill(tg->pids[i], sig);
			tg->pids[k++] = tg->pids[i];
		}
	tg->npids = k;
	return k;
}

/* Operations */

static struct pp_op *
pp_op_new(struct pp *pp, enum pp_kind kind, void *cb, void *arg)
{
	struct pp_op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->pp = pp;
	op->kind = kind;
	op->cb = cb;
	op->arg = arg;
	LIST_INSERT_HEAD(&pp->ops, op, entry);
	return op;
}

static void
pp_op_free(struct pp_op *op)
{
	LIST_REMOVE(op, entry);
	ev_timer_stop(op->pp->p->loop, &op->timer);
	free(op->targets);
	free(op);
}

/* Launch */

/* 1 if port is free on PROCESS_IP (bind succeeds), else 0. */
static int
pp_port_free(uint16_t port)
{
	struct sockaddr_in sin;
	int fd, one = 1, ok;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	inet_pton(AF_INET, PROCESS_IP, &sin.sin_addr);
	ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/* The lowest port of the range used by no instance of f and free now; 0 if
 * none. */
static uint16_t
pp_port_pick(const struct pp *pp, const struct pp_found *f)
{
	const struct conf *conf = pp->p->conf;

	for (int64_t port = conf->provider.process.port_min;
	    port <= conf->provider.process.port_max; port++) {
		int used = 0;

		for (size_t i = 0; i < f->n && !used; i++)
			used = f->v[i].port == port;
		if (!used && pp_port_free((uint16_t)port))
			return (uint16_t)port;
	}
	return 0;
}

/* word with {port} and {name} substituted, into buf.  0, or -1 if it does
 * not fit. */
static int
pp_substitute(const char *word, const char *port, const char *name, char *buf,
    size_t size)
{
	size_t used = 0;

	while (*word != '\0') {
		const char *add = NULL;
		size_t len = 1;

		if (strncmp(word, "{port}", 6) == 0)
			add = port, len = 6;
		else if (strncmp(word, "{name}", 6) == 0)
			add = name, len = 6;
		if (add == NULL) {
			if (used + 1 >= size)
				return -1;
			buf[used++] = *word;
		} else {
			size_t al = strlen(add);

			if (used + al >= size)
				return -1;
			memcpy(buf + used, add, al);
			used += al;
		}
		word += len;
	}
	buf[used] = '\0';
	return 0;
}

/* The argument vector of the command for inst, in words (each a string of
 * text).  The number of words, or -1 if the command is too long. */
static int
pp_argv(const char *command, const struct provider_instance *inst,
    char *text, size_t size, char **argv)
{
	char port[8], word[1024];
	const char *s = command;
	size_t used = 0;
	int argc = 0;

	snprintf(port, sizeof(port), "%u", (unsigned int)inst->port);
	while (*s != '\0') {
		size_t wl = strcspn(s, " \t");

		if (wl == 0) {
			s++;
			continue;
		}
		if (wl >= sizeof(word) || argc == PROCESS_ARGS_MAX - 1)
			return -1;
		memcpy(word, s, wl);
		word[wl] = '\0';
		s += wl;
		if (pp_substitute(word, port, inst->name, text + used,
		    size - used) == -1)
			return -1;
		argv[argc++] = text + used;
		used += strlen(text + used) + 1;
	}
	argv[argc] = NULL;
	return argc;
}

/* The environment of an instance: ours without OLB_* tags, plus its tags
 * (in tags, NAME=value strings).  NULL-terminated; free the array only. */
static char **
pp_envp(char tags[PROCESS_TAGS][256], const struct pp *pp,
    const struct provider_instance *inst)
{
	size_t n = 0, k = 0;
	char **envp;

	for (char **e = environ; *e != NULL; e++)
		n++;
	if ((envp = calloc(n + PROCESS_TAGS + 1, sizeof(*envp))) == NULL)
		return NULL;
	for (char **e = environ; *e != NULL; e++)
		if (strncmp(*e, "OLB_", 4) != 0 || strncmp(*e, "OLB_TEST", 8) == 0)
			envp[k++] = *e;
	snprintf(tags[0], 256, "OLB_CLUSTER=%s", pp->p->conf->provider.cluster);
	snprintf(tags[1], 256, "OLB_INSTANCE_ID=%s", inst->id);
	snprintf(tags[2], 256, "OLB_LAUNCH=%s", inst->launch);
	snprintf(tags[3], 256, "OLB_ROLE=%s", inst->is_master ? "master" : "client");
	snprintf(tags[4], 256, "OLB_NAME=%s", inst->name);
	snprintf(tags[5], 256, "OLB_PORT=%u", (unsigned int)inst->port);
	snprintf(tags[6], 256, "OLB_DEPLOYMENT=%s", inst->deployment);
	for (int i = 0; i < PROCESS_TAGS; i++)
		envp[k++] = tags[i];
	envp[k] = NULL;
	return envp;
}

/* Start inst's process: stdin from /dev/null, no descriptor of ours, default
 * signal dispositions and an empty mask.  Its pid, or -1 (error set). */
static pid_t
pp_spawn(const struct pp *pp, const struct provider_instance *inst,
    char *error, size_t esize)
{
	char text[4096], *argv[PROCESS_ARGS_MAX], tags[PROCESS_TAGS][256], **envp;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	pid_t pid = -1;
	int rv;

	if (pp_argv(pp->p->conf->provider.process.command, inst, text,
	    sizeof(text), argv) < 1) {
		snprintf(error, esize, "provider.process.command is empty or too long");
		return -1;
	}
	if ((envp = pp_envp(tags, pp, inst)) == NULL) {
		snprintf(error, esize, "out of memory");
		return -1;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	rv = strchr(argv[0], '/') != NULL ?
	    posix_spawn(&pid, argv[0], &fa, &attr, argv, envp) :
	    posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	if (rv != 0) {
		snprintf(error, esize, "%s: %s", argv[0], strerror(rv));
		return -1;
	}
	return pid;
}

#ifdef OLB_TEST
/* Test builds: OLB_TEST_LAUNCH_DELAY_MS holds back a launch's answer after
 * the process started (a scaler killed in that window must find it again). */
static uint64_t
pp_test_delay(void)
{
	const char *s = getenv("OLB_TEST_LAUNCH_DELAY_MS");

	return s != NULL ? strtoull(s, NULL, 10) : 0;
}
#else
#define pp_test_delay()	0
#endif

static void
pp_launch_done(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct pp_op *op = arg;
	provider_launch_cb *cb = (provider_launch_cb *)op->cb;
	int ok = op->error[0] == '\0';

	(void)loop;
	(void)t;
	/* A process that could not start is no unknown outcome. */
	cb(ok ? PROVIDER_OK : PROVIDER_REFUSED, ok ? &op->inst : NULL,
	    ok ? NULL : op->error, op->arg);
	pp_op_free(op);
}

/* The instance of token if it runs (1), else 0; -1 if /proc cannot be read.
 * Fills f with the scan either way. */
static int
pp_find_launch(struct pp *pp, const char *token, struct pp_found *f,
    struct provider_instance *inst)
{
	if (pp_snapshot(pp, f) == -1)
		return -1;
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].launch, token) == 0) {
			*inst = f->v[i];
			return 1;
		}
	return 0;
}

static int
pp_launch(struct provider *p, const struct provider_launch *l,
    provider_launch_cb *cb, void *arg)
{
	struct pp *pp = p->impl;
	struct pp_found f;
	struct pp_op *op;
	pid_t pid;
	int found;

	if ((op = pp_op_new(pp, PP_LAUNCH, (void *)cb, arg)) == NULL)
		return -1;
	if ((found = pp_find_launch(pp, l->token, &f, &op->inst)) == -1) {
		snprintf(op->error, sizeof(op->error), "/proc: %s", strerror(errno));
	} else if (found) {
		log_info("provider process: launch %s already runs as %s (pid %lld)",
		    l->token, op->inst.id, op->inst.pid);
	} else {
		struct provider_instance *in = &op->inst;

		snprintf(in->id, sizeof(in->id), "p-%s", l->token);
		snprintf(in->ip, sizeof(in->ip), "%s", PROCESS_IP);
		snprintf(in->name, sizeof(in->name), "%s", l->name);
		snprintf(in->launch, sizeof(in->launch), "%s", l->token);
		snprintf(in->deployment, sizeof(in->deployment), "%s",
		    l->deployment);
		snprintf(in->state, sizeof(in->state), "running");
		in->is_master = l->is_master;
		if ((in->port = pp_port_pick(pp, &f)) == 0)
			snprintf(op->error, sizeof(op->error),
			    "no free port in %lld-%lld",
			    (long long)p->conf->provider.process.port_min,
			    (long long)p->conf->provider.process.port_max);
		else if ((pid = pp_spawn(pp, in, op->error,
		    sizeof(op->error))) != -1) {
			in->pid = pid;
			if (pp->nrecent < PROCESS_RECENT_MAX) {
				pp->recent[pp->nrecent] = *in;
				pp->recent_at[pp->nrecent++] = util_mono_ms();
			}
			log_info("provider process: started %s %s on port %u "
			    "(pid %d)", in->id, in->name, (unsigned int)in->port,
			    (int)pid);
		}
	}
	free(f.v);
	ev_timer_start(p->loop, &op->timer, op->error[0] ? 0 : pp_test_delay(),
	    pp_launch_done, op);
	return 0;
}

/* List */

static void
pp_list_done(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct pp_op *op = arg;
	provider_list_cb *cb = (provider_list_cb *)op->cb;
	struct pp_found f;

	(void)loop;
	(void)t;
	if (pp_scan(op->pp, &f) == -1)
		cb(0, NULL, 0, "cannot read /proc", op->arg);
	else
		cb(1, f.v, f.n, NULL, op->arg);
	free(f.v);
	pp_op_free(op);
}

static int
pp_list(struct provider *p, provider_list_cb *cb, void *arg)
{
	struct pp_op *op;

	if ((op = pp_op_new(p->impl, PP_LIST, (void *)cb, arg)) == NULL)
		return -1;
	ev_timer_start(p->loop, &op->timer, 0, pp_list_done, op);
	return 0;
}

/* Terminate */

/* Answer the targets that are gone; SIGKILL the rest once kill_at passed.
 * Only the pids found at the start are watched: no scan of /proc while
 * waiting.  Frees op when every target is answered. */
static void
pp_terminate_poll(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct pp_op *op = arg;
	provider_terminate_cb *cb = (provider_terminate_cb *)op->cb;
	int kill_now = !op->killed && ev_now(loop) >= op->kill_at;
	size_t left = 0;

	(void)t;
	pp_reap();
	for (size_t i = 0; i < op->ntargets; i++) {
		struct pp_target *tg = &op->targets[i];

		if (tg->done)
			continue;
		if (pp_target_signal(op->pp, tg, kill_now ? SIGKILL : 0) == 0) {
			tg->done = 1;
			cb(tg->id, PROVIDER_OK, NULL, op->arg);
			continue;
		}
		if (kill_now)
			log_warn("provider process: %s did not stop in %d ms: "
			    "SIGKILL", tg->id, PROCESS_KILL_AFTER_MS);
		left++;
	}
	if (kill_now)
		op->killed = 1;
	if (left == 0) {
		pp_op_free(op);
		return;
	}
	ev_timer_start(loop, &op->timer, PROCESS_POLL_MS, pp_terminate_poll, op);
}

static int
pp_terminate(struct provider *p, const char *const *ids, size_t n,
    provider_terminate_cb *cb, void *arg)
{
	struct pp_op *op;
	struct pp_found f;

	if (n == 0 || (op = pp_op_new(p->impl, PP_TERMINATE, (void *)cb,
	    arg)) == NULL)
		return -1;
	if ((op->targets = calloc(n, sizeof(*op->targets))) == NULL ||
	    pp_snapshot(p->impl, &f) == -1) {
		pp_op_free(op);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct pp_target *tg = &op->targets[i];

		snprintf(tg->id, sizeof(tg->id), "%s", ids[i]);
		if (pp_target_pids(&f, tg) > 0 &&
		    pp_target_signal(p->impl, tg, SIGTERM) > 0)
			log_info("provider process: SIGTERM to %s", ids[i]);
	}
	free(f.v);
	op->ntargets = n;
	op->kill_at = ev_now(p->loop) + PROCESS_KILL_AFTER_MS;
	ev_timer_start(p->loop, &op->timer, PROCESS_POLL_MS, pp_terminate_poll,
	    op);
	return 0;
}

static void
pp_free(struct provider *p)
{
	struct pp *pp = p->impl;

	while (!LIST_EMPTY(&pp->ops))
		pp_op_free(LIST_FIRST(&pp->ops));
	free(pp->scanned);
	free(pp);
	p->impl = NULL;
}

static const struct provider_ops pp_ops = {
	.name = "process",
	.can_launch = 1,
	.list_ms = 1000,
	.launch = pp_launch,
	.list = pp_list,
	.terminate = pp_terminate,
	.free = pp_free,
};

int
provider_process_init(struct provider *p)
{
	struct pp *pp;

	if ((pp = calloc(1, sizeof(*pp))) == NULL)
		return -1;
	pp->p = p;
	p->impl = pp;
	p->ops = &pp_ops;
	return 0;
}
