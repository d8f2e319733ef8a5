/* A FIFO of whole messages with message and byte counts (msgq.h). */
#include "msgq.h"

#include <stdlib.h>
#include <string.h>

int mcp_msgq_push(struct mcp_msgq *q, const char *data, size_t len)
{
	struct mcp_msg *m = malloc(sizeof(*m) + len + 1);

	if (!m)
		return -1;
	m->next = NULL;
	m->len = len;
	memcpy(m->data, data, len);
	m->data[len] = '\0';
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->n++;
	q->bytes += len;
	return 0;
}

struct mcp_msg *mcp_msgq_pop(struct mcp_msgq *q)
{
	struct mcp_msg *m = q->head;

	if (!m)
		return NULL;
	q->head = m->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	q->bytes -= m->len;
	m->next = NULL;
	return m;
}

void mcp_msgq_clear(struct mcp_msgq *q)
{
	struct mcp_msg *m;

	while ((m = mcp_msgq_pop(q)) != NULL)
		free(m);
}
