/*
 * test_adapters_int.c: the outbox worker and the callbacks against a real
 * cairnd and the mock institution (build/cairn-mock-institution): calls
 * arrive exactly once, with faults and across a SIGKILL; a reply's event
 * reaches the case; garbage and huge replies, permanent failures, dead
 * letters and redrive; the breaker; signed callbacks good and bad; and the
 * loop answering /healthz while the institution is slow.
 *
 * The fault test sends the 10,000 calls (about 9 s here), 2,000
 * under AddressSanitizer (make check); CAIRN_ADAPTER_CALLS overrides.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../adapters/adapter.h"
#include "../common/cairn.h"
#include "../store/store.h"
#include "harness.h"

#define SECRET "test-callback-secret"

struct mockp {
	pid_t pid;
	struct td t; /* only .port is used, for http_do */
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
mock_start(struct mockp *m, const char *dir)
{
	char pf[512];
	FILE *f;

	memset(m, 0, sizeof(*m));
	snprintf(pf, sizeof(pf), "%s/mock.port", dir);
	unlink(pf);
	m->pid = fork();
	cr_assert(m->pid >= 0);
	if (m->pid == 0) {
		char lg[512];
		int fd;

		snprintf(lg, sizeof(lg), "%s/mock.log", dir);
		fd = open(lg, O_WRONLY | O_CREAT | O_APPEND, 0600);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(td_bin("cairn-mock-institution"),
		      "cairn-mock-institution", "--port", "0", "--port-file",
		      pf, "--hang-ms", "2000", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 400; i++) {
		f = fopen(pf, "r");
		if (f != NULL) {
			cr_assert(fscanf(f, "%d", &m->t.port) == 1);
			fclose(f);
			return;
		}
		cairn_sleep_ms(25);
	}
	cr_assert_fail("the mock institution did not start");
}

static void
mock_stop(struct mockp *m)
{
	if (m->pid > 0) {
		kill(m->pid, SIGKILL);
		waitpid(m->pid, NULL, 0);
		m->pid = 0;
	}
}

static json_t *
mock_call(struct mockp *m, const char *method, const char *path,
          const char *body)
{
	return td_call(&m->t, method, path, NULL, body, NULL, 200);
}

static json_int_t
mock_stat(struct mockp *m, const char *what)
{
	json_t *j = mock_call(m, "GET", "/_mock/stats", NULL);
	json_int_t v = json_integer_value(json_object_get(j, what));

	json_decref(j);
	return v;
}

static const char workflow[] =
        "name: app\n"
        "description: one call, its reply, a decision by callback\n"
        "statuses:\n"
        "  new:\n"
        "    initial: true\n"
        "    on_enter:\n"
        "      - call: {adapter: inst, operation: send}\n"
        "  sent: {description: sent}\n"
        "  decided: {terminal: true}\n"
        "  failed: {terminal: true}\n"
        "transitions:\n"
        "  - on: complete\n"
        "    from: new\n"
        "    to: sent\n"
        "    roles: [institution]\n"
        "    actions:\n"
        "      - set: {reference: $event.reference}\n"
        "  - on: decide\n"
        "    from: sent\n"
        "    to: decided\n"
        "    roles: [institution]\n"
        "  - on: call_failed\n"
        "    from: [new, sent]\n"
        "    to: failed\n";

/* The adapter the tests use; extra is appended (YAML at the top level). */
static void
write_defs(const struct td *t, int mock_port, const char *adapter_extra,
           int concurrency)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/defs/adapters", t->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/defs/workflows/app.yaml", t->dir);
	f = fopen(path, "w");
	cr_assert(f != NULL);
	fputs(workflow, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/defs/adapters/inst.yaml", t->dir);
	f = fopen(path, "w");
	cr_assert(f != NULL);
	fprintf(f,
	        "name: inst\n"
	        "base_url: http://127.0.0.1:%d/uc\n"
	        "concurrency: %d\n"
	        "callbacks: {secret: {env: CAIRN_TEST_CB_SECRET}}\n"
	        "%s"
	        "operations:\n"
	        "  send:\n"
	        "    method: POST\n"
	        "    path: /applications\n"
	        "    body: {id: $case_id, who: $data.who}\n"
	        "    response:\n"
	        "      event: $response.next\n"
	        "      events: [complete]\n"
	        "      data: {reference: $response.reference}\n"
	        "  bulk:\n"
	        "    method: POST\n"
	        "    path: /bulk/${case_id}\n"
	        "    body: $payload\n",
	        mock_port, concurrency, adapter_extra ? adapter_extra : "");
	fclose(f);
	snprintf(path, sizeof(path), "%s", t->cfg);
	f = fopen(path, "w");
	cr_assert(f != NULL);
	fprintf(f,
	        "listen: 127.0.0.1:%d\n"
	        "database: var/cairn.db\n"
	        "definitions:\n"
	        "  workflows: [defs/workflows]\n"
	        "  rules: []\n"
	        "  adapters: [defs/adapters]\n"
	        "  campuses: %s/examples/campuses.yaml\n"
	        "log_level: info\n"
	        "outbox: {poll: 200ms}\n",
	        t->port, CAIRN_SOURCE_DIR);
	fclose(f);
}

/* A cairnd whose outbox reaches the mock through adapter `inst`. */
static void
start_all(struct td *t, struct mockp *m, const char *extra, int concurrency)
{
	setenv("CAIRN_TEST_CB_SECRET", SECRET, 1);
	td_start(t, NULL);
	mock_start(m, t->dir);
	cr_assert_eq(td_stop(t), 0);
	write_defs(t, m->t.port, extra, concurrency);
	td_restart(t);
}

/* Queues n calls of operation bulk straight into the stopped daemon's
 * database, as n transitions would have. */
static void
queue_rows(const struct td *t, int n, int first)
{
	uv_loop_t loop;
	struct store *s;
	struct store_opts o = {.path = t->db};
	struct cairn_err e;
	struct store_batch *b = store_batch_new();
	char id[64], key[96], payload[96];
	int64_t now = cairn_now_ms();

	uv_loop_init(&loop);
	cr_assert_eq(store_open(&loop, &o, &s, &e), 0, "%s", e.msg);
	for (int i = first; i < first + n; i++) {
		snprintf(id, sizeof(id), "case-%06d", i);
		snprintf(key, sizeof(key), "%s:1:0:inst.bulk", id);
		snprintf(payload, sizeof(payload), "{\"n\":%d}", i);
		cr_assert_eq(store_batch_outbox_add(b, id, "inst", "bulk", key,
		                                    payload, now),
		             0);
	}
	cr_assert_eq(store_batch_commit_sync(s, b, NULL, 0), 0);
	store_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
}

/* GET /v1/adapters' entry for inst. */
static json_t *
inst_stats(const struct td *t)
{
	json_t *j =
	        td_call(t, "GET", "/v1/adapters", t->token, NULL, NULL, 200);
	json_t *a = json_array_get(json_object_get(j, "adapters"), 0), *v;
	size_t i;

	json_array_foreach(
	        json_object_get(j, "adapters"), i,
	        v) if (!strcmp(json_string_value(json_object_get(v, "name")),
	                       "inst")) a = v;
	a = json_incref(a);
	json_decref(j);
	return a;
}

/* Waits until n calls are delivered and none is pending. */
static void
wait_delivered(const struct td *t, json_int_t n, int seconds)
{
	json_int_t got = 0, backlog = -1;

	for (int i = 0; i < seconds * 10; i++) {
		json_t *a = inst_stats(t);

		got = json_integer_value(json_object_get(a, "delivered_total"));
		backlog = json_integer_value(json_object_get(a, "backlog"));
		cr_assert_eq(
		        json_integer_value(json_object_get(a, "dead_letters")),
		        0, "a call was dead-lettered");
		json_decref(a);
		if (got == n && backlog == 0)
			return;
		cairn_sleep_ms(100);
	}
	cr_assert_fail("after %d s: %lld of %lld delivered, %lld pending",
	               seconds, (long long)got, (long long)n,
	               (long long)backlog);
}

static json_t *
new_case(const struct td *t, const char *data)
{
	char body[256];

	snprintf(body, sizeof(body),
	         "{\"workflow\":\"app\",\"subject\":\"S1\",\"data\":%s}", data);
	return td_call(t, "POST", "/v1/cases", t->token, body, NULL, 201);
}

/* Polls the case until its status is want. */
static json_t *
wait_status(const struct td *t, const char *id, const char *want)
{
	char path[128];
	json_t *c = NULL;

	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	for (int i = 0; i < 300; i++) {
		c = td_call(t, "GET", path, t->token, NULL, NULL, 200);
		if (!strcmp(json_string_value(json_object_get(c, "status")),
		            want))
			return c;
		json_decref(c);
		cairn_sleep_ms(50);
	}
	cr_assert_fail("case %s never reached %s", id, want);
	return NULL;
}

/* One text column of one outbox row, read straight from the database. */
static void
row_text(const struct td *t, const char *sql, char *out, size_t len)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	out[0] = '\0';
	cr_assert_eq(sqlite3_open_v2(t->db, &db, SQLITE_OPEN_READONLY, NULL),
	             SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK,
	             "%s", sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, len, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

Test(adapters_int, a_call_arrives_once_and_its_reply_moves_the_case,
     .timeout = 60)
{
	struct td t;
	struct mockp m;
	json_t *c, *calls, *call;
	char id[64], want_key[128], ref[160];
	struct resp r;

	start_all(&t, &m, NULL, 4);
	c = new_case(&t, "{\"who\":\"ana\"}");
	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	snprintf(want_key, sizeof(want_key), "%s:1:0:inst.send", id);
	c = wait_status(&t, id, "sent");
	/* the reply's reference was mapped into the event's data */
	snprintf(ref, sizeof(ref), "M-%s", want_key);
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_object_get(c, "data"), "reference")),
	                 ref);
	json_decref(c);
	calls = mock_call(&m, "GET", "/_mock/calls", NULL);
	cr_assert_eq(json_array_size(json_object_get(calls, "calls")), 1);
	call = json_array_get(json_object_get(calls, "calls"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(call, "key")),
	                 want_key);
	cr_assert_str_eq(json_string_value(json_object_get(call, "path")),
	                 "/uc/applications");
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_object_get(call, "body"), "who")),
	                 "ana");
	cr_assert_eq(json_integer_value(json_object_get(call, "attempts")), 1);
	json_decref(calls);
	cr_assert_eq(mock_stat(&m, "unique"), 1);
	cr_assert_eq(mock_stat(&m, "duplicates"), 0);
	cr_assert_eq(http_do(&t, "GET", "/metrics", NULL, NULL, NULL, 0, &r),
	             0);
	cr_assert_not_null(strstr(r.body, "cairn_adapter_calls_total{adapter="
	                                  "\"inst\",outcome=\"delivered\"} 1"),
	                   "%s", r.body);
	resp_free(&r);
	mock_stop(&m);
	td_cleanup(&t);
}

static int
calls_wanted(void)
{
	const char *v = getenv("CAIRN_ADAPTER_CALLS");
	int n = v ? atoi(v) : 0;

#ifdef __SANITIZE_ADDRESS__
	return n > 0 ? n : 2000;
#else
	return n > 0 ? n : 10000;
#endif
}

Test(adapters_int, without_faults_no_call_is_sent_twice, .timeout = 120)
{
	struct td t;
	struct mockp m;
	int n = 3000;

	start_all(&t, &m, NULL, 64);
	cr_assert_eq(td_stop(&t), 0);
	queue_rows(&t, n, 0);
	td_restart(&t);
	wait_delivered(&t, n, 100);
	cr_assert_eq(mock_stat(&m, "unique"), n);
	cr_assert_eq(mock_stat(&m, "duplicates"), 0);
	/* keep-alive: the 3,000 calls shared about 64 connections */
	cr_assert_leq(mock_stat(&m, "connections"), 64 + 2);
	mock_stop(&m);
	td_cleanup(&t);
}

static const char fast_retries[] =
        "timeouts: {connect: 1s, total: 300ms}\n"
        "retry: {max_attempts: 40, initial: 10ms, max: 100ms}\n"
        "breaker: {failures: 200, open_for: 50ms}\n";

Test(adapters_int, with_30_percent_faults_every_call_arrives_exactly_once,
     .timeout = 300)
{
	struct td t;
	struct mockp m;
	int n = calls_wanted();
	char *faults;
	json_t *j;

	start_all(&t, &m, fast_retries, 64);
	cr_assert_eq(td_stop(&t), 0);
	queue_rows(&t, n, 0);
	j = mock_call(&m, "POST", "/_mock/config",
	              "{\"fail_rate\":0.3,"
	              "\"faults\":[\"500\",\"timeout\",\"reset\"]}");
	json_decref(j);
	td_restart(&t);
	wait_delivered(&t, n, 240);
	/* the mock deduplicates by key: each call was taken exactly once,
	 * and none is missing */
	cr_assert_eq(mock_stat(&m, "unique"), n);
	j = mock_call(&m, "GET", "/_mock/stats", NULL);
	faults = json_dumps(json_object_get(j, "faults"), JSON_COMPACT);
	cr_log_info(
	        "%d calls: %lld requests, %lld duplicates (lost replies), "
	        "faults %s",
	        n,
	        (long long)json_integer_value(json_object_get(j, "received")),
	        (long long)json_integer_value(json_object_get(j, "duplicates")),
	        faults ? faults : "?");
	free(faults);
	cr_assert_gt(json_integer_value(json_object_get(j, "received")), n,
	             "the faults were injected");
	json_decref(j);
	mock_stop(&m);
	td_cleanup(&t);
}

Test(adapters_int, a_sigkill_with_calls_in_flight_loses_none, .timeout = 180)
{
	struct td t;
	struct mockp m;
	int n = 600;
	json_t *j;

	start_all(&t, &m, fast_retries, 32);
	cr_assert_eq(td_stop(&t), 0);
	queue_rows(&t, n, 0);
	j = mock_call(
	        &m, "POST", "/_mock/config",
	        "{\"fail_rate\":1,\"faults\":[\"slow\"],\"slow_ms\":250}");
	json_decref(j);
	td_restart(&t);
	for (int i = 0; i < 400 && mock_stat(&m, "received") < 40; i++)
		cairn_sleep_ms(25);
	cr_assert_geq(mock_stat(&m, "received"), 40);
	kill(t.pid, SIGKILL);
	waitpid(t.pid, NULL, 0);
	t.pid = 0;
	cr_assert_lt(mock_stat(&m, "unique"), n, "the kill came mid-way");
	j = mock_call(&m, "POST", "/_mock/config",
	              "{\"fail_rate\":0.3,"
	              "\"faults\":[\"500\",\"timeout\",\"reset\"]}");
	json_decref(j);
	td_restart(&t);
	wait_delivered(&t, n, 150);
	cr_assert_eq(mock_stat(&m, "unique"), n);
	mock_stop(&m);
	td_cleanup(&t);
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

Test(adapters_int, the_loop_answers_healthz_while_the_institution_is_slow,
     .timeout = 120)
{
	struct td t;
	struct mockp m;
	double lat[40];
	json_t *j, *a;

	start_all(&t, &m, "timeouts: {total: 20s}\n", 64);
	cr_assert_eq(td_stop(&t), 0);
	queue_rows(&t, 300, 0);
	j = mock_call(
	        &m, "POST", "/_mock/config",
	        "{\"fail_rate\":1,\"faults\":[\"slow\"],\"slow_ms\":3000}");
	json_decref(j);
	td_restart(&t);
	for (int i = 0; i < 200 && mock_stat(&m, "received") < 64; i++)
		cairn_sleep_ms(25);
	a = inst_stats(&t);
	cr_assert_eq(json_integer_value(json_object_get(a, "in_flight")), 64,
	             "calls are waiting on the institution");
	json_decref(a);
	for (int i = 0; i < 40; i++) {
		struct resp r;
		double t0 = now_ms();

		cr_assert_eq(
		        http_do(&t, "GET", "/healthz", NULL, NULL, NULL, 0, &r),
		        0);
		lat[i] = now_ms() - t0;
		cr_assert_eq(r.status, 200);
		resp_free(&r);
		cairn_sleep_ms(10);
	}
	qsort(lat, 40, sizeof(double), dcmp);
	cr_log_info("healthz while 64 calls wait 3 s each: p50 %.2f ms, max "
	            "%.2f ms",
	            lat[20], lat[39]);
	cr_assert_lt(lat[20], 10.0, "median %.2f ms", lat[20]);
	mock_stop(&m);
	td_cleanup(&t);
}

/* Issue 9: an institution that takes calls and never answers (it holds
 * each for five minutes). Each call is abandoned at the adapter's total
 * timeout and retried per its policy (backoff, the breaker); meanwhile the
 * loop answers /healthz and takes new applications; once the institution
 * answers again, every call arrives, none twice, none dead-lettered. */
Test(adapters_int, an_institution_that_hangs_for_minutes_loses_nothing,
     .timeout = 120)
{
	struct td t;
	struct mockp m;
	int n = 40;
	double worst = 0;
	json_t *j, *a;
	char out[64];

	start_all(&t, &m,
	          "timeouts: {connect: 1s, total: 400ms}\n"
	          "retry: {max_attempts: 1000, initial: 20ms, max: 200ms}\n"
	          "breaker: {failures: 20, open_for: 100ms}\n",
	          16);
	cr_assert_eq(td_stop(&t), 0);
	queue_rows(&t, n, 0);
	j = mock_call(&m, "POST", "/_mock/config",
	              "{\"fail_rate\":1,\"faults\":[\"timeout\"],"
	              "\"hang_ms\":300000}");
	json_decref(j);
	td_restart(&t);
	/* every call is tried and times out; the breaker opens and probes
	 * the institution with one call at a time, retried as it fails */
	for (int i = 0; i < 600 && mock_stat(&m, "received") < n + 5; i++)
		cairn_sleep_ms(50);
	cr_assert_geq(mock_stat(&m, "received"), n + 5,
	              "calls were not retried after timing out");
	a = inst_stats(&t);
	/* open, or half-open with its probe out */
	cr_assert_str_neq(json_string_value(json_object_get(a, "breaker")),
	                  "closed");
	json_decref(a);
	for (int i = 0; i < 20; i++) {
		struct resp r;
		double t0 = now_ms(), took;

		cr_assert_eq(
		        http_do(&t, "GET", "/healthz", NULL, NULL, NULL, 0, &r),
		        0);
		took = now_ms() - t0;
		worst = took > worst ? took : worst;
		cr_assert_eq(r.status, 200);
		resp_free(&r);
		cairn_sleep_ms(20);
	}
	json_decref(new_case(&t, "{\"who\":\"during the hang\"}"));
	a = inst_stats(&t);
	cr_assert_eq(json_integer_value(json_object_get(a, "delivered_total")),
	             0);
	cr_assert_geq(json_integer_value(json_object_get(a, "backlog")), n);
	json_decref(a);
	row_text(&t, "SELECT max(attempts) FROM outbox", out, sizeof(out));
	cr_assert_geq(atoi(out), 2, "attempts: %s", out);
	row_text(&t,
	         "SELECT count(*) FROM outbox WHERE last_error LIKE '%time%'",
	         out, sizeof(out));
	cr_assert_geq(atoi(out), 1, "no call failed for its timeout");
	cr_log_info("institution hanging: %lld calls tried, slowest /healthz "
	            "%.1f ms",
	            (long long)mock_stat(&m, "received"), worst);
	cr_assert_lt(worst, 1000.0, "/healthz took %.1f ms", worst);
	/* it answers again: everything arrives, once */
	j = mock_call(&m, "POST", "/_mock/config", "{\"fail_rate\":0}");
	json_decref(j);
	wait_delivered(&t, n + 1, 60);
	cr_assert_eq(mock_stat(&m, "unique"), n + 1);
	mock_stop(&m);
	td_cleanup(&t);
}

Test(adapters_int, unusable_replies_are_delivered_without_an_event,
     .timeout = 60)
{
	struct td t;
	struct mockp m;
	json_t *c1, *c2, *j;
	char id1[64], id2[64], path[128], note[600], sql[300];

	start_all(&t, &m, NULL, 1);
	j = mock_call(&m, "POST", "/_mock/config",
	              "{\"fail_next\":[\"garbage\",\"huge\"]}");
	json_decref(j);
	c1 = new_case(&t, "{\"who\":\"a\"}");
	snprintf(id1, sizeof(id1), "%s",
	         json_string_value(json_object_get(c1, "id")));
	wait_delivered(&t, 1, 30);
	c2 = new_case(&t, "{\"who\":\"b\"}");
	snprintf(id2, sizeof(id2), "%s",
	         json_string_value(json_object_get(c2, "id")));
	wait_delivered(&t, 2, 30);
	/* the institution has both; neither reply became an event */
	cr_assert_eq(mock_stat(&m, "unique"), 2);
	for (int i = 0; i < 2; i++) {
		const char *id = i ? id2 : id1;

		snprintf(path, sizeof(path), "/v1/cases/%s", id);
		j = td_call(&t, "GET", path, t.token, NULL, NULL, 200);
		cr_assert_str_eq(
		        json_string_value(json_object_get(j, "status")), "new");
		cr_assert_eq(json_integer_value(json_object_get(j, "revision")),
		             1);
		json_decref(j);
		snprintf(sql, sizeof(sql),
		         "SELECT last_error FROM outbox WHERE case_id = '%s'",
		         id);
		row_text(&t, sql, note, sizeof(note));
		cr_assert_not_null(strstr(note, i ? "larger than max_response"
		                                  : "not JSON"),
		                   "%s", note);
	}
	json_decref(c1);
	json_decref(c2);
	mock_stop(&m);
	td_cleanup(&t);
}

Test(adapters_int, a_permanent_failure_dead_letters_alerts_and_redrives,
     .timeout = 60)
{
	struct td t;
	struct mockp m;
	json_t *c, *j, *a;
	char id[64], sql[300], out[600];

	start_all(&t, &m, NULL, 2);
	j = mock_call(&m, "POST", "/_mock/config", "{\"status\":422}");
	json_decref(j);
	c = new_case(&t, "{\"who\":\"a\"}");
	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	/* a 422 does not change on a retry: dead at once, the case told */
	c = wait_status(&t, id, "failed");
	json_decref(c);
	cr_assert_eq(mock_stat(&m, "received"), 1);
	a = inst_stats(&t);
	cr_assert_eq(json_integer_value(json_object_get(a, "dead_letters")), 1);
	json_decref(a);
	snprintf(sql, sizeof(sql),
	         "SELECT recipient || ' ' || severity || ' ' || message FROM "
	         "alerts WHERE case_id = '%s' AND kind = "
	         "'adapter_dead_letter'",
	         id);
	row_text(&t, sql, out, sizeof(out));
	cr_assert_not_null(strstr(out, "admin critical"), "%s", out);
	cr_assert_not_null(strstr(out, "HTTP 422"), "%s", out);

	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "CAIRN_URL=http://127.0.0.1:%d CAIRN_TOKEN=%s %s "
	                     "adapters",
	                     t.port, t.token, td_bin("cairn")),
	             0, "%s", out);
	cr_assert_not_null(strstr(out, "inst"), "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "CAIRN_URL=http://127.0.0.1:%d CAIRN_TOKEN=%s %s "
	                     "adapters redrive nope",
	                     t.port, t.token, td_bin("cairn")),
	             1, "%s", out);

	/* fixed at the institution: redrive sends it again, same key */
	j = mock_call(&m, "POST", "/_mock/config", "{\"status\":200}");
	json_decref(j);
	j = td_call(&t, "POST", "/v1/adapters/inst/redrive", t.token, NULL,
	            NULL, 200);
	cr_assert_eq(json_integer_value(json_object_get(j, "redriven")), 1);
	json_decref(j);
	wait_delivered(&t, 1, 30);
	cr_assert_eq(mock_stat(&m, "unique"), 1);
	cr_assert_eq(mock_stat(&m, "duplicates"), 1);
	json_decref(td_call(&t, "POST", "/v1/adapters/nope/redrive", t.token,
	                    NULL, NULL, 404));
	json_decref(td_call(&t, "GET", "/v1/adapters",
	                    td_token(&t, "counselor", "C-1"), NULL, NULL, 403));
	mock_stop(&m);
	td_cleanup(&t);
}

Test(adapters_int, a_template_naming_a_missing_field_fails_that_call,
     .timeout = 60)
{
	struct td t;
	struct mockp m;
	json_t *c;
	char id[64], sql[300], out[600];

	start_all(&t, &m, NULL, 2);
	c = new_case(&t, "{\"name\":\"no who\"}");
	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	c = wait_status(&t, id, "failed");
	json_decref(c);
	cr_assert_eq(mock_stat(&m, "received"), 0, "nothing was sent");
	snprintf(sql, sizeof(sql),
	         "SELECT state || ' ' || last_error FROM outbox WHERE case_id "
	         "= '%s'",
	         id);
	row_text(&t, sql, out, sizeof(out));
	cr_assert_not_null(strstr(out, "dead template '$data.who'"), "%s", out);
	mock_stop(&m);
	td_cleanup(&t);
}

Test(adapters_int, the_breaker_opens_on_a_down_institution_and_closes,
     .timeout = 90)
{
	struct td t;
	struct mockp m;
	json_t *j, *a;
	int opened = 0;

	start_all(&t, &m,
	          "retry: {max_attempts: 100, initial: 20ms, max: 50ms}\n"
	          "breaker: {failures: 3, open_for: 500ms}\n",
	          2);
	j = mock_call(&m, "POST", "/_mock/config",
	              "{\"fail_rate\":1,\"faults\":[\"500\"]}");
	json_decref(j);
	for (int i = 0; i < 5; i++)
		json_decref(new_case(&t, "{\"who\":\"x\"}"));
	for (int i = 0; i < 200 && !opened; i++) {
		a = inst_stats(&t);
		opened = !strcmp(
		        json_string_value(json_object_get(a, "breaker")),
		        "open");
		json_decref(a);
		if (!opened)
			cairn_sleep_ms(20);
	}
	cr_assert(opened, "the breaker never opened");
	/* open: far fewer calls than the retry delays alone would allow */
	j = mock_call(&m, "POST", "/_mock/config", "{\"fail_rate\":0}");
	json_decref(j);
	wait_delivered(&t, 5, 30);
	a = inst_stats(&t);
	cr_assert_str_eq(json_string_value(json_object_get(a, "breaker")),
	                 "closed");
	json_decref(a);
	mock_stop(&m);
	td_cleanup(&t);
}

/* A callback sent through the mock (which signs it). */
static json_t *
callback(struct mockp *m, const struct td *t, const char *secret,
         const char *event_id, const char *case_id, const char *event,
         long long ts)
{
	char body[1024], tsf[64] = "";

	if (ts)
		snprintf(tsf, sizeof(tsf), ",\"timestamp\":%lld", ts);
	snprintf(body, sizeof(body),
	         "{\"url\":\"http://127.0.0.1:%d/v1/callbacks/inst\","
	         "\"secret\":\"%s\",\"event_id\":\"%s\",\"case_id\":\"%s\","
	         "\"event\":\"%s\",\"data\":{}%s}",
	         t->port, secret, event_id, case_id, event, tsf);
	return mock_call(m, "POST", "/_mock/callback", body);
}

static int
cb_status(json_t *j)
{
	int s = (int)json_integer_value(json_object_get(j, "status"));

	json_decref(j);
	return s;
}

Test(adapters_int, callbacks_good_and_bad, .timeout = 60)
{
	struct td t;
	struct mockp m;
	json_t *c;
	char id[64], path[128];
	struct resp r;
	int fd;
	const char raw[] = "{\"event_id\":\"x\"}";
	char req[512];

	start_all(&t, &m, NULL, 2);
	c = new_case(&t, "{\"who\":\"a\"}");
	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	json_decref(wait_status(&t, id, "sent"));

	/* every refusal changes nothing */
	cr_assert_eq(
	        cb_status(callback(&m, &t, "wrong", "e1", id, "decide", 0)),
	        401);
	cr_assert_eq(cb_status(callback(&m, &t, SECRET, "e1", id, "decide",
	                                (long long)time(NULL) - 3600)),
	             401);
	cr_assert_eq(cb_status(callback(&m, &t, SECRET, "e1", "no-such-case",
	                                "decide", 0)),
	             404);
	cr_assert_eq(cb_status(callback(&m, &t, SECRET, "e1", id, "bogus!", 0)),
	             422);
	cr_assert_eq(http_do(&t, "POST", "/v1/callbacks/inst", NULL,
	                     "application/json", raw, strlen(raw), &r),
	             0);
	cr_assert_eq(r.status, 401, "unsigned");
	resp_free(&r);
	cr_assert_eq(http_do(&t, "POST", "/v1/callbacks/nope", NULL,
	                     "application/json", raw, strlen(raw), &r),
	             0);
	cr_assert_eq(r.status, 404);
	resp_free(&r);
	/* a tampered body under a valid signature of another */
	fd = tcp_connect(t.port);
	snprintf(req, sizeof(req),
	         "POST /v1/callbacks/inst HTTP/1.1\r\nHost: x\r\n"
	         "Content-Type: application/json\r\nX-Cairn-Timestamp: %lld\r\n"
	         "X-Cairn-Signature: sha256=%064d\r\nContent-Length: %zu\r\n"
	         "Connection: close\r\n\r\n%s",
	         (long long)time(NULL), 0, strlen(raw), raw);
	send_all(fd, req, strlen(req));
	cr_assert_eq(read_response(fd, 5000, &r), 0);
	cr_assert_eq(r.status, 401);
	resp_free(&r);
	close(fd);
	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	c = td_call(&t, "GET", path, t.token, NULL, NULL, 200);
	cr_assert_str_eq(json_string_value(json_object_get(c, "status")),
	                 "sent");
	cr_assert_eq(json_integer_value(json_object_get(c, "revision")), 2);
	json_decref(c);

	/* a good one moves the case; the same event id again is refused */
	cr_assert_eq(cb_status(callback(&m, &t, SECRET, "e1", id, "decide", 0)),
	             200);
	json_decref(wait_status(&t, id, "decided"));
	cr_assert_eq(cb_status(callback(&m, &t, SECRET, "e1", id, "decide", 0)),
	             409);
	c = td_call(&t, "GET", path, t.token, NULL, NULL, 200);
	cr_assert_eq(json_integer_value(json_object_get(c, "revision")), 3);
	json_decref(c);
	mock_stop(&m);
	td_cleanup(&t);
}

Test(adapters_int, a_429_waits_for_retry_after_and_the_rate_limit_paces,
     .timeout = 90)
{
	struct td t;
	struct mockp m;
	json_t *j, *c;
	char id[64];
	double t0, took;

	start_all(&t, &m,
	          "retry: {max_attempts: 5, initial: 10ms, max: 10s}\n"
	          "rate_limit: {per_second: 20, burst: 1}\n",
	          8);
	j = mock_call(&m, "POST", "/_mock/config",
	              "{\"fail_next\":[\"429\"],\"retry_after\":1}");
	json_decref(j);
	t0 = now_ms();
	c = new_case(&t, "{\"who\":\"a\"}");
	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	json_decref(wait_status(&t, id, "sent"));
	took = now_ms() - t0;
	/* the backoff alone would have retried after 10 ms */
	cr_assert_geq(took, 900, "retried after %.0f ms", took);
	cr_assert_eq(mock_stat(&m, "received"), 2);
	cr_assert_eq(mock_stat(&m, "unique"), 1);

	/* 20 calls at 20 per second, one at a time: about a second */
	cr_assert_eq(td_stop(&t), 0);
	queue_rows(&t, 21, 0);
	td_restart(&t);
	t0 = now_ms();
	wait_delivered(&t, 22, 60);
	took = now_ms() - t0;
	cr_assert_geq(took, 900, "21 calls in %.0f ms", took);
	mock_stop(&m);
	td_cleanup(&t);
}

/* Waits until cairnd's log holds what at least n times. */
static void
wait_log(const struct td *t, const char *what, int n)
{
	char out[256];

	for (int i = 0; i < 400; i++) {
		run_cmd(out, sizeof(out), "grep -c '%s' %s", what, t->log);
		if (atoi(out) >= n)
			return;
		cairn_sleep_ms(25);
	}
	cr_assert_fail("'%s' not logged %d time(s)", what, n);
}

Test(adapters_int, sighup_reloads_the_adapters_and_a_bad_one_changes_nothing,
     .timeout = 60)
{
	struct td t;
	struct mockp m;
	json_t *calls, *c;
	char path[600], id[64], out[512];
	FILE *f;

	start_all(&t, &m, NULL, 2);
	/* a broken definition: the one loaded stays in force */
	snprintf(path, sizeof(path), "%s/defs/adapters/inst.yaml", t.dir);
	f = fopen(path, "a");
	cr_assert(f != NULL);
	fputs("bogus_key: 1\n", f);
	fclose(f);
	kill(t.pid, SIGHUP);
	wait_log(&t, "the definitions loaded before stay in force", 1);
	c = new_case(&t, "{\"who\":\"a\"}");
	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	json_decref(wait_status(&t, id, "sent"));
	/* a good change: a new path for the operation */
	write_defs(&t, m.t.port, NULL, 2);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "sed -i 's|path: /applications|path: "
	                     "/v2/applications|' %s",
	                     path),
	             0, "%s", out);
	kill(t.pid, SIGHUP);
	wait_log(&t, "SIGHUP: definitions reloaded", 1);
	c = new_case(&t, "{\"who\":\"b\"}");
	snprintf(id, sizeof(id), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	json_decref(wait_status(&t, id, "sent"));
	calls = mock_call(&m, "GET", "/_mock/calls", NULL);
	cr_assert_str_eq(
	        json_string_value(json_object_get(
	                json_array_get(json_object_get(calls, "calls"), 0),
	                "path")),
	        "/uc/applications");
	cr_assert_str_eq(
	        json_string_value(json_object_get(
	                json_array_get(json_object_get(calls, "calls"), 1),
	                "path")),
	        "/uc/v2/applications");
	json_decref(calls);
	mock_stop(&m);
	td_cleanup(&t);
}

/* A webhook receiver's adapter: the payload as is, signed, with the
 * credentials header. */
Test(adapters_int, signed_outbound_calls_verify_with_the_shared_secret,
     .timeout = 60)
{
	struct td t;
	struct mockp m;
	json_t *calls, *call;
	struct adp_secret s = {0};
	const char *raw;

	setenv("CAIRN_TEST_SIGN_KEY", "webhook-key", 1);
	setenv("CAIRN_TEST_TOKEN", "tok-123", 1);
	start_all(&t, &m,
	          "sign: {secret: {env: CAIRN_TEST_SIGN_KEY}}\n"
	          "credentials: {secret: {env: CAIRN_TEST_TOKEN}}\n",
	          2);
	cr_assert_eq(td_stop(&t), 0);
	queue_rows(&t, 1, 7);
	td_restart(&t);
	wait_delivered(&t, 1, 30);
	calls = mock_call(&m, "GET", "/_mock/calls", NULL);
	call = json_array_get(json_object_get(calls, "calls"), 0);
	raw = json_string_value(json_object_get(call, "raw"));
	cr_assert_str_eq(raw, "{\"n\":7}", "the payload as is");
	cr_assert_str_eq(json_string_value(json_object_get(call, "path")),
	                 "/uc/bulk/case-000007");
	cr_assert_str_eq(
	        json_string_value(json_object_get(call, "authorization")),
	        "Bearer tok-123");
	s.value = "webhook-key";
	s.len = strlen(s.value);
	cr_assert(adp_verify(
	        &s, json_string_value(json_object_get(call, "timestamp")), raw,
	        strlen(raw),
	        json_string_value(json_object_get(call, "signature"))));
	json_decref(calls);
	mock_stop(&m);
	td_cleanup(&t);
}

/* The example workflows: a student's application routed to a UC and a
 * CSU campus reaches each campus's own system, as the campus list says. */
Test(adapters_int, each_campus_is_reached_through_its_own_adapter,
     .timeout = 60)
{
	struct td t;
	struct mockp m;
	char out[4096], path[600], body[256];
	const char *student;
	json_t *c, *calls, *v;
	size_t i;
	int uc = 0, csu = 0;
	FILE *f;

	setenv("CAIRN_TEST_CB_SECRET", SECRET, 1);
	td_start(&t, NULL);
	mock_start(&m, t.dir);
	cr_assert_eq(td_stop(&t), 0);
	write_defs(&t, m.t.port, NULL, 2);
	td_use_example_rules(&t);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "rm %s/defs/workflows/app.yaml && cp "
	                     "'%s'/examples/workflows/student_application.yaml "
	                     "'%s'/examples/workflows/campus_application.yaml "
	                     "'%s/defs/workflows/'",
	                     t.dir, CAIRN_SOURCE_DIR, CAIRN_SOURCE_DIR, t.dir),
	             0, "%s", out);
	for (int k = 0; k < 2; k++) {
		snprintf(path, sizeof(path), "%s/defs/adapters/%s.yaml", t.dir,
		         k ? "csu_campus" : "uc_campus");
		f = fopen(path, "w");
		cr_assert(f != NULL);
		fprintf(f,
		        "name: %s\nbase_url: http://127.0.0.1:%d/%s\n"
		        "operations:\n"
		        "  send_application: {method: POST, path: /apps, body: "
		        "{campus: $data.campus}}\n"
		        "  send_intent_to_register: {method: POST, path: "
		        "/sir}\n"
		        "  send_withdrawal: {method: POST, path: /withdraw}\n",
		        k ? "csu_campus" : "uc_campus", m.t.port,
		        k ? "csu" : "uc");
		fclose(f);
	}
	td_restart(&t);
	student = td_token(&t, "student", "S2025-0001");
	c = td_call(&t, "POST", "/v1/cases", student,
	            "{\"workflow\":\"student_application\",\"data\":{"
	            "\"campuses\":[\"uc-davis\",\"csu-fresno\"]}}",
	            NULL, 201);
	snprintf(path, sizeof(path), "/v1/cases/%s/events",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	snprintf(body, sizeof(body), "{\"type\":\"submit\"}");
	json_decref(td_call(&t, "POST", path, student, body, NULL, 200));
	for (int k = 0; k < 200 && mock_stat(&m, "unique") < 2; k++)
		cairn_sleep_ms(25);
	calls = mock_call(&m, "GET", "/_mock/calls", NULL);
	json_array_foreach(json_object_get(calls, "calls"), i, v)
	{
		const char *p = json_string_value(json_object_get(v, "path"));
		const char *campus = json_string_value(
		        json_object_get(json_object_get(v, "body"), "campus"));

		if (!strcmp(p, "/uc/apps") && !strcmp(campus, "uc-davis"))
			uc++;
		if (!strcmp(p, "/csu/apps") && !strcmp(campus, "csu-fresno"))
			csu++;
	}
	cr_assert(uc == 1 && csu == 1, "calls: %s",
	          json_dumps(calls, JSON_COMPACT));
	json_decref(calls);
	mock_stop(&m);
	td_cleanup(&t);
}
