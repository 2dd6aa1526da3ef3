/*
 * privacy.c: what each role may see of a student's record (the one
 * redaction every response carrying case data goes through), and the
 * disclosure log's writes: a read is answered only once the record of it
 * is durable.
 *
 * Redacted values are replaced by "[redacted: <class>]", not removed: a
 * counselor's job is to chase what is missing, and a removed field would
 * read as missing when the office has it. The marker says the value exists
 * and how sensitive it is, never what it is.
 */
#include "privacy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/store.h"
#include "api_int.h"
#include "cases.h"
#include "daemon.h"
#include "log.h"

/*
 * The highest class each role may see (docs/security.md gives the why of
 * each row). The scope check (auth_authorize) has already decided which
 * records a reader reaches; this decides how much of each.
 */
int
privacy_ceiling(enum role r)
{
	switch (r) {
	case ROLE_STUDENT:
		/* FERPA gives a student the right to inspect their own
		 * education records; the scope check keeps them to theirs */
		return WF_CLASS_RESTRICTED;
	case ROLE_COUNSELOR:
		/* statuses, deadlines, what is missing: not income, tax
		 * data or citizenship */
		return WF_CLASS_INTERNAL;
	case ROLE_AID_OFFICER:
		/* packaging aid needs income and tax data; the scope check
		 * keeps an officer to their office's files */
		return WF_CLASS_RESTRICTED;
	case ROLE_ADMISSIONS:
		/* grades and the application, not the family's finances */
		return WF_CLASS_SENSITIVE;
	case ROLE_INSTITUTION:
		/* an institution receives what its adapter's operations
		 * send; the API gives it no case reads, and should one
		 * appear it sees only what is public */
		return WF_CLASS_PUBLIC;
	case ROLE_ADMIN:
		return WF_CLASS_RESTRICTED;
	case ROLE_POLICY:
	default:
		/* policy staff work on rules, not on students' records */
		return -1;
	}
}

static const struct wf_def *
def_for(const struct daemon *d, const char *workflow, int version)
{
	const struct wf_version *v = NULL;

	if (workflow != NULL) {
		v = registry_get(&d->reg, workflow, version);
		if (v == NULL && version != 0)
			v = registry_get(&d->reg, workflow, 0);
	}
	return v ? v->def : NULL;
}

static size_t
mark(json_t *o, const char *key, enum wf_class c, int ceiling)
{
	char m[32];

	if ((int)c <= ceiling || json_object_get(o, key) == NULL)
		return 0;
	snprintf(m, sizeof(m), "[redacted: %s]", wf_class_name(c));
	json_object_set_new(o, key, json_string(m));
	return 1;
}

/* A rule's reasons: the code says which check failed (internal); the
 * message quotes the values it looked at (restricted). */
static size_t
redact_reasons(json_t *reasons, int code_ceiling, int ceiling)
{
	size_t i, n = 0;
	json_t *r;

	json_array_foreach(reasons, i, r)
	{
		if (!json_is_object(r))
			continue;
		n += mark(r, "code", WF_CLASS_INTERNAL, code_ceiling);
		n += mark(r, "message", WF_CLASS_RESTRICTED, ceiling);
	}
	return n;
}

/*
 * One rule's result in a history event ({"outcome", "detail"}): the
 * outcome and the reasons' codes are internal; what the rule was given
 * (detail.input, the case's data) is redacted by the workflow's classes;
 * which rule set ran is public; everything else (messages, checks and
 * the values they looked at, summaries) is restricted.
 */
static size_t
redact_decision(const struct wf_def *def, json_t *res, int ceiling)
{
	json_t *detail = json_object_get(res, "detail"), *v;
	const char *key;
	void *tmp;
	size_t n = 0;

	if (!json_is_object(res))
		return 0;
	n += mark(res, "outcome", WF_CLASS_INTERNAL, ceiling);
	if (!json_is_object(detail))
		return n;
	json_object_foreach_safe(detail, tmp, key, v)
	{
		if (!strcmp(key, "rule_set") || !strcmp(key, "version") ||
		    !strcmp(key, "award_year") || !strcmp(key, "today") ||
		    !strcmp(key, "error"))
			continue;
		if (!strcmp(key, "input") && json_is_object(v)) {
			n += wf_redact(def, v, "", ceiling);
			continue;
		}
		if (!strcmp(key, "decisions") && json_is_object(v) &&
		    ceiling >= WF_CLASS_INTERNAL) {
			const char *rule, *rk;
			json_t *one, *ov;
			void *t2;

			json_object_foreach(v, rule, one)
			{
				if (!json_is_object(one))
					continue;
				json_object_foreach_safe(one, t2, rk, ov)
				{
					if (!strcmp(rk, "outcome"))
						continue;
					if (!strcmp(rk, "reasons"))
						n += redact_reasons(ov, ceiling,
						                    ceiling);
					else
						n += mark(one, rk,
						          WF_CLASS_RESTRICTED,
						          ceiling);
				}
			}
			continue;
		}
		n += mark(detail, key, WF_CLASS_RESTRICTED, ceiling);
	}
	return n;
}

static size_t
redact_history(const struct wf_def *def, json_t *events, int ceiling)
{
	size_t i, n = 0;
	json_t *ev;

	json_array_foreach(events, i, ev)
	{
		json_t *payload = json_object_get(ev, "payload");
		const char *type =
		        json_string_value(json_object_get(ev, "type"));

		if (!json_is_object(payload))
			continue;
		if (type != NULL && !strcmp(type, "rules.decided")) {
			const char *rule;
			json_t *res;

			json_object_foreach(payload, rule, res)
			{
				n += redact_decision(def, res, ceiling);
			}
			continue;
		}
		/* an event's data and a case's starting data: the classes
		 * of the data fields they are, or are copied into */
		n += wf_redact_event(def, payload, ceiling);
	}
	return n;
}

size_t
privacy_redact(const struct daemon *d, enum role r, enum privacy_what what,
               const char *workflow, int version, json_t *o)
{
	int ceiling = privacy_ceiling(r);
	const struct wf_def *def;

	if (ceiling >= WF_CLASS_RESTRICTED || o == NULL)
		return 0;
	def = def_for(d, workflow, version);
	switch (what) {
	case PRIV_CASE:
		return wf_redact(def, json_object_get(o, "data"), "", ceiling);
	case PRIV_HISTORY:
		return redact_history(def, o, ceiling);
	case PRIV_REASONS:
		/* a dry run's examples: the codes show policy staff what
		 * flips; the messages quote a student's values */
		return redact_reasons(o, WF_CLASS_RESTRICTED, ceiling);
	}
	return 0;
}

/* --- the disclosure log ------------------------------------------------ */

void
privacy_disclosure_of(const struct api_call *c, struct store_disclosure *row,
                      char *route, size_t route_len)
{
	snprintf(route, route_len, "%s %s", c->route->method,
	         c->route->pattern);
	row->at = cases_now(c->d);
	row->token_id = c->who.token_id;
	row->role = auth_role_name(c->who.role);
	row->scope = c->who.scope;
	row->route = route;
	row->case_id = "";
	row->subject = "";
}

int
privacy_batch_disclose(struct store_batch *b, const struct api_call *c,
                       const struct privacy_record *recs, size_t n)
{
	struct store_disclosure *rows, row;
	char route[160];
	int rc;

	if (n == 0)
		return 0;
	rows = calloc(n, sizeof(*rows));
	if (rows == NULL)
		return -ENOMEM;
	privacy_disclosure_of(c, &row, route, sizeof(route));
	for (size_t i = 0; i < n; i++) {
		rows[i] = row;
		rows[i].case_id = recs[i].case_id ? recs[i].case_id : "";
		rows[i].subject = recs[i].subject ? recs[i].subject : "";
	}
	rc = store_batch_disclose(b, rows, n);
	free(rows);
	return rc;
}

/* How a disclosed reply goes out. */
enum reply_how {
	REPLY_JSON, /* serialized on the loop thread */
	REPLY_BG,   /* serialized on the thread pool */
	REPLY_TEXT, /* o is a JSON string holding the reply's text */
};

struct disclosure {
	struct api_call *c;
	json_t *o;
	enum reply_how how;
};

static void
reply_now(struct api_call *c, json_t *o, enum reply_how how)
{
	switch (how) {
	case REPLY_TEXT:
		http_respond(c->req, 200, "application/json", NULL,
		             json_string_value(o), json_string_length(o));
		json_decref(o);
		api_call_free(c);
		break;
	case REPLY_BG:
		api_reply_json_bg(c, 200, o);
		break;
	case REPLY_JSON:
		api_reply_json(c, 200, o, NULL);
		break;
	}
}

static void
disclosed(int status, const char *msg, void *data)
{
	struct disclosure *w = data;
	struct api_call *c = w->c;
	json_t *o = w->o;
	enum reply_how how = w->how;

	free(w);
	if (status != 0) {
		/* nothing leaves that is not on the log */
		json_decref(o);
		log_write(LOG_ERROR, c->req->request_id, NULL, NULL,
		          "a read was refused: its disclosure could not be "
		          "recorded: %s",
		          msg ? msg : cairn_strerror(status));
		api_reply_problem(
		        c, 503,
		        status == CAIRN_EFULL ? "storage-full"
		                              : "disclosure-not-recorded",
		        "the record was not sent: its disclosure could not be "
		        "recorded in the disclosure log",
		        NULL, "Retry-After: 5\r\n");
		return;
	}
	reply_now(c, o, how);
}

/* Submits b (stolen), which holds the disclosure rows of what o shows,
 * and replies with o once it is committed. */
static void
disclose_then_reply(struct api_call *c, struct store_batch *b, json_t *o,
                    enum reply_how how)
{
	struct disclosure *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		store_batch_free(b);
		json_decref(o);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	w->c = c;
	w->o = o;
	w->how = how;
	if (store_batch_submit(c->d->store, b, disclosed, w) != 0) {
		free(w);
		json_decref(o);
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
	}
}

struct privacy_record *
privacy_records_of(struct api_call *c, json_t *rows, const char *id_key,
                   json_t *res)
{
	size_t i, n = json_array_size(rows);
	struct privacy_record *recs = calloc(n ? n : 1, sizeof(*recs));
	json_t *row;

	if (recs == NULL) {
		json_decref(res);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return NULL;
	}
	json_array_foreach(rows, i, row)
	{
		recs[i].case_id =
		        json_string_value(json_object_get(row, id_key));
		recs[i].subject =
		        json_string_value(json_object_get(row, "subject"));
	}
	return recs;
}

void
privacy_disclose_reply(struct api_call *c, const struct privacy_record *recs,
                       size_t n, json_t *o, int bg)
{
	enum reply_how how = bg ? REPLY_BG : REPLY_JSON;
	struct store_batch *b;

	if (o == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (n == 0) {
		reply_now(c, o, how);
		return;
	}
	b = store_batch_new();
	if (b == NULL || privacy_batch_disclose(b, c, recs, n)) {
		store_batch_free(b);
		json_decref(o);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	disclose_then_reply(c, b, o, how);
}

void
privacy_disclose_text_reply(struct api_call *c, struct store_batch *b,
                            json_t *text)
{
	if (text == NULL || !json_is_string(text)) {
		store_batch_free(b);
		json_decref(text);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (store_batch_empty(b)) {
		store_batch_free(b);
		reply_now(c, text, REPLY_TEXT);
		return;
	}
	disclose_then_reply(c, b, text, REPLY_TEXT);
}
