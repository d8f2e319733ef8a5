/* The attack battery of a compromised agent (zonegate-agent --compromise):
 * what a prompt injection that took over an agent's code tries against the
 * host, the knowledge base, the key and the other agents, with every tool
 * call on the agent's own MCP client. docs/pipeline.md, "The attack
 * battery". */
#ifndef ZONEGATE_AGENT_ATTACK_H
#define ZONEGATE_AGENT_ATTACK_H

#include <jansson.h>
#include <stddef.h>

#include "agent.h"

#define AG_ATTACK_MAX_TARGETS (1u << 20) /* bytes of TARGETS.json */
#define AG_ATTACK_MAX_LIST 32		 /* entries of one targets list */
#define AG_ATTACK_MAX_STR 4096		 /* bytes of one targets string */
#define AG_ATTACK_MAX_READ (64u * 1024)	 /* bytes read of one file/reply */
#define AG_ATTACK_MS 5000		 /* one attack's deadline */
/* the whole battery's: below the 20 s zonectl up waits for a zone that
 * is both agent and tool to be ready (the battery runs before it serves) */
#define AG_ATTACK_TOTAL_MS 18000

/* Reads and checks the targets file path (a JSON object, at most
 * AG_ATTACK_MAX_TARGETS bytes, every key known and of its type, network
 * addresses loopback only). Returns the targets (new reference, the
 * caller frees it) or NULL with the reason in err. */
json_t *ag_attack_load(const char *path, char *err, size_t errlen);

/* The same check of len bytes of buf (name in messages). */
json_t *ag_attack_parse(const char *buf, size_t len, const char *name,
			char *err, size_t errlen);

/* Runs the battery of cfg->role against targets (borrowed): each attack
 * within AG_ATTACK_MS, all of them within AG_ATTACK_TOTAL_MS, tool calls
 * through its own session of the agent's client (closed before it
 * returns). Writes a line per attack to stderr. Returns the results
 * object {"agent", "attacks": [...]} (new reference), NULL out of memory. */
json_t *ag_attack_run(const struct ag_config *cfg, json_t *targets);

/* The whole of --compromise: loads targets_path, runs the battery and
 * writes the results to out_path atomically (out_path NULL: stderr
 * only). Returns 0, or -1 after printing why to stderr (bad targets, the
 * results not written). */
int ag_attack_main(const struct ag_config *cfg, const char *targets_path,
		   const char *out_path);

#endif
