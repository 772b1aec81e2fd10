/*
 * fleet: the scaler's rules (SPEC §5) as one pure function: from a view of
 * the desired fleet and of the managed instances, the plan of one
 * reconcile pass.  No I/O, no clock, no allocation: workers/scaler/scaler.c reads
 * the view from Redis and carries the plan out; tests/unit/test_fleet.c
 * drives it with tables.
 *
 * The model: the desired fleet is a number of masters and of clients (the
 * operator's fleet up/scale, raised by the rules, never lowered by them).
 * Each pass launches what is missing and drains what is over it; the rules
 * raise it when the instances fill up:
 *   masters: no running or pending master (or launch in flight) below
 *            scaling.master_threshold users: one more;
 *   clients: users > client_threshold x (running + pending + launching):
 *            ceil(users / client_threshold) in all;
 *   either:  a proxy found no capacity, nothing of that role is on its way
 *            and every running one is full: one more.
 * Launches in flight count as capacity, so a burst of placements causes
 * exactly the launches it needs.  Raises wait scaling.cooldown_ms after the
 * last raise of the same role and stop at the hard caps.
 *
 * A blocked role (its launches never became running: scale.blocked)
 * launches nothing until an operator clears it; the rest of its plan holds.
 *
 * Unhealthy instances are replaced (drained) after replace_after_ms, at
 * most replace_max of a role under way at once (its launches in flight and
 * pending instances count), and none of a role in the health worker's
 * panic (health.panic_percent: olb suspects itself, not the fleet).
 *
 * Unknown is not down: a desired fleet whose state nobody wrote (a new
 * deployment, or a Redis that lost its data) launches, raises and drains
 * nothing; only the instances' own states still act (a pending timeout, a
 * termination under way).
 */
#ifndef OLB_FLEET_H
#define OLB_FLEET_H

#include <stddef.h>
#include <stdint.h>

enum fleet_role { FLEET_MASTER, FLEET_CLIENT, FLEET_ROLES };

enum fleet_state {
	FLEET_PENDING, FLEET_RUNNING, FLEET_UNHEALTHY, FLEET_DRAINING,
	FLEET_TERMINATING, FLEET_TERMINATED, FLEET_UNKNOWN
};

/* One managed instance (an instance of this provider and cluster). */
struct fleet_instance {
	const char		*id;
	enum fleet_role		 role;
	enum fleet_state	 state;
	long long		 count;		/* accounts placed there */
	int64_t			 since;		/* ms: state entered */
	long long		 order;		/* launch order */
};

struct fleet_rules {
	long long	 threshold[FLEET_ROLES];	/* master_, client_threshold */
	long long	 max_users[FLEET_ROLES];	/* per instance */
	long long	 cap[FLEET_ROLES];		/* max_masters, max_clients */
	int64_t		 cooldown_ms;
	int64_t		 replace_after_ms;	/* 0: never replace */
	long long	 replace_max;		/* replacements under way */
	int64_t		 drain_timeout_ms;
	int		 drain_force;		/* terminate at the timeout */
	int64_t		 pending_timeout_ms;
	int64_t		 terminated_keep_ms;
};

struct fleet_view {
	int				 up;		/* fleet state */
	int				 unset;		/* nobody wrote the state:
							   launch and drain nothing */
	long long			 desired[FLEET_ROLES];
	int64_t				 last_raise[FLEET_ROLES];	/* ms */
	int				 exhausted[FLEET_ROLES];
	int				 blocked[FLEET_ROLES];	/* launch none */
	int				 panic[FLEET_ROLES];	/* replace none */
	long long			 launching[FLEET_ROLES];
	const struct fleet_instance	*inst;
	size_t				 n;
	int64_t				 now;		/* ms */
};

enum fleet_act {
	FLEET_DRAIN,		/* stop placing; terminate when empty */
	FLEET_TERMINATE,	/* (again) terminate at the provider: when the
				   placements show it empty (drained), or
				   regardless (any other why) */
	FLEET_STUCK,		/* drain timeout with accounts: tell, wait */
	FLEET_FAIL,		/* pending too long: launch failed, terminate */
	FLEET_FORGET,		/* terminated long enough: remove the record */
};

/* The why of a FLEET_TERMINATE that needs the placements to show the
 * instance empty. */
#define FLEET_WHY_DRAINED	"drained"

struct fleet_action {
	size_t		 index;		/* into view->inst */
	enum fleet_act	 what;
	const char	*why;		/* static text */
};

struct fleet_plan {
	long long		 desired[FLEET_ROLES];	/* after raises */
	const char		*raised[FLEET_ROLES];	/* why, or NULL */
	long long		 launch[FLEET_ROLES];
	struct fleet_action	*acts;		/* caller's, room for view->n */
	size_t			 nacts;
	unsigned char		*active;	/* caller's, room for view->n */
};

/* Plan one pass.  plan->acts and plan->active must have room for v->n
 * entries each. */
void		 fleet_plan(const struct fleet_view *v, const struct fleet_rules *r,
		    struct fleet_plan *plan);
/* "pending" ... "terminated" to a state (FLEET_UNKNOWN otherwise), and
 * back. */
enum fleet_state fleet_state_parse(const char *s);
const char	*fleet_role_name(enum fleet_role role);

#endif
