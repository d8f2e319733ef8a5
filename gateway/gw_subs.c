/* Subscriptions to the resources of 2026-07-28 tool zones, which have no
 * resources/subscribe: one upstream subscriptions/listen per tool zone and
 * URI, shared by the 2025-11-25 sessions and the stateless listens that
 * want it, ended with its last share (docs/gateway.md, "A 2026-07-28 tool
 * zone"). */
#include "gw_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"

#define META_SUB_ID "io.modelcontextprotocol/subscriptionId"
#define SUB_ID_PREFIX "zgu-"

struct sub;

/* A session's subscribe (its preq uid) waiting for the acknowledgment. */
struct waitcall {
	uint64_t uid;
	struct waitcall *next;
};

/* One share of an upstream listen: a session's subscription, or a
 * stateless listen's URI. */
struct gw_subref {
	struct sub *u;
	struct azone *az;
	struct asess *s; /* a session's, or NULL */
	gw_subs_fn fn;	 /* a stateless listen's: its updates */
	void *owner;
	struct waitcall *waiting; /* the session's subscribes waiting */
	struct gw_subref *next;	  /* in u->refs */
	struct gw_subref *snext;  /* in s->subs */
};

/* A stream of t that carries up to SUBS_PER_STREAM listens. */
struct carrier {
	uint32_t sid;
	unsigned n;
	struct carrier *next;
};

/* One upstream listen: its id (the subscription id), its URI. */
struct sub {
	struct tzone *t;
	struct carrier *c;
	char id[32];
	char *uri;
	int acked;
	unsigned nrefs;
	struct gw_subref *refs;
	struct sub *next;
};

/* A tool zone's listens and their streams. */
struct gw_subs {
	struct sub *all;
	unsigned n;
	struct carrier *carriers;
	unsigned ncarriers;
	uint64_t shares;
};

/* ---- listens and their streams ---------------------------------------- */

/* t's state, made if make (NULL when out of memory or none). */
static struct gw_subs *subs_of(struct tzone *t, int make)
{
	if (!t->subs && make)
		t->subs = calloc(1, sizeof(*t->subs));
	return t->subs;
}

/* t's listen for uri, or NULL. */
static struct sub *sub_find(const struct tzone *t, const char *uri)
{
	for (struct sub *u = t->subs ? t->subs->all : NULL; u; u = u->next)
		if (strcmp(u->uri, uri) == 0)
			return u;
	return NULL;
}

/* t's listen stream sid, or NULL (not one of them). */
static struct carrier *carrier_of(const struct tzone *t, uint32_t sid)
{
	for (struct carrier *c = t->subs ? t->subs->carriers : NULL; c;
	     c = c->next)
		if (c->sid == sid)
			return c;
	return NULL;
}

/* A stream with room for one more listen: one of ss's, or a new one
 * (NULL when none can be opened). */
static struct carrier *carrier_get(struct tzone *t, struct gw_subs *ss)
{
	struct carrier *c;

	for (c = ss->carriers; c; c = c->next)
		if (c->n < SUBS_PER_STREAM)
			return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->sid = gw_up_stream_open(t);
	if (!c->sid) {
		free(c);
		return NULL;
	}
	c->next = ss->carriers;
	ss->carriers = c;
	ss->ncarriers++;
	return c;
}

/* Frees t's state once it holds nothing. */
static void subs_trim(struct tzone *t)
{
	if (t->subs && !t->subs->all && !t->subs->carriers) {
		free(t->subs);
		t->subs = NULL;
	}
}

/* Ends listen u: its stream closes with its last listen, else (cancel:
 * the listen is still open upstream) the zone gets
 * notifications/cancelled for it; u is freed (its shares are gone
 * already). */
static void sub_close(struct sub *u, int cancel)
{
	struct tzone *t = u->t;
	struct gw_subs *ss = t->subs;
	struct sub **pp = &ss->all;
	struct carrier **cp = &ss->carriers;

	while (*pp != u)
		pp = &(*pp)->next;
	*pp = u->next;
	ss->n--;
	if (--u->c->n == 0) {
		while (*cp != u->c)
			cp = &(*cp)->next;
		*cp = u->c->next;
		ss->ncarriers--;
		gw_up_stream_close(t, u->c->sid);
		free(u->c);
	} else if (cancel) {
		json_t *n =
			jr_request(NULL, "notifications/cancelled",
				   json_pack("{s:s,s:s}", "requestId", u->id,
					     "reason", "no subscriber left"));
		gw_up_send(t, u->c->sid, n);
		json_decref(n);
	}
	free(u->uri);
	free(u);
	subs_trim(t);
}

/* Opens the upstream listen for uri on t (its cap checked by the
 * caller: share_refused): it, *why NULL; or NULL with *why when out of
 * memory or streams, or when it cannot be sent. */
static struct sub *sub_open(struct tzone *t, const char *uri, const char **why)
{
	struct gw_subs *ss = subs_of(t, 1);
	struct sub *u = NULL;
	json_t *r = NULL, *id;
	char *txt = NULL;
	size_t len;

	*why = "tool zone is busy or unavailable";
	u = ss ? calloc(1, sizeof(*u)) : NULL;
	if (!u || !(u->uri = strdup(uri)) || !(u->c = carrier_get(t, ss)))
		goto fail;
	u->t = t;
	snprintf(u->id, sizeof(u->id), SUB_ID_PREFIX "%llu",
		 (unsigned long long)++t->g->next_id);
	id = json_string(u->id);
	r = jr_request(id, "subscriptions/listen",
		       json_pack("{s:{s:[s]}}", "notifications",
				 "resourceSubscriptions", uri));
	json_decref(id);
	if (r)
		gw_up_stamp(json_object_get(r, "params"));
	txt = r ? jr_dump(r, &len) : NULL;
	json_decref(r);
	u->c->n++;
	u->next = ss->all;
	ss->all = u;
	ss->n++;
	if (!txt || gw_up_tx(t, u->c->sid, txt, len) != 0) {
		sub_close(u, 1);
		free(txt);
		return NULL;
	}
	free(txt);
	*why = NULL;
	return u;
fail:
	if (u)
		free(u->uri);
	free(u);
	if (t->subs)
		subs_trim(t);
	return NULL;
}

/* ---- shares ------------------------------------------------------------ */

/* az has a share of u. */
static int zone_holds(const struct sub *u, const struct azone *az)
{
	for (const struct gw_subref *r = u->refs; r; r = r->next)
		if (r->az == az)
			return 1;
	return 0;
}

/* Why agent zone az may not take a share of t's listen for uri (u, or
 * NULL when there is none yet), or NULL. */
static const char *share_refused(const struct tzone *t, const struct sub *u,
				 const struct azone *az)
{
	if (!u && t->subs && t->subs->n >= SUBS_TZ_MAX)
		return "too many subscriptions open on this tool zone";
	if ((!u || !zone_holds(u, az)) && az->subs_up >= SUBS_AZ_MAX)
		return "too many subscriptions open for this agent zone";
	return NULL;
}

/* A share of u for az (NULL when out of memory); the caller fills in
 * whose it is. */
static struct gw_subref *share_add(struct sub *u, struct azone *az)
{
	struct gw_subref *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	if (!zone_holds(u, az))
		az->subs_up++;
	r->u = u;
	r->az = az;
	r->next = u->refs;
	u->refs = r;
	u->nrefs++;
	u->t->subs->shares++;
	return r;
}

/* Drops share r (and the listen with its last share: cancel as
 * sub_close). */
static void share_drop(struct gw_subref *r, int cancel)
{
	struct sub *u = r->u;
	struct gw_subref **pp = &u->refs;

	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	u->nrefs--;
	u->t->subs->shares--;
	if (r->s) {
		for (pp = &r->s->subs; *pp != r; pp = &(*pp)->snext)
			;
		*pp = r->snext;
		r->s->nsubs--;
	}
	if (!zone_holds(u, r->az))
		r->az->subs_up--;
	while (r->waiting) { /* calls gone with their session */
		struct waitcall *w = r->waiting;
		r->waiting = w->next;
		free(w);
	}
	free(r);
	if (!u->nrefs)
		sub_close(u, cancel);
}

/* ---- sessions ---------------------------------------------------------- */

/* Session s's share of t's listen for uri, or NULL. */
static struct gw_subref *session_share(const struct asess *s,
				       const struct tzone *t, const char *uri)
{
	for (struct gw_subref *r = s->subs; r; r = r->snext)
		if (r->u->t == t && strcmp(r->u->uri, uri) == 0)
			return r;
	return NULL;
}

/* Call p (a subscribe or unsubscribe of session s) answered {}. */
static void answer_ok(struct gw *g, struct preq *p)
{
	gw_req_settle(p, 0);
	gw_sess_to_agent(p->s, jr_result(p->aid, json_object()));
	gw_req_done(g, p->s, p, NULL, 0, 0, 0, NULL, gw_now_us());
	gw_req_free(g, p);
}

/* Call p refused over a cap (why): a limit record, the agent's denial
 * budget charged, -32000 with the audit id and the limit. */
static void answer_limit(struct gw *g, struct preq *p, const char *why)
{
	struct asess *s = p->s;
	int64_t now = gw_now_us();

	gw_req_audit(g, s->az->z->name, s->id, p->method, p->target, "limit",
		     p->rule, why, p->audit_id, p->bytes_in, 0, p->t_policy, 0,
		     now - p->t0, p->args, p->trace);
	gw_metrics_record(g->met, s->az->z->name, p->mlabel, 1, now - p->t0);
	gw_az_denied(s->az);
	gw_sess_error(s, p->aid, GW_ERR_GATEWAY, why,
		      json_pack("{s:s,s:s}", "auditId", p->audit_id, "limit",
				why));
	gw_req_free(g, p);
}

/* The subscribes waiting on share r answered: {} (msg NULL), or the
 * error (code, msg) with why in the record; those that ended meanwhile
 * (deadline, the link's failure) are forgotten. Returns how many were
 * still there to answer. */
static unsigned share_settle(struct gw *g, struct gw_subref *r, int code,
			     const char *msg, const char *why)
{
	unsigned n = 0;

	while (r->waiting) {
		struct waitcall *w = r->waiting;
		struct preq *p = gw_map_get(g->preqs, w->uid);
		r->waiting = w->next;
		free(w);
		if (!p || p->kind != PK_CALL || p->s != r->s)
			continue;
		n++;
		if (msg)
			gw_req_fail(g, p, code, msg, why);
		else
			answer_ok(g, p);
	}
	return n;
}

/* Call p waits on share r for the acknowledgment: 0, or -1 when out of
 * memory. */
static int share_wait(struct gw_subref *r, const struct preq *p)
{
	struct waitcall *w = calloc(1, sizeof(*w));

	if (!w)
		return -1;
	w->uid = p->uid;
	w->next = r->waiting;
	r->waiting = w;
	return 0;
}

void gw_subs_request(struct gw *g, struct asess *s, struct tzone *t,
		     struct preq *p, const char *uri)
{
	struct gw_subref *r = session_share(s, t, uri);
	struct sub *u;
	const char *why;

	p->t_sent = gw_now_us();
	if (strcmp(p->method, "resources/unsubscribe") == 0) {
		if (r) { /* its subscribes still waiting: done, and undone */
			share_settle(g, r, 0, NULL, NULL);
			share_drop(r, 1);
		}
		answer_ok(g, p);
		return;
	}
	/* already subscribed: nothing more upstream (one waiting for the
	 * zone's acknowledgment waits with the first) */
	if (r) {
		if (r->u->acked || share_wait(r, p) != 0)
			answer_ok(g, p);
		return;
	}
	u = sub_find(t, uri);
	why = s->nsubs >= SUBS_SESSION_MAX
		      ? "too many subscriptions open on this session"
		      : share_refused(t, u, s->az);
	if (!why && !u)
		u = sub_open(t, uri, &why);
	r = why ? NULL : share_add(u, s->az);
	if (!r) {
		if (u && !u->nrefs)
			sub_close(u, 1);
		answer_limit(g, p, why ? why : "out of memory");
		return;
	}
	r->s = s;
	r->snext = s->subs;
	s->subs = r;
	s->nsubs++;
	if (u->acked || share_wait(r, p) != 0)
		answer_ok(g, p);
}

void gw_subs_session_end(struct gw *g, struct asess *s)
{
	(void)g;
	while (s->subs)
		share_drop(s->subs, 1);
}

/* ---- stateless listens ------------------------------------------------- */

int gw_subs_listen(struct gw *g, struct azone *az, const char *who,
		   struct tzone *t, const char *uri, gw_subs_fn fn, void *owner)
{
	struct sub *u = sub_find(t, uri);
	const char *why = share_refused(t, u, az);
	struct gw_subref *r = NULL;
	char aid[64], tgt[300];

	if (!why && !u)
		u = sub_open(t, uri, &why);
	if (!why) {
		r = share_add(u, az);
		why = r ? NULL : "out of memory";
	}
	if (r) {
		r->fn = fn;
		r->owner = owner;
	} else if (u && !u->nrefs) {
		sub_close(u, 1);
	}
	snprintf(tgt, sizeof(tgt), "%s.%.*s", t->z->name,
		 (int)gw_utf8_prefix(uri, 200), uri);
	gw_audit_new_id(g->audit, aid, sizeof(aid));
	gw_req_audit(g, az->z->name, who, "subscriptions/listen", tgt,
		     r ? "allow" : "limit", NULL, why, aid, 0, 0, 0, 0, 0, NULL,
		     NULL);
	return r ? 0 : -1;
}

void gw_subs_owner_end(struct gw *g, void *owner)
{
	for (size_t i = 0; i < g->ntz; i++) {
		struct sub *u = g->tz[i]->subs ? g->tz[i]->subs->all : NULL;
		while (u) {
			struct sub *un = u->next;
			struct gw_subref *r = u->refs, *rn;
			/* the listen goes with its last share: un, taken
			 * first, stays */
			for (; r; r = rn) {
				rn = r->next;
				if (r->owner == owner && !r->s)
					share_drop(r, 1);
			}
			u = un;
		}
	}
}

/* ---- what the tool zone sends on a listen's stream ---------------------- */

/* Ends listen u for every share: a session's subscribe still waiting
 * gets the error (code, msg) and why in its record. cancel: as
 * sub_close (not when the zone ended the listen itself). */
static void sub_fail(struct gw *g, struct sub *u, int code, const char *msg,
		     const char *why, int cancel)
{
	if (!u->nrefs) {
		sub_close(u, cancel);
		return;
	}
	for (;;) {
		struct gw_subref *r = u->refs;
		int last = u->nrefs == 1;
		share_settle(g, r, code, msg, why);
		share_drop(r, cancel);
		if (last)
			return; /* u went with its last share */
	}
}

/* The zone's acknowledgment of u: agreed (the filter it sent back holds
 * the URI) answers the waiting subscribes; else they get -32000. */
static void sub_acked(struct gw *g, struct sub *u, const json_t *params)
{
	const json_t *uris =
		json_object_get(json_object_get(params, "notifications"),
				"resourceSubscriptions");
	struct gw_subref *r, *rn;
	int ok = 0;
	size_t i;
	json_t *v;

	json_array_foreach (uris, i, v)
		ok |= json_is_string(v) &&
		      strcmp(json_string_value(v), u->uri) == 0;
	if (!ok) {
		sub_fail(g, u, GW_ERR_GATEWAY,
			 "the tool zone did not agree to the subscription",
			 "subscription not agreed upstream", 1);
		return;
	}
	u->acked = 1;
	for (r = u->refs; r; r = rn) {
		int last = u->nrefs == 1, waited = r->waiting != NULL;
		rn = r->next;
		/* every subscribe of the share ended meanwhile (deadline): the
		 * session was told it failed, so it holds none */
		if (share_settle(g, r, 0, NULL, NULL) == 0 && waited) {
			share_drop(r, 1);
			if (last)
				return;
		}
	}
}

/* Agent zone az may read u's URI now (policy, pins, quarantine): a
 * reload since the share was taken may have revoked it. */
static int may_hear(struct sub *u, const struct azone *az)
{
	const struct pol_rule *rule;

	return gw_cat_visible(u->t) &&
	       gw_cat_decide(u->t->g, az, POL_RESOURCE, u->t->z->name, u->uri,
			     NULL, &rule) == POL_ALLOW;
}

/* resources/updated of u: each share whose zone may still read the URI
 * hears it. */
static void sub_updated(struct sub *u, const json_t *params)
{
	const char *uri = json_string_value(json_object_get(params, "uri"));

	/* a listen carries its own URI only: another is the zone's error */
	if (!u->acked || !uri || strcmp(uri, u->uri) != 0)
		return;
	for (struct gw_subref *r = u->refs; r; r = r->next) {
		if (!may_hear(u, r->az))
			continue;
		if (r->s)
			gw_sess_to_agent(
				r->s,
				jr_request(NULL,
					   "notifications/resources/updated",
					   json_pack("{s:s}", "uri", u->uri)));
		else if (r->fn)
			r->fn(r->owner, u->uri);
	}
}

/* The listen of stream sid that message m names (its id, or the
 * subscription id in _meta), or NULL. */
static struct sub *sub_named(const struct tzone *t, uint32_t sid,
			     const struct jr_msg *m)
{
	const json_t *id =
		m->kind == JR_NOTIFICATION
			? json_object_get(json_object_get(m->params, "_meta"),
					  META_SUB_ID)
			: m->id;
	const char *v = json_string_value(id);

	for (struct sub *u = t->subs && v ? t->subs->all : NULL; u; u = u->next)
		if (u->c->sid == sid && strcmp(u->id, v) == 0)
			return u;
	return NULL;
}

int gw_subs_data(struct tzone *t, uint32_t sid, const char *msg, size_t len)
{
	struct gw *g = t->g;
	struct jr_msg m;
	struct sub *u;
	const char *emsg;
	char buf[200];

	if (!carrier_of(t, sid))
		return 0;
	jr_parse(msg, len, g->cfg->max_message, MAX_DEPTH, &m);
	u = sub_named(t, sid, &m);
	if (!u)
		goto out;
	if (m.kind == JR_NOTIFICATION &&
	    strcmp(m.method, "notifications/subscriptions/acknowledged") == 0 &&
	    !u->acked)
		sub_acked(g, u, m.params);
	else if (m.kind == JR_NOTIFICATION &&
		 strcmp(m.method, "notifications/resources/updated") == 0)
		sub_updated(u, m.params);
	else if (m.kind == JR_ERROR) {
		emsg = json_string_value(
			json_object_get(json_object_get(m.root, "error"),
					"message"));
		snprintf(buf, sizeof(buf), "tool zone %s refused: %.*s",
			 t->z->name,
			 (int)gw_utf8_prefix(emsg ? emsg : "?", 120),
			 emsg ? emsg : "?");
		sub_fail(g, u, GW_ERR_GATEWAY, buf, "upstream error", 0);
	} else if (m.kind == JR_RESULT) { /* the zone ended it */
		sub_fail(g, u, GW_ERR_GATEWAY, "the tool zone ended it",
			 "upstream listen ended", 0);
	}
out:
	jr_msg_clear(&m);
	return 1;
}

void gw_subs_closed(struct tzone *t, uint32_t sid)
{
	struct sub *u;

	while ((u = t->subs ? t->subs->all : NULL) != NULL) {
		for (; u && u->c->sid != sid; u = u->next)
			;
		if (!u)
			return;
		sub_fail(t->g, u, GW_ERR_GATEWAY,
			 "tool zone is busy or unavailable",
			 "upstream stream closed", 0);
	}
}

void gw_subs_zone_gone(struct tzone *t)
{
	while (t->subs && t->subs->all)
		sub_fail(t->g, t->subs->all, GW_ERR_GATEWAY,
			 "tool zone is busy or unavailable", "tool zone down",
			 0);
}

json_t *gw_subs_status(const struct tzone *t)
{
	const struct gw_subs *ss = t->subs;

	return json_pack("{s:I,s:I,s:I}", "listens",
			 (json_int_t)(ss ? ss->n : 0), "shares",
			 (json_int_t)(ss ? ss->shares : 0), "streams",
			 (json_int_t)(ss ? ss->ncarriers : 0));
}
