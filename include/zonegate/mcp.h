/* zonegate MCP server core: the registry of tools, resources and prompts,
 * and the transport-neutral session that turns JSON-RPC messages in into
 * JSON-RPC messages out. Transports (stdio, Streamable HTTP, channels) feed
 * sessions; tool sets (RAG, web, hosted servers, test fixtures) fill the
 * registry. All strings are UTF-8. */
#ifndef ZONEGATE_MCP_H
#define ZONEGATE_MCP_H

#include <jansson.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The API is exported from mcpd for the tool set modules it loads (the
 * rest of the code is built with hidden visibility). */
#pragma GCC visibility push(default)

/* Protocol revisions this server speaks, newest first. */
#define MCP_PROTOCOL_LATEST "2025-11-25"

/* JSON-RPC 2.0 and MCP error codes. */
enum {
	MCP_ERR_PARSE = -32700,
	MCP_ERR_INVALID_REQUEST = -32600,
	MCP_ERR_METHOD_NOT_FOUND = -32601,
	MCP_ERR_INVALID_PARAMS = -32602,
	MCP_ERR_INTERNAL = -32603,
	MCP_ERR_RESOURCE_NOT_FOUND = -32002,
	/* 2026-07-28: the request needs a capability the client did not
	 * declare in its _meta (MissingRequiredClientCapabilityError). */
	MCP_ERR_MISSING_CAPABILITY = -32021,
	MCP_ERR_REQUEST_CANCELLED =
		-32800, /* internal; never sent on the wire */
	MCP_ERR_TIMEOUT = -32001
};

/* RFC 5424 levels, as MCP's logging/setLevel names them. */
enum mcp_log_level {
	MCP_LOG_DEBUG,
	MCP_LOG_INFO,
	MCP_LOG_NOTICE,
	MCP_LOG_WARNING,
	MCP_LOG_ERROR,
	MCP_LOG_CRITICAL,
	MCP_LOG_ALERT,
	MCP_LOG_EMERGENCY
};

typedef struct mcp_server mcp_server;
typedef struct mcp_session mcp_session;
typedef struct mcp_call mcp_call;

/* ---- Handlers -------------------------------------------------------- */

/* A handler returns 0 and stores a new reference in *result, or returns a
 * negative JSON-RPC error code after calling mcp_call_error() to say why.
 * Handlers run on a worker thread and may block; long ones should poll
 * mcp_call_cancelled() and may report progress. */

/* tools/call: args is the "arguments" object (never NULL; {} if absent).
 * *result is a CallToolResult object; build one with mcp_result_*(). An
 * execution failure is a result with isError true, not a JSON-RPC error. */
typedef int (*mcp_tool_fn)(mcp_call *call, json_t *args, void *ud,
			   json_t **result);

/* resources/read: *result is the "contents" array. Return
 * MCP_ERR_RESOURCE_NOT_FOUND for an unknown URI. */
typedef int (*mcp_resource_fn)(mcp_call *call, const char *uri, void *ud,
			       json_t **result);

/* prompts/get: args maps argument names to strings; *result is a
 * GetPromptResult object ({"description"?, "messages": [...]}) */
typedef int (*mcp_prompt_fn)(mcp_call *call, json_t *args, void *ud,
			     json_t **result);

/* completion/complete for one argument of a prompt or resource template:
 * *result is the "completion" object ({"values": [...], ...}). */
typedef int (*mcp_complete_fn)(mcp_call *call, const char *arg_name,
			       const char *arg_value, json_t *context_args,
			       void *ud, json_t **result);

/* ---- Registry -------------------------------------------------------- */

/* Tool flags. */
#define MCP_TOOL_INLINE \
	0x1u /* fast, never blocks, never talks back:
				may run on the transport's thread */
/* The tasks extension (io.modelcontextprotocol/tasks, 2026-07-28 only):
 * a call from a client that declares it runs as a task (answered at once
 * with a CreateTaskResult, its result kept for tasks/get); other calls run
 * as usual. With _REQUIRED, a call whose client does not declare it is
 * refused (-32021) instead. */
#define MCP_TOOL_TASK 0x2u
#define MCP_TOOL_TASK_REQUIRED 0x4u

struct mcp_tool {
	const char *name;	   /* required, unique */
	const char *title;	   /* optional */
	const char *description;   /* optional */
	const char *input_schema;  /* JSON text; NULL means {"type":"object"} */
	const char *output_schema; /* JSON text or NULL */
	const char *annotations;   /* JSON text or NULL */
	mcp_tool_fn fn;
	void *ud;
	unsigned flags;
};

struct mcp_resource {
	const char *uri; /* exact URI; or a RFC 6570 level-1 template */
	const char *name;
	const char *title;
	const char *description;
	const char *mime_type;
	mcp_resource_fn fn;
	mcp_complete_fn complete; /* templates only; may be NULL */
	void *ud;
};

struct mcp_prompt {
	const char *name;
	const char *title;
	const char *description;
	const char *arguments; /* JSON text: array of {name, description?,
				  required?}, or NULL */
	mcp_prompt_fn fn;
	mcp_complete_fn complete; /* may be NULL */
	void *ud;
};

struct mcp_server_info {
	const char *name;	  /* serverInfo.name */
	const char *version;	  /* serverInfo.version */
	const char *instructions; /* optional */
};

/* Creates an empty server. Returns NULL on allocation failure. The caller
 * frees it with mcp_server_free() after every session is gone. */
mcp_server *mcp_server_new(const struct mcp_server_info *info);
void mcp_server_free(mcp_server *srv);

/* Has mcp_server_free call fn(arg) once every session and worker is gone,
 * after the registry is cleared: how a tool set frees the context its
 * handlers use. Cleanups run in reverse order of registration. Returns 0,
 * or -1 when MCP_SERVER_MAX_CLEANUPS are registered already (fn is then
 * not called: the caller still owns arg). */
#define MCP_SERVER_MAX_CLEANUPS 8
int mcp_server_on_free(mcp_server *srv, void (*fn)(void *), void *arg);

/* Registration copies everything it is given (strings and parsed schemas);
 * the struct may live on the stack. Returns 0, or -1 with a message in err
 * (a duplicate name, invalid schema JSON). Registering after sessions
 * exist sends list_changed notifications to them. */
int mcp_server_add_tool(mcp_server *srv, const struct mcp_tool *t, char *err,
			size_t errlen);
int mcp_server_remove_tool(mcp_server *srv, const char *name);
/* Removes a prompt like mcp_server_remove_tool removes a tool. */
int mcp_server_remove_prompt(mcp_server *srv, const char *name);
int mcp_server_add_resource(mcp_server *srv, const struct mcp_resource *r,
			    char *err, size_t errlen);
int mcp_server_add_resource_template(mcp_server *srv,
				     const struct mcp_resource *r, char *err,
				     size_t errlen);
int mcp_server_add_prompt(mcp_server *srv, const struct mcp_prompt *p,
			  char *err, size_t errlen);

/* Tells every session subscribed to uri that it changed. */
void mcp_server_resource_updated(mcp_server *srv, const char *uri);

/* Page size for tools/resources/prompts lists (default 100, 1..1000). */
void mcp_server_set_page_size(mcp_server *srv, unsigned n);

/* Worker threads that run handlers (default 4, 1..256). Call before the
 * first session. */
int mcp_server_set_workers(mcp_server *srv, unsigned n);

/* Maximum number of requests a session may have in flight (default 64). */
void mcp_server_set_max_inflight(mcp_server *srv, unsigned n);

/* Maximum number of 2026-07-28 subscriptions/listen requests open at once
 * on the whole server, over every transport (1..100000, default 1024);
 * one more is refused with -32600. */
void mcp_server_set_max_listens(mcp_server *srv, unsigned n);

/* Ends every open subscriptions/listen with its successful response (the
 * graceful closure a server owes its subscribers when it stops). */
void mcp_server_end_listens(mcp_server *srv);

/* With on, every request is logged on stderr, one line: its method (a
 * known one, else "unknown"), the revision it runs under and its
 * traceparent ("-" when absent or malformed); nothing else from the
 * request, which is untrusted. Off by default. */
void mcp_server_set_request_log(mcp_server *srv, int on);

/* The revisions a server serves (mcp_server_set_revisions): the session
 * era (2025-11-25, 2025-06-18, 2025-03-26, chosen by initialize) and the
 * stateless 2026-07-28. Both by default. */
enum { MCP_REVS_SESSION = 1, MCP_REVS_STATELESS = 2 };

/* Serves only the revisions in mask (MCP_REVS_*, at least one): without
 * MCP_REVS_SESSION, initialize is refused with -32022 (data.supported,
 * data.requested) as a 2026-07-28-only server refuses it; without
 * MCP_REVS_STATELESS, requests carrying the 2026-07-28 _meta are
 * handled as a session-era server handles them (server/discover is an
 * unknown method). Returns 0, or -1 for an empty or unknown mask. Call
 * before serving. */
int mcp_server_set_revisions(mcp_server *srv, unsigned mask);

/* ---- Calls (inside handlers) ----------------------------------------- */

/* Sets the error a handler returns. Copies msg; data may be NULL (the
 * reference is stolen). */
void mcp_call_error(mcp_call *call, int code, const char *msg, json_t *data);

/* Nonzero once the client cancelled this request or the session ended. */
int mcp_call_cancelled(mcp_call *call);

/* Sends notifications/progress if the request carried a progressToken;
 * total <= 0 means unknown; message may be NULL. Returns 0 (also when no
 * token was given: nothing is sent), -1 if the session is gone. */
int mcp_call_progress(mcp_call *call, double progress, double total,
		      const char *message);

/* Sends notifications/message if level is at or above the session's
 * level. data is stolen. Returns 0 or -1 if the session is gone. */
int mcp_call_log(mcp_call *call, enum mcp_log_level level, const char *logger,
		 json_t *data);

/* Sends a request to the client (e.g. "sampling/createMessage",
 * "elicitation/create", "roots/list") related to this call and waits up to
 * timeout_ms for its answer. params is stolen (also on failure). On success returns 0 and a new reference to
 * the result in *result. On a JSON-RPC error from the client returns its
 * (negative) code and stores the error object in *result. Returns
 * MCP_ERR_METHOD_NOT_FOUND without sending if the client did not declare
 * the needed capability (a stateless 2026-07-28 request: never sends;
 * MCP_ERR_MISSING_CAPABILITY if undeclared, else MCP_ERR_METHOD_NOT_FOUND:
 * such a handler asks with mcp_call_input_required()), MCP_ERR_TIMEOUT on
 * timeout, and
 * MCP_ERR_REQUEST_CANCELLED if the call was cancelled meanwhile. */
int mcp_call_request(mcp_call *call, const char *method, json_t *params,
		     int timeout_ms, json_t **result);

/* Asks the transport to end the stream that carries this call's messages
 * now (Streamable HTTP with SSE: the client resumes it later with
 * Last-Event-ID and gets everything sent meanwhile, as SEP-1699 polling
 * allows). A no-op on transports without resumable streams. */
void mcp_call_close_stream(mcp_call *call);

/* The client's declared capabilities (borrowed; valid during the call). */
json_t *mcp_call_client_capabilities(mcp_call *call);

/* The negotiated protocol version (borrowed). */
const char *mcp_call_protocol_version(mcp_call *call);

/* The request's W3C trace context (params._meta.traceparent, borrowed),
 * or NULL when absent or not in the W3C format; for a handler to pass on
 * to what it calls. */
const char *mcp_call_traceparent(mcp_call *call);

/* For resources/read through a URI template: the object of variables the
 * template bound (borrowed), else NULL. */
json_t *mcp_call_uri_vars(mcp_call *call);

/* ---- 2026-07-28 multi round-trip requests (InputRequiredResult) ------ */

/* 1 when this call may be answered with an InputRequiredResult: a
 * stateless 2026-07-28 request to tools/call, prompts/get or
 * resources/read. A session-era request uses mcp_call_request(). */
int mcp_call_can_ask(mcp_call *call);

/* The client's answer (borrowed; an object, checked before the handler
 * runs) to input request key of an earlier InputRequiredResult, or NULL
 * when the retry did not carry one. Keys the handler does not ask for are
 * its to ignore. */
json_t *mcp_call_input_response(mcp_call *call, const char *key);

/* The state the handler sealed into the requestState this retry echoes
 * (borrowed), or NULL on a first request. It was verified before the
 * handler ran: signed by a key of the server's ring, not expired, issued
 * for this method, target and arguments; anything else never reaches the
 * handler. */
json_t *mcp_call_state(mcp_call *call);

/* Answers the call with an InputRequiredResult asking the client for
 * requests (stolen; an object mapping keys to {"method", "params"} of
 * elicitation/create, sampling/createMessage or roots/list; may be NULL)
 * and carrying state (stolen; any JSON value, sealed into requestState;
 * may be NULL), at least one of the two. Returns 0 with a new result in
 * *result for the handler to return, or a negative code after setting the
 * call's error: MCP_ERR_MISSING_CAPABILITY when a request needs a
 * capability the client did not declare (ask only for what
 * mcp_call_client_capabilities() lists), MCP_ERR_INVALID_REQUEST when
 * !mcp_call_can_ask(call), MCP_ERR_INTERNAL when the sealed state would
 * exceed its cap (16 KiB) or memory runs out. */
int mcp_call_input_required(mcp_call *call, json_t *requests, json_t *state,
			    json_t **result);

/* ---- 2026-07-28 tasks extension (io.modelcontextprotocol/tasks) ------ */

/* Hands the rest of this call to a task (for a handler that first gathers
 * input with InputRequiredResult rounds, then goes asynchronous): the tool
 * runs again with the same params on a task of its own, where
 * mcp_call_task_id() is set, and *result gets the CreateTaskResult for
 * this handler to return. Returns 0, or a negative code after setting the
 * call's error: MCP_ERR_MISSING_CAPABILITY when the client did not
 * declare the extension, MCP_ERR_INVALID_REQUEST when the call is not a
 * 2026-07-28 tools/call outside a task or the task cap is reached. */
int mcp_call_create_task(mcp_call *call, json_t **result);

/* The id of the task this call runs for (borrowed), or NULL. */
const char *mcp_call_task_id(mcp_call *call);

/* Caps of the task store: tasks kept at once (1..1000000, default 1024;
 * one more is refused with -32600), bytes they keep (>= 1024, default 64
 * MiB: params, answers and outcomes; a call that does not fit makes no
 * task, an outcome that does not fit fails its task), and each task's
 * time to live from its creation (1000 ms..7 days, default 15 min; the
 * task and its result are freed then, a run still going is cancelled).
 * 0 keeps a value. */
void mcp_server_set_task_limits(mcp_server *srv, unsigned max_tasks,
				size_t max_bytes, unsigned ttl_ms);

/* Loads the request-state key ring from path (see mcpd --state-key-file;
 * the first key signs, all verify) and sets how long a sealed state stays
 * valid (seconds, 1..86400; 0 keeps the default of 600). Without a file a
 * server signs with a random key of its own, which no other replica
 * accepts. Call before serving. Returns 0, or -1 with "file:line: why" in
 * err (the ring is then unchanged). */
int mcp_server_set_state_keys(mcp_server *srv, const char *path, unsigned ttl_s,
			      char *err, size_t errlen);

/* ---- Result builders -------------------------------------------------- */

/* New CallToolResult objects. mcp_result_text needs valid UTF-8 (NULL
 * otherwise, or on allocation failure); mcp_result_errorf makes its text
 * valid (a cut at its 1 KiB cap ends on a character boundary, invalid
 * bytes from arguments become '?'), so it is NULL only when out of
 * memory. */
json_t *mcp_result_text(const char *text);
json_t *mcp_result_errorf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* Appends a text content item to result's "content" array. */
int mcp_result_add_text(json_t *result, const char *text);

/* ---- Sessions (for transports) ---------------------------------------- */

/* Delivers one serialized JSON-RPC message to the peer. related is the
 * JSON-RPC id (borrowed) of the client request a message belongs to
 * (its response, progress, logs and nested requests), or NULL for
 * messages unrelated to any request. Called from any thread, possibly
 * concurrently; the transport serializes. Returns 0, or -1 if the peer is
 * gone (the message is dropped). */
typedef int (*mcp_send_fn)(void *ctx, const json_t *related, const char *msg,
			   size_t len);

/* Optional: delivers the response to the client request with this id
 * (msg, serialized) or, with msg NULL, says that the request was cancelled
 * and gets no response. When a transport installs it, responses to client
 * requests go through it instead of the send callback, so that a
 * transport that waits per request (HTTP) sees the end of each request
 * atomically with its response. Same threading rules as send. */
typedef void (*mcp_done_fn)(void *ctx, const json_t *id, const char *msg,
			    size_t len);

struct mcp_limits {
	size_t max_message; /* bytes of one JSON-RPC message (default 4 MiB) */
	size_t max_depth;   /* nesting depth of JSON (default 64) */
};

/* Sets the size caps every session of srv applies (0 keeps a default). */
void mcp_server_set_limits(mcp_server *srv, const struct mcp_limits *lim);

/* Creates a session on srv that sends through send(ctx, ...). Returns
 * NULL on allocation failure. */
mcp_session *mcp_session_new(mcp_server *srv, mcp_send_fn send, void *ctx);

/* Installs the done callback (before the first input). */
void mcp_session_set_done(mcp_session *s, mcp_done_fn done);

/* Installs the transport's handler for mcp_call_close_stream(). */
typedef void (*mcp_close_stream_fn)(void *ctx, const json_t *id);
void mcp_session_set_close_stream(mcp_session *s, mcp_close_stream_fn fn);

/* The _meta key that names the client request a notification or server
 * request was sent in the context of (its id, as the client sent it). */
#define MCP_META_RELATED "dev.zonegate/related-request"

/* The _meta key by which a tool names the server request it sends on a
 * 2025-11-25 session (a string, at most 23 of [A-Za-z0-9_.-]): a gateway
 * that turns the request into a 2026-07-28 InputRequiredResult for a
 * stateless agent uses it as the request's key in inputRequests (the key
 * a 2026-07-28 tool would have chosen); without it the gateway picks one. */
#define MCP_META_INPUT_KEY "dev.zonegate/input-key"
/* With it, MCP_META_INPUT_BATCH (an integer, 1 to 8) says how many requests
 * the tool sends at once, concurrently, for the same call: the gateway
 * asks the agent for all of them in one InputRequiredResult. */
#define MCP_META_INPUT_BATCH "dev.zonegate/input-batch"

/* on: every notification and request the session sends in the context
 * of a client request (progress, log messages, sampling, elicitation)
 * carries params._meta[MCP_META_RELATED] = that request's id. For
 * transports whose far end must put it on that request's stream but
 * cannot see the relation otherwise: a zonegate channel, whose gateway
 * or relay serves Streamable HTTP. Off by default. */
void mcp_session_set_relate(mcp_session *s, int on);

/* Feeds one complete JSON-RPC message (not NUL-terminated). Responses go
 * out through the send callback, possibly before this returns, possibly
 * later from a worker. Never fails: malformed input gets a JSON-RPC error
 * reply. Returns 1 if msg was a request (a response will follow), 0 for a
 * notification or response, -1 for a message answered with an error. */
int mcp_session_input(mcp_session *s, const char *msg, size_t len);

/* Waits up to timeout_ms for the requests in flight to finish (e.g. after
 * the peer closed its input but may still read). Returns 0 when none is
 * left, -1 on timeout. */
int mcp_session_drain(mcp_session *s, int timeout_ms);

/* Cancels everything in flight, waits for handlers to return, and frees
 * the session. send is not called after this returns. */
void mcp_session_free(mcp_session *s);

/* Nonzero once the session completed initialize. */
int mcp_session_initialized(const mcp_session *s);

/* The negotiated protocol version, or NULL before initialize. */
const char *mcp_session_protocol_version(const mcp_session *s);

/* ---- Connections (message transports) ------------------------------- */

/* One peer of a message transport (stdio, a channel stream): a session of
 * the 2025-11-25 family for requests without a 2026-07-28 _meta, and each
 * 2026-07-28 stateless request on a session of its own that ends with its
 * response (at most 64 in flight, 16 of them subscriptions/listen;
 * notifications/cancelled naming one reaches it). */
typedef struct mcp_conn mcp_conn;

enum {
	/* messages name the request they relate to (mcp_session_set_relate) */
	MCP_CONN_RELATE = 1u,
	/* the first request decides for good: a session (initialize, or no
	 * 2026-07-28 _meta), or a pipe of stateless requests; without it
	 * every request chooses by its own _meta */
	MCP_CONN_PER_STREAM = 2u,
};

/* Creates a connection on srv that sends through send(ctx, ...) (related:
 * the client request a message belongs to). Returns NULL on allocation
 * failure. */
mcp_conn *mcp_conn_new(mcp_server *srv, mcp_send_fn send, void *ctx,
		       unsigned flags);

/* Feeds one complete message (not NUL-terminated). One thread at a time
 * (the transport's reader); it also frees finished stateless requests.
 * Returns as mcp_session_input() does. */
int mcp_conn_input(mcp_conn *c, const char *msg, size_t len);

/* Waits up to timeout_ms for the calls in flight (each session's). 0 when
 * none is left, -1 on timeout. */
int mcp_conn_drain(mcp_conn *c, int timeout_ms);

/* Cancels everything still open (subscriptions end without a response),
 * waits for handlers, frees c. send is not called after it returns. NULL
 * is a no-op. */
void mcp_conn_free(mcp_conn *c);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
