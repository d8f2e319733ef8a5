/* zonegate channels: one small non-blocking byte-stream interface between
 * a zone and the host, driven by poll, with backends chosen at run time
 * (xen: libxenvchan; sim: shared-memory rings for machines without a
 * hypervisor; unix: a plain socket, for benchmarks and tests). The frame
 * protocol and stream multiplexer on top of it live in chan_mux.h. */
#ifndef ZONEGATE_CHAN_H
#define ZONEGATE_CHAN_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chan chan;

enum chan_role { CHAN_SERVER, CHAN_CLIENT };

/* Peer states, numbered as libxenvchan_is_open() numbers them. */
enum chan_state {
	CHAN_CLOSED = 0, /* peer gone; pending data may still be read */
	CHAN_OPEN = 1,	 /* peer connected */
	CHAN_WAITING = 2 /* server: no client yet (writes are buffered);
			     sim client: connected, not yet accepted */
};

#define CHAN_PATH_MAX 200
#define CHAN_RING_MIN 1024u
#define CHAN_RING_MAX (16u << 20)
#define CHAN_RING_DEFAULT (128u << 10)
/* The host uid of a sandboxed sim zone is CHAN_ZONE_UID_BASE + domid
 * (docs/zones.md); its rendezvous directory SIMDIR/DOMID belongs to it. */
#define CHAN_ZONE_UID_BASE 100000

/* A parsed address, "BACKEND:DOMID:PATH" (grammar in docs/protocol.md). */
struct chan_addr {
	char backend[8]; /* "sim", "xen" or "unix" */
	int domid;	 /* 0..32767 */
	char path[CHAN_PATH_MAX + 1];
};

/* Parses s into *a. Returns 0, or -1 with a message in err. */
int chan_addr_parse(const char *s, struct chan_addr *a, char *err,
		    size_t errlen);

struct chan_opts {
	size_t ring_size;	/* bytes per direction, power of two;
				   0 = CHAN_RING_DEFAULT (sim; xen rounds) */
	int connect_timeout_ms; /* client: wait this long for the server to
				   appear and accept; 0 = try once and do
				   not wait (a sim client may then start
				   in CHAN_WAITING: poll it like any) */
};

/* Opens a channel at addr as server or client; opts may be NULL. A server
 * starts in CHAN_WAITING and may be written to before a client comes. A
 * client fails unless a server is there (within connect_timeout_ms).
 * Returns a channel the caller frees with chan_close(), or NULL with a
 * message in err. */
chan *chan_open(const char *addr, enum chan_role role,
		const struct chan_opts *opts, char *err, size_t errlen);

/* Wraps a connected stream socket (e.g. one end of a socketpair) as a
 * channel of backend "unix"; takes ownership of fd. NULL on failure. */
chan *chan_from_socket(int fd, enum chan_role role, char *err, size_t errlen);

/* Reads up to len bytes. Returns the count (> 0), 0 if nothing is
 * available now, or -1 once the peer is closed and nothing is left. */
ssize_t chan_read(chan *c, void *buf, size_t len);

/* Writes up to len bytes without blocking. Returns the count written
 * (possibly short, 0 when the ring is full), or -1 if the peer is closed
 * (the data is dropped). A server may write while CHAN_WAITING. */
ssize_t chan_write(chan *c, const void *buf, size_t len);

/* Bytes readable now / writable now without blocking. */
size_t chan_data_ready(chan *c);
size_t chan_buffer_space(chan *c);

/* The readiness fd: poll it for POLLIN; when readable, call
 * chan_handle_events(), then read until chan_read() returns 0 and retry
 * writes that were short. The fd stays the same for the channel's life. */
int chan_fd(chan *c);

/* The poll events to wait for on chan_fd(): POLLIN, and POLLOUT too if
 * want_write is set and the backend signals write space that way. */
short chan_poll_events(chan *c, int want_write);

/* Consumes pending notifications (libxenvchan_wait) and updates the peer
 * state (accepting a client on a waiting server). Never blocks. Returns
 * the current chan_state. */
int chan_handle_events(chan *c);

/* The peer state (enum chan_state). */
int chan_state(chan *c);

/* Counts peers: incremented each time a new client connects to this
 * server (a client's channel stays at 1). Lets users notice that the
 * peer behind an open channel is a different one. */
unsigned chan_generation(chan *c);

/* Server: drops the current client, if any, discards both rings and
 * waits for a new client (CHAN_WAITING). Returns 0, or -1 if the
 * backend could not set up again (the channel is then CHAN_CLOSED, holds
 * nothing, and may be reset again). Client: returns -1; reopen the
 * channel instead. */
int chan_reset(chan *c);

/* The role, backend name and address this channel was opened with: the
 * identity of the peer is what the creator of the channel decided, never
 * something the peer says. */
enum chan_role chan_role_of(const chan *c);
const char *chan_backend(const chan *c);
const char *chan_address(const chan *c);
int chan_peer_domid(const chan *c);

/* Closes the channel; the peer sees CHAN_CLOSED but can still read what
 * was written before. NULL is a no-op. */
void chan_close(chan *c);

/* The sim backend's rendezvous directory: $ZONEGATE_SIM_DIR, else
 * /run/zonegate/sim for root, else $XDG_RUNTIME_DIR/zonegate/sim, else
 * /tmp/zonegate-sim-UID. Writes it to buf; returns 0 or -1 if too long. */
int chan_sim_dir(char *buf, size_t len);

/* Makes room for a unix socket to be bound at path: 0 if nothing is
 * there or a socket was (it is removed: a stale one, a live server having
 * been ruled out by the caller). Anything else there (a regular file, a
 * directory, a FIFO, a symlink) is never deleted: -1 with a message in
 * err, and the path is left as it was. */
int chan_unix_path_free(const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
