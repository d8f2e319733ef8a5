/* Fuzz target: the HTML stripper (output never longer than input). */
#include <stdint.h>
#include <stdlib.h>

#include "rag_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n;
	char *t = web_html_strip((const char *)data, size, &n);
	if (t && n > size + 1)
		abort();
	free(t);
	return 0;
}
