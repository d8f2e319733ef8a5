/* Retrieval evaluation over the man pages: known-item search where the
 * query is a page's one-line NAME description and the answer is the page.
 * Prints recall@1, recall@10 and MRR@10 (document level: chunks of one
 * page count once) for BM25 and for vector and hybrid search with each
 * embedder collection present in the store, as a Markdown table.
 * usage: rag_eval DB MAN_DIR [COLLECTION...]   (run from the repo root
 * on a store ingested with --base . and the same relative paths) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zonegate/rag.h"

#define MAX_Q 4000
#define DEPTH 60

struct item {
	char *query;
	char *source;
};

static char *read_all(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (buf && fread(buf, 1, (size_t)n, fp) == (size_t)n) {
		buf[n] = '\0';
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	return buf;
}

/* The description after " - " in the NAME section, or NULL. */
static char *name_desc(const char *text)
{
	const char *p = strstr(text, "\nNAME\n"), *e, *dash;
	char *out, *o;
	if (!p)
		return NULL;
	p += 6;
	e = strstr(p, "\n\n");
	if (!e)
		return NULL;
	dash = strstr(p, " - ");
	if (!dash || dash > e)
		return NULL;
	dash += 3;
	out = malloc((size_t)(e - dash) + 1);
	o = out;
	for (; dash < e; dash++) { /* collapse whitespace */
		char c = *dash == '\n' ? ' ' : *dash;
		if (c == ' ' && (o == out || o[-1] == ' '))
			continue;
		*o++ = c;
	}
	while (o > out && o[-1] == ' ')
		o--;
	*o = '\0';
	return out;
}

static size_t load_dir(const char *dir, struct item *items, size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];
	while (d && (de = readdir(d)) != NULL && n < MAX_Q) {
		char *text, *q;
		if (!strstr(de->d_name, ".txt"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		text = read_all(path);
		q = text ? name_desc(text) : NULL;
		free(text);
		if (!q || !*q) {
			free(q);
			continue;
		}
		items[n].query = q;
		items[n].source = strdup(path);
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* Rank (1-based) of source among the distinct sources of r, 0 if absent. */
static int doc_rank(const struct rag_results *r, const char *source)
{
	const char *seen[DEPTH];
	size_t ns = 0, i, j;
	for (i = 0; i < r->n; i++) {
		for (j = 0; j < ns; j++)
			if (strcmp(seen[j], r->hits[i].source) == 0)
				break;
		if (j < ns)
			continue;
		seen[ns++] = r->hits[i].source;
		if (strcmp(r->hits[i].source, source) == 0)
			return (int)ns;
	}
	return 0;
}

static void run(rag_db *db, const char *coll, enum rag_mode mode,
		enum rag_fusion fusion, const char *label, struct item *items,
		size_t n)
{
	size_t i, r1 = 0, r10 = 0, fails = 0;
	double mrr = 0;
	char err[512];
	for (i = 0; i < n; i++) {
		struct rag_query q = { 0 };
		struct rag_results r;
		int rank;
		q.collection = coll;
		q.text = items[i].query;
		q.k = DEPTH;
		q.mode = mode;
		q.fusion = fusion;
		if (rag_search(db, &q, &r, err, sizeof(err)) < 0) {
			if (!fails++)
				fprintf(stderr, "rag_eval: %s: %s\n", label,
					err);
			continue;
		}
		rank = doc_rank(&r, items[i].source);
		r1 += rank == 1;
		r10 += rank >= 1 && rank <= 10;
		if (rank >= 1 && rank <= 10)
			mrr += 1.0 / rank;
		rag_results_free(&r);
	}
	if (fails == n)
		return;
	printf("| %-28s | %5.3f | %5.3f | %5.3f |\n", label,
	       (double)r1 / (double)n, (double)r10 / (double)n,
	       mrr / (double)n);
}

int main(int argc, char **argv)
{
	static struct item items[MAX_Q];
	char dir[4096], err[512], label[128];
	size_t n = 0, i;
	rag_db *db;
	int c;

	if (argc < 3) {
		fprintf(stderr, "usage: rag_eval DB MAN_DIR [COLLECTION...]\n");
		return 2;
	}
	db = rag_open(argv[1], RAG_OPEN_READONLY, err, sizeof(err));
	if (!db) {
		fprintf(stderr, "rag_eval: %s\n", err);
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/man2", argv[2]);
	n = load_dir(dir, items, n);
	snprintf(dir, sizeof(dir), "%s/man7", argv[2]);
	n = load_dir(dir, items, n);
	printf("Known-item search, %zu man pages (query: NAME line description)\n\n",
	       n);
	printf("| %-28s | R@1   | R@10  | MRR@10 |\n", "method");
	printf("|------------------------------|-------|-------|-------|\n");
	run(db, argc > 3 ? argv[3] : NULL, RAG_MODE_BM25, 0, "bm25 (FTS5)",
	    items, n);
	for (c = 3; c < argc || c == 3; c++) {
		const char *coll = c < argc ? argv[c] : NULL;
		snprintf(label, sizeof(label), "vector, %s",
			 coll ? coll : "default");
		run(db, coll, RAG_MODE_VECTOR, 0, label, items, n);
		snprintf(label, sizeof(label), "hybrid RRF, %s",
			 coll ? coll : "default");
		run(db, coll, RAG_MODE_HYBRID, RAG_FUSE_RRF, label, items, n);
		snprintf(label, sizeof(label), "hybrid weighted, %s",
			 coll ? coll : "default");
		run(db, coll, RAG_MODE_HYBRID, RAG_FUSE_CONVEX, label, items,
		    n);
		if (c >= argc)
			break;
	}
	for (i = 0; i < n; i++) {
		free(items[i].query);
		free(items[i].source);
	}
	rag_close(db);
	return 0;
}
