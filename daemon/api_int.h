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
void api_h_rules_put(struct api_call *c);
void api_h_rules_rollback(struct api_call *c);
void api_h_rules_dry_run(struct api_call *c);
/* ISIR import (isir.c). */
void api_h_isir_import(struct api_call *c);
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
/* The disclosure log (disclosures.c). */
void api_h_me_disclosures(struct api_call *c);
void api_h_disclosures_list(struct api_call *c);
/* cairn audit verify, online (audit_api.c). */
void api_h_audit_verify(struct api_call *c);

#endif
