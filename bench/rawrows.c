/*
 * rawrows.c: the physical floor for Cairn's application figure: raw SQLite
 * writing the very rows a student application writes, with the same schema
 * and durability, batched like cairnd's group commit batches them.
 *
 *   rawrows -s SOURCE_DB -b APPS_PER_TXN [-d SECONDS] [-t TMPDIR]
 *           [-k CAMPUSES]
 *
 * SOURCE_DB is the database of a run of bench/apps (cairnd stopped or not:
 * it is opened read-only). From it this program takes:
 *
 *  - the schema: every table and index, in the order they were made, so
 *    the tables, columns, indexes and constraints are cairnd's own;
 *  - one submitted student_application with CAMPUSES children, as the run
 *    left it: its 1 + CAMPUSES case rows, and every row of history, timers,
 *    outbox and alerts that names one of those cases.
 *
 * Then, in a fresh database in a temporary directory under TMPDIR (WAL,
 * synchronous=FULL, as store_open sets them), one thread writes copies of
 * that application over and over, APPS_PER_TXN applications to a
 * transaction (BEGIN IMMEDIATE ... COMMIT, so one fsync each): each copy
 * inserts the same rows with new case ids of the same length (text that
 * held an old id holds the new one, so every row has the same size), and
 * updates the parent once, as the submit does after the create. Rows whose
 * id is an INTEGER PRIMARY KEY (outbox, alerts) get a new rowid.
 *
 * What it leaves out, so the floor stays a floor: the JSON, the engine,
 * the hash chain's SHA-256, HTTP, and the read of the case before an event.
 *
 * It prints one line of key=value pairs:
 *
 *   apps_per_s=.. rows_per_s=.. txn_per_s=.. rows_per_app=..
 *   bytes_per_app=.. apps_per_txn=.. apps=.. duration_s=..
 *   template=<parent id> tables=cases:5,history:10,...
 *
 * Exit status 0, 1 when the source has no such application or a write
 * fails, 2 for bad usage. The temporary directory is removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_IDS    16 /* the parent and its children */
#define MAX_ROWS   512
#define MAX_COLS   32
#define MAX_SUBS   8 /* old ids found in one text value */
#define MAX_TABLES 8

/* the tables an application writes that name its cases */
static const char *const child_tables[] = {"history", "timers", "outbox",
                                           "alerts"};
#define N_CHILD_TABLES (sizeof(child_tables) / sizeof(child_tables[0]))

struct sub {
	size_t off;
	int id; /* index into the template's ids */
};

struct val {
	int type; /* SQLITE_INTEGER, _FLOAT, _TEXT, _BLOB, _NULL */
	sqlite3_int64 i;
	double d;
	char *p; /* text (copied, NUL-ended) or blob */
	int n;
	struct sub subs[MAX_SUBS];
	int nsubs;
};

struct row {
	int table; /* index into tables[] */
	struct val v[MAX_COLS];
};

struct table {
	char name[32];
	char *cols[MAX_COLS]; /* the columns an INSERT names */
	int ncols;
	int rowid_col; /* an INTEGER PRIMARY KEY column, bound NULL; -1 */
	sqlite3_stmt *ins;
	int rows; /* rows of the template */
};

static struct table tables[MAX_TABLES];
static int ntables;
static struct row rows[MAX_ROWS];
static int nrows;
static char ids[MAX_IDS][64];
static size_t idlen[MAX_IDS];
static int nids;
static size_t app_bytes;

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("rawrows: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Records where each old id occurs in text value v. */
static void
find_subs(struct val *v)
{
	for (int k = 0; k < nids; k++) {
		const char *p = v->p;

		while ((p = strstr(p, ids[k])) != NULL && v->nsubs < MAX_SUBS) {
			v->subs[v->nsubs].off = (size_t)(p - v->p);
			v->subs[v->nsubs].id = k;
			v->nsubs++;
			p += idlen[k];
		}
	}
}

/* The columns of table t an INSERT can name (not generated ones). */
static void
table_columns(sqlite3 *src, struct table *t)
{
	char sql[128];
	sqlite3_stmt *st;
	int pks = 0, pk_int = -1;

	snprintf(sql, sizeof(sql), "PRAGMA table_xinfo(\"%s\")", t->name);
	if (sqlite3_prepare_v2(src, sql, -1, &st, NULL) != SQLITE_OK)
		die("%s: %s", sql, sqlite3_errmsg(src));
	t->ncols = 0;
	t->rowid_col = -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *type = (const char *)sqlite3_column_text(st, 2);
		int pk = sqlite3_column_int(st, 5);
		int hidden = sqlite3_column_int(st, 6);

		if (hidden != 0)
			continue; /* generated: SQLite computes it */
		if (t->ncols == MAX_COLS)
			die("table %s has too many columns", t->name);
		if (pk > 0) {
			pks++;
			if (type && !strcasecmp(type, "INTEGER"))
				pk_int = t->ncols;
		}
		t->cols[t->ncols++] = strdup(name);
	}
	sqlite3_finalize(st);
	if (pks == 1 && pk_int >= 0)
		t->rowid_col = pk_int;
}

static int
table_index(sqlite3 *src, const char *name)
{
	for (int i = 0; i < ntables; i++)
		if (!strcmp(tables[i].name, name))
			return i;
	if (ntables == MAX_TABLES)
		die("too many tables");
	snprintf(tables[ntables].name, sizeof(tables[ntables].name), "%s",
	         name);
	table_columns(src, &tables[ntables]);
	return ntables++;
}

/* Appends the rows that `SELECT cols FROM table WHERE where` returns, the
 * ?1 of where bound to id (or nothing when id is NULL). */
static void
take_rows(sqlite3 *src, const char *name, const char *where, const char *id)
{
	int ti = table_index(src, name);
	struct table *t = &tables[ti];
	char sql[1024];
	size_t off;
	sqlite3_stmt *st;

	off = (size_t)snprintf(sql, sizeof(sql), "SELECT ");
	for (int c = 0; c < t->ncols; c++)
		off += (size_t)snprintf(sql + off, sizeof(sql) - off,
		                        "%s\"%s\"", c ? ", " : "", t->cols[c]);
	snprintf(sql + off, sizeof(sql) - off, " FROM \"%s\" WHERE %s", name,
	         where);
	if (sqlite3_prepare_v2(src, sql, -1, &st, NULL) != SQLITE_OK)
		die("%s: %s", sql, sqlite3_errmsg(src));
	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct row *r;

		if (nrows == MAX_ROWS)
			die("the application has more than %d rows", MAX_ROWS);
		r = &rows[nrows++];
		r->table = ti;
		t->rows++;
		for (int c = 0; c < t->ncols; c++) {
			struct val *v = &r->v[c];

			v->type = sqlite3_column_type(st, c);
			switch (v->type) {
			case SQLITE_INTEGER:
				v->i = sqlite3_column_int64(st, c);
				app_bytes += 8;
				break;
			case SQLITE_FLOAT:
				v->d = sqlite3_column_double(st, c);
				app_bytes += 8;
				break;
			case SQLITE_TEXT:
				v->n = sqlite3_column_bytes(st, c);
				v->p = strdup((const char *)sqlite3_column_text(
				        st, c));
				if (v->p == NULL)
					die("out of memory");
				find_subs(v);
				app_bytes += (size_t)v->n;
				break;
			case SQLITE_BLOB:
				v->n = sqlite3_column_bytes(st, c);
				v->p = malloc((size_t)v->n + 1);
				if (v->p == NULL)
					die("out of memory");
				memcpy(v->p, sqlite3_column_blob(st, c),
				       (size_t)v->n);
				app_bytes += (size_t)v->n;
				break;
			default:
				break;
			}
		}
	}
	sqlite3_finalize(st);
}

/* Picks the newest submitted application with ncampus children and reads
 * its rows. */
static void
load_template(sqlite3 *src, int ncampus)
{
	sqlite3_stmt *st;
	char parent[64];

	if (sqlite3_prepare_v2(
	            src,
	            "SELECT p.id FROM cases p WHERE p.parent_id IS NULL AND "
	            "p.workflow = 'student_application' AND "
	            "p.status != 'draft' AND (SELECT count(*) FROM cases k "
	            "WHERE k.parent_id = p.id) = ?1 "
	            "ORDER BY p.created_at DESC LIMIT 1",
	            -1, &st, NULL) != SQLITE_OK)
		die("%s (is the source a Cairn database?)",
		    sqlite3_errmsg(src));
	sqlite3_bind_int(st, 1, ncampus);
	if (sqlite3_step(st) != SQLITE_ROW)
		die("no submitted student_application with %d campuses in the "
		    "source database",
		    ncampus);
	snprintf(parent, sizeof(parent), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);

	/* the ids first, so text values can be searched for them */
	snprintf(ids[nids], sizeof(ids[0]), "%s", parent);
	idlen[nids] = strlen(parent);
	nids++;
	if (sqlite3_prepare_v2(src,
	                       "SELECT id FROM cases WHERE parent_id = ?1 "
	                       "ORDER BY id",
	                       -1, &st, NULL) != SQLITE_OK)
		die("%s", sqlite3_errmsg(src));
	sqlite3_bind_text(st, 1, parent, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW && nids < MAX_IDS) {
		snprintf(ids[nids], sizeof(ids[0]), "%s",
		         sqlite3_column_text(st, 0));
		idlen[nids] = strlen(ids[nids]);
		nids++;
	}
	sqlite3_finalize(st);
	for (int k = 0; k < nids; k++)
		if (idlen[k] < 13)
			die("case id %s is too short to vary", ids[k]);

	/* the parent's row first, as it is created before its children */
	take_rows(src, "cases", "id = ?1", ids[0]);
	for (int k = 1; k < nids; k++)
		take_rows(src, "cases", "id = ?1", ids[k]);
	for (size_t t = 0; t < N_CHILD_TABLES; t++)
		for (int k = 0; k < nids; k++)
			take_rows(src, child_tables[t], "case_id = ?1", ids[k]);
}

/* Makes the schema of src in dst: tables, then indexes, in creation order. */
static void
copy_schema(sqlite3 *src, sqlite3 *dst)
{
	static const char *const kinds[] = {"table", "index"};
	sqlite3_stmt *st;

	for (int k = 0; k < 2; k++) {
		if (sqlite3_prepare_v2(src,
		                       "SELECT sql FROM sqlite_master WHERE "
		                       "type = ?1 AND sql IS NOT NULL AND name "
		                       "NOT LIKE 'sqlite_%' ORDER BY rowid",
		                       -1, &st, NULL) != SQLITE_OK)
			die("%s", sqlite3_errmsg(src));
		sqlite3_bind_text(st, 1, kinds[k], -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *sql =
			        (const char *)sqlite3_column_text(st, 0);

			if (sqlite3_exec(dst, sql, NULL, NULL, NULL) !=
			    SQLITE_OK)
				die("%s: %s", sql, sqlite3_errmsg(dst));
		}
		sqlite3_finalize(st);
	}
}

static void
prepare_inserts(sqlite3 *dst)
{
	for (int i = 0; i < ntables; i++) {
		struct table *t = &tables[i];
		char sql[1024];
		size_t off;

		off = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO \"%s\" (",
		                       t->name);
		for (int c = 0; c < t->ncols; c++)
			off += (size_t)snprintf(sql + off, sizeof(sql) - off,
			                        "%s\"%s\"", c ? ", " : "",
			                        t->cols[c]);
		off += (size_t)snprintf(sql + off, sizeof(sql) - off,
		                        ") VALUES (");
		for (int c = 0; c < t->ncols; c++)
			off += (size_t)snprintf(sql + off, sizeof(sql) - off,
			                        "%s?%d", c ? ", " : "", c + 1);
		snprintf(sql + off, sizeof(sql) - off, ")");
		if (sqlite3_prepare_v2(dst, sql, -1, &t->ins, NULL) !=
		    SQLITE_OK)
			die("%s: %s", sql, sqlite3_errmsg(dst));
	}
}

/* The new id k of application number seq: the old id with its last 12
 * characters replaced by a counter, so it keeps its length and, like a
 * UUIDv7, sorts after the ones before it. */
static void
new_id(int k, uint64_t seq, char *out)
{
	size_t n = idlen[k];

	memcpy(out, ids[k], n);
	snprintf(out + n - 12, 13, "%012llx",
	         (unsigned long long)(seq * MAX_IDS + (uint64_t)k));
}

/* Writes one copy of the application. Returns 0, or -1 after a message. */
static int
write_app(sqlite3 *dst, sqlite3_stmt *upd, uint64_t seq, char *scratch)
{
	char nid[MAX_IDS][64];

	for (int k = 0; k < nids; k++)
		new_id(k, seq, nid[k]);
	for (int r = 0; r < nrows; r++) {
		struct row *row = &rows[r];
		struct table *t = &tables[row->table];
		sqlite3_stmt *st = t->ins;
		size_t used = 0;

		for (int c = 0; c < t->ncols; c++) {
			struct val *v = &row->v[c];

			if (c == t->rowid_col) {
				sqlite3_bind_null(st, c + 1);
				continue;
			}
			switch (v->type) {
			case SQLITE_INTEGER:
				sqlite3_bind_int64(st, c + 1, v->i);
				break;
			case SQLITE_FLOAT:
				sqlite3_bind_double(st, c + 1, v->d);
				break;
			case SQLITE_TEXT:
				if (v->nsubs == 0) {
					sqlite3_bind_text(st, c + 1, v->p, v->n,
					                  SQLITE_STATIC);
					break;
				}
				/* a copy with the new ids in place */
				memcpy(scratch + used, v->p, (size_t)v->n);
				for (int s = 0; s < v->nsubs; s++)
					memcpy(scratch + used + v->subs[s].off,
					       nid[v->subs[s].id],
					       idlen[v->subs[s].id]);
				sqlite3_bind_text(st, c + 1, scratch + used,
				                  v->n, SQLITE_STATIC);
				used += (size_t)v->n;
				break;
			case SQLITE_BLOB:
				sqlite3_bind_blob(st, c + 1, v->p, v->n,
				                  SQLITE_STATIC);
				break;
			default:
				sqlite3_bind_null(st, c + 1);
			}
		}
		if (sqlite3_step(st) != SQLITE_DONE) {
			fprintf(stderr, "rawrows: insert into %s: %s\n",
			        t->name, sqlite3_errmsg(dst));
			sqlite3_reset(st);
			return -1;
		}
		sqlite3_reset(st);
	}
	/* the submit moves the parent the create made */
	sqlite3_bind_text(upd, 1, nid[0], (int)idlen[0], SQLITE_STATIC);
	if (sqlite3_step(upd) != SQLITE_DONE) {
		fprintf(stderr, "rawrows: update: %s\n", sqlite3_errmsg(dst));
		sqlite3_reset(upd);
		return -1;
	}
	sqlite3_reset(upd);
	return 0;
}

static void
rm_tree(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

static void
usage(void)
{
	fprintf(stderr, "usage: rawrows -s SOURCE_DB -b APPS_PER_TXN "
	                "[-d SECONDS] [-t TMPDIR] [-k CAMPUSES]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *srcpath = NULL, *tmp = getenv("TMPDIR");
	double secs = 5, batch = 0, t0, t1, deadline;
	int ncampus = 4, opt, bad = 0, per_txn;
	char dir[PATH_MAX], path[PATH_MAX + 16], *end, *scratch;
	sqlite3 *src, *dst;
	sqlite3_stmt *begin, *commit, *upd;
	uint64_t apps = 0, txns = 0;
	size_t text_total = 0;
	double carry = 0;

	while ((opt = getopt(argc, argv, "s:b:d:t:k:h")) != -1) {
		switch (opt) {
		case 's':
			srcpath = optarg;
			break;
		case 'b':
			batch = strtod(optarg, &end);
			if (end == optarg || *end || !(batch >= 1) ||
			    batch > 100000)
				usage();
			break;
		case 'd':
			secs = strtod(optarg, &end);
			if (end == optarg || *end || !(secs > 0) || secs > 3600)
				usage();
			break;
		case 't':
			tmp = optarg;
			break;
		case 'k':
			ncampus = atoi(optarg);
			if (ncampus < 1 || ncampus > MAX_IDS - 1)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || srcpath == NULL || batch < 1)
		usage();
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";

	if (sqlite3_open_v2(srcpath, &src, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		die("%s: %s", srcpath, sqlite3_errmsg(src));
	sqlite3_busy_timeout(src, 10000);
	load_template(src, ncampus);

	snprintf(dir, sizeof(dir), "%s/cairn-rawrows.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		die("mkdtemp %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/raw.db", dir);
	if (sqlite3_open_v2(path, &dst,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	                    NULL) != SQLITE_OK ||
	    sqlite3_exec(dst,
	                 "PRAGMA journal_mode = WAL; PRAGMA synchronous = "
	                 "FULL; PRAGMA foreign_keys = ON",
	                 NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "rawrows: %s: %s\n", path, sqlite3_errmsg(dst));
		rm_tree(dir);
		return 1;
	}
	copy_schema(src, dst);
	sqlite3_close(src);
	prepare_inserts(dst);
	if (sqlite3_prepare_v2(dst, "BEGIN IMMEDIATE", -1, &begin, NULL) ||
	    sqlite3_prepare_v2(dst, "COMMIT", -1, &commit, NULL) ||
	    sqlite3_prepare_v2(dst,
	                       "UPDATE cases SET revision = revision + 1, "
	                       "updated_at = updated_at + 1 WHERE id = ?1",
	                       -1, &upd, NULL))
		die("prepare: %s", sqlite3_errmsg(dst));
	for (int r = 0; r < nrows; r++)
		for (int c = 0; c < tables[rows[r].table].ncols; c++)
			if (rows[r].v[c].type == SQLITE_TEXT)
				text_total += (size_t)rows[r].v[c].n;
	scratch = malloc(text_total + 1);
	if (scratch == NULL)
		die("out of memory");

	/* a fractional batch (say 15.4 applications a commit) alternates
	 * between the two whole sizes around it */
	t0 = now_s();
	deadline = t0 + secs;
	do {
		carry += batch;
		per_txn = (int)carry;
		carry -= per_txn;
		if (sqlite3_step(begin) != SQLITE_DONE) {
			fprintf(stderr, "rawrows: BEGIN: %s\n",
			        sqlite3_errmsg(dst));
			bad = 1;
			break;
		}
		sqlite3_reset(begin);
		for (int a = 0; a < per_txn && !bad; a++)
			bad = write_app(dst, upd, apps + (uint64_t)a,
			                scratch) != 0;
		if (bad)
			break;
		if (sqlite3_step(commit) != SQLITE_DONE) {
			fprintf(stderr, "rawrows: COMMIT: %s\n",
			        sqlite3_errmsg(dst));
			bad = 1;
			break;
		}
		sqlite3_reset(commit);
		apps += (uint64_t)per_txn;
		txns++;
		t1 = now_s();
	} while (t1 < deadline);
	t1 = now_s();

	sqlite3_finalize(begin);
	sqlite3_finalize(commit);
	sqlite3_finalize(upd);
	for (int i = 0; i < ntables; i++)
		sqlite3_finalize(tables[i].ins);
	sqlite3_close(dst);
	rm_tree(dir);
	free(scratch);
	if (bad)
		return 1;

	printf("apps_per_s=%.1f rows_per_s=%.1f txn_per_s=%.1f "
	       "rows_per_app=%d bytes_per_app=%zu apps_per_txn=%.2f apps=%llu "
	       "duration_s=%.3f template=%s tables=",
	       (double)apps / (t1 - t0),
	       (double)apps * (double)(nrows + 1) / (t1 - t0),
	       (double)txns / (t1 - t0), nrows + 1, app_bytes,
	       txns ? (double)apps / (double)txns : 0.0,
	       (unsigned long long)apps, t1 - t0, ids[0]);
	for (int i = 0; i < ntables; i++)
		printf("%s%s:%d", i ? "," : "", tables[i].name, tables[i].rows);
	printf(",parent_update:1\n");
	return 0;
}
