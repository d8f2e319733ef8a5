/* Unit tests of zg_common (common/): the file:line error formatter, the
 * bounded integer parser and the listen-address parser, each against the
 * hostile inputs their callers get from command lines and config files:
 * overflow, trailing junk, empty text, signs, spaces, IPv6 brackets,
 * oversize hosts and paths, truncation inside a UTF-8 character. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "zg_common.h"
#include "zgtest.h"

/* 1 if s is well-formed UTF-8 (enough for the checks below). */
static int utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80	      ? 0
			: (*p & 0xE0) == 0xC0 ? 1
			: (*p & 0xF0) == 0xE0 ? 2
			: (*p & 0xF8) == 0xF0 ? 3
					      : -1;
		if (n < 0)
			return 0;
		p++;
		for (int i = 0; i < n; i++, p++)
			if ((*p & 0xC0) != 0x80)
				return 0;
	}
	return 1;
}

static void test_errf(void)
{
	char buf[64], small[12];

	CHECK_EQ_INT(zg_errf(buf, sizeof(buf), "a.policy", 7, "bad %s", "x"),
		     -1);
	CHECK_STR(buf, "a.policy:7: bad x");
	zg_errf(buf, sizeof(buf), "gw.json", 0, "no line");
	CHECK_STR(buf, "gw.json: no line");
	/* truncated, still terminated */
	zg_errf(small, sizeof(small), "file", 12, "a long message");
	CHECK_STR(small, "file:12: a ");
	/* a prefix longer than the buffer: cut, terminated */
	zg_errf(small, sizeof(small), "a-very-long-file-name", 3, "m");
	CHECK_EQ_INT(strlen(small), sizeof(small) - 1);
	/* NULL or empty buffer: nothing written, still -1 */
	CHECK_EQ_INT(zg_errf(NULL, 0, "f", 1, "m"), -1);
	/* A cut inside a character leaves no partial character: every
	 * position of the cut through two 3-byte and one 4-byte character. */
	for (size_t len = 4; len < 24; len++) {
		char b[24];
		zg_errf(b, len, "f", 1,
			"\xE2\x82\xAC\xE2\x82\xAC\xF0\x9F\x98\x80");
		CHECK(utf8_ok(b));
		CHECK(strlen(b) < len);
	}
}

static void test_parse_int(void)
{
	long long v = 42;

	CHECK_EQ_INT(zg_parse_int("0", 0, 10, &v), 0);
	CHECK_EQ_INT(v, 0);
	CHECK_EQ_INT(zg_parse_int("65535", 0, 65535, &v), 0);
	CHECK_EQ_INT(v, 65535);
	CHECK_EQ_INT(zg_parse_int("-5", -10, 10, &v), 0);
	CHECK_EQ_INT(v, -5);
	CHECK_EQ_INT(zg_parse_int("9223372036854775807", 0, LLONG_MAX, &v), 0);
	CHECK_EQ_INT(v, LLONG_MAX);
	CHECK_EQ_INT(zg_parse_int("-9223372036854775808", LLONG_MIN, 0, &v), 0);
	CHECK_EQ_INT(v, LLONG_MIN);

	v = 42;
	/* out of range, both ends */
	CHECK_EQ_INT(zg_parse_int("65536", 0, 65535, &v), -1);
	CHECK_EQ_INT(zg_parse_int("-1", 0, 65535, &v), -1);
	/* overflow of long long, and far beyond */
	CHECK_EQ_INT(zg_parse_int("9223372036854775808", 0, LLONG_MAX, &v), -1);
	CHECK_EQ_INT(zg_parse_int("-9223372036854775809", LLONG_MIN, 0, &v),
		     -1);
	CHECK_EQ_INT(zg_parse_int("99999999999999999999999999", 0, LLONG_MAX,
				  &v),
		     -1);
	/* a negative where strtoul would wrap to a huge positive */
	CHECK_EQ_INT(zg_parse_int("-18446744073709551615", 0, LLONG_MAX, &v),
		     -1);
	/* trailing junk, empty, signs and spaces strtoll would accept */
	CHECK_EQ_INT(zg_parse_int("80x", 0, 65535, &v), -1);
	CHECK_EQ_INT(zg_parse_int("80 ", 0, 65535, &v), -1);
	CHECK_EQ_INT(zg_parse_int("", 0, 65535, &v), -1);
	CHECK_EQ_INT(zg_parse_int("-", -10, 10, &v), -1);
	CHECK_EQ_INT(zg_parse_int(" 80", 0, 65535, &v), -1);
	CHECK_EQ_INT(zg_parse_int("+80", 0, 65535, &v), -1);
	CHECK_EQ_INT(zg_parse_int("--1", -10, 10, &v), -1);
	CHECK_EQ_INT(zg_parse_int("0x10", 0, 65535, &v), -1);
	CHECK_EQ_INT(zg_parse_int("1e3", 0, 65535, &v), -1);
	CHECK_EQ_INT(zg_parse_int(NULL, 0, 65535, &v), -1);
	/* an empty range is a caller's error, never a match */
	CHECK_EQ_INT(zg_parse_int("5", 10, 0, &v), -1);
	/* a failure leaves *out alone */
	CHECK_EQ_INT(v, 42);
}

/* Parses s under flags; returns the status, leaves the result in *a. */
static int addr(const char *s, unsigned flags, struct zg_listen_addr *a)
{
	char err[160];

	return zg_parse_listen_addr(s, flags, a, err, sizeof(err));
}

/* The unsigned parser: the whole uint64 range, a unit or separator left
 * for the caller, and no sign, space or overflow that strtoull would take
 * (strtoull reads "-1" as 18446744073709551615). */
static void test_parse_uint(void)
{
	const char *end = NULL;
	uint64_t v = 42;

	CHECK_EQ_INT(zg_parse_uint("18446744073709551615", NULL, 0, UINT64_MAX,
				   &v),
		     0);
	CHECK(v == UINT64_MAX);
	CHECK_EQ_INT(zg_parse_uint("0", NULL, 0, 0, &v), 0);
	CHECK(v == 0);
	/* a suffix: returned, not parsed */
	CHECK_EQ_INT(zg_parse_uint("30s", &end, 1, 100, &v), 0);
	CHECK(v == 30);
	CHECK_STR(end, "s");
	CHECK_EQ_INT(zg_parse_uint("7_12", &end, 0, 0xffffffffu, &v), 0);
	CHECK_STR(end, "_12");
	/* ... refused when no end is asked for */
	CHECK_EQ_INT(zg_parse_uint("30s", NULL, 1, 100, &v), -1);

	v = 42;
	end = NULL;
	CHECK_EQ_INT(zg_parse_uint("18446744073709551616", NULL, 0, UINT64_MAX,
				   &v),
		     -1);
	CHECK_EQ_INT(zg_parse_uint("99999999999999999999", &end, 0, UINT64_MAX,
				   &v),
		     -1);
	/* more digits than any number in range, even as leading zeros */
	CHECK_EQ_INT(zg_parse_uint("000000000000000000001", NULL, 0, 10, &v),
		     -1);
	CHECK_EQ_INT(zg_parse_uint("-1", NULL, 0, UINT64_MAX, &v), -1);
	CHECK_EQ_INT(zg_parse_uint("+1", NULL, 0, UINT64_MAX, &v), -1);
	CHECK_EQ_INT(zg_parse_uint(" 1", &end, 0, UINT64_MAX, &v), -1);
	CHECK_EQ_INT(zg_parse_uint("", &end, 0, UINT64_MAX, &v), -1);
	CHECK_EQ_INT(zg_parse_uint("s", &end, 0, UINT64_MAX, &v), -1);
	CHECK_EQ_INT(zg_parse_uint("0", NULL, 1, 10, &v), -1);
	CHECK_EQ_INT(zg_parse_uint("11", NULL, 1, 10, &v), -1);
	CHECK_EQ_INT(zg_parse_uint("5", NULL, 10, 1, &v), -1);
	CHECK_EQ_INT(zg_parse_uint(NULL, NULL, 0, 1, &v), -1);
	/* a failure leaves *out and *end alone */
	CHECK(v == 42);
	CHECK(end == NULL);
}

static void test_addr_tcp(void)
{
	struct zg_listen_addr a;
	char host[ZG_ADDR_HOST_MAX + 16];

	CHECK_EQ_INT(addr("127.0.0.1:8080", 0, &a), 0);
	CHECK_EQ_INT(a.kind, ZG_ADDR_TCP);
	CHECK_STR(a.host, "127.0.0.1");
	CHECK_EQ_INT(a.port, 8080);
	CHECK_EQ_INT(addr("localhost:0", 0, &a), 0);
	CHECK_STR(a.host, "localhost");
	CHECK_EQ_INT(a.port, 0);
	CHECK_EQ_INT(addr("[::1]:65535", 0, &a), 0);
	CHECK_STR(a.host, "::1");
	CHECK_EQ_INT(a.port, 65535);
	CHECK_EQ_INT(addr("[fe80::1]:80", 0, &a), 0);
	CHECK_STR(a.host, "fe80::1");

	/* IPv6 brackets: missing, unbalanced, empty, extra, not IPv6 */
	CHECK_EQ_INT(addr("::1:8080", 0, &a), -1);
	CHECK_EQ_INT(addr("[::1:8080", 0, &a), -1);
	CHECK_EQ_INT(addr("[::1]8080", 0, &a), -1);
	CHECK_EQ_INT(addr("[::1]", 0, &a), -1);
	CHECK_EQ_INT(addr("[]:80", 0, &a), -1);
	CHECK_EQ_INT(addr("[127.0.0.1]:80", 0, &a), -1);
	CHECK_EQ_INT(addr("[::1]]:80", 0, &a), -1);
	CHECK_EQ_INT(addr("[fe80::1%eth0]:80", 0, &a), -1);
	/* ports: empty, overflow, negative, junk, sign */
	CHECK_EQ_INT(addr("127.0.0.1:", 0, &a), -1);
	CHECK_EQ_INT(addr("127.0.0.1:65536", 0, &a), -1);
	CHECK_EQ_INT(addr("127.0.0.1:99999999999999999999", 0, &a), -1);
	CHECK_EQ_INT(addr("127.0.0.1:-1", 0, &a), -1);
	CHECK_EQ_INT(addr("127.0.0.1:80x", 0, &a), -1);
	CHECK_EQ_INT(addr("127.0.0.1:+80", 0, &a), -1);
	CHECK_EQ_INT(addr("127.0.0.1: 80", 0, &a), -1);
	/* hosts: empty, no port, bad characters, too long */
	CHECK_EQ_INT(addr("", 0, &a), -1);
	CHECK_EQ_INT(addr(":80", 0, &a), -1);
	CHECK_EQ_INT(addr("127.0.0.1", 0, &a), -1);
	CHECK_EQ_INT(addr("local host:80", 0, &a), -1);
	CHECK_EQ_INT(addr("a/b:80", 0, &a), -1);
	memset(host, 'a', ZG_ADDR_HOST_MAX);
	snprintf(host + ZG_ADDR_HOST_MAX, 16, ":80");
	CHECK_EQ_INT(addr(host, 0, &a), 0);
	CHECK_EQ_INT(strlen(a.host), ZG_ADDR_HOST_MAX);
	memset(host, 'a', ZG_ADDR_HOST_MAX + 1);
	snprintf(host + ZG_ADDR_HOST_MAX + 1, 15, ":80");
	CHECK_EQ_INT(addr(host, 0, &a), -1);
}

static void test_addr_flags(void)
{
	struct zg_listen_addr a;
	char err[160], path[ZG_ADDR_PATH_MAX + 16];

	/* loopback only */
	CHECK_EQ_INT(addr("127.0.0.1:1", ZG_ADDR_LOOPBACK, &a), 0);
	CHECK_EQ_INT(addr("[::1]:1", ZG_ADDR_LOOPBACK, &a), 0);
	CHECK_EQ_INT(addr("localhost:1", ZG_ADDR_LOOPBACK, &a), 0);
	CHECK_EQ_INT(addr("0.0.0.0:1", ZG_ADDR_LOOPBACK, &a), -1);
	CHECK_EQ_INT(addr("localhost.evil.example:1", ZG_ADDR_LOOPBACK, &a),
		     -1);
	CHECK_EQ_INT(addr("127.0.0.1.evil:1", ZG_ADDR_LOOPBACK, &a), -1);
	/* unix: only when asked for */
	CHECK_EQ_INT(addr("unix:/run/zg.sock", 0, &a), -1);
	CHECK_EQ_INT(addr("unix:/run/zg.sock", ZG_ADDR_UNIX_OK, &a), 0);
	CHECK_EQ_INT(a.kind, ZG_ADDR_UNIX);
	CHECK_STR(a.path, "/run/zg.sock");
	CHECK_EQ_INT(addr("unix:rel/zg.sock", ZG_ADDR_UNIX_OK, &a), 0);
	CHECK_STR(a.path, "rel/zg.sock");
	CHECK_EQ_INT(addr("unix:", ZG_ADDR_UNIX_OK, &a), -1);
	CHECK_EQ_INT(addr("unix:a\nb", ZG_ADDR_UNIX_OK, &a), -1);
	memset(path, 'p', sizeof(path));
	memcpy(path, "unix:", 5);
	path[5 + ZG_ADDR_PATH_MAX] = '\0';
	CHECK_EQ_INT(addr(path, ZG_ADDR_UNIX_OK, &a), 0);
	path[5 + ZG_ADDR_PATH_MAX] = 'p';
	path[6 + ZG_ADDR_PATH_MAX] = '\0';
	CHECK_EQ_INT(addr(path, ZG_ADDR_UNIX_OK, &a), -1);
	/* unbracketed IPv6: refused, saying why */
	CHECK_EQ_INT(zg_parse_listen_addr("fe80::1:8080", 0, &a, err,
					  sizeof(err)),
		     -1);
	CHECK(strstr(err, "brackets") != NULL);
	/* unix only */
	CHECK_EQ_INT(addr("127.0.0.1:1", ZG_ADDR_UNIX_OK | ZG_ADDR_NO_TCP, &a),
		     -1);
	/* the message names what is wrong and quotes the input, capped */
	zg_parse_listen_addr("127.0.0.1:70000", 0, &a, err, sizeof(err));
	CHECK(strstr(err, "port") != NULL);
	CHECK(strstr(err, "'127.0.0.1:70000'") != NULL);
	memset(path, 'x', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	zg_parse_listen_addr(path, 0, &a, err, sizeof(err));
	CHECK(strlen(err) < 120);
}

int main(void)
{
	RUN(test_errf);
	RUN(test_parse_int);
	RUN(test_parse_uint);
	RUN(test_addr_tcp);
	RUN(test_addr_flags);
	return ZGT_DONE();
}
