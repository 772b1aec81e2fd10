/*
 * placement: where an account's listener runs (SPEC §4), decided in Redis by
 * the Lua scripts of common/scripts.c over an async rconn (the proxy workers'
 * hot path).  One EVALSHA per decision, except placements: those asked for
 * in one loop iteration go together in one EVALSHA, sent just before the
 * loop sleeps (a before-sleep hook on the rconn's loop; one loop per
 * process).  After a NOSCRIPT error (Redis restarted or flushed) the same
 * call is sent once more as EVAL, which also caches the script, and that
 * answer is delivered.
 *
 * Every reply is checked for shape and size before use; anything unexpected
 * is PLACEMENT_ERROR, logged at error for the first failure of a run and at
 * debug while failures continue, so an outage does not flood the log.
 */
#ifndef OLB_PLACEMENT_H
#define OLB_PLACEMENT_H

#include <stdint.h>

struct rconn;
struct redisReply;

#define PLACEMENT_ID_MAX	64	/* with the NUL */
#define PLACEMENT_IP_MAX	64

enum placement_role {
	PLACEMENT_MASTER,
	PLACEMENT_CLIENT,
};

enum placement_status {
	PLACEMENT_OK,		/* placed (or, for a release, done) */
	PLACEMENT_NO_CAPACITY,	/* no live instance below its cap: 503 */
	PLACEMENT_ERROR,	/* an error or unexpected reply */
	PLACEMENT_UNAVAILABLE,	/* the connection was lost before the answer:
				   the call may or may not have run; every
				   call here may be made again */
	PLACEMENT_NOT_PLACED = PLACEMENT_NO_CAPACITY,	/* placement_locate */
};

/* An account's instance.  For a release, found says whether the account was
 * placed (and the rest is empty). */
struct placement {
	int		 found;
	char		 id[PLACEMENT_ID_MAX];
	char		 ip[PLACEMENT_IP_MAX];
	uint16_t	 port;
	int		 existing;	/* 1: placed before (re-login), 0: just now */
	int		 live;		/* the instance is running (placements
					   always; a locate maybe not) */
	uint64_t	 seq;		/* the routing sequence when the script
					   ran (placements and locate) */
};

/* The answer: where is zeroed unless status is PLACEMENT_OK; it is valid only
 * during the call.
 *
 * The routing sequence: every change that can make a cached placement stale
 * (a release, an instance's state) is published on the routing channel with
 * the next number of one counter, and the placement and locate answers carry
 * the counter's value when their script ran.  An answer whose seq is below
 * the highest number a subscriber has seen may predate a change the
 * subscriber has already applied: it is used once, never cached. */
typedef void placement_cb(enum placement_status status,
    const struct placement *where, void *arg);

/* Placements answer only once that many Redis replicas have their writes
 * (WAIT replicas timeout_ms): PLACEMENT_ERROR when too few did in time,
 * PLACEMENT_UNAVAILABLE when the connection was lost meanwhile; 0 replicas
 * (the default) = answer at once. */
void		 placement_set_wait(int replicas, int timeout_ms);

/* Place a master account on the least-loaded live master below
 * max_per_master, or find where it is.  0 if sent (cb is then called exactly
 * once, also with PLACEMENT_ERROR if the connection is lost), -1 if not sent
 * (rc down, actid empty, out of memory): cb is never called. */
int		 placement_place_master(struct rconn *rc, const char *actid,
		    long long max_per_master, placement_cb *cb, void *arg);
/* Place a client account of master (non-empty): the live client instance
 * below max_per_client with the fewest clients of that master, then the
 * fewest accounts, then the first launched.  0 or -1 as above. */
int		 placement_place_client(struct rconn *rc, const char *actid,
		    const char *master, long long max_per_client, placement_cb *cb,
		    void *arg);
/* Free an account's place (mapping, count, tracking) on instance (the one
 * whose listener was removed; a placement made meanwhile elsewhere stays);
 * master may be "" or NULL (the recorded master of a client is used).
 * PLACEMENT_OK with where->found 1 if it was placed there, 0 if not, and
 * where->seq the routing sequence after it (the number of its release
 * message when found); a release that freed a place is answered only after
 * a PING sent behind it (its release message then waits in every
 * subscriber's socket).  0 or -1 as above. */
int		 placement_release(struct rconn *rc, enum placement_role role,
		    const char *actid, const char *master, const char *instance,
		    placement_cb *cb, void *arg);

/* Where an account is placed, whatever the state of its instance (where its
 * remove_user_listener goes): PLACEMENT_OK (where->live 0 if the instance is
 * not running), or PLACEMENT_NOT_PLACED (the same value as
 * PLACEMENT_NO_CAPACITY).  An account whose instance was removed is
 * released on the way (its listener went with the instance).  0 or -1 as
 * above. */
int		 placement_locate(struct rconn *rc, enum placement_role role,
		    const char *actid, placement_cb *cb, void *arg);

/* Apply the pending tracking changes of up to max (>= 1) masters that are
 * due (see scripts_call_tracking_flush): PLACEMENT_OK with where->found = 1
 * when a master is left that is due now (call again), else 0.  0 or -1 as
 * above. */
int		 placement_flush_tracking(struct rconn *rc, int max, int ms_per_kib,
		    placement_cb *cb, void *arg);

/* Fail (PLACEMENT_UNAVAILABLE) the placements still waiting to be sent on rc:
 * call before rconn_free(rc).  Placements of a loop iteration are sent
 * together just before the loop sleeps. */
void		 placement_drop(struct rconn *rc);

/* SCRIPT LOAD every script (call when rc comes up: saves the first EVALSHA
 * its NOSCRIPT round trip).  0 if all were sent, -1 if not. */
int		 placement_load(struct rconn *rc);

/* Answers (placement_answer.c).  The routing sequence at the head of an
 * answer (an integer, not below 0).  0 or -1. */
int		 placement_parse_seq(const struct redisReply *r, uint64_t *seq);

/* One account's answer, the four replies at el: id, ip, port and how
 * ("existing", "placed" or "located"), or four nils (no capacity, or not
 * placed for a locate): PLACEMENT_OK with where filled (seq its routing
 * sequence), PLACEMENT_NO_CAPACITY, or PLACEMENT_ERROR. */
enum placement_status placement_parse_where(struct redisReply *const *el,
		    uint64_t seq, struct placement *where);

/* The answer of a batch of n placements (Redis' reply, outside bytes:
 * {routing sequence, a code per account, then id, ip and port of each
 * instance the codes name}; code j > 0: placed on the j-th instance named,
 * -j: already there, 0: none): each account's status (PLACEMENT_OK,
 * PLACEMENT_NO_CAPACITY, or PLACEMENT_ERROR for an answer that is not one)
 * and, when OK, its place into where[i].  0, or -1 when reply is not an
 * answer for n accounts (status and where then unset). */
int		 placement_parse_batch(const struct redisReply *reply, size_t n,
		    enum placement_status *status, struct placement *where);

#endif
