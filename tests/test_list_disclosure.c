/*
 * test_list_disclosure.c: a listing read by a role that sees every field
 * class (admin, aid officer, student) is written as text on the reader
 * thread, which also builds its disclosure rows. These tests hold that
 * path to what every case read promises: one row per case shown, with
 * the reader, the route and the case's subject; nothing sent that is not
 * on the log; the chain intact (21 cases: a page of 17 goes to the log
 * as a statement of 16 rows and one of 1); the redacting roles still
 * redacted.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char list_wf[] = "name: aidfile\n"
                              "description: an aid file\n"
                              "fields:\n"
                              "  '*': internal\n"
                              "  office: public\n"
                              "  isir.*: restricted\n"
                              "statuses:\n"
                              "  open: {initial: true}\n"
                              "  closed: {terminal: true}\n"
                              "transitions:\n"
                              "  - on: close\n"
                              "    from: open\n"
                              "    to: closed\n"
                              "    roles: [aid_officer]\n";

#define NCASES 21

struct lworld {
	struct td t;
	char officer[128], student[128], counselor[128];
	char admin_id[40];
	char ids[NCASES][64];
};

static void
token_id(struct lworld *w, const char *tok, char *out, size_t len)
{
	json_t *j = td_call(&w->t, "GET", "/v1/whoami", tok, NULL, NULL, 200);

	snprintf(out, len, "%s",
	         json_string_value(json_object_get(j, "token_id")));
	json_decref(j);
}

static void
lworld_start(struct lworld *w, const char *extra_yaml)
{
	char body[512];

	memset(w, 0, sizeof(*w));
	td_start(&w->t, extra_yaml);
	td_write_workflow(&w->t, "aidfile", list_wf);
	cr_assert_eq(td_stop(&w->t), 0);
	td_restart(&w->t);
	snprintf(w->officer, sizeof(w->officer), "%s",
	         td_token(&w->t, "aid_officer", "OFF-1"));
	snprintf(w->student, sizeof(w->student), "%s",
	         td_token(&w->t, "student", "S1"));
	snprintf(w->counselor, sizeof(w->counselor), "%s",
	         td_token(&w->t, "counselor", "C1"));
	json_decref(td_call(&w->t, "PUT", "/v1/counselors/C1/students",
	                    w->t.token, "{\"students\":[\"S1\",\"S2\"]}", NULL,
	                    200));
	token_id(w, w->t.token, w->admin_id, sizeof(w->admin_id));
	for (int i = 0; i < NCASES; i++) {
		json_t *j;

		snprintf(body, sizeof(body),
		         "{\"workflow\":\"aidfile\",\"subject\":\"S%d\","
		         "\"data\":{\"office\":\"OFF-1\",\"isir\":"
		         "{\"sai\":%d}}}",
		         i + 1, 1000 + i);
		j = td_call(&w->t, "POST", "/v1/cases", w->officer, body, NULL,
		            201);
		snprintf(w->ids[i], sizeof(w->ids[i]), "%s",
		         json_string_value(json_object_get(j, "id")));
		json_decref(j);
	}
}

static json_t *
disclosures_of(struct lworld *w, const char *reader)
{
	char path[256];
	json_t *j, *rows;

	snprintf(path, sizeof(path), "/v1/disclosures?reader=%s&limit=1000",
	         reader);
	j = td_call(&w->t, "GET", path, w->t.token, NULL, NULL, 200);
	rows = json_incref(json_object_get(j, "disclosures"));
	json_decref(j);
	cr_assert(json_is_array(rows));
	return rows;
}

/* Whether rows (newest first) hold, among their listing rows, exactly the
 * cases of page, with their subjects. */
static void
assert_page_on_log(json_t *rows, json_t *page, const char *role)
{
	size_t i, k, listed = 0;
	json_t *row, *cs;

	json_array_foreach(rows, i, row)
	{
		if (strcmp(json_string_value(json_object_get(row, "route")),
		           "GET /v1/cases"))
			continue;
		listed++;
		cr_assert_str_eq(
		        json_string_value(json_object_get(row, "role")), role);
	}
	cr_assert_eq(listed, json_array_size(page), "%zu rows for %zu cases",
	             listed, json_array_size(page));
	json_array_foreach(page, k, cs)
	{
		const char *id = json_string_value(json_object_get(cs, "id"));
		int found = 0;

		json_array_foreach(rows, i, row)
		{
			if (strcmp(json_string_value(
			                   json_object_get(row, "case_id")),
			           id))
				continue;
			cr_assert_str_eq(json_string_value(json_object_get(
			                         row, "subject")),
			                 json_string_value(json_object_get(
			                         cs, "subject")));
			found++;
		}
		cr_assert_eq(found, 1, "case %s on the log %d times", id,
		             found);
	}
}

Test(list_disclosure, every_case_of_a_page_is_on_the_log_once, .timeout = 120)
{
	struct lworld w;
	char path[256], sid[40];
	json_t *p1, *p2, *all, *rows, *j, *cs;
	const char *next;
	size_t i;

	lworld_start(&w, NULL);
	/* two pages as the admin: the text path */
	p1 = td_call(&w.t, "GET", "/v1/cases?workflow=aidfile&limit=4",
	             w.t.token, NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(p1, "cases")), 4);
	next = json_string_value(json_object_get(p1, "next"));
	cr_assert_not_null(next);
	snprintf(path, sizeof(path), "/v1/cases?workflow=aidfile&cursor=%s",
	         next);
	p2 = td_call(&w.t, "GET", path, w.t.token, NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(p2, "cases")), NCASES - 4);
	cr_assert(json_is_null(json_object_get(p2, "next")));
	/* the admin sees every class, values as stored */
	json_array_foreach(json_object_get(p1, "cases"), i, cs)
	{
		json_t *sai = json_object_get(
		        json_object_get(json_object_get(cs, "data"), "isir"),
		        "sai");

		cr_assert(json_is_integer(sai), "%s",
		          json_dumps(cs, JSON_COMPACT));
	}
	all = json_array();
	json_array_extend(all, json_object_get(p1, "cases"));
	json_array_extend(all, json_object_get(p2, "cases"));
	rows = disclosures_of(&w, w.admin_id);
	assert_page_on_log(rows, all, "admin");
	json_decref(rows);

	/* a page past the end ('~' sorts after every id) shows nothing
	 * and records nothing */
	j = td_call(&w.t, "GET", "/v1/cases?workflow=aidfile&cursor=~",
	            w.t.token, NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(j, "cases")), 0);
	json_decref(j);
	rows = disclosures_of(&w, w.admin_id);
	assert_page_on_log(rows, all, "admin");
	json_decref(rows);
	json_decref(all);

	/* a student: their own case only, on their own log */
	j = td_call(&w.t, "GET", "/v1/cases", w.student, NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(j, "cases")), 1);
	token_id(&w, w.student, sid, sizeof(sid));
	rows = disclosures_of(&w, sid);
	assert_page_on_log(rows, json_object_get(j, "cases"), "student");
	json_decref(rows);
	json_decref(j);

	/* a counselor's listing is still redacted, and recorded */
	j = td_call(&w.t, "GET", "/v1/cases", w.counselor, NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(j, "cases")), 2);
	json_array_foreach(json_object_get(j, "cases"), i, cs)
	{
		const char *sai = json_string_value(json_object_get(
		        json_object_get(json_object_get(cs, "data"), "isir"),
		        "sai"));

		cr_assert(sai && strstr(sai, "[redacted: restricted]"), "%s",
		          json_dumps(cs, JSON_COMPACT));
	}
	token_id(&w, w.counselor, sid, sizeof(sid));
	rows = disclosures_of(&w, sid);
	assert_page_on_log(rows, json_object_get(j, "cases"), "counselor");
	json_decref(rows);
	json_decref(j);

	/* the chain holds over rows written a page at a time */
	j = td_call(&w.t, "GET", "/v1/audit/verify", w.t.token, NULL, NULL,
	            200);
	cr_assert(json_is_true(json_object_get(j, "ok")), "%s",
	          json_dumps(j, JSON_COMPACT));
	json_decref(j);
	td_cleanup(&w.t);
}

Test(list_disclosure, a_page_is_refused_when_its_rows_cannot_be_recorded,
     .timeout = 180)
{
	struct lworld w;
	char out[1024];
	struct resp r;
	int answered = 0, refused = 0;
	json_t *rows, *j;

	lworld_start(&w, NULL);
	/* the database may not grow by a page from now on */
	cr_assert_eq(td_stop(&w.t), 0);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "printf 'limits: {max_database: 1KiB}\\n' >> '%s'",
	                     w.t.cfg),
	             0, "%s", out);
	td_restart(&w.t);
	for (int i = 0; i < 2000 && refused == 0; i++) {
		cr_assert_eq(http_do(&w.t, "GET", "/v1/cases?workflow=aidfile",
		                     w.t.token, NULL, NULL, 0, &r),
		             0);
		if (r.status == 200) {
			answered++;
		} else {
			cr_assert_eq(r.status, 503, "%d %s", r.status, r.body);
			cr_assert(strstr(r.body, "storage-full"), "%s", r.body);
			/* nothing of the page leaves */
			cr_assert(!strstr(r.body, w.ids[0]) &&
			                  !strstr(r.body, "OFF-1"),
			          "%s", r.body);
			refused++;
		}
		resp_free(&r);
	}
	cr_assert_eq(refused, 1, "the log never filled the cap");
	cr_assert_eq(td_stop(&w.t), 0);
	cr_assert_eq(run_cmd(out, sizeof(out), "sed -i '/max_database/d' '%s'",
	                     w.t.cfg),
	             0, "%s", out);
	td_restart(&w.t);
	/* every answered page is on the log, a row per case */
	rows = disclosures_of(&w, w.admin_id);
	cr_assert_eq((int)json_array_size(rows), answered * NCASES,
	             "%d pages answered, %zu rows on the log", answered,
	             json_array_size(rows));
	json_decref(rows);
	/* the log goes on from its committed head, and the chain holds */
	j = td_call(&w.t, "GET", "/v1/cases?workflow=aidfile", w.t.token, NULL,
	            NULL, 200);
	json_decref(j);
	j = td_call(&w.t, "GET", "/v1/audit/verify", w.t.token, NULL, NULL,
	            200);
	cr_assert(json_is_true(json_object_get(j, "ok")), "%s",
	          json_dumps(j, JSON_COMPACT));
	json_decref(j);
	td_cleanup(&w.t);
}
