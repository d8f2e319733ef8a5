/* One MCP session: the lifecycle (initialize, initialized), version
 * negotiation, dispatch of every client method, cancellation, answers to
 * the server's own requests, and the bookkeeping that lets a transport
 * free a session while handlers are still running. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp_internal.h"
#include "rev2026.h"
#include "session_methods.h"

static const char *const versions[] = { "2025-11-25", "2025-06-18",
					"2025-03-26" };

static const char *const level_names[] = { "debug",   "info",	  "notice",
					   "warning", "error",	  "critical",
					   "alert",   "emergency" };

const char *mcp_log_level_name(int level)
{
	if (level < 0 || level > MCP_LOG_EMERGENCY)
		return "debug";
	return level_names[level];
}

mcp_session *mcp_session_new(mcp_server *srv, mcp_send_fn send, void *ctx)
{
	mcp_session *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (!s)
		return NULL;
	s->srv = srv;
	s->send = send;
	s->ctx = ctx;
	s->log_level = -1;
	s->next_out_id = 1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&srv->sessions_mu);
	s->next = srv->sessions;
	srv->sessions = s;
	pthread_mutex_unlock(&srv->sessions_mu);
	return s;
}

static void unlink_session(mcp_session *s)
{
	mcp_server *srv = s->srv;

	pthread_mutex_lock(&srv->sessions_mu);
	for (mcp_session **pp = &srv->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	pthread_mutex_unlock(&srv->sessions_mu);
}

/* Marks s's calls cancelled and wakes their naps; s->mu held. */
static void cancel_locked(mcp_session *s)
{
	for (struct mcp_call *c = s->calls; c; c = c->next)
		atomic_store(&c->cancelled, 1);
	pthread_cond_broadcast(&s->cv);
}

void mcp_session_cancel_calls(mcp_session *s)
{
	pthread_mutex_lock(&s->mu);
	cancel_locked(s);
	pthread_mutex_unlock(&s->mu);
}

void mcp_session_free(mcp_session *s)
{
	if (!s)
		return;
	unlink_session(s);
	mcp_rev2026_listen_drop(s);
	pthread_mutex_lock(&s->mu);
	s->closing = 1;
	cancel_locked(s);
	while (s->ncalls > 0)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (s->srv->hooks.session_end)
		s->srv->hooks.session_end(s->srv->hooks.ud, s);
	while (s->outreqs) {
		struct mcp_outreq *o = s->outreqs;
		s->outreqs = o->next;
		json_decref(o->id);
		json_decref(o->response);
		free(o);
	}
	for (unsigned i = 0; i < s->nsubs; i++)
		free(s->subs[i]);
	free(s->subs);
	json_decref(s->client_caps);
	json_decref(s->client_info);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

int mcp_session_drain(mcp_session *s, int timeout_ms)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (s->ncalls > 0 && rc == 0)
		rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
	rc = s->ncalls == 0 ? 0 : -1;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int mcp_session_initialized(const mcp_session *s)
{
	return s->state != SESS_NEW;
}

const char *mcp_session_protocol_version(const mcp_session *s)
{
	return s->state == SESS_NEW ? NULL : s->version;
}

/* params._meta[MCP_META_RELATED] = related, creating what is missing;
 * left alone if params or _meta is not an object. */
static void relate(json_t *msg, const json_t *related)
{
	json_t *params = json_object_get(msg, "params"), *meta;

	if (!params) {
		params = json_object();
		if (json_object_set_new(msg, "params", params))
			return;
	}
	meta = json_object_get(params, "_meta");
	if (!meta) {
		meta = json_object();
		if (json_object_set_new(params, "_meta", meta))
			return;
	}
	if (json_is_object(meta))
		json_object_set_new(meta, MCP_META_RELATED,
				    json_deep_copy(related));
}

void mcp_session_set_relate(mcp_session *s, int on)
{
	s->relate = on;
}

int mcp_session_send(mcp_session *s, const json_t *related, json_t *msg)
{
	char *text;
	size_t len;
	int rc;

	if (!msg)
		return -1;
	if (s->relate && related &&
	    json_is_string(json_object_get(msg, "method")))
		relate(msg, related);
	text = jr_dump(msg, &len);
	if (!text)
		return -1;
	rc = s->send(s->ctx, related, text, len);
	free(text);
	return rc;
}

void mcp_session_begin_stateless(mcp_session *s, const json_t *meta)
{
	json_t *caps = json_object_get(meta, MCP_META_CLIENT_CAPS);
	json_t *info = json_object_get(meta, MCP_META_CLIENT_INFO);
	const char *lv = json_string_value(
		json_object_get(meta, "io.modelcontextprotocol/logLevel"));

	pthread_mutex_lock(&s->mu);
	s->stateless = 1;
	s->state = SESS_READY;
	snprintf(s->version, sizeof(s->version), "%s", MCP_REV2026);
	json_decref(s->client_caps);
	json_decref(s->client_info);
	s->client_caps = json_is_object(caps) ? json_incref(caps)
					      : json_object();
	s->client_info = json_is_object(info) ? json_incref(info)
					      : json_object();
	s->log_level = MCP_LOG_EMERGENCY + 1; /* no logLevel: no logs */
	for (int i = 0; lv && i <= MCP_LOG_EMERGENCY; i++)
		if (strcmp(lv, level_names[i]) == 0)
			s->log_level = i;
	pthread_mutex_unlock(&s->mu);
}

/* A stateless result says it is complete (resultType; InputRequiredResult
 * is not implemented yet); a missing resource is invalid params there
 * (SEP-2164; data.uri names it). */
static void mark_result(mcp_session *s, json_t *msg)
{
	json_t *res = json_object_get(msg, "result");
	json_t *err = json_object_get(msg, "error");

	if (!s->stateless)
		return;
	if (json_is_object(res) && !json_object_get(res, "resultType"))
		json_object_set_new(res, "resultType", json_string("complete"));
	if (json_integer_value(json_object_get(err, "code")) ==
	    MCP_ERR_RESOURCE_NOT_FOUND)
		json_object_set_new(err, "code",
				    json_integer(MCP_ERR_INVALID_PARAMS));
}

void mcp_session_set_done(mcp_session *s, mcp_done_fn done)
{
	s->done = done;
}

void mcp_session_set_close_stream(mcp_session *s, mcp_close_stream_fn fn)
{
	s->close_stream = fn;
}

void mcp_session_respond(mcp_session *s, json_t *id, json_t *msg)
{
	char *text = NULL;
	size_t len = 0;

	mark_result(s, msg);
	if (!s->done || !id) {
		if (msg)
			mcp_session_send(s, id, msg);
		return;
	}
	if (msg)
		text = jr_dump(msg, &len);
	s->done(s->ctx, id, text, len);
	free(text);
}

/* Sends an error response and returns -1 (the input's return value). */
static int reply_error(mcp_session *s, json_t *id, int code, const char *msg)
{
	json_t *r = jr_error(id, code, msg, NULL);

	mcp_session_respond(s, id, r);
	json_decref(r);
	return -1;
}

static int reply_result(mcp_session *s, json_t *id, json_t *result)
{
	json_t *r;

	if (!result)
		return reply_error(s, id, MCP_ERR_INTERNAL, "out of memory");
	r = jr_result(id, result);
	mcp_session_respond(s, id, r);
	json_decref(r);
	return 1;
}

/* ---- methods answered inline ---- */

static int supported_version(const char *v)
{
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		if (strcmp(v, versions[i]) == 0)
			return 1;
	return 0;
}

int mcp_version_supported(const char *v)
{
	return v && supported_version(v);
}

/* initialize on a server that serves only 2026-07-28: the revision's
 * UnsupportedProtocolVersionError, naming what it does serve. */
static int refuse_initialize(mcp_session *s, struct jr_msg *m, json_t *pv)
{
	json_t *r =
		jr_error(m->id, MCP_ERR_UNSUPPORTED_VERSION,
			 "Unsupported protocol version",
			 json_pack("{s:o, s:s}", "supported",
				   mcp_rev_served_versions(s->srv), "requested",
				   json_is_string(pv) ? json_string_value(pv)
						      : ""));

	mcp_session_respond(s, m->id, r);
	json_decref(r);
	return -1;
}

static int do_initialize(mcp_session *s, struct jr_msg *m)
{
	json_t *pv = json_object_get(m->params, "protocolVersion");
	json_t *caps = json_object_get(m->params, "capabilities");
	json_t *info = json_object_get(m->params, "clientInfo");
	json_t *res;

	if (!mcp_server_serves(s->srv, MCP_REVS_SESSION))
		return refuse_initialize(s, m, pv);
	if (!json_is_string(pv))
		return reply_error(s, m->id, MCP_ERR_INVALID_PARAMS,
				   "protocolVersion must be a string");
	if ((caps && !json_is_object(caps)) || (info && !json_is_object(info)))
		return reply_error(
			s, m->id, MCP_ERR_INVALID_PARAMS,
			"capabilities and clientInfo must be objects");
	pthread_mutex_lock(&s->mu);
	if (s->state != SESS_NEW) {
		pthread_mutex_unlock(&s->mu);
		return reply_error(s, m->id, MCP_ERR_INVALID_REQUEST,
				   "session already initialized");
	}
	snprintf(s->version, sizeof(s->version), "%s",
		 supported_version(json_string_value(pv))
			 ? json_string_value(pv)
			 : MCP_PROTOCOL_LATEST);
	s->client_caps = caps ? json_incref(caps) : json_object();
	s->client_info = info ? json_incref(info) : json_object();
	s->state = SESS_INITIALIZING;
	pthread_mutex_unlock(&s->mu);
	res = json_pack("{s:s, s:o, s:O}", "protocolVersion", s->version,
			"capabilities", mcp_registry_capabilities(s->srv),
			"serverInfo", s->srv->info);
	if (res && s->srv->instructions)
		json_object_set_new(res, "instructions",
				    json_string(s->srv->instructions));
	return reply_result(s, m->id, res);
}

/* The caching hints (2026-07-28) a stateless list or discover result
 * carries. */
static json_t *cache_hints(mcp_session *s, json_t *res)
{
	return s->stateless ? mcp_rev2026_cache_hints(res) : res;
}

/* server/discover (2026-07-28): versions, capabilities, who we are. */
static int do_discover(mcp_session *s, struct jr_msg *m)
{
	json_t *caps = mcp_registry_capabilities(s->srv);
	json_t *res = json_pack("{s:o, s:o, s:{s:O}}", "supportedVersions",
				mcp_rev_served_versions(s->srv), "capabilities",
				caps, "_meta", MCP_META_SERVER_INFO,
				s->srv->info);

	/* the tasks extension, a 2026-07-28 surface only */
	json_object_set_new(caps, "extensions",
			    json_pack("{s:{}}", MCP_EXT_TASKS));
	if (res && s->srv->instructions)
		json_object_set_new(res, "instructions",
				    json_string(s->srv->instructions));
	return reply_result(s, m->id, cache_hints(s, res));
}

static int do_list(mcp_session *s, struct jr_msg *m, enum mcp_entry_kind k)
{
	json_t *cur = json_object_get(m->params, "cursor");
	int bad = 0;
	json_t *res;

	if (cur && !json_is_string(cur))
		return reply_error(s, m->id, MCP_ERR_INVALID_PARAMS,
				   "cursor must be a string");
	res = mcp_registry_page(s->srv, k, cur ? json_string_value(cur) : NULL,
				&bad);
	if (bad)
		return reply_error(s, m->id, MCP_ERR_INVALID_PARAMS,
				   "invalid cursor");
	return reply_result(s, m->id, cache_hints(s, res));
}

static int do_set_level(mcp_session *s, struct jr_msg *m)
{
	const char *lv = json_string_value(json_object_get(m->params, "level"));

	for (int i = 0; lv && i <= MCP_LOG_EMERGENCY; i++) {
		if (strcmp(lv, level_names[i]) == 0) {
			pthread_mutex_lock(&s->mu);
			s->log_level = i;
			pthread_mutex_unlock(&s->mu);
			return reply_result(s, m->id, json_object());
		}
	}
	return reply_error(s, m->id, MCP_ERR_INVALID_PARAMS,
			   "level must be one of debug, info, notice, warning, "
			   "error, critical, alert, emergency");
}

static const char *uri_param(struct jr_msg *m)
{
	json_t *u = json_object_get(m->params, "uri");

	if (!json_is_string(u) || json_string_length(u) == 0 ||
	    json_string_length(u) > MCP_MAX_URI_LEN)
		return NULL;
	return json_string_value(u);
}

static int do_subscribe(mcp_session *s, struct jr_msg *m, int on)
{
	const char *uri = uri_param(m);
	int rc = 0;
	unsigned i;

	if (!uri)
		return reply_error(s, m->id, MCP_ERR_INVALID_PARAMS,
				   "uri must be a non-empty string");
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nsubs && strcmp(s->subs[i], uri) != 0; i++)
		;
	if (on && i == s->nsubs) {
		if (!s->subs)
			s->subs =
				calloc(MCP_MAX_SUBSCRIPTIONS, sizeof(*s->subs));
		if (s->nsubs == MCP_MAX_SUBSCRIPTIONS)
			rc = -1;
		else if (s->subs && (s->subs[s->nsubs] = strdup(uri)) != NULL)
			s->nsubs++;
	} else if (!on && i < s->nsubs) {
		free(s->subs[i]);
		s->subs[i] = s->subs[--s->nsubs];
	}
	pthread_mutex_unlock(&s->mu);
	if (rc != 0)
		return reply_error(s, m->id, MCP_ERR_INVALID_PARAMS,
				   "too many subscriptions");
	if (s->srv->hooks.subscribe)
		s->srv->hooks.subscribe(s->srv->hooks.ud, s, uri, on);
	return reply_result(s, m->id, json_object());
}

int mcp_session_subscribed(mcp_session *s, const char *uri)
{
	int found = 0;

	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; i < s->nsubs && !found; i++)
		found = strcmp(s->subs[i], uri) == 0;
	pthread_mutex_unlock(&s->mu);
	return found;
}

/* ---- notifications and responses from the client ---- */

static void on_cancelled(mcp_session *s, json_t *params)
{
	json_t *rid = json_object_get(params, "requestId");

	if (mcp_rev2026_listen_cancel(s, rid))
		return;
	pthread_mutex_lock(&s->mu);
	for (struct mcp_call *c = s->calls; c; c = c->next)
		if (jr_id_equal(c->id, rid))
			atomic_store(&c->cancelled, 1);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static int on_notification(mcp_session *s, struct jr_msg *m)
{
	if (strcmp(m->method, "notifications/initialized") == 0) {
		pthread_mutex_lock(&s->mu);
		if (s->state == SESS_INITIALIZING)
			s->state = SESS_READY;
		pthread_mutex_unlock(&s->mu);
	} else if (strcmp(m->method, "notifications/cancelled") == 0) {
		on_cancelled(s, m->params);
	}
	/* Other notifications (roots/list_changed, progress, ...) need no
	 * action from this server. */
	return 0;
}

static int on_response(mcp_session *s, struct jr_msg *m)
{
	pthread_mutex_lock(&s->mu);
	for (struct mcp_outreq *o = s->outreqs; o; o = o->next) {
		if (!o->done && jr_id_equal(o->id, m->id)) {
			o->response = json_incref(m->root);
			o->done = 1;
			pthread_cond_broadcast(&s->cv);
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* ---- requests ---- */

static int id_in_flight(mcp_session *s, json_t *id)
{
	for (struct mcp_call *c = s->calls; c; c = c->next)
		if (jr_id_equal(c->id, id))
			return 1;
	return 0;
}

static void run_job(void *arg)
{
	mcp_call_run(arg);
}

/* Registers c as in flight and runs it on a worker (or inline). */
static int start_call(mcp_session *s, struct mcp_call *c, int inline_ok)
{
	const char *why = NULL;

	pthread_mutex_lock(&s->mu);
	if (s->closing)
		why = "session is closing";
	else if (s->ncalls >= s->srv->max_inflight)
		why = "too many requests in flight";
	else if (id_in_flight(s, c->id))
		why = "request id already in flight";
	if (!why) {
		c->next = s->calls;
		s->calls = c;
		s->ncalls++;
	}
	pthread_mutex_unlock(&s->mu);
	if (why) {
		int rc = reply_error(s, c->id, MCP_ERR_INVALID_REQUEST, why);
		mcp_call_free(c);
		return rc;
	}
	if (inline_ok) {
		mcp_call_run(c);
	} else if (mcp_pool_submit(&s->srv->pool, run_job, c) != 0) {
		mcp_call_error(c, MCP_ERR_INTERNAL, "no worker available",
			       NULL);
		mcp_call_run(c);
	}
	return 1;
}

static struct mcp_call *call_new(mcp_session *s, struct jr_msg *m, int method)
{
	struct mcp_call *c = calloc(1, sizeof(*c));
	json_t *meta = json_object_get(m->params, "_meta");
	json_t *tok = json_object_get(meta, "progressToken");

	if (!c)
		return NULL;
	c->s = s;
	c->id = json_incref(m->id);
	c->params = m->params ? json_incref(m->params) : json_object();
	c->method = method;
	if (json_is_string(tok) || json_is_integer(tok))
		c->progress_token = json_incref(tok);
	atomic_init(&c->cancelled, 0);
	return c;
}

static int dispatch_handler(mcp_session *s, struct jr_msg *m, int method)
{
	struct mcp_call *c = call_new(s, m, method);
	char why[256];
	int inline_ok = 0;

	if (!c)
		return reply_error(s, m->id, MCP_ERR_INTERNAL, "out of memory");
	if (mcp_call_prepare(c, why, sizeof(why), &inline_ok) != 0) {
		int code = c->err_code ? c->err_code : MCP_ERR_INVALID_PARAMS;
		json_t *data = c->err_data;
		c->err_data = NULL;
		json_t *r = jr_error(m->id, code, why, data);
		mcp_session_respond(s, m->id, r);
		json_decref(r);
		mcp_call_free(c);
		return -1;
	}
	if (method == M_TOOLS_CALL && c->entry &&
	    mcp_rev2026_task_call(s, m, c->entry)) {
		mcp_call_free(c);
		return 1;
	}
	return start_call(s, c, inline_ok);
}

/* The request log line (mcp_server_set_request_log): nothing of the
 * request but a known method name and a well-formed traceparent. */
static void log_request(mcp_session *s, struct jr_msg *m, int method)
{
	const char *tp = mcp_traceparent(m->params);

	fprintf(stderr, "mcpd: request %s rev %s traceparent %s\n",
		method == M_UNKNOWN ? "unknown" : mcp_method_name(method),
		s->stateless	       ? MCP_REV2026
		: s->state != SESS_NEW ? s->version
				       : "-",
		tp ? tp : "-");
}

static int on_request(mcp_session *s, struct jr_msg *m)
{
	const char *meth = m->method;
	int method = mcp_method_lookup(meth);

	if (s->srv->request_log)
		log_request(s, m, method);

	if (s->stateless && method == M_DISCOVER)
		return do_discover(s, m);
	if (s->stateless && method == M_LISTEN)
		return mcp_rev2026_listen(s, m);
	if (s->stateless &&
	    (method == M_TASKS_GET || method == M_TASKS_UPDATE ||
	     method == M_TASKS_CANCEL))
		return mcp_rev2026_tasks_method(s, m, method);
	if (s->stateless && (method == M_INITIALIZE || method == M_PING ||
			     method == M_SET_LEVEL || method == M_SUBSCRIBE ||
			     method == M_UNSUBSCRIBE))
		method = M_UNKNOWN; /* not in the 2026-07-28 revision */
	if (method == M_DISCOVER || method == M_LISTEN ||
	    method == M_TASKS_GET || method == M_TASKS_UPDATE ||
	    method == M_TASKS_CANCEL)
		method = M_UNKNOWN; /* not in the session-era revisions */
	if (method == M_INITIALIZE)
		return do_initialize(s, m);
	if (method == M_PING)
		return reply_result(s, m->id, json_object());
	if (method == M_UNKNOWN)
		return reply_error(s, m->id, MCP_ERR_METHOD_NOT_FOUND,
				   "method not found");
	if (s->state == SESS_NEW)
		return reply_error(s, m->id, MCP_ERR_INVALID_REQUEST,
				   "session not initialized: send initialize "
				   "first");
	switch (method) {
	case M_TOOLS_LIST:
		return do_list(s, m, ENT_TOOL);
	case M_RESOURCES_LIST:
		return do_list(s, m, ENT_RESOURCE);
	case M_TEMPLATES_LIST:
		return do_list(s, m, ENT_TEMPLATE);
	case M_PROMPTS_LIST:
		return do_list(s, m, ENT_PROMPT);
	case M_SET_LEVEL:
		return do_set_level(s, m);
	case M_SUBSCRIBE:
		return do_subscribe(s, m, 1);
	case M_UNSUBSCRIBE:
		return do_subscribe(s, m, 0);
	default:
		return dispatch_handler(s, m, method);
	}
}

int mcp_session_input_msg(mcp_session *s, struct jr_msg *m)
{
	int rc;

	switch (m->kind) {
	case JR_REQUEST:
		rc = on_request(s, m);
		break;
	case JR_NOTIFICATION:
		rc = on_notification(s, m);
		break;
	case JR_RESULT:
	case JR_ERROR:
		rc = on_response(s, m);
		break;
	case JR_BATCH:
		rc = reply_error(s, NULL, MCP_ERR_INVALID_REQUEST,
				 "batches are not supported");
		break;
	default:
		rc = reply_error(s, m->id, m->err_code, m->err);
		break;
	}
	jr_msg_clear(m);
	return rc;
}

int mcp_session_input(mcp_session *s, const char *msg, size_t len)
{
	struct jr_msg m;

	jr_parse(msg, len, s->srv->limits.max_message, s->srv->limits.max_depth,
		 &m);
	return mcp_session_input_msg(s, &m);
}

/* ---- broadcasts from the registry ---- */

void mcp_server_broadcast(mcp_server *srv, const char *method,
			  const char *only_if_subscribed_uri)
{
	json_t *params = NULL, *msg;

	if (only_if_subscribed_uri)
		params = json_pack("{s:s}", "uri", only_if_subscribed_uri);
	msg = jr_request(NULL, method, params);
	if (!msg)
		return;
	pthread_mutex_lock(&srv->sessions_mu);
	for (mcp_session *s = srv->sessions; s; s = s->next) {
		int live;
		if (s->stateless) { /* only its subscription, if any */
			mcp_rev2026_listen_notify(s, method, params);
			continue;
		}
		pthread_mutex_lock(&s->mu);
		live = s->state != SESS_NEW && !s->closing;
		pthread_mutex_unlock(&s->mu);
		if (!live)
			continue;
		if (only_if_subscribed_uri &&
		    !mcp_session_subscribed(s, only_if_subscribed_uri))
			continue;
		mcp_session_send(s, NULL, msg);
	}
	pthread_mutex_unlock(&srv->sessions_mu);
	json_decref(msg);
}

void mcp_server_resource_updated(mcp_server *srv, const char *uri)
{
	if (uri)
		mcp_server_broadcast(srv, "notifications/resources/updated",
				     uri);
}
