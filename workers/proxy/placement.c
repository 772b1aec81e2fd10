/*
 * placement: the proxies' async side of the placement scripts (see
 * placement.h).  Each call is one heap request that owns copies of its
 * arguments, freed after its callback; common/rscript.c sends it (EVALSHA,
 * and EVAL after a NOSCRIPT error).  Placements are batched: those asked
 * for wait in a batch per connection and script, and a before-sleep hook
 * sends each batch as one EVALSHA of up to SCRIPTS_BATCH_MAX accounts, so
 * Redis runs one script, not one per account.  While a batch of a
 * connection and script waits for its answer, the next one fills (it goes
 * at once when full): under load every waiting request shares one script
 * call, and an idle worker sends each placement at once.  Talks to Redis
 * through the caller's rconn (common/redis.c); the scripts and their KEYS
 * come from common/scripts.c.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ev.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/rscript.h"
#include "common/scripts.h"
#include "workers/proxy/placement.h"

/* One placement call in flight; owned by the rconn callback until the answer
 * has been delivered. */
struct placement_req {
	struct rconn		*rc;
	enum scripts_id		 script;
	const char		*role;		/* static "master"/"client" */
	long long		 max;
	int			 ms_per_kib;	/* tracking_flush */
	placement_cb		*cb;
	void			*arg;
	char			*actid;		/* in this allocation */
	char			*master;	/* in this allocation, maybe "" */
	char			*instance;	/* release: in this allocation */
	struct placement	 held;		/* release: its answer, held
						   until the barrier answers */
};

/* Placements for one script on one connection, sent together; owned by the
 * pending list, then by the rconn callback. */
struct placement_batch {
	struct rconn		*rc;
	enum scripts_id		 script;
	long long		 max;
	size_t			 n;
	struct placement_req	*req[SCRIPTS_BATCH_MAX];
	/* With replicas to wait for: the script's answers, held until WAIT
	 * says they are on enough replicas. */
	struct placement_held	*held;
};

struct placement_held {
	enum placement_status	 status[SCRIPTS_BATCH_MAX];
	struct placement	 where[SCRIPTS_BATCH_MAX];
};

#define PLACEMENT_PENDING_MAX	8	/* batches waiting for the hook */

static struct {
	struct placement_batch	*pending[PLACEMENT_PENDING_MAX];
	size_t			 npending;
	struct placement_batch	*inflight[PLACEMENT_PENDING_MAX];
	size_t			 ninflight;	/* sent, script not answered */
	struct ev_loop		*hooked;	/* loop the hook is on, if any */
	int			 failing;	/* only the first failure is logged
						   as an error */
	int			 wait_replicas;	/* placement_set_wait */
	int			 wait_ms;
} pl;

static void placement_fail(const struct placement_req *req, const char *fmt,
    ...) __attribute__((format(printf, 2, 3)));

/* Log "place_client(127.0.0.1:6379): ..." once per run of failures. */
static void
placement_fail(const struct placement_req *req, const char *fmt, ...)
{
	enum log_level level = pl.failing ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_ERROR;
	char msg[256];
	va_list ap;

	pl.failing = 1;
	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(level, "%s(%s): %s", scripts_name(req->script),
	    rconn_addr(req->rc), msg);
}

/* A request owning copies of actid, master and instance (NULL: ""). */
static struct placement_req *
placement_req_new(struct rconn *rc, enum scripts_id script, const char *actid,
    const char *master, const char *instance, placement_cb *cb, void *arg)
{
	struct placement_req *req;
	size_t alen = strlen(actid), mlen = master != NULL ? strlen(master) : 0;
	size_t ilen = instance != NULL ? strlen(instance) : 0;

	if ((req = calloc(1, sizeof(*req) + alen + mlen + ilen + 3)) == NULL)
		return NULL;
	req->rc = rc;
	req->script = script;
	req->cb = cb;
	req->arg = arg;
	req->actid = (char *)(req + 1);
	memcpy(req->actid, actid, alen + 1);
	req->master = req->actid + alen + 1;
	if (master != NULL)
		memcpy(req->master, master, mlen);
	req->master[mlen] = '\0';
	req->instance = req->master + mlen + 1;
	if (instance != NULL)
		memcpy(req->instance, instance, ilen);
	req->instance[ilen] = '\0';
	return req;
}

/* The command line of req's script.  0 or -1. */
static int
placement_build(const struct placement_req *req, struct scripts_call *c)
{
	int rv;

	switch (req->script) {
	case SCRIPTS_RELEASE:
		rv = scripts_call_release(c, req->role, req->actid, req->master,
		    req->instance);
		break;
	case SCRIPTS_LOCATE:
		rv = scripts_call_locate(c, req->role, req->actid, req->master);
		break;
	case SCRIPTS_TRACKING_FLUSH:
		rv = scripts_call_tracking_flush(c, (int)req->max,
		    req->ms_per_kib);
		break;
	default:
		rv = -1;
	}
	return rv;
}

static void	placement_on_reply(struct rconn *rc, redisReply *reply, void *arg);
static void	placement_on_batch_reply(struct rconn *rc, redisReply *reply,
    void *arg);

/* Send (or send again) req.  0, or -1 if it was not queued. */
static int
placement_send(struct placement_req *req)
{
	struct scripts_call c;

	if (placement_build(req, &c) == -1)
		return -1;
	return rscript_run(req->rc, &c, placement_on_reply, req);
}

/* The status a non-error reply of req's script means; fills where. */
static enum placement_status
placement_parse(const struct placement_req *req, const redisReply *r,
    struct placement *where)
{
	uint64_t seq;

	if (req->script == SCRIPTS_TRACKING_FLUSH) {
		if (r->type != REDIS_REPLY_INTEGER || r->integer < 0 ||
		    r->integer > 1)
			return PLACEMENT_ERROR;
		where->found = (int)r->integer;
		return PLACEMENT_OK;
	}
	if (req->script == SCRIPTS_RELEASE) {
		/* {1 | 0, seq} */
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_INTEGER ||
		    r->element[0]->integer < 0 || r->element[0]->integer > 1 ||
		    placement_parse_seq(r->element[1], &where->seq) == -1)
			return PLACEMENT_ERROR;
		where->found = (int)r->element[0]->integer;
		return PLACEMENT_OK;
	}
	/* locate: {seq, then id, ip, port, how or four nils} */
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
	    placement_parse_seq(r->element[0], &seq) == -1)
		return PLACEMENT_ERROR;
	return placement_parse_where(r->element + 1, seq, where);
}

/* The barrier after a release answered (or the connection was lost: the
 * release is written either way): deliver the release's answer. */
static void
placement_on_barrier(struct rconn *rc, redisReply *reply, void *arg)
{
	struct placement_req *req = arg;

	(void)rc;
	(void)reply;
	req->cb(PLACEMENT_OK, &req->held, req->arg);
	free(req);
}

/* A release that freed a place is answered only once Redis has answered a
 * command sent after it: Redis writes what one turn produced (the release's
 * answer and its routing message to every worker's subscriber) before it
 * reads the next command, but in an order of its own, and a busy machine
 * can stop it half way, after the releasing worker has its message and
 * before another worker has.  The client, answered on the release's
 * answer alone, could then reach a worker that still caches the account.
 * 0, or -1 (not sent). */
static int
placement_barrier(struct placement_req *req, const struct placement *where)
{
	req->held = *where;
	return rconn_command(req->rc, placement_on_barrier, req, "PING");
}

static void
placement_on_reply(struct rconn *rc, redisReply *reply, void *arg)
{
	struct placement_req *req = arg;
	struct placement where;
	enum placement_status status = PLACEMENT_ERROR;

	(void)rc;
	memset(&where, 0, sizeof(where));
	if (reply == NULL) {
		placement_fail(req, "connection lost");
		status = PLACEMENT_UNAVAILABLE;
	} else if (reply->type == REDIS_REPLY_ERROR)
		placement_fail(req, "%.*s", (int)(reply->len < 200 ?
		    reply->len : 200), reply->str != NULL ? reply->str : "");
	else if ((status = placement_parse(req, reply, &where)) ==
	    PLACEMENT_ERROR)
		placement_fail(req, "unexpected reply (type %d)",
		    reply->type);
	else {
		pl.failing = 0;
		if (req->script == SCRIPTS_RELEASE && where.found &&
		    placement_barrier(req, &where) == 0)
			return;
	}
	req->cb(status, &where, req->arg);
	free(req);
}

/* The command line of a batch: its accounts in order.  0 or -1. */
static int
placement_batch_build(const struct placement_batch *b, struct scripts_call *c)
{
	const char *actids[SCRIPTS_BATCH_MAX], *masters[SCRIPTS_BATCH_MAX];
	int rv;

	for (size_t i = 0; i < b->n; i++) {
		actids[i] = b->req[i]->actid;
		masters[i] = b->req[i]->master;
	}
	if (b->script == SCRIPTS_PLACE_MASTER)
		rv = scripts_call_place_masters(c, b->max, actids, b->n);
	else
		rv = scripts_call_place_clients(c, b->max, actids, masters, b->n);
	return rv;
}

/* Answer every request of b with status (no place), then free b. */
static void
placement_batch_fail(struct placement_batch *b, enum placement_status status)
{
	struct placement none;

	memset(&none, 0, sizeof(none));
	for (size_t i = 0; i < b->n; i++) {
		b->req[i]->cb(status, &none, b->req[i]->arg);
		free(b->req[i]);
	}
	free(b->held);
	free(b);
}

/* Deliver the answers b holds, then free b. */
static void
placement_batch_deliver(struct placement_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		b->req[i]->cb(b->held->status[i], &b->held->where[i],
		    b->req[i]->arg);
		free(b->req[i]);
	}
	free(b->held);
	free(b);
}

/* WAIT answered: the batch's writes are on enough replicas, or they may be
 * lost in a failover and no account of it is acknowledged (503; a retry
 * finds the account where it was put, if that survived). */
static void
placement_on_wait(struct rconn *rc, redisReply *reply, void *arg)
{
	struct placement_batch *b = arg;

	(void)rc;
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer >= pl.wait_replicas) {
		placement_batch_deliver(b);
		return;
	}
	placement_fail(b->req[0], "WAIT: %s", reply == NULL ? "connection lost" :
	    reply->type == REDIS_REPLY_INTEGER ? "too few replicas acknowledged in "
	    "time" : "unexpected reply");
	/* Lost connection: wait for Redis as any placement does.  Too few
	 * replicas: answer now; waiting would not bring them. */
	placement_batch_fail(b, reply == NULL ? PLACEMENT_UNAVAILABLE :
	    PLACEMENT_ERROR);
}

static void
placement_batch_send(struct placement_batch *b)
{
	struct scripts_call c;

	if (placement_batch_build(b, &c) == -1 ||
	    rscript_run(b->rc, &c, placement_on_batch_reply, b) == -1) {
		placement_fail(b->req[0], "not sent (connection down)");
		placement_batch_fail(b, PLACEMENT_UNAVAILABLE);
		return;
	}
	if (pl.ninflight < PLACEMENT_PENDING_MAX)
		pl.inflight[pl.ninflight++] = b;
}

/* Is a batch of b's connection and script waiting for its answer? */
static int
placement_busy(const struct placement_batch *b)
{
	for (size_t i = 0; i < pl.ninflight; i++)
		if (pl.inflight[i]->rc == b->rc &&
		    pl.inflight[i]->script == b->script)
			return 1;
	return 0;
}

/* b's script answered (or never will): the next batch may go. */
static void
placement_landed(const struct placement_batch *b)
{
	for (size_t i = 0; i < pl.ninflight; i++)
		if (pl.inflight[i] == b) {
			pl.inflight[i] = pl.inflight[--pl.ninflight];
			return;
		}
}

/* Before the loop sleeps: send every waiting batch whose previous one has
 * been answered.  The list is detached first, as callbacks of a failed
 * send may queue new placements. */
static void
placement_hook(struct ev_loop *loop, void *arg)
{
	struct placement_batch *todo[PLACEMENT_PENDING_MAX];
	size_t n = pl.npending;

	(void)loop;
	(void)arg;
	memcpy(todo, pl.pending, n * sizeof(todo[0]));
	pl.npending = 0;
	for (size_t i = 0; i < n; i++) {
		if (!placement_busy(todo[i]))
			placement_batch_send(todo[i]);
		else if (pl.npending < PLACEMENT_PENDING_MAX)
			pl.pending[pl.npending++] = todo[i];
		else
			placement_batch_send(todo[i]);
	}
}

/* Keep the answers of b's script (a copy of those read) and ask for WAIT
 * on its connection. */
static void
placement_batch_hold(struct placement_batch *b,
    const struct placement_held *answers)
{
	if ((b->held = malloc(sizeof(*b->held))) == NULL) {
		placement_fail(b->req[0], "out of memory");
		placement_batch_fail(b, PLACEMENT_UNAVAILABLE);
		return;
	}
	memcpy(b->held->status, answers->status,
	    b->n * sizeof(answers->status[0]));
	memcpy(b->held->where, answers->where,
	    b->n * sizeof(answers->where[0]));
	if (rconn_command(b->rc, placement_on_wait, b, "WAIT %d %d",
	    pl.wait_replicas, pl.wait_ms) == -1) {
		placement_fail(b->req[0], "WAIT not sent (connection down)");
		placement_batch_fail(b, PLACEMENT_UNAVAILABLE);
	}
}

static void
placement_on_batch_reply(struct rconn *rc, redisReply *reply, void *arg)
{
	struct placement_batch *b = arg;
	struct placement_held answers;

	(void)rc;
	placement_landed(b);
	if (placement_parse_batch(reply, b->n, answers.status,
	    answers.where) == -1) {
		if (reply == NULL) {
			placement_fail(b->req[0], "connection lost");
			placement_batch_fail(b, PLACEMENT_UNAVAILABLE);
			return;
		} else if (reply->type == REDIS_REPLY_ERROR)
			placement_fail(b->req[0], "%.*s", (int)(reply->len < 200 ?
			    reply->len : 200), reply->str != NULL ? reply->str : "");
		else
			placement_fail(b->req[0], "unexpected reply (type %d)",
			    reply->type);
		placement_batch_fail(b, PLACEMENT_ERROR);
		return;
	}
	pl.failing = 0;
	for (size_t i = 0; i < b->n; i++)
		if (answers.status[i] == PLACEMENT_ERROR)
			placement_fail(b->req[i], "unexpected answer for one account");
	if (pl.wait_replicas > 0) {
		placement_batch_hold(b, &answers);
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		b->req[i]->cb(answers.status[i], &answers.where[i],
		    b->req[i]->arg);
		free(b->req[i]);
	}
	free(b);
}

void
placement_set_wait(int replicas, int timeout_ms)
{
	pl.wait_replicas = replicas;
	pl.wait_ms = timeout_ms;
}

/* Queue req in the waiting batch of its connection and script (max must
 * match too), sending a full batch at once.  0, or -1 (not queued). */
static int
placement_enqueue(struct placement_req *req)
{
	struct ev_loop *loop = rconn_loop(req->rc);
	struct placement_batch *b = NULL;

	if (!rconn_is_up(req->rc))
		return -1;
	if (pl.hooked != loop) {
		if (pl.hooked != NULL || ev_before_sleep_add(loop, placement_hook,
		    NULL) == -1)
			return -1;	/* one loop per process */
		pl.hooked = loop;
	}
	for (size_t i = 0; i < pl.npending && b == NULL; i++)
		if (pl.pending[i]->rc == req->rc &&
		    pl.pending[i]->script == req->script &&
		    pl.pending[i]->max == req->max)
			b = pl.pending[i];
	if (b == NULL) {
		if (pl.npending == PLACEMENT_PENDING_MAX ||
		    (b = calloc(1, sizeof(*b))) == NULL)
			return -1;
		b->rc = req->rc;
		b->script = req->script;
		b->max = req->max;
		pl.pending[pl.npending++] = b;
	}
	b->req[b->n++] = req;
	if (b->n == SCRIPTS_BATCH_MAX) {
		for (size_t i = 0; i < pl.npending; i++)
			if (pl.pending[i] == b)
				pl.pending[i] = pl.pending[--pl.npending];
		placement_batch_send(b);
	}
	return 0;
}

void
placement_drop(struct rconn *rc)
{
	for (size_t i = 0; i < pl.npending;) {
		struct placement_batch *b = pl.pending[i];

		if (b->rc != rc) {
			i++;
			continue;
		}
		pl.pending[i] = pl.pending[--pl.npending];
		placement_batch_fail(b, PLACEMENT_UNAVAILABLE);
	}
	if (pl.npending == 0 && pl.hooked != NULL) {
		ev_before_sleep_del(pl.hooked, placement_hook, NULL);
		pl.hooked = NULL;
	}
}

/* Queue a placement in its batch, or send any other call now.  0, or -1
 * (req freed, cb not called). */
static int
placement_submit(struct placement_req *req)
{
	int batched = req->script == SCRIPTS_PLACE_MASTER ||
	    req->script == SCRIPTS_PLACE_CLIENT;

	if ((batched ? placement_enqueue(req) : placement_send(req)) == 0)
		return 0;
	placement_fail(req, "not sent (connection down)");
	free(req);
	return -1;
}

/* Allocate and send one call.  0 or -1 (nothing sent, cb not called). */
static int
placement_start(struct rconn *rc, enum scripts_id script, const char *role,
    const char *actid, const char *master, const char *instance,
    long long max, placement_cb *cb, void *arg)
{
	struct placement_req *req;

	if (rc == NULL || cb == NULL || actid == NULL || actid[0] == '\0')
		return -1;
	if ((req = placement_req_new(rc, script, actid, master, instance, cb,
	    arg)) == NULL) {
		log_error("placement %s: out of memory", scripts_name(script));
		return -1;
	}
	req->role = role;
	req->max = max;
	return placement_submit(req);
}

int
placement_place_master(struct rconn *rc, const char *actid,
    long long max_per_master, placement_cb *cb, void *arg)
{
	return placement_start(rc, SCRIPTS_PLACE_MASTER, "master", actid, NULL,
	    NULL, max_per_master, cb, arg);
}

int
placement_place_client(struct rconn *rc, const char *actid, const char *master,
    long long max_per_client, placement_cb *cb, void *arg)
{
	if (master == NULL || master[0] == '\0')
		return -1;
	return placement_start(rc, SCRIPTS_PLACE_CLIENT, "client", actid, master,
	    NULL, max_per_client, cb, arg);
}

int
placement_release(struct rconn *rc, enum placement_role role,
    const char *actid, const char *master, const char *instance,
    placement_cb *cb, void *arg)
{
	return placement_start(rc, SCRIPTS_RELEASE, role == PLACEMENT_MASTER ?
	    "master" : "client", actid, master, instance, 0, cb, arg);
}

int
placement_locate(struct rconn *rc, enum placement_role role, const char *actid,
    placement_cb *cb, void *arg)
{
	return placement_start(rc, SCRIPTS_LOCATE, role == PLACEMENT_MASTER ?
	    "master" : "client", actid, NULL, NULL, 0, cb, arg);
}

int
placement_flush_tracking(struct rconn *rc, int max, int ms_per_kib,
    placement_cb *cb, void *arg)
{
	struct placement_req *req;

	if (rc == NULL || cb == NULL || max < 1 || ms_per_kib < 0 ||
	    (req = placement_req_new(rc, SCRIPTS_TRACKING_FLUSH, "", NULL, NULL,
	    cb, arg)) == NULL)
		return -1;
	req->role = "client";
	req->max = max;
	req->ms_per_kib = ms_per_kib;
	return placement_submit(req);
}

/* SCRIPT LOAD answered: it must be the digest olb computed. */
static void
placement_on_loaded(struct rconn *rc, redisReply *reply, void *arg)
{
	enum scripts_id id = (enum scripts_id)(uintptr_t)arg;
	const char *sha = scripts_sha(id);

	if (reply == NULL)
		return;		/* lost: the next EVALSHA falls back to EVAL */
	if (reply->type != REDIS_REPLY_STRING || reply->str == NULL ||
	    strcmp(reply->str, sha) != 0)
		log_warn("SCRIPT LOAD %s(%s): unexpected answer (want %s)",
		    scripts_name(id), rconn_addr(rc), sha);
}

int
placement_load(struct rconn *rc)
{
	if (rc == NULL || scripts_init() == -1)
		return -1;
	for (int i = 0; i < SCRIPTS_COUNT; i++)
		if (rconn_command(rc, placement_on_loaded, (void *)(uintptr_t)i,
		    "SCRIPT LOAD %s", scripts_source((enum scripts_id)i)) == -1)
			return -1;
	return 0;
}
