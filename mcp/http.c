/* The Streamable HTTP transport (MCP 2025-11-25) on libmicrohttpd: one
 * endpoint /mcp; POST answered with JSON when the response is the only
 * message, else with SSE; the standalone GET stream; DELETE; random
 * session ids; resumable streams (event ids, Last-Event-ID replay);
 * Host and Origin checks against DNS rebinding; caps on body, headers,
 * sessions, connections and buffered events. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_internal.h"
#include "rev2026.h"
#include "session_methods.h"
#include "transport.h"

/* ---- small helpers ---- */

static struct MHD_Response *text_response(const char *body)
{
	return MHD_create_response_from_buffer(strlen(body), (void *)body,
					       MHD_RESPMEM_MUST_COPY);
}

/* Queues a plain status with a short JSON-RPC error body (or none). */
static enum MHD_Result reply_status(struct MHD_Connection *c, unsigned status,
				    int code, const char *msg)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *body = NULL;

	if (msg) {
		json_t *e = jr_error(NULL, code, msg, NULL);
		body = e ? jr_dump(e, NULL) : NULL;
		json_decref(e);
	}
	r = text_response(body ? body : "");
	free(body);
	if (!r)
		return MHD_NO;
	if (msg)
		MHD_add_response_header(r, "Content-Type", "application/json");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow", "GET, POST, DELETE");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result http_queue_json(struct MHD_Connection *c,
				struct MHD_Response *r, unsigned status,
				const char *session_id)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (session_id)
		MHD_add_response_header(r, "Mcp-Session-Id", session_id);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status,
				  const char *json, size_t len,
				  const char *session_id)
{
	return http_queue_json(
		c,
		MHD_create_response_from_buffer(len, (void *)json,
						MHD_RESPMEM_MUST_COPY),
		status, session_id);
}

/* A refused client: 401 (with the Bearer challenge) or 403, with a
 * JSON-RPC error body saying why, so that clients can show something. */
static enum MHD_Result reply_denied(struct MHD_Connection *c, unsigned status)
{
	const char *msg = status == MHD_HTTP_UNAUTHORIZED
				  ? "Unauthorized: this endpoint needs "
				    "Authorization: Bearer TOKEN with its token"
				  : "Forbidden: this endpoint does not admit "
				    "this client";
	json_t *e = jr_error(NULL, MCP_ERR_INVALID_REQUEST, msg, NULL);
	char *body = e ? jr_dump(e, NULL) : NULL;
	struct MHD_Response *r = text_response(body ? body : "");
	enum MHD_Result ret;
	int has_body = body != NULL;

	json_decref(e);
	free(body);
	if (!r)
		return MHD_NO;
	if (has_body)
		MHD_add_response_header(r, "Content-Type", "application/json");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* Nonzero if the comma-separated Accept value admits type ("a/b"). */
static int accepts(const char *accept, const char *type)
{
	const char *slash = strchr(type, '/');
	size_t major = (size_t)(slash - type);

	if (!accept)
		return 0;
	for (const char *p = accept; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ",;");
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if ((n == strlen(type) && strncasecmp(p, type, n) == 0) ||
		    (n == 3 && strncmp(p, "*/*", 3) == 0) ||
		    (n == major + 2 && strncasecmp(p, type, major + 1) == 0 &&
		     p[major + 1] == '*'))
			return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

/* ---- Host and Origin (DNS rebinding protection) ---- */

static int is_loopback_name(const char *h, size_t n)
{
	return (n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
	       (n == 9 && strncmp(h, "127.0.0.1", 9) == 0) ||
	       (n == 5 && strncmp(h, "[::1]", 5) == 0) ||
	       (n == 3 && strncmp(h, "::1", 3) == 0);
}

/* Length of the host part of "host[:port]" or "[v6][:port]". */
static size_t host_len(const char *h)
{
	if (h[0] == '[') {
		const char *close = strchr(h, ']');
		return close ? (size_t)(close - h + 1) : strlen(h);
	}
	return strcspn(h, ":");
}

/* Nonzero if p (what follows the host part) is empty or ":PORT". */
static int port_tail_ok(const char *p)
{
	size_t n;

	if (*p == '\0')
		return 1;
	if (*p != ':')
		return 0;
	n = strspn(p + 1, "0123456789");
	return n >= 1 && n <= 5 && p[1 + n] == '\0';
}

/* The DNS-rebinding checks of a loopback endpoint. Host: nonzero if
 * host ("name[:port]" or "[v6][:port]") names localhost, 127.0.0.1 or
 * ::1; NULL is refused. Origin: nonzero if origin is absent (not a
 * browser) or http(s)://one of those names[:port], the whole host
 * compared (so http://localhost.evil.example is refused). */
static int loopback_host_ok(const char *host)
{
	return host && is_loopback_name(host, host_len(host)) &&
	       port_tail_ok(host + host_len(host));
}

static int loopback_origin_ok(const char *origin)
{
	const char *rest;
	size_t n;

	if (!origin)
		return 1; /* not a browser */
	if (strncasecmp(origin, "http://", 7) == 0)
		rest = origin + 7;
	else if (strncasecmp(origin, "https://", 8) == 0)
		rest = origin + 8;
	else
		return 0;
	/* the whole host, not a prefix: http://localhost.evil.example is
	 * another site */
	n = host_len(rest);
	return is_loopback_name(rest, n) && port_tail_ok(rest + n);
}

static int host_allowed(const struct mcp_http *h, const char *host)
{
	size_t n;

	if (!host)
		return 0;
	n = host_len(host);
	if (!port_tail_ok(host + n))
		return 0;
	if (h->hosts) {
		for (const char *const *p = h->hosts; *p; p++)
			if (strlen(*p) == n && strncasecmp(*p, host, n) == 0)
				return 1;
		return 0;
	}
	if (h->any_host)
		return 1;
	if (loopback_host_ok(host))
		return h->loopback;
	return strlen(h->bind_host) == n &&
	       strncasecmp(h->bind_host, host, n) == 0;
}

static int origin_allowed(const struct mcp_http *h, const char *origin)
{
	if (origin && h->origins) {
		for (const char *const *p = h->origins; *p; p++)
			if (strcasecmp(*p, origin) == 0)
				return 1;
		return 0;
	}
	return loopback_origin_ok(origin);
}

/* ---- request context ---- */

static void hreq_free(struct hreq *q)
{
	if (!q)
		return;
	http_unwait(q);
	if (q->st)
		http_stream_detach(q->sess, q->st, q->completed_ok);
	if (q->counted) {
		pthread_mutex_lock(&q->h->mu);
		q->h->nsse_stateless--;
		pthread_cond_broadcast(&q->h->janitor_cv);
		pthread_mutex_unlock(&q->h->mu);
	}
	if (q->sess)
		http_session_unref(q->h, q->sess);
	free(q->body);
	free(q->out);
	free(q);
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct hreq *q = *con_cls;

	(void)cls;
	(void)c;
	if (q) {
		q->completed_ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
		hreq_free(q);
	}
	*con_cls = NULL;
}

/* Appends an upload chunk, enforcing the body cap. */
static void body_append(struct mcp_http *h, struct hreq *q, const char *data,
			size_t n)
{
	if (q->too_big || n == 0)
		return;
	if (q->len + n > h->cfg.max_body) {
		q->too_big = 1;
		return;
	}
	if (q->len + n > q->cap) {
		/* the first chunk is often the whole body: no larger buffer
		 * than needed (a large one costs malloc more) */
		size_t cap = q->cap ? q->cap : 512;
		while (cap < q->len + n)
			cap *= 2;
		if (cap > h->cfg.max_body)
			cap = h->cfg.max_body;
		char *b = realloc(q->body, cap);
		if (!b) {
			q->too_big = 1;
			return;
		}
		q->body = b;
		q->cap = cap;
	}
	memcpy(q->body + q->len, data, n);
	q->len += n;
}

/* Looks up the request's session from its Mcp-Session-Id header (sid, or
 * NULL without one): returns 0 and sets q->sess (a reference), or queues
 * the error response and returns -1. */
static int need_session(struct mcp_http *h, struct MHD_Connection *c,
			struct hreq *q, const char *sid, enum MHD_Result *ret)
{
	if (!sid) {
		*ret = reply_status(c, MHD_HTTP_BAD_REQUEST,
				    MCP_ERR_INVALID_REQUEST,
				    "Bad Request: Mcp-Session-Id header is "
				    "required");
		return -1;
	}
	q->sess = http_session_get(h, sid);
	/* another identity's session is not one this request may see */
	if (q->sess && h->cfg.backend && h->cfg.backend->identify &&
	    strcmp(q->sess->who, q->who) != 0) {
		http_session_unref(h, q->sess);
		q->sess = NULL;
	}
	if (!q->sess) {
		*ret = reply_status(c, MHD_HTTP_NOT_FOUND,
				    MCP_ERR_INVALID_REQUEST,
				    "Session not found");
		return -1;
	}
	return 0;
}

static int version_header_ok(struct MHD_Connection *c)
{
	const char *v = header(c, "MCP-Protocol-Version");

	return !v || mcp_version_supported(v);
}

/* mcp_header_fn over a connection's request headers. */
static const char *header_of(void *ctx, const char *name)
{
	return header(ctx, name);
}

/* Gathers Mcp-Param-* headers into the carried form (param_headers.h). */
struct carry {
	json_t *obj;
	const char *why;
};

static enum MHD_Result carry_one(void *cls, enum MHD_ValueKind kind,
				 const char *key, const char *value)
{
	struct carry *k = cls;

	(void)kind;
	return mcp_param_carry_add(k->obj, key, value, &k->why) ? MHD_NO
								: MHD_YES;
}

/* A backend holds no tool schemas: the request's Mcp-Param-* headers go
 * with it in _meta to the engine that resolves the tool (gatewayd, or
 * mcpd behind the relay's channel). 0, or -1 with *out (over the caps). */
static int carry_params(struct MHD_Connection *c, struct jr_msg *m,
			struct mcp_rev_refusal *out)
{
	struct carry k = { json_object(), NULL };

	if (!k.obj)
		k.why = "out of memory";
	else
		MHD_get_connection_values(c, MHD_HEADER_KIND, carry_one, &k);
	if (k.why)
		json_decref(k.obj);
	else if (mcp_param_carry_set(m->params, k.obj) != 0) /* steals */
		k.why = "out of memory";
	if (!k.why)
		return 0;
	out->status = 400;
	out->code = MCP_ERR_HEADER_MISMATCH;
	out->msg = k.why;
	out->data = NULL;
	return -1;
}

/* 1 when the request says it speaks the stateless revision. */
static int is_rev2026(struct MHD_Connection *c)
{
	const char *v = header(c, "MCP-Protocol-Version");

	return v && strcmp(v, MCP_REV2026) == 0;
}

/* ---- POST ---- */

/* Answers a refused stateless request: its status, and a JSON-RPC error
 * with the request's id. Frees out->data. */
static enum MHD_Result reply_refusal(struct MHD_Connection *c, json_t *id,
				     struct mcp_rev_refusal *out)
{
	json_t *e = jr_error(id, out->code, out->msg, out->data);
	size_t len;
	char *body = e ? jr_dump(e, &len) : NULL;
	enum MHD_Result ret;

	json_decref(e);
	ret = body ? reply_json(c, out->status, body, len, NULL) : MHD_NO;
	free(body);
	return ret;
}

/* One 2026-07-28 request: checked, then run on a session of its own that
 * ends with it (no Mcp-Session-Id, no GET stream). Steals m. Mcp-Param-*
 * headers are checked here for mcpd's own engine (h->srv holds the tool
 * schemas); a backend gets them with the request, carried in _meta, for
 * its engine to check (param_headers.h). */
static enum MHD_Result post_stateless(struct mcp_http *h,
				      struct MHD_Connection *c, struct hreq *q,
				      struct jr_msg *m, const char *version)
{
	struct mcp_rev_refusal why;
	enum MHD_Result ret;

	if (mcp_rev2026_check(m, version, header(c, "Mcp-Method"),
			      header(c, "Mcp-Name"), &why) != 0 ||
	    (h->srv &&
	     mcp_rev2026_check_params(h->srv, m, header_of, c, &why) != 0) ||
	    (!h->srv && carry_params(c, m, &why) != 0)) {
		ret = reply_refusal(c, m->id, &why);
		jr_msg_clear(m);
		return ret;
	}
	q->sess =
		http_session_stateless(h, json_object_get(m->params, "_meta"));
	if (!q->sess) {
		jr_msg_clear(m);
		return reply_status(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				    MCP_ERR_INTERNAL, "out of memory");
	}
	return http_post_request(h, c, q, m);
}

static enum MHD_Result post_begin(struct mcp_http *h, struct MHD_Connection *c,
				  struct hreq *q)
{
	const char *ct = header(c, "Content-Type");
	const char *cl = header(c, "Content-Length");
	const char *accept = header(c, "Accept");

	if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))
		return reply_status(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
				    MCP_ERR_INVALID_REQUEST,
				    "Content-Type must be application/json");
	if (!accepts(accept, "application/json") ||
	    !accepts(accept, "text/event-stream"))
		return reply_status(c, MHD_HTTP_NOT_ACCEPTABLE,
				    MCP_ERR_INVALID_REQUEST,
				    "Accept must list application/json and "
				    "text/event-stream");
	if (cl) {
		/* a malformed length is libmicrohttpd's to refuse */
		uint64_t n;
		if (zg_parse_uint(cl, NULL, 0, UINT64_MAX, &n) == 0 &&
		    n > h->cfg.max_body)
			return reply_status(c, MHD_HTTP_CONTENT_TOO_LARGE,
					    MCP_ERR_INVALID_REQUEST,
					    "request body too large");
	}
	q->kind = HREQ_POST;
	return MHD_YES;
}

/* An initialize that was answered (not still waiting) without a session
 * coming of it leaves no session behind. */
static void init_answered(struct mcp_http *h, struct hreq *q)
{
	if (q->is_init && !q->waiting && !http_session_initialized(q->sess))
		http_session_destroy(h, q->sess);
}

static enum MHD_Result post_initialize(struct mcp_http *h,
				       struct MHD_Connection *c, struct hreq *q,
				       struct jr_msg *m)
{
	enum MHD_Result ret;

	q->sess = http_session_create(h, q->who);
	if (!q->sess) {
		jr_msg_clear(m);
		return reply_status(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				    MCP_ERR_INTERNAL,
				    "too many sessions, try again later");
	}
	q->is_init = 1;
	ret = http_post_request(h, c, q, m);
	init_answered(h, q);
	return ret;
}

static enum MHD_Result post_end(struct mcp_http *h, struct MHD_Connection *c,
				struct hreq *q)
{
	struct jr_msg m;
	enum MHD_Result ret;
	/* each looked up once: libmicrohttpd walks the header list per
	 * lookup */
	const char *sid = header(c, "Mcp-Session-Id");
	const char *version = header(c, "MCP-Protocol-Version");

	if (q->too_big)
		return reply_status(c, MHD_HTTP_CONTENT_TOO_LARGE,
				    MCP_ERR_INVALID_REQUEST,
				    "request body too large");
	jr_parse(q->body ? q->body : "", q->len, h->limits.max_message,
		 h->limits.max_depth, &m);
	if (m.kind == JR_INVALID || m.kind == JR_BATCH) {
		json_t *e = jr_error(m.id,
				     m.kind == JR_BATCH
					     ? MCP_ERR_INVALID_REQUEST
					     : m.err_code,
				     m.kind == JR_BATCH
					     ? "batches are not supported"
					     : m.err,
				     NULL);
		size_t len;
		char *body = e ? jr_dump(e, &len) : NULL;
		json_decref(e);
		jr_msg_clear(&m);
		ret = body ? reply_json(c, MHD_HTTP_BAD_REQUEST, body, len,
					NULL)
			   : MHD_NO;
		free(body);
		return ret;
	}
	if (!sid && m.kind != JR_REQUEST && version &&
	    strcmp(version, MCP_REV2026) == 0) {
		/* A stateless notification has no session to act on (a
		 * request is cancelled by closing its connection). */
		jr_msg_clear(&m);
		return reply_status(c, MHD_HTTP_ACCEPTED, 0, NULL);
	}
	if (!sid && mcp_rev2026_wanted(&m, version) &&
	    mcp_server_serves(h->srv, MCP_REVS_STATELESS))
		return post_stateless(h, c, q, &m, version);
	if (version && !mcp_version_supported(version)) {
		jr_msg_clear(&m);
		return reply_status(c, MHD_HTTP_BAD_REQUEST,
				    MCP_ERR_INVALID_REQUEST,
				    "Bad Request: unsupported "
				    "MCP-Protocol-Version");
	}
	if (m.kind == JR_REQUEST && strcmp(m.method, "initialize") == 0)
		return post_initialize(h, c, q, &m);
	if (need_session(h, c, q, sid, &ret) != 0) {
		jr_msg_clear(&m);
		return ret;
	}
	if (m.kind != JR_REQUEST) {
		http_session_input(q->sess, &m);
		return reply_status(c, MHD_HTTP_ACCEPTED, 0, NULL);
	}
	return http_post_request(h, c, q, &m);
}

/* ---- GET and DELETE ---- */

static enum MHD_Result do_get(struct mcp_http *h, struct MHD_Connection *c,
			      struct hreq *q)
{
	enum MHD_Result ret;

	if (!accepts(header(c, "Accept"), "text/event-stream"))
		return reply_status(c, MHD_HTTP_NOT_ACCEPTABLE,
				    MCP_ERR_INVALID_REQUEST,
				    "Accept must list text/event-stream");
	if (need_session(h, c, q, header(c, "Mcp-Session-Id"), &ret) != 0)
		return ret;
	return http_get_stream(h, c, q, header(c, "Last-Event-ID"));
}

static enum MHD_Result do_delete(struct mcp_http *h, struct MHD_Connection *c,
				 struct hreq *q)
{
	enum MHD_Result ret;

	if (need_session(h, c, q, header(c, "Mcp-Session-Id"), &ret) != 0)
		return ret;
	http_session_destroy(h, q->sess);
	return reply_status(c, MHD_HTTP_OK, 0, NULL);
}

/* ---- the MHD access handler ---- */

static enum MHD_Result first_call(struct mcp_http *h, struct MHD_Connection *c,
				  const char *url, const char *method,
				  void **con_cls)
{
	struct hreq *q;
	char who[MCP_HTTP_WHO_MAX + 1] = "";

	if (h->cfg.backend && h->cfg.backend->identify) {
		unsigned st =
			h->cfg.backend->identify(h->cfg.backend->ctx, c, who);
		if (st)
			return reply_denied(c, st);
	} else if (h->cfg.backend && h->cfg.backend->authorize) {
		unsigned st = h->cfg.backend->authorize(h->cfg.backend->ctx, c);
		if (st)
			return reply_denied(c, st);
	}
	http_conn_admit(h, c);
	if (strcmp(url, "/mcp") != 0)
		return reply_status(c, MHD_HTTP_NOT_FOUND, 0, NULL);
	if (!host_allowed(h, header(c, "Host")))
		return reply_status(c, MHD_HTTP_FORBIDDEN,
				    MCP_ERR_INVALID_REQUEST,
				    "Forbidden: Host not allowed");
	if (!origin_allowed(h, header(c, "Origin")))
		return reply_status(c, MHD_HTTP_FORBIDDEN,
				    MCP_ERR_INVALID_REQUEST,
				    "Forbidden: Origin not allowed");
	/* 2026-07-28 has no GET stream and no session to DELETE. */
	if (strcmp(method, "POST") != 0 && !header(c, "Mcp-Session-Id") &&
	    is_rev2026(c))
		return reply_status(c, MHD_HTTP_METHOD_NOT_ALLOWED, 0, NULL);
	/* A POST's version is checked with its body (2026-07-28 requests
	 * carry it in _meta too). */
	if (strcmp(method, "POST") != 0 && !version_header_ok(c))
		return reply_status(c, MHD_HTTP_BAD_REQUEST,
				    MCP_ERR_INVALID_REQUEST,
				    "Bad Request: unsupported "
				    "MCP-Protocol-Version");
	q = calloc(1, sizeof(*q));
	if (!q)
		return MHD_NO;
	q->h = h;
	q->fd = -1;
	q->conn = c;
	q->loop = http_loop_current();
	memcpy(q->who, who, sizeof(who));
	*con_cls = q;
	if (strcmp(method, "POST") == 0)
		return post_begin(h, c, q);
	if (strcmp(method, "GET") == 0)
		q->kind = HREQ_GET;
	else if (strcmp(method, "DELETE") == 0)
		q->kind = HREQ_DELETE;
	else
		return reply_status(c, MHD_HTTP_METHOD_NOT_ALLOWED, 0, NULL);
	return MHD_YES;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct mcp_http *h = cls;
	struct hreq *q = *con_cls;

	(void)version;
	if (!q)
		return first_call(h, c, url, method, con_cls);
	if (q->waiting) { /* resumed: the session has news */
		enum MHD_Result ret = http_post_answer(h, c, q);
		init_answered(h, q);
		return ret;
	}
	if (q->answered) {
		*upload_data_size = 0; /* drain whatever still arrives */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		body_append(h, q, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	q->answered = 1;
	switch (q->kind) {
	case HREQ_POST:
		return post_end(h, c, q);
	case HREQ_GET:
		return do_get(h, c, q);
	case HREQ_DELETE:
		return do_delete(h, c, q);
	default:
		return reply_status(c, MHD_HTTP_METHOD_NOT_ALLOWED, 0, NULL);
	}
}

/* ---- start and stop ---- */

static int resolve_bind(struct mcp_http *h, const char *host,
			unsigned short port, struct sockaddr_storage *ss,
			char *err, size_t errlen)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		h->loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
		h->any_host = v4->sin_addr.s_addr == htonl(INADDR_ANY);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		h->loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
		h->any_host = IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr);
		h->v6 = 1;
	} else {
		snprintf(err, errlen, "not a numeric IP address: %s", host);
		return -1;
	}
	snprintf(h->bind_host, sizeof(h->bind_host), "%s%s%s", h->v6 ? "[" : "",
		 host, h->v6 ? "]" : "");
	return 0;
}

static void apply_defaults(struct mcp_http *h,
			   const struct mcp_http_config *cfg)
{
	h->cfg = *cfg;
	if (!h->cfg.max_body)
		h->cfg.max_body = MCP_DEFAULT_MAX_MESSAGE;
	/* 16 KiB, as node:http (and so the SDK's servers) allow: libmicrohttpd
	 * zeroes a connection's whole memory pool (its size is this cap) after
	 * every request, which at 64 KiB was 6-7% of mcpd's CPU per call */
	if (!h->cfg.max_header)
		h->cfg.max_header = 16 * 1024;
	if (!h->cfg.max_sessions)
		h->cfg.max_sessions = 256;
	if (!h->cfg.max_connections)
		h->cfg.max_connections = 512;
	if (!h->cfg.max_pending)
		h->cfg.max_pending = h->cfg.max_connections / 4;
	if (h->cfg.max_pending < 1 ||
	    h->cfg.max_pending > h->cfg.max_connections)
		h->cfg.max_pending = h->cfg.max_connections;
	if (!h->cfg.header_timeout)
		h->cfg.header_timeout = 10;
	if (!h->cfg.session_timeout)
		h->cfg.session_timeout = 1800;
	if (!h->cfg.sse_keepalive)
		h->cfg.sse_keepalive = 15;
	if (!h->cfg.standalone_max_events)
		h->cfg.standalone_max_events = HTTP_MAX_STREAM_EVENTS;
	if (!h->cfg.standalone_max_bytes ||
	    h->cfg.standalone_max_bytes > HTTP_MAX_STREAM_BYTES)
		h->cfg.standalone_max_bytes = HTTP_MAX_STREAM_BYTES;
	h->origins = cfg->origins;
	h->hosts = cfg->hosts;
}

/* HTTPS when cfg has a certificate: copies of the PEM texts for
 * libmicrohttpd (which keeps pointers to them) and MHD_USE_TLS, if this
 * libmicrohttpd was built with TLS. */
static int tls_setup(struct mcp_http *h, const struct mcp_http_config *cfg,
		     unsigned *flags, char *err, size_t errlen)
{
	if (!cfg->tls_cert_pem && !cfg->tls_key_pem)
		return 0;
	if (!cfg->tls_cert_pem || !cfg->tls_key_pem) {
		snprintf(err, errlen, "TLS needs a certificate and a key");
		return -1;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(err, errlen, "this libmicrohttpd has no TLS support");
		return -1;
	}
	h->tls_cert = strdup(cfg->tls_cert_pem);
	h->tls_key = strdup(cfg->tls_key_pem);
	if (!h->tls_cert || !h->tls_key) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*flags |= MHD_USE_TLS | MHD_USE_ITC; /* ITC: mcp_http_set_tls */
	return 0;
}

/* A libmicrohttpd daemon of h on listening socket fd (> 0; our own
 * address ss otherwise), HTTPS with cert and key when given (they must
 * outlive the daemon), and the event thread that drives it. NULL on
 * failure (errno). */
static struct http_loop *daemon_start(struct mcp_http *h, int fd,
				      const struct sockaddr_storage *ss,
				      const char *cert, const char *key)
{
	struct MHD_OptionItem where[] = {
		fd > 0 ? (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd,
						  NULL }
		       : (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0,
						  (void *)ss },
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct MHD_Daemon *d;
	struct http_loop *l;
	int e;

	if (cert) {
		where[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT,
						    0, (void *)cert };
		where[2] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
						    (void *)key };
	}
	/* Until admitted, a connection has header_timeout (and the reaper's
	 * deadline); http_conn_admit raises it. */
	d = MHD_start_daemon(
		h->flags, fd > 0 ? 0 : h->cfg.port, http_conn_accept, h,
		access_cb, h, MHD_OPTION_ARRAY, where,
		MHD_OPTION_CONNECTION_LIMIT, http_conn_table_limit(h),
		MHD_OPTION_NOTIFY_CONNECTION, http_conn_notify, h,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)h->cfg.header_timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)h->cfg.max_header,
		MHD_OPTION_NOTIFY_COMPLETED, completed_cb, h, MHD_OPTION_END);
	if (!d)
		return NULL;
	l = http_loop_start(d);
	if (!l) {
		e = errno;
		MHD_stop_daemon(d);
		errno = e;
	}
	return l;
}

int mcp_http_set_tls(struct mcp_http *h, const char *cert_pem,
		     const char *key_pem, char *err, size_t errlen)
{
	const union MHD_DaemonInfo *i =
		h->tls_cert
			? MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD)
			: NULL;
	char *cert = strdup(cert_pem), *key = strdup(key_pem);
	int fd = i ? dup(i->listen_fd) : -1;
	struct http_loop *nl = NULL;
	struct http_retired *r;

	if (!i || !cert || !key || fd < 0) {
		snprintf(err, errlen, "%s",
			 !i ? "not an HTTPS endpoint" : "out of resources");
		goto fail;
	}
	/* the new daemon is up (the pair is good) before the old one
	 * stops accepting on the shared socket */
	nl = daemon_start(h, fd, NULL, cert, key);
	if (!nl) {
		snprintf(err, errlen,
			 "the TLS certificate and key are not a matching "
			 "PEM pair");
		goto fail;
	}
	if (h->nretired == HTTP_RETIRED_MAX) { /* the oldest goes now */
		http_loop_stop(h->retired[0].loop);
		close(h->retired[0].fd);
		free(h->retired[0].cert);
		free(h->retired[0].key);
		memmove(h->retired, h->retired + 1,
			(HTTP_RETIRED_MAX - 1) * sizeof(h->retired[0]));
		h->nretired--;
	}
	r = &h->retired[h->nretired++];
	r->loop = h->loop;
	r->cert = h->tls_cert;
	r->key = h->tls_key;
	r->fd = http_loop_quiesce(h->loop); /* closed after it stops */
	h->loop = nl;
	h->d = http_loop_daemon(nl);
	h->tls_cert = cert;
	h->tls_key = key;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(cert);
	free(key);
	return -1;
}

struct mcp_http *mcp_http_start(mcp_server *srv,
				const struct mcp_http_config *cfg, char *err,
				size_t errlen)
{
	struct mcp_http *h = calloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	/* Event-driven: one epoll thread of ours (http_loop.c) serves every
	 * connection; a request that waits (on a worker, or an SSE stream on
	 * its events) suspends its connection instead of holding a thread. */
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_TURBO;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* every call builds and frees some fifty small JSON values */
	jr_alloc_install();
	h->srv = srv;
	if (srv) {
		h->limits = srv->limits;
	} else {
		h->limits.max_message = cfg->max_body ? cfg->max_body
						      : MCP_DEFAULT_MAX_MESSAGE;
		h->limits.max_depth = 64;
	}
	apply_defaults(h, cfg);
	pthread_mutex_init(&h->cmu, NULL);
	if (resolve_bind(h, cfg->host ? cfg->host : "127.0.0.1", cfg->port, &ss,
			 err, errlen) != 0)
		goto fail;
	if (cfg->listen_fd > 0)
		h->loopback = 1; /* a unix socket: only local clients */
	if (h->v6)
		flags |= MHD_USE_IPv6;
	if (tls_setup(h, cfg, &flags, err, errlen) != 0)
		goto fail;
	if (http_sessions_init(h) != 0) {
		snprintf(err, errlen, "cannot start the session janitor");
		goto fail;
	}
	h->flags = flags;
	h->loop = daemon_start(h, cfg->listen_fd, &ss, h->tls_cert, h->tls_key);
	if (!h->loop) {
		snprintf(err, errlen, "cannot listen: %s%s", strerror(errno),
			 h->tls_cert ? " (or the TLS certificate and key "
				       "are not a matching PEM pair)"
				     : "");
		http_sessions_shutdown(h);
		goto fail;
	}
	h->d = http_loop_daemon(h->loop);
	return h;
fail:
	pthread_mutex_destroy(&h->cmu);
	free(h->tls_cert);
	free(h->tls_key);
	free(h);
	return NULL;
}

unsigned short mcp_http_port(const struct mcp_http *h)
{
	const union MHD_DaemonInfo *i =
		MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!i || getsockname(i->listen_fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Waits (at most 2 s) for the SSE responses of stateless requests to
 * end, so that the last events of ended subscriptions reach their
 * clients before MHD closes every connection. */
static void drain_stateless(struct mcp_http *h)
{
	struct timespec until;

	mcp_deadline_after(&until, 2000);
	pthread_mutex_lock(&h->mu);
	while (h->nsse_stateless > 0 &&
	       pthread_cond_timedwait(&h->janitor_cv, &h->mu, &until) !=
		       ETIMEDOUT)
		;
	pthread_mutex_unlock(&h->mu);
}

void mcp_http_stop(struct mcp_http *h)
{
	if (!h)
		return;
	/* Subscribers get their graceful end (2026-07-28), then every
	 * suspended connection is resumed (MHD refuses to stop with any
	 * still suspended), then MHD stops, then the sessions are freed. */
	if (h->srv) {
		mcp_server_end_listens(h->srv);
		drain_stateless(h);
	}
	http_sessions_stopping(h);
	http_loop_stop(h->loop);
	for (unsigned i = 0; i < h->nretired; i++) {
		http_loop_stop(h->retired[i].loop);
		if (h->retired[i].fd >= 0)
			close(h->retired[i].fd);
		free(h->retired[i].cert);
		free(h->retired[i].key);
	}
	http_sessions_shutdown(h);
	pthread_mutex_destroy(&h->cmu);
	free(h->tls_cert);
	free(h->tls_key);
	free(h);
}
