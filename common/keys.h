/*
 * keys: every Redis key and channel name olb uses is built here and nowhere
 * else, from redis.prefix and redis.events_channel.  See docs/ARCHITECTURE.md
 * for what each key holds.
 */
#ifndef OLB_KEYS_H
#define OLB_KEYS_H

#include <stddef.h>

/* Remember the prefix ("loadbalancer:") and events channel.  0 or -1. */
int		 keys_init(const char *prefix, const char *events_channel);

const char	*keys_events_channel(void);
/* "<prefix>worker:<host>:<role>": heartbeat of one worker (string, TTL). */
int		 keys_worker(char *buf, size_t size, const char *host, const char *role);
/* "<prefix>worker:*": pattern for SCAN over heartbeats. */
int		 keys_worker_pattern(char *buf, size_t size);

#endif
