/* Chroma-like metadata filters ("where"): parsed once into a small tree,
 * then evaluated against each document's metadata before the vector scan.
 * Operators: $eq $ne $gt $gte $lt $lte $in $nin $prefix on fields, $and
 * $or. Everything is compared in C (no SQL), so no value is a pattern. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag_int.h"

#define FILTER_MAX_DEPTH 16
#define FILTER_MAX_NODES 1024
#define FILTER_MAX_IN 1024

enum fop {
	F_AND,
	F_OR,
	F_EQ,
	F_NE,
	F_GT,
	F_GTE,
	F_LT,
	F_LTE,
	F_IN,
	F_NIN,
	F_PREFIX
};

struct rag_filter {
	enum fop op;
	char *key;     /* field ops */
	json_t *value; /* field ops: scalar, or array for $in/$nin */
	struct rag_filter **kids;
	size_t nkids;
};

static const struct {
	const char *name;
	enum fop op;
} ops[] = { { "$eq", F_EQ },   { "$ne", F_NE },	  { "$gt", F_GT },
	    { "$gte", F_GTE }, { "$lt", F_LT },	  { "$lte", F_LTE },
	    { "$in", F_IN },   { "$nin", F_NIN }, { "$prefix", F_PREFIX },
	    { NULL, F_EQ } };

struct pctx {
	size_t nodes;
	char *err;
	size_t errlen;
};

void rag_filter_free(struct rag_filter *f)
{
	size_t i;
	if (!f)
		return;
	for (i = 0; i < f->nkids; i++)
		rag_filter_free(f->kids[i]);
	free(f->kids);
	free(f->key);
	json_decref(f->value);
	free(f);
}

static struct rag_filter *node_new(struct pctx *p, enum fop op)
{
	struct rag_filter *f;
	if (++p->nodes > FILTER_MAX_NODES) {
		rag_errf(p->err, p->errlen, "where: more than %d conditions",
			 FILTER_MAX_NODES);
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		rag_errf(p->err, p->errlen, "out of memory");
	else
		f->op = op;
	return f;
}

static int add_kid(struct rag_filter *f, struct rag_filter *k)
{
	struct rag_filter **nk = realloc(f->kids, (f->nkids + 1) * sizeof(*nk));
	if (!nk)
		return -1;
	f->kids = nk;
	f->kids[f->nkids++] = k;
	return 0;
}

static int is_scalar(const json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

static struct rag_filter *parse_obj(struct pctx *p, json_t *o, int depth);

/* One field condition: key with operator op and operand v. */
static struct rag_filter *parse_cmp(struct pctx *p, const char *key,
				    const char *opname, json_t *v)
{
	struct rag_filter *f;
	size_t i;

	for (i = 0; ops[i].name; i++)
		if (strcmp(ops[i].name, opname) == 0)
			break;
	if (!ops[i].name) {
		rag_errf(p->err, p->errlen, "where: unknown operator \"%.*s\"",
			 (int)web_utf8_prefix(opname, 32), opname);
		return NULL;
	}
	if (ops[i].op == F_IN || ops[i].op == F_NIN) {
		size_t j;
		if (!json_is_array(v) || json_array_size(v) > FILTER_MAX_IN) {
			rag_errf(p->err, p->errlen,
				 "where: %s needs an array of at most %d values",
				 opname, FILTER_MAX_IN);
			return NULL;
		}
		for (j = 0; j < json_array_size(v); j++)
			if (!is_scalar(json_array_get(v, j))) {
				rag_errf(p->err, p->errlen,
					 "where: %s values must be scalars",
					 opname);
				return NULL;
			}
	} else if (ops[i].op == F_PREFIX && !json_is_string(v)) {
		rag_errf(p->err, p->errlen,
			 "where: $prefix on \"%.*s\" needs a string",
			 (int)web_utf8_prefix(key, 64), key);
		return NULL;
	} else if (!is_scalar(v)) {
		rag_errf(
			p->err, p->errlen,
			"where: %s on \"%.*s\" needs a string, number or boolean",
			opname, (int)web_utf8_prefix(key, 64), key);
		return NULL;
	}
	f = node_new(p, ops[i].op);
	if (!f)
		return NULL;
	f->key = strdup(key);
	f->value = json_incref(v);
	if (!f->key) {
		rag_filter_free(f);
		rag_errf(p->err, p->errlen, "out of memory");
		return NULL;
	}
	return f;
}

/* A field: a scalar (implicit $eq) or an object of operators (all must
 * hold). */
static struct rag_filter *parse_field(struct pctx *p, const char *key,
				      json_t *v)
{
	struct rag_filter *all;
	const char *op;
	json_t *operand;

	if (!json_is_object(v))
		return parse_cmp(p, key, "$eq", v);
	if (json_object_size(v) == 0) {
		rag_errf(p->err, p->errlen,
			 "where: empty operator object for \"%.*s\"",
			 (int)web_utf8_prefix(key, 64), key);
		return NULL;
	}
	if (json_object_size(v) == 1) {
		void *it = json_object_iter(v);
		return parse_cmp(p, key, json_object_iter_key(it),
				 json_object_iter_value(it));
	}
	all = node_new(p, F_AND);
	if (!all)
		return NULL;
	json_object_foreach (v, op, operand) {
		struct rag_filter *k = parse_cmp(p, key, op, operand);
		if (!k || add_kid(all, k) < 0) {
			rag_filter_free(k);
			rag_filter_free(all);
			return NULL;
		}
	}
	return all;
}

static struct rag_filter *parse_logic(struct pctx *p, enum fop op, json_t *arr,
				      int depth)
{
	struct rag_filter *f;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		rag_errf(p->err, p->errlen,
			 "where: %s needs a non-empty array of filters",
			 op == F_AND ? "$and" : "$or");
		return NULL;
	}
	f = node_new(p, op);
	if (!f)
		return NULL;
	for (i = 0; i < json_array_size(arr); i++) {
		struct rag_filter *k =
			parse_obj(p, json_array_get(arr, i), depth + 1);
		if (!k || add_kid(f, k) < 0) {
			rag_filter_free(k);
			rag_filter_free(f);
			return NULL;
		}
	}
	return f;
}

static struct rag_filter *parse_entry(struct pctx *p, const char *key,
				      json_t *v, int depth)
{
	if (strcmp(key, "$and") == 0)
		return parse_logic(p, F_AND, v, depth);
	if (strcmp(key, "$or") == 0)
		return parse_logic(p, F_OR, v, depth);
	if (key[0] == '$') {
		rag_errf(p->err, p->errlen,
			 "where: unknown top-level operator \"%.*s\"",
			 (int)web_utf8_prefix(key, 32), key);
		return NULL;
	}
	return parse_field(p, key, v);
}

static struct rag_filter *parse_obj(struct pctx *p, json_t *o, int depth)
{
	struct rag_filter *all;
	const char *key;
	json_t *v;

	if (depth > FILTER_MAX_DEPTH) {
		rag_errf(p->err, p->errlen, "where: nested deeper than %d",
			 FILTER_MAX_DEPTH);
		return NULL;
	}
	if (!json_is_object(o) || json_object_size(o) == 0) {
		rag_errf(p->err, p->errlen,
			 "where: expected a non-empty object");
		return NULL;
	}
	if (json_object_size(o) == 1) {
		void *it = json_object_iter(o);
		return parse_entry(p, json_object_iter_key(it),
				   json_object_iter_value(it), depth);
	}
	all = node_new(p, F_AND);
	if (!all)
		return NULL;
	json_object_foreach (o, key, v) {
		struct rag_filter *k = parse_entry(p, key, v, depth);
		if (!k || add_kid(all, k) < 0) {
			rag_filter_free(k);
			rag_filter_free(all);
			return NULL;
		}
	}
	return all;
}

struct rag_filter *rag_filter_parse(const char *json, size_t len, char *err,
				    size_t errlen)
{
	struct pctx p = { 0, err, errlen };
	struct rag_filter *f;
	json_error_t je;
	json_t *o;

	if (len > RAG_MAX_WHERE) {
		rag_errf(err, errlen, "where: longer than %d bytes",
			 RAG_MAX_WHERE);
		return NULL;
	}
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		rag_errf(err, errlen, "where: invalid JSON at column %d: %s",
			 je.column, je.text);
		return NULL;
	}
	f = parse_obj(&p, o, 0);
	json_decref(o);
	return f;
}

/* <0, 0, >0 like strcmp, or 2 when a and b are not comparable. */
static int cmp_values(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b)) {
		double x = json_number_value(a), y = json_number_value(b);
		return x < y ? -1 : x > y ? 1 : 0;
	}
	if (json_is_string(a) && json_is_string(b)) {
		int c = strcmp(json_string_value(a), json_string_value(b));
		return c < 0 ? -1 : c > 0 ? 1 : 0;
	}
	if (json_is_boolean(a) && json_is_boolean(b))
		return json_is_true(a) == json_is_true(b) ? 0 : 2;
	return 2;
}

static int in_array(const json_t *v, const json_t *arr)
{
	size_t i;
	for (i = 0; i < json_array_size(arr); i++)
		if (cmp_values(v, json_array_get(arr, i)) == 0)
			return 1;
	return 0;
}

/* Nonzero if v is a string starting with the bytes of string p. Lengths
 * come from jansson, so a NUL inside either string is compared too. */
static int has_prefix(const json_t *v, const json_t *p)
{
	size_t n = json_string_length(p);
	return json_is_string(v) && json_string_length(v) >= n &&
	       memcmp(json_string_value(v), json_string_value(p), n) == 0;
}

int rag_filter_match(const struct rag_filter *f, const json_t *meta)
{
	const json_t *v;
	size_t i;
	int c;

	if (f->op == F_AND || f->op == F_OR) {
		for (i = 0; i < f->nkids; i++) {
			int m = rag_filter_match(f->kids[i], meta);
			if (f->op == F_AND && !m)
				return 0;
			if (f->op == F_OR && m)
				return 1;
		}
		return f->op == F_AND;
	}
	v = meta ? json_object_get(meta, f->key) : NULL;
	if (!v) /* an absent field only satisfies the negative operators */
		return f->op == F_NE || f->op == F_NIN;
	if (f->op == F_IN)
		return in_array(v, f->value);
	if (f->op == F_NIN)
		return !in_array(v, f->value);
	if (f->op == F_PREFIX)
		return has_prefix(v, f->value);
	c = cmp_values(v, f->value);
	switch (f->op) {
	case F_EQ:
		return c == 0;
	case F_NE:
		return c != 0;
	case F_GT:
		return c == 1;
	case F_GTE:
		return c == 1 || c == 0;
	case F_LT:
		return c == -1;
	case F_LTE:
		return c == -1 || c == 0;
	default:
		return 0;
	}
}
