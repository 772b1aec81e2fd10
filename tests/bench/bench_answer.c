/*
 * bench_answer: what reading a placement batch's answer costs the proxy
 * (hiredis' reader, then workers/proxy/placement_answer.c), for
 * docs/PERFORMANCE.md: an answer for ACCOUNTS new accounts on two
 * instances, read CALLS times, ns per account, the better of three rounds.
 * For comparison, hiredis' reader alone on the same answer in the shape
 * olb used before (id, ip, port and how for every account).
 * Usage: make build/bench/bench_answer && build/bench/bench_answer
 */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/scripts.h"
#include "tests/bench/bench.h"
#include "workers/proxy/placement.h"

#define ACCOUNTS	20
#define CALLS		100000
#define ROUNDS		3

/* The answer as place_client writes it (place_helpers.lua, answer_new) or
 * in the earlier shape, into buf: its length. */
static size_t
answer(char *buf, size_t size, int earlier)
{
	size_t n = 0;

	n += (size_t)snprintf(buf + n, size - n, "*%d\r\n:7\r\n",
	    earlier ? 1 + 4 * ACCOUNTS : 1 + ACCOUNTS + 3 * 2);
	for (int i = 0; i < ACCOUNTS; i++)
		n += (size_t)(earlier ? snprintf(buf + n, size - n,
		    "$6\r\ninst-%d\r\n$9\r\n127.0.0.1\r\n:%d\r\n$6\r\nplaced\r\n",
		    1 + i % 2, 18081 + i % 2) :
		    snprintf(buf + n, size - n, ":%d\r\n", 1 + i % 2));
	for (int j = 0; !earlier && j < 2; j++)
		n += (size_t)snprintf(buf + n, size - n,
		    "$6\r\ninst-%d\r\n$9\r\n127.0.0.1\r\n:%d\r\n", 1 + j,
		    18081 + j);
	return n;
}

/* Read buf's answer CALLS times (and check it, unless earlier): the best
 * of ROUNDS rounds, ns per account; -1 if it does not read. */
static double
time_reads(const char *buf, size_t len, int earlier)
{
	enum placement_status st[ACCOUNTS];
	struct placement w[ACCOUNTS];
	redisReader *rd;
	void *reply;
	double best = 0, t;

	for (int r = 0; r < ROUNDS; r++) {
		t = bench_now_ns();
		for (int i = 0; i < CALLS; i++) {
			if ((rd = redisReaderCreate()) == NULL ||
			    redisReaderFeed(rd, buf, len) != REDIS_OK ||
			    redisReaderGetReply(rd, &reply) != REDIS_OK ||
			    reply == NULL)
				return -1;
			if (!earlier && (placement_parse_batch(reply, ACCOUNTS, st,
			    w) == -1 || st[ACCOUNTS - 1] != PLACEMENT_OK))
				return -1;
			freeReplyObject(reply);
			redisReaderFree(rd);
		}
		t = (bench_now_ns() - t) / CALLS / ACCOUNTS;
		if (r == 0 || t < best)
			best = t;
	}
	return best;
}

int
main(void)
{
	char buf[4096];
	size_t len;

	len = answer(buf, sizeof(buf), 0);
	printf("%-56s %8.1f ns per account\n",
	    "an instance named once, a code per account (read, checked)",
	    time_reads(buf, len, 0));
	len = answer(buf, sizeof(buf), 1);
	printf("%-56s %8.1f ns per account\n",
	    "the earlier shape, four replies per account (read only)",
	    time_reads(buf, len, 1));
	return 0;
}
