/*
 * test_isir_api.c: POST /v1/isir and cairn isir through a real cairnd
 * running the example aid_file workflow: the first transaction creates
 * the office's file (in the verification queue when the ISIR selects the
 * student), a correction updates the same case and names the fields it
 * changed, importing again changes nothing, rejected records are reported
 * by line and field with nothing changed, a transaction older than the
 * file's or repeated with other content is refused, and who may import
 * where. The real FSA test files are imported when they are present.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../adapters/isir.h"
#include "harness.h"

#define ISIR_DATA "/work/shared/data/isir"

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

TestSuite(isir_api, .init = setup, .fini = teardown, .timeout = 90);

/* --- a file built in memory ---------------------------------------------- */

struct file {
	char *p;
	size_t len;
};

/* Appends a synthetic record with up to two fields changed (0: none). */
static void
add(struct file *f, uint64_t seq, int txn, int n1, const char *v1, int n2,
    const char *v2)
{
	char rec[ISIR_RECORD_LEN];

	isir_record_synthetic(rec, seq, txn);
	if (n1)
		cr_assert_eq(isir_record_set(rec, n1, v1), 0);
	if (n2)
		cr_assert_eq(isir_record_set(rec, n2, v2), 0);
	f->p = realloc(f->p, f->len + ISIR_RECORD_LEN + 1);
	memcpy(f->p + f->len, rec, ISIR_RECORD_LEN);
	f->len += ISIR_RECORD_LEN;
	f->p[f->len++] = '\n';
}

static void
add_raw(struct file *f, const char *line)
{
	size_t n = strlen(line);

	f->p = realloc(f->p, f->len + n + 1);
	memcpy(f->p + f->len, line, n);
	f->len += n;
	f->p[f->len++] = '\n';
}

/* POST /v1/isir; returns the parsed reply, which must have status want. */
static json_t *
import(const char *token, const char *query, const struct file *f, int want)
{
	char path[256];
	struct resp r;
	json_t *j;

	snprintf(path, sizeof(path), "/v1/isir%s", query ? query : "");
	cr_assert_eq(http_do(&t, "POST", path, token, "text/plain", f->p,
	                     f->len, &r),
	             0, "no response to the import");
	cr_assert_eq(r.status, want, "want %d, got %d: %s", want, r.status,
	             r.body);
	j = json_loadb(r.body, r.body_len, 0, NULL);
	resp_free(&r);
	return j;
}

static json_int_t
count(const json_t *reply, const char *k)
{
	return json_integer_value(json_object_get(reply, k));
}

static const json_t *
record(const json_t *reply, size_t i)
{
	return json_array_get(json_object_get(reply, "records"), i);
}

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static size_t
aid_files(void)
{
	json_t *l = td_call(&t, "GET", "/v1/cases?workflow=aid_file&limit=1000",
	                    t.token, NULL, NULL, 200);
	size_t n = json_array_size(json_object_get(l, "cases"));

	json_decref(l);
	return n;
}

/* The error of a rejected record on field num mentioning what. */
static void
expect_error(const json_t *rec, int line, int num, const char *what)
{
	const json_t *e;
	size_t i;
	int found = 0;

	cr_assert_eq(json_integer_value(json_object_get(rec, "line")), line);
	cr_assert_str_eq(jstr(rec, "result"), "rejected", "line %d", line);
	json_array_foreach(json_object_get(rec, "errors"), i, e)
	{
		if (json_integer_value(json_object_get(e, "field")) == num &&
		    strstr(jstr(e, "reason"), what) != NULL) {
			cr_assert_not_null(jstr(e, "name"));
			found = 1;
		}
	}
	cr_assert(found, "line %d: no error on field %d saying '%s'", line, num,
	          what);
}

/* --- the tests ------------------------------------------------------------- */

Test(isir_api, create_correct_and_import_again_unchanged)
{
	const char *officer = td_token(&t, "aid_officer", "ucla-aid");
	struct file f = {0}, g = {0};
	json_t *r, *c, *h, *ev, *changes;
	char id1[64], id2[64], *text;
	size_t i, nh;
	int saw = 0;

	/* FAFSA 1 selected for verification (V4); FAFSA 2 not; then a
	 * correction of FAFSA 1: more family, new income, no longer
	 * selected */
	add(&f, 1, 1, 297, "Y", 296, "V4");
	add(&f, 2, 1, 0, NULL, 0, NULL);
	add(&f, 1, 2, 183, "5", 205, "61000");
	r = import(officer, NULL, &f, 200);
	cr_assert_eq(count(r, "accepted"), 3);
	cr_assert_eq(count(r, "unchanged"), 0);
	cr_assert_eq(count(r, "rejected"), 0);
	cr_assert_str_eq(jstr(r, "office"), "ucla-aid");
	cr_assert_eq(json_integer_value(
	                     json_object_get(record(r, 2), "transaction")),
	             2);
	snprintf(id1, sizeof(id1), "%s", jstr(record(r, 0), "case"));
	snprintf(id2, sizeof(id2), "%s", jstr(record(r, 1), "case"));
	cr_assert_str_eq(jstr(record(r, 2), "case"), id1,
	                 "the correction went into another case");
	cr_assert_str_neq(id1, id2);
	cr_assert_str_eq(jstr(record(r, 0), "fafsa_uuid"),
	                 "00000000-0000-4000-8000-000000000001");
	json_decref(r);

	/* the file: the office's, reviewed again after the correction,
	 * carrying the corrected values */
	c = td_case(&t, id1);
	cr_assert_str_eq(jstr(c, "workflow"), "aid_file");
	cr_assert_str_eq(jstr(c, "owner"), "ucla-aid");
	cr_assert_str_eq(jstr(c, "status"), "isir_received");
	cr_assert_str_eq(jstr(c, "queue"), "isir_review");
	{
		const json_t *d = json_object_get(c, "data");
		const json_t *s = json_object_get(d, "student");

		cr_assert_eq(json_integer_value(
		                     json_object_get(d, "isir_transaction")),
		             2);
		cr_assert_eq(
		        json_integer_value(json_object_get(s, "family_size")),
		        5);
		cr_assert_str_eq(jstr(s, "dependency"), "dependent");
		cr_assert(json_is_false(json_object_get(
		        json_object_get(d, "verification"), "selected")));
		cr_assert_str_eq(jstr(json_object_get(d, "isir"), "ssn_last4"),
		                 "0002");
	}
	json_decref(c);
	/* its history: created, routed to verification (V4), corrected
	 * with the fields named */
	h = td_history(&t, id1);
	nh = json_array_size(h);
	cr_assert_eq(nh, 3);
	cr_assert_str_eq(jstr(json_array_get(h, 0), "type"), "created");
	ev = json_array_get(h, 1);
	cr_assert_str_eq(jstr(ev, "type"), "isir_selected");
	cr_assert_str_eq(jstr(ev, "to_status"), "verification_selected");
	cr_assert_str_eq(jstr(json_object_get(ev, "payload"), "group"), "V4");
	ev = json_array_get(h, 2);
	cr_assert_str_eq(jstr(ev, "type"), "isir_corrected");
	cr_assert_str_eq(jstr(ev, "from_status"), "verification_selected");
	cr_assert_str_eq(jstr(ev, "to_status"), "isir_received");
	cr_assert(!strncmp(jstr(ev, "actor"), "isir:tok_", 9));
	changes = json_object_get(json_object_get(ev, "payload"), "changes");
	json_array_foreach(changes, i, c)
	{
		int fld = (int)json_integer_value(json_object_get(c, "field"));

		saw |= fld == 183 ? 1 : fld == 205 ? 2 : fld == 297 ? 4 : 0;
		cr_assert(fld != 5 && fld != 3, "field %d is no change", fld);
	}
	cr_assert_eq(saw, 7, "changes: %s", json_dumps(changes, 0));
	/* the SSN is nowhere in the case or its history */
	text = json_dumps(h, 0);
	cr_assert_null(strstr(text, "578110002"));
	free(text);
	json_decref(h);
	c = td_case(&t, id1);
	text = json_dumps(c, 0);
	cr_assert_null(strstr(text, "578110002"));
	free(text);
	json_decref(c);

	/* nor anywhere in the database's files */
	{
		char out[256];

		/* the files are read: the FAFSA UUID is there */
		cr_assert_eq(run_cmd(out, sizeof(out),
		                     "cat '%s'* | grep -c -a "
		                     "00000000-0000-4000-8000-000000000001",
		                     t.db),
		             0, "%s", out);
		cr_assert_eq(run_cmd(out, sizeof(out),
		                     "cat '%s'* | grep -c -a 578110002", t.db),
		             1, "the SSN is in the database: %s", out);
	}

	/* FAFSA 2 waits for review, not verification */
	c = td_case(&t, id2);
	cr_assert_str_eq(jstr(c, "queue"), "isir_review");
	json_decref(c);

	/* the same file again: nothing changes */
	r = import(officer, NULL, &f, 200);
	cr_assert_eq(count(r, "accepted"), 0);
	cr_assert_eq(count(r, "unchanged"), 3);
	cr_assert_str_eq(jstr(record(r, 2), "case"), id1);
	json_decref(r);
	h = td_history(&t, id1);
	cr_assert_eq(json_array_size(h), nh);
	json_decref(h);
	cr_assert_eq(aid_files(), 2);

	/* a new correction selects the student again: to verification */
	add(&g, 1, 3, 297, "Y", 296, "V1");
	r = import(officer, NULL, &g, 200);
	cr_assert_eq(count(r, "accepted"), 1);
	json_decref(r);
	c = td_case(&t, id1);
	cr_assert_str_eq(jstr(c, "status"), "verification_selected");
	cr_assert_str_eq(jstr(c, "queue"), "verification");
	cr_assert_str_eq(jstr(json_object_get(json_object_get(c, "data"),
	                                      "verification"),
	                      "group"),
	                 "V1");
	json_decref(c);
	free(f.p);
	free(g.p);
}

Test(isir_api, rejected_records_are_reported_by_line_and_field)
{
	const char *officer = td_token(&t, "aid_officer", "ucla-aid");
	struct file f = {0};
	json_t *r;
	char bad[ISIR_RECORD_LEN + 8];

	add(&f, 10, 1, 0, NULL, 0, NULL);            /* 1: fine */
	add_raw(&f, "a line that is far too short"); /* 2 */
	isir_record_synthetic(bad, 11, 1);           /* 3: UTF-8 name */
	memcpy(bad + 242, "Jos\xc3\xa9", 5);
	bad[ISIR_RECORD_LEN] = '\0';
	add_raw(&f, bad);
	add(&f, 12, 1, 29, "20060231", 0, NULL); /* 4: no such date */
	add(&f, 13, 1, 18, "12x", 0, NULL);      /* 5: not a number */
	add(&f, 14, 1, 18, "-9000", 0, NULL);    /* 6: impossible */
	add(&f, 19, 1, 184, "9", 0, NULL);       /* 7: 9 of 4 in college */
	add(&f, 16, 1, 297, "Y", 0, NULL);       /* 8: no group */
	add(&f, 17, 1, 5, "00", 0, NULL);        /* 9: transaction 00 */
	r = import(officer, NULL, &f, 200);
	cr_assert_eq(count(r, "accepted"), 1);
	cr_assert_eq(count(r, "rejected"), 8);
	cr_assert_str_eq(jstr(record(r, 0), "result"), "accepted");
	expect_error(record(r, 1), 2, 0, "wrong length");
	expect_error(record(r, 2), 3, 25, "non-ASCII byte 0xC3");
	expect_error(record(r, 3), 4, 29, "is not a date");
	expect_error(record(r, 4), 5, 18, "is not a number");
	expect_error(record(r, 5), 6, 18, "impossible");
	expect_error(record(r, 6), 7, 184, "impossible");
	expect_error(record(r, 7), 8, 296, "group");
	expect_error(record(r, 8), 9, 5, "transaction number");
	cr_assert(json_is_null(json_object_get(record(r, 2), "case")));
	json_decref(r);
	/* nothing but the good record made a case */
	cr_assert_eq(aid_files(), 1);
	free(f.p);
}

Test(isir_api, stale_and_conflicting_transactions_are_refused)
{
	const char *officer = td_token(&t, "aid_officer", "ucla-aid");
	struct file a = {0}, b = {0};
	json_t *r, *h;
	char id[64];

	add(&a, 20, 1, 0, NULL, 0, NULL);
	add(&a, 20, 3, 0, NULL, 0, NULL);
	r = import(officer, NULL, &a, 200);
	cr_assert_eq(count(r, "accepted"), 2);
	snprintf(id, sizeof(id), "%s", jstr(record(r, 0), "case"));
	json_decref(r);
	/* transaction 02 after 03: it would undo the later one */
	add(&b, 20, 2, 0, NULL, 0, NULL);
	/* transaction 01 again, with other content */
	add(&b, 20, 1, 25, "Someone", 0, NULL);
	r = import(officer, NULL, &b, 200);
	cr_assert_eq(count(r, "rejected"), 2);
	expect_error(record(r, 0), 1, 5, "older than transaction 03");
	expect_error(record(r, 1), 2, 5, "different content");
	cr_assert_str_eq(jstr(record(r, 0), "case"), id);
	json_decref(r);
	h = td_history(&t, id);
	cr_assert_eq(json_array_size(h), 2);
	json_decref(h);
	/* a closed file takes no new ISIR, and says so */
	{
		char path[128];
		struct file c = {0};

		snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
		json_decref(td_call(&t, "POST", path, officer,
		                    "{\"type\":\"cancel\"}", NULL, 200));
		add(&c, 20, 4, 0, NULL, 0, NULL);
		r = import(officer, NULL, &c, 200);
		expect_error(record(r, 0), 1, 5, "does not take a new ISIR");
		json_decref(r);
		h = td_history(&t, id);
		cr_assert_eq(json_array_size(h), 3); /* + the cancel */
		json_decref(h);
		free(c.p);
	}
	free(a.p);
	free(b.p);
}

/* Two imports of one file at once: every record goes in exactly once. */
Test(isir_api, concurrent_imports_of_one_file_apply_each_record_once)
{
	const char *officer = td_token(&t, "aid_officer", "ucla-aid");
	struct file f = {0};
	char head[512];
	int fd[2], n;
	json_int_t accepted = 0, unchanged = 0;

	for (uint64_t seq = 100; seq < 160; seq++) {
		add(&f, seq, 1, 0, NULL, 0, NULL);
		if (seq % 4 == 0)
			add(&f, seq, 2, 205, "45000", 0, NULL);
	}
	n = snprintf(head, sizeof(head),
	             "POST /v1/isir HTTP/1.1\r\nHost: x\r\n"
	             "Authorization: Bearer %s\r\n"
	             "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
	             "\r\n",
	             officer, f.len);
	for (int k = 0; k < 2; k++) {
		fd[k] = tcp_connect(t.port);
		cr_assert(fd[k] >= 0);
		send_all(fd[k], head, (size_t)n);
	}
	/* the bodies interleave, so the two imports overlap */
	for (size_t off = 0; off < f.len; off += 65536)
		for (int k = 0; k < 2; k++)
			send_all(fd[k], f.p + off,
			         f.len - off < 65536 ? f.len - off : 65536);
	for (int k = 0; k < 2; k++) {
		struct resp r;
		json_t *j;

		cr_assert_eq(read_response(fd[k], 30000, &r), 0);
		cr_assert_eq(r.status, 200, "%s", r.body);
		j = json_loadb(r.body, r.body_len, 0, NULL);
		accepted += count(j, "accepted");
		unchanged += count(j, "unchanged");
		cr_assert_eq(count(j, "rejected"), 0, "%s", r.body);
		json_decref(j);
		resp_free(&r);
		close(fd[k]);
	}
	cr_assert_eq(accepted, 75, "accepted %lld", (long long)accepted);
	cr_assert_eq(unchanged, 75);
	cr_assert_eq(aid_files(), 60);
	{
		/* how often the two met on a FAFSA (the race is real, its
		 * count is not fixed) */
		char out[64];

		run_cmd(out, sizeof(out), "grep -c 'deciding again' '%s'",
		        t.log);
		cr_log_info("records decided again after a conflict: %s", out);
	}
	free(f.p);
}

Test(isir_api, who_may_import_and_where)
{
	const char *officer = td_token(&t, "aid_officer", "ucla-aid");
	const char *student = td_token(&t, "student", "S1");
	struct file f = {0}, empty = {0};
	struct resp rs;
	json_t *r;

	add(&f, 30, 1, 0, NULL, 0, NULL);
	json_decref(import(student, NULL, &f, 403));
	/* an officer imports into their own office only: another office
	 * is out of scope, so not confirmed to exist */
	json_decref(import(officer, "?office=ucsd-aid", &f, 404));
	/* an admin names the office */
	json_decref(import(t.token, NULL, &f, 422));
	json_decref(import(t.token, "?office=bad%20office", &f, 400));
	json_decref(import(NULL, "?office=ucsd-aid", &f, 401));
	json_decref(import(officer, NULL, &empty, 422));
	cr_assert_eq(http_do(&t, "POST", "/v1/isir", officer,
	                     "application/json", f.p, f.len, &rs),
	             0);
	cr_assert_eq(rs.status, 415);
	resp_free(&rs);
	cr_assert_eq(aid_files(), 0);
	/* the same FAFSA in two offices: two files */
	r = import(t.token, "?office=ucsd-aid", &f, 200);
	cr_assert_eq(count(r, "accepted"), 1);
	json_decref(r);
	r = import(officer, "?office=ucla-aid", &f, 200);
	cr_assert_eq(count(r, "accepted"), 1);
	json_decref(r);
	cr_assert_eq(aid_files(), 2);
	/* ucsd's file is not ucla's officer's to see */
	{
		json_t *l = td_call(&t, "GET", "/v1/cases?workflow=aid_file",
		                    officer, NULL, NULL, 200);

		cr_assert_eq(json_array_size(json_object_get(l, "cases")), 1);
		json_decref(l);
	}
	free(f.p);
}

Test(isir_api, the_cli_imports_and_checks_offline)
{
	char out[16384], path[600];
	struct file f = {0};
	FILE *fp;
	json_t *j;
	int rc;

	add(&f, 40, 1, 0, NULL, 0, NULL);
	add(&f, 41, 1, 29, "20061301", 0, NULL);
	add(&f, 40, 2, 205, "70000", 0, NULL);
	snprintf(path, sizeof(path), "%s/isir.txt", t.dir);
	fp = fopen(path, "w");
	cr_assert_eq(fwrite(f.p, 1, f.len, fp), f.len);
	fclose(fp);
	rc = run_cmd(out, sizeof(out), "'%s' isir check '%s'", td_bin("cairn"),
	             path);
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert(strstr(out, "2 valid, 1 rejected") != NULL, "%s", out);
	cr_assert(strstr(out, "line 2: rejected: field 29 (Date of Birth)") !=
	                  NULL,
	          "%s", out);
	rc = run_cmd(out, sizeof(out),
	             "CAIRN_URL=http://127.0.0.1:%d CAIRN_TOKEN=%s '%s' isir "
	             "import '%s' --office ucla-aid --records 1 --json",
	             t.port, t.token, td_bin("cairn"), path);
	cr_assert_eq(rc, 1, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "%s", out);
	cr_assert_eq(count(j, "accepted"), 2);
	cr_assert_eq(count(j, "rejected"), 1);
	/* one record a request, and still the file's own lines in order */
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(json_integer_value(
		                     json_object_get(record(j, i), "line")),
		             (json_int_t)i + 1);
	cr_assert_str_eq(jstr(record(j, 0), "case"),
	                 jstr(record(j, 2), "case"));
	json_decref(j);
	rc = run_cmd(out, sizeof(out),
	             "CAIRN_URL=http://127.0.0.1:%d CAIRN_TOKEN=%s '%s' isir "
	             "import '%s' --office ucla-aid",
	             t.port, t.token, td_bin("cairn"), path);
	cr_assert(strstr(out, "0 accepted, 2 unchanged, 1 rejected") != NULL,
	          "%s", out);
	free(f.p);
}

static struct file
read_file(const char *name)
{
	char path[512];
	struct file f = {0};
	FILE *fp;
	long n;

	snprintf(path, sizeof(path), "%s/%s", ISIR_DATA, name);
	fp = fopen(path, "rb");
	if (fp == NULL)
		return f;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	f.p = malloc((size_t)n);
	f.len = fread(f.p, 1, (size_t)n, fp);
	fclose(fp);
	return f;
}

Test(isir_api, the_real_test_files)
{
	const char *officer = td_token(&t, "aid_officer", "nm-aid");
	struct file apps = read_file("applications-2025-26-20240918.txt");
	struct file corr = read_file("corrections-2025-26-20240918.txt");
	struct file push = read_file("corrections-pushed-2025-26-20240918.txt");
	json_t *r, *h, *ev;
	const json_t *rec;
	char jakarta[64] = "";
	size_t i;

	if (apps.p == NULL || corr.p == NULL || push.p == NULL)
		cr_skip_test("%s is not here: the real ISIR test files are not "
		             "imported",
		             ISIR_DATA);
	/* 78 lines: the first is 7,704 blanks, the 77 others are valid */
	r = import(officer, NULL, &apps, 200);
	cr_assert_eq(count(r, "accepted"), 77);
	cr_assert_eq(count(r, "rejected"), 1);
	expect_error(record(r, 0), 1, 2, "blank");
	json_array_foreach(json_object_get(r, "records"), i, rec)
	{
		if (!strcmp(jstr(rec, "fafsa_uuid") ?: "",
		            "1d2ad28e-ce6c-43a8-a796-fcba44b857c1"))
			snprintf(jakarta, sizeof(jakarta), "%s",
			         jstr(rec, "case"));
	}
	json_decref(r);
	cr_assert(jakarta[0]);
	cr_assert_eq(aid_files(), 77);
	/* two ISIRs select their students (V4 and V1) */
	{
		json_t *l = td_call(&t, "GET", "/v1/cases?queue=verification",
		                    t.token, NULL, NULL, 200);

		cr_assert_eq(json_array_size(json_object_get(l, "cases")), 2);
		json_decref(l);
	}
	r = import(officer, NULL, &corr, 200);
	cr_assert_eq(count(r, "accepted"), 8);
	json_decref(r);
	r = import(officer, NULL, &push, 200);
	cr_assert_eq(count(r, "accepted"), 4);
	json_decref(r);
	cr_assert_eq(aid_files(), 77, "a correction opened a new file");
	/* the pushed correction changed Jakarta Weniko's citizenship */
	h = td_history(&t, jakarta);
	ev = json_array_get(h, json_array_size(h) - 1);
	cr_assert_str_eq(jstr(ev, "type"), "isir_corrected");
	{
		char *text = json_dumps(
		        json_object_get(json_object_get(ev, "payload"),
		                        "changes"),
		        0);

		cr_assert(strstr(text, "\"field\": 63") != NULL, "%s", text);
		free(text);
	}
	json_decref(h);
	/* everything again: unchanged */
	r = import(officer, NULL, &apps, 200);
	cr_assert_eq(count(r, "unchanged"), 77);
	json_decref(r);
	r = import(officer, NULL, &push, 200);
	cr_assert_eq(count(r, "unchanged"), 4);
	json_decref(r);
	free(apps.p);
	free(corr.p);
	free(push.p);
}

/* The check of a Cal Grant decision named name. */
static const json_t *
check_of(const json_t *decision, const char *name)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(decision, "checks"), i, c)
	{
		if (!strcmp(jstr(c, "name") ?: "", name))
			return c;
	}
	return NULL;
}

/* The ISIR's student object is what the Cal Grant rule reads: its income,
 * family size, assets and residency are checked from it, and what the
 * ISIR cannot know (segment, GPA) is named as missing. */
Test(isir_api, the_cal_grant_rule_evaluates_the_isirs_student)
{
	const char *officer = td_token(&t, "aid_officer", "ucla-aid");
	struct file f = {0};
	json_t *r, *c;
	const json_t *a, *chk;
	char id[64], path[128];

	/* a dependent Californian, family of 5, parents' income 150,000:
	 * over the 2025-26 ceiling for A and C */
	add(&f, 50, 1, 183, "5", 945, "150000");
	r = import(officer, NULL, &f, 200);
	cr_assert_eq(count(r, "accepted"), 1);
	snprintf(id, sizeof(id), "%s", jstr(record(r, 0), "case"));
	json_decref(r);
	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	json_decref(td_call(&t, "POST", path, officer,
	                    "{\"type\":\"review_isir\",\"data\":{\"next\":"
	                    "\"package\"}}",
	                    NULL, 200));
	c = td_case(&t, id);
	cr_assert_str_eq(jstr(c, "status"), "packaging");
	a = json_object_get(
	        json_object_get(
	                json_object_get(
	                        json_object_get(json_object_get(c, "data"),
	                                        "eligibility"),
	                        "cal_grant"),
	                "detail"),
	        "decisions");
	a = json_object_get(a, "cal_grant_a");
	cr_assert_not_null(a, "no Cal Grant A decision: %s",
	                   json_dumps(json_object_get(c, "data"), 0));
	chk = check_of(a, "income");
	cr_assert_not_null(chk);
	cr_assert_eq(json_integer_value(json_object_get(
	                     json_object_get(chk, "values"), "value")),
	             150000);
	cr_assert_eq(json_integer_value(json_object_get(
	                     json_object_get(chk, "values"), "family_size")),
	             5);
	cr_assert_str_neq(jstr(chk, "outcome"), "pass");
	chk = check_of(a, "residency");
	cr_assert_str_eq(jstr(chk, "outcome"), "pass");
	chk = check_of(a, "segment");
	cr_assert_str_eq(jstr(chk, "outcome"), "missing");
	cr_assert_str_eq(jstr(a, "outcome"), "ineligible");
	json_decref(c);
	free(f.p);
}
