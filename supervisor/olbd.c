/*
 * olbd: the command line (SPEC §10), configuration test, daemonizing and the
 * pidfile; then the supervisor takes over.
 *
 *   olbd [-d] [-c FILE] [-o KEY=VALUE]...	run (daemonize unless -d)
 *   olbd -t [-c FILE] [-o KEY=VALUE]...	test the configuration
 *   olbd -v					version
 *
 * The pidfile is locked (flock) for the supervisor's whole life, so a stale
 * file left by a crash is recognised and replaced, and a live one refused.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/supervisor.h"

#define MAX_OVERRIDES	128

struct options {
	char	*conf_path;
	char	*overrides[MAX_OVERRIDES];
	size_t	 noverrides;
	int	 foreground;
	int	 test;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: olbd [-d] [-t] [-c file] [-o key=value]...\n"
	    "       olbd -v\n"
	    "  -c file       configuration file (default %s)\n"
	    "  -d            stay in the foreground and log to stderr\n"
	    "  -t            test the configuration and exit\n"
	    "  -o key=value  override one setting (repeatable)\n"
	    "  -v            print the version and exit\n", CONF_DEFAULT_PATH);
	exit(1);
}

/* Copy the options out of argv: the process title later overwrites it. */
static void
options_parse(int argc, char **argv, struct options *o)
{
	int ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt(argc, argv, "c:dto:vh")) != -1) {
		switch (ch) {
		case 'c':
			free(o->conf_path);
			o->conf_path = strdup(optarg);
			break;
		case 'd':
			o->foreground = 1;
			break;
		case 't':
			o->test = 1;
			break;
		case 'o':
			if (o->noverrides == MAX_OVERRIDES)
				fatal(1, "too many -o options (at most %d)", MAX_OVERRIDES);
			o->overrides[o->noverrides++] = strdup(optarg);
			break;
		case 'v':
			printf("olbd %s\n", OLB_VERSION);
			exit(0);
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (o->conf_path == NULL)
		o->conf_path = strdup(CONF_DEFAULT_PATH);
}

static void
print_error_line(const char *line, void *arg)
{
	fprintf(arg, "%s\n", line);
}

/* Load the configuration; print every error to stderr.  NULL on failure. */
static struct conf *
load_conf(const struct options *o)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *conf;

	conf = conf_load(o->conf_path, o->overrides, o->noverrides, &errs);
	if (conf == NULL)
		conf_errors_print(&errs, print_error_line, stderr);
	conf_errors_free(&errs);
	return conf;
}

/* Lock and write the pidfile; the descriptor stays open (and locked) for the
 * supervisor's life.  0 or -1. */
static int
pidfile_claim(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1) {
		log_error("open(%s): %m", path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		log_error("olbd is already running (pid %s, pidfile %s)",
		    buf[0] ? buf : "?", path);
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n) {
		log_error("write(%s): %m", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* Detach from the terminal.  The parent waits until the daemon reports that
 * it holds the pidfile (one byte on a pipe), so `olbd -c FILE` fails visibly
 * when the daemon cannot start.  Returns in the daemon; *report is the pipe. */
static void
daemonize(int *report)
{
	int pfd[2], devnull;
	char c;

	if (pipe2(pfd, O_CLOEXEC) == -1)
		fatal(1, "pipe2: %m");
	switch (fork()) {
	case -1:
		fatal(1, "fork: %m");
	case 0:
		break;
	default:
		close(pfd[1]);
		_exit(read(pfd[0], &c, 1) == 1 && c == 0 ? 0 : 1);
	}
	close(pfd[0]);
	if (setsid() == -1)
		fatal(1, "setsid: %m");
	if (fork() != 0)
		_exit(0);
	if ((devnull = open("/dev/null", O_RDWR)) != -1) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		if (!isatty(2))
			dup2(devnull, 2);
		if (devnull > 2)
			close(devnull);
	}
	umask(027);
	*report = pfd[1];
}

static void
daemon_report(int fd, int ok)
{
	char c = ok ? 0 : 1;

	if (fd == -1)
		return;
	(void)!write(fd, &c, 1);
	close(fd);
}

static void
options_free(struct options *o)
{
	for (size_t i = 0; i < o->noverrides; i++)
		free(o->overrides[i]);
	free(o->conf_path);
}

/* Daemonize, claim the pidfile and run the supervisor.  The exit status. */
static int
run(const struct options *o, struct conf *conf)
{
	struct supervisor_opts sopts;
	char *pidfile;
	int report = -1, pidfd, status;

	if (!o->foreground)
		daemonize(&report);
	supervisor_log_open(conf, o->foreground);
	log_set_role("supervisor");
	if ((pidfd = pidfile_claim(conf->daemon.pidfile)) == -1) {
		daemon_report(report, 0);
		conf_free(conf);
		return 1;
	}
	if (!o->foreground && chdir("/") == -1)
		log_warn("chdir(/): %m");
	sopts.ready_fd = report;
	sopts.conf_path = o->conf_path;
	sopts.overrides = o->overrides;
	sopts.noverrides = o->noverrides;
	sopts.foreground = o->foreground;
	pidfile = strdup(conf->daemon.pidfile);	/* conf is the supervisor's now */
	status = supervisor_run(conf, &sopts);
	if (pidfile != NULL)
		unlink(pidfile);
	free(pidfile);
	close(pidfd);
	return status;
}

#ifdef __SANITIZE_ADDRESS__
/* ASan's allocator ignores mallopt(M_PERTURB), which a configuration load
 * relies on to leave no secret in freed memory for the roles to inherit
 * (common/conf.c): have it fill freed memory instead. */
const char	*__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "max_free_fill_size=1048576";
}
#endif

int
main(int argc, char **argv)
{
	struct options o;
	struct conf *conf;
	char cwd[PATH_MAX], *abs;
	int status = 0;

	proctitle_init(argc, argv);
	options_parse(argc, argv, &o);
	if (getcwd(cwd, sizeof(cwd)) != NULL)
		conf_set_base_dir(cwd);
	if ((abs = realpath(o.conf_path, NULL)) != NULL) {
		free(o.conf_path);
		o.conf_path = abs;
	}
	if ((conf = load_conf(&o)) == NULL)
		status = 1;
	else if (o.test) {
		printf("configuration OK\n");
		conf_free(conf);
	} else
		status = run(&o, conf);
	options_free(&o);
	return status;
}
