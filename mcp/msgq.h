/* A FIFO of whole messages (bytes copied in), counting messages and
 * bytes so that its owner can cap both: the queue of an upstream link
 * waiting for initialize in the gateway and of a session of the MCP HTTP
 * client. No locking: one thread owns a queue. */
#ifndef MCP_MSGQ_H
#define MCP_MSGQ_H

#include <stddef.h>

struct mcp_msg {
	struct mcp_msg *next;
	size_t len;
	char data[]; /* len bytes, then a NUL */
};

struct mcp_msgq {
	struct mcp_msg *head, *tail;
	size_t n, bytes;
};

/* Appends a copy of data[0..len). 0, or -1 when out of memory (q is
 * unchanged). The caller checks its caps (q->n, q->bytes) first. */
int mcp_msgq_push(struct mcp_msgq *q, const char *data, size_t len);
/* Takes the oldest message off q (NULL if empty); the caller frees it. */
struct mcp_msg *mcp_msgq_pop(struct mcp_msgq *q);
/* Frees every message; q is empty after. */
void mcp_msgq_clear(struct mcp_msgq *q);

#endif
