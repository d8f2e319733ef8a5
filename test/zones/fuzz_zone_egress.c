/* Fuzz target: arbitrary bytes as what a zone sends its egress proxy
 * (gateway/zone_egress.c: the SOCKS5 greeting and request, read from a
 * socket), and as a network.egress "HOST:PORT" entry. */
#include "sandbox.h"

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char host[256], text[512];
	struct zone_dest d;
	int sv[2], port;

	if (size > 4096)
		return 0; /* fits a socket buffer: no writer thread needed */
	memcpy(text, data, size < sizeof(text) ? size : sizeof(text) - 1);
	text[size < sizeof(text) ? size : sizeof(text) - 1] = 0;
	zone_dest_parse(text, &d);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	if (size && write(sv[1], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR); /* EOF after the input, no waiting */
	zone_egress_request(sv[0], 50, host, sizeof(host), &port);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
