/*
 * log: text or JSON lines to stderr, a file or syslog (see log.h).
 *
 * A line is formatted whole into one buffer and written with one write(2), so
 * lines from several processes appending to one file never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define LOG_LINE_MAX	4096

enum log_target {
	LOG_TO_STDERR,
	LOG_TO_FILE,
	LOG_TO_SYSLOG,
};

static struct {
	enum log_target	 target;
	enum log_level	 level;
	enum log_format	 format;
	int		 fd;		/* the file, or 2 */
	char		 path[1024];
	char		 role[32];
} log_state = { LOG_TO_STDERR, LOG_LEVEL_INFO, LOG_FORMAT_TEXT, 2, "", "olbd" };

static const char *const log_level_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_NOTIFY] = "notify",
};

static int
log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd == -1)
		log_error("open(%s): %s", path, strerror(errno));
	return fd;
}

int
log_open(const char *target, enum log_level level, enum log_format format)
{
	int fd;

	log_close();
	log_state.level = level;
	log_state.format = format;
	if (target == NULL || strcmp(target, "stderr") == 0 || *target == '\0')
		return 0;
	if (strcmp(target, "syslog") == 0) {
		openlog("olbd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_state.target = LOG_TO_SYSLOG;
		return 0;
	}
	if ((fd = log_open_file(target)) == -1)
		return -1;
	snprintf(log_state.path, sizeof(log_state.path), "%s", target);
	log_state.fd = fd;
	log_state.target = LOG_TO_FILE;
	return 0;
}

void
log_set_role(const char *role)
{
	snprintf(log_state.role, sizeof(log_state.role), "%s", role);
}

int
log_reopen(void)
{
	int fd;

	if (log_state.target != LOG_TO_FILE)
		return 0;
	if ((fd = log_open_file(log_state.path)) == -1)
		return -1;
	dup2(fd, log_state.fd);
	close(fd);
	return 0;
}

void
log_close(void)
{
	if (log_state.target == LOG_TO_FILE)
		close(log_state.fd);
	else if (log_state.target == LOG_TO_SYSLOG)
		closelog();
	log_state.target = LOG_TO_STDERR;
	log_state.fd = 2;
}

int
log_enabled(enum log_level level)
{
	return level >= log_state.level;
}

int
log_level_parse(const char *name, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(log_level_names) / sizeof(*log_level_names); i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return log_level_names[level];
}

/* Append s to buf at *off as JSON string contents (without quotes). */
static void
log_json_escape(char *buf, size_t size, size_t *off, const char *s)
{
	for (; *s != '\0' && *off + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[(*off)++] = '\\';
			buf[(*off)++] = (char)c;
		} else if (c < 0x20) {
			*off += (size_t)snprintf(buf + *off, size - *off, "\\u%04x", c);
		} else
			buf[(*off)++] = (char)c;
	}
}

static size_t
log_format_line(char *buf, size_t size, enum log_level level, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char when[40];
	size_t off;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	off = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + off, sizeof(when) - off, ".%03ldZ", ts.tv_nsec / 1000000);

	if (log_state.format == LOG_FORMAT_TEXT) {
		int n = snprintf(buf, size, "%s olbd[%d] %s %s: %s\n", when,
		    (int)getpid(), log_state.role, log_level_names[level], msg);
		return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
	}
	off = (size_t)snprintf(buf, size,
	    "{\"ts\":\"%s\",\"level\":\"%s\",\"role\":\"%s\",\"pid\":%d,\"msg\":\"",
	    when, log_level_names[level], log_state.role, (int)getpid());
	log_json_escape(buf, size, &off, msg);
	off += (size_t)snprintf(buf + off, size - off, "\"}\n");
	return off >= size ? size - 1 : off;
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const int syslog_prio[] = {
		[LOG_LEVEL_DEBUG] = LOG_DEBUG,
		[LOG_LEVEL_INFO] = LOG_INFO,
		[LOG_LEVEL_WARN] = LOG_WARNING,
		[LOG_LEVEL_ERROR] = LOG_ERR,
		[LOG_LEVEL_NOTIFY] = LOG_NOTICE,
	};
	char msg[LOG_LINE_MAX / 2], line[LOG_LINE_MAX];
	int saved_errno = errno;
	size_t n;

	if (!log_enabled(level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_state.target == LOG_TO_SYSLOG) {
		syslog(syslog_prio[level], "%s: %s", log_state.role, msg);
	} else {
		n = log_format_line(line, sizeof(line), level, msg);
		(void)!write(log_state.fd, line, n);
	}
	errno = saved_errno;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
fatal(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(status);
}
