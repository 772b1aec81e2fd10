/*
 * Answers of the placement scripts (place_master, place_client, locate),
 * read from Redis' replies: outside bytes, so every field is checked
 * (tests/unit/test_placement.c test_batch_answer_shapes,
 * tests/fuzz/fuzz_redis_reply.c).  Pure: no connection, no allocation.
 */
#include <stdint.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/scripts.h"
#include "workers/proxy/placement.h"

/* Copy a bulk string reply into buf: non-empty, shorter than size, no NUL
 * inside.  0 or -1. */
static int
placement_copy_string(const redisReply *r, char *buf, size_t size)
{
	if (r == NULL || r->type != REDIS_REPLY_STRING || r->str == NULL ||
	    r->len == 0 || r->len >= size || memchr(r->str, '\0', r->len) != NULL)
		return -1;
	memcpy(buf, r->str, r->len);
	buf[r->len] = '\0';
	return 0;
}

/* A port as an integer reply, or as a string of digits.  0 or -1. */
static int
placement_copy_port(const redisReply *r, uint16_t *port)
{
	long long n = 0;

	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	else if (r->type == REDIS_REPLY_STRING && r->str != NULL &&
	    r->len > 0 && r->len <= 5) {
		for (size_t i = 0; i < r->len; i++) {
			if (r->str[i] < '0' || r->str[i] > '9')
				return -1;
			n = n * 10 + (r->str[i] - '0');
		}
	} else
		return -1;
	if (n < 1 || n > 65535)
		return -1;
	*port = (uint16_t)n;
	return 0;
}

/* The three replies id, ip, port of an instance into where.  0 or -1. */
static int
placement_parse_instance(redisReply *const *el, struct placement *where)
{
	if (placement_copy_string(el[0], where->id, sizeof(where->id)) == -1 ||
	    placement_copy_string(el[1], where->ip, sizeof(where->ip)) == -1 ||
	    placement_copy_port(el[2], &where->port) == -1)
		return -1;
	where->live = 1;
	where->found = 1;
	return 0;
}

/* The four replies id, ip, port, "existing"|"placed"|"located" into
 * where.  0 or -1. */
static int
placement_parse_place(redisReply *const *el, struct placement *where)
{
	const redisReply *how = el[3];

	if (placement_parse_instance(el, where) == -1 || how == NULL ||
	    how->type != REDIS_REPLY_STRING || how->str == NULL)
		return -1;
	if (how->len == 8 && memcmp(how->str, "existing", 8) == 0)
		where->existing = 1;
	else if (how->len == 7 && memcmp(how->str, "located", 7) == 0) {
		where->existing = 1;
		where->live = 0;
	} else if (!(how->len == 6 && memcmp(how->str, "placed", 6) == 0))
		return -1;
	return 0;
}

int
placement_parse_seq(const redisReply *r, uint64_t *seq)
{
	if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer < 0)
		return -1;
	*seq = (uint64_t)r->integer;
	return 0;
}

enum placement_status
placement_parse_where(redisReply *const *el, uint64_t seq,
    struct placement *where)
{
	int nils = 0;

	memset(where, 0, sizeof(*where));
	where->seq = seq;
	for (int i = 0; i < 4; i++)
		nils += el[i] != NULL && el[i]->type == REDIS_REPLY_NIL;
	if (nils == 4)
		return PLACEMENT_NO_CAPACITY;
	if (placement_parse_place(el, where) == -1) {
		memset(where, 0, sizeof(*where));
		return PLACEMENT_ERROR;
	}
	where->seq = seq;
	return PLACEMENT_OK;
}

/* Account i's code in a batch answer of n accounts naming named instances
 * (place_helpers.lua, answer_new): j > 0 placed on instance j, -j already
 * there, 0 none. */
static enum placement_status
placement_parse_code(const redisReply *reply, size_t n, size_t named,
    size_t i, uint64_t seq, struct placement *where)
{
	const redisReply *code = reply->element[1 + i];
	long long j;

	memset(where, 0, sizeof(*where));
	if (code == NULL || code->type != REDIS_REPLY_INTEGER ||
	    code->integer < -(long long)named ||
	    code->integer > (long long)named)
		return PLACEMENT_ERROR;
	if (code->integer == 0) {
		where->seq = seq;
		return PLACEMENT_NO_CAPACITY;
	}
	j = code->integer < 0 ? -code->integer : code->integer;
	if (placement_parse_instance(reply->element + 1 + n + 3 * (j - 1),
	    where) == -1) {
		memset(where, 0, sizeof(*where));
		return PLACEMENT_ERROR;
	}
	where->existing = code->integer < 0;
	where->seq = seq;
	return PLACEMENT_OK;
}

int
placement_parse_batch(const redisReply *reply, size_t n,
    enum placement_status *status, struct placement *where)
{
	uint64_t seq;
	size_t named;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || n == 0 ||
	    n > SCRIPTS_BATCH_MAX || reply->elements < 1 + n ||
	    (reply->elements - 1 - n) % 3 != 0 ||
	    placement_parse_seq(reply->element[0], &seq) == -1)
		return -1;
	named = (reply->elements - 1 - n) / 3;
	if (named > n)	/* an instance no account is on */
		return -1;
	for (size_t i = 0; i < n; i++)
		status[i] = placement_parse_code(reply, n, named, i, seq,
		    &where[i]);
	return 0;
}
