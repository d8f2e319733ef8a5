/* A host for the gateway core in one process, for its unit tests and its
 * fuzz target: one agent zone whose session is an in-memory HTTP-style
 * session (what the core delivers is captured), and one tool zone whose
 * channel is one end of a socketpair, served by a small fake tool zone. */
#ifndef COREHOST_H
#define COREHOST_H

#include "gw_core.h"
#include "mcp_state.h"

#define COREHOST_OUT_MAX 4096 /* messages to the agent kept */

struct corehost {
	struct gw g;
	struct gw_config cfg;
	struct mcp_state_keys keys; /* a fixed key: held calls' state */
	struct gw_zone zones[2];
	char *tags[1];
	chan_mux *tool;	    /* the fake tool zone's side */
	uint32_t tool_sid;  /* the last link stream it saw */
	int tool_mute;	    /* it answers no tools/call */
	int tool_raw;	    /* it relays what corehost_tool_raw queued */
	int rev2026;	    /* it speaks only 2026-07-28 (corehost_start_rev) */
	int listen_hold;    /* it leaves subscriptions/listen unanswered */
	char listen_id[64]; /* the id of the last one (a string id) */
	unsigned tool_calls;
	uint64_t tool_call_id; /* the upstream id of the last tools/call */
	/* the last notifications/cancelled it got: requestId and reason */
	uint64_t cancelled_id;
	char cancelled_reason[64];
	/* what its prompts/list and resources/list return (JSON arrays;
	 * NULL: none); set after corehost_start, seen at the next fetch */
	const char *prompts, *resources;
	struct asess *s;
	int full; /* delivery refuses (CHAN_MUX_EFULL), as a stalled agent */
	char *out[COREHOST_OUT_MAX];
	size_t nout, taken;
};

/* Starts the core with policy text pol (NULL: allow everything) and the
 * audit log at audit_path (NULL: none); pumps until the tool zone's
 * catalogue is in and the agent session is open. Returns 0, or -1 with
 * the reason on stderr (h is then stopped). */
int corehost_start(struct corehost *h, const char *pol, const char *audit_path);
/* The same with a tool zone that speaks only 2026-07-28 when rev2026 (it
 * answers server/discover so, and acknowledges subscriptions/listen). */
int corehost_start_rev(struct corehost *h, const char *pol,
		       const char *audit_path, int rev2026);
/* Runs the core and the fake tool zone for turns loop turns. */
void corehost_pump(struct corehost *h, int turns);
/* A message from the agent (len bytes), then a few turns. */
void corehost_agent(struct corehost *h, const char *msg, size_t len);
/* A stateless (2026-07-28) request from a listener of the agent zone
 * (len bytes; its answers are captured like the session's), then a few
 * turns; corehost_stateless_end: that HTTP request went away. */
void corehost_stateless(struct corehost *h, const char *msg, size_t len);
void corehost_stateless_end(struct corehost *h);
/* Raw bytes from the tool zone on the last link stream (ctl 0) or its
 * control stream (ctl 1), then a few turns. */
void corehost_tool(struct corehost *h, int ctl, const char *msg, size_t len);
/* The next message delivered to the agent, parsed (caller frees), or
 * NULL when none is waiting or it is not JSON. */
json_t *corehost_take(struct corehost *h);
/* Ends the session and the core, frees everything of h. */
void corehost_stop(struct corehost *h);

#endif
