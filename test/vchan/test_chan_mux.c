/* Multiplexer tests over the sim backend: handshake, streams, frames far
 * larger than the ring, fairness with one heavy stream, a slow reader,
 * and fault injection from a raw peer (garbage, wrong version, oversize
 * length, frames before HELLO, unknown or reused stream ids, writes split
 * at every byte boundary, a peer killed mid-frame, restarts, PING), a
 * peer that floods PING and refused OPENs and never reads (the answers
 * stay under their cap), and the per-call input budget. */
#include "zgtest.h"
#include "chantest.h"

#include <malloc.h>
#include <signal.h>
#include <sys/wait.h>

struct side {
	chan_mux *m;
	int up, downs, closes, resets, opens, echo;
	char why[200];
	int nmsg;
	uint32_t sid[4096];
	size_t len[4096];
	unsigned sum[4096];
};

static unsigned checksum(const uint8_t *p, size_t n)
{
	unsigned s = 0;

	for (size_t i = 0; i < n; i++)
		s = s * 31 + p[i];
	return s;
}

static void cb_up(void *ud, chan_mux *m)
{
	((struct side *)ud)->up = 1;
}

static int cb_open(void *ud, chan_mux *m, uint32_t sid)
{
	((struct side *)ud)->opens++;
	return 0;
}

static void cb_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *p,
		    size_t n)
{
	struct side *s = ud;

	if (s->nmsg < 4096) {
		s->sid[s->nmsg] = sid;
		s->len[s->nmsg] = n;
		s->sum[s->nmsg] = checksum(p, n);
	}
	s->nmsg++;
	if (s->echo)
		chan_mux_send(m, sid, p, n);
}

static void cb_close(void *ud, chan_mux *m, uint32_t sid, int reset)
{
	struct side *s = ud;

	if (reset) {
		s->resets++;
		return;
	}
	s->closes++;
	if (s->echo)
		chan_mux_close_stream(m, sid);
}

static void cb_down(void *ud, chan_mux *m, const char *why)
{
	struct side *s = ud;

	s->downs++;
	s->up = 0;
	snprintf(s->why, sizeof(s->why), "%s", why);
}

static void quiet(void *ud, const char *msg)
{
}

static const struct chan_mux_ops ops = { cb_up, cb_open, cb_data, cb_close,
					 cb_down };

static chan_mux *mk(struct side *s, const char *addr, enum chan_role role,
		    struct chan_mux_opts *o)
{
	struct chan_mux_opts d = { 0 };
	char err[256];
	chan *c = chan_open(addr, role, NULL, err, sizeof(err));

	if (!c) {
		fprintf(stderr, "open %s: %s\n", addr, err);
		return NULL;
	}
	if (!o)
		o = &d;
	o->log = quiet;
	s->m = chan_mux_new(c, o, &ops, s, err, sizeof(err));
	return s->m;
}

typedef int (*cond_fn)(void *);

/* Drives up to four muxes and raw channels until cond holds. */
static int pump(chan_mux **mv, int n, cond_fn cond, void *arg, int ms)
{
	long end = chantest_ms() + ms;
	struct pollfd p[8];

	while (!(cond && cond(arg)) && chantest_ms() < end) {
		int k = 0;
		for (int i = 0; i < n; i++) {
			if (!mv[i])
				continue;
			p[k].fd = chan_mux_fd(mv[i]);
			p[k].events = chan_mux_events(mv[i]);
			k++;
		}
		poll(p, (nfds_t)k, 5);
		for (int i = 0; i < n; i++)
			if (mv[i])
				chan_mux_process(mv[i]);
	}
	return cond ? cond(arg) : 1;
}

static int both_up(void *a)
{
	struct side **s = a;

	return s[0]->up && s[1]->up;
}

static int got_n(void *a)
{
	struct side *s = ((void **)a)[0];

	return s->nmsg >= (int)(long)((void **)a)[1];
}

static int has_down(void *a)
{
	return ((struct side *)a)->downs > 0;
}

/* A connected server/client pair of muxes at addr. */
static int mkpair(struct side *S, struct side *C, const char *addr,
		  struct chan_mux_opts *so, struct chan_mux_opts *co)
{
	struct side *both[2] = { S, C };
	chan_mux *mv[2];

	memset(S, 0, sizeof(*S));
	memset(C, 0, sizeof(*C));
	S->echo = 1;
	if (!mk(S, addr, CHAN_SERVER, so) || !mk(C, addr, CHAN_CLIENT, co))
		return -1;
	mv[0] = S->m;
	mv[1] = C->m;
	return pump(mv, 2, both_up, both, 3000) ? 0 : -1;
}

static void test_streams(void)
{
	static struct side S, C;
	chan_mux *mv[2];
	uint32_t sid[3];
	void *arg[2] = { &C, (void *)3L };

	CHECK_EQ_INT(mkpair(&S, &C, "sim:7:streams", NULL, NULL), 0);
	mv[0] = S.m;
	mv[1] = C.m;
	for (int i = 0; i < 3; i++) {
		sid[i] = chan_mux_open_stream(C.m);
		CHECK_EQ_INT(sid[i], 1 + 2 * i);
		CHECK_EQ_INT(chan_mux_send(C.m, sid[i], "{\"id\":1}", 8), 0);
	}
	CHECK(pump(mv, 2, got_n, arg, 3000));
	CHECK_EQ_INT(S.opens, 3);
	CHECK_EQ_INT(C.sid[0], 1);
	CHECK_EQ_INT(C.sid[2], 5);
	CHECK_EQ_INT(C.len[1], 8);
	CHECK_EQ_INT(chan_mux_send(C.m, 99, "x", 1), -1);
	CHECK_EQ_INT(chan_mux_send(C.m, sid[0], "", 0), -1);
	CHECK_EQ_INT(chan_mux_close_stream(C.m, sid[0]), 0);
	CHECK_EQ_INT(chan_mux_send(C.m, sid[0], "x", 1), -1);
	pump(mv, 2, NULL, NULL, 100);
	CHECK_EQ_INT(S.closes, 1);
	CHECK_EQ_INT(C.closes, 1);
	CHECK_EQ_INT(chan_mux_streams(C.m), 2);
	CHECK_EQ_INT(chan_mux_streams(S.m), 2);
	CHECK_EQ_INT(chan_mux_reset_stream(C.m, sid[1], CHAN_E_REFUSED, "no"),
		     0);
	pump(mv, 2, NULL, NULL, 100);
	CHECK_EQ_INT(S.resets, 1);
	CHECK_EQ_INT(chan_mux_streams(S.m), 1);
	CHECK_EQ_INT(S.downs + C.downs, 0);
	chan_mux_free(C.m);
	chan_mux_free(S.m);
}

/* 256 KiB and 3 MiB messages through the 128 KiB default ring, echoed
 * back. */
static void test_large_frames(void)
{
	static struct side S, C;
	static uint8_t big[3 << 20];
	chan_mux *mv[2];
	void *arg[2] = { &C, (void *)2L };
	uint32_t sid;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + (i >> 13));
	CHECK_EQ_INT(mkpair(&S, &C, "sim:7:large", NULL, NULL), 0);
	mv[0] = S.m;
	mv[1] = C.m;
	sid = chan_mux_open_stream(C.m);
	CHECK_EQ_INT(chan_mux_send(C.m, sid, big, 256 << 10), 0);
	CHECK_EQ_INT(chan_mux_send(C.m, sid, big, sizeof(big)), 0);
	CHECK(pump(mv, 2, got_n, arg, 10000));
	CHECK_EQ_INT(C.len[0], 256 << 10);
	CHECK_EQ_INT(C.sum[0], checksum(big, 256 << 10));
	CHECK_EQ_INT(C.len[1], sizeof(big));
	CHECK_EQ_INT(C.sum[1], checksum(big, sizeof(big)));
	CHECK_EQ_INT(chan_mux_send(C.m, sid, big, (4u << 20) + 1), -1);
	chan_mux_free(C.m);
	chan_mux_free(S.m);
}

/* One stream with megabytes queued must not hold up 19 others; its cap
 * fills while the others still take messages. */
static void test_fairness(void)
{
	static struct side S, C;
	static uint8_t mib[1 << 20];
	chan_mux *mv[2];
	void *arg[2] = { &S, (void *)25L };
	uint32_t heavy, sids[19];
	int third = -1, last_small = -1, heavy_seen = 0, full = 0;

	CHECK_EQ_INT(mkpair(&S, &C, "sim:7:fair", NULL, NULL), 0);
	S.echo = 0;
	mv[0] = S.m;
	mv[1] = C.m;
	heavy = chan_mux_open_stream(C.m);
	for (int i = 0; i < 19; i++)
		sids[i] = chan_mux_open_stream(C.m);
	for (int i = 0; i < 6; i++)
		CHECK_EQ_INT(chan_mux_send(C.m, heavy, mib, sizeof(mib)), 0);
	for (int i = 0; i < 10 && !full; i++)
		full = chan_mux_send(C.m, heavy, mib, sizeof(mib)) ==
		       CHAN_MUX_EFULL;
	CHECK(full);
	for (int i = 0; i < 19; i++)
		CHECK_EQ_INT(chan_mux_send(C.m, sids[i], "small", 5), 0);
	arg[1] = (void *)(long)(19 + 6 + 2);
	pump(mv, 2, got_n, arg, 15000);
	for (int i = 0; i < S.nmsg && i < 4096; i++) {
		if (S.sid[i] == heavy && ++heavy_seen == 3)
			third = i;
		if (S.sid[i] != heavy)
			last_small = i;
	}
	CHECK(last_small >= 0 && third > last_small);
	CHECK_EQ_INT(S.nmsg, 19 + 6 + 2);
	chan_mux_free(C.m);
	chan_mux_free(S.m);
}

/* The reader sleeps while 200 messages pile up; all arrive, in order. */
static void test_slow_reader(void)
{
	static struct side S, C;
	static uint8_t msg[4096];
	chan_mux *mv[2];
	void *arg[2] = { &S, (void *)200L };
	uint32_t sid;
	int ordered = 1;

	CHECK_EQ_INT(mkpair(&S, &C, "sim:7:slow", NULL, NULL), 0);
	S.echo = 0;
	mv[0] = S.m;
	mv[1] = C.m;
	sid = chan_mux_open_stream(C.m);
	for (int i = 0; i < 200; i++) {
		memset(msg, i, sizeof(msg));
		CHECK_EQ_INT(chan_mux_send(C.m, sid, msg, sizeof(msg)), 0);
		chan_mux_process(C.m);
	}
	usleep(300000);
	CHECK(pump(mv, 2, got_n, arg, 5000));
	for (int i = 0; i < 200; i++) {
		memset(msg, i, sizeof(msg));
		ordered &= S.sum[i] == checksum(msg, sizeof(msg));
	}
	CHECK(ordered);
	chan_mux_free(C.m);
	chan_mux_free(S.m);
}

/* ---- raw peers ------------------------------------------------------- */

static size_t put(uint8_t *b, unsigned type, uint32_t sid, const void *p,
		  size_t n)
{
	chan_frame_hdr_encode(b, type, sid, (uint32_t)n);
	if (n)
		memcpy(b + CHAN_FRAME_HDR, p, n);
	return CHAN_FRAME_HDR + n;
}

static size_t put_hello(uint8_t *b, unsigned vmax, unsigned vmin)
{
	uint8_t h[8] = { (uint8_t)vmax, 0, (uint8_t)vmin, 0, 0, 0, 0x40, 0 };

	return put(b, CHAN_F_HELLO, 0, h, sizeof(h));
}

/* A client channel without a mux, accepted by server mux s. */
static chan *raw_connect(const char *addr, chan_mux *s)
{
	chan *c = chan_open(addr, CHAN_CLIENT, NULL, NULL, 0);
	long end = chantest_ms() + 2000;

	while (c && chan_state(c) == CHAN_WAITING && chantest_ms() < end) {
		chan_mux_process(s);
		usleep(1000);
		chan_handle_events(c);
	}
	return c;
}

/* Writes all of b, driving the server meanwhile. */
static void raw_write(chan *c, chan_mux *s, const uint8_t *b, size_t n)
{
	long end = chantest_ms() + 3000;
	ssize_t w;

	while (n > 0 && chantest_ms() < end) {
		chan_handle_events(c);
		w = chan_write(c, b, n);
		if (w < 0)
			return;
		b += w;
		n -= (size_t)w;
		chan_mux_process(s);
	}
}

/* Reads the raw channel; returns the type of the last frame header seen
 * at a frame boundary (ERROR is 7). */
static int raw_last_type(chan *c)
{
	static uint8_t buf[1 << 16];
	size_t n = 0, at = 0;
	ssize_t r;
	int last = 0;

	chan_handle_events(c);
	while ((r = chan_read(c, buf + n, sizeof(buf) - n)) > 0)
		n += (size_t)r;
	while (at + CHAN_FRAME_HDR <= n) {
		uint32_t len = (uint32_t)buf[at + 8] | buf[at + 9] << 8;
		last = buf[at];
		at += CHAN_FRAME_HDR + len;
	}
	return last;
}

/* An echo exchange on a fresh client proves server s still works. */
static int server_alive(struct side *S, const char *addr)
{
	static struct side C;
	chan_mux *mv[2];
	void *arg[2] = { &C, (void *)1L };
	struct side *both[2] = { S, &C };
	uint32_t sid;
	int ok;

	memset(&C, 0, sizeof(C));
	S->echo = 1;
	if (!mk(&C, addr, CHAN_CLIENT, NULL))
		return 0;
	mv[0] = S->m;
	mv[1] = C.m;
	pump(mv, 2, both_up, both, 3000);
	sid = chan_mux_open_stream(C.m);
	chan_mux_send(C.m, sid, "{}", 2);
	ok = pump(mv, 2, got_n, arg, 3000) && C.len[0] == 2;
	chan_mux_free(C.m);
	pump(mv, 1, has_down, S, 2000);
	S->downs = 0;
	return ok;
}

struct fault {
	const char *name, *expect;
	uint8_t b[128];
	size_t n;
};

static void build_faults(struct fault *f)
{
	static const char junk[] = "this is not a frame header at all!!";
	uint8_t big[CHAN_FRAME_HDR];
	size_t n;

	f[0] = (struct fault){ .name = "garbage after HELLO",
			       .expect = "unknown frame type" };
	n = put_hello(f[0].b, 1, 1);
	memcpy(f[0].b + n, junk, sizeof(junk));
	f[0].n = n + sizeof(junk);
	f[1] = (struct fault){ .name = "version too old",
			       .expect = "no common protocol version" };
	f[1].n = put_hello(f[1].b, 0, 0);
	f[2] = (struct fault){ .name = "version too new",
			       .expect = "no common protocol version" };
	f[2].n = put_hello(f[2].b, 9, 7);
	f[3] = (struct fault){ .name = "oversize length",
			       .expect = "longer than the maximum" };
	n = put_hello(f[3].b, 1, 1);
	chan_frame_hdr_encode(big, CHAN_F_DATA, 1, 0x7fffffffu);
	memcpy(f[3].b + n, big, sizeof(big));
	f[3].n = n + sizeof(big);
	f[4] = (struct fault){ .name = "data before HELLO",
			       .expect = "before HELLO" };
	f[4].n = put(f[4].b, CHAN_F_DATA, 1, "{}", 2);
	f[5] = (struct fault){ .name = "unknown stream",
			       .expect = "DATA for unknown stream 5" };
	n = put_hello(f[5].b, 1, 1);
	f[5].n = n + put(f[5].b + n, CHAN_F_DATA, 5, "{}", 2);
	f[6] = (struct fault){ .name = "stream id reused",
			       .expect = "id reused" };
	n = put_hello(f[6].b, 1, 1);
	n += put(f[6].b + n, CHAN_F_OPEN, 1, NULL, 0);
	n += put(f[6].b + n, CHAN_F_CLOSE, 1, NULL, 0);
	f[6].n = n + put(f[6].b + n, CHAN_F_OPEN, 1, NULL, 0);
	f[7] = (struct fault){ .name = "wrong parity",
			       .expect = "wrong parity" };
	n = put_hello(f[7].b, 1, 1);
	f[7].n = n + put(f[7].b + n, CHAN_F_OPEN, 2, NULL, 0);
	f[8] = (struct fault){ .name = "second HELLO",
			       .expect = "second HELLO" };
	n = put_hello(f[8].b, 1, 1);
	f[8].n = n + put_hello(f[8].b + n, 1, 1);
	f[9] = (struct fault){ .name = "data after CLOSE",
			       .expect = "after its CLOSE" };
	n = put_hello(f[9].b, 1, 1);
	n += put(f[9].b + n, CHAN_F_OPEN, 1, NULL, 0);
	n += put(f[9].b + n, CHAN_F_CLOSE, 1, NULL, 0);
	f[9].n = n + put(f[9].b + n, CHAN_F_DATA, 1, "{}", 2);
}

/* Each fault resets that channel (with an ERROR frame to the offender)
 * while a second channel in the same loop carries on. */
static void test_faults(void)
{
	static struct side S, S2, C2;
	static struct fault f[10];
	chan_mux *mv[3];
	void *arg[2] = { &C2, NULL };

	memset(&S, 0, sizeof(S));
	S.echo = 1;
	CHECK(mk(&S, "sim:7:victim", CHAN_SERVER, NULL) != NULL);
	CHECK_EQ_INT(mkpair(&S2, &C2, "sim:8:bystander", NULL, NULL), 0);
	uint32_t sid2 = chan_mux_open_stream(C2.m);
	mv[0] = S.m;
	mv[1] = S2.m;
	mv[2] = C2.m;
	build_faults(f);
	for (int i = 0; i < 10; i++) {
		chan *raw = raw_connect("sim:7:victim", S.m);
		int ok;
		CHECK(raw != NULL);
		S.downs = 0;
		S.echo = 0; /* keep half-closed streams half-closed */
		raw_write(raw, S.m, f[i].b, f[i].n);
		ok = pump(mv, 3, has_down, &S, 2000);
		if (!ok || !strstr(S.why, f[i].expect))
			fprintf(stderr, "fault '%s': why '%s'\n", f[i].name,
				S.why);
		CHECK(ok && strstr(S.why, f[i].expect) != NULL);
		CHECK_EQ_INT(raw_last_type(raw), CHAN_F_ERROR);
		chan_close(raw);
		chan_mux_send(C2.m, sid2, "alive", 5);
		arg[1] = (void *)(long)(i + 1);
		CHECK(pump(mv, 3, got_n, arg, 2000));
		CHECK(server_alive(&S, "sim:7:victim"));
	}
	CHECK_EQ_INT(S2.downs + C2.downs, 0);
	chan_mux_free(C2.m);
	chan_mux_free(S2.m);
	chan_mux_free(S.m);
}

/* A valid session written in two pieces split at every byte boundary,
 * then one byte at a time: the server sees exactly the same frames. */
static void test_every_boundary(void)
{
	static struct side S;
	static const char msg[] = "{\"jsonrpc\":\"2.0\",\"id\":1}";
	uint8_t b[256];
	size_t n = put_hello(b, 1, 1);
	int bad = 0;

	n += put(b + n, CHAN_F_OPEN, 1, NULL, 0);
	n += put(b + n, CHAN_F_DATA, 1, msg, sizeof(msg) - 1);
	n += put(b + n, CHAN_F_CLOSE, 1, NULL, 0);
	memset(&S, 0, sizeof(S));
	CHECK(mk(&S, "sim:7:bytes", CHAN_SERVER, NULL) != NULL);
	for (size_t k = 0; k <= n; k++) {
		chan *raw = raw_connect("sim:7:bytes", S.m);
		S.nmsg = S.opens = S.closes = 0;
		S.why[0] = '\0';
		if (k < n) {
			raw_write(raw, S.m, b, k);
			raw_write(raw, S.m, b + k, n - k);
		} else {
			for (size_t i = 0; i < n; i++)
				raw_write(raw, S.m, b + i, 1);
		}
		for (int i = 0; i < 50 && S.closes == 0; i++) {
			usleep(1000);
			chan_mux_process(S.m);
		}
		bad += S.opens != 1 || S.nmsg != 1 || S.closes != 1 ||
		       S.len[0] != sizeof(msg) - 1 || S.why[0] != '\0';
		chan_close(raw);
		pump(&S.m, 1, has_down, &S, 2000);
		bad += strcmp(S.why, "peer closed") != 0;
		S.downs = 0;
	}
	CHECK_EQ_INT(bad, 0);
	chan_mux_free(S.m);
}

/* A client process killed in the middle of a frame; the server resets
 * and the next client (the restarted peer) is served. */
static void test_peer_dies_mid_frame(void)
{
	static struct side S;
	uint8_t b[128];
	size_t n = put_hello(b, 1, 1);
	pid_t pid;

	n += put(b + n, CHAN_F_OPEN, 1, NULL, 0);
	n += put(b + n, CHAN_F_DATA, 1, "{\"half\":\"of a frame\"}", 21);
	memset(&S, 0, sizeof(S));
	CHECK(mk(&S, "sim:7:die", CHAN_SERVER, NULL) != NULL);
	pid = fork();
	if (pid == 0) {
		struct chan_opts o = { 0, 3000 };
		chan *c = chan_open("sim:7:die", CHAN_CLIENT, &o, NULL, 0);
		if (c)
			chan_write(c, b, n - 10);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	CHECK(pump(&S.m, 1, has_down, &S, 5000));
	waitpid(pid, NULL, 0);
	CHECK_STR(S.why, "peer closed mid-frame");
	CHECK_EQ_INT(S.opens, 1);
	CHECK_EQ_INT(S.resets, 1); /* the open stream went with it */
	S.downs = 0;
	CHECK(server_alive(&S, "sim:7:die"));
	chan_mux_free(S.m);
}

/* The server goes away: the client mux reports down and dies; a new
 * server at the same address serves a new client. */
static void test_server_restart(void)
{
	static struct side S, C;
	chan_mux *mv[2];

	CHECK_EQ_INT(mkpair(&S, &C, "sim:7:restart", NULL, NULL), 0);
	chan_mux_open_stream(C.m);
	chan_mux_free(S.m);
	mv[0] = C.m;
	CHECK(pump(mv, 1, has_down, &C, 3000));
	CHECK_EQ_INT(chan_mux_process(C.m), -1);
	CHECK_EQ_INT(C.resets, 1);
	CHECK_EQ_INT(chan_mux_open_stream(C.m), 0);
	chan_mux_free(C.m);
	memset(&S, 0, sizeof(S));
	S.echo = 1;
	CHECK(mk(&S, "sim:7:restart", CHAN_SERVER, NULL) != NULL);
	CHECK(server_alive(&S, "sim:7:restart"));
	chan_mux_free(S.m);
}

/* PING keeps a quiet channel up; a peer that never answers, or never
 * says HELLO, is reset. Both ends run in this one process, so a stall of
 * the whole process for three intervals looks like a dead peer: the
 * interval (150 ms) leaves room for a loaded machine's scheduling. */
static void test_ping(void)
{
	static struct side S, C;
	struct chan_mux_opts o = { .ping_interval_ms = 150 };
	struct chan_mux_opts o2 = { .ping_interval_ms = 150 };
	chan_mux *mv[2];
	uint8_t b[32];
	chan *raw;

	CHECK_EQ_INT(mkpair(&S, &C, "sim:7:ping", &o, &o2), 0);
	mv[0] = S.m;
	mv[1] = C.m;
	pump(mv, 2, NULL, NULL, 800); /* five intervals: PINGs answered */
	CHECK_EQ_INT(S.downs + C.downs, 0);
	chan_mux_free(C.m);
	pump(mv, 1, has_down, &S, 2000);
	S.downs = 0;
	raw = raw_connect("sim:7:ping", S.m);
	raw_write(raw, S.m, b, put_hello(b, 1, 1));
	CHECK(pump(mv, 1, has_down, &S, 2000));
	CHECK_STR(S.why, "peer not answering PING");
	chan_close(raw);
	S.downs = 0;
	raw = raw_connect("sim:7:ping", S.m);
	CHECK(pump(mv, 1, has_down, &S, 2000));
	CHECK_STR(S.why, "peer sent no HELLO");
	chan_close(raw);
	/* waiting for a client: no timer, so a poll loop does not spin */
	chan_mux_process(S.m);
	CHECK_EQ_INT(chan_mux_timeout_ms(S.m), -1);
	chan_mux_free(S.m);
}

/* Over the stream limit, OPEN is refused but the channel stays up. */
static void test_stream_limit(void)
{
	static struct side S, C;
	struct chan_mux_opts o = { .max_streams = 4 };
	chan_mux *mv[2];

	CHECK_EQ_INT(mkpair(&S, &C, "sim:7:limit", &o, NULL), 0);
	mv[0] = S.m;
	mv[1] = C.m;
	for (int i = 0; i < 6; i++)
		chan_mux_open_stream(C.m);
	pump(mv, 2, NULL, NULL, 200);
	CHECK_EQ_INT(S.opens, 4);
	CHECK_EQ_INT(C.resets, 2);
	CHECK_EQ_INT(chan_mux_streams(C.m), 4);
	CHECK_EQ_INT(S.downs + C.downs, 0);
	chan_mux_free(C.m);
	chan_mux_free(S.m);
}

/* ---- control answers under their cap ------------------------------- */

struct flood {
	uint8_t b[4096];
	size_t n, off;
	uint32_t next_sid;
	unsigned long pings, opens; /* frames written whole */
	size_t written;
};

/* Refills f->b with PING, OPEN (over the stream limit), PING, ... */
static void flood_fill(struct flood *f)
{
	uint8_t ping[CHAN_PING_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	f->n = f->off = 0;
	while (f->n + 2 * CHAN_FRAME_HDR + sizeof(ping) <= sizeof(f->b)) {
		f->n += put(f->b + f->n, CHAN_F_PING, 0, ping, sizeof(ping));
		f->n += put(f->b + f->n, CHAN_F_OPEN, f->next_sid, NULL, 0);
		f->next_sid += 2;
	}
}

/* Writes what the ring takes; returns the bytes written. Counts the
 * frames only once a whole buffer is out (each buffer is whole frames). */
static size_t flood_write(struct flood *f, chan *c)
{
	ssize_t w;
	size_t total = 0;

	for (;;) {
		if (f->off == f->n) {
			if (f->n) {
				f->pings += f->n / (2 * CHAN_FRAME_HDR +
						    CHAN_PING_LEN);
				f->opens += f->n / (2 * CHAN_FRAME_HDR +
						    CHAN_PING_LEN);
			}
			flood_fill(f);
		}
		chan_handle_events(c);
		w = chan_write(c, f->b + f->off, f->n - f->off);
		if (w <= 0)
			break;
		f->off += (size_t)w;
		total += (size_t)w;
	}
	f->written += total;
	return total;
}

/* Counts PONG and ERROR frames in what the raw peer reads. */
struct tally {
	struct chan_frame_dec dec;
	unsigned long pongs, errors;
};

static int tally_frame(void *ud, const struct chan_frame_hdr *h,
		       const uint8_t *p)
{
	struct tally *t = ud;

	t->pongs += h->type == CHAN_F_PONG;
	t->errors += h->type == CHAN_F_ERROR && h->stream != 0;
	return 0;
}

static void tally_read(struct tally *t, chan *c)
{
	static uint8_t buf[1 << 16];
	const char *why;
	ssize_t r;

	chan_handle_events(c);
	while ((r = chan_read(c, buf, sizeof(buf))) > 0)
		chan_frame_dec_feed(&t->dec, buf, (size_t)r, tally_frame, t,
				    &why);
}

/* A peer floods PING (each asks for a PONG) and OPENs over the stream
 * limit (each asks for an ERROR) and never reads. Proves that what the
 * server holds for it stays under the control cap (queued bytes and heap
 * both), that the server stops reading it (it cannot write more than the
 * ring and one turn's input), that a bystander channel in the same loop
 * keeps being served, and that once the peer reads, every PING gets its
 * PONG and every refused OPEN its ERROR: backpressure, nothing dropped.
 * Without the cap the server reads on and queues answers without end. */
static void test_control_flood(void)
{
	static struct side S, S2, C2;
	static struct flood f;
	static struct tally t;
	struct chan_mux_opts o = { .max_streams = 4 };
	size_t cap = 256u << 10, max_backlog = 0;
	chan_mux *mv[3];
	void *arg[2] = { &C2, NULL };
	uint8_t b[128];
	uint32_t sid2;
	chan *raw;
	int stalled = 0, echoes = 0;
	struct mallinfo2 mi0 = mallinfo2(), mi;
	size_t heap_max = 0;

	memset(&S, 0, sizeof(S));
	CHECK(mk(&S, "sim:7:ctlflood", CHAN_SERVER, &o) != NULL);
	CHECK_EQ_INT(mkpair(&S2, &C2, "sim:8:ctlbystander", NULL, NULL), 0);
	sid2 = chan_mux_open_stream(C2.m);
	mv[0] = S.m;
	mv[1] = S2.m;
	mv[2] = C2.m;
	raw = raw_connect("sim:7:ctlflood", S.m);
	CHECK(raw != NULL);
	size_t n = put_hello(b, 1, 1);
	for (uint32_t sid = 1; sid <= 7; sid += 2)
		n += put(b + n, CHAN_F_OPEN, sid, NULL, 0);
	raw_write(raw, S.m, b, n);
	memset(&f, 0, sizeof(f));
	f.next_sid = 9;
	/* until the writer has been stuck for 200 turns, or 64 MiB */
	for (int i = 0; stalled < 200 && f.written < (64u << 20); i++) {
		stalled = flood_write(&f, raw) ? 0 : stalled + 1;
		chan_mux_process(S.m);
		if (chan_mux_backlog(S.m) > max_backlog)
			max_backlog = chan_mux_backlog(S.m);
		mi = mallinfo2();
		if (mi.uordblks > mi0.uordblks &&
		    mi.uordblks - mi0.uordblks > heap_max)
			heap_max = mi.uordblks - mi0.uordblks;
		if (i % 16 == 0) { /* the bystander, in the same loop */
			chan_mux_send(C2.m, sid2, "alive", 5);
			arg[1] = (void *)(long)++echoes;
			CHECK(pump(mv + 1, 2, got_n, arg, 2000));
		}
	}
	fprintf(stderr,
		"  flood: %zu bytes written, backlog max %zu (cap %zu), "
		"heap max +%zu, paused %d\n",
		f.written, max_backlog, cap, heap_max, chan_mux_rx_paused(S.m));
	CHECK(stalled >= 200); /* the server stopped reading it */
	CHECK(f.written < (4u << 20));
	CHECK(max_backlog <= cap);
	CHECK(heap_max < (4u << 20));
	CHECK(chan_mux_rx_paused(S.m));
	CHECK(chan_mux_timeout_ms(S.m) != 0); /* and does not spin */
	CHECK_EQ_INT(S.downs, 0);
	CHECK(echoes > 2);
	/* now the peer reads: all of it is answered, nothing was dropped */
	chan_frame_dec_init(&t.dec, 1 << 16);
	f.n = f.off = 0; /* the partly written buffer is not counted */
	for (int i = 0; i < 20000 && t.pongs < f.pings; i++) {
		tally_read(&t, raw);
		chan_mux_process(S.m);
		if (chan_mux_timeout_ms(S.m) != 0)
			usleep(200);
	}
	CHECK(t.pongs >= f.pings);
	CHECK(t.errors >= f.opens);
	CHECK_EQ_INT(S.downs, 0);
	chan_frame_dec_free(&t.dec);
	chan_close(raw);
	chan_mux_free(C2.m);
	chan_mux_free(S2.m);
	chan_mux_free(S.m);
}

/* The input budget: with turn_frames 8, one call dispatches 8 messages
 * and leaves the rest for the next (timeout 0 meanwhile), so a channel
 * with much queued cannot keep a shared loop to itself. Without the
 * budget one call takes all 100. chan_mux_set_turn changes the budget of
 * the next calls (1, then back to 8), and chan_mux_turn_spent says a
 * call stopped at it with more waiting (not once all is read). */
static void test_turn_budget(void)
{
	static struct side S, C;
	struct chan_mux_opts so = { .turn_frames = 8 };
	chan_mux *mv[2];
	uint32_t sid;
	int calls = 0, n;

	CHECK_EQ_INT(mkpair(&S, &C, "sim:7:budget", &so, NULL), 0);
	S.echo = 0;
	mv[0] = S.m;
	mv[1] = C.m;
	sid = chan_mux_open_stream(C.m);
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(chan_mux_send(C.m, sid, "{\"x\":1}", 7), 0);
	/* all of it into the ring before the server looks */
	for (int i = 0; i < 50 && chan_mux_backlog(C.m) > 0; i++) {
		chan_mux_process(C.m);
		usleep(1000);
	}
	CHECK_EQ_INT(chan_mux_backlog(C.m), 0);
	usleep(20000);
	chan_mux_process(S.m);
	CHECK(S.nmsg >= 1 && S.nmsg <= 8);
	CHECK_EQ_INT(chan_mux_timeout_ms(S.m), 0);
	CHECK(chan_mux_turn_spent(S.m));
	chan_mux_set_turn(S.m, 1);
	n = S.nmsg;
	chan_mux_process(S.m);
	CHECK_EQ_INT(S.nmsg, n + 1);
	CHECK(chan_mux_turn_spent(S.m));
	chan_mux_set_turn(S.m, 0);
	n = S.nmsg;
	chan_mux_process(S.m);
	CHECK_EQ_INT(S.nmsg, n + 8);
	while (S.nmsg < 100 && calls < 100) {
		chan_mux_process(S.m);
		calls++;
	}
	CHECK_EQ_INT(S.nmsg, 100);
	CHECK(calls >= 11);
	CHECK(!chan_mux_turn_spent(S.m));
	pump(mv, 2, NULL, NULL, 50);
	CHECK(chan_mux_timeout_ms(S.m) != 0);
	chan_mux_free(C.m);
	chan_mux_free(S.m);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	chantest_setup();
	RUN(test_streams);
	RUN(test_large_frames);
	RUN(test_fairness);
	RUN(test_slow_reader);
	RUN(test_faults);
	RUN(test_every_boundary);
	RUN(test_peer_dies_mid_frame);
	RUN(test_server_restart);
	RUN(test_ping);
	RUN(test_stream_limit);
	RUN(test_control_flood);
	RUN(test_turn_budget);
	chantest_cleanup();
	return ZGT_DONE();
}
