/* The relay's optional loopback Streamable HTTP endpoint: mcp's transport
 * (mcp/http.c, the one mcpd and gatewayd's listeners serve) with the
 * channel as its session engine, so Host/Origin checks, connection caps,
 * the pending-connection deadline, sessions, streams and SSE are shared.
 * Each HTTP session is one stream of the channel. The transport's threads
 * never touch the multiplexer: they queue work for the relay's poll
 * thread (an eventfd wakes it), which hands the server's messages back to
 * the transport to route to the POST and GET streams. */
#include "relay.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zonegate/mcp.h>

#include "jsonrpc.h"
#include "transport.h"

#define SESSIONS_MAX 64		     /* HTTP sessions, each a channel stream */
#define CONNECTIONS_MAX 256	     /* concurrent HTTP connections */
#define PENDING_CONNS_MAX 128	     /* of those, not yet past a request */
#define HEADER_TIMEOUT 10	     /* seconds a pending connection lives */
#define QUEUE_MAX_BYTES (64u << 20)  /* waiting for the poll thread */
#define BACKLOG_MAX 256		     /* messages kept for a GET stream */
#define BACKLOG_BYTES_MAX (4u << 20) /* and their bytes */

enum { W_OPEN, W_DATA, W_CLOSE };

struct rsess;

/* Work for the poll thread, in the order the HTTP threads queued it. */
struct work {
	struct work *next;
	int kind;
	struct rsess *rs;
	json_t *id; /* W_DATA of a request: its id (owned), for a refusal */
	size_t len;
	char data[];
};

/* One HTTP session. hs, inited and init_id are under h->mu; the rest
 * belongs to the poll thread. */
struct rsess {
	struct relay_http *h;
	void *hs; /* the transport's handle; NULL once it closed */
	int inited;
	json_t *init_id;	 /* the initialize request's id */
	struct work *close_item; /* preallocated: closing never fails */
	uint32_t sid;		 /* its channel stream, 0 if none */
	int opened;		 /* W_OPEN ran */
	struct rsess *next;	 /* the poll thread's list */
};

struct relay_http {
	struct mcp_http *t;
	struct mcp_http_backend be;
	int evfd;
	pthread_mutex_t mu; /* the queue and the sessions' shared fields */
	struct work *qh, *qt;
	size_t qbytes;
	struct rsess *sessions; /* opened ones, poll thread only */
};

/* ---- the queue (any thread) -------------------------------------------- */

/* A new item carrying a copy of data[0..len); the caller owns it. NULL
 * when out of memory. */
static struct work *work_new(int kind, struct rsess *rs, const char *data,
			     size_t len)
{
	struct work *w = malloc(sizeof(*w) + len);

	if (!w)
		return NULL;
	w->next = NULL;
	w->kind = kind;
	w->rs = rs;
	w->id = NULL;
	w->len = len;
	if (len)
		memcpy(w->data, data, len);
	return w;
}

/* Queues w and wakes the poll thread; h->mu held. */
static void push_locked(struct relay_http *h, struct work *w)
{
	uint64_t one = 1;

	if (h->qt)
		h->qt->next = w;
	else
		h->qh = w;
	h->qt = w;
	h->qbytes += w->len;
	if (write(h->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		fprintf(stderr, "zonegate-relay: eventfd: %s\n",
			strerror(errno));
}

/* Answers request id of rs with error -32600 (it was not forwarded);
 * h->mu held. */
static void refuse_locked(struct rsess *rs, json_t *id, const char *why)
{
	json_t *e;
	char *txt;
	size_t len = 0;

	if (!rs->hs || !id)
		return;
	e = jr_error(id, MCP_ERR_INVALID_REQUEST, why, NULL);
	txt = e ? jr_dump(e, &len) : NULL;
	mcp_http_finish(rs->hs, id, txt, txt ? len : 0);
	free(txt);
	json_decref(e);
}

/* ---- the transport's backend (HTTP threads) ---------------------------- */

/* A new HTTP session: its stream is opened by the poll thread. Returns
 * the session (freed by the poll thread after be_close), or NULL when out
 * of memory (the transport then refuses the session). */
static void *be_open(void *ctx, void *hs)
{
	struct relay_http *h = ctx;
	struct rsess *rs = calloc(1, sizeof(*rs));
	struct work *open = NULL;

	if (!rs)
		return NULL;
	rs->h = h;
	rs->hs = hs;
	rs->close_item = work_new(W_CLOSE, rs, NULL, 0);
	open = work_new(W_OPEN, rs, NULL, 0);
	if (!rs->close_item || !open) {
		free(rs->close_item);
		free(open);
		free(rs);
		return NULL;
	}
	pthread_mutex_lock(&h->mu);
	push_locked(h, open);
	pthread_mutex_unlock(&h->mu);
	return rs;
}

/* A message from the HTTP client: forwarded on the session's stream by
 * the poll thread. A request that cannot be queued is answered now. */
static void be_input(void *sess, struct jr_msg *m)
{
	struct rsess *rs = sess;
	struct relay_http *h = rs->h;
	size_t len = 0;
	char *txt = jr_dump(m->root, &len);
	int is_req = m->kind == JR_REQUEST && m->id;
	struct work *w = NULL;

	pthread_mutex_lock(&h->mu);
	if (txt && h->qbytes + len <= QUEUE_MAX_BYTES)
		w = work_new(W_DATA, rs, txt, len);
	if (w && is_req) {
		w->id = json_deep_copy(m->id);
		if (!w->id) {
			free(w);
			w = NULL;
		}
	}
	if (w && is_req && strcmp(m->method, "initialize") == 0) {
		json_decref(rs->init_id);
		rs->init_id = json_deep_copy(m->id);
	}
	if (m->kind == JR_NOTIFICATION &&
	    strcmp(m->method, "notifications/cancelled") == 0 && m->params)
		/* no response will come for it: end its POST now */
		mcp_http_finish(rs->hs, json_object_get(m->params, "requestId"),
				NULL, 0);
	if (w)
		push_locked(h, w);
	else if (is_req)
		refuse_locked(rs, m->id, "the relay is busy: request not sent");
	pthread_mutex_unlock(&h->mu);
	free(txt);
	jr_msg_clear(m);
}

/* Nonzero once the server answered the session's initialize with a
 * result (set by the poll thread before the response is delivered). */
static int be_initialized(void *sess)
{
	struct rsess *rs = sess;
	int r;

	pthread_mutex_lock(&rs->h->mu);
	r = rs->inited;
	pthread_mutex_unlock(&rs->h->mu);
	return r;
}

/* The transport is done with the session: no message reaches it from
 * now on; the poll thread closes its stream and frees it. */
static void be_close(void *sess)
{
	struct rsess *rs = sess;
	struct relay_http *h = rs->h;

	pthread_mutex_lock(&h->mu);
	rs->hs = NULL;
	push_locked(h, rs->close_item); /* the poll thread frees rs */
	pthread_mutex_unlock(&h->mu);
}

/* ---- the poll thread ----------------------------------------------------- */

/* The opened session on channel stream sid, or NULL. */
static struct rsess *by_sid(struct relay_http *h, uint32_t sid)
{
	for (struct rsess *rs = h->sessions; rs; rs = rs->next)
		if (rs->sid == sid)
			return rs;
	return NULL;
}

/* Takes rs off the poll thread's list (it stays allocated). */
static void unlist(struct relay_http *h, struct rsess *rs)
{
	for (struct rsess **pp = &h->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == rs) {
			*pp = rs->next;
			return;
		}
	}
}

/* Ends rs's HTTP session (its stream is gone); the poll thread. */
static void end_session(struct relay_http *h, struct rsess *rs)
{
	pthread_mutex_lock(&h->mu);
	if (rs->hs)
		mcp_http_end(rs->hs);
	pthread_mutex_unlock(&h->mu);
}

/* Sends w's message on its session's stream, or answers its request with
 * -32600 saying why it could not be. */
static void forward(struct relay_http *h, chan_mux *m, struct work *w)
{
	struct rsess *rs = w->rs;
	int rc = m && rs->sid ? chan_mux_send(m, rs->sid, w->data, w->len) : -1;
	char why[128];

	if (rc == 0)
		return;
	if (!rs->sid)
		snprintf(why, sizeof(why),
			 "the relay has no channel stream for this session");
	else if (rc == CHAN_MUX_EFULL)
		snprintf(why, sizeof(why),
			 "the channel is busy: request not sent");
	else
		snprintf(why, sizeof(why),
			 "message too large for the channel (%zu bytes)",
			 w->len);
	if (!w->id)
		fprintf(stderr, "zonegate-relay: HTTP message not sent: %s\n",
			why);
	pthread_mutex_lock(&h->mu);
	refuse_locked(rs, w->id, why);
	pthread_mutex_unlock(&h->mu);
}

/* Runs and frees one item (m NULL: the mux is gone, only frees). */
static void run_work(struct relay_http *h, chan_mux *m, struct work *w)
{
	struct rsess *rs = w->rs;

	switch (w->kind) {
	case W_OPEN:
		rs->opened = 1;
		rs->sid = m ? chan_mux_open_stream(m) : 0;
		rs->next = h->sessions;
		h->sessions = rs;
		free(w);
		if (!rs->sid) /* no channel (yet): the client starts anew */
			end_session(h, rs);
		break;
	case W_DATA: /* without a mux or stream: refused with its id */
		forward(h, m, w);
		json_decref(w->id);
		free(w);
		break;
	case W_CLOSE:
		if (m && rs->sid)
			chan_mux_close_stream(m, rs->sid);
		if (rs->opened)
			unlist(h, rs);
		json_decref(rs->init_id);
		free(rs);
		free(w); /* rs->close_item */
		break;
	}
}

void relay_http_pump(struct relay_http *h, chan_mux *m)
{
	struct work *w, *next;
	uint64_t v;

	if (read(h->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&h->mu);
	w = h->qh;
	h->qh = h->qt = NULL;
	h->qbytes = 0;
	pthread_mutex_unlock(&h->mu);
	for (; w; w = next) {
		next = w->next;
		run_work(h, m, w);
	}
}

/* Nonzero if msg is the successful response to rs's initialize; h->mu
 * held. Only a session not yet initialized parses for it. */
static int answers_initialize(struct rsess *rs, const uint8_t *p, size_t len)
{
	json_t *j = json_loadb((const char *)p, len, 0, NULL);
	int r = j && json_object_get(j, "result") &&
		jr_id_equal(json_object_get(j, "id"), rs->init_id);

	json_decref(j);
	return r;
}

int relay_http_on_data(struct relay_http *h, uint32_t sid, const uint8_t *p,
		       size_t len)
{
	struct rsess *rs = sid ? by_sid(h, sid) : NULL;

	if (!rs)
		return 0;
	pthread_mutex_lock(&h->mu);
	if (rs->hs) {
		/* before the response goes out: the transport then asks */
		if (!rs->inited && rs->init_id &&
		    answers_initialize(rs, p, len))
			rs->inited = 1;
		if (mcp_http_deliver(rs->hs, (const char *)p, len) != 0)
			fprintf(stderr, "zonegate-relay: a message for an HTTP "
					"session was dropped (not JSON, or its "
					"client is not reading)\n");
	}
	pthread_mutex_unlock(&h->mu);
	return 1;
}

int relay_http_on_close(struct relay_http *h, uint32_t sid)
{
	struct rsess *rs = sid ? by_sid(h, sid) : NULL;

	if (!rs)
		return 0;
	end_session(h, rs); /* its CLOSE still closes our side */
	return 1;
}

void relay_http_down(struct relay_http *h)
{
	for (struct rsess *rs = h->sessions; rs; rs = rs->next) {
		end_session(h, rs);
		rs->sid = 0; /* a new channel reuses stream ids */
	}
}

/* ---- start and stop -------------------------------------------------- */

struct relay_http *relay_http_start(const char *host, unsigned port,
				    size_t max_message, int keepalive_s,
				    char *err, size_t errlen)
{
	struct relay_http *h = calloc(1, sizeof(*h));
	struct mcp_http_config hc;
	char e2[256];

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	h->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->evfd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	h->be.ctx = h;
	h->be.open = be_open;
	h->be.input = be_input;
	h->be.initialized = be_initialized;
	h->be.close = be_close;
	memset(&hc, 0, sizeof(hc));
	hc.host = host;
	hc.port = (unsigned short)port;
	hc.max_body = max_message;
	hc.max_sessions = SESSIONS_MAX;
	hc.max_connections = CONNECTIONS_MAX;
	hc.max_pending = PENDING_CONNS_MAX;
	hc.header_timeout = HEADER_TIMEOUT;
	hc.sse_keepalive = keepalive_s > 0 ? (unsigned)keepalive_s : 0;
	hc.standalone_max_events = BACKLOG_MAX;
	hc.standalone_max_bytes = BACKLOG_BYTES_MAX;
	hc.backend = &h->be;
	h->t = mcp_http_start(NULL, &hc, e2, sizeof(e2));
	if (!h->t) {
		snprintf(err, errlen, "%s:%u: %s", host, port, e2);
		goto fail;
	}
	return h;
fail:
	relay_http_stop(h);
	return NULL;
}

unsigned relay_http_port(struct relay_http *h)
{
	return mcp_http_port(h->t);
}

int relay_http_fd(struct relay_http *h)
{
	return h->evfd;
}

void relay_http_stop(struct relay_http *h)
{
	if (!h)
		return;
	/* Stopping the transport ends every session, which queues their
	 * closes; running the queue without a mux frees them. */
	mcp_http_stop(h->t);
	if (h->evfd >= 0) {
		relay_http_pump(h, NULL);
		close(h->evfd);
	}
	pthread_mutex_destroy(&h->mu);
	free(h);
}
