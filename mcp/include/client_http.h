/* The MCP client for Streamable HTTP servers (library zg_mcp_client): an
 * SSE parser with caps (client_sse.c) and a non-blocking client on
 * libcurl's multi interface whose sockets and timer the caller's poll loop
 * drives (client_http.c). Used by gatewayd for remote upstreams; any
 * program with a poll loop can link it. docs/gateway.md, "Remote tool zones". */
#ifndef MCP_CLIENT_HTTP_H
#define MCP_CLIENT_HTTP_H

#include <jansson.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Server-Sent Events (client_sse.c) -------------------------------- */

#define MCP_SSE_EVENT_NAME_MAX 63
#define MCP_SSE_ID_MAX 255

/* Called once per complete event: type ("message" when the event named
 * none), its data (the data lines joined by '\n', NUL-terminated, len
 * bytes) and the last event id seen ("" if none). Returns 0 to go on,
 * nonzero to stop the feed (mcp_sse_feed then returns -1). */
typedef int (*mcp_sse_event_fn)(void *ud, const char *type, const char *data,
				size_t len, const char *id);

struct mcp_sse {
	size_t max_event; /* data bytes of one event */
	mcp_sse_event_fn fn;
	void *ud;
	char *line; /* the current line (capped at max_event + 16) */
	size_t line_len, line_cap;
	char *data; /* this event's data so far (capped at max_event) */
	size_t data_len, data_cap;
	int have_data;
	int cr;	      /* the last byte was CR (a CRLF's LF is skipped) */
	int started;  /* past a leading byte order mark */
	int bad_type; /* the event named a type longer than the cap */
	char type[MCP_SSE_EVENT_NAME_MAX + 1];
	char id[MCP_SSE_ID_MAX + 1];
	long retry_ms; /* the last "retry:" (-1 none) */
	char err[96];
};

/* Sets p up for a new stream; nothing is allocated until bytes arrive. */
void mcp_sse_init(struct mcp_sse *p, size_t max_event, mcp_sse_event_fn fn,
		  void *ud);
/* Feeds len bytes of the stream (any split). Returns 0, or -1 when a line
 * or an event is over max_event, memory ran out or fn stopped it (p->err
 * says which); the stream is then finished. */
int mcp_sse_feed(struct mcp_sse *p, const char *buf, size_t len);
/* Frees what p holds (it may be fed again after mcp_sse_init). */
void mcp_sse_clear(struct mcp_sse *p);

/* ---- the Streamable HTTP client (client_http.c) ----------------------- */

struct mcp_hc; /* one endpoint: its transfers, sessions and headers */

struct mcp_hc_opts {
	const char *url;	  /* http(s)://HOST[:PORT]/PATH */
	const char *ca_file;	  /* PEM CA bundle; NULL: the system's */
	int insecure_http;	  /* allow http:// to a non-loopback host */
	size_t max_message;	  /* bytes of a JSON body or of an SSE event */
	size_t max_queued;	  /* bytes of requests queued or in flight */
	unsigned max_transfers;	  /* HTTP requests in flight at once */
	long connect_timeout_ms;  /* 0: 10 s */
	long request_timeout_ms;  /* a POST's whole life; 0: none */
	const char *client_label; /* in log lines ("upstream fs") */
};

struct mcp_hc_ops {
	/* One JSON-RPC message from the server on session sid (a response,
	 * or a request or notification of its SSE streams). msg is a JSON
	 * object, at most max_message bytes, valid for the call only. A
	 * request's POST that failed (HTTP error, garbage, a dropped stream,
	 * its deadline) comes as an error response to that request, code
	 * -32000, so only that request fails. */
	void (*message)(void *ud, uint32_t sid, const char *msg, size_t len);
	/* Session sid is gone on the server (404 on its session id); no more
	 * messages of it follow. The caller still calls mcp_hc_close. */
	void (*closed)(void *ud, uint32_t sid, const char *why);
	/* A line for the operator's log (never holds a header value). */
	void (*log)(void *ud, const char *msg);
	/* Optional: the inputSchema of tool name (borrowed, valid for the
	 * call) that a tools/call on stateless session sid goes to, or NULL;
	 * its x-mcp-header properties become the POST's Mcp-Param-* headers.
	 * Called from mcp_hc_send (the caller's own context). */
	json_t *(*input_schema)(void *ud, uint32_t sid, const char *name);
	/* Optional: called instead of message for a request or notification
	 * that came on the event stream of a POSTed request, with that
	 * request's id (borrowed, valid for the call): the request it
	 * belongs to, which a stateless server names nowhere else. */
	void (*message_rel)(void *ud, uint32_t sid, const char *msg, size_t len,
			    json_t *rel);
};

/* Health counters of an endpoint (mcp_hc_stats). */
struct mcp_hc_stats {
	uint64_t requests;    /* HTTP requests made */
	uint64_t failures;    /* transport errors, non-2xx, bad bodies */
	long last_status;     /* HTTP status of the last completed request */
	unsigned transfers;   /* in flight */
	unsigned sessions;    /* open */
	char last_error[128]; /* "" if none yet */
};

/* Nonzero if url is acceptable: http or https, a host, no user info;
 * http only to a loopback host (localhost, 127.0.0.0/8, ::1) unless
 * insecure_http. Otherwise 0 with the reason in err. */
int mcp_hc_url_ok(const char *url, int insecure_http, char *err, size_t errlen);

/* Nonzero if header name (n bytes, any case) is one the client sets
 * itself, which mcp_hc_set_headers refuses: Content-Type, Accept,
 * Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, Host,
 * Content-Length, Transfer-Encoding, Expect, Connection, and the mirror
 * of a stateless body: Mcp-Method, Mcp-Name, Mcp-Param-*. */
int mcp_hc_header_reserved(const char *name, size_t n);

/* A new client of o->url (checked as mcp_hc_url_ok does; strings are
 * copied). No connection is made until a session sends. Returns NULL with
 * err on a bad option or out of memory. Free with mcp_hc_free. */
struct mcp_hc *mcp_hc_new(const struct mcp_hc_opts *o,
			  const struct mcp_hc_ops *ops, void *ud, char *err,
			  size_t errlen);
/* Aborts every transfer (no callbacks), frees hc. Not from a callback. */
void mcp_hc_free(struct mcp_hc *hc);
/* Headers added to every later request ("Name: value" each, copied); n 0
 * removes them. Refuses (-1, err) a line with CR, LF or NUL, without a
 * name, or naming a header the client sets itself. The values are never
 * logged nor put in err. */
int mcp_hc_set_headers(struct mcp_hc *hc, const char *const *lines, size_t n,
		       char *err, size_t errlen);
/* A new MCP session; returns its id (> 0), 0 when out of memory. Its
 * first message must be initialize: later ones wait until its answer has
 * given the session id, then go each in its own POST. */
uint32_t mcp_hc_open(struct mcp_hc *hc);
/* A new stateless session (MCP 2026-07-28) speaking version: no
 * initialize, no Mcp-Session-Id, no GET stream, no DELETE at its close.
 * Every message goes at once in its own POST with MCP-Protocol-Version:
 * version and the headers that mirror its body (Mcp-Method; Mcp-Name for
 * tools/call, prompts/get, resources/read and the tasks methods; for a
 * tools/call the Mcp-Param-* its tool's inputSchema asks for, values
 * encoded as the revision says); a notifications/cancelled only ends the
 * cancelled request's POST (closing it is the revision's cancellation).
 * A 4xx answer with a JSON-RPC error body comes as that error. Returns
 * its id, 0 when out of memory or version is not printable ASCII. */
uint32_t mcp_hc_open_stateless(struct mcp_hc *hc, const char *version);
/* Sends one JSON-RPC message (a JSON object) on session sid. Returns 0,
 * or -1 when sid is not open, the message is over max_message or the
 * endpoint is over max_queued or max_transfers. A notifications/cancelled
 * also ends the cancelled request's POST. A subscriptions/listen's POST
 * has no deadline (request_timeout_ms): it lives until it is cancelled,
 * its session closed or the server ends it. */
int mcp_hc_send(struct mcp_hc *hc, uint32_t sid, const char *msg, size_t len);
/* Ends session sid: its transfers are aborted, no callback names it any
 * more, and a DELETE tells the server. */
void mcp_hc_close(struct mcp_hc *hc, uint32_t sid);
/* Fills p with the sockets to poll (at most max); returns the count. */
size_t mcp_hc_pollfds(struct mcp_hc *hc, struct pollfd *p, size_t max);
/* Milliseconds until mcp_hc_process must run (-1: only on poll events). */
int mcp_hc_timeout_ms(struct mcp_hc *hc);
/* Does the I/O poll reported in p[0..n) (the entries mcp_hc_pollfds
 * filled; n 0 for timers only) and then calls ops for what arrived. */
void mcp_hc_process(struct mcp_hc *hc, const struct pollfd *p, size_t n);
void mcp_hc_stats(const struct mcp_hc *hc, struct mcp_hc_stats *st);

#endif
