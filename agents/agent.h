/* The agents' private interface (zonegate-agent, zonegate-supervisor): the
 * MCP client they call tools with, through the gateway (a zonegate-relay
 * child, agent_client.c) or straight to a zone's HTTP server (the
 * baseline's direct route, agent_direct.c), and the roles of the pipeline
 * (agent_roles.c). */
#ifndef ZONEGATE_AGENT_H
#define ZONEGATE_AGENT_H

#include <jansson.h>
#include <stddef.h>

#include "client.h"

/* Caps on what the agent accepts or builds. */
#define AG_MAX_INPUT (256u * 1024)	/* the ask tool's "input" */
#define AG_MAX_LINE (16u * 1024 * 1024) /* one message from the relay */
#define AG_MAX_PAGE (96u * 1024)	/* one fetched page's text kept */
#define AG_MAX_SECTIONS 8		/* report sections */
#define AG_MAX_FETCH 8			/* pages the cve role fetches */
#define AG_MAX_DIRECT 16		/* --direct zones */

/* The direct route of one zone (--direct ZONE=URL): ZONE.TOOL is called
 * as TOOL on the Streamable HTTP MCP server at url, not through the
 * gateway. */
struct ag_direct {
	char zone[64];	 /* a zone name (ag_zone_name_ok) */
	const char *url; /* borrowed from the argument */
};

/* How the agent reaches its tools and what it calls them. */
struct ag_config {
	const char *role;      /* cve-question, cve, blog-question, rag, report */
	const char *relay;     /* the zonegate-relay binary */
	const char *chan;      /* agent-side channel (NULL: the relay's own
				  default, ZONEGATE_CHAN or its daemon) */
	const char *llm_zone;  /* zone names in ZONE.TOOL, default llm */
	const char *web_zone;  /* default web */
	const char *kb_zone;   /* default kb */
	long deadline_ms;      /* one ask, every tool call included */
	long connect_ms;       /* the relay's --connect-timeout */
	long search_count;     /* web_search count */
	long fetch_count;      /* pages fetched */
	long rag_k;	       /* rag_search k */
	long max_tokens;       /* llm_chat max_tokens */
	/* zones called directly (the no-isolation baseline); the others go
	 * through the gateway. Borrowed, ndirect <= AG_MAX_DIRECT. */
	const struct ag_direct *direct;
	unsigned ndirect;
};

/* One MCP client: a session through a relay child, and one session per
 * direct zone. */
struct ag_client;

/* Starts the relay and runs initialize, within deadline (a monotonic ms
 * time). With direct zones in cfg (borrowed until ag_client_close) nothing
 * is connected yet: each direct zone's session and the relay's are opened
 * at their first call. Returns a client the caller ends with
 * ag_client_close(), or NULL with a message in err. */
struct ag_client *ag_client_open(const struct ag_config *cfg, long deadline,
				 char *err, size_t errlen);

/* Calls tool name (ZONE.TOOL) with args (borrowed) and waits until
 * deadline. Returns the CallToolResult (new reference, the caller frees
 * it; it may have isError set), or NULL with the reason in err: a
 * JSON-RPC error (a policy denial: the gateway's message and audit id),
 * the deadline, or the relay gone. */
json_t *ag_client_call(struct ag_client *c, const char *name, json_t *args,
		       long deadline, char *err, size_t errlen);

/* 1 if the last ag_client_call failed because its session could not be
 * opened (the relay or the direct server's initialize failed), else 0. */
int ag_client_unreachable(const struct ag_client *c);

/* tools/list (its first page) before deadline: the ListToolsResult (new
 * reference, the caller frees it) or NULL with err, as ag_client_call.
 * What the session may see: the attack battery records it. */
json_t *ag_client_list(struct ag_client *c, long deadline, char *err,
		       size_t errlen);

/* Sets a hook the client asks (about every 50 ms while it waits) whether
 * to give up; a give-up fails the call ("cancelled by the caller") and
 * marks the session unusable. fn NULL removes it. */
void ag_client_set_cancel(struct ag_client *c, int (*fn)(void *), void *ud);

/* 1 if c can take another call: no send or read of it failed and the
 * relay still runs; else 0 (close it and open a new one). */
int ag_client_usable(struct ag_client *c);

/* Ends the session: closes the relay's stdin, waits briefly, kills it if
 * it lingers. NULL is a no-op. */
void ag_client_close(struct ag_client *c);

/* Monotonic milliseconds. */
long ag_now_ms(void);
/* Monotonic milliseconds with microseconds (the timings the pipeline
 * reports: its hops take well under a millisecond). */
double ag_now_msf(void);
/* Milliseconds since t0 (an ag_now_msf() value), to the microsecond. */
double ag_ms_since(double t0);

/* Parses a --direct argument ZONE=URL into out (its url points into arg,
 * which must outlive it): ZONE a zone name, URL one mcp_hc_url_ok accepts
 * (http only to loopback), and ZONE not already in d[0..n). 0, or -1
 * with the reason in err. */
int ag_direct_parse(const char *arg, const struct ag_direct *d, unsigned n,
		    struct ag_direct *out, char *err, size_t errlen);

/* Initializes the direct route's HTTP library (libcurl, and the TLS
 * library under it) once. Call it from main before threads start when
 * direct zones are configured: done first in a worker thread, the TLS
 * library's per-thread state of that thread is never freed. 0, or -1. */
int ag_direct_init(void);

/* 0 if s is a zone name as the gateway spells it: [a-z0-9][a-z0-9-]{0,62}. */
int ag_zone_name_ok(const char *s);

/* The text items of a CallToolResult joined by newlines (new string, the
 * caller frees it), or NULL when out of memory. */
char *ag_result_text(json_t *res);

/* Writes len bytes of data to path atomically (PATH.tmp.PID, then
 * rename). 0, or -1 with the reason in err (the temporary is removed). */
int ag_write_file(const char *path, const char *data, size_t len, char *err,
		  size_t errlen);

/* ---- inside the client (agent_client.c, agent_direct.c) ---------------- */

/* Calls method (params stolen) on the session mc before deadline, giving
 * up when cancel(ud) turns nonzero (may be NULL): its result (new
 * reference, a JSON object) or NULL with err (the server's message and
 * the gateway's audit id when it gave one; "no answer within the
 * deadline"; "cancelled by the caller"). *local is 1 when the failure was
 * not the server's answer. */
json_t *ag_call(mcp_client *mc, const char *method, json_t *params,
		long deadline, int (*cancel)(void *), void *ud, int *local,
		char *err, size_t errlen);

/* A direct zone's endpoint and its MCP session. */
struct ag_dlink;

/* A link to d's server (no connection yet); client_name goes in
 * initialize, max_message caps each message. NULL with err. Free with
 * ag_dlink_free. */
struct ag_dlink *ag_dlink_new(const struct ag_direct *d,
			      const char *client_name, long connect_ms,
			      char *err, size_t errlen);
void ag_dlink_free(struct ag_dlink *l);

/* Calls tool (the name on the server) with args (borrowed) before
 * deadline, initializing the session first when it has none (then
 * *unreachable is set if that failed). cancel(ud), when nonzero, gives up.
 * A call that gives up is cancelled on the server and the session kept.
 * The CallToolResult (new reference) or NULL with err. */
json_t *ag_dlink_call(struct ag_dlink *l, const char *tool, json_t *args,
		      long deadline, int (*cancel)(void *), void *ud,
		      int *unreachable, char *err, size_t errlen);

/* 0 if role names one of the five roles. */
int ag_role_ok(const char *role);

/* Runs one ask of cfg->role on input (the tool's argument) on the session
 * *cl, opening one first when *cl is NULL or not usable; a session that
 * failed is closed and *cl set to NULL, a working one is left for the next
 * ask (the caller closes it at the end). cancel(cancel_ud), when
 * nonzero, ends the ask early (ag_client_set_cancel). Returns a CallToolResult (new
 * reference; isError with a clear message on any failure), or NULL only
 * when out of memory. */
json_t *ag_role_run(const struct ag_config *cfg, struct ag_client **cl,
		    int (*cancel)(void *), void *cancel_ud, const char *input);

#endif
