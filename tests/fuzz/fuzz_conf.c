/*
 * libFuzzer target for the configuration loader: arbitrary bytes as the
 * configuration file (through a memfd), or, when the input starts with 'O',
 * the rest as one -o override over an empty file.  conf_load must return a
 * configuration or errors, never crash, leak or read out of bounds.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "tests/fuzz/fuzz.h"


static void
fuzz_load(const char *path, char *const *overrides, size_t n)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf;
	char *joined;

	conf = conf_load(path, overrides, n, &errs);
	if (conf == NULL && errs.n == 0)
		abort();	/* a failed load always says why */
	joined = conf_errors_join(&errs);
	free(joined);
	conf_errors_free(&errs);
	conf_free(conf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], *override;
	int fd;

	if ((fd = memfd_create("fuzz.conf", 0)) == -1)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (size > 0 && data[0] == 'O') {
		if ((override = strndup((const char *)data + 1, size - 1)) != NULL) {
			fuzz_load(path, &override, 1);
			free(override);
		}
	} else if (write(fd, data, size) == (ssize_t)size)
		fuzz_load(path, NULL, 0);
	close(fd);
	return 0;
}
