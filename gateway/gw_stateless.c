/* MCP 2026-07-28 (stateless) agents through the gateway: a request that
 * carries its protocol version in _meta and no session is checked here,
 * server/discover answered from the zone's filtered view, and everything
 * routed runs on shared sessions per agent zone, which hold that zone's
 * 2025-11-25 upstream sessions; a tool's requests for client input become
 * InputRequiredResults of held calls, and subscriptions/listen carries the
 * zone's list changes and resource updates (docs/gateway.md, "Both
 * revisions", "Held calls"). */
#include "gw_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zonegate/mcp.h>

#include "jsonrpc.h"
#include "mcp_state.h"
#include "param_headers.h"

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
/* A held call's requests from its tool zone waiting for the agent at
 * once (more are refused upstream). */
#define HELD_ASKS_MAX 8
/* The revision's answer to a requestState the gateway does not accept. */
#define ERR_BAD_STATE (-32602)
/* subscriptions/listen: open per agent zone, URIs in one filter */
#define LISTEN_MAX 16
#define LISTEN_URIS_MAX 256
#define LISTEN_URI_MAX 4096
#define META_SUB_ID "io.modelcontextprotocol/subscriptionId"
#define LISTEN_ID_PREFIX "zgl-"

/* What a result needs on the way back (resultType always). */
enum { RK_PLAIN, RK_CACHEABLE };

/* One request of a tool zone (sampling, elicitation, roots) on a held
 * call, waiting for the agent's answer in a retry's inputResponses. */
struct ask {
	char key[24];	 /* its key in inputRequests (the gateway's) */
	json_t *up_id;	 /* its id upstream */
	unsigned ti;	 /* the tool zone it came from, while serial is its */
	unsigned serial; /* serial (zones come and go at run time) */
	json_t *req;	 /* {"method", "params"} for the agent */
};

/* One stateless request waiting for the shared session's answer. A
 * tools/call, prompts/get or resources/read whose tool zone asks the
 * agent for input is "held": answered with an InputRequiredResult while
 * its upstream call stays open, until the agent's retry (requestState)
 * resumes it, or held_idle_ms pass (docs/gateway.md, "Held calls"). */
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
	/* what its requestState is bound to (mcp_state_seal): the method,
	 * the tool or prompt name or the URI, the arguments */
	char method[24];
	char *target;
	json_t *args;
	char trace[56];	   /* its traceparent, for the audit records */
	char audit_id[64]; /* its call's audit id, once known */
	struct ask *asks;  /* HELD_ASKS_MAX of them, made at its first */
	size_t nasks;
	unsigned next_key;
	unsigned round;	 /* InputRequiredResults sent before this one */
	int held;	 /* answered so, waiting for the agent's retry */
	int64_t idle_at; /* held: cancelled upstream and forgotten then */
	json_t *final;	 /* its response, when it came while held */
	json_t *pre;	 /* answers the agent sent before the question
			  * (inputResponses), each used once, or NULL */
	/* the tool's requests since the last InputRequiredResult, and how
	 * many it said it sends at once (MCP_META_INPUT_BATCH; at least 1) */
	unsigned arrived, batch;
	int task;	/* GW_TASK_*: how it went upstream (gw_tasks.c) */
	char *task_tok; /* a tasks method: the agent's taskId */
};

/* One open subscriptions/listen: where its notifications go, and which
 * (LS_*, and the resource URIs agreed to). */
enum { LS_TOOLS = 1, LS_RES = 2, LS_PROMPTS = 4 };
struct stlisten {
	json_t *id; /* the request's id: the subscription id */
	struct asess *dest;
	struct gw_hs *hs;
	gw_http_deliver deliver;
	unsigned what;
	json_t *uris; /* agreed resourceSubscriptions, or NULL */
	struct gw *g; /* set once it holds subscriptions (upstream) */
	struct azone *az;
	struct stlisten *next;
};

/* An agent zone's stateless state: the shared session and the requests
 * waiting on it. */
struct gw_stl {
	struct asess *sh[STL_POOL]; /* [0] made first, NULL: none there */
	size_t nsh;		    /* of those, not NULL */
	struct u64map *pend;
	uint64_t next_n;
	unsigned nheld;	  /* of pend, held (at most held_max) */
	int64_t sweep_at; /* the earliest idle_at of those */
	struct stlisten *listens;
	unsigned nlistens; /* at most LISTEN_MAX */
	uint64_t next_sub; /* ids of upstream resources/subscribe: zgl-N */
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
		/* tasks: when a tool it sees is on a zone that offers them */
		if (k == CAT_TOOLS && gw_task_reachable(g, az, l))
			json_object_set_new(c, "extensions",
					    json_pack("{s:{}}",
						      "io.modelcontextprotocol/"
						      "tasks"));
		json_decref(l);
	}
	seen[CAT_RES] += seen[CAT_TMPL];
	/* list changes and resource updates come by subscriptions/listen */
	for (int k = 0; k < CAT_N; k++)
		if (caps[k] && seen[k])
			json_object_set_new(c, caps[k],
					    json_pack("{s:b}", "listChanged",
						      1));
	if (seen[CAT_RES])
		json_object_set_new(json_object_get(c, "resources"),
				    "subscribe", json_true());
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

/* Forgets ask i of r (its tool zone's request stays unanswered: the
 * call is answered, cancelled or going). */
static void ask_drop(struct streq *r, size_t i)
{
	json_decref(r->asks[i].up_id);
	json_decref(r->asks[i].req);
	memmove(&r->asks[i], &r->asks[i + 1],
		(r->nasks - i - 1) * sizeof(r->asks[0]));
	r->nasks--;
}

/* Forgets r (its stream's count goes down) and frees it. */
static void streq_free(struct gw_stl *st, struct streq *r)
{
	gw_map_del(st->pend, r->n);
	if (r->dest)
		r->dest->stl_pending--;
	if (r->held)
		st->nheld--;
	while (r->nasks)
		ask_drop(r, r->nasks - 1);
	json_decref(r->id);
	json_decref(r->args);
	json_decref(r->final);
	json_decref(r->pre);
	free(r->asks);
	free(r->target);
	free(r->task_tok);
	free(r);
}

/* The request for the shared session: our id, and _meta without the
 * revision's own keys (traceparent, progressToken and the like stay)
 * but the client capabilities the gateway acts on (sampling,
 * elicitation, roots; each sub-object when at most CAP_PART_MAX bytes,
 * else empty), which gw_up_meta passes to a 2026-07-28 tool zone and
 * drops for a 2025-11-25 one. */
static void rewrite_for_shared(struct jr_msg *m, uint64_t n)
{
	char id[40];
	json_t *meta = json_object_get(m->params, "_meta");
	json_t *caps = json_object(), *agent = json_object_get(meta, META_CAPS);
	const char *k;
	json_t *v;
	void *tmp;

	snprintf(id, sizeof(id), STL_ID_PREFIX "%llu", (unsigned long long)n);
	json_object_set_new(m->root, "id", json_string(id));
	m->id = json_object_get(m->root, "id");
	for (size_t i = 0; i < 3; i++) {
		json_t *c = json_object_get(agent, cap_names[i]);
		char *txt = c ? json_dumps(c, JSON_COMPACT) : NULL;
		if (c)
			json_object_set_new(caps, cap_names[i],
					    txt && strlen(txt) <= CAP_PART_MAX
						    ? json_deep_copy(c)
						    : json_object());
		free(txt);
	}
	json_object_foreach_safe (meta, tmp, k, v)
		if (strncmp(k, META_PREFIX, strlen(META_PREFIX)) == 0)
			json_object_del(meta, k);
	if (json_is_object(meta))
		json_object_set_new(meta, META_CAPS, caps);
	else
		json_decref(caps);
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

static void sweep(struct gw *g, struct azone *az, struct gw_stl *st);
static void listen_open(struct gw *g, struct azone *az, struct asess *dest,
			struct gw_hs *hs, gw_http_deliver dl,
			const struct jr_msg *m);
static void listen_notify(struct gw_stl *st, struct asess *sh, json_t *root);
static void listens_end(struct gw_stl *st, struct asess *dest, struct gw_hs *hs,
			const json_t *id, int graceful);
static void resume(struct gw *g, struct azone *az, struct asess *dest,
		   struct gw_hs *hs, gw_http_deliver dl, struct jr_msg *m,
		   size_t len);
static void run_request(struct gw *g, struct azone *az, struct asess *dest,
			struct gw_hs *hs, gw_http_deliver dl, struct jr_msg *m,
			size_t len, int list, int inputs_up, char *tok);
static void task_request(struct gw *g, struct azone *az, struct asess *dest,
			 struct gw_hs *hs, gw_http_deliver dl, struct jr_msg *m,
			 size_t len);
static int wrap_state(struct gw *g, struct azone *az, struct streq *r,
		      json_t *res);
static struct tzone *zone_of(struct gw *g, struct azone *az, const char *method,
			     const char *target);

/* What a request's requestState is bound to besides its method: the
 * tool or prompt name, or the URI (borrowed; NULL if it has none). */
static const char *target_of(const struct jr_msg *m)
{
	json_t *v = json_object_get(m->params, "name");

	return json_string_value(v ? v : json_object_get(m->params, "uri"));
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
	/* what the revision keeps besides server/discover and
	 * subscriptions/listen (CAT_* order); initialize, ping,
	 * logging/setLevel and resources/(un)subscribe are gone from it */
	static const char *const lists[] = { "tools/list", "resources/list",
					     "resources/templates/list",
					     "prompts/list" };
	static const char *const routed[] = { "tools/call", "resources/read",
					      "prompts/get",
					      "completion/complete" };
	const char *meth = m->method;
	struct tzone *to;
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
	if (strcmp(meth, "subscriptions/listen") == 0) {
		if (dest && dest->stl_pending >= STREAM_STL_MAX)
			dest_error(dest, hs, dl, m->id, GW_ERR_GATEWAY,
				   "too many requests in flight", NULL);
		else
			listen_open(g, az, dest, hs, dl, m);
		return;
	}
	list = method_in(meth, lists, sizeof(lists) / sizeof(lists[0]));
	if (list < 0 && !gw_task_method(meth) &&
	    method_in(meth, routed, sizeof(routed) / sizeof(routed[0])) < 0) {
		dest_error(dest, hs, dl, m->id, -32601, "Method not found",
			   NULL);
		return;
	}
	if (dest && dest->stl_pending >= STREAM_STL_MAX) {
		dest_error(dest, hs, dl, m->id, GW_ERR_GATEWAY,
			   "too many requests in flight", NULL);
		return;
	}
	if (az->stl)
		sweep(g, az, az->stl);
	if (gw_task_method(meth)) {
		task_request(g, az, dest, hs, dl, m, len);
		return;
	}
	if (list < 0 && json_object_get(m->params, "requestState")) {
		resume(g, az, dest, hs, dl, m, len);
		return;
	}
	/* a 2026-07-28 tool zone takes the answers itself (a retry without
	 * requestState: the zone gave none) */
	to = list < 0 ? zone_of(g, az, meth, target_of(m)) : NULL;
	run_request(g, az, dest, hs, dl, m, len, list, to && to->rev2026, NULL);
}

/* Runs stateless request m (len bytes; list: its CAT_* or -1 for a
 * routed one) on a shared session. inputs_up: its inputResponses go
 * upstream with it (the retry of a tool zone's own InputRequiredResult,
 * a tasks method); else they are kept for the requests of a held call.
 * tok (stolen, may be NULL): a tasks method's taskId as the agent sent
 * it. */
static void run_request(struct gw *g, struct azone *az, struct asess *dest,
			struct gw_hs *hs, gw_http_deliver dl, struct jr_msg *m,
			size_t len, int list, int inputs_up, char *tok)
{
	const char *meth = m->method;
	struct gw_stl *st;
	struct streq *r;
	struct asess *sh;
	int tasks = gw_task_declared(
		json_object_get(json_object_get(m->params, "_meta"),
				META_CAPS));

	st = stl_of(g, az);
	/* a list is answered at once, from the catalogue, on any of them */
	sh = st ? shared_pick(g, az, st) : NULL;
	r = sh ? calloc(1, sizeof(*r)) : NULL;
	if (!r || gw_map_put(st->pend, st->next_n + 1, r)) {
		free(r);
		free(tok);
		dest_error(dest, hs, dl, m->id, -32603, "out of memory", NULL);
		return;
	}
	r->n = ++st->next_n;
	r->task_tok = tok;
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
	snprintf(r->method, sizeof(r->method), "%s", meth);
	r->target = target_of(m) ? strdup(target_of(m)) : NULL;
	r->args = json_incref(json_object_get(m->params, "arguments"));
	/* answers sent up front answer the tool's requests of those keys;
	 * they are not for a 2025-11-25 tool zone's eyes */
	if (!inputs_up &&
	    json_is_object(json_object_get(m->params, "inputResponses")))
		r->pre = json_deep_copy(
			json_object_get(m->params, "inputResponses"));
	if (!inputs_up)
		json_object_del(m->params, "inputResponses");
	gw_req_trace(m->params, r->trace);
	rewrite_for_shared(m, r->n);
	if (list < 0)
		r->task = gw_task_up(g, az, meth, r->target, tasks, m->params);
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
	json_t *res = json_object_get(root, "result");
	/* a tool that could not ask (the capability was not declared) and
	 * failed: that is why; one that did without the answer succeeded */
	unsigned missing = err || json_is_true(json_object_get(res, "isError"))
				   ? r->need & ~r->caps
				   : 0;

	if (r->held) {
		/* the call ended while the agent holds its requestState: kept
		 * for the retry (or forgotten at the idle deadline) */
		if (!r->final)
			r->final = json_incref(root);
		while (r->nasks)
			ask_drop(r, r->nasks - 1);
		return;
	}

	if (missing) {
		/* its tool asked the client for a capability the request did
		 * not declare and failed: -32021, as the revision says */
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

	if (res && !r->need &&
	    json_is_string(json_object_get(res, "resultType")) &&
	    strcmp(json_string_value(json_object_get(res, "resultType")),
		   "input_required") == 0) {
		/* the tool zone asked itself (a 2026-07-28 zone) */
		if (wrap_state(r->on->az->g, r->on->az, r, res) != 0) {
			json_object_del(root, "result");
			json_object_set_new(root, "error",
					    err_obj(GW_ERR_GATEWAY,
						    "the tool zone's "
						    "requestState is too large",
						    NULL));
		}
		json_object_set(root, "id", r->id);
		to_dest(r->dest, r->hs, r->deliver, json_incref(root));
		streq_free(st, r);
		return;
	}
	json_object_set(root, "id", r->id);
	/* r->on is set for a routed request (every one with a task mode) */
	if (r->task == GW_TASK_NONE ||
	    !gw_task_back(r->on->az->g, r->on->az, r->method, r->target,
			  r->task, r->task_tok, root))
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
	/* no sweep here: a delivery runs inside whatever ends a call
	 * (deadlines, a link's failure, a drain), and a sweep's
	 * cancellations would free requests under it; held calls are swept
	 * by gw_stl_sweep_due at a turn's end and at a zone's request */
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
	else if (!r && !json_object_get(root, "id"))
		listen_notify(st, sh, root);
out:
	json_decref(root);
	return 0;
}

/* ---- held calls (InputRequiredResult) ---------------------------------- */

static void cancel_upstream(struct gw *g, struct streq *r);

/* One audit record of held call r's life in agent zone az: decision
 * (input_required, resumed, expired, refused) and reason (may be NULL),
 * under its call's audit id. */
static void held_audit(struct gw *g, struct azone *az, struct streq *r,
		       const char *decision, const char *reason)
{
	gw_req_audit(g, az->z->name, r->on ? r->on->id : "-", r->method,
		     r->target, decision, NULL, reason,
		     r->audit_id[0] ? r->audit_id : NULL, 0, 0, 0, 0, 0, NULL,
		     r->trace);
}

/* How long a requestState is valid, in whole seconds. Its expiry is
 * counted from the issuing second (time(NULL)), so it lasts between
 * ttl - 1 and ttl seconds: held_idle_ms rounded up, plus one, keeps a
 * state valid for at least as long as its held call (1500 ms once gave
 * 2 s, which could be 1 s). */
static unsigned state_ttl(const struct gw_config *c)
{
	return (unsigned)((c->held_idle_ms + 999) / 1000) + 1;
}

/* The requestState of held call r, round r->round: this replica, the
 * zone and the call, sealed and bound to the call's method, target and
 * arguments, valid a little longer than the held call (new text; NULL
 * when out of memory or too large). */
static char *held_state(struct gw *g, struct azone *az, struct streq *r)
{
	const struct gw_config *c = g->cfg;
	json_t *state = json_pack("{s:s,s:s,s:I,s:I}", "z", az->z->name, "g",
				  c->replica_id, "h", (json_int_t)r->n, "r",
				  (json_int_t)r->round);
	unsigned ttl = state_ttl(c);
	char *tok = state ? mcp_state_seal(c->state_keys, r->method, r->target,
					   r->args, state, time(NULL), ttl)
			  : NULL;

	json_decref(state);
	return tok;
}

/* Answers held call r's agent with an InputRequiredResult of every
 * request waiting for it; r is then held until the retry or its idle
 * deadline. Out of memory: the call is cancelled with an error. */
static void ask_agent(struct gw *g, struct azone *az, struct gw_stl *st,
		      struct streq *r)
{
	json_t *reqs = json_object(), *res;
	char *tok = held_state(g, az, r);
	int64_t now = gw_now_ms();

	for (size_t i = 0; reqs && i < r->nasks; i++)
		json_object_set(reqs, r->asks[i].key, r->asks[i].req);
	res = reqs && tok ? json_pack("{s:s,s:O,s:s}", "resultType",
				      "input_required", "inputRequests", reqs,
				      "requestState", tok)
			  : NULL;
	json_decref(reqs);
	free(tok);
	if (!res) {
		dest_error(r->dest, r->hs, r->deliver, r->id, -32603,
			   "out of memory", NULL);
		cancel_upstream(g, r);
		streq_free(st, r);
		return;
	}
	to_dest(r->dest, r->hs, r->deliver, jr_result(r->id, res));
	held_audit(g, az, r, "input_required", NULL);
	r->arrived = 0;
	r->batch = 1;
	if (r->dest)
		r->dest->stl_pending--;
	r->dest = NULL;
	r->hs = NULL;
	r->held = 1;
	st->nheld++;
	r->idle_at = now + g->cfg->held_idle_ms;
	if (st->nheld == 1 || r->idle_at < st->sweep_at)
		st->sweep_at = r->idle_at;
}

/* Sends the agent's answer a (borrowed) to ask k of held call r
 * upstream, when its tool zone and link are still the ones it came on. */
static void answer_up(struct gw *g, struct streq *r, const struct ask *k,
		      json_t *a)
{
	struct tzone *t = k->ti < g->ntz ? g->tz[k->ti] : NULL;
	json_t *msg;

	if (!t || t->serial != k->serial || !r->on ||
	    r->on->links[k->ti].state != L_READY)
		return;
	msg = jr_result(k->up_id, json_incref(a));
	if (msg)
		gw_up_send(t, r->on->links[k->ti].sid, msg);
	json_decref(msg);
}

/* k can key a request of r: the tool's own name for it (at most 23 of
 * [A-Za-z0-9_.-], not one of the gateway's, not waiting already). */
static int key_ok(const struct streq *r, const char *k)
{
	size_t n = k ? strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				 "qrstuvwxyz0123456789_.-")
		     : 0;

	if (n == 0 || k[n] || n >= sizeof(r->asks[0].key) ||
	    strncmp(k, "zg-input-", 9) == 0)
		return 0;
	for (size_t i = 0; i < r->nasks; i++)
		if (strcmp(r->asks[i].key, k) == 0)
			return 0;
	return 1;
}

/* Adds tool zone t's request m to call r (p upstream) of the shared
 * session: answered at once when the agent sent its answer up front, else
 * asked of the agent at once when it waits for r, else with the next
 * InputRequiredResult. NULL, or why it is refused upstream (code in
 * *code). */
static const char *held_add(struct tzone *t, struct gw_stl *st, struct streq *r,
			    struct preq *p, struct jr_msg *m, int *code)
{
	struct gw *g = t->g;
	struct azone *az = r->on->az;
	struct ask *a;
	json_t *params, *meta;

	*code = GW_ERR_GATEWAY;
	if (r->final)
		return "the call has ended";
	if (r->nasks == HELD_ASKS_MAX)
		return "too many requests waiting for the client";
	if (!r->asks && !(r->asks = calloc(HELD_ASKS_MAX, sizeof(*r->asks))))
		return "out of memory";
	a = &r->asks[r->nasks];
	params = m->params ? json_deep_copy(m->params) : json_object();
	meta = json_object_get(params, "_meta");
	if (key_ok(r, json_string_value(
			      json_object_get(meta, MCP_META_INPUT_KEY))))
		snprintf(a->key, sizeof(a->key), "%s",
			 json_string_value(
				 json_object_get(meta, MCP_META_INPUT_KEY)));
	else
		snprintf(a->key, sizeof(a->key), "zg-input-%u", ++r->next_key);
	json_object_del(meta, MCP_META_RELATED);
	json_object_del(meta, MCP_META_INPUT_KEY);
	json_object_del(meta, MCP_META_INPUT_BATCH);
	if (meta && json_object_size(meta) == 0)
		json_object_del(params, "_meta");
	a->up_id = json_incref(m->id);
	a->ti = t->ti;
	a->serial = t->serial;
	if (json_is_object(json_object_get(r->pre, a->key))) {
		/* answered already, up front: that answer, once */
		answer_up(g, r, a, json_object_get(r->pre, a->key));
		json_object_del(r->pre, a->key);
		json_decref(a->up_id);
		json_decref(params);
		return NULL;
	}
	if (!r->held && st->nheld >= g->cfg->held_max) {
		held_audit(g, az, r, "refused",
			   "held calls of the agent zone at held_max");
		json_decref(a->up_id);
		json_decref(params);
		return "too many calls of this agent zone wait for client "
		       "input (held_max)";
	}
	a->req = json_pack("{s:s,s:o}", "method", m->method, "params", params);
	if (!a->req) {
		json_decref(a->up_id);
		return "out of memory";
	}
	r->nasks++;
	if (!r->audit_id[0])
		snprintf(r->audit_id, sizeof(r->audit_id), "%s", p->audit_id);
	return NULL;
}

/* Counts one request of the tool for call r (m) toward the batch it
 * announced: 1 when the agent may be asked now (the whole batch is in). */
static int batch_in(struct streq *r, const struct jr_msg *m)
{
	json_t *b = json_object_get(json_object_get(m->params, "_meta"),
				    MCP_META_INPUT_BATCH);
	json_int_t n = json_is_integer(b) ? json_integer_value(b) : 1;

	if (n >= 1 && n <= HELD_ASKS_MAX && (unsigned)n > r->batch)
		r->batch = (unsigned)n;
	r->arrived++;
	return r->arrived >= r->batch;
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
	const char *why = "Method not found";
	int code = -32601;
	json_t *e;

	for (unsigned i = 0; r && i < 3; i++) {
		if (strncmp(m->method, pre[i], strlen(pre[i])) != 0)
			continue;
		/* one the agent did not declare is refused, as the agent
		 * would; one it did becomes an input request */
		if (!(r->caps & 1u << i))
			r->need |= 1u << i;
		else if (r->on && !(why = held_add(t, st, r, p, m, &code)))
			break;
	}
	if (why) {
		e = jr_error(m->id, code, why, NULL);
		gw_up_send(t, sh->links[t->ti].sid, e);
		json_decref(e);
	}
	if (r && batch_in(r, m) && r->nasks && !r->held)
		ask_agent(t->g, sh->az, st, r);
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

/* Cancels upstream and forgets every held call of az idle past its
 * deadline (when one may be due). Called only where no request of the
 * gateway is being ended (a zone's new request, a turn's end): its
 * cancellations free requests. */
static void sweep(struct gw *g, struct azone *az, struct gw_stl *st)
{
	int64_t now = gw_now_ms();
	size_t n;
	void **v;

	if (!st->nheld || now < st->sweep_at)
		return;
	v = gw_map_values(st->pend, &n);
	st->sweep_at = INT64_MAX;
	for (size_t i = 0; v && i < n; i++) {
		struct streq *r = v[i];
		if (!r->held)
			continue;
		if (r->idle_at > now) {
			if (r->idle_at < st->sweep_at)
				st->sweep_at = r->idle_at;
			continue;
		}
		held_audit(g, az, r, "expired",
			   "no retry within held_idle_ms: cancelled upstream");
		cancel_upstream(g, r);
		streq_free(st, r);
	}
	free(v);
}

int64_t gw_stl_sweep_at(const struct azone *az)
{
	return az->stl && az->stl->nheld ? az->stl->sweep_at : INT64_MAX;
}

void gw_stl_sweep_due(struct gw *g)
{
	for (size_t i = 0; i < g->naz; i++)
		if (g->az[i]->stl)
			sweep(g, g->az[i], g->az[i]->stl);
}

/* The tool zone a request to method on target (a name, or a URI for
 * resources/read) goes to for agent zone az, or NULL. */
static struct tzone *zone_of(struct gw *g, struct azone *az, const char *method,
			     const char *target)
{
	const char *bare;

	if (!target)
		return NULL;
	if (strcmp(method, "resources/read") == 0)
		return gw_cat_resolve_uri(g, target);
	return gw_cat_resolve_name(g, az, target, &bare);
}

/* A tool zone's own InputRequiredResult res (a 2026-07-28 zone asks for
 * input itself, holding nothing): its requestState goes to the agent
 * sealed by the gateway with the tool zone's name and this agent zone's,
 * bound to the request (method, target, arguments), so that an agent can
 * neither alter it nor carry it to another zone or tool, and the retry
 * may reach any replica with the same state_key_file. 0, or -1 when it
 * cannot be sealed (too large for a requestState). */
static int wrap_state(struct gw *g, struct azone *az, struct streq *r,
		      json_t *res)
{
	struct tzone *t = zone_of(g, az, r->method, r->target);
	json_t *up = json_object_get(res, "requestState");
	/* "u": its state, null when it gave none (the retry then has none) */
	json_t *state = t ? json_pack("{s:s,s:s,s:O}", "z", az->z->name, "t",
				      t->z->name, "u", up ? up : json_null())
			  : NULL;
	unsigned ttl = state_ttl(g->cfg);
	char *tok = state ? mcp_state_seal(g->cfg->state_keys, r->method,
					   r->target, r->args, state,
					   time(NULL), ttl)
			  : NULL;

	json_decref(state);
	if (!tok)
		return -1;
	json_object_set_new(res, "requestState", json_string(tok));
	free(tok);
	return 0;
}

/* The retry of a wrapped InputRequiredResult (wrap_state): NULL and the
 * tool zone's own state in *up (new text, "" when it gave none) when
 * state is this agent zone's and names the tool zone the retry goes to;
 * else why. */
static const char *unwrap_check(struct gw *g, struct azone *az,
				const struct jr_msg *m, const json_t *state,
				char **up)
{
	json_t *z = json_object_get(state, "z");
	json_t *t = json_object_get(state, "t");
	json_t *u = json_object_get(state, "u");
	struct tzone *to = zone_of(g, az, m->method, target_of(m));

	if (!json_is_string(z) || !json_is_string(t) ||
	    !(json_is_string(u) || json_is_null(u)))
		return "requestState is malformed";
	if (strcmp(json_string_value(z), az->z->name) != 0)
		return "requestState was issued to another agent zone";
	if (!to || strcmp(json_string_value(t), to->z->name) != 0)
		return "requestState was issued for another tool zone";
	*up = strdup(json_is_string(u) ? json_string_value(u) : "");
	return *up ? NULL : "out of memory";
}

/* Checks retry m's requestState and inputResponses: NULL and the held
 * call it resumes in *out, or for a wrapped tool zone's state (unwrap_check)
 * NULL and that state in *up; or why it is refused (static text). */
static const char *state_check(struct gw *g, struct azone *az,
			       const struct jr_msg *m, struct streq **out,
			       char **up)
{
	json_t *rs = json_object_get(m->params, "requestState");
	json_t *resp = json_object_get(m->params, "inputResponses");
	json_t *state = NULL, *z, *rep, *h, *rd;
	const char *why = NULL;
	struct streq *r = NULL;

	*out = NULL;
	if (!json_is_string(rs))
		return "requestState must be a string";
	if (resp && !json_is_object(resp))
		return "inputResponses must be an object";
	if (mcp_state_open(g->cfg->state_keys, json_string_value(rs),
			   json_string_length(rs), m->method, target_of(m),
			   json_object_get(m->params, "arguments"), time(NULL),
			   &state, &why) != 0)
		return why;
	why = NULL; /* mcp_state_open leaves its default there */
	if (json_object_get(state, "u")) {
		why = unwrap_check(g, az, m, state, up);
		json_decref(state);
		return why;
	}
	z = json_object_get(state, "z");
	rep = json_object_get(state, "g");
	h = json_object_get(state, "h");
	rd = json_object_get(state, "r");
	if (!json_is_string(z) || !json_is_string(rep) || !json_is_integer(h) ||
	    !json_is_integer(rd))
		why = "requestState is malformed";
	else if (strcmp(json_string_value(z), az->z->name) != 0)
		why = "requestState was issued to another agent zone";
	else if (strcmp(json_string_value(rep), g->cfg->replica_id) != 0)
		why = "requestState was issued by another gatewayd replica, "
		      "which holds the call: send the retry there";
	else if (!az->stl ||
		 !(r = gw_map_get(az->stl->pend,
				  (uint64_t)json_integer_value(h))) ||
		 !r->held)
		why = "the held call is gone (it ended, was resumed with "
		      "this requestState already, or waited longer than "
		      "held_idle_ms): send the request again without "
		      "requestState";
	else if ((json_int_t)r->round != json_integer_value(rd))
		why = "requestState was already used: the call has asked "
		      "again since";
	json_decref(state);
	if (!why)
		*out = r;
	return why;
}

/* A retry of a held tools/call comes with its Mcp-Param headers again
 * (carried by an HTTP endpoint): checked against the tool's schema in the
 * catalogue as the first request's were (gw_req_route; the state proves
 * the zone may see the tool). NULL, or why they are refused. */
static const char *retry_params(struct gw *g, struct azone *az,
				const struct streq *r, const struct jr_msg *m)
{
	const char *bare = NULL, *why = NULL;
	struct tzone *t = NULL;
	json_t *ph, *tool = NULL;

	if (mcp_param_take(m->params, &ph, &why) != 0)
		return why;
	if (ph && r->target && strcmp(r->method, "tools/call") == 0)
		t = gw_cat_resolve_name(g, az, r->target, &bare);
	if (t)
		tool = gw_cat_find(t, CAT_TOOLS, "name", bare);
	if (tool)
		mcp_param_check(json_object_get(tool, "inputSchema"),
				json_object_get(m->params, "arguments"),
				mcp_param_carried, ph, &why);
	json_decref(ph);
	return why;
}

/* Refuses request m of az with code and why (static text), naming what
 * (the part refused) in the audit: a denial, over the zone's rate of
 * them counted into its aggregate record (an agent replaying a token
 * cannot fill the log); its audit id goes back in the error. */
static void deny_audited(struct gw *g, struct azone *az, struct asess *dest,
			 struct gw_hs *hs, gw_http_deliver dl,
			 const struct jr_msg *m, int code, const char *what,
			 const char *why)
{
	char trace[56], aid[64];

	gw_req_trace(m->params, trace);
	gw_audit_new_id(g->audit, aid, sizeof(aid));
	if (!gw_audit_deny(g->audit, az->zi, az->z->name, m->method, what, why,
			   aid, sizeof(aid)))
		gw_req_audit(g, az->z->name, "-", m->method, target_of(m),
			     "refused", NULL, why, aid, 0, 0, 0, 0, 0, NULL,
			     trace);
	dest_error(dest, hs, dl, m->id, code, why,
		   json_pack("{s:s}", "auditId", aid));
}

/* A tasks method m of a stateless agent (gw_tasks.c): -32021 without the
 * extension declared; a taskId that is not this agent zone's sealed id
 * refused -32602 and audited; else it goes to the task's tool zone with
 * the zone's own id, decided by the tool's grant and audited as a call. */
static void task_request(struct gw *g, struct azone *az, struct asess *dest,
			 struct gw_hs *hs, gw_http_deliver dl, struct jr_msg *m,
			 size_t len)
{
	json_t *id = json_object_get(m->params, "taskId");
	char *tok = json_is_string(id) ? strdup(json_string_value(id)) : NULL;
	const char *why;

	if (!gw_task_declared(
		    json_object_get(json_object_get(m->params, "_meta"),
				    META_CAPS))) {
		free(tok);
		dest_error(dest, hs, dl, m->id, -32021,
			   "Missing required client capability: the "
			   "io.modelcontextprotocol/tasks extension",
			   gw_task_required());
		return;
	}
	why = gw_task_open(g, az, m);
	if (why) {
		free(tok);
		deny_audited(g, az, dest, hs, dl, m, ERR_BAD_STATE, "taskId",
			     why);
		return;
	}
	run_request(g, az, dest, hs, dl, m, len, -1, 1, tok);
}

/* A retry m with requestState: refused with -32602 and its reason (its
 * Mcp-Param headers with -32020), or
 * the held call resumes: the answers go to its tool zone's requests
 * (unknown keys ignored), the call waits for its next request or its
 * result, and what is still unanswered is asked again at once. */
static void resume(struct gw *g, struct azone *az, struct asess *dest,
		   struct gw_hs *hs, gw_http_deliver dl, struct jr_msg *m,
		   size_t len)
{
	json_t *resp = json_object_get(m->params, "inputResponses");
	json_t *meta = json_object_get(m->params, "_meta");
	struct streq *r;
	char *up = NULL;
	const char *why = state_check(g, az, m, &r, &up);
	int code = ERR_BAD_STATE;

	if (!why && r) {
		/* a held call's retry (a 2026-07-28 zone's own state, r NULL,
		 * goes on as a new call, checked by gw_req_route as any) */
		why = retry_params(g, az, r, m);
		code = why ? MCP_PARAM_HEADER_MISMATCH : code;
	}
	if (why) {
		deny_audited(g, az, dest, hs, dl, m, code,
			     code == ERR_BAD_STATE ? "requestState"
						   : "Mcp-Param",
			     why);
		return;
	}
	if (up) {
		/* the tool zone's own state goes back to it with the answers:
		 * a new call, decided by policy as any */
		if (up[0])
			json_object_set_new(m->params, "requestState",
					    json_string(up));
		else
			json_object_del(m->params, "requestState");
		free(up);
		run_request(g, az, dest, hs, dl, m, len, -1, 1, NULL);
		return;
	}
	for (size_t i = 0; i < r->nasks;) {
		json_t *a = json_object_get(resp, r->asks[i].key);
		if (!json_is_object(a)) {
			i++;
			continue;
		}
		answer_up(g, r, &r->asks[i], a);
		json_object_del(resp, r->asks[i].key);
		ask_drop(r, i);
	}
	/* the rest may answer what the tool asks next */
	json_decref(r->pre);
	r->pre = json_is_object(resp) ? json_deep_copy(resp) : NULL;
	r->held = 0;
	az->stl->nheld--;
	r->round++;
	json_decref(r->id);
	r->id = json_incref(m->id);
	r->dest = dest;
	r->hs = hs;
	r->deliver = dl;
	if (dest)
		dest->stl_pending++;
	r->caps = caps_declared(json_object_get(meta, META_CAPS));
	r->level =
		level_of(json_string_value(json_object_get(meta, META_LEVEL)));
	held_audit(g, az, r, "resumed", NULL);
	if (r->final) {
		json_t *f = r->final;
		r->final = NULL;
		response_back(az->stl, r, f);
		json_decref(f);
	} else if (r->nasks) {
		ask_agent(g, az, az->stl, r);
	}
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
	if (st)
		listens_end(st, dest, hs, NULL, 0);
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
	if (st && rid) /* a listen cancelled: no answer follows */
		listens_end(st, dest, NULL, rid, 0);
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
	listens_end(st, NULL, NULL, NULL, 1);
	gw_map_free(st->pend);
	s->az->stl = NULL;
	free(st);
}

/* ---- subscriptions/listen ---------------------------------------------- */

unsigned gw_stl_listens(const struct azone *az)
{
	return az->stl ? az->stl->nlistens : 0;
}

static const struct {
	const char *field;
	unsigned bit;
	const char *method;
} lkinds[] = {
	{ "toolsListChanged", LS_TOOLS, "notifications/tools/list_changed" },
	{ "resourcesListChanged", LS_RES,
	  "notifications/resources/list_changed" },
	{ "promptsListChanged", LS_PROMPTS,
	  "notifications/prompts/list_changed" },
};

/* The zone's first shared session (the one that carries its upstream
 * subscriptions and whose list_changed counts), or NULL. */
static struct asess *shared_first(const struct gw_stl *st)
{
	for (size_t k = 0; st && k < STL_POOL; k++)
		if (st->sh[k])
			return st->sh[k];
	return NULL;
}

/* A notification (params stolen, may be NULL) for listen l, its
 * subscription id in _meta, sent where l came from. */
static void listen_send(struct stlisten *l, const char *method, json_t *params)
{
	json_t *meta;

	if (!params)
		params = json_object();
	meta = json_object_get(params, "_meta");
	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(params, "_meta", meta);
	}
	json_object_set(meta, META_SUB_ID, l->id);
	/* names its request, as a stateless request's notifications do (a
	 * listener puts it on that request's stream by this) */
	json_object_set(meta, MCP_META_RELATED, l->id);
	to_dest(l->dest, l->hs, l->deliver, jr_request(NULL, method, params));
}

static void unsubscribe_up(struct gw *g, struct azone *az, struct gw_stl *st,
			   const struct stlisten *l);

/* Forgets listen l of st (unlinked by the caller). */
static void listen_free(struct gw_stl *st, struct stlisten *l)
{
	if (l->g) {
		gw_subs_owner_end(l->g, l);
		unsubscribe_up(l->g, l->az, st, l);
	}
	if (l->dest)
		l->dest->stl_pending--;
	st->nlistens--;
	json_decref(l->id);
	json_decref(l->uris);
	free(l);
}

/* uri is a resource agent zone az may read (policy, pins, quarantine). */
static int may_read(struct gw *g, struct azone *az, const char *uri)
{
	struct tzone *t = gw_cat_resolve_uri(g, uri);
	const struct pol_rule *rule;

	return t && gw_cat_visible(t) &&
	       gw_cat_decide(g, az, POL_RESOURCE, t->z->name, uri, NULL,
			     &rule) == POL_ALLOW;
}

/* A resources/updated for listen l (gw_subs.c: one of a 2026-07-28
 * zone's upstream listens it has a share of). */
static void listen_updated(void *ud, const char *uri)
{
	listen_send(ud, "notifications/resources/updated",
		    json_pack("{s:s}", "uri", uri));
}

/* resources/subscribe or resources/unsubscribe (method) of uri from the
 * shared session sh upstream (routed, so decided and audited like any;
 * its answer, zgl-N, goes nowhere). A 2026-07-28 zone's URIs are not
 * sent here: listen_open takes a share of their upstream listens
 * (gw_subs.c). */
static void resource_up(struct gw *g, struct gw_stl *st, struct asess *sh,
			const char *method, const char *uri)
{
	char id[40];
	struct jr_msg m;
	json_t *r, *idv;
	size_t len;
	char *txt;

	snprintf(id, sizeof(id), LISTEN_ID_PREFIX "%llu",
		 (unsigned long long)++st->next_sub);
	idv = json_string(id);
	r = jr_request(idv, method, json_pack("{s:s}", "uri", uri));
	json_decref(idv);
	txt = r ? jr_dump(r, &len) : NULL;
	if (txt) {
		jr_classify(r, &m);
		gw_req_route(g, sh, &m, len);
		jr_msg_clear(&m);
	} else {
		json_decref(r);
	}
	free(txt);
}

/* uri is in the filter of one of st's listens. */
static int listens_hold(const struct gw_stl *st, const char *uri)
{
	size_t i;
	json_t *v;

	for (const struct stlisten *l = st->listens; l; l = l->next)
		json_array_foreach (l->uris, i, v)
			if (strcmp(json_string_value(v), uri) == 0)
				return 1;
	return 0;
}

/* Listen l of az has ended (unlinked from st): each URI of a 2025-11-25
 * zone that no other listen of az still wants is unsubscribed upstream
 * (once; one the zone may no longer read stays: an unsubscribe would be
 * a denial charged to it), so that the shared session's subscriptions
 * do not outlive their listens. */
static void unsubscribe_up(struct gw *g, struct azone *az, struct gw_stl *st,
			   const struct stlisten *l)
{
	struct asess *sh = shared_first(st);
	size_t i, j;
	json_t *v;

	json_array_foreach (l->uris, i, v) {
		const char *uri = json_string_value(v);
		struct tzone *t = gw_cat_resolve_uri(g, uri);
		int dup = 0;
		for (j = 0; j < i; j++)
			dup |= strcmp(json_string_value(
					      json_array_get(l->uris, j)),
				      uri) == 0;
		if (sh && t && !t->rev2026 && !dup && !listens_hold(st, uri) &&
		    may_read(g, az, uri))
			resource_up(g, st, sh, "resources/unsubscribe", uri);
	}
}

/* Takes l's shares of the upstream listens of the 2026-07-28 zones' URIs
 * in its filter; a URI over a cap is left out of the filter (as one the
 * zone may not read). */
static void listen_shares(struct gw *g, struct azone *az, struct asess *sh,
			  struct stlisten *l)
{
	size_t i = 0;
	struct tzone *t;

	while (l->uris && i < json_array_size(l->uris)) {
		const char *uri = json_string_value(json_array_get(l->uris, i));
		t = gw_cat_resolve_uri(g, uri);
		if (t && t->rev2026 &&
		    gw_subs_listen(g, az, sh ? sh->id : az->z->name, t, uri,
				   listen_updated, l) != 0) {
			json_array_remove(l->uris, i);
			continue;
		}
		i++;
	}
}

/* Reads the filter of request m into l: 0, or -1 with why. Only what the
 * zone may see is agreed to: list changes of kinds it sees, resources it
 * may read. */
static int listen_filter(struct gw *g, struct azone *az, const json_t *f,
			 struct stlisten *l, const char **why)
{
	json_t *subs = json_object_get(f, "resourceSubscriptions"), *v;
	size_t i;

	*why = "notifications must be an object";
	if (f && !json_is_object(f))
		return -1;
	for (i = 0; i < sizeof(lkinds) / sizeof(lkinds[0]); i++) {
		v = json_object_get(f, lkinds[i].field);
		*why = "a notifications flag must be a boolean";
		if (v && !json_is_boolean(v))
			return -1;
		if (json_is_true(v))
			l->what |= lkinds[i].bit;
	}
	*why = "resourceSubscriptions must be an array of at most 256 URIs";
	if (subs &&
	    (!json_is_array(subs) || json_array_size(subs) > LISTEN_URIS_MAX))
		return -1;
	json_array_foreach (subs, i, v)
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > LISTEN_URI_MAX)
			return -1;
	l->uris = subs ? json_array() : NULL;
	json_array_foreach (subs, i, v)
		if (may_read(g, az, json_string_value(v)))
			json_array_append(l->uris, v);
	return 0;
}

/* The filter l agreed to (new). */
static json_t *listen_agreed(const struct stlisten *l)
{
	json_t *o = json_object();

	for (size_t i = 0; i < sizeof(lkinds) / sizeof(lkinds[0]); i++)
		if (l->what & lkinds[i].bit)
			json_object_set_new(o, lkinds[i].field, json_true());
	if (l->uris)
		json_object_set(o, "resourceSubscriptions", l->uris);
	return o;
}

static void listen_open(struct gw *g, struct azone *az, struct asess *dest,
			struct gw_hs *hs, gw_http_deliver dl,
			const struct jr_msg *m)
{
	struct gw_stl *st = stl_of(g, az);
	struct stlisten *l = calloc(1, sizeof(*l));
	const char *why = "out of memory";
	int code = -32603;
	size_t i;
	json_t *v;

	if (!st || !l)
		goto fail;
	if (listen_filter(g, az, json_object_get(m->params, "notifications"), l,
			  &why) != 0) {
		code = -32602;
		goto fail;
	}
	if (st->nlistens >= LISTEN_MAX) {
		why = "too many subscriptions open for this agent zone; try "
		      "again later";
		code = -32600;
		goto fail;
	}
	l->id = json_incref(m->id);
	l->dest = dest;
	l->hs = hs;
	l->deliver = dl;
	l->next = st->listens;
	st->listens = l;
	st->nlistens++;
	if (dest)
		dest->stl_pending++;
	l->g = g;
	l->az = az;
	listen_shares(g, az, shared_first(st), l);
	listen_send(l, "notifications/subscriptions/acknowledged",
		    json_pack("{s:o}", "notifications", listen_agreed(l)));
	json_array_foreach (l->uris, i, v) {
		struct tzone *t = gw_cat_resolve_uri(g, json_string_value(v));
		if (!t || !t->rev2026)
			resource_up(g, st, shared_first(st),
				    "resources/subscribe",
				    json_string_value(v));
	}
	return;
fail:
	if (l)
		json_decref(l->uris);
	free(l);
	dest_error(dest, hs, dl, m->id, code, why, NULL);
}

/* A notification on shared session sh without a request of its own:
 * list changes (those of the zone's first shared session: every shared
 * session hears them) and resource updates go to the listens that asked
 * for them. */
static void listen_notify(struct gw_stl *st, struct asess *sh, json_t *root)
{
	const char *meth = json_string_value(json_object_get(root, "method"));
	json_t *params = json_object_get(root, "params");
	const char *uri = json_string_value(json_object_get(params, "uri"));
	unsigned bit = 0;
	size_t i;
	json_t *v;

	for (i = 0; meth && i < sizeof(lkinds) / sizeof(lkinds[0]); i++)
		if (strcmp(meth, lkinds[i].method) == 0)
			bit = lkinds[i].bit;
	if (bit && sh != shared_first(st))
		return;
	for (struct stlisten *l = st->listens; l && meth; l = l->next) {
		int want = (l->what & bit) != 0;
		if (!bit && uri &&
		    strcmp(meth, "notifications/resources/updated") == 0)
			json_array_foreach (l->uris, i, v)
				want |= strcmp(json_string_value(v), uri) == 0;
		if (want)
			listen_send(l, meth,
				    uri ? json_pack("{s:s}", "uri", uri)
					: NULL);
	}
}

/* Ends the listens of stream dest (or HTTP request hs; both NULL: every
 * one) of st; id: only that one, cancelled. graceful: each gets its
 * final result first (the gateway ends them). */
static void listens_end(struct gw_stl *st, struct asess *dest, struct gw_hs *hs,
			const json_t *id, int graceful)
{
	struct stlisten **pp = &st->listens;

	while (*pp) {
		struct stlisten *l = *pp;
		if ((dest && l->dest != dest) || (hs && l->hs != hs) ||
		    (id && !jr_id_equal(l->id, id))) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		if (graceful)
			to_dest(l->dest, l->hs, l->deliver,
				jr_result(l->id,
					  json_pack("{s:s,s:{s:O}}",
						    "resultType", "complete",
						    "_meta", META_SUB_ID,
						    l->id)));
		listen_free(st, l);
	}
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
