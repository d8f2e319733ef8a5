/* The relay's optional loopback Streamable HTTP endpoint: each HTTP MCP
 * session (Mcp-Session-Id) is one stream of the channel. A POSTed request
 * is answered with an SSE stream carrying what the server sends meanwhile
 * (progress, logs, its own requests) and then the response; notifications
 * and responses get 202; GET opens the session's standalone stream for
 * what is unrelated to any request. libmicrohttpd runs a thread per
 * connection; only the relay's poll thread touches the multiplexer,
 * through a work queue. */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <zonegate/mcp.h>

#include "transport.h"

#define MAX_SESSIONS 64
#define IDLE_SECONDS 1800 /* a session unused this long is ended */
#define BACKLOG_MAX 256	  /* messages kept for a GET stream not yet open */
#define BACKLOG_BYTES_MAX (4u << 20) /* and their bytes */
#define STREAM_BYTES_MAX (16u << 20) /* queued for one SSE stream */

struct hmsg {
	struct hmsg *next;
	size_t len;
	char data[];
};

struct hsess;

struct hreq {
	struct hreq *next;
	struct relay_http *h;
	struct hsess *s;
	json_t *id;
	json_t *ptok; /* params._meta.progressToken, or NULL */
	struct hmsg *head, *tail;
	size_t qbytes; /* bytes in head..tail */
	int done;
	char *cur; /* the SSE event being written */
	size_t curlen, curoff;
};

struct hsess {
	struct hsess *next;
	char id[33];
	uint32_t sid;
	int dead, closed; /* dead: no more traffic; closed: CLOSE queued */
	struct hreq *reqs;
	struct hreq *get; /* the standalone GET stream, if open */
	/* unrelated messages waiting for a GET stream (bounded) */
	struct hmsg *bhead, *btail;
	size_t bcount, bbytes;
	time_t used;
};

enum { W_OPEN, W_SEND, W_CLOSE };

struct work {
	struct work *next;
	int type;
	struct hsess *s;
	struct hreq *q; /* failed if the send cannot be made */
	size_t len;
	char data[];
};

struct relay_http {
	struct MHD_Daemon *d;
	unsigned port;
	int evfd, stopping;
	size_t max_message;
	int keepalive_s; /* an SSE comment on a stream silent this long */
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct hsess *sessions;
	unsigned nsess;
	struct work *wq, *wq_tail;
};

struct body {
	char *p;
	size_t n;
	int too_big;
};

/* ---- queue to the poll thread (caller holds the lock) --------------- */

static int push_work(struct relay_http *h, int type, struct hsess *s,
		     struct hreq *q, const char *p, size_t n)
{
	struct work *w = malloc(sizeof(*w) + n);
	uint64_t one = 1;

	if (!w)
		return -1;
	w->next = NULL;
	w->type = type;
	w->s = s;
	w->q = q;
	w->len = n;
	if (n)
		memcpy(w->data, p, n);
	if (h->wq_tail)
		h->wq_tail->next = w;
	else
		h->wq = w;
	h->wq_tail = w;
	if (write(h->evfd, &one, sizeof(one)) < 0) {
		/* already signalled */
	}
	return 0;
}

static void free_msgs(struct hmsg *m)
{
	struct hmsg *n;

	for (; m; m = n) {
		n = m->next;
		free(m);
	}
}

/* Frees s once it is dead, its CLOSE went out and no request uses it. */
static void maybe_free_session(struct relay_http *h, struct hsess *s)
{
	struct hsess **pp;

	if (!s->dead || !s->closed || s->reqs || s->get)
		return;
	for (pp = &h->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			h->nsess--;
			free_msgs(s->bhead);
			free(s);
			return;
		}
	}
}

static void kill_session(struct hsess *s)
{
	s->dead = 1;
	for (struct hreq *q = s->reqs; q; q = q->next)
		q->done = 1;
	if (s->get)
		s->get->done = 1;
}

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- poll thread side ---------------------------------------------- */

/* Clients that never DELETE their sessions must not fill the table:
 * idle ones end (caller locks). */
static void expire_idle(struct relay_http *h)
{
	time_t now = mono_s();

	for (struct hsess *s = h->sessions; s; s = s->next) {
		if (!s->dead && !s->reqs && !s->get &&
		    now - s->used > IDLE_SECONDS) {
			kill_session(s);
			push_work(h, W_CLOSE, s, NULL, NULL, 0);
		}
	}
}

void relay_http_pump(struct relay_http *h, chan_mux *m)
{
	struct work *w, *n;
	uint64_t v;

	if (read(h->evfd, &v, sizeof(v)) < 0) {
		/* nothing queued */
	}
	pthread_mutex_lock(&h->lock);
	expire_idle(h);
	w = h->wq;
	h->wq = h->wq_tail = NULL;
	for (; w; w = n) {
		n = w->next;
		if (w->type == W_OPEN && !w->s->dead) {
			w->s->sid = chan_mux_open_stream(m);
			if (!w->s->sid)
				kill_session(w->s);
		} else if (w->type == W_SEND && !w->s->dead &&
			   chan_mux_send(m, w->s->sid, w->data, w->len) != 0) {
			if (w->q)
				w->q->done = 1;
		} else if (w->type == W_CLOSE) {
			if (w->s->sid)
				chan_mux_close_stream(m, w->s->sid);
			w->s->closed = 1;
			maybe_free_session(h, w->s);
		}
		free(w);
	}
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->lock);
}

static struct hsess *by_sid(struct relay_http *h, uint32_t sid)
{
	for (struct hsess *s = h->sessions; s; s = s->next)
		if (s->sid == sid && !s->dead)
			return s;
	return NULL;
}

/* Appends a copy of p[0..n) to the list head..tail; 0 or -1. */
static int msgs_append(struct hmsg **head, struct hmsg **tail, const uint8_t *p,
		       size_t n)
{
	struct hmsg *m = malloc(sizeof(*m) + n);

	if (!m)
		return -1;
	m->next = NULL;
	m->len = n;
	memcpy(m->data, p, n);
	if (*tail)
		(*tail)->next = m;
	else
		*head = m;
	*tail = m;
	return 0;
}

/* Queues a message for an SSE stream. An HTTP client that lets more
 * than STREAM_BYTES_MAX pile up is not reading: its stream is ended
 * rather than the relay's memory growing. */
static void req_push(struct hreq *q, const uint8_t *p, size_t n)
{
	if (q->qbytes + n > STREAM_BYTES_MAX) {
		if (!q->done)
			fprintf(stderr, "zonegate-relay: HTTP client not "
					"reading; its stream is ended\n");
		q->done = 1;
		return;
	}
	if (msgs_append(&q->head, &q->tail, p, n) == 0)
		q->qbytes += n;
}

/* Keeps a message for the GET stream not yet open: the newest
 * BACKLOG_MAX messages and BACKLOG_BYTES_MAX bytes at most. */
static void backlog_push(struct hsess *s, const uint8_t *p, size_t n)
{
	if (n > BACKLOG_BYTES_MAX ||
	    msgs_append(&s->bhead, &s->btail, p, n) < 0)
		return;
	s->bcount++;
	s->bbytes += n;
	while (s->bcount > BACKLOG_MAX || s->bbytes > BACKLOG_BYTES_MAX) {
		struct hmsg *old = s->bhead;
		s->bhead = old->next;
		if (!s->bhead)
			s->btail = NULL;
		s->bcount--;
		s->bbytes -= old->len;
		free(old);
	}
}

/* A response goes to the request with its id and ends it; a message
 * that names its request (_meta MCP_META_RELATED, as mcpd and gatewayd
 * send on channels) to that one; progress to the request that asked for
 * it by its token; list changes and resource updates to the session's
 * GET stream; anything else to the newest open request of the session,
 * or the GET stream when none is open. What is meant for a GET stream
 * that is not open is kept (the newest BACKLOG_MAX messages) until one
 * opens. */
int relay_http_on_data(struct relay_http *h, uint32_t sid, const uint8_t *p,
		       size_t len)
{
	json_t *j = json_loadb((const char *)p, len, 0, NULL);
	json_t *id = j ? json_object_get(j, "id") : NULL;
	const char *meth = json_string_value(json_object_get(j, "method"));
	int is_resp = id && !meth;
	json_t *params = json_object_get(j, "params");
	json_t *rel = json_object_get(json_object_get(params, "_meta"),
				      MCP_META_RELATED);
	json_t *tok = meth && strcmp(meth, "notifications/progress") == 0
			      ? json_object_get(params, "progressToken")
			      : NULL;
	int unrelated = meth && (strcmp(meth, "notifications/resources/"
					      "updated") == 0 ||
				 (strncmp(meth, "notifications/", 14) == 0 &&
				  strstr(meth, "/list_changed")));
	struct hsess *s;
	struct hreq *q, *target = NULL;

	pthread_mutex_lock(&h->lock);
	s = by_sid(h, sid);
	for (q = s ? s->reqs : NULL; q; q = q->next) {
		if (q->done)
			continue;
		if (is_resp	? json_equal(q->id, id)
		    : rel	? json_equal(q->id, rel)
		    : tok	? q->ptok && json_equal(q->ptok, tok)
		    : unrelated ? 0
				: !target)
			target = q;
		if ((is_resp || rel || tok) && target)
			break;
	}
	if (target) {
		req_push(target, p, len);
		target->done = is_resp;
		pthread_cond_broadcast(&h->cv);
	} else if (s && !is_resp && !rel && !tok) {
		/* unrelated, or no request open: the GET stream, or kept
		 * (the newest BACKLOG_MAX) until one opens */
		if (s->get && !s->get->done) {
			req_push(s->get, p, len);
			pthread_cond_broadcast(&h->cv);
		} else {
			backlog_push(s, p, len);
		}
	}
	pthread_mutex_unlock(&h->lock);
	json_decref(j);
	return s != NULL;
}

int relay_http_on_close(struct relay_http *h, uint32_t sid)
{
	struct hsess *s;

	pthread_mutex_lock(&h->lock);
	s = by_sid(h, sid);
	if (s) {
		kill_session(s);
		push_work(h, W_CLOSE, s, NULL, NULL, 0);
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->lock);
	return s != NULL;
}

void relay_http_down(struct relay_http *h)
{
	pthread_mutex_lock(&h->lock);
	for (struct hsess *s = h->sessions; s; s = s->next)
		kill_session(s);
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->lock);
}

/* ---- HTTP side ------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code,
			     const char *json)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(json), (void *)json,
						MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	rc = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result rpc_error(struct MHD_Connection *c, unsigned code,
				 int rpc, const char *msg)
{
	char buf[256];

	snprintf(buf, sizeof(buf),
		 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
		 "{\"code\":%d,\"message\":\"%s\"}}",
		 rpc, msg);
	return reply(c, code, buf);
}

/* Formats the next queued message of q as an SSE event; caller locks. */
static int next_event(struct hreq *q)
{
	struct hmsg *m = q->head;
	static const char pre[] = "event: message\ndata: ";

	if (!m)
		return -1;
	q->head = m->next;
	if (!q->head)
		q->tail = NULL;
	q->qbytes -= m->len;
	q->curlen = sizeof(pre) - 1 + m->len + 2;
	q->cur = malloc(q->curlen);
	if (q->cur) {
		memcpy(q->cur, pre, sizeof(pre) - 1);
		memcpy(q->cur + sizeof(pre) - 1, m->data, m->len);
		memcpy(q->cur + q->curlen - 2, "\n\n", 2);
	}
	q->curoff = 0;
	free(m);
	return q->cur ? 0 : -1;
}

/* MHD content reader: blocks (in this connection's thread) for the next
 * SSE bytes of request q; ends after the response. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct hreq *q = cls;
	struct relay_http *h = q->h;
	struct timespec ts, now;
	time_t quiet_until;
	ssize_t rc;
	size_t n;

	pthread_mutex_lock(&h->lock);
	clock_gettime(CLOCK_MONOTONIC, &now);
	quiet_until = now.tv_sec + h->keepalive_s;
	while (!q->cur && !q->head && !q->done && !h->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec >= quiet_until && max >= 3) {
			/* a comment: keeps proxies from timing the stream
			 * out, and finds a client that has gone away */
			memcpy(buf, ":\n\n", 3);
			pthread_mutex_unlock(&h->lock);
			return 3;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&h->cv, &h->lock, &ts);
	}
	if (!q->cur && next_event(q) < 0) {
		rc = MHD_CONTENT_READER_END_OF_STREAM;
		goto out;
	}
	n = q->curlen - q->curoff < max ? q->curlen - q->curoff : max;
	memcpy(buf, q->cur + q->curoff, n);
	q->curoff += n;
	if (q->curoff == q->curlen) {
		free(q->cur);
		q->cur = NULL;
	}
	rc = (ssize_t)n;
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static void sse_free(void *cls)
{
	struct hreq *q = cls, **pp;
	struct relay_http *h = q->h;

	pthread_mutex_lock(&h->lock);
	if (q->s->get == q)
		q->s->get = NULL;
	for (pp = &q->s->reqs; *pp; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	}
	maybe_free_session(h, q->s);
	pthread_mutex_unlock(&h->lock);
	free_msgs(q->head);
	free(q->cur);
	json_decref(q->id);
	json_decref(q->ptok);
	free(q);
}

static int session_id(char out[33])
{
	unsigned char r[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, r, sizeof(r)) : -1;

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(r))
		return -1;
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* Finds or (for initialize) creates the session; caller locks. */
static struct hsess *session_for(struct relay_http *h, const char *sid_hdr,
				 int is_init, unsigned *status)
{
	struct hsess *s;

	if (sid_hdr) {
		for (s = h->sessions; s; s = s->next) {
			if (strcmp(s->id, sid_hdr) == 0 && !s->dead) {
				s->used = mono_s();
				return s;
			}
		}
		*status = MHD_HTTP_NOT_FOUND;
		return NULL;
	}
	*status = MHD_HTTP_BAD_REQUEST;
	if (!is_init)
		return NULL;
	*status = MHD_HTTP_SERVICE_UNAVAILABLE;
	if (h->nsess >= MAX_SESSIONS)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s || session_id(s->id) < 0 ||
	    push_work(h, W_OPEN, s, NULL, NULL, 0) < 0) {
		free(s);
		return NULL;
	}
	s->used = mono_s();
	s->next = h->sessions;
	h->sessions = s;
	h->nsess++;
	return s;
}

static enum MHD_Result sse_response(struct MHD_Connection *c,
				    struct relay_http *h, struct hsess *s,
				    struct hreq *q, int is_init)
{
	struct MHD_Response *r =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 << 10,
						  sse_read, q, sse_free);
	enum MHD_Result rc;

	if (!r) {
		sse_free(q);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	if (is_init)
		MHD_add_response_header(r, "Mcp-Session-Id", s->id);
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

/* One POSTed JSON-RPC message: forwarded on the session's stream. */
static enum MHD_Result handle_post(struct MHD_Connection *c,
				   struct relay_http *h, struct body *b)
{
	const char *sid_hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							  "Mcp-Session-Id");
	json_t *j = json_loadb(b->p, b->n, 0, NULL);
	json_t *id = j ? json_object_get(j, "id") : NULL;
	json_t *method = j ? json_object_get(j, "method") : NULL;
	int is_req = id && json_is_string(method);
	int is_init = is_req &&
		      strcmp(json_string_value(method), "initialize") == 0;
	unsigned status = 0;
	struct hsess *s;
	struct hreq *q = NULL;
	enum MHD_Result rc;

	if (!json_is_object(j)) {
		json_decref(j);
		return rpc_error(c, MHD_HTTP_BAD_REQUEST, -32700,
				 "parse error: one JSON-RPC object expected");
	}
	pthread_mutex_lock(&h->lock);
	s = session_for(h, sid_hdr, is_init, &status);
	if (s && is_req) {
		q = calloc(1, sizeof(*q));
		if (q) {
			q->h = h;
			q->s = s;
			q->id = json_incref(id);
			q->ptok = json_incref(json_object_get(
				json_object_get(json_object_get(j, "params"),
						"_meta"),
				"progressToken"));
			q->next = s->reqs;
			s->reqs = q;
		}
	}
	if (s && (!is_req || q))
		push_work(h, W_SEND, s, q, b->p, b->n);
	pthread_mutex_unlock(&h->lock);
	json_decref(j);
	if (!s)
		return rpc_error(c, status, -32000,
				 status == MHD_HTTP_NOT_FOUND
					 ? "unknown session"
					 : "no session");
	if (!q && is_req)
		return rpc_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, -32603,
				 "out of memory");
	if (!is_req) {
		struct MHD_Response *r =
			MHD_create_response_from_buffer(0, NULL,
							MHD_RESPMEM_PERSISTENT);
		rc = MHD_queue_response(c, MHD_HTTP_ACCEPTED, r);
		MHD_destroy_response(r);
		return rc;
	}
	return sse_response(c, h, s, q, is_init);
}

/* GET: the session's standalone SSE stream, for what the server sends
 * unrelated to any request (list changes, resource updates). One per
 * session (another GET meanwhile gets 409); no resumption. */
static enum MHD_Result handle_get(struct MHD_Connection *c,
				  struct relay_http *h)
{
	const char *sid_hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							  "Mcp-Session-Id");
	const char *acc =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
	unsigned status = MHD_HTTP_BAD_REQUEST;
	struct hsess *s = NULL;
	struct hreq *q = NULL;

	if (!acc || !strstr(acc, "text/event-stream"))
		return rpc_error(c, MHD_HTTP_NOT_ACCEPTABLE, -32000,
				 "GET needs Accept: text/event-stream");
	pthread_mutex_lock(&h->lock);
	if (sid_hdr)
		s = session_for(h, sid_hdr, 0, &status);
	if (s && s->get) {
		pthread_mutex_unlock(&h->lock);
		return rpc_error(c, MHD_HTTP_CONFLICT, -32000,
				 "a GET stream is already open for this "
				 "session");
	}
	if (s)
		q = calloc(1, sizeof(*q));
	if (q) {
		q->h = h;
		q->s = s;
		q->head = s->bhead;
		q->tail = s->btail;
		q->qbytes = s->bbytes;
		s->bhead = s->btail = NULL;
		s->bcount = s->bbytes = 0;
		s->get = q;
	}
	pthread_mutex_unlock(&h->lock);
	if (!s)
		return rpc_error(c, status, -32000,
				 status == MHD_HTTP_NOT_FOUND
					 ? "unknown session"
					 : "no session");
	if (!q)
		return rpc_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, -32603,
				 "out of memory");
	return sse_response(c, h, s, q, 0);
}

static enum MHD_Result handle_delete(struct MHD_Connection *c,
				     struct relay_http *h)
{
	const char *sid_hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							  "Mcp-Session-Id");
	struct hsess *s = NULL;
	unsigned status = MHD_HTTP_NOT_FOUND;

	pthread_mutex_lock(&h->lock);
	if (sid_hdr)
		s = session_for(h, sid_hdr, 0, &status);
	if (s) {
		kill_session(s);
		push_work(h, W_CLOSE, s, NULL, NULL, 0);
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->lock);
	return reply(c, s ? MHD_HTTP_OK : status, "{}");
}

/* DNS rebinding: the loopback endpoint answers only requests naming a
 * loopback Host, from no browser or a loopback page (mcp's checks). */
static const char *rebinding_refused(struct MHD_Connection *c)
{
	if (!mcp_http_loopback_host_ok(
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host")))
		return "Forbidden: Host not allowed";
	if (!mcp_http_loopback_origin_ok(
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin")))
		return "Forbidden: Origin not allowed";
	return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *data,
				  size_t *size, void **ctx)
{
	struct relay_http *h = cls;
	struct body *b = *ctx;

	if (!b) {
		b = calloc(1, sizeof(*b));
		*ctx = b;
		return b ? MHD_YES : MHD_NO;
	}
	if (*size) { /* body bytes, capped before they are kept */
		if (!b->too_big && b->n + *size <= h->max_message) {
			char *np = realloc(b->p, b->n + *size);
			if (np) {
				memcpy(np + b->n, data, *size);
				b->p = np;
				b->n += *size;
			}
		} else {
			b->too_big = 1;
		}
		*size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/mcp") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "{}");
	if (rebinding_refused(c))
		return rpc_error(c, MHD_HTTP_FORBIDDEN, -32600,
				 rebinding_refused(c));
	if (strcmp(method, "DELETE") == 0)
		return handle_delete(c, h);
	if (strcmp(method, "GET") == 0)
		return handle_get(c, h);
	if (strcmp(method, "POST") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "{}");
	if (b->too_big)
		return rpc_error(c, MHD_HTTP_CONTENT_TOO_LARGE, -32600,
				 "message too large");
	return handle_post(c, h, b);
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx,
		    enum MHD_RequestTerminationCode toe)
{
	struct body *b = *ctx;

	if (b) {
		free(b->p);
		free(b);
	}
	*ctx = NULL;
}

struct relay_http *relay_http_start(const char *host, unsigned port,
				    size_t max_message, int keepalive_s,
				    char *err, size_t errlen)
{
	struct relay_http *h = calloc(1, sizeof(*h));
	struct sockaddr_in sa = { 0 };
	const union MHD_DaemonInfo *di;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->max_message = max_message;
	h->keepalive_s = keepalive_s > 0 ? keepalive_s : 15;
	h->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(0x7f000001); /* host is loopback only */
	(void)host;
	h->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
					MHD_USE_INTERNAL_POLLING_THREAD,
				(uint16_t)port, NULL, NULL, on_request, h,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)128,
				MHD_OPTION_END);
	if (!h->d || h->evfd < 0) {
		snprintf(err, errlen, "cannot listen on 127.0.0.1:%u", port);
		relay_http_stop(h);
		return NULL;
	}
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : port;
	return h;
}

unsigned relay_http_port(struct relay_http *h)
{
	return h->port;
}

int relay_http_fd(struct relay_http *h)
{
	return h->evfd;
}

void relay_http_stop(struct relay_http *h)
{
	struct work *w, *n;
	struct hsess *s, *sn;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->lock);
	if (h->d)
		MHD_stop_daemon(h->d); /* joins connection threads */
	for (w = h->wq; w; w = n) {
		n = w->next;
		free(w);
	}
	for (s = h->sessions; s; s = sn) {
		sn = s->next;
		free_msgs(s->bhead);
		free(s);
	}
	if (h->evfd >= 0)
		close(h->evfd);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cv);
	free(h);
}
