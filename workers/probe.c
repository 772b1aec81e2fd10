/*
 * probe: one entry per instance probed, on a list (the scaler probes only
 * its pending instances; the health worker's table of every instance is
 * its own).
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/httpc.h"
#include "common/registry.h"
#include "workers/probe.h"

#define PROBE_MAX_BODY	65536	/* a health answer longer than this fails */

struct probe {
	LIST_ENTRY(probe)	 entry;
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
};

struct probes *
probes_new(struct ev_loop *loop, struct httpc *http, const struct conf *conf)
{
	struct probes *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((p->path = strdup(conf->health.path)) == NULL) {
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
	struct probe *e;

	LIST_FOREACH(e, &p->list, entry)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
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
	probe_cancel(e);
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
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return -1;
		e->owner = p;
		snprintf(e->id, sizeof(e->id), "%s", id);
		LIST_INSERT_HEAD(&p->list, e, entry);
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
	free(p->path);
	free(p);
}
