/* The zonegate frame protocol (docs/protocol.md) and the stream
 * multiplexer that runs it over a channel: HELLO with version negotiation,
 * OPEN/DATA/CLOSE per stream so one channel carries many MCP sessions,
 * PING/PONG liveness, ERROR for resets. A mux is single-threaded and
 * driven from a poll loop; one loop can drive many muxes. */
#ifndef ZONEGATE_CHAN_MUX_H
#define ZONEGATE_CHAN_MUX_H

#include <stddef.h>
#include <stdint.h>
#include <zonegate/chan.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Frames ------------------------------------------------------------ */

#define CHAN_PROTO_VERSION 1	 /* the version this code speaks */
#define CHAN_PROTO_MIN_VERSION 1 /* the oldest it accepts */
#define CHAN_FRAME_HDR 12	 /* bytes of a frame header */
#define CHAN_FRAME_MAX_DEFAULT (4u << 20)
#define CHAN_FRAME_MAX_LIMIT (256u << 20)
#define CHAN_HELLO_LEN 8
#define CHAN_PING_LEN 8
#define CHAN_OPEN_MAX 256   /* OPEN payload: an optional label */
#define CHAN_ERROR_MAX 1024 /* ERROR payload: u32 code + text */

enum chan_frame_type {
	CHAN_F_HELLO = 1,
	CHAN_F_OPEN = 2,
	CHAN_F_DATA = 3,
	CHAN_F_CLOSE = 4,
	CHAN_F_PING = 5,
	CHAN_F_PONG = 6,
	CHAN_F_ERROR = 7
};

/* ERROR codes. */
enum chan_error_code {
	CHAN_E_PROTOCOL = 1, /* the receiver broke the protocol */
	CHAN_E_VERSION = 2,  /* no common version */
	CHAN_E_REFUSED = 3,  /* stream refused (limit, no handler) */
	CHAN_E_OVERFLOW = 4, /* stream's buffer limit exceeded */
	CHAN_E_TIMEOUT = 5,  /* peer did not answer PING */
	CHAN_E_INTERNAL = 6
};

struct chan_frame_hdr {
	uint8_t type, flags;
	uint16_t reserved;
	uint32_t stream, len;
};

/* Writes the 12-byte little-endian header for (type, stream, len). */
void chan_frame_hdr_encode(uint8_t out[CHAN_FRAME_HDR], unsigned type,
			   uint32_t stream, uint32_t len);

/* Decodes and validates a header against max_frame (payload bytes): a
 * known type, zero flags and reserved bits, the stream id and length the
 * type allows. Returns 0, or -1 with a static reason in *why. */
int chan_frame_hdr_decode(const uint8_t in[CHAN_FRAME_HDR], size_t max_frame,
			  struct chan_frame_hdr *h, const char **why);

/* Incremental decoder: feed it any byte slices; it hands out whole frames.
 * The payload buffer is allocated only after the header passed the size
 * check, and is reused. */
struct chan_frame_dec {
	size_t max_frame;
	uint8_t hdr[CHAN_FRAME_HDR];
	size_t hdr_got, got, cap;
	struct chan_frame_hdr h;
	uint8_t *buf;
};

typedef int (*chan_frame_fn)(void *ud, const struct chan_frame_hdr *h,
			     const uint8_t *payload);

void chan_frame_dec_init(struct chan_frame_dec *d, size_t max_frame);
void chan_frame_dec_free(struct chan_frame_dec *d);
/* Consumes n bytes, calling fn for every complete frame. Stops at the
 * first violation or the first nonzero return of fn. Returns 0, -1 with a
 * static reason in *why on a violation (also out of memory), or fn's
 * nonzero value. The decoder is unusable after -1 until re-initialised. */
int chan_frame_dec_feed(struct chan_frame_dec *d, const uint8_t *p, size_t n,
			chan_frame_fn fn, void *ud, const char **why);
/* The same, and *used (if not NULL) says how many of the n bytes it took:
 * after fn's nonzero return, the bytes past that frame are left for the
 * caller to feed later (this is how a reader stops at a frame boundary
 * when its budget for the turn is spent). */
int chan_frame_dec_feed_part(struct chan_frame_dec *d, const uint8_t *p,
			     size_t n, size_t *used, chan_frame_fn fn, void *ud,
			     const char **why);
/* Nonzero while a frame is partly received. */
int chan_frame_dec_midframe(const struct chan_frame_dec *d);

/* ---- Multiplexer ------------------------------------------------------- */

typedef struct chan_mux chan_mux;

/* Callbacks run inside chan_mux_process() and may call chan_mux_send,
 * _open_stream, _close_stream and _reset_stream, never chan_mux_free. */
struct chan_mux_ops {
	/* HELLO exchanged; the peer is ready. */
	void (*on_up)(void *ud, chan_mux *m);
	/* The peer opened stream sid. Return 0 to accept, -1 to refuse
	 * (the peer gets an ERROR for the stream). NULL refuses all. */
	int (*on_open)(void *ud, chan_mux *m, uint32_t sid);
	/* One DATA frame: one whole message. msg is valid during the call. */
	void (*on_data)(void *ud, chan_mux *m, uint32_t sid, const uint8_t *msg,
			size_t len);
	/* The peer closed its side (reset 0: it sends nothing more), or the
	 * stream was reset by the peer or by a channel reset (reset 1). Once
	 * per stream; not called for a stream the user reset itself. */
	void (*on_close)(void *ud, chan_mux *m, uint32_t sid, int reset);
	/* The channel was reset or closed (why says so); every stream is
	 * gone. A server mux then waits for a new client by itself. */
	void (*on_down)(void *ud, chan_mux *m, const char *why);
};

/* What may wait for a peer, and how much of its input one call of
 * chan_mux_process() takes. Every frame queued for the peer counts: DATA,
 * OPEN and CLOSE against their stream's and the total cap; the frames the
 * mux queues by itself in answer to the peer (PONG for each PING, ERROR
 * for each refused OPEN or reset stream) against ctl_queue_max. A peer
 * whose answers reach ctl_queue_max because it does not read them is not
 * read either until it has taken them (backpressure: its writes then
 * stall in the ring), so what it can make us hold is bounded by the caps
 * whatever it sends. DATA over a cap is refused to the sender
 * (CHAN_MUX_EFULL) rather than stopping input, so that two peers each
 * waiting for the other to read can never both stop. */
struct chan_mux_opts {
	size_t max_frame;	 /* payload cap (default 4 MiB) */
	size_t stream_queue_max; /* bytes queued per stream (default 8 MiB) */
	size_t total_queue_max;	 /* bytes queued in all (default 64 MiB) */
	size_t ctl_queue_max;	 /* bytes of answers to the peer, with
				    their memory overhead (default 256 KiB) */
	unsigned max_streams;	 /* open at once (default 256) */
	/* Per call of chan_mux_process(): at most turn_frames frames
	 * dispatched (default 64) and turn_bytes read (default 256 KiB);
	 * the rest waits (chan_mux_timeout_ms() is then 0) so one busy
	 * channel cannot hold up the others sharing a loop. */
	unsigned turn_frames;
	size_t turn_bytes;
	int ping_interval_ms; /* 0: no PING; else PING when idle this long
				    and reset after 3 silent intervals */
	/* Diagnostics (why a channel was reset); NULL logs to stderr. */
	void (*log)(void *ud, const char *msg);
};

/* Result of chan_mux_send when the stream's queue is over its cap. */
#define CHAN_MUX_EFULL (-2)

/* Wraps c (ownership passes to the mux, also on failure) and queues our
 * HELLO. opts may be NULL. Returns NULL with a message in err. */
chan_mux *chan_mux_new(chan *c, const struct chan_mux_opts *opts,
		       const struct chan_mux_ops *ops, void *ud, char *err,
		       size_t errlen);

/* Frees the mux, its queues and the channel. No callbacks are made. */
void chan_mux_free(chan_mux *m);

/* Poll chan_mux_fd() for chan_mux_events() (POLLIN, plus POLLOUT on
 * backends that need it) and call chan_mux_process() when it is ready or
 * chan_mux_timeout_ms() (-1: none) has passed. */
int chan_mux_fd(chan_mux *m);
short chan_mux_events(chan_mux *m);
int chan_mux_timeout_ms(chan_mux *m);

/* Reads, dispatches and writes what it can without blocking; does a
 * bounded amount of work per call so one channel cannot starve others.
 * Returns 0, or -1 once a client channel is gone for good (free it). */
int chan_mux_process(chan_mux *m);

/* Sets the input budget of the next calls of chan_mux_process() (the
 * turn_frames of chan_mux_opts; 0 restores the one it was created with),
 * so that a loop can give a channel a short share while others have work
 * and whole batches while it is alone. */
void chan_mux_set_turn(chan_mux *m, unsigned frames);

/* Nonzero if the last chan_mux_process() stopped at its budget
 * (turn_frames or turn_bytes) with input still waiting: the peer sends
 * more than one call takes. A loop uses it to tell a channel that
 * floods it from one that merely had work. */
int chan_mux_turn_spent(const chan_mux *m);

/* Nonzero after the HELLO exchange (until the channel goes down). */
int chan_mux_is_up(chan_mux *m);

/* Opens a stream to the peer (queued if HELLO is not done yet). Returns
 * its id, or 0 if the stream limit is reached, the total queue is at its
 * cap or the channel is dead. (Its CLOSE is queued whatever the caps:
 * one per stream, so bounded by max_streams.) */
uint32_t chan_mux_open_stream(chan_mux *m);

/* Queues one message on stream sid. Returns 0; CHAN_MUX_EFULL if the
 * stream or total queue cap would be exceeded (nothing queued); -1 if the
 * stream is unknown or closed on our side, or len is 0 or over max_frame. */
int chan_mux_send(chan_mux *m, uint32_t sid, const void *msg, size_t len);

/* Closes our side after what is queued. Returns 0 or -1 if unknown. */
int chan_mux_close_stream(chan_mux *m, uint32_t sid);

/* Drops the stream's queue and tells the peer (ERROR on the stream).
 * Returns 0 or -1 if unknown. No on_close follows. */
int chan_mux_reset_stream(chan_mux *m, uint32_t sid, unsigned code,
			  const char *why);

/* While held (on nonzero), frames are queued as usual but not written
 * (caps still apply); releasing (on 0) writes what waits. A caller that
 * must record something before its messages leave (gatewayd's audit
 * log) holds the mux through a loop turn, records, then releases. */
void chan_mux_hold(chan_mux *m, int on);
/* Nonzero if frames wait only because the mux is held. */
int chan_mux_held_output(const chan_mux *m);

/* Bytes queued on stream sid (0 if unknown). */
size_t chan_mux_queued(chan_mux *m, uint32_t sid);

/* Bytes held for the peer in all: every queued frame (DATA, OPEN, CLOSE,
 * PING, PONG, ERROR, HELLO) with its header, the one being written
 * included. */
size_t chan_mux_backlog(chan_mux *m);

/* Nonzero while input waits unread because the peer has not taken the
 * answers already queued for it (ctl_queue_max reached). */
int chan_mux_rx_paused(chan_mux *m);

/* Number of streams currently known. */
unsigned chan_mux_streams(chan_mux *m);

/* The channel underneath (borrowed). */
chan *chan_mux_chan(chan_mux *m);

#ifdef __cplusplus
}
#endif
#endif
