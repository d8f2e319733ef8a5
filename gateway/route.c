/* Routing: the proxy at the heart of gatewayd. Agent zones connect to
 * channels we serve; each stream is one MCP session whose identity is the
 * zone of the channel it arrived on. Tool zones are channels we connect
 * to; a control stream per tool zone keeps its catalogue (tools,
 * resources, templates, prompts), and every agent session gets its own
 * upstream stream per tool zone, opened lazily, so no state leaks between
 * sessions. Request ids are rewritten on the way up and restored on the
 * way down; server-to-client requests get gateway ids towards the agent.
 * Lists are answered from the catalogues, filtered by policy; calls are
 * decided by policy, limited, audited and timed. */
#define _GNU_SOURCE /* memmem */
#include "gwd.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zonegate/chan.h>
#include <zonegate/mcp.h>

#include "jsonrpc.h"

#define MAX_DEPTH 64
#define SESSION_INFLIGHT_MAX 256
#define ZONE_INFLIGHT_MAX 4096	    /* calls in flight per agent zone */
#define LINK_QUEUED_MAX (64u << 20) /* bytes waiting for links, in all */
#define LINK_QUEUE_MAX 256
#define CAT_PAGES_MAX 100
#define CAT_ITEMS_MAX 10000 /* entries per list and tool zone */
#define REFETCH_MIN_MS 1000 /* catalogue refreshes per tool zone */
#define SESSION_SREQ_MAX 32 /* server requests waiting on one agent */
#define BACKOFF_MIN_MS 100
/* Frames and bytes taken from one zone's channel per loop turn: the loop
 * then moves on to the next zone, so a zone with much to send gets the
 * same share as any other (docs/gateway.md, "Fairness"). */
#define ZONE_TURN_FRAMES 8
#define ZONE_TURN_BYTES (256u << 10)
#define BACKOFF_MAX_MS 2000
#define GW_ERR_GATEWAY (-32000) /* limits, unavailable tool zone */

enum { CAT_TOOLS, CAT_RES, CAT_TMPL, CAT_PROMPTS, CAT_N };
static const char *const cat_method[CAT_N] = { "tools/list", "resources/list",
					       "resources/templates/list",
					       "prompts/list" };
static const char *const cat_key[CAT_N] = { "tools", "resources",
					    "resourceTemplates", "prompts" };

/* ---- a small u64 -> pointer map ---------------------------------------- */

struct u64node {
	uint64_t k;
	void *v;
	struct u64node *next;
};

struct u64map {
	struct u64node **b;
	size_t nb, n;
};

static struct u64map *map_new(void)
{
	struct u64map *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->nb = 64;
	m->b = calloc(m->nb, sizeof(*m->b));
	if (!m->b) {
		free(m);
		return NULL;
	}
	return m;
}

static size_t slot(const struct u64map *m, uint64_t k)
{
	return (size_t)((k * 11400714819323198485ull) >> 32) & (m->nb - 1);
}

static void *map_get(const struct u64map *m, uint64_t k)
{
	for (struct u64node *n = m->b[slot(m, k)]; n; n = n->next)
		if (n->k == k)
			return n->v;
	return NULL;
}

static void map_grow(struct u64map *m)
{
	struct u64node **nb = calloc(m->nb * 2, sizeof(*nb)), **old = m->b;
	size_t on = m->nb;

	if (!nb)
		return; /* stays correct, only slower */
	m->b = nb;
	m->nb *= 2;
	for (size_t i = 0; i < on; i++) {
		struct u64node *n = old[i], *nx;
		for (; n; n = nx) {
			size_t s = slot(m, n->k);
			nx = n->next;
			n->next = nb[s];
			nb[s] = n;
		}
	}
	free(old);
}

static int map_put(struct u64map *m, uint64_t k, void *v)
{
	struct u64node *n = malloc(sizeof(*n));
	size_t s;

	if (!n)
		return -1;
	if (m->n + 1 > m->nb)
		map_grow(m);
	s = slot(m, k);
	n->k = k;
	n->v = v;
	n->next = m->b[s];
	m->b[s] = n;
	m->n++;
	return 0;
}

static void map_del(struct u64map *m, uint64_t k)
{
	struct u64node **pp = &m->b[slot(m, k)], *n;

	for (; (n = *pp) != NULL; pp = &n->next) {
		if (n->k == k) {
			*pp = n->next;
			free(n);
			m->n--;
			return;
		}
	}
}

/* Collects every value (for sweeps that may delete); caller frees. */
static void **map_values(const struct u64map *m, size_t *count)
{
	void **v = malloc((m->n + 1) * sizeof(*v));
	size_t k = 0;

	if (!v) {
		*count = 0;
		return NULL;
	}
	for (size_t i = 0; i < m->nb; i++)
		for (struct u64node *n = m->b[i]; n; n = n->next)
			v[k++] = n->v;
	*count = k;
	return v;
}

static void map_free(struct u64map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nb; i++) {
		struct u64node *n = m->b[i], *nx;
		for (; n; n = nx) {
			nx = n->next;
			free(n);
		}
	}
	free(m->b);
	free(m);
}

/* ---- state ------------------------------------------------------------- */

struct qmsg {
	struct qmsg *next;
	size_t len;
	char data[];
};

enum { L_NONE, L_INIT, L_READY };

struct ulink {
	uint32_t sid;
	int state;
	struct qmsg *qh, *qt;
	size_t qn;
};

struct preq;
struct sreq;

struct asess {
	struct azone *az;
	uint32_t sid;	  /* the channel stream (0 for HTTP sessions) */
	uint64_t key;	  /* in az->sess: sid, or 1 << 32 | n for HTTP */
	struct gw_hs *hs; /* an HTTP listener's session, or NULL */
	int inited;
	char proto[32];
	json_t *caps;
	char *level;
	char id[96];
	struct ulink *links; /* one per tool zone */
	struct preq *reqs;
	struct sreq *sreqs;
	unsigned inflight;
};

struct azone {
	struct gw *g;
	const struct gw_zone *z;
	unsigned zi;
	chan_mux *m;
	const struct pollfd *pfd; /* its entry in this turn's poll, or NULL */
	struct u64map *sess;
	uint64_t sessions_total;
	unsigned inflight;
};

struct tzone {
	struct gw *g;
	const struct gw_zone *z;
	unsigned zi, ti;
	chan_mux *m;
	const struct pollfd *pfd; /* its entry in this turn's poll, or NULL */
	int dead;
	int64_t retry_at;
	int backoff;
	uint32_t ctl;
	json_t *cat[CAT_N];
	json_t *stage[CAT_N];
	int fetching, pages;
	int refetch;	    /* list_changed arrived: fetch again */
	int64_t last_fetch; /* when the last fetch started (ms) */
	int have_cat, quarantined;
	char hash[65];
	uint64_t connects;
	uint64_t responses;	    /* call responses relayed to agents */
	uint64_t responses_spliced; /* of those, relayed without re-encoding */
	char last_error[160];
};

enum preq_kind { PK_CALL, PK_INIT, PK_IGNORE, PK_CAT };

struct preq {
	uint64_t uid;
	enum preq_kind kind;
	struct asess *s; /* NULL for the control stream */
	unsigned ti;
	int cat;
	json_t *aid;
	char method[40];
	char *target;
	char *rule;
	char *args; /* JSON text, only with audit_args */
	char audit_id[40];
	struct gw_limit *lim; /* concurrency counter held; kept while >0 */
	size_t bytes_in, max_bytes;
	int64_t t0, t_policy, t_sent, deadline_ms;
	struct preq *prev, *next;
};

struct sreq {
	uint64_t aid;
	struct asess *s;
	unsigned ti;
	json_t *up_id;
	struct sreq *next;
};

static void tz_down(struct tzone *t, const char *why);

/* ---- sending ------------------------------------------------------------ */

static int send_json(chan_mux *m, uint32_t sid, json_t *msg)
{
	size_t len;
	char *s = jr_dump(msg, &len);
	int rc = -1;

	if (s && m)
		rc = chan_mux_send(m, sid, s, len);
	free(s);
	return rc;
}

/* The bytes of one message to the agent, over its channel stream or its
 * HTTP session. Returns 0, CHAN_MUX_EFULL or another negative value. */
static int agent_send(struct asess *s, const char *data, size_t len)
{
	if (s->hs)
		return gw_listen_deliver(s->hs, s->inited, data, len);
	return chan_mux_send(s->az->m, s->sid, data, len);
}

/* To the agent; steals msg. A stream whose queue is over its cap (the
 * agent is not reading) loses the message rather than growing without
 * bound. */
static void to_agent(struct asess *s, json_t *msg)
{
	if (!msg)
		return;
	size_t len;
	char *txt = jr_dump(msg, &len);

	if (txt && agent_send(s, txt, len) == CHAN_MUX_EFULL)
		fprintf(stderr,
			"gatewayd: %s: agent not reading; message "
			"dropped\n",
			s->id);
	free(txt);
	json_decref(msg);
}

static void reply_error(struct asess *s, json_t *id, int code, const char *msg,
			json_t *data)
{
	to_agent(s, jr_error(id, code, msg, data));
}

static uint64_t link_key(unsigned ti, uint32_t sid)
{
	return (uint64_t)ti << 32 | sid;
}

/* ---- audit and metrics -------------------------------------------------- */

static void audit(struct gw *g, const char *zone, const char *session,
		  const char *method, const char *target, const char *decision,
		  const char *rule, const char *reason, const char *aid,
		  size_t in, size_t out, int64_t t_pol, int64_t t_up,
		  int64_t t_total, const char *args)
{
	struct gw_audit_rec r = { aid,	    zone, session, method, target,
				  decision, rule, reason,  in,	   out,
				  t_pol,    t_up, t_total, args };

	if (gw_audit_record(g->audit, &r))
		fprintf(stderr, "gatewayd: audit record too long; dropped\n");
}

/* ---- catalogue helpers -------------------------------------------------- */

static struct tzone *tz_by_name(struct gw *g, const char *name, size_t n)
{
	for (size_t i = 0; i < g->ntz; i++)
		if (strlen(g->tz[i]->z->name) == n &&
		    strncmp(g->tz[i]->z->name, name, n) == 0)
			return g->tz[i];
	return NULL;
}

static int visible(const struct tzone *t)
{
	return t->m && t->have_cat && !t->quarantined;
}

static json_t *cat_find(const struct tzone *t, int k, const char *key,
			const char *val)
{
	size_t i;
	json_t *e;

	if (!t->cat[k])
		return NULL;
	json_array_foreach (t->cat[k], i, e) {
		const char *v = json_string_value(json_object_get(e, key));
		if (v && strcmp(v, val) == 0)
			return e;
	}
	return NULL;
}

/* Catalogue names end up in metrics labels and audit lines: printable
 * ASCII without quotes or backslashes, at most 128 bytes. */
static int name_ok(const char *s)
{
	size_t n = 0;

	for (; s && *s; s++, n++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e ||
		    *s == '"' || *s == '\\')
			return 0;
	return s && n > 0 && n <= 128;
}

/* The name an agent of zone az sees for entry name of tool zone t. */
static char *display_name(struct gw *g, const struct azone *az,
			  const struct tzone *t, const char *name)
{
	const char *dot = strchr(name, '.');
	size_t n;
	char *s;

	if (az->z->default_zone &&
	    strcmp(az->z->default_zone, t->z->name) == 0 &&
	    (!dot || !tz_by_name(g, name, (size_t)(dot - name))))
		return strdup(name);
	n = strlen(t->z->name) + strlen(name) + 2;
	s = malloc(n);
	if (s)
		snprintf(s, n, "%s.%s", t->z->name, name);
	return s;
}

/* Splits an agent-facing name into tool zone and the tool zone's name. */
static struct tzone *resolve_name(struct gw *g, const struct azone *az,
				  const char *name, const char **bare)
{
	const char *dot = strchr(name, '.');
	struct tzone *t = dot ? tz_by_name(g, name, (size_t)(dot - name))
			      : NULL;

	if (t) {
		*bare = dot + 1;
		return t;
	}
	if (az->z->default_zone) {
		*bare = name;
		return tz_by_name(g, az->z->default_zone,
				  strlen(az->z->default_zone));
	}
	return NULL;
}

/* The tool zone serving uri: an exact resource, else a template whose
 * literal prefix (up to the first '{') matches; zones in config order. */
static struct tzone *resolve_uri(struct gw *g, const char *uri)
{
	for (size_t i = 0; i < g->ntz; i++)
		if (visible(g->tz[i]) &&
		    cat_find(g->tz[i], CAT_RES, "uri", uri))
			return g->tz[i];
	for (size_t i = 0; i < g->ntz; i++) {
		size_t k;
		json_t *e;
		if (!visible(g->tz[i]) || !g->tz[i]->cat[CAT_TMPL])
			continue;
		json_array_foreach (g->tz[i]->cat[CAT_TMPL], k, e) {
			const char *tp = json_string_value(
				json_object_get(e, "uriTemplate"));
			const char *br = tp ? strchr(tp, '{') : NULL;
			size_t pl = br ? (size_t)(br - tp) : 0;
			if (pl && strncmp(uri, tp, pl) == 0)
				return g->tz[i];
		}
	}
	return NULL;
}

static enum pol_decision decide(struct gw *g, const struct azone *az,
				unsigned kind, const char *tz, const char *name,
				const json_t *args, const struct pol_rule **r)
{
	struct pol_query q = { az->z->name,  (const char *const *)az->z->tags,
			       az->z->ntags, kind,
			       tz,	     name,
			       args };

	return policy_decide(g->pol, &q, r);
}

/* ---- lists ------------------------------------------------------------ */

static json_t *build_list(struct gw *g, struct asess *s, int k)
{
	static const unsigned kinds[CAT_N] = { POL_TOOL, POL_RESOURCE,
					       POL_RESOURCE, POL_PROMPT };
	static const char *const namekey[CAT_N] = { "name", "uri",
						    "uriTemplate", "name" };
	json_t *arr = json_array();
	const struct pol_rule *r;

	for (size_t i = 0; arr && i < g->ntz; i++) {
		struct tzone *t = g->tz[i];
		size_t j;
		json_t *e;
		if (!visible(t) || !t->cat[k])
			continue;
		json_array_foreach (t->cat[k], j, e) {
			const char *n = json_string_value(
				json_object_get(e, namekey[k]));
			json_t *c;
			char *dn;
			if (!n || decide(g, s->az, kinds[k], t->z->name, n,
					 NULL, &r) != POL_ALLOW)
				continue;
			c = json_copy(e);
			if (!c)
				continue;
			if (k == CAT_TOOLS || k == CAT_PROMPTS) {
				dn = display_name(g, s->az, t, n);
				if (dn)
					json_object_set_new(c, "name",
							    json_string(dn));
				free(dn);
			}
			json_array_append_new(arr, c);
		}
	}
	return arr;
}

/* ---- upstream links ------------------------------------------------------ */

static struct preq *preq_new(struct gw *g, enum preq_kind kind, struct asess *s,
			     unsigned ti)
{
	struct preq *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->uid = ++g->next_id;
	p->kind = kind;
	p->s = s;
	p->ti = ti;
	p->t0 = gw_now_us();
	p->deadline_ms = gw_now_ms() + g->cfg->call_timeout_ms;
	if (map_put(g->preqs, p->uid, p)) {
		free(p);
		return NULL;
	}
	if (s) {
		p->next = s->reqs;
		if (s->reqs)
			s->reqs->prev = p;
		s->reqs = p;
		if (kind == PK_CALL) {
			s->inflight++;
			s->az->inflight++;
		}
	}
	if (p->deadline_ms < g->next_deadline_ms)
		g->next_deadline_ms = p->deadline_ms;
	return p;
}

static void preq_free(struct gw *g, struct preq *p)
{
	map_del(g->preqs, p->uid);
	if (p->s) {
		if (p->prev)
			p->prev->next = p->next;
		else
			p->s->reqs = p->next;
		if (p->next)
			p->next->prev = p->prev;
		if (p->kind == PK_CALL) {
			p->s->inflight--;
			p->s->az->inflight--;
		}
	}
	if (p->lim && p->lim->inflight > 0)
		p->lim->inflight--;
	json_decref(p->aid);
	free(p->target);
	free(p->rule);
	free(p->args);
	free(p);
}

/* Finishes a call that gets no upstream response: error to the agent,
 * audit, metrics. */
static void call_fail(struct gw *g, struct preq *p, int code, const char *msg,
		      const char *reason)
{
	struct asess *s = p->s;
	int64_t now = gw_now_us();

	reply_error(s, p->aid, code, msg,
		    json_pack("{s:s}", "auditId", p->audit_id));
	audit(g, s->az->z->name, s->id, p->method, p->target, "allow", p->rule,
	      reason, p->audit_id, p->bytes_in, 0, p->t_policy,
	      p->t_sent ? now - p->t_sent : 0, now - p->t0, p->args);
	gw_metrics_record(g->met, s->az->z->name, p->target, 2, now - p->t0);
	preq_free(g, p);
}

static void link_reset(struct gw *g, struct asess *s, unsigned ti)
{
	struct ulink *l = &s->links[ti];
	struct qmsg *q, *nx;

	if (l->sid) {
		map_del(g->links, link_key(ti, l->sid));
		if (g->tz[ti]->m)
			chan_mux_close_stream(g->tz[ti]->m, l->sid);
	}
	for (q = l->qh; q; q = nx) {
		nx = q->next;
		g->link_queued -= q->len;
		free(q);
	}
	memset(l, 0, sizeof(*l));
}

/* The upstream session of s on tool zone ti failed: its calls end with an
 * error, the next call opens a new one. */
static void link_fail(struct gw *g, struct asess *s, unsigned ti,
		      const char *why)
{
	struct preq *p, *nx;
	struct sreq **pp, *r;
	char msg[160];

	link_reset(g, s, ti);
	snprintf(msg, sizeof(msg), "tool zone %s is unavailable (%s)",
		 g->tz[ti]->z->name, why);
	for (p = s->reqs; p; p = nx) {
		nx = p->next;
		if (p->ti != ti)
			continue;
		if (p->kind == PK_CALL)
			call_fail(g, p, GW_ERR_GATEWAY, msg, why);
		else
			preq_free(g, p);
	}
	for (pp = &s->sreqs; (r = *pp) != NULL;) {
		if (r->ti == ti) {
			*pp = r->next;
			map_del(g->sreqs, r->aid);
			json_decref(r->up_id);
			free(r);
		} else {
			pp = &r->next;
		}
	}
}

static int link_send(struct gw *g, struct asess *s, unsigned ti,
		     const char *msg, size_t len)
{
	struct ulink *l = &s->links[ti];
	struct qmsg *q;

	if (l->state == L_READY)
		return chan_mux_send(g->tz[ti]->m, l->sid, msg, len) == 0 ? 0
									  : -1;
	if (l->qn >= LINK_QUEUE_MAX || g->link_queued + len > LINK_QUEUED_MAX)
		return -1;
	q = malloc(sizeof(*q) + len);
	if (!q)
		return -1;
	q->next = NULL;
	q->len = len;
	memcpy(q->data, msg, len);
	if (l->qt)
		l->qt->next = q;
	else
		l->qh = q;
	l->qt = q;
	l->qn++;
	g->link_queued += len;
	return 0;
}

/* A request to a tool zone with gateway id uid; params stolen. */
static json_t *up_request_new(uint64_t uid, const char *method, json_t *params)
{
	json_t *id = json_integer((json_int_t)uid);
	json_t *r = jr_request(id, method, params); /* copies id */

	json_decref(id);
	return r;
}

static json_t *init_request(struct gw *g, uint64_t uid, const char *proto,
			    json_t *caps)
{
	json_t *params = json_pack("{s:s,s:O,s:{s:s,s:s}}", "protocolVersion",
				   proto, "capabilities",
				   caps ? caps : json_object(), "clientInfo",
				   "name", "zonegate-gateway", "version",
				   GW_VERSION);

	if (!caps)
		json_decref(json_object_get(params, "capabilities"));
	return up_request_new(uid, "initialize", params);
}

/* Opens the upstream session of s on tool zone ti if needed. */
static int link_ensure(struct gw *g, struct asess *s, unsigned ti)
{
	struct ulink *l = &s->links[ti];
	struct tzone *t = g->tz[ti];
	struct preq *p;
	json_t *req;

	if (l->state != L_NONE)
		return 0;
	if (!t->m || !t->have_cat)
		return -1;
	l->sid = chan_mux_open_stream(t->m);
	if (!l->sid)
		return -1;
	if (map_put(g->links, link_key(ti, l->sid), s)) {
		link_reset(g, s, ti);
		return -1;
	}
	p = preq_new(g, PK_INIT, s, ti);
	if (!p) {
		link_reset(g, s, ti);
		return -1;
	}
	req = init_request(g, p->uid, s->proto, s->caps);
	if (!req || send_json(t->m, l->sid, req) != 0) {
		json_decref(req);
		preq_free(g, p);
		link_reset(g, s, ti);
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
	struct qmsg *q, *nx;

	send_json(t->m, l->sid, n);
	json_decref(n);
	if (s->level) {
		struct preq *p = preq_new(g, PK_IGNORE, s, ti);
		if (p) {
			json_t *r = up_request_new(p->uid, "logging/setLevel",
						   json_pack("{s:s}", "level",
							     s->level));
			send_json(t->m, l->sid, r);
			json_decref(r);
		}
	}
	l->state = L_READY;
	for (q = l->qh; q; q = nx) {
		nx = q->next;
		chan_mux_send(t->m, l->sid, q->data, q->len);
		g->link_queued -= q->len;
		free(q);
	}
	l->qh = l->qt = NULL;
	l->qn = 0;
}

/* ---- agent requests ---------------------------------------------------- */

static const char *const versions[] = { "2025-11-25", "2025-06-18",
					"2025-03-26" };

static void do_initialize(struct gw *g, struct asess *s, struct jr_msg *m)
{
	const char *v = json_string_value(
		json_object_get(m->params, "protocolVersion"));
	const char *proto = versions[0];
	json_t *res;

	if (s->inited) {
		reply_error(s, m->id, -32600, "already initialized", NULL);
		return;
	}
	for (size_t i = 0; v && i < 3; i++)
		if (strcmp(v, versions[i]) == 0)
			proto = versions[i];
	snprintf(s->proto, sizeof(s->proto), "%s", proto);
	json_decref(s->caps);
	s->caps = json_object_get(m->params, "capabilities");
	s->caps = json_is_object(s->caps) ? json_deep_copy(s->caps)
					  : json_object();
	s->inited = 1;
	res = json_pack("{s:s,s:{s:{s:b},s:{s:b,s:b},s:{s:b},s:{},s:{}},"
			"s:{s:s,s:s}}",
			"protocolVersion", proto, "capabilities", "tools",
			"listChanged", 1, "resources", "subscribe", 1,
			"listChanged", 1, "prompts", "listChanged", 1,
			"logging", "completions", "serverInfo", "name",
			"zonegate-gateway", "version", GW_VERSION);
	to_agent(s, jr_result(m->id, res));
}

/* A list cursor is "GEN.OFFSET": the lists' generation it was made in
 * and where the next page starts. Returns 0 and the offset, or -1 for
 * a malformed cursor or one from an older generation (the lists changed
 * since: the client starts over, as list_changed told it to). */
static int cursor_parse(const struct gw *g, const json_t *c, size_t *off)
{
	const char *s = json_string_value(c), *dot;
	char *end;
	unsigned long long gen, o;

	*off = 0;
	if (!c)
		return 0;
	if (!s || !(dot = strchr(s, '.')) || dot == s || strlen(s) > 41 ||
	    s[0] < '0' || s[0] > '9' || dot[1] < '0' || dot[1] > '9')
		return -1;
	errno = 0;
	gen = strtoull(s, &end, 10);
	if (errno || end != dot || gen != g->list_gen)
		return -1;
	o = strtoull(dot + 1, &end, 10);
	if (errno || *end || o == 0 || o > SIZE_MAX)
		return -1;
	*off = (size_t)o;
	return 0;
}

/* One page of the merged list (list_page_size entries from the
 * cursor's offset), with nextCursor while more follow. */
static void do_list(struct gw *g, struct asess *s, struct jr_msg *m, int k)
{
	json_t *arr, *page, *res;
	size_t off, n, ps = g->cfg->list_page_size;
	char aid[40], next[64];

	gw_audit_new_id(g->audit, aid, sizeof(aid));
	if (cursor_parse(g, json_object_get(m->params, "cursor"), &off)) {
		audit(g, s->az->z->name, s->id, m->method, NULL, "filter", NULL,
		      "invalid or stale cursor", aid, 0, 0, 0, 0, 0, NULL);
		reply_error(s, m->id, -32602,
			    "Invalid params: unknown or "
			    "stale cursor (the list changed; start over)",
			    NULL);
		return;
	}
	audit(g, s->az->z->name, s->id, m->method, NULL, "filter", NULL, NULL,
	      aid, 0, 0, 0, 0, 0, NULL);
	arr = build_list(g, s, k);
	n = arr ? json_array_size(arr) : 0;
	if (arr && off > n) {
		json_decref(arr);
		reply_error(s, m->id, -32602,
			    "Invalid params: cursor past "
			    "the end of the list",
			    NULL);
		return;
	}
	if (off == 0 && n <= ps) {
		page = arr; /* the whole list is one page */
	} else {
		page = arr ? json_array() : NULL;
		for (size_t i = off; page && i < n && i < off + ps; i++)
			json_array_append(page, json_array_get(arr, i));
		json_decref(arr);
	}
	res = page ? json_pack("{s:o}", cat_key[k], page) : NULL;
	if (res && off + ps < n) {
		snprintf(next, sizeof(next), "%llu.%zu",
			 (unsigned long long)g->list_gen, off + ps);
		json_object_set_new(res, "nextCursor", json_string(next));
	}
	if (!res) {
		reply_error(s, m->id, -32603, "out of memory", NULL);
		return;
	}
	to_agent(s, jr_result(m->id, res));
}

static void do_set_level(struct gw *g, struct asess *s, struct jr_msg *m)
{
	const char *lv = json_string_value(json_object_get(m->params, "level"));

	if (!lv || strlen(lv) > 16) {
		reply_error(s, m->id, -32602, "level must be a string", NULL);
		return;
	}
	free(s->level);
	s->level = strdup(lv);
	for (size_t i = 0; i < g->ntz; i++) {
		struct preq *p;
		json_t *r;
		if (s->links[i].state != L_READY)
			continue;
		p = preq_new(g, PK_IGNORE, s, (unsigned)i);
		if (!p)
			continue;
		r = up_request_new(p->uid, "logging/setLevel",
				   json_pack("{s:s}", "level", lv));
		send_json(g->tz[i]->m, s->links[i].sid, r);
		json_decref(r);
	}
	to_agent(s, jr_result(m->id, json_object()));
}

/* What a routed request targets: its tool zone, the policy kind and name,
 * and the agent-facing form for errors. */
struct target {
	struct tzone *t;
	unsigned kind;
	const char *name;  /* the tool zone's name of the entry */
	const char *shown; /* what the agent asked for */
	json_t *args;	   /* for argument conditions (borrowed) */
};

/* The "unknown" answer: the same for an entry that does not exist and
 * for one the zone may not use, apart from the audit id. */
static void reply_unknown(struct asess *s, json_t *id, const struct target *x,
			  const char *aid)
{
	char msg[200];

	if (x->kind == POL_RESOURCE) {
		reply_error(s, id, -32002, "Resource not found",
			    json_pack("{s:s,s:s}", "uri", x->shown, "auditId",
				      aid));
		return;
	}
	snprintf(msg, sizeof(msg), "Unknown %s: %.128s",
		 x->kind == POL_TOOL ? "tool" : "prompt", x->shown);
	reply_error(s, id, -32602, msg, json_pack("{s:s}", "auditId", aid));
}

/* Fills x from the request; returns 0, or -1 after answering a malformed
 * request. A target that resolves to nothing keeps x->t NULL. */
static int find_target(struct gw *g, struct asess *s, struct jr_msg *m,
		       struct target *x)
{
	const char *meth = m->method, *bare = NULL;
	json_t *p = m->params, *ref;
	const char *n;

	memset(x, 0, sizeof(*x));
	if (!json_is_object(p)) {
		reply_error(s, m->id, -32602, "params must be an object", NULL);
		return -1;
	}
	if (strcmp(meth, "tools/call") == 0 ||
	    strcmp(meth, "prompts/get") == 0) {
		x->kind = meth[0] == 't' ? POL_TOOL : POL_PROMPT;
		n = json_string_value(json_object_get(p, "name"));
		x->args = json_object_get(p, "arguments");
		if (!n || (x->args && !json_is_object(x->args))) {
			reply_error(s, m->id, -32602,
				    "name must be a string "
				    "and arguments an object",
				    NULL);
			return -1;
		}
		x->shown = n;
		x->t = resolve_name(g, s->az, n, &bare);
		x->name = bare;
		return 0;
	}
	if (strcmp(meth, "completion/complete") == 0) {
		ref = json_object_get(p, "ref");
		n = json_string_value(json_object_get(ref, "type"));
		if (n && strcmp(n, "ref/prompt") == 0 &&
		    json_is_string(json_object_get(ref, "name"))) {
			x->kind = POL_PROMPT;
			x->shown =
				json_string_value(json_object_get(ref, "name"));
			x->t = resolve_name(g, s->az, x->shown, &bare);
			x->name = bare;
			return 0;
		}
		if (n && strcmp(n, "ref/resource") == 0 &&
		    json_is_string(json_object_get(ref, "uri"))) {
			x->kind = POL_RESOURCE;
			x->shown = x->name =
				json_string_value(json_object_get(ref, "uri"));
			x->t = resolve_uri(g, x->name);
			return 0;
		}
		reply_error(s, m->id, -32602, "bad ref", NULL);
		return -1;
	}
	/* resources/read, subscribe, unsubscribe */
	n = json_string_value(json_object_get(p, "uri"));
	if (!n || !*n || strlen(n) > 4096) {
		reply_error(s, m->id, -32602, "uri must be a non-empty string",
			    NULL);
		return -1;
	}
	x->kind = POL_RESOURCE;
	x->shown = x->name = n;
	x->t = resolve_uri(g, n);
	return 0;
}

/* Rewrites the request for the tool zone: our id, the bare name. */
static void rewrite_up(struct jr_msg *m, const struct target *x, uint64_t uid)
{
	json_object_set_new(m->root, "id", json_integer((json_int_t)uid));
	if (x->kind == POL_RESOURCE || !x->name)
		return;
	if (strcmp(m->method, "completion/complete") == 0)
		json_object_set_new(json_object_get(m->params, "ref"), "name",
				    json_string(x->name));
	else
		json_object_set_new(m->params, "name", json_string(x->name));
}

/* Checks rate and concurrency; returns NULL when allowed, else why. */
static const char *limits_check(struct gw *g, const struct azone *az,
				const struct pol_rule *r, size_t len,
				struct gw_limit **lim)
{
	*lim = NULL;
	if (r->max_bytes && len > r->max_bytes)
		return "request too large";
	if (!r->rate_n && !r->concurrency)
		return NULL;
	*lim = gw_limits_get(g->lim, r, az->zi, gw_now_ms());
	if (!*lim)
		return "out of memory";
	if (r->concurrency && (*lim)->inflight >= r->concurrency)
		return "concurrency limit reached";
	if (r->rate_n && !gw_bucket_take(&(*lim)->bucket, gw_now_ms()))
		return "rate limit exceeded";
	if (r->concurrency)
		(*lim)->inflight++;
	return NULL;
}

static char *rule_ref(const struct pol_rule *r)
{
	char b[512];

	if (!r)
		return NULL;
	snprintf(b, sizeof(b), "%s:%d", r->file, r->line);
	return strdup(b);
}

static void do_route(struct gw *g, struct asess *s, struct jr_msg *m,
		     size_t len)
{
	int64_t t0 = gw_now_us(), tp;
	struct target x;
	const struct pol_rule *r = NULL;
	enum pol_decision d = POL_DENY_DEFAULT;
	const char *why = NULL, *lw;
	char aid[40], *rule, tgt[300], *argj = NULL;
	json_t *empty = NULL, *exists = NULL;
	struct gw_limit *lim = NULL;
	struct preq *p;
	size_t ulen;
	char *up;

	if (find_target(g, s, m, &x))
		return;
	if (g->cfg->audit_args && x.args)
		argj = json_dumps(x.args, JSON_COMPACT);
	gw_audit_new_id(g->audit, aid, sizeof(aid));
	if (x.t && x.name) {
		static const int kk[] = { 0, CAT_TOOLS, CAT_RES, 0,
					  CAT_PROMPTS };
		/* A resource resolved from a catalogue exists; a zone that is
		 * down is decided by policy alone, then reported unavailable. */
		if (x.kind == POL_RESOURCE || !x.t->have_cat)
			exists = json_true();
		else
			exists = cat_find(x.t, kk[x.kind], "name", x.name);
		if (!x.args)
			x.args = empty = json_object();
		d = decide(g, s->az, x.kind, x.t->z->name, x.name, x.args, &r);
	}
	tp = gw_now_us() - t0;
	snprintf(tgt, sizeof(tgt), "%s%s%.200s", x.t ? x.t->z->name : "",
		 x.t ? "." : "", x.t ? x.name : "(unknown)");
	rule = rule_ref(r);
	if (!x.t || !exists || x.t->quarantined || d != POL_ALLOW) {
		why = !x.t || !exists	      ? "no such target"
		      : x.t->quarantined      ? "tool zone quarantined"
		      : d == POL_DENY_DEFAULT ? "no rule allows it"
		      : d == POL_DENY_RULE    ? "denied by rule"
					      : "argument condition not met";
		/* An unknown name is not echoed into the audit target or the
		 * metrics labels: it is the caller's text. */
		audit(g, s->az->z->name, s->id, m->method, exists ? tgt : NULL,
		      "deny", rule, why, aid, len, 0, tp, 0, gw_now_us() - t0,
		      argj);
		gw_metrics_record(g->met, s->az->z->name,
				  exists ? tgt : "(unknown)", 1, 0);
		reply_unknown(s, m->id, &x, aid);
		goto out;
	}
	if (!x.t->m || !x.t->have_cat) {
		audit(g, s->az->z->name, s->id, m->method, tgt, "allow", rule,
		      "tool zone unavailable", aid, len, 0, tp, 0,
		      gw_now_us() - t0, argj);
		gw_metrics_record(g->met, s->az->z->name, tgt, 2, 0);
		snprintf(tgt, sizeof(tgt), "tool zone %s is unavailable",
			 x.t->z->name);
		reply_error(s, m->id, GW_ERR_GATEWAY, tgt,
			    json_pack("{s:s,s:s}", "auditId", aid, "reason",
				      "unavailable"));
		goto out;
	}
	lw = limits_check(g, s->az, r, len, &lim);
	if (!lw && (s->inflight >= SESSION_INFLIGHT_MAX ||
		    s->az->inflight >= ZONE_INFLIGHT_MAX))
		lw = "too many requests in flight";
	if (lw) {
		audit(g, s->az->z->name, s->id, m->method, tgt, "limit", rule,
		      lw, aid, len, 0, tp, 0, gw_now_us() - t0, argj);
		gw_metrics_record(g->met, s->az->z->name, tgt, 1, 0);
		reply_error(s, m->id, GW_ERR_GATEWAY, lw,
			    json_pack("{s:s,s:s}", "auditId", aid, "limit",
				      lw));
		goto out;
	}
	p = preq_new(g, PK_CALL, s, x.t->ti);
	if (!p) {
		if (lim && r->concurrency)
			lim->inflight--;
		reply_error(s, m->id, -32603, "out of memory", NULL);
		goto out;
	}
	p->aid = json_incref(m->id);
	snprintf(p->method, sizeof(p->method), "%s", m->method);
	snprintf(p->audit_id, sizeof(p->audit_id), "%s", aid);
	p->target = strdup(tgt);
	p->rule = rule;
	rule = NULL;
	p->args = argj;
	argj = NULL;
	p->lim = r->concurrency ? lim : NULL;
	p->bytes_in = len;
	p->max_bytes = r->max_bytes;
	p->t0 = t0;
	p->t_policy = tp;
	if (r->timeout_ms) {
		p->deadline_ms = gw_now_ms() + r->timeout_ms;
		if (p->deadline_ms < g->next_deadline_ms)
			g->next_deadline_ms = p->deadline_ms;
	}
	rewrite_up(m, &x, p->uid);
	up = jr_dump(m->root, &ulen);
	p->t_sent = gw_now_us();
	if (!up || !p->target || link_ensure(g, s, x.t->ti) ||
	    link_send(g, s, x.t->ti, up, ulen)) {
		free(up);
		call_fail(g, p, GW_ERR_GATEWAY,
			  "tool zone is busy or "
			  "unavailable",
			  "upstream send failed");
		goto out;
	}
	free(up);
out:
	free(rule);
	free(argj);
	json_decref(empty);
}

static void do_cancel(struct gw *g, struct asess *s, struct jr_msg *m)
{
	json_t *rid = json_object_get(m->params, "requestId");
	struct preq *p;

	for (p = s->reqs; p && rid; p = p->next) {
		if (p->kind != PK_CALL || !jr_id_equal(p->aid, rid))
			continue;
		if (s->links[p->ti].state == L_READY) {
			json_t *n = jr_request(
				NULL, "notifications/cancelled",
				json_pack("{s:I,s:s}", "requestId",
					  (json_int_t)p->uid, "reason",
					  "cancelled by the client"));
			send_json(g->tz[p->ti]->m, s->links[p->ti].sid, n);
			json_decref(n);
		}
		audit(g, s->az->z->name, s->id, p->method, p->target, "allow",
		      p->rule, "cancelled by the client", p->audit_id,
		      p->bytes_in, 0, p->t_policy, gw_now_us() - p->t_sent,
		      gw_now_us() - p->t0, p->args);
		preq_free(g, p);
		return;
	}
}

/* The agent answers a server-to-client request we forwarded. */
static void do_agent_response(struct gw *g, struct asess *s, struct jr_msg *m,
			      const char *raw, size_t len)
{
	const char *id = json_string_value(m->id);
	struct sreq **pp, *r;
	uint64_t aid;
	char *end;

	if (!id || strncmp(id, "zg-", 3) != 0)
		return;
	errno = 0;
	aid = strtoull(id + 3, &end, 10);
	if (errno || *end)
		return;
	r = map_get(g->sreqs, aid);
	if (!r || r->s != s)
		return;
	if (s->links[r->ti].state == L_READY) {
		json_object_set(m->root, "id", r->up_id);
		send_json(g->tz[r->ti]->m, s->links[r->ti].sid, m->root);
	}
	for (pp = &s->sreqs; *pp != r; pp = &(*pp)->next)
		;
	*pp = r->next;
	map_del(g->sreqs, aid);
	json_decref(r->up_id);
	free(r);
	(void)raw;
	(void)len;
}

static void agent_message(struct gw *g, struct asess *s, const uint8_t *msg,
			  size_t len)
{
	struct jr_msg m;
	const char *meth;

	jr_parse((const char *)msg, len, g->cfg->max_message, MAX_DEPTH, &m);
	switch (m.kind) {
	case JR_INVALID:
		reply_error(s, m.id, m.err_code, m.err, NULL);
		goto out;
	case JR_BATCH:
		reply_error(s, NULL, -32600, "batches are not supported", NULL);
		goto out;
	case JR_RESULT:
	case JR_ERROR:
		do_agent_response(g, s, &m, (const char *)msg, len);
		goto out;
	case JR_NOTIFICATION:
		if (strcmp(m.method, "notifications/cancelled") == 0)
			do_cancel(g, s, &m);
		goto out;
	case JR_REQUEST:
		break;
	}
	meth = m.method;
	if (g->draining && strcmp(meth, "ping") != 0) {
		g->drain_refused++;
		reply_error(s, m.id, GW_ERR_GATEWAY, "gateway is shutting down",
			    NULL);
		goto out;
	}
	if (strcmp(meth, "ping") == 0) {
		to_agent(s, jr_result(m.id, json_object()));
	} else if (strcmp(meth, "initialize") == 0) {
		do_initialize(g, s, &m);
	} else if (!s->inited) {
		reply_error(s, m.id, -32600, "session not initialized", NULL);
	} else if (strcmp(meth, "tools/list") == 0) {
		do_list(g, s, &m, CAT_TOOLS);
	} else if (strcmp(meth, "resources/list") == 0) {
		do_list(g, s, &m, CAT_RES);
	} else if (strcmp(meth, "resources/templates/list") == 0) {
		do_list(g, s, &m, CAT_TMPL);
	} else if (strcmp(meth, "prompts/list") == 0) {
		do_list(g, s, &m, CAT_PROMPTS);
	} else if (strcmp(meth, "logging/setLevel") == 0) {
		do_set_level(g, s, &m);
	} else if (strcmp(meth, "tools/call") == 0 ||
		   strcmp(meth, "prompts/get") == 0 ||
		   strcmp(meth, "resources/read") == 0 ||
		   strcmp(meth, "resources/subscribe") == 0 ||
		   strcmp(meth, "resources/unsubscribe") == 0 ||
		   strcmp(meth, "completion/complete") == 0) {
		do_route(g, s, &m, len);
	} else {
		reply_error(s, m.id, -32601, "Method not found", NULL);
	}
out:
	jr_msg_clear(&m);
}

/* ---- agent zones --------------------------------------------------------- */

static void sess_end(struct gw *g, struct asess *s)
{
	struct preq *p, *pn;
	struct sreq *r, *rn;

	for (p = s->reqs; p; p = pn) {
		pn = p->next;
		if (p->kind == PK_CALL)
			audit(g, s->az->z->name, s->id, p->method, p->target,
			      "allow", p->rule, "session ended", p->audit_id,
			      p->bytes_in, 0, p->t_policy, 0,
			      gw_now_us() - p->t0, p->args);
		preq_free(g, p);
	}
	for (r = s->sreqs; r; r = rn) {
		rn = r->next;
		map_del(g->sreqs, r->aid);
		json_decref(r->up_id);
		free(r);
	}
	for (size_t i = 0; i < g->ntz; i++)
		link_reset(g, s, (unsigned)i);
	map_del(s->az->sess, s->key);
	json_decref(s->caps);
	free(s->level);
	free(s->links);
	free(s);
}

static int az_open(void *ud, chan_mux *m, uint32_t sid)
{
	struct azone *az = ud;
	struct asess *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->links = calloc(az->g->ntz + 1, sizeof(*s->links));
	if (!s->links || map_put(az->sess, sid, s)) {
		free(s->links);
		free(s);
		return -1;
	}
	s->az = az;
	s->sid = sid;
	s->key = sid;
	snprintf(s->proto, sizeof(s->proto), "%s", versions[0]);
	snprintf(s->id, sizeof(s->id), "%s/%u/%u", az->z->name,
		 chan_generation(chan_mux_chan(m)), sid);
	az->sessions_total++;
	return 0;
}

static void az_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *msg,
		    size_t len)
{
	struct azone *az = ud;
	struct asess *s = map_get(az->sess, sid);

	if (s)
		agent_message(az->g, s, msg, len);
}

static void az_close(void *ud, chan_mux *m, uint32_t sid, int reset)
{
	struct azone *az = ud;
	struct asess *s = map_get(az->sess, sid);

	if (s)
		sess_end(az->g, s);
	if (!reset)
		chan_mux_close_stream(m, sid);
}

static void az_down(void *ud, chan_mux *m, const char *why)
{
	struct azone *az = ud;
	size_t n;
	void **v = map_values(az->sess, &n);

	fprintf(stderr, "gatewayd: agent zone %s: channel down: %s\n",
		az->z->name, why);
	for (size_t i = 0; i < n; i++)
		if (!((struct asess *)v[i])->hs) /* HTTP ones stay */
			sess_end(az->g, v[i]);
	free(v);
}

/* ---- HTTP listeners' sessions (listen.c hands them over) -------------- */

struct asess *gw_route_http_open(struct gw *g, const char *zone,
				 struct gw_hs *hs, unsigned listener,
				 uint64_t n)
{
	struct azone *az = NULL;
	struct asess *s;

	for (size_t i = 0; i < g->naz; i++)
		if (strcmp(g->az[i]->z->name, zone) == 0)
			az = g->az[i];
	if (!az)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->links = calloc(g->ntz + 1, sizeof(*s->links));
	s->key = 1ull << 32 | (n & 0xffffffffu);
	if (!s->links || map_get(az->sess, s->key) ||
	    map_put(az->sess, s->key, s)) {
		free(s->links);
		free(s);
		return NULL;
	}
	s->az = az;
	s->hs = hs;
	snprintf(s->proto, sizeof(s->proto), "%s", versions[0]);
	snprintf(s->id, sizeof(s->id), "%s/http%u/%llu", az->z->name, listener,
		 (unsigned long long)n);
	az->sessions_total++;
	return s;
}

void gw_route_http_input(struct gw *g, struct asess *s, const char *msg,
			 size_t len)
{
	agent_message(g, s, (const uint8_t *)msg, len);
}

void gw_route_http_close(struct gw *g, struct asess *s)
{
	sess_end(g, s);
}

static void az_log(void *ud, const char *msg)
{
	struct azone *az = ud;

	fprintf(stderr, "gatewayd: agent zone %s: %s\n", az->z->name, msg);
}

static void tz_log(void *ud, const char *msg)
{
	struct tzone *t = ud;

	fprintf(stderr, "gatewayd: tool zone %s: %s\n", t->z->name, msg);
}

/* ---- tool zones ------------------------------------------------------------ */

static void all_sessions(struct gw *g,
			 void (*fn)(struct gw *, struct asess *, void *),
			 void *arg)
{
	for (size_t i = 0; i < g->naz; i++) {
		size_t n;
		void **v = map_values(g->az[i]->sess, &n);
		for (size_t k = 0; k < n; k++)
			fn(g, v[k], arg);
		free(v);
	}
}

static void notify_changed(struct gw *g, struct asess *s, void *arg)
{
	static const char *const n[] = { "notifications/tools/list_changed",
					 "notifications/resources/list_changed",
					 "notifications/prompts/list_changed" };
	if (!s->inited)
		return;
	for (int i = 0; i < 3; i++)
		to_agent(s, jr_request(NULL, n[i], NULL));
	(void)arg;
}

void gw_route_lists_changed(struct gw *g)
{
	g->list_gen++;
	all_sessions(g, notify_changed, NULL);
}

static void cat_request(struct tzone *t, int k, json_t *cursor)
{
	struct gw *g = t->g;
	struct preq *p = preq_new(g, PK_CAT, NULL, t->ti);
	json_t *r;

	if (!p)
		return;
	p->cat = k;
	r = up_request_new(p->uid, cat_method[k],
			   cursor ? json_pack("{s:O}", "cursor", cursor)
				  : NULL);
	send_json(t->m, t->ctl, r);
	json_decref(r);
}

static void cat_fetch(struct tzone *t)
{
	if (t->fetching)
		return;
	for (int k = 0; k < CAT_N; k++) {
		json_decref(t->stage[k]);
		t->stage[k] = json_array();
		cat_request(t, k, NULL);
	}
	t->fetching = CAT_N;
	t->pages = 0;
	t->refetch = 0;
	t->last_fetch = gw_now_ms();
}

/* The tool zone says its lists changed. Fetched again at once, or, while
 * a fetch runs or within REFETCH_MIN_MS of the last one, once that is
 * over: a zone repeating list_changed costs one fetch a second, and a
 * change announced during a fetch is never lost. */
static void cat_changed(struct tzone *t)
{
	if (!t->have_cat && !t->fetching)
		return; /* the first fetch, still to come, will see it */
	if (t->fetching || gw_now_ms() < t->last_fetch + REFETCH_MIN_MS)
		t->refetch = 1;
	else
		cat_fetch(t);
}

/* When a remembered refetch may start (INT64_MAX: none is waiting). */
static int64_t refetch_at(const struct tzone *t)
{
	return t->m && t->refetch && !t->fetching
		       ? t->last_fetch + REFETCH_MIN_MS
		       : INT64_MAX;
}

static void quarantine_check(struct tzone *t)
{
	struct gw *g = t->g;
	const char *pin =
		json_string_value(json_object_get(g->pins, t->z->name));
	int was = t->quarantined;
	char aid[40];

	gw_catalogue_hash(t->cat[CAT_TOOLS], t->hash);
	t->quarantined = pin && strcmp(pin, t->hash) != 0;
	if (t->quarantined && !was) {
		gw_audit_new_id(g->audit, aid, sizeof(aid));
		audit(g, t->z->name, "-", "pin/check", t->z->name, "quarantine",
		      NULL, "tool definitions differ from the pinned hash", aid,
		      0, 0, 0, 0, 0, NULL);
		fprintf(stderr,
			"gatewayd: tool zone %s QUARANTINED: its tool "
			"definitions changed (pinned %.12s, now %.12s)\n",
			t->z->name, pin, t->hash);
	}
}

/* Installs a fetched catalogue. Agents hear of it (list_changed) only
 * if something differs: a tool zone cannot make the gateway flood every
 * agent session by announcing changes that are not there. */
static void cat_install(struct tzone *t)
{
	int first = !t->have_cat, changed = first;

	for (int k = 0; k < CAT_N; k++) {
		if (!changed && !json_equal(t->cat[k], t->stage[k]))
			changed = 1;
		json_decref(t->cat[k]);
		t->cat[k] = t->stage[k];
		t->stage[k] = NULL;
	}
	t->have_cat = 1;
	t->backoff = BACKOFF_MIN_MS;
	t->last_error[0] = '\0';
	quarantine_check(t);
	if (!changed)
		return;
	fprintf(stderr,
		"gatewayd: tool zone %s %s: %zu tools, %zu resources, "
		"%zu prompts\n",
		t->z->name, first ? "up" : "changed",
		json_array_size(t->cat[CAT_TOOLS]),
		json_array_size(t->cat[CAT_RES]),
		json_array_size(t->cat[CAT_PROMPTS]));
	gw_route_lists_changed(t->g);
}

static void cat_page(struct tzone *t, struct preq *p, struct jr_msg *m)
{
	json_t *items =
		m->kind == JR_RESULT
			? json_object_get(json_object_get(m->root, "result"),
					  cat_key[p->cat])
			: NULL;
	json_t *cur = json_object_get(json_object_get(m->root, "result"),
				      "nextCursor");
	const char *nk = p->cat == CAT_RES    ? "uri"
			 : p->cat == CAT_TMPL ? "uriTemplate"
					      : "name";
	size_t i;
	json_t *e;

	json_array_foreach (items, i, e) {
		const char *n = json_string_value(json_object_get(e, nk));
		if (!json_is_object(e) || !n ||
		    (p->cat != CAT_RES && p->cat != CAT_TMPL && !name_ok(n)) ||
		    strlen(n) > 4096)
			continue; /* unusable entries are left out */
		if (json_array_size(t->stage[p->cat]) >= CAT_ITEMS_MAX) {
			fprintf(stderr,
				"gatewayd: tool zone %s: %s over %d "
				"entries; the rest is left out\n",
				t->z->name, cat_key[p->cat], CAT_ITEMS_MAX);
			cur = NULL; /* no further pages either */
			break;
		}
		json_array_append(t->stage[p->cat], e);
	}
	if (json_is_string(cur) && ++t->pages < CAT_PAGES_MAX) {
		cat_request(t, p->cat, cur);
		return;
	}
	if (--t->fetching == 0)
		cat_install(t);
}

/* A response from a tool zone: ours (init, catalogue) or a call's. */
static void up_response(struct tzone *t, struct asess *ls, struct jr_msg *m,
			const uint8_t *raw, size_t len)
{
	struct gw *g = t->g;
	struct preq *p;
	int64_t now;

	if (!json_is_integer(m->id))
		return;
	p = map_get(g->preqs, (uint64_t)json_integer_value(m->id));
	if (!p || p->ti != t->ti || p->s != ls)
		return; /* not ours (a zone cannot answer another's call) */
	switch (p->kind) {
	case PK_CAT:
		cat_page(t, p, m);
		preq_free(g, p);
		return;
	case PK_IGNORE:
		preq_free(g, p);
		return;
	case PK_INIT:
		preq_free(g, p);
		if (!ls) {
			json_t *n = jr_request(NULL,
					       "notifications/initialized",
					       NULL);
			send_json(t->m, t->ctl, n);
			json_decref(n);
			if (m->kind == JR_RESULT)
				cat_fetch(t);
			else
				t->dead = 1;
		} else if (m->kind == JR_RESULT) {
			link_ready(g, ls, t->ti);
		} else {
			link_fail(g, ls, t->ti, "initialize refused");
		}
		return;
	case PK_CALL:
		break;
	}
	now = gw_now_us();
	if (p->max_bytes && len > p->max_bytes) {
		call_fail(g, p, GW_ERR_GATEWAY, "response too large",
			  "response over max-bytes");
		return;
	}
	json_object_set(m->root, "id", p->aid);
	to_agent(ls, json_incref(m->root));
	t->responses++;
	audit(g, ls->az->z->name, ls->id, p->method, p->target, "allow",
	      p->rule, m->kind == JR_ERROR ? "upstream error" : NULL,
	      p->audit_id, p->bytes_in, len, p->t_policy, now - p->t_sent,
	      now - p->t0, p->args);
	gw_metrics_record(g->met, ls->az->z->name, p->target,
			  m->kind == JR_ERROR ||
					  json_is_true(json_object_get(
						  json_object_get(m->root,
								  "result"),
						  "isError"))
				  ? 2
				  : 0,
			  now - p->t0);
	preq_free(g, p);
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
		    ? map_get(t->g->preqs, (uint64_t)json_integer_value(v))
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
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (strncmp(m->method, need[i][0], strlen(need[i][0])) == 0 &&
		    !json_object_get(s->caps, need[i][1]))
			why = "Method not found";
	for (struct sreq *r = s->sreqs; r && !why; r = r->next)
		if (++n >= SESSION_SREQ_MAX) {
			why = "too many requests waiting for the client";
			code = -32000;
		}
	if (why) {
		json_t *e = jr_error(m->id, code, why, NULL);
		send_json(t->m, s->links[t->ti].sid, e);
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
		send_json(t->m, t->ctl, e);
		json_decref(e);
		return;
	}
	if (refuse_sreq(t, s, m))
		return;
	r = calloc(1, sizeof(*r));
	if (!r || map_put(g->sreqs, g->next_id + 1, r)) {
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
	to_agent(s, json_incref(m->root));
}

static void up_notification(struct tzone *t, struct asess *s, struct jr_msg *m,
			    const uint8_t *raw, size_t len)
{
	const char *meth = m->method;

	if (strstr(meth, "/list_changed")) {
		if (!s)
			cat_changed(t);
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
			to_agent(s, json_incref(m->root));
			*pp = r->next;
			map_del(t->g->sreqs, r->aid);
			json_decref(r->up_id);
			free(r);
			return;
		}
		return;
	}
	/* progress, logging, resources/updated: this session's own. */
	if (relate_for_agent(t, s, m->root))
		to_agent(s, json_incref(m->root));
	else if (agent_send(s, (const char *)raw, len) == CHAN_MUX_EFULL)
		fprintf(stderr,
			"gatewayd: %s: agent not reading; "
			"notification dropped\n",
			s->id);
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
	int is_err, outcome;
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
	p = map_get(g->preqs, uid);
	if (!p || p->kind != PK_CALL || p->s != s || p->ti != t->ti)
		return -1;
	now = gw_now_us();
	if (p->max_bytes && len > p->max_bytes)
		return -1;
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
	if (agent_send(s, out, out_len) == CHAN_MUX_EFULL)
		fprintf(stderr,
			"gatewayd: %s: agent not reading; message "
			"dropped\n",
			s->id);
	free(out);
	free(idj);
	t->responses++;
	t->responses_spliced++;
	outcome = is_err || memmem(msg + i, len - i, "\"isError\":true", 14)
			  ? 2
			  : 0;
	audit(g, s->az->z->name, s->id, p->method, p->target, "allow", p->rule,
	      is_err ? "upstream error" : NULL, p->audit_id, p->bytes_in, len,
	      p->t_policy, now - p->t_sent, now - p->t0, p->args);
	gw_metrics_record(g->met, s->az->z->name, p->target, outcome,
			  now - p->t0);
	preq_free(g, p);
	return 0;
}

static void tz_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *msg,
		    size_t len)
{
	struct tzone *t = ud;
	struct asess *s = NULL;
	struct jr_msg jm;

	if (sid != t->ctl) {
		s = map_get(t->g->links, link_key(t->ti, sid));
		if (!s)
			return;
		if (fast_response(t, s, msg, len) == 0)
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
	s = map_get(t->g->links, link_key(t->ti, sid));
	if (s)
		link_fail(t->g, s, t->ti, "upstream session ended");
}

static void tz_up(void *ud, chan_mux *m)
{
	struct tzone *t = ud;
	struct preq *p;
	json_t *r;

	t->ctl = chan_mux_open_stream(m);
	p = t->ctl ? preq_new(t->g, PK_INIT, NULL, t->ti) : NULL;
	if (!p) {
		t->dead = 1;
		return;
	}
	r = init_request(t->g, p->uid, versions[0], NULL);
	send_json(m, t->ctl, r);
	json_decref(r);
}

static void tz_downcb(void *ud, chan_mux *m, const char *why)
{
	struct tzone *t = ud;

	snprintf(t->last_error, sizeof(t->last_error), "%.150s", why);
	t->dead = 1;
}

static void drop_links(struct gw *g, struct asess *s, void *arg)
{
	unsigned ti = *(unsigned *)arg;

	if (s->links[ti].state != L_NONE || s->links[ti].qn)
		link_fail(g, s, ti, g->tz[ti]->last_error);
}

/* The tool zone went away: fail its calls, hide its tools, reconnect. */
static void tz_down(struct tzone *t, const char *why)
{
	struct gw *g = t->g;
	size_t n;
	void **v;
	int had = t->have_cat;

	fprintf(stderr, "gatewayd: tool zone %s down: %s\n", t->z->name, why);
	all_sessions(g, drop_links, &t->ti);
	v = map_values(g->preqs, &n);
	for (size_t i = 0; i < n; i++) {
		struct preq *p = v[i];
		if (p->ti == t->ti && !p->s)
			preq_free(g, p);
	}
	free(v);
	chan_mux_free(t->m);
	t->m = NULL;
	t->dead = 0;
	t->ctl = 0;
	t->fetching = 0;
	t->refetch = 0;
	for (int k = 0; k < CAT_N; k++) {
		json_decref(t->cat[k]);
		json_decref(t->stage[k]);
		t->cat[k] = t->stage[k] = NULL;
	}
	t->have_cat = 0;
	t->retry_at = gw_now_ms() + t->backoff;
	t->backoff = t->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
						     : t->backoff * 2;
	if (had)
		gw_route_lists_changed(g);
}

static void tz_connect(struct tzone *t)
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
	chan *c = chan_open(t->z->chan, CHAN_CLIENT, &co, err, sizeof(err));

	if (c)
		t->m = chan_mux_new(c, &mo, &ops, t, err, sizeof(err));
	if (!t->m) {
		snprintf(t->last_error, sizeof(t->last_error), "%.150s", err);
		t->retry_at = gw_now_ms() + t->backoff;
		t->backoff = t->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
							     : t->backoff * 2;
		return;
	}
	t->connects++;
}

/* ---- the loop's interface -------------------------------------------------- */

int gw_route_init(struct gw *g, char *err, size_t errlen)
{
	static const struct chan_mux_ops aops = { NULL, az_open, az_data,
						  az_close, az_down };
	const struct gw_config *c = g->cfg;

	g->preqs = map_new();
	g->sreqs = map_new();
	g->links = map_new();
	g->tz = calloc(c->nzones, sizeof(*g->tz));
	g->az = calloc(c->nzones, sizeof(*g->az));
	if (!g->preqs || !g->sreqs || !g->links || !g->tz || !g->az)
		goto oom;
	g->next_deadline_ms = INT64_MAX;
	for (size_t i = 0; i < c->nzones; i++) {
		const struct gw_zone *z = &c->zones[i];
		if (z->role == GW_TOOL) {
			struct tzone *t = calloc(1, sizeof(*t));
			if (!t)
				goto oom;
			t->g = g;
			t->z = z;
			t->zi = (unsigned)i;
			t->ti = (unsigned)g->ntz;
			t->backoff = BACKOFF_MIN_MS;
			g->tz[g->ntz++] = t;
		}
	}
	for (size_t i = 0; i < c->nzones; i++) {
		const struct gw_zone *z = &c->zones[i];
		struct chan_mux_opts mo = { .max_frame = c->max_message,
					    .max_streams = 1024,
					    .turn_frames = ZONE_TURN_FRAMES,
					    .turn_bytes = ZONE_TURN_BYTES,
					    .log = az_log };
		struct azone *a;
		chan *ch;
		if (z->role != GW_AGENT)
			continue;
		a = calloc(1, sizeof(*a));
		if (!a)
			goto oom;
		g->az[g->naz++] = a;
		a->g = g;
		a->z = z;
		a->zi = (unsigned)i;
		a->sess = map_new();
		if (!a->sess)
			goto oom;
		if (!z->chan)
			continue; /* served by HTTP listeners only */
		ch = chan_open(z->chan, CHAN_SERVER, NULL, err, errlen);
		if (ch)
			a->m = chan_mux_new(ch, &mo, &aops, a, err, errlen);
		if (!a->m)
			return -1;
	}
	for (size_t i = 0; i < g->ntz; i++)
		tz_connect(g->tz[i]);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

void gw_route_free(struct gw *g)
{
	for (size_t i = 0; i < g->naz; i++) {
		struct azone *a = g->az[i];
		size_t n;
		void **v = a->sess ? map_values(a->sess, &n) : NULL;
		for (size_t k = 0; v && k < n; k++)
			sess_end(g, v[k]);
		free(v);
		chan_mux_free(a->m);
		map_free(a->sess);
		free(a);
	}
	for (size_t i = 0; i < g->ntz; i++) {
		struct tzone *t = g->tz[i];
		size_t n;
		void **v = map_values(g->preqs, &n);
		for (size_t k = 0; v && k < n; k++)
			preq_free(g, v[k]);
		free(v);
		chan_mux_free(t->m);
		for (int k = 0; k < CAT_N; k++) {
			json_decref(t->cat[k]);
			json_decref(t->stage[k]);
		}
		free(t);
	}
	free(g->az);
	free(g->tz);
	map_free(g->preqs);
	map_free(g->sreqs);
	map_free(g->links);
}

size_t gw_route_pollfds(struct gw *g, struct pollfd *p, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < g->naz; i++)
		g->az[i]->pfd = NULL;
	for (size_t i = 0; i < g->ntz; i++)
		g->tz[i]->pfd = NULL;
	for (size_t i = 0; i < g->naz && n < max; i++) {
		if (!g->az[i]->m)
			continue;
		g->az[i]->pfd = &p[n];
		p[n].fd = chan_mux_fd(g->az[i]->m);
		p[n++].events = chan_mux_events(g->az[i]->m);
	}
	for (size_t i = 0; i < g->ntz && n < max; i++) {
		if (!g->tz[i]->m)
			continue;
		g->tz[i]->pfd = &p[n];
		p[n].fd = chan_mux_fd(g->tz[i]->m);
		p[n++].events = chan_mux_events(g->tz[i]->m);
	}
	return n;
}

int gw_route_timeout(struct gw *g)
{
	int64_t now = gw_now_ms(), t = INT64_MAX;

	for (size_t i = 0; i < g->naz; i++) {
		int x = g->az[i]->m ? chan_mux_timeout_ms(g->az[i]->m) : -1;
		if (x >= 0 && now + x < t)
			t = now + x;
	}
	for (size_t i = 0; i < g->ntz; i++) {
		struct tzone *z = g->tz[i];
		int x = z->m ? chan_mux_timeout_ms(z->m) : -1;
		if (x >= 0 && now + x < t)
			t = now + x;
		if (!z->m && z->retry_at < t)
			t = z->retry_at;
		if (refetch_at(z) < t)
			t = refetch_at(z);
	}
	if (g->next_deadline_ms < t)
		t = g->next_deadline_ms;
	if (gw_audit_pending(g->audit) && now + g->cfg->audit_flush_ms < t)
		t = now + g->cfg->audit_flush_ms;
	if (t == INT64_MAX)
		return -1;
	return t <= now ? 0 : (int)(t - now > 60000 ? 60000 : t - now);
}

/* Ends call p without its answer: the tool zone is told to cancel it,
 * the agent gets the error (code, msg), the audit record says reason. */
static void call_expire(struct gw *g, struct preq *p, int code, const char *msg,
			const char *reason)
{
	struct asess *s = p->s;

	if (s->links[p->ti].state == L_READY) {
		json_t *c = jr_request(NULL, "notifications/cancelled",
				       json_pack("{s:I,s:s}", "requestId",
						 (json_int_t)p->uid, "reason",
						 reason));
		send_json(g->tz[p->ti]->m, s->links[p->ti].sid, c);
		json_decref(c);
	}
	call_fail(g, p, code, msg, reason);
}

static void check_deadlines(struct gw *g)
{
	int64_t now = gw_now_ms(), next = INT64_MAX;
	size_t n;
	void **v;

	if (now < g->next_deadline_ms)
		return;
	v = map_values(g->preqs, &n);
	for (size_t i = 0; i < n; i++) {
		struct preq *p = v[i];
		if (p->deadline_ms > now) {
			if (p->deadline_ms < next)
				next = p->deadline_ms;
			continue;
		}
		if (p->kind == PK_CALL) {
			call_expire(g, p, -32001, "Request timed out",
				    "deadline exceeded");
		} else if (p->kind == PK_INIT && p->s) {
			link_fail(g, p->s, p->ti, "initialize timed out");
			/* link_fail may have freed other entries of v */
			free(v);
			g->next_deadline_ms = now;
			return;
		} else if (!p->s) {
			g->tz[p->ti]->dead = 1;
			snprintf(g->tz[p->ti]->last_error,
				 sizeof(g->tz[p->ti]->last_error),
				 "catalogue request timed out");
			preq_free(g, p);
		} else {
			preq_free(g, p);
		}
	}
	free(v);
	g->next_deadline_ms = next;
}

/* A channel poll found quiet needs no processing this turn: the peer
 * notifies whenever it writes to a ring we had drained or frees room in
 * a full one, and more input left over or a due PING shows in the mux's
 * timeout. Saves a notification read (and a server's accept) per idle
 * channel per turn. */
static int quiet(const struct pollfd *pfd, chan_mux *m)
{
	return pfd && !pfd->revents && chan_mux_timeout_ms(m) != 0;
}

void gw_route_run(struct gw *g)
{
	int64_t now = gw_now_ms();

	for (size_t i = 0; i < g->naz; i++) {
		struct azone *a = g->az[i];
		if (a->m && !quiet(a->pfd, a->m))
			chan_mux_process(a->m); /* never dies */
		a->pfd = NULL;
	}
	for (size_t i = 0; i < g->ntz; i++) {
		struct tzone *t = g->tz[i];
		const struct pollfd *pfd = t->pfd;
		t->pfd = NULL;
		if (!t->m) {
			if (now >= t->retry_at)
				tz_connect(t);
			continue;
		}
		if (now >= refetch_at(t))
			cat_fetch(t);
		if (quiet(pfd, t->m) && !t->dead)
			continue;
		if (chan_mux_process(t->m) < 0 || t->dead)
			tz_down(t, t->last_error[0] ? t->last_error
						    : "channel closed");
	}
	check_deadlines(g);
	for (size_t i = 0; i < g->ntz; i++)
		if (g->tz[i]->dead && g->tz[i]->m)
			tz_down(g->tz[i], g->tz[i]->last_error);
	gw_audit_maybe_flush(g->audit, g->cfg->audit_flush_ms);
}

/* ---- draining ------------------------------------------------------------------ */

size_t gw_route_calls_inflight(struct gw *g)
{
	size_t n, calls = 0;
	void **v = map_values(g->preqs, &n);

	for (size_t i = 0; v && i < n; i++)
		calls += ((struct preq *)v[i])->kind == PK_CALL;
	free(v);
	return calls;
}

size_t gw_route_agent_backlog(struct gw *g)
{
	size_t b = 0;

	for (size_t i = 0; i < g->naz; i++)
		if (g->az[i]->m && chan_mux_is_up(g->az[i]->m))
			b += chan_mux_backlog(g->az[i]->m);
	return b;
}

size_t gw_route_abort_calls(struct gw *g, const char *msg, const char *reason)
{
	size_t n, ended = 0;
	void **v = map_values(g->preqs, &n);

	for (size_t i = 0; v && i < n; i++) {
		struct preq *p = v[i];
		if (p->kind != PK_CALL)
			continue;
		call_expire(g, p, GW_ERR_GATEWAY, msg, reason);
		ended++;
	}
	free(v);
	return ended;
}

/* ---- admin views ------------------------------------------------------------ */

json_t *gw_route_status(struct gw *g)
{
	json_t *zones = json_array();

	for (size_t i = 0; i < g->naz; i++) {
		struct azone *a = g->az[i];
		json_array_append_new(
			zones,
			json_pack("{s:s,s:s,s:s?,s:b,s:I,s:I}", "zone",
				  a->z->name, "role", "agent", "chan",
				  a->z->chan, "connected",
				  a->m && chan_mux_is_up(a->m), "sessions",
				  (json_int_t)a->sess->n, "sessions_total",
				  (json_int_t)a->sessions_total));
	}
	for (size_t i = 0; i < g->ntz; i++) {
		struct tzone *t = g->tz[i];
		const char *pin =
			json_string_value(json_object_get(g->pins, t->z->name));
		json_array_append_new(
			zones,
			json_pack(
				"{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:s?,s:b,s:s}",
				"zone", t->z->name, "role", "tool", "chan",
				t->z->chan, "health",
				visible(t)	 ? "up"
				: t->quarantined ? "quarantined"
				: t->m		 ? "connecting"
						 : "down",
				"tools",
				(json_int_t)json_array_size(t->cat[CAT_TOOLS]),
				"connects", (json_int_t)t->connects,
				"responses", (json_int_t)t->responses,
				"responses_spliced",
				(json_int_t)t->responses_spliced, "hash",
				t->have_cat ? t->hash : "", "pinned", pin,
				"quarantined", t->quarantined, "last_error",
				t->last_error));
	}
	return zones;
}

int gw_route_pin(struct gw *g, const char *name, int pin, char *err,
		 size_t errlen)
{
	struct tzone *t = tz_by_name(g, name, strlen(name));
	char aid[40];

	if (!t) {
		snprintf(err, errlen, "no tool zone '%.64s'", name);
		return -1;
	}
	if (pin && !t->have_cat) {
		snprintf(err, errlen, "tool zone %s is not up: nothing to pin",
			 name);
		return -1;
	}
	if (pin)
		json_object_set_new(g->pins, name, json_string(t->hash));
	else
		json_object_del(g->pins, name);
	if (gw_pins_save(g->cfg->pins, g->pins, err, errlen))
		return -1;
	gw_audit_new_id(g->audit, aid, sizeof(aid));
	audit(g, name, "-", pin ? "pin" : "unpin", name, "admin", NULL, NULL,
	      aid, 0, 0, 0, 0, 0, NULL);
	if (t->have_cat) {
		int was = t->quarantined;
		quarantine_check(t);
		if (was != t->quarantined)
			gw_route_lists_changed(g);
	}
	return 0;
}

void gw_route_snapshot(struct gw *g)
{
	char buf[8192];
	size_t len = 0;
	int ready = 1;

	len += (size_t)snprintf(buf + len, sizeof(buf) - len,
				"# TYPE zonegate_tool_zone_up gauge\n");
	for (size_t i = 0; i < g->ntz && len < sizeof(buf) - 256; i++) {
		struct tzone *t = g->tz[i];
		ready &= visible(t);
		len += (size_t)snprintf(
			buf + len, sizeof(buf) - len,
			"zonegate_tool_zone_up{zone=\"%s\"} %d\n"
			"zonegate_tool_zone_quarantined{zone=\"%s\"} %d\n",
			t->z->name, visible(t), t->z->name, t->quarantined);
	}
	for (size_t i = 0; i < g->naz && len < sizeof(buf) - 256; i++)
		len += (size_t)
			snprintf(buf + len, sizeof(buf) - len,
				 "zonegate_agent_sessions{zone=\"%s\"} %zu\n",
				 g->az[i]->z->name, g->az[i]->sess->n);
	if (len < sizeof(buf) - 128)
		snprintf(buf + len, sizeof(buf) - len,
			 "zonegate_policy_rules %zu\n"
			 "zonegate_policy_reload_errors %d\n",
			 policy_nrules(g->pol), g->policy_errors);
	pthread_mutex_lock(&g->snap_lock);
	free(g->snap_gauges);
	g->snap_gauges = strdup(buf);
	g->ready = ready;
	pthread_mutex_unlock(&g->snap_lock);
}
