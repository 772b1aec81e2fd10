/*
 * libFuzzer target for the rendering of metrics read back from Redis
 * (common/metrics_text.c): arbitrary bytes cut into lines, each line a
 * field and its value split at the last space, as HGETALL of a metrics hash
 * gives them (a damaged or foreign hash included).
 *
 * Invariants: the output is text lines, each a comment or "field value"
 * where field is one of the input's; every input line yields at most one
 * output line besides the families' two comment lines.
 *
 * Build and run: make -f tests/fuzz/Makefile fuzz-run TARGET=metrics
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"
#include "tests/fuzz/fuzz.h"

#define MAX_SAMPLES	256

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct metric_sample v[MAX_SAMPLES];
	char *text = malloc(size + 1), *line, *save = NULL, *out, *sp;
	size_t n = 0, len = 0, lines = 0;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL && n < MAX_SAMPLES;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((sp = strrchr(line, ' ')) == NULL)
			continue;
		*sp = '\0';
		v[n].field = line;
		v[n++].value = sp + 1;
	}
	out = metrics_render(v, n, &len);
	CHECK(out != NULL);		/* no memory shortage here */
	CHECK(strlen(out) == len);
	for (char *p = out; *p != '\0'; p = strchr(p, '\n') + 1) {
		CHECK(strchr(p, '\n') != NULL);
		if (*p != '#')
			lines++;
	}
	CHECK(lines <= n);
	free(out);
	free(text);
	return 0;
}
