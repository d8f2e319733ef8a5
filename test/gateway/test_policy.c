/* Policy parser and matcher: the grammar, first-match semantics, tags,
 * globs, argument conditions, the compiled index against a linear scan,
 * and hostile rule files (every bad line rejects the whole file with
 * FILE:LINE). */
#include "gw.h"
#include "zgtest.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct policy *parse(const char *text, char *err, size_t n)
{
	return policy_parse_buffer("t.policy", text, strlen(text), err, n);
}

static enum pol_decision ask(const struct policy *p, const char *zone,
			     const char *tag, const char *tz, const char *tn,
			     const char *args, int *line)
{
	const char *tags[1] = { tag };
	json_t *a = args ? json_loads(args, 0, NULL) : NULL;
	struct pol_query q = { zone, tags, tag ? 1 : 0, POL_TOOL, tz, tn, a };
	const struct pol_rule *r;
	enum pol_decision d = policy_decide(p, &q, &r);

	*line = r ? r->line : 0;
	json_decref(a);
	return d;
}

static void test_glob(void)
{
	CHECK(gw_glob_match("*", ""));
	CHECK(gw_glob_match("*", "abc"));
	CHECK(gw_glob_match("a*c", "abbbc"));
	CHECK(gw_glob_match("a?c", "abc"));
	CHECK(!gw_glob_match("a?c", "ac"));
	CHECK(gw_glob_match("web_*", "web_fetch"));
	CHECK(!gw_glob_match("web_*", "Web_fetch"));
	CHECK(gw_glob_match("*.*", "a.b"));
	CHECK(gw_glob_match("https://*", "https://x/y"));
	CHECK(!gw_glob_match("https://*", "http://x"));
	CHECK(gw_glob_match("*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaab"));
	CHECK(!gw_glob_match("*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaa"));
	CHECK(gw_glob_match("", ""));
	CHECK(!gw_glob_match("", "x"));
}

static void test_first_match(void)
{
	char err[512];
	int line;
	struct policy *p =
		parse("# comment\n"
		      "\n"
		      "agent-a rag.rag_search allow rate=5/s timeout=2s\n"
		      "agent-a rag.* deny   # trailing comment\n"
		      "@tag:research tools.web_* allow arg.url=https://*\n"
		      "* tools.time_now allow\n"
		      "agent-b *.* deny\n"
		      "* * allow\n",
		      err, sizeof(err));

	CHECK(p != NULL);
	if (!p) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_EQ_INT(policy_nrules(p), 6);
	CHECK_EQ_INT(ask(p, "agent-a", NULL, "rag", "rag_search", "{}", &line),
		     POL_ALLOW);
	CHECK_EQ_INT(line, 3);
	CHECK_EQ_INT(ask(p, "agent-a", NULL, "rag", "rag_ingest", "{}", &line),
		     POL_DENY_RULE);
	CHECK_EQ_INT(line, 4);
	/* tag rule with an argument condition: fails -> deny, no fall through */
	CHECK_EQ_INT(ask(p, "x", "research", "tools", "web_fetch",
			 "{\"url\":\"http://a\"}", &line),
		     POL_DENY_ARGS);
	CHECK_EQ_INT(line, 5);
	CHECK_EQ_INT(ask(p, "x", "research", "tools", "web_fetch",
			 "{\"url\":\"https://a\"}", &line),
		     POL_ALLOW);
	CHECK_EQ_INT(ask(p, "x", "research", "tools", "web_fetch", "{}", &line),
		     POL_DENY_ARGS);
	CHECK_EQ_INT(ask(p, "x", "research", "tools", "web_fetch",
			 "{\"url\":5}", &line),
		     POL_DENY_ARGS);
	/* visibility (args NULL) ignores arg conditions */
	CHECK_EQ_INT(ask(p, "x", "research", "tools", "web_fetch", NULL, &line),
		     POL_ALLOW);
	CHECK_EQ_INT(ask(p, "agent-b", NULL, "tools", "time_now", "{}", &line),
		     POL_ALLOW);
	CHECK_EQ_INT(line, 6);
	CHECK_EQ_INT(ask(p, "agent-b", NULL, "rag", "x", "{}", &line),
		     POL_DENY_RULE);
	CHECK_EQ_INT(line, 7);
	CHECK_EQ_INT(ask(p, "zz", NULL, "rag", "x", "{}", &line), POL_ALLOW);
	CHECK_EQ_INT(line, 8);
	/* options parsed */
	CHECK_EQ_INT(policy_rule(p, 0)->rate_n, 5);
	CHECK_EQ_INT(policy_rule(p, 0)->rate_per_ms, 1000);
	CHECK_EQ_INT(policy_rule(p, 0)->timeout_ms, 2000);
	policy_free(p);
}

static void test_default_deny_and_kinds(void)
{
	char err[512];
	int line;
	const char *tags[1] = { "t" };
	struct pol_query q = { "a",   tags,	 1,   POL_RESOURCE,
			       "rag", "rag://x", NULL };
	const struct pol_rule *r;
	struct policy *p = parse("a resource:rag.rag://* allow\n"
				 "a prompt:rag.* allow max-bytes=2k\n"
				 "a tool:rag.s?arch allow concurrency=3\n",
				 err, sizeof(err));

	CHECK(p != NULL);
	if (!p)
		return;
	CHECK_EQ_INT(policy_decide(p, &q, &r), POL_ALLOW);
	q.kind = POL_PROMPT;
	q.tname = "summarise";
	CHECK_EQ_INT(policy_decide(p, &q, &r), POL_ALLOW);
	CHECK_EQ_INT(r->max_bytes, 2048);
	q.kind = POL_TOOL;
	CHECK_EQ_INT(policy_decide(p, &q, &r), POL_DENY_DEFAULT);
	CHECK(r == NULL);
	CHECK_EQ_INT(ask(p, "a", NULL, "rag", "search", "{}", &line),
		     POL_ALLOW);
	CHECK_EQ_INT(ask(p, "a", NULL, "rag", "seearch", "{}", &line),
		     POL_DENY_DEFAULT);
	CHECK_EQ_INT(ask(p, "b", NULL, "rag", "search", "{}", &line),
		     POL_DENY_DEFAULT);
	policy_free(p);
	/* an empty policy denies everything */
	p = parse("# nothing\n\n", err, sizeof(err));
	CHECK(p != NULL);
	CHECK_EQ_INT(ask(p, "a", NULL, "rag", "search", "{}", &line),
		     POL_DENY_DEFAULT);
	policy_free(p);
}

static void expect_error(const char *text, const char *want)
{
	char err[512] = "";
	struct policy *p = parse(text, err, sizeof(err));

	CHECK(p == NULL);
	policy_free(p);
	if (!strstr(err, want)) {
		fprintf(stderr, "  got '%s', want '%s'\n", err, want);
		CHECK(0);
	}
}

static void test_hostile(void)
{
	char *big;

	expect_error("a rag.x allow\nbogus\n", "t.policy:2:");
	expect_error("a rag.x maybe\n", "t.policy:1: bad action");
	expect_error("A rag.x allow\n", "bad source");
	expect_error("@tag: rag.x allow\n", "bad tag");
	expect_error("a rag allow\n", "bad target");
	expect_error("a .x allow\n", "bad tool zone");
	expect_error("a RAG.x allow\n", "bad tool zone");
	expect_error("a rag.x deny rate=1/s\n", "only allowed on allow");
	expect_error("a rag.x allow rate=0/s\n", "bad rate");
	expect_error("a rag.x allow rate=5/h\n", "bad rate");
	expect_error("a rag.x allow rate=99999999999999999999/s\n", "bad rate");
	expect_error("a rag.x allow timeout=5\n", "bad timeout");
	expect_error("a rag.x allow timeout=-5s\n", "bad timeout");
	expect_error("a rag.x allow max-bytes=5g\n", "bad max-bytes");
	expect_error("a rag.x allow max-bytes=2000m\n", "over 1 GiB");
	expect_error("a rag.x allow concurrency=0\n", "bad concurrency");
	expect_error("a rag.x allow rate=1/s rate=2/s\n", "duplicate");
	expect_error("a rag.x allow arg.u=1 arg.u=2\n", "duplicate");
	expect_error("a rag.x allow arg.=x\n", "bad argument name");
	expect_error("a rag.x allow arg.u=\n", "empty pattern");
	expect_error("a rag.x allow frob=1\n", "unknown option");
	expect_error("a rag.x allow frob\n", "bad option");
	expect_error("a rag.x allow \x01\n", "control character");
	expect_error("a rag.x\n", "expected SOURCE TARGET");
	{
		char err[256] = "";
		struct policy *p = policy_parse_buffer("t.policy",
						       "a rag.x allow\0 b\n",
						       17, err, sizeof(err));
		CHECK(p == NULL && strstr(err, "t.policy:1: NUL"));
		policy_free(p);
	}
	big = malloc(GW_RULE_LINE_MAX + 100);
	memset(big, 'a', GW_RULE_LINE_MAX + 50);
	big[GW_RULE_LINE_MAX + 50] = '\0';
	expect_error(big, "longer than");
	free(big);
	/* too many options on one line */
	expect_error("a rag.x allow arg.a=1 arg.b=1 arg.c=1 arg.d=1 arg.e=1 "
		     "arg.f=1 arg.g=1 arg.h=1 arg.i=1 arg.j=1 arg.k=1 arg.l=1 "
		     "arg.m=1 arg.n=1 arg.o=1 arg.p=1 arg.q=1 arg.r=1 arg.s=1 "
		     "arg.t=1 arg.u=1 arg.v=1\n",
		     "too many");
	/* CRLF files are fine */
	{
		char err[256];
		struct policy *p = parse("a rag.x allow\r\n", err, sizeof(err));
		CHECK(p != NULL);
		policy_free(p);
	}
}

/* The index must decide exactly as a linear first-match scan. */
static void test_index_vs_linear(void)
{
	static const char *const zones[] = { "a", "b", "c", "d" };
	static const char *const tz[] = { "rag", "tools", "web", "x1" };
	static const char *const tn[] = { "s", "search", "web_fetch", "t" };
	static const char *const srcs[] = { "a", "b", "@tag:t1", "@tag:t2",
					    "*" };
	static const char *const tgs[] = { "rag.s*", "tools.*", "*.search",
					   "w?b.*",  "x1.t",	"*",
					   "r*.s" };
	char *text = malloc(1 << 20), err[256];
	size_t len = 0;
	unsigned seed = 7;
	struct policy *p;

	for (int i = 0; i < 3000; i++) {
		seed = seed * 1103515245 + 12345;
		len += (size_t)snprintf(text + len, (1 << 20) - len,
					"%s %s %s\n", srcs[(seed >> 8) % 5],
					tgs[(seed >> 12) % 7],
					(seed >> 20) % 3 ? "deny" : "allow");
	}
	p = parse(text, err, sizeof(err));
	CHECK(p != NULL);
	for (size_t z = 0; p && z < 4; z++)
		for (size_t a = 0; a < 4; a++)
			for (size_t b = 0; b < 4; b++) {
				const char *tags[2] = { z % 2 ? "t1" : "t0",
							"t2" };
				struct pol_query q = { zones[z],  tags,
						       z / 2 + 1, POL_TOOL,
						       tz[a],	  tn[b],
						       NULL };
				const struct pol_rule *r, *all[1];
				size_t n = policy_explain(p, &q, all, 1);
				policy_decide(p, &q, &r);
				CHECK((n == 0 && r == NULL) ||
				      (n > 0 && r == all[0]));
			}
	policy_free(p);
	free(text);
}

/* Config and policy messages quote admin-written text cut at a byte
 * count: a character split at the cut made the message invalid UTF-8, so
 * the JSON that carries it (a reload's audit record, an admin reply)
 * could not be built. Each message here has a 2-byte character across its
 * cut and must come out valid (json_string accepts it). */
static void check_utf8_err(const char *err)
{
	json_t *j = json_string(err);

	if (!j)
		fprintf(stderr, "  not valid UTF-8: '%s'\n", err);
	CHECK(j != NULL);
	json_decref(j);
}

static void test_utf8_messages(void)
{
	static const struct {
		const char *pre;
		int n; /* ASCII bytes before the 2-byte character */
		const char *post;
	} pol[] = {
		{ "", 63, " rag.x allow\n" },
		{ "a ", 63, " allow\n" },
		{ "a rag.x allow rate=", 31, "\n" },
		{ "a rag.x allow ", 63, "\n" },
		{ "a rag.x allow arg.", 63, "=\n" },
	};
	char a[128], text[256], err[512], path[] = "/tmp/zgcfgXXXXXX";
	struct gw_config *c;
	FILE *f;
	int fd;

	memset(a, 'a', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	for (size_t i = 0; i < sizeof(pol) / sizeof(pol[0]); i++) {
		struct policy *p;
		snprintf(text, sizeof(text), "%s%.*s\xc3\xa9%s", pol[i].pre,
			 pol[i].n, a, pol[i].post);
		err[0] = '\0';
		p = parse(text, err, sizeof(err));
		CHECK(p == NULL);
		policy_free(p);
		check_utf8_err(err);
	}
	fd = mkstemp(path);
	CHECK(fd >= 0);
	f = fdopen(fd, "w");
	CHECK(f != NULL);
	fprintf(f, "{\"%.63s\\u00e9\": 1}\n", a);
	fclose(f);
	err[0] = '\0';
	c = gw_config_load(path, err, sizeof(err));
	CHECK(c == NULL);
	gw_config_free(c);
	CHECK(strstr(err, "unknown key") != NULL);
	check_utf8_err(err);
	unlink(path);
}

int main(void)
{
	RUN(test_glob);
	RUN(test_first_match);
	RUN(test_default_deny_and_kinds);
	RUN(test_hostile);
	RUN(test_index_vs_linear);
	RUN(test_utf8_messages);
	return ZGT_DONE();
}
