/* The MCP server object and its registry of tools, resources, resource
 * templates and prompts: registration with validation, lookups, cursor
 * pagination, and list_changed broadcasts to live sessions. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp_internal.h"
#include "session_methods.h"
#include "utf8.h"
#include "zg_common.h"

#define MAX_NAME_LEN 128

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	mcp_utf8_vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

mcp_server *mcp_server_new(const struct mcp_server_info *info)
{
	mcp_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	srv->info = json_pack("{s:s, s:s}", "name",
			      info && info->name ? info->name : "zonegate-mcpd",
			      "version",
			      info && info->version ? info->version : "0");
	if (!srv->info) {
		free(srv);
		return NULL;
	}
	if (info && info->instructions)
		srv->instructions = strdup(info->instructions);
	pthread_rwlock_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->sessions_mu, NULL);
	srv->page_size = 100;
	srv->max_inflight = 64;
	srv->limits.max_message = MCP_DEFAULT_MAX_MESSAGE;
	srv->limits.max_depth = MCP_DEFAULT_MAX_DEPTH;
	mcp_pool_init(&srv->pool, 32);
	srv->state_ttl = MCP_STATE_DEFAULT_TTL;
	srv->max_listens = MCP_DEFAULT_MAX_LISTENS;
	atomic_init(&srv->nlistens, 0);
	if (mcp_tasks_init(srv) != 0 ||
	    mcp_state_keys_random(&srv->state_keys) != 0) {
		mcp_server_free(srv);
		return NULL;
	}
	return srv;
}

void mcp_entry_ref(struct mcp_entry *e)
{
	atomic_fetch_add(&e->refs, 1);
}

void mcp_entry_unref(struct mcp_entry *e)
{
	if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	free(e->name);
	json_decref(e->def);
	json_decref(e->prompt_args);
	free(e);
}

static void list_clear(struct mcp_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		mcp_entry_unref(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void mcp_server_free(mcp_server *srv)
{
	if (!srv)
		return;
	mcp_tasks_free(srv); /* their sessions run on the pool */
	mcp_pool_destroy(&srv->pool);
	list_clear(&srv->tools);
	list_clear(&srv->resources);
	list_clear(&srv->templates);
	list_clear(&srv->prompts);
	json_decref(srv->info);
	free(srv->instructions);
	while (srv->ncleanups > 0) {
		srv->ncleanups--;
		srv->cleanups[srv->ncleanups].fn(
			srv->cleanups[srv->ncleanups].arg);
	}
	memset(&srv->state_keys, 0, sizeof(srv->state_keys));
	pthread_rwlock_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->sessions_mu);
	free(srv);
}

int mcp_server_on_free(mcp_server *srv, void (*fn)(void *), void *arg)
{
	if (!fn || srv->ncleanups >= MCP_SERVER_MAX_CLEANUPS)
		return -1;
	srv->cleanups[srv->ncleanups].fn = fn;
	srv->cleanups[srv->ncleanups].arg = arg;
	srv->ncleanups++;
	return 0;
}

void mcp_server_set_request_log(mcp_server *srv, int on)
{
	srv->request_log = on != 0;
}

int mcp_server_set_revisions(mcp_server *srv, unsigned mask)
{
	if (!mask ||
	    (mask & ~(unsigned)(MCP_REVS_SESSION | MCP_REVS_STATELESS)))
		return -1;
	srv->revs = mask;
	return 0;
}

int mcp_server_serves(const mcp_server *srv, unsigned rev)
{
	return !srv || !srv->revs || (srv->revs & rev) != 0;
}

void mcp_server_set_page_size(mcp_server *srv, unsigned n)
{
	if (n >= 1 && n <= 1000)
		srv->page_size = n;
}

int mcp_server_set_workers(mcp_server *srv, unsigned n)
{
	if (n < 1 || n > 256)
		return -1;
	pthread_mutex_lock(&srv->pool.mu);
	srv->pool.max_threads = n;
	pthread_mutex_unlock(&srv->pool.mu);
	return 0;
}

void mcp_server_set_max_inflight(mcp_server *srv, unsigned n)
{
	if (n >= 1)
		srv->max_inflight = n;
}

void mcp_server_set_limits(mcp_server *srv, const struct mcp_limits *lim)
{
	if (lim->max_message)
		srv->limits.max_message = lim->max_message;
	if (lim->max_depth)
		srv->limits.max_depth = lim->max_depth;
}

/* Tool and prompt names per the 2025-11-25 guidance: 1-128 characters
 * of letters, digits, '_', '-' and '.'. */
int mcp_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > MAX_NAME_LEN)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return 0;
	}
	return 1;
}

/* Parses JSON text that must be an object; NULL text gives NULL. */
static int parse_object(const char *text, const char *what, json_t **out,
			char *err, size_t errlen)
{
	json_error_t jerr;

	*out = NULL;
	if (!text)
		return 0;
	*out = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out || !json_is_object(*out)) {
		set_err(err, errlen, "%s: not a JSON object (%s)", what,
			*out ? "wrong type" : jerr.text);
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

static void set_opt_str(json_t *obj, const char *key, const char *val)
{
	if (val)
		json_object_set_new(obj, key, json_string(val));
}

static int list_find(const struct mcp_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i]->name, name) == 0)
			return (int)i;
	return -1;
}

static int list_push(struct mcp_list *l, struct mcp_entry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct mcp_entry **v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = e;
	return 0;
}

static struct mcp_list *list_of(mcp_server *srv, enum mcp_entry_kind k)
{
	switch (k) {
	case ENT_TOOL:
		return &srv->tools;
	case ENT_RESOURCE:
		return &srv->resources;
	case ENT_TEMPLATE:
		return &srv->templates;
	default:
		return &srv->prompts;
	}
}

static const char *list_changed_method(enum mcp_entry_kind k)
{
	switch (k) {
	case ENT_TOOL:
		return "notifications/tools/list_changed";
	case ENT_PROMPT:
		return "notifications/prompts/list_changed";
	default:
		return "notifications/resources/list_changed";
	}
}

/* Adds e (taking ownership) unless the name is taken. */
static int registry_add(mcp_server *srv, struct mcp_entry *e, char *err,
			size_t errlen)
{
	struct mcp_list *l = list_of(srv, e->kind);
	int rc = 0;

	atomic_init(&e->refs, 1);
	pthread_rwlock_wrlock(&srv->lock);
	if (list_find(l, e->name) >= 0) {
		set_err(err, errlen, "duplicate name: %s", e->name);
		rc = -1;
	} else if (list_push(l, e) != 0) {
		set_err(err, errlen, "out of memory");
		rc = -1;
	}
	pthread_rwlock_unlock(&srv->lock);
	if (rc != 0) {
		mcp_entry_unref(e);
		return rc;
	}
	mcp_server_broadcast(srv, list_changed_method(e->kind), NULL);
	return 0;
}

static struct mcp_entry *entry_new(enum mcp_entry_kind k, const char *name)
{
	struct mcp_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->kind = k;
	e->name = strdup(name);
	e->def = json_object();
	if (!e->name || !e->def) {
		free(e->name);
		json_decref(e->def);
		free(e);
		return NULL;
	}
	return e;
}

int mcp_server_add_tool(mcp_server *srv, const struct mcp_tool *t, char *err,
			size_t errlen)
{
	struct mcp_entry *e;
	json_t *in = NULL, *out = NULL, *ann = NULL;

	if (!mcp_name_valid(t->name)) {
		set_err(err, errlen, "invalid tool name: %s",
			t->name ? t->name : "(null)");
		return -1;
	}
	if (!t->fn) {
		set_err(err, errlen, "tool %s: no handler", t->name);
		return -1;
	}
	if (parse_object(t->input_schema, "inputSchema", &in, err, errlen) ||
	    parse_object(t->output_schema, "outputSchema", &out, err, errlen) ||
	    parse_object(t->annotations, "annotations", &ann, err, errlen))
		goto fail;
	if (!in)
		in = json_pack("{s:s}", "type", "object");
	if (!json_is_string(json_object_get(in, "type")) ||
	    strcmp(json_string_value(json_object_get(in, "type")), "object")) {
		set_err(err, errlen, "tool %s: inputSchema type must be object",
			t->name);
		goto fail;
	}
	e = entry_new(ENT_TOOL, t->name);
	if (!e) {
		set_err(err, errlen, "out of memory");
		goto fail;
	}
	json_object_set_new(e->def, "name", json_string(t->name));
	set_opt_str(e->def, "title", t->title);
	set_opt_str(e->def, "description", t->description);
	json_object_set_new(e->def, "inputSchema", in);
	if (out)
		json_object_set_new(e->def, "outputSchema", out);
	if (ann)
		json_object_set_new(e->def, "annotations", ann);
	e->fn.tool = t->fn;
	e->ud = t->ud;
	e->flags = t->flags;
	return registry_add(srv, e, err, errlen);
fail:
	json_decref(in);
	json_decref(out);
	json_decref(ann);
	return -1;
}

/* Removes the entry named name from list l of kind k; 0 or -1 (absent). */
static int remove_entry(mcp_server *srv, struct mcp_list *l,
			enum mcp_entry_kind k, const char *name)
{
	int i;

	pthread_rwlock_wrlock(&srv->lock);
	i = list_find(l, name);
	if (i >= 0) {
		mcp_entry_unref(l->v[i]);
		memmove(&l->v[i], &l->v[i + 1],
			(l->n - (size_t)i - 1) * sizeof(l->v[0]));
		l->n--;
	}
	pthread_rwlock_unlock(&srv->lock);
	if (i < 0)
		return -1;
	mcp_server_broadcast(srv, list_changed_method(k), NULL);
	return 0;
}

int mcp_server_remove_tool(mcp_server *srv, const char *name)
{
	return remove_entry(srv, &srv->tools, ENT_TOOL, name);
}

int mcp_server_remove_prompt(mcp_server *srv, const char *name)
{
	return remove_entry(srv, &srv->prompts, ENT_PROMPT, name);
}

static int add_resource_kind(mcp_server *srv, const struct mcp_resource *r,
			     enum mcp_entry_kind k, char *err, size_t errlen)
{
	struct mcp_entry *e;

	if (!r->uri || !*r->uri || strlen(r->uri) > MCP_MAX_URI_LEN ||
	    !r->name || !r->fn) {
		set_err(err, errlen,
			"resource needs a uri, a name and a handler");
		return -1;
	}
	e = entry_new(k, r->uri);
	if (!e) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	json_object_set_new(e->def, k == ENT_TEMPLATE ? "uriTemplate" : "uri",
			    json_string(r->uri));
	json_object_set_new(e->def, "name", json_string(r->name));
	set_opt_str(e->def, "title", r->title);
	set_opt_str(e->def, "description", r->description);
	set_opt_str(e->def, "mimeType", r->mime_type);
	e->fn.resource = r->fn;
	e->complete = r->complete;
	e->ud = r->ud;
	return registry_add(srv, e, err, errlen);
}

int mcp_server_add_resource(mcp_server *srv, const struct mcp_resource *r,
			    char *err, size_t errlen)
{
	return add_resource_kind(srv, r, ENT_RESOURCE, err, errlen);
}

int mcp_server_add_resource_template(mcp_server *srv,
				     const struct mcp_resource *r, char *err,
				     size_t errlen)
{
	return add_resource_kind(srv, r, ENT_TEMPLATE, err, errlen);
}

int mcp_server_add_prompt(mcp_server *srv, const struct mcp_prompt *p,
			  char *err, size_t errlen)
{
	struct mcp_entry *e;
	json_t *args = NULL;
	json_error_t jerr;

	if (!mcp_name_valid(p->name) || !p->fn) {
		set_err(err, errlen, "prompt needs a valid name and a handler");
		return -1;
	}
	if (p->arguments) {
		args = json_loads(p->arguments, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_array(args)) {
			set_err(err, errlen,
				"prompt %s: arguments must be a "
				"JSON array",
				p->name);
			json_decref(args);
			return -1;
		}
	}
	e = entry_new(ENT_PROMPT, p->name);
	if (!e) {
		json_decref(args);
		set_err(err, errlen, "out of memory");
		return -1;
	}
	json_object_set_new(e->def, "name", json_string(p->name));
	set_opt_str(e->def, "title", p->title);
	set_opt_str(e->def, "description", p->description);
	if (args) {
		json_object_set(e->def, "arguments", args);
		e->prompt_args = args;
	}
	e->fn.prompt = p->fn;
	e->complete = p->complete;
	e->ud = p->ud;
	return registry_add(srv, e, err, errlen);
}

struct mcp_entry *mcp_registry_find(mcp_server *srv, enum mcp_entry_kind k,
				    const char *name)
{
	struct mcp_list *l = list_of(srv, k);
	struct mcp_entry *e = NULL;
	int i;

	pthread_rwlock_rdlock(&srv->lock);
	i = list_find(l, name);
	if (i >= 0) {
		e = l->v[i];
		mcp_entry_ref(e);
	}
	pthread_rwlock_unlock(&srv->lock);
	return e;
}

/* Matches uri against an RFC 6570 level-1 template: each {var} binds a
 * non-empty run of characters up to the template's next literal
 * character ('/' never matched by a variable). Fills vars. */
static int template_match(const char *tpl, const char *uri, json_t *vars)
{
	while (*tpl) {
		if (*tpl == '{') {
			const char *close = strchr(tpl, '}');
			char name[64];
			size_t nlen, vlen = 0;
			if (!close || (nlen = (size_t)(close - tpl - 1)) == 0 ||
			    nlen >= sizeof(name))
				return 0;
			memcpy(name, tpl + 1, nlen);
			name[nlen] = '\0';
			tpl = close + 1;
			while (uri[vlen] && uri[vlen] != '/' &&
			       (*tpl == '\0' || uri[vlen] != *tpl))
				vlen++;
			if (vlen == 0)
				return 0;
			json_object_set_new(vars, name,
					    json_stringn(uri, vlen));
			uri += vlen;
		} else {
			if (*uri != *tpl)
				return 0;
			uri++;
			tpl++;
		}
	}
	return *uri == '\0';
}

struct mcp_entry *mcp_registry_match_template(mcp_server *srv, const char *uri,
					      json_t **vars)
{
	struct mcp_entry *found = NULL;

	*vars = NULL;
	pthread_rwlock_rdlock(&srv->lock);
	for (size_t i = 0; i < srv->templates.n && !found; i++) {
		json_t *v = json_object();
		if (v && template_match(srv->templates.v[i]->name, uri, v)) {
			found = srv->templates.v[i];
			mcp_entry_ref(found);
			*vars = v;
		} else {
			json_decref(v);
		}
	}
	pthread_rwlock_unlock(&srv->lock);
	return found;
}

/* Cursors are "p" followed by the decimal offset of the next page. */
static int cursor_parse(const char *cursor, size_t *off)
{
	long long v;

	if (!cursor) {
		*off = 0;
		return 0;
	}
	if (cursor[0] != 'p' || zg_parse_int(cursor + 1, 0, LLONG_MAX, &v) != 0)
		return -1;
	*off = (size_t)v;
	return 0;
}

static const char *list_key(enum mcp_entry_kind k)
{
	switch (k) {
	case ENT_TOOL:
		return "tools";
	case ENT_RESOURCE:
		return "resources";
	case ENT_TEMPLATE:
		return "resourceTemplates";
	default:
		return "prompts";
	}
}

json_t *mcp_registry_page(mcp_server *srv, enum mcp_entry_kind k,
			  const char *cursor, int *bad_cursor)
{
	struct mcp_list *l = list_of(srv, k);
	json_t *res, *arr;
	size_t off, end;

	*bad_cursor = 0;
	if (cursor_parse(cursor, &off) != 0) {
		*bad_cursor = 1;
		return NULL;
	}
	res = json_object();
	arr = json_array();
	if (!res || !arr) {
		json_decref(res);
		json_decref(arr);
		return NULL;
	}
	pthread_rwlock_rdlock(&srv->lock);
	if (off > l->n && cursor) {
		*bad_cursor = 1;
		pthread_rwlock_unlock(&srv->lock);
		json_decref(res);
		json_decref(arr);
		return NULL;
	}
	end = off + srv->page_size < l->n ? off + srv->page_size : l->n;
	for (size_t i = off; i < end; i++)
		json_array_append(arr, l->v[i]->def);
	if (end < l->n) {
		char next[32];
		snprintf(next, sizeof(next), "p%zu", end);
		json_object_set_new(res, "nextCursor", json_string(next));
	}
	pthread_rwlock_unlock(&srv->lock);
	json_object_set_new(res, list_key(k), arr);
	return res;
}

static int any_completion(mcp_server *srv)
{
	for (size_t i = 0; i < srv->prompts.n; i++)
		if (srv->prompts.v[i]->complete)
			return 1;
	for (size_t i = 0; i < srv->templates.n; i++)
		if (srv->templates.v[i]->complete)
			return 1;
	return 0;
}

json_t *mcp_registry_capabilities(mcp_server *srv)
{
	json_t *caps = json_pack("{s:{s:b}, s:{}}", "tools", "listChanged", 1,
				 "logging");

	if (!caps)
		return NULL;
	pthread_rwlock_rdlock(&srv->lock);
	if (srv->resources.n || srv->templates.n)
		json_object_set_new(caps, "resources",
				    json_pack("{s:b, s:b}", "subscribe", 1,
					      "listChanged", 1));
	if (srv->prompts.n)
		json_object_set_new(caps, "prompts",
				    json_pack("{s:b}", "listChanged", 1));
	if (any_completion(srv))
		json_object_set_new(caps, "completions", json_object());
	pthread_rwlock_unlock(&srv->lock);
	return caps;
}

/* ---- CallToolResult builders ---- */

json_t *mcp_result_text(const char *text)
{
	/* built directly (json_pack parses its format on every call, half
	 * of this on mcpd's HTTP path); text is checked as UTF-8 as before */
	json_t *item = json_object(), *content = json_array();
	json_t *res = json_object();

	if (!item || !content || !res ||
	    json_object_set_new_nocheck(item, "type",
					json_string_nocheck("text")) != 0 ||
	    json_object_set_new_nocheck(item, "text",
					json_string(text ? text : "")) != 0 ||
	    json_array_append(content, item) != 0 ||
	    json_object_set_nocheck(res, "content", content) != 0) {
		json_decref(res);
		res = NULL;
	}
	json_decref(item);
	json_decref(content);
	return res;
}

json_t *mcp_result_errorf(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	json_t *res;

	va_start(ap, fmt);
	mcp_utf8_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	res = mcp_result_text(buf);
	if (res)
		json_object_set_new(res, "isError", json_true());
	return res;
}

int mcp_result_add_text(json_t *result, const char *text)
{
	json_t *content = json_object_get(result, "content");

	if (!content) {
		content = json_array();
		if (json_object_set_new(result, "content", content) != 0)
			return -1;
	}
	return json_array_append_new(content,
				     json_pack("{s:s, s:s}", "type", "text",
					       "text", text ? text : ""));
}

/* ---- whole sets of entries from one owner (hosted servers) ---- */

struct mcp_entry *mcp_entry_from_def(enum mcp_entry_kind k, const char *name,
				     json_t *def, void *ud)
{
	struct mcp_entry *e = calloc(1, sizeof(*e));

	if (!e || !def || !(e->name = strdup(name))) {
		free(e);
		json_decref(def);
		return NULL;
	}
	atomic_init(&e->refs, 1);
	e->kind = k;
	e->def = def;
	e->ud = ud;
	if (k == ENT_PROMPT && json_is_array(json_object_get(def, "arguments")))
		e->prompt_args = json_incref(json_object_get(def, "arguments"));
	return e;
}

/* Moves the entries of owner from l to out[] (in order); returns how
 * many, or stops at max. */
static size_t list_take_owner(struct mcp_list *l, const void *owner,
			      struct mcp_entry **out, size_t max)
{
	size_t kept = 0, taken = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i]->ud == owner && taken < max)
			out[taken++] = l->v[i];
		else
			l->v[kept++] = l->v[i];
	}
	l->n = kept;
	return taken;
}

/* Nonzero if the entries of kind k in a[] and b[] differ (in order). */
static int differ(struct mcp_entry **a, size_t na, struct mcp_entry **b,
		  size_t nb, enum mcp_entry_kind k)
{
	size_t i = 0, j = 0;

	for (;;) {
		while (i < na && a[i]->kind != k)
			i++;
		while (j < nb && (!b[j] || b[j]->kind != k))
			j++;
		if (i == na || j == nb)
			return i != na || j != nb;
		if (strcmp(a[i]->name, b[j]->name) != 0 ||
		    !json_equal(a[i]->def, b[j]->def))
			return 1;
		i++;
		j++;
	}
}

void mcp_registry_replace(mcp_server *srv, const void *owner,
			  struct mcp_entry **add, size_t n,
			  void (*refused)(void *rud, struct mcp_entry *e),
			  void *rud)
{
	struct mcp_entry **old = NULL, **bad = calloc(n + 1, sizeof(*bad));
	size_t nold = 0, maxold = 0;
	int changed[4] = { 0, 0, 0, 0 };

	pthread_rwlock_wrlock(&srv->lock);
	for (int k = ENT_TOOL; k <= ENT_PROMPT; k++)
		maxold += list_of(srv, k)->n;
	old = calloc(maxold + 1, sizeof(*old));
	for (int k = ENT_TOOL; old && k <= ENT_PROMPT; k++)
		nold += list_take_owner(list_of(srv, k), owner, old + nold,
					maxold - nold);
	for (size_t i = 0; i < n; i++) {
		struct mcp_list *l = list_of(srv, add[i]->kind);
		if (list_find(l, add[i]->name) >= 0 ||
		    list_push(l, add[i]) != 0) {
			if (bad)
				bad[i] = add[i];
			else
				mcp_entry_unref(add[i]);
			add[i] = NULL;
		}
	}
	for (int k = ENT_TOOL; k <= ENT_PROMPT; k++)
		changed[k] = differ(old, nold, add, n, k);
	pthread_rwlock_unlock(&srv->lock);
	for (size_t i = 0; i < nold; i++)
		mcp_entry_unref(old[i]);
	for (size_t i = 0; bad && i < n; i++) {
		if (!bad[i])
			continue;
		if (refused)
			refused(rud, bad[i]);
		mcp_entry_unref(bad[i]);
	}
	free(old);
	free(bad);
	if (changed[ENT_TOOL])
		mcp_server_broadcast(srv, list_changed_method(ENT_TOOL), NULL);
	if (changed[ENT_RESOURCE] || changed[ENT_TEMPLATE])
		mcp_server_broadcast(srv, list_changed_method(ENT_RESOURCE),
				     NULL);
	if (changed[ENT_PROMPT])
		mcp_server_broadcast(srv, list_changed_method(ENT_PROMPT),
				     NULL);
}

void mcp_server_set_hooks(mcp_server *srv, const struct mcp_server_hooks *h)
{
	if (h)
		srv->hooks = *h;
	else
		memset(&srv->hooks, 0, sizeof(srv->hooks));
}
