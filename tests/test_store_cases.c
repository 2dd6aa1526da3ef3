/*
 * test_store_cases.c: the store's case operations: create and update with
 * an expected revision, a spawn key that cannot be taken twice, history,
 * timers, idempotency keys, keyset pages, recorded workflow versions.
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
	storefix_open(&loop, &st, dir, sizeof(dir), "cases");
}

static void
teardown(void)
{
	storefix_close(&loop, st, dir);
}

TestSuite(store_cases, .init = setup, .fini = teardown);

static const uint8_t zero_hash[32];

static struct store_case_row
row(const char *id, const char *parent, const char *key, const char *status,
    int64_t rev)
{
	struct store_case_row c = {
	        .id = id,
	        .workflow = "campus_application",
	        .version = 1,
	        .status = status,
	        .data = "{\"campus\":\"uc-davis\"}",
	        .parent_id = parent,
	        .root_id = parent ? parent : id,
	        .spawn_key = key,
	        .subject = "S1",
	        .owner = "uc-davis",
	        .queue = NULL,
	        .revision = rev,
	        .history_hash = zero_hash,
	        .created_at = 1000,
	        .updated_at = 1000,
	};
	return c;
}

static int
commit(struct store_batch *b, char *msg)
{
	return store_batch_commit_sync(st, b, msg, 256);
}

Test(store_cases, create_update_and_revision_conflict)
{
	struct store_batch *b = store_batch_new();
	struct store_case_row c = row("c1", NULL, NULL, "received", 1);
	struct storefix_got g = {0};
	char msg[256];

	cr_assert_eq(store_batch_case_insert(b, &c), 0);
	cr_assert_eq(commit(b, msg), 0, "%s", msg);

	c.status = "under_review";
	c.revision = 2;
	c.queue = "admissions_review";
	b = store_batch_new();
	cr_assert_eq(store_batch_case_update(b, &c, 1), 0);
	cr_assert_eq(commit(b, msg), 0, "%s", msg);

	/* a writer that read revision 1 loses */
	c.status = "denied";
	c.revision = 2;
	b = store_batch_new();
	cr_assert_eq(store_batch_case_update(b, &c, 1), 0);
	cr_assert_eq(commit(b, msg), CAIRN_ECONFLICT);

	cr_assert_eq(store_case_get(st, "c1", storefix_json, &g), 0);
	storefix_wait(&loop, &g);
	cr_assert_eq(g.status, 0);
	json_t *cs = json_object_get(g.j, "case");
	cr_assert_str_eq(json_string_value(json_object_get(cs, "status")),
	                 "under_review");
	cr_assert_eq(json_integer_value(json_object_get(cs, "revision")), 2);
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_object_get(cs, "data"), "campus")),
	                 "uc-davis");
	cr_assert(json_is_null(json_object_get(cs, "parent_id")));
	json_decref(g.j);

	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_case_get(st, "nope", storefix_json, &g), 0);
	storefix_wait(&loop, &g);
	cr_assert_eq(g.status, CAIRN_ENOTFOUND);
	cr_assert_null(g.j);
}

Test(store_cases, a_spawn_key_is_taken_once)
{
	struct store_batch *b = store_batch_new();
	struct store_case_row p = row("p1", NULL, NULL, "submitted", 1);
	struct store_case_row c1 =
	        row("k1", "p1", "campus:uc-davis", "received", 1);
	struct store_case_row c2 =
	        row("k2", "p1", "campus:uc-davis", "received", 1);
	struct store_case_row c3 =
	        row("k3", "p1", "campus:uc-merced", "received", 1);
	struct storefix_got g = {0};
	char msg[256];

	store_batch_case_insert(b, &p);
	store_batch_case_insert(b, &c1);
	cr_assert_eq(commit(b, msg), 0, "%s", msg);
	/* a retry spawning the same campus fails as a whole */
	b = store_batch_new();
	store_batch_case_insert(b, &c3);
	store_batch_case_insert(b, &c2);
	cr_assert_eq(commit(b, msg), CAIRN_ECONFLICT);
	cr_assert_eq(store_case_get(st, "p1", storefix_json, &g), 0);
	storefix_wait(&loop, &g);
	json_t *kids = json_object_get(g.j, "children");
	cr_assert_eq(json_array_size(kids), 1);
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_array_get(kids, 0), "spawn_key")),
	                 "campus:uc-davis");
	json_decref(g.j);
}

Test(store_cases, history_in_order)
{
	struct store_batch *b = store_batch_new();
	struct store_case_row c = row("h1", NULL, NULL, "received", 1);
	uint8_t h[32];
	struct storefix_got g = {0};
	char msg[256];

	memset(h, 0xab, sizeof(h));
	store_batch_case_insert(b, &c);
	for (int i = 1; i <= 3; i++) {
		struct store_history_row hr = {
		        .case_id = "h1",
		        .seq = i,
		        .at = 1000 + i,
		        .actor = "tok_1",
		        .type = i == 1 ? "created" : "decide",
		        .from_status = i == 1 ? NULL : "received",
		        .to_status = "received",
		        .payload = "{\"n\":1}",
		        .workflow_version = 1,
		        .hash = h};
		cr_assert_eq(store_batch_history_append(b, &hr), 0);
	}
	cr_assert_eq(commit(b, msg), 0, "%s", msg);
	cr_assert_eq(store_case_history(st, "h1", storefix_json, &g), 0);
	storefix_wait(&loop, &g);
	cr_assert_eq(json_array_size(g.j), 3);
	json_t *e = json_array_get(g.j, 0);
	cr_assert_eq(json_integer_value(json_object_get(e, "seq")), 1);
	cr_assert(json_is_null(json_object_get(e, "from_status")));
	cr_assert_eq(json_integer_value(json_object_get(
	                     json_object_get(e, "payload"), "n")),
	             1);
	cr_assert_eq(strlen(json_string_value(json_object_get(e, "hash"))), 64);
	json_decref(g.j);
	/* a sequence number is taken once */
	b = store_batch_new();
	struct store_history_row dup = {.case_id = "h1",
	                                .seq = 2,
	                                .at = 1,
	                                .actor = "x",
	                                .type = "y",
	                                .payload = "{}",
	                                .hash = h};
	store_batch_history_append(b, &dup);
	cr_assert_eq(commit(b, msg), CAIRN_ECONFLICT);
}

Test(store_cases, timers_due_and_next)
{
	struct store_batch *b = store_batch_new();
	struct storefix_got g = {0};
	char msg[256];

	store_batch_timer_set(b, "a", "documents_due", 100,
	                      "timer.documents_due");
	store_batch_timer_set(b, "b", "documents_due", 200,
	                      "timer.documents_due");
	store_batch_timer_set(b, "c", "sla", 900, "timer.sla");
	store_batch_timer_set(b, "a", "documents_due", 150,
	                      "timer.documents_due");
	cr_assert_eq(commit(b, msg), 0, "%s", msg);
	cr_assert_eq(store_timers_due(st, 500, 10, storefix_json, &g), 0);
	storefix_wait(&loop, &g);
	json_t *due = json_object_get(g.j, "due");
	cr_assert_eq(json_array_size(due), 2);
	cr_assert_eq(json_integer_value(
	                     json_object_get(json_array_get(due, 0), "due_at")),
	             150);
	cr_assert_eq(json_integer_value(json_object_get(g.j, "next_due")), 900);
	json_decref(g.j);

	/* firing removes only the timer that came due */
	b = store_batch_new();
	store_batch_timer_fired(b, "a", "documents_due", 100);
	cr_assert_eq(commit(b, msg), CAIRN_ENOTFOUND);
	b = store_batch_new();
	store_batch_timer_fired(b, "a", "documents_due", 150);
	store_batch_timer_cancel(b, "b", NULL);
	cr_assert_eq(commit(b, msg), 0, "%s", msg);
	memset(&g, 0, sizeof(g));
	store_timers_due(st, 10000, 10, storefix_json, &g);
	storefix_wait(&loop, &g);
	cr_assert_eq(json_array_size(json_object_get(g.j, "due")), 1);
	cr_assert(json_is_null(json_object_get(g.j, "next_due")));
	json_decref(g.j);
}

Test(store_cases, idempotency_keys)
{
	struct store_batch *b = store_batch_new();
	uint8_t h[32] = {1, 2, 3};
	struct storefix_got g = {0};
	char msg[256];

	store_batch_idem_put(b, "k-1", h, 201, "{\"id\":\"c1\"}", 5);
	cr_assert_eq(commit(b, msg), 0, "%s", msg);
	store_idem_get(st, "k-1", storefix_json, &g);
	storefix_wait(&loop, &g);
	cr_assert_eq(g.status, 0);
	cr_assert_eq(json_integer_value(json_object_get(g.j, "status")), 201);
	cr_assert_str_eq(json_string_value(json_object_get(g.j, "response")),
	                 "{\"id\":\"c1\"}");
	cr_assert_eq(
	        strncmp(json_string_value(json_object_get(g.j, "body_hash")),
	                "010203", 6),
	        0);
	json_decref(g.j);
	b = store_batch_new();
	store_batch_idem_put(b, "k-1", h, 201, "{}", 6);
	cr_assert_eq(commit(b, msg), CAIRN_EREPLAY);
}

Test(store_cases, keyset_pages_and_filters)
{
	struct store_batch *b = store_batch_new();
	char ids[25][16], msg[256];
	struct storefix_got g = {0};
	size_t total = 0;
	char cursor[16] = "";

	for (int i = 0; i < 25; i++) {
		snprintf(ids[i], sizeof(ids[i]), "c%02d", i);
		struct store_case_row c = row(ids[i], NULL, NULL,
		                              i % 2 ? "admitted" : "denied", 1);
		store_batch_case_insert(b, &c);
	}
	cr_assert_eq(commit(b, msg), 0, "%s", msg);
	for (;;) {
		struct store_case_filter f = {.status = "admitted",
		                              .limit = 5,
		                              .after = cursor[0] ? cursor
		                                                 : NULL};

		memset(&g, 0, sizeof(g));
		cr_assert_eq(store_case_list(st, &f, storefix_json, &g), 0);
		storefix_wait(&loop, &g);
		cr_assert_eq(g.status, 0);
		json_t *cs = json_object_get(g.j, "cases");
		total += json_array_size(cs);
		for (size_t i = 0; i < json_array_size(cs); i++)
			cr_assert_str_eq(
			        json_string_value(json_object_get(
			                json_array_get(cs, i), "status")),
			        "admitted");
		json_t *next = json_object_get(g.j, "next");
		if (json_is_null(next)) {
			json_decref(g.j);
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
		json_decref(g.j);
	}
	cr_assert_eq(total, 12);
}

Test(store_cases, workflow_versions_recorded_once)
{
	struct store_batch *b = store_batch_new();
	json_t *all = NULL;
	char msg[256];

	store_batch_workflow_put(b, "campus_application", 1, "aa", "{}", 1);
	store_batch_workflow_put(b, "campus_application", 1, "aa", "{}", 2);
	store_batch_workflow_put(b, "campus_application", 2, "bb", "{}", 3);
	cr_assert_eq(commit(b, msg), 0, "%s", msg);
	cr_assert_eq(store_workflows_sync(st, &all), 0);
	cr_assert_eq(json_array_size(all), 2);
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_array_get(all, 1), "hash")),
	                 "bb");
	json_decref(all);
}

Test(store_cases, alerts_open_once_per_kind)
{
	struct store_batch *b = store_batch_new();
	char msg[256];

	store_batch_alert_add(b, "c1", "incomplete", "warning", "counselor",
	                      "documents missing", "incomplete", 1);
	store_batch_alert_add(b, "c1", "incomplete", "warning", "counselor",
	                      "documents missing", "incomplete", 2);
	store_batch_outbox_add(b, "c1", "uc_campus", "submit", "c1:submit:1",
	                       "{}", 3);
	cr_assert_eq(commit(b, msg), 0, "%s", msg);
	b = store_batch_new();
	store_batch_outbox_add(b, "c1", "uc_campus", "submit", "c1:submit:1",
	                       "{}", 4);
	cr_assert_eq(commit(b, msg), CAIRN_ECONFLICT);
}
