/* The splice check (gateway/splice.c): responses the gateway may relay
 * as bytes, the attacks it must stop (a second id, junk after or inside
 * the body, invalid UTF-8, bad escapes), layouts it leaves to the parser,
 * and agreement with jansson on every prefix and on byte mutations of
 * valid responses. */
#include "splice.h"
#include "zgtest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum gw_splice_verdict chk(const char *s)
{
	return gw_splice_check(s, strlen(s), 64, NULL);
}

static void test_good(void)
{
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"),
		     GW_SPLICE_OK);
	CHECK_EQ_INT(chk(" {\"jsonrpc\" : \"2.0\",\n\"id\":77,\"error\":"
			 "{\"code\":-32602,\"message\":\"x\"}}\r\n"),
		     GW_SPLICE_OK);
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":"
			 "[0,-1,2.5,1e9,-0.5E-3,true,false,null,\"\","
			 "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\","
			 "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"],"
			 "\"b\":{},\"b\":[]}}"),
		     GW_SPLICE_OK); /* nested duplicates are the agent's */
}

static void test_attacks(void)
{
	const char *why = NULL;
	const char *dup = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},"
			  "\"id\":2}";

	CHECK_EQ_INT(gw_splice_check(dup, strlen(dup), 64, &why),
		     GW_SPLICE_BAD);
	CHECK_STR(why, "duplicate member");
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},"
			 "\"result\":{}}"),
		     GW_SPLICE_BAD);
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},"
			 "\"error\":{}}"),
		     GW_SPLICE_BAD);
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}{}"),
		     GW_SPLICE_BAD);
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}} x"),
		     GW_SPLICE_BAD);
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":raw"),
		     GW_SPLICE_BAD);
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}"),
		     GW_SPLICE_BAD);
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":01,\"result\":{}}"),
		     GW_SPLICE_BAD);
	/* invalid UTF-8: overlong, surrogate, above U+10FFFF, cut short,
	 * stray continuation */
	static const char *const bad8[] = {
		"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xe2\x82", "\x80",	    "\xff"
	};
	for (size_t i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++) {
		char b[128];
		snprintf(b, sizeof(b),
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"%s\"}",
			 bad8[i]);
		CHECK_EQ_INT(chk(b), GW_SPLICE_BAD);
	}
	CHECK_EQ_INT(
		chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\\u0000\"}"),
		GW_SPLICE_BAD);
	CHECK_EQ_INT(
		chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\\ud800\"}"),
		GW_SPLICE_BAD);
	CHECK_EQ_INT(
		chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\\udc00\"}"),
		GW_SPLICE_BAD);
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\\x\"}"),
		     GW_SPLICE_BAD);
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"a\tb\"}"),
		     GW_SPLICE_BAD);
	{
		char deep[300];
		size_t n = 0;
		n += (size_t)snprintf(deep, sizeof(deep),
				      "{\"jsonrpc\":\"2.0\",\"id\":1,"
				      "\"result\":");
		for (int i = 0; i < 64; i++)
			deep[n++] = '[';
		for (int i = 0; i < 64; i++)
			deep[n++] = ']';
		deep[n++] = '}';
		CHECK_EQ_INT(gw_splice_check(deep, n, 64, NULL), GW_SPLICE_BAD);
		CHECK_EQ_INT(gw_splice_check(deep, n, 65, NULL), GW_SPLICE_OK);
	}
	/* an embedded NUL ends nothing: the length is what counts */
	CHECK_EQ_INT(gw_splice_check("{\"jsonrpc\":\"2.0\",\"id\":1,"
				     "\"result\":{}}\0",
				     37, 64, NULL),
		     GW_SPLICE_BAD);
}

static void test_other(void)
{
	/* well-formed, but for the parser to judge */
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},"
			 "\"x\":1}"),
		     GW_SPLICE_OTHER);
	CHECK_EQ_INT(chk("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},"
			 "\"i\\u0064\":2}"),
		     GW_SPLICE_OTHER);
}

/* Every prefix of a valid response is refused (only the whole is one
 * JSON text), and single-byte changes never make the check pass
 * something jansson reads differently. */
static void test_against_jansson(void)
{
	static const char base[] =
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{\"content\":[{"
		"\"type\":\"text\",\"text\":\"a\\u00e9\xc3\xa9\"}],"
		"\"n\":[1.5e2,-3,true,null]}}";
	const size_t n = sizeof(base) - 1;
	char buf[sizeof(base)];
	static const char repl[] = "\"\\{}[],:0-.eu\x80\xc3 x";
	unsigned agree = 0;

	for (size_t i = 0; i < n; i++)
		CHECK_EQ_INT(gw_splice_check(base, i, 64, NULL), GW_SPLICE_BAD);
	for (size_t i = 0; i < n; i++) {
		for (size_t r = 0; r < sizeof(repl) - 1; r++) {
			json_t *j;
			enum gw_splice_verdict v;
			memcpy(buf, base, n);
			buf[i] = repl[r];
			v = gw_splice_check(buf, n, 64, NULL);
			j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, NULL);
			if (v == GW_SPLICE_OK)
				CHECK(j && json_object_size(j) == 3 &&
				      json_object_get(j, "id"));
			if (v == GW_SPLICE_BAD && j)
				CHECK(!json_object_get(j, "id") ||
				      !json_object_get(j, "jsonrpc") ||
				      !json_object_get(j, "result"));
			agree++;
			json_decref(j);
		}
	}
	CHECK(agree > 1000);
}

int main(void)
{
	RUN(test_good);
	RUN(test_attacks);
	RUN(test_other);
	RUN(test_against_jansson);
	return ZGT_DONE();
}
