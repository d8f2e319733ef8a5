/* The bounded integer parsers (zg_common.h): digits read under errno, end
 * and range checks, and nothing strtoll would skip or accept silently
 * (leading space, '+', an empty string, a trailing suffix; for unsigned
 * numbers also the '-' that strtoull wraps around). */
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

int zg_parse_uint(const char *s, const char **end, uint64_t min, uint64_t max,
		  uint64_t *out)
{
	size_t n = 0;
	uint64_t v = 0;
	unsigned d;

	if (!s || !out || min > max)
		return -1;
	while (s[n] >= '0' && s[n] <= '9') {
		if (n == ZG_NUM_TEXT_MAX)
			return -1;
		d = (unsigned)(s[n] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		n++;
	}
	if (n == 0 || (!end && s[n] != '\0') || v < min || v > max)
		return -1;
	if (end)
		*end = s + n;
	*out = v;
	return 0;
}
