/*
 * notify_text: the body of one webhook post (Mattermost/Slack incoming
 * webhook JSON, {"text": ...}) for a batch of events, one line per event:
 * its UTC time, type, host/role, then its own fields as key=value.  Pure:
 * no I/O, no state; workers/health/notify.c posts what it makes.
 *
 * The events are the outbox's strings, which Redis hands back as it was
 * given them: anything that is not a JSON object is posted as an
 * unreadable event, never refused; control characters (a newline in a
 * value) become spaces.  A post's text stays under
 * NOTIFY_TEXT_MAX bytes (Mattermost takes 16,383 characters); a value is
 * cut to NOTIFY_VALUE_MAX bytes, never inside a UTF-8 sequence.
 */
#ifndef OLB_NOTIFY_TEXT_H
#define OLB_NOTIFY_TEXT_H

#include <stddef.h>

#define NOTIFY_TEXT_MAX		12000	/* bytes of one post's text */
#define NOTIFY_VALUE_MAX	160	/* bytes of one field's value */
#define NOTIFY_LINE_MAX		2048	/* bytes of one event's line */

/* The body for the first events (NUL-terminated strings; NULL reads as
 * unreadable) of n: as many as fit, at least one, counted in *taken.
 * dropped > 0 adds a first line saying that many events were dropped.
 * The caller frees the body; NULL if out of memory. */
char		*notify_text_body(const char *const *events, size_t n,
		    long long dropped, size_t *taken);

#endif
