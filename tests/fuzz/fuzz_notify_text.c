/*
 * libFuzzer target for the webhook post's text (workers/health/notify_text.c),
 * which formats the outbox's strings as Redis hands them back.
 *
 * The input is cut at newlines into up to 64 events (an empty piece is a
 * NULL event).  Invariants: a body is made (this input is small) and is one
 * JSON object whose only member is the string "text"; at least one event is
 * taken when there is one, never more than given; the text stays under
 * NOTIFY_TEXT_MAX plus one line; and it has one line per event taken.
 *
 * Build and run: make -f tests/fuzz/Makefile fuzz-run TARGET=notify_text
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "workers/health/notify_text.h"
#include "tests/fuzz/fuzz.h"

#define EVENTS_MAX	64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *events[EVENTS_MAX], *p, *body;
	struct json_object *o, *text;
	size_t n = 0, taken = 0, lines = 0;
	const char *s;

	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (p = copy; n < EVENTS_MAX && p != NULL; n++) {
		events[n] = p[0] != '\0' && p[0] != '\n' ? p : NULL;
		if ((p = strchr(p, '\n')) != NULL)
			*p++ = '\0';
	}
	body = notify_text_body((const char *const *)events, n,
	    size > 0 ? data[0] : 0, &taken);
	CHECK(body != NULL);
	CHECK(n == 0 || (taken >= 1 && taken <= n));
	o = json_tokener_parse(body);
	CHECK(o != NULL && json_object_is_type(o, json_type_object));
	CHECK(json_object_object_length(o) == 1);
	CHECK(json_object_object_get_ex(o, "text", &text) &&
	    json_object_is_type(text, json_type_string));
	s = json_object_get_string(text);
	CHECK(strlen(s) < NOTIFY_TEXT_MAX + NOTIFY_LINE_MAX);
	for (const char *c = s; *c != '\0'; c++)
		lines += *c == '\n';
	CHECK(lines == taken + (size > 0 && data[0] > 0));
	json_object_put(o);
	free(body);
	free(copy);
	return 0;
}
