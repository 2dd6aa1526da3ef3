/*
 * test_outbox_scan.c: the outbox's scan of due rows (store_outbox_due).
 * The rows the outbox already holds are named by id and left out of the
 * answer, but still counted, so the outbox can tell a full page of due
 * rows from the end of them; rows not yet due are not returned, and the
 * next due time is.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../store/store.h"
#include "storefix.h"

static uv_loop_t loop;
static struct store *st;
static char dir[64];

static void
setup(void)
{
	storefix_open(&loop, &st, dir, sizeof(dir), "obscan");
}

static void
teardown(void)
{
	storefix_close(&loop, st, dir);
}

TestSuite(outbox_scan, .init = setup, .fini = teardown);

static json_t *
due(int64_t now, int limit, const int64_t *known, size_t n)
{
	struct storefix_got g = {0};

	cr_assert_eq(
	        store_outbox_due(st, now, limit, known, n, storefix_json, &g),
	        0);
	while (!g.done)
		uv_run(&loop, UV_RUN_ONCE);
	cr_assert_eq(g.status, 0);
	return g.j;
}

static int64_t
id_at(const json_t *res, size_t i)
{
	return json_integer_value(json_object_get(
	        json_array_get(json_object_get(res, "due"), i), "id"));
}

Test(outbox_scan, held_rows_are_counted_but_not_read_again)
{
	struct store_batch *b = store_batch_new();
	char key[32], msg[256];
	json_t *r, *all;
	int64_t ids[6], known[3];

	/* six rows due at 100..600 and one not due before 5,000 */
	for (int i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		cr_assert_eq(store_batch_outbox_add(
		                     b, "c1", "uc", "send", key, "{\"n\":1}",
		                     i < 6 ? 100 * (i + 1) : 5000),
		             0);
	}
	cr_assert_eq(store_batch_commit_sync(st, b, msg, sizeof(msg)), 0, "%s",
	             msg);
	all = due(1000, 100, NULL, 0);
	cr_assert_eq(json_array_size(json_object_get(all, "due")), 6);
	cr_assert_eq(json_integer_value(json_object_get(all, "seen")), 6);
	cr_assert_eq(json_integer_value(json_object_get(all, "next_due")),
	             5000);
	for (size_t i = 0; i < 6; i++)
		ids[i] = id_at(all, i);
	cr_assert_eq(
	        json_integer_value(json_object_get(
	                json_object_get(
	                        json_array_get(json_object_get(all, "due"), 0),
	                        "payload"),
	                "n")),
	        1);

	/* the outbox holds the first, third and sixth */
	known[0] = ids[5];
	known[1] = ids[0];
	known[2] = ids[2];
	r = due(1000, 100, known, 3);
	cr_assert_eq(json_integer_value(json_object_get(r, "seen")), 6);
	cr_assert_eq(json_array_size(json_object_get(r, "due")), 3);
	cr_assert_eq(id_at(r, 0), ids[1]);
	cr_assert_eq(id_at(r, 1), ids[3]);
	cr_assert_eq(id_at(r, 2), ids[4]);
	cr_assert(json_equal(json_array_get(json_object_get(r, "due"), 0),
	                     json_array_get(json_object_get(all, "due"), 1)));
	json_decref(r);

	/* a page: the held rows use up the limit too */
	r = due(1000, 2, known, 3);
	cr_assert_eq(json_integer_value(json_object_get(r, "seen")), 2);
	cr_assert_eq(json_array_size(json_object_get(r, "due")), 1);
	cr_assert_eq(id_at(r, 0), ids[1]);
	json_decref(r);

	/* ids that are not rows change nothing */
	known[0] = 999999;
	known[1] = -5;
	r = due(1000, 100, known, 2);
	cr_assert_eq(json_array_size(json_object_get(r, "due")), 6);
	json_decref(r);
	json_decref(all);
}
