/*
 * embedded_redis: the private redis-server that `make run` and small
 * installations use (redis.embedded = true).  The supervisor runs it as the
 * "redis" role: this file writes its configuration (mode 0600, so a password
 * never appears in ps) and execs it.  It dies with the supervisor through
 * PR_SET_PDEATHSIG, since it cannot watch the liveness pipe.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/supervisor.h"
#include "workers/worker.h"

/* Redis' auto-aof-rewrite-min-size for the embedded Redis: about 700,000
 * placements (some 370 bytes of the file each) before the first rewrite. */
#define EMBEDDED_REDIS_AOF_REWRITE_MIN	"256mb"

/* mkdir -p with mode 0700 for each created component.  0 or -1. */
static int
embedded_redis_mkdir(const char *dir)
{
	char path[1024];

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -1;
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static int
embedded_redis_write_conf(const struct conf *conf, const char *path)
{
	FILE *fp;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL) {
		log_error("open(%s): %m", path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	fprintf(fp, "# written by olbd at every start; edits are lost\n");
	fprintf(fp, "daemonize no\nlogfile \"%s/redis.log\"\nloglevel notice\n",
	    conf->redis.embedded_dir);
	fprintf(fp, "dir \"%s\"\nappendonly yes\nsave \"\"\n", conf->redis.embedded_dir);
	/* The append-only file is compacted by a forked child, on the core
	 * of the proxy workers that share this host: Redis' default (at 64 MB,
	 * about 180,000 placements) put a fork and seconds of the child's
	 * work in the middle of a burst of logins (docs/DECISIONS.md). */
	fprintf(fp, "auto-aof-rewrite-min-size %s\n", EMBEDDED_REDIS_AOF_REWRITE_MIN);
	fprintf(fp, "proc-title-template \"olbd: redis {listen-addr}\"\n");
	if (conf->redis.socket[0] != '\0')
		fprintf(fp, "port 0\nunixsocket \"%s\"\nunixsocketperm 700\n",
		    conf->redis.socket);
	else
		fprintf(fp, "bind %s\nport %lld\n", conf->redis.host,
		    (long long)conf->redis.port);
	if (conf->redis.password[0] != '\0')
		fprintf(fp, "requirepass \"%s\"\n", conf->redis.password);
	if (fclose(fp) == EOF) {
		log_error("write(%s): %m", path);
		return -1;
	}
	return 0;
}

int
embedded_redis_main(struct worker *w)
{
	const struct conf *conf = w->conf;
	char path[1100];
	pid_t parent = getppid();

	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		return 1;
	/* Out of the terminal's process group: Ctrl-C reaches the supervisor,
	 * which stops Redis last, after the workers have drained. */
	setpgid(0, 0);
	if (embedded_redis_mkdir(conf->redis.embedded_dir) == -1) {
		log_error("mkdir(%s): %m", conf->redis.embedded_dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/redis.conf", conf->redis.embedded_dir);
	if (embedded_redis_write_conf(conf, path) == -1)
		return 1;
	execlp(conf->redis.embedded_bin, conf->redis.embedded_bin, path, (char *)NULL);
	log_error("exec(%s): %m", conf->redis.embedded_bin);
	return 1;
}

static int
embedded_redis_try(const struct conf *conf)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, rc;

	memset(&ss, 0, sizeof(ss));
	if (conf->redis.socket[0] != '\0') {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ss;

		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", conf->redis.socket);
		len = sizeof(*sun);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)conf->redis.port);
		if (inet_pton(AF_INET, conf->redis.host, &sin->sin_addr) != 1)
			return 0;	/* a name: let the workers resolve it */
		len = sizeof(*sin);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = connect(fd, (struct sockaddr *)&ss, len);
	close(fd);
	return rc;
}

int
embedded_redis_wait(const struct conf *conf, int timeout_ms)
{
	uint64_t deadline = util_mono_ms() + (uint64_t)timeout_ms;
	struct timespec pause = { 0, 5 * 1000 * 1000 };

	while (embedded_redis_try(conf) == -1) {
		if (util_mono_ms() >= deadline)
			return -1;
		nanosleep(&pause, NULL);
	}
	return 0;
}
