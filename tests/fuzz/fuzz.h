/*
 * fuzz: what the libFuzzer targets share: the invariant check, a pointer
 * range check and the split pattern generator.  Header-only (every target is
 * one translation unit).
 */
#ifndef OLB_FUZZ_H
#define OLB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define CHECK(cond)	do { if (!(cond)) abort(); } while (0)
#define NLIMITS(a)	(sizeof(a) / sizeof((a)[0]))

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 if p[0..len) lies inside buf[0..buf_len). */
static inline int
inside(const char *p, size_t len, const char *buf, size_t buf_len)
{
	return p >= buf && len <= buf_len && (size_t)(p - buf) <= buf_len - len;
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
