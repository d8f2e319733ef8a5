/* gatewayd's runtime state, shared by the daemon's roles: routing (the
 * core, gw_*.c with gw_core.h), the admin socket and metrics endpoint
 * (admin.c) and the main loop (gatewayd.c). Everything here is owned by
 * the one poll thread, except what admin.c's HTTP thread reads under
 * gw->snap_lock. */
#ifndef GWD_H
#define GWD_H

#include "gw.h"

#include <poll.h>
#include <pthread.h>
#include <zonegate/chan.h>
#include <zonegate/chan_mux.h>

struct u64map;
struct asess;
struct gw_hs;	  /* an HTTP listener's session (listen.c) */
struct gw_listen; /* the HTTP listeners (listen.c) */

struct tzone; /* a tool zone: one client channel to its mcpd */
struct azone; /* an agent zone: one server channel its relay connects to */

struct gw {
	struct gw_config *cfg;
	struct policy *pol;
	struct gw_audit *audit;
	struct gw_metrics *met;
	struct gw_limits *lim;
	json_t *pins; /* zone -> hash */
	struct tzone **tz;
	size_t ntz;
	struct azone **az;
	size_t naz;
	/* upstream request id -> struct preq: the splice's index; each
	 * request's entry, deadline and caps are in its link's request
	 * table (struct gw_uc, the MCP client core) */
	struct u64map *preqs;
	struct preq *expired; /* past their deadline, not yet ended */
	struct u64map *sreqs; /* agent-side id of a server request */
	struct u64map *links; /* (tool zone, upstream sid) -> session */
	uint64_t next_id;
	unsigned tz_serial; /* the last tool zone's serial (gw_tz_new) */
	uint64_t list_gen;  /* bumped whenever an agent's lists may change */
	size_t link_queued; /* bytes waiting for upstream links to open */
	int admit_due;	    /* a tool zone slot was freed (gw_admit.c) */
	int64_t next_deadline_ms; /* no request's deadline is earlier */
	struct gw_admin *admin;
	struct gw_listen *listen;
	pthread_mutex_t snap_lock;
	char *snap_gauges; /* Prometheus gauges for the HTTP thread */
	int ready;	   /* every tool zone up */
	int policy_errors; /* failed reloads since the last good one */
	char policy_error[1024];
	uint64_t policy_loads;
	int config_errors; /* failed config reloads since the last good one */
	/* Signatures of the policy and token files as last read, by any
	 * reload: the periodic check reloads only what changed since. */
	uint64_t policy_sig, tokens_sig;
	int draining;		/* SIGTERM: new requests refused, calls
				   in flight finishing */
	uint64_t drain_refused; /* requests refused while draining */
	/* How a tool zone's channel is opened (NULL: chan_open of its
	 * chan as client); tests hand the core one end of a socketpair. */
	chan *(*connect_tool)(void *ud, const struct gw_zone *z, char *err,
			      size_t errlen);
	void *connect_ud;
	/* What the admin socket's "reload" runs (gatewayd.c sets it to
	 * gw_reload): admin.c calls the daemon through this hook, so the
	 * daemon and its admin socket do not call each other. NULL: the
	 * command is refused. */
	int (*reload)(struct gw *g, char *err, size_t errlen);
};

/* The routing core (zg_gw_core; gw_loop.c unless said otherwise): zones,
 * sessions, the proxy. */
int gw_route_init(struct gw *g, char *err, size_t errlen);
void gw_route_free(struct gw *g);
/* Fills fds for poll (at most max); returns the count. */
size_t gw_route_pollfds(struct gw *g, struct pollfd *p, size_t max);
/* Processes every channel, deadlines and reconnects. */
void gw_route_run(struct gw *g);
/* Milliseconds until the next timer (-1 none). */
int gw_route_timeout(struct gw *g);
/* gw_zones.c: the running core takes the zones of nw, a config just
 * loaded whose zones gatewayd then adopts (gw_config_adopt: the core
 * points into nw->zones from here on). A zone the same as before
 * (gw_zone_same) keeps its sessions, links and channel (other keys are
 * updated in place); one that left, or whose role, domid or chan
 * changed, is removed (its sessions end, agents get an error for each
 * call in flight, links to it fail, its channel closes) and a changed
 * one added anew; new tool zones connect at once and new agent zones'
 * channels open. The caller then reloads the policy and calls
 * gw_route_lists_changed. Returns 0 and, in *changes (the caller's),
 * {"added":[..],"removed":[..],"changed":[..],"updated":[..]} and
 * "errors" when a channel could not be opened after the old one went;
 * or -1 with err and nothing changed (out of memory, a channel that
 * cannot be opened, an agent zone bound by a listener that would be
 * replaced). */
int gw_route_zones_apply(struct gw *g, const struct gw_config *nw,
			 json_t **changes, char *err, size_t errlen);
/* Rereads the remote tool zones' credential files (reload). */
void gw_route_reload_creds(struct gw *g);
/* After a policy or pin change: tell every session its lists changed. */
void gw_route_lists_changed(struct gw *g);
/* JSON status (zones, channels, upstream health, sessions). */
json_t *gw_route_status(struct gw *g);
/* Tool zone name's channel is tried at once (zonectl started it), not
 * after its reconnect back-off. Returns 0, or -1 with err (no such tool
 * zone). */
int gw_route_connect_now(struct gw *g, const char *name, char *err,
			 size_t errlen);
/* Pins the current catalogue of tool zone name (or unpins). Returns 0 or
 * -1 with err. */
int gw_route_pin(struct gw *g, const char *name, int pin, char *err,
		 size_t errlen);
/* Rebuilds the gauges the metrics endpoint shows. */
void gw_route_snapshot(struct gw *g);
/* Draining (g->draining set: every new request but ping is refused with
 * "gateway is shutting down"): calls in flight from agents; bytes still
 * queued for agent zones' channels; and, at the deadline, ending every
 * call still in flight with error msg (audited with reason, the tool zone
 * told to cancel). Returns the count ended. */
size_t gw_route_calls_inflight(struct gw *g);
size_t gw_route_agent_backlog(struct gw *g);
size_t gw_route_abort_calls(struct gw *g, const char *msg, const char *reason);
/* Records, then every queued answer, out before gatewayd stops. */
void gw_route_finish(struct gw *g);

/* How the core hands an HTTP session's client one message (listen.c's
 * gw_listen_deliver; a test's in-memory capture): inited says the
 * session answered initialize. Returns 0, or CHAN_MUX_EFULL (or another
 * negative value) when the message is dropped. A callback, so that the
 * core does not call back into the listeners (no listen/route cycle). */
typedef int (*gw_http_deliver)(struct gw_hs *hs, int inited, const char *msg,
			       size_t len);

/* HTTP sessions of the listeners, in the poll thread only: a new agent
 * session of zone for hs, whose messages go to deliver (NULL: no such
 * agent zone, or out of memory; n numbers the session within the
 * listener), a message from its client, its end (frees the session; hs
 * stays the caller's). */
struct asess *gw_route_http_open(struct gw *g, const char *zone,
				 struct gw_hs *hs, gw_http_deliver deliver,
				 unsigned listener, uint64_t n);
void gw_route_http_input(struct gw *g, struct asess *s, const char *msg,
			 size_t len);
void gw_route_http_close(struct gw *g, struct asess *s);
/* A listener's stateless (2026-07-28) HTTP request, which has no agent
 * session: its message, answered through deliver (gw_stateless.c); the
 * end of its HTTP request (what is still in flight for it is cancelled
 * upstream). */
void gw_route_http_stateless(struct gw *g, const char *zone, struct gw_hs *hs,
			     gw_http_deliver deliver, const char *msg,
			     size_t len);
void gw_route_http_stateless_end(struct gw *g, const char *zone,
				 struct gw_hs *hs);
/* Milliseconds from now (gw_now_ms) until agent zone zone's requests
 * may be read again (its denial budget, zone_denials_per_s, is spent; 0:
 * at once, also for a zone that does not exist). The listeners keep a zone's requests queued
 * until then. */
int64_t gw_route_zone_wait_ms(struct gw *g, const char *zone, int64_t now);

/* listen.c: HTTP listeners for host-side clients (libmicrohttpd threads
 * hand messages to the poll loop through a queue and an eventfd). */
struct gw_listen *gw_listen_start(struct gw *g, char *err, size_t errlen);
/* Stops the HTTP threads, ends every HTTP session, frees l. */
void gw_listen_stop(struct gw_listen *l);
/* Rereads the listeners' token files; a new token replaces the old one
 * for every later request (sessions opened with the old one included).
 * A file that no longer holds a valid token leaves the old token in
 * force; that is reported on stderr and in the audit log, and err names
 * the first such listener. Returns 0, or -1 if any failed. */
int gw_listen_reload_tokens(struct gw_listen *l, char *err, size_t errlen);
/* The eventfd to poll (POLLIN), or -1 without listeners. */
int gw_listen_fd(const struct gw_listen *l);
/* Takes what the HTTP threads queued and feeds it to the core (a zone
 * whose denial budget is spent keeps its requests queued, in order). */
void gw_listen_run(struct gw_listen *l);
/* After a loop turn's audit records went to the kernel: the turn's
 * responses to HTTP clients leave (gw_listen_deliver holds them). */
void gw_listen_release(struct gw_listen *l);
/* Requests wait in the listeners' queue: 0 none, 1 for zones over their
 * denial budget (run again when the loop's timeout passes, eventfd or
 * not), 2 for zones that had their share of the last run (run again at
 * once). */
int gw_listen_deferred(const struct gw_listen *l);
/* Poll thread: one message for the client of hs. inited: the session
 * answered initialize. Returns 0, or CHAN_MUX_EFULL when its stream is
 * over its caps (the message is dropped). */
int gw_listen_deliver(struct gw_hs *hs, int inited, const char *msg,
		      size_t len);

/* gatewayd.c: reloads the policy (an invalid one leaves the old in
 * force); gw_reload also rereads the listeners' tokens (SIGHUP,
 * gatewayctl reload). 0, or -1 with err. */
int gw_reload_policy(struct gw *g, char *err, size_t errlen);
int gw_reload(struct gw *g, char *err, size_t errlen);

/* admin.c: the admin unix socket and the metrics endpoint. */
struct gw_admin *gw_admin_start(struct gw *g, char *err, size_t errlen);
void gw_admin_stop(struct gw_admin *a);
size_t gw_admin_pollfds(struct gw_admin *a, struct pollfd *p, size_t max);
/* Handles what poll reported in p[0..n) (the fds gw_admin_pollfds gave). */
void gw_admin_run(struct gw_admin *a, const struct pollfd *p, size_t n);

#endif
