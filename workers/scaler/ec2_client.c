/*
 * ec2_client: signed EC2 Query API calls with retries, and the credentials
 * chain (see ec2_client.h).
 *
 * A call is a small state machine: wait for credentials, send, and on an
 * answer that calls for it wait (backoff with full jitter) and send again,
 * until the answer or the deadline.  Credentials are one struct in the
 * client; while temporary ones are being fetched from the metadata service
 * the calls wait on the client's list.
 */
#include <sys/queue.h>

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/httpc.h"
#include "common/log.h"
#include "workers/scaler/sigv4.h"
#include "common/util.h"
#include "workers/scaler/aws_creds.h"
#include "workers/scaler/ec2_client.h"

#define EC2_VERSION		"2016-11-15"
#define EC2_CONTENT_TYPE	"application/x-www-form-urlencoded; charset=utf-8"
#define EC2_TIMEOUT_MS		15000	/* one attempt */
#define EC2_BACKOFF_BASE_MS	200
#define EC2_BACKOFF_CAP_MS	20000
/* The AWS SDKs' standard retry mode: attempts per call, and a retry quota
 * per client that retries spend and successes refill, so an endpoint in
 * trouble gets fewer retries, not more. */
#define EC2_MAX_ATTEMPTS	3
#define EC2_QUOTA		500
#define EC2_RETRY_COST		5
#define EC2_TIMEOUT_COST	10
#define EC2_SKEW_MAX_S		240	/* a Date further off corrects the clock */
#define EC2_SKEW_ERROR_S	60	/* the same after a clock error */
#define EC2_MAX_ANSWER		(8 * 1024 * 1024)
#define EC2_CREDS_FILE_MAX	65536
#define IMDS_TIMEOUT_MS		2000
#define IMDS_TOKEN_TTL_S	"21600"
#define IMDS_RETRY_MS		1000
#define CREDS_REFRESH_MS	300000	/* refresh when less is left ... */
#define CREDS_REFRESH_MIN_MS	2000	/* ... or half the lifetime, at least this */

enum creds_state { CREDS_NONE, CREDS_READY, CREDS_FETCHING };

struct ec2_call {
	LIST_ENTRY(ec2_call)	 entry;		/* on the client's list */
	struct ec2_client	*c;
	char			 action[48];
	char			*body;
	size_t			 body_len;
	uint64_t		 deadline;
	int			 attempt;
	int			 spent;		/* of the retry quota */
	int			 reauth;	/* credentials fetched again once */
	int			 reskewed;	/* sent again after a clock fix */
	int64_t			 signed_skew;	/* the clock correction it used */
	struct httpc_req	*req;
	struct ev_timer		 timer;		/* backoff */
	int			 waiting;	/* for credentials */
	char			 last_error[256];
	ec2_done_cb		*cb;
	void			*arg;
};

struct ec2_client {
	struct ev_loop		*loop;
	struct httpc		*http;
	const struct conf	*conf;
	char			 url[512];
	char			 host[256];	/* Host: as signed */
	char			 region[64];
	int			 quota;		/* retries left to spend */
	int64_t			 skew;		/* s: EC2's clock minus ours */
	/* Credentials */
	enum creds_state	 creds;
	int			 temporary;	/* from the metadata service */
	struct aws_creds	 key;
	uint64_t		 expires;	/* wall ms; 0 = never */
	uint64_t		 refresh_at;	/* wall ms */
	char			 imds_token[256];
	char			 imds_role[128];
	struct httpc_req	*imds_req;
	struct ev_timer		 imds_timer;
	/* Calls in flight */
	LIST_HEAD(, ec2_call)	 calls;
};

static void	call_send(struct ec2_call *call);
static void	call_resend(struct ev_loop *loop, struct ev_timer *t, void *arg);
static void	imds_start(struct ec2_client *c);

/* Forms */

void
ec2_form_add(struct ec2_form *f, const char *value, const char *fmt, ...)
{
	static const char hex[] = "0123456789ABCDEF";
	char name[256];
	size_t need;
	va_list ap;
	int n;

	if (f->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	need = f->len + (size_t)n + 3 * strlen(value) + 3;
	if (n < 0 || (size_t)n >= sizeof(name)) {
		f->failed = 1;
		return;
	}
	if (need > f->cap) {
		size_t cap = f->cap ? f->cap : 1024;
		char *nb;

		while (cap < need)
			cap *= 2;
		if ((nb = realloc(f->buf, cap)) == NULL) {
			f->failed = 1;
			return;
		}
		f->buf = nb;
		f->cap = cap;
	}
	if (f->len > 0)
		f->buf[f->len++] = '&';
	memcpy(f->buf + f->len, name, (size_t)n);	/* names are plain */
	f->len += (size_t)n;
	f->buf[f->len++] = '=';
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			f->buf[f->len++] = (char)*p;
		} else {
			f->buf[f->len++] = '%';
			f->buf[f->len++] = hex[*p >> 4];
			f->buf[f->len++] = hex[*p & 15];
		}
	}
	f->buf[f->len] = '\0';
}

void
ec2_form_free(struct ec2_form *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

/* Credentials: configuration, environment, shared file */

static int
creds_set(struct ec2_client *c, const char *ak, const char *sk,
    const char *token)
{
	if (ak == NULL || sk == NULL || ak[0] == '\0' || sk[0] == '\0' ||
	    strlen(ak) >= sizeof(c->key.access_key) ||
	    strlen(sk) >= sizeof(c->key.secret_key) || (token != NULL &&
	    strlen(token) >= sizeof(c->key.session_token)))
		return -1;
	snprintf(c->key.access_key, sizeof(c->key.access_key), "%s", ak);
	snprintf(c->key.secret_key, sizeof(c->key.secret_key), "%s", sk);
	snprintf(c->key.session_token, sizeof(c->key.session_token), "%s",
	    token != NULL ? token : "");
	c->creds = CREDS_READY;
	c->expires = c->refresh_at = 0;
	return 0;
}

/* The shared credentials file's profile.  0, 1 (no file), or -1 (a file
 * that cannot be used: logged). */
static int
creds_from_file(struct ec2_client *c)
{
	const char *path = getenv("AWS_SHARED_CREDENTIALS_FILE"), *home;
	const char *profile = c->conf->provider.ec2.profile;
	char buf[512], why[256], *text;
	struct aws_creds k;
	ssize_t n, got = 0;
	int fd, rv;

	if (path == NULL || path[0] == '\0') {
		if ((home = getenv("HOME")) == NULL)
			return 1;
		snprintf(buf, sizeof(buf), "%s/.aws/credentials", home);
		path = buf;
	}
	if (profile[0] == '\0' && (profile = getenv("AWS_PROFILE")) == NULL)
		profile = "default";
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 1 : -1;
	if ((text = malloc(EC2_CREDS_FILE_MAX)) == NULL) {
		close(fd);
		return -1;
	}
	while (got < EC2_CREDS_FILE_MAX &&
	    (n = read(fd, text + got, (size_t)(EC2_CREDS_FILE_MAX - got))) > 0)
		got += n;
	close(fd);
	rv = aws_creds_parse(text, (size_t)got, profile, &k, why, sizeof(why));
	explicit_bzero(text, EC2_CREDS_FILE_MAX);
	free(text);
	if (rv == -1) {
		log_error("provider ec2: %s: %s", path, why);
		return -1;
	}
	rv = creds_set(c, k.access_key, k.secret_key, k.session_token);
	explicit_bzero(&k, sizeof(k));
	if (rv == 0)
		log_info("provider ec2: credentials from %s, profile %s", path,
		    profile);
	return rv;
}

/* The first static source that has credentials; else the metadata
 * service. */
static void
creds_init(struct ec2_client *c)
{
	const struct conf *conf = c->conf;

	if (creds_set(c, conf->provider.ec2.access_key_id,
	    conf->provider.ec2.secret_access_key, NULL) == 0) {
		log_info("provider ec2: credentials from the configuration");
		return;
	}
	if (creds_set(c, getenv("AWS_ACCESS_KEY_ID"),
	    getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN")) == 0) {
		log_info("provider ec2: credentials from the environment");
		return;
	}
	if (creds_from_file(c) == 0)
		return;
	c->temporary = 1;
	imds_start(c);
}

/* Credentials: the metadata service (IMDSv2) */

static void	imds_step(struct ec2_client *c);

/* Credentials are here: the calls waiting for them go. */
static void
creds_wake(struct ec2_client *c)
{
	struct ec2_call *call;

	LIST_FOREACH(call, &c->calls, entry)
		if (call->waiting) {
			call->waiting = 0;
			ev_timer_start(c->loop, &call->timer, 0, call_resend, call);
		}
}

static void
imds_retry(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	imds_start(arg);
}

static void
imds_failed(struct ec2_client *c, const char *what, const struct httpc_result *r)
{
	log_warn("provider ec2: metadata %s: %s (again in %d ms)", what,
	    r->error != NULL ? r->error : "unexpected answer", IMDS_RETRY_MS);
	c->imds_token[0] = '\0';
	if (c->creds == CREDS_FETCHING)
		c->creds = CREDS_NONE;
	ev_timer_start(c->loop, &c->imds_timer, IMDS_RETRY_MS, imds_retry, c);
}

static void
imds_on_creds(const struct httpc_result *r, void *arg)
{
	struct ec2_client *c = arg;
	uint64_t now = util_wall_ms(), life, expires;
	struct aws_creds k;
	char why[128];
	int rv;

	c->imds_req = NULL;
	if (r->status != 200) {
		imds_failed(c, "credentials", r);
		return;
	}
	if (aws_creds_parse_imds(r->body, r->body_len, &k, &expires, why,
	    sizeof(why)) == -1 || expires <= now) {
		struct httpc_result bad = *r;

		bad.error = expires != 0 && expires <= now ? "already expired" : why;
		imds_failed(c, "credentials", &bad);
		return;
	}
	rv = creds_set(c, k.access_key, k.secret_key, k.session_token);
	explicit_bzero(&k, sizeof(k));
	if (rv == -1) {
		imds_failed(c, "credentials", r);
		return;
	}
	c->expires = expires;
	life = c->expires - now;
	c->refresh_at = c->expires - (life / 2 < CREDS_REFRESH_MS ? life / 2 :
	    CREDS_REFRESH_MS);
	if (c->refresh_at < now + CREDS_REFRESH_MIN_MS)
		c->refresh_at = now + CREDS_REFRESH_MIN_MS;
	log_info("provider ec2: credentials of role %s from the metadata service, "
	    "valid %llu s", c->imds_role, (unsigned long long)(life / 1000));
	ev_timer_start(c->loop, &c->imds_timer, c->refresh_at - now, imds_retry, c);
	creds_wake(c);
}

static void
imds_on_role(const struct httpc_result *r, void *arg)
{
	struct ec2_client *c = arg;
	size_t len = strcspn(r->body, "\r\n");

	c->imds_req = NULL;
	if (r->status != 200 || len == 0 || len >= sizeof(c->imds_role) ||
	    strspn(r->body, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+=,.@_-") != len) {
		imds_failed(c, "role", r);
		return;
	}
	memcpy(c->imds_role, r->body, len);
	c->imds_role[len] = '\0';
	imds_step(c);
}

static void
imds_on_token(const struct httpc_result *r, void *arg)
{
	struct ec2_client *c = arg;

	c->imds_req = NULL;
	if (r->status != 200 || r->body_len == 0 ||
	    r->body_len >= sizeof(c->imds_token) ||
	    strcspn(r->body, "\r\n") != r->body_len) {
		imds_failed(c, "token", r);
		return;
	}
	memcpy(c->imds_token, r->body, r->body_len + 1);
	imds_step(c);
}

/* The next request of the fetch: the token, the role, the credentials. */
static void
imds_step(struct ec2_client *c)
{
	const char *base = c->conf->provider.ec2.metadata_endpoint;
	const char *headers[2] = { NULL, NULL };
	char url[768], hdr[320];
	struct httpc_opts o;
	httpc_done_cb *cb;

	memset(&o, 0, sizeof(o));
	o.timeout_ms = IMDS_TIMEOUT_MS;
	o.max_body = 65536;
	o.url = url;
	o.headers = headers;
	headers[0] = hdr;
	if (c->imds_token[0] == '\0') {
		snprintf(url, sizeof(url), "%s/latest/api/token", base);
		snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token-ttl-seconds: %s",
		    IMDS_TOKEN_TTL_S);
		o.method = "PUT";
		cb = imds_on_token;
	} else {
		snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s",
		    c->imds_token);
		snprintf(url, sizeof(url), "%s/latest/meta-data/iam/"
		    "security-credentials/%s", base, c->imds_role);
		cb = c->imds_role[0] == '\0' ? imds_on_role : imds_on_creds;
	}
	if ((c->imds_req = httpc_request(c->http, &o, cb, c)) == NULL) {
		struct httpc_result r = { .body = "",
		    .error = "cannot start a request" };

		imds_failed(c, "request", &r);
	}
}

/* Fetch (again) the role's credentials; a fresh session token each time,
 * as it may have expired. */
static void
imds_start(struct ec2_client *c)
{
	if (c->imds_req != NULL)
		return;
	if (c->creds != CREDS_READY)
		c->creds = CREDS_FETCHING;
	c->imds_token[0] = '\0';
	c->imds_role[0] = '\0';
	imds_step(c);
}

/* Calls */

static void
call_free(struct ec2_call *call)
{
	struct ec2_client *c = call->c;

	LIST_REMOVE(call, entry);
	httpc_cancel(call->req);
	ev_timer_stop(c->loop, &call->timer);
	free(call->body);
	free(call);
}

static void
call_done(struct ec2_call *call, const struct ec2_answer *a, const char *code,
    const char *error)
{
	ec2_done_cb *cb = call->cb;
	void *arg = call->arg;

	call->req = NULL;
	call_free(call);
	cb(a, code, error, arg);
}

static void
call_resend(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	call_send(arg);
}

/* Try again after a backoff, paying cost from the retry quota; or give
 * up: at the deadline, after EC2_MAX_ATTEMPTS, or when the quota is
 * spent. */
static void
call_retry(struct ec2_call *call, const char *why, int cost)
{
	struct ec2_client *c = call->c;
	uint64_t now = ev_now(c->loop), cap, wait;
	const char *stop = NULL;

	snprintf(call->last_error, sizeof(call->last_error), "%s", why);
	cap = (uint64_t)EC2_BACKOFF_BASE_MS << (call->attempt < 16 ?
	    call->attempt : 16);
	if (cap > EC2_BACKOFF_CAP_MS)
		cap = EC2_BACKOFF_CAP_MS;
	wait = (uint64_t)random() % (cap + 1);
	if (now + wait >= call->deadline)
		stop = "deadline";
	else if (call->attempt >= EC2_MAX_ATTEMPTS)
		stop = "attempts";
	else if (c->quota < cost)
		stop = "retry quota spent";
	if (stop != NULL) {
		char msg[360];

		snprintf(msg, sizeof(msg), "%s (gave up after %d attempts: %s)",
		    why, call->attempt, stop);
		log_error("provider ec2: %s: %s", call->action, msg);
		call_done(call, NULL, NULL, msg);
		return;
	}
	c->quota -= cost;
	call->spent += cost;
	log_warn("provider ec2: %s: %s (attempt %d, again in %llu ms)",
	    call->action, why, call->attempt, (unsigned long long)wait);
	ev_timer_start(call->c->loop, &call->timer, wait, call_resend, call);
}

/* EC2 error codes that are worth a retry. */
static int
call_retryable(const char *code)
{
	static const char *const codes[] = { "RequestLimitExceeded",
	    "Throttling", "ThrottlingException", "InternalError",
	    "InternalFailure", "ServiceUnavailable", "Unavailable",
	    "RequestTimeout", "RequestExpired" };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

/* EC2 error codes that are an answer, whatever their HTTP status: asking
 * again does not change them (InsufficientInstanceCapacity comes as 500). */
static int
call_final(const char *code)
{
	return strcmp(code, "InsufficientInstanceCapacity") == 0 ||
	    strcmp(code, "InstanceLimitExceeded") == 0;
}

/* Errors that a wrong clock causes (the AWS SDKs' list). */
static int
call_clock_error(const char *code)
{
	static const char *const codes[] = { "RequestTimeTooSkewed",
	    "RequestExpired", "RequestInTheFuture", "InvalidSignatureException",
	    "SignatureDoesNotMatch", "AuthFailure" };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

/* Learn EC2's clock from an answer's Date when it is further off than
 * the requests' window allows, or, after an error a wrong clock causes,
 * more than a minute off (a Date has whole seconds and the answer took
 * time: less is no skew).  1 if the correction changed. */
static int
client_clock(struct ec2_client *c, int64_t date, int clock_error)
{
	int64_t skew, diff;

	if (date <= 0)
		return 0;
	skew = date - (int64_t)time(NULL);
	diff = skew > c->skew ? skew - c->skew : c->skew - skew;
	if (diff <= (clock_error ? EC2_SKEW_ERROR_S : EC2_SKEW_MAX_S))
		return 0;
	log_warn("provider ec2: EC2's clock is %lld s %s ours: signing with "
	    "its time", (long long)(skew < 0 ? -skew : skew), skew < 0 ?
	    "behind" : "ahead of");
	c->skew = skew;
	return 1;
}

static int
call_auth_failure(const char *code)
{
	return strcmp(code, "ExpiredToken") == 0 ||
	    strcmp(code, "AuthFailure") == 0 ||
	    strcmp(code, "InvalidClientTokenId") == 0 ||
	    strcmp(code, "UnrecognizedClientException") == 0;
}

static void
call_on_answer(const struct httpc_result *r, void *arg)
{
	struct ec2_call *call = arg;
	struct ec2_answer a;
	char why[400];
	int clock_error;

	call->req = NULL;
	if (r->error != NULL) {
		call_retry(call, r->error, r->timed_out ? EC2_TIMEOUT_COST :
		    EC2_RETRY_COST);
		return;
	}
	if (ec2_xml_parse(r->body, r->body_len, &a) == -1) {
		snprintf(why, sizeof(why), "HTTP %ld, not an EC2 answer: %s",
		    r->status, a.why);
		ec2_answer_free(&a);
		call_retry(call, why, EC2_RETRY_COST);
		return;
	}
	if (!a.error && r->status >= 200 && r->status <= 299) {
		/* A success refills the quota: what this call spent, or one. */
		call->c->quota += call->spent > 0 ? call->spent : 1;
		if (call->c->quota > EC2_QUOTA)
			call->c->quota = EC2_QUOTA;
		client_clock(call->c, r->date, 0);
		call_done(call, &a, NULL, NULL);
		ec2_answer_free(&a);
		return;
	}
	snprintf(why, sizeof(why), "%s: %s", a.error ? a.code : "HTTP error",
	    a.error ? a.message : "no error code");
	clock_error = a.error && call_clock_error(a.code);
	if ((client_clock(call->c, r->date, clock_error) ||
	    (clock_error && call->signed_skew != call->c->skew)) &&
	    !call->reskewed) {
		/* Signed with a wrong clock (or before another answer fixed
		 * it): once more at once, with EC2's. */
		call->reskewed = 1;
		call->attempt--;
		log_warn("provider ec2: %s: %s: signing again", call->action, why);
		call_send(call);
	} else if (a.error && call_final(a.code)) {
		log_warn("provider ec2: %s: %s", call->action, why);
		call_done(call, NULL, a.code, why);
	} else if (a.error && call_auth_failure(a.code) && call->c->temporary &&
	    !call->reauth) {
		call->reauth = 1;
		log_warn("provider ec2: %s: %s: fetching credentials again",
		    call->action, why);
		call->c->creds = CREDS_FETCHING;
		imds_start(call->c);
		call_send(call);		/* waits for them */
	} else if (r->status >= 500 || (a.error && call_retryable(a.code))) {
		call_retry(call, why, EC2_RETRY_COST);
	} else {
		log_warn("provider ec2: %s: %s", call->action, why);
		call_done(call, NULL, a.error ? a.code : "", why);
	}
	ec2_answer_free(&a);
}

/* Sign and send the call now, or wait for credentials. */
static void
call_send(struct ec2_call *call)
{
	struct ec2_client *c = call->c;
	struct sigv4_request s;
	struct sigv4_result sig;
	char h_date[64], h_auth[SIGV4_AUTH_MAX + 32], h_host[300];
	char h_token[sizeof(c->key.session_token) + 32];
	const char *headers[7];
	struct httpc_opts o;
	int n = 0;

	if (c->creds != CREDS_READY) {
		call->waiting = 1;
		return;
	}
	if (ev_now(c->loop) >= call->deadline) {
		call_done(call, NULL, NULL, call->last_error[0] ?
		    call->last_error : "deadline passed");
		return;
	}
	memset(&s, 0, sizeof(s));
	s.method = "POST";
	s.host = c->host;
	s.path = "/";
	s.query = "";
	s.content_type = EC2_CONTENT_TYPE;
	s.body = call->body;
	s.body_len = call->body_len;
	s.region = c->region;
	s.service = "ec2";
	s.access_key = c->key.access_key;
	s.secret_key = c->key.secret_key;
	s.session_token = c->key.session_token;
	s.now = time(NULL) + (time_t)c->skew;
	call->signed_skew = c->skew;
	if (sigv4_sign(&s, &sig) == -1) {
		call_done(call, NULL, NULL, "cannot sign the request");
		return;
	}
	snprintf(h_host, sizeof(h_host), "Host: %s", c->host);
	snprintf(h_date, sizeof(h_date), "X-Amz-Date: %s", sig.amz_date);
	snprintf(h_auth, sizeof(h_auth), "Authorization: %s", sig.authorization);
	headers[n++] = "Content-Type: " EC2_CONTENT_TYPE;
	headers[n++] = h_host;
	headers[n++] = h_date;
	headers[n++] = h_auth;
	if (c->key.session_token[0] != '\0') {
		snprintf(h_token, sizeof(h_token), "X-Amz-Security-Token: %s",
		    c->key.session_token);
		headers[n++] = h_token;
	}
	headers[n] = NULL;
	memset(&o, 0, sizeof(o));
	o.method = "POST";
	o.url = c->url;
	o.headers = headers;
	o.body = call->body;
	o.body_len = call->body_len;
	o.timeout_ms = EC2_TIMEOUT_MS;
	o.max_body = EC2_MAX_ANSWER;
	call->attempt++;
	if ((call->req = httpc_request(c->http, &o, call_on_answer, call)) == NULL)
		call_retry(call, "cannot start the request", EC2_RETRY_COST);
	explicit_bzero(h_auth, sizeof(h_auth));
	explicit_bzero(h_token, sizeof(h_token));
}

struct ec2_call *
ec2_call(struct ec2_client *c, const char *action, const struct ec2_form *form,
    uint64_t deadline, ec2_done_cb *cb, void *arg)
{
	struct ec2_form body = { NULL, 0, 0, 0 };
	struct ec2_call *call;

	if (form->failed || strlen(action) >= sizeof(call->action) ||
	    (call = calloc(1, sizeof(*call))) == NULL)
		return NULL;
	ec2_form_add(&body, action, "Action");
	ec2_form_add(&body, EC2_VERSION, "Version");
	if (form->len > 0 && !body.failed) {
		char *nb = realloc(body.buf, body.len + form->len + 2);

		if (nb == NULL) {
			body.failed = 1;
		} else {
			body.buf = nb;
			body.buf[body.len++] = '&';
			memcpy(body.buf + body.len, form->buf, form->len + 1);
			body.len += form->len;
		}
	}
	if (body.failed) {
		ec2_form_free(&body);
		free(call);
		return NULL;
	}
	snprintf(call->action, sizeof(call->action), "%s", action);
	call->c = c;
	call->body = body.buf;
	call->body_len = body.len;
	call->deadline = deadline;
	call->cb = cb;
	call->arg = arg;
	LIST_INSERT_HEAD(&c->calls, call, entry);
	ev_timer_start(c->loop, &call->timer, 0, call_resend, call);
	return call;
}

void
ec2_call_cancel(struct ec2_call *call)
{
	if (call != NULL)
		call_free(call);
}

/* The client */

/* host[:port] of url, as curl sends it in Host (no default port). */
static int
client_parse_url(struct ec2_client *c, const char *url)
{
	const char *p, *end;
	size_t len;

	if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else
		return -1;
	end = p + strcspn(p, "/?#");
	len = (size_t)(end - p);
	if (len == 0 || len >= sizeof(c->host) || strchr(p, '@') != NULL)
		return -1;
	memcpy(c->host, p, len);
	c->host[len] = '\0';
	if (strncmp(url, "https://", 8) == 0 && len > 4 &&
	    strcmp(c->host + len - 4, ":443") == 0)
		c->host[len - 4] = '\0';
	if (strncmp(url, "http://", 7) == 0 && len > 3 &&
	    strcmp(c->host + len - 3, ":80") == 0)
		c->host[len - 3] = '\0';
	snprintf(c->url, sizeof(c->url), "%.*s/", (int)(end - url), url);
	return 0;
}

struct ec2_client *
ec2_client_new(struct ev_loop *loop, struct httpc *http, const struct conf *conf)
{
	const char *region = conf->provider.ec2.region;
	struct ec2_client *c;
	char url[512];

	if (region[0] == '\0' && (region = getenv("AWS_REGION")) == NULL &&
	    (region = getenv("AWS_DEFAULT_REGION")) == NULL) {
		log_error("provider ec2: no region (provider.ec2.region)");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->http = http;
	c->conf = conf;
	c->quota = EC2_QUOTA;
	snprintf(c->region, sizeof(c->region), "%s", region);
	if (conf->provider.ec2.endpoint[0] != '\0')
		snprintf(url, sizeof(url), "%s", conf->provider.ec2.endpoint);
	else
		snprintf(url, sizeof(url), "https://ec2.%s.amazonaws.com", region);
	if (client_parse_url(c, url) == -1) {
		log_error("provider ec2: cannot use endpoint %s", url);
		free(c);
		return NULL;
	}
	creds_init(c);
	log_info("provider ec2: endpoint %s, region %s", c->url, c->region);
	return c;
}

void
ec2_client_free(struct ec2_client *c)
{
	if (c == NULL)
		return;
	while (!LIST_EMPTY(&c->calls))
		call_free(LIST_FIRST(&c->calls));
	httpc_cancel(c->imds_req);
	ev_timer_stop(c->loop, &c->imds_timer);
	explicit_bzero(&c->key, sizeof(c->key));
	free(c);
}
