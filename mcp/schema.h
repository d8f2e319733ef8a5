/* Validation of JSON values against JSON Schema (the subset tool input
 * schemas use; see schema.c for what is and is not checked). */
#ifndef MCP_SCHEMA_H
#define MCP_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

/* Returns 0 if instance satisfies schema, else -1 with a message naming
 * the offending path in err (e.g. "query: expected string, got integer"). */
int mcp_schema_validate(const json_t *schema, const json_t *instance, char *err,
			size_t errlen);

#endif
