/* Frame codec: the 12-byte little-endian header and an incremental
 * decoder that checks every header against the per-type rules and the
 * size cap before it allocates anything for the payload. */
#include <zonegate/chan_mux.h>

#include <stdlib.h>
#include <string.h>

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

void chan_frame_hdr_encode(uint8_t out[CHAN_FRAME_HDR], unsigned type,
			   uint32_t stream, uint32_t len)
{
	out[0] = (uint8_t)type;
	out[1] = 0;
	out[2] = 0;
	out[3] = 0;
	put_le32(out + 4, stream);
	put_le32(out + 8, len);
}

/* Per type: whether the stream id must be zero (1), nonzero (2) or may
 * be either (0), and the payload length range. DATA's upper bound is the
 * configured max_frame. */
static const struct {
	int stream;
	uint32_t min, max;
} rules[] = {
	[CHAN_F_HELLO] = { 1, CHAN_HELLO_LEN, 64 },
	[CHAN_F_OPEN] = { 2, 0, CHAN_OPEN_MAX },
	[CHAN_F_DATA] = { 2, 1, UINT32_MAX },
	[CHAN_F_CLOSE] = { 2, 0, 0 },
	[CHAN_F_PING] = { 1, CHAN_PING_LEN, CHAN_PING_LEN },
	[CHAN_F_PONG] = { 1, CHAN_PING_LEN, CHAN_PING_LEN },
	[CHAN_F_ERROR] = { 0, 4, CHAN_ERROR_MAX },
};

int chan_frame_hdr_decode(const uint8_t in[CHAN_FRAME_HDR], size_t max_frame,
			  struct chan_frame_hdr *h, const char **why)
{
	h->type = in[0];
	h->flags = in[1];
	h->reserved = (uint16_t)(in[2] | in[3] << 8);
	h->stream = get_le32(in + 4);
	h->len = get_le32(in + 8);
	if (h->type < CHAN_F_HELLO || h->type > CHAN_F_ERROR)
		return *why = "unknown frame type", -1;
	if (h->flags || h->reserved)
		return *why = "nonzero flags or reserved bits", -1;
	if (rules[h->type].stream == 1 && h->stream != 0)
		return *why = "channel frame with a stream id", -1;
	if (rules[h->type].stream == 2 && h->stream == 0)
		return *why = "stream frame on stream 0", -1;
	if (h->len > max_frame)
		return *why = "frame longer than the maximum", -1;
	if (h->len < rules[h->type].min || h->len > rules[h->type].max)
		return *why = "bad length for frame type", -1;
	return 0;
}

void chan_frame_dec_init(struct chan_frame_dec *d, size_t max_frame)
{
	memset(d, 0, sizeof(*d));
	d->max_frame = max_frame;
}

void chan_frame_dec_free(struct chan_frame_dec *d)
{
	free(d->buf);
	d->buf = NULL;
	d->cap = 0;
	d->hdr_got = d->got = 0;
}

int chan_frame_dec_midframe(const struct chan_frame_dec *d)
{
	return d->hdr_got > 0;
}

/* Makes room for the current payload; the length was already checked. */
static int dec_reserve(struct chan_frame_dec *d)
{
	uint8_t *nb;

	if (d->h.len <= d->cap)
		return 0;
	nb = malloc(d->h.len);
	if (!nb)
		return -1;
	free(d->buf);
	d->buf = nb;
	d->cap = d->h.len;
	return 0;
}

/* A large buffer is released after its frame so idle channels stay
 * small. */
static void dec_frame_done(struct chan_frame_dec *d)
{
	d->hdr_got = 0;
	d->got = 0;
	if (d->cap > (64u << 10)) {
		free(d->buf);
		d->buf = NULL;
		d->cap = 0;
	}
}

int chan_frame_dec_feed_part(struct chan_frame_dec *d, const uint8_t *p,
			     size_t n, size_t *used, chan_frame_fn fn, void *ud,
			     const char **why)
{
	const uint8_t *start = p;
	size_t take;
	int rc = 0;

	while (n > 0) {
		if (d->hdr_got < CHAN_FRAME_HDR) {
			take = CHAN_FRAME_HDR - d->hdr_got;
			take = take < n ? take : n;
			memcpy(d->hdr + d->hdr_got, p, take);
			d->hdr_got += take;
			p += take;
			n -= take;
			if (d->hdr_got < CHAN_FRAME_HDR)
				break;
			if (chan_frame_hdr_decode(d->hdr, d->max_frame, &d->h,
						  why) < 0) {
				rc = -1;
				break;
			}
			if (dec_reserve(d) < 0) {
				*why = "out of memory";
				rc = -1;
				break;
			}
		}
		take = d->h.len - d->got;
		take = take < n ? take : n;
		if (take)
			memcpy(d->buf + d->got, p, take);
		d->got += take;
		p += take;
		n -= take;
		if (d->got < d->h.len)
			break;
		/* never hand out NULL, even for an empty payload */
		rc = fn(ud, &d->h, d->buf ? d->buf : d->hdr);
		dec_frame_done(d);
		if (rc)
			break;
	}
	if (used)
		*used = (size_t)(p - start);
	return rc;
}

int chan_frame_dec_feed(struct chan_frame_dec *d, const uint8_t *p, size_t n,
			chan_frame_fn fn, void *ud, const char **why)
{
	return chan_frame_dec_feed_part(d, p, n, NULL, fn, ud, why);
}
