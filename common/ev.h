/*
 * ev: the small event loop every olb process runs.
 *
 * One epoll set, descriptor callbacks indexed by fd, timers in a binary heap on
 * the monotonic clock, signals delivered through a signalfd (so no code ever runs
 * in a signal handler), and a before-sleep hook.  Single-threaded; nothing here
 * blocks except epoll_wait itself.
 */
#ifndef OLB_EV_H
#define OLB_EV_H

#include <stdint.h>
#include <signal.h>

#define EV_READ  0x1
#define EV_WRITE 0x2

struct ev_loop;
struct ev_timer;

typedef void ev_io_cb(struct ev_loop *loop, int fd, int mask, void *arg);
typedef void ev_timer_cb(struct ev_loop *loop, struct ev_timer *timer, void *arg);
typedef void ev_signal_cb(struct ev_loop *loop, int signo, void *arg);
typedef void ev_hook_cb(struct ev_loop *loop, void *arg);

/* A timer is owned by its caller (usually embedded in a larger object); the loop
 * only keeps a pointer to it while it is armed.  Zero-initialise before use. */
struct ev_timer {
	uint64_t	 when;		/* monotonic ms at which it fires */
	int		 heap_index;	/* -1 (or 0 when zeroed) = not armed */
	int		 armed;
	ev_timer_cb	*cb;
	void		*arg;
};

/* Create a loop able to watch descriptors 0..setsize-1.  NULL on failure. */
struct ev_loop	*ev_loop_new(int setsize);
/* Free the loop; armed timers are forgotten, registered fds are not closed. */
void		 ev_loop_free(struct ev_loop *loop);

/* Watch fd for mask (EV_READ|EV_WRITE), adding to what it already watches.
 * One callback and argument per fd (the last call wins).  0 or -1. */
int		 ev_io_add(struct ev_loop *loop, int fd, int mask, ev_io_cb *cb, void *arg);
/* Stop watching fd for mask; with both bits cleared the fd leaves the loop. */
void		 ev_io_del(struct ev_loop *loop, int fd, int mask);
/* Dispatch fd's events before those of other descriptors ready at the same
 * wakeup, until fd leaves the loop (a subscriber whose messages must be
 * applied before the requests that arrived with them). */
void		 ev_io_first(struct ev_loop *loop, int fd);
/* Current mask watched for fd (0 if none). */
int		 ev_io_mask(struct ev_loop *loop, int fd);

/* Arm (or re-arm) timer to fire once after ms milliseconds. */
void		 ev_timer_start(struct ev_loop *loop, struct ev_timer *t, uint64_t ms,
		    ev_timer_cb *cb, void *arg);
/* Disarm timer; harmless if it is not armed. */
void		 ev_timer_stop(struct ev_loop *loop, struct ev_timer *t);

/* Block signo for the process and deliver it to cb from the loop.  Up to 32
 * signals.  0 or -1. */
int		 ev_signal_add(struct ev_loop *loop, int signo, ev_signal_cb *cb, void *arg);

/* Call cb once per iteration just before the loop sleeps (to send what the
 * iteration queued in one write, say), until ev_before_sleep_del with the
 * same cb and arg.  At most 4 per loop.  0 or -1. */
int		 ev_before_sleep_add(struct ev_loop *loop, ev_hook_cb *cb, void *arg);
void		 ev_before_sleep_del(struct ev_loop *loop, ev_hook_cb *cb, void *arg);

/* Run until ev_stop(); returns 0, or -1 if epoll failed. */
int		 ev_run(struct ev_loop *loop);
void		 ev_stop(struct ev_loop *loop);

/* The loop's cached monotonic time in ms (refreshed after each wake-up). */
uint64_t	 ev_now(struct ev_loop *loop);
/* Refresh and return the cached time. */
uint64_t	 ev_now_update(struct ev_loop *loop);

/* Restore the signal mask and default dispositions blocked by ev_signal_add;
 * call in a child after fork() before it builds its own loop or execs. */
void		 ev_signals_reset(void);

#endif
