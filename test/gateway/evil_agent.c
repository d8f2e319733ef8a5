/* evil_agent: a hostile agent zone for gatewayd's tests. It connects to
 * its zone's channel at ADDR, opens SESSIONS streams and on each sends
 * initialize with capabilities of about BYTES bytes (sampling, roots
 * and a big experimental blob), then keeps every session open. It
 * prints "inited N" once all N got their initialize result and exits
 * on SIGTERM or SIGINT.
 * Usage: evil_agent ADDR SESSIONS BYTES */
#define _GNU_SOURCE /* memmem */
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zonegate/chan.h>
#include <zonegate/chan_mux.h>

#include "zg_common.h"

static long sessions, inited;
static char *init_text;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_up(void *ud, chan_mux *m)
{
	(void)ud;
	for (long i = 0; i < sessions; i++) {
		uint32_t sid = chan_mux_open_stream(m);
		if (sid)
			chan_mux_send(m, sid, init_text, strlen(init_text));
	}
}

static void on_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *msg,
		    size_t len)
{
	static const char note[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";

	(void)ud;
	if (memmem(msg, len, "\"result\":{\"protocolVersion\"", 27)) {
		chan_mux_send(m, sid, note, sizeof(note) - 1);
		if (++inited == sessions) {
			printf("inited %ld\n", inited);
			fflush(stdout);
		}
	}
}

static void on_close(void *ud, chan_mux *m, uint32_t sid, int reset)
{
	(void)ud;
	(void)m;
	(void)sid;
	(void)reset;
}

static void on_down(void *ud, chan_mux *m, const char *why)
{
	(void)ud;
	(void)m;
	fprintf(stderr, "evil_agent: channel down: %s\n", why);
	stop = 1;
}

int main(int argc, char **argv)
{
	static const struct chan_mux_ops ops = { on_up, NULL, on_data, on_close,
						 on_down };
	struct chan_mux_opts mo = { .max_streams = 4096,
				    .stream_queue_max = 64u << 20,
				    .total_queue_max = 1u << 30 };
	char err[256], *blob;
	long bytes;
	long long n;
	json_t *init;
	chan *c;
	chan_mux *m;

	if (argc != 4) {
		fprintf(stderr, "usage: evil_agent ADDR SESSIONS BYTES\n");
		return 2;
	}
	if (zg_parse_int(argv[2], 1, 1 << 20, &n) != 0)
		return 2;
	sessions = (long)n;
	if (zg_parse_int(argv[3], 1, 1 << 30, &n) != 0)
		return 2;
	bytes = (long)n;
	blob = malloc((size_t)bytes + 1);
	if (!blob)
		return 2;
	memset(blob, 'c', (size_t)bytes);
	blob[bytes] = '\0';
	init = json_pack("{s:s,s:i,s:s,s:{s:s,s:{s:{},s:{s:b},s:{s:{s:s}}},"
			 "s:{s:s,s:s}}}",
			 "jsonrpc", "2.0", "id", 1, "method", "initialize",
			 "params", "protocolVersion", "2025-06-18",
			 "capabilities", "sampling", "roots", "listChanged", 1,
			 "experimental", "blob", "data", blob, "clientInfo",
			 "name", "evil-agent", "version", "1");
	init_text = init ? json_dumps(init, JSON_COMPACT) : NULL;
	json_decref(init);
	free(blob);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	c = init_text ? chan_open(argv[1], CHAN_CLIENT, NULL, err, sizeof(err))
		      : NULL;
	m = c ? chan_mux_new(c, &mo, &ops, NULL, err, sizeof(err)) : NULL;
	if (!m) {
		fprintf(stderr, "evil_agent: %s\n", c ? err : "cannot connect");
		return 1;
	}
	while (!stop) {
		struct pollfd p = { chan_mux_fd(m), chan_mux_events(m), 0 };
		int t = chan_mux_timeout_ms(m);
		poll(&p, 1, t < 0 || t > 200 ? 200 : t);
		chan_mux_process(m);
	}
	chan_mux_free(m);
	free(init_text);
	return 0;
}
