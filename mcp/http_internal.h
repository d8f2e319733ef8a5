/* Private to the Streamable HTTP transport: the daemon, its session table
 * and the per-session streams of SSE events (http.c handles requests,
 * http_session.c the sessions and streams). */
#ifndef MCP_HTTP_INTERNAL_H
#define MCP_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "mcp_internal.h"
#include "session_methods.h"
#include "transport.h"
#include "zg_common.h"
#include "zg_queue.h"

#define HTTP_BUCKETS 1024
#define HTTP_SID_LEN 32			  /* hex characters of a session id */
#define HTTP_MAX_STREAM_BYTES (16u << 20) /* buffered per stream */
#define HTTP_MAX_STREAM_EVENTS 4096
#define HTTP_MAX_DETACHED 16 /* finished-but-unacknowledged streams */
#define HTTP_RETRY_MS 1000   /* SSE retry: hint */
/* Microseconds the event thread polls at most, after a turn that had work,
 * before it sleeps: a client's next request on a kept-alive connection
 * comes within a few tens of microseconds, and a vCPU that halted takes
 * about 60 to wake up again (measured on the development VM). The window
 * adapts (http_loop.c) between 0 and this. One event thread:
 * with several, the connection table is split between them and the
 * pending-connection eviction (http_conn.c) needs accounting per thread
 * first. */
#define HTTP_SPIN_US 50

/* mcpd's event thread driving one libmicrohttpd daemon (http_loop.c). */
struct http_loop;
/* Starts the thread for d (started with MHD_USE_EPOLL, no internal
 * thread); NULL on failure (d is left to the caller then). */
struct http_loop *http_loop_start(struct MHD_Daemon *d);
/* The loop of the calling thread (a libmicrohttpd callback's), or NULL. */
struct http_loop *http_loop_current(void);
/* Makes l's thread run libmicrohttpd once more: libmicrohttpd does not
 * wake an external loop when another thread resumes a connection, so
 * whoever resumes one calls this afterwards (any thread; l may be NULL). */
void http_loop_wake(struct http_loop *l);
/* MHD_quiesce_daemon on l's daemon, done by l's thread (any thread may
 * call this; it waits); returns what that returned. */
int http_loop_quiesce(struct http_loop *l);
/* The daemon l drives (l keeps it). */
struct MHD_Daemon *http_loop_daemon(const struct http_loop *l);
/* Stops the thread, then the daemon (connections still open are closed,
 * their completion callbacks run on the caller's thread), and frees l. */
void http_loop_stop(struct http_loop *l);

/* A logical stream of server messages: the response stream of one POSTed
 * request, or the session's standalone stream (req_id NULL). It outlives
 * its connection so that a client can resume it (Last-Event-ID). */
struct hstream {
	struct hstream *next;
	unsigned id;
	json_t *req_id;
	json_t *ptok; /* the request's params._meta.progressToken, or NULL */
	/* events retained for replay: one JSON-RPC message each (text,
	 * NUL-terminated), tag its seq; capped at creation (a request's
	 * stream: HTTP_MAX_STREAM_*; the standalone one: the config's) */
	struct zg_queue events;
	uint64_t next_seq; /* seq of the next event appended */
	uint64_t sent;	   /* events with seq <= sent went to a connection */
	int done;	   /* the request's response was appended */
	int attached;	   /* a connection is reading it */
	int close_now;	   /* the handler asked to end the connection */
};

struct hsess {
	struct hsess *next; /* hash chain */
	char id[HTTP_SID_LEN + 1];
	struct mcp_http *h;
	mcp_session *ms; /* with an mcp_server */
	void *bs;	 /* with a backend */
	pthread_mutex_t mu;
	/* under mu: requests whose connections are suspended until this
	 * session has news for them (new events, done, death) */
	struct hreq *waiters;
	struct hstream *streams;
	struct hstream *standalone;
	unsigned next_stream;
	unsigned refs;	    /* under h->mu: table + connections */
	int in_table;	    /* under h->mu */
	int dead;	    /* under mu: no more traffic */
	int ended;	    /* under h->mu: the engine ended it */
	time_t last_active; /* under h->mu */
	int stateless;	    /* one 2026-07-28 request's, never in the table */
	/* under h->mu: a stateless session's place on h->stateless, and the
	 * last walk over them that visited it */
	struct hsess *sl_prev, *sl_next;
	unsigned visit;
	char who[MCP_HTTP_WHO_MAX + 1]; /* backend identify's; fixed */
};

#define HTTP_RETIRED_MAX 4 /* daemons replaced by a new TLS pair */

struct mcp_http {
	mcp_server *srv;
	struct MHD_Daemon *d; /* loop's */
	struct http_loop *loop;
	struct mcp_http_config cfg;
	struct mcp_limits limits;
	const char *const *origins;
	const char *const *hosts;
	char bind_host[80];
	int loopback, any_host, v6;
	char *tls_cert, *tls_key; /* copies of the PEM texts */
	unsigned flags;		  /* libmicrohttpd's */
	/* Daemons replaced by mcp_http_set_tls: they serve the connections
	 * they had until the transport stops (or HTTP_RETIRED_MAX newer
	 * ones retire them). Poll thread only. */
	struct http_retired {
		struct http_loop *loop;
		int fd; /* its listening socket's duplicate */
		char *cert, *key;
	} retired[HTTP_RETIRED_MAX];
	unsigned nretired;

	pthread_mutex_t mu; /* table, counts, refs */
	pthread_cond_t janitor_cv;
	struct hsess *table[HTTP_BUCKETS];
	struct hsess *stateless; /* stateless sessions of requests in flight */
	unsigned visit_gen;	 /* the latest walk over them */
	unsigned nsessions;
	unsigned nsse_stateless; /* SSE responses of stateless requests */
	int stopping;
	pthread_t janitor;
	int janitor_started;

	pthread_mutex_t cmu; /* conns and counts (http_conn.c) */
	struct hconn *conns;
	unsigned npending;
	unsigned nconns;  /* on conns */
	unsigned nreaped; /* of those, evicted and not yet closed by MHD */
};

/* Seconds an admitted connection may stay idle (MHD's timeout). */
#define HTTP_IDLE_TIMEOUT 120

/* ---- connection admission (http_conn.c) ---- */

/* Milliseconds a new pending connection is safe from eviction by newer
 * ones (a prompt client's request is authorized well within it). */
#define HTTP_PENDING_GRACE_MS 2000

/* MHD's accept policy: accepts, and when cfg.max_pending connections are
 * pending (not admitted) evicts the oldest of them pending longer than
 * HTTP_PENDING_GRACE_MS; if none is, lets the new one in up to twice
 * max_pending or half the connection limit, whichever is less (a burst),
 * beyond that evicts the oldest pending one that has sent nothing yet (or
 * the oldest, if all have). Refuses a connection when cfg.max_connections
 * that are not evicted are open. */
enum MHD_Result http_conn_accept(void *cls, const struct sockaddr *addr,
				 socklen_t addrlen);
/* MHD's own connection limit: cfg.max_connections, plus room for as many
 * evicted connections as may be pending (MHD closes them on their own
 * threads, a little later), so that a flood of evicted ones never takes
 * the slots of clients; the accept policy keeps the connections that are
 * not evicted within cfg.max_connections. */
unsigned http_conn_table_limit(const struct mcp_http *h);
/* MHD_OPTION_NOTIFY_CONNECTION: tracks every connection as pending from
 * its start, forgets it at its end. */
void http_conn_notify(void *cls, struct MHD_Connection *c, void **ctx,
		      enum MHD_ConnectionNotificationCode code);
/* The connection's request passed authorize: it no longer counts as
 * pending, and its timeout becomes HTTP_IDLE_TIMEOUT. */
void http_conn_admit(struct mcp_http *h, struct MHD_Connection *c);
/* Shuts down every pending connection older than cfg.header_timeout
 * (called by the janitor about once a second). */
void http_conn_reap(struct mcp_http *h);

enum { HREQ_NONE, HREQ_POST, HREQ_GET, HREQ_DELETE };

/* Per-request state, MHD's con_cls. */
struct hreq {
	struct mcp_http *h;
	int kind;
	int answered;
	int completed_ok;
	int is_init;
	char *body;
	size_t len, cap;
	int too_big;
	struct hsess *sess;		/* a reference */
	struct hstream *st;		/* attached stream (SSE) */
	int primed;			/* the priming event went out */
	char who[MCP_HTTP_WHO_MAX + 1]; /* what identify proved */
	char *out; /* formatted bytes not yet given to MHD */
	size_t out_len, out_pos, out_cap;
	int fd;	     /* the connection's socket while SSE or a stateless POST
		   waits, else -1 */
	int counted; /* in h->nsse_stateless */
	unsigned idle_s; /* seconds the SSE stream has been quiet */
	/* Event-driven waiting: a request with nothing to send suspends its
	 * connection (MHD_suspend_connection) and goes on its session's
	 * waiters; whoever brings news resumes it. All under sess->mu. */
	struct MHD_Connection *conn;
	struct http_loop *loop; /* the event thread serving conn */
	struct hreq *wnext;	/* on sess->waiters */
	int suspended;		/* on sess->waiters */
	int waiting;		/* a POST waiting for its first message */
	int tick; /* the janitor's second passed (SSE keepalive) */
};

int http_sessions_init(struct mcp_http *h);
/* Marks the transport stopping and wakes every waiting thread. */
void http_sessions_stopping(struct mcp_http *h);
/* Frees every session (MHD already stopped). */
void http_sessions_shutdown(struct mcp_http *h);

/* New session in the table with two references (table + caller), or NULL
 * when the table is full and nothing idle can be evicted. */
struct hsess *http_session_create(struct mcp_http *h, const char *who);
/* A session for one stateless (2026-07-28) request, outside the table
 * (its only reference is the caller's, so it ends with the request), set
 * up from the request's _meta (with a backend, opened there with
 * mcp_http_stateless true); NULL when out of memory or stopping. */
struct hsess *http_session_stateless(struct mcp_http *h, const json_t *meta);
/* The live session with this id, with a new reference; NULL if none. */
struct hsess *http_session_get(struct mcp_http *h, const char *id);
void http_session_unref(struct mcp_http *h, struct hsess *s);
/* Removes s from the table and ends its MCP session (idempotent). The
 * caller's reference stays valid. */
void http_session_destroy(struct mcp_http *h, struct hsess *s);

/* The session's engine, whichever it is. */
void http_session_input(struct hsess *s, struct jr_msg *m);
int http_session_initialized(struct hsess *s);

/* Feeds a request (steals m) and answers it: JSON if its response is the
 * only message, else an SSE stream. When nothing is there to send yet, it
 * suspends the connection, sets q->waiting and returns MHD_YES; MHD calls
 * the access handler again once the session has news, which then calls
 * http_post_answer. */
enum MHD_Result http_post_request(struct mcp_http *h, struct MHD_Connection *c,
				  struct hreq *q, struct jr_msg *m);
/* Queues r (a JSON body; NULL: out of memory, MHD_NO) with its headers
 * (Content-Type, Cache-Control: no-store, the session id if given) and
 * destroys it. */
enum MHD_Result http_queue_json(struct MHD_Connection *c,
				struct MHD_Response *r, unsigned status,
				const char *session_id);
/* The second half of http_post_request: answers, or suspends again. */
enum MHD_Result http_post_answer(struct mcp_http *h, struct MHD_Connection *c,
				 struct hreq *q);
/* Takes q off its session's waiters (the request ends). */
void http_unwait(struct hreq *q);
/* The janitor's second: resumes every SSE reader of every session so
 * that it notices a client gone and sends its keepalives. */
void http_sessions_tick(struct mcp_http *h);
/* Answers a GET: the standalone stream, or a resumed one. */
enum MHD_Result http_get_stream(struct mcp_http *h, struct MHD_Connection *c,
				struct hreq *q, const char *last_event_id);
/* The connection reading st ended. */
void http_stream_detach(struct hsess *s, struct hstream *st, int ok);

#endif
