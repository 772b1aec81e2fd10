/*
 * payload: validation of the listener API's JSON body (SPEC §3, §4), called
 * by the proxy workers (workers/proxy/proxy_api.c) once per create_user_listener
 * and remove_user_listener request, after the whole body has been read.
 *
 * It accepts exactly RFC 8259 JSON (json-c does the structure; a lexical pass
 * in front of it refuses what json-c would let through: NaN, Infinity, "1.",
 * "-01", raw control characters in strings, malformed UTF-8, and the \u0000
 * escape in object keys, which json-c would cut short), then checks the
 * fields in the earlier service's order and normalises the two account ids.
 * Only the ids and the role are kept; the body itself (and its access_token)
 * is never copied into the result or into a message.
 *
 * Pure: every json-c object is freed before payload_parse() returns (the one
 * json-c tokener it reuses is per process, so not re-entrant across threads;
 * olb's workers have one thread).
 */
#ifndef OLB_PAYLOAD_H
#define OLB_PAYLOAD_H

#include <stddef.h>

#define PAYLOAD_ID_MAX		128		/* longest account id, bytes */
#define PAYLOAD_DEPTH_MAX	32		/* deeper nesting: invalid JSON */
#define PAYLOAD_BODY_MAX	(64 << 20)	/* longer bodies: 413 (proxy.max_body's bound) */
#define PAYLOAD_MESSAGE_MAX	96		/* longest error text, with its NUL */

/*
 * A validated body.  An id is the string as sent (not trimmed), or an
 * integer's decimal text, or (master_actid only) the first key of an object
 * in JavaScript's Object.keys() order; it is valid UTF-8 without control
 * characters.  On error only message is meaningful.
 */
struct payload {
	char	actid[PAYLOAD_ID_MAX + 1];		/* never blank */
	char	master_actid[PAYLOAD_ID_MAX + 1];	/* non-blank for a client */
	int	is_master;		/* services.master is truthy (JavaScript) */
	char	message[PAYLOAD_MESSAGE_MAX];	/* error text, "" on success */
};

/*
 * Validate the request body at body[0..len) into *p.  Returns 0, or the HTTP
 * status to answer (400, 413, or 500 when json-c cannot allocate) with the
 * text for {"status":false,"message":...} in p->message (plain ASCII: it
 * needs no JSON escaping and holds nothing taken from the body).
 */
int	payload_parse(const char *body, size_t len, struct payload *p);

/*
 * The same answers as payload_parse, always through json-c's tree: the
 * reference its fast path for plain bodies is tested against.
 */
int	payload_parse_reference(const char *body, size_t len, struct payload *p);

#endif /* OLB_PAYLOAD_H */
