/*
 * test_cases.c: workflows running in a real cairnd over HTTP: one
 * application fanned out to campuses exactly once, retries answered from
 * their Idempotency-Key, children's decisions reaching the parent, a
 * 14-day timer under the test clock that survives a restart, the hash
 * chain of the history, and every rejection with its status.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct td t;

/* A parent that fans out and a child with a documents timer, small
 * enough that each test states what it expects. */
static const char parent_wf[] =
        "name: app\n"
        "description: an application routed to campuses\n"
        "statuses:\n"
        "  draft: {initial: true}\n"
        "  submitted:\n"
        "    on_enter:\n"
        "      - spawn: {workflow: campus, for_each: campuses, as: campus}\n"
        "  settled: {terminal: true}\n"
        "  withdrawn: {terminal: true}\n"
        "transitions:\n"
        "  - on: submit\n"
        "    from: draft\n"
        "    to: submitted\n"
        "    roles: [student]\n"
        "  - on: child.admitted\n"
        "    from: submitted\n"
        "    to: submitted\n"
        "    actions:\n"
        "      - set: {last_admit: $event.key}\n"
        "  - on: children.settled\n"
        "    from: submitted\n"
        "    to: settled\n"
        "  - on: withdraw\n"
        "    from: [draft, submitted]\n"
        "    to: withdrawn\n"
        "    roles: [student]\n";

static const char child_wf[] =
        "name: campus\n"
        "description: one campus's copy\n"
        "statuses:\n"
        "  received: {initial: true, queue: admissions_review, sla: 30d}\n"
        "  incomplete:\n"
        "    on_enter:\n"
        "      - start_timer: {name: documents_due, after: 14d}\n"
        "  closed_incomplete: {terminal: true}\n"
        "  admitted: {terminal: true}\n"
        "  denied: {terminal: true}\n"
        "transitions:\n"
        "  - on: request_documents\n"
        "    from: received\n"
        "    to: incomplete\n"
        "    roles: [admissions]\n"
        "  - on: documents_received\n"
        "    from: incomplete\n"
        "    to: received\n"
        "    roles: [student, admissions]\n"
        "  - on: timer.documents_due\n"
        "    from: incomplete\n"
        "    to: closed_incomplete\n"
        "  - on: decide\n"
        "    from: received\n"
        "    to: {field: decision, cases: {admit: admitted, deny: denied}}\n"
        "    roles: [admissions]\n";

static void
setup(void)
{
	td_start(&t, NULL);
	/* the workflows go in before a restart with the test clock */
	td_write_workflow(&t, "app", parent_wf);
	td_write_workflow(&t, "campus", child_wf);
	cr_assert_eq(td_stop(&t), 0);
	td_restart_args(&t, "--test-clock");
}

static void
teardown(void)
{
	td_cleanup(&t);
}

TestSuite(cases, .init = setup, .fini = teardown, .timeout = 60);

/* --- helpers ------------------------------------------------------------- */

/* the harness's request and token helpers, on this suite's daemon */
#define call_json(m, p, tok, b, idem, want)                                    \
	td_call(&t, m, p, tok, b, idem, want)
#define token(role, scope) td_token(&t, role, scope)

static const char *
child_for(json_t *parent, const char *campus)
{
	static char id[64];
	json_t *kids = json_object_get(parent, "children"), *k;
	size_t i;
	char key[80];

	snprintf(key, sizeof(key), "campus:%s", campus);
	json_array_foreach(kids, i, k)
	{
		if (!strcmp(json_string_value(json_object_get(k, "spawn_key")),
		            key)) {
			snprintf(id, sizeof(id), "%s",
			         json_string_value(json_object_get(k, "id")));
			return id;
		}
	}
	cr_assert_fail("no child for %s", campus);
	return NULL;
}

static json_t *
get_case(const char *id, const char *tok)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	return call_json("GET", path, tok, NULL, NULL, 200);
}

static const char *
status_of(json_t *c)
{
	return json_string_value(json_object_get(c, "status"));
}

static json_t *
send_event(const char *id, const char *tok, const char *body, const char *idem,
           int want)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	return call_json("POST", path, tok, body, idem, want);
}

/* Waits until case id has status want (a timer fires asynchronously). */
static void
wait_status(const char *id, const char *want)
{
	for (int i = 0; i < 200; i++) {
		json_t *c = get_case(id, t.token);
		int ok = !strcmp(status_of(c), want);

		json_decref(c);
		if (ok)
			return;
		usleep(25000);
	}
	cr_assert_fail("case %s never reached %s", id, want);
}

/* 1 when the JSON array a holds the string s */
static int
has_string(const json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
	{
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return 1;
	}
	return 0;
}

static const char app_body[] =
        "{\"workflow\":\"app\",\"data\":{\"campuses\":[\"uc-davis\","
        "\"uc-merced\",\"uc-irvine\",\"uc-davis\",\"uc-berkeley\"]}}";

/* A student's application, submitted: four campuses. */
static json_t *
submitted_app(const char *student)
{
	json_t *c =
	        call_json("POST", "/v1/cases", student, app_body, NULL, 201);
	char id[64];

	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	c = send_event(id, student, "{\"type\":\"submit\"}", NULL, 200);
	cr_assert_str_eq(status_of(c), "submitted");
	return c;
}

/* --- tests --------------------------------------------------------------- */

Test(cases, one_application_spawns_each_campus_exactly_once)
{
	const char *student = token("student", "S1");
	json_t *c, *again, *kids;
	char id[64];

	c = call_json("POST", "/v1/cases", student, app_body, "create-1", 201);
	cr_assert_str_eq(status_of(c), "draft");
	cr_assert_str_eq(json_string_value(json_object_get(c, "subject")),
	                 "S1");
	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(c, "id")));
	/* the retry gets the first answer, not a second case */
	again = call_json("POST", "/v1/cases", student, app_body, "create-1",
	                  201);
	cr_assert(json_equal(c, again));
	json_decref(again);
	json_decref(c);
	/* the same key with another body is refused */
	json_decref(call_json("POST", "/v1/cases", student,
	                      "{\"workflow\":\"app\",\"data\":{}}", "create-1",
	                      422));

	c = send_event(id, student, "{\"type\":\"submit\"}", "submit-1", 200);
	kids = json_object_get(c, "children");
	cr_assert_eq(json_array_size(kids), 4);
	again = send_event(id, student, "{\"type\":\"submit\"}", "submit-1",
	                   200);
	cr_assert(json_equal(c, again));
	json_decref(again);
	json_decref(c);
	/* sent again without a key: not allowed now, and it says what is */
	c = send_event(id, student, "{\"type\":\"submit\"}", NULL, 409);
	cr_assert(has_string(json_object_get(c, "allowed"), "withdraw"));
	json_decref(c);
	c = get_case(id, student);
	cr_assert_eq(json_array_size(json_object_get(c, "children")), 4);
	json_decref(c);
}

Test(cases, decisions_reach_the_parent_and_settle_it)
{
	const char *student = token("student", "S2");
	const char *davis = token("admissions", "uc-davis");
	json_t *app = submitted_app(student), *c;
	char pid[64], ids[4][64];
	static const char *campuses[] = {"uc-davis", "uc-merced", "uc-irvine",
	                                 "uc-berkeley"};

	snprintf(pid, sizeof(pid), "%s",
	         json_string_value(json_object_get(app, "id")));
	for (int i = 0; i < 4; i++)
		snprintf(ids[i], sizeof(ids[i]), "%s",
		         child_for(app, campuses[i]));
	json_decref(app);

	/* Davis sees its own copy and nobody else's */
	c = get_case(ids[0], davis);
	cr_assert_str_eq(status_of(c), "received");
	cr_assert_str_eq(json_string_value(json_object_get(c, "queue")),
	                 "admissions_review");
	cr_assert(has_string(json_object_get(c, "allowed_events"), "decide"));
	json_decref(c);
	json_decref(call_json("GET", "/v1/cases/nope", davis, NULL, NULL, 404));
	{
		char path[128];

		snprintf(path, sizeof(path), "/v1/cases/%s", ids[1]);
		json_decref(call_json("GET", path, davis, NULL, NULL, 404));
		snprintf(path, sizeof(path), "/v1/cases/%s", pid);
		json_decref(call_json("GET", path, token("student", "S3"), NULL,
		                      NULL, 404));
	}

	/* a student may not decide; a decision must resolve */
	json_decref(send_event(ids[0], student,
	                       "{\"type\":\"decide\",\"data\":{\"decision\":"
	                       "\"admit\"}}",
	                       NULL, 403));
	json_decref(send_event(ids[0], davis,
	                       "{\"type\":\"decide\",\"data\":{\"decision\":"
	                       "\"maybe\"}}",
	                       NULL, 422));
	json_decref(send_event(ids[0], davis,
	                       "{\"type\":\"decide\",\"data\":[1]}", NULL,
	                       422));
	json_decref(send_event(ids[0], davis, "{\"type\":\"child.admitted\"}",
	                       NULL, 403));

	c = send_event(
	        ids[0], davis,
	        "{\"type\":\"decide\",\"data\":{\"decision\":\"admit\"}}", NULL,
	        200);
	cr_assert_str_eq(status_of(c), "admitted");
	json_decref(c);
	c = get_case(pid, student);
	cr_assert_str_eq(status_of(c), "submitted");
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_object_get(c, "data"), "last_admit")),
	                 "campus:uc-davis");
	json_decref(c);

	/* the other three decide; the last one settles the application */
	for (int i = 1; i < 4; i++) {
		char scope[32];

		snprintf(scope, sizeof(scope), "%s", campuses[i]);
		c = send_event(ids[i], token("admissions", scope),
		               "{\"type\":\"decide\",\"data\":{\"decision\":"
		               "\"deny\"}}",
		               NULL, 200);
		json_decref(c);
	}
	c = get_case(pid, student);
	cr_assert_str_eq(status_of(c), "settled");
	json_decref(c);
}

Test(cases, history_is_ordered_and_hash_chained)
{
	const char *student = token("student", "S4");
	json_t *app = submitted_app(student), *h, *ev;
	char path[128];
	size_t i;
	const char *prev = NULL;

	snprintf(path, sizeof(path), "/v1/cases/%s/history",
	         json_string_value(json_object_get(app, "id")));
	json_decref(app);
	h = call_json("GET", path, student, NULL, NULL, 200);
	cr_assert_geq(json_array_size(json_object_get(h, "events")), 2);
	json_array_foreach(json_object_get(h, "events"), i, ev)
	{
		const char *hash =
		        json_string_value(json_object_get(ev, "hash"));

		cr_assert_eq(json_integer_value(json_object_get(ev, "seq")),
		             (json_int_t)i + 1);
		cr_assert_eq(strlen(hash), 64);
		if (prev)
			cr_assert_str_neq(hash, prev);
		prev = hash;
	}
	ev = json_array_get(json_object_get(h, "events"), 1);
	cr_assert_str_eq(json_string_value(json_object_get(ev, "type")),
	                 "submit");
	cr_assert_str_eq(json_string_value(json_object_get(ev, "from_status")),
	                 "draft");
	cr_assert_str_eq(json_string_value(json_object_get(ev, "to_status")),
	                 "submitted");
	json_decref(h);
}

Test(cases, documents_timer_fires_under_the_test_clock_and_survives_restart)
{
	const char *student = token("student", "S5");
	const char *merced = token("admissions", "uc-merced");
	const char *irvine = token("admissions", "uc-irvine");
	json_t *app = submitted_app(student), *c;
	char merced_id[64], irvine_id[64];

	snprintf(merced_id, sizeof(merced_id), "%s",
	         child_for(app, "uc-merced"));
	snprintf(irvine_id, sizeof(irvine_id), "%s",
	         child_for(app, "uc-irvine"));
	json_decref(app);

	c = send_event(merced_id, merced, "{\"type\":\"request_documents\"}",
	               NULL, 200);
	cr_assert_str_eq(status_of(c), "incomplete");
	json_decref(c);
	c = send_event(irvine_id, irvine, "{\"type\":\"request_documents\"}",
	               NULL, 200);
	json_decref(c);
	/* Irvine's documents arrive: its timer is cancelled */
	c = send_event(irvine_id, student, "{\"type\":\"documents_received\"}",
	               NULL, 200);
	cr_assert_str_eq(status_of(c), "received");
	json_decref(c);

	/* 13 days: nothing yet */
	json_decref(call_json("POST", "/v1/clock", t.token,
	                      "{\"advance\":\"13d\"}", NULL, 200));
	usleep(200000);
	c = get_case(merced_id, t.token);
	cr_assert_str_eq(status_of(c), "incomplete");
	json_decref(c);

	/* the timer is durable: a restart keeps it */
	cr_assert_eq(td_stop(&t), 0);
	td_restart_args(&t, "--test-clock");
	json_decref(call_json("POST", "/v1/clock", t.token,
	                      "{\"advance\":\"15d\"}", NULL, 200));
	wait_status(merced_id, "closed_incomplete");
	{
		struct resp r;

		/* the timer was picked up about a day late on the test
		 * clock, and the histogram says so */
		cr_assert_eq(
		        http_do(&t, "GET", "/metrics", NULL, NULL, NULL, 0, &r),
		        0);
		cr_assert(strstr(r.body, "cairn_timer_lag_seconds_count 1\n"),
		          "%s", r.body);
		resp_free(&r);
	}
	c = get_case(irvine_id, t.token);
	cr_assert_str_eq(status_of(c), "received");
	json_decref(c);
}

Test(cases, bad_requests_change_nothing)
{
	const char *student = token("student", "S6");
	json_t *c;

	json_decref(call_json("POST", "/v1/cases", student,
	                      "{\"workflow\":\"nope\"}", NULL, 422));
	json_decref(call_json("POST", "/v1/cases", student,
	                      "{\"workflow\":\"app\",\"data\":[]}", NULL, 422));
	json_decref(call_json("POST", "/v1/cases", student,
	                      "{\"workflow\":\"app\",\"subject\":\"S7\"}", NULL,
	                      403));
	json_decref(call_json("POST", "/v1/cases", student,
	                      "{\"workflow\":\"app\",\"extra\":1}", NULL, 422));
	json_decref(call_json("POST", "/v1/cases", token("policy", NULL),
	                      "{\"workflow\":\"app\",\"subject\":\"S6\"}", NULL,
	                      403));
	/* a spawn list that is not a list */
	c = call_json(
	        "POST", "/v1/cases", student,
	        "{\"workflow\":\"app\",\"data\":{\"campuses\":\"uc-davis\"}}",
	        NULL, 201);
	char id[64];

	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	json_decref(
	        send_event(id, student, "{\"type\":\"submit\"}", NULL, 422));
	c = get_case(id, student);
	cr_assert_str_eq(status_of(c), "draft");
	cr_assert_eq(json_integer_value(json_object_get(c, "revision")), 1);
	json_decref(c);
	json_decref(send_event(id, student, "{\"type\":\"fly\"}", NULL, 409));
	/* a campus nobody routes to */
	c = call_json("POST", "/v1/cases", student,
	              "{\"workflow\":\"app\",\"data\":{\"campuses\":"
	              "[\"uc-davis\",\"uc-atlantis\"]}}",
	              NULL, 201);
	char id2[64];

	snprintf(id2, sizeof(id2), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	c = send_event(id2, student, "{\"type\":\"submit\"}", NULL, 422);
	cr_assert(strstr(json_string_value(json_object_get(c, "detail")),
	                 "uc-atlantis"));
	json_decref(c);
	c = get_case(id2, student);
	cr_assert_str_eq(status_of(c), "draft");
	cr_assert_eq(json_array_size(json_object_get(c, "children")), 0);
	json_decref(c);
	json_decref(send_event(id, student, "{\"data\":{}}", NULL, 422));
	/* nothing else was made: the student sees their two drafts */
	c = call_json("GET", "/v1/cases", student, NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(c, "cases")), 2);
	json_decref(c);
}

/* version 2 of the campus workflow: "received" is now "arrived" */
static const char child_wf_v2[] =
        "name: campus\n"
        "description: one campus's copy, version 2\n"
        "statuses:\n"
        "  arrived: {initial: true, queue: admissions_review, sla: 30d}\n"
        "  incomplete:\n"
        "    on_enter:\n"
        "      - start_timer: {name: documents_due, after: 14d}\n"
        "  closed_incomplete: {terminal: true}\n"
        "  admitted: {terminal: true}\n"
        "  denied: {terminal: true}\n"
        "transitions:\n"
        "  - on: request_documents\n"
        "    from: arrived\n"
        "    to: incomplete\n"
        "    roles: [admissions]\n"
        "  - on: documents_received\n"
        "    from: incomplete\n"
        "    to: arrived\n"
        "    roles: [student, admissions]\n"
        "  - on: timer.documents_due\n"
        "    from: incomplete\n"
        "    to: closed_incomplete\n"
        "  - on: decide\n"
        "    from: arrived\n"
        "    to: {field: decision, cases: {admit: admitted, deny: denied}}\n"
        "    roles: [admissions]\n";

static int
campus_version(void)
{
	json_t *w = call_json("GET", "/v1/workflows/campus", t.token, NULL,
	                      NULL, 200);
	int v = (int)json_integer_value(json_object_get(w, "version"));

	json_decref(w);
	return v;
}

static void
wait_version(int want)
{
	for (int i = 0; i < 200 && campus_version() != want; i++)
		usleep(25000);
	cr_assert_eq(campus_version(), want);
}

Test(cases, workflows_are_listed_versioned_and_drawn)
{
	json_t *w = call_json("GET", "/v1/workflows", t.token, NULL, NULL, 200);
	struct resp r;

	cr_assert_eq(json_array_size(json_object_get(w, "workflows")), 2);
	json_decref(w);
	w = call_json("GET", "/v1/workflows/campus", t.token, NULL, NULL, 200);
	cr_assert_eq(json_integer_value(json_object_get(w, "version")), 1);
	cr_assert_eq(strlen(json_string_value(json_object_get(w, "hash"))), 64);
	json_decref(w);
	cr_assert_eq(http_do(&t, "GET", "/v1/workflows/campus?format=dot",
	                     t.token, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "digraph"));
	cr_assert(strstr(r.body, "closed_incomplete"));
	resp_free(&r);
	json_decref(call_json("GET", "/v1/workflows/nope", t.token, NULL, NULL,
	                      404));
}

Test(cases, a_new_version_leaves_running_cases_until_they_are_migrated)
{
	const char *student = token("student", "S9");
	const char *davis = token("admissions", "uc-davis");
	json_t *app = submitted_app(student), *c, *m;
	char id[64], path[160];

	snprintf(id, sizeof(id), "%s", child_for(app, "uc-davis"));
	json_decref(app);

	/* a reload (SIGHUP) brings version 2; the case stays on 1 */
	td_write_workflow(&t, "campus", child_wf_v2);
	kill(t.pid, SIGHUP);
	wait_version(2);
	c = get_case(id, davis);
	cr_assert_eq(json_integer_value(json_object_get(c, "version")), 1);
	json_decref(c);
	c = send_event(id, davis, "{\"type\":\"request_documents\"}", NULL,
	               200);
	json_decref(c);

	/* a definition with errors changes nothing */
	td_write_workflow(&t, "campus", "name: campus\nstatuses: [\n");
	kill(t.pid, SIGHUP);
	usleep(200000);
	cr_assert_eq(campus_version(), 2);
	td_write_workflow(&t, "campus", child_wf_v2);

	/* after a restart version 1 still runs, from the stored text */
	cr_assert_eq(td_stop(&t), 0);
	td_restart_args(&t, "--test-clock");
	c = send_event(id, student, "{\"type\":\"documents_received\"}", NULL,
	               200);
	cr_assert_str_eq(status_of(c), "received");
	json_decref(c);

	/* "received" is not in version 2: a dry run says so */
	snprintf(path, sizeof(path), "/v1/workflows/campus/migrations");
	m = call_json("POST", path, t.token, "{\"dry_run\":true}", NULL, 200);
	cr_assert_eq(json_integer_value(json_object_get(m, "unmappable")), 4);
	cr_assert_eq(json_array_size(json_object_get(m, "unmapped")), 4);
	json_decref(m);
	json_decref(call_json("POST", path, t.token,
	                      "{\"status_map\":{\"received\":\"nowhere\"}}",
	                      NULL, 422));
	m = call_json("POST", path, t.token,
	              "{\"dry_run\":true,\"status_map\":{\"received\":"
	              "\"arrived\"}}",
	              NULL, 200);
	cr_assert_eq(json_integer_value(json_object_get(m, "mappable")), 4);
	cr_assert_eq(json_integer_value(json_object_get(
	                     json_object_get(json_object_get(m, "by_status"),
	                                     "received"),
	                     "cases")),
	             4);
	json_decref(m);
	c = get_case(id, davis);
	cr_assert_eq(json_integer_value(json_object_get(c, "version")), 1);
	json_decref(c);

	/* the real run moves them, and says so in each history */
	m = call_json("POST", path, t.token,
	              "{\"status_map\":{\"received\":\"arrived\"}}", NULL, 200);
	cr_assert_eq(json_integer_value(json_object_get(m, "migrated")), 4);
	cr_assert_eq(json_integer_value(json_object_get(m, "failed")), 0);
	json_decref(m);
	c = get_case(id, davis);
	cr_assert_eq(json_integer_value(json_object_get(c, "version")), 2);
	cr_assert_str_eq(status_of(c), "arrived");
	cr_assert(has_string(json_object_get(c, "allowed_events"), "decide"));
	json_decref(c);
	snprintf(path, sizeof(path), "/v1/cases/%s/history", id);
	c = call_json("GET", path, davis, NULL, NULL, 200);
	json_t *events = json_object_get(c, "events");
	json_t *last = json_array_get(events, json_array_size(events) - 1);
	cr_assert_str_eq(json_string_value(json_object_get(last, "type")),
	                 "workflow.migrated");
	json_decref(c);
	/* nothing left to move */
	m = call_json("POST", "/v1/workflows/campus/migrations", t.token,
	              "{\"status_map\":{\"received\":\"arrived\"}}", NULL, 200);
	cr_assert_eq(json_integer_value(json_object_get(m, "cases")), 0);
	json_decref(m);
}

Test(cases, the_cli_opens_sends_and_reads)
{
	const char *student = token("student", "S8");
	char out[16384], url[64], id[64];
	json_t *j;
	int rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", t.port);
	rc = run_cmd(out, sizeof(out),
	             "(CAIRN_URL=%s CAIRN_TOKEN=%s %s open app --data "
	             "'{\"campuses\":[\"uc-davis\"]}' --idempotency-key o1 "
	             "2>/dev/null)",
	             url, student, td_bin("cairn"));
	cr_assert_eq(rc, 0, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "%s", out);
	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(j, "id")));
	json_decref(j);
	rc = run_cmd(out, sizeof(out),
	             "CAIRN_URL=%s CAIRN_TOKEN=%s %s send %s submit", url,
	             student, td_bin("cairn"), id);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "\"submitted\""), "%s", out);
	rc = run_cmd(out, sizeof(out),
	             "CAIRN_URL=%s CAIRN_TOKEN=%s %s send %s submit", url,
	             student, td_bin("cairn"), id);
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert(strstr(out, "409"), "%s", out);
	rc = run_cmd(out, sizeof(out), "CAIRN_URL=%s CAIRN_TOKEN=%s %s cases",
	             url, student, td_bin("cairn"));
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, id), "%s", out);
	rc = run_cmd(out, sizeof(out),
	             "CAIRN_URL=%s CAIRN_TOKEN=%s %s history %s", url, student,
	             td_bin("cairn"), id);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "\"submit\""), "%s", out);
	rc = run_cmd(
	        out, sizeof(out),
	        "CAIRN_URL=%s CAIRN_TOKEN=%s %s send %s submit --data '[1]'",
	        url, student, td_bin("cairn"), id);
	cr_assert_eq(rc, 2, "%s", out);
}

Test(cases, reload_through_the_api_reports_errors_and_keeps_the_old_version)
{
	json_t *r;
	char want[600];

	td_write_workflow(&t, "campus", "name: campus\nstatuses: [\n");
	r = call_json("POST", "/v1/workflows/reload", t.token, NULL, NULL, 422);
	snprintf(want, sizeof(want), "%s/defs/workflows/campus.yaml:", t.dir);
	cr_assert(strstr(json_string_value(json_array_get(
	                         json_object_get(r, "errors"), 0)),
	                 want),
	          "%s",
	          json_string_value(
	                  json_array_get(json_object_get(r, "errors"), 0)));
	json_decref(r);
	cr_assert_eq(campus_version(), 1);
	json_decref(call_json("POST", "/v1/workflows/reload",
	                      token("student", "S10"), NULL, NULL, 403));
	td_write_workflow(&t, "campus", child_wf_v2);
	/* a token used for the first time: the handler runs from the token
	 * lookup's callback, where a blocking commit used to hang the loop */
	r = call_json("POST", "/v1/workflows/reload", token("admin", NULL),
	              NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(r, "workflows")), 2);
	json_decref(r);
	cr_assert_eq(campus_version(), 2);
}

/* A timer that fires starts the next one: the second must not be lost
 * while the scan that fired the first is still running. Real time, no
 * test clock. */
static const char chain_wf[] = "name: chain\n"
                               "statuses:\n"
                               "  a:\n"
                               "    initial: true\n"
                               "    on_enter:\n"
                               "      - start_timer: {name: t1, after: 300ms}\n"
                               "  b:\n"
                               "    on_enter:\n"
                               "      - start_timer: {name: t2, after: 300ms}\n"
                               "  c: {terminal: true}\n"
                               "transitions:\n"
                               "  - on: timer.t1\n"
                               "    from: a\n"
                               "    to: b\n"
                               "  - on: timer.t2\n"
                               "    from: b\n"
                               "    to: c\n";

Test(cases, a_timer_started_by_a_timer_fires_too)
{
	json_t *c;
	char id[64];

	td_write_workflow(&t, "chain", chain_wf);
	json_decref(call_json("POST", "/v1/workflows/reload", t.token, NULL,
	                      NULL, 200));
	c = call_json("POST", "/v1/cases", t.token,
	              "{\"workflow\":\"chain\",\"subject\":\"S11\"}", NULL,
	              201);
	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	wait_status(id, "c");
}

Test(cases, an_office_opens_cases_only_for_itself)
{
	const char *davis = token("admissions", "uc-davis");
	json_t *c;

	json_decref(call_json("POST", "/v1/cases", davis,
	                      "{\"workflow\":\"campus\",\"subject\":\"S12\","
	                      "\"data\":{\"campus\":\"uc-merced\"}}",
	                      NULL, 403));
	c = call_json("POST", "/v1/cases", davis,
	              "{\"workflow\":\"campus\",\"subject\":\"S12\"}", NULL,
	              201);
	cr_assert_str_eq(json_string_value(json_object_get(c, "owner")),
	                 "uc-davis");
	json_decref(c);
	c = call_json("GET", "/v1/cases", token("admissions", "uc-merced"),
	              NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(c, "cases")), 0);
	json_decref(c);
}
