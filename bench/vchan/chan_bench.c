/* Channel benchmark: round-trip latency (p50/p99) and throughput of
 * JSON-RPC messages of 200 B, 4 KiB and 256 KiB echoed through the frame
 * protocol, over the sim channel and over a plain AF_UNIX socketpair
 * carrying the same frames (the baseline). The echo side is a separate
 * process, as a zone would be.
 * Usage: chan_bench [--quick] [--ring BYTES]   (sim ring size, default 128 KiB) */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zonegate/chan.h>
#include <zonegate/chan_mux.h>

#include "zg_common.h"

struct result {
	double p50_us, p99_us, msgs_s, mib_s;
};

struct client {
	long got;
	double t_done;
};

static size_t ring_size; /* 0: the default */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A JSON-RPC request of exactly n bytes (n >= 64). */
static char *make_msg(size_t n)
{
	static const char head[] =
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"bench\","
		"\"params\":{\"pad\":\"";
	char *m = malloc(n);
	size_t h = sizeof(head) - 1;

	if (!m)
		exit(1);
	memcpy(m, head, h);
	memset(m + h, 'a', n - h - 3);
	memcpy(m + n - 3, "\"}}", 3);
	return m;
}

static void quiet(void *ud, const char *msg)
{
}

static const struct chan_mux_opts mopts = { .log = quiet };

/* ---- echo process ----------------------------------------------------- */

static int echo_open(void *ud, chan_mux *m, uint32_t sid)
{
	return 0;
}

static void echo_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *p,
		      size_t n)
{
	while (chan_mux_send(m, sid, p, n) == CHAN_MUX_EFULL)
		chan_mux_process(m); /* wait for the client to drain */
}

static void echo_close(void *ud, chan_mux *m, uint32_t sid, int reset)
{
	*(int *)ud = 1;
}

static void echo_serve(chan *c)
{
	static const struct chan_mux_ops ops = { NULL, echo_open, echo_data,
						 echo_close, NULL };
	int done = 0;
	chan_mux *m = chan_mux_new(c, &mopts, &ops, &done, NULL, 0);
	struct pollfd p;

	while (m && !done) {
		p.fd = chan_mux_fd(m);
		p.events = chan_mux_events(m);
		poll(&p, 1, 100);
		if (chan_mux_process(m) < 0)
			break;
	}
	chan_mux_free(m);
}

/* ---- client ------------------------------------------------------------ */

static void cl_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *p,
		    size_t n)
{
	((struct client *)ud)->got++;
}

static void pump(chan_mux *m)
{
	struct pollfd p = { chan_mux_fd(m), chan_mux_events(m), 0 };

	poll(&p, 1, 100);
	chan_mux_process(m);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void measure(chan_mux *m, struct client *cl, size_t size, int rounds,
		    long tput_msgs, struct result *r)
{
	char *msg = make_msg(size);
	double *lat = calloc((size_t)rounds, sizeof(double));
	uint32_t sid = chan_mux_open_stream(m);
	long sent = 0, want;
	double t0;

	for (int i = 0; i < rounds + 20; i++) { /* 20 warm-up rounds */
		want = cl->got + 1;
		t0 = now_s();
		chan_mux_send(m, sid, msg, size);
		while (cl->got < want)
			pump(m);
		if (i >= 20)
			lat[i - 20] = (now_s() - t0) * 1e6;
	}
	qsort(lat, (size_t)rounds, sizeof(double), cmp_double);
	r->p50_us = lat[rounds / 2];
	r->p99_us = lat[rounds * 99 / 100];
	want = cl->got + tput_msgs;
	t0 = now_s();
	while (cl->got < want) { /* keep up to 32 messages in flight */
		while (sent < tput_msgs &&
		       sent - (cl->got - (want - tput_msgs)) < 32 &&
		       chan_mux_send(m, sid, msg, size) == 0)
			sent++;
		pump(m);
	}
	r->msgs_s = (double)tput_msgs / (now_s() - t0);
	r->mib_s = r->msgs_s * (double)size / (1 << 20);
	chan_mux_close_stream(m, sid);
	chan_mux_process(m);
	free(lat);
	free(msg);
}

static chan_mux *client_mux(chan *c, struct client *cl)
{
	static const struct chan_mux_ops ops = { NULL, NULL, cl_data, NULL,
						 NULL };
	chan_mux *m = chan_mux_new(c, &mopts, &ops, cl, NULL, 0);

	while (m && !chan_mux_is_up(m))
		pump(m);
	return m;
}

/* One run over a fresh echo process; backend "sim" or "unix". */
static int run(const char *backend, size_t size, int rounds, long tput,
	       struct result *r)
{
	struct client cl = { 0 };
	struct chan_opts o = { ring_size, 5000 };
	char err[256];
	chan *c = NULL;
	chan_mux *m;
	pid_t pid;
	int sv[2];

	if (strcmp(backend, "unix") == 0 &&
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		chan *s =
			strcmp(backend, "unix") == 0
				? chan_from_socket(sv[0], CHAN_SERVER, NULL, 0)
				: chan_open("sim:1:bench", CHAN_SERVER, &o, err,
					    sizeof(err));
		if (strcmp(backend, "unix") == 0)
			close(sv[1]);
		if (s)
			echo_serve(s);
		_exit(0);
	}
	if (strcmp(backend, "unix") == 0) {
		close(sv[0]);
		c = chan_from_socket(sv[1], CHAN_CLIENT, NULL, 0);
	} else {
		c = chan_open("sim:1:bench", CHAN_CLIENT, &o, err, sizeof(err));
	}
	m = c ? client_mux(c, &cl) : NULL;
	if (m)
		measure(m, &cl, size, rounds, tput, r);
	chan_mux_free(m);
	waitpid(pid, NULL, 0);
	return m ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 200, 4096, 256 << 10 };
	static const char *names[] = { "200 B", "4 KiB", "256 KiB" };
	char dir[] = "/tmp/zgbench.XXXXXX";
	struct result s, u;
	int quick = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = 1;
		} else if (strcmp(argv[i], "--ring") == 0 && i + 1 < argc) {
			long long v;
			if (zg_parse_int(argv[++i], 1, 1L << 30, &v) != 0) {
				fprintf(stderr, "chan_bench: bad --ring\n");
				return 2;
			}
			ring_size = (size_t)v;
		} else {
			fprintf(stderr, "usage: chan_bench [--quick] "
					"[--ring BYTES]\n");
			return 2;
		}
	}

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return 1;
	setenv("ZONEGATE_SIM_DIR", dir, 1);
	printf("%-8s %-5s %9s %9s %11s %9s\n", "size", "chan", "p50 us",
	       "p99 us", "msgs/s", "MiB/s");
	for (int i = 0; i < 3; i++) {
		int rounds = quick ? 200 : (i == 2 ? 1000 : 5000);
		long tput = quick ? 500 : (i == 2 ? 4000 : 100000);
		if (run("sim", sizes[i], rounds, tput, &s) ||
		    run("unix", sizes[i], rounds, tput, &u)) {
			fprintf(stderr, "run failed\n");
			return 1;
		}
		printf("%-8s %-5s %9.1f %9.1f %11.0f %9.1f\n", names[i], "sim",
		       s.p50_us, s.p99_us, s.msgs_s, s.mib_s);
		printf("%-8s %-5s %9.1f %9.1f %11.0f %9.1f\n", names[i], "unix",
		       u.p50_us, u.p99_us, u.msgs_s, u.mib_s);
		printf("%-8s sim/unix: p50 %.2fx (target <= 2x), throughput "
		       "%.0f%% (target >= 50%%)\n",
		       names[i], s.p50_us / u.p50_us,
		       100.0 * s.msgs_s / u.msgs_s);
	}
	rmdir(dir);
	return 0;
}
