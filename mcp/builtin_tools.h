/* mcpd's always-present tools (see builtin_tools.c). */
#ifndef MCP_BUILTIN_TOOLS_H
#define MCP_BUILTIN_TOOLS_H

#include <stddef.h>

#include "zonegate/mcp.h"

/* Registers time_now. Returns 0, or -1 with a message in err. */
int mcp_builtin_tools_register(mcp_server *srv, char *err, size_t errlen);

#endif
