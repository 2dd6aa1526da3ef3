/*
 * test_stream.c: GET /v1/stream in a real cairnd, read over a raw socket
 * as a browser's fetch() would: a student's stream carries their own
 * cases' changes and no one else's, a counselor's their caseload's, an
 * office's its own files'; streams are capped per token, end when their
 * token is revoked and when cairnd stops (which still exits 0 and on
 * time). And the web console's files: security headers, ETags, no way
 * out of the table.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct td t;

static const char steps_wf[] =
        "name: steps\n"
        "description: a case that moves when its student or office says\n"
        "statuses:\n"
        "  open: {initial: true}\n"
        "  next: {}\n"
        "  done: {terminal: true}\n"
        "transitions:\n"
        "  - on: advance\n"
        "    from: open\n"
        "    to: next\n"
        "    roles: [student, aid_officer, admin]\n"
        "  - on: finish\n"
        "    from: next\n"
        "    to: done\n"
        "    roles: [student, aid_officer, admin]\n";

static void
setup(void)
{
	td_start(&t, NULL);
	td_write_workflow(&t, "steps", steps_wf);
	cr_assert_eq(td_stop(&t), 0);
	td_restart(&t);
}

static void
teardown(void)
{
	td_cleanup(&t);
}

TestSuite(stream, .init = setup, .fini = teardown, .timeout = 90);

/* --- a stream over a raw socket ---------------------------------------- */

struct sse {
	int fd;
	char buf[65536];
	size_t len;
	size_t seen; /* what sse_wait has consumed */
	int closed;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what has arrived within ms; returns 0, or -1 once closed. */
static int
sse_pump(struct sse *s, int ms)
{
	struct pollfd p = {.fd = s->fd, .events = POLLIN};
	ssize_t n;

	if (s->closed)
		return -1;
	if (poll(&p, 1, ms) <= 0)
		return 0;
	n = recv(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len, 0);
	if (n <= 0) {
		s->closed = 1;
		return -1;
	}
	s->len += (size_t)n;
	s->buf[s->len] = '\0';
	return 0;
}

/* Waits (generously: the machine is shared) for needle after what was
 * consumed; returns a pointer into buf past the match, or NULL. */
static const char *
sse_wait(struct sse *s, const char *needle, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		const char *p = strstr(s->buf + s->seen, needle);

		if (p != NULL) {
			s->seen = (size_t)(p - s->buf) + strlen(needle);
			return p + strlen(needle);
		}
		if (now_ms() >= end || sse_pump(s, 100) < 0)
			return strstr(s->buf + s->seen, needle)
			               ? sse_wait(s, needle, 0)
			               : NULL;
	}
}

/* Opens a stream with tok; returns the status of the response. */
static int
sse_open(struct sse *s, const char *tok)
{
	char req[512];
	int status = 0;

	memset(s, 0, sizeof(*s));
	s->fd = tcp_connect(t.port);
	cr_assert_geq(s->fd, 0);
	snprintf(
	        req, sizeof(req),
	        "GET /v1/stream HTTP/1.1\r\nHost: x\r\n"
	        "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n",
	        tok);
	send_all(s->fd, req, strlen(req));
	if (sse_wait(s, "\r\n\r\n", 15000) == NULL)
		return -1;
	sscanf(s->buf, "HTTP/1.1 %d", &status);
	return status;
}

static void
sse_close(struct sse *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
open_case(const char *tok, const char *subject, const char *office, char id[64])
{
	char body[300];
	json_t *j;

	if (office)
		snprintf(body, sizeof(body),
		         "{\"workflow\":\"steps\",\"subject\":\"%s\","
		         "\"data\":{\"office\":\"%s\"}}",
		         subject, office);
	else
		snprintf(body, sizeof(body),
		         "{\"workflow\":\"steps\",\"subject\":\"%s\"}",
		         subject);
	j = td_call(&t, "POST", "/v1/cases", tok, body, NULL, 201);
	snprintf(id, 64, "%s", jstr(j, "id"));
	json_decref(j);
}

static void
send_event(const char *tok, const char *id, const char *type)
{
	char path[160], body[100];

	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	snprintf(body, sizeof(body), "{\"type\":\"%s\"}", type);
	json_decref(td_call(&t, "POST", path, tok, body, NULL, 200));
}

/* The next case event's data on s, parsed; NULL when none came. */
static json_t *
next_case_event(struct sse *s, int timeout_ms)
{
	const char *p = sse_wait(s, "event: case\n", timeout_ms);
	const char *data, *end;

	if (p == NULL)
		return NULL;
	if (sse_wait(s, "\n\n", timeout_ms) == NULL)
		return NULL;
	data = strstr(p, "data: ");
	cr_assert_not_null(data);
	data += 6;
	end = strchr(data, '\n');
	return json_loadb(data, (size_t)(end - data), 0, NULL);
}

Test(stream, a_student_sees_their_own_cases_move_and_no_one_elses)
{
	char ana_tok[128], ben_tok[128], a1[64], b1[64];
	struct sse ana, ben;
	json_t *ev;

	snprintf(ana_tok, sizeof(ana_tok), "%s",
	         td_token(&t, "student", "S-ana"));
	snprintf(ben_tok, sizeof(ben_tok), "%s",
	         td_token(&t, "student", "S-ben"));
	cr_assert_eq(sse_open(&ana, ana_tok), 200);
	cr_assert(strstr(ana.buf, "Content-Type: text/event-stream"));
	cr_assert(strstr(ana.buf, "Cache-Control: no-store"));
	cr_assert_not_null(sse_wait(&ana, "event: ready\n", 15000));
	cr_assert_eq(sse_open(&ben, ben_tok), 200);
	cr_assert_not_null(sse_wait(&ben, "event: ready\n", 15000));

	/* Ana's case is created and moves: her stream sees both */
	open_case(ana_tok, "S-ana", NULL, a1);
	ev = next_case_event(&ana, 15000);
	cr_assert_not_null(ev, "no event for the new case: %s", ana.buf);
	cr_assert_str_eq(jstr(ev, "id"), a1);
	cr_assert_str_eq(jstr(ev, "status"), "open");
	cr_assert_null(json_object_get(ev, "data"), "no case data in events");
	json_decref(ev);
	send_event(ana_tok, a1, "advance");
	ev = next_case_event(&ana, 15000);
	cr_assert_not_null(ev);
	cr_assert_str_eq(jstr(ev, "id"), a1);
	cr_assert_str_eq(jstr(ev, "status"), "next");
	json_decref(ev);

	/* Ben's first case event is his own: nothing of Ana's came
	 * before it on his connection (events go out in commit order) */
	open_case(ben_tok, "S-ben", NULL, b1);
	ev = next_case_event(&ben, 15000);
	cr_assert_not_null(ev);
	cr_assert_str_eq(jstr(ev, "id"), b1);
	cr_assert_str_eq(jstr(ev, "subject"), "S-ben");
	json_decref(ev);
	cr_assert_null(strstr(ben.buf, a1), "Ben's stream named Ana's case");
	/* and Ana's stream never names Ben's case */
	send_event(ana_tok, a1, "finish");
	ev = next_case_event(&ana, 15000);
	cr_assert_not_null(ev);
	cr_assert_str_eq(jstr(ev, "status"), "done");
	cr_assert(json_is_true(json_object_get(ev, "terminal")));
	json_decref(ev);
	cr_assert_null(strstr(ana.buf, b1), "Ana's stream named Ben's case");
	sse_close(&ana);
	sse_close(&ben);
}

Test(stream, counselors_and_offices_see_their_scope)
{
	char coun[128], office[128], admin_body[200], c1[64], c2[64], c3[64];
	struct sse sc, so, sa;
	json_t *ev;

	snprintf(admin_body, sizeof(admin_body), "{\"students\":[\"S-cara\"]}");
	json_decref(td_call(&t, "PUT", "/v1/counselors/C-7/students", t.token,
	                    admin_body, NULL, 200));
	snprintf(coun, sizeof(coun), "%s", td_token(&t, "counselor", "C-7"));
	snprintf(office, sizeof(office), "%s",
	         td_token(&t, "aid_officer", "fresno"));
	cr_assert_eq(sse_open(&sc, coun), 200);
	cr_assert_not_null(sse_wait(&sc, "event: ready\n", 15000));
	cr_assert_eq(sse_open(&so, office), 200);
	cr_assert_not_null(sse_wait(&so, "event: ready\n", 15000));
	cr_assert_eq(sse_open(&sa, t.token), 200);
	cr_assert_not_null(sse_wait(&sa, "event: ready\n", 15000));

	/* a student outside the caseload, owned by another office */
	open_case(t.token, "S-dan", "ucla", c1);
	/* the caseload's student, owned by fresno */
	open_case(t.token, "S-cara", "fresno", c2);
	/* fresno's file of someone outside the caseload */
	open_case(t.token, "S-eve", "fresno", c3);

	ev = next_case_event(&sc, 15000);
	cr_assert_not_null(ev);
	cr_assert_str_eq(jstr(ev, "id"), c2, "the counselor's first event");
	json_decref(ev);
	ev = next_case_event(&so, 15000);
	cr_assert_not_null(ev);
	cr_assert_str_eq(jstr(ev, "id"), c2, "the office's first event");
	json_decref(ev);
	ev = next_case_event(&so, 15000);
	cr_assert_not_null(ev);
	cr_assert_str_eq(jstr(ev, "id"), c3);
	json_decref(ev);
	/* the admin sees all three, in commit order */
	for (int i = 0; i < 3; i++) {
		const char *want[] = {c1, c2, c3};

		ev = next_case_event(&sa, 15000);
		cr_assert_not_null(ev);
		cr_assert_str_eq(jstr(ev, "id"), want[i]);
		json_decref(ev);
	}
	/* nothing more reached the counselor: the next event for C-7 is a
	 * move of Cara's case, not S-eve's or S-dan's */
	send_event(t.token, c3, "advance");
	send_event(t.token, c1, "advance");
	send_event(t.token, c2, "advance");
	ev = next_case_event(&sc, 15000);
	cr_assert_not_null(ev);
	cr_assert_str_eq(jstr(ev, "id"), c2);
	cr_assert_str_eq(jstr(ev, "status"), "next");
	json_decref(ev);
	cr_assert_null(strstr(sc.buf, c1));
	cr_assert_null(strstr(sc.buf, c3));
	sse_close(&sc);
	sse_close(&so);
	sse_close(&sa);
}

Test(stream, who_may_listen_and_how_many)
{
	char stu[128];
	struct sse s[9], x;
	struct resp r;

	/* no token, a bad one, a role that sees no case */
	cr_assert_eq(http_do(&t, "GET", "/v1/stream", NULL, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 401);
	resp_free(&r);
	cr_assert_eq(sse_open(&x, td_token(&t, "policy", NULL)), 403);
	sse_close(&x);
	cr_assert_eq(sse_open(&x, td_token(&t, "institution", "uc_campus")),
	             403);
	sse_close(&x);
	/* HEAD answers without holding the connection */
	cr_assert_eq(
	        http_do(&t, "HEAD", "/v1/stream", t.token, NULL, NULL, 0, &r),
	        0);
	cr_assert_eq(r.status, 200);
	resp_free(&r);

	/* eight at once per token; the ninth is refused until one ends */
	snprintf(stu, sizeof(stu), "%s", td_token(&t, "student", "S-fay"));
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(sse_open(&s[i], stu), 200, "stream %d", i);
		cr_assert_not_null(sse_wait(&s[i], "event: ready\n", 15000));
	}
	cr_assert_eq(sse_open(&s[8], stu), 429);
	cr_assert(strstr(s[8].buf, "Retry-After:"));
	sse_close(&s[8]);
	/* another token is not held back by Fay's */
	cr_assert_eq(sse_open(&x, td_token(&t, "student", "S-gus")), 200);
	sse_close(&x);
	/* a stream that ends frees its place (polled: the server learns of
	 * the close on its own time) */
	sse_close(&s[0]);
	{
		int status = 0;

		for (int i = 0; i < 100 && status != 200; i++) {
			status = sse_open(&s[0], stu);
			if (status != 200) {
				sse_close(&s[0]);
				usleep(100 * 1000);
			}
		}
		cr_assert_eq(status, 200);
	}
	for (int i = 0; i < 8; i++)
		sse_close(&s[i]);
}

Test(stream, a_revoked_token_loses_its_stream)
{
	json_t *j;
	char tok[128], id[64], path[96];
	struct sse s;

	j = td_call(&t, "POST", "/v1/tokens", t.token,
	            "{\"role\":\"student\",\"scope\":\"S-hal\"}", NULL, 201);
	snprintf(tok, sizeof(tok), "%s", jstr(j, "token"));
	snprintf(id, sizeof(id), "%s", jstr(j, "id"));
	json_decref(j);
	cr_assert_eq(sse_open(&s, tok), 200);
	cr_assert_not_null(sse_wait(&s, "event: ready\n", 15000));
	snprintf(path, sizeof(path), "/v1/tokens/%s", id);
	json_decref(td_call(&t, "DELETE", path, t.token, NULL, NULL, 204));
	cr_assert_not_null(sse_wait(&s, "event: revoked\n", 15000));
	for (int i = 0; i < 150 && !s.closed; i++)
		sse_pump(&s, 100);
	cr_assert(s.closed, "the stream stayed open after the revocation");
	sse_close(&s);
}

Test(stream, stopping_ends_streams_with_a_last_event)
{
	struct sse s;
	int64_t t0;

	cr_assert_eq(sse_open(&s, t.token), 200);
	cr_assert_not_null(sse_wait(&s, "event: ready\n", 15000));
	t0 = now_ms();
	cr_assert_eq(td_stop(&t), 0);
	cr_assert_lt(now_ms() - t0, 4000, "the stream held the stop up");
	cr_assert_not_null(sse_wait(&s, "event: shutdown\n", 5000));
	for (int i = 0; i < 50 && !s.closed; i++)
		sse_pump(&s, 100);
	cr_assert(s.closed);
	sse_close(&s);
}

/* --- the console's files ------------------------------------------------ */

Test(stream, the_console_is_served_with_strict_headers)
{
	struct resp r;
	char etag[128], buf[512], hdr[256];
	int fd;

	cr_assert_eq(http_do(&t, "GET", "/", NULL, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(resp_header(&r, "Content-Type", buf, sizeof(buf)),
	                 "text/html; charset=utf-8");
	cr_assert_not_null(
	        resp_header(&r, "Content-Security-Policy", buf, sizeof(buf)));
	cr_assert(strstr(buf, "script-src 'self'"));
	cr_assert(strstr(buf, "frame-ancestors 'none'"));
	cr_assert_null(strstr(buf, "unsafe-inline"));
	cr_assert_str_eq(
	        resp_header(&r, "X-Content-Type-Options", hdr, sizeof(hdr)),
	        "nosniff");
	cr_assert_str_eq(resp_header(&r, "Referrer-Policy", hdr, sizeof(hdr)),
	                 "no-referrer");
	cr_assert_not_null(resp_header(&r, "Cache-Control", hdr, sizeof(hdr)));
	cr_assert_not_null(resp_header(&r, "ETag", etag, sizeof(etag)));
	cr_assert(strstr(r.body, "<html"), "the page: %s", r.body);
	/* the inline script a CSP would refuse is not in the page either */
	cr_assert_null(strstr(r.body, "<script>"));
	resp_free(&r);

	/* revalidation: the same ETag gets 304 and no body */
	fd = tcp_connect(t.port);
	snprintf(buf, sizeof(buf),
	         "GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n",
	         etag);
	send_all(fd, buf, strlen(buf));
	cr_assert_eq(read_response(fd, 10000, &r), 0);
	cr_assert_eq(r.status, 304);
	cr_assert_eq(r.body_len, 0);
	resp_free(&r);
	close(fd);

	cr_assert_eq(http_do(&t, "GET", "/app.js", NULL, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(resp_header(&r, "Content-Type", buf, sizeof(buf)),
	                 "text/javascript; charset=utf-8");
	resp_free(&r);
	cr_assert_eq(http_do(&t, "GET", "/app.css", NULL, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 200);
	resp_free(&r);

	/* nothing outside the table: traversal, unknown names, methods */
	const char *bad[] = {"/../Makefile",
	                     "/..",
	                     "/%2e%2e/etc/passwd",
	                     "/web/index.html",
	                     "/index.html/",
	                     "/nope.js",
	                     "/.git"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(
		        http_do(&t, "GET", bad[i], NULL, NULL, NULL, 0, &r), 0);
		cr_assert_eq(r.status, 404, "%s: %d", bad[i], r.status);
		resp_free(&r);
	}
	cr_assert_eq(
	        http_do(&t, "POST", "/app.js", NULL, "text/plain", "x", 1, &r),
	        0);
	cr_assert_eq(r.status, 405);
	resp_free(&r);
	/* the API's routes are not shadowed by the console's */
	cr_assert_eq(http_do(&t, "GET", "/healthz", NULL, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 200);
	resp_free(&r);
}

/* --- the rule editor's two routes ----------------------------------------- */

static void
rules_setup(void)
{
	td_start(&t, NULL);
	cr_assert_eq(td_stop(&t), 0);
	td_use_example_rules(&t);
	td_restart(&t);
}

TestSuite(rules_web, .init = rules_setup, .fini = teardown, .timeout = 90);

Test(rules_web, files_of_a_version_and_a_test_run_that_publishes_nothing)
{
	char pol[128], body_path[] = "/v1/rules/cal_grant/test";
	json_t *files, *v0, *v1, *r, *edited;
	const char *live, *params;
	char *text, *changed;
	struct resp rs;

	snprintf(pol, sizeof(pol), "%s", td_token(&t, "policy", NULL));
	v0 = td_call(&t, "GET", "/v1/rules/cal_grant/versions", pol, NULL, NULL,
	             200);
	live = jstr(v0, "live");
	cr_assert_not_null(live);

	files = td_call(&t, "GET", "/v1/rules/cal_grant/files", pol, NULL, NULL,
	                200);
	cr_assert_str_eq(jstr(files, "version"), live);
	params = jstr(json_object_get(files, "files"), "params/2025-26.yaml");
	cr_assert_not_null(params);
	cr_assert(strstr(params, "a_c: 109800"));
	cr_assert_not_null(
	        jstr(json_object_get(files, "files"), "cal_grant.lua"));

	/* a version by name; a bad or unknown one; a role with no reading */
	{
		char p[200];

		snprintf(p, sizeof(p), "/v1/rules/cal_grant/files?version=%s",
		         live);
		json_decref(td_call(&t, "GET", p, pol, NULL, NULL, 200));
	}
	json_decref(td_call(&t, "GET", "/v1/rules/cal_grant/files?version=zz",
	                    pol, NULL, NULL, 400));
	json_decref(td_call(&t, "GET",
	                    "/v1/rules/cal_grant/files?version=abc123", pol,
	                    NULL, NULL, 404));
	json_decref(td_call(&t, "GET", "/v1/rules/nope/files", pol, NULL, NULL,
	                    404));
	json_decref(td_call(&t, "GET", "/v1/rules/cal_grant/files",
	                    td_token(&t, "student", "S-1"), NULL, NULL, 403));

	/* the files as they are pass their tests */
	edited = json_pack("{s:O}", "files", json_object_get(files, "files"));
	text = json_dumps(edited, 0);
	r = td_call(&t, "POST", body_path, pol, text, NULL, 200);
	free(text);
	cr_assert(json_is_true(json_object_get(r, "ok")));
	cr_assert_str_eq(jstr(r, "version"), live);
	cr_assert_eq(json_integer_value(json_object_get(
	                     json_object_get(r, "tests"), "failed")),
	             0);
	json_decref(r);

	/* a ceiling moved: the tests that guard it fail, and nothing is
	 * published or even recorded */
	changed = strdup(params);
	memcpy(strstr(changed, "a_c: 109800"), "a_c: 039000", 11);
	json_object_set_new(json_object_get(edited, "files"),
	                    "params/2025-26.yaml", json_string(changed));
	free(changed);
	text = json_dumps(edited, 0);
	r = td_call(&t, "POST", body_path, pol, text, NULL, 200);
	free(text);
	cr_assert(json_is_false(json_object_get(r, "ok")));
	cr_assert_gt(json_integer_value(json_object_get(
	                     json_object_get(r, "tests"), "failed")),
	             0);
	cr_assert_str_neq(jstr(r, "version"), live);
	json_decref(r);
	v1 = td_call(&t, "GET", "/v1/rules/cal_grant/versions", pol, NULL, NULL,
	             200);
	cr_assert_str_eq(jstr(v1, "live"), live);
	cr_assert_eq(json_array_size(json_object_get(v1, "versions")),
	             json_array_size(json_object_get(v0, "versions")),
	             "a test run recorded a version");
	json_decref(v1);

	/* bad bodies change nothing and say why; other roles may not */
	json_decref(td_call(&t, "POST", body_path, pol, "{\"files\":{}}", NULL,
	                    422));
	json_decref(td_call(&t, "POST", body_path, pol,
	                    "{\"files\":{\"../x.lua\":\"return 1\"}}", NULL,
	                    422));
	json_decref(td_call(&t, "POST", body_path,
	                    td_token(&t, "counselor", "C-1"),
	                    "{\"files\":{\"a.lua\":\"x\"}}", NULL, 403));
	/* a set whose Lua does not load: reported, not published */
	r = td_call(&t, "POST", "/v1/rules/scratch/test", pol,
	            "{\"files\":{\"a.lua\":\"this is not lua\"}}", NULL, 200);
	cr_assert(json_is_false(json_object_get(r, "ok")));
	cr_assert_gt(json_array_size(json_object_get(r, "errors")), 0);
	json_decref(r);
	cr_assert_eq(http_do(&t, "GET", "/v1/rules/scratch/versions", pol, NULL,
	                     NULL, 0, &rs),
	             0);
	cr_assert_eq(rs.status, 404, "a test run created the set");
	resp_free(&rs);

	json_decref(edited);
	json_decref(files);
	json_decref(v0);
}

Test(stream, an_idle_stream_gets_heartbeats)
{
	struct sse s;

	cr_assert_eq(sse_open(&s, t.token), 200);
	cr_assert_not_null(sse_wait(&s, "event: ready\n", 15000));
	/* every 15 s: a comment line, which clients and proxies see as
	 * life and EventSource parsers skip */
	cr_assert_not_null(sse_wait(&s, "\n: heartbeat ", 40000),
	                   "no heartbeat: %s", s.buf);
	cr_assert_not_null(sse_wait(&s, "\n\n", 5000));
	sse_close(&s);
}
