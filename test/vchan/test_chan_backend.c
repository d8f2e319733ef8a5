/* Channel backend tests: the same semantic cases run against every
 * backend that can run here (sim, unix), then what only sim and xen have:
 * the waiting server, reconnects, one client at a time, a killed peer,
 * and the xen backend's error paths without a hypervisor. */
#include "zgtest.h"
#include "chantest.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

struct pair {
	chan *s, *c;
};

/* Waits until fd is ready for events, up to ms. */
static int ready(chan *c, int want_write, int ms)
{
	struct pollfd p = { chan_fd(c), chan_poll_events(c, want_write), 0 };

	return poll(&p, 1, ms) == 1;
}

static int sim_connect(struct pair *p, const char *addr)
{
	struct chan_opts o = { 4096, 0 };
	char err[256];
	long end = chantest_ms() + 2000;

	p->c = chan_open(addr, CHAN_CLIENT, &o, err, sizeof(err));
	if (!p->c) {
		fprintf(stderr, "client: %s\n", err);
		return -1;
	}
	while (chantest_ms() < end && chan_state(p->c) == CHAN_WAITING) {
		chan_handle_events(p->s);
		ready(p->c, 0, 10);
		chan_handle_events(p->c);
	}
	return chan_state(p->c) == CHAN_OPEN ? 0 : -1;
}

/* A sim pair with 4 KiB rings at sim:7:PATH. */
static int sim_pair(struct pair *p, const char *path)
{
	struct chan_opts o = { 4096, 0 };
	char addr[64], err[256];

	snprintf(addr, sizeof(addr), "sim:7:%s", path);
	p->s = chan_open(addr, CHAN_SERVER, &o, err, sizeof(err));
	if (!p->s) {
		fprintf(stderr, "server: %s\n", err);
		return -1;
	}
	return sim_connect(p, addr);
}

static int unix_pair(struct pair *p, const char *path)
{
	int sv[2];

	(void)path;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	p->s = chan_from_socket(sv[0], CHAN_SERVER, NULL, 0);
	p->c = chan_from_socket(sv[1], CHAN_CLIENT, NULL, 0);
	return p->s && p->c ? 0 : -1;
}

static void pair_close(struct pair *p)
{
	chan_close(p->c);
	chan_close(p->s);
	p->c = p->s = NULL;
}

typedef int (*pair_fn)(struct pair *, const char *);

/* ---- shared semantics ---------------------------------------------- */

static void case_roundtrip(pair_fn mk)
{
	struct pair p;
	char buf[64];

	CHECK_EQ_INT(mk(&p, "rt"), 0);
	CHECK_EQ_INT(chan_state(p.s), CHAN_OPEN);
	CHECK_EQ_INT(chan_write(p.c, "ping", 4), 4);
	CHECK(ready(p.s, 0, 1000));
	chan_handle_events(p.s);
	CHECK_EQ_INT(chan_data_ready(p.s), 4);
	CHECK_EQ_INT(chan_read(p.s, buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "ping", 4) == 0);
	CHECK_EQ_INT(chan_read(p.s, buf, sizeof(buf)), 0);
	CHECK_EQ_INT(chan_write(p.s, "pong!", 5), 5);
	CHECK(ready(p.c, 0, 1000));
	chan_handle_events(p.c);
	CHECK_EQ_INT(chan_read(p.c, buf, 2), 2); /* short reads keep order */
	CHECK_EQ_INT(chan_read(p.c, buf + 2, sizeof(buf)), 3);
	CHECK(memcmp(buf, "pong!", 5) == 0);
	pair_close(&p);
}

/* Fill the writer until it takes no more; the reader frees space and
 * the writer is told so through its readiness fd. */
static void case_partial_writes(pair_fn mk)
{
	struct pair p;
	static char big[1 << 20], buf[1 << 16];
	ssize_t w, total = 0, r;

	CHECK_EQ_INT(mk(&p, "pw"), 0);
	memset(big, 'x', sizeof(big));
	while ((w = chan_write(p.c, big, sizeof(big))) > 0)
		total += w;
	CHECK_EQ_INT(w, 0);
	CHECK(total > 0 && total < (ssize_t)sizeof(big));
	CHECK_EQ_INT(chan_buffer_space(p.c), 0);
	chan_handle_events(p.c);
	CHECK(ready(p.s, 0, 1000));
	chan_handle_events(p.s);
	r = chan_read(p.s, buf, sizeof(buf));
	CHECK(r > 0);
	while (chan_read(p.s, buf, sizeof(buf)) > 0)
		;
	CHECK(ready(p.c, 1, 1000)); /* woken for space */
	chan_handle_events(p.c);
	CHECK(chan_write(p.c, big, sizeof(big)) > 0);
	pair_close(&p);
}

/* 1 MiB of patterned bytes through in odd-sized pieces, both sides
 * driven by poll alone. */
static void case_stream_integrity(pair_fn mk)
{
	struct pair p;
	static unsigned char out[1 << 20], in[1 << 20];
	size_t wo = 0, ri = 0, step = 1;
	long end = chantest_ms() + 10000;

	CHECK_EQ_INT(mk(&p, "si"), 0);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (unsigned char)(i * 131 + (i >> 9));
	while (ri < sizeof(in) && chantest_ms() < end) {
		struct pollfd pf[2] = {
			{ chan_fd(p.c), chan_poll_events(p.c, wo < sizeof(out)),
			  0 },
			{ chan_fd(p.s), POLLIN, 0 },
		};
		poll(pf, 2, 100);
		chan_handle_events(p.c);
		chan_handle_events(p.s);
		while (wo < sizeof(out)) {
			size_t n = sizeof(out) - wo < step ? sizeof(out) - wo
							   : step;
			ssize_t w = chan_write(p.c, out + wo, n);
			if (w <= 0)
				break;
			wo += (size_t)w;
			step = step * 7 % 9973 + 1;
		}
		for (;;) {
			size_t n = sizeof(in) - ri < step ? sizeof(in) - ri
							  : step;
			ssize_t r = n ? chan_read(p.s, in + ri, n) : 0;
			if (r <= 0)
				break;
			ri += (size_t)r;
		}
	}
	CHECK_EQ_INT(ri, sizeof(in));
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	pair_close(&p);
}

/* What was written before a close is still readable; then -1. */
static void case_peer_close(pair_fn mk)
{
	struct pair p;
	char buf[16];
	long end = chantest_ms() + 2000;

	CHECK_EQ_INT(mk(&p, "pc"), 0);
	CHECK_EQ_INT(chan_write(p.s, "last", 4), 4);
	chan_close(p.s);
	p.s = NULL;
	while (chan_handle_events(p.c) != CHAN_CLOSED && chantest_ms() < end)
		ready(p.c, 0, 10);
	CHECK_EQ_INT(chan_state(p.c), CHAN_CLOSED);
	CHECK_EQ_INT(chan_read(p.c, buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "last", 4) == 0);
	CHECK_EQ_INT(chan_read(p.c, buf, sizeof(buf)), -1);
	CHECK_EQ_INT(chan_write(p.c, "x", 1), -1);
	pair_close(&p);
}

static void run_shared(const char *name, pair_fn mk)
{
	fprintf(stderr, "-- backend %s\n", name);
	RUN_CASE(case_roundtrip, mk);
	RUN_CASE(case_partial_writes, mk);
	RUN_CASE(case_stream_integrity, mk);
	RUN_CASE(case_peer_close, mk);
}

/* ---- sim and xen specifics ------------------------------------------- */

static void test_addr_parse(void)
{
	struct chan_addr a;
	char err[200];

	CHECK_EQ_INT(chan_addr_parse("sim:7:mcp", &a, err, sizeof(err)), 0);
	CHECK_STR(a.backend, "sim");
	CHECK_EQ_INT(a.domid, 7);
	CHECK_STR(a.path, "mcp");
	CHECK_EQ_INT(chan_addr_parse("xen:0:/local/domain/0/x", &a, err,
				     sizeof(err)),
		     0);
	CHECK_EQ_INT(chan_addr_parse("sim:12:zones/a-b/c_d.1", &a, err,
				     sizeof(err)),
		     0);
	CHECK_EQ_INT(chan_addr_parse("sim:7", &a, err, sizeof(err)), -1);
	CHECK_EQ_INT(chan_addr_parse("tcp:7:x", &a, err, sizeof(err)), -1);
	CHECK_EQ_INT(chan_addr_parse("sim:-1:x", &a, err, sizeof(err)), -1);
	CHECK_EQ_INT(chan_addr_parse("sim:+1:x", &a, err, sizeof(err)), -1);
	CHECK_EQ_INT(chan_addr_parse("sim:32752:x", &a, err, sizeof(err)), -1);
	CHECK_EQ_INT(chan_addr_parse("sim:1x:x", &a, err, sizeof(err)), -1);
	CHECK_EQ_INT(chan_addr_parse("sim:7:", &a, err, sizeof(err)), -1);
	CHECK_EQ_INT(chan_addr_parse("sim:7:../x", &a, err, sizeof(err)), -1);
	CHECK_EQ_INT(chan_addr_parse("sim:7:a//b", &a, err, sizeof(err)), -1);
	CHECK_EQ_INT(chan_addr_parse("sim:7:/abs", &a, err, sizeof(err)), -1);
	CHECK_EQ_INT(chan_addr_parse("sim:7:a b", &a, err, sizeof(err)), -1);
	CHECK_EQ_INT(chan_addr_parse("sim:7:a:b", &a, err, sizeof(err)), -1);
	CHECK_EQ_INT(chan_addr_parse(NULL, &a, err, sizeof(err)), -1);
	CHECK(strstr(err, "BACKEND:DOMID:PATH") != NULL);
}

static void test_open_errors(void)
{
	struct chan_opts o = { 3000, 0 };
	char err[256] = "";

	CHECK(chan_open("sim:7:x", CHAN_SERVER, &o, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "power of two") != NULL);
	o.ring_size = 0;
	CHECK(chan_open("sim:7:nobody", CHAN_CLIENT, &o, err, sizeof(err)) ==
	      NULL);
	CHECK(strstr(err, "no server") != NULL);
}

static void test_xen_without_hypervisor(void)
{
	char err[256] = "";
	chan *c;

	c = chan_open("xen:1:zg-test", CHAN_SERVER, NULL, err, sizeof(err));
	CHECK(c == NULL);
	CHECK(err[0] != '\0');
	fprintf(stderr, "   xen server: %s\n", err);
	err[0] = '\0';
	c = chan_open("xen:0:zg-test", CHAN_CLIENT, NULL, err, sizeof(err));
	CHECK(c == NULL);
	CHECK(err[0] != '\0');
	fprintf(stderr, "   xen client: %s\n", err);
	c = chan_open("xen:0:/local/domain/0/data/zg", CHAN_CLIENT, NULL, err,
		      sizeof(err));
	CHECK(c == NULL);
}

/* A server accepts writes before any client; the client reads them. */
static void test_sim_waiting_server(void)
{
	struct pair p = { 0 };
	char buf[16];

	p.s = chan_open("sim:7:wait", CHAN_SERVER, NULL, NULL, 0);
	CHECK(p.s != NULL);
	CHECK_EQ_INT(chan_state(p.s), CHAN_WAITING);
	CHECK_EQ_INT(chan_generation(p.s), 0);
	CHECK_EQ_INT(chan_write(p.s, "early", 5), 5);
	CHECK_EQ_INT(sim_connect(&p, "sim:7:wait"), 0);
	CHECK_EQ_INT(chan_state(p.s), CHAN_OPEN);
	CHECK_EQ_INT(chan_generation(p.s), 1);
	CHECK_EQ_INT(chan_read(p.c, buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "early", 5) == 0);
	pair_close(&p);
}

/* The server persists: a client leaves, the server resets and a new
 * client finds fresh rings; a second client meanwhile is turned away. */
static void test_sim_reconnect_and_busy(void)
{
	struct pair p = { 0 }, q = { 0 };
	char buf[16];
	long end;

	CHECK_EQ_INT(sim_pair(&p, "re"), 0);
	q.s = p.s;
	q.c = chan_open("sim:7:re", CHAN_CLIENT, NULL, NULL, 0);
	CHECK(q.c != NULL);
	end = chantest_ms() + 2000;
	while (q.c && chan_state(q.c) == CHAN_WAITING && chantest_ms() < end) {
		chan_handle_events(p.s);
		ready(q.c, 0, 10);
		chan_handle_events(q.c);
	}
	CHECK(q.c && chan_state(q.c) == CHAN_CLOSED); /* busy */
	chan_close(q.c);
	CHECK_EQ_INT(chan_write(p.c, "old", 3), 3);
	chan_close(p.c);
	p.c = NULL;
	end = chantest_ms() + 2000;
	while (chan_handle_events(p.s) != CHAN_CLOSED && chantest_ms() < end)
		ready(p.s, 0, 10);
	CHECK_EQ_INT(chan_state(p.s), CHAN_CLOSED);
	CHECK_EQ_INT(chan_read(p.s, buf, sizeof(buf)), 3);
	CHECK_EQ_INT(chan_read(p.s, buf, sizeof(buf)), -1);
	CHECK_EQ_INT(chan_reset(p.s), 0);
	CHECK_EQ_INT(chan_state(p.s), CHAN_WAITING);
	CHECK_EQ_INT(sim_connect(&p, "sim:7:re"), 0);
	CHECK_EQ_INT(chan_generation(p.s), 2);
	CHECK_EQ_INT(chan_data_ready(p.s), 0); /* fresh rings */
	CHECK_EQ_INT(chan_write(p.c, "new", 3), 3);
	CHECK(ready(p.s, 0, 1000));
	chan_handle_events(p.s);
	CHECK_EQ_INT(chan_read(p.s, buf, sizeof(buf)), 3);
	CHECK_EQ_INT(chan_reset(p.c), -1); /* clients reopen instead */
	pair_close(&p);
}

/* A client process killed with SIGKILL mid-write is seen as closed. */
static void test_sim_peer_killed(void)
{
	chan *s = chan_open("sim:7:kill", CHAN_SERVER, NULL, NULL, 0);
	pid_t pid;
	long end;
	char buf[64];
	ssize_t got = 0, r;

	CHECK(s != NULL);
	pid = fork();
	if (pid == 0) {
		struct chan_opts o = { 0, 3000 };
		chan *c = chan_open("sim:7:kill", CHAN_CLIENT, &o, NULL, 0);
		if (c && chan_write(c, "partial-fr", 10) == 10)
			pause();
		_exit(1);
	}
	end = chantest_ms() + 5000;
	while (got < 10 && chantest_ms() < end) {
		ready(s, 0, 10);
		chan_handle_events(s);
		r = chan_read(s, buf, sizeof(buf));
		got += r > 0 ? r : 0;
	}
	CHECK_EQ_INT(got, 10);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	end = chantest_ms() + 2000;
	while (chan_handle_events(s) != CHAN_CLOSED && chantest_ms() < end)
		ready(s, 0, 10);
	CHECK_EQ_INT(chan_state(s), CHAN_CLOSED);
	CHECK_EQ_INT(chan_read(s, buf, sizeof(buf)), -1);
	chan_close(s);
}

/* Producer and consumer in two processes, truly concurrent, through a
 * 1 KiB ring: 32 MiB in random pieces, verified byte for byte. Both sides
 * sleep in poll only; a poll that times out while the other side has
 * work pending is a lost wake-up. */
static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 2654435761u >> 13);
}

static int concurrent_writer(const char *addr, size_t total)
{
	struct chan_opts o = { 0, 5000 };
	chan *c = chan_open(addr, CHAN_CLIENT, &o, NULL, 0);
	static unsigned char buf[8192];
	size_t done = 0, n;
	unsigned seed = 7;
	ssize_t w;

	if (!c)
		return 2;
	while (done < total) {
		n = 1 + (seed = seed * 1103515245 + 12345) % sizeof(buf);
		n = n > total - done ? total - done : n;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(done + i);
		for (size_t off = 0; off < n;) {
			w = chan_write(c, buf + off, n - off);
			if (w < 0)
				return 4;
			off += (size_t)w;
			if (off < n && !ready(c, 0, 2000)) {
				chan_handle_events(c);
				if (chan_buffer_space(c) > 0)
					return 3; /* lost wake-up */
			}
			chan_handle_events(c);
		}
		done += n;
	}
	chan_close(c);
	return 0;
}

static void test_sim_concurrent(void)
{
	struct chan_opts o = { 1024, 0 };
	const size_t total = 32u << 20;
	chan *s = chan_open("sim:5:conc", CHAN_SERVER, &o, NULL, 0);
	static unsigned char buf[4096];
	size_t got = 0, bad = 0, lost = 0;
	int status = -1;
	pid_t pid;
	ssize_t r;

	CHECK(s != NULL);
	if (!s)
		return;
	pid = fork();
	if (pid == 0)
		_exit(concurrent_writer("sim:5:conc", total));
	while (got < total) {
		chan_handle_events(s);
		r = chan_read(s, buf, sizeof(buf));
		if (r < 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			bad += buf[i] != pattern(got + (size_t)i);
		got += (size_t)r;
		if (r == 0 && !ready(s, 0, 2000)) {
			chan_handle_events(s);
			lost += chan_data_ready(s) > 0;
			if (chan_state(s) == CHAN_CLOSED)
				break;
		}
	}
	waitpid(pid, &status, 0);
	CHECK_EQ_INT(got, total);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(lost, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	chan_close(s);
}

/* A rendezvous directory others can write to is refused. */
static void test_sim_unsafe_dir(void)
{
	char path[128], err[256] = "";
	chan *c;

	snprintf(path, sizeof(path), "%s/21", chantest_dir);
	CHECK_EQ_INT(mkdir(path, 0700), 0);
	CHECK_EQ_INT(chmod(path, 0777), 0);
	c = chan_open("sim:21:x", CHAN_SERVER, NULL, err, sizeof(err));
	CHECK(c == NULL);
	CHECK(strstr(err, "unsafe rendezvous directory") != NULL);
	CHECK_EQ_INT(chmod(path, 0700), 0);
	c = chan_open("sim:21:x", CHAN_SERVER, NULL, err, sizeof(err));
	CHECK(c != NULL);
	chan_close(c);
}

/* A rendezvous directory owned by another (non-root) user is refused by
 * both sides: its owner could swap the socket and pose as a tool zone
 * to a root gateway. Proves the owner check on the client side too (a
 * client that only checked the mode would connect here). Needs root to
 * chown; skipped otherwise. */
static void test_sim_foreign_owner(void)
{
	char path[128], err[256] = "";
	struct chan_opts o = { 0, 0 };
	chan *s, *c;

	if (geteuid() != 0) {
		fprintf(stderr, "   skipped: needs root to chown\n");
		return;
	}
	s = chan_open("sim:22:own", CHAN_SERVER, NULL, err, sizeof(err));
	CHECK(s != NULL);
	snprintf(path, sizeof(path), "%s/22", chantest_dir);
	CHECK_EQ_INT(chown(path, 65534, 65534), 0);
	c = chan_open("sim:22:own", CHAN_CLIENT, &o, err, sizeof(err));
	CHECK(c == NULL);
	CHECK(strstr(err, "unsafe rendezvous directory") != NULL);
	chan_close(c);
	chan_close(s);
	s = chan_open("sim:22:own2", CHAN_SERVER, NULL, err, sizeof(err));
	CHECK(s == NULL);
	CHECK(strstr(err, "owned by this user or root") != NULL);
	chan_close(s);
	/* the rendezvous root itself counts too */
	CHECK_EQ_INT(chown(path, 0, 0), 0);
	s = chan_open("sim:22:own", CHAN_SERVER, NULL, err, sizeof(err));
	CHECK(s != NULL);
	CHECK_EQ_INT(chown(chantest_dir, 65534, 65534), 0);
	c = chan_open("sim:22:own", CHAN_CLIENT, &o, err, sizeof(err));
	CHECK(c == NULL);
	CHECK(strstr(err, "unsafe rendezvous directory") != NULL);
	chan_close(c);
	CHECK_EQ_INT(chown(chantest_dir, 0, 0), 0);
	chan_close(s);
}

/* A stale socket file is replaced; a live server's is not. */
static void test_sim_second_server(void)
{
	char err[256] = "";
	chan *a = chan_open("sim:3:dup", CHAN_SERVER, NULL, err, sizeof(err));
	chan *b = chan_open("sim:3:dup", CHAN_SERVER, NULL, err, sizeof(err));

	CHECK(a != NULL);
	CHECK(b == NULL);
	CHECK(strstr(err, "already listening") != NULL);
	chan_close(a);
	a = chan_open("sim:3:dup", CHAN_SERVER, NULL, err, sizeof(err));
	CHECK(a != NULL);
	chan_close(a);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	chantest_setup();
	run_shared("sim", sim_pair);
	run_shared("unix", unix_pair);
	RUN(test_addr_parse);
	RUN(test_open_errors);
	RUN(test_xen_without_hypervisor);
	RUN(test_sim_waiting_server);
	RUN(test_sim_reconnect_and_busy);
	RUN(test_sim_peer_killed);
	RUN(test_sim_second_server);
	RUN(test_sim_unsafe_dir);
	RUN(test_sim_foreign_owner);
	RUN(test_sim_concurrent);
	chantest_cleanup();
	return ZGT_DONE();
}
