/*
 * test_cli_cases.c: the cairn commands of cases, workflows, calendars,
 * the test clock, offices and recipients, against a real cairnd running
 * the example workflows and rules: tables by default, cairnd's JSON with
 * --json, the exit codes, and a student's timeline merged from every one
 * of their cases.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct td t;

static void
setup(void)
{
	char out[4096];

	td_start(&t, NULL);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "cp '%s'/examples/workflows/*.yaml "
	                     "'%s/defs/workflows/'",
	                     CAIRN_SOURCE_DIR, t.dir),
	             0, "%s", out);
	cr_assert_eq(td_stop(&t), 0);
	td_use_example_rules(&t);
	td_restart_args(&t, "--test-clock");
}

static void
teardown(void)
{
	td_cleanup(&t);
}

TestSuite(cli_cases, .init = setup, .fini = teardown, .timeout = 120);

/* Runs cairn with a token; stderr is dropped when quiet (for JSON). */
__attribute__((format(printf, 4, 5))) static int
cli(char *out, size_t len, const char *token, const char *fmt, ...)
{
	char args[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return run_cmd(out, len,
	               "(CAIRN_URL=http://127.0.0.1:%d CAIRN_TOKEN=%s %s %s)",
	               t.port, token, td_bin("cairn"), args);
}

/* The same, stdout only, parsed as JSON (the test fails if it is not). */
__attribute__((format(printf, 2, 3))) static json_t *
cli_json(const char *token, const char *fmt, ...)
{
	char args[2048], out[262144];
	json_error_t e;
	va_list ap;
	json_t *j;
	int rc;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	rc = run_cmd(out, sizeof(out),
	             "(CAIRN_URL=http://127.0.0.1:%d CAIRN_TOKEN=%s %s --json "
	             "%s 2>/dev/null)",
	             t.port, token, td_bin("cairn"), args);
	cr_assert_eq(rc, 0, "cairn --json %s: exit %d: %s", args, rc, out);
	j = json_loads(out, 0, &e);
	cr_assert_not_null(j, "cairn --json %s: not JSON (%s): %s", args,
	                   e.text, out);
	return j;
}

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* A student's application to two campuses, submitted; its id in id. */
static void
apply(const char *student, char *id, size_t len)
{
	json_t *j = cli_json(student,
	                     "cases create student_application --data "
	                     "'{\"campuses\":[\"uc-davis\",\"uc-irvine\"]}' "
	                     "--idempotency-key apply-1");

	cr_assert_str_eq(jstr(j, "status"), "draft");
	snprintf(id, len, "%s", jstr(j, "id"));
	json_decref(j);
	j = cli_json(student, "cases event %s submit", id);
	cr_assert_str_eq(jstr(j, "status"), "submitted");
	cr_assert_eq(json_array_size(json_object_get(j, "children")), 2);
	json_decref(j);
}

Test(cli_cases, create_event_show_history_and_list)
{
	const char *student = td_token(&t, "student", "S-100");
	char out[65536], id[64], again[64];
	json_t *j, *c;
	size_t i;
	int rc;

	apply(student, id, sizeof(id));
	/* the same idempotency key replays the first reply */
	j = cli_json(student, "cases create student_application --data "
	                      "'{\"campuses\":[\"uc-davis\",\"uc-irvine\"]}' "
	                      "--idempotency-key apply-1");
	snprintf(again, sizeof(again), "%s", jstr(j, "id"));
	json_decref(j);
	cr_assert_str_eq(again, id);

	/* show: a readable summary, with the children and what may be sent */
	rc = cli(out, sizeof(out), student, "cases show %s", id);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "status     submitted"), "%s", out);
	cr_assert(strstr(out, "campus_application:uc-davis"), "%s", out);
	cr_assert(strstr(out, "may send"), "%s", out);

	/* history: one line per event, in order */
	rc = cli(out, sizeof(out), student, "cases history %s", id);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strncmp(out, "SEQ", 3) == 0, "%s", out);
	cr_assert(strstr(out, "draft -> submitted"), "%s", out);
	cr_assert(strstr(out, "created") < strstr(out, "submit"), "%s", out);
	j = cli_json(student, "cases history %s", id);
	cr_assert_str_eq(jstr(j, "case"), id);
	cr_assert_geq(json_array_size(json_object_get(j, "events")), 2);
	json_decref(j);

	/* a refused event: 409 from cairnd, exit 1 */
	rc = cli(out, sizeof(out), student, "cases event %s submit", id);
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert(strstr(out, "409"), "%s", out);
	/* an unknown case: 404, exit 1 */
	rc = cli(out, sizeof(out), student,
	         "cases show 01a00000-0000-7000-8000-000000000000");
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert(strstr(out, "404"), "%s", out);
	/* a bad token: exit 4 */
	rc = run_cmd(out, sizeof(out),
	             "CAIRN_URL=http://127.0.0.1:%d CAIRN_TOKEN=cairn_%064d "
	             "%s cases list",
	             t.port, 0, td_bin("cairn"));
	cr_assert_eq(rc, 4, "%s", out);

	/* the listing: a table by default, pages with --limit and --after,
	 * everything with --all; the global options after the command */
	rc = cli(out, sizeof(out), t.token, "cases list --subject S-100");
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strncmp(out, "ID ", 3) == 0, "%s", out);
	cr_assert(strstr(out, "uc-irvine"), "%s", out);
	j = cli_json(t.token, "cases list --subject S-100 --limit 2");
	cr_assert_eq(json_array_size(json_object_get(j, "cases")), 2);
	cr_assert(json_is_string(json_object_get(j, "next")));
	c = cli_json(t.token, "cases list --subject S-100 --limit 2 --after %s",
	             jstr(j, "next"));
	cr_assert_eq(json_array_size(json_object_get(c, "cases")), 1);
	cr_assert(json_is_null(json_object_get(c, "next")));
	json_decref(c);
	json_decref(j);
	rc = run_cmd(out, sizeof(out),
	             "(%s cases list --subject S-100 --all --json "
	             "--url http://127.0.0.1:%d --token %s 2>/dev/null)",
	             td_bin("cairn"), t.port, t.token);
	cr_assert_eq(rc, 0, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "%s", out);
	cr_assert_eq(json_array_size(json_object_get(j, "cases")), 3);
	json_array_foreach(json_object_get(j, "cases"), i, c)
	        cr_assert_str_eq(jstr(c, "subject"), "S-100");
	json_decref(j);
	/* the filters reach cairnd */
	j = cli_json(t.token,
	             "cases --workflow campus_application --subject S-100");
	cr_assert_eq(json_array_size(json_object_get(j, "cases")), 2);
	json_decref(j);

	/* the older spellings still print JSON */
	rc = cli(out, sizeof(out), student, "case %s 2>/dev/null", id);
	cr_assert_eq(rc, 0, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "%s", out);
	json_decref(j);
}

Test(cli_cases, a_students_timeline_merges_every_case_in_time_order)
{
	const char *student = td_token(&t, "student", "S-200");
	const char *davis = td_token(&t, "admissions", "uc-davis");
	const char *other = td_token(&t, "student", "S-201");
	char out[65536], id[64], child[64] = "";
	json_t *j, *e, *prev = NULL;
	size_t i;
	long long events = 0;
	int rc;

	apply(student, id, sizeof(id));
	/* uc-davis moves its campus application on */
	j = cli_json(student, "cases show %s", id);
	json_array_foreach(json_object_get(j, "children"), i, e)
	{
		if (strstr(jstr(e, "spawn_key"), "uc-davis"))
			snprintf(child, sizeof(child), "%s", jstr(e, "id"));
	}
	json_decref(j);
	cr_assert(child[0], "no uc-davis child");
	rc = cli(out, sizeof(out), davis, "cases event %s complete", child);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "under_review"), "%s", out);
	/* an aid file of the same student, opened by an admin */
	j = cli_json(t.token, "cases create aid_file --subject S-200 --data "
	                      "'{\"office\":\"ucd-fao\"}'");
	json_decref(j);

	rc = cli(out, sizeof(out), t.token, "cases timeline S-200");
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "student S-200: 4 cases"), "%s", out);
	cr_assert(strstr(out, "campus_application uc-davis"), "%s", out);
	cr_assert(strstr(out, "campus_application uc-irvine"), "%s", out);
	cr_assert(strstr(out, "received -> under_review"), "%s", out);
	cr_assert(strstr(out, "aid_file"), "%s", out);
	cr_assert(strstr(out, "(new) -> draft") <
	                  strstr(out, "draft -> submitted"),
	          "%s", out);
	cr_assert(strstr(out, "draft -> submitted") <
	                  strstr(out, "received -> under_review"),
	          "%s", out);

	/* --json: every event of every case, in time order, each naming
	 * its case */
	j = cli_json(t.token, "cases timeline S-200");
	cr_assert_str_eq(jstr(j, "subject"), "S-200");
	cr_assert_eq(json_array_size(json_object_get(j, "cases")), 4);
	json_array_foreach(json_object_get(j, "cases"), i, e)
	{
		json_t *h =
		        cli_json(t.token, "cases history %s", jstr(e, "id"));

		events += (long long)json_array_size(
		        json_object_get(h, "events"));
		json_decref(h);
	}
	cr_assert_eq((long long)json_array_size(json_object_get(j, "events")),
	             events);
	json_array_foreach(json_object_get(j, "events"), i, e)
	{
		cr_assert(jstr(e, "case") != NULL);
		if (prev != NULL)
			cr_assert_geq(
			        json_integer_value(json_object_get(e, "at")),
			        json_integer_value(
			                json_object_get(prev, "at")));
		prev = e;
	}
	json_decref(j);

	/* a student sees their own; another's looks like none at all */
	rc = cli(out, sizeof(out), student, "cases timeline S-200");
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "4 cases"), "%s", out);
	rc = cli(out, sizeof(out), other, "cases timeline S-200");
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert(strstr(out, "no cases of student S-200"), "%s", out);

	/* a counselor: the students of their caseload */
	rc = cli(out, sizeof(out), t.token, "caseload set C-9 S-200");
	cr_assert_eq(rc, 0, "%s", out);
	rc = cli(out, sizeof(out), td_token(&t, "counselor", "C-9"),
	         "cases timeline S-200");
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "received -> under_review"), "%s", out);
}

Test(cli_cases, workflows_calendars_clock_offices_and_recipients)
{
	const char *policy = td_token(&t, "policy", NULL);
	const char *student = td_token(&t, "student", "S-300");
	char out[65536], tok[32];
	json_t *j;
	int rc;

	rc = cli(out, sizeof(out), t.token, "workflows");
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "campus_application"), "%s", out);
	rc = cli(out, sizeof(out), t.token,
	         "workflows show campus_application");
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "under_review"), "%s", out);
	cr_assert(strstr(out, "EVENT"), "%s", out);
	rc = cli(out, sizeof(out), t.token,
	         "workflows show campus_application --dot");
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strncmp(out, "digraph", 7) == 0, "%s", out);
	rc = cli(out, sizeof(out), t.token, "workflows show no_such_thing");
	cr_assert_eq(rc, 1, "%s", out);
	rc = cli(out, sizeof(out), policy, "workflows reload");
	cr_assert_eq(rc, 0, "%s", out);
	rc = cli(out, sizeof(out), student, "workflows reload");
	cr_assert_eq(rc, 4, "%s", out);
	j = cli_json(policy,
	             "workflows migrate campus_application --dry-run --map "
	             "received=received");
	cr_assert(json_is_true(json_object_get(j, "dry_run")));
	json_decref(j);
	rc = cli(out, sizeof(out), policy,
	         "workflows migrate campus_application --dry-run --map "
	         "received=nowhere");
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert(strstr(out, "422"), "%s", out);

	rc = cli(out, sizeof(out), student, "calendars");
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "cal_grant"), "%s", out);

	j = cli_json(t.token, "clock advance 2d");
	cr_assert_eq(json_integer_value(json_object_get(j, "offset_ms")),
	             2LL * 86400000);
	json_decref(j);
	rc = cli(out, sizeof(out), t.token, "clock advance soon");
	cr_assert_eq(rc, 1, "%s", out);
	rc = cli(out, sizeof(out), student, "clock advance 1d");
	cr_assert_eq(rc, 4, "%s", out);

	/* an office's roster names token ids */
	j = cli_json(t.token, "token list");
	snprintf(tok, sizeof(tok), "%s",
	         jstr(json_array_get(json_object_get(j, "tokens"), 0), "id"));
	json_decref(j);
	rc = cli(out, sizeof(out), t.token,
	         "offices set ucd-fao --staff %s --supervisor %s", tok, tok);
	cr_assert_eq(rc, 0, "%s", out);
	rc = cli(out, sizeof(out), t.token, "offices show ucd-fao");
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, tok), "%s", out);
	rc = cli(out, sizeof(out), t.token,
	         "offices set ucd-fao --staff not-a-token");
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert(strstr(out, "422"), "%s", out);

	rc = cli(out, sizeof(out), t.token,
	         "recipients set counselor:C-4 --email c4@example.edu "
	         "--digest");
	cr_assert_eq(rc, 0, "%s", out);
	j = cli_json(t.token, "recipients show counselor:C-4");
	cr_assert_str_eq(jstr(j, "email"), "c4@example.edu");
	cr_assert(json_is_true(json_object_get(j, "digest")));
	json_decref(j);
	rc = cli(out, sizeof(out), t.token, "recipients show counselor:C-5");
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert(strstr(out, "404"), "%s", out);
}

/* Every listing: a table by default (a header line in capitals), and
 * cairnd's JSON with --json given after the command. */
Test(cli_cases, every_listing_is_a_table_or_json)
{
	static const struct {
		const char *args, *header, *member;
	} lists[] = {
	        {"token list", "ID ", "tokens"},
	        {"cases list", "ID ", "cases"},
	        {"workflows list", "WORKFLOW ", "workflows"},
	        {"rules list", "RULE SET ", "rule_sets"},
	        {"rules versions cal_grant", "VERSION ", "versions"},
	        {"queue", "QUEUE ", "queues"},
	        {"alerts --state all", "ID ", "alerts"},
	        {"adapters", "ADAPTER ", "adapters"},
	        {"cases history %s", "SEQ ", "events"},
	        {"cases timeline S-400", "student S-400", "events"},
	};
	const char *student = td_token(&t, "student", "S-400");
	char out[65536], args[256], id[64];

	apply(student, id, sizeof(id));
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		json_t *j;
		int rc;

		snprintf(args, sizeof(args), lists[i].args, id);
		rc = cli(out, sizeof(out), t.token, "%s 2>/dev/null", args);
		cr_assert_eq(rc, 0, "cairn %s: exit %d: %s", args, rc, out);
		cr_assert(strncmp(out, lists[i].header,
		                  strlen(lists[i].header)) == 0,
		          "cairn %s printed: %s", args, out);
		rc = run_cmd(out, sizeof(out),
		             "(CAIRN_URL=http://127.0.0.1:%d CAIRN_TOKEN=%s %s "
		             "%s --json 2>/dev/null)",
		             t.port, t.token, td_bin("cairn"), args);
		cr_assert_eq(rc, 0, "cairn %s --json: exit %d", args, rc);
		j = json_loads(out, 0, NULL);
		cr_assert_not_null(j, "cairn %s --json: %s", args, out);
		cr_assert(json_is_array(json_object_get(j, lists[i].member)),
		          "cairn %s --json: no %s: %s", args, lists[i].member,
		          out);
		json_decref(j);
	}
}
