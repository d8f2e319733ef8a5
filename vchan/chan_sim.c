/* The sim backend: libxenvchan's semantics without a hypervisor. Two
 * bounded power-of-two rings live in a sealed memfd mapped by both sides
 * (the grant pages); a connected AF_UNIX socket carries the memfd once,
 * then one-byte notifications (the event channel) and peer death (EOF).
 * The server listens at SIMDIR/DOMID/PATH.sock; see docs/channels.md. */
#define _GNU_SOURCE
#include "chan_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SIM_MAGIC 0x5a475643u /* "ZGVC" */
#define SIM_VERSION 1u
#define SIM_HDR 4096u

/* Producer and consumer counters run freely and wrap; used = prod - cons.
 * Each sits on its own cache line. */
struct sim_ring_ctl {
	_Atomic uint32_t prod;
	char pad1[60];
	_Atomic uint32_t cons;
	char pad2[60];
};

/* Shared header; ring 0 carries server to client, ring 1 the reverse. */
struct sim_shm {
	uint32_t magic, version, ring_size, reserved;
	struct sim_ring_ctl ring[2];
};

struct sim {
	int ep;	     /* epoll set: the readiness fd */
	int lsock;   /* server: listening socket; client: -1 */
	int conn;    /* the peer connection, -1 when none */
	int pending; /* server: a client queued while the last one closes */
	int memfd;
	struct sim_shm *shm;
	size_t maplen, size;
	unsigned char *rx, *tx;
	struct sim_ring_ctl *rxc, *txc;
	int state;
	char sockpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static struct sim *S(chan *c)
{
	return c->impl;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Maps a ring file of ring size sz; the server initialises it. */
static int sim_map(struct sim *s, int server)
{
	size_t len = SIM_HDR + 2 * s->size;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd,
		       0);

	if (p == MAP_FAILED)
		return -1;
	s->shm = p;
	s->maplen = len;
	if (server) {
		memset(p, 0, SIM_HDR);
		s->shm->magic = SIM_MAGIC;
		s->shm->version = SIM_VERSION;
		s->shm->ring_size = (uint32_t)s->size;
	}
	s->tx = (unsigned char *)p + SIM_HDR + (server ? 0 : s->size);
	s->rx = (unsigned char *)p + SIM_HDR + (server ? s->size : 0);
	s->txc = &s->shm->ring[server ? 0 : 1];
	s->rxc = &s->shm->ring[server ? 1 : 0];
	return 0;
}

static void sim_unmap(struct sim *s)
{
	if (s->shm)
		munmap(s->shm, s->maplen);
	s->shm = NULL;
	if (s->memfd >= 0)
		close(s->memfd);
	s->memfd = -1;
}

/* Server: a fresh pair of rings in a sealed memfd, so a client can
 * neither shrink it under the server (SIGBUS) nor grow it. */
static int sim_new_rings(struct sim *s, char *err, size_t errlen)
{
	size_t len = SIM_HDR + 2 * s->size;

	s->memfd = memfd_create("zonegate-sim-ring",
				MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->memfd < 0)
		return chan_seterr(err, errlen, "memfd_create: %s",
				   strerror(errno));
	if (ftruncate(s->memfd, (off_t)len) < 0 ||
	    fcntl(s->memfd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
	    sim_map(s, 1) < 0) {
		chan_seterr(err, errlen, "ring setup: %s", strerror(errno));
		sim_unmap(s);
		return -1;
	}
	return 0;
}

static void sim_notify(struct sim *s)
{
	static const char b = 'n';

	if (s->conn >= 0)
		(void)send(s->conn, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* The peer controls the counters it shares with us: a used count above
 * the ring size is corruption and closes the channel. */
static int sim_used(struct sim *s, struct sim_ring_ctl *r, uint32_t *prod,
		    uint32_t *cons)
{
	*prod = atomic_load(&r->prod);
	*cons = atomic_load(&r->cons);
	if ((uint32_t)(*prod - *cons) > s->size) {
		s->state = CHAN_CLOSED;
		return -1;
	}
	return (int)(uint32_t)(*prod - *cons);
}

static ssize_t sim_read(chan *c, void *buf, size_t len)
{
	struct sim *s = S(c);
	uint32_t prod, cons, off;
	size_t n, first;
	int used;

	if (!s->shm)
		return s->state == CHAN_WAITING ? 0 : -1;
	used = sim_used(s, s->rxc, &prod, &cons);
	if (used < 0)
		return -1;
	if (used == 0)
		return s->state == CHAN_CLOSED ? -1 : 0;
	n = len < (size_t)used ? len : (size_t)used;
	off = cons & (uint32_t)(s->size - 1);
	first = s->size - off < n ? s->size - off : n;
	memcpy(buf, s->rx + off, first);
	memcpy((char *)buf + first, s->rx, n - first);
	atomic_store(&s->rxc->cons, cons + (uint32_t)n);
	/* The writer sleeps only on a full ring; wake it if this read was
	 * the first to make room (seq_cst pairs with sim_write's reload). */
	if ((uint32_t)(atomic_load(&s->rxc->prod) - cons) == s->size)
		sim_notify(s);
	return (ssize_t)n;
}

static ssize_t sim_write(chan *c, const void *buf, size_t len)
{
	struct sim *s = S(c);
	uint32_t prod, cons, off;
	size_t done = 0, n, first, space;
	int used;

	if (s->state == CHAN_CLOSED)
		return -1;
	if (!s->shm)
		return 0; /* client not yet accepted */
	for (;;) {
		used = sim_used(s, s->txc, &prod, &cons);
		if (used < 0)
			return -1;
		space = s->size - (size_t)used;
		if (space == 0 || done == len)
			break;
		n = len - done < space ? len - done : space;
		off = prod & (uint32_t)(s->size - 1);
		first = s->size - off < n ? s->size - off : n;
		memcpy(s->tx + off, (const char *)buf + done, first);
		memcpy(s->tx, (const char *)buf + done + first, n - first);
		atomic_store(&s->txc->prod, prod + (uint32_t)n);
		done += n;
	}
	/* The reader may be asleep if it had consumed all but our bytes. */
	if (done > 0 && (size_t)used <= done)
		sim_notify(s);
	return (ssize_t)done;
}

static size_t sim_data_ready(chan *c)
{
	uint32_t p, q;
	int used;

	if (!S(c)->shm)
		return 0;
	used = sim_used(S(c), S(c)->rxc, &p, &q);
	return used < 0 ? 0 : (size_t)used;
}

static size_t sim_buffer_space(chan *c)
{
	uint32_t p, q;
	int used;

	if (!S(c)->shm || S(c)->state == CHAN_CLOSED)
		return 0;
	used = sim_used(S(c), S(c)->txc, &p, &q);
	return used < 0 ? 0 : S(c)->size - (size_t)used;
}

static int sim_fd(chan *c)
{
	return S(c)->ep;
}

static void sim_drop_conn(struct sim *s)
{
	if (s->conn >= 0) {
		epoll_ctl(s->ep, EPOLL_CTL_DEL, s->conn, NULL);
		close(s->conn);
	}
	s->conn = -1;
}

/* Drains notification bytes; EOF or an error means the peer is gone. */
static void sim_drain(struct sim *s)
{
	char buf[256];
	ssize_t r;

	while (s->conn >= 0) {
		r = recv(s->conn, buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0 && (size_t)r < sizeof(buf))
			return; /* drained; a later byte makes the fd ready */
		if (r > 0)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		s->state = CHAN_CLOSED;
		sim_drop_conn(s);
	}
}

/* Server: hands the rings to a new client and makes it the peer. */
static int sim_adopt(chan *c, int fd)
{
	struct sim *s = S(c);
	char b = 'A';
	struct iovec iov = { &b, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = { 0 };
	struct cmsghdr *cm;
	struct epoll_event ev = { .events = EPOLLIN };

	memset(&u, 0, sizeof(u));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &s->memfd, sizeof(int));
	ev.data.fd = fd;
	if (sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) != 1 ||
	    epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return -1;
	}
	s->conn = fd;
	s->state = CHAN_OPEN;
	c->generation++;
	/* Data written while waiting is already in the ring. */
	sim_notify(s);
	return 0;
}

static void sim_accept(chan *c)
{
	struct sim *s = S(c);
	int fd;

	for (;;) {
		fd = accept4(s->lsock, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (s->state == CHAN_WAITING && s->conn < 0)
			sim_adopt(c, fd);
		else if (s->pending < 0 && s->state == CHAN_CLOSED)
			s->pending = fd;
		else
			close(fd); /* one client at a time, as libxenvchan */
	}
}

static int sim_check_ring(struct sim *s, char *err, size_t errlen);
static int sim_recv_ring(int sock, int ms);

/* Client: the server's accept brings the rings. */
static void sim_client_accepted(struct sim *s)
{
	int fd = sim_recv_ring(s->conn, 0);

	if (fd == -3)
		return;
	if (fd >= 0) {
		s->memfd = fd;
		if (sim_check_ring(s, NULL, 0) == 0) {
			s->state = CHAN_OPEN;
			return;
		}
	}
	s->state = CHAN_CLOSED; /* busy, gone or a bad ring */
	sim_drop_conn(s);
}

static int sim_handle_events(chan *c)
{
	struct sim *s = S(c);

	if (s->lsock < 0 && s->state == CHAN_WAITING && s->conn >= 0)
		sim_client_accepted(s);
	if (s->state != CHAN_WAITING || s->lsock >= 0)
		sim_drain(s);
	if (s->lsock >= 0)
		sim_accept(c);
	return s->state;
}

static int sim_state(chan *c)
{
	return S(c)->state;
}

static int sim_reset(chan *c)
{
	struct sim *s = S(c);
	int fd;

	sim_drop_conn(s);
	sim_unmap(s);
	if (sim_new_rings(s, NULL, 0) < 0) {
		s->state = CHAN_CLOSED;
		return -1;
	}
	s->state = CHAN_WAITING;
	fd = s->pending;
	s->pending = -1;
	if (fd >= 0)
		sim_adopt(c, fd);
	return 0;
}

static void sim_close(chan *c)
{
	struct sim *s = S(c);

	if (!s)
		return;
	sim_drop_conn(s);
	if (s->pending >= 0)
		close(s->pending);
	if (s->lsock >= 0) {
		close(s->lsock);
		/* our socket, unless something else took its place */
		chan_unix_path_free(s->sockpath, NULL, 0);
	}
	sim_unmap(s);
	if (s->ep >= 0)
		close(s->ep);
	free(s);
	c->impl = NULL;
}

static const struct chan_ops sim_ops = {
	"sim",		0,
	sim_read,	sim_write,
	sim_data_ready, sim_buffer_space,
	sim_fd,		sim_handle_events,
	sim_state,	sim_reset,
	sim_close,
};

/* mkdir -p for the directories of path (not its last component). */
static int mkdirs(char *path)
{
	char *p;

	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return 0;
}

static int sim_sockaddr(chan *c, struct sockaddr_un *sa, char *err,
			size_t errlen)
{
	char dir[4096];
	int n;

	if (chan_sim_dir(dir, sizeof(dir)) < 0)
		return chan_seterr(err, errlen, "ZONEGATE_SIM_DIR too long");
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%d/%s.sock", dir,
		     c->addr.domid, c->addr.path);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
		return chan_seterr(err, errlen,
				   "sim socket path %s/%d/%s.sock "
				   "longer than %zu bytes; use a shorter "
				   "ZONEGATE_SIM_DIR",
				   dir, c->addr.domid, c->addr.path,
				   sizeof(sa->sun_path) - 1);
	memcpy(S(c)->sockpath, sa->sun_path, sizeof(sa->sun_path));
	return 0;
}

/* One directory on the way to a socket: a directory, not writable by
 * group or others, owned by root, by this process's user or, for the
 * zone's own directory SIMDIR/DOMID only (zone_uid, else (uid_t)-1), by
 * the sandboxed zone's host uid (CHAN_ZONE_UID_BASE + domid). */
static int sim_one_dir_safe(const char *dir, uid_t zone_uid, char *err,
			    size_t errlen)
{
	struct stat st;

	if (lstat(dir, &st) < 0)
		return chan_seterr(err, errlen, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode) || (st.st_mode & 022) ||
	    (st.st_uid != geteuid() && st.st_uid != 0 &&
	     (zone_uid == (uid_t)-1 || st.st_uid != zone_uid)))
		return chan_seterr(err, errlen,
				   "%s: unsafe rendezvous directory (must be "
				   "a directory owned by this user or root%s, "
				   "not writable by group or others)",
				   dir,
				   zone_uid == (uid_t)-1
					   ? ""
					   : " or the zone's uid");
	return 0;
}

/* The directories holding the socket decide who can be a zone's peer:
 * whoever owns or can write to one of them, from the socket's own up to
 * the rendezvous root, could put a socket of theirs in its place. Both
 * sides check all of them. The zone's own directory SIMDIR/DOMID may
 * also belong to the zone's uid (zonectl makes it so): that uid is the
 * peer anyway. Above it only root or this user will do, on both sides:
 * inside a zone the directories above its endpoint are its sandbox's own
 * (a fresh tmpfs root, owned by the zone's uid), and the overflow uid
 * ("nobody") that root-owned host directories show inside a user
 * namespace is never accepted, because it stands for every unmapped
 * host uid, another ordinary user's included. */
static int sim_dir_safe(const char *sockpath, int domid, char *err,
			size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char root[sizeof(dir)], own[sizeof(dir) + 16];
	size_t rootlen;
	char *slash;
	uid_t zu;

	if (chan_sim_dir(root, sizeof(root)) < 0)
		return chan_seterr(err, errlen, "ZONEGATE_SIM_DIR too long");
	rootlen = strlen(root);
	while (rootlen > 1 && root[rootlen - 1] == '/')
		root[--rootlen] = '\0';
	snprintf(own, sizeof(own), "%s/%d", root, domid);
	memcpy(dir, sockpath, sizeof(dir));
	for (;;) {
		slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			return 0;
		*slash = '\0';
		zu = strcmp(dir, own) == 0 ? (uid_t)(CHAN_ZONE_UID_BASE + domid)
					   : (uid_t)-1;
		if (sim_one_dir_safe(dir, zu, err, errlen) < 0)
			return -1;
		if (strlen(dir) <= rootlen)
			return 0;
	}
}

/* A server (the gateway, for an agent zone) listening in a zone's own
 * directory, owned by the zone's uid and closed to everyone else (no
 * group or other bits): the socket is opened to all (0666) so that the
 * zone's uid can connect; the directory still admits only that uid and
 * root. Elsewhere the socket keeps the umask's mode. 0, or -1 (errno). */
static int sim_open_to_zone(const char *sockpath, int domid)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	memcpy(dir, sockpath, sizeof(dir));
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (lstat(dir, &st) < 0)
		return -1;
	if (st.st_uid != (uid_t)(CHAN_ZONE_UID_BASE + domid) ||
	    st.st_uid == geteuid() || (st.st_mode & 077))
		return 0;
	return chmod(sockpath, 0666);
}

/* Binds the listening socket, replacing a stale socket file but never a
 * live server's, and never anything that is not a socket. */
static int sim_listen(chan *c, struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct sim *s = S(c);
	int probe;

	if (mkdirs(sa->sun_path) < 0)
		return chan_seterr(err, errlen, "cannot create %s: %s",
				   sa->sun_path, strerror(errno));
	if (sim_dir_safe(sa->sun_path, c->addr.domid, err, errlen) < 0)
		return -1;
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 &&
	    connect(probe, (struct sockaddr *)sa, sizeof(*sa)) == 0) {
		close(probe);
		return chan_seterr(err, errlen,
				   "%s: a server is already "
				   "listening",
				   c->text);
	}
	if (probe >= 0)
		close(probe);
	if (chan_unix_path_free(sa->sun_path, err, errlen) < 0)
		return -1;
	s->lsock =
		socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lsock < 0)
		return chan_seterr(err, errlen, "socket: %s", strerror(errno));
	if (bind(s->lsock, (struct sockaddr *)sa, sizeof(*sa)) < 0) {
		/* not ours to remove on close: whatever is there stays */
		chan_seterr(err, errlen, "bind %s: %s", sa->sun_path,
			    strerror(errno));
		close(s->lsock);
		s->lsock = -1;
		return -1;
	}
	if (sim_open_to_zone(sa->sun_path, c->addr.domid) < 0)
		return chan_seterr(err, errlen, "chmod %s: %s", sa->sun_path,
				   strerror(errno));
	if (listen(s->lsock, 4) < 0)
		return chan_seterr(err, errlen, "listen on %s: %s",
				   sa->sun_path, strerror(errno));
	return 0;
}

static int sim_server_open(chan *c, char *err, size_t errlen)
{
	struct sim *s = S(c);
	struct sockaddr_un sa;
	struct epoll_event ev = { .events = EPOLLIN };

	if (sim_sockaddr(c, &sa, err, errlen) < 0 ||
	    sim_listen(c, &sa, err, errlen) < 0 ||
	    sim_new_rings(s, err, errlen) < 0)
		return -1;
	ev.data.fd = s->lsock;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lsock, &ev) < 0)
		return chan_seterr(err, errlen, "epoll: %s", strerror(errno));
	s->state = CHAN_WAITING;
	return 0;
}

/* Receives the server's 'A' and ring memfd, waiting up to ms. Returns
 * the fd, -1 on failure, -2 if the server turned us away (busy), -3 if
 * nothing came yet. */
static int sim_recv_ring(int sock, int ms)
{
	char b = 0;
	struct iovec iov = { &b, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = { 0 };
	struct cmsghdr *cm;
	struct pollfd pfd = { sock, POLLIN, 0 };
	ssize_t r;
	int fd = -1;

	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	if (poll(&pfd, 1, ms) <= 0)
		return -3;
	r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return -3;
	if (r <= 0)
		return -2;
	cm = CMSG_FIRSTHDR(&m);
	if (b != 'A' || !cm || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* Client: checks the ring the server handed over before mapping it. */
static int sim_check_ring(struct sim *s, char *err, size_t errlen)
{
	struct sim_shm h;
	struct stat st;
	int seals = fcntl(s->memfd, F_GET_SEALS);

	if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(s->memfd, &st) < 0 ||
	    pread(s->memfd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return chan_seterr(err, errlen, "server sent an unusable ring");
	if (h.magic != SIM_MAGIC || h.version != SIM_VERSION ||
	    h.ring_size < CHAN_RING_MIN || h.ring_size > CHAN_RING_MAX ||
	    (h.ring_size & (h.ring_size - 1)) ||
	    (size_t)st.st_size < SIM_HDR + 2 * (size_t)h.ring_size)
		return chan_seterr(err, errlen,
				   "server sent a bad ring header");
	s->size = h.ring_size;
	return sim_map(s, 0) < 0
		       ? chan_seterr(err, errlen, "mmap: %s", strerror(errno))
		       : 0;
}

/* In a directory a sandboxed zone owns (SIMDIR/DOMID of a zone's uid,
 * not ours), the zone could plant a symlink at the socket's name, and
 * connect() follows it: a root gateway would be led to another zone's
 * server, or to its own listening socket of an agent zone. So there the
 * server must be the zone itself: its peer uid must be the zone's uid.
 * Elsewhere (root's or our own directories) nothing is checked here. */
static int sim_peer_check(chan *c, const char *sockpath, int sock, char *err,
			  size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uid_t zu = (uid_t)(CHAN_ZONE_UID_BASE + c->addr.domid);
	struct ucred cr = { 0, (uid_t)-1, (gid_t)-1 };
	socklen_t cl = sizeof(cr);
	struct stat st;
	char *slash;

	memcpy(dir, sockpath, sizeof(dir));
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (lstat(dir, &st) < 0)
		return chan_seterr(err, errlen, "%s: %s", dir, strerror(errno));
	if (st.st_uid != zu || zu == geteuid())
		return 0;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 ||
	    cr.uid != zu)
		return chan_seterr(err, errlen,
				   "%s: the server in zone %d's directory "
				   "is not that zone (peer uid %ld, expected "
				   "%ld)",
				   c->text, c->addr.domid, (long)cr.uid,
				   (long)zu);
	return 0;
}

/* One connection attempt: 0 connected, -2 retryable, -1 fatal. */
static int sim_try_connect(chan *c, struct sockaddr_un *sa, int ms, char *err,
			   size_t errlen)
{
	struct sim *s = S(c);
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int fd;

	if (sock < 0)
		return chan_seterr(err, errlen, "socket: %s", strerror(errno));
	if (connect(sock, (struct sockaddr *)sa, sizeof(*sa)) < 0) {
		chan_seterr(err, errlen, "%s: no server (%s)", c->text,
			    strerror(errno));
		close(sock);
		return -2;
	}
	if (sim_peer_check(c, sa->sun_path, sock, err, errlen) < 0) {
		close(sock);
		return -1;
	}
	if (ms == 0) { /* non-blocking open: the ring comes later */
		s->conn = sock;
		return 0;
	}
	fd = sim_recv_ring(sock, ms);
	if (fd < 0) {
		chan_seterr(err, errlen, "%s: server busy or not accepting",
			    c->text);
		close(sock);
		return fd == -1 ? -1 : -2;
	}
	s->memfd = fd;
	if (sim_check_ring(s, err, errlen) < 0) {
		close(sock);
		return -1;
	}
	s->conn = sock;
	return 0;
}

static int sim_client_open(chan *c, const struct chan_opts *o, char *err,
			   size_t errlen)
{
	struct sim *s = S(c);
	struct sockaddr_un sa;
	struct epoll_event ev = { .events = EPOLLIN };
	long deadline = now_ms() + o->connect_timeout_ms;
	int rc, wait;

	if (sim_sockaddr(c, &sa, err, errlen) < 0)
		return -1;
	for (;;) {
		/* checked before each attempt: the socket may appear late */
		if (access(sa.sun_path, F_OK) == 0 &&
		    sim_dir_safe(sa.sun_path, c->addr.domid, err, errlen) < 0)
			return -1;
		wait = (int)(deadline - now_ms());
		if (o->connect_timeout_ms > 0 && wait < 100)
			wait = 100;
		rc = sim_try_connect(c, &sa, o->connect_timeout_ms ? wait : 0,
				     err, errlen);
		if (rc != -2 || now_ms() >= deadline)
			break;
		usleep(20000);
	}
	if (rc < 0)
		return -1;
	fcntl(s->conn, F_SETFL, fcntl(s->conn, F_GETFL) | O_NONBLOCK);
	ev.data.fd = s->conn;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->conn, &ev) < 0)
		return chan_seterr(err, errlen, "epoll: %s", strerror(errno));
	s->state = s->shm ? CHAN_OPEN : CHAN_WAITING;
	return 0;
}

int chan_sim_open(chan *c, const struct chan_opts *o, char *err, size_t errlen)
{
	struct sim *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return chan_seterr(err, errlen, "out of memory");
	s->lsock = s->conn = s->pending = s->memfd = -1;
	s->size = o->ring_size;
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	c->impl = s;
	c->ops = &sim_ops;
	if (s->ep < 0)
		rc = chan_seterr(err, errlen, "epoll: %s", strerror(errno));
	else if (c->role == CHAN_SERVER)
		rc = sim_server_open(c, err, errlen);
	else
		rc = sim_client_open(c, o, err, errlen);
	if (rc < 0) {
		sim_close(c);
		return -1;
	}
	return 0;
}
