/*
 * events: the process's monitoring-channel publisher (see events.h).
 *
 * An event is formatted to one JSON string (json-c) when it is published and
 * waits in a ring of EVENTS_QUEUE_MAX strings until the rconn is up; then each
 * leaves, oldest first, as PUBLISH <channel> <json>.  Talks to Redis through
 * the rconn its owner gives it, and to nobody else.  One publisher per
 * process, so the state is global; the pid that owns it is remembered so that
 * a forked child never sends (or writes to the socket of) its parent's.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/conf.h"
#include "common/events.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/rscript.h"
#include "common/scripts.h"
#include "common/util.h"

static struct {
	int		 ready;
	pid_t		 pid;		/* the process owning queue and rc */
	struct rconn	*rc;		/* not owned */
	char		*channel;
	char		*host;
	char		*role;
	char		*queue[EVENTS_QUEUE_MAX];	/* owned JSON strings */
	unsigned char	 notify[EVENTS_QUEUE_MAX];	/* ... their kind (events_send) */
	long long	 outbox;	/* its bound; 0: no webhook */
	size_t		 head;		/* oldest */
	size_t		 count;
	uint64_t	 dropped;	/* since events_init */
	uint64_t	 unreported;	/* dropped, not yet told in events.dropped */
	uint64_t	 lost;		/* sent, no reply */
} events;

static const char *const events_envelope[] = {
	"ts", "level", "type", "host", "role", "pid",
};

const char *
event_level_name(enum event_level level)
{
	switch (level) {
	case EVENT_NOTIFY:
		return "notify";
	case EVENT_ERROR:
		return "error";
	case EVENT_INFO:
	default:
		return "info";
	}
}

static void
events_clear_queue(void)
{
	while (events.count > 0) {
		free(events.queue[events.head]);
		events.queue[events.head] = NULL;
		events.head = (events.head + 1) % EVENTS_QUEUE_MAX;
		events.count--;
	}
	events.head = 0;
}

/* In a forked child: what we hold belongs to the parent; forget it. */
static void
events_check_fork(void)
{
	if (!events.ready || events.pid == getpid())
		return;
	events_clear_queue();
	events.rc = NULL;
	events.dropped = events.unreported = events.lost = 0;
	events.pid = getpid();
}

void
events_shutdown(void)
{
	events_clear_queue();
	free(events.channel);
	free(events.host);
	free(events.role);
	memset(&events, 0, sizeof(events));
}

int
events_init(struct rconn *rc, const char *channel, const char *host,
    const char *role)
{
	events_shutdown();
	if (channel == NULL)
		goto fail;
	if ((events.channel = strdup(channel)) == NULL ||
	    (events.host = strdup(host != NULL ? host : util_hostname())) == NULL ||
	    (events.role = strdup(role != NULL ? role : "olbd")) == NULL)
		goto fail;
	events.rc = rc;
	events.pid = getpid();
	events.ready = 1;
	return 0;
fail:
	log_error("events_init(%s): %s", channel != NULL ? channel : "",
	    channel != NULL ? "out of memory" : "no channel");
	events_shutdown();
	return -1;
}

void
events_set_conn(struct rconn *rc)
{
	events_check_fork();
	events.rc = rc;
	events_flush();
}

void
events_set_outbox(const struct conf *conf)
{
	events_check_fork();
	events.outbox = conf->notify.enabled ? conf->notify.queue : 0;
}

long long
events_outbox(void)
{
	return events.outbox;
}

void
events_set_role(const char *role)
{
	char *copy;

	events_check_fork();
	if (!events.ready || (copy = strdup(role)) == NULL)
		return;
	free(events.role);
	events.role = copy;
}

static int
events_is_envelope(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(events_envelope); i++)
		if (strcmp(key, events_envelope[i]) == 0)
			return 1;
	return 0;
}

static int
events_add(struct json_object *ev, const char *key, struct json_object *val)
{
	if (val == NULL || json_object_object_add(ev, key, val) != 0) {
		json_object_put(val);
		return -1;
	}
	return 0;
}

/* Copy fields' members into ev, except those named like the envelope. */
static int
events_add_fields(struct json_object *ev, struct json_object *fields)
{
	struct json_object_iterator it, end;
	const char *key;

	if (fields == NULL || !json_object_is_type(fields, json_type_object))
		return 0;
	it = json_object_iter_begin(fields);
	end = json_object_iter_end(fields);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		if (events_is_envelope(key))
			continue;
		if (events_add(ev, key,
		    json_object_get(json_object_iter_peek_value(&it))) == -1)
			return -1;
	}
	return 0;
}

char *
event_format(enum event_level level, const char *type,
    struct json_object *fields)
{
	struct json_object *ev;
	const char *s;
	char *msg = NULL;

	if ((ev = json_object_new_object()) == NULL)
		goto fail;
	if (events_add(ev, "ts",
	    json_object_new_int64((int64_t)util_wall_ms())) == -1 ||
	    events_add(ev, "level",
	    json_object_new_string(event_level_name(level))) == -1 ||
	    events_add(ev, "type", json_object_new_string(type)) == -1 ||
	    events_add(ev, "host", json_object_new_string(events.host)) == -1 ||
	    events_add(ev, "role", json_object_new_string(events.role)) == -1 ||
	    events_add(ev, "pid", json_object_new_int64((int64_t)getpid())) == -1 ||
	    events_add_fields(ev, fields) == -1)
		goto fail;
	s = json_object_to_json_string_ext(ev,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL || (msg = strdup(s)) == NULL)
		goto fail;
	json_object_put(ev);
	json_object_put(fields);
	return msg;
fail:
	log_error("event %s: out of memory", type);
	json_object_put(ev);
	json_object_put(fields);
	return NULL;
}

/* Append msg (now owned by the queue), dropping the oldest when full. */
static void
events_enqueue(char *msg, int notify)
{
	if (events.count == EVENTS_QUEUE_MAX) {
		if (events.unreported == 0)
			log_warn("events: queue full (%d events), dropping the "
			    "oldest until Redis is back", EVENTS_QUEUE_MAX);
		free(events.queue[events.head]);
		events.queue[events.head] = NULL;
		events.head = (events.head + 1) % EVENTS_QUEUE_MAX;
		events.count--;
		events.dropped++;
		events.unreported++;
	}
	events.queue[(events.head + events.count) % EVENTS_QUEUE_MAX] = msg;
	events.notify[(events.head + events.count) % EVENTS_QUEUE_MAX] =
	    (unsigned char)notify;
	events.count++;
}

static void
events_on_publish(struct rconn *rc, redisReply *reply, void *arg)
{
	(void)rc;
	(void)arg;
	if (reply == NULL) {
		/* Not retried: it may have reached Redis (at-most-once). */
		events.lost++;
		log_debug("PUBLISH(%s): no reply, event lost",
		    events.channel != NULL ? events.channel : "");
	} else if (reply->type == REDIS_REPLY_ERROR)
		log_warn("PUBLISH(%s): %s",
		    events.channel != NULL ? events.channel : "", reply->str);
}

void
events_outbox_reply(const redisReply *reply)
{
	static uint64_t said;
	uint64_t now;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[1]->type != REDIS_REPLY_INTEGER ||
	    reply->element[1]->integer <= 0)
		return;
	now = util_mono_ms();
	if (said != 0 && now - said < 60000)
		return;
	said = now;
	log_warn("events: the webhook's outbox is full (notify.queue = %lld): "
	    "the oldest notify event was dropped (%lld so far)", events.outbox,
	    reply->element[1]->integer);
}

static void
events_on_outbox(struct rconn *rc, redisReply *reply, void *arg)
{
	events_on_publish(rc, reply, arg);
	events_outbox_reply(reply);
}

/* Keep a notify or error event on the status page's short list. */
static void
events_remember(const char *msg)
{
	const char *argv[3] = { "LPUSH", keys_events_recent(), msg };
	size_t lens[3] = { 5, strlen(argv[1]), strlen(msg) };

	if (argv[1][0] == '\0' ||
	    rconn_commandargv(events.rc, NULL, NULL, 3, argv, lens) == -1)
		return;
	(void)rconn_command(events.rc, NULL, NULL, "LTRIM %s 0 %d", argv[1],
	    EVENTS_RECENT - 1);
}

/* PUBLISH one message; hiredis copies it.  A notify-level one (kind 1)
 * also joins the webhook's outbox, in the same script; notify and error
 * ones (kind 2) the recent list.  0, or -1 if rc is down. */
static int
events_send(const char *msg, int kind)
{
	int notify = kind == 1;
	const char *argv[3] = { "PUBLISH", events.channel, msg };
	size_t lens[3] = { 7, strlen(events.channel), strlen(msg) };
	struct scripts_call c;

	if (notify && events.outbox > 0 && scripts_call_notify_push(&c,
	    events.outbox, events.channel, msg) == 0) {
		if (rscript_run(events.rc, &c, events_on_outbox, NULL) == -1)
			return -1;
	} else if (rconn_commandargv(events.rc, events_on_publish, NULL, 3, argv,
	    lens) == -1)
		return -1;
	if (kind != 0)
		events_remember(msg);
	return 0;
}

static int
events_send_dropped(void)
{
	struct json_object *fields;
	char *msg;
	int rv;

	if ((fields = json_object_new_object()) == NULL ||
	    events_add(fields, "count",
	    json_object_new_int64((int64_t)events.unreported)) == -1) {
		json_object_put(fields);
		return -1;
	}
	if ((msg = event_format(EVENT_ERROR, "events.dropped", fields)) == NULL)
		return -1;
	if ((rv = events_send(msg, 0)) == 0)
		events.unreported = 0;
	free(msg);
	return rv;
}

void
events_flush(void)
{
	events_check_fork();
	if (!events.ready || events.rc == NULL || !rconn_is_up(events.rc))
		return;
	if (events.unreported > 0 && events_send_dropped() == -1)
		return;
	while (events.count > 0) {
		if (events_send(events.queue[events.head],
		    events.notify[events.head]) == -1)
			return;
		free(events.queue[events.head]);
		events.queue[events.head] = NULL;
		events.head = (events.head + 1) % EVENTS_QUEUE_MAX;
		events.count--;
	}
}

void
event_publish(enum event_level level, const char *type,
    struct json_object *fields)
{
	char *msg;

	events_check_fork();
	if (!events.ready || type == NULL) {
		json_object_put(fields);
		return;
	}
	if ((msg = event_format(level, type, fields)) == NULL)
		return;
	/* Behind whatever waits, so events leave in order. */
	events_enqueue(msg, level == EVENT_NOTIFY ? 1 : level == EVENT_ERROR ? 2 : 0);
	events_flush();
}

uint64_t
events_dropped(void)
{
	return events.dropped;
}

size_t
events_queued(void)
{
	events_check_fork();
	return events.count;
}

uint64_t
events_lost(void)
{
	return events.lost;
}
