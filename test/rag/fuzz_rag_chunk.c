/* Fuzz target: UTF-8 repair and the chunker; the first two bytes pick the
 * chunk size and overlap. Aborts if a span breaks the chunker's contract. */
#include <stdint.h>
#include <stdlib.h>

#include "rag_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rag_chunk_opts in, co;
	struct rag_span *s = NULL;
	size_t len, n = 0, i;
	char *t;

	if (size < 2)
		return 0;
	in.size = 64 + (size_t)data[0] * 8;
	in.overlap = (size_t)data[1] % (in.size / 2);
	if (rag_chunk_opts_check(&in, &co, NULL, 0) < 0)
		return 0;
	t = web_utf8_clean((const char *)data + 2, size - 2, &len);
	if (!t)
		return 0;
	if (rag_chunk(t, len, &co, &s, &n) == 0)
		for (i = 0; i < n; i++)
			if (s[i].end <= s[i].start || s[i].end > len ||
			    s[i].end - s[i].start > co.size ||
			    (i && s[i].start <= s[i - 1].start))
				abort();
	free(s);
	free(t);
	return 0;
}
