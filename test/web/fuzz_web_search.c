/* Fuzz target: the search backends' answer parsers (SearXNG and Brave
 * JSON), IP literal parsing, --web-allow parsing, and the URL check (no
 * resolution: a host list that matches no name refuses first). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], url[WEB_MAX_URL];
	struct web_policy p = { 0 };
	struct web_target t;
	size_t i;
	json_t *r;

	for (int kind = WEB_SEARCH_SEARXNG; kind <= WEB_SEARCH_BRAVE; kind++) {
		r = web_search_parse(kind, (const char *)data, size, 20, err,
				     sizeof(err));
		for (i = 0; i < json_array_size(r); i++)
			if (!json_is_string(
				    json_object_get(json_array_get(r, i),
						    "url")))
				abort();
		if (r && json_array_size(r) > 20)
			abort();
		json_decref(r);
	}
	if (size >= sizeof(url))
		return 0;
	memcpy(url, data, size);
	url[size] = '\0';
	/* Literal parsing and classification of any spelling. */
	{
		struct sockaddr_storage ss;
		if (web_addr_literal(url, &ss) &&
		    !web_addr_forbidden((struct sockaddr *)&ss) &&
		    ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
			abort();
		if (web_policy_allow(&p, url, err, sizeof(err)) == 0 &&
		    p.nallow != 1)
			abort();
		p.nallow = 0;
	}
	p.hosts[0] = (char *)"\x01"; /* matches no host: no DNS lookups */
	p.nhosts = 1;
	if (web_policy_check(&p, url, 0, &t, err, sizeof(err)) == 0)
		abort();
	return 0;
}
