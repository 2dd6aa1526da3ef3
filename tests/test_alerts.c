/*
 * test_alerts.c: counselors' caseloads and the alert inbox in a real
 * cairnd: alerts raised by a workflow reach the student's counselor and
 * the owning office and no one else, one open alert per case and kind,
 * resolved when the case leaves the status that raised them, each new one
 * queued once for the webhook; caseload imports that report bad rows by
 * line and change nothing unless asked for a partial import.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct td t;

static const char docs_wf[] =
        "name: docs\n"
        "description: a file waiting for a student's documents\n"
        "statuses:\n"
        "  waiting:\n"
        "    initial: true\n"
        "    queue: aid_review\n"
        "    on_enter:\n"
        "      - alert: {kind: docs_missing, severity: warning, to: "
        "counselor, message: Documents are missing.}\n"
        "      - alert: {kind: office_check, to: office, message: Check "
        "the file.}\n"
        "  reviewing: {queue: aid_review}\n"
        "  done: {terminal: true}\n"
        "transitions:\n"
        "  - on: remind\n"
        "    from: waiting\n"
        "    to: waiting\n"
        "    roles: [aid_officer]\n"
        "    actions:\n"
        "      - alert: {kind: docs_missing, severity: critical, to: "
        "counselor, message: Still missing.}\n"
        "  - on: upload\n"
        "    from: waiting\n"
        "    to: reviewing\n"
        "    roles: [student]\n"
        "  - on: finish\n"
        "    from: reviewing\n"
        "    to: done\n"
        "    roles: [aid_officer]\n";

static void
setup(void)
{
	td_start(&t, "queues:\n  alert_webhook: counselor_portal\n");
	td_write_workflow(&t, "docs", docs_wf);
	cr_assert_eq(td_stop(&t), 0);
	td_restart(&t);
}

static void
teardown(void)
{
	td_cleanup(&t);
}

TestSuite(alerts, .init = setup, .fini = teardown, .timeout = 60);

#define call_json(m, p, tok, b, want) td_call(&t, m, p, tok, b, NULL, want)

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
open_file(const char *officer, const char *student, char id[64])
{
	char body[200];
	json_t *j;

	snprintf(body, sizeof(body),
	         "{\"workflow\":\"docs\",\"subject\":\"%s\"}", student);
	j = call_json("POST", "/v1/cases", officer, body, 201);
	snprintf(id, 64, "%s", jstr(j, "id"));
	json_decref(j);
}

static void
send_event(const char *tok, const char *id, const char *type, int want)
{
	char path[160], body[100];

	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	snprintf(body, sizeof(body), "{\"type\":\"%s\"}", type);
	json_decref(call_json("POST", path, tok, body, want));
}

/* The alerts a token sees in state (open, resolved, all). */
static json_t *
alerts(const char *tok, const char *state)
{
	char path[100];
	json_t *j, *a;

	snprintf(path, sizeof(path), "/v1/alerts?state=%s", state);
	j = call_json("GET", path, tok, NULL, 200);
	a = json_incref(json_object_get(j, "alerts"));
	json_decref(j);
	return a;
}

static long long
db_count(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long n = -1;

	cr_assert_eq(sqlite3_open_v2(t.db, &db, SQLITE_OPEN_READONLY, NULL),
	             SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK,
	             "%s", sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

Test(alerts, reach_the_counselor_and_office_once_and_resolve_themselves)
{
	const char *office = td_token(&t, "aid_officer", "fresno");
	const char *other_office = td_token(&t, "aid_officer", "merced");
	const char *c1 = td_token(&t, "counselor", "C1");
	const char *c2 = td_token(&t, "counselor", "C2");
	const char *s1 = td_token(&t, "student", "S1");
	char a[64], b[64], path[160];
	json_t *l, *j;
	long long alert_id;

	json_decref(call_json("PUT", "/v1/counselors/C1/students", t.token,
	                      "{\"students\":[\"S1\",\"S2\"]}", 200));
	json_decref(call_json("PUT", "/v1/counselors/C2/students", t.token,
	                      "{\"students\":[\"S3\"]}", 200));
	open_file(office, "S1", a);
	open_file(office, "S3", b);

	/* each counselor sees their own student's alert, and only that */
	l = alerts(c1, "open");
	cr_assert_eq(json_array_size(l), 1);
	cr_assert_str_eq(jstr(json_array_get(l, 0), "case_id"), a);
	cr_assert_str_eq(jstr(json_array_get(l, 0), "kind"), "docs_missing");
	alert_id =
	        json_integer_value(json_object_get(json_array_get(l, 0), "id"));
	json_decref(l);
	l = alerts(c2, "open");
	cr_assert_eq(json_array_size(l), 1);
	cr_assert_str_eq(jstr(json_array_get(l, 0), "case_id"), b);
	json_decref(l);
	/* the office sees its two office alerts; another office none */
	l = alerts(office, "open");
	cr_assert_eq(json_array_size(l), 2);
	cr_assert_str_eq(jstr(json_array_get(l, 0), "kind"), "office_check");
	json_decref(l);
	l = alerts(other_office, "open");
	cr_assert_eq(json_array_size(l), 0);
	json_decref(l);
	/* the caseload opens the student's case to the counselor */
	snprintf(path, sizeof(path), "/v1/cases/%s", a);
	json_decref(call_json("GET", path, c1, NULL, 200));
	json_decref(call_json("GET", path, c2, NULL, 404));
	j = call_json("GET", "/v1/cases", c1, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(j, "cases")), 1);
	cr_assert_str_eq(
	        jstr(json_array_get(json_object_get(j, "cases"), 0), "id"), a);
	json_decref(j);

	/* reminding twice raises no second open alert of the kind */
	send_event(office, a, "remind", 200);
	send_event(office, a, "remind", 200);
	cr_assert_eq(db_count("SELECT count(*) FROM alerts WHERE state = "
	                      "'open' AND kind = 'docs_missing'"),
	             2);
	/* and each new alert went to the webhook's outbox exactly once */
	cr_assert_eq(db_count("SELECT count(*) FROM outbox WHERE adapter = "
	                      "'counselor_portal' AND operation = 'notify'"),
	             4);
	/* each the alert as JSON, keyed by the alert */
	cr_assert_eq(db_count("SELECT count(*) FROM outbox o JOIN alerts a"
	                      " ON o.idem_key = 'alert:' || a.id WHERE"
	                      " json_extract(o.payload, '$.kind') = a.kind"
	                      " AND json_extract(o.payload, '$.case_id') ="
	                      " a.case_id AND json_extract(o.payload,"
	                      " '$.message') = a.message"),
	             4);

	/* another counselor may not acknowledge it; its own may */
	snprintf(path, sizeof(path), "/v1/alerts/%lld/ack", alert_id);
	json_decref(call_json("POST", path, c2, NULL, 404));
	json_decref(call_json("POST", path, other_office, NULL, 404));
	j = call_json("POST", path, c1, NULL, 200);
	cr_assert(json_is_integer(json_object_get(j, "acked_at")));
	cr_assert_str_eq(jstr(j, "state"), "open");
	json_decref(j);

	/* the documents arrive: the case leaves "waiting", the alerts go */
	send_event(s1, a, "upload", 200);
	l = alerts(c1, "open");
	cr_assert_eq(json_array_size(l), 0);
	json_decref(l);
	l = alerts(c1, "resolved");
	cr_assert_eq(json_array_size(l), 1);
	cr_assert_str_eq(jstr(json_array_get(l, 0), "resolved_by"), "system");
	json_decref(l);
	l = alerts(office, "open");
	cr_assert_eq(json_array_size(l), 1); /* b's is still open */
	json_decref(l);
	snprintf(path, sizeof(path), "/v1/alerts/%lld/resolve", alert_id);
	json_decref(call_json("POST", path, c1, NULL, 409));
	json_decref(call_json("POST", "/v1/alerts/999999/resolve", t.token,
	                      NULL, 404));
	json_decref(call_json("GET", "/v1/alerts?state=maybe", c1, NULL, 400));
	json_decref(call_json("GET", "/v1/alerts", s1, NULL, 403));
}

Test(alerts, caseload_changes_are_all_or_nothing)
{
	const char *c1 = td_token(&t, "counselor", "C1");
	json_t *j;

	json_decref(call_json("PUT", "/v1/counselors/C1/students", t.token,
	                      "{\"students\":[\"S1\"]}", 200));
	/* a bad student id: nothing changes */
	json_decref(call_json("PUT", "/v1/counselors/C1/students", t.token,
	                      "{\"students\":[\"S2\",\"not ok\"]}", 422));
	json_decref(call_json("PUT", "/v1/counselors/C1/students", c1,
	                      "{\"students\":[\"S2\"]}", 403));
	j = call_json("GET", "/v1/counselors/C1/students", c1, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(j, "students")), 1);
	cr_assert_str_eq(json_string_value(json_array_get(
	                         json_object_get(j, "students"), 0)),
	                 "S1");
	json_decref(j);
	json_decref(
	        call_json("GET", "/v1/counselors/C2/students", c1, NULL, 404));
	/* a bulk import with a bad row: 422 naming it, nothing in */
	j = call_json("POST", "/v1/caseloads", t.token,
	              "{\"rows\":[{\"counselor\":\"C9\",\"student\":\"S7\"},"
	              "{\"counselor\":\"C9\",\"student\":\"\"}]}",
	              422);
	cr_assert_eq(json_integer_value(json_object_get(
	                     json_array_get(json_object_get(j, "errors"), 0),
	                     "index")),
	             1);
	json_decref(j);
	j = call_json("GET", "/v1/counselors/C9/students", t.token, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(j, "students")), 0);
	json_decref(j);
}

Test(alerts, caseload_csv_import_reports_lines)
{
	char csv[600], out[4096], cmd[1400];
	FILE *f;
	json_t *j;
	int st;

	snprintf(csv, sizeof(csv), "%s/caseload.csv", t.dir);
	f = fopen(csv, "w");
	cr_assert_not_null(f);
	fputs("counselor,student\n"
	      "C5,S1\n"
	      "C5,S2\n"
	      "C5\n"
	      "\n"
	      "C6,bad id\n"
	      "\"C6\", \"S3\"\n",
	      f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
	         "%s --url http://127.0.0.1:%d --token %s caseload import %s",
	         td_bin("cairn"), t.port, t.token, csv);
	st = run_cmd(out, sizeof(out), "%s", cmd);
	cr_assert_eq(st, 1, "%s", out);
	cr_assert(strstr(out, "caseload.csv:4:") != NULL, "%s", out);
	cr_assert(strstr(out, "caseload.csv:6:") != NULL, "%s", out);
	cr_assert(strstr(out, "caseload.csv:2:") == NULL, "%s", out);
	j = call_json("GET", "/v1/counselors/C5/students", t.token, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(j, "students")), 0);
	json_decref(j);

	st = run_cmd(out, sizeof(out), "%s --partial", cmd);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "imported 3 rows") != NULL, "%s", out);
	j = call_json("GET", "/v1/counselors/C5/students", t.token, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(j, "students")), 2);
	json_decref(j);
	j = call_json("GET", "/v1/counselors/C6/students", t.token, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(j, "students")), 1);
	json_decref(j);
}
