/*
 * test_rules.c: the rules library (rules/rules.h): the example sets load
 * and pass their own tests; versions are the hash of the files; load
 * errors carry file:line:column; the Cal Grant contract's output shape;
 * explanations (checks, values, message templates); the fast path agrees
 * with rs_evaluate; rs_combined; the linter; and cairn rules test / eval /
 * lint as a shell runs them.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rules/rules.h"
#include "tests/harness.h"

#define EX CAIRN_SOURCE_DIR "/examples/rules/"

struct log {
	int n, warnings;
	char text[8192];
};

static void
collect(const struct cairn_err *e, int warning, void *data)
{
	struct log *l = data;
	char line[800];

	cairn_err_format(e, line, sizeof(line));
	l->n++;
	l->warnings += warning;
	if (strlen(l->text) + strlen(line) + 2 < sizeof(l->text)) {
		strcat(l->text, line);
		strcat(l->text, "\n");
	}
}

static const char *const params = "name: t_2025_26\nlimit: 10\n";

static struct rs_set *
set_of(const char *lua, struct log *l)
{
	struct rs_set *s = NULL;
	json_t *files = json_pack("{s:s, s:s}", "r.lua", lua,
	                          "params/2025-26.yaml", params);

	memset(l, 0, sizeof(*l));
	rs_load_files("t", files, collect, l, &s);
	json_decref(files);
	return s;
}

static json_t *
student(void)
{
	return json_pack(
	        "{s:{s:s, s:b, s:b, s:i, s:i, s:i, s:f, s:n, s:b, s:b, s:s, "
	        "s:s, s:i, s:s}}",
	        "student", "dependency", "dependent", "married", 0,
	        "has_dependents", 0, "family_size", 3, "income", 98000,
	        "assets", 90400, "hs_gpa", 3.0, "college_gpa", "ca_resident", 1,
	        "ab540", 0, "citizenship", "citizen", "segment", "uc",
	        "program_months", 24, "application_date", "2022-03-02");
}

static const char *
outcome(json_t *out, const char *rule)
{
	return json_string_value(json_object_get(
	        json_object_get(json_object_get(out, "decisions"), rule),
	        "outcome"));
}

Test(rules, examples_load_and_pass_their_tests)
{
	static const char *const sets[] = {"cal_grant",
	                                   "middle_class_scholarship",
	                                   "application_complete", NULL};

	for (int i = 0; sets[i]; i++) {
		char dir[1024];
		struct log l = {0};
		struct rs_set *s = NULL;
		json_t *rep = NULL;
		int failed;

		snprintf(dir, sizeof(dir), EX "%s", sets[i]);
		cr_assert_eq(rs_load_dir(dir, collect, &l, &s), 0, "%s: %s",
		             sets[i], l.text);
		cr_expect_eq(l.n, 0, "%s", l.text);
		cr_expect_str_eq(rs_name(s), sets[i]);
		cr_expect_eq(strlen(rs_version(s)), 64);
		failed = rs_run_tests(s, NULL, &rep);
		cr_expect_eq(failed, 0, "%s: %s", sets[i],
		             json_dumps(rep, JSON_INDENT(1)));
		cr_expect_geq(
		        json_integer_value(json_object_get(rep, "passed")), 10);
		json_decref(rep);
		memset(&l, 0, sizeof(l));
		cr_expect_eq(rs_lint(s, collect, &l), 0, "%s", l.text);
		rs_set_free(s);
	}
}

Test(rules, cal_grant_contract)
{
	struct rs_set *s = NULL;
	struct rs_eval *ev = NULL;
	struct cairn_err e;
	json_t *in = student(), *out, *d, *r;

	cr_assert_eq(rs_load_dir(EX "cal_grant", NULL, NULL, &s), 0);
	cr_expect_eq(json_array_size(rs_rules(s)), 3);
	cr_expect_eq(rs_rule_find(s, "cal_grant_b"), 1);
	cr_expect_eq(rs_rule_find(s, "cal_grant_x"), -1);
	cr_expect_str_eq(
	        json_string_value(json_array_get(rs_award_years(s), 0)),
	        "2022-23");
	cr_assert_eq(rs_eval_new(s, NULL, &ev, &e), 0, "%s", e.msg);
	out = rs_evaluate(ev, -1, in, "2022-23", "2022-06-01");
	cr_assert_not_null(out);
	cr_expect_str_eq(json_string_value(json_object_get(out, "rule_set")),
	                 "cal_grant");
	cr_expect_str_eq(json_string_value(json_object_get(out, "version")),
	                 rs_version(s));
	cr_expect_str_eq(json_string_value(json_object_get(out, "award_year")),
	                 "2022-23");
	/* exactly at the A/C income, asset and GPA minimums: eligible; B's
	 * income ceiling is lower */
	cr_expect_str_eq(outcome(out, "cal_grant_a"), "eligible");
	cr_expect_str_eq(outcome(out, "cal_grant_c"), "eligible");
	cr_expect_str_eq(outcome(out, "cal_grant_b"), "ineligible");
	d = json_object_get(json_object_get(out, "decisions"), "cal_grant_b");
	r = json_array_get(json_object_get(d, "reasons"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(r, "code")),
	                 "income_over_ceiling");
	/* the message template is filled from the check's values */
	cr_expect(strstr(json_string_value(json_object_get(r, "message")),
	                 "$98000") != NULL);
	cr_expect(strstr(json_string_value(json_object_get(r, "message")),
	                 "$50300") != NULL);
	cr_expect_geq(json_array_size(json_object_get(d, "checks")), 6);
	{
		size_t i;
		json_t *c;
		int seen = 0;

		json_array_foreach(json_object_get(d, "checks"), i, c)
		{
			if (strcmp(json_string_value(
			                   json_object_get(c, "name")),
			           "income"))
				continue;
			seen = 1;
			cr_expect_str_eq(json_string_value(
			                         json_object_get(c, "outcome")),
			                 "fail");
			cr_expect_eq(
			        json_integer_value(json_object_get(
			                json_object_get(c, "values"), "value")),
			        98000);
			cr_expect_eq(json_integer_value(json_object_get(
			                     json_object_get(c, "values"),
			                     "maximum")),
			             50300);
		}
		cr_expect(seen);
	}
	cr_expect_eq(rs_combined(json_object_get(out, "decisions")),
	             RS_ELIGIBLE);
	json_decref(out);

	/* one rule only */
	out = rs_evaluate(ev, 2, in, "2022-23", "2022-06-01");
	cr_expect_eq(json_object_size(json_object_get(out, "decisions")), 1);
	cr_expect_str_eq(outcome(out, "cal_grant_c"), "eligible");
	json_decref(out);

	/* an award year without parameters: needs review, never a failure */
	out = rs_evaluate(ev, -1, in, "2030-31", "2030-06-01");
	cr_expect_str_eq(outcome(out, "cal_grant_a"), "needs_review");
	cr_expect_str_eq(
	        json_string_value(json_object_get(
	                json_array_get(
	                        json_object_get(
	                                json_object_get(
	                                        json_object_get(out, "decisio"
	                                                             "ns"),
	                                        "cal_grant_a"),
	                                "reasons"),
	                        0),
	                "code")),
	        "unknown_award_year");
	cr_expect_eq(rs_combined(json_object_get(out, "decisions")),
	             RS_NEEDS_REVIEW);
	json_decref(out);
	out = rs_evaluate(ev, -1, in, "2022-23", "June 1");
	cr_expect_str_eq(outcome(out, "cal_grant_b"), "needs_review");
	json_decref(out);
	{
		json_t *arr = json_pack("[i]", 1);

		out = rs_evaluate(ev, -1, json_array_get(arr, 0), "2022-23",
		                  "2022-06-01");
		cr_expect_str_eq(outcome(out, "cal_grant_b"), "needs_review");
		json_decref(out);
		json_decref(arr);
	}
	json_decref(in);
	rs_eval_free(ev);
	rs_set_free(s);
}

/* The same files give the same version, wherever they come from; one
 * byte changes it. */
Test(rules, version_is_the_hash_of_the_files)
{
	struct rs_set *a = NULL, *b = NULL, *c = NULL;
	json_t *files;

	cr_assert_eq(rs_load_dir(EX "cal_grant", NULL, NULL, &a), 0);
	cr_assert_eq(rs_load_files("cal_grant", rs_files(a), NULL, NULL, &b),
	             0);
	cr_expect_str_eq(rs_version(a), rs_version(b));
	files = json_deep_copy(rs_files(a));
	json_object_set_new(files, "params/2025-26.yaml",
	                    json_pack("s+",
	                              json_string_value(json_object_get(
	                                      files, "params/2025-26.yaml")),
	                              "\n# a comment\n"));
	cr_assert_eq(rs_load_files("cal_grant", files, NULL, NULL, &c), 0);
	cr_expect_str_neq(rs_version(a), rs_version(c));
	json_decref(files);
	rs_set_free(a);
	rs_set_free(b);
	rs_set_free(c);
}

/* Load errors name file, line and (for YAML) column. */
Test(rules, load_errors_have_positions)
{
	static const struct {
		const char *path, *text, *want;
	} t[] = {
	        {"r.lua",
	         "rule { id = 'a', title = 't', regulation = 'r',\n"
	         "  check = function(c) c:is_true('x', true, 'c', 'm') "
	         "end }\nlocal = 3\n",
	         "r.lua:3: "},
	        {"r.lua",
	         "rule { id = 'Bad Id', title = 't', regulation = 'r', check "
	         "= function() end }\n",
	         "r.lua:1: rule{}: id 'Bad Id' is not valid"},
	        {"r.lua",
	         "rule { id = 'a', title = 't', check = function() end }\n",
	         "regulation must be a string"},
	        {"r.lua",
	         "rule { id = 'a', title = 't', regulation = 'r', check = "
	         "function() end, extra = 1 }\n",
	         "unknown field 'extra'"},
	        {"r.lua",
	         "rule { id = 'a', title = 't', regulation = 'r', check = "
	         "function() end }\nrule { id = 'a', title = 't', regulation "
	         "= 'r', check = function() end }\n",
	         "r.lua:2: rule{}: id 'a' is already defined at r.lua:1"},
	        {"r.lua", "helper = 1\n", "r.lua:1: assignment to global"},
	        {"r.lua", "return 1\n", "no rule{} in any file"},
	        {"params/2025-26.yaml", "name: x\nlimit: [1, 2\n",
	         "params/2025-26.yaml:3:1"},
	        {"params/2025-26.yaml", "name: x\nname: y\n",
	         "params/2025-26.yaml:2:1: duplicate key 'name'"},
	        {"params/2025-26.yaml", "name: x\naward_year: 2024-25\n",
	         "params/2025-26.yaml:2:13: award_year must be 2025-26"},
	        {"params/20252026.yaml", "name: x\n", "named after its award"},
	        {"tests/t.yaml", "name: t\ncases: 3\n",
	         "tests/t.yaml:2:8: cases must be a list"},
	        {"tests/t.yaml",
	         "name: t\naward_year: 2025-26\ncases:\n  - name: c\n    "
	         "expect: {nope: eligible}\n",
	         "tests/t.yaml:5:14: no rule 'nope' in this set"},
	        {"tests/t.yaml",
	         "name: t\naward_year: 2025-26\ncases:\n  - name: c\n    "
	         "expect: {a: maybe}\n",
	         "tests/t.yaml:5:17: unknown outcome 'maybe'"},
	        {"tests/t.yaml",
	         "name: t\naward_year: 2024-25\ncases:\n  - name: c\n    "
	         "expect: {a: eligible}\n",
	         "no parameters for award year 2024-25"},
	        {"tests/t.yaml", "name: t\ncases: []\nextra: 1\n",
	         "tests/t.yaml:3:1: unknown key 'extra'"},
	        {"notes.txt", "hello\n", "notes.txt: not a rule set file"},
	        {"../escape.lua", "x\n", "not a rule set file"},
	};
	static const char *const good =
	        "rule { id = 'a', title = 't', regulation = 'r',\n"
	        "  check = function(c) c:is_true('x', true, 'c', 'm') end }\n";

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct rs_set *s = NULL;
		struct log l = {0};
		json_t *files = json_pack("{s:s, s:s}", "r.lua", good,
		                          "params/2025-26.yaml", params);

		json_object_set_new(files, t[i].path, json_string(t[i].text));
		cr_expect_neq(rs_load_files("t", files, collect, &l, &s), 0,
		              "case %zu loaded", i);
		cr_expect_null(s);
		cr_expect(strstr(l.text, t[i].want) != NULL,
		          "case %zu: wanted '%s' in:\n%s", i, t[i].want,
		          l.text);
		rs_set_free(s);
		json_decref(files);
	}
}

/* Checks: outcomes, values, templates, missing data, the fast path. */
Test(rules, checks_and_explanations)
{
	struct log l;
	struct rs_set *s = set_of(
	        "rule { id = 'r', title = 'R', regulation = 'test',\n"
	        "  check = function(c, s, p)\n"
	        "    c:at_most('n', s.n, p.limit, 'too_big', '{name} {value} > "
	        "{maximum}', 'who', s.who)\n"
	        "    c:at_least('m', s.m, p.limit, 'too_small', 'm {value}')\n"
	        "    c:on_or_before('d', s.d, '2025-03-02', 'late', '{date} "
	        "after "
	        "{deadline}')\n"
	        "    c:require('who', s.who, 'no_who', 'who?')\n"
	        "    c:note('context', 'today', c.today, 'year', c.year, "
	        "'award_year', c.award_year)\n"
	        "    local n = 0\n"
	        "    for k, v in pairs(s) do n = n + 1 end\n"
	        "    c:is_true('keys', n >= #s.list + 2, 'count', 'n {n}', "
	        "'n', "
	        "n)\n"
	        "  end }\n",
	        &l);
	struct rs_eval *ev = NULL;
	struct rs_result *res = rs_result_new();
	struct cairn_err e;
	json_t *in, *out, *d, *c;
	const char *msg;

	cr_assert_not_null(s, "%s", l.text);
	cr_assert_eq(rs_eval_new(s, NULL, &ev, &e), 0);
	in = json_pack("{s:i, s:i, s:s, s:s, s:[i,i]}", "n", 10, "m", 10, "d",
	               "2025-03-02", "who", "ana", "list", 1, 2);
	out = rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
	cr_expect_str_eq(outcome(out, "r"), "eligible", "%s",
	                 json_dumps(out, 0));
	d = json_object_get(json_object_get(out, "decisions"), "r");
	c = json_array_get(json_object_get(d, "checks"), 4);
	cr_expect_str_eq(json_string_value(json_object_get(c, "outcome")),
	                 "note");
	cr_expect_str_eq(json_string_value(json_object_get(
	                         json_object_get(c, "values"), "today")),
	                 "2025-10-01");
	cr_expect_eq(json_integer_value(json_object_get(
	                     json_object_get(c, "values"), "year")),
	             2025);
	json_decref(out);

	/* one over, one under, a day late: three reasons, ineligible */
	json_object_set_new(in, "n", json_integer(11));
	json_object_set_new(in, "m", json_integer(9));
	json_object_set_new(in, "d", json_string("2025-03-03"));
	out = rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
	cr_expect_str_eq(outcome(out, "r"), "ineligible");
	d = json_object_get(json_object_get(out, "decisions"), "r");
	cr_expect_eq(json_array_size(json_object_get(d, "reasons")), 3);
	msg = json_string_value(json_object_get(
	        json_array_get(json_object_get(d, "reasons"), 0), "message"));
	cr_expect_str_eq(msg, "n 11 > 10");
	msg = json_string_value(json_object_get(
	        json_array_get(json_object_get(d, "reasons"), 2), "message"));
	cr_expect_str_eq(msg, "2025-03-03 after 2025-03-02");
	json_decref(out);

	/* missing data: needs review with missing_<name> */
	json_object_set_new(in, "n", json_null());
	json_object_set_new(in, "m", json_integer(10));
	json_object_set_new(in, "d", json_string("2025-03-01"));
	out = rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
	cr_expect_str_eq(outcome(out, "r"), "needs_review");
	d = json_object_get(json_object_get(out, "decisions"), "r");
	cr_expect_str_eq(
	        json_string_value(json_object_get(
	                json_array_get(json_object_get(d, "reasons"), 0),
	                "code")),
	        "missing_n");
	json_decref(out);

	/* the fast path gives the same */
	cr_assert_eq(rs_run(ev, -1, in, "2025-26", "2025-10-01", res), 0);
	cr_expect_eq(rs_result_count(res), 1);
	cr_expect_str_eq(rs_result_rule(res, 0), "r");
	cr_expect_eq(rs_result_outcome(res, 0), RS_NEEDS_REVIEW);
	out = rs_result_json(res);
	cr_expect_str_eq(outcome(out, "r"), "needs_review");
	json_decref(out);
	out = rs_result_decision_json(res, 0);
	cr_expect_str_eq(json_string_value(json_object_get(out, "outcome")),
	                 "needs_review");
	json_decref(out);
	cr_expect_null(rs_result_decision_json(res, 1));
	cr_expect_eq(rs_run(ev, 5, in, "2025-26", "2025-10-01", res),
	             CAIRN_EINVALID);

	/* the same input a thousand times: the same bytes */
	{
		json_t *first =
		        rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
		char *a = json_dumps(first, JSON_SORT_KEYS);

		for (int i = 0; i < 1000; i++) {
			json_t *o = rs_evaluate(ev, -1, in, "2025-26",
			                        "2025-10-01");
			char *b = json_dumps(o, JSON_SORT_KEYS);

			cr_assert_str_eq(a, b);
			free(b);
			json_decref(o);
		}
		free(a);
		json_decref(first);
	}
	json_decref(in);
	rs_result_free(res);
	rs_eval_free(ev);
	rs_set_free(s);
}

Test(rules, combined)
{
	json_t *d = json_pack("{s:{s:s}, s:{s:s}}", "a", "outcome",
	                      "ineligible", "b", "outcome", "needs_review");

	cr_expect_eq(rs_combined(d), RS_NEEDS_REVIEW);
	json_object_set_new(d, "c", json_pack("{s:s}", "outcome", "eligible"));
	cr_expect_eq(rs_combined(d), RS_ELIGIBLE);
	json_object_del(d, "c");
	json_object_del(d, "b");
	cr_expect_eq(rs_combined(d), RS_INELIGIBLE);
	json_decref(d);
	cr_expect_str_eq(rs_outcome_name(RS_NEEDS_REVIEW), "needs_review");
}

Test(rules, lint_warns)
{
	struct log l;
	struct rs_set *s;
	json_t *files = json_pack(
	        "{s:s, s:s, s:s}", "r.lua",
	        "rule { id = 'r', title = 'R', regulation = 'test',\n"
	        "  check = function(c, s, p)\n"
	        "    if s.gpa >= 3.0 then end\n"
	        "    c:at_most('n', s.n, 98000, 'c', 'm')\n"
	        "    if s.x == 0 or s.y > 1 then end -- 0 and 1 are fine\n"
	        "    for k in pairs(s) do end\n"
	        "  end }\n"
	        "rule { id = 'q', title = 'Q', regulation = 'test',\n"
	        "  check = function(c, s, p) end }\n",
	        "params/2025-26.yaml", "name: t\nlimit: 10\nunused_knob: 3\n",
	        "tests/t.yaml",
	        "name: t\naward_year: 2025-26\ncases:\n  - name: c\n    input: "
	        "{gpa: 3.5, n: 1}\n    expect: {r: eligible}\n");
	int n;

	memset(&l, 0, sizeof(l));
	cr_assert_eq(rs_load_files("t", files, collect, &l, &s), 0, "%s",
	             l.text);
	memset(&l, 0, sizeof(l));
	n = rs_lint(s, collect, &l);
	cr_expect_eq(n, l.warnings);
	cr_expect(strstr(l.text, "r.lua:3:17: the literal 3.0 is compared") !=
	                  NULL,
	          "%s", l.text);
	cr_expect(strstr(l.text, "r.lua:4:25: the literal 98000") != NULL, "%s",
	          l.text);
	cr_expect(strstr(l.text, "literal 0") == NULL, "%s", l.text);
	cr_expect(strstr(l.text, "literal 1 ") == NULL, "%s", l.text);
	cr_expect(strstr(l.text, "r.lua:6:") != NULL, "%s", l.text); /* pairs */
	cr_expect(strstr(l.text,
	                 "parameter 'unused_knob' is read by no rule") != NULL,
	          "%s", l.text);
	cr_expect(strstr(l.text, "params/2025-26.yaml:3") != NULL, "%s",
	          l.text);
	cr_expect(strstr(l.text, "rule 'q' has no test case") != NULL, "%s",
	          l.text);
	json_decref(files);
	rs_set_free(s);
}

/* rs_run_tests' report: expected against actual, per case. */
Test(rules, test_report)
{
	struct rs_set *s = NULL;
	struct log l = {0};
	json_t *files =
	        json_pack("{s:s, s:s, s:s}", "r.lua",
	                  "rule { id = 'r', title = 'R', regulation = 'test',\n"
	                  "  check = function(c, s, p)\n"
	                  "    c:at_most('n', s.n, p.limit, 'too_big', 'big')\n"
	                  "  end }\n",
	                  "params/2025-26.yaml", params, "tests/t.yaml",
	                  "name: t\naward_year: 2025-26\nbase: {n: 1}\ncases:\n"
	                  "  - name: at the limit\n    input: {n: 10}\n"
	                  "    expect: {r: eligible}\n"
	                  "  - name: wrong on purpose\n    input: {n: 11}\n"
	                  "    expect: {r: {outcome: ineligible, reasons: "
	                  "[too_small]}}\n");
	json_t *rep = NULL, *c;

	cr_assert_eq(rs_load_files("t", files, collect, &l, &s), 0, "%s",
	             l.text);
	cr_expect_eq(rs_run_tests(s, NULL, &rep), 1);
	cr_expect_eq(json_integer_value(json_object_get(rep, "passed")), 1);
	c = json_array_get(json_object_get(rep, "cases"), 1);
	cr_expect(json_is_false(json_object_get(c, "ok")));
	cr_expect_eq(json_integer_value(json_object_get(c, "line")), 8);
	cr_expect_str_eq(
	        json_string_value(json_array_get(
	                json_object_get(
	                        json_object_get(json_object_get(c, "actual"),
	                                        "r"),
	                        "reasons"),
	                0)),
	        "too_big");
	json_decref(rep);
	json_decref(files);
	rs_set_free(s);
}

/* --- the offline commands, as a shell runs them ---------------------- */

Test(rules_cli, test_eval_lint)
{
	static char out[65536];
	char dir[] = "/tmp/cairn-rules-cli-XXXXXX";
	int rc;

	cr_assert_not_null(mkdtemp(dir));
	rc = run_cmd(out, sizeof(out), "%s rules test %s", td_bin("cairn"),
	             EX "cal_grant");
	cr_expect_eq(rc, 0, "%s", out);
	cr_expect(strstr(out, "0 failed") != NULL, "%s", out);

	/* a failing copy: exit 1 and a readable diff */
	rc = run_cmd(out, sizeof(out),
	             "cp -r %s %s/cal_grant && sed -i "
	             "'s/income: 98001}}/income: 98000}}/' "
	             "%s/cal_grant/tests/income.yaml && %s rules test "
	             "%s/cal_grant",
	             EX "cal_grant", dir, dir, td_bin("cairn"), dir);
	cr_expect_eq(rc, 1, "%s", out);
	cr_expect(strstr(out, "FAIL tests/income.yaml:") != NULL, "%s", out);
	cr_expect(strstr(out, "- expected: ineligible [income_over_ceiling]") !=
	                  NULL,
	          "%s", out);
	cr_expect(strstr(out, "+ actual:   eligible []") != NULL, "%s", out);

	/* eval: the contract's input, the decision JSON on stdout */
	rc = run_cmd(
	        out, sizeof(out),
	        "printf '%%s' '{\"student\": {\"dependency\": "
	        "\"independent\", \"married\": false, \"has_dependents\": "
	        "false, \"family_size\": 1, \"income\": 39001, \"assets\": "
	        "0, \"hs_gpa\": 3.9, \"college_gpa\": null, "
	        "\"ca_resident\": true, \"ab540\": false, \"citizenship\": "
	        "\"citizen\", \"segment\": \"uc\", \"program_months\": 24, "
	        "\"application_date\": \"2022-03-02\"}}' > %s/in.json && "
	        "%s rules eval cal_grant --input %s/in.json --rules %s "
	        "--award-year 2022-23 --today 2022-06-01",
	        dir, td_bin("cairn"), dir, EX);
	cr_expect_eq(rc, 0, "%s", out);
	{
		json_t *j = json_loads(out, 0, NULL);

		cr_assert_not_null(j, "%s", out);
		cr_expect_str_eq(outcome(j, "cal_grant_a"), "ineligible");
		cr_expect_str_eq(outcome(j, "cal_grant_b"), "ineligible");
		json_decref(j);
	}
	rc = run_cmd(out, sizeof(out),
	             "%s rules eval cal_grant --input %s/missing.json --rules "
	             "%s",
	             td_bin("cairn"), dir, EX);
	cr_expect_eq(rc, 1, "%s", out);
	rc = run_cmd(out, sizeof(out), "%s rules eval cal_grant",
	             td_bin("cairn"));
	cr_expect_eq(rc, 2, "%s", out);

	rc = run_cmd(out, sizeof(out), "%s rules lint %s", td_bin("cairn"),
	             EX "middle_class_scholarship");
	cr_expect_eq(rc, 0, "%s", out);
	cr_expect(strstr(out, "0 warning(s)") != NULL, "%s", out);
	rc = run_cmd(out, sizeof(out), "%s rules test %s/nowhere",
	             td_bin("cairn"), dir);
	cr_expect_eq(rc, 1, "%s", out);
	rc = run_cmd(out, sizeof(out), "%s rules frobnicate", td_bin("cairn"));
	cr_expect_eq(rc, 2, "%s", out);
	/* online, with nothing listening: unreachable, exit 3 */
	rc = run_cmd(out, sizeof(out), "%s --url http://127.0.0.1:9 rules list",
	             td_bin("cairn"));
	cr_expect_eq(rc, 3, "%s", out);
	run_cmd(out, sizeof(out), "rm -rf %s", dir);
}

/* SANDBOX.md #21: one set shared by threads, an evaluator each. */
struct thread_arg {
	const struct rs_set *s;
	int ok;
};

static void *
eval_thread(void *p)
{
	struct thread_arg *a = p;
	struct rs_eval *ev = NULL;
	struct rs_result *res = rs_result_new();
	struct cairn_err e;
	json_t *in = student();

	a->ok = 0;
	if (res == NULL || rs_eval_new(a->s, NULL, &ev, &e) != 0)
		goto out;
	for (int i = 0; i < 2000; i++) {
		json_object_set_new(json_object_get(in, "student"), "income",
		                    json_integer(97990 + i % 20));
		if (rs_run(ev, -1, in, "2022-23", "2022-06-01", res) != 0 ||
		    rs_result_outcome(res, 0) != (97990 + i % 20 <= 98000
		                                          ? RS_ELIGIBLE
		                                          : RS_INELIGIBLE))
			goto out;
	}
	a->ok = 1;
out:
	json_decref(in);
	rs_result_free(res);
	rs_eval_free(ev);
	return NULL;
}

Test(rules, threads_share_a_set)
{
	struct rs_set *s = NULL;
	pthread_t t[4];
	struct thread_arg a[4];

	cr_assert_eq(rs_load_dir(EX "cal_grant", NULL, NULL, &s), 0);
	for (int i = 0; i < 4; i++) {
		a[i].s = s;
		cr_assert_eq(pthread_create(&t[i], NULL, eval_thread, &a[i]),
		             0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_expect(a[i].ok, "thread %d", i);
	}
	rs_set_free(s);
}

/* --- the online commands, against a stand-in for cairnd ----------------- */

/* Answers up to n requests on a listening socket with reply (status and
 * JSON body), writing each request's text to log; runs in a child. */
static void
fake_server(int lfd, int n, int status, const char *reply, const char *log)
{
	FILE *f = fopen(log, "w");

	for (int i = 0; i < n; i++) {
		char buf[65536], head[256];
		size_t got = 0;
		ssize_t r;
		int fd = accept(lfd, NULL, NULL);
		const char *body;
		long clen = -1;

		if (fd < 0)
			break;
		/* read the head, then the body by Content-Length */
		while (got < sizeof(buf) - 1 &&
		       (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
			char *p;

			got += (size_t)r;
			buf[got] = '\0';
			p = strstr(buf, "\r\n\r\n");
			if (p == NULL)
				continue;
			if (clen < 0) {
				char *cl = strcasestr(buf, "Content-Length:");

				clen = cl ? strtol(cl + 15, NULL, 10) : 0;
			}
			if ((long)(got - (size_t)(p + 4 - buf)) >= clen)
				break;
		}
		if (f) {
			fwrite(buf, 1, got, f);
			fputs("\n--\n", f);
			fflush(f);
		}
		body = reply;
		snprintf(head, sizeof(head),
		         "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		         status, strlen(body));
		if (write(fd, head, strlen(head)) < 0 ||
		    write(fd, body, strlen(body)) < 0)
			break;
		close(fd);
	}
	if (f)
		fclose(f);
	_exit(0);
}

static pid_t
start_fake(int *port, int n, int status, const char *reply, const char *log)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	cr_assert_geq(lfd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 8), 0);
	getsockname(lfd, (struct sockaddr *)&a, &al);
	*port = ntohs(a.sin_port);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		fake_server(lfd, n, status, reply, log);
	close(lfd);
	return pid;
}

Test(rules_cli, online_commands_speak_the_api)
{
	static char out[65536], logtext[200000];
	char log[] = "/tmp/cairn-rules-fake-XXXXXX";
	int port, rc, st;
	pid_t pid;
	FILE *f;
	size_t n;

	cr_assert_neq(mkstemp(log), -1);
	/* dry-run: the files of a directory and the filter go up; the
	 * transitions come back as a table */
	pid = start_fake(
	        &port, 1, 200,
	        "{\"rule_set\":\"cal_grant\",\"from_version\":"
	        "\"aaaaaaaaaaaaaaaa\","
	        "\"to_version\":\"bbbbbbbbbbbbbbbb\",\"cases\":1000000,"
	        "\"evaluated\":1000000,\"changed\":1243,\"transitions\":[{"
	        "\"rule\":\"cal_grant_a\",\"from\":\"eligible\",\"to\":"
	        "\"ineligible\",\"count\":1243,\"examples\":[{\"case\":\"c-1\","
	        "\"reasons\":[{\"code\":\"gpa_below_minimum\",\"message\":"
	        "\"GPA "
	        "3.05 is below 3.10\"}]}]}],\"elapsed_ms\":20500}",
	        log);
	rc = run_cmd(out, sizeof(out),
	             "%s --url http://127.0.0.1:%d --token t rules dry-run "
	             "cal_grant --dir %s --award-year 2025-26 --status "
	             "packaging",
	             td_bin("cairn"), port, EX "cal_grant");
	waitpid(pid, &st, 0);
	cr_expect_eq(rc, 0, "%s", out);
	cr_expect(strstr(out, "cal_grant_a") != NULL, "%s", out);
	cr_expect(strstr(out, "eligible -> ineligible") != NULL, "%s", out);
	cr_expect(strstr(out, "1,243") != NULL, "%s", out);
	cr_expect(strstr(out, "1,000,000 cases") != NULL, "%s", out);
	cr_expect(strstr(out, "GPA 3.05 is below 3.10") != NULL, "%s", out);
	f = fopen(log, "r");
	cr_assert_not_null(f);
	n = fread(logtext, 1, sizeof(logtext) - 1, f);
	logtext[n] = '\0';
	fclose(f);
	cr_expect(strstr(logtext, "POST /v1/rules/cal_grant/dry-run") != NULL,
	          "%s", logtext);
	cr_expect(strstr(logtext, "\"files\":{") != NULL);
	cr_expect(strstr(logtext, "\"cal_grant.lua\":") != NULL);
	cr_expect(strstr(logtext, "\"award_year\":\"2025-26\"") != NULL);
	cr_expect(strstr(logtext, "\"status\":\"packaging\"") != NULL);

	/* publish refused: 422 with the tests' report, exit 1 */
	pid = start_fake(&port, 1, 422,
	                 "{\"type\":\"urn:cairn:problem:tests-failed\","
	                 "\"title\":\"Unprocessable\",\"status\":422,"
	                 "\"detail\":\"1 test failed\",\"tests\":{\"passed\":"
	                 "65,\"failed\":1,\"cases\":[{\"file\":\"tests/"
	                 "gpa.yaml\",\"line\":30,\"name\":\"GPA at the "
	                 "minimum\",\"ok\":false}]}}",
	                 log);
	rc = run_cmd(out, sizeof(out),
	             "%s --url http://127.0.0.1:%d --token t rules publish "
	             "cal_grant %s",
	             td_bin("cairn"), port, EX "cal_grant");
	waitpid(pid, &st, 0);
	cr_expect_eq(rc, 1, "%s", out);
	cr_expect(strstr(out, "422") != NULL, "%s", out);
	cr_expect(strstr(out, "tests/gpa.yaml:30: GPA at the minimum") != NULL,
	          "%s", out);

	/* rollback to a version */
	pid = start_fake(&port, 1, 200,
	                 "{\"rule_set\":\"cal_grant\",\"version\":\"abc\","
	                 "\"state\":\"live\"}",
	                 log);
	rc = run_cmd(out, sizeof(out),
	             "%s --url http://127.0.0.1:%d --token t rules rollback "
	             "cal_grant abc",
	             td_bin("cairn"), port);
	waitpid(pid, &st, 0);
	cr_expect_eq(rc, 0, "%s", out);
	cr_expect(strstr(out, "cal_grant abc: live") != NULL, "%s", out);
	f = fopen(log, "r");
	n = fread(logtext, 1, sizeof(logtext) - 1, f);
	logtext[n] = '\0';
	fclose(f);
	cr_expect(strstr(logtext, "POST /v1/rules/cal_grant/rollback") != NULL);
	cr_expect(strstr(logtext, "{\"version\":\"abc\"}") != NULL, "%s",
	          logtext);

	/* usage errors never reach the network */
	rc = run_cmd(out, sizeof(out), "%s rules dry-run cal_grant",
	             td_bin("cairn"));
	cr_expect_eq(rc, 2, "%s", out);
	unlink(log);
}

/* c:once: the first rule runs the shared work, the others get its checks
 * and result; recursion and a failed first run are handled. */
Test(rules, once_shares_work_between_rules)
{
	struct log l;
	struct rs_set *s = set_of(
	        "local runs = 0\n"
	        "local function shared(c, s, p)\n"
	        "  runs = runs + 1\n"
	        "  c:note('run', 'runs', runs)\n"
	        "  c:at_most('n', s.n, p.limit, 'too_big', 'big')\n"
	        "  return s.n ~= nil\n"
	        "end\n"
	        "local function loop(c) return c:once('loop', loop) end\n"
	        "rule { id = 'a', title = 'A', regulation = 'r', check = "
	        "function(c, s, p)\n"
	        "  if s.boom then error('boom') end\n"
	        "  c:is_true('first', c:once('k', shared, s, p), 'x', 'y')\n"
	        "end }\n"
	        "rule { id = 'b', title = 'B', regulation = 'r', check = "
	        "function(c, s, p)\n"
	        "  c:is_true('second', c:once('k', shared, s, p), 'x', 'y')\n"
	        "end }\n"
	        "rule { id = 'c', title = 'C', regulation = 'r', check = "
	        "function(c, s, p)\n"
	        "  if s.loop then loop(c) end\n"
	        "  c:is_true('third', true, 'x', 'y')\n"
	        "end }\n",
	        &l);
	struct rs_eval *ev = NULL;
	struct cairn_err e;
	json_t *in = json_pack("{s:i}", "n", 3), *out, *ca, *cb;

	cr_assert_not_null(s, "%s", l.text);
	cr_assert_eq(rs_eval_new(s, NULL, &ev, &e), 0);
	out = rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
	ca = json_object_get(
	        json_object_get(json_object_get(out, "decisions"), "a"),
	        "checks");
	cb = json_object_get(
	        json_object_get(json_object_get(out, "decisions"), "b"),
	        "checks");
	/* b has a's shared checks, from the one run */
	cr_expect_eq(json_array_size(ca), 3);
	cr_expect_eq(json_array_size(cb), 3);
	cr_expect(json_equal(json_array_get(ca, 0), json_array_get(cb, 0)));
	cr_expect_eq(json_integer_value(json_object_get(
	                     json_object_get(json_array_get(cb, 0), "values"),
	                     "runs")),
	             1);
	cr_expect_str_eq(outcome(out, "b"), "eligible");
	json_decref(out);
	/* over the limit: both fail through the shared check */
	json_object_set_new(in, "n", json_integer(11));
	out = rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
	cr_expect_str_eq(outcome(out, "a"), "ineligible");
	cr_expect_str_eq(outcome(out, "b"), "ineligible");
	json_decref(out);
	/* a fails before its once: b runs the shared work itself */
	json_object_set_new(in, "boom", json_true());
	out = rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
	cr_expect_str_eq(outcome(out, "a"), "needs_review");
	cr_expect_str_eq(outcome(out, "b"), "ineligible");
	json_decref(out);
	/* once from itself is an error of that rule only */
	json_object_del(in, "boom");
	json_object_set_new(in, "loop", json_true());
	out = rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
	cr_expect_str_eq(outcome(out, "c"), "needs_review");
	{
		char *text = json_dumps(out, 0);

		cr_expect(strstr(text, "called from itself") != NULL, "%s",
		          text);
		free(text);
	}
	cr_expect_str_eq(outcome(out, "b"), "ineligible");
	json_decref(out);
	json_decref(in);
	rs_eval_free(ev);
	rs_set_free(s);
}
