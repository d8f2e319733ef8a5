/* 2026-07-28 multi round-trip requests on the server side: checking a
 * retry's inputResponses and requestState before its handler runs, and
 * the handler-side API that answers with an InputRequiredResult. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp_internal.h"
#include "rev2026.h"
#include "session_methods.h"

int mcp_call_can_ask(mcp_call *call)
{
	return call->s->stateless &&
	       (call->method == M_TOOLS_CALL || call->method == M_PROMPTS_GET ||
		call->method == M_RESOURCES_READ);
}

/* What a sealed state is bound to: the tool or prompt name, or the URI. */
static const char *call_target(struct mcp_call *c)
{
	if (c->method == M_RESOURCES_READ)
		return c->uri;
	return json_string_value(json_object_get(c->params, "name"));
}

static json_t *call_args(struct mcp_call *c)
{
	return json_object_get(c->params, "arguments");
}

int mcp_rev2026_prepare_input(struct mcp_call *c, char *why, size_t n)
{
	json_t *resp = json_object_get(c->params, "inputResponses");
	json_t *rs = json_object_get(c->params, "requestState");
	const char *k, *what;
	json_t *v;

	if (!mcp_call_can_ask(c))
		return 0;
	if (resp && !json_is_object(resp)) {
		snprintf(why, n, "inputResponses must be an object");
		return -1;
	}
	json_object_foreach (resp, k, v) {
		if (!json_is_object(v)) {
			snprintf(why, n,
				 "each value of inputResponses must be a "
				 "result object");
			return -1;
		}
	}
	if (!rs)
		return 0;
	if (!json_is_string(rs)) {
		snprintf(why, n, "requestState must be a string");
		return -1;
	}
	if (mcp_state_open(&c->s->srv->state_keys, json_string_value(rs),
			   json_string_length(rs), mcp_method_name(c->method),
			   call_target(c), call_args(c), time(NULL), &c->state,
			   &what) != 0) {
		snprintf(why, n, "%s", what);
		return -1;
	}
	return 0;
}

json_t *mcp_call_input_response(mcp_call *call, const char *key)
{
	if (!mcp_call_can_ask(call))
		return NULL;
	return json_object_get(json_object_get(call->params, "inputResponses"),
			       key);
}

json_t *mcp_call_state(mcp_call *call)
{
	return call->state;
}

/* Checks every request of the map; returns 0 or a code after setting the
 * call's error. */
static int check_requests(mcp_call *call, json_t *requests)
{
	const char *k, *cap;
	json_t *v;

	if (!json_is_object(requests)) {
		mcp_call_error(call, MCP_ERR_INTERNAL,
			       "inputRequests must be an object", NULL);
		return MCP_ERR_INTERNAL;
	}
	json_object_foreach (requests, k, v) {
		cap = mcp_method_capability(
			json_string_value(json_object_get(v, "method")));
		if (!cap) {
			mcp_call_error(call, MCP_ERR_INTERNAL,
				       "an input request must be "
				       "elicitation/create, "
				       "sampling/createMessage or roots/list",
				       NULL);
			return MCP_ERR_INTERNAL;
		}
		if (!json_object_get(call->s->client_caps, cap)) {
			mcp_call_error(call, MCP_ERR_MISSING_CAPABILITY,
				       "the request needs a client capability "
				       "it did not declare",
				       json_pack("{s:{s:{}}}",
						 "requiredCapabilities", cap));
			return MCP_ERR_MISSING_CAPABILITY;
		}
	}
	return 0;
}

int mcp_call_input_required(mcp_call *call, json_t *requests, json_t *state,
			    json_t **result)
{
	mcp_server *srv = call->s->srv;
	char *tok = NULL;
	int rc = 0;

	*result = NULL;
	if (!mcp_call_can_ask(call)) {
		mcp_call_error(call, MCP_ERR_INVALID_REQUEST,
			       "this request cannot ask the client for input "
			       "(only 2026-07-28 tools/call, prompts/get and "
			       "resources/read can)",
			       NULL);
		rc = MCP_ERR_INVALID_REQUEST;
		goto out;
	}
	if ((!requests && !state) ||
	    (requests && (rc = check_requests(call, requests)) != 0)) {
		if (!rc)
			mcp_call_error(call, MCP_ERR_INTERNAL,
				       "an InputRequiredResult needs input "
				       "requests or state",
				       NULL);
		rc = rc ? rc : MCP_ERR_INTERNAL;
		goto out;
	}
	if (state) {
		tok = mcp_state_seal(&srv->state_keys,
				     mcp_method_name(call->method),
				     call_target(call), call_args(call), state,
				     time(NULL), srv->state_ttl);
		if (!tok) {
			mcp_call_error(call, MCP_ERR_INTERNAL,
				       "request state too large", NULL);
			rc = MCP_ERR_INTERNAL;
			goto out;
		}
	}
	*result = json_pack("{s:s}", "resultType", "input_required");
	if (*result && requests)
		json_object_set(*result, "inputRequests", requests);
	if (*result && tok)
		json_object_set_new(*result, "requestState", json_string(tok));
	if (!*result) {
		mcp_call_error(call, MCP_ERR_INTERNAL, "out of memory", NULL);
		rc = MCP_ERR_INTERNAL;
	}
out:
	free(tok);
	json_decref(requests);
	json_decref(state);
	return rc;
}

int mcp_rev2026_is_input_required(const json_t *result)
{
	const char *t =
		json_string_value(json_object_get(result, "resultType"));

	return t && strcmp(t, "input_required") == 0;
}

int mcp_server_set_state_keys(mcp_server *srv, const char *path, unsigned ttl_s,
			      char *err, size_t errlen)
{
	struct mcp_state_keys k;

	if (ttl_s > MCP_STATE_MAX_TTL) {
		snprintf(err, errlen, "state TTL must be 1 to %d seconds",
			 MCP_STATE_MAX_TTL);
		return -1;
	}
	if (path) {
		if (mcp_state_keys_load(path, &k, err, errlen) != 0)
			return -1;
		srv->state_keys = k;
		memset(&k, 0, sizeof(k));
	}
	if (ttl_s)
		srv->state_ttl = ttl_s;
	return 0;
}
