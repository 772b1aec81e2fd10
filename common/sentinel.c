/*
 * sentinel: the process's watcher of the Redis master (see sentinel.h).
 *
 * The watcher owns its two sentinel rconns, its check timer and the array of
 * registered master rconns (not owned: each detaches itself when freed).
 * Callbacks that may run owners' code (rconn_master_moved reports a loss to
 * its owner) are counted in busy; a watcher whose last rconn detached
 * meanwhile is freed when the outermost callback returns, and a slot
 * emptied meanwhile is compacted then.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/sentinel.h"

#define SENTINEL_CHANNEL	"+switch-master"
#define SENTINEL_HOST_MAX	256

struct sentinel {
	struct ev_loop	 *loop;
	pid_t		  pid;		/* the process that made it */
	char		 *master;	/* the monitored name */
	uint64_t	  check_ms;
	struct rconn	 *cmd;		/* asks for the address */
	struct rconn	 *sub;		/* +switch-master */
	struct ev_timer	  check_timer;

	char		  host[SENTINEL_HOST_MAX];	/* "" = not known yet */
	int		  port;
	int		  asking;	/* a question is out */
	int		  complained;	/* about a useless answer, until a good one */

	struct rconn	**rcs;		/* registered; NULL = detached slot */
	size_t		  nrcs, cap;
	size_t		  live;		/* non-NULL slots */
	int		  busy;
	int		  dead;		/* free at the outermost leave */
};

static struct sentinel	*the_sentinel;	/* this process's, or a parent's */

static void	sentinel_free(struct sentinel *);

/* Pure readers */

static int
sentinel_copy_host(const char *s, size_t len, char *host, size_t hostlen)
{
	if (len == 0 || len >= hostlen || memchr(s, '\0', len) != NULL)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] == 0x7f)
			return -1;
	memcpy(host, s, len);
	host[len] = '\0';
	return 0;
}

/* A decimal port 1..65535 of exactly len bytes, or -1. */
static int
sentinel_port(const char *s, size_t len)
{
	int port = 0;

	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		port = port * 10 + (s[i] - '0');
	}
	return port >= 1 && port <= 65535 ? port : -1;
}

int
sentinel_parse_addr(const redisReply *r, char *host, size_t hostlen, int *port)
{
	int p;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING)
		return -1;
	if ((p = sentinel_port(r->element[1]->str, r->element[1]->len)) == -1 ||
	    sentinel_copy_host(r->element[0]->str, r->element[0]->len, host,
	    hostlen) == -1)
		return -1;
	*port = p;
	return 0;
}

/* The next space-separated word of msg[*at..len): its start and length. */
static const char *
sentinel_word(const char *msg, size_t len, size_t *at, size_t *wlen)
{
	size_t start;

	while (*at < len && msg[*at] == ' ')
		(*at)++;
	start = *at;
	while (*at < len && msg[*at] != ' ')
		(*at)++;
	*wlen = *at - start;
	return *wlen > 0 ? msg + start : NULL;
}

int
sentinel_parse_switch(const char *msg, size_t len, const char *master,
    char *host, size_t hostlen, int *port)
{
	const char *w[5];
	size_t wl[5], at = 0, extra;
	int p;

	for (int i = 0; i < 5; i++)
		if ((w[i] = sentinel_word(msg, len, &at, &wl[i])) == NULL)
			return -1;
	if (sentinel_word(msg, len, &at, &extra) != NULL)
		return -1;
	if (wl[0] != strlen(master) || memcmp(w[0], master, wl[0]) != 0)
		return -1;
	if ((p = sentinel_port(w[4], wl[4])) == -1 ||
	    sentinel_copy_host(w[3], wl[3], host, hostlen) == -1)
		return -1;
	*port = p;
	return 0;
}

const char *
sentinel_parse_role(const redisReply *r)
{
	static const char *roles[] = { "master", "slave", "sentinel" };

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return NULL;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(r->element[0]->str, roles[i]) == 0)
			return roles[i];
	return NULL;
}

/* The watcher */

static void
sentinel_enter(struct sentinel *s)
{
	s->busy++;
}

/* -1 when it freed s. */
static int
sentinel_leave(struct sentinel *s)
{
	size_t j = 0;

	if (--s->busy > 0)
		return 0;
	if (s->dead) {
		sentinel_free(s);
		return -1;
	}
	for (size_t i = 0; i < s->nrcs; i++)
		if (s->rcs[i] != NULL)
			s->rcs[j++] = s->rcs[i];
	s->nrcs = j;
	return 0;
}

/* The master is (now) host:port: remember it and tell every rconn. */
static void
sentinel_learn(struct sentinel *s, const char *host, int port, const char *how)
{
	if (strcmp(s->host, host) == 0 && s->port == port)
		return;
	if (s->host[0] == '\0')
		log_info("sentinel: master %s is %s:%d", s->master, host, port);
	else
		log_warn("sentinel: master %s moved from %s:%d to %s:%d (%s)",
		    s->master, s->host, s->port, host, port, how);
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->port = port;
	for (size_t i = 0; i < s->nrcs; i++)
		if (s->rcs[i] != NULL)
			rconn_master_moved(s->rcs[i], s->host, s->port);
}

/* The live watcher whose connection rc is, or NULL: callbacks find their
 * watcher so, never through a pointer that may have been freed. */
static struct sentinel *
sentinel_of(const struct rconn *rc)
{
	struct sentinel *s = the_sentinel;

	if (s == NULL || s->dead || s->pid != getpid() ||
	    (s->cmd != rc && s->sub != rc))
		return NULL;
	return s;
}

static void
sentinel_on_addr(struct rconn *rc, redisReply *r, void *arg)
{
	struct sentinel *s = sentinel_of(rc);
	char host[SENTINEL_HOST_MAX];
	int port;

	(void)arg;
	if (s == NULL)
		return;
	s->asking = 0;
	if (r == NULL)
		return;
	sentinel_enter(s);
	if (sentinel_parse_addr(r, host, sizeof(host), &port) == 0) {
		s->complained = 0;
		sentinel_learn(s, host, port, "asked");
	} else if (!s->complained++) {	/* once, not every check_ms */
		if (r->type == REDIS_REPLY_NIL)
			log_warn("sentinel %s: master name %s is not monitored",
			    rconn_addr(rc), s->master);
		else
			log_warn("sentinel %s: unreadable answer for master %s%s%s",
			    rconn_addr(rc), s->master,
			    r->type == REDIS_REPLY_ERROR ? ": " : "",
			    r->type == REDIS_REPLY_ERROR ? r->str : "");
	}
	sentinel_leave(s);
}

static void
sentinel_ask(struct sentinel *s)
{
	if (s->asking || s->dead || !rconn_is_up(s->cmd))
		return;
	if (rconn_command(s->cmd, sentinel_on_addr, NULL,
	    "SENTINEL get-master-addr-by-name %s", s->master) == 0)
		s->asking = 1;
}

static void
sentinel_on_cmd_state(struct rconn *rc, int up, void *arg)
{
	struct sentinel *s = sentinel_of(rc);

	(void)arg;
	if (up && s != NULL)
		sentinel_ask(s);
}

static void
sentinel_on_switch(struct rconn *rc, const char *channel, const char *msg,
    size_t len, void *arg)
{
	struct sentinel *s = sentinel_of(rc);
	char host[SENTINEL_HOST_MAX];
	int port;

	(void)channel;
	(void)arg;
	if (s == NULL || sentinel_parse_switch(msg, len, s->master, host,
	    sizeof(host), &port) == -1)
		return;
	sentinel_enter(s);
	sentinel_learn(s, host, port, SENTINEL_CHANNEL);
	sentinel_leave(s);
}

static void
sentinel_check(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct sentinel *s = arg;

	sentinel_ask(s);
	ev_timer_start(loop, t, s->check_ms, sentinel_check, s);
}

static struct sentinel *
sentinel_new(struct ev_loop *loop, const struct conf *conf)
{
	struct sentinel *s;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->master = strdup(conf->redis.sentinel.master)) == NULL)
		goto fail;
	s->loop = loop;
	s->pid = getpid();
	s->check_ms = (uint64_t)conf->redis.sentinel.check_ms;
	the_sentinel = s;	/* the callbacks look for it there */
	s->cmd = rconn_new_sentinel(loop, conf, "sentinel", sentinel_on_cmd_state, NULL);
	s->sub = rconn_new_sentinel(loop, conf, "sentinel-events", NULL, NULL);
	if (s->cmd == NULL || s->sub == NULL ||
	    rconn_subscribe(s->sub, SENTINEL_CHANNEL, sentinel_on_switch, NULL) == -1)
		goto fail;
	ev_timer_start(loop, &s->check_timer, s->check_ms, sentinel_check, s);
	return s;
fail:
	log_error("sentinel: out of memory");
	if (s != NULL)
		sentinel_free(s);
	return NULL;
}

static void
sentinel_free(struct sentinel *s)
{
	s->dead = 1;
	ev_timer_stop(s->loop, &s->check_timer);
	rconn_free(s->cmd);
	rconn_free(s->sub);
	if (the_sentinel == s)
		the_sentinel = NULL;
	free(s->rcs);
	free(s->master);
	free(s);
}

struct sentinel *
sentinel_attach(struct ev_loop *loop, const struct conf *conf, struct rconn *rc)
{
	struct sentinel *s = the_sentinel;
	struct rconn **rcs;

	/* A parent's watcher: its descriptors are gone; forget it. */
	if (s != NULL && s->pid != getpid())
		s = the_sentinel = NULL;
	if (s == NULL && (s = the_sentinel = sentinel_new(loop, conf)) == NULL)
		return NULL;
	if (s->nrcs == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;

		if ((rcs = reallocarray(s->rcs, cap, sizeof(*rcs))) == NULL)
			goto fail;
		s->rcs = rcs;
		s->cap = cap;
	}
	s->rcs[s->nrcs++] = rc;
	s->live++;
	return s;
fail:
	if (s->live == 0)
		sentinel_free(s);
	log_error("sentinel_attach: out of memory");
	return NULL;
}

void
sentinel_detach(struct sentinel *s, struct rconn *rc)
{
	size_t i;

	if (s == NULL || s->pid != getpid())
		return;
	for (i = 0; i < s->nrcs && s->rcs[i] != rc; i++)
		;
	if (i == s->nrcs)
		return;
	s->live--;
	if (s->busy > 0)
		s->rcs[i] = NULL;	/* compacted by sentinel_leave */
	else
		s->rcs[i] = s->rcs[--s->nrcs];
	if (s->live > 0)
		return;
	if (the_sentinel == s)
		the_sentinel = NULL;
	if (s->busy > 0)
		s->dead = 1;
	else
		sentinel_free(s);
}

int
sentinel_master(struct sentinel *s, char *host, size_t hostlen, int *port)
{
	sentinel_ask(s);
	if (s->host[0] == '\0')
		return -1;
	snprintf(host, hostlen, "%s", s->host);
	*port = s->port;
	return 0;
}
