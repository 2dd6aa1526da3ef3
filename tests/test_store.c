/*
 * test_store.c: the store against real files: schema creation and
 * migration guards, refusal of newer, garbage and corrupt databases, token
 * writes and reads, group commit with batches failing alone, durability
 * seen from a second connection, the size cap and a full disk (a VFS shim
 * that fails WAL writes), callback order, and closing with work queued.
 *
 * Each test runs in its own temporary directory and checks that the loop
 * closes cleanly, so a leaked handle or request fails the test.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "../store/store.h"

struct fixture {
	char dir[64];
	char path[128];
	uv_loop_t loop;
	struct store *s;
	struct cairn_err err;
};

static void
fx_init(struct fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/cairn-store-XXXXXX");
	cr_assert(mkdtemp(fx->dir) != NULL);
	snprintf(fx->path, sizeof(fx->path), "%s/cairn.db", fx->dir);
	cr_assert_eq(uv_loop_init(&fx->loop), 0);
}

static int
fx_open_opts(struct fixture *fx, const struct store_opts *o)
{
	struct store_opts opts = *o;

	opts.path = fx->path;
	memset(&fx->err, 0, sizeof(fx->err));
	return store_open(&fx->loop, &opts, &fx->s, &fx->err);
}

static void
fx_open(struct fixture *fx)
{
	struct store_opts o = {0};
	int rc = fx_open_opts(fx, &o);

	cr_assert_eq(rc, 0, "store_open: %d %s", rc, fx->err.msg);
	cr_assert(fx->s != NULL);
}

/* Closes the store and runs the loop until its handles are gone. */
static void
fx_close_store(struct fixture *fx)
{
	store_close(fx->s);
	fx->s = NULL;
	cr_assert_eq(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
}

static void
fx_fini(struct fixture *fx)
{
	struct dirent *de;
	char p[512];
	DIR *d;

	if (fx->s != NULL)
		fx_close_store(fx);
	cr_assert_eq(uv_loop_close(&fx->loop), 0);
	d = opendir(fx->dir);
	cr_assert(d != NULL);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", fx->dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	cr_assert_eq(rmdir(fx->dir), 0);
}

static void
mk_token(struct store_token *t, int i)
{
	int j;

	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "tok_%016x", (unsigned)i);
	for (j = 0; j < 32; j++)
		t->hash[j] = (uint8_t)(j * 7 + 1);
	memcpy(t->hash, &i, sizeof(i)); /* distinct per i */
	snprintf(t->role, sizeof(t->role), "%s", i % 2 ? "admin" : "counselor");
	snprintf(t->scope, sizeof(t->scope), "%s", i % 2 ? "" : "caseload:7");
	snprintf(t->label, sizeof(t->label), "token %d", i);
	t->created_at = 1700000000000LL + i;
}

static int
put_meta_sync(struct fixture *fx, const char *k, const char *v, char *msg,
              size_t len)
{
	struct store_batch *b = store_batch_new();

	cr_assert(b != NULL);
	cr_assert_eq(store_batch_meta_put(b, k, v), 0);
	return store_batch_commit_sync(fx->s, b, msg, len);
}

static int
create_token_sync(struct fixture *fx, int i)
{
	struct store_batch *b = store_batch_new();
	struct store_token t;
	char msg[256];
	int rc;

	mk_token(&t, i);
	cr_assert_eq(store_batch_token_create(b, &t), 0);
	rc = store_batch_commit_sync(fx->s, b, msg, sizeof(msg));
	cr_assert_eq(rc, 0, "create token %d: %s", i, msg);
	return rc;
}

/* A second connection onto the file, as an operator's sqlite3 would be. */
static sqlite3 *
side_open(const char *path)
{
	sqlite3 *db;

	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static int64_t
side_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK,
	             "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: %s", sql,
	             sqlite3_errmsg(db));
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
side_text(sqlite3 *db, const char *sql, char *out, size_t len)
{
	sqlite3_stmt *st;

	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK,
	             "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: %s", sql,
	             sqlite3_errmsg(db));
	snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

static void
side_exec(sqlite3 *db, const char *sql)
{
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK,
	             "%s: %s", sql, sqlite3_errmsg(db));
}

/* Records what each batch's callback saw. */
#define REC_MAX 256
struct rec {
	int n;
	int order[REC_MAX];
	int status[REC_MAX];
	char msg[REC_MAX][256];
};

struct rec_arg {
	struct rec *r;
	int i;
};

static void
rec_cb(int status, const char *msg, void *data)
{
	struct rec_arg *a = data;
	struct rec *r = a->r;

	cr_assert(r->n < REC_MAX);
	r->order[r->n] = a->i;
	r->status[a->i] = status;
	cr_assert_eq(status != 0, msg != NULL, "msg only on failure");
	snprintf(r->msg[a->i], sizeof(r->msg[0]), "%s", msg ? msg : "");
	r->n++;
}

static void
run_until(struct fixture *fx, const int *done)
{
	while (!*done)
		uv_run(&fx->loop, UV_RUN_ONCE);
}

/* --- open -------------------------------------------------------------- */

Test(store, fresh_open_creates_schema)
{
	struct fixture fx;
	struct store_metrics m;
	char mode[16];
	int64_t n = -1;
	sqlite3 *db;

	fx_init(&fx);
	fx_open(&fx);
	cr_assert_geq(store_schema_version(), 1);
	cr_assert_eq(store_token_count_sync(fx.s, &n), 0);
	cr_assert_eq(n, 0);
	store_metrics_get(fx.s, &m);
	cr_assert_gt(m.db_bytes, 0);
	cr_assert_eq(m.commits, 0);
	cr_assert_eq(m.queue_depth, 0);

	db = side_open(fx.path);
	cr_assert_eq(side_int(db, "PRAGMA user_version"),
	             store_schema_version());
	side_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
	cr_assert_str_eq(mode, "wal");
	cr_assert_eq(side_int(db, "SELECT count(*) FROM sqlite_schema"
	                          " WHERE type = 'table'"
	                          " AND name IN ('meta', 'tokens')"),
	             2);
	sqlite3_close(db);
	fx_fini(&fx);
}

Test(store, reopen_is_idempotent)
{
	struct fixture fx;
	char msg[256], v[64];
	int64_t n;
	sqlite3 *db;

	fx_init(&fx);
	fx_open(&fx);
	cr_assert_eq(put_meta_sync(&fx, "k", "v1", msg, sizeof(msg)), 0, "%s",
	             msg);
	create_token_sync(&fx, 1);
	fx_close_store(&fx);

	fx_open(&fx);
	cr_assert_eq(store_token_count_sync(fx.s, &n), 0);
	cr_assert_eq(n, 1);
	fx_close_store(&fx);
	fx_open(&fx);
	fx_close_store(&fx);

	db = side_open(fx.path);
	cr_assert_eq(side_int(db, "PRAGMA user_version"),
	             store_schema_version());
	side_text(db, "SELECT value FROM meta WHERE key = 'k'", v, sizeof(v));
	cr_assert_str_eq(v, "v1");
	sqlite3_close(db);
	fx_fini(&fx);
}

Test(store, newer_schema_is_refused)
{
	struct fixture fx;
	char sql[64];
	sqlite3 *db;
	int rc;

	fx_init(&fx);
	fx_open(&fx);
	fx_close_store(&fx);
	db = side_open(fx.path);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	         store_schema_version() + 1);
	side_exec(db, sql);
	sqlite3_close(db);

	rc = fx_open_opts(&fx, &(struct store_opts){0});
	cr_assert_eq(rc, CAIRN_ENEWER, "rc %d: %s", rc, fx.err.msg);
	cr_assert_null(fx.s);
	cr_assert(strstr(fx.err.msg, "newer") != NULL, "%s", fx.err.msg);
	cr_assert(strstr(fx.err.msg, fx.path) != NULL, "%s", fx.err.msg);
	fx_fini(&fx);
}

static void
write_file(const char *path, const void *buf, size_t len, long off)
{
	FILE *f = fopen(path, off < 0 ? "wb" : "r+b");

	cr_assert(f != NULL);
	if (off > 0)
		cr_assert_eq(fseek(f, off, SEEK_SET), 0);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

Test(store, garbage_file_is_refused)
{
	static const char *const texts[] = {
	        "this is not a database\n", NULL, /* 8 KiB of noise */
	};
	struct fixture fx;
	uint8_t noise[8192];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(noise); i++)
		noise[i] = (uint8_t)(i * 2654435761u >> 13);
	fx_init(&fx);
	for (i = 0; i < 2; i++) {
		if (texts[i] != NULL)
			write_file(fx.path, texts[i], strlen(texts[i]), -1);
		else
			write_file(fx.path, noise, sizeof(noise), -1);
		rc = fx_open_opts(&fx, &(struct store_opts){0});
		cr_assert_neq(rc, 0);
		cr_assert(rc == CAIRN_ECORRUPT || rc == CAIRN_ESTORE, "rc %d",
		          rc);
		cr_assert_null(fx.s);
		cr_assert(strstr(fx.err.msg, fx.path) != NULL, "%s",
		          fx.err.msg);
		cr_assert(strstr(fx.err.msg, "not a database") != NULL, "%s",
		          fx.err.msg);
	}
	fx_fini(&fx);
}

Test(store, corrupt_file_fails_quick_check)
{
	struct fixture fx;
	struct store_batch *b;
	struct store_token t;
	uint8_t junk[4096 * 3];
	char msg[256];
	int64_t pages, psize;
	sqlite3 *db;
	size_t j;
	int i, rc;

	fx_init(&fx);
	fx_open(&fx);
	b = store_batch_new();
	for (i = 0; i < 1000; i++) {
		mk_token(&t, i);
		cr_assert_eq(store_batch_token_create(b, &t), 0);
	}
	cr_assert_eq(store_batch_commit_sync(fx.s, b, msg, sizeof(msg)), 0,
	             "%s", msg);
	fx_close_store(&fx);

	db = side_open(fx.path);
	pages = side_int(db, "PRAGMA page_count");
	psize = side_int(db, "PRAGMA page_size");
	sqlite3_close(db);
	cr_assert_gt(pages, 20);
	for (j = 0; j < sizeof(junk); j++)
		junk[j] = (uint8_t)(j * 37 + 11);
	write_file(fx.path, junk, sizeof(junk), (long)(pages / 2 * psize));

	rc = fx_open_opts(&fx, &(struct store_opts){0});
	cr_assert(rc == CAIRN_ECORRUPT || rc == CAIRN_ESTORE, "rc %d: %s", rc,
	          fx.err.msg);
	cr_assert_null(fx.s);
	cr_assert(strstr(fx.err.msg, fx.path) != NULL, "%s", fx.err.msg);
	cr_assert_gt(strlen(fx.err.msg), strlen(fx.path) + 10, "%s",
	             fx.err.msg);
	fx_fini(&fx);
}

/* Corrupts the middle of a closed database file. */
static void
corrupt_middle(struct fixture *fx)
{
	uint8_t junk[4096 * 3];
	int64_t pages, psize;
	sqlite3 *db = side_open(fx->path);

	pages = side_int(db, "PRAGMA page_count");
	psize = side_int(db, "PRAGMA page_size");
	sqlite3_close(db);
	for (size_t j = 0; j < sizeof(junk); j++)
		junk[j] = (uint8_t)(j * 37 + 11);
	write_file(fx->path, junk, sizeof(junk), (long)(pages / 2 * psize));
}

static void
fill_tokens(struct fixture *fx)
{
	struct store_batch *b = store_batch_new();
	struct store_token t;
	char msg[256];

	for (int i = 0; i < 1000; i++) {
		mk_token(&t, i);
		cr_assert_eq(store_batch_token_create(b, &t), 0);
	}
	cr_assert_eq(store_batch_commit_sync(fx->s, b, msg, sizeof(msg)), 0,
	             "%s", msg);
}

/* A large file that was closed cleanly opens without the full check
 * (that is what keeps a restart of a million cases fast); after an
 * unclean stop the check runs and finds the damage. check_below = 1
 * makes this small file count as large. */
Test(store, large_files_are_checked_after_an_unclean_stop)
{
	struct fixture fx;
	struct store_opts big = {.check_below = 1};
	pid_t pid;
	int rc, st;

	fx_init(&fx);
	cr_assert_eq(fx_open_opts(&fx, &big), 0, "%s", fx.err.msg);
	fill_tokens(&fx);
	fx_close_store(&fx);
	corrupt_middle(&fx);
	rc = fx_open_opts(&fx, &big);
	cr_assert_eq(rc, 0, "a clean close should skip the check: %s",
	             fx.err.msg);
	fx_close_store(&fx);

	/* a process that dies with the store open leaves it unclean */
	fx_fini(&fx);
	fx_init(&fx);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		if (fx_open_opts(&fx, &big) != 0)
			_exit(1);
		fill_tokens(&fx);
		_exit(0); /* no store_close */
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	{
		/* fold the WAL in, as a later open would, then damage it */
		sqlite3 *db = side_open(fx.path);

		sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
		             NULL);
		sqlite3_close(db);
	}
	corrupt_middle(&fx);
	rc = fx_open_opts(&fx, &big);
	cr_assert(rc == CAIRN_ECORRUPT || rc == CAIRN_ESTORE, "rc %d: %s", rc,
	          fx.err.msg);
	fx_fini(&fx);
}

Test(store, unopenable_path_fails_cleanly)
{
	struct fixture fx;
	struct store_opts o = {0};
	int rc;

	fx_init(&fx);
	o.path = "/nonexistent-dir-for-cairn/x.db";
	rc = store_open(&fx.loop, &o, &fx.s, &fx.err);
	cr_assert_eq(rc, CAIRN_ESTORE);
	cr_assert(strstr(fx.err.msg, o.path) != NULL, "%s", fx.err.msg);
	fx_fini(&fx);
}

/* --- tokens ------------------------------------------------------------ */

struct find_res {
	int done, status;
	struct store_token t;
};

static void
find_cb(int status, const struct store_token *t, void *data)
{
	struct find_res *r = data;

	r->done = 1;
	r->status = status;
	cr_assert_eq(status == 0, t != NULL);
	if (t != NULL)
		r->t = *t;
}

static int
find_sync(struct fixture *fx, const uint8_t hash[32], struct store_token *out)
{
	struct find_res r = {0};

	cr_assert_eq(store_token_find(fx->s, hash, find_cb, &r), 0);
	run_until(fx, &r.done);
	if (out != NULL)
		*out = r.t;
	return r.status;
}

struct list_res {
	int done, status;
	size_t n;
	struct store_token *toks;
};

static void
list_cb(int status, const struct store_token *toks, size_t n, void *data)
{
	struct list_res *r = data;

	r->done = 1;
	r->status = status;
	r->n = n;
	r->toks = malloc((n ? n : 1) * sizeof(*toks));
	memcpy(r->toks, toks, n * sizeof(*toks));
}

Test(store, token_create_find_list_revoke)
{
	struct fixture fx;
	struct store_token t, got, a;
	struct list_res l = {0};
	struct store_batch *b;
	uint8_t nohash[32] = {0};
	char msg[256];
	int64_t n;
	int i;

	fx_init(&fx);
	fx_open(&fx);
	for (i = 0; i < 3; i++)
		create_token_sync(&fx, i);

	mk_token(&t, 2);
	cr_assert_eq(find_sync(&fx, t.hash, &got), 0);
	cr_assert_str_eq(got.id, t.id);
	cr_assert_eq(memcmp(got.hash, t.hash, 32), 0);
	cr_assert_str_eq(got.role, t.role);
	cr_assert_str_eq(got.scope, t.scope);
	cr_assert_str_eq(got.label, t.label);
	cr_assert_eq(got.created_at, t.created_at);
	cr_assert_eq(got.revoked_at, 0);
	cr_assert_eq(find_sync(&fx, nohash, NULL), CAIRN_ENOTFOUND);

	cr_assert_eq(store_token_list(fx.s, list_cb, &l), 0);
	run_until(&fx, &l.done);
	cr_assert_eq(l.status, 0);
	cr_assert_eq(l.n, 3);
	for (i = 0; i < 3; i++) {
		mk_token(&a, 2 - i); /* newest first */
		cr_assert_str_eq(l.toks[i].id, a.id);
	}
	free(l.toks);

	b = store_batch_new();
	cr_assert_eq(store_batch_token_revoke(b, t.id, 1800000000000LL), 0);
	cr_assert_eq(store_batch_commit_sync(fx.s, b, msg, sizeof(msg)), 0,
	             "%s", msg);
	cr_assert_eq(find_sync(&fx, t.hash, &got), 0);
	cr_assert_eq(got.revoked_at, 1800000000000LL);

	/* revoking twice: no *active* token with that id */
	b = store_batch_new();
	cr_assert_eq(store_batch_token_revoke(b, t.id, 1800000000001LL), 0);
	cr_assert_eq(store_batch_commit_sync(fx.s, b, msg, sizeof(msg)),
	             CAIRN_ENOTFOUND);
	cr_assert(strstr(msg, t.id) != NULL, "%s", msg);
	cr_assert_eq(find_sync(&fx, t.hash, &got), 0);
	cr_assert_eq(got.revoked_at, 1800000000000LL);

	cr_assert_eq(store_token_count_sync(fx.s, &n), 0);
	cr_assert_eq(n, 3);
	fx_fini(&fx);
}

Test(store, many_reads_share_a_small_pool)
{
	struct fixture fx;
	struct store_opts o = {.read_conns = 2};
	struct find_res r[40];
	struct store_token t;
	int i, done;

	fx_init(&fx);
	cr_assert_eq(fx_open_opts(&fx, &o), 0, "%s", fx.err.msg);
	for (i = 0; i < 4; i++)
		create_token_sync(&fx, i);
	memset(r, 0, sizeof(r));
	for (i = 0; i < 40; i++) {
		mk_token(&t, i % 8);
		cr_assert_eq(store_token_find(fx.s, t.hash, find_cb, &r[i]), 0);
	}
	cr_assert_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
	for (i = 0, done = 0; i < 40; i++) {
		done += r[i].done;
		cr_assert_eq(r[i].status, i % 8 < 4 ? 0 : CAIRN_ENOTFOUND);
	}
	cr_assert_eq(done, 40);
	fx_fini(&fx);
}

/* --- group commit ------------------------------------------------------ */

/*
 * Holds the database's write lock from a second connection while batches
 * are submitted, so the writer cannot commit any of them until it is
 * released: they land in at most two transactions (the writer may already
 * hold the first batch when the lock is taken away from it).
 */
static sqlite3 *
writer_block(const char *path)
{
	sqlite3 *db = side_open(path);

	side_exec(db, "BEGIN IMMEDIATE");
	return db;
}

static void
writer_unblock(sqlite3 *db)
{
	side_exec(db, "COMMIT");
	sqlite3_close(db);
}

Test(store, failing_batch_fails_alone_in_a_group)
{
	struct fixture fx;
	struct store_metrics m;
	struct store_batch *b;
	struct store_token t;
	struct rec r = {0};
	struct rec_arg args[5];
	sqlite3 *blk, *db;
	int i;

	fx_init(&fx);
	fx_open(&fx);
	blk = writer_block(fx.path);
	for (i = 0; i < 5; i++) {
		args[i] = (struct rec_arg){&r, i};
		b = store_batch_new();
		switch (i) {
		case 0:
			cr_assert_eq(store_batch_meta_put(b, "a", "1"), 0);
			break;
		case 2: /* an unknown id, after an op that succeeded */
			cr_assert_eq(store_batch_meta_put(b, "lost", "x"), 0);
			cr_assert_eq(store_batch_token_revoke(b, "tok_nope", 5),
			             0);
			break;
		default:
			mk_token(&t, i);
			cr_assert_eq(store_batch_token_create(b, &t), 0);
			break;
		}
		cr_assert_eq(store_batch_submit(fx.s, b, rec_cb, &args[i]), 0);
	}
	writer_unblock(blk);
	cr_assert_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);

	cr_assert_eq(r.n, 5);
	for (i = 0; i < 5; i++)
		cr_assert_eq(r.status[i], i == 2 ? CAIRN_ENOTFOUND : 0,
		             "batch %d: %d %s", i, r.status[i], r.msg[i]);
	cr_assert(strstr(r.msg[2], "tok_nope") != NULL, "%s", r.msg[2]);

	store_metrics_get(fx.s, &m);
	cr_assert_eq(m.batch_size.sum, 5.0);
	cr_assert_leq(m.batch_size.count, 2, "group commit did not happen");
	cr_assert_eq(m.commits, m.batch_size.count);
	cr_assert_eq(m.commit_secs.count, m.commits);
	cr_assert_eq(m.batches_ok, 4);
	cr_assert_eq(m.batches_failed, 1);
	cr_assert_eq(m.queue_depth, 0);
	cr_assert_eq(m.batch_size.bounds[0], 1.0);
	cr_assert_eq(m.batch_size.bounds[11], 2048.0);
	cr_assert_eq(m.commit_secs.bounds[0], 0.0005);
	cr_assert_eq(m.commit_secs.bounds[11], 2.5);
	cr_assert_eq(m.batch_size.counts[11], m.batch_size.count);

	db = side_open(fx.path);
	cr_assert_eq(side_int(db, "SELECT count(*) FROM tokens"), 3);
	cr_assert_eq(side_int(db, "SELECT count(*) FROM meta"), 1);
	sqlite3_close(db);
	fx_fini(&fx);
}

Test(store, duplicate_hash_conflicts_alone)
{
	struct fixture fx;
	struct store_batch *b;
	struct store_token t;
	struct rec r = {0};
	struct rec_arg args[3];
	int64_t n;
	sqlite3 *blk;
	int i;

	fx_init(&fx);
	fx_open(&fx);
	blk = writer_block(fx.path);
	for (i = 0; i < 3; i++) {
		args[i] = (struct rec_arg){&r, i};
		b = store_batch_new();
		mk_token(&t, i == 1 ? 0 : i);
		if (i == 1) /* same secret, another id */
			snprintf(t.id, sizeof(t.id), "tok_dup");
		cr_assert_eq(store_batch_token_create(b, &t), 0);
		cr_assert_eq(store_batch_submit(fx.s, b, rec_cb, &args[i]), 0);
	}
	writer_unblock(blk);
	cr_assert_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
	cr_assert_eq(r.status[0], 0, "%s", r.msg[0]);
	cr_assert_eq(r.status[1], CAIRN_ECONFLICT, "%s", r.msg[1]);
	cr_assert_eq(r.status[2], 0, "%s", r.msg[2]);
	cr_assert(strstr(r.msg[1], "tokens.hash") != NULL, "%s", r.msg[1]);
	cr_assert_eq(store_token_count_sync(fx.s, &n), 0);
	cr_assert_eq(n, 2);
	fx_fini(&fx);
}

Test(store, callbacks_run_in_submission_order)
{
	struct fixture fx;
	struct store_opts o = {.max_batch = 7};
	struct store_metrics m;
	struct store_batch *b;
	struct store_token t;
	static struct rec r;
	struct rec_arg args[200];
	char k[32];
	int i;

	fx_init(&fx);
	cr_assert_eq(fx_open_opts(&fx, &o), 0, "%s", fx.err.msg);
	for (i = 0; i < 200; i++) {
		args[i] = (struct rec_arg){&r, i};
		b = store_batch_new();
		if (i % 10 == 3) {
			cr_assert_eq(store_batch_token_revoke(b, "tok_x", 1),
			             0);
		} else if (i % 3 == 0) {
			mk_token(&t, i);
			cr_assert_eq(store_batch_token_create(b, &t), 0);
		} else {
			snprintf(k, sizeof(k), "k%d", i % 17);
			cr_assert_eq(store_batch_meta_put(b, k, "v"), 0);
		}
		cr_assert_eq(store_batch_submit(fx.s, b, rec_cb, &args[i]), 0);
	}
	cr_assert_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
	cr_assert_eq(r.n, 200);
	for (i = 0; i < 200; i++) {
		cr_assert_eq(r.order[i], i);
		cr_assert_eq(r.status[i], i % 10 == 3 ? CAIRN_ENOTFOUND : 0);
	}
	store_metrics_get(fx.s, &m);
	cr_assert_eq(m.batches_ok + m.batches_failed, 200);
	cr_assert_eq(m.batches_failed, 20);
	cr_assert_eq(m.batch_size.sum, 200.0);
	cr_assert_eq(m.batch_size.counts[3], m.batch_size.count,
	             "max_batch 7 exceeded"); /* bound 8 */
	cr_assert_geq(m.batch_size.count, 200 / 7);
	fx_fini(&fx);
}

/* --- durability -------------------------------------------------------- */

struct durable_arg {
	const char *path;
	int done;
};

/* Runs as the batch's callback: by now the row must be on disk for any
 * other connection to see. */
static void
durable_cb(int status, const char *msg, void *data)
{
	struct durable_arg *a = data;
	sqlite3 *db;

	cr_assert_eq(status, 0, "%s", msg);
	db = side_open(a->path);
	cr_assert_eq(side_int(db, "SELECT count(*) FROM tokens"
	                          " WHERE id = 'tok_0000000000000007'"),
	             1);
	cr_assert_eq(side_int(db, "SELECT count(*) FROM meta"
	                          " WHERE key = 'ready' AND value = 'yes'"),
	             1);
	sqlite3_close(db);
	a->done = 1;
}

Test(store, acknowledged_means_durable)
{
	struct fixture fx;
	struct durable_arg a = {0};
	struct store_batch *b;
	struct store_token t;

	fx_init(&fx);
	fx_open(&fx);
	a.path = fx.path;
	b = store_batch_new();
	mk_token(&t, 7);
	cr_assert_eq(store_batch_token_create(b, &t), 0);
	cr_assert_eq(store_batch_meta_put(b, "ready", "yes"), 0);
	cr_assert_eq(store_batch_submit(fx.s, b, durable_cb, &a), 0);
	run_until(&fx, &a.done);
	fx_fini(&fx);
}

/* --- full -------------------------------------------------------------- */

Test(store, size_cap_gives_efull_and_keeps_the_data)
{
	struct fixture fx;
	/* room for the schema and a few rows; the cap bites after that */
	struct store_opts o = {.max_db_bytes = 256 * 1024};
	struct store_metrics m;
	char big[6000], k[32], msg[512], sql[96];
	sqlite3 *db;
	int i, rc = 0, acked = 0;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fx_init(&fx);
	cr_assert_eq(fx_open_opts(&fx, &o), 0, "%s", fx.err.msg);
	for (i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "big%d", i);
		rc = put_meta_sync(&fx, k, big, msg, sizeof(msg));
		if (rc != 0)
			break;
		acked++;
	}
	cr_assert_eq(rc, CAIRN_EFULL, "rc %d: %s", rc, msg);
	cr_assert_gt(acked, 0);
	cr_assert(strstr(msg, "database or disk is full") != NULL, "%s", msg);
	cr_assert(strstr(msg, fx.path) != NULL, "%s", msg);
	store_metrics_get(fx.s, &m);
	cr_assert_leq(m.db_bytes - 0, 256 * 1024 + 4 * 1024 * 1024);
	cr_assert_geq(m.batches_failed, 1);

	/* what was acknowledged is there and the file is sound */
	db = side_open(fx.path);
	cr_assert_eq(side_int(db, "SELECT count(*) FROM meta"), acked);
	side_text(db, "PRAGMA quick_check", sql, sizeof(sql));
	cr_assert_str_eq(sql, "ok");
	sqlite3_close(db);

	/* a write that needs no new pages still goes through */
	cr_assert_eq(put_meta_sync(&fx, "big0", "small", msg, sizeof(msg)), 0,
	             "%s", msg);
	fx_close_store(&fx);

	/* lifting the cap lets writes continue */
	fx_open(&fx);
	cr_assert_eq(put_meta_sync(&fx, "after", big, msg, sizeof(msg)), 0,
	             "%s", msg);
	fx_close_store(&fx);
	db = side_open(fx.path);
	cr_assert_eq(side_int(db, "SELECT count(*) FROM meta"), acked + 1);
	side_text(db, "SELECT value FROM meta WHERE key = 'big0'", sql,
	          sizeof(sql));
	cr_assert_str_eq(sql, "small");
	sqlite3_close(db);
	fx_fini(&fx);
}

/*
 * A disk that fills up under the WAL: a VFS wrapping the default one whose
 * WAL writes fail with SQLITE_FULL while disk_full is set. COMMIT is where
 * that shows, so the whole transaction is lost and every batch in it must
 * fail; once space is back, writes work again.
 */
static sqlite3_vfs *shim_real;
static sqlite3_vfs shim_vfs;
static const sqlite3_io_methods *shim_real_io;
static sqlite3_io_methods shim_io;
static atomic_int shim_disk_full;

static int
shim_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	if (atomic_load(&shim_disk_full))
		return SQLITE_FULL;
	return shim_real_io->xWrite(f, buf, n, off);
}

static int
shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
          int *out)
{
	int rc = shim_real->xOpen(shim_real, name, f, flags, out);

	/* The file object is the real VFS's own; only its method table is
	 * swapped, for WAL files, so every other method sees what it
	 * expects. */
	if (rc == SQLITE_OK && f->pMethods != NULL &&
	    (flags & SQLITE_OPEN_WAL)) {
		shim_real_io = f->pMethods;
		shim_io = *f->pMethods;
		shim_io.xWrite = shim_write;
		f->pMethods = &shim_io;
	}
	return rc;
}

static void
shim_install(void)
{
	shim_real = sqlite3_vfs_find(NULL);
	cr_assert(shim_real != NULL);
	shim_vfs = *shim_real;
	shim_vfs.zName = "cairn-test-full";
	shim_vfs.xOpen = shim_open;
	cr_assert_eq(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK);
}

Test(store, disk_full_at_commit_fails_the_whole_group)
{
	struct fixture fx;
	struct store_metrics m;
	struct store_batch *b;
	struct rec r = {0};
	struct rec_arg args[4];
	char msg[512], k[16], v[64];
	sqlite3 *blk, *db;
	int i;

	shim_install();
	fx_init(&fx);
	fx_open(&fx);
	cr_assert_eq(put_meta_sync(&fx, "before", "1", msg, sizeof(msg)), 0,
	             "%s", msg);

	blk = writer_block(fx.path);
	atomic_store(&shim_disk_full, 1);
	for (i = 0; i < 4; i++) {
		args[i] = (struct rec_arg){&r, i};
		b = store_batch_new();
		snprintf(k, sizeof(k), "k%d", i);
		cr_assert_eq(store_batch_meta_put(b, k, "v"), 0);
		if (i == 2)
			cr_assert_eq(store_batch_token_revoke(b, "tok_no", 1),
			             0);
		cr_assert_eq(store_batch_submit(fx.s, b, rec_cb, &args[i]), 0);
	}
	writer_unblock(blk);
	cr_assert_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
	cr_assert_eq(r.n, 4);
	for (i = 0; i < 4; i++) {
		if (i == 2) /* it failed on its own first */
			cr_assert_eq(r.status[i], CAIRN_ENOTFOUND);
		else
			cr_assert_eq(r.status[i], CAIRN_EFULL, "%d: %d %s", i,
			             r.status[i], r.msg[i]);
		if (i != 2)
			cr_assert(strstr(r.msg[i], "database or disk is full"),
			          "%s", r.msg[i]);
	}
	store_metrics_get(fx.s, &m);
	cr_assert_eq(m.batches_failed, 4);

	atomic_store(&shim_disk_full, 0);
	cr_assert_eq(put_meta_sync(&fx, "after", "2", msg, sizeof(msg)), 0,
	             "%s", msg);
	db = side_open(fx.path);
	cr_assert_eq(side_int(db, "SELECT count(*) FROM meta"), 2);
	side_text(db, "PRAGMA quick_check", v, sizeof(v));
	cr_assert_str_eq(v, "ok");
	sqlite3_close(db);
	fx_fini(&fx);
}

/* --- close ------------------------------------------------------------- */

Test(store, close_commits_what_is_queued)
{
	struct fixture fx;
	struct store_batch *b;
	static struct rec r;
	struct rec_arg args[50];
	struct store *s;
	char k[16];
	int64_t n;
	sqlite3 *db;
	int i;

	fx_init(&fx);
	fx_open(&fx);
	for (i = 0; i < 50; i++) {
		args[i] = (struct rec_arg){&r, i};
		b = store_batch_new();
		snprintf(k, sizeof(k), "k%d", i);
		cr_assert_eq(store_batch_meta_put(b, k, "v"), 0);
		cr_assert_eq(store_batch_submit(fx.s, b, rec_cb, &args[i]), 0);
	}
	s = fx.s;
	store_close(s);
	cr_assert_eq(r.n, 50, "every callback runs inside store_close");
	for (i = 0; i < 50; i++) {
		cr_assert_eq(r.order[i], i);
		cr_assert_eq(r.status[i], 0, "%s", r.msg[i]);
	}

	/* until the loop runs, the handle (and the struct) are still there */
	b = store_batch_new();
	cr_assert_eq(store_batch_meta_put(b, "late", "v"), 0);
	cr_assert_eq(store_batch_submit(s, b, rec_cb, &args[0]), CAIRN_ECLOSED);
	cr_assert_eq(store_token_find(s, (uint8_t[32]){0}, find_cb, NULL),
	             CAIRN_ECLOSED);
	cr_assert_eq(store_token_count_sync(s, &n), CAIRN_ECLOSED);
	cr_assert_eq(r.n, 50);
	fx.s = NULL;
	cr_assert_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);

	db = side_open(fx.path);
	cr_assert_eq(side_int(db, "SELECT count(*) FROM meta"), 50);
	sqlite3_close(db);
	fx_fini(&fx);
}

struct closer {
	struct store *s;
	int calls;
};

static void
close_from_cb(int status, const char *msg, void *data)
{
	struct closer *c = data;

	cr_assert_eq(status, 0, "%s", msg);
	if (c->calls++ == 0)
		store_close(c->s);
}

Test(store, close_from_a_callback)
{
	struct fixture fx;
	struct closer c = {0};
	struct store_batch *b;
	int i;

	fx_init(&fx);
	fx_open(&fx);
	c.s = fx.s;
	for (i = 0; i < 10; i++) {
		b = store_batch_new();
		cr_assert_eq(store_batch_meta_put(b, "k", "v"), 0);
		cr_assert_eq(store_batch_submit(fx.s, b, close_from_cb, &c), 0);
	}
	fx.s = NULL;
	cr_assert_eq(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
	cr_assert_eq(c.calls, 10);
	fx_fini(&fx);
}

Test(store, batch_free_without_submit)
{
	struct store_batch *b = store_batch_new();
	struct store_token t;

	mk_token(&t, 1);
	cr_assert_eq(store_batch_token_create(b, &t), 0);
	cr_assert_eq(store_batch_token_revoke(b, "tok_1", 2), 0);
	cr_assert_eq(store_batch_meta_put(b, "k", "v"), 0);
	store_batch_free(b);
	store_batch_free(NULL);
}
