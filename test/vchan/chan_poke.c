/* chan_poke: a hostile channel client for end-to-end tests. It connects
 * to ADDR, sends one of a set of protocol violations (or floods), then
 * reports on stdout what the server did: the frame types it sent back and
 * whether it closed the channel (mid-frame: exits halfway through a
 * frame instead). With --serve it plays the server: it listens at ADDR,
 * waits for one client and does the same to it. Case ctl-flood is
 * different: after HELLO it writes PING and OPEN frames without end (the
 * OPENs soon over the stream limit, so each asks for an ERROR) and never
 * reads, until it has written 64 MiB, 15 s have passed, or the server
 * has taken nothing for 2 s; it prints "written=BYTES stalled=0|1".
 * Usage: chan_poke [--serve] ADDR CASE */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zonegate/chan.h>
#include <zonegate/chan_mux.h>

static uint8_t out[1 << 20];
static size_t outn;
static int die_early; /* exit as soon as everything is written */

static void put(unsigned type, uint32_t sid, const void *p, size_t n)
{
	chan_frame_hdr_encode(out + outn, type, sid, (uint32_t)n);
	if (n)
		memcpy(out + outn + CHAN_FRAME_HDR, p, n);
	outn += CHAN_FRAME_HDR + n;
}

static void hello(unsigned vmax, unsigned vmin)
{
	uint8_t h[8] = { (uint8_t)vmax, 0, (uint8_t)vmin, 0, 0, 0, 0x40, 0 };

	put(CHAN_F_HELLO, 0, h, sizeof(h));
}

static int build(const char *c)
{
	static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	uint8_t hdr[CHAN_FRAME_HDR];

	if (strcmp(c, "garbage") == 0) {
		hello(1, 1);
		memcpy(out + outn, junk, sizeof(junk) - 1);
		outn += sizeof(junk) - 1;
	} else if (strcmp(c, "oversize") == 0) {
		hello(1, 1);
		put(CHAN_F_OPEN, 1, NULL, 0);
		chan_frame_hdr_encode(hdr, CHAN_F_DATA, 1, 0xfffffff0u);
		memcpy(out + outn, hdr, sizeof(hdr));
		outn += sizeof(hdr);
	} else if (strcmp(c, "before-hello") == 0) {
		put(CHAN_F_OPEN, 1, NULL, 0);
	} else if (strcmp(c, "bad-version") == 0) {
		hello(0, 0);
	} else if (strcmp(c, "reuse") == 0) {
		hello(1, 1);
		put(CHAN_F_OPEN, 1, NULL, 0);
		put(CHAN_F_OPEN, 1, NULL, 0);
	} else if (strcmp(c, "flood") == 0) { /* valid frames, bad JSON */
		hello(1, 1);
		for (uint32_t s = 1; s < 200; s += 2)
			put(CHAN_F_OPEN, s, NULL, 0);
		while (outn < (256u << 10))
			put(CHAN_F_DATA, 1 + 2 * (uint32_t)(outn % 100),
			    "{not json", 9);
	} else if (strcmp(c, "mid-frame") == 0) { /* dies inside a frame */
		static const char part[] = "{\"jsonrpc\":\"2.0\",\"id\":1,";
		hello(1, 1);
		put(CHAN_F_OPEN, 1, NULL, 0);
		chan_frame_hdr_encode(hdr, CHAN_F_DATA, 1, 1000);
		memcpy(out + outn, hdr, sizeof(hdr));
		outn += sizeof(hdr);
		memcpy(out + outn, part, sizeof(part) - 1);
		outn += sizeof(part) - 1;
	} else {
		return -1;
	}
	return 0;
}

static long ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The ctl-flood case (see the top of the file). */
static int ctl_flood(chan *c)
{
	static const uint8_t ping[CHAN_PING_LEN] = { 'f', 'l', 'o', 'o', 'd' };
	uint32_t sid = 1;
	size_t written = 0, off = 0;
	long end = ms() + 15000, last = ms();
	ssize_t w;

	hello(1, 1);
	while (written < (64u << 20) && ms() < end && ms() - last < 2000 &&
	       chan_state(c) != CHAN_CLOSED) {
		struct pollfd p = { chan_fd(c), POLLIN, 0 };
		if (off == outn) {
			off = outn = 0;
			while (outn + 2 * CHAN_FRAME_HDR + CHAN_PING_LEN <=
			       (64u << 10)) {
				put(CHAN_F_PING, 0, ping, sizeof(ping));
				put(CHAN_F_OPEN, sid, NULL, 0);
				sid += 2;
			}
		}
		chan_handle_events(c);
		w = chan_write(c, out + off, outn - off);
		if (w < 0)
			break;
		if (w > 0) {
			off += (size_t)w;
			written += (size_t)w;
			last = ms();
			continue;
		}
		poll(&p, 1, 20);
	}
	printf("written=%zu stalled=%d\n", written, ms() - last >= 2000);
	chan_close(c);
	return 0;
}

/* Reads what the server sends; prints frame types at frame boundaries. */
static void report(const uint8_t *b, size_t n, int closed)
{
	static const char *names[] = { "?",	"HELLO", "OPEN", "DATA",
				       "CLOSE", "PING",	 "PONG", "ERROR" };
	size_t at = 0;

	while (at + CHAN_FRAME_HDR <= n) {
		uint32_t len = (uint32_t)b[at + 8] | (uint32_t)b[at + 9] << 8 |
			       (uint32_t)b[at + 10] << 16 |
			       (uint32_t)b[at + 11] << 24;
		printf("%s ", b[at] <= 7 ? names[b[at]] : "?");
		at += CHAN_FRAME_HDR + len;
	}
	printf("%s\n", closed ? "closed" : "open");
}

int main(int argc, char **argv)
{
	struct chan_opts o = { 0, 5000 };
	static uint8_t in[4 << 20];
	size_t inn = 0, sent = 0;
	char err[256];
	chan *c;
	long end;
	ssize_t r;

	int serve = argc == 4 && strcmp(argv[1], "--serve") == 0;

	if (serve) {
		argv++;
		argc--;
	}
	if (argc != 3 ||
	    (strcmp(argv[2], "ctl-flood") != 0 && build(argv[2]) < 0)) {
		fprintf(stderr, "usage: chan_poke [--serve] ADDR garbage|"
				"oversize|before-hello|bad-version|reuse|flood|"
				"mid-frame|ctl-flood\n");
		return 2;
	}
	die_early = strcmp(argv[2], "mid-frame") == 0;
	c = chan_open(argv[1], serve ? CHAN_SERVER : CHAN_CLIENT, &o, err,
		      sizeof(err));
	if (!c) {
		fprintf(stderr, "chan_poke: %s\n", err);
		return 1;
	}
	if (strcmp(argv[2], "ctl-flood") == 0)
		return ctl_flood(c);
	end = ms() + 20000;
	long quiet = ms();
	size_t last = 0;
	/* until the peer closes, or everything is sent and it fell silent;
	 * a server first waits for its client */
	while (ms() < end && chan_state(c) != CHAN_CLOSED &&
	       !(sent == outn && ms() - quiet > 3000)) {
		if (inn != last) {
			last = inn;
			quiet = ms();
		}
		struct pollfd p = { chan_fd(c), POLLIN, 0 };
		poll(&p, 1, 20);
		chan_handle_events(c);
		if (serve && chan_state(c) != CHAN_OPEN) {
			quiet = ms();
			continue;
		}
		if (sent < outn) {
			r = chan_write(c, out + sent, outn - sent);
			sent += r > 0 ? (size_t)r : 0;
			quiet = ms(); /* silence counts from the last byte out */
		}
		if (die_early && sent == outn) {
			printf("died mid-frame\n");
			return 0; /* no close: the process just ends */
		}
		while (inn < sizeof(in) &&
		       (r = chan_read(c, in + inn, sizeof(in) - inn)) > 0)
			inn += (size_t)r;
	}
	while (inn < sizeof(in) &&
	       (r = chan_read(c, in + inn, sizeof(in) - inn)) > 0)
		inn += (size_t)r;
	report(in, inn, chan_state(c) == CHAN_CLOSED);
	chan_close(c);
	return 0;
}
