/*
 * listener: olb-listener, the demo order listener (SPEC §1, §6).  It plays
 * one instance of the fleet: olbd's proxy workers forward the platform's
 * create/remove calls to it and the health worker probes it.  The "process"
 * provider starts one per instance (make run); the system tests and the
 * benchmarks use it as the backend.  It keeps the accounts it hosts in an
 * in-memory set and talks to nobody else.
 *
 * One single-threaded, non-blocking process on the common event loop
 * (common/ev.h) and the server connection layer the proxies use
 * (common/hconn.h): keep-alive, pipelining, Content-Length and chunked
 * bodies up to 1 MiB, gathered into one string per request for json-c.  A
 * peer that half-closes still gets the answers to what it sent.  There is
 * no idle timeout: the clients are olb's keep-alive pools and tests.
 *
 * Test hooks let a system test make an instance misbehave without another
 * program: --fail-status and --delay-ms act on create/remove answers only
 * (the delay is a timer: other connections are served meanwhile),
 * --health-status on healthCheck.  --verbose logs one line per answer.
 * SIGTERM or SIGINT: close everything, free everything, exit 0.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/ev.h"
#include "common/hconn.h"
#include "common/http.h"
#include "common/log.h"
#include "common/util.h"

#define LISTENER_MAX_HEAD	(64 * 1024)	/* larger heads: 431 */
#define LISTENER_MAX_BODY	(1024 * 1024)	/* larger bodies: 413 */
#define LISTENER_MAX_FDS	65536
#define LISTENER_KEEP		(64 * 1024)	/* larger bodies go once answered */

#define PATH_HEALTH	"/api/v1/healthCheck"
#define PATH_CREATE	"/api/v1/listener/create_user_listener"
#define PATH_REMOVE	"/api/v1/listener/remove_user_listener"
#define PATH_ACCOUNTS	"/api/v1/listener/accounts"
#define BODY_NOT_FOUND	"{\"status\":false,\"message\":\"Path not found\"}"
#define BODY_NO_MEMORY	"{\"status\":false,\"message\":\"Internal error\"}"

/* A growable byte string.  A failed allocation sets oom and drops the bytes. */
struct buf {
	char		*data;		/* owned */
	size_t		 len, cap;
	int		 oom;
};

struct account {
	char		*id;		/* owned, NUL-terminated; NULL: free slot */
	size_t		 len;
	uint64_t	 hash;
};

/* Open addressing, linear probing, backward-shift deletion. */
struct account_set {
	struct account	*slots;		/* owned; cap slots, a power of two */
	size_t		 cap;
	size_t		 count;
};

enum route {
	ROUTE_NOT_FOUND,
	ROUTE_HEALTH,
	ROUTE_CREATE,
	ROUTE_REMOVE,
	ROUTE_ACCOUNTS,
};

/* A connection: the server connection and the request being read. */
struct lconn {
	struct hconn		 hc;		/* first: hconn allocates lconns */
	enum route		 route;
	struct buf		 body;		/* the request's body, whole */
	struct buf		 rid;		/* "X-Request-Id: ..\r\n" to echo (a
						   C string), or empty */
	char			 what[160];	/* "METHOD path", for --verbose */
	int			 delaying;	/* answers go to held (--delay-ms) */
	int			 held_status;
	struct buf		 held;		/* the delayed answer's body */
	struct ev_timer		 delay;
};

struct listener_options {
	const char	*host;
	const char	*name;
	int		 port;
	int		 fail_status;	/* 0: off */
	int		 health_status;
	long		 delay_ms;
	long		 accounts_max;	/* 0: unlimited */
	int		 verbose;
};

struct listener {
	struct listener_options	 opts;
	struct ev_loop		*loop;
	int			 listen_fd;
	struct hserver		 srv;
	struct account_set	 accounts;
	json_tokener		*tok;
	struct buf		 scratch;	/* answers are built here, then copied */
	struct buf		 name_json;	/* the name as a JSON string */
	struct buf		 health_body;	/* these three built once at start */
	struct buf		 injected_body;
	struct buf		 actid_body;
};

static struct listener listener;

/* Buffers */

static int
buf_reserve(struct buf *b, size_t n)
{
	size_t cap;
	char *data;

	if (b->len + n <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	if ((data = realloc(b->data, cap)) == NULL) {
		b->oom = 1;
		return -1;
	}
	b->data = data;
	b->cap = cap;
	return 0;
}

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static void
buf_add_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void
buf_add_uint(struct buf *b, uint64_t v)
{
	char digits[UTIL_DECIMAL_MAX];

	buf_add(b, digits, util_decimal(v, digits));
}

/* Append s[0..n) as a JSON string, quotes included. */
static void
buf_add_json(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *p;

	if (buf_reserve(b, n * 6 + 2) == -1)
		return;
	p = b->data + b->len;
	*p++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			*p++ = '\\';
			*p++ = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			memcpy(p, "\\u00", 4);
			p[4] = hex[ch >> 4];
			p[5] = hex[ch & 0xf];
			p += 6;
		} else
			*p++ = (char)ch;
	}
	*p++ = '"';
	b->len = (size_t)(p - b->data);
}

static void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* The account set */

static uint64_t
account_hash(const char *id, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)id[i]) * 0x100000001b3ULL;
	return h;
}

/* The slot holding id, or the free slot where it belongs.  Needs cap > 0. */
static struct account *
account_set_slot(const struct account_set *set, const char *id, size_t len,
    uint64_t hash)
{
	size_t mask = set->cap - 1;

	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		struct account *a = &set->slots[i];

		if (a->id == NULL || (a->hash == hash && a->len == len &&
		    memcmp(a->id, id, len) == 0))
			return a;
	}
}

static int
account_set_has(const struct account_set *set, const char *id, size_t len)
{
	return set->cap > 0 &&
	    account_set_slot(set, id, len, account_hash(id, len))->id != NULL;
}

static int
account_set_grow(struct account_set *set)
{
	struct account *old = set->slots, *slots;
	size_t old_cap = set->cap, cap = old_cap ? old_cap * 2 : 64;

	if ((slots = calloc(cap, sizeof(*slots))) == NULL)
		return -1;
	set->slots = slots;
	set->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].id != NULL)
			*account_set_slot(set, old[i].id, old[i].len, old[i].hash) = old[i];
	free(old);
	return 0;
}

/* Add a copy of id: 1 when added, 0 when already there, -1 out of memory. */
static int
account_set_add(struct account_set *set, const char *id, size_t len)
{
	uint64_t hash = account_hash(id, len);
	struct account *a;

	if (set->cap > 0 && account_set_slot(set, id, len, hash)->id != NULL)
		return 0;
	if ((set->count + 1) * 4 > set->cap * 3 && account_set_grow(set) == -1)
		return -1;
	a = account_set_slot(set, id, len, hash);
	if ((a->id = malloc(len + 1)) == NULL)
		return -1;
	memcpy(a->id, id, len);
	a->id[len] = '\0';
	a->len = len;
	a->hash = hash;
	set->count++;
	return 1;
}

/* Remove id: 1 when removed, 0 when it was not there. */
static int
account_set_remove(struct account_set *set, const char *id, size_t len)
{
	struct account *a;
	size_t mask = set->cap - 1, i, j;

	if (set->cap == 0)
		return 0;
	if ((a = account_set_slot(set, id, len, account_hash(id, len)))->id == NULL)
		return 0;
	free(a->id);
	i = (size_t)(a - set->slots);
	/* Shift back each following entry that may live in the hole, so
	 * lookups never need tombstones. */
	for (j = (i + 1) & mask; set->slots[j].id != NULL; j = (j + 1) & mask) {
		size_t home = set->slots[j].hash & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			set->slots[i] = set->slots[j];
			i = j;
		}
	}
	set->slots[i].id = NULL;
	set->count--;
	return 1;
}

static void
account_set_free(struct account_set *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slots[i].id);
	free(set->slots);
	memset(set, 0, sizeof(*set));
}

/* Answers */

/* Queue one answer; while the request is delayed (--delay-ms), keep its
 * body until the timer says it may go. */
static void
conn_respond(struct lconn *c, int status, const char *body, size_t len)
{
	if (c->delaying) {
		c->held_status = status;
		c->held.len = 0;
		buf_add(&c->held, body, len);
		return;
	}
	hconn_respond(&c->hc, status, c->rid.len == 0 || c->rid.oom ? "" :
	    c->rid.data, body, len);
}

/* Answer with the body built in the scratch buffer (500 if that failed). */
static void
conn_respond_scratch(struct lconn *c, int status)
{
	struct buf *b = &listener.scratch;

	if (b->oom) {
		b->oom = 0;
		conn_respond(c, 500, BODY_NO_MEMORY, sizeof(BODY_NO_MEMORY) - 1);
	} else
		conn_respond(c, status, b->data, b->len);
}

/* Listener calls */

static int
path_is(const struct http_request *req, const char *path, size_t len)
{
	return req->path_len == len && memcmp(req->path, path, len) == 0;
}

static enum route
listener_route(const struct http_request *req)
{
	size_t hl = sizeof(PATH_HEALTH) - 1;

	if (req->path_len >= hl && memcmp(req->path, PATH_HEALTH, hl) == 0 &&
	    (req->path_len == hl || req->path[hl] == '/'))
		return ROUTE_HEALTH;
	if (req->method == HTTP_POST &&
	    path_is(req, PATH_CREATE, sizeof(PATH_CREATE) - 1))
		return ROUTE_CREATE;
	if (req->method == HTTP_POST &&
	    path_is(req, PATH_REMOVE, sizeof(PATH_REMOVE) - 1))
		return ROUTE_REMOVE;
	if ((req->method == HTTP_GET || req->method == HTTP_HEAD) &&
	    path_is(req, PATH_ACCOUNTS, sizeof(PATH_ACCOUNTS) - 1))
		return ROUTE_ACCOUNTS;
	return ROUTE_NOT_FOUND;
}

/* Parse body[0..len) as one JSON value (trailing whitespace allowed).  The
 * caller owns the result; NULL if it is not JSON. */
static struct json_object *
listener_parse_json(const char *body, size_t len)
{
	struct json_object *root;
	size_t end;

	json_tokener_reset(listener.tok);
	root = json_tokener_parse_ex(listener.tok, body, (int)len);
	if (root == NULL)
		return NULL;
	end = json_tokener_get_parse_end(listener.tok);
	while (end < len && (body[end] == ' ' || body[end] == '\t' ||
	    body[end] == '\r' || body[end] == '\n'))
		end++;
	if (end < len) {
		json_object_put(root);
		return NULL;
	}
	return root;
}

/* Find the non-blank actid (string or integer) of a call body.  *id points
 * into root's memory.  0, or -1 when there is none. */
static int
listener_body_actid(struct json_object *root, const char **id, size_t *len)
{
	struct json_object *v;

	if (root == NULL || !json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "actid", &v))
		return -1;
	if (json_object_is_type(v, json_type_string)) {
		*id = json_object_get_string(v);
		*len = (size_t)json_object_get_string_len(v);
	} else if (json_object_is_type(v, json_type_int))
		*id = json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN, len);
	else
		return -1;
	for (size_t i = 0; i < *len; i++)
		if (strchr(" \t\r\n", (*id)[i]) == NULL)
			return 0;
	return -1;
}

/* Answer a create or remove call about id. */
static void
listener_respond_account(struct lconn *c, int status, const char *message,
    const char *id, size_t len)
{
	struct listener *l = &listener;
	struct buf *b = &l->scratch;

	b->len = 0;
	buf_add_str(b, status < 300 ? "{\"status\":true,\"message\":\"" :
	    "{\"status\":false,\"message\":\"");
	buf_add_str(b, message);
	buf_add_str(b, "\",\"name\":");
	buf_add(b, l->name_json.data, l->name_json.len);
	buf_add_str(b, ",\"actid\":");
	buf_add_json(b, id, len);
	buf_add_str(b, ",\"accounts\":");
	buf_add_uint(b, l->accounts.count);
	buf_add(b, "}", 1);
	conn_respond_scratch(c, status);
}

static void
listener_create(struct lconn *c, const char *id, size_t len)
{
	struct account_set *set = &listener.accounts;
	long max = listener.opts.accounts_max;

	if (account_set_has(set, id, len))
		listener_respond_account(c, 200, "Listener already running", id, len);
	else if (max > 0 && set->count >= (size_t)max)
		listener_respond_account(c, 503, "Account limit reached", id, len);
	else if (account_set_add(set, id, len) == -1)
		conn_respond(c, 500, BODY_NO_MEMORY, sizeof(BODY_NO_MEMORY) - 1);
	else
		listener_respond_account(c, 200, "Listener created", id, len);
}

static void
listener_remove(struct lconn *c, const char *id, size_t len)
{
	if (account_set_remove(&listener.accounts, id, len))
		listener_respond_account(c, 200, "Listener removed", id, len);
	else
		listener_respond_account(c, 404, "Listener not found", id, len);
}

/* Answer a create or remove call (with --fail-status, the injected error). */
static void
listener_answer_call(struct lconn *c, const char *body, size_t len)
{
	struct listener *l = &listener;
	struct json_object *root;
	const char *id;
	size_t id_len;

	if (l->opts.fail_status != 0) {
		conn_respond(c, l->opts.fail_status, l->injected_body.data,
		    l->injected_body.len);
		return;
	}
	root = listener_parse_json(body, len);
	if (listener_body_actid(root, &id, &id_len) == -1)
		conn_respond(c, 400, l->actid_body.data, l->actid_body.len);
	else if (c->route == ROUTE_CREATE)
		listener_create(c, id, id_len);
	else
		listener_remove(c, id, id_len);
	json_object_put(root);
}

static void
listener_answer_accounts(struct lconn *c)
{
	struct listener *l = &listener;
	struct buf *b = &l->scratch;
	const char *sep = "";

	b->len = 0;
	buf_add_str(b, "{\"name\":");
	buf_add(b, l->name_json.data, l->name_json.len);
	buf_add_str(b, ",\"accounts\":[");
	for (size_t i = 0; i < l->accounts.cap; i++) {
		const struct account *a = &l->accounts.slots[i];

		if (a->id == NULL)
			continue;
		buf_add_str(b, sep);
		buf_add_json(b, a->id, a->len);
		sep = ",";
	}
	buf_add_str(b, "]}");
	conn_respond_scratch(c, 200);
}

/* Answer the request whose body is body[0..len). */
static void
conn_answer(struct lconn *c, const char *body, size_t len)
{
	struct listener *l = &listener;

	switch (c->route) {
	case ROUTE_HEALTH:
		conn_respond(c, l->opts.health_status, l->health_body.data,
		    l->health_body.len);
		break;
	case ROUTE_CREATE:
	case ROUTE_REMOVE:
		listener_answer_call(c, body, len);
		break;
	case ROUTE_ACCOUNTS:
		listener_answer_accounts(c);
		break;
	default:
		conn_respond(c, 404, BODY_NOT_FOUND, sizeof(BODY_NOT_FOUND) - 1);
		break;
	}
}

/* The server connection layer's hooks */

static struct lconn *
listener_conn(struct hconn *hc)
{
	return (struct lconn *)hc;
}

/* A request head was parsed: remember what its answer needs. */
static void
listener_on_head(struct hconn *hc, const struct http_request *hr)
{
	struct lconn *c = listener_conn(hc);

	c->route = listener_route(hr);
	c->body.len = 0;
	c->rid.len = 0;
	c->rid.oom = 0;
	if (hr->request_id != NULL) {
		buf_add_str(&c->rid, "X-Request-Id: ");
		buf_add(&c->rid, hr->request_id->value, hr->request_id->value_len);
		buf_add(&c->rid, "\r\n", 3);	/* with its NUL */
	}
	snprintf(c->what, sizeof(c->what), "%.*s %.*s", (int)hr->method_len,
	    hr->method_str, (int)hr->path_len, hr->path);
	if (hconn_body_too_large(hr, LISTENER_MAX_BODY))
		hconn_error(hc, 413);
}

static int
listener_on_body(struct hconn *hc, const char *data, size_t len)
{
	struct lconn *c = listener_conn(hc);

	buf_add(&c->body, data, len);
	if (c->body.oom) {
		c->body.oom = 0;
		hconn_error(hc, 500);
		return -1;
	}
	return 0;
}

/* The delayed answer may go now; serve what arrived meanwhile. */
static void
listener_on_delay_end(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct lconn *c = arg;

	(void)loop;
	(void)t;
	c->delaying = 0;
	conn_respond(c, c->held_status, c->held.data, c->held.len);
	hconn_resume(&c->hc);
}

/* The request was read whole: answer it (create and remove: after
 * --delay-ms, their effect made at once). */
static void
listener_on_request(struct hconn *hc)
{
	struct lconn *c = listener_conn(hc);
	struct listener *l = &listener;
	int delay = l->opts.delay_ms > 0 &&
	    (c->route == ROUTE_CREATE || c->route == ROUTE_REMOVE);

	c->delaying = delay;
	conn_answer(c, c->body.data != NULL ? c->body.data : "", c->body.len);
	if (c->body.cap > LISTENER_KEEP)
		buf_free(&c->body);
	if (delay) {
		ev_timer_start(l->loop, &c->delay, (uint64_t)l->opts.delay_ms,
		    listener_on_delay_end, c);
		return;
	}
	hconn_resume(hc);
}

static void
listener_on_answered(struct hconn *hc, int status, size_t bytes)
{
	struct lconn *c = listener_conn(hc);

	(void)bytes;
	if (!listener.opts.verbose)
		return;
	if (c->what[0] == '\0')
		log_info("bad request: %d", status);
	else
		log_info("%s: %d", c->what, status);
}

static void
listener_on_closing(struct hconn *hc)
{
	struct lconn *c = listener_conn(hc);

	ev_timer_stop(listener.loop, &c->delay);
	buf_free(&c->body);
	buf_free(&c->rid);
	buf_free(&c->held);
}

static const struct hserver_ops listener_conn_ops = {
	.head = listener_on_head,
	.body = listener_on_body,
	.request = listener_on_request,
	.answered = listener_on_answered,
	.closing = listener_on_closing,
};

/* No timeouts and no connection limit: the clients are olb and tests. */
static const struct hserver_limits listener_limits = {
	.conn_size = sizeof(struct lconn),
	.max_header = LISTENER_MAX_HEAD,
	.max_body = LISTENER_MAX_BODY,
	.finish_on_eof = 1,
};

/* Bind and listen on host:port; *port becomes the bound port (for port 0).
 * The descriptor, or -1 after logging why. */
static int
listener_open_socket(const char *host, int *port)
{
	struct addrinfo hints, *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char service[16];
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", *port);
	if ((rc = getaddrinfo(host, service, &hints, &res)) != 0) {
		log_error("getaddrinfo(%s): %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			log_error("socket: %s", strerror(errno));
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, SOMAXCONN) == -1) {
			log_error("bind(%s:%s): %s", host, service, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd != -1 && getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		*port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* Start-up and shutdown */

static void
listener_usage(FILE *f)
{
	fprintf(f, "usage: olb-listener --port PORT --name NAME [--host HOST] "
	    "[--fail-status CODE] [--delay-ms MS] [--health-status CODE] "
	    "[--accounts-max N] [--verbose]\n");
}

static void __attribute__((noreturn))
listener_usage_error(const char *option, const char *value)
{
	if (option != NULL)
		fprintf(stderr, "olb-listener: --%s: invalid value \"%s\"\n", option, value);
	listener_usage(stderr);
	exit(2);
}

static long
listener_parse_number(const char *option, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		listener_usage_error(option, s);
	return v;
}

static void
listener_parse_options(int argc, char **argv, struct listener_options *o)
{
	static const struct option longopts[] = {
		{ "port",		required_argument,	NULL, 'p' },
		{ "name",		required_argument,	NULL, 'n' },
		{ "host",		required_argument,	NULL, 'H' },
		{ "fail-status",	required_argument,	NULL, 'f' },
		{ "delay-ms",		required_argument,	NULL, 'd' },
		{ "health-status",	required_argument,	NULL, 's' },
		{ "accounts-max",	required_argument,	NULL, 'm' },
		{ "verbose",		no_argument,		NULL, 'v' },
		{ "help",		no_argument,		NULL, 'h' },
		{ NULL,			0,			NULL, 0 },
	};
	int ch, idx;

	o->host = "127.0.0.1";
	o->port = -1;
	o->health_status = 200;
	while ((ch = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		const char *opt = ch == '?' || ch == 'h' ? NULL : longopts[idx].name;

		switch (ch) {
		case 'p':
			o->port = (int)listener_parse_number(opt, optarg, 0, 65535);
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'H':
			o->host = optarg;
			break;
		case 'f':
			o->fail_status = (int)listener_parse_number(opt, optarg, 200, 599);
			break;
		case 'd':
			o->delay_ms = listener_parse_number(opt, optarg, 0, 3600000);
			break;
		case 's':
			o->health_status = (int)listener_parse_number(opt, optarg, 200, 599);
			break;
		case 'm':
			o->accounts_max = listener_parse_number(opt, optarg, 0, LONG_MAX);
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			listener_usage(stdout);
			exit(0);
		default:
			listener_usage_error(NULL, NULL);
		}
	}
	if (optind != argc || o->port == -1 || o->name == NULL || *o->name == '\0' ||
	    *o->host == '\0')
		listener_usage_error(NULL, NULL);
}

/* The fixed answers, built once with the instance's name. */
static void
listener_build_bodies(struct listener *l)
{
	const char *name = l->opts.name;
	int healthy = l->opts.health_status < 300;

	buf_add_json(&l->name_json, name, strlen(name));
	buf_add_str(&l->health_body, healthy ?
	    "{\"status\":true,\"message\":\"Health is OK\",\"name\":" :
	    "{\"status\":false,\"message\":\"Health is not OK\",\"name\":");
	buf_add_str(&l->injected_body, "{\"status\":false,\"message\":\"injected\",\"name\":");
	buf_add_str(&l->actid_body,
	    "{\"status\":false,\"message\":\"actid is required\",\"name\":");
	buf_add(&l->health_body, l->name_json.data, l->name_json.len);
	buf_add(&l->injected_body, l->name_json.data, l->name_json.len);
	buf_add(&l->actid_body, l->name_json.data, l->name_json.len);
	buf_add(&l->health_body, "}", 1);
	buf_add(&l->injected_body, "}", 1);
	buf_add(&l->actid_body, "}", 1);
	if (l->name_json.oom || l->health_body.oom || l->injected_body.oom ||
	    l->actid_body.oom)
		fatal(1, "out of memory");
}

static int
listener_max_fds(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > LISTENER_MAX_FDS)
		return LISTENER_MAX_FDS;
	return (int)rl.rlim_cur;
}

static void
listener_on_stop(struct ev_loop *loop, int signo, void *arg)
{
	(void)signo;
	(void)arg;
	ev_stop(loop);
}

static void
listener_init(struct listener *l)
{
	char role[32];

	snprintf(role, sizeof(role), "listener %s", l->opts.name);
	log_set_role(role);
	signal(SIGPIPE, SIG_IGN);
	listener_build_bodies(l);
	if ((l->tok = json_tokener_new()) == NULL)
		fatal(1, "json_tokener_new: out of memory");
	if ((l->loop = ev_loop_new(listener_max_fds())) == NULL)
		fatal(1, "cannot create the event loop");
	if ((l->listen_fd = listener_open_socket(l->opts.host, &l->opts.port)) == -1)
		exit(1);
	if (hserver_init(&l->srv, l->loop, l->listen_fd, &listener_conn_ops,
	    &listener_limits, l) == -1)
		fatal(1, "cannot set up the server");
	hserver_accept_resume(&l->srv);
	if (!l->srv.accepting ||
	    ev_signal_add(l->loop, SIGTERM, listener_on_stop, NULL) == -1 ||
	    ev_signal_add(l->loop, SIGINT, listener_on_stop, NULL) == -1)
		fatal(1, "cannot set up the event loop");
}

static void
listener_free(struct listener *l)
{
	hserver_close_all(&l->srv);
	hserver_drain(&l->srv);		/* closes the listening socket */
	ev_loop_free(l->loop);
	json_tokener_free(l->tok);
	account_set_free(&l->accounts);
	buf_free(&l->scratch);
	buf_free(&l->name_json);
	buf_free(&l->health_body);
	buf_free(&l->injected_body);
	buf_free(&l->actid_body);
}

/* olb-listener --port P --name NAME [options]: serve until SIGTERM or SIGINT,
 * then exit 0.  Usage errors exit 2, start-up failures 1. */
int
main(int argc, char **argv)
{
	struct listener *l = &listener;
	int rc, v6;

	listener_parse_options(argc, argv, &l->opts);
	listener_init(l);
	v6 = strchr(l->opts.host, ':') != NULL;
	fprintf(stderr, "olb-listener %s listening on %s%s%s:%d\n", l->opts.name,
	    v6 ? "[" : "", l->opts.host, v6 ? "]" : "", l->opts.port);
	rc = ev_run(l->loop);
	listener_free(l);
	return rc == 0 ? 0 : 1;
}
