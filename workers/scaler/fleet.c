/*
 * fleet: the plan of one reconcile pass (see fleet.h).  Each role is
 * planned on its own: first what the instances' states call for (retire,
 * give up on a launch), the replacement of unhealthy ones, then the raises of the desired count, then
 * the launches and drains that make the fleet match it.
 */
#include <string.h>

#include "workers/scaler/fleet.h"

/* What one role's instances add up to. */
struct fleet_tally {
	long long	 active;	/* pending, running, unhealthy (not retired) */
	long long	 serving;	/* pending or running: capacity for the rules */
	long long	 pending;
	long long	 users;		/* accounts on instances not terminated */
	int		 any_below;	/* a pending/running one below threshold */
	int		 all_full;	/* every running one at max_users */
};

static const char *const fleet_state_names[] = {
	[FLEET_PENDING] = "pending",
	[FLEET_RUNNING] = "running",
	[FLEET_UNHEALTHY] = "unhealthy",
	[FLEET_DRAINING] = "draining",
	[FLEET_TERMINATING] = "terminating",
	[FLEET_TERMINATED] = "terminated",
};

enum fleet_state
fleet_state_parse(const char *s)
{
	for (int i = 0; i < FLEET_UNKNOWN; i++)
		if (s != NULL && strcmp(s, fleet_state_names[i]) == 0)
			return (enum fleet_state)i;
	return FLEET_UNKNOWN;
}

const char *
fleet_role_name(enum fleet_role role)
{
	return role == FLEET_MASTER ? "master" : "client";
}

static void
fleet_act(struct fleet_plan *p, size_t index, enum fleet_act what,
    const char *why)
{
	p->acts[p->nacts].index = index;
	p->acts[p->nacts].what = what;
	p->acts[p->nacts].why = why;
	p->nacts++;
}

/* The action an instance's own state calls for, added to p; 1 if it still
 * counts as active afterwards, else 0. */
static int
fleet_by_state(const struct fleet_view *v, const struct fleet_rules *r,
    size_t i, struct fleet_plan *p)
{
	const struct fleet_instance *in = &v->inst[i];
	int64_t age = v->now - in->since;

	switch (in->state) {
	case FLEET_TERMINATED:
		if (age >= r->terminated_keep_ms)
			fleet_act(p, i, FLEET_FORGET, "terminated");
		return 0;
	case FLEET_TERMINATING:
		fleet_act(p, i, FLEET_TERMINATE, "terminating");
		return 0;
	case FLEET_DRAINING:
		/* Accounts still there at the timeout: an explicit fleet down
		 * ends them (its purpose), anything else waits for an
		 * operator unless told otherwise. */
		if (in->count <= 0)
			fleet_act(p, i, FLEET_TERMINATE, FLEET_WHY_DRAINED);
		else if (age < r->drain_timeout_ms)
			;
		else if (!v->up && !v->unset)
			fleet_act(p, i, FLEET_TERMINATE, "fleet down: drain timeout");
		else if (r->drain_force)
			fleet_act(p, i, FLEET_TERMINATE, "drain timeout");
		else
			fleet_act(p, i, FLEET_STUCK, "drain timeout");
		return 0;
	case FLEET_PENDING:
		if (age >= r->pending_timeout_ms) {
			fleet_act(p, i, FLEET_FAIL, "not healthy in time");
			return 0;
		}
		return 1;
	case FLEET_UNHEALTHY:	/* replaced by fleet_replace */
	case FLEET_RUNNING:
		return 1;
	case FLEET_UNKNOWN:
		break;
	}
	return 0;
}

/*
 * Replace (drain, so the launches that follow make up for it) the
 * instances of role unhealthy for replace_after_ms, oldest first, a few at
 * a time: no more than replace_max replacements under way, counting the
 * role's launches in flight and pending instances as replacements still
 * under way.  None while the health worker's panic holds the role.
 */
static void
fleet_replace(const struct fleet_view *v, const struct fleet_rules *r,
    enum fleet_role role, unsigned char *active, struct fleet_plan *p)
{
	long long budget = r->replace_max - v->launching[role];

	if (r->replace_after_ms <= 0 || v->panic[role])
		return;
	for (size_t i = 0; i < v->n; i++)
		if (active[i] && v->inst[i].role == role &&
		    v->inst[i].state == FLEET_PENDING)
			budget--;
	while (budget-- > 0) {
		size_t best = v->n;

		for (size_t i = 0; i < v->n; i++) {
			const struct fleet_instance *in = &v->inst[i];

			if (!active[i] || in->role != role ||
			    in->state != FLEET_UNHEALTHY ||
			    v->now - in->since < r->replace_after_ms)
				continue;
			if (best == v->n || in->since < v->inst[best].since)
				best = i;
		}
		if (best == v->n)
			return;
		active[best] = 0;
		fleet_act(p, best, FLEET_DRAIN, "unhealthy too long");
	}
}

/* Tally role's instances after the state actions (active marks those still
 * active). */
static void
fleet_tally(const struct fleet_view *v, const struct fleet_rules *r,
    enum fleet_role role, const unsigned char *active, struct fleet_tally *t)
{
	memset(t, 0, sizeof(*t));
	t->all_full = 1;
	for (size_t i = 0; i < v->n; i++) {
		const struct fleet_instance *in = &v->inst[i];

		if (in->role != role)
			continue;
		if (in->state != FLEET_TERMINATED)
			t->users += in->count > 0 ? in->count : 0;
		if (!active[i])
			continue;
		t->active++;
		if (in->state == FLEET_PENDING || in->state == FLEET_RUNNING) {
			t->serving++;
			if (in->count < r->threshold[role])
				t->any_below = 1;
		}
		if (in->state == FLEET_PENDING)
			t->pending++;
		if (in->state == FLEET_RUNNING && in->count < r->max_users[role])
			t->all_full = 0;
	}
}

/* The desired count of role after the rules; sets p->raised[role]. */
static long long
fleet_raise(const struct fleet_view *v, const struct fleet_rules *r,
    enum fleet_role role, const struct fleet_tally *t, struct fleet_plan *p)
{
	long long desired = v->desired[role], n = t->serving + v->launching[role];
	long long want = desired, base;
	const char *why = NULL;

	if (v->now - v->last_raise[role] < r->cooldown_ms ||
	    desired > t->active + v->launching[role])
		return desired;		/* cooling down, or launches still due */
	/* One more than the fleet keeps: an excess being drained is no
	 * capacity. */
	base = n < desired ? n : desired;
	if (role == FLEET_MASTER && !t->any_below && v->launching[role] == 0) {
		want = base + 1;
		why = "no master below the threshold";
	} else if (role == FLEET_CLIENT && t->users > r->threshold[role] * n) {
		want = (t->users + r->threshold[role] - 1) / r->threshold[role];
		why = "client users over the threshold";
	}
	if (why == NULL && v->exhausted[role] && v->launching[role] == 0 &&
	    t->pending == 0 && t->all_full) {
		want = base + 1;
		why = "no capacity left";
	}
	if (want > r->cap[role])
		want = r->cap[role];
	if (want <= desired)
		return desired;
	p->raised[role] = why;
	return want;
}

/* Drain excess active instances of role: pending first, then the fewest
 * accounts, then the newest. */
static void
fleet_trim(const struct fleet_view *v, enum fleet_role role, long long excess,
    unsigned char *active, struct fleet_plan *p)
{
	while (excess-- > 0) {
		size_t best = v->n;

		for (size_t i = 0; i < v->n; i++) {
			const struct fleet_instance *in = &v->inst[i], *b;

			if (!active[i] || in->role != role)
				continue;
			if (best == v->n) {
				best = i;
				continue;
			}
			b = &v->inst[best];
			if ((in->state == FLEET_PENDING) != (b->state == FLEET_PENDING)) {
				if (in->state == FLEET_PENDING)
					best = i;
			} else if (in->count != b->count) {
				if (in->count < b->count)
					best = i;
			} else if (in->order > b->order) {
				best = i;
			}
		}
		if (best == v->n)
			return;
		active[best] = 0;
		fleet_act(p, best, FLEET_DRAIN, v->up ? "over the desired fleet" :
		    "fleet down");
	}
}

static void
fleet_plan_role(const struct fleet_view *v, const struct fleet_rules *r,
    enum fleet_role role, unsigned char *active, struct fleet_plan *p)
{
	struct fleet_tally t;
	long long target, have;

	fleet_replace(v, r, role, active, p);
	fleet_tally(v, r, role, active, &t);
	p->desired[role] = v->desired[role];
	p->raised[role] = NULL;
	p->launch[role] = 0;
	if (v->unset)
		return;		/* unknown is not down (Redis may have lost it) */
	if (!v->up) {
		fleet_trim(v, role, t.active, active, p);
		return;
	}
	p->desired[role] = fleet_raise(v, r, role, &t, p);
	target = p->desired[role] < r->cap[role] ? p->desired[role] : r->cap[role];
	have = t.active + v->launching[role];
	if (have < target && !v->blocked[role])
		p->launch[role] = target - have;
	else if (t.active > target)	/* launches in flight: drained later */
		fleet_trim(v, role, t.active - target, active, p);
}

void
fleet_plan(const struct fleet_view *v, const struct fleet_rules *r,
    struct fleet_plan *plan)
{
	unsigned char *active = plan->active;

	plan->nacts = 0;
	for (size_t i = 0; i < v->n; i++)
		active[i] = (unsigned char)fleet_by_state(v, r, i, plan);
	fleet_plan_role(v, r, FLEET_MASTER, active, plan);
	fleet_plan_role(v, r, FLEET_CLIENT, active, plan);
}
