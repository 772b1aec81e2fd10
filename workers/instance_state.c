/*
 * instance_state: one move in flight holds its id, from state, event, and a
 * reference to the lease to give up if the write is fenced (the duty may
 * free the lease before the answer comes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "common/log.h"
#include "common/registry.h"
#include "common/rscript.h"
#include "common/scripts.h"
#include "workers/instance_state.h"
#include "workers/lease.h"

struct moving {
	char			 id[REGISTRY_ID_MAX];
	char			 from[16];
	const char		*event;		/* a static string */
	enum event_level	 level;
	json_object		*fields;	/* owned */
	struct lease		*lease;
	instance_moved_cb	*cb;
	void			*arg;
};

static void
instance_on_moved(struct rconn *rc, redisReply *r, void *arg)
{
	struct moving *m = arg;
	int applied = 0;

	(void)rc;
	if (r == NULL)
		log_warn("instance_state %s: no answer from Redis", m->id);
	else if (r->type == REDIS_REPLY_ERROR)
		log_warn("instance_state %s: %s", m->id, r->str);
	else
		applied = r->type == REDIS_REPLY_STRING &&
		    strcmp(r->str, m->from) == 0;
	if (applied && m->event != NULL) {
		event_publish(m->level, m->event, m->fields);
		m->fields = NULL;
	}
	if (lease_unref(m->lease) && r != NULL &&
	    r->type == REDIS_REPLY_ERROR && strstr(r->str, "FENCED") != NULL)
		lease_lost(m->lease, "a write was fenced");
	if (m->cb != NULL)
		m->cb(m->id, applied, m->arg);
	json_object_put(m->fields);
	free(m);
}

int
instance_state_move(struct rconn *rc, struct lease *l, struct instance_move *mv,
    instance_moved_cb *cb, void *arg)
{
	struct scripts_call c;
	struct moving *m;

	if (!lease_held(l) || strlen(mv->id) >= sizeof(m->id) ||
	    strlen(mv->from) >= sizeof(m->from) ||
	    scripts_call_instance_move(&c, mv->id, mv->from, mv->to) == -1 ||
	    lease_fence(l, &c) == -1 ||
	    (m = calloc(1, sizeof(*m))) == NULL) {
		json_object_put(mv->fields);
		return -1;
	}
	snprintf(m->id, sizeof(m->id), "%s", mv->id);
	snprintf(m->from, sizeof(m->from), "%s", mv->from);
	m->event = mv->event;
	m->level = mv->level;
	m->fields = mv->fields;
	m->lease = l;
	m->cb = cb;
	m->arg = arg;
	if (rscript_run(rc, &c, instance_on_moved, m) == -1) {
		log_warn("instance_state %s: Redis is down", mv->id);
		json_object_put(m->fields);
		free(m);
		return -1;
	}
	lease_ref(l);
	return 0;
}
