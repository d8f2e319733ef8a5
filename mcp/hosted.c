/* The hosted-servers tool set of mcpd: each server of the --servers file
 * runs as a child (one per MCP session, or one shared), and its tools,
 * prompts (as SERVER.NAME), resources and templates (URIs as they are)
 * are served from mcpd's registry; calls, progress, cancellation, list
 * changes, resource updates and server requests pass through. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>

#include "hosted.h"
#include "jsonrpc.h"
#include "mcp_internal.h"
#include "session_methods.h"
#include "utf8.h"

#define MAX_LIST_ITEMS 1000 /* entries of one kind from one server */
#define MAX_LIST_PAGES 100
#define MAX_BACKOFF_S 30
#define STABLE_S 60 /* a child up this long resets the back-off */
#define FLOOD_PER_SEC 2000
#define SERVER_REQ_TIMEOUT_MS 120000
#define TICK_MS 20	     /* cancellation and deadlines of async calls */
#define TICKER_IDLE_TICKS 50 /* then the ticker sleeps until a call */

struct hserver;

/* A child and its use: the server's main child (shared, or the one that
 * lists for per-session servers) or one session's child. */
struct slot {
	struct hserver *hs;
	mcp_session *s; /* NULL: the main child */
	struct hchild *ch;
	unsigned users;
	int starting, down, closing;
	unsigned fails;
	time_t retry_at, started_at;
	struct slot *next;
};

struct hserver {
	struct hosted *h;
	const struct hosted_cfg *cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* slots changed, refresh, stop */
	struct slot main;
	struct slot *sessions;
	int refresh;	   /* a list_changed arrived */
	int drain_waiters; /* threads waiting for a slot's last use */
	int first_done;	   /* the first start was tried */
	json_t *listing;   /* last lists of the main child, NULL while down */
	int completions;   /* the server offers completion/complete */
	pthread_t sup;
	int sup_started;
};

struct hosted {
	mcp_server *srv;
	struct hosted_cfgs cfgs;
	struct hserver *v;
	size_t n;
	pthread_mutex_t reg_mu; /* registration across servers */
	atomic_int stopping;
	struct hchild_limits lim;

	/* the ticker: checks the calls sent without a waiting thread */
	pthread_t ticker;
	int ticker_started;
	pthread_mutex_t tick_mu;
	pthread_cond_t tick_cv;
	atomic_uint async_calls; /* in flight */
	atomic_int ticker_asleep;
	int tick_stop; /* under tick_mu: after the supervisors ended */
};

static unsigned backoff_s(unsigned fails)
{
	return fails >= 6 ? MAX_BACKOFF_S
	       : (1u << (fails ? fails - 1 : 0)) < MAX_BACKOFF_S
		       ? (1u << (fails ? fails - 1 : 0))
		       : MAX_BACKOFF_S;
}

/* ---- what children tell us ---- */

static void on_progress(void *call_ctx, json_t *params)
{
	mcp_call *call = call_ctx;
	json_t *msg = json_object_get(params, "message");

	mcp_call_progress(call,
			  json_number_value(
				  json_object_get(params, "progress")),
			  json_number_value(json_object_get(params, "total")),
			  json_is_string(msg) ? json_string_value(msg) : NULL);
}

struct server_req {
	struct hchild *ch;
	mcp_call *call;
	json_t *msg;
};

/* Asks the client on behalf of the child (sampling, elicitation, roots)
 * and answers the child. Runs on a thread of its own: the client may take
 * its time. The call is held, so it outlives this. */
static void *server_req_main(void *arg)
{
	struct server_req *r = arg;
	json_t *id = json_object_get(r->msg, "id"), *result = NULL, *resp;
	const char *method =
		json_string_value(json_object_get(r->msg, "method"));
	json_t *params = json_incref(json_object_get(r->msg, "params"));
	int rc;

	rc = mcp_call_request(r->call, method, params, SERVER_REQ_TIMEOUT_MS,
			      &result);
	if (rc == 0)
		resp = jr_result(id, result);
	else if (result) /* the client's error object */
		resp = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id,
				 "error", result);
	else
		resp = jr_error(id,
				rc == MCP_ERR_METHOD_NOT_FOUND
					? rc
					: MCP_ERR_INTERNAL,
				rc == MCP_ERR_METHOD_NOT_FOUND
					? "the client did not declare this "
					  "capability"
					: "the client did not answer",
				NULL);
	hchild_send(r->ch, resp);
	hchild_release(r->ch, r->call);
	json_decref(r->msg);
	free(r);
	return NULL;
}

/* A request of the child (ping never comes here: the client core
 * answers it) goes to the client of the call in flight it belongs to. */
static void on_server_request(struct hchild *ch, json_t *msg, void *call_ctx)
{
	json_t *id = json_object_get(msg, "id");
	struct server_req *r;
	pthread_t t;

	if (!call_ctx || hchild_hold(ch, call_ctx) != 0) {
		hchild_send(ch, jr_error(id, MCP_ERR_INVALID_REQUEST,
					 "no client request in flight to "
					 "relate it to",
					 NULL));
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r) {
		r->ch = ch;
		r->call = call_ctx;
		r->msg = json_incref(msg);
	}
	if (!r || pthread_create(&t, NULL, server_req_main, r) != 0) {
		if (r)
			json_decref(r->msg);
		free(r);
		hchild_send(ch, jr_error(id, MCP_ERR_INTERNAL, "out of memory",
					 NULL));
		hchild_release(ch, call_ctx);
		return;
	}
	pthread_detach(t);
}

/* Nonzero if a child's log message is at or above the level the session
 * set (the child never hears of logging/setLevel: mcpd answers it). */
static int log_wanted(mcp_session *s, json_t *params)
{
	const char *level = json_string_value(json_object_get(params, "level"));
	int lv, at = -1;

	for (int i = MCP_LOG_DEBUG; level && i <= MCP_LOG_EMERGENCY; i++)
		if (strcmp(mcp_log_level_name(i), level) == 0)
			at = i;
	if (at < 0)
		return 0;
	pthread_mutex_lock(&s->mu);
	lv = s->log_level;
	pthread_mutex_unlock(&s->mu);
	return lv < 0 || at >= lv;
}

static void on_message(void *ud, struct hchild *ch, json_t *msg, void *call_ctx)
{
	struct slot *sl = ud;
	struct hserver *hs = sl->hs;
	const char *method = json_string_value(json_object_get(msg, "method"));
	json_t *params = json_object_get(msg, "params");

	if (json_object_get(msg, "id")) {
		on_server_request(ch, msg, call_ctx);
	} else if (strstr(method, "/list_changed") &&
		   strncmp(method, "notifications/", 14) == 0) {
		pthread_mutex_lock(&hs->mu);
		hs->refresh = 1;
		pthread_cond_broadcast(&hs->cv);
		pthread_mutex_unlock(&hs->mu);
	} else if (strcmp(method, "notifications/resources/updated") == 0) {
		const char *uri =
			json_string_value(json_object_get(params, "uri"));
		if (!uri)
			return;
		if (!sl->s) {
			mcp_server_resource_updated(hs->h->srv, uri);
		} else if (mcp_session_subscribed(sl->s, uri)) {
			json_t *m =
				jr_request(NULL,
					   "notifications/resources/updated",
					   json_pack("{s:s}", "uri", uri));
			mcp_session_send(sl->s, NULL, m);
			json_decref(m);
		}
	} else if (strcmp(method, "notifications/message") == 0 && sl->s &&
		   log_wanted(sl->s, params)) {
		mcp_session_send(sl->s, NULL, msg);
	}
}

static void on_exited(void *ud, struct hchild *ch, const char *why)
{
	struct slot *sl = ud;
	struct hserver *hs = sl->hs;
	time_t now = time(NULL);

	(void)ch;
	pthread_mutex_lock(&hs->mu);
	sl->down = 1;
	if (!sl->closing && !atomic_load(&hs->h->stopping)) {
		if (now - sl->started_at >= STABLE_S)
			sl->fails = 0;
		sl->fails++;
		sl->retry_at = now + backoff_s(sl->fails);
		hosted_log(hs->cfg->name, "stopped (%s)%s; restarting in %u s",
			   why, sl->s ? " in a session" : "",
			   backoff_s(sl->fails));
	}
	pthread_cond_broadcast(&hs->cv);
	pthread_mutex_unlock(&hs->mu);
}

static const struct hchild_ops child_ops = { on_message, on_progress,
					     on_exited };

/* ---- listing and registering ---- */

/* Nonzero once mcpd stops. */
static int stopping(void *arg)
{
	struct hosted *h = arg;

	return atomic_load(&h->stopping);
}

/* Every page of one list of the child (at most MAX_LIST_ITEMS). */
static json_t *list_all(struct hchild *ch, const char *method, const char *key,
			const struct hchild_wait *w)
{
	json_t *all = json_array(), *res = NULL;
	char *cursor = NULL;
	char err[256];

	for (int page = 0; all && page < MAX_LIST_PAGES; page++) {
		json_t *params = cursor ? json_pack("{s:s}", "cursor", cursor)
					: NULL;
		json_t *items, *next;
		free(cursor);
		cursor = NULL;
		if (hchild_request(ch, method, params, w, &res, err,
				   sizeof(err)) != 0) {
			fprintf(stderr, "mcpd: [%s] %s: %s\n", hchild_name(ch),
				method, err);
			break;
		}
		items = json_object_get(res, key);
		if (json_is_array(items))
			json_array_extend(all, items);
		next = json_object_get(res, "nextCursor");
		if (json_is_string(next) && json_string_length(next) < 1024)
			cursor = strdup(json_string_value(next));
		json_decref(res);
		res = NULL;
		if (!cursor || json_array_size(all) >= MAX_LIST_ITEMS)
			break;
	}
	free(cursor);
	while (all && json_array_size(all) > MAX_LIST_ITEMS)
		json_array_remove(all, json_array_size(all) - 1);
	return all;
}

/* The four lists of a child, by what its capabilities offer. */
static json_t *list_child(struct hserver *hs, struct hchild *ch)
{
	json_t *caps = json_object_get(hchild_server_caps(ch), "capabilities");
	json_t *l = json_object();
	/* a listing has the initialize deadline (mcpd's start waits for the
	 * first), and stops waiting when mcpd stops */
	struct hchild_wait w = { NULL, 0, stopping, hs->h,
				 hs->cfg->init_timeout_ms };
	const struct hchild_wait *t = &w;

	if (!l)
		return NULL;
	if (json_object_get(caps, "tools"))
		json_object_set_new(l, "tools",
				    list_all(ch, "tools/list", "tools", t));
	if (json_object_get(caps, "resources")) {
		json_object_set_new(l, "resources",
				    list_all(ch, "resources/list", "resources",
					     t));
		json_object_set_new(l, "resourceTemplates",
				    list_all(ch, "resources/templates/list",
					     "resourceTemplates", t));
	}
	if (json_object_get(caps, "prompts"))
		json_object_set_new(l, "prompts",
				    list_all(ch, "prompts/list", "prompts", t));
	hs->completions = json_object_get(caps, "completions") != NULL;
	return l;
}

/* Nonzero if key's value of item occurs twice in arr. */
static int listed_twice(json_t *arr, const char *key, const char *val)
{
	size_t i, seen = 0;
	json_t *it;

	json_array_foreach (arr, i, it) {
		const char *v = json_string_value(json_object_get(it, key));
		seen += v && strcmp(v, val) == 0;
	}
	return seen > 1;
}

/* Nonzero if another server's listing has val under lkey/key. */
static int claimed_elsewhere(struct hserver *hs, const char *lkey,
			     const char *key, const char *val)
{
	struct hosted *h = hs->h;

	for (size_t i = 0; i < h->n; i++) {
		json_t *arr, *it;
		size_t j;
		if (&h->v[i] == hs || !h->v[i].listing)
			continue;
		arr = json_object_get(h->v[i].listing, lkey);
		json_array_foreach (arr, j, it) {
			const char *v =
				json_string_value(json_object_get(it, key));
			if (v && strcmp(v, val) == 0)
				return 1;
		}
	}
	return 0;
}

static int hosted_tool(mcp_call *call, json_t *args, void *ud, json_t **result);
static int hosted_read(mcp_call *call, const char *uri, void *ud,
		       json_t **result);
static int hosted_prompt(mcp_call *call, json_t *args, void *ud,
			 json_t **result);
static int hosted_complete(mcp_call *call, const char *arg_name,
			   const char *arg_value, json_t *context_args,
			   void *ud, json_t **result);

struct kind_desc {
	enum mcp_entry_kind kind;
	const char *lkey, *key, *what;
	int prefixed;
};

static const struct kind_desc kinds[] = {
	{ ENT_TOOL, "tools", "name", "tool", 1 },
	{ ENT_PROMPT, "prompts", "name", "prompt", 1 },
	{ ENT_RESOURCE, "resources", "uri", "resource", 0 },
	{ ENT_TEMPLATE, "resourceTemplates", "uriTemplate", "template", 0 },
};

/* Why item may not be served, or NULL. full gets the served name. */
static const char *refuse_reason(struct hserver *hs, const struct kind_desc *k,
				 json_t *arr, json_t *item, char *full,
				 size_t fulllen)
{
	const char *v = json_string_value(json_object_get(item, k->key));
	int w;

	if (!v || strlen(v) > MCP_MAX_URI_LEN)
		return k->prefixed ? "no valid name" : "no valid URI";
	if (k->prefixed && !mcp_name_valid(v))
		return "not a valid MCP name";
	w = k->prefixed ? snprintf(full, fulllen, "%s.%s", hs->cfg->name, v)
			: snprintf(full, fulllen, "%s", v);
	if (w < 0 || (size_t)w >= fulllen ||
	    (k->prefixed && !mcp_name_valid(full)))
		return "longer than 128 characters with the server's prefix";
	if (listed_twice(arr, k->key, v))
		return "listed twice by the server";
	if (k->kind == ENT_TOOL) {
		json_t *in = json_object_get(item, "inputSchema");
		if (!json_is_object(in) ||
		    !json_is_string(json_object_get(in, "type")) ||
		    strcmp(json_string_value(json_object_get(in, "type")),
			   "object") != 0)
			return "inputSchema is not an object schema";
	}
	if (!k->prefixed && claimed_elsewhere(hs, k->lkey, k->key, v))
		return "claimed by another hosted server too";
	return NULL;
}

static struct mcp_entry *make_entry(struct hserver *hs,
				    const struct kind_desc *k, json_t *item,
				    const char *full)
{
	json_t *def = json_deep_copy(item);
	struct mcp_entry *e;

	if (!def)
		return NULL;
	if (k->prefixed)
		json_object_set_new(def, "name", json_string(full));
	e = mcp_entry_from_def(k->kind, full, def, hs);
	if (!e)
		return NULL;
	switch (k->kind) {
	case ENT_TOOL:
		e->fn.tool = hosted_tool;
		/* it never blocks the transport's thread: a call that would
		 * wait (a child to start, a full pipe) moves to a worker */
		e->flags |= MCP_TOOL_INLINE;
		break;
	case ENT_PROMPT:
		e->fn.prompt = hosted_prompt;
		break;
	default:
		e->fn.resource = hosted_read;
	}
	if (hs->completions &&
	    (k->kind == ENT_PROMPT || k->kind == ENT_TEMPLATE))
		e->complete = hosted_complete;
	return e;
}

static void on_refused(void *rud, struct mcp_entry *e)
{
	struct hserver *hs = rud;

	hosted_log(hs->cfg->name, "'%.200s' refused: the name is taken",
		   e->name);
}

/* Registers hs's current listing (nothing while it is down); refusals are
 * logged when verbose (the server whose listing changed). Called with
 * h->reg_mu held. */
static void register_server(struct hserver *hs, int verbose)
{
	struct mcp_entry **add = NULL;
	size_t n = 0, cap = 0;

	for (size_t ki = 0; hs->listing && ki < 4; ki++) {
		const struct kind_desc *k = &kinds[ki];
		json_t *arr = json_object_get(hs->listing, k->lkey), *item;
		size_t i;
		json_array_foreach (arr, i, item) {
			char full[MCP_MAX_URI_LEN + 1];
			const char *why = refuse_reason(hs, k, arr, item, full,
							sizeof(full));
			struct mcp_entry *e;
			if (why) {
				if (verbose)
					hosted_log(
						hs->cfg->name,
						"%s '%.200s' refused: %s",
						k->what,
						json_string_value(
							json_object_get(item,
									k->key))
							?: "?",
						why);
				continue;
			}
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 32;
				struct mcp_entry **na =
					realloc(add, nc * sizeof(*na));
				if (!na)
					break;
				add = na;
				cap = nc;
			}
			e = make_entry(hs, k, item, full);
			if (e)
				add[n++] = e;
		}
	}
	mcp_registry_replace(hs->h->srv, hs, add, n, on_refused, hs);
	free(add);
}

/* Sets hs's listing (stolen, NULL: down) and registers every server again
 * (a URI another server now claims, or no longer claims, changes their
 * sets too). */
static void set_listing(struct hserver *hs, json_t *listing)
{
	struct hosted *h = hs->h;

	pthread_mutex_lock(&h->reg_mu);
	json_decref(hs->listing);
	hs->listing = listing;
	for (size_t i = 0; i < h->n; i++)
		register_server(&h->v[i], &h->v[i] == hs);
	pthread_mutex_unlock(&h->reg_mu);
}

/* ---- children for calls ---- */

/* What a session's child may ask its client: the capabilities the
 * session's client declared (sampling, elicitation, roots). */
static json_t *child_caps(mcp_session *s)
{
	json_t *caps = json_object();
	static const char *const pass[] = { "sampling", "elicitation",
					    "roots" };

	for (size_t i = 0; s && caps && i < 3; i++) {
		json_t *v = json_object_get(s->client_caps, pass[i]);
		if (v)
			json_object_set(caps, pass[i], v);
	}
	return caps;
}

static struct slot *session_slot(struct hserver *hs, mcp_session *s)
{
	struct slot *sl;

	for (sl = hs->sessions; sl; sl = sl->next)
		if (sl->s == s)
			return sl;
	sl = calloc(1, sizeof(*sl));
	if (!sl)
		return NULL;
	sl->hs = hs;
	sl->s = s;
	sl->next = hs->sessions;
	hs->sessions = sl;
	return sl;
}

/* Starts sl's child with hs->mu held (dropped meanwhile). */
static int start_session_child(struct hserver *hs, struct slot *sl, char *err,
			       size_t errlen)
{
	json_t *caps = child_caps(sl->s);
	struct hchild *ch;
	time_t now;

	sl->starting = 1;
	pthread_mutex_unlock(&hs->mu);
	ch = hchild_start(hs->cfg, &hs->h->lim, caps, &child_ops, sl, err,
			  errlen);
	json_decref(caps);
	pthread_mutex_lock(&hs->mu);
	now = time(NULL);
	sl->starting = 0;
	pthread_cond_broadcast(&hs->cv);
	if (!ch) {
		sl->fails++;
		sl->retry_at = now + backoff_s(sl->fails);
		hosted_log(hs->cfg->name, "cannot start: %s", err);
		return -1;
	}
	sl->ch = ch;
	sl->down = 0;
	sl->started_at = now;
	return 0;
}

/* Per-session children running or starting; hs->mu held. */
static unsigned children_running(struct hserver *hs)
{
	unsigned n = 0;

	for (struct slot *sl = hs->sessions; sl; sl = sl->next)
		n += sl->ch != NULL || sl->starting;
	return n;
}

/* The slot whose child serves s now, with a use counted (release it), or
 * NULL with a reason in err. */
static struct slot *acquire(struct hserver *hs, mcp_session *s, char *err,
			    size_t errlen)
{
	struct slot *sl;

	pthread_mutex_lock(&hs->mu);
	sl = hs->cfg->shared ? &hs->main : session_slot(hs, s);
	for (;;) {
		time_t now = time(NULL);
		if (!sl) {
			snprintf(err, errlen, "out of memory");
			break;
		}
		if (sl->starting) {
			pthread_cond_wait(&hs->cv, &hs->mu);
			continue;
		}
		if (sl->ch && !sl->down) {
			sl->users++;
			pthread_mutex_unlock(&hs->mu);
			return sl;
		}
		if (hs->cfg->shared || (sl->ch && sl->users > 0)) {
			snprintf(err, errlen, "is not running (restarting)");
			break;
		}
		if (sl->ch) { /* down, unused: reap it, then start anew */
			struct hchild *old = sl->ch;
			sl->ch = NULL;
			pthread_mutex_unlock(&hs->mu);
			hchild_stop(old);
			pthread_mutex_lock(&hs->mu);
			continue;
		}
		if (children_running(hs) >= hs->cfg->max_children) {
			snprintf(err, errlen,
				 "has %u sessions with a child of their own "
				 "already (max_children)",
				 hs->cfg->max_children);
			break;
		}
		if (now < sl->retry_at) {
			snprintf(err, errlen,
				 "is not running (restarting in %lld s)",
				 (long long)(sl->retry_at - now));
			break;
		}
		if (start_session_child(hs, sl, err, errlen) != 0)
			break;
	}
	pthread_mutex_unlock(&hs->mu);
	return NULL;
}

static void release(struct slot *sl)
{
	pthread_mutex_lock(&sl->hs->mu);
	sl->users--;
	/* only a wait for the last use needs it: a wake-up of the
	 * supervisor on every call would cost a hand-off per call */
	if (sl->users == 0 && sl->hs->drain_waiters > 0)
		pthread_cond_broadcast(&sl->hs->cv);
	pthread_mutex_unlock(&sl->hs->mu);
}

/* The slot whose child serves s, with a use counted, if that child runs
 * now; NULL (nothing waited for) otherwise. */
static struct slot *acquire_ready(struct hserver *hs, mcp_session *s)
{
	struct slot *sl = NULL;

	pthread_mutex_lock(&hs->mu);
	if (hs->cfg->shared)
		sl = &hs->main;
	else
		for (sl = hs->sessions; sl && sl->s != s; sl = sl->next)
			;
	if (sl && sl->ch && !sl->down && !sl->starting)
		sl->users++;
	else
		sl = NULL;
	pthread_mutex_unlock(&hs->mu);
	return sl;
}

static int call_cancelled(void *ctx)
{
	return mcp_call_cancelled(ctx);
}

/* Sends method to the child that serves call's session. Returns 0 with
 * the child's result, or an error code with a message in err. */
static int forward(struct hserver *hs, mcp_call *call, const char *method,
		   json_t *params, json_t **result, char *err, size_t errlen)
{
	struct hchild_wait w = { call, call->progress_token != NULL,
				 call_cancelled, call,
				 hs->cfg->call_timeout_ms };
	char why[200];
	struct slot *sl = acquire(hs, call->s, why, sizeof(why));
	int rc;

	if (!sl) {
		json_decref(params);
		snprintf(err, errlen, "hosted server %s %s", hs->cfg->name,
			 why);
		return MCP_ERR_INTERNAL;
	}
	rc = hchild_request(sl->ch, method, params, &w, result, err, errlen);
	release(sl);
	return rc;
}

/* The name a prefixed entry has on its server. */
static const char *orig_name(struct hserver *hs, mcp_call *call)
{
	return call->entry->name + strlen(hs->cfg->name) + 1;
}

/* What a tool call returns for a failed forward (rc, err). */
static int tool_failed(mcp_call *call, int rc, const char *err, json_t **result)
{
	if (rc == MCP_ERR_REQUEST_CANCELLED)
		return rc;
	if (rc == MCP_ERR_INTERNAL || rc == MCP_ERR_TIMEOUT) {
		/* the model reads why the tool is unavailable */
		*result = mcp_result_errorf("%s", err);
		return *result ? 0 : MCP_ERR_INTERNAL;
	}
	mcp_call_error(call, rc, err, NULL);
	return rc;
}

/* A tools/call that its handler handed on (MCP_CALL_PENDING). */
struct tool_call {
	struct hserver *hs;
	mcp_call *call;
	struct slot *sl; /* the async form's, with a use */
	json_t *params;	 /* the worker form's */
};

/* hchild_done_fn of a call sent from the transport's thread. */
static void tool_done(void *ud, int rc, json_t *result, const char *err)
{
	struct tool_call *t = ud;
	mcp_call *call = t->call;
	struct hosted *h = t->hs->h;

	release(t->sl);
	free(t);
	if (rc != 0)
		rc = tool_failed(call, rc, err, &result);
	atomic_fetch_sub(&h->async_calls, 1);
	mcp_call_finish(call, rc, result);
}

/* A call that has to wait (its child starts, the pipe is full) runs the
 * blocking way on a worker. */
static void tool_job(void *arg)
{
	struct tool_call *t = arg;
	mcp_call *call = t->call;
	json_t *result = NULL;
	char err[256];
	int rc = forward(t->hs, call, "tools/call", t->params, &result, err,
			 sizeof(err));

	free(t);
	if (rc != 0)
		rc = tool_failed(call, rc, err, &result);
	mcp_call_finish(call, rc, result);
}

/* Wakes the ticker if it sleeps (an async call is counted already). */
static void wake_ticker(struct hosted *h)
{
	if (!atomic_load(&h->ticker_asleep))
		return;
	pthread_mutex_lock(&h->tick_mu);
	pthread_cond_signal(&h->tick_cv);
	pthread_mutex_unlock(&h->tick_mu);
}

/* Sends the call to a running child and returns at once: the child's
 * answer ends it on the reader's thread (tool_done), so a call costs no
 * hand-off between mcpd's threads. 0, or -1 with nothing sent. */
static int tool_async(struct tool_call *t, json_t *params)
{
	struct hserver *hs = t->hs;
	mcp_call *call = t->call;
	struct hchild_wait w = { call, call->progress_token != NULL,
				 call_cancelled, call,
				 hs->cfg->call_timeout_ms };

	t->sl = acquire_ready(hs, call->s);
	if (!t->sl)
		return -1;
	atomic_fetch_add(&hs->h->async_calls, 1);
	wake_ticker(hs->h);
	if (hchild_request_async(t->sl->ch, "tools/call", json_incref(params),
				 &w, tool_done, t) == 0)
		return 0; /* t and call may be gone already */
	atomic_fetch_sub(&hs->h->async_calls, 1);
	release(t->sl);
	t->sl = NULL;
	return -1;
}

/* Runs on the transport's thread (MCP_TOOL_INLINE), so it never waits:
 * the call goes to the child at once, or to a worker. */
static int hosted_tool(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	struct hserver *hs = ud;
	struct tool_call *t = calloc(1, sizeof(*t));
	json_t *params = json_pack("{s:s, s:O}", "name", orig_name(hs, call),
				   "arguments", args);

	(void)result;
	if (!t || !params) {
		free(t);
		json_decref(params);
		mcp_call_error(call, MCP_ERR_INTERNAL, "out of memory", NULL);
		return MCP_ERR_INTERNAL;
	}
	t->hs = hs;
	t->call = call;
	if (tool_async(t, params) == 0) {
		json_decref(params);
		return MCP_CALL_PENDING;
	}
	t->params = params;
	if (mcp_pool_submit(&call->s->srv->pool, tool_job, t) == 0)
		return MCP_CALL_PENDING;
	json_decref(params);
	free(t);
	mcp_call_error(call, MCP_ERR_INTERNAL, "no worker available", NULL);
	return MCP_ERR_INTERNAL;
}

static int hosted_read(mcp_call *call, const char *uri, void *ud,
		       json_t **result)
{
	char err[256];
	json_t *res = NULL;
	int rc = forward(ud, call, "resources/read",
			 json_pack("{s:s}", "uri", uri), &res, err,
			 sizeof(err));

	if (rc != 0) {
		mcp_call_error(call, rc, err, NULL);
		return rc;
	}
	*result = json_incref(json_object_get(res, "contents"));
	json_decref(res);
	if (!json_is_array(*result)) {
		json_decref(*result);
		*result = NULL;
		mcp_call_error(call, MCP_ERR_INTERNAL,
			       "hosted server answered without contents", NULL);
		return MCP_ERR_INTERNAL;
	}
	return 0;
}

static int hosted_prompt(mcp_call *call, json_t *args, void *ud,
			 json_t **result)
{
	struct hserver *hs = ud;
	char err[256];
	int rc = forward(hs, call, "prompts/get",
			 json_pack("{s:s, s:O}", "name", orig_name(hs, call),
				   "arguments", args),
			 result, err, sizeof(err));

	if (rc != 0)
		mcp_call_error(call, rc, err, NULL);
	return rc;
}

static int hosted_complete(mcp_call *call, const char *arg_name,
			   const char *arg_value, json_t *context_args,
			   void *ud, json_t **result)
{
	struct hserver *hs = ud;
	json_t *params = json_deep_copy(call->params), *res = NULL;
	char err[256];
	int rc;

	(void)arg_name;
	(void)arg_value;
	(void)context_args;
	if (params && call->entry->kind == ENT_PROMPT)
		json_object_set_new(json_object_get(params, "ref"), "name",
				    json_string(orig_name(hs, call)));
	rc = forward(hs, call, "completion/complete", params, &res, err,
		     sizeof(err));
	if (rc != 0) {
		mcp_call_error(call, rc, err, NULL);
		return rc;
	}
	*result = json_incref(json_object_get(res, "completion"));
	json_decref(res);
	return *result ? 0 : MCP_ERR_INTERNAL;
}

/* ---- the main child of each server ---- */

/* Waits on hs->cv until deadline, stop or a change; hs->mu held. */
static void wait_until(struct hserver *hs, time_t deadline)
{
	struct timespec ts = { deadline, 0 };

	pthread_cond_timedwait(&hs->cv, &hs->mu, &ts);
}

/* The listing child of a per-session server declares sampling and
 * elicitation, so that it lists the tools a server offers only to clients
 * that can answer (it never runs a call, so it never asks); a shared child
 * declares nothing (it has no one to ask). */
static json_t *main_caps(const struct hserver *hs)
{
	if (hs->cfg->shared)
		return json_object();
	return json_pack("{s:{}, s:{}}", "sampling", "elicitation");
}

static void run_main(struct hserver *hs)
{
	char err[256];
	struct hchild *ch;
	json_t *listing, *caps = main_caps(hs);

	ch = hchild_start(hs->cfg, &hs->h->lim, caps, &child_ops, &hs->main,
			  err, sizeof(err));
	json_decref(caps);
	pthread_mutex_lock(&hs->mu);
	if (!ch) {
		hs->first_done = 1;
		pthread_cond_broadcast(&hs->cv);
		hs->main.fails++;
		hosted_log(hs->cfg->name, "cannot start: %s; retrying in %u s",
			   err, backoff_s(hs->main.fails));
		hs->main.retry_at = time(NULL) + backoff_s(hs->main.fails);
		pthread_mutex_unlock(&hs->mu);
		return;
	}
	hs->main.ch = ch;
	hs->main.down = 0;
	hs->main.started_at = time(NULL);
	hs->refresh = 1;
	hosted_log(hs->cfg->name, "started (pid %d)", (int)hchild_pid(ch));
	while (!hs->main.down && !atomic_load(&hs->h->stopping)) {
		if (!hs->refresh) {
			wait_until(hs, time(NULL) + 5);
			continue;
		}
		hs->refresh = 0;
		pthread_mutex_unlock(&hs->mu);
		listing = list_child(hs, ch);
		set_listing(hs, listing);
		pthread_mutex_lock(&hs->mu);
		hs->first_done = 1;
		pthread_cond_broadcast(&hs->cv);
	}
	pthread_mutex_unlock(&hs->mu);
	set_listing(hs, NULL); /* its entries leave the lists */
	pthread_mutex_lock(&hs->mu);
	hs->drain_waiters++;
	while (hs->main.users > 0)
		pthread_cond_wait(&hs->cv, &hs->mu);
	hs->drain_waiters--;
	hs->main.ch = NULL;
	hs->main.closing = 1;
	pthread_mutex_unlock(&hs->mu);
	hchild_stop(ch);
	pthread_mutex_lock(&hs->mu);
	hs->main.closing = 0;
	pthread_mutex_unlock(&hs->mu);
}

static void *supervise(void *arg)
{
	struct hserver *hs = arg;

	prctl(PR_SET_NAME, "hosted-sup");
	while (!atomic_load(&hs->h->stopping)) {
		run_main(hs);
		pthread_mutex_lock(&hs->mu);
		while (!atomic_load(&hs->h->stopping) &&
		       time(NULL) < hs->main.retry_at)
			wait_until(hs, hs->main.retry_at);
		pthread_mutex_unlock(&hs->mu);
	}
	return NULL;
}

/* ---- the ticker ---- */

#define TICK_BATCH 64 /* slots pinned per pass of tick_all */

/* hchild_tick for every child with calls in flight, TICK_BATCH slots at
 * a time (pinned by users++ while the lock is dropped), so that every
 * session's deadlines and cancellations are checked however many are
 * busy. A slot the list gains or loses between two passes may be ticked
 * twice or wait for the next tick; neither harms. */
static void tick_all(struct hosted *h)
{
	for (size_t i = 0; i < h->n; i++) {
		struct hserver *hs = &h->v[i];
		struct slot *busy[TICK_BATCH];
		size_t n, skip = 0;
		do {
			size_t seen = 0;
			n = 0;
			pthread_mutex_lock(&hs->mu);
			if (skip == 0 && hs->main.ch && hs->main.users > 0) {
				hs->main.users++;
				busy[n++] = &hs->main;
			}
			for (struct slot *sl = hs->sessions;
			     sl && n < TICK_BATCH; sl = sl->next) {
				if (!sl->ch || sl->users == 0 || seen++ < skip)
					continue;
				sl->users++;
				busy[n++] = sl;
			}
			pthread_mutex_unlock(&hs->mu);
			for (size_t j = 0; j < n; j++) {
				hchild_tick(busy[j]->ch);
				release(busy[j]);
			}
			skip = seen;
		} while (n == TICK_BATCH);
	}
}

/* Ticks every TICK_MS while async calls are in flight (and a second
 * longer), then sleeps until tool_async wakes it: an idle mcpd does not
 * wake up, and a busy one is not woken once per call. */
static void *ticker_main(void *arg)
{
	struct hosted *h = arg;
	unsigned idle = 0;
	struct timespec until;

	prctl(PR_SET_NAME, "hosted-tick");
	pthread_mutex_lock(&h->tick_mu);
	while (!h->tick_stop) {
		if (idle >= TICKER_IDLE_TICKS) {
			atomic_store(&h->ticker_asleep, 1);
			/* a call counted before this store is seen here; one
			 * counted after it sees the store and signals */
			if (!atomic_load(&h->async_calls))
				pthread_cond_wait(&h->tick_cv, &h->tick_mu);
			atomic_store(&h->ticker_asleep, 0);
			idle = 0;
			continue;
		}
		mcp_deadline_after(&until, TICK_MS);
		pthread_cond_timedwait(&h->tick_cv, &h->tick_mu, &until);
		pthread_mutex_unlock(&h->tick_mu);
		if (atomic_load(&h->async_calls)) {
			tick_all(h);
			idle = 0;
		} else {
			idle++;
		}
		pthread_mutex_lock(&h->tick_mu);
	}
	pthread_mutex_unlock(&h->tick_mu);
	return NULL;
}

/* ---- session hooks ---- */

static void on_session_end(void *ud, mcp_session *s)
{
	struct hosted *h = ud;

	for (size_t i = 0; i < h->n; i++) {
		struct hserver *hs = &h->v[i];
		struct slot *sl = NULL;
		pthread_mutex_lock(&hs->mu);
		for (struct slot **pp = &hs->sessions; *pp; pp = &(*pp)->next) {
			if ((*pp)->s == s) {
				sl = *pp;
				*pp = sl->next;
				break;
			}
		}
		if (sl)
			sl->closing = 1;
		hs->drain_waiters++;
		while (sl && sl->users > 0) /* the ticker looks at it */
			pthread_cond_wait(&hs->cv, &hs->mu);
		hs->drain_waiters--;
		pthread_mutex_unlock(&hs->mu);
		if (sl) {
			hchild_stop(sl->ch);
			free(sl);
		}
	}
}

/* The hosted server that serves uri, or NULL. */
static struct hserver *uri_owner(struct hosted *h, const char *uri)
{
	struct mcp_entry *e = mcp_registry_find(h->srv, ENT_RESOURCE, uri);
	struct hserver *hs = NULL;
	json_t *vars = NULL;

	if (!e)
		e = mcp_registry_match_template(h->srv, uri, &vars);
	json_decref(vars);
	if (e && e->fn.resource == hosted_read)
		hs = e->ud;
	mcp_entry_unref(e);
	return hs;
}

/* A subscription goes to the child that serves the URI for that
 * session, if it runs (a session's child is started by its first call);
 * the answer is not awaited (this runs on the transport's thread). */
static void on_subscribe(void *ud, mcp_session *s, const char *uri, int on)
{
	struct hserver *hs = uri_owner(ud, uri);
	struct slot *sl = NULL;

	if (!hs)
		return;
	pthread_mutex_lock(&hs->mu);
	if (hs->cfg->shared) {
		sl = &hs->main;
		on = 1; /* other sessions may hold it: never unsubscribe */
	} else {
		for (sl = hs->sessions; sl && sl->s != s; sl = sl->next)
			;
	}
	if (sl && sl->ch && !sl->down)
		sl->users++; /* the write may wait: not under hs->mu */
	else
		sl = NULL;
	pthread_mutex_unlock(&hs->mu);
	if (!sl)
		return;
	hchild_send_request(sl->ch,
			    on ? "resources/subscribe"
			       : "resources/unsubscribe",
			    json_pack("{s:s}", "uri", uri));
	release(sl);
}

/* ---- start and stop ---- */

/* A condition whose timed waits count on clock clk. */
static void cond_init_clock(pthread_cond_t *cv, clockid_t clk)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, clk);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

struct hosted *hosted_start(mcp_server *srv, const char *file,
			    size_t max_message, char *err, size_t errlen)
{
	struct hosted *h = calloc(1, sizeof(*h));
	struct mcp_server_hooks hooks = { on_session_end, on_subscribe, h };

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (hosted_config_load(file, &h->cfgs, err, errlen) != 0) {
		free(h);
		return NULL;
	}
	h->srv = srv;
	h->lim.max_message = max_message ? max_message
					 : MCP_DEFAULT_MAX_MESSAGE;
	h->lim.flood_per_sec = FLOOD_PER_SEC;
	/* one thread reads every child; without it, a thread per child */
	h->lim.poll = hpoll_new(err, errlen);
	if (!h->lim.poll)
		fprintf(stderr,
			"mcpd: hosted servers: %s; a reader thread "
			"per child instead\n",
			err);
	pthread_mutex_init(&h->reg_mu, NULL);
	h->v = calloc(h->cfgs.n + 1, sizeof(*h->v));
	if (!h->v) {
		hpoll_free(h->lim.poll);
		hosted_config_free(&h->cfgs);
		free(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->n = h->cfgs.n;
	pthread_mutex_init(&h->tick_mu, NULL);
	cond_init_clock(&h->tick_cv, CLOCK_MONOTONIC);
	h->ticker_started = pthread_create(&h->ticker, NULL, ticker_main, h) ==
			    0;
	mcp_server_set_hooks(srv, &hooks);
	for (size_t i = 0; i < h->n; i++) {
		struct hserver *hs = &h->v[i];
		hs->h = h;
		hs->cfg = &h->cfgs.v[i];
		hs->main.hs = hs;
		pthread_mutex_init(&hs->mu, NULL);
		cond_init_clock(&hs->cv, CLOCK_REALTIME);
		hs->sup_started =
			pthread_create(&hs->sup, NULL, supervise, hs) == 0;
	}
	/* serve nothing before every server had its first try, so that the
	 * first sessions see the full lists */
	for (size_t i = 0; i < h->n; i++) {
		struct hserver *hs = &h->v[i];
		pthread_mutex_lock(&hs->mu);
		while (hs->sup_started && !hs->first_done)
			pthread_cond_wait(&hs->cv, &hs->mu);
		pthread_mutex_unlock(&hs->mu);
	}
	return h;
}

void hosted_stop(struct hosted *h)
{
	if (!h)
		return;
	atomic_store(&h->stopping, 1);
	for (size_t i = 0; i < h->n; i++) {
		struct hserver *hs = &h->v[i];
		pthread_mutex_lock(&hs->mu);
		pthread_cond_broadcast(&hs->cv);
		pthread_mutex_unlock(&hs->mu);
	}
	/* a supervisor waits for the calls on its child, whose deadlines
	 * and cancellation the ticker still checks meanwhile */
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].sup_started)
			pthread_join(h->v[i].sup, NULL);
	pthread_mutex_lock(&h->tick_mu);
	h->tick_stop = 1;
	pthread_cond_signal(&h->tick_cv);
	pthread_mutex_unlock(&h->tick_mu);
	if (h->ticker_started)
		pthread_join(h->ticker, NULL);
	for (size_t i = 0; i < h->n; i++) {
		struct hserver *hs = &h->v[i];
		while (hs->sessions) {
			struct slot *sl = hs->sessions;
			hs->sessions = sl->next;
			sl->closing = 1;
			if (sl->ch)
				hchild_stop(sl->ch);
			free(sl);
		}
		json_decref(hs->listing);
		pthread_mutex_destroy(&hs->mu);
		pthread_cond_destroy(&hs->cv);
	}
	hpoll_free(h->lim.poll); /* every child has stopped */
	mcp_server_set_hooks(h->srv, NULL);
	pthread_mutex_destroy(&h->reg_mu);
	pthread_mutex_destroy(&h->tick_mu);
	pthread_cond_destroy(&h->tick_cv);
	hosted_config_free(&h->cfgs);
	free(h->v);
	free(h);
}
