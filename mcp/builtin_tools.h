/* mcpd's always-present tools (see builtin_tools.c). */
#ifndef MCP_BUILTIN_TOOLS_H
#define MCP_BUILTIN_TOOLS_H

#include <stddef.h>

#include "zonegate/mcp.h"

/* Registers time_now. as_of: NULL for the real clock, or a fixed instant
 * (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC) that time_now answers, marked
 * as fixed in its result. Returns 0, or -1 with a message in err (a bad
 * as_of). */
int mcp_builtin_tools_register(mcp_server *srv, const char *as_of, char *err,
			       size_t errlen);

#endif
