/* The MCP client core (library zg_mcp): the outgoing request table with
 * its ids, deadlines and byte caps, the dispatch of what a server sends
 * (responses, notifications, server requests), cancellation, and the
 * handshake (initialize, or a server/discover probe that falls back to
 * it). It does no I/O: the caller's transport (a child's pipes, a channel
 * stream, an mcp_hc session) sends the messages it gives and feeds it the
 * messages it receives. docs/client.md describes it. */
#ifndef MCP_CLIENT_H
#define MCP_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The defaults, the same for every user (gatewayd, mcpd's hosted servers,
 * the agents); a 0 in struct mcp_client_limits takes them. */
#define MCP_CLIENT_MAX_MESSAGE (16u << 20) /* bytes of one message */
#define MCP_CLIENT_MAX_PENDING 256	   /* our requests in flight */
#define MCP_CLIENT_MAX_SERVER_REQS 16	   /* server requests unanswered */
#define MCP_CLIENT_TIMEOUT_MS 300000u	   /* a request's deadline */
#define MCP_CLIENT_INIT_TIMEOUT_MS 10000u  /* the handshake's deadline */
#define MCP_CLIENT_FLOOD_PER_SEC 2000	   /* unsolicited messages a second */
#define MCP_CLIENT_MAX_BAD 16		   /* garbage messages tolerated */

#define MCP_CLIENT_V2025 "2025-11-25"
#define MCP_CLIENT_V2026 "2026-07-28"

typedef struct mcp_client mcp_client;

struct mcp_client_limits {
	size_t max_message;	  /* a longer incoming message breaks it */
	unsigned max_pending;	  /* mcp_client_request refuses beyond */
	unsigned max_server_reqs; /* beyond: answered -32000 by the core */
	unsigned timeout_ms;	  /* a request's deadline by default */
	unsigned init_timeout_ms; /* the handshake's requests */
	unsigned flood_per_sec;	  /* beyond: broken */
	unsigned max_bad;	  /* garbage messages before broken */
};

/* What a request ended with (mcp_client_done_fn). code 0: result is the
 * server's result (borrowed, a JSON value). Otherwise a JSON-RPC error
 * code: the server's error (error borrowed, its object), or one the core
 * made: MCP_CLIENT_E_TIMEOUT (the deadline; notifications/cancelled was
 * sent), MCP_CLIENT_E_CANCELLED (mcp_client_cancel), MCP_CLIENT_E_GONE
 * (mcp_client_fail_all: the transport ended). message is always set. */
struct mcp_client_answer {
	int code;
	json_t *result;
	json_t *error;
	const char *message;
	size_t bytes; /* of the response as it arrived (0 if none) */
};

#define MCP_CLIENT_E_TIMEOUT (-32001)
#define MCP_CLIENT_E_CANCELLED (-32800)
#define MCP_CLIENT_E_GONE (-32603)

typedef void (*mcp_client_done_fn)(void *req_ud,
				   const struct mcp_client_answer *a);

struct mcp_client_ops {
	/* The transport: sends one whole message (len bytes, no newline).
	 * 0, or -1 when it cannot (the request that needed it fails). */
	int (*send)(void *ud, const char *msg, size_t len);
	/* A notification of the server (root borrowed). Progress for one
	 * of our requests goes to progress instead. May be NULL. */
	void (*notification)(void *ud, json_t *root);
	/* A request of the server (root borrowed): the caller answers it
	 * with mcp_client_respond, now or later. NULL: every server request
	 * but ping is answered "Method not found" by the core. */
	void (*request)(void *ud, json_t *root);
	/* notifications/progress for a request sent with want_progress;
	 * params borrowed. May be NULL. It must not end its own request
	 * (the request waits for it to return). */
	void (*progress)(void *ud, void *req_ud, json_t *params);
	/* The server broke the protocol (over max_message, max_bad garbage
	 * messages, a flood): the caller should close the transport. Once. */
	void (*broken)(void *ud, const char *why);
	/* Blocking users without a reader thread: reads from the transport
	 * for up to ms milliseconds, feeding what arrives with
	 * mcp_client_feed. 0, or -1 when the transport is gone. NULL: another
	 * thread feeds, and mcp_client_call waits on the core's condition. */
	int (*pump)(void *ud, int ms);
};

/* Options of one request. */
struct mcp_client_req {
	unsigned timeout_ms; /* 0: the client's default */
	int want_progress;   /* adds _meta.progressToken (the request id) */
	/* may be NULL: the answer is dropped (mcp_client_call: its own) */
	mcp_client_done_fn done;
	void *ud; /* handed to done and progress */
	/* mcp_client_call only (may be NULL): receives the server's error
	 * object (new reference) when it answered with one, for its data. */
	json_t **error;
};

/* Counters (mcp_client_stats). */
struct mcp_client_stats {
	uint64_t sent, answered, timeouts, cancelled;
	uint64_t unknown_responses; /* unknown, duplicate or late ids */
	uint64_t bad_messages, server_requests, refused_server_requests;
	uint64_t notifications;
	/* table-only use: answers the caller routed (mcp_client_settle),
	 * their bytes, and requests it ended itself (mcp_client_forget) */
	uint64_t bytes_in, forgotten;
};

/* A new client. ops (kept, not copied) and lim (copied; NULL or zeros
 * take the defaults) describe the transport and caps; client_name goes
 * in clientInfo. Returns NULL when out of memory. Thread-safe: an
 * internal lock, never held while a callback runs, so callbacks may call
 * the client. Free with mcp_client_free. */
mcp_client *mcp_client_new(const struct mcp_client_ops *ops, void *ud,
			   const struct mcp_client_limits *lim,
			   const char *client_name);
/* Ends every request in flight (MCP_CLIENT_E_GONE) and frees c. */
void mcp_client_free(mcp_client *c);
/* The limits in force (defaults filled in). */
const struct mcp_client_limits *mcp_client_limits(const mcp_client *c);

/* Sends a request (params stolen, may be NULL) with a new id. Returns
 * the id (> 0), or -1 with nothing sent and done not called: over
 * max_pending, the transport refused it, out of memory, or broken. (A
 * request ended by another thread while it was being sent, say by
 * mcp_client_fail_all, returns its id: done was called.) */
int64_t mcp_client_request(mcp_client *c, const char *method, json_t *params,
			   const struct mcp_client_req *r);
/* Sends a request and waits for its answer (with ops->pump, or on the
 * core's condition while another thread feeds), giving up when
 * cancelled(arg) turns nonzero (polled, may be NULL). Returns 0 with
 * *result (new reference), or a JSON-RPC error code with err (the
 * server's message, or why the core gave up). */
int mcp_client_call(mcp_client *c, const char *method, json_t *params,
		    const struct mcp_client_req *r, int (*cancelled)(void *),
		    void *arg, json_t **result, char *err, size_t errlen);
/* Sends a notification (params stolen, may be NULL); 0 or -1. */
int mcp_client_notify(mcp_client *c, const char *method, json_t *params);
/* Answers a request of the server: response (stolen) is a whole JSON-RPC
 * response whose id names a server request still waiting. 0, or -1 with
 * nothing sent (not waiting: unknown, answered already, or cancelled by
 * the server; or the transport refused it). */
int mcp_client_respond(mcp_client *c, json_t *response);

/* One message from the transport (len bytes, any JSON-RPC message):
 * checked against the caps, parsed, dispatched. Returns 0, or -1 once
 * the client is broken (ops->broken was called). */
int mcp_client_feed(mcp_client *c, const char *msg, size_t len);
/* Newline-delimited transports (a stdio child, a relay's pipes): len
 * bytes of the stream, any split; each whole line (a CR before its LF
 * dropped, empty lines skipped) goes to mcp_client_feed. A line growing
 * past max_message breaks the client. One reader at a time. 0 or -1 as
 * mcp_client_feed. */
int mcp_client_feed_lines(mcp_client *c, const char *buf, size_t len);
/* Gives up request id: done gets MCP_CLIENT_E_CANCELLED and the server
 * notifications/cancelled with reason. 0, or -1 if it is not pending. */
int mcp_client_cancel(mcp_client *c, int64_t id, const char *reason);
/* Ends requests past their deadline (MCP_CLIENT_E_TIMEOUT, with
 * notifications/cancelled to the server). Returns how many. */
unsigned mcp_client_expire(mcp_client *c);
/* Milliseconds until the next deadline (-1: none). */
int mcp_client_timeout_ms(mcp_client *c);
/* The transport ended: every request fails with why (MCP_CLIENT_E_GONE)
 * and the client is broken from now on. */
void mcp_client_fail_all(mcp_client *c, const char *why);
/* Nonzero once broken (a violation, or fail_all). */
int mcp_client_broken(mcp_client *c);

/* ---- table-only use: the caller sends and routes, the core keeps ----
 *
 * A caller with its own fast path for answers (gatewayd's splice relays
 * a response's bytes after reading only its id) still enters each request
 * in the core: the core keeps its entry, its deadline (mcp_client_expire
 * and mcp_client_timeout_ms: done gets MCP_CLIENT_E_TIMEOUT and the server
 * notifications/cancelled, reason "timeout"), max_pending, cancellation
 * (mcp_client_cancel), mcp_client_fail_all and the stats. What the caller
 * does not route itself may still go to mcp_client_feed, which ends a
 * tracked request like any other (done with the answer). */

/* Where new ids come from: fn(ud) returns an id > 0, a new one each time
 * (gatewayd: one id space for the whole process, so that an id names one
 * request across every stream of a tool zone). NULL: 1, 2, ... of this
 * client. fn is called without the client's lock held. */
typedef int64_t (*mcp_client_id_fn)(void *ud);
void mcp_client_set_ids(mcp_client *c, mcp_client_id_fn fn, void *ud);
/* Enters a request the caller sends itself, with id (0: a new one, from
 * the id source): method (kept for messages), r's timeout_ms, done and
 * ud (r may be NULL). Nothing is sent. Returns the id, or -1 with nothing
 * entered: over max_pending, id negative or in flight already, broken,
 * out of memory. */
int64_t mcp_client_track(mcp_client *c, int64_t id, const char *method,
			 const struct mcp_client_req *r);
/* The caller routed the answer (bytes long) of tracked request id
 * itself: the request ends, done is not called. 0; -1 when id is no
 * tracked request in flight (unknown, answered already, past its
 * deadline: counted in unknown_responses, as such an answer fed is);
 * -2 when bytes is over max_message: it ends all the same (counted in
 * bad_messages) and the caller must not relay that answer. */
int mcp_client_settle(mcp_client *c, int64_t id, size_t bytes);
/* The caller ended tracked request id itself, without an answer (the
 * session it served went away): forgotten, done not called, nothing
 * sent. 0, or -1 when it is not in flight. */
int mcp_client_forget(mcp_client *c, int64_t id);

/* ---- the handshake ---- */

/* initialize (2025-11-25) with client capabilities caps (borrowed, may be
 * NULL), then notifications/initialized; blocks as mcp_client_call does
 * within init_timeout_ms. 0, or a JSON-RPC error code with err as
 * mcp_client_call gives it (MCP_CLIENT_E_GONE also for a malformed
 * result). */
int mcp_client_initialize(mcp_client *c, json_t *caps, char *err,
			  size_t errlen);
/* server/discover (2026-07-28) first: a server that lists 2026-07-28 in
 * supportedVersions is used stateless (every later request carries the
 * revision's _meta); any other answer of the server (an error, no such
 * version) falls back to mcp_client_initialize. 0, or an error code as
 * mcp_client_initialize. */
int mcp_client_connect(mcp_client *c, json_t *caps, char *err, size_t errlen);
/* The params of an initialize request for protocol revision version with
 * caps (borrowed, may be NULL) and clientInfo client_name and
 * client_version ("1" when NULL): for callers that send it themselves
 * (gatewayd). New reference, NULL when out of memory. */
json_t *mcp_client_init_params(const char *version, json_t *caps,
			       const char *client_name,
			       const char *client_version);
/* The revision negotiated ("" before the handshake) and the server's
 * initialize or discover result (borrowed, NULL before). */
const char *mcp_client_version(mcp_client *c);
json_t *mcp_client_server_result(mcp_client *c);

void mcp_client_stats(mcp_client *c, struct mcp_client_stats *st);

#endif
