/*
 * sigv4: AWS Signature Version 4 (see sigv4.h).  The four steps of the
 * algorithm, each a function: the canonical request, the string to sign,
 * the signing key (an HMAC chain from the secret key), the signature.
 * Buffers are the caller's stack or one heap string freed before return.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "workers/scaler/sigv4.h"

#define SIGV4_PARAMS_MAX	256

/* A growing string; on allocation failure len stays and failed is set. */
struct sbuf {
	char	*s;
	size_t	 len, cap;
	int	 failed;
};

static void
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		char *ns;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((ns = realloc(b->s, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
sbuf_str(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

static void
hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Lowercase hex SHA-256 of data[0..n).  0 or -1. */
static int
sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;

	if (EVP_Digest(data != NULL ? data : "", n, md, &len, EVP_sha256(),
	    NULL) != 1 || len != 32)
		return -1;
	hex(md, 32, out);
	return 0;
}

/* HMAC-SHA256 of data with key into out[32].  0 or -1. */
static int
hmac(const void *key, size_t key_len, const char *data, unsigned char out[32])
{
	size_t len = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, key_len,
	    (const unsigned char *)data, strlen(data), out, 32, &len) == NULL ||
	    len != 32)
		return -1;
	return 0;
}

static int
param_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t xn = strcspn(x, "="), yn = strcspn(y, "=");
	int c = memcmp(x, y, xn < yn ? xn : yn);

	if (c != 0)
		return c;
	if (xn != yn)
		return xn < yn ? -1 : 1;
	return strcmp(x + xn, y + yn);	/* then by value */
}

/* The canonical query string: parameters sorted by name, then value; a
 * parameter without '=' gets an empty value.  0 or -1. */
static int
canonical_query(const char *query, struct sbuf *b)
{
	char *copy, *params[SIGV4_PARAMS_MAX], *save = NULL, *p;
	size_t n = 0;

	if (query == NULL || query[0] == '\0')
		return 0;
	if ((copy = strdup(query)) == NULL)
		return -1;
	for (p = strtok_r(copy, "&", &save); p != NULL;
	    p = strtok_r(NULL, "&", &save)) {
		if (n == SIGV4_PARAMS_MAX) {
			free(copy);
			return -1;
		}
		params[n++] = p;
	}
	qsort(params, n, sizeof(params[0]), param_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			sbuf_str(b, "&");
		sbuf_str(b, params[i]);
		if (strchr(params[i], '=') == NULL)
			sbuf_str(b, "=");
	}
	free(copy);
	return 0;
}

/* Step 1: the canonical request and its signed header list.  0 or -1. */
static int
canonical_request(const struct sigv4_request *r, const char *amz_date,
    const char *signed_headers, struct sbuf *b)
{
	char body_hash[65];
	int token = r->session_token != NULL && r->session_token[0] != '\0';

	if (sha256_hex(r->body, r->body_len, body_hash) == -1)
		return -1;
	sbuf_str(b, r->method);
	sbuf_str(b, "\n");
	sbuf_str(b, r->path);
	sbuf_str(b, "\n");
	if (canonical_query(r->query, b) == -1)
		return -1;
	sbuf_str(b, "\n");
	if (r->content_type != NULL) {
		sbuf_str(b, "content-type:");
		sbuf_str(b, r->content_type);
		sbuf_str(b, "\n");
	}
	sbuf_str(b, "host:");
	sbuf_str(b, r->host);
	sbuf_str(b, "\nx-amz-date:");
	sbuf_str(b, amz_date);
	sbuf_str(b, "\n");
	if (token) {
		sbuf_str(b, "x-amz-security-token:");
		sbuf_str(b, r->session_token);
		sbuf_str(b, "\n");
	}
	sbuf_str(b, "\n");
	sbuf_str(b, signed_headers);
	sbuf_str(b, "\n");
	sbuf_str(b, body_hash);
	return b->failed ? -1 : 0;
}

/* Step 3: the signing key for date/region/service.  0 or -1. */
static int
signing_key(const struct sigv4_request *r, const char *date, unsigned char key[32])
{
	char first[256];
	unsigned char k1[32], k2[32], k3[32];
	int n = snprintf(first, sizeof(first), "AWS4%s", r->secret_key);

	if (n < 0 || (size_t)n >= sizeof(first))
		return -1;
	return hmac(first, (size_t)n, date, k1) == -1 ||
	    hmac(k1, 32, r->region, k2) == -1 ||
	    hmac(k2, 32, r->service, k3) == -1 ||
	    hmac(k3, 32, "aws4_request", key) == -1 ? -1 : 0;
}

static int
sigv4_valid(const struct sigv4_request *r)
{
	return r != NULL && r->method != NULL && r->host != NULL &&
	    r->path != NULL && r->region != NULL && r->service != NULL &&
	    r->access_key != NULL && r->secret_key != NULL &&
	    (r->body != NULL || r->body_len == 0) && r->region[0] != '\0' &&
	    r->service[0] != '\0' && r->access_key[0] != '\0';
}

int
sigv4_sign(const struct sigv4_request *r, struct sigv4_result *out)
{
	struct sbuf creq = { 0 };
	char date[9], scope[160], req_hash[65], to_sign[320], sig[65];
	const char *signed_headers;
	unsigned char key[32], mac[32];
	struct tm tm;
	int n, rv = -1;

	if (!sigv4_valid(r) || gmtime_r(&r->now, &tm) == NULL ||
	    strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ",
	    &tm) == 0)
		return -1;
	memcpy(date, out->amz_date, 8);
	date[8] = '\0';
	if (r->session_token != NULL && r->session_token[0] != '\0')
		signed_headers = r->content_type != NULL ?
		    "content-type;host;x-amz-date;x-amz-security-token" :
		    "host;x-amz-date;x-amz-security-token";
	else
		signed_headers = r->content_type != NULL ?
		    "content-type;host;x-amz-date" : "host;x-amz-date";
	n = snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date,
	    r->region, r->service);
	if (n < 0 || (size_t)n >= sizeof(scope) ||
	    canonical_request(r, out->amz_date, signed_headers, &creq) == -1 ||
	    sha256_hex(creq.s, creq.len, req_hash) == -1)
		goto done;
	/* Step 2: the string to sign.  Step 4: its HMAC with the key. */
	n = snprintf(to_sign, sizeof(to_sign), "AWS4-HMAC-SHA256\n%s\n%s\n%s",
	    out->amz_date, scope, req_hash);
	if (n < 0 || (size_t)n >= sizeof(to_sign) ||
	    signing_key(r, date, key) == -1 ||
	    hmac(key, 32, to_sign, mac) == -1)
		goto done;
	hex(mac, 32, sig);
	n = snprintf(out->authorization, sizeof(out->authorization),
	    "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
	    r->access_key, scope, signed_headers, sig);
	if (n > 0 && (size_t)n < sizeof(out->authorization))
		rv = 0;
done:
	OPENSSL_cleanse(key, sizeof(key));
	free(creq.s);
	return rv;
}
