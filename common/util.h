/*
 * util: small helpers shared by every process: clocks, descriptors, the host
 * name, a number's digits, and the process title shown by ps ("olbd: proxy
 * 1").
 */
#ifndef OLB_UTIL_H
#define OLB_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Wall-clock time in ms since the epoch (for records and events). */
uint64_t	 util_wall_ms(void);
/* Monotonic time in ms (for durations). */
uint64_t	 util_mono_ms(void);
/* Monotonic time in microseconds (latency metrics). */
uint64_t	 util_mono_us(void);

/* Set O_NONBLOCK on fd.  0 or -1. */
int		 util_set_nonblock(int fd);

/* This host's name, as events and heartbeats report it (cached). */
const char	*util_hostname(void);
/* The 32-bit FNV-1a hash of a string: stable across processes and runs. */
uint32_t	 util_fnv1a(const char *s);
/* v in decimal at out (room for UTIL_DECIMAL_MAX digits), no NUL: its
 * length.  For the hot paths that would otherwise call printf. */
#define UTIL_DECIMAL_MAX	20
size_t		 util_decimal(uint64_t v, char *out);

/* Take over argv's memory so proctitle_set can rewrite what ps shows.  Call
 * once, first thing in main; it moves environ to the heap. */
void		 proctitle_init(int argc, char **argv);
/* Show fmt... as the process title (and the first 15 bytes as comm). */
void		 proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
