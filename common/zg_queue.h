/* zg_queue: the bounded FIFO of byte messages that every part uses to hold
 * what waits for a peer, a thread or a link (one copy of the caps, the
 * byte accounting and the list handling instead of one per part). The
 * struct is visible so that a queue can be embedded (one per stream); its
 * fields are private to queue.c: use the functions. Not thread-safe: a
 * queue shared between threads is used under its owner's lock. */
#ifndef ZG_QUEUE_H
#define ZG_QUEUE_H

#include <stddef.h>
#include <stdint.h>

/* One message: len bytes of data followed by a NUL (not counted), so
 * that text can be read in place. tag and ptr are the caller's (a stream
 * id, a kind, a sequence number, an owner); the queue never reads them. */
struct zg_qitem {
	struct zg_qitem *next; /* private */
	size_t len;
	uint64_t tag;
	void *ptr;
	unsigned char data[];
};

struct zg_queue {
	struct zg_qitem *head, *tail;
	size_t n, bytes;	     /* items held, and their data bytes */
	size_t max_items, max_bytes; /* caps; 0 means none */
};

/* Results of zg_queue_push and zg_queue_push_item. */
#define ZG_QUEUE_OK 0
#define ZG_QUEUE_ENOMEM (-1) /* no memory, or a size that overflows */
#define ZG_QUEUE_EFULL (-2)  /* over a cap: nothing queued */

/* What one item costs beyond its data (for memory budgets). */
#define ZG_QITEM_OVERHEAD (sizeof(struct zg_qitem) + 1)

/* Makes q an empty queue holding at most max_items items and max_bytes
 * data bytes (0: no cap of that kind). Allocates nothing. */
void zg_queue_init(struct zg_queue *q, size_t max_items, size_t max_bytes);

/* 1 if an item of len data bytes fits under q's caps now, else 0. */
int zg_queue_fits(const struct zg_queue *q, size_t len);

/* A new item whose data is a[0..alen) then b[0..blen) (either may be
 * NULL with length 0), with tag 0 and ptr NULL. The caller owns it (free
 * with zg_qitem_free). NULL on no memory or if the sizes overflow. */
struct zg_qitem *zg_qitem_new(const void *a, size_t alen, const void *b,
			      size_t blen);

/* Frees an item (NULL is fine). */
void zg_qitem_free(struct zg_qitem *it);

/* Appends a copy of a then b as one item with tag and ptr. Returns
 * ZG_QUEUE_OK, ZG_QUEUE_EFULL if it would pass a cap, or ZG_QUEUE_ENOMEM;
 * on failure q is unchanged. The cap is checked before allocating. */
int zg_queue_push(struct zg_queue *q, const void *a, size_t alen, const void *b,
		  size_t blen, uint64_t tag, void *ptr);

/* Appends it (from zg_qitem_new). With force, the caps are not checked
 * (for a message that must never be refused, e.g. a close prepared in
 * advance; it still counts). Returns ZG_QUEUE_OK (q owns it now) or
 * ZG_QUEUE_EFULL (the caller keeps it). */
int zg_queue_push_item(struct zg_queue *q, struct zg_qitem *it, int force);

/* The oldest item, left in q (NULL if empty). */
struct zg_qitem *zg_queue_peek(const struct zg_queue *q);

/* The item after it in its queue (NULL at the end): walks a queue from
 * zg_queue_peek without changing it. */
struct zg_qitem *zg_queue_next(const struct zg_qitem *it);

/* Removes and returns the oldest item (NULL if empty); the caller frees
 * it with zg_qitem_free. */
struct zg_qitem *zg_queue_pop(struct zg_queue *q);

/* Moves every item of src to the end of dst, whatever dst's caps (so a
 * thread can take a shared queue whole under its lock and work through it
 * after). src is left empty with its caps. */
void zg_queue_move(struct zg_queue *dst, struct zg_queue *src);

/* Frees every item; q stays usable, with its caps. */
void zg_queue_clear(struct zg_queue *q);

/* Items held, data bytes held, and the memory they take (data plus
 * ZG_QITEM_OVERHEAD each). */
size_t zg_queue_count(const struct zg_queue *q);
size_t zg_queue_bytes(const struct zg_queue *q);
size_t zg_queue_mem(const struct zg_queue *q);

#endif
