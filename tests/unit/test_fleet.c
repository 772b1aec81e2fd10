/*
 * Tests of the scaler's planner (workers/scaler/fleet.c), a pure function: each
 * case builds a view of the desired fleet and of the managed instances,
 * plans one pass and checks the raises, launches and per-instance actions.
 * Tables where the shape repeats: the raise rules, the state actions, the
 * choice of what to drain; a burst of placements replayed pass by pass as
 * the scaler would (feeding desired and launching back) shows that
 * launches in flight are counted, so a burst causes exactly the launches it
 * needs and never more than the cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "workers/scaler/fleet.h"

#define NOW	100000000LL	/* ms: any wall clock well past the epoch */
#define MAXI	64		/* instances in a view */
#define MAXSPEC	8		/* instances in a table row */
#define NONE	(-1)		/* no action for an instance */

/* Thresholds 45/100, maxima 50/120, caps 10/50. */
static const struct fleet_rules rules_default = {
	.threshold = { 45, 100 },
	.max_users = { 50, 120 },
	.cap = { 10, 50 },
	.cooldown_ms = 60000,
	.replace_after_ms = 300000,
	.replace_max = 2,
	.drain_timeout_ms = 60000,
	.pending_timeout_ms = 600000,
	.terminated_keep_ms = 3600000,
};

/* One test's view, rules and plan, with the room the plan needs. */
struct world {
	struct fleet_rules	 rules;
	struct fleet_view	 view;
	struct fleet_instance	 inst[MAXI];
	char			 ids[MAXI][16];
	struct fleet_action	 acts[MAXI];
	unsigned char		 active[MAXI];
	struct fleet_plan	 plan;
};

/* One instance of a table row (on = 0 ends the row). */
struct spec {
	int		 on;
	enum fleet_role	 role;
	enum fleet_state state;
	long long	 count;
	int64_t		 age;		/* ms in its state */
};

#define MST(st, users)		{ 1, FLEET_MASTER, FLEET_##st, users, 0 }
#define CLI(st, users)		{ 1, FLEET_CLIENT, FLEET_##st, users, 0 }
#define CLI_AGED(st, users, age) { 1, FLEET_CLIENT, FLEET_##st, users, age }

/* A fleet that is up, no instances, nothing desired, no raise ever made. */
static void
world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
	w->rules = rules_default;
	w->view.up = 1;
	w->view.now = NOW;
	w->view.inst = w->inst;
}

/* Add an instance in its state for age ms, launched after all others;
 * returns its index. */
static size_t
world_add(struct world *w, enum fleet_role role, enum fleet_state state,
    long long count, int64_t age)
{
	size_t i = w->view.n++;

	assert_true(i < MAXI);
	snprintf(w->ids[i], sizeof(w->ids[i]), "i-%zu", i);
	w->inst[i].id = w->ids[i];
	w->inst[i].role = role;
	w->inst[i].state = state;
	w->inst[i].count = count;
	w->inst[i].since = w->view.now - age;
	w->inst[i].order = (long long)i + 1;
	return i;
}

static void
world_add_specs(struct world *w, const struct spec *s)
{
	for (int k = 0; k < MAXSPEC && s[k].on; k++)
		world_add(w, s[k].role, s[k].state, s[k].count, s[k].age);
}

/* Plan one pass into w->plan (stale garbage in the caller's arrays first,
 * so nothing is read from them before it is written). */
static const struct fleet_plan *
world_plan(struct world *w)
{
	memset(&w->plan, 0x5a, sizeof(w->plan));
	memset(w->acts, 0xa5, sizeof(w->acts));
	memset(w->active, 0xa5, sizeof(w->active));
	w->plan.acts = w->acts;
	w->plan.active = w->active;
	fleet_plan(&w->view, &w->rules, &w->plan);
	assert_true(w->plan.nacts <= w->view.n);
	return &w->plan;
}

/* The action planned for instance i, or NONE; at most one is allowed.
 * *why (if not NULL) gets its reason. */
static int
act_for(const struct world *w, size_t i, const char **why)
{
	int what = NONE;

	for (size_t a = 0; a < w->plan.nacts; a++) {
		if (w->plan.acts[a].index != i)
			continue;
		assert_int_equal(what, NONE);
		what = (int)w->plan.acts[a].what;
		assert_non_null(w->plan.acts[a].why);
		if (why != NULL)
			*why = w->plan.acts[a].why;
	}
	return what;
}

/* The raise rules, one role per row; the other role is quiet (no instances,
 * nothing desired for clients; masters are not asserted in client rows). */
struct raise_case {
	const char	*name;
	enum fleet_role	 role;
	long long	 desired;
	long long	 launching;
	int		 exhausted;
	int64_t		 since_raise;	/* now - last raise; 0 = never */
	long long	 cap;		/* 0 = rules_default's */
	long long	 threshold;	/* 0 = rules_default's (max_users too) */
	long long	 max_users;
	struct spec	 inst[MAXSPEC];
	long long	 want_desired;
	long long	 want_launch;
	const char	*want_why;	/* NULL: no raise */
};

#define FULL_RULE	"no master below the threshold"
#define CLIENT_RULE	"client users over the threshold"
#define EXHAUSTED	"no capacity left"

static const struct raise_case raise_cases[] = {
	/* masters: threshold 45, max 50, cap 10 */
	{ "every master at or over the threshold: one more", FLEET_MASTER,
	    2, 0, 0, 0, 0, 0, 0, { MST(RUNNING, 45), MST(RUNNING, 50) },
	    3, 1, FULL_RULE },
	{ "one master below the threshold: no raise", FLEET_MASTER,
	    2, 0, 0, 0, 0, 0, 0, { MST(RUNNING, 45), MST(RUNNING, 44) },
	    2, 0, NULL },
	{ "a pending master (0 users) is below the threshold", FLEET_MASTER,
	    2, 0, 0, 0, 0, 0, 0, { MST(RUNNING, 45), MST(PENDING, 0) },
	    2, 0, NULL },
	{ "a master launch in flight: no raise", FLEET_MASTER,
	    2, 1, 0, 0, 0, 0, 0, { MST(RUNNING, 45) },
	    2, 0, NULL },
	{ "cooldown not over: no raise", FLEET_MASTER,
	    1, 0, 0, 59999, 0, 0, 0, { MST(RUNNING, 45) },
	    1, 0, NULL },
	{ "cooldown just over: raise", FLEET_MASTER,
	    1, 0, 0, 60000, 0, 0, 0, { MST(RUNNING, 45) },
	    2, 1, FULL_RULE },
	{ "at the cap: no raise", FLEET_MASTER,
	    2, 0, 0, 0, 2, 0, 0, { MST(RUNNING, 45), MST(RUNNING, 45) },
	    2, 0, NULL },
	{ "a launch still due: no raise, launch it", FLEET_MASTER,
	    2, 0, 0, 0, 0, 0, 0, { MST(RUNNING, 50) },
	    2, 1, NULL },
	{ "desired over the cap: launch up to the cap only", FLEET_MASTER,
	    12, 0, 0, 0, 3, 0, 0, { MST(RUNNING, 0) },
	    12, 2, NULL },
	{ "no master at all, none desired: one", FLEET_MASTER,
	    0, 0, 0, 0, 0, 0, 0, { { 0 } },
	    1, 1, FULL_RULE },

	/* clients: threshold 100, max 120, cap 50 */
	{ "2000 users on one client: 20 in all, launch 19", FLEET_CLIENT,
	    1, 0, 0, 0, 0, 0, 0, { CLI(RUNNING, 2000) },
	    20, 19, CLIENT_RULE },
	{ "users exactly threshold x n: no raise", FLEET_CLIENT,
	    2, 0, 0, 0, 0, 0, 0, { CLI(RUNNING, 100), CLI(RUNNING, 100) },
	    2, 0, NULL },
	{ "one user over threshold x n: one more", FLEET_CLIENT,
	    2, 0, 0, 0, 0, 0, 0, { CLI(RUNNING, 100), CLI(RUNNING, 101) },
	    3, 1, CLIENT_RULE },
	{ "launches in flight count as capacity", FLEET_CLIENT,
	    3, 2, 0, 0, 0, 0, 0, { CLI(RUNNING, 300) },
	    3, 0, NULL },
	{ "a pending client counts as capacity", FLEET_CLIENT,
	    2, 0, 0, 0, 0, 0, 0, { CLI(RUNNING, 200), CLI(PENDING, 0) },
	    2, 0, NULL },
	{ "cap 5 with 20 needed: desired 5, launch 4", FLEET_CLIENT,
	    1, 0, 0, 0, 5, 0, 0, { CLI(RUNNING, 2000) },
	    5, 4, CLIENT_RULE },
	{ "20 desired, 19 launching, 1 running: no storm", FLEET_CLIENT,
	    20, 19, 0, 0, 0, 0, 0, { CLI(RUNNING, 2000) },
	    20, 0, NULL },
	{ "cooldown blocks the client rule", FLEET_CLIENT,
	    1, 0, 0, 1, 0, 0, 0, { CLI(RUNNING, 2000) },
	    1, 0, NULL },
	{ "launches still due: no raise", FLEET_CLIENT,
	    3, 0, 0, 0, 0, 0, 0, { CLI(RUNNING, 2000) },
	    3, 2, NULL },
	{ "accounts on a draining client still count", FLEET_CLIENT,
	    1, 0, 0, 0, 0, 0, 0, { CLI(RUNNING, 60), CLI(DRAINING, 60) },
	    2, 1, CLIENT_RULE },
	{ "accounts on a terminated client do not count", FLEET_CLIENT,
	    1, 0, 0, 0, 0, 0, 0, { CLI(RUNNING, 60), CLI(TERMINATED, 60) },
	    1, 0, NULL },

	/* the exhausted rule: with client threshold == max_users (100) the
	 * client rule stays quiet while every running client is full */
	{ "exhausted, all running full: one more", FLEET_CLIENT,
	    2, 0, 1, 0, 0, 100, 100, { CLI(RUNNING, 100), CLI(RUNNING, 100) },
	    3, 1, EXHAUSTED },
	{ "all running full but not exhausted: no raise", FLEET_CLIENT,
	    2, 0, 0, 0, 0, 100, 100, { CLI(RUNNING, 100), CLI(RUNNING, 100) },
	    2, 0, NULL },
	{ "exhausted, one running below max: no raise", FLEET_CLIENT,
	    2, 0, 1, 0, 0, 100, 100, { CLI(RUNNING, 100), CLI(RUNNING, 99) },
	    2, 0, NULL },
	{ "exhausted, one pending: no raise", FLEET_CLIENT,
	    2, 0, 1, 0, 0, 100, 100, { CLI(RUNNING, 100), CLI(PENDING, 0) },
	    2, 0, NULL },
	{ "exhausted, a launch in flight: no raise", FLEET_CLIENT,
	    3, 1, 1, 0, 0, 100, 100, { CLI(RUNNING, 100), CLI(RUNNING, 100) },
	    3, 0, NULL },
	{ "exhausted, in cooldown: no raise", FLEET_CLIENT,
	    2, 0, 1, 1000, 0, 100, 100, { CLI(RUNNING, 100), CLI(RUNNING, 100) },
	    2, 0, NULL },
	{ "exhausted at the cap: no raise", FLEET_CLIENT,
	    2, 0, 1, 0, 2, 100, 100, { CLI(RUNNING, 100), CLI(RUNNING, 100) },
	    2, 0, NULL },
};

static void
test_raise_rules(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(raise_cases) / sizeof(raise_cases[0]);
	    k++) {
		const struct raise_case *c = &raise_cases[k];
		const struct fleet_plan *p;
		struct world w;
		int r = c->role;

		world_init(&w);
		w.view.desired[r] = c->desired;
		w.view.launching[r] = c->launching;
		w.view.exhausted[r] = c->exhausted;
		w.view.last_raise[r] = c->since_raise ? NOW - c->since_raise : 0;
		if (c->cap)
			w.rules.cap[r] = c->cap;
		if (c->threshold)
			w.rules.threshold[r] = c->threshold;
		if (c->max_users)
			w.rules.max_users[r] = c->max_users;
		world_add_specs(&w, c->inst);
		p = world_plan(&w);
		if (p->desired[r] != c->want_desired)
			fail_msg("%s: desired %lld, want %lld", c->name,
			    p->desired[r], c->want_desired);
		if (p->launch[r] != c->want_launch)
			fail_msg("%s: launch %lld, want %lld", c->name,
			    p->launch[r], c->want_launch);
		if ((p->raised[r] == NULL) != (c->want_why == NULL) ||
		    (c->want_why != NULL && strcmp(p->raised[r], c->want_why)))
			fail_msg("%s: raised \"%s\", want \"%s\"", c->name,
			    p->raised[r] ? p->raised[r] : "(none)",
			    c->want_why ? c->want_why : "(none)");
		if (p->nacts != 0)
			fail_msg("%s: %zu actions, want none", c->name, p->nacts);
	}
}

/* Up from nothing: what is desired is launched, launches in flight count. */
static void
test_fleet_up_from_empty(void **state)
{
	static const struct {
		long long	 launching[FLEET_ROLES];
		long long	 want[FLEET_ROLES];
	} cases[] = {
		{ { 0, 0 }, { 1, 2 } },
		{ { 0, 2 }, { 1, 0 } },
		{ { 1, 1 }, { 0, 1 } },
		{ { 1, 2 }, { 0, 0 } },
	};
	(void)state;

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct fleet_plan *p;
		struct world w;

		world_init(&w);
		w.view.desired[FLEET_MASTER] = 1;
		w.view.desired[FLEET_CLIENT] = 2;
		for (int r = 0; r < FLEET_ROLES; r++)
			w.view.launching[r] = cases[k].launching[r];
		p = world_plan(&w);
		for (int r = 0; r < FLEET_ROLES; r++) {
			assert_int_equal(p->launch[r], cases[k].want[r]);
			assert_int_equal(p->desired[r], w.view.desired[r]);
			assert_null(p->raised[r]);
		}
		assert_int_equal(p->nacts, 0);
	}
}

/* Fleet down: every pending, running or unhealthy instance is drained, the
 * retired ones get what their state calls for, nothing is launched. */
static void
test_fleet_down(void **state)
{
	struct world w;
	const struct fleet_plan *p;
	const char *why = NULL;
	size_t m_run, m_pend, c_unh, c_run, c_drain, c_term, c_gone;
	(void)state;

	world_init(&w);
	w.view.up = 0;
	w.view.desired[FLEET_MASTER] = 1;
	w.view.desired[FLEET_CLIENT] = 3;
	w.view.launching[FLEET_CLIENT] = 1;
	w.view.exhausted[FLEET_CLIENT] = 1;
	m_run = world_add(&w, FLEET_MASTER, FLEET_RUNNING, 50, 1000);
	m_pend = world_add(&w, FLEET_MASTER, FLEET_PENDING, 0, 1000);
	c_unh = world_add(&w, FLEET_CLIENT, FLEET_UNHEALTHY, 5, 1000);
	c_run = world_add(&w, FLEET_CLIENT, FLEET_RUNNING, 2000, 1000);
	c_drain = world_add(&w, FLEET_CLIENT, FLEET_DRAINING, 3, 1000);
	c_term = world_add(&w, FLEET_CLIENT, FLEET_TERMINATING, 0, 1000);
	c_gone = world_add(&w, FLEET_CLIENT, FLEET_TERMINATED, 0, 1000);
	p = world_plan(&w);

	for (int r = 0; r < FLEET_ROLES; r++) {
		assert_int_equal(p->launch[r], 0);
		assert_int_equal(p->desired[r], w.view.desired[r]);
		assert_null(p->raised[r]);
	}
	assert_int_equal(act_for(&w, m_run, &why), FLEET_DRAIN);
	assert_string_equal(why, "fleet down");
	assert_int_equal(act_for(&w, m_pend, NULL), FLEET_DRAIN);
	assert_int_equal(act_for(&w, c_unh, NULL), FLEET_DRAIN);
	assert_int_equal(act_for(&w, c_run, NULL), FLEET_DRAIN);
	assert_int_equal(act_for(&w, c_drain, NULL), NONE);
	assert_int_equal(act_for(&w, c_term, NULL), FLEET_TERMINATE);
	assert_int_equal(act_for(&w, c_gone, NULL), NONE);
	assert_int_equal(p->nacts, 5);
}

/* A desired fleet whose state nobody wrote (a new deployment, or a Redis
 * that lost its data) is not "down": nothing is launched, raised or
 * drained, whatever the instances and their users; only the instances' own
 * states still act. */
static void
test_fleet_unset(void **state)
{
	struct world w;
	const struct fleet_plan *p;
	size_t m_run, m_pend, c_run, c_full, c_term;
	(void)state;

	world_init(&w);
	w.view.unset = 1;
	w.view.up = 0;
	w.view.exhausted[FLEET_CLIENT] = 1;
	m_run = world_add(&w, FLEET_MASTER, FLEET_RUNNING, 50, 1000);
	m_pend = world_add(&w, FLEET_MASTER, FLEET_PENDING, 0, 1000);
	c_run = world_add(&w, FLEET_CLIENT, FLEET_RUNNING, 2000, 1000);
	c_full = world_add(&w, FLEET_CLIENT, FLEET_RUNNING, 50, 1000);
	c_term = world_add(&w, FLEET_CLIENT, FLEET_TERMINATING, 0, 1000);
	p = world_plan(&w);

	for (int r = 0; r < FLEET_ROLES; r++) {
		assert_int_equal(p->launch[r], 0);
		assert_int_equal(p->desired[r], 0);
		assert_null(p->raised[r]);
	}
	assert_int_equal(act_for(&w, m_run, NULL), NONE);
	assert_int_equal(act_for(&w, m_pend, NULL), NONE);
	assert_int_equal(act_for(&w, c_run, NULL), NONE);
	assert_int_equal(act_for(&w, c_full, NULL), NONE);
	assert_int_equal(act_for(&w, c_term, NULL), FLEET_TERMINATE);
	assert_int_equal(p->nacts, 1);

	/* Once written, down drains them. */
	w.view.unset = 0;
	w.view.up = 0;
	p = world_plan(&w);
	assert_int_equal(act_for(&w, c_run, NULL), FLEET_DRAIN);
}

/* What one instance's state calls for.  Each row: a running client with
 * a few accounts, then the instance under test, 2 clients desired; a
 * subject that is (or becomes) retired leaves a launch due, so a replaced
 * instance gets its replacement in the same plan, desired unchanged. */
struct state_case {
	const char	*name;
	enum fleet_state state;
	long long	 count;
	int64_t		 age;
	int64_t		 replace_after_ms;	/* -1: rules_default's */
	int		 want_act;		/* NONE or enum fleet_act */
	const char	*want_why;
	long long	 want_launch;
};

static const struct state_case state_cases[] = {
	{ "pending, young", FLEET_PENDING, 0, 599999, -1, NONE, NULL, 0 },
	{ "pending past pending_timeout", FLEET_PENDING, 0, 600000, -1,
	    FLEET_FAIL, "not healthy in time", 1 },
	{ "running, old", FLEET_RUNNING, 10, 86400000, -1, NONE, NULL, 0 },
	{ "unhealthy, young", FLEET_UNHEALTHY, 10, 299999, -1, NONE, NULL, 0 },
	{ "unhealthy past replace_after: replaced", FLEET_UNHEALTHY, 10,
	    300000, -1, FLEET_DRAIN, "unhealthy too long", 1 },
	{ "unhealthy for a day, replace_after 0: never", FLEET_UNHEALTHY, 10,
	    86400000, 0, NONE, NULL, 0 },
	{ "draining, empty", FLEET_DRAINING, 0, 0, -1, FLEET_TERMINATE,
	    "drained", 1 },
	{ "draining, accounts left, young", FLEET_DRAINING, 5, 59999, -1, NONE,
	    NULL, 1 },
	{ "draining past drain_timeout, accounts left: tell and wait",
	    FLEET_DRAINING, 5, 60000, -1, FLEET_STUCK, "drain timeout", 1 },
	{ "terminating: terminate again", FLEET_TERMINATING, 0, 0, -1,
	    FLEET_TERMINATE, "terminating", 1 },
	{ "terminated, young: kept", FLEET_TERMINATED, 0, 3599999, -1, NONE,
	    NULL, 1 },
	{ "terminated past terminated_keep: forgotten", FLEET_TERMINATED, 0,
	    3600000, -1, FLEET_FORGET, "terminated", 1 },
	{ "unknown state: ignored", FLEET_UNKNOWN, 10, 86400000, -1, NONE,
	    NULL, 1 },
};

static void
test_state_actions(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(state_cases) / sizeof(state_cases[0]);
	    k++) {
		const struct state_case *c = &state_cases[k];
		const struct fleet_plan *p;
		const char *why = NULL;
		struct world w;
		size_t keep, subject;
		int what;

		world_init(&w);
		if (c->replace_after_ms >= 0)
			w.rules.replace_after_ms = c->replace_after_ms;
		w.view.desired[FLEET_MASTER] = 1;
		w.view.desired[FLEET_CLIENT] = 2;
		world_add(&w, FLEET_MASTER, FLEET_RUNNING, 0, 1000);
		keep = world_add(&w, FLEET_CLIENT, FLEET_RUNNING, 10, 1000);
		subject = world_add(&w, FLEET_CLIENT, c->state, c->count, c->age);
		p = world_plan(&w);
		what = act_for(&w, subject, &why);
		if (what != c->want_act)
			fail_msg("%s: action %d, want %d", c->name, what,
			    c->want_act);
		if (c->want_why != NULL && strcmp(why, c->want_why) != 0)
			fail_msg("%s: why \"%s\", want \"%s\"", c->name, why,
			    c->want_why);
		if (act_for(&w, keep, NULL) != NONE || act_for(&w, 0, NULL) != NONE)
			fail_msg("%s: a healthy instance got an action", c->name);
		if (p->launch[FLEET_CLIENT] != c->want_launch)
			fail_msg("%s: launch %lld, want %lld", c->name,
			    p->launch[FLEET_CLIENT], c->want_launch);
		if (p->desired[FLEET_CLIENT] != 2 || p->raised[FLEET_CLIENT])
			fail_msg("%s: desired changed to %lld", c->name,
			    p->desired[FLEET_CLIENT]);
		assert_int_equal(p->nacts, c->want_act == NONE ? 0 : 1);
	}
}

/* A drained instance with accounts at the timeout: waits for an operator
 * while the fleet is up or unknown; terminated when the fleet is down (its
 * purpose) or when the rules say so. */
static void
test_drain_timeout(void **state)
{
	struct world w;
	const char *why = NULL;
	size_t d;

	(void)state;
	world_init(&w);
	w.view.desired[FLEET_MASTER] = 1;
	world_add(&w, FLEET_MASTER, FLEET_RUNNING, 0, 1000);
	d = world_add(&w, FLEET_CLIENT, FLEET_DRAINING, 3, 60000);
	world_plan(&w);
	assert_int_equal(act_for(&w, d, &why), FLEET_STUCK);
	w.view.unset = 1;
	world_plan(&w);
	assert_int_equal(act_for(&w, d, &why), FLEET_STUCK);
	w.view.unset = 0;
	w.view.up = 0;
	world_plan(&w);
	assert_int_equal(act_for(&w, d, &why), FLEET_TERMINATE);
	assert_string_equal(why, "fleet down: drain timeout");
	w.view.up = 1;
	w.rules.drain_force = 1;
	world_plan(&w);
	assert_int_equal(act_for(&w, d, &why), FLEET_TERMINATE);
	assert_string_equal(why, "drain timeout");
	/* Empty: terminated once the placements confirm it, whatever the
	 * age. */
	w.inst[d].count = 0;
	w.inst[d].since = w.view.now;
	world_plan(&w);
	assert_int_equal(act_for(&w, d, &why), FLEET_TERMINATE);
	assert_string_equal(why, FLEET_WHY_DRAINED);
}

/* A blocked role launches nothing, not even a replacement; the other role
 * still does. */
static void
test_blocked_launches_nothing(void **state)
{
	const struct fleet_plan *p;
	struct world w;

	(void)state;
	world_init(&w);
	w.view.desired[FLEET_MASTER] = 1;
	w.view.desired[FLEET_CLIENT] = 2;
	w.view.blocked[FLEET_CLIENT] = 1;
	p = world_plan(&w);
	assert_int_equal(p->launch[FLEET_MASTER], 1);
	assert_int_equal(p->launch[FLEET_CLIENT], 0);
	assert_int_equal(p->desired[FLEET_CLIENT], 2);
}

/* Desired lowered below what runs: exactly the excess is drained, pending
 * first, then the fewest accounts, then the newest (highest order).
 * Instances are added in order (order = index + 1); drains lists the
 * indexes expected, in the order they are chosen. */
struct excess_case {
	const char	*name;
	enum fleet_role	 role;
	long long	 desired;
	struct spec	 inst[MAXSPEC];
	int		 drains[MAXSPEC];	/* ends with -1 */
};

static const struct excess_case excess_cases[] = {
	{ "pending first, then the fewest accounts", FLEET_CLIENT, 1,
	    { CLI(RUNNING, 5), CLI(PENDING, 0), CLI(RUNNING, 2) },
	    { 1, 2, -1 } },
	{ "a pending one before an empty running one", FLEET_CLIENT, 1,
	    { CLI(RUNNING, 0), CLI(PENDING, 3) },
	    { 1, -1 } },
	{ "equal accounts: the newest", FLEET_CLIENT, 2,
	    { CLI(RUNNING, 4), CLI(RUNNING, 4), CLI(RUNNING, 4) },
	    { 2, -1 } },
	{ "two pending: the newer first, then the older", FLEET_CLIENT, 1,
	    { CLI(RUNNING, 1), CLI(PENDING, 0), CLI(PENDING, 0) },
	    { 2, 1, -1 } },
	{ "fewest accounts beats newest", FLEET_CLIENT, 2,
	    { CLI(RUNNING, 1), CLI(RUNNING, 7), CLI(RUNNING, 9) },
	    { 0, -1 } },
	{ "unhealthy ones count as running", FLEET_CLIENT, 2,
	    { CLI(UNHEALTHY, 3), CLI(RUNNING, 8), CLI(RUNNING, 2) },
	    { 2, -1 } },
	{ "only what is active is drained", FLEET_CLIENT, 1,
	    { CLI(DRAINING, 4), CLI(RUNNING, 3), CLI(RUNNING, 9),
	    CLI(TERMINATED, 0) },
	    { 1, -1 } },
	{ "masters: one below the threshold, no raise", FLEET_MASTER, 1,
	    { MST(RUNNING, 10), MST(RUNNING, 3), MST(RUNNING, 3) },
	    { 2, 1, -1 } },
	{ "desired 0 drains them all", FLEET_CLIENT, 0,
	    { CLI(RUNNING, 0), CLI(PENDING, 0) },
	    { 1, 0, -1 } },
};

static void
test_excess_drained(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(excess_cases) / sizeof(excess_cases[0]);
	    k++) {
		const struct excess_case *c = &excess_cases[k];
		const struct fleet_plan *p;
		struct world w;
		size_t n = 0;

		world_init(&w);
		w.view.desired[c->role] = c->desired;
		world_add_specs(&w, c->inst);
		p = world_plan(&w);
		while (c->drains[n] != -1)
			n++;
		if (p->nacts != n)
			fail_msg("%s: %zu actions, want %zu", c->name, p->nacts,
			    n);
		for (size_t a = 0; a < n; a++) {
			if (p->acts[a].index != (size_t)c->drains[a] ||
			    p->acts[a].what != FLEET_DRAIN)
				fail_msg("%s: action %zu drains %zu (what %d), "
				    "want %d", c->name, a, p->acts[a].index,
				    p->acts[a].what, c->drains[a]);
			assert_string_equal(p->acts[a].why,
			    "over the desired fleet");
		}
		if (p->launch[c->role] != 0 || p->raised[c->role] != NULL ||
		    p->desired[c->role] != c->desired)
			fail_msg("%s: launch %lld, desired %lld", c->name,
			    p->launch[c->role], p->desired[c->role]);
	}
}

/* A burst of placements, replayed pass by pass as the scaler would: users
 * grow by 50 up to 2000 on the one running client (the planner only adds
 * them up), three passes per step; each plan's launches join launching and
 * its desired is fed back.  With land set, one launch per pass comes up as
 * a pending client (0 accounts).  The launches add up to exactly
 * ceil(2000 / 100) - 1, or to the cap - 1, and the fleet never passes the
 * cap. */
static void
test_burst_no_storm(void **state)
{
	static const struct {
		long long	 cap;
		int		 land;
		long long	 want_launches;
	} cases[] = {
		{ 50, 0, 19 },
		{ 50, 1, 19 },
		{ 12, 0, 11 },
		{ 12, 1, 11 },
	};
	(void)state;

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		long long total = 0, landed = 0;
		struct world w;

		world_init(&w);
		w.rules.cooldown_ms = 0;
		w.rules.max_users[FLEET_CLIENT] = 100000;
		w.rules.cap[FLEET_CLIENT] = cases[k].cap;
		w.view.desired[FLEET_MASTER] = 1;
		w.view.desired[FLEET_CLIENT] = 1;
		world_add(&w, FLEET_MASTER, FLEET_RUNNING, 0, 0);
		world_add(&w, FLEET_CLIENT, FLEET_RUNNING, 0, 0);
		for (long long users = 50; users <= 2000; users += 50) {
			w.inst[1].count = users;
			for (int pass = 0; pass < 3; pass++) {
				const struct fleet_plan *p;
				long long have;

				w.view.now += 1000;
				if (cases[k].land &&
				    w.view.launching[FLEET_CLIENT] > 0) {
					w.view.launching[FLEET_CLIENT]--;
					world_add(&w, FLEET_CLIENT, FLEET_PENDING,
					    0, 0);
					landed++;
				}
				p = world_plan(&w);
				assert_int_equal(p->nacts, 0);
				assert_int_equal(p->launch[FLEET_MASTER], 0);
				assert_true(p->desired[FLEET_CLIENT] <=
				    cases[k].cap);
				if (p->raised[FLEET_CLIENT] != NULL)
					w.view.last_raise[FLEET_CLIENT] =
					    w.view.now;
				w.view.desired[FLEET_CLIENT] =
				    p->desired[FLEET_CLIENT];
				w.view.launching[FLEET_CLIENT] +=
				    p->launch[FLEET_CLIENT];
				total += p->launch[FLEET_CLIENT];
				have = 1 + landed + w.view.launching[FLEET_CLIENT];
				assert_true(have <= cases[k].cap);
				/* Never more than the users call for. */
				assert_true(have <= (users + 99) / 100 ||
				    have == 1);
			}
		}
		assert_int_equal(total, cases[k].want_launches);
		assert_int_equal(w.view.desired[FLEET_CLIENT],
		    cases[k].want_launches + 1);
		assert_int_equal(landed + w.view.launching[FLEET_CLIENT], total);
	}
}

/*
 * An unhealthy instance not (yet) replaced holds its place in the fleet
 * but serves nobody: it must neither count as capacity for the rules nor
 * block a raise as if a launch were still due.  2000 users on the one
 * running client call for 20 clients (users > 100 x 1): desired 20, launch
 * 18 (2 active).
 */
static void
test_unhealthy_blocks_raise(void **state)
{
	const struct fleet_plan *p;
	struct world w;
	(void)state;

	world_init(&w);
	w.rules.replace_after_ms = 0;
	w.view.desired[FLEET_MASTER] = 1;
	w.view.desired[FLEET_CLIENT] = 2;
	world_add(&w, FLEET_MASTER, FLEET_RUNNING, 0, 0);
	world_add(&w, FLEET_CLIENT, FLEET_RUNNING, 2000, 0);
	world_add(&w, FLEET_CLIENT, FLEET_UNHEALTHY, 0, 0);
	p = world_plan(&w);
	assert_int_equal(p->desired[FLEET_CLIENT], 20);
	assert_int_equal(p->launch[FLEET_CLIENT], 18);
	assert_non_null(p->raised[FLEET_CLIENT]);
}

/*
 * Only instances can be drained, not launches in flight: with desired
 * lowered to 1 while 2 launches are on their way, nothing is drained now
 * (the running client keeps its accounts); the launches are drained,
 * pending first, once they are instances.
 */
static void
test_excess_not_for_launches(void **state)
{
	const struct fleet_plan *p;
	struct world w;
	(void)state;

	world_init(&w);
	w.view.desired[FLEET_MASTER] = 1;
	w.view.desired[FLEET_CLIENT] = 1;
	w.view.launching[FLEET_CLIENT] = 2;
	world_add(&w, FLEET_MASTER, FLEET_RUNNING, 0, 0);
	world_add(&w, FLEET_CLIENT, FLEET_RUNNING, 50, 0);
	p = world_plan(&w);
	assert_int_equal(p->launch[FLEET_CLIENT], 0);
	assert_int_equal(act_for(&w, 1, NULL), NONE);
	assert_int_equal(p->nacts, 0);
}

/* Unhealthy instances are replaced a few at a time (replace_max under
 * way, launches in flight and pending instances counting), oldest first,
 * and none of a role in panic. */
static void
test_replace_a_few_at_a_time(void **state)
{
	const struct fleet_plan *p;
	struct world w;
	size_t sick[5];

	(void)state;
	world_init(&w);
	w.view.desired[FLEET_MASTER] = 1;
	w.view.desired[FLEET_CLIENT] = 5;
	world_add(&w, FLEET_MASTER, FLEET_RUNNING, 0, 1000);
	for (int i = 0; i < 5; i++)
		sick[i] = world_add(&w, FLEET_CLIENT, FLEET_UNHEALTHY, 10,
		    300000 + 1000 * i);
	p = world_plan(&w);
	assert_int_equal(p->nacts, 2);
	/* The two oldest. */
	assert_int_equal(act_for(&w, sick[4], NULL), FLEET_DRAIN);
	assert_int_equal(act_for(&w, sick[3], NULL), FLEET_DRAIN);
	assert_int_equal(act_for(&w, sick[0], NULL), NONE);
	assert_int_equal(p->launch[FLEET_CLIENT], 2);

	/* One launch in flight and one pending: nothing more yet. */
	world_init(&w);
	w.view.desired[FLEET_MASTER] = 1;
	w.view.desired[FLEET_CLIENT] = 3;
	world_add(&w, FLEET_MASTER, FLEET_RUNNING, 0, 1000);
	world_add(&w, FLEET_CLIENT, FLEET_PENDING, 0, 1000);
	sick[0] = world_add(&w, FLEET_CLIENT, FLEET_UNHEALTHY, 10, 400000);
	w.view.launching[FLEET_CLIENT] = 1;
	p = world_plan(&w);
	assert_int_equal(act_for(&w, sick[0], NULL), NONE);
	assert_int_equal(p->nacts, 0);

	/* Panic: none of the role, the other role still. */
	world_init(&w);
	w.view.desired[FLEET_MASTER] = 1;
	w.view.desired[FLEET_CLIENT] = 2;
	w.view.panic[FLEET_CLIENT] = 1;
	sick[0] = world_add(&w, FLEET_MASTER, FLEET_UNHEALTHY, 0, 400000);
	sick[1] = world_add(&w, FLEET_CLIENT, FLEET_UNHEALTHY, 10, 400000);
	sick[2] = world_add(&w, FLEET_CLIENT, FLEET_UNHEALTHY, 10, 400000);
	p = world_plan(&w);
	assert_int_equal(act_for(&w, sick[0], NULL), FLEET_DRAIN);
	assert_int_equal(act_for(&w, sick[1], NULL), NONE);
	assert_int_equal(act_for(&w, sick[2], NULL), NONE);
	assert_int_equal(p->launch[FLEET_CLIENT], 0);
}

static void
test_state_names(void **state)
{
	static const struct {
		const char	*s;
		enum fleet_state want;
	} cases[] = {
		{ "pending", FLEET_PENDING },
		{ "running", FLEET_RUNNING },
		{ "unhealthy", FLEET_UNHEALTHY },
		{ "draining", FLEET_DRAINING },
		{ "terminating", FLEET_TERMINATING },
		{ "terminated", FLEET_TERMINATED },
		{ "", FLEET_UNKNOWN },
		{ "Running", FLEET_UNKNOWN },
		{ "runnin", FLEET_UNKNOWN },
		{ "running ", FLEET_UNKNOWN },
		{ "removed", FLEET_UNKNOWN },
		{ "unknown", FLEET_UNKNOWN },
		{ NULL, FLEET_UNKNOWN },
	};
	(void)state;

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		if (fleet_state_parse(cases[k].s) != cases[k].want)
			fail_msg("fleet_state_parse(\"%s\") = %d, want %d",
			    cases[k].s ? cases[k].s : "(null)",
			    fleet_state_parse(cases[k].s), cases[k].want);
	assert_string_equal(fleet_role_name(FLEET_MASTER), "master");
	assert_string_equal(fleet_role_name(FLEET_CLIENT), "client");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fleet_up_from_empty),
		cmocka_unit_test(test_raise_rules),
		cmocka_unit_test(test_burst_no_storm),
		cmocka_unit_test(test_fleet_down),
		cmocka_unit_test(test_fleet_unset),
		cmocka_unit_test(test_state_actions),
		cmocka_unit_test(test_excess_drained),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_drain_timeout),
		cmocka_unit_test(test_blocked_launches_nothing),
		cmocka_unit_test(test_unhealthy_blocks_raise),
		cmocka_unit_test(test_excess_not_for_launches),
		cmocka_unit_test(test_replace_a_few_at_a_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
