/* Server-Sent Events parser for the MCP HTTP client (the WHATWG event
 * stream format): lines ended by CR, LF or CRLF, data/event/id/retry
 * fields, one event per blank line. Every line and event is capped before
 * it is stored; nothing here trusts the server. */
#include "client_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mcp_sse_init(struct mcp_sse *p, size_t max_event, mcp_sse_event_fn fn,
		  void *ud)
{
	memset(p, 0, sizeof(*p));
	p->max_event = max_event;
	p->fn = fn;
	p->ud = ud;
	p->retry_ms = -1;
}

void mcp_sse_clear(struct mcp_sse *p)
{
	free(p->line);
	free(p->data);
	p->line = p->data = NULL;
	p->line_len = p->line_cap = p->data_len = p->data_cap = 0;
}

static int sse_fail(struct mcp_sse *p, const char *why)
{
	snprintf(p->err, sizeof(p->err), "%s", why);
	return -1;
}

/* Appends n bytes to *buf (length *len, capacity *cap), never past max
 * bytes; keeps room for a NUL. 0, or -1 over max or out of memory. */
static int grow_append(char **buf, size_t *len, size_t *cap, size_t max,
		       const char *src, size_t n)
{
	if (n > max || *len > max - n)
		return -1;
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 256;
		char *nb;
		while (c < *len + n + 1)
			c *= 2;
		if (c > max + 1)
			c = max + 1;
		nb = realloc(*buf, c);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = c;
	}
	memcpy(*buf + *len, src, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static int dispatch(struct mcp_sse *p)
{
	int rc = 0;

	if (p->have_data && !p->bad_type) {
		size_t n = p->data_len;
		if (n && p->data[n - 1] == '\n')
			n--;
		if (p->data)
			p->data[n] = '\0';
		if (p->fn(p->ud, p->type[0] ? p->type : "message",
			  p->data ? p->data : "", n, p->id))
			rc = sse_fail(p, "stopped by the event handler");
	}
	p->data_len = 0;
	p->have_data = 0;
	p->bad_type = 0;
	p->type[0] = '\0';
	return rc;
}

static void set_retry(struct mcp_sse *p, const char *v, size_t n)
{
	long r = 0;

	if (n == 0 || n > 9)
		return;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return;
		r = r * 10 + (v[i] - '0');
	}
	p->retry_ms = r;
}

/* One complete line (without its end). */
static int field(struct mcp_sse *p, const char *l, size_t n)
{
	const char *colon = memchr(l, ':', n);
	size_t nl = colon ? (size_t)(colon - l) : n;
	const char *v = colon ? colon + 1 : l + n;
	size_t vn = colon ? n - nl - 1 : 0;

	if (n == 0)
		return dispatch(p);
	if (nl == 0)
		return 0; /* a comment */
	if (vn && *v == ' ') {
		v++;
		vn--;
	}
	if (nl == 4 && memcmp(l, "data", 4) == 0) {
		p->have_data = 1;
		if (grow_append(&p->data, &p->data_len, &p->data_cap,
				p->max_event, v, vn) ||
		    grow_append(&p->data, &p->data_len, &p->data_cap,
				p->max_event + 1, "\n", 1))
			return sse_fail(p, "event over the size cap");
	} else if (nl == 5 && memcmp(l, "event", 5) == 0) {
		if (vn > MCP_SSE_EVENT_NAME_MAX) {
			p->bad_type = 1; /* not an event of ours */
		} else {
			memcpy(p->type, v, vn);
			p->type[vn] = '\0';
		}
	} else if (nl == 2 && memcmp(l, "id", 2) == 0) {
		if (vn <= MCP_SSE_ID_MAX && !memchr(v, '\0', vn)) {
			memcpy(p->id, v, vn);
			p->id[vn] = '\0';
		}
	} else if (nl == 5 && memcmp(l, "retry", 5) == 0) {
		set_retry(p, v, vn);
	}
	return 0;
}

static int line_end(struct mcp_sse *p)
{
	size_t n = p->line_len;

	p->line_len = 0;
	return field(p, p->line ? p->line : "", n);
}

int mcp_sse_feed(struct mcp_sse *p, const char *buf, size_t len)
{
	size_t i = 0;

	if (p->err[0])
		return -1;
	if (!p->started) {
		/* a UTF-8 byte order mark at the very start is skipped; it may
		 * arrive split, so wait for three bytes or a difference */
		static const char bom[] = "\xEF\xBB\xBF";
		size_t have = p->line_len, k = 0;
		while (have + k < 3 && k < len && buf[k] == bom[have + k])
			k++;
		if (have + k == 3) {
			p->line_len = 0;
			p->started = 1;
			i = k;
		} else if (k == len && have + k < 3) {
			if (grow_append(&p->line, &p->line_len, &p->line_cap,
					16, buf, len))
				return sse_fail(p, "out of memory");
			return 0;
		} else {
			p->started = 1; /* what was held is the line's start */
		}
	}
	while (i < len) {
		const char *s = buf + i;
		size_t rest = len - i, span = 0;
		if (p->cr) {
			p->cr = 0;
			if (*s == '\n') {
				i++;
				continue;
			}
		}
		while (span < rest && s[span] != '\n' && s[span] != '\r')
			span++;
		if (span && grow_append(&p->line, &p->line_len, &p->line_cap,
					p->max_event + 16, s, span))
			return sse_fail(p, "line over the size cap");
		i += span;
		if (i < len) {
			p->cr = buf[i] == '\r';
			i++;
			if (line_end(p))
				return -1;
		}
	}
	return 0;
}
