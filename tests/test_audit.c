/*
 * test_audit.c: cairn audit verify against histories cairnd wrote, and
 * against the same database edited behind Cairn's back with the sqlite3
 * shell: a changed payload, a deleted event, a deleted last event, two
 * events' sequence numbers swapped, a case row's head hash changed and a
 * case row deleted. Each edit is made on its own copy of the database, and
 * each must be caught and named (case id, event, what differs).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../daemon/audit.h"
#include "harness.h"

static struct td t;
static char app_id[64];   /* a submitted application: events 1..3+ */
static char child_id[64]; /* one of its campus children */

static const char app_wf[] =
        "name: app\n"
        "description: an application routed to campuses\n"
        "statuses:\n"
        "  draft: {initial: true}\n"
        "  submitted:\n"
        "    on_enter:\n"
        "      - spawn: {workflow: campus, for_each: campuses, as: campus}\n"
        "  withdrawn: {terminal: true}\n"
        "transitions:\n"
        "  - on: note\n"
        "    from: [draft, submitted]\n"
        "    to: draft\n"
        "    roles: [student]\n"
        "  - on: submit\n"
        "    from: draft\n"
        "    to: submitted\n"
        "    roles: [student]\n"
        "  - on: withdraw\n"
        "    from: [draft, submitted]\n"
        "    to: withdrawn\n"
        "    roles: [student]\n";

static const char campus_wf[] = "name: campus\n"
                                "description: one campus's copy\n"
                                "statuses:\n"
                                "  received: {initial: true}\n"
                                "  closed: {terminal: true}\n"
                                "transitions:\n"
                                "  - on: close\n"
                                "    from: received\n"
                                "    to: closed\n"
                                "    roles: [admissions]\n";

static void
event(const char *id, const char *tok, const char *body)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	json_decref(td_call(&t, "POST", path, tok, body, NULL, 200));
}

static void
setup(void)
{
	const char *student;
	json_t *c, *kids;

	td_start(&t, NULL);
	td_write_workflow(&t, "app", app_wf);
	td_write_workflow(&t, "campus", campus_wf);
	cr_assert_eq(td_stop(&t), 0);
	td_restart(&t);
	student = td_token(&t, "student", "S1");
	c = td_call(&t, "POST", "/v1/cases", student,
	            "{\"workflow\":\"app\",\"data\":{\"campuses\":"
	            "[\"uc-davis\",\"uc-merced\"]}}",
	            NULL, 201);
	snprintf(app_id, sizeof(app_id), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	event(app_id, student, "{\"type\":\"note\",\"data\":{\"n\":1}}");
	event(app_id, student, "{\"type\":\"note\",\"data\":{\"n\":2}}");
	event(app_id, student, "{\"type\":\"submit\"}");
	{
		char path[128];

		snprintf(path, sizeof(path), "/v1/cases/%s", app_id);
		c = td_call(&t, "GET", path, t.token, NULL, NULL, 200);
	}
	kids = json_object_get(c, "children");
	cr_assert_eq(json_array_size(kids), 2);
	snprintf(child_id, sizeof(child_id), "%s",
	         json_string_value(
	                 json_object_get(json_array_get(kids, 0), "id")));
	json_decref(c);
}

static void
teardown(void)
{
	td_cleanup(&t);
}

TestSuite(audit, .init = setup, .fini = teardown, .timeout = 60);

/* Runs cairn audit verify on db; returns its exit status, output in out. */
static int
verify(const char *db, char *out, size_t len)
{
	return run_cmd(out, len, "%s audit verify --db %s", td_bin("cairn"),
	               db);
}

/* A copy of the stopped daemon's database with sql applied by the
 * sqlite3 shell, as someone with the file but not Cairn would edit it. */
static const char *
tampered(const char *name, const char *sql)
{
	static char db[600];
	char out[2048];

	snprintf(db, sizeof(db), "%s/%s.db", t.dir, name);
	cr_assert_eq(run_cmd(out, sizeof(out), "sqlite3 %s \".backup %s\"",
	                     t.db, db),
	             0, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out), "sqlite3 %s \"%s\"", db, sql), 0,
	             "sqlite3: %s", out);
	return db;
}

Test(audit, a_history_cairnd_wrote_verifies_live_and_stopped)
{
	char out[4096], want[64];
	struct audit_report rep;
	struct cairn_err err;

	/* beside the running daemon: read-only, one snapshot */
	cr_assert_eq(verify(t.db, out, sizeof(out)), 0, "%s", out);
	cr_assert(strstr(out, "3 chains") != NULL, "%s", out);
	cr_assert(strstr(out, "all hold") != NULL, "%s", out);
	cr_assert(strstr(out, "anchor ") != NULL, "%s", out);
	cr_assert_eq(td_stop(&t), 0);
	cr_assert_eq(audit_verify(t.db, NULL, &rep, &err), 0, "%s", err.msg);
	/* the case histories, and the disclosure log */
	cr_assert_eq(rep.n, 2);
	cr_assert_str_eq(rep.r[1].name, "disclosure log");
	cr_assert_eq(rep.r[1].broken, 0);
	cr_assert_eq(rep.r[0].chains, 3);
	cr_assert_eq(rep.r[0].broken, 0);
	/* the application's four events and each child's first */
	cr_assert_geq(rep.r[0].links, 6);
	snprintf(want, sizeof(want), "%lld links", (long long)rep.r[0].links);
	cr_assert(strstr(out, want) != NULL, "%s", out);
	/* the anchor is a function of the heads: the same file, the same
	 * anchor */
	cr_assert(strstr(out, rep.r[0].anchor) != NULL, "%s", out);

	cr_assert_eq(run_cmd(out, sizeof(out), "%s audit verify --db %s --json",
	                     td_bin("cairn"), t.db),
	             0, "%s", out);
	cr_assert(strstr(out, "\"ok\": true") != NULL, "%s", out);
}

Test(audit, a_changed_payload_is_named)
{
	char out[4096], sql[512], want[128];
	const char *db;

	cr_assert_eq(td_stop(&t), 0);
	snprintf(sql, sizeof(sql),
	         "UPDATE history SET payload = '{\\\"n\\\":9}' "
	         "WHERE case_id = '%s' AND seq = 2",
	         app_id);
	db = tampered("payload", sql);
	cr_assert_eq(verify(db, out, sizeof(out)), 1, "%s", out);
	snprintf(want, sizeof(want), "case %s, event 2", app_id);
	cr_assert(strstr(out, want) != NULL, "%s", out);
	cr_assert(strstr(out, "does not match its hash") != NULL, "%s", out);
	cr_assert(strstr(out, "BROKEN: 1 of 3") != NULL, "%s", out);
	/* the original still verifies: the edit was to the copy */
	cr_assert_eq(verify(t.db, out, sizeof(out)), 0, "%s", out);
}

Test(audit, a_changed_actor_or_time_is_named)
{
	char out[4096], sql[512], want[128];
	const char *db;

	cr_assert_eq(td_stop(&t), 0);
	snprintf(sql, sizeof(sql),
	         "UPDATE history SET at = at + 1 WHERE case_id = '%s' "
	         "AND seq = 1",
	         child_id);
	db = tampered("at", sql);
	cr_assert_eq(verify(db, out, sizeof(out)), 1, "%s", out);
	snprintf(want, sizeof(want), "case %s, event 1", child_id);
	cr_assert(strstr(out, want) != NULL, "%s", out);

	snprintf(sql, sizeof(sql),
	         "UPDATE history SET actor = 'tok_0000000000000000' "
	         "WHERE case_id = '%s' AND seq = 3",
	         app_id);
	db = tampered("actor", sql);
	cr_assert_eq(verify(db, out, sizeof(out)), 1, "%s", out);
	snprintf(want, sizeof(want), "case %s, event 3", app_id);
	cr_assert(strstr(out, want) != NULL, "%s", out);
}

Test(audit, a_deleted_event_is_named)
{
	char out[4096], sql[512], want[160];
	const char *db;

	cr_assert_eq(td_stop(&t), 0);
	snprintf(sql, sizeof(sql),
	         "DELETE FROM history WHERE case_id = '%s' AND seq = 2",
	         app_id);
	db = tampered("deleted", sql);
	cr_assert_eq(verify(db, out, sizeof(out)), 1, "%s", out);
	snprintf(want, sizeof(want),
	         "case %s, event 2: event 2 is missing: the history goes "
	         "from 1 to 3",
	         app_id);
	cr_assert(strstr(out, want) != NULL, "%s", out);
}

Test(audit, a_deleted_last_event_is_named)
{
	char out[4096], sql[512], want[160];
	const char *db;

	cr_assert_eq(td_stop(&t), 0);
	snprintf(sql, sizeof(sql),
	         "DELETE FROM history WHERE case_id = '%s' AND seq = "
	         "(SELECT max(seq) FROM history WHERE case_id = '%s')",
	         app_id, app_id);
	db = tampered("deleted_last", sql);
	cr_assert_eq(verify(db, out, sizeof(out)), 1, "%s", out);
	snprintf(want, sizeof(want), "case %s, event", app_id);
	cr_assert(strstr(out, want) != NULL, "%s", out);
	cr_assert(strstr(out, "events were deleted") != NULL, "%s", out);
}

Test(audit, reordered_events_are_named)
{
	char out[4096], sql[512], want[128];
	const char *db;

	cr_assert_eq(td_stop(&t), 0);
	/* swap events 2 and 3 (two notes): each keeps its own hash */
	snprintf(sql, sizeof(sql),
	         "UPDATE history SET seq = 100 WHERE case_id = '%s' AND seq = "
	         "2; UPDATE history SET seq = 2 WHERE case_id = '%s' AND seq "
	         "= 3; UPDATE history SET seq = 3 WHERE case_id = '%s' AND "
	         "seq = 100",
	         app_id, app_id, app_id);
	db = tampered("reordered", sql);
	cr_assert_eq(verify(db, out, sizeof(out)), 1, "%s", out);
	snprintf(want, sizeof(want), "case %s, event 2", app_id);
	cr_assert(strstr(out, want) != NULL, "%s", out);
}

Test(audit, a_changed_head_or_a_deleted_case_is_named)
{
	char out[4096], sql[512], want[160];
	const char *db;

	cr_assert_eq(td_stop(&t), 0);
	snprintf(sql, sizeof(sql),
	         "UPDATE cases SET history_hash = zeroblob(32) WHERE id = '%s'",
	         child_id);
	db = tampered("head", sql);
	cr_assert_eq(verify(db, out, sizeof(out)), 1, "%s", out);
	snprintf(want, sizeof(want), "case %s: the case's recorded head hash",
	         child_id);
	cr_assert(strstr(out, want) != NULL, "%s", out);

	snprintf(sql, sizeof(sql), "DELETE FROM cases WHERE id = '%s'",
	         child_id);
	db = tampered("no_case", sql);
	cr_assert_eq(verify(db, out, sizeof(out)), 1, "%s", out);
	snprintf(want, sizeof(want), "case %s: history of", child_id);
	cr_assert(strstr(out, want) != NULL, "%s", out);
	cr_assert(strstr(out, "does not exist") != NULL, "%s", out);
}

Test(audit, what_is_not_a_cairn_database_is_refused_clearly)
{
	char out[4096], path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/none.db", t.dir);
	cr_assert_eq(verify(path, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "No such file") != NULL, "%s", out);
	cr_assert(access(path, F_OK) != 0, "the audit created %s", path);

	snprintf(path, sizeof(path), "%s/garbage.db", t.dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("this is not a database, just some text that is long enough "
	      "to look like a header of a file",
	      f);
	fclose(f);
	cr_assert_eq(verify(path, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "cairn: audit:") != NULL, "%s", out);

	cr_assert_eq(run_cmd(out, sizeof(out), "%s audit frobnicate",
	                     td_bin("cairn")),
	             2, "%s", out);
}

Test(audit, cairnd_verifies_its_own_database_for_an_admin)
{
	char out[4096], sql[512], url[128], want[128];
	json_t *r, *c;

	r = td_call(&t, "GET", "/v1/audit/verify", t.token, NULL, NULL, 200);
	cr_assert(json_is_true(json_object_get(r, "ok")));
	c = json_array_get(json_object_get(r, "chains"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(c, "chain")),
	                 "case history");
	cr_assert_eq(json_integer_value(json_object_get(c, "chains")), 3);
	cr_assert_null(json_object_get(c, "first_broken"));
	json_decref(r);
	/* nobody else may */
	json_decref(td_call(&t, "GET", "/v1/audit/verify",
	                    td_token(&t, "policy", NULL), NULL, NULL, 403));
	json_decref(td_call(&t, "GET", "/v1/audit/verify",
	                    td_token(&t, "student", "S1"), NULL, NULL, 403));
	json_decref(
	        td_call(&t, "GET", "/v1/audit/verify", NULL, NULL, NULL, 401));

	/* an edit behind the running daemon's back, seen by the next walk */
	snprintf(sql, sizeof(sql),
	         "UPDATE history SET type = 'withdraw' WHERE case_id = '%s' "
	         "AND seq = 2",
	         app_id);
	cr_assert_eq(run_cmd(out, sizeof(out), "sqlite3 %s \"%s\"", t.db, sql),
	             0, "%s", out);
	r = td_call(&t, "GET", "/v1/audit/verify", t.token, NULL, NULL, 200);
	cr_assert(json_is_false(json_object_get(r, "ok")));
	c = json_object_get(json_array_get(json_object_get(r, "chains"), 0),
	                    "first_broken");
	cr_assert_str_eq(json_string_value(json_object_get(c, "key")), app_id);
	cr_assert_eq(json_integer_value(json_object_get(c, "seq")), 2);
	json_decref(r);

	/* the CLI asks cairnd with --online */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", t.port);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "%s --url %s --token %s audit verify --online",
	                     td_bin("cairn"), url, t.token),
	             1, "%s", out);
	snprintf(want, sizeof(want), "case %s, event 2", app_id);
	cr_assert(strstr(out, want) != NULL, "%s", out);
}
