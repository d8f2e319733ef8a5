/* Unit tests of the bounded queue (common/queue.c): caps on items and on
 * bytes refuse a push before anything is queued, with ZG_QUEUE_EFULL; a
 * forced push passes the caps but is counted; the byte accounting follows
 * every push, pop, move and clear; order is first in, first out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zg_queue.h"
#include "zgtest.h"

static void test_fifo(void)
{
	struct zg_queue q;
	struct zg_qitem *it;

	zg_queue_init(&q, 0, 0);
	CHECK(zg_queue_peek(&q) == NULL);
	CHECK(zg_queue_pop(&q) == NULL);
	CHECK_EQ_INT(zg_queue_push(&q, "ab", 2, "cde", 3, 7, &q), ZG_QUEUE_OK);
	CHECK_EQ_INT(zg_queue_push(&q, NULL, 0, "xy", 2, 8, NULL), ZG_QUEUE_OK);
	CHECK_EQ_INT(zg_queue_push(&q, NULL, 0, NULL, 0, 9, NULL), ZG_QUEUE_OK);
	CHECK_EQ_INT(zg_queue_count(&q), 3);
	CHECK_EQ_INT(zg_queue_bytes(&q), 7);
	CHECK_EQ_INT(zg_queue_mem(&q), 7 + 3 * ZG_QITEM_OVERHEAD);
	/* peek and next walk without taking */
	it = zg_queue_peek(&q);
	CHECK_STR((char *)it->data, "abcde");
	CHECK_EQ_INT(it->len, 5);
	CHECK(it->ptr == &q);
	CHECK_EQ_INT(zg_queue_next(it)->tag, 8);
	CHECK(zg_queue_next(zg_queue_next(zg_queue_next(it))) == NULL);
	CHECK_EQ_INT(zg_queue_count(&q), 3);
	/* pop in order, accounting down */
	it = zg_queue_pop(&q);
	CHECK_EQ_INT(it->tag, 7);
	zg_qitem_free(it);
	CHECK_EQ_INT(zg_queue_bytes(&q), 2);
	it = zg_queue_pop(&q);
	CHECK_STR((char *)it->data, "xy");
	zg_qitem_free(it);
	it = zg_queue_pop(&q);
	CHECK_EQ_INT(it->len, 0);
	CHECK_STR((char *)it->data, "");
	zg_qitem_free(it);
	CHECK(zg_queue_pop(&q) == NULL);
	CHECK_EQ_INT(zg_queue_bytes(&q), 0);
	/* usable again after it ran empty */
	CHECK_EQ_INT(zg_queue_push(&q, "z", 1, NULL, 0, 1, NULL), ZG_QUEUE_OK);
	CHECK_EQ_INT(zg_queue_peek(&q)->tag, 1);
	zg_queue_clear(&q);
	CHECK_EQ_INT(zg_queue_count(&q), 0);
	CHECK(zg_queue_peek(&q) == NULL);
}

/* The caps refuse the push that would pass them, and only that one. */
static void test_caps(void)
{
	struct zg_queue q;
	struct zg_qitem *it;
	char buf[64];

	memset(buf, 'b', sizeof(buf));
	/* items */
	zg_queue_init(&q, 3, 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(zg_queue_push(&q, buf, 1, NULL, 0, 0, NULL),
			     ZG_QUEUE_OK);
	CHECK_EQ_INT(zg_queue_push(&q, buf, 1, NULL, 0, 0, NULL),
		     ZG_QUEUE_EFULL);
	CHECK_EQ_INT(zg_queue_count(&q), 3);
	zg_qitem_free(zg_queue_pop(&q));
	CHECK_EQ_INT(zg_queue_push(&q, buf, 1, NULL, 0, 0, NULL), ZG_QUEUE_OK);
	zg_queue_clear(&q);
	/* bytes: exactly the cap fits, one more does not, in either part */
	zg_queue_init(&q, 0, 10);
	CHECK(zg_queue_fits(&q, 10));
	CHECK(!zg_queue_fits(&q, 11));
	CHECK_EQ_INT(zg_queue_push(&q, buf, 6, buf, 5, 0, NULL),
		     ZG_QUEUE_EFULL);
	CHECK_EQ_INT(zg_queue_count(&q), 0);
	CHECK_EQ_INT(zg_queue_push(&q, buf, 6, buf, 4, 0, NULL), ZG_QUEUE_OK);
	CHECK_EQ_INT(zg_queue_push(&q, buf, 1, NULL, 0, 0, NULL),
		     ZG_QUEUE_EFULL);
	CHECK_EQ_INT(zg_queue_push(&q, NULL, 0, NULL, 0, 0, NULL), ZG_QUEUE_OK);
	CHECK_EQ_INT(zg_queue_bytes(&q), 10);
	/* a size that would wrap the counters is refused, not wrapped */
	CHECK(!zg_queue_fits(&q, SIZE_MAX));
	CHECK_EQ_INT(zg_queue_push(&q, buf, SIZE_MAX, buf, 2, 0, NULL),
		     ZG_QUEUE_ENOMEM);
	CHECK(zg_qitem_new(buf, SIZE_MAX - 8, NULL, 0) == NULL);
	/* forced: over the caps, still counted */
	it = zg_qitem_new("close", 5, NULL, 0);
	CHECK(it != NULL);
	CHECK_EQ_INT(zg_queue_push_item(&q, it, 0), ZG_QUEUE_EFULL);
	CHECK_EQ_INT(zg_queue_count(&q), 2);
	CHECK_EQ_INT(zg_queue_push_item(&q, it, 1), ZG_QUEUE_OK);
	CHECK_EQ_INT(zg_queue_count(&q), 3);
	CHECK_EQ_INT(zg_queue_bytes(&q), 15);
	CHECK(!zg_queue_fits(&q, 1));
	zg_queue_clear(&q);
	CHECK_EQ_INT(zg_queue_bytes(&q), 0);
	CHECK(zg_queue_fits(&q, 10)); /* caps kept */
	CHECK(!zg_queue_fits(&q, 11));
}

/* move: a consumer takes the whole queue, the producer's stays capped. */
static void test_move(void)
{
	struct zg_queue shared, mine;
	struct zg_qitem *it;

	zg_queue_init(&shared, 2, 100);
	zg_queue_init(&mine, 0, 0);
	zg_queue_move(&mine, &shared); /* empty: nothing happens */
	CHECK(zg_queue_peek(&mine) == NULL);
	CHECK_EQ_INT(zg_queue_push(&shared, "a", 1, NULL, 0, 1, NULL), 0);
	CHECK_EQ_INT(zg_queue_push(&shared, "bb", 2, NULL, 0, 2, NULL), 0);
	CHECK_EQ_INT(zg_queue_push(&shared, "c", 1, NULL, 0, 3, NULL),
		     ZG_QUEUE_EFULL);
	zg_queue_move(&mine, &shared);
	CHECK_EQ_INT(zg_queue_count(&shared), 0);
	CHECK_EQ_INT(zg_queue_bytes(&shared), 0);
	CHECK_EQ_INT(zg_queue_count(&mine), 2);
	CHECK_EQ_INT(zg_queue_bytes(&mine), 3);
	/* the producer can queue again, up to its caps */
	CHECK_EQ_INT(zg_queue_push(&shared, "d", 1, NULL, 0, 4, NULL), 0);
	CHECK_EQ_INT(zg_queue_push(&shared, "e", 1, NULL, 0, 5, NULL), 0);
	CHECK_EQ_INT(zg_queue_push(&shared, "f", 1, NULL, 0, 6, NULL),
		     ZG_QUEUE_EFULL);
	/* appended behind what mine holds, order kept */
	zg_queue_move(&mine, &shared);
	for (uint64_t want = 1; want <= 5; want++) {
		if (want == 3)
			continue;
		it = zg_queue_pop(&mine);
		CHECK(it != NULL);
		if (!it)
			break;
		CHECK_EQ_INT(it->tag, want);
		zg_qitem_free(it);
	}
	CHECK(zg_queue_pop(&mine) == NULL);
	CHECK_EQ_INT(zg_queue_bytes(&mine), 0);
}

int main(void)
{
	RUN(test_fifo);
	RUN(test_caps);
	RUN(test_move);
	return ZGT_DONE();
}
