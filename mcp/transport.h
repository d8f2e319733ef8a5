/* The transports mcpd offers over an mcp_server: stdio (newline-delimited
 * JSON-RPC) and Streamable HTTP. Channel transport lives in vchan/. */
#ifndef MCP_TRANSPORT_H
#define MCP_TRANSPORT_H

#include <stddef.h>

#include "zonegate/mcp.h"

/* Serves one session on in_fd/out_fd until EOF on in_fd or a write error.
 * Lines longer than the server's message cap are answered with an error
 * and skipped. Returns 0 on EOF, -1 on a read or write error. */
int mcp_stdio_serve(mcp_server *srv, int in_fd, int out_fd);

struct mcp_http_config {
	const char *host;          /* address to bind; default 127.0.0.1 */
	unsigned short port;       /* 0 = any free port */
	const char *const *origins; /* allowed Origin values, NULL-terminated;
				       NULL = only loopback origins */
	const char *const *hosts;   /* allowed Host names (no port);
				       NULL = derived from the bind address */
	size_t max_body;           /* bytes of one POST body (default 4 MiB) */
	size_t max_header;         /* bytes of all request headers (64 KiB) */
	unsigned max_sessions;     /* live sessions (default 256) */
	unsigned max_connections;  /* concurrent connections (default 512) */
	unsigned session_timeout;  /* idle seconds before expiry (1800) */
	unsigned sse_keepalive;    /* seconds between SSE comments (15) */
};

struct mcp_http;

/* Starts listening and serving in background threads. Returns NULL with
 * a message in err on failure (bad address, port in use). */
struct mcp_http *mcp_http_start(mcp_server *srv,
				const struct mcp_http_config *cfg, char *err,
				size_t errlen);

/* The port actually bound (useful with port 0). */
unsigned short mcp_http_port(const struct mcp_http *h);

/* Stops accepting, closes every stream and session, and frees h. */
void mcp_http_stop(struct mcp_http *h);

#endif
