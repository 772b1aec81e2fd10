/*
 * lease: one singleton duty's lease in Redis (see lease.h).  The decisions
 * are made by the lease script (common/scripts): take acquires a free lease
 * or renews this holder's, drop deletes it if still this holder's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "common/ev.h"
#include "common/events.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/rscript.h"
#include "common/scripts.h"
#include "common/util.h"
#include "workers/lease.h"

struct lease {
	struct rconn	*rc;
	struct ev_loop	*loop;
	char		 duty[32];
	char		 key[KEYS_NAME_MAX];
	char		 fence[KEYS_NAME_MAX];
	char		 holder[160];		/* "<host>:<pid>" */
	char		 token[192];		/* the lease held, "" if none */
	uint64_t	 ttl_ms;
	uint64_t	 renewed;		/* mono ms of the last renewal */
	lease_cb	*cb;
	void		*arg;
	struct ev_timer	 tick, drop_wait;
	void		(*dropped)(void *);
	void		*dropped_arg;
	unsigned int	 refs;			/* replies still to come */
	int		 dropping;		/* lease_drop was called */
	int		 freed;			/* lease_free was called */
};

static void	lease_take(struct lease *l, const char *mine);

/* Send a lease script call; 0 if sent (cb then runs once), else -1. */
static int
lease_send(struct lease *l, const char *op, const char *mine,
    rconn_reply_cb *cb)
{
	struct scripts_call c;

	if (scripts_call_lease(&c, l->key, l->fence, l->holder, l->ttl_ms, op,
	    mine) == -1 || rscript_run(l->rc, &c, cb, l) == -1)
		return -1;
	lease_ref(l);
	return 0;
}

void
lease_ref(struct lease *l)
{
	l->refs++;
}

int
lease_unref(struct lease *l)
{
	l->refs--;
	if (!l->freed)
		return 1;
	if (l->refs == 0)
		free(l);
	return 0;
}

void
lease_lost(struct lease *l, const char *why)
{
	json_object *f;

	if (!lease_held(l))
		return;
	l->token[0] = '\0';
	log_warn("%s lease lost: %s", l->duty, why);
	f = json_object_new_object();
	json_object_object_add(f, "duty", json_object_new_string(l->duty));
	event_publish(EVENT_NOTIFY, "leader.lost", f);
	if (l->cb != NULL)
		l->cb(l, 0, l->arg);
}

static void
lease_acquired(struct lease *l, const char *token)
{
	int was = lease_held(l);
	json_object *f;

	snprintf(l->token, sizeof(l->token), "%s", token);
	l->renewed = ev_now(l->loop);
	if (was)
		return;
	f = json_object_new_object();
	json_object_object_add(f, "duty", json_object_new_string(l->duty));
	json_object_object_add(f, "lease", json_object_new_string(l->token));
	event_publish(EVENT_NOTIFY, "leader.acquired", f);
	log_info("%s lease acquired (%s)", l->duty, l->token);
	if (l->cb != NULL)
		l->cb(l, 1, l->arg);
}

/* The pid of a holder token "<host>:<pid>#<fence>" of this host other than
 * this process, or 0. */
static pid_t
lease_local_holder(const char *token)
{
	const char *host = util_hostname();
	size_t hl = strlen(host);
	long pid;

	if (strncmp(token, host, hl) != 0 || token[hl] != ':')
		return 0;
	pid = strtol(token + hl + 1, NULL, 10);
	return pid > 0 && pid != getpid() ? (pid_t)pid : 0;
}

static void
lease_expire_check(struct lease *l)
{
	if (lease_held(l) && ev_now(l->loop) - l->renewed >= l->ttl_ms)
		lease_lost(l, "not renewed in time");
}

/* The answer {token, what, current holder} of a take. */
static void
lease_on_take(struct rconn *rc, redisReply *r, void *arg)
{
	struct lease *l = arg;
	const char *what, *cur;
	pid_t dead;

	(void)rc;
	if (!lease_unref(l) || l->dropping)
		return;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING ||
	    r->element[2]->type != REDIS_REPLY_STRING) {
		if (r != NULL && r->type == REDIS_REPLY_ERROR)
			log_warn("%s lease: %s", l->duty, r->str);
		lease_expire_check(l);
		return;
	}
	what = r->element[1]->str;
	cur = r->element[2]->str;
	if (strcmp(what, "acquired") == 0 || strcmp(what, "renewed") == 0) {
		lease_acquired(l, r->element[0]->str);
		return;
	}
	lease_lost(l, "held by another");
	/* A holder of this host that is dead need not be waited for. */
	if ((dead = lease_local_holder(cur)) != 0 && kill(dead, 0) == -1 &&
	    errno == ESRCH) {
		log_info("%s lease holder %s is gone: taking over", l->duty, cur);
		lease_take(l, cur);
	}
}

/* Ask for the lease, as the holder of token mine ("" if none). */
static void
lease_take(struct lease *l, const char *mine)
{
	if (rconn_is_up(l->rc))
		(void)lease_send(l, "take", mine, lease_on_take);
}

static void
lease_tick(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct lease *l = arg;

	lease_expire_check(l);
	lease_take(l, l->token);
	ev_timer_start(loop, t, l->ttl_ms / 3, lease_tick, l);
}

struct lease *
lease_new(struct rconn *rc, const char *duty, uint64_t ttl_ms, lease_cb *cb,
    void *arg)
{
	struct lease *l;

	if (rc == NULL || duty == NULL || ttl_ms == 0 ||
	    (l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	snprintf(l->duty, sizeof(l->duty), "%s", duty);
	l->rc = rc;
	l->loop = rconn_loop(rc);
	l->ttl_ms = ttl_ms;
	l->cb = cb;
	l->arg = arg;
	if (strlen(duty) >= sizeof(l->duty) ||
	    keys_lease(l->key, sizeof(l->key), duty) == -1 ||
	    keys_lease_fence(l->fence, sizeof(l->fence), duty) == -1) {
		free(l);
		return NULL;
	}
	snprintf(l->holder, sizeof(l->holder), "%s:%d", util_hostname(),
	    (int)getpid());
	return l;
}

void
lease_start(struct lease *l)
{
	ev_timer_start(l->loop, &l->tick, 0, lease_tick, l);
}

void
lease_retry(struct lease *l)
{
	if (!l->dropping)
		lease_take(l, l->token);
}

int
lease_held(const struct lease *l)
{
	return l->token[0] != '\0';
}

const char *
lease_token(const struct lease *l)
{
	return l->token;
}

const char *
lease_key(const struct lease *l)
{
	return l->key;
}

int
lease_fence(const struct lease *l, struct scripts_call *c)
{
	return scripts_call_fence(c, l->key, l->token);
}

static void
lease_drop_done(struct lease *l)
{
	void (*done)(void *) = l->dropped;

	ev_timer_stop(l->loop, &l->drop_wait);
	l->dropped = NULL;
	if (done != NULL)
		done(l->dropped_arg);
}

static void
lease_on_drop(struct rconn *rc, redisReply *r, void *arg)
{
	struct lease *l = arg;

	(void)rc;
	(void)r;
	if (lease_unref(l))
		lease_drop_done(l);
}

static void
lease_drop_timeout(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	lease_drop_done(arg);
}

int
lease_drop(struct lease *l, void (*done)(void *), void *arg)
{
	ev_timer_stop(l->loop, &l->tick);
	l->dropping = 1;
	if (!lease_held(l) || lease_send(l, "drop", l->token, lease_on_drop) == -1)
		return -1;
	l->token[0] = '\0';
	l->dropped = done;
	l->dropped_arg = arg;
	ev_timer_start(l->loop, &l->drop_wait, LEASE_DROP_WAIT_MS,
	    lease_drop_timeout, l);
	return 0;
}

void
lease_free(struct lease *l)
{
	if (l == NULL)
		return;
	ev_timer_stop(l->loop, &l->tick);
	ev_timer_stop(l->loop, &l->drop_wait);
	l->token[0] = '\0';
	l->cb = NULL;
	l->dropped = NULL;
	l->freed = 1;
	if (l->refs == 0)
		free(l);
}
