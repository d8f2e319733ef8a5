/* Unit tests of the web tools' internals: the address classifier on every
 * forbidden form (IPv4 classes, IPv6, IPv4-mapped/compatible/NAT64/6to4,
 * decimal/octal/hex/short spellings), the URL check (schemes, userinfo,
 * exceptions with and without a port, --web-hosts), page decoding
 * (charsets, title, non-text) and the search answer parsers. None of it
 * sends a packet: literals are classified, "localhost" comes from
 * /etc/hosts. */
#include <stdlib.h>
#include <string.h>

#include "web_int.h"
#include "zgtest.h"

/* The reason host is refused as a literal, or "public", or "not literal". */
static const char *judge(const char *host)
{
	struct sockaddr_storage ss;
	const char *why;

	if (!web_addr_literal(host, &ss))
		return "not literal";
	why = web_addr_forbidden((struct sockaddr *)&ss);
	return why ? why : "public";
}

static void test_classifier(void)
{
	static const struct {
		const char *host, *want;
	} cases[] = {
		{ "127.0.0.1", "loopback" },
		{ "127.255.255.254", "loopback" },
		{ "2130706433", "loopback" },	 /* decimal */
		{ "0x7f000001", "loopback" },	 /* hex */
		{ "0177.0.0.1", "loopback" },	 /* octal */
		{ "0x7f.1", "loopback" },	 /* hex, shortened */
		{ "127.1", "loopback" },	 /* shortened */
		{ "0", "unspecified" },		 /* 0.0.0.0 */
		{ "0.0.0.0", "unspecified" },	 /* 0.0.0.0 */
		{ "10.1.2.3", "private" },	 /* 10/8 */
		{ "012.1.2.3", "private" },	 /* octal 10 */
		{ "172.16.0.1", "private" },	 /* 172.16/12 */
		{ "172.31.255.255", "private" }, /* end of 172.16/12 */
		{ "192.168.1.1", "private" },	 /* 192.168/16 */
		{ "3232235777", "private" },	 /* 192.168.1.1 decimal */
		{ "169.254.1.1", "link-local" }, /* 169.254/16 */
		{ "169.254.169.254", "cloud metadata" },
		{ "0xa9fea9fe", "cloud metadata" },
		{ "100.100.100.200", "cloud metadata" },
		{ "100.64.0.1", "CGNAT" },	    /* 100.64/10 */
		{ "100.127.255.255", "CGNAT" },	    /* end of 100.64/10 */
		{ "224.0.0.1", "multicast" },	    /* 224/4 */
		{ "239.255.255.250", "multicast" }, /* SSDP */
		{ "255.255.255.255", "reserved" },  /* broadcast */
		{ "240.0.0.1", "reserved" },	    /* 240/4 */
		{ "192.0.2.1", "reserved" },	    /* documentation */
		{ "198.18.0.1", "reserved" },	    /* benchmarking */
		{ "::1", "loopback" },		    /* IPv6 loopback */
		{ "[::1]", "loopback" },	    /* bracketed */
		{ "::", "unspecified" },	    /* IPv6 unspecified */
		{ "::ffff:127.0.0.1", "loopback" }, /* IPv4-mapped */
		{ "[::ffff:7f00:1]", "loopback" },  /* mapped, hex */
		{ "::ffff:10.0.0.1", "private" },   /* mapped private */
		{ "::ffff:169.254.169.254", "cloud metadata" },
		{ "::127.0.0.1", "loopback" }, /* IPv4-compatible */
		{ "64:ff9b::a9fe:a9fe", "cloud metadata" }, /* NAT64 */
		{ "2002:7f00:1::", "loopback" },	    /* 6to4 */
		{ "fe80::1", "link-local" },
		{ "fe80::1%25eth0", "link-local" },    /* zone id */
		{ "fc00::1", "private" },	       /* unique local */
		{ "fd12:3456::1", "private" },	       /* unique local */
		{ "fd00:ec2::254", "cloud metadata" }, /* AWS IPv6 IMDS */
		{ "fec0::1", "private" },	       /* site-local */
		{ "ff02::1", "multicast" },
		{ "2001:db8::1", "reserved" }, /* documentation */
		{ "93.184.215.14", "public" },
		{ "8.8.8.8", "public" },
		{ "1.1.1.1", "public" },
		{ "172.32.0.1", "public" },  /* just past 172.16/12 */
		{ "100.128.0.1", "public" }, /* just past 100.64/10 */
		{ "2606:4700::1111", "public" },
		{ "::ffff:8.8.8.8", "public" },
		{ "example.com", "not literal" },
		{ "127.0.0.1.nip.io", "not literal" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = judge(cases[i].host);
		if (strcmp(got, cases[i].want) != 0)
			fprintf(stderr, "  %s: %s, expected %s\n",
				cases[i].host, got, cases[i].want);
		CHECK_STR(got, cases[i].want);
	}
}

/* web_policy_check's verdict on url: NULL if allowed, else the error. */
static const char *check(const struct web_policy *p, const char *url, char *err,
			 size_t errlen)
{
	struct web_target t;
	return web_policy_check(p, url, 0, &t, err, errlen) == 0 ? NULL : err;
}

static void test_policy(void)
{
	struct web_policy p = { 0 };
	struct web_target t;
	char err[512];

	CHECK(web_policy_allow(&p, "127.0.0.1:8080", err, sizeof(err)) == 0);
	CHECK(web_policy_allow(&p, "[::1]:8081", err, sizeof(err)) == 0);
	CHECK(web_policy_allow(&p, "Intranet.Example", err, sizeof(err)) == 0);
	CHECK(web_policy_allow(&p, "h:0", err, sizeof(err)) != 0);
	CHECK(web_policy_allow(&p, "h:99999", err, sizeof(err)) != 0);
	CHECK(web_policy_allow(&p, "h:x", err, sizeof(err)) != 0);

	/* The exception names host and port: only that port passes. */
	CHECK(check(&p, "http://127.0.0.1:8080/x", err, sizeof(err)) == NULL);
	CHECK(web_policy_check(&p, "http://127.0.0.1:8080/", 0, &t, err,
			       sizeof(err)) == 0 &&
	      strcmp(t.addr_text, "127.0.0.1") == 0 && t.port == 8080);
	CHECK(check(&p, "http://127.0.0.1:8081/", err, sizeof(err)) != NULL);
	CHECK(strstr(err, "loopback") != NULL);
	CHECK(check(&p, "http://[::1]:8081/", err, sizeof(err)) == NULL);
	CHECK(check(&p, "http://[::1]:8080/", err, sizeof(err)) != NULL);
	/* A name that resolves to loopback is not the excepted literal. */
	CHECK(check(&p, "http://localhost:8080/", err, sizeof(err)) != NULL);
	CHECK(strstr(err, "resolves to") != NULL);

	/* Userinfo, schemes, junk. */
	CHECK(check(&p, "http://user@127.0.0.1:8080/", err, sizeof(err)));
	CHECK(strstr(err, "credentials") != NULL);
	CHECK(check(&p, "http://user:pw@127.0.0.1:8080/", err, sizeof(err)));
	CHECK(check(&p, "http://:pw@127.0.0.1:8080/", err, sizeof(err)));
	CHECK(check(&p, "file:///etc/passwd", err, sizeof(err)) != NULL);
	CHECK(strstr(err, "http and https") != NULL);
	CHECK(check(&p, "gopher://127.0.0.1:8080/", err, sizeof(err)));
	CHECK(check(&p, "ftp://127.0.0.1:8080/", err, sizeof(err)));
	CHECK(check(&p, "not a url", err, sizeof(err)) != NULL);
	CHECK(check(&p, "http://0x7f000001:9/", err, sizeof(err)) != NULL);
	CHECK(check(&p, "http://[::ffff:a9fe:a9fe]/", err, sizeof(err)));
	CHECK(strstr(err, "metadata") != NULL);

	/* --web-hosts: only matching hosts, before any resolution. */
	CHECK(web_policy_hosts(&p, "*.example.org,127.0.0.1", err,
			       sizeof(err)) == 0);
	CHECK(check(&p, "http://127.0.0.1:8080/", err, sizeof(err)) == NULL);
	CHECK(check(&p, "http://[::1]:8081/", err, sizeof(err)) != NULL);
	CHECK(strstr(err, "--web-hosts") != NULL);
	web_policy_free(&p);
}

static void test_page(void)
{
	struct web_page pg;
	char err[256];
	const char *h = "<html><head><title> A &amp; B </title>"
			"<script>var secret=1;</script><style>x{}</style>"
			"</head><body><p>caf\xe9</p></body></html>";

	CHECK(web_page_decode("text/html; charset=ISO-8859-1", h, strlen(h),
			      &pg, err, sizeof(err)) == 0);
	CHECK_STR(pg.title, "A & B");
	CHECK(strstr(pg.text, "caf\xc3\xa9") != NULL);
	CHECK(strstr(pg.text, "secret") == NULL);
	CHECK_STR(pg.charset, "iso-8859-1");
	web_page_free(&pg);
	/* No charset at all: not valid UTF-8, read as windows-1252. */
	CHECK(web_page_decode(NULL, h, strlen(h), &pg, err, sizeof(err)) == 0);
	CHECK_STR(pg.charset, "windows-1252");
	CHECK(strstr(pg.text, "caf\xc3\xa9") != NULL);
	web_page_free(&pg);
	/* An unknown charset: read as UTF-8, bad bytes replaced. */
	CHECK(web_page_decode("text/plain; charset=x-nope", "a\xff", 2, &pg,
			      err, sizeof(err)) == 0);
	CHECK_STR(pg.text, "a\xef\xbf\xbd");
	web_page_free(&pg);
	/* UTF-16 by BOM. */
	CHECK(web_page_decode("text/plain", "\xff\xfeh\0i\0", 6, &pg, err,
			      sizeof(err)) == 0);
	CHECK_STR(pg.text, "hi");
	web_page_free(&pg);
	CHECK(web_page_decode("image/png", "\x89PNG", 4, &pg, err,
			      sizeof(err)) != 0);
	CHECK(strstr(err, "image/png") != NULL);
	CHECK(web_page_decode(NULL, "a\0b", 3, &pg, err, sizeof(err)) != 0);
}

static void test_search_parse(void)
{
	char err[256];
	const char *sx =
		"{\"results\":[{\"url\":\"https://a/\",\"title\":\"A\","
		"\"content\":\"s\",\"publishedDate\":\"2025-11-05\"},"
		"{\"title\":\"no url\"},{\"url\":\"https://b/\"},"
		"{\"url\":\"https://c/\"}]}";
	const char *br = "{\"web\":{\"results\":[{\"url\":\"https://a/\","
			 "\"title\":\"A\",\"description\":\"d\","
			 "\"page_age\":\"2024-01-31\"}]}}";
	json_t *r = web_search_parse(WEB_SEARCH_SEARXNG, sx, strlen(sx), 2, err,
				     sizeof(err));

	CHECK(r && json_array_size(r) == 2);
	CHECK_STR(json_string_value(
			  json_object_get(json_array_get(r, 0), "date")),
		  "2025-11-05");
	CHECK_STR(json_string_value(
			  json_object_get(json_array_get(r, 1), "url")),
		  "https://b/");
	json_decref(r);
	r = web_search_parse(WEB_SEARCH_BRAVE, br, strlen(br), 5, err,
			     sizeof(err));
	CHECK(r && json_array_size(r) == 1);
	json_decref(r);
	CHECK(web_search_parse(WEB_SEARCH_SEARXNG, "{\"results\":4}", 13, 5,
			       err, sizeof(err)) == NULL);
	CHECK(web_search_parse(WEB_SEARCH_SEARXNG, "[", 1, 5, err,
			       sizeof(err)) == NULL);
}

int main(void)
{
	RUN(test_classifier);
	RUN(test_policy);
	RUN(test_page);
	RUN(test_search_parse);
	return ZGT_DONE();
}
