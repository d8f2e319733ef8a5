/* Private structures of the MCP core shared by registry.c, session.c,
 * call.c and workers.c. Nothing outside mcp/ includes this. */
#ifndef MCP_INTERNAL_H
#define MCP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "jsonrpc.h"
#include "rev2026_state.h"
#include "zonegate/mcp.h"

#define MCP_DEFAULT_MAX_MESSAGE (4u << 20)
#define MCP_DEFAULT_MAX_DEPTH 64
#define MCP_MAX_SUBSCRIPTIONS 256
#define MCP_MAX_URI_LEN 4096
#define MCP_DEFAULT_MAX_LISTENS 1024 /* subscriptions/listen, server-wide */

/* ---- worker pool (workers.c) ---- */

struct mcp_job {
	void (*fn)(void *arg);
	void *arg;
	struct mcp_job *next;
};

struct mcp_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* work queued or shutdown */
	pthread_cond_t done_cv; /* a thread exited */
	struct mcp_job *head, *tail;
	/* queued: jobs not yet taken; idle: threads waiting for one, those
	 * already signalled but not yet running included */
	unsigned threads, idle, max_threads, queued;
	int stopping;
	/* Threads that have left worker_main and wait to be joined: a
	 * thread is only gone (its thread-local destructors, libcrypto's
	 * per-thread state among them, have run) once joined. */
	pthread_t *done;
	unsigned ndone, done_cap;
};

void mcp_pool_init(struct mcp_pool *p, unsigned max_threads);
/* Queues fn(arg), starting a thread when more jobs wait than threads do
 * (up to the cap). Returns 0 or -1. */
int mcp_pool_submit(struct mcp_pool *p, void (*fn)(void *), void *arg);
/* Runs what is queued, then joins every thread (so no thread of the pool
 * still runs its exit handlers when the caller goes on to exit). */
void mcp_pool_destroy(struct mcp_pool *p);

/* ---- registry (registry.c) ---- */

enum mcp_entry_kind { ENT_TOOL, ENT_RESOURCE, ENT_TEMPLATE, ENT_PROMPT };

/* One registered item. Immutable after registration and refcounted, so
 * that a call in flight keeps it alive if it is removed meanwhile. */
struct mcp_entry {
	atomic_int refs;
	enum mcp_entry_kind kind;
	char *name;  /* tool/prompt name, or resource URI / URI template */
	json_t *def; /* the object listed to clients */
	unsigned flags;
	union {
		mcp_tool_fn tool;
		mcp_resource_fn resource;
		mcp_prompt_fn prompt;
	} fn;
	mcp_complete_fn complete;
	json_t *prompt_args; /* prompts: the arguments array, or NULL */
	void *ud;
};

/* Hooks of a tool set that keeps per-session state (hosted servers):
 * called when a session ends (after its calls returned, before it is
 * freed) and when it subscribes or unsubscribes a URI (on the
 * transport's thread: must not block). */
struct mcp_server_hooks {
	void (*session_end)(void *ud, mcp_session *s);
	void (*subscribe)(void *ud, mcp_session *s, const char *uri, int on);
	void *ud;
};

struct mcp_list {
	struct mcp_entry **v;
	size_t n, cap;
};

struct mcp_server {
	pthread_rwlock_t lock; /* registry lists */
	struct mcp_list tools, resources, templates, prompts;
	json_t *info; /* serverInfo object */
	char *instructions;
	unsigned page_size;
	unsigned max_inflight;
	struct mcp_limits limits;
	struct mcp_pool pool;

	struct mcp_server_hooks hooks;

	/* 2026-07-28 request state (rev2026_state.c); set before serving */
	struct mcp_state_keys state_keys;
	unsigned state_ttl; /* seconds */
	/* open subscriptions/listen requests (rev2026_listen.c) */
	atomic_uint nlistens;
	unsigned max_listens;
	int request_log; /* mcp_server_set_request_log */
	unsigned revs;	 /* MCP_REVS_*: the revisions served (0: both) */

	struct mcp_tasks *tasks; /* the tasks extension (rev2026_tasks.c) */

	pthread_mutex_t sessions_mu; /* the session list below */
	struct mcp_session *sessions;

	/* mcp_server_on_free: run by mcp_server_free, last first */
	struct {
		void (*fn)(void *);
		void *arg;
	} cleanups[MCP_SERVER_MAX_CLEANUPS];
	unsigned ncleanups;
};

void mcp_entry_ref(struct mcp_entry *e);
void mcp_entry_unref(struct mcp_entry *e);

/* Looks up a tool or prompt by name, a resource by exact URI, with a new
 * reference; NULL if absent. */
struct mcp_entry *mcp_registry_find(mcp_server *srv, enum mcp_entry_kind k,
				    const char *name);
/* Finds the template matching uri; on success *vars gets a new object of
 * the variables it bound. */
struct mcp_entry *mcp_registry_match_template(mcp_server *srv, const char *uri,
					      json_t **vars);
/* Builds one page of a list result ({key: [...], nextCursor?}). Returns
 * NULL and sets *bad_cursor for a cursor that is not ours. */
json_t *mcp_registry_page(mcp_server *srv, enum mcp_entry_kind k,
			  const char *cursor, int *bad_cursor);
/* The capabilities object this server advertises. */
json_t *mcp_registry_capabilities(mcp_server *srv);

/* A new entry (one reference) named name whose listed definition is def
 * (stolen; kept verbatim) and whose handler's ud is ud; the caller sets
 * fn and complete. NULL on allocation failure (def released). */
struct mcp_entry *mcp_entry_from_def(enum mcp_entry_kind k, const char *name,
				     json_t *def, void *ud);
/* In one step under the registry lock: removes every entry whose ud is
 * owner and adds add[0..n) (their references are taken). An entry whose
 * name another owner holds is refused: refused(rud, e) is told before it
 * is released (add[i] is then set to NULL). list_changed goes out once
 * per list whose entries changed. */
void mcp_registry_replace(mcp_server *srv, const void *owner,
			  struct mcp_entry **add, size_t n,
			  void (*refused)(void *rud, struct mcp_entry *e),
			  void *rud);

void mcp_server_set_hooks(mcp_server *srv, const struct mcp_server_hooks *h);

/* Nonzero for a valid tool or prompt name (2025-11-25: 1-128 of letters,
 * digits, '_', '-' and '.'). */
int mcp_name_valid(const char *name);

/* *ts = CLOCK_MONOTONIC now + ms. */
void mcp_deadline_after(struct timespec *ts, int ms);

/* Sends a notification to every initialized session (registry.c calls it
 * when lists change). */
void mcp_server_broadcast(mcp_server *srv, const char *method,
			  const char *only_if_subscribed_uri);

/* ---- sessions and calls (session.c, call.c) ---- */

enum mcp_state { SESS_NEW, SESS_INITIALIZING, SESS_READY };

struct mcp_outreq { /* a request this server sent to the client */
	json_t *id;
	json_t *response; /* set when answered */
	int done;
	struct mcp_outreq *next;
};

struct mcp_session {
	mcp_server *srv;
	mcp_send_fn send;
	mcp_done_fn done;
	mcp_close_stream_fn close_stream;
	int relate;    /* mark messages with the request they relate to */
	int stateless; /* one 2026-07-28 request, no initialize (rev2026.c) */
	void *ctx;

	pthread_mutex_t mu;
	pthread_cond_t cv; /* calls finished, client answers, cancellation */
	enum mcp_state state;
	char version[16];
	json_t *client_caps;
	json_t *client_info;
	int log_level; /* -1: not set, send everything */
	/* MCP_MAX_SUBSCRIPTIONS slots, allocated by the first subscribe: most
	 * sessions (every stateless request's) never subscribe, and a session
	 * small enough for malloc's per-thread cache is set up and freed
	 * faster (the slots made it 2.3 KiB) */
	char **subs;
	unsigned nsubs;
	struct mcp_call *calls; /* in flight */
	unsigned ncalls;
	struct mcp_outreq *outreqs;
	struct mcp_listen *listen; /* an open subscriptions/listen */
	struct mcp_task *task;	   /* the task whose call this session runs */
	long long next_out_id;
	int closing;

	struct mcp_session *next; /* server's list */
};

struct mcp_call {
	mcp_session *s;
	json_t *id;
	json_t *params;
	json_t *progress_token;
	json_t *uri_vars;
	struct mcp_entry *entry;
	char *uri;     /* resources/read */
	json_t *state; /* verified requestState contents (2026-07-28) */
	int method;    /* enum in session.c */
	atomic_int cancelled;
	int err_code;
	char *err_msg;
	json_t *err_data;
	struct mcp_call *next;
};

/* Sends msg (not stolen) to the session's peer if it is still open. */
int mcp_session_send(mcp_session *s, const json_t *related, json_t *msg);

/* Sends the response to request id and tells the transport it is done;
 * msg may be NULL (a cancelled request: only the done part). */
void mcp_session_respond(mcp_session *s, json_t *id, json_t *msg);

/* Makes a new session carry one stateless (2026-07-28) request: ready
 * without initialize, with the version, client capabilities and info and
 * the log level (none: no log messages) that request's _meta carries
 * (meta: not stolen; checked by mcp_rev2026_check). */
void mcp_session_begin_stateless(mcp_session *s, const json_t *meta);
/* Marks every call in flight on s cancelled and wakes their handlers'
 * naps, without waiting for them (mcp_session_free waits). */
void mcp_session_cancel_calls(mcp_session *s);

/* Feeds one parsed message; steals m's contents. For transports that
 * must look at the message first (HTTP). Same return as
 * mcp_session_input(). */
int mcp_session_input_msg(mcp_session *s, struct jr_msg *m);

/* Runs a call's handler and sends the response (call.c). A handler that
 * returns MCP_CALL_PENDING has taken the call over, leaves *result unset
 * and ends it exactly once, from any thread, with mcp_call_finish; until
 * then the call stays in flight (its session waits for it). */
#define MCP_CALL_PENDING 0x70656e64
void mcp_call_run(struct mcp_call *c);
/* Ends c as its handler's return would have: rc and result (stolen) as a
 * handler gives them; sends the response (none if cancelled) and frees
 * c. */
void mcp_call_finish(struct mcp_call *c, int rc, json_t *result);
void mcp_call_free(struct mcp_call *c);

#endif
