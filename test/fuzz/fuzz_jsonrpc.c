/* Fuzz target: arbitrary bytes as JSON-RPC messages into an initialized
 * MCP session (parser, classifier, every method's parameter checks).
 * Each input is split on newlines into several messages. The fast JSON
 * path (json_fast.c) is checked against jansson on the whole input: where
 * it decodes, it must give jansson's tree, and it must refuse whatever
 * jansson refuses. */
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

/* Aborts (a crash for the fuzzer) when the fast path differs. */
static void check_fast(const char *p, size_t size)
{
	json_t *fast = jr_fast_decode(p, size, 64);
	json_t *slow = json_loadb(p, size,
				  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
				  NULL);
	char *a = NULL, *b = NULL;

	if (fast) {
		a = json_dumps(fast, JSON_COMPACT | JSON_ENCODE_ANY);
		b = slow ? json_dumps(slow, JSON_COMPACT | JSON_ENCODE_ANY)
			 : NULL;
		if (!slow || !json_equal(fast, slow) || !a || !b ||
		    strcmp(a, b) != 0)
			abort();
	}
	free(a);
	free(b);
	json_decref(fast);
	json_decref(slow);
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
	if (jr_depth_ok(p, size, 64))
		check_fast(p, size);
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
