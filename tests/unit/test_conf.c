/*
 * Unit tests of the configuration module: the defaults of an empty file, the
 * shipped etc/olbd.conf, every kind of error with its exact "file:line:
 * message", -o overrides, env: and file: secrets, and the reload rules.
 *
 * Fixtures are written by the tests themselves into a fresh temporary
 * directory, which is also the working and base directory while they run, so
 * messages name "t.conf" and relative paths resolve inside it.
 */
#include <sys/stat.h>

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/conf.h"

static char test_root[PATH_MAX];	/* the source tree: cwd when started */
static char test_dir[PATH_MAX];		/* fixtures; cwd and base dir of the tests */

static void
write_file(const char *name, const char *text, mode_t mode)
{
	FILE *fp = fopen(name, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(name, mode), 0);
}

/* Load text as t.conf with overrides.  The conf or NULL; *errors gets every
 * error joined by newlines (caller frees). */
static struct conf *
load(const char *text, char *const *overrides, size_t n, char **errors)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf;

	write_file("t.conf", text, 0600);
	conf = conf_load("t.conf", overrides, n, &errs);
	*errors = conf_errors_join(&errs);
	assert_non_null(*errors);
	conf_errors_free(&errs);
	return conf;
}

/* text (with overrides) must fail with exactly expected. */
static void
expect_errors_with(const char *text, char *const *overrides, size_t n, const char *expected)
{
	char *errors;
	struct conf *conf = load(text, overrides, n, &errors);

	if (strcmp(errors, expected) != 0)
		print_error("config:\n%s\ngot:\n%s\nexpected:\n%s\n", text, errors, expected);
	assert_string_equal(errors, expected);
	assert_null(conf);
	free(errors);
}

static void
expect_errors(const char *text, const char *expected)
{
	expect_errors_with(text, NULL, 0, expected);
}

/* text (with overrides) must load without a word. */
static struct conf *
expect_ok(const char *text, char *const *overrides, size_t n)
{
	char *errors;
	struct conf *conf = load(text, overrides, n, &errors);

	if (conf == NULL)
		print_error("config:\n%s\nunexpected errors:\n%s\n", text, errors);
	assert_non_null(conf);
	assert_string_equal(errors, "");
	free(errors);
	return conf;
}

static void
test_empty_file_gives_defaults(void **state)
{
	struct conf *c = expect_ok("", NULL, 0);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	char path[PATH_MAX * 2];

	(void)state;
	snprintf(path, sizeof(path), "%s/t.conf", test_dir);
	assert_string_equal(c->path, path);
	assert_string_equal(c->daemon.pidfile, "/run/olbd.pid");
	assert_string_equal(c->daemon.user, "");
	assert_int_equal(c->daemon.drain_timeout_ms, 10000);
	assert_int_equal(c->daemon.breaker_deaths, 5);
	assert_int_equal(c->daemon.breaker_window_ms, 10000);
	assert_int_equal(c->daemon.heartbeat_ms, 1000);
	assert_int_equal(c->log.level, LOG_LEVEL_INFO);
	assert_int_equal(c->log.format, LOG_FORMAT_TEXT);
	assert_string_equal(c->log.file, "stderr");
	assert_string_equal(c->log.access_log, "");
	assert_string_equal(c->redis.host, "127.0.0.1");
	assert_int_equal(c->redis.port, 6379);
	assert_string_equal(c->redis.socket, "");
	assert_string_equal(c->redis.password, "");
	assert_int_equal(c->redis.db, 0);
	assert_false(c->redis.embedded);
	snprintf(path, sizeof(path), "%s/var/redis", test_dir);
	assert_string_equal(c->redis.embedded_dir, path);
	assert_string_equal(c->redis.embedded_bin, "redis-server");
	assert_string_equal(c->redis.prefix, "loadbalancer:");
	assert_string_equal(c->redis.events_channel, "loadbalancer:events");
	assert_string_equal(c->redis.sentinel.master, "");
	assert_int_equal(c->redis.sentinel.nodes.n, 0);
	assert_string_equal(c->proxy.listen.host, "127.0.0.1");
	assert_int_equal(c->proxy.listen.port, 8080);
	assert_int_equal(c->proxy.workers, ncpu > 256 ? 256 : ncpu);
	assert_int_equal(c->proxy.auth_tokens.n, 0);
	assert_int_equal(c->proxy.max_body, 102400);
	assert_int_equal(c->proxy.max_header, 8192);
	assert_int_equal(c->admin.listen.port, 0);
	assert_int_equal(c->scaling.initial_instances, 2);
	assert_int_equal(c->scaling.master_threshold, 45);
	assert_int_equal(c->scaling.client_threshold, 45);
	assert_int_equal(c->scaling.max_users_per_master, 50);
	assert_int_equal(c->scaling.max_users_per_client, 50);
	assert_int_equal(c->scaling.max_masters, 10);
	assert_int_equal(c->scaling.max_clients, 50);
	assert_int_equal(c->scaling.cooldown_ms, 60000);
	assert_int_equal(c->provider.type, PROVIDER_PROCESS);
	snprintf(path, sizeof(path), "%s/build/olb-listener --port {port} --name {name}",
	    test_dir);
	assert_string_equal(c->provider.process.command, path);
	assert_int_equal(c->provider.process.port_min, 9100);
	assert_int_equal(c->provider.process.port_max, 9999);
	assert_int_equal(c->provider.ec2.ntags, 1);
	assert_string_equal(c->provider.ec2.tags[0].key, "Product");
	assert_string_equal(c->provider.ec2.tags[0].value, "Fincopy");
	assert_int_equal(c->health.interval_ms, 30000);
	assert_int_equal(c->health.timeout_ms, 3000);
	assert_string_equal(c->health.path, "/api/v1/healthCheck");
	assert_int_equal(c->health.history, 50);
	assert_int_equal(c->health.fall, 5);
	assert_int_equal(c->health.rise, 2);
	assert_int_equal(c->health.replace_after_ms, 300000);
	assert_string_equal(c->scheduler.timezone, "Asia/Kolkata");
	assert_int_equal(c->scheduler.njobs, 2);
	assert_string_equal(c->scheduler.jobs[0].name, "launch_initial");
	assert_string_equal(c->scheduler.jobs[0].cron, "52 23 * * *");
	assert_string_equal(c->scheduler.jobs[0].action, "fleet_up");
	assert_string_equal(c->scheduler.jobs[1].name, "terminate_all");
	assert_string_equal(c->scheduler.jobs[1].cron, "55 23 * * *");
	assert_string_equal(c->scheduler.jobs[1].action, "fleet_down");
	assert_string_equal(c->notify.webhook_url, "");
	assert_int_equal(c->notify.enabled, 0);
	assert_int_equal(c->notify.queue, 1000);
	assert_int_equal(c->notify.timeout_ms, 5000);
	assert_int_equal(c->health.panic_percent, 50);
	assert_int_equal(c->scaling.replace_max, 2);
	conf_free(c);
}

static void
test_shipped_example_loads(void **state)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *c;
	char path[PATH_MAX * 2], *errors;

	(void)state;
	snprintf(path, sizeof(path), "%s/etc/olbd.conf", test_root);
	c = conf_load(path, NULL, 0, &errs);
	errors = conf_errors_join(&errs);
	assert_string_equal(errors, "");
	assert_non_null(c);
	assert_true(c->redis.embedded);
	assert_int_equal(c->redis.port, 6390);
	snprintf(path, sizeof(path), "%s/var/olbd.pid", test_dir);
	assert_string_equal(c->daemon.pidfile, path);
	assert_string_equal(c->proxy.listen.host, "127.0.0.1");
	assert_int_equal(c->proxy.listen.port, 8080);
	assert_int_equal(c->proxy.auth_tokens.n, 1);
	assert_string_equal(c->proxy.auth_tokens.v[0], "demo-token-change-me");
	assert_string_equal(c->log.file, "stderr");
	assert_int_equal(c->provider.ec2.ntags, 1);
	assert_string_equal(c->provider.ec2.tags[0].value, "Fincopy");
	assert_int_equal(c->scheduler.njobs, 2);
	free(errors);
	conf_errors_free(&errs);
	conf_free(c);
}

static void
test_values_and_relative_paths(void **state)
{
	struct conf *c = expect_ok(
	    "daemon = { pidfile = \"./run/o.pid\"; };\n"
	    "log = { level = \"debug\"; format = \"json\"; file = \"log/olbd.log\";\n"
	    "        access_log = \"syslog\"; };\n"
	    "redis = { embedded_bin = \"bin/redis-server\"; socket = \"/run/r.sock\"; };\n"
	    "proxy = { listen = \"[::1]:8443\"; workers = 3; auth_tokens = \"lone\"; };\n"
	    "provider = { type = \"static\"; static = { masters = [\"10.0.0.1:80\"];\n"
	    "    clients = (\"[fd00::2]:81\", \"10.0.0.3:82\"); };\n"
	    "    ec2 = { tags = { Product = \"X\"; Team = \"ops\"; }; }; };\n"
	    "scheduler = { timezone = \"UTC\"; jobs = (); };\n", NULL, 0);
	char path[PATH_MAX * 2];

	(void)state;
	snprintf(path, sizeof(path), "%s/run/o.pid", test_dir);
	assert_string_equal(c->daemon.pidfile, path);
	snprintf(path, sizeof(path), "%s/log/olbd.log", test_dir);
	assert_string_equal(c->log.file, path);
	assert_string_equal(c->log.access_log, "syslog");
	assert_int_equal(c->log.level, LOG_LEVEL_DEBUG);
	assert_int_equal(c->log.format, LOG_FORMAT_JSON);
	snprintf(path, sizeof(path), "%s/bin/redis-server", test_dir);
	assert_string_equal(c->redis.embedded_bin, path);
	assert_string_equal(c->redis.socket, "/run/r.sock");
	assert_string_equal(c->proxy.listen.host, "::1");
	assert_int_equal(c->proxy.listen.port, 8443);
	assert_int_equal(c->proxy.workers, 3);
	assert_int_equal(c->proxy.auth_tokens.n, 1);
	assert_string_equal(c->proxy.auth_tokens.v[0], "lone");
	assert_int_equal(c->provider.type, PROVIDER_STATIC);
	assert_int_equal(c->provider.static_.masters.n, 1);
	assert_int_equal(c->provider.static_.clients.n, 2);
	assert_string_equal(c->provider.static_.clients.v[0], "[fd00::2]:81");
	assert_int_equal(c->provider.ec2.ntags, 2);
	assert_string_equal(c->provider.ec2.tags[1].key, "Team");
	assert_string_equal(c->provider.ec2.tags[1].value, "ops");
	assert_int_equal(c->scheduler.njobs, 0);
	conf_free(c);
}

static void
test_syntax_error(void **state)
{
	(void)state;
	expect_errors("proxy = {\n\tlisten = ;\n};\nbogus = 1;\n", "t.conf:2: syntax error");
}

static void
test_missing_file(void **state)
{
	struct conf_errors errs = { NULL, 0 };
	char *errors;

	(void)state;
	assert_null(conf_load("missing.conf", NULL, 0, &errs));
	errors = conf_errors_join(&errs);
	assert_string_equal(errors, "missing.conf: cannot read: No such file or directory");
	free(errors);
	conf_errors_free(&errs);
}

static void
test_unknown_settings(void **state)
{
	(void)state;
	expect_errors("# comment\nbogus = 1;\n", "t.conf:2: unknown setting 'bogus'");
	expect_errors("proxy = {\n\tworkers = 2;\n\tfoo = 1;\n};\n",
	    "t.conf:3: unknown setting 'proxy.foo'");
	expect_errors("redis = {\n\tsentinel = {\n\t\tnodes = [\"10.0.0.1:1\"];\n"
	    "\t\tnode = \"x\";\n\t};\n};\n",
	    "t.conf:4: unknown setting 'redis.sentinel.node'");
	expect_errors("proxy = 5;\n", "t.conf:1: proxy: expected a group");
}

static void
test_wrong_types(void **state)
{
	(void)state;
	expect_errors("proxy = {\n\tworkers = \"four\";\n};\n",
	    "t.conf:2: proxy.workers: expected an integer");
	expect_errors("health = { interval_ms = 1.5; };\n",
	    "t.conf:1: health.interval_ms: expected an integer");
	expect_errors("redis = { embedded = 1; };\n",
	    "t.conf:1: redis.embedded: expected true or false");
	expect_errors("redis = { host = 10; };\n", "t.conf:1: redis.host: expected a string");
	expect_errors("proxy = { auth_tokens = [1, 2]; };\n",
	    "t.conf:1: proxy.auth_tokens[0]: expected a string\n"
	    "t.conf:1: proxy.auth_tokens[1]: expected a string");
	expect_errors("proxy = { auth_tokens = { a = \"b\"; }; };\n",
	    "t.conf:1: proxy.auth_tokens: expected a list of strings");
	expect_errors("health = { path = \"healthCheck\"; };\n",
	    "t.conf:1: health.path: must be a path starting with / (at most 1024 "
	    "characters)");
	expect_errors("health = { path = \"/a b\"; };\n",
	    "t.conf:1: health.path: must be visible ASCII without spaces or #");
}

static void
test_out_of_range(void **state)
{
	(void)state;
	expect_errors("\nproxy = { workers = 999; };\n",
	    "t.conf:2: proxy.workers: 999 is out of range (0..256)");
	expect_errors("redis = { port = -1; };\n",
	    "t.conf:1: redis.port: -1 is out of range (1..65535)");
	expect_errors("proxy = { listen = \"127.0.0.1:0\"; };\n",
	    "t.conf:1: proxy.listen: port 0 is out of range (1..65535)");
}

static void
test_bad_enum(void **state)
{
	(void)state;
	expect_errors("log = {\n\tlevel = \"loud\";\n};\n",
	    "t.conf:2: log.level: 'loud' is not one of debug, info, warn, error, notify");
	expect_errors("log = { format = \"xml\"; };\n",
	    "t.conf:1: log.format: 'xml' is not one of text, json");
	expect_errors("provider = { type = \"gce\"; };\n",
	    "t.conf:1: provider.type: 'gce' is not one of process, static, ec2");
}

static void
test_bad_addr(void **state)
{
	(void)state;
	expect_errors("proxy = { listen = \"x\"; };\n", "t.conf:1: proxy.listen: 'x' is not host:port");
	expect_errors("admin = { listen = \"::1:80\"; };\n",
	    "t.conf:1: admin.listen: '::1:80' is not host:port");
	/* One port for both listeners: SO_REUSEPORT would let both bind, and
	 * one take the other's connections. */
	expect_errors("admin = { listen = \"127.0.0.1:8080\"; };\n",
	    "t.conf:1: admin.listen: port 8080 is proxy.listen's too (olbd's "
	    "listeners use SO_REUSEPORT: both would bind, and one would take the "
	    "other's connections)");
	expect_errors("proxy = { listen = \"0.0.0.0:9000\"; };\n"
	    "admin = { listen = \"10.0.0.1:9000\"; };\n",
	    "t.conf:2: admin.listen: port 9000 is proxy.listen's too (olbd's "
	    "listeners use SO_REUSEPORT: both would bind, and one would take the "
	    "other's connections)");
	/* The unspecified address however IPv6 writes it. */
	expect_errors("proxy = { listen = \"[0:0::0]:9000\"; };\n"
	    "admin = { listen = \"10.0.0.1:9000\"; };\n",
	    "t.conf:2: admin.listen: port 9000 is proxy.listen's too (olbd's "
	    "listeners use SO_REUSEPORT: both would bind, and one would take the "
	    "other's connections)");
	conf_free(expect_ok("proxy = { listen = \"10.0.0.2:9000\"; };\n"
	    "admin = { listen = \"10.0.0.1:9000\"; };\n", NULL, 0));
	/* Sentinels are addresses: hiredis would resolve a name blocking. */
	expect_errors("redis = { sentinel = {\n\tnodes = [\"10.0.0.1:1\", \"b\"]; }; };\n",
	    "t.conf:2: redis.sentinel.nodes[1]: 'b' is not ip:port");
	expect_errors("redis = { sentinel = {\n\tnodes = [\"sentinel-1:26379\"]; }; };\n",
	    "t.conf:2: redis.sentinel.nodes[0]: 'sentinel-1:26379' is not ip:port");
	/* A private Redis has no sentinels: refused, never silently ignored. */
	expect_errors("redis = { embedded = true; sentinel = {\n\tmaster = \"m\";\n"
	    "\tnodes = [\"10.0.0.1:26379\"]; }; };\n",
	    "t.conf:2: redis.sentinel.master: Sentinel cannot be used with "
	    "redis.embedded (a private Redis has no sentinels)");
	expect_errors("redis = { sentinel = {\n\tmaster = \"m\"; }; };\n",
	    "t.conf:2: redis.sentinel.nodes: at least one node is required when "
	    "redis.sentinel.master is set");
}

static void
test_ec2_requires_its_settings(void **state)
{
	(void)state;
	expect_errors("provider = {\n\ttype = \"ec2\";\n\tec2 = {\n\t\tami_id = \"ami-1\";\n"
	    "\t\tinstance_type = \"t3.micro\";\n\t\tsubnet_id = \"subnet-1\";\n"
	    "\t\tsecurity_group = \"sg-1\";\n\t};\n\tcluster = \"prod\";\n};\n",
	    "t.conf:2: provider.ec2.region: required when provider.type is \"ec2\"");
	expect_errors("provider = {\n\ttype = \"ec2\";\n\tec2 = {\n\t\tregion = \"\";\n"
	    "\t\tami_id = \"ami-1\"; instance_type = \"t3.micro\";\n"
	    "\t\tsecurity_group = \"sg-1\";\n\t};\n\tcluster = \"prod\";\n};\n",
	    "t.conf:2: provider.ec2.subnet_id: required when provider.type is \"ec2\"\n"
	    "t.conf:4: provider.ec2.region: required when provider.type is \"ec2\"");
	expect_errors("provider = { ec2 = { region = \"EU West\"; }; };\n",
	    "t.conf:1: provider.ec2.region: 'EU West' is not an AWS region name");
	/* Two deployments on the default cluster name would meet. */
	expect_errors("provider = {\n\ttype = \"ec2\";\n\tec2 = { region = \"us-east-1\";\n"
	    "\t\tami_id = \"ami-1\"; instance_type = \"t3.micro\";\n"
	    "\t\tsubnet_id = \"subnet-1\"; security_group = \"sg-1\"; };\n};\n",
	    "t.conf:2: provider.cluster: required when provider.type is \"ec2\" (a name "
	    "of this deployment's own, not the default \"olb\")");
}

static void
test_static_requires_masters(void **state)
{
	(void)state;
	expect_errors("provider = {\n\ttype = \"static\";\n};\n",
	    "t.conf:2: provider.static.masters: at least one master is required when "
	    "provider.type is \"static\"");
	expect_errors("provider = {\n\ttype = \"static\";\n\tstatic = {\n"
	    "\t\tmasters = [\"10.0.0.1\"];\n\t\tclients = [\"db.example:80\"];\n\t};\n};\n",
	    "t.conf:4: provider.static.masters[0]: '10.0.0.1' is not ip:port\n"
	    "t.conf:5: provider.static.clients[0]: 'db.example:80' is not ip:port");
}

static void
test_secret_file_readable_by_others(void **state)
{
	char expected[PATH_MAX * 2], *errors;

	(void)state;
	write_file("pw.txt", "hunter2\n", 0644);
	snprintf(expected, sizeof(expected), "t.conf:1: redis.password: secret file "
	    "%s/pw.txt is readable by other users (mode 0644)", test_dir);
	expect_errors("redis = { password = \"file:pw.txt\"; };\n", expected);
	chmod("pw.txt", 0602);
	snprintf(expected, sizeof(expected), "t.conf:1: redis.password: secret file "
	    "%s/pw.txt is writable by other users (mode 0602)", test_dir);
	expect_errors("redis = { password = \"file:pw.txt\"; };\n", expected);
	snprintf(expected, sizeof(expected), "t.conf:1: proxy.auth_tokens[0]: cannot read "
	    "secret file %s/nope.txt: No such file or directory", test_dir);
	expect_errors("proxy = { auth_tokens = [\"file:nope.txt\"]; };\n", expected);
	assert_null(load("redis = { password = \"file:pw.txt\"; };\n", NULL, 0, &errors));
	assert_null(strstr(errors, "hunter2"));
	free(errors);
}

static void
test_secret_env_missing(void **state)
{
	(void)state;
	unsetenv("OLB_TEST_UNSET");
	expect_errors("redis = {\n\tpassword = \"env:OLB_TEST_UNSET\";\n};\n",
	    "t.conf:2: redis.password: environment variable OLB_TEST_UNSET is not set");
}

static void
test_secrets_are_resolved_and_never_quoted(void **state)
{
	struct conf *c;
	char *errors;

	(void)state;
	setenv("OLB_TEST_TOKEN", "tok-from-env", 1);
	setenv("OLB_TEST_PW", "pw-from-env", 1);
	write_file("tok.txt", "tok-from-file\n", 0600);
	c = expect_ok("redis = { password = \"env:OLB_TEST_PW\"; };\n"
	    "proxy = { auth_tokens = [\"env:OLB_TEST_TOKEN\", \"file:tok.txt\", \"plain\"]; };\n"
	    "notify = { webhook_url = \"https://hooks.example/x\"; };\n", NULL, 0);
	assert_string_equal(c->redis.password, "pw-from-env");
	assert_int_equal(c->proxy.auth_tokens.n, 3);
	assert_string_equal(c->proxy.auth_tokens.v[0], "tok-from-env");
	assert_string_equal(c->proxy.auth_tokens.v[1], "tok-from-file");
	assert_string_equal(c->proxy.auth_tokens.v[2], "plain");
	assert_string_equal(c->notify.webhook_url, "https://hooks.example/x");
	/* Every role knows a webhook is set; only the health worker keeps it. */
	assert_int_equal(c->notify.enabled, 1);
	conf_keep_secrets(c, CONF_ROLE_PROXY);
	assert_string_equal(c->notify.webhook_url, "");
	assert_int_equal(c->notify.enabled, 1);
	conf_free(c);

	setenv("OLB_TEST_TOKEN", "", 1);
	assert_null(load("proxy = { auth_tokens = [\"sekrit-one\",\n\"env:OLB_TEST_TOKEN\"]; };\n"
	    "notify = { webhook_url = \"ftp://sekrit@host\"; };\n", NULL, 0, &errors));
	assert_string_equal(errors,
	    "t.conf:2: proxy.auth_tokens[1]: must not be empty\n"
	    "t.conf:3: notify.webhook_url: must be an http:// or https:// URL");
	assert_null(strstr(errors, "sekrit"));
	free(errors);
	unsetenv("OLB_TEST_TOKEN");
	unsetenv("OLB_TEST_PW");
}

static void
test_bad_timezone(void **state)
{
	(void)state;
	expect_errors("scheduler = {\n\ttimezone = \"Mars/Olympus_Mons\";\n};\n",
	    "t.conf:2: scheduler.timezone: 'Mars/Olympus_Mons' is not a known time zone");
	expect_errors("scheduler = { timezone = \"../../etc/passwd\"; };\n",
	    "t.conf:1: scheduler.timezone: '../../etc/passwd' is not a known time zone");
	expect_errors("scheduler = { timezone = \"/etc/passwd\"; };\n",
	    "t.conf:1: scheduler.timezone: '/etc/passwd' is not a known time zone");
}

static void
test_bad_jobs(void **state)
{
	(void)state;
	expect_errors("scheduler = { jobs = (\n"
	    "\t{ name = \"a\"; cron = \"52 24 * * *\"; action = \"fleet_up\"; },\n"
	    "\t{ name = \"b\"; cron = \"5x 23 * * *\"; action = \"fleet_up\"; },\n"
	    "\t{ name = \"c\"; cron = \"52 23 * *\"; action = \"fleet_up\"; },\n"
	    "\t{ name = \"d\"; cron = \"*/15 1-5 1,15 1-12/2 7\"; action = \"up\"; },\n"
	    "\t{ name = \"a\"; cron = \"0 0 * * *\"; action = \"fleet_down\"; when = 1; },\n"
	    "\t{ name = \"f\"; cron = \"0 0 * * 1-0\"; }\n"
	    "); };\n",
	    "t.conf:2: scheduler.jobs[0].cron: hour 24 is out of range (0..23)\n"
	    "t.conf:3: scheduler.jobs[1].cron: bad minute field '5x'\n"
	    "t.conf:4: scheduler.jobs[2].cron: '52 23 * *' must have 5 fields "
	    "(minute hour day month weekday)\n"
	    "t.conf:5: scheduler.jobs[3].action: 'up' is not one of fleet_up, fleet_down\n"
	    "t.conf:6: unknown setting 'scheduler.jobs[4].when'\n"
	    "t.conf:6: scheduler.jobs[4].name: duplicate job name 'a'\n"
	    "t.conf:7: scheduler.jobs[5].cron: bad day of week field '1-0'\n"
	    "t.conf:7: scheduler.jobs[5].action: required");
	expect_errors("scheduler = { jobs = \"daily\"; };\n",
	    "t.conf:1: scheduler.jobs: expected a list of groups");
}

/* Holidays: inline ISO dates and a file of them, sorted and merged; bad
 * dates are errors with the line of the setting or of the file. */
static void
test_job_holidays(void **state)
{
	char path[] = "/tmp/olb-holidays-XXXXXX", text[1024], want[1024];
	struct conf *c;
	FILE *f;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fputs("# NSE 2026\n2026-12-25\n\n  2026-01-26  # Republic Day\n", f);
	fclose(f);
	snprintf(text, sizeof(text), "scheduler = { jobs = ( { name = \"up\"; "
	    "cron = \"0 9 * * 1-5\"; action = \"fleet_up\"; skip_dates = "
	    "[ \"2026-10-20\", \"2024-02-29\" ]; skip_file = \"%s\"; } ); };\n",
	    path);
	c = expect_ok(text, NULL, 0);
	assert_int_equal(c->scheduler.jobs[0].nskip, 4);
	assert_int_equal(c->scheduler.jobs[0].skip[0], 20240229);
	assert_int_equal(c->scheduler.jobs[0].skip[1], 20260126);
	assert_int_equal(c->scheduler.jobs[0].skip[2], 20261020);
	assert_int_equal(c->scheduler.jobs[0].skip[3], 20261225);
	assert_string_equal(c->scheduler.jobs[0].skip_file, path);
	conf_free(c);

	assert_non_null(f = fopen(path, "w"));
	fputs("2026-12-25\n2026-13-01\n2026-02-29\n26-1-1\n", f);
	fclose(f);
	/* errors come sorted by file, then line; a file's first bad line */
	snprintf(want, sizeof(want),
	    "%s:2: expected a date as \"YYYY-MM-DD\"\n"
	    "t.conf:2: scheduler.jobs[0].skip_dates[0]: expected a date as "
	    "\"YYYY-MM-DD\"\n"
	    "t.conf:3: scheduler.jobs[0].skip_dates[1]: expected a date as "
	    "\"YYYY-MM-DD\"\n"
	    "t.conf:3: scheduler.jobs[0].skip_dates[2]: expected a date as "
	    "\"YYYY-MM-DD\"", path);
	snprintf(text, sizeof(text), "scheduler = { jobs = ( { name = \"up\";\n"
	    "cron = \"0 9 * * *\"; action = \"fleet_up\"; skip_dates = ( \"2026-1-1\",\n"
	    "\"2025-02-29\", 20260101 );\nskip_file = \"%s\"; } ); };\n", path);
	/* libconfig reports an element by its list's line */
	expect_errors(text, want);
	unlink(path);
	expect_errors("scheduler = { jobs = ( { name = \"up\"; cron = \"0 9 * * *\"; "
	    "action = \"fleet_up\"; skip_file = \"/nonexistent/h\"; } ); };\n",
	    "t.conf:1: scheduler.jobs[0].skip_file: /nonexistent/h: No such file "
	    "or directory");
	expect_errors("scheduler = { jobs = ( { name = \"up\"; cron = \"0 9 * * *\"; "
	    "action = \"fleet_up\"; skip_file = \"/dev/zero\"; } ); };\n",
	    "t.conf:1: scheduler.jobs[0].skip_file: /dev/zero: not a file of at "
	    "most 1048576 bytes");
	expect_errors("scheduler = { jobs = ( { name = \"up\"; cron = \"0 9 * * *\"; "
	    "action = \"fleet_up\"; skip_dates = \"2026-12-25\"; } ); };\n",
	    "t.conf:1: scheduler.jobs[0].skip_dates: expected a list of dates");
}

static void
test_health_timeout_below_interval(void **state)
{
	(void)state;
	expect_errors("health = {\n\tinterval_ms = 3000;\n\ttimeout_ms = 3000;\n};\n",
	    "t.conf:3: health.timeout_ms: 3000 must be less than health.interval_ms (3000)");
	expect_errors("health = {\n\tinterval_ms = 2000;\n};\n",
	    "t.conf:2: health.timeout_ms: 3000 must be less than health.interval_ms (2000)");
}

static void
test_threshold_above_maximum(void **state)
{
	(void)state;
	expect_errors("scaling = {\n\tmaster_threshold = 60;\n};\n",
	    "t.conf:2: scaling.master_threshold: 60 must not exceed "
	    "scaling.max_users_per_master (50)");
	expect_errors("scaling = {\n\tclient_threshold = 45;\n\tmax_users_per_client = 40;\n};\n",
	    "t.conf:2: scaling.client_threshold: 45 must not exceed "
	    "scaling.max_users_per_client (40)");
	expect_errors("provider = { process = { port_min = 9000;\nport_max = 8000; }; };\n",
	    "t.conf:1: provider.process.port_min: 9000 must not exceed "
	    "provider.process.port_max (8000)");
}

static void
test_every_error_is_reported(void **state)
{
	(void)state;
	expect_errors(
	    "daemon = {\n"
	    "\tpidfil = \"x\";\n"			/* 2: unknown */
	    "};\n"
	    "log = {\n"
	    "\tlevel = \"verbose\";\n"			/* 5: enum */
	    "};\n"
	    "proxy = {\n"
	    "\tlisten = \"localhost\";\n"		/* 8: addr */
	    "\tworkers = \"2\";\n"			/* 9: type */
	    "\tmax_body = 0;\n"				/* 10: range */
	    "};\n"
	    "health = { timeout_ms = 60000; };\n"	/* 12: semantic */
	    "extra = true;\n",				/* 13: unknown */
	    "t.conf:2: unknown setting 'daemon.pidfil'\n"
	    "t.conf:5: log.level: 'verbose' is not one of debug, info, warn, error, notify\n"
	    "t.conf:8: proxy.listen: 'localhost' is not host:port\n"
	    "t.conf:9: proxy.workers: expected an integer\n"
	    "t.conf:10: proxy.max_body: 0 is out of range (1..67108864)\n"
	    "t.conf:12: health.timeout_ms: 60000 must be less than health.interval_ms (30000)\n"
	    "t.conf:13: unknown setting 'extra'");
}

static void
test_error_order(void **state)
{
	char *ov[] = { "provider.type=ec2", "proxy.bogus=1" };

	(void)state;
	expect_errors_with("provider = { ec2 = { ami_id = \"ami-1\"; instance_type = \"t3.small\";\n"
	    "subnet_id = \"subnet-1\"; security_group = \"sg-1\"; }; cluster = \"c\"; };\n"
	    "proxy = { workers = 999; };\n", ov, 2,
	    "-o proxy.bogus: unknown setting\n"
	    "t.conf:3: proxy.workers: 999 is out of range (0..256)\n"
	    "t.conf: provider.ec2.region: required when provider.type is \"ec2\"");
}

static void
test_overrides(void **state)
{
	char *ov[] = {
		"redis.port=16400",
		"proxy.listen=127.0.0.1:18080",
		"log.level=debug",
		"redis.host=\"10.0.0.9\"",
		"proxy.auth_tokens=[\"t1\",\"t2\"]",
		"daemon.user=",
		"redis.sentinel.nodes=10.1.0.1:26379",
		"scheduler.jobs=({ name = \"x\"; cron = \"0 1 * * *\"; action = \"fleet_up\"; })",
		"proxy.workers=4",
	};
	struct conf *c;

	(void)state;
	c = expect_ok("proxy = {\n\tworkers = 999;\n\tauth_tokens = [\"old\"];\n};\n"
	    "daemon = { user = \"no-such-user-here\"; };\n", ov, sizeof(ov) / sizeof(ov[0]));
	assert_int_equal(c->redis.port, 16400);
	assert_string_equal(c->proxy.listen.host, "127.0.0.1");
	assert_int_equal(c->proxy.listen.port, 18080);
	assert_int_equal(c->log.level, LOG_LEVEL_DEBUG);
	assert_string_equal(c->redis.host, "10.0.0.9");
	assert_int_equal(c->proxy.auth_tokens.n, 2);
	assert_string_equal(c->proxy.auth_tokens.v[0], "t1");
	assert_string_equal(c->proxy.auth_tokens.v[1], "t2");
	assert_string_equal(c->daemon.user, "");
	assert_int_equal(c->redis.sentinel.nodes.n, 1);
	assert_int_equal(c->scheduler.njobs, 1);
	assert_string_equal(c->scheduler.jobs[0].name, "x");
	assert_int_equal(c->proxy.workers, 4);
	conf_free(c);
}

static void
test_override_errors(void **state)
{
	char *unknown[] = { "proxy.foo=1" };
	char *bad[] = {
		"proxy.workers=999",
		"proxy.workers=two",
		"proxy",
		"=1",
		"log.level=loud",
		"health.timeout_ms=40000",
		"proxy.workers=1; }; log = { level = \"debug\"",
	};

	(void)state;
	expect_errors_with("", unknown, 1, "-o proxy.foo: unknown setting");
	expect_errors_with("\nlog = { level = \"info\"; };\n", bad, sizeof(bad) / sizeof(bad[0]),
	    "-o proxy: expected KEY=VALUE\n"
	    "-o: expected KEY=VALUE\n"
	    "-o log.level: 'loud' is not one of debug, info, warn, error, notify\n"
	    "-o proxy.workers: expected an integer\n"
	    "-o health.timeout_ms: 40000 must be less than health.interval_ms (30000)");
	expect_errors_with("", bad, 1, "-o proxy.workers: 999 is out of range (0..256)");
}

static void
test_check_reload(void **state)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *a, *b, *same;
	char expected[PATH_MAX * 3], *errors;

	(void)state;
	a = expect_ok("daemon = { pidfile = \"a.pid\"; };\nproxy = { workers = 2; };\n", NULL, 0);
	same = expect_ok("daemon = { pidfile = \"a.pid\"; };\nproxy = { workers = 8; };\n",
	    NULL, 0);
	b = expect_ok("daemon = { pidfile = \"b.pid\"; };\nredis = { embedded = true; };\n",
	    NULL, 0);
	assert_int_equal(conf_check_reload(a, same, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(conf_check_reload(a, b, &errs), -1);
	errors = conf_errors_join(&errs);
	snprintf(expected, sizeof(expected),
	    "%s/t.conf: daemon.pidfile cannot be changed by a reload (restart olbd)\n"
	    "%s/t.conf: redis.embedded cannot be changed by a reload (restart olbd)",
	    test_dir, test_dir);
	assert_string_equal(errors, expected);
	free(errors);
	conf_errors_free(&errs);
	conf_free(a);
	conf_free(b);
	conf_free(same);
}

static void
collect_line(const char *line, void *arg)
{
	char *buf = arg;

	strcat(buf, line);
	strcat(buf, "|");
}

static void
test_error_printing(void **state)
{
	struct conf_errors errs = { NULL, 0 };
	char buf[256] = "";

	(void)state;
	conf_errors_add(&errs, "f.conf", 3, "a %d", 1);
	conf_errors_add(&errs, "f.conf", 0, "b");
	conf_errors_add(&errs, CONF_FILE_CMDLINE, 0, "-o x: c");
	conf_errors_print(&errs, collect_line, buf);
	assert_string_equal(buf, "f.conf:3: a 1|f.conf: b|-o x: c|");
	conf_errors_free(&errs);
	assert_null(errs.v);
}

static void
test_addr_parse(void **state)
{
	struct conf_addr a;

	(void)state;
	assert_int_equal(conf_addr_parse("127.0.0.1:80", &a), 0);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 80);
	assert_int_equal(conf_addr_parse("[::1]:65535", &a), 0);
	assert_string_equal(a.host, "::1");
	assert_int_equal(a.port, 65535);
	assert_int_equal(conf_addr_parse("redis.internal:6379", &a), 0);
	assert_string_equal(a.host, "redis.internal");
	assert_int_equal(conf_addr_parse("0.0.0.0:0", &a), 0);
	assert_int_equal(conf_addr_parse("::1:80", &a), -1);
	assert_int_equal(conf_addr_parse("[::1]80", &a), -1);
	assert_int_equal(conf_addr_parse("[nothost]:80", &a), -1);
	assert_int_equal(conf_addr_parse("host:65536", &a), -1);
	assert_int_equal(conf_addr_parse("host:", &a), -1);
	assert_int_equal(conf_addr_parse(":80", &a), -1);
	assert_int_equal(conf_addr_parse("host:8x", &a), -1);
	assert_int_equal(conf_addr_parse("ho st:80", &a), -1);
	assert_int_equal(conf_addr_parse("host", &a), -1);
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	const char *src = getenv("OLB_SOURCE_DIR");

	(void)state;
	if (src != NULL)
		snprintf(test_root, sizeof(test_root), "%s", src);
	else if (getcwd(test_root, sizeof(test_root)) == NULL)
		return -1;
	snprintf(test_dir, sizeof(test_dir), "%s/olb-test-conf-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(test_dir) == NULL || chdir(test_dir) == -1)
		return -1;
	conf_set_base_dir(test_dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (chdir(test_root) == -1)
		return -1;
	return nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The provider names olbctl and the scaler print are provider.type's. */
static void
test_provider_name(void **state)
{
	(void)state;
	assert_string_equal(conf_provider_name(PROVIDER_PROCESS), "process");
	assert_string_equal(conf_provider_name(PROVIDER_STATIC), "static");
	assert_string_equal(conf_provider_name(PROVIDER_EC2), "ec2");
	assert_string_equal(conf_provider_name((enum provider_type)3), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_file_gives_defaults),
		cmocka_unit_test(test_shipped_example_loads),
		cmocka_unit_test(test_values_and_relative_paths),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_unknown_settings),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_bad_enum),
		cmocka_unit_test(test_bad_addr),
		cmocka_unit_test(test_ec2_requires_its_settings),
		cmocka_unit_test(test_static_requires_masters),
		cmocka_unit_test(test_secret_file_readable_by_others),
		cmocka_unit_test(test_secret_env_missing),
		cmocka_unit_test(test_secrets_are_resolved_and_never_quoted),
		cmocka_unit_test(test_bad_timezone),
		cmocka_unit_test(test_bad_jobs),
		cmocka_unit_test(test_job_holidays),
		cmocka_unit_test(test_health_timeout_below_interval),
		cmocka_unit_test(test_threshold_above_maximum),
		cmocka_unit_test(test_every_error_is_reported),
		cmocka_unit_test(test_error_order),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_override_errors),
		cmocka_unit_test(test_check_reload),
		cmocka_unit_test(test_error_printing),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_provider_name),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
