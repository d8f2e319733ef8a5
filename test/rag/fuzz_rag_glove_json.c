/* Fuzz target: the importer's parser of the wink-embeddings JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	size_t n;
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	rag_glove_parse_json(buf, size, &n, NULL, 0);
	free(buf);
	return 0;
}
