/* Fuzz target: the servers file of mcpd --servers (hosted_config.c). Any
 * input is accepted whole or refused with a FILE:LINE message; what is
 * accepted keeps its caps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hosted.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hosted_cfgs c;
	char err[512];
	char *text;

	if (size > HOSTED_MAX_FILE + 16)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (hosted_config_parse("fuzz.json", text, &c, err, sizeof(err)) == 0) {
		if (c.n > HOSTED_MAX_SERVERS)
			abort();
		for (size_t i = 0; i < c.n; i++) {
			size_t n = 0;
			while (c.v[i].argv[n])
				n++;
			if (n < 1 || n > HOSTED_MAX_ARGS + 1 || !c.v[i].path)
				abort();
		}
		hosted_config_free(&c);
	} else if (strncmp(err, "fuzz.json", 9) != 0 || c.n != 0) {
		abort();
	}
	free(text);
	return 0;
}
