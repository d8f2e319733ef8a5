/* MCP revision 2026-07-28, the stateless revision: which requests take it,
 * the per-request checks of its _meta and HTTP headers, and the fields it
 * adds to results. Private to mcp/; see docs/protocol.md. */
#ifndef MCP_REV2026_H
#define MCP_REV2026_H

#include <jansson.h>

#include "jsonrpc.h"
#include "param_headers.h"
#include "zonegate/mcp.h"

#define MCP_REV2026 "2026-07-28"
#define MCP_META_PROTOCOL_VERSION "io.modelcontextprotocol/protocolVersion"
#define MCP_META_CLIENT_CAPS "io.modelcontextprotocol/clientCapabilities"
#define MCP_META_CLIENT_INFO "io.modelcontextprotocol/clientInfo"
#define MCP_META_SERVER_INFO "io.modelcontextprotocol/serverInfo"

/* Error codes the revision adds. */
enum { MCP_ERR_HEADER_MISMATCH = -32020, MCP_ERR_UNSUPPORTED_VERSION = -32022 };

/* Why a stateless request is refused: HTTP status, JSON-RPC code, text,
 * and error data (a new reference or NULL; the caller owns it). */
struct mcp_rev_refusal {
	unsigned status;
	int code;
	const char *msg;
	json_t *data;
};

/* 1 when request m (no session id with it) takes the stateless path:
 * hdr_version (the MCP-Protocol-Version header, may be NULL) is not a
 * session-era revision, or it is absent and m's _meta names a protocol
 * version. 0: the session-era rules apply. */
int mcp_rev2026_wanted(const struct jr_msg *m, const char *hdr_version);

/* The value m's Mcp-Name header carries (borrowed from m): params.name of
 * tools/call and prompts/get, params.uri of resources/read, params.taskId
 * of the tasks extension's routed methods; NULL for the rest. */
const char *mcp_rev2026_name(const struct jr_msg *m);

/* Checks a stateless request against the revision's rules: the header and
 * _meta versions agree and are supported, the mandatory _meta keys are
 * there, Mcp-Method / Mcp-Name (NULL: absent) match the body, and the
 * method exists in the revision. Returns 0, or -1 and fills *out. */
int mcp_rev2026_check(const struct jr_msg *m, const char *hdr_version,
		      const char *hdr_method, const char *hdr_name,
		      struct mcp_rev_refusal *out);

/* For a tools/call of a tool of srv: mcp_param_check (param_headers.h)
 * of the tool's inputSchema against m's arguments and the headers hdr
 * gives. Other methods and unknown tools pass (the call reports those).
 * Returns 0, or -1 and fills *out (400, -32020). */
int mcp_rev2026_check_params(mcp_server *srv, const struct jr_msg *m,
			     mcp_header_fn hdr, void *ctx,
			     struct mcp_rev_refusal *out);

/* The same for a request that arrived without an HTTP layer of mcpd's
 * own (a channel from zonegate-relay's HTTP endpoint): the headers are
 * the carried form in _meta, which is taken out (mcp_param_take); a
 * request without it is not checked. Returns 0, or -1 and fills *out. */
int mcp_rev2026_check_carried(mcp_server *srv, const struct jr_msg *m,
			      struct mcp_rev_refusal *out);

/* The same checks without an HTTP layer (stdio, channels): the _meta keys,
 * a supported version, the method. Returns 0, or -1 and fills *out (its
 * status is what HTTP would have used). */
int mcp_rev2026_check_meta(const struct jr_msg *m, struct mcp_rev_refusal *out);

/* Adds the caching fields (ttlMs 0, cacheScope private: nothing may be
 * reused beyond the request) to a result object; NULL is passed through. */
json_t *mcp_rev2026_cache_hints(json_t *result);

/* The HTTP status for a stateless request's JSON answer msg: 400 for a
 * MissingRequiredClientCapabilityError and for a HeaderMismatch (which a
 * backend's engine answers for Mcp-Param headers), else 200. */
unsigned mcp_rev2026_http_status(const char *msg);

/* params._meta.traceparent if it is W3C trace context (version 00-fe,
 * lower-case hex, trace and parent ids not all zero), else NULL
 * (borrowed from params). */
const char *mcp_traceparent(const json_t *params);

/* Every revision this server speaks, newest first (a new array). */
json_t *mcp_rev_supported_versions(void);
/* The revisions srv serves (mcp_server_set_revisions), newest first (a
 * new array). */
json_t *mcp_rev_served_versions(const mcp_server *srv);

#endif
