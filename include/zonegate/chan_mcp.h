/* Serving an MCP server on a channel: one mcp_conn per stream, many
 * streams at once, in a background thread of its own. Used by
 * `mcpd --chan ADDR`. */
#ifndef ZONEGATE_CHAN_MCP_H
#define ZONEGATE_CHAN_MCP_H

#include <stddef.h>
#include <zonegate/chan_mux.h>
#include <zonegate/mcp.h>

#ifdef __cplusplus
extern "C" {
#endif

struct chan_mcp_server;

/* Opens addr as a channel server and serves srv on it from a new thread:
 * every stream the peer opens is a session or a pipe of stateless
 * requests (its first request decides); a peer that breaks the protocol
 * is reset and the next client is served. opts may be NULL.
 * Returns a handle for chan_mcp_stop(), or NULL with a message in err.
 * srv must outlive the handle. */
struct chan_mcp_server *chan_mcp_serve(mcp_server *srv, const char *addr,
				       const struct chan_mux_opts *opts,
				       char *err, size_t errlen);

/* Stops the thread, ends every session (waiting for their handlers),
 * closes the channel and frees the handle. NULL is a no-op. */
void chan_mcp_stop(struct chan_mcp_server *s);

#ifdef __cplusplus
}
#endif
#endif
