/*
 * sigv4: AWS Signature Version 4 for the EC2 Query API (SPEC §6), computed
 * with OpenSSL.  Pure: no I/O, no clock (the caller passes the time), so the
 * scaler's ec2 provider can sign and the tests can check signatures against
 * an independent implementation (botocore).
 *
 * Signed headers: content-type (when given), host, x-amz-date and
 * x-amz-security-token (when a session token is given).  The caller sends
 * exactly those headers with the values given here, plus the two this
 * module returns (X-Amz-Date, Authorization).
 */
#ifndef OLB_SIGV4_H
#define OLB_SIGV4_H

#include <stddef.h>
#include <time.h>

struct sigv4_request {
	const char	*method;	/* "POST", "GET" */
	const char	*host;		/* as sent in Host: "ec2.us-east-1.amazonaws.com",
					   "127.0.0.1:18443" */
	const char	*path;		/* already URI-encoded, "/" for EC2 */
	const char	*query;		/* "" or name=value&... already URI-encoded
					   (RFC 3986 unreserved kept); any order */
	const char	*content_type;	/* NULL: no Content-Type header */
	const char	*body;		/* may be NULL when body_len is 0 */
	size_t		 body_len;
	const char	*region;	/* "us-east-1" */
	const char	*service;	/* "ec2" */
	const char	*access_key;
	const char	*secret_key;
	const char	*session_token;	/* NULL or "": none */
	time_t		 now;		/* UTC seconds */
};

#define SIGV4_AUTH_MAX	512

struct sigv4_result {
	char	amz_date[17];			/* "20261127T063000Z" */
	char	authorization[SIGV4_AUTH_MAX];
};

/* Sign r into out.  0, or -1 if a field is missing or too long (a query of
 * more than 256 parameters, an Authorization longer than SIGV4_AUTH_MAX) or
 * OpenSSL fails. */
int	sigv4_sign(const struct sigv4_request *r, struct sigv4_result *out);

#endif
