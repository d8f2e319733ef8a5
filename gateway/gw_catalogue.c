/* The catalogue: each tool zone's lists (fetched page by page over its
 * control stream, capped, pinned or quarantined), the names an agent zone
 * sees, the merged lists filtered by policy with their views'
 * fingerprints, paging cursors, and list_changed only where a view
 * changed. */
#define _GNU_SOURCE /* memmem */
#include "gw_core.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zonegate/chan.h>
#include <zonegate/mcp.h>

#include "jsonrpc.h"
#include "splice.h"

static const char *const cat_method[CAT_N] = { "tools/list", "resources/list",
					       "resources/templates/list",
					       "prompts/list" };
static const char *const cat_key[CAT_N] = { "tools", "resources",
					    "resourceTemplates", "prompts" };

/* ---- catalogue helpers ------------------------------------------------- */

static struct tzone *gw_cat_zone(struct gw *g, const char *name, size_t n)
{
	for (size_t i = 0; i < g->ntz; i++)
		if (strlen(g->tz[i]->z->name) == n &&
		    strncmp(g->tz[i]->z->name, name, n) == 0)
			return g->tz[i];
	return NULL;
}

int gw_cat_visible(const struct tzone *t)
{
	return gw_up_live(t) && t->have_cat && !t->quarantined;
}

json_t *gw_cat_find(const struct tzone *t, int k, const char *key,
		    const char *val)
{
	size_t i;
	json_t *e;

	if (!t->cat[k])
		return NULL;
	json_array_foreach (t->cat[k], i, e) {
		const char *v = json_string_value(json_object_get(e, key));
		if (v && strcmp(v, val) == 0)
			return e;
	}
	return NULL;
}

/* Catalogue names end up in metrics labels and audit lines: printable
 * ASCII without quotes or backslashes, at most 128 bytes. */
int gw_cat_name_ok(const char *s)
{
	size_t n = 0;

	for (; s && *s; s++, n++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e ||
		    *s == '"' || *s == '\\')
			return 0;
	return s && n > 0 && n <= 128;
}

/* The name an agent of zone az sees for entry name of tool zone t. */
static char *display_name(struct gw *g, const struct azone *az,
			  const struct tzone *t, const char *name)
{
	const char *dot = strchr(name, '.');
	size_t n;
	char *s;

	if (az->z->default_zone &&
	    strcmp(az->z->default_zone, t->z->name) == 0 &&
	    (!dot || !gw_cat_zone(g, name, (size_t)(dot - name))))
		return strdup(name);
	n = strlen(t->z->name) + strlen(name) + 2;
	s = malloc(n);
	if (s)
		snprintf(s, n, "%s.%s", t->z->name, name);
	return s;
}

/* Splits an agent-facing name into tool zone and the tool zone's name. */
struct tzone *gw_cat_resolve_name(struct gw *g, const struct azone *az,
				  const char *name, const char **bare)
{
	const char *dot = strchr(name, '.');
	struct tzone *t = dot ? gw_cat_zone(g, name, (size_t)(dot - name))
			      : NULL;

	if (t) {
		*bare = dot + 1;
		return t;
	}
	if (az->z->default_zone) {
		*bare = name;
		return gw_cat_zone(g, az->z->default_zone,
				   strlen(az->z->default_zone));
	}
	return NULL;
}

/* The tool zone serving uri: an exact resource, else a template whose
 * literal prefix (up to the first '{') matches; zones in config order. */
struct tzone *gw_cat_resolve_uri(struct gw *g, const char *uri)
{
	for (size_t i = 0; i < g->ntz; i++)
		if (gw_cat_visible(g->tz[i]) &&
		    gw_cat_find(g->tz[i], CAT_RES, "uri", uri))
			return g->tz[i];
	for (size_t i = 0; i < g->ntz; i++) {
		size_t k;
		json_t *e;
		if (!gw_cat_visible(g->tz[i]) || !g->tz[i]->cat[CAT_TMPL])
			continue;
		json_array_foreach (g->tz[i]->cat[CAT_TMPL], k, e) {
			const char *tp = json_string_value(
				json_object_get(e, "uriTemplate"));
			const char *br = tp ? strchr(tp, '{') : NULL;
			size_t pl = br ? (size_t)(br - tp) : 0;
			if (pl && strncmp(uri, tp, pl) == 0)
				return g->tz[i];
		}
	}
	return NULL;
}

enum pol_decision gw_cat_decide(struct gw *g, const struct azone *az,
				unsigned kind, const char *tz, const char *name,
				const json_t *args, const struct pol_rule **r)
{
	struct pol_query q = { az->z->name,  (const char *const *)az->z->tags,
			       az->z->ntags, kind,
			       tz,	     name,
			       args };

	return policy_decide(g->pol, &q, r);
}

/* ---- lists ------------------------------------------------------------- */

/* Folds v into the FNV-1a hash h. */
static uint64_t fnv_mix(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8) {
		h ^= v & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* What agent zone az sees of list k in tool zone t: the entries policy
 * allows it, appended (copied, with the names it sees) to arr unless
 * arr is NULL. Returns a hash of their contents (VIEW_EMPTY for none). */
static uint64_t gw_cat_tz_view(struct gw *g, const struct azone *az,
			       const struct tzone *t, int k, json_t *arr)
{
	static const unsigned kinds[CAT_N] = { POL_TOOL, POL_RESOURCE,
					       POL_RESOURCE, POL_PROMPT };
	static const char *const namekey[CAT_N] = { "name", "uri",
						    "uriTemplate", "name" };
	const struct pol_rule *r;
	uint64_t h = VIEW_EMPTY;
	size_t j;
	json_t *e;

	if (!gw_cat_visible(t) || !t->cat[k])
		return h;
	json_array_foreach (t->cat[k], j, e) {
		const char *n =
			json_string_value(json_object_get(e, namekey[k]));
		json_t *c;
		char *dn;
		if (!n || gw_cat_decide(g, az, kinds[k], t->z->name, n, NULL,
					&r) != POL_ALLOW)
			continue;
		h = fnv_mix(h, t->ehash[k] ? t->ehash[k][j] : j);
		c = arr ? json_copy(e) : NULL;
		if (!c)
			continue;
		if (k == CAT_TOOLS || k == CAT_PROMPTS) {
			dn = display_name(g, az, t, n);
			if (dn)
				json_object_set_new(c, "name", json_string(dn));
			free(dn);
		}
		json_array_append_new(arr, c);
	}
	/* the names it sees depend on its default_zone, which a reload
	 * may change */
	if (h != VIEW_EMPTY && (k == CAT_TOOLS || k == CAT_PROMPTS) &&
	    az->z->default_zone && strcmp(az->z->default_zone, t->z->name) == 0)
		h = fnv_mix(h, 0xdefa);
	return h;
}

/* The fingerprint of a whole view from its parts per tool zone (each
 * known by its serial: adding or removing another tool zone at run time
 * leaves the view of those an agent zone sees alone). */
static uint64_t gw_cat_view_of(struct gw *g, const uint64_t *parts)
{
	uint64_t h = VIEW_EMPTY;

	for (size_t i = 0; i < g->ntz; i++)
		if (parts[i] != VIEW_EMPTY)
			h = fnv_mix(fnv_mix(h, g->tz[i]->serial), parts[i]);
	return h;
}

/* What agent zone az sees of list k, over every tool zone (see
 * tz_view). Returns the view's fingerprint: a hash of the sequence of
 * (tool zone, entry content) in it. Every session of a zone sees the
 * same view, so the fingerprint is what decides whether a list_changed
 * is due and whether a cursor is still good. */
static uint64_t list_walk(struct gw *g, const struct azone *az, int k,
			  json_t *arr)
{
	uint64_t h = VIEW_EMPTY;

	for (size_t i = 0; i < g->ntz; i++) {
		uint64_t part = gw_cat_tz_view(g, az, g->tz[i], k, arr);
		if (part != VIEW_EMPTY)
			h = fnv_mix(fnv_mix(h, g->tz[i]->serial), part);
	}
	return h;
}

/* The merged list k as session s sees it (caller frees), and its
 * view's fingerprint in *view. */
static json_t *build_list(struct gw *g, struct asess *s, int k, uint64_t *view)
{
	json_t *arr = json_array();

	*view = arr ? list_walk(g, s->az, k, arr) : 0;
	return arr;
}

json_t *gw_cat_view(struct gw *g, struct azone *az, int k)
{
	json_t *arr = json_array();

	if (arr)
		list_walk(g, az, k, arr);
	return arr;
}

/* A list cursor is "VIEW.OFFSET": the fingerprint of the zone's view of
 * the list it was made in (list_walk) and where the next page starts.
 * Returns 0 and the offset, or -1 for a malformed cursor or one from
 * another view (the zone's list changed since: the client starts over,
 * as list_changed told it to). A change the zone cannot see leaves its
 * cursors good. */
int gw_cat_cursor_parse(uint64_t view, const json_t *c, size_t *off)
{
	const char *s = json_string_value(c), *dot, *end;
	uint64_t gen, o;

	*off = 0;
	if (!c)
		return 0;
	if (!s || !(dot = strchr(s, '.')) || dot == s || strlen(s) > 41 ||
	    s[0] < '0' || s[0] > '9' || dot[1] < '0' || dot[1] > '9')
		return -1;
	if (zg_parse_uint(s, &end, 0, UINT64_MAX, &gen) != 0 || end != dot ||
	    gen != view || zg_parse_uint(dot + 1, NULL, 1, SIZE_MAX, &o) != 0)
		return -1;
	*off = (size_t)o;
	return 0;
}

/* The reply with entries arr[off..off+cnt) of n, and nextCursor while
 * more follow, as text (caller frees), or NULL. */
static char *list_page_text(uint64_t view, json_t *id, int k, json_t *arr,
			    size_t off, size_t cnt, size_t n, size_t *len)
{
	json_t *page = json_array(), *res, *msg;
	char next[64], *txt;

	for (size_t i = off; page && i < off + cnt; i++)
		json_array_append(page, json_array_get(arr, i));
	res = page ? json_pack("{s:o}", cat_key[k], page) : NULL;
	if (res && off + cnt < n) {
		snprintf(next, sizeof(next), "%llu.%zu",
			 (unsigned long long)view, off + cnt);
		json_object_set_new(res, "nextCursor", json_string(next));
	}
	msg = res ? jr_result(id, res) : NULL;
	txt = msg ? jr_dump(msg, len) : NULL;
	json_decref(msg);
	return txt;
}

/* One page of the merged list: list_page_size entries from the
 * cursor's offset, or fewer when that many would not fit in one
 * message (max_message): the page is halved until it fits, and the
 * cursor goes on from where it ends. Catalogues hold no entry bigger
 * than half a message, so one always fits. */
void gw_cat_list(struct gw *g, struct asess *s, struct jr_msg *m, int k)
{
	json_t *arr;
	size_t off, n, cnt, len = 0, ps = g->cfg->list_page_size;
	char aid[40], *txt = NULL, trace[56];
	uint64_t view;

	gw_req_trace(m->params, trace);
	gw_audit_new_id(g->audit, aid, sizeof(aid));
	arr = build_list(g, s, k, &view);
	if (gw_cat_cursor_parse(view, json_object_get(m->params, "cursor"),
				&off)) {
		json_decref(arr);
		gw_req_audit(g, s->az->z->name, s->id, m->method, NULL,
			     "filter", NULL, "invalid or stale cursor", aid, 0,
			     0, 0, 0, 0, NULL, trace);
		gw_sess_error(s, m->id, -32602,
			      "Invalid params: unknown or "
			      "stale cursor (the list changed; start over)",
			      NULL);
		return;
	}
	gw_req_audit(g, s->az->z->name, s->id, m->method, NULL, "filter", NULL,
		     NULL, aid, 0, 0, 0, 0, 0, NULL, trace);
	n = arr ? json_array_size(arr) : 0;
	if (arr && off > n) {
		json_decref(arr);
		gw_sess_error(s, m->id, -32602,
			      "Invalid params: cursor past "
			      "the end of the list",
			      NULL);
		return;
	}
	cnt = n - off < ps ? n - off : ps;
	while (arr) {
		txt = list_page_text(view, m->id, k, arr, off, cnt, n, &len);
		if (!txt || len <= g->cfg->max_message || cnt <= 1)
			break;
		free(txt);
		txt = NULL;
		cnt /= 2;
	}
	json_decref(arr);
	if (txt && len > g->cfg->max_message) {
		free(txt);
		gw_sess_error(s, m->id, -32603,
			      "a list entry is too large for one message",
			      NULL);
		return;
	}
	if (!txt) {
		gw_sess_error(s, m->id, -32603, "out of memory", NULL);
		return;
	}
	gw_sess_send_text(s, txt, len);
	free(txt);
}

/* Bits of the list_changed notifications a session is due. */
enum { LC_TOOLS = 1, LC_RES = 2, LC_PROMPTS = 4 };

static void notify_changed(struct gw *g, struct asess *s, void *arg)
{
	static const char *const n[] = { "notifications/tools/list_changed",
					 "notifications/resources/list_changed",
					 "notifications/prompts/list_changed" };
	unsigned due = *(unsigned *)arg;

	if (!s->inited)
		return;
	for (int i = 0; i < 3; i++)
		if (due & 1u << i)
			gw_sess_to_agent(s, jr_request(NULL, n[i], NULL));
	(void)g;
}

/* Which of az's lists differ from what its sessions were last told
 * (LC_* bits); remembers the new views. Only tool zone only's parts are
 * walked again (all of them for only < 0): a change in one tool zone
 * costs a pass over that zone's catalogue per agent zone. */
static unsigned views_changed(struct gw *g, struct azone *az, long only)
{
	static const unsigned bit[CAT_N] = { LC_TOOLS, LC_RES, LC_RES,
					     LC_PROMPTS };
	unsigned due = 0;

	for (int k = 0; k < CAT_N; k++) {
		uint64_t *parts = az->parts + (size_t)k * g->ntz, v;
		for (size_t i = 0; i < g->ntz; i++)
			if (only < 0 || (size_t)only == i)
				parts[i] = gw_cat_tz_view(g, az, g->tz[i], k,
							  NULL);
		v = gw_cat_view_of(g, parts);
		if (v != az->view[k])
			due |= bit[k];
		az->view[k] = v;
	}
	return due;
}

/* Each agent zone's sessions hear of the lists of theirs that changed,
 * and only of those; only as for views_changed. */
void gw_cat_lists_changed(struct gw *g, long only)
{
	g->list_gen++;
	for (size_t i = 0; i < g->naz; i++) {
		struct azone *az = g->az[i];
		unsigned due = views_changed(g, az, only);
		size_t n;
		void **v;
		if (!due)
			continue;
		v = gw_map_values(az->sess, &n);
		for (size_t k = 0; v && k < n; k++)
			notify_changed(g, v[k], &due);
		free(v);
	}
}

/* Something that every list may depend on changed (the policy). */
void gw_route_lists_changed(struct gw *g)
{
	gw_cat_lists_changed(g, -1);
}

static void cat_request(struct tzone *t, int k, json_t *cursor)
{
	struct gw *g = t->g;
	struct preq *p = gw_req_new(g, PK_CAT, NULL, t->ti);
	json_t *r;

	if (!p)
		return;
	p->cat = k;
	r = gw_up_request_new(p->uid, cat_method[k],
			      cursor ? json_pack("{s:O}", "cursor", cursor)
				     : NULL);
	gw_up_send(t, t->ctl, r);
	json_decref(r);
}

void gw_cat_fetch(struct tzone *t)
{
	if (t->fetching)
		return;
	for (int k = 0; k < CAT_N; k++) {
		json_decref(t->stage[k]);
		t->stage[k] = json_array();
		cat_request(t, k, NULL);
	}
	t->fetching = CAT_N;
	t->pages = 0;
	t->stage_bytes = 0;
	t->stage_over = 0;
	t->refetch = 0;
	t->last_fetch = gw_now_ms();
}

/* The tool zone says its lists changed. Fetched again at once, or, while
 * a fetch runs or within REFETCH_MIN_MS of the last one, once that is
 * over: a zone repeating list_changed costs one fetch a second, and a
 * change announced during a fetch is never lost. */
void gw_cat_changed(struct tzone *t)
{
	if (!t->have_cat && !t->fetching && !t->oversize)
		return; /* the first fetch, still to come, will see it */
	if (t->fetching || gw_now_ms() < t->last_fetch + REFETCH_MIN_MS)
		t->refetch = 1;
	else
		gw_cat_fetch(t);
}

/* When a remembered refetch may start (INT64_MAX: none is waiting). */
int64_t gw_cat_refetch_at(const struct tzone *t)
{
	return gw_up_live(t) && t->refetch && !t->fetching
		       ? t->last_fetch + REFETCH_MIN_MS
		       : INT64_MAX;
}

static void gw_cat_quarantine_check(struct tzone *t)
{
	struct gw *g = t->g;
	const char *pin =
		json_string_value(json_object_get(g->pins, t->z->name));
	int was = t->quarantined;
	char aid[40], why[96];

	gw_catalogue_hash(t->cat[CAT_TOOLS], t->cat[CAT_RES], t->cat[CAT_TMPL],
			  t->cat[CAT_PROMPTS], t->hash);
	t->quarantined = t->oversize || (pin && strcmp(pin, t->hash) != 0);
	if (t->quarantined && !was) {
		if (t->oversize)
			snprintf(why, sizeof(why), "catalogue over %zu bytes",
				 g->cfg->catalogue_max_bytes);
		else
			snprintf(why, sizeof(why),
				 "definitions differ from the pinned hash");
		gw_audit_new_id(g->audit, aid, sizeof(aid));
		gw_req_audit(g, t->z->name, "-",
			     t->oversize ? "catalogue/check" : "pin/check",
			     t->z->name, "quarantine", NULL, why, aid, 0, 0, 0,
			     0, 0, NULL, NULL);
		if (t->oversize)
			fprintf(stderr,
				"gatewayd: tool zone %s QUARANTINED: %s\n",
				t->z->name, why);
		else
			fprintf(stderr,
				"gatewayd: tool zone %s QUARANTINED: its "
				"definitions (tools, resources or prompts) "
				"changed (pinned %.12s, now %.12s)\n",
				t->z->name, pin, t->hash);
	}
}

/* The hash of each entry of catalogue k (its canonical JSON), so that a
 * view's fingerprint changes with the content of what it shows and with
 * nothing else. Without memory for it, the index stands in. */
static void entry_hashes(struct tzone *t, int k)
{
	size_t n = json_array_size(t->cat[k]), j;
	json_t *e;

	free(t->ehash[k]);
	t->ehash[k] = n ? malloc(n * sizeof(uint64_t)) : NULL;
	if (!t->ehash[k])
		return;
	json_array_foreach (t->cat[k], j, e) {
		char *txt = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
		uint64_t h = VIEW_EMPTY;
		for (const char *c = txt; c && *c; c++)
			h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
		t->ehash[k][j] = txt ? h : j;
		free(txt);
	}
}

/* Installs a fetched catalogue. Agents hear of it (list_changed) only
 * if something differs: a tool zone cannot make the gateway flood every
 * agent session by announcing changes that are not there. */
static void cat_install(struct tzone *t)
{
	int first = !t->have_cat, changed = first;

	for (int k = 0; k < CAT_N; k++) {
		if (!changed && !json_equal(t->cat[k], t->stage[k]))
			changed = 1;
		json_decref(t->cat[k]);
		t->cat[k] = t->stage[k];
		t->stage[k] = NULL;
	}
	for (int k = 0; k < CAT_N; k++)
		entry_hashes(t, k);
	t->have_cat = 1;
	t->backoff = BACKOFF_MIN_MS;
	t->last_error[0] = '\0';
	if (t->oversize) {
		t->oversize = 0;
		changed = 1; /* back from quarantine */
	}
	gw_cat_quarantine_check(t);
	if (!changed)
		return;
	fprintf(stderr,
		"gatewayd: tool zone %s %s: %zu tools, %zu resources, "
		"%zu prompts, revision %s\n",
		t->z->name, first ? "up" : "changed",
		json_array_size(t->cat[CAT_TOOLS]),
		json_array_size(t->cat[CAT_RES]),
		json_array_size(t->cat[CAT_PROMPTS]), t->rev);
	gw_cat_lists_changed(t->g, t->ti);
}

/* A fetch went over catalogue_max_bytes: what it staged is freed, the
 * catalogue in force stays (hidden) and the zone is quarantined until a
 * later fetch fits (on its next list_changed, or a reconnect). */
static void cat_reject(struct tzone *t)
{
	int was = t->quarantined;

	for (int k = 0; k < CAT_N; k++) {
		json_decref(t->stage[k]);
		t->stage[k] = NULL;
	}
	t->oversize = 1;
	t->backoff = BACKOFF_MIN_MS;
	gw_cat_quarantine_check(t);
	if (!was && t->have_cat)
		gw_cat_lists_changed(t->g, t->ti);
}

/* Entries too big for a merged page of their own are left out. */
static int entry_fits(const struct gw *g, const json_t *e)
{
	size_t n = json_dumpb(e, NULL, 0, JSON_COMPACT);

	return n && n <= g->cfg->max_message / 2;
}

void gw_cat_page(struct tzone *t, struct preq *p, struct jr_msg *m, size_t len)
{
	json_t *items =
		m->kind == JR_RESULT
			? json_object_get(json_object_get(m->root, "result"),
					  cat_key[p->cat])
			: NULL;
	json_t *cur = json_object_get(json_object_get(m->root, "result"),
				      "nextCursor");
	const char *nk = p->cat == CAT_RES    ? "uri"
			 : p->cat == CAT_TMPL ? "uriTemplate"
					      : "name";
	size_t i;
	json_t *e;

	t->stage_bytes += len;
	if (!t->stage_over && t->stage_bytes > t->g->cfg->catalogue_max_bytes) {
		t->stage_over = 1;
		fprintf(stderr,
			"gatewayd: tool zone %s: catalogue over %zu bytes\n",
			t->z->name, t->g->cfg->catalogue_max_bytes);
		for (int k = 0; k < CAT_N; k++)
			json_array_clear(t->stage[k]);
	}
	if (t->stage_over)
		items = cur = NULL; /* no further pages either */
	json_array_foreach (items, i, e) {
		const char *n = json_string_value(json_object_get(e, nk));
		if (!json_is_object(e) || !n ||
		    (p->cat != CAT_RES && p->cat != CAT_TMPL &&
		     !gw_cat_name_ok(n)) ||
		    strlen(n) > 4096 || !entry_fits(t->g, e))
			continue; /* unusable entries are left out */
		if (json_array_size(t->stage[p->cat]) >= CAT_ITEMS_MAX) {
			fprintf(stderr,
				"gatewayd: tool zone %s: %s over %d "
				"entries; the rest is left out\n",
				t->z->name, cat_key[p->cat], CAT_ITEMS_MAX);
			cur = NULL; /* no further pages either */
			break;
		}
		json_array_append(t->stage[p->cat], e);
	}
	if (json_is_string(cur) && ++t->pages < CAT_PAGES_MAX) {
		cat_request(t, p->cat, cur);
		return;
	}
	if (--t->fetching == 0) {
		if (t->stage_over)
			cat_reject(t);
		else
			cat_install(t);
	}
}

int gw_route_pin(struct gw *g, const char *name, int pin, char *err,
		 size_t errlen)
{
	struct tzone *t = gw_cat_zone(g, name, strlen(name));
	char aid[40];

	if (!t) {
		snprintf(err, errlen, "no tool zone '%.64s'", name);
		return -1;
	}
	if (pin && !t->have_cat) {
		snprintf(err, errlen, "tool zone %s is not up: nothing to pin",
			 name);
		return -1;
	}
	if (pin)
		json_object_set_new(g->pins, name, json_string(t->hash));
	else
		json_object_del(g->pins, name);
	if (gw_pins_save(g->cfg->pins, g->pins, err, errlen))
		return -1;
	gw_audit_new_id(g->audit, aid, sizeof(aid));
	gw_req_audit(g, name, "-", pin ? "pin" : "unpin", name, "admin", NULL,
		     NULL, aid, 0, 0, 0, 0, 0, NULL, NULL);
	if (t->have_cat) {
		int was = t->quarantined;
		gw_cat_quarantine_check(t);
		if (was != t->quarantined)
			gw_cat_lists_changed(g, t->ti);
	}
	return 0;
}
