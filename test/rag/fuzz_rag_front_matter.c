/* Fuzz target: the Markdown front matter parser. Aborts if a result
 * breaks its contract: body inside the input, string values within the
 * caps, nothing returned for a malformed block. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	json_t *m = NULL, *v;
	const char *k;
	size_t body = 0;
	int rc = rag_front_matter((const char *)data, size, &m, &body, err,
				  sizeof(err));

	if (rc != 1) {
		if (m || body)
			abort();
		return 0;
	}
	if (!json_is_object(m) || body > size || body > RAG_FM_MAX_BYTES ||
	    json_object_size(m) > RAG_FM_MAX_KEYS)
		abort();
	json_object_foreach (m, k, v) {
		if (strlen(k) > RAG_FM_MAX_KEY || !json_is_string(v) ||
		    json_string_length(v) > RAG_FM_MAX_VALUE)
			abort();
	}
	json_decref(m);
	return 0;
}
