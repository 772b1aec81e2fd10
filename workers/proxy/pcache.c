/*
 * pcache: the placement cache of a proxy worker (see pcache.h).  Separate
 * chaining over a power-of-two bucket array; each entry is one allocation
 * holding its key, and keeps its hash so a chain walk compares strings only
 * on a hash match.  The array doubles when the entries outnumber the
 * buckets, so chains stay short at any fleet size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workers/proxy/pcache.h"

#define PCACHE_MIN_BUCKETS	1024

struct pcache_entry {
	struct pcache_entry	*next;
	uint32_t		 hash;
	int			 is_master;
	struct placement	 where;
	char			*master;	/* a client's master, in this
						   allocation after actid */
	char			 actid[];	/* NUL-terminated */
};

struct pcache {
	struct pcache_entry	**buckets;
	size_t			 nbuckets;	/* a power of two */
	size_t			 count;
	size_t			 max;
};

/* FNV-1a of actid, seeded by the role. */
static uint32_t
pcache_hash(const char *actid, int is_master)
{
	uint32_t h = 2166136261u ^ (uint32_t)(is_master != 0);

	for (; *actid != '\0'; actid++)
		h = (h ^ (unsigned char)*actid) * 16777619u;
	return h;
}

struct pcache *
pcache_new(size_t max)
{
	struct pcache *pc;

	if (max == 0 || (pc = calloc(1, sizeof(*pc))) == NULL)
		return NULL;
	pc->nbuckets = PCACHE_MIN_BUCKETS;
	pc->max = max;
	if ((pc->buckets = calloc(pc->nbuckets, sizeof(*pc->buckets))) == NULL) {
		free(pc);
		return NULL;
	}
	return pc;
}

void
pcache_clear(struct pcache *pc)
{
	for (size_t i = 0; i < pc->nbuckets; i++) {
		while (pc->buckets[i] != NULL) {
			struct pcache_entry *e = pc->buckets[i];

			pc->buckets[i] = e->next;
			free(e);
		}
	}
	pc->count = 0;
}

void
pcache_free(struct pcache *pc)
{
	if (pc == NULL)
		return;
	pcache_clear(pc);
	free(pc->buckets);
	free(pc);
}

size_t
pcache_count(const struct pcache *pc)
{
	return pc->count;
}

/* The link that points at the entry of (actid, role), or at the NULL that
 * ends its chain. */
static struct pcache_entry **
pcache_slot(struct pcache *pc, const char *actid, int is_master, uint32_t h)
{
	struct pcache_entry **p = &pc->buckets[h & (pc->nbuckets - 1)];

	is_master = is_master != 0;
	for (; *p != NULL; p = &(*p)->next)
		if ((*p)->hash == h && (*p)->is_master == is_master &&
		    strcmp((*p)->actid, actid) == 0)
			break;
	return p;
}

/* Double the bucket array; on failure the cache keeps its size. */
static void
pcache_grow(struct pcache *pc)
{
	size_t n = pc->nbuckets * 2;
	struct pcache_entry **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;
	for (size_t i = 0; i < pc->nbuckets; i++) {
		while (pc->buckets[i] != NULL) {
			struct pcache_entry *e = pc->buckets[i];

			pc->buckets[i] = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(pc->buckets);
	pc->buckets = b;
	pc->nbuckets = n;
}

const struct placement *
pcache_get(struct pcache *pc, const char *actid, int is_master,
    const char *master)
{
	struct pcache_entry *e = *pcache_slot(pc, actid, is_master,
	    pcache_hash(actid, is_master));

	if (e == NULL || strcmp(e->master, master != NULL ? master : "") != 0)
		return NULL;
	return &e->where;
}

void
pcache_put(struct pcache *pc, const char *actid, int is_master,
    const char *master, const struct placement *where)
{
	uint32_t h = pcache_hash(actid, is_master);
	struct pcache_entry **p = pcache_slot(pc, actid, is_master, h), *e;
	size_t len, mlen;

	if (master == NULL)
		master = "";
	if (*p != NULL) {
		/* replaced whole: the master may have changed */
		e = *p;
		*p = e->next;
		free(e);
		pc->count--;
	}
	if (pc->count >= pc->max) {
		pcache_clear(pc);
		p = pcache_slot(pc, actid, is_master, h);
	} else if (pc->count >= pc->nbuckets) {
		pcache_grow(pc);
		p = pcache_slot(pc, actid, is_master, h);
	}
	len = strlen(actid);
	mlen = strlen(master);
	if ((e = malloc(sizeof(*e) + len + mlen + 2)) == NULL)
		return;
	e->next = *p;	/* the rest of the chain, when an entry was replaced */
	e->hash = h;
	e->is_master = is_master != 0;
	e->where = *where;
	memcpy(e->actid, actid, len + 1);
	e->master = e->actid + len + 1;
	memcpy(e->master, master, mlen + 1);
	*p = e;
	pc->count++;
}

void
pcache_drop(struct pcache *pc, const char *actid, int is_master)
{
	struct pcache_entry **p = pcache_slot(pc, actid, is_master,
	    pcache_hash(actid, is_master)), *e = *p;

	if (e == NULL)
		return;
	*p = e->next;
	free(e);
	pc->count--;
}
