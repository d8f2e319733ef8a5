/* Gateway internals: SHA-256 against the FIPS 180-4 / NIST vectors, the
 * audit hash chain (verify, and detection of an edited, removed or
 * reordered line; every problem reported), records of hostile text,
 * UTF-8-safe cutting, config errors with file:line, what a config
 * reload may change, the token bucket, limits of a removed zone,
 * catalogue hashes and the metrics exposition (escaping, series cap). */
#include "gw.h"
#include "zgtest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/zg-gwcore.XXXXXX";

static void sha(const char *in, size_t n, const char *want)
{
	char out[65];

	sha256_hex(in, n, out);
	CHECK_STR(out, want);
}

static void test_sha256_vectors(void)
{
	char *m = malloc(1000000);

	sha("", 0,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha("abc", 3,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	sha("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
	    "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
	    112,
	    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	memset(m, 'a', 1000000);
	sha(m, 1000000,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* incremental updates in odd slices give the same digest */
	{
		struct sha256 s;
		uint8_t d[32];
		char hx[65];
		sha256_init(&s);
		for (size_t off = 0; off < 1000000;) {
			size_t k = (off % 97) + 1;
			if (off + k > 1000000)
				k = 1000000 - off;
			sha256_update(&s, m + off, k);
			off += k;
		}
		sha256_final(&s, d);
		for (int i = 0; i < 32; i++)
			snprintf(hx + 2 * i, 3, "%02x", d[i]);
		CHECK_STR(hx, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a4972"
			      "00e046d39ccc7112cd0");
	}
	free(m);
}

/* Both compression functions: the standard vectors, then the same
 * digests for inputs of every length from 0 to 300 bytes. */
static void test_sha256(void)
{
	char a[65], b[65];
	unsigned char buf[300];
	int have = sha256_use_accel(1);

	printf("# SHA extensions: %s\n", have ? "used" : "not available");
	test_sha256_vectors();
	sha256_use_accel(0);
	test_sha256_vectors();
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	for (size_t n = 0; n <= sizeof(buf); n++) {
		sha256_use_accel(0);
		sha256_hex(buf, n, a);
		sha256_use_accel(1);
		sha256_hex(buf, n, b);
		CHECK_STR(a, b);
	}
	sha256_use_accel(-1);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static void test_audit_chain(void)
{
	char path[256], err[256], id[64];
	size_t lines, bad;
	struct gw_audit *a;
	char *text, *p;
	size_t len;

	snprintf(path, sizeof(path), "%s/audit.log", dir);
	a = gw_audit_open(path, err, sizeof(err));
	CHECK(a != NULL);
	for (int i = 0; i < 5; i++) {
		json_t *r = json_pack("{s:s,s:i}", "zone", "agent-a", "n", i);
		gw_audit_new_id(a, id, sizeof(id));
		json_object_set_new(r, "id", json_string(id));
		CHECK_EQ_INT(gw_audit_append(a, r), 0);
		json_decref(r);
	}
	gw_audit_close(a);
	/* reopening continues the chain */
	a = gw_audit_open(path, err, sizeof(err));
	CHECK(a != NULL);
	{
		json_t *r = json_pack("{s:s}", "zone", "agent-b");
		gw_audit_append(a, r);
		json_decref(r);
	}
	gw_audit_close(a);
	CHECK_EQ_INT(gw_audit_verify(path, &lines, &bad, err, sizeof(err)), 0);
	CHECK_EQ_INT(lines, 6);
	/* edit one character of line 3 */
	text = gw_read_file(path, 1 << 20, &len, err, sizeof(err));
	p = text;
	for (int i = 0; i < 2; i++)
		p = strchr(p, '\n') + 1;
	p = strstr(p, "agent-a");
	p[6] = 'b';
	write_file(path, text);
	CHECK_EQ_INT(gw_audit_verify(path, &lines, &bad, err, sizeof(err)), -1);
	CHECK_EQ_INT(bad, 3);
	p[6] = 'a';
	/* remove line 2 */
	{
		char *l2 = strchr(text, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
		memmove(l2, l3, strlen(l3) + 1);
	}
	write_file(path, text);
	CHECK_EQ_INT(gw_audit_verify(path, &lines, &bad, err, sizeof(err)), -1);
	CHECK_EQ_INT(bad, 2);
	CHECK(strstr(err, "chain broken") != NULL);
	free(text);
	unlink(path);
}

struct probs {
	size_t n, lines[8];
};

static void collect(void *ud, const char *file, size_t line, const char *msg)
{
	struct probs *p = ud;

	(void)file;
	(void)msg;
	if (p->n < 8)
		p->lines[p->n] = line;
	p->n++;
}

/* Verification goes on after a bad record: two tampered records (one
 * edited, one removed) in one file are both reported. Fails with a
 * verify that stops at the first problem. */
static void test_audit_every_problem(void)
{
	char path[256], err[256], id[64];
	struct gw_audit *a;
	struct probs pr = { 0 };
	const char *paths[1];
	char *text, *p, *l7, *l8;
	size_t len, records;

	snprintf(path, sizeof(path), "%s/every.log", dir);
	a = gw_audit_open(path, err, sizeof(err));
	CHECK(a != NULL);
	for (int i = 0; i < 10; i++) {
		json_t *r = json_pack("{s:s,s:i}", "zone", "agent-a", "n", i);
		gw_audit_new_id(a, id, sizeof(id));
		json_object_set_new(r, "id", json_string(id));
		gw_audit_append(a, r);
		json_decref(r);
	}
	gw_audit_close(a);
	text = gw_read_file(path, 1 << 20, &len, err, sizeof(err));
	CHECK(text != NULL);
	p = strstr(strchr(text, '\n') + 1, "agent-a"); /* line 2 */
	p[6] = 'z';
	l7 = text;
	for (int i = 0; i < 6; i++)
		l7 = strchr(l7, '\n') + 1;
	l8 = strchr(l7, '\n') + 1;
	memmove(l7, l8, strlen(l8) + 1); /* line 7 removed */
	write_file(path, text);
	paths[0] = path;
	CHECK_EQ_INT(gw_audit_verify_files(paths, 1, collect, &pr, &records,
					   err, sizeof(err)),
		     2);
	CHECK_EQ_INT(records, 9);
	CHECK_EQ_INT(pr.lines[0], 2);
	CHECK_EQ_INT(pr.lines[1], 7);
	free(text);
	unlink(path);
}

/* Text a zone chose, in every field of a record: invalid UTF-8, quotes,
 * control characters, and values far longer than a record; the record
 * is written (none dropped), parses as JSON and the chain verifies. */
static void test_audit_hostile_text(void)
{
	char path[256], err[256], big[20000], cut[300];
	struct gw_audit *a;
	size_t lines, bad, len;
	char *text;
	json_t *j;

	memset(big, 0, sizeof(big));
	for (size_t i = 0; i + 4 < sizeof(big) - 1; i += 4)
		memcpy(big + i, "\xf0\x9f\x98\x80", 4); /* U+1F600 */
	snprintf(path, sizeof(path), "%s/hostile.log", dir);
	a = gw_audit_open(path, err, sizeof(err));
	CHECK(a != NULL);
	{
		struct gw_audit_rec r = { "id-1",
					  "agent-a",
					  "s1",
					  "resources/read",
					  "t1.test://x\xc3",
					  "deny",
					  NULL,
					  "q\"\\\n\x01\xff\xfe",
					  0,
					  0,
					  0,
					  0,
					  0,
					  NULL,
					  0,
					  { 0, 0, 0 },
					  NULL };
		CHECK_EQ_INT(gw_audit_record(a, &r), 0);
		r.target = big;
		r.reason = big;
		r.session = big;
		CHECK_EQ_INT(gw_audit_record(a, &r), 0);
	}
	gw_audit_close(a);
	CHECK_EQ_INT(gw_audit_verify(path, &lines, &bad, err, sizeof(err)), 0);
	CHECK_EQ_INT(lines, 2);
	text = gw_read_file(path, 1 << 20, &len, err, sizeof(err));
	CHECK(text != NULL);
	j = text ? json_loadb(text, strchr(text, '\n') - text, 0, NULL) : NULL;
	CHECK(j != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "target")),
		  "t1.test://x\xef\xbf\xbd");
	json_decref(j);
	free(text);
	unlink(path);
	/* the shared cut never ends inside a character */
	CHECK_EQ_INT(gw_utf8_prefix("ab\xc3\xa9", 3), 2);
	CHECK_EQ_INT(gw_utf8_prefix("ab\xc3\xa9", 4), 4);
	CHECK_EQ_INT(gw_utf8_prefix("\xe2\x82\xac\xe2\x82\xac", 5), 3);
	snprintf(cut, sizeof(cut), "%.*s", (int)gw_utf8_prefix(big, 199), big);
	CHECK_EQ_INT(strlen(cut), 196);
}

/* Denials over a zone's rate are counted into one aggregate: their ids
 * are AGG.N, the opening record has id AGG, the closing record names AGG,
 * the count and the distinct kinds; another zone keeps its own budget. */
static void test_audit_deny_aggregate(void)
{
	char path[256], err[256], id[64], agg[64] = "";
	struct gw_audit *a;
	size_t lines, bad, len;
	int own = 0, counted = 0;
	char *text, *p;

	snprintf(path, sizeof(path), "%s/deny.log", dir);
	a = gw_audit_open(path, err, sizeof(err));
	CHECK(a != NULL);
	gw_audit_set_deny_rate(a, 10);
	for (int i = 0; i < 25; i++) {
		gw_audit_new_id(a, id, sizeof(id));
		if (gw_audit_deny(a, 3, "agent-x", "tools/call",
				  i % 2 ? "(denied)" : "(unknown)",
				  "no such target", id, sizeof(id))) {
			counted++;
			if (!agg[0]) {
				snprintf(agg, sizeof(agg), "%s", id);
				*strrchr(agg, '.') = '\0';
			}
		} else {
			own++;
		}
	}
	gw_audit_new_id(a, id, sizeof(id));
	CHECK_EQ_INT(gw_audit_deny(a, 4, "agent-y", "tools/call", "(denied)",
				   "x", id, sizeof(id)),
		     0);
	CHECK(own >= 10 && own <= 11);
	CHECK_EQ_INT(own + counted, 25);
	CHECK(strchr(id, '.') == NULL);
	gw_audit_close(a); /* closes the open aggregate */
	CHECK_EQ_INT(gw_audit_verify(path, &lines, &bad, err, sizeof(err)), 0);
	CHECK_EQ_INT(lines, 2);
	text = gw_read_file(path, 1 << 20, &len, err, sizeof(err));
	CHECK(text != NULL);
	p = text ? strstr(text, "\"aggregate-end\"") : NULL;
	CHECK(p != NULL);
	CHECK(p && strstr(p, agg) && strstr(p, "\"reasons\":[{"));
	free(text);
	unlink(path);
}

static void config_error(const char *json, const char *want)
{
	char path[256], err[512] = "";
	struct gw_config *c;

	snprintf(path, sizeof(path), "%s/gw.json", dir);
	write_file(path, json);
	c = gw_config_load(path, err, sizeof(err));
	CHECK(c == NULL);
	gw_config_free(c);
	if (!strstr(err, want)) {
		fprintf(stderr, "  got '%s', want '%s'\n", err, want);
		CHECK(0);
	}
}

static void test_config(void)
{
	char path[256], err[512];
	struct gw_config *c;

	snprintf(path, sizeof(path), "%s/gw.json", dir);
	write_file(path, "{\n \"zones\": {\n  \"agent-a\": {\"domid\": 11, "
			 "\"role\": \"agent\", \"tags\": [\"r\"], \"chan\": "
			 "\"sim:11:a\"},\n  \"rag\": {\"domid\": 21, \"role\": "
			 "\"tool\", \"chan\": \"sim:21:rag\"}\n },\n"
			 " \"policy\": \"p.policy\",\n \"admin_socket\": "
			 "\"s.sock\"\n}\n");
	c = gw_config_load(path, err, sizeof(err));
	CHECK(c != NULL);
	if (c) {
		CHECK_EQ_INT(c->nzones, 2);
		CHECK_STR(c->zones[0].name, "agent-a");
		CHECK_EQ_INT(c->zones[1].role, GW_TOOL);
		CHECK(strstr(c->policy, "/p.policy") != NULL);
		CHECK(gw_zone_has_tag(&c->zones[0], "r"));
	}
	gw_config_free(c);
	config_error("{\n\"zones\": {\n", "gw.json:3:");
	config_error("{\n \"zones\": {\n  \"Bad\": {\"domid\": 1}\n },\n"
		     " \"policy\": \"p\"}\n",
		     "gw.json:3: bad zone name");
	config_error("{\n \"zones\": {\n  \"a\": {\"domid\": 1,\n"
		     "   \"role\": \"boss\", \"chan\": \"sim:1:a\"}\n },\n"
		     " \"policy\": \"p\"}\n",
		     "gw.json:4: zone a: role");
	config_error("{\n \"zones\": {\n  \"a\": {\"domid\": 1, \"role\": "
		     "\"agent\", \"chan\": \"sim:2:a\"}\n },\n \"policy\": "
		     "\"p\"}\n",
		     "domain 2 is not its domid 1");
	config_error("{\n \"zones\": {\n  \"a\": {\"domid\": 1, \"role\": "
		     "\"agent\", \"chan\": \"tcp:1:a\"}\n },\n \"policy\": "
		     "\"p\"}\n",
		     "gw.json:3: zone a: bad channel address");
	config_error("{\n \"zones\": {\n  \"a\": {\"domid\": 1, \"role\": "
		     "\"agent\", \"chan\": \"sim:1:a\"},\n  \"b\": {\"domid\": "
		     "1, \"role\": \"tool\", \"chan\": \"sim:1:b\"}\n },\n"
		     " \"policy\": \"p\"}\n",
		     "domid 1 already used");
	config_error("{\n \"zones\": {\n  \"a\": {\"domid\": 1, \"role\": "
		     "\"agent\", \"chan\": \"sim:1:a\"}\n },\n \"policy\": "
		     "\"p\",\n \"polcy\": 1}\n",
		     "gw.json:6: unknown key");
	config_error("{\n \"zones\": {\n  \"a\": {\"domid\": 1, \"role\": "
		     "\"agent\", \"chan\": \"sim:1:a\"}\n }\n}\n",
		     "missing \"policy\"");
	config_error("{\n \"zones\": {\n  \"a\": {\"domid\": 1, \"role\": "
		     "\"agent\", \"chan\": \"sim:1:a\"}\n },\n \"policy\": "
		     "\"p\",\n \"metrics\": \"0.0.0.0:80\"}\n",
		     "gw.json:6: metrics must be");
	config_error("[1]", "must be a JSON object");
}

/* A zone that is both agent and tool: one zone of the file, two entries
 * of the config (agent side with chan, tool side with tool_chan; same
 * name, domid and tags), each found by its role; and what is refused
 * with FILE:LINE (tool_chan without both, a side missing, url, a
 * tool_chan of another domain, one chan for both sides, the domid of
 * another zone). */
#define BZ(keys)                                                            \
	"{\n \"zones\": {\n  \"sup\": {\"domid\": 1, \"role\": \"agent\", " \
	"\"chan\": \"sim:1:sup\"},\n  \"cve\": {\"domid\": 2,\n   " keys    \
	"},\n  \"web\": {\"domid\": 3, \"role\": \"tool\", \"chan\": "      \
	"\"sim:3:web\"}\n },\n \"policy\": \"p\"\n}\n"
static void test_config_both(void)
{
	char path[256], err[512];
	struct gw_config *c;
	const struct gw_zone *a, *t;

	snprintf(path, sizeof(path), "%s/gw.json", dir);
	for (int form = 0; form < 2; form++) {
		write_file(path, form ? BZ("\"role\": \"both\", \"tags\": "
					   "[\"x\"], \"chan\": \"sim:2:cve\", "
					   "\"tool_chan\": \"sim:2:cve-t\"")
				      : BZ("\"role\": [\"tool\", \"agent\"], "
					   "\"tags\": [\"x\"], \"chan\": "
					   "\"sim:2:cve\", \"tool_chan\": "
					   "\"sim:2:cve-t\""));
		c = gw_config_load(path, err, sizeof(err));
		CHECK(c != NULL);
		if (!c) {
			fprintf(stderr, "  %s\n", err);
			continue;
		}
		CHECK_EQ_INT(c->nzones, 4);
		a = gw_config_zone_as(c, "cve", GW_AGENT);
		t = gw_config_zone_as(c, "cve", GW_TOOL);
		CHECK(a && t && a != t);
		CHECK(gw_config_zone(c, "cve") == a);
		if (a && t) {
			CHECK(a->both && t->both);
			CHECK_STR(a->chan, "sim:2:cve");
			CHECK_STR(t->chan, "sim:2:cve-t");
			CHECK_EQ_INT(t->domid, 2);
			CHECK(gw_zone_has_tag(t, "x") &&
			      gw_zone_has_tag(a, "x"));
		}
		CHECK(gw_config_zone_as(c, "sup", GW_TOOL) == NULL);
		CHECK(!gw_config_zone(c, "sup")->both);
		gw_config_free(c);
	}
	config_error(BZ("\"role\": \"agent\", \"chan\": \"sim:2:cve\", "
			"\"tool_chan\": \"sim:2:t\""),
		     "gw.json:4: zone cve: tool_chan is only for a zone that "
		     "is both");
	config_error(BZ("\"role\": [\"agent\", \"tool\"], \"chan\": "
			"\"sim:2:cve\""),
		     "gw.json:4: zone cve: a zone that is both agent and tool "
		     "needs chan");
	config_error(BZ("\"role\": [\"agent\", \"tool\"], \"tool_chan\": "
			"\"sim:2:cve\""),
		     "needs chan (its agent side) and tool_chan");
	config_error(BZ("\"role\": [\"agent\", \"agent\"], \"chan\": "
			"\"sim:2:cve\""),
		     "gw.json:5: zone cve: role must be");
	config_error(BZ("\"role\": [\"agent\", \"tool\", \"tool\"], "
			"\"chan\": \"sim:2:cve\""),
		     "gw.json:5: zone cve: role must be");
	config_error(BZ("\"role\": \"both\", \"chan\": \"sim:2:a\", "
			"\"tool_chan\": \"sim:2:t\", \"url\": "
			"\"https://example.org/mcp\""),
		     "gw.json:4: zone cve: url is for tool zones");
	config_error(BZ("\"role\": \"both\", \"chan\": \"sim:2:a\", "
			"\"tool_chan\": \"sim:9:t\""),
		     "gw.json:4: zone cve: tool_chan domain 9 is not its "
		     "domid 2");
	config_error(BZ("\"role\": \"both\", \"chan\": \"sim:2:a\", "
			"\"tool_chan\": \"sim:2:a\""),
		     "zone cve: chan already used by cve");
	config_error(BZ("\"role\": \"both\", \"chan\": \"sim:2:a\", "
			"\"tool_chan\": \"sim:2:t\", \"tool_chan2\": 1"),
		     "gw.json:5: zone cve: unknown key 'tool_chan2'");
	/* the twin exception is for the zone's own sides only */
	config_error("{\n \"zones\": {\n  \"a\": {\"domid\": 1, \"role\": "
		     "\"both\", \"chan\": \"sim:1:a\", \"tool_chan\": "
		     "\"sim:1:t\"},\n  \"b\": {\"domid\": 1, \"role\": "
		     "\"both\", \"chan\": \"sim:1:b\", \"tool_chan\": "
		     "\"sim:1:bt\"}\n },\n \"policy\": \"p\"}\n",
		     "gw.json:4: zone b: domid 1 already used by a");
}

/* The listeners key: loopback only, a zone of role agent, a token for
 * TCP, uid/user/token for unix; a chan-less agent zone needs one. */
#define LZ \
	"{\n \"zones\": {\n  \"h\": {\"domid\": 1, \"role\": \"agent\"},\n  \"t\": {\"domid\": 2, \"role\": \"tool\", \"chan\": \"sim:2:t\"}\n },\n \"policy\": \"p\",\n"
static const char *const bad_ports[] = {
	"x",
	"",
	"80x",
	"-1",
	" 80",
	"+80",
	"65536",
	"0x50",
	"8 0",
	"99999999999999999999",
	"184467440737095516160",
};

static void test_config_listeners(void)
{
	char path[256], err[512];
	struct gw_config *c;

	snprintf(path, sizeof(path), "%s/gw.json", dir);
	write_file(path,
		   LZ " \"listeners\": [\n  {\"listen\": "
		      "\"127.0.0.1:0\", \"zone\": \"h\", \"token_file\": "
		      "\"tok\"},\n  {\"listen\": \"unix:h.sock\", \"zone\": "
		      "\"h\", \"uid\": 0}\n ]\n}\n");
	c = gw_config_load(path, err, sizeof(err));
	CHECK(c != NULL);
	if (c) {
		CHECK_EQ_INT(c->nlisteners, 2);
		CHECK(c->zones[0].chan == NULL);
		CHECK(strstr(c->listeners[0].token_file, "/tok") != NULL);
		CHECK(c->listeners[1].has_uid && c->listeners[1].uid == 0);
		CHECK(strstr(c->listeners[1].unix_path, "/h.sock") != NULL);
	}
	gw_config_free(c);
	config_error(LZ " \"listeners\": [\n  {\"listen\": \"0.0.0.0:80\", "
			"\"zone\": \"h\", \"token_file\": \"t\"}]}\n",
		     "gw.json:8: listeners: 0.0.0.0:80 is not a loopback "
		     "address: a listener off loopback needs tls");
	config_error(LZ " \"listeners\": [\n  {\"listen\": \"127.0.0.1:80\", "
			"\"zone\": \"h\"}]}\n",
		     "gw.json:8: listeners: a TCP "
		     "listener needs token_file");
	config_error(LZ " \"listeners\": [\n  {\"listen\": \"unix:s\", "
			"\"zone\": \"h\"}]}\n",
		     "needs uid, user or token_file");
	config_error(LZ " \"listeners\": [\n  {\"listen\": \"unix:s\", "
			"\"zone\": \"t\", \"uid\": 1}]}\n",
		     "gw.json:8: listeners: zone t must be an agent zone");
	config_error(LZ " \"listeners\": [\n  {\"listen\": \"unix:s\", "
			"\"zone\": \"h\", \"uid\": 1, \"port\": 2}]}\n",
		     "unknown key 'port'");
	config_error(LZ " \"listeners\": [\n  {\"listen\": \"127.0.0.1:x\", "
			"\"zone\": \"h\", \"token_file\": \"t\"}]}\n",
		     "bad port");
	/* ports go through zg_parse_int: no sign, space, junk or overflow
	 * (strtol let " 80" and "+80" pass) */
	for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
		char text[512];

		snprintf(text, sizeof(text),
			 LZ " \"listeners\": [\n  {\"listen\": "
			    "\"127.0.0.1:%s\", \"zone\": \"h\", "
			    "\"token_file\": \"t\"}]}\n",
			 bad_ports[i]);
		config_error(text, "gw.json:8: listeners: bad port");
		snprintf(text, sizeof(text),
			 LZ " \"metrics\": \"127.0.0.1:%s\",\n"
			    " \"listeners\": [\n  {\"listen\": \"unix:s\", "
			    "\"zone\": \"h\", \"uid\": 1}]}\n",
			 bad_ports[i]);
		config_error(text, "gw.json:7: metrics must be 127.0.0.1:PORT");
	}
	config_error(LZ " \"listeners\": []}\n", "zone h: needs chan (or a "
						 "listener bound to it)");
	config_error(LZ " \"listeners\": [{}, {}, {}, {}, {}, {}, {}, {}, {}, "
			"{}, {}, {}, {}, {}, {}, {}, {}]}\n",
		     "at most 16");
}

/* Zones identified by a Kubernetes service account, and the k8s
 * listener that maps tokens to them: one of chan/url/k8s, agent only,
 * unique service accounts, unknown keys refused with file:line, and a
 * listener off loopback only with tls. */
#define KZ \
	"{\n \"zones\": {\n  \"h\": {\"role\": \"agent\", \"k8s\": {\"namespace\": \"ns1\", \"serviceAccount\": \"sa-1\"}},\n  \"t\": {\"domid\": 2, \"role\": \"tool\", \"chan\": \"sim:2:t\"}\n },\n \"policy\": \"p\",\n"
#define KL \
	" \"listeners\": [\n  {\"listen\": \"0.0.0.0:8443\", \"tls\": {\"cert\": \"c.pem\", \"key\": \"k.pem\"}, \"k8s\": {\"audience\": \"zonegate\", \"issuer\": \"https://kubernetes.default.svc.cluster.local\", \"jwks\": \"jwks.json\"}}\n ]\n}\n"
static void test_config_k8s(void)
{
	char path[256], err[512];
	struct gw_config *c;

	snprintf(path, sizeof(path), "%s/gw.json", dir);
	write_file(path, KZ KL);
	c = gw_config_load(path, err, sizeof(err));
	CHECK(c != NULL);
	if (c) {
		CHECK(gw_config_k8s_zone(c, "ns1", "sa-1") == &c->zones[0]);
		CHECK(gw_config_k8s_zone(c, "ns1", "sa-2") == NULL);
		CHECK(gw_config_k8s_zone(c, "ns2", "sa-1") == NULL);
		CHECK_EQ_INT(c->zones[0].domid, -1);
		CHECK(c->listeners[0].zone[0] == '\0');
		CHECK(!c->listeners[0].loopback);
		CHECK(strstr(c->listeners[0].k8s_jwks, "/jwks.json") != NULL);
		CHECK(strstr(c->listeners[0].tls_key, "/k.pem") != NULL);
	}
	gw_config_free(c);
	config_error(KZ " \"listeners\": [\n  {\"listen\": \"0.0.0.0:8443\", "
			"\"k8s\": {\"audience\": \"a\", \"issuer\": \"i\", "
			"\"jwks\": \"j\"}}]}\n",
		     "gw.json:8: listeners: 0.0.0.0:8443 is not a loopback "
		     "address: a listener off loopback needs tls");
	config_error(KZ " \"listeners\": [\n  {\"listen\": \"[::]:8443\", "
			"\"k8s\": {\"audience\": \"a\", \"issuer\": \"i\", "
			"\"jwks\": \"j\"}}]}\n",
		     "gw.json:8: listeners: [::]:8443 is not a loopback "
		     "address");
	config_error(KZ " \"listeners\": [\n  {\"listen\": \"zonegate:8443\", "
			"\"k8s\": {\"audience\": \"a\", \"issuer\": \"i\", "
			"\"jwks\": \"j\"}}]}\n",
		     "'zonegate' is not a numeric IP address");
	config_error(KZ " \"listeners\": [\n  {\"listen\": \"unix:k.sock\", "
			"\"tls\": {\"cert\": \"c\", \"key\": \"k\"}, "
			"\"k8s\": {\"audience\": \"a\", \"issuer\": \"i\", "
			"\"jwks\": \"j\"}}]}\n",
		     "tls and k8s are for TCP listeners");
	write_file(path, KZ " \"listeners\": [\n  {\"listen\": \"[::1]:0\", "
			    "\"k8s\": {\"audience\": \"a\", \"issuer\": "
			    "\"i\", \"jwks\": \"j\"}}]}\n");
	c = gw_config_load(path, err, sizeof(err));
	CHECK(c != NULL && c->listeners[0].loopback &&
	      strcmp(c->listeners[0].host, "::1") == 0 &&
	      !c->listeners[0].tls_cert);
	gw_config_free(c);
	config_error(KZ " \"listeners\": [\n  {\"listen\": \"127.0.0.1:1\", "
			"\"k8s\": {\"audience\": \"a\", \"issuer\": \"i\", "
			"\"jwks\": \"j\", \"ttl\": 1}}]}\n",
		     "gw.json:8: listeners: k8s: unknown key 'ttl'");
	config_error(KZ " \"listeners\": [\n  {\"listen\": \"127.0.0.1:1\", "
			"\"zone\": \"h\", \"k8s\": {\"audience\": \"a\", "
			"\"issuer\": \"i\", \"jwks\": \"j\"}}]}\n",
		     "a k8s listener binds no zone");
	config_error(KZ
		     " \"listeners\": [\n  {\"listen\": \"127.0.0.1:1\", "
		     "\"k8s\": {\"audience\": \"a\", \"issuer\": \"i\"}}]}\n",
		     "listeners: k8s.jwks must be a non-empty path");
	config_error(KZ " \"listeners\": []}\n",
		     "gw.json:3: zone h: k8s needs a listener with k8s");
	config_error("{\n \"zones\": {\n  \"h\": {\"role\": \"agent\", "
		     "\"k8s\": {\"namespace\": \"n\", \"serviceAccount\": "
		     "\"s\", \"pod\": \"x\"}}\n },\n \"policy\": \"p\"}\n",
		     "gw.json:3: zone h: k8s: unknown key 'pod'");
	config_error("{\n \"zones\": {\n  \"h\": {\"role\": \"agent\", "
		     "\"k8s\": {\"namespace\": \"N_S\", \"serviceAccount\": "
		     "\"s\"}}\n },\n \"policy\": \"p\"}\n",
		     "zone h: k8s: namespace must be a DNS-1123 label");
	config_error("{\n \"zones\": {\n  \"h\": {\"domid\": 1, \"role\": "
		     "\"agent\", \"chan\": \"sim:1:h\", \"k8s\": "
		     "{\"namespace\": \"n\", \"serviceAccount\": \"s\"}}\n },\n"
		     " \"policy\": \"p\"}\n",
		     "zone h: give one of chan, url and k8s");
	config_error("{\n \"zones\": {\n  \"h\": {\"role\": \"tool\", "
		     "\"k8s\": {\"namespace\": \"n\", \"serviceAccount\": "
		     "\"s\"}}\n },\n \"policy\": \"p\"}\n",
		     "zone h: k8s identifies agent zones");
	config_error("{\n \"zones\": {\n  \"h\": {\"role\": \"agent\", "
		     "\"k8s\": {\"namespace\": \"n\", \"serviceAccount\": "
		     "\"s\"}},\n  \"g\": {\"role\": \"agent\", \"k8s\": "
		     "{\"namespace\": \"n\", \"serviceAccount\": \"s\"}}\n },\n"
		     " \"policy\": \"p\"}\n",
		     "already identifies");
}

static void test_bucket(void)
{
	struct gw_bucket b;
	int got = 0;

	gw_bucket_init(&b, 5, 1000, 0);
	for (int i = 0; i < 10; i++)
		got += gw_bucket_take(&b, 0);
	CHECK_EQ_INT(got, 5);
	CHECK_EQ_INT(gw_bucket_take(&b, 100), 0); /* 0.5 token */
	CHECK_EQ_INT(gw_bucket_take(&b, 200), 1); /* 1 token */
	CHECK_EQ_INT(gw_bucket_take(&b, 200), 0);
	/* never more than the burst after a long pause */
	got = 0;
	for (int i = 0; i < 10; i++)
		got += gw_bucket_take(&b, 100000);
	CHECK_EQ_INT(got, 5);
	/* per minute */
	gw_bucket_init(&b, 60, 60000, 0);
	for (int i = 0; i < 60; i++)
		gw_bucket_take(&b, 0);
	CHECK_EQ_INT(gw_bucket_take(&b, 999), 0);
	CHECK_EQ_INT(gw_bucket_take(&b, 1000), 1);
}

/* The denial budget's bucket: charges go into debt (bounded by the
 * capacity), the wait is until one whole token is back, and a new rate
 * keeps the tokens (cut to the new cap). */
static void test_bucket_debt(void)
{
	struct gw_bucket b;

	gw_bucket_init(&b, 10, 1000, 0); /* 10 a second: 1 per 100 ms */
	CHECK_EQ_INT((int)gw_bucket_wait_ms(&b, 0), 0);
	for (int i = 0; i < 13; i++)
		gw_bucket_charge(&b, 0); /* 3 over: tokens -3 */
	/* 4 tokens to earn back: 400 ms (rounded up by one) */
	CHECK((int)gw_bucket_wait_ms(&b, 0) >= 400);
	CHECK((int)gw_bucket_wait_ms(&b, 0) <= 401);
	CHECK((int)gw_bucket_wait_ms(&b, 300) > 0);
	CHECK_EQ_INT((int)gw_bucket_wait_ms(&b, 400), 0);
	/* the debt is bounded by the capacity */
	for (int i = 0; i < 1000; i++)
		gw_bucket_charge(&b, 400);
	CHECK((int)gw_bucket_wait_ms(&b, 400) <= 1101);
	/* a lower rate cuts the tokens to its cap */
	gw_bucket_init(&b, 100, 1000, 0);
	gw_bucket_set(&b, 2, 1000);
	gw_bucket_charge(&b, 0);
	gw_bucket_charge(&b, 0);
	CHECK((int)gw_bucket_wait_ms(&b, 0) > 0);
}

static struct policy *pol(const char *text)
{
	char err[256];
	struct policy *p = policy_parse_buffer("t.policy", text, strlen(text),
					       err, sizeof(err));

	if (!p)
		printf("# %s\n", err);
	CHECK(p != NULL);
	return p;
}

/* Limit state across policy reloads: an unchanged rule (wherever it
 * moved, however it is spaced) keeps its bucket and in-flight count; a
 * changed or removed one starts afresh; a counter of calls still in
 * flight outlives its rule until they end. */
static void test_limits_reload(void)
{
	struct gw_limits *l = gw_limits_new();
	struct policy *p1 = pol("a t.x allow rate=2/m\n"
				"a t.y allow concurrency=1\n");
	struct policy *p2 = pol("# moved down, respaced\n"
				"b t.* allow\n"
				"a   t.x  allow   rate=2/m\n"
				"a t.y allow concurrency=1\n");
	struct policy *p3 = pol("a t.x allow rate=3/m\n");
	struct policy *p4 = pol("a t.x allow rate=3/m\n");
	const struct pol_rule *x1 = policy_rule(p1, 0),
			      *y1 = policy_rule(p1, 1);
	struct gw_limit *lx, *ly;

	CHECK(x1->sig == policy_rule(p2, 1)->sig);
	CHECK(y1->sig == policy_rule(p2, 2)->sig);
	CHECK(x1->sig != policy_rule(p3, 0)->sig);
	lx = gw_limits_get(l, x1, 0, 0);
	CHECK(gw_bucket_take(&lx->bucket, 0) && gw_bucket_take(&lx->bucket, 0));
	CHECK(!gw_bucket_take(&lx->bucket, 0));
	/* another zone has its own bucket */
	CHECK(gw_bucket_take(&gw_limits_get(l, x1, 1, 0)->bucket, 0));
	ly = gw_limits_get(l, y1, 0, 0);
	ly->inflight = 1;
	CHECK_EQ_INT(gw_limits_count(l), 3);
	/* reload with the same rules elsewhere: nothing refilled or lost */
	gw_limits_retain(l, p2);
	CHECK_EQ_INT(gw_limits_count(l), 3);
	CHECK(gw_limits_get(l, policy_rule(p2, 1), 0, 0) == lx);
	CHECK(!gw_bucket_take(&lx->bucket, 0));
	CHECK(gw_limits_get(l, policy_rule(p2, 2), 0, 0) == ly);
	CHECK_EQ_INT(ly->inflight, 1);
	/* the rate changed: a fresh bucket; y's rule is gone but a call
	 * still holds its counter */
	gw_limits_retain(l, p3);
	CHECK_EQ_INT(gw_limits_count(l), 1);
	lx = gw_limits_get(l, policy_rule(p3, 0), 0, 0);
	CHECK_EQ_INT(gw_limits_count(l), 2);
	CHECK(gw_bucket_take(&lx->bucket, 0));
	CHECK_EQ_INT(ly->inflight, 1);
	ly->inflight = 0; /* the call ended */
	gw_limits_retain(l, p4);
	CHECK_EQ_INT(gw_limits_count(l), 1);
	policy_free(p1);
	policy_free(p2);
	policy_free(p3);
	policy_free(p4);
	gw_limits_free(l);
}

/* A zone left the config: its limits go, but for a counter a call in
 * flight still holds, and another zone's stay; a zone given its index
 * later starts with a full bucket. */
static void test_limits_forget(void)
{
	struct gw_limits *l = gw_limits_new();
	struct policy *p = pol("* t.x allow rate=1/m concurrency=2\n");
	const struct pol_rule *r = policy_rule(p, 0);
	struct gw_limit *a, *b;

	a = gw_limits_get(l, r, 3, 0);
	b = gw_limits_get(l, r, 4, 0);
	CHECK(gw_bucket_take(&a->bucket, 0) && !gw_bucket_take(&a->bucket, 0));
	CHECK(gw_bucket_take(&b->bucket, 0));
	b->inflight = 1;
	gw_limits_forget_zone(l, 3);
	gw_limits_forget_zone(l, 4);
	CHECK_EQ_INT(gw_limits_count(l), 1);
	CHECK(gw_limits_get(l, r, 4, 0) == b);
	CHECK(gw_bucket_take(&gw_limits_get(l, r, 3, 0)->bucket, 0));
	policy_free(p);
	gw_limits_free(l);
}

/* Reload: which zones are the same (name, role, domid, chan) and which
 * equal in every key; the keys that need a restart are named; adopting
 * keeps the new zones where they are and hands back the old ones. */
#define RZ(T, C)                                                               \
	"{\n \"zones\": {\n  \"a\": {\"domid\": 1, \"role\": \"agent\", "      \
	"\"tags\": [" T "], \"chan\": \"sim:1:a\"},\n  \"t\": {\"domid\": 2, " \
	"\"role\": \"tool\", \"chan\": \"sim:2:" C "\"}\n },\n \"policy\": "   \
	"\"p\",\n"
static struct gw_config *rconf(const char *json)
{
	char path[256], err[512] = "";
	struct gw_config *c;

	snprintf(path, sizeof(path), "%s/gw.json", dir);
	write_file(path, json);
	c = gw_config_load(path, err, sizeof(err));
	if (!c)
		fprintf(stderr, "  %s\n", err);
	return c;
}

static void test_config_reload(void)
{
	struct gw_config *c =
		rconf(RZ("\"x\"", "t") " \"audit_log\": \"a.log\"}\n");
	struct gw_config *n1 =
		rconf(RZ("\"y\"", "t2") " \"audit_log\": "
					"\"a.log\", \"call_timeout_ms\": 5}\n");
	struct gw_config *n2 =
		rconf(RZ("\"x\"", "t") " \"audit_log\": \"b.log\"}\n");
	struct gw_config *n3 =
		rconf(RZ("\"x\"", "t") " \"audit_log\": \"a.log\", "
				       "\"max_message\": 2048}\n");
	char err[512] = "";
	const struct gw_zone *z;

	CHECK(c && n1 && n2 && n3);
	if (!c || !n1 || !n2 || !n3)
		goto out;
	/* a's tags changed: the same zone, not equal; t's chan: another */
	CHECK(gw_zone_same(&c->zones[0], &n1->zones[0]));
	CHECK(!gw_zone_equal(&c->zones[0], &n1->zones[0]));
	CHECK(gw_zone_equal(&c->zones[0], &n2->zones[0]));
	CHECK(!gw_zone_same(&c->zones[1], &n1->zones[1]));
	CHECK_EQ_INT(gw_config_reload_check(c, n1, err, sizeof(err)), 0);
	CHECK_EQ_INT(gw_config_reload_check(c, n2, err, sizeof(err)), -1);
	CHECK(strstr(err, "gw.json: \"audit_log\" changed") != NULL);
	CHECK_EQ_INT(gw_config_reload_check(c, n3, err, sizeof(err)), -1);
	CHECK(strstr(err, "\"max_message\" changed") != NULL);
	z = &n1->zones[1];
	gw_config_adopt(c, n1);
	CHECK(&c->zones[1] == z);
	CHECK_EQ_INT(c->call_timeout_ms, 5);
	CHECK(gw_zone_has_tag(&c->zones[0], "y"));
	CHECK(gw_zone_has_tag(&n1->zones[0], "x"));
	CHECK(strstr(c->audit_log, "/a.log") != NULL);
out:
	gw_config_free(c);
	gw_config_free(n1);
	gw_config_free(n2);
	gw_config_free(n3);
}

/* Order of tools and of members does not matter; every member of a
 * definition does (title, outputSchema, annotations: a flip of
 * destructiveHint to readOnlyHint changes the hash). */
static void test_catalogue_hash(void)
{
	json_t *a = json_loads("[{\"name\":\"b\",\"description\":\"B\"},"
			       "{\"name\":\"a\",\"inputSchema\":{\"type\":"
			       "\"object\"},\"title\":\"x\",\"annotations\":"
			       "{\"destructiveHint\":true}}]",
			       0, NULL);
	json_t *b = json_loads("[{\"annotations\":{\"destructiveHint\":true},"
			       "\"name\":\"a\",\"inputSchema\":{\"type\":"
			       "\"object\"},\"title\":\"x\"},"
			       "{\"description\":\"B\",\"name\":\"b\"}]",
			       0, NULL);
	static const char *const edits[][2] = {
		{ "title", "\"y\"" },
		{ "annotations", "{\"readOnlyHint\":true}" },
		{ "annotations", "{\"destructiveHint\":false}" },
		{ "outputSchema", "{\"type\":\"object\"}" },
		{ "icons", "[{\"src\":\"https://example.org/i.png\"}]" },
		{ "_meta", "{\"ui\":1}" },
	};
	char h1[65], h2[65];

	gw_catalogue_hash(a, NULL, NULL, NULL, h1);
	gw_catalogue_hash(b, NULL, NULL, NULL, h2);
	CHECK_STR(h1, h2);
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		json_t *c = json_deep_copy(b);
		json_object_set_new(json_array_get(c, 0), edits[i][0],
				    json_loads(edits[i][1], JSON_DECODE_ANY,
					       NULL));
		gw_catalogue_hash(c, NULL, NULL, NULL, h2);
		CHECK(strcmp(h1, h2) != 0);
		json_decref(c);
	}
	json_object_set_new(json_array_get(b, 1), "description",
			    json_string("C"));
	gw_catalogue_hash(b, NULL, NULL, NULL, h2);
	CHECK(strcmp(h1, h2) != 0);
	/* a definition of only the three members hashes as before (the
	 * SHA-256 of [{"description":"d","inputSchema":{},"name":"t"}]) */
	{
		json_t *o = json_loads("[{\"name\":\"t\",\"description\":"
				       "\"d\",\"inputSchema\":{}}]",
				       0, NULL);
		gw_catalogue_hash(o, NULL, NULL, NULL, h2);
		CHECK_STR(h2, "811f966944dbfed1731c18106595b84848e60b3d5d44d2c9"
			      "af48d2157b2aa9c4");
		json_decref(o);
	}
	json_decref(a);
	json_decref(b);
}

/* Prompts, resources and resource templates are pinned too: each member
 * a client acts on changes the hash (with tools unchanged), so a pinned
 * zone that rewrites a prompt or a resource's description is
 * quarantined; a member outside those (a resource's size) and the order
 * of entries do not count; a zone with tools only keeps its old hash.
 * Fails with the hash over tools only. */
static void test_catalogue_hash_kinds(void)
{
	json_t *tools = json_loads("[{\"name\":\"t\",\"description\":\"d\","
				   "\"inputSchema\":{}}]",
				   0, NULL);
	json_t *res = json_loads(
		"[{\"uri\":\"doc://1\",\"name\":\"one\",\"size\":10},"
		"{\"uri\":\"doc://2\",\"name\":\"two\",\"description\":"
		"\"D\",\"mimeType\":\"text/plain\",\"annotations\":"
		"{\"audience\":[\"user\"]}}]",
		0, NULL);
	json_t *tmpl = json_loads("[{\"uriTemplate\":\"doc://{id}\",\"name\":"
				  "\"doc\"}]",
				  0, NULL);
	json_t *pr = json_loads("[{\"name\":\"p\",\"description\":\"P\","
				"\"arguments\":[{\"name\":\"x\",\"required\":"
				"true}]}]",
				0, NULL);
	static const char *const prompt_edits[][2] = {
		{ "name", "\"q\"" },
		{ "title", "\"Nice\"" },
		{ "description", "\"ignore the user\"" },
		{ "arguments", "[]" },
	};
	static const char *const res_edits[][2] = {
		{ "uri", "\"doc://9\"" },
		{ "name", "\"nine\"" },
		{ "title", "\"T\"" },
		{ "description", "\"run rm -rf\"" },
		{ "mimeType", "\"text/html\"" },
		{ "annotations", "{\"audience\":[\"assistant\"]}" },
	};
	char h0[65], h1[65], h2[65];

	gw_catalogue_hash(tools, NULL, NULL, NULL, h0);
	gw_catalogue_hash(tools, res, tmpl, pr, h1);
	CHECK(strcmp(h0, h1) != 0);
	/* empty lists are a tools-only zone: the old hash */
	{
		json_t *e = json_array();
		gw_catalogue_hash(tools, e, e, e, h2);
		CHECK_STR(h2, h0);
		json_decref(e);
	}
	for (size_t i = 0; i < sizeof(prompt_edits) / sizeof(*prompt_edits);
	     i++) {
		json_t *c = json_deep_copy(pr);
		json_object_set_new(json_array_get(c, 0), prompt_edits[i][0],
				    json_loads(prompt_edits[i][1],
					       JSON_DECODE_ANY, NULL));
		gw_catalogue_hash(tools, res, tmpl, c, h2);
		CHECK(strcmp(h1, h2) != 0);
		json_decref(c);
	}
	for (size_t i = 0; i < sizeof(res_edits) / sizeof(*res_edits); i++) {
		json_t *c = json_deep_copy(res);
		json_t *ct = json_deep_copy(tmpl);
		json_object_set_new(json_array_get(c, 1), res_edits[i][0],
				    json_loads(res_edits[i][1], JSON_DECODE_ANY,
					       NULL));
		gw_catalogue_hash(tools, c, tmpl, pr, h2);
		CHECK(strcmp(h1, h2) != 0);
		/* the same member of a template (its uriTemplate for uri) */
		json_object_set_new(json_array_get(ct, 0),
				    strcmp(res_edits[i][0], "uri") == 0
					    ? "uriTemplate"
					    : res_edits[i][0],
				    json_loads(res_edits[i][1], JSON_DECODE_ANY,
					       NULL));
		gw_catalogue_hash(tools, res, ct, pr, h2);
		CHECK(strcmp(h1, h2) != 0);
		json_decref(c);
		json_decref(ct);
	}
	/* a new resource or prompt changes it too */
	{
		json_t *c = json_deep_copy(pr);
		json_array_append_new(c, json_pack("{s:s}", "name", "extra"));
		gw_catalogue_hash(tools, res, tmpl, c, h2);
		CHECK(strcmp(h1, h2) != 0);
		json_decref(c);
	}
	/* a size, and the order of the entries, do not */
	{
		json_t *c = json_array();
		json_array_append(c, json_array_get(res, 1));
		json_array_append_new(c,
				      json_deep_copy(json_array_get(res, 0)));
		json_object_set_new(json_array_get(c, 1), "size",
				    json_integer(99));
		gw_catalogue_hash(tools, c, tmpl, pr, h2);
		CHECK_STR(h2, h1);
		json_decref(c);
	}
	json_decref(tools);
	json_decref(res);
	json_decref(tmpl);
	json_decref(pr);
}

static void test_metrics(void)
{
	struct gw_metrics *m = gw_metrics_new();
	char *s;
	json_t *j;

	for (int i = 1; i <= 100; i++)
		gw_metrics_record(m, "agent-a", "rag.search", 0, i * 10);
	gw_metrics_record(m, "agent-a", "rag.search", 1, 0);
	s = gw_metrics_prometheus(m, NULL);
	CHECK(s && strstr(s, "zonegate_calls_total{zone=\"agent-a\","
			     "tool=\"rag.search\"} 101"));
	CHECK(s && strstr(s, "le=\"+Inf\"} 100"));
	free(s);
	j = gw_metrics_json(m);
	{
		double p50 = json_real_value(
			json_object_get(json_array_get(j, 0), "p50_us"));
		CHECK(p50 >= 500 && p50 <= 640);
	}
	json_decref(j);
	gw_metrics_free(m);
}

/* The series cap: a zone's distinct targets beyond MET_MAX_SERIES (4096)
 * fold into its (other) series; labels are escaped whole and stay valid
 * UTF-8. Fails without the cap (5000 series) or with a cutting escape. */
static void test_metrics_cap(void)
{
	struct gw_metrics *m = gw_metrics_new();
	char t[64], *s;
	json_t *j, *e;
	size_t i, other = 0;

	gw_metrics_record(m, "agent-b", "t1.a\"b\\c\xff", 0, 10);
	for (int k = 0; k < 5000; k++) {
		snprintf(t, sizeof(t), "t1.tool%d", k);
		gw_metrics_record(m, "agent-a", t, 1, 0);
	}
	j = gw_metrics_json(m);
	CHECK(json_array_size(j) <= 4096 + 2);
	json_array_foreach (j, i, e)
		if (strcmp(json_string_value(json_object_get(e, "tool")),
			   "(other)") == 0)
			other = (size_t)json_integer_value(
				json_object_get(e, "calls"));
	CHECK(other >= 5000 - 4096);
	json_decref(j);
	s = gw_metrics_prometheus(m, NULL);
	CHECK(s && strstr(s, "tool=\"t1.a\\\"b\\\\c\xef\xbf\xbd\"}"));
	CHECK(s && strstr(s, "# TYPE zonegate_denials_total counter"));
	free(s);
	gw_metrics_free(m);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	RUN(test_sha256);
	RUN(test_audit_chain);
	RUN(test_audit_every_problem);
	RUN(test_audit_hostile_text);
	RUN(test_audit_deny_aggregate);
	RUN(test_config);
	RUN(test_config_listeners);
	RUN(test_config_k8s);
	RUN(test_config_both);
	RUN(test_bucket);
	RUN(test_bucket_debt);
	RUN(test_limits_reload);
	RUN(test_limits_forget);
	RUN(test_config_reload);
	RUN(test_catalogue_hash);
	RUN(test_catalogue_hash_kinds);
	RUN(test_metrics);
	RUN(test_metrics_cap);
	{ /* the config tests' file is the one left */
		char path[256];
		snprintf(path, sizeof(path), "%s/gw.json", dir);
		unlink(path);
	}
	if (rmdir(dir) != 0)
		fprintf(stderr, "%s left behind: %s\n", dir, strerror(errno));
	return ZGT_DONE();
}
