/*
 * ev: epoll event loop with a timer heap and signalfd signals (see ev.h).
 *
 * Descriptor state lives in an array indexed by fd; timers are caller-owned
 * structs kept in a binary min-heap ordered by their monotonic deadline.
 */
#include <sys/epoll.h>
#include <sys/signalfd.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ev.h"
#include "common/log.h"

#define EV_MAX_EVENTS	256
#define EV_MAX_SIGNALS	32
#define EV_MAX_HOOKS	4

struct ev_fd {
	int		 mask;
	int		 first;		/* dispatched before the others */
	ev_io_cb	*cb;
	void		*arg;
};

struct ev_sig {
	int		 signo;
	ev_signal_cb	*cb;
	void		*arg;
};

struct ev_loop {
	int		 epfd;
	int		 setsize;
	struct ev_fd	*fds;		/* owned, setsize entries */
	struct ev_timer	**heap;		/* owned array; timers owned by callers */
	size_t		 nheap;
	size_t		 heap_cap;
	uint64_t	 now;
	int		 stop;
	struct {
		ev_hook_cb	*cb;
		void		*arg;
	}		 hooks[EV_MAX_HOOKS];	/* before sleeping; cb NULL = free */
	int		 sigfd;
	sigset_t	 sigmask;
	struct ev_sig	 sigs[EV_MAX_SIGNALS];
	size_t		 nsigs;
};

static sigset_t ev_blocked;	/* every signal any loop in this process blocked */

static uint64_t
ev_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct ev_loop *
ev_loop_new(int setsize)
{
	struct ev_loop *loop;

	if ((loop = calloc(1, sizeof(*loop))) == NULL)
		return NULL;
	loop->setsize = setsize;
	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	if ((loop->fds = calloc((size_t)setsize, sizeof(*loop->fds))) == NULL)
		goto fail;
	if ((loop->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_error("epoll_create1: %s", strerror(errno));
		goto fail;
	}
	loop->now = ev_clock_ms();
	return loop;
fail:
	free(loop->fds);
	free(loop);
	return NULL;
}

void
ev_loop_free(struct ev_loop *loop)
{
	if (loop == NULL)
		return;
	for (size_t i = 0; i < loop->nheap; i++)
		loop->heap[i]->armed = 0;
	close(loop->epfd);
	if (loop->sigfd != -1)
		close(loop->sigfd);
	free(loop->heap);
	free(loop->fds);
	free(loop);
}

static int
ev_epoll_update(struct ev_loop *loop, int fd, int oldmask, int newmask)
{
	struct epoll_event ee;
	int op;

	memset(&ee, 0, sizeof(ee));
	ee.data.fd = fd;
	if (newmask & EV_READ)
		ee.events |= EPOLLIN;
	if (newmask & EV_WRITE)
		ee.events |= EPOLLOUT;
	if (newmask == 0)
		op = EPOLL_CTL_DEL;
	else
		op = oldmask == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	if (epoll_ctl(loop->epfd, op, fd, &ee) == -1) {
		log_error("epoll_ctl(fd %d): %s", fd, strerror(errno));
		return -1;
	}
	return 0;
}

int
ev_io_add(struct ev_loop *loop, int fd, int mask, ev_io_cb *cb, void *arg)
{
	struct ev_fd *f;

	if (fd < 0 || fd >= loop->setsize) {
		log_error("ev_io_add: fd %d beyond the loop's %d", fd, loop->setsize);
		errno = ERANGE;
		return -1;
	}
	f = &loop->fds[fd];
	if ((f->mask | mask) != f->mask &&
	    ev_epoll_update(loop, fd, f->mask, f->mask | mask) == -1)
		return -1;
	f->mask |= mask;
	f->cb = cb;
	f->arg = arg;
	return 0;
}

void
ev_io_del(struct ev_loop *loop, int fd, int mask)
{
	struct ev_fd *f;

	if (fd < 0 || fd >= loop->setsize)
		return;
	f = &loop->fds[fd];
	if ((f->mask & mask) == 0)
		return;
	(void)ev_epoll_update(loop, fd, f->mask, f->mask & ~mask);
	f->mask &= ~mask;
	if (f->mask == 0)
		f->first = 0;
}

void
ev_io_first(struct ev_loop *loop, int fd)
{
	if (fd >= 0 && fd < loop->setsize && loop->fds[fd].mask != 0)
		loop->fds[fd].first = 1;
}

int
ev_io_mask(struct ev_loop *loop, int fd)
{
	if (fd < 0 || fd >= loop->setsize)
		return 0;
	return loop->fds[fd].mask;
}

/* Timer heap: heap[i]'s children are 2i+1 and 2i+2. */

static void
ev_heap_set(struct ev_loop *loop, size_t i, struct ev_timer *t)
{
	loop->heap[i] = t;
	t->heap_index = (int)i;
}

static void
ev_heap_up(struct ev_loop *loop, size_t i)
{
	struct ev_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (loop->heap[parent]->when <= t->when)
			break;
		ev_heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	ev_heap_set(loop, i, t);
}

static void
ev_heap_down(struct ev_loop *loop, size_t i)
{
	struct ev_timer *t = loop->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= loop->nheap)
			break;
		if (child + 1 < loop->nheap &&
		    loop->heap[child + 1]->when < loop->heap[child]->when)
			child++;
		if (t->when <= loop->heap[child]->when)
			break;
		ev_heap_set(loop, i, loop->heap[child]);
		i = child;
	}
	ev_heap_set(loop, i, t);
}

static void
ev_heap_remove(struct ev_loop *loop, struct ev_timer *t)
{
	size_t i = (size_t)t->heap_index;
	struct ev_timer *last = loop->heap[--loop->nheap];

	t->armed = 0;
	t->heap_index = -1;
	if (i == loop->nheap)
		return;
	ev_heap_set(loop, i, last);
	ev_heap_down(loop, i);
	ev_heap_up(loop, (size_t)last->heap_index);
}

void
ev_timer_start(struct ev_loop *loop, struct ev_timer *t, uint64_t ms,
    ev_timer_cb *cb, void *arg)
{
	if (t->armed)
		ev_heap_remove(loop, t);
	if (loop->nheap == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		struct ev_timer **heap = realloc(loop->heap, cap * sizeof(*heap));

		if (heap == NULL)
			fatal(1, "ev_timer_start: out of memory");
		loop->heap = heap;
		loop->heap_cap = cap;
	}
	t->when = loop->now + ms;
	t->cb = cb;
	t->arg = arg;
	t->armed = 1;
	ev_heap_set(loop, loop->nheap++, t);
	ev_heap_up(loop, loop->nheap - 1);
}

void
ev_timer_stop(struct ev_loop *loop, struct ev_timer *t)
{
	if (t->armed)
		ev_heap_remove(loop, t);
}

static void
ev_signal_read(struct ev_loop *loop, int fd, int mask, void *arg)
{
	struct signalfd_siginfo si;

	(void)mask;
	(void)arg;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		for (size_t i = 0; i < loop->nsigs; i++)
			if (loop->sigs[i].signo == (int)si.ssi_signo)
				loop->sigs[i].cb(loop, (int)si.ssi_signo,
				    loop->sigs[i].arg);
	}
}

int
ev_signal_add(struct ev_loop *loop, int signo, ev_signal_cb *cb, void *arg)
{
	int fd;

	if (loop->nsigs == EV_MAX_SIGNALS)
		return -1;
	sigaddset(&loop->sigmask, signo);
	sigaddset(&ev_blocked, signo);
	if (sigprocmask(SIG_BLOCK, &loop->sigmask, NULL) == -1)
		return -1;
	fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1) {
		log_error("signalfd: %s", strerror(errno));
		return -1;
	}
	if (loop->sigfd == -1 &&
	    ev_io_add(loop, fd, EV_READ, ev_signal_read, NULL) == -1) {
		close(fd);
		return -1;
	}
	loop->sigfd = fd;
	loop->sigs[loop->nsigs].signo = signo;
	loop->sigs[loop->nsigs].cb = cb;
	loop->sigs[loop->nsigs].arg = arg;
	loop->nsigs++;
	return 0;
}

void
ev_signals_reset(void)
{
	sigprocmask(SIG_UNBLOCK, &ev_blocked, NULL);
	sigemptyset(&ev_blocked);
}

int
ev_before_sleep_add(struct ev_loop *loop, ev_hook_cb *cb, void *arg)
{
	for (size_t i = 0; i < EV_MAX_HOOKS; i++) {
		if (loop->hooks[i].cb == NULL) {
			loop->hooks[i].cb = cb;
			loop->hooks[i].arg = arg;
			return 0;
		}
	}
	return -1;
}

void
ev_before_sleep_del(struct ev_loop *loop, ev_hook_cb *cb, void *arg)
{
	for (size_t i = 0; i < EV_MAX_HOOKS; i++)
		if (loop->hooks[i].cb == cb && loop->hooks[i].arg == arg)
			loop->hooks[i].cb = NULL;
}

void
ev_stop(struct ev_loop *loop)
{
	loop->stop = 1;
}

uint64_t
ev_now(struct ev_loop *loop)
{
	return loop->now;
}

uint64_t
ev_now_update(struct ev_loop *loop)
{
	return loop->now = ev_clock_ms();
}

static void
ev_run_timers(struct ev_loop *loop)
{
	while (loop->nheap > 0 && loop->heap[0]->when <= loop->now) {
		struct ev_timer *t = loop->heap[0];

		ev_heap_remove(loop, t);
		t->cb(loop, t, t->arg);
	}
}

static int
ev_next_timeout(struct ev_loop *loop)
{
	uint64_t when;

	if (loop->nheap == 0)
		return -1;
	when = loop->heap[0]->when;
	if (when <= loop->now)
		return 0;
	return when - loop->now > 60000 ? 60000 : (int)(when - loop->now);
}

/* Dispatch one epoll event; the callback may close fd and remove it. */
static void
ev_dispatch(struct ev_loop *loop, const struct epoll_event *ee)
{
	int fd = ee->data.fd;
	struct ev_fd *f = &loop->fds[fd];
	int fired = 0;

	if (ee->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		fired |= EV_READ;
	if (ee->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		fired |= EV_WRITE;
	fired &= f->mask;
	if (fired && f->cb != NULL)
		f->cb(loop, fd, fired, f->arg);
}

int
ev_run(struct ev_loop *loop)
{
	struct epoll_event events[EV_MAX_EVENTS];

	loop->stop = 0;
	while (!loop->stop) {
		int n;

		for (size_t i = 0; i < EV_MAX_HOOKS; i++)
			if (loop->hooks[i].cb != NULL)
				loop->hooks[i].cb(loop, loop->hooks[i].arg);
		if (loop->stop)
			break;
		n = epoll_wait(loop->epfd, events, EV_MAX_EVENTS,
		    ev_next_timeout(loop));
		ev_now_update(loop);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			return -1;
		}
		/* Descriptors marked first, then the rest (see ev_io_first). */
		for (int i = 0; i < n; i++)
			if (loop->fds[events[i].data.fd].first) {
				ev_dispatch(loop, &events[i]);
				events[i].events = 0;
			}
		for (int i = 0; i < n; i++)
			if (events[i].events != 0)
				ev_dispatch(loop, &events[i]);
		ev_run_timers(loop);
	}
	return 0;
}
