/* From a fetched body to readable text: the media type decides whether it
 * is HTML, other text or refused; the charset (header, BOM, <meta>, else
 * a guess) is converted to UTF-8 with iconv; HTML loses its markup but
 * keeps its title; whitespace is tidied and the text capped. */
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web_int.h"

#define CHARSET_MAX 40
#define META_SCAN 4096

static int lc(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Case-insensitive search for needle in s[0..n); index or n. */
static size_t ci_find(const char *s, size_t n, const char *needle)
{
	size_t l = strlen(needle), i, j;
	for (i = 0; i + l <= n; i++) {
		for (j = 0; j < l && lc((unsigned char)s[i + j]) == needle[j];
		     j++)
			;
		if (j == l)
			return i;
	}
	return n;
}

/* Copies a charset name starting at s (quotes and spaces skipped) into
 * out: [A-Za-z0-9._:-], at most CHARSET_MAX. 0, or -1 if none. */
static int take_charset(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i = 0, o = 0;
	while (i < n &&
	       (s[i] == ' ' || s[i] == '"' || s[i] == '\'' || s[i] == '='))
		i++;
	for (; i < n && o + 1 < outlen && o < CHARSET_MAX; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || c == ':'))
			break;
		out[o++] = (char)lc((unsigned char)c);
	}
	out[o] = '\0';
	return o ? 0 : -1;
}

/* The media type in ctype, lower case, parameters cut. */
static void media_type(const char *ctype, char *out, size_t outlen)
{
	size_t i = 0;
	while (ctype && ctype[i] && ctype[i] != ';' && ctype[i] != ' ' &&
	       i + 1 < outlen) {
		out[i] = (char)lc((unsigned char)ctype[i]);
		i++;
	}
	out[i] = '\0';
}

enum kind { K_REFUSE, K_HTML, K_TEXT };

static enum kind kind_of(const char *mt, const char *body, size_t n)
{
	size_t l = strlen(mt);
	if (!strcmp(mt, "text/html") || !strcmp(mt, "application/xhtml+xml"))
		return K_HTML;
	if (!strncmp(mt, "text/", 5) || !strcmp(mt, "application/json") ||
	    !strcmp(mt, "application/xml") ||
	    !strcmp(mt, "application/javascript") ||
	    (l > 5 &&
	     (!strcmp(mt + l - 5, "+json") || !strcmp(mt + l - 4, "+xml"))))
		return K_TEXT;
	if (l == 0 || !strcmp(mt, "application/octet-stream")) {
		/* No usable type: sniff. */
		if (web_looks_binary(body, n))
			return K_REFUSE;
		return ci_find(body, n < 512 ? n : 512, "<html") < 512 ||
				       ci_find(body, n < 512 ? n : 512,
					       "<!doctype html") < 512
			       ? K_HTML
			       : K_TEXT;
	}
	return K_REFUSE;
}

/* Finds the charset a document declares for itself; 0 or -1. */
static int declared_charset(const char *ctype, const char *b, size_t n,
			    enum kind k, char *out, size_t outlen)
{
	size_t i, scan = n < META_SCAN ? n : META_SCAN;

	if (ctype) {
		size_t cl = strlen(ctype);
		i = ci_find(ctype, cl, "charset");
		if (i < cl &&
		    take_charset(ctype + i + 7, cl - i - 7, out, outlen) == 0)
			return 0;
	}
	if (n >= 3 && !memcmp(b, "\xef\xbb\xbf", 3))
		return snprintf(out, outlen, "utf-8") > 0 ? 0 : -1;
	if (n >= 2 && (!memcmp(b, "\xff\xfe", 2) || !memcmp(b, "\xfe\xff", 2)))
		return snprintf(out, outlen, "utf-16") > 0 ? 0 : -1; /* iconv
									reads the BOM */
	if (k != K_HTML)
		return -1;
	/* <meta charset="x"> or <meta http-equiv=... content="...charset=x"> */
	i = 0;
	while (i < scan) {
		size_t m = ci_find(b + i, scan - i, "<meta"), e, c;
		if (m >= scan - i)
			break;
		m += i;
		for (e = m; e < scan && b[e] != '>'; e++)
			;
		c = ci_find(b + m, e - m, "charset");
		if (c < e - m && take_charset(b + m + c + 7, e - m - c - 7, out,
					      outlen) == 0)
			return 0;
		i = e;
	}
	return -1;
}

/* Converts b from charset cs to UTF-8 with iconv, each undecodable byte
 * becoming U+FFFD. NULL if iconv does not know cs (or out of memory). */
static char *to_utf8(const char *cs, const char *b, size_t n, size_t *outlen)
{
	iconv_t cd = iconv_open("UTF-8", cs);
	size_t cap, inleft = n, outleft;
	char *out, *in = (char *)b, *o;

	if (cd == (iconv_t)-1)
		return NULL;
	/* Every input byte gives at most 4 output bytes (a 1-byte charset's
	 * character, or U+FFFD for a bad byte, is at most 3). */
	cap = n * 4 + 4;
	out = malloc(cap);
	if (!out)
		goto fail;
	o = out;
	outleft = cap - 1;
	while (inleft > 0) {
		if (iconv(cd, &in, &inleft, &o, &outleft) != (size_t)-1)
			break;
		if (errno == E2BIG || outleft < 3)
			break; /* cannot happen given cap; stop safely */
		/* EILSEQ or EINVAL (truncated sequence): skip one byte. */
		memcpy(o, "\xef\xbf\xbd", 3);
		o += 3;
		outleft -= 3;
		in++;
		inleft--;
	}
	*o = '\0';
	*outlen = (size_t)(o - out);
	iconv_close(cd);
	return out;
fail:
	iconv_close(cd);
	return NULL;
}

/* Collapses runs of blanks into one space, trims lines, and keeps at most
 * one empty line between paragraphs; in place. Returns the new length. */
static size_t tidy(char *s, size_t n)
{
	size_t i, o = 0, nl = 2; /* pretend we start after a paragraph */
	int space = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\r')
			continue;
		if (c == '\n') {
			space = 0;
			if (nl < 2)
				s[o++] = '\n';
			nl++;
			continue;
		}
		if (c == ' ' || c == '\t') {
			space = 1;
			continue;
		}
		if (space && nl == 0)
			s[o++] = ' ';
		space = 0;
		nl = 0;
		s[o++] = c;
	}
	while (o > 0 && s[o - 1] == '\n')
		o--;
	s[o] = '\0';
	return o;
}

/* The text of the first <title> element, or NULL. */
static char *html_title(const char *s, size_t n)
{
	size_t a = ci_find(s, n, "<title"), b, l;
	char *t;

	if (a >= n)
		return NULL;
	while (a < n && s[a] != '>')
		a++;
	if (a >= n)
		return NULL;
	a++;
	b = a + ci_find(s + a, n - a, "</title");
	t = web_html_strip(s + a, b - a, &l);
	if (!t)
		return NULL;
	l = tidy(t, l);
	for (size_t i = 0; i < l; i++)
		if (t[i] == '\n')
			t[i] = ' ';
	if (l == 0 || l > 1024) {
		free(t);
		return NULL;
	}
	return t;
}

/* Cuts s at max bytes on a UTF-8 boundary. Returns the new length. */
static size_t cut_utf8(char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	s[max] = '\0';
	return max;
}

/* Decodes body to clean UTF-8 in *u (length *ul), noting the charset. */
static int decode(const char *ctype, const char *body, size_t n, enum kind k,
		  struct web_page *pg, char **u, size_t *ul)
{
	char cs[CHARSET_MAX + 1], *conv = NULL;
	size_t cl = 0;

	if (declared_charset(ctype, body, n, k, cs, sizeof(cs)) != 0)
		snprintf(cs, sizeof(cs), "%s",
			 web_utf8_valid(body, n) ? "utf-8" : "windows-1252");
	if (strcmp(cs, "utf-8") && strcmp(cs, "utf8") &&
	    strcmp(cs, "us-ascii")) {
		conv = to_utf8(cs, body, n, &cl);
		if (!conv) /* a charset iconv does not know */
			snprintf(pg->charset, sizeof(pg->charset),
				 "utf-8 (unknown %s)", cs);
		else
			snprintf(pg->charset, sizeof(pg->charset), "%s", cs);
	} else {
		snprintf(pg->charset, sizeof(pg->charset), "utf-8");
		if (n >= 3 && !memcmp(body, "\xef\xbb\xbf", 3)) {
			body += 3; /* the BOM is no text */
			n -= 3;
		}
	}
	*u = conv ? web_utf8_clean(conv, cl, ul) : web_utf8_clean(body, n, ul);
	free(conv);
	return *u ? 0 : -1;
}

int web_page_decode(const char *ctype, const char *body, size_t n,
		    struct web_page *pg, char *err, size_t errlen)
{
	char mt[64], *u = NULL;
	size_t ul = 0;
	enum kind k;

	memset(pg, 0, sizeof(*pg));
	media_type(ctype, mt, sizeof(mt));
	k = kind_of(mt, body, n);
	if (k == K_REFUSE) {
		snprintf(err, errlen, "content type %s is not text",
			 mt[0] ? mt : "(binary, none given)");
		return -1;
	}
	if (decode(ctype, body, n, k, pg, &u, &ul) != 0)
		goto oom;
	if (k == K_HTML) {
		char *t = web_html_strip(u, ul, &pg->len);
		pg->title = html_title(u, ul);
		free(u);
		u = NULL;
		if (!t)
			goto oom;
		pg->text = t;
		/* Numeric entities and U+FFFD remnants are left as they are;
		 * the stripper's output is UTF-8 from UTF-8 input. */
	} else {
		pg->text = u;
		pg->len = ul;
	}
	pg->len = tidy(pg->text, pg->len);
	if (pg->len > WEB_MAX_TEXT) {
		pg->len = cut_utf8(pg->text, pg->len, WEB_MAX_TEXT);
		pg->truncated = 1;
	}
	return 0;
oom:
	free(u);
	web_page_free(pg);
	snprintf(err, errlen, "out of memory");
	return -1;
}

void web_page_free(struct web_page *pg)
{
	free(pg->title);
	free(pg->text);
	pg->title = pg->text = NULL;
}
