/* Fuzz target: arbitrary bytes as JSON-RPC messages into an initialized
 * MCP session (parser, classifier, every method's parameter checks).
 * Each input is split on newlines into several messages. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "zonegate/mcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int discard(void *ctx, const json_t *related, const char *msg,
		   size_t len)
{
	(void)ctx;
	(void)related;
	(void)msg;
	(void)len;
	return 0;
}

static int tool_echo(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	(void)call;
	(void)ud;
	*result =
		mcp_result_text(json_string_value(json_object_get(args, "t")));
	return 0;
}

static mcp_server *server(void)
{
	static mcp_server *srv;
	char err[64];

	if (!srv) {
		struct mcp_tool t = { .name = "echo",
				      .fn = tool_echo,
				      .flags = MCP_TOOL_INLINE };
		srv = mcp_server_new(NULL);
		mcp_server_add_tool(srv, &t, err, sizeof(err));
	}
	return srv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char init[] =
		"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
		"\"params\":{\"protocolVersion\":\"2025-11-25\","
		"\"capabilities\":{}}}";
	mcp_session *s = mcp_session_new(server(), discard, NULL);
	const char *p = (const char *)data, *end = p + size;
	struct jr_msg m;

	/* The bare parser, on the whole input. */
	jr_parse(p, size, 1 << 20, 64, &m);
	jr_msg_clear(&m);
	mcp_session_input(s, init, sizeof(init) - 1);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		mcp_session_input(s, p, n);
		p += n + 1;
	}
	mcp_session_drain(s, 1000);
	mcp_session_free(s);
	return 0;
}
