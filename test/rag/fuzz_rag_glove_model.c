/* Fuzz target: the glove embedder's binary model parser (every size in
 * the header is checked against the file before anything is allocated),
 * then one embedding with whatever model was accepted. */
#include <stdint.h>
#include <stdlib.h>

#include "rag_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rag_embedder *e = rag_glove_from_buf(data, size, NULL, 0);
	if (e) {
		const char *t = "the cat sat";
		size_t l = 11;
		float *v = malloc((size_t)e->dims * sizeof(float));
		if (v)
			e->embed(e, &t, &l, 1, v, NULL, 0);
		free(v);
		e->destroy(e);
	}
	return 0;
}
