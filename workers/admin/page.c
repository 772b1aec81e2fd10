/*
 * page: the status page (GET /status), rendered on the server from the
 * /status.json document, so both always say the same.  One HTML document:
 * inline CSS, inline SVG for the health strips, no script, no external
 * resource; it refreshes itself with <meta http-equiv="refresh">.  Every
 * string from Redis is HTML-escaped.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workers/admin/admin.h"

struct page {
	char	*buf;
	size_t	 len, cap;
	int	 failed;
};

static void
put(struct page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct page *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		p->failed = 1;
		return;
	}
	if ((size_t)n >= p->cap - p->len) {
		size_t cap = p->cap;
		char *b;

		while (cap - p->len <= (size_t)n)
			cap *= 2;
		if ((b = realloc(p->buf, cap)) == NULL) {
			p->failed = 1;
			return;
		}
		p->buf = b;
		p->cap = cap;
		va_start(ap, fmt);
		vsnprintf(p->buf + p->len, p->cap - p->len, fmt, ap);
		va_end(ap);
	}
	p->len += (size_t)n;
}

/* s, HTML-escaped. */
static void
put_text(struct page *p, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&':	put(p, "&amp;"); break;
		case '<':	put(p, "&lt;"); break;
		case '>':	put(p, "&gt;"); break;
		case '"':	put(p, "&quot;"); break;
		case '\'':	put(p, "&#39;"); break;
		default:	put(p, "%c", *s); break;
		}
	}
}

static json_object *
get(json_object *o, const char *key)
{
	json_object *v = NULL;

	return o != NULL && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* A field as text ("-" when absent). */
static const char *
str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v != NULL ? json_object_get_string(v) : "-";
}

static int64_t
num(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v != NULL ? json_object_get_int64(v) : 0;
}

static void
put_time(struct page *p, int64_t ms)
{
	char buf[32];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		put(p, "-");
		return;
	}
	put(p, "%s UTC", buf);
}

static void
put_age(struct page *p, int64_t now, int64_t since)
{
	int64_t s = since > 0 && now > since ? (now - since) / 1000 : 0;

	if (s < 120)
		put(p, "%llds", (long long)s);
	else if (s < 7200)
		put(p, "%lldm", (long long)(s / 60));
	else
		put(p, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
}

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
	"h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}"
	"table{border-collapse:collapse;background:#fff}"
	"th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:middle}"
	"th{background:#f0f0f0}.muted{color:#777}.num{text-align:right}"
	".s-running{color:#1a7f37}.s-unhealthy{color:#cf222e;font-weight:bold}"
	".s-pending,.s-draining{color:#9a6700}.s-terminating,.s-terminated{color:#777}"
	".l-error{color:#cf222e}.l-notify{color:#9a6700}"
	".bar{display:inline-block;width:80px;height:8px;background:#eee;margin-left:6px}"
	".bar span{display:block;height:8px;background:#0969da}"
	".panic{background:#ffebe9;border:1px solid #cf222e;padding:6px 10px}";

static void
put_workers(struct page *p, json_object *doc, int64_t now)
{
	json_object *ws = get(doc, "workers");
	size_t n = ws != NULL ? json_object_array_length(ws) : 0;

	put(p, "<h2>Workers</h2><table id=\"workers\"><tr><th>host</th><th>worker</th>"
	    "<th>pid</th><th>generation</th><th>up</th><th>restarts</th></tr>");
	for (size_t i = 0; i < n; i++) {
		json_object *w = json_object_array_get_idx(ws, i);

		put(p, "<tr><td>");
		put_text(p, str(w, "host"));
		put(p, "</td><td>");
		put_text(p, str(w, "role"));
		if (strcmp(str(w, "role"), "proxy") == 0)
			put(p, "-%lld", (long long)num(w, "slot") + 1);
		if (json_object_get_boolean(get(w, "stopping")))
			put(p, " <span class=\"muted\">(stopping)</span>");
		put(p, "</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>"
		    "<td class=\"num\">", (long long)num(w, "pid"),
		    (long long)num(w, "generation"));
		put_age(p, now, num(w, "started"));
		put(p, "</td><td class=\"num\">%lld</td></tr>",
		    (long long)num(w, "restarts"));
	}
	put(p, "</table>");
}

static void
put_leases(struct page *p, json_object *doc)
{
	static const char *const duties[] = { "scaler", "health", "scheduler" };
	json_object *l = get(doc, "leases");

	put(p, "<h2>Leases</h2><table id=\"leases\"><tr><th>duty</th><th>holder</th></tr>");
	for (size_t i = 0; i < 3; i++) {
		json_object *v = get(l, duties[i]);

		put(p, "<tr><td>%s</td><td>", duties[i]);
		if (v != NULL)
			put_text(p, json_object_get_string(v));
		else
			put(p, "<span class=\"muted\">free</span>");
		put(p, "</td></tr>");
	}
	put(p, "</table>");
}

static const char *const states[] = {
	"pending", "running", "unhealthy", "draining", "terminating", "terminated",
};

static void
put_fleet(struct page *p, json_object *doc)
{
	json_object *f = get(doc, "fleet"), *is = get(doc, "instances");
	size_t n = is != NULL ? json_object_array_length(is) : 0;
	long long count[2][6] = { { 0 } }, accounts[2] = { 0, 0 };

	for (size_t i = 0; i < n; i++) {
		json_object *x = json_object_array_get_idx(is, i);
		int r = strcmp(str(x, "role"), "master") == 0 ? 0 : 1;

		for (int s = 0; s < 6; s++)
			if (strcmp(str(x, "state"), states[s]) == 0)
				count[r][s]++;
		accounts[r] += num(x, "accounts");
	}
	put(p, "<h2>Fleet</h2><p>desired state <b>");
	put_text(p, get(f, "state") != NULL ? str(f, "state") : "unset");
	put(p, "</b></p><table id=\"fleet\"><tr><th>role</th><th>desired</th>");
	for (int s = 0; s < 6; s++)
		put(p, "<th>%s</th>", states[s]);
	put(p, "<th>accounts</th></tr>");
	for (int r = 0; r < 2; r++) {
		put(p, "<tr><td>%s</td><td class=\"num\">", r == 0 ? "masters" : "clients");
		put_text(p, str(f, r == 0 ? "masters" : "clients"));
		put(p, "</td>");
		for (int s = 0; s < 6; s++)
			put(p, "<td class=\"num\">%lld</td>", count[r][s]);
		put(p, "<td class=\"num\">%lld</td></tr>", accounts[r]);
	}
	put(p, "</table>");
}

/* One rectangle per probe, oldest on the left: green success, red failure. */
static void
put_strip(struct page *p, json_object *probes)
{
	size_t n = probes != NULL ? json_object_array_length(probes) : 0;

	if (n == 0) {
		put(p, "<span class=\"muted\">no probe yet</span>");
		return;
	}
	put(p, "<svg class=\"strip\" width=\"%zu\" height=\"12\" role=\"img\" "
	    "aria-label=\"last %zu probes\">", n * 6, n);
	for (size_t i = 0; i < n; i++) {
		int ok = json_object_get_boolean(json_object_array_get_idx(probes, i));

		put(p, "<rect x=\"%zu\" width=\"5\" height=\"12\" fill=\"%s\" "
		    "class=\"%s\"/>", i * 6, ok ? "#2da44e" : "#cf222e",
		    ok ? "ok" : "fail");
	}
	put(p, "</svg>");
}

static void
put_instances(struct page *p, json_object *doc, int64_t now)
{
	json_object *is = get(doc, "instances");
	size_t n = is != NULL ? json_object_array_length(is) : 0;

	put(p, "<h2>Instances (%zu)</h2><table id=\"instances\"><tr><th>name</th>"
	    "<th>id</th><th>role</th><th>state</th><th>since</th><th>address</th>"
	    "<th>accounts</th><th>health (oldest to newest)</th></tr>", n);
	for (size_t i = 0; i < n; i++) {
		json_object *x = json_object_array_get_idx(is, i);
		int64_t acc = num(x, "accounts"), max = num(x, "maxAccounts");
		int pct = max > 0 ? (int)(acc >= max ? 100 : acc * 100 / max) : 0;

		put(p, "<tr class=\"instance\" data-id=\"");
		put_text(p, str(x, "id"));
		put(p, "\" data-state=\"");
		put_text(p, str(x, "state"));
		put(p, "\"><td>");
		put_text(p, str(x, "name"));
		put(p, "</td><td>");
		put_text(p, str(x, "id"));
		put(p, "</td><td>");
		put_text(p, str(x, "role"));
		put(p, "</td><td class=\"s-");
		put_text(p, str(x, "state"));
		put(p, "\">");
		put_text(p, str(x, "state"));
		put(p, "</td><td class=\"num\">");
		put_age(p, now, num(x, "stateSince"));
		put(p, "</td><td>");
		put_text(p, str(x, "ip"));
		put(p, ":%lld</td><td class=\"num accounts\">%lld / %lld"
		    "<span class=\"bar\"><span style=\"width:%d%%\"></span></span></td><td>",
		    (long long)num(x, "port"), (long long)acc, (long long)max, pct);
		put_strip(p, get(x, "health"));
		put(p, "</td></tr>");
	}
	put(p, "</table>");
}

static void
put_schedule(struct page *p, json_object *doc)
{
	json_object *s = get(doc, "schedule"), *jobs = get(s, "jobs");
	size_t n = jobs != NULL ? json_object_array_length(jobs) : 0;

	put(p, "<h2>Schedule</h2><p>time zone ");
	put_text(p, str(s, "timezone"));
	put(p, "</p><table id=\"schedule\"><tr><th>job</th><th>action</th><th>cron</th>"
	    "<th>next run</th><th>last run</th></tr>");
	for (size_t i = 0; i < n; i++) {
		json_object *j = json_object_array_get_idx(jobs, i), *last = get(j, "last");

		put(p, "<tr><td>");
		put_text(p, str(j, "job"));
		put(p, "</td><td>");
		put_text(p, str(j, "action"));
		put(p, "</td><td><code>");
		put_text(p, str(j, "cron"));
		put(p, "</code></td><td>");
		put_text(p, str(j, "nextLocal"));
		put(p, "</td><td>");
		if (last == NULL)
			put(p, "<span class=\"muted\">never</span>");
		else {
			put_text(p, str(last, "status"));
			put(p, ", ");
			put_time(p, num(last, "scheduled"));
			put(p, " on ");
			put_text(p, str(last, "host"));
		}
		put(p, "</td></tr>");
	}
	put(p, "</table>");
}

static void
put_events(struct page *p, json_object *doc)
{
	static const char *const skip[] = { "ts", "level", "type", "host", "role", "pid" };
	json_object *es = get(doc, "events");
	size_t n = es != NULL ? json_object_array_length(es) : 0;

	put(p, "<h2>Recent notify and error events</h2><table id=\"events\"><tr>"
	    "<th>time</th><th>level</th><th>event</th><th>where</th><th>details</th></tr>");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(es, i);

		put(p, "<tr><td>");
		put_time(p, num(e, "ts"));
		put(p, "</td><td class=\"l-");
		put_text(p, str(e, "level"));
		put(p, "\">");
		put_text(p, str(e, "level"));
		put(p, "</td><td>");
		put_text(p, str(e, "type"));
		put(p, "</td><td>");
		put_text(p, str(e, "host"));
		put(p, " ");
		put_text(p, str(e, "role"));
		put(p, "</td><td>");
		json_object_object_foreach(e, key, val) {
			size_t k = 0;

			while (k < sizeof(skip) / sizeof(skip[0]) && strcmp(key, skip[k]) != 0)
				k++;
			if (k < sizeof(skip) / sizeof(skip[0]))
				continue;
			put_text(p, key);
			put(p, "=");
			put_text(p, json_object_to_json_string_ext(val,
			    JSON_C_TO_STRING_PLAIN));
			put(p, " ");
		}
		put(p, "</td></tr>");
	}
	if (n == 0)
		put(p, "<tr><td colspan=\"5\" class=\"muted\">none</td></tr>");
	put(p, "</table>");
}

char *
page_render(json_object *doc, int refresh_s, size_t *len)
{
	struct page p = { .cap = 16384 };
	json_object *panic = get(doc, "panic");
	int64_t now = num(doc, "now");

	if ((p.buf = malloc(p.cap)) == NULL)
		return NULL;
	put(&p, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta http-equiv=\"refresh\" content=\"%d\">"
	    "<meta name=\"viewport\" content=\"width=device-width\">"
	    "<link rel=\"icon\" href=\"data:,\">"
	    "<title>olb on ", refresh_s);
	put_text(&p, str(doc, "host"));
	put(&p, "</title><style>%s</style></head><body><h1>olb on ", style);
	put_text(&p, str(doc, "host"));
	put(&p, "</h1><p class=\"muted\">olbd ");
	put_text(&p, str(doc, "version"));
	put(&p, " &middot; ");
	put_time(&p, now);
	put(&p, " &middot; refreshes every %d s &middot; <a href=\"status.json\">"
	    "status.json</a> &middot; <a href=\"metrics\">metrics</a></p>", refresh_s);
	if (panic != NULL && json_object_object_length(panic) > 0) {
		put(&p, "<p class=\"panic\" id=\"panic\">Health panic (fail open): ");
		json_object_object_foreach(panic, key, val) {
			put_text(&p, key);
			put(&p, "=");
			put_text(&p, json_object_get_string(val));
			put(&p, " ");
		}
		put(&p, "</p>");
	}
	put_fleet(&p, doc);
	put_instances(&p, doc, now);
	put_workers(&p, doc, now);
	put_leases(&p, doc);
	put_schedule(&p, doc);
	put_events(&p, doc);
	put(&p, "</body></html>\n");
	if (p.failed) {
		free(p.buf);
		return NULL;
	}
	*len = p.len;
	return p.buf;
}
