/* The tasks extension (io.modelcontextprotocol/tasks) through the gateway:
 * a 2026-07-28 agent's task-augmented tools/call to a 2026-07-28 tool zone
 * that offers the extension gets a task id sealed by the gateway (agent
 * zone, tool zone, tool, the zone's own id), so that tasks/get, update and
 * cancel route statelessly to that zone and no other agent zone can use
 * it; a count per agent zone caps the tasks it keeps (docs/gateway.md,
 * "Tasks"). */
#include "gw_core.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonrpc.h"
#include "mcp_state.h"

#define TASK_EXT "io.modelcontextprotocol/tasks"
/* What a task token is bound to (mcp_state_seal): never a request's
 * method, so that neither a requestState nor a task id passes for the
 * other. */
#define TASK_BIND "io.modelcontextprotocol/tasks"
#define TASK_BIND_TARGET "taskId"
#define TASK_ID_MAX 256 /* characters of a tool zone's own task id */

int gw_task_declared(const json_t *caps)
{
	return json_is_object(
		json_object_get(json_object_get(caps, "extensions"), TASK_EXT));
}

int gw_task_method(const char *meth)
{
	return strcmp(meth, "tasks/get") == 0 ||
	       strcmp(meth, "tasks/update") == 0 ||
	       strcmp(meth, "tasks/cancel") == 0;
}

json_t *gw_task_required(void)
{
	return json_pack("{s:{s:{s:{}}}}", "requiredCapabilities", "extensions",
			 TASK_EXT);
}

void gw_task_zone_offers(struct tzone *t, const json_t *discover_result)
{
	t->tasks_ext = gw_task_declared(
		json_object_get(discover_result, "capabilities"));
}

int gw_task_reachable(struct gw *g, const struct azone *az, const json_t *tools)
{
	const char *bare;
	size_t i;
	json_t *e;

	json_array_foreach ((json_t *)tools, i, e) {
		const char *n = json_string_value(json_object_get(e, "name"));
		struct tzone *t = n ? gw_cat_resolve_name(g, az, n, &bare)
				    : NULL;
		if (t && t->rev2026 && t->tasks_ext)
			return 1;
	}
	return 0;
}

/* Forgets az's task slots whose tasks are past their life at now. */
static void slots_sweep(struct azone *az, int64_t now)
{
	unsigned k = 0;

	for (unsigned i = 0; i < az->ntask_exp; i++)
		if (az->task_exp[i] > now)
			az->task_exp[k++] = az->task_exp[i];
	az->ntask_exp = k;
}

int gw_task_up(struct gw *g, struct azone *az, const char *meth,
	       const char *tool, int declared, json_t *params)
{
	json_t *caps = json_object_get(json_object_get(params, "_meta"),
				       "io.modelcontextprotocol/"
				       "clientCapabilities");
	const char *bare;
	struct tzone *t;

	if (!declared || !json_is_object(caps))
		return GW_TASK_NONE;
	if (!gw_task_method(meth)) {
		t = tool && strcmp(meth, "tools/call") == 0
			    ? gw_cat_resolve_name(g, az, tool, &bare)
			    : NULL;
		if (!t || !t->rev2026 || !t->tasks_ext)
			return GW_TASK_NONE;
		slots_sweep(az, gw_now_ms());
		if (az->ntask_exp >= g->cfg->tasks_max)
			return GW_TASK_CAPPED; /* runs as an ordinary call */
	}
	json_object_set_new(caps, "extensions", json_pack("{s:{}}", TASK_EXT));
	return GW_TASK_UP;
}

/* Seals the task id the agent gets for the zone's task k of tool (as the
 * agent names it) on tool zone t, living ttl_ms (0: as long as a token
 * may). New text, or NULL. */
static char *task_seal(struct gw *g, const struct azone *az,
		       const struct tzone *t, const char *tool, const char *k,
		       json_int_t ttl_ms)
{
	/* whole seconds from the issuing second: rounded up, plus one, the
	 * token lasts at least ttl_ms (as held calls' state_ttl) */
	json_int_t s = ttl_ms > 0 ? (ttl_ms + 999) / 1000 + 1
				  : MCP_STATE_MAX_TTL;
	json_t *st = json_pack("{s:s,s:s,s:s,s:s}", "z", az->z->name, "t",
			       t->z->name, "n", tool, "k", k);
	char *tok = st ? mcp_state_seal(g->cfg->state_keys, TASK_BIND,
					TASK_BIND_TARGET, NULL, st, time(NULL),
					(unsigned)(s < MCP_STATE_MAX_TTL
							   ? s
							   : MCP_STATE_MAX_TTL))
		       : NULL;

	json_decref(st);
	return tok;
}

/* mcp_state_open's refusal why, said of a task id (static text). */
static const char *task_why(const char *why)
{
	if (strstr(why, "verification"))
		return "taskId failed verification (tampered, forged, or sealed "
		       "with a key this gateway does not hold)";
	if (strstr(why, "expired"))
		return "taskId has expired (the task's TTL passed)";
	if (strstr(why, "another request"))
		return "taskId is not a task id of this gateway";
	return "taskId is malformed";
}

const char *gw_task_open(struct gw *g, const struct azone *az, struct jr_msg *m)
{
	json_t *id = json_object_get(m->params, "taskId");
	json_t *st = NULL, *z, *t, *n, *k;
	const char *why = NULL, *bare;
	struct tzone *tz;

	if (!json_is_string(id))
		return "Invalid params: taskId must be a string";
	if (mcp_state_open(g->cfg->state_keys, json_string_value(id),
			   json_string_length(id), TASK_BIND, TASK_BIND_TARGET,
			   NULL, time(NULL), &st, &why) != 0)
		return task_why(why); /* forged, tampered, expired, other */
	why = NULL; /* mcp_state_open leaves its default there */
	z = json_object_get(st, "z");
	t = json_object_get(st, "t");
	n = json_object_get(st, "n");
	k = json_object_get(st, "k");
	if (!json_is_string(z) || !json_is_string(t) || !json_is_string(n) ||
	    !json_is_string(k))
		why = "taskId is malformed";
	else if (strcmp(json_string_value(z), az->z->name) != 0)
		why = "taskId was issued to another agent zone";
	else if (!(tz = gw_cat_resolve_name(g, az, json_string_value(n),
					    &bare)) ||
		 strcmp(tz->z->name, json_string_value(t)) != 0)
		why = "taskId names a tool zone this agent zone no longer "
		      "reaches by that tool's name";
	if (!why) {
		/* the zone's own id goes upstream; the tool's name routes the
		 * request (policy decides it as the tool's grant) and is
		 * taken off before it leaves (gw_req_route) */
		json_object_set(m->params, "taskId", k);
		json_object_set(m->params, "name", n);
	}
	json_decref(st);
	return why;
}

/* The CreateTaskResult res of tool's call on az: its taskId replaced by
 * a sealed one, and a slot taken. 0, or -1 with *why. */
static int task_created(struct gw *g, struct azone *az, const char *tool,
			json_t *res, const char **why)
{
	const char *bare;
	struct tzone *t = gw_cat_resolve_name(g, az, tool, &bare);
	json_t *k = json_object_get(res, "taskId");
	json_t *ttl = json_object_get(res, "ttlMs");
	json_int_t ms = json_is_integer(ttl) ? json_integer_value(ttl) : 0;
	int64_t *v;
	char *tok;

	if (!t || !json_is_string(k) || json_string_length(k) == 0 ||
	    json_string_length(k) > TASK_ID_MAX) {
		*why = "the tool zone's CreateTaskResult has no usable taskId";
		return -1;
	}
	tok = task_seal(g, az, t, tool, json_string_value(k), ms);
	v = tok && az->ntask_exp >= az->task_cap
		    ? realloc(az->task_exp,
			      (az->task_cap * 2 + 16) * sizeof(*v))
		    : az->task_exp;
	if (!tok || !v) {
		free(tok);
		*why = "out of memory";
		return -1;
	}
	if (v != az->task_exp) {
		az->task_exp = v;
		az->task_cap = az->task_cap * 2 + 16;
	}
	/* the slot lives as long as the task id does */
	az->task_exp[az->ntask_exp++] =
		gw_now_ms() +
		(ms > 0 && ms < (json_int_t)MCP_STATE_MAX_TTL * 1000
			 ? ms + 1000
			 : (int64_t)MCP_STATE_MAX_TTL * 1000);
	json_object_set_new(res, "taskId", json_string(tok));
	free(tok);
	return 0;
}

int gw_task_back(struct gw *g, struct azone *az, const char *meth,
		 const char *tool, int mode, const char *tok, json_t *root)
{
	json_t *res = json_object_get(root, "result");
	json_t *err = json_object_get(root, "error");
	const char *rt = json_string_value(json_object_get(res, "resultType"));
	const char *why = NULL;

	if (mode == GW_TASK_CAPPED && err &&
	    json_integer_value(json_object_get(err, "code")) == -32021) {
		/* a tool that runs only as a task, over the zone's count
		 * (changed in place: the caller holds err) */
		json_object_set_new(err, "code", json_integer(-32600));
		json_object_set_new(err, "message",
				    json_string("too many tasks kept for this "
						"agent zone (tasks_max): try "
						"again when one expires"));
		json_object_set_new(err, "data",
				    json_pack("{s:I}", "tasksMax",
					      (json_int_t)g->cfg->tasks_max));
		return 1;
	}
	if (mode == GW_TASK_NONE || !res)
		return 0;
	if (gw_task_method(meth)) {
		/* the agent's id back where the zone shows its own */
		if (json_object_get(res, "taskId"))
			json_object_set_new(res, "taskId", json_string(tok));
		return 0;
	}
	if (!rt || strcmp(rt, "task") != 0 || !tool)
		return 0;
	if (task_created(g, az, tool, res, &why) == 0)
		return 1;
	/* the zone's task stays until its TTL; the agent cannot reach it */
	json_object_del(root, "result");
	json_object_set_new(root, "error",
			    json_pack("{s:i,s:s}", "code", GW_ERR_GATEWAY,
				      "message", why));
	return 1;
}
