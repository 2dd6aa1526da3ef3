/*
 * test_queues.c: review queues in a real cairnd over HTTP: sixteen
 * officers claiming a thousand files at once and never the same one,
 * queue order, leases that renew, release and run out under the test
 * clock (and say so in the history), decisions held back for the lease
 * holder, and every refusal with its status.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct td t;

/* An aid office's review: a queue with an SLA, a faster lane in the same
 * queue, decisions only an officer sends, and an event of the
 * student's own. */
static const char review_wf[] =
        "name: review\n"
        "description: an aid file an officer reviews\n"
        "statuses:\n"
        "  queued: {initial: true, queue: aid_review, sla: 3d}\n"
        "  urgent: {queue: aid_review, sla: 1h}\n"
        "  approved: {terminal: true}\n"
        "  denied: {terminal: true}\n"
        "transitions:\n"
        "  - on: decide\n"
        "    from: [queued, urgent]\n"
        "    to: {field: decision, cases: {approve: approved, deny: "
        "denied}}\n"
        "    roles: [aid_officer]\n"
        "  - on: escalate\n"
        "    from: queued\n"
        "    to: urgent\n"
        "    roles: [aid_officer]\n"
        "  - on: add_note\n"
        "    from: [queued, urgent]\n"
        "    to: queued\n"
        "    roles: [student]\n";

/* A queue admissions works, to be refused to aid officers. */
static const char intake_wf[] =
        "name: intake\n"
        "description: a campus's intake\n"
        "statuses:\n"
        "  received: {initial: true, queue: admissions_intake}\n"
        "  done: {terminal: true}\n"
        "transitions:\n"
        "  - on: finish\n"
        "    from: received\n"
        "    to: done\n"
        "    roles: [admissions]\n";

/* A calendar whose one deadline is tomorrow (UTC's date), for an award
 * year far off so only a case that names it uses it. */
static void
write_calendar(void)
{
	char path[600], date[16];
	time_t now = time(NULL) + 86400;
	struct tm tm;
	FILE *f;

	snprintf(path, sizeof(path), "%s/defs/deadlines", t.dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/defs/deadlines/2030-31.yaml", t.dir);
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f,
	        "award_year: 2030-31\n"
	        "time_zone: America/Los_Angeles\n"
	        "deadlines:\n"
	        "  soon: {date: %s, description: tomorrow}\n",
	        date);
	fclose(f);
}

static void
setup(void)
{
	td_start(&t, "queues:\n  deadlines: defs/deadlines\n");
	td_write_workflow(&t, "review", review_wf);
	td_write_workflow(&t, "intake", intake_wf);
	write_calendar();
	cr_assert_eq(td_stop(&t), 0);
	td_restart_args(&t, "--test-clock");
}

static void
teardown(void)
{
	td_cleanup(&t);
}

TestSuite(queues, .init = setup, .fini = teardown, .timeout = 120);

#define call_json(m, p, tok, b, want) td_call(&t, m, p, tok, b, NULL, want)

/* The token id ("tok_...") behind a token. */
static void
token_id(const char *tok, char out[40])
{
	json_t *j = call_json("GET", "/v1/whoami", tok, NULL, 200);

	snprintf(out, 40, "%s",
	         json_string_value(json_object_get(j, "token_id")));
	json_decref(j);
}

/* Opens a review file for student at the officer's office. */
static void
open_file(const char *officer, const char *student, int priority, char id[64])
{
	char body[256];
	json_t *j;

	snprintf(body, sizeof(body),
	         "{\"workflow\":\"review\",\"subject\":\"%s\","
	         "\"data\":{\"priority\":%d}}",
	         student, priority);
	j = call_json("POST", "/v1/cases", officer, body, 201);
	snprintf(id, 64, "%s", json_string_value(json_object_get(j, "id")));
	json_decref(j);
}

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Whether the case's history holds an event of this type. */
static int
history_has(const char *id, const char *type)
{
	char path[160];
	json_t *h, *e;
	size_t i;
	int found = 0;

	snprintf(path, sizeof(path), "/v1/cases/%s/history", id);
	h = call_json("GET", path, t.token, NULL, 200);
	json_array_foreach(json_object_get(h, "events"), i, e)
	{
		if (!strcmp(jstr(e, "type"), type))
			found = 1;
	}
	json_decref(h);
	return found;
}

/* --- sixteen claimers, a thousand files -------------------------------- */

#define NFILES    1000
#define NCLAIMERS 16
#define NOPENERS  8

struct opener {
	const char *tok;
	int first, n;
	int failures;
};

static void *
open_many(void *arg)
{
	struct opener *o = arg;

	for (int i = o->first; i < o->first + o->n; i++) {
		char body[200];
		struct resp r;

		snprintf(body, sizeof(body),
		         "{\"workflow\":\"review\",\"subject\":\"S%04d\"}", i);
		if (http_do(&t, "POST", "/v1/cases", o->tok, "application/json",
		            body, strlen(body), &r) != 0 ||
		    r.status != 201) {
			fprintf(stderr, "open: %d %s\n", r.status,
			        r.body ? r.body : "");
			o->failures++;
		}
		if (r.body != NULL)
			resp_free(&r);
	}
	return NULL;
}

struct claimer {
	const char *tok;
	char (*ids)[40];
	int n, cap;
	int errors;
};

static void *
claim_all(void *arg)
{
	struct claimer *c = arg;

	for (;;) {
		struct resp r;
		json_t *j;

		if (http_do(&t, "POST", "/v1/queues/aid_review/claim?for=30m",
		            c->tok, NULL, NULL, 0, &r) != 0) {
			c->errors++;
			return NULL;
		}
		if (r.status == 204) {
			resp_free(&r);
			return NULL;
		}
		if (r.status != 200) {
			c->errors++;
			resp_free(&r);
			return NULL;
		}
		j = json_loadb(r.body, r.body_len, 0, NULL);
		resp_free(&r);
		if (c->n < c->cap)
			snprintf(c->ids[c->n++], 40, "%s",
			         jstr(json_object_get(j, "lease"), "case_id"));
		json_decref(j);
	}
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

Test(queues, concurrent_claims_never_share_a_file)
{
	const char *opener_tok = td_token(&t, "aid_officer", "fresno");
	struct opener op[NOPENERS];
	struct claimer cl[NCLAIMERS];
	pthread_t th[NCLAIMERS];
	char(*all)[40] = calloc(NFILES + NCLAIMERS, 40);
	char tok[NCLAIMERS][128];
	int total = 0;
	json_t *q;

	for (int i = 0; i < NOPENERS; i++) {
		op[i] = (struct opener){opener_tok, i * (NFILES / NOPENERS),
		                        NFILES / NOPENERS, 0};
		pthread_create(&th[i], NULL, open_many, &op[i]);
	}
	for (int i = 0; i < NOPENERS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(op[i].failures, 0);
	}
	/* one token each: sixteen officers of one office */
	for (int i = 0; i < NCLAIMERS; i++)
		snprintf(tok[i], sizeof(tok[i]), "%s",
		         td_token(&t, "aid_officer", "fresno"));
	for (int i = 0; i < NCLAIMERS; i++) {
		cl[i] = (struct claimer){tok[i], calloc(NFILES, 40), 0, NFILES,
		                         0};
		pthread_create(&th[i], NULL, claim_all, &cl[i]);
	}
	for (int i = 0; i < NCLAIMERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NCLAIMERS; i++) {
		cr_assert_eq(cl[i].errors, 0, "claimer %d had errors", i);
		memcpy(all[total], cl[i].ids, (size_t)cl[i].n * 40);
		total += cl[i].n;
		free(cl[i].ids);
	}
	cr_assert_eq(total, NFILES, "%d files claimed, want %d", total, NFILES);
	qsort(all, (size_t)total, 40, cmp_id);
	for (int i = 1; i < total; i++)
		cr_assert_neq(strcmp(all[i - 1], all[i]), 0,
		              "file %s was claimed twice", all[i]);
	free(all);
	/* and the summary agrees: every file claimed */
	q = call_json("GET", "/v1/queues", tok[0], NULL, 200);
	cr_assert_eq(json_integer_value(json_object_get(
	                     json_array_get(json_object_get(q, "queues"), 0),
	                     "claimed")),
	             NFILES);
	json_decref(q);
}

/* --- order, leases, decisions ------------------------------------------- */

Test(queues, order_is_deadline_then_priority_then_age)
{
	const char *off = td_token(&t, "aid_officer", "fresno");
	char a[64], b[64], c[64], d[64];
	char path[160];
	json_t *q, *items;

	open_file(off, "S1", 0, a);
	open_file(off, "S2", 5, b);
	open_file(off, "S3", 0, c);
	open_file(off, "S4", 0, d);
	/* d moves to the one-hour lane: due first */
	snprintf(path, sizeof(path), "/v1/cases/%s/events", d);
	json_decref(
	        call_json("POST", path, off, "{\"type\":\"escalate\"}", 200));
	q = call_json("GET", "/v1/queues/aid_review", off, NULL, 200);
	items = json_object_get(q, "items");
	cr_assert_eq(json_array_size(items), 4);
	cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), d);
	cr_assert_str_eq(jstr(json_array_get(items, 1), "id"), b);
	cr_assert_str_eq(jstr(json_array_get(items, 2), "id"), a);
	cr_assert_str_eq(jstr(json_array_get(items, 3), "id"), c);
	cr_assert(json_integer_value(json_object_get(json_array_get(items, 0),
	                                             "time_left_ms")) <=
	          3600 * 1000);
	json_decref(q);
	/* and claims follow the same order */
	q = call_json("POST", "/v1/queues/aid_review/claim", off, NULL, 200);
	cr_assert_str_eq(jstr(json_object_get(q, "lease"), "case_id"), d);
	cr_assert_str_eq(jstr(json_object_get(q, "case"), "id"), d);
	json_decref(q);
	q = call_json("POST", "/v1/queues/aid_review/claim", off, NULL, 200);
	cr_assert_str_eq(jstr(json_object_get(q, "lease"), "case_id"), b);
	json_decref(q);
}

Test(queues, only_the_holder_decides_renews_and_releases)
{
	const char *ana = td_token(&t, "aid_officer", "fresno");
	const char *ben = td_token(&t, "aid_officer", "fresno");
	const char *student = td_token(&t, "student", "S9");
	char id[64], path[160], ana_id[40];
	json_t *j;

	token_id(ana, ana_id);
	open_file(ana, "S9", 0, id);
	j = call_json("POST", "/v1/queues/aid_review/claim", ana, NULL, 200);
	cr_assert_str_eq(jstr(json_object_get(j, "lease"), "holder"), ana_id);
	json_decref(j);

	/* Ben may not decide, renew or release Ana's file */
	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	j = call_json("POST", path, ben,
	              "{\"type\":\"decide\",\"data\":{\"decision\":"
	              "\"approve\"}}",
	              409);
	cr_assert_str_eq(jstr(j, "holder"), ana_id);
	cr_assert(json_is_integer(json_object_get(j, "until")));
	json_decref(j);
	snprintf(path, sizeof(path), "/v1/cases/%s/lease", id);
	json_decref(call_json("POST", path, ben, NULL, 409));
	json_decref(call_json("DELETE", path, ben, NULL, 409));
	/* nothing moved */
	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	j = call_json("GET", path, ben, NULL, 200);
	cr_assert_str_eq(jstr(j, "status"), "queued");
	cr_assert_str_eq(jstr(json_object_get(j, "lease"), "holder"), ana_id);
	json_decref(j);

	/* the student's own event is not held back by the lease */
	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	json_decref(call_json("POST", path, student, "{\"type\":\"add_note\"}",
	                      200));

	/* Ana renews, then decides: the lease ends with the queue */
	snprintf(path, sizeof(path), "/v1/cases/%s/lease?for=1h", id);
	j = call_json("POST", path, ana, NULL, 200);
	cr_assert_str_eq(jstr(j, "holder"), ana_id);
	json_decref(j);
	snprintf(path, sizeof(path), "/v1/cases/%s/lease?for=1000d", id);
	json_decref(call_json("POST", path, ana, NULL, 422));
	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	json_decref(call_json("POST", path, ana,
	                      "{\"type\":\"decide\",\"data\":{\"decision\":"
	                      "\"approve\"}}",
	                      200));
	snprintf(path, sizeof(path), "/v1/cases/%s/lease", id);
	json_decref(call_json("DELETE", path, ana, NULL, 409));
}

Test(queues, release_puts_the_file_back)
{
	const char *ana = td_token(&t, "aid_officer", "fresno");
	const char *ben = td_token(&t, "aid_officer", "fresno");
	char id[64], path[160];
	json_t *j;

	open_file(ana, "S5", 0, id);
	json_decref(call_json("POST", "/v1/queues/aid_review/claim", ana, NULL,
	                      200));
	json_decref(call_json("POST", "/v1/queues/aid_review/claim", ben, NULL,
	                      204));
	snprintf(path, sizeof(path), "/v1/cases/%s/lease", id);
	json_decref(call_json("DELETE", path, ana, NULL, 204));
	json_decref(call_json("DELETE", path, ana, NULL, 409));
	j = call_json("POST", "/v1/queues/aid_review/claim", ben, NULL, 200);
	cr_assert_str_eq(jstr(json_object_get(j, "lease"), "case_id"), id);
	json_decref(j);
	/* an admin may break a stuck lease */
	json_decref(call_json("DELETE", path, t.token, NULL, 204));
}

Test(queues, an_expired_lease_comes_back_and_is_recorded)
{
	const char *ana = td_token(&t, "aid_officer", "fresno");
	const char *ben = td_token(&t, "aid_officer", "fresno");
	char id[64], path[160];
	json_t *j = NULL;
	int back = 0;

	open_file(ana, "S6", 0, id);
	json_decref(call_json("POST", "/v1/queues/aid_review/claim?for=5m", ana,
	                      NULL, 200));
	json_decref(call_json("POST", "/v1/clock", t.token,
	                      "{\"advance\":\"6m\"}", 200));
	/* the lease timer puts it back: poll, the machine may be busy */
	for (int i = 0; i < 400 && !back; i++) {
		struct resp r;

		cr_assert_eq(http_do(&t, "POST", "/v1/queues/aid_review/claim",
		                     ben, NULL, NULL, 0, &r),
		             0);
		if (r.status == 200) {
			j = json_loadb(r.body, r.body_len, 0, NULL);
			back = 1;
		} else {
			cr_assert_eq(r.status, 204, "%d %s", r.status, r.body);
			usleep(25000);
		}
		resp_free(&r);
	}
	cr_assert(back, "the expired lease did not come back");
	cr_assert_str_eq(jstr(json_object_get(j, "lease"), "case_id"), id);
	json_decref(j);
	cr_assert(history_has(id, "lease.expired"));
	/* Ana's old lease is gone: she can no longer renew it */
	snprintf(path, sizeof(path), "/v1/cases/%s/lease", id);
	json_decref(call_json("POST", path, ana, NULL, 409));
}

Test(queues, bad_claims_are_refused)
{
	const char *aid = td_token(&t, "aid_officer", "fresno");
	const char *adm = td_token(&t, "admissions", "uc-davis");
	const char *student = td_token(&t, "student", "S1");
	char id[64], path[160];

	open_file(aid, "S7", 0, id);
	json_decref(call_json("POST", "/v1/queues/no_such_queue/claim", aid,
	                      NULL, 404));
	/* admissions does not work the aid queue, nor aid the intake */
	json_decref(call_json("POST", "/v1/queues/aid_review/claim", adm, NULL,
	                      403));
	json_decref(call_json("POST", "/v1/queues/admissions_intake/claim", aid,
	                      NULL, 403));
	json_decref(call_json("POST", "/v1/queues/aid_review/claim", student,
	                      NULL, 403));
	/* an admin names the office */
	json_decref(call_json("POST", "/v1/queues/aid_review/claim", t.token,
	                      NULL, 422));
	json_decref(call_json("POST", "/v1/queues/aid_review/claim?for=xyz",
	                      aid, NULL, 422));
	json_decref(call_json("POST", "/v1/queues/aid_review/claim?bogus=1",
	                      aid, NULL, 400));
	json_decref(call_json("GET", "/v1/queues/aid_review?limit=%2", aid,
	                      NULL, 400));
	json_decref(call_json("GET", "/v1/queues/aid_review?limit=%zz", aid,
	                      NULL, 400));
	json_decref(call_json("GET", "/v1/queues/aid_review?limit=5000", aid,
	                      NULL, 400));
	/* another office's officer sees nothing to claim, nor the case */
	json_decref(call_json("POST", "/v1/queues/aid_review/claim",
	                      td_token(&t, "aid_officer", "merced"), NULL,
	                      204));
	snprintf(path, sizeof(path), "/v1/cases/%s/lease", id);
	json_decref(call_json("POST", path,
	                      td_token(&t, "aid_officer", "merced"), NULL,
	                      404));
	/* nothing was leased by any of it */
	json_decref(call_json("POST", path, aid, NULL, 409));
	json_decref(call_json("POST",
	                      "/v1/queues/aid_review/claim?office=fresno",
	                      t.token, NULL, 200));
}

/* The office's open alerts of one kind (polled: timers fire on their
 * own). */
static int
wait_alert(const char *tok, const char *kind, int want)
{
	for (int i = 0; i < 400; i++) {
		json_t *j = call_json("GET", "/v1/alerts", tok, NULL, 200), *a;
		size_t k;
		int n = 0;

		json_array_foreach(json_object_get(j, "alerts"), k, a)
		{
			if (!strcmp(jstr(a, "kind"), kind))
				n++;
		}
		json_decref(j);
		if (n == want)
			return 1;
		usleep(25000);
	}
	return 0;
}

static void
advance(const char *by)
{
	char body[64];

	snprintf(body, sizeof(body), "{\"advance\":\"%s\"}", by);
	json_decref(call_json("POST", "/v1/clock", t.token, body, 200));
}

Test(queues, the_sla_ladder_warns_alerts_and_escalates)
{
	const char *off = td_token(&t, "aid_officer", "fresno");
	char id[64], path[160];
	json_t *l;

	open_file(off, "S8", 0, id);
	cr_assert(wait_alert(off, "sla_warning", 0));
	advance("2881m"); /* due in 3d: a day before, a warning */
	cr_assert(wait_alert(off, "sla_warning", 1), "no warning");
	cr_assert(wait_alert(off, "sla_breached", 0));
	advance("1d"); /* due: an alert */
	cr_assert(wait_alert(off, "sla_breached", 1), "no breach alert");
	advance("1d"); /* a day late: the supervisor's */
	cr_assert(wait_alert(off, "sla_escalated", 1), "no escalation");
	cr_assert(history_has(id, "sla.due"));
	l = call_json("GET", "/v1/alerts",
	              td_token(&t, "aid_officer", "merced"), NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(l, "alerts")), 0);
	json_decref(l);
	/* deciding ends the SLA: its alerts resolve with the status */
	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	json_decref(call_json("POST", path, off,
	                      "{\"type\":\"decide\",\"data\":{\"decision\":"
	                      "\"deny\"}}",
	                      200));
	l = call_json("GET", "/v1/alerts", off, NULL, 200);
	cr_assert_eq(json_array_size(json_object_get(l, "alerts")), 0);
	json_decref(l);
}

Test(queues, a_named_deadline_comes_before_the_sla)
{
	const char *off = td_token(&t, "aid_officer", "fresno");
	char a[64], b[64];
	json_t *q, *cal, *j;
	json_int_t at = 0;
	size_t i;

	open_file(off, "S10", 0, a);
	j = call_json("POST", "/v1/cases", off,
	              "{\"workflow\":\"review\",\"subject\":\"S11\","
	              "\"data\":{\"deadline\":\"soon\",\"award_year\":"
	              "\"2030-31\"}}",
	              201);
	snprintf(b, sizeof(b), "%s", jstr(j, "id"));
	json_decref(j);
	cal = call_json("GET", "/v1/calendars", off, NULL, 200);
	json_array_foreach(json_object_get(cal, "calendars"), i, j)
	{
		if (!strcmp(jstr(j, "award_year"), "2030-31"))
			at = json_integer_value(json_object_get(
			        json_array_get(json_object_get(j, "deadlines"),
			                       0),
			        "at"));
	}
	json_decref(cal);
	cr_assert(at > 0);
	/* b is due at tomorrow's deadline, before a's three days */
	q = call_json("GET", "/v1/queues/aid_review", off, NULL, 200);
	cr_assert_str_eq(
	        jstr(json_array_get(json_object_get(q, "items"), 0), "id"), b);
	cr_assert_eq(json_integer_value(json_object_get(
	                     json_array_get(json_object_get(q, "items"), 0),
	                     "due_at")),
	             at);
	cr_assert_str_eq(
	        jstr(json_array_get(json_object_get(q, "items"), 1), "id"), a);
	json_decref(q);
}

Test(queues, leases_survive_a_restart_and_still_run_out)
{
	const char *ana = td_token(&t, "aid_officer", "fresno");
	const char *ben = td_token(&t, "aid_officer", "fresno");
	char id[64];
	json_t *j = NULL;
	int back = 0;

	open_file(ana, "S12", 0, id);
	json_decref(call_json("POST", "/v1/queues/aid_review/claim?for=10m",
	                      ana, NULL, 200));
	cr_assert_eq(td_stop(&t), 0);
	td_restart_args(&t, "--test-clock");
	/* still Ana's after the restart */
	json_decref(call_json("POST", "/v1/queues/aid_review/claim", ben, NULL,
	                      204));
	advance("11m");
	for (int i = 0; i < 400 && !back; i++) {
		struct resp r;

		cr_assert_eq(http_do(&t, "POST", "/v1/queues/aid_review/claim",
		                     ben, NULL, NULL, 0, &r),
		             0);
		if (r.status == 200) {
			j = json_loadb(r.body, r.body_len, 0, NULL);
			back = 1;
		} else {
			usleep(25000);
		}
		resp_free(&r);
	}
	cr_assert(back, "the lease did not run out after the restart");
	cr_assert_str_eq(jstr(json_object_get(j, "lease"), "case_id"), id);
	json_decref(j);
}

Test(queues, an_office_roster_limits_claims_and_its_supervisor_frees_files)
{
	const char *ana = td_token(&t, "aid_officer", "fresno");
	const char *ben = td_token(&t, "aid_officer", "fresno");
	const char *sue = td_token(&t, "aid_officer", "fresno");
	char ana_id[40], sue_id[40], id[64], body[200], path[160];
	json_t *j;

	token_id(ana, ana_id);
	token_id(sue, sue_id);
	open_file(ana, "S13", 0, id);
	snprintf(body, sizeof(body),
	         "{\"staff\":[\"%s\"],\"supervisor\":\"%s\"}", ana_id, sue_id);
	json_decref(call_json("PUT", "/v1/offices/fresno", t.token, body, 200));
	json_decref(call_json("PUT", "/v1/offices/fresno", t.token,
	                      "{\"staff\":[\"ana\"]}", 422));
	json_decref(call_json("PUT", "/v1/offices/fresno", ana,
	                      "{\"staff\":[]}", 403));
	/* Ben is not on the roster */
	json_decref(call_json("POST", "/v1/queues/aid_review/claim", ben, NULL,
	                      403));
	json_decref(call_json("POST", "/v1/queues/aid_review/claim", ana, NULL,
	                      200));
	j = call_json("GET", "/v1/offices/fresno", ana, NULL, 200);
	cr_assert_str_eq(jstr(j, "supervisor"), sue_id);
	cr_assert_eq(json_array_size(json_object_get(j, "staff")), 1);
	cr_assert_str_eq(
	        jstr(json_array_get(json_object_get(j, "leases"), 0), "holder"),
	        ana_id);
	json_decref(j);
	json_decref(call_json("GET", "/v1/offices/merced", ana, NULL, 404));
	/* Ben may not free Ana's file; the supervisor may */
	snprintf(path, sizeof(path), "/v1/cases/%s/lease", id);
	json_decref(call_json("DELETE", path, ben, NULL, 409));
	json_decref(call_json("POST", path, sue, NULL, 409));
	json_decref(call_json("DELETE", path, sue, NULL, 204));
	/* and the supervisor claims, roster or not */
	json_decref(call_json("POST", "/v1/queues/aid_review/claim", sue, NULL,
	                      200));
	/* without a roster Ben claims again at once (nothing left: 204) */
	json_decref(call_json("PUT", "/v1/offices/fresno", t.token,
	                      "{\"staff\":[]}", 200));
	json_decref(call_json("POST", "/v1/queues/aid_review/claim", ben, NULL,
	                      204));
}

Test(queues, the_cli_claims_and_releases)
{
	const char *ana = td_token(&t, "aid_officer", "fresno");
	char id[64], out[4096], base[600];
	int st;

	open_file(ana, "S14", 0, id);
	snprintf(base, sizeof(base), "%s --url http://127.0.0.1:%d --token %s",
	         td_bin("cairn"), t.port, ana);
	st = run_cmd(out, sizeof(out), "%s queue", base);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "aid_review") != NULL, "%s", out);
	st = run_cmd(out, sizeof(out), "%s queue aid_review", base);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, id) != NULL, "%s", out);
	st = run_cmd(out, sizeof(out), "%s claim aid_review --for 20m", base);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, id) != NULL, "%s", out);
	/* nothing left: exit 1, said plainly */
	st = run_cmd(out, sizeof(out), "%s claim aid_review", base);
	cr_assert_eq(st, 1, "%s", out);
	cr_assert(strstr(out, "nothing to claim") != NULL, "%s", out);
	st = run_cmd(out, sizeof(out), "%s renew %s --for 1h", base, id);
	cr_assert_eq(st, 0, "%s", out);
	st = run_cmd(out, sizeof(out), "%s release %s", base, id);
	cr_assert_eq(st, 0, "%s", out);
	st = run_cmd(out, sizeof(out), "%s release %s", base, id);
	cr_assert_eq(st, 1, "%s", out);
	st = run_cmd(out, sizeof(out), "%s claim no_such_queue", base);
	cr_assert_eq(st, 1, "%s", out);
	st = run_cmd(out, sizeof(out), "%s claim", base);
	cr_assert_eq(st, 2, "%s", out);
	st = run_cmd(out, sizeof(out), "%s alerts --state bogus", base);
	cr_assert_eq(st, 1, "%s", out);
	st = run_cmd(out, sizeof(out), "%s ack x1", base);
	cr_assert_eq(st, 2, "%s", out);
}
