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
	M_LISTEN
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

/* Validates a handler call's params and resolves its target entry.
 * Returns 0, or -1 with a message in why (and c->err_code set when it is
 * not "invalid params"). Sets *inline_ok for handlers that may run on the
 * caller's thread. */
int mcp_call_prepare(struct mcp_call *c, char *why, size_t whylen,
		     int *inline_ok);

const char *mcp_log_level_name(int level);
int mcp_session_subscribed(mcp_session *s, const char *uri);
int mcp_version_supported(const char *v);

#endif
