/*
 * test_rules_host.c: rule sets inside a running cairnd: a workflow's
 * evaluate action and guard asking the live version, a parameter edit
 * going live within two seconds with no restart, a broken edit changing
 * nothing and saying why, uploads, rollback and dry runs over HTTP, and
 * the dates the rules are given.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../daemon/rules_host.h"
#include "harness.h"

static struct td t;

/* Cases whose entering status evaluates cal_grant (and stores it), with a
 * guard on one rule of it. */
static const char elig_wf[] =
        "name: elig\n"
        "description: Cal Grant decided on entry\n"
        "statuses:\n"
        "  open:\n"
        "    initial: true\n"
        "    on_enter:\n"
        "      - evaluate: {rule: cal_grant, store_as: decision}\n"
        "  granted: {terminal: true}\n"
        "transitions:\n"
        "  - on: recheck\n"
        "    from: open\n"
        "    to: open\n"
        "    roles: [aid_officer]\n"
        "    actions:\n"
        "      - evaluate: {rule: cal_grant, store_as: decision}\n"
        "  - on: grant_a\n"
        "    from: open\n"
        "    to: granted\n"
        "    roles: [aid_officer]\n"
        "    guard: cal_grant.cal_grant_a\n";

/* A dependent family of three, GPA 3.2, on time for 2022-23. */
static const char student_body[] =
        "{\"workflow\":\"elig\",\"subject\":\"S100\",\"data\":{"
        "\"award_year\":\"2022-23\",\"student\":{"
        "\"dependency\":\"dependent\",\"married\":false,"
        "\"has_dependents\":false,\"family_size\":3,\"income\":%d,"
        "\"assets\":1000,\"hs_gpa\":%s,\"college_gpa\":null,"
        "\"ca_resident\":true,\"ab540\":false,\"citizenship\":\"citizen\","
        "\"segment\":\"uc\",\"program_months\":9,"
        "\"application_date\":\"2022-02-15\"}}}";

static char rules_dir[600];

static void
setup(void)
{
	char out[4096];

	td_start(&t, NULL);
	cr_assert_eq(td_stop(&t), 0);
	snprintf(rules_dir, sizeof(rules_dir), "%s/defs/rules", t.dir);
	/* without the example's own test cases: these tests move the GPA
	 * minimum those cases pin down, and a version whose tests fail
	 * would (rightly) never go live */
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "mkdir -p %s && cp -r %s/examples/rules/cal_grant "
	                     "%s/ && rm -rf %s/cal_grant/tests && sed -i "
	                     "'s|rules: \\[\\]|rules: [defs/rules]|' %s",
	                     rules_dir, CAIRN_SOURCE_DIR, rules_dir, rules_dir,
	                     t.cfg),
	             0, "%s", out);
	td_write_workflow(&t, "elig", elig_wf);
	td_restart(&t);
}

static void
teardown(void)
{
	td_cleanup(&t);
}

TestSuite(rules_host, .init = setup, .fini = teardown, .timeout = 90);

static json_t *
open_case(int income, const char *gpa)
{
	const char *tok = td_token(&t, "aid_officer", "fa-ucla");
	char body[2048];

	snprintf(body, sizeof(body), student_body, income, gpa);
	return td_call(&t, "POST", "/v1/cases", tok, body, NULL, 201);
}

static const char *
outcome_of(json_t *c, const char *rule)
{
	json_t *d = json_object_get(
	        json_object_get(
	                json_object_get(json_object_get(c, "data"), "decision"),
	                "detail"),
	        "decisions");

	return json_string_value(
	        json_object_get(json_object_get(d, rule), "outcome"));
}

static char *
live_version(void)
{
	json_t *r = td_call(&t, "GET", "/v1/rules", t.token, NULL, NULL, 200);
	json_t *s = json_array_get(json_object_get(r, "rule_sets"), 0);
	char *v;

	cr_assert_str_eq(json_string_value(json_object_get(s, "name")),
	                 "cal_grant");
	v = strdup(json_string_value(json_object_get(s, "version")));
	json_decref(r);
	return v;
}

/* Waits up to ms for the live version to differ from old; returns the
 * new one, or NULL. */
static char *
wait_new_version(const char *old, int ms)
{
	for (int waited = 0; waited <= ms; waited += 50) {
		char *v = live_version();

		if (strcmp(v, old))
			return v;
		free(v);
		usleep(50000);
	}
	return NULL;
}

static void
edit_file(const char *rel, const char *sed)
{
	char out[2048];

	cr_assert_eq(run_cmd(out, sizeof(out), "sed -i '%s' %s/cal_grant/%s",
	                     sed, rules_dir, rel),
	             0, "%s", out);
}

Test(rules_host, evaluate_and_guard_use_the_live_version_and_record_it)
{
	json_t *c = open_case(50000, "3.2"), *h, *ev;
	const char *id = json_string_value(json_object_get(c, "id"));
	char path[128], *ver = live_version();
	size_t i;
	int found = 0;

	cr_assert_str_eq(outcome_of(c, "cal_grant_a"), "eligible");
	cr_assert_str_eq(outcome_of(c, "cal_grant_b"), "eligible");
	/* the data holds the decision, not a copy of itself */
	cr_assert_null(json_object_get(
	        json_object_get(
	                json_object_get(json_object_get(c, "data"), "decision"),
	                "detail"),
	        "input"));
	snprintf(path, sizeof(path), "/v1/cases/%s/history", id);
	h = td_call(&t, "GET", path, t.token, NULL, NULL, 200);
	json_array_foreach(json_object_get(h, "events"), i, ev)
	{
		json_t *p = json_object_get(json_object_get(ev, "payload"),
		                            "cal_grant");
		json_t *d = json_object_get(p, "detail");

		if (strcmp(json_string_value(json_object_get(ev, "type")),
		           "rules.decided"))
			continue;
		found = 1;
		cr_assert_str_eq(
		        json_string_value(json_object_get(d, "version")), ver);
		cr_assert_str_eq(
		        json_string_value(json_object_get(d, "award_year")),
		        "2022-23");
		cr_assert_eq(
		        json_integer_value(json_object_get(
		                json_object_get(json_object_get(d, "input"),
		                                "student"),
		                "income")),
		        50000);
	}
	cr_assert(found, "no rules.decided event in the history");
	json_decref(h);
	/* the guard: cal_grant_a eligible lets grant_a through */
	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	json_decref(td_call(&t, "POST", path,
	                    td_token(&t, "aid_officer", "fa-ucla"),
	                    "{\"type\":\"grant_a\"}", NULL, 200));
	/* one dollar over the family-of-three A&C ceiling: the guard holds */
	json_decref(c);
	c = open_case(98001, "3.2");
	cr_assert_str_eq(outcome_of(c, "cal_grant_a"), "ineligible");
	snprintf(path, sizeof(path), "/v1/cases/%s/events",
	         json_string_value(json_object_get(c, "id")));
	json_decref(td_call(&t, "POST", path,
	                    td_token(&t, "aid_officer", "fa-ucla"),
	                    "{\"type\":\"grant_a\"}", NULL, 409));
	json_decref(c);
	free(ver);
}

Test(rules_host, a_parameter_edit_goes_live_within_two_seconds)
{
	json_t *c = open_case(50000, "3.2"), *c2;
	char *old = live_version(), *now, path[128];
	struct timespec a, b;

	cr_assert_str_eq(outcome_of(c, "cal_grant_a"), "eligible");
	clock_gettime(CLOCK_MONOTONIC, &a);
	edit_file("params/2022-23.yaml",
	          "s/a_high_school: 3.00/a_high_school: 3.50/");
	now = wait_new_version(old, 2000);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_not_null(now, "the edit was not live within 2 s");
	cr_log_info("edit live after %.0f ms",
	            (b.tv_sec - a.tv_sec) * 1e3 +
	                    (b.tv_nsec - a.tv_nsec) / 1e6);
	/* the same student now misses A's GPA minimum */
	snprintf(path, sizeof(path), "/v1/cases/%s/events",
	         json_string_value(json_object_get(c, "id")));
	c2 = td_call(&t, "POST", path, td_token(&t, "aid_officer", "fa-ucla"),
	             "{\"type\":\"recheck\"}", NULL, 200);
	cr_assert_str_eq(outcome_of(c2, "cal_grant_a"), "ineligible");
	cr_assert_str_eq(outcome_of(c2, "cal_grant_b"), "eligible");
	json_decref(c);
	json_decref(c2);
	free(old);
	free(now);
}

Test(rules_host, a_broken_edit_changes_nothing_and_says_why)
{
	char *old = live_version(), *now;
	json_t *v, *lf;
	int rejected = 0;

	edit_file("cal_grant.lua", "1s/^/local x = = 1\\n/");
	/* the watch sees it within a second; give it three */
	for (int waited = 0; waited < 3000 && !rejected; waited += 50) {
		v = td_call(&t, "GET", "/v1/rules/cal_grant/versions", t.token,
		            NULL, NULL, 200);
		lf = json_object_get(v, "last_failure");
		if (json_is_object(lf)) {
			const char *err =
			        json_string_value(json_object_get(lf, "error"));

			rejected = 1;
			cr_assert_not_null(err);
			cr_assert(strstr(err, "cal_grant.lua:1") != NULL,
			          "the error names no file and line: %s", err);
		}
		json_decref(v);
		if (!rejected)
			usleep(50000);
	}
	cr_assert(rejected, "the broken edit was never reported");
	now = live_version();
	cr_assert_str_eq(now, old);
	/* and decisions go on with the live version */
	json_decref(open_case(50000, "3.2"));
	free(old);
	free(now);
}

/* The set's files as {"files": {...}} with the GPA minimum changed. */
static json_t *
files_with_gpa(const char *gpa)
{
	json_t *files = json_object();
	const char *names[] = {"cal_grant.lua", "params/2022-23.yaml",
	                       "params/2025-26.yaml", NULL};
	char out[600];

	for (int i = 0; names[i]; i++) {
		char path[800], *text;
		FILE *f;
		long n;

		snprintf(path, sizeof(path), "%s/cal_grant/%s", rules_dir,
		         names[i]);
		f = fopen(path, "r");
		cr_assert_not_null(f, "%s", path);
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		text = calloc(1, (size_t)n + 1);
		cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		if (strstr(names[i], "2022-23")) {
			char *p = strstr(text, "a_high_school: 3.00");

			cr_assert_not_null(p);
			memcpy(p + strlen("a_high_school: "), gpa, 4);
		}
		json_object_set_new(files, names[i], json_string(text));
		free(text);
	}
	/* the tests directory goes along, whatever it holds */
	if (run_cmd(out, sizeof(out), "ls %s/cal_grant/tests 2>/dev/null",
	            rules_dir) == 0 &&
	    out[0]) {
		char *save = NULL;

		for (char *n = strtok_r(out, "\n", &save); n;
		     n = strtok_r(NULL, "\n", &save)) {
			char path[900], rel[300], *text;
			FILE *f;
			long len;

			snprintf(path, sizeof(path), "%s/cal_grant/tests/%s",
			         rules_dir, n);
			snprintf(rel, sizeof(rel), "tests/%s", n);
			f = fopen(path, "r");
			cr_assert_not_null(f);
			fseek(f, 0, SEEK_END);
			len = ftell(f);
			rewind(f);
			text = calloc(1, (size_t)len + 1);
			cr_assert_eq(fread(text, 1, (size_t)len, f),
			             (size_t)len);
			fclose(f);
			json_object_set_new(files, rel, json_string(text));
			free(text);
		}
	}
	return json_pack("{s:o}", "files", files);
}

/* The first reason of a dry run transition's first example. */
static json_t *
first_reason(json_t *tr)
{
	json_t *ex = json_array_get(json_object_get(tr, "examples"), 0);

	return json_array_get(json_object_get(ex, "reasons"), 0);
}

Test(rules_host, dry_run_counts_what_a_candidate_would_change)
{
	json_t *body, *r, *tr, *why;
	char *text, *ver = live_version(), *after;
	const char *policy = td_token(&t, "policy", NULL);

	/* GPAs 3.1 to 3.4 are A-eligible today; raising the minimum to 3.30
	 * turns the 3.1 and 3.2 students ineligible for A */
	json_decref(open_case(50000, "3.1"));
	json_decref(open_case(50000, "3.2"));
	json_decref(open_case(50000, "3.3"));
	json_decref(open_case(50000, "3.4"));
	body = files_with_gpa("3.30");
	json_object_set_new(body, "filter",
	                    json_pack("{s:s}", "workflow", "elig"));
	text = json_dumps(body, JSON_COMPACT);
	r = td_call(&t, "POST", "/v1/rules/cal_grant/dry-run", policy, text,
	            NULL, 200);
	cr_assert_eq(json_integer_value(json_object_get(r, "evaluated")), 4);
	cr_assert_eq(json_integer_value(json_object_get(r, "changed")), 2);
	tr = json_array_get(json_object_get(r, "transitions"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(tr, "rule")),
	                 "cal_grant_a");
	cr_assert_str_eq(json_string_value(json_object_get(tr, "from")),
	                 "eligible");
	cr_assert_str_eq(json_string_value(json_object_get(tr, "to")),
	                 "ineligible");
	cr_assert_eq(json_integer_value(json_object_get(tr, "count")), 2);
	cr_assert_eq(json_array_size(json_object_get(tr, "examples")), 2);
	/* policy staff see which check flips (the code), not the message
	 * quoting the student's GPA (docs/security.md) */
	why = first_reason(tr);
	cr_assert_str_eq(json_string_value(json_object_get(why, "code")),
	                 "gpa_below_minimum");
	cr_assert_str_eq(json_string_value(json_object_get(why, "message")),
	                 "[redacted: restricted]");
	json_decref(r);
	/* an admin reads the message */
	r = td_call(&t, "POST", "/v1/rules/cal_grant/dry-run", t.token, text,
	            NULL, 200);
	why = first_reason(
	        json_array_get(json_object_get(r, "transitions"), 0));
	cr_assert_not_null(
	        strstr(json_string_value(json_object_get(why, "message")),
	               "GPA below the minimum"));
	json_decref(r);
	/* nothing changed: the live version is the same */
	after = live_version();
	cr_assert_str_eq(after, ver);
	/* a student may not, a counselor may not change rules */
	json_decref(td_call(&t, "POST", "/v1/rules/cal_grant/dry-run",
	                    td_token(&t, "counselor", "c1"), text, NULL, 403));
	free(text);
	json_decref(body);
	free(ver);
	free(after);
}

Test(rules_host, upload_and_rollback_over_http)
{
	json_t *body = files_with_gpa("3.30"), *r, *c;
	char *text = json_dumps(body, JSON_COMPACT), *v0 = live_version(), *v1;
	const char *policy = td_token(&t, "policy", NULL);

	r = td_call(&t, "PUT", "/v1/rules/cal_grant", policy, text, NULL, 200);
	cr_assert_str_eq(json_string_value(json_object_get(r, "state")),
	                 "live");
	json_decref(r);
	v1 = live_version();
	cr_assert_str_neq(v1, v0);
	c = open_case(50000, "3.2");
	cr_assert_str_eq(outcome_of(c, "cal_grant_a"), "ineligible");
	json_decref(c);
	/* back to the previous version */
	r = td_call(&t, "POST", "/v1/rules/cal_grant/rollback", policy, "{}",
	            NULL, 200);
	json_decref(r);
	free(v1);
	v1 = live_version();
	cr_assert_str_eq(v1, v0);
	c = open_case(50000, "3.2");
	cr_assert_str_eq(outcome_of(c, "cal_grant_a"), "eligible");
	json_decref(c);
	/* a rollback outlives a restart */
	cr_assert_eq(td_stop(&t), 0);
	td_restart(&t);
	free(v1);
	v1 = live_version();
	cr_assert_str_eq(v1, v0);
	/* an upload whose Lua does not compile is refused, nothing changes */
	json_object_set_new(json_object_get(body, "files"), "cal_grant.lua",
	                    json_string("rule {"));
	free(text);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(td_call(&t, "PUT", "/v1/rules/cal_grant", policy, text,
	                    NULL, 422));
	free(v1);
	v1 = live_version();
	cr_assert_str_eq(v1, v0);
	/* and an unknown version cannot be rolled back to */
	json_decref(td_call(&t, "POST", "/v1/rules/cal_grant/rollback", policy,
	                    "{\"version\":\"00\"}", NULL, 404));
	free(text);
	free(v0);
	free(v1);
	json_decref(body);
}

Test(rules_dates, los_angeles_dates_and_award_years)
{
	char d[11], y[8];

	/* 2026-03-02 07:59:59 UTC is still March 1 in Los Angeles (PST) */
	rules_la_date(1772438399000LL, d);
	cr_assert_str_eq(d, "2026-03-01");
	rules_la_date(1772438400000LL, d);
	cr_assert_str_eq(d, "2026-03-02");
	/* 2026-07-01 06:59:59 UTC is June 30 under daylight time */
	rules_la_date(1782889199000LL, d);
	cr_assert_str_eq(d, "2026-06-30");
	rules_la_date(1782889200000LL, d);
	cr_assert_str_eq(d, "2026-07-01");
	rules_award_year("2026-06-30", y);
	cr_assert_str_eq(y, "2025-26");
	rules_award_year("2026-07-01", y);
	cr_assert_str_eq(y, "2026-27");
	rules_award_year("1999-09-02", y);
	cr_assert_str_eq(y, "1999-00");
}

Test(rules_host, a_decision_that_needs_review_raises_an_alert_to_the_office)
{
	const char *tok = td_token(&t, "aid_officer", "fa-ucla");
	json_t *c, *al, *a;
	char body[2048], path[160];
	const char *id;
	size_t i;
	int found = 0;

	/* no income: no rule can decide */
	snprintf(body, sizeof(body), student_body, 12345, "3.2");
	{
		char *p = strstr(body, "12345");

		cr_assert_not_null(p);
		/* one byte shorter: "null" where "12345" was */
		memmove(p + 4, p + 5, strlen(p + 5) + 1);
		memcpy(p, "null", 4);
	}
	c = td_call(&t, "POST", "/v1/cases", tok, body, NULL, 201);
	id = json_string_value(json_object_get(c, "id"));
	cr_assert_str_eq(
	        json_string_value(json_object_get(
	                json_object_get(json_object_get(c, "data"), "decision"),
	                "outcome")),
	        "needs_review");
	al = td_call(&t, "GET", "/v1/alerts?state=open", tok, NULL, NULL, 200);
	json_array_foreach(json_object_get(al, "alerts"), i, a)
	{
		if (!strcmp(json_string_value(json_object_get(a, "case_id")),
		            id) &&
		    !strcmp(json_string_value(json_object_get(a, "kind")),
		            "rule_review:cal_grant"))
			found = 1;
	}
	cr_assert(found, "no rule_review alert for %s", id);
	json_decref(al);
	/* the same decision again raises no second alert */
	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	json_decref(td_call(&t, "POST", path, tok, "{\"type\":\"recheck\"}",
	                    NULL, 200));
	al = td_call(&t, "GET", "/v1/alerts?state=open", tok, NULL, NULL, 200);
	found = 0;
	json_array_foreach(json_object_get(al, "alerts"), i, a)
	{
		found += !strcmp(
		        json_string_value(json_object_get(a, "case_id")), id);
	}
	cr_assert_eq(found, 1);
	json_decref(al);
	json_decref(c);
}
