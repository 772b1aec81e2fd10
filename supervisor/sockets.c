/*
 * sockets: the proxy listening sockets.  The supervisor opens one per proxy
 * slot, all bound to proxy.listen with SO_REUSEPORT, and keeps them open for
 * its whole life: whichever worker holds the slot inherits the socket, so a
 * restart or a reload never closes a socket with connections queued on it.
 */
#include <sys/socket.h>

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "supervisor/supervisor.h"

#define LISTEN_BACKLOG	4096

static int
listen_socket(const struct addrinfo *ai, const char *where)
{
	int fd, on = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd == -1) {
		log_error("socket(%s): %m", where);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1) {
		log_error("setsockopt(%s, SO_REUSEPORT): %m", where);
		goto fail;
	}
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		log_error("bind(%s): %m", where);
		goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) == -1) {
		log_error("listen(%s): %m", where);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int
listen_open(const struct conf_addr *addr)
{
	struct addrinfo hints, *res;
	char port[8], where[300];
	int fd, rc;

	snprintf(port, sizeof(port), "%u", addr->port);
	snprintf(where, sizeof(where), "%s:%u", addr->host, addr->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(addr->host, port, &hints, &res)) != 0) {
		log_error("getaddrinfo(%s): %s", where, gai_strerror(rc));
		return -1;
	}
	fd = listen_socket(res, where);
	freeaddrinfo(res);
	return fd;
}
