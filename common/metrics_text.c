/*
 * metrics_text: the Prometheus text exposition (format 0.0.4) of olb's
 * metrics (see metrics.h): the one table of families, and the rendering of
 * samples read back from Redis.  Pure: no I/O, so it is fuzzed on its own
 * (tests/fuzz/fuzz_metrics.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"
#include "common/sbuf.h"
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

static const struct family *
family_find(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(families); i++)
		if (strlen(families[i].name) == len &&
		    memcmp(families[i].name, name, len) == 0)
			return &families[i];
	return NULL;
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
	if (n > 0 && (c = memcmp(a->labels, b->labels, n)) != 0)
		return c;
	if (a->labels_len != b->labels_len)
		return a->labels_len < b->labels_len ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind - b->kind;
	return a->le < b->le ? -1 : a->le > b->le;
}

static const char *const type_names[] = { "counter", "gauge", "histogram" };

char *
metrics_render(struct metric_sample *samples, size_t n, size_t *len)
{
	struct sample *x = calloc(n + 1, sizeof(*x));
	struct sbuf o;
	const struct family *last = NULL;
	size_t nx = 0;

	if (x == NULL || sbuf_init(&o, 4096) == -1) {
		free(x);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (sample_parse(&x[nx], &samples[i]) == 0)
			nx++;
	qsort(x, nx, sizeof(*x), sample_cmp);
	for (size_t i = 0; i < nx && !o.failed; i++) {
		if (x[i].fam != last) {
			last = x[i].fam;
			sbuf_printf(&o, "# HELP %s %s\n# TYPE %s %s\n", last->name,
			    last->help, last->name, type_names[last->type]);
		}
		if (last->type == M_HISTOGRAM && x[i].kind == 2)
			sbuf_printf(&o, "%s %lld.%06lld\n", x[i].s->field,
			    x[i].value / 1000000, x[i].value % 1000000);
		else
			sbuf_printf(&o, "%s %lld\n", x[i].s->field, x[i].value);
	}
	free(x);
	return sbuf_finish(&o, len);
}
