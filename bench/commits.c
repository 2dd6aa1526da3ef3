/*
 * commits.c: durable commits per second through the store, with and
 * without group commit, and the floor the disk itself sets.
 *
 *   commits [-d SECONDS] [-c WRITERS] [-t TMPDIR]
 *
 * Three measurements, each on a fresh database in a temporary directory:
 *  (a) group commit: store_open with max_batch=0 and WRITERS closed-loop
 *      writers, each submitting a batch of one store_batch_meta_put (a
 *      unique key, a 100-byte value) and submitting the next from the done
 *      callback, that is, once the previous one is durable;
 *  (b) the same with max_batch=1, one transaction (and one fsync) per batch;
 *  (c) raw SQLite on one thread: one INSERT per transaction, WAL,
 *      synchronous=FULL, to show what the disk allows without batching.
 * Prints one line of key=value pairs; ratio is (a)/(b) and mean_batch the
 * mean batches per transaction in (a), from store_metrics_get;
 * maxrss_kb this process's peak memory (the store and its threads). The
 * temporary directory is removed at the end. Put TMPDIR on the disk whose
 * fsync you mean to measure: on tmpfs the numbers say nothing about
 * durability (a warning is printed).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <uv.h>

#include "common/cairn.h"
#include "store/store.h"

#define VALUE_LEN   100
#define MAX_WRITERS 100000
#define TMPFS_MAGIC 0x01021994

struct run;

struct writer {
	struct run *r;
	int id;
	uint64_t seq;
};

struct run {
	uv_loop_t loop;
	uv_timer_t timer;
	struct store *s;
	int stopping;
	int broken; /* could not build or submit a batch: give up */
	uint64_t done, failed;
	uint64_t start_ns, end_ns;
	char value[VALUE_LEN + 1];
	char last_msg[256];
};

struct result {
	double per_s;
	double mean_batch;
	uint64_t done, failed, commits;
};

static void writer_submit(struct writer *w);

static void
on_done(int status, const char *msg, void *data)
{
	struct writer *w = data;
	struct run *r = w->r;

	if (r->stopping)
		return; /* completed after the window, during store_close */
	if (status < 0) {
		r->failed++;
		snprintf(r->last_msg, sizeof(r->last_msg), "%s: %s",
		         cairn_strerror(status), msg ? msg : "");
	} else {
		r->done++;
	}
	writer_submit(w);
}

static void
writer_submit(struct writer *w)
{
	struct run *r = w->r;
	struct store_batch *b;
	char key[64];
	int rc;

	snprintf(key, sizeof(key), "bench/%d/%llu", w->id,
	         (unsigned long long)w->seq++);
	b = store_batch_new();
	if (b == NULL) {
		rc = -ENOMEM;
		goto broken;
	}
	rc = store_batch_meta_put(b, key, r->value);
	if (rc < 0) {
		store_batch_free(b);
		goto broken;
	}
	rc = store_batch_submit(r->s, b, on_done, w);
	if (rc < 0)
		goto broken;
	return;
broken:
	/* a writer that cannot submit would end the closed loop: stop */
	r->broken = 1;
	snprintf(r->last_msg, sizeof(r->last_msg), "submitting a batch: %s",
	         cairn_strerror(rc));
	if (!r->stopping) {
		r->end_ns = uv_hrtime();
		r->stopping = 1;
		uv_stop(&r->loop);
	}
}

static void
on_timer(uv_timer_t *t)
{
	struct run *r = t->data;

	r->end_ns = uv_hrtime();
	r->stopping = 1;
	uv_stop(&r->loop);
}

/* Runs writers closed-loop writers against a fresh store at path for secs
 * seconds. Returns 0, or -1 when the store failed (a message is printed). */
static int
bench_store(const char *path, int max_batch, int writers, double secs,
            struct result *res)
{
	struct store_opts opts = {0};
	struct store_metrics m;
	struct cairn_err err = {0};
	struct writer *ws;
	struct run *r;
	char buf[1100];
	int i, rc, ret = 0;

	memset(res, 0, sizeof(*res));
	r = calloc(1, sizeof(*r));
	ws = calloc((size_t)writers, sizeof(*ws));
	if (r == NULL || ws == NULL) {
		fprintf(stderr, "commits: out of memory\n");
		free(r);
		free(ws);
		return -1;
	}
	memset(r->value, 'v', VALUE_LEN);
	r->value[VALUE_LEN] = '\0';
	rc = uv_loop_init(&r->loop);
	if (rc < 0) {
		fprintf(stderr, "commits: uv_loop_init: %s\n", uv_strerror(rc));
		free(r);
		free(ws);
		return -1;
	}
	opts.path = path;
	opts.max_batch = max_batch;
	rc = store_open(&r->loop, &opts, &r->s, &err);
	if (rc < 0) {
		cairn_err_format(&err, buf, sizeof(buf));
		fprintf(stderr, "commits: store_open %s: %s (%s)\n", path, buf,
		        cairn_strerror(rc));
		uv_loop_close(&r->loop);
		free(r);
		free(ws);
		return -1;
	}
	uv_timer_init(&r->loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, on_timer, (uint64_t)(secs * 1000 + 0.5), 0);

	r->start_ns = uv_hrtime();
	for (i = 0; i < writers && !r->stopping; i++) {
		ws[i].r = r;
		ws[i].id = i;
		writer_submit(&ws[i]);
	}
	uv_run(&r->loop, UV_RUN_DEFAULT);
	if (!r->stopping) {
		/* cannot happen while writers are in flight; be safe */
		r->end_ns = uv_hrtime();
		r->stopping = 1;
	}

	store_metrics_get(r->s, &m);
	store_close(r->s);
	uv_close((uv_handle_t *)&r->timer, NULL);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&r->loop);
	if (rc != 0) {
		fprintf(stderr,
		        "commits: uv_loop_close: %s (a handle was "
		        "left open)\n",
		        uv_strerror(rc));
		ret = -1;
	}

	res->done = r->done;
	res->failed = r->failed;
	res->commits = m.commits;
	res->per_s =
	        (double)r->done / ((double)(r->end_ns - r->start_ns) / 1e9);
	res->mean_batch =
	        m.batch_size.count
	                ? m.batch_size.sum / (double)m.batch_size.count
	                : 0.0;
	if (r->failed || r->broken) {
		fprintf(stderr, "commits: %s: %llu batches failed; last: %s\n",
		        path, (unsigned long long)r->failed, r->last_msg);
		ret = -1;
	}
	free(ws);
	free(r);
	return ret;
}

/* One thread, one INSERT per transaction, fsync at every COMMIT. Returns
 * transactions per second, or -1 (a message is printed). */
static double
bench_raw(const char *path, double secs)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL, *begin = NULL, *commit = NULL;
	uint64_t start, now, deadline, n = 0;
	char key[64], value[VALUE_LEN + 1];
	const char *what;
	double rate = -1;

	memset(value, 'v', VALUE_LEN);
	value[VALUE_LEN] = '\0';
	what = "open";
	if (sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	                    NULL) != SQLITE_OK)
		goto out;
	what = "schema";
	if (sqlite3_exec(
	            db,
	            "PRAGMA journal_mode=WAL;"
	            "PRAGMA synchronous=FULL;"
	            "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT NOT NULL);",
	            NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	what = "prepare";
	if (sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL) ||
	    sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) ||
	    sqlite3_prepare_v2(db, "INSERT INTO kv(k, v) VALUES (?1, ?2)", -1,
	                       &ins, NULL))
		goto out;

	start = uv_hrtime();
	deadline = start + (uint64_t)(secs * 1e9);
	do {
		snprintf(key, sizeof(key), "raw/%llu", (unsigned long long)n);
		what = "BEGIN";
		if (sqlite3_step(begin) != SQLITE_DONE)
			goto out;
		sqlite3_reset(begin);
		sqlite3_bind_text(ins, 1, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ins, 2, value, VALUE_LEN, SQLITE_STATIC);
		what = "INSERT";
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto out;
		sqlite3_reset(ins);
		what = "COMMIT";
		if (sqlite3_step(commit) != SQLITE_DONE)
			goto out;
		sqlite3_reset(commit);
		n++;
		now = uv_hrtime();
	} while (now < deadline);
	rate = (double)n / ((double)(now - start) / 1e9);
	what = NULL;
out:
	if (what != NULL)
		fprintf(stderr, "commits: raw sqlite %s: %s\n", what,
		        db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_finalize(begin);
	sqlite3_finalize(commit);
	sqlite3_finalize(ins);
	sqlite3_close(db);
	return rate;
}

/* Removes every file in dir (the store may leave -wal, -shm and others),
 * then dir itself. */
static void
rm_tree(const char *dir)
{
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (unlinkat(dirfd(d), de->d_name, 0) < 0)
				fprintf(stderr, "commits: unlink %s/%s: %s\n",
				        dir, de->d_name, strerror(errno));
		}
		closedir(d);
	}
	if (rmdir(dir) < 0)
		fprintf(stderr, "commits: rmdir %s: %s\n", dir,
		        strerror(errno));
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: commits [-d SECONDS] [-c WRITERS] [-t TMPDIR]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	double secs = 5, raw, ratio;
	int writers = 64, opt, bad = 0;
	struct result group, single;
	char dir[PATH_MAX], path[PATH_MAX + 16], *end;
	struct statfs sf;
	struct rusage ru;

	while ((opt = getopt(argc, argv, "d:c:t:h")) != -1) {
		switch (opt) {
		case 'd':
			secs = strtod(optarg, &end);
			if (end == optarg || *end || !(secs > 0) || secs > 3600)
				usage();
			break;
		case 'c':
			writers = atoi(optarg);
			if (writers < 1 || writers > MAX_WRITERS)
				usage();
			break;
		case 't':
			tmp = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";

	snprintf(dir, sizeof(dir), "%s/cairn-commits.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "commits: mkdtemp %s: %s\n", dir,
		        strerror(errno));
		return 1;
	}
	if (statfs(dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		fprintf(stderr,
		        "commits: warning: %s is on tmpfs; fsync is "
		        "free there, so these are not disk numbers\n",
		        dir);

	snprintf(path, sizeof(path), "%s/group.db", dir);
	bad |= bench_store(path, 0, writers, secs, &group);
	snprintf(path, sizeof(path), "%s/single.db", dir);
	bad |= bench_store(path, 1, writers, secs, &single);
	snprintf(path, sizeof(path), "%s/raw.db", dir);
	raw = bench_raw(path, secs);
	if (raw < 0)
		bad = -1;
	rm_tree(dir);

	ratio = single.per_s > 0 ? group.per_s / single.per_s : 0.0;
	printf("group_commit_per_s=%.1f single_commit_per_s=%.1f "
	       "raw_sqlite_txn_per_s=%.1f ratio=%.2f mean_batch=%.2f "
	       "single_mean_batch=%.2f group_txn=%llu single_txn=%llu "
	       "group_failed=%llu single_failed=%llu writers=%d "
	       "duration_s=%g maxrss_kb=%ld\n",
	       group.per_s, single.per_s, raw, ratio, group.mean_batch,
	       single.mean_batch, (unsigned long long)group.commits,
	       (unsigned long long)single.commits,
	       (unsigned long long)group.failed,
	       (unsigned long long)single.failed, writers, secs,
	       getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1L);
	return bad ? 1 : 0;
}
