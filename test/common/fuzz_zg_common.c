/* Fuzz target: arbitrary bytes into the common parsers (zg_parse_int,
 * zg_parse_listen_addr under every flag combination) and the error
 * formatter, checking what each promises: a parsed number is in range,
 * a parsed address fits its caps, a message is terminated and in bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zg_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, err[96], msg[40];
	struct zg_listen_addr a;
	long long v;
	uint64_t u;
	const char *end;

	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (zg_parse_int(s, -1000, 65535, &v) == 0 && (v < -1000 || v > 65535))
		abort();
	if (zg_parse_uint(s, &end, 3, 70000, &u) == 0 &&
	    (u < 3 || u > 70000 || end <= s || end > s + size ||
	     (*s < '0' || *s > '9')))
		abort();
	if (zg_parse_uint(s, NULL, 0, UINT64_MAX, &u) == 0 &&
	    strlen(s) > ZG_NUM_TEXT_MAX)
		abort();
	for (unsigned f = 0; f < 8; f++) {
		if (zg_parse_listen_addr(s, f, &a, err, sizeof(err)) != 0) {
			if (strlen(err) >= sizeof(err))
				abort();
			continue;
		}
		if (a.kind == ZG_ADDR_UNIX &&
		    (!(f & 1) || !a.path[0] ||
		     strlen(a.path) > ZG_ADDR_PATH_MAX))
			abort();
		if (a.kind == ZG_ADDR_TCP &&
		    ((f & 2) || !a.host[0] ||
		     strlen(a.host) > ZG_ADDR_HOST_MAX))
			abort();
	}
	zg_errf(msg, sizeof(msg), s, (long)size, "%s", s);
	if (strlen(msg) >= sizeof(msg))
		abort();
	free(s);
	return 0;
}
