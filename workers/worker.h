/*
 * worker: what every forked role process shares.
 *
 * The supervisor forks a child per slot and calls that role's entry with a
 * struct worker; worker_run gives the role its event loop, its Redis
 * connection, its heartbeat key, the stop signals (SIGTERM: drain, SIGQUIT:
 * now) and the liveness pipe (the supervisor gone: exit at once).  Roles only
 * implement the hooks in struct worker_role_ops.
 */
#ifndef OLB_WORKER_H
#define OLB_WORKER_H

#include <stdint.h>

#include "common/ev.h"
#include "common/redis.h"

struct conf;

/* Exit status of a worker that must not be respawned (SPEC §2). */
#define WORKER_EXIT_FATAL_CONFIG	2

/* Handed to a role by the supervisor; valid for the life of the process. */
struct worker {
	const struct conf	*conf;		/* owned by the supervisor's image */
	const char		*role;		/* "proxy", "scaler", ... */
	int			 slot;		/* 0-based index within the role */
	int			 generation;	/* configuration generation */
	int			 restarts;	/* of this slot so far */
	int			 listen_fd;	/* proxy slots: the SO_REUSEPORT socket */
	int			 liveness_fd;	/* read end of the supervisor's pipe */

	/* Set by worker_run for the role's use. */
	struct ev_loop		*loop;
	struct rconn		*redis;
	char			 name[32];	/* "proxy-1", "scaler": heartbeat id */
	uint64_t		 started_ms;	/* wall clock */
	int			 stopping;	/* a stop was requested */
};

struct worker_role_ops {
	/* Set up on the loop; 0, or -1 to exit with status 1. */
	int	(*start)(struct worker *w);
	/* Stop was requested: finish in-flight work, then call worker_done().
	 * NULL: the worker is done at once. */
	void	(*drain)(struct worker *w);
	/* Redis came up (1) or went down (0); may be NULL. */
	void	(*redis_state)(struct worker *w, int up);
	/* SIGUSR1: reopen the role's own log files; may be NULL. */
	void	(*reopen)(struct worker *w);
	/* Free what start() made; called once before exit; may be NULL. */
	void	(*cleanup)(struct worker *w);
};

/* Run role ops in this (child) process until it stops.  Returns the exit
 * status for the child. */
int		 worker_run(struct worker *w, const struct worker_role_ops *ops);
/* The role has finished draining: remove the heartbeat and leave the loop. */
void		 worker_done(struct worker *w);
/* A singleton duty's drain: give its lease back (another host or the next
 * generation takes over at once), then worker_done. */
struct lease;
void		 worker_done_after_lease(struct worker *w, struct lease *l);

/* A listening role (proxy, admin) on its slot's socket: accept once the
 * worker's Redis is up, or after proxy.redis_wait_ms anyway so the slot is
 * never deaf (the kernel queues connections meanwhile).  Call at start and
 * from the role's redis_state hook (up: 1 or 0). */
struct hserver;
void		 worker_accept_gate(struct worker *w, struct hserver *s, int start);

/* Role entry points, named in the supervisor's role table. */
int		 proxy_main(struct worker *w);
int		 scaler_main(struct worker *w);
int		 health_main(struct worker *w);
int		 scheduler_main(struct worker *w);
int		 admin_main(struct worker *w);

#endif
