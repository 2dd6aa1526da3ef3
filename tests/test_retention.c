/*
 * test_retention.c: retention (issue 7, item 7) over HTTP against a real
 * cairnd with the test clock: cases closed longer ago than the configured
 * years are purged (or anonymized) by POST /v1/retention/run or by the
 * daily schedule when the clock passes it; open and recent ones are not
 * touched; GET /v1/cases/{id} and its history show the skeleton; the
 * students' data is gone from the database; `cairn audit verify` holds
 * before and after, and still catches an edit to the skeleton, a payload
 * emptied behind Cairn's back, and a purge record emptied.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../daemon/audit.h"
#include "harness.h"

static struct td t;

static const char ret_wf[] = "name: ret\n"
                             "description: a file that closes\n"
                             "statuses:\n"
                             "  open: {initial: true}\n"
                             "  closed: {terminal: true}\n"
                             "transitions:\n"
                             "  - on: note\n"
                             "    from: open\n"
                             "    to: open\n"
                             "    roles: [student]\n"
                             "  - on: close\n"
                             "    from: open\n"
                             "    to: closed\n"
                             "    roles: [student]\n";

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
start(const char *retention_yaml)
{
	td_start(&t, retention_yaml);
	td_write_workflow(&t, "ret", ret_wf);
	td_stop(&t);
	td_restart_args(&t, "--test-clock");
}

static void
fini(void)
{
	td_cleanup(&t);
}

/* A case of student subject with data, a note, and closed when asked. */
static void
open_case(const char *student, const char *name, int close, char id[64])
{
	const char *tok = td_token(&t, "student", student);
	char body[512], path[128];
	json_t *j;

	snprintf(body, sizeof(body),
	         "{\"workflow\":\"ret\",\"data\":{\"name\":\"%s\","
	         "\"ssn_last4\":\"4321\",\"income\":52000,\"first_gen\":"
	         "true,\"address\":{\"zip\":\"95616\"}}}",
	         name);
	j = td_call(&t, "POST", "/v1/cases", tok, body, NULL, 201);
	snprintf(id, 64, "%s", jstr(j, "id"));
	json_decref(j);
	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	snprintf(body, sizeof(body),
	         "{\"type\":\"note\",\"data\":{\"text\":\"%s's tax "
	         "transcript is attached\"}}",
	         name);
	json_decref(td_call(&t, "POST", path, tok, body, NULL, 200));
	if (close)
		json_decref(td_call(&t, "POST", path, tok,
		                    "{\"type\":\"close\"}", NULL, 200));
}

static void
advance(const char *by)
{
	char body[64];

	snprintf(body, sizeof(body), "{\"advance\":\"%s\"}", by);
	json_decref(td_call(&t, "POST", "/v1/clock", t.token, body, NULL, 200));
}

/* `cairn audit verify` on db: its exit status, the report in out. */
static int
verify(const char *db, char *out, size_t len)
{
	return run_cmd(out, len, "%s audit verify --db '%s'", td_bin("cairn"),
	               db);
}

static long
db_count(const char *db, const char *sql)
{
	char out[256];

	cr_assert_eq(run_cmd(out, sizeof(out), "sqlite3 '%s' \"%s\"", db, sql),
	             0, "%s: %s", sql, out);
	return atol(out);
}

/* The skeleton of a purged case: statuses, times and hashes, no data. */
static void
check_skeleton(const char *id, const char *mode, int nevents)
{
	json_t *c = td_case(&t, id), *ev = td_history(&t, id), *e, *ret;
	size_t i;

	cr_assert_str_eq(jstr(c, "status"), "closed");
	cr_assert_str_eq(jstr(c, "subject"),
	                 !strcmp(mode, "purge") ? "purged" : "anonymous");
	ret = json_object_get(json_object_get(c, "data"), "_retention");
	cr_assert_str_eq(jstr(ret, "mode"), mode);
	cr_assert_null(json_object_get(json_object_get(c, "data"), "name"));
	cr_assert_null(
	        json_object_get(json_object_get(c, "data"), "ssn_last4"));
	cr_assert_null(json_object_get(json_object_get(c, "data"), "address"));
	cr_assert_eq(json_integer_value(json_object_get(c, "history_seq")),
	             nevents + 1);
	cr_assert_eq(json_array_size(ev), (size_t)nevents + 1);
	json_array_foreach(ev, i, e)
	{
		cr_assert_eq(json_integer_value(json_object_get(e, "seq")),
		             (json_int_t)i + 1);
		cr_assert_not_null(jstr(e, "hash"));
		cr_assert_not_null(jstr(e, "type"));
		if (i + 1 < json_array_size(ev)) {
			cr_assert(json_is_null(json_object_get(e, "payload")),
			          "event %zu kept its payload", i + 1);
			continue;
		}
		/* the purge on the record, chained like any event */
		cr_assert_str_eq(jstr(e, "type"), "retention.purged");
		cr_assert_str_eq(jstr(e, "actor"), "system:retention");
		cr_assert_str_eq(jstr(json_object_get(e, "payload"), "mode"),
		                 mode);
	}
	/* the moves stay: created -> open, then open -> closed */
	cr_assert_str_eq(jstr(json_array_get(ev, 0), "to_status"), "open");
	cr_assert_str_eq(jstr(json_array_get(ev, 2), "from_status"), "open");
	cr_assert_str_eq(jstr(json_array_get(ev, 2), "to_status"), "closed");
	json_decref(c);
	json_decref(ev);
}

/* An untouched case: its data and its payloads. */
static void
check_whole(const char *id, const char *name)
{
	json_t *c = td_case(&t, id), *ev = td_history(&t, id);

	cr_assert_str_eq(jstr(json_object_get(c, "data"), "name"), name);
	cr_assert_null(
	        json_object_get(json_object_get(c, "data"), "_retention"));
	cr_assert_str_neq(jstr(c, "subject"), "purged");
	cr_assert(json_is_object(
	        json_object_get(json_array_get(ev, 1), "payload")));
	json_decref(c);
	json_decref(ev);
}

Test(retention, old_closed_cases_are_purged_to_a_skeleton_that_verifies,
     .fini = fini, .timeout = 180)
{
	char old1[64], old2[64], open1[64], recent[64], out[8192], sql[512];
	char copy[600];
	json_t *r;

	start("retention:\n  closed_case_years: 2\n  mode: purge\n"
	      "  schedule: manual\n");
	open_case("S1", "Ana", 1, old1);
	open_case("S2", "Bo", 1, old2);
	open_case("S1", "Ana", 0, open1);
	cr_assert_eq(verify(t.db, out, sizeof(out)), 0, "%s", out);
	/* three years on: a case closed now is recent */
	advance("1100d");
	open_case("S3", "Cy", 1, recent);
	r = td_call(&t, "POST", "/v1/retention/run", t.token, NULL, NULL, 200);
	cr_assert_eq(json_integer_value(json_object_get(r, "purged")), 2, "%s",
	             json_dumps(r, 0));
	cr_assert_eq(json_integer_value(json_object_get(r, "failed")), 0);
	cr_assert_eq(json_integer_value(json_object_get(r, "resealed")), 0);
	cr_assert_eq(json_integer_value(json_object_get(r, "broken")), 0);
	cr_assert_str_eq(jstr(r, "mode"), "purge");
	json_decref(r);

	check_skeleton(old1, "purge", 3);
	check_skeleton(old2, "purge", 3);
	check_whole(open1, "Ana");
	check_whole(recent, "Cy");
	/* the families' data is gone from the file, not only the replies */
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM history WHERE case_id IN ('%s','%s') "
	         "AND (payload LIKE '%%Ana%%' OR payload LIKE '%%Bo%%' OR "
	         "payload LIKE '%%4321%%' OR payload LIKE '%%52000%%')",
	         old1, old2);
	cr_assert_eq(db_count(t.db, sql), 0);
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM cases WHERE id IN ('%s','%s') AND "
	         "(data LIKE '%%Ana%%' OR data LIKE '%%4321%%' OR subject IN "
	         "('S1','S2'))",
	         old1, old2);
	cr_assert_eq(db_count(t.db, sql), 0);
	/* the student no longer finds it */
	snprintf(sql, sizeof(sql), "/v1/cases/%s", old1);
	json_decref(td_call(&t, "GET", sql, td_token(&t, "student", "S1"), NULL,
	                    NULL, 404));
	/* the chains hold beside the running daemon */
	cr_assert_eq(verify(t.db, out, sizeof(out)), 0, "%s", out);
	cr_assert(strstr(out, "all hold") != NULL, "%s", out);
	/* a second run finds nothing left to do */
	r = td_call(&t, "POST", "/v1/retention/run", t.token, NULL, NULL, 200);
	cr_assert_eq(json_integer_value(json_object_get(r, "purged")), 0);
	json_decref(r);
	/* only an admin may ask */
	json_decref(td_call(&t, "POST", "/v1/retention/run",
	                    td_token(&t, "aid_officer", "fao"), NULL, NULL,
	                    403));

	/* the skeleton is still tamper-evident: each edit on a copy */
	cr_assert_eq(td_stop(&t), 0);
	{
		static const char *const edits[][2] = {
		        /* a purged event's actor */
		        {"UPDATE history SET actor = 'tok_0000000000000000' "
		         "WHERE case_id = '%s' AND seq = 2",
		         "old1"},
		        /* a purged event's payload hash */
		        {"UPDATE history SET payload_hash = zeroblob(32) "
		         "WHERE case_id = '%s' AND seq = 1",
		         "old1"},
		        /* the purge record itself emptied */
		        {"UPDATE history SET payload = '' WHERE case_id = '%s' "
		         "AND seq = 4",
		         "old1"},
		        /* an open case's payload emptied behind Cairn's back:
		         * its link verifies from the hash, but no purge says
		         * so */
		        {"UPDATE history SET payload = '' WHERE case_id = '%s' "
		         "AND seq = 2",
		         "open1"},
		        /* a kept payload changed */
		        {"UPDATE history SET payload = "
		         "'{\\\"text\\\":\\\"x\\\"}' "
		         "WHERE case_id = '%s' AND seq = 2",
		         "recent"},
		};

		for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
			const char *target = !strcmp(edits[i][1], "old1") ? old1
			                     : !strcmp(edits[i][1], "open1")
			                             ? open1
			                             : recent;
			char edit[512];

			snprintf(copy, sizeof(copy), "%s/copy%zu.db", t.dir, i);
			snprintf(edit, sizeof(edit), edits[i][0], target);
			cr_assert_eq(
			        run_cmd(out, sizeof(out),
			                "cp '%s' '%s' && sqlite3 '%s' \"%s\"",
			                t.db, copy, copy, edit),
			        0, "%s: %s", edit, out);
			cr_assert_eq(verify(copy, out, sizeof(out)), 1,
			             "edit %zu not caught: %s", i, out);
			cr_assert(strstr(out, target) != NULL,
			          "edit %zu: the report does not name %s: %s",
			          i, target, out);
		}
	}
	cr_assert_eq(verify(t.db, out, sizeof(out)), 0, "%s", out);
}

Test(retention, the_daily_run_anonymizes_when_the_clock_passes_it, .fini = fini,
     .timeout = 180)
{
	char old1[64], open1[64], out[8192];
	json_t *c = NULL, *data;
	int tries;

	start("retention:\n  closed_case_years: 1\n  mode: anonymize\n"
	      "  schedule: daily at 03:30\n");
	open_case("S1", "Ana", 1, old1);
	open_case("S2", "Bo", 0, open1);
	/* 400 days on passes 03:30 many times: the run comes due */
	advance("400d");
	for (tries = 0; tries < 300; tries++) {
		json_decref(c);
		c = td_case(&t, old1);
		if (json_object_get(json_object_get(c, "data"), "_retention"))
			break;
		usleep(100 * 1000);
	}
	cr_assert_lt(tries, 300, "the scheduled run did not come");
	json_decref(c);
	check_skeleton(old1, "anonymize", 3);
	/* what anonymizing keeps: numbers and flags, for reports */
	c = td_case(&t, old1);
	data = json_object_get(c, "data");
	cr_assert_eq(json_integer_value(json_object_get(data, "income")),
	             52000);
	cr_assert(json_is_true(json_object_get(data, "first_gen")));
	cr_assert_eq(json_object_size(data), 3, "%s",
	             json_dumps(data, JSON_COMPACT));
	json_decref(c);
	check_whole(open1, "Bo");
	cr_assert_eq(verify(t.db, out, sizeof(out)), 0, "%s", out);
	cr_assert_eq(td_stop(&t), 0);
}

Test(retention, off_by_default_and_the_configuration_is_checked, .fini = fini,
     .timeout = 120)
{
	static const char *const bad[] = {
	        "retention:\n  closed_case_years: -1\n",
	        "retention:\n  closed_case_years: 101\n",
	        "retention:\n  mode: shred\n",
	        "retention:\n  schedule: hourly\n",
	        "retention:\n  schedule: daily at 24:00\n",
	        "retention:\n  schedule: daily at 3:30\n",
	        "retention:\n  keep: all\n",
	};
	char out[2048], cfg[600];

	td_start(&t, NULL);
	/* off: asking for a run says so and changes nothing */
	json_decref(td_call(&t, "POST", "/v1/retention/run", t.token, NULL,
	                    NULL, 409));
	td_stop(&t);
	snprintf(cfg, sizeof(cfg), "%s/bad.yaml", t.dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(cfg, "w");

		cr_assert_not_null(f);
		fputs(bad[i], f);
		fclose(f);
		cr_assert_neq(run_cmd(out, sizeof(out), "%s -c '%s' --check",
		                      td_bin("cairnd"), cfg),
		              0, "%s accepted", bad[i]);
		cr_assert(strstr(out, "retention") != NULL, "%s: %s", bad[i],
		          out);
		cr_assert(strstr(out, ":2:") != NULL ||
		                  strstr(out, ":3:") != NULL ||
		                  strstr(out, ":1:") != NULL,
		          "no line in: %s", out);
	}
}

/* Rewrites a case's chain as cairnd wrote it before payload hashes: each
 * link over its payload text, no payload hash (cairnd stopped). */
static void
to_legacy(const char *case_id)
{
	sqlite3 *db;
	sqlite3_stmt *q, *u;
	uint8_t prev[32] = {0}, h[32];

	cr_assert_eq(sqlite3_open(t.db, &db), SQLITE_OK);
	cr_assert_eq(
	        sqlite3_prepare_v2(db,
	                           "SELECT seq, at, actor, type, from_status, "
	                           "to_status, payload, workflow_version FROM "
	                           "history WHERE case_id = ?1 ORDER BY seq",
	                           -1, &q, NULL),
	        SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db,
	                                "UPDATE history SET hash = ?1, "
	                                "payload_hash = NULL WHERE case_id = "
	                                "?2 AND seq = ?3",
	                                -1, &u, NULL),
	             SQLITE_OK);
	sqlite3_bind_text(q, 1, case_id, -1, SQLITE_STATIC);
	while (sqlite3_step(q) == SQLITE_ROW) {
		cr_assert_eq(audit_history_hash(
		                     prev, case_id, sqlite3_column_int64(q, 0),
		                     sqlite3_column_int64(q, 1),
		                     (const char *)sqlite3_column_text(q, 2),
		                     (const char *)sqlite3_column_text(q, 3),
		                     (const char *)sqlite3_column_text(q, 4),
		                     (const char *)sqlite3_column_text(q, 5),
		                     sqlite3_column_int(q, 7),
		                     (const char *)sqlite3_column_text(q, 6),
		                     h),
		             0);
		sqlite3_bind_blob(u, 1, h, 32, SQLITE_STATIC);
		sqlite3_bind_text(u, 2, case_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(u, 3, sqlite3_column_int64(q, 0));
		cr_assert_eq(sqlite3_step(u), SQLITE_DONE);
		sqlite3_reset(u);
		memcpy(prev, h, 32);
	}
	sqlite3_finalize(q);
	sqlite3_finalize(u);
	cr_assert_eq(sqlite3_prepare_v2(db,
	                                "UPDATE cases SET history_hash = ?1 "
	                                "WHERE id = ?2",
	                                -1, &u, NULL),
	             SQLITE_OK);
	sqlite3_bind_blob(u, 1, prev, 32, SQLITE_STATIC);
	sqlite3_bind_text(u, 2, case_id, -1, SQLITE_STATIC);
	cr_assert_eq(sqlite3_step(u), SQLITE_DONE);
	sqlite3_finalize(u);
	sqlite3_close(db);
}

Test(retention, histories_from_before_payload_hashes_are_resealed_then_purged,
     .fini = fini, .timeout = 180)
{
	char old1[64], old2[64], out[8192], sql[512], head[80];
	json_t *r, *ev, *last;

	start("retention:\n  closed_case_years: 2\n  schedule: manual\n");
	open_case("S1", "Ana", 1, old1);
	open_case("S2", "Bo", 1, old2);
	cr_assert_eq(td_stop(&t), 0);
	to_legacy(old1);
	to_legacy(old2);
	/* old chains verify as they are */
	cr_assert_eq(verify(t.db, out, sizeof(out)), 0, "%s", out);
	snprintf(sql, sizeof(sql),
	         "SELECT lower(hex(history_hash)) FROM cases WHERE id = '%s'",
	         old1);
	cr_assert_eq(
	        run_cmd(head, sizeof(head), "sqlite3 '%s' \"%s\"", t.db, sql),
	        0);
	head[strcspn(head, "\n")] = '\0';
	/* and one was edited behind Cairn's back */
	snprintf(sql, sizeof(sql),
	         "UPDATE history SET actor = 'someone' WHERE case_id = '%s' "
	         "AND seq = 2",
	         old2);
	cr_assert_eq(
	        run_cmd(out, sizeof(out), "sqlite3 '%s' \"%s\"", t.db, sql), 0,
	        "%s", out);
	td_restart_args(&t, "--test-clock");
	advance("1100d");
	r = td_call(&t, "POST", "/v1/retention/run", t.token, NULL, NULL, 200);
	/* the sound one resealed and purged; the edited one kept whole, so
	 * the break stays there to be found */
	cr_assert_eq(json_integer_value(json_object_get(r, "purged")), 1);
	cr_assert_eq(json_integer_value(json_object_get(r, "resealed")), 1);
	cr_assert_eq(json_integer_value(json_object_get(r, "broken")), 1);
	json_decref(r);
	check_skeleton(old1, "purge", 3);
	ev = td_history(&t, old1);
	last = json_array_get(ev, json_array_size(ev) - 1);
	cr_assert_str_eq(
	        jstr(json_object_get(last, "payload"), "resealed_from"), head);
	json_decref(ev);
	check_whole(old2, "Bo");
	cr_assert_eq(verify(t.db, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "BROKEN: 1 of 2") != NULL, "%s", out);
	cr_assert(strstr(out, old2) != NULL, "%s", out);
	cr_assert_eq(td_stop(&t), 0);
}
