/* Unit tests of the MCP HTTP client library (zg_mcp_client): the SSE
 * parser (line ends, fields, split invariance, caps), the URL rule
 * (http:// only to loopback), the configured headers' checks and the
 * values a stateless session's Mcp-Param headers carry. */
#include <stdlib.h>
#include <string.h>

#include "client_http.h"
#include "param_headers.h"
#include "zgtest.h"

/* What the parser gave: "type|id|data;" per event. */
struct got {
	char buf[4096];
	size_t len;
	int n;
};

static int on_event(void *ud, const char *type, const char *data, size_t len,
		    const char *id)
{
	struct got *g = ud;
	int k = snprintf(g->buf + g->len, sizeof(g->buf) - g->len,
			 "%s|%s|%.*s;", type, id, (int)len, data);

	if (k > 0 && (size_t)k < sizeof(g->buf) - g->len)
		g->len += (size_t)k;
	g->n++;
	return 0;
}

/* Parses text in pieces of step bytes (0: at once) with cap max. Returns
 * the feed's result; the events in g. */
static int parse(const char *text, size_t step, size_t max, struct got *g)
{
	struct mcp_sse p;
	size_t len = strlen(text), i = 0;
	int rc = 0;

	memset(g, 0, sizeof(*g));
	mcp_sse_init(&p, max, on_event, g);
	if (!step)
		step = len ? len : 1;
	while (i < len && rc == 0) {
		size_t n = len - i < step ? len - i : step;
		rc = mcp_sse_feed(&p, text + i, n);
		i += n;
	}
	mcp_sse_clear(&p);
	return rc;
}

static void test_sse_fields(void)
{
	struct got g;

	CHECK_EQ_INT(parse("data: {\"a\":1}\n\n", 0, 1024, &g), 0);
	CHECK_STR(g.buf, "message||{\"a\":1};");
	/* CR, LF and CRLF line ends; comment; no space after the colon */
	CHECK_EQ_INT(parse(": hi\r\nid: 7_1\rdata:x\r\ndata: y\n\r\n", 0, 1024,
			   &g),
		     0);
	CHECK_STR(g.buf, "message|7_1|x\ny;");
	/* a named event, an empty (priming) event, the id carried over */
	CHECK_EQ_INT(parse("event: ping\ndata: 1\n\nid: 3\nretry: 50\ndata: "
			   "\n\ndata: z\n\n",
			   0, 1024, &g),
		     0);
	CHECK_STR(g.buf, "ping||1;message|3|;message|3|z;");
	/* no data: no event; a line without a colon is a field name */
	CHECK_EQ_INT(parse("id: 9\n\ndata\n\n", 0, 1024, &g), 0);
	CHECK_STR(g.buf, "message|9|;");
	/* an event not ended by a blank line is never delivered */
	CHECK_EQ_INT(parse("data: cut", 0, 1024, &g), 0);
	CHECK_EQ_INT(g.n, 0);
	/* a leading byte order mark is skipped, even split */
	CHECK_EQ_INT(parse("\xEF\xBB\xBF"
			   "data: b\n\n",
			   1, 1024, &g),
		     0);
	CHECK_STR(g.buf, "message||b;");
	/* an event type over the cap makes the event one not ours */
	CHECK_EQ_INT(parse("event: "
			   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			   "aaaaaaaaaaaaaaaaaaaaa\ndata: x\n\ndata: y\n\n",
			   0, 1024, &g),
		     0);
	CHECK_STR(g.buf, "message||y;");
}

/* Every split of the input gives the same events as feeding it whole. */
static void test_sse_splits(void)
{
	const char *s =
		"\xEF\xBB\xBFid: a\r\ndata: one\r\ndata: two\r\n\r\n:c\r"
		"event: message\rdata: three\r\r";
	struct got whole, part;

	CHECK_EQ_INT(parse(s, 0, 1024, &whole), 0);
	CHECK_STR(whole.buf, "message|a|one\ntwo;message|a|three;");
	for (size_t step = 1; step < strlen(s); step++) {
		CHECK_EQ_INT(parse(s, step, 1024, &part), 0);
		CHECK_STR(part.buf, whole.buf);
	}
}

static void test_sse_caps(void)
{
	struct got g;
	char big[300];

	memset(big, 'x', sizeof(big));
	memcpy(big, "data: ", 6);
	big[sizeof(big) - 1] = '\0';
	/* one line over the cap, fed whole or by the byte */
	CHECK_EQ_INT(parse(big, 0, 100, &g), -1);
	CHECK_EQ_INT(parse(big, 1, 100, &g), -1);
	/* many small data lines adding up to more than the cap */
	CHECK_EQ_INT(parse("data: 0123456789\ndata: 0123456789\ndata: "
			   "0123456789\n\n",
			   0, 25, &g),
		     -1);
	CHECK_EQ_INT(g.n, 0);
	/* exactly at the cap: delivered */
	CHECK_EQ_INT(parse("data: 0123456789\n\n", 0, 10, &g), 0);
	CHECK_EQ_INT(g.n, 1);
	/* endless blank lines and comments cost nothing and pass */
	CHECK_EQ_INT(parse("\n\n\n\n: x\n\n\n", 1, 10, &g), 0);
	CHECK_EQ_INT(g.n, 0);
}

static void test_url(void)
{
	char err[160];

	CHECK(mcp_hc_url_ok("https://mcp.example.com/mcp", 0, err,
			    sizeof(err)));
	CHECK(mcp_hc_url_ok("http://127.0.0.1:8080/mcp", 0, err, sizeof(err)));
	CHECK(mcp_hc_url_ok("http://127.5.6.7/mcp", 0, err, sizeof(err)));
	CHECK(mcp_hc_url_ok("http://localhost:1/mcp", 0, err, sizeof(err)));
	CHECK(mcp_hc_url_ok("http://[::1]:9/mcp", 0, err, sizeof(err)));
	CHECK(!mcp_hc_url_ok("http://10.0.0.1/mcp", 0, err, sizeof(err)));
	CHECK(strstr(err, "loopback") != NULL);
	CHECK(!mcp_hc_url_ok("http://[::ffff:127.0.0.1]/mcp", 0, err,
			     sizeof(err)));
	CHECK(!mcp_hc_url_ok("http://localhost.evil.example/mcp", 0, err,
			     sizeof(err)));
	CHECK(!mcp_hc_url_ok("http://128.0.0.1/mcp", 0, err, sizeof(err)));
	CHECK(mcp_hc_url_ok("http://10.0.0.1/mcp", 1, err, sizeof(err)));
	CHECK(!mcp_hc_url_ok("https://u:p@example.com/mcp", 0, err,
			     sizeof(err)));
	CHECK(!mcp_hc_url_ok("https://u@example.com/mcp", 0, err, sizeof(err)));
	CHECK(!mcp_hc_url_ok("file:///etc/passwd", 1, err, sizeof(err)));
	CHECK(!mcp_hc_url_ok("gopher://example.com/", 1, err, sizeof(err)));
	CHECK(!mcp_hc_url_ok("example.com/mcp", 1, err, sizeof(err)));
	CHECK(!mcp_hc_url_ok("", 1, err, sizeof(err)));
}

static void msg_cb(void *ud, uint32_t sid, const char *m, size_t len)
{
	(void)ud;
	(void)sid;
	(void)m;
	(void)len;
}

static void test_headers(void)
{
	static const struct mcp_hc_ops ops = { .message = msg_cb };
	struct mcp_hc_opts o = { .url = "https://example.com/mcp" };
	char err[160];
	struct mcp_hc *hc = mcp_hc_new(&o, &ops, NULL, err, sizeof(err));
	const char *good[] = { "Authorization: Bearer s3cret", "X-Api-Key: k" };
	const char *crlf[] = { "Authorization: a\r\nX-Evil: 1" };
	const char *own[] = { "mcp-session-id: stolen" };
	const char *noname[] = { ": v" };

	CHECK(hc != NULL);
	if (!hc)
		return;
	CHECK_EQ_INT(mcp_hc_set_headers(hc, good, 2, err, sizeof(err)), 0);
	CHECK_EQ_INT(mcp_hc_set_headers(hc, crlf, 1, err, sizeof(err)), -1);
	CHECK(strstr(err, "Evil") == NULL); /* never echoes a value */
	CHECK_EQ_INT(mcp_hc_set_headers(hc, own, 1, err, sizeof(err)), -1);
	CHECK_EQ_INT(mcp_hc_set_headers(hc, noname, 1, err, sizeof(err)), -1);
	/* a session that never sent has nothing to poll */
	CHECK(mcp_hc_open(hc) > 0);
	CHECK_EQ_INT(mcp_hc_send(hc, 999, "{}", 2), -1);
	mcp_hc_free(hc);
	o.url = "http://192.0.2.1/mcp";
	CHECK(mcp_hc_new(&o, &ops, NULL, err, sizeof(err)) == NULL);
}

/* mcp_header_fn over one header, "Mcp-Param-Region". */
static const char *one_header(void *ctx, const char *name)
{
	return strcmp(name, "Mcp-Param-Region") == 0 ? ctx : NULL;
}

/* The header sent for args (stolen) {"r": value} passes the check. */
static void check_sent(json_t *schema, json_t *args)
{
	const char *why = NULL;
	char *v = mcp_param_value(json_object_get(args, "r"));

	CHECK(v != NULL);
	CHECK_EQ_INT(mcp_param_check(schema, args, one_header, v, &why), 0);
	free(v);
	json_decref(args);
}

/* The value a stateless POST sends for an x-mcp-header argument must pass
 * the check mcpd and gatewayd make (mcp_param_check): each kind of value,
 * text that needs the Base64 form (a leading or trailing space, a tab,
 * non-ASCII, text that looks encoded), and the cap. Proves the encoder
 * and the check agree; red if plain text were sent for any of them. */
static void test_param_values(void)
{
	json_t *schema = json_loads("{\"type\":\"object\",\"properties\":"
				    "{\"r\":{\"x-mcp-header\":\"Region\"}}}",
				    0, NULL);
	const char *texts[] = { "us-west1", " lead",	     "trail ",
				"a\tb",	    "z\xc3\xbcrich", "=?base64?QQ==?=",
				"",	    "in side" };
	json_t *vals[] = { json_integer(-42), json_true(), json_false() };
	char *v, big[MCP_PARAM_VALUE_MAX + 2];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		check_sent(schema, json_pack("{s:s}", "r", texts[i]));
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		check_sent(schema, json_pack("{s:o}", "r", vals[i]));
	v = mcp_header_encode("us-west1", 8);
	CHECK_STR(v, "us-west1");
	free(v);
	v = mcp_header_encode(" a", 2);
	CHECK_STR(v, "=?base64?IGE=?=");
	free(v);
	/* no header can hold a value over the cap, nor a number or object */
	memset(big, 'x', sizeof(big));
	CHECK(mcp_header_encode(big, MCP_PARAM_VALUE_MAX + 1) == NULL);
	v = mcp_header_encode(big, MCP_PARAM_VALUE_MAX);
	CHECK(v != NULL);
	free(v);
	CHECK(mcp_param_value(json_object_get(schema, "properties")) == NULL);
	json_decref(schema);
}

/* A stateless session needs a printable version name. */
static void test_stateless_open(void)
{
	static const struct mcp_hc_ops ops = { .message = msg_cb };
	struct mcp_hc_opts o = { .url = "https://example.com/mcp" };
	char err[160];
	struct mcp_hc *hc = mcp_hc_new(&o, &ops, NULL, err, sizeof(err));
	const char *own[] = { "Mcp-Method: tools/list" };
	const char *own2[] = { "mcp-param-region: x" };

	CHECK(hc != NULL);
	if (!hc)
		return;
	CHECK(mcp_hc_open_stateless(hc, "2026-07-28") > 0);
	CHECK_EQ_INT((int)mcp_hc_open_stateless(hc, "2026 07"), 0);
	CHECK_EQ_INT((int)mcp_hc_open_stateless(hc, ""), 0);
	CHECK_EQ_INT(mcp_hc_set_headers(hc, own, 1, err, sizeof(err)), -1);
	CHECK_EQ_INT(mcp_hc_set_headers(hc, own2, 1, err, sizeof(err)), -1);
	mcp_hc_free(hc);
}

int main(void)
{
	RUN(test_sse_fields);
	RUN(test_sse_splits);
	RUN(test_sse_caps);
	RUN(test_url);
	RUN(test_headers);
	RUN(test_param_values);
	RUN(test_stateless_open);
	return ZGT_DONE();
}
