/*
 * test_units.c: the pure pieces of the daemon, without a socket: the
 * router, tokens and the authorization decision, and the JSON body checks
 * behind every problem+json a client sees for a bad body.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../daemon/auth.h"
#include "../daemon/daemon.h"
#include "../daemon/router.h"

/* --- router ------------------------------------------------------------- */

static void
h_none(struct api_call *c)
{
}

static const struct route table[] = {
        {"GET", "/healthz", 0, 0, h_none, {0}},
        {"GET", "/v1/tokens", 1, 0, h_none, {0}},
        {"POST", "/v1/tokens", 1, 1, h_none, {0}},
        {"DELETE", "/v1/tokens/{id}", 1, 0, h_none, {0}},
        {"GET", "/v1/cases/{id}/history/{n}", 1, 0, h_none, {0}},
};
#define NT (sizeof(table) / sizeof(table[0]))

struct route_case {
	const char *method, *path;
	int status, index;
	const char *p0, *p1, *allow;
};

static const struct route_case route_cases[] = {
        {"GET", "/healthz", 200, 0, NULL, NULL, NULL},
        {"HEAD", "/healthz", 200, 0, NULL, NULL, NULL},
        {"GET", "/v1/tokens", 200, 1, NULL, NULL, NULL},
        {"POST", "/v1/tokens", 200, 2, NULL, NULL, NULL},
        {"DELETE", "/v1/tokens/tok_12ab", 200, 3, "tok_12ab", NULL, NULL},
        {"GET", "/v1/cases/c-1/history/7", 200, 4, "c-1", "7", NULL},
        {"PUT", "/v1/tokens", 405, -1, NULL, NULL, "GET, HEAD, POST"},
        {"POST", "/healthz", 405, -1, NULL, NULL, "GET, HEAD"},
        {"GET", "/v1/tokens/tok_1", 405, -1, NULL, NULL, "DELETE"},
        {"GET", "/nope", 404, -1, NULL, NULL, NULL},
        {"GET", "/healthz/", 404, -1, NULL, NULL, NULL},
        {"GET", "/v1//tokens", 404, -1, NULL, NULL, NULL},
        {"DELETE", "/v1/tokens/", 404, -1, NULL, NULL, NULL},
        {"DELETE", "/v1/tokens/..", 404, -1, NULL, NULL, NULL},
        {"DELETE", "/v1/tokens/a%2fb", 404, -1, NULL, NULL, NULL},
        {"DELETE", "/v1/tokens/a/b", 404, -1, NULL, NULL, NULL},
        {"GET", "", 404, -1, NULL, NULL, NULL},
        {"GET", "healthz", 404, -1, NULL, NULL, NULL},
};

Test(router, table)
{
	for (size_t i = 0; i < sizeof(route_cases) / sizeof(route_cases[0]);
	     i++) {
		const struct route_case *rc = &route_cases[i];
		struct route_match m;
		int st = router_match(table, NT, rc->method, rc->path, &m);

		cr_assert_eq(st, rc->status, "%s %s: %d", rc->method, rc->path,
		             st);
		cr_assert_eq(m.index, rc->index, "%s %s", rc->method, rc->path);
		if (rc->p0)
			cr_assert_str_eq(m.params[0], rc->p0);
		if (rc->p1)
			cr_assert_str_eq(m.params[1], rc->p1);
		if (rc->allow)
			cr_assert_str_eq(m.allow, rc->allow);
	}
}

Test(router, long_parameter_does_not_match)
{
	char path[400];
	struct route_match m;

	memcpy(path, "/v1/tokens/", 11);
	memset(path + 11, 'a', 300);
	path[311] = '\0';
	cr_assert_eq(router_match(table, NT, "DELETE", path, &m), 404);
}

Test(router, api_table_is_consistent)
{
	size_t n;
	const struct route *r = api_routes(&n);

	cr_assert_gt(n, 0);
	for (size_t i = 0; i < n; i++) {
		struct route_match m;

		cr_assert_not_null(r[i].handler);
		cr_assert_eq(r[i].pattern[0], '/');
		/* each route is reachable: no earlier entry shadows it */
		if (strchr(r[i].pattern, '{') == NULL)
			cr_assert_eq(router_match(r, n, r[i].method,
			                          r[i].pattern, &m),
			             200);
		if (strchr(r[i].pattern, '{') == NULL)
			cr_assert_eq(m.index, (int)i, "%s", r[i].pattern);
		/* only the probes and metrics are open without a token, the
		 * callbacks, which an institution's signature authenticates,
		 * and the web console's files, whose pages ask for a token */
		if (r[i].roles == 0)
			cr_assert(!strcmp(r[i].pattern, "/healthz") ||
			                  !strcmp(r[i].pattern, "/readyz") ||
			                  !strcmp(r[i].pattern, "/metrics") ||
			                  !strcmp(r[i].pattern, "/") ||
			                  !strcmp(r[i].pattern, "/{file}") ||
			                  !strcmp(r[i].pattern,
			                          "/v1/callbacks/{adapter}"),
			          "%s needs no token", r[i].pattern);
	}
}

/* --- tokens and roles --------------------------------------------------- */

Test(auth, tokens_are_random_and_hash_to_what_is_stored)
{
	char t1[AUTH_TOKEN_LEN + 1], t2[AUTH_TOKEN_LEN + 1], id1[32], id2[32];
	uint8_t h1[32], h2[32], again[32];

	cr_assert_eq(auth_token_new(t1, h1, id1), 0);
	cr_assert_eq(auth_token_new(t2, h2, id2), 0);
	cr_assert_eq(strlen(t1), AUTH_TOKEN_LEN);
	cr_assert_eq(strncmp(t1, "cairn_", 6), 0);
	cr_assert_eq(strncmp(id1, "tok_", 4), 0);
	cr_assert_eq(strlen(id1), 20);
	cr_assert_str_neq(t1, t2);
	cr_assert_str_neq(id1, id2);
	auth_token_hash(t1, strlen(t1), again);
	cr_assert_eq(memcmp(h1, again, 32), 0);
	cr_assert_neq(memcmp(h1, h2, 32), 0);
}

Test(auth, sha256_known_answer)
{
	/* FIPS 180-2 example: SHA-256("abc") */
	static const uint8_t want[32] = {
	        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
	        0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
	        0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	uint8_t h[32];

	auth_token_hash("abc", 3, h);
	cr_assert_eq(memcmp(h, want, 32), 0);
}

Test(auth, bearer_header_parsing)
{
	char good[128];
	const char *tok;
	size_t len;
	static const char *bad[] = {
	        NULL,
	        "",
	        "Bearer",
	        "Basic dXNlcjpwYXNz",
	        "Bearer cairn_123",
	        "Bearer cairn_"
	        "ZZZZ0000000000000000000000000000000000000000000000000000000000"
	        "00",
	        "Bearer "
	        "tok_0000000000000000000000000000000000000000000000000000"
	        "0000000000000000",
	};

	snprintf(good, sizeof(good), "bearer  cairn_%064d ", 7);
	cr_assert_eq(auth_bearer_parse(good, &tok, &len), 0);
	cr_assert_eq(len, AUTH_TOKEN_LEN);
	cr_assert_eq(strncmp(tok, "cairn_", 6), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(auth_bearer_parse(bad[i], &tok, &len), -1,
		             "case %zu", i);
}

Test(auth, roles_and_scopes)
{
	enum role r;
	const char *why = NULL;
	char long_scope[200];

	cr_assert_eq(auth_role_parse("aid_officer", &r), 0);
	cr_assert_eq(r, ROLE_AID_OFFICER);
	cr_assert_str_eq(auth_role_name(r), "aid_officer");
	cr_assert_neq(auth_role_parse("root", &r), 0);
	cr_assert_neq(auth_role_parse("Admin", &r), 0);
	cr_assert_eq(auth_scope_check(ROLE_ADMIN, "", &why), 0);
	cr_assert_neq(auth_scope_check(ROLE_ADMIN, "x", &why), 0);
	cr_assert_neq(auth_scope_check(ROLE_STUDENT, "", &why), 0);
	cr_assert_not_null(why);
	cr_assert_eq(auth_scope_check(ROLE_STUDENT, "S-2025:0001@uc", &why), 0);
	cr_assert_neq(auth_scope_check(ROLE_STUDENT, "a b", &why), 0);
	cr_assert_neq(auth_scope_check(ROLE_COUNSELOR, "a/b", &why), 0);
	memset(long_scope, 'a', sizeof(long_scope) - 1);
	long_scope[sizeof(long_scope) - 1] = '\0';
	cr_assert_neq(auth_scope_check(ROLE_COUNSELOR, long_scope, &why), 0);
}

struct authz_case {
	enum role role;
	const char *scope;
	unsigned allowed;
	struct auth_resource res;
	int has_res;
	enum auth_decision want;
};

Test(auth, authorize_matrix)
{
	static const struct authz_case cases[] = {
	        /* role gate */
	        {ROLE_STUDENT,
	         "S1",
	         ROLE_BIT(ROLE_ADMIN),
	         {0},
	         0,
	         AUTH_FORBIDDEN},
	        {ROLE_ADMIN, "", ROLE_BIT(ROLE_ADMIN), {0}, 0, AUTH_ALLOW},
	        {ROLE_COUNSELOR, "C9", ROLES_ANY, {0}, 0, AUTH_ALLOW},
	        /* a student sees their own record only, and others' are
		 * hidden rather than forbidden */
	        {ROLE_STUDENT,
	         "S1",
	         ROLES_ANY,
	         {"S1", "ucb", NULL, 0, NULL},
	         1,
	         AUTH_ALLOW},
	        {ROLE_STUDENT,
	         "S1",
	         ROLES_ANY,
	         {"S2", "ucb", NULL, 0, NULL},
	         1,
	         AUTH_HIDDEN},
	        {ROLE_STUDENT,
	         "S1",
	         ROLES_ANY,
	         {"S10", NULL, NULL, 0, NULL},
	         1,
	         AUTH_HIDDEN},
	        {ROLE_STUDENT,
	         "S1",
	         ROLES_ANY,
	         {NULL, "ucb", NULL, 0, NULL},
	         1,
	         AUTH_HIDDEN},
	        /* a counselor through the caseload */
	        {ROLE_COUNSELOR,
	         "C9",
	         ROLES_ANY,
	         {"S1", NULL, NULL, 1, NULL},
	         1,
	         AUTH_ALLOW},
	        {ROLE_COUNSELOR,
	         "C9",
	         ROLES_ANY,
	         {"S1", NULL, NULL, 0, NULL},
	         1,
	         AUTH_HIDDEN},
	        /* offices and campuses through ownership */
	        {ROLE_AID_OFFICER,
	         "ucb-fao",
	         ROLES_ANY,
	         {"S1", "ucb-fao", NULL, 0, NULL},
	         1,
	         AUTH_ALLOW},
	        {ROLE_AID_OFFICER,
	         "ucb-fao",
	         ROLES_ANY,
	         {"S1", "ucla-fao", NULL, 0, NULL},
	         1,
	         AUTH_HIDDEN},
	        {ROLE_ADMISSIONS,
	         "ucla",
	         ROLES_ANY,
	         {"S1", "ucla", NULL, 0, NULL},
	         1,
	         AUTH_ALLOW},
	        {ROLE_ADMISSIONS,
	         "ucla",
	         ROLES_ANY,
	         {"S1", NULL, NULL, 0, NULL},
	         1,
	         AUTH_HIDDEN},
	        /* institutions through their adapter */
	        {ROLE_INSTITUTION,
	         "uc_campus",
	         ROLES_ANY,
	         {NULL, NULL, "uc_campus", 0, NULL},
	         1,
	         AUTH_ALLOW},
	        {ROLE_INSTITUTION,
	         "uc_campus",
	         ROLES_ANY,
	         {NULL, NULL, "csu", 0, NULL},
	         1,
	         AUTH_HIDDEN},
	        /* a role a row lets in without a scope for it: refused */
	        {ROLE_POLICY,
	         "",
	         ROLES_ANY,
	         {"S1", NULL, NULL, 0, NULL},
	         1,
	         AUTH_FORBIDDEN},
	        {ROLE_POLICY, "", ROLES_ANY, {0}, 0, AUTH_FORBIDDEN},
	        /* a counselor's own caseload */
	        {ROLE_COUNSELOR,
	         "C9",
	         ROLES_ANY,
	         {NULL, NULL, NULL, 0, "C9"},
	         1,
	         AUTH_ALLOW},
	        {ROLE_COUNSELOR,
	         "C9",
	         ROLES_ANY,
	         {NULL, NULL, NULL, 0, "C10"},
	         1,
	         AUTH_HIDDEN},
	        /* admin reads everything */
	        {ROLE_ADMIN,
	         "",
	         ROLES_ANY,
	         {"S1", "ucb", NULL, 0, NULL},
	         1,
	         AUTH_ALLOW},
	};

	/* each role's usual scope on a record route; policy has none */
	static const unsigned char scopes[ROLE_COUNT] = {
	        [ROLE_STUDENT] = AUTH_SCOPE_OWN,
	        [ROLE_COUNSELOR] = AUTH_SCOPE_CASELOAD,
	        [ROLE_AID_OFFICER] = AUTH_SCOPE_OFFICE,
	        [ROLE_ADMISSIONS] = AUTH_SCOPE_CAMPUS,
	        [ROLE_INSTITUTION] = AUTH_SCOPE_ADAPTER,
	        [ROLE_ADMIN] = AUTH_SCOPE_NONE,
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct principal p = {.role = cases[i].role};

		snprintf(p.scope, sizeof(p.scope), "%s", cases[i].scope);
		cr_assert_eq(
		        auth_authorize(&p, cases[i].allowed, scopes,
		                       cases[i].has_res ? &cases[i].res : NULL),
		        cases[i].want, "case %zu", i);
	}
}

/* --- JSON bodies ---------------------------------------------------------- */

struct body_case {
	const char *ctype;
	const char *body;
	size_t len; /* 0: strlen */
	int status;
	int position; /* -1: not checked */
};

Test(json, body_checks)
{
	static const struct body_case cases[] = {
	        {"application/json", "{\"a\":1}", 0, 0, -1},
	        {"application/json; charset=utf-8", "{}", 0, 0, -1},
	        {"Application/JSON", "{}", 0, 0, -1},
	        {NULL, "{}", 0, 415, -1},
	        {"text/plain", "{}", 0, 415, -1},
	        {"application/jsonx", "{}", 0, 415, -1},
	        {"application/x-www-form-urlencoded", "a=1", 0, 415, -1},
	        {"application/json", "", 0, 400, 0},
	        {"application/json", "{\"a\":", 0, 400, 5},
	        {"application/json", "{\"a\":1,}", 0, 400, 8},
	        {"application/json", "{\"a\":1} x", 0, 400, -1},
	        {"application/json", "{\"a\":1,\"a\":2}", 0, 400, -1},
	        {"application/json", "{\"a\":\"\\u0000\"}", 0, 400, -1},
	        {"application/json", "{\"a\":\"\xff\xfe\"}", 0, 400, -1},
	        {"application/json", "{\"a\":\"\xc0\xaf\"}", 0, 400, -1},
	        {"application/json", "{\"a\":\"\xed\xa0\x80\"}", 0, 400, -1},
	        {"application/json", "{\"a\":NaN}", 0, 400, -1},
	        {"application/json", "[1,2]", 0, 422, -1},
	        {"application/json", "\"text\"", 0, 422, -1},
	        {"application/json", "{\"a\":\"caf\xc3\xa9\"}", 0, 0, -1},
	        {"application/json", "{\"a\":1}\0{}", 10, 400, -1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct body_case *bc = &cases[i];
		struct api_body_error e;
		json_t *out = NULL;
		size_t len = bc->len ? bc->len : strlen(bc->body);
		int rc = api_body_parse(bc->ctype, bc->body, len, &out, &e);

		if (bc->status == 0) {
			cr_assert_eq(rc, 0, "case %zu: %s", i, e.detail);
			cr_assert(json_is_object(out));
			json_decref(out);
			continue;
		}
		cr_assert_eq(rc, -1, "case %zu accepted", i);
		cr_assert_null(out);
		cr_assert_eq(e.status, bc->status, "case %zu: %d", i, e.status);
		cr_assert_gt(strlen(e.detail), 0);
		if (bc->status == 400) {
			cr_assert_not_null(e.extra, "case %zu", i);
			cr_assert(json_is_integer(
			        json_object_get(e.extra, "position")));
			if (bc->position >= 0)
				cr_assert_eq(json_integer_value(json_object_get(
				                     e.extra, "position")),
				             bc->position, "case %zu", i);
		}
		json_decref(e.extra);
	}
}
