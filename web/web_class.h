/* The address classifier (web_class.c), shared by the web tools and the
 * egress proxy of sandboxed zones; it needs nothing but libc. */
#ifndef WEB_CLASS_H
#define WEB_CLASS_H

#include <sys/socket.h>

/* Why an address may not be reached (e.g. "loopback", "private",
 * "cloud metadata"), or NULL if it is a public address. IPv4-mapped,
 * IPv4-compatible, NAT64 and 6to4 IPv6 addresses are judged by the IPv4
 * address they carry. */
const char *web_addr_forbidden(const struct sockaddr *sa);

#endif
