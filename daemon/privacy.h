/*
 * privacy.h: what a reader may see of a student's record, and the log of
 * who saw it.
 *
 * Redaction: every response that carries case data (a case, a page of
 * cases, a history, a claimed file, a command's reply, a dry run's
 * examples) passes through privacy_redact, which hides every field whose
 * class (the workflow's `fields:` block, workflows/fields.c) is above
 * what the reader's role may see (privacy_ceiling).
 *
 * The disclosure log: every read of a student's record is recorded (who,
 * which record, when, through which route) in a hash-chained table, in a
 * batch committed before the reply is sent: a read whose disclosure
 * cannot be recorded is not answered (docs/security.md).
 */
#ifndef CAIRN_PRIVACY_H
#define CAIRN_PRIVACY_H

#include <jansson.h>
#include <stddef.h>

#include "auth.h"

struct daemon;
struct api_call;
struct store_batch;

/* The highest field class (enum wf_class) role may see; -1: none. */
int privacy_ceiling(enum role r);

enum privacy_what {
	PRIV_CASE,    /* a case object: its "data" */
	PRIV_HISTORY, /* an array of history events: their payloads */
	PRIV_REASONS, /* a rule's reasons [{code, message}] (dry runs) */
};

/*
 * The one redaction: o (of kind what, belonging to a case of workflow at
 * version; version 0 or an unknown one: the current definition; an
 * unknown workflow: every field at the default class) is redacted in
 * place for role r. Returns the number of values hidden.
 */
size_t privacy_redact(const struct daemon *d, enum role r,
                      enum privacy_what what, const char *workflow, int version,
                      json_t *o);

/* --- the disclosure log ------------------------------------------------ */

/* One record read by one reader. */
struct privacy_record {
	const char *case_id;
	const char *subject;
};

/*
 * Adds the disclosure of n records to c's reader through c's route to b
 * (at the daemon's clock). Returns 0 or -ENOMEM.
 */
int privacy_batch_disclose(struct store_batch *b, const struct api_call *c,
                           const struct privacy_record *recs, size_t n);

/*
 * Records the disclosure of n records to c's reader, then replies with o
 * (stolen; serialized on the thread pool when bg) once the record is
 * durable. When it cannot be recorded, o is dropped and the reply is a
 * 503 (storage-full when the disk is): nothing is disclosed that is not
 * on the log. n == 0 replies at once. recs (and the strings they point
 * to, which may live in o) are copied before this returns.
 */
void privacy_disclose_reply(struct api_call *c,
                            const struct privacy_record *recs, size_t n,
                            json_t *o, int bg);

/*
 * The records a page of rows discloses, one per row of the array rows
 * (its case id under id_key, its student under "subject"; the strings
 * stay in rows), for privacy_disclose_reply; the caller frees the array.
 * Out of memory: res is dropped, c is answered 503 and NULL returned.
 */
struct privacy_record *privacy_records_of(struct api_call *c, json_t *rows,
                                          const char *id_key, json_t *res);

/*
 * The disclosure row template of c's reader and route, at the daemon's
 * clock (case_id and subject empty): for store_case_filter's disclose,
 * which builds a page's rows on the reader thread. route (route_len
 * bytes) holds the route's text and must outlive row's use.
 */
struct store_disclosure;
void privacy_disclosure_of(const struct api_call *c,
                           struct store_disclosure *row, char *route,
                           size_t route_len);

/*
 * privacy_disclose_reply for rows already in b (stolen): text is a JSON
 * string holding the reply's body, sent as it is once b is committed;
 * an empty b replies at once.
 */
void privacy_disclose_text_reply(struct api_call *c, struct store_batch *b,
                                 json_t *text);

#endif
