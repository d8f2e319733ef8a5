/* The direct route of the no-isolation baseline (--direct ZONE=URL): a
 * call of ZONE.TOOL goes as TOOL to the zone's Streamable HTTP MCP server,
 * on the shared MCP HTTP client (mcp/include/client_http.h) driven by a
 * poll loop here, one MCP session per zone kept across calls. */
#include "agent.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_http.h"

#define DL_POLLFDS 32
#define DL_CLOSE_MS 200 /* the DELETE's time to go out at the end */

struct ag_dlink {
	char *zone, *url, *client;
	struct mcp_hc *hc;
	uint32_t sid;	  /* 0: no session yet (or it ended) */
	int gone;	  /* the server ended the session */
	long next_id;	  /* request ids of this link */
	long want;	  /* the id whose answer we wait for */
	json_t *answer;	  /* that answer, once it came */
	char gone_why[128];
};

int ag_direct_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

int ag_zone_name_ok(const char *v)
{
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-");

	return n == 0 || n > 63 || v[n] || v[0] == '-' ? -1 : 0;
}

int ag_direct_parse(const char *arg, const struct ag_direct *d, unsigned n,
		    struct ag_direct *out, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	size_t zl = eq ? (size_t)(eq - arg) : 0;
	char why[160];

	if (!eq) {
		snprintf(err, errlen, "expected ZONE=URL, got '%.64s'", arg);
		return -1;
	}
	if (zl >= sizeof(out->zone)) {
		snprintf(err, errlen, "'%.64s' is not a zone name", arg);
		return -1;
	}
	memcpy(out->zone, arg, zl);
	out->zone[zl] = '\0';
	if (ag_zone_name_ok(out->zone)) {
		snprintf(err, errlen, "'%s' is not a zone name", out->zone);
		return -1;
	}
	if (!mcp_hc_url_ok(eq + 1, 0, why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", out->zone, why);
		return -1;
	}
	for (unsigned i = 0; i < n; i++)
		if (strcmp(d[i].zone, out->zone) == 0) {
			snprintf(err, errlen, "zone %s given twice", out->zone);
			return -1;
		}
	out->url = eq + 1;
	return 0;
}

/* Sends m (a JSON object, borrowed) on the session; 0 or -1. */
static int dl_send(struct ag_dlink *l, json_t *m)
{
	char *s = m ? json_dumps(m, JSON_COMPACT) : NULL;
	int rc = s ? mcp_hc_send(l->hc, l->sid, s, strlen(s)) : -1;

	free(s);
	return rc;
}

/* A message of the server: the answer we wait for is kept, a request
 * (ping) answered, the rest dropped. */
static void dl_message(void *ud, uint32_t sid, const char *msg, size_t len)
{
	struct ag_dlink *l = ud;
	json_t *m = json_loadb(msg, len, 0, NULL), *id;
	char *reply;

	if (sid != l->sid || !json_is_object(m))
		goto out;
	id = json_object_get(m, "id");
	if (json_object_get(m, "method")) {
		reply = id ? ag_rpc_reply(m) : NULL;
		if (reply)
			mcp_hc_send(l->hc, l->sid, reply, strlen(reply));
		free(reply);
	} else if (json_is_integer(id) && json_integer_value(id) == l->want &&
		   !l->answer) {
		l->answer = json_incref(m);
	}
out:
	json_decref(m);
}

static void dl_closed(void *ud, uint32_t sid, const char *why)
{
	struct ag_dlink *l = ud;

	if (sid != l->sid)
		return;
	l->gone = 1;
	snprintf(l->gone_why, sizeof(l->gone_why), "%s", why ? why : "");
}

static void dl_log(void *ud, const char *msg)
{
	struct ag_dlink *l = ud;

	fprintf(stderr, "%s: %s\n", l->client, msg); /* msg names the zone */
}

struct ag_dlink *ag_dlink_new(const struct ag_direct *d,
			      const char *client_name, long connect_ms,
			      char *err, size_t errlen)
{
	static const struct mcp_hc_ops ops = { dl_message, dl_closed, dl_log };
	struct ag_dlink *l = calloc(1, sizeof(*l));
	char label[96];
	struct mcp_hc_opts o = {
		.max_message = AG_MAX_LINE,
		.max_transfers = 8,
		.connect_timeout_ms = connect_ms,
		.client_label = label,
	};

	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(label, sizeof(label), "direct %s", d->zone);
	l->zone = strdup(d->zone);
	l->url = strdup(d->url);
	l->client = strdup(client_name ? client_name : "zonegate-agent");
	if (!l->zone || !l->url || !l->client) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	o.url = l->url;
	l->hc = mcp_hc_new(&o, &ops, l, err, errlen);
	if (!l->hc)
		goto fail;
	return l;
fail:
	ag_dlink_free(l);
	return NULL;
}

void ag_dlink_free(struct ag_dlink *l)
{
	struct pollfd p[DL_POLLFDS];
	struct mcp_hc_stats st;
	long end = ag_now_ms() + DL_CLOSE_MS;

	if (!l)
		return;
	if (l->hc && l->sid) {
		/* the DELETE that ends the session on the server, given a
		 * moment to go out before the client is freed */
		mcp_hc_close(l->hc, l->sid);
		for (;;) {
			mcp_hc_stats(l->hc, &st);
			if (!st.transfers || ag_now_ms() >= end)
				break;
			size_t n = mcp_hc_pollfds(l->hc, p, DL_POLLFDS);
			poll(p, (nfds_t)n, 20);
			mcp_hc_process(l->hc, p, n);
		}
	}
	mcp_hc_free(l->hc);
	json_decref(l->answer);
	free(l->zone);
	free(l->url);
	free(l->client);
	free(l);
}

/* Runs the client until l->answer came, the session ended, deadline
 * passed or cancel(ud) said stop. 0, or -1 with err. */
static int dl_wait(struct ag_dlink *l, long deadline, int (*cancel)(void *),
		   void *ud, char *err, size_t errlen)
{
	struct pollfd p[DL_POLLFDS];

	for (;;) {
		long left = deadline - ag_now_ms();
		int t, n;

		if (l->answer)
			return 0;
		if (l->gone) {
			snprintf(err, errlen, "the server ended the session "
					      "(%s)",
				 l->gone_why);
			return -1;
		}
		if (left <= 0) {
			snprintf(err, errlen, "no answer within the deadline");
			return -1;
		}
		if (cancel && cancel(ud)) {
			snprintf(err, errlen, "cancelled by the caller");
			return -1;
		}
		n = (int)mcp_hc_pollfds(l->hc, p, DL_POLLFDS);
		t = mcp_hc_timeout_ms(l->hc);
		if (t < 0 || t > left)
			t = (int)left;
		if (cancel && t > 50)
			t = 50;
		if (poll(p, (nfds_t)n, t) < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
		mcp_hc_process(l->hc, p, (size_t)n);
	}
}

/* Sends request method/params (params stolen) and waits for its result
 * (new reference) or NULL with err; a request given up is cancelled on
 * the server. */
static json_t *dl_request(struct ag_dlink *l, const char *method,
			  json_t *params, long deadline, int (*cancel)(void *),
			  void *ud, char *err, size_t errlen)
{
	long id = ++l->next_id;
	json_t *req = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id",
				(json_int_t)id, "method", method, "params",
				params);
	json_t *res = NULL, *note;

	json_decref(l->answer);
	l->answer = NULL;
	l->want = id;
	if (!req || dl_send(l, req)) {
		snprintf(err, errlen, "%s", req ? "cannot send (over a cap?)"
					       : "out of memory");
		goto out;
	}
	if (dl_wait(l, deadline, cancel, ud, err, errlen)) {
		note = json_pack("{s:s, s:s, s:{s:I, s:s}}", "jsonrpc", "2.0",
				 "method", "notifications/cancelled", "params",
				 "requestId", (json_int_t)id, "reason", err);
		if (!l->gone)
			dl_send(l, note);
		json_decref(note);
		goto out;
	}
	res = ag_rpc_result(l->answer, err, errlen);
out:
	json_decref(req);
	json_decref(l->answer);
	l->answer = NULL;
	l->want = 0;
	return res;
}

/* Opens the session: initialize, then notifications/initialized. 0, or
 * -1 with err and no session. */
static int dl_open(struct ag_dlink *l, long deadline, int (*cancel)(void *),
		   void *ud, char *err, size_t errlen)
{
	json_t *p, *res, *note;
	char e[512];

	if (l->sid)
		mcp_hc_close(l->hc, l->sid);
	l->gone = 0;
	l->sid = mcp_hc_open(l->hc);
	if (!l->sid) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p = json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion",
		      "2025-06-18", "capabilities", "clientInfo", "name",
		      l->client, "version", "1");
	res = p ? dl_request(l, "initialize", p, deadline, cancel, ud, e,
			     sizeof(e))
		: NULL;
	if (!res) {
		snprintf(err, errlen, "cannot reach %s at %s: initialize: %s",
			 l->zone, l->url, p ? e : "out of memory");
		goto fail;
	}
	json_decref(res);
	note = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method",
			 "notifications/initialized");
	if (dl_send(l, note)) {
		json_decref(note);
		snprintf(err, errlen, "cannot reach %s: initialized", l->zone);
		goto fail;
	}
	json_decref(note);
	return 0;
fail:
	mcp_hc_close(l->hc, l->sid);
	l->sid = 0;
	return -1;
}

json_t *ag_dlink_call(struct ag_dlink *l, const char *tool, json_t *args,
		      long deadline, int (*cancel)(void *), void *ud,
		      int *unreachable, char *err, size_t errlen)
{
	json_t *p;

	if ((!l->sid || l->gone) &&
	    dl_open(l, deadline, cancel, ud, err, errlen)) {
		*unreachable = 1;
		return NULL;
	}
	p = json_pack("{s:s, s:O}", "name", tool, "arguments", args);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return dl_request(l, "tools/call", p, deadline, cancel, ud, err,
			  errlen);
}
