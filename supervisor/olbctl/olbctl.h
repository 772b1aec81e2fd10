/*
 * olbctl: what the command files share (olbctl.c holds main, the
 * configuration and Redis helpers; schedule.c the schedule commands).
 */
#ifndef OLB_OLBCTL_H
#define OLB_OLBCTL_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "common/events.h"

#define MAX_OVERRIDES	128

struct json_object;

struct ctl {
	const char	*conf_path;
	char		*overrides[MAX_OVERRIDES];
	size_t		 noverrides;
	struct conf	*conf;
	int		 json;		/* --json: JSON for scripts, not tables */
};

/* Connect, AUTH and SELECT as olbd would.  NULL with a message on failure. */
redisContext	*ctl_redis(const struct conf *conf);
/* Publish one event (and queue a notify-level one for the webhook);
 * fields is consumed. */
void		 ctl_event(redisContext *rc, enum event_level level,
		    const char *type, struct json_object *fields);

/* Print o as one line of JSON, and free it. */
void		 ctl_json_print(struct json_object *o);

/* schedule [--json] | schedule run JOB (schedule.c). */
int		 cmd_schedule(struct ctl *ctl, int argc, char **argv);

#endif
