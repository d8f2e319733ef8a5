/* The xen backend: chan.h over libxenvchan. Relative paths follow the
 * Qubes convention (docs/channels.md): the server publishes under its own
 * domain at data/vchan/PEER/PATH, the client looks under
 * /local/domain/SERVER/data/vchan/SELF/PATH. The server side is set up
 * here rather than by libxenvchan_server_init (which crashes when it fails
 * part way), in the shared-page layout the library's client expects. Not
 * yet run on a real hypervisor; tested against test/vchan/xen_double.c. */
#include "chan_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <libxenvchan.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "xen_ctrl.h"
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

/* libxenvchan's client builds "BASE/event-channel" in a 64-byte buffer:
 * a longer BASE is silently truncated, so refuse it. */
#define XEN_KEY_BUF 64
#define XEN_BASE_MAX (XEN_KEY_BUF - 1 - (int)sizeof("/event-channel") + 1)
/* The library's client refuses ring orders above 20 (the grant list must
 * fit in the shared page). */
#define XEN_RING_MAX (1u << 20)
/* gntalloc's default "limit" when /sys does not say. */
#define XEN_GRANT_LIMIT_DEFAULT 1024u
/* How often an open channel checks that its event channel is still
 * connected (Xen sends nothing when a peer domain is destroyed), unless
 * $ZONEGATE_XEN_CHECK_MS says otherwise (0: never). */
#define XEN_CHECK_MS 1000
#define XEN_CHECK_MS_MAX 3600000L
#define XEN_PAGE_SHIFT 12

struct xen {
	struct libxenvchan *v;
	int ep;	 /* stable readiness fd: the vchan's event fd and tfd */
	int vfd; /* libxenvchan_fd_for_select of the current vchan */
	int tfd; /* periodic liveness check */
	xc_interface *xch;
	int xch_tried;
	char xs_path[CHAN_PATH_MAX + 64]; /* as passed to xenstore */
	char full[CHAN_PATH_MAX + 64];	  /* the same, absolute */
	size_t ring;
	unsigned grants; /* server: grants held by the current vchan */
	int self;	 /* own domid */
	int state;
	int published; /* server: xs_path still in xenstore */
	int peer_dead; /* event channel no longer interdomain */
};

/* Grants this process holds for xen channels. gntalloc's limit is per
 * domain; this is the part of it the process can account for. */
static atomic_uint xen_grants_used;

static struct xen *X(chan *c)
{
	return c->impl;
}

/* strerror(e), or a plain phrase when the library set no errno. */
static const char *xen_why(int e)
{
	return e ? strerror(e) : "no error code given";
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
			    xen_why(errno));
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

/* Fills x->xs_path (what this side passes to xenstore) and checks the
 * path the client will use against the library's key buffer. */
static int xen_path(chan *c, char *err, size_t errlen)
{
	struct xen *x = X(c);
	char *full = x->full;
	size_t fl = sizeof(x->full);
	int n, m;

	if (c->addr.path[0] == '/') {
		n = snprintf(x->xs_path, sizeof(x->xs_path), "%s",
			     c->addr.path);
		m = snprintf(full, fl, "%s", c->addr.path);
	} else if (c->role == CHAN_SERVER) {
		n = snprintf(x->xs_path, sizeof(x->xs_path), "data/vchan/%d/%s",
			     c->addr.domid, c->addr.path);
		m = snprintf(full, fl, "/local/domain/%d/%s", x->self,
			     x->xs_path);
	} else {
		n = snprintf(x->xs_path, sizeof(x->xs_path),
			     "/local/domain/%d/data/vchan/%d/%s", c->addr.domid,
			     x->self, c->addr.path);
		m = snprintf(full, fl, "%s", x->xs_path);
	}
	if (n < 0 || (size_t)n >= sizeof(x->xs_path) || m < 0 ||
	    (size_t)m >= fl || m > XEN_BASE_MAX)
		return chan_seterr(err, errlen,
				   "%s: xenstore path %s is %d characters; "
				   "libxenvchan allows at most %d (its keys "
				   "live in a %d-byte buffer): use a shorter "
				   "channel path",
				   c->text, full, m, XEN_BASE_MAX, XEN_KEY_BUF);
	return 0;
}

/* Points the stable epoll fd at the current vchan's event fd. */
static int xen_watch(struct xen *x)
{
	struct epoll_event ev = { .events = EPOLLIN };

	x->vfd = libxenvchan_fd_for_select(x->v);
	ev.data.fd = x->vfd;
	return epoll_ctl(x->ep, EPOLL_CTL_ADD, x->vfd, &ev);
}

static unsigned xen_pages(int order)
{
	return order >= XEN_PAGE_SHIFT ? 1u << (order - XEN_PAGE_SHIFT) : 0;
}

/* Ring orders for a power-of-two ring size: rings of 1 or 2 KiB live in
 * the shared page itself (at most one of each order), larger ones in
 * pages of their own. */
static void xen_orders(size_t ring, int *rd, int *wr)
{
	int o = XEN_PAGE_SHIFT;

	if (ring <= 1024) {
		*rd = 10;
		*wr = 11;
		return;
	}
	if (ring == 2048) {
		*rd = 11;
		*wr = XEN_PAGE_SHIFT;
		return;
	}
	while (((size_t)1 << o) < ring)
		o++;
	*rd = *wr = o;
}

/* gntalloc's limit from /sys, or its default. */
static unsigned xen_grant_limit(void)
{
	char buf[32], *end;
	unsigned limit = XEN_GRANT_LIMIT_DEFAULT;
	long v;
	ssize_t n;
	int fd = open("/sys/module/xen_gntalloc/parameters/limit",
		      O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return limit;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return limit;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (!errno && end != buf && v > 0 && v < (1L << 24))
		limit = (unsigned)v;
	return limit;
}

/* Takes need grants from the process budget, or fails with a message. */
static int xen_take_grants(chan *c, unsigned need, char *err, size_t errlen)
{
	unsigned limit = xen_grant_limit();
	unsigned used = atomic_load(&xen_grants_used);

	do {
		if (used + need > limit)
			return chan_seterr(err, errlen,
					   "%s: out of grants: this channel "
					   "needs %u (ring %zu bytes each "
					   "way), %u of the gntalloc limit of "
					   "%u are in use by this process; use "
					   "smaller rings or raise "
					   "xen_gntalloc.limit",
					   c->text, need, X(c)->ring, used,
					   limit);
	} while (!atomic_compare_exchange_weak(&xen_grants_used, &used,
					       used + need));
	X(c)->grants = need;
	return 0;
}

static void xen_put_grants(struct xen *x)
{
	atomic_fetch_sub(&xen_grants_used, x->grants);
	x->grants = 0;
}

/* Shares one ring's buffer: in the shared page for orders 10 and 11,
 * else pages of its own whose refs go to grants. NULL on failure. */
static void *xen_share_ring(struct libxenvchan *v, int peer, int order,
			    uint32_t *grants)
{
	if (order < XEN_PAGE_SHIFT)
		return (char *)v->ring + (order == 10 ? 1024 : 2048);
	return xengntshr_share_pages(v->gntshr, (uint32_t)peer,
				     (int)xen_pages(order), grants, 1);
}

/* Shares the control page and both rings with peer. On failure the
 * orders of rings not shared are 0, so libxenvchan_close() is safe. */
static int xen_share(struct libxenvchan *v, int peer, uint32_t *ref)
{
	struct vchan_interface *r;
	int rd = v->read.order, wr = v->write.order;

	v->read.order = v->write.order = 0;
	r = xengntshr_share_page_notify(v->gntshr, (uint32_t)peer, ref, 1,
					offsetof(struct vchan_interface,
						 srv_live),
					v->event_port);
	if (!r)
		return -1;
	memset(r, 0, 4096);
	v->ring = r;
	v->read.shr = &r->left;
	v->write.shr = &r->right;
	r->left_order = (uint16_t)rd;
	r->right_order = (uint16_t)wr;
	r->cli_live = 2;
	r->srv_live = 1;
	r->cli_notify = VCHAN_NOTIFY_WRITE;
	v->read.buffer = xen_share_ring(v, peer, rd, r->grants);
	if (!v->read.buffer)
		return -1;
	v->read.order = rd;
	v->write.buffer =
		xen_share_ring(v, peer, wr, r->grants + xen_pages(rd));
	if (!v->write.buffer)
		return -1;
	v->write.order = wr;
	return 0;
}

/* Writes ring-ref and event-channel under xs_path, readable by peer. */
static int xen_publish(struct xen *x, uint32_t port, int peer, uint32_t ref)
{
	struct xs_permissions perms[2] = {
		{ (unsigned)x->self, XS_PERM_NONE },
		{ (unsigned)peer, XS_PERM_READ },
	};
	struct xs_handle *h = xs_open(0);
	char key[sizeof(x->xs_path) + 32], val[16];
	xs_transaction_t t;
	int ok, tries = 0;

	if (!h)
		return -1;
	do {
		t = xs_transaction_start(h);
		snprintf(key, sizeof(key), "%s/ring-ref", x->xs_path);
		snprintf(val, sizeof(val), "%u", ref);
		ok = t && xs_write(h, t, key, val, (unsigned)strlen(val)) &&
		     xs_set_permissions(h, t, key, perms, 2);
		snprintf(key, sizeof(key), "%s/event-channel", x->xs_path);
		snprintf(val, sizeof(val), "%u", port);
		ok = ok && xs_write(h, t, key, val, (unsigned)strlen(val)) &&
		     xs_set_permissions(h, t, key, perms, 2);
		if (t && !xs_transaction_end(h, t, !ok) && ok) {
			ok = 0;
			if (errno == EAGAIN && ++tries < 10)
				continue;
		}
		break;
	} while (1);
	xs_close(h);
	return ok ? 0 : -1;
}

/* Removes the published keys, so a client that comes later cannot
 * attach to this vchan (Qubes does the same once a client connected). */
static void xen_unpublish(struct xen *x)
{
	struct xs_handle *h;

	if (!x->published)
		return;
	x->published = 0;
	h = xs_open(0);
	if (h)
		xs_rm(h, XBT_NULL, x->full);
	xs_close(h);
	free(x->v->xs_path); /* libxenvchan_close would remove it again */
	x->v->xs_path = NULL;
}

/* The steps of a server set-up on a zeroed struct, each with its own
 * message. On failure v holds what was done, for libxenvchan_close(). */
static int xen_server_steps(chan *c, struct libxenvchan *v, char *err,
			    size_t errlen)
{
	struct xen *x = X(c);
	int peer = c->addr.domid, port;
	uint32_t ref = 0;

	errno = 0;
	v->gntshr = xengntshr_open(NULL, 0);
	if (!v->gntshr)
		return chan_seterr(err, errlen,
				   "%s: cannot open the grant allocator "
				   "(/dev/xen/gntalloc): %s",
				   c->text, xen_why(errno));
	v->event = xenevtchn_open(NULL, 0);
	if (!v->event)
		return chan_seterr(err, errlen,
				   "%s: cannot open /dev/xen/evtchn: %s",
				   c->text, xen_why(errno));
	port = xenevtchn_bind_unbound_port(v->event, (uint32_t)peer);
	if (port < 0)
		return chan_seterr(err, errlen,
				   "%s: no event channel for domain %d: %s",
				   c->text, peer, xen_why(errno));
	v->event_port = (uint32_t)port;
	xenevtchn_unmask(v->event, v->event_port);
	errno = 0;
	if (xen_share(v, peer, &ref) < 0)
		return chan_seterr(err, errlen,
				   "%s: sharing %u grant pages with domain "
				   "%d failed: %s%s",
				   c->text, x->grants, peer, xen_why(errno),
				   errno == ENOSPC ? " (gntalloc limit "
						     "reached)"
						   : "");
	v->xs_path = strdup(x->xs_path);
	errno = 0;
	if (!v->xs_path || xen_publish(x, v->event_port, peer, ref) < 0)
		return chan_seterr(err, errlen,
				   "%s: cannot publish %s in xenstore: %s "
				   "(an absolute path must be writable by "
				   "this domain)",
				   c->text, x->xs_path, xen_why(errno));
	x->published = 1;
	return 0;
}

/* Sets up a fresh server vchan. On failure x->v is NULL, no grants are
 * held, the state is CHAN_CLOSED and err says why. */
static int xen_init_server(chan *c, char *err, size_t errlen)
{
	struct xen *x = X(c);
	struct libxenvchan *v;
	int rd, wr;

	x->state = CHAN_CLOSED;
	xen_orders(x->ring, &rd, &wr);
	if (xen_take_grants(c, 1 + xen_pages(rd) + xen_pages(wr), err, errlen) <
	    0)
		return -1;
	v = calloc(1, sizeof(*v)); /* every field the cleanup reads is 0 */
	if (!v) {
		xen_put_grants(x);
		return chan_seterr(err, errlen, "out of memory");
	}
	v->is_server = 1;
	v->read.order = rd;
	v->write.order = wr;
	if (xen_server_steps(c, v, err, errlen) < 0) {
		libxenvchan_close(v);
		xen_put_grants(x);
		x->published = 0;
		return -1;
	}
	x->v = v;
	if (xen_watch(x) < 0) {
		libxenvchan_close(v);
		x->v = NULL;
		x->vfd = -1;
		xen_put_grants(x);
		x->published = 0;
		return chan_seterr(err, errlen, "epoll: %s", strerror(errno));
	}
	x->state = CHAN_WAITING;
	return 0;
}

static int xen_init_client(chan *c, const struct chan_opts *o, char *err,
			   size_t errlen)
{
	struct xen *x = X(c);
	struct timespec t0, t;
	long ms;
	int e;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		errno = 0;
		x->v = libxenvchan_client_init(NULL, c->addr.domid, x->xs_path);
		if (x->v)
			break;
		e = errno;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 +
		     (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= o->connect_timeout_ms)
			return chan_seterr(err, errlen,
					   "%s: no server vchan at %s "
					   "(libxenvchan_client_init: %s)",
					   c->text, x->xs_path, xen_why(e));
		usleep(50000);
	}
	x->v->blocking = 0;
	x->state = CHAN_OPEN;
	if (xen_watch(x) < 0)
		return chan_seterr(err, errlen, "epoll: %s", strerror(errno));
	return 0;
}

/* Qubes' check: a peer domain that died leaves our port unbound (or
 * closed) without any event; only asking Xen shows it. Needs privcmd;
 * without it the live flags alone decide. */
static void xen_check_peer(struct xen *x)
{
	xc_evtchn_status_t st;

	if (!x->v || x->peer_dead || x->state != CHAN_OPEN)
		return; /* a waiting server's port is unbound by design */
	if (!x->xch && !x->xch_tried) {
		x->xch_tried = 1;
		x->xch = xc_interface_open(NULL, NULL, 0);
	}
	if (!x->xch)
		return;
	memset(&st, 0, sizeof(st));
	st.dom = DOMID_SELF;
	st.port = x->v->event_port;
	if (xc_evtchn_status(x->xch, &st) == 0 &&
	    st.status != EVTCHNSTAT_interdomain)
		x->peer_dead = 1;
}

static int xen_refresh(chan *c)
{
	struct xen *x = X(c);
	int open, st;

	if (!x->v)
		return x->state = CHAN_CLOSED;
	open = x->peer_dead ? 0 : libxenvchan_is_open(x->v);
	st = open == 2 ? CHAN_WAITING : open == 1 ? CHAN_OPEN : CHAN_CLOSED;
	if (c->role == CHAN_SERVER && st != CHAN_WAITING)
		xen_unpublish(x);
	if (c->role == CHAN_SERVER && st == CHAN_OPEN &&
	    x->state != CHAN_OPEN) {
		c->generation++;
		/* the client may sleep on data written while we waited */
		xenevtchn_notify(x->v->event, x->v->event_port);
	}
	x->state = st;
	return st;
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
 * the event fd is readable. The timer makes the fd readable every
 * XEN_CHECK_MS so that a dead peer is noticed by callers that only
 * poll. */
static int xen_handle_events(chan *c)
{
	struct xen *x = X(c);
	struct pollfd p = { x->vfd, POLLIN, 0 };
	uint64_t ticks;

	if (x->v && x->vfd >= 0 && poll(&p, 1, 0) == 1)
		libxenvchan_wait(x->v);
	if (read(x->tfd, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks))
		xen_check_peer(x);
	return xen_refresh(c);
}

static int xen_state(chan *c)
{
	return xen_refresh(c);
}

/* Drops the current vchan and its grants; the channel is then CLOSED. */
static void xen_drop(struct xen *x)
{
	if (x->vfd >= 0)
		epoll_ctl(x->ep, EPOLL_CTL_DEL, x->vfd, NULL);
	x->vfd = -1;
	libxenvchan_close(x->v);
	x->v = NULL;
	xen_put_grants(x);
	x->published = 0;
	x->peer_dead = 0;
	x->state = CHAN_CLOSED;
}

static int xen_reset(chan *c)
{
	struct xen *x = X(c);
	char err[256];

	xen_drop(x);
	if (xen_init_server(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "zonegate: reset of channel: %s\n", err);
		return -1;
	}
	return 0;
}

static void xen_close(chan *c)
{
	struct xen *x = X(c);

	if (!x)
		return;
	xen_drop(x);
	if (x->xch)
		xc_interface_close(x->xch);
	if (x->tfd >= 0)
		close(x->tfd);
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

/* The liveness check period in ms: $ZONEGATE_XEN_CHECK_MS if it is a
 * number in 0..XEN_CHECK_MS_MAX, else XEN_CHECK_MS. */
static long xen_check_ms(void)
{
	const char *e = getenv("ZONEGATE_XEN_CHECK_MS");
	char *end;
	long v;

	if (!e || !*e)
		return XEN_CHECK_MS;
	errno = 0;
	v = strtol(e, &end, 10);
	if (errno || *end || v < 0 || v > XEN_CHECK_MS_MAX)
		return XEN_CHECK_MS;
	return v;
}

/* The epoll set and the periodic liveness timer. */
static int xen_fds(struct xen *x, char *err, size_t errlen)
{
	long ms = xen_check_ms();
	struct itimerspec it = { { ms / 1000, (ms % 1000) * 1000000L },
				 { ms / 1000, (ms % 1000) * 1000000L } };
	struct epoll_event ev = { .events = EPOLLIN };

	x->ep = epoll_create1(EPOLL_CLOEXEC);
	x->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (x->ep < 0 || x->tfd < 0)
		return chan_seterr(err, errlen, "epoll/timerfd: %s",
				   strerror(errno));
	ev.data.fd = x->tfd;
	if (timerfd_settime(x->tfd, 0, &it, NULL) < 0 ||
	    epoll_ctl(x->ep, EPOLL_CTL_ADD, x->tfd, &ev) < 0)
		return chan_seterr(err, errlen, "timerfd: %s", strerror(errno));
	return 0;
}

/* Checks what can be refused before touching Xen: ring size, own domid
 * equal to the peer's, path length. */
static int xen_precheck(chan *c, char *err, size_t errlen)
{
	struct xen *x = X(c);

	if (c->role == CHAN_SERVER && x->ring > XEN_RING_MAX)
		return chan_seterr(err, errlen,
				   "%s: ring size %zu is above libxenvchan's "
				   "limit of %u bytes (1 MiB) each way",
				   c->text, x->ring, XEN_RING_MAX);
	x->self = own_domid(err, errlen);
	if (x->self < 0)
		return -1;
	if (x->self == c->addr.domid)
		return chan_seterr(err, errlen,
				   "%s: the peer domain %d is this domain; "
				   "a vchan needs two domains",
				   c->text, x->self);
	return xen_path(c, err, errlen);
}

int chan_xen_open(chan *c, const struct chan_opts *o, char *err, size_t errlen)
{
	struct xen *x = calloc(1, sizeof(*x));
	int rc;

	if (!x)
		return chan_seterr(err, errlen, "out of memory");
	x->vfd = x->ep = x->tfd = -1;
	x->ring = o->ring_size;
	c->impl = x;
	c->ops = &xen_ops;
	if (xen_fds(x, err, errlen) < 0 || xen_precheck(c, err, errlen) < 0)
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
