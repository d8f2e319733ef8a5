/* Upstream: the tool zones' channels (connect, back off, go down) or, for
 * a remote zone (url), its MCP HTTP client (mcp/client_http.h) whose
 * sessions stand in for streams; each
 * agent session's lazily opened link per tool zone with its queue, and
 * what a tool zone sends: responses (the splice fast path, checked before
 * its bytes go to the agent), server-to-client requests and
 * notifications, with ids mapped both ways. */
#define _GNU_SOURCE /* memmem */
#include "gw_core.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zonegate/chan.h>
#include <zonegate/mcp.h>

#include "client.h"
#include "client_http.h"
#include "jsonrpc.h"
#include "splice.h"

/* The stateless revision's _meta keys (docs/protocol.md). */
#define REV_2026 "2026-07-28"
#define META_PREFIX_2026 "io.modelcontextprotocol/"
#define META_PV_2026 "io.modelcontextprotocol/protocolVersion"
#define META_CAPS_2026 "io.modelcontextprotocol/clientCapabilities"
#define META_LEVEL_2026 "io.modelcontextprotocol/logLevel"
/* The id of the control stream's subscriptions/listen to a 2026-07-28
 * zone: a string, so that no request of ours is ever taken for it. */
#define CTL_LISTEN_ID "zg-ctl-listen"
/* A 2026-07-28 zone's InputRequiredResult to a session: requests in it
 * at most, and the longest key kept. */
#define IRR_ASKS_MAX 8
#define IRR_KEY_MAX 64

/* ---- links ------------------------------------------------------------- */

int gw_up_live(const struct tzone *t)
{
	return t->m || t->hc;
}

int gw_up_tx(struct tzone *t, uint32_t sid, const char *msg, size_t len)
{
	if (t->m)
		return chan_mux_send(t->m, sid, msg, len);
	if (t->hc)
		return mcp_hc_send(t->hc, sid, msg, len);
	return -1;
}

static void stamp_2026(json_t *params, json_t *caps, const char *level);

int gw_up_send(struct tzone *t, uint32_t sid, json_t *msg)
{
	size_t len;
	char *s;
	int rc = -1;

	/* the gateway's own requests to a 2026-07-28 zone (catalogue pages,
	 * the control stream's listen) carry the revision's _meta, declaring
	 * no client capability */
	if (t->rev2026 && json_object_get(msg, "id") &&
	    json_is_string(json_object_get(msg, "method"))) {
		json_t *params = json_object_get(msg, "params");
		if (!params)
			json_object_set_new(msg, "params",
					    params = json_object());
		if (!json_object_get(json_object_get(params, "_meta"),
				     META_CAPS_2026))
			stamp_2026(params, NULL, NULL);
	}
	s = jr_dump(msg, &len);

	if (s)
		rc = gw_up_tx(t, sid, s, len);
	free(s);
	return rc;
}

/* A new stream (upstream session) on t: its id, 0 when none. A remote
 * zone's is a stateless (2026-07-28) one when stateless, else a session
 * that begins with initialize; a channel stream is either. */
static uint32_t up_open(struct tzone *t, int stateless)
{
	if (t->m)
		return chan_mux_open_stream(t->m);
	if (!t->hc)
		return 0;
	return stateless ? mcp_hc_open_stateless(t->hc, REV_2026)
			 : mcp_hc_open(t->hc);
}

struct ulink *gw_up_links_new(size_t ntz)
{
	struct ulink *v = calloc(ntz + 1, sizeof(*v));

	for (size_t i = 0; v && i <= ntz; i++)
		zg_queue_init(&v[i].q, LINK_QUEUE_MAX, 0);
	return v;
}

/* ---- request tables (the MCP client core, table-only) ------------------- */

static void uc_add(struct mcp_client_stats *to, const struct gw_uc *u);

/* Caps of a control stream's table: its initialize, a catalogue fetch's
 * pages and a ping are all it ever has in flight. */
#define CTL_PENDING_MAX 64

void gw_up_limits(const struct gw *g, const struct asess *s,
		  struct mcp_client_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	/* what a tool zone's message may be: the channel's frame cap and
	 * the HTTP client's are the same number */
	lim->max_message = g->cfg->max_message;
	/* every request's deadline: call_timeout_ms (default 60 s), or the
	 * policy rule's timeout for a call (passed with each request, so
	 * that a reload applies at once); initialize has the same */
	lim->timeout_ms = (unsigned)g->cfg->call_timeout_ms;
	lim->init_timeout_ms = (unsigned)g->cfg->call_timeout_ms;
	/* requests in flight on one link: the session's calls
	 * (SESSION_INFLIGHT_MAX; a zone's shared session of stateless
	 * requests: the zone's, ZONE_INFLIGHT_MAX), its own requests
	 * (SESSION_AUX_MAX) and its initialize. gw_req_route refuses a call
	 * over the session's and zone's caps before the table is asked. */
	lim->max_pending = !s ? CTL_PENDING_MAX
			   : s->shared
				   ? ZONE_INFLIGHT_MAX + SESSION_AUX_MAX + 1
				   : SESSION_INFLIGHT_MAX + SESSION_AUX_MAX + 1;
	/* server requests waiting on one agent session (refuse_sreq) */
	lim->max_server_reqs = SESSION_SREQ_MAX;
}

/* The transport of a table: only the core's notifications/cancelled go
 * through it (the gateway sends its requests itself), and only on a
 * link that is open (an initialize is never cancelled). A control
 * stream's request that times out takes its tool zone down (the stream
 * with it), so nothing is sent there. */
static int uc_send(void *ud, const char *msg, size_t len)
{
	struct gw_uc *u = ud;
	struct ulink *l = u->s ? &u->s->links[u->t->ti] : NULL;

	if (!l || l->state != L_READY)
		return -1;
	return gw_up_tx(u->t, l->sid, msg, len);
}

/* The process's one id space: an id names one request (or server
 * request) whatever link it is on, so the splice finds it in g->preqs
 * with one probe. */
static int64_t uc_id(void *ud)
{
	struct gw_uc *u = ud;

	return (int64_t)++u->t->g->next_id;
}

struct gw_uc *gw_up_uc(struct gw *g, struct asess *s, unsigned ti)
{
	static const struct mcp_client_ops ops = { .send = uc_send };
	struct tzone *t = g->tz[ti];
	struct gw_uc **slot = s ? &s->links[ti].uc : &t->ctl_uc;
	struct mcp_client_limits lim;
	struct gw_uc *u;

	if (*slot)
		return *slot;
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->t = t;
	u->s = s;
	gw_up_limits(g, s, &lim);
	u->mc = mcp_client_new(&ops, u, &lim, "zonegate-gateway");
	if (!u->mc) {
		free(u);
		return NULL;
	}
	mcp_client_set_ids(u->mc, uc_id, u);
	*slot = u;
	return u;
}

void gw_up_uc_free(struct gw_uc **slot)
{
	struct gw_uc *u = *slot;

	if (!u)
		return;
	*slot = NULL;
	uc_add(&u->t->up_st, u);
	mcp_client_free(u->mc); /* what is left: its done, then gone */
	free(u);
}

/* One table's expiry, and its next deadline into g->next_deadline_ms. */
static void uc_expire(struct gw *g, struct gw_uc *u, int64_t now)
{
	int ms;

	if (!u)
		return;
	mcp_client_expire(u->mc);
	ms = mcp_client_timeout_ms(u->mc);
	if (ms >= 0 && now + ms < g->next_deadline_ms)
		g->next_deadline_ms = now + ms;
}

static void sess_expire(struct gw *g, struct asess *s, void *arg)
{
	for (size_t i = 0; i < g->ntz; i++)
		uc_expire(g, s->links[i].uc, *(int64_t *)arg);
}

void gw_up_expire(struct gw *g)
{
	int64_t now = gw_now_ms();

	g->next_deadline_ms = INT64_MAX;
	for (size_t i = 0; i < g->ntz; i++)
		uc_expire(g, g->tz[i]->ctl_uc, now);
	gw_sess_each(g, sess_expire, &now);
}

/* Adds table u's counters (if any) to *to. */
static void uc_add(struct mcp_client_stats *to, const struct gw_uc *u)
{
	struct mcp_client_stats st;

	if (!u)
		return;
	mcp_client_stats(u->mc, &st);
	to->sent += st.sent;
	to->answered += st.answered;
	to->timeouts += st.timeouts;
	to->cancelled += st.cancelled;
	to->unknown_responses += st.unknown_responses;
	to->bad_messages += st.bad_messages;
	to->bytes_in += st.bytes_in;
	to->forgotten += st.forgotten;
}

struct sum_arg {
	struct mcp_client_stats *st;
	unsigned ti;
};

static void sess_sum(struct gw *g, struct asess *s, void *arg)
{
	struct sum_arg *a = arg;

	(void)g;
	uc_add(a->st, s->links[a->ti].uc);
}

json_t *gw_up_requests_status(struct gw *g, const struct tzone *t)
{
	struct mcp_client_stats st = t->up_st;
	struct sum_arg a = { &st, t->ti };

	uc_add(&st, t->ctl_uc);
	gw_sess_each(g, sess_sum, &a);
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "sent",
			 (json_int_t)st.sent, "answered",
			 (json_int_t)st.answered, "timeouts",
			 (json_int_t)st.timeouts, "cancelled",
			 (json_int_t)st.cancelled, "unknown_responses",
			 (json_int_t)st.unknown_responses, "ended_otherwise",
			 (json_int_t)st.forgotten);
}

/* The answer to request id arrived on a link (or control stream) where
 * no request of ours waits for it: counted by that table. */
static void uc_unknown(struct gw_uc *u, const struct jr_msg *m, size_t len)
{
	if (u)
		mcp_client_settle(u->mc,
				  json_is_integer(m->id)
					  ? (int64_t)json_integer_value(m->id)
					  : -1,
				  len);
}

/* Takes q's bytes off the budgets of g and s's zone, then empties it. */
static void link_queue_clear(struct gw *g, struct asess *s, struct zg_queue *q)
{
	g->link_queued -= zg_queue_bytes(q);
	s->az->link_queued -= zg_queue_bytes(q);
	zg_queue_clear(q);
}

/* A link's key in g->links: the tool zone's serial, not its index, which
 * a reload that adds or removes tool zones changes. */
static uint64_t gw_up_link_key(const struct tzone *t, uint32_t sid)
{
	return (uint64_t)t->serial << 32 | sid;
}

void gw_up_link_reset(struct gw *g, struct asess *s, unsigned ti)
{
	struct ulink *l = &s->links[ti];

	if (l->sid) {
		gw_map_del(g->links, gw_up_link_key(g->tz[ti], l->sid));
		if (g->tz[ti]->m)
			chan_mux_close_stream(g->tz[ti]->m, l->sid);
		else if (g->tz[ti]->hc)
			mcp_hc_close(g->tz[ti]->hc, l->sid);
	}
	link_queue_clear(g, s, &l->q);
	l->sid = 0;
	l->state = L_NONE;
	gw_up_uc_free(&l->uc);
}

/* The upstream session of s on tool zone ti failed: its calls end with an
 * error, the next call opens a new one. */
void gw_up_link_fail(struct gw *g, struct asess *s, unsigned ti,
		     const char *why)
{
	struct preq *p, *nx;
	struct sreq **pp, *r;
	char msg[160];

	gw_up_link_reset(g, s, ti);
	snprintf(msg, sizeof(msg), "tool zone %s is unavailable (%s)",
		 g->tz[ti]->z->name, why);
	for (p = s->reqs; p; p = nx) {
		nx = p->next;
		if (p->ti != ti)
			continue;
		if (p->kind == PK_CALL)
			gw_req_fail(g, p, GW_ERR_GATEWAY, msg, why);
		else
			gw_req_free(g, p);
	}
	for (pp = &s->sreqs; (r = *pp) != NULL;) {
		if (r->ti == ti) {
			*pp = r->next;
			gw_map_del(g->sreqs, r->aid);
			json_decref(r->up_id);
			free(r);
		} else {
			pp = &r->next;
		}
	}
}

int gw_up_link_send(struct gw *g, struct asess *s, unsigned ti, const char *msg,
		    size_t len)
{
	struct ulink *l = &s->links[ti];

	if (l->state == L_READY)
		return gw_up_tx(g->tz[ti], l->sid, msg, len) == 0 ? 0 : -1;
	/* the link's own cap is its queue's (LINK_QUEUE_MAX); the byte
	 * budgets are shared by every link of the gw and of the zone */
	if (g->link_queued + len > LINK_QUEUED_MAX ||
	    s->az->link_queued + len > LINK_QUEUED_ZONE_MAX ||
	    zg_queue_push(&l->q, msg, len, NULL, 0, 0, NULL) != ZG_QUEUE_OK)
		return -1;
	g->link_queued += len;
	s->az->link_queued += len;
	return 0;
}

/* A request to a tool zone with gateway id uid; params stolen. */
json_t *gw_up_request_new(uint64_t uid, const char *method, json_t *params)
{
	json_t *id = json_integer((json_int_t)uid);
	json_t *r = jr_request(id, method, params); /* copies id */

	json_decref(id);
	return r;
}

/* initialize for a tool zone, offering the capabilities caps (JSON
 * text from caps_keep, or NULL for none): the MCP client core's
 * handshake (mcp/include/client.h), sent on the splice path's ids. */
static json_t *gw_up_init_request(uint64_t uid, const char *proto,
				  const char *caps)
{
	json_t *c = caps ? json_loads(caps, 0, NULL) : NULL;
	json_t *params = mcp_client_init_params(proto, c, "zonegate-gateway",
						GW_VERSION);

	json_decref(c);
	return params ? gw_up_request_new(uid, "initialize", params) : NULL;
}

/* Opens the upstream session of s on tool zone ti if needed. */
int gw_up_link_ensure(struct gw *g, struct asess *s, unsigned ti)
{
	struct ulink *l = &s->links[ti];
	struct tzone *t = g->tz[ti];
	struct preq *p;
	json_t *req;

	if (l->state != L_NONE)
		return 0;
	if (!gw_up_live(t) || !t->have_cat)
		return -1;
	l->sid = up_open(t, t->rev2026);
	if (!l->sid)
		return -1;
	if (gw_map_put(g->links, gw_up_link_key(t, l->sid), s)) {
		gw_up_link_reset(g, s, ti);
		return -1;
	}
	if (t->rev2026) {
		/* a stream of stateless requests: nothing to open, each
		 * request carries its _meta (gw_up_meta) */
		l->state = L_READY;
		return 0;
	}
	p = gw_req_new(g, PK_INIT, s, ti);
	if (!p) {
		gw_up_link_reset(g, s, ti);
		return -1;
	}
	req = gw_up_init_request(p->uid, s->proto, s->caps_up);
	if (!req || gw_up_send(t, l->sid, req) != 0) {
		json_decref(req);
		gw_req_free(g, p);
		gw_up_link_reset(g, s, ti);
		return -1;
	}
	json_decref(req);
	l->state = L_INIT;
	return 0;
}

static void link_ready(struct gw *g, struct asess *s, unsigned ti)
{
	struct ulink *l = &s->links[ti];
	struct tzone *t = g->tz[ti];
	json_t *n = jr_request(NULL, "notifications/initialized", NULL);
	struct zg_qitem *q;

	gw_up_send(t, l->sid, n);
	json_decref(n);
	if (s->level) {
		struct preq *p = gw_req_new(g, PK_IGNORE, s, ti);
		if (p) {
			json_t *r =
				gw_up_request_new(p->uid, "logging/setLevel",
						  json_pack("{s:s}", "level",
							    s->level));
			gw_up_send(t, l->sid, r);
			json_decref(r);
		}
	}
	l->state = L_READY;
	for (q = zg_queue_peek(&l->q); q; q = zg_queue_next(q))
		gw_up_tx(t, l->sid, (const char *)q->data, q->len);
	link_queue_clear(g, s, &l->q);
}

static void tz_log(void *ud, const char *msg)
{
	struct tzone *t = ud;

	fprintf(stderr, "gatewayd: tool zone %s: %s\n", t->z->name, msg);
}

/* The answer to a remote zone's ping: any answer from the server means it
 * is alive; an error the client made up for a failed request (its message
 * starts "upstream: ") means it is not. */
static void remote_pong(struct tzone *t, struct preq *p, struct jr_msg *m)
{
	const char *msg = json_string_value(
		json_object_get(json_object_get(m->root, "error"), "message"));

	gw_req_free(t->g, p);
	t->ping_uid = 0;
	t->ping_at = gw_now_ms() + REMOTE_PING_MS;
	if (m->kind == JR_ERROR && msg && strncmp(msg, "upstream: ", 10) == 0) {
		snprintf(t->last_error, sizeof(t->last_error), "ping: %.*s",
			 (int)gw_utf8_prefix(msg + 10, 140), msg + 10);
		t->dead = 1;
	}
}

/* A response from a tool zone: ours (init, catalogue) or a call's. */
static void up_response(struct tzone *t, struct asess *ls, struct jr_msg *m,
			const uint8_t *raw, size_t len)
{
	struct gw *g = t->g;
	struct preq *p;
	struct gw_tokens tk;
	json_t *res;
	int tok_state;
	int64_t now;

	if (!ls && t->hc && json_is_string(m->id) &&
	    strcmp(json_string_value(m->id), CTL_LISTEN_ID) == 0) {
		/* a remote zone's control listen ended (the server's
		 * graceful close, a dropped stream): list changes would go
		 * unheard, so the zone reconnects and refetches */
		snprintf(t->last_error, sizeof(t->last_error),
			 "the control subscriptions/listen ended");
		t->dead = 1;
		return;
	}
	p = json_is_integer(m->id)
		    ? gw_map_get(g->preqs, (uint64_t)json_integer_value(m->id))
		    : NULL;
	if (!p || p->ti != t->ti || p->s != ls) {
		/* not ours (a zone cannot answer another's call), or late */
		uc_unknown(ls ? ls->links[t->ti].uc : t->ctl_uc, m, len);
		return;
	}
	if (gw_req_settle(p, len) && p->kind == PK_CALL) {
		gw_req_fail(g, p, GW_ERR_GATEWAY, "response too large",
			    "response over max_message");
		return;
	}
	switch (p->kind) {
	case PK_CAT:
		gw_cat_page(t, p, m, len);
		gw_req_free(g, p);
		return;
	case PK_IGNORE:
		gw_req_free(g, p);
		return;
	case PK_PING:
		remote_pong(t, p, m);
		return;
	case PK_INIT:
		gw_req_free(g, p);
		if (!ls) {
			gw_up_handshake(t, m);
		} else if (m->kind == JR_RESULT) {
			link_ready(g, ls, t->ti);
		} else {
			gw_up_link_fail(g, ls, t->ti, "initialize refused");
		}
		return;
	case PK_CALL:
		break;
	}
	if (gw_up_irr_result(t, p, m))
		return;
	now = gw_now_us();
	if (p->max_bytes && len > p->max_bytes) {
		gw_req_fail(g, p, GW_ERR_GATEWAY, "response too large",
			    "response over max-bytes");
		return;
	}
	json_object_set(m->root, "id", p->aid);
	gw_sess_to_agent(ls, json_incref(m->root));
	t->responses++;
	res = json_object_get(m->root, "result");
	tok_state = m->kind == JR_ERROR ? 0 : gw_tokens_of(res, &tk);
	gw_req_done(g, ls, p, m->kind == JR_ERROR ? "upstream error" : NULL,
		    len,
		    m->kind == JR_ERROR ||
				    json_is_true(
					    json_object_get(res, "isError"))
			    ? 2
			    : 0,
		    tok_state, &tk, now);
	gw_req_free(g, p);
	(void)raw;
}

/* mcpd names the call a notification or request of a link belongs to
 * (params._meta[MCP_META_RELATED]) by our id; the agent knows the call
 * by its own. Rewrites it, or drops it when it names no call of this
 * session on this link. Returns 1 if root was changed. */
static int relate_for_agent(struct tzone *t, struct asess *s, json_t *root)
{
	json_t *meta =
		json_object_get(json_object_get(root, "params"), "_meta");
	json_t *v = json_object_get(meta, MCP_META_RELATED);
	struct preq *p;

	if (!v)
		return 0;
	p = json_is_integer(v)
		    ? gw_map_get(t->g->preqs, (uint64_t)json_integer_value(v))
		    : NULL;
	if (p && p->kind == PK_CALL && p->s == s && p->ti == t->ti)
		json_object_set(meta, MCP_META_RELATED, p->aid);
	else
		json_object_del(meta, MCP_META_RELATED);
	return 1;
}

/* A tool zone's request the agent must not get: one for a capability
 * the agent did not declare (answered "Method not found", as the agent
 * would), or one too many waiting for the agent's answer (a tool zone
 * could otherwise pile up state in the gateway). Returns 1 if refused. */
static int refuse_sreq(struct tzone *t, struct asess *s, struct jr_msg *m)
{
	static const char *const need[][2] = {
		{ "sampling/", "sampling" },
		{ "elicitation/", "elicitation" },
		{ "roots/", "roots" },
	};
	const char *why = NULL;
	int code = -32601;
	unsigned n = 0, max;

	if (s->shared) /* stateless agents: nobody to ask */
		return gw_stl_sreq(t, s, m);
	/* the cap is the link table's (gw_up_limits); an open link has
	 * its table from its initialize on */
	max = s->links[t->ti].uc ? mcp_client_limits(s->links[t->ti].uc->mc)
					   ->max_server_reqs
				 : 0;

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (strncmp(m->method, need[i][0], strlen(need[i][0])) == 0 &&
		    !(s->caps & 1u << i))
			why = "Method not found";
	for (struct sreq *r = s->sreqs; r && !why; r = r->next)
		if (++n >= max) {
			why = "too many requests waiting for the client";
			code = -32000;
		}
	if (why) {
		json_t *e = jr_error(m->id, code, why, NULL);
		gw_up_send(t, s->links[t->ti].sid, e);
		json_decref(e);
	}
	return why != NULL;
}

/* A server-to-client request: forwarded with an id of ours. */
static void up_request(struct tzone *t, struct asess *s, struct jr_msg *m)
{
	struct gw *g = t->g;
	struct sreq *r;
	char id[40];

	if (!s) {
		json_t *e = jr_error(m->id, -32601, "Method not found", NULL);
		gw_up_send(t, t->ctl, e);
		json_decref(e);
		return;
	}
	if (refuse_sreq(t, s, m))
		return;
	r = calloc(1, sizeof(*r));
	if (!r || gw_map_put(g->sreqs, g->next_id + 1, r)) {
		free(r);
		return;
	}
	r->aid = ++g->next_id;
	r->s = s;
	r->ti = t->ti;
	r->up_id = json_incref(m->id);
	r->next = s->sreqs;
	s->sreqs = r;
	snprintf(id, sizeof(id), "zg-%llu", (unsigned long long)r->aid);
	json_object_set_new(m->root, "id", json_string(id));
	relate_for_agent(t, s, m->root);
	gw_sess_to_agent(s, json_incref(m->root));
}

static void up_notification(struct tzone *t, struct asess *s, struct jr_msg *m,
			    const uint8_t *raw, size_t len)
{
	const char *meth = m->method;

	if (strstr(meth, "/list_changed")) {
		if (!s)
			gw_cat_changed(t);
		return;
	}
	if (!s)
		return;
	if (strcmp(meth, "notifications/cancelled") == 0) {
		json_t *rid = json_object_get(m->params, "requestId");
		for (struct sreq **pp = &s->sreqs, *r; (r = *pp) != NULL;
		     pp = &r->next) {
			char id[40];
			if (r->ti != t->ti || !jr_id_equal(r->up_id, rid))
				continue;
			snprintf(id, sizeof(id), "zg-%llu",
				 (unsigned long long)r->aid);
			json_object_set_new(m->params, "requestId",
					    json_string(id));
			gw_sess_to_agent(s, json_incref(m->root));
			*pp = r->next;
			gw_map_del(t->g->sreqs, r->aid);
			json_decref(r->up_id);
			free(r);
			return;
		}
		return;
	}
	/* progress, logging, resources/updated: this session's own. The
	 * bytes go as they are when the splice check finds them clean;
	 * jansson lets a few things by (a NUL byte after a number), and
	 * then the parsed message is re-encoded instead. */
	if (relate_for_agent(t, s, m->root) ||
	    gw_splice_check((const char *)raw, len, MAX_DEPTH, NULL) ==
		    GW_SPLICE_BAD)
		gw_sess_to_agent(s, json_incref(m->root));
	else
		gw_sess_send_text(s, (const char *)raw, len);
}

/* A call's response that cannot be relayed (malformed, a second id,
 * invalid UTF-8): dropped, and the call ends with an error that says
 * so. Only a call of the session that owns the link gets here. */
static void bad_response(struct tzone *t, struct preq *p, const char *why)
{
	char msg[160], reason[120];

	t->responses_invalid++;
	snprintf(msg, sizeof(msg), "tool zone %s sent an invalid response",
		 t->z->name);
	snprintf(reason, sizeof(reason), "invalid response: %s",
		 why ? why : "malformed");
	fprintf(stderr, "gatewayd: tool zone %s: %s (dropped)\n", t->z->name,
		reason);
	gw_req_fail(t->g, p, GW_ERR_GATEWAY, msg, reason);
}

/* A response in the splice layout's head whose body is well-formed
 * but laid out otherwise (other members, escaped names): parsed, and
 * if the parser refuses it, the call still ends with an error. */
static int other_response(struct tzone *t, struct asess *s, struct preq *p,
			  const uint8_t *msg, size_t len)
{
	struct jr_msg jm;

	jr_parse((const char *)msg, len, t->g->cfg->max_message, MAX_DEPTH,
		 &jm);
	if (jm.kind == JR_RESULT || jm.kind == JR_ERROR)
		up_response(t, s, &jm, msg, len);
	else
		bad_response(t, p, jm.kind == JR_INVALID ? jm.err : NULL);
	jr_msg_clear(&jm);
	return 0;
}

/* The common case, a call's response as mcpd writes it
 * ({"jsonrpc":"2.0","id":N,"result"|"error":...}), without parsing the
 * body: only the id is replaced. The body goes to the one agent session
 * that owns this upstream stream, which parses it itself. Returns 0 if
 * handled, -1 to take the general path. */
static int fast_response(struct tzone *t, struct asess *s, const uint8_t *msg,
			 size_t len)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
	const size_t hl = sizeof(head) - 1;
	struct gw *g = t->g;
	size_t i = hl, idl, out_len;
	uint64_t uid = 0;
	struct preq *p;
	char *idj, *out;
	const char *why = NULL;
	int is_err, outcome, tok_state;
	struct gw_tokens tk;
	int64_t now;

	if (len < hl + 12 || memcmp(msg, head, hl) != 0)
		return -1;
	while (i < len && i < hl + 19 && msg[i] >= '0' && msg[i] <= '9')
		uid = uid * 10 + (uint64_t)(msg[i++] - '0');
	if (i == hl || i >= len - 10)
		return -1;
	if (memcmp(msg + i, ",\"result\":", 10) == 0)
		is_err = 0;
	else if (memcmp(msg + i, ",\"error\":", 9) == 0)
		is_err = 1;
	else
		return -1;
	p = gw_map_get(g->preqs, uid);
	if (!p || p->kind != PK_CALL || p->s != s || p->ti != t->ti)
		return -1;
	now = gw_now_us();
	if (p->max_bytes && len > p->max_bytes)
		return -1;
	/* The bytes go to the agent as they are: they must be one JSON
	 * object with this one id (a second "id" would answer another of
	 * the agent's calls), valid UTF-8, nothing after it. */
	switch (gw_splice_check((const char *)msg, len, MAX_DEPTH, &why)) {
	case GW_SPLICE_OK:
		break;
	case GW_SPLICE_OTHER:
		return other_response(t, s, p, msg, len);
	case GW_SPLICE_BAD:
		bad_response(t, p, why);
		return 0;
	}
	if (gw_req_settle(p, len)) { /* over the table's max_message */
		bad_response(t, p, "over max_message");
		return 0;
	}
	/* The agent's id is a bare integer or string: encode it as such. */
	idj = json_dumps(p->aid, JSON_COMPACT | JSON_ENCODE_ANY);
	idl = idj ? strlen(idj) : 0;
	out_len = hl + idl + (len - i);
	out = idj ? malloc(out_len) : NULL;
	if (!out) {
		free(idj);
		return -1;
	}
	memcpy(out, head, hl);
	memcpy(out + hl, idj, idl);
	memcpy(out + hl + idl, msg + i, len - i);
	gw_sess_send_text(s, out, out_len);
	free(out);
	free(idj);
	t->responses++;
	t->responses_spliced++;
	outcome = is_err || memmem(msg + i, len - i, "\"isError\":true", 14)
			  ? 2
			  : 0;
	/* Token usage: one more pass for "usage"; only a response that has
	 * it is parsed. */
	tok_state = is_err ? 0 : gw_tokens_scan((const char *)msg, len, &tk);
	gw_req_done(g, s, p, is_err ? "upstream error" : NULL, len, outcome,
		    tok_state, &tk, now);
	gw_req_free(g, p);
	return 0;
}

static void tz_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *msg,
		    size_t len)
{
	struct tzone *t = ud;
	struct asess *s = NULL;
	struct jr_msg jm;

	if (sid != t->ctl) {
		s = gw_map_get(t->g->links, gw_up_link_key(t, sid));
		if (!s) { /* a stream of the listens of gw_subs.c, or gone */
			gw_subs_data(t, sid, (const char *)msg, len);
			return;
		}
		/* an InputRequiredResult is looked at (gw_up_irr_result) */
		if ((!t->rev2026 || !memmem(msg, len, "input_required", 14)) &&
		    fast_response(t, s, msg, len) == 0)
			return;
	}
	jr_parse((const char *)msg, len, t->g->cfg->max_message, MAX_DEPTH,
		 &jm);
	switch (jm.kind) {
	case JR_RESULT:
	case JR_ERROR:
		up_response(t, s, &jm, msg, len);
		break;
	case JR_REQUEST:
		up_request(t, s, &jm);
		break;
	case JR_NOTIFICATION:
		up_notification(t, s, &jm, msg, len);
		break;
	default:
		break; /* garbage from a tool zone is dropped */
	}
	jr_msg_clear(&jm);
}

static void tz_close(void *ud, chan_mux *m, uint32_t sid, int reset)
{
	struct tzone *t = ud;
	struct asess *s;

	if (sid == t->ctl) {
		t->dead = 1;
		snprintf(t->last_error, sizeof(t->last_error),
			 "control stream closed");
		return;
	}
	s = gw_map_get(t->g->links, gw_up_link_key(t, sid));
	if (s)
		gw_up_link_fail(t->g, s, t->ti, "upstream session ended");
	else
		gw_subs_closed(t, sid);
}

/* Opens t's control stream and sends its handshake: server/discover
 * (probe) or initialize. Out of memory or streams: t is dead. */
static void ctl_handshake(struct tzone *t, int probe)
{
	struct preq *p;
	json_t *r;

	t->ctl = up_open(t, probe);
	p = t->ctl ? gw_req_new(t->g, PK_INIT, NULL, t->ti) : NULL;
	if (!p) {
		t->dead = 1;
		return;
	}
	t->hs_probe = probe;
	if (probe) {
		json_t *params = json_object();
		stamp_2026(params, NULL, NULL);
		r = gw_up_request_new(p->uid, "server/discover", params);
	} else {
		r = gw_up_init_request(p->uid, gw_versions[0], NULL);
	}
	gw_up_send(t, t->ctl, r);
	json_decref(r);
}

static void tz_up(void *ud, chan_mux *m)
{
	struct tzone *t = ud;

	(void)m;
	t->rev2026 = 0;
	t->tasks_ext = 0;
	t->rev[0] = '\0';
	/* channel and remote zones alike: server/discover first (a remote
	 * zone's as a stateless POST) */
	ctl_handshake(t, 1);
}

/* 1 if a server/discover result lists version in supportedVersions:
 * the test of the MCP client core's handshake (mcp_client_connect),
 * made here because the gateway sends its own requests on its loop. */
static int offers(const json_t *res, const char *version)
{
	size_t i;
	json_t *v;

	json_array_foreach (json_object_get(res, "supportedVersions"), i, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), version) == 0)
			return 1;
	return 0;
}

/* The zone is spoken to in 2026-07-28 when it lists that revision and
 * none the gateway speaks in sessions: a zone of both eras gets
 * initialize, because the session era still carries what the gateway
 * does not translate from a 2026-07-28 zone (its InputRequiredResults,
 * resources/subscribe, logging/setLevel). The client core, which
 * translates nothing, takes 2026-07-28 whenever it is listed. */
static int speak_2026(const json_t *res)
{
	if (!offers(res, REV_2026))
		return 0;
	for (size_t i = 0; i < GW_NVERSIONS; i++)
		if (offers(res, gw_versions[i]))
			return 0;
	return 1;
}

/* A 2026-07-28 zone's control stream subscribes to its list changes,
 * which then come on it as a session's would (up_notification). */
static void ctl_listen(struct tzone *t)
{
	json_t *id = json_string(CTL_LISTEN_ID);
	json_t *r = jr_request(id, "subscriptions/listen",
			       json_pack("{s:{s:b,s:b,s:b}}", "notifications",
					 "toolsListChanged", 1,
					 "resourcesListChanged", 1,
					 "promptsListChanged", 1));

	json_decref(id);
	if (r)
		gw_up_send(t, t->ctl, r);
	json_decref(r);
}

/* Keeps a revision name of the zone's (printable ASCII) for the status. */
static void keep_rev(struct tzone *t, const char *v)
{
	size_t i;

	for (i = 0; v && v[i] > 0x20 && v[i] < 0x7f && i + 1 < sizeof(t->rev);
	     i++)
		;
	snprintf(t->rev, sizeof(t->rev), "%.*s", v && !v[i] ? (int)i : 0,
		 v ? v : "");
}

void gw_up_handshake(struct tzone *t, struct jr_msg *m)
{
	json_t *res = json_object_get(m->root, "result");
	const char *msg = json_string_value(
		json_object_get(json_object_get(m->root, "error"), "message"));
	json_t *n;

	if (t->hs_probe) {
		t->hs_probe = 0;
		if (m->kind == JR_RESULT && speak_2026(res)) {
			t->rev2026 = 1;
			gw_task_zone_offers(t, res);
			keep_rev(t, REV_2026);
			ctl_listen(t);
			gw_cat_fetch(t);
			return;
		}
		/* -32601, another answer, or a zone of both eras: the
		 * session era, on a new stream (the probe may have made its
		 * stream a stateless one) */
		if (t->m)
			chan_mux_close_stream(t->m, t->ctl);
		else if (t->hc)
			mcp_hc_close(t->hc, t->ctl);
		ctl_handshake(t, 0);
		return;
	}
	n = jr_request(NULL, "notifications/initialized", NULL);
	gw_up_send(t, t->ctl, n);
	json_decref(n);
	if (m->kind == JR_RESULT) {
		keep_rev(t, json_string_value(
				    json_object_get(res, "protocolVersion")));
		gw_cat_fetch(t);
		return;
	}
	snprintf(t->last_error, sizeof(t->last_error),
		 "initialize refused: %.*s",
		 (int)gw_utf8_prefix(msg ? msg : "?", 120), msg ? msg : "?");
	t->dead = 1;
}

/* Sets the revision's _meta in params: the version, caps (borrowed;
 * NULL: none declared) and level (NULL: none). */
static void stamp_2026(json_t *params, json_t *caps, const char *level)
{
	json_t *meta = json_object_get(params, "_meta");

	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(params, "_meta", meta);
	}
	json_object_set_new(meta, META_PV_2026, json_string(REV_2026));
	json_object_set_new(meta, META_CAPS_2026,
			    json_is_object(caps) ? json_deep_copy(caps)
						 : json_object());
	if (level)
		json_object_set_new(meta, META_LEVEL_2026, json_string(level));
}

void gw_up_meta(struct gw *g, struct asess *s, unsigned ti, json_t *params)
{
	json_t *meta = json_object_get(params, "_meta");
	json_t *caps = NULL, *own = NULL;
	const char *k;
	json_t *v;
	void *tmp;

	if (!json_is_object(params))
		return;
	if (!g->tz[ti]->rev2026) {
		json_object_foreach_safe (meta, tmp, k, v)
			if (strncmp(k, META_PREFIX_2026,
				    strlen(META_PREFIX_2026)) == 0)
				json_object_del(meta, k);
		return;
	}
	/* a stateless agent's request carries what it declared (rebuilt by
	 * gw_stateless.c); a session's whatever its agent put there is
	 * replaced by what its initialize declared */
	if (s->shared)
		caps = json_object_get(meta, META_CAPS_2026);
	else if (s->caps_up)
		caps = own = json_loads(s->caps_up, 0, NULL);
	json_incref(caps); /* it may be one of the keys dropped below */
	json_object_foreach_safe (meta, tmp, k, v)
		if (strncmp(k, META_PREFIX_2026, strlen(META_PREFIX_2026)) == 0)
			json_object_del(meta, k);
	stamp_2026(params, caps, s->shared ? NULL : s->level);
	json_decref(caps);
	json_decref(own);
}

/* Of input request req ({"method", "params"}): the CAP_* it needs, 0 for
 * a method the gateway does not pass to agents. */
static unsigned irr_cap(const json_t *req)
{
	const char *m = json_string_value(json_object_get(req, "method"));

	if (!m || !json_is_object(json_object_get(req, "params")))
		return 0;
	if (strcmp(m, "sampling/createMessage") == 0)
		return CAP_SAMPLING;
	if (strcmp(m, "elicitation/create") == 0)
		return CAP_ELICITATION;
	if (strcmp(m, "roots/list") == 0)
		return CAP_ROOTS;
	return 0;
}

/* Why session s cannot be asked inputRequests reqs (static text), or
 * NULL. */
static const char *irr_unaskable(struct asess *s, const json_t *reqs)
{
	const char *k;
	json_t *v;
	unsigned n = 0;

	if (!json_is_object(reqs) || !json_object_size(reqs) ||
	    json_object_size(reqs) > IRR_ASKS_MAX)
		return "the tool zone's InputRequiredResult is malformed";
	for (struct sreq *r = s->sreqs; r; r = r->next)
		n++;
	if (n + json_object_size(reqs) > SESSION_SREQ_MAX)
		return "too many requests waiting for the client";
	json_object_foreach ((json_t *)reqs, k, v) {
		unsigned c = irr_cap(v);
		if (!c || strlen(k) > IRR_KEY_MAX)
			return "the tool zone asked for input the gateway "
			       "does not pass on";
		if (!(s->caps & c))
			return "the tool needs a client capability "
			       "(sampling, elicitation or roots) this session "
			       "did not declare";
	}
	return NULL;
}

/* Asks session s input request req under key for call p: a
 * server-to-client request with an id of ours. 0, or -1. */
static int irr_ask(struct gw *g, struct asess *s, struct preq *p,
		   const char *key, json_t *req)
{
	struct sreq *r = calloc(1, sizeof(*r));
	char id[40];
	json_t *msg;

	if (!r || gw_map_put(g->sreqs, g->next_id + 1, r)) {
		free(r);
		return -1;
	}
	r->aid = ++g->next_id;
	r->s = s;
	r->ti = p->ti;
	r->up_id = json_string(key);
	r->irr_uid = p->uid;
	r->next = s->sreqs;
	s->sreqs = r;
	snprintf(id, sizeof(id), "zg-%llu", (unsigned long long)r->aid);
	msg = json_pack("{s:s,s:s,s:O,s:O}", "jsonrpc", "2.0", "id", id,
			"method", json_object_get(req, "method"), "params",
			json_object_get(req, "params"));
	gw_sess_to_agent(s, msg);
	return 0;
}

int gw_up_irr_result(struct tzone *t, struct preq *p, struct jr_msg *m)
{
	json_t *res = json_object_get(m->root, "result");
	const char *rt = json_string_value(json_object_get(res, "resultType"));
	json_t *reqs = json_object_get(res, "inputRequests"), *v;
	const char *why, *k;

	/* a stateless agent's gets it, its state wrapped (gw_stateless.c) */
	if (!t->rev2026 || !p->s || p->s->shared || m->kind != JR_RESULT ||
	    !rt || strcmp(rt, "input_required") != 0)
		return 0;
	why = p->up_req ? irr_unaskable(p->s, reqs)
			: "the tool zone asked for input";
	if (!why) {
		json_decref(p->irr);
		p->irr = json_pack("{s:O?,s:{},s:I}", "state",
				   json_object_get(res, "requestState"),
				   "answers", "waiting",
				   (json_int_t)json_object_size(reqs));
		json_object_foreach (reqs, k, v)
			if (!p->irr || irr_ask(t->g, p->s, p, k, v) != 0)
				why = "out of memory";
	}
	if (why)
		gw_req_fail(t->g, p, GW_ERR_GATEWAY, why,
			    "input_required not bridged");
	return 1;
}

void gw_up_irr_answer(struct gw *g, struct sreq *r, struct jr_msg *m)
{
	struct preq *p = gw_map_get(g->preqs, r->irr_uid);
	struct asess *s = r->s;
	json_t *req, *params, *err = json_object_get(m->root, "error");
	json_int_t left;

	if (!p || p->s != s || !p->irr)
		return; /* the call ended meanwhile */
	if (m->kind != JR_RESULT) {
		const char *msg =
			json_string_value(json_object_get(err, "message"));
		char why[200];
		snprintf(why, sizeof(why),
			 "the client refused the tool's request: %.*s",
			 (int)gw_utf8_prefix(msg ? msg : "?", 120),
			 msg ? msg : "?");
		gw_req_fail(g, p, GW_ERR_GATEWAY, why,
			    "input refused by the client");
		return;
	}
	json_object_set(json_object_get(p->irr, "answers"),
			json_string_value(r->up_id),
			json_object_get(m->root, "result"));
	left = json_integer_value(json_object_get(p->irr, "waiting")) - 1;
	json_object_set_new(p->irr, "waiting", json_integer(left));
	if (left > 0)
		return;
	/* every answer is in: the call again, as the revision retries */
	req = json_deep_copy(p->up_req);
	params = json_object_get(req, "params");
	if (json_is_object(params)) {
		json_object_set(params, "inputResponses",
				json_object_get(p->irr, "answers"));
		if (json_object_get(p->irr, "state"))
			json_object_set(params, "requestState",
					json_object_get(p->irr, "state"));
		else
			json_object_del(params, "requestState");
	}
	json_decref(p->irr);
	p->irr = NULL;
	if (!params || s->links[p->ti].state != L_READY ||
	    gw_up_send(g->tz[p->ti], s->links[p->ti].sid, req) != 0)
		gw_req_fail(g, p, GW_ERR_GATEWAY,
			    "tool zone is busy or unavailable",
			    "upstream send failed");
	json_decref(req);
}

static void tz_downcb(void *ud, chan_mux *m, const char *why)
{
	struct tzone *t = ud;

	snprintf(t->last_error, sizeof(t->last_error), "%.*s",
		 (int)gw_utf8_prefix(why, 150), why);
	t->dead = 1;
}

static void drop_links(struct gw *g, struct asess *s, void *arg)
{
	unsigned ti = *(unsigned *)arg;

	if (s->links[ti].state != L_NONE || zg_queue_count(&s->links[ti].q))
		gw_up_link_fail(g, s, ti, g->tz[ti]->last_error);
}

/* The next connection attempt waits, twice as long each time. */
static void backoff(struct tzone *t)
{
	t->retry_at = gw_now_ms() + t->backoff;
	t->backoff = t->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
						     : t->backoff * 2;
}

/* Everything of tool zone t's connection goes: its links fail with why,
 * its own requests (control stream) end, its channel and catalogue are
 * freed. Returns whether it had a catalogue. */
static int up_teardown(struct tzone *t, const char *why)
{
	struct gw *g = t->g;
	size_t n;
	void **v;
	int had = t->have_cat;

	if (why != t->last_error)
		snprintf(t->last_error, sizeof(t->last_error), "%.*s",
			 (int)gw_utf8_prefix(why, 150), why);
	gw_sess_each(g, drop_links, &t->ti);
	gw_subs_zone_gone(t);
	v = gw_map_values(g->preqs, &n);
	for (size_t i = 0; v && i < n; i++) {
		struct preq *p = v[i];
		if (p->ti == t->ti && !p->s)
			gw_req_free(g, p);
	}
	free(v);
	gw_up_uc_free(&t->ctl_uc);
	chan_mux_free(t->m);
	t->m = NULL;
	mcp_hc_free(t->hc);
	t->hc = NULL;
	t->ping_uid = 0;
	t->ping_at = 0;
	t->dead = 0;
	t->ctl = 0;
	t->fetching = 0;
	t->refetch = 0;
	for (int k = 0; k < CAT_N; k++) {
		json_decref(t->cat[k]);
		json_decref(t->stage[k]);
		t->cat[k] = t->stage[k] = NULL;
		free(t->ehash[k]);
		t->ehash[k] = NULL;
	}
	t->have_cat = 0;
	return had;
}

/* The tool zone went away: fail its calls, hide its tools, reconnect. */
void gw_up_down(struct tzone *t, const char *why)
{
	struct gw *g = t->g;
	int had;

	fprintf(stderr, "gatewayd: tool zone %s down: %s\n", t->z->name, why);
	had = up_teardown(t, why);
	backoff(t);
	if (had)
		gw_cat_lists_changed(g, t->ti);
}

void gw_up_remove(struct tzone *t, const char *why)
{
	fprintf(stderr, "gatewayd: tool zone %s removed: %s\n", t->z->name,
		why);
	up_teardown(t, why);
}

/* ---- streams of gw_subs.c --------------------------------------------- */

uint32_t gw_up_stream_open(struct tzone *t)
{
	return up_open(t, t->rev2026);
}

void gw_up_stream_close(struct tzone *t, uint32_t sid)
{
	if (t->m)
		chan_mux_close_stream(t->m, sid);
	else if (t->hc)
		mcp_hc_close(t->hc, sid);
}

void gw_up_stamp(json_t *params)
{
	stamp_2026(params, NULL, NULL);
}

/* ---- remote tool zones (Streamable HTTP) --------------------------------- */

static void hc_message(void *ud, uint32_t sid, const char *msg, size_t len)
{
	tz_data(ud, NULL, sid, (const uint8_t *)msg, len);
}

/* A request or notification on the stream of our request rel: named
 * with it as mcpd names it on a channel (MCP_META_RELATED), so that a
 * stateless agent's progress and log messages find their request and a
 * shared session's server requests their call (relate_for_agent). */
static void hc_message_rel(void *ud, uint32_t sid, const char *msg, size_t len,
			   json_t *rel)
{
	struct tzone *t = ud;
	json_t *root, *params, *meta;
	char *txt = NULL;
	size_t tlen = 0;

	root = json_is_integer(rel) ? json_loadb(msg, len, 0, NULL) : NULL;
	params = json_object_get(root, "params");
	meta = json_object_get(params, "_meta");
	if (json_is_object(params) && !meta) {
		meta = json_object();
		json_object_set_new(params, "_meta", meta);
	}
	if (json_is_object(meta) && !json_object_get(meta, MCP_META_RELATED) &&
	    json_object_set(meta, MCP_META_RELATED, rel) == 0)
		txt = jr_dump(root, &tlen);
	json_decref(root);
	if (txt && tlen <= t->g->cfg->max_message)
		tz_data(ud, NULL, sid, (const uint8_t *)txt, tlen);
	else
		tz_data(ud, NULL, sid, (const uint8_t *)msg, len);
	free(txt);
}

static void hc_closed(void *ud, uint32_t sid, const char *why)
{
	(void)why;
	tz_close(ud, NULL, sid, 1);
}

/* The inputSchema of a 2026-07-28 remote zone's tool as its tools/list
 * showed it (the catalogue): its x-mcp-header properties become the
 * call's Mcp-Param-* headers (mcp_hc_open_stateless). */
static json_t *hc_input_schema(void *ud, uint32_t sid, const char *name)
{
	struct tzone *t = ud;

	(void)sid;
	return json_object_get(gw_cat_find(t, CAT_TOOLS, "name", name),
			       "inputSchema");
}

/* A signature of the credential files (inode, size, change time), so a
 * rewrite (or a new symlink target) is noticed. */
static uint64_t creds_sig(const struct gw_zone *z)
{
	uint64_t h = VIEW_EMPTY;
	struct stat st;

	for (size_t i = 0; i < z->nhdr; i++) {
		uint64_t v[4] = { 0, 0, 0, 0 };
		if (stat(z->hdr_files[i], &st) == 0) {
			v[0] = (uint64_t)st.st_ino;
			v[1] = (uint64_t)st.st_size;
			v[2] = (uint64_t)st.st_mtim.tv_sec;
			v[3] = (uint64_t)st.st_mtim.tv_nsec ^
			       (uint64_t)st.st_ctim.tv_nsec << 32;
		}
		for (size_t k = 0; k < 4; k++)
			h = (h ^ v[k]) * 0x100000001b3ull;
	}
	return h;
}

void gw_up_remote_creds(struct tzone *t, int force)
{
	char **lines = NULL, err[256];
	size_t n = 0;
	uint64_t sig;
	int64_t now = gw_now_ms();

	if (!t->hc || !t->z->nhdr || (!force && now < t->hdr_check_at))
		return;
	t->hdr_check_at = now + REMOTE_HDR_CHECK_MS;
	sig = creds_sig(t->z);
	if (!force && sig == t->hdr_sig)
		return;
	t->hdr_sig = sig;
	/* the messages name files, never what is in them; a bad file keeps
	 * the last good lines (a new client after a reconnect gets them) */
	if (gw_zone_headers(t->z, &lines, &n, err, sizeof(err)) ||
	    mcp_hc_set_headers(t->hc, (const char *const *)lines, n, err,
			       sizeof(err))) {
		if (t->creds)
			mcp_hc_set_headers(t->hc, (const char *const *)t->creds,
					   t->ncreds, err, sizeof(err));
		fprintf(stderr,
			"gatewayd: tool zone %s: credentials not (re)read, "
			"the previous ones stay: %s\n",
			t->z->name, err);
		snprintf(t->last_error, sizeof(t->last_error),
			 "credentials: %.*s", (int)gw_utf8_prefix(err, 140),
			 err);
		gw_zone_headers_free(lines, n);
		return;
	}
	if (!force)
		fprintf(stderr, "gatewayd: tool zone %s: credentials reread\n",
			t->z->name);
	gw_zone_headers_free(t->creds, t->ncreds);
	t->creds = lines;
	t->ncreds = n;
}

static void hc_log(void *ud, const char *msg)
{
	struct tzone *t = ud;

	fprintf(stderr, "gatewayd: tool zone %s: %s\n", t->z->name, msg);
	snprintf(t->last_error, sizeof(t->last_error), "%.*s",
		 (int)gw_utf8_prefix(msg, 150), msg);
}

static void remote_connect(struct tzone *t)
{
	static const struct mcp_hc_ops ops = { hc_message, hc_closed, hc_log,
					       hc_input_schema,
					       hc_message_rel };
	const struct gw_config *c = t->g->cfg;
	char err[256], label[GW_ZONE_NAME_MAX + 16];
	struct mcp_hc_opts o = {
		.url = t->z->url,
		.ca_file = t->z->ca_file,
		.insecure_http = t->z->insecure_http,
		.max_message = c->max_message,
		.max_queued = LINK_QUEUED_ZONE_MAX,
		.max_transfers = REMOTE_TRANSFERS_MAX,
		.request_timeout_ms =
			c->call_timeout_ms + REMOTE_POST_MARGIN_MS,
		.client_label = label,
	};

	snprintf(label, sizeof(label), "upstream %s", t->z->name);
	t->hc = mcp_hc_new(&o, &ops, t, err, sizeof(err));
	if (!t->hc) {
		snprintf(t->last_error, sizeof(t->last_error), "%.*s",
			 (int)gw_utf8_prefix(err, 150), err);
		backoff(t);
		return;
	}
	t->hdr_sig = 0;
	gw_up_remote_creds(t, 1);
	t->connects++;
	tz_up(t, NULL);
}

size_t gw_up_remote_pollfds(struct tzone *t, struct pollfd *p, size_t max)
{
	t->hc_npfd = t->hc ? mcp_hc_pollfds(t->hc, p, max) : 0;
	t->pfd = p;
	return t->hc_npfd;
}

void gw_up_remote_run(struct tzone *t)
{
	if (t->hc)
		mcp_hc_process(t->hc, t->pfd, t->pfd ? t->hc_npfd : 0);
	t->pfd = NULL;
	t->hc_npfd = 0;
}

int gw_up_remote_timeout(struct tzone *t)
{
	int x = t->hc ? mcp_hc_timeout_ms(t->hc) : -1;
	int64_t now = gw_now_ms();
	int64_t c = t->hc && t->z->nhdr ? t->hdr_check_at - now : -1;
	int64_t pg = t->hc && t->have_cat ? t->ping_at - now : -1;

	if (pg >= 0 && (c < 0 || pg < c))
		c = pg;
	if (pg < 0 && t->hc && t->have_cat)
		c = 0;
	if (c >= 0 && (x < 0 || c < x))
		x = (int)(c > 60000 ? 60000 : c);
	return x;
}

void gw_up_remote_ping(struct tzone *t)
{
	int64_t now = gw_now_ms();
	struct preq *p;
	json_t *r;

	if (!t->hc || !t->have_cat || now < t->ping_at)
		return;
	if (t->ping_uid) {
		snprintf(t->last_error, sizeof(t->last_error),
			 "no answer to a ping in %d s",
			 REMOTE_PING_TIMEOUT_MS / 1000);
		t->dead = 1;
		return;
	}
	p = gw_req_new(t->g, PK_PING, NULL, t->ti);
	if (!p)
		return;
	/* the stateless revision has no ping: its server/discover stands
	 * in (gw_up_send adds its _meta) */
	r = gw_up_request_new(p->uid, t->rev2026 ? "server/discover" : "ping",
			      t->rev2026 ? json_object() : NULL);
	if (!r || gw_up_send(t, t->ctl, r) != 0) {
		gw_req_free(t->g, p);
		t->ping_at = now + REMOTE_PING_MS;
	} else {
		t->ping_uid = p->uid;
		t->ping_at = now + REMOTE_PING_TIMEOUT_MS;
	}
	json_decref(r);
}

json_t *gw_up_remote_status(const struct tzone *t)
{
	struct mcp_hc_stats st;

	if (!t->hc)
		return json_pack("{s:s}", "url", t->z->url);
	mcp_hc_stats(t->hc, &st);
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:s}", "url", t->z->url,
			 "http_requests", (json_int_t)st.requests,
			 "http_failures", (json_int_t)st.failures,
			 "last_http_status", (json_int_t)st.last_status,
			 "transfers", (json_int_t)st.transfers,
			 "upstream_sessions", (json_int_t)st.sessions,
			 "last_http_error", st.last_error);
}

void gw_up_connect(struct tzone *t)
{
	static const struct chan_mux_ops ops = { tz_up, NULL, tz_data, tz_close,
						 tz_downcb };
	struct chan_mux_opts mo = { .max_frame = t->g->cfg->max_message,
				    .max_streams = 4096,
				    .ping_interval_ms = 2000,
				    .turn_frames = ZONE_TURN_FRAMES,
				    .turn_bytes = ZONE_TURN_BYTES,
				    .log = tz_log };
	struct chan_opts co = { 0, 0 };
	char err[256];
	chan *c;

	if (t->z->url) {
		remote_connect(t);
		return;
	}
	c = t->g->connect_tool
		    ? t->g->connect_tool(t->g->connect_ud, t->z, err,
					 sizeof(err))
		    : chan_open(t->z->chan, CHAN_CLIENT, &co, err, sizeof(err));

	if (c)
		t->m = chan_mux_new(c, &mo, &ops, t, err, sizeof(err));
	if (!t->m) {
		snprintf(t->last_error, sizeof(t->last_error), "%.*s",
			 (int)gw_utf8_prefix(err, 150), err);
		backoff(t);
		return;
	}
	t->connects++;
}
