/* The bounded message queue (zg_queue.h): a singly linked FIFO of items
 * allocated with their data, counted in items and data bytes, refusing a
 * push that would pass a cap before anything is allocated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zg_queue.h"

void zg_queue_init(struct zg_queue *q, size_t max_items, size_t max_bytes)
{
	q->head = q->tail = NULL;
	q->n = q->bytes = 0;
	q->max_items = max_items;
	q->max_bytes = max_bytes;
}

int zg_queue_fits(const struct zg_queue *q, size_t len)
{
	if (q->max_items && q->n >= q->max_items)
		return 0;
	if (q->max_bytes &&
	    (len > q->max_bytes || q->bytes > q->max_bytes - len))
		return 0;
	return 1;
}

struct zg_qitem *zg_qitem_new(const void *a, size_t alen, const void *b,
			      size_t blen)
{
	struct zg_qitem *it;

	if (alen > SIZE_MAX - blen || alen + blen > SIZE_MAX - sizeof(*it) - 1)
		return NULL;
	it = malloc(sizeof(*it) + alen + blen + 1);
	if (!it)
		return NULL;
	it->next = NULL;
	it->len = alen + blen;
	it->tag = 0;
	it->ptr = NULL;
	if (alen)
		memcpy(it->data, a, alen);
	if (blen)
		memcpy(it->data + alen, b, blen);
	it->data[it->len] = '\0';
	return it;
}

void zg_qitem_free(struct zg_qitem *it)
{
	free(it);
}

/* Links it at the tail and counts it. */
static void append(struct zg_queue *q, struct zg_qitem *it)
{
	it->next = NULL;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->n++;
	q->bytes += it->len;
}

int zg_queue_push(struct zg_queue *q, const void *a, size_t alen, const void *b,
		  size_t blen, uint64_t tag, void *ptr)
{
	struct zg_qitem *it;

	if (alen > SIZE_MAX - blen)
		return ZG_QUEUE_ENOMEM;
	if (!zg_queue_fits(q, alen + blen))
		return ZG_QUEUE_EFULL;
	it = zg_qitem_new(a, alen, b, blen);
	if (!it)
		return ZG_QUEUE_ENOMEM;
	it->tag = tag;
	it->ptr = ptr;
	append(q, it);
	return ZG_QUEUE_OK;
}

int zg_queue_push_item(struct zg_queue *q, struct zg_qitem *it, int force)
{
	if (!force && !zg_queue_fits(q, it->len))
		return ZG_QUEUE_EFULL;
	append(q, it);
	return ZG_QUEUE_OK;
}

struct zg_qitem *zg_queue_peek(const struct zg_queue *q)
{
	return q->head;
}

struct zg_qitem *zg_queue_next(const struct zg_qitem *it)
{
	return it ? it->next : NULL;
}

struct zg_qitem *zg_queue_pop(struct zg_queue *q)
{
	struct zg_qitem *it = q->head;

	if (!it)
		return NULL;
	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	q->bytes -= it->len;
	it->next = NULL;
	return it;
}

void zg_queue_move(struct zg_queue *dst, struct zg_queue *src)
{
	if (!src->head)
		return;
	if (dst->tail)
		dst->tail->next = src->head;
	else
		dst->head = src->head;
	dst->tail = src->tail;
	dst->n += src->n;
	dst->bytes += src->bytes;
	src->head = src->tail = NULL;
	src->n = src->bytes = 0;
}

void zg_queue_clear(struct zg_queue *q)
{
	struct zg_qitem *it;

	for (it = zg_queue_pop(q); it; it = zg_queue_pop(q))
		free(it);
}

size_t zg_queue_count(const struct zg_queue *q)
{
	return q->n;
}

size_t zg_queue_bytes(const struct zg_queue *q)
{
	return q->bytes;
}

size_t zg_queue_mem(const struct zg_queue *q)
{
	return q->bytes + q->n * ZG_QITEM_OVERHEAD;
}
