/* Web content readers shared by the web tools (web/) and RAG ingest
 * (rag/): UTF-8 repair, HTML to text, charset conversion to UTF-8, and a
 * capped download buffer for libcurl. No dependency but libc (iconv). */
#ifndef WEB_TEXT_H
#define WEB_TEXT_H

#include <stddef.h>

/* Returns a NUL-terminated copy of s with invalid UTF-8 sequences replaced
 * by U+FFFD and NUL and other C0 controls except \t \n \r dropped; length
 * in *outlen. NULL on allocation failure. Caller frees. */
char *web_utf8_clean(const char *s, size_t len, size_t *outlen);

/* Nonzero if s[0..len) is valid UTF-8 (shortest forms, no surrogates,
 * nothing above U+10FFFF). */
int web_utf8_valid(const char *s, size_t len);

/* The length of the longest prefix of s of at most max bytes that does
 * not end inside a character: outside text (a filter key, a server's
 * error message) is cut with this in "%.*s", never at a byte count. An
 * invalid byte counts as a character of its own. */
size_t web_utf8_prefix(const char *s, size_t max);

/* Returns the visible text of an HTML document (tags, comments, script and
 * style removed, block tags as line breaks, common entities decoded), NUL
 * terminated, length in *outlen. NULL on allocation failure. */
char *web_html_strip(const char *s, size_t len, size_t *outlen);

/* Nonzero if the first bytes look binary (NUL bytes). */
int web_looks_binary(const char *s, size_t len);

/* A growable buffer for a libcurl download, capped at max bytes: the
 * write callback refuses (and sets too_big) past the cap, so a server
 * cannot make us allocate more. p is NUL-terminated; the caller frees it. */
struct web_capbuf {
	char *p;
	size_t n, max;
	int too_big;
};
size_t web_capbuf_write(char *data, size_t sz, size_t nm, void *ud);

#endif
