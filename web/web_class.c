/* The address classifier of zonegate's egress controls: which IP
 * addresses are not public (loopback, private, link-local, cloud
 * metadata, ...). Shared by the web tools (web_addr.c) and the egress
 * proxy of sandboxed zones (gateway/zone_egress.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "web_class.h"

/* Why an IPv4 address (host byte order) is forbidden, or NULL. */
static const char *v4_forbidden(uint32_t a)
{
	static const struct {
		uint32_t net, mask;
		const char *why;
	} nets[] = {
		{ 0xa9fea9fe, 0xffffffff,
		  "cloud metadata" }, /* 169.254.169.254 */
		{ 0x646464c8, 0xffffffff,
		  "cloud metadata" },			   /* 100.100.100.200 */
		{ 0x00000000, 0xff000000, "unspecified" }, /* 0/8 */
		{ 0x0a000000, 0xff000000, "private" },	   /* 10/8 */
		{ 0x7f000000, 0xff000000, "loopback" },	   /* 127/8 */
		{ 0xa9fe0000, 0xffff0000, "link-local" },  /* 169.254/16 */
		{ 0xac100000, 0xfff00000, "private" },	   /* 172.16/12 */
		{ 0xc0a80000, 0xffff0000, "private" },	   /* 192.168/16 */
		{ 0x64400000, 0xffc00000, "CGNAT" },	   /* 100.64/10 */
		{ 0xc0000000, 0xffffff00, "reserved" },	   /* 192.0.0/24 */
		{ 0xc0000200, 0xffffff00, "reserved" },	   /* 192.0.2/24 */
		{ 0xc6120000, 0xfffe0000, "reserved" },	   /* 198.18/15 */
		{ 0xc6336400, 0xffffff00, "reserved" },	   /* 198.51.100/24 */
		{ 0xcb007100, 0xffffff00, "reserved" },	   /* 203.0.113/24 */
		{ 0xe0000000, 0xf0000000, "multicast" },   /* 224/4 */
		{ 0xf0000000, 0xf0000000, "reserved" }, /* 240/4, broadcast */
	};
	size_t i;

	for (i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		if ((a & nets[i].mask) == nets[i].net)
			return nets[i].why;
	return NULL;
}

static uint32_t be32_at(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static int all_zero(const unsigned char *b, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* Why an IPv6 address is forbidden, or NULL. */
static const char *v6_forbidden(const unsigned char *b)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0,    0,
						  0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const unsigned char ec2[16] = {
		0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54
	}; /* fd00:ec2::254 */

	if (all_zero(b, 16))
		return "unspecified";
	if (all_zero(b, 15) && b[15] == 1)
		return "loopback";
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 ||
	    all_zero(b, 12)) /* mapped, NAT64, IPv4-compatible */
		return v4_forbidden(be32_at(b + 12));
	if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 */
		return v4_forbidden(be32_at(b + 2));
	if (memcmp(b, ec2, 16) == 0)
		return "cloud metadata";
	if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b)
		return "private"; /* 64:ff9b:1::/48, local NAT64 */
	if ((b[0] & 0xfe) == 0xfc)
		return "private"; /* fc00::/7 unique local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "link-local"; /* fe80::/10 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return "private"; /* fec0::/10 site-local */
	if (b[0] == 0xff)
		return "multicast";
	if ((b[0] == 0x01 && all_zero(b + 1, 7)) ||	     /* 100::/64 */
	    (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && /* 2001:db8:: */
	     b[3] == 0xb8) ||
	    (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0))
		return "reserved"; /* discard, documentation, Teredo */
	return NULL;
}

const char *web_addr_forbidden(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		return v4_forbidden(ntohl(s4->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		return v6_forbidden(s6->sin6_addr.s6_addr);
	}
	return "not an IP address";
}
