/*
 * Tests of common/metrics.c: the Prometheus rendering (families in the
 * table's order with one HELP and TYPE each, histogram buckets in order,
 * sums in seconds, unknown or damaged series left out), label escaping,
 * and the flush into a real redis-server: totals add up across processes,
 * a batch sent again is applied once, a process stopping sends what it
 * has even with a flush in flight.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "common/keys.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/redis.h"
#include "common/scripts.h"
#include "tests/unit/support.h"

static char *
render(struct metric_sample *v, size_t n)
{
	size_t len = 0;
	char *s = metrics_render(v, n, &len);

	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	return s;
}

static void
test_render_orders_and_converts(void **state)
{
	struct metric_sample v[] = {
		{ "olb_http_request_duration_seconds_sum{route=\"test\"}", "1500000" },
		{ "olb_http_requests_total{route=\"test\",code=\"2xx\"}", "7" },
		{ "olb_http_request_duration_seconds_bucket{route=\"test\",le=\"+Inf\"}", "7" },
		{ "olb_http_request_duration_seconds_bucket{route=\"test\",le=\"10\"}", "7" },
		{ "olb_http_request_duration_seconds_bucket{route=\"test\",le=\"0.0005\"}", "3" },
		{ "olb_http_request_duration_seconds_bucket{route=\"test\",le=\"2.5\"}", "6" },
		{ "olb_http_request_duration_seconds_count{route=\"test\"}", "7" },
		{ "olb_build_info{version=\"1\"}", "1" },
		{ "olb_unknown_total", "5" },			/* not in the table */
		{ "olb_http_requests_total{route=\"x\",code=\"5xx\"}", "1e3" },	/* not an integer */
		{ "olb_http_request_duration_seconds", "1" },	/* a histogram's bare name */
		{ "olb_health_probe_duration_seconds_count", "2" },
		{ "olb_health_probe_duration_seconds_sum", "1234" },
		{ "olb_health_probe_duration_seconds_bucket{le=\"0.001\"}", "2" },
	};
	const char *want =
	    "# HELP olb_build_info The olbd version serving this scrape (always 1).\n"
	    "# TYPE olb_build_info gauge\n"
	    "olb_build_info{version=\"1\"} 1\n"
	    "# HELP olb_http_requests_total API requests answered by the proxy "
	    "workers, by route and status class.\n"
	    "# TYPE olb_http_requests_total counter\n"
	    "olb_http_requests_total{route=\"test\",code=\"2xx\"} 7\n"
	    "# HELP olb_http_request_duration_seconds Time from a request's head to "
	    "its answer, by route.\n"
	    "# TYPE olb_http_request_duration_seconds histogram\n"
	    "olb_http_request_duration_seconds_bucket{route=\"test\",le=\"0.0005\"} 3\n"
	    "olb_http_request_duration_seconds_bucket{route=\"test\",le=\"2.5\"} 6\n"
	    "olb_http_request_duration_seconds_bucket{route=\"test\",le=\"10\"} 7\n"
	    "olb_http_request_duration_seconds_bucket{route=\"test\",le=\"+Inf\"} 7\n"
	    "olb_http_request_duration_seconds_count{route=\"test\"} 7\n"
	    "olb_http_request_duration_seconds_sum{route=\"test\"} 1.500000\n"
	    "# HELP olb_health_probe_duration_seconds Time of one health probe.\n"
	    "# TYPE olb_health_probe_duration_seconds histogram\n"
	    "olb_health_probe_duration_seconds_bucket{le=\"0.001\"} 2\n"
	    "olb_health_probe_duration_seconds_count 2\n"
	    "olb_health_probe_duration_seconds_sum 0.001234\n";
	char *s = render(v, sizeof(v) / sizeof(v[0]));

	(void)state;
	assert_string_equal(s, want);
	free(s);
	s = render(v, 0);
	assert_string_equal(s, "");
	free(s);
}

static void
test_escape(void **state)
{
	char out[32];

	(void)state;
	metrics_escape(out, sizeof(out), "a\"b\\c\nd");
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	metrics_escape(out, 6, "abcdefgh");
	assert_string_equal(out, "abc");
	metrics_escape(out, 4, "\"\"\"");
	assert_string_equal(out, "\\\"");
}

/* One metrics_flush call; the script's answer. */
static long long
flush_call(struct test_sync *f, const char *proc, unsigned long long seq,
    const char *batch)
{
	struct scripts_call c;
	redisReply *r;
	long long v;

	assert_int_equal(scripts_call_metrics_flush(&c, "olbtest:m", "olbtest:m:seq",
	    proc, seq, 60000, batch), 0);
	assert_non_null(r = test_script(f->ctx, &c));
	if (r->type != REDIS_REPLY_INTEGER)
		fail_msg("metrics_flush: %s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
	v = r->integer;
	freeReplyObject(r);
	return v;
}

static void
test_flush_script_applies_a_batch_once(void **state)
{
	struct test_sync *f = *state;
	struct scripts_call c;

	assert_int_equal(flush_call(f, "1.5", 1, "a{x=\"1 2\"} 3\nb 4\n"), 1);
	assert_int_equal(flush_call(f, "1.5", 1, "a{x=\"1 2\"} 3\nb 4\n"), 0);
	assert_int_equal(test_redis_int(f->ctx, "HGET olbtest:m %s", "a{x=\"1 2\"}"), 3);
	assert_int_equal(flush_call(f, "1.5", 2, "b 1\n"), 1);
	assert_int_equal(flush_call(f, "1.5", 1, "b 100\n"), 0);	/* older */
	assert_int_equal(test_redis_int(f->ctx, "HGET olbtest:m b"), 5);
	/* Another process (a restart) starts its own sequence. */
	assert_int_equal(flush_call(f, "2.9", 1, "b 2\n"), 1);
	assert_int_equal(test_redis_int(f->ctx, "HGET olbtest:m b"), 7);
	assert_true(test_redis_int(f->ctx, "PTTL olbtest:m") > 0);
	assert_true(test_redis_int(f->ctx, "PTTL olbtest:m:seq") > 0);
	/* Damaged lines add nothing; an empty batch is fine. */
	assert_int_equal(flush_call(f, "2.9", 2, "junk\nb x\n"), 1);
	assert_int_equal(flush_call(f, "2.9", 3, ""), 1);
	assert_int_equal(test_redis_int(f->ctx, "HGET olbtest:m b"), 7);
	assert_int_equal(test_redis_int(f->ctx, "HLEN olbtest:m"), 2);
	assert_int_equal(scripts_call_metrics_flush(&c, "", "k", "p", 1, 1, ""), -1);
	assert_int_equal(scripts_call_metrics_flush(&c, "h", "k", "p", 1, 0, ""), -1);
	assert_int_equal(scripts_call_metrics_flush(&c, "h", "k", "p", 1, 1, NULL), -1);
}

static int
flushed(void *arg)
{
	struct test_sync *f = arg;

	return test_redis_int(f->ctx, "HGET %s %s", metrics_hash(),
	    "olb_http_requests_total{route=\"test\",code=\"2xx\"}") == 12;
}

static int
hist_flushed(void *arg)
{
	struct test_sync *f = arg;

	return test_redis_int(f->ctx, "HGET %s %s", metrics_hash(),
	    "olb_health_probe_duration_seconds_count") == 3;
}

static void
test_flush_counts_and_histograms(void **state)
{
	struct test_sync *f = *state;
	struct rconn *rc;
	struct metric *m;
	struct metric_hist *h;

	assert_int_equal(metrics_setup("hostx", 42, 60000), 0);
	assert_string_equal(metrics_hash(), "olbtest:metrics:hostx:42");
	metrics_process("proxy");
	m = metric_counter("olb_http_requests_total", "route=\"%s\",code=\"2xx\"",
	    "test");
	h = metric_histogram("olb_health_probe_duration_seconds", NULL);
	assert_non_null(rc = rconn_new(f->env.loop, &f->env.conf, "t", NULL, NULL));
	assert_int_equal(test_wait_for(f->env.loop, NULL, NULL, 300), -1);
	assert_true(rconn_is_up(rc));
	metric_add(m, 5);
	assert_int_equal(metrics_flush(rc, 0), 0);
	metric_add(m, 7);		/* while the first is in flight */
	assert_int_equal(metrics_flush(rc, 0), 0);	/* waits for it */
	metric_observe_us(h, 300);
	metric_observe_us(h, 4000);
	metric_observe_us(h, 20000000);
	assert_int_equal(metrics_flush(rc, 1), 0);	/* final: sent anyway */
	assert_int_equal(test_wait_for(f->env.loop, flushed, f, 3000), 0);
	assert_int_equal(test_wait_for(f->env.loop, hist_flushed, f, 3000), 0);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s %s", metrics_hash(),
	    "olb_health_probe_duration_seconds_bucket{le=\"0.0005\"}"), 1);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s %s", metrics_hash(),
	    "olb_health_probe_duration_seconds_bucket{le=\"0.005\"}"), 2);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s %s", metrics_hash(),
	    "olb_health_probe_duration_seconds_bucket{le=\"10\"}"), 2);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s %s", metrics_hash(),
	    "olb_health_probe_duration_seconds_bucket{le=\"+Inf\"}"), 3);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s %s", metrics_hash(),
	    "olb_health_probe_duration_seconds_sum"), 20004300);
	/* Nothing new: nothing sent, nothing changes. */
	assert_int_equal(metrics_flush(rc, 0), 0);
	assert_int_equal(test_wait_for(f->env.loop, NULL, NULL, 100), -1);
	assert_true(flushed(f));
	/* A second process of the same olbd adds to the same totals. */
	metrics_process("proxy");
	m = metric_counter("olb_http_requests_total", "route=\"test\",code=\"2xx\"");
	metric_add(m, 3);
	assert_int_equal(metrics_flush(rc, 0), 0);
	assert_int_equal(test_wait_for(f->env.loop, NULL, NULL, 200), -1);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s %s", metrics_hash(),
	    "olb_http_requests_total{route=\"test\",code=\"2xx\"}"), 15);
	rconn_free(rc);
	metrics_process("proxy");	/* frees what was registered */
}

static int
replied(void *arg)
{
	return *(int *)arg == 0;
}

static void
count_reply(struct rconn *rc, redisReply *r, void *arg)
{
	(void)rc;
	(void)r;
	(*(int *)arg)--;
}

static int
restart_counted(void *arg)
{
	struct test_sync *f = arg;

	return test_redis_int(f->ctx, "HGET %s %s", metrics_hash(),
	    "olb_worker_restarts_total{role=\"proxy\"}") == 1;
}

/* A connection that replaces another (the supervisor's after a reload,
 * often at the freed one's address) counts its errors from 0: the first
 * connection's 3 are kept, none is taken back, and the flushes go on. */
static void
test_new_connection_counts_from_zero(void **state)
{
	struct test_sync *f = *state;
	struct rconn *rc;
	struct metric *restarts;
	uintptr_t first;
	int due = 3;

	assert_int_equal(metrics_setup("hosty", 43, 60000), 0);
	metrics_process("supervisor");
	restarts = metric_counter("olb_worker_restarts_total", "role=\"proxy\"");
	assert_int_equal(test_redis_do(f->ctx, "SET olbtest:s text"), 0);
	assert_non_null(rc = rconn_new(f->env.loop, &f->env.conf, "a", NULL, NULL));
	assert_int_equal(test_wait_for(f->env.loop, NULL, NULL, 300), -1);
	for (int i = 0; i < 3; i++)	/* three error replies */
		assert_int_equal(rconn_command(rc, count_reply, &due,
		    "INCR olbtest:s"), 0);
	assert_int_equal(test_wait_for(f->env.loop, replied, &due, 2000), 0);
	assert_int_equal(rconn_errors(rc), 3);
	assert_int_equal(metrics_flush(rc, 0), 0);
	assert_int_equal(test_wait_for(f->env.loop, NULL, NULL, 200), -1);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s %s", metrics_hash(),
	    "olb_redis_errors_total{role=\"supervisor\"}"), 3);
	first = (uintptr_t)rc;
	rconn_free(rc);
	assert_non_null(rc = rconn_new(f->env.loop, &f->env.conf, "b", NULL, NULL));
	if ((uintptr_t)rc != first)
		print_message("note: the new rconn is not at the old address\n");
	assert_int_equal(test_wait_for(f->env.loop, NULL, NULL, 300), -1);
	metric_add(restarts, 1);
	assert_int_equal(metrics_flush(rc, 0), 0);
	assert_int_equal(test_wait_for(f->env.loop, restart_counted, f, 2000), 0);
	assert_int_equal(test_redis_int(f->ctx, "HGET %s %s", metrics_hash(),
	    "olb_redis_errors_total{role=\"supervisor\"}"), 3);
	/* That batch was applied and acknowledged: the next flush sends
	 * nothing again (a refused batch would be sent again, and its lines
	 * before the refused one added again). */
	assert_int_equal(metrics_flush(rc, 0), 0);
	assert_int_equal(test_wait_for(f->env.loop, NULL, NULL, 200), -1);
	assert_true(restart_counted(f));
	rconn_free(rc);
	metrics_process("proxy");	/* frees what was registered */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_orders_and_converts),
		cmocka_unit_test(test_escape),
		cmocka_unit_test_setup_teardown(test_flush_script_applies_a_batch_once,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_flush_counts_and_histograms,
		    test_sync_setup, test_sync_teardown),
		cmocka_unit_test_setup_teardown(test_new_connection_counts_from_zero,
		    test_sync_setup, test_sync_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	log_open("stderr", LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
