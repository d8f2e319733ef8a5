/* Fuzz target: the --where filter parser and evaluator. */
#include <stdint.h>
#include <stdlib.h>

#include "rag_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct rag_filter *f =
		rag_filter_parse((const char *)data, size, err, sizeof(err));
	if (f) {
		json_t *m = json_pack("{s:s, s:i, s:f, s:b}", "dir", "man7",
				      "n", 3, "x", 2.5, "ok", 1);
		rag_filter_match(f, m);
		rag_filter_match(f, NULL);
		json_decref(m);
		rag_filter_free(f);
	}
	return 0;
}
