/*
 * fuzz: what the libFuzzer targets share: the invariant check, a pointer
 * range check, the check of a parsed header field and the split pattern
 * generator.  Header-only (every target is
 * one translation unit).
 */
#ifndef OLB_FUZZ_H
#define OLB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/http.h"

#define CHECK(cond)	do { if (!(cond)) abort(); } while (0)
#define NLIMITS(a)	(sizeof(a) / sizeof((a)[0]))

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 if p[0..len) lies inside buf[0..buf_len). */
static inline int
inside(const char *p, size_t len, const char *buf, size_t buf_len)
{
	return p >= buf && len <= buf_len && (size_t)(p - buf) <= buf_len - len;
}

/* A parsed header field: name and value inside the head, the name non-empty,
 * the value without CR, LF or NUL and without white space at either end. */
static inline void
fuzz_check_field(const struct http_header *h, const char *buf, size_t head_len)
{
	CHECK(h->name_len > 0 && inside(h->name, h->name_len, buf, head_len));
	CHECK(inside(h->value, h->value_len, buf, head_len));
	for (size_t i = 0; i < h->value_len; i++)
		CHECK(h->value[i] != '\r' && h->value[i] != '\n' && h->value[i] != '\0');
	if (h->value_len > 0) {
		CHECK(h->value[0] != ' ' && h->value[0] != '\t');
		CHECK(h->value[h->value_len - 1] != ' ' &&
		    h->value[h->value_len - 1] != '\t');
	}
}

/* xorshift32: the split pattern. */
static inline uint32_t
next_random(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

#endif
