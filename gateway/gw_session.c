/* Agent sessions: one per stream of an agent zone's channel or per HTTP
 * listener session; what an agent sends is parsed and dispatched here
 * (initialize, ping, setLevel, answers to server requests; lists and
 * routed calls go to the catalogue and the request lifecycle), and
 * everything for an agent leaves through gw_sess_send. */
#define _GNU_SOURCE /* memmem */
#include "gw_core.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zonegate/chan.h>
#include <zonegate/mcp.h>

#include "jsonrpc.h"
#include "splice.h"

static const char *const cap_names[] = { "sampling", "elicitation", "roots" };

/* The bytes of one message to the agent, over its channel stream or its
 * HTTP session. Returns 0, CHAN_MUX_EFULL or another negative value. */
static int gw_sess_send(struct asess *s, const char *data, size_t len)
{
	if (s->shared) /* back to the stateless requests (gw_stateless.c) */
		return gw_stl_deliver(s, data, len);
	if (s->hs) {
		/* HTTP answers leave at once: their records go first */
		if (gw_audit_pending(s->az->g->audit))
			gw_audit_flush(s->az->g->audit);
		return s->deliver(s->hs, s->inited, data, len);
	}
	return chan_mux_send(s->az->m, s->sid, data, len);
}

/* Drops to an agent that is not reading are logged at most once a
 * second per session: the first drop at once, later ones counted and
 * summed up in the next line (or at the session's end), so a stalled
 * agent cannot fill gatewayd's log with a line per message. */
#define DROP_LOG_MS 1000

static void drop_note(struct asess *s, int rc, size_t len)
{
	int64_t now = gw_now_ms();

	s->dropped++;
	if (s->drop_log_ms && now - s->drop_log_ms < DROP_LOG_MS) {
		s->drop_unlogged++;
		return;
	}
	if (rc == CHAN_MUX_EFULL)
		fprintf(stderr,
			"gatewayd: %s: agent not reading; message dropped "
			"(%llu dropped since the last report, %llu in all)\n",
			s->id, (unsigned long long)s->drop_unlogged + 1,
			(unsigned long long)s->dropped);
	else
		fprintf(stderr,
			"gatewayd: %s: message of %zu bytes not sent; dropped "
			"(%llu dropped since the last report, %llu in all)\n",
			s->id, len, (unsigned long long)s->drop_unlogged + 1,
			(unsigned long long)s->dropped);
	s->drop_unlogged = 0;
	s->drop_log_ms = now;
}

/* The drops of s not yet in a log line, at its end. */
static void drop_summary(struct asess *s)
{
	if (s->drop_unlogged)
		fprintf(stderr,
			"gatewayd: %s: %llu more messages dropped (%llu in "
			"all) before the session ended\n",
			s->id, (unsigned long long)s->drop_unlogged,
			(unsigned long long)s->dropped);
}

/* The text of one message to the agent. A stream whose queue is over
 * its cap (the agent is not reading) loses the message rather than
 * growing without bound; a message the channel refuses (over
 * max_message) is lost too: either is logged (drop_note), never
 * silent. */
void gw_sess_send_text(struct asess *s, const char *txt, size_t len)
{
	int rc = gw_sess_send(s, txt, len);

	if (rc < 0)
		drop_note(s, rc, len);
}

/* To the agent; steals msg. */
void gw_sess_to_agent(struct asess *s, json_t *msg)
{
	if (!msg)
		return;
	size_t len;
	char *txt = jr_dump(msg, &len);

	if (txt)
		gw_sess_send_text(s, txt, len);
	free(txt);
	json_decref(msg);
}

void gw_sess_error(struct asess *s, json_t *id, int code, const char *msg,
		   json_t *data)
{
	gw_sess_to_agent(s, jr_error(id, code, msg, data));
}

/* ---- agent requests ---------------------------------------------------- */

const char *const gw_versions[GW_NVERSIONS] = { "2025-11-25", "2025-06-18",
						"2025-03-26" };

/* Keeps of the client's capabilities only what the gateway uses: which
 * of sampling, elicitation and roots it declared (flags), and those
 * three for the tool zones, each with its sub-object (e.g. roots'
 * listChanged) when that is at most CAP_PART_MAX bytes, else empty.
 * Everything else (experimental, extensions, a 4 MB blob) is dropped:
 * a session costs at most CAPS_UP_MAX bytes for them however much the
 * client sent. */
static void caps_keep(struct asess *s, const json_t *caps)
{
	json_t *up = json_object();
	char *txt;

	s->caps = 0;
	free(s->caps_up);
	s->caps_up = NULL;
	for (size_t i = 0; up && json_is_object(caps) && i < 3; i++) {
		json_t *v = json_object_get(caps, cap_names[i]);
		if (!v)
			continue;
		s->caps |= 1u << i;
		json_object_set_new(up, cap_names[i],
				    json_is_object(v) &&
						    json_dumpb(v, NULL, 0,
							       JSON_COMPACT) <=
							    CAP_PART_MAX
					    ? json_deep_copy(v)
					    : json_object());
	}
	txt = up ? json_dumps(up, JSON_COMPACT) : NULL;
	if (txt && strlen(txt) < CAPS_UP_MAX)
		s->caps_up = txt;
	else
		free(txt);
	json_decref(up);
}

static void do_initialize(struct gw *g, struct asess *s, struct jr_msg *m)
{
	const char *v = json_string_value(
		json_object_get(m->params, "protocolVersion"));
	const char *proto = gw_versions[0];
	json_t *res;

	if (s->inited) {
		gw_sess_error(s, m->id, -32600, "already initialized", NULL);
		return;
	}
	for (size_t i = 0; v && i < 3; i++)
		if (strcmp(v, gw_versions[i]) == 0)
			proto = gw_versions[i];
	snprintf(s->proto, sizeof(s->proto), "%s", proto);
	caps_keep(s, json_object_get(m->params, "capabilities"));
	s->inited = 1;
	res = json_pack("{s:s,s:{s:{s:b},s:{s:b,s:b},s:{s:b},s:{},s:{}},"
			"s:{s:s,s:s}}",
			"protocolVersion", proto, "capabilities", "tools",
			"listChanged", 1, "resources", "subscribe", 1,
			"listChanged", 1, "prompts", "listChanged", 1,
			"logging", "completions", "serverInfo", "name",
			"zonegate-gateway", "version", GW_VERSION);
	gw_sess_to_agent(s, jr_result(m->id, res));
}

static void do_set_level(struct gw *g, struct asess *s, struct jr_msg *m)
{
	const char *lv = json_string_value(json_object_get(m->params, "level"));

	if (!lv || strlen(lv) > 16) {
		gw_sess_error(s, m->id, -32602, "level must be a string", NULL);
		return;
	}
	/* each is a request of ours upstream, held until the tool zone
	 * answers: a zone that does not answer must not let a session pile
	 * them up */
	if (s->aux >= SESSION_AUX_MAX) {
		gw_sess_error(s, m->id, GW_ERR_GATEWAY,
			      "too many requests in flight", NULL);
		return;
	}
	free(s->level);
	s->level = strdup(lv);
	for (size_t i = 0; i < g->ntz; i++) {
		struct preq *p;
		json_t *r;
		if (s->links[i].state != L_READY)
			continue;
		p = gw_req_new(g, PK_IGNORE, s, (unsigned)i);
		if (!p)
			continue;
		r = gw_up_request_new(p->uid, "logging/setLevel",
				      json_pack("{s:s}", "level", lv));
		gw_up_send(g->tz[i], s->links[i].sid, r);
		json_decref(r);
	}
	gw_sess_to_agent(s, jr_result(m->id, json_object()));
}

/* The agent answers a server-to-client request we forwarded. */
static void do_agent_response(struct gw *g, struct asess *s, struct jr_msg *m,
			      const char *raw, size_t len)
{
	const char *id = json_string_value(m->id);
	struct sreq **pp, *r;
	uint64_t aid;

	if (!id || strncmp(id, "zg-", 3) != 0 ||
	    zg_parse_uint(id + 3, NULL, 0, UINT64_MAX, &aid) != 0)
		return;
	r = gw_map_get(g->sreqs, aid);
	if (!r || r->s != s)
		return;
	if (r->irr_uid) {
		gw_up_irr_answer(g, r, m);
	} else if (s->links[r->ti].state == L_READY) {
		json_object_set(m->root, "id", r->up_id);
		gw_up_send(g->tz[r->ti], s->links[r->ti].sid, m->root);
	}
	for (pp = &s->sreqs; *pp != r; pp = &(*pp)->next)
		;
	*pp = r->next;
	gw_map_del(g->sreqs, aid);
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
		gw_sess_error(s, m.id, m.err_code, m.err, NULL);
		goto out;
	case JR_BATCH:
		gw_sess_error(s, NULL, -32600, "batches are not supported",
			      NULL);
		goto out;
	case JR_RESULT:
	case JR_ERROR:
		do_agent_response(g, s, &m, (const char *)msg, len);
		goto out;
	case JR_NOTIFICATION:
		if (strcmp(m.method, "notifications/cancelled") == 0 &&
		    s->stl_pending)
			gw_stl_cancel(g, s, &m);
		else if (strcmp(m.method, "notifications/cancelled") == 0)
			gw_req_cancel(g, s, &m);
		goto out;
	case JR_REQUEST:
		break;
	}
	if (gw_stl_wanted(s, &m)) {
		/* a stream that is not a session: each request stands alone
		 * (docs/protocol.md, "Stateless agents on a channel") */
		gw_stl_request(g, s->az, s, NULL, NULL, &m, len);
		goto out;
	}
	meth = m.method;
	if (g->draining && strcmp(meth, "ping") != 0) {
		g->drain_refused++;
		gw_sess_error(s, m.id, GW_ERR_GATEWAY,
			      "gateway is shutting down", NULL);
		goto out;
	}
	if (strcmp(meth, "ping") == 0) {
		gw_sess_to_agent(s, jr_result(m.id, json_object()));
	} else if (strcmp(meth, "initialize") == 0) {
		do_initialize(g, s, &m);
	} else if (!s->inited) {
		gw_sess_error(s, m.id, -32600, "session not initialized", NULL);
	} else if (strcmp(meth, "tools/list") == 0) {
		gw_cat_list(g, s, &m, CAT_TOOLS);
	} else if (strcmp(meth, "resources/list") == 0) {
		gw_cat_list(g, s, &m, CAT_RES);
	} else if (strcmp(meth, "resources/templates/list") == 0) {
		gw_cat_list(g, s, &m, CAT_TMPL);
	} else if (strcmp(meth, "prompts/list") == 0) {
		gw_cat_list(g, s, &m, CAT_PROMPTS);
	} else if (strcmp(meth, "logging/setLevel") == 0) {
		do_set_level(g, s, &m);
	} else if (strcmp(meth, "tools/call") == 0 ||
		   strcmp(meth, "prompts/get") == 0 ||
		   strcmp(meth, "resources/read") == 0 ||
		   strcmp(meth, "resources/subscribe") == 0 ||
		   strcmp(meth, "resources/unsubscribe") == 0 ||
		   strcmp(meth, "completion/complete") == 0) {
		gw_req_route(g, s, &m, len);
	} else if (strncmp(meth, "tasks/", 6) == 0) {
		gw_sess_error(s, m.id, -32601,
			      "Method not found: tasks are carried for "
			      "2026-07-28 requests only (the "
			      "io.modelcontextprotocol/tasks extension)",
			      NULL);
	} else {
		gw_sess_error(s, m.id, -32601, "Method not found", NULL);
	}
out:
	jr_msg_clear(&m);
}

/* ---- agent zones ------------------------------------------------------- */

void gw_sess_end(struct gw *g, struct asess *s)
{
	struct preq *p, *pn;
	struct sreq *r, *rn;

	if (s->stl_pending)
		gw_stl_gone(g, s->az, s, NULL);
	for (p = s->reqs; p; p = pn) {
		pn = p->next;
		if (p->kind == PK_CALL)
			gw_req_audit(g, s->az->z->name, s->id, p->method,
				     p->target, "allow", p->rule,
				     "session ended", p->audit_id, p->bytes_in,
				     0, p->t_policy, 0, gw_now_us() - p->t0,
				     p->args, p->trace);
		gw_req_free(g, p);
	}
	for (r = s->sreqs; r; r = rn) {
		rn = r->next;
		gw_map_del(g->sreqs, r->aid);
		json_decref(r->up_id);
		free(r);
	}
	gw_subs_session_end(g, s);
	for (size_t i = 0; i < g->ntz; i++)
		gw_up_link_reset(g, s, (unsigned)i);
	drop_summary(s);
	if (s->shared)
		gw_stl_shared_end(g, s);
	gw_map_del(s->az->sess, s->key);
	free(s->caps_up);
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
	s->links = gw_up_links_new(az->g->ntz);
	if (!s->links || gw_map_put(az->sess, sid, s)) {
		free(s->links);
		free(s);
		return -1;
	}
	s->az = az;
	s->sid = sid;
	s->key = sid;
	snprintf(s->proto, sizeof(s->proto), "%s", gw_versions[0]);
	snprintf(s->id, sizeof(s->id), "%s/%u/%u", az->z->name,
		 chan_generation(chan_mux_chan(m)), sid);
	az->sessions_total++;
	return 0;
}

static void az_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *msg,
		    size_t len)
{
	struct azone *az = ud;
	struct asess *s = gw_map_get(az->sess, sid);

	if (s)
		agent_message(az->g, s, msg, len);
}

static void az_close(void *ud, chan_mux *m, uint32_t sid, int reset)
{
	struct azone *az = ud;
	struct asess *s = gw_map_get(az->sess, sid);

	/* CLOSE ends only the agent's half (docs/protocol.md): a session's
	 * calls in flight are still answered on the stream, as a client that
	 * sends its requests and then closes its input expects */
	if (s && !reset && !s->stateless && !s->shared && s->reqs) {
		s->half_closed = 1;
		return;
	}
	if (s)
		gw_sess_end(az->g, s);
	if (!reset)
		chan_mux_close_stream(m, sid);
}

void gw_sess_end_half_closed(struct azone *az)
{
	size_t n;
	void **v;

	az->half_done = 0;
	v = gw_map_values(az->sess, &n);
	for (size_t i = 0; v && i < n; i++) {
		struct asess *s = v[i];
		uint32_t sid = s->sid;

		if (!s->half_closed || s->reqs)
			continue;
		gw_sess_end(az->g, s);
		if (az->m)
			chan_mux_close_stream(az->m, sid);
	}
	free(v);
}

static void az_down(void *ud, chan_mux *m, const char *why)
{
	struct azone *az = ud;
	size_t n;
	void **v = gw_map_values(az->sess, &n);

	fprintf(stderr, "gatewayd: agent zone %s: channel down: %s\n",
		az->z->name, why);
	for (size_t i = 0; i < n; i++)
		if (!((struct asess *)v[i])->hs &&   /* HTTP ones stay, */
		    !((struct asess *)v[i])->shared) /* the shared one too */
			gw_sess_end(az->g, v[i]);
	free(v);
}

/* The callbacks of an agent zone's channel. */
const struct chan_mux_ops gw_sess_ops = { NULL, az_open, az_data, az_close,
					  az_down };

/* ---- HTTP listeners' sessions (listen.c hands them over) --------------- */

struct asess *gw_route_http_open(struct gw *g, const char *zone,
				 struct gw_hs *hs, gw_http_deliver deliver,
				 unsigned listener, uint64_t n)
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
	s->links = gw_up_links_new(g->ntz);
	s->key = 1ull << 32 | (n & 0xffffffffu);
	if (!s->links || gw_map_get(az->sess, s->key) ||
	    gw_map_put(az->sess, s->key, s)) {
		free(s->links);
		free(s);
		return NULL;
	}
	s->az = az;
	s->hs = hs;
	s->deliver = deliver;
	snprintf(s->proto, sizeof(s->proto), "%s", gw_versions[0]);
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
	gw_sess_end(g, s);
}

void gw_sess_chan_log(void *ud, const char *msg)
{
	struct azone *az = ud;

	fprintf(stderr, "gatewayd: agent zone %s: %s\n", az->z->name, msg);
}

/* ---- every session ----------------------------------------------------- */

void gw_sess_each(struct gw *g, void (*fn)(struct gw *, struct asess *, void *),
		  void *arg)
{
	for (size_t i = 0; i < g->naz; i++) {
		size_t n;
		void **v = gw_map_values(g->az[i]->sess, &n);
		for (size_t k = 0; k < n; k++)
			fn(g, v[k], arg);
		free(v);
	}
}
