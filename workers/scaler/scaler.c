/*
 * scaler: the one process that changes the fleet (SPEC §5, §6).
 *
 * It acts only while its host holds the scaler lease in Redis (lease
 * script: SET NX PX, renewed every third of daemon.lease_ms, token
 * "<host>:<pid>#<fence>").  Every state write it makes carries that token
 * and is refused by Redis once the lease is gone, so two olb hosts sharing
 * one Redis never both launch.
 *
 * A reconcile pass, every SCALER_PASS_MS and soon after an event that
 * matters (a proxy found no capacity, the operator changed the fleet, an
 * instance changed state):
 *   1. once every write it sent is answered (so the snapshot holds its
 *      own last decisions), reads Redis' clock (every age is measured on
 *      it), the deployment, the desired fleet, the instance records, their
 *      counts and the launch reservations (a GET and four HGETALLs: the
 *      cost does not grow with the number of placements);
 *   2. plans with workers/scaler/fleet.c;
 *   3. carries the plan out: raises of the desired fleet, launches, drains,
 *      terminations, record removals.  A pending instance becomes running
 *      at its first 2xx health answer: the health worker's duty.
 *
 * A launch is reserved in Redis before the provider is asked (fleet script:
 * token -> name, counted as capacity at once), recorded as a pending
 * instance when the provider answers, and only then forgotten.  A scaler
 * killed at any point leaves a reservation, and the next leader launches it
 * again with the same token, which the provider answers with the instance
 * made the first time: no orphan, no duplicate.  Instances of this cluster
 * and deployment the provider lists but Redis does not know are adopted
 * (and only reported when of another deployment); records whose instance
 * the provider no longer has are marked terminated.
 *
 * Ownership: everything in flight (launches, terminations) is on
 * the scaler's lists and freed at cleanup; callbacks find their entry by
 * pointer on those lists.
 */
#include <sys/queue.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/conf.h"
#include "common/events.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/registry.h"
#include "common/rscript.h"
#include "common/scripts.h"
#include "common/util.h"
#include "workers/instance_state.h"
#include "workers/lease.h"
#include "workers/scaler/fleet.h"
#include "workers/scaler/provider.h"
#include "workers/worker.h"

#define SCALER_PASS_MS		1000	/* reconcile period */
#define SCALER_SWEEP_COUNT	256	/* mapping entries swept per pass */
#define SCALER_KICK_MS		50	/* least time between two passes */
#define SCALER_TERMINATED_KEEP_MS 600000 /* terminated records kept */
#define SCALER_GONE_GRACE_MS	60000	/* a new instance may not be listed yet */
#define SCALER_BACKOFF_MIN_MS	1000	/* after a failed launch, per role */
#define SCALER_BACKOFF_MAX_MS	60000
#define SCALER_TERM_RETRY_MIN_MS 1000	/* after a failed terminate, per instance */
#define SCALER_TERM_RETRY_MAX_MS 300000
#define SCALER_TERM_NOTIFY	3	/* failures in a row that notify, once */
#define SCALER_TOKEN_BYTES	8	/* launch tokens: 16 hex digits */
#define SCALER_LAUNCH_BURST	32	/* new launches per role and pass */
#define SCALER_READS		8	/* answers that make a pass's snapshot */
#define SCALER_BLOCK_AFTER	3	/* launches in a row never running */

/* Ids reported once: the ones of the last round, to tell new ones. */
struct scaler_ids {
	char		(*id)[PROVIDER_ID_MAX];
	size_t		 n;
};

/* One instance record of the snapshot. */
struct scaler_rec {
	struct registry_instance in;	/* count from instance_user_counts */
	int			 managed;	/* this provider and cluster */
};

/* One launch reservation of the snapshot. */
struct scaler_res {
	char		 token[PROVIDER_TOKEN_MAX];
	int		 is_master;
	char		 name[128];
};

/* A launch in flight. */
struct scaler_launch {
	LIST_ENTRY(scaler_launch)	 entry;
	char			 token[PROVIDER_TOKEN_MAX];
	int			 is_master;
	char			 name[128];
	struct provider_instance inst;	/* once the provider answered */
};

/* A termination, by instance id: in flight, or waiting to be tried again
 * after the provider failed it. */
struct scaler_term {
	LIST_ENTRY(scaler_term)	 entry;
	char			 id[PROVIDER_ID_MAX];
	int			 busy;		/* asked, no answer yet */
	int			 refused;	/* for good: until an operator
						   asks again (olbctl) */
	unsigned int		 failures;	/* in a row */
	uint64_t		 next_try;	/* mono ms: not before */
};

static struct scaler {
	struct worker		*w;
	const struct conf	*conf;
	struct provider		*prov;
	struct rconn		*sub;
	struct lease		*lease;
	struct ev_timer		 pass_timer;
	int			 passing, again, listing;
	/* Writes sent, not answered: a pass waits for them (held), so its
	 * snapshot always holds this scaler's own decisions, even when a
	 * write went again as EVAL after NOSCRIPT, behind the pass's reads. */
	int			 writing, held;
	int			 stopped;	/* cleaned up: late replies only */
	uint64_t		 last_pass, next_list;
	int			 exhausted[FLEET_ROLES];
	unsigned int		 never_ran[FLEET_ROLES];	/* in a row */
	char			 conf_print[17];	/* of the launch settings */
	uint64_t		 hold_until[FLEET_ROLES];
	uint64_t		 backoff[FLEET_ROLES];
	/* The last snapshot. */
	struct scaler_rec		*recs;
	size_t			 nrecs;
	struct scaler_res		*res;
	size_t			 nres;
	/* In flight. */
	LIST_HEAD(, scaler_launch)	 launches;
	LIST_HEAD(, scaler_term)	 terms;
	/* The provider's last list, and the instances in it of another
	 * deployment (reported once each). */
	struct provider_instance *listed;
	size_t			 nlisted;
	struct scaler_ids	 foreign;
	/* Drains past their timeout with accounts (reported once each while
	 * they stay draining). */
	struct scaler_ids	 stuck;
	/* Redis' clock (stateSince, lastRaise) at a monotonic time. */
	int64_t			 redis_ms;
	uint64_t		 redis_at;
	/* The deployment: made here if Redis has none, else Redis'. */
	char			 deployment[PROVIDER_TOKEN_MAX];
	char			 deployment_new[PROVIDER_TOKEN_MAX];
	uint64_t		 listed_at;	/* wall ms */
	int			 list_fresh;
	/* The pass being read: the desired fleet, answers so far. */
	struct {
		int		 up;
		int		 set;		/* state written (up or down) */
		long long	 desired[FLEET_ROLES];
		int64_t		 last_raise[FLEET_ROLES];
		int		 blocked[FLEET_ROLES];	/* by this configuration */
	}			 fleet;
	int			 panic[FLEET_ROLES];	/* the health worker's */
	int			 replies;
	int			 read_failed;	/* one of the pass's reads */
	/* The sweep of accounts whose instance is gone, per mapping, and
	 * the desired fleet it last saw (a failed read keeps it). */
	char			 sweep_cursor[FLEET_ROLES][32];
	int			 sweeping[FLEET_ROLES];
	int			 fleet_read;
	int			 fleet_down;
	struct metric		*scale_outs[FLEET_ROLES];	/* olb_scale_outs_total */
} sc;

static void	scaler_pass_kick(uint64_t delay);

/* Small helpers */

static int
scaler_leader(void)
{
	return sc.lease != NULL && lease_held(sc.lease);
}

/* The token of the scaler lease, for fenced writes. */
static const char *
scaler_token(void)
{
	return lease_token(sc.lease);
}

/* Redis' clock now, in ms: every age compares with times its scripts
 * wrote.  The host's clock until the first pass read it. */
static int64_t
scaler_now(void)
{
	if (sc.redis_ms == 0)
		return (int64_t)util_wall_ms();
	return sc.redis_ms + (int64_t)(ev_now(sc.w->loop) - sc.redis_at);
}

/* Add id to next; 1 if it was not in last (to be reported), else 0. */
static int
scaler_ids_note(const struct scaler_ids *last, struct scaler_ids *next,
    const char *id)
{
	snprintf(next->id[next->n++], PROVIDER_ID_MAX, "%s", id);
	for (size_t k = 0; k < last->n; k++)
		if (strcmp(last->id[k], id) == 0)
			return 0;
	return 1;
}

/* Add id to ids unless there; 1 if it was added (to be reported). */
static int
scaler_ids_add(struct scaler_ids *ids, const char *id)
{
	char (*nid)[PROVIDER_ID_MAX];

	for (size_t k = 0; k < ids->n; k++)
		if (strcmp(ids->id[k], id) == 0)
			return 0;
	if ((nid = realloc(ids->id, (ids->n + 1) * sizeof(*nid))) == NULL)
		return 0;
	ids->id = nid;
	snprintf(ids->id[ids->n++], PROVIDER_ID_MAX, "%s", id);
	return 1;
}

/* Room for n ids in next (emptied).  0 or -1. */
static int
scaler_ids_room(struct scaler_ids *next, size_t n)
{
	next->n = 0;
	if ((next->id = calloc(n + 1, sizeof(*next->id))) == NULL)
		return -1;
	return 0;
}

/* last becomes next (next is left empty). */
static void
scaler_ids_swap(struct scaler_ids *last, struct scaler_ids *next)
{
	free(last->id);
	*last = *next;
	next->id = NULL;
	next->n = 0;
}

static json_object *
scaler_fields(const char *id, const char *name, const char *role)
{
	json_object *o = json_object_new_object();

	if (id != NULL)
		json_object_object_add(o, "id", json_object_new_string(id));
	if (name != NULL && name[0] != '\0')
		json_object_object_add(o, "name", json_object_new_string(name));
	if (role != NULL)
		json_object_object_add(o, "instanceRole",
		    json_object_new_string(role));
	return o;
}

/* The event fields naming the instance of rec. */
static json_object *
scaler_rec_fields(const struct scaler_rec *rec)
{
	return scaler_fields(rec->in.id, rec->in.name, rec->in.is_master ?
	    "master" : "client");
}

static int
scaler_rec_cmp(const void *a, const void *b)
{
	return strcmp(((const struct scaler_rec *)a)->in.id,
	    ((const struct scaler_rec *)b)->in.id);
}

/* The snapshot's record of id, or NULL (the records are sorted by id). */
static struct scaler_rec *
scaler_rec_find(const char *id)
{
	struct scaler_rec key;

	if (sc.nrecs == 0 || strlen(id) >= sizeof(key.in.id))
		return NULL;
	snprintf(key.in.id, sizeof(key.in.id), "%s", id);
	return bsearch(&key, sc.recs, sc.nrecs, sizeof(*sc.recs), scaler_rec_cmp);
}

static struct scaler_term *
scaler_term_find(const char *id)
{
	struct scaler_term *t;

	LIST_FOREACH(t, &sc.terms, entry)
		if (strcmp(t->id, id) == 0)
			return t;
	return NULL;
}

static struct scaler_term *
scaler_term_add(const char *id)
{
	struct scaler_term *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	snprintf(t->id, sizeof(t->id), "%s", id);
	LIST_INSERT_HEAD(&sc.terms, t, entry);
	return t;
}

static void
scaler_term_del(struct scaler_term *t)
{
	LIST_REMOVE(t, entry);
	free(t);
}

static struct scaler_launch *
scaler_launch_find(const char *token)
{
	struct scaler_launch *l;

	LIST_FOREACH(l, &sc.launches, entry)
		if (strcmp(l->token, token) == 0)
			return l;
	return NULL;
}

static void
scaler_launch_del(struct scaler_launch *l)
{
	LIST_REMOVE(l, entry);
	free(l);
}

/* 1 if l is still on the list (its callback may come after a cleanup). */
static int
scaler_launch_live(const struct scaler_launch *l)
{
	struct scaler_launch *x;

	LIST_FOREACH(x, &sc.launches, entry)
		if (x == l)
			return 1;
	return 0;
}

/* A reply that is an error: log it; 1 if it was the lease fence (the lease
 * is then given up at once). */
static int
scaler_reply_failed(const char *what, const redisReply *r)
{
	if (sc.stopped)
		return 1;
	if (r == NULL) {
		log_warn("%s: no answer from Redis", what);
		return 1;
	}
	if (r->type != REDIS_REPLY_ERROR)
		return 0;
	log_warn("%s: %s", what, r->str);
	if (strstr(r->str, "FENCED") != NULL)
		lease_lost(sc.lease, "a write was fenced");
	return 1;
}

/* A write answered: a pass held for the writes comes now. */
static void
scaler_wrote(void)
{
	if (--sc.writing == 0 && sc.held) {
		sc.held = 0;
		scaler_pass_kick(0);
	}
}

struct scaler_writing {
	rconn_reply_cb	*cb;
	void		*arg;
};

static void
scaler_on_written(struct rconn *rc, redisReply *r, void *arg)
{
	struct scaler_writing x = *(struct scaler_writing *)arg;

	free(arg);
	if (x.cb != NULL)
		x.cb(rc, r, x.arg);
	scaler_wrote();
}

/* Send a (fenced) script call; cb gets NULL at once if Redis is down. */
static void
scaler_write(struct scripts_call *c, rconn_reply_cb *cb, void *arg)
{
	struct scaler_writing *x;

	if ((x = calloc(1, sizeof(*x))) != NULL) {
		x->cb = cb;
		x->arg = arg;
		if (rscript_run(sc.w->redis, c, scaler_on_written, x) == 0) {
			sc.writing++;
			return;
		}
		free(x);
	}
	log_warn("%s: Redis is down", scripts_name(c->id));
	if (cb != NULL)
		cb(sc.w->redis, NULL, arg);
}

static void
scaler_write_done(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	scaler_reply_failed(arg, r);
}

/* Reading the snapshot */

static const char *
scaler_json_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* One record from its JSON text; 0, or -1 if it is unusable. */
static int
scaler_rec_parse(const char *id, const char *json, struct scaler_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	if (strlen(id) >= sizeof(rec->in.id))
		return -1;
	registry_decode(id, json, &rec->in);
	if (strcmp(rec->in.state, "?") == 0)
		return -1;
	rec->managed = strcmp(rec->in.provider, sc.prov->ops->name) == 0 &&
	    strcmp(rec->in.cluster, sc.conf->provider.cluster) == 0;
	return 0;
}

static void
scaler_on_details(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	(void)arg;
	sc.replies++;
	free(sc.recs);
	sc.recs = NULL;
	sc.nrecs = 0;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0 ||
	    (r->elements > 0 && (sc.recs = calloc(r->elements / 2,
	    sizeof(*sc.recs))) == NULL)) {
		sc.read_failed = 1;
		return;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING &&
		    scaler_rec_parse(r->element[i]->str, r->element[i + 1]->str,
		    &sc.recs[sc.nrecs]) == 0)
			sc.nrecs++;
	/* Counts, list and callbacks find records by id: O(log n) each. */
	if (sc.nrecs > 1)
		qsort(sc.recs, sc.nrecs, sizeof(*sc.recs), scaler_rec_cmp);
}

static void
scaler_on_counts(struct rconn *rc, redisReply *r, void *arg)
{
	struct scaler_rec *rec;

	(void)rc;
	(void)arg;
	sc.replies++;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		sc.read_failed = 1;	/* every count would read 0 */
		return;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING &&
		    (rec = scaler_rec_find(r->element[i]->str)) != NULL)
			rec->in.count = strtoll(r->element[i + 1]->str, NULL, 10);
}

static void
scaler_on_fleet(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	(void)arg;
	sc.replies++;
	memset(&sc.fleet, 0, sizeof(sc.fleet));
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		sc.read_failed = 1;	/* not "down": unknown */
		return;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const char *k = r->element[i]->str, *v = r->element[i + 1]->str;

		if (r->element[i]->type != REDIS_REPLY_STRING ||
		    r->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(k, "state") == 0) {
			sc.fleet.up = strcmp(v, "up") == 0;
			sc.fleet.set = sc.fleet.up || strcmp(v, "down") == 0;
		}
		else if (strcmp(k, "masters") == 0)
			sc.fleet.desired[FLEET_MASTER] = strtoll(v, NULL, 10);
		else if (strcmp(k, "clients") == 0)
			sc.fleet.desired[FLEET_CLIENT] = strtoll(v, NULL, 10);
		else if (strcmp(k, "lastRaise:master") == 0)
			sc.fleet.last_raise[FLEET_MASTER] = strtoll(v, NULL, 10);
		else if (strcmp(k, "lastRaise:client") == 0)
			sc.fleet.last_raise[FLEET_CLIENT] = strtoll(v, NULL, 10);
		else if (strcmp(k, "blocked:master") == 0)
			sc.fleet.blocked[FLEET_MASTER] = strcmp(v, sc.conf_print) == 0;
		else if (strcmp(k, "blocked:client") == 0)
			sc.fleet.blocked[FLEET_CLIENT] = strcmp(v, sc.conf_print) == 0;
	}
	sc.fleet_read = 1;
	sc.fleet_down = sc.fleet.set && !sc.fleet.up;
	/* Cleared by an operator (or made by another configuration): the
	 * count starts again. */
	for (int role = 0; role < FLEET_ROLES; role++)
		if (!sc.fleet.blocked[role] && sc.never_ran[role] >= SCALER_BLOCK_AFTER)
			sc.never_ran[role] = 0;
}

static void	scaler_pass_plan(void);
static void	scaler_list_apply(void);

/* The roles in the health worker's panic: none of their instances is
 * replaced meanwhile. */
static void
scaler_on_panic(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	(void)arg;
	sc.replies++;
	sc.panic[FLEET_MASTER] = sc.panic[FLEET_CLIENT] = 0;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		sc.read_failed = 1;
		return;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		for (int role = 0; role < FLEET_ROLES; role++)
			if (r->element[i]->type == REDIS_REPLY_STRING &&
			    strcmp(r->element[i]->str,
			    fleet_role_name((enum fleet_role)role)) == 0)
				sc.panic[role] = 1;
}

/* Redis' clock, the one stateSince is written with. */
static void
scaler_on_time(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	(void)arg;
	sc.replies++;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING) {
		sc.read_failed = 1;
		return;
	}
	sc.redis_ms = strtoll(r->element[0]->str, NULL, 10) * 1000 +
	    strtoll(r->element[1]->str, NULL, 10) / 1000;
	sc.redis_at = ev_now_update(sc.w->loop);
}

/* SET NX of the deployment, which only a Redis without one takes. */
static void
scaler_on_deployment_set(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	(void)arg;
	sc.replies++;
	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		sc.read_failed = 1;
}

/* The deployment as Redis has it: the one made first (or set by an
 * operator: olbctl fleet deployment). */
static void
scaler_on_deployment(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	(void)arg;
	sc.replies++;
	if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0 ||
	    r->len >= sizeof(sc.deployment) || strspn(r->str,
	    "0123456789abcdefghijklmnopqrstuvwxyz-") != r->len) {
		sc.read_failed = 1;
		return;
	}
	if (strcmp(sc.deployment, r->str) == 0)
		return;
	log_info("deployment %s%s", r->str, sc.deployment[0] != '\0' ?
	    " (changed in Redis)" : "");
	memcpy(sc.deployment, r->str, r->len + 1);
}

/* The pass's reads are answered: a pass asked for meanwhile comes now. */
static void
scaler_pass_done(void)
{
	sc.passing = 0;
	if (sc.again) {
		sc.again = 0;
		scaler_pass_kick(SCALER_KICK_MS);
	}
}

static void
scaler_on_launches(struct rconn *rc, redisReply *r, void *arg)
{
	json_object *o;
	const char *s;

	(void)rc;
	(void)arg;
	sc.replies++;
	free(sc.res);
	sc.res = NULL;
	sc.nres = 0;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		sc.read_failed = 1;
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
	    (sc.res = calloc(r->elements / 2, sizeof(*sc.res))) != NULL) {
		for (size_t i = 0; i + 1 < r->elements; i += 2) {
			struct scaler_res *x = &sc.res[sc.nres];

			if (r->element[i]->type != REDIS_REPLY_STRING ||
			    r->element[i + 1]->type != REDIS_REPLY_STRING ||
			    strlen(r->element[i]->str) >= sizeof(x->token) ||
			    (o = json_tokener_parse(r->element[i + 1]->str)) == NULL)
				continue;
			snprintf(x->token, sizeof(x->token), "%s",
			    r->element[i]->str);
			x->is_master = (s = scaler_json_str(o, "role")) != NULL &&
			    strcmp(s, "master") == 0;
			snprintf(x->name, sizeof(x->name), "%s",
			    (s = scaler_json_str(o, "name")) != NULL ? s : "");
			json_object_put(o);
			sc.nres++;
		}
	}
	/* The last answer: plan only on a whole snapshot (a missing read is
	 * not an empty one). */
	if (sc.replies == SCALER_READS && !sc.read_failed)
		scaler_pass_plan();
	else
		scaler_pass_done();
}

/* Carrying the plan out: launches */

static void	scaler_launch_start(struct scaler_launch *l);

/* A launch of role failed: hold the role's launches (new and resumed)
 * for a backoff that doubles per failure in a row, with jitter. */
static void
scaler_launch_hold(enum fleet_role role)
{
	uint64_t now = ev_now(sc.w->loop);

	sc.backoff[role] = sc.backoff[role] == 0 ? SCALER_BACKOFF_MIN_MS :
	    sc.backoff[role] * 2;
	if (sc.backoff[role] > SCALER_BACKOFF_MAX_MS)
		sc.backoff[role] = SCALER_BACKOFF_MAX_MS;
	sc.hold_until[role] = now + sc.backoff[role] / 2 +
	    (uint64_t)random() % (sc.backoff[role] / 2 + 1);
}

/* A launch ended without an instance.  refused: it did not happen, and
 * its reservation goes; else its outcome is unknown (the answer was
 * lost), and the reservation stays, so the launch is resumed with the
 * same token after the backoff and the provider answers with what the
 * first call made, if it made anything. */
static void
scaler_launch_failed(struct scaler_launch *l, int refused, const char *error)
{
	enum fleet_role role = l->is_master ? FLEET_MASTER : FLEET_CLIENT;
	struct scripts_call c;
	json_object *f;

	f = scaler_fields(NULL, l->name, fleet_role_name(role));
	json_object_object_add(f, "error", json_object_new_string(error));
	json_object_object_add(f, "launch", json_object_new_string(l->token));
	json_object_object_add(f, "settled", json_object_new_boolean(refused));
	event_publish(EVENT_ERROR, "instance.launch_failed", f);
	log_error("launch of %s (%s) failed: %s%s", l->name, l->token, error,
	    refused ? "" : " (outcome unknown: resumed with the same token)");
	scaler_launch_hold(role);
	if (refused && scaler_leader() &&
	    scripts_call_fleet_forget(&c, scaler_token(), l->token) == 0)
		scaler_write(&c, NULL, NULL);
	scaler_launch_del(l);
}

static void
scaler_on_launch_forgotten(struct rconn *rc, redisReply *r, void *arg)
{
	struct scaler_launch *l = arg;

	(void)rc;
	scaler_reply_failed("fleet forget", r);
	if (scaler_launch_live(l))
		scaler_launch_del(l);
	scaler_pass_kick(SCALER_KICK_MS);
}

/* The record is written: the reservation can go. */
static void
scaler_on_launch_recorded(struct rconn *rc, redisReply *r, void *arg)
{
	struct scaler_launch *l = arg;
	struct scripts_call c;
	json_object *f;

	(void)rc;
	if (!scaler_launch_live(l))
		return;
	if (scaler_reply_failed("instance_put", r) || !scaler_leader() ||
	    scripts_call_fleet_forget(&c, scaler_token(), l->token) == -1) {
		scaler_launch_del(l);	/* the reservation stays: retried */
		return;
	}
	sc.backoff[l->is_master ? FLEET_MASTER : FLEET_CLIENT] = 0;
	f = scaler_fields(l->inst.id, l->name, l->is_master ? "master" : "client");
	json_object_object_add(f, "ip", json_object_new_string(l->inst.ip));
	json_object_object_add(f, "port", json_object_new_int(l->inst.port));
	event_publish(EVENT_INFO, "instance.launching", f);
	scaler_write(&c, scaler_on_launch_forgotten, l);
}

/* The record of a provider instance, as instance_put takes it (state
 * pending). */
static char *
scaler_record_json(const struct provider_instance *in, const char *name)
{
	json_object *o = json_object_new_object();
	char *s;

	json_object_object_add(o, "isMasterServer",
	    json_object_new_boolean(in->is_master));
	json_object_object_add(o, "serverName", json_object_new_string(name));
	json_object_object_add(o, "ip", json_object_new_string(in->ip));
	json_object_object_add(o, "port", json_object_new_int(in->port));
	json_object_object_add(o, "state", json_object_new_string("pending"));
	json_object_object_add(o, "provider",
	    json_object_new_string(sc.prov->ops->name));
	json_object_object_add(o, "cluster",
	    json_object_new_string(sc.conf->provider.cluster));
	if (in->deployment[0] != '\0')
		json_object_object_add(o, "deployment",
		    json_object_new_string(in->deployment));
	if (in->launch[0] != '\0')
		json_object_object_add(o, "launchToken",
		    json_object_new_string(in->launch));
	if (in->pid > 0)
		json_object_object_add(o, "pid", json_object_new_int64(in->pid));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* Record a provider instance as pending, fenced; cb gets the answer. */
static int
scaler_record(const struct provider_instance *in, const char *name,
    rconn_reply_cb *cb, void *arg)
{
	struct scripts_call c;
	char *json;
	int rv = -1;

	if ((json = scaler_record_json(in, name)) == NULL)
		return -1;
	if (scripts_call_instance_put(&c, in->id, json) == 0 &&
	    lease_fence(sc.lease, &c) == 0) {
		scaler_write(&c, cb, arg);
		rv = 0;
	}
	free(json);
	return rv;
}

static void
scaler_on_launched(enum provider_status st, const struct provider_instance *in,
    const char *error, void *arg)
{
	struct scaler_launch *l = arg;

	if (st != PROVIDER_OK) {
		scaler_launch_failed(l, st == PROVIDER_REFUSED,
		    error != NULL ? error : "launch failed");
		return;
	}
	l->inst = *in;
	if (!scaler_leader()) {
		scaler_launch_del(l);	/* the next leader finds it by token */
		return;
	}
	/* A resumed launch whose record was written before the crash keeps
	 * it (and its state): only the reservation goes. */
	if (scaler_rec_find(in->id) != NULL) {
		struct scripts_call c;

		if (scripts_call_fleet_forget(&c, scaler_token(), l->token) == 0) {
			scaler_write(&c, scaler_on_launch_forgotten, l);
			return;
		}
	}
	if (scaler_record(in, l->name, scaler_on_launch_recorded, l) == -1)
		scaler_launch_del(l);
}

static void
scaler_launch_start(struct scaler_launch *l)
{
	struct provider_launch pl = { l->token, sc.deployment, l->is_master,
	    l->name };

	log_info("launching %s %s (launch %s)", l->is_master ? "master" : "client",
	    l->name, l->token);
	if (sc.prov->ops->launch(sc.prov, &pl, scaler_on_launched, l) == -1)
		scaler_launch_failed(l, 1, "the provider cannot launch");
}

static struct scaler_launch *
scaler_launch_new(const char *token, int is_master, const char *name)
{
	struct scaler_launch *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	snprintf(l->token, sizeof(l->token), "%s", token);
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->is_master = is_master;
	LIST_INSERT_HEAD(&sc.launches, l, entry);
	return l;
}

static void
scaler_on_reserved(struct rconn *rc, redisReply *r, void *arg)
{
	struct scaler_launch *l = arg;

	(void)rc;
	if (!scaler_launch_live(l))
		return;
	if (scaler_reply_failed("fleet reserve", r) || r->type != REDIS_REPLY_STRING) {
		scaler_launch_del(l);
		return;
	}
	snprintf(l->name, sizeof(l->name), "%s", r->str);
	scaler_launch_start(l);
}

/* SCALER_TOKEN_BYTES random bytes in hex into buf.  0 or -1. */
static int
scaler_new_token(char *buf, size_t size)
{
	unsigned char raw[SCALER_TOKEN_BYTES];

	if (size < 2 * sizeof(raw) + 1 || RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(buf + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

/* Reserve and start one new launch of role. */
static void
scaler_launch_reserve(enum fleet_role role)
{
	char token[2 * SCALER_TOKEN_BYTES + 1];
	struct scripts_call c;
	struct scaler_launch *l;
	json_object *o;

	if (scaler_new_token(token, sizeof(token)) == -1)
		return;
	if ((l = scaler_launch_new(token, role == FLEET_MASTER, "")) == NULL)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "host", json_object_new_string(util_hostname()));
	if (scripts_call_fleet_reserve(&c, scaler_token(), token, fleet_role_name(role),
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) == 0)
		scaler_write(&c, scaler_on_reserved, l);
	else
		scaler_launch_del(l);
	json_object_put(o);
}

/* Reservations no launch of ours is working on (left by an earlier
 * scaler, or by a launch whose outcome is unknown): launch them again with
 * the same token, once the role's backoff allows. */
static void
scaler_launch_recover(void)
{
	uint64_t now = ev_now(sc.w->loop);

	for (size_t i = 0; i < sc.nres; i++) {
		struct scaler_res *x = &sc.res[i];
		enum fleet_role role = x->is_master ? FLEET_MASTER : FLEET_CLIENT;
		struct scaler_launch *l;

		if (now < sc.hold_until[role] || sc.fleet.blocked[role] ||
		    scaler_launch_find(x->token) != NULL ||
		    (l = scaler_launch_new(x->token, x->is_master, x->name)) == NULL)
			continue;
		log_info("resuming launch %s of %s", x->token, x->name);
		scaler_launch_start(l);
	}
}

/* Carrying the plan out: terminations */

/* A state change in flight; its follow-up runs only if Redis applied it
 * (the instance was still in state from); a termination not followed up goes. */
struct scaler_moving {
	void		(*then)(struct scaler_term *term);
	struct scaler_term	*term;
};

static void
scaler_on_moved(const char *id, int applied, void *arg)
{
	struct scaler_moving *m = arg;

	(void)id;
	if (sc.stopped)			/* the terms went at cleanup */
		;
	else if (applied && m->then != NULL && scaler_leader())
		m->then(m->term);
	else if (m->term != NULL)
		scaler_term_del(m->term);
	free(m);
	scaler_wrote();
}

/* Move rec from its state in the snapshot to state to; then the event type
 * (fields consumed; NULL: the instance's) and then(term). */
static void
scaler_transition(const struct scaler_rec *rec, const char *from, const char *to,
    const char *type, json_object *fields, void (*then)(struct scaler_term *),
    struct scaler_term *term)
{
	struct instance_move mv = {
		.id = rec->in.id, .from = from, .to = to, .event = type,
		.level = EVENT_INFO, .fields = fields,
	};
	struct scaler_moving *m;

	if (type != NULL && fields == NULL)
		mv.fields = scaler_rec_fields(rec);
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		json_object_put(mv.fields);
	} else {
		m->then = then;
		m->term = term;
		if (instance_state_move(sc.w->redis, sc.lease, &mv, scaler_on_moved,
		    m) == 0) {
			sc.writing++;
			return;
		}
		free(m);
	}
	if (term != NULL)
		scaler_term_del(term);
}

/* instance.terminate_failed for j: retry says whether it is tried again. */
static void
scaler_term_notify(const struct scaler_term *j, const char *error, int retry)
{
	json_object *f = scaler_fields(j->id, NULL, NULL);

	json_object_object_add(f, "error", json_object_new_string(error));
	json_object_object_add(f, "failures", json_object_new_int(
	    (int)j->failures));
	json_object_object_add(f, "retry", json_object_new_boolean(retry));
	event_publish(EVENT_NOTIFY, "instance.terminate_failed", f);
}

/* The provider failed to terminate j: try again after a backoff that
 * doubles per failure (with jitter), so an error that will not go away
 * (no permission, termination protection) costs a few calls, not one a
 * second; the operator hears of it once. */
static void
scaler_term_failed(struct scaler_term *j, const char *error)
{
	uint64_t wait = SCALER_TERM_RETRY_MIN_MS;

	j->busy = 0;
	j->failures++;
	for (unsigned int i = 1; i < j->failures &&
	    wait < SCALER_TERM_RETRY_MAX_MS; i++)
		wait *= 2;
	if (wait > SCALER_TERM_RETRY_MAX_MS)
		wait = SCALER_TERM_RETRY_MAX_MS;
	wait = wait / 2 + (uint64_t)random() % (wait / 2 + 1);
	j->next_try = ev_now(sc.w->loop) + wait;
	log_warn("terminate %s: %s (failure %u; next try in %llu ms)", j->id,
	    error != NULL ? error : "failed", j->failures,
	    (unsigned long long)wait);
	if (j->failures == SCALER_TERM_NOTIFY)
		scaler_term_notify(j, error != NULL ? error : "failed", 1);
}

/* The provider refused to terminate j for good (no permission,
 * termination protection): no more tries until an operator asks again
 * (olbctl instance terminate), and the operator hears of it now. */
static void
scaler_term_refused(struct scaler_term *j, const char *error)
{

	j->busy = 0;
	j->refused = 1;
	j->failures++;
	log_error("terminate %s: %s (refused: not tried again until an operator "
	    "asks)", j->id, error != NULL ? error : "refused");
	scaler_term_notify(j, error != NULL ? error : "refused", 0);
}

static void
scaler_on_terminate(const char *id, enum provider_status st, const char *error,
    void *arg)
{
	struct scaler_term *j = scaler_term_find(id);
	struct scaler_rec *rec = scaler_rec_find(id), gone;

	(void)arg;
	if (st != PROVIDER_OK) {
		if (j != NULL && st == PROVIDER_REFUSED)
			scaler_term_refused(j, error);
		else if (j != NULL)
			scaler_term_failed(j, error);
		return;
	}
	if (j != NULL)
		scaler_term_del(j);
	if (rec == NULL) {		/* not in this snapshot any more */
		memset(&gone, 0, sizeof(gone));
		snprintf(gone.in.id, sizeof(gone.in.id), "%s", id);
		rec = &gone;
	}
	log_info("%s %s terminated", id, rec->in.name);
	if (scaler_leader())
		scaler_transition(rec, "terminating", "terminated",
		    "instance.terminated", NULL, NULL, NULL);
}

/* The record says terminating: ask the provider. */
static void
scaler_terminate_now(struct scaler_term *j)
{
	const char *id = j->id;

	if (sc.prov->ops->terminate(sc.prov, &id, 1, scaler_on_terminate,
	    NULL) == -1)
		scaler_term_failed(j, "the provider refused the call");
}

/* Terminate rec: terminating, then the provider, then terminated; not
 * while a termination of it is in flight or waits for its next try.  1 if
 * this call started one, else 0. */
static int
scaler_terminate(const struct scaler_rec *rec, const char *why)
{
	struct scaler_term *j;
	json_object *f;

	if (!sc.prov->ops->can_launch)
		return 0;
	if ((j = scaler_term_find(rec->in.id)) != NULL) {
		if (j->busy || j->refused || ev_now(sc.w->loop) < j->next_try)
			return 0;
	} else if ((j = scaler_term_add(rec->in.id)) == NULL)
		return 0;
	j->busy = 1;
	log_info("terminating %s %s: %s (%lld accounts placed)", rec->in.id,
	    rec->in.name, why, rec->in.count);
	if (strcmp(rec->in.state, "terminating") == 0) {
		scaler_transition(rec, rec->in.state, "terminating", NULL, NULL,
		    scaler_terminate_now, j);
		return 1;
	}
	/* Into terminating: the event says why, and how many accounts were
	 * still placed (a fleet down past its drain deadline ends them). */
	f = scaler_rec_fields(rec);
	json_object_object_add(f, "reason", json_object_new_string(why));
	json_object_object_add(f, "accounts", json_object_new_int64(rec->in.count));
	scaler_transition(rec, rec->in.state, "terminating", "instance.terminating",
	    f, scaler_terminate_now, j);
	return 1;
}

/* Terminations waiting for a next try of records that are no longer
 * terminating go, and so do the stuck drains that are no longer
 * draining. */
static void
scaler_terms_prune(void)
{
	struct scaler_term *j, *next;
	struct scaler_rec *rec;
	size_t keep = 0;

	for (size_t k = 0; k < sc.stuck.n; k++)
		if ((rec = scaler_rec_find(sc.stuck.id[k])) != NULL &&
		    strcmp(rec->in.state, "draining") == 0)
			memmove(sc.stuck.id[keep++], sc.stuck.id[k],
			    PROVIDER_ID_MAX);
	sc.stuck.n = keep;

	for (j = LIST_FIRST(&sc.terms); j != NULL; j = next) {
		next = LIST_NEXT(j, entry);
		if (!j->busy && ((rec = scaler_rec_find(j->id)) == NULL ||
		    strcmp(rec->in.state, "terminating") != 0))
			scaler_term_del(j);
	}
}

static void	scaler_drain_stuck(const struct scaler_rec *rec,
		    long long accounts);

/* The retire script answered for j: {previous state, accounts placed}. */
static void
scaler_on_retired(struct rconn *rc, redisReply *r, void *arg)
{
	struct scaler_term *j = arg;
	const struct scaler_rec *rec;
	long long accounts;
	json_object *f;
	int moved;

	(void)rc;
	if (sc.stopped)			/* the terms went at cleanup */
		return;
	if (scaler_reply_failed("instance_retire", r) ||
	    r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_INTEGER ||
	    (rec = scaler_rec_find(j->id)) == NULL) {
		scaler_term_del(j);
		return;
	}
	accounts = r->element[1]->integer;
	moved = strcmp(r->element[0]->str, "draining") == 0 && accounts == 0;
	if (!moved) {
		/* The count read 0 but the placements say otherwise: wait,
		 * and tell the operator once the drain is overdue. */
		if (accounts > 0)
			log_debug("%s %s: %lld accounts still placed, not "
			    "terminated", rec->in.id, rec->in.name, accounts);
		if (accounts > 0 && scaler_now() - rec->in.state_since >=
		    sc.conf->scaling.drain_timeout_ms)
			scaler_drain_stuck(rec, accounts);
		scaler_term_del(j);
		return;
	}
	log_info("terminating %s %s: drained (no account placed)", rec->in.id,
	    rec->in.name);
	f = scaler_rec_fields(rec);
	json_object_object_add(f, "reason", json_object_new_string(
	    FLEET_WHY_DRAINED));
	json_object_object_add(f, "accounts", json_object_new_int64(0));
	event_publish(EVENT_INFO, "instance.terminating", f);
	if (scaler_leader())
		scaler_terminate_now(j);
	else
		scaler_term_del(j);
}

/* A drained instance whose count reads 0: terminating only if Redis
 * finds no account placed there (instance_retire), in the same script
 * that moves it, so no placement can come in between. */
static void
scaler_retire(const struct scaler_rec *rec)
{
	struct scaler_term *j;
	struct scripts_call c;

	if (!sc.prov->ops->can_launch || scaler_term_find(rec->in.id) != NULL ||
	    (j = scaler_term_add(rec->in.id)) == NULL)
		return;
	j->busy = 1;
	if (scripts_call_instance_retire(&c, rec->in.id, "draining") == -1 ||
	    lease_fence(sc.lease, &c) == -1)
		scaler_term_del(j);
	else
		scaler_write(&c, scaler_on_retired, j);
}

static void
scaler_drain_instance(const struct scaler_rec *rec, const char *why)
{
	json_object *f;

	if (!sc.prov->ops->can_launch)
		return;
	f = scaler_rec_fields(rec);
	json_object_object_add(f, "reason", json_object_new_string(why));
	json_object_object_add(f, "accounts", json_object_new_int64(rec->in.count));
	log_info("draining %s %s: %s", rec->in.id, rec->in.name, why);
	scaler_transition(rec, rec->in.state, "draining", "instance.draining", f, NULL,
	    NULL);
}

/* A drained instance still has accounts at its timeout (and the fleet is
 * not down): terminating it would end live sessions, so the operator hears
 * of it once and decides (olbctl instance terminate). */
static void
scaler_drain_stuck(const struct scaler_rec *rec, long long accounts)
{
	json_object *f;

	if (!scaler_ids_add(&sc.stuck, rec->in.id))
		return;
	log_warn("%s %s: drain timeout with %lld accounts placed: left running "
	    "until an operator decides", rec->in.id, rec->in.name, accounts);
	f = scaler_rec_fields(rec);
	json_object_object_add(f, "accounts", json_object_new_int64(accounts));
	json_object_object_add(f, "since", json_object_new_int64(
	    rec->in.state_since));
	event_publish(EVENT_NOTIFY, "instance.drain_stuck", f);
}

static void
scaler_forget(const struct scaler_rec *rec)
{
	struct scripts_call c;

	if (scripts_call_instance_remove(&c, rec->in.id) == 0 &&
	    lease_fence(sc.lease, &c) == 0)
		scaler_write(&c, scaler_write_done, (void *)"instance_remove");
}

/* Carrying the plan out: the desired fleet */

/* A launch of role never became running.  After SCALER_BLOCK_AFTER in a
 * row (a bad image, a security group that keeps the health check out) the
 * role stops launching: a fleet that never serves is not billed again and
 * again.  The block names this configuration, so a reload with another
 * one lifts it; so does olbctl fleet unblock. */
static void
scaler_never_ran(enum fleet_role role)
{
	const char *pairs[2];
	char field[32];
	struct scripts_call c;
	json_object *f;

	if (++sc.never_ran[role] < SCALER_BLOCK_AFTER || sc.fleet.blocked[role])
		return;
	snprintf(field, sizeof(field), "blocked:%s", fleet_role_name(role));
	pairs[0] = field;
	pairs[1] = sc.conf_print;
	if (scripts_call_fleet_desire(&c, scaler_token(), pairs, 2) == -1)
		return;
	scaler_write(&c, scaler_write_done, (void *)"fleet desire");
	sc.fleet.blocked[role] = 1;
	log_error("%s launches stopped: %u in a row never became running "
	    "(olbctl fleet unblock, or a reload with another configuration, "
	    "starts them again)", fleet_role_name(role), sc.never_ran[role]);
	f = json_object_new_object();
	json_object_object_add(f, "instanceRole",
	    json_object_new_string(fleet_role_name(role)));
	json_object_object_add(f, "failures", json_object_new_int(
	    (int)sc.never_ran[role]));
	json_object_object_add(f, "reason", json_object_new_string(
	    "launched instances never became healthy"));
	event_publish(EVENT_NOTIFY, "scale.blocked", f);
}

/* The settings a launch depends on, as a short digest: a block holds only
 * while they stay the same. */
static int
scaler_conf_print(const struct conf *c, char *out, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	char num[64];
	const char *parts[] = { num, c->provider.process.command,
	    c->provider.ec2.region, c->provider.ec2.ami_id,
	    c->provider.ec2.instance_type, c->provider.ec2.key_name,
	    c->provider.ec2.iam_instance_profile, c->provider.ec2.security_group,
	    c->provider.ec2.subnet_id, c->health.path };
	int ok;

	if (size < 17 || (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	snprintf(num, sizeof(num), "%d/%lld/%lld", (int)c->provider.type,
	    (long long)c->proxy.instance_port,
	    (long long)c->scaling.pending_timeout_ms);
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	for (size_t i = 0; ok && i < sizeof(parts) / sizeof(parts[0]); i++)
		ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1) == 1;
	for (size_t i = 0; ok && i < c->provider.ec2.ntags; i++)
		ok = EVP_DigestUpdate(ctx, c->provider.ec2.tags[i].key,
		    strlen(c->provider.ec2.tags[i].key) + 1) == 1 &&
		    EVP_DigestUpdate(ctx, c->provider.ec2.tags[i].value,
		    strlen(c->provider.ec2.tags[i].value) + 1) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= 8;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	for (size_t i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static void
scaler_raise(enum fleet_role role, long long from, long long to, const char *why,
    long long users)
{
	const char *pairs[4];
	char field[32], value[24], at[24], key[32];
	struct scripts_call c;
	json_object *f;

	snprintf(field, sizeof(field), "%s", role == FLEET_MASTER ? "masters" :
	    "clients");
	snprintf(value, sizeof(value), "%lld", to);
	snprintf(key, sizeof(key), "lastRaise:%s", fleet_role_name(role));
	snprintf(at, sizeof(at), "%lld", (long long)scaler_now());
	pairs[0] = field;
	pairs[1] = value;
	pairs[2] = key;
	pairs[3] = at;
	if (scripts_call_fleet_desire(&c, scaler_token(), pairs, 4) == -1)
		return;
	scaler_write(&c, scaler_write_done, (void *)"fleet desire");
	f = json_object_new_object();
	json_object_object_add(f, "instanceRole",
	    json_object_new_string(fleet_role_name(role)));
	json_object_object_add(f, "from", json_object_new_int64(from));
	json_object_object_add(f, "to", json_object_new_int64(to));
	json_object_object_add(f, "users", json_object_new_int64(users));
	json_object_object_add(f, "reason", json_object_new_string(why));
	event_publish(EVENT_NOTIFY, "scale.out", f);
	metric_add(sc.scale_outs[role], 1);
	log_info("scale out %ss: %lld -> %lld (%s)", fleet_role_name(role), from,
	    to, why);
}

/* The pass */

static void
scaler_rules(struct fleet_rules *r)
{
	const struct conf *c = sc.conf;

	memset(r, 0, sizeof(*r));
	r->threshold[FLEET_MASTER] = c->scaling.master_threshold;
	r->threshold[FLEET_CLIENT] = c->scaling.client_threshold;
	r->max_users[FLEET_MASTER] = c->scaling.max_users_per_master;
	r->max_users[FLEET_CLIENT] = c->scaling.max_users_per_client;
	r->cap[FLEET_MASTER] = c->scaling.max_masters;
	r->cap[FLEET_CLIENT] = c->scaling.max_clients;
	r->cooldown_ms = c->scaling.cooldown_ms;
	r->replace_after_ms = c->health.replace_after_ms;
	r->replace_max = c->scaling.replace_max;
	r->drain_timeout_ms = c->scaling.drain_timeout_ms;
	r->drain_force = c->scaling.drain_timeout_terminate;
	r->pending_timeout_ms = c->scaling.pending_timeout_ms;
	r->terminated_keep_ms = SCALER_TERMINATED_KEEP_MS;
}

/* The view of the managed instances (their records in idx). */
static void
scaler_view(struct fleet_view *v, struct fleet_instance *inst, size_t *idx)
{
	memset(v, 0, sizeof(*v));
	v->up = sc.fleet.up;
	v->unset = !sc.fleet.set;
	for (int r = 0; r < FLEET_ROLES; r++) {
		v->desired[r] = sc.fleet.desired[r];
		v->last_raise[r] = sc.fleet.last_raise[r];
	}
	v->now = scaler_now();
	for (int r = 0; r < FLEET_ROLES; r++) {
		v->exhausted[r] = sc.exhausted[r];
		v->blocked[r] = sc.fleet.blocked[r];
		v->panic[r] = sc.panic[r];
	}
	for (size_t i = 0; i < sc.nres; i++)
		v->launching[sc.res[i].is_master ? FLEET_MASTER : FLEET_CLIENT]++;
	for (size_t i = 0; i < sc.nrecs; i++) {
		struct scaler_rec *rec = &sc.recs[i];
		struct fleet_instance *in = &inst[v->n];

		if (!rec->managed)
			continue;
		in->id = rec->in.id;
		in->role = rec->in.is_master ? FLEET_MASTER : FLEET_CLIENT;
		in->state = fleet_state_parse(rec->in.state);
		in->count = rec->in.count;
		in->since = rec->in.state_since;
		in->order = rec->in.launch_order;
		idx[v->n++] = i;
	}
	v->inst = inst;
}

static void
scaler_carry_out(const struct fleet_view *v, const struct fleet_plan *p,
    const size_t *idx)
{
	uint64_t now = ev_now(sc.w->loop);

	/* The instances' actions first: a launch that never ran may block
	 * its role, and the replacement the plan has for it must not go. */
	for (size_t a = 0; a < p->nacts; a++) {
		const struct scaler_rec *rec = &sc.recs[idx[p->acts[a].index]];

		switch (p->acts[a].what) {
		case FLEET_DRAIN:
			scaler_drain_instance(rec, p->acts[a].why);
			break;
		case FLEET_FAIL:
			/* Once per instance, however many passes see it. */
			if (!scaler_terminate(rec, p->acts[a].why))
				break;
			event_publish(EVENT_ERROR, "instance.launch_failed",
			    scaler_rec_fields(rec));
			scaler_never_ran(v->inst[p->acts[a].index].role);
			break;
		case FLEET_TERMINATE:
			if (strcmp(p->acts[a].why, FLEET_WHY_DRAINED) == 0)
				scaler_retire(rec);
			else
				(void)scaler_terminate(rec, p->acts[a].why);
			break;
		case FLEET_FORGET:
			scaler_forget(rec);
			break;
		case FLEET_STUCK:
			scaler_drain_stuck(rec, rec->in.count);
			break;
		}
	}
	for (int r = 0; r < FLEET_ROLES; r++) {
		if (p->raised[r] != NULL) {
			long long users = 0;

			for (size_t i = 0; i < v->n; i++)
				if (v->inst[i].role == (enum fleet_role)r)
					users += v->inst[i].count;
			scaler_raise((enum fleet_role)r, v->desired[r], p->desired[r],
			    p->raised[r], users);
		}
		sc.exhausted[r] = 0;
		if (now < sc.hold_until[r] || sc.fleet.blocked[r])
			continue;
		/* The rest of a large launch comes with the next passes (its
		 * reservations count as capacity meanwhile). */
		for (long long k = 0; k < p->launch[r] && k < SCALER_LAUNCH_BURST &&
		    sc.prov->ops->can_launch; k++)
			scaler_launch_reserve((enum fleet_role)r);
	}
}

static void
scaler_pass_plan(void)
{
	struct fleet_instance *inst;
	struct fleet_action *acts;
	struct fleet_rules rules;
	struct fleet_view v;
	struct fleet_plan p;
	unsigned char *active;
	size_t *idx;

	scaler_pass_done();
	if (!scaler_leader())
		return;
	inst = calloc(sc.nrecs + 1, sizeof(*inst));
	acts = calloc(sc.nrecs + 1, sizeof(*acts));
	active = calloc(sc.nrecs + 1, 1);
	idx = calloc(sc.nrecs + 1, sizeof(*idx));
	if (inst != NULL && acts != NULL && active != NULL && idx != NULL) {
		scaler_rules(&rules);
		scaler_view(&v, inst, idx);
		memset(&p, 0, sizeof(p));
		p.acts = acts;
		p.active = active;
		/* A provider that cannot launch (static) has no fleet to plan:
		 * its list is the fleet. */
		if (sc.prov->ops->can_launch) {
			fleet_plan(&v, &rules, &p);
			scaler_carry_out(&v, &p, idx);
			scaler_launch_recover();
		}
		log_debug("pass: %zu records (%zu managed), %zu reservations, "
		    "%zu actions, launch %lld+%lld, %llu ms", sc.nrecs, v.n,
		    sc.nres, p.nacts, p.launch[FLEET_MASTER], p.launch[FLEET_CLIENT],
		    (unsigned long long)(ev_now_update(sc.w->loop) - sc.last_pass));
		scaler_list_apply();
		scaler_terms_prune();
	}
	free(inst);
	free(acts);
	free(active);
	free(idx);
}

/* Listing: adoption of unknown instances, retirement of vanished ones */

static int
scaler_reserved(const char *token)
{
	if (token[0] == '\0')
		return 0;
	for (size_t i = 0; i < sc.nres; i++)
		if (strcmp(sc.res[i].token, token) == 0)
			return 1;
	return scaler_launch_find(token) != NULL;
}

static void
scaler_on_adopted(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	(void)arg;
	scaler_reply_failed("instance_put (adopt)", r);
}

/* Keep the provider's list for the next pass, which compares it with a
 * snapshot read after it. */
static void
scaler_on_list(int ok, const struct provider_instance *v, size_t n,
    const char *error, void *arg)
{
	(void)arg;
	sc.listing = 0;
	if (!ok) {
		log_warn("provider %s: list: %s", sc.prov->ops->name, error);
		return;
	}
	free(sc.listed);
	sc.nlisted = 0;
	sc.list_fresh = 0;
	if ((sc.listed = calloc(n + 1, sizeof(*sc.listed))) == NULL)
		return;
	if (n > 0)
		memcpy(sc.listed, v, n * sizeof(*v));
	sc.nlisted = n;
	sc.listed_at = (uint64_t)scaler_now();
	sc.list_fresh = 1;
	scaler_pass_kick(SCALER_KICK_MS);
}

static int
scaler_listed(const char *id)
{
	for (size_t k = 0; k < sc.nlisted; k++)
		if (strcmp(sc.listed[k].id, id) == 0)
			return 1;
	return 0;
}

/* An instance of the cluster but of another deployment (or of none: made
 * before deployments, or by hand): never adopted, so never drained or
 * terminated; the operator hears of it once. */
static void
scaler_foreign_add(const struct provider_instance *in, struct scaler_ids *next)
{
	json_object *f;

	if (!scaler_ids_note(&sc.foreign, next, in->id))
		return;
	log_warn("%s %s (%s:%u) is of cluster %s but of deployment \"%s\", not "
	    "%s: left alone", in->id, in->name, in->ip, (unsigned int)in->port,
	    sc.conf->provider.cluster, in->deployment, sc.deployment);
	f = scaler_fields(in->id, in->name, in->is_master ? "master" : "client");
	json_object_object_add(f, "deployment",
	    json_object_new_string(in->deployment));
	json_object_object_add(f, "ours", json_object_new_string(sc.deployment));
	event_publish(EVENT_NOTIFY, "instance.foreign", f);
}

/* Adopt the listed instances of this deployment that Redis does not know
 * (no record, no reservation); report those of another; terminate again
 * those recorded as terminated that still run; mark terminated the records
 * whose instance the list lacks, when the record is older than the list by
 * the grace. */
static void
scaler_list_apply(void)
{
	uint64_t grace = sc.prov->ops->list_ms > SCALER_PASS_MS ?
	    SCALER_GONE_GRACE_MS : 2 * SCALER_PASS_MS;
	const struct provider_instance *v = sc.listed;
	struct scaler_ids foreign;
	json_object *f;

	if (!sc.list_fresh || scaler_ids_room(&foreign, sc.nlisted) == -1)
		return;
	sc.list_fresh = 0;
	for (size_t i = 0; i < sc.nlisted; i++) {
		struct scaler_rec *rec = scaler_rec_find(v[i].id);

		if (rec != NULL) {
			if (rec->managed && strcmp(rec->in.state, "terminated") == 0)
				(void)scaler_terminate(rec, "terminated but still listed");
			continue;
		}
		if (scaler_reserved(v[i].launch))
			continue;
		/* A provider that cannot launch lists what the configuration
		 * names: those are this deployment's by definition. */
		if (sc.prov->ops->can_launch &&
		    strcmp(v[i].deployment, sc.deployment) != 0) {
			scaler_foreign_add(&v[i], &foreign);
			continue;
		}
		log_info("adopting %s %s (%s:%u)", v[i].id, v[i].name, v[i].ip,
		    (unsigned int)v[i].port);
		event_publish(EVENT_NOTIFY, "instance.adopted", scaler_fields(v[i].id,
		    v[i].name, v[i].is_master ? "master" : "client"));
		scaler_record(&v[i], v[i].name[0] ? v[i].name : v[i].id,
		    scaler_on_adopted, NULL);
	}
	for (size_t i = 0; i < sc.nrecs; i++) {
		struct scaler_rec *rec = &sc.recs[i];

		if (!rec->managed || strcmp(rec->in.state, "terminated") == 0 ||
		    scaler_term_find(rec->in.id) != NULL || scaler_listed(rec->in.id) ||
		    rec->in.state_since + (int64_t)grace > (int64_t)sc.listed_at)
			continue;
		log_warn("%s %s is gone from the provider", rec->in.id, rec->in.name);
		f = scaler_rec_fields(rec);
		json_object_object_add(f, "reason", json_object_new_string("gone"));
		scaler_transition(rec, rec->in.state, "terminated", "instance.terminated",
		    f, NULL, NULL);
	}
	scaler_ids_swap(&sc.foreign, &foreign);
}

/* The pass timer */

/* A sweep call answered: {next cursor, accounts released}. */
static void
scaler_on_swept(struct rconn *rc, redisReply *r, void *arg)
{
	enum fleet_role role = (enum fleet_role)(uintptr_t)arg;

	(void)rc;
	sc.sweeping[role] = 0;
	if (sc.stopped || scaler_reply_failed("sweep", r))
		return;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[0]->len >= sizeof(sc.sweep_cursor[role]) ||
	    r->element[1]->type != REDIS_REPLY_INTEGER) {
		log_warn("sweep: unexpected answer");
		return;
	}
	memcpy(sc.sweep_cursor[role], r->element[0]->str, r->element[0]->len + 1);
	if (r->element[1]->integer > 0)
		log_info("sweep: released %lld %s accounts of instances that are "
		    "gone", r->element[1]->integer, role == FLEET_MASTER ?
		    "master" : "client");
}

/* One slice of each mapping per pass: accounts whose instance is gone are
 * released (SPEC §8: no key grows without bound), SCALER_SWEEP_COUNT
 * entries looked at per mapping and pass. */
static void
scaler_sweep(void)
{
	struct scripts_call c;

	/* While the desired fleet is down (a teardown, and until the next
	 * launch), the accounts of terminated instances wait: daily_reset
	 * archives the day's placements and then clears them, and a sweep
	 * first would leave them out of the archive.  Before the desired
	 * fleet was read, nothing is swept. */
	if (!sc.fleet_read)
		return;
	for (int role = 0; role < FLEET_ROLES; role++) {
		if (sc.sweeping[role])
			continue;
		if (sc.sweep_cursor[role][0] == '\0')
			strcpy(sc.sweep_cursor[role], "0");
		if (scripts_call_sweep(&c, role == FLEET_MASTER ? "master" :
		    "client", sc.sweep_cursor[role], SCALER_SWEEP_COUNT,
		    sc.fleet_down) == 0 &&
		    rscript_run(sc.w->redis, &c, scaler_on_swept,
		    (void *)(uintptr_t)role) == 0)
			sc.sweeping[role] = 1;
	}
}

static void
scaler_pass_start(void)
{
	uint64_t now = ev_now(sc.w->loop);

	if (!scaler_leader() || !rconn_is_up(sc.w->redis))
		return;
	if (sc.passing) {
		sc.again = 1;
		return;
	}
	if (sc.writing > 0) {
		sc.held = 1;
		return;
	}
	sc.passing = 1;
	sc.replies = 0;
	sc.read_failed = 0;
	sc.last_pass = now;
	/* Redis keeps the deployment; one that lost it (FLUSHALL) gets back
	 * the one this scaler knows. */
	if (rconn_command(sc.w->redis, scaler_on_time, NULL, "TIME") == -1 ||
	    rconn_command(sc.w->redis, scaler_on_deployment_set, NULL,
	    "SET %s %s NX", keys_deployment(), sc.deployment[0] != '\0' ?
	    sc.deployment : sc.deployment_new) == -1 ||
	    rconn_command(sc.w->redis, scaler_on_deployment, NULL, "GET %s",
	    keys_deployment()) == -1 ||
	    rconn_command(sc.w->redis, scaler_on_details, NULL, "HGETALL %s",
	    keys_instance_details()) == -1 ||
	    rconn_command(sc.w->redis, scaler_on_counts, NULL, "HGETALL %s",
	    keys_instance_user_counts()) == -1 ||
	    rconn_command(sc.w->redis, scaler_on_fleet, NULL, "HGETALL %s",
	    keys_fleet()) == -1 ||
	    rconn_command(sc.w->redis, scaler_on_panic, NULL, "HGETALL %s",
	    keys_health_panic()) == -1 ||
	    rconn_command(sc.w->redis, scaler_on_launches, NULL, "HGETALL %s",
	    keys_launches()) == -1) {
		sc.passing = 0;
		return;
	}
	scaler_sweep();
	if (!sc.listing && now >= sc.next_list) {
		sc.next_list = now + sc.prov->ops->list_ms;
		if (sc.prov->ops->list(sc.prov, scaler_on_list, NULL) == 0)
			sc.listing = 1;
	}
}

static void
scaler_pass_tick(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)arg;
	scaler_pass_start();
	ev_timer_start(loop, t, SCALER_PASS_MS, scaler_pass_tick, NULL);
}

/* A pass soon (after delay ms, or at once if a pass is running: after it). */
static void
scaler_pass_kick(uint64_t delay)
{
	uint64_t when;

	if (sc.stopped)
		return;
	when = ev_now(sc.w->loop) + delay;
	if (sc.passing) {
		sc.again = 1;
		return;
	}
	/* Never later than it already is: a stream of kicks must not keep
	 * pushing the pass away. */
	if (sc.pass_timer.armed && sc.pass_timer.when <= when)
		return;
	ev_timer_start(sc.w->loop, &sc.pass_timer, delay, scaler_pass_tick, NULL);
}

/* Events from the other processes */

/* An operator acted on instance id (olbctl): a terminate given up on is
 * tried again at once. */
static void
scaler_operator_asked(const char *id)
{
	struct scaler_term *j;

	if (id == NULL || (j = scaler_term_find(id)) == NULL || j->busy)
		return;
	j->refused = 0;
	j->failures = 0;
	j->next_try = 0;
}

static void
scaler_on_event(struct rconn *rc, const char *channel, const char *msg,
    size_t len, void *arg)
{
	json_object *o, *t;
	const char *type, *role, *from;

	(void)rc;
	(void)channel;
	(void)arg;
	if (len > 65536 || (o = json_tokener_parse(msg)) == NULL)
		return;
	type = json_object_object_get_ex(o, "type", &t) ?
	    json_object_get_string(t) : "";
	from = scaler_json_str(o, "role");
	if (strcmp(type, "capacity.exhausted") == 0) {
		role = scaler_json_str(o, "instanceRole");
		if (role == NULL)
			role = "client";
		sc.exhausted[strcmp(role, "master") == 0 ? FLEET_MASTER :
		    FLEET_CLIENT] = 1;
		scaler_pass_kick(SCALER_KICK_MS);
	} else if (strcmp(type, "instance.running") == 0) {
		/* The health worker saw a launch of this role answer: the
		 * launches that never ran are no longer in a row. */
		role = scaler_json_str(o, "instanceRole");
		if (role != NULL)
			sc.never_ran[strcmp(role, "master") == 0 ? FLEET_MASTER :
			    FLEET_CLIENT] = 0;
		scaler_pass_kick(SCALER_KICK_MS);
	} else if ((strcmp(type, "fleet.changed") == 0 ||
	    strncmp(type, "instance.", 9) == 0) &&
	    (from == NULL || strcmp(from, "scaler") != 0)) {
		if (from != NULL && strcmp(from, "olbctl") == 0)
			scaler_operator_asked(scaler_json_str(o, "id"));
		scaler_pass_kick(SCALER_KICK_MS);
	}
	json_object_put(o);
}

/* The role */

static void
scaler_on_lease(struct lease *l, int held, void *arg)
{
	(void)l;
	(void)arg;
	if (held) {
		sc.next_list = 0;
		scaler_pass_kick(0);
	}
}

static int
scaler_start(struct worker *w)
{
	memset(&sc, 0, sizeof(sc));
	sc.w = w;
	sc.conf = w->conf;
	for (int r = 0; r < FLEET_ROLES; r++)
		sc.scale_outs[r] = metric_counter("olb_scale_outs_total",
		    "role=\"%s\"", fleet_role_name((enum fleet_role)r));
	srandom((unsigned int)(getpid() ^ util_mono_ms()));
	if (scaler_new_token(sc.deployment_new, sizeof(sc.deployment_new)) == -1 ||
	    scaler_conf_print(w->conf, sc.conf_print, sizeof(sc.conf_print)) == -1)
		return -1;
	if ((sc.prov = provider_new(w->conf, w->loop)) == NULL) {
		log_error("provider %s cannot start",
		    conf_provider_name(w->conf->provider.type));
		return -1;
	}
	if ((sc.lease = lease_new(w->redis, "scaler", w->conf->daemon.lease_ms,
	    scaler_on_lease, NULL)) == NULL)
		return -1;
	sc.sub = rconn_new(w->loop, w->conf, "scaler-events", NULL, NULL);
	if (sc.sub == NULL || rconn_subscribe(sc.sub, keys_events_channel(),
	    scaler_on_event, NULL) == -1)
		return -1;
	log_info("provider %s, cluster %s", sc.prov->ops->name,
	    w->conf->provider.cluster);
	lease_start(sc.lease);
	ev_timer_start(w->loop, &sc.pass_timer, SCALER_PASS_MS, scaler_pass_tick,
	    NULL);
	return 0;
}

static void
scaler_redis_state(struct worker *w, int up)
{
	(void)w;
	if (up)
		lease_retry(sc.lease);
}

/* Stop: give the lease back so another scaler (the next generation after a
 * reload, or another host) takes over at once.  Launches in flight keep
 * their reservations and are resumed by the next leader. */
static void
scaler_drain(struct worker *w)
{
	ev_timer_stop(w->loop, &sc.pass_timer);
	worker_done_after_lease(w, sc.lease);
}

static void
scaler_cleanup(struct worker *w)
{
	(void)w;
	while (!LIST_EMPTY(&sc.terms))
		scaler_term_del(LIST_FIRST(&sc.terms));
	provider_free(sc.prov);
	sc.prov = NULL;
	while (!LIST_EMPTY(&sc.launches))
		scaler_launch_del(LIST_FIRST(&sc.launches));
	rconn_free(sc.sub);
	free(sc.recs);
	free(sc.res);
	free(sc.listed);
	free(sc.foreign.id);
	free(sc.stuck.id);
	memset(&sc.foreign, 0, sizeof(sc.foreign));
	memset(&sc.stuck, 0, sizeof(sc.stuck));
	sc.recs = NULL;
	sc.res = NULL;
	sc.listed = NULL;
	sc.nrecs = sc.nres = sc.nlisted = 0;
	lease_free(sc.lease);
	sc.sub = NULL;
	sc.lease = NULL;
	/* The worker frees its Redis connection after this: replies still
	 * pending come back as NULL and must find nothing to act on. */
	sc.stopped = 1;
}

static const struct worker_role_ops scaler_ops = {
	.start = scaler_start,
	.drain = scaler_drain,
	.redis_state = scaler_redis_state,
	.cleanup = scaler_cleanup,
};

int
scaler_main(struct worker *w)
{
	return worker_run(w, &scaler_ops);
}
