/*
 * util: clocks, descriptors, host name and process titles (see util.h).
 *
 * The process title is rewritten in place over argv (and the environment
 * strings that follow it, after moving them to the heap), the way nginx and
 * sendmail do, so ps shows each olbd process's role.
 */
#include <sys/prctl.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

extern char **environ;

static char	*title_start;	/* argv[0]: the area we may overwrite */
static size_t	 title_size;

uint64_t
util_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
util_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int
util_set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return -1;
	return 0;
}

const char *
util_hostname(void)
{
	static char name[256];

	if (name[0] == '\0' && gethostname(name, sizeof(name) - 1) == -1)
		snprintf(name, sizeof(name), "localhost");
	return name;
}

/* The copy of the environment proctitle_init made, for good: a setenv
 * (the scheduler's TZ) moves environ to an array of libc's own, and this
 * one must still be reachable (volatile: a store never read is kept). */
static char	**volatile proctitle_env;

void
proctitle_init(int argc, char **argv)
{
	char *end;
	size_t n = 0;
	char **env;

	if (argc == 0 || argv[0] == NULL)
		return;
	end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc && argv[i] == end; i++)
		end = argv[i] + strlen(argv[i]) + 1;
	for (; environ[n] != NULL; n++)
		;
	if (n > 0 && environ[0] == end) {
		if ((env = calloc(n + 1, sizeof(*env))) == NULL)
			return;
		for (size_t i = 0; i < n; i++) {
			if (environ[i] == end)
				end = environ[i] + strlen(environ[i]) + 1;
			if ((env[i] = strdup(environ[i])) == NULL)
				return;
		}
		environ = proctitle_env = env;
	}
	/* argv[1..] now live only in the caller's copies; keep argv[0]'s area. */
	title_start = argv[0];
	title_size = (size_t)(end - argv[0]);
}

void
proctitle_set(const char *fmt, ...)
{
	char title[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(title, sizeof(title), fmt, ap);
	va_end(ap);
	prctl(PR_SET_NAME, title, 0, 0, 0);
	if (title_start == NULL || title_size < 2)
		return;
	memset(title_start, 0, title_size);
	snprintf(title_start, title_size, "%s", title);
}

uint32_t
util_fnv1a(const char *s)
{
	uint32_t x = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		x = (x ^ *p) * 16777619u;
	return x;
}

size_t
util_decimal(uint64_t v, char *out)
{
	char tmp[UTIL_DECIMAL_MAX], *p = tmp + sizeof(tmp);
	size_t n;

	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	n = (size_t)(tmp + sizeof(tmp) - p);
	memcpy(out, p, n);
	return n;
}
