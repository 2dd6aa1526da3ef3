/*
 * identities.c: POST /v1/isir/identities: which student each ISIR belongs
 * to.
 *
 * An ISIR names a person by FSA's person UUID, which no campus system or
 * caseload knows; the student id is what caseloads, student tokens and
 * applications use. The office (or the statewide system that holds both)
 * loads, for each student, the identity FAFSA will report: last name,
 * date of birth and the SSN's last four digits. Only a hash of the three
 * (adapters/isir.h isir_identity_key) is stored. When the importer opens a
 * new aid file it looks the ISIR's identity up and opens the file under
 * the student's id (daemon/isir.c); an ISIR no identity matches keeps the
 * person UUID, as before. docs/isir.md, "Matching ISIRs to students".
 *
 * The load is all or nothing: every row is checked first, and one bad row
 * (or two rows giving one identity to two students) changes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../adapters/isir.h"
#include "api_int.h"
#include "auth.h"
#include "cases.h"
#include "daemon.h"

#define IDENTITY_MAX 100000 /* rows in one request */

static void
identities_committed(int status, const char *msg, void *data)
{
	struct api_call *c = data;

	if (status != 0) {
		api_reply_store_error(c, status, msg);
		return;
	}
	api_reply_json(c, 200, json_incref(c->body), NULL);
}

/* Checks one row; fills key, or returns the reason it is refused. */
static const char *
identity_row(const json_t *row, char key[ISIR_IDENTITY_KEY_LEN + 1])
{
	static const char *const members[] = {"student", "last_name",
	                                      "date_of_birth", "ssn_last4"};
	const char *why = NULL, *m;
	const json_t *v;

	if (!json_is_object(row))
		return "expected {\"student\", \"last_name\", "
		       "\"date_of_birth\", \"ssn_last4\"}";
	json_object_foreach((json_t *)row, m, v)
	{
		size_t k;

		for (k = 0; k < 4 && strcmp(m, members[k]); k++)
			;
		if (k == 4 || !json_is_string(v))
			return "expected {\"student\", \"last_name\", "
			       "\"date_of_birth\", \"ssn_last4\"}, each a "
			       "string";
	}
	v = json_object_get(row, "student");
	if (v == NULL)
		return "student: missing";
	if (auth_scope_check(ROLE_STUDENT, json_string_value(v), &why) != 0)
		return why ? why : "student: not a student id";
	if (isir_identity_key(
	            json_string_value(json_object_get(row, "last_name")),
	            json_string_value(json_object_get(row, "date_of_birth")),
	            json_string_value(json_object_get(row, "ssn_last4")), key,
	            &why) != 0)
		return why;
	return NULL;
}

/* POST /v1/isir/identities {"identities": [{"student", "last_name",
 * "date_of_birth", "ssn_last4"}, ...]} -> 200 {"loaded": n} */
void
api_h_isir_identities(struct api_call *c)
{
	const json_t *rows = json_object_get(c->body, "identities");
	json_t *errors, *seen, *row;
	struct store_batch *b = NULL;
	int64_t now = cases_now(c->d);
	size_t i;
	int rc = 0;
	char d[200], key[ISIR_IDENTITY_KEY_LEN + 1];

	if (!json_is_object(c->body) || json_object_size(c->body) != 1 ||
	    !json_is_array(rows) || json_array_size(rows) > IDENTITY_MAX) {
		snprintf(d, sizeof(d),
		         "expected {\"identities\": [{\"student\", "
		         "\"last_name\", \"date_of_birth\", \"ssn_last4\"}, "
		         "...]} (at most %d)",
		         IDENTITY_MAX);
		api_reply_problem(c, 422, "invalid-body", d, NULL, NULL);
		return;
	}
	errors = json_array();
	seen = json_object();
	b = store_batch_new();
	if (errors == NULL || seen == NULL || b == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	json_array_foreach(rows, i, row)
	{
		const char *why = identity_row(row, key), *other;

		if (why == NULL) {
			const char *student = json_string_value(
			        json_object_get(row, "student"));

			other = json_string_value(json_object_get(seen, key));
			if (other != NULL && strcmp(other, student) != 0)
				why = "the same identity is given to another "
				      "student in this request";
			else if (json_object_set_new(seen, key,
			                             json_string(student)) != 0)
				rc = -ENOMEM;
			else
				rc |= store_batch_identity_put(b, key, student,
				                               now);
		}
		if (why != NULL)
			json_array_append_new(
			        errors, json_pack("{s:I, s:s}", "index",
			                          (json_int_t)i, "error", why));
	}
	if (rc != 0)
		goto fail;
	json_decref(seen);
	if (json_array_size(errors) > 0) {
		store_batch_free(b);
		snprintf(d, sizeof(d),
		         "%zu of %zu rows are not acceptable; nothing was "
		         "loaded",
		         json_array_size(errors), json_array_size(rows));
		api_reply_problem(c, 422, "bad-rows", d,
		                  json_pack("{s:o}", "errors", errors), NULL);
		return;
	}
	json_decref(errors);
	i = json_array_size(rows); /* rows belong to the body, freed here */
	json_decref(c->body);
	c->body = json_pack("{s:I}", "loaded", (json_int_t)i);
	if (c->body == NULL) {
		store_batch_free(b);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (store_batch_submit(c->d->store, b, identities_committed, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
	return;
fail:
	json_decref(errors);
	json_decref(seen);
	store_batch_free(b);
	api_reply_problem(c, 503, "overloaded", "out of memory", NULL, NULL);
}
