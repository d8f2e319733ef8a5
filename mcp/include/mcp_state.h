/* Request state of 2026-07-28 multi round-trip requests (InputRequiredResult
 * requestState): sealed with HMAC-SHA256 under a key ring that every replica
 * shares, bound to the request it was issued for, bounded in size and age.
 * mcpd (mcp/rev2026_state.c) and gatewayd (its held calls) use it; the token
 * format is in docs/protocol.md. */
#ifndef ZG_MCP_STATE_H
#define ZG_MCP_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#define MCP_STATE_MAX_KEYS 8
#define MCP_STATE_MIN_KEY 32	  /* bytes */
#define MCP_STATE_MAX_KEY 64	  /* bytes */
#define MCP_STATE_MAX_TOKEN 16384 /* characters of a requestState */
#define MCP_STATE_DEFAULT_TTL 600 /* seconds */
#define MCP_STATE_MAX_TTL 86400

/* The keys: key[0] signs, every one verifies (rotation with an overlap). */
struct mcp_state_keys {
	unsigned n;
	size_t len[MCP_STATE_MAX_KEYS];
	unsigned char key[MCP_STATE_MAX_KEYS][MCP_STATE_MAX_KEY];
};

/* Decodes base64 s[0..n) into out (room for n * 3 / 4 bytes): url != 0
 * the URL alphabet without padding, else the standard alphabet padded to
 * a multiple of 4. Only the canonical text is accepted (unused bits
 * zero). Returns the length, or -1. */
long mcp_b64_decode(const char *s, size_t n, unsigned char *out, int url);
/* Encodes p[0..n) into out (room for (n + 2) / 3 * 4 bytes, no NUL is
 * written): url != 0 the URL alphabet without padding, else the standard
 * alphabet padded to a multiple of 4. Returns the characters written. */
size_t mcp_b64_encode(const unsigned char *p, size_t n, char *out, int url);

/* Reads a key file: one key a line as hex (64 to 128 hex digits, i.e. 32 to
 * 64 bytes), blank lines and lines starting with '#' ignored, 1 to
 * MCP_STATE_MAX_KEYS keys; the first signs. The file must not be readable
 * by group or others. Returns 0 and fills *out, or -1 with "file:line:
 * message" in err (*out untouched). */
int mcp_state_keys_load(const char *path, struct mcp_state_keys *out, char *err,
			size_t errlen);

/* One fresh random key (this process only). Returns 0, or -1 if the
 * system has no randomness to give. */
int mcp_state_keys_random(struct mcp_state_keys *out);

/* Seals state (borrowed; any JSON value) for a request to method on target
 * (tool or prompt name, resource URI) with arguments args (borrowed, may be
 * NULL), valid until now + ttl. Returns a new NUL-terminated token (free()
 * it), or NULL when it would exceed MCP_STATE_MAX_TOKEN or on allocation
 * failure. */
char *mcp_state_seal(const struct mcp_state_keys *k, const char *method,
		     const char *target, const json_t *args,
		     const json_t *state, time_t now, unsigned ttl);

/* Verifies token (len bytes, untrusted) for a request to method on target
 * with args at time now. Returns 0 and a new reference to the state in
 * *state; or -1 with *why saying what failed (static text): malformed,
 * bad signature (tampered, or signed with a key no longer in the ring),
 * expired, or issued for another request. */
int mcp_state_open(const struct mcp_state_keys *k, const char *token,
		   size_t len, const char *method, const char *target,
		   const json_t *args, time_t now, json_t **state,
		   const char **why);

#endif
