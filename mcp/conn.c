/* One peer connection of a message transport (stdio, a channel stream):
 * its 2025-11-25-family session and its 2026-07-28 stateless requests,
 * each of those on a session of its own, chosen per request (stdio) or
 * once by the first request (a channel stream). See docs/mcpd.md and
 * docs/protocol.md. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mcp_internal.h"
#include "rev2026.h"
#include "session_methods.h"

/* Per connection: stateless requests in flight, and of them open
 * subscriptions/listen requests. */
#define CONN_MAX_STATELESS 64
#define CONN_MAX_LISTENS 16

enum conn_mode { MODE_OPEN, MODE_SESSION, MODE_STATELESS };

/* One stateless request and its session; freed by the input thread once
 * done. */
struct sreq {
	struct mcp_conn *conn;
	mcp_session *s;
	json_t *id;
	int listen;
	atomic_int done;
	struct sreq *next;
};

struct mcp_conn {
	mcp_server *srv;
	mcp_send_fn send;
	void *ctx;
	unsigned flags;
	enum conn_mode mode; /* MCP_CONN_PER_STREAM only */
	mcp_session *legacy; /* initialize and everything without _meta */
	struct sreq *reqs;   /* input thread only */
	unsigned nreqs, nlistens;
};

/* done callback of a stateless request's session: sends its response
 * (none when cancelled) and lets the input thread free it. */
static void sreq_done(void *ctx, const json_t *id, const char *msg, size_t len)
{
	struct sreq *r = ctx;

	if (msg)
		r->conn->send(r->conn->ctx, id, msg, len);
	atomic_store(&r->done, 1);
}

static int sreq_send(void *ctx, const json_t *related, const char *msg,
		     size_t len)
{
	struct sreq *r = ctx;

	return r->conn->send(r->conn->ctx, related, msg, len);
}

static void sreq_free(struct mcp_conn *c, struct sreq *r)
{
	mcp_session_free(r->s);
	c->nreqs--;
	c->nlistens -= (unsigned)r->listen;
	json_decref(r->id);
	free(r);
}

/* Frees the stateless requests that are done. */
static void reap(struct mcp_conn *c)
{
	for (struct sreq **pp = &c->reqs; *pp;) {
		struct sreq *r = *pp;
		if (atomic_load(&r->done)) {
			*pp = r->next;
			sreq_free(c, r);
			continue;
		}
		pp = &r->next;
	}
}

/* Sends a JSON-RPC error for request id. */
static void reply_error(struct mcp_conn *c, json_t *id, int code,
			const char *msg, json_t *data)
{
	json_t *e = jr_error(id, code, msg, data);
	size_t len;
	char *text = e ? jr_dump(e, &len) : NULL;

	if (text)
		c->send(c->ctx, id, text, len);
	free(text);
	json_decref(e);
}

static struct sreq *find_req(struct mcp_conn *c, const json_t *id)
{
	for (struct sreq *r = c->reqs; r; r = r->next)
		if (!atomic_load(&r->done) && jr_id_equal(r->id, id))
			return r;
	return NULL;
}

/* Why a stateless request cannot start now (NULL: it can). */
static const char *over_cap(struct mcp_conn *c, const struct jr_msg *m,
			    int listen)
{
	if (find_req(c, m->id))
		return "request id already in flight";
	if (c->nreqs >= CONN_MAX_STATELESS)
		return "too many requests in flight";
	if (listen && c->nlistens >= CONN_MAX_LISTENS)
		return "too many subscriptions on this connection";
	return NULL;
}

/* A 2026-07-28 request: checked, then run on a session of its own.
 * Steals m's contents. */
static void stateless(struct mcp_conn *c, struct jr_msg *m)
{
	struct mcp_rev_refusal why;
	int listen = strcmp(m->method, "subscriptions/listen") == 0;
	const char *busy;
	struct sreq *r = NULL;

	/* Mcp-Param headers, when an HTTP endpoint before the channel (the
	 * relay's) carried them in _meta */
	if (mcp_rev2026_check_meta(m, &why) != 0 ||
	    mcp_rev2026_check_carried(c->srv, m, &why) != 0) {
		reply_error(c, m->id, why.code, why.msg, why.data);
		goto out;
	}
	busy = over_cap(c, m, listen);
	if (busy) {
		reply_error(c, m->id, MCP_ERR_INVALID_REQUEST, busy, NULL);
		goto out;
	}
	r = calloc(1, sizeof(*r));
	if (r)
		r->s = mcp_session_new(c->srv, sreq_send, r);
	if (!r || !r->s) {
		free(r);
		reply_error(c, m->id, MCP_ERR_INTERNAL, "out of memory", NULL);
		goto out;
	}
	r->conn = c;
	r->id = json_incref(m->id);
	r->listen = listen;
	atomic_init(&r->done, 0);
	mcp_session_set_done(r->s, sreq_done);
	mcp_session_set_relate(r->s, (c->flags & MCP_CONN_RELATE) != 0);
	mcp_session_begin_stateless(r->s, json_object_get(m->params, "_meta"));
	r->next = c->reqs;
	c->reqs = r;
	c->nreqs++;
	c->nlistens += (unsigned)listen;
	mcp_session_input_msg(r->s, m);
	return;
out:
	jr_msg_clear(m);
}

/* notifications/cancelled for a stateless request goes to its session.
 * Returns 1 if it did (m is consumed). */
static int route_cancel(struct mcp_conn *c, struct jr_msg *m)
{
	struct sreq *r;

	if (m->kind != JR_NOTIFICATION ||
	    strcmp(m->method, "notifications/cancelled") != 0)
		return 0;
	r = find_req(c, json_object_get(m->params, "requestId"));
	if (!r)
		return 0;
	mcp_session_input_msg(r->s, m);
	return 1;
}

/* Whether request m runs stateless: per request, or as the stream's
 * first request decided. */
static int takes_stateless(struct mcp_conn *c, const struct jr_msg *m)
{
	/* a server without the revision treats its requests as any
	 * session-era server would (server/discover: an unknown method) */
	int wanted = mcp_rev2026_wanted(m, NULL) &&
		     mcp_server_serves(c->srv, MCP_REVS_STATELESS);

	if (!(c->flags & MCP_CONN_PER_STREAM))
		return wanted;
	if (c->mode == MODE_OPEN)
		c->mode = wanted ? MODE_STATELESS : MODE_SESSION;
	return c->mode == MODE_STATELESS;
}

mcp_conn *mcp_conn_new(mcp_server *srv, mcp_send_fn send, void *ctx,
		       unsigned flags)
{
	mcp_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->srv = srv;
	c->send = send;
	c->ctx = ctx;
	c->flags = flags;
	c->legacy = mcp_session_new(srv, send, ctx);
	if (!c->legacy) {
		free(c);
		return NULL;
	}
	mcp_session_set_relate(c->legacy, (flags & MCP_CONN_RELATE) != 0);
	return c;
}

int mcp_conn_input(mcp_conn *c, const char *msg, size_t len)
{
	struct jr_msg m;
	int rc = 0;

	jr_parse(msg, len, c->srv->limits.max_message, c->srv->limits.max_depth,
		 &m);
	if (m.kind == JR_REQUEST && takes_stateless(c, &m)) {
		stateless(c, &m);
		rc = 1;
	} else if (!route_cancel(c, &m)) {
		rc = mcp_session_input_msg(c->legacy, &m);
	}
	reap(c);
	return rc;
}

int mcp_conn_drain(mcp_conn *c, int timeout_ms)
{
	int rc = mcp_session_drain(c->legacy, timeout_ms);

	/* Subscriptions are not calls: draining does not wait for them. */
	for (struct sreq *r = c->reqs; r; r = r->next)
		if (mcp_session_drain(r->s, timeout_ms) != 0)
			rc = -1;
	return rc;
}

void mcp_conn_free(mcp_conn *c)
{
	if (!c)
		return;
	mcp_session_free(c->legacy);
	while (c->reqs) {
		struct sreq *r = c->reqs;
		c->reqs = r->next;
		sreq_free(c, r);
	}
	free(c);
}
