/* The direct route of the no-isolation baseline (--direct ZONE=URL): a
 * call of ZONE.TOOL goes as TOOL to the zone's Streamable HTTP MCP server,
 * on the shared MCP HTTP client (mcp/include/client_http.h) driven by a
 * poll loop here under the MCP client core (mcp/include/client.h), one
 * MCP session per zone kept across calls. */
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
	uint32_t sid;	/* 0: no session yet (or it ended) */
	int gone;	/* the server ended the session */
	mcp_client *mc; /* the session's client core */
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

/* The core's transport: one message on the session. */
static int dl_send(void *ud, const char *msg, size_t len)
{
	struct ag_dlink *l = ud;

	return mcp_hc_send(l->hc, l->sid, msg, len);
}

/* A message of the server on the session: to the core. */
static void dl_message(void *ud, uint32_t sid, const char *msg, size_t len)
{
	struct ag_dlink *l = ud;

	if (sid == l->sid && l->mc)
		mcp_client_feed(l->mc, msg, len);
}

static void dl_closed(void *ud, uint32_t sid, const char *why)
{
	struct ag_dlink *l = ud;
	char msg[192];

	if (sid != l->sid)
		return;
	l->gone = 1;
	snprintf(msg, sizeof(msg), "the server ended the session (%s)",
		 why ? why : "");
	if (l->mc)
		mcp_client_fail_all(l->mc, msg);
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
	static const struct mcp_hc_ops ops = { .message = dl_message,
						.closed = dl_closed,
						.log = dl_log };
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
	mcp_client_free(l->mc);
	mcp_hc_free(l->hc);
	free(l->zone);
	free(l->url);
	free(l->client);
	free(l);
}

/* Runs the HTTP client for up to ms (mcp_client_ops' pump). */
static int dl_pump(void *ud, int ms)
{
	struct ag_dlink *l = ud;
	struct pollfd p[DL_POLLFDS];
	int n = (int)mcp_hc_pollfds(l->hc, p, DL_POLLFDS);
	int t = mcp_hc_timeout_ms(l->hc);

	if (t < 0 || t > ms)
		t = ms;
	if (poll(p, (nfds_t)n, t) < 0 && errno != EINTR)
		return -1;
	mcp_hc_process(l->hc, p, (size_t)n);
	return 0;
}

/* Opens the session: initialize, then notifications/initialized. 0, or
 * -1 with err and no session. */
static int dl_open(struct ag_dlink *l, long deadline, char *err,
		   size_t errlen)
{
	static const struct mcp_client_ops ops = { .send = dl_send,
						   .pump = dl_pump };
	struct mcp_client_limits lim = { .max_message = AG_MAX_LINE };
	long left = deadline - ag_now_ms();
	char e[512];

	if (l->sid)
		mcp_hc_close(l->hc, l->sid);
	mcp_client_free(l->mc);
	l->gone = 0;
	lim.init_timeout_ms = left > 0 ? (unsigned)left : 1;
	l->mc = mcp_client_new(&ops, l, &lim, l->client);
	l->sid = l->mc ? mcp_hc_open(l->hc) : 0;
	if (!l->sid) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (mcp_client_initialize(l->mc, NULL, e, sizeof(e)) == 0)
		return 0;
	snprintf(err, errlen, "cannot reach %s at %s: initialize: %s", l->zone,
		 l->url, e);
	mcp_hc_close(l->hc, l->sid);
fail:
	mcp_client_free(l->mc);
	l->mc = NULL;
	l->sid = 0;
	return -1;
}

json_t *ag_dlink_call(struct ag_dlink *l, const char *tool, json_t *args,
		      long deadline, int (*cancel)(void *), void *ud,
		      int *unreachable, char *err, size_t errlen)
{
	json_t *p;
	int local;

	if ((!l->sid || l->gone) && dl_open(l, deadline, err, errlen)) {
		*unreachable = 1;
		return NULL;
	}
	p = json_pack("{s:s, s:O}", "name", tool, "arguments", args);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return ag_call(l->mc, "tools/call", p, deadline, cancel, ud, &local,
		       err, errlen);
}
