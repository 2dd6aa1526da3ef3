/*
 * api_int.h: what the API's handler files share: the state of one call on
 * its way through the pipeline, and the replies every handler ends with.
 * Each reply ends the call: the call must not be used afterwards.
 */
#ifndef CAIRN_API_INT_H
#define CAIRN_API_INT_H

#include <jansson.h>

#include "auth.h"
#include "daemon.h"
#include "router.h"

struct api_call {
	struct daemon *d;
	struct http_req *req;
	const struct route *route;
	struct route_match m;
	struct principal who;
	int authenticated;
	json_t *body; /* the parsed body for routes that take one */
	uint64_t token_generation; /* the cache's, when the lookup began */
	char token[AUTH_TOKEN_LEN + 1];
	struct store_token tok; /* for token creation */
	char client[64];        /* the client's address, for abuse limits */
};

void api_call_free(struct api_call *c);
/* Replies with o (stolen) as JSON. */
void api_reply_json(struct api_call *c, int status, json_t *o,
                    const char *headers);
/* The same for a large o, serialized on the thread pool; o must be
 * referenced by nothing else. */
void api_reply_json_bg(struct api_call *c, int status, json_t *o);
/* Replies with a problem; extra is stolen. */
void api_reply_problem(struct api_call *c, int status, const char *slug,
                       const char *detail, json_t *extra, const char *headers);
/* Maps a store failure to 404, 409 or 503. */
void api_reply_store_error(struct api_call *c, int status, const char *msg);

/*
 * The route's scope for the caller's role (its column of the matrix):
 * what a listing narrows to, and how far api_authorize reaches.
 */
enum auth_scope api_scope(const struct api_call *c);
/*
 * The scope check on what the call touches, through auth_authorize with
 * the route's row: 0 when allowed; otherwise -1 after replying 404 "no
 * such <what>" (out of scope: its existence is not confirmed) or 403.
 */
int api_authorize(struct api_call *c, const struct auth_resource *res,
                  const char *what);

/* The case and workflow routes (cases.c). */
void api_h_case_create(struct api_call *c);
void api_h_case_get(struct api_call *c);
void api_h_case_history(struct api_call *c);
void api_h_case_event(struct api_call *c);
void api_h_case_list(struct api_call *c);
void api_h_workflow_list(struct api_call *c);
void api_h_workflow_get(struct api_call *c);
void api_h_clock(struct api_call *c);
void api_h_workflow_migrate(struct api_call *c);
void api_h_workflow_reload(struct api_call *c);

/* The adapter routes (adapters_api.c). */
void api_h_callback(struct api_call *c);
void api_h_adapter_list(struct api_call *c);
void api_h_adapter_redrive(struct api_call *c);
/* The rule-set routes (rules_host.c). */
void api_h_rules_list(struct api_call *c);
void api_h_rules_versions(struct api_call *c);
void api_h_rules_files(struct api_call *c);
void api_h_rules_test(struct api_call *c);
void api_h_rules_put(struct api_call *c);
void api_h_rules_rollback(struct api_call *c);
void api_h_rules_dry_run(struct api_call *c);
/* ISIR import (isir.c). */
void api_h_isir_import(struct api_call *c);
/* Which student each ISIR belongs to (identities.c). */
void api_h_isir_identities(struct api_call *c);

/* Queues, leases, alerts and caseloads (queues.c). */
void api_h_queue_list(struct api_call *c);
void api_h_queue_get(struct api_call *c);
void api_h_queue_claim(struct api_call *c);
void api_h_lease_renew(struct api_call *c);
void api_h_lease_release(struct api_call *c);
void api_h_alert_list(struct api_call *c);
void api_h_alert_ack(struct api_call *c);
void api_h_alert_resolve(struct api_call *c);
void api_h_caseload_put(struct api_call *c);
void api_h_caseload_get(struct api_call *c);
void api_h_caseload_import(struct api_call *c);
void api_h_recipient_get(struct api_call *c);
void api_h_recipient_put(struct api_call *c);
void api_h_calendars(struct api_call *c);
void api_h_office_put(struct api_call *c);
void api_h_office_get(struct api_call *c);
/* Live updates, Server-Sent Events (stream.c). */
void api_h_stream(struct api_call *c);
/* The web console's files, from memory (web.c). */
void api_h_web(struct api_call *c);
/* Counts the request under "unmatched" in the metrics, as a path no
 * route matches is: a name the console does not have is such a path. */
void api_route_unmatched(struct http_req *req);
/* The disclosure log (disclosures.c). */
void api_h_me_disclosures(struct api_call *c);
void api_h_disclosures_list(struct api_call *c);
/* cairn audit verify, online (audit_api.c). */
void api_h_audit_verify(struct api_call *c);
/* POST /v1/retention/run (retention.c): a run now (or the one running),
 * answered with its report once it ends; 409 when retention is off. */
void api_h_retention_run(struct api_call *c);

#endif
