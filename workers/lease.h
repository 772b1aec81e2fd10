/*
 * lease: the Redis lease of a singleton duty (SPEC §2: the scaler, the
 * health checker, the scheduler), so that of many olb hosts sharing one
 * Redis exactly one carries each duty out.
 *
 * The lease is "<prefix>lease:<duty>" (SET NX PX daemon.lease_ms by the
 * lease script), its value the token "<host>:<pid>#<fence>", the fence a
 * counter "<prefix>lease:<duty>:fence" that only grows.  A holder renews it
 * every third of the ttl; a lease not renewed within the ttl is given up
 * here even if Redis cannot be asked.  A holder of this host that is dead
 * (its pid gone) is replaced at once rather than waited out.
 *
 * Every write a duty makes under its lease carries lease_token() through
 * scripts_call_fence(lease_key(), ...): Redis refuses it ("FENCED") once
 * the lease has passed on, and the duty then calls lease_lost().
 *
 * Events: "leader.acquired" {"lease": token} and "leader.lost" (notify).
 *
 * Ownership: the caller owns the lease and frees it with lease_free, which
 * may come before the replies of calls in flight (its own, and others'
 * that took a reference): the memory then lives until the last of them is
 * answered (or the connection is freed, which answers them with NULL); the
 * callback is never called after lease_free.
 */
#ifndef OLB_LEASE_H
#define OLB_LEASE_H

#include <stdint.h>

struct lease;
struct rconn;
struct scripts_call;

/* The lease was acquired (held 1) or lost (held 0). */
typedef void lease_cb(struct lease *l, int held, void *arg);

/* A lease of duty ("scaler", "health", "scheduler") taken on rc with ttl
 * ttl_ms; nothing is sent before lease_start.  NULL if out of memory or
 * the key names do not fit. */
struct lease	*lease_new(struct rconn *rc, const char *duty, uint64_t ttl_ms,
		    lease_cb *cb, void *arg);
/* Try to take the lease now, and again every ttl/3 until lease_drop or
 * lease_free. */
void		 lease_start(struct lease *l);
/* Try at once rather than at the next tick (Redis came back).  Does
 * nothing after lease_drop. */
void		 lease_retry(struct lease *l);
/* 1 while the lease is held. */
int		 lease_held(const struct lease *l);
/* The token of the lease held, "" if none: pass it with lease_key() to
 * scripts_call_fence for every write made under the lease. */
const char	*lease_token(const struct lease *l);
const char	*lease_key(const struct lease *l);
/* scripts_call_fence(c, lease_key(l), lease_token(l)): the last step of
 * building a write made under the lease.  0 or -1. */
int		 lease_fence(const struct lease *l, struct scripts_call *c);
/* A write was fenced, or the duty cannot go on: give the lease up here
 * (Redis keeps it until it expires).  Does nothing if it is not held. */
void		 lease_lost(struct lease *l, const char *why);
/* Stop renewing and give the lease back in Redis so another host takes it
 * at once.  done(arg) is called once: when Redis answered, or after
 * LEASE_DROP_WAIT_MS.  -1 if there is nothing to give back (done is then
 * not called). */
int		 lease_drop(struct lease *l, void (*done)(void *), void *arg);
void		 lease_free(struct lease *l);
/* A reply to come will look at l (a write under the lease, to call
 * lease_lost if it was fenced): lease_ref when sending, lease_unref when
 * answered.  lease_unref answers 1 if l may still be used, 0 if it was
 * freed meanwhile (the memory goes with the last reference). */
void		 lease_ref(struct lease *l);
int		 lease_unref(struct lease *l);

#define LEASE_DROP_WAIT_MS	500

#endif
