/* One client request that runs a handler (tools/call, resources/read,
 * prompts/get, completion/complete): parameter checks, running it,
 * the response, and what a handler may do meanwhile (progress, logging,
 * requests to the client, noticing cancellation). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp_internal.h"
#include "rev2026.h"
#include "schema.h"
#include "session_methods.h"
#include "utf8.h"

static const struct {
	const char *name;
	int method;
} method_table[] = {
	{ "initialize", M_INITIALIZE },
	{ "ping", M_PING },
	{ "tools/list", M_TOOLS_LIST },
	{ "tools/call", M_TOOLS_CALL },
	{ "resources/list", M_RESOURCES_LIST },
	{ "resources/templates/list", M_TEMPLATES_LIST },
	{ "resources/read", M_RESOURCES_READ },
	{ "resources/subscribe", M_SUBSCRIBE },
	{ "resources/unsubscribe", M_UNSUBSCRIBE },
	{ "prompts/list", M_PROMPTS_LIST },
	{ "prompts/get", M_PROMPTS_GET },
	{ "logging/setLevel", M_SET_LEVEL },
	{ "completion/complete", M_COMPLETE },
	{ "server/discover", M_DISCOVER },
	{ "subscriptions/listen", M_LISTEN },
	{ "tasks/get", M_TASKS_GET },
	{ "tasks/update", M_TASKS_UPDATE },
	{ "tasks/cancel", M_TASKS_CANCEL },
};

int mcp_method_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(method_table) / sizeof(method_table[0]);
	     i++)
		if (strcmp(name, method_table[i].name) == 0)
			return method_table[i].method;
	return M_UNKNOWN;
}

const char *mcp_method_name(int method)
{
	for (size_t i = 0; i < sizeof(method_table) / sizeof(method_table[0]);
	     i++)
		if (method_table[i].method == method)
			return method_table[i].name;
	return "";
}

void mcp_call_free(struct mcp_call *c)
{
	if (!c)
		return;
	json_decref(c->id);
	json_decref(c->params);
	json_decref(c->progress_token);
	json_decref(c->uri_vars);
	json_decref(c->err_data);
	json_decref(c->state);
	mcp_entry_unref(c->entry);
	free(c->uri);
	free(c->err_msg);
	free(c);
}

/* ---- preparation: validate params, find the target ---- */

/* tools/call and prompts/get both name an entry and may pass an
 * "arguments" object: checks both and looks the entry up. */
static int prep_named(struct mcp_call *c, enum mcp_entry_kind k,
		      const char *what, char *why, size_t n)
{
	json_t *name = json_object_get(c->params, "name");
	json_t *args = json_object_get(c->params, "arguments");

	if (!json_is_string(name)) {
		snprintf(why, n, "name must be a string");
		return -1;
	}
	if (args && !json_is_object(args)) {
		snprintf(why, n, "arguments must be an object");
		return -1;
	}
	c->entry = mcp_registry_find(c->s->srv, k, json_string_value(name));
	if (!c->entry) {
		const char *nm = json_string_value(name);
		mcp_utf8_snprintf(why, n, "Unknown %s: %.*s", what,
				  (int)mcp_utf8_prefix(nm, 128), nm);
		return -1;
	}
	return 0;
}

static int prep_tool(struct mcp_call *c, char *why, size_t n, int *inl)
{
	if (prep_named(c, ENT_TOOL, "tool", why, n) != 0)
		return -1;
	*inl = (c->entry->flags & MCP_TOOL_INLINE) != 0;
	return 0;
}

static int prep_resource(struct mcp_call *c, char *why, size_t n)
{
	json_t *u = json_object_get(c->params, "uri");
	const char *uri;

	if (!json_is_string(u) || json_string_length(u) == 0 ||
	    json_string_length(u) > MCP_MAX_URI_LEN) {
		snprintf(why, n, "uri must be a non-empty string");
		return -1;
	}
	uri = json_string_value(u);
	c->uri = strdup(uri);
	if (!c->uri) {
		snprintf(why, n, "out of memory");
		c->err_code = MCP_ERR_INTERNAL;
		return -1;
	}
	c->entry = mcp_registry_find(c->s->srv, ENT_RESOURCE, uri);
	if (!c->entry)
		c->entry = mcp_registry_match_template(c->s->srv, uri,
						       &c->uri_vars);
	if (!c->entry) {
		snprintf(why, n, "Resource not found");
		c->err_code = MCP_ERR_RESOURCE_NOT_FOUND;
		c->err_data = json_pack("{s:s}", "uri", uri);
		return -1;
	}
	return 0;
}

static int prep_prompt(struct mcp_call *c, char *why, size_t n)
{
	json_t *args = json_object_get(c->params, "arguments");
	const char *k;
	json_t *v;
	size_t i;

	if (prep_named(c, ENT_PROMPT, "prompt", why, n) != 0)
		return -1;
	json_object_foreach (args, k, v) {
		if (!json_is_string(v)) {
			mcp_utf8_snprintf(why, n,
					  "argument %.*s must be a string",
					  (int)mcp_utf8_prefix(k, 64), k);
			return -1;
		}
	}
	json_array_foreach (c->entry->prompt_args, i, v) {
		const char *an = json_string_value(json_object_get(v, "name"));
		if (an && json_is_true(json_object_get(v, "required")) &&
		    !json_object_get(args, an)) {
			mcp_utf8_snprintf(why, n,
					  "Missing required argument: %.*s",
					  (int)mcp_utf8_prefix(an, 64), an);
			return -1;
		}
	}
	return 0;
}

static int prep_complete(struct mcp_call *c, char *why, size_t n)
{
	json_t *ref = json_object_get(c->params, "ref");
	json_t *arg = json_object_get(c->params, "argument");
	const char *type = json_string_value(json_object_get(ref, "type"));

	if (!json_is_object(ref) || !type || !json_is_object(arg) ||
	    !json_is_string(json_object_get(arg, "name")) ||
	    !json_is_string(json_object_get(arg, "value"))) {
		snprintf(why, n, "ref and argument {name, value} are required");
		return -1;
	}
	if (strcmp(type, "ref/prompt") == 0) {
		const char *pn =
			json_string_value(json_object_get(ref, "name"));
		c->entry = pn ? mcp_registry_find(c->s->srv, ENT_PROMPT, pn)
			      : NULL;
	} else if (strcmp(type, "ref/resource") == 0) {
		const char *u = json_string_value(json_object_get(ref, "uri"));
		c->entry = u ? mcp_registry_find(c->s->srv, ENT_TEMPLATE, u)
			     : NULL;
		if (!c->entry && u)
			c->entry =
				mcp_registry_find(c->s->srv, ENT_RESOURCE, u);
	} else {
		snprintf(why, n, "unknown ref type");
		return -1;
	}
	if (!c->entry) {
		snprintf(why, n, "unknown completion reference");
		return -1;
	}
	return 0;
}

static int prep_method(struct mcp_call *c, char *why, size_t whylen,
		       int *inline_ok)
{
	switch (c->method) {
	case M_TOOLS_CALL:
		return prep_tool(c, why, whylen, inline_ok);
	case M_RESOURCES_READ:
		return prep_resource(c, why, whylen);
	case M_PROMPTS_GET:
		return prep_prompt(c, why, whylen);
	case M_COMPLETE:
		return prep_complete(c, why, whylen);
	default:
		snprintf(why, whylen, "method not found");
		c->err_code = MCP_ERR_METHOD_NOT_FOUND;
		return -1;
	}
}

int mcp_call_prepare(struct mcp_call *c, char *why, size_t whylen,
		     int *inline_ok)
{
	*inline_ok = 0;
	if (prep_method(c, why, whylen, inline_ok) != 0)
		return -1;
	/* A retry's requestState is verified before any handler sees it. */
	return mcp_rev2026_prepare_input(c, why, whylen);
}

/* ---- running ---- */

static int run_complete(struct mcp_call *c, json_t **result)
{
	json_t *arg = json_object_get(c->params, "argument");
	json_t *ctx = json_object_get(json_object_get(c->params, "context"),
				      "arguments");
	json_t *completion;
	int rc;

	if (!c->entry->complete) {
		*result = json_pack("{s:{s:[], s:b}}", "completion", "values",
				    "hasMore", 0);
		return 0;
	}
	rc = c->entry->complete(
		c, json_string_value(json_object_get(arg, "name")),
		json_string_value(json_object_get(arg, "value")),
		json_is_object(ctx) ? ctx : NULL, c->entry->ud, &completion);
	if (rc == 0)
		*result = json_pack("{s:o}", "completion", completion);
	return rc;
}

/* Arguments that do not satisfy the tool's inputSchema never reach its
 * handler; the model gets an execution error it can correct (the
 * 2025-11-25 rule for input validation errors). */
static int run_tool(struct mcp_call *c, json_t *args, json_t **result)
{
	json_t *schema = json_object_get(c->entry->def, "inputSchema");
	char why[256];

	if (mcp_schema_validate(schema, args, why, sizeof(why)) != 0) {
		*result = mcp_result_errorf("Invalid arguments for tool %s: %s",
					    c->entry->name, why);
		return *result ? 0 : MCP_ERR_INTERNAL;
	}
	return c->entry->fn.tool(c, args, c->entry->ud, result);
}

static int run_handler(struct mcp_call *c, json_t **result)
{
	json_t *args;

	switch (c->method) {
	case M_TOOLS_CALL:
		args = json_object_get(c->params, "arguments");
		if (!args) {
			args = json_object();
			json_object_set_new(c->params, "arguments", args);
		}
		return run_tool(c, args, result);
	case M_RESOURCES_READ: {
		json_t *contents = NULL;
		int rc = c->entry->fn.resource(c, c->uri, c->entry->ud,
					       &contents);
		if (rc == 0 && mcp_rev2026_is_input_required(contents))
			*result = contents; /* from mcp_call_input_required */
		else if (rc == 0)
			*result = json_pack("{s:o}", "contents", contents);
		return rc;
	}
	case M_PROMPTS_GET:
		args = json_object_get(c->params, "arguments");
		if (!args) {
			args = json_object();
			json_object_set_new(c->params, "arguments", args);
		}
		return c->entry->fn.prompt(c, args, c->entry->ud, result);
	default:
		return run_complete(c, result);
	}
}

static json_t *build_response(struct mcp_call *c, int rc, json_t *result)
{
	json_t *data;

	if (rc == 0 && result && mcp_rev2026_is_input_required(result) &&
	    !mcp_call_can_ask(c)) {
		/* MUST NOT on any other request (built by hand, not by
		 * mcp_call_input_required) */
		rc = MCP_ERR_INTERNAL;
		mcp_call_error(c, rc, "handler asked for input where it cannot",
			       NULL);
	}
	if (rc == 0 && result)
		return jr_result(c->id, result);
	json_decref(result);
	if (rc == MCP_ERR_RESOURCE_NOT_FOUND && !c->err_data && c->uri)
		c->err_data = json_pack("{s:s}", "uri", c->uri);
	data = c->err_data;
	c->err_data = NULL;
	if (rc == 0 || rc == MCP_ERR_REQUEST_CANCELLED || rc > 0)
		rc = MCP_ERR_INTERNAL;
	return jr_error(c->id, c->err_code ? c->err_code : rc,
			c->err_msg ? c->err_msg : "handler failed", data);
}

void mcp_call_run(struct mcp_call *c)
{
	json_t *result = NULL;
	int rc = -1;

	if (!c->err_code)
		rc = run_handler(c, &result);
	/* a handler that took the call over ends it later; c may be gone */
	if (rc != MCP_CALL_PENDING)
		mcp_call_finish(c, rc, result);
}

void mcp_call_finish(struct mcp_call *c, int rc, json_t *result)
{
	mcp_session *s = c->s;
	json_t *resp = NULL;

	/* A cancelled request gets no response (MCP cancellation). */
	if (!atomic_load(&c->cancelled)) {
		resp = build_response(c, rc, result);
		result = NULL;
		if (s->stateless && c->method == M_RESOURCES_READ)
			mcp_rev2026_cache_hints(
				json_object_get(resp, "result"));
	}
	json_decref(result);

	pthread_mutex_lock(&s->mu);
	for (struct mcp_call **pp = &s->calls; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	/* Off the in-flight list (a new request may reuse the id) but still
	 * counted, so the session cannot be freed under this send. */
	mcp_session_respond(s, c->id, resp);
	json_decref(resp);
	mcp_call_free(c);
	pthread_mutex_lock(&s->mu);
	s->ncalls--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* ---- the handler-side API ---- */

void mcp_call_error(mcp_call *call, int code, const char *msg, json_t *data)
{
	free(call->err_msg);
	call->err_msg = msg ? strdup(msg) : NULL;
	call->err_code = code;
	json_decref(call->err_data);
	call->err_data = data;
}

int mcp_call_cancelled(mcp_call *call)
{
	return atomic_load(&call->cancelled);
}

int mcp_call_progress(mcp_call *call, double progress, double total,
		      const char *message)
{
	json_t *params, *msg;
	int rc;

	if (!call->progress_token)
		return 0;
	params = json_pack("{s:O, s:f}", "progressToken", call->progress_token,
			   "progress", progress);
	if (!params)
		return -1;
	if (total > 0)
		json_object_set_new(params, "total", json_real(total));
	if (message)
		json_object_set_new(params, "message", json_string(message));
	msg = jr_request(NULL, "notifications/progress", params);
	rc = mcp_session_send(call->s, call->id, msg);
	json_decref(msg);
	return rc;
}

int mcp_call_log(mcp_call *call, enum mcp_log_level level, const char *logger,
		 json_t *data)
{
	mcp_session *s = call->s;
	json_t *params, *msg;
	int lv, rc;

	pthread_mutex_lock(&s->mu);
	lv = s->log_level;
	pthread_mutex_unlock(&s->mu);
	if (lv >= 0 && (int)level < lv) {
		json_decref(data);
		return 0;
	}
	params = json_pack("{s:s, s:o}", "level", mcp_log_level_name(level),
			   "data", data ? data : json_null());
	if (!params)
		return -1;
	if (logger)
		json_object_set_new(params, "logger", json_string(logger));
	msg = jr_request(NULL, "notifications/message", params);
	rc = mcp_session_send(s, call->id, msg);
	json_decref(msg);
	return rc;
}

void mcp_call_close_stream(mcp_call *call)
{
	if (call->s->close_stream)
		call->s->close_stream(call->s->ctx, call->id);
}

json_t *mcp_call_client_capabilities(mcp_call *call)
{
	return call->s->client_caps;
}

const char *mcp_call_protocol_version(mcp_call *call)
{
	return call->s->version;
}

const char *mcp_call_traceparent(mcp_call *call)
{
	return mcp_traceparent(call->params);
}

json_t *mcp_call_uri_vars(mcp_call *call)
{
	return call->uri_vars;
}

const char *mcp_method_capability(const char *method)
{
	if (!method)
		return NULL;
	if (strcmp(method, "sampling/createMessage") == 0)
		return "sampling";
	if (strcmp(method, "elicitation/create") == 0)
		return "elicitation";
	if (strcmp(method, "roots/list") == 0)
		return "roots";
	return NULL;
}

void mcp_deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Waits for o's answer; returns 0 when answered, else an error code.
 * Called with s->mu held. */
static int wait_answer(struct mcp_call *call, struct mcp_outreq *o,
		       int timeout_ms)
{
	mcp_session *s = call->s;
	struct timespec until;

	mcp_deadline_after(&until, timeout_ms > 0 ? timeout_ms : 60000);
	while (!o->done) {
		if (atomic_load(&call->cancelled) || s->closing)
			return MCP_ERR_REQUEST_CANCELLED;
		if (pthread_cond_timedwait(&s->cv, &s->mu, &until) ==
			    ETIMEDOUT &&
		    !o->done)
			return MCP_ERR_TIMEOUT;
	}
	return 0;
}

static void unlink_outreq(mcp_session *s, struct mcp_outreq *o)
{
	for (struct mcp_outreq **pp = &s->outreqs; *pp; pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	}
}

static void send_cancel(struct mcp_call *call, json_t *id, const char *why)
{
	json_t *msg = jr_request(NULL, "notifications/cancelled",
				 json_pack("{s:O, s:s}", "requestId", id,
					   "reason", why));

	mcp_session_send(call->s, call->id, msg);
	json_decref(msg);
}

int mcp_call_request(mcp_call *call, const char *method, json_t *params,
		     int timeout_ms, json_t **result)
{
	mcp_session *s = call->s;
	const char *cap = mcp_method_capability(method);
	struct mcp_outreq *o;
	json_t *msg, *err;
	int rc;

	*result = NULL;
	/* 2026-07-28 has no server-to-client requests on a response stream
	 * (InputRequiredResult replaces them: mcp_call_input_required). */
	if (s->stateless) {
		json_decref(params);
		return cap && !json_object_get(s->client_caps, cap)
			       ? MCP_ERR_MISSING_CAPABILITY
			       : MCP_ERR_METHOD_NOT_FOUND;
	}
	if (cap && !json_object_get(s->client_caps, cap)) {
		json_decref(params);
		return MCP_ERR_METHOD_NOT_FOUND;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		json_decref(params);
		return MCP_ERR_INTERNAL;
	}
	pthread_mutex_lock(&s->mu);
	o->id = json_integer(s->next_out_id++);
	o->next = s->outreqs;
	s->outreqs = o;
	pthread_mutex_unlock(&s->mu);

	msg = jr_request(o->id, method, params);
	rc = mcp_session_send(s, call->id, msg) == 0 ? 0 : MCP_ERR_INTERNAL;
	json_decref(msg);

	pthread_mutex_lock(&s->mu);
	if (rc == 0)
		rc = wait_answer(call, o, timeout_ms);
	unlink_outreq(s, o);
	pthread_mutex_unlock(&s->mu);

	if (rc == MCP_ERR_TIMEOUT || rc == MCP_ERR_REQUEST_CANCELLED)
		send_cancel(call, o->id,
			    rc == MCP_ERR_TIMEOUT ? "timeout" : "cancelled");
	if (rc == 0) {
		err = json_object_get(o->response, "error");
		if (err) {
			rc = (int)json_integer_value(
				json_object_get(err, "code"));
			if (rc >= 0)
				rc = MCP_ERR_INTERNAL;
			*result = json_incref(err);
		} else {
			*result = json_incref(
				json_object_get(o->response, "result"));
		}
	}
	json_decref(o->id);
	json_decref(o->response);
	free(o);
	return rc;
}
