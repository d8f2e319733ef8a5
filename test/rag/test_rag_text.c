/* Unit tests of the text side of ingest: UTF-8 repair, HTML stripping,
 * binary detection and the chunker's edge cases (empty input, huge lines,
 * no spaces, multibyte boundaries, overlap). */
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"
#include "zgtest.h"

static struct rag_chunk_opts opts(size_t size, size_t overlap)
{
	struct rag_chunk_opts o = { size, overlap };
	return o;
}

static int valid_utf8(const char *s, size_t n)
{
	size_t out;
	char *c = rag_utf8_clean(s, n, &out);
	int same = c && out == n && memcmp(c, s, n) == 0;
	free(c);
	return same;
}

static void test_utf8(void)
{
	size_t n;
	char *c = rag_utf8_clean("a\xff"
				 "b\xc3\xa9\0x",
				 7, &n);
	CHECK(c != NULL);
	CHECK_EQ_INT(n, 8); /* a, U+FFFD, b, e-acute, x (NUL dropped) */
	CHECK(memcmp(c,
		     "a\xef\xbf\xbd"
		     "b\xc3\xa9x",
		     8) == 0);
	free(c);
	c = rag_utf8_clean("\xed\xa0\x80\xf4\x90\x80\x80", 7,
			   &n); /* surrogate, >U+10FFFF */
	CHECK(c && valid_utf8(c, n));
	free(c);
	c = rag_utf8_clean("", 0, &n);
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
	char *t = rag_html_strip(h, strlen(h), &n);
	CHECK(t != NULL);
	CHECK(strstr(t, "alert") == NULL);
	CHECK(strstr(t, "color") == NULL);
	CHECK(strstr(t, "hidden") == NULL);
	CHECK(strstr(t, "One & two") != NULL);
	CHECK(strstr(t, "three<4") != NULL);
	free(t);
	t = rag_html_strip("<scr", 4, &n); /* truncated tag */
	CHECK(t && n == 0);
	free(t);
	t = rag_html_strip("<script>never closed", 20, &n);
	CHECK(t && strstr(t, "never") == NULL);
	free(t);
}

static void test_binary(void)
{
	CHECK(rag_looks_binary("ab\0cd", 5));
	CHECK(!rag_looks_binary("abcd", 4));
}

static void check_spans(const char *t, size_t len, const struct rag_span *s,
			size_t n, size_t max)
{
	size_t i;
	for (i = 0; i < n; i++) {
		CHECK(s[i].end > s[i].start);
		CHECK(s[i].end <= len);
		CHECK(s[i].end - s[i].start <= max);
		CHECK(valid_utf8(t + s[i].start, s[i].end - s[i].start));
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
	RUN(test_chunk_empty);
	RUN(test_chunk_huge_line);
	RUN(test_chunk_sentences);
	RUN(test_chunk_opts);
	return ZGT_DONE();
}
