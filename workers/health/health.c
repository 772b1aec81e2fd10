/*
 * health: the health checker: probes every instance and records the results (SPEC
 * §7). For now it runs the shared worker runtime (event loop, Redis,
 * heartbeat) and waits; probing lands with the health issue.
 */
#include "workers/worker.h"

static int
health_start(struct worker *w)
{
	(void)w;
	return 0;
}

static const struct worker_role_ops health_ops = {
	.start = health_start,
};

int
health_main(struct worker *w)
{
	return worker_run(w, &health_ops);
}
