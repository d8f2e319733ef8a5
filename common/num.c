/* The one bounded integer parser (zg_common.h): strtoll under errno, end
 * and range checks, and nothing strtoll would skip or accept silently
 * (leading space, '+', an empty string, a trailing suffix). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zg_common.h"

int zg_parse_int(const char *s, long long min, long long max, long long *out)
{
	const char *d;
	char *end;
	long long v;

	if (!s || !out || min > max)
		return -1;
	d = s[0] == '-' ? s + 1 : s;
	/* strtoll skips spaces and takes '+': only digits may follow. */
	if (*d < '0' || *d > '9' || strlen(s) > ZG_NUM_TEXT_MAX)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}
