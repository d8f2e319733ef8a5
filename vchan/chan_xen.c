/* The xen backend: a thin adapter from chan.h to libxenvchan. Relative
 * paths follow the Qubes convention (docs/channels.md): the server
 * publishes under its own domain at data/vchan/PEER/PATH, the client
 * looks under /local/domain/SERVER/data/vchan/SELF/PATH. Not yet run on a
 * real hypervisor; without one, opening fails with a clear error. */
#include "chan_backend.h"

#include <errno.h>
#include <libxenvchan.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

struct xen {
	struct libxenvchan *v;
	int ep;	 /* stable readiness fd wrapping the vchan's event fd */
	int vfd; /* libxenvchan_fd_for_select of the current vchan */
	char xs_path[CHAN_PATH_MAX + 64];
	size_t ring;
	int state;
};

static struct xen *X(chan *c)
{
	return c->impl;
}

/* Our own domain id, read from xenstore's relative "domid" key. */
static int own_domid(char *err, size_t errlen)
{
	struct xs_handle *h = xs_open(0);
	unsigned int len = 0;
	char *v, *end;
	long id = -1;

	if (!h) {
		chan_seterr(err, errlen,
			    "xenstore unavailable (%s): is this "
			    "running in a Xen domain?",
			    strerror(errno));
		return -1;
	}
	v = xs_read(h, XBT_NULL, "domid", &len);
	if (v) {
		errno = 0;
		id = strtol(v, &end, 10);
		if (errno || *end || end == v || id < 0 || id > 32751)
			id = -1;
		free(v);
	}
	xs_close(h);
	if (id < 0)
		chan_seterr(err, errlen, "cannot read own domid from xenstore");
	return (int)id;
}

static int xen_path(chan *c, char *err, size_t errlen)
{
	struct xen *x = X(c);
	int self, n;

	if (c->addr.path[0] == '/')
		n = snprintf(x->xs_path, sizeof(x->xs_path), "%s",
			     c->addr.path);
	else if (c->role == CHAN_SERVER)
		n = snprintf(x->xs_path, sizeof(x->xs_path), "data/vchan/%d/%s",
			     c->addr.domid, c->addr.path);
	else {
		self = own_domid(err, errlen);
		if (self < 0)
			return -1;
		n = snprintf(x->xs_path, sizeof(x->xs_path),
			     "/local/domain/%d/data/vchan/%d/%s", c->addr.domid,
			     self, c->addr.path);
	}
	if (n < 0 || (size_t)n >= sizeof(x->xs_path))
		return chan_seterr(err, errlen, "xenstore path too long");
	return 0;
}

/* Points the stable epoll fd at the current vchan's event fd. */
static int xen_watch(struct xen *x)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (x->vfd >= 0)
		epoll_ctl(x->ep, EPOLL_CTL_DEL, x->vfd, NULL);
	x->vfd = libxenvchan_fd_for_select(x->v);
	ev.data.fd = x->vfd;
	return epoll_ctl(x->ep, EPOLL_CTL_ADD, x->vfd, &ev);
}

static int xen_init_server(chan *c, char *err, size_t errlen)
{
	struct xen *x = X(c);

	x->v = libxenvchan_server_init(NULL, c->addr.domid, x->xs_path, x->ring,
				       x->ring);
	if (!x->v)
		return chan_seterr(err, errlen,
				   "%s: libxenvchan_server_init(%s) failed "
				   "(%s): needs a Xen domain with xenstore and "
				   "grant devices",
				   c->text, x->xs_path, strerror(errno));
	x->v->blocking = 0;
	x->state = CHAN_WAITING;
	return xen_watch(x) < 0 ? chan_seterr(err, errlen, "epoll failed") : 0;
}

static int xen_init_client(chan *c, const struct chan_opts *o, char *err,
			   size_t errlen)
{
	struct xen *x = X(c);
	struct timespec t0, t;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		x->v = libxenvchan_client_init(NULL, c->addr.domid, x->xs_path);
		if (x->v)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 +
		     (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= o->connect_timeout_ms)
			return chan_seterr(err, errlen,
					   "%s: libxenvchan_client_init(%s) "
					   "failed (%s)",
					   c->text, x->xs_path,
					   strerror(errno));
		usleep(50000);
	}
	x->v->blocking = 0;
	x->state = CHAN_OPEN;
	return xen_watch(x) < 0 ? chan_seterr(err, errlen, "epoll failed") : 0;
}

static int xen_refresh(chan *c)
{
	struct xen *x = X(c);
	int open = x->v ? libxenvchan_is_open(x->v) : 0;

	if (open == 1 && x->state == CHAN_WAITING)
		c->generation++;
	x->state = open == 2   ? CHAN_WAITING
		   : open == 1 ? CHAN_OPEN
			       : CHAN_CLOSED;
	return x->state;
}

static ssize_t xen_read(chan *c, void *buf, size_t len)
{
	struct xen *x = X(c);
	int n, ready;

	if (!x->v)
		return -1;
	ready = libxenvchan_data_ready(x->v);
	if (ready <= 0) /* what the peer wrote before closing comes first */
		return xen_refresh(c) == CHAN_CLOSED ? -1 : 0;
	if (len > (size_t)ready)
		len = (size_t)ready;
	n = libxenvchan_read(x->v, buf, len);
	return n < 0 ? -1 : n;
}

static ssize_t xen_write(chan *c, const void *buf, size_t len)
{
	struct xen *x = X(c);
	int n, space;

	if (!x->v || xen_refresh(c) == CHAN_CLOSED)
		return -1;
	space = libxenvchan_buffer_space(x->v);
	if (space <= 0)
		return 0;
	if (len > (size_t)space) /* stay within the ring: never block */
		len = (size_t)space;
	n = libxenvchan_write(x->v, buf, len);
	return n < 0 ? -1 : n;
}

static size_t xen_data_ready(chan *c)
{
	int n = X(c)->v ? libxenvchan_data_ready(X(c)->v) : 0;

	return n > 0 ? (size_t)n : 0;
}

static size_t xen_buffer_space(chan *c)
{
	int n = X(c)->v ? libxenvchan_buffer_space(X(c)->v) : 0;

	return n > 0 ? (size_t)n : 0;
}

static int xen_fd(chan *c)
{
	return X(c)->ep;
}

/* libxenvchan_wait blocks when no event is pending: only call it when
 * the event fd is readable. */
static int xen_handle_events(chan *c)
{
	struct xen *x = X(c);
	struct pollfd p = { x->vfd, POLLIN, 0 };

	if (x->v && x->vfd >= 0 && poll(&p, 1, 0) == 1)
		libxenvchan_wait(x->v);
	return xen_refresh(c);
}

static int xen_state(chan *c)
{
	return xen_refresh(c);
}

static int xen_reset(chan *c)
{
	struct xen *x = X(c);

	if (x->vfd >= 0)
		epoll_ctl(x->ep, EPOLL_CTL_DEL, x->vfd, NULL);
	x->vfd = -1;
	if (x->v)
		libxenvchan_close(x->v);
	x->v = NULL;
	if (xen_init_server(c, NULL, 0) < 0) {
		x->state = CHAN_CLOSED;
		return -1;
	}
	return 0;
}

static void xen_close(chan *c)
{
	struct xen *x = X(c);

	if (!x)
		return;
	if (x->v)
		libxenvchan_close(x->v);
	if (x->ep >= 0)
		close(x->ep);
	free(x);
	c->impl = NULL;
}

static const struct chan_ops xen_ops = {
	"xen",		0,
	xen_read,	xen_write,
	xen_data_ready, xen_buffer_space,
	xen_fd,		xen_handle_events,
	xen_state,	xen_reset,
	xen_close,
};

int chan_xen_open(chan *c, const struct chan_opts *o, char *err, size_t errlen)
{
	struct xen *x = calloc(1, sizeof(*x));
	int rc;

	if (!x)
		return chan_seterr(err, errlen, "out of memory");
	x->vfd = -1;
	x->ring = o->ring_size;
	x->ep = epoll_create1(EPOLL_CLOEXEC);
	c->impl = x;
	c->ops = &xen_ops;
	if (x->ep < 0)
		rc = chan_seterr(err, errlen, "epoll: %s", strerror(errno));
	else if (xen_path(c, err, errlen) < 0)
		rc = -1;
	else if (c->role == CHAN_SERVER)
		rc = xen_init_server(c, err, errlen);
	else
		rc = xen_init_client(c, o, err, errlen);
	if (rc < 0) {
		xen_close(c);
		return -1;
	}
	return 0;
}
