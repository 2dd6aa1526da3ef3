/*
 * rules.c: cairn rules ...: the rule sets, offline (test, eval, lint run
 * the rules library in this process, exactly as cairnd would) and online
 * (list, versions, publish, rollback, dry-run talk to cairnd's
 * /v1/rules endpoints).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "../rules/rules.h"
#include "cli.h"

int cli_rules(const struct cli_opts *o, int argc, char **argv);

static void
rules_usage(FILE *f)
{
	fprintf(f, "usage: cairn rules COMMAND\n"
	           "\n"
	           "offline:\n"
	           "  test DIR                     run a rule set's tests "
	           "(exit 1 on a failure)\n"
	           "  eval SET --input FILE.json [--rules DIR] [--award-year "
	           "Y] [--today D]\n"
	           "                               print the decision and its "
	           "explanation\n"
	           "  lint DIR                     warnings about a rule set\n"
	           "online:\n"
	           "  list                         the live rule sets\n"
	           "  versions SET                 a set's versions\n"
	           "  publish SET DIR              upload a new version (live "
	           "if its tests pass)\n"
	           "  rollback SET [VERSION]       make an earlier version "
	           "live\n"
	           "  dry-run SET (--dir DIR | --version V) [--workflow W] "
	           "[--status S]\n"
	           "          [--award-year Y]     what a version would change "
	           "in stored cases\n");
}

/* Options of the rules commands, after the group's name. */
struct ropts {
	struct cli_opts o;
	const char *input, *rules_dir, *award_year, *today, *dir, *version;
	const char *args[4];
	int nargs;
};

static int
parse(const struct cli_opts *o, int argc, char **argv, struct ropts *r)
{
	memset(r, 0, sizeof(*r));
	r->o = *o;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (!strcmp(a, "--input"))
			slot = &r->input;
		else if (!strcmp(a, "--rules"))
			slot = &r->rules_dir;
		else if (!strcmp(a, "--award-year"))
			slot = &r->award_year;
		else if (!strcmp(a, "--today"))
			slot = &r->today;
		else if (!strcmp(a, "--dir"))
			slot = &r->dir;
		else if (!strcmp(a, "--version"))
			slot = &r->version;
		else if (!strcmp(a, "--workflow"))
			slot = &r->o.workflow;
		else if (!strcmp(a, "--status"))
			slot = &r->o.status;
		else if (!strcmp(a, "--url"))
			slot = &r->o.url;
		else if (!strcmp(a, "--token"))
			slot = &r->o.token;
		else if (!strcmp(a, "--json")) {
			r->o.json = 1;
			continue;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			rules_usage(stdout);
			return 1;
		} else if (a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "cairn rules: unknown option %s\n", a);
			return -1;
		}
		if (slot != NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr,
				        "cairn rules: %s needs a value\n", a);
				return -1;
			}
			*slot = argv[++i];
			continue;
		}
		if (r->nargs == (int)(sizeof(r->args) / sizeof(r->args[0]))) {
			fprintf(stderr, "cairn rules: too many arguments\n");
			return -1;
		}
		r->args[r->nargs++] = a;
	}
	return 0;
}

/* Load errors and warnings, as file:line:column lines on stderr. */
static void
report(const struct cairn_err *e, int warning, void *data)
{
	char buf[1200];
	int *count = data;

	cairn_err_format(e, buf, sizeof(buf));
	fprintf(stderr, "%s%s\n", warning ? "warning: " : "", buf);
	if (count != NULL)
		(*count)++;
}

static struct rs_set *
load(const char *dir)
{
	struct rs_set *s = NULL;

	if (rs_load_dir(dir, report, NULL, &s) != 0) {
		fprintf(stderr, "cairn rules: %s: the rule set does not load\n",
		        dir);
		return NULL;
	}
	return s;
}

/* --- test --------------------------------------------------------------- */

static void
print_codes(const json_t *codes)
{
	size_t i;
	json_t *c;

	if (json_is_null(codes) || codes == NULL) {
		printf("(any)");
		return;
	}
	printf("[");
	json_array_foreach(codes, i, c)
	        printf("%s%s", i ? ", " : "", json_string_value(c));
	printf("]");
}

static int
cmd_test(struct ropts *r)
{
	struct rs_limits lim;
	struct rs_set *s;
	json_t *rep, *c;
	size_t i;
	int failed;

	if (r->nargs != 2) {
		rules_usage(stderr);
		return EXIT_USAGE;
	}
	s = load(r->args[1]);
	if (s == NULL)
		return EXIT_FAIL;
	rs_limits_default(&lim);
	failed = rs_run_tests(s, &lim, &rep);
	if (failed < 0) {
		fprintf(stderr, "cairn rules: cannot run the tests of %s\n",
		        rs_name(s));
		rs_set_free(s);
		return EXIT_FAIL;
	}
	if (r->o.json) {
		cli_print_json(rep);
	} else {
		json_array_foreach(json_object_get(rep, "cases"), i, c)
		{
			const char *rule;
			json_t *want;

			if (json_is_true(json_object_get(c, "ok")))
				continue;
			printf("FAIL %s:%d: %s\n",
			       json_string_value(json_object_get(c, "file")),
			       (int)json_integer_value(
			               json_object_get(c, "line")),
			       json_string_value(json_object_get(c, "name")));
			json_object_foreach(json_object_get(c, "expected"),
			                    rule, want)
			{
				json_t *got = json_object_get(
				        json_object_get(c, "actual"), rule);
				const char *wo = json_string_value(
				        json_object_get(want, "outcome"));
				const char *go = json_string_value(
				        json_object_get(got, "outcome"));
				json_t *wr = json_object_get(want, "reasons");
				json_t *m;
				size_t j;
				int same = !strcmp(wo, go) &&
				           (json_is_null(wr) ||
				            json_equal(wr, json_object_get(
				                                   got,
				                                   "reasons")));

				printf("  %s %s\n", same ? " " : "!", rule);
				printf("    - expected: %s ", wo);
				print_codes(wr);
				printf("\n    + actual:   %s ", go);
				print_codes(json_object_get(got, "reasons"));
				printf("\n");
				if (!same)
					json_array_foreach(
					        json_object_get(got,
					                        "messages"),
					        j, m)
					        printf("        %s\n",
					               json_string_value(m));
			}
		}
		printf("%s %s: %d passed, %d failed\n", rs_name(s),
		       rs_version(s),
		       (int)json_integer_value(json_object_get(rep, "passed")),
		       failed);
	}
	json_decref(rep);
	rs_set_free(s);
	return failed ? EXIT_FAIL : EXIT_OK;
}

/* --- eval ----------------------------------------------------------------- */

static int
cmd_eval(struct ropts *r)
{
	char dir[4096], today[16];
	struct rs_limits lim;
	struct rs_set *s;
	struct rs_eval *ev = NULL;
	struct cairn_err e;
	json_error_t je;
	json_t *input, *out;
	const char *year;
	time_t now;
	struct tm tm;

	if (r->nargs != 2 || r->input == NULL) {
		rules_usage(stderr);
		return EXIT_USAGE;
	}
	if (!rs_name_ok(r->args[1])) {
		fprintf(stderr, "cairn rules: '%s' is not a rule set name\n",
		        r->args[1]);
		return EXIT_USAGE;
	}
	input = json_load_file(r->input, JSON_REJECT_DUPLICATES, &je);
	if (input == NULL || !json_is_object(input)) {
		fprintf(stderr, "cairn rules: %s:%d:%d: %s\n", r->input,
		        je.line, je.column,
		        input ? "the input must be a JSON object" : je.text);
		json_decref(input);
		return EXIT_FAIL;
	}
	if (r->today != NULL) {
		snprintf(today, sizeof(today), "%s", r->today);
	} else {
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	}
	snprintf(dir, sizeof(dir), "%s/%s",
	         r->rules_dir ? r->rules_dir : "examples/rules", r->args[1]);
	s = load(dir);
	if (s == NULL) {
		json_decref(input);
		return EXIT_FAIL;
	}
	/* without --award-year: the latest the set has parameters for */
	year = r->award_year;
	if (year == NULL) {
		const json_t *ys = rs_award_years(s);

		year = json_string_value(
		        json_array_get(ys, json_array_size(ys) - 1));
	}
	rs_limits_default(&lim);
	if (rs_eval_new(s, &lim, &ev, &e) != 0) {
		fprintf(stderr, "cairn rules: %s\n", e.msg);
		json_decref(input);
		rs_set_free(s);
		return EXIT_FAIL;
	}
	out = rs_evaluate(ev, -1, input, year, today);
	if (out == NULL) {
		fprintf(stderr, "cairn rules: out of memory\n");
	} else {
		char *t = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
		                                  JSON_REAL_PRECISION(15));

		printf("%s\n", t ? t : "");
		free(t);
	}
	json_decref(out);
	json_decref(input);
	rs_eval_free(ev);
	rs_set_free(s);
	return out ? EXIT_OK : EXIT_FAIL;
}

/* --- lint ----------------------------------------------------------------- */

static int
cmd_lint(struct ropts *r)
{
	struct rs_set *s;
	int n = 0;

	if (r->nargs != 2) {
		rules_usage(stderr);
		return EXIT_USAGE;
	}
	s = load(r->args[1]);
	if (s == NULL)
		return EXIT_FAIL;
	rs_lint(s, report, &n);
	printf("%s %s: %d warning(s)\n", rs_name(s), rs_version(s), n);
	rs_set_free(s);
	return EXIT_OK;
}

/* --- online ----------------------------------------------------------------- */

static int
reply(int st, int want, json_t *rep)
{
	if (st != want) {
		int code = cli_fail_reply(st, rep);

		json_decref(rep);
		return code;
	}
	return -1;
}

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

/* 1243 -> "1,243" */
static const char *
thousands(long long v, char *buf, size_t len)
{
	char tmp[32];
	int n, o = 0, i;

	n = snprintf(tmp, sizeof(tmp), "%lld", v < 0 ? -v : v);
	if (v < 0 && o < (int)len - 1)
		buf[o++] = '-';
	for (i = 0; i < n && o < (int)len - 2; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

static int
cmd_list(struct ropts *r)
{
	json_t *rep = NULL, *s;
	size_t i;
	int st = cli_call(&r->o, "GET", "/v1/rules", NULL, &rep), code;

	if ((code = reply(st, 200, rep)) >= 0)
		return code;
	if (r->o.json) {
		cli_print_json(rep);
	} else {
		printf("%-28s %-14s %-22s %s\n", "RULE SET", "VERSION",
		       "PUBLISHED", "RULES");
		json_array_foreach(json_object_get(rep, "rule_sets"), i, s)
		{
			json_t *id;
			size_t j;

			printf("%-28s %-14.12s %-22s ", jstr(s, "name"),
			       jstr(s, "version"), jstr(s, "published_at"));
			json_array_foreach(json_object_get(s, "rules"), j, id)
			        printf("%s%s", j ? " " : "",
			               json_string_value(id));
			printf("\n");
			if (json_is_object(
			            json_object_get(s, "last_failure"))) {
				json_t *f = json_object_get(s, "last_failure");
				const char *why = json_string_value(
				        json_object_get(f, "error"));

				printf("  last failure: %s\n",
				       why ? why
				           : "(see cairn rules versions)");
			}
		}
	}
	json_decref(rep);
	return EXIT_OK;
}

static int
cmd_versions(struct ropts *r)
{
	json_t *rep = NULL, *v;
	char path[200];
	size_t i;
	int st, code;

	if (r->nargs != 2 || !rs_name_ok(r->args[1])) {
		rules_usage(stderr);
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/rules/%s/versions", r->args[1]);
	st = cli_call(&r->o, "GET", path, NULL, &rep);
	if ((code = reply(st, 200, rep)) >= 0)
		return code;
	if (r->o.json) {
		cli_print_json(rep);
	} else {
		printf("%-66s %-9s %-22s %-8s %s\n", "VERSION", "STATE",
		       "CREATED", "TESTS", "SOURCE");
		json_array_foreach(json_object_get(rep, "versions"), i, v)
		{
			json_t *t = json_object_get(v, "tests");
			char tests[32];

			snprintf(tests, sizeof(tests), "%d/%d",
			         (int)json_integer_value(
			                 json_object_get(t, "passed")),
			         (int)(json_integer_value(
			                       json_object_get(t, "passed")) +
			               json_integer_value(
			                       json_object_get(t, "failed"))));
			printf("%-66s %-9s %-22s %-8s %s\n", jstr(v, "version"),
			       jstr(v, "state"), jstr(v, "created_at"), tests,
			       jstr(v, "source"));
			if (json_string_value(json_object_get(v, "error")))
				printf("  error: %s\n", jstr(v, "error"));
		}
	}
	json_decref(rep);
	return EXIT_OK;
}

/* {"files": {...}} of the set in dir, or NULL after saying why. */
static json_t *
files_body(const char *dir)
{
	struct rs_set *s = load(dir);
	json_t *b;

	if (s == NULL)
		return NULL;
	b = json_pack("{s:O}", "files", rs_files(s));
	rs_set_free(s);
	return b;
}

static void
print_test_report(const json_t *tests)
{
	size_t i;
	json_t *c;

	if (!json_is_object(tests))
		return;
	fprintf(stderr, "tests: %d passed, %d failed\n",
	        (int)json_integer_value(json_object_get(tests, "passed")),
	        (int)json_integer_value(json_object_get(tests, "failed")));
	json_array_foreach(json_object_get(tests, "cases"), i, c)
	{
		if (json_is_false(json_object_get(c, "ok")))
			fprintf(stderr, "  FAIL %s:%d: %s\n", jstr(c, "file"),
			        (int)json_integer_value(
			                json_object_get(c, "line")),
			        jstr(c, "name"));
	}
}

static int
cmd_publish(struct ropts *r)
{
	json_t *body, *rep = NULL;
	char path[200];
	int st;

	if (r->nargs != 3 || !rs_name_ok(r->args[1])) {
		rules_usage(stderr);
		return EXIT_USAGE;
	}
	body = files_body(r->args[2]);
	if (body == NULL)
		return EXIT_FAIL;
	snprintf(path, sizeof(path), "/v1/rules/%s", r->args[1]);
	st = cli_call(&r->o, "PUT", path, body, &rep);
	json_decref(body);
	if (st != 200) {
		int code = cli_fail_reply(st, rep);

		print_test_report(json_object_get(rep, "tests"));
		json_decref(rep);
		return code;
	}
	if (r->o.json)
		cli_print_json(rep);
	else
		printf("%s %s: %s\n", jstr(rep, "rule_set"),
		       jstr(rep, "version"), jstr(rep, "state"));
	json_decref(rep);
	return EXIT_OK;
}

static int
cmd_rollback(struct ropts *r)
{
	json_t *body, *rep = NULL;
	char path[200];
	int st;

	if ((r->nargs != 2 && r->nargs != 3) || !rs_name_ok(r->args[1])) {
		rules_usage(stderr);
		return EXIT_USAGE;
	}
	body = json_object();
	if (r->nargs == 3)
		json_object_set_new(body, "version", json_string(r->args[2]));
	snprintf(path, sizeof(path), "/v1/rules/%s/rollback", r->args[1]);
	st = cli_call(&r->o, "POST", path, body, &rep);
	json_decref(body);
	if (st != 200) {
		int code = cli_fail_reply(st, rep);

		json_decref(rep);
		return code;
	}
	if (r->o.json)
		cli_print_json(rep);
	else
		printf("%s %s: %s\n", jstr(rep, "rule_set"),
		       jstr(rep, "version"),
		       json_string_value(json_object_get(rep, "state"))
		               ? jstr(rep, "state")
		               : "live");
	json_decref(rep);
	return EXIT_OK;
}

static int
cmd_dry_run(struct ropts *r)
{
	json_t *body, *filter, *rep = NULL, *t;
	char path[200], n1[32], n2[32], n3[32];
	size_t i;
	int st;

	if (r->nargs != 2 || !rs_name_ok(r->args[1]) ||
	    (r->dir == NULL) == (r->version == NULL)) {
		if (r->nargs == 2 && (r->dir == NULL) == (r->version == NULL))
			fprintf(stderr, "cairn rules: dry-run takes one of "
			                "--dir DIR or --version V\n");
		rules_usage(stderr);
		return EXIT_USAGE;
	}
	if (r->dir != NULL) {
		body = files_body(r->dir);
		if (body == NULL)
			return EXIT_FAIL;
	} else {
		body = json_pack("{s:s}", "version", r->version);
	}
	filter = json_object();
	if (r->o.workflow)
		json_object_set_new(filter, "workflow",
		                    json_string(r->o.workflow));
	if (r->o.status)
		json_object_set_new(filter, "status", json_string(r->o.status));
	if (r->award_year)
		json_object_set_new(filter, "award_year",
		                    json_string(r->award_year));
	json_object_set_new(body, "filter", filter);
	snprintf(path, sizeof(path), "/v1/rules/%s/dry-run", r->args[1]);
	st = cli_call(&r->o, "POST", path, body, &rep);
	json_decref(body);
	if (st != 200) {
		int code = cli_fail_reply(st, rep);

		print_test_report(json_object_get(rep, "tests"));
		json_decref(rep);
		return code;
	}
	if (r->o.json) {
		cli_print_json(rep);
		json_decref(rep);
		return EXIT_OK;
	}
	printf("%s: %.12s -> %.12s\n", jstr(rep, "rule_set"),
	       jstr(rep, "from_version"), jstr(rep, "to_version"));
	printf("%s cases selected, %s evaluated, %s changed (%lld ms)\n",
	       thousands(json_integer_value(json_object_get(rep, "cases")), n1,
	                 sizeof(n1)),
	       thousands(json_integer_value(json_object_get(rep, "evaluated")),
	                 n2, sizeof(n2)),
	       thousands(json_integer_value(json_object_get(rep, "changed")),
	                 n3, sizeof(n3)),
	       (long long)json_integer_value(
	               json_object_get(rep, "elapsed_ms")));
	if (json_array_size(json_object_get(rep, "transitions")) == 0) {
		printf("no outcome changes\n");
		json_decref(rep);
		return EXIT_OK;
	}
	printf("\n%-28s %-30s %12s\n", "RULE", "CHANGE", "CASES");
	json_array_foreach(json_object_get(rep, "transitions"), i, t)
	{
		char change[64];
		json_t *ex;
		size_t j;

		snprintf(change, sizeof(change), "%s -> %s", jstr(t, "from"),
		         jstr(t, "to"));
		printf("%-28s %-30s %12s\n", jstr(t, "rule"), change,
		       thousands(
		               json_integer_value(json_object_get(t, "count")),
		               n1, sizeof(n1)));
		json_array_foreach(json_object_get(t, "examples"), j, ex)
		{
			json_t *reason = json_array_get(
			        json_object_get(ex, "reasons"), 0);

			printf("    e.g. %s%s%s\n", jstr(ex, "case"),
			       reason ? ": " : "",
			       reason ? jstr(reason, "message") : "");
		}
	}
	json_decref(rep);
	return EXIT_OK;
}

int
cli_rules(const struct cli_opts *o, int argc, char **argv)
{
	struct ropts r;
	int rc = parse(o, argc, argv, &r);

	if (rc > 0)
		return EXIT_OK;
	if (rc < 0)
		return EXIT_USAGE;
	if (r.nargs == 0) {
		rules_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(r.args[0], "test"))
		return cmd_test(&r);
	if (!strcmp(r.args[0], "eval"))
		return cmd_eval(&r);
	if (!strcmp(r.args[0], "lint"))
		return cmd_lint(&r);
	if (!strcmp(r.args[0], "list") && r.nargs == 1)
		return cmd_list(&r);
	if (!strcmp(r.args[0], "versions"))
		return cmd_versions(&r);
	if (!strcmp(r.args[0], "publish"))
		return cmd_publish(&r);
	if (!strcmp(r.args[0], "rollback"))
		return cmd_rollback(&r);
	if (!strcmp(r.args[0], "dry-run"))
		return cmd_dry_run(&r);
	rules_usage(stderr);
	return EXIT_USAGE;
}

/* --- cairn check ------------------------------------------------------------ */

static int
dir_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * For cairn check: compiles every rule set (each subdirectory) of the
 * rules directory dir and runs its tests, printing problems as
 * file:line: lines on stderr. Returns the number of errors (a set that
 * does not load, a failing test case).
 */
int cli_rules_check(const char *dir);

int
cli_rules_check(const char *dir)
{
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int errors = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0; /* the definitions check has said why */
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 16;
			nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL)
				break;
			names = nn;
		}
		names[n] = strdup(path);
		if (names[n] != NULL)
			n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), dir_cmp);
	for (i = 0; i < n; i++) {
		struct rs_set *s = NULL;
		json_t *rep = NULL, *c;
		size_t j;

		if (rs_load_dir(names[i], report, NULL, &s) != 0) {
			fprintf(stderr, "%s: the rule set does not load\n",
			        names[i]);
			errors++;
			continue;
		}
		if (rs_run_tests(s, NULL, &rep) < 0) {
			fprintf(stderr, "%s: cannot run its tests\n", names[i]);
			errors++;
		}
		json_array_foreach(json_object_get(rep, "cases"), j, c)
		{
			if (json_is_true(json_object_get(c, "ok")))
				continue;
			errors++;
			fprintf(stderr,
			        "%s/%s:%d: test case '%s' fails (cairn "
			        "rules test %s)\n",
			        names[i], jstr(c, "file"),
			        (int)json_integer_value(
			                json_object_get(c, "line")),
			        jstr(c, "name"), names[i]);
		}
		json_decref(rep);
		rs_set_free(s);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return errors;
}
