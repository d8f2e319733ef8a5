/* Fuzz target: what a hostile MCP server can send the client core
 * (mcp/client.c). Four requests of the core's own and four the harness
 * sends itself (table-only use: tracked with ids 101..104, their answers
 * routed by the harness) are in flight; the input's lines are fed as
 * server messages (oversize, garbage, duplicate or unknown ids, server
 * request floods), a line starting with '!' instead cancels, expires,
 * answers a server request, or settles or forgets a tracked id (known,
 * unknown, already ended, late, over the size cap). Every request must
 * end exactly once (done, or settled or forgotten by the harness, never
 * both), settle and forget must succeed exactly for what is in flight,
 * and a broken client must refuse more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NREQ 4
#define NTRK 4 /* tracked requests: ids TRK0 + 1 .. TRK0 + NTRK */
#define TRK0 100
#define MAXMSG 512 /* the client's max_message */

struct state {
	int ended[NREQ + 1];
	struct trk {
		int done;  /* done calls of a tracked request */
		int taken; /* settled or forgotten by the harness */
	} trk[NTRK + 1];
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

static void trk_done(void *ud, const struct mcp_client_answer *a)
{
	struct trk *t = ud;

	if (++t->done > 1 || t->taken || !a->message)
		abort();
	if (a->code == 0 && !a->result)
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

/* Settles (what 1) or forgets (0) tracked slot k (1..NTRK; beyond: an id
 * never tracked), checking the answer against what is in flight. */
static void take(mcp_client *c, struct state *s, unsigned k, int what,
		 size_t bytes)
{
	int in = k <= NTRK && !s->trk[k].done && !s->trk[k].taken;
	int rc = what ? mcp_client_settle(c, TRK0 + k, bytes)
		      : mcp_client_forget(c, TRK0 + k);

	if (in != (rc != -1))
		abort();
	if (rc == -2 && (!what || bytes <= MAXMSG))
		abort();
	if (rc != -1)
		s->trk[k].taken++;
}

/* A '!' line: a command of the harness, not a server message. */
static void command(mcp_client *c, struct state *s, unsigned char op)
{
	unsigned k = 1 + (op / 7) % (2 * NTRK);

	switch (op % 7) {
	case 4:
		take(c, s, k, 1, (op & 0x80) ? MAXMSG + 1 : 64);
		return;
	case 5:
		take(c, s, k, 0, 0);
		return;
	case 6:
		/* a tracked id in flight cannot be tracked again */
		if (k <= NTRK && !s->trk[k].done && !s->trk[k].taken &&
		    mcp_client_track(c, TRK0 + k, "dup", NULL) != -1)
			abort();
		return;
	}
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
	struct mcp_client_limits lim = { .max_message = MAXMSG,
					 .max_server_reqs = 3,
					 .flood_per_sec = 50,
					 .max_bad = 8 };
	struct state s = { { 0 }, { { 0, 0 } }, 0, NULL };
	mcp_client *c = mcp_client_new(&ops, &s, &lim, "fuzz");
	const char *p = (const char *)data, *end = p + size;

	if (!c)
		return 0;
	for (int i = 1; i <= NREQ; i++) {
		struct mcp_client_req r = { 0, i % 2, done, &s.ended[i], NULL };
		if (mcp_client_request(c, "tools/call", NULL, &r) != i)
			abort();
	}
	for (int i = 1; i <= NTRK; i++) {
		struct mcp_client_req r = { 0, 0, trk_done, &s.trk[i], NULL };
		if (mcp_client_track(c, TRK0 + i, "tools/call", &r) != TRK0 + i)
			abort();
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n >= 2 && p[0] == '!')
			command(c, &s, (unsigned char)p[1]);
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
	for (int i = 1; i <= NTRK; i++)
		if (s.trk[i].done + s.trk[i].taken != 1)
			abort();
	json_decref(s.last_sreq);
	return 0;
}
