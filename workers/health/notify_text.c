/*
 * notify_text: one webhook post's body (see notify_text.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "workers/health/notify_text.h"

static const char *const notify_text_envelope[] = {
	"ts", "level", "type", "host", "role", "pid",
};

/* The string of member key of ev, or dflt (absent, null, not a string). */
static const char *
notify_text_member(struct json_object *ev, const char *key, const char *dflt)
{
	struct json_object *v;

	if (!json_object_object_get_ex(ev, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return dflt;
	return json_object_get_string(v);
}

/* How many bytes of s, at most max, end on a UTF-8 character boundary. */
static int
notify_text_cut(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return (int)n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}

static int
notify_text_is_envelope(const char *key)
{
	for (size_t i = 0; i < sizeof(notify_text_envelope) /
	    sizeof(notify_text_envelope[0]); i++)
		if (strcmp(key, notify_text_envelope[i]) == 0)
			return 1;
	return 0;
}

/* The line of one event object into buf (size > 0). */
static void
notify_text_line(struct json_object *ev, char *buf, size_t size)
{
	struct json_object_iterator it, end;
	struct json_object *v;
	char when[32] = "";
	time_t ts;
	struct tm tm;
	size_t len;
	int n;

	if (json_object_object_get_ex(ev, "ts", &v) &&
	    json_object_is_type(v, json_type_int)) {
		ts = (time_t)(json_object_get_int64(v) / 1000);
		if (gmtime_r(&ts, &tm) != NULL)
			strftime(when, sizeof(when), "%H:%M:%SZ ", &tm);
	}
	n = snprintf(buf, size, "%s`%.*s` %.*s/%.*s", when, NOTIFY_VALUE_MAX,
	    notify_text_member(ev, "type", "?"), NOTIFY_VALUE_MAX,
	    notify_text_member(ev, "host", ""), NOTIFY_VALUE_MAX,
	    notify_text_member(ev, "role", ""));
	if (n < 0 || (size_t)n >= size)
		return;
	len = (size_t)n;
	it = json_object_iter_begin(ev);
	end = json_object_iter_end(ev);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *k = json_object_iter_peek_name(&it), *s;

		if (notify_text_is_envelope(k))
			continue;
		v = json_object_iter_peek_value(&it);
		s = json_object_is_type(v, json_type_string) ?
		    json_object_get_string(v) : json_object_to_json_string_ext(v,
		    JSON_C_TO_STRING_PLAIN);
		if (s == NULL)
			s = "null";
		n = snprintf(buf + len, size - len, " %.*s=%.*s",
		    notify_text_cut(k, 64), k, notify_text_cut(s,
		    NOTIFY_VALUE_MAX), s);
		if (n < 0 || (size_t)n >= size - len) {
			buf[len] = '\0';	/* whole fields only */
			return;
		}
		len += (size_t)n;
	}
}

/* The line of one outbox string. */
static void
notify_text_event(const char *event, char *buf, size_t size)
{
	struct json_object *ev;

	buf[0] = '\0';
	if (event != NULL && (ev = json_tokener_parse(event)) != NULL) {
		if (json_object_is_type(ev, json_type_object))
			notify_text_line(ev, buf, size);
		json_object_put(ev);
	}
	if (buf[0] == '\0')
		snprintf(buf, size, "(an unreadable event)");
	/* One line per event, whatever its values hold. */
	for (char *c = buf; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
}

char *
notify_text_body(const char *const *events, size_t n, long long dropped,
    size_t *taken)
{
	char text[NOTIFY_TEXT_MAX + NOTIFY_LINE_MAX], line[NOTIFY_LINE_MAX];
	struct json_object *o;
	size_t len = 0;
	char *body = NULL;
	const char *s;

	text[0] = '\0';
	*taken = 0;
	if (dropped > 0)
		len = (size_t)snprintf(text, sizeof(text),
		    "olb: %lld notify events were dropped (outbox full)\n",
		    dropped);
	for (size_t i = 0; i < n; i++) {
		notify_text_event(events[i], line, sizeof(line));
		if (*taken > 0 && len + strlen(line) + 1 > NOTIFY_TEXT_MAX)
			break;
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\n",
		    line);
		(*taken)++;
	}
	if ((o = json_object_new_object()) == NULL)
		return NULL;
	if (json_object_object_add(o, "text",
	    json_object_new_string(text)) == 0 &&
	    (s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE)) != NULL)
		body = strdup(s);
	json_object_put(o);
	return body;
}
