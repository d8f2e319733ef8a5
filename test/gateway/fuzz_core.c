/* Fuzz target: what an agent zone and a tool zone can send the gateway
 * core, through its interface (corehost.h). The input is a sequence of
 * records, [op][len lo][len hi][len bytes]: op % 7 is 0 a message from the
 * agent, 1 raw bytes from the tool zone on the agent's link, 2 on the
 * tool zone's control stream, 3 a few loop turns, 4 a response on the
 * link to the call in flight ({"jsonrpc":"2.0","id":<its id>, then the
 * bytes: the splice path), 5 a stateless (2026-07-28) request from a
 * listener, 6 that HTTP request goes away. For op 3, a first byte f
 * with f & 3 == 3 first lets 2 ms pass, so that requests reach their
 * deadline (the first input byte's low bit sets call_timeout_ms to 1 ms)
 * and late answers can follow, and f & 4 drains (every call in flight
 * cancelled upstream through its link's request table). The
 * session is initialized and has one call in flight before the records
 * run; every input starts a fresh core. The first input byte's bit 1
 * makes the tool zone one of 2026-07-28 only: calls go as stateless
 * requests, a session's resources/subscribe opens an upstream listen
 * (gw_subs.c) whose stream then takes op 1's bytes. Its bit 2 gives the
 * tool zone one slot (max_inflight 1): every call after the first waits
 * in the gateway's queue, and ends there or is sent as slots free. */
#include "corehost.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INIT_MSG                                                              \
	"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":" \
	"{\"protocolVersion\":\"2025-11-25\",\"capabilities\":"               \
	"{\"sampling\":{}}}}"
#define CALL_MSG                                                       \
	"{\"jsonrpc\":\"2.0\",\"id\":\"c\",\"method\":\"tools/call\"," \
	"\"params\":{\"name\":\"tool.echo\",\"arguments\":{}}}"

/* The gateway's id of a call in flight (0: none). */
static uint64_t pending_call(struct corehost *h)
{
	size_t n;
	void **v = gw_map_values(h->g.preqs, &n);
	uint64_t uid = 0;

	for (size_t i = 0; v && i < n && !uid; i++)
		if (((struct preq *)v[i])->kind == PK_CALL)
			uid = ((struct preq *)v[i])->uid;
	free(v);
	return uid;
}

static void respond(struct corehost *h, const uint8_t *p, size_t n)
{
	char head[64];
	int hl = snprintf(head, sizeof(head),
			  "{\"jsonrpc\":\"2.0\",\"id\":%llu,",
			  (unsigned long long)pending_call(h));
	char *b = malloc((size_t)hl + n + 1);

	if (!b)
		return;
	memcpy(b, head, (size_t)hl);
	memcpy(b + hl, p, n);
	corehost_tool(h, 0, b, (size_t)hl + n);
	free(b);
}

/* Runs one input; returns NULL, or what went wrong (a copy of the
 * offending message to the agent, the caller frees). */
static char *run(const uint8_t *data, size_t size)
{
	struct corehost h;
	size_t i = 0;
	char *bad = NULL;

	if (corehost_start_rev(&h, NULL, NULL, size && data[0] & 2))
		return strdup("the host did not come up");
	h.tool_mute = 1;
	if (size && data[0] & 1)
		h.cfg.call_timeout_ms = 1;
	if (size &&
	    data[0] & 4) /* one slot: the next calls wait (gw_admit.c) */
		h.zones[1].max_inflight = 1;
	corehost_agent(&h, INIT_MSG, strlen(INIT_MSG));
	corehost_agent(&h, CALL_MSG, strlen(CALL_MSG));
	while (i + 3 <= size) {
		unsigned op = data[i] % 7;
		size_t n = (size_t)data[i + 1] | (size_t)data[i + 2] << 8;
		const uint8_t *p = data + i + 3;
		if (n > size - i - 3)
			n = size - i - 3;
		i += 3 + n;
		switch (op) {
		case 0:
			corehost_agent(&h, (const char *)p, n);
			break;
		case 1:
		case 2:
			corehost_tool(&h, op == 2, (const char *)p, n);
			break;
		case 3:
			if (n && (p[0] & 3) == 3) {
				struct timespec ts = { 0, 2000000 };
				nanosleep(&ts, NULL);
			}
			if (n && p[0] & 4)
				gw_route_abort_calls(&h.g, "draining", "drain");
			corehost_pump(&h, 1 + (int)(n % 8));
			break;
		case 4:
			respond(&h, p, n);
			break;
		case 5:
			corehost_stateless(&h, (const char *)p, n);
			break;
		default:
			corehost_stateless_end(&h);
			break;
		}
	}
	/* every message the core gave the agent is one JSON value, no
	 * member twice (a second id would answer another call) */
	for (size_t k = 0; k < h.nout && !bad; k++) {
		json_t *j = json_loads(h.out[k], JSON_REJECT_DUPLICATES, NULL);
		if (!j)
			bad = strdup(h.out[k]);
		json_decref(j);
	}
	corehost_stop(&h);
	return bad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int devnull = -1;
	int saved;
	char *bad;

	/* the core's log lines (a zone up, a message dropped) are not what
	 * is tested, and thousands of them slow the run down */
	if (devnull < 0)
		devnull = open("/dev/null", O_WRONLY);
	fflush(stderr);
	saved = dup(2);
	dup2(devnull, 2);
	bad = run(data, size);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if (bad) {
		fprintf(stderr, "fuzz_gw_core: the agent got: %.300s\n", bad);
		abort();
	}
	return 0;
}
