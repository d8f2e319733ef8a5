/* Web content readers shared by the web tools and RAG ingest: UTF-8
 * repair, HTML to text, and the capped download buffer for libcurl. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web_text.h"

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len, i;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

char *web_utf8_clean(const char *s, size_t len, size_t *outlen)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;
	char *out;

	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	out = malloc(len * 3 + 1); /* each bad byte becomes 3 bytes */
	if (!out)
		return NULL;
	while (i < len) {
		size_t l = utf8_seq(u + i, len - i);
		if (l == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		if (l == 1 && (u[i] < 0x20 || u[i] == 0x7f) && u[i] != '\t' &&
		    u[i] != '\n' && u[i] != '\r') {
			i++;
			continue;
		}
		memcpy(out + o, s + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

int web_utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t l = utf8_seq(u + i, len - i);
		if (l == 0)
			return 0;
		i += l;
	}
	return 1;
}

size_t web_utf8_prefix(const char *s, size_t max)
{
	size_t k = 0, n = strlen(s), c;

	while (k < n) {
		c = utf8_seq((const unsigned char *)s + k, n - k);
		if (!c)
			c = 1;
		if (k + c > max)
			break;
		k += c;
	}
	return k;
}

int web_looks_binary(const char *s, size_t len)
{
	size_t n = len < 8192 ? len : 8192;
	return memchr(s, '\0', n) != NULL;
}

/* ---- HTML ---- */

static int ci_prefix(const char *s, size_t n, const char *p)
{
	size_t i;
	for (i = 0; p[i]; i++) {
		char c;
		if (i >= n)
			return 0;
		c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != p[i])
			return 0;
	}
	return 1;
}

/* Finds case-insensitive needle in s[from..n); returns index or n. */
static size_t ci_find(const char *s, size_t n, size_t from, const char *needle)
{
	size_t i;
	for (i = from; i < n; i++)
		if (ci_prefix(s + i, n - i, needle))
			return i;
	return n;
}

static const char *const block_tags[] = {
	"p",   "div",	  "br",	     "li",     "ul",	 "ol",	       "h1",
	"h2",  "h3",	  "h4",	     "h5",     "h6",	 "tr",	       "table",
	"pre", "section", "article", "header", "footer", "blockquote", "hr",
	"dd",  "dt",	  "title",   NULL
};

/* Nonzero if the tag starting after '<' (and an optional '/') is a block. */
static int is_block_tag(const char *s, size_t n)
{
	size_t i;
	for (i = 0; block_tags[i]; i++) {
		size_t l = strlen(block_tags[i]);
		if (ci_prefix(s, n, block_tags[i]) &&
		    (l == n || !((s[l] >= 'a' && s[l] <= 'z') ||
				 (s[l] >= 'A' && s[l] <= 'Z') ||
				 (s[l] >= '0' && s[l] <= '9'))))
			return 1;
	}
	return 0;
}

static const struct {
	const char *name;
	const char *text;
} entities[] = { { "&amp;", "&" },   { "&lt;", "<" },  { "&gt;", ">" },
		 { "&quot;", "\"" }, { "&#39;", "'" }, { "&apos;", "'" },
		 { "&nbsp;", " " },  { NULL, NULL } };

/* Copies an entity at s if known; returns bytes consumed (0 if none). */
static size_t put_entity(const char *s, size_t n, char *out, size_t *o)
{
	size_t i;
	for (i = 0; entities[i].name; i++) {
		size_t l = strlen(entities[i].name);
		if (l <= n && memcmp(s, entities[i].name, l) == 0) {
			size_t tl = strlen(entities[i].text);
			memcpy(out + *o, entities[i].text, tl);
			*o += tl;
			return l;
		}
	}
	return 0;
}

/* Skips a tag starting at s[i] == '<'; returns the index after it. Script
 * and style elements and comments are skipped whole. */
static size_t skip_tag(const char *s, size_t n, size_t i, int *block)
{
	size_t j, name = i + 1;

	if (ci_prefix(s + i, n - i, "<!--")) {
		j = ci_find(s, n, i + 4, "-->");
		return j < n ? j + 3 : n;
	}
	if (name < n && s[name] == '/')
		name++;
	*block = is_block_tag(s + name, n - name);
	if (ci_prefix(s + i, n - i, "<script") ||
	    ci_prefix(s + i, n - i, "<style")) {
		const char *end = ci_prefix(s + i, n - i, "<script")
					  ? "</script"
					  : "</style";
		j = ci_find(s, n, i + 1, end);
		i = j;
		*block = 1;
	}
	j = i;
	while (j < n && s[j] != '>')
		j++;
	return j < n ? j + 1 : n;
}

char *web_html_strip(const char *s, size_t len, size_t *outlen)
{
	size_t i = 0, o = 0;
	char *out;

	if (len >= SIZE_MAX / 2)
		return NULL;
	out = malloc(len + 2);
	if (!out)
		return NULL;
	while (i < len) {
		if (s[i] == '<') {
			int block = 0;
			i = skip_tag(s, len, i, &block);
			if (block && o > 0 && out[o - 1] != '\n')
				out[o++] = '\n';
			else if (!block && o > 0 && out[o - 1] != ' ' &&
				 out[o - 1] != '\n')
				out[o++] = ' ';
			continue;
		}
		if (s[i] == '&') {
			size_t used = put_entity(s + i, len - i, out, &o);
			if (used) {
				i += used;
				continue;
			}
		}
		out[o++] = s[i++];
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

size_t web_capbuf_write(char *data, size_t sz, size_t nm, void *ud)
{
	struct web_capbuf *b = ud;
	size_t add = sz * nm;
	char *np;

	if (add > b->max - b->n) {
		b->too_big = 1;
		return 0;
	}
	np = realloc(b->p, b->n + add + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, data, add);
	b->n += add;
	b->p[b->n] = '\0';
	return add;
}
