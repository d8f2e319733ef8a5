/* Unit tests of the where-filter parser and evaluator: every operator,
 * implicit $and, nesting, absent fields and the errors on bad input. */
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"
#include "zgtest.h"

static int m(const char *where, const char *meta)
{
	char err[256];
	struct rag_filter *f =
		rag_filter_parse(where, strlen(where), err, sizeof(err));
	json_t *j = json_loads(meta, 0, NULL);
	int r;
	if (!f) {
		fprintf(stderr, "parse failed: %s: %s\n", where, err);
		json_decref(j);
		return -1;
	}
	r = rag_filter_match(f, j);
	rag_filter_free(f);
	json_decref(j);
	return r;
}

static int bad(const char *where)
{
	char err[256] = "";
	struct rag_filter *f =
		rag_filter_parse(where, strlen(where), err, sizeof(err));
	rag_filter_free(f);
	return f == NULL && err[0] != '\0';
}

static void test_ops(void)
{
	const char *d = "{\"dir\":\"man7\",\"n\":3,\"x\":2.5,\"ok\":true}";
	CHECK_EQ_INT(m("{\"dir\":\"man7\"}", d), 1);
	CHECK_EQ_INT(m("{\"dir\":{\"$eq\":\"man2\"}}", d), 0);
	CHECK_EQ_INT(m("{\"dir\":{\"$ne\":\"man2\"}}", d), 1);
	CHECK_EQ_INT(m("{\"n\":{\"$gt\":2}}", d), 1);
	CHECK_EQ_INT(m("{\"n\":{\"$gt\":3}}", d), 0);
	CHECK_EQ_INT(m("{\"n\":{\"$gte\":3}}", d), 1);
	CHECK_EQ_INT(m("{\"n\":{\"$lt\":3.5}}", d), 1);
	CHECK_EQ_INT(m("{\"x\":{\"$lte\":2.5}}", d), 1);
	CHECK_EQ_INT(m("{\"n\":{\"$gt\":1,\"$lt\":3}}", d), 0);
	CHECK_EQ_INT(m("{\"dir\":{\"$in\":[\"man2\",\"man7\"]}}", d), 1);
	CHECK_EQ_INT(m("{\"dir\":{\"$nin\":[\"man2\",\"man7\"]}}", d), 0);
	CHECK_EQ_INT(m("{\"ok\":true}", d), 1);
	CHECK_EQ_INT(m("{\"n\":{\"$gt\":\"a\"}}", d), 0); /* not comparable */
}

/* $prefix compares bytes: % and _ are ordinary characters (no LIKE
 * pattern), so "/srv/a_" does not select "/srv/ab/x". */
static void test_prefix(void)
{
	const char *d = "{\"path\":\"/srv/docs/a_b%c/x.md\",\"n\":3}";
	CHECK_EQ_INT(m("{\"path\":{\"$prefix\":\"/srv/docs/\"}}", d), 1);
	CHECK_EQ_INT(m("{\"path\":{\"$prefix\":\"/srv/docs/a_b%c/\"}}", d), 1);
	CHECK_EQ_INT(m("{\"path\":{\"$prefix\":\"\"}}", d), 1);
	CHECK_EQ_INT(m("{\"path\":{\"$prefix\":\"/srv/doc/\"}}", d), 0);
	CHECK_EQ_INT(m("{\"path\":{\"$prefix\":\"/srv/docs/a_b%c/x.md/\"}}", d),
		     0);
	CHECK_EQ_INT(m("{\"path\":{\"$prefix\":\"/srv/docs/a%\"}}",
		       "{\"path\":\"/srv/docs/abc\"}"),
		     0);
	CHECK_EQ_INT(m("{\"path\":{\"$prefix\":\"/srv/docs/a_\"}}",
		       "{\"path\":\"/srv/docs/ab\"}"),
		     0);
	CHECK_EQ_INT(m("{\"path\":{\"$prefix\":\"/SRV\"}}", d), 0);
	CHECK_EQ_INT(m("{\"n\":{\"$prefix\":\"3\"}}", d), 0); /* not a string */
	CHECK_EQ_INT(m("{\"gone\":{\"$prefix\":\"/\"}}", d), 0);
	CHECK(bad("{\"path\":{\"$prefix\":3}}"));
	CHECK(bad("{\"path\":{\"$prefix\":[\"/a\"]}}"));
}

static void test_logic(void)
{
	const char *d = "{\"dir\":\"man7\",\"n\":3}";
	CHECK_EQ_INT(m("{\"$and\":[{\"dir\":\"man7\"},{\"n\":3}]}", d), 1);
	CHECK_EQ_INT(m("{\"$and\":[{\"dir\":\"man7\"},{\"n\":4}]}", d), 0);
	CHECK_EQ_INT(m("{\"$or\":[{\"dir\":\"man2\"},{\"n\":3}]}", d), 1);
	CHECK_EQ_INT(m("{\"dir\":\"man7\",\"n\":4}", d), 0); /* implicit $and */
	CHECK_EQ_INT(
		m("{\"$or\":[{\"$and\":[{\"n\":3},{\"dir\":\"man7\"}]},{\"q\":1}]}",
		  d),
		1);
}

static void test_absent(void)
{
	CHECK_EQ_INT(m("{\"missing\":1}", "{}"), 0);
	CHECK_EQ_INT(m("{\"missing\":{\"$ne\":1}}", "{}"), 1);
	CHECK_EQ_INT(m("{\"missing\":{\"$nin\":[1]}}", "{}"), 1);
	CHECK_EQ_INT(m("{\"missing\":{\"$gt\":1}}", "{}"), 0);
}

static void test_errors(void)
{
	char deep[200];
	size_t i, o = 0;
	CHECK(bad(""));
	CHECK(bad("[]"));
	CHECK(bad("{}"));
	CHECK(bad("{\"a\":"));
	CHECK(bad("{\"a\":{\"$regex\":\"x\"}}"));
	CHECK(bad("{\"$xor\":[]}"));
	CHECK(bad("{\"$and\":[]}"));
	CHECK(bad("{\"$and\":{}}"));
	CHECK(bad("{\"a\":{\"$in\":3}}"));
	CHECK(bad("{\"a\":{\"$in\":[[1]]}}"));
	CHECK(bad("{\"a\":{\"$gt\":[1]}}"));
	CHECK(bad("{\"a\":{}}"));
	CHECK(bad("{\"a\":1,\"a\":2}"));
	for (i = 0; i < 20; i++)
		o += (size_t)snprintf(deep + o, sizeof(deep) - o, "{\"$or\":[");
	CHECK(bad(deep));
}

/* A filter key or operator from the agent is quoted in the error cut at
 * a character boundary: with a 2-byte character across the cut (32 bytes
 * for operators, 64 for keys) the message must stay valid UTF-8, or the
 * tool's error result cannot be built as JSON. */
static void test_utf8_cut(void)
{
	static const struct {
		const char *pre;
		int n; /* ASCII bytes before the 2-byte character */
		const char *post;
	} w[] = {
		{ "{\"", 63, "\":{}}" },
		{ "{\"$", 30, "\":1}" },
		{ "{\"a\":{\"$", 30, "\":1}}" },
		{ "{\"", 63, "\":{\"$prefix\":1}}" },
	};
	char a[80], where[256], err[256];

	memset(a, 'a', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		struct rag_filter *f;
		json_t *j;
		snprintf(where, sizeof(where), "%s%.*s\\u00e9%s", w[i].pre,
			 w[i].n, a, w[i].post);
		err[0] = '\0';
		f = rag_filter_parse(where, strlen(where), err, sizeof(err));
		CHECK(f == NULL && err[0] != '\0');
		rag_filter_free(f);
		j = json_string(err);
		CHECK(j != NULL);
		json_decref(j);
	}
}

int main(void)
{
	RUN(test_ops);
	RUN(test_prefix);
	RUN(test_logic);
	RUN(test_absent);
	RUN(test_errors);
	RUN(test_utf8_cut);
	return ZGT_DONE();
}
