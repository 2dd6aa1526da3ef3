/*
 * test_demo.c: make demo, small. cairn-demo runs a season of 40 students
 * against its own fresh cairnd and mock institutions and writes its
 * summary; then cairnd is started again on the database it left (as
 * `make demo-run` does) and every figure of the summary is checked
 * against what the API says: cases by workflow and status, alerts by
 * kind, the rules' decisions, the aid files matched to students, the
 * policy change published and rolled back. A student's full timeline is
 * found the way the README tells (cases by subject, then each history),
 * the history chains verify, and a second, smaller season runs against
 * the running cairnd in --url mode (how the web console's tests seed).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char dir[256];
static struct td t; /* only port and token: cairnd is ours to start */

static void
teardown(void)
{
	td_discard(&t, dir);
}

/* {status: n} of every case of a workflow, page by page */
static json_t *
statuses(const char *workflow, json_t *ids)
{
	json_t *by = json_object();
	char path[300], cursor[64] = "";

	for (;;) {
		json_t *r, *c;
		size_t i;

		snprintf(path, sizeof(path),
		         "/v1/cases?workflow=%s&limit=20%s%s", workflow,
		         cursor[0] ? "&cursor=" : "", cursor);
		r = td_call(&t, "GET", path, t.token, NULL, NULL, 200);
		json_array_foreach(json_object_get(r, "cases"), i, c)
		{
			const char *s =
			        json_string_value(json_object_get(c, "status"));
			json_t *n = json_object_get(by, s);

			json_object_set_new(
			        by, s,
			        json_integer(n ? json_integer_value(n) + 1
			                       : 1));
			if (ids)
				json_array_append(ids, c);
		}
		snprintf(cursor, sizeof(cursor), "%s",
		         json_string_value(json_object_get(r, "next"))
		                 ? json_string_value(json_object_get(r, "next"))
		                 : "");
		json_decref(r);
		if (cursor[0] == '\0')
			return by;
	}
}

static long long
jint(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

Test(demo, a_small_season_matches_the_api, .fini = teardown, .timeout = 240)
{
	char out[16384], path[512], who[64] = "";
	json_t *sum, *aid = json_array(), *by, *c, *r;
	const char *wf, *k;
	json_t *want;
	size_t i;
	long long matched = 0, alerts = 0, el = 0, inel = 0, rev = 0;

	snprintf(dir, sizeof(dir), "/tmp/cairn-demo-test-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "'%s' --students 40 --seed 7 --dir '%s/demo' "
	                     "--summary '%s/summary.json' --clients 8",
	                     td_bin("cairn-demo"), dir, dir),
	             0, "%s", out);
	cr_assert(strstr(out, "The database stays in") != NULL, "%s", out);
	cr_assert(strstr(out, "build/cairn cases timeline S-") != NULL);
	snprintf(path, sizeof(path), "%s/summary.json", dir);
	sum = json_load_file(path, 0, NULL);
	cr_assert_not_null(sum);
	cr_assert_eq(jint(sum, "students"), 40);
	cr_assert_eq(jint(json_object_get(sum, "institutions"), "errors"), 0);

	/* cairnd again on the configuration the demo left, as make
	 * demo-run */
	snprintf(path, sizeof(path), "%s/demo", dir);
	td_start_on_demo(&t, path, "cairnd-again.log");

	/* cases by workflow and status, as the summary printed them */
	json_object_foreach(json_object_get(sum, "cases"), wf, want)
	{
		by = statuses(wf, !strcmp(wf, "aid_file") ? aid : NULL);
		cr_assert(json_equal(by, want),
		          "%s: the API says %s, the "
		          "summary %s",
		          wf, json_dumps(by, 0), json_dumps(want, 0));
		json_decref(by);
	}
	/* 40 students, every one with an application; every submitted
	 * application reached its institutions (none left "received") */
	by = statuses("student_application", NULL);
	json_object_foreach(by, k, c) alerts += json_integer_value(c);
	cr_assert_eq(alerts, 40);
	json_decref(by);
	by = statuses("campus_application", NULL);
	cr_assert_null(json_object_get(by, "received"));
	cr_assert_not_null(json_object_get(by, "admitted"));
	json_decref(by);

	/* aid files: matched ones are under the student's id, and the
	 * decisions counted are the ones stored */
	json_array_foreach(aid, i, c)
	{
		const json_t *d = json_object_get(c, "data");
		const char *o = json_string_value(json_object_get(
		        json_object_get(json_object_get(d, "eligibility"),
		                        "cal_grant"),
		        "outcome"));

		if (json_object_get(d, "student_id")) {
			matched++;
			cr_assert_str_eq(json_string_value(
			                         json_object_get(c, "subject")),
			                 json_string_value(json_object_get(
			                         d, "student_id")));
		}
		el += o && !strcmp(o, "eligible");
		inel += o && !strcmp(o, "ineligible");
		rev += o && !strcmp(o, "needs_review");
	}
	cr_assert_gt(matched, 0);
	cr_assert_eq(matched,
	             jint(json_object_get(sum, "isir"), "aid_files_matched"));
	want = json_object_get(json_object_get(sum, "rule_decisions"),
	                       "cal_grant");
	cr_assert_not_null(want, "no Cal Grant decisions in the summary");
	cr_assert_eq(el, jint(want, "eligible"));
	cr_assert_eq(inel, jint(want, "ineligible"));
	cr_assert_eq(rev, jint(want, "needs_review"));
	cr_assert_not_null(
	        json_object_get(json_object_get(sum, "rule_decisions"),
	                        "middle_class_scholarship"));

	/* alerts, every one of them */
	{
		char after[32] = "";
		long long n = 0;

		for (;;) {
			snprintf(path, sizeof(path),
			         "/v1/alerts?state=all&limit=100%s%s",
			         after[0] ? "&after=" : "", after);
			r = td_call(&t, "GET", path, t.token, NULL, NULL, 200);
			n += (long long)json_array_size(
			        json_object_get(r, "alerts"));
			after[0] = '\0';
			if (json_is_integer(json_object_get(r, "next")))
				snprintf(after, sizeof(after), "%lld",
				         jint(r, "next"));
			json_decref(r);
			if (after[0] == '\0')
				break;
		}
		cr_assert_eq(n, jint(json_object_get(sum, "alerts"), "total"));
		cr_assert_gt(n, 0);
	}
	/* queue work: claims were decided or released */
	want = json_object_get(sum, "queue_work");
	cr_assert_gt(jint(want, "claims"), 0);
	cr_assert_eq(jint(want, "claims"),
	             jint(want, "decisions") + jint(want, "releases"));

	/* the policy change: published, then rolled back; live is the
	 * version it rolled back to */
	r = td_call(&t, "GET", "/v1/rules/cal_grant/versions", t.token, NULL,
	            NULL, 200);
	{
		const char *pub = json_string_value(json_object_get(
		        json_object_get(sum, "policy"), "published"));
		const char *back = json_string_value(json_object_get(
		        json_object_get(sum, "policy"), "rolled_back_to"));
		char *text = json_dumps(r, 0);

		cr_assert_str_neq(pub, back);
		cr_assert(strstr(text, pub) != NULL, "%s", text);
		cr_assert(strstr(text, back) != NULL, "%s", text);
		free(text);
	}
	json_decref(r);
	cr_assert_gt(jint(json_object_get(sum, "dry_run"), "evaluated"), 0);

	/* a student's full timeline, as the README says: their cases by
	 * subject, then each case's history. The student is one whose ISIR
	 * was matched (which students get one depends on whether FSA's files
	 * are beside the checkout) */
	{
		json_t *page = td_call(&t, "GET",
		                       "/v1/cases?workflow=aid_file&limit=10",
		                       t.token, NULL, NULL, 200);
		size_t j;
		json_t *c1;

		json_array_foreach(json_object_get(page, "cases"), j, c1)
		{
			const char *s1 = json_string_value(
			        json_object_get(c1, "subject"));

			if (s1 && !strncmp(s1, "S-", 2)) {
				snprintf(who, sizeof(who), "%s", s1);
				break;
			}
		}
		json_decref(page);
		cr_assert(who[0], "no aid file matched to a student");
	}
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "CAIRN_URL=http://127.0.0.1:%d CAIRN_TOKEN=%s "
	                     "'%s' cases --subject %s",
	                     t.port, t.token, td_bin("cairn"), who),
	             0, "%s", out);
	cr_assert(strstr(out, "student_application") != NULL, "%s", out);
	cr_assert(strstr(out, "campus_application") != NULL, "%s", out);
	cr_assert(strstr(out, "aid_file") != NULL, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "CAIRN_URL=http://127.0.0.1:%d CAIRN_TOKEN=%s "
	                     "'%s' cases timeline %s",
	                     t.port, t.token, td_bin("cairn"), who),
	             0, "%s", out);
	cr_assert(strstr(out, "submit") != NULL, "%s", out);
	cr_assert(strstr(out, "aid_file") != NULL, "%s", out);
	/* the history chains of the whole season verify */
	snprintf(path, sizeof(path), "%s/demo/cairn.db", dir);
	cr_assert_eq(run_cmd(out, sizeof(out), "'%s' audit verify --db '%s'",
	                     td_bin("cairn"), path),
	             0, "%s", out);

	/* --url mode against the running cairnd: the web console's seed */
	snprintf(path, sizeof(path), "%s/url.json", dir);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "'%s' --url http://127.0.0.1:%d --token %s "
	                     "--students 10 --summary '%s' --clients 4",
	                     td_bin("cairn-demo"), t.port, t.token, path),
	             0, "%s", out);
	json_decref(sum);
	sum = json_load_file(path, 0, NULL);
	cr_assert_not_null(sum);
	alerts = 0;
	json_object_foreach(json_object_get(json_object_get(sum, "cases"),
	                                    "student_application"),
	                    k, c) alerts += json_integer_value(c);
	cr_assert_eq(alerts, 10);
	cr_assert_gt(jint(json_object_get(sum, "queue_work"), "claims"), 0);
	json_decref(sum);
	json_decref(aid);
}

Test(demo, refuses_a_directory_it_did_not_make, .fini = teardown)
{
	char out[4096];

	snprintf(dir, sizeof(dir), "/tmp/cairn-demo-test-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(run_cmd(out, sizeof(out), "'%s' --students 5 --dir '%s'",
	                     td_bin("cairn-demo"), dir),
	             1, "%s", out);
	cr_assert(strstr(out, "was not made by cairn-demo") != NULL, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out), "'%s' --students 0",
	                     td_bin("cairn-demo")),
	             2, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out), "'%s' --url http://x",
	                     td_bin("cairn-demo")),
	             2, "%s", out);
}
