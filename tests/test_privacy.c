/*
 * test_privacy.c: field sensitivity and the disclosure log (issue 7,
 * items 2 and 3).
 *
 * - the `fields:` block: classes parsed, bad ones refused at their line
 *   and column; the most specific entry wins; redaction marks values;
 * - over HTTP, one aid file read by every role: each sees what its class
 *   allows, in the case, the list, the history and a command's reply;
 * - the disclosure log: a counselor's read shows in the student's
 *   /v1/me/disclosures and nowhere in another student's; the admin's
 *   filters and paging; the chain verifies, and a row edited or cut off
 *   with the sqlite3 shell is named by cairn audit verify (offline and
 *   online);
 * - a read whose disclosure cannot be recorded (the database at its size
 *   cap) is refused, and every read that was answered is on the log;
 * - reads' rows commit without waiting for an fsync (the WAL is synced
 *   within the window after), and cairnd killed with SIGKILL amid reads
 *   keeps the row of every read it answered;
 * - the daemon's log holds no token and no sensitive value.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../workflows/workflow.h"
#include "harness.h"

/* --- the fields block, offline --------------------------------------- */

struct plog {
	char text[4096];
	int errors;
};

static void
plog_cb(const struct cairn_err *e, int warning, void *data)
{
	struct plog *l = data;
	char line[1200];

	if (!warning)
		l->errors++;
	cairn_err_format(e, line, sizeof(line));
	snprintf(l->text + strlen(l->text), sizeof(l->text) - strlen(l->text),
	         "%s\n", line);
}

static const char wf_head[] = "name: aid\n"
                              "description: an aid file\n"
                              "statuses:\n"
                              "  open: {initial: true}\n"
                              "  closed: {terminal: true}\n"
                              "transitions:\n"
                              "  - on: close\n"
                              "    from: open\n"
                              "    to: closed\n"
                              "    roles: [aid_officer]\n";

static struct wf_def *
load_with(const char *fields, struct plog *l)
{
	char text[4096];
	struct wf_def *d = NULL;

	snprintf(text, sizeof(text), "%s%s", wf_head, fields);
	memset(l, 0, sizeof(*l));
	wf_def_load_text("aid.yaml", text, strlen(text), NULL, plog_cb, l, &d);
	return d;
}

Test(privacy, fields_parse_and_bad_ones_are_refused_where_they_are)
{
	struct plog l;
	struct wf_def *d;

	d = load_with("fields:\n"
	              "  '*': internal\n"
	              "  isir: restricted\n"
	              "  isir.*: sensitive\n"
	              "  isir.ssn_last4: restricted\n"
	              "  office: public\n",
	              &l);
	cr_assert_not_null(d, "%s", l.text);
	cr_assert_eq(d->nfields, 4);
	cr_assert_eq(d->default_class, WF_CLASS_INTERNAL);
	wf_def_free(d);

	/* without '*', an unnamed field is sensitive */
	d = load_with("fields: {office: public}\n", &l);
	cr_assert_not_null(d, "%s", l.text);
	cr_assert_eq(d->default_class, WF_CLASS_SENSITIVE);
	cr_assert_eq(wf_field_class(d, "income"), WF_CLASS_SENSITIVE);
	wf_def_free(d);

	/* a class that does not exist: at its line and column */
	d = load_with("fields:\n  isir.sai: secret\n", &l);
	cr_assert_null(d);
	cr_assert(strstr(l.text, "aid.yaml:12:13:") != NULL, "%s", l.text);
	cr_assert(strstr(l.text, "'secret' is not a field class") != NULL, "%s",
	          l.text);
	cr_assert(strstr(l.text, "public, internal, sensitive or restricted"),
	          "%s", l.text);

	d = load_with("fields:\n  isir..sai: internal\n", &l);
	cr_assert_null(d);
	cr_assert(strstr(l.text, "aid.yaml:12:3:") != NULL, "%s", l.text);
	cr_assert(strstr(l.text, "is not a data path") != NULL, "%s", l.text);

	d = load_with("fields:\n  a: public\n  a: internal\n", &l);
	cr_assert_null(d);
	cr_assert(strstr(l.text, "aid.yaml:13:3:") != NULL, "%s", l.text);
	cr_assert(strstr(l.text, "classified twice (first at line 12)"), "%s",
	          l.text);

	d = load_with("fields: [income]\n", &l);
	cr_assert_null(d);
	cr_assert(strstr(l.text, "'fields' must be a mapping") != NULL, "%s",
	          l.text);

	d = load_with("fields:\n  income: [restricted]\n", &l);
	cr_assert_null(d);
	cr_assert(strstr(l.text, "aid.yaml:12:11:") != NULL, "%s", l.text);
}

Test(privacy, the_most_specific_entry_wins_and_values_are_marked)
{
	struct plog l;
	struct wf_def *d = load_with("fields:\n"
	                             "  '*': public\n"
	                             "  isir: restricted\n"
	                             "  isir.*: sensitive\n"
	                             "  isir.ssn_last4: restricted\n"
	                             "  student.income: restricted\n"
	                             "  notes: internal\n",
	                             &l);
	json_t *data;
	char *text;

	cr_assert_not_null(d, "%s", l.text);
	cr_assert_eq(wf_field_class(d, "isir"), WF_CLASS_RESTRICTED);
	cr_assert_eq(wf_field_class(d, "isir.sai"), WF_CLASS_SENSITIVE);
	cr_assert_eq(wf_field_class(d, "isir.ssn_last4"), WF_CLASS_RESTRICTED);
	cr_assert_eq(wf_field_class(d, "isir.x.y"), WF_CLASS_SENSITIVE);
	cr_assert_eq(wf_field_class(d, "isirx"), WF_CLASS_PUBLIC);
	cr_assert_eq(wf_field_class(d, "student.income"), WF_CLASS_RESTRICTED);
	cr_assert_eq(wf_field_class(d, "student.gpa"), WF_CLASS_PUBLIC);

	data = json_loads("{\"office\":\"OFF-1\",\"notes\":\"no transcript\","
	                  "\"isir\":{\"sai\":1200,\"ssn_last4\":\"6789\"},"
	                  "\"student\":{\"income\":87654,\"gpa\":3.5}}",
	                  0, NULL);
	/* a counselor: up to internal */
	cr_assert_eq(wf_redact(d, data, "", WF_CLASS_INTERNAL), 3);
	text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
	cr_assert_str_eq(text, "{\"isir\":{\"sai\":\"[redacted: sensitive]\","
	                       "\"ssn_last4\":\"[redacted: restricted]\"},"
	                       "\"notes\":\"no transcript\",\"office\":"
	                       "\"OFF-1\",\"student\":{\"gpa\":3.5,"
	                       "\"income\":\"[redacted: restricted]\"}}");
	free(text);
	json_decref(data);
	/* no class at all: even public values go */
	data = json_pack("{s:s, s:i}", "office", "OFF-1", "n", 1);
	cr_assert_eq(wf_redact(d, data, "", -1), 2);
	cr_assert_str_eq(json_string_value(json_object_get(data, "office")),
	                 "[redacted: public]");
	json_decref(data);
	/* a key longer than any entry is still a member of isir.* */
	{
		char key[700];

		memset(key, 'k', sizeof(key) - 1);
		key[sizeof(key) - 1] = '\0';
		data = json_pack("{s:{s:i}, s:{s:i}}", "isir", key, 1, "other",
		                 key, 2);
		cr_assert_eq(wf_redact(d, data, "", WF_CLASS_INTERNAL), 1);
		cr_assert_str_eq(json_string_value(json_object_get(
		                         json_object_get(data, "isir"), key)),
		                 "[redacted: sensitive]");
		json_decref(data);
	}
	/* everything: nothing changes */
	data = json_pack("{s:{s:s}}", "isir", "ssn_last4", "6789");
	cr_assert_eq(wf_redact(d, data, "", WF_CLASS_RESTRICTED), 0);
	json_decref(data);
	wf_def_free(d);
}

/* --- one aid file, every role ---------------------------------------- */

static const char aid_wf[] = "name: aidfile\n"
                             "description: an aid file with classified fields\n"
                             "fields:\n"
                             "  '*': internal\n"
                             "  office: public\n"
                             "  isir.*: restricted\n"
                             "  isir.sai: sensitive\n"
                             "  student.income: restricted\n"
                             "  student.gpa: sensitive\n"
                             "statuses:\n"
                             "  open: {initial: true}\n"
                             "  closed: {terminal: true}\n"
                             "transitions:\n"
                             "  - on: update\n"
                             "    from: open\n"
                             "    to: open\n"
                             "    roles: [aid_officer, counselor, student]\n"
                             "    actions:\n"
                             "      - set: {student.income: $event.income}\n"
                             "  - on: close\n"
                             "    from: open\n"
                             "    to: closed\n"
                             "    roles: [aid_officer]\n";

struct world {
	struct td t;
	char id[64];
	char counselor[128], officer[128], admissions[128], student[128],
	        other[128], policy[128];
	char counselor_id[40];
};

static void
copy_token(struct world *w, char *dst, const char *role, const char *scope)
{
	snprintf(dst, 128, "%s", td_token(&w->t, role, scope));
}

static void
world_start(struct world *w, const char *extra_yaml)
{
	char path[600];
	FILE *f;
	json_t *j;

	memset(w, 0, sizeof(*w));
	td_start(&w->t, extra_yaml);
	snprintf(path, sizeof(path), "%s/defs/workflows/aidfile.yaml",
	         w->t.dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(aid_wf, f);
	fclose(f);
	cr_assert_eq(td_stop(&w->t), 0);
	td_restart(&w->t);
	copy_token(w, w->counselor, "counselor", "C1");
	copy_token(w, w->officer, "aid_officer", "OFF-1");
	copy_token(w, w->admissions, "admissions", "OFF-1");
	copy_token(w, w->student, "student", "S1");
	copy_token(w, w->other, "student", "S2");
	copy_token(w, w->policy, "policy", NULL);
	json_decref(td_call(&w->t, "PUT", "/v1/counselors/C1/students",
	                    w->t.token, "{\"students\":[\"S1\",\"S2\"]}", NULL,
	                    200));
	j = td_call(&w->t, "GET", "/v1/whoami", w->counselor, NULL, NULL, 200);
	snprintf(w->counselor_id, sizeof(w->counselor_id), "%s",
	         json_string_value(json_object_get(j, "token_id")));
	json_decref(j);
	j = td_call(&w->t, "POST", "/v1/cases", w->officer,
	            "{\"workflow\":\"aidfile\",\"subject\":\"S1\",\"data\":{"
	            "\"office\":\"OFF-1\",\"notes\":\"transcript missing\","
	            "\"isir\":{\"sai\":1200,\"ssn_last4\":\"6789\","
	            "\"citizenship_status\":\"2\"},"
	            "\"student\":{\"income\":87654,\"gpa\":3.5}}}",
	            NULL, 201);
	snprintf(w->id, sizeof(w->id), "%s",
	         json_string_value(json_object_get(j, "id")));
	json_decref(j);
}

/* The body of a GET that must answer want. */
static char *
get_text(struct world *w, const char *path, const char *tok, int want)
{
	struct resp r;
	char *s;

	cr_assert_eq(http_do(&w->t, "GET", path, tok, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, want, "GET %s: want %d, got %d %s", path, want,
	             r.status, r.body);
	s = strdup(r.body ? r.body : "");
	resp_free(&r);
	return s;
}

static const char *
dpath(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(json_object_get(j, "data"), a);

	v = b ? json_object_get(v, b) : v;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

Test(privacy, each_role_sees_what_its_class_allows, .timeout = 120)
{
	struct world w;
	char path[160], *s;
	json_t *j;

	world_start(&w, NULL);
	snprintf(path, sizeof(path), "/v1/cases/%s", w.id);

	/* a counselor: statuses and what is missing, not income or ISIR */
	j = td_call(&w.t, "GET", path, w.counselor, NULL, NULL, 200);
	cr_assert_str_eq(dpath(j, "office", NULL), "OFF-1");
	cr_assert_str_eq(dpath(j, "notes", NULL), "transcript missing");
	cr_assert_str_eq(dpath(j, "student", "income"),
	                 "[redacted: restricted]");
	cr_assert_str_eq(dpath(j, "student", "gpa"), "[redacted: sensitive]");
	cr_assert_str_eq(dpath(j, "isir", "sai"), "[redacted: sensitive]");
	cr_assert_str_eq(dpath(j, "isir", "ssn_last4"),
	                 "[redacted: restricted]");
	json_decref(j);

	/* admissions: grades and the SAI, not income or the SSN */
	j = td_call(&w.t, "GET", path, w.admissions, NULL, NULL, 200);
	cr_assert_eq(
	        json_real_value(json_object_get(
	                json_object_get(json_object_get(j, "data"), "student"),
	                "gpa")),
	        3.5);
	cr_assert_eq(
	        json_integer_value(json_object_get(
	                json_object_get(json_object_get(j, "data"), "isir"),
	                "sai")),
	        1200);
	cr_assert_str_eq(dpath(j, "student", "income"),
	                 "[redacted: restricted]");
	cr_assert_str_eq(dpath(j, "isir", "citizenship_status"),
	                 "[redacted: restricted]");
	json_decref(j);

	/* the aid officer of the office and the student: everything */
	s = get_text(&w, path, w.officer, 200);
	cr_assert(strstr(s, "87654") && strstr(s, "6789") &&
	                  !strstr(s, "redacted"),
	          "%s", s);
	free(s);
	s = get_text(&w, path, w.student, 200);
	cr_assert(strstr(s, "87654") && !strstr(s, "redacted"), "%s", s);
	free(s);
	/* out of scope: not confirmed to exist; policy staff may not read
	 * cases at all (the matrix refuses the role: 403) */
	free(get_text(&w, path, w.other, 404));
	free(get_text(&w, path, w.policy, 403));

	/* a change the counselor then reads: the history's payloads and
	 * the list are redacted the same way */
	json_decref(td_call(
	        &w.t, "POST", strcat(strcpy((char[200]){0}, path), "/events"),
	        w.officer, "{\"type\":\"update\",\"data\":{\"income\":99999}}",
	        NULL, 200));
	snprintf(path, sizeof(path), "/v1/cases/%s/history", w.id);
	s = get_text(&w, path, w.counselor, 200);
	cr_assert(!strstr(s, "87654") && !strstr(s, "99999") &&
	                  !strstr(s, "6789"),
	          "%s", s);
	cr_assert(strstr(s, "[redacted: restricted]") != NULL, "%s", s);
	cr_assert(strstr(s, "transcript missing") != NULL, "%s", s);
	free(s);
	s = get_text(&w, path, w.officer, 200);
	cr_assert(strstr(s, "99999") && strstr(s, "87654"), "%s", s);
	free(s);
	s = get_text(&w, "/v1/cases", w.counselor, 200);
	cr_assert(strstr(s, w.id) != NULL, "%s", s);
	cr_assert(!strstr(s, "99999") && !strstr(s, "6789"), "%s", s);
	free(s);
	s = get_text(&w, "/v1/cases?limit=5", w.admissions, 200);
	cr_assert(strstr(s, w.id) && !strstr(s, "99999") && strstr(s, "1200"),
	          "%s", s);
	free(s);

	/* a command's reply shows the case too: redacted for its sender */
	snprintf(path, sizeof(path), "/v1/cases/%s/events", w.id);
	j = td_call(&w.t, "POST", path, w.counselor,
	            "{\"type\":\"update\",\"data\":{\"income\":55555}}", NULL,
	            200);
	cr_assert_str_eq(dpath(j, "student", "income"),
	                 "[redacted: restricted]");
	json_decref(j);
	td_cleanup(&w.t);
}

/* --- the disclosure log ---------------------------------------------- */

static json_t *
rows_of(json_t *j)
{
	json_t *r = json_object_get(j, "disclosures");

	cr_assert(json_is_array(r));
	return r;
}

Test(privacy, who_looked_at_my_record, .timeout = 120)
{
	struct world w;
	char path[256], cpath[128];
	json_t *j, *row, *page2;
	const char *next;
	size_t i;
	int counselor_rows = 0;

	world_start(&w, NULL);
	snprintf(cpath, sizeof(cpath), "/v1/cases/%s", w.id);
	json_decref(td_call(&w.t, "GET", cpath, w.counselor, NULL, NULL, 200));
	snprintf(path, sizeof(path), "%s/history", cpath);
	json_decref(td_call(&w.t, "GET", path, w.counselor, NULL, NULL, 200));

	/* the student sees who: role and scope, the route, when */
	j = td_call(&w.t, "GET", "/v1/me/disclosures", w.student, NULL, NULL,
	            200);
	json_array_foreach(rows_of(j), i, row)
	{
		cr_assert_str_eq(
		        json_string_value(json_object_get(row, "case_id")),
		        w.id);
		cr_assert_null(json_object_get(row, "token_id"));
		cr_assert(json_is_integer(json_object_get(row, "at")));
		if (!strcmp(json_string_value(json_object_get(row, "role")),
		            "counselor")) {
			cr_assert_str_eq(json_string_value(
			                         json_object_get(row, "scope")),
			                 "C1");
			counselor_rows++;
		}
	}
	cr_assert_eq(counselor_rows, 2, "%s", json_dumps(j, JSON_COMPACT));
	/* newest first: the history read, then the case */
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_array_get(rows_of(j), 0), "route")),
	                 "GET /v1/cases/{id}/history");
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_array_get(rows_of(j), 1), "route")),
	                 "GET /v1/cases/{id}");
	json_decref(j);

	/* another student sees nothing of it */
	j = td_call(&w.t, "GET", "/v1/me/disclosures", w.other, NULL, NULL,
	            200);
	cr_assert_eq(json_array_size(rows_of(j)), 0);
	json_decref(j);

	/* the admin's filters: by reader, by subject, by case, by time */
	snprintf(path, sizeof(path), "/v1/disclosures?reader=%s",
	         w.counselor_id);
	j = td_call(&w.t, "GET", path, w.t.token, NULL, NULL, 200);
	cr_assert_eq(json_array_size(rows_of(j)), 2);
	json_array_foreach(rows_of(j), i, row)
	{
		cr_assert_str_eq(
		        json_string_value(json_object_get(row, "token_id")),
		        w.counselor_id);
		cr_assert_str_eq(
		        json_string_value(json_object_get(row, "subject")),
		        "S1");
	}
	json_decref(j);
	j = td_call(&w.t, "GET", "/v1/disclosures?subject=S2", w.t.token, NULL,
	            NULL, 200);
	cr_assert_eq(json_array_size(rows_of(j)), 0);
	json_decref(j);
	snprintf(path, sizeof(path), "/v1/disclosures?case=%s&limit=1", w.id);
	j = td_call(&w.t, "GET", path, w.t.token, NULL, NULL, 200);
	cr_assert_eq(json_array_size(rows_of(j)), 1);
	next = NULL;
	cr_assert(json_is_integer(json_object_get(j, "next")));
	snprintf(path, sizeof(path),
	         "/v1/disclosures?case=%s&limit=1&cursor=%lld", w.id,
	         (long long)json_integer_value(json_object_get(j, "next")));
	page2 = td_call(&w.t, "GET", path, w.t.token, NULL, NULL, 200);
	cr_assert_eq(json_array_size(rows_of(page2)), 1);
	cr_assert_lt(json_integer_value(json_object_get(
	                     json_array_get(rows_of(page2), 0), "seq")),
	             json_integer_value(json_object_get(
	                     json_array_get(rows_of(j), 0), "seq")));
	(void)next;
	json_decref(page2);
	json_decref(j);
	j = td_call(&w.t, "GET", "/v1/disclosures?since=2999-01-01", w.t.token,
	            NULL, NULL, 200);
	cr_assert_eq(json_array_size(rows_of(j)), 0);
	json_decref(j);
	j = td_call(&w.t, "GET", "/v1/disclosures?since=2000-01-01T00:00:00Z",
	            w.t.token, NULL, NULL, 200);
	cr_assert_geq(json_array_size(rows_of(j)), 3);
	json_decref(j);

	/* bad queries and the wrong roles */
	json_decref(td_call(&w.t, "GET", "/v1/disclosures?who=x", w.t.token,
	                    NULL, NULL, 400));
	json_decref(td_call(&w.t, "GET", "/v1/disclosures?limit=0", w.t.token,
	                    NULL, NULL, 400));
	json_decref(td_call(&w.t, "GET", "/v1/disclosures?since=yesterday",
	                    w.t.token, NULL, NULL, 400));
	json_decref(td_call(&w.t, "GET", "/v1/disclosures?case=a&case=b",
	                    w.t.token, NULL, NULL, 400));
	json_decref(td_call(&w.t, "GET", "/v1/disclosures?subject=%00",
	                    w.t.token, NULL, NULL, 400));
	json_decref(td_call(&w.t, "GET", "/v1/disclosures", w.student, NULL,
	                    NULL, 403));
	json_decref(td_call(&w.t, "GET", "/v1/me/disclosures?subject=S1",
	                    w.other, NULL, NULL, 400));
	json_decref(td_call(&w.t, "GET", "/v1/me/disclosures", w.counselor,
	                    NULL, NULL, 403));
	json_decref(td_call(&w.t, "GET", "/v1/me/disclosures", NULL, NULL, NULL,
	                    401));

	/* a list discloses each case of its page */
	json_decref(td_call(&w.t, "GET", "/v1/cases", w.counselor, NULL, NULL,
	                    200));
	snprintf(path, sizeof(path), "/v1/disclosures?reader=%s",
	         w.counselor_id);
	j = td_call(&w.t, "GET", path, w.t.token, NULL, NULL, 200);
	cr_assert_eq(json_array_size(rows_of(j)), 3);
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_array_get(rows_of(j), 0), "route")),
	                 "GET /v1/cases");
	json_decref(j);

	/* the same through the CLI */
	{
		char out[8192];

		cr_assert_eq(run_cmd(out, sizeof(out),
		                     "%s --url http://127.0.0.1:%d --token %s "
		                     "disclosures --me --all",
		                     td_bin("cairn"), w.t.port, w.student),
		             0, "%s", out);
		cr_assert(strstr(out, "counselor C1") != NULL, "%s", out);
		cr_assert(strstr(out, "GET /v1/cases/{id}/history"), "%s", out);
		cr_assert(strstr(out, w.counselor_id) == NULL, "%s", out);
		cr_assert_eq(run_cmd(out, sizeof(out),
		                     "%s --url http://127.0.0.1:%d --token %s "
		                     "disclosures --reader %s --limit 2",
		                     td_bin("cairn"), w.t.port, w.t.token,
		                     w.counselor_id),
		             0, "%s", out);
		cr_assert(strstr(out, "more: --cursor") != NULL, "%s", out);
		cr_assert(strstr(out, "S1") != NULL, "%s", out);
		/* a student may not read the whole log: exit 4 */
		cr_assert_eq(run_cmd(out, sizeof(out),
		                     "%s --url http://127.0.0.1:%d --token %s "
		                     "disclosures",
		                     td_bin("cairn"), w.t.port, w.student),
		             4, "%s", out);
		cr_assert_eq(run_cmd(out, sizeof(out),
		                     "%s disclosures --me --case x",
		                     td_bin("cairn")),
		             2, "%s", out);
	}
	td_cleanup(&w.t);
}

static int
verify_db(const char *db, char *out, size_t len)
{
	return run_cmd(out, len, "%s audit verify --db '%s'", td_bin("cairn"),
	               db);
}

Test(privacy, the_disclosure_chain_verifies_and_an_edit_is_named,
     .timeout = 120)
{
	struct world w;
	char path[160], out[4096], copy[600];
	json_t *j, *c;
	size_t i;

	world_start(&w, NULL);
	snprintf(path, sizeof(path), "/v1/cases/%s", w.id);
	for (i = 0; i < 4; i++)
		json_decref(td_call(&w.t, "GET", path, w.counselor, NULL, NULL,
		                    200));
	/* beside the running daemon */
	cr_assert_eq(verify_db(w.t.db, out, sizeof(out)), 0, "%s", out);
	/* the officer's creation (its reply showed the case) and four
	 * reads */
	cr_assert(strstr(out, "disclosure log: 1 chains, 5 links, all hold"),
	          "%s", out);
	/* online: an edit made while cairnd runs is named at its row */
	snprintf(copy, sizeof(copy), "%s/copy.db", w.t.dir);
	cr_assert_eq(run_cmd(out, sizeof(out), "sqlite3 '%s' \".backup %s\"",
	                     w.t.db, copy),
	             0, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "sqlite3 '%s' \"UPDATE disclosures SET role = "
	                     "'aid_officer' WHERE seq = 2\"",
	                     w.t.db),
	             0, "%s", out);
	j = td_call(&w.t, "GET", "/v1/audit/verify", w.t.token, NULL, NULL,
	            200);
	cr_assert(json_is_false(json_object_get(j, "ok")));
	json_array_foreach(json_object_get(j, "chains"), i, c)
	{
		json_t *fb = json_object_get(c, "first_broken");

		if (strcmp(json_string_value(json_object_get(c, "chain")),
		           "disclosure log"))
			continue;
		cr_assert_not_null(fb);
		cr_assert_eq(json_integer_value(json_object_get(fb, "seq")), 2);
		cr_assert(strstr(json_string_value(json_object_get(fb, "what")),
		                 "does not match its hash"));
	}
	json_decref(j);
	cr_assert_eq(td_stop(&w.t), 0);
	cr_assert_eq(verify_db(w.t.db, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "disclosure log: first broken link: row 2:"),
	          "%s", out);
	/* the case history still holds: only the log was touched */
	cr_assert(strstr(out, "case history: 1 chains") != NULL, "%s", out);

	/* on the untouched copy: the last row cut off is caught by the
	 * recorded head */
	cr_assert_eq(verify_db(copy, out, sizeof(out)), 0, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "sqlite3 '%s' \"DELETE FROM disclosures WHERE seq "
	                     "= (SELECT max(seq) FROM disclosures)\"",
	                     copy),
	             0, "%s", out);
	cr_assert_eq(verify_db(copy, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "rows were deleted from its end"), "%s", out);
	/* a row from the middle */
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "sqlite3 '%s' \"DELETE FROM disclosures WHERE seq "
	                     "= 1\"",
	                     copy),
	             0, "%s", out);
	cr_assert_eq(verify_db(copy, out, sizeof(out)), 1, "%s", out);
	cr_assert(strstr(out, "row 1 is missing"), "%s", out);
	td_cleanup(&w.t);
}

Test(privacy, a_read_is_refused_when_its_disclosure_cannot_be_recorded,
     .timeout = 180)
{
	struct world w;
	char path[160], out[1024];
	struct resp r;
	int answered = 0, refused = 0;
	json_t *j;

	world_start(&w, NULL);
	/* the database may not grow by a page from now on */
	cr_assert_eq(td_stop(&w.t), 0);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "printf 'limits: {max_database: 1KiB}\\n' >> '%s'",
	                     w.t.cfg),
	             0, "%s", out);
	td_restart(&w.t);
	snprintf(path, sizeof(path), "/v1/cases/%s", w.id);
	for (int i = 0; i < 2000 && refused == 0; i++) {
		cr_assert_eq(http_do(&w.t, "GET", path, w.counselor, NULL, NULL,
		                     0, &r),
		             0);
		if (r.status == 200) {
			answered++;
		} else {
			cr_assert_eq(r.status, 503, "%d %s", r.status, r.body);
			cr_assert(strstr(r.body, "storage-full"), "%s", r.body);
			/* nothing of the record leaves */
			cr_assert(!strstr(r.body, "transcript") &&
			                  !strstr(r.body, "OFF-1"),
			          "%s", r.body);
			refused++;
		}
		resp_free(&r);
	}
	cr_assert_eq(refused, 1, "the log never filled the cap");
	/* the same read is refused again, not answered unrecorded */
	cr_assert_eq(http_do(&w.t, "GET", path, w.counselor, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 503, "%s", r.body);
	resp_free(&r);
	/* space returns: every answered read is on the log */
	cr_assert_eq(td_stop(&w.t), 0);
	cr_assert_eq(run_cmd(out, sizeof(out), "sed -i '/max_database/d' '%s'",
	                     w.t.cfg),
	             0, "%s", out);
	td_restart(&w.t);
	snprintf(out, sizeof(out), "/v1/disclosures?reader=%s&limit=1000",
	         w.counselor_id);
	j = td_call(&w.t, "GET", out, w.t.token, NULL, NULL, 200);
	cr_assert_eq((int)json_array_size(rows_of(j)), answered,
	             "%d reads answered, %zu on the log", answered,
	             json_array_size(rows_of(j)));
	json_decref(j);
	cr_assert_eq(verify_db(w.t.db, out, sizeof(out)), 0, "%s", out);
	td_cleanup(&w.t);
}

/* --- the daemon's log ------------------------------------------------- */

Test(privacy, the_log_holds_no_token_and_no_sensitive_value, .timeout = 120)
{
	static const char bad[] = "{\"type\":\"update\",\"data\":{\"income\":"
	                          "31337,\"ssn\":\"123456789\"";
	struct world w;
	char path[160], out[4096], fake[80];
	struct resp r;

	world_start(&w, NULL); /* the harness logs at debug level */
	snprintf(path, sizeof(path), "/v1/cases/%s", w.id);
	json_decref(td_call(&w.t, "GET", path, w.officer, NULL, NULL, 200));
	snprintf(path, sizeof(path), "/v1/cases/%s/history", w.id);
	json_decref(td_call(&w.t, "GET", path, w.counselor, NULL, NULL, 200));
	snprintf(path, sizeof(path), "/v1/cases/%s/events", w.id);
	/* refused requests that carry the values: a bad body, a bad event,
	 * a bad token */
	cr_assert_eq(http_do(&w.t, "POST", path, w.officer, "application/json",
	                     bad, strlen(bad), &r),
	             0);
	cr_assert_eq(r.status, 400);
	resp_free(&r);
	json_decref(td_call(&w.t, "POST", path, w.officer,
	                    "{\"type\":\"nope\",\"data\":{\"income\":31337}}",
	                    NULL, 409));
	snprintf(fake, sizeof(fake), "cairn_%064d", 4242);
	snprintf(path, sizeof(path), "/v1/cases/%s", w.id);
	cr_assert_eq(http_do(&w.t, "GET", path, fake, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 401);
	resp_free(&r);
	snprintf(path, sizeof(path), "/v1/cases/%s/events", w.id);
	json_decref(td_call(&w.t, "POST", path, w.officer,
	                    "{\"type\":\"update\",\"data\":{\"income\":31337}}",
	                    NULL, 200));
	cr_assert_eq(td_stop(&w.t), 0);
	/* the log has the requests (so the grep means something) ... */
	cr_assert_eq(run_cmd(out, sizeof(out), "grep -c '\"request\"' '%s'",
	                     w.t.log),
	             0, "%s", out);
	cr_assert_gt(atoi(out), 8, "%s", out);
	/* ... and none of the secrets or the values */
	const char *never[] = {w.t.token,     w.officer + 6, w.counselor + 6,
	                       w.student + 6, fake + 6,      "87654",
	                       "\"6789\"",    "31337",       "123456789",
	                       "transcript"};

	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		int rc = run_cmd(out, sizeof(out), "grep -F -c -- '%s' '%s'",
		                 never[i], w.t.log);

		cr_assert_eq(rc, 1, "the log holds '%s': %s", never[i], out);
	}
	/* nor any token at all */
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "grep -E -c 'cairn_[0-9a-f]{64}' '%s'", w.t.log),
	             1, "%s", out);
	td_cleanup(&w.t);
}

/* --- the examples' classes -------------------------------------------- */

Test(privacy, the_example_aid_file_shows_a_counselor_no_finances,
     .timeout = 120)
{
	struct td t;
	char out[2048], path[160], counselor[128], officer[128];
	json_t *j, *data;
	char *text;

	td_start(&t, NULL);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "cp '%s/examples/workflows/aid_file.yaml' "
	                     "'%s/defs/workflows/'",
	                     CAIRN_SOURCE_DIR, t.dir),
	             0, "%s", out);
	cr_assert_eq(td_stop(&t), 0);
	td_use_example_rules(&t);
	td_restart(&t);
	snprintf(counselor, sizeof(counselor), "%s",
	         td_token(&t, "counselor", "C9"));
	snprintf(officer, sizeof(officer), "%s",
	         td_token(&t, "aid_officer", "fresno-city"));
	json_decref(td_call(&t, "PUT", "/v1/counselors/C9/students", t.token,
	                    "{\"students\":[\"P-1\"]}", NULL, 200));
	j = td_call(
	        &t, "POST", "/v1/cases", officer,
	        "{\"workflow\":\"aid_file\",\"subject\":\"P-1\",\"data\":{"
	        "\"office\":\"fresno-city\",\"award_year\":\"2025-26\","
	        "\"isir\":{\"sai\":4321,\"ssn_last4\":\"0042\","
	        "\"parent_agi\":73210,\"first_name\":\"Ana\","
	        "\"reject_reason_codes\":\"C\",\"citizenship_status\":\"2\"},"
	        "\"student\":{\"income\":73210,\"ab540\":true,"
	        "\"citizenship\":\"eligible_noncitizen\",\"hs_gpa\":3.5},"
	        "\"verification\":{\"selected\":true,\"group\":\"V1\"}}}",
	        NULL, 201);
	snprintf(path, sizeof(path), "/v1/cases/%s",
	         json_string_value(json_object_get(j, "id")));
	json_decref(j);
	j = td_call(&t, "GET", path, counselor, NULL, NULL, 200);
	data = json_object_get(j, "data");
	text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
	/* what blocks the file, and where it stands */
	cr_assert(strstr(text, "\"reject_reason_codes\":\"C\""), "%s", text);
	cr_assert(strstr(text, "\"group\":\"V1\""), "%s", text);
	cr_assert(strstr(text, "\"office\":\"fresno-city\""), "%s", text);
	/* never the finances, citizenship, AB 540 status or the SSN */
	cr_assert(!strstr(text, "73210") && !strstr(text, "4321") &&
	                  !strstr(text, "0042") &&
	                  !strstr(text, "eligible_noncitizen") &&
	                  !strstr(text, "Ana"),
	          "%s", text);
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_object_get(data, "student"), "ab540")),
	                 "[redacted: restricted]");
	free(text);
	json_decref(j);
	td_cleanup(&t);
}

/* --- a queue's files ------------------------------------------------- */

static const char intake_wf[] = "name: intake\n"
                                "description: a campus's intake queue\n"
                                "fields:\n"
                                "  campus: public\n"
                                "  family.income: restricted\n"
                                "  grades: sensitive\n"
                                "statuses:\n"
                                "  received:\n"
                                "    initial: true\n"
                                "    queue: intake\n"
                                "    on_enter:\n"
                                "      - alert: {kind: new_file, to: office,"
                                " message: A new file.}\n"
                                "  done: {terminal: true}\n"
                                "transitions:\n"
                                "  - on: finish\n"
                                "    from: received\n"
                                "    to: done\n"
                                "    roles: [admissions]\n";

Test(privacy, a_claimed_file_is_redacted_and_on_the_log, .timeout = 120)
{
	struct td t;
	char staff[128], staff_id[40], q[200];
	json_t *j, *rows;

	td_start(&t, NULL);
	td_write_workflow(&t, "intake", intake_wf);
	cr_assert_eq(td_stop(&t), 0);
	td_restart(&t);
	snprintf(staff, sizeof(staff), "%s",
	         td_token(&t, "admissions", "uc-davis"));
	j = td_call(&t, "GET", "/v1/whoami", staff, NULL, NULL, 200);
	snprintf(staff_id, sizeof(staff_id), "%s",
	         json_string_value(json_object_get(j, "token_id")));
	json_decref(j);
	json_decref(td_call(&t, "POST", "/v1/cases", t.token,
	                    "{\"workflow\":\"intake\",\"subject\":\"S7\","
	                    "\"data\":{\"campus\":\"uc-davis\",\"grades\":"
	                    "{\"gpa\":3.5},\"family\":{\"income\":64321}}}",
	                    NULL, 201));
	/* the queue's page names the student: on the log */
	json_decref(td_call(&t, "GET", "/v1/queues/intake", staff, NULL, NULL,
	                    200));
	j = td_call(&t, "POST", "/v1/queues/intake/claim", staff, NULL, NULL,
	            200);
	cr_assert_str_eq(
	        json_string_value(json_object_get(
	                json_object_get(
	                        json_object_get(json_object_get(j, "case"),
	                                        "data"),
	                        "family"),
	                "income")),
	        "[redacted: restricted]");
	cr_assert_eq(json_real_value(json_object_get(
	                     json_object_get(
	                             json_object_get(json_object_get(j, "case"),
	                                             "data"),
	                             "grades"),
	                     "gpa")),
	             3.5);
	json_decref(j);
	/* the office's alert names the student too */
	j = td_call(&t, "GET", "/v1/alerts", staff, NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(j, "alerts")), 1);
	json_decref(j);
	snprintf(q, sizeof(q), "/v1/disclosures?reader=%s", staff_id);
	j = td_call(&t, "GET", q, t.token, NULL, NULL, 200);
	rows = json_object_get(j, "disclosures");
	cr_assert_eq(json_array_size(rows), 3);
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_array_get(rows, 0), "route")),
	                 "GET /v1/alerts");
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_array_get(rows, 1), "route")),
	                 "POST /v1/queues/{q}/claim");
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_array_get(rows, 2), "route")),
	                 "GET /v1/queues/{q}");
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_array_get(rows, 1), "subject")),
	                 "S7");
	json_decref(j);
	td_cleanup(&t);
}

static const char copies_wf[] =
        "name: e\n"
        "description: copies event values into the data\n"
        "fields:\n"
        "  '*': public\n"
        "  student.income: restricted\n"
        "  isir.*: sensitive\n"
        "statuses:\n"
        "  open: {initial: true}\n"
        "  closed: {terminal: true}\n"
        "transitions:\n"
        "  - on: update\n"
        "    from: open\n"
        "    to: open\n"
        "    roles: [aid_officer]\n"
        "    actions:\n"
        "      - set: {student.income: $event.income, isir: $event.record}\n"
        "  - on: close\n"
        "    from: open\n"
        "    to: closed\n"
        "    roles: [aid_officer]\n";

Test(privacy, an_event_value_takes_the_class_of_where_it_lands)
{
	struct plog l;
	struct wf_def *d = NULL;
	json_t *p;
	char *text;

	memset(&l, 0, sizeof(l));
	cr_assert_eq(wf_def_load_text("e.yaml", copies_wf, strlen(copies_wf),
	                              NULL, plog_cb, &l, &d),
	             0, "%s", l.text);
	p = json_loads("{\"income\":70000,\"record\":{\"sai\":1},"
	               "\"note\":\"hi\",\"student\":{\"x\":1}}",
	               0, NULL);
	/* as case data, "income" and "record" would be public; as an event,
	 * they land in student.income and isir.* */
	cr_assert_eq(wf_redact_event(d, p, WF_CLASS_INTERNAL), 2);
	text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	cr_assert_str_eq(text, "{\"income\":\"[redacted: restricted]\","
	                       "\"note\":\"hi\",\"record\":{\"sai\":"
	                       "\"[redacted: sensitive]\"},\"student\":"
	                       "{\"x\":1}}");
	free(text);
	json_decref(p);
	wf_def_free(d);
}

/* --- the deferred sync: kill -9 amid reads ----------------------------- */

struct reader {
	pthread_t th;
	int port;
	const char *token;
	const char *path;
	atomic_int *answered; /* complete 200 replies, all readers */
	atomic_int *stop;
	int mine;
	int odd; /* a reply that was neither 200 nor cut off by the kill */
};

/* One GET on its own connection. 1 when a whole 200 reply arrived (its
 * body as long as its Content-Length says), 0 when the connection failed
 * or was cut off (the daemon was killed), -1 for any other reply. The
 * harness's reader keeps per-process state, so the threads use this. */
static int
get_whole(int port, const char *path, const char *token)
{
	char req[512], buf[65536];
	size_t len = 0;
	const char *body, *cl;
	struct pollfd p;
	int fd = tcp_connect(port), n;

	if (fd < 0)
		return 0;
	n = snprintf(req, sizeof(req),
	             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	             "Authorization: Bearer %s\r\nConnection: close\r\n\r\n",
	             path, token);
	send_all(fd, req, (size_t)n);
	p.fd = fd;
	p.events = POLLIN;
	while (len < sizeof(buf) - 1) {
		ssize_t got;

		/* generous: the machine may be very loaded */
		if (poll(&p, 1, 30000) <= 0)
			break;
		got = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	buf[len] = '\0';
	body = strstr(buf, "\r\n\r\n");
	if (body == NULL)
		return 0;
	if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0)
		return -1;
	cl = strcasestr(buf, "\r\nContent-Length:");
	if (cl == NULL || cl > body)
		return -1;
	return strtoul(cl + 17, NULL, 10) == strlen(body + 4) ? 1 : 0;
}

static void *
reader_main(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(r->stop)) {
		int rc = get_whole(r->port, r->path, r->token);

		if (rc == 1) {
			r->mine++;
			atomic_fetch_add(r->answered, 1);
		} else if (rc < 0) {
			r->odd++;
		} else {
			break; /* killed: no more answers */
		}
	}
	return NULL;
}

/* A counter from /metrics, or -1. */
static long long
metric(struct world *w, const char *name)
{
	struct resp r;
	const char *p;
	long long v = -1;

	if (http_do(&w->t, "GET", "/metrics", NULL, NULL, NULL, 0, &r) != 0)
		return -1;
	p = r.body ? strstr(r.body, name) : NULL;
	if (p != NULL)
		v = strtoll(p + strlen(name), NULL, 10);
	resp_free(&r);
	return v;
}

Test(privacy, every_answered_read_is_on_the_log_after_kill_9, .timeout = 240)
{
	enum { READERS = 4, ROUNDS = 2 };
	struct world w;
	struct reader rd[READERS];
	atomic_int answered, stop;
	char path[160], out[4096], sql[256];
	long long deferred, syncs;
	int rows, total = 0;

	world_start(&w, NULL);
	snprintf(path, sizeof(path), "/v1/cases/%s", w.id);

	/* reads alone commit without an fsync, and the syncer catches up:
	 * the WAL is fsynced after them without another write */
	for (int i = 0; i < 20; i++)
		json_decref(td_call(&w.t, "GET", path, w.counselor, NULL, NULL,
		                    200));
	deferred = metric(&w, "\ncairn_store_deferred_commits_total ");
	cr_assert_geq(deferred, 1, "no read committed deferred: %lld",
	              deferred);
	syncs = -1;
	for (int i = 0; i < 500 && syncs < 1; i++) {
		syncs = metric(&w,
		               "\ncairn_store_wal_syncs_total{result=\"ok\"} ");
		if (syncs < 1)
			usleep(20000);
	}
	cr_assert_geq(syncs, 1, "the WAL was never synced after the reads");
	cr_assert_eq(
	        metric(&w, "cairn_store_wal_syncs_total{result=\"failed\"} "),
	        0);

	for (int round = 0; round < ROUNDS; round++) {
		atomic_init(&answered, 0);
		atomic_init(&stop, 0);
		for (int i = 0; i < READERS; i++) {
			rd[i] = (struct reader){.port = w.t.port,
			                        .token = w.counselor,
			                        .path = path,
			                        .answered = &answered,
			                        .stop = &stop};
			cr_assert_eq(pthread_create(&rd[i].th, NULL,
			                            reader_main, &rd[i]),
			             0);
		}
		/* kill -9 with reads in flight, once some were answered */
		for (int i = 0; i < 6000 && atomic_load(&answered) < 150; i++)
			usleep(10000);
		cr_assert_geq(atomic_load(&answered), 1, "no read answered");
		kill(w.t.pid, SIGKILL);
		waitpid(w.t.pid, NULL, 0);
		w.t.pid = 0;
		atomic_store(&stop, 1);
		for (int i = 0; i < READERS; i++) {
			pthread_join(rd[i].th, NULL);
			cr_assert_eq(rd[i].odd, 0,
			             "a read was neither answered "
			             "nor cut off");
		}
		total += atomic_load(&answered);

		/* every answered read has its row; a read committed but
		 * not yet answered when the kill came may add one */
		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM disclosures WHERE token_id = "
		         "'%s'",
		         w.counselor_id);
		cr_assert_eq(run_cmd(out, sizeof(out), "sqlite3 '%s' \"%s\"",
		                     w.t.db, sql),
		             0, "%s", out);
		rows = atoi(out);
		cr_assert_geq(rows, 20 + total,
		              "round %d: %d reads answered in all, %d rows",
		              round, 20 + total, rows);
		cr_assert_leq(rows, 20 + total + READERS,
		              "round %d: %d rows for %d answered reads", round,
		              rows, 20 + total);
		/* the chain and its head survive the kill */
		cr_assert_eq(verify_db(w.t.db, out, sizeof(out)), 0, "%s", out);
		cr_assert(strstr(out, "disclosure log: 1 chains"), "%s", out);
		td_restart(&w.t);
		/* rows cut off unanswered count too: resync the baseline */
		total = rows - 20;
	}
	/* and the log still grows after the restart */
	json_decref(td_call(&w.t, "GET", path, w.counselor, NULL, NULL, 200));
	cr_assert_eq(td_stop(&w.t), 0);
	cr_assert_eq(verify_db(w.t.db, out, sizeof(out)), 0, "%s", out);
	td_cleanup(&w.t);
}
