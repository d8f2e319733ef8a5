/* Where a key sits in JSON text: jansson reports lines only for syntax
 * errors, so config parsers find the line of a key they reject with this
 * scan of the original text. */
#include <string.h>

#include "zg_common.h"

long zg_json_key_line(const char *text, const char *key, size_t *from)
{
	size_t kl = strlen(key);
	const char *p = text + (from ? *from : 0);
	long line = 1;

	while ((p = strchr(p, '"')) != NULL) {
		const char *q = p + 1 + kl;
		if (strncmp(p + 1, key, kl) == 0 && *q == '"') {
			q++;
			while (*q == ' ' || *q == '\t' || *q == '\n' ||
			       *q == '\r')
				q++;
			if (*q == ':')
				break;
		}
		p++;
	}
	if (!p)
		return 1;
	for (const char *s = text; s < p; s++)
		if (*s == '\n')
			line++;
	if (from)
		*from = (size_t)(p - text) + 1;
	return line;
}
