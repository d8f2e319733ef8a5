/* Fuzz target: the tasks extension (io.modelcontextprotocol/tasks) through
 * the message transport's connection (mcp_conn, as stdio and channels run
 * it), as a pipe that chooses per request (stdio) and as a channel
 * stream that its first request decides: arbitrary bytes, one message a
 * line. Task ids are random, so a
 * string "$N" in params.taskId or in a taskIds array stands for the id of
 * the N-th task created so far (N mod their count): tasks/get, tasks/update
 * and tasks/cancel then reach live tasks, in every state, and
 * subscriptions/listen with taskIds gets their notifications. Every tool
 * runs inline, so each input replays the same way. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "zonegate/mcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IDS 16

struct ids {
	char v[MAX_IDS][40];
	unsigned n;
};

/* Keeps the taskId of every CreateTaskResult sent. */
static int capture(void *ctx, const json_t *related, const char *msg,
		   size_t len)
{
	struct ids *ids = ctx;
	json_t *m = json_loadb(msg, len, 0, NULL);
	json_t *r = json_object_get(m, "result");
	const char *rt = json_string_value(json_object_get(r, "resultType"));
	const char *id = json_string_value(json_object_get(r, "taskId"));

	(void)related;
	if (rt && strcmp(rt, "task") == 0 && id && ids->n < MAX_IDS &&
	    strlen(id) < sizeof(ids->v[0]))
		snprintf(ids->v[ids->n++], sizeof(ids->v[0]), "%s", id);
	json_decref(m);
	return 0;
}

/* Asks once for "q" (inside its task), then answers. */
static int tool_ask(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	(void)ud;
	(void)args;
	if (mcp_call_input_response(call, "q")) {
		*result = mcp_result_text("done");
		return 0;
	}
	return mcp_call_input_required(call,
				       json_pack("{s:{s:s, s:{s:s}}}", "q",
						 "method", "elicitation/create",
						 "params", "message", "?"),
				       NULL, result);
}

/* Echoes its arguments (large ones pass the store's byte cap). */
static int tool_echo(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	char *text = json_dumps(args, JSON_COMPACT);

	(void)call;
	(void)ud;
	*result = text ? mcp_result_text(text) : NULL;
	free(text);
	return *result ? 0 : MCP_ERR_INTERNAL;
}

static int tool_fail(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	(void)args;
	(void)ud;
	(void)result;
	mcp_call_error(call, MCP_ERR_INTERNAL, "failed", NULL);
	return MCP_ERR_INTERNAL;
}

static mcp_server *server(void)
{
	static mcp_server *srv;
	char err[64];

	if (!srv) {
		const struct mcp_tool t[] = {
			{ .name = "ask",
			  .fn = tool_ask,
			  .flags = MCP_TOOL_INLINE | MCP_TOOL_TASK },
			{ .name = "echo",
			  .fn = tool_echo,
			  .flags = MCP_TOOL_INLINE | MCP_TOOL_TASK },
			{ .name = "fail",
			  .fn = tool_fail,
			  .flags = MCP_TOOL_INLINE | MCP_TOOL_TASK_REQUIRED },
		};
		srv = mcp_server_new(NULL);
		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
			mcp_server_add_tool(srv, &t[i], err, sizeof(err));
		/* few tasks, few bytes, a short life: the caps are hit */
		mcp_server_set_task_limits(srv, 8, 4096, 1000);
		mcp_server_set_max_listens(srv, 8);
	}
	return srv;
}

/* For a string v "$N": a new string, the N-th captured id (N mod their
 * count); else NULL. */
static json_t *placeholder(const struct ids *ids, json_t *v)
{
	const char *s = json_string_value(v);

	if (!s || s[0] != '$' || ids->n == 0)
		return NULL;
	return json_string(ids->v[strtoul(s + 1, NULL, 10) % ids->n]);
}

/* Rewrites line (len bytes) with the placeholders filled in; a new
 * buffer in *out (free it), or NULL to feed the line as it is. */
static char *fill(const struct ids *ids, const char *line, size_t len,
		  size_t *out_len)
{
	json_t *m = json_loadb(line, len, 0, NULL), *p, *v, *tl;
	char *text = NULL;
	size_t i;

	p = json_object_get(m, "params");
	v = placeholder(ids, json_object_get(p, "taskId"));
	if (v)
		json_object_set_new(p, "taskId", v);
	tl = json_object_get(json_object_get(p, "notifications"), "taskIds");
	json_array_foreach (tl, i, v) {
		json_t *r = placeholder(ids, v);
		if (r)
			json_array_set_new(tl, i, r);
	}
	if (m)
		text = json_dumps(m, JSON_COMPACT);
	if (text)
		*out_len = strlen(text);
	json_decref(m);
	return text;
}

/* Feeds the lines of data to a new connection with flags. */
static void run(const uint8_t *data, size_t size, unsigned flags)
{
	struct ids ids = { .n = 0 };
	mcp_conn *c = mcp_conn_new(server(), capture, &ids, flags);
	const char *p = (const char *)data, *end = p + size;
	unsigned lines = 0;

	if (!c)
		return;
	while (p < end && lines++ < 64) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p), n = 0;
		char *text = fill(&ids, p, len, &n);

		if (text)
			mcp_conn_input(c, text, n);
		else
			mcp_conn_input(c, p, len);
		free(text);
		p += len + 1;
	}
	mcp_conn_drain(c, 1000);
	mcp_conn_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, 0); /* stdio: per request */
	run(data, size, MCP_CONN_PER_STREAM | MCP_CONN_RELATE); /* a stream */
	return 0;
}
