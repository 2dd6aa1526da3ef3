/*
 * test_adapters.c: adapter definitions (the examples load; malformed ones
 * are reported at file:line:column), templates, backoff, the circuit
 * breaker and the signature scheme, without a network.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../adapters/adapter.h"
#include "../daemon/config.h"
#include "harness.h"

#ifndef CAIRN_SOURCE_DIR
#define CAIRN_SOURCE_DIR "."
#endif

struct log {
	char text[8192];
	int errors, warnings;
};

static void
collect(const struct cairn_err *e, int warning, void *data)
{
	struct log *l = data;
	char line[1200];

	cairn_err_format(e, line, sizeof(line));
	if (warning)
		l->warnings++;
	else
		l->errors++;
	strncat(l->text, line, sizeof(l->text) - strlen(l->text) - 2);
	strcat(l->text, "\n");
}

/* Loads text as an adapter file; returns what adp_def_load returned. */
static int
load_str(const char *text, struct log *l, struct adp_def **out)
{
	char dir[] = "/tmp/cairn-adp-XXXXXX", path[128];
	FILE *f;
	int rc;

	memset(l, 0, sizeof(*l));
	cr_assert(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/t.yaml", dir);
	f = fopen(path, "w");
	cr_assert(f != NULL);
	fputs(text, f);
	fclose(f);
	rc = adp_def_load(path, collect, l, out);
	unlink(path);
	rmdir(dir);
	return rc;
}

static const char good[] =
        "name: t\n"
        "base_url: http://127.0.0.1:1/x/\n"
        "retry: {max_attempts: 4, initial: 100ms, max: 1s, multiplier: 2, "
        "jitter: 0}\n"
        "breaker: {failures: 3, open_for: 10s}\n"
        "operations:\n"
        "  send:\n"
        "    method: POST\n"
        "    path: /apps/${case_id}\n"
        "    headers: {X-Campus: \"${data.campus}\"}\n"
        "    body: {id: $case_id, who: $data.student.name, opt: "
        "$data.nope?, lit: $$x, n: 3, list: [$data.campus]}\n"
        "    response:\n"
        "      event: $response.next\n"
        "      events: [complete]\n"
        "      data: {ref: $response.reference}\n";

Test(adapters, the_examples_load_without_errors)
{
	const char *dirs[] = {CAIRN_SOURCE_DIR "/examples/adapters"};
	struct adp_set *s = NULL;
	struct log l = {0};

	cr_assert_eq(adp_set_load(dirs, 1, collect, &l, &s), 0, "%s", l.text);
	cr_assert_eq(l.errors, 0, "%s", l.text);
	cr_assert_not_null(adp_set_find(s, "uc_campus"));
	cr_assert_not_null(adp_set_find(s, "csu_campus"));
	cr_assert_not_null(adp_set_find(s, "ccc_college"));
	cr_assert_not_null(
	        adp_op_find(adp_set_find(s, "uc_campus"), "send_application"));
	adp_set_unref(s);
}

Test(adapters, a_good_definition_loads_with_its_defaults)
{
	struct adp_def *d = NULL;
	struct log l;

	cr_assert_eq(load_str(good, &l, &d), 0, "%s", l.text);
	cr_assert_str_eq(d->base_url, "http://127.0.0.1:1/x");
	cr_assert_eq(d->max_attempts, 4);
	cr_assert_eq(d->concurrency, 8);
	cr_assert_eq(d->timeout_ms, 30000);
	cr_assert_str_eq(adp_op_find(d, "send")->on_failure, "call_failed");
	adp_def_free(d);
}

static const struct {
	const char *text;
	const char *want; /* "line:column: words" */
} bad[] = {
        {"name: t\nbase_url: ftp://x\noperations: {a: {method: GET, path: "
         "/}}\n",
         "2:11: base_url must start with http:// or https://"},
        {"name: t\nbase_url: http://x\ncredentials: {secret: hunter2}\n"
         "operations: {a: {method: GET, path: /}}\n",
         "3:23: credentials.secret must name where the secret is"},
        {"name: t\nbase_url: http://u:p@x\noperations: {a: {method: GET, "
         "path: /}}\n",
         "2:11: base_url must not hold credentials"},
        {"name: t\nbase_url: http://x\ntimeouts: {total: soon}\n"
         "operations: {a: {method: GET, path: /}}\n",
         "3:19: timeouts.total: 'soon' is not a duration"},
        {"name: t\nbase_url: http://x\nretries: 3\noperations: {a: "
         "{method: GET, path: /}}\n",
         "3:1: unknown key 'retries'"},
        {"name: t\nbase_url: http://x\noperations:\n  a:\n    method: "
         "GET\n    path: /\n    body: {x: $datum.y}\n",
         "7:15: template '$datum.y': unknown source"},
        {"name: t\nbase_url: http://x\noperations:\n  a:\n    method: "
         "POST\n    path: /\n    body: {x: $response.y}\n",
         "7:15: template '$response.y': $response exists only in a reply"},
        {"name: t\nbase_url: http://x\noperations:\n  a:\n    method: "
         "POST\n    path: /a/${data.}\n",
         "6:11: '/a/${data.}': an empty field name"},
        {"name: t\nbase_url: http://x\noperations:\n  a:\n    method: "
         "FETCH\n    path: /\n",
         "5:13: method 'FETCH' is not one of"},
        {"name: t\nbase_url: http://x\noperations:\n  a:\n    method: "
         "POST\n    path: /\n    response: {event: $response.next}\n",
         "7:23: an event taken from the reply needs 'events'"},
        {"name: t\nbase_url: http://x\noperations:\n  a:\n    method: "
         "POST\n    path: /\n    headers: {Idempotency-Key: x}\n",
         "7:15: header 'Idempotency-Key' is set by Cairn"},
        {"name: t\nbase_url: http://x\n", "1:1: missing 'operations'"},
        {"name: t\nbase_url: http://x\noperations: {a: {method: GET, path: "
         "/}}\n---\nname: u\n",
         "more than one YAML document"},
        {"name: [t\n", "t.yaml:"},
};

Test(adapters, malformed_definitions_are_reported_at_line_and_column)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct adp_def *d = (struct adp_def *)1;
		struct log l;

		cr_assert_neq(load_str(bad[i].text, &l, &d), 0, "case %zu", i);
		cr_assert_null(d, "case %zu", i);
		cr_assert_geq(l.errors, 1, "case %zu", i);
		cr_assert_not_null(strstr(l.text, bad[i].want),
		                   "case %zu: want '%s' in:\n%s", i,
		                   bad[i].want, l.text);
	}
}

Test(adapters, a_secret_that_is_unset_is_a_warning_not_an_error)
{
	struct adp_def *d = NULL;
	struct log l;

	unsetenv("CAIRN_TEST_NOPE");
	cr_assert_eq(load_str("name: t\nbase_url: http://x\ncallbacks: "
	                      "{secret: {env: CAIRN_TEST_NOPE}}\noperations: "
	                      "{a: {method: GET, path: /}}\n",
	                      &l, &d),
	             0, "%s", l.text);
	cr_assert_eq(l.warnings, 1);
	cr_assert_null(d->callback_secret.value);
	cr_assert_not_null(strstr(d->callback_secret.why, "not set"));
	adp_def_free(d);
	setenv("CAIRN_TEST_SET", "k3y", 1);
	cr_assert_eq(load_str("name: t\nbase_url: http://x\ncallbacks: "
	                      "{secret: {env: CAIRN_TEST_SET}}\noperations: "
	                      "{a: {method: GET, path: /}}\n",
	                      &l, &d),
	             0);
	cr_assert_str_eq(d->callback_secret.value, "k3y");
	/* the value is never in what is reported */
	cr_assert_null(strstr(l.text, "k3y"));
	adp_def_free(d);
}

Test(adapters, templates_render_case_data_and_name_a_missing_field)
{
	struct adp_def *d = NULL;
	struct log l;
	struct adp_ctx c = {0};
	json_t *data = json_pack("{s:s, s:{s:s}}", "campus", "uc-davis",
	                         "student", "name", "Ana");
	json_t *out = NULL, *resp;
	char err[300], *s = NULL;
	const struct adp_op *op;

	cr_assert_eq(load_str(good, &l, &d), 0, "%s", l.text);
	op = adp_op_find(d, "send");
	c.data = data;
	c.case_id = "C1";
	cr_assert_eq(adp_render(op->body, &c, &out, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_str_eq(json_string_value(json_object_get(out, "id")), "C1");
	cr_assert_str_eq(json_string_value(json_object_get(out, "who")), "Ana");
	cr_assert_null(json_object_get(out, "opt"));
	cr_assert_str_eq(json_string_value(json_object_get(out, "lit")), "$x");
	cr_assert_eq(json_integer_value(json_object_get(out, "n")), 3);
	cr_assert_str_eq(json_string_value(json_array_get(
	                         json_object_get(out, "list"), 0)),
	                 "uc-davis");
	json_decref(out);
	cr_assert_eq(adp_render_str(op->path, &c, &s, err, sizeof(err)), 0);
	cr_assert_str_eq(s, "/apps/C1");
	free(s);

	/* a field the case does not have fails the call, and says which */
	json_object_del(data, "student");
	cr_assert_eq(adp_render(op->body, &c, &out, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "$data.student.name"), "%s", err);
	json_object_del(data, "campus");
	cr_assert_eq(adp_render_str(json_string_value(json_object_get(
	                                    op->headers, "X-Campus")),
	                            &c, &s, err, sizeof(err)),
	             -1);
	cr_assert_not_null(strstr(err, "data.campus"), "%s", err);

	/* a value may not smuggle a header line */
	json_object_set_new(data, "campus", json_string("a\r\nX-Evil: 1"));
	cr_assert_eq(adp_render_str("${data.campus}", &c, &s, err, sizeof(err)),
	             -1);

	resp = json_pack("{s:s, s:s}", "next", "complete", "reference", "R9");
	c.response = resp;
	cr_assert_eq(adp_render(op->resp_data, &c, &out, err, sizeof(err)), 0);
	cr_assert_str_eq(json_string_value(json_object_get(out, "ref")), "R9");
	json_decref(out);
	json_decref(resp);
	json_decref(data);
	adp_def_free(d);
}

Test(adapters, backoff_grows_is_capped_and_jitters_within_its_share)
{
	struct adp_def d = {0};

	d.backoff_initial_ms = 100;
	d.backoff_max_ms = 1000;
	d.backoff_multiplier = 2;
	d.jitter = 0;
	cr_assert_eq(adp_backoff_ms(&d, 1, 0), 100);
	cr_assert_eq(adp_backoff_ms(&d, 2, 0), 200);
	cr_assert_eq(adp_backoff_ms(&d, 4, 0), 800);
	cr_assert_eq(adp_backoff_ms(&d, 5, 0), 1000);
	cr_assert_eq(adp_backoff_ms(&d, 60, 0), 1000);
	d.jitter = 0.5;
	for (uint32_t r = 0; r < 4000000000u; r += 397000000u) {
		int64_t ms = adp_backoff_ms(&d, 3, r);

		cr_assert(ms > 200 && ms <= 400, "%lld", (long long)ms);
	}
	cr_assert_lt(adp_backoff_ms(&d, 3, 0xffffffffu),
	             adp_backoff_ms(&d, 3, 0));
}

Test(adapters, the_breaker_opens_probes_once_and_closes)
{
	struct adp_def d = {0};
	struct adp_breaker b = {0};

	d.breaker_failures = 3;
	d.breaker_open_ms = 1000;
	cr_assert(adp_breaker_allow(&b, 0));
	adp_breaker_record(&b, &d, 0, 0);
	adp_breaker_record(&b, &d, 0, 0);
	cr_assert_eq(b.state, ADP_CLOSED);
	adp_breaker_record(&b, &d, 1, 0); /* a success resets the count */
	adp_breaker_record(&b, &d, 0, 0);
	adp_breaker_record(&b, &d, 0, 0);
	cr_assert_eq(b.state, ADP_CLOSED);
	adp_breaker_record(&b, &d, 0, 10);
	cr_assert_eq(b.state, ADP_OPEN);
	cr_assert_not(adp_breaker_allow(&b, 500));
	/* after open_for: one probe, and only one */
	cr_assert(adp_breaker_allow(&b, 1010));
	cr_assert_eq(b.state, ADP_HALF_OPEN);
	cr_assert_not(adp_breaker_allow(&b, 1011));
	adp_breaker_record(&b, &d, 0, 1020); /* the probe failed */
	cr_assert_eq(b.state, ADP_OPEN);
	cr_assert_not(adp_breaker_allow(&b, 1500));
	cr_assert(adp_breaker_allow(&b, 2020));
	adp_breaker_record(&b, &d, 1, 2030);
	cr_assert_eq(b.state, ADP_CLOSED);
	cr_assert(adp_breaker_allow(&b, 2031));
	cr_assert(adp_breaker_allow(&b, 2032));
	cr_assert_str_eq(adp_breaker_name(ADP_HALF_OPEN), "half_open");
}

Test(adapters, signatures_verify_and_anything_changed_does_not)
{
	struct adp_secret s = {0}, other = {0};
	char hex[65], hdr[80];
	const char *body = "{\"event_id\":\"e1\"}";

	s.value = "s3cret";
	s.len = 6;
	other.value = "s3cres";
	other.len = 6;
	cr_assert_eq(adp_sign(&s, "1700000000", body, strlen(body), hex), 0);
	/* the scheme is plain HMAC-SHA256 over "timestamp.body" */
	cr_assert_str_eq(hex, "b7ae34b78dfdf65e437098c4dc42d89f"
	                      "96f5dd9152180c66b3c5aec58df53b7a");
	snprintf(hdr, sizeof(hdr), "sha256=%s", hex);
	cr_assert(adp_verify(&s, "1700000000", body, strlen(body), hdr));
	cr_assert_not(
	        adp_verify(&other, "1700000000", body, strlen(body), hdr));
	cr_assert_not(adp_verify(&s, "1700000001", body, strlen(body), hdr));
	cr_assert_not(adp_verify(&s, "1700000000", "{}", 2, hdr));
	cr_assert_not(adp_verify(&s, "1700000000", body, strlen(body), hex));
	cr_assert_not(
	        adp_verify(&s, "1700000000", body, strlen(body), "sha256=00"));
	cr_assert_not(adp_verify(&s, "1700000000", body, strlen(body), NULL));
}

/* `cairn check` and `cairnd --check` run the adapter format's checks. */
Test(adapters, cairn_check_reports_a_bad_adapter_at_its_line)
{
	char dir[] = "/tmp/cairn-adpchk-XXXXXX", path[256], out[4096];
	FILE *f;
	int rc;

	cr_assert(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/adapters", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/adapters/inst.yaml", dir);
	f = fopen(path, "w");
	cr_assert(f != NULL);
	fputs("name: inst\nbase_url: http://x\noperations:\n  send:\n"
	      "    method: POST\n    path: /a\n    body: {who: $dat.who}\n",
	      f);
	fclose(f);
	rc = run_cmd(out, sizeof(out), "%s check %s", td_bin("cairn"), dir);
	cr_assert_eq(rc, 1, "%s", out);
	snprintf(path, sizeof(path),
	         "%s/adapters/inst.yaml:7:17: template '$dat.who': unknown "
	         "source",
	         dir);
	cr_assert_not_null(strstr(out, path), "%s", out);
	rc = run_cmd(out, sizeof(out), "rm -rf %s", dir);
	cr_assert_eq(rc, 0);
}

/* The worker's block of the configuration, with defaults that need none. */
Test(adapters, the_outbox_configuration_block)
{
	char dir[] = "/tmp/cairn-adpcfg-XXXXXX", path[256];
	struct config c;
	struct cairn_err e;
	FILE *f;

	config_defaults(&c);
	cr_assert_eq(c.outbox.max_rows, 4096);
	cr_assert_eq(c.outbox.poll_ms, 2000);
	cr_assert_eq(c.outbox.max_connections, 256);
	cr_assert(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	f = fopen(path, "w");
	fputs("outbox:\n  max_rows: 100\n  poll: 250ms\n  max_connections: 8\n",
	      f);
	fclose(f);
	cr_assert_eq(config_load(&c, path, &e), 0, "%s", e.msg);
	cr_assert_eq(c.outbox.max_rows, 100);
	cr_assert_eq(c.outbox.poll_ms, 250);
	cr_assert_eq(c.outbox.max_connections, 8);
	f = fopen(path, "w");
	fputs("outbox:\n  max_rows: 0\n", f);
	fclose(f);
	cr_assert_neq(config_load(&c, path, &e), 0);
	cr_assert_eq(e.line, 2);
	cr_assert_eq(e.column, 13);
	cr_assert_eq(c.outbox.max_rows, 100, "nothing changed");
	f = fopen(path, "w");
	fputs("outbox:\n  polls: 1s\n", f);
	fclose(f);
	cr_assert_neq(config_load(&c, path, &e), 0);
	cr_assert_not_null(strstr(e.msg, "unknown key 'polls'"), "%s", e.msg);
	unlink(path);
	rmdir(dir);
}
