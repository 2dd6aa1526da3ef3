/*
 * test_famcache.c: the family cache (daemon/famcache.c). A cached family
 * stands in for a read of the store, so a row it keeps must be exactly
 * what the store gives back for the row a command wrote: the same values,
 * types, nulls and key order. Here rows in every shape a command leaves
 * them in (keys it never set, an owner of none, a deadline of 0, nested
 * data, the chain head in binary) are written as the command path writes
 * them, read back through store_family_get and compared. Then the cache
 * itself: take removes, put replaces, the oldest family leaves first, a
 * family is admitted on its second read.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../daemon/famcache.h"
#include "../store/store.h"
#include "harness.h"
#include "storefix.h"

static uv_loop_t loop;
static struct store *st;
static char dir[64];

static void
setup(void)
{
	storefix_open(&loop, &st, dir, sizeof(dir), "famcache");
}

static void
teardown(void)
{
	storefix_close(&loop, st, dir);
}

TestSuite(famcache, .init = setup, .fini = teardown);

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int64_t
jint(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* What daemon/cases.c's fam_flush binds for a row: the same reads of the
 * same keys. */
static void
write_row(json_t *r, const uint8_t *hash, int insert, int64_t read_rev)
{
	struct store_batch *b = store_batch_new();
	struct store_case_row c = {0};
	char *data = json_dumps(json_object_get(r, "data"), JSON_COMPACT);
	char msg[256];

	cr_assert_not_null(data);
	c.id = jstr(r, "id");
	c.workflow = jstr(r, "workflow");
	c.version = (int)jint(r, "version");
	c.status = jstr(r, "status");
	c.data = data;
	c.parent_id = jstr(r, "parent_id");
	c.root_id = jstr(r, "root_id");
	c.spawn_key = jstr(r, "spawn_key");
	c.subject = jstr(r, "subject");
	c.owner = jstr(r, "owner");
	c.queue = jstr(r, "queue");
	c.due_at = jint(r, "due_at");
	c.revision = jint(r, "revision");
	c.terminal = (int)jint(r, "terminal");
	c.open_children = (int)jint(r, "open_children");
	c.history_seq = jint(r, "history_seq");
	c.history_hash = hash;
	c.created_at = jint(r, "created_at");
	c.updated_at = jint(r, "updated_at");
	cr_assert_eq(insert ? store_batch_case_insert(b, &c)
	                    : store_batch_case_update(b, &c, read_rev),
	             0);
	free(data);
	cr_assert_eq(store_batch_commit_sync(st, b, msg, sizeof(msg)), 0, "%s",
	             msg);
}

static json_t *
read_family(const char *root)
{
	struct storefix_got g = {0};

	cr_assert_eq(store_family_get(st, root, storefix_json, &g), 0);
	while (!g.done)
		uv_run(&loop, UV_RUN_ONCE);
	cr_assert_eq(g.status, 0);
	return g.j;
}

/* Equal as values and in key order, as a client would see them. */
static void
assert_same(const json_t *want, const json_t *got)
{
	char *a = json_dumps(want, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *b = json_dumps(got, JSON_COMPACT | JSON_PRESERVE_ORDER);

	cr_assert(json_equal(want, got), "store: %s\ncache: %s", a, b);
	cr_assert_str_eq(a, b);
	free(a);
	free(b);
}

Test(famcache, a_kept_row_is_what_the_store_reads_back)
{
	uint8_t h1[32], h2[32];
	json_t *root, *child, *fam, *kept;

	for (int i = 0; i < 32; i++) {
		h1[i] = (uint8_t)(i * 7);
		h2[i] = (uint8_t)(255 - i);
	}
	/* a root as a command creates it: no parent or spawn key at all, no
	 * owner, no deadline, no chain head yet in the row */
	root = json_pack("{s:s, s:s, s:i, s:s, s:{s:[s,s], s:f, s:s, s:{s:b}},"
	                 " s:s, s:s, s:s, s:n, s:n, s:I, s:i, s:i, s:I, s:n,"
	                 " s:I, s:I}",
	                 "id", "01a0-root", "workflow", "student_application",
	                 "version", 2, "status", "draft", "data", "campuses",
	                 "uc-davis", "uc-irvine", "gpa", 3.75, "name",
	                 "Zo\xc3\xab \"Q\" \\ O'Neil", "flags", "late", 0,
	                 "root_id", "01a0-root", "subject", "S1", "owner", "",
	                 "queue", "due_at", "revision", (json_int_t)1,
	                 "terminal", 0, "open_children", 0, "history_seq",
	                 (json_int_t)1, "history_hash", "created_at",
	                 (json_int_t)1000, "updated_at", (json_int_t)1000);
	json_object_del(root, "owner");
	cr_assert_not_null(root);
	write_row(root, h1, 1, 0);
	/* a child in a queue with an SLA deadline, then moved on */
	child = json_pack(
	        "{s:s, s:s, s:i, s:s, s:{s:s}, s:s, s:s, s:s, s:s,"
	        " s:s, s:s, s:I, s:I, s:i, s:i, s:I, s:n, s:I, s:I}",
	        "id", "01a1-child", "workflow", "campus_application", "version",
	        1, "status", "received", "data", "campus", "uc-davis",
	        "parent_id", "01a0-root", "root_id", "01a0-root", "spawn_key",
	        "uc-davis", "subject", "S1", "owner", "uc-davis", "queue",
	        "admissions_intake", "due_at", (json_int_t)999999, "revision",
	        (json_int_t)1, "terminal", 0, "open_children", 0, "history_seq",
	        (json_int_t)1, "history_hash", "created_at", (json_int_t)1001,
	        "updated_at", (json_int_t)1001);
	cr_assert_not_null(child);
	write_row(child, h1, 1, 0);
	json_object_set_new(child, "status", json_string("incomplete"));
	json_object_set_new(child, "queue", json_null());
	json_object_set_new(child, "due_at", json_integer(0));
	json_object_set_new(child, "revision", json_integer(2));
	json_object_set_new(child, "history_seq", json_integer(2));
	write_row(child, h2, 0, 1);

	fam = read_family("01a0-root");
	cr_assert_eq(json_array_size(fam), 2);
	kept = famcache_row(root, h1);
	cr_assert_not_null(kept);
	assert_same(json_array_get(fam, 0), kept);
	json_decref(kept);
	kept = famcache_row(child, h2);
	cr_assert_not_null(kept);
	assert_same(json_array_get(fam, 1), kept);
	json_decref(kept);

	/* a row kept unwritten keeps the head it was read with */
	kept = famcache_row(json_array_get(fam, 1), NULL);
	assert_same(json_array_get(fam, 1), kept);
	json_decref(kept);

	/* the data is not shared with anyone else's reference */
	json_t *data = json_object_get(root, "data");

	json_incref(data);
	kept = famcache_row(root, h1);
	cr_assert(json_object_get(kept, "data") != data);
	cr_assert(json_equal(json_object_get(kept, "data"), data));
	json_decref(data);
	json_decref(kept);

	/* a row without a field the store requires is not kept */
	json_object_del(root, "status");
	cr_assert_null(famcache_row(root, h1));
	json_decref(root);
	json_decref(child);
	json_decref(fam);
}

Test(famcache, take_put_and_the_oldest_leaves_first)
{
	struct famcache *c = famcache_new(2);
	uint64_t hits, misses;
	json_t *a;

	cr_assert_not_null(c);
	cr_assert_null(famcache_take(c, "r1"));
	famcache_put(c, "r1", json_pack("[{s:i}]", "revision", 1));
	famcache_put(c, "r2", json_pack("[{s:i}]", "revision", 1));
	/* taken: gone until put back */
	a = famcache_take(c, "r1");
	cr_assert_not_null(a);
	cr_assert_null(famcache_take(c, "r1"));
	famcache_put(c, "r1", a);
	/* r2 is now the oldest: a third family pushes it out */
	famcache_put(c, "r3", json_pack("[{s:i}]", "revision", 1));
	cr_assert_null(famcache_take(c, "r2"));
	a = famcache_take(c, "r1");
	cr_assert_not_null(a);
	json_decref(a);
	/* put again replaces, drop forgets */
	famcache_put(c, "r3", json_pack("[{s:i}]", "revision", 2));
	a = famcache_take(c, "r3");
	cr_assert_eq(json_integer_value(
	                     json_object_get(json_array_get(a, 0), "revision")),
	             2);
	famcache_put(c, "r3", a);
	famcache_drop(c, "r3");
	cr_assert_null(famcache_take(c, "r3"));
	famcache_counts(c, &hits, &misses);
	cr_assert_eq(hits, 3);
	cr_assert_eq(misses, 4);

	/* kept from the second read on: the first is only remembered */
	cr_assert_eq(famcache_admit(c, "r9"), 0);
	cr_assert_eq(famcache_admit(c, "r9"), 1);
	cr_assert_eq(famcache_admit(c, "r9"), 0);
	/* and only recently: 4 x 2 other roots later it is forgotten */
	for (int i = 0; i < 8; i++) {
		char root[16];

		snprintf(root, sizeof(root), "x%d", i);
		cr_assert_eq(famcache_admit(c, root), 0);
	}
	cr_assert_eq(famcache_admit(c, "r9"), 0);
	famcache_free(c);
}

/* --- in cairnd --------------------------------------------------------- */

static struct td t;

static const char parent_wf[] =
        "name: fc_app\n"
        "description: an application whose children report back\n"
        "statuses:\n"
        "  draft: {initial: true}\n"
        "  submitted:\n"
        "    on_enter:\n"
        "      - spawn: {workflow: fc_campus, for_each: campuses, as: campus}\n"
        "  settled: {terminal: true}\n"
        "transitions:\n"
        "  - on: submit\n"
        "    from: draft\n"
        "    to: submitted\n"
        "    roles: [student]\n"
        "  - on: child.incomplete\n"
        "    from: submitted\n"
        "    to: submitted\n"
        "    actions:\n"
        "      - set: {last_request: $event.key}\n"
        "  - on: children.settled\n"
        "    from: submitted\n"
        "    to: settled\n";

static const char child_wf[] =
        "name: fc_campus\n"
        "description: one campus's copy\n"
        "statuses:\n"
        "  received: {initial: true, queue: admissions_review, sla: 30d}\n"
        "  incomplete:\n"
        "    on_enter:\n"
        "      - start_timer: {name: documents_due, after: 14d}\n"
        "  decided: {terminal: true}\n"
        "transitions:\n"
        "  - on: request_documents\n"
        "    from: received\n"
        "    to: incomplete\n"
        "    roles: [admissions]\n"
        "    actions:\n"
        "      - set: {asked: $event.what}\n"
        "  - on: documents_received\n"
        "    from: incomplete\n"
        "    to: received\n"
        "    roles: [student, admissions]\n"
        "  - on: decide\n"
        "    from: received\n"
        "    to: decided\n"
        "    roles: [admissions]\n";

static void
write_wf(const char *name, const char *text)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/defs/workflows/%s.yaml", t.dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static void
daemon_setup(void)
{
	td_start(&t, NULL);
	write_wf("fc_app", parent_wf);
	write_wf("fc_campus", child_wf);
	cr_assert_eq(td_stop(&t), 0);
	td_restart(&t);
}

static void
daemon_teardown(void)
{
	td_cleanup(&t);
}

TestSuite(famcache_daemon, .init = daemon_setup, .fini = daemon_teardown,
          .timeout = 90);

static json_t *
event(const char *id, const char *tok, const char *body, int want)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	return td_call(&t, "POST", path, tok, body, NULL, want);
}

static json_t *
get(const char *id, const char *tok)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	return td_call(&t, "GET", path, tok, NULL, NULL, 200);
}

/* The parts of a case view both a command's reply and a read show. */
static void
assert_same_view(json_t *reply, json_t *read)
{
	const char *k;
	json_t *v;

	json_object_foreach(reply, k, v)
	{
		json_t *w = json_object_get(read, k);
		char *a = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER |
		                                JSON_ENCODE_ANY);
		char *b = json_dumps(w, JSON_COMPACT | JSON_PRESERVE_ORDER |
		                                JSON_ENCODE_ANY);

		cr_assert(w != NULL, "the read has no %s", k);
		cr_assert_str_eq(a, b, "%s differs", k);
		free(a);
		free(b);
	}
}

/*
 * Commands one after the other on one family, each starting from the
 * family the one before it left in the cache: every reply agrees with a
 * read of the store made right after it, a restart (an empty cache)
 * changes no answer, and the hash chains of every case verify.
 */
Test(famcache_daemon, commands_from_the_cache_agree_with_the_store)
{
	const char *student = td_token(&t, "student", "S1");
	const char *davis = td_token(&t, "admissions", "uc-davis");
	json_t *c, *r, *kids, *k;
	char pid[64], cid[64], out[4096], body[128];
	json_int_t prev = 0;
	size_t i;

	c = td_call(&t, "POST", "/v1/cases", student,
	            "{\"workflow\":\"fc_app\",\"data\":{\"campuses\":["
	            "\"uc-davis\",\"uc-irvine\",\"uc-merced\"],\"gpa\":3.9}}",
	            NULL, 201);
	snprintf(pid, sizeof(pid), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	c = event(pid, student, "{\"type\":\"submit\"}", 200);
	kids = json_object_get(c, "children");
	cr_assert_eq(json_array_size(kids), 3);
	cid[0] = '\0';
	json_array_foreach(kids, i, k)
	{
		if (!strcmp(json_string_value(json_object_get(k, "spawn_key")),
		            "fc_campus:uc-davis"))
			snprintf(cid, sizeof(cid), "%s",
			         json_string_value(json_object_get(k, "id")));
	}
	cr_assert(cid[0] != '\0');
	r = get(pid, student);
	assert_same_view(c, r);
	json_decref(c);
	json_decref(r);

	for (int round = 0; round < 6; round++) {
		if (round == 3) {
			/* a cold start reads the store: nothing changes */
			cr_assert_eq(td_stop(&t), 0);
			td_restart(&t);
		}
		snprintf(body, sizeof(body),
		         "{\"type\":\"request_documents\",\"data\":{\"what\":"
		         "\"transcript %d\"}}",
		         round);
		c = event(cid, davis, body, 200);
		cr_assert_str_eq(
		        json_string_value(json_object_get(c, "status")),
		        "incomplete");
		r = get(cid, davis);
		assert_same_view(c, r);
		json_decref(c);
		json_decref(r);
		c = event(cid, student, "{\"type\":\"documents_received\"}",
		          200);
		r = get(cid, student);
		assert_same_view(c, r);
		json_decref(c);
		json_decref(r);
		/* the parent heard of it: its copy moved as well */
		r = get(pid, student);
		cr_assert_gt(json_integer_value(json_object_get(r, "revision")),
		             prev);
		prev = json_integer_value(json_object_get(r, "revision"));
		json_decref(r);
	}
	/* a command refused leaves the cache out: the next one still works */
	json_decref(event(cid, student, "{\"type\":\"decide\"}", 403));
	c = event(cid, davis, "{\"type\":\"decide\"}", 200);
	r = get(cid, davis);
	assert_same_view(c, r);
	json_decref(c);
	json_decref(r);

	cr_assert_eq(td_stop(&t), 0);
	cr_assert_eq(run_cmd(out, sizeof(out), "%s audit verify --db %s",
	                     td_bin("cairn"), t.db),
	             0, "%s", out);
}
