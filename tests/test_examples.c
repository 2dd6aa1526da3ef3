/*
 * test_examples.c: the three real example workflows (student_application,
 * campus_application, aid_file), copied as they are from
 * examples/workflows into a real cairnd and driven end to end over HTTP:
 * an application to four UC campuses spawning each campus exactly once
 * however the submit is retried, every campus's own lifecycle with its
 * admissions office, the decisions reaching the student's application, the
 * student withdrawing, the campus timers under the test clock and across a
 * restart, a financial-aid file from ISIR to acceptance, and every
 * rejection the workflows issue lists, each leaving the case as it was.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../adapters/isir.h"
#include "harness.h"

#ifndef CAIRN_SOURCE_DIR
#define CAIRN_SOURCE_DIR "."
#endif

static struct td t;

static void
setup(void)
{
	char out[4096];
	int rc;

	td_start(&t, NULL);
	/* the real files, byte for byte, before a restart with the test
	 * clock (the workflows are read at start-up) */
	rc = run_cmd(
	        out, sizeof(out),
	        "cp '%s'/examples/workflows/student_application.yaml "
	        "'%s'/examples/workflows/campus_application.yaml "
	        "'%s'/examples/workflows/aid_file.yaml '%s/defs/workflows/'",
	        CAIRN_SOURCE_DIR, CAIRN_SOURCE_DIR, CAIRN_SOURCE_DIR, t.dir);
	cr_assert_eq(rc, 0, "copying the examples: %s", out);
	cr_assert_eq(td_stop(&t), 0);
	td_use_example_rules(&t);
	td_restart_args(&t, "--test-clock");
}

static void
teardown(void)
{
	td_cleanup(&t);
}

TestSuite(examples, .init = setup, .fini = teardown, .timeout = 90);

/* --- helpers ------------------------------------------------------------- */

/* the harness's request and token helpers, on this suite's daemon */
#define call_json(m, p, tok, b, idem, want)                                    \
	td_call(&t, m, p, tok, b, idem, want)
#define token(role, scope) td_token(&t, role, scope)

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static const char *
status_of(const json_t *c)
{
	return jstr(c, "status");
}

static const char *
data_str(const json_t *c, const char *k)
{
	return jstr(json_object_get(c, "data"), k);
}

static json_t *
get_case(const char *id, const char *tok)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	return call_json("GET", path, tok, NULL, NULL, 200);
}

static void
expect_hidden(const char *id, const char *tok)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	json_decref(call_json("GET", path, tok, NULL, NULL, 404));
}

static json_t *
send_event(const char *id, const char *tok, const char *body, const char *idem,
           int want)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	return call_json("POST", path, tok, body, idem, want);
}

/* Sends an event that must succeed and move case id to status want. */
static void
move(const char *id, const char *tok, const char *body, const char *want)
{
	json_t *c = send_event(id, tok, body, NULL, 200);

	cr_assert_str_eq(status_of(c), want, "%s -> %s, wanted %s", body,
	                 status_of(c), want);
	json_decref(c);
}

static void
expect_status(const char *id, const char *want)
{
	json_t *c = get_case(id, t.token);

	cr_assert_str_eq(status_of(c), want, "case %s is %s, wanted %s", id,
	                 status_of(c), want);
	json_decref(c);
}

/* Waits until case id has status want (timers fire asynchronously). */
static void
wait_status(const char *id, const char *want)
{
	char last[64] = "";

	for (int i = 0; i < 200; i++) {
		json_t *c = get_case(id, t.token);
		int ok = !strcmp(status_of(c), want);

		snprintf(last, sizeof(last), "%s", status_of(c));
		json_decref(c);
		if (ok)
			return;
		usleep(25000);
	}
	cr_assert_fail("case %s never reached %s (still %s)", id, want, last);
}

static void
clock_advance(const char *by)
{
	char body[64];

	snprintf(body, sizeof(body), "{\"advance\":\"%s\"}", by);
	json_decref(call_json("POST", "/v1/clock", t.token, body, NULL, 200));
}

/* The daemon's clock (test offset included) plus days, as RFC 3339. */
static void
date_in_days(int days, char out[32])
{
	json_t *j = call_json("POST", "/v1/clock", t.token,
	                      "{\"advance\":\"1ms\"}", NULL, 200);
	time_t s =
	        (time_t)(json_integer_value(json_object_get(j, "now")) / 1000) +
	        (time_t)days * 86400;
	struct tm tm;

	json_decref(j);
	gmtime_r(&s, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* 1 when the problem's detail mentions s */
static int
detail_has(const json_t *problem, const char *s)
{
	const char *d = jstr(problem, "detail");

	return d != NULL && strstr(d, s) != NULL;
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

/* true or a non-zero number (see children_look_the_same_...) */
static int
is_set(const json_t *v)
{
	return json_is_true(v) || (json_is_integer(v) && json_integer_value(v));
}

static json_t *
history(const char *id)
{
	char path[128];
	json_t *h, *ev;

	snprintf(path, sizeof(path), "/v1/cases/%s/history", id);
	h = call_json("GET", path, t.token, NULL, NULL, 200);
	ev = json_incref(json_object_get(h, "events"));
	json_decref(h);
	cr_assert(json_is_array(ev));
	return ev;
}

/* How many history events of case id have this type. */
static int
history_count(const char *id, const char *type)
{
	json_t *h = history(id), *ev;
	size_t i;
	int n = 0;

	json_array_foreach(h, i, ev)
	{
		if (!strcmp(jstr(ev, "type"), type))
			n++;
	}
	json_decref(h);
	return n;
}

/* What a rejected request must leave alone. */
struct snap {
	char status[64];
	json_int_t revision;
	size_t history;
	size_t children;
	char *data;
};

static void
snap_take(const char *id, struct snap *s)
{
	json_t *c = get_case(id, t.token), *h = history(id);

	snprintf(s->status, sizeof(s->status), "%s", status_of(c));
	s->revision = json_integer_value(json_object_get(c, "revision"));
	s->history = json_array_size(h);
	s->children = json_array_size(json_object_get(c, "children"));
	s->data = json_dumps(json_object_get(c, "data"),
	                     JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(h);
	json_decref(c);
}

static void
snap_unchanged(const char *id, struct snap *before, const char *what)
{
	struct snap now;

	snap_take(id, &now);
	cr_assert_str_eq(now.status, before->status, "%s moved the case", what);
	cr_assert_eq(now.revision, before->revision,
	             "%s changed the revision (%lld -> %lld)", what,
	             (long long)before->revision, (long long)now.revision);
	cr_assert_eq(now.history, before->history, "%s added to the history",
	             what);
	cr_assert_eq(now.children, before->children, "%s changed children",
	             what);
	cr_assert_str_eq(now.data, before->data, "%s changed the data", what);
	free(now.data);
}

/* How many cases of a workflow exist (as admin sees them). */
static size_t
count_cases(const char *workflow)
{
	char path[160];
	json_t *j;
	size_t n;

	snprintf(path, sizeof(path), "/v1/cases?workflow=%s&limit=1000",
	         workflow);
	j = call_json("GET", path, t.token, NULL, NULL, 200);
	n = json_array_size(json_object_get(j, "cases"));
	json_decref(j);
	return n;
}

/* The id of parent's campus_application child for campus. */
static void
child_for(const json_t *parent, const char *campus, char out[64])
{
	json_t *kids = json_object_get(parent, "children"), *k;
	size_t i;
	char key[96];

	snprintf(key, sizeof(key), "campus_application:%s", campus);
	json_array_foreach(kids, i, k)
	{
		const char *sk = jstr(k, "spawn_key");

		if (sk && !strcmp(sk, key)) {
			snprintf(out, 64, "%s", jstr(k, "id"));
			return;
		}
	}
	cr_assert_fail("no child for %s", campus);
}

/* A student application in draft for student (a token scoped to sid)
 * with the campuses given as a JSON value; returns its id in out. */
static void
draft_app(const char *student, const char *campuses_json, char out[64])
{
	char body[1024];
	json_t *c;

	snprintf(body, sizeof(body),
	         "{\"workflow\":\"student_application\",\"data\":{\"campuses\":"
	         "%s}}",
	         campuses_json);
	c = call_json("POST", "/v1/cases", student, body, NULL, 201);
	cr_assert_str_eq(status_of(c), "draft");
	snprintf(out, 64, "%s", jstr(c, "id"));
	json_decref(c);
}

/* Drafts and submits; fills ids[i] with the child of campuses[i]. */
static void
submitted_app(const char *student, const char *const *campuses, int n,
              char pid[64], char ids[][64])
{
	char list[512] = "[";
	json_t *c;

	for (int i = 0; i < n; i++) {
		strcat(list, i ? ",\"" : "\"");
		strcat(list, campuses[i]);
		strcat(list, "\"");
	}
	strcat(list, "]");
	draft_app(student, list, pid);
	c = send_event(pid, student, "{\"type\":\"submit\"}", NULL, 200);
	cr_assert_str_eq(status_of(c), "submitted");
	cr_assert_eq(json_array_size(json_object_get(c, "children")),
	             (size_t)n);
	for (int i = 0; i < n; i++)
		child_for(c, campuses[i], ids[i]);
	json_decref(c);
}

static const char *const four_uc[] = {"uc-berkeley", "uc-davis", "uc-irvine",
                                      "uc-santa-cruz"};

static const char admit_2099[] =
        "{\"type\":\"decide\",\"data\":{\"decision\":\"admit\","
        "\"sir_deadline\":\"2099-05-01\"}}";

/* --- the examples load --------------------------------------------------- */

Test(examples, the_three_examples_load_as_they_are)
{
	json_t *w = call_json("GET", "/v1/workflows", t.token, NULL, NULL, 200);
	json_t *names = json_array(), *e;
	size_t i;

	json_array_foreach(json_object_get(w, "workflows"), i, e)
	{
		json_array_append_new(names, json_string(jstr(e, "name")));
		cr_assert_eq(json_integer_value(json_object_get(e, "version")),
		             1);
	}
	cr_assert(has_string(names, "student_application"), "loaded: %s",
	          json_dumps(names, 0));
	cr_assert(has_string(names, "campus_application"));
	cr_assert(has_string(names, "aid_file"));
	json_decref(names);
	json_decref(w);
	w = call_json("GET", "/v1/workflows/campus_application", t.token, NULL,
	              NULL, 200);
	cr_assert(json_object_get(json_object_get(w, "statuses"),
	                          "waitlist_opted_in"));
	json_decref(w);
}

/* --- fan-out, exactly once ----------------------------------------------- */

Test(examples, four_campuses_spawn_exactly_once_however_submit_is_retried)
{
	const char *student = token("student", "S100");
	static const char create[] =
	        "{\"workflow\":\"student_application\",\"data\":{\"campuses\":"
	        "[\"uc-berkeley\",\"uc-davis\",\"uc-irvine\","
	        "\"uc-santa-cruz\"]}}";
	json_t *c, *again, *kids, *k;
	char id[64];
	size_t i;

	c = call_json("POST", "/v1/cases", student, create, "app-create", 201);
	snprintf(id, sizeof(id), "%s", jstr(c, "id"));
	cr_assert_str_eq(jstr(c, "subject"), "S100");
	cr_assert(has_string(json_object_get(c, "allowed_events"), "submit"));
	again = call_json("POST", "/v1/cases", student, create, "app-create",
	                  201);
	cr_assert(json_equal(c, again), "a retried create made a new case");
	json_decref(again);
	json_decref(c);
	cr_assert_eq(count_cases("student_application"), 1);

	c = send_event(id, student, "{\"type\":\"submit\"}", "app-submit", 200);
	cr_assert_str_eq(status_of(c), "submitted");
	cr_assert_not_null(data_str(c, "submitted_at"));
	kids = json_object_get(c, "children");
	cr_assert_eq(json_array_size(kids), 4);
	json_array_foreach(kids, i, k)
	{
		cr_assert_str_eq(jstr(k, "workflow"), "campus_application");
		cr_assert_str_eq(jstr(k, "status"), "received");
	}
	for (int n = 0; n < 4; n++) {
		char cid[64];
		json_t *cc;

		child_for(c, four_uc[n], cid);
		cc = get_case(cid, t.token);
		cr_assert_str_eq(data_str(cc, "campus"), four_uc[n]);
		cr_assert_str_eq(jstr(cc, "owner"), four_uc[n]);
		cr_assert_str_eq(jstr(cc, "subject"), "S100");
		cr_assert_str_eq(jstr(cc, "parent_id"), id);
		cr_assert_str_eq(jstr(cc, "queue"), "admissions_intake");
		json_decref(cc);
	}

	/* the retry with the same key: the first answer, nothing new */
	again = send_event(id, student, "{\"type\":\"submit\"}", "app-submit",
	                   200);
	cr_assert(json_equal(c, again), "a retried submit answered otherwise");
	json_decref(again);
	json_decref(c);
	/* the same key with another body is refused */
	json_decref(send_event(id, student,
	                       "{\"type\":\"submit\",\"data\":{\"x\":1}}",
	                       "app-submit", 422));
	/* sent again without a key: not allowed now, and it says what is */
	c = send_event(id, student, "{\"type\":\"submit\"}", NULL, 409);
	cr_assert(has_string(json_object_get(c, "allowed"), "withdraw"),
	          "409 without the allowed events");
	cr_assert(!has_string(json_object_get(c, "allowed"), "submit"));
	json_decref(c);

	c = get_case(id, student);
	cr_assert_eq(json_array_size(json_object_get(c, "children")), 4);
	json_decref(c);
	cr_assert_eq(count_cases("campus_application"), 4);
	cr_assert_eq(history_count(id, "submit"), 1);

	/* the key outlives a restart: the retry still gets the first
	 * answer, and still makes nothing */
	c = get_case(id, student);
	cr_assert_eq(td_stop(&t), 0);
	td_restart_args(&t, "--test-clock");
	clock_advance("23h");
	again = send_event(id, student, "{\"type\":\"submit\"}", "app-submit",
	                   200);
	cr_assert_str_eq(status_of(again), "submitted");
	cr_assert_eq(json_array_size(json_object_get(again, "children")), 4);
	json_decref(again);
	json_decref(c);
	cr_assert_eq(count_cases("campus_application"), 4);
	cr_assert_eq(history_count(id, "submit"), 1);
}

/* One raw request text, for sending many at once. */
static int
request_text(char *buf, size_t len, const char *path, const char *tok,
             const char *body, const char *idem)
{
	return snprintf(buf, len,
	                "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                "Connection: close\r\nAuthorization: Bearer %s\r\n"
	                "Content-Type: application/json\r\n%s%s%s"
	                "Content-Length: %zu\r\n\r\n%s",
	                path, tok, idem ? "Idempotency-Key: " : "",
	                idem ? idem : "", idem ? "\r\n" : "", strlen(body),
	                body);
}

/* Sends the same submit on n connections at once; fills statuses and
 * bodies (to be freed). */
static void
submit_concurrently(const char *id, const char *tok, const char *idem, int n,
                    int *statuses, char **bodies)
{
	char path[128], req[2048];
	int fds[16], len;

	cr_assert(n <= 16);
	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	len = request_text(req, sizeof(req), path, tok, "{\"type\":\"submit\"}",
	                   idem);
	for (int i = 0; i < n; i++) {
		fds[i] = tcp_connect(t.port);
		cr_assert(fds[i] >= 0);
	}
	for (int i = 0; i < n; i++)
		send_all(fds[i], req, (size_t)len);
	for (int i = 0; i < n; i++) {
		struct resp r;

		cr_assert_eq(read_response(fds[i], 10000, &r), 0);
		statuses[i] = r.status;
		bodies[i] = r.body;
		close(fds[i]);
	}
}

Test(examples, concurrent_submits_without_a_key_spawn_once)
{
	const char *student = token("student", "S101");
	int st[8], ok = 0;
	char *bodies[8], id[64];
	json_t *c;

	draft_app(student,
	          "[\"uc-berkeley\",\"uc-davis\",\"uc-irvine\",\"uc-"
	          "santa-cruz\"]",
	          id);
	submit_concurrently(id, student, NULL, 8, st, bodies);
	for (int i = 0; i < 8; i++) {
		cr_assert(st[i] == 200 || st[i] == 409, "submit %d: %d %s", i,
		          st[i], bodies[i]);
		ok += st[i] == 200;
		free(bodies[i]);
	}
	cr_assert_eq(ok, 1, "%d of 8 concurrent submits succeeded", ok);
	c = get_case(id, student);
	cr_assert_eq(json_array_size(json_object_get(c, "children")), 4);
	json_decref(c);
	cr_assert_eq(count_cases("campus_application"), 4);
	cr_assert_eq(history_count(id, "submit"), 1);
}

/*
 * A client that timed out retries with the same Idempotency-Key while its
 * first request is still in flight. Every copy gets the first answer (200
 * with the same body), never 409 for an event that succeeded under that
 * very key: the key is checked again once the family lock is held.
 */
Test(examples, concurrent_retries_with_one_key_all_get_the_first_answer)
{
	const char *student = token("student", "S102");
	int st[8];
	char *bodies[8], id[64];
	json_t *c;

	draft_app(student,
	          "[\"uc-berkeley\",\"uc-davis\",\"uc-irvine\",\"uc-"
	          "santa-cruz\"]",
	          id);
	submit_concurrently(id, student, "concurrent-submit", 8, st, bodies);
	/* whatever the answers, the children were made once */
	c = get_case(id, student);
	cr_assert_eq(json_array_size(json_object_get(c, "children")), 4);
	json_decref(c);
	cr_assert_eq(count_cases("campus_application"), 4);
	cr_assert_eq(history_count(id, "submit"), 1);
	for (int i = 0; i < 8; i++) {
		cr_expect_eq(st[i], 200,
		             "retry %d under the same key got %d %s (the "
		             "first request got 200)",
		             i, st[i], bodies[i]);
		if (st[i] == 200 && st[0] == 200)
			cr_expect_str_eq(bodies[i], bodies[0]);
	}
	for (int i = 0; i < 8; i++)
		free(bodies[i]);
}

/* --- each campus's lifecycle, reported to the application --------------- */

Test(examples, campuses_move_through_the_uc_lifecycle_and_settle_the_parent)
{
	const char *student = token("student", "S110");
	const char *adm[4];
	char pid[64], ids[4][64];
	json_t *c;

	for (int i = 0; i < 4; i++)
		adm[i] = token("admissions", four_uc[i]);
	submitted_app(student, four_uc, 4, pid, ids);
	const char *berkeley = ids[0], *davis = ids[1], *irvine = ids[2],
	           *santa_cruz = ids[3];

	/* each office sees its own copy only, and what it may send there */
	c = get_case(berkeley, adm[0]);
	cr_assert_str_eq(status_of(c), "received");
	cr_assert(has_string(json_object_get(c, "allowed_events"), "complete"));
	cr_assert(has_string(json_object_get(c, "allowed_events"),
	                     "request_documents"));
	cr_assert(
	        !has_string(json_object_get(c, "allowed_events"), "withdraw"));
	json_decref(c);
	expect_hidden(davis, adm[0]);
	expect_hidden(pid, adm[0]);
	json_decref(send_event(davis, adm[0], "{\"type\":\"complete\"}", NULL,
	                       404));
	c = call_json("GET", "/v1/cases", adm[1], NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(c, "cases")), 1);
	cr_assert_str_eq(
	        jstr(json_array_get(json_object_get(c, "cases"), 0), "id"),
	        davis);
	json_decref(c);

	/* Berkeley: complete, then admit (with its SIR deadline) */
	move(berkeley, adm[0], "{\"type\":\"complete\"}", "under_review");
	move(berkeley, adm[0], admit_2099, "admitted");
	c = get_case(berkeley, adm[0]);
	cr_assert_str_eq(data_str(c, "decision"), "admit");
	cr_assert_str_eq(data_str(c, "sir_deadline"), "2099-05-01");
	cr_assert_not_null(data_str(c, "decided_at"));
	cr_assert_not_null(data_str(c, "admitted_at"));
	json_decref(c);
	/* the admit reached the application */
	c = get_case(pid, student);
	cr_assert_str_eq(status_of(c), "offer_received");
	cr_assert_eq(history_count(pid, "child.admitted"), 1);
	json_decref(c);

	/* Davis: documents asked for, sent, accepted; denied; appealed;
	 * the appeal denied */
	move(davis, adm[1],
	     "{\"type\":\"request_documents\",\"data\":{\"documents\":"
	     "[\"transcript\"]}}",
	     "incomplete");
	c = get_case(davis, student);
	cr_assert_str_eq(jstr(json_object_get(c, "data"), "campus"),
	                 "uc-davis");
	cr_assert_str_eq(json_string_value(json_array_get(
	                         json_object_get(json_object_get(c, "data"),
	                                         "documents_requested"),
	                         0)),
	                 "transcript");
	cr_assert(has_string(json_object_get(c, "allowed_events"),
	                     "submit_documents"));
	json_decref(c);
	move(davis, student, "{\"type\":\"submit_documents\"}",
	     "documents_received");
	move(davis, adm[1], "{\"type\":\"accept_documents\"}", "under_review");
	move(davis, adm[1],
	     "{\"type\":\"decide\",\"data\":{\"decision\":\"deny\"}}",
	     "denied");
	move(davis, student,
	     "{\"type\":\"appeal\",\"data\":{\"reason\":\"new grades\"}}",
	     "appeal_submitted");
	move(davis, adm[1],
	     "{\"type\":\"decide_appeal\",\"data\":{\"decision\":\"deny\"}}",
	     "appeal_denied");
	c = get_case(davis, student);
	cr_assert_str_eq(data_str(c, "appeal_reason"), "new grades");
	cr_assert_eq(json_array_size(json_object_get(c, "allowed_events")), 0);
	json_decref(c);

	/* Irvine: waitlisted, the student opts in, admitted from the list
	 * (the application stays in offer_received: its actions run) */
	move(irvine, adm[2], "{\"type\":\"complete\"}", "under_review");
	move(irvine, adm[2],
	     "{\"type\":\"decide\",\"data\":{\"decision\":\"waitlist\"}}",
	     "waitlist_offered");
	move(irvine, student, "{\"type\":\"opt_in\"}", "waitlist_opted_in");
	move(irvine, adm[2],
	     "{\"type\":\"admit_from_waitlist\",\"data\":{\"sir_deadline\":"
	     "\"2099-05-15\"}}",
	     "admitted");
	expect_status(pid, "offer_received");
	cr_assert_eq(history_count(pid, "child.admitted"), 2);

	/* Santa Cruz refers the student elsewhere */
	move(santa_cruz, adm[3], "{\"type\":\"complete\"}", "under_review");
	move(santa_cruz, adm[3],
	     "{\"type\":\"decide\",\"data\":{\"decision\":\"refer\"}}",
	     "referral_offered");
	expect_status(pid, "offer_received");

	/* the student registers at Berkeley: the application records it */
	move(berkeley, student, "{\"type\":\"intend_to_register\"}",
	     "intent_to_register");
	expect_status(pid, "registered");
	/* and declines Irvine: every campus is final, the application
	 * settles */
	move(irvine, student, "{\"type\":\"decline\"}", "declined");
	c = get_case(pid, student);
	cr_assert_str_eq(status_of(c), "settled");
	cr_assert_eq(json_array_size(json_object_get(c, "allowed_events")), 0);
	{
		json_t *k;
		size_t i;

		json_array_foreach(json_object_get(c, "children"), i, k)
		{
			cr_assert(is_set(json_object_get(k, "terminal")),
			          "child %s is %s", jstr(k, "spawn_key"),
			          jstr(k, "status"));
		}
	}
	json_decref(c);
	cr_assert_eq(history_count(pid, "children.settled"), 1);
	cr_assert_eq(history_count(pid, "child.intent_to_register"), 1);
	/* every status each campus entered was told to the application */
	cr_assert_eq(history_count(pid, "child.declined"), 1);
	cr_assert_eq(history_count(pid, "child.appeal_denied"), 1);
	cr_assert_eq(history_count(pid, "child.referral_offered"), 1);
}

Test(examples, the_student_withdraws_the_application_and_each_campus)
{
	const char *student = token("student", "S120");
	const char *davis = token("admissions", "uc-davis");
	static const char *const two[] = {"uc-davis", "uc-merced"};
	char pid[64], ids[2][64], draft[64];
	json_t *c;

	/* from draft: nothing was sent anywhere */
	draft_app(student, "[\"uc-davis\"]", draft);
	move(draft, student, "{\"type\":\"withdraw\"}", "withdrawn");
	c = get_case(draft, student);
	cr_assert_eq(json_array_size(json_object_get(c, "children")), 0);
	json_decref(c);
	c = send_event(draft, student, "{\"type\":\"submit\"}", NULL, 409);
	cr_assert_eq(json_array_size(json_object_get(c, "allowed")), 0);
	json_decref(c);
	cr_assert_eq(count_cases("campus_application"), 0);

	/* after an admit: the application is withdrawn; each campus copy
	 * is withdrawn on its own, by the student */
	submitted_app(student, two, 2, pid, ids);
	move(ids[0], davis, "{\"type\":\"complete\"}", "under_review");
	move(ids[0], davis, admit_2099, "admitted");
	expect_status(pid, "offer_received");
	json_decref(
	        send_event(pid, davis, "{\"type\":\"withdraw\"}", NULL, 404));
	move(pid, student, "{\"type\":\"withdraw\"}", "withdrawn");
	expect_status(ids[0], "admitted");
	expect_status(ids[1], "received");
	/* admissions may not withdraw for the student */
	json_decref(send_event(ids[0], davis, "{\"type\":\"withdraw\"}", NULL,
	                       403));
	move(ids[0], student, "{\"type\":\"withdraw\"}", "withdrawn");
	move(ids[1], student, "{\"type\":\"withdraw\"}", "withdrawn");
	/* the campuses' reports are on the record, and move nothing */
	c = get_case(pid, student);
	cr_assert_str_eq(status_of(c), "withdrawn");
	json_decref(c);
	cr_assert_eq(history_count(pid, "child.withdrawn"), 2);
	cr_assert_eq(history_count(pid, "children.settled"), 1);
	/* nothing leaves a terminal status */
	c = send_event(ids[0], student, "{\"type\":\"withdraw\"}", NULL, 409);
	cr_assert_eq(json_array_size(json_object_get(c, "allowed")), 0);
	json_decref(c);
}

/* --- timers ------------------------------------------------------------- */

Test(examples, documents_timer_fires_under_the_test_clock_and_survives_restart)
{
	const char *student = token("student", "S130");
	const char *merced = token("admissions", "uc-merced");
	const char *riverside = token("admissions", "uc-riverside");
	static const char *const two[] = {"uc-merced", "uc-riverside"};
	char pid[64], ids[2][64];

	submitted_app(student, two, 2, pid, ids);
	move(ids[0], merced, "{\"type\":\"request_documents\"}", "incomplete");
	move(ids[1], riverside, "{\"type\":\"request_documents\"}",
	     "incomplete");
	/* Riverside's documents arrive: its timer is gone with the status */
	move(ids[1], student, "{\"type\":\"submit_documents\"}",
	     "documents_received");

	clock_advance("13d");
	usleep(200000);
	expect_status(ids[0], "incomplete");

	/* the timer is a row in the store: a restart keeps it (the test
	 * clock starts again from the real time) */
	cr_assert_eq(td_stop(&t), 0);
	td_restart_args(&t, "--test-clock");
	clock_advance("1d");
	usleep(200000);
	expect_status(ids[0], "incomplete");
	clock_advance("14d");
	wait_status(ids[0], "documents_overdue");
	expect_status(ids[1], "documents_received");
	cr_assert_eq(history_count(ids[0], "timer.documents_due"), 1);
	cr_assert_eq(history_count(pid, "child.documents_overdue"), 1);

	/* then the final notice: 7 days more and the campus closes it */
	clock_advance("6d");
	usleep(200000);
	expect_status(ids[0], "documents_overdue");
	clock_advance("2d");
	wait_status(ids[0], "closed_incomplete");
	cr_assert_eq(history_count(ids[0], "timer.final_notice"), 1);
	cr_assert_eq(history_count(ids[0], "timer.documents_due"), 1);
	expect_status(ids[1], "documents_received");
	expect_status(pid, "submitted");

	/* a restart does not fire them again */
	cr_assert_eq(td_stop(&t), 0);
	td_restart_args(&t, "--test-clock");
	clock_advance("30d");
	usleep(300000);
	cr_assert_eq(history_count(ids[0], "timer.final_notice"), 1);
	cr_assert_eq(history_count(ids[0], "timer.documents_due"), 1);
	expect_status(ids[1], "documents_received");
}

Test(examples, decision_timers_expire_release_and_finalise_then_settle)
{
	const char *student = token("student", "S140");
	static const char *const three[] = {"uc-los-angeles", "uc-san-diego",
	                                    "uc-santa-barbara"};
	const char *la = token("admissions", "uc-los-angeles");
	const char *sd = token("admissions", "uc-san-diego");
	const char *sb = token("admissions", "uc-santa-barbara");
	char pid[64], ids[3][64], deadline[32], body[256];

	submitted_app(student, three, 3, pid, ids);
	/* LA admits with a deadline 10 days out */
	date_in_days(10, deadline);
	snprintf(body, sizeof(body),
	         "{\"type\":\"decide\",\"data\":{\"decision\":\"admit\","
	         "\"sir_deadline\":\"%s\"}}",
	         deadline);
	move(ids[0], la, "{\"type\":\"complete\"}", "under_review");
	move(ids[0], la, body, "admitted");
	/* San Diego waitlists (14 days to opt in); Santa Barbara denies (21
	 * days to appeal) */
	move(ids[1], sd, "{\"type\":\"complete\"}", "under_review");
	move(ids[1], sd,
	     "{\"type\":\"decide\",\"data\":{\"decision\":\"waitlist\"}}",
	     "waitlist_offered");
	move(ids[2], sb, "{\"type\":\"complete\"}", "under_review");
	move(ids[2], sb,
	     "{\"type\":\"decide\",\"data\":{\"decision\":\"deny\"}}",
	     "denied");
	expect_status(pid, "offer_received");

	clock_advance("9d");
	usleep(200000);
	expect_status(ids[0], "admitted");
	clock_advance("2d");
	wait_status(ids[0], "expired");
	expect_status(ids[1], "waitlist_offered");
	clock_advance("4d");
	wait_status(ids[1], "released");
	expect_status(ids[2], "denied");
	expect_status(pid, "offer_received");
	clock_advance("7d");
	wait_status(ids[2], "denial_final");
	/* the last campus became final: the application settles */
	wait_status(pid, "settled");
	cr_assert_eq(history_count(pid, "children.settled"), 1);
}

/* --- the financial-aid file ---------------------------------------------- */

static void
aid_file(const char *officer, const char *subject, char out[64])
{
	char body[256];
	json_t *c;

	snprintf(body, sizeof(body),
	         "{\"workflow\":\"aid_file\",\"subject\":\"%s\",\"data\":"
	         "{\"office\":\"ucla-aid\",\"award_year\":\"2026-27\"}}",
	         subject);
	c = call_json("POST", "/v1/cases", officer, body, NULL, 201);
	cr_assert_str_eq(status_of(c), "isir_received");
	cr_assert_str_eq(jstr(c, "owner"), "ucla-aid");
	cr_assert_str_eq(jstr(c, "queue"), "isir_review");
	snprintf(out, 64, "%s", jstr(c, "id"));
	json_decref(c);
}

Test(examples, aid_file_from_isir_through_verification_to_acceptance)
{
	const char *officer = token("aid_officer", "ucla-aid");
	const char *other = token("aid_officer", "ucsd-aid");
	const char *student = token("student", "S150");
	char id[64];
	json_t *c;

	aid_file(officer, "S150", id);
	expect_hidden(id, other);
	expect_hidden(id, token("student", "S151"));
	c = get_case(id, student);
	cr_assert(has_string(json_object_get(c, "allowed_events"),
	                     "request_judgment"));
	cr_assert(!has_string(json_object_get(c, "allowed_events"),
	                      "review_isir"));
	json_decref(c);
	json_decref(send_event(id, student,
	                       "{\"type\":\"review_isir\",\"data\":{\"next\":"
	                       "\"package\"}}",
	                       NULL, 403));

	/* selected for verification: documents with a 30-day deadline */
	move(id, officer,
	     "{\"type\":\"review_isir\",\"data\":{\"next\":\"verify\"}}",
	     "documents_requested");
	move(id, student, "{\"type\":\"submit_documents\"}",
	     "documents_received");
	/* more documents needed; this time they are late */
	move(id, officer,
	     "{\"type\":\"review_documents\",\"data\":{\"outcome\":"
	     "\"more_documents\"}}",
	     "documents_requested");
	clock_advance("29d");
	usleep(200000);
	expect_status(id, "documents_requested");
	clock_advance("2d");
	wait_status(id, "documents_overdue");
	cr_assert_eq(history_count(id, "timer.documents_due"), 1);
	move(id, student, "{\"type\":\"submit_documents\"}",
	     "documents_received");
	/* verified with special circumstances: professional judgment */
	move(id, officer,
	     "{\"type\":\"review_documents\",\"data\":{\"outcome\":"
	     "\"judgment\"}}",
	     "professional_judgment");
	move(id, officer,
	     "{\"type\":\"decide_judgment\",\"data\":{\"decision\":"
	     "{\"field\":281,\"reason\":\"job loss\"}}}",
	     "packaging");
	c = get_case(id, officer);
	cr_assert_str_eq(jstr(c, "queue"), "packaging");
	cr_assert_eq(json_integer_value(json_object_get(
	                     json_object_get(json_object_get(c, "data"),
	                                     "professional_judgment"),
	                     "field")),
	             281);
	/* the Cal Grant rule was evaluated on entry and its decision kept
	 * (no rule engine is loaded yet: it says needs_review) */
	cr_assert_not_null(
	        jstr(json_object_get(json_object_get(json_object_get(c, "data"),
	                                             "eligibility"),
	                             "cal_grant"),
	             "outcome"),
	        "no eligibility.cal_grant in %s",
	        json_dumps(json_object_get(c, "data"), 0));
	json_decref(c);
	json_decref(send_event(id, student,
	                       "{\"type\":\"offer\",\"data\":{\"award\":{}}}",
	                       NULL, 403));
	move(id, officer,
	     "{\"type\":\"offer\",\"data\":{\"award\":{\"pell\":7395,"
	     "\"cal_grant_a\":14226}}}",
	     "offered");
	json_decref(
	        send_event(id, officer, "{\"type\":\"accept\"}", NULL, 403));
	move(id, student, "{\"type\":\"accept\"}", "accepted");
	c = get_case(id, student);
	cr_assert_eq(
	        json_integer_value(json_object_get(
	                json_object_get(json_object_get(c, "data"), "award"),
	                "pell")),
	        7395);
	cr_assert_not_null(data_str(c, "offered_at"));
	cr_assert_not_null(data_str(c, "documents_reviewed_at"));
	cr_assert_not_null(data_str(c, "isir_reviewed_at"));
	json_decref(c);
	/* accepted is final: even cancel is refused */
	json_decref(
	        send_event(id, officer, "{\"type\":\"cancel\"}", NULL, 409));
}

/* Imports one made-up ISIR (FAFSA seq, transaction txn) into office's
 * aid files as officer; returns the case it went into. */
static void
isir_import(const char *officer, uint64_t seq, int txn, char out[64])
{
	char rec[ISIR_RECORD_LEN + 1];
	struct resp r;
	json_t *j;

	isir_record_synthetic(rec, seq, txn);
	rec[ISIR_RECORD_LEN] = '\n';
	cr_assert_eq(http_do(&t, "POST", "/v1/isir", officer, "text/plain", rec,
	                     sizeof(rec), &r),
	             0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = json_loadb(r.body, r.body_len, 0, NULL);
	resp_free(&r);
	cr_assert_eq(json_integer_value(json_object_get(j, "accepted")), 1,
	             "%s", json_dumps(j, 0));
	snprintf(
	        out, 64, "%s",
	        jstr(json_array_get(json_object_get(j, "records"), 0), "case"));
	json_decref(j);
}

Test(examples, aid_file_correction_judgment_decline_and_cancel)
{
	const char *officer = token("aid_officer", "ucla-aid");
	/* the file's subject is the ISIR's person (made up from 160) */
	const char *student =
	        token("student", "00000000-1111-4000-8000-0000000000a0");
	char id[64], id2[64], again[64];
	json_t *c;

	isir_import(officer, 160, 1, id);
	move(id, officer,
	     "{\"type\":\"review_isir\",\"data\":{\"next\":\"correct\"}}",
	     "correction_requested");
	/* a corrected ISIR comes from FSA's system through the import (the
	 * institution role), never from an officer's hand */
	json_decref(send_event(id, officer,
	                       "{\"type\":\"isir_corrected\",\"data\":"
	                       "{\"route\":\"review\",\"transaction\":2}}",
	                       NULL, 403));
	isir_import(officer, 160, 2, again);
	cr_assert_str_eq(again, id);
	expect_status(id, "isir_received");
	cr_assert_eq(history_count(id, "isir_corrected"), 1);
	move(id, officer,
	     "{\"type\":\"review_isir\",\"data\":{\"next\":\"package\"}}",
	     "packaging");
	move(id, officer, "{\"type\":\"offer\",\"data\":{\"award\":{}}}",
	     "offered");
	/* the student asks for special circumstances after the offer */
	move(id, student,
	     "{\"type\":\"request_judgment\",\"data\":{\"reason\":\"medical "
	     "costs\"}}",
	     "professional_judgment");
	move(id, officer,
	     "{\"type\":\"decide_judgment\",\"data\":{\"decision\":"
	     "\"approved\"}}",
	     "packaging");
	move(id, officer,
	     "{\"type\":\"offer\",\"data\":{\"award\":{\"pell\":7395}}}",
	     "offered");
	move(id, student, "{\"type\":\"decline\"}", "declined");
	c = get_case(id, student);
	cr_assert_eq(json_integer_value(json_object_get(
	                     json_object_get(c, "data"), "isir_transaction")),
	             2);
	/* the ISIR's values, and what the correction changed (only what
	 * every transaction changes: nothing to name) */
	cr_assert_eq(
	        json_integer_value(json_object_get(
	                json_object_get(json_object_get(c, "data"), "student"),
	                "family_size")),
	        4);
	cr_assert(json_is_array(
	        json_object_get(json_object_get(c, "data"), "isir_changes")));
	cr_assert_str_eq(data_str(c, "judgment_reason"), "medical costs");
	cr_assert_str_eq(data_str(c, "professional_judgment"), "approved");
	json_decref(c);

	/* the office closes another file */
	student = token("student", "S160");
	aid_file(officer, "S160", id2);
	json_decref(
	        send_event(id2, student, "{\"type\":\"cancel\"}", NULL, 403));
	move(id2, officer,
	     "{\"type\":\"cancel\",\"data\":{\"reason\":\"not enrolling\"}}",
	     "cancelled");
	c = get_case(id2, student);
	cr_assert_str_eq(data_str(c, "cancel_reason"), "not enrolling");
	json_decref(c);
}

/* --- every rejection, changing nothing ----------------------------------- */

Test(examples, an_event_not_allowed_now_is_409_naming_the_allowed_ones)
{
	const char *student = token("student", "S170");
	const char *davis = token("admissions", "uc-davis");
	static const char *const one[] = {"uc-davis"};
	char pid[64], ids[1][64];
	struct snap s;
	json_t *c;

	submitted_app(student, one, 1, pid, ids);
	snap_take(ids[0], &s);
	c = send_event(ids[0], davis, admit_2099, NULL, 409);
	cr_assert(has_string(json_object_get(c, "allowed"), "complete"));
	cr_assert(
	        has_string(json_object_get(c, "allowed"), "request_documents"));
	cr_assert(!has_string(json_object_get(c, "allowed"), "decide"));
	cr_assert(!has_string(json_object_get(c, "allowed"), "withdraw"));
	json_decref(c);
	snap_unchanged(ids[0], &s, "decide while received");
	c = send_event(ids[0], student, "{\"type\":\"intend_to_register\"}",
	               NULL, 409);
	cr_assert(has_string(json_object_get(c, "allowed"), "withdraw"));
	json_decref(c);
	snap_unchanged(ids[0], &s, "intend_to_register while received");
	/* an event the workflow does not know at all */
	json_decref(send_event(ids[0], davis, "{\"type\":\"graduate\"}", NULL,
	                       409));
	snap_unchanged(ids[0], &s, "an unknown event");
	free(s.data);

	snap_take(pid, &s);
	json_decref(
	        send_event(pid, student, "{\"type\":\"submit\"}", NULL, 409));
	snap_unchanged(pid, &s, "a second submit");
	free(s.data);
}

Test(examples, a_role_that_may_not_send_the_event_is_403)
{
	const char *student = token("student", "S171");
	const char *davis = token("admissions", "uc-davis");
	static const char *const one[] = {"uc-davis"};
	char pid[64], ids[1][64], draft[64];
	struct snap s;

	submitted_app(student, one, 1, pid, ids);
	snap_take(ids[0], &s);
	/* a student may not complete or decide their own application */
	json_decref(send_event(ids[0], student, "{\"type\":\"complete\"}", NULL,
	                       403));
	json_decref(send_event(ids[0], student,
	                       "{\"type\":\"request_documents\"}", NULL, 403));
	/* nor may an office withdraw for the student */
	json_decref(send_event(ids[0], davis, "{\"type\":\"withdraw\"}", NULL,
	                       403));
	/* nor may anyone send what only Cairn sends */
	json_decref(send_event(ids[0], davis,
	                       "{\"type\":\"timer.documents_due\"}", NULL,
	                       403));
	json_decref(send_event(pid, student, "{\"type\":\"children.settled\"}",
	                       NULL, 403));
	json_decref(send_event(pid, student, "{\"type\":\"child.admitted\"}",
	                       NULL, 403));
	snap_unchanged(ids[0], &s, "a refused role");
	free(s.data);
	expect_status(pid, "submitted");

	/* not even an admin may submit a student's application */
	draft_app(student, "[\"uc-davis\"]", draft);
	snap_take(draft, &s);
	json_decref(
	        send_event(draft, t.token, "{\"type\":\"submit\"}", NULL, 403));
	snap_unchanged(draft, &s, "admin sending submit");
	free(s.data);
	cr_assert_eq(count_cases("campus_application"), 1);
}

Test(examples, a_to_the_data_does_not_resolve_is_422)
{
	const char *student = token("student", "S172");
	const char *davis = token("admissions", "uc-davis");
	static const char *const one[] = {"uc-davis"};
	char pid[64], ids[1][64];
	struct snap s, sp;

	submitted_app(student, one, 1, pid, ids);
	move(ids[0], davis, "{\"type\":\"complete\"}", "under_review");
	snap_take(ids[0], &s);
	snap_take(pid, &sp);
	static const char *const bad[] = {
	        "{\"type\":\"decide\",\"data\":{\"decision\":\"maybe\"}}",
	        "{\"type\":\"decide\",\"data\":{}}",
	        "{\"type\":\"decide\"}",
	        "{\"type\":\"decide\",\"data\":{\"decision\":1}}",
	        "{\"type\":\"decide\",\"data\":{\"decision\":\"ADMIT\"}}",
	        /* an admit without the SIR deadline the example requires */
	        "{\"type\":\"decide\",\"data\":{\"decision\":\"admit\"}}",
	        "{\"type\":\"decide\",\"data\":{\"decision\":\"admit\","
	        "\"sir_deadline\":\"next spring\"}}",
	        "{\"type\":\"decide\",\"data\":{\"decision\":\"admit\","
	        "\"sir_deadline\":20990501}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_decref(send_event(ids[0], davis, bad[i], NULL, 422));
		snap_unchanged(ids[0], &s, bad[i]);
	}
	/* nothing reached the application either */
	snap_unchanged(pid, &sp, "a refused decision");
	free(s.data);
	free(sp.data);

	/* aid_file's review picks its path from `next` the same way */
	{
		const char *officer = token("aid_officer", "ucla-aid");
		char id[64];

		aid_file(officer, "S172", id);
		snap_take(id, &s);
		json_decref(send_event(id, officer,
		                       "{\"type\":\"review_isir\",\"data\":"
		                       "{\"next\":\"disburse\"}}",
		                       NULL, 422));
		snap_unchanged(id, &s, "review_isir next=disburse");
		free(s.data);
	}
}

Test(examples, data_that_is_not_an_object_is_422)
{
	const char *student = token("student", "S173");
	const char *davis = token("admissions", "uc-davis");
	static const char *const one[] = {"uc-davis"};
	char pid[64], ids[1][64];
	struct snap s;
	size_t before;

	submitted_app(student, one, 1, pid, ids);
	move(ids[0], davis, "{\"type\":\"complete\"}", "under_review");
	snap_take(ids[0], &s);
	static const char *const bad[] = {
	        "{\"type\":\"decide\",\"data\":[\"admit\"]}",
	        "{\"type\":\"decide\",\"data\":\"admit\"}",
	        "{\"type\":\"decide\",\"data\":1}",
	        "{\"type\":\"decide\",\"data\":true}",
	        "{\"type\":\"decide\",\"data\":{\"decision\":\"deny\"},"
	        "\"extra\":1}",
	        "{\"data\":{\"decision\":\"deny\"}}",
	        "{\"type\":7,\"data\":{\"decision\":\"deny\"}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_decref(send_event(ids[0], davis, bad[i], NULL, 422));
		snap_unchanged(ids[0], &s, bad[i]);
	}
	free(s.data);

	/* a case's data must be an object too */
	before = count_cases("student_application");
	json_decref(call_json("POST", "/v1/cases", student,
	                      "{\"workflow\":\"student_application\",\"data\":"
	                      "[\"uc-davis\"]}",
	                      NULL, 422));
	json_decref(call_json("POST", "/v1/cases", student,
	                      "{\"workflow\":\"student_application\",\"data\":"
	                      "\"uc-davis\"}",
	                      NULL, 422));
	cr_assert_eq(count_cases("student_application"), before);
}

Test(examples, a_case_of_an_unknown_workflow_is_422)
{
	const char *student = token("student", "S174");
	const char *officer = token("aid_officer", "ucla-aid");
	json_t *c;

	c = call_json("POST", "/v1/cases", student,
	              "{\"workflow\":\"graduate_application\",\"data\":{}}",
	              NULL, 422);
	cr_assert(detail_has(c, "graduate_application"),
	          "the error does not name the workflow: %s",
	          jstr(c, "detail"));
	json_decref(c);
	json_decref(call_json("POST", "/v1/cases", officer,
	                      "{\"workflow\":\"Aid_File\",\"subject\":\"S174\","
	                      "\"data\":{\"office\":\"ucla-aid\"}}",
	                      NULL, 422));
	json_decref(call_json("POST", "/v1/cases", student,
	                      "{\"data\":{\"campuses\":[\"uc-davis\"]}}", NULL,
	                      422));
	/* under an Idempotency-Key, nothing is kept that a good retry
	 * would replay */
	json_decref(call_json("POST", "/v1/cases", student,
	                      "{\"workflow\":\"nope\"}", "unknown-wf", 422));
	c = call_json("GET", "/v1/cases", t.token, NULL, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(c, "cases")), 0);
	json_decref(c);
}

Test(examples, a_spawn_list_that_is_not_a_list_of_campuses_is_422)
{
	const char *student = token("student", "S175");
	static const char *const bad[] = {
	        "\"uc-davis\"",     "{\"uc-davis\":true}", "null",
	        "[\"uc-davis\",7]", "[\"uc-davis\",\"\"]",
	};
	char id[64];
	struct snap s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *c;

		char path[128];
		struct resp r;

		draft_app(student, bad[i], id);
		snap_take(id, &s);
		/* the guard (application_complete) refuses most of them with
		 * its reason (409); what passes it, the engine refuses (422) */
		snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
		cr_assert_eq(http_do(&t, "POST", path, student,
		                     "application/json",
		                     "{\"type\":\"submit\"}", 17, &r),
		             0);
		cr_assert(r.status == 409 || r.status == 422, "%s: got %d %s",
		          bad[i], r.status, r.body);
		c = json_loads(r.body, 0, NULL);
		cr_assert(detail_has(c, "campus"),
		          "the error does not name the field: %s", r.body);
		json_decref(c);
		resp_free(&r);
		snap_unchanged(id, &s, bad[i]);
		free(s.data);
		cr_assert_eq(count_cases("campus_application"), 0,
		             "a child was made for %s", bad[i]);
	}
	/* no campuses chosen at all */
	{
		json_t *c = call_json(
		        "POST", "/v1/cases", student,
		        "{\"workflow\":\"student_application\",\"data\":{}}",
		        NULL, 201);

		snprintf(id, sizeof(id), "%s", jstr(c, "id"));
		json_decref(c);
		snap_take(id, &s);
		/* the guard says what is missing */
		c = send_event(id, student, "{\"type\":\"submit\"}", NULL, 409);
		cr_assert(detail_has(c, "no campuses"), "%s",
		          jstr(c, "detail"));
		json_decref(c);
		snap_unchanged(id, &s, "no campuses");
		free(s.data);
	}
	cr_assert_eq(count_cases("campus_application"), 0);
}

/*
 * Issue 3, "Bad input": "a spawn list that is not a list or names an
 * unknown campus ... gets a clear error and changes nothing", and
 * examples/campuses.yaml is "read by wf_campuses_load(); a spawn over a
 * case's `campuses` list names these ids". A submit naming a campus that
 * is not in the list must be 422 with no child made.
 */
Test(examples, a_spawn_list_naming_an_unknown_campus_is_422)
{
	const char *student = token("student", "S176");
	char id[64];
	struct snap s;

	json_t *c;

	draft_app(student, "[\"uc-davis\",\"uc-hogwarts\"]", id);
	snap_take(id, &s);
	c = send_event(id, student, "{\"type\":\"submit\"}", NULL, 422);
	cr_assert(detail_has(c, "uc-hogwarts"),
	          "the error does not name the campus: %s", jstr(c, "detail"));
	json_decref(c);
	snap_unchanged(id, &s, "a submit naming uc-hogwarts");
	free(s.data);
	cr_assert_eq(count_cases("campus_application"), 0);
}

/*
 * A case looks the same whether it comes back from an event or from a
 * read: one type per field (terminal is a boolean), children in spawn-key
 * order with the same members.
 */
Test(examples, children_look_the_same_from_an_event_and_from_a_read)
{
	const char *student = token("student", "S180");
	const char *davis = token("admissions", "uc-davis");
	static const char *const two[] = {"uc-davis", "uc-merced"};
	char pid[64], ids[2][64];
	json_t *after, *read, *k;
	size_t i;

	submitted_app(student, two, 2, pid, ids);
	move(ids[0], davis, "{\"type\":\"complete\"}", "under_review");
	move(ids[0], davis,
	     "{\"type\":\"decide\",\"data\":{\"decision\":\"refer\"}}",
	     "referral_offered");
	/* the student withdraws the application: its answer lists the
	 * children, one of them final */
	after = send_event(pid, student, "{\"type\":\"withdraw\"}", NULL, 200);
	read = get_case(pid, student);
	cr_assert_eq(json_array_size(json_object_get(after, "children")), 2);
	json_array_foreach(json_object_get(read, "children"), i, k)
	{
		json_t *a = NULL, *e;
		size_t j;

		json_array_foreach(json_object_get(after, "children"), j, e)
		{
			if (!strcmp(jstr(e, "id"), jstr(k, "id")))
				a = e;
		}
		cr_assert_not_null(a);
		cr_assert_str_eq(jstr(a, "status"), jstr(k, "status"));
		cr_assert_eq(is_set(json_object_get(a, "terminal")),
		             is_set(json_object_get(k, "terminal")));
		cr_expect_eq(json_typeof(json_object_get(a, "terminal")),
		             json_typeof(json_object_get(k, "terminal")),
		             "child %s: `terminal` is %s in the event's answer "
		             "but %s in GET /v1/cases/{id}",
		             jstr(k, "spawn_key"),
		             json_is_boolean(json_object_get(a, "terminal"))
		                     ? "a boolean"
		                     : "not a boolean",
		             json_is_integer(json_object_get(k, "terminal"))
		                     ? "an integer"
		                     : "not an integer");
	}
	json_decref(after);
	json_decref(read);
}
