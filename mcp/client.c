/* The MCP client core: request table, deadlines, caps, dispatch and the
 * handshake, on a transport the caller gives (mcp/include/client.h). One
 * lock guards the table; callbacks always run without it. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "jsonrpc.h"
#include "mcp_internal.h"
#include "rev2026.h"
#include "utf8.h"

#define METHOD_MAX 64	 /* bytes of a method kept for messages */
#define WAIT_SLICE_MS 20 /* how often a blocked call looks at cancel */

struct pend {
	int64_t id;
	struct pend *hnext; /* its bucket's chain */
	int64_t deadline;   /* monotonic ms */
	int progress;	    /* carries our progress token */
	int busy;	    /* a progress callback runs for it */
	int tracked;	    /* sent by the caller (mcp_client_track) */
	mcp_client_done_fn done;
	void *done_ud; /* done's */
	void *ud;      /* progress's (the caller's) */
	char method[METHOD_MAX];
	struct pend *prev, *next;
};

struct mcp_client {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* an answer, a feed, a progress callback ended */
	const struct mcp_client_ops *ops;
	void *ud;
	struct mcp_client_limits lim;
	char name[64];

	struct pend *pend;
	unsigned npend;
	struct pend **tab; /* the table by id: buckets, tmask + 1 of them */
	size_t tmask;
	int64_t first; /* no deadline before (expire's early way out) */
	int64_t next_id;
	mcp_client_id_fn id_fn; /* mcp_client_set_ids */
	void *id_ud;
	json_t *sreqs; /* ids of server requests not answered yet */
	int broken;
	char why[160];

	int64_t window; /* flood accounting: this second, its count */
	unsigned in_window;
	unsigned bad;

	int stateless; /* 2026-07-28: every request carries _meta */
	json_t *caps;  /* the client capabilities offered */
	char version[16];
	json_t *server; /* initialize or discover result */
	struct mcp_client_stats st;

	char *line; /* mcp_client_feed_lines: a line so far */
	size_t line_len, line_cap;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned or_default(unsigned v, unsigned d)
{
	return v ? v : d;
}

mcp_client *mcp_client_new(const struct mcp_client_ops *ops, void *ud,
			   const struct mcp_client_limits *lim,
			   const char *client_name)
{
	mcp_client *c = calloc(1, sizeof(*c));
	struct mcp_client_limits z = { 0 };
	pthread_condattr_t ca;

	if (!c)
		return NULL;
	c->sreqs = json_array();
	if (!c->sreqs) {
		free(c);
		return NULL;
	}
	lim = lim ? lim : &z;
	c->lim.max_message = lim->max_message ? lim->max_message
					      : MCP_CLIENT_MAX_MESSAGE;
	c->lim.max_pending =
		or_default(lim->max_pending, MCP_CLIENT_MAX_PENDING);
	c->lim.max_server_reqs =
		or_default(lim->max_server_reqs, MCP_CLIENT_MAX_SERVER_REQS);
	c->lim.timeout_ms = or_default(lim->timeout_ms, MCP_CLIENT_TIMEOUT_MS);
	c->lim.init_timeout_ms =
		or_default(lim->init_timeout_ms, MCP_CLIENT_INIT_TIMEOUT_MS);
	c->lim.flood_per_sec =
		or_default(lim->flood_per_sec, MCP_CLIENT_FLOOD_PER_SEC);
	c->lim.max_bad = or_default(lim->max_bad, MCP_CLIENT_MAX_BAD);
	c->ops = ops;
	c->ud = ud;
	c->first = INT64_MAX;
	mcp_utf8_snprintf(c->name, sizeof(c->name), "%s",
			  client_name ? client_name : "zonegate");
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	return c;
}

const struct mcp_client_limits *mcp_client_limits(const mcp_client *c)
{
	return &c->lim;
}

/* ---- sending ---- */

/* Serializes msg (stolen) and hands it to the transport; 0 or -1. */
static int send_json(mcp_client *c, json_t *msg)
{
	size_t len;
	char *text = msg ? jr_dump(msg, &len) : NULL;
	int rc = -1;

	json_decref(msg);
	if (text && c->ops->send)
		rc = c->ops->send(c->ud, text, len);
	free(text);
	return rc;
}

int mcp_client_notify(mcp_client *c, const char *method, json_t *params)
{
	return send_json(c, jr_request(NULL, method, params));
}

static void send_cancelled(mcp_client *c, int64_t id, const char *reason)
{
	mcp_client_notify(c, "notifications/cancelled",
			  json_pack("{s:I, s:s}", "requestId", (json_int_t)id,
				    "reason", reason));
}

/* The 2026-07-28 _meta every stateless request carries (added to params'
 * _meta, created when missing). */
static void add_rev_meta(mcp_client *c, json_t *params)
{
	json_t *meta = json_object_get(params, "_meta");

	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(params, "_meta", meta);
	}
	json_object_set_new(meta, MCP_META_PROTOCOL_VERSION,
			    json_string(MCP_REV2026));
	json_object_set_new(meta, MCP_META_CLIENT_CAPS,
			    c->caps ? json_deep_copy(c->caps) : json_object());
	json_object_set_new(meta, MCP_META_CLIENT_INFO,
			    json_pack("{s:s, s:s}", "name", c->name, "version",
				      "1"));
}

static void set_progress_token(json_t *params, int64_t id)
{
	json_t *meta = json_object_get(params, "_meta");

	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(params, "_meta", meta);
	}
	json_object_set_new(meta, "progressToken", json_integer(id));
}

/* ---- the table (c->mu held) ---- */

/* The bucket of id: a multiplicative hash of it. */
static size_t bucket(const mcp_client *c, int64_t id)
{
	return (size_t)(((uint64_t)id * 0x9e3779b97f4a7c15ull) >> 32) &
	       c->tmask;
}

static struct pend *find(mcp_client *c, int64_t id)
{
	if (!c->tab)
		return NULL;
	for (struct pend *p = c->tab[bucket(c, id)]; p; p = p->hnext)
		if (p->id == id)
			return p;
	return NULL;
}

/* Enters p (its id and deadline set): 0, or -1 when out of memory. The
 * buckets (as many as max_pending, at least 16, at most 65536) are made
 * with the first entry. */
static int link_pend(mcp_client *c, struct pend *p)
{
	if (!c->tab) {
		size_t n = 16;
		while (n < c->lim.max_pending && n < 65536)
			n *= 2;
		c->tab = calloc(n, sizeof(*c->tab));
		if (!c->tab)
			return -1;
		c->tmask = n - 1;
	}
	p->hnext = c->tab[bucket(c, p->id)];
	c->tab[bucket(c, p->id)] = p;
	p->prev = NULL;
	p->next = c->pend;
	if (c->pend)
		c->pend->prev = p;
	c->pend = p;
	c->npend++;
	if (p->deadline < c->first)
		c->first = p->deadline;
	return 0;
}

/* Takes p out of the table once no progress callback runs for it. */
static void unlink_pend(mcp_client *c, struct pend *p)
{
	struct pend **pp = &c->tab[bucket(c, p->id)];

	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
	if (p->prev)
		p->prev->next = p->next;
	else
		c->pend = p->next;
	if (p->next)
		p->next->prev = p->prev;
	c->npend--;
	while (p->busy)
		pthread_cond_wait(&c->cv, &c->mu);
}

/* Ends p (already out of the table) without the lock: done, then a
 * wake-up for blocked calls. Frees p. */
static void finish(mcp_client *c, struct pend *p,
		   const struct mcp_client_answer *a)
{
	if (p->done)
		p->done(p->done_ud, a);
	free(p);
	pthread_mutex_lock(&c->mu);
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void finish_code(mcp_client *c, struct pend *p, int code,
			const char *msg)
{
	struct mcp_client_answer a = { code, NULL, NULL, msg, 0 };

	finish(c, p, &a);
}

/* method, cut to METHOD_MAX - 1 bytes (only our messages show it), into
 * out: a copy on every request, so a plain bounded one. */
static void copy_method(char out[METHOD_MAX], const char *method)
{
	size_t n = strnlen(method, METHOD_MAX - 1);

	memcpy(out, method, n);
	out[n] = '\0';
}

/* Enters a request (id 0: a new id) with r's deadline and progress,
 * ending in done(done_ud). Returns its id and *stateless (the revision's
 * _meta goes with it), or -1 with nothing entered: broken, over
 * max_pending, id in flight already, out of memory. */
static int64_t enter(mcp_client *c, int64_t id, const char *method,
		     const struct mcp_client_req *r, mcp_client_done_fn done,
		     void *done_ud, int tracked, int *stateless)
{
	struct pend *p = calloc(1, sizeof(*p));

	if (!p)
		return -1;
	if (id == 0 && c->id_fn) /* the caller's ids: outside the lock */
		id = c->id_fn(c->id_ud);
	pthread_mutex_lock(&c->mu);
	if (id == 0)
		id = ++c->next_id;
	if (c->broken || c->npend >= c->lim.max_pending || id <= 0 ||
	    find(c, id))
		goto refused;
	p->id = id;
	p->deadline = now_ms() + or_default(r->timeout_ms, c->lim.timeout_ms);
	p->progress = r->want_progress;
	p->done = done;
	p->done_ud = done_ud;
	p->ud = r->ud;
	p->tracked = tracked;
	copy_method(p->method, method);
	if (link_pend(c, p))
		goto refused;
	c->st.sent++;
	*stateless = c->stateless;
	pthread_mutex_unlock(&c->mu);
	return id;
refused:
	pthread_mutex_unlock(&c->mu);
	free(p);
	return -1;
}

/* mcp_client_request with done going to done(done_ud) instead of r's. */
static int64_t request(mcp_client *c, const char *method, json_t *params,
		       const struct mcp_client_req *r, mcp_client_done_fn done,
		       void *done_ud)
{
	struct pend *p;
	json_t *id, *msg;
	int64_t myid;
	int stateless = 0;

	if (!params)
		params = json_object();
	if (!params)
		return -1;
	myid = enter(c, 0, method, r, done, done_ud, 0, &stateless);
	if (myid < 0) {
		json_decref(params);
		return -1;
	}
	/* from here the request may end on another thread (an answer, the
	 * transport gone): only its id is used */
	if (r->want_progress)
		set_progress_token(params, myid);
	if (stateless)
		add_rev_meta(c, params);
	id = json_integer(myid);
	msg = jr_request(id, method, params); /* copies id */
	json_decref(id);
	if (send_json(c, msg) == 0)
		return myid;
	pthread_mutex_lock(&c->mu);
	p = find(c, myid);
	if (p)
		unlink_pend(c, p);
	pthread_mutex_unlock(&c->mu);
	if (!p) /* it ended meanwhile: done was called */
		return myid;
	free(p);
	return -1;
}

int64_t mcp_client_request(mcp_client *c, const char *method, json_t *params,
			   const struct mcp_client_req *r)
{
	static const struct mcp_client_req none = { 0 };

	r = r ? r : &none;
	return request(c, method, params, r, r->done, r->ud);
}

/* ---- requests the caller sends itself (table-only use) ---- */

void mcp_client_set_ids(mcp_client *c, mcp_client_id_fn fn, void *ud)
{
	pthread_mutex_lock(&c->mu);
	c->id_fn = fn;
	c->id_ud = ud;
	pthread_mutex_unlock(&c->mu);
}

int64_t mcp_client_track(mcp_client *c, int64_t id, const char *method,
			 const struct mcp_client_req *r)
{
	static const struct mcp_client_req none = { 0 };
	int stateless;

	r = r ? r : &none;
	if (id < 0)
		return -1;
	return enter(c, id, method, r, r->done, r->ud, 1, &stateless);
}

/* Takes request id out of the table (NULL when it is not there). */
static struct pend *take(mcp_client *c, int64_t id)
{
	struct pend *p;

	pthread_mutex_lock(&c->mu);
	p = find(c, id);
	if (p)
		unlink_pend(c, p);
	pthread_mutex_unlock(&c->mu);
	return p;
}

/* Takes tracked request id out of the table (NULL when it is not there,
 * or is one of the core's own, whose waiter needs its done); with the
 * lock still held (the caller counts, then unlocks). */
static struct pend *take_tracked_locked(mcp_client *c, int64_t id)
{
	struct pend *p;

	pthread_mutex_lock(&c->mu);
	p = find(c, id);
	if (p && p->tracked)
		unlink_pend(c, p);
	else
		p = NULL;
	return p;
}

int mcp_client_settle(mcp_client *c, int64_t id, size_t bytes)
{
	struct pend *p = take_tracked_locked(c, id);
	int over = bytes > c->lim.max_message;
	int rc = !p ? -1 : over ? -2 : 0;

	if (!p)
		c->st.unknown_responses++;
	else if (over)
		c->st.bad_messages++;
	else
		c->st.answered++;
	if (p && !over)
		c->st.bytes_in += bytes;
	pthread_mutex_unlock(&c->mu);
	free(p);
	return rc;
}

int mcp_client_forget(mcp_client *c, int64_t id)
{
	struct pend *p = take_tracked_locked(c, id);
	int rc = p ? 0 : -1;

	if (p)
		c->st.forgotten++;
	pthread_mutex_unlock(&c->mu);
	free(p);
	return rc;
}

int mcp_client_cancel(mcp_client *c, int64_t id, const char *reason)
{
	struct pend *p = take(c, id);

	if (!p)
		return -1;
	pthread_mutex_lock(&c->mu);
	c->st.cancelled++;
	pthread_mutex_unlock(&c->mu);
	send_cancelled(c, id, reason ? reason : "cancelled");
	finish_code(c, p, MCP_CLIENT_E_CANCELLED, "cancelled by the client");
	return 0;
}

unsigned mcp_client_expire(mcp_client *c)
{
	struct pend *late = NULL, *p, *nx;
	int64_t now = now_ms(), first;
	unsigned n = 0;
	int waited;
	char msg[128];

	pthread_mutex_lock(&c->mu);
	if (now < c->first) { /* nothing due: no walk of the table */
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
again:
	first = INT64_MAX;
	for (p = c->pend; p; p = nx) {
		nx = p->next;
		if (p->deadline > now) {
			if (p->deadline < first)
				first = p->deadline;
			continue;
		}
		waited = p->busy; /* then the list may change meanwhile */
		unlink_pend(c, p);
		p->next = late;
		late = p;
		c->st.timeouts++;
		n++;
		if (waited)
			goto again;
	}
	c->first = first;
	pthread_mutex_unlock(&c->mu);
	for (p = late; p; p = nx) {
		nx = p->next;
		send_cancelled(c, p->id, "timeout");
		snprintf(msg, sizeof(msg),
			 "no answer to %s within the deadline", p->method);
		finish_code(c, p, MCP_CLIENT_E_TIMEOUT, msg);
	}
	return n;
}

int mcp_client_timeout_ms(mcp_client *c)
{
	int64_t first = -1, now = now_ms();

	pthread_mutex_lock(&c->mu);
	for (struct pend *p = c->pend; p; p = p->next)
		if (first < 0 || p->deadline < first)
			first = p->deadline;
	pthread_mutex_unlock(&c->mu);
	if (first < 0)
		return -1;
	return first <= now		? 0
	       : first - now > 86400000 ? 86400000
					: (int)(first - now);
}

/* Ends every request with code and why; marks c broken. */
static void end_all(mcp_client *c, int code, const char *why)
{
	struct pend *all, *p, *nx;

	pthread_mutex_lock(&c->mu);
	c->broken = 1;
	if (!c->why[0])
		mcp_utf8_snprintf(c->why, sizeof(c->why), "%s", why);
again:
	for (p = c->pend; p; p = p->next) {
		if (p->busy) { /* a progress callback runs: let it end */
			pthread_cond_wait(&c->cv, &c->mu);
			goto again;
		}
	}
	all = c->pend;
	c->pend = NULL;
	c->npend = 0;
	if (c->tab)
		memset(c->tab, 0, (c->tmask + 1) * sizeof(*c->tab));
	pthread_mutex_unlock(&c->mu);
	for (p = all; p; p = nx) {
		nx = p->next;
		finish_code(c, p, code, why);
	}
}

void mcp_client_fail_all(mcp_client *c, const char *why)
{
	end_all(c, MCP_CLIENT_E_GONE, why);
}

int mcp_client_broken(mcp_client *c)
{
	int b;

	pthread_mutex_lock(&c->mu);
	b = c->broken;
	pthread_mutex_unlock(&c->mu);
	return b;
}

void mcp_client_free(mcp_client *c)
{
	if (!c)
		return;
	end_all(c, MCP_CLIENT_E_GONE, "the client was closed");
	json_decref(c->sreqs);
	json_decref(c->caps);
	json_decref(c->server);
	free(c->tab);
	free(c->line);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* ---- receiving ---- */

/* The server broke the protocol: everything in flight fails, the owner
 * hears it once. Returns -1. */
static int violation(mcp_client *c, const char *why)
{
	int first;

	pthread_mutex_lock(&c->mu);
	first = !c->broken;
	pthread_mutex_unlock(&c->mu);
	end_all(c, MCP_CLIENT_E_GONE, why);
	if (first && c->ops->broken)
		c->ops->broken(c->ud, why);
	return -1;
}

/* Counts an unsolicited message; nonzero when the server floods. */
static int flooding(mcp_client *c)
{
	int64_t sec = now_ms() / 1000;
	int over;

	pthread_mutex_lock(&c->mu);
	if (sec != c->window) {
		c->window = sec;
		c->in_window = 0;
	}
	over = ++c->in_window > c->lim.flood_per_sec;
	pthread_mutex_unlock(&c->mu);
	return over;
}

/* A response: ends its request. Returns 1 if it answered none of ours
 * (unknown, duplicate, late). */
static int on_response(mcp_client *c, struct jr_msg *m, size_t len)
{
	struct pend *p = json_is_integer(m->id)
				 ? take(c, json_integer_value(m->id))
				 : NULL;
	struct mcp_client_answer a = { 0, NULL, NULL, "", len };
	json_t *e;

	pthread_mutex_lock(&c->mu);
	if (p)
		c->st.answered++;
	else
		c->st.unknown_responses++;
	pthread_mutex_unlock(&c->mu);
	if (!p)
		return 1;
	if (m->kind == JR_RESULT) {
		a.result = json_object_get(m->root, "result");
	} else {
		e = json_object_get(m->root, "error");
		a.error = e;
		a.code = (int)json_integer_value(json_object_get(e, "code"));
		a.code = a.code < 0 ? a.code : MCP_CLIENT_E_GONE;
		a.message = json_string_value(json_object_get(e, "message"))
				    ?: "error without a message";
	}
	finish(c, p, &a);
	return 0;
}

/* Progress for a request of ours; 1 if it names none. */
static int on_progress(mcp_client *c, json_t *params)
{
	json_t *tok = json_object_get(json_object_get(params, "_meta"),
				      "progressToken");
	struct pend *p = NULL;

	if (!tok)
		tok = json_object_get(params, "progressToken");
	pthread_mutex_lock(&c->mu);
	if (json_is_integer(tok))
		p = find(c, json_integer_value(tok));
	if (p && p->progress && c->ops->progress)
		p->busy++;
	else
		p = NULL;
	pthread_mutex_unlock(&c->mu);
	if (!p)
		return 1;
	c->ops->progress(c->ud, p->ud, params);
	pthread_mutex_lock(&c->mu);
	p->busy--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* Forgets server request id (it was answered or cancelled); 0, or -1
 * when it is not waiting. */
static int sreq_forget(mcp_client *c, json_t *id)
{
	size_t i;
	json_t *v;
	int rc = -1;

	pthread_mutex_lock(&c->mu);
	json_array_foreach (c->sreqs, i, v) {
		if (jr_id_equal(v, id)) {
			json_array_remove(c->sreqs, i);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static void on_notification(mcp_client *c, struct jr_msg *m)
{
	pthread_mutex_lock(&c->mu);
	c->st.notifications++;
	pthread_mutex_unlock(&c->mu);
	if (strcmp(m->method, "notifications/cancelled") == 0)
		sreq_forget(c, json_object_get(m->params, "requestId"));
	if (c->ops->notification)
		c->ops->notification(c->ud, m->root);
}

/* A server request: ping answered here; the rest to ops->request while
 * fewer than max_server_reqs wait, else refused. */
static void on_request(mcp_client *c, struct jr_msg *m)
{
	const char *refuse = NULL;
	int code = MCP_ERR_METHOD_NOT_FOUND;

	if (strcmp(m->method, "ping") == 0) {
		send_json(c, jr_result(m->id, json_object()));
		return;
	}
	pthread_mutex_lock(&c->mu);
	c->st.server_requests++;
	if (!c->ops->request) {
		refuse = "Method not found";
	} else if (json_array_size(c->sreqs) >= c->lim.max_server_reqs) {
		refuse = "too many requests waiting for the client";
		code = -32000;
	} else {
		json_array_append(c->sreqs, m->id);
	}
	if (refuse)
		c->st.refused_server_requests++;
	pthread_mutex_unlock(&c->mu);
	if (refuse)
		send_json(c, jr_error(m->id, code, refuse, NULL));
	else
		c->ops->request(c->ud, m->root);
}

/* A message that is not JSON-RPC; -1 when there were too many. */
static int on_garbage(mcp_client *c, const char *why)
{
	unsigned bad;
	char msg[192];

	pthread_mutex_lock(&c->mu);
	c->st.bad_messages++;
	bad = ++c->bad;
	pthread_mutex_unlock(&c->mu);
	if (bad < c->lim.max_bad)
		return 0;
	snprintf(msg, sizeof(msg), "%u messages that are not JSON-RPC (%s)",
		 bad, why);
	return violation(c, msg);
}

int mcp_client_feed(mcp_client *c, const char *msg, size_t len)
{
	struct jr_msg m;
	int unsolicited = 0, rc = 0;
	char why[96];

	if (mcp_client_broken(c))
		return -1;
	if (len > c->lim.max_message) {
		snprintf(why, sizeof(why), "a message over %zu bytes",
			 c->lim.max_message);
		return violation(c, why);
	}
	jr_parse(msg, len, c->lim.max_message, MCP_DEFAULT_MAX_DEPTH, &m);
	switch (m.kind) {
	case JR_RESULT:
	case JR_ERROR:
		unsolicited = on_response(c, &m, len);
		break;
	case JR_NOTIFICATION:
		unsolicited = 1;
		if (strcmp(m.method, "notifications/progress") == 0 &&
		    on_progress(c, m.params) == 0)
			unsolicited = 0;
		else if (strcmp(m.method, "notifications/progress") != 0)
			on_notification(c, &m);
		break;
	case JR_REQUEST:
		unsolicited = 1;
		on_request(c, &m);
		break;
	default:
		rc = on_garbage(c, m.kind == JR_BATCH ? "a batch" : m.err);
	}
	jr_msg_clear(&m);
	if (rc == 0 && unsolicited && flooding(c)) {
		snprintf(why, sizeof(why),
			 "flooding: over %u unsolicited messages in a second",
			 c->lim.flood_per_sec);
		rc = violation(c, why);
	}
	return rc;
}

/* Appends n bytes to the line buffer, growing it up to the cap. */
static int line_add(mcp_client *c, const char *p, size_t n)
{
	size_t need = c->line_len + n, cap = c->line_cap;
	char *nb;

	if (need > c->lim.max_message + 1)
		return -1;
	if (need > cap) {
		cap = cap ? cap : 4096;
		while (cap < need)
			cap *= 2;
		cap = cap > c->lim.max_message + 1 ? c->lim.max_message + 1
						   : cap;
		nb = realloc(c->line, cap);
		if (!nb)
			return -1;
		c->line = nb;
		c->line_cap = cap;
	}
	memcpy(c->line + c->line_len, p, n);
	c->line_len = need;
	return 0;
}

/* One whole line (without its LF): to mcp_client_feed. */
static int line_done(mcp_client *c, const char *p, size_t n)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	return n ? mcp_client_feed(c, p, n) : 0;
}

int mcp_client_feed_lines(mcp_client *c, const char *buf, size_t len)
{
	char why[64];

	while (len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl ? (size_t)(nl - buf) : len;
		int rc;

		if (!nl || c->line_len) { /* a partial line, or its end */
			if (line_add(c, buf, n) != 0) {
				c->line_len = 0;
				snprintf(why, sizeof(why),
					 "a message over %zu bytes",
					 c->lim.max_message);
				return violation(c, why);
			}
			if (!nl)
				return 0;
			rc = line_done(c, c->line, c->line_len);
			c->line_len = 0;
		} else {
			rc = line_done(c, buf, n);
		}
		if (rc != 0)
			return rc;
		buf += n + 1;
		len -= n + 1;
	}
	return 0;
}

int mcp_client_respond(mcp_client *c, json_t *response)
{
	if (!response || sreq_forget(c, json_object_get(response, "id"))) {
		json_decref(response);
		return -1;
	}
	return send_json(c, response);
}

/* ---- blocking calls ---- */

struct waiter {
	mcp_client *c;
	int done;
	int code;
	json_t *result;
	json_t *error;
	char msg[256];
};

static void waiter_done(void *ud, const struct mcp_client_answer *a)
{
	struct waiter *w = ud;

	pthread_mutex_lock(&w->c->mu);
	w->code = a->code;
	w->result = a->code == 0 ? json_incref(a->result) : NULL;
	w->error = json_incref(a->error);
	mcp_utf8_snprintf(w->msg, sizeof(w->msg), "%s", a->message);
	w->done = 1;
	pthread_mutex_unlock(&w->c->mu);
}

/* One wait of at most ms: the transport's pump, or the condition. */
static void wait_some(mcp_client *c, int ms)
{
	struct timespec until;

	if (c->ops->pump) {
		if (c->ops->pump(c->ud, ms) != 0)
			mcp_client_fail_all(c, "the transport ended");
		return;
	}
	mcp_deadline_after(&until, ms);
	pthread_mutex_lock(&c->mu);
	pthread_cond_timedwait(&c->cv, &c->mu, &until);
	pthread_mutex_unlock(&c->mu);
}

static int waiter_finished(struct waiter *w)
{
	int d;

	pthread_mutex_lock(&w->c->mu);
	d = w->done;
	pthread_mutex_unlock(&w->c->mu);
	return d;
}

int mcp_client_call(mcp_client *c, const char *method, json_t *params,
		    const struct mcp_client_req *r, int (*cancelled)(void *),
		    void *arg, json_t **result, char *err, size_t errlen)
{
	struct mcp_client_req q = r ? *r : (struct mcp_client_req){ 0 };
	struct waiter w = { c, 0, 0, NULL, NULL, "" };
	int64_t id, deadline;

	*result = NULL;
	if (q.error)
		*q.error = NULL;
	deadline = now_ms() + or_default(q.timeout_ms, c->lim.timeout_ms);
	id = request(c, method, params, &q, waiter_done, &w);
	if (id < 0) {
		pthread_mutex_lock(&c->mu);
		snprintf(err, errlen, "cannot send %s (%s)", method,
			 c->broken ? c->why
				   : "over max_pending, or the transport "
				     "failed");
		pthread_mutex_unlock(&c->mu);
		return MCP_CLIENT_E_GONE;
	}
	while (!waiter_finished(&w)) {
		int64_t left = deadline - now_ms();

		if (cancelled && cancelled(arg))
			mcp_client_cancel(c, id, "cancelled");
		else if (left <= 0)
			mcp_client_expire(c);
		else
			wait_some(c, left > WAIT_SLICE_MS && (cancelled ||
							      !c->ops->pump)
					     ? WAIT_SLICE_MS
					     : (int)left);
	}
	if (w.code == 0)
		*result = w.result;
	else
		mcp_utf8_snprintf(err, errlen, "%s", w.msg);
	if (r && r->error)
		*r->error = w.error;
	else
		json_decref(w.error);
	return w.code;
}

/* ---- the handshake ---- */

json_t *mcp_client_init_params(const char *version, json_t *caps,
			       const char *client_name,
			       const char *client_version)
{
	return json_pack("{s:s, s:o, s:{s:s, s:s}}", "protocolVersion", version,
			 "capabilities",
			 json_is_object(caps) ? json_deep_copy(caps)
					      : json_object(),
			 "clientInfo", "name", client_name, "version",
			 client_version ? client_version : "1");
}

static void keep_server(mcp_client *c, json_t *res, const char *version,
			int stateless)
{
	pthread_mutex_lock(&c->mu);
	json_decref(c->server);
	c->server = res;
	snprintf(c->version, sizeof(c->version), "%s", version);
	c->stateless = stateless;
	pthread_mutex_unlock(&c->mu);
}

int mcp_client_initialize(mcp_client *c, json_t *caps, char *err, size_t errlen)
{
	struct mcp_client_req r = { .timeout_ms = c->lim.init_timeout_ms };
	json_t *res = NULL, *v;
	int rc;

	rc = mcp_client_call(c, "initialize",
			     mcp_client_init_params(MCP_CLIENT_V2025, caps,
						    c->name, NULL),
			     &r, NULL, NULL, &res, err, errlen);
	if (rc != 0)
		return rc;
	v = json_object_get(res, "protocolVersion");
	if (!json_is_string(v) || json_string_length(v) >= sizeof(c->version)) {
		json_decref(res);
		snprintf(err, errlen, "a malformed initialize result");
		return MCP_CLIENT_E_GONE;
	}
	keep_server(c, res, json_string_value(v), 0);
	if (mcp_client_notify(c, "notifications/initialized", NULL) != 0) {
		snprintf(err, errlen, "cannot send notifications/initialized");
		return MCP_CLIENT_E_GONE;
	}
	return 0;
}

/* Nonzero if a discover result lists the stateless revision. */
static int offers_2026(json_t *res)
{
	size_t i;
	json_t *v;

	json_array_foreach (json_object_get(res, "supportedVersions"), i, v) {
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), MCP_REV2026) == 0)
			return 1;
	}
	return 0;
}

int mcp_client_connect(mcp_client *c, json_t *caps, char *err, size_t errlen)
{
	struct mcp_client_req r = { .timeout_ms = c->lim.init_timeout_ms };
	json_t *res = NULL;
	char e[256];
	int rc;

	pthread_mutex_lock(&c->mu);
	json_decref(c->caps);
	c->caps = json_is_object(caps) ? json_deep_copy(caps) : NULL;
	c->stateless = 1; /* the probe itself carries the _meta */
	pthread_mutex_unlock(&c->mu);
	rc = mcp_client_call(c, "server/discover", json_object(), &r, NULL,
			     NULL, &res, e, sizeof(e));
	if (rc == 0 && offers_2026(res)) {
		keep_server(c, res, MCP_REV2026, 1);
		return 0;
	}
	json_decref(res);
	keep_server(c, NULL, "", 0);
	/* our own give-ups (deadline, transport) are not an answer */
	if (rc == MCP_CLIENT_E_TIMEOUT || mcp_client_broken(c)) {
		snprintf(err, errlen, "%s", e);
		return rc ? rc : MCP_CLIENT_E_GONE;
	}
	return mcp_client_initialize(c, caps, err, errlen);
}

const char *mcp_client_version(mcp_client *c)
{
	return c->version; /* set by the handshake, before any other use */
}

json_t *mcp_client_server_result(mcp_client *c)
{
	return c->server;
}

void mcp_client_stats(mcp_client *c, struct mcp_client_stats *st)
{
	pthread_mutex_lock(&c->mu);
	*st = c->st;
	pthread_mutex_unlock(&c->mu);
}
