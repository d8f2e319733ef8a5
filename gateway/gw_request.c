/* The request lifecycle: a routed call is resolved to its target,
 * decided by policy, limited, recorded (one decision record gives the
 * audit record, the metrics and the reply together), sent upstream and
 * timed until it is answered, fails, is cancelled or passes its
 * deadline. */
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
#include "param_headers.h"
#include "splice.h"

/* ---- audit and metrics ------------------------------------------------- */

void gw_req_audit(struct gw *g, const char *zone, const char *session,
		  const char *method, const char *target, const char *decision,
		  const char *rule, const char *reason, const char *aid,
		  size_t in, size_t out, int64_t t_pol, int64_t t_up,
		  int64_t t_total, const char *args, const char *trace)
{
	struct gw_audit_rec r = { aid,
				  zone,
				  session,
				  method,
				  target,
				  decision,
				  rule,
				  reason,
				  in,
				  out,
				  t_pol,
				  t_up,
				  t_total,
				  args,
				  0,
				  { 0, 0, 0 },
				  trace && *trace ? trace : NULL };

	if (gw_audit_record(g->audit, &r))
		fprintf(stderr, "gatewayd: audit record too long; dropped\n");
}

/* One token count: a JSON integer, not negative, clamped to the per-call
 * cap. 0, or -1 for anything else. */
static int token_count(const json_t *v, uint64_t *out)
{
	json_int_t n;

	if (!json_is_integer(v))
		return -1;
	n = json_integer_value(v);
	if (n < 0)
		return -1;
	*out = n > GW_TOKENS_MAX_PER_CALL ? GW_TOKENS_MAX_PER_CALL
					  : (uint64_t)n;
	return 0;
}

int gw_tokens_of(const json_t *result, struct gw_tokens *tk)
{
	const json_t *u =
		json_object_get(json_object_get(result, "structuredContent"),
				"usage");

	memset(tk, 0, sizeof(*tk));
	if (!u)
		return 0;
	if (!json_is_object(u) ||
	    token_count(json_object_get(u, "prompt_tokens"), &tk->prompt) ||
	    token_count(json_object_get(u, "completion_tokens"),
			&tk->completion) ||
	    token_count(json_object_get(u, "total_tokens"), &tk->total)) {
		memset(tk, 0, sizeof(*tk));
		return -1;
	}
	return 1;
}

int gw_tokens_scan(const char *msg, size_t len, struct gw_tokens *tk)
{
	json_t *root;
	int rc;

	memset(tk, 0, sizeof(*tk));
	if (!memmem(msg, len, "\"usage\"", 7))
		return 0; /* the common case: one pass, nothing parsed */
	root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
	if (!root)
		return -1; /* e.g. an integer beyond 64 bits */
	rc = gw_tokens_of(json_object_get(root, "result"), tk);
	json_decref(root);
	return rc;
}

void gw_req_done(struct gw *g, struct asess *s, struct preq *p,
		 const char *reason, size_t out, int outcome, int tok_state,
		 const struct gw_tokens *tk, int64_t now)
{
	const char *tz = g->tz[p->ti]->z->name;
	struct gw_audit_rec r = {
		.id = p->audit_id,
		.zone = s->az->z->name,
		.session = s->id,
		.method = p->method,
		.target = p->target,
		.decision = "allow",
		.rule = p->rule,
		.reason = reason,
		.bytes_in = p->bytes_in,
		.bytes_out = out,
		.t_policy_us = p->t_policy,
		.t_upstream_us = now - p->t_sent,
		.t_total_us = now - p->t0,
		.args = p->args,
		.tokens_state = tok_state,
		.trace = p->trace[0] ? p->trace : NULL,
	};

	if (tok_state > 0)
		r.tokens = *tk;
	if (gw_audit_record(g->audit, &r))
		fprintf(stderr, "gatewayd: audit record too long; dropped\n");
	gw_metrics_record(g->met, s->az->z->name, p->mlabel, outcome,
			  now - p->t0);
	if (tok_state != 0)
		gw_metrics_tokens(g->met, s->az->z->name, p->mlabel, tz,
				  tok_state > 0 ? tk : NULL);
}

void gw_req_trace(const json_t *params, char out[56])
{
	const char *v = json_string_value(
		json_object_get(json_object_get(params, "_meta"),
				"traceparent"));
	size_t n = v ? strlen(v) : 0;

	out[0] = '\0';
	/* version-traceid-parentid-flags: 2, 32, 16 and 2 hex digits */
	if (n != 55 || v[2] != '-' || v[35] != '-' || v[52] != '-')
		return;
	for (size_t i = 0; i < n; i++)
		if (i != 2 && i != 35 && i != 52 &&
		    !((v[i] >= '0' && v[i] <= '9') ||
		      (v[i] >= 'a' && v[i] <= 'f')))
			return;
	memcpy(out, v, n + 1);
}

/* ---- requests of ours upstream ----------------------------------------- */

/* The core ended p (mcp/include/client.h): it is out of its table. A
 * deadline puts it on g->expired for gw_req_deadlines (the core's own
 * walk is under way: nothing is freed now); cancellation and a table freed
 * (its link reset) leave the rest to the gateway code that caused it. */
static void req_done(void *ud, const struct mcp_client_answer *a)
{
	struct preq *p = ud;

	p->uc = NULL;
	if (a->code != MCP_CLIENT_E_TIMEOUT || p->expired)
		return;
	p->expired = 1;
	p->xnext = p->g->expired;
	p->g->expired = p;
}

/* The method the core names in its own messages. */
static const char *kind_method(enum preq_kind kind)
{
	static const char *const m[] = { "call", "initialize", "request",
					 "catalogue", "ping" };

	return m[kind];
}

struct preq *gw_req_new_timed(struct gw *g, enum preq_kind kind,
			      struct asess *s, unsigned ti, unsigned timeout_ms)
{
	struct preq *p = calloc(1, sizeof(*p));
	struct mcp_client_req r = { 0 };
	int64_t id;

	if (!p)
		return NULL;
	p->uc = gw_up_uc(g, s, ti);
	if (!p->uc) {
		free(p);
		return NULL;
	}
	/* the deadline: the rule's, else call_timeout_ms of the config in
	 * force now (a reload applies to links already open) */
	r.timeout_ms = timeout_ms ? timeout_ms
				  : (unsigned)g->cfg->call_timeout_ms;
	r.done = req_done;
	r.ud = p;
	id = mcp_client_track(p->uc->mc, 0, kind_method(kind), &r);
	if (id <= 0) {
		free(p);
		return NULL;
	}
	p->uid = (uint64_t)id;
	p->kind = kind;
	p->g = g;
	p->s = s;
	p->ti = ti;
	p->t0 = gw_now_us();
	if (gw_map_put(g->preqs, p->uid, p)) {
		mcp_client_forget(p->uc->mc, id);
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
		} else {
			s->aux++;
		}
	}
	/* the loop's next wake-up; gw_up_expire sets it exactly */
	if (gw_now_ms() + r.timeout_ms < g->next_deadline_ms)
		g->next_deadline_ms = gw_now_ms() + (int64_t)r.timeout_ms;
	return p;
}

struct preq *gw_req_new(struct gw *g, enum preq_kind kind, struct asess *s,
			unsigned ti)
{
	return gw_req_new_timed(g, kind, s, ti, 0);
}

int gw_req_settle(struct preq *p, size_t len)
{
	int rc = 0;

	if (p->uc)
		rc = mcp_client_settle(p->uc->mc, (int64_t)p->uid, len);
	p->uc = NULL;
	return rc == -2 ? -1 : 0;
}

void gw_req_free(struct gw *g, struct preq *p)
{
	gw_map_del(g->preqs, p->uid);
	if (p->uc)
		mcp_client_forget(p->uc->mc, (int64_t)p->uid);
	if (p->expired) {
		struct preq **pp = &g->expired;
		while (*pp != p)
			pp = &(*pp)->xnext;
		*pp = p->xnext;
	}
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
		} else {
			p->s->aux--;
		}
		if (p->s->half_closed && !p->s->reqs)
			p->s->az->half_done = 1;
	}
	if (p->lim && p->lim->inflight > 0)
		p->lim->inflight--;
	gw_admit_release(g, p);
	json_decref(p->aid);
	json_decref(p->up_req);
	json_decref(p->irr);
	free(p->target);
	free(p->rule);
	free(p->args);
	free(p);
}

/* Finishes a call that gets no upstream response: error to the agent,
 * audit, metrics. */
void gw_req_fail(struct gw *g, struct preq *p, int code, const char *msg,
		 const char *reason)
{
	struct asess *s = p->s;
	int64_t now = gw_now_us();

	gw_sess_error(s, p->aid, code, msg,
		      json_pack("{s:s}", "auditId", p->audit_id));
	gw_req_audit(g, s->az->z->name, s->id, p->method, p->target, "allow",
		     p->rule, reason, p->audit_id, p->bytes_in, 0, p->t_policy,
		     p->t_sent ? now - p->t_sent : 0, now - p->t0, p->args,
		     p->trace);
	gw_metrics_record(g->met, s->az->z->name, p->mlabel, 2, now - p->t0);
	gw_req_free(g, p);
}

/* What a routed request targets: its tool zone, the policy kind and name,
 * and the agent-facing form for errors. */
struct target {
	struct tzone *t;
	unsigned kind;
	const char *name;  /* the tool zone's name of the entry */
	const char *shown; /* what the agent asked for */
	json_t *args;	   /* for argument conditions (borrowed) */
	int task;	   /* a tasks method: the tool's grant decides */
};

/* The "unknown" answer: the same for an entry that does not exist and
 * for one the zone may not use, apart from the audit id. */
static void reply_unknown(struct asess *s, json_t *id, const struct target *x,
			  const char *aid)
{
	char msg[200];

	if (x->kind == POL_RESOURCE) {
		gw_sess_error(s, id, -32002, "Resource not found",
			      json_pack("{s:s,s:s}", "uri", x->shown, "auditId",
					aid));
		return;
	}
	snprintf(msg, sizeof(msg), "Unknown %s: %.*s",
		 x->kind == POL_TOOL ? "tool" : "prompt",
		 (int)gw_utf8_prefix(x->shown, 128), x->shown);
	gw_sess_error(s, id, -32602, msg, json_pack("{s:s}", "auditId", aid));
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
		gw_sess_error(s, m->id, -32602, "params must be an object",
			      NULL);
		return -1;
	}
	x->task = gw_task_method(meth); /* name: gw_task_open's */
	if (strcmp(meth, "tools/call") == 0 || x->task ||
	    strcmp(meth, "prompts/get") == 0) {
		x->kind = meth[0] == 't' ? POL_TOOL : POL_PROMPT;
		n = json_string_value(json_object_get(p, "name"));
		x->args = json_object_get(p, "arguments");
		if (!n || (x->args && !json_is_object(x->args))) {
			gw_sess_error(s, m->id, -32602,
				      "name must be a string "
				      "and arguments an object",
				      NULL);
			return -1;
		}
		x->shown = n;
		x->t = gw_cat_resolve_name(g, s->az, n, &bare);
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
			x->t = gw_cat_resolve_name(g, s->az, x->shown, &bare);
			x->name = bare;
			return 0;
		}
		if (n && strcmp(n, "ref/resource") == 0 &&
		    json_is_string(json_object_get(ref, "uri"))) {
			x->kind = POL_RESOURCE;
			x->shown = x->name =
				json_string_value(json_object_get(ref, "uri"));
			x->t = gw_cat_resolve_uri(g, x->name);
			return 0;
		}
		gw_sess_error(s, m->id, -32602, "bad ref", NULL);
		return -1;
	}
	/* resources/read, subscribe, unsubscribe */
	n = json_string_value(json_object_get(p, "uri"));
	if (!n || !*n || strlen(n) > 4096) {
		gw_sess_error(s, m->id, -32602,
			      "uri must be a non-empty string", NULL);
		return -1;
	}
	x->kind = POL_RESOURCE;
	x->shown = x->name = n;
	x->t = gw_cat_resolve_uri(g, n);
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

/* The metrics label of a routed request's target. Each distinct value
 * is a series, so none is text the caller chose: a tool or prompt that
 * the catalogue lists (whose names name_ok checked), one series for a
 * tool zone's resources, and placeholders for the rest. */
static void metric_label(char *out, size_t n, const struct target *x,
			 const json_t *exists, int allowed)
{
	if (!x->t || !exists)
		snprintf(out, n, "(unknown)");
	else if (!allowed)
		snprintf(out, n, "(denied)");
	else if (x->kind == POL_RESOURCE)
		snprintf(out, n, "%s.(resources)", x->t->z->name);
	else if (!json_is_object(exists) || !gw_cat_name_ok(x->name))
		snprintf(out, n, "%s.(unlisted)", x->t->z->name);
	else
		snprintf(out, n, "%s.%s", x->t->z->name, x->name);
}

/* The arguments as the audit record shows them (caller frees): their
 * JSON, or for more than AUDIT_ARGS_MAX bytes (which the record could
 * not hold anyway) a note of their size, so that a call in flight keeps
 * a few KiB for them, not a whole message. */
static char *audit_args(const json_t *args)
{
	size_t n = json_dumpb(args, NULL, 0, JSON_COMPACT);
	char note[64];

	if (n <= AUDIT_ARGS_MAX)
		return json_dumps(args, JSON_COMPACT);
	snprintf(note, sizeof(note), "\"(%zu bytes, not logged)\"", n);
	return strdup(note);
}

/* What a routed request that is not sent upstream came to: everything
 * its audit record, its metrics and its reply say, filled in once by
 * gw_req_route and written out together by decision_finish, so that the
 * three can never disagree (the same audit id, reason and label). */
struct decision {
	const char *verdict;   /* the record's decision: deny, limit, allow */
	const char *reason;    /* the record's reason (also the denial kind) */
	const char *target;    /* the record's target (NULL: not named) */
	int outcome;	       /* metrics: 1 denied, 2 error */
	int aggregate;	       /* a denial: may go into the zone's aggregate */
	int code;	       /* reply: error code, 0 for the "unknown" one */
	const char *msg;       /* reply: message */
	const char *key, *val; /* reply: a data member beside auditId */
	char label[200];       /* the metrics label (metric_label) */
	char aid[64];	       /* the audit id (the aggregate's, if counted) */
	const char *rule, *args;
	size_t bytes_in;
	int64_t t0, t_policy;
	char trace[56]; /* gw_req_trace */
};

/* Writes out decision d of request m of session s (target x): the audit
 * record (or, for a denial over the zone's rate, its place in the
 * aggregate, whose id the reply carries), the metrics, the reply. */
static void decision_finish(struct gw *g, struct asess *s, struct jr_msg *m,
			    const struct target *x, struct decision *d)
{
	const char *zone = s->az->z->name;

	if (!d->aggregate ||
	    !gw_audit_deny(g->audit, s->az->zi, zone, m->method, d->label,
			   d->reason, d->aid, sizeof(d->aid)))
		gw_req_audit(g, zone, s->id, m->method, d->target, d->verdict,
			     d->rule, d->reason, d->aid, d->bytes_in, 0,
			     d->t_policy, 0, gw_now_us() - d->t0, d->args,
			     d->trace);
	gw_metrics_record(g->met, zone, d->label, d->outcome, 0);
	if (d->aggregate)
		gw_az_denied(s->az); /* its denial budget (gw_loop.c) */
	if (!d->code)
		reply_unknown(s, m->id, x, d->aid);
	else
		gw_sess_error(s, m->id, d->code, d->msg,
			      json_pack("{s:s,s:s}", "auditId", d->aid, d->key,
					d->val));
}

/* Why a target the agent may not use is refused (audit reason). */
static const char *deny_reason(const struct target *x, const json_t *exists,
			       enum pol_decision pd)
{
	return !x->t || !exists		? "no such target"
	       : x->t->quarantined	? "tool zone quarantined"
	       : pd == POL_DENY_DEFAULT ? "no rule allows it"
	       : pd == POL_DENY_RULE	? "denied by rule"
					: "argument condition not met";
}

/* Decides request m (len bytes) of session s: denied, refused over a
 * limit or for an unavailable tool zone (one decision record each), or
 * sent upstream as a call of s that ends in up_response, gw_req_fail
 * or its deadline. */
void gw_req_route(struct gw *g, struct asess *s, struct jr_msg *m, size_t len)
{
	int64_t t0 = gw_now_us();
	struct target x;
	const struct pol_rule *r = NULL;
	enum pol_decision pd = POL_DENY_DEFAULT;
	const char *nm;
	char *rule, tgt[300], *argj = NULL, unavail[120];
	json_t *empty = NULL, *exists = NULL, *ph = NULL;
	const char *phwhy = NULL;
	struct gw_limit *lim = NULL;
	struct decision d = { 0 };
	struct preq *p;
	size_t ulen;
	char *up;

	if (find_target(g, s, m, &x))
		return;
	/* the Mcp-Param headers an HTTP endpoint carried: never upstream */
	mcp_param_take(m->params, &ph, &phwhy);
	gw_req_trace(m->params, d.trace);
	if (g->cfg->audit_args && x.args)
		argj = audit_args(x.args);
	gw_audit_new_id(g->audit, d.aid, sizeof(d.aid));
	if (x.t && x.name) {
		static const int kk[] = { 0, CAT_TOOLS, CAT_RES, 0,
					  CAT_PROMPTS };
		/* A resource resolved from a catalogue exists; a zone that is
		 * down is decided by policy alone, then reported unavailable. */
		if (x.kind == POL_RESOURCE || !x.t->have_cat)
			exists = json_true();
		else
			exists = gw_cat_find(x.t, kk[x.kind], "name", x.name);
		if (!x.args)
			x.args = empty = json_object();
		/* a task's methods: its arguments were decided at its call */
		pd = gw_cat_decide(g, s->az, x.kind, x.t->z->name, x.name,
				   x.task ? NULL : x.args, &r);
	}
	d.t0 = t0;
	d.t_policy = gw_now_us() - t0;
	d.bytes_in = len;
	d.args = argj;
	nm = x.t && x.name ? x.name : "(unknown)";
	snprintf(tgt, sizeof(tgt), "%s%s%.*s", x.t ? x.t->z->name : "",
		 x.t ? "." : "", (int)gw_utf8_prefix(nm, 200), nm);
	rule = rule_ref(r);
	d.rule = rule;
	d.target = tgt;
	if (!x.t || !exists || x.t->quarantined || pd != POL_ALLOW) {
		/* An unknown name is not echoed into the audit target: it is
		 * the caller's text; the metrics never carry it. */
		d.verdict = "deny";
		d.reason = deny_reason(&x, exists, pd);
		d.target = exists ? tgt : NULL;
		d.outcome = 1;
		d.aggregate = 1;
		metric_label(d.label, sizeof(d.label), &x, exists, 0);
		decision_finish(g, s, m, &x, &d);
		goto out;
	}
	metric_label(d.label, sizeof(d.label), &x, exists, 1);
	if (!gw_up_live(x.t) || !x.t->have_cat) {
		snprintf(unavail, sizeof(unavail),
			 "tool zone %s is unavailable", x.t->z->name);
		d.verdict = "allow";
		d.reason = "tool zone unavailable";
		d.outcome = 2;
		d.code = GW_ERR_GATEWAY;
		d.msg = unavail;
		d.key = "reason";
		d.val = "unavailable";
		decision_finish(g, s, m, &x, &d);
		goto out;
	}
	/* x-mcp-header: checked against the schema the agent was shown,
	 * only once it may see the tool (a refusal must not tell it the
	 * tool exists) */
	if (x.kind == POL_TOOL &&
	    (phwhy ||
	     (ph &&
	      mcp_param_check(json_object_get(exists, "inputSchema"), x.args,
			      mcp_param_carried, ph, &phwhy) != 0))) {
		d.verdict = "deny";
		d.reason = phwhy;
		d.outcome = 1;
		d.aggregate = 1;
		d.code = MCP_PARAM_HEADER_MISMATCH;
		d.msg = phwhy;
		d.key = "reason";
		d.val = "header mismatch";
		decision_finish(g, s, m, &x, &d);
		goto out;
	}
	d.reason = limits_check(g, s->az, r, len, &lim);
	/* the shared session of stateless requests is the zone's: its
	 * requests are capped per stream (gw_stateless.c) and per zone */
	if (!d.reason && ((!s->shared && s->inflight >= SESSION_INFLIGHT_MAX) ||
			  s->az->inflight >= ZONE_INFLIGHT_MAX))
		d.reason = "too many requests in flight";
	if (d.reason) {
		d.verdict = "limit";
		d.outcome = 1;
		d.aggregate = 1;
		d.code = GW_ERR_GATEWAY;
		d.msg = d.reason;
		d.key = "limit";
		d.val = d.reason;
		decision_finish(g, s, m, &x, &d);
		goto out;
	}
	p = gw_req_new_timed(g, PK_CALL, s, x.t->ti, (unsigned)r->timeout_ms);
	if (!p) {
		if (lim && r->concurrency)
			lim->inflight--;
		gw_sess_error(s, m->id, -32603, "out of memory", NULL);
		goto out;
	}
	p->aid = json_incref(m->id);
	snprintf(p->method, sizeof(p->method), "%s", m->method);
	snprintf(p->audit_id, sizeof(p->audit_id), "%s", d.aid);
	memcpy(p->trace, d.trace, sizeof(p->trace));
	snprintf(p->mlabel, sizeof(p->mlabel), "%s", d.label);
	p->target = strdup(tgt);
	p->rule = rule;
	rule = NULL;
	p->args = argj;
	argj = NULL;
	p->lim = r->concurrency ? lim : NULL;
	p->bytes_in = len;
	p->max_bytes = r->max_bytes;
	p->t0 = t0;
	p->t_policy = d.t_policy;
	/* a session's subscription to a 2026-07-28 zone: a shared upstream
	 * listen (gw_subs.c) */
	if (x.t->rev2026 && !s->shared &&
	    strstr(m->method, "subscribe") != NULL) {
		gw_subs_request(g, s, x.t, p, x.name);
		goto out;
	}
	rewrite_up(m, &x, p->uid);
	if (x.task)
		json_object_del(m->params, "name");
	else if (!s->shared) /* 2025-11-25 tasks are not carried: ignored */
		json_object_del(m->params, "task");
	gw_up_meta(g, s, x.t->ti, m->params); /* the zone's revision */
	if (x.t->rev2026 && !s->shared)	      /* its retry (gw_up_irr_answer) */
		p->up_req = json_incref(m->root);
	up = jr_dump(m->root, &ulen);
	if (!up || !p->target) {
		free(up);
		gw_req_fail(g, p, GW_ERR_GATEWAY, "out of memory",
			    "out of memory");
		goto out;
	}
	/* the tool zone's capacity (gw_admit.c): sent now, or it waits
	 * for a slot, its deadline running */
	if (!gw_admit_now(x.t, s, p)) {
		if (gw_admit_queue(g, x.t, s, p, up, ulen) != 0) {
			free(up);
			gw_req_fail(g, p, GW_ERR_GATEWAY,
				    "tool zone is busy: too many calls "
				    "waiting for it",
				    "tool zone queue full");
		}
		goto out;
	}
	p->t_sent = gw_now_us();
	if (gw_up_link_ensure(g, s, x.t->ti) ||
	    gw_up_link_send(g, s, x.t->ti, up, ulen)) {
		free(up);
		gw_req_fail(g, p, GW_ERR_GATEWAY,
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
	json_decref(ph);
}

/* Tells the tool zone to drop request p (notifications/cancelled with
 * reason, on a link that is open): the core's cancellation, which takes
 * p out of its table. */
static void req_cancel_up(struct preq *p, const char *reason)
{
	/* a call still waiting for a slot was never sent: nothing to tell */
	if (p->uc && p->queued)
		mcp_client_forget(p->uc->mc, (int64_t)p->uid);
	else if (p->uc)
		mcp_client_cancel(p->uc->mc, (int64_t)p->uid, reason);
	p->uc = NULL;
}

void gw_req_cancel(struct gw *g, struct asess *s, struct jr_msg *m)
{
	json_t *rid = json_object_get(m->params, "requestId");
	struct preq *p;

	for (p = s->reqs; p && rid; p = p->next) {
		if (p->kind != PK_CALL || !jr_id_equal(p->aid, rid))
			continue;
		req_cancel_up(p, "cancelled by the client");
		gw_req_audit(g, s->az->z->name, s->id, p->method, p->target,
			     "allow", p->rule, "cancelled by the client",
			     p->audit_id, p->bytes_in, 0, p->t_policy,
			     p->t_sent ? gw_now_us() - p->t_sent : 0,
			     gw_now_us() - p->t0, p->args, p->trace);
		gw_req_free(g, p);
		return;
	}
}

/* Ends call p without its answer: the tool zone is told to cancel it,
 * the agent gets the error (code, msg), the audit record says reason. */
static void gw_req_expire(struct gw *g, struct preq *p, int code,
			  const char *msg, const char *reason)
{
	req_cancel_up(p, reason);
	gw_req_fail(g, p, code, msg, reason);
}

/* Request p passed its deadline (its table ended it and told the tool
 * zone): a call fails with -32001; a link's initialize fails the link; a
 * control stream's request marks the tool zone dead; the rest go. */
static void req_expired(struct gw *g, struct preq *p)
{
	if (p->kind == PK_CALL) {
		gw_req_fail(g, p, -32001, "Request timed out",
			    "deadline exceeded");
	} else if (p->kind == PK_INIT && p->s) {
		gw_up_link_fail(g, p->s, p->ti, "initialize timed out");
	} else if (!p->s) {
		g->tz[p->ti]->dead = 1;
		snprintf(g->tz[p->ti]->last_error,
			 sizeof(g->tz[p->ti]->last_error),
			 "catalogue request timed out");
		gw_req_free(g, p);
	} else {
		gw_req_free(g, p);
	}
}

void gw_req_deadlines(struct gw *g)
{
	struct preq *p;

	if (gw_now_ms() < g->next_deadline_ms)
		return;
	gw_up_expire(g);
	/* one at a time from the head: ending one (a link's initialize)
	 * may free others of the list, which gw_req_free takes off it */
	while ((p = g->expired) != NULL) {
		g->expired = p->xnext;
		p->expired = 0;
		req_expired(g, p);
	}
}

/* ---- draining ---------------------------------------------------------- */

size_t gw_route_calls_inflight(struct gw *g)
{
	size_t n, calls = 0;
	void **v = gw_map_values(g->preqs, &n);

	for (size_t i = 0; v && i < n; i++)
		calls += ((struct preq *)v[i])->kind == PK_CALL;
	free(v);
	return calls;
}

size_t gw_route_abort_calls(struct gw *g, const char *msg, const char *reason)
{
	size_t n, ended = 0;
	void **v = gw_map_values(g->preqs, &n);

	for (size_t i = 0; v && i < n; i++) {
		struct preq *p = v[i];
		if (p->kind != PK_CALL)
			continue;
		gw_req_expire(g, p, GW_ERR_GATEWAY, msg, reason);
		ended++;
	}
	free(v);
	return ended;
}
