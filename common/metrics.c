/*
 * metrics: counting in each process, summing in Redis, rendering for
 * Prometheus (see metrics.h and docs/ARCHITECTURE.md, "Metrics").
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/keys.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/redis.h"
#include "common/rscript.h"
#include "common/scripts.h"
#include "common/util.h"

/* Upper bounds of the histogram buckets, microseconds; +Inf follows. */
static const uint64_t bounds_us[METRIC_BUCKETS - 1] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};
static const char *const bounds_text[METRIC_BUCKETS] = {
	"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
	"0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
};

#define METRICS_SEQ_SUFFIX	":seq:"

static struct {
	char		 hash[KEYS_NAME_MAX];
	char		 seq_key[KEYS_NAME_MAX + 128];
	char		 proc[64];	/* "<pid>.<started ms>" */
	long long	 ttl_ms;
	struct metric	*counters;
	struct metric_hist *hists;
	unsigned long long seq;		/* of the last batch built */
	char		*batch;		/* built, not yet acknowledged */
	size_t		 batch_len, batch_cap;
	int		 inflight;	/* batch sent, its reply due */
	uint64_t	 sent_ms;	/* monotonic: the last batch built */
	/* The process's Redis connection, counted as its role's. */
	struct metric	*redis_errors, *redis_reconnects;
	uint64_t	 rc_serial;	/* whose counts were last seen, 0 none */
	uint64_t	 rc_errors, rc_reconnects;
} M;

/* Counted by hot paths when registration failed: never flushed. */
static struct metric metric_void;
static struct metric_hist hist_void;

int
metrics_setup(const char *host, long run, long long ttl_ms)
{
	if (ttl_ms < 1 || snprintf(M.hash, sizeof(M.hash), "%smetrics:%s:%ld",
	    keys_prefix(), host, run) >= (int)sizeof(M.hash) - 64)
		return -1;
	M.ttl_ms = ttl_ms;
	metrics_process("supervisor");
	return 0;
}

const char *
metrics_hash(void)
{
	return M.hash;
}

void
metrics_process(const char *role)
{
	struct metric *m;
	struct metric_hist *h;

	while ((m = M.counters) != NULL) {
		M.counters = m->next;
		free(m->field);
		free(m);
	}
	while ((h = M.hists) != NULL) {
		M.hists = h->next;
		free(h->name);
		free(h->labels);
		free(h);
	}
	free(M.batch);
	M.batch = NULL;
	M.batch_len = M.batch_cap = 0;
	M.inflight = 0;
	M.seq = 0;
	M.sent_ms = util_mono_ms();
	M.redis_errors = metric_counter("olb_redis_errors_total", "role=\"%s\"",
	    role);
	M.redis_reconnects = metric_counter("olb_redis_reconnects_total",
	    "role=\"%s\"", role);
	M.rc_serial = 0;
	snprintf(M.proc, sizeof(M.proc), "%ld.%llu", (long)getpid(),
	    (unsigned long long)util_wall_ms());
	snprintf(M.seq_key, sizeof(M.seq_key), "%s" METRICS_SEQ_SUFFIX "%s",
	    M.hash, M.proc);
}

/* vsnprintf into a new string, or NULL. */
static char *
metrics_vformat(const char *fmt, va_list ap)
{
	char buf[512];
	int n;

	if (fmt == NULL)
		return strdup("");
	n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	return strdup(buf);
}

struct metric *
metric_counter(const char *name, const char *labels, ...)
{
	struct metric *m;
	char *l, field[640];
	va_list ap;

	va_start(ap, labels);
	l = metrics_vformat(labels, ap);
	va_end(ap);
	if (l == NULL || (m = calloc(1, sizeof(*m))) == NULL) {
		free(l);
		return &metric_void;
	}
	if (*l == '\0')
		snprintf(field, sizeof(field), "%s", name);
	else
		snprintf(field, sizeof(field), "%s{%s}", name, l);
	free(l);
	if ((m->field = strdup(field)) == NULL) {
		free(m);
		return &metric_void;
	}
	m->next = M.counters;
	M.counters = m;
	return m;
}

struct metric_hist *
metric_histogram(const char *name, const char *labels, ...)
{
	struct metric_hist *h;
	va_list ap;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return &hist_void;
	va_start(ap, labels);
	h->labels = metrics_vformat(labels, ap);
	va_end(ap);
	if (h->labels == NULL || (h->name = strdup(name)) == NULL) {
		free(h->labels);
		free(h);
		return &hist_void;
	}
	h->next = M.hists;
	M.hists = h;
	return h;
}

void
metric_observe_us(struct metric_hist *h, uint64_t us)
{
	size_t i = 0;

	if (!METRICS_ON)
		return;
	while (i < METRIC_BUCKETS - 1 && us > bounds_us[i])
		i++;
	h->count[i]++;
	h->sum_us += us;
}

/* Flushing */

/* Append one "<field> <delta>\n" line to the batch.  0 or -1. */
static int
batch_line(const char *field, uint64_t delta)
{
	size_t need = strlen(field) + 24;

	if (M.batch_len + need + 1 > M.batch_cap) {
		size_t cap = M.batch_cap ? M.batch_cap : 4096;
		char *p;

		while (cap < M.batch_len + need + 1)
			cap *= 2;
		if ((p = realloc(M.batch, cap)) == NULL)
			return -1;
		M.batch = p;
		M.batch_cap = cap;
	}
	M.batch_len += (size_t)snprintf(M.batch + M.batch_len,
	    M.batch_cap - M.batch_len, "%s %llu\n", field,
	    (unsigned long long)delta);
	return 0;
}

/* A histogram's increments, cumulative as the hash keeps them: every
 * bucket, so a series has all its buckets from its first flush. */
static int
batch_add_hist(struct metric_hist *h)
{
	const char *sep = h->labels[0] != '\0' ? "," : "";
	uint64_t cum = 0, d[METRIC_BUCKETS];
	char field[700];
	int any = 0;

	for (size_t i = 0; i < METRIC_BUCKETS; i++) {
		d[i] = h->count[i] - h->sent[i];
		any |= d[i] != 0;
	}
	if (!any)
		return 0;
	for (size_t i = 0; i < METRIC_BUCKETS; i++) {
		cum += d[i];
		snprintf(field, sizeof(field), "%s_bucket{%s%sle=\"%s\"}", h->name,
		    h->labels, sep, bounds_text[i]);
		if (batch_line(field, cum) == -1)
			return -1;
	}
	snprintf(field, sizeof(field), h->labels[0] != '\0' ? "%s_count{%s}" :
	    "%s_count%s", h->name, h->labels);
	if (batch_line(field, cum) == -1)
		return -1;
	snprintf(field, sizeof(field), h->labels[0] != '\0' ? "%s_sum{%s}" :
	    "%s_sum%s", h->name, h->labels);
	if (batch_line(field, h->sum_us - h->sent_sum_us) == -1)
		return -1;
	memcpy(h->sent, h->count, sizeof(h->sent));
	h->sent_sum_us = h->sum_us;
	return 0;
}

/* Build a batch of everything counted since the last one.  1 if there is
 * one, 0 if nothing was counted, -1 when out of memory. */
static int
batch_build(void)
{
	M.batch_len = 0;
	for (struct metric *m = M.counters; m != NULL; m = m->next) {
		if (m->value == m->sent)
			continue;
		if (batch_line(m->field, m->value - m->sent) == -1)
			return -1;
		m->sent = m->value;
	}
	for (struct metric_hist *h = M.hists; h != NULL; h = h->next)
		if (batch_add_hist(h) == -1)
			return -1;
	/* Nothing counted: an empty batch now and then keeps the hash from
	 * expiring under a quiet olbd. */
	if (M.batch_len == 0 && util_mono_ms() - M.sent_ms < (uint64_t)M.ttl_ms / 4)
		return 0;
	if (M.batch == NULL) {
		if ((M.batch = malloc(4096)) == NULL)
			return -1;
		M.batch_cap = 4096;
	}
	M.batch[M.batch_len] = '\0';
	M.sent_ms = util_mono_ms();
	M.seq++;
	return 1;
}

static void
metrics_flushed(struct rconn *rc, redisReply *reply, void *arg)
{
	(void)rc;
	(void)arg;
	M.inflight = 0;
	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		if (reply != NULL)
			log_warn("metrics flush: %s", reply->type ==
			    REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
		return;		/* sent again, unchanged, next time */
	}
	M.batch_len = 0;
}

/* Send the batch built (its own sequence number). */
static int
batch_send(struct rconn *rc)
{
	struct scripts_call c;

	if (scripts_call_metrics_flush(&c, M.hash, M.seq_key, M.proc, M.seq,
	    M.ttl_ms, M.batch) == -1 ||
	    rscript_run(rc, &c, metrics_flushed, NULL) == -1)
		return -1;
	M.inflight = 1;
	return 0;
}

/* Count rc's errors and reconnects since the last look.  A connection made
 * anew counts from 0; it is told by its serial, never by its address (the
 * supervisor's new connection after a reload may reuse the freed one's). */
static void
metrics_mirror(const struct rconn *rc)
{
	if (rconn_serial(rc) != M.rc_serial) {
		M.rc_serial = rconn_serial(rc);
		M.rc_errors = M.rc_reconnects = 0;
	}
	metric_add(M.redis_errors, rconn_errors(rc) - M.rc_errors);
	metric_add(M.redis_reconnects, rconn_reconnects(rc) - M.rc_reconnects);
	M.rc_errors = rconn_errors(rc);
	M.rc_reconnects = rconn_reconnects(rc);
}

int
metrics_flush(struct rconn *rc, int final)
{
	if (M.hash[0] == '\0')
		return -1;
	metrics_mirror(rc);
	if (!rconn_is_up(rc))
		return -1;
	if (M.inflight && !final)
		return 0;
	if (M.batch_len > 0 && !M.inflight && batch_send(rc) == -1)
		return -1;	/* the unacknowledged batch, again */
	if (M.batch_len > 0 && !final)
		return 0;
	/* Final with a batch in flight: its reply may never be read, but
	 * both are applied in order, each once. */
	if (batch_build() <= 0)
		return M.batch_len == 0 ? 0 : -1;
	return batch_send(rc);
}
