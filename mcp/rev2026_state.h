/* The request state API moved to mcp/include/mcp_state.h (public to zg_mcp's
 * users: gatewayd seals its held calls' state with it); this name stays for
 * mcp/ and its tests. */
#ifndef MCP_REV2026_STATE_H
#define MCP_REV2026_STATE_H

#include "mcp_state.h"

#endif
