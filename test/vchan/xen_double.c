/* A test double for the Xen libraries behind the xen channel backend,
 * linked into test executables in place of libxenvchan, libxenstore,
 * xenevtchn, xengntshr and xc_evtchn_status. It models one machine with
 * several domains in one process: a xenstore with per-domain write and
 * read rights, event channels whose handles are eventfds (unbound,
 * interdomain, reverting to unbound when the peer goes), grant pages as
 * memfd pages that the peer maps a second time, the gntalloc grant limit
 * and unmap notifications. Its libxenvchan keeps the shared page layout
 * and the notification protocol of libxenvchan 4.17 as documented in
 * <libxenvchan.h> and <xen/io/libxenvchan.h>, and also its known faults:
 * the 64-byte xenstore key buffer, the 1 MiB ring limit without errno,
 * and a server_init that leaves fields uninitialised when it fails part
 * way (the double aborts where the real library would free garbage).
 * Each library function keeps the contract its Debian header states
 * (ownership, NULL or -1 with errno on failure); the xd_ hooks are
 * described in xen_double.h. Not thread-safe: one test thread drives
 * every domain. */
#define _GNU_SOURCE
#include "xen_double.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libxenvchan.h>
#include "xen_ctrl.h"
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

#define XD_PAGE 4096u
#define XD_PORTS 512
#define XD_NODES 1024
#define XD_ALLOCS 512
#define XD_POISON ((uintptr_t)0xa5a5a5a5a5a5a5a5ull)

/* ---- the machine ------------------------------------------------------ */

enum { P_FREE, P_UNBOUND, P_INTERDOMAIN };

struct xd_port {
	int state, dom, remote_dom, peer;
	xenevtchn_handle *h;
};

struct xd_node {
	char path[256];
	char val[64];
	int owner, reader;
};

/* One xengntshr_share_* call: count consecutive grant refs. */
struct xd_alloc {
	int used, dom, remote;
	uint32_t first_ref, count;
	int memfd;
	void *addr;
	long notify_off; /* -1: none */
	uint32_t notify_port;
};

struct xenevtchn_handle {
	int fd, dom;
};

struct xengntdev_handle {
	int dom;
};

struct xs_handle {
	int dom;
};

struct xc_interface_core {
	int dom;
};

static struct {
	int cur, evtchn_fail, xs_off;
	unsigned grant_limit;
	unsigned in_use[XD_DOMS];
	int dead[XD_DOMS];
	uint32_t next_ref;
	struct xd_port port[XD_PORTS];
	struct xd_node node[XD_NODES];
	struct xd_alloc alloc[XD_ALLOCS];
} W = { .grant_limit = 1024, .next_ref = 8 };

static struct xd_node *node_find(const char *abs);

static int dom_ok(int d)
{
	return d >= 0 && d < XD_DOMS;
}

static int dead(int d)
{
	return dom_ok(d) && W.dead[d];
}

void xd_set_domid(int domid)
{
	char path[64], val[16];
	struct xs_handle h = { 0 };

	if (!dom_ok(domid))
		abort();
	W.cur = domid;
	snprintf(path, sizeof(path), "/local/domain/%d/domid", domid);
	snprintf(val, sizeof(val), "%d", domid);
	if (xs_write(&h, XBT_NULL, path, val, (unsigned)strlen(val)))
		node_find(path)->owner = domid;
}

void xd_fail_evtchn_open(int n)
{
	W.evtchn_fail = n;
}

void xd_set_grant_limit(unsigned n)
{
	W.grant_limit = n;
}

unsigned xd_grants_in_use(int domid)
{
	return dom_ok(domid) ? W.in_use[domid] : 0;
}

void xd_xenstore_off(int off)
{
	W.xs_off = off;
}

/* ---- event channels --------------------------------------------------- */

static struct xd_port *port_of(int dom, uint32_t port)
{
	if (port == 0 || port >= XD_PORTS || W.port[port].state == P_FREE ||
	    W.port[port].dom != dom)
		return NULL;
	return &W.port[port];
}

static void port_free(uint32_t p)
{
	struct xd_port *x = &W.port[p];

	if (x->state == P_INTERDOMAIN && x->peer) {
		W.port[x->peer].state = P_UNBOUND; /* Xen sends no event */
		W.port[x->peer].peer = 0;
	}
	memset(x, 0, sizeof(*x));
}

static uint32_t port_new(xenevtchn_handle *h, int remote, int state)
{
	for (uint32_t p = 1; p < XD_PORTS; p++)
		if (W.port[p].state == P_FREE) {
			W.port[p].state = state;
			W.port[p].dom = h->dom;
			W.port[p].remote_dom = remote;
			W.port[p].h = h;
			return p;
		}
	return 0;
}

void xd_destroy_domain(int domid)
{
	if (!dom_ok(domid))
		abort();
	W.dead[domid] = 1;
	for (uint32_t p = 1; p < XD_PORTS; p++)
		if (W.port[p].state != P_FREE && W.port[p].dom == domid)
			port_free(p);
}

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger,
				 unsigned open_flags)
{
	xenevtchn_handle *h;

	(void)logger;
	(void)open_flags;
	if (W.evtchn_fail > 0) {
		W.evtchn_fail--;
		errno = ENOENT;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->dom = W.cur;
	h->fd = eventfd(0, EFD_CLOEXEC);
	if (h->fd < 0) {
		free(h);
		return NULL;
	}
	return h;
}

int xenevtchn_close(xenevtchn_handle *h)
{
	if (!h)
		return 0;
	for (uint32_t p = 1; p < XD_PORTS; p++)
		if (W.port[p].state != P_FREE && W.port[p].h == h)
			port_free(p);
	close(h->fd);
	free(h);
	return 0;
}

int xenevtchn_fd(xenevtchn_handle *h)
{
	return h->fd;
}

int xenevtchn_notify(xenevtchn_handle *h, evtchn_port_t port)
{
	struct xd_port *p = port_of(h->dom, port);
	struct xd_port *q;

	if (!p) {
		errno = EINVAL;
		return -1;
	}
	if (dead(h->dom) || p->state != P_INTERDOMAIN)
		return 0;
	q = &W.port[p->peer];
	if (q->h && eventfd_write(q->h->fd, 1) < 0)
		return -1;
	return 0;
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle *h,
						      uint32_t domid)
{
	uint32_t p = port_new(h, (int)domid, P_UNBOUND);

	if (!p) {
		errno = ENOSPC;
		return -1;
	}
	return (xenevtchn_port_or_error_t)p;
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *h,
						     uint32_t domid,
						     evtchn_port_t remote_port)
{
	struct xd_port *r = port_of((int)domid, remote_port);
	uint32_t p;

	if (!r || r->state != P_UNBOUND || r->remote_dom != h->dom) {
		errno = EINVAL;
		return -1;
	}
	p = port_new(h, (int)domid, P_INTERDOMAIN);
	if (!p) {
		errno = ENOSPC;
		return -1;
	}
	W.port[p].peer = (int)remote_port;
	r->state = P_INTERDOMAIN;
	r->peer = (int)p;
	return (xenevtchn_port_or_error_t)p;
}

int xenevtchn_unbind(xenevtchn_handle *h, evtchn_port_t port)
{
	if (!port_of(h->dom, port)) {
		errno = EINVAL;
		return -1;
	}
	port_free(port);
	return 0;
}

/* Blocks like the real device until an event arrives. */
xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *h)
{
	eventfd_t v;

	if (eventfd_read(h->fd, &v) < 0)
		return -1;
	for (uint32_t p = 1; p < XD_PORTS; p++)
		if (W.port[p].state != P_FREE && W.port[p].h == h)
			return (xenevtchn_port_or_error_t)p;
	return 0;
}

int xenevtchn_unmask(xenevtchn_handle *h, evtchn_port_t port)
{
	(void)h;
	(void)port;
	return 0;
}

xc_interface *xc_interface_open(struct xentoollog_logger *logger,
				struct xentoollog_logger *dombuild_logger,
				unsigned open_flags)
{
	xc_interface *x = calloc(1, sizeof(*x));

	(void)logger;
	(void)dombuild_logger;
	(void)open_flags;
	if (x)
		x->dom = W.cur;
	return x;
}

int xc_interface_close(xc_interface *x)
{
	free(x);
	return 0;
}

int xc_evtchn_status(xc_interface *x, xc_evtchn_status_t *st)
{
	struct xd_port *p;

	if (st->dom != DOMID_SELF) {
		errno = EPERM;
		return -1;
	}
	p = port_of(x->dom, st->port);
	st->status = !p			     ? EVTCHNSTAT_closed
		     : p->state == P_UNBOUND ? EVTCHNSTAT_unbound
					     : EVTCHNSTAT_interdomain;
	if (p && p->state == P_INTERDOMAIN) {
		st->u.interdomain.dom = (domid_t)p->remote_dom;
		st->u.interdomain.port = (evtchn_port_t)p->peer;
	} else if (p) {
		st->u.unbound.dom = (domid_t)p->remote_dom;
	}
	return 0;
}

/* ---- grants ----------------------------------------------------------- */

xengntshr_handle *xengntshr_open(struct xentoollog_logger *logger,
				 unsigned open_flags)
{
	xengntshr_handle *h = calloc(1, sizeof(*h));

	(void)logger;
	(void)open_flags;
	if (h)
		h->dom = W.cur;
	return h;
}

int xengntshr_close(xengntshr_handle *h)
{
	free(h);
	return 0;
}

static struct xd_alloc *share(xengntshr_handle *h, uint32_t domid, int count,
			      uint32_t *refs)
{
	struct xd_alloc *a = NULL;
	size_t len = (size_t)count * XD_PAGE;

	if (count <= 0 || !dom_ok(h->dom)) {
		errno = EINVAL;
		return NULL;
	}
	if (W.in_use[h->dom] + (unsigned)count > W.grant_limit) {
		errno = ENOSPC; /* what gntalloc answers over its limit */
		return NULL;
	}
	for (int i = 0; i < XD_ALLOCS && !a; i++)
		if (!W.alloc[i].used)
			a = &W.alloc[i];
	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	a->memfd = memfd_create("xen-double-grant", MFD_CLOEXEC);
	if (a->memfd < 0)
		return NULL;
	if (ftruncate(a->memfd, (off_t)len) < 0)
		goto fail;
	a->addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, a->memfd,
		       0);
	if (a->addr == MAP_FAILED)
		goto fail;
	a->used = 1;
	a->dom = h->dom;
	a->remote = (int)domid;
	a->first_ref = W.next_ref;
	a->count = (uint32_t)count;
	a->notify_off = -1;
	W.next_ref += (uint32_t)count;
	W.in_use[h->dom] += (unsigned)count;
	for (int i = 0; i < count; i++)
		refs[i] = a->first_ref + (uint32_t)i;
	return a;
fail:
	close(a->memfd);
	memset(a, 0, sizeof(*a));
	return NULL;
}

void *xengntshr_share_pages(xengntshr_handle *h, uint32_t domid, int count,
			    uint32_t *refs, int writable)
{
	struct xd_alloc *a = share(h, domid, count, refs);

	(void)writable;
	return a ? a->addr : NULL;
}

void *xengntshr_share_page_notify(xengntshr_handle *h, uint32_t domid,
				  uint32_t *ref, int writable,
				  uint32_t notify_offset,
				  evtchn_port_t notify_port)
{
	struct xd_alloc *a = share(h, domid, 1, ref);

	(void)writable;
	if (!a)
		return NULL;
	a->notify_off = (long)notify_offset;
	a->notify_port = notify_port;
	return a->addr;
}

/* The granter's unmap: the unmap notification (clear a byte, send an
 * event) fires unless the domain is dead. */
int xengntshr_unshare(xengntshr_handle *h, void *start, uint32_t count)
{
	xenevtchn_handle eh;

	for (int i = 0; i < XD_ALLOCS; i++) {
		struct xd_alloc *a = &W.alloc[i];
		if (!a->used || a->addr != start || a->dom != h->dom)
			continue;
		if (a->notify_off >= 0 && !dead(a->dom)) {
			((volatile uint8_t *)a->addr)[a->notify_off] = 0;
			eh.dom = a->dom;
			eh.fd = -1;
			xenevtchn_notify(&eh, a->notify_port);
		}
		munmap(a->addr, (size_t)a->count * XD_PAGE);
		close(a->memfd);
		W.in_use[a->dom] -= a->count;
		memset(a, 0, sizeof(*a));
		return 0;
	}
	(void)count;
	errno = EINVAL;
	return -1;
}

/* The grantee's mapping of count consecutive refs granted to self. */
static void *map_refs(int granter, int self, const uint32_t *refs, int count)
{
	for (int i = 0; i < XD_ALLOCS; i++) {
		struct xd_alloc *a = &W.alloc[i];
		void *p;
		if (!a->used || a->dom != granter || a->remote != self ||
		    refs[0] < a->first_ref ||
		    refs[0] + (uint32_t)count > a->first_ref + a->count)
			continue;
		for (int k = 1; k < count; k++)
			if (refs[k] != refs[0] + (uint32_t)k)
				return NULL;
		p = mmap(NULL, (size_t)count * XD_PAGE, PROT_READ | PROT_WRITE,
			 MAP_SHARED, a->memfd,
			 (off_t)(refs[0] - a->first_ref) * XD_PAGE);
		return p == MAP_FAILED ? NULL : p;
	}
	errno = ENOENT;
	return NULL;
}

/* ---- xenstore --------------------------------------------------------- */

static int xs_abs(const struct xs_handle *h, const char *path, char *out,
		  size_t len)
{
	int n = path[0] == '/' ? snprintf(out, len, "%s", path)
			       : snprintf(out, len, "/local/domain/%d/%s",
					  h->dom, path);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static struct xd_node *node_find(const char *abs)
{
	for (int i = 0; i < XD_NODES; i++)
		if (W.node[i].path[0] && strcmp(W.node[i].path, abs) == 0)
			return &W.node[i];
	return NULL;
}

int xd_xs_exists(const char *path)
{
	return node_find(path) != NULL;
}

struct xs_handle *xs_open(unsigned long flags)
{
	struct xs_handle *h;

	(void)flags;
	if (W.xs_off) {
		errno = ENOENT;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (h)
		h->dom = W.cur;
	return h;
}

void xs_close(struct xs_handle *h)
{
	free(h);
}

void *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path,
	      unsigned int *len)
{
	char abs[256];
	struct xd_node *n;
	char *v;

	(void)t;
	if (xs_abs(h, path, abs, sizeof(abs)) < 0 || !(n = node_find(abs))) {
		errno = ENOENT;
		return NULL;
	}
	if (h->dom != 0 && h->dom != n->owner && h->dom != n->reader) {
		errno = EACCES;
		return NULL;
	}
	v = strdup(n->val);
	if (v && len)
		*len = (unsigned)strlen(v);
	return v;
}

/* Domain 0 may write anywhere, others only under their own home. */
bool xs_write(struct xs_handle *h, xs_transaction_t t, const char *path,
	      const void *data, unsigned int len)
{
	char abs[256], home[64];
	struct xd_node *n;

	(void)t;
	snprintf(home, sizeof(home), "/local/domain/%d/", h->dom);
	if (xs_abs(h, path, abs, sizeof(abs)) < 0 || len >= sizeof(n->val)) {
		errno = EINVAL;
		return false;
	}
	if (h->dom != 0 && strncmp(abs, home, strlen(home)) != 0) {
		errno = EACCES;
		return false;
	}
	n = node_find(abs);
	for (int i = 0; i < XD_NODES && !n; i++)
		if (!W.node[i].path[0]) {
			n = &W.node[i];
			memcpy(n->path, abs, strlen(abs) + 1);
			n->owner = h->dom;
			n->reader = -1;
		}
	if (!n) {
		errno = ENOSPC;
		return false;
	}
	memcpy(n->val, data, len);
	n->val[len] = '\0';
	return true;
}

bool xs_set_permissions(struct xs_handle *h, xs_transaction_t t,
			const char *path, struct xs_permissions *perms,
			unsigned int num_perms)
{
	char abs[256];
	struct xd_node *n;

	(void)t;
	if (xs_abs(h, path, abs, sizeof(abs)) < 0 || !(n = node_find(abs))) {
		errno = ENOENT;
		return false;
	}
	n->owner = num_perms > 0 ? (int)perms[0].id : n->owner;
	n->reader = num_perms > 1 && (perms[1].perms & XS_PERM_READ)
			    ? (int)perms[1].id
			    : -1;
	return true;
}

bool xs_rm(struct xs_handle *h, xs_transaction_t t, const char *path)
{
	char abs[256];
	size_t n;
	int found = 0;

	(void)t;
	if (xs_abs(h, path, abs, sizeof(abs)) < 0)
		return false;
	n = strlen(abs);
	for (int i = 0; i < XD_NODES; i++) {
		char *p = W.node[i].path;
		if (p[0] && strncmp(p, abs, n) == 0 &&
		    (p[n] == '\0' || p[n] == '/')) {
			memset(&W.node[i], 0, sizeof(W.node[i]));
			found = 1;
		}
	}
	if (!found)
		errno = ENOENT;
	return found;
}

xs_transaction_t xs_transaction_start(struct xs_handle *h)
{
	(void)h;
	return 1;
}

bool xs_transaction_end(struct xs_handle *h, xs_transaction_t t, bool abort)
{
	(void)h;
	(void)t;
	(void)abort;
	return true;
}

/* ---- libxenvchan ------------------------------------------------------ */

static unsigned ring_pages(int order)
{
	return order >= 12 ? 1u << (order - 12) : 0;
}

static void *in_page(struct vchan_interface *r, int order)
{
	return (char *)r + (order == 10 ? 1024 : 2048);
}

/* The library's ring sizing: a page at least, or the in-page rings. */
static void server_orders(struct libxenvchan *c, size_t l, size_t r)
{
	c->read.order = c->write.order = 12;
	while ((1ul << c->read.order) < l)
		c->read.order++;
	while ((1ul << c->write.order) < r)
		c->write.order++;
	if (l <= 1024 && r <= 2048) {
		c->read.order = 10;
		c->write.order = 11;
	} else if (l <= 2048 && r <= 1024) {
		c->read.order = 11;
		c->write.order = 10;
	} else if (l <= 2048) {
		c->read.order = 11;
	} else if (r <= 2048) {
		c->write.order = 11;
	}
}

static int dbl_server_rings(struct libxenvchan *c, int domain,
			    uint32_t *ring_ref)
{
	unsigned pl = ring_pages(c->read.order);
	unsigned pr = ring_pages(c->write.order);
	struct vchan_interface *r;

	r = xengntshr_share_page_notify(
		c->gntshr, (uint32_t)domain, ring_ref, 1,
		offsetof(struct vchan_interface, srv_live), c->event_port);
	if (!r)
		return -1;
	memset(r, 0, XD_PAGE);
	c->ring = r;
	c->read.shr = &r->left;
	c->write.shr = &r->right;
	r->left_order = (uint16_t)c->read.order;
	r->right_order = (uint16_t)c->write.order;
	r->cli_live = 2;
	r->srv_live = 1;
	r->cli_notify = VCHAN_NOTIFY_WRITE;
	c->read.buffer = pl ? xengntshr_share_pages(c->gntshr, (uint32_t)domain,
						    (int)pl, r->grants, 1)
			    : in_page(r, c->read.order);
	c->write.buffer = pr ? xengntshr_share_pages(c->gntshr,
						     (uint32_t)domain, (int)pr,
						     r->grants + pl, 1)
			     : in_page(r, c->write.order);
	if (c->read.buffer && c->write.buffer)
		return 0;
	/* like the library: drop what was shared, orders back to 0 */
	if (pl && c->read.buffer)
		xengntshr_unshare(c->gntshr, c->read.buffer, pl);
	xengntshr_unshare(c->gntshr, r, 1);
	c->ring = NULL;
	c->read.order = c->write.order = 0;
	return -1;
}

static int dbl_server_xs(struct libxenvchan *c, int domain, const char *base,
			 uint32_t ring_ref)
{
	struct xs_permissions perms[2] = { { 0, XS_PERM_NONE },
					   { (unsigned)domain, XS_PERM_READ } };
	struct xs_handle *xs;
	char key[64], val[16]; /* the library's fixed key buffer */
	int ok;

	c->xs_path = strdup(base);
	if (!c->xs_path)
		return -1;
	xs = xs_open(0);
	if (!xs)
		return -1;
	perms[0].id = (unsigned)xs->dom;
	snprintf(val, sizeof(val), "%u", ring_ref);
	snprintf(key, sizeof(key), "%s/ring-ref", base);
	ok = xs_write(xs, 0, key, val, (unsigned)strlen(val)) &&
	     xs_set_permissions(xs, 0, key, perms, 2);
	snprintf(val, sizeof(val), "%u", c->event_port);
	snprintf(key, sizeof(key), "%s/event-channel", base);
	ok = ok && xs_write(xs, 0, key, val, (unsigned)strlen(val)) &&
	     xs_set_permissions(xs, 0, key, perms, 2);
	xs_close(xs);
	return ok ? 0 : -1;
}

/* As libxenvchan 4.17: the struct comes from malloc and only some fields
 * are set before the steps that can fail; the double poisons the rest
 * so that the cleanup's use of them is caught every time. */
struct libxenvchan *libxenvchan_server_init(struct xentoollog_logger *logger,
					    int domain, const char *xs_path,
					    size_t left_min, size_t right_min)
{
	struct libxenvchan *c;
	uint32_t ref;
	int port;

	if (left_min > (1u << 20) || right_min > (1u << 20))
		return NULL; /* errno left alone, as the library does */
	c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	memset(c, 0xa5, sizeof(*c));
	c->ring = NULL;
	c->event = NULL;
	c->is_server = 1;
	c->server_persist = 0;
	server_orders(c, left_min, right_min);
	c->gntshr = xengntshr_open(logger, 0);
	if (!c->gntshr) {
		free(c);
		return NULL;
	}
	c->event = xenevtchn_open(logger, 0);
	if (!c->event)
		goto fail;
	port = xenevtchn_bind_unbound_port(c->event, (uint32_t)domain);
	if (port < 0) {
		xenevtchn_close(c->event);
		c->event = NULL;
		goto fail;
	}
	c->event_port = (uint32_t)port;
	if (dbl_server_rings(c, domain, &ref) < 0 ||
	    dbl_server_xs(c, domain, xs_path, ref) < 0)
		goto fail;
	return c;
fail:
	libxenvchan_close(c);
	return NULL;
}

static void client_unmap(struct libxenvchan *c)
{
	if (c->read.order >= 12)
		munmap(c->read.buffer, (size_t)1 << c->read.order);
	if (c->write.order >= 12)
		munmap(c->write.buffer, (size_t)1 << c->write.order);
	c->read.order = c->write.order = 0;
	if (c->ring)
		munmap(c->ring, XD_PAGE);
	c->ring = NULL;
}

static int client_map(struct libxenvchan *c, int domain, uint32_t ring_ref)
{
	struct vchan_interface *r;
	const uint32_t *g;
	int self = c->event->dom;

	r = map_refs(domain, self, &ring_ref, 1);
	if (!r)
		return -1;
	c->ring = r;
	c->write.order = r->left_order;
	c->read.order = r->right_order;
	c->write.shr = &r->left;
	c->read.shr = &r->right;
	if (c->write.order < 10 || c->write.order > 20 || c->read.order < 10 ||
	    c->read.order > 20 ||
	    (c->read.order == c->write.order && c->read.order < 12)) {
		c->read.order = c->write.order = 0;
		client_unmap(c);
		return -1;
	}
	g = r->grants;
	c->write.buffer = ring_pages(c->write.order)
				  ? map_refs(domain, self, g,
					     (int)ring_pages(c->write.order))
				  : in_page(r, c->write.order);
	g += ring_pages(c->write.order);
	c->read.buffer = ring_pages(c->read.order)
				 ? map_refs(domain, self, g,
					    (int)ring_pages(c->read.order))
				 : in_page(r, c->read.order);
	if (c->write.buffer && c->read.buffer)
		return 0;
	if (!c->write.buffer)
		c->write.order = 0;
	if (!c->read.buffer)
		c->read.order = 0;
	client_unmap(c);
	return -1;
}

/* Reads a number the library parses with atoi from key base/name, built
 * in the library's 64-byte buffer. */
static long client_key(struct xs_handle *xs, const char *base, const char *name)
{
	char key[64], *v;
	long n;

	snprintf(key, sizeof(key), "%s/%s", base, name);
	v = xs_read(xs, 0, key, NULL);
	if (!v)
		return 0;
	n = strtol(v, NULL, 10);
	free(v);
	return n;
}

struct libxenvchan *libxenvchan_client_init(struct xentoollog_logger *logger,
					    int domain, const char *xs_path)
{
	struct libxenvchan *c = calloc(1, sizeof(*c));
	struct xs_handle *xs = NULL;
	long ref, port;
	int p;

	if (!c)
		return NULL;
	xs = xs_open(0);
	if (!xs)
		goto fail;
	ref = client_key(xs, xs_path, "ring-ref");
	port = ref ? client_key(xs, xs_path, "event-channel") : 0;
	if (!ref || !port)
		goto fail;
	c->gnttab = (xengnttab_handle *)xengntshr_open(logger, 0);
	c->event = xenevtchn_open(logger, 0);
	if (!c->gnttab || !c->event)
		goto fail;
	p = xenevtchn_bind_interdomain(c->event, (uint32_t)domain,
				       (evtchn_port_t)port);
	if (p < 0)
		goto fail;
	c->event_port = (uint32_t)p;
	if (client_map(c, domain, (uint32_t)ref) < 0)
		goto fail;
	c->ring->cli_live = 1;
	c->ring->srv_notify = VCHAN_NOTIFY_WRITE;
	xenevtchn_notify(c->event, c->event_port);
	xs_close(xs);
	return c;
fail:
	xs_close(xs);
	libxenvchan_close(c);
	return NULL;
}

static void server_close(struct libxenvchan *c, int gone)
{
	if (c->read.order >= 12 && (uintptr_t)c->read.buffer != XD_POISON)
		xengntshr_unshare(c->gntshr, c->read.buffer,
				  ring_pages(c->read.order));
	if (c->write.order >= 12 && (uintptr_t)c->write.buffer != XD_POISON)
		xengntshr_unshare(c->gntshr, c->write.buffer,
				  ring_pages(c->write.order));
	if (c->ring) {
		if (!gone)
			c->ring->srv_live = 0;
		xengntshr_unshare(c->gntshr, c->ring, 1);
	}
	if (c->event) {
		if (c->ring)
			xenevtchn_notify(c->event, c->event_port);
		xenevtchn_close(c->event);
	}
	xengntshr_close(c->gntshr);
	if ((uintptr_t)c->xs_path == XD_POISON) {
		fprintf(stderr, "xen double: libxenvchan_close() frees an "
				"uninitialised xs_path after a failed "
				"server_init; the real library crashes here\n");
		abort();
	}
	if (c->xs_path) {
		struct xs_handle *xs = xs_open(0);
		if (xs)
			xs_rm(xs, 0, c->xs_path);
		xs_close(xs);
		free(c->xs_path);
	}
}

void libxenvchan_close(struct libxenvchan *c)
{
	int gone;

	if (!c)
		return;
	gone = c->event && dead(c->event->dom);
	if (c->is_server) {
		server_close(c, gone);
	} else {
		if (c->ring && !gone) {
			c->ring->cli_live = 0; /* and the unmap notification */
			xenevtchn_notify(c->event, c->event_port);
		}
		client_unmap(c);
		xenevtchn_close(c->event);
		xengntshr_close((xengntshr_handle *)c->gnttab);
	}
	free(c);
}

/* ---- libxenvchan I/O: the 4.17 notification protocol ------------------ */

static uint8_t *peer_wants(struct libxenvchan *c)
{
	return c->is_server ? &c->ring->srv_notify : &c->ring->cli_notify;
}

static void ask(struct libxenvchan *c, uint8_t bit)
{
	__atomic_or_fetch(c->is_server ? &c->ring->cli_notify
				       : &c->ring->srv_notify,
			  bit, __ATOMIC_SEQ_CST);
}

static int tell(struct libxenvchan *c, uint8_t bit)
{
	uint8_t prev = __atomic_fetch_and(peer_wants(c), (uint8_t)~bit,
					  __ATOMIC_SEQ_CST);

	return prev & bit ? xenevtchn_notify(c->event, c->event_port) : 0;
}

static uint32_t rd_size(struct libxenvchan *c)
{
	return 1u << c->read.order;
}

static uint32_t wr_size(struct libxenvchan *c)
{
	return 1u << c->write.order;
}

static int ready_raw(struct libxenvchan *c)
{
	uint32_t n = __atomic_load_n(&c->read.shr->prod, __ATOMIC_SEQ_CST) -
		     __atomic_load_n(&c->read.shr->cons, __ATOMIC_SEQ_CST);

	return n > rd_size(c) ? 0 : (int)n;
}

static int space_raw(struct libxenvchan *c)
{
	uint32_t n = wr_size(c) -
		     (__atomic_load_n(&c->write.shr->prod, __ATOMIC_SEQ_CST) -
		      __atomic_load_n(&c->write.shr->cons, __ATOMIC_SEQ_CST));

	return n > wr_size(c) ? 0 : (int)n;
}

int libxenvchan_data_ready(struct libxenvchan *c)
{
	ask(c, VCHAN_NOTIFY_WRITE);
	return ready_raw(c);
}

int libxenvchan_buffer_space(struct libxenvchan *c)
{
	ask(c, VCHAN_NOTIFY_READ);
	return space_raw(c);
}

int libxenvchan_is_open(struct libxenvchan *c)
{
	if (c->is_server)
		return c->server_persist ? 1 : c->ring->cli_live;
	return c->ring->srv_live;
}

int libxenvchan_fd_for_select(struct libxenvchan *c)
{
	return xenevtchn_fd(c->event);
}

int libxenvchan_wait(struct libxenvchan *c)
{
	int p = xenevtchn_pending(c->event);

	if (p < 0)
		return -1;
	xenevtchn_unmask(c->event, (evtchn_port_t)p);
	return 0;
}

int libxenvchan_write(struct libxenvchan *c, const void *data, size_t size)
{
	uint32_t prod, off, first;
	int avail;

	if (!libxenvchan_is_open(c))
		return -1;
	if (c->blocking)
		abort(); /* the backend never blocks; not modelled */
	avail = space_raw(c);
	if ((size_t)avail < size) {
		ask(c, VCHAN_NOTIFY_READ);
		avail = space_raw(c);
	}
	if (size > (size_t)avail)
		size = (size_t)avail;
	if (size == 0)
		return 0;
	prod = c->write.shr->prod;
	off = prod & (wr_size(c) - 1);
	first = wr_size(c) - off < size ? wr_size(c) - off : (uint32_t)size;
	memcpy((char *)c->write.buffer + off, data, first);
	memcpy(c->write.buffer, (const char *)data + first, size - first);
	__atomic_store_n(&c->write.shr->prod, prod + (uint32_t)size,
			 __ATOMIC_SEQ_CST);
	return tell(c, VCHAN_NOTIFY_WRITE) < 0 ? -1 : (int)size;
}

int libxenvchan_read(struct libxenvchan *c, void *data, size_t size)
{
	uint32_t cons, off, first;
	int avail = ready_raw(c);

	if ((size_t)avail < size) {
		ask(c, VCHAN_NOTIFY_WRITE);
		avail = ready_raw(c);
	}
	if (avail == 0) {
		if (!libxenvchan_is_open(c))
			return -1;
		if (c->blocking)
			abort(); /* not modelled */
		return 0;
	}
	if (size > (size_t)avail)
		size = (size_t)avail;
	cons = c->read.shr->cons;
	off = cons & (rd_size(c) - 1);
	first = rd_size(c) - off < size ? rd_size(c) - off : (uint32_t)size;
	memcpy(data, (const char *)c->read.buffer + off, first);
	memcpy((char *)data + first, c->read.buffer, size - first);
	__atomic_store_n(&c->read.shr->cons, cons + (uint32_t)size,
			 __ATOMIC_SEQ_CST);
	return tell(c, VCHAN_NOTIFY_READ) < 0 ? -1 : (int)size;
}
