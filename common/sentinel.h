/*
 * sentinel: where the Redis master is, for the rconns of this process, when
 * redis.sentinel.master is set (SPEC §10).
 *
 * One watcher per process holds two connections to the sentinels: a command
 * connection that asks SENTINEL GET-MASTER-ADDR-BY-NAME every
 * redis.sentinel.check_ms and whenever an rconn (re)connects, and a
 * subscriber of +switch-master.  Both are rconns in sentinel mode (see
 * rconn_new_sentinel): after a failure each tries the next sentinel of the
 * list, so the one that answers stays in use.  The last answer is kept; an
 * rconn connects to it and accepts the server only if ROLE says master.
 * When the answer changes, every registered rconn is told
 * (rconn_master_moved): one connected elsewhere is reset, one waiting
 * retries at once.  A lost +switch-master costs at most one check_ms.
 *
 * Processes fork: a watcher inherited from the parent is forgotten, never
 * used or freed, by the child.
 */
#ifndef OLB_SENTINEL_H
#define OLB_SENTINEL_H

#include <stddef.h>

#include <hiredis/hiredis.h>

struct conf;
struct ev_loop;
struct rconn;
struct sentinel;

/* Register rc (a master connection) with this process's watcher, made on
 * first use with conf's redis.sentinel settings.  NULL if out of memory. */
struct sentinel	*sentinel_attach(struct ev_loop *loop, const struct conf *conf,
		    struct rconn *rc);
/* Unregister rc; the last one frees the watcher. */
void		 sentinel_detach(struct sentinel *s, struct rconn *rc);
/* The master as last answered, into host (hostlen bytes) and *port: 0, or
 * -1 while none is known.  Either way the sentinels are asked again (unless
 * a question is already out). */
int		 sentinel_master(struct sentinel *s, char *host, size_t hostlen,
		    int *port);

/* Pure reply readers (unit-tested and fuzzed). */

/* The answer of SENTINEL GET-MASTER-ADDR-BY-NAME: two strings, an address
 * and a port in 1..65535.  0 and host, *port filled, or -1 (nil: the name
 * is not monitored; error; malformed; host does not fit). */
int		 sentinel_parse_addr(const redisReply *r, char *host,
		    size_t hostlen, int *port);
/* A +switch-master message, "<name> <old ip> <old port> <new ip> <new
 * port>": 0 and the new address if it names master, else -1. */
int		 sentinel_parse_switch(const char *msg, size_t len,
		    const char *master, char *host, size_t hostlen, int *port);
/* The role in a ROLE answer ("master", "slave", "sentinel"), or NULL if r
 * is not one. */
const char	*sentinel_parse_role(const redisReply *r);

#endif
