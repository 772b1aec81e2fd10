/*
 * instance_state: fenced, conditional changes of an instance's state
 * (SPEC §8's lifecycle), shared by the singleton duties that decide them:
 * the scaler (pending -> running, draining, terminating, terminated) and
 * the health worker (running <-> unhealthy).
 *
 * A move says the state it saw (from) and the state it wants (to).  Redis
 * applies it only if the instance is still in state from and the duty still
 * holds its lease (the instance_state script, fenced by the lease token),
 * so two duties, or an old and a new leader, never undo each other's
 * decision.  Exactly one event is published per applied move, none for a
 * move Redis refused.  A move refused by the fence gives the lease up
 * (lease_lost).
 */
#ifndef OLB_INSTANCE_STATE_H
#define OLB_INSTANCE_STATE_H

#include "common/events.h"

struct json_object;
struct lease;
struct rconn;

/* The move of instance id ended: applied 1 if Redis made it, 0 if not (the
 * instance was in another state or is gone, the lease has passed on, the
 * connection was lost or freed). */
typedef void instance_moved_cb(const char *id, int applied, void *arg);

struct instance_move {
	const char		*id;
	const char		*from;		/* the state the caller saw */
	const char		*to;
	const char		*event;		/* published if applied; NULL: none */
	enum event_level	 level;
	struct json_object	*fields;	/* the event's; consumed (NULL: none) */
};

/* Send move m on rc, fenced by lease l.  0 if sent: cb (may be NULL) is
 * then called once.  -1 if not sent (the lease is not held, a bad
 * argument, Redis down): cb is not called.  m->fields is consumed either
 * way. */
int		 instance_state_move(struct rconn *rc, struct lease *l,
		    struct instance_move *m, instance_moved_cb *cb, void *arg);

#endif
