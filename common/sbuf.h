/*
 * sbuf: a growable text buffer for pages built piece by piece (the metrics
 * exposition, the status page).  Appends double the buffer as needed; once
 * an allocation fails the buffer is marked failed and takes nothing more,
 * so a caller checks once at the end.
 */
#ifndef OLB_SBUF_H
#define OLB_SBUF_H

#include <stddef.h>

struct sbuf {
	char	*buf;		/* owned; NUL-terminated when not failed */
	size_t	 len, cap;
	int	 failed;
};

/* An empty buffer of cap bytes to start with.  0 or -1. */
int	sbuf_init(struct sbuf *b, size_t cap);
/* Append printf-formatted text. */
void	sbuf_printf(struct sbuf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The text (ownership passes, *len its length), or NULL if anything
 * failed (the buffer is freed). */
char	*sbuf_finish(struct sbuf *b, size_t *len);

#endif
