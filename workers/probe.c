/*
 * probe: one entry per instance probed, on a list and in a hash table by
 * id (a fleet of 10,000 instances is probed a few hundred times a second;
 * the health worker's table of every instance is its own).
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/httpc.h"
#include "common/registry.h"
#include "common/util.h"
#include "workers/probe.h"

#define PROBE_MAX_BODY	65536	/* a health answer longer than this fails */
#define PROBE_BUCKETS	64	/* the table's first size; it doubles */

struct probe {
	LIST_ENTRY(probe)	 entry;
	struct probe		*hnext;		/* in its bucket */
	uint32_t		 hash;
	struct probes		*owner;
	char			 id[REGISTRY_ID_MAX];
	struct httpc_req	*req;		/* in flight, or NULL */
	uint64_t		 started;	/* mono ms of the last start */
	probe_cb		*cb;
	void			*arg;
};

struct probes {
	struct ev_loop		*loop;
	struct httpc		*http;
	char			*path;
	long			 timeout_ms;
	unsigned int		 active;
	LIST_HEAD(, probe)	 list;
	struct probe		**buckets;	/* owned array */
	size_t			 nbuckets;	/* a power of two */
	size_t			 n;
};



struct probes *
probes_new(struct ev_loop *loop, struct httpc *http, const struct conf *conf)
{
	struct probes *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->nbuckets = PROBE_BUCKETS;
	if ((p->path = strdup(conf->health.path)) == NULL ||
	    (p->buckets = calloc(p->nbuckets, sizeof(*p->buckets))) == NULL) {
		free(p->path);
		free(p);
		return NULL;
	}
	p->loop = loop;
	p->http = http;
	p->timeout_ms = (long)conf->health.timeout_ms;
	LIST_INIT(&p->list);
	return p;
}

static struct probe *
probe_find(struct probes *p, const char *id)
{
	uint32_t hash = util_fnv1a(id);
	struct probe *e;

	for (e = p->buckets[hash & (p->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == hash && strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

/* Twice the buckets when the table is over twice full (kept as it is if
 * out of memory: only slower). */
static void
probe_grow(struct probes *p)
{
	size_t n = p->nbuckets * 2;
	struct probe **b, *e;

	if (p->n <= p->nbuckets * 2 || (b = calloc(n, sizeof(*b))) == NULL)
		return;
	LIST_FOREACH(e, &p->list, entry) {
		e->hnext = b[e->hash & (n - 1)];
		b[e->hash & (n - 1)] = e;
	}
	free(p->buckets);
	p->buckets = b;
	p->nbuckets = n;
}

static struct probe *
probe_add(struct probes *p, const char *id)
{
	struct probe *e, **b;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->owner = p;
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->hash = util_fnv1a(e->id);
	LIST_INSERT_HEAD(&p->list, e, entry);
	b = &p->buckets[e->hash & (p->nbuckets - 1)];
	e->hnext = *b;
	*b = e;
	p->n++;
	probe_grow(p);
	return e;
}

static void
probe_cancel(struct probe *e)
{
	if (e->req == NULL)
		return;
	httpc_cancel(e->req);
	e->req = NULL;
	e->owner->active--;
}

static void
probe_del(struct probe *e)
{
	struct probes *p = e->owner;
	struct probe **b = &p->buckets[e->hash & (p->nbuckets - 1)];

	probe_cancel(e);
	while (*b != e)
		b = &(*b)->hnext;
	*b = e->hnext;
	p->n--;
	LIST_REMOVE(e, entry);
	free(e);
}

static void
probe_done(const struct httpc_result *res, void *arg)
{
	struct probe *e = arg;
	struct probe_result r;
	char id[sizeof(e->id)];

	e->req = NULL;
	e->owner->active--;
	r.status = res->status;
	r.ok = res->error == NULL && res->status >= 200 && res->status <= 299;
	r.error = res->error;
	r.ms = ev_now(e->owner->loop) - e->started;
	/* The callback may forget the entry. */
	memcpy(id, e->id, sizeof(id));
	e->cb(id, &r, e->arg);
}

int
probes_start(struct probes *p, const char *id, const char *ip,
    unsigned int port, uint64_t min_interval_ms, probe_cb *cb, void *arg)
{
	uint64_t now = ev_now(p->loop);
	struct httpc_opts o;
	struct probe *e;
	char url[1200];
	int n;

	if (strlen(id) >= sizeof(e->id) || ip[0] == '\0' || port == 0 ||
	    port > 65535)
		return -1;
	if ((e = probe_find(p, id)) == NULL) {
		if ((e = probe_add(p, id)) == NULL)
			return -1;
	} else if (e->req != NULL || now - e->started < min_interval_ms)
		return 0;
	n = snprintf(url, sizeof(url), strchr(ip, ':') != NULL ?
	    "http://[%s]:%u%s" : "http://%s:%u%s", ip, port, p->path);
	if (n < 0 || (size_t)n >= sizeof(url))
		return -1;
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.timeout_ms = p->timeout_ms;
	o.max_body = PROBE_MAX_BODY;
	o.fresh = 1;
	e->cb = cb;
	e->arg = arg;
	e->started = now;
	if ((e->req = httpc_request(p->http, &o, probe_done, e)) == NULL)
		return -1;
	p->active++;
	return 1;
}

void
probes_forget(struct probes *p, const char *id)
{
	struct probe *e = probe_find(p, id);

	if (e != NULL)
		probe_del(e);
}

void
probes_prune(struct probes *p, int (*keep)(const char *id, void *arg),
    void *arg)
{
	struct probe *e, *next;

	for (e = LIST_FIRST(&p->list); e != NULL; e = next) {
		next = LIST_NEXT(e, entry);
		if (!keep(e->id, arg))
			probe_del(e);
	}
}

unsigned int
probes_active(const struct probes *p)
{
	return p->active;
}

void
probes_free(struct probes *p)
{
	if (p == NULL)
		return;
	while (!LIST_EMPTY(&p->list))
		probe_del(LIST_FIRST(&p->list));
	free(p->buckets);
	free(p->path);
	free(p);
}
