/* The gateway core's private state and the interfaces between its roles:
 * catalogue (gw_catalogue.c), upstream links and the splice path
 * (gw_upstream.c), agent sessions (gw_session.c), request lifecycle and
 * deadlines (gw_request.c) and the loop (gw_loop.c). Only the core's
 * files, its unit tests and its fuzz target include this. */
#ifndef GW_CORE_H
#define GW_CORE_H

#include "gwd.h"

#include <zonegate/chan_mux.h>

#include "zg_common.h"
#include "zg_queue.h"

#include "client.h" /* the MCP client core: the request tables */

struct jr_msg; /* a parsed JSON-RPC message (mcp/include/jsonrpc.h) */
struct mcp_hc; /* a remote tool zone's HTTP client (mcp/client_http.h) */

/* ---- caps of the core ------------------------------------------------- */

#define MAX_DEPTH 64
#define SESSION_INFLIGHT_MAX 256
#define ZONE_INFLIGHT_MAX 4096		 /* calls in flight per agent zone */
#define LINK_QUEUED_MAX (64u << 20)	 /* bytes waiting for links, in all */
#define LINK_QUEUED_ZONE_MAX (16u << 20) /* of those, one agent zone's */
#define LINK_QUEUE_MAX 256
#define CAT_PAGES_MAX 100
#define CAT_ITEMS_MAX 10000 /* entries per list and tool zone */
#define REFETCH_MIN_MS 1000 /* catalogue refreshes per tool zone */
#define SESSION_SREQ_MAX 32 /* server requests waiting on one agent */
#define SESSION_AUX_MAX 64  /* the gateway's own requests for a session */
#define CAPS_UP_MAX 1024    /* bytes of client capabilities kept */
#define CAP_PART_MAX 256    /* bytes of one capability's sub-object */
#define AUDIT_ARGS_MAX 4096 /* longer arguments are never logged whole */
#define BACKOFF_MIN_MS 100
/* Frames and bytes taken from one zone's channel per loop turn: the loop
 * then moves on to the next zone, so a zone with much to send gets the
 * same share as any other (docs/gateway.md, "Fairness"). */
#define ZONE_TURN_FRAMES 8
#define ZONE_TURN_BYTES (256u << 10)
#define BACKOFF_MAX_MS 2000
/* A remote tool zone (url): its credential files are checked for a change
 * this often; sockets of its HTTP client polled at most; its HTTP
 * requests in flight at most; a POST lives at most call_timeout_ms plus
 * this margin (calls end at their own deadline before). */
#define REMOTE_HDR_CHECK_MS 1000
#define REMOTE_POLLFDS_MAX 1024
#define REMOTE_TRANSFERS_MAX 4096
#define REMOTE_POST_MARGIN_MS 5000
/* A remote zone's control session is pinged this often; no answer within
 * the timeout, or a transport failure, takes the zone down (as a
 * channel's PINGs do). */
#define REMOTE_PING_MS 2000
#define REMOTE_PING_TIMEOUT_MS 10000
#define GW_ERR_GATEWAY (-32000) /* limits, unavailable tool zone */
/* A tool zone's calls in flight when its config gives no max_inflight
 * (mcpd's default --workers): see gw_admit.c */
#define GW_TZ_INFLIGHT_DEFAULT GW_TZ_INFLIGHT_DEFAULT_CFG
/* Subscriptions of 2025-11-25 sessions and stateless listens to the
 * resources of 2026-07-28 tool zones (gw_subs.c): one upstream listen per
 * tool zone and URI, shared. A session holds at most SUBS_SESSION_MAX
 * (mcpd's per session); an agent zone a share of at most SUBS_AZ_MAX
 * upstream listens, a tool zone at most SUBS_TZ_MAX, carried
 * SUBS_PER_STREAM to a stream (mcpd's per-stream cap of subscriptions). */
#define SUBS_SESSION_MAX 256
#define SUBS_AZ_MAX 256
#define SUBS_TZ_MAX 512
#define SUBS_PER_STREAM 16

enum { CAT_TOOLS, CAT_RES, CAT_TMPL, CAT_PROMPTS, CAT_N };
/* the fingerprint of an empty view (FNV-1a's offset basis) */
#define VIEW_EMPTY 0xcbf29ce484222325ull

/* The MCP protocol versions the gateway speaks, newest first. */
#define GW_NVERSIONS 3
extern const char *const gw_versions[GW_NVERSIONS];

/* ---- a u64 -> pointer map (gw_map.c) ----------------------------------- */

/* An opaque hash map from 64-bit keys to borrowed pointers. */
struct u64map;

/* A new empty map (NULL when out of memory); free with gw_map_free. */
struct u64map *gw_map_new(void);
/* The value under k, or NULL. */
void *gw_map_get(const struct u64map *m, uint64_t k);
/* Adds k -> v (the caller makes sure k is not there). Returns 0, or -1
 * when out of memory (the map is unchanged). */
int gw_map_put(struct u64map *m, uint64_t k, void *v);
/* Removes k if it is there; the value is the caller's. */
void gw_map_del(struct u64map *m, uint64_t k);
/* Entries held. */
size_t gw_map_count(const struct u64map *m);
/* A new array of every value (for sweeps that may delete) the caller
 * frees, its length in *count; NULL (and 0) when out of memory. */
void **gw_map_values(const struct u64map *m, size_t *count);
/* fn(value, arg) for every entry; fn must not change the map. */
void gw_map_each(const struct u64map *m, void (*fn)(void *v, void *arg),
		 void *arg);
/* Frees the map, not the values. */
void gw_map_free(struct u64map *m);

/* ---- state ------------------------------------------------------------- */

enum { L_NONE, L_INIT, L_READY };

/* The request table of one upstream link (an agent session's stream or
 * remote session on a tool zone) or of a tool zone's control stream: the
 * MCP client core in table-only use (docs/client.md). The gateway sends
 * its requests and routes the answers itself (the splice); the core keeps
 * each request's entry, deadline and cancellation, the link's caps
 * (gw_up_limits) and its stats. Made with the link's first request,
 * freed with the link (gw_up_link_reset) or the control stream. */
struct gw_uc {
	struct mcp_client *mc;
	struct tzone *t;
	struct asess *s; /* NULL: the control stream */
};

struct ulink {
	uint32_t sid;
	int state;
	struct gw_uc *uc; /* its request table, or NULL before any */
	/* messages waiting for the link to open: at most LINK_QUEUE_MAX;
	 * their bytes also count in link_queued of the gw and the zone */
	struct zg_queue q;
};

struct preq;
struct sreq;

/* The client capabilities the gateway acts on (server requests of the
 * other kinds are refused) and forwards upstream. */
enum { CAP_SAMPLING = 1, CAP_ELICITATION = 2, CAP_ROOTS = 4 };

struct asess {
	struct azone *az;
	uint32_t sid;		 /* the channel stream (0 for HTTP sessions) */
	uint64_t key;		 /* in az->sess: sid, or 1 << 32 | n for HTTP */
	struct gw_hs *hs;	 /* an HTTP listener's session, or NULL */
	gw_http_deliver deliver; /* hands hs its messages */
	int inited;
	char proto[32];
	unsigned caps; /* CAP_* the client declared */
	char *caps_up; /* what is forwarded of them (JSON, small) */
	char *level;
	char id[96];
	struct ulink *links; /* one per tool zone */
	struct preq *reqs;
	struct sreq *sreqs;
	unsigned inflight;
	unsigned aux;	  /* its preqs that are not calls (init, setLevel) */
	uint64_t dropped; /* messages to it dropped (drop_note) */
	uint64_t drop_unlogged; /* of those, not yet in a log line */
	int64_t drop_log_ms;	/* when the last drop line was written */
	/* the stateless revision (gw_stateless.c): shared is set on a zone's
	 * one session that holds the upstream sessions for its stateless
	 * requests; stl_pending counts this stream's stateless requests in
	 * flight (a stream that carries them instead of a session) */
	int shared;
	int stateless; /* a stream of stateless requests, never a session */
	unsigned stl_pending;
	/* the agent closed its half of a session's stream (CLOSE: it sends
	 * nothing more): the session ends once its calls are answered (or
	 * end at their deadlines), at the end of that turn (gw_loop.c) */
	int half_closed;
	/* its subscriptions to 2026-07-28 tool zones (gw_subs.c) */
	struct gw_subref *subs;
	unsigned nsubs;
};

struct azone {
	struct gw *g;
	const struct gw_zone *z;
	unsigned zi;
	chan_mux *m;
	const struct pollfd *pfd; /* its entry in this turn's poll, or NULL */
	struct u64map *sess;
	uint64_t sessions_total;
	unsigned inflight;
	uint64_t view[CAT_N]; /* fingerprints of what it was last told */
	uint64_t *parts;      /* [k * ntz + ti]: tz_view's part of each */
	size_t link_queued;   /* bytes its sessions queue for links */
	struct gw_stl *stl;   /* its stateless requests (gw_stateless.c) */
	/* Its denial budget (zone_denials_per_s): every denial or limit
	 * refusal answered takes a token; while the bucket is in debt its
	 * channel and its listener requests are not read (gw_loop.c) */
	struct gw_bucket deny;
	int deny_rate;	  /* the rate deny was last set for */
	int deny_held;	  /* its channel was left unread in the last poll */
	int half_done;	  /* a half-closed session's last call ended */
	unsigned subs_up; /* upstream listens it has a share of (gw_subs.c) */
	/* when each task it keeps on tool zones ends (ms; gw_tasks.c):
	 * at most tasks_max of them */
	int64_t *task_exp;
	unsigned ntask_exp, task_cap;
};

/* One agent zone's share of a tool zone (gw_admit.c): the slots it
 * holds and its calls waiting for one, oldest first. */
struct gw_lane {
	unsigned zi;	 /* the agent zone's limits slot */
	unsigned held;	 /* its calls in flight on the tool zone */
	uint64_t served; /* when it last got a slot (t->served) */
	struct preq *qh, *qt;
};

struct tzone {
	struct gw *g;
	const struct gw_zone *z;
	unsigned zi, ti;
	/* Its number for as long as it exists (g->tz_serial): link keys and
	 * view fingerprints use it, so that tool zones added or removed at
	 * run time (gw_zones.c) change neither for the others. */
	unsigned serial;
	chan_mux *m;
	const struct pollfd *pfd; /* its entry in this turn's poll, or NULL */
	struct mcp_hc *hc;	  /* a remote zone's client, instead of m */
	size_t hc_npfd;		  /* of its sockets in this turn's poll */
	uint64_t hdr_sig;	  /* its credential files as last read */
	char **creds; /* the last good header lines read from them */
	size_t ncreds;
	int64_t hdr_check_at;
	uint64_t ping_uid; /* its ping in flight, 0 none */
	int64_t ping_at;   /* the next ping (ms), or its deadline */
	int dead;
	int64_t retry_at;
	int backoff;
	uint32_t ctl;
	struct gw_uc *ctl_uc; /* the control stream's request table */
	/* the request tables' counters of this tool zone's links and
	 * control streams that are gone (gw_up_uc_free adds them) */
	struct mcp_client_stats up_st;
	json_t *cat[CAT_N];
	uint64_t *ehash[CAT_N]; /* hash of each entry of cat[k] */
	json_t *stage[CAT_N];
	int fetching, pages;
	size_t stage_bytes; /* of this fetch's pages so far */
	int stage_over;	    /* this fetch went over catalogue_max_bytes */
	int oversize;	    /* the last fetch did: quarantined */
	int refetch;	    /* list_changed arrived: fetch again */
	int64_t last_fetch; /* when the last fetch started (ms) */
	int have_cat, quarantined;
	char hash[65];
	uint64_t connects;
	uint64_t responses;	    /* call responses relayed to agents */
	uint64_t responses_spliced; /* of those, relayed without re-encoding */
	uint64_t responses_invalid; /* dropped: failed the splice check */
	char last_error[160];
	/* The revision negotiated on its control stream (docs/protocol.md,
	 * "Which revision the gateway speaks to a tool zone"): a channel
	 * zone is asked server/discover first (hs_probe while it is out);
	 * rev2026 when it lists 2026-07-28, and then every link to it is a
	 * stream of stateless requests (no initialize, _meta on each
	 * request: gw_up_meta); else initialize on a new stream. rev: the
	 * revision's name ("" before the handshake). */
	int rev2026;
	int tasks_ext; /* its server/discover offered the tasks extension */
	int hs_probe;
	char rev[16];
	/* the upstream listens of its resources that sessions and stateless
	 * listens share (gw_subs.c), NULL while there are none */
	struct gw_subs *subs;
	/* its calls in flight (busy, at most max_inflight) and waiting
	 * (nqueued), by agent zone (gw_admit.c) */
	struct gw_lane *lanes;
	unsigned nlanes, lanecap;
	unsigned busy;
	size_t nqueued, queued_bytes;
	uint64_t served;
};

enum preq_kind { PK_CALL, PK_INIT, PK_IGNORE, PK_CAT, PK_PING };

/* A request of ours upstream: what the gateway needs when it ends (the
 * agent's id, audit and metrics); its entry, deadline and cancellation
 * are in its link's request table (uc). g->preqs maps its id to it for
 * the splice's one map probe. */
struct preq {
	uint64_t uid;
	enum preq_kind kind;
	struct gw *g;
	/* the table it is in; NULL once the core ended it (deadline, the
	 * table freed) or the gateway settled it */
	struct gw_uc *uc;
	int expired;	    /* on g->expired, waiting for gw_req_deadlines */
	struct preq *xnext; /* the next there */
	struct asess *s;    /* NULL for the control stream */
	unsigned ti;
	int cat;
	json_t *aid;
	char method[40];
	char *target;
	char *rule;
	char *args; /* JSON text, only with audit_args */
	char audit_id[64];
	char trace[56];	      /* the request's W3C traceparent, or "" */
	char mlabel[200];     /* its metrics label (metric_label) */
	struct gw_limit *lim; /* concurrency counter held; kept while >0 */
	size_t bytes_in, max_bytes;
	int64_t t0, t_policy, t_sent;
	struct preq *prev, *next;
	/* a session's call to a 2026-07-28 tool zone (gw_upstream.c): the
	 * request as sent, to send again with the answers to the zone's
	 * InputRequiredResult; while those are asked of the agent, irr
	 * holds {"state", "answers", "waiting"} */
	json_t *up_req;
	json_t *irr;
	/* admission (gw_admit.c): slot, it holds one of its tool zone's;
	 * queued, it waits for one with its message qmsg (qlen bytes) on
	 * agent zone qzi's lane */
	int slot, queued;
	unsigned qzi;
	char *qmsg;
	size_t qlen;
	struct preq *qnext, *qprev;
};

struct sreq {
	uint64_t aid;
	struct asess *s;
	unsigned ti;
	json_t *up_id;	  /* for irr_uid: the input request's key */
	uint64_t irr_uid; /* an input request of that call (preq uid), or 0 */
	struct sreq *next;
};

/* Contracts in full at the definitions; in short: */

/* ---- zones (gw_loop.c) ------------------------------------------------- */

/* A new tool zone for config zone z (not connected; ti is the caller's
 * to set), or NULL when out of memory. gw_tz_free frees its channel,
 * catalogue and itself (its links and requests ended first). */
struct tzone *gw_tz_new(struct gw *g, const struct gw_zone *z, unsigned zi);
void gw_tz_free(struct tzone *t);
/* A new agent zone for z with its limits slot zi, its views sized for
 * ntz tool zones, without a channel (NULL when out of memory);
 * gw_az_listen opens its channel as the server (0, or -1 with err; 0
 * without one for a zone only listeners serve); gw_az_free ends its
 * sessions and frees its channel and itself. */
struct azone *gw_az_new(struct gw *g, const struct gw_zone *z, unsigned zi,
			size_t ntz);
int gw_az_listen(struct azone *a, char *err, size_t errlen);
void gw_az_free(struct azone *a);
/* Agent zone a answered a denial or a limit refusal: charged to its
 * denial budget (never refused: the answer goes out whatever the
 * budget). gw_az_wait_ms: how long a's input must wait until its budget
 * allows more (ms; 0: it may be read now). */
void gw_az_denied(struct azone *a);
int64_t gw_az_wait_ms(struct azone *a, int64_t now);

/* ---- the catalogue (gw_catalogue.c) ----------------------------------- */

/* t is up, has a catalogue and is not quarantined. */
int gw_cat_visible(const struct tzone *t);
/* The entry of t's list k whose key is val (borrowed), or NULL. */
json_t *gw_cat_find(const struct tzone *t, int k, const char *key,
		    const char *val);
/* name is usable as a metrics label and in audit lines. */
int gw_cat_name_ok(const char *s);
/* The tool zone of an agent-facing name (its bare name in *bare), of a
 * resource URI; NULL when none. */
struct tzone *gw_cat_resolve_name(struct gw *g, const struct azone *az,
				  const char *name, const char **bare);
struct tzone *gw_cat_resolve_uri(struct gw *g, const char *uri);
/* The policy's decision for agent zone az (rule in *r, may be NULL). */
enum pol_decision gw_cat_decide(struct gw *g, const struct azone *az,
				unsigned kind, const char *tz, const char *name,
				const json_t *args, const struct pol_rule **r);
/* Agent zone az's merged list k, filtered as its lists are (new; the
 * caller frees it). */
json_t *gw_cat_view(struct gw *g, struct azone *az, int k);
/* A "VIEW.OFFSET" cursor c of the view view: 0 and *off, or -1. */
int gw_cat_cursor_parse(uint64_t view, const json_t *c, size_t *off);
/* Answers a list request k (CAT_*) of session s with one page. */
void gw_cat_list(struct gw *g, struct asess *s, struct jr_msg *m, int k);
/* Sessions whose view changed hear list_changed (only: that tool zone's
 * part, -1 every part). */
void gw_cat_lists_changed(struct gw *g, long only);
/* Tool zone t's control stream: fetch every list, a list_changed from
 * it, when a held-back refetch may start (INT64_MAX: none), one page. */
void gw_cat_fetch(struct tzone *t);
void gw_cat_changed(struct tzone *t);
int64_t gw_cat_refetch_at(const struct tzone *t);
void gw_cat_page(struct tzone *t, struct preq *p, struct jr_msg *m, size_t len);

/* ---- tool zones and upstream links (gw_upstream.c) -------------------- */

/* Tool zone t is connected (a channel, or a remote zone's client). */
int gw_up_live(const struct tzone *t);
/* msg (not stolen; as text: gw_up_tx) on t's stream or upstream session
 * sid: 0, or negative when not sent. */
int gw_up_send(struct tzone *t, uint32_t sid, json_t *msg);
int gw_up_tx(struct tzone *t, uint32_t sid, const char *msg, size_t len);
/* Session s's link to tool zone ti: closed and its queue freed (reset);
 * failed, its calls ended with an error (fail); a message sent or queued
 * until it is open (send: 0, or -1 over its caps); opened if needed
 * (ensure: 0, or -1 when the tool zone is not up). */
void gw_up_link_reset(struct gw *g, struct asess *s, unsigned ti);
/* A session's links, one per tool zone (ntz; closed, queues empty); the
 * caller frees the array with free() after resetting each. NULL on no
 * memory. */
struct ulink *gw_up_links_new(size_t ntz);
void gw_up_link_fail(struct gw *g, struct asess *s, unsigned ti,
		     const char *why);
int gw_up_link_send(struct gw *g, struct asess *s, unsigned ti, const char *msg,
		    size_t len);
int gw_up_link_ensure(struct gw *g, struct asess *s, unsigned ti);
/* A new request with our id uid (params stolen); the caller frees it. */
json_t *gw_up_request_new(uint64_t uid, const char *method, json_t *params);
/* The answer m to tool zone t's control-stream handshake request
 * (server/discover, or initialize): the revision recorded, the catalogue
 * fetched, a fallback to initialize, or the zone marked dead. */
void gw_up_handshake(struct tzone *t, struct jr_msg *m);
/* Request params (an object, or NULL: nothing to do) going from session
 * s to tool zone ti, in the revision that zone speaks: for a 2026-07-28
 * zone _meta gets the protocol version, the client capabilities (those
 * a stateless agent's request declared, kept by gw_stateless.c, else
 * the session's forwarded ones) and the session's log level; for a
 * 2025-11-25 zone the revision's own _meta keys are dropped. */
void gw_up_meta(struct gw *g, struct asess *s, unsigned ti, json_t *params);
/* A call's result m from a 2026-07-28 tool zone that asks for client
 * input (resultType input_required) for a session's call p: each input
 * request goes to the agent as a server-to-client request (an sreq with
 * irr_uid), or the call ends with an error when the session did not
 * declare the capability or the result cannot be bridged. 1 if m was
 * taken so (p waits, or was freed), 0 if it is an ordinary result (a
 * stateless agent's gets it through gw_stateless.c). */
int gw_up_irr_result(struct tzone *t, struct preq *p, struct jr_msg *m);
/* The agent's answer m to input request r (r->irr_uid): kept; when the
 * call has every answer it is sent to its tool zone again with
 * inputResponses and the zone's requestState. An error answer ends the
 * call with it. r is the caller's to unlink and free. */
void gw_up_irr_answer(struct gw *g, struct sreq *r, struct jr_msg *m);
/* Tool zone t went away (its calls fail, it reconnects later); connect. */
void gw_up_down(struct tzone *t, const char *why);
void gw_up_connect(struct tzone *t);
/* Tool zone t leaves the config: every link to it fails with why (the
 * agents' calls in flight get an error), its own requests and channel
 * go, no reconnect; the struct is the caller's to free (gw_tz_free). */
void gw_up_remove(struct tzone *t, const char *why);
/* A remote zone: its sockets for poll (at most max; the count), their
 * I/O and timers (p: the entries it filled), its next timer (ms, -1
 * none), its credentials reread if their files changed (force: even if
 * not), its health for the status. */
size_t gw_up_remote_pollfds(struct tzone *t, struct pollfd *p, size_t max);
void gw_up_remote_run(struct tzone *t);
int gw_up_remote_timeout(struct tzone *t);
void gw_up_remote_creds(struct tzone *t, int force);
/* A remote zone's liveness: its ping sent when due, the zone marked dead
 * when one is not answered in time. */
void gw_up_remote_ping(struct tzone *t);
json_t *gw_up_remote_status(const struct tzone *t);
/* The request table of session s's link to tool zone ti (s NULL: of ti's
 * control stream), made on first use with gw_up_limits (NULL when out of
 * memory). gw_up_uc_free frees *slot's (its requests' done callbacks run
 * first: they leave the table) and adds its counters to its tool zone's.
 * gw_up_limits: the caps and deadlines of gatewayd's upstream requests,
 * set here only (docs/client.md). gw_up_expire: every table's requests
 * past their deadline end (onto g->expired), and g->next_deadline_ms is
 * set to the earliest deadline left. */
struct gw_uc *gw_up_uc(struct gw *g, struct asess *s, unsigned ti);
void gw_up_uc_free(struct gw_uc **slot);
void gw_up_limits(const struct gw *g, const struct asess *s,
		  struct mcp_client_limits *lim);
void gw_up_expire(struct gw *g);
/* Tool zone t's upstream requests for the status (new; NULL when out of
 * memory): the counters of its tables, live and gone. */
json_t *gw_up_requests_status(struct gw *g, const struct tzone *t);

/* ---- agent sessions (gw_session.c) ------------------------------------ */

/* To agent session s: text as it is, a message (stolen), an error (data
 * stolen). A message the agent's stream cannot take is dropped and
 * counted in the rate-limited log. */
void gw_sess_send_text(struct asess *s, const char *txt, size_t len);
void gw_sess_to_agent(struct asess *s, json_t *msg);
void gw_sess_error(struct asess *s, json_t *id, int code, const char *msg,
		   json_t *data);
/* Ends s: its calls audited as ended, its links closed, s freed. */
void gw_sess_end(struct gw *g, struct asess *s);
/* Ends az's half-closed sessions whose calls have all ended, closing
 * their streams; clears az->half_done (gw_loop.c, at a turn's end). */
void gw_sess_end_half_closed(struct azone *az);
/* The callbacks of an agent zone's channel (user data: its struct azone)
 * and its log callback. */
extern const struct chan_mux_ops gw_sess_ops;
void gw_sess_chan_log(void *ud, const char *msg);
/* fn(g, s, arg) for every session of every agent zone. */
void gw_sess_each(struct gw *g, void (*fn)(struct gw *, struct asess *, void *),
		  void *arg);

/* ---- the request lifecycle (gw_request.c) ----------------------------- */

/* One record of a call's end (or an admin or catalogue event). */
void gw_req_audit(struct gw *g, const char *zone, const char *session,
		  const char *method, const char *target, const char *decision,
		  const char *rule, const char *reason, const char *aid,
		  size_t in, size_t out, int64_t t_pol, int64_t t_up,
		  int64_t t_total, const char *args, const char *trace);
/* The W3C traceparent in request params' _meta (a checked copy in out,
 * 56 bytes): out[0] is 0 when there is none or it is malformed (it is a
 * zone's text; only the W3C form reaches the audit log). */
void gw_req_trace(const json_t *params, char out[56]);
/* The token usage in a tool call's result (structuredContent.usage with
 * integer prompt_tokens, completion_tokens and total_tokens): 1 with tk
 * filled (each count clamped to GW_TOKENS_MAX_PER_CALL), 0 if there is no
 * usage, -1 if there is one the gateway refuses (a count negative, not an
 * integer or missing), tk then zero. */
int gw_tokens_of(const json_t *result, struct gw_tokens *tk);
/* The same for a response still in its bytes (msg[0..len), already found
 * well-formed): only a response that contains "usage" is parsed, the rest
 * cost one memmem. */
int gw_tokens_scan(const char *msg, size_t len, struct gw_tokens *tk);
/* The end of call p of session s with its tool zone's response (out
 * bytes, answered at now, gw_now_us; outcome as gw_metrics_record's;
 * reason NULL or the audit reason): its audit record (with the tokens, tok_state as
 * gw_tokens_of returned), its metrics and its token counters. The caller
 * still frees p. */
void gw_req_done(struct gw *g, struct asess *s, struct preq *p,
		 const char *reason, size_t out, int outcome, int tok_state,
		 const struct gw_tokens *tk, int64_t now);
/* A request of ours upstream (kind PK_*, of session s or the control
 * stream for NULL, to tool zone ti): a new id from the process's one id
 * space, its entry in the link's request table (gw_up_uc) with the
 * deadline call_timeout_ms (gw_req_new_timed: timeout_ms, 0 for that),
 * and in g->preqs; NULL when out of memory or over the table's
 * max_pending. gw_req_free undoes it (the table forgets it);
 * gw_req_settle takes it out of its table when its answer (len bytes)
 * arrived (-1: over the table's max_message, do not relay it);
 * gw_req_fail ends a call with an error to the agent, its record and its
 * metrics, then frees it. */
struct preq *gw_req_new(struct gw *g, enum preq_kind kind, struct asess *s,
			unsigned ti);
struct preq *gw_req_new_timed(struct gw *g, enum preq_kind kind,
			      struct asess *s, unsigned ti,
			      unsigned timeout_ms);
void gw_req_free(struct gw *g, struct preq *p);
int gw_req_settle(struct preq *p, size_t len);
void gw_req_fail(struct gw *g, struct preq *p, int code, const char *msg,
		 const char *reason);
/* A routed request (tools/call, resources/read, ...) of len bytes. */
void gw_req_route(struct gw *g, struct asess *s, struct jr_msg *m, size_t len);
/* notifications/cancelled from the agent. */
void gw_req_cancel(struct gw *g, struct asess *s, struct jr_msg *m);
/* Ends every request past its deadline: each request table expires what
 * is due (the core tells the tool zone notifications/cancelled, reason
 * timeout), then the gateway ends each (a call's agent gets -32001). */
void gw_req_deadlines(struct gw *g);

/* ---- the stateless revision (gw_stateless.c) --------------------------- */

/* 1 when request m takes the stateless path: s is a stream of stateless
 * requests, or not a session (not inited) and m carries the stateless
 * revision's _meta protocol version (s then becomes such a stream). */
int gw_stl_wanted(const struct asess *s, const struct jr_msg *m);
/* One stateless request m (len bytes) from agent zone az, answered on
 * channel stream dest or HTTP request hs (one of them set; hs's
 * messages go through deliver): checked
 * (version, capabilities, method), then answered here (server/discover,
 * refusals, subscriptions/listen, a retry that resumes a held call or is
 * refused -32602) or run on the zone's shared session. Does not take m
 * (its params may be changed). */
void gw_stl_request(struct gw *g, struct azone *az, struct asess *dest,
		    struct gw_hs *hs, gw_http_deliver deliver, struct jr_msg *m,
		    size_t len);
/* What the core sends to a zone's shared session: a response goes back
 * to its stateless request, translated (or is kept for the retry of a
 * held call); a notification that names it goes with it; list changes
 * and resource updates go to the zone's listens that asked for them;
 * anything else is dropped. Returns 0. */
int gw_stl_deliver(struct asess *shared, const char *msg, size_t len);
/* Held calls (InputRequiredResult) idle past held_idle_ms: when the
 * earliest of agent zone az's is due (INT64_MAX: none held), and the
 * sweep that cancels them upstream and forgets them, for every zone
 * (gw_loop.c, at a turn's end; never from inside a delivery). */
int64_t gw_stl_sweep_at(const struct azone *az);
void gw_stl_sweep_due(struct gw *g);
/* A tool zone's request m (sampling, elicitation, roots) on the shared
 * session sh: for a capability the call's agent declared, an input
 * request of its held call (an InputRequiredResult to the agent, or with
 * the next one); else, or over the held calls' caps, refused upstream
 * (and a call that then fails for want of an undeclared capability is
 * answered -32021). Returns 1. */
int gw_stl_sreq(struct tzone *t, struct asess *sh, struct jr_msg *m);
/* Stream dest (hs NULL) or HTTP request hs is gone: its stateless
 * requests are cancelled upstream and forgotten, its listens end (held
 * calls no longer belong to a stream and stay). */
void gw_stl_gone(struct gw *g, struct azone *az, struct asess *dest,
		 struct gw_hs *hs);
/* notifications/cancelled m on stream dest for one of its stateless
 * requests or listens: that request is cancelled upstream (the listen
 * ends) and gets no answer. */
void gw_stl_cancel(struct gw *g, struct asess *dest, struct jr_msg *m);
/* A shared session s ends (gw_sess_end): the stateless requests still
 * waiting on it get an error (held ones are forgotten), and with the
 * zone's last shared session its listens get their final result and its
 * stateless state is freed. */
void gw_stl_shared_end(struct gw *g, struct asess *s);
/* Agent zone az's open subscriptions/listen (for the status). */
unsigned gw_stl_listens(const struct azone *az);

/* ---- subscriptions to 2026-07-28 tool zones (gw_subs.c) --------------- */

/* Session s's resources/subscribe or resources/unsubscribe of uri on
 * 2026-07-28 tool zone t, which policy allowed: p is the call (made by
 * gw_req_route, not sent), taken here. A subscribe joins or opens the
 * upstream subscriptions/listen for (t, uri) and is answered once that
 * is acknowledged (or with its refusal; over a cap at once, -32000); an
 * unsubscribe drops the session's share (the listen ends with its last
 * one) and is answered {}. Each audited as the call it is. */
void gw_subs_request(struct gw *g, struct asess *s, struct tzone *t,
		     struct preq *p, const char *uri);
/* Called with each resources/updated of a stateless listen's share. */
typedef void (*gw_subs_fn)(void *ud, const char *uri);
/* A stateless listen (owner, its notifications through fn) of agent zone
 * az takes a share of the upstream listen for uri on 2026-07-28 tool
 * zone t (session who, for the audit record): 0, or -1 over a cap or out
 * of memory (audited). gw_subs_owner_end drops every share of owner. */
int gw_subs_listen(struct gw *g, struct azone *az, const char *who,
		   struct tzone *t, const char *uri, gw_subs_fn fn,
		   void *owner);
void gw_subs_owner_end(struct gw *g, void *owner);
/* Session s ends: its shares go (the listens with their last one). */
void gw_subs_session_end(struct gw *g, struct asess *s);
/* Tool zone t's stream sid is not a link: a message on it (1 if it is
 * one of the listens' streams, which took it), or its close. */
int gw_subs_data(struct tzone *t, uint32_t sid, const char *msg, size_t len);
void gw_subs_closed(struct tzone *t, uint32_t sid);
/* Tool zone t goes (down, removed): its listens end, their sessions'
 * subscribes still waiting get -32000, every share is dropped. */
void gw_subs_zone_gone(struct tzone *t);
/* For gatewayctl status: t's upstream listens, shares and streams. */
json_t *gw_subs_status(const struct tzone *t);
/* gw_upstream.c for gw_subs.c: a new stream on t (0: none), one closed,
 * and the revision's _meta of a request the gateway makes on its own
 * (the version, no client capability). */
uint32_t gw_up_stream_open(struct tzone *t);
void gw_up_stream_close(struct tzone *t, uint32_t sid);
void gw_up_stamp(json_t *params);

/* ---- the tasks extension (gw_tasks.c) ---------------------------------- */

/* How a stateless request goes upstream (gw_task_up): without the tasks
 * extension; declaring it; or without it because the agent zone keeps
 * tasks_max tasks already (a call that needs a task is then refused). */
enum { GW_TASK_NONE, GW_TASK_UP, GW_TASK_CAPPED };

/* Client capabilities caps (borrowed, may be NULL) declare the
 * extension. */
int gw_task_declared(const json_t *caps);
/* meth is tasks/get, tasks/update or tasks/cancel. */
int gw_task_method(const char *meth);
/* data.requiredCapabilities naming the extension (new). */
json_t *gw_task_required(void);
/* Tool zone t's server/discover result (borrowed) offers the extension:
 * recorded in t->tasks_ext. */
void gw_task_zone_offers(struct tzone *t, const json_t *discover_result);
/* 1 when a tool of agent zone az's view tools (borrowed) lies on a
 * 2026-07-28 zone that offers the extension. */
int gw_task_reachable(struct gw *g, const struct azone *az,
		      const json_t *tools);
/* Stateless request params (rebuilt for the shared session, borrowed) of
 * method meth on tool (the agent's name, may be NULL), whose agent
 * declared the extension or not: GW_TASK_UP with the extension added to
 * its _meta client capabilities (a tasks method; a tools/call to a zone
 * that offers it and az under tasks_max), else GW_TASK_NONE or
 * GW_TASK_CAPPED (unchanged). */
int gw_task_up(struct gw *g, struct azone *az, const char *meth,
	       const char *tool, int declared, json_t *params);
/* A tasks method m of az: its taskId (the gateway's sealed id) checked
 * and replaced by the tool zone's own, the tool's name set as params
 * "name" for routing (gw_req_route takes it off). NULL, or why it is
 * refused (static text; m unchanged). */
const char *gw_task_open(struct gw *g, const struct azone *az,
			 struct jr_msg *m);
/* Response root (borrowed, changed in place) of a stateless request
 * (method meth on tool, the gw_task_up mode, the agent's taskId tok for
 * a tasks method): a CreateTaskResult gets a sealed taskId (a slot of
 * az's taken; an error instead when it cannot be sealed), a tasks
 * method's result the agent's taskId, a needed task over tasks_max the
 * -32600 refusal. 1 when root is a task's answer to pass as it is (no
 * resultType "complete" added), else 0. */
int gw_task_back(struct gw *g, struct azone *az, const char *meth,
		 const char *tool, int mode, const char *tok, json_t *root);

/* ---- admission to tool zones (gw_admit.c) ------------------------------ */

/* Zone z's max_inflight and agent_max_inflight in force (the defaults
 * when the config gives none). */
unsigned gw_admit_max(const struct gw_zone *z);
unsigned gw_admit_agent_max(const struct gw_zone *z);
/* 1 when call p of session s may go to tool zone t now (it then holds a
 * slot), 0 when it must wait: t is full, its agent zone holds its share
 * or already has calls waiting, or another zone's waiting call is due
 * first. */
int gw_admit_now(struct tzone *t, struct asess *s, struct preq *p);
/* Puts call p on its agent zone's queue for t with its message msg (len
 * bytes, stolen on success: 0). -1 when the bytes waiting would pass the
 * link budgets (msg stays the caller's). */
int gw_admit_queue(struct gw *g, struct tzone *t, struct asess *s,
		   struct preq *p, char *msg, size_t len);
/* p ends (gw_req_free): its slot or its place in the queue is given up. */
void gw_admit_release(struct gw *g, struct preq *p);
/* Sends waiting calls into the slots freed since the last call, fairest
 * first (the loop, at the end of each turn). */
void gw_admit_dispatch(struct gw *g);
/* {"max_inflight", "agent_max_inflight", "inflight", "queued",
 * "queued_bytes"} of t. */
json_t *gw_admit_status(const struct tzone *t);

#endif
