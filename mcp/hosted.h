/* Hosted stdio MCP servers (mcpd --servers FILE): the servers file, the
 * stdio client that runs one server as a child process, and the tool set
 * that serves their tools, resources and prompts from mcpd. Private to
 * mcpd; docs/hosted.md describes the behaviour. */
#ifndef MCP_HOSTED_H
#define MCP_HOSTED_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "zonegate/mcp.h"

/* Caps of the servers file. */
#define HOSTED_MAX_FILE (256u << 10) /* bytes of the file */
#define HOSTED_MAX_SERVERS 32
#define HOSTED_MAX_ARGS 64
#define HOSTED_MAX_ENV 64
#define HOSTED_MAX_STR 4096 /* bytes of a command, argument, value, cwd */
#define HOSTED_NAME_MAX 32  /* bytes of a server name */

/* One server entry of the file. */
struct hosted_cfg {
	char *name;
	char *path;  /* the executable, resolved on PATH when needed */
	char **argv; /* command and args, NULL-terminated */
	char **envp; /* the entry's env plus PATH, NULL-terminated */
	char *cwd;   /* or NULL */
	int shared;  /* one child for every session */
	unsigned init_timeout_ms; /* initialize deadline (default 10 s) */
	unsigned call_timeout_ms; /* a request's deadline (default 300 s) */
	unsigned max_children;	  /* per-session children at once (16) */
};

struct hosted_cfgs {
	struct hosted_cfg *v;
	size_t n;
};

/* Reads and checks the whole servers file into out (fresh; free with
 * hosted_config_free). Returns 0, or -1 with "FILE:LINE: message" in err
 * and nothing allocated. */
int hosted_config_load(const char *file, struct hosted_cfgs *out, char *err,
		       size_t errlen);
/* The same for text (NUL-terminated) read elsewhere; file names it in
 * messages. */
int hosted_config_parse(const char *file, const char *text,
			struct hosted_cfgs *out, char *err, size_t errlen);
void hosted_config_free(struct hosted_cfgs *c);

/* Logs "mcpd: [NAME] message" on stderr (valid UTF-8, cut at 512
 * bytes). */
void hosted_log(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- the stdio transport (hosted_child.c), on the MCP client core ---- */

struct hchild;

/* What a child tells its owner; called from the child's reader thread. */
struct hchild_ops {
	/* A notification, or a request from the server (msg has an id);
	 * msg is borrowed. call_ctx is the ctx of the oldest request in
	 * flight (for server requests), or NULL. */
	void (*message)(void *ud, struct hchild *ch, json_t *msg,
			void *call_ctx);
	/* notifications/progress for a request sent with a progress
	 * token; params borrowed. */
	void (*progress)(void *call_ctx, json_t *params);
	/* The child is gone (why says how); no callback follows. */
	void (*exited)(void *ud, struct hchild *ch, const char *why);
};

struct hpoll;

/* Caps of the client core (mcp/include/client.h); 0 takes its default.
 * The deadlines are the entry's (init_timeout_ms, call_timeout_ms). */
struct hchild_limits {
	size_t max_message;	/* bytes of one line from the child */
	unsigned flood_per_sec; /* unsolicited messages per second */
	/* reads the child's stdout (with every other child's), or NULL: a
	 * reader thread of its own */
	struct hpoll *poll;
};

/* One thread that reads the stdout of many children (epoll): answers that
 * arrive together are handled in one wake-up, not one per child's thread.
 * Its callbacks never wait for a child's stdin (a message that cannot be
 * written at once is dropped with a log line), so a child that does not
 * read holds up no other. Returns NULL with a reason in err. */
struct hpoll *hpoll_new(char *err, size_t errlen);
/* Stops the thread; every child started with it must be stopped first. */
void hpoll_free(struct hpoll *p);

/* Starts cfg's command with pipes on its stdin, stdout and stderr (its
 * stderr lines go to mcpd's log prefixed with the server name), sends
 * initialize (2025-11-25, client capabilities caps, borrowed, may be
 * NULL) and waits for the answer within the init deadline. Returns the
 * running child (free with hchild_stop), or NULL with a reason in err and
 * the process gone. */
struct hchild *hchild_start(const struct hosted_cfg *cfg,
			    const struct hchild_limits *lim, json_t *caps,
			    const struct hchild_ops *ops, void *ud, char *err,
			    size_t errlen);

/* How a request waits. ctx (a call of the caller's, or NULL) is handed to
 * the ops for progress and server requests while it waits; with
 * want_progress the request carries a progress token. cancelled(arg) is
 * polled (may be NULL): when it turns nonzero the child gets
 * notifications/cancelled. */
struct hchild_wait {
	void *ctx;
	int want_progress;
	int (*cancelled)(void *arg);
	void *cancel_arg;
	unsigned timeout_ms;
};

/* Sends a request and waits for its answer as w says. params is stolen.
 * Returns 0 with the result in *result (new reference), or a negative
 * code with a message in err: a JSON-RPC error of the server, the
 * child's death (MCP_ERR_INTERNAL), the deadline (MCP_ERR_TIMEOUT), the
 * cancellation (MCP_ERR_REQUEST_CANCELLED). */
int hchild_request(struct hchild *ch, const char *method, json_t *params,
		   const struct hchild_wait *w, json_t **result, char *err,
		   size_t errlen);

/* What an asynchronous request ended with: rc and result (a new
 * reference, NULL unless rc is 0) as hchild_request gives them, err its
 * message. Called once, on the child's reader thread or the thread that
 * ended the request, without locks held. */
typedef void (*hchild_done_fn)(void *ud, int rc, json_t *result,
			       const char *err);

/* Sends a request without waiting for its answer, and without waiting to
 * write it: a pipe without room, a write under way or a line over
 * PIPE_BUF give -1 with nothing sent and fn not called (the caller can
 * use hchild_request instead). params is stolen. On 0, fn gets the answer
 * once (it may have run before this returns). Cancellation (w->cancelled)
 * and the deadline are checked by hchild_tick. */
int hchild_request_async(struct hchild *ch, const char *method, json_t *params,
			 const struct hchild_wait *w, hchild_done_fn fn,
			 void *ud);

/* Sends notifications/cancelled for the asynchronous requests whose
 * cancelled() turned nonzero and ends the requests past their deadline.
 * Returns how many asynchronous requests were in flight. */
unsigned hchild_tick(struct hchild *ch);

/* Sends a notification (params stolen, may be NULL). 0 or -1. */
int hchild_notify(struct hchild *ch, const char *method, json_t *params);

/* Answers a request of the server; msg (stolen) is a whole response
 * (-1, nothing sent, when the server no longer waits for it). */
int hchild_send(struct hchild *ch, json_t *msg);

/* Sends a request whose answer nobody awaits (params stolen); it still
 * has an id of the client's and a deadline. 0 or -1. */
int hchild_send_request(struct hchild *ch, const char *method, json_t *params);

/* Holds / releases the request in flight whose ctx is call_ctx, so that
 * it does not return while a server request made in its name is being
 * answered. hchild_hold returns -1 when there is no such request. */
int hchild_hold(struct hchild *ch, void *call_ctx);
void hchild_release(struct hchild *ch, void *call_ctx);

/* The server's initialize result (borrowed), its name in the file. */
json_t *hchild_server_caps(struct hchild *ch);
const char *hchild_name(const struct hchild *ch);
pid_t hchild_pid(const struct hchild *ch);
/* Nonzero while the process is up. */
int hchild_alive(struct hchild *ch);

/* Closes its stdin, stops the process group (SIGTERM, then SIGKILL),
 * fails what is in flight, joins its threads and frees ch. */
void hchild_stop(struct hchild *ch);

/* ---- the tool set (hosted.c) ---- */

struct hosted;

/* Starts every server of file for srv: shared servers and the listing
 * instance of per-session servers are started now, and their tools,
 * resources, templates and prompts registered. A server that fails to
 * start is reported and retried with back-off (mcpd still starts).
 * Returns the set (stop with hosted_stop before freeing srv) or NULL with
 * a message in err (a bad file). */
struct hosted *hosted_start(mcp_server *srv, const char *file,
			    size_t max_message, char *err, size_t errlen);
void hosted_stop(struct hosted *h);

#endif
