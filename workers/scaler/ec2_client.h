/*
 * ec2_client: calls of the EC2 Query API (version 2016-11-15) for the
 * scaler's ec2 provider: form-encoded POSTs over workers' httpc, signed with
 * Signature Version 4 (workers/scaler/sigv4.c), answers parsed by workers/scaler/ec2_xml.c,
 * and credentials found the way the AWS SDKs find them:
 *
 *   1. provider.ec2.access_key_id / secret_access_key (the configuration,
 *      which may take them from the environment or a file);
 *   2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *      AWS_SESSION_TOKEN;
 *   3. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
 *      ~/.aws/credentials), profile provider.ec2.profile, else AWS_PROFILE,
 *      else "default";
 *   4. the instance metadata service, IMDSv2 (a session token by PUT, then
 *      the role's temporary credentials), fetched again before they expire.
 *
 * Retries follow the AWS SDKs' standard mode: a call is retried with
 * exponential backoff and full jitter on throttling, on 5xx, on timeouts
 * and on answers that are not EC2 XML (an HTML page from a proxy in
 * between, a truncated body), at most 3 attempts and never past its
 * deadline, and each retry spends from a quota per client (5, 10 after a
 * timeout; 500 at most) that successes refill: an endpoint in trouble gets
 * fewer retries, not more.  Every such answer is logged.  The clock is
 * learnt from the answers' Date: an error that a wrong clock causes
 * (RequestTimeTooSkewed and the like) is signed again at once with EC2's
 * time.  An auth failure with temporary credentials fetches them again
 * once.  Other errors end the call with EC2's code and message (so does
 * InsufficientInstanceCapacity, although it comes as HTTP 500); a call
 * that ends without EC2's code may have happened all the same.
 *
 * Ownership: the client owns its calls; a call's callback comes exactly
 * once, from the loop, unless ec2_call_cancel or ec2_client_free comes
 * first.
 */
#ifndef OLB_EC2_CLIENT_H
#define OLB_EC2_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "workers/scaler/ec2_xml.h"

struct conf;
struct ev_loop;
struct httpc;
struct ec2_client;
struct ec2_call;

/* A form body under construction ("a=1&b=2", values URI-encoded). */
struct ec2_form {
	char		*buf;
	size_t		 len, cap;
	int		 failed;	/* out of memory: the form is unusable */
};

/* The answer, or NULL with error set (retries exhausted, deadline, EC2's
 * own error as "Code: Message").  answer->error is never 1 here: EC2's
 * errors come as error, with code filled. */
typedef void ec2_done_cb(const struct ec2_answer *answer, const char *code,
    const char *error, void *arg);

/* NULL if the endpoint cannot be used (logged). */
struct ec2_client *ec2_client_new(struct ev_loop *loop, struct httpc *http,
		    const struct conf *conf);
void		 ec2_client_free(struct ec2_client *c);

/* Call action with the parameters of form (borrowed: copied here) until
 * deadline (monotonic ms).  NULL if it cannot start (no callback). */
struct ec2_call	*ec2_call(struct ec2_client *c, const char *action,
		    const struct ec2_form *form, uint64_t deadline,
		    ec2_done_cb *cb, void *arg);
void		 ec2_call_cancel(struct ec2_call *call);

/* Add name=value (name built with printf) to f, encoded. */
void		 ec2_form_add(struct ec2_form *f, const char *value,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void		 ec2_form_free(struct ec2_form *f);

#endif
