/* The unix backend: a connected AF_UNIX stream socket behind chan.h. It
 * has no rings of its own (the kernel's socket buffers stand in), so it
 * serves as the baseline in benchmarks and as a second backend the shared
 * semantics tests run against. It never reconnects. */
#define _GNU_SOURCE /* POLLRDHUP */
#include "chan_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

struct ux {
	int fd;
	int state;
	int sndbuf;
};

static struct ux *U(chan *c)
{
	return c->impl;
}

static ssize_t ux_read(chan *c, void *buf, size_t len)
{
	struct ux *u = U(c);
	ssize_t r;

	if (u->fd < 0)
		return -1;
	r = recv(u->fd, buf, len, MSG_DONTWAIT);
	if (r > 0)
		return r;
	if (r < 0 && (errno == EAGAIN || errno == EINTR) &&
	    u->state == CHAN_CLOSED)
		return -1;
	if (r > 0)
		return r;
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	u->state = CHAN_CLOSED;
	return -1;
}

static ssize_t ux_write(chan *c, const void *buf, size_t len)
{
	struct ux *u = U(c);
	ssize_t r;

	if (u->fd < 0 || u->state == CHAN_CLOSED)
		return -1;
	r = send(u->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	u->state = CHAN_CLOSED;
	return -1;
}

static size_t ux_data_ready(chan *c)
{
	int n = 0;

	if (ioctl(U(c)->fd, FIONREAD, &n) < 0 || n < 0)
		return 0;
	return (size_t)n;
}

static size_t ux_buffer_space(chan *c)
{
	int q = 0;

	if (U(c)->state == CHAN_CLOSED || ioctl(U(c)->fd, SIOCOUTQ, &q) < 0 ||
	    q < 0 || q >= U(c)->sndbuf)
		return 0;
	return (size_t)(U(c)->sndbuf - q);
}

static int ux_fd(chan *c)
{
	return U(c)->fd;
}

static int ux_handle_events(chan *c)
{
	struct ux *u = U(c);
	struct pollfd p = { u->fd, POLLRDHUP, 0 };

	/* the peer's shutdown shows even while its last data is unread */
	if (poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		u->state = CHAN_CLOSED;
	return u->state;
}

static int ux_state(chan *c)
{
	return U(c)->state;
}

static int ux_reset(chan *c)
{
	return -1;
}

static void ux_close(chan *c)
{
	if (!U(c))
		return;
	close(U(c)->fd);
	free(U(c));
	c->impl = NULL;
}

static const struct chan_ops ux_ops = {
	"unix",		 1,	ux_read,	  ux_write, ux_data_ready,
	ux_buffer_space, ux_fd, ux_handle_events, ux_state, ux_reset,
	ux_close,
};

int chan_unix_wrap(chan *c, int fd, char *err, size_t errlen)
{
	struct ux *u = calloc(1, sizeof(*u));
	socklen_t sl = sizeof(u ? u->sndbuf : 0);

	if (!u) {
		close(fd);
		return chan_seterr(err, errlen, "out of memory");
	}
	u->fd = fd;
	u->state = CHAN_OPEN;
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &u->sndbuf, &sl) < 0)
		u->sndbuf = 65536;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	c->impl = u;
	c->ops = &ux_ops;
	return 0;
}
