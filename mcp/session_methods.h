/* The MCP methods a session answers, and the per-call preparation and
 * execution that session.c hands to call.c. Private to mcp/. */
#ifndef MCP_SESSION_METHODS_H
#define MCP_SESSION_METHODS_H

#include <stddef.h>

#include "mcp_internal.h"

enum mcp_method {
	M_UNKNOWN,
	M_INITIALIZE,
	M_PING,
	M_TOOLS_LIST,
	M_TOOLS_CALL,
	M_RESOURCES_LIST,
	M_TEMPLATES_LIST,
	M_RESOURCES_READ,
	M_SUBSCRIBE,
	M_UNSUBSCRIBE,
	M_PROMPTS_LIST,
	M_PROMPTS_GET,
	M_SET_LEVEL,
	M_COMPLETE,
	M_DISCOVER,
	M_LISTEN,
	M_TASKS_GET,
	M_TASKS_UPDATE,
	M_TASKS_CANCEL
};

/* Maps a method name to its enum; M_UNKNOWN for anything else. */
int mcp_method_lookup(const char *name);
/* The client capability a server-to-client request needs ("sampling",
 * "elicitation", "roots"), or NULL for any other method (or NULL). */
const char *mcp_method_capability(const char *method);
/* The name of a method of the enum ("" for M_UNKNOWN). */
const char *mcp_method_name(int method);

/* 2026-07-28 (rev2026_input.c): checks a stateless retry's inputResponses
 * (an object of objects) and opens its requestState into c->state.
 * Returns 0 (also for calls that cannot carry them), or -1 with the
 * reason in why (invalid params). */
int mcp_rev2026_prepare_input(struct mcp_call *c, char *why, size_t n);
/* 1 when result is an InputRequiredResult. */
int mcp_rev2026_is_input_required(const json_t *result);

/* subscriptions/listen (rev2026_listen.c). Opens the stateless session's
 * subscription for request m (acknowledged at once; no response until it
 * ends); same return as the session's other methods. */
int mcp_rev2026_listen(mcp_session *s, struct jr_msg *m);
/* The client cancelled request id: if it is s's subscription, ends it
 * without a response (the transport is told it is done). Returns 1 if it
 * was. */
int mcp_rev2026_listen_cancel(mcp_session *s, const json_t *id);
/* Ends s's subscription with a successful response (graceful closure). */
void mcp_rev2026_listen_close(mcp_session *s);
/* Forgets s's subscription without a word (the session is going). */
void mcp_rev2026_listen_drop(mcp_session *s);
/* Sends notification method with params (borrowed; may be NULL) on s's
 * subscription if its filter asks for it, tagged with its id. */
void mcp_rev2026_listen_notify(mcp_session *s, const char *method,
			       const json_t *params);

/* The tasks extension (rev2026_tasks.c). */
#define MCP_EXT_TASKS "io.modelcontextprotocol/tasks"
#define MCP_TASKS_DEFAULT_MAX 1024		     /* tasks kept at once */
#define MCP_TASKS_DEFAULT_BYTES (64u << 20)	     /* of stored results */
#define MCP_TASKS_DEFAULT_TTL_MS (15u * 60u * 1000u) /* from creation */
/* Makes srv's task store (empty). 0, or -1 when out of memory. */
int mcp_tasks_init(mcp_server *srv);
/* Cancels every task's run, waits for it, frees the store. */
void mcp_tasks_free(mcp_server *srv);
/* 1 when client_caps (a request's clientCapabilities) declare the
 * extension. */
int mcp_tasks_declared(const json_t *client_caps);
/* The -32021 error data naming the extension (a new object). */
json_t *mcp_tasks_required_data(void);
/* Answers request id with -32021 naming the extension; returns -1. */
int mcp_tasks_refuse(mcp_session *s, json_t *id);
/* 1 when a task with this id exists. */
int mcp_tasks_known(mcp_server *srv, const char *id);
/* A stateless tools/call m to the tool e that the server runs as a task
 * (e flagged MCP_TOOL_TASK*, the client declared the extension): answered
 * here with a CreateTaskResult, or -32021 for a task-only tool and a
 * client without the extension; returns 1. 0: an ordinary call. */
int mcp_rev2026_task_call(mcp_session *s, struct jr_msg *m,
			  const struct mcp_entry *e);
/* tasks/get, tasks/update, tasks/cancel (method) on a stateless session:
 * answers m. Same return as the session's other methods. */
int mcp_rev2026_tasks_method(mcp_session *s, struct jr_msg *m, int method);
/* Sends notifications/tasks with the task snapshot (borrowed) on s's
 * subscription if it listens for task id. */
void mcp_rev2026_listen_task(mcp_session *s, const char *id,
			     const json_t *snapshot);

/* Validates a handler call's params and resolves its target entry.
 * Returns 0, or -1 with a message in why (and c->err_code set when it is
 * not "invalid params"). Sets *inline_ok for handlers that may run on the
 * caller's thread. */
int mcp_call_prepare(struct mcp_call *c, char *why, size_t whylen,
		     int *inline_ok);

const char *mcp_log_level_name(int level);
int mcp_session_subscribed(mcp_session *s, const char *uri);
int mcp_version_supported(const char *v);
/* 1 when srv (NULL: a transport without an engine of ours, which
 * decides for itself) serves revision rev (MCP_REVS_*). */
int mcp_server_serves(const mcp_server *srv, unsigned rev);

#endif
