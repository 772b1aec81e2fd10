/*
 * rscript: run one Lua script of common/scripts.c on an async rconn, for
 * the roles whose scripts are not on a hot path (the scaler, later the
 * health worker): EVALSHA, and once more as EVAL after a NOSCRIPT error
 * (Redis restarted or flushed).  The call's arguments are copied, so the
 * caller's struct scripts_call may go as soon as rscript_run returns.
 */
#ifndef OLB_RSCRIPT_H
#define OLB_RSCRIPT_H

#include "common/redis.h"
#include "common/scripts.h"

/* Send c on rc.  0 if sent: cb (may be NULL) is then called exactly once,
 * with the reply, or NULL if the connection was lost.  -1 if not sent (rc
 * down, out of memory): cb is never called. */
int		 rscript_run(struct rconn *rc, const struct scripts_call *c,
		    rconn_reply_cb *cb, void *arg);

#endif
