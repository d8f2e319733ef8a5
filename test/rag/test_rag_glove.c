/* The glove embedder: import of a small file in the npm package's JSON
 * layout, SIF-weighted sentence vectors, a collection built on it, and
 * refusal of truncated or foreign model files and malformed JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rag_int.h"
#include "zgtest.h"

static char dir[256], json[300], model[300], err[512];

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	fputs(text, fp);
	fclose(fp);
}

static const char tiny[] =
	"{\"precision\":8,\"l2NormIndex\":4,\"wordIndex\":5,\"size\":6,"
	"\"dimensions\":4,\"words\":[\"the\",\"cat\",\"kitten\",\"car\",\"engine\",\"q\\\"x\"],"
	"\"vectors\":{"
	"\"the\":[0.1,0.1,0.1,0.1,0.2,0],"
	"\"cat\":[1,0.1,0,0,1,1],"
	"\"kitten\":[0.9,0.2,0,0,1,2],"
	"\"car\":[0,0,1,0.1,1,3],"
	"\"engine\":[0,0.1,0.9,0.2,1,4],"
	"\"q\\\"x\":[0,0,0,1,1,5]},"
	"\"unkVector\":[0,0,0,0,0,-1]}";

static double cosine(const float *a, const float *b, int d)
{
	double s = 0;
	int i;
	for (i = 0; i < d; i++)
		s += (double)a[i] * b[i];
	return s; /* vectors are normalised */
}

static void test_import_embed(void)
{
	const char *t[3] = { "The cat", "a KITTEN!", "the car engine" };
	size_t l[3] = { 7, 9, 14 };
	struct rag_embedder *e;
	float v[12];

	write_file(json, tiny);
	CHECK_EQ_INT(rag_glove_import(json, model, err, sizeof(err)), 0);
	e = rag_glove_open(model, err, sizeof(err));
	CHECK(e != NULL);
	if (!e)
		return;
	CHECK_EQ_INT(e->dims, 4);
	CHECK_EQ_INT(e->embed(e, t, l, 3, v, err, sizeof(err)), 0);
	CHECK(cosine(v, v + 4, 4) > 0.9);
	CHECK(cosine(v, v + 8, 4) < 0.5);
	CHECK(fabs(cosine(v, v, 4) - 1.0) < 1e-5);
	e->destroy(e);
}

static void test_collection(void)
{
	struct rag_embedder_opts eo = { 0 };
	struct rag_query q = { 0 };
	struct rag_results r;
	struct rag_ingest_result ir;
	char db_path[300];
	rag_db *db;

	snprintf(db_path, sizeof(db_path), "%s/g.db", dir);
	db = rag_open(db_path, 0, err, sizeof(err));
	eo.embedder = "glove";
	eo.model = model;
	CHECK_EQ_INT(rag_collection_ensure(db, "g", &eo, err, sizeof(err)), 0);
	CHECK_EQ_INT(rag_ingest_text(db, "g", "pets", "the kitten", 10, NULL,
				     NULL, &ir, err, sizeof(err)),
		     0);
	CHECK_EQ_INT(rag_ingest_text(db, "g", "cars", "the engine", 10, NULL,
				     NULL, &ir, err, sizeof(err)),
		     0);
	q.collection = "g";
	q.text = "cat";
	q.k = 1;
	q.mode = RAG_MODE_VECTOR;
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), 0);
	CHECK(r.n == 1 && strcmp(r.hits[0].source, "pets") == 0);
	rag_results_free(&r);
	rag_close(db);
	/* The model file changes under the collection: refused. */
	write_file(json,
		   "{\"dimensions\":4,\"vectors\":{\"cat\":[0,0,0,1,1,0]}}");
	CHECK_EQ_INT(rag_glove_import(json, model, err, sizeof(err)), 0);
	db = rag_open(db_path, 0, err, sizeof(err));
	CHECK_EQ_INT(rag_search(db, &q, &r, err, sizeof(err)), -1);
	CHECK(strstr(err, "refusing") != NULL);
	rag_close(db);
	unlink(db_path);
}

static void test_bad_files(void)
{
	struct rag_embedder *e;
	FILE *fp;
	write_file(json,
		   "{\"dimensions\":4,\"vectors\":{\"cat\":[0,0,\"x\"]}}");
	CHECK_EQ_INT(rag_glove_import(json, model, err, sizeof(err)), -1);
	write_file(json, "{\"dimensions\":0,\"vectors\":{}}");
	CHECK_EQ_INT(rag_glove_import(json, model, err, sizeof(err)), -1);
	write_file(json, "{\"vectors\":{}}");
	CHECK_EQ_INT(rag_glove_import(json, model, err, sizeof(err)), -1);
	CHECK_EQ_INT(rag_glove_import("/nonexistent.json", model, err,
				      sizeof(err)),
		     -1);
	write_file(model, "ZGGLOVE1 but truncated");
	e = rag_glove_open(model, err, sizeof(err));
	CHECK(e == NULL && strstr(err, "not a valid model") != NULL);
	fp = fopen(model, "w");
	fclose(fp);
	CHECK(rag_glove_open(model, err, sizeof(err)) == NULL);
	CHECK(rag_glove_open(NULL, err, sizeof(err)) == NULL);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/zg-rag-glove-%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(json, sizeof(json), "%s/tiny.json", dir);
	snprintf(model, sizeof(model), "%s/tiny.bin", dir);
	RUN(test_import_embed);
	RUN(test_collection);
	RUN(test_bad_files);
	unlink(json);
	unlink(model);
	rmdir(dir);
	return ZGT_DONE();
}
