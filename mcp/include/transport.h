/* The transports mcpd offers over an mcp_server: stdio (newline-delimited
 * JSON-RPC) and Streamable HTTP, which other engines (gatewayd's listeners,
 * zonegate-relay) also serve. Channel transport lives in vchan/. */
#ifndef MCP_TRANSPORT_H
#define MCP_TRANSPORT_H

#include <stddef.h>

#include "zonegate/mcp.h"

/* Serves one session on in_fd/out_fd until EOF on in_fd or a write error.
 * Lines longer than the server's message cap are answered with an error
 * and skipped. Returns 0 on EOF, -1 on a read or write error. */
int mcp_stdio_serve(mcp_server *srv, int in_fd, int out_fd);

struct mcp_http_config {
	const char *host;	    /* address to bind; default 127.0.0.1 */
	unsigned short port;	    /* 0 = any free port */
	const char *const *origins; /* allowed Origin values, NULL-terminated;
				       NULL = only loopback origins */
	const char *const *hosts;   /* allowed Host names (no port);
				       NULL = derived from the bind address */
	size_t max_body;	    /* bytes of one POST body (default 4 MiB) */
	size_t max_header;	    /* bytes of all request headers (16 KiB) */
	unsigned max_sessions;	    /* live sessions (default 256) */
	unsigned max_connections;   /* concurrent connections (default 512) */
	/* Connections whose first request has not yet passed authorize (or
	 * arrived): max_pending of them (default max_connections / 4); one
	 * more evicts the oldest pending for over 2 s, or, while all are
	 * younger (a burst), waits while fewer than 2 * max_pending (at most
	 * half of max_connections) are pending, beyond that the oldest goes. Each is closed header_timeout
	 * seconds (default 10) after it was accepted; the other slots stay
	 * free for admitted clients. */
	unsigned max_pending;
	unsigned header_timeout;
	unsigned session_timeout; /* idle seconds before expiry (1800) */
	unsigned sse_keepalive;	  /* seconds between SSE comments (15) */
	/* What the standalone stream keeps for a GET not (yet) reading it,
	 * the newest first: events (default 4096) and bytes (16 MiB). */
	unsigned standalone_max_events;
	size_t standalone_max_bytes;
	/* Optional: a listening socket already bound (e.g. AF_UNIX) to serve
	 * instead of host/port; the transport closes it on stop. */
	int listen_fd; /* > 0 to use */
	/* Optional: HTTPS (libmicrohttpd's TLS, GnuTLS) with this PEM
	 * certificate chain and key (copied; both or neither). */
	const char *tls_cert_pem, *tls_key_pem;
	/* Optional: sessions run by another engine than an mcp_server. */
	const struct mcp_http_backend *backend;
};

struct MHD_Connection;
struct jr_msg;

/* A session engine other than mcp_server (gatewayd's HTTP listeners use
 * it to turn each HTTP session into one of its own agent sessions, the
 * relay to carry each on a stream of its channel). The
 * transport keeps Host/Origin checks, session ids, streams and SSE; the
 * engine answers the messages. Functions are called from the transport's
 * event threads, which serve many connections each: they must not block
 * (hand slow work to a thread of the engine's own and answer with
 * mcp_http_finish). */
struct mcp_http_backend {
	void *ctx;
	/* A new session. hs is the transport's handle for mcp_http_emit and
	 * mcp_http_finish, valid until close(sess) returns. NULL refuses. */
	void *(*open)(void *ctx, void *hs);
	/* One message from the client; steals m (jr_msg_clear). */
	void (*input)(void *sess, struct jr_msg *m);
	/* Nonzero once the session answered initialize successfully. */
	int (*initialized)(void *sess);
	/* The session ends; no emit/finish on hs after this returns. */
	void (*close)(void *sess);
	/* Per request, before anything else: 0 lets it through, else the
	 * HTTP status to answer (401 adds WWW-Authenticate: Bearer). NULL:
	 * everyone. */
	unsigned (*authorize)(void *ctx, struct MHD_Connection *c);
	/* Optional, instead of authorize: per request, 0 with the identity
	 * the request proves written to who (NUL-terminated, at most
	 * MCP_HTTP_WHO_MAX bytes; e.g. the zone a token names), else the
	 * HTTP status to answer. A session belongs to the identity of the
	 * request that opened it (open reads it with mcp_http_who); a
	 * request proving another identity finds no such session (404). */
	unsigned (*identify)(void *ctx, struct MHD_Connection *c, char *who);
	/* Optional, at accept, on the connection's socket: nonzero admits it
	 * at once (the peer is known, e.g. a unix peer's uid), so it never
	 * counts as pending. Called from the transport's listening thread. */
	int (*admit_peer)(void *ctx, int fd);
};

#define MCP_HTTP_WHO_MAX 79

/* For backends (in open): the identity identify gave the request that
 * opens session hs ("" without identify). */
const char *mcp_http_who(void *hs);

/* For backends: a server message for the session's stream of the request
 * related (or its standalone stream when related is NULL or done).
 * Returns 0 or -1 (session dead, stream over its caps). */
int mcp_http_emit(void *hs, const json_t *related, const char *msg, size_t len);
/* For backends: the response to request id (msg NULL: none will come). */
void mcp_http_finish(void *hs, const json_t *id, const char *msg, size_t len);
/* For backends that forward a server's messages as they come (the
 * relay): routes one message by what it says. A response finishes its
 * request; a message naming its request (params._meta MCP_META_RELATED)
 * goes on that request's stream, progress on the stream of the request
 * that asked for it by its token; list changes and resource updates on
 * the standalone stream; anything else on the oldest open request's
 * stream, or the standalone one. A request stream over its caps is ended
 * (its client is not reading it). Returns 0, or -1 when the message was
 * dropped (unparsable, session dead, over the caps). */
int mcp_http_deliver(void *hs, const char *msg, size_t len);
/* For backends, from open on: 1 when hs is a stateless (2026-07-28)
 * request's session. It carries that one request (checked by the
 * transport: headers, _meta versions, the revision's methods; its
 * Mcp-Param-* headers, whose schemas only the backend knows, come with it
 * in _meta for the backend to check: param_headers.h), is never
 * in the session table, has no session id and no GET stream, and closes
 * once its response is out (or its client goes). */
int mcp_http_stateless(void *hs);
/* For backends: the engine's side of the session is gone (e.g. its
 * channel stream closed). Open streams end, and the session id is
 * unknown from now on (404), so the client starts a new one; close()
 * still follows. */
void mcp_http_end(void *hs);

struct mcp_http;

/* Starts listening and serving in background threads. Returns NULL with
 * a message in err on failure (bad address, port in use). */
/* srv may be NULL when cfg->backend is set. */
struct mcp_http *mcp_http_start(mcp_server *srv,
				const struct mcp_http_config *cfg, char *err,
				size_t errlen);

/* An HTTPS endpoint's new certificate and key (PEM, copied), for new
 * connections from now on: the connections open keep theirs, sessions
 * stay. Returns 0, or -1 with err (the pair does not load; the old one
 * stays). Not concurrent with mcp_http_stop. */
int mcp_http_set_tls(struct mcp_http *h, const char *cert_pem,
		     const char *key_pem, char *err, size_t errlen);

/* The port actually bound (useful with port 0). */
unsigned short mcp_http_port(const struct mcp_http *h);

/* Stops accepting, closes every stream and session, and frees h. */
void mcp_http_stop(struct mcp_http *h);

#endif
