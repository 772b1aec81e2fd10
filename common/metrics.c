/*
 * metrics: counting in each process, summing in Redis, rendering for
 * Prometheus (see metrics.h and docs/ARCHITECTURE.md, "Metrics").
 */
#include <math.h>
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

enum metric_type { M_COUNTER, M_GAUGE, M_HISTOGRAM };

/* Every family olb exports, in the order a scrape shows them. */
static const struct family {
	const char	*name;
	enum metric_type type;
	const char	*help;
} families[] = {
	{ "olb_build_info", M_GAUGE,
	    "The olbd version serving this scrape (always 1)." },
	{ "olb_http_requests_total", M_COUNTER,
	    "API requests answered by the proxy workers, by route and status class." },
	{ "olb_http_request_duration_seconds", M_HISTOGRAM,
	    "Time from a request's head to its answer, by route." },
	{ "olb_placements_total", M_COUNTER,
	    "Placement decisions for create_user_listener, by role and result." },
	{ "olb_upstream_connect_failures_total", M_COUNTER,
	    "Requests whose instance could not be reached, by instance role." },
	{ "olb_upstream_timeouts_total", M_COUNTER,
	    "Requests whose instance did not answer in time, by instance role." },
	{ "olb_instances", M_GAUGE,
	    "Instances of the cluster by role and state." },
	{ "olb_accounts", M_GAUGE,
	    "Accounts placed in the cluster, by role." },
	{ "olb_fleet_desired_instances", M_GAUGE,
	    "The desired fleet, by role (0 while the fleet is down)." },
	{ "olb_worker_restarts_total", M_COUNTER,
	    "Workers of this olbd restarted after they died, by role." },
	{ "olb_redis_errors_total", M_COUNTER,
	    "Redis error replies and failed or lost connections, by process role." },
	{ "olb_redis_reconnects_total", M_COUNTER,
	    "Redis connections established again after a loss, by process role." },
	{ "olb_health_probes_total", M_COUNTER,
	    "Health probes of instances, by result." },
	{ "olb_health_probe_duration_seconds", M_HISTOGRAM,
	    "Time of one health probe." },
	{ "olb_scale_outs_total", M_COUNTER,
	    "Raises of the desired fleet by the scaling rules, by role." },
	{ "olb_schedule_runs_total", M_COUNTER,
	    "Scheduled runs by job and result." },
	{ "olb_webhook_posts_total", M_COUNTER,
	    "Posts to the notification webhook, by result." },
	{ "olb_webhook_dropped_events_total", M_COUNTER,
	    "Notify events dropped from the webhook's full outbox." },
};

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
	/* The process's Redis connection, counted as its role's. */
	struct metric	*redis_errors, *redis_reconnects;
	const struct rconn *rc;		/* whose counts were last seen */
	uint64_t	 rc_errors, rc_reconnects;
} M;

/* Counted by hot paths when registration failed: never flushed. */
static struct metric metric_void;
static struct metric_hist hist_void;

static const struct family *
family_find(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(families); i++)
		if (strlen(families[i].name) == len &&
		    memcmp(families[i].name, name, len) == 0)
			return &families[i];
	return NULL;
}

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
	M.redis_errors = metric_counter("olb_redis_errors_total", "role=\"%s\"",
	    role);
	M.redis_reconnects = metric_counter("olb_redis_reconnects_total",
	    "role=\"%s\"", role);
	M.rc = NULL;
	snprintf(M.proc, sizeof(M.proc), "%ld.%llu", (long)getpid(),
	    (unsigned long long)util_wall_ms());
	snprintf(M.seq_key, sizeof(M.seq_key), "%s" METRICS_SEQ_SUFFIX "%s",
	    M.hash, M.proc);
}

void
metrics_escape(char *out, size_t size, const char *value)
{
	size_t o = 0;

	for (; *value != '\0' && o + 3 < size; value++) {
		if (*value == '\\' || *value == '"') {
			out[o++] = '\\';
			out[o++] = *value;
		} else if (*value == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else
			out[o++] = *value;
	}
	out[o] = '\0';
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
	if (M.batch_len == 0)
		return 0;
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

/* Count rc's errors and reconnects since the last look (a connection
 * made anew counts from 0). */
static void
metrics_mirror(const struct rconn *rc)
{
	if (rc != M.rc) {
		M.rc = rc;
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

/* Rendering */

struct sample {
	const struct metric_sample *s;
	const struct family *fam;
	int		 kind;		/* 0 value or bucket, 1 _count, 2 _sum */
	const char	*labels;	/* without le, not NUL-terminated */
	size_t		 labels_len;
	double		 le;		/* buckets; else 0 */
	long long	 value;
};

/* Fill x from s.  0, or -1 if the table does not know its family or its
 * value is not an integer. */
static int
sample_parse(struct sample *x, const struct metric_sample *s)
{
	const char *brace = strchr(s->field, '{'), *end, *le;
	size_t nlen = brace != NULL ? (size_t)(brace - s->field) : strlen(s->field);
	static const char *const suffix[3] = { "_bucket", "_count", "_sum" };
	char *vend;

	memset(x, 0, sizeof(*x));
	x->s = s;
	x->value = strtoll(s->value, &vend, 10);
	if (*s->value == '\0' || *vend != '\0')
		return -1;
	if ((x->fam = family_find(s->field, nlen)) != NULL &&
	    x->fam->type == M_HISTOGRAM)
		return -1;	/* a histogram's name alone */
	for (int k = 0; x->fam == NULL && k < 3; k++) {
		size_t sl = strlen(suffix[k]);

		if (nlen > sl && memcmp(s->field + nlen - sl, suffix[k], sl) == 0 &&
		    (x->fam = family_find(s->field, nlen - sl)) != NULL) {
			if (x->fam->type != M_HISTOGRAM)
				return -1;
			x->kind = k;
		}
	}
	if (x->fam == NULL)
		return -1;
	if (brace == NULL)
		return x->fam->type == M_HISTOGRAM && x->kind == 0 ? -1 : 0;
	if ((end = strrchr(brace, '}')) == NULL || end[1] != '\0')
		return -1;
	x->labels = brace + 1;
	x->labels_len = (size_t)(end - x->labels);
	if (x->fam->type != M_HISTOGRAM || x->kind != 0)
		return 0;
	/* A bucket: le is its last label. */
	if ((le = strstr(x->labels, "le=\"")) == NULL || le > end ||
	    (le != x->labels && le[-1] != ','))
		return -1;
	x->le = strncmp(le + 4, "+Inf\"", 5) == 0 ? INFINITY : strtod(le + 4, NULL);
	x->labels_len = le == x->labels ? 0 : (size_t)(le - 1 - x->labels);
	return 0;
}

static int
sample_cmp(const void *pa, const void *pb)
{
	const struct sample *a = pa, *b = pb;
	size_t n = a->labels_len < b->labels_len ? a->labels_len : b->labels_len;
	int c;

	if (a->fam != b->fam)
		return a->fam < b->fam ? -1 : 1;
	if ((c = memcmp(a->labels, b->labels, n)) != 0)
		return c;
	if (a->labels_len != b->labels_len)
		return a->labels_len < b->labels_len ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind - b->kind;
	return a->le < b->le ? -1 : a->le > b->le;
}

struct out {
	char	*buf;
	size_t	 len, cap;
	int	 failed;
};

static void
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		char *p = realloc(o->buf, o->cap * 2 + (size_t)n);
		if (p == NULL) {
			o->failed = 1;
			return;
		}
		o->buf = p;
		o->cap = o->cap * 2 + (size_t)n;
	}
}

static const char *const type_names[] = { "counter", "gauge", "histogram" };

char *
metrics_render(struct metric_sample *samples, size_t n, size_t *len)
{
	struct sample *x = calloc(n + 1, sizeof(*x));
	struct out o = { .cap = 4096 };
	const struct family *last = NULL;
	size_t nx = 0;

	if (x == NULL || (o.buf = malloc(o.cap)) == NULL) {
		free(x);
		return NULL;
	}
	o.buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (sample_parse(&x[nx], &samples[i]) == 0)
			nx++;
	qsort(x, nx, sizeof(*x), sample_cmp);
	for (size_t i = 0; i < nx && !o.failed; i++) {
		if (x[i].fam != last) {
			last = x[i].fam;
			out_printf(&o, "# HELP %s %s\n# TYPE %s %s\n", last->name,
			    last->help, last->name, type_names[last->type]);
		}
		if (last->type == M_HISTOGRAM && x[i].kind == 2)
			out_printf(&o, "%s %lld.%06lld\n", x[i].s->field,
			    x[i].value / 1000000, x[i].value % 1000000);
		else
			out_printf(&o, "%s %lld\n", x[i].s->field, x[i].value);
	}
	free(x);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
