/* Unit tests of the text side of ingest: UTF-8 repair, HTML stripping,
 * binary detection, Markdown front matter and the chunker's edge cases
 * (empty input, huge lines, no spaces, multibyte boundaries, overlap). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"
#include "zgtest.h"

static struct rag_chunk_opts opts(size_t size, size_t overlap)
{
	struct rag_chunk_opts o = { size, overlap };
	return o;
}

static void test_utf8(void)
{
	size_t n;
	char *c = web_utf8_clean("a\xff"
				 "b\xc3\xa9\0x",
				 7, &n);
	CHECK(c != NULL);
	CHECK_EQ_INT(n, 8); /* a, U+FFFD, b, e-acute, x (NUL dropped) */
	CHECK(memcmp(c,
		     "a\xef\xbf\xbd"
		     "b\xc3\xa9x",
		     8) == 0);
	free(c);
	c = web_utf8_clean("\xed\xa0\x80\xf4\x90\x80\x80", 7,
			   &n); /* surrogate, >U+10FFFF */
	CHECK(c && web_utf8_valid(c, n));
	free(c);
	c = web_utf8_clean("", 0, &n);
	CHECK(c && n == 0);
	free(c);
}

static void test_html(void)
{
	const char *h =
		"<html><head><title>T</title><script>alert('<p>')</script>"
		"<style>p{color:red}</style></head><body><!-- hidden -->"
		"<p>One &amp; two</p><div>three&lt;4</div></body>";
	size_t n;
	char *t = web_html_strip(h, strlen(h), &n);
	CHECK(t != NULL);
	CHECK(strstr(t, "alert") == NULL);
	CHECK(strstr(t, "color") == NULL);
	CHECK(strstr(t, "hidden") == NULL);
	CHECK(strstr(t, "One & two") != NULL);
	CHECK(strstr(t, "three<4") != NULL);
	free(t);
	t = web_html_strip("<scr", 4, &n); /* truncated tag */
	CHECK(t && n == 0);
	free(t);
	t = web_html_strip("<script>never closed", 20, &n);
	CHECK(t && strstr(t, "never") == NULL);
	free(t);
}

static void test_binary(void)
{
	CHECK(web_looks_binary("ab\0cd", 5));
	CHECK(!web_looks_binary("abcd", 4));
}

/* Parses text as front matter: returns rag_front_matter's result, the
 * body offset in *body and the value of key (or "") in val. */
static int fm(const char *text, size_t *body, const char *key, char *val,
	      size_t vlen, size_t *nkeys)
{
	char err[256] = "";
	json_t *m = NULL;
	int rc = rag_front_matter(text, strlen(text), &m, body, err,
				  sizeof(err));
	const char *v = m ? json_string_value(json_object_get(m, key)) : NULL;
	snprintf(val, vlen, "%s", v ? v : "");
	*nkeys = m ? json_object_size(m) : 0;
	if (rc < 0 && (m || *body || !err[0]))
		rc = -99; /* malformed must say why and keep everything */
	json_decref(m);
	return rc;
}

static void test_front_matter(void)
{
	char v[600], big[20000];
	size_t body, nk, i, o;
	const char *t = "---\ntitle: Seccomp notes\nauthor: \"A. B: C\"\n"
			"# a comment\n\ntags: 'x, y'\nn: 3 # trailing\n"
			"empty:\n---\n# Heading\nBody.\n";

	CHECK_EQ_INT(fm(t, &body, "title", v, sizeof(v), &nk), 1);
	CHECK_STR(v, "Seccomp notes");
	CHECK_EQ_INT((int)nk, 5);
	CHECK_STR(t + body, "# Heading\nBody.\n");
	fm(t, &body, "author", v, sizeof(v), &nk);
	CHECK_STR(v, "A. B: C");
	fm(t, &body, "tags", v, sizeof(v), &nk);
	CHECK_STR(v, "x, y");
	fm(t, &body, "n", v, sizeof(v), &nk);
	CHECK_STR(v, "3");
	/* CRLF, a byte order mark, "..." as the closing line, no body */
	CHECK_EQ_INT(fm("\xEF\xBB\xBF---\r\nk: v\r\n...\r\n", &body, "k", v,
			sizeof(v), &nk),
		     1);
	CHECK_STR(v, "v");
	/* Not front matter: nothing taken */
	CHECK_EQ_INT(fm("# Title\n---\nk: v\n---\n", &body, "k", v, sizeof(v),
			&nk),
		     0);
	CHECK_EQ_INT(fm("---", &body, "k", v, sizeof(v), &nk), 0);
	CHECK_EQ_INT(fm("", &body, "k", v, sizeof(v), &nk), 0);
	/* Malformed: kept as text, with a reason */
	CHECK_EQ_INT(fm("---\nk: v\n", &body, "k", v, sizeof(v), &nk), -1);
	CHECK_EQ_INT(fm("---\nk: v\nno colon here\n---\n", &body, "k", v,
			sizeof(v), &nk),
		     -1);
	CHECK_EQ_INT(fm("---\nlist:\n  - a\n---\n", &body, "k", v, sizeof(v),
			&nk),
		     -1);
	CHECK_EQ_INT(fm("---\nk: a\nk: b\n---\n", &body, "k", v, sizeof(v),
			&nk),
		     -1);
	CHECK_EQ_INT(fm("---\nk:v\n---\n", &body, "k", v, sizeof(v), &nk), -1);
	CHECK_EQ_INT(fm("---\nk: \xff\xfe\n---\n", &body, "k", v, sizeof(v),
			&nk),
		     -1);
	CHECK_EQ_INT(fm("---\nk: a\x01b\n---\n", &body, "k", v, sizeof(v), &nk),
		     -1);
	/* Caps: value length, key length, key count, block size */
	o = (size_t)snprintf(big, sizeof(big), "---\nk: ");
	for (i = 0; i < RAG_FM_MAX_VALUE + 1; i++)
		big[o++] = 'x';
	snprintf(big + o, sizeof(big) - o, "\n---\n");
	CHECK_EQ_INT(fm(big, &body, "k", v, sizeof(v), &nk), -1);
	/* exactly RAG_FM_MAX_VALUE bytes: accepted */
	snprintf(big + o - 1, sizeof(big) - o + 1, "\n---\n");
	CHECK_EQ_INT(fm(big, &body, "k", v, sizeof(v), &nk), 1);
	CHECK_EQ_INT((int)strlen(v), RAG_FM_MAX_VALUE);
	o = (size_t)snprintf(big, sizeof(big), "---\n");
	for (i = 0; i < RAG_FM_MAX_KEY + 1; i++)
		big[o++] = 'k';
	snprintf(big + o, sizeof(big) - o, ": v\n---\n");
	CHECK_EQ_INT(fm(big, &body, "k", v, sizeof(v), &nk), -1);
	o = (size_t)snprintf(big, sizeof(big), "---\n");
	for (i = 0; i <= RAG_FM_MAX_KEYS; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "k%zu: v\n", i);
	snprintf(big + o, sizeof(big) - o, "---\n");
	CHECK_EQ_INT(fm(big, &body, "k0", v, sizeof(v), &nk), -1);
	o = (size_t)snprintf(big, sizeof(big), "---\n");
	while (o < RAG_FM_MAX_BYTES + 100)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "# comment\n");
	snprintf(big + o, sizeof(big) - o, "k: v\n---\n");
	CHECK_EQ_INT(fm(big, &body, "k", v, sizeof(v), &nk), -1);
}

static void check_spans(const char *t, size_t len, const struct rag_span *s,
			size_t n, size_t max)
{
	size_t i;
	for (i = 0; i < n; i++) {
		CHECK(s[i].end > s[i].start);
		CHECK(s[i].end <= len);
		CHECK(s[i].end - s[i].start <= max);
		CHECK(web_utf8_valid(t + s[i].start, s[i].end - s[i].start));
		if (i)
			CHECK(s[i].start > s[i - 1].start);
	}
}

static void test_chunk_empty(void)
{
	struct rag_chunk_opts o = opts(100, 20);
	struct rag_span *s;
	size_t n;
	CHECK_EQ_INT(rag_chunk("", 0, &o, &s, &n), 0);
	CHECK_EQ_INT(n, 0);
	free(s);
	CHECK_EQ_INT(rag_chunk(" \n\n \t ", 6, &o, &s, &n), 0);
	CHECK_EQ_INT(n, 0);
	free(s);
}

static void test_chunk_huge_line(void)
{
	struct rag_chunk_opts o = opts(100, 20);
	size_t len = 99999, n, i;
	char *t = malloc(len + 1);
	struct rag_span *s;

	for (i = 0; i < len; i++) /* 3-byte characters, no spaces at all */
		t[i] = "\xe2\x82\xac"[i % 3];
	t[len] = '\0';
	CHECK_EQ_INT(rag_chunk(t, len, &o, &s, &n), 0);
	CHECK(n >= len / 100);
	check_spans(t, len, s, n, 100);
	free(s);
	for (i = 0; i < len; i++)
		t[i] = (i % 7 == 6) ? ' ' : 'x';
	CHECK_EQ_INT(rag_chunk(t, len, &o, &s, &n), 0);
	check_spans(t, len, s, n, 100);
	CHECK_EQ_INT(s[n - 1].end, len);
	free(s);
	free(t);
}

static void test_chunk_sentences(void)
{
	const char *t =
		"First sentence here. Second one follows! Third asks?\n\n"
		"A new paragraph starts. It has two sentences.";
	struct rag_chunk_opts o = opts(64, 25);
	struct rag_span *s;
	size_t n, i;

	CHECK_EQ_INT(rag_chunk(t, strlen(t), &o, &s, &n), 0);
	CHECK(n >= 2);
	check_spans(t, strlen(t), s, n, 64);
	for (i = 0; i < n; i++) { /* boundaries fall on sentence ends */
		char last = t[s[i].end - 1];
		CHECK(last == '.' || last == '!' || last == '?');
	}
	/* Overlap: some chunk starts before the previous one ended. */
	for (i = 1; i < n; i++)
		if (s[i].start < s[i - 1].end)
			break;
	CHECK(i < n);
	free(s);
}

static void test_chunk_opts(void)
{
	struct rag_chunk_opts in = opts(10, 0), out;
	char err[128];
	CHECK_EQ_INT(rag_chunk_opts_check(&in, &out, err, sizeof(err)), -1);
	in = opts(1000, 600);
	CHECK_EQ_INT(rag_chunk_opts_check(&in, &out, err, sizeof(err)), -1);
	CHECK_EQ_INT(rag_chunk_opts_check(NULL, &out, err, sizeof(err)), 0);
	CHECK_EQ_INT(out.size, 1000);
}

int main(void)
{
	RUN(test_utf8);
	RUN(test_html);
	RUN(test_binary);
	RUN(test_front_matter);
	RUN(test_chunk_empty);
	RUN(test_chunk_huge_line);
	RUN(test_chunk_sentences);
	RUN(test_chunk_opts);
	return ZGT_DONE();
}
