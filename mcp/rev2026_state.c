/* Request state of 2026-07-28 multi round-trip requests: the key ring (a
 * file of hex keys, or one random key), and sealing / opening the token
 * "zrs1.<payload>.<mac>" (base64url; the payload is JSON naming the
 * method, target, a digest of the arguments, the expiry and the state;
 * the MAC is HMAC-SHA256 over "zrs1.<payload>"). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rev2026_state.h"
#include "zg_common.h"

#define TOKEN_PREFIX "zrs1."
#define MAC_LEN 32
#define ARGS_DIGEST_LEN 16
#define KEY_FILE_MAX 8192

/* ---- base64 (url: the URL alphabet without padding) ---- */

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t mcp_b64_encode(const unsigned char *p, size_t n, char *out, int url)
{
	const char *a = url ? b64 : b64_std;
	char *o = out;
	size_t i = 0;

	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 |
			     p[i + 2];
		*o++ = a[v >> 18];
		*o++ = a[(v >> 12) & 63];
		*o++ = a[(v >> 6) & 63];
		*o++ = a[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		*o++ = a[v >> 18];
		*o++ = a[(v >> 12) & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		*o++ = a[v >> 18];
		*o++ = a[(v >> 12) & 63];
		*o++ = a[(v >> 6) & 63];
	}
	while (!url && (o - out) % 4)
		*o++ = '=';
	return (size_t)(o - out);
}

/* Writes b64_len(n) characters of p[0..n) to out (no NUL). */
static void b64_encode(const unsigned char *p, size_t n, char *out)
{
	mcp_b64_encode(p, n, out, 1);
}

static int b64_val(char c, int url)
{
	const char *alpha = url ? b64 : b64_std;
	const char *p = c ? strchr(alpha, c) : NULL;

	return p ? (int)(p - alpha) : -1;
}

long mcp_b64_decode(const char *s, size_t n, unsigned char *out, int url)
{
	size_t o = 0, pad = 0;
	unsigned v = 0;
	int bits = 0;

	if (!url) { /* standard: padded to a multiple of 4 */
		if (n % 4)
			return -1;
		while (pad < 2 && n > 0 && s[n - 1] == '=') {
			n--;
			pad++;
		}
	}
	if (n % 4 == 1 || (!url && pad != (4 - n % 4) % 4))
		return -1;
	for (size_t i = 0; i < n; i++) {
		int d = b64_val(s[i], url);
		if (d < 0)
			return -1;
		v = (v << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(v >> bits);
			v &= (1u << bits) - 1;
		}
	}
	/* canonical only: the unused low bits of the last character are
	 * zero, so no two texts decode to the same bytes */
	return v ? -1 : (long)o;
}

/* ---- keys ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses one line of hex digits into key k of out. Returns 0 or -1. */
static int parse_key_line(const char *p, size_t n, struct mcp_state_keys *out)
{
	unsigned i = out->n;

	if (n % 2 || n < 2 * MCP_STATE_MIN_KEY || n > 2 * MCP_STATE_MAX_KEY)
		return -1;
	for (size_t j = 0; j < n; j += 2) {
		int hi = hexval(p[j]), lo = hexval(p[j + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out->key[i][j / 2] = (unsigned char)(hi << 4 | lo);
	}
	out->len[i] = n / 2;
	out->n++;
	return 0;
}

/* Reads the whole (small) key file into buf. Returns its length or -1. */
static long read_key_file(const char *path, char *buf, size_t cap, char *err,
			  size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t len = 0;

	if (fd < 0) {
		zg_errf(err, errlen, path, 0, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		zg_errf(err, errlen, path, 0,
			"must be a regular file readable by its owner only "
			"(mode 0600 or 0400)");
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			zg_errf(err, errlen, path, 0, "%s", strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == cap) {
			zg_errf(err, errlen, path, 0, "larger than %u bytes",
				KEY_FILE_MAX - 1);
			close(fd);
			return -1;
		}
	}
	close(fd);
	buf[len] = '\0';
	return (long)len;
}

int mcp_state_keys_load(const char *path, struct mcp_state_keys *out, char *err,
			size_t errlen)
{
	char buf[KEY_FILE_MAX];
	struct mcp_state_keys k;
	long len = read_key_file(path, buf, sizeof(buf), err, errlen);
	long line = 0;
	char *p = buf;
	int rc = -1;

	memset(&k, 0, sizeof(k));
	if (len < 0)
		goto out;
	while (p < buf + len) {
		char *nl = memchr(p, '\n', (size_t)(buf + len - p));
		char *end = nl ? nl : buf + len;
		size_t n;
		line++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		n = (size_t)(end - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' ||
				 p[n - 1] == '\r'))
			n--;
		if (n > 0 && *p != '#') {
			if (k.n == MCP_STATE_MAX_KEYS) {
				zg_errf(err, errlen, path, line,
					"more than %d keys",
					MCP_STATE_MAX_KEYS);
				goto out;
			}
			if (parse_key_line(p, n, &k) != 0) {
				zg_errf(err, errlen, path, line,
					"a key is %d to %d hex digits",
					2 * MCP_STATE_MIN_KEY,
					2 * MCP_STATE_MAX_KEY);
				goto out;
			}
		}
		p = nl ? nl + 1 : buf + len;
	}
	if (k.n == 0) {
		zg_errf(err, errlen, path, 0, "no key in the file");
		goto out;
	}
	*out = k;
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

int mcp_state_keys_random(struct mcp_state_keys *out)
{
	memset(out, 0, sizeof(*out));
	if (RAND_bytes(out->key[0], MCP_STATE_MIN_KEY) != 1)
		return -1;
	out->len[0] = MCP_STATE_MIN_KEY;
	out->n = 1;
	return 0;
}

/* ---- tokens ---- */

/* base64url of the first ARGS_DIGEST_LEN bytes of SHA-256 over args in
 * a canonical form (sorted keys, compact), into out (NUL-terminated). */
static int args_digest(const json_t *args, char out[32])
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	char *text =
		json_dumps(args ? args : json_null(),
			   JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);

	if (!text)
		return -1;
	SHA256((const unsigned char *)text, strlen(text), d);
	free(text);
	b64_encode(d, ARGS_DIGEST_LEN, out);
	out[b64_len(ARGS_DIGEST_LEN)] = '\0';
	return 0;
}

static void mac_of(const unsigned char *key, size_t klen, const char *msg,
		   size_t n, unsigned char mac[MAC_LEN])
{
	unsigned int len = MAC_LEN;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, n, mac,
	     &len);
}

char *mcp_state_seal(const struct mcp_state_keys *k, const char *method,
		     const char *target, const json_t *args,
		     const json_t *state, time_t now, unsigned ttl)
{
	char digest[32], *text = NULL, *tok = NULL;
	unsigned char mac[MAC_LEN];
	json_t *payload = NULL;
	size_t tlen, plen, pos;

	if (!k || k->n == 0 || args_digest(args, digest) != 0)
		return NULL;
	payload = json_pack("{s:s, s:s, s:s, s:I, s:O}", "m", method, "t",
			    target ? target : "", "a", digest, "exp",
			    (json_int_t)now + ttl, "s", state);
	text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
	if (!text)
		goto out;
	tlen = strlen(text);
	plen = sizeof(TOKEN_PREFIX) - 1 + b64_len(tlen);
	if (tlen > MCP_STATE_MAX_TOKEN ||
	    plen + 1 + b64_len(MAC_LEN) > MCP_STATE_MAX_TOKEN)
		goto out;
	tok = malloc(plen + 1 + b64_len(MAC_LEN) + 1);
	if (!tok)
		goto out;
	memcpy(tok, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
	b64_encode((const unsigned char *)text, tlen,
		   tok + sizeof(TOKEN_PREFIX) - 1);
	mac_of(k->key[0], k->len[0], tok, plen, mac);
	pos = plen;
	tok[pos++] = '.';
	b64_encode(mac, MAC_LEN, tok + pos);
	tok[pos + b64_len(MAC_LEN)] = '\0';
out:
	free(text);
	json_decref(payload);
	return tok;
}

/* 0 when mac (the token's) matches one key of the ring over msg. */
static int mac_verify(const struct mcp_state_keys *k, const char *msg, size_t n,
		      const unsigned char *mac)
{
	unsigned char want[MAC_LEN];
	int ok = 0;

	for (unsigned i = 0; i < k->n; i++) {
		mac_of(k->key[i], k->len[i], msg, n, want);
		ok |= CRYPTO_memcmp(want, mac, MAC_LEN) == 0;
	}
	return ok ? 0 : -1;
}

/* Checks an authenticated payload against the request. */
static int payload_check(json_t *p, const char *method, const char *target,
			 const json_t *args, time_t now, const char **why)
{
	char digest[32];
	json_t *exp = json_object_get(p, "exp");

	if (!json_is_object(p) || !json_is_integer(exp) ||
	    !json_object_get(p, "s") || args_digest(args, digest) != 0) {
		*why = "requestState is malformed";
		return -1;
	}
	if (json_integer_value(exp) <= (json_int_t)now) {
		*why = "requestState has expired; start the request again";
		return -1;
	}
	if (!json_is_string(json_object_get(p, "m")) ||
	    strcmp(json_string_value(json_object_get(p, "m")), method) != 0 ||
	    !json_is_string(json_object_get(p, "t")) ||
	    strcmp(json_string_value(json_object_get(p, "t")),
		   target ? target : "") != 0 ||
	    !json_is_string(json_object_get(p, "a")) ||
	    strcmp(json_string_value(json_object_get(p, "a")), digest) != 0) {
		*why = "requestState was issued for another request";
		return -1;
	}
	return 0;
}

int mcp_state_open(const struct mcp_state_keys *k, const char *token,
		   size_t len, const char *method, const char *target,
		   const json_t *args, time_t now, json_t **state,
		   const char **why)
{
	const size_t pre = sizeof(TOKEN_PREFIX) - 1;
	unsigned char mac[MAC_LEN + 3], *text = NULL;
	const char *dot;
	json_t *p = NULL;
	long n;
	int rc = -1;

	*state = NULL;
	*why = "requestState is malformed";
	if (!k || len > MCP_STATE_MAX_TOKEN || len < pre ||
	    memcmp(token, TOKEN_PREFIX, pre) != 0 ||
	    memchr(token, '\0', len) != NULL)
		return -1;
	dot = memchr(token + pre, '.', len - pre);
	if (!dot || (size_t)(token + len - dot - 1) != b64_len(MAC_LEN) ||
	    mcp_b64_decode(dot + 1, b64_len(MAC_LEN), mac, 1) != MAC_LEN)
		return -1;
	if (mac_verify(k, token, (size_t)(dot - token), mac) != 0) {
		*why = "requestState failed verification (tampered, or "
		       "signed with a key this server does not hold)";
		return -1;
	}
	/* Authenticated: what follows was written by a holder of a key. */
	text = malloc((size_t)(dot - token - (long)pre) * 3 / 4 + 1);
	if (!text)
		return -1;
	n = mcp_b64_decode(token + pre, (size_t)(dot - token - (long)pre), text,
			   1);
	if (n < 0)
		goto out;
	p = json_loadb((const char *)text, (size_t)n,
		       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (payload_check(p, method, target, args, now, why) != 0)
		goto out;
	*state = json_incref(json_object_get(p, "s"));
	rc = 0;
out:
	json_decref(p);
	free(text);
	return rc;
}
