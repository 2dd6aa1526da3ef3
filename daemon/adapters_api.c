/*
 * adapters_api.c: the adapter routes.
 *
 *   POST /v1/callbacks/{adapter}      an institution's signed callback
 *   GET  /v1/adapters                 per adapter: backlog, success rate,
 *                                     latency, breaker, dead letters
 *   POST /v1/adapters/{name}/redrive  dead letters due again
 *
 * A callback carries no bearer token: its HMAC-SHA256 signature over the
 * timestamp and the raw body, under the adapter's callback secret, is the
 * authentication, checked before the body is even parsed. The institution's
 * event id is recorded in the same transaction as the event it causes, so
 * a replayed callback is refused and a concurrent duplicate loses the race
 * at the commit; either way nothing changes twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../adapters/outbox.h"
#include "api_int.h"
#include "log.h"
#include "privacy.h"

/* --- callbacks -------------------------------------------------------------- */

struct cb_call {
	struct api_call *c;
	char adapter[72];
	char event_id[136];
	char case_id[72];
	char type[72];
	json_t *data;
};

static void
cb_free(struct cb_call *k)
{
	json_decref(k->data);
	free(k);
}

static int
cb_extend(struct store_batch *b, const json_t *row, void *arg)
{
	struct cb_call *k = arg;

	return store_batch_callback_put(b, k->adapter, k->event_id, k->case_id,
	                                k->type, cairn_now_ms());
}

static void
cb_done(int status, const char *body, void *arg)
{
	struct cb_call *k = arg;
	struct api_call *c = k->c;
	char d[600];

	if (status < 300) {
		json_t *view =
		        json_loads(body ? body : "null", JSON_DECODE_ANY, NULL);

		/* the institution learns what its callback did; the case's
		 * data it sees as its role may (daemon/privacy.c) */
		if (json_is_object(view))
			privacy_redact(c->d, ROLE_INSTITUTION, PRIV_CASE,
			               json_string_value(json_object_get(
			                       view, "workflow")),
			               (int)json_integer_value(json_object_get(
			                       view, "version")),
			               view);

		log_write(LOG_INFO, c->req->request_id, k->case_id, NULL,
		          "callback %s from %s: %s", k->event_id, k->adapter,
		          k->type);
		api_reply_json(c, 200,
		               json_pack("{s:s, s:s, s:s, s:o}", "event_id",
		                         k->event_id, "event", k->type,
		                         "result", "applied", "case",
		                         view ? view : json_null()),
		               NULL);
		cb_free(k);
		return;
	}
	snprintf(d, sizeof(d), "%s", body ? body : "refused");
	switch (status) {
	case 404:
		api_reply_problem(c, 404, "unknown-case",
		                  "no case has the id the callback names", NULL,
		                  NULL);
		break;
	case 403:
	case 409:
	case 422:
		api_reply_problem(c, status,
		                  status == 422 ? "invalid-body"
		                                : "not-allowed-now",
		                  d, NULL, NULL);
		break;
	default:
		if (strstr(d, "callback event id") != NULL) {
			/* the same event id committed first, concurrently */
			api_reply_problem(c, 409, "duplicate-event",
			                  "this event id was already received; "
			                  "nothing changed",
			                  NULL, NULL);
			break;
		}
		api_reply_problem(c, 503, "storage-unavailable", d, NULL,
		                  "Retry-After: 5\r\n");
	}
	cb_free(k);
}

static void
cb_seen(int status, json_t *res, void *data)
{
	struct cb_call *k = data;
	struct api_call *c = k->c;
	struct cases_req q = {0};
	char actor[96], d[300];
	int rc;

	if (status == 0) {
		snprintf(d, sizeof(d),
		         "event id '%s' was already received (at %lld ms, "
		         "event %s); nothing changed",
		         k->event_id,
		         (long long)json_integer_value(
		                 json_object_get(res, "received_at")),
		         json_string_value(json_object_get(res, "type")));
		json_decref(res);
		api_reply_problem(c, 409, "duplicate-event", d, NULL, NULL);
		cb_free(k);
		return;
	}
	json_decref(res);
	if (status != CAIRN_ENOTFOUND) {
		api_reply_store_error(c, status, cairn_strerror(status));
		cb_free(k);
		return;
	}
	snprintf(actor, sizeof(actor), "adapter:%s", k->adapter);
	q.case_id = k->case_id;
	q.type = k->type;
	q.data = k->data;
	q.role = ROLE_BIT(ROLE_INSTITUTION);
	q.actor = actor;
	q.extend = cb_extend;
	q.done = cb_done;
	q.arg = k;
	rc = cases_submit(c->d, &q);
	if (rc != 0) {
		api_reply_problem(c, rc == CAIRN_EINVALID ? 422 : 503,
		                  rc == CAIRN_EINVALID ? "invalid-body"
		                                       : "storage-unavailable",
		                  cairn_strerror(rc), NULL, NULL);
		cb_free(k);
	}
}

static int
token_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == ':' || ch == '-'))
			return 0;
	}
	return 1;
}

static void
unsigned_reply(struct api_call *c, const char *detail)
{
	api_reply_problem(c, 401, "bad-signature", detail, NULL, NULL);
}

void
api_h_callback(struct api_call *c)
{
	const char *name = c->m.params[0];
	const struct adp_def *def = outbox_adapter(c->d, name);
	const char *ts = http_req_header(c->req, "X-Cairn-Timestamp");
	const char *sig = http_req_header(c->req, "X-Cairn-Signature");
	struct api_body_error e;
	json_t *body = NULL, *v;
	struct cb_call *k;
	const char *key;
	char *end;
	long long t;
	int64_t skew;

	if (def == NULL || (def->callback_secret.env == NULL &&
	                    def->callback_secret.file == NULL)) {
		api_reply_problem(c, 404, "not-found",
		                  "no adapter of that name takes callbacks",
		                  NULL, NULL);
		return;
	}
	if (def->callback_secret.value == NULL) {
		log_write(LOG_ERROR, c->req->request_id, NULL, NULL,
		          "callback for %s refused: its secret is unavailable "
		          "(%s)",
		          name, def->callback_secret.why);
		api_reply_problem(c, 503, "callbacks-unavailable",
		                  "this adapter's callback secret is not "
		                  "available on the server",
		                  NULL, "Retry-After: 60\r\n");
		return;
	}
	if (ts == NULL || sig == NULL) {
		unsigned_reply(c, "a callback needs X-Cairn-Timestamp (Unix "
		                  "seconds) and X-Cairn-Signature "
		                  "(sha256=<hex HMAC of timestamp.body>)");
		return;
	}
	t = strtoll(ts, &end, 10);
	if (end == ts || *end != '\0' || t <= 0) {
		unsigned_reply(c, "X-Cairn-Timestamp must be Unix seconds");
		return;
	}
	if (!adp_verify(&def->callback_secret, ts, c->req->body,
	                c->req->body_len, sig)) {
		log_write(LOG_WARN, c->req->request_id, NULL, NULL,
		          "callback for %s: bad signature", name);
		unsigned_reply(c, "the signature does not match the timestamp "
		                  "and body under this adapter's secret");
		return;
	}
	/* signed, but maybe recorded and sent again later */
	skew = cairn_now_ms() - (int64_t)t * 1000;
	if (skew > def->callback_window_ms || -skew > def->callback_window_ms) {
		char d[200];

		snprintf(
		        d, sizeof(d),
		        "the timestamp is %lld s away from the server's clock; "
		        "callbacks are accepted within %lld s",
		        (long long)(skew / 1000),
		        (long long)(def->callback_window_ms / 1000));
		unsigned_reply(c, d);
		return;
	}
	if (api_body_parse(http_req_header(c->req, "Content-Type"),
	                   c->req->body, c->req->body_len, &body, &e) != 0) {
		api_reply_problem(c, e.status, e.slug, e.detail, e.extra, NULL);
		return;
	}
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "event_id") && strcmp(key, "case_id") &&
		    strcmp(key, "event") && strcmp(key, "data")) {
			char d[200];

			snprintf(d, sizeof(d),
			         "unknown member '%.64s'; expected event_id, "
			         "case_id, event, data",
			         key);
			json_decref(body);
			api_reply_problem(c, 422, "invalid-body", d, NULL,
			                  NULL);
			return;
		}
	}
#define STR(k) json_string_value(json_object_get(body, k))
	if (!STR("event_id") || !token_ok(STR("event_id"), 128) ||
	    !STR("case_id") || !token_ok(STR("case_id"), 64) || !STR("event") ||
	    !token_ok(STR("event"), 64) ||
	    (json_object_get(body, "data") &&
	     !json_is_object(json_object_get(body, "data")))) {
		json_decref(body);
		api_reply_problem(c, 422, "invalid-body",
		                  "a callback is {event_id, case_id, event, "
		                  "data}: event_id up to 128 and case_id and "
		                  "event up to 64 letters, digits, '.', '_', "
		                  "':' or '-'; data an object",
		                  NULL, NULL);
		return;
	}
	if (def->callback_events != NULL) {
		size_t i;
		int found = 0;

		json_array_foreach(def->callback_events, i,
		                   v) if (!strcmp(json_string_value(v),
		                                  STR("event"))) found = 1;
		if (!found) {
			char d[200];

			snprintf(d, sizeof(d),
			         "event '%s' is not one this adapter's "
			         "callbacks may send",
			         STR("event"));
			json_decref(body);
			api_reply_problem(c, 422, "invalid-body", d, NULL,
			                  NULL);
			return;
		}
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		json_decref(body);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	k->c = c;
	snprintf(k->adapter, sizeof(k->adapter), "%.64s", name);
	snprintf(k->event_id, sizeof(k->event_id), "%s", STR("event_id"));
	snprintf(k->case_id, sizeof(k->case_id), "%s", STR("case_id"));
	snprintf(k->type, sizeof(k->type), "%s", STR("event"));
#undef STR
	k->data = json_incref(json_object_get(body, "data"));
	json_decref(body);
	if (store_callback_get(c->d->store, k->adapter, k->event_id, cb_seen,
	                       k) != 0) {
		cb_free(k);
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
	}
}

/* --- operations ------------------------------------------------------------ */

static void
stats_read(int status, json_t *rows, void *data)
{
	struct api_call *c = data;
	json_t *live, *out, *byname, *row, *v;
	const char *name;
	size_t i;

	if (status != 0) {
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	live = outbox_live_json(c->d);
	byname = json_object();
	/* every loaded adapter, and any adapter the outbox still names */
	json_object_foreach(live, name, v)
	{
		json_object_set_new(v, "loaded", json_true());
		json_object_set(byname, name, v);
	}
	json_array_foreach(rows, i, row)
	{
		const char *ad =
		        json_string_value(json_object_get(row, "adapter"));
		const char *st =
		        json_string_value(json_object_get(row, "state"));
		json_t *a;

		if (ad == NULL || st == NULL)
			continue;
		a = json_object_get(byname, ad);
		if (a == NULL) {
			a = json_pack("{s:b}", "loaded", 0);
			json_object_set_new(byname, ad, a);
		}
		if (!strcmp(st, "pending")) {
			json_object_set(a, "backlog",
			                json_object_get(row, "n"));
			json_object_set(a, "oldest_pending_at",
			                json_object_get(row, "oldest"));
		} else if (!strcmp(st, "dead")) {
			json_object_set(a, "dead_letters",
			                json_object_get(row, "n"));
		} else if (!strcmp(st, "delivered")) {
			json_object_set(a, "delivered_total",
			                json_object_get(row, "n"));
		}
	}
	out = json_array();
	json_object_foreach(byname, name, v)
	{
		json_t *a = json_deep_copy(v);

		json_object_set_new(a, "name", json_string(name));
		if (!json_object_get(a, "backlog"))
			json_object_set_new(a, "backlog", json_integer(0));
		if (!json_object_get(a, "dead_letters"))
			json_object_set_new(a, "dead_letters", json_integer(0));
		json_array_append_new(out, a);
	}
	json_decref(byname);
	json_decref(live);
	json_decref(rows);
	api_reply_json(c, 200, json_pack("{s:o}", "adapters", out), NULL);
}

void
api_h_adapter_list(struct api_call *c)
{
	if (store_outbox_stats(c->d->store, stats_read, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

struct redrive {
	struct api_call *c;
	int64_t changed;
};

static void
redriven(int status, const char *msg, void *data)
{
	struct redrive *r = data;
	struct api_call *c = r->c;

	if (status != 0) {
		free(r);
		api_reply_store_error(c, status, msg);
		return;
	}
	log_write(LOG_INFO, c->req->request_id, NULL, NULL,
	          "adapter %s: %lld dead letter(s) redriven by %s",
	          c->m.params[0], (long long)r->changed, c->who.token_id);
	outbox_wake(c->d);
	api_reply_json(c, 200,
	               json_pack("{s:s, s:I}", "adapter", c->m.params[0],
	                         "redriven", (json_int_t)r->changed),
	               NULL);
	free(r);
}

void
api_h_adapter_redrive(struct api_call *c)
{
	struct store_batch *b;
	struct redrive *r;

	if (outbox_adapter(c->d, c->m.params[0]) == NULL) {
		api_reply_problem(c, 404, "not-found",
		                  "no adapter of that name is loaded", NULL,
		                  NULL);
		return;
	}
	r = calloc(1, sizeof(*r));
	b = store_batch_new();
	if (r == NULL || b == NULL ||
	    store_batch_outbox_redrive(b, c->m.params[0], cases_now(c->d),
	                               &r->changed) != 0) {
		free(r);
		store_batch_free(b);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	r->c = c;
	if (store_batch_submit(c->d->store, b, redriven, r) != 0) {
		free(r);
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
	}
}
