/* zonegate-agent's private interface: the MCP client it uses to call its
 * tools through the gateway (a zonegate-relay child, agent_client.c) and
 * the roles of the pipeline (agent_roles.c). */
#ifndef ZONEGATE_AGENT_H
#define ZONEGATE_AGENT_H

#include <jansson.h>
#include <stddef.h>

/* Caps on what the agent accepts or builds. */
#define AG_MAX_INPUT (256u * 1024)	/* the ask tool's "input" */
#define AG_MAX_LINE (16u * 1024 * 1024) /* one message from the relay */
#define AG_MAX_PAGE (96u * 1024)	/* one fetched page's text kept */
#define AG_MAX_SECTIONS 8		/* report sections */
#define AG_MAX_FETCH 8			/* pages the cve role fetches */

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
};

/* One MCP client session through a relay child. */
struct ag_client;

/* Starts the relay and runs initialize, within deadline (a monotonic ms
 * time). Returns a session the caller ends with ag_client_close(), or
 * NULL with a message in err. */
struct ag_client *ag_client_open(const struct ag_config *cfg, long deadline,
				 char *err, size_t errlen);

/* Calls tool name (ZONE.TOOL) with args (borrowed) and waits until
 * deadline. Returns the CallToolResult (new reference, the caller frees
 * it; it may have isError set), or NULL with the reason in err: a
 * JSON-RPC error (a policy denial: the gateway's message and audit id),
 * the deadline, or the relay gone. */
json_t *ag_client_call(struct ag_client *c, const char *name, json_t *args,
		       long deadline, char *err, size_t errlen);

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
