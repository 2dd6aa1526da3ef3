/*
 * store.c: Cairn's durable state on SQLite: the schema and its migrations,
 * the writer thread that group-commits batches, the pool of read-only
 * connections the libuv thread pool reads through, and the metrics an
 * operator needs to see how the disk keeps up.
 *
 * One write connection, owned by the writer thread once store_open returns.
 * Batches queue under a mutex; the writer takes every batch waiting (up to
 * max_batch) into one BEGIN IMMEDIATE .. COMMIT, each batch in its own
 * SAVEPOINT so a batch whose operation fails is rolled back alone. Only
 * after COMMIT returns (synchronous=FULL: the WAL is fsynced) are the
 * batches moved to the completion queue, and a uv_async_t has the loop
 * thread call their callbacks in submission order. Fewer fsyncs per batch,
 * not weaker durability, is where the throughput comes from. The one
 * exception is a transaction of disclosure rows alone (a read's record
 * that it was read): it commits at synchronous=NORMAL and a syncer thread
 * fsyncs the WAL within STORE_DEFER_SYNC_MS ("deferred sync", below).
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

/* --- schema ------------------------------------------------------------ */

/*
 * The migration steps, oldest first. Step i brings the database from
 * user_version i to i + 1. Never edit a step that has shipped: append one.
 * Each runs in its own transaction that also sets user_version, so a crash
 * leaves the database at a version it can resume from.
 */
static const char *const store_migrations[] = {
        /* 1: settings and markers; API tokens (only the SHA-256 is kept) */
        "CREATE TABLE meta (\n"
        "    key TEXT PRIMARY KEY,\n"
        "    value TEXT NOT NULL,\n"
        "    updated_at INTEGER NOT NULL\n"
        ") STRICT;\n"
        "CREATE TABLE tokens (\n"
        "    id TEXT PRIMARY KEY,\n"
        "    hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),\n"
        "    role TEXT NOT NULL,\n"
        "    scope TEXT NOT NULL DEFAULT '',\n"
        "    label TEXT NOT NULL DEFAULT '',\n"
        "    created_at INTEGER NOT NULL,\n"
        "    revoked_at INTEGER\n"
        ") STRICT;\n",
        /* 2: workflows, cases and what hangs off them: history (hash
         * chained), timers, idempotency keys, the outbox, alerts */
        "CREATE TABLE workflows (\n"
        "    name TEXT NOT NULL,\n"
        "    version INTEGER NOT NULL,\n"
        "    hash TEXT NOT NULL,\n"
        "    source TEXT NOT NULL,\n"
        "    loaded_at INTEGER NOT NULL,\n"
        "    PRIMARY KEY (name, version),\n"
        "    UNIQUE (name, hash)\n"
        ") STRICT;\n"
        "CREATE TABLE cases (\n"
        "    id TEXT PRIMARY KEY,\n"
        "    workflow TEXT NOT NULL,\n"
        "    version INTEGER NOT NULL,\n"
        "    status TEXT NOT NULL,\n"
        "    data TEXT NOT NULL,\n"
        "    parent_id TEXT,\n"
        "    root_id TEXT NOT NULL,\n"
        "    spawn_key TEXT,\n"
        "    subject TEXT NOT NULL,\n"
        "    owner TEXT NOT NULL DEFAULT '',\n"
        "    queue TEXT,\n"
        "    due_at INTEGER,\n"
        "    revision INTEGER NOT NULL,\n"
        "    terminal INTEGER NOT NULL DEFAULT 0,\n"
        "    open_children INTEGER NOT NULL DEFAULT 0,\n"
        "    history_seq INTEGER NOT NULL DEFAULT 0,\n"
        "    history_hash BLOB,\n"
        "    created_at INTEGER NOT NULL,\n"
        "    updated_at INTEGER NOT NULL,\n"
        "    UNIQUE (parent_id, spawn_key)\n"
        ") STRICT;\n"
        "CREATE INDEX cases_by_status ON cases (workflow, status, id);\n"
        "CREATE INDEX cases_by_subject ON cases (subject, id);\n"
        "CREATE INDEX cases_by_queue ON cases (queue, id)"
        " WHERE queue IS NOT NULL;\n"
        "CREATE INDEX cases_by_parent ON cases (parent_id)"
        " WHERE parent_id IS NOT NULL;\n"
        "CREATE INDEX cases_by_root ON cases (root_id);\n"
        "CREATE TABLE history (\n"
        "    case_id TEXT NOT NULL,\n"
        "    seq INTEGER NOT NULL,\n"
        "    at INTEGER NOT NULL,\n"
        "    actor TEXT NOT NULL,\n"
        "    type TEXT NOT NULL,\n"
        "    from_status TEXT,\n"
        "    to_status TEXT,\n"
        "    payload TEXT NOT NULL,\n"
        "    workflow_version INTEGER NOT NULL,\n"
        "    hash BLOB NOT NULL CHECK (length(hash) = 32),\n"
        "    PRIMARY KEY (case_id, seq)\n"
        ") STRICT, WITHOUT ROWID;\n"
        "CREATE TABLE timers (\n"
        "    case_id TEXT NOT NULL,\n"
        "    name TEXT NOT NULL,\n"
        "    due_at INTEGER NOT NULL,\n"
        "    event TEXT NOT NULL,\n"
        "    PRIMARY KEY (case_id, name)\n"
        ") STRICT;\n"
        "CREATE INDEX timers_by_due ON timers (due_at);\n"
        "CREATE TABLE idempotency (\n"
        "    key TEXT PRIMARY KEY,\n"
        "    body_hash BLOB NOT NULL,\n"
        "    status INTEGER NOT NULL,\n"
        "    response TEXT NOT NULL,\n"
        "    created_at INTEGER NOT NULL\n"
        ") STRICT;\n"
        "CREATE INDEX idempotency_by_age ON idempotency (created_at);\n"
        "CREATE TABLE outbox (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    case_id TEXT NOT NULL,\n"
        "    adapter TEXT NOT NULL,\n"
        "    operation TEXT NOT NULL,\n"
        "    idem_key TEXT NOT NULL UNIQUE,\n"
        "    payload TEXT NOT NULL,\n"
        "    state TEXT NOT NULL DEFAULT 'pending',\n"
        "    attempts INTEGER NOT NULL DEFAULT 0,\n"
        "    due_at INTEGER NOT NULL,\n"
        "    created_at INTEGER NOT NULL\n"
        ") STRICT;\n"
        "CREATE INDEX outbox_by_due ON outbox (due_at)"
        " WHERE state = 'pending';\n"
        "CREATE TABLE alerts (\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    case_id TEXT NOT NULL,\n"
        "    kind TEXT NOT NULL,\n"
        "    severity TEXT NOT NULL,\n"
        "    recipient TEXT NOT NULL,\n"
        "    message TEXT NOT NULL,\n"
        "    status TEXT,\n"
        "    state TEXT NOT NULL DEFAULT 'open',\n"
        "    created_at INTEGER NOT NULL\n"
        ") STRICT;\n"
        "CREATE UNIQUE INDEX alerts_open_once ON alerts (case_id, kind)"
        " WHERE state = 'open';\n"
        "CREATE TABLE store_state (\n"
        "    key TEXT PRIMARY KEY,\n"
        "    value INTEGER NOT NULL\n"
        ") STRICT;\n",
        /* 3: rule-set versions: every version seen (its files, so any can
         * be rolled back to or dry-run years later), its test report, and
         * which one is live (at most one per set) */
        "CREATE TABLE rule_versions (\n"
        "    rule_set TEXT NOT NULL,\n"
        "    version TEXT NOT NULL,\n"
        "    files TEXT NOT NULL,\n"
        "    source TEXT NOT NULL,\n"
        "    state TEXT NOT NULL,\n"
        "    tests TEXT,\n"
        "    error TEXT,\n"
        "    created_at INTEGER NOT NULL,\n"
        "    published_at INTEGER,\n"
        "    PRIMARY KEY (rule_set, version)\n"
        ") STRICT;\n"
        "CREATE UNIQUE INDEX rule_versions_live ON rule_versions (rule_set)"
        " WHERE state = 'live';\n",
        /* 4: ISIR import: each office's financial-aid file per FAFSA, and
         * every ISIR transaction imported into it (by the record's hash,
         * so importing the same file again changes nothing) */
        "CREATE TABLE isir_files (\n"
        "    office TEXT NOT NULL,\n"
        "    fafsa_uuid TEXT NOT NULL,\n"
        "    case_id TEXT NOT NULL,\n"
        "    txn INTEGER NOT NULL,\n"
        "    PRIMARY KEY (office, fafsa_uuid)\n"
        ") STRICT, WITHOUT ROWID;\n"
        "CREATE TABLE isir_records (\n"
        "    office TEXT NOT NULL,\n"
        "    fafsa_uuid TEXT NOT NULL,\n"
        "    txn INTEGER NOT NULL,\n"
        "    record_hash BLOB NOT NULL CHECK (length(record_hash) = 32),\n"
        "    case_id TEXT NOT NULL,\n"
        "    imported_at INTEGER NOT NULL,\n"
        "    PRIMARY KEY (office, fafsa_uuid, txn)\n"
        ") STRICT, WITHOUT ROWID;\n",
        /* 5: adapters: the outcome of each outbox row's last attempt, and
         * the institutions' callback event ids already applied */
        "ALTER TABLE outbox ADD COLUMN last_status INTEGER;\n"
        "ALTER TABLE outbox ADD COLUMN last_error TEXT;\n"
        "ALTER TABLE outbox ADD COLUMN updated_at INTEGER;\n"
        "CREATE INDEX outbox_by_adapter ON outbox (adapter, state);\n"
        "CREATE TABLE callbacks (\n"
        "    adapter TEXT NOT NULL,\n"
        "    event_id TEXT NOT NULL,\n"
        "    case_id TEXT NOT NULL,\n"
        "    type TEXT NOT NULL,\n"
        "    received_at INTEGER NOT NULL,\n"
        "    PRIMARY KEY (adapter, event_id)\n"
        ") STRICT, WITHOUT ROWID;\n",
        /* 6: review queues, leases, caseloads, alerts' life cycle. A
         * case's priority comes from its data, so the queue order index
         * can hold it. A lease is a row of its own; the case keeps only
         * a claimed flag, which no case command writes, so a claim never
         * moves the case's revision, and the index skips claimed files
         * instead of walking past them. */
        "ALTER TABLE cases ADD COLUMN priority INTEGER GENERATED ALWAYS AS"
        " (CAST(coalesce(json_extract(data, '$.priority'), 0) AS INTEGER))"
        " VIRTUAL;\n"
        "ALTER TABLE cases ADD COLUMN claimed INTEGER NOT NULL DEFAULT 0;\n"
        "CREATE INDEX cases_queue_order ON cases (queue, owner, claimed,"
        " coalesce(due_at / 86400000, 9223372036854775807), priority DESC,"
        " created_at, id) WHERE queue IS NOT NULL;\n"
        "CREATE TABLE leases (\n"
        "    case_id TEXT PRIMARY KEY,\n"
        "    queue TEXT NOT NULL,\n"
        "    owner TEXT NOT NULL,\n"
        "    holder TEXT NOT NULL,\n"
        "    claimed_at INTEGER NOT NULL,\n"
        "    until INTEGER NOT NULL\n"
        ") STRICT, WITHOUT ROWID;\n"
        "CREATE INDEX leases_by_until ON leases (until);\n"
        "CREATE INDEX leases_by_owner ON leases (owner, queue, holder);\n"
        "CREATE TABLE caseloads (\n"
        "    counselor TEXT NOT NULL,\n"
        "    student TEXT NOT NULL,\n"
        "    added_at INTEGER NOT NULL,\n"
        "    PRIMARY KEY (counselor, student)\n"
        ") STRICT, WITHOUT ROWID;\n"
        "CREATE INDEX caseloads_by_student ON caseloads (student);\n"
        "ALTER TABLE alerts ADD COLUMN acked_at INTEGER;\n"
        "ALTER TABLE alerts ADD COLUMN acked_by TEXT;\n"
        "ALTER TABLE alerts ADD COLUMN resolved_at INTEGER;\n"
        "ALTER TABLE alerts ADD COLUMN resolved_by TEXT;\n"
        "CREATE INDEX alerts_by_case ON alerts (case_id, id);\n"
        "CREATE INDEX alerts_by_state ON alerts (state, id);\n"
        /* where alerts are mailed: "counselor:<id>", "office:<id>",
         * "supervisor:<office>"; digest: once a day instead of each */
        /* an office's staff (token ids) and supervisor: when it has a
         * roster only those on it claim its files */
        "CREATE TABLE offices (\n"
        "    id TEXT PRIMARY KEY,\n"
        "    supervisor TEXT NOT NULL DEFAULT '',\n"
        "    updated_at INTEGER NOT NULL\n"
        ") STRICT;\n"
        "CREATE TABLE office_staff (\n"
        "    office TEXT NOT NULL,\n"
        "    member TEXT NOT NULL,\n"
        "    PRIMARY KEY (office, member)\n"
        ") STRICT, WITHOUT ROWID;\n"
        "CREATE TABLE recipients (\n"
        "    id TEXT PRIMARY KEY,\n"
        "    email TEXT NOT NULL,\n"
        "    digest INTEGER NOT NULL DEFAULT 0,\n"
        "    updated_at INTEGER NOT NULL\n"
        ") STRICT;\n",
        /* 7: retention (issue 7, item 7). Each event's payload hash: its
         * chain link covers the payload through it, so the link still
         * verifies once a retention purge empties the payload (NULL for
         * events written before: their link covers the payload text, and
         * they are not purged). When a case was purged, and the index
         * the retention job finds closed cases by. */
        "ALTER TABLE history ADD COLUMN payload_hash BLOB"
        " CHECK (payload_hash IS NULL OR length(payload_hash) = 32);\n"
        "ALTER TABLE cases ADD COLUMN purged_at INTEGER;\n"
        "CREATE INDEX cases_retention ON cases (updated_at, id)"
        " WHERE terminal = 1 AND purged_at IS NULL;\n",
        /* 8: ISIR identity matching: which student an ISIR's person is,
         * by a key made of the last name, the date of birth and the
         * SSN's last four digits (adapters/isir.h isir_identity_key);
         * only the key is kept, never the parts apart */
        "CREATE TABLE student_identities (\n"
        "    match_key TEXT PRIMARY KEY,\n"
        "    student TEXT NOT NULL,\n"
        "    updated_at INTEGER NOT NULL\n"
        ") STRICT, WITHOUT ROWID;\n"
        "CREATE INDEX student_identities_by_student ON student_identities"
        " (student);\n",
        /* 9: the disclosure log: every read of a student's record, who
         * read it and through which route; one hash chain in seq order
         * (its head is also kept in meta, key disclosure_head) */
        "CREATE TABLE disclosures (\n"
        "    seq INTEGER PRIMARY KEY,\n"
        "    at INTEGER NOT NULL,\n"
        "    token_id TEXT NOT NULL,\n"
        "    role TEXT NOT NULL,\n"
        "    scope TEXT NOT NULL,\n"
        "    route TEXT NOT NULL,\n"
        "    case_id TEXT NOT NULL,\n"
        "    subject TEXT NOT NULL,\n"
        "    hash BLOB NOT NULL\n"
        ") STRICT;\n"
        "CREATE INDEX disclosures_by_subject ON disclosures (subject, seq);\n"
        "CREATE INDEX disclosures_by_case ON disclosures (case_id, seq);\n"
        "CREATE INDEX disclosures_by_reader ON disclosures (token_id, seq);\n",
};

#define STORE_NMIGRATIONS                                                      \
	((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

/* store_token_list returns at most this many rows, so one reply stays
 * bounded however many tokens an installation has minted. */
#define STORE_LIST_MAX 10000

#define STORE_BUSY_MS 5000

int
store_schema_version(void)
{
	return STORE_NMIGRATIONS;
}

/* --- types ------------------------------------------------------------- */

enum store_op_kind {
	STORE_OP_TOKEN_CREATE,
	STORE_OP_TOKEN_REVOKE,
	STORE_OP_META_PUT,
	STORE_OP_SQL,   /* a prepared write statement and its parameters */
	STORE_OP_CLAIM, /* queues: pick the next file and lease it */
	STORE_OP_LEASE_GUARD, /* queues: no one else holds the case's lease */
	STORE_OP_DISCLOSE,    /* the disclosure log: rows chained on append */
};

enum store_param_type { SP_NULL, SP_INT, SP_TEXT, SP_BLOB };

struct store_param {
	enum store_param_type type;
	int64_t i;
	char *p; /* owned copy for SP_TEXT and SP_BLOB */
	int len;
};

#define STORE_MAX_PARAMS 20

struct store_op {
	enum store_op_kind kind;
	union {
		struct store_token tok;
		struct {
			char *id;
			int64_t at;
		} revoke;
		struct {
			char *key;
			char *value;
		} meta;
		struct {
			int stmt;   /* WST_* */
			int expect; /* 1: exactly one row must change */
			int fail;   /* the code when it does not */
			int dup; /* the code for a uniqueness conflict; 0 means
				    CAIRN_ECONFLICT */
			const char *what;
			int64_t *changes; /* rows changed, for the caller */
			int np;
			struct store_param p[STORE_MAX_PARAMS];
		} sql;
		struct {
			char *queue, *owner, *holder, *case_id;
			int64_t at, until;
			struct store_claim *out;
		} q;
		struct {
			struct store_disclosure *rows; /* strings owned */
			size_t n;
		} disc;
	} u;
};

struct store_batch {
	struct store_batch *next;
	struct store_op *ops;
	size_t nops, cap;
	store_done_cb cb;
	void *data;
	int status;
	char *msg; /* set on failure; freed with the batch */
};

/* The write connection's statements, prepared once. */
enum {
	WST_BEGIN,
	WST_COMMIT,
	WST_ROLLBACK,
	WST_SAVEPOINT,
	WST_RELEASE,
	WST_ROLLBACK_TO,
	WST_TOKEN_INSERT,
	WST_TOKEN_REVOKE,
	WST_META_PUT,
	WST_PAGE_COUNT,
	WST_CASE_INSERT,
	WST_CASE_UPDATE,
	WST_HISTORY_INSERT,
	WST_TIMER_SET,
	WST_TIMER_CANCEL,
	WST_TIMER_CANCEL_ALL,
	WST_TIMER_FIRED,
	WST_IDEM_PUT,
	WST_OUTBOX_ADD,
	WST_ALERT_ADD,
	WST_WORKFLOW_PUT,
	WST_OUTBOX_MARK,
	WST_OUTBOX_REDRIVE,
	WST_CALLBACK_PUT,
	WST_RULE_DEMOTE,
	WST_RULE_PUT,
	WST_ISIR_FILE_INSERT,
	WST_ISIR_FILE_ADVANCE,
	WST_ISIR_RECORD_PUT,
	/* queues, leases, caseloads, alerts */
	WST_CLAIM_PICK,
	WST_CLAIM_MARK,
	WST_CLAIM_SYNC,
	WST_LEASE_INSERT,
	WST_LEASE_RENEW,
	WST_LEASE_RELEASE,
	WST_LEASE_BREAK,
	WST_LEASE_EXPIRE,
	WST_LEASE_OTHER,
	WST_LEASE_LEAVE,
	WST_ALERTS_LEAVE,
	WST_ALERT_NOTIFY,
	WST_ALERT_ACK,
	WST_ALERT_RESOLVE,
	WST_CASELOAD_CLEAR,
	WST_CASELOAD_ADD,
	/* ISIR identity matching */
	WST_IDENTITY_PUT,
	WST_RECIPIENT_PUT,
	WST_OFFICE_PUT,
	WST_OFFICE_CLEAR,
	WST_OFFICE_STAFF,
	/* retention */
	WST_RET_HISTORY,
	WST_RET_CASE,
	WST_RET_OUTBOX,
	WST_RET_ALERTS,
	WST_RET_LEASE,
	WST_RET_TIMERS,
	WST_RET_IDEM,
	WST_RET_RESEAL,
	/* the disclosure log */
	WST_DISC_HEAD,
	WST_DISC_INSERT,
	WST_DISC_INSERT_MANY,
	WST_N
};

/* Queue order, the cases_queue_order index's columns: deadline risk
 * first (the UTC day the file falls due; none last), then priority (high
 * first), then age. Risk counts in days so that priority still orders
 * files due the same day; to the millisecond every due time differs and
 * priority would never matter. */
#define STORE_QUEUE_ORDER                                                      \
	"coalesce(c.due_at / 86400000, 9223372036854775807), c.priority DESC," \
	" c.created_at, c.id"

/* A page of a listing is up to 1000 disclosure rows: they go in
 * STORE_DISC_ROWS to a statement, not one statement each, which spent
 * more of the writer's time starting and ending statements than
 * inserting (see store_apply_disclose). */
#define STORE_DISC_ROWS    16
#define STORE_DISC_ROW_SQL "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define STORE_DISC_ROWS_SQL_4                                                  \
	STORE_DISC_ROW_SQL ", " STORE_DISC_ROW_SQL ", " STORE_DISC_ROW_SQL     \
	                   ", " STORE_DISC_ROW_SQL
#define STORE_DISC_ROWS_SQL                                                    \
	STORE_DISC_ROWS_SQL_4 ", " STORE_DISC_ROWS_SQL_4                       \
	                      ", " STORE_DISC_ROWS_SQL_4                       \
	                      ", " STORE_DISC_ROWS_SQL_4

static const char *const store_wsql[WST_N] = {
        [WST_BEGIN] = "BEGIN IMMEDIATE",
        [WST_COMMIT] = "COMMIT",
        [WST_ROLLBACK] = "ROLLBACK",
        [WST_SAVEPOINT] = "SAVEPOINT batch",
        [WST_RELEASE] = "RELEASE batch",
        [WST_ROLLBACK_TO] = "ROLLBACK TO batch",
        [WST_TOKEN_INSERT] = "INSERT INTO tokens (id, hash, role, scope, label,"
                             " created_at, revoked_at)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        [WST_TOKEN_REVOKE] = "UPDATE tokens SET revoked_at = ?2"
                             " WHERE id = ?1 AND revoked_at IS NULL",
        [WST_META_PUT] = "INSERT INTO meta (key, value, updated_at)"
                         " VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE"
                         " SET value = excluded.value,"
                         " updated_at = excluded.updated_at",
        [WST_PAGE_COUNT] = "PRAGMA page_count",
        [WST_CASE_INSERT] =
                "INSERT INTO cases (id, workflow, version, status, data,"
                " parent_id, root_id, spawn_key, subject, owner, queue, due_at,"
                " revision, terminal, open_children, history_seq,"
                " history_hash, created_at, updated_at) VALUES (?1, ?2, ?3,"
                " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
                " ?17, ?18, ?19)",
        [WST_CASE_UPDATE] =
                "UPDATE cases SET workflow = ?2, version = ?3, status = ?4,"
                " data = ?5, owner = ?10, queue = ?11, due_at = ?12,"
                " revision = ?13, terminal = ?14, open_children = ?15,"
                " history_seq = ?16, history_hash = ?17, updated_at = ?19"
                " WHERE id = ?1 AND revision = ?20",
        [WST_HISTORY_INSERT] =
                "INSERT INTO history (case_id, seq, at, actor, type,"
                " from_status, to_status, payload, workflow_version, hash,"
                " payload_hash)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        [WST_TIMER_SET] = "INSERT INTO timers (case_id, name, due_at, event)"
                          " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (case_id,"
                          " name) DO UPDATE SET due_at = excluded.due_at,"
                          " event = excluded.event",
        [WST_TIMER_CANCEL] = "DELETE FROM timers WHERE case_id = ?1"
                             " AND name = ?2",
        [WST_TIMER_CANCEL_ALL] = "DELETE FROM timers WHERE case_id = ?1",
        [WST_TIMER_FIRED] = "DELETE FROM timers WHERE case_id = ?1"
                            " AND name = ?2 AND due_at = ?3",
        [WST_IDEM_PUT] = "INSERT INTO idempotency (key, body_hash, status,"
                         " response, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        [WST_OUTBOX_ADD] = "INSERT INTO outbox (case_id, adapter, operation,"
                           " idem_key, payload, due_at, created_at)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        [WST_ALERT_ADD] = "INSERT INTO alerts (case_id, kind, severity,"
                          " recipient, message, status, created_at)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                          " ON CONFLICT DO NOTHING",
        [WST_WORKFLOW_PUT] = "INSERT INTO workflows (name, version, hash,"
                             " source, loaded_at) VALUES (?1, ?2, ?3, ?4, ?5)"
                             " ON CONFLICT DO NOTHING",
        [WST_OUTBOX_MARK] = "UPDATE outbox SET state = ?2,"
                            " attempts = attempts + ?3,"
                            " due_at = coalesce(?4, due_at),"
                            " last_status = ?5, last_error = ?6,"
                            " updated_at = ?7"
                            " WHERE id = ?1 AND state = 'pending'",
        [WST_OUTBOX_REDRIVE] = "UPDATE outbox SET state = 'pending',"
                               " attempts = 0, due_at = ?2,"
                               " updated_at = ?2"
                               " WHERE adapter = ?1 AND state = 'dead'",
        [WST_CALLBACK_PUT] = "INSERT INTO callbacks (adapter, event_id,"
                             " case_id, type, received_at)"
                             " VALUES (?1, ?2, ?3, ?4, ?5)",
        [WST_RULE_DEMOTE] = "UPDATE rule_versions SET state = 'previous'"
                            " WHERE rule_set = ?1 AND state = 'live'",
        [WST_RULE_PUT] =
                "INSERT INTO rule_versions (rule_set, version, files, source,"
                " state, tests, error, created_at, published_at) VALUES (?1,"
                " ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN ?5 = 'live' THEN ?8"
                " END) ON CONFLICT (rule_set, version) DO UPDATE SET"
                " state = excluded.state, tests = coalesce(excluded.tests,"
                " tests), error = excluded.error, published_at ="
                " coalesce(excluded.published_at, published_at)",
        [WST_ISIR_FILE_INSERT] = "INSERT INTO isir_files (office, fafsa_uuid,"
                                 " case_id, txn) VALUES (?1, ?2, ?3, ?4)",
        [WST_ISIR_FILE_ADVANCE] = "UPDATE isir_files SET txn = ?4"
                                  " WHERE office = ?1 AND fafsa_uuid = ?2"
                                  " AND case_id = ?3 AND txn = ?5",
        [WST_ISIR_RECORD_PUT] =
                "INSERT INTO isir_records (office, fafsa_uuid, txn,"
                " record_hash, case_id, imported_at)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        /* the order is the cases_queue_order index's, so the first
         * unleased row is found without sorting the queue */
        [WST_CLAIM_PICK] = "SELECT c.id FROM cases c WHERE c.queue = ?1"
                           " AND c.owner = ?2 AND c.claimed = 0"
                           " ORDER BY " STORE_QUEUE_ORDER " LIMIT 1",
        [WST_CLAIM_MARK] = "UPDATE cases SET claimed = 1 WHERE id = ?1",
        /* after a lease may have ended: the flag follows the table (a
         * file never claimed is only looked at, not written) */
        [WST_CLAIM_SYNC] = "UPDATE cases SET claimed = 0 WHERE id = ?1"
                           " AND claimed = 1 AND NOT EXISTS (SELECT 1"
                           " FROM leases l WHERE l.case_id = ?1)",
        [WST_LEASE_INSERT] = "INSERT INTO leases (case_id, queue, owner,"
                             " holder, claimed_at, until)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        [WST_LEASE_RENEW] = "UPDATE leases SET until = ?3 WHERE case_id = ?1"
                            " AND holder = ?2",
        [WST_LEASE_RELEASE] = "DELETE FROM leases WHERE case_id = ?1"
                              " AND holder = ?2",
        [WST_LEASE_BREAK] = "DELETE FROM leases WHERE case_id = ?1",
        [WST_LEASE_EXPIRE] = "DELETE FROM leases WHERE case_id = ?1"
                             " AND holder = ?2 AND until <= ?3",
        [WST_LEASE_OTHER] = "SELECT holder, until FROM leases"
                            " WHERE case_id = ?1 AND holder != ?2"
                            " AND until > ?3",
        [WST_LEASE_LEAVE] = "DELETE FROM leases WHERE case_id = ?1"
                            " AND queue IS NOT ?2",
        /* by the open alerts' partial index: without statistics SQLite
         * picks alerts_by_state and walks every open alert of every
         * case, a cost that grew with the inbox on each status change */
        [WST_ALERTS_LEAVE] = "UPDATE alerts INDEXED BY alerts_open_once"
                             " SET state = 'resolved',"
                             " resolved_at = ?3, resolved_by = 'system'"
                             " WHERE case_id = ?1 AND state = 'open'"
                             " AND status IS NOT NULL AND status IS NOT ?2",
        /* runs right after the alert's insert: changes() and
         * last_insert_rowid() are that insert's, so a duplicate alert
         * (dropped) sends nothing */
        [WST_ALERT_NOTIFY] =
                "INSERT INTO outbox (case_id, adapter, operation, idem_key,"
                " payload, due_at, created_at) SELECT case_id, ?1, 'notify',"
                " 'alert:' || id, json_object('id', id, 'case_id', case_id,"
                " 'kind', kind, 'severity', severity, 'recipient', recipient,"
                " 'message', message, 'status', status, 'created_at',"
                " created_at), ?2, ?2 FROM alerts"
                " WHERE changes() = 1 AND id = last_insert_rowid()"
                " ON CONFLICT DO NOTHING",
        [WST_ALERT_ACK] = "UPDATE alerts SET acked_at = ?2, acked_by = ?3"
                          " WHERE id = ?1 AND state = 'open'",
        [WST_ALERT_RESOLVE] = "UPDATE alerts SET state = 'resolved',"
                              " resolved_at = ?2, resolved_by = ?3"
                              " WHERE id = ?1 AND state = 'open'",
        [WST_CASELOAD_CLEAR] = "DELETE FROM caseloads WHERE counselor = ?1",
        [WST_OFFICE_PUT] = "INSERT INTO offices (id, supervisor, updated_at)"
                           " VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE"
                           " SET supervisor = excluded.supervisor,"
                           " updated_at = excluded.updated_at",
        [WST_OFFICE_CLEAR] = "DELETE FROM office_staff WHERE office = ?1",
        [WST_OFFICE_STAFF] = "INSERT INTO office_staff (office, member)"
                             " VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        /* retention: an empty payload is a purged one; only events
         * whose link covers the payload by its hash are emptied */
        [WST_RET_HISTORY] = "UPDATE history SET payload = ''"
                            " WHERE case_id = ?1 AND seq < ?2"
                            " AND payload_hash IS NOT NULL"
                            " AND payload <> ''",
        [WST_RET_CASE] = "UPDATE cases SET data = ?2, subject = ?3,"
                         " history_seq = ?4, history_hash = ?5,"
                         " revision = revision + 1, purged_at = ?6"
                         " WHERE id = ?1 AND revision = ?7"
                         " AND terminal = 1 AND purged_at IS NULL",
        [WST_RET_OUTBOX] = "DELETE FROM outbox WHERE case_id = ?1",
        [WST_RET_ALERTS] = "UPDATE alerts SET message = ''"
                           " WHERE case_id = ?1",
        [WST_RET_LEASE] = "DELETE FROM leases WHERE case_id = ?1",
        [WST_RET_TIMERS] = "DELETE FROM timers WHERE case_id = ?1",
        [WST_RET_IDEM] = "DELETE FROM idempotency WHERE created_at < ?1",
        /* a link over its payload text made a link over its payload's
         * hash, only if it is still the link that was verified */
        [WST_RET_RESEAL] = "UPDATE history SET hash = ?3, payload_hash = ?4"
                           " WHERE case_id = ?1 AND seq = ?2 AND hash = ?5",
        [WST_RECIPIENT_PUT] = "INSERT INTO recipients (id, email, digest,"
                              " updated_at) VALUES (?1, ?2, ?3, ?4)"
                              " ON CONFLICT (id) DO UPDATE SET"
                              " email = excluded.email,"
                              " digest = excluded.digest,"
                              " updated_at = excluded.updated_at",
        [WST_CASELOAD_ADD] = "INSERT INTO caseloads (counselor, student,"
                             " added_at) VALUES (?1, ?2, ?3)"
                             " ON CONFLICT DO NOTHING",
        [WST_IDENTITY_PUT] = "INSERT INTO student_identities (match_key,"
                             " student, updated_at) VALUES (?1, ?2, ?3)"
                             " ON CONFLICT (match_key) DO UPDATE SET"
                             " student = excluded.student,"
                             " updated_at = excluded.updated_at",
        [WST_DISC_HEAD] = "SELECT seq, hash FROM disclosures"
                          " ORDER BY seq DESC LIMIT 1",
        [WST_DISC_INSERT] = "INSERT INTO disclosures (seq, at, token_id, role,"
                            " scope, route, case_id, subject, hash)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        [WST_DISC_INSERT_MANY] = "INSERT INTO disclosures (seq, at, token_id,"
                                 " role, scope, route, case_id, subject, hash)"
                                 " VALUES " STORE_DISC_ROWS_SQL,
};

/* A read connection's statements, prepared once. */
enum {
	RST_FIND,
	RST_LIST,
	RST_COUNT,
	RST_CASE_GET,
	RST_CASE_CHILDREN,
	RST_HISTORY,
	RST_IDEM_GET,
	RST_TIMERS_DUE,
	RST_TIMER_NEXT,
	RST_WORKFLOWS,
	RST_FAMILY,
	RST_OUTBOX_DUE,
	RST_OUTBOX_ROW,
	RST_OUTBOX_NEXT,
	RST_OUTBOX_STATS,
	RST_CALLBACK_GET,
	RST_RULES,
	/* queues, leases, caseloads, alerts */
	RST_LEASE_GET,
	RST_CASE_COUNSELORS,
	RST_LEASES_DUE,
	RST_LEASE_NEXT,
	RST_QUEUE_ITEMS,
	RST_QUEUE_SUMMARY,
	RST_QUEUE_SUMMARY_OWNER,
	RST_ALERT_GET,
	RST_CASELOAD,
	RST_MAIL_LAST,
	RST_MAIL_PENDING,
	RST_MAIL_DIGEST,
	RST_RECIPIENT_GET,
	RST_META_GET,
	RST_OFFICE_GET,
	RST_OFFICE_STAFF,
	RST_OFFICE_LEASES,
	/* a read's own snapshot, prepared once: parsing "BEGIN" per read
	 * allocated a parser each time */
	RST_BEGIN,
	RST_COMMIT,
	RST_N
};

#define STORE_CASE_COLS                                                        \
	"id, workflow, version, status, data, parent_id, root_id, spawn_key,"  \
	" subject, owner, queue, due_at, revision, terminal, open_children,"   \
	" history_seq, history_hash, created_at, updated_at"
/* a listing leaves out the chain hash, which only the engine needs */
#define STORE_CASE_LIST_COLS                                                   \
	"id, workflow, version, status, data, parent_id, root_id, spawn_key,"  \
	" subject, owner, queue, due_at, revision, terminal, open_children,"   \
	" history_seq, created_at, updated_at"

#define STORE_TOKEN_COLS "id, hash, role, scope, label, created_at, revoked_at"

/* An alert and a recipient it is addressed to, through the case: its
 * office, the office's supervisor, or each counselor of its student. */
#define STORE_MAIL_COLS                                                        \
	"a.id, a.case_id, a.kind, a.severity, a.message, a.status,"            \
	" a.created_at, c.subject, c.owner, r.id AS rid, r.email"
#define STORE_MAIL_JOIN                                                        \
	"alerts a JOIN cases c ON c.id = a.case_id JOIN recipients r ON"       \
	" (a.recipient = 'office' AND r.id = 'office:' || c.owner) OR"         \
	" (a.recipient = 'supervisor' AND r.id = 'supervisor:' || c.owner) OR" \
	" (a.recipient IN ('counselor', 'role:counselor') AND r.id IN"         \
	" (SELECT 'counselor:' || k.counselor FROM caseloads k"                \
	" WHERE k.student = c.subject))"

static const char *const store_rsql[RST_N] = {
        [RST_FIND] = "SELECT " STORE_TOKEN_COLS " FROM tokens WHERE hash = ?1",
        [RST_LIST] = "SELECT " STORE_TOKEN_COLS " FROM tokens"
                     " ORDER BY created_at DESC, rowid DESC LIMIT ?1",
        [RST_COUNT] = "SELECT count(*) FROM tokens",
        [RST_CASE_GET] = "SELECT " STORE_CASE_COLS " FROM cases WHERE id = ?1",
        [RST_CASE_CHILDREN] = "SELECT id, workflow, status, spawn_key,"
                              " terminal, updated_at FROM cases"
                              " WHERE parent_id = ?1 ORDER BY spawn_key",
        /* a purged payload (empty) reads as null */
        [RST_HISTORY] = "SELECT seq, at, actor, type, from_status, to_status,"
                        " nullif(payload, '') AS payload, workflow_version,"
                        " hash FROM history"
                        " WHERE case_id = ?1 ORDER BY seq",
        [RST_IDEM_GET] = "SELECT body_hash, status, response, created_at"
                         " FROM idempotency WHERE key = ?1",
        [RST_TIMERS_DUE] = "SELECT case_id, name, due_at, event FROM timers"
                           " WHERE due_at <= ?1 ORDER BY due_at LIMIT ?2",
        [RST_TIMER_NEXT] = "SELECT min(due_at) FROM timers WHERE due_at > ?1",
        [RST_WORKFLOWS] = "SELECT name, version, hash, source FROM workflows"
                          " ORDER BY name, version",
        [RST_FAMILY] = "SELECT " STORE_CASE_COLS " FROM cases"
                       " WHERE root_id = ?1 ORDER BY created_at, id",
        /* ids alone, from the pending rows' index: the outbox already
         * holds most due rows in memory, and only the others are read
         * in full (RST_OUTBOX_ROW) */
        [RST_OUTBOX_DUE] = "SELECT id FROM outbox"
                           " WHERE state = 'pending' AND due_at <= ?1"
                           " ORDER BY due_at, id LIMIT ?2",
        [RST_OUTBOX_ROW] = "SELECT id, case_id, adapter, operation, idem_key,"
                           " payload, attempts, due_at FROM outbox"
                           " WHERE id = ?1",
        [RST_OUTBOX_NEXT] = "SELECT min(due_at) FROM outbox"
                            " WHERE state = 'pending' AND due_at > ?1",
        [RST_OUTBOX_STATS] = "SELECT adapter, state, count(*) AS n,"
                             " min(created_at) AS oldest FROM outbox"
                             " GROUP BY adapter, state ORDER BY adapter",
        [RST_CALLBACK_GET] = "SELECT adapter, event_id, case_id, type,"
                             " received_at FROM callbacks"
                             " WHERE adapter = ?1 AND event_id = ?2",
        [RST_BEGIN] = "BEGIN",
        [RST_COMMIT] = "COMMIT",
        [RST_RULES] = "SELECT rule_set, version, files, source, state, tests,"
                      " error, created_at, published_at FROM rule_versions"
                      " ORDER BY rule_set, created_at, version",
        [RST_LEASE_GET] = "SELECT case_id, queue, owner, holder, claimed_at,"
                          " until FROM leases WHERE case_id = ?1",
        [RST_CASE_COUNSELORS] = "SELECT counselor FROM caseloads"
                                " WHERE student = ?1 ORDER BY counselor",
        [RST_LEASES_DUE] = "SELECT case_id, queue, owner, holder, until"
                           " FROM leases WHERE until <= ?1 ORDER BY until"
                           " LIMIT ?2",
        [RST_LEASE_NEXT] = "SELECT min(until) FROM leases WHERE until > ?1",
        [RST_QUEUE_ITEMS] =
                "SELECT c.id, c.workflow, c.status, c.subject, c.owner,"
                " c.due_at, c.priority, c.created_at, l.holder,"
                " l.until AS lease_until FROM cases c LEFT JOIN leases l"
                " ON l.case_id = c.id WHERE c.queue = ?1 AND c.owner = ?2"
                " ORDER BY " STORE_QUEUE_ORDER " LIMIT ?3",
        /* O(queued files): one pass over the queue order index */
        [RST_QUEUE_SUMMARY] =
                "SELECT q.*, (SELECT count(*) FROM leases l"
                " WHERE l.queue = q.queue AND l.owner = q.owner) AS claimed"
                " FROM (SELECT queue, owner, count(*) AS depth,"
                " min(created_at) AS oldest, coalesce(sum(due_at IS NOT NULL"
                " AND due_at < ?1), 0) AS breached FROM cases"
                " WHERE queue IS NOT NULL GROUP BY queue, owner) q"
                " ORDER BY q.queue, q.owner",
        [RST_QUEUE_SUMMARY_OWNER] =
                "SELECT q.*, (SELECT count(*) FROM leases l"
                " WHERE l.queue = q.queue AND l.owner = q.owner) AS claimed"
                " FROM (SELECT queue, owner, count(*) AS depth,"
                " min(created_at) AS oldest, coalesce(sum(due_at IS NOT NULL"
                " AND due_at < ?1), 0) AS breached FROM cases"
                " WHERE queue IS NOT NULL AND owner = ?2"
                " GROUP BY queue) q ORDER BY q.queue",
        [RST_ALERT_GET] = "SELECT a.id, a.case_id, a.kind, a.severity,"
                          " a.recipient, a.message, a.status, a.state,"
                          " a.created_at, a.acked_at, a.acked_by,"
                          " a.resolved_at, a.resolved_by, c.subject,"
                          " c.owner FROM alerts a JOIN cases c"
                          " ON c.id = a.case_id WHERE a.id = ?1",
        [RST_CASELOAD] = "SELECT student FROM caseloads WHERE counselor = ?1"
                         " ORDER BY student",
        [RST_MAIL_LAST] = "SELECT max(id) FROM (SELECT id FROM alerts"
                          " WHERE id > ?1 ORDER BY id LIMIT ?2)",
        /* each alert with the addresses it goes to one by one */
        [RST_MAIL_PENDING] = "SELECT " STORE_MAIL_COLS " FROM " STORE_MAIL_JOIN
                             " WHERE a.id > ?1 AND a.id <= ?2"
                             " AND r.digest = 0 AND a.state = 'open'"
                             " ORDER BY a.id, r.id",
        [RST_MAIL_DIGEST] = "SELECT " STORE_MAIL_COLS " FROM " STORE_MAIL_JOIN
                            " WHERE a.state = 'open' AND a.created_at > ?1"
                            " AND r.digest = 1 ORDER BY r.id, a.id",
        [RST_RECIPIENT_GET] = "SELECT id, email, digest, updated_at"
                              " FROM recipients WHERE id = ?1",
        [RST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
        [RST_OFFICE_GET] = "SELECT id, supervisor, updated_at FROM offices"
                           " WHERE id = ?1",
        [RST_OFFICE_STAFF] = "SELECT member FROM office_staff"
                             " WHERE office = ?1 ORDER BY member",
        [RST_OFFICE_LEASES] = "SELECT holder, count(*) AS leases FROM leases"
                              " WHERE owner = ?1 GROUP BY holder"
                              " ORDER BY holder",
};

/* A listing's statement depends on which of its 7 filters are set */
#define STORE_LIST_SHAPES 128

struct store_rconn {
	sqlite3 *db;
	sqlite3_stmt *st[RST_N];
	/* the listing statements prepared so far, by filter shape:
	 * preparing one took as long as reading a page */
	sqlite3_stmt *list[STORE_LIST_SHAPES];
};

struct store {
	uv_loop_t *loop;
	char *path;
	char *wal_path;
	int max_batch;
	int lost_txn; /* the writer lost a transaction (I/O, full disk) */
	int64_t check_below;
	int64_t page_size;

	sqlite3 *wdb; /* the writer thread's once store_open returns */
	sqlite3_stmt *wst[WST_N];
	int wnormal; /* writer thread: wdb at NORMAL (1), FULL (0), -1 unknown */
	/* writer thread: the disclosure log's head as last committed or
	 * written in the open transaction (disc_known: it is), so that a
	 * read's row does not start with a query for it; forgotten when a
	 * batch or a transaction is rolled back */
	int disc_known;
	int64_t disc_seq;
	uint8_t disc_hash[32];

	/* the WAL's deferred fsync after a disclosure-only commit (see
	 * "deferred sync" below); smu guards unsynced, sclosing, sfailed */
	char *dir_path;
	uv_mutex_t smu;
	uv_cond_t scond;
	uint64_t unsynced; /* uv_hrtime of the first commit not yet fsynced */
	int sclosing;
	int sfailed;        /* an fsync failed: every commit is FULL again */
	int ckpt_wanted;    /* the WAL has grown past STORE_CKPT_PAGES */
	sqlite3 *cdb;       /* the syncer's: checkpoints */
	ino_t synced_ino;   /* the WAL whose directory entry is fsynced */
	uv_thread_t syncer; /* started before the writer, joined after it */

	/* read pool: rfree[0..nrfree) index idle connections */
	struct store_rconn *rconns;
	int nrconns;
	int *rfree;
	int nrfree;
	uv_mutex_t rmu;
	uv_cond_t rcond;

	/* the writer's queue */
	uv_mutex_t qmu;
	uv_cond_t qcond;
	struct store_batch *qhead, *qtail;
	int64_t qdepth;
	int closing;
	uv_thread_t writer;

	/* finished batches, in submission order, for the loop thread */
	uv_mutex_t dmu;
	struct store_batch *dhead, *dtail;
	uv_async_t async;

	/* loop thread only */
	int64_t inflight; /* submitted, callback not yet run */
	int closed;

	uv_mutex_t mmu;
	struct store_metrics m;
};

static const double store_size_bounds[STORE_HIST_BUCKETS] = {
        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048};
static const double store_secs_bounds[STORE_HIST_BUCKETS] = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
        0.05,   0.1,   0.25,   0.5,   1,    2.5};

/* --- errors ------------------------------------------------------------ */

/* The one place a SQLite result code becomes one of Cairn's. */
static int
store_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return CAIRN_EFULL;
	case SQLITE_CONSTRAINT:
		return CAIRN_ECONFLICT;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return CAIRN_ECORRUPT;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		return CAIRN_ESTORE;
	}
}

/* "path: what: sqlite's message", with "database or disk is full" spelled
 * out even when SQLite's message is about something more specific, and a
 * lock held elsewhere named as such. */
static void
store_sqlmsg(char *buf, size_t len, const char *path, sqlite3 *db, int rc,
             const char *what)
{
	const char *m = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

	if ((rc & 0xff) == SQLITE_FULL && strstr(m, "full") == NULL)
		snprintf(buf, len, "%s: %s: database or disk is full: %s", path,
		         what, m);
	else if ((rc & 0xff) == SQLITE_BUSY)
		/* only another process can hold it: cairnd has one writer */
		snprintf(buf, len,
		         "%s: %s: %s (another process holds the database's "
		         "write lock; waited %d s)",
		         path, what, m, STORE_BUSY_MS / 1000);
	else
		snprintf(buf, len, "%s: %s: %s", path, what, m);
}

static int
store_fail(struct cairn_err *err, const char *path, sqlite3 *db, int rc,
           const char *what)
{
	char buf[sizeof(err->msg)];

	store_sqlmsg(buf, sizeof(buf), path, db, rc, what);
	cairn_err_set(err, path, 0, 0, "%s", buf);
	return store_code(rc);
}

/* --- connections ------------------------------------------------------- */

static int
store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	                          NULL);
}

/* Runs a pragma or query returning one integer. */
static int
store_int(sqlite3 *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int
store_quick_check(struct store *s, struct cairn_err *err)
{
	sqlite3_stmt *st;
	const char *line;
	int rc;

	rc = sqlite3_prepare_v2(s->wdb, "PRAGMA quick_check", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_fail(err, s->path, s->wdb, rc, "quick_check");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = store_fail(err, s->path, s->wdb, rc, "quick_check");
		sqlite3_finalize(st);
		return rc;
	}
	line = (const char *)sqlite3_column_text(st, 0);
	if (line == NULL || strcmp(line, "ok") != 0) {
		/* The report starts "*** in database main ***" on a line of
		 * its own; the first finding is the line after it. */
		if (line == NULL)
			line = "(nothing)";
		if (strncmp(line, "***", 3) == 0 && strchr(line, '\n'))
			line = strchr(line, '\n') + 1;
		cairn_err_set(err, s->path, 0, 0,
		              "%s: database is corrupt; quick_check reported: "
		              "%.*s",
		              s->path, (int)strcspn(line, "\n"), line);
		sqlite3_finalize(st);
		return CAIRN_ECORRUPT;
	}
	sqlite3_finalize(st);
	return 0;
}

/* Brings the schema to store_schema_version(). The version is read again
 * inside each step's transaction so two processes opening one new file do
 * not both apply a step. */
static int
store_migrate(struct store *s, struct cairn_err *err)
{
	char sql[64], what[64];
	int64_t v;
	int rc, i;

	rc = store_int(s->wdb, "PRAGMA user_version", &v);
	if (rc != SQLITE_OK)
		return store_fail(err, s->path, s->wdb, rc, "user_version");
	if (v > STORE_NMIGRATIONS) {
		cairn_err_set(err, s->path, 0, 0,
		              "%s: database schema version %lld is newer than "
		              "this program's %d; run a newer cairnd, or "
		              "restore a backup made by this version",
		              s->path, (long long)v, STORE_NMIGRATIONS);
		return CAIRN_ENEWER;
	}
	for (i = (int)v; i < STORE_NMIGRATIONS; i++) {
		snprintf(what, sizeof(what), "schema migration to version %d",
		         i + 1);
		rc = sqlite3_exec(s->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return store_fail(err, s->path, s->wdb, rc, what);
		rc = store_int(s->wdb, "PRAGMA user_version", &v);
		if (rc == SQLITE_OK && v > i) {
			/* another process got there first */
			sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
			i = (int)v - 1;
			continue;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", i + 1);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->wdb, store_migrations[i], NULL,
			                  NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->wdb, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			rc = store_fail(err, s->path, s->wdb, rc, what);
			if (!sqlite3_get_autocommit(s->wdb))
				sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL,
				             NULL);
			return rc;
		}
	}
	return 0;
}

/* Files at least this large are checked only after an unclean stop: a
 * full quick_check reads every page (about 1.2 ms per MiB here), which
 * would hold a restart of a million cases for well over a second. */
#define STORE_CHECK_ALWAYS_BELOW ((int64_t)256 << 20)

/* Records whether the database was closed cleanly (store_state). */
static int
store_mark_clean(struct store *s, int clean)
{
	return sqlite3_exec(s->wdb,
	                    clean ? "INSERT OR REPLACE INTO store_state "
	                            "VALUES ('clean_close', 1)"
	                          : "INSERT OR REPLACE INTO store_state "
	                            "VALUES ('clean_close', 0)",
	                    NULL, NULL, NULL);
}

/* Whether to run quick_check on this open: always for a small file,
 * and for any file the last process did not close cleanly. */
static int
store_needs_check(struct store *s)
{
	struct stat st;
	sqlite3_stmt *q;
	int clean = 0;

	if (stat(s->path, &st) != 0 || st.st_size < s->check_below)
		return 1;
	if (sqlite3_prepare_v2(s->wdb,
	                       "SELECT value FROM store_state WHERE key = "
	                       "'clean_close'",
	                       -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			clean = sqlite3_column_int(q, 0) == 1;
		sqlite3_finalize(q);
	}
	return !clean;
}

static int
store_open_writer(struct store *s, int64_t max_db_bytes, struct cairn_err *err)
{
	const char *mode;
	sqlite3_stmt *st;
	char sql[64];
	int64_t v;
	int rc, i;

	rc = sqlite3_open_v2(s->path, &s->wdb,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                             SQLITE_OPEN_NOMUTEX,
	                     NULL);
	if (rc != SQLITE_OK)
		return store_fail(err, s->path, s->wdb, rc, "open");
	sqlite3_busy_timeout(s->wdb, STORE_BUSY_MS);

	/* The first statement to read the file: garbage fails here, with
	 * "file is not a database". */
	rc = sqlite3_prepare_v2(s->wdb, "PRAGMA journal_mode = WAL", -1, &st,
	                        NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = store_fail(err, s->path, s->wdb, rc, "journal_mode=WAL");
		sqlite3_finalize(st);
		return rc;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		cairn_err_set(err, s->path, 0, 0,
		              "%s: cannot use WAL mode (journal_mode is %s); "
		              "is the file on a network filesystem?",
		              s->path, mode ? mode : "unknown");
		sqlite3_finalize(st);
		return CAIRN_ESTORE;
	}
	sqlite3_finalize(st);

	/* SQLite quietly opens a write-protected file read-only */
	if (sqlite3_db_readonly(s->wdb, "main") == 1) {
		cairn_err_set(err, s->path, 0, 0,
		              "%s: the database file is read-only", s->path);
		return CAIRN_ESTORE;
	}

	rc = sqlite3_exec(s->wdb,
	                  "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON",
	                  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_fail(err, s->path, s->wdb, rc, "pragmas");

	if (store_needs_check(s) && (rc = store_quick_check(s, err)) != 0)
		return rc;

	rc = store_int(s->wdb, "PRAGMA page_size", &s->page_size);
	if (rc != SQLITE_OK)
		return store_fail(err, s->path, s->wdb, rc, "page_size");
	if (max_db_bytes > 0) {
		/* Not persistent: set on every open. SQLite will not set it
		 * below the current size, which is what we want anyway. */
		v = max_db_bytes / s->page_size;
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
		         (long long)(v > 0 ? v : 1));
		rc = sqlite3_exec(s->wdb, sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return store_fail(err, s->path, s->wdb, rc,
			                  "max_page_count");
	}

	if ((rc = store_migrate(s, err)) != 0)
		return rc;

	for (i = 0; i < WST_N; i++) {
		rc = store_prepare(s->wdb, store_wsql[i], &s->wst[i]);
		if (rc != SQLITE_OK)
			return store_fail(err, s->path, s->wdb, rc, "prepare");
	}
	/* from now until a clean close, a crash means "check next time" */
	rc = store_mark_clean(s, 0);
	if (rc != SQLITE_OK)
		return store_fail(err, s->path, s->wdb, rc, "mark open");
	return 0;
}

static int
store_open_reader(struct store *s, struct store_rconn *c, struct cairn_err *err)
{
	int rc, i;

	rc = sqlite3_open_v2(s->path, &c->db,
	                     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return store_fail(err, s->path, c->db, rc, "open for reading");
	sqlite3_busy_timeout(c->db, STORE_BUSY_MS);
	for (i = 0; i < RST_N; i++) {
		rc = store_prepare(c->db, store_rsql[i], &c->st[i]);
		if (rc != SQLITE_OK)
			return store_fail(err, s->path, c->db, rc, "prepare");
	}
	return 0;
}

/* Closes every connection, readers first: the last connection to close
 * checkpoints the WAL and removes it, and a read-only one cannot. */
static void
store_close_conns(struct store *s)
{
	int i, j;

	for (i = 0; s->rconns != NULL && i < s->nrconns; i++) {
		for (j = 0; j < RST_N; j++)
			sqlite3_finalize(s->rconns[i].st[j]);
		for (j = 0; j < STORE_LIST_SHAPES; j++)
			sqlite3_finalize(s->rconns[i].list[j]);
		sqlite3_close(s->rconns[i].db);
	}
	sqlite3_close(s->cdb);
	s->cdb = NULL;
	for (j = 0; j < WST_N; j++)
		sqlite3_finalize(s->wst[j]);
	sqlite3_close(s->wdb);
	free(s->rconns);
	free(s->rfree);
	s->rconns = NULL;
	s->rfree = NULL;
	s->nrconns = 0;
	s->wdb = NULL;
}

/* --- metrics ----------------------------------------------------------- */

static void
store_hist_init(struct store_hist *h, const double *bounds)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->bounds, bounds, sizeof(h->bounds));
}

static void
store_hist_observe(struct store_hist *h, double v)
{
	int i;

	for (i = 0; i < STORE_HIST_BUCKETS; i++)
		if (v <= h->bounds[i])
			h->counts[i]++;
	h->count++;
	h->sum += v;
}

/* Writer thread (or store_open, before it starts). -1 if SQLite cannot
 * say, and the last figure stands. */
static int64_t
store_db_bytes(struct store *s)
{
	sqlite3_stmt *st = s->wst[WST_PAGE_COUNT];
	int64_t pages = -1;
	struct stat sb;

	if (sqlite3_step(st) == SQLITE_ROW)
		pages = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (pages < 0)
		return -1;
	if (stat(s->wal_path, &sb) != 0)
		sb.st_size = 0;
	return pages * s->page_size + (int64_t)sb.st_size;
}

void
store_metrics_get(struct store *s, struct store_metrics *out)
{
	uv_mutex_lock(&s->mmu);
	*out = s->m;
	uv_mutex_unlock(&s->mmu);
	uv_mutex_lock(&s->qmu);
	out->queue_depth = s->qdepth;
	uv_mutex_unlock(&s->qmu);
}

/* --- batches ----------------------------------------------------------- */

static void store_disclosures_free(struct store_disclosure *rows, size_t n);
static int store_apply_disclose(struct store *s, struct store_batch *b,
                                struct store_op *op, int64_t now);

struct store_batch *
store_batch_new(void)
{
	return calloc(1, sizeof(struct store_batch));
}

void
store_batch_free(struct store_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nops; i++) {
		struct store_op *op = &b->ops[i];

		switch (op->kind) {
		case STORE_OP_TOKEN_CREATE:
			break;
		case STORE_OP_TOKEN_REVOKE:
			free(op->u.revoke.id);
			break;
		case STORE_OP_META_PUT:
			free(op->u.meta.key);
			free(op->u.meta.value);
			break;
		case STORE_OP_SQL:
			for (int j = 0; j < op->u.sql.np; j++)
				free(op->u.sql.p[j].p);
			break;
		case STORE_OP_CLAIM:
		case STORE_OP_LEASE_GUARD:
			free(op->u.q.queue);
			free(op->u.q.owner);
			free(op->u.q.holder);
			free(op->u.q.case_id);
			break;
		case STORE_OP_DISCLOSE:
			store_disclosures_free(op->u.disc.rows, op->u.disc.n);
			break;
		}
	}
	free(b->ops);
	free(b->msg);
	free(b);
}

static struct store_op *
store_batch_push(struct store_batch *b, enum store_op_kind kind)
{
	struct store_op *ops;
	size_t cap;

	if (b->nops == b->cap) {
		cap = b->cap ? b->cap * 2 : 2;
		ops = realloc(b->ops, cap * sizeof(*ops));
		if (ops == NULL)
			return NULL;
		b->ops = ops;
		b->cap = cap;
	}
	b->ops[b->nops].kind = kind;
	return &b->ops[b->nops];
}

int
store_batch_token_create(struct store_batch *b, const struct store_token *t)
{
	struct store_op *op = store_batch_push(b, STORE_OP_TOKEN_CREATE);

	if (op == NULL)
		return -ENOMEM;
	op->u.tok = *t;
	/* the fields are bound as C strings: make sure they end */
	op->u.tok.id[sizeof(op->u.tok.id) - 1] = '\0';
	op->u.tok.role[sizeof(op->u.tok.role) - 1] = '\0';
	op->u.tok.scope[sizeof(op->u.tok.scope) - 1] = '\0';
	op->u.tok.label[sizeof(op->u.tok.label) - 1] = '\0';
	b->nops++;
	return 0;
}

int
store_batch_token_revoke(struct store_batch *b, const char *id, int64_t at)
{
	struct store_op *op = store_batch_push(b, STORE_OP_TOKEN_REVOKE);

	if (op == NULL || (op->u.revoke.id = strdup(id)) == NULL)
		return -ENOMEM;
	op->u.revoke.at = at;
	b->nops++;
	return 0;
}

int
store_batch_meta_put(struct store_batch *b, const char *key, const char *value)
{
	struct store_op *op = store_batch_push(b, STORE_OP_META_PUT);

	if (op == NULL || (op->u.meta.key = strdup(key)) == NULL)
		return -ENOMEM;
	if ((op->u.meta.value = strdup(value)) == NULL) {
		free(op->u.meta.key);
		return -ENOMEM;
	}
	b->nops++;
	return 0;
}

/* --- generic statements ----------------------------------------------- */

/*
 * The case operations are a statement and its parameters: each builder
 * below only says which statement and in what order the values go, and
 * one function binds and runs them all.
 */
static struct store_op *
store_sql_op(struct store_batch *b, int stmt, const char *what)
{
	struct store_op *op = store_batch_push(b, STORE_OP_SQL);

	if (op == NULL)
		return NULL;
	memset(&op->u.sql, 0, sizeof(op->u.sql));
	op->u.sql.stmt = stmt;
	op->u.sql.what = what;
	return op;
}

/* Parameter n (1-based) of op. Returns -ENOMEM; the op is then
 * unwound by store_sql_abort. */
static int
store_sql_bind(struct store_op *op, int n, enum store_param_type type,
               int64_t i, const void *p, int len)
{
	struct store_param *sp = &op->u.sql.p[n - 1];

	assert(n >= 1 && n <= STORE_MAX_PARAMS);
	if (n > op->u.sql.np)
		op->u.sql.np = n;
	if ((type == SP_TEXT || type == SP_BLOB) && p == NULL)
		type = SP_NULL;
	sp->type = type;
	sp->i = i;
	if (type == SP_TEXT || type == SP_BLOB) {
		if (type == SP_TEXT)
			len = (int)strlen(p);
		sp->p = malloc((size_t)len + 1);
		if (sp->p == NULL)
			return -ENOMEM;
		memcpy(sp->p, p, (size_t)len);
		sp->p[len] = '\0';
		sp->len = len;
	}
	return 0;
}

#define BIND_INT(op, n, v)     store_sql_bind(op, n, SP_INT, (v), NULL, 0)
#define BIND_TEXT(op, n, v)    store_sql_bind(op, n, SP_TEXT, 0, (v), 0)
#define BIND_BLOB(op, n, v, l) store_sql_bind(op, n, SP_BLOB, 0, (v), (l))

/* Commits the op to the batch, or frees what it copied. */
static int
store_sql_done(struct store_batch *b, struct store_op *op, int rc)
{
	if (rc != 0) {
		for (int j = 0; j < op->u.sql.np; j++)
			free(op->u.sql.p[j].p);
		return -ENOMEM;
	}
	b->nops++;
	return 0;
}

static int
store_case_bind(struct store_op *op, const struct store_case_row *c)
{
	int rc = 0;

	rc |= BIND_TEXT(op, 1, c->id);
	rc |= BIND_TEXT(op, 2, c->workflow);
	rc |= BIND_INT(op, 3, c->version);
	rc |= BIND_TEXT(op, 4, c->status);
	rc |= BIND_TEXT(op, 5, c->data);
	rc |= BIND_TEXT(op, 6, c->parent_id);
	rc |= BIND_TEXT(op, 7, c->root_id);
	rc |= BIND_TEXT(op, 8, c->spawn_key);
	rc |= BIND_TEXT(op, 9, c->subject);
	rc |= BIND_TEXT(op, 10, c->owner ? c->owner : "");
	rc |= BIND_TEXT(op, 11, c->queue);
	if (c->due_at)
		rc |= BIND_INT(op, 12, c->due_at);
	rc |= BIND_INT(op, 13, c->revision);
	rc |= BIND_INT(op, 14, c->terminal);
	rc |= BIND_INT(op, 15, c->open_children);
	rc |= BIND_INT(op, 16, c->history_seq);
	rc |= BIND_BLOB(op, 17, c->history_hash, 32);
	rc |= BIND_INT(op, 18, c->created_at);
	rc |= BIND_INT(op, 19, c->updated_at);
	return rc;
}

int
store_batch_case_insert(struct store_batch *b, const struct store_case_row *c)
{
	struct store_op *op = store_sql_op(b, WST_CASE_INSERT, "create case");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(b, op, store_case_bind(op, c));
}

int
store_batch_case_update(struct store_batch *b, const struct store_case_row *c,
                        int64_t expected_revision)
{
	struct store_op *op = store_sql_op(b, WST_CASE_UPDATE, "update case");

	if (op == NULL)
		return -ENOMEM;
	op->u.sql.expect = 1;
	op->u.sql.fail = CAIRN_ECONFLICT;
	return store_sql_done(b, op,
	                      store_case_bind(op, c) |
	                              BIND_INT(op, 20, expected_revision));
}

int
store_batch_history_append(struct store_batch *b,
                           const struct store_history_row *h)
{
	struct store_op *op =
	        store_sql_op(b, WST_HISTORY_INSERT, "append history");
	int rc = 0;

	if (op == NULL)
		return -ENOMEM;
	rc |= BIND_TEXT(op, 1, h->case_id);
	rc |= BIND_INT(op, 2, h->seq);
	rc |= BIND_INT(op, 3, h->at);
	rc |= BIND_TEXT(op, 4, h->actor);
	rc |= BIND_TEXT(op, 5, h->type);
	rc |= BIND_TEXT(op, 6, h->from_status);
	rc |= BIND_TEXT(op, 7, h->to_status);
	rc |= BIND_TEXT(op, 8, h->payload ? h->payload : "{}");
	rc |= BIND_INT(op, 9, h->workflow_version);
	rc |= BIND_BLOB(op, 10, h->hash, 32);
	rc |= BIND_BLOB(op, 11, h->payload_hash, 32);
	return store_sql_done(b, op, rc);
}

int
store_batch_timer_set(struct store_batch *b, const char *case_id,
                      const char *name, int64_t due_at, const char *event)
{
	struct store_op *op = store_sql_op(b, WST_TIMER_SET, "set timer");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(
	        b, op,
	        BIND_TEXT(op, 1, case_id) | BIND_TEXT(op, 2, name) |
	                BIND_INT(op, 3, due_at) | BIND_TEXT(op, 4, event));
}

int
store_batch_timer_cancel(struct store_batch *b, const char *case_id,
                         const char *name)
{
	struct store_op *op =
	        store_sql_op(b, name ? WST_TIMER_CANCEL : WST_TIMER_CANCEL_ALL,
	                     "cancel timer");
	int rc;

	if (op == NULL)
		return -ENOMEM;
	rc = BIND_TEXT(op, 1, case_id);
	if (name != NULL)
		rc |= BIND_TEXT(op, 2, name);
	return store_sql_done(b, op, rc);
}

int
store_batch_timer_fired(struct store_batch *b, const char *case_id,
                        const char *name, int64_t due_at)
{
	struct store_op *op = store_sql_op(b, WST_TIMER_FIRED, "fire timer");

	if (op == NULL)
		return -ENOMEM;
	/* a timer that is gone or was re-armed has already been handled */
	op->u.sql.expect = 1;
	op->u.sql.fail = CAIRN_ENOTFOUND;
	return store_sql_done(b, op,
	                      BIND_TEXT(op, 1, case_id) |
	                              BIND_TEXT(op, 2, name) |
	                              BIND_INT(op, 3, due_at));
}

int
store_batch_idem_put(struct store_batch *b, const char *key,
                     const uint8_t body_hash[32], int status,
                     const char *response, int64_t at)
{
	struct store_op *op = store_sql_op(b, WST_IDEM_PUT, "idempotency key");

	if (op == NULL)
		return -ENOMEM;
	/* told apart from other conflicts: the caller replays the answer
	 * recorded under the key */
	op->u.sql.dup = CAIRN_EREPLAY;
	return store_sql_done(
	        b, op,
	        BIND_TEXT(op, 1, key) | BIND_BLOB(op, 2, body_hash, 32) |
	                BIND_INT(op, 3, status) | BIND_TEXT(op, 4, response) |
	                BIND_INT(op, 5, at));
}

int
store_batch_outbox_add(struct store_batch *b, const char *case_id,
                       const char *adapter, const char *operation,
                       const char *idem_key, const char *payload,
                       int64_t due_at)
{
	struct store_op *op = store_sql_op(b, WST_OUTBOX_ADD, "queue a call");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(
	        b, op,
	        BIND_TEXT(op, 1, case_id) | BIND_TEXT(op, 2, adapter) |
	                BIND_TEXT(op, 3, operation) |
	                BIND_TEXT(op, 4, idem_key) | BIND_TEXT(op, 5, payload) |
	                BIND_INT(op, 6, due_at));
}

int
store_batch_alert_add(struct store_batch *b, const char *case_id,
                      const char *kind, const char *severity,
                      const char *recipient, const char *message,
                      const char *status, int64_t at)
{
	struct store_op *op = store_sql_op(b, WST_ALERT_ADD, "raise alert");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(
	        b, op,
	        BIND_TEXT(op, 1, case_id) | BIND_TEXT(op, 2, kind) |
	                BIND_TEXT(op, 3, severity) |
	                BIND_TEXT(op, 4, recipient) |
	                BIND_TEXT(op, 5, message) | BIND_TEXT(op, 6, status) |
	                BIND_INT(op, 7, at));
}

int
store_batch_workflow_put(struct store_batch *b, const char *name, int version,
                         const char *hash, const char *source, int64_t at)
{
	struct store_op *op =
	        store_sql_op(b, WST_WORKFLOW_PUT, "record workflow");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(
	        b, op,
	        BIND_TEXT(op, 1, name) | BIND_INT(op, 2, version) |
	                BIND_TEXT(op, 3, hash) | BIND_TEXT(op, 4, source) |
	                BIND_INT(op, 5, at));
}

/* --- deferred sync: the disclosure log's commits ----------------------- */

/*
 * A read of a student's record is answered only once its disclosure row
 * is committed. At synchronous=FULL every such read would wait for an
 * fsync of the WAL. A transaction that holds nothing but disclosure rows
 * is committed at synchronous=NORMAL instead: COMMIT returns once its
 * frames are written to the WAL, which the kernel keeps however cairnd
 * ends (kill -9, a crash, an abort), so the row of an answered read is
 * never lost to the process dying. Only the kernel going down (a power
 * cut, an OS crash) before the frames reach the disk can lose them, and
 * the syncer thread bounds that window: it fsyncs the WAL at most
 * STORE_DEFER_SYNC_MS after the first commit not yet synced (plus the
 * fsync's own time). Every other transaction (anything an acknowledged
 * write is in) commits at FULL as before, and its fsync of the WAL makes
 * every earlier frame durable with it: no acknowledged write depends on
 * the window. A power cut loses at most the rows of the last window, a
 * suffix of the log; the rows and the head kept in meta are lost
 * together, so the chain still verifies.
 */
#define STORE_DEFER_SYNC_MS 100

/*
 * Checkpoints run on the syncer thread too, on their own connection, not
 * in the writer's COMMIT as SQLite's automatic checkpoint would: copying
 * the WAL into the database and fsyncing both took the writer away from
 * the commits every read waits for. A PASSIVE checkpoint never blocks the
 * writer or a reader; it is asked for once the WAL holds as many pages as
 * SQLite's default automatic checkpoint would wait for, and runs at most
 * once per STORE_CKPT_GAP_MS: while readers keep the WAL from starting
 * over it stays that long, and SQLite's own would checkpoint (two
 * fsyncs) after every commit.
 */
#define STORE_CKPT_PAGES  1000
#define STORE_CKPT_GAP_MS 100

static int store_exec(struct store *s, sqlite3_stmt *st, char **msg,
                      const char *what);

/* Whether the group may commit at NORMAL: it holds disclosure rows and
 * nothing else (an empty batch writes nothing and does not count). */
static int
store_group_deferrable(const struct store_batch *first)
{
	int rows = 0;

	for (const struct store_batch *b = first; b != NULL; b = b->next)
		for (size_t i = 0; i < b->nops; i++) {
			if (b->ops[i].kind != STORE_OP_DISCLOSE)
				return 0;
			rows = 1;
		}
	return rows;
}

/* Writer thread, outside a transaction (SQLite applies the setting to
 * the next one): wdb at NORMAL or at FULL. */
static int
store_sync_mode(struct store *s, int normal, char **msg)
{
	char buf[768];
	int64_t level = -1;
	int rc;

	if (normal == s->wnormal)
		return SQLITE_OK;
	/* SQLite applies this pragma when it is prepared, not when it is
	 * stepped (and would again on any re-prepare), so it is never kept
	 * as a prepared statement; read back, so that deferring is only
	 * ever counted when it is true */
	rc = sqlite3_exec(s->wdb,
	                  normal ? "PRAGMA synchronous = NORMAL"
	                         : "PRAGMA synchronous = FULL",
	                  NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = store_int(s->wdb, "PRAGMA synchronous", &level);
	if (rc == SQLITE_OK && level != (normal ? 1 : 2))
		rc = SQLITE_ERROR;
	if (rc != SQLITE_OK) {
		if (msg != NULL) {
			store_sqlmsg(buf, sizeof(buf), s->path, s->wdb, rc,
			             "set synchronous");
			free(*msg);
			*msg = strdup(buf);
		}
		/* never left at NORMAL unknowingly: back to FULL, or to
		 * "unknown", which the next call sets again */
		s->wnormal = sqlite3_exec(s->wdb, "PRAGMA synchronous = FULL",
		                          NULL, NULL, NULL) == SQLITE_OK
		                     ? 0
		                     : -1;
		return rc;
	}
	s->wnormal = normal;
	return SQLITE_OK;
}

/* Writer thread, after a NORMAL commit: the syncer owes it an fsync. */
static void
store_sync_owed(struct store *s)
{
	uv_mutex_lock(&s->smu);
	if (s->unsynced == 0) {
		s->unsynced = uv_hrtime();
		uv_cond_signal(&s->scond);
	}
	uv_mutex_unlock(&s->smu);
	uv_mutex_lock(&s->mmu);
	s->m.deferred_commits++;
	uv_mutex_unlock(&s->mmu);
}

/* Whether an fsync of the WAL has failed: from then on nothing defers. */
static int
store_sync_failed(struct store *s)
{
	int failed;

	uv_mutex_lock(&s->smu);
	failed = s->sfailed;
	uv_mutex_unlock(&s->smu);
	return failed;
}

/*
 * Syncer thread: fsyncs the WAL, and its directory the first time a WAL
 * file is synced (SQLite does the same on its own first sync of a new
 * WAL; without it the file's name could be lost with its frames). The
 * WAL is not locked by SQLite (its locks are on the -shm file and the
 * database), so opening and closing it here takes no lock from anyone.
 * Frames written before the fsync starts are durable once it returns.
 */
static int
store_wal_sync(struct store *s)
{
	struct stat st;
	int fd, dfd, rc = 0;

	fd = open(s->wal_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		/* no WAL: the checkpoint that removed it synced the
		 * database file with everything in it */
		return errno == ENOENT ? 0 : -errno;
	if (fsync(fd) != 0) {
		rc = -errno;
	} else if (fstat(fd, &st) == 0 && st.st_ino != s->synced_ino) {
		dfd = open(s->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) != 0)
			rc = -errno;
		else
			s->synced_ino = st.st_ino;
		if (dfd >= 0)
			close(dfd);
	}
	close(fd);
	return rc;
}

static void
store_syncer_main(void *arg)
{
	struct store *s = arg;
	const uint64_t window = (uint64_t)STORE_DEFER_SYNC_MS * 1000000u;
	const uint64_t gap = (uint64_t)STORE_CKPT_GAP_MS * 1000000u;
	uint64_t now, wait, last_ckpt = 0;
	int rc;

	uv_mutex_lock(&s->smu);
	for (;;) {
		now = uv_hrtime();
		wait = 0;
		if (s->unsynced != 0) {
			if (now >= s->unsynced + window || s->sclosing) {
				/* what commits from here on waits for the
				 * next round */
				s->unsynced = 0;
				uv_mutex_unlock(&s->smu);
				rc = store_wal_sync(s);
				uv_mutex_lock(&s->smu);
				if (rc != 0)
					s->sfailed = 1;
				uv_mutex_lock(&s->mmu);
				if (rc != 0)
					s->m.wal_sync_failures++;
				else
					s->m.wal_syncs++;
				uv_mutex_unlock(&s->mmu);
				continue;
			}
			wait = s->unsynced + window - now;
		}
		/* closing: the last connection's close checkpoints */
		if (s->ckpt_wanted && !s->sclosing) {
			if (now >= last_ckpt + gap) {
				s->ckpt_wanted = 0;
				uv_mutex_unlock(&s->smu);
				/* what it cannot copy yet (a reader's
				 * snapshot still needs it) a later one
				 * takes */
				(void)sqlite3_wal_checkpoint_v2(
				        s->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE,
				        NULL, NULL);
				last_ckpt = uv_hrtime();
				uv_mutex_lock(&s->smu);
				continue;
			}
			if (wait == 0 || last_ckpt + gap - now < wait)
				wait = last_ckpt + gap - now;
		}
		if (s->sclosing && s->unsynced == 0)
			break;
		/* a timeout or a spurious wake-up: look again */
		if (wait != 0)
			(void)uv_cond_timedwait(&s->scond, &s->smu, wait);
		else
			uv_cond_wait(&s->scond, &s->smu);
	}
	uv_mutex_unlock(&s->smu);
}

/* Writer thread, after each commit (the WAL hook replaces SQLite's
 * automatic checkpoint on wdb). */
static int
store_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store *s = arg;

	(void)db;
	(void)name;
	if (pages < STORE_CKPT_PAGES)
		return SQLITE_OK;
	uv_mutex_lock(&s->smu);
	if (!s->ckpt_wanted) {
		s->ckpt_wanted = 1;
		uv_cond_signal(&s->scond);
	}
	uv_mutex_unlock(&s->smu);
	return SQLITE_OK;
}

/* Syncs what is owed and stops the syncer; after the writer stopped. */
static void
store_syncer_stop(struct store *s)
{
	uv_mutex_lock(&s->smu);
	s->sclosing = 1;
	uv_cond_signal(&s->scond);
	uv_mutex_unlock(&s->smu);
	uv_thread_join(&s->syncer);
}

/* --- the writer -------------------------------------------------------- */

/* Steps a statement that returns no rows and resets it. On failure the
 * message is copied into msg before the reset can change it. */
static int
store_exec(struct store *s, sqlite3_stmt *st, char **msg, const char *what)
{
	char buf[768];
	int rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return SQLITE_OK;
	}
	if (msg != NULL) {
		store_sqlmsg(buf, sizeof(buf), s->path, s->wdb, rc, what);
		free(*msg);
		*msg = strdup(buf);
	}
	sqlite3_reset(st);
	return rc;
}

static void store_batch_fail(struct store_batch *b, int status, const char *fmt,
                             ...) __attribute__((format(printf, 3, 4)));

static void
store_batch_fail(struct store_batch *b, int status, const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(b->msg);
	b->msg = strdup(buf);
	b->status = status;
}

static int store_apply_queue(struct store *s, struct store_batch *b,
                             struct store_op *op);

/* Applies one operation. Returns the SQLite code, and sets b->status and
 * b->msg when the operation fails. */
static int
store_apply(struct store *s, struct store_batch *b, struct store_op *op,
            int64_t now)
{
	const struct store_token *t;
	sqlite3_stmt *st;
	int rc;

	switch (op->kind) {
	case STORE_OP_TOKEN_CREATE:
		t = &op->u.tok;
		st = s->wst[WST_TOKEN_INSERT];
		sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, t->hash, sizeof(t->hash),
		                  SQLITE_STATIC);
		sqlite3_bind_text(st, 3, t->role, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, t->scope, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, t->label, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, t->created_at);
		if (t->revoked_at)
			sqlite3_bind_int64(st, 7, t->revoked_at);
		else
			sqlite3_bind_null(st, 7);
		rc = store_exec(s, st, &b->msg, "create token");
		if ((rc & 0xff) == SQLITE_CONSTRAINT)
			store_batch_fail(b, CAIRN_ECONFLICT,
			                 "token %s: the id or the secret is "
			                 "already taken (%s)",
			                 t->id, b->msg ? b->msg : "");
		break;
	case STORE_OP_TOKEN_REVOKE:
		st = s->wst[WST_TOKEN_REVOKE];
		sqlite3_bind_text(st, 1, op->u.revoke.id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, op->u.revoke.at);
		rc = store_exec(s, st, &b->msg, "revoke token");
		if (rc == SQLITE_OK && sqlite3_changes(s->wdb) == 0) {
			store_batch_fail(b, CAIRN_ENOTFOUND,
			                 "no active token with id %.64s",
			                 op->u.revoke.id);
			/* not SQLite's error, but the batch must unwind */
			rc = SQLITE_NOTFOUND;
		}
		break;
	case STORE_OP_META_PUT:
		st = s->wst[WST_META_PUT];
		sqlite3_bind_text(st, 1, op->u.meta.key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, op->u.meta.value, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
		rc = store_exec(s, st, &b->msg, "meta put");
		break;
	case STORE_OP_SQL:
		st = s->wst[op->u.sql.stmt];
		for (int j = 0; j < op->u.sql.np; j++) {
			const struct store_param *sp = &op->u.sql.p[j];

			switch (sp->type) {
			case SP_NULL:
				sqlite3_bind_null(st, j + 1);
				break;
			case SP_INT:
				sqlite3_bind_int64(st, j + 1, sp->i);
				break;
			case SP_TEXT:
				sqlite3_bind_text(st, j + 1, sp->p, sp->len,
				                  SQLITE_STATIC);
				break;
			case SP_BLOB:
				sqlite3_bind_blob(st, j + 1, sp->p, sp->len,
				                  SQLITE_STATIC);
				break;
			}
		}
		rc = store_exec(s, st, &b->msg, op->u.sql.what);
		if (rc == SQLITE_OK && op->u.sql.changes != NULL)
			*op->u.sql.changes = sqlite3_changes(s->wdb);
		if (rc == SQLITE_OK && op->u.sql.expect &&
		    sqlite3_changes(s->wdb) != 1) {
			store_batch_fail(b, op->u.sql.fail, "%s: %s",
			                 op->u.sql.what,
			                 op->u.sql.fail == CAIRN_ECONFLICT
			                         ? "it changed meanwhile"
			                         : "nothing to change");
			rc = SQLITE_NOTFOUND;
		} else if ((rc & 0xff) == SQLITE_CONSTRAINT) {
			store_batch_fail(b,
			                 op->u.sql.dup ? op->u.sql.dup
			                               : CAIRN_ECONFLICT,
			                 "%s: %s", op->u.sql.what,
			                 b->msg ? b->msg : "already exists");
		}
		break;
	case STORE_OP_CLAIM:
	case STORE_OP_LEASE_GUARD:
		return store_apply_queue(s, b, op);
	case STORE_OP_DISCLOSE:
		return store_apply_disclose(s, b, op, now);
	default:
		abort();
	}
	/* SQLITE_STATIC bindings point into the batch: drop them */
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_OK && b->status == 0)
		b->status = store_code(rc);
	return rc;
}

/*
 * Commits the n batches starting at first in one transaction. Every batch
 * leaves with its status set. A batch that fails is rolled back to its
 * savepoint; if the transaction as a whole is lost (COMMIT fails, or SQLite
 * rolled it back by itself after SQLITE_FULL, SQLITE_IOERR or SQLITE_NOMEM)
 * every batch fails with that error.
 */
static void
store_write(struct store *s, struct store_batch *first, int n)
{
	struct store_batch *b, *cause = NULL;
	char *msg = NULL;
	uint64_t t0, ok = 0;
	int64_t now, bytes;
	size_t i;
	int rc, deferred;

	t0 = uv_hrtime();
	now = cairn_now_ms();
	/* reads' disclosure rows alone may leave their fsync to the syncer;
	 * anything else commits at FULL (see "deferred sync" above) */
	deferred = store_group_deferrable(first);
	if (deferred && store_sync_failed(s)) {
		deferred = 0;
		s->lost_txn = 1; /* the WAL may not be on disk: check it */
	}
	rc = store_sync_mode(s, deferred, deferred ? NULL : &msg);
	if (rc != SQLITE_OK) {
		/* never a write at NORMAL; a group that could have
		 * deferred is merely committed at FULL */
		if (!deferred)
			goto lost;
		deferred = 0;
	}
	rc = store_exec(s, s->wst[WST_BEGIN], &msg, "begin transaction");
	if (rc != SQLITE_OK)
		goto lost;
	for (b = first; b != NULL; b = b->next) {
		rc = store_exec(s, s->wst[WST_SAVEPOINT], &msg, "savepoint");
		if (rc != SQLITE_OK)
			goto lost;
		for (i = 0; i < b->nops; i++)
			if (store_apply(s, b, &b->ops[i], now) != SQLITE_OK)
				break;
		if (b->status != 0) {
			if (sqlite3_get_autocommit(s->wdb)) {
				cause = b;
				goto lost;
			}
			s->disc_known = 0; /* its rows, if any, are gone */
			rc = store_exec(s, s->wst[WST_ROLLBACK_TO], &msg,
			                "roll back a failed batch");
			if (rc != SQLITE_OK)
				goto lost;
		}
		rc = store_exec(s, s->wst[WST_RELEASE], &msg, "release");
		if (rc != SQLITE_OK)
			goto lost;
	}
	rc = store_exec(s, s->wst[WST_COMMIT], &msg, "commit");
	if (rc != SQLITE_OK)
		goto lost;
	if (deferred)
		store_sync_owed(s);

	bytes = store_db_bytes(s);
	for (b = first; b != NULL; b = b->next)
		ok += b->status == 0;
	uv_mutex_lock(&s->mmu);
	store_hist_observe(&s->m.batch_size, n);
	store_hist_observe(&s->m.commit_secs, (uv_hrtime() - t0) / 1e9);
	s->m.commits++;
	s->m.batches_ok += ok;
	s->m.batches_failed += (uint64_t)n - ok;
	if (bytes >= 0)
		s->m.db_bytes = bytes;
	uv_mutex_unlock(&s->mmu);
	return;

lost:
	s->lost_txn = 1; /* check the file at the next open */
	s->disc_known = 0;
	if (!sqlite3_get_autocommit(s->wdb))
		store_exec(s, s->wst[WST_ROLLBACK], NULL, NULL);
	for (b = first; b != NULL; b = b->next) {
		if (b->status != 0) /* the cause, or failed on its own */
			continue;
		if (cause != NULL)
			store_batch_fail(b, cause->status,
			                 "transaction rolled back: %s",
			                 cause->msg ? cause->msg : "error");
		else
			store_batch_fail(b, store_code(rc), "%s",
			                 msg ? msg : "database error");
	}
	free(msg);
	bytes = store_db_bytes(s);
	uv_mutex_lock(&s->mmu);
	store_hist_observe(&s->m.batch_size, n);
	s->m.batches_failed += (uint64_t)n;
	if (bytes >= 0)
		s->m.db_bytes = bytes;
	uv_mutex_unlock(&s->mmu);
}

static void
store_writer_main(void *arg)
{
	struct store *s = arg;
	struct store_batch *first, *last;
	int n;

	for (;;) {
		uv_mutex_lock(&s->qmu);
		while (s->qhead == NULL && !s->closing)
			uv_cond_wait(&s->qcond, &s->qmu);
		if (s->qhead == NULL) {
			uv_mutex_unlock(&s->qmu);
			/* everything queued is committed: the next open may
			 * skip the full check of a large file, unless this
			 * run lost a transaction to an I/O error. The mark
			 * commits at FULL, which syncs every deferred row. */
			if (store_sync_mode(s, 0, NULL) != SQLITE_OK)
				s->lost_txn = 1;
			if (!s->lost_txn)
				store_mark_clean(s, 1);
			break;
		}
		first = last = s->qhead;
		for (n = 1; last->next != NULL &&
		            (s->max_batch <= 0 || n < s->max_batch);
		     n++)
			last = last->next;
		s->qhead = last->next;
		if (s->qhead == NULL)
			s->qtail = NULL;
		last->next = NULL;
		s->qdepth -= n;
		uv_mutex_unlock(&s->qmu);

		store_write(s, first, n);

		uv_mutex_lock(&s->dmu);
		if (s->dtail != NULL)
			s->dtail->next = first;
		else
			s->dhead = first;
		s->dtail = last;
		uv_mutex_unlock(&s->dmu);
		uv_async_send(&s->async);
	}
}

/* --- completions (loop thread) ----------------------------------------- */

static struct store_batch *
store_done_pop(struct store *s)
{
	struct store_batch *b;

	uv_mutex_lock(&s->dmu);
	b = s->dhead;
	if (b != NULL) {
		s->dhead = b->next;
		if (s->dhead == NULL)
			s->dtail = NULL;
	}
	uv_mutex_unlock(&s->dmu);
	return b;
}

/* One at a time under the lock, so a callback that calls store_close
 * (which runs the rest) still sees them in submission order. */
static void
store_complete(struct store *s)
{
	struct store_batch *b;

	while (!s->closed && (b = store_done_pop(s)) != NULL) {
		if (--s->inflight == 0)
			uv_unref((uv_handle_t *)&s->async);
		if (b->cb != NULL)
			b->cb(b->status, b->status ? b->msg : NULL, b->data);
		store_batch_free(b);
	}
}

static void
store_async_cb(uv_async_t *h)
{
	store_complete(h->data);
}

/* --- open and close ---------------------------------------------------- */

static void
store_free(struct store *s)
{
	uv_mutex_destroy(&s->rmu);
	uv_cond_destroy(&s->rcond);
	uv_mutex_destroy(&s->qmu);
	uv_cond_destroy(&s->qcond);
	uv_mutex_destroy(&s->dmu);
	uv_mutex_destroy(&s->mmu);
	uv_mutex_destroy(&s->smu);
	uv_cond_destroy(&s->scond);
	free(s->path);
	free(s->wal_path);
	free(s->dir_path);
	free(s);
}

static void
store_close_cb(uv_handle_t *h)
{
	store_free(h->data);
}

int
store_open(uv_loop_t *loop, const struct store_opts *opts, struct store **out,
           struct cairn_err *err)
{
	struct store *s;
	char *dir;
	int rc, i;

	assert(loop != NULL && opts != NULL && opts->path != NULL);
	*out = NULL;
	if (!sqlite3_threadsafe()) {
		cairn_err_set(err, opts->path, 0, 0,
		              "%s: SQLite was built without thread support",
		              opts->path);
		return CAIRN_ESTORE;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->loop = loop;
	s->max_batch = opts->max_batch;
	s->check_below = opts->check_below > 0 ? opts->check_below
	                                       : STORE_CHECK_ALWAYS_BELOW;
	s->path = strdup(opts->path);
	dir = strdup(opts->path);
	if (dir != NULL)
		s->dir_path = strdup(dirname(dir));
	free(dir);
	if (s->path == NULL || s->dir_path == NULL ||
	    asprintf(&s->wal_path, "%s-wal", s->path) < 0) {
		free(s->path);
		free(s->dir_path);
		free(s);
		return -ENOMEM;
	}
	uv_mutex_init(&s->rmu);
	uv_cond_init(&s->rcond);
	uv_mutex_init(&s->qmu);
	uv_cond_init(&s->qcond);
	uv_mutex_init(&s->dmu);
	uv_mutex_init(&s->mmu);
	uv_mutex_init(&s->smu);
	uv_cond_init(&s->scond);
	store_hist_init(&s->m.batch_size, store_size_bounds);
	store_hist_init(&s->m.commit_secs, store_secs_bounds);

	rc = store_open_writer(s, opts->max_db_bytes, err);
	if (rc != 0)
		goto fail;
	if ((s->m.db_bytes = store_db_bytes(s)) < 0)
		s->m.db_bytes = 0;

	s->nrconns = opts->read_conns > 0 ? opts->read_conns : 4;
	s->rconns = calloc(s->nrconns, sizeof(*s->rconns));
	s->rfree = calloc(s->nrconns, sizeof(*s->rfree));
	if (s->rconns == NULL || s->rfree == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < s->nrconns; i++) {
		rc = store_open_reader(s, &s->rconns[i], err);
		if (rc != 0)
			goto fail;
		s->rfree[s->nrfree++] = i;
	}

	rc = sqlite3_open_v2(s->path, &s->cdb,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->cdb, "PRAGMA synchronous = FULL", NULL,
		                  NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = store_fail(err, s->path, s->cdb, rc,
		                "open for checkpoints");
		goto fail;
	}
	sqlite3_wal_hook(s->wdb, store_wal_hook, s);

	/* The threads before the handle: a failure after uv_async_init
	 * would leave a handle only the caller's loop could free. The
	 * writer sends nothing before a batch is submitted; the syncer
	 * runs before the writer can owe it anything. */
	rc = uv_thread_create(&s->syncer, store_syncer_main, s);
	if (rc != 0) {
		cairn_err_set(err, s->path, 0, 0,
		              "%s: cannot start the syncer thread: %s", s->path,
		              uv_strerror(rc));
		goto fail;
	}
	rc = uv_thread_create(&s->writer, store_writer_main, s);
	if (rc != 0) {
		cairn_err_set(err, s->path, 0, 0,
		              "%s: cannot start the writer thread: %s", s->path,
		              uv_strerror(rc));
		store_syncer_stop(s);
		goto fail;
	}
	rc = uv_async_init(loop, &s->async, store_async_cb);
	if (rc != 0) {
		cairn_err_set(err, s->path, 0, 0,
		              "%s: cannot create the writer's wake-up: %s",
		              s->path, uv_strerror(rc));
		uv_mutex_lock(&s->qmu);
		s->closing = 1;
		uv_cond_signal(&s->qcond);
		uv_mutex_unlock(&s->qmu);
		uv_thread_join(&s->writer);
		store_syncer_stop(s);
		goto fail;
	}
	s->async.data = s;
	/* referenced only while batches are in flight, so an idle store
	 * does not keep uv_run from returning */
	uv_unref((uv_handle_t *)&s->async);
	*out = s;
	return 0;

fail:
	store_close_conns(s);
	store_free(s);
	return rc;
}

void
store_close(struct store *s)
{
	if (s == NULL || s->closed)
		return;
	uv_mutex_lock(&s->qmu);
	s->closing = 1;
	uv_cond_signal(&s->qcond);
	uv_mutex_unlock(&s->qmu);
	uv_thread_join(&s->writer);
	store_syncer_stop(s);

	/* everything the writer finished, in order, on this thread */
	store_complete(s);
	s->closed = 1;
	assert(s->dhead == NULL);

	uv_mutex_lock(&s->rmu);
	assert(s->nrfree == s->nrconns); /* no read in flight */
	uv_mutex_unlock(&s->rmu);
	store_close_conns(s);
	uv_close((uv_handle_t *)&s->async, store_close_cb);
}

int
store_batch_submit(struct store *s, struct store_batch *b, store_done_cb cb,
                   void *data)
{
	assert(b != NULL);
	uv_mutex_lock(&s->qmu);
	if (s->closing) {
		uv_mutex_unlock(&s->qmu);
		store_batch_free(b);
		return CAIRN_ECLOSED;
	}
	b->cb = cb;
	b->data = data;
	b->next = NULL;
	if (s->qtail != NULL)
		s->qtail->next = b;
	else
		s->qhead = b;
	s->qtail = b;
	s->qdepth++;
	uv_cond_signal(&s->qcond);
	uv_mutex_unlock(&s->qmu);
	if (s->inflight++ == 0)
		uv_ref((uv_handle_t *)&s->async);
	return 0;
}

struct store_sync {
	int done;
	int status;
	char *msg;
	size_t msglen;
};

static void
store_sync_cb(int status, const char *msg, void *data)
{
	struct store_sync *y = data;

	y->done = 1;
	y->status = status;
	if (y->msg != NULL && y->msglen > 0)
		snprintf(y->msg, y->msglen, "%s", msg ? msg : "");
}

int
store_batch_commit_sync(struct store *s, struct store_batch *b, char *msg,
                        size_t msglen)
{
	struct store_sync y = {0, 0, msg, msglen};
	int rc;

	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	rc = store_batch_submit(s, b, store_sync_cb, &y);
	if (rc != 0) {
		if (msg != NULL && msglen > 0)
			snprintf(msg, msglen, "%s: %s", s->path,
			         cairn_strerror(rc));
		return rc;
	}
	/* the async handle stays referenced until the callback has run */
	while (!y.done)
		uv_run(s->loop, UV_RUN_ONCE);
	return y.status;
}

/* --- reads ------------------------------------------------------------- */

static struct store_rconn *
store_rconn_get(struct store *s)
{
	struct store_rconn *c;

	uv_mutex_lock(&s->rmu);
	while (s->nrfree == 0)
		uv_cond_wait(&s->rcond, &s->rmu);
	c = &s->rconns[s->rfree[--s->nrfree]];
	uv_mutex_unlock(&s->rmu);
	return c;
}

static void
store_rconn_put(struct store *s, struct store_rconn *c)
{
	uv_mutex_lock(&s->rmu);
	s->rfree[s->nrfree++] = (int)(c - s->rconns);
	uv_cond_signal(&s->rcond);
	uv_mutex_unlock(&s->rmu);
}

static void
store_row_token(sqlite3_stmt *st, struct store_token *t)
{
	const void *hash;

	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "%s",
	         (const char *)sqlite3_column_text(st, 0));
	hash = sqlite3_column_blob(st, 1);
	if (hash != NULL && sqlite3_column_bytes(st, 1) == sizeof(t->hash))
		memcpy(t->hash, hash, sizeof(t->hash));
	snprintf(t->role, sizeof(t->role), "%s",
	         (const char *)sqlite3_column_text(st, 2));
	snprintf(t->scope, sizeof(t->scope), "%s",
	         (const char *)sqlite3_column_text(st, 3));
	snprintf(t->label, sizeof(t->label), "%s",
	         (const char *)sqlite3_column_text(st, 4));
	t->created_at = sqlite3_column_int64(st, 5);
	t->revoked_at = sqlite3_column_int64(st, 6); /* NULL reads as 0 */
}

enum store_read_kind {
	STORE_READ_FIND,
	STORE_READ_LIST,
	STORE_READ_CASE,
	STORE_READ_HISTORY,
	STORE_READ_CASES,
	STORE_READ_IDEM,
	STORE_READ_TIMERS,
	STORE_READ_FAMILY,
	STORE_READ_ISIR,
	STORE_READ_OUTBOX_DUE,
	STORE_READ_OUTBOX_STATS,
	STORE_READ_CALLBACK,
	/* queues, leases, caseloads, alerts */
	STORE_READ_LEASE,
	STORE_READ_LEASES_DUE,
	STORE_READ_QUEUE_ITEMS,
	STORE_READ_QUEUE_SUMMARY,
	STORE_READ_ALERTS,
	STORE_READ_ALERT,
	STORE_READ_CASELOAD,
	STORE_READ_MAIL,
	STORE_READ_DIGEST,
	STORE_READ_RECIPIENT,
	STORE_READ_META,
	STORE_READ_OFFICE,
	STORE_READ_RETENTION,
	STORE_READ_RET_HISTORY,
	/* ISIR identity matching */
	STORE_READ_IDENTITY,
	STORE_READ_DISCLOSURES,
};

struct store_read {
	uv_work_t work;
	struct store *s;
	enum store_read_kind kind;
	int status;
	union {
		store_token_cb one;
		store_tokens_cb many;
	} cb;
	void *data;
	uint8_t hash[32];
	struct store_token tok;
	struct store_token *toks;
	size_t n;
	/* the JSON reads */
	store_json_cb jcb;
	json_t *result;
	char *key;
	struct store_case_filter f;
	char *fstr[7]; /* owned copies of the filter's strings */
	int64_t now;
	int limit;
	char **keys; /* STORE_READ_ISIR, _IDENTITY: the keys, owned */
	size_t nkeys;
	int64_t after;  /* alerts: keyset cursor */
	int64_t *known; /* outbox due rows: ids the caller holds */
	size_t nknown;
	struct store_disclosure *disc; /* a listing's disclosure template */
};

static int store_isir_read(struct store_read *r, sqlite3 *db);
static int store_identity_read(struct store_read *r, sqlite3 *db);
static int store_read_disclosures(struct store_read *r, sqlite3 *db);
/*
 * The disclosure rows of a page of cases, built on the reader thread (see
 * store_case_filter's disclose): one per case, the template's reader and
 * route with the case's id and subject.
 */
struct disc_page {
	struct store_disclosure *rows;
	char **owned; /* the ids and subjects copied from the rows */
	size_t n, cap;
};
static int disc_page_add(struct disc_page *p,
                         const struct store_disclosure *tmpl, const char *id,
                         const char *subject);
static int disc_page_put(struct disc_page *p, struct store_batch *b);
static void disc_page_free(struct disc_page *p);
static struct store_disclosure *
store_disclosures_copy(const struct store_disclosure *rows, size_t n);

static const char hexdigits[] = "0123456789abcdef";

/* One row as a JSON object named by its columns. Columns named data and
 * payload hold JSON text and are parsed; blobs become hex. */
static json_t *
store_row_json(sqlite3_stmt *st)
{
	json_t *o = json_object();
	int n = sqlite3_column_count(st);

	for (int i = 0; o != NULL && i < n; i++) {
		const char *name = sqlite3_column_name(st, i);
		json_t *v = NULL;

		switch (sqlite3_column_type(st, i)) {
		case SQLITE_INTEGER:
			v = json_integer(sqlite3_column_int64(st, i));
			break;
		case SQLITE_FLOAT:
			v = json_real(sqlite3_column_double(st, i));
			break;
		case SQLITE_TEXT: {
			const char *t =
			        (const char *)sqlite3_column_text(st, i);
			size_t len = (size_t)sqlite3_column_bytes(st, i);

			if (!strcmp(name, "data") || !strcmp(name, "payload"))
				v = json_loadb(t, len, JSON_DECODE_ANY, NULL);
			if (v == NULL)
				v = json_stringn(t, len);
			break;
		}
		case SQLITE_BLOB: {
			const unsigned char *bl = sqlite3_column_blob(st, i);
			int len = sqlite3_column_bytes(st, i);
			char *hx = malloc((size_t)len * 2 + 1);

			if (hx != NULL) {
				for (int j = 0; j < len; j++) {
					hx[2 * j] = hexdigits[bl[j] >> 4];
					hx[2 * j + 1] = hexdigits[bl[j] & 15];
				}
				hx[2 * len] = '\0';
				v = json_string(hx);
				free(hx);
			}
			break;
		}
		default:
			v = json_null();
		}
		if (v == NULL || json_object_set_new(o, name, v) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* Every row of st (bound by the caller) into a JSON array; resets st. */
static int
store_rows_json(sqlite3_stmt *st, json_t **out)
{
	json_t *arr = json_array(), *o;
	int rc;

	while (arr != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		o = store_row_json(st);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (arr == NULL)
		return -ENOMEM;
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return store_code(rc);
	}
	*out = arr;
	return 0;
}

/* The case list's statement, built for the filters given: a fixed
 * statement of "(?1 IS NULL OR workflow = ?1) AND ..." would keep SQLite
 * from choosing the index that fits. Asks for one row more than the page,
 * to know whether there is a next one. */
static int
store_list_stmt(struct store_rconn *c, const struct store_case_filter *f,
                sqlite3_stmt **out)
{
	static const char *const cols[] = {"workflow", "status", "subject",
	                                   "queue", "owner"};
	const char *vals[] = {f->workflow, f->status, f->subject, f->queue,
	                      f->owner};
	char sql[1024];
	size_t n;
	sqlite3_stmt *st;
	int rc, k = 0, shape = 0;

	n = (size_t)snprintf(sql, sizeof(sql),
	                     "SELECT " STORE_CASE_LIST_COLS
	                     " FROM cases WHERE 1");
	for (int i = 0; i < 5; i++)
		if (vals[i] != NULL)
			n += (size_t)snprintf(sql + n, sizeof(sql) - n,
			                      " AND %s = ?%d", cols[i], ++k);
	if (f->after != NULL)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND id > ?%d",
		                      ++k);
	/* a counselor's caseload, by its key (counselor, student) */
	if (f->counselor != NULL)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		                      " AND subject IN (SELECT student FROM"
		                      " caseloads WHERE counselor = ?%d)",
		                      ++k);
	snprintf(sql + n, sizeof(sql) - n, " ORDER BY id LIMIT ?%d", k + 1);
	/* the text above follows from which filters are set: one
	 * statement per shape, kept on the connection (reset after use) */
	for (int i = 0; i < 5; i++)
		shape |= (vals[i] != NULL) << i;
	shape |= (f->after != NULL) << 5 | (f->counselor != NULL) << 6;
	st = c->list[shape];
	if (st == NULL) {
		rc = sqlite3_prepare_v3(c->db, sql, -1,
		                        SQLITE_PREPARE_PERSISTENT, &st, NULL);
		if (rc != SQLITE_OK)
			return store_code(rc);
		c->list[shape] = st;
	}
	k = 0;
	for (int i = 0; i < 5; i++)
		if (vals[i] != NULL)
			sqlite3_bind_text(st, ++k, vals[i], -1, SQLITE_STATIC);
	if (f->after != NULL)
		sqlite3_bind_text(st, ++k, f->after, -1, SQLITE_STATIC);
	if (f->counselor != NULL)
		sqlite3_bind_text(st, ++k, f->counselor, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, k + 1, f->limit + 1);
	*out = st;
	return 0;
}

/* A listing statement back to its shape's slot, ready for the next. */
static void
store_list_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

struct textbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void
tb_put(struct textbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* s as a JSON string: quotes, backslashes and control bytes escaped.
 * The text stored in these columns is UTF-8 already (it came through
 * jansson or the id checks). */
static void
tb_string(struct textbuf *b, const char *s, size_t n)
{
	size_t run = 0;

	tb_put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		tb_put(b, s + run, i - run);
		snprintf(esc, sizeof(esc), "\\u%04x", c);
		tb_put(b, esc, 6);
		run = i + 1;
	}
	tb_put(b, s + run, n - run);
	tb_put(b, "\"", 1);
}

/* A page of cases written as JSON text straight from the rows: no jansson
 * objects are built, parsed or dumped (the data column is the case data's
 * JSON text, written by the engine, and goes out as it is). */
static int
store_list_cases_text(struct store_rconn *c, const struct store_case_filter *f,
                      json_t **out)
{
	struct textbuf b = {0};
	struct disc_page page = {0};
	sqlite3_stmt *st;
	char last[64] = "";
	int rc, rows = 0, oom = 0;

	rc = store_list_stmt(c, f, &st);
	if (rc != 0)
		return rc;
	tb_put(&b, "{\"cases\":[", 10);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int ncol = sqlite3_column_count(st);
		const char *id = NULL, *subject = NULL;

		if (rows == f->limit)
			break; /* the extra row: there is a next page */
		tb_put(&b, rows ? ",{" : "{", rows ? 2 : 1);
		for (int i = 0; i < ncol; i++) {
			const char *name = sqlite3_column_name(st, i);
			const char *t;
			char num[32];
			int len;

			if (i)
				tb_put(&b, ",", 1);
			tb_string(&b, name, strlen(name));
			tb_put(&b, ":", 1);
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				len = snprintf(
				        num, sizeof(num), "%lld",
				        (long long)sqlite3_column_int64(st, i));
				tb_put(&b, num, (size_t)len);
				break;
			case SQLITE_TEXT:
				t = (const char *)sqlite3_column_text(st, i);
				len = sqlite3_column_bytes(st, i);
				if (!strcmp(name, "data"))
					tb_put(&b, t, (size_t)len);
				else
					tb_string(&b, t, (size_t)len);
				if (!strcmp(name, "id")) {
					snprintf(last, sizeof(last), "%.*s",
					         len, t);
					id = t;
				} else if (!strcmp(name, "subject")) {
					subject = t;
				}
				break;
			default:
				tb_put(&b, "null", 4);
			}
		}
		tb_put(&b, "}", 1);
		rows++;
		if (f->disclose != NULL &&
		    disc_page_add(&page, f->disclose, id, subject) != 0)
			oom = 1;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_list_done(st);
		disc_page_free(&page);
		free(b.p);
		return store_code(rc);
	}
	tb_put(&b, "],\"next\":", 9);
	if (rc == SQLITE_ROW && last[0])
		tb_string(&b, last, strlen(last));
	else
		tb_put(&b, "null", 4);
	tb_put(&b, "}", 1);
	store_list_done(st);
	/* the page's disclosure rows, built here rather than on the loop
	 * thread, which would look each case's id and subject up again */
	if (!oom && f->disclose != NULL && disc_page_put(&page, f->disclose_to))
		oom = 1;
	disc_page_free(&page);
	if (b.oom || oom) {
		free(b.p);
		return -ENOMEM;
	}
	*out = json_stringn_nocheck(b.p, b.len);
	free(b.p);
	return *out ? 0 : -ENOMEM;
}

static int
store_list_cases(struct store_rconn *c, const struct store_case_filter *f,
                 json_t **out)
{
	sqlite3_stmt *st;
	json_t *arr = NULL, *o;
	int rc;

	if (f->as_text)
		return store_list_cases_text(c, f, out);
	rc = store_list_stmt(c, f, &st);
	if (rc != 0)
		return rc;
	rc = store_rows_json(st, &arr);
	store_list_done(st);
	if (rc != 0)
		return rc;
	o = json_object();
	if (o == NULL) {
		json_decref(arr);
		return -ENOMEM;
	}
	if (json_array_size(arr) > (size_t)f->limit) {
		json_array_remove(arr, (size_t)f->limit);
		json_object_set(
		        o, "next",
		        json_object_get(
		                json_array_get(arr, (size_t)f->limit - 1),
		                "id"));
	} else {
		json_object_set_new(o, "next", json_null());
	}
	json_object_set_new(o, "cases", arr);
	*out = o;
	return 0;
}

static int
store_one_json(sqlite3_stmt *st, json_t **out)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		*out = store_row_json(st);
		rc = *out ? 0 : -ENOMEM;
	} else {
		rc = rc == SQLITE_DONE ? CAIRN_ENOTFOUND : store_code(rc);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static int store_read_adapters(struct store_read *r, struct store_rconn *c);
static int store_case_extras(struct store_rconn *c, const char *id,
                             json_t *res);
static int store_read_queue_json(struct store_read *r, struct store_rconn *c);
static int store_read_retention(struct store_read *r, struct store_rconn *c);

/* The JSON reads, on a thread-pool thread with a read connection. One
 * read transaction per call, so a case and its children agree. */
/* {"due": [rows of due_st, due at or before now, at most limit],
 * "next_due": the earliest due time after now (next_st) or null}: the
 * shape the timer service and the outbox both scan with. */
static int
store_due_json(sqlite3_stmt *due_st, sqlite3_stmt *next_st, int64_t now,
               int limit, json_t **out)
{
	json_t *a = NULL, *b = NULL;
	int rc;

	sqlite3_bind_int64(due_st, 1, now);
	sqlite3_bind_int(due_st, 2, limit);
	rc = store_rows_json(due_st, &a);
	if (rc == 0) {
		sqlite3_bind_int64(next_st, 1, now);
		rc = sqlite3_step(next_st);
		if (rc == SQLITE_ROW) {
			b = sqlite3_column_type(next_st, 0) == SQLITE_NULL
			            ? json_null()
			            : json_integer(
			                      sqlite3_column_int64(next_st, 0));
			rc = 0;
		} else {
			rc = store_code(rc);
		}
		sqlite3_reset(next_st);
		sqlite3_clear_bindings(next_st);
	}
	if (rc == 0) {
		*out = json_pack("{s:o, s:o}", "due", a, "next_due", b);
		a = b = NULL;
		rc = *out ? 0 : -ENOMEM;
	}
	json_decref(a);
	json_decref(b);
	return rc;
}

static int
store_read_json(struct store_read *r, struct store_rconn *c)
{
	json_t *a = NULL, *b = NULL;
	sqlite3_stmt *st;
	int rc;

	sqlite3_step(c->st[RST_BEGIN]);
	sqlite3_reset(c->st[RST_BEGIN]);
	switch (r->kind) {
	case STORE_READ_CASE:
		st = c->st[RST_CASE_GET];
		sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
		rc = store_one_json(st, &a);
		if (rc == 0) {
			st = c->st[RST_CASE_CHILDREN];
			sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
			rc = store_rows_json(st, &b);
		}
		if (rc == 0) {
			r->result = json_pack("{s:o, s:o}", "case", a,
			                      "children", b);
			a = b = NULL;
			rc = r->result ? 0 : -ENOMEM;
		}
		if (rc == 0)
			rc = store_case_extras(c, r->key, r->result);
		break;
	case STORE_READ_HISTORY:
		st = c->st[RST_HISTORY];
		sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
		rc = store_rows_json(st, &r->result);
		break;
	case STORE_READ_CASES:
		rc = store_list_cases(c, &r->f, &r->result);
		break;
	case STORE_READ_FAMILY:
		st = c->st[RST_FAMILY];
		sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
		rc = store_rows_json(st, &r->result);
		break;
	case STORE_READ_ISIR:
		rc = store_isir_read(r, c->db);
		break;
	case STORE_READ_IDENTITY:
		rc = store_identity_read(r, c->db);
		break;
	case STORE_READ_IDEM:
		st = c->st[RST_IDEM_GET];
		sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
		rc = store_one_json(st, &r->result);
		break;
	case STORE_READ_TIMERS:
		rc = store_due_json(c->st[RST_TIMERS_DUE],
		                    c->st[RST_TIMER_NEXT], r->now, r->limit,
		                    &r->result);
		break;
	case STORE_READ_DISCLOSURES:
		rc = store_read_disclosures(r, c->db);
		break;
	default:
		/* each block of the store reads its own kinds */
		rc = r->kind == STORE_READ_RETENTION ||
		                     r->kind == STORE_READ_RET_HISTORY
		             ? store_read_retention(r, c)
		     : r->kind >= STORE_READ_LEASE &&
		                     r->kind <= STORE_READ_OFFICE
		             ? store_read_queue_json(r, c)
		             : store_read_adapters(r, c);
		break;
	}
	sqlite3_step(c->st[RST_COMMIT]);
	sqlite3_reset(c->st[RST_COMMIT]);
	json_decref(a);
	json_decref(b);
	return rc;
}

static void
store_read_work(uv_work_t *w)
{
	struct store_read *r = w->data;
	struct store_rconn *c = store_rconn_get(r->s);
	struct store_token *toks;
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	if (r->kind >= STORE_READ_CASE) {
		r->status = store_read_json(r, c);
		store_rconn_put(r->s, c);
		return;
	}
	if (r->kind == STORE_READ_FIND) {
		st = c->st[RST_FIND];
		sqlite3_bind_blob(st, 1, r->hash, sizeof(r->hash),
		                  SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			store_row_token(st, &r->tok);
			r->status = 0;
		} else {
			r->status = rc == SQLITE_DONE ? CAIRN_ENOTFOUND
			                              : store_code(rc);
		}
	} else {
		st = c->st[RST_LIST];
		sqlite3_bind_int(st, 1, STORE_LIST_MAX);
		r->status = 0;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (r->n == cap) {
				cap = cap ? cap * 2 : 16;
				toks = realloc(r->toks, cap * sizeof(*toks));
				if (toks == NULL) {
					r->status = -ENOMEM;
					break;
				}
				r->toks = toks;
			}
			store_row_token(st, &r->toks[r->n++]);
		}
		if (r->status == 0 && rc != SQLITE_DONE)
			r->status = store_code(rc);
		if (r->status != 0)
			r->n = 0;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	store_rconn_put(r->s, c);
}

static void
store_read_after(uv_work_t *w, int status)
{
	struct store_read *r = w->data;

	if (status != 0) /* cancelled */
		r->status = status;
	if (r->kind >= STORE_READ_CASE) {
		json_t *res = r->status == 0 ? r->result : NULL;

		if (r->status != 0)
			json_decref(r->result);
		r->jcb(r->status, res, r->data);
		free(r->key);
		for (int i = 0; i < 7; i++)
			free(r->fstr[i]);
		for (size_t i = 0; i < r->nkeys; i++)
			free(r->keys[i]);
		free(r->keys);
		free(r->known);
		free(r->disc);
		free(r);
		return;
	}
	if (r->kind == STORE_READ_FIND)
		r->cb.one(r->status, r->status == 0 ? &r->tok : NULL, r->data);
	else
		r->cb.many(r->status, r->status == 0 ? r->toks : NULL,
		           r->status == 0 ? r->n : 0, r->data);
	free(r->toks);
	free(r);
}

static int
store_read_queue(struct store *s, struct store_read *r)
{
	int rc;

	if (s->closed) {
		free(r);
		return CAIRN_ECLOSED;
	}
	r->s = s;
	r->work.data = r;
	rc = uv_queue_work(s->loop, &r->work, store_read_work,
	                   store_read_after);
	if (rc != 0)
		free(r);
	return rc;
}

/* A JSON read of kind keyed by key (may be NULL). */
static struct store_read *
store_read_new(enum store_read_kind kind, const char *key, store_json_cb cb,
               void *data)
{
	struct store_read *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->kind = kind;
	r->jcb = cb;
	r->data = data;
	if (key != NULL && (r->key = strdup(key)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

static int
store_read_json_queue(struct store *s, struct store_read *r)
{
	char *owned[8] = {r->key};
	int rc;

	memcpy(owned + 1, r->fstr, sizeof(r->fstr));
	rc = s->closed ? CAIRN_ECLOSED : 0;
	if (rc == 0)
		rc = store_read_queue(s, r); /* frees r on failure */
	else
		free(r);
	if (rc != 0)
		for (int i = 0; i < 8; i++)
			free(owned[i]);
	return rc;
}

int
store_case_get(struct store *s, const char *id, store_json_cb cb, void *data)
{
	struct store_read *r = store_read_new(STORE_READ_CASE, id, cb, data);

	return r ? store_read_json_queue(s, r) : -ENOMEM;
}

int
store_family_get(struct store *s, const char *root_id, store_json_cb cb,
                 void *data)
{
	struct store_read *r =
	        store_read_new(STORE_READ_FAMILY, root_id, cb, data);

	return r ? store_read_json_queue(s, r) : -ENOMEM;
}

int
store_case_history(struct store *s, const char *id, store_json_cb cb,
                   void *data)
{
	struct store_read *r = store_read_new(STORE_READ_HISTORY, id, cb, data);

	return r ? store_read_json_queue(s, r) : -ENOMEM;
}

int
store_idem_get(struct store *s, const char *key, store_json_cb cb, void *data)
{
	struct store_read *r = store_read_new(STORE_READ_IDEM, key, cb, data);

	return r ? store_read_json_queue(s, r) : -ENOMEM;
}

int
store_timers_due(struct store *s, int64_t now, int limit, store_json_cb cb,
                 void *data)
{
	struct store_read *r =
	        store_read_new(STORE_READ_TIMERS, NULL, cb, data);

	if (r == NULL)
		return -ENOMEM;
	r->now = now;
	r->limit = limit > 0 ? limit : 100;
	return store_read_json_queue(s, r);
}

int
store_case_list(struct store *s, const struct store_case_filter *f,
                store_json_cb cb, void *data)
{
	struct store_read *r = store_read_new(STORE_READ_CASES, NULL, cb, data);
	const char *in[7] = {f->workflow, f->status, f->subject,  f->queue,
	                     f->owner,    f->after,  f->counselor};
	const char **out[7];

	if (r == NULL)
		return -ENOMEM;
	out[0] = &r->f.workflow;
	out[1] = &r->f.status;
	out[2] = &r->f.subject;
	out[3] = &r->f.queue;
	out[4] = &r->f.owner;
	out[5] = &r->f.after;
	out[6] = &r->f.counselor;
	for (int i = 0; i < 7; i++) {
		if (in[i] == NULL)
			continue;
		if ((r->fstr[i] = strdup(in[i])) == NULL) {
			for (int j = 0; j < i; j++)
				free(r->fstr[j]);
			free(r);
			return -ENOMEM;
		}
		*out[i] = r->fstr[i];
	}
	r->f.limit = f->limit < 1 ? 1 : f->limit > 1000 ? 1000 : f->limit;
	r->f.as_text = f->as_text;
	if (f->as_text && f->disclose != NULL && f->disclose_to != NULL) {
		struct store_disclosure *disc;
		int rc;

		disc = store_disclosures_copy(f->disclose, 1);
		if (disc == NULL) {
			for (int i = 0; i < 7; i++)
				free(r->fstr[i]);
			free(r);
			return -ENOMEM;
		}
		r->disc = disc;
		r->f.disclose = disc;
		r->f.disclose_to = f->disclose_to;
		rc = store_read_json_queue(s, r); /* frees r on failure */
		if (rc != 0)
			free(disc);
		return rc;
	}
	return store_read_json_queue(s, r);
}

int
store_workflows_sync(struct store *s, json_t **out)
{
	struct store_rconn *c;
	int rc;

	if (s->closed)
		return CAIRN_ECLOSED;
	c = store_rconn_get(s);
	rc = store_rows_json(c->st[RST_WORKFLOWS], out);
	store_rconn_put(s, c);
	return rc;
}

int
store_token_find(struct store *s, const uint8_t hash[32], store_token_cb cb,
                 void *data)
{
	struct store_read *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -ENOMEM;
	r->kind = STORE_READ_FIND;
	r->cb.one = cb;
	r->data = data;
	memcpy(r->hash, hash, sizeof(r->hash));
	return store_read_queue(s, r);
}

int
store_token_list(struct store *s, store_tokens_cb cb, void *data)
{
	struct store_read *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -ENOMEM;
	r->kind = STORE_READ_LIST;
	r->cb.many = cb;
	r->data = data;
	return store_read_queue(s, r);
}

int
store_token_count_sync(struct store *s, int64_t *n)
{
	struct store_rconn *c;
	sqlite3_stmt *st;
	int rc;

	if (s->closed)
		return CAIRN_ECLOSED;
	c = store_rconn_get(s);
	st = c->st[RST_COUNT];
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*n = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = store_code(rc);
	}
	sqlite3_reset(st);
	store_rconn_put(s, c);
	return rc;
}

/* --- adapters: the outbox worker's and the callbacks' operations --------- */

int
store_batch_outbox_mark(struct store_batch *b, int64_t id, const char *state,
                        int add_attempts, int64_t due_at, int last_status,
                        const char *last_error, int64_t at)
{
	struct store_op *op = store_sql_op(b, WST_OUTBOX_MARK, "outbox row");
	int rc;

	if (op == NULL)
		return -ENOMEM;
	rc = BIND_INT(op, 1, id) | BIND_TEXT(op, 2, state) |
	     BIND_INT(op, 3, add_attempts) | BIND_INT(op, 7, at);
	if (due_at > 0)
		rc |= BIND_INT(op, 4, due_at);
	else
		rc |= store_sql_bind(op, 4, SP_NULL, 0, NULL, 0);
	if (last_status > 0)
		rc |= BIND_INT(op, 5, last_status);
	else
		rc |= store_sql_bind(op, 5, SP_NULL, 0, NULL, 0);
	rc |= BIND_TEXT(op, 6, last_error);
	return store_sql_done(b, op, rc);
}

int
store_batch_outbox_redrive(struct store_batch *b, const char *adapter,
                           int64_t now, int64_t *changed)
{
	struct store_op *op =
	        store_sql_op(b, WST_OUTBOX_REDRIVE, "redrive dead letters");

	if (op == NULL)
		return -ENOMEM;
	op->u.sql.changes = changed;
	return store_sql_done(b, op,
	                      BIND_TEXT(op, 1, adapter) | BIND_INT(op, 2, now));
}

int
store_batch_callback_put(struct store_batch *b, const char *adapter,
                         const char *event_id, const char *case_id,
                         const char *type, int64_t at)
{
	struct store_op *op =
	        store_sql_op(b, WST_CALLBACK_PUT, "record callback event id");

	if (op == NULL)
		return -ENOMEM;
	/* the same event id committed first, from a concurrent delivery */
	op->u.sql.dup = CAIRN_EREPLAY;
	return store_sql_done(
	        b, op,
	        BIND_TEXT(op, 1, adapter) | BIND_TEXT(op, 2, event_id) |
	                BIND_TEXT(op, 3, case_id) | BIND_TEXT(op, 4, type) |
	                BIND_INT(op, 5, at));
}

/* The ids of r->known as an open-addressing set (0 marks an empty slot;
 * row ids start at 1), built on the reader thread; NULL without memory,
 * and then every due row is read in full, as if none were known. */
static int64_t *
store_known_set(const struct store_read *r, size_t *mask)
{
	size_t cap = 16;
	int64_t *set;

	while (cap < 2 * r->nknown)
		cap <<= 1;
	set = calloc(cap, sizeof(*set));
	if (set == NULL)
		return NULL;
	*mask = cap - 1;
	for (size_t i = 0; i < r->nknown; i++) {
		size_t j = (size_t)((uint64_t)r->known[i] *
		                            11400714819323198485ULL >>
		                    20) &
		           *mask;

		while (set[j] != 0 && set[j] != r->known[i])
			j = (j + 1) & *mask;
		set[j] = r->known[i];
	}
	return set;
}

static int
store_known_has(const int64_t *set, size_t mask, int64_t id)
{
	size_t j =
	        (size_t)((uint64_t)id * 11400714819323198485ULL >> 20) & mask;

	for (; set[j] != 0; j = (j + 1) & mask)
		if (set[j] == id)
			return 1;
	return 0;
}

/* The outbox's scan: {"due": the due rows not in r->known, "seen": how
 * many due rows there were (at most r->limit), "next_due"}. A row the
 * caller holds is only an index entry here: while an institution is
 * down the outbox holds thousands, and reading and parsing each again
 * at every scan cost more than the calls. */
static int
store_outbox_due_json(struct store_read *r, struct store_rconn *c)
{
	sqlite3_stmt *ids = c->st[RST_OUTBOX_DUE],
	             *next = c->st[RST_OUTBOX_NEXT];
	json_t *due = json_array(), *row, *nd = NULL;
	int64_t seen = 0, id, *set = NULL;
	size_t mask = 0;
	int rc, step = SQLITE_DONE;

	if (due == NULL)
		return -ENOMEM;
	if (r->nknown > 0)
		set = store_known_set(r, &mask);
	sqlite3_bind_int64(ids, 1, r->now);
	sqlite3_bind_int(ids, 2, r->limit);
	rc = 0;
	while (rc == 0 && (step = sqlite3_step(ids)) == SQLITE_ROW) {
		seen++;
		id = sqlite3_column_int64(ids, 0);
		if (set != NULL && id > 0 && store_known_has(set, mask, id))
			continue;
		sqlite3_bind_int64(c->st[RST_OUTBOX_ROW], 1, id);
		rc = store_one_json(c->st[RST_OUTBOX_ROW], &row);
		if (rc == 0 && json_array_append_new(due, row) != 0)
			rc = -ENOMEM;
	}
	sqlite3_reset(ids);
	sqlite3_clear_bindings(ids);
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_code(step);
	if (rc == 0) {
		sqlite3_bind_int64(next, 1, r->now);
		rc = sqlite3_step(next);
		if (rc == SQLITE_ROW) {
			nd = sqlite3_column_type(next, 0) == SQLITE_NULL
			             ? json_null()
			             : json_integer(
			                       sqlite3_column_int64(next, 0));
			rc = 0;
		} else {
			rc = store_code(rc);
		}
		sqlite3_reset(next);
		sqlite3_clear_bindings(next);
	}
	if (rc == 0) {
		r->result = json_pack("{s:o, s:I, s:o}", "due", due, "seen",
		                      (json_int_t)seen, "next_due", nd);
		due = nd = NULL;
		rc = r->result ? 0 : -ENOMEM;
	}
	json_decref(due);
	json_decref(nd);
	free(set);
	return rc;
}

/* The adapters' reads (thread pool). */
static int
store_read_adapters(struct store_read *r, struct store_rconn *c)
{
	json_t *a = NULL, *b = NULL;
	sqlite3_stmt *st;
	int rc;

	switch (r->kind) {
	case STORE_READ_OUTBOX_DUE:
		rc = store_outbox_due_json(r, c);
		break;
	case STORE_READ_OUTBOX_STATS:
		rc = store_rows_json(c->st[RST_OUTBOX_STATS], &r->result);
		break;
	case STORE_READ_CALLBACK:
		st = c->st[RST_CALLBACK_GET];
		sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->fstr[0], -1, SQLITE_STATIC);
		rc = store_one_json(st, &r->result);
		break;
	default:
		abort();
	}
	json_decref(a);
	json_decref(b);
	return rc;
}

int
store_outbox_due(struct store *s, int64_t now, int limit, const int64_t *known,
                 size_t nknown, store_json_cb cb, void *data)
{
	struct store_read *r =
	        store_read_new(STORE_READ_OUTBOX_DUE, NULL, cb, data);
	int64_t *k;
	int rc;

	if (r == NULL)
		return -ENOMEM;
	r->now = now;
	r->limit = limit > 0 ? limit : 100;
	if (nknown > 0) {
		r->known = malloc(nknown * sizeof(*known));
		if (r->known == NULL) {
			free(r);
			return -ENOMEM;
		}
		memcpy(r->known, known, nknown * sizeof(*known));
		r->nknown = nknown;
	}
	k = r->known;
	rc = store_read_json_queue(s, r); /* frees r, not k, on failure */
	if (rc != 0)
		free(k);
	return rc;
}

int
store_outbox_stats(struct store *s, store_json_cb cb, void *data)
{
	struct store_read *r =
	        store_read_new(STORE_READ_OUTBOX_STATS, NULL, cb, data);

	return r ? store_read_json_queue(s, r) : -ENOMEM;
}

int
store_callback_get(struct store *s, const char *adapter, const char *event_id,
                   store_json_cb cb, void *data)
{
	struct store_read *r =
	        store_read_new(STORE_READ_CALLBACK, adapter, cb, data);

	if (r == NULL)
		return -ENOMEM;
	if ((r->fstr[0] = strdup(event_id)) == NULL) {
		free(r->key);
		free(r);
		return -ENOMEM;
	}
	return store_read_json_queue(s, r);
}

/* --- rule-set versions --------------------------------------------------- */

int
store_batch_rule_put(struct store_batch *b, const char *rule_set,
                     const char *version, const char *files, const char *source,
                     const char *state, const char *tests, const char *error,
                     int64_t at)
{
	struct store_op *op;

	if (!strcmp(state, "live")) {
		op = store_sql_op(b, WST_RULE_DEMOTE, "retire the live rules");
		if (op == NULL ||
		    store_sql_done(b, op, BIND_TEXT(op, 1, rule_set)) != 0)
			return -ENOMEM;
	}
	op = store_sql_op(b, WST_RULE_PUT, "record a rule-set version");
	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(
	        b, op,
	        BIND_TEXT(op, 1, rule_set) | BIND_TEXT(op, 2, version) |
	                BIND_TEXT(op, 3, files) | BIND_TEXT(op, 4, source) |
	                BIND_TEXT(op, 5, state) | BIND_TEXT(op, 6, tests) |
	                BIND_TEXT(op, 7, error) | BIND_INT(op, 8, at));
}

int
store_rules_sync(struct store *s, json_t **out)
{
	struct store_rconn *c;
	int rc;

	if (s->closed)
		return CAIRN_ECLOSED;
	c = store_rconn_get(s);
	rc = store_rows_json(c->st[RST_RULES], out);
	store_rconn_put(s, c);
	return rc;
}

/* --- scanning cases ------------------------------------------------------ */

struct store_scan {
	uv_work_t work;
	struct store *s;
	char *workflow, *status;
	int include_terminal;
	int part, nparts;
	store_scan_row_fn row;
	store_done_cb done;
	void *arg;
	int rc;
	char msg[256];
};

static void
store_scan_work(uv_work_t *w)
{
	struct store_scan *sc = w->data;
	struct store_rconn *c = store_rconn_get(sc->s);
	sqlite3_stmt *st = NULL;
	int64_t lo = 0, hi = -1;
	int rc;

	/* a slice is a range of rowids: each slice reads only its own pages */
	rc = sqlite3_prepare_v2(c->db,
	                        "SELECT min(rowid), max(rowid) FROM cases", -1,
	                        &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL) {
		int64_t a = sqlite3_column_int64(st, 0);
		int64_t span = sqlite3_column_int64(st, 1) - a + 1;

		lo = a + span * sc->part / sc->nparts;
		hi = a + span * (sc->part + 1) / sc->nparts - 1;
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = sqlite3_prepare_v2(
	        c->db,
	        "SELECT id, workflow, status, data FROM cases"
	        " WHERE rowid BETWEEN ?4 AND ?5"
	        " AND (?1 IS NULL OR workflow = ?1)"
	        " AND (?2 IS NULL OR status = ?2) AND (?3 OR terminal = 0)",
	        -1, &st, NULL);
	if (rc != SQLITE_OK) {
		sc->rc = store_code(rc);
		snprintf(sc->msg, sizeof(sc->msg), "%s", sqlite3_errmsg(c->db));
		store_rconn_put(sc->s, c);
		return;
	}
	sqlite3_bind_text(st, 1, sc->workflow, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sc->status, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, sc->include_terminal);
	sqlite3_bind_int64(st, 4, lo);
	sqlite3_bind_int64(st, 5, hi);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *data = (const char *)sqlite3_column_text(st, 3);

		if (sc->row((const char *)sqlite3_column_text(st, 0),
		            (const char *)sqlite3_column_text(st, 1),
		            (const char *)sqlite3_column_text(st, 2),
		            data ? data : "{}",
		            (size_t)sqlite3_column_bytes(st, 3), sc->arg) != 0)
			break;
	}
	sc->rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_code(rc);
	if (sc->rc != 0)
		snprintf(sc->msg, sizeof(sc->msg), "%s", sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
	store_rconn_put(sc->s, c);
}

static void
store_scan_after(uv_work_t *w, int status)
{
	struct store_scan *sc = w->data;

	if (status != 0)
		sc->rc = status;
	sc->done(sc->rc, sc->rc ? sc->msg : NULL, sc->arg);
	free(sc->workflow);
	free(sc->status);
	free(sc);
}

int
store_case_scan(struct store *s, const char *workflow, const char *status,
                int include_terminal, int part, int nparts,
                store_scan_row_fn row, store_done_cb done, void *arg)
{
	struct store_scan *sc;
	int rc;

	if (s->closed)
		return CAIRN_ECLOSED;
	sc = calloc(1, sizeof(*sc));
	if (sc == NULL)
		return -ENOMEM;
	sc->s = s;
	sc->workflow = workflow ? strdup(workflow) : NULL;
	sc->status = status ? strdup(status) : NULL;
	sc->include_terminal = include_terminal;
	sc->part = part;
	sc->nparts = nparts > 0 ? nparts : 1;
	sc->row = row;
	sc->done = done;
	sc->arg = arg;
	sc->work.data = sc;
	if ((workflow && !sc->workflow) || (status && !sc->status) ||
	    (rc = uv_queue_work(s->loop, &sc->work, store_scan_work,
	                        store_scan_after)) != 0) {
		free(sc->workflow);
		free(sc->status);
		free(sc);
		return -ENOMEM;
	}
	return 0;
}

/* --- ISIR import ------------------------------------------------------ */

/*
 * The ISIR importer's rows (daemon/isir.c). They go into the same batch
 * as the case change they record, so a record counts as imported exactly
 * when its case change is durable.
 */

int
store_batch_isir_file_insert(struct store_batch *b, const char *office,
                             const char *fafsa_uuid, const char *case_id,
                             int txn)
{
	struct store_op *op =
	        store_sql_op(b, WST_ISIR_FILE_INSERT, "open an ISIR file");

	if (op == NULL)
		return -ENOMEM;
	/* another import opened this file first: the record is retried */
	return store_sql_done(
	        b, op,
	        BIND_TEXT(op, 1, office) | BIND_TEXT(op, 2, fafsa_uuid) |
	                BIND_TEXT(op, 3, case_id) | BIND_INT(op, 4, txn));
}

int
store_batch_isir_file_advance(struct store_batch *b, const char *office,
                              const char *fafsa_uuid, const char *case_id,
                              int from_txn, int to_txn)
{
	struct store_op *op =
	        store_sql_op(b, WST_ISIR_FILE_ADVANCE, "advance an ISIR file");

	if (op == NULL)
		return -ENOMEM;
	op->u.sql.expect = 1;
	op->u.sql.fail = CAIRN_ECONFLICT;
	return store_sql_done(
	        b, op,
	        BIND_TEXT(op, 1, office) | BIND_TEXT(op, 2, fafsa_uuid) |
	                BIND_TEXT(op, 3, case_id) | BIND_INT(op, 4, to_txn) |
	                BIND_INT(op, 5, from_txn));
}

int
store_batch_isir_record_put(struct store_batch *b, const char *office,
                            const char *fafsa_uuid, int txn,
                            const uint8_t hash[32], const char *case_id,
                            int64_t at)
{
	struct store_op *op =
	        store_sql_op(b, WST_ISIR_RECORD_PUT, "record an ISIR");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(
	        b, op,
	        BIND_TEXT(op, 1, office) | BIND_TEXT(op, 2, fafsa_uuid) |
	                BIND_INT(op, 3, txn) | BIND_BLOB(op, 4, hash, 32) |
	                BIND_TEXT(op, 5, case_id) | BIND_INT(op, 6, at));
}

/* On a reader thread: one statement pair for every key of the read. */
static int
store_isir_read(struct store_read *r, sqlite3 *db)
{
	sqlite3_stmt *fst = NULL, *rst = NULL;
	json_t *out = json_object();
	int rc;

	rc = sqlite3_prepare_v2(db,
	                        "SELECT case_id, txn FROM isir_files"
	                        " WHERE office = ?1 AND fafsa_uuid = ?2",
	                        -1, &fst, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db,
		                        "SELECT txn, record_hash FROM"
		                        " isir_records WHERE office = ?1 AND"
		                        " fafsa_uuid = ?2",
		                        -1, &rst, NULL);
	if (rc != SQLITE_OK || out == NULL) {
		rc = out == NULL ? -ENOMEM : store_code(rc);
		goto done;
	}
	for (size_t i = 0; i < r->nkeys && rc == SQLITE_OK; i++) {
		json_t *recs, *o;

		if (json_object_get(out, r->keys[i]) != NULL)
			continue;
		sqlite3_bind_text(fst, 1, r->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(fst, 2, r->keys[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(fst);
		if (rc == SQLITE_DONE) {
			sqlite3_reset(fst);
			rc = SQLITE_OK;
			continue;
		}
		if (rc != SQLITE_ROW)
			break;
		recs = json_object();
		o = json_pack("{s:s, s:I, s:o}", "case_id",
		              (const char *)sqlite3_column_text(fst, 0), "txn",
		              (json_int_t)sqlite3_column_int64(fst, 1),
		              "records", recs);
		sqlite3_reset(fst);
		if (o == NULL || json_object_set_new(out, r->keys[i], o)) {
			rc = SQLITE_NOMEM;
			break;
		}
		sqlite3_bind_text(rst, 1, r->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(rst, 2, r->keys[i], -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(rst)) == SQLITE_ROW) {
			const unsigned char *h = sqlite3_column_blob(rst, 1);
			char txn[16], hex[65];

			if (h == NULL || sqlite3_column_bytes(rst, 1) != 32)
				continue;
			for (int k = 0; k < 32; k++) {
				hex[2 * k] = hexdigits[h[k] >> 4];
				hex[2 * k + 1] = hexdigits[h[k] & 15];
			}
			hex[64] = '\0';
			snprintf(txn, sizeof(txn), "%lld",
			         (long long)sqlite3_column_int64(rst, 0));
			json_object_set_new(recs, txn, json_string(hex));
		}
		sqlite3_reset(rst);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	rc = rc == SQLITE_OK ? 0 : rc < 0 ? rc : store_code(rc);
done:
	sqlite3_finalize(fst);
	sqlite3_finalize(rst);
	if (rc == 0)
		r->result = out;
	else
		json_decref(out);
	return rc;
}

/* Queues a keyed read: the keys are copied (owned by the read). */
static int
store_keys_read(struct store *s, enum store_read_kind kind, const char *key,
                const char *const *keys_in, size_t n, store_json_cb cb,
                void *data)
{
	struct store_read *r = store_read_new(kind, key, cb, data);
	char **keys;
	size_t nkeys;
	int rc;

	if (r == NULL)
		return -ENOMEM;
	r->keys = calloc(n ? n : 1, sizeof(*r->keys));
	if (r->keys == NULL) {
		free(r->key);
		free(r);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if ((r->keys[r->nkeys++] = strdup(keys_in[i])) == NULL)
			break;
	keys = r->keys;
	nkeys = r->nkeys;
	if (nkeys < n || (rc = store_read_json_queue(s, r)) != 0) {
		if (nkeys < n) {
			free(r->key);
			free(r);
			rc = -ENOMEM;
		}
		for (size_t i = 0; i < nkeys; i++)
			free(keys[i]);
		free(keys);
		return rc;
	}
	return 0;
}

int
store_isir_lookup(struct store *s, const char *office,
                  const char *const *fafsa_uuids, size_t n, store_json_cb cb,
                  void *data)
{
	return store_keys_read(s, STORE_READ_ISIR, office, fafsa_uuids, n, cb,
	                       data);
}

/* --- ISIR identity matching --------------------------------------------- */

/*
 * Which student an ISIR's person is (daemon/identities.c loads the keys,
 * daemon/isir.c reads them when it opens a new aid file). The key is made
 * by adapters/isir.c isir_identity_key; the store only keeps and finds it.
 */

int
store_batch_identity_put(struct store_batch *b, const char *match_key,
                         const char *student, int64_t at)
{
	struct store_op *op =
	        store_sql_op(b, WST_IDENTITY_PUT, "record a student identity");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(b, op,
	                      BIND_TEXT(op, 1, match_key) |
	                              BIND_TEXT(op, 2, student) |
	                              BIND_INT(op, 3, at));
}

/* On a reader thread: {key: student} for the keys that have one. */
static int
store_identity_read(struct store_read *r, sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	json_t *out = json_object();
	int rc;

	rc = sqlite3_prepare_v2(db,
	                        "SELECT student FROM student_identities"
	                        " WHERE match_key = ?1",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK || out == NULL) {
		rc = out == NULL ? -ENOMEM : store_code(rc);
		goto done;
	}
	for (size_t i = 0; i < r->nkeys && rc == SQLITE_OK; i++) {
		sqlite3_bind_text(st, 1, r->keys[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			if (json_object_set_new(
			            out, r->keys[i],
			            json_string(
			                    (const char *)sqlite3_column_text(
			                            st, 0))) != 0) {
				rc = SQLITE_NOMEM;
				break;
			}
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
		sqlite3_reset(st);
	}
	rc = rc == SQLITE_OK ? 0 : rc < 0 ? rc : store_code(rc);
done:
	sqlite3_finalize(st);
	if (rc == 0)
		r->result = out;
	else
		json_decref(out);
	return rc;
}

int
store_identity_match(struct store *s, const char *const *keys, size_t n,
                     store_json_cb cb, void *data)
{
	return store_keys_read(s, STORE_READ_IDENTITY, NULL, keys, n, cb, data);
}

/* --- audit: reading the hash chains ----------------------------------- */

/*
 * The audit reads the database on its own read-only connection, without
 * the writer thread, the migrations or a loop: `cairn audit verify` must
 * never change the file it is judging, and runs beside a live cairnd
 * (WAL readers see one consistent snapshot for the whole walk, because
 * both scans run inside one read transaction).
 */
struct store_audit {
	sqlite3 *db;
	char path[4096];
};

int
store_audit_open(const char *path, struct store_audit **out,
                 struct cairn_err *err)
{
	struct store_audit *a;
	struct stat st;
	int64_t v = 0;
	int rc;

	*out = NULL;
	/* SQLite would open a missing file as an empty database */
	if (stat(path, &st) != 0) {
		cairn_err_set(err, path, 0, 0, "%s: %s", path, strerror(errno));
		return -errno;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	snprintf(a->path, sizeof(a->path), "%s", path);
	rc = sqlite3_open_v2(path, &a->db,
	                     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(a->db, STORE_BUSY_MS);
		rc = store_int(a->db, "PRAGMA user_version", &v);
	}
	if (rc != SQLITE_OK) {
		rc = store_fail(err, path, a->db, rc, "open for the audit");
		store_audit_close(a);
		return rc;
	}
	if (v > STORE_NMIGRATIONS) {
		cairn_err_set(err, path, 0, 0,
		              "%s: schema version %lld is newer than this "
		              "binary's (%d)",
		              path, (long long)v, STORE_NMIGRATIONS);
		store_audit_close(a);
		return CAIRN_ENEWER;
	}
	if (v < 2) {
		cairn_err_set(err, path, 0, 0,
		              "%s: not a Cairn database with case history "
		              "(schema version %lld)",
		              path, (long long)v);
		store_audit_close(a);
		return CAIRN_EINVALID;
	}
	/* the walk reads every page once, in order: a larger cache and
	 * memory-mapped reads cost nothing here and save copies */
	sqlite3_exec(a->db, "PRAGMA cache_size = -65536", NULL, NULL, NULL);
	sqlite3_exec(a->db, "PRAGMA mmap_size = 4294967296", NULL, NULL, NULL);
	*out = a;
	return 0;
}

void
store_audit_close(struct store_audit *a)
{
	if (a == NULL)
		return;
	sqlite3_close(a->db);
	free(a);
}

/* Copies the key of the current row into *key (grown as needed). */
static int
store_audit_key(sqlite3_stmt *st, char **key, size_t *cap)
{
	const char *k = (const char *)sqlite3_column_text(st, 0);
	size_t n = (size_t)sqlite3_column_bytes(st, 0);

	if (k == NULL)
		k = "";
	if (n + 1 > *cap) {
		char *p = realloc(*key, n + 64);

		if (p == NULL)
			return -ENOMEM;
		*key = p;
		*cap = n + 64;
	}
	memcpy(*key, k, n + 1);
	return 0;
}

/*
 * A merge of two scans in key order: the cases (id, history_seq,
 * history_hash) and the history (case_id, seq, ...), both read in the
 * order of their primary keys, so the walk is two sequential passes and
 * no lookups. Keys compare as SQLite's BINARY collation does (memcmp,
 * then length), which strcmp matches for text without NUL bytes.
 */
int
store_audit_case_chains(struct store_audit *a,
                        const struct store_chain_ops *ops, void *arg,
                        struct cairn_err *err)
{
	static const char cases_sql[] =
	        "SELECT id, history_seq, history_hash FROM cases ORDER BY id";
	static const char hist_sql[] =
	        "SELECT case_id, seq, at, actor, type, from_status, "
	        "to_status, payload, workflow_version, hash, payload_hash "
	        "FROM history ORDER BY case_id, seq";
	sqlite3_stmt *cs = NULL, *hs = NULL;
	char *key = NULL;
	size_t cap = 0;
	int crc, hrc, rc, stop = 0;

	rc = sqlite3_exec(a->db, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(a->db, cases_sql, -1, &cs, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(a->db, hist_sql, -1, &hs, NULL);
	if (rc != SQLITE_OK) {
		rc = store_fail(err, a->path, a->db, rc, "read the history");
		goto out;
	}
	crc = sqlite3_step(cs);
	hrc = sqlite3_step(hs);
	while (!stop && (crc == SQLITE_ROW || hrc == SQLITE_ROW)) {
		struct store_chain_head h = {0};
		int cmp;

		if (crc != SQLITE_ROW)
			cmp = 1;
		else if (hrc != SQLITE_ROW)
			cmp = -1;
		else
			cmp = strcmp((const char *)sqlite3_column_text(cs, 0),
			             (const char *)sqlite3_column_text(hs, 0));
		if (store_audit_key(cmp <= 0 ? cs : hs, &key, &cap) != 0) {
			rc = -ENOMEM;
			goto out;
		}
		/* every event of this key, in order */
		while (hrc == SQLITE_ROW &&
		       strcmp((const char *)sqlite3_column_text(hs, 0), key) ==
		               0) {
			struct store_chain_link l = {
			        .key = key,
			        .seq = sqlite3_column_int64(hs, 1),
			        .at = sqlite3_column_int64(hs, 2),
			        .actor = (const char *)sqlite3_column_text(hs,
			                                                   3),
			        .type = (const char *)sqlite3_column_text(hs,
			                                                  4),
			        .from_status =
			                (const char *)sqlite3_column_text(hs,
			                                                  5),
			        .to_status = (const char *)sqlite3_column_text(
			                hs, 6),
			        .payload = (const char *)sqlite3_column_text(hs,
			                                                     7),
			        .version = (int)sqlite3_column_int64(hs, 8),
			        .hash = sqlite3_column_blob(hs, 9),
			        .hash_len = (size_t)sqlite3_column_bytes(hs, 9),
			        .payload_hash = sqlite3_column_blob(hs, 10),
			        .payload_hash_len =
			                (size_t)sqlite3_column_bytes(hs, 10),
			};

			if (l.actor == NULL || l.type == NULL ||
			    l.payload == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			if (ops->link(&l, arg) != 0) {
				stop = 1;
				break;
			}
			hrc = sqlite3_step(hs);
		}
		if (stop)
			break;
		h.key = key;
		if (cmp <= 0) {
			h.found = 1;
			h.seq = sqlite3_column_int64(cs, 1);
			h.hash = sqlite3_column_blob(cs, 2);
			h.hash_len = (size_t)sqlite3_column_bytes(cs, 2);
		}
		if (ops->head(&h, arg) != 0)
			stop = 1;
		if (cmp <= 0)
			crc = sqlite3_step(cs);
	}
	if (!stop && (crc != SQLITE_DONE || hrc != SQLITE_DONE)) {
		rc = store_fail(err, a->path, a->db,
		                crc != SQLITE_DONE ? crc : hrc,
		                "read the history");
		goto out;
	}
	rc = 0;
out:
	free(key);
	sqlite3_finalize(cs);
	sqlite3_finalize(hs);
	sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

/* --- queues, leases, caseloads, alerts ----------------------------------- */

/* An operation that carries strings and times instead of a prepared
 * statement's parameters. */
static struct store_op *
store_q_op(struct store_batch *b, enum store_op_kind kind, const char *queue,
           const char *owner, const char *holder, const char *case_id)
{
	struct store_op *op = store_batch_push(b, kind);

	if (op == NULL)
		return NULL;
	memset(&op->u.q, 0, sizeof(op->u.q));
	if ((queue && (op->u.q.queue = strdup(queue)) == NULL) ||
	    (owner && (op->u.q.owner = strdup(owner)) == NULL) ||
	    (holder && (op->u.q.holder = strdup(holder)) == NULL) ||
	    (case_id && (op->u.q.case_id = strdup(case_id)) == NULL)) {
		free(op->u.q.queue);
		free(op->u.q.owner);
		free(op->u.q.holder);
		free(op->u.q.case_id);
		return NULL;
	}
	return op;
}

int
store_batch_lease_claim(struct store_batch *b, const char *queue,
                        const char *owner, const char *holder, int64_t at,
                        int64_t until, struct store_claim *out)
{
	struct store_op *op =
	        store_q_op(b, STORE_OP_CLAIM, queue, owner, holder, NULL);

	if (op == NULL)
		return -ENOMEM;
	op->u.q.at = at;
	op->u.q.until = until;
	op->u.q.out = out;
	memset(out, 0, sizeof(*out));
	b->nops++;
	return 0;
}

int
store_batch_lease_guard(struct store_batch *b, const char *case_id,
                        const char *holder, int64_t now)
{
	struct store_op *op = store_q_op(b, STORE_OP_LEASE_GUARD, NULL, NULL,
	                                 holder, case_id);

	if (op == NULL)
		return -ENOMEM;
	op->u.q.at = now;
	b->nops++;
	return 0;
}

/* Claims and guards, on the writer thread. */
static int
store_apply_queue(struct store *s, struct store_batch *b, struct store_op *op)
{
	sqlite3_stmt *st;
	int rc;

	if (op->kind == STORE_OP_LEASE_GUARD) {
		st = s->wst[WST_LEASE_OTHER];
		sqlite3_bind_text(st, 1, op->u.q.case_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, op->u.q.holder, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, op->u.q.at);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			store_batch_fail(
			        b, CAIRN_ECONFLICT,
			        "the case is leased to %.64s until %lld",
			        (const char *)sqlite3_column_text(st, 0),
			        (long long)sqlite3_column_int64(st, 1));
			rc = SQLITE_CONSTRAINT;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (rc != SQLITE_OK && b->status == 0)
			b->status = store_code(rc);
		return rc;
	}
	st = s->wst[WST_CLAIM_PICK];
	sqlite3_bind_text(st, 1, op->u.q.queue, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->u.q.owner, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(op->u.q.out->case_id, sizeof(op->u.q.out->case_id),
		         "%s", (const char *)sqlite3_column_text(st, 0));
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_DONE;
	} else {
		store_batch_fail(b, store_code(rc), "claim: %s",
		                 sqlite3_errmsg(s->wdb));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE) /* an empty queue is not an error */
		return SQLITE_OK;
	if (rc != SQLITE_OK)
		return rc;
	st = s->wst[WST_LEASE_INSERT];
	sqlite3_bind_text(st, 1, op->u.q.out->case_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->u.q.queue, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, op->u.q.owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, op->u.q.holder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, op->u.q.at);
	sqlite3_bind_int64(st, 6, op->u.q.until);
	rc = store_exec(s, st, &b->msg, "lease");
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_OK) {
		st = s->wst[WST_CLAIM_MARK];
		sqlite3_bind_text(st, 1, op->u.q.out->case_id, -1,
		                  SQLITE_STATIC);
		rc = store_exec(s, st, &b->msg, "mark claimed");
		sqlite3_clear_bindings(st);
	}
	if (rc != SQLITE_OK) {
		if (b->status == 0)
			b->status = store_code(rc);
		return rc;
	}
	op->u.q.out->found = 1;
	return SQLITE_OK;
}

/* Follows an op that may have ended the case's lease. */
static int
store_claim_sync(struct store_batch *b, const char *case_id)
{
	struct store_op *op = store_sql_op(b, WST_CLAIM_SYNC, "unmark claimed");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(b, op, BIND_TEXT(op, 1, case_id));
}

int
store_batch_lease_renew(struct store_batch *b, const char *case_id,
                        const char *holder, int64_t until)
{
	struct store_op *op = store_sql_op(b, WST_LEASE_RENEW, "renew lease");

	if (op == NULL)
		return -ENOMEM;
	op->u.sql.expect = 1;
	op->u.sql.fail = CAIRN_ENOTFOUND;
	return store_sql_done(b, op,
	                      BIND_TEXT(op, 1, case_id) |
	                              BIND_TEXT(op, 2, holder) |
	                              BIND_INT(op, 3, until));
}

int
store_batch_lease_release(struct store_batch *b, const char *case_id,
                          const char *holder)
{
	struct store_op *op =
	        store_sql_op(b, holder ? WST_LEASE_RELEASE : WST_LEASE_BREAK,
	                     "release lease");
	int rc;

	if (op == NULL)
		return -ENOMEM;
	op->u.sql.expect = 1;
	op->u.sql.fail = CAIRN_ENOTFOUND;
	rc = BIND_TEXT(op, 1, case_id);
	if (holder != NULL)
		rc |= BIND_TEXT(op, 2, holder);
	if (store_sql_done(b, op, rc) != 0)
		return -ENOMEM;
	return store_claim_sync(b, case_id);
}

int
store_batch_lease_expire(struct store_batch *b, const char *case_id,
                         const char *holder, int64_t now)
{
	struct store_op *op = store_sql_op(b, WST_LEASE_EXPIRE, "expire lease");

	if (op == NULL)
		return -ENOMEM;
	op->u.sql.expect = 1;
	op->u.sql.fail = CAIRN_ECONFLICT;
	if (store_sql_done(b, op,
	                   BIND_TEXT(op, 1, case_id) |
	                           BIND_TEXT(op, 2, holder) |
	                           BIND_INT(op, 3, now)) != 0)
		return -ENOMEM;
	return store_claim_sync(b, case_id);
}

int
store_batch_lease_leave(struct store_batch *b, const char *case_id,
                        const char *queue)
{
	struct store_op *op = store_sql_op(b, WST_LEASE_LEAVE, "end lease");

	if (op == NULL)
		return -ENOMEM;
	if (store_sql_done(b, op,
	                   BIND_TEXT(op, 1, case_id) |
	                           BIND_TEXT(op, 2, queue)) != 0)
		return -ENOMEM;
	return store_claim_sync(b, case_id);
}

int
store_batch_alerts_leave(struct store_batch *b, const char *case_id,
                         const char *status, int64_t at)
{
	struct store_op *op =
	        store_sql_op(b, WST_ALERTS_LEAVE, "resolve alerts");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(b, op,
	                      BIND_TEXT(op, 1, case_id) |
	                              BIND_TEXT(op, 2, status) |
	                              BIND_INT(op, 3, at));
}

int
store_batch_alert_notify(struct store_batch *b, const char *adapter, int64_t at)
{
	struct store_op *op = store_sql_op(b, WST_ALERT_NOTIFY, "notify alert");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(b, op,
	                      BIND_TEXT(op, 1, adapter) | BIND_INT(op, 2, at));
}

static int
store_alert_change(struct store_batch *b, int stmt, const char *what,
                   int64_t id, const char *who, int64_t at)
{
	struct store_op *op = store_sql_op(b, stmt, what);

	if (op == NULL)
		return -ENOMEM;
	op->u.sql.expect = 1;
	op->u.sql.fail = CAIRN_ENOTFOUND;
	return store_sql_done(b, op,
	                      BIND_INT(op, 1, id) | BIND_INT(op, 2, at) |
	                              BIND_TEXT(op, 3, who));
}

int
store_batch_alert_ack(struct store_batch *b, int64_t id, const char *who,
                      int64_t at)
{
	return store_alert_change(b, WST_ALERT_ACK, "acknowledge alert", id,
	                          who, at);
}

int
store_batch_alert_resolve(struct store_batch *b, int64_t id, const char *who,
                          int64_t at)
{
	return store_alert_change(b, WST_ALERT_RESOLVE, "resolve alert", id,
	                          who, at);
}

int
store_batch_caseload_clear(struct store_batch *b, const char *counselor)
{
	struct store_op *op =
	        store_sql_op(b, WST_CASELOAD_CLEAR, "clear caseload");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(b, op, BIND_TEXT(op, 1, counselor));
}

int
store_batch_caseload_add(struct store_batch *b, const char *counselor,
                         const char *student, int64_t at)
{
	struct store_op *op =
	        store_sql_op(b, WST_CASELOAD_ADD, "add to caseload");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(b, op,
	                      BIND_TEXT(op, 1, counselor) |
	                              BIND_TEXT(op, 2, student) |
	                              BIND_INT(op, 3, at));
}

/* The counselors whose caseload holds subject, as an array of ids. */
static int
store_counselors_of(struct store_rconn *c, const char *subject, json_t **out)
{
	sqlite3_stmt *st = c->st[RST_CASE_COUNSELORS];
	json_t *arr = json_array();
	int rc;

	sqlite3_bind_text(st, 1, subject ? subject : "", -1, SQLITE_STATIC);
	while (arr != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW)
		if (json_array_append_new(
		            arr, json_string((const char *)sqlite3_column_text(
		                         st, 0))) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (arr == NULL)
		return -ENOMEM;
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return store_code(rc);
	}
	*out = arr;
	return 0;
}

/* A case read's lease and counselors, for the lease check on events and
 * the caseload scope. */
static int
store_case_extras(struct store_rconn *c, const char *id, json_t *res)
{
	json_t *lease = NULL, *who = NULL;
	sqlite3_stmt *st = c->st[RST_LEASE_GET];
	int rc;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = store_one_json(st, &lease);
	if (rc == CAIRN_ENOTFOUND) {
		lease = json_null();
		rc = 0;
	}
	if (rc == 0)
		rc = store_counselors_of(
		        c,
		        json_string_value(json_object_get(
		                json_object_get(res, "case"), "subject")),
		        &who);
	if (rc == 0 && (json_object_set_new(res, "lease", lease) != 0 ||
	                json_object_set_new(res, "counselors", who) != 0))
		rc = -ENOMEM;
	else if (rc != 0) {
		json_decref(lease);
		json_decref(who);
	}
	return rc;
}

/* The alert listing's statement for the filters given. */
static int
store_alerts_stmt(sqlite3 *db, const struct store_read *r, sqlite3_stmt **out)
{
	char sql[1024];
	size_t n;

	n = (size_t)snprintf(
	        sql, sizeof(sql),
	        "SELECT a.id, a.case_id, a.kind, a.severity, a.recipient,"
	        " a.message, a.status, a.state, a.created_at, a.acked_at,"
	        " a.acked_by, a.resolved_at, a.resolved_by, c.subject,"
	        " c.owner FROM %s WHERE a.id > ?1",
	        r->fstr[0] ? "caseloads k JOIN cases c ON c.subject ="
	                     " k.student JOIN alerts a ON a.case_id = c.id"
	                   : "alerts a JOIN cases c ON c.id = a.case_id");
	if (r->fstr[0])
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		                      " AND k.counselor = ?2 AND a.recipient IN"
		                      " ('counselor', 'role:counselor')");
	if (r->fstr[1])
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		                      " AND c.owner = ?3 AND (a.recipient IN"
		                      " ('office', 'supervisor') OR"
		                      " a.recipient = 'role:' || ?4)");
	if (r->fstr[3])
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		                      " AND a.case_id = ?5");
	if (r->fstr[4])
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		                      " AND a.state = ?6");
	snprintf(sql + n, sizeof(sql) - n, " ORDER BY a.id LIMIT ?7");
	return sqlite3_prepare_v2(db, sql, -1, out, NULL);
}

static int
store_read_queue_json(struct store_read *r, struct store_rconn *c)
{
	json_t *a = NULL, *b = NULL;
	sqlite3_stmt *st;
	int rc;

	switch (r->kind) {
	case STORE_READ_LEASE:
		st = c->st[RST_LEASE_GET];
		sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
		return store_one_json(st, &r->result);
	case STORE_READ_LEASES_DUE:
		st = c->st[RST_LEASES_DUE];
		sqlite3_bind_int64(st, 1, r->now);
		sqlite3_bind_int(st, 2, r->limit);
		rc = store_rows_json(st, &a);
		if (rc == 0) {
			st = c->st[RST_LEASE_NEXT];
			sqlite3_bind_int64(st, 1, r->now);
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW) {
				b = sqlite3_column_type(st, 0) == SQLITE_NULL
				            ? json_null()
				            : json_integer(sqlite3_column_int64(
				                      st, 0));
				rc = 0;
			} else {
				rc = store_code(rc);
			}
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
		}
		if (rc == 0) {
			r->result = json_pack("{s:o, s:o}", "due", a,
			                      "next_due", b);
			rc = r->result ? 0 : -ENOMEM;
		} else {
			json_decref(a);
			json_decref(b);
		}
		return rc;
	case STORE_READ_QUEUE_ITEMS:
		st = c->st[RST_QUEUE_ITEMS];
		sqlite3_bind_text(st, 1, r->fstr[0], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->fstr[1], -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, r->limit);
		return store_rows_json(st, &r->result);
	case STORE_READ_QUEUE_SUMMARY:
		st = c->st[r->fstr[0] ? RST_QUEUE_SUMMARY_OWNER
		                      : RST_QUEUE_SUMMARY];
		sqlite3_bind_int64(st, 1, r->now);
		if (r->fstr[0])
			sqlite3_bind_text(st, 2, r->fstr[0], -1, SQLITE_STATIC);
		return store_rows_json(st, &r->result);
	case STORE_READ_ALERT:
		st = c->st[RST_ALERT_GET];
		sqlite3_bind_int64(st, 1, r->after);
		rc = store_one_json(st, &r->result);
		if (rc == 0 &&
		    (rc = store_counselors_of(c,
		                              json_string_value(json_object_get(
		                                      r->result, "subject")),
		                              &a)) == 0 &&
		    json_object_set_new(r->result, "counselors", a) != 0)
			rc = -ENOMEM;
		return rc;
	case STORE_READ_MAIL:
		st = c->st[RST_MAIL_LAST];
		sqlite3_bind_int64(st, 1, r->after);
		sqlite3_bind_int(st, 2, r->limit);
		rc = sqlite3_step(st);
		{
			int64_t last = rc == SQLITE_ROW && sqlite3_column_type(
			                                           st, 0) !=
			                                           SQLITE_NULL
			                       ? sqlite3_column_int64(st, 0)
			                       : 0;

			rc = rc == SQLITE_ROW || rc == SQLITE_DONE
			             ? 0
			             : store_code(rc);
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			if (rc != 0)
				return rc;
			st = c->st[RST_MAIL_PENDING];
			sqlite3_bind_int64(st, 1, r->after);
			sqlite3_bind_int64(st, 2, last);
			rc = store_rows_json(st, &a);
			if (rc != 0)
				return rc;
			r->result = json_pack("{s:o, s:I}", "mail", a, "last",
			                      (json_int_t)last);
		}
		return r->result ? 0 : -ENOMEM;
	case STORE_READ_DIGEST:
		st = c->st[RST_MAIL_DIGEST];
		sqlite3_bind_int64(st, 1, r->after);
		return store_rows_json(st, &r->result);
	case STORE_READ_RECIPIENT:
		st = c->st[RST_RECIPIENT_GET];
		sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
		return store_one_json(st, &r->result);
	case STORE_READ_OFFICE:
		st = c->st[RST_OFFICE_GET];
		sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
		rc = store_one_json(st, &r->result);
		if (rc == CAIRN_ENOTFOUND) {
			/* an office nobody described: no roster, no one */
			r->result = json_pack("{s:s, s:s, s:n}", "id", r->key,
			                      "supervisor", "", "updated_at");
			rc = r->result ? 0 : -ENOMEM;
		}
		if (rc == 0) {
			st = c->st[RST_OFFICE_STAFF];
			sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
			rc = store_rows_json(st, &a);
		}
		if (rc == 0 && r->limit) {
			size_t i;
			json_t *row, *staff = json_array();

			json_array_foreach(a, i, row)
			{
				json_array_append(
				        staff, json_object_get(row, "member"));
			}
			json_decref(a);
			a = NULL;
			json_object_set_new(r->result, "staff", staff);
			if (r->limit > 1) {
				st = c->st[RST_OFFICE_LEASES];
				sqlite3_bind_text(st, 1, r->key, -1,
				                  SQLITE_STATIC);
				rc = store_rows_json(st, &a);
				if (rc == 0)
					json_object_set_new(r->result, "leases",
					                    a);
			}
		}
		return rc;
	case STORE_READ_META:
		st = c->st[RST_META_GET];
		sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
		return store_one_json(st, &r->result);
	case STORE_READ_CASELOAD:
		st = c->st[RST_CASELOAD];
		sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
		rc = store_rows_json(st, &a);
		if (rc == 0) {
			size_t i;
			json_t *row;

			r->result = json_array();
			json_array_foreach(a, i, row)
			{
				json_array_append(
				        r->result,
				        json_object_get(row, "student"));
			}
			json_decref(a);
			rc = r->result ? 0 : -ENOMEM;
		}
		return rc;
	case STORE_READ_ALERTS:
		rc = store_alerts_stmt(c->db, r, &st);
		if (rc != SQLITE_OK) {
			sqlite3_finalize(st);
			return store_code(rc);
		}
		sqlite3_bind_int64(st, 1, r->after);
		if (r->fstr[0])
			sqlite3_bind_text(st, 2, r->fstr[0], -1, SQLITE_STATIC);
		if (r->fstr[1]) {
			sqlite3_bind_text(st, 3, r->fstr[1], -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, r->fstr[2] ? r->fstr[2] : "",
			                  -1, SQLITE_STATIC);
		}
		if (r->fstr[3])
			sqlite3_bind_text(st, 5, r->fstr[3], -1, SQLITE_STATIC);
		if (r->fstr[4])
			sqlite3_bind_text(st, 6, r->fstr[4], -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 7, r->limit + 1);
		rc = store_rows_json(st, &a);
		sqlite3_finalize(st);
		if (rc != 0)
			return rc;
		if (json_array_size(a) > (size_t)r->limit) {
			json_array_remove(a, (size_t)r->limit);
			b = json_object_get(
			        json_array_get(a, (size_t)r->limit - 1), "id");
			json_incref(b);
		} else {
			b = json_null();
		}
		r->result = json_pack("{s:o, s:o}", "alerts", a, "next", b);
		return r->result ? 0 : -ENOMEM;
	default:
		abort();
	}
}

/* A read of kind with up to four owned strings. */
static int
store_q_read(struct store *s, enum store_read_kind kind, const char *key,
             const char *const str[5], int64_t now, int limit, int64_t after,
             store_json_cb cb, void *data)
{
	struct store_read *r = store_read_new(kind, key, cb, data);

	if (r == NULL)
		return -ENOMEM;
	for (int i = 0; str != NULL && i < 5; i++) {
		if (str[i] == NULL)
			continue;
		if ((r->fstr[i] = strdup(str[i])) == NULL) {
			for (int j = 0; j < i; j++)
				free(r->fstr[j]);
			free(r->key);
			free(r);
			return -ENOMEM;
		}
	}
	r->now = now;
	r->limit = limit;
	r->after = after;
	return store_read_json_queue(s, r);
}

int
store_lease_get(struct store *s, const char *case_id, store_json_cb cb,
                void *data)
{
	return store_q_read(s, STORE_READ_LEASE, case_id, NULL, 0, 0, 0, cb,
	                    data);
}

int
store_leases_due(struct store *s, int64_t now, int limit, store_json_cb cb,
                 void *data)
{
	return store_q_read(s, STORE_READ_LEASES_DUE, NULL, NULL, now,
	                    limit > 0 ? limit : 100, 0, cb, data);
}

int
store_queue_items(struct store *s, const char *queue, const char *owner,
                  int limit, store_json_cb cb, void *data)
{
	const char *str[5] = {queue, owner ? owner : ""};

	return store_q_read(s, STORE_READ_QUEUE_ITEMS, NULL, str, 0,
	                    limit < 1      ? 1
	                    : limit > 1000 ? 1000
	                                   : limit,
	                    0, cb, data);
}

int
store_queue_summary(struct store *s, const char *owner, int64_t now,
                    store_json_cb cb, void *data)
{
	const char *str[5] = {owner};

	return store_q_read(s, STORE_READ_QUEUE_SUMMARY, NULL, str, now, 0, 0,
	                    cb, data);
}

int
store_alerts_list(struct store *s, const struct store_alert_filter *f,
                  store_json_cb cb, void *data)
{
	const char *str[5] = {f->counselor, f->owner, f->role, f->case_id,
	                      f->state};

	return store_q_read(s, STORE_READ_ALERTS, NULL, str, 0,
	                    f->limit < 1      ? 1
	                    : f->limit > 1000 ? 1000
	                                      : f->limit,
	                    f->after, cb, data);
}

int
store_alert_get(struct store *s, int64_t id, store_json_cb cb, void *data)
{
	return store_q_read(s, STORE_READ_ALERT, NULL, NULL, 0, 0, id, cb,
	                    data);
}

int
store_caseload_get(struct store *s, const char *counselor, store_json_cb cb,
                   void *data)
{
	return store_q_read(s, STORE_READ_CASELOAD, counselor, NULL, 0, 0, 0,
	                    cb, data);
}

int
store_batch_recipient_put(struct store_batch *b, const char *id,
                          const char *email, int digest, int64_t at)
{
	struct store_op *op =
	        store_sql_op(b, WST_RECIPIENT_PUT, "set recipient");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(b, op,
	                      BIND_TEXT(op, 1, id) | BIND_TEXT(op, 2, email) |
	                              BIND_INT(op, 3, digest != 0) |
	                              BIND_INT(op, 4, at));
}

int
store_mail_pending(struct store *s, int64_t after, int limit, store_json_cb cb,
                   void *data)
{
	return store_q_read(s, STORE_READ_MAIL, NULL, NULL, 0,
	                    limit < 1 ? 100 : limit, after, cb, data);
}

int
store_mail_digest(struct store *s, int64_t since, store_json_cb cb, void *data)
{
	return store_q_read(s, STORE_READ_DIGEST, NULL, NULL, 0, 0, since, cb,
	                    data);
}

int
store_recipient_get(struct store *s, const char *id, store_json_cb cb,
                    void *data)
{
	return store_q_read(s, STORE_READ_RECIPIENT, id, NULL, 0, 0, 0, cb,
	                    data);
}

int
store_meta_get(struct store *s, const char *key, store_json_cb cb, void *data)
{
	return store_q_read(s, STORE_READ_META, key, NULL, 0, 0, 0, cb, data);
}

int
store_batch_office_put(struct store_batch *b, const char *id,
                       const char *supervisor, const char *const *staff,
                       size_t nstaff, int64_t at)
{
	struct store_op *op = store_sql_op(b, WST_OFFICE_PUT, "set office");

	if (op == NULL ||
	    store_sql_done(
	            b, op,
	            BIND_TEXT(op, 1, id) |
	                    BIND_TEXT(op, 2, supervisor ? supervisor : "") |
	                    BIND_INT(op, 3, at)) != 0)
		return -ENOMEM;
	op = store_sql_op(b, WST_OFFICE_CLEAR, "clear office staff");
	if (op == NULL || store_sql_done(b, op, BIND_TEXT(op, 1, id)) != 0)
		return -ENOMEM;
	for (size_t i = 0; i < nstaff; i++) {
		op = store_sql_op(b, WST_OFFICE_STAFF, "add office staff");
		if (op == NULL ||
		    store_sql_done(b, op,
		                   BIND_TEXT(op, 1, id) |
		                           BIND_TEXT(op, 2, staff[i])) != 0)
			return -ENOMEM;
	}
	return 0;
}

int
store_office_get(struct store *s, const char *id, int with_leases,
                 store_json_cb cb, void *data)
{
	return store_q_read(s, STORE_READ_OFFICE, id, NULL, 0,
	                    with_leases ? 2 : 1, 0, cb, data);
}

/* --- retention (issue 7, item 7) ------------------------------------------ */

static int
store_read_retention(struct store_read *r, struct store_rconn *c)
{
	/* the closed cases not yet purged, oldest close first; keyset
	 * paging over (updated_at, id), which the partial index holds */
	static const char sql[] =
	        "SELECT c.id, c.version, c.data, c.subject, c.revision,"
	        " c.history_seq, c.history_hash, c.updated_at,"
	        " (SELECT count(*) FROM history h WHERE h.case_id = c.id"
	        "  AND h.payload_hash IS NULL) AS legacy_events"
	        " FROM cases c INDEXED BY cases_retention"
	        " WHERE c.terminal = 1 AND c.purged_at IS NULL"
	        " AND c.updated_at < ?1 AND (c.updated_at, c.id) > (?2, ?3)"
	        " ORDER BY c.updated_at, c.id LIMIT ?4";
	/* a case's events as stored: the payload's text unparsed, so its
	 * hash can be taken of the very bytes */
	static const char hist_sql[] =
	        "SELECT seq, at, actor, type, from_status, to_status,"
	        " payload AS payload_text, workflow_version, hash, payload_hash"
	        " FROM history WHERE case_id = ?1 ORDER BY seq";
	sqlite3_stmt *st = NULL;
	int rc;

	if (r->kind == STORE_READ_RET_HISTORY) {
		rc = sqlite3_prepare_v2(c->db, hist_sql, -1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, r->key, -1, SQLITE_STATIC);
			rc = store_rows_json(st, &r->result);
		} else {
			rc = store_code(rc);
		}
		sqlite3_finalize(st);
		return rc;
	}
	rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return store_code(rc);
	}
	sqlite3_bind_int64(st, 1, r->now);
	sqlite3_bind_int64(st, 2, r->after);
	sqlite3_bind_text(st, 3, r->key ? r->key : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, r->limit);
	rc = store_rows_json(st, &r->result);
	sqlite3_finalize(st);
	return rc;
}

int
store_retention_due(struct store *s, int64_t cutoff, int64_t after_at,
                    const char *after_id, int limit, store_json_cb cb,
                    void *data)
{
	return store_q_read(s, STORE_READ_RETENTION, after_id ? after_id : "",
	                    NULL, cutoff,
	                    limit < 1      ? 1
	                    : limit > 1000 ? 1000
	                                   : limit,
	                    after_at, cb, data);
}

int
store_batch_case_purge(struct store_batch *b, const struct store_purge *p)
{
	static const int each[] = {WST_RET_OUTBOX, WST_RET_ALERTS,
	                           WST_RET_LEASE, WST_RET_TIMERS};
	struct store_op *op;
	int rc;

	op = store_sql_op(b, WST_RET_HISTORY, "purge history payloads");
	if (op == NULL)
		return -ENOMEM;
	rc = store_sql_done(b, op,
	                    BIND_TEXT(op, 1, p->case_id) |
	                            BIND_INT(op, 2, p->event->seq));
	if (rc == 0)
		rc = store_batch_history_append(b, p->event);
	if (rc != 0)
		return rc;
	op = store_sql_op(b, WST_RET_CASE, "purge case");
	if (op == NULL)
		return -ENOMEM;
	/* a case that moved since it was read is left for the next run */
	op->u.sql.expect = 1;
	op->u.sql.fail = CAIRN_ECONFLICT;
	rc = store_sql_done(b, op,
	                    BIND_TEXT(op, 1, p->case_id) |
	                            BIND_TEXT(op, 2, p->data) |
	                            BIND_TEXT(op, 3, p->subject) |
	                            BIND_INT(op, 4, p->event->seq) |
	                            BIND_BLOB(op, 5, p->event->hash, 32) |
	                            BIND_INT(op, 6, p->event->at) |
	                            BIND_INT(op, 7, p->revision));
	for (size_t i = 0; rc == 0 && i < sizeof(each) / sizeof(each[0]); i++) {
		op = store_sql_op(b, each[i], "purge case rows");
		if (op == NULL)
			return -ENOMEM;
		rc = store_sql_done(b, op, BIND_TEXT(op, 1, p->case_id));
	}
	return rc;
}

int
store_batch_idempotency_expire(struct store_batch *b, int64_t before)
{
	struct store_op *op =
	        store_sql_op(b, WST_RET_IDEM, "expire idempotency records");

	if (op == NULL)
		return -ENOMEM;
	return store_sql_done(b, op, BIND_INT(op, 1, before));
}

int
store_retention_history(struct store *s, const char *case_id, store_json_cb cb,
                        void *data)
{
	return store_q_read(s, STORE_READ_RET_HISTORY, case_id, NULL, 0, 0, 0,
	                    cb, data);
}

int
store_batch_history_reseal(struct store_batch *b, const char *case_id,
                           int64_t seq, const uint8_t old_hash[32],
                           const uint8_t hash[32],
                           const uint8_t payload_hash[32])
{
	struct store_op *op =
	        store_sql_op(b, WST_RET_RESEAL, "reseal a history link");

	if (op == NULL)
		return -ENOMEM;
	op->u.sql.expect = 1;
	op->u.sql.fail = CAIRN_ECONFLICT;
	return store_sql_done(b, op,
	                      BIND_TEXT(op, 1, case_id) | BIND_INT(op, 2, seq) |
	                              BIND_BLOB(op, 3, hash, 32) |
	                              BIND_BLOB(op, 4, payload_hash, 32) |
	                              BIND_BLOB(op, 5, old_hash, 32));
}

/* --- backup and restore -------------------------------------------------- */

/*
 * An online copy through SQLite's backup API (cairn backup). The source
 * is opened read-only and copied inside one read transaction, so the copy
 * is one consistent snapshot: every commit before it, none after. In WAL
 * mode the reader holds up neither cairnd's writer nor its readers; the
 * WAL's committed frames are part of the snapshot. The copy is written
 * to a temporary file beside dst, synced and checked, then renamed into
 * place, so dst is either absent or a whole, checked database.
 */

/* PRAGMA quick_check (or integrity_check when full) and the schema
 * version of an open connection. */
static int
store_check_db(sqlite3 *db, const char *path, int full,
               struct store_file_info *info, struct cairn_err *err)
{
	sqlite3_stmt *st = NULL;
	int64_t v = 0;
	int rc;

	rc = store_int(db, "PRAGMA user_version", &v);
	if (rc != SQLITE_OK)
		return store_fail(err, path, db, rc, "read the schema version");
	info->schema_version = (int)v;
	if (v > STORE_NMIGRATIONS) {
		cairn_err_set(err, path, 0, 0,
		              "%s: schema version %lld is newer than this "
		              "binary's (%d)",
		              path, (long long)v, STORE_NMIGRATIONS);
		return CAIRN_ENEWER;
	}
	if (v < 1) {
		cairn_err_set(err, path, 0, 0, "%s: not a Cairn database",
		              path);
		return CAIRN_EINVALID;
	}
	rc = sqlite3_prepare_v2(
	        db, full ? "PRAGMA integrity_check" : "PRAGMA quick_check", -1,
	        &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW &&
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		cairn_err_set(err, path, 0, 0, "%s: damaged: %s", path,
		              (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		return CAIRN_ECORRUPT;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(err, path, db, rc, "check");
	if (v >= 2 && (rc = store_int(db, "SELECT count(*) FROM cases",
	                              &info->cases)) != SQLITE_OK)
		return store_fail(err, path, db, rc, "count the cases");
	if ((rc = store_int(db, "PRAGMA page_count", &v)) == SQLITE_OK) {
		info->bytes = v;
		rc = store_int(db, "PRAGMA page_size", &v);
		info->bytes *= v;
	}
	return rc == SQLITE_OK ? 0 : store_fail(err, path, db, rc, "size");
}

int
store_file_check(const char *path, int full, struct store_file_info *info,
                 struct cairn_err *err)
{
	sqlite3 *db = NULL;
	struct stat sb;
	int rc;

	memset(info, 0, sizeof(*info));
	if (stat(path, &sb) != 0) {
		cairn_err_set(err, path, 0, 0, "%s: %s", path, strerror(errno));
		return -errno;
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		rc = store_fail(err, path, db, rc, "open");
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, STORE_BUSY_MS);
	rc = store_check_db(db, path, full, info, err);
	sqlite3_close(db);
	return rc;
}

int
store_backup(const char *src, const char *dst, struct store_file_info *info,
             struct cairn_err *err)
{
	char tmp[4200];
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_backup *b;
	struct stat sb;
	int rc;

	memset(info, 0, sizeof(*info));
	if (stat(src, &sb) != 0) {
		cairn_err_set(err, src, 0, 0, "%s: %s", src, strerror(errno));
		return -errno;
	}
	if (stat(dst, &sb) == 0) {
		cairn_err_set(err, dst, 0, 0,
		              "%s exists; a backup never overwrites a file",
		              dst);
		return -EEXIST;
	}
	snprintf(tmp, sizeof(tmp), "%s.partial", dst);
	unlink(tmp);
	rc = sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		rc = store_fail(err, src, from, rc, "open");
		goto out;
	}
	sqlite3_busy_timeout(from, STORE_BUSY_MS);
	rc = sqlite3_open_v2(tmp, &to,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		rc = store_fail(err, tmp, to, rc, "create");
		goto out;
	}
	/* the copy is committed with a full sync, as cairnd's own writes */
	sqlite3_exec(to, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	b = sqlite3_backup_init(to, "main", from, "main");
	if (b == NULL) {
		rc = store_fail(err, tmp, to, sqlite3_errcode(to), "back up");
		goto out;
	}
	/* all pages in one step: one read transaction, one snapshot */
	do {
		rc = sqlite3_backup_step(b, -1);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(50);
	} while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		rc = store_fail(err, src, from, rc, "back up");
		goto out;
	}
	rc = store_check_db(to, tmp, 1, info, err);
	if (rc != 0)
		goto out;
	/* the copy opens on its own, without a WAL beside it */
	if (sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		rc = store_fail(err, tmp, to, sqlite3_errcode(to),
		                "finish the copy");
		goto out;
	}
	sqlite3_close(to);
	to = NULL;
	if (link(tmp, dst) != 0) { /* never replaces a file made meanwhile */
		cairn_err_set(err, dst, 0, 0, "%s: %s", dst, strerror(errno));
		rc = -errno;
		goto out;
	}
	rc = 0;
out:
	sqlite3_close(to);
	sqlite3_close(from);
	unlink(tmp);
	return rc;
}

/* --- the disclosure log ------------------------------------------------ */

/*
 * Every read of a student's record is a row: who (token id, role, scope),
 * which record (case, subject), when, through which route. The rows form
 * one hash chain in seq order, extended on the writer thread inside the
 * transaction that appends them, so the chain follows commit order
 * exactly and a batch that fails (rolled back to its savepoint) leaves
 * no link behind. The head (last seq and hash) is also kept in meta so
 * that rows deleted from the end are noticed.
 */

/* store_disclosure_hash with the caller's digest context (md), which the
 * writer keeps for all of an op's rows. */
static int
store_disclosure_hash_ctx(EVP_MD_CTX *md, const uint8_t prev[32], int64_t seq,
                          const struct store_disclosure *d, uint8_t out[32])
{
	char head[1024];
	unsigned int n = 32;
	int len;

	len = snprintf(head, sizeof(head),
	               "%lld\n%lld\n%s\n%s\n%s\n%s\n%s\n%s\n", (long long)seq,
	               (long long)d->at, d->token_id, d->role, d->scope,
	               d->route, d->case_id, d->subject);
	if (len < 0 || (size_t)len >= sizeof(head))
		len = (int)sizeof(head) - 1;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, prev, 32) == 1 &&
	    EVP_DigestUpdate(md, head, (size_t)len) == 1 &&
	    EVP_DigestFinal_ex(md, out, &n) == 1)
		return 0;
	return -1;
}

int
store_disclosure_hash(const uint8_t prev[32], int64_t seq,
                      const struct store_disclosure *d, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = md != NULL ? store_disclosure_hash_ctx(md, prev, seq, d, out)
	                    : -1;

	EVP_MD_CTX_free(md);
	return rc;
}

static void
store_disclosures_free(struct store_disclosure *rows, size_t n)
{
	(void)n;
	free(rows);
}

/* One field of a row: copied once into the block at *at, or, when it is
 * the same string as the previous row's (the reader, role, scope and
 * route of a page are), pointed at that copy. */
static const char *
disc_copy(const char *src, const char *prev_src, const char *prev_copy,
          char **at)
{
	size_t len;
	char *dst;

	if (src == NULL)
		src = "";
	if (prev_copy != NULL && prev_src != NULL &&
	    (src == prev_src || !strcmp(src, prev_src)))
		return prev_copy;
	len = strlen(src) + 1;
	dst = *at;
	memcpy(dst, src, len);
	*at += len;
	return dst;
}

/*
 * A page of a listing is 50 rows: copying each of their six strings with
 * its own strdup was 300 allocations on the loop thread per page. The
 * rows and every string they hold are one block instead, and the fields
 * a page's rows share (who read, through which route) are copied once.
 */
static struct store_disclosure *
store_disclosures_copy(const struct store_disclosure *rows, size_t n)
{
	struct store_disclosure *copy;
	size_t bytes = 0;
	char *at;

	if (n == 0 || n > SIZE_MAX / sizeof(*copy))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct store_disclosure *r = &rows[i];
		const char *f[6] = {r->token_id, r->role,    r->scope,
		                    r->route,    r->case_id, r->subject};

		for (int k = 0; k < 6; k++)
			bytes += (f[k] ? strlen(f[k]) : 0) + 1;
	}
	copy = malloc(n * sizeof(*copy) + bytes);
	if (copy == NULL)
		return NULL;
	at = (char *)(copy + n);
	for (size_t i = 0; i < n; i++) {
		const struct store_disclosure *r = &rows[i];
		const struct store_disclosure *pr = i ? &rows[i - 1] : NULL;
		const struct store_disclosure *pc = i ? &copy[i - 1] : NULL;

		copy[i].at = r->at;
		copy[i].token_id =
		        disc_copy(r->token_id, pr ? pr->token_id : NULL,
		                  pc ? pc->token_id : NULL, &at);
		copy[i].role = disc_copy(r->role, pr ? pr->role : NULL,
		                         pc ? pc->role : NULL, &at);
		copy[i].scope = disc_copy(r->scope, pr ? pr->scope : NULL,
		                          pc ? pc->scope : NULL, &at);
		copy[i].route = disc_copy(r->route, pr ? pr->route : NULL,
		                          pc ? pc->route : NULL, &at);
		copy[i].case_id = disc_copy(r->case_id, NULL, NULL, &at);
		copy[i].subject = disc_copy(r->subject, NULL, NULL, &at);
	}
	return copy;
}

int
store_batch_disclose(struct store_batch *b, const struct store_disclosure *rows,
                     size_t n)
{
	struct store_disclosure *copy;
	struct store_op *op;

	if (n == 0)
		return 0;
	copy = store_disclosures_copy(rows, n);
	if (copy == NULL)
		return -ENOMEM;
	op = store_batch_push(b, STORE_OP_DISCLOSE);
	if (op == NULL) {
		store_disclosures_free(copy, n);
		return -ENOMEM;
	}
	op->u.disc.rows = copy;
	op->u.disc.n = n;
	b->nops++;
	return 0;
}

int
store_batch_empty(const struct store_batch *b)
{
	return b == NULL || b->nops == 0;
}

/* Reader thread: the disclosure rows of a page of cases (see
 * store_case_filter's disclose and struct disc_page). */

static int
disc_page_add(struct disc_page *p, const struct store_disclosure *tmpl,
              const char *id, const char *subject)
{
	struct store_disclosure *d;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		void *r = realloc(p->rows, cap * sizeof(*p->rows));
		void *o;

		if (r == NULL)
			return -ENOMEM;
		p->rows = r;
		o = realloc(p->owned, cap * 2 * sizeof(*p->owned));
		if (o == NULL)
			return -ENOMEM;
		p->owned = o;
		p->cap = cap;
	}
	p->owned[2 * p->n] = strdup(id ? id : "");
	p->owned[2 * p->n + 1] = strdup(subject ? subject : "");
	d = &p->rows[p->n++];
	*d = *tmpl;
	d->case_id = p->owned[2 * p->n - 2];
	d->subject = p->owned[2 * p->n - 1];
	return d->case_id && d->subject ? 0 : -ENOMEM;
}

static void
disc_page_free(struct disc_page *p)
{
	for (size_t i = 0; i < 2 * p->n; i++)
		free(p->owned[i]);
	free(p->owned);
	free(p->rows);
}

static int
disc_page_put(struct disc_page *p, struct store_batch *b)
{
	return store_batch_disclose(b, p->rows, p->n);
}

/* Writer thread: chains and inserts the op's rows after the log's head. */
static int
store_apply_disclose(struct store *s, struct store_batch *b,
                     struct store_op *op, int64_t now)
{
	sqlite3_stmt *st = s->wst[WST_DISC_HEAD];
	EVP_MD_CTX *md;
	uint8_t hash[32] = {0};
	int64_t seq = 0;
	char head[128];
	int rc;

	if (s->disc_known) {
		seq = s->disc_seq;
		memcpy(hash, s->disc_hash, 32);
		rc = SQLITE_OK;
	} else {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			seq = sqlite3_column_int64(st, 0);
			if (sqlite3_column_bytes(st, 1) == 32)
				memcpy(hash, sqlite3_column_blob(st, 1), 32);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
		sqlite3_reset(st);
	}
	if (rc != SQLITE_OK) {
		store_batch_fail(b, store_code(rc), "disclosure log: %s",
		                 sqlite3_errmsg(s->wdb));
		return rc;
	}
	/* one digest context for the op's rows, not one per row */
	md = EVP_MD_CTX_new();
	if (md == NULL) {
		store_batch_fail(b, -ENOMEM, "disclosure log: out of memory");
		return SQLITE_NOMEM;
	}
	for (size_t i = 0; i < op->u.disc.n;) {
		/* STORE_DISC_ROWS rows to a statement while that many are
		 * left, then one at a time */
		size_t rows = op->u.disc.n - i >= STORE_DISC_ROWS
		                      ? STORE_DISC_ROWS
		                      : 1;
		uint8_t hashes[STORE_DISC_ROWS][32];

		st = s->wst[rows > 1 ? WST_DISC_INSERT_MANY : WST_DISC_INSERT];
		for (size_t k = 0; k < rows; k++, i++) {
			const struct store_disclosure *d = &op->u.disc.rows[i];
			int p = (int)k * 9;

			seq++;
			if (store_disclosure_hash_ctx(md, hash, seq, d, hash) !=
			    0) {
				sqlite3_clear_bindings(st);
				EVP_MD_CTX_free(md);
				store_batch_fail(b, -ENOMEM,
				                 "disclosure log: SHA-256 "
				                 "failed");
				return SQLITE_NOMEM;
			}
			memcpy(hashes[k], hash, 32);
			sqlite3_bind_int64(st, p + 1, seq);
			sqlite3_bind_int64(st, p + 2, d->at);
			sqlite3_bind_text(st, p + 3, d->token_id, -1,
			                  SQLITE_STATIC);
			sqlite3_bind_text(st, p + 4, d->role, -1,
			                  SQLITE_STATIC);
			sqlite3_bind_text(st, p + 5, d->scope, -1,
			                  SQLITE_STATIC);
			sqlite3_bind_text(st, p + 6, d->route, -1,
			                  SQLITE_STATIC);
			sqlite3_bind_text(st, p + 7, d->case_id, -1,
			                  SQLITE_STATIC);
			sqlite3_bind_text(st, p + 8, d->subject, -1,
			                  SQLITE_STATIC);
			sqlite3_bind_blob(st, p + 9, hashes[k], 32,
			                  SQLITE_STATIC);
		}
		rc = store_exec(s, st, &b->msg, "record a disclosure");
		sqlite3_clear_bindings(st);
		if (rc != SQLITE_OK) {
			EVP_MD_CTX_free(md);
			if (b->status == 0)
				b->status = store_code(rc);
			return rc;
		}
	}
	EVP_MD_CTX_free(md);
	/* the head, so that rows cut from the end are noticed */
	snprintf(head, sizeof(head), "%lld:", (long long)seq);
	for (int i = 0; i < 32; i++) {
		size_t n = strlen(head);

		head[n] = hexdigits[hash[i] >> 4];
		head[n + 1] = hexdigits[hash[i] & 15];
		head[n + 2] = '\0';
	}
	st = s->wst[WST_META_PUT];
	sqlite3_bind_text(st, 1, "disclosure_head", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, head, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, now);
	rc = store_exec(s, st, &b->msg, "record the disclosure head");
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_OK && b->status == 0)
		b->status = store_code(rc);
	if (rc == SQLITE_OK) {
		s->disc_known = 1;
		s->disc_seq = seq;
		memcpy(s->disc_hash, hash, 32);
	}
	return rc;
}

/* Pool thread: a page of the log, newest first, for the filters given. */
static int
store_read_disclosures(struct store_read *r, sqlite3 *db)
{
	char sql[768];
	size_t n;
	sqlite3_stmt *st = NULL;
	json_t *a = NULL, *next;
	int rc;

	n = (size_t)snprintf(sql, sizeof(sql),
	                     "SELECT seq, at, token_id, role, scope, route,"
	                     " case_id, subject FROM disclosures"
	                     " WHERE seq < ?1 AND at >= ?2");
	if (r->fstr[0])
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		                      " AND subject = ?3");
	if (r->fstr[1])
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		                      " AND case_id = ?4");
	if (r->fstr[2])
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
		                      " AND token_id = ?5");
	snprintf(sql + n, sizeof(sql) - n, " ORDER BY seq DESC LIMIT ?6");
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return store_code(rc);
	}
	sqlite3_bind_int64(st, 1, r->after > 0 ? r->after : INT64_MAX);
	sqlite3_bind_int64(st, 2, r->now);
	for (int i = 0; i < 3; i++)
		if (r->fstr[i])
			sqlite3_bind_text(st, 3 + i, r->fstr[i], -1,
			                  SQLITE_STATIC);
	sqlite3_bind_int(st, 6, r->limit + 1);
	rc = store_rows_json(st, &a);
	sqlite3_finalize(st);
	if (rc != 0)
		return rc;
	if (json_array_size(a) > (size_t)r->limit) {
		json_array_remove(a, (size_t)r->limit);
		next = json_object_get(json_array_get(a, (size_t)r->limit - 1),
		                       "seq");
		json_incref(next);
	} else {
		next = json_null();
	}
	r->result = json_pack("{s:o, s:o}", "disclosures", a, "next", next);
	return r->result ? 0 : -ENOMEM;
}

int
store_disclosure_list(struct store *s, const struct store_disclosure_filter *f,
                      store_json_cb cb, void *data)
{
	const char *str[5] = {f->subject, f->case_id, f->reader};

	return store_q_read(s, STORE_READ_DISCLOSURES, NULL, str, f->since,
	                    f->limit < 1      ? 1
	                    : f->limit > 1000 ? 1000
	                                      : f->limit,
	                    f->before, cb, data);
}

int
store_audit_disclosures(struct store_audit *a,
                        int (*link)(const struct store_disclosure_link *l,
                                    void *arg),
                        void *arg, struct store_disclosure_head *head,
                        struct cairn_err *err)
{
	static const char sql[] =
	        "SELECT seq, at, token_id, role, scope, route, case_id,"
	        " subject, hash FROM disclosures ORDER BY seq";
	sqlite3_stmt *st = NULL, *m = NULL;
	int64_t have = 0;
	int rc;

	memset(head, 0, sizeof(*head));
	/* a database from before the log has none to walk */
	rc = store_int(a->db,
	               "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
	               " AND name = 'disclosures'",
	               &have);
	if (rc != SQLITE_OK)
		return store_fail(err, a->path, a->db, rc,
		                  "read the disclosure log");
	if (!have)
		return 0;
	head->exists = 1;
	rc = sqlite3_exec(a->db, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(a->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(a->db,
		                        "SELECT value FROM meta"
		                        " WHERE key = 'disclosure_head'",
		                        -1, &m, NULL);
	if (rc != SQLITE_OK) {
		rc = store_fail(err, a->path, a->db, rc,
		                "read the disclosure log");
		goto out;
	}
	rc = sqlite3_step(m);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(m, 0);

		head->recorded = 1;
		snprintf(head->value, sizeof(head->value), "%s", v ? v : "");
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_disclosure_link l = {
		        .seq = sqlite3_column_int64(st, 0),
		        .d =
		                {
		                        .at = sqlite3_column_int64(st, 1),
		                        .token_id = (const char *)
		                                sqlite3_column_text(st, 2),
		                        .role = (const char *)
		                                sqlite3_column_text(st, 3),
		                        .scope = (const char *)
		                                sqlite3_column_text(st, 4),
		                        .route = (const char *)
		                                sqlite3_column_text(st, 5),
		                        .case_id = (const char *)
		                                sqlite3_column_text(st, 6),
		                        .subject = (const char *)
		                                sqlite3_column_text(st, 7),
		                },
		        .hash = sqlite3_column_blob(st, 8),
		        .hash_len = (size_t)sqlite3_column_bytes(st, 8),
		};

		if (!l.d.token_id || !l.d.role || !l.d.scope || !l.d.route ||
		    !l.d.case_id || !l.d.subject) {
			rc = -ENOMEM;
			goto out;
		}
		if (link(&l, arg) != 0) {
			rc = 0;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = store_fail(err, a->path, a->db, rc,
		                "read the disclosure log");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(m);
	sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}
