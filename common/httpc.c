/*
 * httpc: libcurl's multi-socket interface plugged into an ev loop (see
 * httpc.h).
 *
 * curl tells us which descriptors to watch (httpc_on_socket) and when it next
 * wants to run (httpc_on_timer_change); the loop calls back into
 * httpc_on_io and httpc_on_timer, which both end in httpc_drive: one
 * curl_multi_socket_action, then every finished transfer is collected with
 * curl_multi_info_read and its callback run.  Owners' callbacks therefore run
 * only between curl calls, never inside one, which is what lets them start and
 * cancel transfers (curl forbids adding or removing easy handles from inside
 * its own callbacks).
 *
 * Every descriptor curl watches has a struct httpc_sock, attached with
 * curl_multi_assign and kept on h->socks: the loop keeps one callback per
 * descriptor and clears mask bits on request, so the record remembers which
 * bits we set.  A descriptor the loop refuses (beyond its setsize) marks the
 * transfer that asked; httpc_drive ends it with an error instead of letting it
 * hang until its timeout (returning -1 to curl would kill the whole multi
 * handle).
 *
 * httpc_free inside a callback is deferred: h->busy counts the drives in
 * progress and the outermost one destroys h when it returns.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "common/ev.h"
#include "common/httpc.h"

#ifndef OLB_VERSION
#define OLB_VERSION	"0"
#endif

#define HTTPC_BODY_MIN_ALLOC	1024
#define HTTPC_MSG_MAX		96	/* one error message of ours */
#define HTTPC_SPARE		32	/* easy handles kept for reuse */

/* One descriptor curl asked us to watch. */
struct httpc_sock {
	LIST_ENTRY(httpc_sock)	 entry;
	int			 fd;
	int			 mask;		/* EV_READ|EV_WRITE we set in the loop */
};

struct httpc_req {
	TAILQ_ENTRY(httpc_req)	 entry;
	struct httpc		*h;
	CURL			*easy;		/* owned */
	struct curl_slist	*headers;	/* owned; curl reads it until easy is freed */
	httpc_done_cb		*cb;
	void			*arg;

	char			*body;		/* the answer so far, owned, body_cap + 1 bytes */
	size_t			 body_len;
	size_t			 body_cap;
	size_t			 max_body;

	int			 over_cap;	/* the answer outgrew max_body */
	int			 no_memory;	/* the answer could not be stored */
	int			 io_failed;	/* the loop refused one of its descriptors */
	int			 io_fd;
	int			 in_callback;	/* cb is running: httpc_cancel is a no-op */
	char			 errbuf[CURL_ERROR_SIZE];	/* curl's text */
	char			 msg[HTTPC_MSG_MAX];		/* or ours */
};

TAILQ_HEAD(httpc_req_list, httpc_req);

struct httpc {
	struct ev_loop		*loop;
	CURLM			*multi;		/* owned */
	struct ev_timer		 timer;		/* curl's timeout */
	struct httpc_req_list	 reqs;		/* in flight */
	size_t			 nactive;
	size_t			 nio_failed;	/* of reqs, marked io_failed */
	LIST_HEAD(, httpc_sock)	 socks;		/* descriptors in the loop, owned */
	int			 busy;		/* drives in progress */
	int			 freeing;	/* httpc_free was called */
	/* Easy handles of finished transfers, reset, for the next ones: a
	 * new one costs a few kilobytes of allocations per probe. */
	CURL			*spare[HTTPC_SPARE];
	size_t			 nspare;
};

static int	httpc_curl_ready;

/* An easy handle for a new transfer: a spare one, or a new one. */
static CURL *
httpc_easy(struct httpc *h)
{
	if (h->nspare > 0)
		return h->spare[--h->nspare];
	return curl_easy_init();
}	/* curl_global_init done (never undone) */

static void	httpc_drive(struct httpc *, curl_socket_t, int);

/* curl_global_init, once per process.  0 or -1. */
static int
httpc_global_init(void)
{
	if (httpc_curl_ready)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	httpc_curl_ready = 1;
	return 0;
}

/* Loop callback: curl's descriptor fd is ready. */
static void
httpc_on_io(struct ev_loop *loop, int fd, int mask, void *arg)
{
	int flags = 0;

	(void)loop;
	if (mask & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (mask & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	httpc_drive(arg, fd, flags);
}

/* Loop callback: curl's timeout expired. */
static void
httpc_on_timer(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	httpc_drive(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* curl callback: run us again in ms milliseconds (-1: no timeout).  Only arms
 * the loop's timer: socket_action must not be called from here. */
static int
httpc_on_timer_change(CURLM *multi, long ms, void *arg)
{
	struct httpc *h = arg;

	(void)multi;
	if (ms < 0)
		ev_timer_stop(h->loop, &h->timer);
	else
		ev_timer_start(h->loop, &h->timer, (uint64_t)ms, httpc_on_timer, h);
	return 0;
}

/* A new record for fd, attached to curl's entry for it; NULL if out of
 * memory. */
static struct httpc_sock *
httpc_sock_new(struct httpc *h, curl_socket_t fd)
{
	struct httpc_sock *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->fd = fd;
	if (curl_multi_assign(h->multi, fd, s) != CURLM_OK) {
		free(s);
		return NULL;
	}
	LIST_INSERT_HEAD(&h->socks, s, entry);
	return s;
}

/* Take s's descriptor out of the loop and free s. */
static void
httpc_sock_forget(struct httpc *h, struct httpc_sock *s)
{
	ev_io_del(h->loop, s->fd, EV_READ | EV_WRITE);
	LIST_REMOVE(s, entry);
	free(s);
}

/* Make the loop watch s's descriptor for exactly want: clear the bits curl no
 * longer wants (IN -> OUT must drop IN), then add the new ones.  0 or -1. */
static int
httpc_sock_watch(struct httpc *h, struct httpc_sock *s, int want)
{
	int drop = s->mask & ~want;

	if (drop) {
		ev_io_del(h->loop, s->fd, drop);
		s->mask &= ~drop;
	}
	if ((want & ~s->mask) == 0)
		return 0;
	if (ev_io_add(h->loop, s->fd, want, httpc_on_io, h) == -1)
		return -1;
	s->mask = want;
	return 0;
}

/* The request that owns easy, or NULL (curl's internal handles). */
static struct httpc_req *
httpc_req_of(CURL *easy)
{
	char *p = NULL;

	if (easy == NULL ||
	    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK)
		return NULL;
	return (struct httpc_req *)(void *)p;
}

/* The loop could not watch fd for easy's transfer: mark it, for httpc_drive to
 * end once curl has returned. */
static void
httpc_mark_io_failed(struct httpc *h, CURL *easy, curl_socket_t fd)
{
	struct httpc_req *r = httpc_req_of(easy);

	if (r == NULL || r->io_failed)
		return;
	r->io_failed = 1;
	r->io_fd = fd;
	h->nio_failed++;
}

/* curl callback: watch fd for what (CURL_POLL_*).  Always 0: -1 would make
 * curl abandon every transfer of the multi handle for good. */
static int
httpc_on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct httpc *h = arg;
	struct httpc_sock *s = sockp;
	int want = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			httpc_sock_forget(h, s);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		want |= EV_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		want |= EV_WRITE;
	if (s == NULL && (s = httpc_sock_new(h, fd)) == NULL) {
		httpc_mark_io_failed(h, easy, fd);
		return 0;
	}
	if (httpc_sock_watch(h, s, want) == -1)
		httpc_mark_io_failed(h, easy, fd);
	return 0;
}

/* Make room for need bytes of answer plus a NUL.  0 or -1. */
static int
httpc_body_reserve(struct httpc_req *r, size_t need)
{
	size_t cap = r->body_cap ? r->body_cap : HTTPC_BODY_MIN_ALLOC;
	char *p;

	if (need <= r->body_cap)
		return 0;
	while (cap < need && cap <= SIZE_MAX / 4)
		cap *= 2;
	if (cap < need)
		cap = need;
	if (cap > r->max_body)
		cap = r->max_body;	/* callers never need more */
	if ((p = realloc(r->body, cap + 1)) == NULL)
		return -1;
	r->body = p;
	r->body_cap = cap;
	return 0;
}

/* curl callback: n bytes of answer body.  Returns n, or 0 to abort the
 * transfer when the body outgrows max_body or memory runs out. */
static size_t
httpc_on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct httpc_req *r = arg;
	size_t n = size * nmemb;

	if (n > r->max_body - r->body_len) {
		r->over_cap = 1;
		return 0;
	}
	if (httpc_body_reserve(r, r->body_len + n) == -1) {
		r->no_memory = 1;
		return 0;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	return n;
}

/* The curl text of a failure: its error buffer, else the code's text. */
static const char *
httpc_curl_error(struct httpc_req *r, CURLcode code)
{
	return r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(code);
}

/* The short message of a failed transfer; sets res->timed_out. */
static const char *
httpc_error(struct httpc_req *r, CURLcode code, struct httpc_result *res)
{
	long oserr = 0;

	if (r->over_cap || code == CURLE_FILESIZE_EXCEEDED) {
		snprintf(r->msg, sizeof(r->msg), "answer over %zu bytes", r->max_body);
		return r->msg;
	}
	if (r->no_memory)
		return "out of memory";
	if (r->io_failed) {
		snprintf(r->msg, sizeof(r->msg),
		    "the event loop cannot watch descriptor %d", r->io_fd);
		return r->msg;
	}
	if (code == CURLE_OPERATION_TIMEDOUT) {
		res->timed_out = 1;
		return "timeout";
	}
	if (code == CURLE_COULDNT_CONNECT &&
	    curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr) == CURLE_OK &&
	    oserr == ECONNREFUSED)
		return "connection refused";
	return httpc_curl_error(r, code);
}

/* The answer's Date header in seconds since the epoch, or 0. */
static int64_t
httpc_date(struct httpc_req *r)
{
	struct curl_header *h;
	time_t t;

	if (curl_easy_header(r->easy, "Date", 0, CURLH_HEADER, -1, &h) !=
	    CURLHE_OK || (t = curl_getdate(h->value, NULL)) <= 0)
		return 0;
	return (int64_t)t;
}

/* The answer's Retry-After in seconds (a delay, or a date from now), or
 * 0 if none. */
static int64_t
httpc_retry_after(struct httpc_req *r)
{
	curl_off_t s = 0;

	if (curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &s) != CURLE_OK ||
	    s < 0)
		return 0;
	return (int64_t)s;
}

/* Fill res for r, finished with code (an answer if it is CURLE_OK: curl got
 * it all, even if the loop refused a descriptor on the way). */
static void
httpc_result_fill(struct httpc_req *r, CURLcode code, struct httpc_result *res)
{
	memset(res, 0, sizeof(*res));
	res->body = "";
	if (code != CURLE_OK || r->over_cap || r->no_memory) {
		res->error = httpc_error(r, code, res);
		return;
	}
	if (curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res->status) !=
	    CURLE_OK)
		res->status = 0;
	if (r->body != NULL) {
		r->body[r->body_len] = '\0';
		res->body = r->body;
		res->body_len = r->body_len;
	}
	res->date = httpc_date(r);
	res->retry_after = httpc_retry_after(r);
}

/* Free r and everything it owns; r must be out of the multi handle.  The
 * easy handle of a finished transfer (reuse) is kept for the next one; a
 * cancelled one may still have curl's resolver thread, and goes. */
static void
httpc_req_free(struct httpc_req *r, int reuse)
{
	struct httpc *h = r->h;

	if (r->easy != NULL && reuse && !h->freeing &&
	    h->nspare < HTTPC_SPARE) {
		curl_easy_reset(r->easy);
		h->spare[h->nspare++] = r->easy;
	} else if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r);
}

/* Take r out of curl and off h's list.  Never from inside a curl callback. */
static void
httpc_req_unlink(struct httpc_req *r)
{
	struct httpc *h = r->h;

	curl_multi_remove_handle(h->multi, r->easy);
	TAILQ_REMOVE(&h->reqs, r, entry);
	h->nactive--;
	if (r->io_failed)
		h->nio_failed--;
}

/* r is over (code is curl's verdict): run its callback, then free it. */
static void
httpc_req_finish(struct httpc_req *r, CURLcode code)
{
	struct httpc_result res;

	httpc_result_fill(r, code, &res);
	httpc_req_unlink(r);
	r->in_callback = 1;
	r->cb(&res, r->arg);
	httpc_req_free(r, 1);
}

/* A transfer whose descriptor the loop refused, or NULL. */
static struct httpc_req *
httpc_find_io_failed(struct httpc *h)
{
	struct httpc_req *r;

	if (h->nio_failed == 0)
		return NULL;
	TAILQ_FOREACH(r, &h->reqs, entry)
		if (r->io_failed)
			return r;
	return NULL;
}

/* Run the callbacks of every finished transfer.  A callback may start and
 * cancel transfers or free h (then we stop at once). */
static void
httpc_collect(struct httpc *h)
{
	struct httpc_req *r;
	CURLMsg *m;
	int left;

	while (!h->freeing &&
	    (m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE ||
		    (r = httpc_req_of(m->easy_handle)) == NULL)
			continue;
		httpc_req_finish(r, m->data.result);
	}
	while (!h->freeing && (r = httpc_find_io_failed(h)) != NULL)
		httpc_req_finish(r, CURLE_ABORTED_BY_CALLBACK);
}

/* Free h, whose transfers are all gone.  The callbacks are unhooked first, so
 * that curl_multi_cleanup (closing cached connections) cannot reach us. */
static void
httpc_destroy(struct httpc *h)
{
	struct httpc_sock *s;

	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, NULL);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, NULL);
	ev_timer_stop(h->loop, &h->timer);
	while ((s = LIST_FIRST(&h->socks)) != NULL)
		httpc_sock_forget(h, s);
	while (h->nspare > 0)
		curl_easy_cleanup(h->spare[--h->nspare]);
	curl_multi_cleanup(h->multi);
	free(h);
}

/* Let curl act on fd (CURL_SOCKET_TIMEOUT: on its timeout), then deliver what
 * finished.  h may be gone when this returns. */
static void
httpc_drive(struct httpc *h, curl_socket_t fd, int flags)
{
	int running;

	h->busy++;
	(void)curl_multi_socket_action(h->multi, fd, flags, &running);
	httpc_collect(h);
	if (--h->busy == 0 && h->freeing)
		httpc_destroy(h);
}

struct httpc *
httpc_new(struct ev_loop *loop)
{
	struct httpc *h;

	if (httpc_global_init() == -1 || (h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->loop = loop;
	TAILQ_INIT(&h->reqs);
	LIST_INIT(&h->socks);
	if ((h->multi = curl_multi_init()) == NULL)
		goto fail;
	if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION,
	    httpc_on_socket) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION,
	    httpc_on_timer_change) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK)
		goto fail;
	return h;
fail:
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	free(h);
	return NULL;
}

void
httpc_free(struct httpc *h)
{
	struct httpc_req *r;

	if (h == NULL)
		return;
	h->freeing = 1;
	while ((r = TAILQ_FIRST(&h->reqs)) != NULL)
		httpc_cancel(r);
	if (h->busy == 0)
		httpc_destroy(h);
}

/* Whether o can be sent: a URL, a known method, no body where the method
 * takes none, headers without line breaks.  0 or -1. */
static int
httpc_opts_check(const struct httpc_opts *o)
{
	static const char *const methods[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE",
	};
	const char *m = o->method != NULL ? o->method : "GET";
	size_t i;

	if (o->url == NULL || o->url[0] == '\0' ||
	    (o->body == NULL && o->body_len > 0) ||
	    o->timeout_ms < 0 || o->connect_timeout_ms < 0)
		return -1;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(m, methods[i]) == 0)
			break;
	if (i == sizeof(methods) / sizeof(methods[0]))
		return -1;
	if ((strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) && o->body_len > 0)
		return -1;
	for (i = 0; o->headers != NULL && o->headers[i] != NULL; i++)
		if (strpbrk(o->headers[i], "\r\n") != NULL)
			return -1;
	return 0;
}

/* The method and the body (copied by curl).  0 or -1. */
static int
httpc_setup_method(CURL *easy, const struct httpc_opts *o)
{
	const char *m = o->method != NULL ? o->method : "GET";

	if (strcmp(m, "GET") == 0)
		return curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L) == CURLE_OK ?
		    0 : -1;
	if (strcmp(m, "HEAD") == 0)
		return curl_easy_setopt(easy, CURLOPT_NOBODY, 1L) == CURLE_OK ?
		    0 : -1;
	if (strcmp(m, "POST") != 0 &&
	    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, m) != CURLE_OK)
		return -1;
	if (strcmp(m, "DELETE") == 0 && o->body == NULL)
		return 0;
	/* The size first: COPYPOSTFIELDS copies that many bytes (binary). */
	if (curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)o->body_len) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS,
	    o->body != NULL ? o->body : "") != CURLE_OK)
		return -1;
	return 0;
}

/* The owner's headers and an empty Expect (no 100-continue round trip).
 * 0 or -1. */
static int
httpc_setup_headers(struct httpc_req *r, const struct httpc_opts *o)
{
	struct curl_slist *l;

	for (size_t i = 0; o->headers != NULL && o->headers[i] != NULL; i++) {
		if ((l = curl_slist_append(r->headers, o->headers[i])) == NULL)
			return -1;
		r->headers = l;
	}
	if ((l = curl_slist_append(r->headers, "Expect:")) == NULL)
		return -1;
	r->headers = l;
	return curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers) ==
	    CURLE_OK ? 0 : -1;
}

/* What every transfer shares: no signals, no redirects, http(s) only, no
 * environment proxy for http, timeouts, the body cap, our callbacks.
 * 0 or -1. */
static int
httpc_setup_common(struct httpc_req *r, const struct httpc_opts *o)
{
	CURL *easy = r->easy;
	long timeout = o->timeout_ms ? o->timeout_ms : HTTPC_TIMEOUT_DEFAULT_MS;
	long connect = o->connect_timeout_ms ? o->connect_timeout_ms : timeout;

	if (curl_easy_setopt(easy, CURLOPT_URL, o->url) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PRIVATE, r) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect) !=
	    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)r->max_body) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, httpc_on_write) !=
	    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, o->fresh ? 1L : 0L) !=
	    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, o->fresh ? 1L : 0L) !=
	    CURLE_OK ||
	    (o->fresh && curl_easy_setopt(easy, CURLOPT_DNS_CACHE_TIMEOUT, 0L) !=
	    CURLE_OK) ||
	    curl_easy_setopt(easy, CURLOPT_USERAGENT, "olb/" OLB_VERSION) !=
	    CURLE_OK)
		return -1;
	/* A cancelled transfer still resolving abandons curl's resolver thread
	 * instead of joining it (which would block the loop). */
	if (curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L) != CURLE_OK)
		return -1;
	/* http goes to private addresses: never through http_proxy. */
	if (strncasecmp(o->url, "https://", 8) != 0 &&
	    curl_easy_setopt(easy, CURLOPT_NOPROXY, "*") != CURLE_OK)
		return -1;
	return 0;
}

struct httpc_req *
httpc_request(struct httpc *h, const struct httpc_opts *o, httpc_done_cb *cb,
    void *arg)
{
	struct httpc_req *r;

	if (h == NULL || h->freeing || o == NULL || cb == NULL ||
	    httpc_opts_check(o) == -1)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	r->max_body = o->max_body ? o->max_body : HTTPC_MAX_BODY_DEFAULT;
	if (r->max_body > SIZE_MAX / 2)
		r->max_body = SIZE_MAX / 2;	/* room for the NUL; fits curl_off_t */
	if ((r->easy = httpc_easy(h)) == NULL ||
	    httpc_setup_common(r, o) == -1 ||
	    httpc_setup_method(r->easy, o) == -1 ||
	    httpc_setup_headers(r, o) == -1)
		goto fail;
	/* Only arms curl's timer: the transfer starts from the loop. */
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
		goto fail;
	TAILQ_INSERT_TAIL(&h->reqs, r, entry);
	h->nactive++;
	return r;
fail:
	httpc_req_free(r, 0);
	return NULL;
}

void
httpc_cancel(struct httpc_req *r)
{
	if (r == NULL || r->in_callback)
		return;
	httpc_req_unlink(r);
	httpc_req_free(r, 0);
}

size_t
httpc_active(const struct httpc *h)
{
	return h->nactive;
}
