/* Private interfaces of the web tool set: the egress policy and address
 * classifier (web_addr.c), page decoding (web_page.c), the checked fetcher
 * (web_fetch.c) and the search backends (web_search.c). */
#ifndef WEB_INT_H
#define WEB_INT_H

#include <jansson.h>
#include <stddef.h>
#include <sys/socket.h>

#include "web_class.h"
#include "web_text.h"

#define WEB_EXPORT __attribute__((visibility("default")))

#define WEB_MAX_RULES 32
#define WEB_MAX_URL 4096
#define WEB_DEFAULT_MAX_BYTES (2u << 20)
#define WEB_DEFAULT_TIMEOUT_S 20
#define WEB_DEFAULT_REDIRECTS 5
#define WEB_MAX_TEXT (256u << 10)	/* text returned by web_fetch */
#define WEB_MAX_SEARCH_BYTES (1u << 20) /* a search backend's answer */
#define WEB_MAX_COUNT 20

/* ---- egress policy (web_addr.c) ---- */

struct web_allow {
	char host[256]; /* lower case, IPv6 without brackets */
	int port;	/* 0: any port */
};

struct web_policy {
	struct web_allow allow[WEB_MAX_RULES]; /* --web-allow exceptions */
	unsigned nallow;
	char *hosts[WEB_MAX_RULES]; /* --web-hosts globs; none: any host */
	unsigned nhosts;
	/* --web-proxy: a SOCKS5 proxy on this unix socket (a zone's egress
	 * proxy, docs/zones.md) resolves names and connects; "" none */
	char proxy[108];
};

/* Sets p's proxy socket (an absolute path). 0, or -1 with err. */
int web_policy_proxy(struct web_policy *p, const char *path, char *err,
		     size_t errlen);

/* Parses HOST[:PORT] ([V6]:PORT for IPv6) into p's exceptions. 0, or -1
 * with err. */
int web_policy_allow(struct web_policy *p, const char *spec, char *err,
		     size_t errlen);
/* Adds comma-separated host globs. 0, or -1 with err. */
int web_policy_hosts(struct web_policy *p, const char *list, char *err,
		     size_t errlen);
void web_policy_free(struct web_policy *p);

/* Parses host as an IP literal in any spelling an URL parser or resolver
 * accepts (IPv6 with or without brackets; IPv4 dotted, decimal, octal,
 * hex and shortened forms such as 127.1). 1 and the address in *ss, 0 if
 * host is not an IP literal. */
int web_addr_literal(const char *host, struct sockaddr_storage *ss);

/* A URL checked and pinned: the host it names, the port, and the one
 * address the connection must go to. */
struct web_target {
	char host[256];
	int port;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char addr_text[64];
	const char *proxy; /* the policy's proxy socket, or NULL */
};

/* Checks url against the policy: http or https only, no userinfo, host
 * allowed by --web-hosts, resolved once (getaddrinfo on a resolver thread,
 * given up at deadline_ms, a CLOCK_MONOTONIC time in milliseconds, 0 for
 * none) with every address judged by web_addr_forbidden unless an
 * exception names the host (and port). Fills t with the address to connect
 * to. With a proxy, a name is not resolved here (the proxy resolves it and
 * enforces its own list; t->proxy is set, t->addrlen 0); an IP literal is
 * still judged. 0, or -1 with the reason in err ("name resolution timed
 * out" past the deadline). */
int web_policy_check(const struct web_policy *p, const char *url,
		     long deadline_ms, struct web_target *t, char *err,
		     size_t errlen);

/* ---- pages (web_page.c) ---- */

struct web_page {
	char *title; /* NULL if none */
	char *text;  /* readable UTF-8 text */
	size_t len;
	char charset[64]; /* what the body was decoded from */
	int truncated;	  /* text cut at WEB_MAX_TEXT */
};

/* Turns a body with its Content-Type (may be NULL) into readable UTF-8
 * text: HTML stripped and its title kept, other text types as they are;
 * the charset from the header, a BOM or a <meta>, else UTF-8 if valid,
 * else windows-1252; an unknown charset is read as UTF-8 with bad bytes
 * replaced. 0, or -1 with err for content that is not text (images,
 * binary). The caller frees with web_page_free. */
int web_page_decode(const char *ctype, const char *body, size_t n,
		    struct web_page *pg, char *err, size_t errlen);
void web_page_free(struct web_page *pg);

/* ---- fetcher (web_fetch.c) ---- */

/* Nonzero when the caller no longer wants the answer (a cancelled call). */
typedef int (*web_cancel_fn)(void *ud);

struct web_limits {
	size_t max_bytes; /* decoded body */
	long timeout_ms;  /* whole fetch, every hop */
	int max_redirects;
	web_cancel_fn cancel; /* may be NULL; polled during transfers */
	void *cancel_ud;
};

struct web_response {
	char final_url[WEB_MAX_URL];
	long status;
	char ctype[128];
	struct web_capbuf body;
	int redirects;
};

/* GETs url under the policy, following up to max_redirects redirects
 * itself (each hop checked like the first), connecting only to the
 * checked address, with the byte cap on the decoded body and one deadline
 * for all hops. headers: NULL or a NULL-terminated list of "Name: value"
 * lines (never logged). 0 with r filled (free r->body.p), or -1 with err
 * (refused by policy, too large, timed out, HTTP error status). */
int web_get(const struct web_policy *p, const struct web_limits *lim,
	    const char *url, const char *const *headers, struct web_response *r,
	    char *err, size_t errlen);

/* ---- search (web_search.c) ---- */

struct web_backend {
	int kind;   /* WEB_SEARCH_SEARXNG or WEB_SEARCH_BRAVE */
	char *base; /* base URL */
	char *key;  /* brave: the API key (secret) */
};
enum { WEB_SEARCH_NONE, WEB_SEARCH_SEARXNG, WEB_SEARCH_BRAVE };

/* Parses "searxng:URL", "brave" or "brave:URL". key_file: a file holding
 * the Brave key (else BRAVE_API_KEY in the environment). 0 or -1 with
 * err (the key itself never appears in err). */
int web_backend_parse(struct web_backend *b, const char *spec,
		      const char *key_file, char *err, size_t errlen);
void web_backend_free(struct web_backend *b);

/* Parses a backend's JSON answer into a new array of {title, url, snippet,
 * date?} (at most count). NULL with err if malformed. */
json_t *web_search_parse(int kind, const char *body, size_t n, size_t count,
			 char *err, size_t errlen);

/* Runs a query through the backend. Returns the results array, or NULL
 * with err. */
json_t *web_search_run(const struct web_backend *b, const struct web_policy *p,
		       const struct web_limits *lim, const char *query,
		       size_t count, char *err, size_t errlen);

/* ---- the mcpd module (web_tools.c) ---- */

struct mcp_server;
/* Registers web_fetch (and web_search with a backend) on srv. opts: NULL-
 * terminated pairs of option name ("web-allow", ...) and value, as mcpd
 * collected them. 0, or -1 with err; nothing is registered on failure. */
int web_tools_register(struct mcp_server *srv, const char *const *opts,
		       char *err, size_t errlen);

#endif
