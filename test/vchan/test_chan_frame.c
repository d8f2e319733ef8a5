/* Unit tests for the frame codec: header encoding, every header rule, and
 * the incremental decoder fed in every possible split. */
#include "zgtest.h"

#include <stdint.h>
#include <stdlib.h>
#include <zonegate/chan_mux.h>

struct seen {
	int n;
	uint8_t type[16];
	uint32_t sid[16], len[16];
	uint8_t first[16];
};

static int collect(void *ud, const struct chan_frame_hdr *h, const uint8_t *p)
{
	struct seen *s = ud;

	CHECK(p != NULL);
	if (s->n < 16) {
		s->type[s->n] = h->type;
		s->sid[s->n] = h->stream;
		s->len[s->n] = h->len;
		s->first[s->n] = h->len ? p[0] : 0;
	}
	s->n++;
	return 0;
}

static void test_encode_decode(void)
{
	uint8_t b[CHAN_FRAME_HDR];
	struct chan_frame_hdr h;
	const char *why = NULL;

	chan_frame_hdr_encode(b, CHAN_F_DATA, 0x01020304u, 0x0a0b0cu);
	CHECK_EQ_INT(b[0], 3);
	CHECK_EQ_INT(b[4], 0x04); /* little-endian */
	CHECK_EQ_INT(b[7], 0x01);
	CHECK_EQ_INT(b[8], 0x0c);
	CHECK_EQ_INT(chan_frame_hdr_decode(b, 1u << 24, &h, &why), 0);
	CHECK_EQ_INT(h.type, CHAN_F_DATA);
	CHECK_EQ_INT(h.stream, 0x01020304u);
	CHECK_EQ_INT(h.len, 0x0a0b0cu);
}

static int bad(unsigned type, uint32_t sid, uint32_t len, size_t max)
{
	uint8_t b[CHAN_FRAME_HDR];
	struct chan_frame_hdr h;
	const char *why = NULL;

	chan_frame_hdr_encode(b, type, sid, len);
	return chan_frame_hdr_decode(b, max, &h, &why) < 0 && why;
}

static void test_rules(void)
{
	uint8_t b[CHAN_FRAME_HDR];
	struct chan_frame_hdr h;
	const char *why;

	CHECK(bad(0, 0, 8, 4096));
	CHECK(bad(8, 1, 8, 4096));
	CHECK(bad(255, 1, 8, 4096));
	CHECK(bad(CHAN_F_HELLO, 1, 8, 4096)); /* HELLO on a stream */
	CHECK(bad(CHAN_F_HELLO, 0, 4, 4096)); /* short HELLO */
	CHECK(!bad(CHAN_F_HELLO, 0, 8, 4096));
	CHECK(bad(CHAN_F_DATA, 0, 8, 4096));	/* DATA on stream 0 */
	CHECK(bad(CHAN_F_DATA, 1, 0, 4096));	/* empty DATA */
	CHECK(bad(CHAN_F_DATA, 1, 4097, 4096)); /* over the cap */
	CHECK(bad(CHAN_F_DATA, 1, 0xffffffffu, 4096));
	CHECK(!bad(CHAN_F_DATA, 1, 4096, 4096));
	CHECK(bad(CHAN_F_CLOSE, 1, 1, 4096));
	CHECK(bad(CHAN_F_PING, 0, 7, 4096));
	CHECK(bad(CHAN_F_PONG, 3, 8, 4096));
	CHECK(bad(CHAN_F_ERROR, 0, 3, 4096));
	CHECK(!bad(CHAN_F_ERROR, 5, 10, 4096));
	CHECK(bad(CHAN_F_OPEN, 1, CHAN_OPEN_MAX + 1, 1u << 20));
	chan_frame_hdr_encode(b, CHAN_F_DATA, 1, 1);
	b[1] = 1; /* flags */
	CHECK_EQ_INT(chan_frame_hdr_decode(b, 4096, &h, &why), -1);
	b[1] = 0;
	b[3] = 1; /* reserved */
	CHECK_EQ_INT(chan_frame_hdr_decode(b, 4096, &h, &why), -1);
}

/* Three frames, fed split at every pair of boundaries. */
static void test_decoder_splits(void)
{
	uint8_t buf[128];
	size_t n = 0;

	chan_frame_hdr_encode(buf + n, CHAN_F_OPEN, 1, 0);
	n += CHAN_FRAME_HDR;
	chan_frame_hdr_encode(buf + n, CHAN_F_DATA, 1, 5);
	n += CHAN_FRAME_HDR;
	memcpy(buf + n, "hello", 5);
	n += 5;
	chan_frame_hdr_encode(buf + n, CHAN_F_CLOSE, 1, 0);
	n += CHAN_FRAME_HDR;
	for (size_t a = 0; a <= n; a++) {
		for (size_t b = a; b <= n; b++) {
			struct chan_frame_dec d;
			struct seen s = { 0 };
			const char *why = NULL;
			chan_frame_dec_init(&d, 4096);
			CHECK_EQ_INT(chan_frame_dec_feed(&d, buf, a, collect,
							 &s, &why),
				     0);
			CHECK_EQ_INT(chan_frame_dec_feed(&d, buf + a, b - a,
							 collect, &s, &why),
				     0);
			CHECK_EQ_INT(chan_frame_dec_feed(&d, buf + b, n - b,
							 collect, &s, &why),
				     0);
			CHECK_EQ_INT(s.n, 3);
			CHECK_EQ_INT(s.type[1], CHAN_F_DATA);
			CHECK_EQ_INT(s.len[1], 5);
			CHECK_EQ_INT(s.first[1], 'h');
			CHECK_EQ_INT(s.type[2], CHAN_F_CLOSE);
			CHECK(!chan_frame_dec_midframe(&d));
			chan_frame_dec_free(&d);
		}
	}
}

static void test_decoder_rejects_before_alloc(void)
{
	struct chan_frame_dec d;
	struct seen s = { 0 };
	uint8_t b[CHAN_FRAME_HDR];
	const char *why = NULL;

	chan_frame_dec_init(&d, 1u << 20);
	chan_frame_hdr_encode(b, CHAN_F_DATA, 1, 0xfffffff0u);
	CHECK_EQ_INT(chan_frame_dec_feed(&d, b, sizeof(b), collect, &s, &why),
		     -1);
	CHECK_STR(why, "frame longer than the maximum");
	CHECK(d.buf == NULL);
	CHECK_EQ_INT(s.n, 0);
	chan_frame_dec_free(&d);
}

static int stop_cb(void *ud, const struct chan_frame_hdr *h, const uint8_t *p)
{
	(*(int *)ud)++;
	return 7;
}

static void test_decoder_stop(void)
{
	struct chan_frame_dec d;
	uint8_t b[2 * CHAN_FRAME_HDR];
	const char *why = NULL;
	int calls = 0;

	chan_frame_dec_init(&d, 4096);
	chan_frame_hdr_encode(b, CHAN_F_CLOSE, 1, 0);
	chan_frame_hdr_encode(b + CHAN_FRAME_HDR, CHAN_F_CLOSE, 3, 0);
	CHECK_EQ_INT(chan_frame_dec_feed(&d, b, sizeof(b), stop_cb, &calls,
					 &why),
		     7);
	CHECK_EQ_INT(calls, 1);
	chan_frame_dec_free(&d);
}

int main(void)
{
	RUN(test_encode_decode);
	RUN(test_rules);
	RUN(test_decoder_splits);
	RUN(test_decoder_rejects_before_alloc);
	RUN(test_decoder_stop);
	return ZGT_DONE();
}
