/* Fuzz target: arbitrary bytes as a Server-Sent Events stream from an MCP
 * server (mcp/client_sse.c). The first byte picks a split point and a cap;
 * the rest is fed once whole and once in two pieces: both feeds must
 * agree (events, their order, where a cap stopped the stream), and no
 * event may exceed the cap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct trace {
	uint64_t hash; /* FNV-1a of every event's type, id and data */
	size_t events;
	size_t max;
};

static void mix(struct trace *t, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		t->hash = (t->hash ^ (uint8_t)p[i]) * 0x100000001b3ull;
	t->hash = (t->hash ^ 0xff) * 0x100000001b3ull;
}

static int on_event(void *ud, const char *type, const char *d, size_t len,
		    const char *id)
{
	struct trace *t = ud;

	if (len > t->max || strlen(type) > MCP_SSE_EVENT_NAME_MAX ||
	    strlen(id) > MCP_SSE_ID_MAX || d[len] != '\0')
		abort();
	mix(t, type, strlen(type));
	mix(t, id, strlen(id));
	mix(t, d, len);
	t->events++;
	return 0;
}

static int run(const char *s, size_t n, size_t cut, size_t max, struct trace *t)
{
	struct mcp_sse p;
	int rc;

	memset(t, 0, sizeof(*t));
	t->hash = 0xcbf29ce484222325ull;
	t->max = max;
	mcp_sse_init(&p, max, on_event, t);
	rc = mcp_sse_feed(&p, s, cut);
	if (rc == 0)
		rc = mcp_sse_feed(&p, s + cut, n - cut);
	mcp_sse_clear(&p);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace a, b;
	size_t max, cut;
	int ra, rb;

	if (size < 1)
		return 0;
	max = 16u + (data[0] & 0x0f) * 64u;
	cut = size > 1 ? (size_t)(data[0] >> 4) * (size - 1) / 16 : 0;
	ra = run((const char *)data + 1, size - 1, size - 1, max, &a);
	rb = run((const char *)data + 1, size - 1, cut, max, &b);
	/* a cap hit ends both at the same event (a line over the cap may be
	 * noticed a piece later, but never with a different event before) */
	if (ra != rb || a.events != b.events || a.hash != b.hash)
		abort();
	return 0;
}
