/* Fuzz target: the bytes are a program of queue operations (push, forced
 * push, pop, move, clear) on two capped queues, checked against a model:
 * the counts and bytes match, no push passes a cap unless forced, and
 * pops come back in order with their contents intact. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zg_queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODEL_MAX 4096

struct model {
	uint64_t tag[MODEL_MAX];
	size_t len[MODEL_MAX];
	size_t head, n, bytes;
};

static void model_push(struct model *m, uint64_t tag, size_t len)
{
	m->tag[(m->head + m->n) % MODEL_MAX] = tag;
	m->len[(m->head + m->n) % MODEL_MAX] = len;
	m->n++;
	m->bytes += len;
}

static void check(const struct zg_queue *q, const struct model *m)
{
	if (zg_queue_count(q) != m->n || zg_queue_bytes(q) != m->bytes)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m[2];
	struct zg_queue q[2];
	uint8_t buf[256];
	uint64_t next_tag = 1;
	struct zg_qitem *it;

	if (size < 2 || size > 2048)
		return 0;
	memset(m, 0, sizeof(m));
	zg_queue_init(&q[0], data[0] % 8, data[1]);
	zg_queue_init(&q[1], 0, 0);
	for (size_t i = 2; i < size; i++) {
		unsigned op = data[i] & 7, w = (data[i] >> 3) & 1;
		size_t len = data[i] >> 4;
		int rc, fits = zg_queue_fits(&q[w], len * 3);

		switch (op) {
		case 0:
		case 1:
		case 2:
			memset(buf, (int)(next_tag & 0xFF), len * 3);
			rc = zg_queue_push(&q[w], buf, len, buf + len, len * 2,
					   next_tag, NULL);
			if (rc == ZG_QUEUE_OK && !fits)
				abort();
			if (rc == ZG_QUEUE_EFULL && fits)
				abort();
			/* at most 2046 operations: the model never fills */
			if (rc == ZG_QUEUE_OK)
				model_push(&m[w], next_tag, len * 3);
			next_tag++;
			break;
		case 3:
			it = zg_qitem_new(buf, len, NULL, 0);
			if (!it)
				break;
			memset(it->data, (int)(next_tag & 0xFF), len);
			it->tag = next_tag++;
			zg_queue_push_item(&q[w], it, 1);
			model_push(&m[w], it->tag, len);
			break;
		case 4:
		case 5:
			it = zg_queue_pop(&q[w]);
			if (!it != !m[w].n)
				abort();
			if (!it)
				break;
			if (it->tag != m[w].tag[m[w].head] ||
			    it->len != m[w].len[m[w].head] ||
			    it->data[it->len] != '\0')
				abort();
			for (size_t k = 0; k < it->len; k++)
				if (it->data[k] != (uint8_t)(it->tag & 0xFF))
					abort();
			m[w].head = (m[w].head + 1) % MODEL_MAX;
			m[w].n--;
			m[w].bytes -= it->len;
			zg_qitem_free(it);
			break;
		case 6:
			zg_queue_move(&q[1 - w], &q[w]);
			while (m[w].n) {
				model_push(&m[1 - w], m[w].tag[m[w].head],
					   m[w].len[m[w].head]);
				m[w].head = (m[w].head + 1) % MODEL_MAX;
				m[w].n--;
			}
			m[w].bytes = 0;
			break;
		default:
			zg_queue_clear(&q[w]);
			memset(&m[w], 0, sizeof(m[w]));
			break;
		}
		check(&q[0], &m[0]);
		check(&q[1], &m[1]);
	}
	zg_queue_clear(&q[0]);
	zg_queue_clear(&q[1]);
	return 0;
}
