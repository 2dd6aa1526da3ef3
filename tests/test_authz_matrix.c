/*
 * test_authz_matrix.c: the authorization matrix (issue 7, item 1), table
 * driven against a real cairnd.
 *
 * Three tables must agree: routes[] in daemon/api.c (what cairnd
 * enforces), the matrix in docs/security.md (what a reviewer reads), and
 * rows[] below (how to call each route, in and out of the caller's
 * scope). A route without a row here, a row without a route, or a
 * difference between the document and routes[] fails the test; the
 * document's table as routes[] would have it is printed then, to paste.
 *
 * Then every route is called without a token (401), with a well-formed
 * token cairnd never issued (401), and with a token of each of the seven
 * roles: 403 for a role the route refuses; for a role it takes, a call on
 * a record in the caller's scope gets the row's in-scope answer (2xx or a
 * handler's own 4xx), and a call on a record outside it 404 (never 403:
 * its existence is not confirmed). Listings must not show what is out of
 * scope.
 *
 * The data: students S1 and S2; counselor C1 with S1 in the caseload (C2
 * another counselor); aid office fao-a, campus campus-a and office fao-b;
 * case A (S1, fao-a), case B (S1, campus-a), case X (S2, fao-b), each with
 * an alert to its counselor and one to its office; the institution token's
 * adapter uc_campus.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/auth.h"
#include "../daemon/daemon.h"
#include "../daemon/router.h"
#include "harness.h"

static struct td t;

static const char mx_wf[] =
        "name: mx\n"
        "description: a file every staff role may touch\n"
        "statuses:\n"
        "  open:\n"
        "    initial: true\n"
        "    queue: mx_q\n"
        "    on_enter:\n"
        "      - alert: {kind: c_alert, to: counselor, message: C.}\n"
        "      - alert: {kind: o_alert, to: office, message: O.}\n"
        "  closed: {terminal: true}\n"
        "transitions:\n"
        "  - on: touch\n"
        "    from: open\n"
        "    to: open\n"
        "    roles: [student, counselor, aid_officer, admissions, admin]\n"
        "  - on: close\n"
        "    from: open\n"
        "    to: closed\n"
        "    roles: [aid_officer, admissions]\n";

/* cases opened by the creation row, outside the queue the claims use */
static const char plain_wf[] = "name: plain\n"
                               "statuses:\n"
                               "  new: {initial: true}\n"
                               "  done: {terminal: true}\n"
                               "transitions:\n"
                               "  - on: finish\n"
                               "    from: new\n"
                               "    to: done\n"
                               "    roles: [aid_officer]\n";

/*
 * How to call one route. path and body are templates: {case}, {alert},
 * {counselor}, {office}, {recipient}, {subject}, {ownerkey}, {qoffice} and
 * {spare} take the caller's in-scope or out-of-scope value (expand()).
 * ok lists the in-scope answers: "2xx", or statuses separated by spaces.
 * out is the answer out of scope: 404, or 403 where nothing exists yet to
 * hide (opening a case for someone else); 0 when the route names no
 * record (its scope narrows a listing or a queue instead).
 * list: a listing, which must show the caller's case and never X.
 */
/* a body of a route that takes the bytes as they are (an ISIR file) */
#define TEXT_BODY "text:"

struct row {
	const char *method;
	const char *pattern;
	const char *path;
	const char *body;
	const char *ok;
	int out;
	int list;
};

static const struct row rows[] = {
        {"GET", "/healthz", "/healthz", NULL, "200", 0, 0},
        {"GET", "/readyz", "/readyz", NULL, "200", 0, 0},
        {"GET", "/metrics", "/metrics", NULL, "200", 0, 0},
        {"GET", "/v1/whoami", "/v1/whoami", NULL, "200", 0, 0},
        {"GET", "/v1/tokens", "/v1/tokens", NULL, "200", 0, 0},
        {"POST", "/v1/tokens", "/v1/tokens",
         "{\"role\":\"student\",\"scope\":\"S77\"}", "201", 0, 0},
        {"DELETE", "/v1/tokens/{id}", "/v1/tokens/{spare}", NULL, "204", 0, 0},
        {"POST", "/v1/cases", "/v1/cases",
         "{\"workflow\":\"plain\",\"subject\":\"{subject}\","
         "\"data\":{\"{ownerkey}\":\"{office}\"}}",
         "201", 403, 0},
        {"GET", "/v1/cases", "/v1/cases?workflow=mx", NULL, "200", 0, 1},
        {"GET", "/v1/cases/{id}", "/v1/cases/{case}", NULL, "200", 404, 0},
        {"GET", "/v1/cases/{id}/history", "/v1/cases/{case}/history", NULL,
         "200", 404, 0},
        {"POST", "/v1/cases/{id}/events", "/v1/cases/{case}/events",
         "{\"type\":\"touch\"}", "200", 404, 0},
        {"GET", "/v1/workflows", "/v1/workflows", NULL, "200", 0, 0},
        {"GET", "/v1/workflows/{name}", "/v1/workflows/mx", NULL, "200", 0, 0},
        {"POST", "/v1/workflows/reload", "/v1/workflows/reload", NULL, "200", 0,
         0},
        /* nothing to move: the handler's own answer */
        {"POST", "/v1/workflows/{name}/migrations",
         "/v1/workflows/plain/migrations", "{\"status_map\":{}}", "200 409 422",
         0, 0},
        {"POST", "/v1/clock", "/v1/clock", "{\"advance\":\"1s\"}", "200", 0, 0},
        /* no adapter of that name is loaded, and no signature is sent */
        {"POST", "/v1/callbacks/{adapter}", "/v1/callbacks/uc_campus", NULL,
         "401 404", 0, 0},
        {"GET", "/v1/adapters", "/v1/adapters", NULL, "200", 0, 0},
        {"POST", "/v1/adapters/{name}/redrive", "/v1/adapters/nope/redrive",
         NULL, "404", 0, 0},
        {"GET", "/v1/rules", "/v1/rules", NULL, "200", 0, 0},
        {"GET", "/v1/rules/{set}/versions", "/v1/rules/cal_grant/versions",
         NULL, "200", 0, 0},
        {"GET", "/v1/rules/{set}/files", "/v1/rules/cal_grant/files", NULL,
         "200", 0, 0},
        /* a test run of no files: refused after the route let it in */
        {"POST", "/v1/rules/{set}/test", "/v1/rules/cal_grant/test", "{}",
         "400 422", 0, 0},
        /* bodies the rules host refuses: the route let the caller in */
        {"PUT", "/v1/rules/{set}", "/v1/rules/cal_grant", "{}", "400 422", 0,
         0},
        {"POST", "/v1/rules/{set}/rollback", "/v1/rules/cal_grant/rollback",
         "{}", "409 422", 0, 0},
        {"POST", "/v1/rules/{set}/dry-run", "/v1/rules/cal_grant/dry-run", "{}",
         "200 422", 0, 0},
        /* an empty upload: 422 after the office was found in scope */
        {"POST", "/v1/isir", "/v1/isir?office={office}", TEXT_BODY, "422", 404,
         0},
        /* an empty table: refused after the route let the admin in */
        {"POST", "/v1/isir/identities", "/v1/isir/identities", "{}", "422", 0,
         0},
        {"GET", "/v1/queues", "/v1/queues", NULL, "200", 0, 0},
        {"GET", "/v1/queues/{q}", "/v1/queues/mx_q{qoffice}", NULL, "200", 0,
         1},
        {"POST", "/v1/queues/{q}/claim", "/v1/queues/mx_q/claim{qoffice}", NULL,
         "200", 0, 0},
        {"POST", "/v1/cases/{id}/lease", "/v1/cases/{case}/lease", NULL, "200",
         404, 0},
        {"DELETE", "/v1/cases/{id}/lease", "/v1/cases/{case}/lease", NULL,
         "200 204", 404, 0},
        {"GET", "/v1/alerts", "/v1/alerts?state=all", NULL, "200", 0, 1},
        {"POST", "/v1/alerts/{id}/ack", "/v1/alerts/{alert}/ack", NULL, "200",
         404, 0},
        {"POST", "/v1/alerts/{id}/resolve", "/v1/alerts/{alert}/resolve", NULL,
         "200", 404, 0},
        {"PUT", "/v1/counselors/{id}/students",
         "/v1/counselors/{counselor}/students", "{\"students\":[\"S1\"]}",
         "200", 0, 0},
        {"GET", "/v1/counselors/{id}/students",
         "/v1/counselors/{counselor}/students", NULL, "200", 404, 0},
        {"POST", "/v1/caseloads", "/v1/caseloads",
         "{\"rows\":[{\"counselor\":\"C1\",\"student\":\"S1\"}]}", "200", 0, 0},
        {"GET", "/v1/calendars", "/v1/calendars", NULL, "200", 0, 0},
        {"PUT", "/v1/offices/{id}", "/v1/offices/{office}", "{\"staff\":[]}",
         "200", 0, 0},
        {"GET", "/v1/offices/{id}", "/v1/offices/{office}", NULL, "200", 404,
         0},
        {"GET", "/v1/recipients/{id}", "/v1/recipients/{recipient}", NULL,
         "200", 404, 0},
        {"PUT", "/v1/recipients/{id}", "/v1/recipients/{recipient}",
         "{\"email\":\"who@school.example\"}", "200", 404, 0},
        {"GET", "/v1/audit/verify", "/v1/audit/verify", NULL, "200", 0, 0},
        /* retention is off in this configuration: the handler says so */
        {"GET", "/v1/me/disclosures", "/v1/me/disclosures", NULL, "200", 0, 0},
        {"GET", "/v1/disclosures", "/v1/disclosures", NULL, "200", 0, 0},
        {"POST", "/v1/retention/run", "/v1/retention/run", NULL, "409", 0, 0},
        /* a stream stays open: HEAD asks the same question of the route
         * and ends (stream.c checks every case against the row) */
        {"HEAD", "/v1/stream", "/v1/stream", NULL, "200", 0, 0},
        {"GET", "/", "/", NULL, "200", 0, 0},
        {"GET", "/{file}", "/app.js", NULL, "200", 0, 0},
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* --- the data ----------------------------------------------------------- */

static const char *const role_scope[ROLE_COUNT] = {
        [ROLE_STUDENT] = "S1",
        [ROLE_COUNSELOR] = "C1",
        [ROLE_AID_OFFICER] = "fao-a",
        [ROLE_ADMISSIONS] = "campus-a",
        [ROLE_INSTITUTION] = "uc_campus",
};

static char tokens[ROLE_COUNT][128];
static char case_a[64], case_b[64], case_x[64], spare[40];
static long long alert_ca, alert_oa, alert_ob, alert_ox;

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
open_case(const char *subject, const char *key, const char *owner, char out[64])
{
	char body[256];
	json_t *j;

	snprintf(body, sizeof(body),
	         "{\"workflow\":\"mx\",\"subject\":\"%s\",\"data\":{\"%s\":"
	         "\"%s\"}}",
	         subject, key, owner);
	j = td_call(&t, "POST", "/v1/cases", t.token, body, NULL, 201);
	snprintf(out, 64, "%s", jstr(j, "id"));
	json_decref(j);
}

/* The id of the case's open alert of kind (admin's view). */
static long long
alert_of(const char *case_id, const char *kind)
{
	char path[160];
	json_t *j, *arr, *a;
	size_t i;
	long long id = 0;

	snprintf(path, sizeof(path), "/v1/alerts?state=all&case=%s", case_id);
	j = td_call(&t, "GET", path, t.token, NULL, NULL, 200);
	arr = json_is_array(j) ? j : json_object_get(j, "alerts");
	json_array_foreach(arr, i, a)
	{
		if (jstr(a, "kind") && !strcmp(jstr(a, "kind"), kind))
			id = json_integer_value(json_object_get(a, "id"));
	}
	json_decref(j);
	cr_assert_gt(id, 0, "no %s alert on case %s", kind, case_id);
	return id;
}

static void
setup(void)
{
	json_t *j;
	static const char *const recipients[] = {
	        "counselor:C1", "counselor:C2", "office:fao-a",
	        "office:campus-a", "office:fao-b"};
	static const char *const offices[] = {"fao-a", "campus-a", "fao-b"};
	char path[160];

	/* bursts of requests from one address: lift the abuse limits */
	td_start(&t, NULL);
	td_write_workflow(&t, "mx", mx_wf);
	td_write_workflow(&t, "plain", plain_wf);
	td_stop(&t);
	td_use_example_rules(&t);
	td_restart_args(&t, "--test-clock");
	snprintf(tokens[ROLE_ADMIN], sizeof(tokens[0]), "%s", t.token);
	for (int r = 0; r < ROLE_ADMIN; r++)
		snprintf(tokens[r], sizeof(tokens[0]), "%s",
		         td_token(&t, auth_role_name((enum role)r),
		                  role_scope[r]));
	json_decref(td_call(&t, "PUT", "/v1/counselors/C1/students", t.token,
	                    "{\"students\":[\"S1\"]}", NULL, 200));
	for (size_t i = 0; i < sizeof(offices) / sizeof(offices[0]); i++) {
		snprintf(path, sizeof(path), "/v1/offices/%s", offices[i]);
		json_decref(td_call(&t, "PUT", path, t.token, "{\"staff\":[]}",
		                    NULL, 200));
	}
	for (size_t i = 0; i < sizeof(recipients) / sizeof(recipients[0]);
	     i++) {
		snprintf(path, sizeof(path), "/v1/recipients/%s",
		         recipients[i]);
		json_decref(td_call(&t, "PUT", path, t.token,
		                    "{\"email\":\"x@school.example\"}", NULL,
		                    200));
	}
	open_case("S1", "office", "fao-a", case_a);
	open_case("S1", "campus", "campus-a", case_b);
	open_case("S2", "office", "fao-b", case_x);
	alert_ca = alert_of(case_a, "c_alert");
	alert_oa = alert_of(case_a, "o_alert");
	alert_ob = alert_of(case_b, "o_alert");
	alert_ox = alert_of(case_x, "o_alert");
	j = td_call(&t, "POST", "/v1/tokens", t.token,
	            "{\"role\":\"student\",\"scope\":\"S78\"}", NULL, 201);
	snprintf(spare, sizeof(spare), "%s", jstr(j, "id"));
	json_decref(j);
}

static void
teardown(void)
{
	td_cleanup(&t);
}

/* A case id that exists nowhere: what "not there" looks like. */
static const char ghost_case[] = "01a00000-0000-7000-8000-000000000000";

/* The value of template field name for role r: in scope (in 1), out of it
 * (0), or, for a case, one that does not exist (-1). */
static void
value(const char *name, enum role r, int in, char *out, size_t len)
{
	int campus = r == ROLE_ADMISSIONS;

	if (in < 0 && !strcmp(name, "case")) {
		snprintf(out, len, "%s", ghost_case);
		return;
	}
	if (in < 0)
		in = 0;

	if (!strcmp(name, "case"))
		snprintf(out, len, "%s",
		         !in || r == ROLE_ADMIN ? case_x
		         : campus               ? case_b
		                                : case_a);
	else if (!strcmp(name, "alert"))
		snprintf(out, len, "%lld",
		         !in || r == ROLE_ADMIN ? alert_ox
		         : campus               ? alert_ob
		         : r == ROLE_COUNSELOR  ? alert_ca
		                                : alert_oa);
	else if (!strcmp(name, "counselor"))
		snprintf(out, len, "%s", in ? "C1" : "C2");
	else if (!strcmp(name, "office"))
		snprintf(out, len, "%s",
		         !in      ? "fao-b"
		         : campus ? "campus-a"
		                  : "fao-a");
	else if (!strcmp(name, "ownerkey"))
		snprintf(out, len, "%s", campus ? "campus" : "office");
	else if (!strcmp(name, "recipient"))
		snprintf(out, len, "%s",
		         r == ROLE_COUNSELOR
		                 ? (in ? "counselor:C1" : "counselor:C2")
		         : !in    ? "office:fao-b"
		         : campus ? "office:campus-a"
		                  : "office:fao-a");
	else if (!strcmp(name, "subject"))
		snprintf(out, len, "%s",
		         r != ROLE_STUDENT ? "S9"
		         : in              ? "S1"
		                           : "S2");
	else if (!strcmp(name, "qoffice"))
		snprintf(out, len, "%s",
		         r == ROLE_ADMIN ? "?office=fao-b" : "");
	else if (!strcmp(name, "spare"))
		snprintf(out, len, "%s", spare);
	else
		cr_assert_fail("unknown template field {%s}", name);
}

static void
expand(const char *tmpl, enum role r, int in, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	while (tmpl && *tmpl && o + 1 < len) {
		const char *end;
		char name[32], v[128];

		/* "{name}"; JSON's own braces are followed by '"' or '}' */
		if (*tmpl != '{' || tmpl[1] < 'a' || tmpl[1] > 'z' ||
		    (end = strchr(tmpl, '}')) == NULL ||
		    (size_t)(end - tmpl) > sizeof(name)) {
			out[o++] = *tmpl++;
			continue;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(end - tmpl - 1),
		         tmpl + 1);
		value(name, r, in, v, sizeof(v));
		o += (size_t)snprintf(out + o, len - o, "%s", v);
		tmpl = end + 1;
	}
	out[o < len ? o : len - 1] = '\0';
}

static int
status_ok(const char *ok, int status)
{
	char buf[8];
	const char *p = ok;

	if (!strcmp(ok, "2xx"))
		return status >= 200 && status < 300;
	while (*p) {
		size_t n = strcspn(p, " ");

		snprintf(buf, sizeof(buf), "%.*s", (int)n, p);
		if (atoi(buf) == status)
			return 1;
		p += n;
		while (*p == ' ')
			p++;
	}
	return 0;
}

static struct resp
call(const struct row *w, const char *token, enum role r, int in)
{
	char path[512], body[1024];
	struct resp rs;

	const char *ctype = w->body ? "application/json" : NULL;
	const char *b = w->body;

	if (b != NULL && !strncmp(b, TEXT_BODY, strlen(TEXT_BODY))) {
		ctype = "text/plain";
		b += strlen(TEXT_BODY);
	}
	expand(w->path, r, in, path, sizeof(path));
	expand(b, r, in, body, sizeof(body));
	cr_assert_eq(http_do(&t, w->method, path, token, ctype, b ? body : NULL,
	                     b ? strlen(body) : 0, &rs),
	             0, "%s %s: no answer", w->method, path);
	return rs;
}

static const struct row *
row_for(const struct route *rt)
{
	for (size_t i = 0; i < NROWS; i++)
		if ((!strcmp(rows[i].method, rt->method) ||
		     (!strcmp(rows[i].method, "HEAD") &&
		      !strcmp(rt->method, "GET"))) &&
		    !strcmp(rows[i].pattern, rt->pattern))
			return &rows[i];
	return NULL;
}

/* --- the document's table -------------------------------------------------- */

/* The cell routes[] gives route rt for role r. */
static const char *
cell(const struct route *rt, int r)
{
	if (rt->roles == 0)
		return "public";
	if (!(rt->roles & ROLE_BIT(r)))
		return "-";
	return auth_scope_name((enum auth_scope)rt->scope[r]);
}

static void
doc_line(const struct route *rt, char *out, size_t len)
{
	size_t o = (size_t)snprintf(out, len, "| `%s %s` |", rt->method,
	                            rt->pattern);

	for (int r = 0; r < ROLE_COUNT && o < len; r++)
		o += (size_t)snprintf(out + o, len - o, " %s |", cell(rt, r));
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

Test(authz_matrix, every_route_has_a_row_and_the_document_agrees)
{
	size_t n;
	const struct route *rt = api_routes(&n);
	char line[512], *doc, *begin, *end, *p;
	int bad = 0;
	size_t doc_rows = 0;

	/* routes[] itself: a role lets in has a scope; no other has one */
	for (size_t i = 0; i < n; i++)
		for (int r = 0; r < ROLE_COUNT; r++) {
			int in = (rt[i].roles & ROLE_BIT(r)) != 0;
			int has = rt[i].scope[r] != AUTH_SCOPE_UNSET;

			cr_expect_eq(in, has,
			             "%s %s: role %s is %s but its scope is "
			             "%s",
			             rt[i].method, rt[i].pattern,
			             auth_role_name((enum role)r),
			             in ? "let in" : "refused",
			             auth_scope_name(
			                     (enum auth_scope)rt[i].scope[r]));
		}
	/* every route has a row in this test, and every row a route */
	for (size_t i = 0; i < n; i++)
		cr_expect_not_null(row_for(&rt[i]),
		                   "route %s %s has no row in rows[] of "
		                   "tests/test_authz_matrix.c (nor, likely, in "
		                   "the matrix of docs/security.md)",
		                   rt[i].method, rt[i].pattern);
	for (size_t j = 0; j < NROWS; j++) {
		int found = 0;

		for (size_t i = 0; i < n; i++)
			found |= row_for(&rt[i]) == &rows[j];
		cr_expect(found, "row %s %s names no route in routes[]",
		          rows[j].method, rows[j].pattern);
	}
	/* the document's table is routes[], line for line */
	doc = slurp(CAIRN_SOURCE_DIR "/docs/security.md");
	begin = strstr(doc, "<!-- authz-matrix begin -->");
	end = strstr(doc, "<!-- authz-matrix end -->");
	cr_assert(begin && end && begin < end,
	          "docs/security.md has no authz-matrix markers");
	*end = '\0';
	for (p = strstr(begin, "\n| `"); p; p = strstr(p + 1, "\n| `"))
		doc_rows++;
	for (size_t i = 0; i < n; i++) {
		doc_line(&rt[i], line, sizeof(line));
		if (strstr(begin, line) == NULL ||
		    strstr(begin, line)[strlen(line)] != '\n') {
			cr_log_error("docs/security.md lacks: %s", line);
			bad = 1;
		}
	}
	if (doc_rows != n) {
		cr_log_error("docs/security.md has %zu matrix rows, routes[] "
		             "%zu",
		             doc_rows, n);
		bad = 1;
	}
	if (bad) {
		/* the table as it should read */
		fprintf(stderr, "| route |");
		for (int r = 0; r < ROLE_COUNT; r++)
			fprintf(stderr, " %s |", auth_role_name((enum role)r));
		fprintf(stderr, "\n| --- |");
		for (int r = 0; r < ROLE_COUNT; r++)
			fprintf(stderr, " --- |");
		fprintf(stderr, "\n");
		for (size_t i = 0; i < n; i++) {
			doc_line(&rt[i], line, sizeof(line));
			fprintf(stderr, "%s\n", line);
		}
	}
	free(doc);
	cr_assert(!bad, "the matrix in docs/security.md differs from "
	                "routes[] (the table it should be is on stderr)");
}

Test(authz_matrix, every_route_with_every_role_in_and_out_of_scope,
     .init = setup, .fini = teardown, .timeout = 240)
{
	size_t n;
	const struct route *rt = api_routes(&n);
	static const char bogus[] = "cairn_"
	                            "00000000000000000000000000000000"
	                            "00000000000000000000000000000000";
	int calls = 0;

	for (size_t i = 0; i < n; i++) {
		const struct row *w = row_for(&rt[i]);
		struct resp rs;

		cr_assert_not_null(w, "%s %s has no row", rt[i].method,
		                   rt[i].pattern);
		if (rt[i].roles == 0) {
			/* open: no token needed, and a token changes nothing */
			for (int k = 0; k < 2; k++) {
				rs = call(w, k ? tokens[ROLE_STUDENT] : NULL,
				          ROLE_ADMIN, 1);
				cr_expect(status_ok(w->ok, rs.status),
				          "%s %s (%s): got %d %s", w->method,
				          w->path, k ? "student" : "no token",
				          rs.status, rs.body);
				resp_free(&rs);
				calls++;
			}
			continue;
		}
		rs = call(w, NULL, ROLE_ADMIN, 1);
		cr_expect_eq(rs.status, 401, "%s %s without a token: got %d",
		             w->method, w->path, rs.status);
		resp_free(&rs);
		rs = call(w, bogus, ROLE_ADMIN, 1);
		cr_expect_eq(rs.status, 401,
		             "%s %s with an unknown token: got %d", w->method,
		             w->path, rs.status);
		resp_free(&rs);
		calls += 2;
		for (int r = 0; r < ROLE_COUNT; r++) {
			enum auth_scope s = (enum auth_scope)rt[i].scope[r];
			const char *who = auth_role_name((enum role)r);
			char other[64];

			rs = call(w, tokens[r], (enum role)r, 1);
			calls++;
			if (!(rt[i].roles & ROLE_BIT(r))) {
				cr_expect_eq(rs.status, 403,
				             "%s %s as %s (refused): got %d %s",
				             w->method, w->path, who, rs.status,
				             rs.body);
				resp_free(&rs);
				continue;
			}
			cr_expect(status_ok(w->ok, rs.status),
			          "%s %s as %s in scope (%s): got %d %s",
			          w->method, w->path, who, auth_scope_name(s),
			          rs.status, rs.body);
			if (w->list && s != AUTH_SCOPE_NONE && rs.body) {
				value("case", (enum role)r, 1, other,
				      sizeof(other));
				cr_expect(strstr(rs.body, case_x) == NULL,
				          "%s %s as %s lists case X (out of "
				          "scope): %s",
				          w->method, w->path, who, rs.body);
				cr_expect(strstr(rs.body, other) != NULL,
				          "%s %s as %s does not list its own "
				          "case %s: %s",
				          w->method, w->path, who, other,
				          rs.body);
			}
			resp_free(&rs);
			if (s == AUTH_SCOPE_NONE || w->out == 0)
				continue;
			rs = call(w, tokens[r], (enum role)r, 0);
			calls++;
			cr_expect_eq(rs.status, w->out,
			             "%s %s as %s out of scope (%s): got %d %s",
			             w->method, w->path, who,
			             auth_scope_name(s), rs.status, rs.body);
			if (w->out == 404)
				cr_expect(rs.status != 404 || rs.body == NULL ||
				                  strstr(rs.body, case_x) ==
				                          NULL,
				          "a 404 names the hidden case");
			/* a case out of scope answers as one that does not
			 * exist: same status, same words */
			if (w->out == 404 && strstr(w->path, "{case}")) {
				struct resp ghost =
				        call(w, tokens[r], (enum role)r, -1);
				json_t *a = json_loads(rs.body, 0, NULL);
				json_t *b = json_loads(ghost.body, 0, NULL);

				calls++;
				cr_expect_eq(ghost.status, rs.status,
				             "%s %s as %s: a missing case %d, "
				             "one out of scope %d",
				             w->method, w->path, who,
				             ghost.status, rs.status);
				cr_expect_str_eq(
				        jstr(a, "detail") ? jstr(a, "detail")
				                          : "-",
				        jstr(b, "detail") ? jstr(b, "detail")
				                          : "-",
				        "%s %s as %s: out of scope and missing "
				        "read differently",
				        w->method, w->path, who);
				json_decref(a);
				json_decref(b);
				resp_free(&ghost);
			}
			resp_free(&rs);
		}
	}
	cr_log_info("authz matrix: %d calls over %zu routes", calls, n);
	/* and it stops cleanly (under make check: no leak, no error) */
	cr_assert_eq(td_stop(&t), 0);
}
