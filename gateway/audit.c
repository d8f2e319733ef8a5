/* The audit log: one JSON line per decision and call, hash-chained. Each
 * line is PREFIX,"hash":"H"} where PREFIX is the record serialised with a
 * "prev" field (the previous line's hash, 64 zeros for the first) and
 * H = SHA-256(PREFIX): editing, inserting or removing a line breaks the
 * chain from there on. Records are buffered per poll iteration and
 * written with one append. A zone's denials beyond a rate are counted
 * into an aggregate record instead of one record each. Rotation renames
 * the file to PATH.TIMESTAMP and starts PATH with a record whose prev is
 * the last hash of the old file, so the chain runs on across files.
 * A chain is named after the replica that started it: its first record
 * and every rotation record carry "replica", so the files of several
 * gatewayds can be told apart and sorted into chains (verify below). */
#include "gw.h"
#include "gw_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_TAIL_MAX (1u << 20) /* longest line we continue from */
#define AUDIT_BUF_MAX (8u << 20)  /* buffered before a forced flush */
#define AUDIT_BATCH (64u << 10)	  /* written at once when this much waits */
#define AUDIT_LINE_MAX 8192	  /* bytes of one record built by hand */
#define AUDIT_FIELD_MAX 1024	  /* bytes of one text field's JSON */
#define HASH_KEY ",\"hash\":\""
#define AGG_WINDOW_MS 1000 /* an aggregate counts this long, then closes */
#define AGG_REASONS 32	   /* distinct (method, target, reason) kept */

/* One distinct kind of denial counted in an aggregate. */
struct agg_reason {
	char method[40], target[200], reason[64];
	uint64_t n;
};

/* A zone's denial rate and its open aggregate (id "" when none). */
struct dzone {
	struct gw_bucket b;
	char zone[GW_ZONE_NAME_MAX + 1];
	char id[40];
	uint64_t n, other;
	int64_t opened_ms;
	struct agg_reason r[AGG_REASONS];
	size_t nr;
};

struct gw_audit {
	int fd;
	char prev[65];
	char boot[17];
	uint64_t seq;
	char *buf;
	size_t len, cap;
	int64_t last_flush;
	time_t tsec;
	char tbuf[32];
	char *path;	    /* NULL: records are not written */
	uint64_t size;	    /* bytes in the current file */
	uint64_t rotate_at; /* rotate when size reaches it; 0 never */
	int rotating;
	char replica[GW_REPLICA_MAX + 1]; /* the chain's name; "" none */
	int fresh;     /* no record yet: the next one starts the chain */
	int deny_rate; /* per zone per second; 0 no limit */
	struct dzone *dz[GW_MAX_ZONES]; /* by zone index, made on first use */
	size_t nopen;			/* aggregates open */
};

static const char zeros[65] =
	"0000000000000000000000000000000000000000000000000000000000000000";

/* Splits a line into prefix length and hash; returns 0 if well formed. */
static int split_line(const char *line, size_t len, size_t *plen, char hash[65])
{
	const char *k;
	size_t kl = strlen(HASH_KEY);

	if (len < kl + 66 + 2)
		return -1;
	k = line + len - (kl + 64 + 2);
	if (memcmp(k, HASH_KEY, kl) != 0 || memcmp(line + len - 2, "\"}", 2))
		return -1;
	memcpy(hash, k + kl, 64);
	hash[64] = '\0';
	*plen = (size_t)(k - line);
	return 0;
}

/* Sets a->prev from the last line of the file, if any. */
static int read_tail(struct gw_audit *a, char *err, size_t errlen)
{
	struct stat st;
	off_t off;
	char *b;
	ssize_t n;
	size_t len, plen, end;
	char *start;

	if (fstat(a->fd, &st) != 0 || st.st_size == 0)
		return 0;
	off = st.st_size > (off_t)AUDIT_TAIL_MAX ? st.st_size - AUDIT_TAIL_MAX
						 : 0;
	b = malloc(AUDIT_TAIL_MAX + 1);
	if (!b)
		return -1;
	n = pread(a->fd, b, (size_t)(st.st_size - off), off);
	if (n <= 0) {
		free(b);
		snprintf(err, errlen, "audit log: cannot read its tail");
		return -1;
	}
	end = (size_t)n;
	while (end && b[end - 1] == '\n')
		end--;
	b[end] = '\0';
	start = b + end;
	while (start > b && start[-1] != '\n')
		start--;
	len = end - (size_t)(start - b);
	if (split_line(start, len, &plen, a->prev)) {
		free(b);
		snprintf(err, errlen,
			 "audit log: last line is not a chained "
			 "record (run gatewayctl audit verify)");
		return -1;
	}
	free(b);
	return 0;
}

/* Sets a->replica from the file's first record (the chain's start or
 * the rotation record continuing it); a log written before replicas
 * were named keeps "". */
static void read_head(struct gw_audit *a)
{
	char *b = malloc(AUDIT_TAIL_MAX);
	ssize_t n = b ? pread(a->fd, b, AUDIT_TAIL_MAX, 0) : -1;
	char *nl = n > 0 ? memchr(b, '\n', (size_t)n) : NULL;
	json_t *j = nl ? json_loadb(b, (size_t)(nl - b), 0, NULL) : NULL;
	const char *r = json_string_value(json_object_get(j, "replica"));

	if (r && gw_replica_ok(r))
		snprintf(a->replica, sizeof(a->replica), "%s", r);
	json_decref(j);
	free(b);
}

struct gw_audit *gw_audit_open(const char *path, char *err, size_t errlen)
{
	struct gw_audit *a = calloc(1, sizeof(*a));
	uint8_t r[8];
	char e[512];

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->fd = -1;
	a->fresh = 1;
	memcpy(a->prev, zeros, 65);
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, 0x5a, sizeof(r)); /* ids stay unique per process */
	for (int i = 0; i < 8; i++)
		snprintf(a->boot + 2 * i, 3, "%02x", r[i]);
	if (!path)
		return a;
	a->path = strdup(path);
	if (!a->path) {
		snprintf(err, errlen, "audit log %s: out of memory", path);
		goto fail;
	}
	/* a FIFO or a device as audit_log would block the open or every
	 * write: refused, like every config input */
	a->fd = gw_open_regular(path, O_RDWR | O_APPEND | O_CREAT, 0640, e,
				sizeof(e));
	if (a->fd < 0) {
		snprintf(err, errlen, "audit log %s", e);
		goto fail;
	}
	if (read_tail(a, err, errlen))
		goto fail;
	{
		struct stat st;
		if (fstat(a->fd, &st) == 0)
			a->size = (uint64_t)st.st_size;
	}
	if (a->size) {
		a->fresh = 0; /* the chain goes on under its own name */
		read_head(a);
	}
	return a;
fail:
	gw_audit_close(a);
	return NULL;
}

static void agg_close(struct gw_audit *a, struct dzone *d);

void gw_audit_close(struct gw_audit *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < GW_MAX_ZONES; i++) {
		if (a->dz[i] && a->dz[i]->id[0])
			agg_close(a, a->dz[i]);
		free(a->dz[i]);
	}
	gw_audit_flush(a);
	if (a->fd >= 0)
		close(a->fd);
	free(a->buf);
	free(a->path);
	free(a);
}

void gw_audit_set_replica(struct gw_audit *a, const char *name)
{
	if (a->fresh && name && gw_replica_ok(name))
		snprintf(a->replica, sizeof(a->replica), "%s", name);
}

const char *gw_audit_replica(const struct gw_audit *a)
{
	return a->replica;
}

const char *gw_audit_head(const struct gw_audit *a)
{
	return a->prev;
}

void gw_audit_new_id(struct gw_audit *a, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s-%llx", a->boot, (unsigned long long)++a->seq);
}

static int buf_add(struct gw_audit *a, const char *p, size_t n)
{
	if (a->len + n > a->cap) {
		size_t nc = a->cap ? a->cap : 4096;
		char *nb;
		while (nc < a->len + n)
			nc *= 2;
		nb = realloc(a->buf, nc);
		if (!nb)
			return -1;
		a->buf = nb;
		a->cap = nc;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
	return 0;
}

int gw_audit_append(struct gw_audit *a, json_t *rec)
{
	json_t *o = json_object();
	struct timespec ts;
	struct tm tm;
	char t[64], hash[65];
	char *s = NULL;
	size_t n;
	int rc = -1;

	if (!o)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(t + n, sizeof(t) - n, ".%06ldZ", ts.tv_nsec / 1000);
	json_object_set_new(o, "time", json_string(t));
	json_object_update(o, rec);
	if (a->fresh && a->replica[0])
		json_object_set_new(o, "replica", json_string(a->replica));
	json_object_set_new(o, "prev", json_string(a->prev));
	s = json_dumps(o, JSON_COMPACT);
	if (!s)
		goto out;
	n = strlen(s);
	if (n < 2 || s[n - 1] != '}')
		goto out;
	s[--n] = '\0'; /* the prefix: everything before the closing brace */
	sha256_hex(s, n, hash);
	if (buf_add(a, s, n) || buf_add(a, HASH_KEY, strlen(HASH_KEY)) ||
	    buf_add(a, hash, 64) || buf_add(a, "\"}\n", 3))
		goto out;
	memcpy(a->prev, hash, 65);
	a->fresh = 0;
	rc = 0;
	if (a->len > AUDIT_BUF_MAX)
		gw_audit_flush(a);
out:
	free(s);
	json_decref(o);
	return rc;
}

int gw_audit_maybe_flush(struct gw_audit *a, int interval_ms)
{
	int64_t now;

	if (!a->len)
		return 0;
	now = gw_now_ms();
	if (interval_ms > 0 && a->len < AUDIT_BATCH &&
	    now - a->last_flush < interval_ms)
		return 0;
	return gw_audit_flush(a);
}

int gw_audit_pending(const struct gw_audit *a)
{
	return a->len > 0;
}

/* Appends s JSON-escaped and quoted at *k (NULL is null). The text may
 * be a zone's: bytes that are not well-formed UTF-8 become U+FFFD, and a
 * value over AUDIT_FIELD_MAX bytes is cut at a character boundary and
 * ends with "[+N bytes]" (N bytes of s left out), so a record stays valid
 * JSON whatever was sent. Returns -1 when the line is out of room. */
static int esc(char *out, size_t cap, size_t *k, const char *s)
{
	static const char hx[] = "0123456789abcdef";
	size_t start = *k, n, i = 0, c, tl;
	char t[8];

	if (!s) {
		if (*k + 4 >= cap)
			return -1;
		memcpy(out + *k, "null", 4);
		*k += 4;
		return 0;
	}
	n = strlen(s);
	if (*k + 1 >= cap)
		return -1;
	out[(*k)++] = '"';
	while (i < n) {
		unsigned char b = (unsigned char)s[i];
		c = gw_utf8_char(s + i, n - i);
		if (!c) {
			memcpy(t, "\\ufffd", 6);
			tl = 6;
			c = 1;
		} else if (c == 1 && (b == '"' || b == '\\')) {
			t[0] = '\\';
			t[1] = (char)b;
			tl = 2;
		} else if (c == 1 && (b < 0x20 || b == 0x7f)) {
			memcpy(t, "\\u00", 4);
			t[4] = hx[b >> 4];
			t[5] = hx[b & 15];
			tl = 6;
		} else {
			memcpy(t, s + i, c);
			tl = c;
		}
		if (*k - start + tl > AUDIT_FIELD_MAX)
			break;
		if (*k + tl + 1 >= cap)
			return -1;
		memcpy(out + *k, t, tl);
		*k += tl;
		i += c;
	}
	if (i < n) {
		char note[32];
		int m = snprintf(note, sizeof(note), "[+%zu bytes]", n - i);
		if (m < 0 || *k + (size_t)m + 1 >= cap)
			return -1;
		memcpy(out + *k, note, (size_t)m);
		*k += (size_t)m;
	}
	if (*k + 1 >= cap)
		return -1;
	out[(*k)++] = '"';
	return 0;
}

/* Appends n bytes of p at *k; -1 when out of room. */
static int put(char *out, size_t cap, size_t *k, const char *p, size_t n)
{
	if (*k + n >= cap)
		return -1;
	memcpy(out + *k, p, n);
	*k += n;
	return 0;
}

#define PUT_LIT(out, cap, k, lit) put(out, cap, k, lit, sizeof(lit) - 1)

/* Appends v in decimal, with a minus sign when neg. */
static int put_num(char *out, size_t cap, size_t *k, uint64_t v, int neg)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (neg)
		d[--i] = '-';
	return put(out, cap, k, d + i, sizeof(d) - i);
}

static int put_i64(char *out, size_t cap, size_t *k, int64_t v)
{
	return put_num(out, cap, k, v < 0 ? 0 - (uint64_t)v : (uint64_t)v,
		       v < 0);
}

/* One record, built by hand: this runs for every call on the gateway's
 * hot path, where printf-style formatting cost more than the hashing. */
int gw_audit_record(struct gw_audit *a, const struct gw_audit_rec *r)
{
	static const char *const keys[] = { ",\"zone\":",     ",\"session\":",
					    ",\"method\":",   ",\"target\":",
					    ",\"decision\":", ",\"rule\":",
					    ",\"reason\":" };
	const char *const vals[] = { r->zone,	r->session,  r->method,
				     r->target, r->decision, r->rule,
				     r->reason };
	char line[AUDIT_LINE_MAX], hash[65], us[7];
	const size_t cap = sizeof(line);
	size_t k = 0;
	struct timespec ts;
	long frac;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != a->tsec) {
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		strftime(a->tbuf, sizeof(a->tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
		a->tsec = ts.tv_sec;
	}
	frac = ts.tv_nsec / 1000;
	for (int i = 5; i >= 0; i--, frac /= 10)
		us[i] = (char)('0' + frac % 10);
	us[6] = '\0';
	if (PUT_LIT(line, cap, &k, "{\"time\":\"") ||
	    put(line, cap, &k, a->tbuf, strlen(a->tbuf)) ||
	    PUT_LIT(line, cap, &k, ".") || put(line, cap, &k, us, 6) ||
	    PUT_LIT(line, cap, &k, "Z\",\"id\":") || esc(line, cap, &k, r->id))
		return -1;
	if (a->fresh && a->replica[0] &&
	    (PUT_LIT(line, cap, &k, ",\"replica\":") ||
	     esc(line, cap, &k, a->replica)))
		return -1;
	for (int i = 0; i < 7; i++) {
		if (i == 6 && !vals[i])
			break; /* no reason: left out */
		if (put(line, cap, &k, keys[i], strlen(keys[i])) ||
		    esc(line, cap, &k, vals[i]))
			return -1;
	}
	if (PUT_LIT(line, cap, &k, ",\"bytes_in\":") ||
	    put_num(line, cap, &k, r->bytes_in, 0) ||
	    PUT_LIT(line, cap, &k, ",\"bytes_out\":") ||
	    put_num(line, cap, &k, r->bytes_out, 0) ||
	    PUT_LIT(line, cap, &k, ",\"t_policy_us\":") ||
	    put_i64(line, cap, &k, r->t_policy_us) ||
	    PUT_LIT(line, cap, &k, ",\"t_upstream_us\":") ||
	    put_i64(line, cap, &k, r->t_upstream_us) ||
	    PUT_LIT(line, cap, &k, ",\"t_total_us\":") ||
	    put_i64(line, cap, &k, r->t_total_us))
		return -1;
	if (r->tokens_state < 0 &&
	    PUT_LIT(line, cap, &k, ",\"tokens\":\"invalid\""))
		return -1;
	if (r->tokens_state > 0 &&
	    (PUT_LIT(line, cap, &k, ",\"tokens\":{\"prompt\":") ||
	     put_num(line, cap, &k, r->tokens.prompt, 0) ||
	     PUT_LIT(line, cap, &k, ",\"completion\":") ||
	     put_num(line, cap, &k, r->tokens.completion, 0) ||
	     PUT_LIT(line, cap, &k, ",\"total\":") ||
	     put_num(line, cap, &k, r->tokens.total, 0) ||
	     PUT_LIT(line, cap, &k, "}")))
		return -1;
	if (r->trace && (PUT_LIT(line, cap, &k, ",\"traceparent\":") ||
			 esc(line, cap, &k, r->trace)))
		return -1;
	if (PUT_LIT(line, cap, &k, ",\"prev\":\"") ||
	    put(line, cap, &k, a->prev, strlen(a->prev)) ||
	    PUT_LIT(line, cap, &k, "\""))
		return -1;
	if (r->args) {
		/* Raw JSON from jansson's dump (valid, one line); arguments
		 * too long for the line are noted, never cut mid-value. */
		size_t al = strlen(r->args);
		if (al + 16 < cap - k) {
			if (PUT_LIT(line, cap, &k, ",\"args\":") ||
			    put(line, cap, &k, r->args, al))
				return -1;
		} else if (PUT_LIT(line, cap, &k, ",\"args\":\"(") ||
			   put_num(line, cap, &k, al, 0) ||
			   PUT_LIT(line, cap, &k, " bytes, not logged)\"")) {
			return -1;
		}
	}
	sha256_hex(line, k, hash);
	if (buf_add(a, line, k) || buf_add(a, HASH_KEY, strlen(HASH_KEY)) ||
	    buf_add(a, hash, 64) || buf_add(a, "\"}\n", 3))
		return -1;
	memcpy(a->prev, hash, 65);
	a->fresh = 0;
	if (a->len > AUDIT_BUF_MAX)
		gw_audit_flush(a);
	return 0;
}

/* ---- aggregated denials ------------------------------------------------- */

void gw_audit_set_deny_rate(struct gw_audit *a, int per_s)
{
	a->deny_rate = per_s > 0 ? per_s : 0;
}

/* Opens zone d's aggregate: its record goes into this turn's batch, so
 * it is written before any denial counted under it is answered. */
static void agg_open(struct gw_audit *a, struct dzone *d, int64_t now)
{
	char why[256];
	json_t *r;

	gw_audit_new_id(a, d->id, sizeof(d->id));
	d->n = d->other = 0;
	d->nr = 0;
	d->opened_ms = now;
	a->nopen++;
	snprintf(why, sizeof(why),
		 "over %d denials a second: the next ones are counted "
		 "under ids %s.1, %s.2, ... until a closing record",
		 a->deny_rate, d->id, d->id);
	r = json_pack("{s:s,s:s,s:n,s:s,s:s,s:s}", "id", d->id, "zone", d->zone,
		      "session", "method", "audit/denials", "decision",
		      "aggregate", "reason", why);
	if (r)
		gw_audit_append(a, r);
	json_decref(r);
}

/* Writes the closing record of d's aggregate: how many denials, their
 * id range and their distinct kinds. */
static void agg_close(struct gw_audit *a, struct dzone *d)
{
	char id[40], last[64];
	json_t *r, *rs = json_array();

	for (size_t i = 0; rs && i < d->nr; i++)
		json_array_append_new(rs,
				      json_pack("{s:s,s:s,s:s,s:I}", "method",
						d->r[i].method, "target",
						d->r[i].target, "reason",
						d->r[i].reason, "count",
						(json_int_t)d->r[i].n));
	gw_audit_new_id(a, id, sizeof(id));
	snprintf(last, sizeof(last), "%s.%llu", d->id,
		 (unsigned long long)d->n);
	r = json_pack("{s:s,s:s,s:n,s:s,s:s,s:s,s:I,s:s,s:o,s:I}", "id", id,
		      "zone", d->zone, "session", "method", "audit/denials",
		      "decision", "aggregate-end", "aggregate", d->id, "count",
		      (json_int_t)d->n, "last_id", last, "reasons",
		      rs ? rs : json_array(), "other_reasons",
		      (json_int_t)d->other);
	if (r)
		gw_audit_append(a, r);
	json_decref(r);
	d->id[0] = '\0';
	a->nopen--;
}

static void agg_count(struct dzone *d, const char *method, const char *target,
		      const char *reason)
{
	size_t i;

	for (i = 0; i < d->nr; i++)
		if (strcmp(d->r[i].method, method) == 0 &&
		    strcmp(d->r[i].target, target) == 0 &&
		    strcmp(d->r[i].reason, reason) == 0)
			break;
	if (i == d->nr) {
		if (d->nr == AGG_REASONS) {
			d->other++;
			return;
		}
		/* gateway strings, ASCII: whole or cut where it is safe */
		snprintf(d->r[i].method, sizeof(d->r[i].method), "%.*s",
			 (int)gw_utf8_prefix(method, 39), method);
		snprintf(d->r[i].target, sizeof(d->r[i].target), "%.*s",
			 (int)gw_utf8_prefix(target, 199), target);
		snprintf(d->r[i].reason, sizeof(d->r[i].reason), "%.*s",
			 (int)gw_utf8_prefix(reason, 63), reason);
		d->r[i].n = 0;
		d->nr++;
	}
	d->r[i].n++;
}

int gw_audit_deny(struct gw_audit *a, unsigned zi, const char *zone,
		  const char *method, const char *target, const char *reason,
		  char *id, size_t idlen)
{
	struct dzone *d;
	int64_t now;

	if (!a->deny_rate || zi >= GW_MAX_ZONES)
		return 0;
	now = gw_now_ms();
	d = a->dz[zi];
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d)
			return 0; /* its own record, as without a limit */
		snprintf(d->zone, sizeof(d->zone), "%s", zone);
		gw_bucket_init(&d->b, a->deny_rate, 1000, now);
		a->dz[zi] = d;
	}
	if (d->id[0] && now - d->opened_ms >= AGG_WINDOW_MS)
		agg_close(a, d);
	if (gw_bucket_take(&d->b, now))
		return 0;
	if (!d->id[0])
		agg_open(a, d, now);
	d->n++;
	agg_count(d, method, target ? target : "-", reason ? reason : "-");
	snprintf(id, idlen, "%s.%llu", d->id, (unsigned long long)d->n);
	return 1;
}

void gw_audit_forget_zone(struct gw_audit *a, unsigned zi)
{
	if (!a || zi >= GW_MAX_ZONES || !a->dz[zi])
		return;
	if (a->dz[zi]->id[0])
		agg_close(a, a->dz[zi]);
	free(a->dz[zi]);
	a->dz[zi] = NULL;
}

void gw_audit_tick(struct gw_audit *a)
{
	int64_t now;

	if (!a->nopen)
		return;
	now = gw_now_ms();
	for (size_t i = 0; i < GW_MAX_ZONES && a->nopen; i++)
		if (a->dz[i] && a->dz[i]->id[0] &&
		    now - a->dz[i]->opened_ms >= AGG_WINDOW_MS)
			agg_close(a, a->dz[i]);
}

int gw_audit_flush(struct gw_audit *a)
{
	size_t off = 0;
	ssize_t n;

	a->last_flush = gw_now_ms();
	if (a->fd < 0) {
		a->len = 0;
		return 0;
	}
	while (off < a->len) {
		n = write(a->fd, a->buf + off, a->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "gatewayd: audit log write: %s\n",
				strerror(errno));
			a->len = 0;
			return -1;
		}
		off += (size_t)n;
	}
	a->len = 0;
	a->size += off;
	if (a->rotate_at && a->size >= a->rotate_at && !a->rotating)
		gw_audit_rotate(a, "size", NULL, 0);
	return 0;
}

void gw_audit_set_rotate(struct gw_audit *a, uint64_t bytes)
{
	a->rotate_at = bytes;
}

/* PATH.YYYYmmddTHHMMSS.uuuuuuZ (UTC): rotated names sort by age. */
static int rotated_name(const char *path, char *out, size_t outlen)
{
	struct timespec ts;
	struct tm tm;
	char t[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(t, sizeof(t), "%Y%m%dT%H%M%S", &tm);
	if (snprintf(out, outlen, "%s.%s.%06ldZ", path, t, ts.tv_nsec / 1000) >=
	    (int)outlen)
		return -1;
	return access(out, F_OK) == 0 ? -1 : 0;
}

int gw_audit_rotate(struct gw_audit *a, const char *why, char *out,
		    size_t outlen)
{
	char name[4200], id[40], e[512];
	const char *base;
	json_t *r;
	int fd, rc = -1;

	if (!a->path || a->rotating)
		return -1;
	a->rotating = 1;
	gw_audit_flush(a);
	if (rotated_name(a->path, name, sizeof(name)) ||
	    rename(a->path, name) != 0) {
		fprintf(stderr, "gatewayd: audit log %s: cannot rotate: %s\n",
			a->path, strerror(errno));
		goto out;
	}
	fd = gw_open_regular(a->path, O_RDWR | O_APPEND | O_CREAT, 0640, e,
			     sizeof(e));
	if (fd < 0) {
		/* keep writing to the renamed file rather than lose records */
		fprintf(stderr, "gatewayd: audit log %s; still writing to %s\n",
			e, name);
		goto out;
	}
	close(a->fd);
	a->fd = fd;
	a->size = 0;
	base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	gw_audit_new_id(a, id, sizeof(id));
	r = json_pack("{s:s,s:s,s:n,s:s,s:s,s:s,s:s}", "id", id, "zone", "-",
		      "session", "method", "audit/rotate", "decision",
		      "rotated", "reason", why, "previous_file", base);
	if (r && a->replica[0])
		json_object_set_new(r, "replica", json_string(a->replica));
	if (r)
		gw_audit_append(a, r);
	json_decref(r);
	gw_audit_flush(a);
	fprintf(stderr,
		"gatewayd: audit log rotated (%s): the chain goes on from "
		"%s\n",
		why, name);
	if (out)
		snprintf(out, outlen, "%s", name);
	rc = 0;
out:
	a->rotating = 0;
	return rc;
}

/* The state of a verification across lines and files. */
struct vstate {
	char prev[65]; /* the hash the next record must name */
	int known;     /* prev is known (not after an unreadable line) */
	int first;     /* no record seen yet in the sequence */
	size_t records, problems;
	gw_audit_report report;
	void *ud;
	const char *file;
	size_t line;
};

static void problem(struct vstate *v, const char *msg)
{
	v->problems++;
	if (v->report)
		v->report(v->ud, v->file, v->line, msg);
}

/* Checks one line and moves the chain on to its hash. A bad line is
 * reported and the check goes on: an edited record whose hash was not
 * recomputed still names the hash its successor expects, so only that
 * record is flagged; a removed, inserted or recomputed one breaks the
 * link to the next record, which is flagged. */
static void verify_line(struct vstate *v, const char *line, size_t len)
{
	char hash[65], calc[65];
	size_t plen;
	json_t *j;
	const char *p, *meth;

	v->records++;
	if (split_line(line, len, &plen, hash)) {
		problem(v, "not a chained record (no trailing hash)");
		v->known = 0;
		v->first = 0;
		return;
	}
	sha256_hex(line, plen, calc);
	if (strcmp(calc, hash) != 0)
		problem(v, "hash mismatch: the record was altered");
	j = json_loadb(line, len, 0, NULL);
	p = j ? json_string_value(json_object_get(j, "prev")) : NULL;
	meth = j ? json_string_value(json_object_get(j, "method")) : NULL;
	if (!j) {
		problem(v, "not valid JSON");
	} else if (!p) {
		problem(v, "no prev field");
	} else if (v->first && strcmp(p, zeros) != 0 &&
		   !(meth && strcmp(meth, "audit/rotate") == 0)) {
		/* a log starts at 64 zeros, or with the rotation record
		 * that continues the chain of the file before it */
		problem(v, "the first record neither starts a chain nor "
			   "continues a rotated one (records before it "
			   "were removed)");
	} else if (!v->first && v->known && strcmp(p, v->prev) != 0) {
		problem(v, "chain broken: prev does not match the record "
			   "before (a record was removed, inserted or "
			   "reordered, or one before was rewritten)");
	}
	json_decref(j);
	memcpy(v->prev, hash, 65);
	v->known = 1;
	v->first = 0;
}

ssize_t gw_audit_getline(FILE *f, char **buf, size_t *cap)
{
	size_t len = 0;
	int c, any = 0, over = 0;

	while ((c = getc_unlocked(f)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (over)
			continue;
		if (len + 1 >= *cap) {
			size_t nc = *cap ? *cap * 2 : 4096;
			char *nb;
			if (len >= GW_AUDIT_LINE_MAX) {
				over = 1; /* the rest of the line is skipped */
				continue;
			}
			if (nc > GW_AUDIT_LINE_MAX + 1)
				nc = GW_AUDIT_LINE_MAX + 1;
			nb = realloc(*buf, nc);
			if (!nb)
				return -1;
			*buf = nb;
			*cap = nc;
		}
		(*buf)[len++] = (char)c;
	}
	if (!any)
		return -1;
	if (over)
		return -2;
	if (!*buf) { /* an empty line before any text */
		*buf = malloc(1);
		if (!*buf)
			return -1;
		*cap = 1;
	}
	while (len && (*buf)[len - 1] == '\r')
		len--;
	(*buf)[len] = '\0';
	return (ssize_t)len;
}

static int verify_file(struct vstate *v, const char *path, char *err,
		       size_t errlen)
{
	int fd = gw_open_regular(path, O_RDONLY, 0, err, errlen);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (!f) {
		if (fd >= 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
		}
		return -1;
	}
	v->file = path;
	v->line = 0;
	while ((len = gw_audit_getline(f, &line, &cap)) != -1) {
		v->line++;
		if (len == -2) {
			v->records++;
			problem(v, "longer than any record gatewayd writes "
				   "(1 MiB): not a chained record");
			v->known = 0;
			v->first = 0;
			continue;
		}
		verify_line(v, line, (size_t)len);
	}
	free(line);
	fclose(f);
	return 0;
}

long gw_audit_verify_files(const char *const *paths, size_t n,
			   gw_audit_report report, void *ud, size_t *records,
			   char *err, size_t errlen)
{
	struct vstate v;

	memset(&v, 0, sizeof(v));
	memcpy(v.prev, zeros, 65);
	v.known = 1;
	v.first = 1;
	v.report = report;
	v.ud = ud;
	*records = 0;
	for (size_t i = 0; i < n; i++)
		if (verify_file(&v, paths[i], err, errlen))
			return -1;
	*records = v.records;
	return (long)v.problems;
}

struct first_bad {
	size_t line;
	char *err;
	size_t errlen;
};

static void note_first(void *ud, const char *file, size_t line, const char *msg)
{
	struct first_bad *fb = ud;

	(void)file;
	if (fb->line)
		return;
	fb->line = line;
	snprintf(fb->err, fb->errlen, "%s", msg);
}

int gw_audit_verify(const char *path, size_t *lines, size_t *bad_line,
		    char *err, size_t errlen)
{
	struct first_bad fb = { 0, err, errlen };
	long np = gw_audit_verify_files(&path, 1, note_first, &fb, lines, err,
					errlen);

	*bad_line = fb.line;
	return np == 0 ? 0 : -1;
}

/* ---- several replicas' files: sorting them into chains ------------------ */

int gw_replica_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char ch = s[n];
		if (n >= GW_REPLICA_MAX ||
		    !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == '-'))
			return 0;
	}
	return n > 0;
}

/* What placing one file needs: its first and last records. */
struct finfo {
	const char *path;
	char prev[65]; /* the first record's prev ("" if none) */
	char last[65]; /* the last record's hash ("" if none) */
	char t0[40];   /* the first record's time */
	int rot;       /* the first record is a rotation record */
	char name[GW_REPLICA_MAX + 1];
	char prevfile[256]; /* the rotation record's previous_file */
	size_t pred, next;  /* file it follows / followed by; SIZE_MAX none */
	int fork;	    /* follows a file another file follows first */
	int loop;	    /* cut from a loop of links (made-up hashes) */
	size_t seg;	    /* its sequence's id; SIZE_MAX: not placed */
};

/* One sequence of files linked by their hashes. */
struct seg {
	size_t id;   /* the fi[].seg of its files */
	size_t head; /* its first file */
	const char *name;
	const char *t0;
};

/* Copies JSON string member k of j into out when it fits. */
static void copy_str(json_t *j, const char *k, char *out, size_t outlen)
{
	const char *s = json_string_value(json_object_get(j, k));

	if (s && strlen(s) < outlen)
		memcpy(out, s, strlen(s) + 1);
}

/* Reads file f->path for its first and last records. */
static int scan_file(struct finfo *f, char *err, size_t errlen)
{
	int fd = gw_open_regular(f->path, O_RDONLY, 0, err, errlen);
	FILE *fp = fd >= 0 ? fdopen(fd, "r") : NULL;
	char *line = NULL, hash[65];
	size_t cap = 0, plen, nl = 0;
	ssize_t len;

	if (!fp) {
		if (fd >= 0) {
			snprintf(err, errlen, "%s: %s", f->path,
				 strerror(errno));
			close(fd);
		}
		return -1;
	}
	while ((len = gw_audit_getline(fp, &line, &cap)) != -1) {
		if (len == -2) {
			nl++;
			f->last[0] = '\0';
			continue;
		}
		if (nl++ == 0) {
			json_t *j = json_loadb(line, (size_t)len, 0, NULL);
			const char *m =
				json_string_value(json_object_get(j, "method"));
			copy_str(j, "prev", f->prev, sizeof(f->prev));
			copy_str(j, "time", f->t0, sizeof(f->t0));
			copy_str(j, "replica", f->name, sizeof(f->name));
			copy_str(j, "previous_file", f->prevfile,
				 sizeof(f->prevfile));
			if (f->name[0] && !gw_replica_ok(f->name))
				f->name[0] = '\0';
			f->rot = m && strcmp(m, "audit/rotate") == 0;
			json_decref(j);
		}
		if (split_line(line, (size_t)len, &plen, hash) == 0)
			memcpy(f->last, hash, 65);
		else
			f->last[0] = '\0';
	}
	free(line);
	fclose(fp);
	return 0;
}

static const struct finfo *sort_fi; /* the files for the comparators */

/* Orders file indices by last hash. */
static int by_last(const void *a, const void *b)
{
	return strcmp(sort_fi[*(const size_t *)a].last,
		      sort_fi[*(const size_t *)b].last);
}

/* Orders sequences by replica name, then by their first record's time. */
static int by_name_time(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->t0, y->t0);
}

/* Adds a problem to chain c (msg copied); -1 when out of memory. */
static int chain_problem(struct gw_audit_chain *c, const char *file,
			 size_t line, const char *msg)
{
	struct gw_audit_problem *np;

	np = realloc(c->problems, (c->nproblems + 1) * sizeof(*np));
	if (!np)
		return -1;
	c->problems = np;
	np[c->nproblems].file = file;
	np[c->nproblems].line = line;
	np[c->nproblems].msg = strdup(msg);
	if (!np[c->nproblems].msg)
		return -1;
	c->nproblems++;
	return 0;
}

static void chain_report(void *ud, const char *file, size_t line,
			 const char *msg)
{
	chain_problem(ud, file, line, msg);
}

/* Links every file to the one whose last hash its first record names;
 * of two files that continue the same one, the later is a fork. */
static int link_files(struct finfo *fi, size_t n)
{
	size_t *ix = malloc((n ? n : 1) * sizeof(*ix));

	if (!ix)
		return -1;
	for (size_t i = 0; i < n; i++)
		ix[i] = i;
	sort_fi = fi;
	qsort(ix, n, sizeof(*ix), by_last);
	for (size_t j = 0; j < n; j++) {
		size_t lo = 0, hi = n, i, k;
		if (!fi[j].prev[0] || strcmp(fi[j].prev, zeros) == 0)
			continue;
		while (lo < hi) { /* the first file whose last hash >= prev */
			size_t mid = lo + (hi - lo) / 2;
			if (strcmp(fi[ix[mid]].last, fi[j].prev) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (i = SIZE_MAX;
		     lo < n && !strcmp(fi[ix[lo]].last, fi[j].prev); lo++)
			if (ix[lo] != j) {
				i = ix[lo];
				break;
			}
		if (i == SIZE_MAX)
			continue;
		fi[j].pred = i;
		k = fi[i].next;
		if (k == SIZE_MAX) {
			fi[i].next = j;
		} else if (strcmp(fi[j].t0, fi[k].t0) < 0) {
			fi[k].fork = 1; /* j came first: k is the branch */
			fi[i].next = j;
		} else {
			fi[j].fork = 1;
		}
	}
	free(ix);
	return 0;
}

/* The problem of a sequence's first file when an earlier sequence of the
 * same chain comes before it (msg: room for it). */
static void head_problem(const struct finfo *fi, const struct finfo *f,
			 char *msg, size_t msglen)
{
	if (f->loop)
		snprintf(msg, msglen,
			 "chain broken: the files' hashes form a loop (a "
			 "record's hash was made up)");
	else if (f->fork)
		snprintf(msg, msglen,
			 "fork: continues from the same record as another "
			 "file (%s follows %s too): two files claim one place "
			 "in the chain",
			 f->path, fi[f->pred].path);
	else if (strcmp(f->prev, zeros) == 0)
		snprintf(msg, msglen,
			 "chain broken: a second chain of replica '%s' starts "
			 "here from zeros (its log was started over, or two "
			 "gatewayds share one replica name)",
			 f->name);
	else if (f->rot)
		snprintf(msg, msglen,
			 "chain broken: a file is missing before this one: "
			 "it continues from a record no given file ends with "
			 "(previous_file %s)",
			 f->prevfile[0] ? f->prevfile : "not named");
	else
		snprintf(msg, msglen,
			 "chain broken: its first record continues from a "
			 "record no given file ends with (records before it "
			 "were removed)");
}

/* The file after f in sequence g, or SIZE_MAX at its end. */
static size_t seg_next(const struct finfo *fi, const struct seg *g, size_t f)
{
	size_t nx = fi[f].next;

	return nx != SIZE_MAX && fi[nx].seg == g->id && nx != g->head
		       ? nx
		       : SIZE_MAX;
}

/* Verifies the sequences sg[0..ns) (one chain, in order) into c. */
static int verify_chain(const struct finfo *fi, const struct seg *sg, size_t ns,
			struct gw_audit_chain *c, char *err, size_t errlen)
{
	struct vstate v;
	char msg[1024];
	size_t nf = 0;

	for (size_t s = 0; s < ns; s++)
		for (size_t f = sg[s].head; f != SIZE_MAX;
		     f = seg_next(fi, &sg[s], f))
			nf++;
	c->files = calloc(nf ? nf : 1, sizeof(*c->files));
	if (!c->files)
		return -1;
	snprintf(c->replica, sizeof(c->replica), "%s", sg[0].name);
	c->from_start = strcmp(fi[sg[0].head].prev, zeros) == 0;
	memset(&v, 0, sizeof(v));
	v.report = chain_report;
	v.ud = c;
	for (size_t s = 0; s < ns; s++) {
		const struct finfo *h = &fi[sg[s].head];
		if (s == 0 && !h->fork && !h->loop) {
			memcpy(v.prev, zeros, 65);
			v.known = 1;
			v.first = 1;
		} else {
			head_problem(fi, h, msg, sizeof(msg));
			if (chain_problem(c, h->path, 1, msg))
				return -1;
			v.known = 0;
			v.first = 0;
		}
		for (size_t f = sg[s].head; f != SIZE_MAX;
		     f = seg_next(fi, &sg[s], f)) {
			c->files[c->nfiles++] = fi[f].path;
			if (verify_file(&v, fi[f].path, err, errlen))
				return -1;
		}
	}
	c->records = v.records;
	return 0;
}

int gw_audit_verify_chains(const char *const *paths, size_t n,
			   struct gw_audit_chains *out, char *err,
			   size_t errlen)
{
	struct finfo *fi = NULL;
	struct seg *sg = NULL;
	size_t ns = 0, m = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (n > GW_AUDIT_FILES_MAX) {
		snprintf(err, errlen, "more than %d files", GW_AUDIT_FILES_MAX);
		return -1;
	}
	fi = calloc(n ? n : 1, sizeof(*fi));
	sg = calloc(n ? n : 1, sizeof(*sg));
	if (!fi || !sg) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int dup = 0;
		for (size_t k = 0; k < m && !dup; k++)
			dup = strcmp(fi[k].path, paths[i]) == 0;
		if (dup)
			continue; /* one file named twice counts once */
		fi[m].path = paths[i];
		fi[m].pred = fi[m].next = fi[m].seg = SIZE_MAX;
		if (scan_file(&fi[m], err, errlen))
			goto out;
		m++;
	}
	if (link_files(fi, m)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* Sequences: from each file nothing (or a fork) leads to, along
	 * the links; files in a loop of links (made up hashes) are cut
	 * where the loop is first met. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < m; i++) {
			if (fi[i].seg != SIZE_MAX ||
			    (pass == 0 && fi[i].pred != SIZE_MAX &&
			     !fi[i].fork))
				continue;
			fi[i].loop = pass == 1;
			sg[ns].id = ns;
			sg[ns].head = i;
			sg[ns].name = fi[i].name;
			sg[ns].t0 = fi[i].t0;
			for (size_t f = i;
			     f != SIZE_MAX && fi[f].seg == SIZE_MAX;
			     f = fi[f].next)
				fi[f].seg = ns;
			ns++;
		}
	qsort(sg, ns, sizeof(*sg), by_name_time);
	out->chain = calloc(ns ? ns : 1, sizeof(*out->chain));
	if (!out->chain) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t s = 0; s < ns;) {
		size_t e = s + 1;
		struct gw_audit_chain *c = &out->chain[out->n++];
		while (e < ns && strcmp(sg[e].name, sg[s].name) == 0)
			e++;
		if (verify_chain(fi, sg + s, e - s, c, err, errlen))
			goto out;
		out->records += c->records;
		out->problems += c->nproblems;
		s = e;
	}
	rc = 0;
out:
	free(fi);
	free(sg);
	return rc;
}

void gw_audit_chains_free(struct gw_audit_chains *c)
{
	for (size_t i = 0; i < c->n; i++) {
		for (size_t k = 0; k < c->chain[i].nproblems; k++)
			free(c->chain[i].problems[k].msg);
		free(c->chain[i].problems);
		free(c->chain[i].files);
	}
	free(c->chain);
	memset(c, 0, sizeof(*c));
}
