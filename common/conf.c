/*
 * conf: the schema of olbd.conf and its loader (see conf.h).
 *
 * Every setting is one row of conf_schema[] below: its path, its type, where
 * it lives in struct conf, its default, bounds, flags and validator.  A load
 * reads the file with libconfig, merges the -o overrides into the tree,
 * reports every setting the schema does not know, converts and checks every
 * row, then runs the checks that involve several settings.  Errors are
 * collected, never stopped at, except a syntax error (the tree is then
 * meaningless).  Nothing but this file knows libconfig.
 *
 * Relative paths are made absolute against the base directory: the working
 * directory at the first load, or what conf_set_base_dir() said, so a reload
 * after the daemon changed directory means the same files.
 */
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "common/conf.h"
#include "common/cron.h"
#include "common/crontz.h"

#define CONF_NELEMS(a)		(sizeof(a) / sizeof((a)[0]))
#define CONF_MAX_ENTRIES	128
#define CONF_SECRET_MAX		65536	/* bytes read from a "file:" secret */
#define CONF_PERTURB_BYTE	0xa5	/* freed memory during a load */
#define CONF_SCRUB_MAX		1032	/* glibc's largest thread-cached block */
#define CONF_SCRUB_PER_SIZE	16	/* more than it caches per size (7) */
#define CONF_MESSAGE_MAX	1024
#define CONF_SKIP_MAX		4096	/* holidays per job */
#define CONF_SKIP_FILE_MAX	(1 << 20)	/* bytes of a skip_file */

enum conf_type {
	CT_BOOL,	/* int, 0 or 1 */
	CT_INT,		/* int64_t within [min, max] */
	CT_STRING,	/* char * */
	CT_PATH,	/* char *, made absolute */
	CT_COMMAND,	/* char *, its program made absolute if it has a '/' */
	CT_ENUM,	/* int: the index of the name in names[] */
	CT_ADDR,	/* struct conf_addr, port within [min, max] */
	CT_STRLIST,	/* struct conf_strlist; a lone string is a list of one */
	CT_CUSTOM,	/* converted and freed by the row's own functions */
};

#define F_NO_RELOAD	0x01	/* a reload may not change it */
#define F_SECRET	0x02	/* "env:NAME" or "file:/path"; wiped; never quoted */
#define F_TARGET	0x04	/* "stderr" and "syslog" are not paths */
#define F_BARE		0x08	/* a name without '/' is looked up in PATH */
/* A secret's owners: the roles that keep it (conf_keep_secrets). */
#define F_FOR(roles)	((roles) << 8)
#define F_OWNERS(flags)	((unsigned int)(flags) >> 8)

struct conf_ctx;
struct conf_entry;

/* A validator: NULL if value is acceptable, else a message (static or written
 * in buf) that never quotes the value of a secret. */
typedef const char	*conf_check_fn(const char *value, char *buf, size_t len);
typedef int		 conf_load_fn(struct conf_ctx *, const struct conf_entry *,
			    const config_setting_t *);
typedef void		 conf_release_fn(struct conf *);

struct conf_entry {
	const char		*path;
	enum conf_type		 type;
	size_t			 offset;	/* in struct conf */
	int			 flags;
	int64_t			 def_int;	/* CT_BOOL, CT_INT */
	const char		*def_str;	/* string types; NULL = "" */
	int64_t			 min, max;	/* CT_INT value, CT_ADDR port */
	const char *const	*names;		/* CT_ENUM, NULL-terminated */
	conf_check_fn		*check;		/* strings, list elements */
	conf_load_fn		*load;		/* CT_CUSTOM */
	conf_release_fn		*release;	/* CT_CUSTOM */
};

/* One load in progress. */
struct conf_ctx {
	config_t		 cfg;
	const char		*name;		/* the file as the caller named it */
	char			*abspath;	/* what libconfig read */
	struct conf		*conf;		/* being filled; owned until returned */
	struct conf_errors	*errs;
	size_t			 nerrors;	/* counted even if errs ran out of memory */
	unsigned char		 bad[CONF_MAX_ENTRIES];	/* row failed */
};

static char	 conf_base[PATH_MAX];
static char	 conf_override_mark;	/* hook of settings that came from -o */

static conf_check_fn	conf_check_nonempty, conf_check_socket, conf_check_user,
			conf_check_ipport, conf_check_command, conf_check_url,
			conf_check_region, conf_check_timezone,
			conf_check_http_path;
static conf_load_fn	conf_jobs_load, conf_tags_load;
static conf_release_fn	conf_jobs_free, conf_tags_free;

static const char *const conf_level_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_NOTIFY] = "notify",
	NULL
};
static const char *const conf_format_names[] = {
	[LOG_FORMAT_TEXT] = "text",
	[LOG_FORMAT_JSON] = "json",
	NULL
};
static const char *const conf_provider_names[] = {
	[PROVIDER_PROCESS] = "process",
	[PROVIDER_STATIC] = "static",
	[PROVIDER_EC2] = "ec2",
	NULL
};

#define AT(f)	offsetof(struct conf, f)
#define SET_BOOL(p, f, d, fl) \
	{ p, CT_BOOL, AT(f), fl, .def_int = d }
#define SET_INT(p, f, d, lo, hi) \
	{ p, CT_INT, AT(f), 0, .def_int = d, .min = lo, .max = hi }
#define SET_STR(p, f, d, fl, chk) \
	{ p, CT_STRING, AT(f), fl, .def_str = d, .check = chk }
#define SET_PATH(p, f, d, fl, chk) \
	{ p, CT_PATH, AT(f), fl, .def_str = d, .check = chk }
#define SET_CMD(p, f, d, chk) \
	{ p, CT_COMMAND, AT(f), 0, .def_str = d, .check = chk }
#define SET_ENUM(p, f, d, nm) \
	{ p, CT_ENUM, AT(f), 0, .def_str = d, .names = nm }
#define SET_ADDR(p, f, d, lo) \
	{ p, CT_ADDR, AT(f), 0, .def_str = d, .min = lo, .max = 65535 }
#define SET_LIST(p, f, fl, chk) \
	{ p, CT_STRLIST, AT(f), fl, .check = chk }
#define SET_CUSTOM(p, ld, rel) \
	{ p, CT_CUSTOM, 0, 0, .load = ld, .release = rel }

#define MS_DAY	86400000

/*
 * The schema.  Every key of olbd.conf, and nothing else, is here; an empty
 * file is valid.  Keep etc/olbd.conf in step with this table.
 */
static const struct conf_entry conf_schema[] = {
	SET_PATH("daemon.pidfile", daemon.pidfile, "/run/olbd.pid", F_NO_RELOAD,
	    conf_check_nonempty),
	SET_STR("daemon.user", daemon.user, "", F_NO_RELOAD, conf_check_user),
	SET_INT("daemon.drain_timeout_ms", daemon.drain_timeout_ms, 10000, 0, 3600000),
	SET_INT("daemon.breaker_deaths", daemon.breaker_deaths, 5, 1, 1000),
	SET_INT("daemon.breaker_window_ms", daemon.breaker_window_ms, 10000, 100, MS_DAY),
	SET_INT("daemon.heartbeat_ms", daemon.heartbeat_ms, 1000, 100, 60000),
	SET_INT("daemon.lease_ms", daemon.lease_ms, 10000, 1000, 600000),

	SET_ENUM("log.level", log.level, "info", conf_level_names),
	SET_ENUM("log.format", log.format, "text", conf_format_names),
	SET_PATH("log.file", log.file, "stderr", F_TARGET, conf_check_nonempty),
	SET_PATH("log.access_log", log.access_log, "", F_TARGET, NULL),

	SET_STR("redis.host", redis.host, "127.0.0.1", 0, conf_check_nonempty),
	SET_INT("redis.port", redis.port, 6379, 1, 65535),
	SET_PATH("redis.socket", redis.socket, "", 0, conf_check_socket),
	SET_STR("redis.password", redis.password, "",
	    F_SECRET | F_FOR(CONF_ROLE_ALL), NULL),
	SET_INT("redis.db", redis.db, 0, 0, 65535),
	SET_INT("redis.connect_timeout_ms", redis.connect_timeout_ms, 1000, 10, 600000),
	SET_INT("redis.command_timeout_ms", redis.command_timeout_ms, 3000, 10, 600000),
	SET_BOOL("redis.embedded", redis.embedded, 0, F_NO_RELOAD),
	SET_PATH("redis.embedded_dir", redis.embedded_dir, "var/redis", F_NO_RELOAD,
	    conf_check_nonempty),
	SET_PATH("redis.embedded_bin", redis.embedded_bin, "redis-server",
	    F_NO_RELOAD | F_BARE, conf_check_nonempty),
	SET_STR("redis.prefix", redis.prefix, "loadbalancer:", 0, NULL),
	SET_STR("redis.events_channel", redis.events_channel, "loadbalancer:events", 0,
	    conf_check_nonempty),
	SET_STR("redis.sentinel.master", redis.sentinel.master, "", 0, NULL),
	SET_LIST("redis.sentinel.nodes", redis.sentinel.nodes, 0, conf_check_ipport),
	SET_INT("redis.sentinel.check_ms", redis.sentinel.check_ms, 1000, 100, 60000),
	SET_INT("redis.wait_replicas", redis.wait_replicas, 0, 0, 16),
	SET_INT("redis.wait_timeout_ms", redis.wait_timeout_ms, 200, 1, 10000),

	SET_ADDR("proxy.listen", proxy.listen, "127.0.0.1:8080", 1),
	SET_INT("proxy.workers", proxy.workers, 0, 0, 256),
	SET_LIST("proxy.auth_tokens", proxy.auth_tokens,
	    F_SECRET | F_FOR(CONF_ROLE_PROXY), conf_check_nonempty),
	SET_INT("proxy.max_body", proxy.max_body, 102400, 1, 64 << 20),
	SET_INT("proxy.max_header", proxy.max_header, 8192, 1024, 1 << 20),
	SET_INT("proxy.instance_port", proxy.instance_port, 3000, 1, 65535),
	SET_INT("proxy.header_timeout_ms", proxy.header_timeout_ms, 10000, 10, 600000),
	SET_INT("proxy.body_timeout_ms", proxy.body_timeout_ms, 10000, 10, 600000),
	SET_INT("proxy.idle_timeout_ms", proxy.idle_timeout_ms, 60000, 10, MS_DAY),
	SET_INT("proxy.connect_timeout_ms", proxy.connect_timeout_ms, 3000, 10, 600000),
	SET_INT("proxy.upstream_timeout_ms", proxy.upstream_timeout_ms, 30000, 10, 3600000),
	SET_INT("proxy.max_connections", proxy.max_connections, 10000, 1, 1000000),
	SET_INT("proxy.placement_cache", proxy.placement_cache, 262144, 1, 1 << 24),
	SET_INT("proxy.redis_wait_ms", proxy.redis_wait_ms, 2000, 0, 60000),

	SET_ADDR("admin.listen", admin.listen, "127.0.0.1:0", 0),
	SET_STR("admin.auth_token", admin.auth_token, "",
	    F_SECRET | F_FOR(CONF_ROLE_ADMIN), NULL),
	SET_INT("admin.refresh_s", admin.refresh_s, 5, 1, 3600),

	SET_INT("scaling.initial_instances", scaling.initial_instances, 2, 0, 10000),
	SET_INT("scaling.master_threshold", scaling.master_threshold, 45, 1, 1000000),
	SET_INT("scaling.client_threshold", scaling.client_threshold, 45, 1, 1000000),
	SET_INT("scaling.max_users_per_master", scaling.max_users_per_master, 50, 1, 1000000),
	SET_INT("scaling.max_users_per_client", scaling.max_users_per_client, 50, 1, 1000000),
	SET_INT("scaling.max_masters", scaling.max_masters, 10, 1, 10000),
	SET_INT("scaling.max_clients", scaling.max_clients, 50, 0, 10000),
	SET_INT("scaling.cooldown_ms", scaling.cooldown_ms, 60000, 0, MS_DAY),
	SET_INT("scaling.drain_timeout_ms", scaling.drain_timeout_ms, 60000, 0, MS_DAY),
	SET_BOOL("scaling.drain_timeout_terminate", scaling.drain_timeout_terminate, 0, 0),
	SET_INT("scaling.pending_timeout_ms", scaling.pending_timeout_ms, 600000, 1000,
	    MS_DAY),
	SET_INT("scaling.replace_max", scaling.replace_max, 2, 1, 10000),

	SET_ENUM("provider.type", provider.type, "process", conf_provider_names),
	SET_STR("provider.cluster", provider.cluster, "olb", 0, conf_check_nonempty),
	SET_CMD("provider.process.command", provider.process.command,
	    "build/olb-listener --port {port} --name {name}", conf_check_command),
	SET_INT("provider.process.port_min", provider.process.port_min, 9100, 1, 65535),
	SET_INT("provider.process.port_max", provider.process.port_max, 9999, 1, 65535),
	SET_LIST("provider.static.masters", provider.static_.masters, 0, conf_check_ipport),
	SET_LIST("provider.static.clients", provider.static_.clients, 0, conf_check_ipport),
	SET_STR("provider.ec2.region", provider.ec2.region, "", 0, conf_check_region),
	SET_STR("provider.ec2.ami_id", provider.ec2.ami_id, "", 0, NULL),
	SET_STR("provider.ec2.instance_type", provider.ec2.instance_type, "", 0, NULL),
	SET_STR("provider.ec2.key_name", provider.ec2.key_name, "", 0, NULL),
	SET_STR("provider.ec2.iam_instance_profile", provider.ec2.iam_instance_profile, "",
	    0, NULL),
	SET_STR("provider.ec2.security_group", provider.ec2.security_group, "", 0, NULL),
	SET_STR("provider.ec2.subnet_id", provider.ec2.subnet_id, "", 0, NULL),
	SET_BOOL("provider.ec2.associate_public_ip", provider.ec2.associate_public_ip, 1, 0),
	SET_CUSTOM("provider.ec2.tags", conf_tags_load, conf_tags_free),
	SET_STR("provider.ec2.endpoint", provider.ec2.endpoint, "", 0, conf_check_url),
	SET_STR("provider.ec2.metadata_endpoint", provider.ec2.metadata_endpoint,
	    "http://169.254.169.254", 0, conf_check_url),
	SET_STR("provider.ec2.profile", provider.ec2.profile, "", 0, NULL),
	SET_STR("provider.ec2.access_key_id", provider.ec2.access_key_id, "",
	    F_SECRET | F_FOR(CONF_ROLE_SCALER), NULL),
	SET_STR("provider.ec2.secret_access_key", provider.ec2.secret_access_key, "",
	    F_SECRET | F_FOR(CONF_ROLE_SCALER), NULL),
	SET_INT("provider.ec2.launch_timeout_ms", provider.ec2.launch_timeout_ms, 300000,
	    1000, 3600000),

	SET_INT("health.interval_ms", health.interval_ms, 30000, 100, MS_DAY),
	SET_INT("health.pending_interval_ms", health.pending_interval_ms, 2000, 100, MS_DAY),
	SET_INT("health.suspect_interval_ms", health.suspect_interval_ms, 500, 100, 60000),
	SET_INT("health.timeout_ms", health.timeout_ms, 3000, 10, 600000),
	SET_STR("health.path", health.path, "/api/v1/healthCheck", 0,
	    conf_check_http_path),
	SET_INT("health.history", health.history, 50, 1, 10000),
	SET_INT("health.fall", health.fall, 5, 1, 1000),
	SET_INT("health.rise", health.rise, 2, 1, 1000),
	SET_INT("health.replace_after_ms", health.replace_after_ms, 300000, 0, MS_DAY),
	SET_INT("health.panic_percent", health.panic_percent, 50, 1, 100),

	SET_STR("scheduler.timezone", scheduler.timezone, "Asia/Kolkata", 0,
	    conf_check_timezone),
	SET_INT("scheduler.run_timeout_ms", scheduler.run_timeout_ms, 900000, 1000,
	    MS_DAY),
	SET_INT("scheduler.history", scheduler.history, 100, 1, 10000),
	SET_INT("scheduler.archive_ttl_ms", scheduler.archive_ttl_ms, 7LL * MS_DAY,
	    1000, 366LL * MS_DAY),
	SET_CUSTOM("scheduler.jobs", conf_jobs_load, conf_jobs_free),

	SET_STR("notify.webhook_url", notify.webhook_url, "",
	    F_SECRET | F_FOR(CONF_ROLE_HEALTH), conf_check_url),
	SET_INT("notify.batch_ms", notify.batch_ms, 5000, 0, 3600000),
	SET_INT("notify.queue", notify.queue, 1000, 1, 100000),
	SET_INT("notify.timeout_ms", notify.timeout_ms, 5000, 100, 600000),
};

_Static_assert(CONF_NELEMS(conf_schema) <= CONF_MAX_ENTRIES, "raise CONF_MAX_ENTRIES");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum log_format) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum provider_type) == sizeof(int), "enums are stored as int");

/* The daily jobs of the earlier service (SPEC §9). */
static const struct {
	const char	*name, *cron, *action;
} conf_default_jobs[] = {
	{ "launch_initial", "52 23 * * *", "fleet_up" },
	{ "terminate_all", "55 23 * * *", "fleet_down" },
};
static const char *const conf_job_actions[] = { "fleet_up", "fleet_down", NULL };

/* The product tag of the earlier service's instances (SPEC §5). */
static const struct {
	const char	*key, *value;
} conf_default_tags[] = {
	{ "Product", "Fincopy" },
};

static void	conf_err(struct conf_ctx *, const config_setting_t *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* The file a setting came from, as the user knows it. */
static const char *
conf_file_name(const struct conf_ctx *ctx, const char *file)
{
	if (file == NULL || strcmp(file, ctx->abspath) == 0)
		return ctx->name;
	return file;
}

/* Report one error at a setting: its file and line, or "-o" if it came from
 * the command line, or the file without a line if at is NULL. */
static void
conf_err(struct conf_ctx *ctx, const config_setting_t *at, const char *fmt, ...)
{
	char msg[CONF_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->nerrors++;
	if (at == NULL)
		conf_errors_add(ctx->errs, ctx->name, 0, "%s", msg);
	else if (config_setting_get_hook(at) == &conf_override_mark)
		conf_errors_add(ctx->errs, CONF_FILE_CMDLINE, 0, "-o %s", msg);
	else
		conf_errors_add(ctx->errs, conf_file_name(ctx, config_setting_source_file(at)),
		    (int)config_setting_source_line(at), "%s", msg);
}

/* A command-line error not tied to a setting. */
static void
conf_err_cmdline(struct conf_ctx *ctx, const char *key, int keylen, const char *what)
{
	ctx->nerrors++;
	conf_errors_add(ctx->errs, CONF_FILE_CMDLINE, 0, "-o%s%.*s: %s", keylen ? " " : "",
	    keylen, key, what);
}

/* Report an allocation failure; always -1. */
static int
conf_oom(struct conf_ctx *ctx)
{
	conf_err(ctx, NULL, "out of memory");
	return -1;
}

static char *
conf_strdup(struct conf_ctx *ctx, const char *s)
{
	char *d;

	if ((d = strdup(s)) == NULL)
		conf_oom(ctx);
	return d;
}

/* Free a string, wiping it first if it held a secret. */
static void
conf_str_free(char *s, int secret)
{
	if (s != NULL && secret)
		explicit_bzero(s, strlen(s));
	free(s);
}

/*
 * Schema lookups.
 */

static const struct conf_entry *
conf_entry_find(const char *path)
{
	for (size_t i = 0; i < CONF_NELEMS(conf_schema); i++)
		if (strcmp(conf_schema[i].path, path) == 0)
			return &conf_schema[i];
	return NULL;
}

/* Is path a group of the schema ("proxy", "redis.sentinel")? */
static int
conf_is_group(const char *path)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < CONF_NELEMS(conf_schema); i++)
		if (strncmp(conf_schema[i].path, path, len) == 0 &&
		    conf_schema[i].path[len] == '.')
			return 1;
	return 0;
}

/* Did the row of path load without error?  Semantic checks skip bad rows. */
static int
conf_ok(const struct conf_ctx *ctx, const char *path)
{
	const struct conf_entry *e = conf_entry_find(path);

	return e != NULL && !ctx->bad[e - conf_schema];
}

static int
conf_is_stringlike(const struct conf_entry *e)
{
	return e->type != CT_BOOL && e->type != CT_INT && e->type != CT_CUSTOM;
}

static config_setting_t *
conf_setting(const struct conf_ctx *ctx, const char *path)
{
	return config_lookup(&ctx->cfg, path);
}

/* at if it came from the file: a message about another key must not be
 * printed as if that key had been given with -o. */
static const config_setting_t *
conf_in_file(const config_setting_t *at)
{
	if (at != NULL && config_setting_get_hook(at) == &conf_override_mark)
		return NULL;
	return at;
}

/*
 * Paths and secrets.
 */

void
conf_set_base_dir(const char *dir)
{
	size_t len;

	snprintf(conf_base, sizeof(conf_base), "%s", dir);
	len = strlen(conf_base);
	while (len > 1 && conf_base[len - 1] == '/')
		conf_base[--len] = '\0';
}

/* p made absolute against the base directory (new string). */
static char *
conf_path_absolute(const char *p)
{
	char *s;

	if (p[0] == '/' || p[0] == '\0')
		return strdup(p);
	while (p[0] == '.' && p[1] == '/')
		for (p += 2; *p == '/'; p++)
			;
	if (asprintf(&s, "%s%s%s", conf_base, strcmp(conf_base, "/") ? "/" : "", p) == -1)
		return NULL;
	return s;
}

/* A command line whose program, if a relative path, is made absolute. */
static char *
conf_command_absolute(const char *cmd)
{
	size_t len = strcspn(cmd, " \t");
	char *prog, *abs, *s = NULL;

	if (memchr(cmd, '/', len) == NULL || cmd[0] == '/')
		return strdup(cmd);
	if ((prog = strndup(cmd, len)) == NULL)
		return NULL;
	if ((abs = conf_path_absolute(prog)) != NULL &&
	    asprintf(&s, "%s%s", abs, cmd + len) == -1)
		s = NULL;
	free(abs);
	free(prog);
	return s;
}

/* Read a "file:" secret.  The file must be a regular file that other users
 * can neither read nor write; trailing newlines are dropped. */
static int
conf_secret_file(struct conf_ctx *ctx, const config_setting_t *at, const char *label,
    const char *path, char **out)
{
	char *abs = NULL, *buf = NULL;
	struct stat st;
	ssize_t n;
	int fd = -1;

	if ((abs = conf_path_absolute(path)) == NULL)
		goto oom;
	if ((fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1 ||
	    fstat(fd, &st) == -1) {
		conf_err(ctx, at, "%s: cannot read secret file %s: %s", label, abs,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		conf_err(ctx, at, "%s: secret file %s is not a regular file", label, abs);
		goto fail;
	}
	if (st.st_mode & 0007) {
		conf_err(ctx, at, "%s: secret file %s is %s by other users (mode %04o)", label,
		    abs, (st.st_mode & S_IROTH) ? "readable" :
		    (st.st_mode & S_IWOTH) ? "writable" : "usable",
		    (unsigned int)(st.st_mode & 07777));
		goto fail;
	}
	if ((buf = calloc(1, CONF_SECRET_MAX + 1)) == NULL)
		goto oom;
	if ((n = read(fd, buf, CONF_SECRET_MAX + 1)) == -1 || n > CONF_SECRET_MAX) {
		conf_err(ctx, at, "%s: cannot read secret file %s: %s", label, abs,
		    n == -1 ? strerror(errno) : "larger than 64 KiB");
		goto fail;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if ((*out = conf_strdup(ctx, buf)) == NULL)
		goto fail;
	explicit_bzero(buf, CONF_SECRET_MAX);
	free(buf);
	free(abs);
	close(fd);
	return 0;
oom:
	conf_oom(ctx);
fail:
	if (buf != NULL)
		explicit_bzero(buf, CONF_SECRET_MAX);
	free(buf);
	free(abs);
	if (fd != -1)
		close(fd);
	return -1;
}

/* The value of a secret written as "env:NAME", "file:/path" or literally. */
static int
conf_secret_resolve(struct conf_ctx *ctx, const config_setting_t *at, const char *label,
    const char *raw, char **out)
{
	const char *v;

	if (strncmp(raw, "file:", 5) == 0)
		return conf_secret_file(ctx, at, label, raw + 5, out);
	if (strncmp(raw, "env:", 4) == 0) {
		if (raw[4] == '\0' || (v = getenv(raw + 4)) == NULL) {
			conf_err(ctx, at, "%s: environment variable %s is not set", label,
			    raw + 4);
			return -1;
		}
		raw = v;
	}
	return (*out = conf_strdup(ctx, raw)) == NULL ? -1 : 0;
}

/* Turn the raw string of a row (or of one list element, named label) into
 * its final value: secret resolved, path made absolute, validated. */
static int
conf_string_value(struct conf_ctx *ctx, const struct conf_entry *e,
    const config_setting_t *at, const char *label, const char *raw, char **out)
{
	char buf[CONF_MESSAGE_MAX];
	const char *msg;
	char *v;

	*out = NULL;
	if (e->flags & F_SECRET) {
		if (conf_secret_resolve(ctx, at, label, raw, &v) == -1)
			return -1;
	} else if (e->type == CT_COMMAND)
		v = conf_command_absolute(raw);
	else if (e->type != CT_PATH || ((e->flags & F_BARE) && strchr(raw, '/') == NULL) ||
	    ((e->flags & F_TARGET) && (!strcmp(raw, "stderr") || !strcmp(raw, "syslog"))))
		v = strdup(raw);
	else
		v = conf_path_absolute(raw);
	if (v == NULL)
		return conf_oom(ctx);
	if (e->check != NULL && (msg = e->check(v, buf, sizeof(buf))) != NULL) {
		conf_err(ctx, at, "%s: %s", label, msg);
		conf_str_free(v, e->flags & F_SECRET);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * Rows by type.  Each takes the setting (NULL: absent, use the default) and
 * writes the field, or reports why not and returns -1.
 */

static int
conf_load_bool(struct conf_ctx *ctx, const struct conf_entry *e,
    const config_setting_t *s, int *field)
{
	if (s == NULL) {
		*field = (int)e->def_int;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		conf_err(ctx, s, "%s: expected true or false", e->path);
		return -1;
	}
	*field = config_setting_get_bool(s);
	return 0;
}

static int
conf_load_int(struct conf_ctx *ctx, const struct conf_entry *e,
    const config_setting_t *s, int64_t *field)
{
	long long v;

	if (s == NULL) {
		*field = e->def_int;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		conf_err(ctx, s, "%s: expected an integer", e->path);
		return -1;
	}
	v = config_setting_get_int64(s);
	if (v < e->min || v > e->max) {
		conf_err(ctx, s, "%s: %lld is out of range (%lld..%lld)", e->path, v,
		    (long long)e->min, (long long)e->max);
		return -1;
	}
	*field = v;
	return 0;
}

/* The raw string of a string-like row: the setting's, or the default. */
static int
conf_raw_string(struct conf_ctx *ctx, const struct conf_entry *e,
    const config_setting_t *s, const char **raw)
{
	if (s == NULL) {
		*raw = e->def_str != NULL ? e->def_str : "";
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_err(ctx, s, "%s: expected a string", e->path);
		return -1;
	}
	*raw = config_setting_get_string(s);
	return 0;
}

static int
conf_load_string(struct conf_ctx *ctx, const struct conf_entry *e,
    const config_setting_t *s, char **field)
{
	const char *raw;

	if (conf_raw_string(ctx, e, s, &raw) == -1)
		return -1;
	return conf_string_value(ctx, e, s, e->path, raw, field);
}

static int
conf_load_enum(struct conf_ctx *ctx, const struct conf_entry *e,
    const config_setting_t *s, int *field)
{
	char list[CONF_MESSAGE_MAX] = "";
	const char *raw;

	if (conf_raw_string(ctx, e, s, &raw) == -1)
		return -1;
	for (int i = 0; e->names[i] != NULL; i++) {
		if (strcmp(e->names[i], raw) == 0) {
			*field = i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
		    i > 0 ? ", " : "", e->names[i]);
	}
	conf_err(ctx, s, "%s: '%s' is not one of %s", e->path, raw, list);
	return -1;
}

static int
conf_load_addr(struct conf_ctx *ctx, const struct conf_entry *e,
    const config_setting_t *s, struct conf_addr *field)
{
	struct conf_addr addr;
	const char *raw;

	if (conf_raw_string(ctx, e, s, &raw) == -1)
		return -1;
	if (conf_addr_parse(raw, &addr) == -1) {
		conf_err(ctx, s, "%s: '%s' is not host:port", e->path, raw);
		return -1;
	}
	if (addr.port < e->min || addr.port > e->max) {
		conf_err(ctx, s, "%s: port %u is out of range (%lld..%lld)", e->path,
		    (unsigned int)addr.port, (long long)e->min, (long long)e->max);
		return -1;
	}
	*field = addr;
	return 0;
}

/* A list (or array) of strings; a lone string is a list of one. */
static int
conf_load_strlist(struct conf_ctx *ctx, const struct conf_entry *e,
    const config_setting_t *s, struct conf_strlist *list)
{
	const config_setting_t *elem;
	char label[128];
	unsigned int i, n;
	int rc = 0;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if ((list->v = calloc(1, sizeof(*list->v))) == NULL)
			return conf_oom(ctx);
		if (conf_string_value(ctx, e, s, e->path, config_setting_get_string(s),
		    &list->v[0]) == -1)
			return -1;
		list->n = 1;
		return 0;
	}
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		conf_err(ctx, s, "%s: expected a list of strings", e->path);
		return -1;
	}
	n = (unsigned int)config_setting_length(s);
	if ((list->v = calloc(n + 1, sizeof(*list->v))) == NULL)
		return conf_oom(ctx);
	for (i = 0; i < n; i++) {
		elem = config_setting_get_elem(s, i);
		snprintf(label, sizeof(label), "%s[%u]", e->path, i);
		if (config_setting_type(elem) != CONFIG_TYPE_STRING) {
			conf_err(ctx, elem, "%s: expected a string", label);
			rc = -1;
		} else if (conf_string_value(ctx, e, elem, label,
		    config_setting_get_string(elem), &list->v[list->n]) == -1)
			rc = -1;
		else
			list->n++;
	}
	return rc;
}

/* Convert row i into the new conf; mark it bad on error. */
static void
conf_load_entry(struct conf_ctx *ctx, size_t i)
{
	const struct conf_entry *e = &conf_schema[i];
	const config_setting_t *s = conf_setting(ctx, e->path);
	void *field = (char *)ctx->conf + e->offset;
	int rc = -1;

	switch (e->type) {
	case CT_BOOL:
		rc = conf_load_bool(ctx, e, s, field);
		break;
	case CT_INT:
		rc = conf_load_int(ctx, e, s, field);
		break;
	case CT_STRING:
	case CT_PATH:
	case CT_COMMAND:
		rc = conf_load_string(ctx, e, s, field);
		break;
	case CT_ENUM:
		rc = conf_load_enum(ctx, e, s, field);
		break;
	case CT_ADDR:
		rc = conf_load_addr(ctx, e, s, field);
		break;
	case CT_STRLIST:
		rc = conf_load_strlist(ctx, e, s, field);
		break;
	case CT_CUSTOM:
		rc = e->load(ctx, e, s);
		break;
	}
	if (rc == -1)
		ctx->bad[i] = 1;
}

/*
 * Custom rows: scheduler.jobs and provider.ec2.tags.
 */

static const char *
conf_check_job_name(const char *v, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	if (v[0] == '\0' || strlen(v) > 64 ||
	    v[strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")])
		return "must be 1 to 64 letters, digits, '_', '.' or '-'";
	return NULL;
}

static const char *
conf_check_job_action(const char *v, char *buf, size_t len)
{
	for (int i = 0; conf_job_actions[i] != NULL; i++)
		if (strcmp(v, conf_job_actions[i]) == 0)
			return NULL;
	snprintf(buf, len, "'%s' is not one of fleet_up, fleet_down", v);
	return buf;
}

/* A 5-field cron expression (common/cron.h: the scheduler's own parser). */
static const char *
conf_check_cron(const char *expr, char *buf, size_t len)
{
	struct cron c;

	return cron_parse(expr, &c, buf, len) == 0 ? NULL : buf;
}

/* One string member of a job, validated. */
static int
conf_job_member(struct conf_ctx *ctx, const config_setting_t *job, unsigned int i,
    const char *name, conf_check_fn *check, char **out)
{
	const config_setting_t *m = config_setting_get_member(job, name);
	char buf[CONF_MESSAGE_MAX];
	const char *msg;

	if (m == NULL) {
		conf_err(ctx, job, "scheduler.jobs[%u].%s: required", i, name);
		return -1;
	}
	if (config_setting_type(m) != CONFIG_TYPE_STRING) {
		conf_err(ctx, m, "scheduler.jobs[%u].%s: expected a string", i, name);
		return -1;
	}
	if ((msg = check(config_setting_get_string(m), buf, sizeof(buf))) != NULL) {
		conf_err(ctx, m, "scheduler.jobs[%u].%s: %s", i, name, msg);
		return -1;
	}
	return (*out = conf_strdup(ctx, config_setting_get_string(m))) == NULL ? -1 : 0;
}

/* "YYYY-MM-DD", a real calendar date, as YYYYMMDD into *date.  0 or -1. */
static int
conf_iso_date(const char *v, int *date)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d, n = 0;

	if (strlen(v) != 10 || sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 ||
	    n != 10 || v[4] != '-' || v[7] != '-' ||
	    strspn(v, "0123456789-") != 10 || y < 1970 || y > 9999 ||
	    m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0))))
		return -1;
	*date = y * 10000 + m * 100 + d;
	return 0;
}

/* Add one holiday to job (room for CONF_SKIP_MAX).  0 or -1. */
static int
conf_skip_add(struct conf_ctx *ctx, struct conf_job *job, int date)
{
	if (job->skip == NULL &&
	    (job->skip = calloc(CONF_SKIP_MAX, sizeof(*job->skip))) == NULL)
		return conf_oom(ctx);
	if (job->nskip == CONF_SKIP_MAX)
		return -1;
	job->skip[job->nskip++] = date;
	return 0;
}

/* scheduler.jobs[i].skip_dates: a list or array of ISO dates. */
static int
conf_job_skip_dates(struct conf_ctx *ctx, const config_setting_t *m,
    unsigned int i, struct conf_job *job)
{
	const config_setting_t *e;
	int date, rc = 0;

	if (!config_setting_is_aggregate(m) || config_setting_is_group(m)) {
		conf_err(ctx, m, "scheduler.jobs[%u].skip_dates: expected a list of "
		    "dates", i);
		return -1;
	}
	for (unsigned int k = 0; (e = config_setting_get_elem(m, k)) != NULL; k++) {
		if (config_setting_type(e) != CONFIG_TYPE_STRING ||
		    conf_iso_date(config_setting_get_string(e), &date) == -1) {
			conf_err(ctx, e, "scheduler.jobs[%u].skip_dates[%u]: expected "
			    "a date as \"YYYY-MM-DD\"", i, k);
			rc = -1;
		} else if (conf_skip_add(ctx, job, date) == -1) {
			conf_err(ctx, e, "scheduler.jobs[%u].skip_dates: more than %d "
			    "dates", i, CONF_SKIP_MAX);
			return -1;
		}
	}
	return rc;
}

/* scheduler.jobs[i].skip_file: one ISO date a line; blank lines and '#'
 * comments are skipped.  Read at every load, so a reload picks a new
 * calendar up; the first bad line is an error naming the file and line
 * (a regular file of at most CONF_SKIP_FILE_MAX bytes: never /dev/zero). */
static int
conf_job_skip_file(struct conf_ctx *ctx, const config_setting_t *m,
    unsigned int i, struct conf_job *job)
{
	char line[256], *p, *end;
	int date, fd, lineno = 0, rc = 0;
	struct stat st;
	FILE *f;

	if (config_setting_type(m) != CONFIG_TYPE_STRING ||
	    config_setting_get_string(m)[0] == '\0') {
		conf_err(ctx, m, "scheduler.jobs[%u].skip_file: expected a path", i);
		return -1;
	}
	if ((job->skip_file = conf_strdup(ctx, config_setting_get_string(m))) == NULL)
		return -1;
	/* O_NONBLOCK: a FIFO named by mistake must not hang the load */
	if ((fd = open(job->skip_file, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		conf_err(ctx, m, "scheduler.jobs[%u].skip_file: %s: %s", i,
		    job->skip_file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONF_SKIP_FILE_MAX || (f = fdopen(fd, "r")) == NULL) {
		conf_err(ctx, m, "scheduler.jobs[%u].skip_file: %s: not a file of "
		    "at most %d bytes", i, job->skip_file, CONF_SKIP_FILE_MAX);
		close(fd);
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		for (end = p + strlen(p); end > p && strchr(" \t\r\n", end[-1]); end--)
			;
		*end = '\0';
		if (*p == '\0')
			continue;
		if (conf_iso_date(p, &date) == -1) {
			ctx->nerrors++;
			conf_errors_add(ctx->errs, job->skip_file, lineno,
			    "expected a date as \"YYYY-MM-DD\"");
			rc = -1;
		} else if (conf_skip_add(ctx, job, date) == -1) {
			ctx->nerrors++;
			conf_errors_add(ctx->errs, job->skip_file, lineno,
			    "more than %d dates", CONF_SKIP_MAX);
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

static int
conf_intcmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static int
conf_job_load(struct conf_ctx *ctx, const config_setting_t *g, unsigned int i)
{
	struct conf_job *jobs = ctx->conf->scheduler.jobs, *job;
	const config_setting_t *m;
	const char *name;
	int rc = 0;

	if (!config_setting_is_group(g)) {
		conf_err(ctx, g, "scheduler.jobs[%u]: expected a group", i);
		return -1;
	}
	job = &jobs[ctx->conf->scheduler.njobs++];
	for (unsigned int k = 0; (m = config_setting_get_elem(g, k)) != NULL; k++) {
		name = config_setting_name(m);
		if (strcmp(name, "skip_dates") == 0) {
			if (conf_job_skip_dates(ctx, m, i, job) == -1)
				rc = -1;
		} else if (strcmp(name, "skip_file") == 0) {
			if (conf_job_skip_file(ctx, m, i, job) == -1)
				rc = -1;
		} else if (strcmp(name, "name") && strcmp(name, "cron") &&
		    strcmp(name, "action")) {
			conf_err(ctx, m, "unknown setting 'scheduler.jobs[%u].%s'", i,
			    name);
			rc = -1;
		}
	}
	if (job->nskip > 0)
		qsort(job->skip, job->nskip, sizeof(*job->skip), conf_intcmp);
	if (conf_job_member(ctx, g, i, "name", conf_check_job_name, &job->name) == -1)
		rc = -1;
	if (conf_job_member(ctx, g, i, "cron", conf_check_cron, &job->cron) == -1)
		rc = -1;
	if (conf_job_member(ctx, g, i, "action", conf_check_job_action, &job->action) == -1)
		rc = -1;
	for (struct conf_job *o = jobs; job->name != NULL && o < job; o++)
		if (o->name != NULL && strcmp(o->name, job->name) == 0) {
			conf_err(ctx, config_setting_get_member(g, "name"),
			    "scheduler.jobs[%u].name: duplicate job name '%s'", i, job->name);
			rc = -1;
		}
	return rc;
}

static int
conf_jobs_load(struct conf_ctx *ctx, const struct conf_entry *e, const config_setting_t *s)
{
	struct conf *conf = ctx->conf;
	unsigned int n;
	int rc = 0;

	n = s != NULL ? (unsigned int)config_setting_length(s) : CONF_NELEMS(conf_default_jobs);
	if (s != NULL && !config_setting_is_list(s) &&
	    !(config_setting_is_array(s) && n == 0)) {
		conf_err(ctx, s, "%s: expected a list of groups", e->path);
		return -1;
	}
	if ((conf->scheduler.jobs = calloc(n + 1, sizeof(*conf->scheduler.jobs))) == NULL)
		return conf_oom(ctx);
	for (unsigned int i = 0; i < n; i++) {
		if (s != NULL) {
			if (conf_job_load(ctx, config_setting_get_elem(s, i), i) == -1)
				rc = -1;
			continue;
		}
		conf->scheduler.jobs[i].name = conf_strdup(ctx, conf_default_jobs[i].name);
		conf->scheduler.jobs[i].cron = conf_strdup(ctx, conf_default_jobs[i].cron);
		conf->scheduler.jobs[i].action = conf_strdup(ctx, conf_default_jobs[i].action);
		conf->scheduler.njobs++;
	}
	return rc;
}

static void
conf_jobs_free(struct conf *conf)
{
	for (size_t i = 0; i < conf->scheduler.njobs; i++) {
		free(conf->scheduler.jobs[i].name);
		free(conf->scheduler.jobs[i].cron);
		free(conf->scheduler.jobs[i].action);
		free(conf->scheduler.jobs[i].skip_file);
		free(conf->scheduler.jobs[i].skip);
	}
	free(conf->scheduler.jobs);
}

/* A group of Key = "value" settings, tags of every launched instance. */
static int
conf_tags_load(struct conf_ctx *ctx, const struct conf_entry *e, const config_setting_t *s)
{
	struct conf *conf = ctx->conf;
	const config_setting_t *m;
	struct conf_tag *t;
	unsigned int n;
	int rc = 0;

	n = s != NULL ? (unsigned int)config_setting_length(s) : CONF_NELEMS(conf_default_tags);
	if (s != NULL && !config_setting_is_group(s)) {
		conf_err(ctx, s, "%s: expected a group of Key = \"value\" settings", e->path);
		return -1;
	}
	if ((conf->provider.ec2.tags = calloc(n + 1, sizeof(*t))) == NULL)
		return conf_oom(ctx);
	for (unsigned int i = 0; i < n; i++) {
		t = &conf->provider.ec2.tags[conf->provider.ec2.ntags];
		if (s == NULL) {
			t->key = conf_strdup(ctx, conf_default_tags[i].key);
			t->value = conf_strdup(ctx, conf_default_tags[i].value);
			conf->provider.ec2.ntags++;
			continue;
		}
		m = config_setting_get_elem(s, i);
		if (config_setting_type(m) != CONFIG_TYPE_STRING) {
			conf_err(ctx, m, "%s.%s: expected a string", e->path,
			    config_setting_name(m));
			rc = -1;
		} else if (strlen(config_setting_name(m)) > 128 ||
		    strlen(config_setting_get_string(m)) > 256) {
			conf_err(ctx, m, "%s.%s: too long (EC2 allows 128 for a key, 256 for "
			    "a value)", e->path, config_setting_name(m));
			rc = -1;
		} else {
			t->key = conf_strdup(ctx, config_setting_name(m));
			t->value = conf_strdup(ctx, config_setting_get_string(m));
			conf->provider.ec2.ntags++;
		}
	}
	return rc;
}

static void
conf_tags_free(struct conf *conf)
{
	for (size_t i = 0; i < conf->provider.ec2.ntags; i++) {
		free(conf->provider.ec2.tags[i].key);
		free(conf->provider.ec2.tags[i].value);
	}
	free(conf->provider.ec2.tags);
}

/*
 * Validators of single values.
 */

static const char *
conf_check_nonempty(const char *v, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	return v[0] == '\0' ? "must not be empty" : NULL;
}

/* A unix socket path must fit in sockaddr_un. */
static const char *
conf_check_socket(const char *v, char *buf, size_t len)
{
	struct sockaddr_un sun;

	if (strlen(v) < sizeof(sun.sun_path))
		return NULL;
	snprintf(buf, len, "socket path %s is longer than %zu bytes", v,
	    sizeof(sun.sun_path) - 1);
	return buf;
}

static const char *
conf_check_user(const char *v, char *buf, size_t len)
{
	if (v[0] == '\0' || getpwnam(v) != NULL)
		return NULL;
	snprintf(buf, len, "no such user '%s'", v);
	return buf;
}

static const char *
conf_check_ipport(const char *v, char *buf, size_t len)
{
	unsigned char bin[sizeof(struct in6_addr)];
	struct conf_addr a;

	if (conf_addr_parse(v, &a) == 0 && a.port != 0 &&
	    (inet_pton(AF_INET, a.host, bin) == 1 || inet_pton(AF_INET6, a.host, bin) == 1))
		return NULL;
	snprintf(buf, len, "'%s' is not ip:port", v);
	return buf;
}

static const char *
conf_check_command(const char *v, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	return strstr(v, "{port}") == NULL ? "must contain {port}" : NULL;
}

/* Also used for secrets: never quotes the value. */
static const char *
conf_check_url(const char *v, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	if (v[0] == '\0' || strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0)
		return NULL;
	return "must be an http:// or https:// URL";
}

/* An origin-form request target: "/" then visible ASCII, no "#". */
static const char *
conf_check_http_path(const char *v, char *buf, size_t len)
{
	(void)buf;
	(void)len;
	if (v[0] != '/' || strlen(v) > 1024)
		return "must be a path starting with / (at most 1024 characters)";
	for (; *v != '\0'; v++)
		if (*v <= ' ' || *v > '~' || *v == '#')
			return "must be visible ASCII without spaces or #";
	return NULL;
}

static const char *
conf_check_region(const char *v, char *buf, size_t len)
{
	if (v[strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-")] == '\0')
		return NULL;
	snprintf(buf, len, "'%s' is not an AWS region name", v);
	return buf;
}

/* A name of the tz database (crontz_known). */
static const char *
conf_check_timezone(const char *v, char *buf, size_t len)
{
	if (!crontz_known(v)) {
		snprintf(buf, len, "'%s' is not a known time zone", v);
		return buf;
	}
	return NULL;
}

/*
 * Checks across settings.
 */

static void
conf_check_health(struct conf_ctx *ctx)
{
	const struct conf *c = ctx->conf;
	const config_setting_t *at;

	if (!conf_ok(ctx, "health.timeout_ms") || !conf_ok(ctx, "health.interval_ms") ||
	    c->health.timeout_ms < c->health.interval_ms)
		return;
	if ((at = conf_setting(ctx, "health.timeout_ms")) == NULL)
		at = conf_in_file(conf_setting(ctx, "health.interval_ms"));
	conf_err(ctx, at, "health.timeout_ms: %lld must be less than health.interval_ms (%lld)",
	    (long long)c->health.timeout_ms, (long long)c->health.interval_ms);
}

/* value of key must not exceed that of max_key. */
static void
conf_check_not_above(struct conf_ctx *ctx, const char *key, int64_t value,
    const char *max_key, int64_t max)
{
	const config_setting_t *at;

	if (!conf_ok(ctx, key) || !conf_ok(ctx, max_key) || value <= max)
		return;
	if ((at = conf_setting(ctx, key)) == NULL)
		at = conf_in_file(conf_setting(ctx, max_key));
	conf_err(ctx, at, "%s: %lld must not exceed %s (%lld)", key, (long long)value,
	    max_key, (long long)max);
}

static void
conf_check_ec2(struct conf_ctx *ctx)
{
	static const char *const required[] = {
		"provider.ec2.region", "provider.ec2.ami_id", "provider.ec2.instance_type",
		"provider.ec2.subnet_id", "provider.ec2.security_group",
	};
	const struct conf *c = ctx->conf;
	const char *const values[] = {
		c->provider.ec2.region, c->provider.ec2.ami_id, c->provider.ec2.instance_type,
		c->provider.ec2.subnet_id, c->provider.ec2.security_group,
	};
	const config_setting_t *at;

	for (size_t i = 0; i < CONF_NELEMS(required); i++) {
		if (!conf_ok(ctx, required[i]) || values[i][0] != '\0')
			continue;
		if ((at = conf_setting(ctx, required[i])) == NULL)
			at = conf_in_file(conf_setting(ctx, "provider.type"));
		conf_err(ctx, at, "%s: required when provider.type is \"ec2\"", required[i]);
	}
	/* The default name would let two deployments in one AWS account
	 * find each other's instances. */
	if (conf_ok(ctx, "provider.cluster") &&
	    conf_setting(ctx, "provider.cluster") == NULL)
		conf_err(ctx, conf_in_file(conf_setting(ctx, "provider.type")),
		    "provider.cluster: required when provider.type is \"ec2\" "
		    "(a name of this deployment's own, not the default \"%s\")",
		    ctx->conf->provider.cluster);
}

static void
conf_check_provider(struct conf_ctx *ctx)
{
	const struct conf *c = ctx->conf;
	const config_setting_t *at;

	conf_check_not_above(ctx, "provider.process.port_min", c->provider.process.port_min,
	    "provider.process.port_max", c->provider.process.port_max);
	if (conf_ok(ctx, "provider.ec2.access_key_id") &&
	    conf_ok(ctx, "provider.ec2.secret_access_key") &&
	    (c->provider.ec2.access_key_id[0] == '\0') !=
	    (c->provider.ec2.secret_access_key[0] == '\0'))
		conf_err(ctx, conf_in_file(conf_setting(ctx, "provider.ec2.access_key_id")),
		    "provider.ec2.access_key_id and provider.ec2.secret_access_key: "
		    "set both or neither");
	if (!conf_ok(ctx, "provider.type"))
		return;
	if (c->provider.type == PROVIDER_EC2)
		conf_check_ec2(ctx);
	if (c->provider.type == PROVIDER_STATIC && conf_ok(ctx, "provider.static.masters") &&
	    c->provider.static_.masters.n == 0) {
		if ((at = conf_setting(ctx, "provider.static.masters")) == NULL)
			at = conf_in_file(conf_setting(ctx, "provider.type"));
		conf_err(ctx, at, "provider.static.masters: at least one master is required "
		    "when provider.type is \"static\"");
	}
}

static void
conf_check_redis(struct conf_ctx *ctx)
{
	const struct conf *c = ctx->conf;
	unsigned char bin[sizeof(struct in6_addr)];

	if (conf_ok(ctx, "redis.sentinel.master") && conf_ok(ctx, "redis.sentinel.nodes") &&
	    c->redis.sentinel.master[0] != '\0' && c->redis.sentinel.nodes.n == 0)
		conf_err(ctx, conf_in_file(conf_setting(ctx, "redis.sentinel.master")),
		    "redis.sentinel.nodes: at least one node is required when "
		    "redis.sentinel.master is set");
	/* Refused rather than ignored: olbd must never silently talk to a
	 * Redis other than the one the operator meant. */
	if (conf_ok(ctx, "redis.sentinel.master") && conf_ok(ctx, "redis.embedded") &&
	    c->redis.sentinel.master[0] != '\0' && c->redis.embedded)
		conf_err(ctx, conf_in_file(conf_setting(ctx, "redis.sentinel.master")),
		    "redis.sentinel.master: Sentinel cannot be used with "
		    "redis.embedded (a private Redis has no sentinels)");
	if (conf_ok(ctx, "redis.embedded") && conf_ok(ctx, "redis.host") &&
	    conf_ok(ctx, "redis.socket") && c->redis.embedded &&
	    c->redis.socket[0] == '\0' && inet_pton(AF_INET, c->redis.host, bin) != 1 &&
	    inet_pton(AF_INET6, c->redis.host, bin) != 1)
		conf_err(ctx, conf_setting(ctx, "redis.host"),
		    "redis.host: must be an IP address when redis.embedded is true");
}

/* Whether host (as conf_addr_parse keeps it) is the unspecified address,
 * which a bind takes as every address of the machine. */
static int
conf_addr_any(const char *host)
{
	struct in_addr v4;
	struct in6_addr v6;

	if (inet_pton(AF_INET, host, &v4) == 1)
		return v4.s_addr == htonl(INADDR_ANY);
	return inet_pton(AF_INET6, host, &v6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&v6);
}

/* The admin listener on the proxy's port, at the same host or where either
 * is every address: olbd opens its listeners with SO_REUSEPORT, so both
 * binds would succeed.  On one address the kernel shares its connections
 * between the proxy workers and the admin worker; with a wildcard, the
 * listener that names an address takes every connection to it. */
static void
conf_check_listen(struct conf_ctx *ctx)
{
	const struct conf_addr *a = &ctx->conf->admin.listen;
	const struct conf_addr *p = &ctx->conf->proxy.listen;

	if (!conf_ok(ctx, "admin.listen") || !conf_ok(ctx, "proxy.listen") ||
	    a->port == 0 || a->port != p->port ||
	    (strcmp(a->host, p->host) != 0 && !conf_addr_any(a->host) &&
	    !conf_addr_any(p->host)))
		return;
	conf_err(ctx, conf_in_file(conf_setting(ctx, "admin.listen")),
	    "admin.listen: port %u is proxy.listen's too (olbd's listeners use "
	    "SO_REUSEPORT: both would bind, and one would take the other's "
	    "connections)",
	    (unsigned)a->port);
}

/* The rules that involve several settings; rows that failed are skipped. */
static void
conf_check_semantics(struct conf_ctx *ctx)
{
	const struct conf *c = ctx->conf;

	conf_check_health(ctx);
	conf_check_listen(ctx);
	conf_check_not_above(ctx, "scaling.master_threshold", c->scaling.master_threshold,
	    "scaling.max_users_per_master", c->scaling.max_users_per_master);
	conf_check_not_above(ctx, "scaling.client_threshold", c->scaling.client_threshold,
	    "scaling.max_users_per_client", c->scaling.max_users_per_client);
	conf_check_provider(ctx);
	conf_check_redis(ctx);
}

/* Whether a webhook is set, known to every role (the URL is the health
 * worker's secret): the others then append notify-level events to the
 * outbox. */
static void
conf_resolve_notify(struct conf_ctx *ctx)
{
	ctx->conf->notify.enabled = ctx->conf->notify.webhook_url != NULL &&
	    ctx->conf->notify.webhook_url[0] != '\0';
}

/* proxy.workers = 0 means one worker per CPU. */
static void
conf_resolve_workers(struct conf_ctx *ctx)
{
	long n;

	if (!conf_ok(ctx, "proxy.workers") || ctx->conf->proxy.workers != 0)
		return;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	ctx->conf->proxy.workers = n < 1 ? 1 : n > 256 ? 256 : n;
}

/*
 * The parsed tree: unknown settings, secrets, overrides.
 */

/* Report every setting below group that the schema does not know. */
static void
conf_walk_unknown(struct conf_ctx *ctx, const config_setting_t *group, const char *prefix)
{
	const config_setting_t *s;
	char path[256];

	for (unsigned int i = 0; (s = config_setting_get_elem(group, i)) != NULL; i++) {
		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "",
		    config_setting_name(s));
		if (conf_entry_find(path) != NULL)
			continue;
		if (!conf_is_group(path))
			conf_err(ctx, s, "unknown setting '%s'", path);
		else if (!config_setting_is_group(s))
			conf_err(ctx, s, "%s: expected a group", path);
		else
			conf_walk_unknown(ctx, s, path);
	}
}

/* Overwrite every string at or below s (secrets, before libconfig frees them). */
static void
conf_setting_wipe(config_setting_t *s)
{
	config_setting_t *elem;

	if (config_setting_type(s) == CONFIG_TYPE_STRING && s->value.sval != NULL)
		explicit_bzero(s->value.sval, strlen(s->value.sval));
	for (unsigned int i = 0; config_setting_is_aggregate(s) &&
	    (elem = config_setting_get_elem(s, i)) != NULL; i++)
		conf_setting_wipe(elem);
}

static void
conf_wipe_secrets(config_t *cfg)
{
	config_setting_t *s;

	for (size_t i = 0; i < CONF_NELEMS(conf_schema); i++)
		if ((conf_schema[i].flags & F_SECRET) &&
		    (s = config_lookup(cfg, conf_schema[i].path)) != NULL)
			conf_setting_wipe(s);
}

/* Copy src (and what it holds) under parent as name, marked as an override. */
static config_setting_t *
conf_setting_copy(config_setting_t *parent, const char *name, const config_setting_t *src)
{
	config_setting_t *dst, *elem;
	int type = config_setting_type(src);

	if ((dst = config_setting_add(parent, name, type)) == NULL)
		return NULL;
	config_setting_set_hook(dst, &conf_override_mark);
	switch (type) {
	case CONFIG_TYPE_INT:
		config_setting_set_int(dst, config_setting_get_int(src));
		break;
	case CONFIG_TYPE_INT64:
		config_setting_set_int64(dst, config_setting_get_int64(src));
		break;
	case CONFIG_TYPE_FLOAT:
		config_setting_set_float(dst, config_setting_get_float(src));
		break;
	case CONFIG_TYPE_BOOL:
		config_setting_set_bool(dst, config_setting_get_bool(src));
		break;
	case CONFIG_TYPE_STRING:
		if (!config_setting_set_string(dst, config_setting_get_string(src)))
			return NULL;
		break;
	default:
		for (unsigned int i = 0; (elem = config_setting_get_elem(src, i)) != NULL; i++)
			if (conf_setting_copy(dst, config_setting_name(elem), elem) == NULL)
				return NULL;
	}
	return dst;
}

/* The group that holds key in cfg, created (or replacing a scalar) as needed;
 * *leaf points at the last component of key. */
static config_setting_t *
conf_tree_parent(config_t *cfg, char *key, const char **leaf)
{
	config_setting_t *g = config_root_setting(cfg), *child;
	char *dot;

	while ((dot = strchr(key, '.')) != NULL) {
		*dot = '\0';
		child = config_setting_get_member(g, key);
		if (child != NULL && !config_setting_is_group(child)) {
			config_setting_remove(g, key);
			child = NULL;
		}
		if (child == NULL)
			child = config_setting_add(g, key, CONFIG_TYPE_GROUP);
		*dot = '.';
		if ((g = child) == NULL)
			return NULL;
		key = dot + 1;
	}
	*leaf = key;
	return g;
}

/* The setting key in tmp if tmp holds that one setting and nothing else. */
static const config_setting_t *
conf_override_only(const config_t *tmp, const char *key)
{
	const config_setting_t *s = config_root_setting(tmp);
	char name[256];
	size_t len;

	for (;;) {
		len = strcspn(key, ".");
		if (!config_setting_is_group(s) || config_setting_length(s) != 1 ||
		    len >= sizeof(name))
			return NULL;
		memcpy(name, key, len);
		name[len] = '\0';
		if ((s = config_setting_get_member(s, name)) == NULL || key[len] == '\0')
			return s;
		key += len + 1;
	}
}

/* Parse "key = value" as libconfig text (inside key's groups).  The parsed
 * setting, or NULL if value is not libconfig syntax (then it is taken as a
 * raw string) or smuggled in other settings. */
static const config_setting_t *
conf_override_parse(config_t *tmp, const char *key, const char *value)
{
	const char *p, *dot;
	char *text = NULL;
	size_t len = 0, depth = 0;
	FILE *fp;
	int ok;

	if ((fp = open_memstream(&text, &len)) == NULL)
		return NULL;
	for (p = key; (dot = strchr(p, '.')) != NULL; p = dot + 1, depth++)
		fprintf(fp, "%.*s = {\n", (int)(dot - p), p);
	/* the newline ends a // comment the value may hold */
	fprintf(fp, "%s = %s\n;\n", p, value);
	while (depth-- > 0)
		fputs("};\n", fp);
	if (fclose(fp) == EOF) {
		free(text);
		return NULL;
	}
	ok = config_read_string(tmp, text);
	explicit_bzero(text, len);
	free(text);
	return ok ? conf_override_only(tmp, key) : NULL;
}

/* Merge one "-o KEY=VALUE" into the tree, replacing what the file said. */
static void
conf_override_apply(struct conf_ctx *ctx, const char *arg)
{
	const char *eq = strchr(arg, '='), *leaf, *value;
	const config_setting_t *parsed = NULL;
	const struct conf_entry *e;
	config_setting_t *parent, *old, *dst;
	config_t tmp;
	char *key;

	if (eq == NULL || eq == arg) {
		conf_err_cmdline(ctx, arg, eq == NULL ? (int)strlen(arg) : 0,
		    "expected KEY=VALUE");
		return;
	}
	if ((key = strndup(arg, (size_t)(eq - arg))) == NULL) {
		conf_oom(ctx);
		return;
	}
	value = eq + 1;
	config_init(&tmp);
	if ((e = conf_entry_find(key)) == NULL) {
		conf_err_cmdline(ctx, key, (int)strlen(key), "unknown setting");
		goto done;
	}
	parsed = conf_override_parse(&tmp, key, value);
	if (parsed != NULL && conf_is_stringlike(e) && config_setting_is_scalar(parsed) &&
	    config_setting_type(parsed) != CONFIG_TYPE_STRING)
		parsed = NULL;
	if ((parent = conf_tree_parent(&ctx->cfg, key, &leaf)) == NULL)
		goto oom;
	if ((old = config_setting_get_member(parent, leaf)) != NULL) {
		conf_setting_wipe(old);
		config_setting_remove(parent, leaf);
	}
	if (parsed != NULL)
		dst = conf_setting_copy(parent, leaf, parsed);
	else if ((dst = config_setting_add(parent, leaf, CONFIG_TYPE_STRING)) != NULL) {
		config_setting_set_hook(dst, &conf_override_mark);
		if (!config_setting_set_string(dst, value))
			dst = NULL;
	}
	if (dst == NULL)
		goto oom;
	goto done;
oom:
	conf_oom(ctx);
done:
	conf_setting_wipe(config_root_setting(&tmp));
	config_destroy(&tmp);
	free(key);
}

/* glibc keeps a few recently freed small blocks per size in its thread
 * cache without M_PERTURB's fill: take them back, wipe them, and free them
 * again. */
static void
conf_scrub_freed(void)
{
	void *held[CONF_SCRUB_PER_SIZE];

	for (size_t size = 8; size <= CONF_SCRUB_MAX; size += 16) {
		size_t n;

		for (n = 0; n < CONF_SCRUB_PER_SIZE; n++) {
			if ((held[n] = malloc(size)) == NULL)
				break;
			explicit_bzero(held[n], size);
		}
		while (n > 0)
			free(held[--n]);
	}
}

/* Read the file into ctx->cfg.  -1 (reported) if it cannot be read or parsed. */
static int
conf_read(struct conf_ctx *ctx)
{
	errno = 0;
	if (config_read_file(&ctx->cfg, ctx->abspath))
		return 0;
	if (config_error_type(&ctx->cfg) == CONFIG_ERR_FILE_IO) {
		conf_err(ctx, NULL, "cannot read: %s", errno ? strerror(errno) : "I/O error");
		return -1;
	}
	ctx->nerrors++;
	conf_errors_add(ctx->errs, conf_file_name(ctx, config_error_file(&ctx->cfg)),
	    config_error_line(&ctx->cfg), "%s", config_error_text(&ctx->cfg));
	return -1;
}

static int
conf_ctx_init(struct conf_ctx *ctx, const char *path, struct conf_errors *errs)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->name = path;
	ctx->errs = errs;
	config_init(&ctx->cfg);
	if (conf_base[0] == '\0') {
		if (getcwd(conf_base, sizeof(conf_base)) == NULL) {
			conf_err(ctx, NULL, "getcwd: %s", strerror(errno));
			return -1;
		}
	}
	config_set_include_dir(&ctx->cfg, conf_base);
	if ((ctx->abspath = conf_path_absolute(path)) == NULL ||
	    (ctx->conf = calloc(1, sizeof(*ctx->conf))) == NULL ||
	    (ctx->conf->path = strdup(ctx->abspath)) == NULL) {
		conf_err(ctx, NULL, "out of memory");
		return -1;
	}
	return 0;
}

static void
conf_ctx_done(struct conf_ctx *ctx)
{
	conf_wipe_secrets(&ctx->cfg);
	config_destroy(&ctx->cfg);
	conf_free(ctx->conf);
	free(ctx->abspath);
}

struct conf *
conf_load(const char *path, char *const *overrides, size_t noverrides,
    struct conf_errors *errs)
{
	struct conf_ctx ctx;
	struct conf *conf = NULL;
	size_t first = errs->n;

	/* Secrets written literally pass through libconfig's buffers (the
	 * file's, the scanner's), which it frees without wiping; with
	 * M_PERTURB, glibc overwrites every block freed meanwhile, so no copy
	 * is left for a forked role to inherit (conf_keep_secrets). */
	(void)mallopt(M_PERTURB, CONF_PERTURB_BYTE);
	if (conf_ctx_init(&ctx, path, errs) == -1 || conf_read(&ctx) == -1)
		goto fail;
	for (size_t i = 0; i < noverrides; i++)
		conf_override_apply(&ctx, overrides[i]);
	conf_walk_unknown(&ctx, config_root_setting(&ctx.cfg), "");
	for (size_t i = 0; i < CONF_NELEMS(conf_schema); i++)
		conf_load_entry(&ctx, i);
	conf_resolve_workers(&ctx);
	conf_resolve_notify(&ctx);
	conf_check_semantics(&ctx);
	if (ctx.nerrors > 0)
		goto fail;
	conf = ctx.conf;
	ctx.conf = NULL;
fail:
	conf_ctx_done(&ctx);
	conf_scrub_freed();
	(void)mallopt(M_PERTURB, 0);
	conf_errors_sort(errs, first);
	return conf;
}

/*
 * Whole objects.
 */

static void
conf_entry_free(const struct conf_entry *e, struct conf *conf)
{
	void *field = (char *)conf + e->offset;
	struct conf_strlist *list = field;

	switch (e->type) {
	case CT_STRING:
	case CT_PATH:
	case CT_COMMAND:
		conf_str_free(*(char **)field, e->flags & F_SECRET);
		break;
	case CT_STRLIST:
		for (size_t i = 0; i < list->n; i++)
			conf_str_free(list->v[i], e->flags & F_SECRET);
		free(list->v);
		break;
	case CT_CUSTOM:
		e->release(conf);
		break;
	default:
		break;
	}
}

void
conf_free(struct conf *conf)
{
	if (conf == NULL)
		return;
	for (size_t i = 0; i < CONF_NELEMS(conf_schema); i++)
		conf_entry_free(&conf_schema[i], conf);
	free(conf->path);
	free(conf);
}

/*
 * Least knowledge in the forked roles.
 */

/* The environment variables of the AWS credential chain (the scaler's). */
static const char *const conf_aws_env[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
};

/* Wipe the value of environment entry e ("NAME=value") in place: the
 * variable stays, empty (the entry is proctitle's copy, still owned). */
static void
conf_env_wipe(char *e)
{
	char *eq = strchr(e, '=');

	if (eq != NULL)
		explicit_bzero(eq + 1, strlen(eq + 1));
}

/* Wipe secret s and every environment variable holding it (the env:NAME it
 * was read from). */
static void
conf_secret_wipe(char *s)
{
	if (s == NULL || s[0] == '\0')
		return;
	for (size_t i = 0; environ != NULL && environ[i] != NULL; i++) {
		const char *eq = strchr(environ[i], '=');

		if (eq != NULL && strcmp(eq + 1, s) == 0)
			conf_env_wipe(environ[i]);
	}
	explicit_bzero(s, strlen(s));
}

void
conf_keep_secrets(struct conf *c, unsigned int roles)
{
	for (size_t i = 0; i < CONF_NELEMS(conf_schema); i++) {
		const struct conf_entry *e = &conf_schema[i];
		void *f = (char *)c + e->offset;

		if (!(e->flags & F_SECRET) || (F_OWNERS(e->flags) & roles) != 0)
			continue;
		if (e->type == CT_STRLIST) {
			struct conf_strlist *l = f;

			for (size_t j = 0; j < l->n; j++)
				conf_secret_wipe(l->v[j]);
		} else
			conf_secret_wipe(*(char **)f);
	}
	if (roles & CONF_ROLE_SCALER)
		return;
	for (size_t i = 0; environ != NULL && environ[i] != NULL; i++)
		for (size_t k = 0; k < CONF_NELEMS(conf_aws_env); k++) {
			size_t n = strlen(conf_aws_env[k]);

			if (strncmp(environ[i], conf_aws_env[k], n) == 0 &&
			    environ[i][n] == '=')
				conf_env_wipe(environ[i]);
		}
}

/* Does row e hold the same value in a and b? */
static int
conf_entry_equal(const struct conf_entry *e, const struct conf *a, const struct conf *b)
{
	const void *fa = (const char *)a + e->offset, *fb = (const char *)b + e->offset;
	const struct conf_strlist *la = fa, *lb = fb;

	switch (e->type) {
	case CT_BOOL:
	case CT_ENUM:
		return *(const int *)fa == *(const int *)fb;
	case CT_INT:
		return *(const int64_t *)fa == *(const int64_t *)fb;
	case CT_STRING:
	case CT_PATH:
	case CT_COMMAND:
		return strcmp(*(char *const *)fa, *(char *const *)fb) == 0;
	case CT_ADDR:
		return memcmp(fa, fb, sizeof(struct conf_addr)) == 0;
	case CT_STRLIST:
		if (la->n != lb->n)
			return 0;
		for (size_t i = 0; i < la->n; i++)
			if (strcmp(la->v[i], lb->v[i]) != 0)
				return 0;
		return 1;
	case CT_CUSTOM:
		break;
	}
	return 1;
}

int
conf_check_reload(const struct conf *old, const struct conf *new_conf,
    struct conf_errors *errs)
{
	int rc = 0;

	for (size_t i = 0; i < CONF_NELEMS(conf_schema); i++) {
		if (!(conf_schema[i].flags & F_NO_RELOAD) ||
		    conf_entry_equal(&conf_schema[i], old, new_conf))
			continue;
		conf_errors_add(errs, new_conf->path, 0,
		    "%s cannot be changed by a reload (restart olbd)", conf_schema[i].path);
		rc = -1;
	}
	return rc;
}

int
conf_addr_parse(const char *s, struct conf_addr *addr)
{
	struct conf_addr a;
	unsigned char bin[sizeof(struct in6_addr)];
	const char *host, *port, *end;
	size_t hostlen;
	unsigned long p;

	memset(&a, 0, sizeof(a));
	if (s[0] == '[') {
		host = s + 1;
		if ((end = strchr(host, ']')) == NULL || end[1] != ':')
			return -1;
		hostlen = (size_t)(end - host);
		port = end + 2;
	} else {
		if ((end = strrchr(s, ':')) == NULL)
			return -1;
		host = s;
		hostlen = (size_t)(end - s);
		port = end + 1;
		if (memchr(host, ':', hostlen) != NULL ||
		    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-_") < hostlen)
			return -1;
	}
	if (hostlen == 0 || hostlen >= sizeof(a.host) || port[0] == '\0' ||
	    strlen(port) > 5 || port[strspn(port, "0123456789")] != '\0' ||
	    (p = strtoul(port, NULL, 10)) > 65535)
		return -1;
	memcpy(a.host, host, hostlen);
	if (s[0] == '[' && inet_pton(AF_INET6, a.host, bin) != 1)
		return -1;
	a.port = (uint16_t)p;
	*addr = a;
	return 0;
}

const char *
conf_provider_name(enum provider_type type)
{
	return (size_t)type < sizeof(conf_provider_names) /
	    sizeof(conf_provider_names[0]) - 1 ?
	    conf_provider_names[type] : "?";
}
