/*
 * test_faults.c: cairnd under the faults of issue 9, each with the
 * behaviour it owes:
 *
 * - the disk fills up (the database on a size-limited tmpfs; mounted when
 *   the test runs as root, skipped otherwise): writes answer 503
 *   storage-full with a clear message, reads that disclose no student's
 *   record go on (a record's read is refused: its disclosure cannot be
 *   logged), the file stays intact, and writing resumes once space
 *   returns;
 * - another process holds the database's write lock: at start-up and
 *   while running, writes wait up to the busy timeout and then answer 503
 *   storage-unavailable, the loop keeps serving, nothing is corrupted, and
 *   writing resumes once the lock is released;
 * - 10,000 idle connections: new requests are still answered promptly,
 *   cairnd's memory stays bounded, the connection over the limit gets 503;
 * - slowloris clients (headers a byte at a time): 408 after the request
 *   timeout, and other clients unaffected.
 *
 * The institution that hangs for minutes is in test_adapters_int.c, beside
 * the other outbox faults.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../common/cairn.h"
#include "harness.h"

/* PRAGMA integrity_check on the (stopped) daemon's database. */
static void
assert_intact(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
	             SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	cr_assert_eq(
	        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
	        SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* The time a GET /healthz on a new connection takes, in seconds. */
static double
healthz_time(const struct td *t, int *status)
{
	struct resp r;
	double t0 = cairn_mono_s();

	*status = 0;
	if (http_do(t, "GET", "/healthz", NULL, NULL, NULL, 0, &r) == 0) {
		*status = r.status;
		resp_free(&r);
	}
	return cairn_mono_s() - t0;
}

/* A write: one new token. Returns the HTTP status (0: no answer within
 * 30 s); the reply in r. A raw socket: a write that waits on a lock takes
 * longer than http_do waits. */
static int
write_token(const struct td *t, struct resp *r)
{
	static const char body[] = "{\"role\":\"counselor\",\"scope\":\"C-1\","
	                           "\"label\":\"fault test\"}";
	char req[1024];
	int fd = tcp_connect(t->port), n;

	memset(r, 0, sizeof(*r));
	if (fd < 0)
		return 0;
	n = snprintf(req, sizeof(req),
	             "POST /v1/tokens HTTP/1.1\r\nHost: x\r\n"
	             "Authorization: Bearer %s\r\n"
	             "Content-Type: application/json\r\n"
	             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	             t->token, sizeof(body) - 1, body);
	send_all(fd, req, (size_t)n);
	n = read_response(fd, 30000, r);
	close(fd);
	return n == 0 ? r->status : 0;
}

/* --- the disk fills up --------------------------------------------------- */

/* a case with a large payload: the disk fills in a few hundred writes */
static const char workflow[] = "name: note\n"
                               "statuses:\n"
                               "  open: {initial: true}\n"
                               "  done: {terminal: true}\n"
                               "transitions:\n"
                               "  - on: close\n"
                               "    from: open\n"
                               "    to: done\n";

static int
write_case(const struct td *t, struct resp *r, int i)
{
	static char body[3600];
	int n = snprintf(body, sizeof(body),
	                 "{\"workflow\":\"note\",\"subject\":\"S-%d\","
	                 "\"data\":{\"text\":\"",
	                 i);

	memset(body + n, 'a' + i % 26, 3000);
	n += 3000;
	n += snprintf(body + n, sizeof(body) - (size_t)n, "\"}}");
	if (http_do(t, "POST", "/v1/cases", t->token, "application/json", body,
	            (size_t)n, r) != 0)
		return 0;
	return r->status;
}

/* the tmpfs, unmounted however the test ends */
static char mounted[600];

static void
unmount_tmpfs(void)
{
	if (mounted[0]) {
		umount2(mounted, MNT_DETACH);
		mounted[0] = '\0';
	}
}

Test(faults, a_full_disk_refuses_writes_keeps_reads_and_recovers,
     .timeout = 180, .fini = unmount_tmpfs)
{
	struct td t;
	char var[600], old[600], filler[700], out[4096], path[700];
	struct resp r;
	int st = 0, i, fd, got503 = 0, wrote = 0;
	json_t *c;
	char first_id[64], kept[40][64], kpath[128];
	int nkept = 0, refused = 0;

	if (geteuid() != 0)
		cr_skip_test("a size-limited tmpfs needs root to mount (the "
		             "max_database cap is tested in test_store.c)");
	td_start(&t, "limits: {max_body: 8KiB}\n");
	snprintf(path, sizeof(path), "%s/defs/workflows/note.yaml", t.dir);
	{
		FILE *f = fopen(path, "w");

		cr_assert(f != NULL);
		fputs(workflow, f);
		fclose(f);
	}
	cr_assert_eq(td_stop(&t), 0);
	/* the database's directory moves onto an 8 MiB tmpfs */
	snprintf(var, sizeof(var), "%s/var", t.dir);
	snprintf(old, sizeof(old), "%s/var.old", t.dir);
	cr_assert_eq(rename(var, old), 0);
	cr_assert_eq(mkdir(var, 0700), 0);
	if (mount("tmpfs", var, "tmpfs", 0, "size=8m,mode=0700") != 0) {
		int e = errno;

		rename(old, var);
		td_cleanup(&t);
		cr_skip_test("cannot mount a tmpfs here: %s", strerror(e));
	}
	snprintf(mounted, sizeof(mounted), "%s", var);
	cr_assert_eq(run_cmd(out, sizeof(out), "cp -a '%s/.' '%s/'", old, var),
	             0, "%s", out);
	td_restart(&t);
	c = td_call(&t, "POST", "/v1/cases", t.token,
	            "{\"workflow\":\"note\",\"subject\":\"S-first\"}", NULL,
	            201);
	snprintf(first_id, sizeof(first_id), "%s",
	         json_string_value(json_object_get(c, "id")));
	json_decref(c);
	/* fill what is left but about 1 MiB, then write until refused */
	snprintf(filler, sizeof(filler), "%s/filler", var);
	fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	{
		static char block[65536];
		struct stat sb;

		memset(block, 'x', sizeof(block));
		while (write(fd, block, sizeof(block)) ==
		       (ssize_t)sizeof(block))
			;
		close(fd);
		cr_assert_eq(stat(filler, &sb), 0);
		cr_assert_eq(truncate(filler, sb.st_size - (1 << 20)), 0);
	}
	for (i = 0; i < 3000 && !got503; i++) {
		st = write_case(&t, &r, i);
		if (st == 201)
			wrote++;
		else {
			cr_assert_eq(st, 503, "a write answered %d: %s", st,
			             r.body);
			cr_assert_not_null(strstr(r.body, "storage-full"), "%s",
			                   r.body);
			cr_assert_not_null(strstr(r.body, "full"), "%s",
			                   r.body);
			cr_log_info("disk full after %d writes: %s", wrote,
			            r.body);
			got503 = 1;
		}
		resp_free(&r);
	}
	cr_assert(got503, "3000 writes of 3 KB fit in 1 MiB?");
	/* what the failed write left free goes too: no write fits now */
	fd = open(filler, O_WRONLY | O_APPEND);
	cr_assert(fd >= 0);
	{
		static char page[4096];

		while (write(fd, page, sizeof(page)) > 0)
			;
		while (write(fd, page, 1) > 0)
			;
		close(fd);
	}
	/* writes go on being refused (one may still fit in the WAL's
	 * recycled pages: then it is acknowledged, so it must last); reads
	 * and the loop go on */
	for (i = 0; i < 40; i++) {
		st = write_case(&t, &r, 1000 + i);
		if (st == 201) {
			json_t *j = json_loads(r.body, 0, NULL);

			snprintf(kept[nkept++], sizeof(kept[0]), "%s",
			         json_string_value(json_object_get(j, "id")));
			json_decref(j);
		} else {
			cr_assert_eq(st, 503, "%d %s", st, r.body);
			cr_assert_not_null(strstr(r.body, "storage-full"), "%s",
			                   r.body);
			refused++;
		}
		resp_free(&r);
		healthz_time(&t, &st);
		cr_assert_eq(st, 200);
	}
	cr_log_info("with the disk full: %d of 40 writes refused", refused);
	cr_assert_geq(refused, 30, "only %d of 40 refused", refused);
	/* a student's record leaves only once its disclosure is on the
	 * log (daemon/privacy.h): with the disk full, reading it is
	 * refused as a write is (one may still fit: then it is recorded);
	 * reads that disclose no record go on */
	snprintf(path, sizeof(path), "/v1/cases/%s", first_id);
	for (i = 0, refused = 0; i < 10; i++) {
		cr_assert_eq(
		        http_do(&t, "GET", path, t.token, NULL, NULL, 0, &r),
		        0);
		if (r.status != 200) {
			cr_assert_eq(r.status, 503, "%d %s", r.status, r.body);
			cr_assert_not_null(strstr(r.body, "storage-full"), "%s",
			                   r.body);
			cr_assert_null(strstr(r.body, "S-first"), "%s", r.body);
			refused++;
		}
		resp_free(&r);
	}
	cr_assert_geq(refused, 5, "only %d of 10 reads refused", refused);
	c = td_call(&t, "GET", "/v1/tokens", t.token, NULL, NULL, 200);
	json_decref(c);
	/* space returns: writing resumes without a restart */
	cr_assert_eq(unlink(filler), 0);
	for (i = 0; i < 100; i++) {
		st = write_token(&t, &r);
		resp_free(&r);
		if (st == 201)
			break;
		cairn_sleep_ms(100);
	}
	cr_assert_eq(st, 201, "writes did not resume once space returned");
	st = write_case(&t, &r, 99);
	resp_free(&r);
	cr_assert_eq(st, 201);
	cr_assert_eq(td_stop(&t), 0);
	assert_intact(t.db);
	td_restart(&t);
	c = td_call(&t, "GET", path, t.token, NULL, NULL, 200);
	json_decref(c);
	for (i = 0; i < nkept; i++) {
		snprintf(kpath, sizeof(kpath), "/v1/cases/%.63s", kept[i]);
		json_decref(
		        td_call(&t, "GET", kpath, t.token, NULL, NULL, 200));
	}
	td_stop(&t);
	unmount_tmpfs();
	td_cleanup(&t);
}

/* --- another process holds the write lock -------------------------------- */

/* Opens the database and takes its write lock (BEGIN EXCLUSIVE, and a
 * row written, as a careless admin's sqlite3 shell would). */
static sqlite3 *
lock_db(const char *path)
{
	sqlite3 *db;
	char *err = NULL;

	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
	             SQLITE_OK);
	sqlite3_busy_timeout(db, 10000);
	cr_assert_eq(
	        sqlite3_exec(db,
	                     "BEGIN EXCLUSIVE; INSERT OR REPLACE INTO meta "
	                     "VALUES ('fault-test', 'x', 0)",
	                     NULL, NULL, &err),
	        SQLITE_OK, "%s", err ? err : "");
	return db;
}

static void
unlock_db(sqlite3 *db)
{
	cr_assert_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

Test(faults, a_database_locked_by_another_process, .timeout = 120)
{
	struct td t;
	struct resp r;
	sqlite3 *db;
	int st = 0;
	double took, h;

	td_start(&t, NULL);
	/* while running: a write waits the busy timeout, then 503 */
	db = lock_db(t.db);
	{
		double t0 = cairn_mono_s();

		st = write_token(&t, &r);
		took = cairn_mono_s() - t0;
	}
	cr_assert_eq(st, 503, "%d %s", st, r.body);
	cr_assert_not_null(strstr(r.body, "another process holds"), "%s",
	                   r.body);
	cr_log_info("locked: 503 after %.1f s: %s", took, r.body);
	resp_free(&r);
	cr_assert_lt(took, 30.0, "a write hung %.1f s on the lock", took);
	/* the loop and reads are not held up meanwhile */
	h = healthz_time(&t, &st);
	cr_assert_eq(st, 200);
	cr_assert_lt(h, 1.0);
	json_decref(td_call(&t, "GET", "/v1/tokens", t.token, NULL, NULL, 200));
	unlock_db(db);
	st = write_token(&t, &r);
	resp_free(&r);
	cr_assert_eq(st, 201, "writes did not resume after the lock went");

	/* at start-up, the lock held past the busy timeout: cairnd stops
	 * with a clear error instead of serving a database it cannot write */
	cr_assert_eq(td_stop(&t), 0);
	db = lock_db(t.db);
	{
		char out[8192];
		int rc = run_cmd(out, sizeof(out),
		                 "timeout -s KILL 60 '%s' -c '%s' 2>&1",
		                 td_bin("cairnd"), t.cfg);

		cr_log_info("cairnd at start with the lock held: exit %d: %s",
		            rc, out);
		cr_assert(rc != 0 && rc != 137, "exit %d: %s", rc, out);
		cr_assert_not_null(strstr(out, "another process holds"), "%s",
		                   out);
	}
	/* held for a moment only: cairnd waits for it and starts */
	{
		int p[2];
		char b;
		pid_t pid;

		unlock_db(db);
		cr_assert_eq(pipe(p), 0);
		pid = fork();
		cr_assert(pid >= 0);
		if (pid == 0) {
			sqlite3 *cdb;

			close(p[0]);
			if (sqlite3_open_v2(t.db, &cdb, SQLITE_OPEN_READWRITE,
			                    NULL) != SQLITE_OK ||
			    sqlite3_exec(cdb, "BEGIN EXCLUSIVE", NULL, NULL,
			                 NULL) != SQLITE_OK)
				_exit(1);
			if (write(p[1], "l", 1) != 1)
				_exit(1);
			cairn_sleep_ms(1500);
			sqlite3_exec(cdb, "ROLLBACK", NULL, NULL, NULL);
			sqlite3_close(cdb);
			_exit(0);
		}
		close(p[1]);
		cr_assert_eq(read(p[0], &b, 1), 1, "the locker did not lock");
		close(p[0]);
		td_restart(&t);
		waitpid(pid, NULL, 0);
	}
	st = write_token(&t, &r);
	resp_free(&r);
	cr_assert_eq(st, 201);
	cr_assert_eq(td_stop(&t), 0);
	assert_intact(t.db);
	td_cleanup(&t);
}

/* --- 10,000 idle connections ---------------------------------------------- */

static long
rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static long
open_connections(const struct td *t)
{
	struct resp r;
	const char *p;
	long v = -1;

	if (http_do(t, "GET", "/metrics", NULL, NULL, NULL, 0, &r) != 0)
		return -1;
	p = strstr(r.body, "\ncairn_http_connections ");
	if (p)
		v = atol(p + strlen("\ncairn_http_connections "));
	resp_free(&r);
	return v;
}

Test(faults, ten_thousand_idle_connections, .timeout = 180)
{
	struct td t;
	enum { N = 10000 };
	static int fds[N];
	struct rlimit rl;
	long rss0, rss1, open_now = 0;
	double worst = 0, h;
	int st, extra, n = 0;
	struct resp r;

	/* both this process and cairnd (which inherits it) hold N sockets */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < N + 200)
		cr_skip_test("the hard limit on open files is %lu",
		             (unsigned long)rl.rlim_max);
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	td_start(&t, "limits: {idle_timeout: 10m, request_timeout: 10m}\n");
	rss0 = rss_kib(t.pid);
	/* up to 10 fewer than the limit: the rest are the test's own */
	for (n = 0; n < N - 10; n++) {
		fds[n] = tcp_connect(t.port);
		cr_assert(fds[n] >= 0, "connection %d: %s", n, strerror(errno));
		if (n % 1000 == 999) {
			h = healthz_time(&t, &st);
			cr_assert_eq(st, 200, "with %d idle connections",
			             n + 1);
			worst = h > worst ? h : worst;
		}
	}
	for (int i = 0; i < 600; i++) {
		open_now = open_connections(&t);
		if (open_now >= N - 10)
			break;
		cairn_sleep_ms(100);
	}
	cr_assert_geq(open_now, N - 10, "cairnd holds %ld", open_now);
	for (int i = 0; i < 20; i++) {
		h = healthz_time(&t, &st);
		cr_assert_eq(st, 200);
		worst = h > worst ? h : worst;
	}
	json_decref(td_call(&t, "GET", "/v1/tokens", t.token, NULL, NULL, 200));
	rss1 = rss_kib(t.pid);
	cr_log_info("%d idle connections: RSS %ld -> %ld KiB; slowest "
	            "/healthz %.1f ms",
	            n, rss0, rss1, worst * 1e3);
	/* generous for a loaded machine; what matters is no stall */
	cr_assert_lt(worst, 2.0, "a /healthz took %.2f s", worst);
	/* bounded: well under 8 KiB a connection */
	cr_assert_lt(rss1 - rss0, 80 * 1024, "RSS grew %ld KiB", rss1 - rss0);
	/* fill to one short of the limit (the metrics request is the last
	 * one), then the last; the next one is refused with 503 */
	for (; n < N - 1; n++) {
		fds[n] = tcp_connect(t.port);
		cr_assert(fds[n] >= 0);
	}
	for (int i = 0; i < 600 && open_connections(&t) < N; i++)
		cairn_sleep_ms(50);
	fds[n] = tcp_connect(t.port);
	cr_assert(fds[n++] >= 0);
	cairn_sleep_ms(300);
	extra = tcp_connect(t.port);
	cr_assert(extra >= 0);
	send_all(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
	cr_assert_eq(read_response(extra, 10000, &r), 0);
	cr_assert_eq(r.status, 503, "%d", r.status);
	cr_assert_not_null(strstr(r.body, "too-many-connections"));
	resp_free(&r);
	close(extra);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	/* the slots come back */
	for (int i = 0; i < 100; i++) {
		healthz_time(&t, &st);
		if (st == 200)
			break;
		cairn_sleep_ms(100);
	}
	cr_assert_eq(st, 200);
	cr_assert_eq(td_stop(&t), 0);
	td_cleanup(&t);
}

/* --- slowloris ----------------------------------------------------------- */

Test(faults, slowloris_clients_get_408_and_others_are_served, .timeout = 90)
{
	struct td t;
	enum { N = 50 };
	int fds[N], done = 0, status[N];
	double t0, at[N], worst = 0, h;
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n"
	                          "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	size_t sent = 0;
	int st;

	td_start(&t, "limits: {request_timeout: 1s, max_connections: 200}\n");
	for (int i = 0; i < N; i++) {
		fds[i] = tcp_connect(t.port);
		cr_assert(fds[i] >= 0);
		status[i] = 0;
	}
	t0 = cairn_mono_s();
	/* a byte every 50 ms on each: never a whole request */
	while (done < N && cairn_mono_s() - t0 < 20) {
		for (int i = 0; i < N; i++) {
			struct pollfd p = {.fd = fds[i], .events = POLLIN};

			if (status[i])
				continue;
			if (poll(&p, 1, 0) == 1) {
				struct resp r;

				if (read_response(fds[i], 2000, &r) == 0) {
					status[i] = r.status;
					resp_free(&r);
				} else
					status[i] = -1;
				at[i] = cairn_mono_s() - t0;
				done++;
				continue;
			}
			if (sent < sizeof(req) - 1)
				(void)send(fds[i], req + sent, 1, MSG_NOSIGNAL);
		}
		sent++;
		h = healthz_time(&t, &st);
		cr_assert_eq(st, 200, "another client was refused");
		worst = h > worst ? h : worst;
		cairn_sleep_ms(50);
	}
	cr_assert_eq(done, N, "%d of %d slow clients were answered", done, N);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(status[i], 408, "slow client %d got %d", i,
		             status[i]);
		cr_assert_geq(at[i], 0.8, "408 after %.2f s", at[i]);
		cr_assert_lt(at[i], 6.0, "408 after %.2f s", at[i]);
		cr_assert(wait_closed(fds[i], 3000));
		close(fds[i]);
	}
	cr_log_info("%d slowloris clients: 408 each; slowest other /healthz "
	            "%.1f ms",
	            N, worst * 1e3);
	cr_assert_lt(worst, 1.0, "another client waited %.2f s", worst);
	cr_assert_eq(td_stop(&t), 0);
	td_cleanup(&t);
}
