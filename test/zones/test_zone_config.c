/* Unit tests of the run block parser (gateway/zone_config.c): a full
 * block parsed as written, and each kind of bad input refused with the
 * config's file:line and a message naming the key. */
#include "sandbox.h"
#include "zgtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

/* Writes a config whose zone "probe" has the run block RUN (a JSON object
 * text) on its own line 3, and loads it. */
static struct zone_run *load(const char *run, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return NULL;
	fprintf(f,
		"{\"zones\": {\n"
		"  \"probe\": {\"domid\": 41, \"role\": \"agent\", \"chan\": "
		"\"sim:41:probe\",\n"
		"    \"run\": %s}},\n"
		" \"policy\": \".\"}\n",
		run);
	fclose(f);
	err[0] = 0;
	return zone_run_load(path, "probe", err, errlen);
}

static void test_full(void)
{
	char err[512];
	struct zone_run *r = load(
		"{\"command\": [\"/p/tool\", \"-x\"],\n"
		"\"files\": {\"in\": {\"/p/tool\": \"/usr/bin/true\"},\n"
		"\"ro\": {\"/model\": \"/usr/share\"},\n"
		"\"out\": {\"zone\": \"/out\", \"host\": \"/var/tmp/r\", "
		"\"max_files\": 7}},\n"
		"\"limits\": {\"memory\": \"128m\", \"pids\": 64, \"cpu\": 0.5},\n"
		"\"env\": {\"LANG\": \"C.UTF-8\"}, \"network\": \"none\", "
		"\"restart\": \"on-failure\"}",
		err, sizeof(err));

	CHECK(r != NULL);
	if (!r) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK_EQ_INT(r->domid, 41);
	CHECK_STR(r->chan, "sim:41:probe");
	CHECK_EQ_INT(r->argc, 2);
	CHECK_STR(r->argv[1], "-x");
	CHECK(r->argv[2] == NULL);
	CHECK_EQ_INT(r->nin, 1);
	CHECK_STR(r->in[0].host, "/usr/bin/true");
	CHECK_STR(r->ro[0].zone, "/model");
	CHECK_STR(r->out_zone, "/out");
	CHECK_EQ_INT(r->out_max_files, 7);
	CHECK_EQ_INT(r->out_max_bytes, 64 << 20);
	CHECK_EQ_INT(r->mem, 128 << 20);
	CHECK_EQ_INT(r->pids, 64);
	CHECK(r->cpu > 0.49 && r->cpu < 0.51);
	CHECK_STR(r->env[0], "LANG=C.UTF-8");
	CHECK(r->layers.enabled && r->layers.seccomp && r->layers.landlock &&
	      r->layers.mount && r->layers.netns && r->layers.drop_caps);
	zone_run_free(r);
}

static void test_layers(void)
{
	char err[512];
	struct zone_run *r = load("{\"command\": [\"/bin/true\"], \"sandbox\": "
				  "false}",
				  err, sizeof(err));

	CHECK(r && !r->layers.enabled && !r->layers.seccomp);
	CHECK(r && r->mem == ZONE_MEM_DEF && r->pids == ZONE_PIDS_DEF);
	zone_run_free(r);
	r = load("{\"command\": [\"/bin/true\"], \"sandbox\": {\"seccomp\": "
		 "false}}",
		 err, sizeof(err));
	CHECK(r && r->layers.enabled && !r->layers.seccomp &&
	      r->layers.landlock);
	zone_run_free(r);
}

/* Each bad block is refused with "PATH:LINE: " and a message part. */
static void bad(const char *run, int line, const char *msg)
{
	char err[512], want[128];
	struct zone_run *r = load(run, err, sizeof(err));

	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	CHECK(r == NULL);
	zone_run_free(r);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, msg)) {
		CHECK(!"error as expected");
		fprintf(stderr, "  run %s\n  got  %s\n  want %s...%s\n", run,
			err, want, msg);
	}
}

static void test_bad(void)
{
	bad("{\"command\": [\"/bin/true\"],\n\"colour\": 1}", 4,
	    "unknown key 'colour'");
	bad("{\"command\": [\"/bin/true\"], \"files\": {\n\"inn\": {}}}", 4,
	    "files: unknown key 'inn'");
	bad("{\"command\": [\"/bin/true\"], \"limits\": {\"memory\": "
	    "\"12q\"}}",
	    3, "limits.memory");
	bad("{\"command\": [\"/bin/true\"], \"limits\": {\"memory\": \"1m\"}}",
	    3, "at least 4m");
	bad("{\"command\": [\"/bin/true\"], \"limits\": {\"pids\": 0}}", 3,
	    "pids must be");
	bad("{\"command\": [\"/bin/true\"], \"limits\": {\"cpu\": -1}}", 3,
	    "limits.cpu");
	bad("{\"command\": [\"/bin/true\"], \"limits\": {\"swap\": 1}}", 3,
	    "limits: unknown key 'swap'");
	bad("{\"command\": [\"bin/true\"]}", 3, "absolute zone path");
	bad("{\"command\": []}", 3, "command must be");
	bad("{\"command\": [\"/bin/true\"], \"files\": {\"in\": {\"/a/../b\": "
	    "\"/x\"}}}",
	    3, "must be absolute, normalised");
	bad("{\"command\": [\"/bin/true\"], \"files\": {\"in\": {\"/proc/x\": "
	    "\"/x\"}}}",
	    3, "not under /proc");
	bad("{\"command\": [\"/bin/true\"], \"files\": {\"ro\": {\"/m\": "
	    "\"rel/x\"}}}",
	    3, "host path");
	bad("{\"command\": [\"/bin/true\"], \"files\": {\"out\": {\"zone\": "
	    "\"/o\"}}}",
	    3, "needs zone and host");
	bad("{\"command\": [\"/bin/true\"], \"files\": {\"out\": {\"zone\": "
	    "\"/o\", \"host\": \"/h\", \"mode\": 1}}}",
	    3, "files.out: unknown key 'mode'");
	bad("{\"command\": [\"/bin/true\"], \"network\": {\"egress\": []}}", 3,
	    "network.egress must be an array");
	bad("{\"command\": [\"/bin/true\"], \"network\": \"host\"}", 3,
	    "network must be");
	bad("{\"command\": [\"/bin/true\"], \"network\": {\"max_bytes\": "
	    "5}}",
	    3, "egress is missing");
	bad("{\"command\": [\"/bin/true\"], \"network\": {\"egress\": "
	    "[\"a:1\"], \"proxy\": 1}}",
	    3, "network: unknown key 'proxy'");
	bad("{\"command\": [\"/bin/true\"], \"network\": {\"egress\": "
	    "[\"a:1\", \"A:1\"]}}",
	    3, "repeats a:1");
	bad("{\"command\": [\"/bin/true\"], \"network\": {\"egress\": "
	    "[\"a:1\"], \"idle_timeout\": 0}}",
	    3, "idle_timeout must be");
	bad("{\"command\": [\"/bin/true\"], \"restart\": \"sometimes\"}", 3,
	    "restart must be");
	bad("{\"command\": [\"/bin/true\"], \"env\": {\"A=B\": \"x\"}}", 3,
	    "env:");
	bad("{\"command\": [\"/bin/true\"], \"sandbox\": {\"apparmor\": "
	    "true}}",
	    3, "unknown layer 'apparmor'");
	bad("{\"files\": {}}", 3, "needs a command");
	/* the gateway's own check (config.c): run must be an object */
	bad("5", 3, "run must be an object");
}

/* network.egress: what is accepted, canonicalised, and refused. */
static void test_egress(void)
{
	static const char *const badd[] = { "example.org",
					    "example.org:0",
					    "example.org:65536",
					    "example.org:+80",
					    "example.org:8x",
					    ":80",
					    "a b:80",
					    "::1:80",
					    "[::1]",
					    "[]:80",
					    "-x.org:80",
					    "exa_mple.org:80",
					    "[example.org]:80",
					    "a:-1",
					    "a: 80" };
	struct zone_dest d;
	char err[512];
	struct zone_run *r;

	CHECK(zone_dest_parse("Example.ORG:443", &d) == 0 &&
	      strcmp(d.host, "example.org") == 0 && d.port == 443);
	CHECK(zone_dest_parse("[0:0::1]:8080", &d) == 0 &&
	      strcmp(d.host, "::1") == 0 && d.port == 8080);
	CHECK(zone_dest_parse("127.0.0.1:1", &d) == 0 &&
	      strcmp(d.host, "127.0.0.1") == 0);
	for (size_t i = 0; i < sizeof(badd) / sizeof(badd[0]); i++)
		if (zone_dest_parse(badd[i], &d) == 0) {
			fprintf(stderr, "accepted '%s'\n", badd[i]);
			CHECK(0);
		}
	r = load("{\"command\": [\"/bin/true\"], \"network\": {\"egress\": "
		 "[\"a.example:80\", \"[::1]:9\"], \"max_connections\": 3, "
		 "\"max_bytes\": 1000, \"idle_timeout\": 5}}",
		 err, sizeof(err));
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK_EQ_INT(r->egress.n, 2);
	CHECK_STR(r->egress.dest[1].host, "::1");
	CHECK_EQ_INT(r->egress.max_conns, 3);
	CHECK_EQ_INT(r->egress.max_bytes, 1000);
	CHECK_EQ_INT(r->egress.idle_s, 5);
	zone_run_free(r);
	r = load("{\"command\": [\"/bin/true\"], \"network\": \"none\"}", err,
		 sizeof(err));
	CHECK(r && r->egress.n == 0);
	zone_run_free(r);
}

static void test_sizes(void)
{
	uint64_t v = 0;

	CHECK(zone_parse_size("512k", &v) == 0 && v == 512 << 10);
	CHECK(zone_parse_size("2G", &v) == 0 && v == 2ULL << 30);
	CHECK(zone_parse_size("4096", &v) == 0 && v == 4096);
	CHECK(zone_parse_size("", &v) < 0);
	CHECK(zone_parse_size("-1m", &v) < 0);
	CHECK(zone_parse_size("1mb", &v) < 0);
	CHECK(zone_parse_size("99999999999999999999", &v) < 0);
	CHECK(zone_parse_size("2000000g", &v) < 0);
}

int main(void)
{
	snprintf(path, sizeof(path), "/tmp/zg-zonecfg.%ld.json",
		 (long)getpid());
	RUN(test_full);
	RUN(test_layers);
	RUN(test_bad);
	RUN(test_sizes);
	RUN(test_egress);
	unlink(path);
	return ZGT_DONE();
}
