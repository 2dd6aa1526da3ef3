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
};

/* Safe to call on the loop thread at any time; copies a consistent view. */
void store_metrics_get(struct store *s, struct store_metrics *out);

#endif
