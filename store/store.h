/*
 * store.h: Cairn's durable state on SQLite, and the only place SQL lives.
 *
 * The store exposes domain operations, never statements, so another backend
 * can sit behind this header. Writes are collected into batches; a writer
 * thread owns the one write connection and group-commits: it drains every
 * batch waiting into one transaction (each batch inside its own savepoint,
 * so a failing batch fails alone), commits with synchronous=FULL in WAL
 * mode, and only then completes each batch's callback on the loop thread.
 * Reads run on the libuv thread pool over their own read-only connections
 * and complete on the loop thread.
 *
 * Threading: every function here is called on the loop thread that was
 * passed to store_open, except where noted. Callbacks run on that thread.
 * If a function that takes a callback returns an error, the callback is
 * never called.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "../common/cairn.h"

struct store;
struct store_batch;

struct store_opts {
	const char *path;     /* database file; created if missing */
	int read_conns;       /* read connections in the pool; 0 means 4 */
	int64_t max_db_bytes; /* cap on the database size; 0 means none */
	int max_batch;        /* batches per transaction; 0 means no cap,
				 1 turns group commit off (for benchmarks) */
	int64_t check_below;  /* files smaller than this get PRAGMA
				 quick_check at every open, larger ones only
				 after an unclean stop; 0 means 256 MiB */
};

/*
 * Opens (creating if needed) the database, applies the schema migrations
 * keyed on PRAGMA user_version, runs PRAGMA quick_check, and starts the
 * writer thread. Fails with CAIRN_ECORRUPT when quick_check is not "ok",
 * CAIRN_ENEWER when the schema is newer than this binary, and fills err.
 */
int store_open(uv_loop_t *loop, const struct store_opts *opts,
               struct store **out, struct cairn_err *err);

/*
 * Stops accepting batches, lets the writer commit what is queued, joins it,
 * runs every outstanding callback, closes the connections, and closes the
 * store's libuv handles; the memory is freed in their close callbacks, so
 * the caller runs the loop afterwards until it has no more handles. The
 * caller guarantees no read is in flight.
 */
void store_close(struct store *s);

/* The schema version this binary writes. */
int store_schema_version(void);

/* --- writes ---------------------------------------------------------- */

/* Called on the loop thread once the batch is durable (status 0) or has
 * failed (status < 0, msg says why for a person; msg is NULL on success). */
typedef void (*store_done_cb)(int status, const char *msg, void *data);

struct store_token {
	char id[32];      /* public id, "tok_" + 16 hex */
	uint8_t hash[32]; /* SHA-256 of the secret token */
	char role[24];
	char scope[136];    /* "" when the role needs none */
	char label[136];    /* free text for people; may be "" */
	int64_t created_at; /* ms since epoch */
	int64_t revoked_at; /* 0 while active */
};

struct store_batch *store_batch_new(void);
void store_batch_free(struct store_batch *b); /* only if never submitted */

/* Each append copies its arguments. Returns 0 or -ENOMEM. */
int store_batch_token_create(struct store_batch *b,
                             const struct store_token *t);
/* Fails the batch with CAIRN_ENOTFOUND when no active token has that id. */
int store_batch_token_revoke(struct store_batch *b, const char *id, int64_t at);
/* Upserts a row of the meta table (settings, markers, the readiness probe). */
int store_batch_meta_put(struct store_batch *b, const char *key,
                         const char *value);

/*
 * Queues b for the writer. Takes ownership of b in every case. Returns
 * CAIRN_ECLOSED after store_close has begun (cb is not called).
 */
int store_batch_submit(struct store *s, struct store_batch *b, store_done_cb cb,
                       void *data);

/* Submits b and runs the loop until its callback has run; for start-up and
 * offline tools only. Returns the batch's status; msg (may be NULL) gets
 * the message. */
int store_batch_commit_sync(struct store *s, struct store_batch *b, char *msg,
                            size_t msglen);

/* --- reads ----------------------------------------------------------- */

/* t is valid only during the callback. status is 0 (found),
 * CAIRN_ENOTFOUND, or another error. */
typedef void (*store_token_cb)(int status, const struct store_token *t,
                               void *data);
int store_token_find(struct store *s, const uint8_t hash[32], store_token_cb cb,
                     void *data);

/* Every token, newest first; toks is valid only during the callback. */
typedef void (*store_tokens_cb)(int status, const struct store_token *toks,
                                size_t n, void *data);
int store_token_list(struct store *s, store_tokens_cb cb, void *data);

/* Synchronous count of tokens ever created; for start-up only. */
int store_token_count_sync(struct store *s, int64_t *n);

/* --- cases ------------------------------------------------------------ */

/*
 * A case row as the writer takes it. Text fields are borrowed for the
 * call and copied; data is the case data as JSON text.
 */
struct store_case_row {
	const char *id;
	const char *workflow;
	int version;
	const char *status;
	const char *data;
	const char *parent_id; /* NULL for a root case */
	const char *root_id;   /* the root of its family (itself at the top) */
	const char *spawn_key; /* unique among the parent's children */
	const char *subject;
	const char *owner; /* office or campus; "" when none */
	const char *queue; /* NULL when the status names none */
	int64_t due_at;    /* 0: none (an SLA deadline) */
	int64_t revision;
	int terminal;
	int open_children;   /* children not yet terminal */
	int64_t history_seq; /* the last history event's sequence number */
	const uint8_t *history_hash; /* and its hash (32 bytes) */
	int64_t created_at, updated_at;
};

/* A new case. Fails the batch with CAIRN_ECONFLICT when the id, or the
 * (parent, spawn key) pair, is taken: a retried spawn never doubles. */
int store_batch_case_insert(struct store_batch *b,
                            const struct store_case_row *c);
/* Rewrites a case whose stored revision is expected_revision; fails the
 * batch with CAIRN_ECONFLICT when it is not (someone else moved it). */
int store_batch_case_update(struct store_batch *b,
                            const struct store_case_row *c,
                            int64_t expected_revision);

struct store_history_row {
	const char *case_id;
	int64_t seq; /* 1, 2, ... per case */
	int64_t at;
	const char *actor; /* token id, "system", "timer:<name>", ... */
	const char *type;  /* the event */
	const char *from_status, *to_status; /* NULL when not a move */
	const char *payload;                 /* JSON text */
	int workflow_version;
	const uint8_t *hash; /* SHA-256 over the previous hash and this
				 event (32 bytes) */
	/* SHA-256 of payload (32 bytes), which the hash then covers in its
	 * place (audit_history_hash2); NULL for a link over the payload
	 * text itself, as events before retention were written */
	const uint8_t *payload_hash;
};
int store_batch_history_append(struct store_batch *b,
                               const struct store_history_row *h);

/* Starts (or restarts) a named timer of a case. */
int store_batch_timer_set(struct store_batch *b, const char *case_id,
                          const char *name, int64_t due_at, const char *event);
/* Cancels one timer by name, or every timer of the case when name is
 * NULL. Cancelling a timer that does not exist is not an error. */
int store_batch_timer_cancel(struct store_batch *b, const char *case_id,
                             const char *name);
/* Removes a timer that fired, but only if it is still the one that came
 * due (same due time): a restart in between keeps the new one. */
int store_batch_timer_fired(struct store_batch *b, const char *case_id,
                            const char *name, int64_t due_at);

/* Remembers the reply to a request made with an Idempotency-Key; a key
 * recorded already fails the batch with CAIRN_EREPLAY. */
int store_batch_idem_put(struct store_batch *b, const char *key,
                         const uint8_t body_hash[32], int status,
                         const char *response, int64_t at);

/* An institution call, delivered later by the adapters' outbox worker. */
int store_batch_outbox_add(struct store_batch *b, const char *case_id,
                           const char *adapter, const char *operation,
                           const char *idem_key, const char *payload,
                           int64_t due_at);
/* An alert; a second open alert of the same kind on a case is dropped. */
int store_batch_alert_add(struct store_batch *b, const char *case_id,
                          const char *kind, const char *severity,
                          const char *recipient, const char *message,
                          const char *status, int64_t at);
/* Records a loaded workflow definition; the same (name, hash) twice is
 * not an error. */
int store_batch_workflow_put(struct store_batch *b, const char *name,
                             int version, const char *hash, const char *source,
                             int64_t at);

/*
 * Case reads. Results are JSON, built off the loop thread: a case is an
 * object of its columns (data parsed), a list an array of such objects.
 * The callback owns what it is given (json_decref it).
 */
typedef void (*store_json_cb)(int status, json_t *result, void *data);

/* {"case": {...}, "children": [{id, workflow, status, spawn_key,
 * terminal}, ...]}; CAIRN_ENOTFOUND when there is no such case. */
int store_case_get(struct store *s, const char *id, store_json_cb cb,
                   void *data);
/* Every case whose root is root_id (the root itself included), oldest
 * first, as an array of case objects. */
int store_family_get(struct store *s, const char *root_id, store_json_cb cb,
                     void *data);
/* [{seq, at, actor, type, from_status, to_status, payload,
 * workflow_version, hash}, ...] in order; [] for an unknown case. */
int store_case_history(struct store *s, const char *id, store_json_cb cb,
                       void *data);

struct store_case_filter {
	const char *workflow, *status, *subject, *queue, *owner; /* or NULL */
	const char *after;     /* keyset cursor: ids greater than this */
	const char *counselor; /* only cases of this counselor's caseload */
	int limit;             /* 1..1000 */
	int as_text; /* the result is a JSON string holding the page as
			      JSON text, written straight from the rows */
	/* with as_text: a disclosure row for each case of the page is
	 * appended to disclose_to on the reader thread, disclose's at,
	 * token_id, role, scope and route (copied by store_case_list) with
	 * the case's id and subject. The caller owns the batch and leaves
	 * it alone until the callback; on a failed read it holds nothing
	 * that should be submitted. */
	const struct store_disclosure *disclose;
	struct store_batch *disclose_to;
};
/* {"cases": [...], "next": "<cursor>" | null}, ordered by id. */
int store_case_list(struct store *s, const struct store_case_filter *f,
                    store_json_cb cb, void *data);

/* {"body_hash": hex, "status": n, "response": text, "created_at": ms},
 * or CAIRN_ENOTFOUND. */
int store_idem_get(struct store *s, const char *key, store_json_cb cb,
                   void *data);

/* {"due": [{case_id, name, due_at, event}, ...] (at most limit, due_at <=
 * now, earliest first), "next_due": ms | null (the earliest after them)} */
int store_timers_due(struct store *s, int64_t now, int limit, store_json_cb cb,
                     void *data);

/* Synchronous, for start-up: every recorded workflow version as
 * [{name, version, hash, source}, ...], source being the file's text. */
int store_workflows_sync(struct store *s, json_t **out);

/* --- rule-set versions ------------------------------------------------ */

/* Records a rule-set version (files: its files as a JSON object text;
 * tests: its test report, JSON text or NULL; error: why it was rejected,
 * or NULL). state is "live", "previous" or "rejected"; "live" first
 * retires the set's live version to "previous", in the same batch. The
 * same version again updates its state, tests and error. */
int store_batch_rule_put(struct store_batch *b, const char *rule_set,
                         const char *version, const char *files,
                         const char *source, const char *state,
                         const char *tests, const char *error, int64_t at);
/* Synchronous, for start-up: every version as [{rule_set, version, files,
 * source, state, tests, error, created_at, published_at}] (files and
 * tests as JSON text), oldest first per set. */
int store_rules_sync(struct store *s, json_t **out);

/*
 * Calls row for every case the filter selects (workflow and status may be
 * NULL for any; terminal cases only with include_terminal) in slice part
 * of nparts (0 <= part < nparts: disjoint slices that together cover every
 * case, so nparts scans can run at once), in storage order, ON A POOL
 * THREAD, with the case's data as JSON text; the strings are valid during
 * the call; a nonzero return stops the scan. done then runs on the loop
 * thread. One read connection is held for the whole scan.
 */
typedef int (*store_scan_row_fn)(const char *id, const char *workflow,
                                 const char *status, const char *data,
                                 size_t data_len, void *arg);
int store_case_scan(struct store *s, const char *workflow, const char *status,
                    int include_terminal, int part, int nparts,
                    store_scan_row_fn row, store_done_cb done, void *arg);

/* --- ISIR import ------------------------------------------------------ */

/* An office's financial-aid file for a FAFSA, opened at transaction txn;
 * fails the batch with CAIRN_ECONFLICT when another import opened it. */
int store_batch_isir_file_insert(struct store_batch *b, const char *office,
                                 const char *fafsa_uuid, const char *case_id,
                                 int txn);
/* Moves the file from transaction from_txn to to_txn; CAIRN_ECONFLICT
 * when it is no longer at from_txn (another import moved it). */
int store_batch_isir_file_advance(struct store_batch *b, const char *office,
                                  const char *fafsa_uuid, const char *case_id,
                                  int from_txn, int to_txn);
/* One imported transaction and its record's hash; CAIRN_ECONFLICT when
 * that transaction was recorded already. */
int store_batch_isir_record_put(struct store_batch *b, const char *office,
                                const char *fafsa_uuid, int txn,
                                const uint8_t hash[32], const char *case_id,
                                int64_t at);
/* What is known of the office's files for these FAFSAs, read in one
 * transaction: {uuid: {"case_id", "txn", "records": {"<txn>": hex hash}}},
 * with no member for a FAFSA the office has no file for. */
int store_isir_lookup(struct store *s, const char *office,
                      const char *const *fafsa_uuids, size_t n,
                      store_json_cb cb, void *data);
/* --- ISIR identity matching -------------------------------------------
 *
 * A key made from an ISIR's identity (adapters/isir.h isir_identity_key)
 * names the student it belongs to, so the importer opens the aid file
 * under the student's id instead of the ISIR's person UUID.
 */
/* Records (or replaces) the student a key belongs to. */
int store_batch_identity_put(struct store_batch *b, const char *match_key,
                             const char *student, int64_t at);
/* {key: student} for the keys that have a student; no member for others. */
int store_identity_match(struct store *s, const char *const *keys, size_t n,
                         store_json_cb cb, void *data);

/* --- queues, leases, caseloads, alerts ----------------------------------
 *
 * A lease is a row of its own (case, queue, owner, holder, until), not a
 * column of the case, so a claim never moves the case's revision. Claims
 * run on the writer thread, inside the transaction that records them, so
 * two claimers can never be given the same file.
 */

struct store_claim {
	int found; /* 1: case_id was leased; 0: nothing to claim */
	char case_id[40];
};
/* Leases the first unleased case of (queue, owner) in queue order
 * (deadline risk, priority, age) to holder until `until`. out is filled
 * on the writer thread: read it in the batch's callback, not before; it
 * must live until then. */
int store_batch_lease_claim(struct store_batch *b, const char *queue,
                            const char *owner, const char *holder, int64_t at,
                            int64_t until, struct store_claim *out);
/* Moves holder's lease to until; CAIRN_ENOTFOUND when holder holds none. */
int store_batch_lease_renew(struct store_batch *b, const char *case_id,
                            const char *holder, int64_t until);
/* Ends holder's lease (any holder's when holder is NULL);
 * CAIRN_ENOTFOUND when there is none to end. */
int store_batch_lease_release(struct store_batch *b, const char *case_id,
                              const char *holder);
/* Ends holder's lease if it ran out by now; CAIRN_ECONFLICT when it was
 * renewed, released or decided meanwhile. */
int store_batch_lease_expire(struct store_batch *b, const char *case_id,
                             const char *holder, int64_t now);
/* Fails the batch with CAIRN_ECONFLICT when someone other than holder
 * holds a lease on the case that runs past now. */
int store_batch_lease_guard(struct store_batch *b, const char *case_id,
                            const char *holder, int64_t now);
/* The case moves to queue (NULL: none): a lease taken in another queue
 * ends. */
int store_batch_lease_leave(struct store_batch *b, const char *case_id,
                            const char *queue);
/* The case moves to status: its open alerts raised in another status are
 * resolved (by "system"). */
int store_batch_alerts_leave(struct store_batch *b, const char *case_id,
                             const char *status, int64_t at);
/* Must follow a store_batch_alert_add directly: when that alert was new
 * (not a duplicate), queues its JSON to adapter's `notify` operation in
 * the outbox, with the idempotency key "alert:<id>". */
int store_batch_alert_notify(struct store_batch *b, const char *adapter,
                             int64_t at);
/* Acknowledge or resolve an open alert; CAIRN_ENOTFOUND when it is not
 * open. */
int store_batch_alert_ack(struct store_batch *b, int64_t id, const char *who,
                          int64_t at);
int store_batch_alert_resolve(struct store_batch *b, int64_t id,
                              const char *who, int64_t at);
/* A counselor's caseload: clear it, add students (adding one twice is not
 * an error). */
int store_batch_caseload_clear(struct store_batch *b, const char *counselor);
int store_batch_caseload_add(struct store_batch *b, const char *counselor,
                             const char *student, int64_t at);

/* {case_id, queue, owner, holder, claimed_at, until}, or
 * CAIRN_ENOTFOUND. (store_case_get's result also carries "lease", the same
 * object or null, and "counselors", the ids whose caseload holds the
 * case's subject.) */
int store_lease_get(struct store *s, const char *case_id, store_json_cb cb,
                    void *data);
/* {"due": [{case_id, queue, owner, holder, until}, ...] (until <= now,
 * earliest first, at most limit), "next_due": ms | null} */
int store_leases_due(struct store *s, int64_t now, int limit, store_json_cb cb,
                     void *data);
/* The first limit cases of (queue, owner) in queue order: [{id, workflow,
 * status, subject, owner, due_at, priority, created_at, holder,
 * lease_until}, ...] (holder and lease_until null when unleased). */
int store_queue_items(struct store *s, const char *queue, const char *owner,
                      int limit, store_json_cb cb, void *data);
/* Per (queue, owner), of owner's queues or (NULL) every one: [{queue,
 * owner, depth, oldest (created_at), breached (due before now), claimed},
 * ...]. Reads every queued file's index entry. */
int store_queue_summary(struct store *s, const char *owner, int64_t now,
                        store_json_cb cb, void *data);

struct store_alert_filter {
	const char *state;     /* "open", "resolved", or NULL for both */
	const char *counselor; /* only alerts to the counselor, on cases of
				  this counselor's students */
	const char *owner;     /* only alerts on this office's cases ... */
	const char *role;      /* ... addressed to the office or this role */
	const char *case_id;   /* or NULL */
	int64_t after;         /* keyset cursor: ids greater than this */
	int limit;             /* 1..1000 */
};
/* {"alerts": [{id, case_id, kind, severity, recipient, message, status,
 * state, created_at, acked_at, acked_by, resolved_at, resolved_by,
 * subject, owner}, ...], "next": id | null}, by id. */
int store_alerts_list(struct store *s, const struct store_alert_filter *f,
                      store_json_cb cb, void *data);
/* One alert as above plus "counselors" (as in store_case_get), or
 * CAIRN_ENOTFOUND. */
int store_alert_get(struct store *s, int64_t id, store_json_cb cb, void *data);
/* ["student", ...] */
int store_caseload_get(struct store *s, const char *counselor, store_json_cb cb,
                       void *data);

/* Where alerts are mailed: id is "counselor:<id>", "office:<id>" or
 * "supervisor:<office>"; digest: a daily summary instead of each alert. */
int store_batch_recipient_put(struct store_batch *b, const char *id,
                              const char *email, int digest, int64_t at);
/* {id, email, digest, updated_at}, or CAIRN_ENOTFOUND. */
int store_recipient_get(struct store *s, const char *id, store_json_cb cb,
                        void *data);
/* The alerts after id `after` (at most limit of them) with each address
 * that takes them one by one: {"mail": [{id, case_id, kind, severity,
 * message, status, created_at, subject, owner, rid, email}, ...],
 * "last": the last alert id looked at (0: none)}. */
int store_mail_pending(struct store *s, int64_t after, int limit,
                       store_json_cb cb, void *data);
/* Open alerts created after since for every digest recipient, rows as
 * above, by recipient. */
int store_mail_digest(struct store *s, int64_t since, store_json_cb cb,
                      void *data);
/* An office's supervisor and staff (token ids); replaces what was. */
int store_batch_office_put(struct store_batch *b, const char *id,
                           const char *supervisor, const char *const *staff,
                           size_t nstaff, int64_t at);
/* {id, supervisor ("" for none), updated_at (null if never set), staff:
 * [member, ...]}, and with_leases, leases: [{holder, leases}, ...] (the
 * office's running leases per holder); an office never described has no
 * staff. */
int store_office_get(struct store *s, const char *id, int with_leases,
                     store_json_cb cb, void *data);
/* {"value": text} of a meta key, or CAIRN_ENOTFOUND. */
int store_meta_get(struct store *s, const char *key, store_json_cb cb,
                   void *data);

/* --- audit: reading the hash chains ----------------------------------- */

/*
 * A read-only view of a database file for `cairn audit verify`: no writer
 * thread, no migrations, no loop, and nothing is ever written. Fails with
 * CAIRN_ENEWER for a schema newer than this binary and CAIRN_EINVALID for
 * a file without case history. Synchronous; for offline tools.
 */
struct store_audit;
int store_audit_open(const char *path, struct store_audit **out,
                     struct cairn_err *err);
void store_audit_close(struct store_audit *a);

/* One link of a chain; strings and hash are valid during the call. */
struct store_chain_link {
	const char *key; /* the chain: a case id */
	int64_t seq, at;
	const char *actor, *type;
	const char *from_status, *to_status; /* NULL when not a move */
	const char *payload;                 /* the JSON text as stored */
	int version;
	const uint8_t *hash;
	size_t hash_len;
	/* NULL (0 bytes) for a link over the payload text; else the
	 * payload's hash, and payload "" when a retention purge emptied it */
	const uint8_t *payload_hash;
	size_t payload_hash_len;
};
/* Where a chain says it ends: the case row's history_seq and
 * history_hash (found is 0 when history names a case that has no row). */
struct store_chain_head {
	const char *key;
	int found;
	int64_t seq;
	const uint8_t *hash; /* NULL when the row has none */
	size_t hash_len;
};
/* A nonzero return from either stops the walk (which then returns 0). */
struct store_chain_ops {
	int (*link)(const struct store_chain_link *l, void *arg);
	int (*head)(const struct store_chain_head *h, void *arg);
};
/*
 * Walks every case's history chain in case id order, in one snapshot:
 * for each case id found in cases or in history, link() for each of its
 * events in seq order, then head() once. Returns 0 or an error code.
 */
int store_audit_case_chains(struct store_audit *a,
                            const struct store_chain_ops *ops, void *arg,
                            struct cairn_err *err);

/* --- the disclosure log ----------------------------------------------
 *
 * Every read of a student's record: who read it (token id, role, scope),
 * which record (case, subject), when, through which route. One hash
 * chain in seq order: each row's hash is SHA-256 over the previous row's
 * hash (32 zero bytes before the first) and the line
 * "seq\nat\ntoken_id\nrole\nscope\nroute\ncase_id\nsubject\n"; the
 * chain is extended on the writer thread, in commit order, and its head
 * ("<seq>:<hex hash>") is kept in meta under disclosure_head.
 */
struct store_disclosure {
	int64_t at; /* ms since epoch */
	const char *token_id, *role, *scope, *route, *case_id, *subject;
};
/* Appends n rows (copied) to the log. */
int store_batch_disclose(struct store_batch *b,
                         const struct store_disclosure *rows, size_t n);
/* Whether b holds no operation (nothing to submit). */
int store_batch_empty(const struct store_batch *b);
/* The hash of row d at seq after prev; 0, or -1 when libcrypto fails.
 * prev and out may be the same buffer. */
int store_disclosure_hash(const uint8_t prev[32], int64_t seq,
                          const struct store_disclosure *d, uint8_t out[32]);

struct store_disclosure_filter {
	const char *subject, *case_id, *reader; /* or NULL */
	int64_t since;                          /* at >= since (ms) */
	int64_t before; /* keyset cursor: seq < before; 0: from the newest */
	int limit;      /* 1..1000 */
};
/* {"disclosures": [{seq, at, token_id, role, scope, route, case_id,
 * subject}, ...] newest first, "next": seq | null}. */
int store_disclosure_list(struct store *s,
                          const struct store_disclosure_filter *f,
                          store_json_cb cb, void *data);

/* For the audit: one row of the log as stored. */
struct store_disclosure_link {
	int64_t seq;
	struct store_disclosure d;
	const uint8_t *hash;
	size_t hash_len;
};
struct store_disclosure_head {
	int exists;      /* the database has a disclosure log */
	int recorded;    /* meta holds a head */
	char value[128]; /* "<seq>:<hex hash>" */
};
/* Calls link for every row in seq order in one snapshot (a nonzero
 * return stops the walk), and fills head. Returns 0 or an error code. */
int store_audit_disclosures(struct store_audit *a,
                            int (*link)(const struct store_disclosure_link *l,
                                        void *arg),
                            void *arg, struct store_disclosure_head *head,
                            struct cairn_err *err);

/* --- observation ----------------------------------------------------- */

#define STORE_HIST_BUCKETS 12
struct store_hist {
	/* cumulative counts per upper bound, as Prometheus wants them */
	double bounds[STORE_HIST_BUCKETS];
	uint64_t counts[STORE_HIST_BUCKETS]; /* count <= bounds[i] */
	uint64_t count;                      /* all observations (+Inf) */
	double sum;
};

struct store_metrics {
	struct store_hist batch_size;  /* batches per transaction */
	struct store_hist commit_secs; /* BEGIN..COMMIT (with fsync) seconds */
	uint64_t commits;              /* transactions committed */
	uint64_t batches_ok, batches_failed;
	int64_t db_bytes;    /* page_count * page_size after the
					   last commit, plus the WAL file */
	int64_t queue_depth; /* batches waiting for the writer */
	/* disclosure-only transactions committed at synchronous=NORMAL,
	 * and the syncer's fsyncs of the WAL after them */
	uint64_t deferred_commits;
	uint64_t wal_syncs, wal_sync_failures;
};

/* Safe to call on the loop thread at any time; copies a consistent view. */
void store_metrics_get(struct store *s, struct store_metrics *out);

/* --- adapters: the outbox worker and inbound callbacks ------------------ */

/*
 * Records an attempt's outcome on a pending outbox row: state "pending"
 * (a retry at due_at), "delivered" or "dead"; add_attempts is 1 for a
 * real attempt, 0 for a row put off without one (its adapter is not
 * loaded). due_at 0 keeps the row's; last_status 0 means none (no HTTP
 * reply). A row no longer pending is left alone.
 */
int store_batch_outbox_mark(struct store_batch *b, int64_t id,
                            const char *state, int add_attempts, int64_t due_at,
                            int last_status, const char *last_error,
                            int64_t at);
/* Makes an adapter's dead letters pending again, due at now, with their
 * attempts reset; *changed (written before the callback) gets how many. */
int store_batch_outbox_redrive(struct store_batch *b, const char *adapter,
                               int64_t now, int64_t *changed);
/* Remembers an institution's callback event id; a second one with the
 * same (adapter, event id) fails the batch with CAIRN_EREPLAY. */
int store_batch_callback_put(struct store_batch *b, const char *adapter,
                             const char *event_id, const char *case_id,
                             const char *type, int64_t at);

/* {"due": [{id, case_id, adapter, operation, idem_key, payload (parsed),
 * attempts, due_at}, ...] oldest first, "seen": the number of due rows
 * looked at (at most limit), "next_due": the earliest later due time or
 * null}. The nknown ids in known (copied) are rows the caller holds
 * already: they count in "seen" but are left out of "due". */
int store_outbox_due(struct store *s, int64_t now, int limit,
                     const int64_t *known, size_t nknown, store_json_cb cb,
                     void *data);
/* [{adapter, state, n, oldest}, ...]: outbox rows counted by adapter and
 * state. */
int store_outbox_stats(struct store *s, store_json_cb cb, void *data);
/* {adapter, event_id, case_id, type, received_at}, or CAIRN_ENOTFOUND. */
int store_callback_get(struct store *s, const char *adapter,
                       const char *event_id, store_json_cb cb, void *data);

/* --- retention (issue 7, item 7) -----------------------------------------
 *
 * A purge keeps a closed case's audit skeleton: its id, workflow, statuses,
 * times, owner and every event's fields and hashes; it empties the events'
 * payloads (those written with a payload hash), replaces the case's data
 * and subject, appends the purge's own event (chained like any other) and
 * drops the case's outbox rows, leases, timers and alert messages.
 */

/* [{id, version, data, subject, revision, history_seq, history_hash,
 * updated_at, legacy_events}, ...]: terminal cases not yet purged whose
 * last change was before cutoff, ordered by (updated_at, id) after
 * (after_at, after_id), at most limit. legacy_events counts events whose
 * link covers the payload text (written before payload hashes). */
int store_retention_due(struct store *s, int64_t cutoff, int64_t after_at,
                        const char *after_id, int limit, store_json_cb cb,
                        void *data);

struct store_purge {
	const char *case_id;
	int64_t revision;           /* as read: a case that moved is not purged
	                     (the batch fails with CAIRN_ECONFLICT) */
	const char *data, *subject; /* what the case keeps */
	/* the purge's own event: seq, hash (chained on the case's head)
	 * and payload_hash set; every earlier event's payload is emptied */
	const struct store_history_row *event;
};
int store_batch_case_purge(struct store_batch *b, const struct store_purge *p);
/* [{seq, at, actor, type, from_status, to_status, payload_text (as
 * stored, unparsed), workflow_version, hash, payload_hash (hex or
 * null)}, ...]: a case's events, for resealing its chain. */
int store_retention_history(struct store *s, const char *case_id,
                            store_json_cb cb, void *data);
/* Rewrites event seq's link as one over its payload's hash; the batch
 * fails with CAIRN_ECONFLICT unless the stored hash is still old_hash. */
int store_batch_history_reseal(struct store_batch *b, const char *case_id,
                               int64_t seq, const uint8_t old_hash[32],
                               const uint8_t hash[32],
                               const uint8_t payload_hash[32]);
/* Drops the replies kept for Idempotency-Key from before `before`. */
int store_batch_idempotency_expire(struct store_batch *b, int64_t before);
/* --- backup and restore -------------------------------------------------- */

struct store_file_info {
	int schema_version;
	int64_t cases;
	int64_t bytes;
};
/*
 * Copies the database at src, which cairnd may be using, into dst, a
 * new file: one consistent snapshot, synced, checked with PRAGMA
 * integrity_check, in rollback-journal mode so it stands alone. Never
 * overwrites: -EEXIST when dst exists. Fills info on success.
 */
int store_backup(const char *src, const char *dst, struct store_file_info *info,
                 struct cairn_err *err);
/* Checks a database file, read-only: quick_check (integrity_check when
 * full), a schema version this binary knows, and counts its cases. */
int store_file_check(const char *path, int full, struct store_file_info *info,
                     struct cairn_err *err);

#endif
