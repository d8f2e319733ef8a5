/* placeholder */
#include "rag_int.h"
struct rag_embedder *rag_glove_open(const char *path, char *err,
				    size_t errlen)
{
	(void)path;
	rag_errf(err, errlen, "glove embedder not built");
	return NULL;
}
RAG_EXPORT int rag_glove_import(const char *json_path, const char *out_path, char *err,
		     size_t errlen)
{
	(void)json_path; (void)out_path;
	rag_errf(err, errlen, "glove embedder not built");
	return -1;
}
