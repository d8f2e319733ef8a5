/* Tools every mcpd offers whatever tool sets it hosts: the zone's clock
 * (agents have no trustworthy notion of "now", and questions such as
 * "in the past year" need one) and a description of this server. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "builtin_tools.h"

static int tool_time_now(mcp_call *call, json_t *args, void *ud,
			 json_t **result)
{
	struct timespec ts;
	struct tm tm;
	char iso[32], text[96];
	json_t *res;

	(void)call;
	(void)args;
	(void)ud;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(text, sizeof(text), "The current UTC time is %s.", iso);
	res = mcp_result_text(text);
	if (!res)
		return MCP_ERR_INTERNAL;
	json_object_set_new(res, "structuredContent",
			    json_pack("{s:s, s:I}", "utc", iso, "unix",
				      (json_int_t)ts.tv_sec));
	*result = res;
	return 0;
}

static const char time_out_schema[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"utc\":{\"type\":\"string\",\"description\":\"ISO 8601 UTC time\"},"
	"\"unix\":{\"type\":\"integer\",\"description\":\"seconds since the "
	"epoch\"}},\"required\":[\"utc\",\"unix\"]}";

int mcp_builtin_tools_register(mcp_server *srv, char *err, size_t errlen)
{
	struct mcp_tool t = {
		.name = "time_now",
		.title = "Current time",
		.description =
			"Returns the current date and time in UTC, as "
			"the tool zone's clock knows it. Use it to "
			"resolve relative dates such as 'the past year'.",
		.input_schema = "{\"type\":\"object\",\"properties\":{},"
				"\"additionalProperties\":false}",
		.output_schema = time_out_schema,
		.annotations =
			"{\"readOnlyHint\":true,\"idempotentHint\":false,"
			"\"openWorldHint\":false}",
		.fn = tool_time_now,
		.flags = MCP_TOOL_INLINE,
	};

	return mcp_server_add_tool(srv, &t, err, errlen);
}
