/* A zone's only way out (docs/zones.md "Network"): a SOCKS5 proxy that
 * zonectl runs outside the zone, on a unix socket bound into the zone's
 * tree, which connects only to the HOST:PORT list of the zone's
 * "network": {"egress": [...]} block, with caps on connections, bytes and
 * idle time. The zone itself keeps a network namespace with loopback only. */
#define _GNU_SOURCE
#include "sandbox.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "web_class.h"

#define EG_CONNECT_MS 10000 /* one upstream connect attempt */
#define EG_BUF 16384

/* SOCKS5 replies (RFC 1928) */
#define S5_OK 0
#define S5_FAIL 1
#define S5_NOT_ALLOWED 2
#define S5_UNREACHABLE 4
#define S5_BAD_CMD 7
#define S5_BAD_ATYP 8

/* Puts host into canonical form in out (len >= 256): an IP literal as
 * inet_ntop writes it, a DNS name lower-cased. -1 if it is neither. */
static int host_canon(const char *host, char *out, size_t len)
{
	unsigned char a[16];
	size_t n = strlen(host);

	if (inet_pton(AF_INET, host, a) == 1)
		return inet_ntop(AF_INET, a, out, (socklen_t)len) ? 0 : -1;
	if (inet_pton(AF_INET6, host, a) == 1)
		return inet_ntop(AF_INET6, a, out, (socklen_t)len) ? 0 : -1;
	if (n == 0 || n > 253 || n >= len || host[0] == '.' || host[0] == '-')
		return -1;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)host[i];
		if (c && !isalnum(c) && c != '-' && c != '.')
			return -1;
		out[i] = (char)tolower(c);
	}
	return 0;
}

int zone_dest_parse(const char *s, struct zone_dest *d)
{
	char host[256];
	unsigned char a6[16];
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long port;

	if (!s || strlen(s) > 300)
		return -1;
	colon = strrchr(s, ':');
	if (!colon)
		return -1;
	hl = (size_t)(colon - s);
	if (s[0] == '[') { /* [V6]:PORT */
		if (hl < 3 || s[hl - 1] != ']')
			return -1;
		h = s + 1;
		hl -= 2;
	} else if (memchr(s, ':', hl)) {
		return -1; /* a bare IPv6 literal is ambiguous */
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = 0;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 1 || port > 65535 ||
	    colon[1] == '+' || colon[1] == '-' || colon[1] == ' ')
		return -1;
	if (h != s && inet_pton(AF_INET6, host, a6) != 1)
		return -1; /* brackets only around an IPv6 literal */
	if (host_canon(host, d->host, sizeof(d->host)) < 0)
		return -1;
	d->port = (int)port;
	return 0;
}

/* ---- one connection (a child of the proxy) ---- */

/* Reads exactly n bytes within idle_ms of silence. 0 ok, -1 otherwise. */
static int read_full(int fd, void *buf, size_t n, int idle_ms)
{
	size_t got = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (got < n) {
		ssize_t k;
		if (poll(&p, 1, idle_ms) <= 0)
			return -1;
		k = read(fd, (char *)buf + got, n - got);
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

/* Writes all of buf (blocking). 0 ok, -1 error. */
static int write_full(int fd, const void *buf, size_t n)
{
	size_t put = 0;

	while (put < n) {
		ssize_t k = write(fd, (const char *)buf + put, n - put);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		put += (size_t)k;
	}
	return 0;
}

/* Sends a SOCKS5 reply with code rep and a zero bound address. */
static void s5_reply(int fd, int rep)
{
	unsigned char r[10] = { 5, (unsigned char)rep, 0, 1 };

	(void)write_full(fd, r, sizeof(r));
}

/* Reads the greeting and the CONNECT request; fills host (canonical)
 * and port. 0, or a SOCKS5 reply code (already sent where one is due),
 * or -1 when the client broke the protocol (nothing sent). */
static int s5_request(int c, int idle_ms, char *host, size_t hlen, int *port)
{
	unsigned char b[262], len;
	char raw[256];

	if (read_full(c, b, 2, idle_ms) < 0 || b[0] != 5 || b[1] == 0 ||
	    read_full(c, b + 2, b[1], idle_ms) < 0)
		return -1;
	if (!memchr(b + 2, 0, b[1])) { /* "no authentication" not offered */
		(void)write_full(c, "\x05\xff", 2);
		return -1;
	}
	if (write_full(c, "\x05\x00", 2) < 0 ||
	    read_full(c, b, 4, idle_ms) < 0 || b[0] != 5)
		return -1;
	if (b[1] != 1)
		return S5_BAD_CMD;
	if (b[3] == 1 || b[3] == 4) {
		size_t al = b[3] == 1 ? 4 : 16;
		if (read_full(c, b + 4, al, idle_ms) < 0 ||
		    !inet_ntop(b[3] == 1 ? AF_INET : AF_INET6, b + 4, raw,
			       sizeof(raw)))
			return -1;
	} else if (b[3] == 3) {
		if (read_full(c, &len, 1, idle_ms) < 0 || len == 0 ||
		    read_full(c, raw, len, idle_ms) < 0)
			return -1;
		raw[len] = 0;
	} else {
		return S5_BAD_ATYP;
	}
	if (read_full(c, b, 2, idle_ms) < 0)
		return -1;
	*port = b[0] << 8 | b[1];
	if (host_canon(raw, host, hlen) < 0)
		return S5_NOT_ALLOWED;
	return 0;
}

int zone_egress_request(int fd, int idle_ms, char *host, size_t hlen, int *port)
{
	return s5_request(fd, idle_ms, host, hlen, port);
}

/* Whether host:port is on the zone's list. */
static int allowed(const struct zone_egress *g, const char *host, int port)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->dest[i].port == port &&
		    strcmp(g->dest[i].host, host) == 0)
			return 1;
	return 0;
}

/* Connects to one address within EG_CONNECT_MS. The socket, or -1. */
static int connect_one(const struct addrinfo *ai)
{
	int s = socket(ai->ai_family,
		       SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd p;
	int e = 0;
	socklen_t el = sizeof(e);

	if (s < 0)
		return -1;
	if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0) {
		p = (struct pollfd){ .fd = s, .events = POLLOUT };
		if (errno != EINPROGRESS || poll(&p, 1, EG_CONNECT_MS) <= 0 ||
		    getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e) {
			close(s);
			return -1;
		}
	}
	fcntl(s, F_SETFL, 0);
	return s;
}

/* Whether a listed name resolved to a non-public address (DNS pointing
 * a listed name at the host's loopback, a private network or a cloud
 * metadata service): reported on stderr, and the connection refused.
 * Only an IP literal in the list reaches such an address. */
static int name_forbidden(const struct zone_run *r, const char *host,
			  const struct addrinfo *res)
{
	unsigned char lit[16];
	char txt[64];

	if (inet_pton(AF_INET, host, lit) == 1 ||
	    inet_pton(AF_INET6, host, lit) == 1)
		return 0; /* listed as an address: meant as it is */
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		const char *why = web_addr_forbidden(ai->ai_addr);
		if (!why)
			continue;
		getnameinfo(ai->ai_addr, ai->ai_addrlen, txt, sizeof(txt), NULL,
			    0, NI_NUMERICHOST);
		fprintf(stderr,
			"zonectl: zone %s: egress to %s refused: it resolves "
			"to %s, a %s address (list the address itself to "
			"allow it)\n",
			r->name, host, txt, why);
		return 1;
	}
	return 0;
}

/* Resolves host once, checks the addresses, and connects to the first
 * that answers. The socket, -1 unreachable, -2 refused. */
static int connect_dest(const struct zone_run *r, const char *host, int port)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	char ps[8];
	int s = -1;

	hints.ai_socktype = SOCK_STREAM;
	snprintf(ps, sizeof(ps), "%d", port);
	if (getaddrinfo(host, ps, &hints, &res) != 0)
		return -1;
	if (name_forbidden(r, host, res))
		s = -2;
	for (ai = res; ai && s == -1; ai = ai->ai_next)
		s = connect_one(ai);
	freeaddrinfo(res);
	return s;
}

/* Takes n bytes from the run's allowance (shared by every connection).
 * Returns how many may pass (less than n once it runs out). */
static size_t take_bytes(uint64_t *used, uint64_t cap, size_t n)
{
	uint64_t before = __atomic_fetch_add(used, n, __ATOMIC_SEQ_CST);

	if (before >= cap)
		return 0;
	return cap - before < n ? (size_t)(cap - before) : n;
}

/* Copies both ways until both sides have closed (an end of file on one
 * side is passed on as a half-close), the connection is idle for
 * idle_ms, or the run's byte allowance is spent. */
static void relay(int c, int u, const struct zone_egress *g, uint64_t *used,
		  int idle_ms)
{
	struct pollfd p[2] = { { .fd = c, .events = POLLIN },
			       { .fd = u, .events = POLLIN } };
	char buf[EG_BUF];

	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int r = poll(p, 2, idle_ms);
		if (r <= 0)
			return; /* idle (or error) */
		for (int i = 0; i < 2; i++) {
			ssize_t n;
			size_t ok;
			if (p[i].fd < 0 ||
			    !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n < 0)
				return;
			if (n == 0) { /* half-close: pass it on */
				shutdown(i ? c : u, SHUT_WR);
				p[i].fd = -1;
				continue;
			}
			ok = take_bytes(used, g->max_bytes, (size_t)n);
			if (ok && write_full(i ? c : u, buf, ok) < 0)
				return;
			if (ok < (size_t)n)
				return; /* the byte cap */
		}
	}
}

/* One client connection: the request, the check, the upstream, the
 * relay. Runs in its own process; never returns. */
static void serve_conn(int c, const struct zone_run *r, uint64_t *used)
{
	char host[256];
	int port = 0, rc, u, idle_ms = (int)(r->egress.idle_s * 1000);

	rc = s5_request(c, idle_ms, host, sizeof(host), &port);
	if (rc > 0)
		s5_reply(c, rc);
	if (rc != 0)
		_exit(1);
	if (!allowed(&r->egress, host, port)) {
		fprintf(stderr,
			"zonectl: zone %s: egress to %s:%d refused (not in "
			"its network.egress list)\n",
			r->name, host, port);
		s5_reply(c, S5_NOT_ALLOWED);
		_exit(1);
	}
	u = connect_dest(r, host, port);
	if (u < 0) {
		s5_reply(c, u == -2 ? S5_NOT_ALLOWED : S5_UNREACHABLE);
		_exit(1);
	}
	s5_reply(c, S5_OK);
	relay(c, u, &r->egress, used, idle_ms);
	_exit(0);
}

/* ---- the proxy ---- */

static volatile sig_atomic_t eg_child_ended;

static void on_child(int sig)
{
	(void)sig;
	eg_child_ended = 1;
}

/* Reaps ended connections; returns how many. */
static long reap(void)
{
	long n = 0;

	while (waitpid(-1, NULL, WNOHANG) > 0)
		n++;
	return n;
}

/* The proxy's loop: a process per connection, at most max_conns at once
 * (one over the cap is closed at once). Never returns. */
static void proxy_loop(int ls, const struct zone_run *r, uint64_t *used)
{
	struct sigaction sa = { .sa_handler = on_child };
	long active = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL); /* no SA_RESTART: accept wakes */
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		pid_t pid;
		eg_child_ended = 0;
		active -= reap();
		if (c < 0)
			continue;
		if (active >= r->egress.max_conns ||
		    __atomic_load_n(used, __ATOMIC_SEQ_CST) >=
			    r->egress.max_bytes) {
			fprintf(stderr,
				"zonectl: zone %s: egress connection refused "
				"(%ld open, cap %ld; or the byte cap spent)\n",
				r->name, active, r->egress.max_conns);
			close(c);
			continue;
		}
		pid = fork();
		if (pid == 0) {
			close(ls);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			serve_conn(c, r, used);
		}
		if (pid > 0)
			active++;
		close(c);
	}
}

/* Makes dir for uid (0700) and binds a listening socket at dir/sock,
 * owned by uid. The socket, or -1 with err. */
static int bind_sock(const char *dir, uid_t uid, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = -1;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir) >=
	    (int)sizeof(sa.sun_path)) {
		snprintf(err, errlen, "egress: socket path too long: %s", dir);
		return -1;
	}
	if (mkdir(dir, 0700) < 0 || chown(dir, uid, uid) < 0)
		goto fail;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chown(sa.sun_path, uid, uid) < 0 || chmod(sa.sun_path, 0600) < 0 ||
	    listen(s, 64) < 0)
		goto fail;
	return s;
fail:
	snprintf(err, errlen, "egress: cannot make %s: %s", sa.sun_path,
		 strerror(errno));
	if (s >= 0)
		close(s);
	return -1;
}

/* In the proxy (a fork, no exec): keeps only its listening socket ls and
 * stderr. Everything else zonectl had open stays behind, above all the
 * zone's status pipe, whose writer the proxy must not hold: zonectl
 * waits for its end of file when the zone never starts. */
static void drop_fds(int ls)
{
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
	}
	if (ls > 3)
		close_range(3, (unsigned)ls - 1, 0);
	close_range((unsigned)ls + 1, ~0u, 0);
}

pid_t zone_egress_start(const struct zone_run *r, const char *dir, uid_t uid,
			char *err, size_t errlen)
{
	uint64_t *used;
	int ls = bind_sock(dir, uid, err, errlen);
	pid_t pid, parent;

	if (ls < 0)
		return -1;
	used = mmap(NULL, sizeof(*used), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (used == MAP_FAILED) {
		snprintf(err, errlen, "egress: mmap: %s", strerror(errno));
		close(ls);
		return -1;
	}
	*used = 0;
	parent = getpid();
	pid = fork();
	if (pid == 0) {
		/* outside the zone, but with no more than the zone's uid */
		if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
		    setresuid(uid, uid, uid) < 0 ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(126);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0); /* zonectl died before the line above */
		drop_fds(ls);
		proxy_loop(ls, r, used);
	}
	if (pid < 0)
		snprintf(err, errlen, "egress: fork: %s", strerror(errno));
	munmap(used, sizeof(*used));
	close(ls);
	return pid;
}
