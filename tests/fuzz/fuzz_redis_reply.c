/*
 * libFuzzer target for olb's readers of Redis replies (common/sentinel.c,
 * workers/proxy/placement_answer.c): arbitrary bytes read as RESP by
 * hiredis' own reader, each reply handed to sentinel_parse_addr,
 * sentinel_parse_role, redis_hash_field and placement_parse_batch; the raw
 * bytes also as a +switch-master message.
 *
 * Invariants: an address read is a non-empty host without blanks or control
 * bytes, terminated in its buffer, and a port in 1..65535; a role is one of
 * the three names; a hash field found is a string of the reply; an account
 * placed has a non-empty id and ip, terminated in their buffers, and a port
 * in 1..65535.
 *
 * Build and run: make -f tests/fuzz/Makefile fuzz-run TARGET=redis_reply
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/redis.h"
#include "common/scripts.h"
#include "common/sentinel.h"
#include "workers/proxy/placement.h"
#include "tests/fuzz/fuzz.h"

#define MAX_REPLIES	16

static void
check_addr(int rv, const char *host, size_t hostlen, int port)
{
	size_t len;

	if (rv == -1)
		return;
	CHECK(rv == 0);
	len = strnlen(host, hostlen);
	CHECK(len > 0 && len < hostlen);
	for (size_t i = 0; i < len; i++)
		CHECK((unsigned char)host[i] > ' ' && host[i] != 0x7f);
	CHECK(port >= 1 && port <= 65535);
}

/* r as the answer of a placement batch of n accounts. */
static void
check_placements(const redisReply *r, size_t n)
{
	enum placement_status st[SCRIPTS_BATCH_MAX];
	struct placement w[SCRIPTS_BATCH_MAX];

	if (placement_parse_batch(r, n, st, w) == -1)
		return;
	CHECK(n >= 1 && n <= SCRIPTS_BATCH_MAX);
	for (size_t i = 0; i < n; i++) {
		CHECK(st[i] == PLACEMENT_OK || st[i] == PLACEMENT_NO_CAPACITY ||
		    st[i] == PLACEMENT_ERROR);
		if (st[i] != PLACEMENT_OK)
			continue;
		CHECK(w[i].found == 1);
		CHECK(strnlen(w[i].id, sizeof(w[i].id)) > 0 &&
		    strnlen(w[i].id, sizeof(w[i].id)) < sizeof(w[i].id));
		CHECK(strnlen(w[i].ip, sizeof(w[i].ip)) > 0 &&
		    strnlen(w[i].ip, sizeof(w[i].ip)) < sizeof(w[i].ip));
		CHECK(w[i].port >= 1);
	}
}

static void
check_reply(const redisReply *r)
{
	char host[64];
	const char *role, *v;
	int port = 0;

	memset(host, 'x', sizeof(host));
	check_addr(sentinel_parse_addr(r, host, sizeof(host), &port), host,
	    sizeof(host), port);
	role = sentinel_parse_role(r);
	CHECK(role == NULL || strcmp(role, "master") == 0 ||
	    strcmp(role, "slave") == 0 || strcmp(role, "sentinel") == 0);
	if ((v = redis_hash_field(r, "master-link-status")) != NULL) {
		int found = 0;

		for (size_t i = 1; i < r->elements; i += 2)
			found |= r->element[i]->str == v;
		CHECK(found);
	}
	/* every batch size the reply could answer (its length does not say) */
	for (size_t n = 0; n <= SCRIPTS_BATCH_MAX + 1; n++)
		check_placements(r, n);
}

/* hiredis 0.14's reader allocates an array of the length a reply declares
 * before a byte of it has come ("*555555551" asks 4 GB): the server is
 * trusted for that (docs/DECISIONS.md, Redis).  Inputs holding a '*' and
 * a number over MAX_ELEMENTS anywhere are left out: this target fuzzes
 * olb's readers, not that allocation. */
#define MAX_ELEMENTS	4096

static int
declares_huge_array(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		unsigned long long n = 0;

		if (data[i] != '*')	/* anywhere: hiredis skips a bulk's
					 * CRLF unchecked, so a header may
					 * start mid-line */
			continue;
		for (size_t j = i + 1; j < size && data[j] >= '0' && data[j] <= '9'; j++)
			if ((n = n * 10 + (data[j] - '0')) > MAX_ELEMENTS)
				return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	redisReader *rd;
	char host[64];
	int port = 0;
	void *r;

	if (declares_huge_array(data, size) || (rd = redisReaderCreate()) == NULL)
		return 0;
	if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK)
		for (int i = 0; i < MAX_REPLIES; i++) {
			r = NULL;
			if (redisReaderGetReply(rd, &r) != REDIS_OK || r == NULL)
				break;
			check_reply(r);
			freeReplyObject(r);
		}
	redisReaderFree(rd);
	check_addr(sentinel_parse_switch((const char *)data, size, "olbm", host,
	    sizeof(host), &port), host, sizeof(host), port);
	return 0;
}
