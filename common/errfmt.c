/* The one "file:line: message" error formatter (zg_common.h): config,
 * policy, pins and command-line errors all read the same way. */
#include <stdio.h>

#include "zg_common.h"

/* Cuts buf (length n) back to the last whole UTF-8 character, so that a
 * truncated message stays valid UTF-8. */
static void utf8_trim(char *buf, size_t n)
{
	size_t i = n, need;

	while (i > 0 && ((unsigned char)buf[i - 1] & 0xC0) == 0x80 && n - i < 3)
		i--;
	if (i == 0)
		return;
	/* buf[i - 1] is an ASCII byte or a lead byte with n - i continuation
	 * bytes after it. */
	need = 0;
	if (((unsigned char)buf[i - 1] & 0xE0) == 0xC0)
		need = 1;
	else if (((unsigned char)buf[i - 1] & 0xF0) == 0xE0)
		need = 2;
	else if (((unsigned char)buf[i - 1] & 0xF8) == 0xF0)
		need = 3;
	if (((unsigned char)buf[i - 1] & 0x80) && need != n - i)
		buf[i - 1] = '\0';
}

int zg_verrf(char *buf, size_t len, const char *file, long line,
	     const char *fmt, va_list ap)
{
	int n;
	size_t used;

	if (!buf || len == 0)
		return -1;
	if (line > 0)
		n = snprintf(buf, len, "%s:%ld: ", file ? file : "?", line);
	else
		n = snprintf(buf, len, "%s: ", file ? file : "?");
	if (n < 0) {
		buf[0] = '\0';
		return -1;
	}
	used = (size_t)n;
	if (used < len) {
		n = vsnprintf(buf + used, len - used, fmt, ap);
		if (n < 0)
			buf[used] = '\0';
		else
			used += (size_t)n;
	}
	if (used >= len)
		utf8_trim(buf, len - 1);
	return -1;
}

int zg_errf(char *buf, size_t len, const char *file, long line, const char *fmt,
	    ...)
{
	va_list ap;

	va_start(ap, fmt);
	zg_verrf(buf, len, file, line, fmt, ap);
	va_end(ap);
	return -1;
}
