/*
 * rscript: run one Lua script of common/scripts.c: EVALSHA, and once more
 * as EVAL after a NOSCRIPT error (Redis restarted or flushed).  The one
 * home of that fallback, for the async connections of every role
 * (rscript_run) and for olbctl's blocking one (rscript_run_sync).  The
 * async call's arguments are copied, so the caller's struct scripts_call
 * may go as soon as rscript_run returns.
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
/* Send c on the blocking context ctx (c becomes the EVAL after NOSCRIPT).
 * The reply, maybe an error, is the caller's; NULL if the connection
 * failed (ctx->errstr says why). */
redisReply	*rscript_run_sync(redisContext *ctx, struct scripts_call *c);

#endif
