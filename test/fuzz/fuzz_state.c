/* Fuzz target: 2026-07-28 request state (mcp/rev2026_state.c). The input
 * is opened as a requestState token (attacker-controlled: must never
 * crash, and nothing but a sealed token may open), and also sealed as a
 * state and opened back: the round trip must give the state again, and a
 * token with one byte changed must not open. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rev2026_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1800000000

static const struct mcp_state_keys *keys(void)
{
	static struct mcp_state_keys k;

	if (k.n == 0) { /* fixed keys: runs are reproducible */
		k.n = 2;
		k.len[0] = k.len[1] = 32;
		memset(k.key[0], 0x5a, 32);
		memset(k.key[1], 0xa5, 32);
	}
	return &k;
}

/* The input as a token: whatever it is, it must not open (the fuzzer
 * cannot produce a valid MAC) unless it came from mcp_state_seal. */
static void open_raw(const uint8_t *data, size_t size)
{
	json_t *st = NULL;
	const char *why = NULL;

	if (mcp_state_open(keys(), (const char *)data, size, "tools/call", "t",
			   NULL, NOW, &st, &why) == 0)
		abort(); /* a forged token opened */
	if (!why || st)
		abort();
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char flip_low_bit(char c)
{
	const char *p = strchr(b64, c);

	return p && c ? b64[(p - b64) ^ 1] : 'A';
}

/* tok with tok[at] = c must not open; tok is restored. */
static void changed_fails(char *tok, size_t len, size_t at, char c,
			  json_t *args)
{
	char was = tok[at];
	json_t *got = NULL;
	const char *why;

	tok[at] = c;
	if (mcp_state_open(keys(), tok, len, "tools/call", "t", args, NOW, &got,
			   &why) == 0)
		abort(); /* a changed token opened */
	tok[at] = was;
}

static void round_trip(const uint8_t *data, size_t size)
{
	json_t *state = json_stringn((const char *)data, size), *got = NULL;
	json_t *args = json_pack("{s:i}", "n", (int)(size % 7));
	const char *why = NULL;
	char *tok;
	size_t len, at;

	if (!state) /* not UTF-8 */
		goto out;
	tok = mcp_state_seal(keys(), "tools/call", "t", args, state, NOW, 60);
	if (!tok) /* over the cap */
		goto out;
	len = strlen(tok);
	if (len > MCP_STATE_MAX_TOKEN)
		abort();
	if (mcp_state_open(keys(), tok, len, "tools/call", "t", args, NOW, &got,
			   &why) != 0 ||
	    !json_equal(got, state))
		abort();
	json_decref(got);
	got = NULL;
	/* a byte the input picks, and the lowest bit of the last character
	 * (an unused bit of the MAC's encoding: only a canonical decoder
	 * notices it) */
	at = size ? data[0] % len : 0;
	changed_fails(tok, len, at, tok[at] == 'A' ? 'B' : 'A', args);
	changed_fails(tok, len, len - 1, flip_low_bit(tok[len - 1]), args);
	free(tok);
out:
	json_decref(state);
	json_decref(args);
	json_decref(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	open_raw(data, size);
	round_trip(data, size);
	return 0;
}
