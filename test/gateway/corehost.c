/* The in-process host of the gateway core (corehost.h): a fake tool zone
 * speaking MCP over a socketpair channel, and an agent session whose
 * messages are delivered into memory. */
#include "corehost.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static chan *pending_tool; /* the core's end, handed over once */

static chan *connect_tool(void *ud, const struct gw_zone *z, char *err,
			  size_t errlen)
{
	chan *c = pending_tool;

	(void)ud;
	(void)z;
	pending_tool = NULL;
	if (!c)
		snprintf(err, errlen,
			 "no channel (the fake tool zone is gone)");
	return c;
}

static int deliver(struct gw_hs *hs, int inited, const char *msg, size_t len)
{
	struct corehost *h = (struct corehost *)hs;
	char *c;

	(void)inited;
	if (h->full)
		return CHAN_MUX_EFULL;
	if (h->nout >= COREHOST_OUT_MAX)
		return CHAN_MUX_EFULL;
	c = malloc(len + 1);
	if (!c)
		return -1;
	memcpy(c, msg, len);
	c[len] = '\0';
	h->out[h->nout++] = c;
	return 0;
}

static void tool_reply(struct corehost *h, uint32_t sid, json_t *id,
		       json_t *result)
{
	/* mcpd's layout: jsonrpc, id, result (the splice fast path) */
	json_t *r = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id,
			      "result", result);
	char *t = r ? json_dumps(r, JSON_COMPACT) : NULL;

	if (t)
		chan_mux_send(h->tool, sid, t, strlen(t));
	free(t);
	json_decref(r);
}

/* What only a 2026-07-28 zone answers: server/discover lists that
 * revision alone; subscriptions/listen is acknowledged with its filter
 * (the stream then takes corehost_tool's raw bytes). Returns 1 if it
 * was one of those. */
static int tool_data_2026(struct corehost *h, uint32_t sid, const char *meth,
			  json_t *id, json_t *req)
{
	json_t *n;
	char *t;

	if (strcmp(meth, "server/discover") == 0) {
		tool_reply(h, sid, id,
			   json_pack("{s:[s],s:{s:{},s:{s:b}}}",
				     "supportedVersions", "2026-07-28",
				     "capabilities", "tools", "resources",
				     "subscribe", 1));
		return 1;
	}
	if (strcmp(meth, "subscriptions/listen") != 0)
		return 0;
	if (sid != 1) /* not the control stream's listen */
		h->tool_sid = sid;
	snprintf(h->listen_id, sizeof(h->listen_id), "%s",
		 json_string_value(id) ?: "");
	if (h->listen_hold)
		return 1;
	n = json_pack("{s:s,s:s,s:{s:O,s:{s:O}}}", "jsonrpc", "2.0", "method",
		      "notifications/subscriptions/acknowledged", "params",
		      "notifications",
		      json_object_get(json_object_get(req, "params"),
				      "notifications")
			      ?: json_null(),
		      "_meta", "io.modelcontextprotocol/subscriptionId", id);
	t = n ? json_dumps(n, JSON_COMPACT) : NULL;
	if (t)
		chan_mux_send(h->tool, sid, t, strlen(t));
	free(t);
	json_decref(n);
	return 1;
}

static void tool_data(void *ud, chan_mux *m, uint32_t sid, const uint8_t *msg,
		      size_t len)
{
	struct corehost *h = ud;
	json_t *j = json_loadb((const char *)msg, len, 0, NULL);
	const char *meth = json_string_value(json_object_get(j, "method"));
	json_t *id = json_object_get(j, "id");

	(void)m;
	if (meth && !id && strcmp(meth, "notifications/cancelled") == 0) {
		json_t *pr = json_object_get(j, "params");
		h->cancelled_id = (uint64_t)json_integer_value(
			json_object_get(pr, "requestId"));
		snprintf(h->cancelled_reason, sizeof(h->cancelled_reason), "%s",
			 json_string_value(json_object_get(pr, "reason"))
				 ?: "");
	}
	if (!meth || !id)
		goto out;
	if (h->rev2026 && tool_data_2026(h, sid, meth, id, j))
		goto out;
	if (strcmp(meth, "initialize") == 0)
		tool_reply(h, sid, id,
			   json_pack("{s:s,s:{s:{}},s:{s:s,s:s}}",
				     "protocolVersion", "2025-11-25",
				     "capabilities", "tools", "serverInfo",
				     "name", "fake", "version", "1"));
	else if (strcmp(meth, "tools/list") == 0)
		tool_reply(h, sid, id,
			   json_pack("{s:[{s:s,s:{s:s,s:{s:{s:s,s:s}}}},"
				     "{s:s,s:{s:s}}]}",
				     "tools", "name", "echo", "inputSchema",
				     "type", "object", "properties", "r",
				     "type", "string", "x-mcp-header", "R",
				     "name", "secret", "inputSchema", "type",
				     "object"));
	else if (strcmp(meth, "resources/list") == 0)
		tool_reply(h, sid, id,
			   json_pack("{s:o}", "resources",
				     h->resources
					     ? json_loads(h->resources, 0, NULL)
					     : json_array()));
	else if (strcmp(meth, "resources/templates/list") == 0)
		tool_reply(h, sid, id,
			   json_pack("{s:[{s:s,s:s}]}", "resourceTemplates",
				     "uriTemplate", "doc://{id}", "name",
				     "doc"));
	else if (strcmp(meth, "prompts/list") == 0)
		tool_reply(h, sid, id,
			   json_pack("{s:o}", "prompts",
				     h->prompts
					     ? json_loads(h->prompts, 0, NULL)
					     : json_array()));
	else if (strcmp(meth, "tools/call") == 0) {
		h->tool_sid = sid;
		h->tool_calls++;
		h->tool_call_id = (uint64_t)json_integer_value(id);
		if (!h->tool_mute)
			tool_reply(h, sid, id,
				   json_pack("{s:[{s:s,s:s}]}", "content",
					     "type", "text", "text", "ok"));
	} else {
		h->tool_sid = sid;
		tool_reply(h, sid, id, json_object());
	}
out:
	json_decref(j);
}

static int tool_open(void *ud, chan_mux *m, uint32_t sid)
{
	struct corehost *h = ud;

	(void)m;
	h->tool_sid = sid;
	return 0;
}

static void tool_close(void *ud, chan_mux *m, uint32_t sid, int reset)
{
	(void)ud;
	if (!reset)
		chan_mux_close_stream(m, sid);
}

static const struct chan_mux_ops tool_ops = { NULL, tool_open, tool_data,
					      tool_close, NULL };

void corehost_pump(struct corehost *h, int turns)
{
	struct pollfd p[8];

	for (int i = 0; i < turns; i++) {
		size_t n = gw_route_pollfds(&h->g, p, 8);
		(void)poll(p, n, 0);
		gw_route_run(&h->g);
		if (h->tool)
			chan_mux_process(h->tool);
	}
}

static int tool_up(struct corehost *h)
{
	return h->g.ntz && gw_cat_visible(h->g.tz[0]);
}

int corehost_start(struct corehost *h, const char *pol, const char *audit_path)
{
	return corehost_start_rev(h, pol, audit_path, 0);
}

int corehost_start_rev(struct corehost *h, const char *pol,
		       const char *audit_path, int rev2026)
{
	static const char allow[] = "* tool.* allow\n* resource:tool.* allow\n";
	struct chan_mux_opts mo = { .max_frame = 1u << 20 };
	char err[256];
	int sv[2];
	chan *mine;

	memset(h, 0, sizeof(*h));
	h->rev2026 = rev2026;
	h->tags[0] = "t1";
	snprintf(h->zones[0].name, sizeof(h->zones[0].name), "agent");
	h->zones[0].role = GW_AGENT;
	h->zones[0].tags = h->tags;
	h->zones[0].ntags = 1;
	h->zones[0].domid = 1;
	snprintf(h->zones[1].name, sizeof(h->zones[1].name), "tool");
	h->zones[1].role = GW_TOOL;
	h->zones[1].domid = 2;
	h->zones[1].chan = "unix:2:pair";
	h->cfg.zones = h->zones;
	h->cfg.nzones = 2;
	h->cfg.call_timeout_ms = 60000;
	h->cfg.max_message = 1u << 20;
	h->cfg.list_page_size = 100;
	h->cfg.catalogue_max_bytes = GW_CATALOGUE_MAX_DEFAULT;
	h->cfg.audit_flush_ms = 0;
	h->cfg.held_max = 4;
	h->cfg.tasks_max = 4;
	h->cfg.held_idle_ms = 60000;
	memset(h->keys.key[0], 0x5a, MCP_STATE_MIN_KEY);
	h->keys.len[0] = MCP_STATE_MIN_KEY;
	h->keys.n = 1;
	h->cfg.state_keys = &h->keys;
	snprintf(h->cfg.replica_id, sizeof(h->cfg.replica_id),
		 "0123456789abcdef");
	h->g.cfg = &h->cfg;
	if (!pol)
		pol = allow;
	h->g.pol = policy_parse_buffer("test.policy", pol, strlen(pol), err,
				       sizeof(err));
	h->g.audit = gw_audit_open(audit_path, err, sizeof(err));
	h->g.met = gw_metrics_new();
	h->g.lim = gw_limits_new();
	h->g.pins = json_object();
	pthread_mutex_init(&h->g.snap_lock, NULL);
	h->g.connect_tool = connect_tool;
	if (!h->g.pol || !h->g.audit || !h->g.met || !h->g.lim) {
		fprintf(stderr, "corehost: %s\n", err);
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		perror("corehost: socketpair");
		goto fail;
	}
	pending_tool = chan_from_socket(sv[0], CHAN_CLIENT, err, sizeof(err));
	mine = chan_from_socket(sv[1], CHAN_SERVER, err, sizeof(err));
	h->tool = mine ? chan_mux_new(mine, &mo, &tool_ops, h, err, sizeof(err))
		       : NULL;
	if (!pending_tool || !h->tool) {
		fprintf(stderr, "corehost: %s\n", err);
		goto fail;
	}
	if (gw_route_init(&h->g, err, sizeof(err))) {
		fprintf(stderr, "corehost: %s\n", err);
		goto fail;
	}
	for (int i = 0; i < 200 && !tool_up(h); i++)
		corehost_pump(h, 1);
	h->s = gw_route_http_open(&h->g, "agent", (struct gw_hs *)h, deliver, 0,
				  1);
	if (!tool_up(h) || !h->s) {
		fprintf(stderr, "corehost: the tool zone did not come up\n");
		goto fail;
	}
	return 0;
fail:
	corehost_stop(h);
	return -1;
}

void corehost_agent(struct corehost *h, const char *msg, size_t len)
{
	gw_route_http_input(&h->g, h->s, msg, len);
	corehost_pump(h, 4);
}

void corehost_stateless(struct corehost *h, const char *msg, size_t len)
{
	gw_route_http_stateless(&h->g, "agent", (struct gw_hs *)h, deliver, msg,
				len);
	corehost_pump(h, 4);
}

void corehost_stateless_end(struct corehost *h)
{
	gw_route_http_stateless_end(&h->g, "agent", (struct gw_hs *)h);
	corehost_pump(h, 4);
}

void corehost_tool(struct corehost *h, int ctl, const char *msg, size_t len)
{
	uint32_t sid = ctl ? 1 : h->tool_sid;

	if (h->tool && sid)
		chan_mux_send(h->tool, sid, msg, len);
	corehost_pump(h, 4);
}

json_t *corehost_take(struct corehost *h)
{
	if (h->taken >= h->nout)
		return NULL;
	return json_loads(h->out[h->taken++], 0, NULL);
}

void corehost_stop(struct corehost *h)
{
	if (h->s)
		gw_route_http_close(&h->g, h->s);
	h->s = NULL;
	if (h->g.cfg)
		gw_route_free(&h->g);
	chan_mux_free(h->tool);
	if (pending_tool)
		chan_close(pending_tool);
	pending_tool = NULL;
	policy_free(h->g.pol);
	gw_audit_close(h->g.audit);
	gw_metrics_free(h->g.met);
	gw_limits_free(h->g.lim);
	json_decref(h->g.pins);
	free(h->g.snap_gauges);
	pthread_mutex_destroy(&h->g.snap_lock);
	for (size_t i = 0; i < h->nout; i++)
		free(h->out[i]);
	memset(h, 0, sizeof(*h));
}
