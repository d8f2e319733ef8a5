/* Crash safety: a child process ingests documents while the parent kills
 * it with SIGKILL at random moments, repeatedly. Afterwards the file must
 * pass PRAGMA integrity_check and the FTS integrity check, every document
 * must have all its chunks and vectors, and re-running the ingest must
 * add each document exactly once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "zonegate/rag.h"
#include "zgtest.h"

#define NDOCS 120
#define ROUNDS 12

static char dbpath[256];

/* Document i: i % 7 + 1 paragraphs; its chunk count goes into metadata. */
static void doc_text(int i, char *buf, size_t cap)
{
	size_t o = 0;
	int p;
	for (p = 0; p < i % 7 + 1; p++)
		o += (size_t)snprintf(
			buf + o, cap - o,
			"Paragraph %d of document %d about cgroup"
			" limits, seccomp filters and namespaces. %s\n\n",
			p, i,
			"Padding text to make chunks fill up nicely"
			" with many words that are indexed by FTS5.");
}

/* Ingests the documents of round (sources "rR-docNNN"); returns how many
 * were added, -1 on error. round < 0: every round's documents. */
static int ingest_round(int round);

static int ingest_all(void)
{
	int r, added = 0;
	for (r = 0; r < ROUNDS; r++) {
		int a = ingest_round(r);
		if (a < 0)
			return -1;
		added += a;
	}
	return added;
}

static int ingest_round(int round)
{
	struct rag_chunk_opts co = { 200, 0 };
	char err[256], text[4096], src[32], meta[32];
	rag_db *db = rag_open(dbpath, 0, err, sizeof(err));
	int i, added = 0;

	if (!db || rag_collection_ensure(db, NULL, NULL, err, sizeof(err)) < 0)
		return -1;
	for (i = 0; i < NDOCS; i++) {
		struct rag_ingest_result r;
		doc_text(i, text, sizeof(text));
		snprintf(src, sizeof(src), "r%d-doc%03d", round, i);
		snprintf(meta, sizeof(meta), "{\"n\":%d}", i % 7 + 1);
		if (rag_ingest_text(db, NULL, src, text, strlen(text), meta,
				    &co, &r, err, sizeof(err)) < 0) {
			fprintf(stderr, "ingest: %s\n", err);
			rag_close(db);
			return -1;
		}
		added += r.added;
	}
	rag_close(db);
	return added;
}

static int q_int(sqlite3 *s, const char *sql)
{
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void check_consistent(int *ndocs)
{
	sqlite3 *s;
	sqlite3_stmt *st;
	CHECK_EQ_INT(sqlite3_open(dbpath, &s), SQLITE_OK);
	/* Killed before the schema transaction committed: then there must
	 * be no schema at all (it is created whole or not at all). */
	if (q_int(s, "SELECT count(*) FROM sqlite_master WHERE name ="
		     " 'documents'") == 0) {
		CHECK_EQ_INT(q_int(s, "SELECT count(*) FROM sqlite_master"), 0);
		*ndocs = 0;
		sqlite3_close(s);
		return;
	}
	CHECK_EQ_INT(sqlite3_prepare_v2(s, "PRAGMA integrity_check", -1, &st,
					NULL),
		     SQLITE_OK);
	CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	CHECK_EQ_INT(sqlite3_exec(s,
				  "INSERT INTO chunks_fts(chunks_fts)"
				  " VALUES('integrity-check')",
				  NULL, NULL, NULL),
		     SQLITE_OK);
	/* every document is whole: chunk count as its metadata says */
	CHECK_EQ_INT(
		q_int(s,
		      "SELECT count(*) FROM documents d WHERE"
		      " (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id)"
		      " <> json_extract(d.metadata, '$.n')"),
		0);
	CHECK_EQ_INT(q_int(s, "SELECT count(*) FROM chunks"),
		     q_int(s, "SELECT count(*) FROM vectors"));
	CHECK_EQ_INT(q_int(s, "SELECT count(*) FROM chunks WHERE doc_id NOT IN"
			      " (SELECT id FROM documents)"),
		     0);
	*ndocs = q_int(s, "SELECT count(*) FROM documents");
	sqlite3_close(s);
}

static void test_kill_loop(void)
{
	int round, before, after;
	srand((unsigned)time(NULL));
	for (round = 0; round < ROUNDS; round++) {
		pid_t pid = fork();
		int status;
		if (pid == 0)
			_exit(ingest_all() < 0 ? 1 : 0);
		/* Wide enough to land anywhere from schema creation to the
		 * last document, in optimised and sanitizer builds alike. */
		usleep((useconds_t)(2000 + rand() % (40000 + 10000 * round)));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		check_consistent(&before);
		fprintf(stderr,
			"round %d: killed (%s), %d documents whole so far\n",
			round,
			WIFSIGNALED(status) ? "mid-ingest" : "after it ended",
			before);
	}
	check_consistent(&before);
	after = ingest_all(); /* finishes the job, adding only what is missing */
	CHECK_EQ_INT(after, ROUNDS * NDOCS - before);
	CHECK_EQ_INT(ingest_all(), 0); /* and again: nothing */
	check_consistent(&after);
	CHECK_EQ_INT(after, ROUNDS * NDOCS);
}

int main(void)
{
	char p[300];
	snprintf(dbpath, sizeof(dbpath), "%s/zg-rag-crash-%d.db",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	RUN(test_kill_loop);
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	return ZGT_DONE();
}
