/*
 * bench_payload: what validating a listener API body costs the proxy
 * (workers/proxy/payload.c), for docs/PERFORMANCE.md: each body below
 * parsed CALLS times by payload_parse and by payload_parse_reference
 * (json-c's tree alone), ns per call, the better of three rounds.
 * Usage: make build/bench/bench_payload && build/bench/bench_payload
 */
#include <stdio.h>
#include <string.h>

#include "tests/bench/bench.h"
#include "workers/proxy/payload.h"

#define CALLS	200000
#define ROUNDS	3

static const struct {
	const char	*name;
	const char	*body;
} bodies[] = {
	{ "listener-post-new.lua's body (a client)",
	    "{\"actid\":\"N123456789-4242\",\"broker\":\"zerodha\",\"access_token\":\"tok\","
	    "\"master_actid\":{\"M02\":{}},\"services\":{\"master\":false}}" },
	{ "a master, string ids, a 40-byte token",
	    "{\"actid\":\"M02\",\"broker\":\"zerodha\",\"access_token\":"
	    "\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJNMDIifQ\",\"master_actid\":\"\","
	    "\"services\":{\"master\":true,\"orders\":[1,2,3]}}" },
	{ "an escape in the token (json-c's path)",
	    "{\"actid\":\"N1\",\"broker\":\"zerodha\",\"access_token\":\"a\\/b\","
	    "\"master_actid\":\"M02\",\"services\":{\"master\":false}}" },
};

/* The best of ROUNDS rounds of CALLS calls of fn on body, ns per call. */
static double
time_calls(int (*fn)(const char *, size_t, struct payload *), const char *body)
{
	struct payload p;
	size_t len = strlen(body);
	double best = 0, t;

	for (int r = 0; r < ROUNDS; r++) {
		t = bench_now_ns();
		for (int i = 0; i < CALLS; i++)
			if (fn(body, len, &p) != 0)
				return -1;
		t = (bench_now_ns() - t) / CALLS;
		if (r == 0 || t < best)
			best = t;
	}
	return best;
}

int
main(void)
{
	printf("%-42s %12s %12s\n", "body", "parse ns", "json-c ns");
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		double fast = time_calls(payload_parse, bodies[i].body);
		double tree = time_calls(payload_parse_reference, bodies[i].body);

		if (fast < 0 || tree < 0) {
			fprintf(stderr, "%s: refused\n", bodies[i].name);
			return 1;
		}
		printf("%-42s %12.0f %12.0f\n", bodies[i].name, fast, tree);
	}
	return 0;
}
