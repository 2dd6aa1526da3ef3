/*
 * test_wf_load.c: the workflow loader and validator (workflows/wf_load.c):
 * the shipped examples load with no error and no warning and mean what they
 * say; each class of error is reported at its line and column with a useful
 * message; the warnings about waits nothing can end; content hashes; the
 * Graphviz drawing; the campus list; and hostile input (binary garbage,
 * truncations, deep nesting, alias bombs, huge files) fails cleanly. Files
 * go in a fresh mkdtemp directory that the suite's fini removes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/auth.h"
#include "workflows/workflow.h"

static char wf_load_test_dir[256];

static void
wf_load_test_setup(void)
{
	snprintf(wf_load_test_dir, sizeof(wf_load_test_dir),
	         "/tmp/cairn-wf-XXXXXX");
	cr_assert_not_null(mkdtemp(wf_load_test_dir), "mkdtemp: %s",
	                   strerror(errno));
}

static int
wf_load_test_rm(const char *path, const struct stat *st, int flag,
                struct FTW *ftw)
{
	return remove(path);
}

static void
wf_load_test_teardown(void)
{
	if (wf_load_test_dir[0])
		nftw(wf_load_test_dir, wf_load_test_rm, 16,
		     FTW_DEPTH | FTW_PHYS);
}

TestSuite(wf_load, .init = wf_load_test_setup, .fini = wf_load_test_teardown);

#define WF_LOAD_TEST_MAX 64

/* What the loader reported, in order. */
struct wf_load_test_log {
	int n, nerrors, nwarnings;
	struct cairn_err e[WF_LOAD_TEST_MAX];
	int warning[WF_LOAD_TEST_MAX];
};

static void
wf_load_test_collect(const struct cairn_err *e, int warning, void *data)
{
	struct wf_load_test_log *log = data;

	if (warning)
		log->nwarnings++;
	else
		log->nerrors++;
	if (log->n < WF_LOAD_TEST_MAX) {
		log->e[log->n] = *e;
		log->warning[log->n] = warning;
	}
	log->n++;
}

/* All reports, one a line, for failure messages. */
static const char *
wf_load_test_dump(const struct wf_load_test_log *log)
{
	static char buf[32768];
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < log->n && i < WF_LOAD_TEST_MAX && off < sizeof(buf) - 1;
	     i++) {
		char line[1200];

		cairn_err_format(&log->e[i], line, sizeof(line));
		off += (size_t)snprintf(
		        buf + off, sizeof(buf) - off, "\n  %s%s",
		        log->warning[i] ? "warning: " : "", line);
	}
	return buf;
}

/* Writes len bytes to a file in the test directory; returns its path. */
static const char *
wf_load_test_write(const char *name, const void *s, size_t len)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", wf_load_test_dir, name);
	f = fopen(path, "wb");
	cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(s, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	return path;
}

/* Loads text s (as t.yaml) and returns what wf_def_load returned. */
static int
wf_load_test_str(const char *s, const struct wf_known *known,
                 struct wf_load_test_log *log, struct wf_def **out)
{
	const char *path = wf_load_test_write("t.yaml", s, strlen(s));

	memset(log, 0, sizeof(*log));
	return wf_def_load(path, known, wf_load_test_collect, log, out);
}

/* The first report (of either kind) whose message contains frag. */
static const struct cairn_err *
wf_load_test_find(const struct wf_load_test_log *log, const char *frag,
                  int warning)
{
	int i;

	for (i = 0; i < log->n && i < WF_LOAD_TEST_MAX; i++)
		if (log->warning[i] == warning && strstr(log->e[i].msg, frag))
			return &log->e[i];
	return NULL;
}

static const char *const wf_load_test_examples[] = {
        "student_application",
        "campus_application",
        "aid_file",
};

static const char *const wf_load_test_workflows[] = {
        "student_application", "campus_application", "aid_file", NULL};
static const char *const wf_load_test_rules[] = {
        "cal_grant", "application_complete", "middle_class_scholarship", NULL};
static const char *const wf_load_test_adapters[] = {
        "uc_campus.send_application", "uc_campus.send_intent_to_register",
        "uc_campus.send_withdrawal", NULL};

static const struct wf_known wf_load_test_known = {
        wf_load_test_workflows, wf_load_test_rules, wf_load_test_adapters};

static struct wf_def *
wf_load_test_example(const char *name, struct wf_load_test_log *log)
{
	char path[1024];
	struct wf_def *d = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/examples/workflows/%s.yaml",
	         CAIRN_SOURCE_DIR, name);
	memset(log, 0, sizeof(*log));
	rc = wf_def_load(path, &wf_load_test_known, wf_load_test_collect, log,
	                 &d);
	cr_assert_eq(rc, 0, "%s: rc %d:%s", name, rc, wf_load_test_dump(log));
	cr_assert_not_null(d);
	return d;
}

/* --- the examples ------------------------------------------------------- */

Test(wf_load, examples_load_clean)
{
	size_t i;

	for (i = 0; i < sizeof(wf_load_test_examples) /
	                        sizeof(wf_load_test_examples[0]);
	     i++) {
		struct wf_load_test_log log;
		struct wf_def *d =
		        wf_load_test_example(wf_load_test_examples[i], &log);

		cr_expect_eq(log.n, 0, "%s:%s", wf_load_test_examples[i],
		             wf_load_test_dump(&log));
		cr_expect_str_eq(d->name, wf_load_test_examples[i]);
		cr_expect_eq(strlen(d->hash), 64);
		cr_expect_eq(d->version, 0);
		cr_expect(json_is_object(d->source));
		cr_expect_str_eq(
		        json_string_value(json_object_get(d->source, "name")),
		        wf_load_test_examples[i]);
		cr_expect(d->initial >= 0 && d->initial < d->nstatuses);
		cr_expect(d->statuses[d->initial].initial);
		wf_def_free(d);
	}
}

/* campus_application says what DOMAIN.md says, in the struct. */
Test(wf_load, campus_application_model)
{
	struct wf_load_test_log log;
	struct wf_def *d = wf_load_test_example("campus_application", &log);
	const struct wf_status *st;
	const struct wf_transition *t = NULL;
	int i, j, found = 0;

	cr_assert_str_eq(d->statuses[d->initial].name, "received");
	/* statuses in file order */
	cr_expect_eq(wf_status_find(d, "received"), 0);
	cr_expect_eq(wf_status_find(d, "incomplete"), 1);
	cr_expect_eq(wf_status_find(d, "nonesuch"), -1);
	cr_expect_eq(wf_status_find(d, NULL), -1);

	st = &d->statuses[wf_status_find(d, "under_review")];
	cr_expect_str_eq(st->queue, "admissions_review");
	cr_expect_eq(st->sla_ms, 30LL * 86400000);

	/* the 14-day documents timer */
	st = &d->statuses[wf_status_find(d, "incomplete")];
	cr_assert_geq(st->nenter, 2);
	cr_expect_eq(st->enter[0].kind, WF_ACT_TIMER_START);
	cr_expect_str_eq(st->enter[0].timer, "documents_due");
	cr_expect_eq(st->enter[0].after_ms, 14LL * 86400000);
	cr_expect_str_eq(st->enter[0].event, "timer.documents_due");
	cr_expect_eq(st->enter[1].kind, WF_ACT_ALERT);
	cr_expect_str_eq(st->enter[1].severity, "warning");
	cr_expect_str_eq(st->enter[1].to, "counselor");

	/* the SIR deadline is a date from the data */
	st = &d->statuses[wf_status_find(d, "admitted")];
	cr_assert_geq(st->nenter, 3);
	cr_expect_eq(st->enter[0].kind, WF_ACT_SET);
	cr_expect_str_eq(st->enter[0].field, "sir_deadline");
	cr_expect_str_eq(json_string_value(st->enter[0].value),
	                 "$event.sir_deadline");
	cr_expect_eq(st->enter[2].kind, WF_ACT_TIMER_START);
	cr_expect_str_eq(st->enter[2].until_field, "sir_deadline");

	for (i = 0; i < d->ntransitions; i++) {
		t = &d->transitions[i];
		if (!strcmp(t->on, "decide") &&
		    t->from[0] == wf_status_find(d, "under_review"))
			break;
	}
	cr_assert_lt(i, d->ntransitions);
	cr_expect_eq(t->to, -1);
	cr_expect_str_eq(t->to_field, "decision");
	cr_assert_eq(t->nto_cases, 4);
	cr_expect_str_eq(t->to_cases[0].value, "admit");
	cr_expect_eq(t->to_cases[0].status, wf_status_find(d, "admitted"));
	cr_expect_eq(t->roles,
	             ROLE_BIT(ROLE_ADMISSIONS) | ROLE_BIT(ROLE_INSTITUTION));

	/* withdraw: from any open status, and only open ones */
	for (i = 0; i < d->ntransitions; i++) {
		t = &d->transitions[i];
		if (strcmp(t->on, "withdraw"))
			continue;
		found = 1;
		cr_expect(t->from_any);
		cr_expect_eq(t->roles, ROLE_BIT(ROLE_STUDENT));
		for (j = 0; j < t->nfrom; j++)
			cr_expect_not(d->statuses[t->from[j]].terminal);
		for (j = 0; j < d->nstatuses; j++) {
			int k, in = 0;

			for (k = 0; k < t->nfrom; k++)
				in |= t->from[k] == j;
			cr_expect_eq(in, !d->statuses[j].terminal, "%s",
			             d->statuses[j].name);
		}
	}
	cr_expect(found);

	/* timer events are system-only */
	for (i = 0; i < d->ntransitions; i++)
		if (!strncmp(d->transitions[i].on, "timer.", 6))
			cr_expect_eq(d->transitions[i].roles, 0u);
	wf_def_free(d);
}

Test(wf_load, student_application_spawns_campuses)
{
	struct wf_load_test_log log;
	struct wf_def *d = wf_load_test_example("student_application", &log);
	const struct wf_transition *t = &d->transitions[0];
	int i, settled = 0;

	cr_assert_str_eq(t->on, "submit");
	cr_expect_eq(t->roles, ROLE_BIT(ROLE_STUDENT));
	cr_assert_eq(t->nactions, 2);
	cr_expect_eq(t->actions[1].kind, WF_ACT_SPAWN);
	cr_expect_str_eq(t->actions[1].workflow, "campus_application");
	cr_expect_str_eq(t->actions[1].for_each, "campuses");
	cr_expect_str_eq(t->actions[1].as, "campus");
	for (i = 0; i < d->ntransitions; i++)
		if (!strcmp(d->transitions[i].on, "children.settled")) {
			settled = 1;
			cr_expect(d->statuses[d->transitions[i].to].terminal);
			cr_expect_eq(d->transitions[i].roles, 0u);
		}
	cr_expect(settled);
	wf_def_free(d);
}

Test(wf_load, aid_file_evaluates_cal_grant)
{
	struct wf_load_test_log log;
	struct wf_def *d = wf_load_test_example("aid_file", &log);
	const struct wf_status *st =
	        &d->statuses[wf_status_find(d, "packaging")];

	/* Cal Grant, then the Middle Class Scholarship */
	cr_assert_eq(st->nenter, 2);
	cr_expect_eq(st->enter[0].kind, WF_ACT_RULE);
	cr_expect_str_eq(st->enter[0].rule, "cal_grant");
	cr_expect_str_eq(st->enter[0].store_as, "eligibility.cal_grant");
	cr_expect_eq(st->enter[1].kind, WF_ACT_RULE);
	cr_expect_str_eq(st->enter[1].rule, "middle_class_scholarship");
	cr_expect_str_eq(st->enter[1].store_as,
	                 "eligibility.middle_class_scholarship");
	cr_expect_str_eq(d->statuses[d->initial].name, "isir_received");
	cr_expect_str_eq(d->statuses[d->initial].queue, "isir_review");
	wf_def_free(d);
}

/* With lists of what exists, references to anything else are errors. */
Test(wf_load, unknown_references)
{
	static const char *const wfs[] = {"other", NULL};
	static const char *const rules[] = {"other", NULL};
	static const char *const adapters[] = {"uc_campus.other", NULL};
	static const char *const bare[] = {"uc_campus", NULL};
	struct wf_known k = {wfs, rules, adapters};
	struct wf_load_test_log log;
	struct wf_def *d = NULL;
	char path[1024];

	snprintf(path, sizeof(path), "%s/examples/workflows/%s.yaml",
	         CAIRN_SOURCE_DIR, "student_application");
	cr_expect_eq(wf_def_load(path, &k, wf_load_test_collect,
	                         memset(&log, 0, sizeof(log)), &d),
	             CAIRN_EINVALID);
	cr_expect_null(d);
	cr_expect_not_null(
	        wf_load_test_find(&log, "unknown workflow 'campus_application'",
	                          0),
	        "%s", wf_load_test_dump(&log));

	snprintf(path, sizeof(path), "%s/examples/workflows/%s.yaml",
	         CAIRN_SOURCE_DIR, "campus_application");
	cr_expect_eq(wf_def_load(path, &k, wf_load_test_collect,
	                         memset(&log, 0, sizeof(log)), &d),
	             CAIRN_EINVALID);
	cr_expect_not_null(
	        wf_load_test_find(&log,
	                          "adapter 'uc_campus' has no operation "
	                          "'send_application'",
	                          0),
	        "%s", wf_load_test_dump(&log));
	/* an adapter listed without operations accepts any operation */
	k.adapters = bare;
	cr_expect_eq(wf_def_load(path, &k, wf_load_test_collect,
	                         memset(&log, 0, sizeof(log)), &d),
	             0, "%s", wf_load_test_dump(&log));
	wf_def_free(d);
	k.adapters = rules;
	cr_expect_eq(wf_def_load(path, &k, wf_load_test_collect,
	                         memset(&log, 0, sizeof(log)), &d),
	             CAIRN_EINVALID);
	cr_expect_not_null(
	        wf_load_test_find(&log, "unknown adapter 'uc_campus'", 0));

	snprintf(path, sizeof(path), "%s/examples/workflows/%s.yaml",
	         CAIRN_SOURCE_DIR, "aid_file");
	cr_expect_eq(wf_def_load(path, &k, wf_load_test_collect,
	                         memset(&log, 0, sizeof(log)), &d),
	             CAIRN_EINVALID);
	cr_expect_not_null(
	        wf_load_test_find(&log, "unknown rule set 'cal_grant'", 0));
}

/* --- bad definitions ---------------------------------------------------- */

/* A valid definition the table's entries are variations of. */
#define WF_LOAD_TEST_OK                                                        \
	"name: t\n"                                                            \
	"statuses:\n"                                                          \
	"  a: {initial: true}\n"                                               \
	"  b: {terminal: true}\n"                                              \
	"transitions:\n"                                                       \
	"  - {on: go, from: a, to: b, roles: [student]}\n"

struct wf_load_test_bad {
	const char *what;
	const char *yaml;
	int line, column;
	const char *frag;
};

static const struct wf_load_test_bad wf_load_test_bads[] = {
        {"unknown top-level key", "name: t\nstatus: {}\n", 2, 1,
         "unknown key 'status' in a workflow; expected name, description, "
         "statuses, transitions"},
        {"missing name", "statuses:\n  a: {initial: true, terminal: true}\n", 1,
         1, "missing 'name'"},
        {"bad name", "name: Bad-Name\nstatuses: {a: {initial: true}}\n", 1, 7,
         "name 'Bad-Name' is not valid"},
        {"name not a string", "name: [x]\n", 1, 7,
         "'name' must be a string, not a list"},
        {"top not a mapping", "- a\n- b\n", 1, 1,
         "a workflow must be a mapping"},
        {"missing statuses", "name: t\n", 1, 1, "missing 'statuses'"},
        {"no statuses", "name: t\nstatuses: {}\n", 2, 11, "no statuses"},
        {"statuses a list", "name: t\nstatuses: [a, b]\n", 2, 11,
         "'statuses' must be a mapping of status names"},
        {"no initial status",
         "name: t\nstatuses:\n  a: {}\n  b: {terminal: true}\n"
         "transitions:\n  - {on: go, from: a, to: b, roles: [student]}\n",
         3, 3, "no initial status"},
        {"two initial statuses",
         "name: t\nstatuses:\n  a: {initial: true}\n"
         "  b: {initial: true, terminal: true}\n",
         4, 3, "more than one initial status: 'a' and 'b'"},
        {"initial terminal",
         "name: t\nstatuses:\n  a: {initial: true, terminal: true}\n", 3, 3,
         "the initial status 'a' cannot be terminal"},
        {"duplicate status",
         "name: t\nstatuses:\n  a: {initial: true}\n  b: {terminal: true}\n"
         "  b: {}\n",
         5, 3, "duplicate status 'b' (first at line 4, column 3)"},
        {"status named any",
         "name: t\nstatuses:\n  a: {initial: true}\n  any: {}\n", 4, 3,
         "'any' cannot name a status"},
        {"bad status name", "name: t\nstatuses:\n  A: {initial: true}\n", 3, 3,
         "status name 'A' is not valid"},
        {"unknown key in a status",
         "name: t\nstatuses:\n  a: {initial: true, queu: x}\n", 3, 22,
         "unknown key 'queu' in a status; expected initial, terminal, "
         "queue, sla, description, on_enter"},
        {"status settings a list", "name: t\nstatuses:\n  a: [initial]\n", 3, 6,
         "a status must be a mapping, not a list"},
        {"initial not a boolean", "name: t\nstatuses:\n  a: {initial: yes}\n",
         3, 16, "'initial' must be true or false, not 'yes'"},
        {"bad sla",
         "name: t\nstatuses:\n  a: {initial: true, sla: 2 weeks}\n"
         "  b: {terminal: true}\n"
         "transitions:\n  - {on: go, from: a, to: b, roles: [student]}\n",
         3, 27, "sla: '2 weeks' is not a duration"},
        {"zero sla", "name: t\nstatuses:\n  a: {initial: true, sla: 0d}\n", 3,
         27, "sla: '0d' is not a duration"},
        {"bad queue", "name: t\nstatuses:\n  a: {initial: true, queue: Q}\n", 3,
         29, "queue 'Q' is not valid"},
        {"undefined status in to",
         WF_LOAD_TEST_OK "  - {on: back, from: b2, to: a, roles: "
                         "[student]}\n",
         7, 22, "no status named 'b2' (statuses: a, b)"},
        {"undefined status in a from list",
         WF_LOAD_TEST_OK
         "  - on: x\n    from: [a, zz]\n    to: b\n    roles: [student]\n",
         8, 15, "no status named 'zz'"},
        {"undefined status in cases",
         WF_LOAD_TEST_OK "  - on: pick\n    from: a\n"
                         "    to: {field: d, cases: {yes: b, no: c}}\n"
                         "    roles: [student]\n",
         9, 40, "no status named 'c'"},
        {"to by data without cases",
         WF_LOAD_TEST_OK "  - on: pick\n    from: a\n"
                         "    to: {field: d}\n    roles: [student]\n",
         9, 9, "needs 'cases'"},
        {"to by data, duplicate case",
         WF_LOAD_TEST_OK "  - on: pick\n    from: a\n"
                         "    to: {field: d, cases: {x: b, x: a}}\n"
                         "    roles: [student]\n",
         9, 34, "duplicate case 'x'"},
        {"empty from list",
         WF_LOAD_TEST_OK "  - {on: x, from: [], to: b, roles: [student]}\n", 7,
         19,
         "'from' must be a status, a list of statuses or 'any', not "
         "an empty list"},
        {"missing to", WF_LOAD_TEST_OK "  - {on: x, from: a}\n", 7, 5,
         "a transition needs 'to'"},
        {"missing on", WF_LOAD_TEST_OK "  - {from: a, to: b}\n", 7, 5,
         "a transition needs 'on'"},
        {"bad event name",
         WF_LOAD_TEST_OK "  - {on: Go!, from: a, to: b, roles: [student]}\n", 7,
         10, "event 'Go!' is not valid"},
        {"unknown system event",
         WF_LOAD_TEST_OK
         "  - {on: parent.done, from: a, to: b, roles: [student]}\n",
         7, 10, "event 'parent.done' is not valid"},
        {"unknown key in a transition",
         WF_LOAD_TEST_OK "  - {on: x, from: a, to: b, role: [student]}\n", 7,
         29,
         "unknown key 'role' in a transition; expected on, from, to, "
         "roles, guard, actions, description"},
        {"transition not a mapping", WF_LOAD_TEST_OK "  - go\n", 7, 5,
         "a transition must be a mapping"},
        {"transitions a mapping",
         "name: t\nstatuses:\n  a: {initial: true}\n"
         "transitions: {on: go}\n",
         4, 14, "'transitions' must be a list"},
        {"unknown role",
         WF_LOAD_TEST_OK
         "  - {on: x, from: a, to: b, roles: [student, janitor]}\n",
         7, 46,
         "unknown role 'janitor'; expected one of student, "
         "counselor"},
        {"empty roles",
         WF_LOAD_TEST_OK "  - {on: x, from: a, to: b, roles: []}\n", 7, 36,
         "'roles' must be a list of roles, not an empty list"},
        {"roles on a system event",
         WF_LOAD_TEST_OK
         "  - {on: children.settled, from: a, to: b, roles: [admin]}\n",
         7, 51,
         "'children.settled' is sent by the system only; remove "
         "'roles'"},
        {"transition out of a terminal status",
         WF_LOAD_TEST_OK "  - {on: reopen, from: b, to: a, roles: [admin]}\n",
         7, 24, "'b' is terminal: no transition may leave it"},
        {"unreachable status",
         "name: t\nstatuses:\n  a: {initial: true}\n  b: {terminal: true}\n"
         "  c: {terminal: true}\n"
         "transitions:\n  - {on: go, from: a, to: b, roles: [student]}\n",
         5, 3, "status 'c' cannot be reached from the initial status 'a'"},
        {"open status with no way out",
         "name: t\nstatuses:\n  a: {initial: true}\n  b: {}\n"
         "transitions:\n  - {on: go, from: a, to: b, roles: [student]}\n",
         4, 3, "status 'b' is not terminal, but no transition leaves it"},
        {"shadowed transition",
         WF_LOAD_TEST_OK "  - {on: go, from: a, to: a, roles: [admin]}\n", 7, 5,
         "can never be taken from 'a': the one at line 6, column 5 "
         "handles 'go' there first"},
        {"any as a list item",
         WF_LOAD_TEST_OK
         "  - {on: x, from: [a, any], to: b, roles: [student]}\n",
         7, 23, "'any' stands alone"},
        {"unknown action",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - launch: {x: 1}\n",
         6, 9, "unknown action 'launch'; expected set, start_timer"},
        {"action with two kinds",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - {set: {x: 1}, call: {adapter: a, operation: b}}\n",
         6, 9, "an action is a mapping with one key"},
        {"on_enter not a list",
         "name: t\nstatuses:\n  a: {initial: true, on_enter: {set: {x: 1}}}\n",
         3, 32, "'on_enter' must be a list of actions"},
        {"bad reference in set",
         WF_LOAD_TEST_OK "  - on: x\n    from: a\n    to: b\n"
                         "    roles: [student]\n"
                         "    actions:\n      - set: {y: $evnt.y}\n",
         12, 18, "'$evnt.y' is not a reference"},
        {"bad field in set",
         WF_LOAD_TEST_OK "  - on: x\n    from: a\n    to: b\n"
                         "    roles: [student]\n"
                         "    actions:\n      - set: {a..b: 1}\n",
         12, 15, "field 'a..b' is not a data field"},
        {"set not a mapping",
         WF_LOAD_TEST_OK "  - on: x\n    from: a\n    to: b\n"
                         "    roles: [student]\n"
                         "    actions:\n      - set: x\n",
         12, 14, "'set' must be a mapping of data fields"},
        {"bad duration in start_timer",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - start_timer: {name: w, after: 2 weeks}\n",
         6, 39, "after: '2 weeks' is not a duration"},
        {"start_timer with after and until",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - start_timer: {name: w, after: 1d, until: due}\n",
         6, 22, "start_timer needs one of 'after'"},
        {"start_timer without a name",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - start_timer: {after: 1d}\n",
         6, 22, "start_timer needs a 'name'"},
        {"unknown key in start_timer",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - start_timer: {name: w, afer: 1d}\n",
         6, 32,
         "unknown key 'afer' in start_timer; expected name, after, "
         "until, event"},
        {"alert severity",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - alert: {kind: k, severity: urgent, to: office, message: "
         "m}\n",
         6, 36,
         "severity 'urgent' is not known; expected info, warning or "
         "critical"},
        {"alert to an unknown role",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - alert: {kind: k, to: 'role:janitor', message: m}\n",
         6, 30, "to: 'role:janitor' is not known"},
        {"alert without a message",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - alert: {kind: k, to: office}\n",
         6, 16, "alert needs a 'message'"},
        {"call without an operation",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - call: {adapter: uc_campus}\n",
         6, 15, "call needs an 'operation'"},
        {"evaluate without a rule",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - evaluate: {store_as: x}\n",
         6, 19, "evaluate needs a 'rule'"},
        {"spawn with an empty for_each",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - spawn: {workflow: w, for_each: '', as: x}\n",
         6, 40, "for_each '' is not a data field"},
        {"spawn without for_each",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - spawn: {workflow: w, as: x}\n",
         6, 16, "spawn needs 'for_each'"},
        {"spawn of itself",
         "name: t\nstatuses:\n  a:\n    initial: true\n    on_enter:\n"
         "      - spawn: {workflow: t, for_each: l, as: x}\n",
         6, 27, "a workflow cannot spawn itself"},
        {"a second document", WF_LOAD_TEST_OK "---\nname: u\n", 7, 1,
         "more than one YAML document"},
        {"YAML syntax error", "name: t\nstatuses: {a: [}\n", 2, 16,
         "did not find expected node content"},
        {"duplicate key", "name: t\nname: u\nstatuses:\n  a: {initial: true}\n",
         2, 1, "duplicate key 'name' in a workflow"},
        {"NUL in a string",
         "name: t\ndescription: \"a\\0b\"\nstatuses:\n"
         "  a: {initial: true}\n",
         2, 14, "'description' must not contain NUL bytes"},
};

Test(wf_load, bad_definitions)
{
	size_t i;

	for (i = 0;
	     i < sizeof(wf_load_test_bads) / sizeof(wf_load_test_bads[0]);
	     i++) {
		const struct wf_load_test_bad *b = &wf_load_test_bads[i];
		struct wf_load_test_log log;
		const struct cairn_err *e;
		struct wf_def *d = (struct wf_def *)1;
		int rc = wf_load_test_str(b->yaml, NULL, &log, &d);
		char want[512];

		cr_expect_lt(rc, 0, "%s: loaded", b->what);
		cr_expect_null(d, "%s", b->what);
		cr_expect_gt(log.nerrors, 0, "%s: no error", b->what);
		e = wf_load_test_find(&log, b->frag, 0);
		if (!e) {
			cr_expect_fail("%s: no error containing \"%s\":%s",
			               b->what, b->frag,
			               wf_load_test_dump(&log));
			continue;
		}
		snprintf(want, sizeof(want), "%s/t.yaml", wf_load_test_dir);
		cr_expect_str_eq(e->file, want, "%s", b->what);
		cr_expect(e->line == b->line && e->column == b->column,
		          "%s: reported at %d:%d, expected %d:%d (%s)", b->what,
		          e->line, e->column, b->line, b->column, e->msg);
	}
}

Test(wf_load, minimal_definition_is_clean)
{
	struct wf_load_test_log log;
	struct wf_def *d = NULL;

	cr_assert_eq(wf_load_test_str(WF_LOAD_TEST_OK, NULL, &log, &d), 0, "%s",
	             wf_load_test_dump(&log));
	cr_expect_eq(log.n, 0, "%s", wf_load_test_dump(&log));
	cr_expect_eq(d->nstatuses, 2);
	cr_expect_eq(d->ntransitions, 1);
	cr_expect_eq(d->transitions[0].pos.line, 6);
	cr_expect_eq(d->transitions[0].pos.column, 5);
	cr_expect_eq(d->statuses[1].pos.line, 4);
	cr_expect_eq(d->statuses[1].pos.column, 3);
	wf_def_free(d);
}

/* Typed values in set: YAML's scalars become JSON's types. */
Test(wf_load, set_values_are_typed)
{
	static const char yaml[] =
	        WF_LOAD_TEST_OK "  - on: x\n    from: a\n    to: b\n"
	                        "    roles: [student]\n    actions:\n"
	                        "      - set:\n"
	                        "          n: 42\n          f: 2.5\n"
	                        "          yes_: true\n          none: ~\n"
	                        "          s: '42'\n          l: [1, two]\n"
	                        "          o: {k: v}\n          at: $now\n"
	                        "          whole: $event\n";
	struct wf_load_test_log log;
	struct wf_def *d = NULL;
	const struct wf_transition *t;

	cr_assert_eq(wf_load_test_str(yaml, NULL, &log, &d), 0, "%s",
	             wf_load_test_dump(&log));
	t = &d->transitions[1];
	cr_assert_eq(t->nactions, 9);
	cr_expect_str_eq(t->actions[0].field, "n");
	cr_expect_eq(json_integer_value(t->actions[0].value), 42);
	cr_expect(json_is_real(t->actions[1].value));
	cr_expect(json_is_true(t->actions[2].value));
	cr_expect(json_is_null(t->actions[3].value));
	cr_expect_str_eq(json_string_value(t->actions[4].value), "42");
	cr_expect_eq(json_array_size(t->actions[5].value), 2);
	cr_expect_str_eq(
	        json_string_value(json_object_get(t->actions[6].value, "k")),
	        "v");
	cr_expect_str_eq(json_string_value(t->actions[7].value), "$now");
	cr_expect_eq(t->actions[8].pos.line, 21);
	cr_expect_eq(t->actions[8].pos.column, 11);
	wf_def_free(d);
}

/* --- warnings ----------------------------------------------------------- */

Test(wf_load, wait_with_no_exit_warns)
{
	static const char yaml[] = "name: t\n"
	                           "statuses:\n"
	                           "  a: {initial: true}\n"
	                           "  stuck: {}\n"
	                           "  done: {terminal: true}\n"
	                           "transitions:\n"
	                           "  - {on: go, from: a, to: stuck, roles: "
	                           "[student]}\n"
	                           "  - {on: poke, from: stuck, to: done}\n";
	struct wf_load_test_log log;
	const struct cairn_err *e;
	struct wf_def *d = NULL;

	cr_assert_eq(wf_load_test_str(yaml, NULL, &log, &d), 0, "%s",
	             wf_load_test_dump(&log));
	cr_expect_eq(log.nerrors, 0);
	e = wf_load_test_find(&log,
	                      "status 'stuck' is a wait with no timer and no "
	                      "event that can end it",
	                      1);
	cr_assert_not_null(e, "%s", wf_load_test_dump(&log));
	cr_expect_eq(e->line, 4);
	cr_expect_eq(e->column, 3);
	e = wf_load_test_find(&log, "nobody can send 'poke'", 1);
	cr_assert_not_null(e, "%s", wf_load_test_dump(&log));
	cr_expect_eq(e->line, 8);
	cr_expect_eq(e->column, 5);
	wf_def_free(d);
}

/* The same wait, ended by a timer started on entering it: clean. */
Test(wf_load, wait_ended_by_a_timer_is_clean)
{
	static const char yaml[] =
	        "name: t\n"
	        "statuses:\n"
	        "  a: {initial: true}\n"
	        "  waiting:\n"
	        "    on_enter: [{start_timer: {name: w, after: 14d}}]\n"
	        "  nudged:\n"
	        "    on_enter: [{start_timer: {name: n, after: 1h, event: "
	        "nudge}}]\n"
	        "  done: {terminal: true}\n"
	        "transitions:\n"
	        "  - {on: go, from: a, to: waiting, roles: [student]}\n"
	        "  - {on: timer.w, from: waiting, to: nudged}\n"
	        "  - {on: nudge, from: nudged, to: done}\n";
	struct wf_load_test_log log;
	struct wf_def *d = NULL;

	cr_assert_eq(wf_load_test_str(yaml, NULL, &log, &d), 0, "%s",
	             wf_load_test_dump(&log));
	cr_expect_eq(log.n, 0, "%s", wf_load_test_dump(&log));
	cr_expect_str_eq(d->statuses[2].enter[0].event, "nudge");
	wf_def_free(d);
}

Test(wf_load, timer_warnings)
{
	static const char yaml[] =
	        "name: t\n"
	        "statuses:\n"
	        "  a:\n"
	        "    initial: true\n"
	        "    on_enter: [{start_timer: {name: w, after: 1d}}]\n"
	        "  b: {}\n"
	        "  c: {terminal: true}\n"
	        "transitions:\n"
	        "  - on: go\n"
	        "    from: a\n"
	        "    to: b\n"
	        "    roles: [student]\n"
	        "    actions: [{cancel_timer: nope}]\n"
	        "  - {on: timer.w, from: b, to: c}\n"
	        "  - {on: timer.never, from: a, to: c}\n"
	        "  - {on: child.admitted, from: b, to: c}\n"
	        "  - {on: done, from: b, to: c, roles: [admin]}\n";
	struct wf_load_test_log log;
	const struct cairn_err *e;
	struct wf_def *d = NULL;

	cr_assert_eq(wf_load_test_str(yaml, NULL, &log, &d), 0, "%s",
	             wf_load_test_dump(&log));
	e = wf_load_test_find(&log, "no timer firing 'timer.w' runs in 'b'", 1);
	cr_assert_not_null(e, "%s", wf_load_test_dump(&log));
	cr_expect_eq(e->line, 14);
	e = wf_load_test_find(
	        &log, "no start_timer starts a timer firing 'timer.never'", 1);
	cr_assert_not_null(e, "%s", wf_load_test_dump(&log));
	cr_expect_eq(e->line, 15);
	e = wf_load_test_find(&log,
	                      "'child.admitted' comes from child cases, but "
	                      "this workflow spawns none",
	                      1);
	cr_assert_not_null(e, "%s", wf_load_test_dump(&log));
	cr_expect_eq(e->line, 16);
	e = wf_load_test_find(&log, "cancel_timer 'nope'", 1);
	cr_assert_not_null(e, "%s", wf_load_test_dump(&log));
	cr_expect_eq(e->line, 13);
	cr_expect_eq(e->column, 15);
	cr_expect_eq(log.nerrors, 0, "%s", wf_load_test_dump(&log));
	wf_def_free(d);
}

/* --- hashes and drawings ------------------------------------------------ */

Test(wf_load, hash_is_sha256_of_the_bytes)
{
	struct wf_load_test_log log;
	struct wf_def *d1 = NULL, *d2 = NULL, *d3 = NULL;

	cr_assert_eq(wf_load_test_str(WF_LOAD_TEST_OK, NULL, &log, &d1), 0);
	cr_expect_str_eq(d1->hash, "0a6bd94750ca4799e39c93f37de14d695e94be66"
	                           "a21684355fddd07f35c01106");
	cr_assert_eq(wf_load_test_str(WF_LOAD_TEST_OK, NULL, &log, &d2), 0);
	cr_expect_str_eq(d1->hash, d2->hash);
	/* a comment changes the bytes, so the version */
	cr_assert_eq(
	        wf_load_test_str(WF_LOAD_TEST_OK "# note\n", NULL, &log, &d3),
	        0);
	cr_expect_str_neq(d1->hash, d3->hash);
	cr_expect_str_eq(d1->file, d3->file);
	wf_def_free(d1);
	wf_def_free(d2);
	wf_def_free(d3);
}

Test(wf_load, dot_names_every_status)
{
	size_t i;

	for (i = 0; i < sizeof(wf_load_test_examples) /
	                        sizeof(wf_load_test_examples[0]);
	     i++) {
		struct wf_load_test_log log;
		struct wf_def *d =
		        wf_load_test_example(wf_load_test_examples[i], &log);
		char *dot = wf_def_dot(d), want[128];
		int s;

		cr_assert_not_null(dot);
		snprintf(want, sizeof(want), "digraph \"%s\" {",
		         wf_load_test_examples[i]);
		cr_expect_eq(strncmp(dot, want, strlen(want)), 0, "%s", dot);
		cr_expect_eq(dot[strlen(dot) - 2], '}');
		for (s = 0; s < d->nstatuses; s++) {
			snprintf(want, sizeof(want),
			         "\n  \"%s\" [label=", d->statuses[s].name);
			cr_expect_not_null(strstr(dot, want), "%s: %s",
			                   wf_load_test_examples[i], want);
		}
		if (!strcmp(wf_load_test_examples[i], "campus_application")) {
			cr_expect_not_null(strstr(
			        dot, "\"under_review\" -> \"admitted\" "
			             "[label=\"decide\\ndecision = admit\\n"
			             "[admissions, institution]\"];"));
			cr_expect_not_null(strstr(
			        dot, "\"(any open status)\" -> \"withdrawn\""));
			cr_expect_not_null(strstr(
			        dot, "queue: admissions_review\\nSLA 30d"));
		}
		free(dot);
		wf_def_free(d);
	}
}

/* Labels are escaped: a quote in a case value cannot end the string. */
Test(wf_load, dot_escapes_labels)
{
	static const char yaml[] = WF_LOAD_TEST_OK
	        "  - on: pick\n    from: a\n"
	        "    to: {field: d, cases: {'say \"hi\"\\': b}}\n"
	        "    roles: [student]\n";
	struct wf_load_test_log log;
	struct wf_def *d = NULL;
	char *dot;

	cr_assert_eq(wf_load_test_str(yaml, NULL, &log, &d), 0, "%s",
	             wf_load_test_dump(&log));
	dot = wf_def_dot(d);
	cr_assert_not_null(dot);
	cr_expect_not_null(strstr(dot, "d = say \\\"hi\\\"\\\\"), "%s", dot);
	free(dot);
	wf_def_free(d);
}

/* --- campuses ----------------------------------------------------------- */

Test(wf_load, campuses_example)
{
	static const char *const uc[] = {
	        "uc-berkeley",    "uc-davis",         "uc-irvine",
	        "uc-los-angeles", "uc-merced",        "uc-riverside",
	        "uc-san-diego",   "uc-santa-barbara", "uc-santa-cruz"};
	static const char *const adapters[] = {"uc_campus", "csu_campus",
	                                       "ccc_college", NULL};
	struct wf_known k = {NULL, NULL, adapters};
	struct wf_load_test_log log;
	struct wf_campuses *c = NULL;
	int i, n[3] = {0, 0, 0};
	size_t j;

	memset(&log, 0, sizeof(log));
	cr_assert_eq(wf_campuses_load(CAIRN_SOURCE_DIR
	                              "/examples/campuses.yaml",
	                              &k, wf_load_test_collect, &log, &c),
	             0, "%s", wf_load_test_dump(&log));
	cr_expect_eq(log.n, 0, "%s", wf_load_test_dump(&log));
	for (i = 0; i < c->n; i++) {
		const struct wf_campus *cp = &c->v[i];

		n[!strcmp(cp->segment, "uc")    ? 0
		  : !strcmp(cp->segment, "csu") ? 1
		                                : 2]++;
		cr_expect_eq(wf_campus_find(c, cp->id), cp);
	}
	cr_expect_eq(n[0], 9);
	cr_expect(n[1] == 22 || n[1] == 23, "%d CSU campuses", n[1]);
	cr_expect_geq(n[2], 10);
	for (j = 0; j < sizeof(uc) / sizeof(uc[0]); j++) {
		const struct wf_campus *cp = wf_campus_find(c, uc[j]);

		cr_assert_not_null(cp, "%s", uc[j]);
		cr_expect_str_eq(cp->adapter, "uc_campus");
		cr_expect_str_eq(cp->segment, "uc");
	}
	cr_expect_null(wf_campus_find(c, "csu-maritime"));
	cr_expect_str_eq(wf_campus_find(c, "csu-san-luis-obispo")->adapter,
	                 "csu_campus");
	cr_expect_eq(strlen(c->hash), 64);
	wf_campuses_free(c);
}

Test(wf_load, campuses_bad)
{
	static const struct {
		const char *yaml;
		int line, column;
		const char *frag;
	} bad[] = {
	        {"campuses:\n  - {id: csu-x, name: X, segment: uc, adapter: "
	         "a}\n",
	         2, 10, "campus id 'csu-x' is not valid: expected 'uc-'"},
	        {"campuses:\n  - {id: uc-x, name: X, segment: uc, adapter: a}\n"
	         "  - {id: uc-x, name: Y, segment: uc, adapter: a}\n",
	         3, 10, "duplicate campus 'uc-x' (first at line 2, column 10)"},
	        {"campuses:\n  - {id: uc-x, name: X, segment: ivy, adapter: "
	         "a}\n",
	         2, 34, "segment 'ivy' is not known"},
	        {"campuses:\n  - {id: uc-x, name: X, segment: uc}\n", 2, 5,
	         "a campus needs 'adapter'"},
	        {"campus: []\n", 1, 1, "unknown key 'campus'"},
	        {"campuses: []\n", 1, 11,
	         "'campuses' must be a non-empty list"},
	};
	static const char *const adapters[] = {"b", NULL};
	struct wf_known k = {NULL, NULL, adapters};
	struct wf_load_test_log log;
	struct wf_campuses *c;
	const struct cairn_err *e;
	const char *path;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		path = wf_load_test_write("c.yaml", bad[i].yaml,
		                          strlen(bad[i].yaml));
		memset(&log, 0, sizeof(log));
		c = NULL;
		cr_expect_lt(wf_campuses_load(path, NULL, wf_load_test_collect,
		                              &log, &c),
		             0, "%s", bad[i].yaml);
		cr_expect_null(c);
		e = wf_load_test_find(&log, bad[i].frag, 0);
		if (!e) {
			cr_expect_fail("no \"%s\":%s", bad[i].frag,
			               wf_load_test_dump(&log));
			continue;
		}
		cr_expect(e->line == bad[i].line && e->column == bad[i].column,
		          "%s: at %d:%d, expected %d:%d", bad[i].frag, e->line,
		          e->column, bad[i].line, bad[i].column);
	}
	path = wf_load_test_write(
	        "c.yaml",
	        "campuses:\n  - {id: uc-x, name: X, segment: uc, "
	        "adapter: a}\n",
	        58);
	memset(&log, 0, sizeof(log));
	cr_expect_eq(wf_campuses_load(path, &k, wf_load_test_collect, &log, &c),
	             CAIRN_EINVALID);
	cr_expect_not_null(wf_load_test_find(&log, "unknown adapter 'a'", 0),
	                   "%s", wf_load_test_dump(&log));
}

/* --- hostile input ------------------------------------------------------ */

/* Loads path; it must fail with at least one error and return nothing. */
static void
wf_load_test_refused(const char *path, const char *frag)
{
	struct wf_load_test_log log;
	struct wf_def *d = (struct wf_def *)1;

	memset(&log, 0, sizeof(log));
	cr_expect_lt(wf_def_load(path, NULL, wf_load_test_collect, &log, &d),
	             0);
	cr_expect_null(d);
	cr_expect_gt(log.nerrors, 0);
	if (frag)
		cr_expect_not_null(wf_load_test_find(&log, frag, 0), "%s:%s",
		                   frag, wf_load_test_dump(&log));
}

Test(wf_load, binary_garbage)
{
	unsigned char buf[4096];
	unsigned seed = 12345;
	int round;
	size_t i;

	for (round = 0; round < 50; round++) {
		for (i = 0; i < sizeof(buf); i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (unsigned char)(seed >> 16);
		}
		wf_load_test_refused(
		        wf_load_test_write("g.yaml", buf, sizeof(buf)), NULL);
	}
	wf_load_test_refused(wf_load_test_write("z.yaml", "\0\0\0", 3), NULL);
	wf_load_test_refused(wf_load_test_write("e.yaml", "", 0),
	                     "empty workflow definition");
	wf_load_test_refused(wf_load_test_dir, "not a regular file");
	wf_load_test_refused("/nonexistent/cairn/wf.yaml", "cannot open");
}

/* Every prefix of every example, and examples with bytes flipped, load
 * or fail without a crash or a leak (run under ASan). */
Test(wf_load, truncated_and_mutated_examples)
{
	unsigned seed = 7;
	size_t i, cut;

	for (i = 0; i < sizeof(wf_load_test_examples) /
	                        sizeof(wf_load_test_examples[0]);
	     i++) {
		char path[1024], *buf;
		FILE *f;
		long len;
		int round;

		snprintf(path, sizeof(path), "%s/examples/workflows/%s.yaml",
		         CAIRN_SOURCE_DIR, wf_load_test_examples[i]);
		f = fopen(path, "rb");
		cr_assert_not_null(f);
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		rewind(f);
		buf = malloc((size_t)len);
		cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
		fclose(f);
		for (cut = 0; cut < (size_t)len; cut += 61) {
			struct wf_load_test_log log;
			struct wf_def *d = NULL;

			memset(&log, 0, sizeof(log));
			wf_def_load(wf_load_test_write("p.yaml", buf, cut),
			            NULL, wf_load_test_collect, &log, &d);
			wf_def_free(d);
		}
		for (round = 0; round < 100; round++) {
			struct wf_load_test_log log;
			struct wf_def *d = NULL;
			char *m = malloc((size_t)len);
			int k;

			memcpy(m, buf, (size_t)len);
			for (k = 0; k < 4; k++) {
				seed = seed * 1103515245u + 12345u;
				m[(seed >> 8) % (unsigned)len] =
				        " :-[]{}&*!|>'\"#,\n\tax0"[(seed >>
				                                    20) %
				                                   22];
			}
			memset(&log, 0, sizeof(log));
			wf_def_load(
			        wf_load_test_write("m.yaml", m, (size_t)len),
			        NULL, wf_load_test_collect, &log, &d);
			cr_expect(d != NULL || log.nerrors > 0);
			wf_def_free(d);
			free(m);
		}
		free(buf);
	}
}

Test(wf_load, deep_nesting)
{
	size_t n = 200000, i;
	char *buf = malloc(2 * n + 1);

	for (i = 0; i < n; i++) {
		buf[i] = '[';
		buf[n + i] = ']';
	}
	wf_load_test_refused(wf_load_test_write("deep.yaml", buf, 2 * n),
	                     "nested more than 64 levels deep");
	free(buf);
}

Test(wf_load, huge_file)
{
	size_t n = (4u << 20) + 100, i;
	char *buf = malloc(n);

	for (i = 0; i < n; i++)
		buf[i] = i % 64 == 63 ? '\n' : '#';
	wf_load_test_refused(wf_load_test_write("huge.yaml", buf, n),
	                     "too large");
	free(buf);
}

/* A large but legal-size file of many statuses fails fast on the cap. */
Test(wf_load, too_many_statuses)
{
	size_t cap = 64 * 1024, off = 0;
	char *buf = malloc(cap);
	int i;

	off += (size_t)snprintf(buf, cap, "name: t\nstatuses:\n");
	for (i = 0; i <= WF_MAX_STATUSES; i++)
		off += (size_t)snprintf(buf + off, cap - off, "  s%d: {}\n", i);
	wf_load_test_refused(wf_load_test_write("many.yaml", buf, off),
	                     "more than 500 statuses");
	free(buf);
}

/* Aliases can neither loop nor multiply the work. */
Test(wf_load, alias_bombs)
{
	static const char laughs[] =
	        WF_LOAD_TEST_OK "  - on: x\n    from: a\n    to: b\n"
	                        "    roles: [student]\n    actions:\n"
	                        "      - set:\n"
	                        "          a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
	                        "          b: &b [*a, *a, *a, *a, *a, *a, *a, "
	                        "*a, *a]\n"
	                        "          c: &c [*b, *b, *b, *b, *b, *b, *b, "
	                        "*b, *b]\n"
	                        "          d: &d [*c, *c, *c, *c, *c, *c, *c, "
	                        "*c, *c]\n"
	                        "          e: &e [*d, *d, *d, *d, *d, *d, *d, "
	                        "*d, *d]\n"
	                        "          f: &f [*e, *e, *e, *e, *e, *e, *e, "
	                        "*e, *e]\n"
	                        "          g: &g [*f, *f, *f, *f, *f, *f, *f, "
	                        "*f, *f]\n";
	static const char loop[] =
	        WF_LOAD_TEST_OK "  - on: x\n    from: a\n    to: b\n"
	                        "    roles: [student]\n    actions:\n"
	                        "      - set: {v: &l {k: *l}}\n";
	static const char shared[] =
	        "name: t\n"
	        "statuses:\n"
	        "  a:\n"
	        "    initial: true\n"
	        "    on_enter: &acts\n"
	        "      - alert: {kind: k, to: office, message: m}\n"
	        "  b: {terminal: true, on_enter: *acts}\n"
	        "transitions:\n"
	        "  - {on: go, from: a, to: b, roles: [student], actions: "
	        "*acts}\n";
	struct wf_load_test_log log;
	struct wf_def *d = NULL;

	wf_load_test_refused(
	        wf_load_test_write("l.yaml", laughs, strlen(laughs)),
	        "aliases expand this file to too many nodes");
	wf_load_test_refused(wf_load_test_write("o.yaml", loop, strlen(loop)),
	                     NULL);
	/* modest reuse of an anchor is fine */
	cr_assert_eq(wf_load_test_str(shared, NULL, &log, &d), 0, "%s",
	             wf_load_test_dump(&log));
	cr_expect_eq(d->statuses[1].nenter, 1);
	cr_expect_eq(d->transitions[0].nactions, 1);
	wf_def_free(d);
}

/* A NULL callback is allowed; the result is the same. */
Test(wf_load, null_callback)
{
	struct wf_def *d = NULL;
	const char *path = wf_load_test_write("n.yaml", "name: [\n", 8);

	cr_expect_eq(wf_def_load(path, NULL, NULL, NULL, &d), CAIRN_ESYNTAX);
	cr_expect_null(d);
	wf_def_free(NULL);
	cr_expect_eq(wf_status_find(NULL, "a"), -1);
}

/* The complete example in docs/workflows.md loads with nothing to say. */
Test(wf_load, docs_example_loads_clean)
{
	struct wf_load_test_log log;
	struct wf_def *d = NULL;
	char *doc, *start, *end;
	FILE *f;
	long len;

	f = fopen(CAIRN_SOURCE_DIR "/docs/workflows.md", "rb");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	doc = calloc(1, (size_t)len + 1);
	cr_assert_eq(fread(doc, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	start = strstr(doc, "## A complete example");
	cr_assert_not_null(start);
	start = strstr(start, "```yaml\n");
	cr_assert_not_null(start);
	start += 8;
	end = strstr(start, "```\n");
	cr_assert_not_null(end);
	*end = '\0';
	cr_assert_eq(wf_load_test_str(start, NULL, &log, &d), 0, "%s",
	             wf_load_test_dump(&log));
	cr_expect_eq(log.n, 0, "%s", wf_load_test_dump(&log));
	cr_expect_str_eq(d->name, "campus_application");
	wf_def_free(d);
	free(doc);
}
