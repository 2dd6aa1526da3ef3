/*
 * api.c: the HTTP API. Every request takes the same path:
 *
 *   route -> authenticate (bearer token -> principal, cached briefly)
 *         -> authorize (auth_authorize, the one decision)
 *         -> body checks (JSON content type, strict JSON, an object)
 *         -> handler -> store -> reply after the durable commit
 *
 * Errors are problem+json from one function (http_respond_problem), so
 * every error a client sees has the same shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "../adapters/outbox.h"
#include "abuse.h"
#include "api_int.h"
#include "daemon.h"
#include "log.h"
#include "router.h"
#include "stream.h"

static const char unmatched_route[] = "unmatched";

/* --- replies ------------------------------------------------------------ */

void
api_call_free(struct api_call *c)
{
	json_decref(c->body);
	OPENSSL_cleanse(c->token, sizeof(c->token));
	free(c);
}

void
api_reply_json(struct api_call *c, int status, json_t *o, const char *headers)
{
	char *text =
	        o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(o);
	if (text == NULL) {
		http_respond_problem(c->req, 500, "internal",
		                     "out of memory building the reply", NULL,
		                     NULL);
	} else {
		http_respond(c->req, status, "application/json", headers, text,
		             strlen(text));
		free(text);
	}
	api_call_free(c);
}

/* Serializing a large reply (a page of cases, a long history) would hold
 * the loop thread for milliseconds: it is done on the thread pool. */
struct dump_work {
	uv_work_t w;
	struct api_call *c;
	int status;
	json_t *o;
	char *text;
};

static void
dump_run(uv_work_t *w)
{
	struct dump_work *dw = w->data;

	dw->text = json_dumps(dw->o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(dw->o);
	dw->o = NULL;
}

static void
dump_done(uv_work_t *w, int status)
{
	struct dump_work *dw = w->data;

	if (dw->text == NULL) {
		http_respond_problem(dw->c->req, 500, "internal",
		                     "out of memory building the reply", NULL,
		                     NULL);
	} else {
		http_respond(dw->c->req, dw->status, "application/json", NULL,
		             dw->text, strlen(dw->text));
		free(dw->text);
	}
	api_call_free(dw->c);
	free(dw);
}

void
api_reply_json_bg(struct api_call *c, int status, json_t *o)
{
	struct dump_work *dw = calloc(1, sizeof(*dw));

	if (dw == NULL || o == NULL) {
		free(dw);
		api_reply_json(c, status, o, NULL);
		return;
	}
	dw->c = c;
	dw->status = status;
	dw->o = o;
	dw->w.data = dw;
	if (uv_queue_work(c->d->loop, &dw->w, dump_run, dump_done) != 0) {
		free(dw);
		api_reply_json(c, status, o, NULL);
	}
}

void
api_reply_problem(struct api_call *c, int status, const char *slug,
                  const char *detail, json_t *extra, const char *headers)
{
	http_respond_problem(c->req, status, slug, detail, extra, headers);
	json_decref(extra);
	api_call_free(c);
}

/* Maps a store failure to a reply a client can act on. */
void
api_reply_store_error(struct api_call *c, int status, const char *msg)
{
	switch (status) {
	case CAIRN_ENOTFOUND:
		api_reply_problem(c, 404, "not-found", msg, NULL, NULL);
		return;
	case CAIRN_ECONFLICT:
		api_reply_problem(c, 409, "conflict", msg, NULL, NULL);
		return;
	default:
		log_write(LOG_ERROR, c->req->request_id, NULL, NULL,
		          "write failed: %s",
		          msg ? msg : cairn_strerror(status));
		api_reply_problem(c, 503,
		                  status == CAIRN_EFULL ? "storage-full"
		                                        : "storage-unavailable",
		                  msg ? msg : cairn_strerror(status), NULL,
		                  "Retry-After: 5\r\n");
	}
}

void
api_route_unmatched(struct http_req *req)
{
	req->route = unmatched_route;
}

/* --- handlers ------------------------------------------------------------ */

static void
h_healthz(struct api_call *c)
{
	static const char body[] = "{\"status\":\"ok\"}";

	http_respond(c->req, 200, "application/json", NULL, body,
	             sizeof(body) - 1);
	api_call_free(c);
}

static void
readyz_done(int status, const char *msg, void *data)
{
	struct api_call *c = data;

	if (status != 0) {
		api_reply_problem(c, 503, "not-ready", msg, NULL,
		                  "Retry-After: 5\r\n");
		return;
	}
	api_reply_json(c, 200,
	               json_pack("{s:s, s:s}", "status", "ready", "database",
	                         "writable"),
	               NULL);
}

static void
h_readyz(struct api_call *c)
{
	struct store_batch *b;
	char now[32];

	if (c->d->stopping) {
		api_reply_problem(c, 503, "not-ready", "shutting down", NULL,
		                  NULL);
		return;
	}
	/* a real durable write: "writable" means a commit just succeeded */
	snprintf(now, sizeof(now), "%lld", (long long)cairn_now_ms());
	b = store_batch_new();
	if (b == NULL || store_batch_meta_put(b, "readyz_probe", now) != 0) {
		if (b)
			store_batch_free(b);
		api_reply_problem(c, 503, "not-ready", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (store_batch_submit(c->d->store, b, readyz_done, c) != 0)
		api_reply_problem(c, 503, "not-ready", "shutting down", NULL,
		                  NULL);
}

static void
h_metrics(struct api_call *c)
{
	struct store_metrics sm;
	char *text;

	store_metrics_get(c->d->store, &sm);
	text = metrics_render(&c->d->metrics, &sm,
	                      http_server_connections(c->d->http));
	if (text != NULL) {
		char *more = outbox_metrics_text(c->d), *all = NULL;

		if (more != NULL && asprintf(&all, "%s%s", text, more) > 0) {
			free(text);
			text = all;
		}
		free(more);
	}
	if (text == NULL) {
		api_reply_problem(c, 500, "internal", "out of memory", NULL,
		                  NULL);
		return;
	}
	http_respond(c->req, 200, "text/plain; version=0.0.4", NULL, text,
	             strlen(text));
	free(text);
	api_call_free(c);
}

static void
h_whoami(struct api_call *c)
{
	api_reply_json(c, 200,
	               json_pack("{s:s, s:s?, s:s}", "role",
	                         auth_role_name(c->who.role), "scope",
	                         c->who.scope[0] ? c->who.scope : NULL,
	                         "token_id", c->who.token_id),
	               NULL);
}

static json_t *
token_json(const struct store_token *t)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", t->id, "role",
	                      t->role, "scope", t->scope, "label", t->label,
	                      "created_at", (json_int_t)t->created_at);

	if (o != NULL)
		json_object_set_new(o, "revoked_at",
		                    t->revoked_at ? json_integer(t->revoked_at)
		                                  : json_null());
	return o;
}

static void
token_created(int status, const char *msg, void *data)
{
	struct api_call *c = data;
	char loc[96];
	json_t *o;

	if (status != 0) {
		api_reply_store_error(c, status, msg);
		return;
	}
	log_write(LOG_INFO, c->req->request_id, NULL, NULL,
	          "token %s created for role %s by %s", c->tok.id, c->tok.role,
	          c->who.token_id);
	o = token_json(&c->tok);
	if (o != NULL)
		json_object_set_new(o, "token", json_string(c->token));
	snprintf(loc, sizeof(loc), "Location: /v1/tokens/%s\r\n", c->tok.id);
	api_reply_json(c, 201, o, loc);
}

static void
h_token_create(struct api_call *c)
{
	json_t *role = json_object_get(c->body, "role");
	json_t *scope = json_object_get(c->body, "scope");
	json_t *label = json_object_get(c->body, "label");
	const char *key, *why = NULL;
	json_t *v;
	enum role r;
	struct store_batch *b;

	json_object_foreach(c->body, key, v)
	{
		if (strcmp(key, "role") && strcmp(key, "scope") &&
		    strcmp(key, "label")) {
			char d[200];

			snprintf(
			        d, sizeof(d),
			        "unknown member '%.64s'; expected role, scope, "
			        "label",
			        key);
			api_reply_problem(c, 422, "invalid-body", d, NULL,
			                  NULL);
			return;
		}
	}
	if (!json_is_string(role) ||
	    auth_role_parse(json_string_value(role), &r) != 0) {
		api_reply_problem(
		        c, 422, "invalid-body",
		        "'role' must be one of student, counselor, "
		        "aid_officer, admissions, institution, policy, "
		        "admin",
		        NULL, NULL);
		return;
	}
	if (scope != NULL && !json_is_string(scope)) {
		api_reply_problem(c, 422, "invalid-body",
		                  "'scope' must be a string", NULL, NULL);
		return;
	}
	if (label != NULL &&
	    (!json_is_string(label) || json_string_length(label) > 128 ||
	     strlen(json_string_value(label)) != json_string_length(label))) {
		api_reply_problem(
		        c, 422, "invalid-body",
		        "'label' must be a string of at most 128 bytes", NULL,
		        NULL);
		return;
	}
	if (auth_scope_check(r, scope ? json_string_value(scope) : "", &why)) {
		char d[256];

		snprintf(d, sizeof(d), "'scope' for role %s: %s",
		         auth_role_name(r), why);
		api_reply_problem(c, 422, "invalid-body", d, NULL, NULL);
		return;
	}
	memset(&c->tok, 0, sizeof(c->tok));
	if (auth_token_new(c->token, c->tok.hash, c->tok.id) != 0) {
		api_reply_problem(c, 500, "internal", "no randomness available",
		                  NULL, NULL);
		return;
	}
	snprintf(c->tok.role, sizeof(c->tok.role), "%s", auth_role_name(r));
	snprintf(c->tok.scope, sizeof(c->tok.scope), "%s",
	         scope ? json_string_value(scope) : "");
	snprintf(c->tok.label, sizeof(c->tok.label), "%s",
	         label ? json_string_value(label) : "");
	c->tok.created_at = cairn_now_ms();
	b = store_batch_new();
	if (b == NULL || store_batch_token_create(b, &c->tok) != 0) {
		if (b)
			store_batch_free(b);
		api_reply_problem(c, 500, "internal", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (store_batch_submit(c->d->store, b, token_created, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

static void
tokens_listed(int status, const struct store_token *toks, size_t n, void *data)
{
	struct api_call *c = data;
	json_t *arr;

	if (status != 0) {
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, token_json(&toks[i]));
	api_reply_json(c, 200, json_pack("{s:o}", "tokens", arr), NULL);
}

static void
h_token_list(struct api_call *c)
{
	if (store_token_list(c->d->store, tokens_listed, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

static void
token_revoked(int status, const char *msg, void *data)
{
	struct api_call *c = data;

	if (status == CAIRN_ENOTFOUND) {
		api_reply_problem(c, 404, "not-found",
		                  "no active token has that id", NULL, NULL);
		return;
	}
	if (status != 0) {
		api_reply_store_error(c, status, msg);
		return;
	}
	/* the cache must not keep a revoked token alive */
	api_token_cache_clear(c->d);
	stream_token_revoked(c->d, c->m.params[0]);
	log_write(LOG_INFO, c->req->request_id, NULL, NULL,
	          "token %s revoked by %s", c->m.params[0], c->who.token_id);
	http_respond(c->req, 204, NULL, NULL, NULL, 0);
	api_call_free(c);
}

static void
h_token_revoke(struct api_call *c)
{
	struct store_batch *b = store_batch_new();

	if (b == NULL ||
	    store_batch_token_revoke(b, c->m.params[0], cairn_now_ms()) != 0) {
		if (b)
			store_batch_free(b);
		api_reply_problem(c, 500, "internal", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (store_batch_submit(c->d->store, b, token_revoked, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

/* --- the route table -------------------------------------------------- */

/*
 * The authorization matrix: each row names the roles that may call it (a
 * role outside them gets 403) and, per role, the scope it checks (a record
 * outside it gets 404, never 403). Scopes, by role in enum role order:
 * student, counselor, aid_officer, admissions, institution, policy, admin.
 * docs/security.md shows this table; tests/test_authz_matrix.c checks the
 * two agree and tries every row with every role.
 */
#define ADMIN ROLE_BIT(ROLE_ADMIN)
/* who works queues, and who reads alerts */
#define QUEUE_STAFF                                                            \
	(ADMIN | ROLE_BIT(ROLE_AID_OFFICER) | ROLE_BIT(ROLE_ADMISSIONS))
#define ALERT_READERS (QUEUE_STAFF | ROLE_BIT(ROLE_COUNSELOR))
/* who reads and writes students' cases: each within their scope */
#define CASE_STAFF (ALERT_READERS | ROLE_BIT(ROLE_STUDENT))
/* who may open a case: a student for themselves, the offices, admin */
#define CASE_OPENERS                                                           \
	(ROLE_BIT(ROLE_STUDENT) | ROLE_BIT(ROLE_AID_OFFICER) |                 \
	 ROLE_BIT(ROLE_ADMISSIONS) | ADMIN)

/* rule sets: staff read them; policy staff (and admin) change them */
#define RULE_READERS                                                           \
	(ROLE_BIT(ROLE_COUNSELOR) | ROLE_BIT(ROLE_AID_OFFICER) |               \
	 ROLE_BIT(ROLE_ADMISSIONS) | ROLE_BIT(ROLE_POLICY) | ADMIN)
#define RULE_WRITERS (ROLE_BIT(ROLE_POLICY) | ADMIN)

#define S_ AUTH_SCOPE_UNSET
#define SN AUTH_SCOPE_NONE
#define SO AUTH_SCOPE_OWN
#define SL AUTH_SCOPE_CASELOAD
#define SF AUTH_SCOPE_OFFICE
#define SC AUTH_SCOPE_CAMPUS
/* open without a token (the callbacks: the signature authenticates) */
#define SCOPE_PUBLIC                                                           \
	{                                                                      \
		S_, S_, S_, S_, S_, S_, S_                                     \
	}
/* every role, no record in question */
#define SCOPE_ALL                                                              \
	{                                                                      \
		SN, SN, SN, SN, SN, SN, SN                                     \
	}
#define SCOPE_ADMIN                                                            \
	{                                                                      \
		S_, S_, S_, S_, S_, S_, SN                                     \
	}
/* a student's case: theirs, their counselor's, their office's */
#define SCOPE_CASE                                                             \
	{                                                                      \
		SO, SL, SF, SC, S_, S_, SN                                     \
	}
#define SCOPE_OPEN                                                             \
	{                                                                      \
		SO, S_, SF, SC, S_, S_, SN                                     \
	}
#define SCOPE_QUEUE                                                            \
	{                                                                      \
		S_, S_, SF, SC, S_, S_, SN                                     \
	}
#define SCOPE_ALERT                                                            \
	{                                                                      \
		S_, SL, SF, SC, S_, S_, SN                                     \
	}
#define SCOPE_CASELOAD                                                         \
	{                                                                      \
		S_, SL, S_, S_, S_, S_, SN                                     \
	}
#define SCOPE_POLICY                                                           \
	{                                                                      \
		S_, S_, S_, S_, S_, SN, SN                                     \
	}
#define SCOPE_RULES                                                            \
	{                                                                      \
		S_, SN, SN, SN, S_, SN, SN                                     \
	}
/* a student's own records, and no one else's */
#define SCOPE_STUDENT                                                          \
	{                                                                      \
		SO, S_, S_, S_, S_, S_, S_                                     \
	}
#define SCOPE_ISIR                                                             \
	{                                                                      \
		S_, S_, SF, S_, S_, S_, SN                                     \
	}

static const struct route routes[] = {
        {"GET", "/healthz", 0, 0, h_healthz, SCOPE_PUBLIC},
        {"GET", "/readyz", 0, 0, h_readyz, SCOPE_PUBLIC},
        {"GET", "/metrics", 0, 0, h_metrics, SCOPE_PUBLIC},
        {"GET", "/v1/whoami", ROLES_ANY, 0, h_whoami, SCOPE_ALL},
        {"GET", "/v1/tokens", ADMIN, 0, h_token_list, SCOPE_ADMIN},
        {"POST", "/v1/tokens", ADMIN, 1, h_token_create, SCOPE_ADMIN},
        {"DELETE", "/v1/tokens/{id}", ADMIN, 0, h_token_revoke, SCOPE_ADMIN},
        {"POST", "/v1/cases", CASE_OPENERS, 1, api_h_case_create, SCOPE_OPEN},
        {"GET", "/v1/cases", CASE_STAFF, 0, api_h_case_list, SCOPE_CASE},
        {"GET", "/v1/cases/{id}", CASE_STAFF, 0, api_h_case_get, SCOPE_CASE},
        {"GET", "/v1/cases/{id}/history", CASE_STAFF, 0, api_h_case_history,
         SCOPE_CASE},
        {"POST", "/v1/cases/{id}/events", CASE_STAFF, 1, api_h_case_event,
         SCOPE_CASE},
        {"GET", "/v1/workflows", ROLES_ANY, 0, api_h_workflow_list, SCOPE_ALL},
        {"GET", "/v1/workflows/{name}", ROLES_ANY, 0, api_h_workflow_get,
         SCOPE_ALL},
        {"POST", "/v1/workflows/reload", RULE_WRITERS, 0, api_h_workflow_reload,
         SCOPE_POLICY},
        {"POST", "/v1/workflows/{name}/migrations", RULE_WRITERS, 1,
         api_h_workflow_migrate, SCOPE_POLICY},
        {"POST", "/v1/clock", ADMIN, 1, api_h_clock, SCOPE_ADMIN},
        /* signed by the institution: the signature authenticates */
        {"POST", "/v1/callbacks/{adapter}", 0, 0, api_h_callback, SCOPE_PUBLIC},
        {"GET", "/v1/adapters", ADMIN, 0, api_h_adapter_list, SCOPE_ADMIN},
        {"POST", "/v1/adapters/{name}/redrive", ADMIN, 0, api_h_adapter_redrive,
         SCOPE_ADMIN},
        {"GET", "/v1/rules", RULE_READERS, 0, api_h_rules_list, SCOPE_RULES},
        {"GET", "/v1/rules/{set}/versions", RULE_READERS, 0,
         api_h_rules_versions, SCOPE_RULES},
        {"GET", "/v1/rules/{set}/files", RULE_READERS, 0, api_h_rules_files,
         SCOPE_RULES},
        {"PUT", "/v1/rules/{set}", RULE_WRITERS, 1, api_h_rules_put,
         SCOPE_POLICY},
        {"POST", "/v1/rules/{set}/test", RULE_WRITERS, 1, api_h_rules_test,
         SCOPE_POLICY},
        {"POST", "/v1/rules/{set}/rollback", RULE_WRITERS, 1,
         api_h_rules_rollback, SCOPE_POLICY},
        {"POST", "/v1/rules/{set}/dry-run", RULE_WRITERS, 1,
         api_h_rules_dry_run, SCOPE_POLICY},
        {"POST", "/v1/isir", ADMIN | ROLE_BIT(ROLE_AID_OFFICER), 0,
         api_h_isir_import, SCOPE_ISIR},
        {"POST", "/v1/isir/identities", ADMIN, 1, api_h_isir_identities,
         SCOPE_ADMIN},
        {"GET", "/v1/queues", QUEUE_STAFF, 0, api_h_queue_list, SCOPE_QUEUE},
        {"GET", "/v1/queues/{q}", QUEUE_STAFF, 0, api_h_queue_get, SCOPE_QUEUE},
        {"POST", "/v1/queues/{q}/claim", QUEUE_STAFF, 0, api_h_queue_claim,
         SCOPE_QUEUE},
        {"POST", "/v1/cases/{id}/lease", QUEUE_STAFF, 0, api_h_lease_renew,
         SCOPE_QUEUE},
        {"DELETE", "/v1/cases/{id}/lease", QUEUE_STAFF, 0, api_h_lease_release,
         SCOPE_QUEUE},
        {"GET", "/v1/alerts", ALERT_READERS, 0, api_h_alert_list, SCOPE_ALERT},
        {"POST", "/v1/alerts/{id}/ack", ALERT_READERS, 0, api_h_alert_ack,
         SCOPE_ALERT},
        {"POST", "/v1/alerts/{id}/resolve", ALERT_READERS, 0,
         api_h_alert_resolve, SCOPE_ALERT},
        {"PUT", "/v1/counselors/{id}/students", ADMIN, 1, api_h_caseload_put,
         SCOPE_ADMIN},
        {"GET", "/v1/counselors/{id}/students",
         ADMIN | ROLE_BIT(ROLE_COUNSELOR), 0, api_h_caseload_get,
         SCOPE_CASELOAD},
        {"POST", "/v1/caseloads", ADMIN, 1, api_h_caseload_import, SCOPE_ADMIN},
        {"GET", "/v1/calendars", ROLES_ANY, 0, api_h_calendars, SCOPE_ALL},
        {"PUT", "/v1/offices/{id}", ADMIN, 1, api_h_office_put, SCOPE_ADMIN},
        {"GET", "/v1/offices/{id}", QUEUE_STAFF, 0, api_h_office_get,
         SCOPE_QUEUE},
        {"GET", "/v1/recipients/{id}", ALERT_READERS, 0, api_h_recipient_get,
         SCOPE_ALERT},
        {"PUT", "/v1/recipients/{id}", ALERT_READERS, 1, api_h_recipient_put,
         SCOPE_ALERT},
        {"GET", "/v1/audit/verify", ADMIN, 0, api_h_audit_verify, SCOPE_ADMIN},
        /* who read my record: the handler reads the caller's own only */
        {"GET", "/v1/me/disclosures", ROLE_BIT(ROLE_STUDENT), 0,
         api_h_me_disclosures, SCOPE_STUDENT},
        {"GET", "/v1/disclosures", ADMIN, 0, api_h_disclosures_list,
         SCOPE_ADMIN},
        {"POST", "/v1/retention/run", ADMIN, 0, api_h_retention_run,
         SCOPE_ADMIN},
        /* case changes as Server-Sent Events; stream.c checks each case
         * against this row, as GET /v1/cases/{id} does */
        {"GET", "/v1/stream", CASE_STAFF, 0, api_h_stream, SCOPE_CASE},
        /* the web console's files: no token; its pages ask for one and
         * use the API with it. Last, so every route above comes first */
        {"GET", "/", 0, 0, api_h_web, SCOPE_PUBLIC},
        {"GET", "/{file}", 0, 0, api_h_web, SCOPE_PUBLIC},
};

const struct route *
api_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

/* --- the pipeline ---------------------------------------------------------- */

static int
content_type_is_json(const char *ct)
{
	size_t n = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

int
api_body_parse(const char *content_type, const char *body, size_t len,
               json_t **out, struct api_body_error *e)
{
	json_error_t je;

	*out = NULL;
	e->extra = NULL;
	if (!content_type_is_json(content_type)) {
		e->status = 415;
		e->slug = "unsupported-media-type";
		snprintf(e->detail, sizeof(e->detail),
		         "the body must be JSON, sent with Content-Type: "
		         "application/json");
		return -1;
	}
	*out = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	                  &je);
	if (*out == NULL) {
		e->status = 400;
		e->slug = "malformed-json";
		snprintf(e->detail, sizeof(e->detail),
		         "malformed JSON at byte %d (line %d, column %d): %s",
		         je.position, je.line, je.column, je.text);
		e->extra = json_pack("{s:i, s:i, s:i}", "position", je.position,
		                     "line", je.line, "column", je.column);
		return -1;
	}
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		e->status = 422;
		e->slug = "invalid-body";
		snprintf(e->detail, sizeof(e->detail),
		         "the body must be a JSON object");
		return -1;
	}
	return 0;
}

static void
run(struct api_call *c)
{
	if (c->route->body) {
		struct api_body_error e;

		if (api_body_parse(http_req_header(c->req, "Content-Type"),
		                   c->req->body, c->req->body_len, &c->body,
		                   &e) != 0) {
			api_reply_problem(c, e.status, e.slug, e.detail,
			                  e.extra, NULL);
			return;
		}
	}
	c->route->handler(c);
}

enum auth_scope
api_scope(const struct api_call *c)
{
	return (enum auth_scope)c->route->scope[c->who.role];
}

int
api_authorize(struct api_call *c, const struct auth_resource *res,
              const char *what)
{
	char d[96];

	switch (auth_authorize(&c->who, c->route->roles, c->route->scope,
	                       res)) {
	case AUTH_ALLOW:
		return 0;
	case AUTH_FORBIDDEN:
		api_reply_problem(c, 403, "forbidden",
		                  "this role may not use this route", NULL,
		                  NULL);
		return -1;
	case AUTH_HIDDEN:
	default:
		snprintf(d, sizeof(d), "no such %s", what ? what : "resource");
		api_reply_problem(c, 404, "not-found", d, NULL, NULL);
		return -1;
	}
}

/* --- abuse limits ---------------------------------------------------------- */

/* A 401 held back for a bad token: a timer, never a blocked loop. */
struct held_reply {
	uv_timer_t timer;
	struct api_call *c;
	const char *detail;
	struct held_reply *next, **pprev;
};

static void
too_many(struct http_req *req, int retry, const char *what)
{
	char hdr[48], detail[160];

	snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", retry);
	snprintf(detail, sizeof(detail),
	         "too many requests from this %s; retry in %d s", what, retry);
	http_respond_problem(req, 429, "rate-limited", detail, NULL, hdr);
}

/*
 * The client's address for the limits: the socket's peer, or, when the
 * configuration says a TLS proxy is in front and the peer is loopback
 * (the proxy), the address the proxy forwarded. Without that setting a
 * local process could name any address to escape its bucket.
 */
static const char *
client_of(const struct daemon *d, const struct http_req *req, char *buf,
          size_t len)
{
	const char *a = d->cfg.listen_public == CONFIG_PUBLIC_BEHIND_TLS_PROXY
	                        ? http_req_client(req, buf, len)
	                        : req->peer;

	return a ? a : "unknown";
}

static void
held_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
held_send(struct held_reply *h)
{
	*h->pprev = h->next;
	if (h->next)
		h->next->pprev = h->pprev;
	api_reply_problem(h->c, 401, "unauthorized", h->detail, NULL,
	                  "WWW-Authenticate: Bearer realm=\"cairn\"\r\n");
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, held_closed);
}

static void
held_due(uv_timer_t *t)
{
	held_send(t->data);
}

void
api_abuse_stop(struct daemon *d)
{
	while (d->held != NULL)
		held_send(d->held);
}

static void
authorized(struct api_call *c)
{
	int retry = c->d->abuse ? abuse_take(c->d->abuse, ABUSE_TOKEN,
	                                     c->who.token_id,
	                                     (int64_t)uv_now(c->d->loop))
	                        : 0;

	if (retry > 0) {
		too_many(c->req, retry, "token");
		api_call_free(c);
		return;
	}
	switch (auth_authorize(&c->who, c->route->roles, c->route->scope,
	                       NULL)) {
	case AUTH_ALLOW:
		run(c);
		return;
	case AUTH_FORBIDDEN:
		api_reply_problem(c, 403, "forbidden",
		                  "this role may not use this route", NULL,
		                  NULL);
		return;
	case AUTH_HIDDEN:
		api_reply_problem(c, 404, "not-found", "no such resource", NULL,
		                  NULL);
		return;
	}
}

static struct token_cache_entry *
cache_slot(struct daemon *d, const uint8_t hash[32])
{
	unsigned idx;

	/* the hash is uniformly random already */
	memcpy(&idx, hash, sizeof(idx));
	return &d->token_cache[idx % TOKEN_CACHE_SIZE];
}

void
api_token_cache_clear(struct daemon *d)
{
	/* a lookup started before this must not cache what it read */
	d->token_generation++;
	memset(d->token_cache, 0, sizeof(*d->token_cache) * TOKEN_CACHE_SIZE);
}

/* 401; a token was sent (bad): counted against the client's address,
 * and the reply held back once it has sent several. */
static void
unauthorized(struct api_call *c, const char *detail, int bad_token)
{
	struct daemon *d = c->d;
	int64_t delay = bad_token && d->abuse && !d->stopping
	                        ? abuse_bad_token(d->abuse, c->client,
	                                          (int64_t)uv_now(d->loop))
	                        : 0;
	struct held_reply *h = delay > 0 ? calloc(1, sizeof(*h)) : NULL;

	if (h == NULL) {
		api_reply_problem(c, 401, "unauthorized", detail, NULL,
		                  "WWW-Authenticate: Bearer "
		                  "realm=\"cairn\"\r\n");
		return;
	}
	/* security-relevant, and rate-limited by its own delay */
	log_write(LOG_INFO, c->req->request_id, NULL, NULL,
	          "bad token from %s: its 401 is held back %lld ms", c->client,
	          (long long)delay);
	h->c = c;
	h->detail = detail;
	uv_timer_init(d->loop, &h->timer);
	h->timer.data = h;
	h->next = d->held;
	h->pprev = &d->held;
	if (d->held)
		d->held->pprev = &h->next;
	d->held = h;
	uv_timer_start(&h->timer, held_due, (uint64_t)delay, 0);
}

static void
token_found(int status, const struct store_token *t, void *data)
{
	struct api_call *c = data;
	struct token_cache_entry *e;
	uint8_t hash[32];
	enum role r;

	if (status == CAIRN_ENOTFOUND || (status == 0 && t->revoked_at)) {
		unauthorized(c, "the token is not valid", 1);
		return;
	}
	if (status != 0) {
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	auth_token_hash(c->token, AUTH_TOKEN_LEN, hash);
	if (CRYPTO_memcmp(hash, t->hash, 32) != 0 ||
	    auth_role_parse(t->role, &r) != 0) {
		unauthorized(c, "the token is not valid", 1);
		return;
	}
	c->who.role = r;
	snprintf(c->who.scope, sizeof(c->who.scope), "%s", t->scope);
	snprintf(c->who.token_id, sizeof(c->who.token_id), "%s", t->id);
	if (c->token_generation == c->d->token_generation) {
		e = cache_slot(c->d, hash);
		memcpy(e->hash, hash, 32);
		e->p = c->who;
		e->expires_ms = cairn_now_ms() + TOKEN_CACHE_TTL_MS;
	}
	authorized(c);
}

static void
authenticate(struct api_call *c)
{
	const char *tok;
	size_t len;
	uint8_t hash[32];
	struct token_cache_entry *e;

	const char *authz = http_req_header(c->req, "Authorization");
	int retry = c->d->abuse ? abuse_blocked(c->d->abuse, c->client,
	                                        (int64_t)uv_now(c->d->loop))
	                        : 0;

	/* an address that kept sending bad tokens waits, token or not */
	if (retry > 0) {
		too_many(c->req, retry, "address (bad tokens)");
		api_call_free(c);
		return;
	}
	if (auth_bearer_parse(authz, &tok, &len) != 0) {
		unauthorized(c,
		             authz ? "the Authorization header must be "
		                     "'Bearer cairn_...'"
		                   : "this route needs a bearer token",
		             authz != NULL);
		return;
	}
	memcpy(c->token, tok, len);
	c->token[len] = '\0';
	auth_token_hash(c->token, len, hash);
	e = cache_slot(c->d, hash);
	if (e->expires_ms > cairn_now_ms() &&
	    CRYPTO_memcmp(e->hash, hash, 32) == 0) {
		c->who = e->p;
		authorized(c);
		return;
	}
	c->token_generation = c->d->token_generation;
	if (store_token_find(c->d->store, hash, token_found, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

void
api_handle(struct http_req *req, void *data)
{
	struct daemon *d = data;
	struct route_match m;
	struct api_call *c;
	size_t n;
	const struct route *rt = api_routes(&n);
	int rc = router_match(rt, n, req->method, req->path, &m);
	char client[64];
	const char *addr = client_of(d, req, client, sizeof(client));
	int retry;

	/* every request but the probes counts against its address, the
	 * ones that match no route too (scanning is abuse as well) */
	if (d->abuse != NULL && strcmp(req->path, "/healthz") != 0 &&
	    strcmp(req->path, "/readyz") != 0 &&
	    (retry = abuse_take(d->abuse, ABUSE_ADDRESS, addr,
	                        (int64_t)uv_now(d->loop))) > 0) {
		req->route = rc == 200 ? rt[m.index].pattern : unmatched_route;
		too_many(req, retry, "address");
		return;
	}
	if (rc != 200) {
		char hdr[128];

		req->route = unmatched_route;
		if (rc == 405) {
			snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", m.allow);
			http_respond_problem(req, 405, "method-not-allowed",
			                     "this path does not take that "
			                     "method",
			                     NULL, hdr);
		} else {
			http_respond_problem(req, 404, "not-found",
			                     "no such route", NULL, NULL);
		}
		return;
	}
	req->route = rt[m.index].pattern;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		http_respond_problem(req, 503, "overloaded", "out of memory",
		                     NULL, NULL);
		return;
	}
	c->d = d;
	c->req = req;
	c->route = &rt[m.index];
	c->m = m;
	snprintf(c->client, sizeof(c->client), "%s", addr);
	if (c->route->roles == 0)
		run(c);
	else
		authenticate(c);
}

void
api_observe(const struct http_req *req, int status, double seconds, void *data)
{
	struct daemon *d = data;
	const char *route = req->route ? req->route : unmatched_route;

	metrics_observe(&d->metrics, req->method ? req->method : "-", route,
	                status, seconds);
	if (status >= 500 || log_enabled(LOG_DEBUG)) {
		char client[64];
		json_t *x = json_pack(
		        "{s:s, s:s, s:i, s:f, s:s}", "method",
		        req->method ? req->method : "-", "route", route,
		        "status", status, "seconds", seconds, "client",
		        req->peer ? http_req_client(req, client, sizeof(client))
		                  : "-");

		log_write(status >= 500 ? LOG_WARN : LOG_DEBUG, req->request_id,
		          NULL, x, "request");
		json_decref(x);
	}
}
