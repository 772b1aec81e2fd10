/*
 * supervisor: the olbd master process.  See supervisor.c for the process
 * plumbing, sockets.c for the proxy listening sockets, embedded_redis.c for the
 * private redis-server, olbd.c for the command line, daemonizing and pidfile.
 */
#ifndef OLB_SUPERVISOR_H
#define OLB_SUPERVISOR_H

#include <stddef.h>

struct conf;
struct conf_addr;
struct worker;

struct supervisor_opts {
	const char	 *conf_path;	/* absolute */
	char *const	 *overrides;	/* "KEY=VALUE", re-applied on every reload */
	size_t		  noverrides;
	int		  foreground;	/* -d: log to stderr */
	int		  ready_fd;	/* -1, or where to write one byte once
					 * started: 0 = running, 1 = failed */
};

/* Run the supervisor on conf (ownership passes) until it is stopped.  Returns
 * the process's exit status. */
int	supervisor_run(struct conf *conf, const struct supervisor_opts *opts);

/* Open the log as olbd's processes do: stderr in the foreground (-d), else
 * log.file, where "stderr" means syslog for a daemon.  0 or -1. */
int	supervisor_log_open(const struct conf *conf, int foreground);

/* Open a listening SO_REUSEPORT socket on addr.  The descriptor, or -1 with
 * the failed call logged. */
int	listen_open(const struct conf_addr *addr);

/* Role entry of the embedded Redis: exec redis-server.  Returns only on
 * failure (the exit status). */
int	embedded_redis_main(struct worker *w);
/* Wait up to timeout_ms until the embedded Redis accepts connections.  0 or -1. */
int	embedded_redis_wait(const struct conf *conf, int timeout_ms);

#endif
