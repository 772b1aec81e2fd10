/*
 * page: the status page (GET /status), rendered on the server from the
 * /status.json document, so both always say the same.  One HTML document:
 * inline CSS, inline SVG for the health strips, no script, no external
 * resource; it refreshes itself with <meta http-equiv="refresh">.  Every
 * string from Redis is HTML-escaped.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sbuf.h"
#include "workers/admin/admin.h"

/* s, HTML-escaped. */
static void
put_text(struct sbuf *p, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&':	sbuf_printf(p, "&amp;"); break;
		case '<':	sbuf_printf(p, "&lt;"); break;
		case '>':	sbuf_printf(p, "&gt;"); break;
		case '"':	sbuf_printf(p, "&quot;"); break;
		case '\'':	sbuf_printf(p, "&#39;"); break;
		default:	sbuf_printf(p, "%c", *s); break;
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
put_time(struct sbuf *p, int64_t ms)
{
	char buf[32];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		sbuf_printf(p, "-");
		return;
	}
	sbuf_printf(p, "%s UTC", buf);
}

static void
put_age(struct sbuf *p, int64_t now, int64_t since)
{
	int64_t s = since > 0 && now > since ? (now - since) / 1000 : 0;

	if (s < 120)
		sbuf_printf(p, "%llds", (long long)s);
	else if (s < 7200)
		sbuf_printf(p, "%lldm", (long long)(s / 60));
	else
		sbuf_printf(p, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
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
put_workers(struct sbuf *p, json_object *doc, int64_t now)
{
	json_object *ws = get(doc, "workers");
	size_t n = ws != NULL ? json_object_array_length(ws) : 0;

	sbuf_printf(p, "<h2>Workers</h2><table id=\"workers\"><tr><th>host</th><th>worker</th>"
	    "<th>pid</th><th>generation</th><th>up</th><th>restarts</th></tr>");
	for (size_t i = 0; i < n; i++) {
		json_object *w = json_object_array_get_idx(ws, i);

		sbuf_printf(p, "<tr><td>");
		put_text(p, str(w, "host"));
		sbuf_printf(p, "</td><td>");
		put_text(p, str(w, "role"));
		if (strcmp(str(w, "role"), "proxy") == 0)
			sbuf_printf(p, "-%lld", (long long)num(w, "slot") + 1);
		if (json_object_get_boolean(get(w, "stopping")))
			sbuf_printf(p, " <span class=\"muted\">(stopping)</span>");
		sbuf_printf(p, "</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>"
		    "<td class=\"num\">", (long long)num(w, "pid"),
		    (long long)num(w, "generation"));
		put_age(p, now, num(w, "started"));
		sbuf_printf(p, "</td><td class=\"num\">%lld</td></tr>",
		    (long long)num(w, "restarts"));
	}
	sbuf_printf(p, "</table>");
}

static void
put_leases(struct sbuf *p, json_object *doc)
{
	static const char *const duties[] = { "scaler", "health", "scheduler" };
	json_object *l = get(doc, "leases");

	sbuf_printf(p, "<h2>Leases</h2><table id=\"leases\"><tr><th>duty</th><th>holder</th></tr>");
	for (size_t i = 0; i < 3; i++) {
		json_object *v = get(l, duties[i]);

		sbuf_printf(p, "<tr><td>%s</td><td>", duties[i]);
		if (v != NULL)
			put_text(p, json_object_get_string(v));
		else
			sbuf_printf(p, "<span class=\"muted\">free</span>");
		sbuf_printf(p, "</td></tr>");
	}
	sbuf_printf(p, "</table>");
}

static const char *const states[] = {
	"pending", "running", "unhealthy", "draining", "terminating", "terminated",
};

static void
put_fleet(struct sbuf *p, json_object *doc)
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
	sbuf_printf(p, "<h2>Fleet</h2><p>desired state <b>");
	put_text(p, get(f, "state") != NULL ? str(f, "state") : "unset");
	sbuf_printf(p, "</b></p><table id=\"fleet\"><tr><th>role</th><th>desired</th>");
	for (int s = 0; s < 6; s++)
		sbuf_printf(p, "<th>%s</th>", states[s]);
	sbuf_printf(p, "<th>accounts</th></tr>");
	for (int r = 0; r < 2; r++) {
		sbuf_printf(p, "<tr><td>%s</td><td class=\"num\">", r == 0 ? "masters" : "clients");
		put_text(p, str(f, r == 0 ? "masters" : "clients"));
		sbuf_printf(p, "</td>");
		for (int s = 0; s < 6; s++)
			sbuf_printf(p, "<td class=\"num\">%lld</td>", count[r][s]);
		sbuf_printf(p, "<td class=\"num\">%lld</td></tr>", accounts[r]);
	}
	sbuf_printf(p, "</table>");
}

/* One rectangle per probe, oldest on the left: green success, red failure. */
static void
put_strip(struct sbuf *p, json_object *probes)
{
	size_t n = probes != NULL ? json_object_array_length(probes) : 0;

	if (n == 0) {
		sbuf_printf(p, "<span class=\"muted\">no probe yet</span>");
		return;
	}
	sbuf_printf(p, "<svg class=\"strip\" width=\"%zu\" height=\"12\" role=\"img\" "
	    "aria-label=\"last %zu probes\">", n * 6, n);
	for (size_t i = 0; i < n; i++) {
		int ok = json_object_get_boolean(json_object_array_get_idx(probes, i));

		sbuf_printf(p, "<rect x=\"%zu\" width=\"5\" height=\"12\" fill=\"%s\" "
		    "class=\"%s\"/>", i * 6, ok ? "#2da44e" : "#cf222e",
		    ok ? "ok" : "fail");
	}
	sbuf_printf(p, "</svg>");
}

static void
put_instances(struct sbuf *p, json_object *doc, int64_t now)
{
	json_object *is = get(doc, "instances");
	size_t n = is != NULL ? json_object_array_length(is) : 0;

	sbuf_printf(p, "<h2>Instances (%zu)</h2><table id=\"instances\"><tr><th>name</th>"
	    "<th>id</th><th>role</th><th>state</th><th>since</th><th>address</th>"
	    "<th>accounts</th><th>health (oldest to newest)</th></tr>", n);
	for (size_t i = 0; i < n; i++) {
		json_object *x = json_object_array_get_idx(is, i);
		int64_t acc = num(x, "accounts"), max = num(x, "maxAccounts");
		int pct = max > 0 ? (int)(acc >= max ? 100 : acc * 100 / max) : 0;

		sbuf_printf(p, "<tr class=\"instance\" data-id=\"");
		put_text(p, str(x, "id"));
		sbuf_printf(p, "\" data-state=\"");
		put_text(p, str(x, "state"));
		sbuf_printf(p, "\"><td>");
		put_text(p, str(x, "name"));
		sbuf_printf(p, "</td><td>");
		put_text(p, str(x, "id"));
		sbuf_printf(p, "</td><td>");
		put_text(p, str(x, "role"));
		sbuf_printf(p, "</td><td class=\"s-");
		put_text(p, str(x, "state"));
		sbuf_printf(p, "\">");
		put_text(p, str(x, "state"));
		sbuf_printf(p, "</td><td class=\"num\">");
		put_age(p, now, num(x, "stateSince"));
		sbuf_printf(p, "</td><td>");
		put_text(p, str(x, "ip"));
		sbuf_printf(p, ":%lld</td><td class=\"num accounts\">%lld / %lld"
		    "<span class=\"bar\"><span style=\"width:%d%%\"></span></span></td><td>",
		    (long long)num(x, "port"), (long long)acc, (long long)max, pct);
		put_strip(p, get(x, "health"));
		sbuf_printf(p, "</td></tr>");
	}
	sbuf_printf(p, "</table>");
}

static void
put_schedule(struct sbuf *p, json_object *doc)
{
	json_object *s = get(doc, "schedule"), *jobs = get(s, "jobs");
	size_t n = jobs != NULL ? json_object_array_length(jobs) : 0;

	sbuf_printf(p, "<h2>Schedule</h2><p>time zone ");
	put_text(p, str(s, "timezone"));
	sbuf_printf(p, "</p><table id=\"schedule\"><tr><th>job</th><th>action</th><th>cron</th>"
	    "<th>next run</th><th>last run</th></tr>");
	for (size_t i = 0; i < n; i++) {
		json_object *j = json_object_array_get_idx(jobs, i), *last = get(j, "last");

		sbuf_printf(p, "<tr><td>");
		put_text(p, str(j, "job"));
		sbuf_printf(p, "</td><td>");
		put_text(p, str(j, "action"));
		sbuf_printf(p, "</td><td><code>");
		put_text(p, str(j, "cron"));
		sbuf_printf(p, "</code></td><td>");
		put_text(p, str(j, "nextLocal"));
		sbuf_printf(p, "</td><td>");
		if (last == NULL)
			sbuf_printf(p, "<span class=\"muted\">never</span>");
		else {
			put_text(p, str(last, "status"));
			sbuf_printf(p, ", ");
			put_time(p, num(last, "scheduled"));
			sbuf_printf(p, " on ");
			put_text(p, str(last, "host"));
		}
		sbuf_printf(p, "</td></tr>");
	}
	sbuf_printf(p, "</table>");
}

static void
put_events(struct sbuf *p, json_object *doc)
{
	static const char *const skip[] = { "ts", "level", "type", "host", "role", "pid" };
	json_object *es = get(doc, "events");
	size_t n = es != NULL ? json_object_array_length(es) : 0;

	sbuf_printf(p, "<h2>Recent notify and error events</h2><table id=\"events\"><tr>"
	    "<th>time</th><th>level</th><th>event</th><th>where</th><th>details</th></tr>");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(es, i);

		sbuf_printf(p, "<tr><td>");
		put_time(p, num(e, "ts"));
		sbuf_printf(p, "</td><td class=\"l-");
		put_text(p, str(e, "level"));
		sbuf_printf(p, "\">");
		put_text(p, str(e, "level"));
		sbuf_printf(p, "</td><td>");
		put_text(p, str(e, "type"));
		sbuf_printf(p, "</td><td>");
		put_text(p, str(e, "host"));
		sbuf_printf(p, " ");
		put_text(p, str(e, "role"));
		sbuf_printf(p, "</td><td>");
		json_object_object_foreach(e, key, val) {
			size_t k = 0;

			while (k < sizeof(skip) / sizeof(skip[0]) && strcmp(key, skip[k]) != 0)
				k++;
			if (k < sizeof(skip) / sizeof(skip[0]))
				continue;
			put_text(p, key);
			sbuf_printf(p, "=");
			put_text(p, json_object_to_json_string_ext(val,
			    JSON_C_TO_STRING_PLAIN));
			sbuf_printf(p, " ");
		}
		sbuf_printf(p, "</td></tr>");
	}
	if (n == 0)
		sbuf_printf(p, "<tr><td colspan=\"5\" class=\"muted\">none</td></tr>");
	sbuf_printf(p, "</table>");
}

char *
page_render(json_object *doc, int refresh_s, size_t *len)
{
	struct sbuf p;
	json_object *panic = get(doc, "panic");
	int64_t now = num(doc, "now");

	if (sbuf_init(&p, 16384) == -1)
		return NULL;
	sbuf_printf(&p, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta http-equiv=\"refresh\" content=\"%d\">"
	    "<meta name=\"viewport\" content=\"width=device-width\">"
	    "<link rel=\"icon\" href=\"data:,\">"
	    "<title>olb on ", refresh_s);
	put_text(&p, str(doc, "host"));
	sbuf_printf(&p, "</title><style>%s</style></head><body><h1>olb on ", style);
	put_text(&p, str(doc, "host"));
	sbuf_printf(&p, "</h1><p class=\"muted\">olbd ");
	put_text(&p, str(doc, "version"));
	sbuf_printf(&p, " &middot; ");
	put_time(&p, now);
	sbuf_printf(&p, " &middot; refreshes every %d s &middot; <a href=\"status.json\">"
	    "status.json</a> &middot; <a href=\"metrics\">metrics</a></p>", refresh_s);
	if (panic != NULL && json_object_object_length(panic) > 0) {
		sbuf_printf(&p, "<p class=\"panic\" id=\"panic\">Health panic (fail open): ");
		json_object_object_foreach(panic, key, val) {
			put_text(&p, key);
			sbuf_printf(&p, "=");
			put_text(&p, json_object_get_string(val));
			sbuf_printf(&p, " ");
		}
		sbuf_printf(&p, "</p>");
	}
	put_fleet(&p, doc);
	put_instances(&p, doc, now);
	put_workers(&p, doc, now);
	put_leases(&p, doc);
	put_schedule(&p, doc);
	put_events(&p, doc);
	sbuf_printf(&p, "</body></html>\n");
	return sbuf_finish(&p, len);
}
