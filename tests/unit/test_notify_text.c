/*
 * test_notify_text: the webhook post's body (workers/health/notify_text.c):
 * one line per event, what is not an event posted as unreadable, the text
 * bounded, values cut on a character boundary, control characters gone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "workers/health/notify_text.h"

/* The "text" of a body made from n events; the caller frees it. */
static char *
text_of(const char *const *events, size_t n, long long dropped,
    size_t *taken)
{
	struct json_object *o, *t;
	char *body, *text;

	body = notify_text_body(events, n, dropped, taken);
	assert_non_null(body);
	o = json_tokener_parse(body);
	assert_non_null(o);
	assert_int_equal(json_object_object_length(o), 1);
	assert_true(json_object_object_get_ex(o, "text", &t));
	text = strdup(json_object_get_string(t));
	json_object_put(o);
	free(body);
	return text;
}

static void
test_one_line_per_event(void **state)
{
	const char *ev[] = {
		"{\"ts\":0,\"level\":\"notify\",\"type\":\"instance.unhealthy\","
		    "\"host\":\"h1\",\"role\":\"health\",\"pid\":7,"
		    "\"id\":\"inst-3\",\"failures\":5}",
		"{\"type\":\"scale.out\",\"host\":\"h2\",\"role\":\"scaler\","
		    "\"to\":3,\"why\":\"a\\nb\",\"x\":[1,{\"k\":null}]}",
	};
	size_t taken;
	char *text;

	(void)state;
	text = text_of(ev, 2, 0, &taken);
	assert_int_equal(taken, 2);
	assert_string_equal(text,
	    "00:00:00Z `instance.unhealthy` h1/health id=inst-3 failures=5\n"
	    "`scale.out` h2/scaler to=3 why=a b x=[1,{\"k\":null}]\n");
	free(text);
}

static void
test_unreadable_and_dropped(void **state)
{
	const char *ev[] = { "not json", NULL, "[1,2]", "{\"type\":null}" };
	size_t taken;
	char *text;

	(void)state;
	text = text_of(ev, 4, 7, &taken);
	assert_int_equal(taken, 4);
	assert_string_equal(text,
	    "olb: 7 notify events were dropped (outbox full)\n"
	    "(an unreadable event)\n(an unreadable event)\n"
	    "(an unreadable event)\n`?` /\n");
	free(text);
	text = text_of(ev, 0, 0, &taken);
	assert_int_equal(taken, 0);
	assert_string_equal(text, "");
	free(text);
}

/* Long values are cut (never inside a UTF-8 character); a batch stops
 * before the text would pass NOTIFY_TEXT_MAX, after at least one event. */
static void
test_bounded(void **state)
{
	char big[4096], ev1[4200];
	const char *ev[200];
	size_t taken;
	char *text, *eq;

	(void)state;
	/* 'x' then two-byte characters: byte NOTIFY_VALUE_MAX is a second
	 * byte. */
	big[0] = 'x';
	for (size_t i = 1; i + 2 < sizeof(big); i += 2) {
		big[i] = (char)0xc3;
		big[i + 1] = (char)0xa9;
		big[i + 2] = '\0';
	}
	snprintf(ev1, sizeof(ev1), "{\"type\":\"t\",\"v\":\"%s\"}", big);
	ev[0] = ev1;
	text = text_of(ev, 1, 0, &taken);
	assert_int_equal(taken, 1);
	eq = strstr(text, "v=");
	assert_non_null(eq);
	assert_int_equal(strlen(eq + 2), NOTIFY_VALUE_MAX - 1 + 1); /* + \n */
	free(text);
	for (size_t i = 0; i < 200; i++)
		ev[i] = ev1;
	text = text_of(ev, 200, 0, &taken);
	assert_true(taken > 1 && taken < 200);
	assert_true(strlen(text) <= NOTIFY_TEXT_MAX);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_line_per_event),
		cmocka_unit_test(test_unreadable_and_dropped),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
