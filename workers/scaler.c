/*
 * scaler: the scaler: owns the instance provider and reconciles the desired fleet
 * with the actual one (SPEC §5, §6). For now it runs the shared worker
 * runtime (event loop, Redis, heartbeat) and waits; reconciliation lands
 * with the scaler issue.
 */
#include "workers/worker.h"

static int
scaler_start(struct worker *w)
{
	(void)w;
	return 0;
}

static const struct worker_role_ops scaler_ops = {
	.start = scaler_start,
};

int
scaler_main(struct worker *w)
{
	return worker_run(w, &scaler_ops);
}
