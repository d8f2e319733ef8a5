/* placeholder */
#include "rag_int.h"
struct rag_embedder *rag_openai_open(const json_t *config, char *err,
				     size_t errlen)
{
	(void)config;
	rag_errf(err, errlen, "openai embedder not built");
	return NULL;
}
