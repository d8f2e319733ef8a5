/* Unit tests for the tool-argument JSON Schema validator: every keyword it
 * checks, $ref into $defs, combinators, boolean schemas, unknown keywords
 * ignored, and the path named in the error. */
#include <string.h>

#include "schema.h"
#include "utf8.h"
#include "zgtest.h"

static int ok(const char *schema, const char *value)
{
	json_t *s = json_loads(schema, 0, NULL);
	json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
	char err[256];
	int rc;

	CHECK(s != NULL || strcmp(schema, "true") == 0);
	if (!s)
		s = json_loads(schema, JSON_DECODE_ANY, NULL);
	rc = mcp_schema_validate(s, v, err, sizeof(err));
	json_decref(s);
	json_decref(v);
	return rc == 0;
}

static void test_types(void)
{
	CHECK(ok("{\"type\":\"string\"}", "\"a\""));
	CHECK(!ok("{\"type\":\"string\"}", "1"));
	CHECK(ok("{\"type\":\"integer\"}", "3"));
	CHECK(ok("{\"type\":\"integer\"}", "3.0"));
	CHECK(!ok("{\"type\":\"integer\"}", "3.5"));
	CHECK(ok("{\"type\":\"number\"}", "3.5"));
	CHECK(ok("{\"type\":[\"string\",\"null\"]}", "null"));
	CHECK(!ok("{\"type\":[\"string\",\"null\"]}", "true"));
	CHECK(ok("{\"type\":\"boolean\"}", "false"));
	CHECK(ok("true", "{\"x\":1}"));
	CHECK(!ok("{\"properties\":{\"x\":false}}", "{\"x\":1}"));
	CHECK(ok("{\"frobnicate\":42}", "17")); /* unknown keyword */
}

static void test_objects(void)
{
	const char *s = "{\"type\":\"object\",\"properties\":{\"q\":{\"type\":"
			"\"string\",\"minLength\":1,\"maxLength\":4},\"k\":{"
			"\"type\":\"integer\",\"minimum\":1,\"maximum\":50}},"
			"\"required\":[\"q\"],\"additionalProperties\":false}";

	CHECK(ok(s, "{\"q\":\"abc\"}"));
	CHECK(ok(s, "{\"q\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\",\"k\":50}"));
	CHECK(!ok(s, "{}"));
	CHECK(!ok(s, "{\"q\":\"\"}"));
	CHECK(!ok(s, "{\"q\":\"abcde\"}"));
	CHECK(!ok(s, "{\"q\":\"a\",\"k\":0}"));
	CHECK(!ok(s, "{\"q\":\"a\",\"k\":51}"));
	CHECK(!ok(s, "{\"q\":\"a\",\"zz\":1}"));
	CHECK(!ok(s, "[]"));
	CHECK(ok("{\"additionalProperties\":{\"type\":\"string\"}}",
		 "{\"a\":\"b\"}"));
	CHECK(!ok("{\"additionalProperties\":{\"type\":\"string\"}}",
		  "{\"a\":1}"));
	CHECK(!ok("{\"minProperties\":1}", "{}"));
}

static void test_arrays_enums(void)
{
	CHECK(ok("{\"items\":{\"enum\":[\"a\",\"b\"]},\"maxItems\":2}",
		 "[\"a\",\"b\"]"));
	CHECK(!ok("{\"items\":{\"enum\":[\"a\",\"b\"]}}", "[\"c\"]"));
	CHECK(!ok("{\"maxItems\":1}", "[1,2]"));
	CHECK(!ok("{\"minItems\":1}", "[]"));
	CHECK(!ok("{\"uniqueItems\":true}", "[1,1.0]"));
	CHECK(ok("{\"const\":3}", "3.0"));
	CHECK(!ok("{\"const\":\"x\"}", "\"y\""));
	CHECK(ok("{\"exclusiveMinimum\":0}", "0.1"));
	CHECK(!ok("{\"exclusiveMinimum\":0}", "0"));
	CHECK(!ok("{\"exclusiveMaximum\":1}", "1"));
	CHECK(ok("{\"multipleOf\":0.5}", "2.5"));
	CHECK(!ok("{\"multipleOf\":2}", "3"));
}

static void test_refs_and_combinators(void)
{
	const char *s =
		"{\"$defs\":{\"addr\":{\"type\":\"object\",\"required\":"
		"[\"city\"]},\"a/b\":{\"type\":\"integer\"}},\"properties\":{"
		"\"home\":{\"$ref\":\"#/$defs/addr\"},\"n\":{\"$ref\":"
		"\"#/$defs/a~1b\"}}}";

	CHECK(ok(s, "{\"home\":{\"city\":\"x\"},\"n\":1}"));
	CHECK(!ok(s, "{\"home\":{}}"));
	CHECK(!ok(s, "{\"n\":\"1\"}"));
	CHECK(ok("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
		 "1"));
	CHECK(!ok("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
		  "1.5"));
	CHECK(!ok("{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"integer\"}]}",
		  "1"));
	CHECK(ok("{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"integer\"}]}",
		 "1.5"));
	CHECK(!ok("{\"allOf\":[{\"minimum\":1},{\"maximum\":2}]}", "3"));
	CHECK(!ok("{\"not\":{\"type\":\"null\"}}", "null"));
	/* A self-referencing schema stops at the depth cap, never loops. */
	CHECK(!ok("{\"$ref\":\"#\"}", "1"));
}

static void test_error_path(void)
{
	json_t *s = json_loads("{\"properties\":{\"a\":{\"items\":{\"type\":"
			       "\"string\"}}}}",
			       0, NULL);
	json_t *v = json_loads("{\"a\":[\"x\",2]}", 0, NULL);
	char err[256] = "";

	CHECK(mcp_schema_validate(s, v, err, sizeof(err)) == -1);
	CHECK_STR(err, "a[1]: expected string, got integer");
	json_decref(s);
	json_decref(v);
}

/* Text from the agent (property names) is cut at a character boundary:
 * jansson refuses a string that ends inside a character, so a cut at a
 * plain byte count made the error message, and with it the reply, vanish.
 * Each case below puts a 2-byte character across the cut (at %.64s, at the
 * 256-byte path and at the 256-byte error buffer). */
static void check_valid_error(const char *schema, const char *value,
			      const char *expect)
{
	json_t *s = json_loads(schema, 0, NULL);
	json_t *v = json_loads(value, 0, NULL);
	json_t *j;
	char err[256] = "";

	CHECK(s && v);
	CHECK(mcp_schema_validate(s, v, err, sizeof(err)) == -1);
	j = json_string(err);
	CHECK(j != NULL);
	if (expect)
		CHECK(strstr(err, expect) != NULL);
	json_decref(j);
	json_decref(s);
	json_decref(v);
}

static void test_utf8_cuts(void)
{
	char schema[2048], value[2048], key[64], a63[64];
	const char *e30 = "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
			  "\u00e9\u00e9\u00e9\u00e9"; /* 10 x U+00E9 */
	int n;

	memset(a63, 'a', 63);
	a63[63] = '\0';
	/* 63 ASCII bytes and then a 2-byte character: a cut at 64 splits it. */
	snprintf(value, sizeof(value), "{\"%s\\u00e9\":1}", a63);
	snprintf(schema, sizeof(schema), "{\"additionalProperties\":false}");
	snprintf(key, sizeof(key), "'%.20s", a63);
	check_valid_error(schema, value, key);
	snprintf(schema, sizeof(schema), "{\"required\":[\"%s\\u00e9\"]}", a63);
	check_valid_error(schema, "{}", "missing required property");
	/* Five nested keys of 30 two-byte characters (61 bytes a level with
	 * the dot) overflow the 256-byte path; the key of the cut level
	 * starts at an odd offset so the buffer's end falls inside one. */
	n = snprintf(schema, sizeof(schema), "{\"properties\":{\"x\":");
	for (int i = 0; i < 5; i++)
		n += snprintf(schema + n, sizeof(schema) - n,
			      "{\"properties\":{\"%s%s%s\":", e30, e30, e30);
	n += snprintf(schema + n, sizeof(schema) - n, "{\"type\":\"string\"}");
	for (int i = 0; i < 5; i++)
		n += snprintf(schema + n, sizeof(schema) - n, "}}");
	snprintf(schema + n, sizeof(schema) - n, "}}");
	n = snprintf(value, sizeof(value), "{\"x\":");
	for (int i = 0; i < 5; i++)
		n += snprintf(value + n, sizeof(value) - n, "{\"%s%s%s\":", e30,
			      e30, e30);
	n += snprintf(value + n, sizeof(value) - n, "1");
	for (int i = 0; i < 5; i++)
		n += snprintf(value + n, sizeof(value) - n, "}");
	snprintf(value + n, sizeof(value) - n, "}");
	check_valid_error(schema, value, "x.");
}

/* The formatter itself: a cut forced by the buffer ends on a character
 * boundary, invalid bytes from an argument become '?'. */
static void test_utf8_format(void)
{
	char buf[8];
	int r;

	r = mcp_utf8_snprintf(buf, sizeof(buf), "%s", "abcdef\xc3\xa9");
	CHECK_EQ_INT(r, 8);
	CHECK_STR(buf, "abcdef");
	r = mcp_utf8_snprintf(buf, sizeof(buf), "%s", "abcd\xe2\x82\xac!");
	CHECK_STR(buf, "abcd\xe2\x82\xac");
	mcp_utf8_snprintf(buf, sizeof(buf), "a%sb", "\xff\xc3");
	CHECK_STR(buf, "a??b");
	CHECK_EQ_INT(mcp_utf8_prefix("ab\xc3\xa9", 3), 2);
	CHECK_EQ_INT(mcp_utf8_prefix("ab\xc3\xa9", 4), 4);
	CHECK_EQ_INT(mcp_utf8_prefix("\xf0\x9f\x98\x80x", 3), 0);
}

int main(void)
{
	RUN(test_types);
	RUN(test_objects);
	RUN(test_arrays_enums);
	RUN(test_refs_and_combinators);
	RUN(test_error_path);
	RUN(test_utf8_cuts);
	RUN(test_utf8_format);
	return ZGT_DONE();
}
