/* Fuzz target: arbitrary bytes as 2026-07-28 stateless requests, one a
 * line, each on a stateless session of its own as stdio and HTTP run them:
 * the _meta checks, subscriptions/listen filters (with list changes
 * broadcast to the open subscriptions), inputResponses and requestState
 * on tools/call, prompts/get and resources/read, and Mcp-Param headers
 * (x-mcp-header; the "fuzz/headers" object in _meta plays the headers),
 * checked directly as on mcpd's HTTP endpoint, then carried in _meta as
 * a backend's HTTP endpoint carries them (param_headers.h) and checked
 * as mcpd's channel engine does; a carried form in the input's own _meta
 * is taken and checked as it comes. And the client's side: the Mcp-Param
 * headers a stateless POST makes of a tools/call's arguments (for the
 * "hdr" tool's schema, or "fuzz/schema" in _meta) must pass that check.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "mcp_internal.h"
#include "param_headers.h"
#include "rev2026.h"
#include "zonegate/mcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SESSIONS 16

static int discard(void *ctx, const json_t *related, const char *msg,
		   size_t len)
{
	(void)ctx;
	(void)related;
	(void)msg;
	(void)len;
	return 0;
}

/* Asks once (state from the arguments), completes on the retry. */
static int tool_ask(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	(void)ud;
	if (mcp_call_state(call) && mcp_call_input_response(call, "q")) {
		*result = mcp_result_text("done");
		return 0;
	}
	return mcp_call_input_required(call,
				       json_pack("{s:{s:s, s:{s:s}}}", "q",
						 "method", "elicitation/create",
						 "params", "message", "?"),
				       json_deep_copy(args), result);
}

static int read_ask(mcp_call *call, const char *uri, void *ud, json_t **result)
{
	(void)ud;
	if (!mcp_call_state(call))
		return mcp_call_input_required(call, NULL, json_string(uri),
					       result);
	*result = json_pack("[{s:s, s:s}]", "uri", uri, "text", "x");
	return 0;
}

static int prompt_ask(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	(void)ud;
	(void)args;
	if (!mcp_call_input_response(call, "c"))
		return mcp_call_input_required(call,
					       json_pack("{s:{s:s, s:{}}}", "c",
							 "method", "roots/list",
							 "params"),
					       NULL, result);
	*result = json_pack("{s:[]}", "messages");
	return 0;
}

/* mcp_header_fn: ctx is the request's _meta; headers by exact name. */
static const char *fuzz_header(void *ctx, const char *name)
{
	return json_string_value(
		json_object_get(json_object_get(ctx, "fuzz/headers"), name));
}

/* The relay's side, then mcpd's channel side: the "fuzz/headers" members
 * (if any) become the carried form, which mcp_rev2026_check_carried takes
 * and checks. Returns 0, or -1 with *why filled. */
static int carried_check(mcp_server *srv, struct jr_msg *m,
			 struct mcp_rev_refusal *why)
{
	json_t *h = json_object_get(json_object_get(m->params, "_meta"),
				    "fuzz/headers");
	json_t *obj, *v;
	const char *k, *err = NULL;

	if (json_is_object(h)) {
		obj = json_object();
		json_object_foreach (h, k, v)
			if (mcp_param_carry_add(obj, k, json_string_value(v),
						&err) != 0)
				break;
		if (err || mcp_param_carry_set(m->params, obj) != 0) {
			json_decref(err ? obj : NULL);
			*why = (struct mcp_rev_refusal){ 400, -32020, "carry",
							 NULL };
			return -1;
		}
	}
	return mcp_rev2026_check_carried(srv, m, why);
}

/* ---- the client's Mcp-Param headers (mcp/client_http.c) ---- */

#define HDR_SCHEMA                                     \
	"{\"type\":\"object\",\"properties\":{"        \
	"\"s\":{\"type\":\"string\",\"x-mcp-header\":" \
	"\"S\"},\"o\":{\"type\":\"object\","           \
	"\"properties\":{\"i\":{\"type\":\"integer\"," \
	"\"x-mcp-header\":\"I\"},\"b\":{\"type\":"     \
	"\"boolean\",\"x-mcp-header\":\"B\"}}}}}"

struct built {
	json_t *h;	/* "Mcp-Param-NAME" -> value */
	int unsendable; /* a value no header holds, or one Name twice */
};

static int build_one(void *ctx, const char *name, json_t *v)
{
	struct built *b = ctx;
	char hn[96];
	char *s;
	const char *had;

	if (!v)
		return 0;
	s = mcp_param_value(v);
	snprintf(hn, sizeof(hn), "Mcp-Param-%s", name);
	had = json_string_value(json_object_get(b->h, hn));
	if (!s || (had && strcmp(had, s) != 0))
		b->unsendable = 1;
	else if (!had)
		json_object_set_new(b->h, hn, json_string(s));
	free(s);
	return 0;
}

static const char *built_header(void *ctx, const char *name)
{
	return json_string_value(json_object_get(ctx, name));
}

/* What the client sends for args under schema passes the check whenever
 * every annotated value could be sent; else the fuzzer stops here. */
static void client_headers_pass(const struct jr_msg *m)
{
	static json_t *hdr_schema;
	json_t *schema = json_object_get(json_object_get(m->params, "_meta"),
					 "fuzz/schema");
	json_t *args = json_object_get(m->params, "arguments");
	struct built b = { json_object(), 0 };
	const char *why = NULL;

	if (!hdr_schema)
		hdr_schema = json_loads(HDR_SCHEMA, 0, NULL);
	if (!schema)
		schema = hdr_schema;
	mcp_param_each(schema, args, build_one, &b);
	if (!b.unsendable &&
	    mcp_param_check(schema, args, built_header, b.h, &why) != 0)
		abort();
	json_decref(b.h);
}

static mcp_server *server(void)
{
	static mcp_server *srv;
	char err[64];

	if (!srv) {
		struct mcp_tool t = { .name = "ask",
				      .fn = tool_ask,
				      .flags = MCP_TOOL_INLINE };
		struct mcp_resource r = { .uri = "x://r",
					  .name = "r",
					  .fn = read_ask };
		struct mcp_prompt p = { .name = "p", .fn = prompt_ask };
		struct mcp_tool h = { .name = "hdr",
				      .input_schema = HDR_SCHEMA,
				      .fn = tool_ask,
				      .flags = MCP_TOOL_INLINE };
		srv = mcp_server_new(NULL);
		mcp_server_add_tool(srv, &t, err, sizeof(err));
		mcp_server_add_resource(srv, &r, err, sizeof(err));
		mcp_server_add_prompt(srv, &p, err, sizeof(err));
		mcp_server_add_tool(srv, &h, err, sizeof(err));
		mcp_server_set_max_listens(srv, 8);
	}
	return srv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mcp_server *srv = server();
	mcp_session *open[MAX_SESSIONS];
	const char *p = (const char *)data, *end = p + size;
	struct mcp_rev_refusal why;
	unsigned n = 0;

	while (p < end && n < MAX_SESSIONS) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct jr_msg m;

		jr_parse(p, len, 1 << 20, 64, &m);
		p += len + 1;
		if (m.kind == JR_REQUEST && strcmp(m.method, "tools/call") == 0)
			client_headers_pass(&m);
		if (m.kind != JR_REQUEST || !mcp_rev2026_wanted(&m, NULL) ||
		    mcp_rev2026_check_meta(&m, &why) != 0 ||
		    mcp_rev2026_check_params(srv, &m, fuzz_header,
					     json_object_get(m.params, "_meta"),
					     &why) != 0 ||
		    carried_check(srv, &m, &why) != 0) {
			if (m.kind == JR_REQUEST &&
			    mcp_rev2026_wanted(&m, NULL))
				json_decref(why.data);
			jr_msg_clear(&m);
			continue;
		}
		open[n] = mcp_session_new(srv, discard, NULL);
		mcp_session_begin_stateless(open[n],
					    json_object_get(m.params, "_meta"));
		mcp_session_input_msg(open[n], &m);
		n++;
	}
	/* list changes reach the subscriptions still open */
	mcp_server_broadcast(srv, "notifications/tools/list_changed", NULL);
	mcp_server_resource_updated(srv, "x://r");
	mcp_server_end_listens(srv);
	for (unsigned i = 0; i < n; i++) {
		mcp_session_drain(open[i], 1000);
		mcp_session_free(open[i]);
	}
	return 0;
}
