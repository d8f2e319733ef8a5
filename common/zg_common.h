/* zg_common: small helpers every part of zonegate shares, written once so
 * their checks cannot drift apart: the file:line error formatter, the
 * bounded integer parser and the listen-address parser. Caps are here. */
#ifndef ZG_COMMON_H
#define ZG_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Caps of the listen-address parser. A unix socket path must fit
 * sockaddr_un.sun_path (108 bytes with its NUL); a host name is at most
 * 253 characters (DNS), an IPv6 literal fewer. */
#define ZG_ADDR_HOST_MAX 253
#define ZG_ADDR_PATH_MAX 107
/* The longest decimal zg_parse_int reads (sign and digits): longer text
 * cannot be in any range it accepts. */
#define ZG_NUM_TEXT_MAX 20

/* Writes "FILE:LINE: MESSAGE" (or "FILE: MESSAGE" when line < 1) into buf,
 * truncated to len bytes with its NUL, never inside a UTF-8 character.
 * buf may be NULL when len is 0. Always returns -1, so a parser can end a
 * failing path with `return zg_errf(...)`. */
int zg_errf(char *buf, size_t len, const char *file, long line, const char *fmt,
	    ...) __attribute__((format(printf, 5, 6)));
/* zg_errf with a va_list. */
int zg_verrf(char *buf, size_t len, const char *file, long line,
	     const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* The line (from 1) of the first `"key"` used as a key in JSON text at or
 * after byte *from (from may be NULL: from the start); *from then moves
 * past it, so that a lookup of a nested key stays inside its object.
 * Returns 1 when the key is not found. For file:line errors about keys
 * of a parsed document. */
long zg_json_key_line(const char *text, const char *key, size_t *from);

/* Parses s, a decimal integer in [min, max], into *out. s must be all of
 * the number: an optional '-' then 1..ZG_NUM_TEXT_MAX digits, nothing
 * before or after (no space, '+', hex, suffix). Returns 0, or -1 with *out
 * unchanged (empty, not a number, trailing text, out of range, overflow). */
int zg_parse_int(const char *s, long long min, long long max, long long *out);

/* Parses the decimal digits that s starts with (1..ZG_NUM_TEXT_MAX of
 * them: no sign, no space, no '+') as a number in [min, max] into *out.
 * With end NULL nothing may follow the digits; otherwise *end gets the
 * first byte after them (a unit, a separator) for the caller to check.
 * Returns 0, or -1 with *out and *end unchanged (no digit first, too
 * many digits, out of range, overflow, or text after when end is NULL).
 * For numbers in text that arrives from outside: sizes, ids, cursors. */
int zg_parse_uint(const char *s, const char **end, uint64_t min, uint64_t max,
		  uint64_t *out);

/* A listen address: "HOST:PORT" ("[IPV6]:PORT" for an IPv6 literal) or
 * "unix:PATH". */
enum zg_addr_kind { ZG_ADDR_TCP, ZG_ADDR_UNIX };

struct zg_listen_addr {
	enum zg_addr_kind kind;
	char host[ZG_ADDR_HOST_MAX + 1]; /* TCP: no brackets */
	unsigned short port;		 /* TCP: 0 means any free port */
	char path[ZG_ADDR_PATH_MAX + 1]; /* UNIX: as given */
};

/* Flags of zg_parse_listen_addr. */
#define ZG_ADDR_UNIX_OK 0x1  /* accept unix:PATH */
#define ZG_ADDR_NO_TCP 0x2   /* refuse HOST:PORT */
#define ZG_ADDR_LOOPBACK 0x4 /* HOST must be 127.0.0.1, ::1 or localhost */

/* Parses s into *out under flags. A host is 1..ZG_ADDR_HOST_MAX
 * characters of letters, digits, '.', '-' and (bracketed IPv6 only) ':';
 * the port is 0..65535 (zg_parse_int). A path is 1..ZG_ADDR_PATH_MAX bytes
 * with no control character. Returns 0, or -1 with a message in err (which
 * quotes at most 64 bytes of s); *out is then unspecified. The caller adds
 * which option or key the address came from. */
int zg_parse_listen_addr(const char *s, unsigned flags,
			 struct zg_listen_addr *out, char *err, size_t errlen);

#endif
