/*
 * pcache: a proxy worker's memory of where accounts are placed (SPEC §4), so
 * a placed account's request costs no Redis round trip.  A hash table keyed
 * by (actid, role) that doubles as it fills, up to a fixed number of entries;
 * at that bound it is emptied (the accounts are looked up in Redis again).
 * It is a cache, never the truth: proxy_api.c drops entries on the routing
 * channel's events and on a failed forward.  Single-threaded, no I/O.
 */
#ifndef OLB_PCACHE_H
#define OLB_PCACHE_H

#include <stddef.h>

#include "workers/proxy/placement.h"

struct pcache;

/* An empty cache of at most max (>= 1) entries, or NULL (out of memory). */
struct pcache		*pcache_new(size_t max);
void			 pcache_free(struct pcache *pc);

/* The placement of actid in that role, or NULL, also when it was cached
 * under another master (a client that now copies master must go through
 * the placement script, which moves it); master NULL or "" for a master
 * account.  Valid until the next pcache_put, pcache_drop or pcache_clear. */
const struct placement	*pcache_get(struct pcache *pc, const char *actid,
			    int is_master, const char *master);
/* Remember (or replace) where actid, a client of master (NULL or "" for a
 * master account), is placed.  Out of memory is not an error: the entry is
 * simply not cached. */
void			 pcache_put(struct pcache *pc, const char *actid,
			    int is_master, const char *master,
			    const struct placement *where);
void			 pcache_drop(struct pcache *pc, const char *actid,
			    int is_master);
void			 pcache_clear(struct pcache *pc);
size_t			 pcache_count(const struct pcache *pc);

#endif
