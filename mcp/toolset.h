/* Tool set modules: shared objects that mcpd loads on demand, so that it
 * maps the libraries of a tool set (SQLite, OpenBLAS, libcurl, ...) only
 * when it serves that tool set. */
#ifndef MCP_TOOLSET_H
#define MCP_TOOLSET_H

#include <stddef.h>

/* Loads module NAME (e.g. "zg_rag_toolset") from the module directory,
 * ../lib/zonegate/ next to the running binary (a fixed place: no search
 * path, no environment variable, so nothing outside the installation can
 * inject code), and returns the address of symbol, or NULL with a message
 * in err. The module stays loaded for the life of the process. */
void *mcpd_toolset_symbol(const char *name, const char *symbol, char *err,
			  size_t errlen);

#endif
