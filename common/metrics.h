/*
 * metrics: olb's Prometheus metrics (SPEC §10), counted in every process
 * and summed in Redis (docs/ARCHITECTURE.md, "Metrics").
 *
 * A process counts in its own memory: a counter is a plain addition on the
 * hot path, a histogram observation a short bucket search.  Every second
 * (and when it stops) the process flushes what it counted since the last
 * flush to its olbd's metrics hash, "<prefix>metrics:<host>:<olbd pid>",
 * in one metrics_flush script call that adds every increment at once and
 * at most once (a batch whose reply was lost is sent again unchanged with
 * the same sequence number).  The hash so holds the totals of every
 * process that ever ran under this olbd, whatever restarted or reloaded,
 * and a scrape reads it with one HGETALL.  A process killed outright loses
 * at most the second it had not flushed: no counter ever goes down.
 *
 * The one table of families (name, type, help) is metrics.c's; series are
 * "name{labels}" strings, the hash's fields.  Histograms have fixed buckets
 * in every process, so their counts add up; the hash keeps them cumulative
 * as Prometheus does, and their sums in microseconds.
 */
#ifndef OLB_METRICS_H
#define OLB_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct rconn;

/* A build with -DOLB_NO_METRICS counts nothing (the benchmark of what the
 * metrics cost, docs/PERFORMANCE.md). */
#ifdef OLB_NO_METRICS
#define METRICS_ON	0
#else
#define METRICS_ON	1
#endif

/* One counter series of this process. */
struct metric {
	uint64_t	 value;		/* counted since this process started */
	uint64_t	 sent;		/* of value, what flush batches carried */
	char		*field;		/* owned: "name{labels}" */
	struct metric	*next;
};

#define METRIC_BUCKETS	15	/* 14 bounds and +Inf */

/* One histogram series of this process: buckets not cumulative here. */
struct metric_hist {
	uint64_t	 count[METRIC_BUCKETS];
	uint64_t	 sum_us;
	uint64_t	 sent[METRIC_BUCKETS];
	uint64_t	 sent_sum_us;
	char		*name;		/* owned: the family */
	char		*labels;	/* owned: "a=\"x\"" or "" */
	struct metric_hist *next;
};

/* Where this olbd's processes flush (the supervisor, before it forks):
 * the hash for host and run (the supervisor's pid), kept ttl_ms after the
 * last flush.  After keys_init.  0 or -1. */
int		 metrics_setup(const char *host, long run, long long ttl_ms);
/* The hash metrics_setup named. */
const char	*metrics_hash(void);
/* A forked process starts counting on its own, as role ("proxy", ...):
 * forgets what its parent registered and counted. */
void		 metrics_process(const char *role);

/* Register a counter series of family name (one of the table's) with
 * labels, a printf format of "k=\"v\"" pairs (NULL for none; label values
 * from outside go through metrics_escape first).  Never NULL: when out of memory, a counter that is never
 * flushed. */
struct metric	*metric_counter(const char *name, const char *labels, ...)
		    __attribute__((format(printf, 2, 3)));
/* The same for a histogram family. */
struct metric_hist *metric_histogram(const char *name, const char *labels, ...)
		    __attribute__((format(printf, 2, 3)));

static inline void
metric_add(struct metric *m, uint64_t n)
{
	if (METRICS_ON)
		m->value += n;
}

/* A counter kept elsewhere (rconn_errors, say): its total so far. */
static inline void
metric_set_total(struct metric *m, uint64_t total)
{
	if (total > m->value)
		m->value = total;
}

void		 metric_observe_us(struct metric_hist *h, uint64_t us);

/* Send what was counted since the last flush (with rc's own errors and
 * reconnects, counted as the process's role), unless a flush is waiting
 * for its reply.  final: the process is stopping, send now regardless
 * (pipelined behind a flush in flight).  0 (sent, or nothing to send) or
 * -1 (rc down: kept for the next flush). */
int		 metrics_flush(struct rconn *rc, int final);

/* Rendering (the admin worker; pure) */

/* One series and its value as text (an integer; the sums of seconds
 * histograms in microseconds). */
struct metric_sample {
	char		*field;		/* "name{labels}" */
	char		*value;
};

/* The Prometheus text exposition (format 0.0.4) of samples: grouped by
 * family in the table's order with # HELP and # TYPE, histogram buckets in
 * order, seconds sums converted; series of families the table does not
 * know, or with a value that is not an integer, are left out.  The samples
 * are sorted in place.  A malloc'd string (*len bytes), or NULL when out
 * of memory. */
char		*metrics_render(struct metric_sample *samples, size_t n,
		    size_t *len);

/* Escape a label value ("\\", "\"", newline) into out (size > 0). */
void		 metrics_escape(char *out, size_t size, const char *value);

#endif
