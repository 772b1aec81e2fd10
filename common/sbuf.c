/*
 * sbuf: a growable text buffer (see sbuf.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/sbuf.h"

int
sbuf_init(struct sbuf *b, size_t cap)
{
	b->len = 0;
	b->cap = cap > 0 ? cap : 64;
	b->failed = (b->buf = malloc(b->cap)) == NULL;
	if (!b->failed)
		b->buf[0] = '\0';
	return b->failed ? -1 : 0;
}

void
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *p;
	int n;

	if (b->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if ((size_t)n < b->cap - b->len) {
		b->len += (size_t)n;
		return;
	}
	for (cap = b->cap * 2; cap - b->len <= (size_t)n; cap *= 2)
		;
	if ((p = realloc(b->buf, cap)) == NULL) {
		b->failed = 1;
		return;
	}
	b->buf = p;
	b->cap = cap;
	va_start(ap, fmt);
	vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *
sbuf_finish(struct sbuf *b, size_t *len)
{
	if (b->failed) {
		free(b->buf);
		b->buf = NULL;
		return NULL;
	}
	*len = b->len;
	return b->buf;
}
