/*
 * admin: the admin listener's worker (SPEC §10).  admin.c serves HTTP on
 * the admin.listen socket (metrics, status page) and reads Redis; page.c
 * turns the status document into the HTML page (pure).
 */
#ifndef OLB_ADMIN_H
#define OLB_ADMIN_H

#include <stddef.h>

#include <json-c/json.h>

/* The status page of doc (the /status.json document) as one
 * self-contained HTML document refreshing every refresh_s seconds.  A
 * malloc'd string (*len bytes), or NULL when out of memory. */
char	*page_render(json_object *doc, int refresh_s, size_t *len);

#endif
