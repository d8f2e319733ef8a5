/* Unit tests of the 2026-07-28 request state (mcp/rev2026_state.c): a
 * sealed state opens only unchanged, before its expiry, for the request it
 * was issued for, under a key of the ring; key files with rotation; caps.
 * Each rejection case proves one check: with that check removed from
 * mcp_state_open the matching CHECK turns red. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rev2026_state.h"
#include "zgtest.h"

#define NOW 1800000000

static const char key_a[] =
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char key_b[] =
	"ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

/* Writes text to a new private temporary file; returns its path (static
 * buffer) or NULL. */
static const char *key_file(const char *text, mode_t mode)
{
	static char path[64];
	int fd;

	/* in the working directory (ctest: the build's test directory) */
	snprintf(path, sizeof path, "%s", "zg-state-keys.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return NULL;
	}
	fchmod(fd, mode);
	close(fd);
	return path;
}

static int load(const char *text, mode_t mode, struct mcp_state_keys *k,
		char *err, size_t n)
{
	const char *p = key_file(text, mode);
	int rc;

	if (!p)
		return -2;
	rc = mcp_state_keys_load(p, k, err, n);
	unlink(p);
	return rc;
}

/* Opens tok for tools/call on "t" with args at now; returns the result
 * and sets *why. */
static int open_as(const struct mcp_state_keys *k, const char *tok,
		   const char *target, json_t *args, time_t now,
		   const char **why)
{
	json_t *st = NULL;
	int rc = mcp_state_open(k, tok, strlen(tok), "tools/call", target, args,
				now, &st, why);

	json_decref(st);
	return rc;
}

static void test_round_trip_and_tamper(void)
{
	struct mcp_state_keys k;
	json_t *args = json_pack("{s:i}", "n", 1);
	json_t *state =
		json_pack("{s:s, s:i}", "step", "confirm", "amount", 100);
	json_t *got = NULL;
	const char *why = NULL;
	char *tok, *bad;
	size_t dot;

	CHECK(mcp_state_keys_random(&k) == 0);
	tok = mcp_state_seal(&k, "tools/call", "t", args, state, NOW, 60);
	CHECK(tok != NULL);
	if (!tok)
		goto out;
	CHECK(mcp_state_open(&k, tok, strlen(tok), "tools/call", "t", args, NOW,
			     &got, &why) == 0);
	CHECK(json_equal(got, state));
	json_decref(got);

	/* the suite's tamper: something appended */
	bad = malloc(strlen(tok) + 10);
	snprintf(bad, strlen(tok) + 10, "%s-TAMPERED", tok);
	CHECK(open_as(&k, bad, "t", args, NOW, &why) != 0);
	/* one payload character changed (the MAC check, not the format) */
	snprintf(bad, strlen(tok) + 10, "%s", tok);
	dot = strlen("zrs1.") + 3;
	bad[dot] = bad[dot] == 'A' ? 'B' : 'A';
	CHECK(open_as(&k, bad, "t", args, NOW, &why) != 0);
	CHECK(why && strstr(why, "verification"));
	free(bad);

	/* expiry: valid just before, not at it */
	CHECK(open_as(&k, tok, "t", args, NOW + 59, &why) == 0);
	CHECK(open_as(&k, tok, "t", args, NOW + 60, &why) != 0);
	CHECK(why && strstr(why, "expired"));
	/* bound to the request: another tool, other arguments */
	CHECK(open_as(&k, tok, "u", args, NOW, &why) != 0);
	CHECK(why && strstr(why, "another request"));
	json_object_set_new(args, "n", json_integer(2));
	CHECK(open_as(&k, tok, "t", args, NOW, &why) != 0);
	CHECK(why && strstr(why, "another request"));
	free(tok);
out:
	json_decref(args);
	json_decref(state);
}

static void test_rotation(void)
{
	struct mcp_state_keys old_only, ring, new_only;
	char text[512], err[256];
	json_t *st = json_string("s");
	const char *why;
	char *tok;

	snprintf(text, sizeof text, "# old key\n%s\n", key_b);
	CHECK(load(text, 0600, &old_only, err, sizeof err) == 0);
	snprintf(text, sizeof text, "%s\n\n  %s  \n", key_a, key_b);
	CHECK(load(text, 0600, &ring, err, sizeof err) == 0);
	CHECK_EQ_INT((int)ring.n, 2);
	snprintf(text, sizeof text, "%s\n", key_a);
	CHECK(load(text, 0400, &new_only, err, sizeof err) == 0);

	/* a state sealed by a replica still on the old key is accepted
	 * while the ring holds it, and not after it left the ring */
	tok = mcp_state_seal(&old_only, "tools/call", "t", NULL, st, NOW, 60);
	CHECK(tok && open_as(&ring, tok, "t", NULL, NOW, &why) == 0);
	CHECK(tok && open_as(&new_only, tok, "t", NULL, NOW, &why) != 0);
	free(tok);
	/* the ring signs with its first key */
	tok = mcp_state_seal(&ring, "tools/call", "t", NULL, st, NOW, 60);
	CHECK(tok && open_as(&new_only, tok, "t", NULL, NOW, &why) == 0);
	CHECK(tok && open_as(&old_only, tok, "t", NULL, NOW, &why) != 0);
	free(tok);
	json_decref(st);
}

static void test_key_files(void)
{
	struct mcp_state_keys k;
	char text[1200], err[256];

	snprintf(text, sizeof text, "%s\n", key_a);
	CHECK(load(text, 0644, &k, err, sizeof err) == -1);
	CHECK(strstr(err, "owner only") != NULL);
	CHECK(load("# nothing\n", 0600, &k, err, sizeof err) == -1);
	CHECK(load("abcd\n", 0600, &k, err, sizeof err) == -1);
	CHECK(strstr(err, ":1:") != NULL);
	snprintf(text, sizeof text, "%s\n%.62sxz\n", key_a, key_b);
	CHECK(load(text, 0600, &k, err, sizeof err) == -1);
	CHECK(strstr(err, ":2:") != NULL);
	for (int i = 0, at = 0; i < MCP_STATE_MAX_KEYS + 1; i++)
		at += snprintf(text + at, sizeof text - (size_t)at, "%s\n",
			       key_a);
	CHECK(load(text, 0600, &k, err, sizeof err) == -1);
	CHECK(strstr(err, "more than") != NULL);
}

static void test_caps(void)
{
	struct mcp_state_keys k;
	char *big = malloc(MCP_STATE_MAX_TOKEN + 2);
	json_t *st;
	const char *why;

	CHECK(mcp_state_keys_random(&k) == 0);
	memset(big, 'a', MCP_STATE_MAX_TOKEN);
	big[MCP_STATE_MAX_TOKEN] = '\0';
	st = json_string(big);
	/* too big to seal: the handler gets an error, not a huge token */
	CHECK(mcp_state_seal(&k, "tools/call", "t", NULL, st, NOW, 60) == NULL);
	json_decref(st);
	memcpy(big, "zrs1.", 5);
	big[MCP_STATE_MAX_TOKEN] = 'a';
	big[MCP_STATE_MAX_TOKEN + 1] = '\0';
	CHECK(open_as(&k, big, "t", NULL, NOW, &why) != 0);
	CHECK(open_as(&k, "", "t", NULL, NOW, &why) != 0);
	CHECK(open_as(&k, "zrs1..", "t", NULL, NOW, &why) != 0);
	CHECK(open_as(&k, "zrs1.e30.!!", "t", NULL, NOW, &why) != 0);
	free(big);
}

int main(void)
{
	RUN(test_round_trip_and_tamper);
	RUN(test_rotation);
	RUN(test_key_files);
	RUN(test_caps);
	return ZGT_DONE();
}
