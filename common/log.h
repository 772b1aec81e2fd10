/*
 * log: every line olb writes about itself.
 *
 * Levels debug < info < warn < error < notify (notify is for what an operator
 * must see: it is never filtered out).  Text or JSON lines, to stderr, a file
 * (reopened on request, for logrotate) or syslog; each line carries the time,
 * the process role and its pid.  Callers never pass secrets to these functions.
 */
#ifndef OLB_LOG_H
#define OLB_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_NOTIFY,
};

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

/* Set where lines go.  target: "stderr", "syslog" or a file path (appended).
 * Until called, lines go to stderr as text at info.  0, or -1 if the file
 * cannot be opened (logging then stays on stderr). */
int		 log_open(const char *target, enum log_level level, enum log_format format);
/* Name the role printed on each line ("supervisor", "proxy 1", ...). */
void		 log_set_role(const char *role);
/* Reopen the file target (SIGUSR1).  0 or -1. */
int		 log_reopen(void);
/* Close the current target; lines go to stderr again. */
void		 log_close(void);
int		 log_enabled(enum log_level level);

/* Parse "debug", "info", ... into *level.  0 or -1. */
int		 log_level_parse(const char *name, enum log_level *level);
const char	*log_level_name(enum log_level level);

void		 log_msg(enum log_level level, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
void		 log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_debug(...)	do { if (log_enabled(LOG_LEVEL_DEBUG)) \
				log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...)	log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_notify(...)	log_msg(LOG_LEVEL_NOTIFY, __VA_ARGS__)

/* Log at error level and exit(status).  Only for start-up failures and broken
 * invariants. */
void		 fatal(int status, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3), noreturn));

#endif
