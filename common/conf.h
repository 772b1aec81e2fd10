/*
 * conf: olb's configuration, read from one libconfig file plus `-o KEY=VALUE`
 * overrides, through a single schema table (path, type, bounds, default, flags).
 *
 * A load builds a fresh struct conf and either returns it whole and valid or
 * returns NULL with every error collected as "file:line: message".  Nothing is
 * ever half-applied: reloads build a new object and swap it in (build, validate,
 * swap).  Secrets (flag SECRET) may be written as "env:NAME" or "file:/path";
 * they are wiped when the object is freed and never appear in messages.
 */
#ifndef OLB_CONF_H
#define OLB_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define CONF_DEFAULT_PATH	"/etc/olbd/olbd.conf"

/* The file of errors found in -o overrides (line 0).  Their message already
 * names the option ("-o proxy.foo: unknown setting"), so they print alone. */
#define CONF_FILE_CMDLINE	"command line"

struct conf_strlist {
	char		**v;	/* owned, each string owned */
	size_t		  n;
};

/* One "host:port" endpoint. */
struct conf_addr {
	char		 host[256];
	uint16_t	 port;
};

struct conf_job {
	char		*name;		/* "launch_initial", "terminate_all" */
	char		*cron;		/* 5-field cron expression */
	char		*action;	/* "fleet_up", "fleet_down" */
	char		*skip_file;	/* holidays, one ISO date a line, or NULL */
	int		*skip;		/* holidays (skip_dates and skip_file):
					   sorted YYYYMMDD, owned */
	size_t		 nskip;
};

struct conf_tag {
	char		*key;
	char		*value;
};

enum provider_type {
	PROVIDER_PROCESS,
	PROVIDER_STATIC,
	PROVIDER_EC2,
};

struct conf {
	char		*path;		/* absolute path of the file loaded */

	struct {
		char		*pidfile;		/* NO_RELOAD */
		char		*user;			/* NO_RELOAD; "" = do not switch */
		int64_t		 drain_timeout_ms;
		int64_t		 breaker_deaths;	/* N deaths ... */
		int64_t		 breaker_window_ms;	/* ... in T ms trip the breaker */
		int64_t		 heartbeat_ms;		/* worker heartbeat period */
		int64_t		 lease_ms;		/* singleton duty lease */
	} daemon;

	struct {
		enum log_level	 level;
		enum log_format	 format;
		char		*file;		/* "stderr", "syslog" or a path */
		char		*access_log;	/* "" = off, "stderr", "syslog" or a path */
	} log;

	struct {
		char		*host;
		int64_t		 port;
		char		*socket;	/* unix socket path, "" = use host:port */
		char		*password;	/* SECRET, "" = no AUTH */
		int64_t		 db;
		int64_t		 connect_timeout_ms;
		int64_t		 command_timeout_ms;
		int		 embedded;	/* NO_RELOAD: run a private redis-server */
		char		*embedded_dir;	/* NO_RELOAD: its data directory */
		char		*embedded_bin;	/* NO_RELOAD: redis-server executable */
		char		*prefix;	/* "loadbalancer:" */
		char		*events_channel;/* "loadbalancer:events" */
		int64_t		 wait_replicas;	/* placements: WAIT for this many */
		int64_t		 wait_timeout_ms;
		struct {
			char			*master;	/* "" = no Sentinel */
			struct conf_strlist	 nodes;		/* "ip:port" */
			int64_t			 check_ms;	/* ask this often */
		} sentinel;
	} redis;

	struct {
		struct conf_addr	 listen;
		int64_t			 workers;	/* 0 = one per CPU (resolved at load) */
		struct conf_strlist	 auth_tokens;	/* SECRET */
		int64_t			 max_body;
		int64_t			 max_header;
		int64_t			 instance_port;
		int64_t			 header_timeout_ms;
		int64_t			 body_timeout_ms;
		int64_t			 idle_timeout_ms;
		int64_t			 connect_timeout_ms;	/* upstream */
		int64_t			 upstream_timeout_ms;	/* upstream answer */
		int64_t			 max_connections;	/* per worker */
		int64_t			 placement_cache;	/* entries per worker */
		int64_t			 redis_wait_ms;	/* a request (or a new
							   worker) waits for
							   Redis this long */
	} proxy;

	struct {
		struct conf_addr	 listen;	/* port 0 = off */
		char			*auth_token;	/* "" = none */
		int64_t			 refresh_s;	/* of the status page */
	} admin;

	struct {
		int64_t		 initial_instances;
		int64_t		 master_threshold;
		int64_t		 client_threshold;
		int64_t		 max_users_per_master;
		int64_t		 max_users_per_client;
		int64_t		 max_masters;
		int64_t		 max_clients;
		int64_t		 cooldown_ms;
		int64_t		 drain_timeout_ms;
		int		 drain_timeout_terminate;
		int64_t		 pending_timeout_ms;
		int64_t		 replace_max;	/* unhealthy replaced at once */
	} scaling;

	struct {
		enum provider_type	 type;
		char			*cluster;	/* olb:cluster tag value */
		struct {
			char		*command;	/* "{port}" and "{name}" substituted */
			int64_t		 port_min;
			int64_t		 port_max;
		} process;
		struct {
			struct conf_strlist	 masters;	/* "ip:port" */
			struct conf_strlist	 clients;
		} static_;
		struct {
			char		*region;
			char		*ami_id;
			char		*instance_type;
			char		*key_name;
			char		*iam_instance_profile;
			char		*security_group;
			char		*subnet_id;
			int		 associate_public_ip;
			struct conf_tag	*tags;		/* owned array */
			size_t		 ntags;
			char		*endpoint;	/* "" = https://ec2.<region>.amazonaws.com */
			char		*metadata_endpoint;
			char		*profile;
			char		*access_key_id;		/* SECRET */
			char		*secret_access_key;	/* SECRET */
			int64_t		 launch_timeout_ms;
		} ec2;
	} provider;

	struct {
		int64_t		 interval_ms;
		int64_t		 pending_interval_ms;
		int64_t		 suspect_interval_ms;
		int64_t		 timeout_ms;
		char		*path;		/* probed on every instance */
		int64_t		 history;
		int64_t		 fall;
		int64_t		 rise;
		int64_t		 replace_after_ms;
		int64_t		 panic_percent;	/* 100: never panic */
	} health;

	struct {
		char		*timezone;
		int64_t		 run_timeout_ms;	/* a fleet_up/down gives up */
		int64_t		 history;	/* run records kept per job */
		int64_t		 archive_ttl_ms;	/* a day's archived placements */
		struct conf_job	*jobs;		/* owned array */
		size_t		 njobs;
	} scheduler;

	struct {
		char		*webhook_url;	/* SECRET; "" = off */
		int64_t		 batch_ms;
		int64_t		 queue;		/* events the outbox keeps */
		int64_t		 timeout_ms;	/* one post */
		int		 enabled;	/* webhook_url set (derived,
						   kept when it is wiped) */
	} notify;
};

/* One error found while loading: "file:line: message" is printed from it. */
struct conf_error {
	char		*file;
	int		 line;		/* 0 when the error is not tied to a line */
	char		*message;
};

struct conf_errors {
	struct conf_error	*v;
	size_t			 n;
};

/* Parse path, apply overrides ("KEY=VALUE" strings, in order), fill defaults,
 * check types, bounds and the semantic rules.  Returns a new conf owned by the
 * caller, or NULL with every problem appended to errs (never just the first). */
struct conf	*conf_load(const char *path, char *const *overrides, size_t noverrides,
		    struct conf_errors *errs);
/* Wipe secrets and free everything; NULL is fine. */
void		 conf_free(struct conf *conf);

/* The roles of olbd, as the owners of secrets.  Only the scaler holds the
 * cloud credentials, only the proxies the API tokens, only the health
 * worker (the notifier) the webhook URL; every role needs Redis'
 * password (the embedded Redis too). */
#define CONF_ROLE_PROXY		0x01
#define CONF_ROLE_SCALER	0x02
#define CONF_ROLE_HEALTH	0x04
#define CONF_ROLE_SCHEDULER	0x08
#define CONF_ROLE_REDIS		0x10
#define CONF_ROLE_ADMIN		0x20
#define CONF_ROLE_ALL		0x3f
/* In a process forked to be one of roles: wipe from c every secret those
 * roles do not use, with the environment variables that hold it (the
 * env:NAME it was read from), and unless roles has the scaler, the AWS
 * credential variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN): a wiped string or variable reads as "". */
void		 conf_keep_secrets(struct conf *c, unsigned int roles);

/* Errors for settings flagged NO_RELOAD that differ between old and new, e.g.
 * "daemon.pidfile cannot be changed by a reload (restart olbd)".  0 if none. */
int		 conf_check_reload(const struct conf *old, const struct conf *new_conf,
		    struct conf_errors *errs);

/* Append one error (the strings are copied). */
void		 conf_errors_add(struct conf_errors *errs, const char *file, int line,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Print "file:line: message" lines to fp-like sink: each line passed to emit.
 * Errors without a line print as "file: message", those of the command line
 * as the bare message. */
void		 conf_errors_print(const struct conf_errors *errs,
		    void (*emit)(const char *line, void *arg), void *arg);
/* All errors joined by "\n" into a new string (caller frees), "" if none. */
char		*conf_errors_join(const struct conf_errors *errs);
void		 conf_errors_free(struct conf_errors *errs);
/* Sort the errors from index first on by file and line, keeping the order
 * of equals. */
void		 conf_errors_sort(struct conf_errors *errs, size_t first);

/* Make later loads resolve relative paths (and "file:" secrets, @include)
 * against dir instead of the working directory of the first load. */
void		 conf_set_base_dir(const char *dir);

/* Parse "host:port" (IPv4, [IPv6] or name) into addr.  0 or -1. */
int		 conf_addr_parse(const char *s, struct conf_addr *addr);
/* "process", "static", "ec2": provider.type as written (and as the
 * "provider" member of the instance records). */
const char	*conf_provider_name(enum provider_type type);

#endif
