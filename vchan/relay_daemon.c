/* The relay daemon's unix socket inside an agent zone: listening on it
 * (mode 0600, peers checked with SO_PEERCRED), and the other end, the
 * `zonegate-relay --via` client that checks the socket and the daemon
 * before copying its stdio over the connection. */
#define _GNU_SOURCE /* struct ucred */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zonegate/chan.h>

#define VIA_BUF (64u << 10) /* each direction of the --via copy */

int relay_default_socket(char *buf, size_t len)
{
	const char *env = getenv("ZONEGATE_RELAY_SOCKET");
	int n;

	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else
		n = snprintf(buf, len, "/tmp/zonegate-relay-%u.sock",
			     (unsigned)geteuid());
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Fills sa for path; -1 if it does not fit sun_path. */
static int sock_addr(const char *path, struct sockaddr_un *sa)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof(sa->sun_path))
		return -1;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

/* The uid of fd's peer, or -1. */
static long peer_uid(int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
		return -1;
	return (long)uc.uid;
}

/* Tries to connect to path: the fd, -1 with errno set. */
static int try_connect(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* What is at path before we listen there: nothing (0), a stale socket
 * of ours that was removed (0), or something we must not replace (-1,
 * why in err): another uid's file, a live daemon, not a socket. */
static int clear_path(const char *path, const struct sockaddr_un *sa, char *err,
		      size_t errlen)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		if (st.st_uid != geteuid()) {
			snprintf(err, errlen,
				 "%s is another uid's socket: not replaced",
				 path);
			return -1;
		}
		fd = try_connect(sa);
		if (fd >= 0) {
			close(fd);
			snprintf(err, errlen,
				 "another relay daemon is serving %s", path);
			return -1;
		}
	}
	return chan_unix_path_free(path, err, errlen);
}

int relay_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd = -1, rc;

	if (sock_addr(path, &sa) < 0) {
		snprintf(err, errlen, "socket path empty or too long: %s",
			 path);
		return -1;
	}
	if (clear_path(path, &sa, err, errlen) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	/* 0600 from the start: no moment where another uid may connect */
	old = umask(0177);
	rc = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0 || listen(fd, 64) != 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

int relay_accept(int lfd, char *err, size_t errlen)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	long uid;

	if (fd < 0)
		return -1;
	uid = peer_uid(fd);
	if (uid != (long)geteuid()) {
		snprintf(err, errlen,
			 "a client of uid %ld refused (only uid %u may "
			 "connect)",
			 uid, (unsigned)geteuid());
		close(fd);
		return -2;
	}
	return fd;
}

void relay_unlisten(int lfd, const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	if (lfd < 0)
		return;
	close(lfd);
	/* only a dead socket of ours: another daemon may have replaced it */
	if (sock_addr(path, &sa) < 0 || lstat(path, &st) != 0 ||
	    !S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
		return;
	fd = try_connect(&sa);
	if (fd >= 0)
		close(fd);
	else if (errno == ECONNREFUSED)
		unlink(path);
}

int relay_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	long uid;
	int fd;

	if (sock_addr(path, &sa) < 0) {
		snprintf(err, errlen, "socket path empty or too long: %s",
			 path);
		return -1;
	}
	if (lstat(path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -2;
	}
	/* a socket someone else made could be an impostor's */
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "%s is not a socket owned by uid %u: not used", path,
			 (unsigned)geteuid());
		return -1;
	}
	fd = try_connect(&sa);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return errno == ECONNREFUSED || errno == ENOENT ? -2 : -1;
	}
	uid = peer_uid(fd);
	if (uid != (long)geteuid()) {
		snprintf(err, errlen,
			 "the daemon at %s runs as uid %ld, not %u", path, uid,
			 (unsigned)geteuid());
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the --via copy -------------------------------------------------- */

struct pipe_buf {
	char b[VIA_BUF];
	size_t len, off;
};

/* Reads from fd into an empty p. Returns the count, 0 at EOF, -1 if none
 * now. */
static ssize_t fill(int fd, struct pipe_buf *p)
{
	ssize_t n = read(fd, p->b, sizeof(p->b));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	p->off = 0;
	p->len = n > 0 ? (size_t)n : 0;
	return n > 0 ? n : 0;
}

/* Writes what p holds to fd. Returns 0, or -1 when fd is gone. */
static int drain(int fd, struct pipe_buf *p)
{
	ssize_t w;

	while (p->off < p->len) {
		w = write(fd, p->b + p->off, p->len - p->off);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (w <= 0)
			return -1;
		p->off += (size_t)w;
	}
	p->off = p->len = 0;
	return 0;
}

int relay_via(int fd)
{
	static struct pipe_buf up, down; /* stdin -> fd, fd -> stdout */
	int in_open = 1, shut = 0;
	char last = '\n';

	fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
	fcntl(STDOUT_FILENO, F_SETFL,
	      fcntl(STDOUT_FILENO, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		struct pollfd p[3] = {
			{ in_open && !up.len ? STDIN_FILENO : -1, POLLIN, 0 },
			{ fd,
			  (short)((!down.len ? POLLIN : 0) |
				  (up.len ? POLLOUT : 0)),
			  0 },
			{ down.len ? STDOUT_FILENO : -1, POLLOUT, 0 },
		};
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			return 1;
		if (p[0].revents && fill(STDIN_FILENO, &up) == 0) {
			in_open = 0;
			/* an unterminated last line still counts */
			if (last != '\n') {
				up.b[0] = '\n';
				up.len = 1;
			}
		}
		if (up.len) {
			last = up.b[up.len - 1];
			if (drain(fd, &up) < 0)
				return 1;
		}
		if (!in_open && !up.len && !shut) {
			shutdown(fd, SHUT_WR);
			shut = 1;
		}
		if (!down.len &&
		    (p[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    fill(fd, &down) == 0)
			return shut ? 0 : 1; /* the daemon ended it */
		if (down.len && drain(STDOUT_FILENO, &down) < 0)
			return 0; /* our client went away */
	}
}
