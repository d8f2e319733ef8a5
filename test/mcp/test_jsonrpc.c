/* Unit tests for the JSON-RPC layer: classification of valid messages and
 * a battery of malformed and hostile ones (wrong types, null and huge
 * ids, deep nesting, oversize input, duplicate keys, invalid UTF-8). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "zgtest.h"

#define MAX_LEN (64 * 1024)
#define MAX_DEPTH 64

static enum jr_kind kind_of(const char *text, int *code)
{
	struct jr_msg m;
	enum jr_kind k;

	jr_parse(text, strlen(text), MAX_LEN, MAX_DEPTH, &m);
	k = m.kind;
	if (code)
		*code = m.err_code;
	jr_msg_clear(&m);
	return k;
}

static void test_valid(void)
{
	struct jr_msg m;
	const char *req =
		"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\"}";

	jr_parse(req, strlen(req), MAX_LEN, MAX_DEPTH, &m);
	CHECK_EQ_INT(m.kind, JR_REQUEST);
	CHECK_STR(m.method, "ping");
	CHECK(json_is_string(m.id));
	jr_msg_clear(&m);

	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"x\","
			     "\"params\":{}}",
			     NULL),
		     JR_REQUEST);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"method\":\"n\"}", NULL),
		     JR_NOTIFICATION);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
			     NULL),
		     JR_RESULT);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":"
			     "{\"code\":-1,\"message\":\"m\"}}",
			     NULL),
		     JR_ERROR);
	CHECK_EQ_INT(kind_of("[{\"jsonrpc\":\"2.0\",\"method\":\"n\"}]", NULL),
		     JR_BATCH);
}

static void test_bad_ids(void)
{
	int code = 0;
	char big[400];

	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":"
			     "\"x\"}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(code, -32600);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"x\"}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":"
			     "\"x\"}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}",
			     &code),
		     JR_INVALID);
	/* Beyond int64: jansson refuses the number, so a parse error. */
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":"
			     "123456789012345678901234567890,\"method\":\"x\"}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(code, -32700);
	snprintf(big, sizeof(big),
		 "{\"jsonrpc\":\"2.0\",\"id\":\"%0300d\","
		 "\"method\":\"x\"}",
		 1);
	CHECK_EQ_INT(kind_of(big, &code), JR_INVALID);
	CHECK_EQ_INT(code, -32600);
}

static void test_bad_shapes(void)
{
	int code = 0;

	CHECK_EQ_INT(kind_of("{\"id\":1,\"method\":\"x\"}", &code), JR_INVALID);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"x\"}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":2.0,\"id\":1,\"method\":\"x\"}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\","
			     "\"params\":[1]}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(code, -32602);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},"
			     "\"error\":{\"code\":1}}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1}", &code),
		     JR_INVALID);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"x\"}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(kind_of("\"just a string\"", &code), JR_INVALID);
	CHECK_EQ_INT(code, -32600);
	CHECK_EQ_INT(kind_of("42", &code), JR_INVALID);
}

static void test_hostile_text(void)
{
	int code = 0;
	size_t n = 100000;
	char *deep = malloc(2 * n + 1);
	struct jr_msg m;

	CHECK_EQ_INT(kind_of("", &code), JR_INVALID);
	CHECK_EQ_INT(code, -32700);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",", &code), JR_INVALID);
	CHECK_EQ_INT(code, -32700);
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"jsonrpc\":\"2.0\","
			     "\"method\":\"x\"}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(code, -32700); /* duplicate keys refused */
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\"}",
			     &code),
		     JR_INVALID);
	CHECK_EQ_INT(code, -32700); /* invalid UTF-8 */
	/* An embedded NUL escape is refused by the parser. */
	CHECK_EQ_INT(kind_of("{\"jsonrpc\":\"2.0\",\"method\":\"a\\u0000b\"}",
			     &code),
		     JR_INVALID);

	/* 100000 levels of nesting never reach the parser. */
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	deep[2 * n] = '\0';
	jr_parse(deep, 2 * n, 4 * n, MAX_DEPTH, &m);
	CHECK_EQ_INT(m.kind, JR_INVALID);
	CHECK_EQ_INT(m.err_code, -32600);
	jr_msg_clear(&m);
	free(deep);

	/* The cap holds for a message the fast path would decode: it is
	 * checked there, not only by the scan before jansson (this goes red
	 * when json_fast.c ignores max_depth). One level over the cap is
	 * refused, exactly at the cap is taken. */
	jr_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\","
		 "\"params\":{\"a\":[{}]}}",
		 57, MAX_LEN, 3, &m);
	CHECK_EQ_INT(m.kind, JR_INVALID);
	CHECK(strstr(m.err, "nested too deeply") != NULL);
	jr_msg_clear(&m);
	jr_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\","
		 "\"params\":{\"a\":[{}]}}",
		 57, MAX_LEN, 4, &m);
	CHECK_EQ_INT(m.kind, JR_REQUEST);
	jr_msg_clear(&m);
	CHECK(jr_fast_decode("[[[]]]", 6, 2) == NULL);
	m.root = jr_fast_decode("[[[]]]", 6, 3);
	CHECK(m.root != NULL);
	json_decref(m.root);

	/* Brackets inside strings do not count as nesting. */
	CHECK(jr_depth_ok("{\"a\":\"[[[[[[[[[[\\\"[[[[\"}", 22, 2));
	CHECK(!jr_depth_ok("[[[", 3, 2));

	/* Oversize input is refused before parsing. */
	jr_parse("{}", 2, 1, MAX_DEPTH, &m);
	CHECK_EQ_INT(m.kind, JR_INVALID);
	CHECK(strstr(m.err, "too large") != NULL);
	jr_msg_clear(&m);
}

static void test_builders(void)
{
	json_t *id = json_integer(5);
	json_t *r = jr_error(id, -32601, "nope", json_pack("{s:i}", "x", 1));
	char *s = jr_dump(r, NULL);

	CHECK_STR(s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32601,"
		     "\"message\":\"nope\",\"data\":{\"x\":1}}}");
	free(s);
	json_decref(r);
	r = jr_result(NULL, json_object());
	s = jr_dump(r, NULL);
	CHECK_STR(s, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}");
	free(s);
	json_decref(r);
	CHECK(jr_id_equal(id, id));
	json_t *sid = json_string("5");
	CHECK(!jr_id_equal(id, sid));
	json_decref(sid);
	json_decref(id);
}

/* jr_dump must write byte for byte what json_dumps(JSON_COMPACT) writes. */
static void check_same(const json_t *v)
{
	char *want = json_dumps(v, JSON_COMPACT);
	size_t len = 0;
	char *got = jr_dump(v, &len);

	CHECK((want == NULL) == (got == NULL));
	if (want && got) {
		CHECK_STR(got, want);
		CHECK_EQ_INT((long long)len, (long long)strlen(want));
	}
	free(want);
	free(got);
}

static unsigned rnd_state = 12345;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

/* A random tree of every kind of value (strings with escapes, UTF-8 and
 * NUL bytes, keys likewise, extreme integers, reals). */
static json_t *random_value(unsigned depth)
{
	static const char *const pieces[] = { "a",
					      "\"",
					      "\\",
					      "/",
					      "\n",
					      "\x01",
					      "\x1f",
					      "\x7f",
					      "\xc3\xa9",
					      "\xe2\x82\xac",
					      "\xf0\x9f\x98\x80",
					      "\t\r\b\f" };
	static const json_int_t ints[] = { 0,	      -1,	 42,
					   9,	      10,	 -10,
					   123456789, INT64_MAX, INT64_MIN };
	static const double reals[] = { 0.1, -2.5, 1e300, 3.0, 1.5e-10, -0.0 };
	unsigned k = depth > 5 ? 3 + rnd(5) : rnd(8);
	char buf[64];
	size_t n = 0;
	json_t *v;

	switch (k) {
	case 0:
		v = json_object();
		for (unsigned i = rnd(4); i > 0; i--) {
			size_t kl = (size_t)snprintf(buf, sizeof(buf), "k%u%s",
						     rnd(100), pieces[rnd(12)]);
			json_object_setn_new(v, buf, kl,
					     random_value(depth + 1));
		}
		return v;
	case 1:
	case 2:
		v = json_array();
		for (unsigned i = rnd(4); i > 0; i--)
			json_array_append_new(v, random_value(depth + 1));
		return v;
	case 3:
		for (unsigned i = rnd(6); i > 0; i--) {
			const char *p = pieces[rnd(12)];
			if (n + strlen(p) >= sizeof(buf))
				break;
			memcpy(buf + n, p, strlen(p));
			n += strlen(p);
		}
		if (rnd(4) == 0 && n + 1 < sizeof(buf))
			buf[n++] = '\0'; /* an embedded NUL */
		return json_stringn(buf, n);
	case 4:
		return json_integer(ints[rnd(sizeof(ints) / sizeof(ints[0]))]);
	case 5:
		return json_real(reals[rnd(6)]);
	case 6:
		return rnd(2) ? json_true() : json_false();
	default:
		return json_null();
	}
}

static void test_dump_matches_jansson(void)
{
	json_t *deep = json_array(), *big = json_object(), *v;
	char *s;

	for (int i = 0; i < 2000; i++) {
		v = json_pack("{s:o}", "v", random_value(0));
		check_same(v);
		json_decref(v);
	}
	/* deeper than the encoder goes itself: json_dumps does it */
	v = deep;
	for (int i = 0; i < 300; i++) {
		json_t *in = json_array();
		json_array_append_new(v, in);
		v = in;
	}
	check_same(deep);
	json_decref(deep);
	/* past the stack buffer */
	s = calloc(1, 10001);
	memset(s, 'x', 10000);
	json_object_set_new(big, "s", json_string(s));
	check_same(big);
	json_decref(big);
	free(s);
	/* scalars at the top: refused like json_dumps does */
	v = json_integer(1);
	CHECK(jr_dump(v, NULL) == NULL);
	json_decref(v);
}

/* jr_fast_decode(text) against jansson's json_loadb with jr_parse's
 * flags: wherever the fast path decodes, the tree must be jansson's, keys
 * in the same order; wherever jansson refuses, the fast path must leave
 * the text to it. */
static void check_decode(const char *text, size_t len)
{
	json_t *fast = jr_fast_decode(text, len, MAX_DEPTH);
	json_t *slow = json_loadb(text, len,
				  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
				  NULL);

	if (fast) {
		char *a = json_dumps(fast, JSON_COMPACT | JSON_ENCODE_ANY);
		char *b =
			slow ? json_dumps(slow, JSON_COMPACT | JSON_ENCODE_ANY)
			     : NULL;
		if (!slow || !json_equal(fast, slow) || !a || !b ||
		    strcmp(a, b) != 0)
			fprintf(stderr, "differs from jansson: %.*s\n",
				(int)len, text);
		CHECK(slow != NULL);
		CHECK(json_equal(fast, slow));
		CHECK(a && b && strcmp(a, b) == 0);
		free(a);
		free(b);
	}
	json_decref(fast);
	json_decref(slow);
}

/* The mutations of a valid text most likely to find a difference. */
static void check_mutations(const char *text)
{
	static const char ins[] = "{}[]\",:0-1e.\\ \nu\x01\x7f\xc3tfn";
	size_t len = strlen(text);
	char *m = malloc(len + 2);

	for (int i = 0; i < 8 && len > 0; i++) {
		size_t at = rnd((unsigned)len);
		/* delete a byte, replace it, insert one before it */
		memcpy(m, text, at);
		memcpy(m + at, text + at + 1, len - at - 1);
		check_decode(m, len - 1);
		memcpy(m, text, len);
		m[at] = ins[rnd(sizeof(ins) - 1)];
		check_decode(m, len);
		memcpy(m, text, at);
		m[at] = ins[rnd(sizeof(ins) - 1)];
		memcpy(m + at + 1, text + at, len - at);
		check_decode(m, len + 1);
	}
	free(m);
}

static void test_fast_decode_matches_jansson(void)
{
	static const char *const cases[] = {
		"{}",
		"[]",
		"0",
		"-0",
		"01",
		"-01",
		"-",
		"1.5",
		"1e3",
		"1E3",
		"2.",
		"9223372036854775807",
		"9223372036854775808",
		"-9223372036854775808",
		"-9223372036854775809",
		"99999999999999999999",
		"true",
		"tru",
		"truex",
		"null",
		"nul",
		"false",
		"\"\"",
		"\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
		"\"\\u0041\"",
		"\"\\u0000\"",
		"\"\\x\"",
		"\"\\\"",
		"\"\x01\"",
		"\"\x1f\"",
		"\"\x20\"",
		"\"\x7f\"",
		"\"\x80\"",
		"\"\xc3\xa9\"",
		"\"\xff\"",
		"\"abc",
		"{\"a\":1,\"a\":2}",
		"{\"a\":1,\"b\":{\"a\":2}}",
		/* duplicates the fast path's own key list must see: after
		 * another key, after escapes (\/ is /), past its 16 keys */
		"{\"a\":1,\"b\":2,\"a\":3}",
		"{\"ab\":1,\"a\":2,\"b\":3}",
		"{\"\\/\":1,\"/\":2}",
		"{\"/\":1,\"\\/\":2}",
		"{\"a\\n\":1,\"b\":2,\"b\":3}",
		"{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,"
		"\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"ka\":10,\"kb\":11,"
		"\"kc\":12,\"kd\":13,\"ke\":14,\"kf\":15,\"kg\":16,\"k0\":17}",
		"{\"\":1}",
		"{\"a\\nb\":1,\"a\\u000ab\":2}",
		"{\"a\":1,}",
		"[1,]",
		"[1 2]",
		"{\"a\" 1}",
		"{1:2}",
		" \t\r\n{ \"a\" : [ 1 , 2 ] } \n",
		"{} x",
		"{}{}",
		"",
		" ",
		"\xef\xbb\xbf{}",
		"[\"a\",null,true,false,-5,{}]",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"x\",\"arguments\":{},\"_meta\":{"
		"\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
		"\"io.modelcontextprotocol/clientCapabilities\":{}}}}",
	};
	char nul[] = "{\"a\":\"x\0y\"}";
	char *s;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_decode(cases[i], strlen(cases[i]));
		check_mutations(cases[i]);
	}
	check_decode(nul, sizeof(nul) - 1);
	/* a long escaped string: decoded on the heap */
	s = malloc(2003);
	s[0] = '"';
	for (int i = 1; i < 2001; i += 2)
		memcpy(s + i, "\\n", 2);
	s[2001] = '"';
	s[2002] = '\0';
	check_decode(s, strlen(s));
	free(s);
	for (int i = 0; i < 3000; i++) {
		json_t *v = random_value(0);
		size_t flags = i % 3 == 0   ? JSON_COMPACT
			       : i % 3 == 1 ? JSON_INDENT(1) | JSON_ENSURE_ASCII
					    : JSON_SORT_KEYS;
		s = json_dumps(v, flags | JSON_ENCODE_ANY);
		if (s) {
			check_decode(s, strlen(s));
			if (i % 10 == 0)
				check_mutations(s);
		}
		free(s);
		json_decref(v);
	}
}

/* The allocator's per-thread cache keeps at most JR_ALLOC_PER_CLASS
 * freed blocks of one size (goes red without the cap in json_alloc.c;
 * sanitizer builds use plain malloc, where it holds none). */
static void test_alloc_cache_bounded(void)
{
	json_t *v[200];

	for (int i = 0; i < 200; i++)
		v[i] = json_string("thirty-two bytes of a string!!!");
	for (int i = 0; i < 200; i++)
		json_decref(v[i]);
	/* 400 blocks of about 32 bytes freed: the string and its copy */
	CHECK(jr_alloc_cached(32) <= JR_ALLOC_PER_CLASS);
	/* and blocks from it are whole blocks of the size asked */
	for (int i = 0; i < 200; i++) {
		v[i] = json_string("thirty-two bytes of a string!!!");
		CHECK(v[i] && strcmp(json_string_value(v[i]),
				     "thirty-two bytes of a string!!!") == 0);
	}
	for (int i = 0; i < 200; i++)
		json_decref(v[i]);
}

int main(void)
{
	/* everything below also runs through the allocator's cache */
	jr_alloc_install();
	RUN(test_valid);
	RUN(test_bad_ids);
	RUN(test_bad_shapes);
	RUN(test_hostile_text);
	RUN(test_builders);
	RUN(test_dump_matches_jansson);
	RUN(test_fast_decode_matches_jansson);
	RUN(test_alloc_cache_bounded);
	return ZGT_DONE();
}
