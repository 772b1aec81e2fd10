/*
 * conf_errors: the list of configuration errors a load reports (see
 * conf.h): every problem, not just the first, sorted by file and line like
 * a compiler's, printed as "file:line: message".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"

void
conf_errors_add(struct conf_errors *errs, const char *file, int line, const char *fmt, ...)
{
	struct conf_error *v, *e;
	va_list ap;
	int rc;

	if ((v = reallocarray(errs->v, errs->n + 1, sizeof(*v))) == NULL)
		return;
	errs->v = v;
	e = &v[errs->n];
	e->line = line;
	e->file = NULL;
	if (file != NULL && (e->file = strdup(file)) == NULL)
		return;
	va_start(ap, fmt);
	rc = vasprintf(&e->message, fmt, ap);
	va_end(ap);
	if (rc == -1) {
		free(e->file);
		return;
	}
	errs->n++;
}

/* One error as printed: "file:line: message", "file: message" or "message". */
static char *
conf_error_format(const struct conf_error *e)
{
	char *s;
	int rc;

	if (e->line > 0)
		rc = asprintf(&s, "%s:%d: %s", e->file ? e->file : "?", e->line, e->message);
	else if (e->file == NULL || strcmp(e->file, CONF_FILE_CMDLINE) == 0)
		rc = asprintf(&s, "%s", e->message);
	else
		rc = asprintf(&s, "%s: %s", e->file, e->message);
	return rc == -1 ? NULL : s;
}

void
conf_errors_print(const struct conf_errors *errs, void (*emit)(const char *line, void *arg),
    void *arg)
{
	char *line;

	for (size_t i = 0; i < errs->n; i++) {
		if ((line = conf_error_format(&errs->v[i])) == NULL)
			continue;
		emit(line, arg);
		free(line);
	}
}

char *
conf_errors_join(const struct conf_errors *errs)
{
	char *buf = NULL, *line;
	size_t len = 0;
	FILE *fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return NULL;
	for (size_t i = 0; i < errs->n; i++) {
		if ((line = conf_error_format(&errs->v[i])) == NULL)
			continue;
		fprintf(fp, "%s%s", i > 0 ? "\n" : "", line);
		free(line);
	}
	if (fclose(fp) == EOF) {
		free(buf);
		return NULL;
	}
	return buf;
}

void
conf_errors_free(struct conf_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		free(errs->v[i].file);
		free(errs->v[i].message);
	}
	free(errs->v);
	errs->v = NULL;
	errs->n = 0;
}

static int
conf_error_rank(const struct conf_error *e)
{
	if (e->file != NULL && strcmp(e->file, CONF_FILE_CMDLINE) == 0)
		return 0;
	return e->line > 0 ? 1 : 2;
}

/* Command-line errors first, then by file and line, errors without a line
 * last. */
static int
conf_error_before(const struct conf_error *a, const struct conf_error *b)
{
	int ra = conf_error_rank(a), rb = conf_error_rank(b), c;

	if (ra != rb || ra != 1)
		return ra < rb;
	if ((c = strcmp(a->file ? a->file : "", b->file ? b->file : "")) != 0)
		return c < 0;
	return a->line < b->line;
}

/* Sort the errors from index first on, keeping the order of equals: the
 * operator reads them top to bottom, like a compiler's. */
void
conf_errors_sort(struct conf_errors *errs, size_t first)
{
	struct conf_error t;
	size_t j;

	for (size_t i = first + 1; i < errs->n; i++) {
		t = errs->v[i];
		for (j = i; j > first && conf_error_before(&t, &errs->v[j - 1]); j--)
			errs->v[j] = errs->v[j - 1];
		errs->v[j] = t;
	}
}
