/*
 * scheduler: the scheduler: daily fleet jobs at wall-clock times in a time zone (SPEC
 * §9). For now it runs the shared worker runtime (event loop, Redis,
 * heartbeat) and waits; the jobs land with the scheduler issue.
 */
#include "workers/worker.h"

static int
scheduler_start(struct worker *w)
{
	(void)w;
	return 0;
}

static const struct worker_role_ops scheduler_ops = {
	.start = scheduler_start,
};

int
scheduler_main(struct worker *w)
{
	return worker_run(w, &scheduler_ops);
}
