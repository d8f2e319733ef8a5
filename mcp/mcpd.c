/* mcpd: the MCP server that runs inside a tool zone. It hosts tool sets
 * (built-in tools, and the RAG, web, llm and hosted-server sets of
 * later parts) and serves them over stdio, Streamable HTTP or a channel. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>

#include "builtin_tools.h"
#include "hosted.h"
#include "transport.h"
#include "zg_common.h"
#include "zg_version.h"
#include "zonegate/mcp.h"
#ifdef ZG_HAVE_FIXTURES
#include "conformance.h"
#endif
#include "toolset.h"
#ifdef ZG_HAVE_CHAN_MCP
#include "zonegate/chan_mcp.h"
#endif

#define MAX_LIST 32

struct opts {
	int stdio;
	const char *http;
	const char *fixtures;
	const char *ready_file;
	const char *origins[MAX_LIST + 1];
	const char *hosts[MAX_LIST + 1];
	const char *chans[MAX_LIST + 1];
	unsigned norigins, nhosts, nchans;
	struct mcp_http_config http_cfg;
	struct mcp_limits limits;
	unsigned workers;
	int verbose;
	const char *rag_db; /* --rag-db: serve the RAG tools from this file */
	int rag_write;	    /* --rag-write: also rag_ingest and rag_delete */
	int web;	    /* --web: the web tool set */
	const char *web_opts[2 * MAX_LIST + 1]; /* --web-* name, value pairs */
	unsigned nweb;
	int llm;				/* --llm: the llm tool set */
	const char *llm_opts[2 * MAX_LIST + 1]; /* --llm-* name, value pairs */
	unsigned nllm;
	const char *as_of;	    /* --as-of: time_now answers this instant */
	const char *servers;	    /* --servers: hosted stdio MCP servers */
	const char *state_key_file; /* --state-key-file: request state keys */
	unsigned state_ttl;	    /* --state-ttl: seconds, 0: default */
	unsigned max_listens;	    /* --max-listens: 0: default */
	unsigned max_tasks;	    /* --max-tasks: 0: default */
	unsigned task_ttl_ms;	    /* --task-ttl: 0: default */
	size_t max_task_bytes;	    /* --max-task-bytes: 0: default */
	unsigned revs;		    /* --protocol-versions: 0: both */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mcpd [OPTIONS]\n"
		"Serve MCP tools from a zonegate tool zone.\n"
		"\n"
		"Transports (stdio is the default when none is given):\n"
		"  --stdio                 serve one session on stdin/stdout\n"
		"  --http HOST:PORT        serve Streamable HTTP at /mcp "
		"(PORT 0: any free port;\n"
		"                          IPv6 as [ADDR]:PORT)\n"
		"  --chan ADDR             serve MCP on a zonegate channel, "
		"one session or\n"
		"                          2026-07-28 requests per stream "
		"(ADDR:\n"
		"                          sim:DOMID:PATH or xen:DOMID:PATH; "
		"repeatable)\n"
		"\n"
#ifdef ZG_HAVE_FIXTURES
		"Tool sets (mcpd-test, the test build):\n"
		"  --fixtures conformance  add the MCP conformance suite's "
		"test fixtures\n"
		"\n"
#endif
		"HTTP options:\n"
		"  --allowed-origin ORIGIN accept browser requests from "
		"ORIGIN (repeatable;\n"
		"                          default: loopback origins only)\n"
		"  --allowed-host HOST     accept this Host header (repeatable;"
		" default:\n"
		"                          the bound address, localhost)\n"
		"  --max-sessions N        live sessions (default 256)\n"
		"  --max-connections N     concurrent connections (default "
		"512)\n"
		"  --session-timeout SECS  idle session expiry (default 1800)\n"
		"  --max-body BYTES        largest POST body (default 4194304)\n"
		"  --ready-file FILE       write the endpoint URL to FILE once "
		"listening\n"
		"\n"
		"General:\n"
		"  --max-message BYTES     largest JSON-RPC message (default "
		"4194304)\n"
		"  --protocol-versions V,...  serve only these revisions: "
		"2026-07-28\n"
		"                          (stateless) and/or 2025-11-25 (the "
		"session era,\n"
		"                          also 2025-06-18 and 2025-03-26); "
		"default both\n"
		"  --workers N             handler threads (default 32)\n"
		"  --state-key-file FILE   HMAC keys of 2026-07-28 request "
		"state, hex, one a\n"
		"                          line (the first signs, all verify; "
		"mode 0600);\n"
		"                          replicas behind one load balancer "
		"share it\n"
		"                          (default: a random key of this "
		"process)\n"
		"  --state-ttl SECS        how long request state stays valid "
		"(default 600)\n"
		"  --max-listens N         open 2026-07-28 subscriptions/listen "
		"requests,\n"
		"                          all transports together (default "
		"1024)\n"
		"  --max-tasks N           2026-07-28 tasks kept at once "
		"(default 1024)\n"
		"  --max-task-bytes BYTES  bytes tasks keep (params, answers, "
		"results), all\n"
		"                          tasks together\n"
		"                          (default 67108864)\n"
		"  --task-ttl MS           a task's time to live from its "
		"creation; its\n"
		"                          result is freed then (default "
		"900000)\n"
		"  --rag-db FILE           serve rag_search and the RAG "
		"resources from FILE\n"
		"  --rag-write             also serve rag_ingest and rag_delete\n"
		"  --web                   serve web_fetch (and web_search) with "
		"egress control\n"
		"  --web-allow HOST[:PORT] let the web tools reach HOST although "
		"it is\n"
		"                          private, loopback, ... (repeatable)\n"
		"  --web-hosts GLOB,...    fetch only from hosts matching a glob\n"
		"  --web-proxy SOCKET      connect through the SOCKS5 proxy on "
		"this unix\n"
		"                          socket (a zone's egress, "
		"$ZONEGATE_EGRESS)\n"
		"  --web-search BACKEND    searxng:URL, or brave (key from\n"
		"                          --web-search-key-file FILE or "
		"BRAVE_API_KEY)\n"
		"  --web-max-bytes N       largest decoded body (default "
		"2097152)\n"
		"  --web-timeout SECS      deadline of a fetch (default 20)\n"
		"  --web-max-redirects N   redirects followed (default 5)\n"
		"  --llm                   serve llm_chat (deterministic "
		"without --llm-url)\n"
		"  --llm-url BASE          OpenAI-compatible endpoint "
		"(BASE/chat/completions)\n"
		"  --llm-model M           the model to ask (with --llm-url)\n"
		"  --llm-key-file FILE     bearer key, first line of FILE\n"
		"  --llm-timeout SECS      deadline of a call, all retries "
		"(default 120)\n"
		"  --llm-connect-timeout S connect timeout (default 10)\n"
		"  --llm-retries N         retries on 429, 5xx, connection "
		"errors (default 2)\n"
		"  --llm-backoff-ms MS     first back-off (default 500)\n"
		"  --llm-max-response N    largest answer (default 1048576)\n"
		"  --llm-proxy SOCKET      reach the endpoint through the SOCKS5\n"
		"                          proxy on this unix socket (a zone's\n"
		"                          egress, $ZONEGATE_EGRESS)\n"
		"  --as-of DATE            time_now answers DATE "
		"(YYYY-MM-DD[THH:MM:SSZ])\n"
		"  --servers FILE          host the stdio MCP servers of FILE "
		"(mcpServers\n"
		"                          JSON) as SERVER.NAME tools, their "
		"resources\n"
		"                          and prompts (docs/hosted.md)\n"
		"  -v, --verbose           log each request on stderr (method, "
		"revision,\n"
		"                          traceparent)\n"
		"  -h, --help              show this help\n"
		"  -V, --version           show the version\n");
}

/* Parses a decimal in [min, max]; returns -1 and reports on bad input. */
static int parse_num(const char *opt, const char *s, unsigned long min,
		     unsigned long max, unsigned long *out)
{
	long long v;

	if (zg_parse_int(s, (long long)min, (long long)max, &v) != 0) {
		fprintf(stderr,
			"mcpd: %s: expected a number from %lu to %lu, "
			"got '%s'\n",
			opt, min, max, s);
		return -1;
	}
	*out = (unsigned long)v;
	return 0;
}

/* Splits HOST:PORT (IPv6 as [ADDR]:PORT) into cfg. host points into a
 * static buffer. */
static int parse_hostport(const char *s, struct mcp_http_config *cfg)
{
	static struct zg_listen_addr addr;
	char err[160];

	if (zg_parse_listen_addr(s, 0, &addr, err, sizeof(err)) != 0) {
		fprintf(stderr, "mcpd: --http: %s\n", err);
		return -1;
	}
	cfg->host = addr.host;
	cfg->port = addr.port;
	return 0;
}

enum {
	O_STDIO = 256,
	O_HTTP,
	O_FIXTURES,
	O_ORIGIN,
	O_HOST,
	O_MAX_SESSIONS,
	O_MAX_CONN,
	O_SESSION_TIMEOUT,
	O_MAX_BODY,
	O_READY,
	O_MAX_MESSAGE,
	O_WORKERS,
	O_RAG_DB,
	O_RAG_WRITE,
	O_CHAN,
	O_WEB,
	O_WEB_OPT,
	O_LLM,
	O_LLM_OPT,
	O_AS_OF,
	O_SERVERS,
	O_STATE_KEY_FILE,
	O_STATE_TTL,
	O_MAX_LISTENS,
	O_MAX_TASKS,
	O_MAX_TASK_BYTES,
	O_TASK_TTL,
	O_PROTOCOL_VERSIONS
};

static const struct option long_opts[] = {
	{ "stdio", no_argument, NULL, O_STDIO },
	{ "http", required_argument, NULL, O_HTTP },
	{ "chan", required_argument, NULL, O_CHAN },
#ifdef ZG_HAVE_FIXTURES
	{ "fixtures", required_argument, NULL, O_FIXTURES },
#endif
	{ "allowed-origin", required_argument, NULL, O_ORIGIN },
	{ "allowed-host", required_argument, NULL, O_HOST },
	{ "max-sessions", required_argument, NULL, O_MAX_SESSIONS },
	{ "max-connections", required_argument, NULL, O_MAX_CONN },
	{ "session-timeout", required_argument, NULL, O_SESSION_TIMEOUT },
	{ "max-body", required_argument, NULL, O_MAX_BODY },
	{ "ready-file", required_argument, NULL, O_READY },
	{ "max-message", required_argument, NULL, O_MAX_MESSAGE },
	{ "workers", required_argument, NULL, O_WORKERS },
	{ "rag-db", required_argument, NULL, O_RAG_DB },
	{ "rag-write", no_argument, NULL, O_RAG_WRITE },
	{ "web", no_argument, NULL, O_WEB },
	{ "web-allow", required_argument, NULL, O_WEB_OPT },
	{ "web-hosts", required_argument, NULL, O_WEB_OPT },
	{ "web-proxy", required_argument, NULL, O_WEB_OPT },
	{ "web-search", required_argument, NULL, O_WEB_OPT },
	{ "web-search-key-file", required_argument, NULL, O_WEB_OPT },
	{ "web-max-bytes", required_argument, NULL, O_WEB_OPT },
	{ "web-timeout", required_argument, NULL, O_WEB_OPT },
	{ "web-max-redirects", required_argument, NULL, O_WEB_OPT },
	{ "llm", no_argument, NULL, O_LLM },
	{ "llm-url", required_argument, NULL, O_LLM_OPT },
	{ "llm-model", required_argument, NULL, O_LLM_OPT },
	{ "llm-key-file", required_argument, NULL, O_LLM_OPT },
	{ "llm-proxy", required_argument, NULL, O_LLM_OPT },
	{ "llm-timeout", required_argument, NULL, O_LLM_OPT },
	{ "llm-connect-timeout", required_argument, NULL, O_LLM_OPT },
	{ "llm-retries", required_argument, NULL, O_LLM_OPT },
	{ "llm-backoff-ms", required_argument, NULL, O_LLM_OPT },
	{ "llm-max-response", required_argument, NULL, O_LLM_OPT },
	{ "as-of", required_argument, NULL, O_AS_OF },
	{ "servers", required_argument, NULL, O_SERVERS },
	{ "state-key-file", required_argument, NULL, O_STATE_KEY_FILE },
	{ "state-ttl", required_argument, NULL, O_STATE_TTL },
	{ "max-listens", required_argument, NULL, O_MAX_LISTENS },
	{ "max-tasks", required_argument, NULL, O_MAX_TASKS },
	{ "max-task-bytes", required_argument, NULL, O_MAX_TASK_BYTES },
	{ "task-ttl", required_argument, NULL, O_TASK_TTL },
	{ "protocol-versions", required_argument, NULL, O_PROTOCOL_VERSIONS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static int push(const char **list, unsigned *n, const char *v, const char *opt)
{
	if (*n >= MAX_LIST) {
		fprintf(stderr, "mcpd: %s: at most %d values\n", opt, MAX_LIST);
		return -1;
	}
	list[(*n)++] = v;
	list[*n] = NULL;
	return 0;
}

/* Adds a module option (name without dashes, value) to a NULL-terminated
 * pair list the module parses itself (web, llm). */
static int push_pair(const char **list, unsigned *n, const char *name,
		     const char *v, const char *what)
{
	if (*n >= MAX_LIST) {
		fprintf(stderr, "mcpd: at most %d %s options\n", MAX_LIST,
			what);
		return -1;
	}
	list[2 * *n] = name;
	list[2 * *n + 1] = v;
	(*n)++;
	return 0;
}

/* --protocol-versions: a comma-separated list of revisions, each
 * 2026-07-28 or one of the session era's; into *revs (MCP_REVS_*).
 * Returns -1 and reports on an unknown or empty item. */
static int parse_revisions(const char *arg, unsigned *revs)
{
	static const struct {
		const char *name;
		unsigned rev;
	} known[] = { { "2026-07-28", MCP_REVS_STATELESS },
		      { "2025-11-25", MCP_REVS_SESSION },
		      { "2025-06-18", MCP_REVS_SESSION },
		      { "2025-03-26", MCP_REVS_SESSION } };
	const char *p = arg;

	*revs = 0;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		size_t i;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strlen(known[i].name) == n &&
			    strncmp(p, known[i].name, n) == 0)
				break;
		if (i == sizeof(known) / sizeof(known[0])) {
			fprintf(stderr,
				"mcpd: --protocol-versions: expected "
				"2026-07-28 and/or 2025-11-25, got '%s'\n",
				arg);
			return -1;
		}
		*revs |= known[i].rev;
		if (!end)
			return 0;
		p = end + 1;
	}
}

static int parse_numeric_opt(int c, const char *arg, struct opts *o)
{
	unsigned long v;
	int rc = 0;

	switch (c) {
	case O_MAX_SESSIONS:
		rc = parse_num("--max-sessions", arg, 1, 100000, &v);
		o->http_cfg.max_sessions = (unsigned)v;
		break;
	case O_MAX_CONN:
		rc = parse_num("--max-connections", arg, 1, 100000, &v);
		o->http_cfg.max_connections = (unsigned)v;
		break;
	case O_SESSION_TIMEOUT:
		rc = parse_num("--session-timeout", arg, 1, 86400 * 7, &v);
		o->http_cfg.session_timeout = (unsigned)v;
		break;
	case O_MAX_BODY:
		rc = parse_num("--max-body", arg, 1024, 1UL << 30, &v);
		o->http_cfg.max_body = v;
		break;
	case O_MAX_MESSAGE:
		rc = parse_num("--max-message", arg, 1024, 1UL << 30, &v);
		o->limits.max_message = v;
		break;
	case O_STATE_TTL:
		rc = parse_num("--state-ttl", arg, 1, 86400, &v);
		o->state_ttl = (unsigned)v;
		break;
	case O_MAX_LISTENS:
		rc = parse_num("--max-listens", arg, 1, 100000, &v);
		o->max_listens = (unsigned)v;
		break;
	case O_MAX_TASKS:
		rc = parse_num("--max-tasks", arg, 1, 1000000, &v);
		o->max_tasks = (unsigned)v;
		break;
	case O_MAX_TASK_BYTES:
		rc = parse_num("--max-task-bytes", arg, 1024, 1UL << 34, &v);
		o->max_task_bytes = v;
		break;
	case O_TASK_TTL:
		rc = parse_num("--task-ttl", arg, 1000, 7UL * 86400 * 1000, &v);
		o->task_ttl_ms = (unsigned)v;
		break;
	default: /* O_WORKERS */
		rc = parse_num("--workers", arg, 1, 256, &v);
		o->workers = (unsigned)v;
		break;
	}
	return rc;
}

/* Returns 0 to run, 1 to exit successfully (help), -1 on a usage error. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	int c, idx = 0;

	while ((c = getopt_long(argc, argv, "vhV", long_opts, &idx)) != -1) {
		switch (c) {
		case O_STDIO:
			o->stdio = 1;
			break;
		case O_HTTP:
			o->http = optarg;
			if (parse_hostport(optarg, &o->http_cfg) != 0)
				return -1;
			break;
		case O_CHAN:
			if (push(o->chans, &o->nchans, optarg, "--chan"))
				return -1;
			break;
		case O_FIXTURES:
			if (strcmp(optarg, "conformance") != 0) {
				fprintf(stderr, "mcpd: --fixtures: only "
						"'conformance' exists\n");
				return -1;
			}
			o->fixtures = optarg;
			break;
		case O_ORIGIN:
			if (push(o->origins, &o->norigins, optarg,
				 "--allowed-origin"))
				return -1;
			break;
		case O_HOST:
			if (push(o->hosts, &o->nhosts, optarg,
				 "--allowed-host"))
				return -1;
			break;
		case O_READY:
			o->ready_file = optarg;
			break;
		case O_RAG_DB:
			o->rag_db = optarg;
			break;
		case O_RAG_WRITE:
			o->rag_write = 1;
			break;
		case O_WEB:
			o->web = 1;
			break;
		case O_WEB_OPT: /* the web module parses its own options */
			if (push_pair(o->web_opts, &o->nweb,
				      long_opts[idx].name, optarg, "--web-*"))
				return -1;
			break;
		case O_LLM:
			o->llm = 1;
			break;
		case O_LLM_OPT: /* so does the llm module */
			if (push_pair(o->llm_opts, &o->nllm,
				      long_opts[idx].name, optarg, "--llm-*"))
				return -1;
			break;
		case O_AS_OF:
			o->as_of = optarg;
			break;
		case O_SERVERS:
			o->servers = optarg;
			break;
		case O_STATE_KEY_FILE:
			o->state_key_file = optarg;
			break;
		case O_PROTOCOL_VERSIONS:
			if (parse_revisions(optarg, &o->revs) != 0)
				return -1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("mcpd %s\n", ZG_VERSION);
			return 1;
		case '?':
			fprintf(stderr, "Try 'mcpd --help'.\n");
			return -1;
		default:
			if (parse_numeric_opt(c, optarg, o) != 0)
				return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mcpd: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	if (o->rag_write && !o->rag_db) {
		fprintf(stderr, "mcpd: --rag-write needs --rag-db FILE\n");
		return -1;
	}
	if (o->nweb && !o->web) {
		fprintf(stderr, "mcpd: --web-* options need --web\n");
		return -1;
	}
	if (o->nllm && !o->llm) {
		fprintf(stderr, "mcpd: --llm-* options need --llm\n");
		return -1;
	}
	if (!o->http && !o->nchans)
		o->stdio = 1;
	return 0;
}

/* The RAG tool set is a module (rag/CMakeLists.txt): only an mcpd that
 * serves a store maps SQLite, OpenBLAS and libcurl. */
static int load_rag(mcp_server *srv, const struct opts *o, char *err,
		    size_t errlen)
{
	int (*reg)(mcp_server *, const char *, int, char *, size_t);

	*(void **)&reg = mcpd_toolset_symbol("zg_rag_toolset",
					     "rag_tools_register", err, errlen);
	if (!reg)
		return -1;
	return reg(srv, o->rag_db, o->rag_write, err, errlen);
}

/* The web and llm tool sets are modules too (web/, llm/CMakeLists.txt):
 * libcurl is mapped only by an mcpd that serves --web or --llm. Each
 * parses its own options. */
static int load_with_opts(mcp_server *srv, const char *module,
			  const char *symbol, const char *const *opts,
			  char *err, size_t errlen)
{
	int (*reg)(mcp_server *, const char *const *, char *, size_t);

	*(void **)&reg = mcpd_toolset_symbol(module, symbol, err, errlen);
	if (!reg)
		return -1;
	return reg(srv, opts, err, errlen);
}

static int register_tools(mcp_server *srv, const struct opts *o)
{
	char err[256];

	if (mcp_builtin_tools_register(srv, o->as_of, err, sizeof(err)) != 0)
		goto fail;
#ifdef ZG_HAVE_FIXTURES
	if (o->fixtures && mcp_fixtures_conformance(srv, err, sizeof(err)) != 0)
		goto fail;
#endif
	if (o->rag_db && load_rag(srv, o, err, sizeof(err)) != 0)
		goto fail;
	if (o->web &&
	    load_with_opts(srv, "zg_web_toolset", "web_tools_register",
			   o->web_opts, err, sizeof(err)) != 0)
		goto fail;
	if (o->llm &&
	    load_with_opts(srv, "zg_llm_toolset", "llm_tools_register",
			   o->llm_opts, err, sizeof(err)) != 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "mcpd: %s\n", err);
	return -1;
}

/* Hosted stdio servers (hosted.c): their children run beside mcpd. */
static struct hosted *start_hosted(mcp_server *srv, const struct opts *o)
{
	char err[512];
	struct hosted *h = hosted_start(srv, o->servers, o->limits.max_message,
					err, sizeof(err));

	if (!h)
		fprintf(stderr, "mcpd: --servers: %s\n", err);
	return h;
}

static int write_ready_file(const char *path, const char *url)
{
	char tmp[4096];
	FILE *f;
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%s\n", url);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

static struct mcp_http *start_http(mcp_server *srv, struct opts *o)
{
	char err[256], url[320];
	struct mcp_http *h;
	const char *host = o->http_cfg.host;
	int v6 = strchr(host, ':') != NULL;

	if (o->norigins)
		o->http_cfg.origins = o->origins;
	if (o->nhosts)
		o->http_cfg.hosts = o->hosts;
	h = mcp_http_start(srv, &o->http_cfg, err, sizeof(err));
	if (!h) {
		fprintf(stderr, "mcpd: --http %s: %s\n", o->http, err);
		return NULL;
	}
	snprintf(url, sizeof(url), "http://%s%s%s:%u/mcp", v6 ? "[" : "", host,
		 v6 ? "]" : "", mcp_http_port(h));
	fprintf(stderr, "mcpd: listening on %s\n", url);
	if (o->ready_file && write_ready_file(o->ready_file, url) != 0)
		fprintf(stderr, "mcpd: cannot write %s: %s\n", o->ready_file,
			strerror(errno));
	return h;
}

#ifdef ZG_HAVE_CHAN_MCP
/* Serves srv on every --chan address; 0, or -1 after reporting. */
static int start_chans(mcp_server *srv, const struct opts *o,
		       struct chan_mcp_server **out)
{
	char err[256];

	for (unsigned i = 0; i < o->nchans; i++) {
		out[i] = chan_mcp_serve(srv, o->chans[i], NULL, err,
					sizeof(err));
		if (!out[i]) {
			fprintf(stderr, "mcpd: --chan %s: %s\n", o->chans[i],
				err);
			return -1;
		}
		fprintf(stderr, "mcpd: serving on channel %s\n", o->chans[i]);
	}
	return 0;
}
#endif

/* Blocks until SIGINT or SIGTERM. */
static void wait_for_signal(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigwait(&set, &sig);
	fprintf(stderr, "mcpd: signal %d, shutting down\n", sig);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct mcp_server_info info = { "zonegate-mcpd", ZG_VERSION, NULL };
	struct mcp_http *http = NULL;
	struct hosted *hosted = NULL;
	mcp_server *srv = NULL;
#ifdef ZG_HAVE_CHAN_MCP
	struct chan_mcp_server *chans[MAX_LIST] = { 0 };
#endif
	sigset_t set;
	char err[512];
	int rc = 1;

	memset(&o, 0, sizeof(o));
	switch (parse_args(argc, argv, &o)) {
	case 1:
		return 0;
	case -1:
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Block the stop signals in every thread; only the main thread
	 * takes them, with sigwait. */
	/* Least privilege: nothing this process runs can gain privileges
	 * (setuid binaries, file capabilities). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fprintf(stderr, "mcpd: PR_SET_NO_NEW_PRIVS: %s\n",
			strerror(errno));
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (!o.stdio)
		pthread_sigmask(SIG_BLOCK, &set, NULL);

	srv = mcp_server_new(&info);
	if (!srv) {
		fprintf(stderr, "mcpd: out of memory\n");
		return 1;
	}
	mcp_server_set_limits(srv, &o.limits);
	if (o.workers)
		mcp_server_set_workers(srv, o.workers);
	if (o.max_listens)
		mcp_server_set_max_listens(srv, o.max_listens);
	mcp_server_set_task_limits(srv, o.max_tasks, o.max_task_bytes,
				   o.task_ttl_ms);
	mcp_server_set_request_log(srv, o.verbose);
	if (o.revs)
		mcp_server_set_revisions(srv, o.revs);
	if ((o.state_key_file || o.state_ttl) &&
	    mcp_server_set_state_keys(srv, o.state_key_file, o.state_ttl, err,
				      sizeof(err)) != 0) {
		fprintf(stderr, "mcpd: --state-key-file: %s\n", err);
		goto out;
	}
	if (register_tools(srv, &o) != 0)
		goto out;
	if (o.servers && !(hosted = start_hosted(srv, &o)))
		goto out;
	if (o.http) {
		http = start_http(srv, &o);
		if (!http)
			goto out;
	}
#ifdef ZG_HAVE_CHAN_MCP
	if (start_chans(srv, &o, chans) != 0)
		goto out;
#else
	if (o.nchans) {
		fprintf(stderr, "mcpd: --chan: built without channels\n");
		goto out;
	}
#endif
	if (o.stdio) {
		rc = mcp_stdio_serve(srv, STDIN_FILENO, STDOUT_FILENO) ? 1 : 0;
	} else {
		wait_for_signal();
		rc = 0;
	}
out:
#ifdef ZG_HAVE_CHAN_MCP
	for (unsigned i = 0; i < o.nchans; i++)
		chan_mcp_stop(chans[i]);
#endif
	mcp_http_stop(http);
	hosted_stop(hosted);
	mcp_server_free(srv);
	return rc;
}
