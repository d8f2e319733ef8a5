/* SHA-256 as specified in FIPS 180-4, for the audit log's hash chain and
 * tool catalogue pins. No crypto library is among the dependencies; this
 * is small, tested against the standard vectors (test/gateway). On x86
 * CPUs with the SHA extensions the compression function uses them (the
 * audit chain hashes every record, on the gateway's hot path); both
 * paths are tested against the vectors and against each other. */
#include "gw.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI 1
#endif

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^
			      (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^
			      (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0];
	b = s->h[1];
	c = s->h[2];
	d = s->h[3];
	e = s->h[4];
	f = s->h[5];
	g = s->h[6];
	h = s->h[7];
	for (int i = 0; i < 64; i++) {
		t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) +
		     ((e & f) ^ (~e & g)) + K[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
		     ((a & b) ^ (a & c) ^ (b & c));
		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	s->h[0] += a;
	s->h[1] += b;
	s->h[2] += c;
	s->h[3] += d;
	s->h[4] += e;
	s->h[5] += f;
	s->h[6] += g;
	s->h[7] += h;
}

#ifdef HAVE_SHA_NI
/* The compression function on the SHA extensions. The instructions keep
 * the working variables as two vectors, A,B,E,F and C,D,G,H (highest
 * lane first); SHA256RNDS2 does two rounds and yields the new A,B,E,F,
 * while the new C,D,G,H is the old A,B,E,F. SHA256MSG1/MSG2 extend the
 * message schedule four words at a time. */
__attribute__((target("sha,sse4.1,ssse3"))) static void
block_ni(uint32_t h[8], const uint8_t *p)
{
	const __m128i be = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6,
					7, 0, 1, 2, 3);
	__m128i lo = _mm_shuffle_epi32(_mm_loadu_si128((const void *)h), 0x1b);
	__m128i hi =
		_mm_shuffle_epi32(_mm_loadu_si128((const void *)(h + 4)), 0x1b);
	__m128i abef = _mm_unpackhi_epi64(hi, lo); /* lanes f e b a */
	__m128i cdgh = _mm_unpacklo_epi64(hi, lo); /* lanes h g d c */
	__m128i abef0 = abef, cdgh0 = cdgh, w[4], m, wk, t;

	for (int i = 0; i < 16; i++) {
		if (i < 4) {
			m = _mm_shuffle_epi8(_mm_loadu_si128((
						     const void *)(p + 16 * i)),
					     be);
		} else {
			/* W[t-16] + s0(W[t-15]) + W[t-7], then + s1(W[t-2]) */
			m = _mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]);
			m = _mm_add_epi32(m,
					  _mm_alignr_epi8(w[(i + 3) & 3],
							  w[(i + 2) & 3], 4));
			m = _mm_sha256msg2_epu32(m, w[(i + 3) & 3]);
		}
		w[i & 3] = m;
		wk = _mm_add_epi32(m,
				   _mm_loadu_si128((const void *)(K + 4 * i)));
		t = _mm_sha256rnds2_epu32(cdgh, abef, wk);
		cdgh = abef;
		abef = t;
		t = _mm_sha256rnds2_epu32(cdgh, abef,
					  _mm_shuffle_epi32(wk, 0x0e));
		cdgh = abef;
		abef = t;
	}
	abef = _mm_add_epi32(abef, abef0);
	cdgh = _mm_add_epi32(cdgh, cdgh0);
	_mm_storeu_si128((void *)h,
			 _mm_shuffle_epi32(_mm_unpackhi_epi64(cdgh, abef),
					   0x1b));
	_mm_storeu_si128((void *)(h + 4),
			 _mm_shuffle_epi32(_mm_unpacklo_epi64(cdgh, abef),
					   0x1b));
}

/* CPUID: leaf 1 ECX has SSSE3 (bit 9) and SSE4.1 (bit 19); leaf 7
 * EBX has SHA (bit 29). */
static int cpu_has_sha(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) ||
	    !(c & (1u << 19)))
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return (b >> 29) & 1;
}
#endif

/* -1 not yet decided, 0 portable, 1 SHA extensions. */
static _Atomic int accel = -1;

int sha256_use_accel(int on)
{
#ifdef HAVE_SHA_NI
	if (on < 0)
		on = cpu_has_sha();
	accel = on && cpu_has_sha();
#else
	(void)on;
	accel = 0;
#endif
	return accel;
}

static void compress(struct sha256 *s, const uint8_t *p)
{
	if (accel < 0)
		sha256_use_accel(-1);
#ifdef HAVE_SHA_NI
	if (accel) {
		block_ni(s->h, p);
		return;
	}
#endif
	block(s, p);
}

void sha256_init(struct sha256 *s)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372,
					0xa54ff53a, 0x510e527f, 0x9b05688c,
					0x1f83d9ab, 0x5be0cd19 };
	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->n = 0;
}

void sha256_update(struct sha256 *s, const void *data, size_t n)
{
	const uint8_t *p = data;

	s->len += n;
	while (n) {
		size_t take = 64 - s->n < n ? 64 - s->n : n;
		if (s->n == 0 && n >= 64) {
			compress(s, p);
			p += 64;
			n -= 64;
			continue;
		}
		memcpy(s->buf + s->n, p, take);
		s->n += take;
		p += take;
		n -= take;
		if (s->n == 64) {
			compress(s, s->buf);
			s->n = 0;
		}
	}
}

void sha256_final(struct sha256 *s, uint8_t out[32])
{
	uint64_t bits = s->len * 8;
	uint8_t pad = 0x80, zero = 0, lenb[8];

	sha256_update(s, &pad, 1);
	while (s->n != 56)
		sha256_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(s, lenb, 8);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

void sha256_hex(const void *p, size_t n, char out[65])
{
	static const char hx[] = "0123456789abcdef";
	struct sha256 s;
	uint8_t d[32];

	sha256_init(&s);
	sha256_update(&s, p, n);
	sha256_final(&s, d);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[64] = '\0';
}
