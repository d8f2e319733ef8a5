/* Fuzz target: arbitrary bytes as an HTTP request to a live Streamable
 * HTTP transport (libmicrohttpd's parser, then ours: headers, Host/Origin
 * checks, session lookup, body caps, JSON-RPC). Each run opens a real
 * session first and substitutes its id for "@SID@" in the input, so
 * mutations reach the session paths, then deletes the session. Seeds
 * without a session id reach the stateless (2026-07-28) checks. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "transport.h"
#include "zonegate/mcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned short port;

static int tool_echo(mcp_call *call, json_t *args, void *ud, json_t **result)
{
	(void)call;
	(void)ud;
	*result =
		mcp_result_text(json_string_value(json_object_get(args, "t")));
	return 0;
}

static void start(void)
{
	static mcp_server *srv;
	struct mcp_http_config cfg = { .host = "127.0.0.1",
				       .max_body = 65536,
				       .session_timeout = 5 };
	struct mcp_tool t = { .name = "echo", .fn = tool_echo };
	char err[128];

	if (srv)
		return;
	srv = mcp_server_new(NULL);
	mcp_server_add_tool(srv, &t, err, sizeof(err));
	struct mcp_http *h = mcp_http_start(srv, &cfg, err, sizeof(err));
	if (!h) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		abort();
	}
	port = mcp_http_port(h);
}

/* Sends req, returns what came back (NUL-terminated, caller frees). */
static char *exchange(const char *req, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 0, .tv_usec = 300000 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t cap = 65536, got = 0;
	char *buf = malloc(cap + 1);
	ssize_t n;

	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || !buf || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(fd, req, len) < 0) {
		/* the server may close early; read what it said */
	}
	shutdown(fd, SHUT_WR);
	while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return buf;
}

static void session_open(char *sid, size_t sidlen)
{
	static const char body[] =
		"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
		"\"params\":{\"protocolVersion\":\"2025-11-25\","
		"\"capabilities\":{}}}";
	char req[1024];
	int n = snprintf(req, sizeof(req),
			 "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Content-Type: application/json\r\n"
			 "Accept: application/json, text/event-stream\r\n"
			 "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
			 sizeof(body) - 1, body);
	char *resp = exchange(req, (size_t)n);
	const char *h = resp ? strcasestr(resp, "mcp-session-id: ") : NULL;

	sid[0] = '\0';
	if (h) {
		h += 16;
		size_t k = strcspn(h, "\r\n");
		if (k < sidlen) {
			memcpy(sid, h, k);
			sid[k] = '\0';
		}
	}
	free(resp);
}

static void session_close(const char *sid)
{
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Mcp-Session-Id: %s\r\nConnection: close\r\n\r\n",
			 sid);

	free(exchange(req, (size_t)n));
}

/* Copies data replacing each "@SID@" with sid. */
static char *substitute(const uint8_t *data, size_t size, const char *sid,
			size_t *outlen)
{
	size_t sl = strlen(sid), cap = size * (sl + 1) + 1, o = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (size_t i = 0; i < size;) {
		if (i + 5 <= size && memcmp(data + i, "@SID@", 5) == 0) {
			memcpy(out + o, sid, sl);
			o += sl;
			i += 5;
		} else {
			out[o++] = (char)data[i++];
		}
	}
	*outlen = o;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char sid[64];
	size_t len;
	char *req;

	if (size > 16384)
		return 0;
	start();
	session_open(sid, sizeof(sid));
	req = substitute(data, size, sid, &len);
	if (req)
		free(exchange(req, len));
	free(req);
	if (sid[0])
		session_close(sid);
	return 0;
}
