/* The stdio transport: one MCP session on a pair of file descriptors,
 * newline-delimited JSON-RPC in both directions, plus 2026-07-28
 * stateless requests, each on a session of its own, chosen per request by
 * the version its _meta carries. Logs never go to the output fd; lines
 * over the message cap are refused without buffering them whole. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp_internal.h"
#include "rev2026.h"
#include "session_methods.h"
#include "transport.h"

/* Per connection: stateless requests in flight, and of them open
 * subscriptions/listen requests. */
#define STDIO_MAX_STATELESS 64
#define STDIO_MAX_LISTENS 16

struct stdio_out {
	pthread_mutex_t mu;
	int fd;
	int dead;
};

/* One stateless request and its session; freed by the reader once done. */
struct sreq {
	struct stdio_conn *conn;
	mcp_session *s;
	json_t *id;
	int listen;
	atomic_int done;
	struct sreq *next;
};

struct stdio_conn {
	mcp_server *srv;
	struct stdio_out out;
	mcp_session *legacy; /* initialize and everything without _meta */
	struct sreq *reqs;   /* reader thread only */
	unsigned nreqs, nlistens;
};

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int stdio_send(void *ctx, const json_t *related, const char *msg,
		      size_t len)
{
	struct stdio_out *o = ctx;
	int rc = -1;

	(void)related;
	pthread_mutex_lock(&o->mu);
	if (!o->dead) {
		/* One write for message and newline keeps lines whole even
		 * if another process shares the fd. */
		char *buf = malloc(len + 1);
		if (buf) {
			memcpy(buf, msg, len);
			buf[len] = '\n';
			rc = write_all(o->fd, buf, len + 1);
			free(buf);
		}
		if (rc != 0)
			o->dead = 1;
	}
	pthread_mutex_unlock(&o->mu);
	return rc;
}

/* done callback of a stateless request's session: writes its response
 * (none when cancelled) and lets the reader free it. */
static void sreq_done(void *ctx, const json_t *id, const char *msg, size_t len)
{
	struct sreq *r = ctx;

	(void)id;
	if (msg)
		stdio_send(&r->conn->out, NULL, msg, len);
	atomic_store(&r->done, 1);
}

static int sreq_send(void *ctx, const json_t *related, const char *msg,
		     size_t len)
{
	struct sreq *r = ctx;

	return stdio_send(&r->conn->out, related, msg, len);
}

static void sreq_free(struct stdio_conn *c, struct sreq *r, int drain)
{
	if (drain)
		mcp_session_drain(r->s, 30000);
	mcp_session_free(r->s);
	c->nreqs--;
	c->nlistens -= (unsigned)r->listen;
	json_decref(r->id);
	free(r);
}

/* Frees the stateless requests that are done. */
static void reap(struct stdio_conn *c)
{
	for (struct sreq **pp = &c->reqs; *pp;) {
		struct sreq *r = *pp;
		if (atomic_load(&r->done)) {
			*pp = r->next;
			sreq_free(c, r, 0);
			continue;
		}
		pp = &r->next;
	}
}

/* Writes a JSON-RPC error for request id. */
static void reply_error(struct stdio_conn *c, json_t *id, int code,
			const char *msg, json_t *data)
{
	json_t *e = jr_error(id, code, msg, data);
	size_t len;
	char *text = e ? jr_dump(e, &len) : NULL;

	if (text)
		stdio_send(&c->out, NULL, text, len);
	free(text);
	json_decref(e);
}

static struct sreq *find_req(struct stdio_conn *c, const json_t *id)
{
	for (struct sreq *r = c->reqs; r; r = r->next)
		if (!atomic_load(&r->done) && jr_id_equal(r->id, id))
			return r;
	return NULL;
}

/* A 2026-07-28 request: checked, then run on a session of its own.
 * Steals m's contents. */
static void stateless(struct stdio_conn *c, struct jr_msg *m)
{
	struct mcp_rev_refusal why;
	int listen = strcmp(m->method, "subscriptions/listen") == 0;
	struct sreq *r = NULL;

	if (mcp_rev2026_check_meta(m, &why) != 0) {
		reply_error(c, m->id, why.code, why.msg, why.data);
		goto out;
	}
	if (find_req(c, m->id)) {
		reply_error(c, m->id, MCP_ERR_INVALID_REQUEST,
			    "request id already in flight", NULL);
		goto out;
	}
	if (c->nreqs >= STDIO_MAX_STATELESS ||
	    (listen && c->nlistens >= STDIO_MAX_LISTENS)) {
		reply_error(c, m->id, MCP_ERR_INVALID_REQUEST,
			    listen ? "too many subscriptions on this connection"
				   : "too many requests in flight",
			    NULL);
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

/* notifications/cancelled for a stateless request goes to its session. */
static int route_cancel(struct stdio_conn *c, struct jr_msg *m)
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

static void handle_line(struct stdio_conn *c, char *line, size_t len)
{
	struct jr_msg m;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	jr_parse(line, len, c->srv->limits.max_message,
		 c->srv->limits.max_depth, &m);
	if (m.kind == JR_REQUEST && mcp_rev2026_wanted(&m, NULL))
		stateless(c, &m);
	else if (!route_cancel(c, &m))
		mcp_session_input_msg(c->legacy, &m);
	reap(c);
}

static void refuse_oversize(struct stdio_conn *c)
{
	static const char msg[] = "{\"jsonrpc\":\"2.0\",\"id\":null,"
				  "\"error\":{\"code\":-32600,\"message\":"
				  "\"message too large\"}}";
	/* Through the shared sender so the write is serialized. */
	stdio_send(&c->out, NULL, msg, sizeof(msg) - 1);
}

int mcp_stdio_serve(mcp_server *srv, int in_fd, int out_fd)
{
	struct stdio_conn c = { .srv = srv, .out = { .fd = out_fd } };
	size_t cap = srv->limits.max_message + 2, len = 0;
	char *buf = malloc(cap);
	int skipping = 0, rc = 0;

	if (!buf)
		return -1;
	pthread_mutex_init(&c.out.mu, NULL);
	c.legacy = mcp_session_new(srv, stdio_send, &c.out);
	if (!c.legacy) {
		free(buf);
		return -1;
	}
	for (;;) {
		ssize_t r = read(in_fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -1 : 0;
			break;
		}
		size_t end = len + (size_t)r, start = 0;
		for (size_t i = len; i < end; i++) {
			if (buf[i] != '\n')
				continue;
			if (!skipping)
				handle_line(&c, buf + start, i - start);
			skipping = 0;
			start = i + 1;
		}
		memmove(buf, buf + start, end - start);
		len = end - start;
		if (len == cap) { /* a line longer than the cap */
			if (!skipping)
				refuse_oversize(&c);
			skipping = 1;
			len = 0;
		}
		if (c.out.dead) {
			rc = -1;
			break;
		}
	}
	if (!skipping && len > 0 && rc == 0)
		handle_line(&c, buf, len);
	if (rc == 0)
		mcp_session_drain(c.legacy, 30000);
	mcp_session_free(c.legacy);
	/* EOF ends subscriptions (the client is gone); requests still
	 * running may finish, as the legacy session's do. */
	while (c.reqs) {
		struct sreq *r = c.reqs;
		c.reqs = r->next;
		sreq_free(&c, r, rc == 0);
	}
	pthread_mutex_destroy(&c.out.mu);
	free(buf);
	return rc;
}
