/* web_search's backends: a SearXNG instance's JSON API and the Brave
 * Search API, both fetched through the checked fetcher (the backend's
 * host passes the same egress control as any page), and the parsers of
 * their answers into one ranked list of {title, url, snippet, date}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "web_int.h"

#define BRAVE_URL "https://api.search.brave.com/res/v1/web/search"
#define KEY_MAX 256

/* Reads the key from path (first line, trimmed); never echoes it. */
static char *read_key(const char *path, char *err, size_t errlen)
{
	char buf[KEY_MAX + 2];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		snprintf(err, errlen, "cannot read the key file %s", path);
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0' || strlen(buf) > KEY_MAX) {
		snprintf(err, errlen,
			 "the key file %s holds no key of at "
			 "most %d bytes",
			 path, KEY_MAX);
		return NULL;
	}
	return strdup(buf);
}

int web_backend_parse(struct web_backend *b, const char *spec,
		      const char *key_file, char *err, size_t errlen)
{
	const char *url = NULL;

	memset(b, 0, sizeof(*b));
	if (!strncmp(spec, "searxng:", 8) && spec[8]) {
		b->kind = WEB_SEARCH_SEARXNG;
		url = spec + 8;
	} else if (!strcmp(spec, "brave") || !strncmp(spec, "brave:", 6)) {
		const char *env = getenv("BRAVE_API_KEY");
		b->kind = WEB_SEARCH_BRAVE;
		url = spec[5] == ':' ? spec + 6 : BRAVE_URL;
		b->key = key_file ? read_key(key_file, err, errlen)
			 : env && *env && strlen(env) <= KEY_MAX ? strdup(env)
								 : NULL;
		if (!b->key) {
			if (!key_file)
				snprintf(err, errlen,
					 "--web-search brave needs "
					 "--web-search-key-file FILE or "
					 "BRAVE_API_KEY");
			return -1;
		}
	} else {
		snprintf(err, errlen,
			 "--web-search: expected searxng:URL or brave");
		return -1;
	}
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		snprintf(err, errlen, "--web-search: %s is not an http(s) URL",
			 url);
		web_backend_free(b);
		return -1;
	}
	b->base = strdup(url);
	if (!b->base) {
		web_backend_free(b);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void web_backend_free(struct web_backend *b)
{
	if (b->key) {
		memset(b->key, 0, strlen(b->key));
		free(b->key);
	}
	free(b->base);
	b->key = b->base = NULL;
}

/* Appends {title, url, snippet, date?} built from the strings of item
 * under the given keys; items without a string url are skipped. */
static int add_hit(json_t *out, json_t *item, const char *tk, const char *sk,
		   const char *dk, const char *dk2)
{
	const char *url = json_string_value(json_object_get(item, "url"));
	const char *t = json_string_value(json_object_get(item, tk));
	const char *s = json_string_value(json_object_get(item, sk));
	const char *d = json_string_value(json_object_get(item, dk));
	json_t *h;

	if (!url)
		return 0;
	if (!d && dk2)
		d = json_string_value(json_object_get(item, dk2));
	h = json_pack("{s:s, s:s, s:s}", "title", t ? t : "", "url", url,
		      "snippet", s ? s : "");
	if (!h)
		return -1;
	if (d && *d)
		json_object_set_new(h, "date", json_string(d));
	return json_array_append_new(out, h);
}

json_t *web_search_parse(int kind, const char *body, size_t n, size_t count,
			 char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
	json_t *list, *out = NULL;
	size_t i;

	if (!json_is_object(root)) {
		snprintf(err, errlen,
			 "the search backend's answer is not a "
			 "JSON object");
		goto out;
	}
	list = kind == WEB_SEARCH_BRAVE
		       ? json_object_get(json_object_get(root, "web"),
					 "results")
		       : json_object_get(root, "results");
	if (kind == WEB_SEARCH_BRAVE && !list && !json_object_get(root, "web"))
		list = json_array(); /* no web results at all */
	else
		json_incref(list);
	if (!json_is_array(list)) {
		json_decref(list);
		snprintf(err, errlen,
			 "the search backend's answer has no "
			 "results list");
		goto out;
	}
	out = json_array();
	for (i = 0;
	     out && i < json_array_size(list) && json_array_size(out) < count;
	     i++) {
		json_t *it = json_array_get(list, i);
		int r = kind == WEB_SEARCH_BRAVE
				? add_hit(out, it, "title", "description",
					  "page_age", "age")
				: add_hit(out, it, "title", "content",
					  "publishedDate", NULL);
		if (r < 0) {
			json_decref(out);
			out = NULL;
		}
	}
	json_decref(list);
	if (!out)
		snprintf(err, errlen, "out of memory");
out:
	json_decref(root);
	return out;
}

/* The request URL: base plus the escaped query and the count. */
static char *request_url(const struct web_backend *b, const char *query,
			 size_t count)
{
	char *q = curl_easy_escape(NULL, query, 0), *url = NULL;
	size_t need;

	if (!q)
		return NULL;
	need = strlen(b->base) + strlen(q) + 64;
	url = malloc(need);
	if (url) {
		int w = b->kind == WEB_SEARCH_BRAVE
				? snprintf(url, need, "%s?q=%s&count=%zu",
					   b->base, q, count)
				: snprintf(url, need,
					   "%s%ssearch?q=%s&format=json",
					   b->base,
					   b->base[strlen(b->base) - 1] == '/'
						   ? ""
						   : "/",
					   q);
		if (w < 0 || (size_t)w >= need) {
			free(url);
			url = NULL;
		}
	}
	curl_free(q);
	return url;
}

json_t *web_search_run(const struct web_backend *b, const struct web_policy *p,
		       const struct web_limits *lim, const char *query,
		       size_t count, char *err, size_t errlen)
{
	struct web_limits sl = *lim;
	struct web_response r;
	char auth[KEY_MAX + 32], why[512];
	const char *hdrs[3] = { "Accept: application/json", NULL, NULL };
	char *url = request_url(b, query, count);
	json_t *out = NULL;

	if (!url) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (b->kind == WEB_SEARCH_BRAVE) {
		snprintf(auth, sizeof(auth), "X-Subscription-Token: %s",
			 b->key);
		hdrs[1] = auth;
	}
	sl.max_bytes = WEB_MAX_SEARCH_BYTES;
	sl.max_redirects = 0;
	/* The error names the backend, never the request URL's headers. */
	if (web_get(p, &sl, url, hdrs, &r, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "search backend: %s", why);
		goto out;
	}
	out = web_search_parse(b->kind, r.body.p ? r.body.p : "", r.body.n,
			       count, err, errlen);
	free(r.body.p);
out:
	memset(auth, 0, sizeof(auth));
	free(url);
	return out;
}
