/* zonegate-relay internals shared by its main loop (relay.c), its
 * line-delimited clients (relay_client.c: stdio, or the daemon's unix
 * socket clients), the daemon's socket (relay_daemon.c) and its loopback
 * Streamable HTTP part (relay_http.c, mcp's transport with the channel as
 * its engine). One poll thread owns the multiplexer; the transport's
 * threads talk to it through a queue. */
#ifndef ZG_RELAY_H
#define ZG_RELAY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <zonegate/chan_mux.h>

struct relay_http;

/* ---- line-delimited clients (relay_client.c) ----------------------------
 * One MCP client speaking newline-delimited JSON-RPC (the MCP stdio
 * transport) on its own channel stream: the relay's stdin/stdout, or one
 * connection to the daemon's socket (in_fd == out_fd). Every buffer has
 * a cap set at creation. */
struct relay_client {
	int in_fd, out_fd;
	uint32_t sid;	     /* its channel stream; 0: none (yet) */
	int had_stream;	     /* a stream was opened for it once */
	int in_open;	     /* still reading its input */
	int close_pending;   /* input ended: close the stream once sent */
	int skipping;	     /* dropping the rest of an oversized line */
	int eof_line_counts; /* stdio: an unterminated last line is sent;
				a socket client that ends mid-line died */
	int ending;	     /* its stream is gone: flush, then end */
	int blocked; /* a whole line waits: the channel's queue is full */
	int pin;     /* the main loop: its input's poll slot, or -1 */
	char *in;
	size_t inlen, incap, inmax; /* inmax: the message cap + 1 */
	char *out;
	size_t outlen, outoff, outmax; /* outmax: bytes queued for it */
	struct relay_client *next;
};

/* Makes a client reading in_fd and writing out_fd (both are set
 * non-blocking; the caller keeps owning them): lines of at most
 * max_message bytes, at most out_max bytes waiting for it to read.
 * Returns NULL when out of memory; free with relay_client_free. */
struct relay_client *relay_client_new(int in_fd, int out_fd, size_t max_message,
				      size_t out_max);
void relay_client_free(struct relay_client *c);
/* Reads what its input has and sends each whole line on its stream (a
 * line over the cap is answered with -32600 and skipped). At the end of
 * its input, close_pending is set. m must be up and c->sid set. */
void relay_client_read(struct relay_client *c, chan_mux *m);
/* Nonzero when its input may be read now: it has a stream that is not
 * backed up (m may be NULL), no line waiting for room in the channel's
 * queues, and its input has not ended. */
int relay_client_wants_input(const struct relay_client *c, chan_mux *m);
/* Sends lines still buffered (the stream was full). */
void relay_client_send(struct relay_client *c, chan_mux *m);
/* Queues one message from the channel for it. Returns 0, or -1 when
 * that would pass its cap or memory ran out (nothing queued: cut it
 * off). */
int relay_client_queue(struct relay_client *c, const uint8_t *p, size_t n);
/* Writes what is queued. Returns 1 while some waits, 0 when all went,
 * -1 when the client is gone (its output closed). */
int relay_client_flush(struct relay_client *c);
/* Queues a JSON-RPC error (code, message; id null) for it. */
void relay_client_error(struct relay_client *c, int code, const char *msg);

/* ---- a pod's relay to the gateway over HTTPS (relay_gateway.c) ---------- */

struct relay_gw_opts {
	const char *url;	/* the gateway's https://HOST:PORT/mcp */
	const char *token_file; /* the projected service-account token */
	const char *ca_file;	/* PEM CA bundle; NULL: the system's */
	size_t max_message;
};

/* Serves stdin/stdout (newline-delimited JSON-RPC) as one MCP session of
 * the gateway at o->url, the token file's first line as bearer, reread
 * when the file changes. Waits in ppoll with mask; returns when stdin
 * ended (and its requests were answered), *stop is set, or the session
 * failed: 0, 1 (failed, said on stderr), 2 (bad options). */
int relay_gateway_run(const struct relay_gw_opts *o, const sigset_t *mask,
		      volatile sig_atomic_t *stop);

/* ---- the daemon's socket (relay_daemon.c) ------------------------------ */

/* The socket path used when none is given: $ZONEGATE_RELAY_SOCKET, else
 * /tmp/zonegate-relay-UID.sock. Returns 0, -1 if it does not fit. */
int relay_default_socket(char *buf, size_t len);
/* Listens on a unix socket at path, mode 0600. A stale socket of ours is
 * replaced; a live one (another daemon) or a non-socket is refused.
 * Returns the listening fd (non-blocking), or -1 with a message in err. */
int relay_listen(const char *path, char *err, size_t errlen);
/* Accepts one connection and checks its peer (SO_PEERCRED: our own uid
 * only). Returns the fd (non-blocking), -1 when none is waiting, -2
 * when one was refused (closed, why in err). */
int relay_accept(int lfd, char *err, size_t errlen);
/* Removes path if it is still the socket relay_listen made. */
void relay_unlisten(int lfd, const char *path);
/* Connects to a daemon at path after checking the socket is ours (owner,
 * type) and its peer runs as our uid. Returns the fd, -1 with a
 * message in err, or -2 when nothing listens there (no socket, or a
 * stale one). */
int relay_connect(const char *path, char *err, size_t errlen);
/* Copies stdin to fd and fd to stdout with fixed buffers until fd ends
 * (the `--via` client). Returns the exit status: 0 when stdin ended
 * first, 1 when the daemon closed the connection. */
int relay_via(int fd);

/* Starts the HTTP endpoint on host:port (a numeric address; port 0:
 * any); bodies over max_message bytes are refused, an SSE stream silent
 * for keepalive_s seconds gets a comment. Free with relay_http_stop.
 * Returns NULL with a message in err. */
struct relay_http *relay_http_start(const char *host, unsigned port,
				    size_t max_message, int keepalive_s,
				    char *err, size_t errlen);
unsigned relay_http_port(struct relay_http *h);
/* The fd the poll thread watches for work queued by handler threads. */
int relay_http_fd(struct relay_http *h);
/* Poll thread: moves queued work into the mux (opens, sends, closes);
 * a request that cannot be sent is answered with -32600 and its id. m
 * NULL only frees the work (at stop). */
void relay_http_pump(struct relay_http *h, chan_mux *m);
/* Poll thread: a stream's message, or its end; 1 if the stream is one
 * of HTTP's, else 0. */
int relay_http_on_data(struct relay_http *h, uint32_t sid, const uint8_t *p,
		       size_t len);
int relay_http_on_close(struct relay_http *h, uint32_t sid);
/* Poll thread: the channel is gone; every HTTP session ends (404 from
 * then on, so clients start new ones). */
void relay_http_down(struct relay_http *h);
/* Poll thread, before the mux is freed: stops serving, ends every
 * session and frees h (NULL is a no-op). */
void relay_http_stop(struct relay_http *h);

#endif
