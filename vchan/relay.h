/* zonegate-relay internals shared by its stdio part (relay.c) and its
 * loopback Streamable HTTP part (relay_http.c, mcp's transport with the
 * channel as its engine). One poll thread owns the multiplexer; the
 * transport's threads talk to it through a queue. */
#ifndef ZG_RELAY_H
#define ZG_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <zonegate/chan_mux.h>

struct relay_http;

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
