/* MCP 2026-07-28 (stateless) agents through the gateway: a request that
 * carries its protocol version in _meta and no session is checked here,
 * server/discover answered from the zone's filtered view, and everything
 * routed runs on one shared session per agent zone, which holds that
 * zone's 2025-11-25 upstream sessions (docs/gateway.md, "Both revisions"). */
#include "gw_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zonegate/mcp.h>

#include "jsonrpc.h"

#define STL_VERSION "2026-07-28"
#define META_PV "io.modelcontextprotocol/protocolVersion"
#define META_CAPS "io.modelcontextprotocol/clientCapabilities"
#define META_LEVEL "io.modelcontextprotocol/logLevel"
#define META_PREFIX "io.modelcontextprotocol/"
#define ERR_UNSUPPORTED_VERSION (-32022)
/* stateless requests in flight on one channel stream (an HTTP request
 * carries one); the zone's calls stay under ZONE_INFLIGHT_MAX */
#define STREAM_STL_MAX SESSION_INFLIGHT_MAX
#define STL_ID_PREFIX "zgs-"
/* A zone's stateless calls are spread over up to STL_POOL shared
 * sessions, a new one opened while the least busy has STL_SPREAD calls
 * in flight: a tool zone caps calls per session (mcpd: 64), and one
 * upstream session for all of a zone's stateless agents would cap them
 * all together where each 2025-11-25 session of the zone has its own. */
#define STL_POOL 16
#define STL_SPREAD 32

/* What a result needs on the way back (resultType always). */
enum { RK_PLAIN, RK_CACHEABLE };

/* One stateless request waiting for the shared session's answer. */
struct streq {
	uint64_t n;	    /* the id it has on the shared session: zgs-N */
	json_t *id;	    /* the agent's id */
	struct asess *dest; /* the channel stream it came on, or NULL */
	struct gw_hs *hs;   /* the HTTP request it came on, or NULL */
	gw_http_deliver deliver;
	int rk;
	int level;	  /* log level asked for in _meta (index), -1 none */
	unsigned caps;	  /* CAP_* the request declared in _meta */
	unsigned need;	  /* CAP_* its tool asked the client for (refused) */
	struct asess *on; /* the shared session it runs on */
};

/* An agent zone's stateless state: the shared session and the requests
 * waiting on it. */
struct gw_stl {
	struct asess *sh[STL_POOL]; /* [0] made first, NULL: none there */
	size_t nsh;		    /* of those, not NULL */
	struct u64map *pend;
	uint64_t next_n;
};

static const char *const levels[] = {
	"debug", "info",     "notice", "warning",
	"error", "critical", "alert",  "emergency"
};

/* The index of log level v in levels (its severity), -1 for none. */
static int level_of(const char *v)
{
	for (size_t i = 0; v && i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(v, levels[i]) == 0)
			return (int)i;
	return -1;
}

/* ---- answering the agent ----------------------------------------------- */

/* Sends msg (stolen; NULL: nothing) to where a request came from: HTTP
 * request hs through deliver, else stream dest. A message either cannot
 * take is dropped (and logged by the stream's drop note). */
static void to_dest(struct asess *dest, struct gw_hs *hs,
		    gw_http_deliver deliver, json_t *msg)
{
	size_t len;
	char *txt = msg ? jr_dump(msg, &len) : NULL;

	if (txt && hs)
		deliver(hs, 0, txt, len);
	else if (txt && dest)
		gw_sess_send_text(dest, txt, len);
	free(txt);
	json_decref(msg);
}

/* An error (data stolen) for request id, to_dest's way. */
static void dest_error(struct asess *dest, struct gw_hs *hs,
		       gw_http_deliver deliver, json_t *id, int code,
		       const char *msg, json_t *data)
{
	to_dest(dest, hs, deliver, jr_error(id, code, msg, data));
}

/* Every revision the gateway speaks to agents, newest first (new). */
static json_t *versions(void)
{
	json_t *a = json_array();

	json_array_append_new(a, json_string(STL_VERSION));
	for (size_t i = 0; i < GW_NVERSIONS; i++)
		json_array_append_new(a, json_string(gw_versions[i]));
	return a;
}

/* The fields every stateless result carries; lists, reads and discover
 * also say how long they may be kept (nothing: policy or a pin can change
 * them at any time) and by whom (this zone only: its view is filtered). */
static void result_fields(json_t *res, int rk)
{
	if (!json_is_object(res))
		return;
	json_object_set_new(res, "resultType", json_string("complete"));
	if (rk == RK_CACHEABLE) {
		json_object_set_new(res, "ttlMs", json_integer(0));
		json_object_set_new(res, "cacheScope", json_string("private"));
	}
}

/* server/discover: the capabilities of what the zone may see, filtered
 * exactly as its lists are (a kind of which the zone sees nothing is not
 * offered). */
static json_t *discover(struct gw *g, struct azone *az)
{
	static const char *const caps[CAT_N] = { "tools", "resources", NULL,
						 "prompts" };
	json_t *c = json_object(), *res;
	size_t seen[CAT_N];

	for (int k = 0; k < CAT_N; k++) {
		json_t *l = gw_cat_view(g, az, k);
		seen[k] = json_array_size(l);
		json_decref(l);
	}
	seen[CAT_RES] += seen[CAT_TMPL];
	for (int k = 0; k < CAT_N; k++)
		if (caps[k] && seen[k])
			json_object_set_new(c, caps[k], json_object());
	if (json_object_get(c, "prompts") || json_object_get(c, "resources"))
		json_object_set_new(c, "completions", json_object());
	res = json_pack("{s:o,s:o,s:{s:{s:s,s:s}}}", "supportedVersions",
			versions(), "capabilities", c, "_meta",
			"io.modelcontextprotocol/serverInfo", "name",
			"zonegate-gateway", "version", GW_VERSION);
	result_fields(res, RK_CACHEABLE);
	return res;
}

static const char *const cap_names[] = { "sampling", "elicitation", "roots" };

/* CAP_* of the capabilities object caps. */
static unsigned caps_declared(const json_t *caps)
{
	unsigned c = 0;

	for (size_t i = 0; i < 3; i++)
		if (json_object_get(caps, cap_names[i]))
			c |= 1u << i;
	return c;
}

/* ---- the shared session ------------------------------------------------ */

/* A new shared session of az in slot k of st (in az->sess, so that
 * reloads and zone ends treat it as a session): 0, or -1 when out of
 * memory. It is freed by gw_sess_end (gw_stl_shared_end). */
static int shared_new(struct gw *g, struct azone *az, struct gw_stl *st,
		      size_t k)
{
	struct asess *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->links = gw_up_links_new(g->ntz);
	s->key = 2ull << 32 | k;
	/* offered upstream so that a tool's request for client input reaches
	 * the gateway, which refuses it and tells the agent (gw_stl_sreq) */
	s->caps_up = strdup("{\"sampling\":{},\"elicitation\":{},"
			    "\"roots\":{}}");
	if (!s->links || !s->caps_up || gw_map_put(az->sess, s->key, s)) {
		free(s->links);
		free(s->caps_up);
		free(s);
		return -1;
	}
	s->az = az;
	s->shared = 1;
	s->inited = 1;
	s->caps = CAP_SAMPLING | CAP_ELICITATION | CAP_ROOTS;
	snprintf(s->proto, sizeof(s->proto), "%s", gw_versions[0]);
	snprintf(s->id, sizeof(s->id), "%s/stateless", az->z->name);
	st->sh[k] = s;
	st->nsh++;
	az->sessions_total++;
	return 0;
}

/* The stateless state of az, made with its first shared session at first
 * use; NULL when out of memory. gw_stl_shared_end frees it with the last
 * shared session. */
static struct gw_stl *stl_of(struct gw *g, struct azone *az)
{
	struct gw_stl *st = az->stl;

	if (st)
		return st;
	st = calloc(1, sizeof(*st));
	if (!st || !(st->pend = gw_map_new()) || shared_new(g, az, st, 0)) {
		if (st)
			gw_map_free(st->pend);
		free(st);
		return NULL;
	}
	az->stl = st;
	return st;
}

/* The shared session a call goes on: the least busy, or a new one while
 * that has STL_SPREAD calls in flight and a slot is free (out of memory:
 * the least busy anyway). */
static struct asess *shared_pick(struct gw *g, struct azone *az,
				 struct gw_stl *st)
{
	struct asess *best = NULL;
	size_t free_k = STL_POOL;

	for (size_t k = 0; k < STL_POOL; k++) {
		if (!st->sh[k]) {
			if (free_k == STL_POOL)
				free_k = k;
			continue;
		}
		if (!best || st->sh[k]->inflight < best->inflight)
			best = st->sh[k];
	}
	if ((!best || best->inflight >= STL_SPREAD) && free_k < STL_POOL &&
	    shared_new(g, az, st, free_k) == 0)
		return st->sh[free_k];
	return best;
}

/* Forgets r (its stream's count goes down) and frees it. */
static void streq_free(struct gw_stl *st, struct streq *r)
{
	gw_map_del(st->pend, r->n);
	if (r->dest)
		r->dest->stl_pending--;
	json_decref(r->id);
	free(r);
}

/* The request for the shared session: our id, and _meta without the
 * revision's own keys (the upstream session is 2025-11-25; traceparent,
 * progressToken and the like stay). */
static void rewrite_for_shared(struct jr_msg *m, uint64_t n)
{
	char id[40];
	json_t *meta = json_object_get(m->params, "_meta");
	const char *k;
	json_t *v;
	void *tmp;

	snprintf(id, sizeof(id), STL_ID_PREFIX "%llu", (unsigned long long)n);
	json_object_set_new(m->root, "id", json_string(id));
	m->id = json_object_get(m->root, "id");
	json_object_foreach_safe (meta, tmp, k, v)
		if (strncmp(k, META_PREFIX, strlen(META_PREFIX)) == 0)
			json_object_del(meta, k);
}

/* Checks the revision's _meta of request m: 0 when it may take the
 * stateless path, else -1 with the error sent (-32602 without the
 * version or the capabilities, -32022 for another version). */
static int refuse(struct asess *dest, struct gw_hs *hs, gw_http_deliver dl,
		  struct jr_msg *m)
{
	json_t *meta = json_object_get(m->params, "_meta");
	json_t *pv = json_object_get(meta, META_PV);
	json_t *caps = json_object_get(meta, META_CAPS);

	if (!pv || !json_is_object(caps)) {
		dest_error(dest, hs, dl, m->id, -32602,
			   "Invalid params: _meta must carry "
			   "io.modelcontextprotocol/protocolVersion and "
			   "io.modelcontextprotocol/clientCapabilities (an "
			   "object)",
			   NULL);
		return -1;
	}
	if (!json_is_string(pv) || strcmp(json_string_value(pv), STL_VERSION)) {
		dest_error(dest, hs, dl, m->id, ERR_UNSUPPORTED_VERSION,
			   "Unsupported protocol version",
			   json_pack("{s:o,s:O}", "supported", versions(),
				     "requested", pv ? pv : json_null()));
		return -1;
	}
	return 0;
}

/* Index of meth in v (n entries), or -1. */
static int method_in(const char *meth, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(meth, v[i]) == 0)
			return (int)i;
	return -1;
}

int gw_stl_wanted(const struct asess *s, const struct jr_msg *m)
{
	return !s->shared && m->kind == JR_REQUEST &&
	       (s->stateless ||
		(!s->inited &&
		 json_object_get(json_object_get(m->params, "_meta"),
				 META_PV)));
}

void gw_stl_request(struct gw *g, struct azone *az, struct asess *dest,
		    struct gw_hs *hs, gw_http_deliver dl, struct jr_msg *m,
		    size_t len)
{
	/* what the revision keeps besides server/discover (CAT_* order);
	 * initialize, ping, logging/setLevel and resources/(un)subscribe are
	 * gone from it, and subscriptions/listen is not offered here */
	static const char *const lists[] = { "tools/list", "resources/list",
					     "resources/templates/list",
					     "prompts/list" };
	static const char *const routed[] = { "tools/call", "resources/read",
					      "prompts/get",
					      "completion/complete" };
	struct gw_stl *st;
	struct streq *r;
	struct asess *sh;
	const char *meth = m->method;
	int list;

	if (dest)
		dest->stateless = 1;
	if (!m->id)
		return; /* nothing to answer a notification with */
	if (g->draining) {
		g->drain_refused++;
		dest_error(dest, hs, dl, m->id, GW_ERR_GATEWAY,
			   "gateway is shutting down", NULL);
		return;
	}
	if (refuse(dest, hs, dl, m))
		return;
	if (strcmp(meth, "server/discover") == 0) {
		to_dest(dest, hs, dl, jr_result(m->id, discover(g, az)));
		return;
	}
	list = method_in(meth, lists, sizeof(lists) / sizeof(lists[0]));
	if (list < 0 &&
	    method_in(meth, routed, sizeof(routed) / sizeof(routed[0])) < 0) {
		dest_error(dest, hs, dl, m->id, -32601,
			   strcmp(meth, "subscriptions/listen") == 0
				   ? "Method not found: the gateway does not "
				     "offer subscriptions/listen (see "
				     "docs/gateway.md)"
				   : "Method not found",
			   NULL);
		return;
	}
	if (dest && dest->stl_pending >= STREAM_STL_MAX) {
		dest_error(dest, hs, dl, m->id, GW_ERR_GATEWAY,
			   "too many requests in flight", NULL);
		return;
	}
	st = stl_of(g, az);
	/* a list is answered at once, from the catalogue, on any of them */
	sh = st ? shared_pick(g, az, st) : NULL;
	r = sh ? calloc(1, sizeof(*r)) : NULL;
	if (!r || gw_map_put(st->pend, st->next_n + 1, r)) {
		free(r);
		dest_error(dest, hs, dl, m->id, -32603, "out of memory", NULL);
		return;
	}
	r->n = ++st->next_n;
	r->id = json_incref(m->id);
	r->dest = dest;
	r->hs = hs;
	r->deliver = dl;
	r->level = level_of(json_string_value(
		json_object_get(json_object_get(m->params, "_meta"),
				META_LEVEL)));
	r->caps = caps_declared(
		json_object_get(json_object_get(m->params, "_meta"),
				META_CAPS));
	if (dest)
		dest->stl_pending++;
	r->rk = list >= 0 || strcmp(meth, "resources/read") == 0 ? RK_CACHEABLE
								 : RK_PLAIN;
	rewrite_for_shared(m, r->n);
	r->on = list >= 0 ? NULL : sh;
	if (list >= 0)
		gw_cat_list(g, sh, m, list);
	else
		gw_req_route(g, sh, m, len);
}

/* ---- back to the agent ------------------------------------------------- */

/* The waiting request an id of the shared session names, or NULL. */
static struct streq *find(struct gw_stl *st, const json_t *id)
{
	const char *v = json_string_value(id);
	uint64_t n;

	if (!v || strncmp(v, STL_ID_PREFIX, strlen(STL_ID_PREFIX)) != 0 ||
	    zg_parse_uint(v + strlen(STL_ID_PREFIX), NULL, 0, UINT64_MAX, &n))
		return NULL;
	return gw_map_get(st->pend, n);
}

/* A JSON-RPC error object (data stolen, may be NULL). */
static json_t *err_obj(int code, const char *msg, json_t *data)
{
	json_t *e = json_pack("{s:i,s:s}", "code", code, "message", msg);

	if (e && data)
		json_object_set_new(e, "data", data);
	else
		json_decref(data);
	return e;
}

/* A response: the agent's id back, the revision's result fields, and
 * the revision's code for an unknown resource (-32602, was -32002). */
static void response_back(struct gw_stl *st, struct streq *r, json_t *root)
{
	json_t *err = json_object_get(root, "error");
	unsigned missing = r->need & ~r->caps;

	if (missing) {
		/* its tool asked the client for a capability the request did
		 * not declare: -32021, as the revision says. (Declared ones
		 * were refused too: the gateway does not carry requests for
		 * client input to a stateless agent, as mcpd does not; the
		 * tool's own outcome of that goes back.) */
		json_t *req = json_object();
		for (size_t i = 0; i < 3; i++)
			if (missing & 1u << i)
				json_object_set_new(req, cap_names[i],
						    json_object());
		json_object_del(root, "result");
		json_object_set_new(
			root, "error",
			err_obj(-32021,
				"the tool needs a client capability the "
				"request did not declare",
				json_pack("{s:o}", "requiredCapabilities",
					  req)));
		err = NULL;
	}

	json_object_set(root, "id", r->id);
	result_fields(json_object_get(root, "result"), r->rk);
	if (json_integer_value(json_object_get(err, "code")) == -32002)
		json_object_set_new(err, "code", json_integer(-32602));
	to_dest(r->dest, r->hs, r->deliver, json_incref(root));
	streq_free(st, r);
}

/* A notification for the request it names (progress; log messages only
 * at or above the level the request asked for, none if it asked none). */
static void notification_back(struct streq *r, json_t *root)
{
	json_t *params = json_object_get(root, "params");
	json_t *meta = json_object_get(params, "_meta");
	const char *meth = json_string_value(json_object_get(root, "method"));

	if (meth && strcmp(meth, "notifications/message") == 0 &&
	    (r->level < 0 ||
	     level_of(json_string_value(json_object_get(params, "level"))) <
		     r->level))
		return;
	json_object_set(meta, MCP_META_RELATED, r->id);
	to_dest(r->dest, r->hs, r->deliver, json_incref(root));
}

int gw_stl_deliver(struct asess *sh, const char *msg, size_t len)
{
	struct gw_stl *st = sh->az->stl;
	json_t *root = st ? json_loadb(msg, len, 0, NULL) : NULL;
	json_t *meta;
	struct streq *r;

	if (!json_is_object(root))
		goto out;
	if (!json_object_get(root, "method")) {
		r = find(st, json_object_get(root, "id"));
		if (r)
			response_back(st, r, root);
		goto out;
	}
	meta = json_object_get(json_object_get(root, "params"), "_meta");
	r = find(st, json_object_get(meta, MCP_META_RELATED));
	if (r && !json_object_get(root, "id"))
		notification_back(r, root);
out:
	json_decref(root);
	return 0;
}

int gw_stl_sreq(struct tzone *t, struct asess *sh, struct jr_msg *m)
{
	static const char *const pre[] = { "sampling/", "elicitation/",
					   "roots/" };
	struct gw_stl *st = sh->az->stl;
	json_t *rel = json_object_get(json_object_get(m->params, "_meta"),
				      MCP_META_RELATED);
	struct preq *p = json_is_integer(rel)
				 ? gw_map_get(t->g->preqs,
					      (uint64_t)json_integer_value(rel))
				 : NULL;
	struct streq *r = p && p->s == sh && st ? find(st, p->aid) : NULL;
	json_t *e = jr_error(m->id, -32601, "Method not found", NULL);

	for (size_t i = 0; r && i < 3; i++)
		if (strncmp(m->method, pre[i], strlen(pre[i])) == 0)
			r->need |= 1u << i;
	gw_up_send(t, sh->links[t->ti].sid, e);
	json_decref(e);
	return 1;
}

/* Tells the tool zone that call n of the shared session is not wanted
 * any more (the agent went away), as a client's cancellation would. */
static void cancel_upstream(struct gw *g, struct streq *r)
{
	uint64_t n = r->n;
	char id[40];
	struct jr_msg m;
	json_t *c;

	snprintf(id, sizeof(id), STL_ID_PREFIX "%llu", (unsigned long long)n);
	c = jr_request(NULL, "notifications/cancelled",
		       json_pack("{s:s}", "requestId", id));
	if (!c)
		return;
	jr_classify(c, &m);
	if (r->on)
		gw_req_cancel(g, r->on, &m);
	jr_msg_clear(&m);
}

void gw_stl_gone(struct gw *g, struct azone *az, struct asess *dest,
		 struct gw_hs *hs)
{
	struct gw_stl *st = az->stl;
	size_t n;
	void **v = st ? gw_map_values(st->pend, &n) : NULL;

	for (size_t i = 0; v && i < n; i++) {
		struct streq *r = v[i];
		if ((dest && r->dest != dest) || (hs && r->hs != hs))
			continue;
		cancel_upstream(g, r);
		streq_free(st, r);
	}
	free(v);
}

void gw_stl_cancel(struct gw *g, struct asess *dest, struct jr_msg *m)
{
	struct gw_stl *st = dest->az->stl;
	json_t *rid = json_object_get(m->params, "requestId");
	size_t n;
	void **v = st && rid ? gw_map_values(st->pend, &n) : NULL;

	for (size_t i = 0; v && i < n; i++) {
		struct streq *r = v[i];
		if (r->dest != dest || !jr_id_equal(r->id, rid))
			continue;
		cancel_upstream(g, r);
		streq_free(st, r);
		break;
	}
	free(v);
}

void gw_stl_shared_end(struct gw *g, struct asess *s)
{
	struct gw_stl *st = s->az->stl;
	size_t n;
	void **v;

	size_t k = s->key & 0xffffffffu;

	(void)g;
	if (!st || k >= STL_POOL || st->sh[k] != s)
		return;
	st->sh[k] = NULL;
	st->nsh--;
	v = gw_map_values(st->pend, &n);
	for (size_t i = 0; v && i < n; i++) {
		struct streq *r = v[i];
		if (st->nsh && r->on != s)
			continue;
		dest_error(r->dest, r->hs, r->deliver, r->id, GW_ERR_GATEWAY,
			   "gateway session unavailable", NULL);
		streq_free(st, r);
	}
	free(v);
	if (st->nsh)
		return;
	gw_map_free(st->pend);
	s->az->stl = NULL;
	free(st);
}

/* ---- HTTP listeners' stateless requests -------------------------------- */

/* The agent zone named zone, or NULL. */
static struct azone *zone_named(struct gw *g, const char *zone)
{
	for (size_t i = 0; i < g->naz; i++)
		if (strcmp(g->az[i]->z->name, zone) == 0)
			return g->az[i];
	return NULL;
}

void gw_route_http_stateless(struct gw *g, const char *zone, struct gw_hs *hs,
			     gw_http_deliver deliver, const char *msg,
			     size_t len)
{
	struct azone *az = zone_named(g, zone);
	struct jr_msg m;

	jr_parse(msg, len, g->cfg->max_message, MAX_DEPTH, &m);
	if (m.kind != JR_REQUEST) {
		jr_msg_clear(&m);
		return; /* the transport answered it already */
	}
	if (!az)
		dest_error(NULL, hs, deliver, m.id, GW_ERR_GATEWAY,
			   "gateway session unavailable", NULL);
	else
		gw_stl_request(g, az, NULL, hs, deliver, &m, len);
	jr_msg_clear(&m);
}

void gw_route_http_stateless_end(struct gw *g, const char *zone,
				 struct gw_hs *hs)
{
	struct azone *az = zone_named(g, zone);

	if (az)
		gw_stl_gone(g, az, NULL, hs);
}
