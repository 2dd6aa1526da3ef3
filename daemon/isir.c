/*
 * isir.c: POST /v1/isir: an aid office's ISIR file (the text of one or
 * more 7,704-character records) into its financial-aid cases.
 *
 * The file is parsed and validated on the thread pool (adapters/isir.c);
 * one read then fetches what the office already holds for every FAFSA in
 * it. Records of one FAFSA are applied one after another in file order
 * (a correction must follow the transaction it corrects); different
 * FAFSAs go through cases_submit side by side, at most ISIR_INFLIGHT at a
 * time, so the store's writer can group their commits.
 *
 * Each accepted record is one command: the first transaction an office
 * sees creates the student's aid_file case, later ones send it
 * isir_corrected with the fields they changed. The command's batch also
 * records the transaction and the record's hash (isir_records) and moves
 * the office's file to that transaction (isir_files), so a record is
 * "imported" exactly when its case change is durable; importing it again
 * answers "unchanged". Two imports racing on one FAFSA meet at those rows:
 * the loser's batch fails whole with a conflict and its record is decided
 * again from what the winner committed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../adapters/isir.h"
#include "api_int.h"
#include "cases.h"
#include "daemon.h"
#include "log.h"

#define ISIR_INFLIGHT 64 /* FAFSAs being applied at once, per import */
#define ISIR_RETRIES  3  /* a record that lost a race is decided again */
#define ISIR_WORKFLOW "aid_file"

enum rec_result { R_PENDING, R_ACCEPTED, R_UNCHANGED, R_REJECTED };

struct job;

/* The records of one FAFSA, applied in file order. */
struct group {
	struct job *job;
	size_t *idx; /* into job->file.recs, in line order */
	size_t n, next;
	char case_id[40]; /* "" until the office has a file */
	int txn;          /* the latest transaction applied */
	json_t *hashes;   /* {"<txn>": hex hash} already imported */
	int retries;
	int extended;        /* the command reached its batch (not refused) */
	int created;         /* the command creates the case */
	int stepping, again; /* group_step's loop */
	/* the student the ISIR's identity matched (identities.c), "" when
	 * none did: only read for a group that opens a new file */
	char student[ROUTER_PARAM_MAX];
};

struct job {
	struct daemon *d;
	struct api_call *c;
	char office[ROUTER_PARAM_MAX];
	char actor[48];
	uv_work_t work;
	int parse_rc;
	struct isir_file file;
	enum rec_result *result;
	char (*case_ids)[40];
	json_t **errors; /* per record, set for rejections after parsing */
	struct group *groups;
	size_t ngroups, next_group;
	int inflight;
	int pumping, pump_again; /* job_pump's loop */
};

static void group_step(struct group *g);
static void job_pump(struct job *j);

/* --- the reply ------------------------------------------------------------ */

static const char *
result_name(enum rec_result r)
{
	switch (r) {
	case R_ACCEPTED:
		return "accepted";
	case R_UNCHANGED:
		return "unchanged";
	default:
		return "rejected";
	}
}

/* Everything but j itself, which holds the work request. */
static void
job_free_parts(struct job *j)
{
	for (size_t i = 0; i < j->ngroups; i++) {
		free(j->groups[i].idx);
		json_decref(j->groups[i].hashes);
	}
	for (size_t i = 0; j->errors && i < j->file.n; i++)
		json_decref(j->errors[i]);
	free(j->errors);
	free(j->groups);
	free(j->result);
	free(j->case_ids);
	isir_file_free(&j->file);
	j->errors = NULL;
	j->groups = NULL;
	j->result = NULL;
	j->case_ids = NULL;
	j->ngroups = 0;
}

static void
free_work(uv_work_t *w)
{
	job_free_parts(w->data);
}

static void
free_done(uv_work_t *w, int status)
{
	if (status != 0) /* cancelled: the loop is stopping */
		job_free_parts(w->data);
	free(w->data);
}

/* An import's records are thousands of small JSON values: they are freed
 * on the thread pool, not on the loop. Nothing else refers to them by
 * now (every command copied what it took). */
static void
job_free(struct job *j)
{
	j->work.data = j;
	if (uv_queue_work(j->d->loop, &j->work, free_work, free_done) != 0) {
		job_free_parts(j);
		free(j);
	}
}

/* A record is rejected by the import (not by its content): field and
 * reason as the parser would give them. */
static void reject(struct job *j, size_t i, int field, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
reject(struct job *j, size_t i, int field, const char *fmt, ...)
{
	const struct isir_field *f = field ? isir_field(field) : NULL;
	char reason[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	j->result[i] = R_REJECTED;
	json_decref(j->errors[i]);
	j->errors[i] = json_pack("[{s:i, s:s, s:s}]", "field", field, "name",
	                         f ? f->name : "record", "reason", reason);
}

static void
job_reply(struct job *j)
{
	json_t *recs = json_array(), *o;
	size_t n[4] = {0};

	for (size_t i = 0; recs && i < j->file.n; i++) {
		const struct isir_record *r = &j->file.recs[i];
		enum rec_result res = j->result[i];
		json_t *errs;

		/* a record no group took (out of memory while grouping) */
		if (res == R_PENDING)
			reject(j, i, 0,
			       "not imported: cairnd ran out of memory; "
			       "nothing changed, import the file again");
		res = j->result[i];
		errs = j->errors[i] ? json_incref(j->errors[i])
		                    : isir_errors_json(r);

		n[res]++;
		json_array_append_new(
		        recs,
		        json_pack("{s:i, s:s?, s:o?, s:s, s:s?, s:o}", "line",
		                  r->line, "fafsa_uuid",
		                  r->fafsa_uuid[0] ? r->fafsa_uuid : NULL,
		                  "transaction",
		                  r->transaction ? json_integer(r->transaction)
		                                 : NULL,
		                  "result", result_name(res), "case",
		                  j->case_ids[i][0] ? j->case_ids[i] : NULL,
		                  "errors", errs ? errs : json_array()));
	}
	o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "office", j->office,
	              "award_year", ISIR_AWARD_YEAR, "accepted",
	              (json_int_t)n[R_ACCEPTED], "unchanged",
	              (json_int_t)n[R_UNCHANGED], "rejected",
	              (json_int_t)n[R_REJECTED], "records", recs);
	api_reply_json_bg(j->c, 200, o);
	j->c = NULL;
	job_free(j);
}

/* A record's hash as the store keeps it in the lookup: 64 hex digits. */
static void
hex_of(const uint8_t h[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int k = 0; k < 32; k++) {
		out[2 * k] = digits[h[k] >> 4];
		out[2 * k + 1] = digits[h[k] & 15];
	}
	out[64] = '\0';
}

/* --- one FAFSA --------------------------------------------------------------- */

static void
group_done(struct group *g)
{
	struct job *j = g->job;

	j->inflight--;
	job_pump(j);
}

static void
group_next(struct group *g)
{
	g->next++;
	g->retries = 0;
	group_step(g);
}

/* The rows that record the transaction, in the command's batch. */
static int
group_extend(struct store_batch *b, const json_t *row, void *arg)
{
	struct group *g = arg;
	struct job *j = g->job;
	const struct isir_record *r = &j->file.recs[g->idx[g->next]];
	const char *id = json_string_value(json_object_get(row, "id"));
	int rc;

	g->extended = 1;
	if (id == NULL)
		return -1;
	snprintf(j->case_ids[g->idx[g->next]], 40, "%s", id);
	rc = g->created
	             ? store_batch_isir_file_insert(b, j->office, r->fafsa_uuid,
	                                            id, r->transaction)
	             : store_batch_isir_file_advance(b, j->office,
	                                             r->fafsa_uuid, id, g->txn,
	                                             r->transaction);
	return rc | store_batch_isir_record_put(b, j->office, r->fafsa_uuid,
	                                        r->transaction, r->hash, id,
	                                        cases_now(j->d));
}

static void group_lookup(struct group *g);

static void
group_submitted(int status, const char *body, void *arg)
{
	struct group *g = arg;
	struct job *j = g->job;
	size_t i = g->idx[g->next];
	const struct isir_record *r = &j->file.recs[i];
	char hex[65];

	if (status == 200 || status == 201) {
		char key[16];

		hex_of(r->hash, hex);
		snprintf(key, sizeof(key), "%d", r->transaction);
		json_object_set_new(g->hashes, key, json_string(hex));
		/* the extend hook saw the case's id */
		if (g->created)
			snprintf(g->case_id, sizeof(g->case_id), "%s",
			         j->case_ids[i]);
		snprintf(j->case_ids[i], 40, "%s", g->case_id);
		g->txn = r->transaction;
		j->result[i] = R_ACCEPTED;
		group_next(g);
		return;
	}
	if (status == 409 && g->extended && g->retries < ISIR_RETRIES) {
		/* another import committed this FAFSA meanwhile: decide
		 * again from what it left */
		g->retries++;
		log_write(LOG_DEBUG, NULL, g->case_id[0] ? g->case_id : NULL,
		          NULL,
		          "isir: FAFSA %s: another import committed first; "
		          "deciding again",
		          j->file.recs[i].fafsa_uuid);
		j->case_ids[i][0] = '\0';
		group_lookup(g);
		return;
	}
	j->case_ids[i][0] = '\0';
	if (status == 409 && g->case_id[0])
		snprintf(j->case_ids[i], 40, "%s", g->case_id);
	if (status == 409 && !g->extended && g->created)
		reject(j, i, 0,
		       "the aid_file workflow refused the new file: %s",
		       body ? body : "");
	else if (status == 409 && !g->extended)
		reject(j, i, 5,
		       "the aid file %s does not take a new ISIR now: %s",
		       g->case_id, body ? body : "");
	else
		reject(j, i, 0,
		       "not imported (%d): %s; nothing changed, "
		       "import the file again",
		       status, body ? body : "");
	group_next(g);
}

static void
group_lookup_done(int status, json_t *res, void *arg)
{
	struct group *g = arg;
	struct job *j = g->job;
	const struct isir_record *r = &j->file.recs[g->idx[g->next]];
	const json_t *known = json_object_get(res, r->fafsa_uuid);

	if (status != 0) {
		json_decref(res);
		reject(j, g->idx[g->next], 0,
		       "not imported: %s; nothing changed, import the file "
		       "again",
		       cairn_strerror(status));
		group_next(g);
		return;
	}
	if (known != NULL) {
		snprintf(g->case_id, sizeof(g->case_id), "%s",
		         json_string_value(json_object_get(known, "case_id")));
		g->txn = (int)json_integer_value(json_object_get(known, "txn"));
		json_decref(g->hashes);
		g->hashes = json_deep_copy(json_object_get(known, "records"));
	}
	json_decref(res);
	group_step(g);
}

static void
group_lookup(struct group *g)
{
	struct job *j = g->job;
	const char *uuid = j->file.recs[g->idx[g->next]].fafsa_uuid;

	if (store_isir_lookup(j->d->store, j->office, &uuid, 1,
	                      group_lookup_done, g) != 0) {
		reject(j, g->idx[g->next], 0,
		       "not imported: cairnd is stopping");
		group_next(g);
	}
}

/* The correction's event: the new view, where it routes, and what it
 * changed against the case as it stands. */
static void
correction_case_read(int status, json_t *res, void *arg)
{
	struct group *g = arg;
	struct job *j = g->job;
	size_t i = g->idx[g->next];
	const struct isir_record *r = &j->file.recs[i];
	const json_t *data =
	        json_object_get(json_object_get(res, "case"), "data");
	json_t *ev = NULL, *changes;
	struct cases_req q = {0};
	int rc;

	if (status != 0) {
		json_decref(res);
		reject(j, i, 0, "not imported: the aid file %s: %s", g->case_id,
		       cairn_strerror(status));
		group_next(g);
		return;
	}
	changes = isir_changes(json_object_get(data, "isir"),
	                       json_object_get(r->data, "isir"));
	ev = json_pack(
	        "{s:s, s:i, s:O, s:O, s:O, s:o}", "route",
	        json_is_true(json_object_get(
	                json_object_get(r->data, "verification"), "selected"))
	                ? "verify"
	                : "review",
	        "transaction", r->transaction, "isir",
	        json_object_get(r->data, "isir"), "student",
	        json_object_get(r->data, "student"), "verification",
	        json_object_get(r->data, "verification"), "changes", changes);
	json_decref(res);
	if (ev == NULL) {
		reject(j, i, 0, "not imported: out of memory");
		group_next(g);
		return;
	}
	q.case_id = g->case_id;
	q.type = "isir_corrected";
	q.data = ev;
	q.role = ROLE_BIT(ROLE_INSTITUTION);
	q.actor = j->actor;
	q.extend = group_extend;
	q.done = group_submitted;
	q.arg = g;
	q.no_view = 1;
	g->created = 0;
	g->extended = 0;
	rc = cases_submit(j->d, &q);
	json_decref(ev);
	if (rc != 0) {
		reject(j, i, 0, "not imported: %s", cairn_strerror(rc));
		group_next(g);
	}
}

static void
group_create(struct group *g, size_t i)
{
	struct job *j = g->job;
	const struct isir_record *r = &j->file.recs[i];
	const json_t *isir = json_object_get(r->data, "isir");
	const char *person =
	        json_string_value(json_object_get(isir, "person_uuid"));
	const json_t *ver = json_object_get(r->data, "verification");
	json_t *data, *then;
	struct cases_req q = {0};
	int rc;

	data = json_pack(
	        "{s:s, s:s, s:s, s:i, s:O, s:O, s:O}", "office", j->office,
	        "award_year", ISIR_AWARD_YEAR, "fafsa_uuid", r->fafsa_uuid,
	        "isir_transaction", r->transaction, "isir", isir, "student",
	        json_object_get(r->data, "student"), "verification", ver);
	then = json_pack("{s:O?}", "group", json_object_get(ver, "group"));
	if (data == NULL || then == NULL) {
		json_decref(data);
		json_decref(then);
		reject(j, i, 0, "not imported: out of memory");
		group_next(g);
		return;
	}
	if (g->student[0] &&
	    (json_object_set_new(data, "student_id", json_string(g->student)) ||
	     json_object_set_new(data, "identity", json_string("matched")))) {
		json_decref(data);
		json_decref(then);
		reject(j, i, 0, "not imported: out of memory");
		group_next(g);
		return;
	}
	q.workflow = ISIR_WORKFLOW;
	/* the student: the one the ISIR's identity matched, so the file
	 * joins the student's caseload and timeline; else the ISIR's person,
	 * stable across award years */
	q.subject = g->student[0] ? g->student
	            : person      ? person
	                          : r->fafsa_uuid;
	q.data = data;
	q.role = ROLE_BIT(ROLE_INSTITUTION);
	q.actor = j->actor;
	if (json_is_true(json_object_get(ver, "selected"))) {
		q.then_type = "isir_selected";
		q.then_data = then;
	}
	q.extend = group_extend;
	q.done = group_submitted;
	q.arg = g;
	q.no_view = 1;
	g->created = 1;
	g->extended = 0;
	rc = cases_submit(j->d, &q);
	json_decref(data);
	json_decref(then);
	if (rc != 0) {
		reject(j, i, 0, "not imported: %s",
		       rc == CAIRN_ENOTFOUND ? "the aid_file workflow is not "
		                               "loaded"
		                             : cairn_strerror(rc));
		group_next(g);
	}
}

/* Decides the group's next record: unchanged, rejected, or a command.
 * Returns 1 when the group has no record left. */
static int
group_decide(struct group *g)
{
	struct job *j = g->job;
	size_t i;
	const struct isir_record *r;
	char key[16];
	const char *seen;
	char hex[65];

	if (g->next == g->n)
		return 1;
	i = g->idx[g->next];
	r = &j->file.recs[i];
	snprintf(key, sizeof(key), "%d", r->transaction);
	seen = json_string_value(json_object_get(g->hashes, key));
	hex_of(r->hash, hex);
	if (seen != NULL) {
		snprintf(j->case_ids[i], 40, "%s", g->case_id);
		if (strcmp(seen, hex) == 0) {
			j->result[i] = R_UNCHANGED;
		} else {
			reject(j, i, 5,
			       "transaction %02d of FAFSA %s was imported "
			       "before with different content; a change "
			       "comes as a new transaction",
			       r->transaction, r->fafsa_uuid);
		}
		group_next(g);
		return 0;
	}
	if (g->case_id[0] == '\0') {
		group_create(g, i);
		return 0;
	}
	if (r->transaction < g->txn) {
		snprintf(j->case_ids[i], 40, "%s", g->case_id);
		reject(j, i, 5,
		       "transaction %02d is older than transaction %02d, "
		       "already imported; it would undo a later correction",
		       r->transaction, g->txn);
		group_next(g);
		return 0;
	}
	if (store_case_get(j->d->store, g->case_id, correction_case_read, g) !=
	    0) {
		reject(j, i, 0, "not imported: cairnd is stopping");
		group_next(g);
	}
	return 0;
}

/*
 * Runs the group's records until one waits for a read or a command. A
 * record decided at once (unchanged, rejected) comes back here through
 * group_next: the loop takes it instead of the stack, however many
 * records of one FAFSA a file repeats.
 */
static void
group_step(struct group *g)
{
	int done;

	if (g->stepping) {
		g->again = 1;
		return;
	}
	g->stepping = 1;
	do {
		g->again = 0;
		done = group_decide(g);
	} while (!done && g->again);
	g->stepping = 0;
	/* last: finishing the group may finish the import and free g */
	if (done)
		group_done(g);
}

/* Starts groups while there is room; replies when every one is done.
 * Groups that finish at once come back here: the loop takes them. */
static void
job_pump(struct job *j)
{
	if (j->pumping) {
		j->pump_again = 1;
		return;
	}
	j->pumping = 1;
	do {
		j->pump_again = 0;
		while (j->inflight < ISIR_INFLIGHT &&
		       j->next_group < j->ngroups) {
			j->inflight++;
			group_step(&j->groups[j->next_group++]);
		}
	} while (j->pump_again);
	j->pumping = 0;
	if (j->inflight == 0 && j->next_group == j->ngroups && j->c != NULL)
		job_reply(j);
}

/* --- the import ---------------------------------------------------------- */

static int
cmp_rec(const void *a, const void *b, void *arg)
{
	const struct isir_record *recs = arg;
	const struct isir_record *x = &recs[*(const size_t *)a];
	const struct isir_record *y = &recs[*(const size_t *)b];
	int c = strcmp(x->fafsa_uuid, y->fafsa_uuid);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* The students the new files' ISIRs belong to, then the import runs. */
static void
identities_read(int status, json_t *res, void *arg)
{
	struct job *j = arg;
	char key[ISIR_IDENTITY_KEY_LEN + 1];

	if (status != 0) {
		json_decref(res);
		api_reply_store_error(j->c, status, cairn_strerror(status));
		j->c = NULL;
		job_free(j);
		return;
	}
	for (size_t k = 0; k < j->ngroups; k++) {
		struct group *g = &j->groups[k];
		const json_t *isir =
		        json_object_get(j->file.recs[g->idx[0]].data, "isir");
		const char *student;

		if (g->case_id[0] || isir_identity_key_of(isir, key) != 0)
			continue;
		student = json_string_value(json_object_get(res, key));
		if (student != NULL)
			snprintf(g->student, sizeof(g->student), "%s", student);
	}
	json_decref(res);
	job_pump(j);
}

/* Looks up the identity of every FAFSA the office has no file for yet:
 * one read for the whole import. */
static void
identities_match(struct job *j)
{
	char(*keys)[ISIR_IDENTITY_KEY_LEN + 1];
	const char **ptrs;
	size_t n = 0;
	int rc;

	keys = calloc(j->ngroups ? j->ngroups : 1, sizeof(*keys));
	ptrs = calloc(j->ngroups ? j->ngroups : 1, sizeof(*ptrs));
	if (keys == NULL || ptrs == NULL) {
		free(keys);
		free(ptrs);
		api_reply_problem(j->c, 503, "overloaded", "out of memory",
		                  NULL, NULL);
		j->c = NULL;
		job_free(j);
		return;
	}
	for (size_t k = 0; k < j->ngroups; k++) {
		struct group *g = &j->groups[k];
		const json_t *isir =
		        json_object_get(j->file.recs[g->idx[0]].data, "isir");

		if (g->case_id[0] == '\0' &&
		    isir_identity_key_of(isir, keys[n]) == 0) {
			ptrs[n] = keys[n];
			n++;
		}
	}
	if (n == 0) {
		free(keys);
		free(ptrs);
		job_pump(j);
		return;
	}
	rc = store_identity_match(j->d->store, ptrs, n, identities_read, j);
	free(keys);
	free(ptrs);
	if (rc != 0) {
		api_reply_problem(j->c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
		j->c = NULL;
		job_free(j);
	}
}

static void
known_read(int status, json_t *res, void *arg)
{
	struct job *j = arg;

	if (status != 0) {
		json_decref(res);
		api_reply_store_error(j->c, status, cairn_strerror(status));
		j->c = NULL;
		job_free(j);
		return;
	}
	for (size_t k = 0; k < j->ngroups; k++) {
		struct group *g = &j->groups[k];
		const json_t *known = json_object_get(
		        res, j->file.recs[g->idx[0]].fafsa_uuid);

		if (known == NULL)
			continue;
		snprintf(g->case_id, sizeof(g->case_id), "%s",
		         json_string_value(json_object_get(known, "case_id")));
		g->txn = (int)json_integer_value(json_object_get(known, "txn"));
		json_decref(g->hashes);
		g->hashes = json_deep_copy(json_object_get(known, "records"));
	}
	json_decref(res);
	identities_match(j);
}

/* Groups the valid records by FAFSA and reads what the office has. */
static void
job_start(struct job *j)
{
	size_t *order, nvalid = 0;
	const char **uuids;
	int rc;

	order = calloc(j->file.n ? j->file.n : 1, sizeof(*order));
	uuids = calloc(j->file.n ? j->file.n : 1, sizeof(*uuids));
	j->groups = calloc(j->file.n ? j->file.n : 1, sizeof(*j->groups));
	if (order == NULL || uuids == NULL || j->groups == NULL) {
		free(order);
		free(uuids);
		api_reply_problem(j->c, 503, "overloaded", "out of memory",
		                  NULL, NULL);
		j->c = NULL;
		job_free(j);
		return;
	}
	for (size_t i = 0; i < j->file.n; i++)
		if (j->file.recs[i].ok)
			order[nvalid++] = i;
	qsort_r(order, nvalid, sizeof(*order), cmp_rec, j->file.recs);
	for (size_t k = 0; k < nvalid;) {
		struct group *g = &j->groups[j->ngroups];
		size_t e = k;

		while (e < nvalid && !strcmp(j->file.recs[order[e]].fafsa_uuid,
		                             j->file.recs[order[k]].fafsa_uuid))
			e++;
		g->job = j;
		g->idx = malloc((e - k) * sizeof(*g->idx));
		g->hashes = json_object();
		if (g->idx == NULL || g->hashes == NULL) {
			free(g->idx);
			json_decref(g->hashes);
			g->idx = NULL;
			g->hashes = NULL;
			break;
		}
		memcpy(g->idx, order + k, (e - k) * sizeof(*g->idx));
		g->n = e - k;
		uuids[j->ngroups++] = j->file.recs[order[k]].fafsa_uuid;
		k = e;
	}
	free(order);
	rc = store_isir_lookup(j->d->store, j->office, uuids, j->ngroups,
	                       known_read, j);
	free(uuids);
	if (rc != 0) {
		api_reply_problem(j->c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
		j->c = NULL;
		job_free(j);
	}
}

static void
parse_work(uv_work_t *w)
{
	struct job *j = w->data;

	j->parse_rc =
	        isir_parse_file(j->c->req->body, j->c->req->body_len, &j->file);
}

static void
parse_done(uv_work_t *w, int status)
{
	struct job *j = w->data;

	if (status != 0 || j->parse_rc != 0) {
		api_reply_problem(j->c, 503, "overloaded",
		                  "out of memory parsing the file", NULL, NULL);
		j->c = NULL;
		job_free(j);
		return;
	}
	if (j->file.n == 0) {
		api_reply_problem(j->c, 422, "no-records",
		                  "the body holds no ISIR records", NULL, NULL);
		j->c = NULL;
		job_free(j);
		return;
	}
	j->result = calloc(j->file.n, sizeof(*j->result));
	j->case_ids = calloc(j->file.n, sizeof(*j->case_ids));
	j->errors = calloc(j->file.n, sizeof(*j->errors));
	if (j->result == NULL || j->case_ids == NULL || j->errors == NULL) {
		api_reply_problem(j->c, 503, "overloaded", "out of memory",
		                  NULL, NULL);
		j->c = NULL;
		job_free(j);
		return;
	}
	for (size_t i = 0; i < j->file.n; i++)
		j->result[i] = j->file.recs[i].ok ? R_PENDING : R_REJECTED;
	job_start(j);
}

static int
office_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= ROUTER_PARAM_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._:@-", s[i])))
			return 0;
	return 1;
}

void
api_h_isir_import(struct api_call *c)
{
	const char *ct = http_req_header(c->req, "Content-Type");
	const char *q = c->req->query;
	char office[ROUTER_PARAM_MAX] = "";
	struct job *j;

	if (ct == NULL || (strncasecmp(ct, "text/plain", 10) != 0 &&
	                   strncasecmp(ct, "application/octet-stream", 24))) {
		api_reply_problem(c, 415, "unsupported-media-type",
		                  "the body is the ISIR file itself, sent with "
		                  "Content-Type: text/plain",
		                  NULL, NULL);
		return;
	}
	if (q[0] != '\0') {
		if (strncmp(q, "office=", 7) != 0 || strchr(q, '&') ||
		    !office_ok(q + 7)) {
			api_reply_problem(c, 400, "bad-query",
			                  "the one parameter is office=<office "
			                  "id> (letters, digits, . _ : @ -)",
			                  NULL, NULL);
			return;
		}
		snprintf(office, sizeof(office), "%s", q + 7);
	}
	/* an aid officer imports into their own office only (the one it
	 * names by default); another office is out of scope */
	if (api_scope(c) == AUTH_SCOPE_OFFICE && office[0] == '\0')
		snprintf(office, sizeof(office), "%s", c->who.scope);
	if (office[0] != '\0') {
		struct auth_resource r = {.owner = office};

		if (api_authorize(c, &r, "office") != 0)
			return;
	}
	if (office[0] == '\0' || !office_ok(office)) {
		api_reply_problem(c, 422, "office-required",
		                  "name the office the ISIRs are for: "
		                  "POST /v1/isir?office=<office id>",
		                  NULL, NULL);
		return;
	}
	if (c->req->body_len == 0) {
		api_reply_problem(c, 422, "no-records",
		                  "the body holds no ISIR records", NULL, NULL);
		return;
	}
	if (registry_get(&c->d->reg, ISIR_WORKFLOW, 0) == NULL) {
		api_reply_problem(c, 503, "workflow-not-loaded",
		                  "the aid_file workflow is not loaded: ISIRs "
		                  "have no case to go into",
		                  NULL, NULL);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	j->d = c->d;
	j->c = c;
	snprintf(j->office, sizeof(j->office), "%s", office);
	snprintf(j->actor, sizeof(j->actor), "isir:%s", c->who.token_id);
	j->work.data = j;
	if (uv_queue_work(c->d->loop, &j->work, parse_work, parse_done) != 0) {
		free(j);
		api_reply_problem(c, 503, "overloaded", "cannot queue work",
		                  NULL, NULL);
	}
}
