/*
 * access_log: one line per request answered by a proxy worker (SPEC §3):
 * time, request id, method, path, status, bytes, duration, instance, actid;
 * text or JSON (log.format), to log.access_log ("" = off, "stderr", "syslog"
 * or a file reopened on SIGUSR1).  Nothing secret is passed in: the bearer
 * token and the body (with its access_token) never reach this module.
 */
#ifndef OLB_ACCESS_LOG_H
#define OLB_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

struct access_entry {
	const char	*request_id;	/* "" when none */
	const char	*method;
	size_t		 method_len;
	const char	*path;
	size_t		 path_len;
	int		 status;
	size_t		 bytes;		/* of the answer, head and body */
	uint64_t	 duration_ms;
	const char	*instance;	/* "" when not proxied */
	const char	*actid;		/* "" when none */
};

/* Open the target; json selects JSON lines.  0, or -1 (logged). */
int	access_log_open(const char *target, int json);
/* 1 if lines are written (callers skip the work otherwise). */
int	access_log_enabled(void);
void	access_log_write(const struct access_entry *e);
/* Reopen a file target (logrotate). */
void	access_log_reopen(void);
void	access_log_close(void);

#endif
