/* Fuzz target: what a hostile MCP server can send the client core
 * (mcp/client.c). Four requests are in flight; the input's lines are fed
 * as server messages (oversize, garbage, duplicate or unknown ids, server
 * request floods), a line starting with '!' instead cancels, expires or
 * answers a server request. Every request must end exactly once, and a
 * broken client must refuse more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NREQ 4

struct state {
	int ended[NREQ + 1];
	int broken;
	json_t *last_sreq; /* the id of the last server request */
};

static int f_send(void *ud, const char *msg, size_t len)
{
	(void)ud;
	(void)msg;
	(void)len;
	return 0;
}

static void f_req(void *ud, json_t *root)
{
	struct state *s = ud;

	json_decref(s->last_sreq);
	s->last_sreq = json_incref(json_object_get(root, "id"));
}

static void f_broken(void *ud, const char *why)
{
	struct state *s = ud;

	(void)why;
	if (s->broken++) /* once only */
		abort();
}

static void f_progress(void *ud, void *req_ud, json_t *params)
{
	(void)ud;
	(void)params;
	if (!req_ud)
		abort();
}

static void done(void *ud, const struct mcp_client_answer *a)
{
	int *ended = ud;

	if (++*ended > 1 || !a->message)
		abort();
	if (a->code == 0 && !a->result)
		abort();
}

/* A '!' line: a command of the harness, not a server message. */
static void command(mcp_client *c, struct state *s, char op)
{
	switch (op % 4) {
	case 0:
		mcp_client_cancel(c, 1 + (op / 4) % NREQ, "fuzz");
		break;
	case 1:
		mcp_client_expire(c);
		break;
	case 2:
		if (s->last_sreq)
			mcp_client_respond(c, jr_result(s->last_sreq,
							json_object()));
		break;
	default:
		mcp_client_timeout_ms(c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mcp_client_ops ops = { f_send,     NULL,	 f_req,
						   f_progress, f_broken, NULL };
	struct mcp_client_limits lim = { .max_message = 512,
					 .max_server_reqs = 3,
					 .flood_per_sec = 50,
					 .max_bad = 8 };
	struct state s = { { 0 }, 0, NULL };
	mcp_client *c = mcp_client_new(&ops, &s, &lim, "fuzz");
	const char *p = (const char *)data, *end = p + size;

	if (!c)
		return 0;
	for (int i = 1; i <= NREQ; i++) {
		struct mcp_client_req r = { 0, i % 2, done, &s.ended[i], NULL };
		if (mcp_client_request(c, "tools/call", NULL, &r) != i)
			abort();
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n >= 2 && p[0] == '!')
			command(c, &s, p[1]);
		else if (mcp_client_feed(c, p, n) == 0 && mcp_client_broken(c))
			abort();
		p += n + (nl ? 1 : 0);
	}
	if (s.broken && mcp_client_feed(c, "{}", 2) != -1)
		abort();
	mcp_client_free(c);
	for (int i = 1; i <= NREQ; i++)
		if (s.ended[i] != 1)
			abort();
	json_decref(s.last_sreq);
	return 0;
}
