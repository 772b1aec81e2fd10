/*
 * access_log: the proxy workers' request log (see access_log.h).  A line is
 * built in one buffer and written with one write(2), so lines of several
 * workers appending to one file never interleave.  Strings that come from
 * the client (method, path, request id, actid) are escaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "workers/proxy/access_log.h"

#define ACCESS_LINE_MAX	2048

static struct {
	int	 fd;		/* -1: off */
	int	 use_syslog;
	int	 json;
	char	 path[1024];
} al = { -1, 0, 0, "" };

int
access_log_open(const char *target, int json)
{
	access_log_close();
	al.json = json;
	if (target == NULL || *target == '\0')
		return 0;
	if (strcmp(target, "stderr") == 0) {
		al.fd = 2;
		return 0;
	}
	if (strcmp(target, "syslog") == 0) {
		al.use_syslog = 1;
		al.fd = 2;
		return 0;
	}
	snprintf(al.path, sizeof(al.path), "%s", target);
	if ((al.fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) == -1) {
		log_error("open(%s): %s", target, strerror(errno));
		return -1;
	}
	return 0;
}

int
access_log_enabled(void)
{
	return al.fd != -1;
}

void
access_log_reopen(void)
{
	int fd;

	if (al.path[0] == '\0' || al.fd == -1)
		return;
	if ((fd = open(al.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) == -1) {
		log_error("open(%s): %s", al.path, strerror(errno));
		return;
	}
	dup2(fd, al.fd);
	close(fd);
}

void
access_log_close(void)
{
	if (al.fd > 2)
		close(al.fd);
	al.fd = -1;
	al.use_syslog = 0;
	al.path[0] = '\0';
}

/* Append s[0..n) escaped for a JSON string (and safe in a text line). */
static void
access_escape(char *buf, size_t size, size_t *off, const char *s, size_t n)
{
	for (size_t i = 0; i < n && *off + 7 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			buf[(*off)++] = '\\';
			buf[(*off)++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			*off += (size_t)snprintf(buf + *off, size - *off, "\\u%04x", c);
		} else
			buf[(*off)++] = (char)c;
	}
}

static void
access_add(char *buf, size_t size, size_t *off, const char *fmt, const char *s,
    size_t n)
{
	int k;

	if (*off >= size)
		return;
	k = snprintf(buf + *off, size - *off, fmt, "");
	*off += k > 0 ? (size_t)k : 0;
	access_escape(buf, size, off, s, n);
}

void
access_log_write(const struct access_entry *e)
{
	char line[ACCESS_LINE_MAX], when[40];
	struct timespec ts;
	struct tm tm;
	size_t off = 0, n;

	if (al.fd == -1)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	off = (size_t)snprintf(line, sizeof(line), al.json ?
	    "{\"ts\":\"%s\",\"request_id\":\"" : "%s request_id=", when);
	access_escape(line, sizeof(line), &off, e->request_id, strlen(e->request_id));
	access_add(line, sizeof(line), &off, al.json ? "\",\"method\":\"%s" : " method=%s",
	    e->method, e->method_len);
	access_add(line, sizeof(line), &off, al.json ? "\",\"path\":\"%s" : " path=%s",
	    e->path, e->path_len);
	if (off < sizeof(line))
		off += (size_t)snprintf(line + off, sizeof(line) - off, al.json ?
		    "\",\"status\":%d,\"bytes\":%zu,\"duration_ms\":%llu,\"instance\":\"" :
		    " status=%d bytes=%zu duration_ms=%llu instance=", e->status, e->bytes,
		    (unsigned long long)e->duration_ms);
	access_escape(line, sizeof(line), &off, e->instance, strlen(e->instance));
	access_add(line, sizeof(line), &off, al.json ? "\",\"actid\":\"%s" : " actid=%s",
	    e->actid, strlen(e->actid));
	if (off + 4 >= sizeof(line))
		off = sizeof(line) - 4;
	off += (size_t)snprintf(line + off, sizeof(line) - off, "%s\n", al.json ? "\"}" : "");
	if (al.use_syslog)
		syslog(LOG_INFO, "%.*s", (int)off - 1, line);
	else
		(void)!write(al.fd, line, off);
}
