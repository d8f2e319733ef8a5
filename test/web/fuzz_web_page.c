/* Fuzz target: page decoding (media type, charset detection from header,
 * BOM and <meta>, iconv conversion, HTML to text, title). The first byte
 * picks a Content-Type; the text is always valid UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = {
		NULL,
		"text/html",
		"text/html; charset=iso-8859-1",
		"text/plain; charset=utf-16",
		"text/html; charset=shift_jis",
		"text/plain; charset=x-unknown",
		"application/json",
		"image/png",
	};
	struct web_page pg;
	char err[256];
	size_t n;
	char *chk;

	if (size < 1)
		return 0;
	if (web_page_decode(types[data[0] % 8], (const char *)data + 1,
			    size - 1, &pg, err, sizeof(err)) != 0)
		return 0;
	chk = web_utf8_clean(pg.text, pg.len, &n);
	if (!chk || n != pg.len || memcmp(chk, pg.text, n) != 0 ||
	    strlen(pg.text) != pg.len || pg.len > WEB_MAX_TEXT)
		abort();
	free(chk);
	web_page_free(&pg);
	return 0;
}
