/* The tasks extension (io.modelcontextprotocol/tasks, SEP-2663) for
 * 2026-07-28 requests: a tools/call the server chooses to run as a task is
 * answered at once with a CreateTaskResult and runs on a session of the
 * task's own; tasks/get, tasks/update and tasks/cancel act on it by id;
 * status changes go to subscriptions that listen for the task. Bounded in
 * count and stored bytes, each task freed at its TTL. See docs/mcpd.md. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "mcp_internal.h"
#include "rev2026.h"
#include "session_methods.h"

#define TASK_ID_BYTES 16 /* random bytes of an id: 128 bits, hex */
#define TASK_ID_LEN (TASK_ID_BYTES * 2)
#define TASK_POLL_MS 1000

enum task_status { T_WORKING, T_INPUT, T_COMPLETED, T_CANCELLED, T_FAILED };

static const char *const status_names[] = { "working", "input_required",
					    "completed", "cancelled",
					    "failed" };

struct mcp_task {
	mcp_server *srv;
	char id[TASK_ID_LEN + 1];
	enum task_status status;
	char *status_msg;
	long long created_ms, updated_ms; /* wall clock, for the wire */
	struct timespec expires;	  /* monotonic: created + ttl */
	unsigned ttl_ms;
	json_t *params;	  /* the tools/call params, to run again */
	json_t *result;	  /* completed */
	json_t *error;	  /* failed */
	json_t *requests; /* input_required: outstanding inputRequests */
	json_t *answers;  /* inputResponses gathered so far */
	json_t *asked;	  /* every input request key issued (unique) */
	char *state;	  /* the run's requestState, never shown */
	size_t bytes;	  /* params, answers, outcomes: the store's cap */
	long long run;	  /* id of the run in flight on s */
	mcp_session *s;	  /* runs the call; NULL once freed */
	unsigned pins;	  /* threads feeding s outside the lock */
	struct mcp_task *next;
};

struct mcp_tasks {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* the sweeper: work, or the next expiry */
	pthread_t sweeper;
	int started, stop;
	struct mcp_task *list;
	unsigned n, max;
	size_t bytes, max_bytes;
	unsigned ttl_ms;
};

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ISO 8601 UTC with milliseconds, e.g. 2026-07-28T10:30:00.123Z. */
static json_t *iso_time(long long ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[40], out[48];

	if (!gmtime_r(&t, &tm) ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return json_string("1970-01-01T00:00:00Z");
	snprintf(out, sizeof(out), "%s.%03dZ", buf, (int)(ms % 1000));
	return json_string(out);
}

static int terminal(enum task_status st)
{
	return st == T_COMPLETED || st == T_CANCELLED || st == T_FAILED;
}

int mcp_tasks_init(mcp_server *srv)
{
	struct mcp_tasks *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	t->max = MCP_TASKS_DEFAULT_MAX;
	t->max_bytes = MCP_TASKS_DEFAULT_BYTES;
	t->ttl_ms = MCP_TASKS_DEFAULT_TTL_MS;
	srv->tasks = t;
	return 0;
}

void mcp_server_set_task_limits(mcp_server *srv, unsigned max_tasks,
				size_t max_bytes, unsigned ttl_ms)
{
	struct mcp_tasks *t = srv->tasks;

	pthread_mutex_lock(&t->mu);
	if (max_tasks >= 1 && max_tasks <= 1000000)
		t->max = max_tasks;
	if (max_bytes >= 1024)
		t->max_bytes = max_bytes;
	if (ttl_ms >= 1000 && ttl_ms <= 7u * 86400u * 1000u)
		t->ttl_ms = ttl_ms;
	pthread_mutex_unlock(&t->mu);
}

/* Counts n more bytes for k against the store's cap (t->mu held).
 * Returns 0, or -1 (nothing counted) when they do not fit. */
static int charge(struct mcp_tasks *t, struct mcp_task *k, size_t n)
{
	if (n > t->max_bytes || t->bytes > t->max_bytes - n)
		return -1;
	t->bytes += n;
	k->bytes += n;
	return 0;
}

/* The length of v serialized (0 if it cannot be). */
static size_t json_size(const json_t *v)
{
	size_t n = 0;
	char *text = v ? jr_dump(v, &n) : NULL;

	free(text);
	return text ? n : 0;
}

/* Frees what a task holds but its session (t->mu held or unshared). */
static void task_free(struct mcp_tasks *t, struct mcp_task *k)
{
	t->bytes -= k->bytes;
	json_decref(k->params);
	json_decref(k->result);
	json_decref(k->error);
	json_decref(k->requests);
	json_decref(k->answers);
	json_decref(k->asked);
	free(k->state);
	free(k->status_msg);
	free(k);
}

/* The task as tasks/get shows it (DetailedTask), a new object; t->mu
 * held. */
static json_t *detailed(const struct mcp_task *k)
{
	json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:I, s:i}", "taskId", k->id,
			      "status", status_names[k->status], "createdAt",
			      iso_time(k->created_ms), "lastUpdatedAt",
			      iso_time(k->updated_ms), "ttlMs",
			      (json_int_t)k->ttl_ms, "pollIntervalMs",
			      TASK_POLL_MS);

	if (!o)
		return NULL;
	if (k->status_msg)
		json_object_set_new(o, "statusMessage",
				    json_string(k->status_msg));
	if (k->status == T_COMPLETED && k->result)
		json_object_set(o, "result", k->result);
	if (k->status == T_FAILED && k->error)
		json_object_set(o, "error", k->error);
	if (k->status == T_INPUT && k->requests)
		json_object_set(o, "inputRequests", k->requests);
	return o;
}

/* Sends notifications/tasks with snapshot (stolen) to every subscription
 * that listens for its task. */
static void notify(mcp_server *srv, json_t *snapshot)
{
	const char *id = json_string_value(json_object_get(snapshot, "taskId"));

	if (!snapshot)
		return;
	pthread_mutex_lock(&srv->sessions_mu);
	for (mcp_session *s = srv->sessions; s; s = s->next)
		mcp_rev2026_listen_task(s, id, snapshot);
	pthread_mutex_unlock(&srv->sessions_mu);
	json_decref(snapshot);
}

static struct mcp_task *find(struct mcp_tasks *t, const char *id)
{
	for (struct mcp_task *k = t->list; k; k = k->next)
		if (id && strcmp(k->id, id) == 0)
			return k;
	return NULL;
}

/* Sets k's status (t->mu held); returns the snapshot to notify. */
static json_t *set_status(struct mcp_task *k, enum task_status st,
			  const char *msg)
{
	k->status = st;
	k->updated_ms = wall_ms();
	free(k->status_msg);
	k->status_msg = msg ? strdup(msg) : NULL;
	return detailed(k);
}

/* 1 when reqs names a key k issued before (a key is unique over a task's
 * life, SEP-2663); else remembers reqs' keys and returns 0. */
static int reused_key(struct mcp_task *k, json_t *reqs)
{
	const char *key;
	json_t *v;

	if (!k->asked)
		k->asked = json_object();
	json_object_foreach (reqs, key, v)
		if (json_object_get(k->asked, key))
			return 1;
	json_object_foreach (reqs, key, v)
		json_object_set_new(k->asked, key, json_true());
	return 0;
}

/* Records the outcome of a run, msg being its serialized response (NULL:
 * cancelled). t->mu held; returns the snapshot to notify. */
static json_t *record(struct mcp_tasks *t, struct mcp_task *k, const char *msg,
		      size_t len)
{
	json_t *r = msg ? json_loadb(msg, len, 0, NULL) : NULL;
	json_t *res = json_object_get(r, "result");
	json_t *err = json_object_get(r, "error");
	const char *rt = json_string_value(json_object_get(res, "resultType"));
	json_t *snap = NULL;

	if (!msg) {
		snap = set_status(k, T_CANCELLED, "cancelled");
		goto out;
	}
	if ((!res && !err) || charge(t, k, len) != 0) {
		k->error = json_pack("{s:i, s:s}", "code", MCP_ERR_INTERNAL,
				     "message",
				     res || err ? "the task's result is larger "
						  "than the server keeps"
						: "the task's result was lost");
		snap = set_status(k, T_FAILED, "result not kept");
		goto out;
	}
	if (rt && strcmp(rt, "input_required") == 0) {
		json_t *reqs = json_object_get(res, "inputRequests");
		const char *tok =
			json_string_value(json_object_get(res, "requestState"));
		if (!json_is_object(reqs) || json_object_size(reqs) == 0 ||
		    reused_key(k, reqs)) {
			k->error = json_pack("{s:i, s:s}", "code",
					     MCP_ERR_INTERNAL, "message",
					     "the tool asked for no input, or "
					     "again for an input it had");
			snap = set_status(k, T_FAILED, "bad input request");
			goto out;
		}
		json_decref(k->requests);
		k->requests = json_incref(reqs);
		free(k->state);
		k->state = tok ? strdup(tok) : NULL;
		snap = set_status(k, T_INPUT, "waiting for input");
		goto out;
	}
	if (res) {
		k->result = json_incref(res);
		json_object_del(k->result, "resultType");
		snap = set_status(k, T_COMPLETED, NULL);
	} else {
		k->error = json_incref(err);
		snap = set_status(k, T_FAILED,
				  json_string_value(
					  json_object_get(err, "message")));
	}
out:
	json_decref(r);
	return snap;
}

/* done callback of a task's session: the run's response. */
static void task_done(void *ctx, const json_t *id, const char *msg, size_t len)
{
	struct mcp_task *k = ctx;
	mcp_server *srv = k->srv;
	struct mcp_tasks *t = srv->tasks;
	json_t *snap = NULL;

	pthread_mutex_lock(&t->mu);
	if (json_integer_value(id) == k->run && !terminal(k->status))
		snap = record(t, k, msg, len);
	pthread_cond_broadcast(&t->cv); /* a terminal session to free */
	pthread_mutex_unlock(&t->mu);
	notify(srv, snap);
}

/* Progress and log messages of a task go nowhere: the extension has no
 * stream for them (SEP-2663). */
static int task_send(void *ctx, const json_t *related, const char *msg,
		     size_t len)
{
	(void)ctx;
	(void)related;
	(void)msg;
	(void)len;
	return 0;
}

/* Feeds tools/call with params (borrowed) into s as request id run. */
static void feed(mcp_session *s, long long run, json_t *params)
{
	json_t *req = json_pack("{s:s, s:I, s:s, s:O}", "jsonrpc", "2.0", "id",
				(json_int_t)run, "method", "tools/call",
				"params", params);
	size_t len;
	char *text = req ? jr_dump(req, &len) : NULL;

	if (text)
		mcp_session_input(s, text, len);
	free(text);
	json_decref(req);
}

/* The sweeper: frees the sessions of finished tasks and the tasks whose
 * TTL is over, outside the lock (freeing a session waits for its
 * handlers, which take the lock to record their outcome). */
static void *sweeper_main(void *arg)
{
	struct mcp_tasks *t = arg;
	struct timespec now, next;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		struct mcp_task *gone = NULL;
		mcp_session *s = NULL;
		clock_gettime(CLOCK_MONOTONIC, &now);
		next = now;
		next.tv_sec += 3600;
		for (struct mcp_task **pp = &t->list; *pp;) {
			struct mcp_task *k = *pp;
			int expired = k->expires.tv_sec < now.tv_sec ||
				      (k->expires.tv_sec == now.tv_sec &&
				       k->expires.tv_nsec <= now.tv_nsec);
			if (expired && k->pins == 0) {
				*pp = k->next;
				t->n--;
				gone = k;
				break;
			}
			if (terminal(k->status) && k->s && k->pins == 0) {
				s = k->s;
				k->s = NULL;
				break;
			}
			if (k->expires.tv_sec < next.tv_sec ||
			    (k->expires.tv_sec == next.tv_sec &&
			     k->expires.tv_nsec < next.tv_nsec))
				next = k->expires;
			pp = &k->next;
		}
		if (gone || s) {
			pthread_mutex_unlock(&t->mu);
			if (gone)
				mcp_session_free(gone->s); /* its run ends */
			else
				mcp_session_free(s);
			pthread_mutex_lock(&t->mu);
			if (gone)
				task_free(t, gone);
			continue;
		}
		pthread_cond_timedwait(&t->cv, &t->mu, &next);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

void mcp_tasks_free(mcp_server *srv)
{
	struct mcp_tasks *t = srv->tasks;
	struct mcp_task *k;

	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	if (t->started)
		pthread_join(t->sweeper, NULL);
	/* Runs still going are cancelled; their outcome finds the lock. */
	for (k = t->list; k; k = k->next)
		mcp_session_free(k->s);
	while (t->list) {
		k = t->list;
		t->list = k->next;
		task_free(t, k);
	}
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t);
	srv->tasks = NULL;
}

int mcp_tasks_declared(const json_t *client_caps)
{
	return json_is_object(
		json_object_get(json_object_get(client_caps, "extensions"),
				MCP_EXT_TASKS));
}

json_t *mcp_tasks_required_data(void)
{
	return json_pack("{s:{s:{s:{}}}}", "requiredCapabilities", "extensions",
			 MCP_EXT_TASKS);
}

int mcp_tasks_refuse(mcp_session *s, json_t *id)
{
	json_t *r = jr_error(id, MCP_ERR_MISSING_CAPABILITY,
			     "Missing required client capability: the "
			     "io.modelcontextprotocol/tasks extension",
			     mcp_tasks_required_data());

	mcp_session_respond(s, id, r);
	json_decref(r);
	return -1;
}

static int new_id(char *out)
{
	unsigned char b[TASK_ID_BYTES];
	static const char hex[] = "0123456789abcdef";

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -1;
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[TASK_ID_LEN] = '\0';
	return 0;
}

/* A new task for a tools/call with params (borrowed) from a client whose
 * _meta is meta, in the store and pinned (the caller feeds its first run
 * and unpins it). NULL with *why set when it cannot be made. */
static struct mcp_task *task_new(mcp_server *srv, json_t *params,
				 const json_t *meta, const char **why)
{
	struct mcp_tasks *t = srv->tasks;
	struct mcp_task *k = calloc(1, sizeof(*k));

	*why = "out of memory";
	if (!k)
		return NULL;
	if (new_id(k->id) != 0) {
		*why = "no randomness for a task id";
		goto fail;
	}
	k->srv = srv;
	k->params = json_deep_copy(params);
	k->s = mcp_session_new(srv, task_send, k);
	if (!k->params || !k->s)
		goto fail;
	json_object_del(k->params, "task"); /* the 2025-11-25 hint: ignored */
	json_object_del(k->params, "inputResponses");
	json_object_del(k->params, "requestState");
	mcp_session_set_done(k->s, task_done);
	mcp_session_begin_stateless(k->s, meta);
	k->s->task = k;
	k->status = T_WORKING;
	k->created_ms = k->updated_ms = wall_ms();
	k->run = 1;
	k->pins = 1;
	pthread_mutex_lock(&t->mu);
	if (t->n >= t->max) {
		pthread_mutex_unlock(&t->mu);
		*why = "too many tasks; try again later";
		goto fail;
	}
	if (charge(t, k, json_size(k->params)) != 0) {
		pthread_mutex_unlock(&t->mu);
		*why = "the task store is full; try again later";
		goto fail;
	}
	k->ttl_ms = t->ttl_ms;
	mcp_deadline_after(&k->expires, (int)k->ttl_ms);
	k->next = t->list;
	t->list = k;
	t->n++;
	if (!t->started &&
	    pthread_create(&t->sweeper, NULL, sweeper_main, t) == 0)
		t->started = 1;
	pthread_mutex_unlock(&t->mu);
	return k;
fail:
	mcp_session_free(k->s);
	json_decref(k->params);
	free(k);
	return NULL;
}

static void unpin(struct mcp_tasks *t, struct mcp_task *k)
{
	pthread_mutex_lock(&t->mu);
	k->pins--;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* The CreateTaskResult for k as it is now (a new object). */
static json_t *create_result(struct mcp_tasks *t, struct mcp_task *k)
{
	json_t *r;

	pthread_mutex_lock(&t->mu);
	r = detailed(k);
	pthread_mutex_unlock(&t->mu);
	if (r) {
		/* a CreateTaskResult is the Task alone: no payload */
		json_object_del(r, "result");
		json_object_del(r, "error");
		json_object_del(r, "inputRequests");
		json_object_set_new(r, "resultType", json_string("task"));
	}
	return r;
}

/* Makes a task that runs the call with params (borrowed; the call's own,
 * inputResponses and requestState included for its first run) for a
 * client with _meta meta. Returns a CreateTaskResult, or NULL with *why. */
static json_t *start(mcp_server *srv, json_t *params, const json_t *meta,
		     const char **why)
{
	struct mcp_task *k = task_new(srv, params, meta, why);
	json_t *r;

	if (!k)
		return NULL;
	/* Made and findable before anything answers (durable create); the
	 * first run may even finish before the CreateTaskResult goes. */
	feed(k->s, k->run, params);
	r = create_result(srv->tasks, k);
	unpin(srv->tasks, k);
	if (!r)
		*why = "out of memory";
	return r;
}

int mcp_rev2026_task_call(mcp_session *s, struct jr_msg *m,
			  const struct mcp_entry *e)
{
	json_t *meta = json_object_get(m->params, "_meta"), *r, *resp;
	const char *why;
	int code = MCP_ERR_INVALID_REQUEST;

	if (!s->stateless || s->task ||
	    !(e->flags & (MCP_TOOL_TASK | MCP_TOOL_TASK_REQUIRED)))
		return 0;
	if (!mcp_tasks_declared(s->client_caps)) {
		if (!(e->flags & MCP_TOOL_TASK_REQUIRED))
			return 0; /* runs as an ordinary call */
		resp = jr_error(m->id, MCP_ERR_MISSING_CAPABILITY,
				"this tool runs only as a task: declare the "
				"io.modelcontextprotocol/tasks extension",
				mcp_tasks_required_data());
		goto out;
	}
	r = start(s->srv, m->params, meta, &why);
	resp = r ? jr_result(m->id, r) : jr_error(m->id, code, why, NULL);
out:
	mcp_session_respond(s, m->id, resp);
	json_decref(resp);
	return 1;
}

int mcp_call_create_task(mcp_call *call, json_t **result)
{
	mcp_session *s = call->s;
	const char *why;

	*result = NULL;
	if (!s->stateless || s->task || call->method != M_TOOLS_CALL) {
		mcp_call_error(call, MCP_ERR_INVALID_REQUEST,
			       "only a 2026-07-28 tools/call can become a task",
			       NULL);
		return MCP_ERR_INVALID_REQUEST;
	}
	if (!mcp_tasks_declared(s->client_caps)) {
		mcp_call_error(call, MCP_ERR_MISSING_CAPABILITY,
			       "the client did not declare the "
			       "io.modelcontextprotocol/tasks extension",
			       mcp_tasks_required_data());
		return MCP_ERR_MISSING_CAPABILITY;
	}
	*result = start(s->srv, call->params,
			json_object_get(call->params, "_meta"), &why);
	if (!*result) {
		mcp_call_error(call, MCP_ERR_INVALID_REQUEST, why, NULL);
		return MCP_ERR_INVALID_REQUEST;
	}
	return 0;
}

const char *mcp_call_task_id(mcp_call *call)
{
	return call->s->task ? call->s->task->id : NULL;
}

/* ---- tasks/get, tasks/update, tasks/cancel ---- */

static int reply(mcp_session *s, json_t *id, json_t *result, int code,
		 const char *msg)
{
	json_t *r = result ? jr_result(id, result)
			   : jr_error(id, code, msg, NULL);

	mcp_session_respond(s, id, r);
	json_decref(r);
	return result ? 0 : -1;
}

/* tasks/update: answers for outstanding keys are kept (others ignored;
 * each counted against the store's cap), and once none is outstanding
 * the call runs again with all of them. t->mu held; returns 1 when k must
 * be fed its next run (pinned), -1 when an answer did not fit. */
static int update(struct mcp_tasks *t, struct mcp_task *k, json_t *responses,
		  json_t **snap)
{
	const char *key;
	json_t *v;

	if (k->status != T_INPUT)
		return 0;
	if (!k->answers)
		k->answers = json_object();
	json_object_foreach (responses, key, v) {
		if (!json_object_get(k->requests, key))
			continue;
		if (charge(t, k, json_size(v) + strlen(key)) != 0)
			return -1;
		json_object_set(k->answers, key, v);
		json_object_del(k->requests, key);
	}
	if (json_object_size(k->requests) > 0) {
		k->updated_ms = wall_ms();
		*snap = detailed(k);
		return 0;
	}
	json_object_set_new(k->params, "inputResponses", k->answers);
	k->answers = NULL;
	if (k->state)
		json_object_set_new(k->params, "requestState",
				    json_string(k->state));
	k->run++;
	k->pins++;
	*snap = set_status(k, T_WORKING, NULL);
	return 1;
}

/* tasks/cancel: the run is told (cooperative), a task waiting for input
 * ends at once. t->mu held; returns the snapshot to notify. */
static json_t *cancel(struct mcp_task *k)
{
	json_t *n;
	size_t len;
	char *text;

	if (k->status == T_INPUT)
		return set_status(k, T_CANCELLED, "cancelled by the client");
	if (k->status != T_WORKING || !k->s)
		return NULL;
	/* Only marks the call (no handler runs here), so t->mu may be
	 * held. */
	n = json_pack("{s:s, s:s, s:{s:I}}", "jsonrpc", "2.0", "method",
		      "notifications/cancelled", "params", "requestId",
		      (json_int_t)k->run);
	text = n ? jr_dump(n, &len) : NULL;
	if (text)
		mcp_session_input(k->s, text, len);
	free(text);
	json_decref(n);
	return NULL;
}

int mcp_rev2026_tasks_method(mcp_session *s, struct jr_msg *m, int method)
{
	struct mcp_tasks *t = s->srv->tasks;
	const char *id =
		json_string_value(json_object_get(m->params, "taskId"));
	json_t *responses = json_object_get(m->params, "inputResponses");
	json_t *res = NULL, *snap = NULL;
	struct mcp_task *k, *run = NULL;
	int full = 0, u;
	const char *key, *why = "Failed to retrieve task: Task not found";
	json_t *v;

	if (!mcp_tasks_declared(s->client_caps))
		return mcp_tasks_refuse(s, m->id);
	if (!id)
		return reply(s, m->id, NULL, MCP_ERR_INVALID_PARAMS,
			     "Invalid params: taskId must be a string");
	if (method == M_TASKS_UPDATE) {
		why = "Invalid params: inputResponses must be an object of "
		      "result objects";
		if (!json_is_object(responses))
			return reply(s, m->id, NULL, MCP_ERR_INVALID_PARAMS,
				     why);
		json_object_foreach (responses, key, v)
			if (!json_is_object(v))
				return reply(s, m->id, NULL,
					     MCP_ERR_INVALID_PARAMS, why);
		why = "Failed to update task: Task not found";
	}
	pthread_mutex_lock(&t->mu);
	k = find(t, id);
	if (k && method == M_TASKS_GET)
		res = detailed(k);
	else if (k && method == M_TASKS_UPDATE &&
		 (u = update(t, k, responses, &snap)) != 0) {
		run = u > 0 ? k : NULL;
		full = u < 0;
	} else if (k && method == M_TASKS_CANCEL)
		snap = cancel(k);
	if (k && method != M_TASKS_GET && !full)
		res = json_object();
	pthread_mutex_unlock(&t->mu);
	if (run) {
		feed(run->s, run->run, run->params);
		unpin(t, run);
	}
	notify(s->srv, snap);
	if (res)
		json_object_set_new(res, "resultType", json_string("complete"));
	if (full)
		return reply(s, m->id, NULL, MCP_ERR_INVALID_REQUEST,
			     "the task store is full; try again later");
	return reply(s, m->id, res, MCP_ERR_INVALID_PARAMS,
		     k ? "out of memory" : why);
}

int mcp_tasks_known(mcp_server *srv, const char *id)
{
	struct mcp_tasks *t = srv->tasks;
	int found;

	pthread_mutex_lock(&t->mu);
	found = find(t, id) != NULL;
	pthread_mutex_unlock(&t->mu);
	return found;
}
