/*
 * test_api.c: the API of a real cairnd: authentication, tokens from
 * creation to revocation, bodies that must be refused without changing
 * anything, the probes and the metrics; then the daemon's own life (first
 * start, restart, configuration errors, a corrupt database) and the cairn
 * client against it.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct td t;

static void
setup(void)
{
	td_start(&t, "limits:\n  max_body: 4KiB\n");
}

static void
teardown(void)
{
	td_cleanup(&t);
}

static json_t *
body_json(const struct resp *r)
{
	json_t *j = json_loadb(r->body, r->body_len, 0, NULL);

	cr_assert_not_null(j, "reply is not JSON: %s", r->body);
	return j;
}

/* Creates a token through the API; returns the secret (static buffer). */
static const char *
make_token(const char *role, const char *scope, char *id_out)
{
	static char tok[128];
	char body[256];
	struct resp r;
	json_t *j;

	snprintf(body, sizeof(body), "{\"role\":\"%s\"%s%s%s}", role,
	         scope ? ",\"scope\":\"" : "", scope ? scope : "",
	         scope ? "\"" : "");
	cr_assert_eq(http_do(&t, "POST", "/v1/tokens", t.token,
	                     "application/json", body, strlen(body), &r),
	             0);
	cr_assert_eq(r.status, 201, "%s", r.body);
	j = body_json(&r);
	snprintf(tok, sizeof(tok), "%s",
	         json_string_value(json_object_get(j, "token")));
	if (id_out)
		strcpy(id_out, json_string_value(json_object_get(j, "id")));
	json_decref(j);
	resp_free(&r);
	return tok;
}

static size_t
token_count(void)
{
	struct resp r;
	json_t *j;
	size_t n;

	cr_assert_eq(
	        http_do(&t, "GET", "/v1/tokens", t.token, NULL, NULL, 0, &r),
	        0);
	cr_assert_eq(r.status, 200);
	j = body_json(&r);
	n = json_array_size(json_object_get(j, "tokens"));
	json_decref(j);
	resp_free(&r);
	return n;
}

TestSuite(api, .init = setup, .fini = teardown, .timeout = 30);

Test(api, whoami_needs_a_valid_token)
{
	struct resp r;
	char v[128];
	static const char *bad[] = {
	        NULL,
	        "cairn_0000000000000000000000000000000000000000000000000000"
	        "000000000000",
	        "not-a-token"};

	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(http_do(&t, "GET", "/v1/whoami", bad[i], NULL,
		                     NULL, 0, &r),
		             0);
		cr_assert_eq(r.status, 401, "case %zu", i);
		cr_assert_not_null(
		        resp_header(&r, "WWW-Authenticate", v, sizeof(v)));
		cr_assert(strstr(r.body, "urn:cairn:problem:unauthorized"));
		resp_free(&r);
	}
	cr_assert_eq(
	        http_do(&t, "GET", "/v1/whoami", t.token, NULL, NULL, 0, &r),
	        0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "\"role\":\"admin\""));
	resp_free(&r);
}

Test(api, token_lifecycle)
{
	char id[64], path[128], student[128];
	struct resp r;
	json_t *j;

	snprintf(student, sizeof(student), "%s",
	         make_token("student", "S2025-0001", id));
	cr_assert_eq(
	        http_do(&t, "GET", "/v1/whoami", student, NULL, NULL, 0, &r),
	        0);
	cr_assert_eq(r.status, 200);
	j = body_json(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "role")),
	                 "student");
	cr_assert_str_eq(json_string_value(json_object_get(j, "scope")),
	                 "S2025-0001");
	cr_assert_str_eq(json_string_value(json_object_get(j, "token_id")), id);
	json_decref(j);
	resp_free(&r);

	/* a student may not make tokens or list them */
	cr_assert_eq(http_do(&t, "POST", "/v1/tokens", student,
	                     "application/json", "{\"role\":\"admin\"}", 16,
	                     &r),
	             0);
	cr_assert_eq(r.status, 403);
	resp_free(&r);
	cr_assert_eq(
	        http_do(&t, "GET", "/v1/tokens", student, NULL, NULL, 0, &r),
	        0);
	cr_assert_eq(r.status, 403);
	resp_free(&r);

	/* the list never shows secrets or hashes */
	cr_assert_eq(
	        http_do(&t, "GET", "/v1/tokens", t.token, NULL, NULL, 0, &r),
	        0);
	cr_assert(strstr(r.body, id));
	cr_assert_null(strstr(r.body, "cairn_"));
	cr_assert_null(strstr(r.body, "hash"));
	resp_free(&r);

	snprintf(path, sizeof(path), "/v1/tokens/%s", id);
	cr_assert_eq(http_do(&t, "DELETE", path, t.token, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 204);
	resp_free(&r);
	/* revoked at once, even though it was just used (and cached) */
	cr_assert_eq(
	        http_do(&t, "GET", "/v1/whoami", student, NULL, NULL, 0, &r),
	        0);
	cr_assert_eq(r.status, 401);
	resp_free(&r);
	cr_assert_eq(http_do(&t, "DELETE", path, t.token, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 404);
	resp_free(&r);
	cr_assert_eq(http_do(&t, "DELETE", "/v1/tokens/tok_nope", t.token, NULL,
	                     NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 404);
	resp_free(&r);
}

struct bad_body {
	const char *ctype;
	const char *body;
	int status;
	const char *slug;
};

Test(api, bad_bodies_get_clear_errors_and_change_nothing)
{
	static const struct bad_body cases[] = {
	        {"application/json", "{\"role\":\"student\",", 400,
	         "malformed-json"},
	        {"application/json", "{\"role\":\"stud\xff\"}", 400,
	         "malformed-json"},
	        {"application/json", "{\"role\":\"admin\",\"role\":\"admin\"}",
	         400, "malformed-json"},
	        {"text/plain", "{\"role\":\"admin\"}", 415,
	         "unsupported-media-type"},
	        {NULL, "{\"role\":\"admin\"}", 415, "unsupported-media-type"},
	        {"application/json", "[]", 422, "invalid-body"},
	        {"application/json", "{\"role\":\"root\"}", 422,
	         "invalid-body"},
	        {"application/json", "{\"role\":7}", 422, "invalid-body"},
	        {"application/json", "{\"role\":\"student\"}", 422,
	         "invalid-body"},
	        {"application/json", "{\"role\":\"student\",\"scope\":\"a b\"}",
	         422, "invalid-body"},
	        {"application/json", "{\"role\":\"admin\",\"scope\":\"x\"}",
	         422, "invalid-body"},
	        {"application/json", "{\"role\":\"admin\",\"extra\":1}", 422,
	         "invalid-body"},
	        {"application/json", "{\"role\":\"admin\",\"label\":5}", 422,
	         "invalid-body"},
	};
	struct resp r;
	char big[6000];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[96];

		cr_assert_eq(http_do(&t, "POST", "/v1/tokens", t.token,
		                     cases[i].ctype, cases[i].body,
		                     strlen(cases[i].body), &r),
		             0);
		cr_assert_eq(r.status, cases[i].status, "case %zu: %d %s", i,
		             r.status, r.body);
		snprintf(want, sizeof(want), "urn:cairn:problem:%s",
		         cases[i].slug);
		cr_assert(strstr(r.body, want), "case %zu: %s", i, r.body);
		if (cases[i].status == 400)
			cr_assert(strstr(r.body, "\"position\":"), "case %zu",
			          i);
		resp_free(&r);
	}
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"role\":\"admin\"}", 16);
	cr_assert_eq(http_do(&t, "POST", "/v1/tokens", t.token,
	                     "application/json", big, sizeof(big), &r),
	             0);
	cr_assert_eq(r.status, 413);
	resp_free(&r);
	/* nothing was created */
	cr_assert_eq(token_count(), 1);
}

Test(api, malformed_json_reports_the_byte_position)
{
	struct resp r;
	json_t *j;
	static const char body[] = "{\"role\": \"admin\" \"scope\": 1}";

	cr_assert_eq(http_do(&t, "POST", "/v1/tokens", t.token,
	                     "application/json", body, sizeof(body) - 1, &r),
	             0);
	cr_assert_eq(r.status, 400);
	j = body_json(&r);
	/* jansson counts to the end of the offending token, "scope" */
	cr_assert_eq(json_integer_value(json_object_get(j, "position")), 24);
	cr_assert_eq(json_integer_value(json_object_get(j, "column")), 24);
	cr_assert(strstr(json_string_value(json_object_get(j, "detail")),
	                 "near '\"scope\"'"));
	cr_assert_eq(json_integer_value(json_object_get(j, "status")), 400);
	cr_assert_str_eq(json_string_value(json_object_get(j, "title")),
	                 "Bad Request");
	json_decref(j);
	resp_free(&r);
}

Test(api, probes_and_metrics)
{
	struct resp r;

	cr_assert_eq(http_do(&t, "GET", "/readyz", NULL, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "writable"));
	resp_free(&r);
	cr_assert_eq(http_do(&t, "GET", "/nope", NULL, NULL, NULL, 0, &r), 0);
	resp_free(&r);
	cr_assert_eq(http_do(&t, "GET", "/metrics", NULL, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "cairn_http_requests_total{route=\"/readyz\","
	                         "method=\"GET\",status=\"200\"} 1\n"),
	          "%s", r.body);
	cr_assert(strstr(r.body, "route=\"unmatched\",method=\"GET\","
	                         "status=\"404\"} 1\n"));
	cr_assert(strstr(r.body, "cairn_http_request_duration_seconds_bucket"));
	cr_assert(strstr(r.body, "cairn_store_commit_batch_size_bucket"));
	cr_assert(strstr(r.body, "cairn_timer_lag_seconds_count 0\n"));
	cr_assert(strstr(r.body, "cairn_store_commit_duration_seconds_count"));
	cr_assert(strstr(r.body, "cairn_store_database_bytes "));
	cr_assert_null(strstr(r.body, "cairn_store_database_bytes 0\n"));
	resp_free(&r);
}

/* --- the daemon's life ------------------------------------------------- */

Test(api, first_start_writes_a_private_admin_token_once)
{
	char path[600], again[128];
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/var/admin.token", t.dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(td_stop(&t), 0);
	td_restart(&t);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(again, sizeof(again), f));
	fclose(f);
	again[strcspn(again, "\n")] = '\0';
	cr_assert_str_eq(again, t.token, "a restart replaced the token");
	cr_assert_eq(token_count(), 1);
}

Test(api, acknowledged_tokens_survive_kill_9)
{
	char id[64], tok[128];
	struct resp r;

	snprintf(tok, sizeof(tok), "%s", make_token("counselor", "C-17", id));
	kill(t.pid, SIGKILL);
	waitpid(t.pid, NULL, 0);
	t.pid = 0;
	td_restart(&t);
	cr_assert_eq(http_do(&t, "GET", "/v1/whoami", tok, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "C-17"));
	resp_free(&r);
}

Test(api, cli_talks_to_the_daemon)
{
	char out[8192], url[64];
	int rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", t.port);
	rc = run_cmd(out, sizeof(out), "CAIRN_URL=%s CAIRN_TOKEN=%s %s status",
	             url, t.token, td_bin("cairn"));
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "admin"), "%s", out);
	rc = run_cmd(out, sizeof(out),
	             "CAIRN_URL=%s CAIRN_TOKEN=cairn_%064d %s status", url, 0,
	             td_bin("cairn"));
	cr_assert_eq(rc, 4, "%s", out);
	rc = run_cmd(out, sizeof(out),
	             "CAIRN_URL=%s/ CAIRN_TOKEN=%s %s token create --role "
	             "aid_officer --scope ucb-fao",
	             url, t.token, td_bin("cairn"));
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert_eq(strncmp(out, "cairn_", 6), 0, "%s", out);
	rc = run_cmd(out, sizeof(out),
	             "CAIRN_URL=%s CAIRN_TOKEN=%s %s token list", url, t.token,
	             td_bin("cairn"));
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, "aid_officer"), "%s", out);
	rc = run_cmd(out, sizeof(out),
	             "CAIRN_URL=%s CAIRN_TOKEN=%s %s token create --role "
	             "aid_officer",
	             url, t.token, td_bin("cairn"));
	cr_assert_eq(rc, 2, "%s", out);
	rc = run_cmd(out, sizeof(out),
	             "CAIRN_URL=%s CAIRN_TOKEN=%s %s token revoke tok_none",
	             url, t.token, td_bin("cairn"));
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert(strstr(out, "404"), "%s", out);
}

Test(api, offline_token_create_works_beside_the_running_daemon)
{
	char out[8192];
	struct resp r;
	int rc;

	rc = run_cmd(out, sizeof(out),
	             "(%s token create --role student --scope S-9 --db %s "
	             "2>/dev/null)",
	             td_bin("cairn"), t.db);
	cr_assert_eq(rc, 0, "%s", out);
	out[strcspn(out, "\n")] = '\0';
	cr_assert_eq(http_do(&t, "GET", "/v1/whoami", out, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(strstr(r.body, "S-9"));
	resp_free(&r);
}

/* --- without a running daemon ------------------------------------------- */

Test(daemon, cli_exit_codes_without_a_daemon)
{
	char out[4096];

	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "CAIRN_URL=http://127.0.0.1:1 %s status",
	                     td_bin("cairn")),
	             3, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out), "%s", td_bin("cairn")), 2);
	cr_assert_eq(
	        run_cmd(out, sizeof(out), "%s frobnicate", td_bin("cairn")), 2);
	cr_assert_eq(
	        run_cmd(out, sizeof(out), "%s --bogus status", td_bin("cairn")),
	        2);
	cr_assert_eq(run_cmd(out, sizeof(out), "%s --help", td_bin("cairn")),
	             0);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(daemon, bad_configuration_is_reported_with_file_line_column)
{
	char dir[] = "/tmp/cairn-test-XXXXXX", cfg[128], out[4096], want[160];
	int rc;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(cfg, sizeof(cfg), "%s/bad.yaml", dir);
	write_file(cfg, "listen: 127.0.0.1:8080\nlimits:\n  max_body: 1MiB\n"
	                "  max_bogus: 3\n");
	rc = run_cmd(out, sizeof(out), "%s --check -c %s", td_bin("cairnd"),
	             cfg);
	cr_assert_eq(rc, 1, "%s", out);
	snprintf(want, sizeof(want), "%s:4:3:", cfg);
	cr_assert(strstr(out, want), "%s", out);
	cr_assert(strstr(out, "max_bogus"), "%s", out);
	/* the daemon refuses to start on it too, at once */
	rc = run_cmd(out, sizeof(out), "timeout 5 %s -c %s", td_bin("cairnd"),
	             cfg);
	cr_assert_eq(rc, 1, "%s", out);
	/* the client checks the same way, offline */
	rc = run_cmd(out, sizeof(out), "%s check %s", td_bin("cairn"), cfg);
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert(strstr(out, want), "%s", out);
	/* a missing file is named */
	rc = run_cmd(out, sizeof(out), "%s --check -c %s/none.yaml",
	             td_bin("cairnd"), dir);
	cr_assert_eq(rc, 1);
	cr_assert(strstr(out, "none.yaml"), "%s", out);
	run_cmd(out, sizeof(out), "rm -rf %s", dir);
}

Test(daemon, bad_definition_stops_the_start_and_the_check)
{
	char dir[] = "/tmp/cairn-test-XXXXXX", p[256], out[4096], want[200];
	int rc;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/workflows", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/workflows/broken.yaml", dir);
	write_file(p, "name: broken\nstatuses: [a, b\n");
	snprintf(p, sizeof(p), "%s/cairnd.yaml", dir);
	write_file(p, "listen: 127.0.0.1:0\ndatabase: var/cairn.db\n"
	              "definitions:\n  workflows: workflows\n  rules: []\n"
	              "  adapters: []\n");
	rc = run_cmd(out, sizeof(out), "%s --check -c %s", td_bin("cairnd"), p);
	cr_assert_eq(rc, 1, "%s", out);
	snprintf(want, sizeof(want), "%s/workflows/broken.yaml:", dir);
	cr_assert(strstr(out, want), "%s", out);
	rc = run_cmd(out, sizeof(out), "timeout 5 %s -c %s", td_bin("cairnd"),
	             p);
	cr_assert_eq(rc, 1, "%s", out);
	snprintf(p, sizeof(p), "%s/var/cairn.db", dir);
	cr_assert_neq(access(p, F_OK), 0, "a database was made anyway");
	run_cmd(out, sizeof(out), "rm -rf %s", dir);
}

Test(daemon, examples_and_default_config_check_clean)
{
	char out[8192];

	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "cd %s && %s --check -c "
	                     "etc/cairnd.yaml",
	                     CAIRN_SOURCE_DIR, td_bin("cairnd")),
	             0, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out), "cd %s && %s check examples",
	                     CAIRN_SOURCE_DIR, td_bin("cairn")),
	             0, "%s", out);
}

Test(daemon, corrupt_database_is_refused_with_a_clear_error)
{
	char dir[] = "/tmp/cairn-test-XXXXXX", db[128], out[4096];
	int rc;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/cairn.db", dir);
	write_file(db, "this is not a database, it is a note from a person\n");
	rc = run_cmd(out, sizeof(out),
	             "cd %s && timeout 5 %s --listen 127.0.0.1:0 --db %s",
	             CAIRN_SOURCE_DIR, td_bin("cairnd"), db);
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert(strstr(out, db), "%s", out);
	cr_assert(strstr(out, "not a database"), "%s", out);
	run_cmd(out, sizeof(out), "rm -rf %s", dir);
}
