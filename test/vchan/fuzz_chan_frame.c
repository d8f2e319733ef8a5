/* Fuzz target for everything a peer's bytes reach: the frame decoder on
 * its own (small cap), then a whole multiplexer fed the input through a
 * socket, with callbacks that answer, close and reset streams so the
 * output path runs too. Nothing may crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zonegate/chan_mux.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_frame(void *ud, const struct chan_frame_hdr *h,
		       const uint8_t *p)
{
	size_t *n = ud;

	*n += h->len ? p[0] : 1;
	return 0;
}

static int fz_open(void *ud, chan_mux *m, uint32_t sid)
{
	return (sid % 5 == 4) ? -1 : 0;
}

static void fz_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *p,
		    size_t n)
{
	if (n && p[0] == 'r')
		chan_mux_reset_stream(m, sid, CHAN_E_REFUSED, "fuzz");
	else if (n && p[0] == 'c')
		chan_mux_close_stream(m, sid);
	else if (n && p[0] == 'o')
		chan_mux_open_stream(m);
	else
		chan_mux_send(m, sid, p, n);
}

static void fz_close(void *ud, chan_mux *m, uint32_t sid, int reset)
{
	if (!reset)
		chan_mux_close_stream(m, sid);
}

static void fz_log(void *ud, const char *msg)
{
}

static void run_mux(const uint8_t *data, size_t size)
{
	static const struct chan_mux_ops ops = { NULL, fz_open, fz_data,
						 fz_close, NULL };
	struct chan_mux_opts o = { .max_frame = 4096,
				   .max_streams = 8,
				   .stream_queue_max = 16384,
				   .log = fz_log };
	int sv[2];
	chan *c;
	chan_mux *m;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return;
	c = chan_from_socket(sv[0], CHAN_SERVER, NULL, 0);
	if (!c) {
		close(sv[1]);
		return;
	}
	m = chan_mux_new(c, &o, &ops, NULL, NULL, 0);
	if (size && write(sv[1], data, size) < 0) {
		/* the socket buffer holds the fuzzer's inputs */
	}
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; m && i < 64 && chan_mux_process(m) == 0; i++)
		;
	chan_mux_free(m);
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chan_frame_dec d;
	const char *why = NULL;
	size_t n = 0, half = size / 2;

	if (size > (128u << 10))
		return 0;
	chan_frame_dec_init(&d, 1024);
	if (chan_frame_dec_feed(&d, data, half, count_frame, &n, &why) == 0)
		chan_frame_dec_feed(&d, data + half, size - half, count_frame,
				    &n, &why);
	chan_frame_dec_free(&d);
	run_mux(data, size);
	return 0;
}
