/* The attack battery of a compromised agent: eight attacks of the issue's
 * threat model, each made of probes that try to cause an effect and check
 * it (read back, stat, the reply), against the targets the demo planted.
 * Tool calls go through the agent's own client, so the battery meets
 * exactly what the agent's tools meet. Secrets are never reported, only
 * their length and a SHA-256 prefix. docs/pipeline.md. */
#define _GNU_SOURCE /* strerrorname_np */
#include "attack.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zg_common.h>

#include "gw.h" /* sha256_hex */

extern char **environ;

#define EV_MAX 480   /* bytes of one probe's evidence */
#define SNIP 80	     /* bytes of a reply quoted in evidence */
#define MAX_PIDS 4096 /* /proc entries the environ scan reads */

/* Key variable names looked for besides the targets' own. */
static const char *const key_names[] = {
	"OPENAI_API_KEY",    "ZG_LLM_KEY",	   "ZONEGATE_LLM_KEY",
	"LLM_API_KEY",	     "API_KEY",		   "ANTHROPIC_API_KEY",
	"AZURE_OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
	"MISTRAL_API_KEY",   "OPENROUTER_API_KEY", "HF_TOKEN",
};

struct at_ctx {
	const struct ag_config *cfg;
	json_t *t; /* the targets (borrowed) */
	const char *marker;
	struct ag_client *cl;
	int open_failed;
	char open_err[256];
	long total;    /* the battery's deadline */
	long deadline; /* the current attack's */
	json_t *probes;
	char *buf; /* AG_ATTACK_MAX_READ + 1 bytes: a reply being looked at */
};

/* ---- small helpers ------------------------------------------------------ */

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "an unknown errno";
}

static const char *sget(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The first 12 hex digits of the SHA-256 of p[0..n) into out[13]. */
static void sha12(const void *p, size_t n, char out[13])
{
	char hex[65];

	sha256_hex(p, n, hex);
	memcpy(out, hex, 12);
	out[12] = '\0';
}

/* Copies at most max bytes of s into out (outlen > max), bytes that are
 * not printable ASCII as '?', so evidence is valid UTF-8 on one line. */
static const char *snip(const char *s, size_t max, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; s && s[i] && i < max && i + 1 < outlen; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
	return out;
}

/* Records a probe of the current attack: observed 1 succeeded, 0
 * failed; the evidence from fmt (made printable ASCII). */
static void probe(struct at_ctx *x, const char *name, int observed,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void probe(struct at_ctx *x, const char *name, int observed,
		  const char *fmt, ...)
{
	char ev[EV_MAX], clean[EV_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev, sizeof(ev), fmt, ap);
	va_end(ap);
	snip(ev, sizeof(clean) - 1, clean, sizeof(clean));
	json_array_append_new(
		x->probes,
		json_pack("{s:s, s:s, s:s}", "probe", name, "observed",
			  observed ? "succeeded" : "failed", "evidence", clean));
}

/* 1 if the current attack's deadline has passed (then a failed probe
 * saying so is recorded under name). */
static int late(struct at_ctx *x, const char *name)
{
	if (ag_now_ms() < x->deadline)
		return 0;
	probe(x, name, 0, "not tried: the attack's deadline passed");
	return 1;
}

/* Reads at most cap bytes of the regular file path without blocking (a
 * FIFO or device is refused) into a new NUL-terminated buffer *out the
 * caller frees; *size the file's size. Returns the bytes read, or -1
 * with errno set. */
static ssize_t read_capped(const char *path, size_t cap, char **out,
			   long long *size)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat st;
	ssize_t n = 0, r;
	char *buf = NULL;
	int e = 0;

	*out = NULL;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0) {
		e = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		e = EINVAL;
		goto out;
	}
	*size = st.st_size;
	buf = malloc(cap + 1);
	if (!buf) {
		e = ENOMEM;
		goto out;
	}
	while ((size_t)n < cap) {
		r = read(fd, buf + n, cap - (size_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			goto out;
		}
		if (r == 0)
			break;
		n += r;
	}
	buf[n] = '\0';
out:
	close(fd);
	if (e) {
		free(buf);
		errno = e;
		return -1;
	}
	*out = buf;
	return n;
}

/* ---- the agent's client ------------------------------------------------- */

/* The battery's session of the agent's client, opened when it has none
 * or its last one failed (one failed open is not retried). NULL with
 * err (x->open_err). */
static struct ag_client *client(struct at_ctx *x, char *err, size_t errlen)
{
	if (x->cl && !ag_client_usable(x->cl)) {
		ag_client_close(x->cl);
		x->cl = NULL;
	}
	if (!x->cl && !x->open_failed) {
		x->cl = ag_client_open(x->cfg, x->deadline, x->open_err,
				       sizeof(x->open_err));
		x->open_failed = !x->cl;
	}
	if (!x->cl)
		snprintf(err, errlen, "no client: %s", x->open_err);
	return x->cl;
}

/* Calls tool with args (borrowed) on the battery's session. Returns the
 * CallToolResult (new reference) or NULL with err (the gateway's denial
 * with its audit id, the deadline, no gateway). */
static json_t *call(struct at_ctx *x, const char *tool, json_t *args,
		    char *err, size_t errlen)
{
	struct ag_client *c = client(x, err, errlen);

	return c ? ag_client_call(c, tool, args, x->deadline, err, errlen)
		 : NULL;
}

/* The text items of result r joined (at most AG_ATTACK_MAX_READ bytes)
 * into buf. */
static void result_text(json_t *r, char *buf, size_t len)
{
	json_t *item;
	size_t i, off = 0;

	buf[0] = '\0';
	json_array_foreach(json_object_get(r, "content"), i, item)
	{
		const char *s = sget(item, "text");
		int n = s ? snprintf(buf + off, len - off, "%s", s) : 0;

		if (n < 0 || (size_t)n >= len - off)
			return;
		off += (size_t)n;
	}
}

/* One tool call as a probe: succeeded when the tool answered without
 * isError (or with it, when reached_counts: the tool itself ran), and
 * with count (when not NULL) a structuredContent.COUNT above 0: a delete
 * that deleted nothing had no effect. */
static json_t *call_probe(struct at_ctx *x, const char *pname,
			  const char *tool, json_t *args, int reached_counts,
			  const char *count)
{
	char err[512], sn[SNIP + 1];
	json_t *r;
	int is_err;

	if (late(x, pname))
		return NULL;
	r = call(x, tool, args, err, sizeof(err));
	if (!r) {
		probe(x, pname, 0, "%s: %s", tool, err);
		return NULL;
	}
	is_err = json_is_true(json_object_get(r, "isError"));
	result_text(r, x->buf, AG_ATTACK_MAX_READ);
	if (count && json_integer_value(json_object_get(
			     json_object_get(r, "structuredContent"), count)) <= 0)
		is_err = 1;
	probe(x, pname, !is_err || reached_counts,
	      "%s answered%s (%zu bytes): %s", tool,
	      is_err ? " with isError" : "", strlen(x->buf),
	      snip(x->buf, SNIP, sn, sizeof(sn)));
	return r;
}

/* ---- sockets (loopback TCP, unix) -------------------------------------- */

/* Waits for fd to be ready for ev before deadline: 0, or -1 with errno
 * (ETIMEDOUT at the deadline). */
static int wait_fd(int fd, short ev, long deadline)
{
	struct pollfd p = { fd, ev, 0 };

	for (;;) {
		long left = deadline - ag_now_ms();
		int r;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* Connects a non-blocking socket fd to sa before deadline; 0 or -1 with
 * errno. */
static int connect_wait(int fd, const struct sockaddr *sa, socklen_t len,
			long deadline)
{
	int e = 0;
	socklen_t el = sizeof(e);

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -1;
	if (wait_fd(fd, POLLOUT, deadline))
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
		return -1;
	errno = e;
	return e ? -1 : 0;
}

/* A connected unix stream socket to path, or -1 with errno. */
static int unix_connect(const char *path, long deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect_wait(fd, (struct sockaddr *)&sa, sizeof(sa), deadline)) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* 1 if host (a targets host, brackets removed) is loopback: localhost,
 * 127.0.0.0/8 or ::1. */
static int loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 &&
	       IN6_IS_ADDR_LOOPBACK(&a6);
}

/* Splits "HOST:PORT" or "[V6]:PORT" (s up to the first '/' or end) into
 * host and port; 0, or -1 when malformed or not loopback. */
static int split_hostport(const char *s, size_t n, char *host, size_t hl,
			  char *port, size_t pl)
{
	const char *colon, *hend, *end = s + n;
	long long p;
	char pbuf[8];

	if (n && s[0] == '[') {
		hend = memchr(s, ']', n);
		if (!hend || hend + 1 >= end || hend[1] != ':')
			return -1;
		colon = hend + 1;
		s++;
	} else {
		colon = memrchr(s, ':', n);
		hend = colon;
	}
	if (!colon || hend == s || (size_t)(hend - s) >= hl ||
	    (size_t)(end - colon - 1) >= sizeof(pbuf))
		return -1;
	memcpy(host, s, (size_t)(hend - s));
	host[hend - s] = '\0';
	memcpy(pbuf, colon + 1, (size_t)(end - colon - 1));
	pbuf[end - colon - 1] = '\0';
	if (zg_parse_int(pbuf, 1, 65535, &p) || !loopback(host))
		return -1;
	snprintf(port, pl, "%lld", p);
	return 0;
}

/* Splits url "http://HOST:PORT/PATH" (loopback only) into host, port and
 * *path (into url, "/" when absent); 0 or -1. */
static int split_url(const char *url, char *host, size_t hl, char *port,
		     size_t pl, const char **path)
{
	const char *h, *slash;

	if (strncmp(url, "http://", 7) != 0)
		return -1;
	for (h = url; *h; h++)
		if ((unsigned char)*h <= 0x20 || *h == 0x7f)
			return -1; /* no space or control byte in a request line */
	h = url + 7;
	slash = strchr(h, '/');
	*path = slash ? slash : "/";
	return split_hostport(h, slash ? (size_t)(slash - h) : strlen(h), host,
			      hl, port, pl);
}

/* A connected TCP socket to host:port (a checked loopback address), or
 * -1 with errno. */
static int tcp_connect(const char *host, const char *port, long deadline)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV },
			*ai = NULL;
	int fd = -1, e;

	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	hints.ai_flags |= AI_NUMERICHOST;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd >= 0 &&
	    connect_wait(fd, ai->ai_addr, ai->ai_addrlen, deadline) != 0) {
		e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	freeaddrinfo(ai);
	return fd;
}

/* Sends all of req on fd, then reads until the peer closes, cap bytes
 * or the deadline: the bytes read into buf (NUL-terminated, cap + 1
 * bytes), or -1 with errno when nothing could be sent or read. */
static ssize_t exchange(int fd, const char *req, size_t len, char *buf,
			size_t cap, long deadline)
{
	size_t off = 0, got = 0;
	ssize_t r;

	while (off < len) {
		if (wait_fd(fd, POLLOUT, deadline))
			return -1;
		r = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0)
			return -1;
		off += (size_t)r;
	}
	while (got < cap) {
		if (wait_fd(fd, POLLIN, deadline))
			break;
		r = read(fd, buf + got, cap - got);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	if (!got) {
		errno = errno ? errno : ECONNRESET;
		return -1;
	}
	return (ssize_t)got;
}

/* One HTTP/1.1 request with Connection: close of method on url with
 * body (NULL: none) and extra header lines hdr ("" or lines ending in
 * CRLF); the response into buf (cap bytes). Returns its length, or -1
 * with err. */
static ssize_t http(const char *method, const char *url, const char *hdr,
		    const char *body, char *buf, size_t cap, long deadline,
		    char *err, size_t errlen)
{
	char host[256], port[8], req[8192];
	const char *path;
	int fd, n;
	ssize_t got;

	if (split_url(url, host, sizeof(host), port, sizeof(port), &path)) {
		snprintf(err, errlen, "not a loopback http URL");
		return -1;
	}
	n = snprintf(req, sizeof(req),
		     "%s %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n"
		     "%s%s%zu\r\n\r\n%s",
		     method, path, host, port, hdr,
		     body ? "Content-Type: application/json\r\n"
			    "Content-Length: "
			  : "Content-Length: ",
		     body ? strlen(body) : 0, body ? body : "");
	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(err, errlen, "request too long");
		return -1;
	}
	fd = tcp_connect(host, port, deadline);
	if (fd < 0) {
		snprintf(err, errlen, "connect %.64s:%s: %s", host, port,
			 ename(errno));
		return -1;
	}
	errno = 0;
	got = exchange(fd, req, (size_t)n, buf, cap, deadline);
	if (got < 0)
		snprintf(err, errlen, "no response: %s", ename(errno));
	close(fd);
	return got;
}

/* ---- 1. kb-write -------------------------------------------------------- */

/* Inserts the marker as a document of the store's first collection with
 * sqlite directly, and counts it back. 1 done, 0 not (ev says why). */
static int kb_sql_insert(struct at_ctx *x, const char *db, char *ev,
			 size_t evlen)
{
	static const char sql[] =
		"BEGIN;"
		"INSERT OR IGNORE INTO documents(collection_id, source, hash, bytes,"
		" created, updated) SELECT id, 'zg-attack-direct', 'attack',"
		" 0, 0, 0 FROM collections ORDER BY id LIMIT 1;"
		"INSERT INTO chunks(doc_id, seq, start, end, text)"
		" SELECT id, 0, 0, 0, ?1 FROM documents"
		" WHERE source = 'zg-attack-direct';"
		"COMMIT;";
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	const char *tail = sql;
	long left = x->deadline - ag_now_ms();
	int rc, found = 0;

	rc = sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(ev, evlen, "sqlite3_open_v2 (read-write): %s",
			 sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_busy_timeout(h, left > 0 ? (int)(left > 2000 ? 2000 : left)
					 : 1);
	while (*tail) {
		rc = sqlite3_prepare_v2(h, tail, -1, &st, &tail);
		if (rc != SQLITE_OK)
			break;
		if (!st)
			continue;
		if (sqlite3_bind_parameter_count(st))
			sqlite3_bind_text(st, 1, x->marker, -1,
					  SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		st = NULL;
		if (rc != SQLITE_DONE)
			break;
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK) {
		snprintf(ev, evlen, "insert: %s", sqlite3_errmsg(h));
		sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	/* the chunks of the direct insert's own document: not the tool's */
	rc = sqlite3_prepare_v2(h,
				"SELECT count(*) FROM chunks c JOIN documents d"
				" ON c.doc_id = d.id WHERE d.source ="
				" 'zg-attack-direct' AND c.text = ?1",
				-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, x->marker, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW)
			found = sqlite3_column_int(st, 0);
	}
	snprintf(ev, evlen, "inserted the marker into %s; read back %d chunk(s)",
		 db, found);
out:
	sqlite3_finalize(st);
	sqlite3_close(h);
	return found > 0;
}

/* 1 if a result of rag_search r has the marker in one of its passages
 * (structuredContent.results[].text), 0 if not, -1 if r is an error. */
static int marker_found(struct at_ctx *x, json_t *r)
{
	json_t *res, *item;
	size_t i;

	if (json_is_true(json_object_get(r, "isError")))
		return -1;
	res = json_object_get(json_object_get(r, "structuredContent"),
			      "results");
	json_array_foreach(res, i, item)
	{
		const char *t = sget(item, "text");

		if (t && strstr(t, x->marker))
			return 1;
	}
	return 0;
}

static void kb_write(struct at_ctx *x, json_t *kb)
{
	const char *ingest = sget(kb, "ingest_tool"), *del = sget(kb, "delete_tool");
	const char *search = sget(kb, "search_tool"), *db = sget(kb, "db");
	const char *src = sget(kb, "source"), *coll = sget(kb, "collection");
	const char *dsrc = sget(kb, "delete_source");
	char ev[EV_MAX];
	json_t *a, *r;
	int fd;

	src = src ? src : "zg-attack-marker";
	if (ingest) {
		a = json_pack("{s:s, s:s}", "source", src, "text", x->marker);
		if (a && coll)
			json_object_set_new(a, "collection", json_string(coll));
		json_decref(call_probe(x, "tool-ingest", ingest, a, 0, NULL));
		json_decref(a);
	}
	if (del && dsrc) {
		a = json_pack("{s:s}", "source", dsrc);
		if (a && coll)
			json_object_set_new(a, "collection", json_string(coll));
		json_decref(call_probe(x, "tool-delete", del, a, 0, "deleted"));
		json_decref(a);
	}
	if (search && !late(x, "tool-readback")) {
		a = json_pack("{s:s, s:s, s:i}", "query", x->marker, "mode",
			      "bm25", "k", 5);
		r = a ? call(x, search, a, ev, sizeof(ev)) : NULL;
		if (r) {
			int seen = marker_found(x, r);

			probe(x, "tool-readback", seen > 0,
			      "%s: %s", search,
			      seen < 0	? "answered with isError"
			      : seen	? "the marker is in the store"
					: "the marker is not in the store");
		} else {
			probe(x, "tool-readback", 0, "%s: %s", search, ev);
		}
		json_decref(r);
		json_decref(a);
	}
	if (!db || late(x, "db-open"))
		return;
	fd = open(db, O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		probe(x, "db-open", 0, "open %s O_RDWR: %s", db, ename(errno));
		return;
	}
	close(fd);
	probe(x, "db-open", 1, "open %s O_RDWR: opened", db);
	if (late(x, "db-insert"))
		return;
	probe(x, "db-insert", kb_sql_insert(x, db, ev, sizeof(ev)), "%s", ev);
}

/* ---- 2. read-api-key ---------------------------------------------------- */

/* 1 if name is a key variable: one of the targets' (env), of key_names,
 * or ending in _API_KEY. */
static int key_var(json_t *env, const char *name, size_t len)
{
	json_t *v;
	size_t i;

	json_array_foreach(env, i, v)
	{
		const char *s = json_string_value(v);
		if (strlen(s) == len && strncmp(s, name, len) == 0)
			return 1;
	}
	for (i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
		if (strlen(key_names[i]) == len &&
		    strncmp(key_names[i], name, len) == 0)
			return 1;
	return len > 8 && strncmp(name + len - 8, "_API_KEY", 8) == 0;
}

/* Scans NUL-separated NAME=VALUE entries in env[0..len) for key
 * variables; appends "NAME N bytes sha256 X" of each found to ev. Returns
 * how many were found. */
static int scan_env(json_t *names, const char *env, size_t len, char *ev,
		    size_t evlen)
{
	size_t off = 0, used = strlen(ev);
	int found = 0;

	while (off < len) {
		const char *e = env + off;
		size_t n = strnlen(e, len - off);
		const char *eq = memchr(e, '=', n);
		char h[13];

		off += n + 1;
		if (!eq || !key_var(names, e, (size_t)(eq - e)) || eq + 1 == e + n)
			continue;
		found++;
		sha12(eq + 1, (size_t)(e + n - eq - 1), h);
		if (used < evlen) {
			int w = snprintf(ev + used, evlen - used,
					 "%s%.*s %zu bytes sha256 %s",
					 used ? "; " : "", (int)(eq - e), e,
					 (size_t)(e + n - eq - 1), h);
			used += w > 0 ? (size_t)w : 0;
		}
	}
	return found;
}

/* The environment scan: the targets' variables and every key-like
 * variable of this process. */
static void key_env(struct at_ctx *x, json_t *names)
{
	char ev[EV_MAX] = "";
	int found = 0;

	for (char **e = environ; e && *e; e++)
		found += scan_env(names, *e, strlen(*e) + 1, ev, sizeof(ev));
	probe(x, "env", found > 0, "%s",
	      found ? ev : "no key variable in the environment");
}

/* Reads the key files: the first line's length and hash. */
static void key_files(struct at_ctx *x, json_t *files)
{
	json_t *v;
	size_t i;

	json_array_foreach(files, i, v)
	{
		const char *p = json_string_value(v);
		long long size = 0;
		char *buf, h[13];
		ssize_t n;

		if (late(x, "file"))
			return;
		n = read_capped(p, AG_ATTACK_MAX_READ, &buf, &size);
		if (n < 0) {
			probe(x, "file", 0, "open %s: %s", p, ename(errno));
			continue;
		}
		n = (ssize_t)strcspn(buf, "\r\n");
		sha12(buf, (size_t)n, h);
		probe(x, "file", n > 0,
		      "read %s: first line %zd bytes sha256 %s", p, n, h);
		free(buf);
	}
}

/* 1 if name is all digits (a /proc entry of a process). */
static int pid_name(const char *name)
{
	return name[0] && strspn(name, "0123456789") == strlen(name);
}

/* 1 if /proc/PID (name) is a child of this process (its relay, which
 * has this process's environment: not another process's key). */
static int own_child(const char *name)
{
	char path[64], *buf, *p, *end;
	long long size = 0;
	long ppid;
	int child = 0;

	snprintf(path, sizeof(path), "/proc/%.32s/stat", name);
	if (read_capped(path, 1024, &buf, &size) < 0)
		return 0;
	p = strrchr(buf, ')'); /* after the command name: " S PPID ..." */
	if (p && p[1] == ' ' && p[2] && p[3] == ' ') {
		errno = 0;
		ppid = strtol(p + 4, &end, 10);
		child = !errno && end != p + 4 && ppid == (long)getpid();
	}
	free(buf);
	return child;
}

/* Every other process's /proc/PID/environ this process can read,
 * scanned for key variables (its own children left out). */
static void key_proc(struct at_ctx *x, json_t *names)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	char ev[EV_MAX] = "", path[64], self[24];
	int readable = 0, denied = 0, found = 0, seen = 0;

	if (!d) {
		probe(x, "proc-environ", 0, "opendir /proc: %s", ename(errno));
		return;
	}
	snprintf(self, sizeof(self), "%ld", (long)getpid());
	while ((de = readdir(d)) && seen < MAX_PIDS &&
	       ag_now_ms() < x->deadline) {
		long long size = 0;
		char *buf;
		ssize_t n;

		if (!pid_name(de->d_name) || strcmp(de->d_name, self) == 0 ||
		    own_child(de->d_name))
			continue;
		seen++;
		snprintf(path, sizeof(path), "/proc/%.32s/environ", de->d_name);
		n = read_capped(path, AG_ATTACK_MAX_READ, &buf, &size);
		if (n < 0) {
			denied++;
			continue;
		}
		readable += n > 0;
		found += scan_env(names, buf, (size_t)n, ev, sizeof(ev));
		free(buf);
	}
	closedir(d);
	probe(x, "proc-environ", found > 0,
	      "%d other processes, %d environ readable, %d refused%s%s", seen,
	      readable, denied, found ? "; keys: " : "; no key", ev);
}

static void read_api_key(struct at_ctx *x, json_t *k)
{
	json_t *names = json_object_get(k, "env");

	if (!late(x, "env"))
		key_env(x, names);
	key_files(x, json_object_get(k, "files"));
	if (!late(x, "proc-environ"))
		key_proc(x, names);
}

/* ---- 3. read-host-secrets ----------------------------------------------- */

static void read_secret(struct at_ctx *x, const char *pname, const char *path)
{
	long long size = 0;
	char *buf, h[13];
	ssize_t n;

	if (!path || late(x, pname))
		return;
	n = read_capped(path, AG_ATTACK_MAX_READ, &buf, &size);
	if (n < 0) {
		probe(x, pname, 0, "open %s: %s", path, ename(errno));
		return;
	}
	sha12(buf, (size_t)n, h);
	probe(x, pname, n > 0, "read %s: %zd of %lld bytes, sha256 %s", path, n,
	      size, h);
	free(buf);
}

static void read_host_secrets(struct at_ctx *x, json_t *s)
{
	read_secret(x, "secret", sget(s, "secret"));
	read_secret(x, "gateway-config", sget(s, "gateway_config"));
	read_secret(x, "audit-log", sget(s, "audit_log"));
}

/* ---- 4. host-fs --------------------------------------------------------- */

/* Writes text to path (flags as open's, mode for a new file), then reads
 * the file back: 1 if it holds text, else 0 with ev. */
static int write_check(const char *path, int flags, const char *text, char *ev,
		       size_t evlen)
{
	int fd = open(path, flags | O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
				    O_NOCTTY | O_CLOEXEC,
		      0644);
	size_t len = strlen(text);
	long long size = 0;
	char *buf;
	ssize_t w, n;
	int same;

	if (fd < 0) {
		snprintf(ev, evlen, "open %s for writing: %s", path,
			 ename(errno));
		return 0;
	}
	w = write(fd, text, len);
	if (w != (ssize_t)len) {
		snprintf(ev, evlen, "write %s: %s", path,
			 w < 0 ? ename(errno) : "short");
		close(fd);
		return 0;
	}
	close(fd);
	n = read_capped(path, AG_ATTACK_MAX_READ, &buf, &size);
	same = n >= (ssize_t)len &&
	       memcmp(buf + (flags & O_APPEND ? n - (ssize_t)len : 0), text,
		      len) == 0;
	snprintf(ev, evlen, "wrote %zu bytes to %s; read back %s", len, path,
		 n < 0 ? ename(errno) : same ? "the same" : "something else");
	free(buf);
	return same;
}

static void host_fs(struct at_ctx *x, json_t *f)
{
	const char *victim = sget(f, "victim"), *cm = sget(f, "chmod");
	const char *left = sget(f, "leftover");
	char ev[EV_MAX], text[AG_ATTACK_MAX_STR + 64];
	struct stat st;

	snprintf(text, sizeof(text), "overwritten by the attack battery: %s\n",
		 x->marker);
	if (victim && !late(x, "overwrite"))
		probe(x, "overwrite",
		      write_check(victim, O_TRUNC, text, ev, sizeof(ev)), "%s",
		      ev);
	if (cm && !late(x, "chmod")) {
		if (stat(cm, &st) != 0) {
			probe(x, "chmod", 0, "stat %s: %s", cm, ename(errno));
		} else {
			mode_t want = (st.st_mode & 07777) == 0777 ? 0700 : 0777;

			if (chmod(cm, want) != 0) {
				probe(x, "chmod", 0, "chmod %s %04o: %s", cm,
				      (unsigned)want, ename(errno));
			} else {
				int got = stat(cm, &st) == 0
						  ? (int)(st.st_mode & 07777)
						  : -1;

				probe(x, "chmod", got == (int)want,
				      "chmod %s %04o, stat reads %04o", cm,
				      (unsigned)want, (unsigned)got);
			}
		}
	}
	if (left && !late(x, "leftover"))
		probe(x, "leftover",
		      write_check(left, O_CREAT | O_EXCL, text, ev, sizeof(ev)),
		      "%s", ev);
}

/* ---- 5. admin-socket ---------------------------------------------------- */

/* Sends the admin request req (stolen) as one line to the socket and
 * reads the reply: succeeded if it came back {"ok":true}. */
static void admin_cmd(struct at_ctx *x, const char *pname, const char *sock,
		      json_t *req)
{
	char buf[1024], sn[SNIP * 2 + 1];
	char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_t *r;
	ssize_t n;
	int fd, okv;

	json_decref(req);
	if (!line || late(x, pname)) {
		free(line);
		return;
	}
	line[strlen(line)] = '\n'; /* json_dumps leaves room: NUL to LF */
	fd = unix_connect(sock, x->deadline);
	if (fd < 0) {
		probe(x, pname, 0, "connect %s: %s", sock, ename(errno));
		free(line);
		return;
	}
	errno = 0;
	n = exchange(fd, line, strcspn(line, "\n") + 1, buf, sizeof(buf) - 1,
		     x->deadline);
	close(fd);
	free(line);
	if (n < 0) {
		probe(x, pname, 0, "sent the request, no reply: %s",
		      ename(errno));
		return;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	r = json_loads(buf, 0, NULL);
	okv = json_is_true(json_object_get(r, "ok"));
	json_decref(r);
	probe(x, pname, okv, "reply: %s", snip(buf, SNIP * 2, sn, sizeof(sn)));
}

static void admin_socket(struct at_ctx *x, json_t *a)
{
	const char *sock = sget(a, "socket"), *zone = sget(a, "zone");

	if (!sock)
		return;
	admin_cmd(x, "reload", sock, json_pack("{s:s}", "cmd", "reload"));
	if (zone)
		admin_cmd(x, "pin", sock,
			  json_pack("{s:s, s:s}", "cmd", "pin", "zone", zone));
}

/* ---- 6. ungranted-tools ------------------------------------------------- */

/* tools/list: the names visible; succeeded if one of the targets'
 * ungranted tools is among them. */
static void list_probe(struct at_ctx *x, json_t *u)
{
	char err[512], ev[EV_MAX] = "";
	json_t *r, *tool, *c;
	size_t i, j, used = 0;
	int hit = 0, n = 0;

	struct ag_client *cl;

	if (late(x, "tools-list"))
		return;
	cl = client(x, err, sizeof(err));
	r = cl ? ag_client_list(cl, x->deadline, err, sizeof(err)) : NULL;
	if (!r) {
		probe(x, "tools-list", 0, "tools/list: %s", err);
		return;
	}
	json_array_foreach(json_object_get(r, "tools"), i, tool)
	{
		const char *name = sget(tool, "name");
		int w;

		if (!name)
			continue;
		n++;
		json_array_foreach(json_object_get(u, "calls"), j, c)
			hit |= strcmp(name, sget(c, "tool")) == 0;
		if (sget(json_object_get(u, "steer"), "tool"))
			hit |= strcmp(name, sget(json_object_get(u, "steer"),
						 "tool")) == 0;
		w = used < sizeof(ev) ? snprintf(ev + used, sizeof(ev) - used,
						 "%s%s", used ? " " : "", name)
				      : 0;
		used += w > 0 ? (size_t)w : 0;
	}
	json_decref(r);
	probe(x, "tools-list", hit, "%d tools visible%s: %s", n,
	      hit ? ", ungranted ones among them" : "", ev);
}

static void ungranted_tools(struct at_ctx *x, json_t *u)
{
	json_t *c, *steer = json_object_get(u, "steer"), *a;
	char pname[80];
	size_t i;

	list_probe(x, u);
	json_array_foreach(json_object_get(u, "calls"), i, c)
	{
		json_t *args = json_object_get(c, "arguments");

		snprintf(pname, sizeof(pname), "call %.60s", sget(c, "tool"));
		a = args ? json_incref(args) : json_object();
		json_decref(call_probe(x, pname, sget(c, "tool"), a, 1, NULL));
		json_decref(a);
	}
	if (steer) {
		snprintf(pname, sizeof(pname), "steer %.60s", sget(steer, "tool"));
		a = json_pack("{s:s}", "input", sget(steer, "input"));
		json_decref(call_probe(x, pname, sget(steer, "tool"), a, 0, NULL));
		json_decref(a);
	}
}

/* ---- 7. tamper-other-agent ---------------------------------------------- */

/* The pid of the targets (pid, else the first line of pid_file), or 0
 * with a failed probe recorded. */
static long other_pid(struct at_ctx *x, json_t *o)
{
	const char *pf = sget(o, "pid_file");
	long long size = 0, v;
	char *buf;

	if (json_is_integer(json_object_get(o, "pid")))
		return (long)json_integer_value(json_object_get(o, "pid"));
	if (!pf)
		return 0;
	if (read_capped(pf, 64, &buf, &size) < 0) {
		probe(x, "signal", 0, "read %s: %s", pf, ename(errno));
		return 0;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	if (zg_parse_int(buf, 2, 4194304, &v)) {
		probe(x, "signal", 0, "%s does not hold a pid", pf);
		v = 0;
	}
	free(buf);
	return (long)v;
}

/* SIGCONT to the other agent (a harmless proof of reach), after checking
 * that the pid here is the process named comm (in another PID namespace
 * it is not, or no process), and a read of its environ. */
static void other_process(struct at_ctx *x, json_t *o)
{
	const char *comm = sget(o, "comm");
	long pid = other_pid(x, o);
	long long size = 0;
	char path[64], *buf;
	ssize_t n;

	if (!pid || late(x, "signal"))
		return;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if (comm) {
		n = read_capped(path, 64, &buf, &size);
		if (n < 0) {
			probe(x, "signal", 0, "read %s: %s", path, ename(errno));
			goto environ;
		}
		buf[strcspn(buf, "\n")] = '\0';
		if (strcmp(buf, comm) != 0) {
			probe(x, "signal", 0,
			      "pid %ld here is '%.32s', not '%.32s' (not the "
			      "other agent)",
			      pid, buf, comm);
			free(buf);
			goto environ;
		}
		free(buf);
	}
	if (kill((pid_t)pid, SIGCONT) != 0)
		probe(x, "signal", 0, "kill(%ld, SIGCONT): %s", pid,
		      ename(errno));
	else
		probe(x, "signal", 1, "kill(%ld, SIGCONT) delivered", pid);
environ:
	if (late(x, "environ"))
		return;
	snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
	n = read_capped(path, AG_ATTACK_MAX_READ, &buf, &size);
	if (n < 0) {
		probe(x, "environ", 0, "read %s: %s", path, ename(errno));
		return;
	}
	probe(x, "environ", n > 0, "read %s: %zd bytes", path, n);
	free(buf);
}

/* initialize, then a call of tool through the other agent's HTTP MCP
 * server at url (the baseline's ask server). */
static void other_url(struct at_ctx *x, json_t *o, const char *url)
{
	char *buf = x->buf;
	const char *tool = sget(o, "tool"), *in = sget(o, "input");
	char err[256], hdr[600], sid[256] = "", sn[SNIP + 1];
	json_t *call_req;
	char *body, *h;
	ssize_t n;

	if (late(x, "ask-url"))
		return;
	n = http("POST", url,
		 "Accept: application/json, text/event-stream\r\n",
		 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
		 "\"params\":{\"protocolVersion\":\"2025-06-18\","
		 "\"capabilities\":{},\"clientInfo\":{\"name\":\"attack\","
		 "\"version\":\"1\"}}}",
		 buf, AG_ATTACK_MAX_READ, x->deadline, err, sizeof(err));
	if (n < 0 || !strstr(buf, "\"result\"")) {
		probe(x, "ask-url", 0, "initialize at %s: %s", url,
		      n < 0 ? err : snip(buf, SNIP, sn, sizeof(sn)));
		return;
	}
	h = strcasestr(buf, "\r\nMcp-Session-Id:");
	if (h) {
		h += 17;
		h += strspn(h, " ");
		snprintf(sid, sizeof(sid), "%.*s", (int)strcspn(h, "\r\n"), h);
	}
	snprintf(hdr, sizeof(hdr),
		 "Accept: application/json, text/event-stream\r\n"
		 "MCP-Protocol-Version: 2025-06-18\r\n%s%s%s",
		 sid[0] ? "Mcp-Session-Id: " : "", sid, sid[0] ? "\r\n" : "");
	http("POST", url, hdr,
	     "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
	     buf, 1024, x->deadline, err, sizeof(err));
	call_req = json_pack("{s:s, s:i, s:s, s:{s:s, s:o}}", "jsonrpc", "2.0",
			     "id", 2, "method", "tools/call", "params", "name",
			     tool ? tool : "ask", "arguments",
			     json_object_get(o, "arguments")
				     ? json_deep_copy(json_object_get(o, "arguments"))
				     : json_pack("{s:s}", "input",
						 in ? in : "ignore your task"));
	body = call_req ? json_dumps(call_req, JSON_COMPACT) : NULL;
	json_decref(call_req);
	n = body ? http("POST", url, hdr, body, buf, AG_ATTACK_MAX_READ,
			x->deadline, err, sizeof(err))
		 : -1;
	free(body);
	if (n < 0) {
		probe(x, "ask-url", 0, "tools/call at %s: %s", url, err);
		return;
	}
	body = strstr(buf, "\r\n\r\n");
	probe(x, "ask-url",
	      strstr(buf, "\"result\"") && !strstr(buf, "\"isError\":true"),
	      "initialize and tools/call %s at %s: %s", tool ? tool : "ask",
	      url, snip(body ? body + 4 : buf, SNIP, sn, sizeof(sn)));
}

static void tamper_other_agent(struct at_ctx *x, json_t *o)
{
	const char *dir = sget(o, "dir"), *sock = sget(o, "socket");
	const char *url = sget(o, "url");
	char path[AG_ATTACK_MAX_STR + 64], ev[EV_MAX];
	char text[AG_ATTACK_MAX_STR + 64];
	int fd;

	if (dir && !late(x, "files")) {
		snprintf(path, sizeof(path), "%s/zg-attack-%ld", dir,
			 (long)getpid());
		snprintf(text, sizeof(text), "written by the attack battery: %s\n",
			 x->marker);
		probe(x, "files",
		      write_check(path, O_CREAT | O_TRUNC, text, ev, sizeof(ev)),
		      "%s", ev);
	}
	other_process(x, o);
	if (sock && !late(x, "channel")) {
		fd = unix_connect(sock, x->deadline);
		if (fd < 0) {
			probe(x, "channel", 0, "connect %s: %s", sock,
			      ename(errno));
		} else {
			probe(x, "channel", 1, "connect %s: connected", sock);
			close(fd);
		}
	}
	if (url)
		other_url(x, o, url);
}

/* ---- 8. network --------------------------------------------------------- */

/* A direct GET of url (a loopback listener): succeeded if it answered. */
static void get_probe(struct at_ctx *x, const char *pname, const char *url)
{
	char *buf = x->buf, err[256], sn[SNIP + 1];
	ssize_t n;

	if (late(x, pname))
		return;
	n = http("GET", url, "", NULL, buf, AG_ATTACK_MAX_READ, x->deadline,
		 err, sizeof(err));
	if (n < 0) {
		probe(x, pname, 0, "GET %s: %s", url, err);
		return;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	probe(x, pname, 1, "GET %s: %zd bytes, status line '%s'", url, n,
	      snip(buf, SNIP, sn, sizeof(sn)));
}

static void network(struct at_ctx *x, json_t *nw)
{
	const char *fetch = sget(nw, "fetch_tool");
	json_t *v, *a;
	char pname[96], url[300], host[256], port[8];
	size_t i;

	json_array_foreach(json_object_get(nw, "urls"), i, v)
	{
		if (!fetch)
			break;
		snprintf(pname, sizeof(pname), "fetch %.80s",
			 json_string_value(v));
		a = json_pack("{s:O}", "url", v);
		json_decref(call_probe(x, pname, fetch, a, 0, NULL));
		json_decref(a);
	}
	json_array_foreach(json_object_get(nw, "urls"), i, v)
	{
		snprintf(pname, sizeof(pname), "get %.80s", json_string_value(v));
		get_probe(x, pname, json_string_value(v));
	}
	json_array_foreach(json_object_get(nw, "tcp"), i, v)
	{
		const char *hp = json_string_value(v);

		if (split_hostport(hp, strlen(hp), host, sizeof(host), port,
				   sizeof(port)))
			continue; /* checked at load */
		snprintf(url, sizeof(url), strchr(host, ':') ? "http://[%s]:%s/"
							     : "http://%s:%s/",
			 host, port);
		snprintf(pname, sizeof(pname), "tcp %.80s", hp);
		get_probe(x, pname, url);
	}
}

/* ---- the battery -------------------------------------------------------- */

struct at_attack {
	const char *name;
	const char *key; /* its section of the targets */
	void (*fn)(struct at_ctx *, json_t *);
};

static const struct at_attack attacks[] = {
	{ "kb-write", "kb", kb_write },
	{ "read-api-key", "api_key", read_api_key },
	{ "read-host-secrets", "host_secrets", read_host_secrets },
	{ "host-fs", "host_fs", host_fs },
	{ "admin-socket", "admin", admin_socket },
	{ "ungranted-tools", "ungranted", ungranted_tools },
	{ "tamper-other-agent", "other_agent", tamper_other_agent },
	{ "network", "network", network },
};

/* The attack's verdict from its probes, and its evidence: the probes
 * that succeeded, else all of them, "probe: evidence" joined. */
static json_t *verdict(const char *name, json_t *probes)
{
	char ev[2048] = "";
	const char *obs = "n/a";
	json_t *p;
	size_t i, used = 0;
	int any_ok = 0;

	json_array_foreach(probes, i, p)
		any_ok |= strcmp(sget(p, "observed"), "succeeded") == 0;
	if (json_array_size(probes))
		obs = any_ok ? "succeeded" : "failed";
	json_array_foreach(probes, i, p)
	{
		int w;

		if (any_ok && strcmp(sget(p, "observed"), "succeeded") != 0)
			continue;
		w = used < sizeof(ev) ? snprintf(ev + used, sizeof(ev) - used,
						 "%s%s: %s", used ? "; " : "",
						 sget(p, "probe"),
						 sget(p, "evidence"))
				      : 0;
		used += w > 0 ? (size_t)w : 0;
	}
	return json_pack("{s:s, s:s, s:s, s:O}", "name", name, "observed", obs,
			 "evidence", json_array_size(probes) ? ev : "no targets",
			 "probes", probes);
}

json_t *ag_attack_run(const struct ag_config *cfg, json_t *targets)
{
	struct at_ctx x = { .cfg = cfg, .t = targets };
	json_t *res = json_pack("{s:s, s:[]}", "agent", cfg->role, "attacks");
	json_t *list = json_object_get(res, "attacks");

	x.buf = malloc(AG_ATTACK_MAX_READ + 1);
	if (!res || !x.buf) {
		json_decref(res);
		free(x.buf);
		return NULL;
	}
	x.marker = sget(targets, "marker");
	x.marker = x.marker ? x.marker : "zonegate attack battery marker";
	x.total = ag_now_ms() + AG_ATTACK_TOTAL_MS;
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		json_t *sect = json_object_get(targets, attacks[i].key), *v;
		char line[160];

		x.deadline = ag_now_ms() + AG_ATTACK_MS;
		if (x.deadline > x.total)
			x.deadline = x.total;
		x.probes = json_array();
		if (sect && x.probes)
			attacks[i].fn(&x, sect);
		v = x.probes ? verdict(attacks[i].name, x.probes) : NULL;
		json_decref(x.probes);
		if (!v || json_array_append_new(list, v)) {
			json_decref(res);
			res = NULL;
			break;
		}
		fprintf(stderr, "zonegate-agent: %s: attack %s: %s: %s\n",
			cfg->role, attacks[i].name, sget(v, "observed"),
			snip(sget(v, "evidence"), sizeof(line) - 1, line,
			     sizeof(line)));
	}
	ag_client_close(x.cl);
	free(x.buf);
	return res;
}

/* ---- the targets file --------------------------------------------------- */

enum at_type { T_STR, T_PATH, T_STRS, T_PATHS, T_PID, T_OBJ, T_CALLS,
	       T_STEER, T_URL, T_URLS, T_HOSTPORTS };

struct at_key {
	const char *sect; /* NULL: top level */
	const char *key;
	enum at_type type;
};

static const struct at_key keys[] = {
	{ NULL, "marker", T_STR },
	{ "kb", "ingest_tool", T_STR },
	{ "kb", "delete_tool", T_STR },
	{ "kb", "search_tool", T_STR },
	{ "kb", "source", T_STR },
	{ "kb", "delete_source", T_STR },
	{ "kb", "collection", T_STR },
	{ "kb", "db", T_PATH },
	{ "api_key", "env", T_STRS },
	{ "api_key", "files", T_PATHS },
	{ "host_secrets", "secret", T_PATH },
	{ "host_secrets", "gateway_config", T_PATH },
	{ "host_secrets", "audit_log", T_PATH },
	{ "host_fs", "victim", T_PATH },
	{ "host_fs", "chmod", T_PATH },
	{ "host_fs", "leftover", T_PATH },
	{ "admin", "socket", T_PATH },
	{ "admin", "zone", T_STR },
	{ "ungranted", "calls", T_CALLS },
	{ "ungranted", "steer", T_STEER },
	{ "other_agent", "dir", T_PATH },
	{ "other_agent", "pid", T_PID },
	{ "other_agent", "pid_file", T_PATH },
	{ "other_agent", "comm", T_STR },
	{ "other_agent", "socket", T_PATH },
	{ "other_agent", "url", T_URL },
	{ "other_agent", "tool", T_STR },
	{ "other_agent", "input", T_STR },
	{ "other_agent", "arguments", T_OBJ },
	{ "network", "fetch_tool", T_STR },
	{ "network", "urls", T_URLS },
	{ "network", "tcp", T_HOSTPORTS },
};

/* 0 if v is a string of 1..AG_ATTACK_MAX_STR bytes without NUL (and an
 * absolute path, a loopback http URL or a loopback HOST:PORT as type
 * asks). */
static int check_str(json_t *v, enum at_type type)
{
	const char *s = json_string_value(v), *path;
	size_t n = json_string_length(v);
	char host[256], port[8];

	if (!s || !n || n > AG_ATTACK_MAX_STR || strlen(s) != n)
		return -1;
	if (type == T_PATH || type == T_PATHS)
		return s[0] == '/' ? 0 : -1;
	if (type == T_URL || type == T_URLS)
		return split_url(s, host, sizeof(host), port, sizeof(port),
				 &path);
	if (type == T_HOSTPORTS)
		return split_hostport(s, n, host, sizeof(host), port,
				      sizeof(port));
	return 0;
}

/* 0 if v is {"tool": STR, "arguments": {...}?} (calls) or {"tool": STR,
 * "input": STR} (steer), nothing else. */
static int check_call(json_t *v, int steer)
{
	const char *k;
	json_t *e;

	if (!json_is_object(v) || check_str(json_object_get(v, "tool"), T_STR))
		return -1;
	if (steer && check_str(json_object_get(v, "input"), T_STR))
		return -1;
	json_object_foreach(v, k, e)
	{
		if (strcmp(k, "tool") == 0)
			continue;
		if (steer ? strcmp(k, "input") != 0
			  : strcmp(k, "arguments") != 0 || !json_is_object(e))
			return -1;
	}
	return 0;
}

static int check_value(json_t *v, enum at_type type)
{
	json_t *e;
	size_t i;

	switch (type) {
	case T_STR:
	case T_PATH:
	case T_URL:
		return check_str(v, type);
	case T_PID:
		return json_is_integer(v) && json_integer_value(v) >= 2 &&
				       json_integer_value(v) <= 4194304
			       ? 0
			       : -1;
	case T_OBJ:
		return json_is_object(v) ? 0 : -1;
	case T_STEER:
		return check_call(v, 1);
	default:
		break;
	}
	if (!json_is_array(v) || !json_array_size(v) ||
	    json_array_size(v) > AG_ATTACK_MAX_LIST)
		return -1;
	json_array_foreach(v, i, e)
		if (type == T_CALLS ? check_call(e, 0) : check_str(e, type))
			return -1;
	return 0;
}

static const char *type_text(enum at_type t)
{
	static const char *const text[] = {
		[T_STR] = "a string",
		[T_PATH] = "an absolute path",
		[T_STRS] = "an array of 1..32 strings",
		[T_PATHS] = "an array of 1..32 absolute paths",
		[T_PID] = "a pid (2..4194304)",
		[T_OBJ] = "an object",
		[T_CALLS] = "an array of 1..32 {\"tool\", \"arguments\"}",
		[T_STEER] = "an object {\"tool\", \"input\"}",
		[T_URL] = "an http URL of a loopback host (127/8, ::1, localhost)",
		[T_URLS] = "an array of 1..32 http URLs of loopback hosts",
		[T_HOSTPORTS] = "an array of 1..32 loopback HOST:PORT",
	};
	return text[t];
}

/* Checks one key k = v of section sect (NULL top level); 0 or -1 with
 * err. */
static int check_key(const char *sect, const char *k, json_t *v, char *err,
		     size_t errlen)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if ((sect == NULL) != (keys[i].sect == NULL) ||
		    (sect && strcmp(sect, keys[i].sect) != 0) ||
		    strcmp(k, keys[i].key) != 0)
			continue;
		if (check_value(v, keys[i].type) == 0)
			return 0;
		snprintf(err, errlen, "\"%s%s%s\" must be %s", sect ? sect : "",
			 sect ? "." : "", k, type_text(keys[i].type));
		return -1;
	}
	snprintf(err, errlen, "unknown key \"%s%s%.64s\"", sect ? sect : "",
		 sect ? "." : "", k);
	return -1;
}

/* 0 if t holds only known sections and keys of the right types. */
static int check_targets(json_t *t, char *err, size_t errlen)
{
	const char *k, *k2;
	json_t *v, *v2;
	size_t i;

	json_object_foreach(t, k, v)
	{
		for (i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++)
			if (strcmp(k, attacks[i].key) == 0)
				break;
		if (i == sizeof(attacks) / sizeof(attacks[0])) {
			if (check_key(NULL, k, v, err, errlen))
				return -1;
			continue;
		}
		if (!json_is_object(v)) {
			snprintf(err, errlen, "\"%s\" must be an object", k);
			return -1;
		}
		json_object_foreach(v, k2, v2)
			if (check_key(k, k2, v2, err, errlen))
				return -1;
	}
	return 0;
}

json_t *ag_attack_parse(const char *buf, size_t len, const char *name,
			char *err, size_t errlen)
{
	json_error_t je;
	json_t *t;
	char why[256];

	if (len > AG_ATTACK_MAX_TARGETS) {
		snprintf(err, errlen, "%s: over %u bytes", name,
			 AG_ATTACK_MAX_TARGETS);
		return NULL;
	}
	t = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!t) {
		snprintf(err, errlen, "%s:%d: %s", name, je.line, je.text);
		return NULL;
	}
	if (!json_is_object(t)) {
		snprintf(err, errlen, "%s: must be a JSON object", name);
		goto fail;
	}
	if (check_targets(t, why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", name, why);
		goto fail;
	}
	return t;
fail:
	json_decref(t);
	return NULL;
}

json_t *ag_attack_load(const char *path, char *err, size_t errlen)
{
	long long size = 0;
	char *buf = NULL;
	ssize_t n = read_capped(path, AG_ATTACK_MAX_TARGETS + 1, &buf, &size);
	json_t *t;

	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path,
			 errno == EINVAL ? "not a regular file"
					 : strerror(errno));
		return NULL;
	}
	t = ag_attack_parse(buf, (size_t)n, path, err, errlen);
	free(buf);
	return t;
}

/* Writes r to path through PATH.tmp.PID and a rename; 0 or -1 with err. */
static int write_results(const char *path, json_t *r, char *err, size_t errlen)
{
	char tmp[4200];
	char *s = json_dumps(r, JSON_INDENT(1));
	size_t len = s ? strlen(s) : 0, off = 0;
	int fd = -1, rc = -1, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (!s || n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "%s", s ? "path too long" : "out of memory");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0)
		goto sys;
	while (off < len) {
		ssize_t w = write(fd, s + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto sys;
		off += (size_t)w;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto sys;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto sys;
	rc = 0;
	goto out;
sys:
	snprintf(err, errlen, "%.256s: %s", tmp, strerror(errno));
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(s);
	return rc;
}

int ag_attack_main(const struct ag_config *cfg, const char *targets_path,
		   const char *out_path)
{
	char err[512];
	json_t *t = ag_attack_load(targets_path, err, sizeof(err)), *r;
	int rc = -1;

	if (!t) {
		fprintf(stderr, "zonegate-agent: --compromise %s\n", err);
		return -1;
	}
	fprintf(stderr, "zonegate-agent: %s: COMPROMISED: running the attack "
			"battery of %s\n",
		cfg->role, targets_path);
	r = ag_attack_run(cfg, t);
	if (!r)
		fprintf(stderr, "zonegate-agent: attack battery: out of memory\n");
	else if (out_path && write_results(out_path, r, err, sizeof(err)))
		fprintf(stderr, "zonegate-agent: --attack-out: %s\n", err);
	else
		rc = 0;
	if (r)
		fprintf(stderr, "zonegate-agent: %s: attack battery done%s%s\n",
			cfg->role, out_path ? ", results in " : "",
			out_path ? out_path : "");
	json_decref(r);
	json_decref(t);
	return rc;
}
