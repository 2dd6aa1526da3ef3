/*
 * test_isir_match.c: matching ISIRs to students. The key (adapters/isir.c
 * isir_identity_key) is checked alone; then, through a real cairnd running
 * the example aid_file workflow: identities loaded with
 * POST /v1/isir/identities make the importer open each matched FAFSA's
 * aid file under the student's id (so it is in the student's case list
 * and their counselor's caseload), an unmatched one keeps the ISIR's
 * person UUID, a bad load changes nothing, and only an admin may load.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../adapters/isir.h"
#include "harness.h"

Test(isir_match, key_normalizes_the_name_and_checks_each_part)
{
	char a[ISIR_IDENTITY_KEY_LEN + 1], b[ISIR_IDENTITY_KEY_LEN + 1];
	const char *why = NULL;

	cr_assert_eq(
	        isir_identity_key("de la Cruz", "2006-02-03", "1234", a, &why),
	        0);
	cr_assert_eq(strlen(a), ISIR_IDENTITY_KEY_LEN);
	cr_assert_eq(
	        isir_identity_key("DELACRUZ", "2006-02-03", "1234", b, &why),
	        0);
	cr_assert_str_eq(a, b);
	cr_assert_eq(
	        isir_identity_key("DELACRUZ", "2006-02-03", "1235", b, &why),
	        0);
	cr_assert_str_neq(a, b);
	cr_assert_eq(
	        isir_identity_key("DELACRUZ", "2006-02-04", "1234", b, &why),
	        0);
	cr_assert_str_neq(a, b);
	/* the hash, never the parts */
	cr_assert_null(strstr(a, "1234"));

	cr_assert_eq(isir_identity_key("--", "2006-02-03", "1234", b, &why),
	             -20002);
	cr_assert(strstr(why, "last_name") != NULL);
	cr_assert_eq(isir_identity_key("Kim", "2006-02-30", "1234", b, &why),
	             -20002);
	cr_assert(strstr(why, "date_of_birth") != NULL);
	cr_assert_eq(isir_identity_key("Kim", "20060203", "1234", b, &why),
	             -20002);
	cr_assert_eq(isir_identity_key("Kim", "2006-02-03", "12a4", b, &why),
	             -20002);
	cr_assert(strstr(why, "ssn_last4") != NULL);
	cr_assert_eq(isir_identity_key(NULL, "2006-02-03", "1234", b, &why),
	             -20002);
}

/* --- through cairnd -------------------------------------------------------- */

static struct td t;

static void
setup(void)
{
	td_start_aid_file(&t);
}

static void
teardown(void)
{
	td_cleanup(&t);
}

/* seq's synthetic record as an identity row for student */
static json_t *
identity_of(uint64_t seq, const char *student)
{
	char rec[ISIR_RECORD_LEN + 1];
	struct isir_record r;
	json_t *isir, *row;

	isir_record_synthetic(rec, seq, 1);
	rec[ISIR_RECORD_LEN] = '\0';
	cr_assert_eq(isir_parse_record(rec, ISIR_RECORD_LEN, 1, &r), 0);
	isir = json_object_get(r.data, "isir");
	row = json_pack("{s:s, s:O, s:O, s:O}", "student", student, "last_name",
	                json_object_get(isir, "last_name"), "date_of_birth",
	                json_object_get(isir, "date_of_birth"), "ssn_last4",
	                json_object_get(isir, "ssn_last4"));
	isir_record_clear(&r);
	cr_assert_not_null(row);
	return row;
}

static const char *
person_of(uint64_t seq)
{
	static char out[64];
	char rec[ISIR_RECORD_LEN + 1];
	struct isir_record r;

	isir_record_synthetic(rec, seq, 1);
	rec[ISIR_RECORD_LEN] = '\0';
	cr_assert_eq(isir_parse_record(rec, ISIR_RECORD_LEN, 1, &r), 0);
	snprintf(out, sizeof(out), "%s",
	         json_string_value(json_object_get(
	                 json_object_get(r.data, "isir"), "person_uuid")));
	isir_record_clear(&r);
	return out;
}

static char *
file_of(uint64_t first, int n, size_t *len)
{
	char *p = malloc((size_t)n * (ISIR_RECORD_LEN + 1));

	for (int i = 0; i < n; i++) {
		isir_record_synthetic(p + (size_t)i * (ISIR_RECORD_LEN + 1),
		                      first + (uint64_t)i, 1);
		p[(size_t)i * (ISIR_RECORD_LEN + 1) + ISIR_RECORD_LEN] = '\n';
	}
	*len = (size_t)n * (ISIR_RECORD_LEN + 1);
	return p;
}

static json_t *
cases_of(const char *subject)
{
	char path[256];

	snprintf(path, sizeof(path), "/v1/cases?subject=%s", subject);
	return td_call(&t, "GET", path, t.token, NULL, NULL, 200);
}

Test(isir_match, matched_files_open_under_the_student, .init = setup,
     .fini = teardown, .timeout = 90)
{
	json_t *body =
	        json_pack("{s:[o, o]}", "identities", identity_of(501, "S-ANA"),
	                  identity_of(502, "S-LUIS"));
	json_t *res, *items, *c;
	char *text = json_dumps(body, 0), *file;
	struct resp r;
	size_t len;

	res = td_call(&t, "POST", "/v1/isir/identities", t.token, text, NULL,
	              200);
	cr_assert_eq(json_integer_value(json_object_get(res, "loaded")), 2);
	json_decref(res);
	free(text);
	json_decref(body);

	/* 501 and 502 match; 503 does not */
	file = file_of(501, 3, &len);
	cr_assert_eq(http_do(&t, "POST", "/v1/isir?office=fresno-aid", t.token,
	                     "text/plain", file, len, &r),
	             0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	res = json_loads(r.body, 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(res, "accepted")), 3,
	             "%s", r.body);
	json_decref(res);
	resp_free(&r);

	res = cases_of("S-ANA");
	items = json_object_get(res, "cases");
	cr_assert_eq(json_array_size(items), 1, "S-ANA has one aid file");
	c = json_array_get(items, 0);
	cr_assert_str_eq(json_string_value(json_object_get(c, "workflow")),
	                 "aid_file");
	json_decref(res);
	res = cases_of("S-LUIS");
	cr_assert_eq(json_array_size(json_object_get(res, "cases")), 1);
	json_decref(res);
	res = cases_of(person_of(503));
	cr_assert_eq(json_array_size(json_object_get(res, "cases")), 1);
	json_decref(res);
	res = cases_of(person_of(501));
	cr_assert_eq(json_array_size(json_object_get(res, "cases")), 0);
	json_decref(res);

	/* the student's own token sees the file; a counselor with the
	 * student in their caseload does too */
	res = td_call(&t, "GET", "/v1/cases", td_token(&t, "student", "S-ANA"),
	              NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(res, "cases")), 1);
	json_decref(res);
	json_decref(td_call(&t, "PUT", "/v1/counselors/C-1/students", t.token,
	                    "{\"students\":[\"S-LUIS\"]}", NULL, 200));
	res = td_call(&t, "GET", "/v1/cases", td_token(&t, "counselor", "C-1"),
	              NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(res, "cases")), 1);
	json_decref(res);

	/* importing again changes nothing, and the identity loaded later
	 * does not move an open file */
	body = json_pack("{s:[o]}", "identities", identity_of(503, "S-MEI"));
	text = json_dumps(body, 0);
	json_decref(td_call(&t, "POST", "/v1/isir/identities", t.token, text,
	                    NULL, 200));
	free(text);
	json_decref(body);
	cr_assert_eq(http_do(&t, "POST", "/v1/isir?office=fresno-aid", t.token,
	                     "text/plain", file, len, &r),
	             0);
	res = json_loads(r.body, 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(res, "unchanged")), 3,
	             "%s", r.body);
	json_decref(res);
	resp_free(&r);
	res = cases_of("S-MEI");
	cr_assert_eq(json_array_size(json_object_get(res, "cases")), 0);
	json_decref(res);

	/* another office opens its own file for the same FAFSA, now matched */
	cr_assert_eq(http_do(&t, "POST", "/v1/isir?office=ucla-aid", t.token,
	                     "text/plain", file, len, &r),
	             0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	resp_free(&r);
	res = cases_of("S-MEI");
	cr_assert_eq(json_array_size(json_object_get(res, "cases")), 1);
	json_decref(res);
	free(file);
}

Test(isir_match, a_bad_load_changes_nothing, .init = setup, .fini = teardown,
     .timeout = 90)
{
	json_t *res, *errs, *body;
	char *file, *text;
	size_t len;
	struct resp r;

	/* one good row (601's identity for S-1), four bad: nothing is
	 * loaded */
	body = json_pack("{s:[o, {s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s},"
	                 " {s:s, s:s, s:s, s:s}, o]}",
	                 "identities", identity_of(601, "S-1"), "student",
	                 "S-2", "last_name", "", "date_of_birth", "2006-02-03",
	                 "ssn_last4", "0002", "student", "S-3", "last_name",
	                 "Kim", "date_of_birth", "2006-13-03", "ssn_last4",
	                 "0003", "student", "S-4", "last_name", "Kim",
	                 "date_of_birth", "2006-02-03", "ssn", "0004",
	                 identity_of(601, "S-5"));
	text = json_dumps(body, 0);
	res = td_call(&t, "POST", "/v1/isir/identities", t.token, text, NULL,
	              422);
	free(text);
	json_decref(body);
	errs = json_object_get(res, "errors");
	cr_assert_eq(json_array_size(errs), 4);
	cr_assert_eq(json_integer_value(
	                     json_object_get(json_array_get(errs, 0), "index")),
	             1);
	cr_assert_eq(json_integer_value(
	                     json_object_get(json_array_get(errs, 3), "index")),
	             4);
	json_decref(res);
	json_decref(td_call(&t, "POST", "/v1/isir/identities", t.token,
	                    "{\"identities\":{}}", NULL, 422));
	json_decref(td_call(&t, "POST", "/v1/isir/identities", t.token,
	                    "{\"identities\":[], \"more\": 1}", NULL, 422));
	/* an empty load is a load of nothing */
	res = td_call(&t, "POST", "/v1/isir/identities", t.token,
	              "{\"identities\":[]}", NULL, 200);
	cr_assert_eq(json_integer_value(json_object_get(res, "loaded")), 0);
	json_decref(res);
	/* not an admin */
	json_decref(td_call(&t, "POST", "/v1/isir/identities",
	                    td_token(&t, "aid_officer", "fresno-aid"),
	                    "{\"identities\":[]}", NULL, 403));

	/* S-1's row was not loaded: the file keeps the person UUID */
	file = file_of(601, 1, &len);
	cr_assert_eq(http_do(&t, "POST", "/v1/isir?office=fresno-aid", t.token,
	                     "text/plain", file, len, &r),
	             0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	resp_free(&r);
	free(file);
	res = cases_of("S-1");
	cr_assert_eq(json_array_size(json_object_get(res, "cases")), 0);
	json_decref(res);
	res = cases_of(person_of(601));
	cr_assert_eq(json_array_size(json_object_get(res, "cases")), 1);
	json_decref(res);
}

/* Writes csv to the test's ids.csv and runs cairn isir identities on it,
 * which must exit with want; its output goes into out. */
static void
load_csv(const char *csv, int want, char *out, size_t outlen)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ids.csv", t.dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(csv, f);
	fclose(f);
	cr_assert_eq(run_cmd(out, outlen,
	                     "CAIRN_URL=http://127.0.0.1:%d CAIRN_TOKEN=%s "
	                     "'%s' isir identities '%s'",
	                     t.port, t.token, td_bin("cairn"), path),
	             want, "%s", out);
}

/* cairn isir identities FILE.csv: the same load from a file, with a bad
 * line named by its number */
Test(isir_match, the_cli_loads_a_csv_and_names_a_bad_line, .init = setup,
     .fini = teardown, .timeout = 90)
{
	char out[4096];

	load_csv("student,last_name,date_of_birth,ssn_last4\n"
	         "# from the student system\n"
	         "S-1, Garcia, 2006-02-03, 0001\n"
	         "S-2,Kim,2006-02-31,0002\n",
	         1, out, sizeof(out));
	cr_assert(strstr(out, "ids.csv:4: date_of_birth") != NULL, "%s", out);
	load_csv("S-1,Garcia,2006-02-03,0001\nS-2,Kim,2006-02-28,0002\n"
	         "S-3,Lopez\n",
	         1, out, sizeof(out));
	cr_assert(strstr(out, "ids.csv:3: expected") != NULL, "%s", out);
	load_csv("S-1,Garcia,2006-02-03,0001\nS-2,Kim,2006-02-28,0002\n", 0,
	         out, sizeof(out));
	cr_assert(strstr(out, "2 identities loaded") != NULL, "%s", out);
}
