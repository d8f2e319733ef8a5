/* Fuzz target: arbitrary bytes as a policy file; when it parses, a few
 * decisions, an explain and the lint (against a small fixed config) run
 * against it. */
#include "gw.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct policy *p = policy_parse_buffer("f.policy", (const char *)data,
					       size, err, sizeof(err));
	const char *tags[2] = { "t1", "research" };
	json_t *args = json_pack("{s:s}", "url", "https://example.org/x");
	struct pol_query q = { "agent-a", tags,		2,   POL_TOOL,
			       "rag",	  "rag_search", args };
	const struct pol_rule *r, *all[8];
	char *ztags[] = { "research", NULL };
	struct gw_zone zones[2] = {
		{ .name = "agent-a",
		  .role = GW_AGENT,
		  .tags = ztags,
		  .ntags = 1 },
		{ .name = "rag", .role = GW_TOOL, .domid = 1 },
	};
	struct gw_config cfg = { .zones = zones, .nzones = 2 };
	json_t *lint;

	if (p) {
		lint = policy_lint(p, &cfg);
		json_decref(lint);
		policy_decide(p, &q, &r);
		q.kind = POL_RESOURCE;
		q.tname = "rag://doc/1";
		policy_decide(p, &q, &r);
		policy_explain(p, &q, all, 8);
		policy_free(p);
	}
	json_decref(args);
	return 0;
}
