/*
 * olbctl: the operator's tool.  Reads the same configuration as olbd (with
 * the same -c and -o options) to find Redis and the pidfile, then:
 *
 *   status		workers from their heartbeat keys, then the fleet
 *   events [--json]	follow the monitoring channel, one line per event
 *   reload		test the configuration, then SIGHUP the running olbd
 *   instance ...	add, remove, list instances, set an instance's state
 *   placement ACTID	where an account is placed
 *   fleet ...		show the fleet; fleet up, down, scale (the scaler acts)
 *   schedule ...	the jobs and their runs; run one now (schedule.c)
 *
 * It is a short-lived command, so it uses hiredis' blocking API; instance
 * changes run the proxies' Lua scripts through common/registry.c.  Exit
 * status: 0 done, 1 failed (message on stderr), 2 usage.
 */
#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "common/conf.h"
#include "common/events.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/registry.h"
#include "common/rscript.h"
#include "common/scripts.h"
#include "common/sentinel.h"
#include "common/util.h"

#include "supervisor/olbctl/olbctl.h"

#define CTL_HEALTH_RECORDS 10	/* probe records olbctl health ID prints */

static int	fleet_print(struct ctl *ctl, redisContext *rc, json_object **out);
static redisContext *ctl_redis_connect(const struct conf *conf, int quiet);

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: olbctl [-c file] [-o key=value]... command\n"
	    "commands:\n"
	    "  status          workers (role, pid, host, uptime, restarts), then\n"
	    "                  the fleet as \"fleet\" prints it\n"
	    "  events [--json] follow the monitoring channel\n"
	    "  reload          test the configuration, then reload olbd\n"
	    "  instance add --role master|client --addr IP:PORT [--name NAME]\n"
	    "               [--state STATE] [--id ID]\n"
	    "                  register an instance (state: running), print its id\n"
	    "  instance remove ID\n"
	    "                  forget an instance; its accounts move on their next call\n"
	    "  instance list   id, role, name, address, state, account count\n"
	    "  instance state ID STATE\n"
	    "                  STATE: pending, running, unhealthy, draining,\n"
	    "                  terminating, terminated (only running takes accounts)\n"
	    "  instance drain ID\n"
	    "                  take no new accounts; the scaler terminates it\n"
	    "                  when no account is placed there any more, and\n"
	    "                  launches a replacement\n"
	    "  instance terminate ID\n"
	    "                  terminate now, accounts or not; also asks the\n"
	    "                  scaler to try again a terminate the provider\n"
	    "                  refused\n"
	    "  placement ACTID where an account is placed, as master and as client\n"
	    "  health [ID]     per instance: state, successes or failures in a row,\n"
	    "                  totals, last check; with ID its last probe records\n"
	    "  check [--json]  compare counts, mappings, tracking and instance\n"
	    "                  states; list every difference (exit 1 if any)\n"
	    "  fleet           desired and actual fleet, per role and state; the\n"
	    "                  state is \"unset\" until someone sets it (then the\n"
	    "                  scaler launches, drains and terminates nothing)\n"
	    "  fleet up        launch the initial fleet now (scaling.initial_instances,\n"
	    "                  the first a master)\n"
	    "  fleet down      drain and terminate every managed instance now\n"
	    "  fleet scale [--masters N] [--clients M]\n"
	    "                  set the desired fleet (excess instances are drained)\n"
	    "  fleet unblock   launch again the roles whose launches never became\n"
	    "                  running (scale.blocked)\n"
	    "  fleet deployment ID\n"
	    "                  this deployment is ID (as its instances' tag\n"
	    "                  olb:deployment says): instances of ID are adopted,\n"
	    "                  others are left alone\n"
	    "  schedule [--json]\n"
	    "                  each job: expression, time zone, next run (local\n"
	    "                  and UTC, holidays skipped), last run (status,\n"
	    "                  host, duration)\n"
	    "  schedule run JOB\n"
	    "                  run a job now (recorded like a scheduled run);\n"
	    "                  waits until the scheduler has claimed it\n");
	exit(2);
}

static void
print_error_line(const char *line, void *arg)
{
	fprintf(arg, "%s\n", line);
}

static int
ctl_load(struct ctl *ctl)
{
	struct conf_errors errs = { NULL, 0 };

	ctl->conf = conf_load(ctl->conf_path, ctl->overrides, ctl->noverrides, &errs);
	if (ctl->conf == NULL) {
		conf_errors_print(&errs, print_error_line, stderr);
		fprintf(stderr, "olbctl: configuration %s has errors\n", ctl->conf_path);
	}
	conf_errors_free(&errs);
	return ctl->conf == NULL ? -1 : 0;
}

redisContext *
ctl_redis(const struct conf *conf)
{
	return ctl_redis_connect(conf, 0);
}

/* The master as the first sentinel that answers names it (in the order of
 * redis.sentinel.nodes, 1 s each): 0 and host, *port filled, or -1. */
static int
ctl_sentinel_master(const struct conf *conf, char *host, size_t hostlen,
    int *port, int quiet)
{
	const struct conf_strlist *nodes = &conf->redis.sentinel.nodes;
	struct timeval tv = { 1, 0 };
	struct conf_addr a;

	for (size_t i = 0; i < nodes->n; i++) {
		redisContext *c;
		redisReply *r = NULL;
		int ok;

		if (conf_addr_parse(nodes->v[i], &a) == -1)
			continue;
		c = redisConnectWithTimeout(a.host, a.port, tv);
		if (c != NULL && c->err == 0) {
			redisSetTimeout(c, tv);
			r = redisCommand(c, "SENTINEL get-master-addr-by-name %s",
			    conf->redis.sentinel.master);
		}
		ok = sentinel_parse_addr(r, host, hostlen, port) == 0;
		freeReplyObject(r);
		if (c != NULL)
			redisFree(c);
		if (ok)
			return 0;
	}
	if (!quiet)
		fprintf(stderr, "olbctl: no sentinel of redis.sentinel.nodes names "
		    "the master %s\n", conf->redis.sentinel.master);
	return -1;
}

/* ctl_redis, silent on failure if quiet (a follower reconnecting). */
static redisContext *
ctl_redis_connect(const struct conf *conf, int quiet)
{
	struct timeval tv = { 2, 0 };
	char host[256];
	int port = (int)conf->redis.port;
	const char *role;
	redisContext *rc;
	redisReply *r;

	snprintf(host, sizeof(host), "%s", conf->redis.host);
	if (conf->redis.sentinel.master[0] != '\0' &&
	    ctl_sentinel_master(conf, host, sizeof(host), &port, quiet) == -1)
		return NULL;
	if (conf->redis.socket[0] != '\0' && conf->redis.sentinel.master[0] == '\0')
		rc = redisConnectUnixWithTimeout(conf->redis.socket, tv);
	else
		rc = redisConnectWithTimeout(host, port, tv);
	if (rc == NULL || rc->err) {
		if (!quiet)
			fprintf(stderr, "olbctl: connect(redis %s:%d): %s\n",
			    host, port, rc ? rc->errstr : "out of memory");
		goto fail;
	}
	redisSetTimeout(rc, tv);
	if (conf->redis.password[0] != '\0') {
		r = redisCommand(rc, "AUTH %s", conf->redis.password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			if (!quiet)
				fprintf(stderr, "olbctl: redis AUTH failed\n");
			freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	if (conf->redis.db != 0) {
		r = redisCommand(rc, "SELECT %lld", (long long)conf->redis.db);
		freeReplyObject(r);
	}
	if (conf->redis.sentinel.master[0] != '\0') {
		r = redisCommand(rc, "ROLE");
		role = sentinel_parse_role(r);
		if (role == NULL || strcmp(role, "master") != 0) {
			if (!quiet)
				fprintf(stderr, "olbctl: redis %s:%d is %s, not the "
				    "master\n", host, port, role ? role : "unreadable");
			freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	return rc;
fail:
	if (rc != NULL)
		redisFree(rc);
	return NULL;
}

void
ctl_json_print(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* An instance as olbctl's JSON shows it. */
static json_object *
ctl_instance_json(const struct registry_instance *inst)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(inst->id));
	json_object_object_add(o, "role", json_object_new_string(
	    inst->is_master ? "master" : "client"));
	json_object_object_add(o, "name", json_object_new_string(inst->name));
	json_object_object_add(o, "ip", json_object_new_string(inst->ip));
	json_object_object_add(o, "port", json_object_new_int(inst->port));
	json_object_object_add(o, "state", json_object_new_string(inst->state));
	json_object_object_add(o, "provider", json_object_new_string(inst->provider));
	json_object_object_add(o, "accounts", json_object_new_int64(inst->count));
	json_object_object_add(o, "launchedAt", json_object_new_int64(inst->launched_at));
	json_object_object_add(o, "stateSince", json_object_new_int64(inst->state_since));
	return o;
}

/* A state move as --json prints it. */
static void
ctl_move_json(const char *id, const char *from, const char *to)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "from", from != NULL && from[0] != '\0' ?
	    json_object_new_string(from) : NULL);
	json_object_object_add(o, "to", json_object_new_string(to));
	ctl_json_print(o);
}

static void
format_duration(uint64_t ms, char *buf, size_t size)
{
	uint64_t s = ms / 1000;

	if (s < 120)
		snprintf(buf, size, "%llus", (unsigned long long)s);
	else if (s < 7200)
		snprintf(buf, size, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, size, "%lluh%02llum", (unsigned long long)(s / 3600),
		    (unsigned long long)(s / 60 % 60));
}

static void
status_print_one(const char *json)
{
	json_object *o = json_tokener_parse(json), *v;
	char up[32], name[32];
	int64_t started = 0;

	if (o == NULL)
		return;
	if (json_object_object_get_ex(o, "started", &v))
		started = json_object_get_int64(v);
	format_duration(util_wall_ms() - (uint64_t)started, up, sizeof(up));
#define FIELD(name) (json_object_object_get_ex(o, name, &v) ? \
	json_object_get_string(v) : "-")
	if (strcmp(FIELD("role"), "proxy") == 0)
		snprintf(name, sizeof(name), "proxy-%d", json_object_object_get_ex(o,
		    "slot", &v) ? json_object_get_int(v) + 1 : 0);
	else
		snprintf(name, sizeof(name), "%s", FIELD("role"));
	printf("%-12s %-8s %-20s %-5s %-8s %s\n", name, FIELD("pid"),
	    FIELD("host"), FIELD("generation"), up, FIELD("restarts"));
#undef FIELD
	json_object_put(o);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The holders of the three singleton duties: printed (one line), or as
 * JSON (duty -> token or null). */
static json_object *
status_leases(redisContext *rc, int print)
{
	static const char *const duties[] = { "scaler", "health", "scheduler" };
	json_object *o = json_object_new_object();
	char key[KEYS_NAME_MAX];
	redisReply *r;

	if (print)
		printf("\nleases:");
	for (size_t i = 0; i < ARRAY_SIZE(duties); i++) {
		r = keys_lease(key, sizeof(key), duties[i]) == 0 ?
		    redisCommand(rc, "GET %s", key) : NULL;
		if (print)
			printf(" %s %s", duties[i], r != NULL &&
			    r->type == REDIS_REPLY_STRING ? r->str : "free");
		json_object_object_add(o, duties[i], r != NULL &&
		    r->type == REDIS_REPLY_STRING ? json_object_new_string(r->str) :
		    NULL);
		freeReplyObject(r);
	}
	if (print)
		printf("\n");
	return o;
}

/* status: SCAN the heartbeat keys, print one line per live worker. */
static int
cmd_status(struct ctl *ctl)
{
	redisContext *rc;
	redisReply *r, *v;
	char pattern[512], cursor[32] = "0";
	char **keys = NULL;
	json_object *workers = NULL, *fleet = NULL, *leases, *o;
	size_t nkeys = 0;
	int rv;

	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	keys_worker_pattern(pattern, sizeof(pattern));
	do {
		r = redisCommand(rc, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			fprintf(stderr, "olbctl: SCAN failed\n");
			freeReplyObject(r);
			redisFree(rc);
			return 1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			keys = realloc(keys, (nkeys + 1) * sizeof(*keys));
			keys[nkeys++] = strdup(r->element[1]->element[i]->str);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	qsort(keys, nkeys, sizeof(*keys), cmp_str);
	if (ctl->json)
		workers = json_object_new_array();
	else
		printf("%-12s %-8s %-20s %-5s %-8s %s\n", "ROLE", "PID", "HOST",
		    "GEN", "UPTIME", "RESTARTS");
	for (size_t i = 0; i < nkeys; i++) {
		v = redisCommand(rc, "GET %s", keys[i]);
		if (v != NULL && v->type == REDIS_REPLY_STRING) {
			if (workers == NULL)
				status_print_one(v->str);
			else if ((o = json_tokener_parse(v->str)) != NULL)
				json_object_array_add(workers, o);
		}
		freeReplyObject(v);
		free(keys[i]);
	}
	free(keys);
	leases = status_leases(rc, workers == NULL);
	if (workers == NULL) {
		printf("\n");
		rv = fleet_print(ctl, rc, NULL);
	} else if ((rv = fleet_print(ctl, rc, &fleet)) == 0) {
		o = json_object_new_object();
		json_object_object_add(o, "workers", workers);
		json_object_object_add(o, "leases", leases);
		json_object_object_add(o, "fleet", fleet);
		ctl_json_print(o);
		leases = NULL;
	} else
		json_object_put(workers);
	json_object_put(leases);
	redisFree(rc);
	return rv;
}

/* One event as a readable line: time, level, type, then key=value pairs. */
static void
events_print_line(const char *msg)
{
	json_object *o = json_tokener_parse(msg), *v;
	char when[32] = "-";
	time_t secs;
	struct tm tm;

	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		printf("%s\n", msg);
		json_object_put(o);
		return;
	}
	if (json_object_object_get_ex(o, "ts", &v)) {
		int64_t ms = json_object_get_int64(v);

		secs = (time_t)(ms / 1000);
		localtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03d",
		    (int)(ms % 1000));
	}
	printf("%s %-6s %-22s", when,
	    json_object_object_get_ex(o, "level", &v) ? json_object_get_string(v) : "-",
	    json_object_object_get_ex(o, "type", &v) ? json_object_get_string(v) : "-");
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "ts") == 0 || strcmp(key, "level") == 0 ||
		    strcmp(key, "type") == 0)
			continue;
		printf(" %s=%s", key, json_object_to_json_string_ext(val,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	printf("\n");
	json_object_put(o);
}

/* events: SUBSCRIBE and print until interrupted.  Redis unreachable at
 * start: one line and exit 1; lost later: one line, then reconnect quietly
 * every second (a follower outlives a Redis restart). */
static int
cmd_events(struct ctl *ctl, int raw)
{
	redisContext *rc;
	redisReply *r;
	int connected = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		if ((rc = ctl_redis_connect(ctl->conf, connected)) == NULL) {
			if (!connected)
				return 1;
			sleep(1);
			continue;
		}
		/* the confirmation within ctl_redis' timeout, then wait forever */
		r = redisCommand(rc, "SUBSCRIBE %s", ctl->conf->redis.events_channel);
		if (r == NULL && !connected) {
			fprintf(stderr, "olbctl: SUBSCRIBE(redis): %s\n",
			    rc->errstr);
			redisFree(rc);
			return 1;
		}
		freeReplyObject(r);
		connected = 1;
		redisSetTimeout(rc, (struct timeval){ 0, 0 });
		while (redisGetReply(rc, (void **)&r) == REDIS_OK) {
			if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
			    r->element[2]->type == REDIS_REPLY_STRING) {
				if (raw)
					printf("%s\n", r->element[2]->str);
				else
					events_print_line(r->element[2]->str);
			}
			freeReplyObject(r);
		}
		fprintf(stderr, "olbctl: redis connection lost: %s; reconnecting\n",
		    rc->errstr);
		redisFree(rc);
		sleep(1);
	}
}

/* reload: refuse a broken configuration, else SIGHUP the pidfile's olbd. */
static int
cmd_reload(struct ctl *ctl)
{
	FILE *fp;
	long pid = 0;

	if ((fp = fopen(ctl->conf->daemon.pidfile, "r")) == NULL) {
		fprintf(stderr, "olbctl: open(%s): %s (is olbd running?)\n",
		    ctl->conf->daemon.pidfile, strerror(errno));
		return 1;
	}
	if (fscanf(fp, "%ld", &pid) != 1 || pid <= 1) {
		fprintf(stderr, "olbctl: %s holds no pid\n", ctl->conf->daemon.pidfile);
		fclose(fp);
		return 1;
	}
	fclose(fp);
	if (kill((pid_t)pid, SIGHUP) == -1) {
		fprintf(stderr, "olbctl: kill(%ld, SIGHUP): %s\n", pid, strerror(errno));
		return 1;
	}
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "reloaded", json_object_new_boolean(1));
		json_object_object_add(o, "pid", json_object_new_int64(pid));
		ctl_json_print(o);
	} else
		printf("configuration OK; reload signalled to olbd (pid %ld)\n", pid);
	return 0;
}

/* "IPv4:PORT" into ip and port.  0 or -1. */
static int
ctl_parse_addr(const char *s, char ip[INET_ADDRSTRLEN], uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	struct in_addr in;
	char *end;
	long n;

	if (colon == NULL || colon == s ||
	    (size_t)(colon - s) >= INET_ADDRSTRLEN)
		return -1;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	if (inet_pton(AF_INET, ip, &in) != 1 || colon[1] < '0' || colon[1] > '9')
		return -1;
	errno = 0;
	n = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > 65535)
		return -1;
	*port = (uint16_t)n;
	return 0;
}

/* The options of "instance add". */
struct ctl_add {
	const char	*role;
	const char	*addr;
	const char	*name;
	const char	*state;
	const char	*id;
};

/* Parse "--key value" and "--key=value" options of "instance add" from
 * argv[2]; anything else is a usage error. */
static void
ctl_add_parse(int argc, char **argv, struct ctl_add *o)
{
	const struct { const char *key; const char **val; } opts[] = {
		{ "--role", &o->role }, { "--addr", &o->addr },
		{ "--name", &o->name }, { "--state", &o->state },
		{ "--id", &o->id },
	};
	const char *arg, *val;
	size_t klen, k;

	memset(o, 0, sizeof(*o));
	for (int i = 2; i < argc; i++) {
		arg = argv[i];
		if ((val = strchr(arg, '=')) != NULL) {
			klen = (size_t)(val - arg);
			val++;
		} else {
			if (i + 1 == argc)
				usage();
			klen = strlen(arg);
			val = argv[++i];
		}
		for (k = 0; k < ARRAY_SIZE(opts); k++)
			if (strlen(opts[k].key) == klen &&
			    strncmp(arg, opts[k].key, klen) == 0)
				break;
		if (k == ARRAY_SIZE(opts))
			usage();
		*opts[k].val = val;
	}
	if (o->role == NULL || o->addr == NULL ||
	    (strcmp(o->role, "master") != 0 && strcmp(o->role, "client") != 0))
		usage();
	if (o->state != NULL && !scripts_state_valid(o->state))
		usage();
	if (o->id != NULL && (o->id[0] == '\0' ||
	    strlen(o->id) >= REGISTRY_ID_MAX))
		usage();
}

/* instance add: register an instance and print its id. */
static int
cmd_instance_add(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_add o;
	char ip[INET_ADDRSTRLEN], id[REGISTRY_ID_MAX] = "";
	uint16_t port;
	redisContext *rc;
	int rv;

	ctl_add_parse(argc, argv, &o);
	if (ctl_parse_addr(o.addr, ip, &port) == -1) {
		fprintf(stderr, "olbctl: instance add: --addr %s: want IPv4:PORT\n",
		    o.addr);
		usage();
	}
	if (o.id != NULL)
		snprintf(id, sizeof(id), "%s", o.id);
	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	rv = registry_add(rc, o.role, ip, port, o.name, o.state, NULL, id,
	    sizeof(id));
	redisFree(rc);
	if (rv == -1) {
		fprintf(stderr, "olbctl: instance add: %s\n", registry_error());
		return 1;
	}
	if (ctl->json) {
		json_object *j = json_object_new_object();

		json_object_object_add(j, "id", json_object_new_string(id));
		ctl_json_print(j);
	} else
		printf("%s\n", id);
	return 0;
}

/* instance remove ID, instance state ID STATE. */
static int
cmd_instance_change(struct ctl *ctl, int argc, char **argv)
{
	int removing = strcmp(argv[1], "remove") == 0;
	char previous[REGISTRY_STATE_MAX] = "";
	redisContext *rc;
	int rv;

	if (argc != (removing ? 3 : 4) || argv[2][0] == '\0' ||
	    (!removing && !scripts_state_valid(argv[3])))
		usage();
	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	if (removing)
		rv = registry_remove(rc, argv[2]);
	else
		rv = registry_set_state(rc, argv[2], argv[3], previous);
	redisFree(rc);
	if (rv == -1) {
		fprintf(stderr, "olbctl: instance %s: %s\n", argv[1],
		    registry_error());
		return 1;
	}
	if (ctl->json)
		ctl_move_json(argv[2], removing ? NULL : previous,
		    removing ? "removed" : argv[3]);
	else if (removing)
		printf("%s removed\n", argv[2]);
	else
		printf("%s: %s -> %s\n", argv[2], previous, argv[3]);
	return 0;
}

/* Publish one event on the monitoring channel, formatted by common/events.c
 * (role "olbctl", set in main).  fields is consumed. */
void
ctl_event(redisContext *rc, enum event_level level, const char *type,
    json_object *fields)
{
	struct scripts_call c;
	redisReply *r;
	char *msg;

	if ((msg = event_format(level, type, fields)) == NULL)
		return;
	/* A notify-level event joins the webhook's outbox too. */
	if (level == EVENT_NOTIFY && events_outbox() > 0 &&
	    scripts_call_notify_push(&c, events_outbox(), keys_events_channel(),
	    msg) == 0) {
		r = rscript_run_sync(rc, &c);
		events_outbox_reply(r);
	} else
		r = redisCommand(rc, "PUBLISH %s %s", keys_events_channel(), msg);
	freeReplyObject(r);
	free(msg);
}

/* instance drain|terminate ID: draining or terminating, and the event
 * that tells the scaler, which does the rest (a terminate it had given up
 * on is tried again). */
static int
cmd_instance_move(struct ctl *ctl, int argc, char **argv, const char *state)
{
	char previous[REGISTRY_STATE_MAX] = "", type[48];
	redisContext *rc;
	json_object *f;
	int rv;

	if (argc != 3 || argv[2][0] == '\0')
		usage();
	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	if ((rv = registry_set_state(rc, argv[2], state, previous)) == 0) {
		f = json_object_new_object();
		json_object_object_add(f, "id", json_object_new_string(argv[2]));
		json_object_object_add(f, "reason", json_object_new_string("olbctl"));
		snprintf(type, sizeof(type), "instance.%s", state);
		ctl_event(rc, EVENT_NOTIFY, type, f);
	}
	redisFree(rc);
	if (rv == -1) {
		fprintf(stderr, "olbctl: instance %s: %s\n", argv[1],
		    registry_error());
		return 1;
	}
	if (ctl->json)
		ctl_move_json(argv[2], previous, state);
	else
		printf("%s: %s -> %s\n", argv[2], previous, state);
	return 0;
}

static void
instance_print_one(const struct registry_instance *inst, const char *extra)
{
	char addr[REGISTRY_IP_MAX + 8];

	snprintf(addr, sizeof(addr), "%s:%u", inst->ip[0] ? inst->ip : "-",
	    (unsigned int)inst->port);
	printf("%-20s %-7s %-20s %-21s %-12s %lld%s\n", inst->id,
	    inst->is_master ? "master" : "client",
	    inst->name[0] ? inst->name : "-", addr, inst->state, inst->count,
	    extra);
}

static void
instance_header(void)
{
	printf("%-20s %-7s %-20s %-21s %-12s %s\n", "ID", "ROLE", "NAME",
	    "ADDRESS", "STATE", "COUNT");
}

/* A row of instance list; the header comes with the first row (or after
 * an empty read), so a failed read prints nothing on stdout. */
static void
instance_print(const struct registry_instance *inst, void *arg)
{
	int *rows = arg;

	if ((*rows)++ == 0)
		instance_header();
	instance_print_one(inst, "");
}

static void
instance_collect(const struct registry_instance *inst, void *arg)
{
	json_object_array_add(arg, ctl_instance_json(inst));
}

/* instance list: every instance by launch order. */
static int
cmd_instance_list(struct ctl *ctl, int argc)
{
	json_object *list = NULL;
	redisContext *rc;
	int n, rows = 0;

	if (argc != 2)
		usage();
	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	if (ctl->json) {
		list = json_object_new_array();
		n = registry_list(rc, instance_collect, list);
	} else
		n = registry_list(rc, instance_print, &rows);
	redisFree(rc);
	if (n == -1) {
		fprintf(stderr, "olbctl: instance list: %s\n", registry_error());
		json_object_put(list);
		return 1;
	}
	if (list != NULL)
		ctl_json_print(list);
	else if (rows == 0)
		instance_header();
	return 0;
}

static int
cmd_instance(struct ctl *ctl, int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "add") == 0)
		return cmd_instance_add(ctl, argc, argv);
	if (strcmp(argv[1], "remove") == 0 || strcmp(argv[1], "state") == 0)
		return cmd_instance_change(ctl, argc, argv);
	if (strcmp(argv[1], "list") == 0)
		return cmd_instance_list(ctl, argc);
	if (strcmp(argv[1], "drain") == 0)
		return cmd_instance_move(ctl, argc, argv, "draining");
	if (strcmp(argv[1], "terminate") == 0)
		return cmd_instance_move(ctl, argc, argv, "terminating");
	usage();
}

/* Element i of an HMGET answer, or "-". */
static const char *
ctl_element(const redisReply *r, size_t i)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
	    r->element[i]->type != REDIS_REPLY_STRING)
		return "-";
	return r->element[i]->str;
}

/* The health of one instance: its consecutive count and the earlier
 * service's stats, on one line after its state. */
struct ctl_health {
	redisContext	*rc;
	const char	*only;		/* one id, or NULL for all */
	int		 found;
	json_object	*list;		/* --json: the rows */
};

static void
health_header(void)
{
	printf("%-20s %-7s %-12s %15s %9s %9s %s\n", "ID", "ROLE", "STATE",
	    "IN A ROW", "SUCCESSES", "FAILURES", "LAST CHECK");
}

static void
health_print(const struct registry_instance *inst, void *arg)
{
	struct ctl_health *hc = arg;
	redisReply *streak, *stats;
	long long n;

	if (hc->only != NULL && strcmp(inst->id, hc->only) != 0)
		return;
	if (hc->found++ == 0 && hc->list == NULL)
		health_header();	/* with the first row: see instance_print */
	streak = redisCommand(hc->rc, "HGET %s %s", keys_health_streak(), inst->id);
	stats = redisCommand(hc->rc, "HMGET %s%s totalSuccesses totalFailures "
	    "lastCheckedAt", keys_health_stats_prefix(), inst->id);
	n = streak != NULL && streak->type == REDIS_REPLY_STRING ?
	    strtoll(streak->str, NULL, 10) : 0;
	if (hc->list != NULL) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_string(inst->id));
		json_object_object_add(o, "role", json_object_new_string(
		    inst->is_master ? "master" : "client"));
		json_object_object_add(o, "state", json_object_new_string(inst->state));
		json_object_object_add(o, "streak", json_object_new_int64(n));
		json_object_object_add(o, "successes", json_object_new_int64(
		    atoll(ctl_element(stats, 0))));
		json_object_object_add(o, "failures", json_object_new_int64(
		    atoll(ctl_element(stats, 1))));
		json_object_object_add(o, "lastCheckedAt", json_object_new_int64(
		    atoll(ctl_element(stats, 2))));
		json_object_array_add(hc->list, o);
		freeReplyObject(streak);
		freeReplyObject(stats);
		return;
	}
	printf("%-20s %-7s %-12s %5lld %-9s %9s %9s %s\n", inst->id,
	    inst->is_master ? "master" : "client", inst->state, n < 0 ? -n : n,
	    n < 0 ? "failures" : n > 0 ? "successes" : "-",
	    ctl_element(stats, 0), ctl_element(stats, 1), ctl_element(stats, 2));
	freeReplyObject(streak);
	freeReplyObject(stats);
}

/* health [ID]: per instance the state, the consecutive successes or
 * failures, the totals and the last check (ms since the epoch); with an
 * ID, also its last CTL_HEALTH_RECORDS probe records, newest first. */
static int
cmd_health(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_health hc = { NULL, argc == 2 ? argv[1] : NULL, 0, NULL };
	json_object *history = NULL, *panic = NULL, *o;
	redisReply *r;
	int n;

	if (argc > 2 || (argc == 2 && argv[1][0] == '\0'))
		usage();
	if ((hc.rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	if (ctl->json) {
		hc.list = json_object_new_array();
		history = json_object_new_array();
		panic = json_object_new_object();
	}
	n = registry_list(hc.rc, health_print, &hc);
	if (n != -1 && hc.found == 0 && hc.only == NULL && !ctl->json)
		health_header();	/* no instance at all */
	if (n != -1 && hc.only != NULL && hc.found > 0) {
		r = redisCommand(hc.rc, "LRANGE %s%s 0 %d",
		    keys_health_history_prefix(), hc.only, CTL_HEALTH_RECORDS - 1);
		for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY &&
		    i < r->elements; i++) {
			if (history == NULL)
				printf("  %s\n", r->element[i]->str);
			else if ((o = json_tokener_parse(r->element[i]->str)) != NULL)
				json_object_array_add(history, o);
		}
		freeReplyObject(r);
	}
	/* A role in the health worker's panic (its instances kept routing). */
	r = n != -1 && hc.only == NULL ? redisCommand(hc.rc, "HGETALL %s",
	    keys_health_panic()) : NULL;
	for (size_t i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY &&
	    i + 1 < r->elements; i += 2) {
		if (panic != NULL)
			json_object_object_add(panic, r->element[i]->str,
			    json_object_new_int64(atoll(r->element[i + 1]->str)));
		else
			printf("panic: %s instances fail at once since %s (ms): kept "
			    "routing, none replaced\n", r->element[i]->str,
			    r->element[i + 1]->str);
	}
	freeReplyObject(r);
	redisFree(hc.rc);
	if (n == -1 || (hc.only != NULL && hc.found == 0)) {
		if (n == -1)
			fprintf(stderr, "olbctl: health: %s\n", registry_error());
		else
			fprintf(stderr, "olbctl: health: no instance %s\n", hc.only);
		json_object_put(hc.list);
		json_object_put(history);
		json_object_put(panic);
		return 1;
	}
	if (ctl->json) {
		o = json_object_new_object();
		json_object_object_add(o, "instances", hc.list);
		if (hc.only != NULL) {
			json_object_object_add(o, "history", history);
			json_object_put(panic);
		} else {
			json_object_object_add(o, "panic", panic);
			json_object_put(history);
		}
		ctl_json_print(o);
	}
	return 0;
}

/* placement ACTID: the instances hosting the account, as master and as
 * client (with the master it copies). */
static int
cmd_placement(struct ctl *ctl, int argc, char **argv)
{
	struct registry_account acct;
	char extra[REGISTRY_ACTID_MAX + 16];
	redisContext *rc;
	int rv;

	if (argc != 2 || argv[1][0] == '\0')
		usage();
	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	rv = registry_placement(rc, argv[1], &acct);
	redisFree(rc);
	if (rv == -1) {
		fprintf(stderr, "olbctl: placement: %s\n", registry_error());
		return 1;
	}
	if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "actid", json_object_new_string(argv[1]));
		json_object_object_add(o, "master", acct.as_master ?
		    ctl_instance_json(&acct.master) : NULL);
		json_object_object_add(o, "client", acct.as_client ?
		    ctl_instance_json(&acct.client) : NULL);
		json_object_object_add(o, "masterActid", acct.as_client &&
		    acct.master_actid[0] ? json_object_new_string(acct.master_actid) :
		    NULL);
		ctl_json_print(o);
		return 0;
	}
	if (!acct.as_master && !acct.as_client) {
		printf("%s is not placed\n", argv[1]);
		return 0;
	}
	instance_header();
	if (acct.as_master)
		instance_print_one(&acct.master, "");
	if (acct.as_client) {
		snprintf(extra, sizeof(extra), "  master=%s", acct.master_actid[0] ?
		    acct.master_actid : "-");
		instance_print_one(&acct.client, extra);
	}
	return 0;
}

static void
check_print_line(const char *line, void *arg)
{
	json_object *list = arg;

	if (list != NULL)
		json_object_array_add(list, json_object_new_string(line));
	else
		printf("%s\n", line);
}

/* check [--json]: the placement invariants, one snapshot; exit 1 when
 * anything disagrees. */
static int
cmd_check(struct ctl *ctl, int argc, char **argv)
{
	struct registry_totals t;
	json_object *o = NULL, *list = NULL;
	redisContext *rc;
	int n, json = ctl->json;

	(void)argv;
	if (argc != 1)
		usage();
	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	if (json)
		list = json_object_new_array();
	n = registry_check(rc, ctl->conf->scaling.max_users_per_master,
	    ctl->conf->scaling.max_users_per_client, &t, check_print_line, list);
	redisFree(rc);
	if (n == -1) {
		fprintf(stderr, "olbctl: check: %s\n", registry_error());
		json_object_put(list);
		return 1;
	}
	if (json) {
		o = json_object_new_object();
		json_object_object_add(o, "ok", json_object_new_boolean(n == 0));
		json_object_object_add(o, "masters", json_object_new_int64(t.masters));
		json_object_object_add(o, "clients", json_object_new_int64(t.clients));
		json_object_object_add(o, "instances",
		    json_object_new_int64(t.instances));
		json_object_object_add(o, "differences", list);
		ctl_json_print(o);
	} else if (n == 0)
		printf("OK: %lld masters and %lld clients placed on %lld instances; "
		    "counts, mappings, tracking and states agree\n", t.masters,
		    t.clients, t.instances);
	else
		printf("%d differences\n", n);
	return n == 0 ? 0 : 1;
}

/* The fleet table: instances per role and state. */
struct ctl_fleet {
	const char	*provider;
	long long	 n[2][6];		/* role x state */
	long long	 accounts[2];
	long long	 other;			/* of another provider */
};

static const char *const ctl_states[6] = { "pending", "running", "unhealthy",
    "draining", "terminating", "terminated" };

static void
fleet_count(const struct registry_instance *inst, void *arg)
{
	struct ctl_fleet *f = arg;
	int role = inst->is_master ? 0 : 1;

	if (strcmp(inst->provider, f->provider) != 0) {
		f->other++;
		return;
	}
	for (int s = 0; s < 6; s++)
		if (strcmp(inst->state, ctl_states[s]) == 0)
			f->n[role][s]++;
	if (strcmp(inst->state, "terminated") != 0)
		f->accounts[role] += inst->count;
}

/* A field of an HGETALL answer, or def. */
static const char *
ctl_field(const redisReply *r, const char *field, const char *def)
{
	const char *v = redis_hash_field(r, field);

	return v != NULL ? v : def;
}

/* The fleet as JSON: what fleet_print shows. */
static json_object *
fleet_json(struct ctl *ctl, const struct ctl_fleet *f, const redisReply *fleet,
    const redisReply *lease, const redisReply *dep, const long long launching[2])
{
	json_object *o = json_object_new_object(), *roles, *x, *blocked;
	const char *state = ctl_field(fleet, "state", NULL);

	json_object_object_add(o, "state", state != NULL ?
	    json_object_new_string(state) : NULL);
	json_object_object_add(o, "provider", json_object_new_string(f->provider));
	json_object_object_add(o, "cluster",
	    json_object_new_string(ctl->conf->provider.cluster));
	json_object_object_add(o, "deployment", dep != NULL && dep->type ==
	    REDIS_REPLY_STRING ? json_object_new_string(dep->str) : NULL);
	json_object_object_add(o, "scalerLease", lease != NULL && lease->type ==
	    REDIS_REPLY_STRING ? json_object_new_string(lease->str) : NULL);
	roles = json_object_new_object();
	blocked = json_object_new_array();
	for (int role = 0; role < 2; role++) {
		const char *name = role == 0 ? "master" : "client";

		x = json_object_new_object();
		json_object_object_add(x, "desired", json_object_new_int64(atoll(
		    ctl_field(fleet, role == 0 ? "masters" : "clients", "0"))));
		json_object_object_add(x, "launching",
		    json_object_new_int64(launching[role]));
		for (int st = 0; st < 6; st++)
			json_object_object_add(x, ctl_states[st],
			    json_object_new_int64(f->n[role][st]));
		json_object_object_add(x, "accounts",
		    json_object_new_int64(f->accounts[role]));
		json_object_object_add(roles, name, x);
		if (ctl_field(fleet, role == 0 ? "blocked:master" : "blocked:client",
		    NULL) != NULL)
			json_object_array_add(blocked, json_object_new_string(name));
	}
	json_object_object_add(o, "roles", roles);
	json_object_object_add(o, "blocked", blocked);
	json_object_object_add(o, "otherProviders", json_object_new_int64(f->other));
	return o;
}

/* The fleet table (desired and actual, the scaler lease) on rc, or with
 * out, its JSON in *out.  0 or 1. */
static int
fleet_print(struct ctl *ctl, redisContext *rc, json_object **out)
{
	struct ctl_fleet f = { conf_provider_name(ctl->conf->provider.type), { { 0 } }, { 0 }, 0 };
	redisReply *fleet, *launches, *lease, *dep;
	long long launching[2] = { 0, 0 };

	fleet = redisCommand(rc, "HGETALL %s", keys_fleet());
	launches = redisCommand(rc, "HVALS %s", keys_launches());
	lease = redisCommand(rc, "GET %s", keys_lease_scaler());
	dep = redisCommand(rc, "GET %s", keys_deployment());
	if (registry_list(rc, fleet_count, &f) == -1 || fleet == NULL ||
	    fleet->type != REDIS_REPLY_ARRAY) {
		fprintf(stderr, "olbctl: fleet: %s\n", fleet == NULL ||
		    fleet->type == REDIS_REPLY_ARRAY ? registry_error() :
		    "cannot read the fleet");
		freeReplyObject(fleet);
		freeReplyObject(launches);
		freeReplyObject(lease);
		freeReplyObject(dep);
		return 1;
	}
	for (size_t i = 0; launches != NULL && launches->type == REDIS_REPLY_ARRAY &&
	    i < launches->elements; i++)
		launching[strstr(launches->element[i]->str, "\"master\"") ? 0 : 1]++;
	if (out != NULL) {
		*out = fleet_json(ctl, &f, fleet, lease, dep, launching);
		freeReplyObject(fleet);
		freeReplyObject(launches);
		freeReplyObject(lease);
		freeReplyObject(dep);
		return 0;
	}
	/* No state is not "down": nobody wrote one (a new deployment, or a
	 * Redis that lost its data), and the scaler launches and drains
	 * nothing until someone does. */
	printf("fleet %s (provider %s, cluster %s, deployment %s), scaler "
	    "lease %s\n", ctl_field(fleet, "state", "unset"), f.provider,
	    ctl->conf->provider.cluster, dep != NULL && dep->type ==
	    REDIS_REPLY_STRING ? dep->str : "-", lease != NULL &&
	    lease->type == REDIS_REPLY_STRING ? lease->str : "free");
	printf("%-8s %7s %9s", "ROLE", "DESIRED", "LAUNCHING");
	for (int s = 0; s < 6; s++)
		printf(" %11s", ctl_states[s]);
	printf(" %8s\n", "ACCOUNTS");
	for (int role = 0; role < 2; role++) {
		printf("%-8s %7s %9lld", role == 0 ? "masters" : "clients",
		    ctl_field(fleet, role == 0 ? "masters" : "clients", "0"),
		    launching[role]);
		for (int s = 0; s < 6; s++)
			printf(" %11lld", f.n[role][s]);
		printf(" %8lld\n", f.accounts[role]);
	}
	if (f.other > 0)
		printf("(%lld instances of other providers are not managed)\n",
		    f.other);
	for (int role = 0; role < 2; role++)
		if (ctl_field(fleet, role == 0 ? "blocked:master" : "blocked:client",
		    NULL) != NULL)
			printf("(%s launches are blocked: they never became "
			    "running; olbctl fleet unblock)\n", role == 0 ?
			    "master" : "client");
	freeReplyObject(fleet);
	freeReplyObject(launches);
	freeReplyObject(lease);
	freeReplyObject(dep);
	return 0;
}

/* Print the fleet (table or JSON) on rc.  0 or 1. */
static int
ctl_fleet_show_on(struct ctl *ctl, redisContext *rc)
{
	json_object *o = NULL;
	int status = fleet_print(ctl, rc, ctl->json ? &o : NULL);

	if (o != NULL)
		ctl_json_print(o);
	return status;
}

static int
cmd_fleet_show(struct ctl *ctl)
{
	redisContext *rc;
	int status;

	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	status = ctl_fleet_show_on(ctl, rc);
	redisFree(rc);
	return status;
}

/* Set fields of the desired fleet and tell the scaler (fleet.changed),
 * then show the fleet. */
static int
ctl_fleet_set(struct ctl *ctl, const char *state, long long masters,
    long long clients)
{
	char m[24], c[24], at[24];
	redisContext *rc;
	redisReply *r;
	json_object *f;
	const char *argv[12];
	int argc = 0, ok;

	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	snprintf(m, sizeof(m), "%lld", masters);
	snprintf(c, sizeof(c), "%lld", clients);
	snprintf(at, sizeof(at), "%llu", (unsigned long long)util_wall_ms());
	argv[argc++] = "HSET";
	argv[argc++] = keys_fleet();
	argv[argc++] = "changedAt";
	argv[argc++] = at;
	if (state != NULL) {
		argv[argc++] = "state";
		argv[argc++] = state;
	}
	if (masters >= 0) {
		argv[argc++] = "masters";
		argv[argc++] = m;
	}
	if (clients >= 0) {
		argv[argc++] = "clients";
		argv[argc++] = c;
	}
	r = redisCommandArgv(rc, argc, argv, NULL);
	ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
	if (!ok)
		fprintf(stderr, "olbctl: fleet: %s\n", r != NULL &&
		    r->type == REDIS_REPLY_ERROR ? r->str : "Redis did not answer");
	freeReplyObject(r);
	if (ok) {
		f = json_object_new_object();
		if (state != NULL)
			json_object_object_add(f, "state", json_object_new_string(state));
		if (masters >= 0)
			json_object_object_add(f, "masters", json_object_new_int64(masters));
		if (clients >= 0)
			json_object_object_add(f, "clients", json_object_new_int64(clients));
		ctl_event(rc, EVENT_NOTIFY, "fleet.changed", f);
	}
	if (ok)
		ok = ctl_fleet_show_on(ctl, rc) == 0;
	redisFree(rc);
	return ok ? 0 : 1;
}

/* fleet deployment ID: this deployment is ID from now on, so the
 * instances tagged with it are adopted (after a Redis that lost its data
 * and a restart of every scaler, the instances' own deployment). */
static int
ctl_fleet_deployment(struct ctl *ctl, const char *id)
{
	redisContext *rc;
	redisReply *r;
	json_object *f;
	int ok;

	if (id[0] == '\0' || strlen(id) > 63 ||
	    strspn(id, "0123456789abcdefghijklmnopqrstuvwxyz-") != strlen(id)) {
		fprintf(stderr, "olbctl: fleet deployment: '%s': 1 to 63 of "
		    "[0-9a-z-]\n", id);
		return 1;
	}
	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	r = redisCommand(rc, "SET %s %s", keys_deployment(), id);
	ok = r != NULL && r->type == REDIS_REPLY_STATUS;
	if (!ok)
		fprintf(stderr, "olbctl: fleet deployment: %s\n", r != NULL &&
		    r->type == REDIS_REPLY_ERROR ? r->str : "Redis did not answer");
	freeReplyObject(r);
	if (ok) {
		f = json_object_new_object();
		json_object_object_add(f, "deployment", json_object_new_string(id));
		ctl_event(rc, EVENT_NOTIFY, "fleet.changed", f);
	}
	redisFree(rc);
	return ok ? 0 : 1;
}

/* fleet unblock: launches of both roles may start again (scale.blocked). */
static int
ctl_fleet_unblock(struct ctl *ctl)
{
	redisContext *rc;
	redisReply *r;
	json_object *f;
	int ok;

	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	r = redisCommand(rc, "HDEL %s blocked:master blocked:client", keys_fleet());
	ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
	if (!ok)
		fprintf(stderr, "olbctl: fleet unblock: %s\n", r != NULL &&
		    r->type == REDIS_REPLY_ERROR ? r->str : "Redis did not answer");
	else if (ctl->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "unblocked", json_object_new_int64(r->integer));
		ctl_json_print(o);
	} else
		printf("%lld role(s) unblocked\n", r->integer);
	freeReplyObject(r);
	if (ok) {
		f = json_object_new_object();
		json_object_object_add(f, "unblocked", json_object_new_boolean(1));
		ctl_event(rc, EVENT_NOTIFY, "fleet.changed", f);
	}
	redisFree(rc);
	return ok ? 0 : 1;
}

/* fleet up: at least the initial fleet (a fleet already larger keeps its
 * size). */
static int
ctl_fleet_up(struct ctl *ctl, long long masters, long long clients)
{
	redisContext *rc;
	redisReply *r;

	if ((rc = ctl_redis(ctl->conf)) == NULL)
		return 1;
	r = redisCommand(rc, "HMGET %s masters clients", keys_fleet());
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		if (r->element[0]->type == REDIS_REPLY_STRING &&
		    strtoll(r->element[0]->str, NULL, 10) > masters)
			masters = strtoll(r->element[0]->str, NULL, 10);
		if (r->element[1]->type == REDIS_REPLY_STRING &&
		    strtoll(r->element[1]->str, NULL, 10) > clients)
			clients = strtoll(r->element[1]->str, NULL, 10);
	}
	freeReplyObject(r);
	redisFree(rc);
	return ctl_fleet_set(ctl, "up", masters, clients);
}

/* A count option's value: 0..100000, else usage. */
static long long
ctl_count(const char *s)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < 0 || n > 100000)
		usage();
	return n;
}

static int
cmd_fleet(struct ctl *ctl, int argc, char **argv)
{
	long long initial = ctl->conf->scaling.initial_instances;
	long long masters = -1, clients = -1;

	if (argc == 1)
		return cmd_fleet_show(ctl);
	if (strcmp(argv[1], "up") == 0 && argc == 2)
		return ctl_fleet_up(ctl, initial > 0 ? 1 : 0,
		    initial > 1 ? initial - 1 : 0);
	if (strcmp(argv[1], "down") == 0 && argc == 2)
		return ctl_fleet_set(ctl, "down", 0, 0);
	if (strcmp(argv[1], "deployment") == 0 && argc == 3)
		return ctl_fleet_deployment(ctl, argv[2]);
	if (strcmp(argv[1], "unblock") == 0 && argc == 2)
		return ctl_fleet_unblock(ctl);
	if (strcmp(argv[1], "scale") != 0 || argc < 4 || argc % 2 != 0)
		usage();
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--masters") == 0)
			masters = ctl_count(argv[i + 1]);
		else if (strcmp(argv[i], "--clients") == 0)
			clients = ctl_count(argv[i + 1]);
		else
			usage();
	}
	return ctl_fleet_set(ctl, NULL, masters, clients);
}

int
main(int argc, char **argv)
{
	struct ctl ctl;
	int ch, status;

	memset(&ctl, 0, sizeof(ctl));
	ctl.conf_path = CONF_DEFAULT_PATH;
	while ((ch = getopt(argc, argv, "+c:o:h")) != -1) {
		switch (ch) {
		case 'c':
			ctl.conf_path = optarg;
			break;
		case 'o':
			if (ctl.noverrides == MAX_OVERRIDES)
				usage();
			ctl.overrides[ctl.noverrides++] = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	/* --json, anywhere after the command: JSON for scripts. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0) {
			ctl.json = 1;
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
	log_open("stderr", LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
	if (ctl_load(&ctl) == -1)
		return 1;
	keys_init(ctl.conf->redis.prefix, ctl.conf->redis.events_channel);
	events_init(NULL, keys_events_channel(), util_hostname(), "olbctl");
	events_set_outbox(ctl.conf);
	if (strcmp(argv[0], "status") == 0)
		status = cmd_status(&ctl);
	else if (strcmp(argv[0], "events") == 0)
		status = argc == 1 ? cmd_events(&ctl, ctl.json) : (usage(), 2);
	else if (strcmp(argv[0], "reload") == 0)
		status = cmd_reload(&ctl);
	else if (strcmp(argv[0], "instance") == 0)
		status = cmd_instance(&ctl, argc, argv);
	else if (strcmp(argv[0], "check") == 0)
		status = cmd_check(&ctl, argc, argv);
	else if (strcmp(argv[0], "placement") == 0)
		status = cmd_placement(&ctl, argc, argv);
	else if (strcmp(argv[0], "health") == 0)
		status = cmd_health(&ctl, argc, argv);
	else if (strcmp(argv[0], "fleet") == 0)
		status = cmd_fleet(&ctl, argc, argv);
	else if (strcmp(argv[0], "schedule") == 0)
		status = cmd_schedule(&ctl, argc, argv);
	else
		usage();
	events_shutdown();
	conf_free(ctl.conf);
	return status;
}
