/* Tools every mcpd offers whatever tool sets it hosts: the zone's clock
 * (agents have no trustworthy notion of "now", and questions such as
 * "in the past year" need one; --as-of fixes it for reproducible runs). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtin_tools.h"

/* The clock: the real one, or the instant --as-of fixed. */
struct clock {
	int fixed;
	time_t at;
};

static int tool_time_now(mcp_call *call, json_t *args, void *ud,
			 json_t **result)
{
	const struct clock *c = ud;
	struct timespec ts;
	struct tm tm;
	char iso[32], text[160];
	json_t *res;

	(void)call;
	(void)args;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (c->fixed)
		ts.tv_sec = c->at;
	gmtime_r(&ts.tv_sec, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(text, sizeof(text), "The current UTC time is %s%s.", iso,
		 c->fixed ? " (fixed by mcpd --as-of: not the real time)" : "");
	res = mcp_result_text(text);
	if (!res)
		return MCP_ERR_INTERNAL;
	json_object_set_new(res, "structuredContent",
			    json_pack("{s:s, s:I, s:b}", "utc", iso, "unix",
				      (json_int_t)ts.tv_sec, "fixed",
				      c->fixed));
	*result = res;
	return 0;
}

/* Reads n digits at s into *v; 0, or -1 if one is not a digit. */
static int digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* Parses YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC) into *at; a date that
 * does not exist (02-30, 25:00) is refused. 0, or -1. */
static int parse_as_of(const char *s, time_t *at)
{
	size_t n = strlen(s);
	struct tm tm = { 0 }, back;
	int y, mo, d, h = 0, mi = 0, se = 0;

	if ((n != 10 && n != 20) || s[4] != '-' || s[7] != '-' ||
	    digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d))
		return -1;
	if (n == 20 && (s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
			s[19] != 'Z' || digits(s + 11, 2, &h) ||
			digits(s + 14, 2, &mi) || digits(s + 17, 2, &se)))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || se > 59)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*at = timegm(&tm);
	if (*at == (time_t)-1 || !gmtime_r(at, &back) || back.tm_mday != d)
		return -1;
	return 0;
}

static const char time_out_schema[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"utc\":{\"type\":\"string\",\"description\":\"ISO 8601 UTC time\"},"
	"\"unix\":{\"type\":\"integer\",\"description\":\"seconds since the "
	"epoch\"},\"fixed\":{\"type\":\"boolean\",\"description\":\"true "
	"when mcpd --as-of fixed the clock: not the real time\"}},"
	"\"required\":[\"utc\",\"unix\"]}";

int mcp_builtin_tools_register(mcp_server *srv, const char *as_of, char *err,
			       size_t errlen)
{
	/* One clock per process (mcpd registers the builtins once); static,
	 * so it lives as long as the server that uses it and is never a
	 * leak. A second call sets it anew. */
	static struct clock the_clock;
	struct clock *clk = &the_clock, c = { 0 };
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
		.ud = clk,
		.flags = MCP_TOOL_INLINE,
	};

	if (as_of && parse_as_of(as_of, &c.at) != 0) {
		snprintf(err, errlen,
			 "--as-of: expected YYYY-MM-DD or "
			 "YYYY-MM-DDTHH:MM:SSZ (UTC), got '%.40s'",
			 as_of);
		return -1;
	}
	c.fixed = as_of != NULL;
	*clk = c;
	return mcp_server_add_tool(srv, &t, err, errlen);
}
