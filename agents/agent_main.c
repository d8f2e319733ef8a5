/* zonegate-agent: one agent of the pipeline (--role), an MCP server with
 * one tool, `ask`, served on its tool-side channel (--serve, as mcpd
 * --chan), on Streamable HTTP (--http) or stdio, and an MCP client of its
 * own tools through the gateway on its agent-side channel, or directly
 * (--direct, the baseline) (agent_client.c). See docs/pipeline.md. */
#include "agent.h"
#include "attack.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <zg_common.h>
#include <zg_version.h>
#include <zonegate/chan_mcp.h>
#include <zonegate/mcp.h>

#include "transport.h"

#define MAX_SERVE 4

struct opts {
	struct ag_config cfg;
	const char *serve[MAX_SERVE];
	unsigned nserve;
	int stdio;
	const char *http; /* --http HOST:PORT */
	struct zg_listen_addr http_addr;
	const char *ready_file;
	struct ag_direct direct[AG_MAX_DIRECT];
	const char *compromise; /* TARGETS.json: run the attack battery */
	const char *attack_out;
};

/* One ask at a time: without a relay daemon the agent-side channel takes
 * one client, and the asks of one agent are sequential in the pipeline. */
static pthread_mutex_t ask_lock = PTHREAD_MUTEX_INITIALIZER;
/* The session through the relay, kept from one ask to the next (under
 * ask_lock): a relay start and initialize are paid once, not per ask. */
static struct ag_client *ask_client;

static const char ask_schema[] =
	"{\"type\":\"object\",\"properties\":{\"input\":{\"type\":"
	"\"string\",\"maxLength\":262144}},\"required\":[\"input\"]}";

static int call_cancelled(void *call)
{
	return mcp_call_cancelled(call);
}

static int tool_ask(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	const struct ag_config *cfg = ud;
	json_t *in = json_object_get(args, "input");

	if (!json_is_string(in) || json_string_length(in) > AG_MAX_INPUT ||
	    strlen(json_string_value(in)) != json_string_length(in)) {
		*result = mcp_result_errorf("ask: \"input\" must be a string "
					    "of at most %u bytes without NUL",
					    AG_MAX_INPUT);
		return *result ? 0 : MCP_ERR_INTERNAL;
	}
	pthread_mutex_lock(&ask_lock);
	*result = ag_role_run(cfg, &ask_client, call_cancelled, call,
			      json_string_value(in));
	pthread_mutex_unlock(&ask_lock);
	if (!*result) {
		mcp_call_error(call, MCP_ERR_INTERNAL, "out of memory", NULL);
		return MCP_ERR_INTERNAL;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: zonegate-agent --role ROLE [--serve ADDR]... [--stdio] "
		"[options]\n"
		"Roles: cve-question, cve, blog-question, rag, report "
		"(docs/pipeline.md).\n"
		"  --role ROLE             which agent this is\n"
		"  --serve ADDR            serve the ask tool on this channel "
		"(the zone's\n"
		"                          tool side; repeatable)\n"
		"  --stdio                 serve the ask tool on stdin/stdout "
		"(the default\n"
		"                          without --serve and --http)\n"
		"  --http HOST:PORT        serve the ask tool on Streamable HTTP "
		"at /mcp\n"
		"                          (port 0: any free one)\n"
		"  --ready-file FILE       with --http: write the endpoint URL "
		"to FILE once\n"
		"                          listening\n"
		"  --direct ZONE=URL       call ZONE's tools on its HTTP MCP "
		"server at URL,\n"
		"                          not through the gateway (the "
		"no-isolation\n"
		"                          baseline; repeatable, up to %d)\n"
		"  --chan ADDR             the agent-side channel to the "
		"gateway (default:\n"
		"                          the relay's: its daemon, else "
		"ZONEGATE_CHAN)\n"
		"  --relay PATH            the zonegate-relay binary "
		"(default: on PATH)\n"
		"  --llm-zone Z, --web-zone Z, --kb-zone Z\n"
		"                          tool zone names (default llm, web, "
		"kb)\n"
		"  --deadline-ms MS        one ask, all calls included (default "
		"60000)\n"
		"  --connect-timeout MS    the relay's wait for the channel "
		"(default 5000)\n"
		"  --search-count N        cve: web_search results (default "
		"5, 1..20)\n"
		"  --fetch N               cve: pages fetched (default 3, 1..%d)\n"
		"  --rag-k N               rag: rag_search k (default 5, 1..50)\n"
		"  --max-tokens N          llm_chat max_tokens (default 1024; "
		"report at\n"
		"                          least 2048)\n"
		"  --compromise FILE       run the attack battery against "
		"the targets in\n"
		"                          FILE first (a compromised agent; "
		"docs/pipeline.md)\n"
		"  --attack-out FILE       write the battery's results "
		"there (JSON)\n"
		"  --version, --help\n",
		AG_MAX_DIRECT, AG_MAX_FETCH);
}

enum {
	O_ROLE = 256,
	O_SERVE,
	O_STDIO,
	O_CHAN,
	O_RELAY,
	O_LLM,
	O_WEB,
	O_KB,
	O_DEADLINE,
	O_CONNECT,
	O_SEARCH,
	O_FETCH,
	O_RAGK,
	O_TOKENS,
	O_HTTP,
	O_READY,
	O_DIRECT,
	O_COMPROMISE,
	O_ATTACK_OUT,
	O_VERSION,
	O_HELP
};

static int num(const char *name, const char *v, long long min, long long max,
	       long *out)
{
	long long x;

	if (zg_parse_int(v, min, max, &x)) {
		fprintf(stderr, "zonegate-agent: %s: expected %lld..%lld, got "
				"'%s'\n",
			name, min, max, v);
		return -1;
	}
	*out = (long)x;
	return 0;
}

/* A zone name as the gateway spells it: [a-z0-9][a-z0-9-]{0,62}. */
static int zone_name(const char *opt, const char *v, const char **out)
{
	if (ag_zone_name_ok(v)) {
		fprintf(stderr, "zonegate-agent: %s: '%s' is not a zone name\n",
			opt, v);
		return -1;
	}
	*out = v;
	return 0;
}

/* --http HOST:PORT and --direct ZONE=URL. */
static int opt_net(struct opts *o, int c, const char *v)
{
	char err[256];

	if (c == O_HTTP) {
		o->http = v;
		if (!zg_parse_listen_addr(v, 0, &o->http_addr, err,
					  sizeof(err)))
			return 0;
		fprintf(stderr, "zonegate-agent: --http: %s\n", err);
		return -1;
	}
	if (o->cfg.ndirect == AG_MAX_DIRECT) {
		fprintf(stderr, "zonegate-agent: at most %d --direct\n",
			AG_MAX_DIRECT);
		return -1;
	}
	if (ag_direct_parse(v, o->direct, o->cfg.ndirect,
			    &o->direct[o->cfg.ndirect], err, sizeof(err))) {
		fprintf(stderr, "zonegate-agent: --direct: %s\n", err);
		return -1;
	}
	o->cfg.ndirect++;
	return 0;
}

static int opt_one(struct opts *o, int c, const char *v)
{
	struct ag_config *g = &o->cfg;

	switch (c) {
	case O_HTTP:
	case O_DIRECT:
		return opt_net(o, c, v);
	case O_READY:
		o->ready_file = v;
		return 0;
	case O_ROLE:
		g->role = v;
		return 0;
	case O_SERVE:
		if (o->nserve == MAX_SERVE) {
			fprintf(stderr, "zonegate-agent: at most %d --serve\n",
				MAX_SERVE);
			return -1;
		}
		o->serve[o->nserve++] = v;
		return 0;
	case O_STDIO:
		o->stdio = 1;
		return 0;
	case O_CHAN:
		g->chan = v;
		return 0;
	case O_RELAY:
		g->relay = v;
		return 0;
	case O_LLM:
		return zone_name("--llm-zone", v, &g->llm_zone);
	case O_WEB:
		return zone_name("--web-zone", v, &g->web_zone);
	case O_KB:
		return zone_name("--kb-zone", v, &g->kb_zone);
	case O_DEADLINE:
		return num("--deadline-ms", v, 100, 3600000, &g->deadline_ms);
	case O_CONNECT:
		return num("--connect-timeout", v, 0, 600000, &g->connect_ms);
	case O_SEARCH:
		return num("--search-count", v, 1, 20, &g->search_count);
	case O_FETCH:
		return num("--fetch", v, 1, AG_MAX_FETCH, &g->fetch_count);
	case O_RAGK:
		return num("--rag-k", v, 1, 50, &g->rag_k);
	case O_TOKENS:
		return num("--max-tokens", v, 1, 8192, &g->max_tokens);
	case O_COMPROMISE:
		o->compromise = v;
		return 0;
	case O_ATTACK_OUT:
		o->attack_out = v;
		return 0;
	}
	return -1;
}

/* 0 run, 1 exit 0 (help, version), -1 exit 2. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "role", required_argument, NULL, O_ROLE },
		{ "serve", required_argument, NULL, O_SERVE },
		{ "stdio", no_argument, NULL, O_STDIO },
		{ "chan", required_argument, NULL, O_CHAN },
		{ "relay", required_argument, NULL, O_RELAY },
		{ "llm-zone", required_argument, NULL, O_LLM },
		{ "web-zone", required_argument, NULL, O_WEB },
		{ "kb-zone", required_argument, NULL, O_KB },
		{ "deadline-ms", required_argument, NULL, O_DEADLINE },
		{ "connect-timeout", required_argument, NULL, O_CONNECT },
		{ "search-count", required_argument, NULL, O_SEARCH },
		{ "fetch", required_argument, NULL, O_FETCH },
		{ "rag-k", required_argument, NULL, O_RAGK },
		{ "max-tokens", required_argument, NULL, O_TOKENS },
		{ "http", required_argument, NULL, O_HTTP },
		{ "ready-file", required_argument, NULL, O_READY },
		{ "direct", required_argument, NULL, O_DIRECT },
		{ "compromise", required_argument, NULL, O_COMPROMISE },
		{ "attack-out", required_argument, NULL, O_ATTACK_OUT },
		{ "version", no_argument, NULL, O_VERSION },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	o->cfg = (struct ag_config){ .relay = "zonegate-relay",
				     .llm_zone = "llm",
				     .web_zone = "web",
				     .kb_zone = "kb",
				     .deadline_ms = 60000,
				     .connect_ms = 5000,
				     .search_count = 5,
				     .fetch_count = 3,
				     .rag_k = 5,
				     .max_tokens = 1024 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == O_HELP) {
			usage(stdout);
			return 1;
		}
		if (c == O_VERSION) {
			printf("zonegate-agent %s\n", ZG_VERSION);
			return 1;
		}
		if (c == '?' || opt_one(o, c, optarg)) {
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc || !o->cfg.role || ag_role_ok(o->cfg.role)) {
		fprintf(stderr, "zonegate-agent: --role must be one of "
				"cve-question, cve, blog-question, rag, "
				"report\n");
		return -1;
	}
	if (o->ready_file && !o->http) {
		fprintf(stderr, "zonegate-agent: --ready-file needs --http\n");
		return -1;
	}
	o->cfg.direct = o->direct;
	if (o->attack_out && !o->compromise) {
		fprintf(stderr, "zonegate-agent: --attack-out needs "
				"--compromise\n");
		return -1;
	}
	if (!o->nserve && !o->http)
		o->stdio = 1;
	return 0;
}

/* Serves srv on --http and writes the URL to --ready-file. The transport
 * (stopped with mcp_http_stop) or NULL after reporting. */
static struct mcp_http *start_http(mcp_server *srv, const struct opts *o)
{
	struct mcp_http_config hc = { 0 };
	const char *host = o->http_addr.host;
	int v6 = strchr(host, ':') != NULL;
	char err[256], url[320];
	struct mcp_http *h;

	hc.host = host;
	hc.port = o->http_addr.port;
	h = mcp_http_start(srv, &hc, err, sizeof(err));
	if (!h) {
		fprintf(stderr, "zonegate-agent: --http %s: %s\n", o->http, err);
		return NULL;
	}
	snprintf(url, sizeof(url), "http://%s%s%s:%u/mcp\n", v6 ? "[" : "",
		 host, v6 ? "]" : "", mcp_http_port(h));
	fprintf(stderr, "zonegate-agent: %s serving ask on %s", o->cfg.role,
		url);
	if (o->ready_file &&
	    ag_write_file(o->ready_file, url, strlen(url), err, sizeof(err)))
		fprintf(stderr, "zonegate-agent: --ready-file: %s\n", err);
	return h;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct mcp_server_info info = { "zonegate-agent", ZG_VERSION, NULL };
	struct mcp_tool ask = { "ask",	    "Ask this agent", NULL,
				ask_schema, NULL,	      NULL,
				tool_ask,   &o.cfg,	      0 };
	struct chan_mcp_server *chans[MAX_SERVE] = { 0 };
	struct mcp_http *http = NULL;
	char desc[160], err[256];
	mcp_server *srv = NULL;
	sigset_t set;
	int rc = 1, sig;

	memset(&o, 0, sizeof(o));
	switch (parse_args(argc, argv, &o)) {
	case 1:
		return 0;
	case -1:
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (o.cfg.ndirect && ag_direct_init()) {
		fprintf(stderr, "zonegate-agent: libcurl did not initialize\n");
		return 1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		perror("zonegate-agent: PR_SET_NO_NEW_PRIVS");
	if (o.compromise &&
	    ag_attack_main(&o.cfg, o.compromise, o.attack_out) != 0)
		return 2;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (!o.stdio)
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	snprintf(desc, sizeof(desc),
		 "The %s agent of the pipeline: input is a question, or JSON "
		 "text (docs/pipeline.md).",
		 o.cfg.role);
	ask.description = desc;
	srv = mcp_server_new(&info);
	if (!srv || mcp_server_add_tool(srv, &ask, err, sizeof(err))) {
		fprintf(stderr, "zonegate-agent: %s\n",
			srv ? err : "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < o.nserve; i++) {
		chans[i] = chan_mcp_serve(srv, o.serve[i], NULL, err,
					  sizeof(err));
		if (!chans[i]) {
			fprintf(stderr, "zonegate-agent: --serve %s: %s\n",
				o.serve[i], err);
			goto out;
		}
		fprintf(stderr, "zonegate-agent: %s serving ask on %s\n",
			o.cfg.role, o.serve[i]);
	}
	if (o.http && !(http = start_http(srv, &o)))
		goto out;
	if (o.stdio) {
		rc = mcp_stdio_serve(srv, STDIN_FILENO, STDOUT_FILENO) ? 1 : 0;
	} else {
		sigwait(&set, &sig);
		rc = 0;
	}
out:
	mcp_http_stop(http);
	for (unsigned i = 0; i < o.nserve; i++)
		chan_mcp_stop(chans[i]);
	ag_client_close(ask_client);
	mcp_server_free(srv);
	return rc;
}
