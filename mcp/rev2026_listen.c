/* subscriptions/listen (2026-07-28): a stateless session's long-lived
 * request that carries the list_changed and resources/updated
 * notifications its filter asks for, each tagged with the subscription id
 * (the request's JSON-RPC id); acknowledged first, bounded per server,
 * ended by the client (cancel, closed connection) or gracefully by the
 * server when it stops. */
#include <stdlib.h>
#include <string.h>

#include "mcp_internal.h"
#include "rev2026.h"
#include "session_methods.h"

#define META_SUBSCRIPTION_ID "io.modelcontextprotocol/subscriptionId"

enum {
	LISTEN_TOOLS = 1u,
	LISTEN_PROMPTS = 2u,
	LISTEN_RESOURCES = 4u,
};

struct mcp_listen {
	json_t *id;    /* the subscriptions/listen request's id */
	unsigned what; /* LISTEN_* */
	json_t *uris;  /* resourceSubscriptions agreed to, or NULL */
	json_t *tasks; /* taskIds agreed to (tasks extension), or NULL */
};

static const struct {
	const char *field;
	unsigned bit;
	const char *method;
} kinds[] = {
	{ "toolsListChanged", LISTEN_TOOLS,
	  "notifications/tools/list_changed" },
	{ "promptsListChanged", LISTEN_PROMPTS,
	  "notifications/prompts/list_changed" },
	{ "resourcesListChanged", LISTEN_RESOURCES,
	  "notifications/resources/list_changed" },
};

void mcp_server_set_max_listens(mcp_server *srv, unsigned n)
{
	if (n >= 1 && n <= 100000)
		srv->max_listens = n;
}

static void listen_free(struct mcp_listen *l)
{
	if (!l)
		return;
	json_decref(l->id);
	json_decref(l->uris);
	json_decref(l->tasks);
	free(l);
}

/* taskIds (absent, or an array of at most 256 ids): keeps the tasks that
 * exist in l. Returns 0, or -1 with the reason in *why. */
static int parse_tasks(mcp_server *srv, json_t *ids, struct mcp_listen *l,
		       const char **why)
{
	size_t i;
	json_t *v;

	if (!ids)
		return 0;
	*why = "taskIds must be an array of at most 256 task ids";
	if (!json_is_array(ids) || json_array_size(ids) > MCP_MAX_SUBSCRIPTIONS)
		return -1;
	l->tasks = json_array();
	json_array_foreach (ids, i, v) {
		if (!json_is_string(v) || json_string_length(v) > 64)
			return -1;
		if (mcp_tasks_known(srv, json_string_value(v)))
			json_array_append(l->tasks, v);
	}
	return 0;
}

/* Checks the filter (an object or absent) and keeps the part this
 * server honours (its advertised capabilities) in l. Returns 0, or -1
 * with the reason in *why. */
static int parse_filter(mcp_server *srv, json_t *f, struct mcp_listen *l,
			const char **why)
{
	json_t *caps = mcp_registry_capabilities(srv);
	json_t *subs = json_object_get(f, "resourceSubscriptions");
	json_t *res = json_object_get(caps, "resources"), *v;
	unsigned can = LISTEN_TOOLS;
	size_t i;
	int rc = -1;

	if (json_is_true(json_object_get(json_object_get(caps, "prompts"),
					 "listChanged")))
		can |= LISTEN_PROMPTS;
	if (json_is_true(json_object_get(res, "listChanged")))
		can |= LISTEN_RESOURCES;
	*why = "notifications must be an object";
	if (f && !json_is_object(f))
		goto out;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		v = json_object_get(f, kinds[i].field);
		*why = "a notifications flag must be a boolean";
		if (v && !json_is_boolean(v))
			goto out;
		if (json_is_true(v) && (can & kinds[i].bit))
			l->what |= kinds[i].bit;
	}
	*why = "resourceSubscriptions must be an array of at most 256 URIs";
	if (subs && (!json_is_array(subs) ||
		     json_array_size(subs) > MCP_MAX_SUBSCRIPTIONS))
		goto out;
	json_array_foreach (subs, i, v)
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > MCP_MAX_URI_LEN)
			goto out;
	if (subs && json_is_true(json_object_get(res, "subscribe")))
		l->uris = json_incref(subs);
	if (parse_tasks(srv, json_object_get(f, "taskIds"), l, why) != 0)
		goto out;
	rc = 0;
out:
	json_decref(caps);
	return rc;
}

/* The acknowledged filter: what l holds. */
static json_t *agreed(const struct mcp_listen *l)
{
	json_t *o = json_object();

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (l->what & kinds[i].bit)
			json_object_set_new(o, kinds[i].field, json_true());
	if (l->uris)
		json_object_set(o, "resourceSubscriptions", l->uris);
	if (l->tasks)
		json_object_set(o, "taskIds", l->tasks);
	return o;
}

/* A notification for l: params._meta carries the subscription id. */
static json_t *tagged(const struct mcp_listen *l, const char *method,
		      json_t *params)
{
	json_t *meta = json_pack("{s:O}", META_SUBSCRIPTION_ID, l->id);

	if (!params)
		params = json_object();
	json_object_set_new(params, "_meta", meta);
	return jr_request(NULL, method, params);
}

static void hook_uris(mcp_session *s, const struct mcp_listen *l, int on)
{
	size_t i;
	json_t *v;

	if (!s->srv->hooks.subscribe)
		return;
	json_array_foreach (l->uris, i, v)
		s->srv->hooks.subscribe(s->srv->hooks.ud, s,
					json_string_value(v), on);
}

static int listen_error(mcp_session *s, json_t *id, int code, const char *msg)
{
	json_t *r = jr_error(id, code, msg, NULL);

	mcp_session_respond(s, id, r);
	json_decref(r);
	return -1;
}

int mcp_rev2026_listen(mcp_session *s, struct jr_msg *m)
{
	struct mcp_listen *l = calloc(1, sizeof(*l));
	mcp_server *srv = s->srv;
	const char *why = "out of memory";
	json_t *ack;
	int code = MCP_ERR_INVALID_REQUEST;

	if (!l)
		return listen_error(s, m->id, MCP_ERR_INTERNAL,
				    "out of memory");
	if (parse_filter(srv, json_object_get(m->params, "notifications"), l,
			 &why) != 0) {
		code = MCP_ERR_INVALID_PARAMS;
		goto fail;
	}
	if (l->tasks && !mcp_tasks_declared(s->client_caps)) {
		listen_free(l);
		return mcp_tasks_refuse(s, m->id);
	}
	if (atomic_fetch_add(&srv->nlistens, 1) >= srv->max_listens) {
		atomic_fetch_sub(&srv->nlistens, 1);
		/* (parse_filter left its last check's reason in why) */
		why = "too many subscriptions open; try again later";
		goto fail;
	}
	l->id = json_incref(m->id);
	pthread_mutex_lock(&s->mu);
	if (s->listen || s->closing) {
		pthread_mutex_unlock(&s->mu);
		atomic_fetch_sub(&srv->nlistens, 1);
		why = "this connection already listens";
		goto fail;
	}
	s->listen = l;
	/* Under s->mu: no notification can overtake the acknowledgment. */
	ack = tagged(l, "notifications/subscriptions/acknowledged",
		     json_pack("{s:o}", "notifications", agreed(l)));
	mcp_session_send(s, l->id, ack);
	json_decref(ack);
	pthread_mutex_unlock(&s->mu);
	hook_uris(s, l, 1);
	return 1;
fail:
	listen_free(l);
	return listen_error(s, m->id, code, why);
}

/* Takes s's listen away (s->mu not held); NULL if none or not id (id
 * NULL: any). */
static struct mcp_listen *take(mcp_session *s, const json_t *id)
{
	struct mcp_listen *l;

	pthread_mutex_lock(&s->mu);
	l = s->listen;
	if (l && (!id || jr_id_equal(l->id, id)))
		s->listen = NULL;
	else
		l = NULL;
	pthread_mutex_unlock(&s->mu);
	if (l) {
		atomic_fetch_sub(&s->srv->nlistens, 1);
		hook_uris(s, l, 0);
	}
	return l;
}

int mcp_rev2026_listen_cancel(mcp_session *s, const json_t *id)
{
	struct mcp_listen *l = take(s, id);

	if (!l)
		return 0;
	mcp_session_respond(s, l->id, NULL); /* cancelled: no response */
	listen_free(l);
	return 1;
}

void mcp_rev2026_listen_drop(mcp_session *s)
{
	listen_free(take(s, NULL));
}

void mcp_rev2026_listen_close(mcp_session *s)
{
	struct mcp_listen *l = take(s, NULL);
	json_t *r;

	if (!l)
		return;
	r = jr_result(l->id,
		      json_pack("{s:s, s:{s:O}}", "resultType", "complete",
				"_meta", META_SUBSCRIPTION_ID, l->id));
	mcp_session_respond(s, l->id, r);
	json_decref(r);
	listen_free(l);
}

void mcp_server_end_listens(mcp_server *srv)
{
	pthread_mutex_lock(&srv->sessions_mu);
	for (mcp_session *s = srv->sessions; s; s = s->next)
		mcp_rev2026_listen_close(s);
	pthread_mutex_unlock(&srv->sessions_mu);
}

void mcp_rev2026_listen_notify(mcp_session *s, const char *method,
			       const json_t *params)
{
	const char *uri = json_string_value(json_object_get(params, "uri"));
	struct mcp_listen *l;
	int want = 0;
	size_t i;
	json_t *v, *msg;

	pthread_mutex_lock(&s->mu);
	l = s->listen;
	for (i = 0; l && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(method, kinds[i].method) == 0)
			want = (l->what & kinds[i].bit) != 0;
	if (l && uri && strcmp(method, "notifications/resources/updated") == 0)
		json_array_foreach (l->uris, i, v)
			want |= strcmp(json_string_value(v), uri) == 0;
	if (want) {
		msg = tagged(l, method, params ? json_deep_copy(params) : NULL);
		mcp_session_send(s, l->id, msg);
		json_decref(msg);
	}
	pthread_mutex_unlock(&s->mu);
}

void mcp_rev2026_listen_task(mcp_session *s, const char *id,
			     const json_t *snapshot)
{
	struct mcp_listen *l;
	size_t i;
	json_t *v, *msg;

	pthread_mutex_lock(&s->mu);
	l = s->listen;
	json_array_foreach (l ? l->tasks : NULL, i, v) {
		if (strcmp(json_string_value(v), id) != 0)
			continue;
		msg = tagged(l, "notifications/tasks",
			     json_deep_copy(snapshot));
		mcp_session_send(s, l->id, msg);
		json_decref(msg);
		break;
	}
	pthread_mutex_unlock(&s->mu);
}
