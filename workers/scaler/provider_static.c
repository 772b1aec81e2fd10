/*
 * provider_static: a fixed list of ip:port per role (SPEC §6,
 * provider.static.masters and .clients).  Nothing is launched or
 * terminated; listing answers the configured addresses, so the scaler
 * registers each one (pending until its health endpoint answers) and
 * retires the records of addresses a reload removed.
 *
 * Ids are "static-<ip>:<port>" and names Master_Listener-N /
 * Client_Listener-N by position in the list.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/ev.h"
#include "workers/scaler/provider.h"

struct ps_op {
	LIST_ENTRY(ps_op)	 entry;
	struct provider		*p;
	struct ev_timer		 timer;
	provider_list_cb	*cb;
	void			*arg;
};

struct ps {
	LIST_HEAD(, ps_op)	 ops;
};

/* inst from "ip:port" of list; 0, or -1 if the entry does not parse. */
static int
ps_instance(const char *entry, int is_master, size_t index,
    struct provider_instance *inst)
{
	const char *colon = strrchr(entry, ':');
	long port;

	memset(inst, 0, sizeof(*inst));
	if (colon == NULL || (size_t)(colon - entry) >= sizeof(inst->ip) ||
	    (port = strtol(colon + 1, NULL, 10)) < 1 || port > 65535 ||
	    strlen(entry) + 8 > sizeof(inst->id))
		return -1;
	snprintf(inst->id, sizeof(inst->id), "static-%s", entry);
	memcpy(inst->ip, entry, (size_t)(colon - entry));
	inst->port = (uint16_t)port;
	inst->is_master = is_master;
	snprintf(inst->name, sizeof(inst->name), "%s_Listener-%zu",
	    is_master ? "Master" : "Client", index + 1);
	snprintf(inst->state, sizeof(inst->state), "running");
	return 0;
}

static void
ps_op_free(struct ps_op *op)
{
	LIST_REMOVE(op, entry);
	ev_timer_stop(op->p->loop, &op->timer);
	free(op);
}

static void
ps_list_done(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct ps_op *op = arg;
	const struct conf *conf = op->p->conf;
	const struct conf_strlist *lists[2] = { &conf->provider.static_.masters,
	    &conf->provider.static_.clients };
	struct provider_instance *v;
	size_t n = 0;

	(void)loop;
	(void)t;
	v = calloc(lists[0]->n + lists[1]->n + 1, sizeof(*v));
	if (v == NULL) {
		op->cb(0, NULL, 0, "out of memory", op->arg);
	} else {
		for (int r = 0; r < 2; r++)
			for (size_t i = 0; i < lists[r]->n; i++)
				if (ps_instance(lists[r]->v[i], r == 0, i,
				    &v[n]) == 0)
					n++;
		op->cb(1, v, n, NULL, op->arg);
	}
	free(v);
	ps_op_free(op);
}

static int
ps_list(struct provider *p, provider_list_cb *cb, void *arg)
{
	struct ps *ps = p->impl;
	struct ps_op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return -1;
	op->p = p;
	op->cb = cb;
	op->arg = arg;
	LIST_INSERT_HEAD(&ps->ops, op, entry);
	ev_timer_start(p->loop, &op->timer, 0, ps_list_done, op);
	return 0;
}

/* Launching and terminating are refused: the list is the fleet. */
static int
ps_launch(struct provider *p, const struct provider_launch *l,
    provider_launch_cb *cb, void *arg)
{
	(void)p;
	(void)l;
	(void)cb;
	(void)arg;
	return -1;
}

static int
ps_terminate(struct provider *p, const char *const *ids, size_t n,
    provider_terminate_cb *cb, void *arg)
{
	(void)p;
	(void)ids;
	(void)n;
	(void)cb;
	(void)arg;
	return -1;
}

static void
ps_free(struct provider *p)
{
	struct ps *ps = p->impl;

	while (!LIST_EMPTY(&ps->ops))
		ps_op_free(LIST_FIRST(&ps->ops));
	free(ps);
	p->impl = NULL;
}

static const struct provider_ops ps_ops = {
	.name = "static",
	.can_launch = 0,
	.list_ms = 5000,
	.launch = ps_launch,
	.list = ps_list,
	.terminate = ps_terminate,
	.free = ps_free,
};

int
provider_static_init(struct provider *p)
{
	if ((p->impl = calloc(1, sizeof(struct ps))) == NULL)
		return -1;
	p->ops = &ps_ops;
	return 0;
}
