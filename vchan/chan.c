/* Channel front end: address parsing, backend dispatch and the parts of a
 * channel every backend shares (role, address, generation). The backends
 * themselves are chan_sim.c, chan_xen.c and chan_unix.c. */
#include "chan_backend.h"
#include "zg_common.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int chan_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* A path is 1..CHAN_PATH_MAX bytes of [A-Za-z0-9._-] segments joined by
 * '/', no empty, "." or ".." segment; xen alone may start with '/'. */
static int path_valid(const char *p, int allow_abs)
{
	size_t n = strlen(p), seg = 0;
	const char *s;

	if (n == 0 || n > CHAN_PATH_MAX)
		return 0;
	if (*p == '/' && allow_abs)
		p++;
	for (s = p;; s++) {
		if (*s == '/' || *s == '\0') {
			if (seg == 0)
				return 0;
			if ((seg == 1 && s[-1] == '.') ||
			    (seg == 2 && s[-1] == '.' && s[-2] == '.'))
				return 0;
			if (*s == '\0')
				return 1;
			seg = 0;
			continue;
		}
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		      *s == '-'))
			return 0;
		seg++;
	}
}

static int parse_domid(const char *s, size_t n, int *out)
{
	char buf[8];
	long long v;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (buf[0] == '-' || zg_parse_int(buf, 0, 32751, &v) != 0)
		return -1;
	*out = (int)v;
	return 0;
}

int chan_addr_parse(const char *s, struct chan_addr *a, char *err,
		    size_t errlen)
{
	const char *c1, *c2;
	size_t blen;

	memset(a, 0, sizeof(*a));
	c1 = s ? strchr(s, ':') : NULL;
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2)
		return chan_seterr(err, errlen,
				   "bad channel address '%s': expected "
				   "BACKEND:DOMID:PATH",
				   s ? s : "");
	blen = (size_t)(c1 - s);
	if (!((blen == 3 && strncmp(s, "sim", 3) == 0) ||
	      (blen == 3 && strncmp(s, "xen", 3) == 0)))
		return chan_seterr(err, errlen,
				   "bad channel address '%s': backend must be "
				   "sim or xen",
				   s);
	memcpy(a->backend, s, blen);
	if (parse_domid(c1 + 1, (size_t)(c2 - c1 - 1), &a->domid) < 0)
		return chan_seterr(err, errlen,
				   "bad channel address '%s': domain id must be "
				   "0..32751",
				   s);
	if (!path_valid(c2 + 1, a->backend[0] == 'x'))
		return chan_seterr(
			err, errlen,
			"bad channel address '%s': path must be 1..%d "
			"characters [A-Za-z0-9._-] in '/'-separated "
			"segments",
			s, CHAN_PATH_MAX);
	memcpy(a->path, c2 + 1, strlen(c2 + 1) + 1);
	return 0;
}

static chan *chan_alloc(enum chan_role role)
{
	chan *c = calloc(1, sizeof(*c));

	if (c)
		c->role = role;
	return c;
}

chan *chan_open(const char *addr, enum chan_role role,
		const struct chan_opts *opts, char *err, size_t errlen)
{
	struct chan_opts o = { 0 };
	chan *c = NULL;
	int rc;

	if (opts)
		o = *opts;
	if (!o.ring_size)
		o.ring_size = CHAN_RING_DEFAULT;
	if (o.ring_size < CHAN_RING_MIN || o.ring_size > CHAN_RING_MAX ||
	    (o.ring_size & (o.ring_size - 1))) {
		chan_seterr(err, errlen,
			    "ring size %zu must be a power of two "
			    "in %u..%u",
			    o.ring_size, CHAN_RING_MIN, CHAN_RING_MAX);
		return NULL;
	}
	c = chan_alloc(role);
	if (!c) {
		chan_seterr(err, errlen, "out of memory");
		return NULL;
	}
	if (chan_addr_parse(addr, &c->addr, err, errlen) < 0)
		goto fail;
	snprintf(c->text, sizeof(c->text), "%s:%d:%s", c->addr.backend,
		 c->addr.domid, c->addr.path);
	c->generation = role == CHAN_CLIENT ? 1 : 0;
	if (strcmp(c->addr.backend, "sim") == 0)
		rc = chan_sim_open(c, &o, err, errlen);
	else
		rc = chan_xen_open(c, &o, err, errlen);
	if (rc < 0)
		goto fail;
	return c;
fail:
	free(c);
	return NULL;
}

chan *chan_from_socket(int fd, enum chan_role role, char *err, size_t errlen)
{
	chan *c = chan_alloc(role);

	if (!c) {
		close(fd);
		chan_seterr(err, errlen, "out of memory");
		return NULL;
	}
	memcpy(c->addr.backend, "unix", 5);
	c->addr.domid = 0;
	snprintf(c->addr.path, sizeof(c->addr.path), "fd%d", fd);
	snprintf(c->text, sizeof(c->text), "unix:0:fd%d", fd);
	c->generation = 1;
	if (chan_unix_wrap(c, fd, err, errlen) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

ssize_t chan_read(chan *c, void *buf, size_t len)
{
	return c->ops->read(c, buf, len);
}

ssize_t chan_write(chan *c, const void *buf, size_t len)
{
	return c->ops->write(c, buf, len);
}

size_t chan_data_ready(chan *c)
{
	return c->ops->data_ready(c);
}

size_t chan_buffer_space(chan *c)
{
	return c->ops->buffer_space(c);
}

int chan_fd(chan *c)
{
	return c->ops->fd(c);
}

short chan_poll_events(chan *c, int want_write)
{
	return (short)(POLLIN |
		       (want_write && c->ops->needs_pollout ? POLLOUT : 0));
}

int chan_handle_events(chan *c)
{
	return c->ops->handle_events(c);
}

int chan_state(chan *c)
{
	return c->ops->state(c);
}

unsigned chan_generation(chan *c)
{
	return c->generation;
}

int chan_reset(chan *c)
{
	if (c->role != CHAN_SERVER)
		return -1;
	return c->ops->reset(c);
}

enum chan_role chan_role_of(const chan *c)
{
	return c->role;
}

const char *chan_backend(const chan *c)
{
	return c->addr.backend;
}

const char *chan_address(const chan *c)
{
	return c->text;
}

int chan_peer_domid(const chan *c)
{
	return c->addr.domid;
}

void chan_close(chan *c)
{
	if (!c)
		return;
	c->ops->close(c);
	free(c);
}

int chan_sim_dir(char *buf, size_t len)
{
	const char *env = getenv("ZONEGATE_SIM_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/run/zonegate/sim");
	else if (xdg && *xdg)
		n = snprintf(buf, len, "%s/zonegate/sim", xdg);
	else
		n = snprintf(buf, len, "/tmp/zonegate-sim-%u",
			     (unsigned)geteuid());
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int chan_unix_path_free(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return chan_seterr(err, errlen, "%s: %s", path,
				   strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return chan_seterr(err, errlen,
				   "%s: exists and is not a socket (refused: "
				   "it is never deleted to make room for one)",
				   path);
	if (unlink(path) != 0 && errno != ENOENT)
		return chan_seterr(err, errlen, "%s: %s", path,
				   strerror(errno));
	return 0;
}
