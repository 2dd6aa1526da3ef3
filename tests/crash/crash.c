/*
 * crash.c: cairn-crash, the crash-consistency loop (issue 9). tests/crash/run
 * runs it; `make test` runs 3 cycles, `tests/crash/run 100` is the long run.
 *
 * One cycle: start cairnd (--test-clock) with the example workflows and a
 * uc_campus adapter pointed at the mock institution; drive a season mix
 * from several threads (student applications routed to 1 to 4 campuses,
 * submissions, signed institution callbacks with decisions and documents
 * requests, an admissions officer claiming and deciding one campus's
 * files, ISIR imports, status reads, the test clock moved forward a few
 * days); record every request that got a 2xx and what it created; SIGKILL
 * cairnd at a random moment; check the file with PRAGMA integrity_check;
 * restart; send again, with the same Idempotency-Key or event id, every
 * request that got no answer (as a client would); then check, through the
 * API and the database:
 *
 *   - every decision the officer made on a file it claimed is in the
 *     history once, and ended the lease;
 *   - every acknowledged application is there, and there are exactly as
 *     many student applications as distinct ones sent (no duplicates);
 *   - every submitted application has one submit in its history and one
 *     campus application per campus, keyed by the campus;
 *   - every applied callback (a decision, or documents asked for) is in
 *     its case's history exactly once, and each admission reached the
 *     student's application once (child.admitted);
 *   - every imported ISIR record has one aid file, and there are no others;
 *   - every case's history hash chain verifies (as daemon/cases.c
 *     fam_history writes it) and ends at the case's history_hash, and
 *     `cairn audit verify` says so too;
 *   - no timer fired twice for a case;
 *   - every read of a case a student got an answer to is on the
 *     disclosure log (its row commits without waiting for an fsync, and
 *     must survive the kill all the same).
 *
 * After the last cycle: every outbox row is delivered, the mock received
 * exactly the outbox's idempotency keys (each once, however often it was
 * sent again), no dead letters; the clock moved 15 days: no timer is still
 * due and each case asked for documents fired documents_due exactly once;
 * SIGTERM exits 0 and the file checks ok.
 *
 *   cairn-crash N [--seed S] [--keep] [--clients C]
 *
 * Exit 0 when every check held, 1 with each violation printed, 2 on a
 * usage or set-up error. The temporary directory (database, logs) is kept
 * on failure or with --keep.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/cairn.h"
#include "../../common/httpc.h"

#ifndef CAIRN_SOURCE_DIR
#define CAIRN_SOURCE_DIR "."
#endif

#define NSTUDENTS   16
#define MAX_APPS    200000
#define MAX_CHUNKS  20000
#define CHUNK       4 /* ISIR records an import */
#define CB_SECRET   "crash-loop-callback-secret"
#define CLOCK_STEP  "3d"
#define CLOCK_STEPM (3LL * 86400 * 1000)
/* the clock stays within the award years examples/rules has parameters
 * for (application_complete guards a submit) */
#define CLOCK_MAXM (120LL * 86400 * 1000)

static const char *const campuses[] = {
        "uc-berkeley",    "uc-davis",         "uc-irvine",
        "uc-los-angeles", "uc-merced",        "uc-riverside",
        "uc-san-diego",   "uc-santa-barbara", "uc-santa-cruz"};
#define NCAMPUSES 9

enum st { NONE, SENT, ACKED };

struct app {
	enum st create, submit;
	enum st cb[4];
	int student;
	int ncampus;
	int campus[4];
	int cycle; /* the cycle it was acknowledged in */
	char id[48];
	char kid[4][48];  /* campus application ids, in campus order */
	enum st staff[4]; /* an admissions officer's decision, acknowledged */
	int staff_dec[4];
};

/* One campus's files are worked by its admissions office (claim, then
 * decide) instead of by the institution's callbacks, so the two never
 * decide the same file. */
#define STAFF_CAMPUS 4 /* uc-merced */

struct staffdec {
	enum st state;
	int app, c, dec;
	char case_id[48];
};
#define MAX_DECS MAX_APPS

struct chunk {
	enum st state;
	int nrec;
	char uuid[CHUNK][40];
};

static struct {
	pthread_mutex_t mu;
	struct app *apps;
	int napps;
	struct chunk *chunks;
	int nchunks, maxchunks;
	char **isir; /* generated ISIR lines */
	int nisir;
	long long offset_ms; /* the test clock's acknowledged advance */
	json_t *byid;        /* application id -> index */
	struct staffdec *decs;
	int ndecs;
	long claims;
	/* figures */
	long acked, resent, reads, clock_moves, violations;
	int cycle;
} G = {.mu = PTHREAD_MUTEX_INITIALIZER};

static atomic_int stop_flag;
static char dir[256], dbpath[512], cfg[512], logpath[512], bindir[512];
static char admin[128], students[NSTUDENTS][128], staff[128];
static int port, mock_port;
static pid_t cairnd_pid, mock_pid;
static unsigned seed;

/* --- small things -------------------------------------------------------- */

static void violation(const char *fmt, ...)
        __attribute__((format(printf, 1, 2)));

static void
violation(const char *fmt, ...)
{
	va_list ap;

	long n;

	pthread_mutex_lock(&G.mu);
	n = ++G.violations;
	pthread_mutex_unlock(&G.mu);
	/* the first ones tell the story; the count says the rest */
	if (n > 100)
		return;
	fprintf(stderr, "VIOLATION (cycle %d): ", G.cycle);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void die(const char *fmt, ...)
        __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cairn-crash: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (files kept in %s)\n", dir);
	if (cairnd_pid > 0)
		kill(cairnd_pid, SIGKILL);
	if (mock_pid > 0)
		kill(mock_pid, SIGKILL);
	exit(2);
}

static void
msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* rand_r state per thread: the seed decides the mix, not the timing */
static int
rnd(unsigned *s, int n)
{
	return (int)(rand_r(s) % (unsigned)n);
}

static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), p;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		die("no free port: %s", strerror(errno));
	p = ntohs(a.sin_port);
	close(fd);
	return p;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

/* --- HTTP through libcurl ------------------------------------------------ */

/* One request; hdrs is a NULL-terminated list of extra headers. */
static void
req(CURL *h, int to_port, const char *method, const char *path,
    const char *token, const char *ctype, const char *body,
    const char *const *hdrs, struct httpc_reply *r)
{
	char url[1024];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", to_port, path);
	httpc_request(h, url, method, token, ctype, body,
	              body ? strlen(body) : 0, hdrs, 60, r);
}

static json_t *
body_json(const struct httpc_reply *r)
{
	return r->body ? json_loads(r->body, 0, NULL) : NULL;
}

/* A set-up request that must answer want; the reply, parsed. */
static json_t *
must(CURL *h, int to_port, const char *method, const char *path,
     const char *token, const char *body, long want)
{
	struct httpc_reply r;
	json_t *j;

	req(h, to_port, method, path, token, NULL, body, NULL, &r);
	if (r.status != want)
		die("%s %s: %ld, not %ld: %s", method, path, r.status, want,
		    r.body ? r.body : "");
	j = body_json(&r);
	free(r.body);
	return j;
}

/* --- processes ----------------------------------------------------------- */

static pid_t
spawn(const char *bin, char *const argv[], const char *log)
{
	int pid = cairn_spawn(bin, argv, log);

	if (pid < 0)
		die("fork: %s", strerror(errno));
	return (pid_t)pid;
}

static void
cairnd_start(CURL *h)
{
	char bin[600];
	char *argv[] = {"cairnd",        "-c",  cfg, "--test-clock",
	                "--rate-limits", "off", NULL};

	snprintf(bin, sizeof(bin), "%s/cairnd", bindir);
	cairnd_pid = spawn(bin, argv, logpath);
	for (int i = 0; i < 1200; i++) {
		struct httpc_reply r;
		int st;

		req(h, port, "GET", "/healthz", NULL, NULL, NULL, NULL, &r);
		free(r.body);
		if (r.status == 200)
			return;
		if (waitpid(cairnd_pid, &st, WNOHANG) == cairnd_pid) {
			cairnd_pid = 0;
			die("cairnd exited at start-up (see %s)", logpath);
		}
		msleep(25);
	}
	die("cairnd did not answer /healthz within 30 s");
}

static void
mock_start(void)
{
	char bin[600], pf[600], lg[600];
	char *argv[] = {"cairn-mock-institution",
	                "--port",
	                "0",
	                "--port-file",
	                pf,
	                NULL};
	FILE *f;

	snprintf(bin, sizeof(bin), "%s/cairn-mock-institution", bindir);
	snprintf(pf, sizeof(pf), "%s/mock.port", dir);
	snprintf(lg, sizeof(lg), "%s/mock.log", dir);
	mock_pid = spawn(bin, argv, lg);
	for (int i = 0; i < 1200; i++) {
		f = fopen(pf, "r");
		if (f != NULL) {
			int ok = fscanf(f, "%d", &mock_port) == 1;

			fclose(f);
			if (ok)
				return;
		}
		msleep(25);
	}
	die("the mock institution did not start");
}

/* --- the database, read directly ----------------------------------------- */

static sqlite3 *
db_open(void)
{
	sqlite3 *db;

	/* read-write: a hot WAL left by the kill is recovered, as cairnd
	 * itself would on its next open */
	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK)
		die("cannot open %s: %s", dbpath, sqlite3_errmsg(db));
	sqlite3_busy_timeout(db, 30000);
	return db;
}

static long long
db_int(sqlite3 *db, const char *sql, const char *arg)
{
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die("%s: %s", sql, sqlite3_errmsg(db));
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
integrity_check(const char *when)
{
	sqlite3 *db = db_open();
	sqlite3_stmt *st;
	const char *v;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) !=
	    SQLITE_OK)
		die("integrity_check: %s", sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW) {
		v = (const char *)sqlite3_column_text(st, 0);
		if (v == NULL || strcmp(v, "ok") != 0)
			violation("integrity_check %s: %s", when,
			          v ? v : "(null)");
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* `cairn audit verify` over the file, beside the running cairnd: the
 * chains checked by the tool an auditor would run. */
static void
audit_verify(void)
{
	char cmd[1400], out[4096];
	FILE *p;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s/cairn' audit verify --db '%s' 2>&1",
	         bindir, dbpath);
	p = popen(cmd, "r");
	if (p == NULL)
		die("%s: %s", cmd, strerror(errno));
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	st = pclose(p);
	if (st != 0)
		violation("cairn audit verify: exit %d: %s",
		          WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
}

/* Every case's history: seqs 1..n, each hash chained as fam_history
 * computes it, the last one the case's history_hash. */
static long
verify_chains(sqlite3 *db)
{
	sqlite3_stmt *c, *h;
	long rows = 0;

	if (sqlite3_prepare_v2(db,
	                       "SELECT id, history_seq, history_hash FROM "
	                       "cases ORDER BY id",
	                       -1, &c, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "SELECT seq, at, actor, type, from_status, "
	                       "to_status, workflow_version, payload, hash, "
	                       "payload_hash FROM history WHERE case_id = ?1 "
	                       "ORDER BY seq",
	                       -1, &h, NULL) != SQLITE_OK)
		die("chains: %s", sqlite3_errmsg(db));
	while (sqlite3_step(c) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(c, 0);
		long long n = sqlite3_column_int64(c, 1), seq = 0;
		unsigned char hash[32] = {0};
		char head[1024];

		sqlite3_bind_text(h, 1, id, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(h) == SQLITE_ROW) {
			EVP_MD_CTX *md = EVP_MD_CTX_new();
			const char *pl =
			        (const char *)sqlite3_column_text(h, 7);
			unsigned int len = 32;

#define COL(i)                                                                 \
	(sqlite3_column_text(h, i) ? (const char *)sqlite3_column_text(h, i)   \
	                           : "")
			if (sqlite3_column_int64(h, 0) != ++seq) {
				violation(
				        "case %s: history seq %lld where %lld "
				        "belongs",
				        id, sqlite3_column_int64(h, 0), seq);
				EVP_MD_CTX_free(md);
				break;
			}
			snprintf(head, sizeof(head),
			         "%s\n%lld\n%lld\n%s\n%s\n%s\n%s\n%d\n", id,
			         seq, sqlite3_column_int64(h, 1), COL(2),
			         COL(3), COL(4), COL(5),
			         sqlite3_column_int(h, 6));
#undef COL
			EVP_DigestInit_ex(md, EVP_sha256(), NULL);
			EVP_DigestUpdate(md, hash, 32);
			EVP_DigestUpdate(md, head, strlen(head));
			/* since retention: the payload by its hash, which
			 * must be the payload's */
			if (sqlite3_column_bytes(h, 9) == 32) {
				unsigned char ph[32];
				unsigned int phl = 32;

				EVP_Digest(pl ? pl : "", pl ? strlen(pl) : 0,
				           ph, &phl, EVP_sha256(), NULL);
				if (memcmp(ph, sqlite3_column_blob(h, 9), 32))
					violation("case %s: seq %lld's payload "
					          "is not its payload hash's",
					          id, seq);
				EVP_DigestUpdate(md, ph, 32);
			} else {
				EVP_DigestUpdate(md, pl ? pl : "",
				                 pl ? strlen(pl) : 0);
			}
			EVP_DigestFinal_ex(md, hash, &len);
			EVP_MD_CTX_free(md);
			if (sqlite3_column_bytes(h, 8) != 32 ||
			    memcmp(sqlite3_column_blob(h, 8), hash, 32) != 0) {
				violation("case %s: the hash chain breaks at "
				          "seq %lld",
				          id, seq);
				break;
			}
			rows++;
		}
		sqlite3_reset(h);
		if (seq != n)
			violation("case %s: history_seq %lld, %lld entries", id,
			          n, seq);
		else if (n > 0 &&
		         (sqlite3_column_bytes(c, 2) != 32 ||
		          memcmp(sqlite3_column_blob(c, 2), hash, 32) != 0))
			violation("case %s: history_hash is not the chain's "
			          "last",
			          id);
	}
	sqlite3_finalize(c);
	sqlite3_finalize(h);
	return rows;
}

/* --- the season mix ------------------------------------------------------ */

static void
app_body(const struct app *a, char *out, size_t len)
{
	size_t n = (size_t)snprintf(out, len,
	                            "{\"workflow\":\"student_application\","
	                            "\"subject\":\"S-%d\",\"data\":{"
	                            "\"campuses\":[",
	                            a->student);

	for (int i = 0; i < a->ncampus; i++)
		n += (size_t)snprintf(out + n, len - n, "%s\"%s\"",
		                      i ? "," : "", campuses[a->campus[i]]);
	snprintf(out + n, len - n, "]}}");
}

/* Sends application i's create; 1 when acknowledged. */
static int
do_create(CURL *h, int i)
{
	struct app a;
	char body[512], idem[80];
	const char *hd[2] = {idem, NULL};
	struct httpc_reply r;
	json_t *j;
	int ok = 0;

	pthread_mutex_lock(&G.mu);
	a = G.apps[i];
	pthread_mutex_unlock(&G.mu);
	app_body(&a, body, sizeof(body));
	snprintf(idem, sizeof(idem), "Idempotency-Key: app-%d", i);
	req(h, port, "POST", "/v1/cases", students[a.student], NULL, body, hd,
	    &r);
	if (r.status == 200 || r.status == 201) {
		const char *id;

		j = body_json(&r);
		id = json_string_value(json_object_get(j, "id"));
		if (id == NULL)
			violation("create app-%d: %ld without an id", i,
			          r.status);
		else {
			pthread_mutex_lock(&G.mu);
			snprintf(G.apps[i].id, sizeof(G.apps[i].id), "%s", id);
			G.apps[i].create = ACKED;
			json_object_set_new(G.byid, id, json_integer(i));
			G.apps[i].cycle = G.cycle;
			G.acked++;
			pthread_mutex_unlock(&G.mu);
			ok = 1;
		}
		json_decref(j);
	} else if (r.status != 0 && r.status != 503)
		violation("create app-%d: %ld %s", i, r.status,
		          r.body ? r.body : "");
	free(r.body);
	return ok;
}

static int
do_submit(CURL *h, int i)
{
	struct app a;
	char path[128], idem[80];
	const char *hd[2] = {idem, NULL};
	struct httpc_reply r;
	json_t *j, *kids, *k;
	size_t n;
	int ok = 0;

	pthread_mutex_lock(&G.mu);
	a = G.apps[i];
	pthread_mutex_unlock(&G.mu);
	snprintf(path, sizeof(path), "/v1/cases/%s/events", a.id);
	snprintf(idem, sizeof(idem), "Idempotency-Key: submit-%d", i);
	req(h, port, "POST", path, students[a.student], NULL,
	    "{\"type\":\"submit\"}", hd, &r);
	if (r.status == 200) {
		j = body_json(&r);
		kids = json_object_get(json_object_get(j, "case"), "children");
		if (kids == NULL)
			kids = json_object_get(j, "children");
		if (json_array_size(kids) != (size_t)a.ncampus)
			violation("submit app-%d (%s): %zu children for %d "
			          "campuses",
			          i, a.id, json_array_size(kids), a.ncampus);
		pthread_mutex_lock(&G.mu);
		json_array_foreach(kids, n, k)
		{
			const char *key = json_string_value(
			        json_object_get(k, "spawn_key"));

			/* spawn keys are "workflow:item" */
			if (key && strchr(key, ':'))
				key = strchr(key, ':') + 1;
			for (int c = 0; key && c < a.ncampus; c++)
				if (!strcmp(key, campuses[a.campus[c]]))
					snprintf(G.apps[i].kid[c],
					         sizeof(G.apps[i].kid[c]), "%s",
					         json_string_value(
					                 json_object_get(
					                         k, "id")));
		}
		G.apps[i].submit = ACKED;
		G.acked++;
		pthread_mutex_unlock(&G.mu);
		json_decref(j);
		ok = 1;
	} else if (r.status != 0 && r.status != 503)
		violation("submit app-%d (%s): %ld %s", i, a.id, r.status,
		          r.body ? r.body : "");
	free(r.body);
	return ok;
}

/* Half the campuses send a decision (admit, deny or waitlist), half ask
 * for documents: which, by application and campus, so a resend is the
 * same callback. */
static const char *const decisions[] = {"admit", "deny", "waitlist"};

static int
cb_is_decision(int i, int c)
{
	return (i + c) % 2 == 1;
}

static int
cb_decision(int i, int c)
{
	return (i * 7 + c) % 3;
}

static int
do_callback(CURL *h, int i, int c)
{
	char body[512], ts[32], sig[128], tsh[64], sigh[160], msg[600];
	const char *hd[3] = {tsh, sigh, NULL};
	unsigned char mac[32];
	unsigned int maclen = 32;
	struct httpc_reply r;
	char kid[48];
	int ok = 0;

	pthread_mutex_lock(&G.mu);
	snprintf(kid, sizeof(kid), "%s", G.apps[i].kid[c]);
	pthread_mutex_unlock(&G.mu);
	if (cb_is_decision(i, c))
		snprintf(body, sizeof(body),
		         "{\"event_id\":\"cb-%d-%d\",\"case_id\":\"%s\","
		         "\"event\":\"decide\",\"data\":{\"decision\":\"%s\","
		         "\"sir_deadline\":\"2027-05-01\"}}",
		         i, c, kid, decisions[cb_decision(i, c)]);
	else
		snprintf(body, sizeof(body),
		         "{\"event_id\":\"cb-%d-%d\",\"case_id\":\"%s\","
		         "\"event\":\"request_documents\",\"data\":{"
		         "\"documents\":[\"transcript\"]}}",
		         i, c, kid);
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	snprintf(msg, sizeof(msg), "%s.%s", ts, body);
	HMAC(EVP_sha256(), CB_SECRET, (int)strlen(CB_SECRET),
	     (const unsigned char *)msg, strlen(msg), mac, &maclen);
	for (int k = 0; k < 32; k++)
		snprintf(sig + 2 * k, 3, "%02x", mac[k]);
	snprintf(tsh, sizeof(tsh), "X-Cairn-Timestamp: %s", ts);
	snprintf(sigh, sizeof(sigh), "X-Cairn-Signature: sha256=%s", sig);
	req(h, port, "POST", "/v1/callbacks/uc_campus", NULL, NULL, body, hd,
	    &r);
	/* 409 duplicate-event: an earlier copy was applied (its reply lost) */
	if (r.status == 200 ||
	    (r.status == 409 && r.body && strstr(r.body, "duplicate-event"))) {
		pthread_mutex_lock(&G.mu);
		G.apps[i].cb[c] = ACKED;
		G.acked++;
		pthread_mutex_unlock(&G.mu);
		ok = 1;
	} else if (r.status == 409 && cb_is_decision(i, c) && r.body &&
	           strstr(r.body, "not-allowed-now")) {
		/* the campus decides once the application is complete,
		 * which the institution's reply to the outbox call does:
		 * not yet, so the decision comes later */
		pthread_mutex_lock(&G.mu);
		G.apps[i].cb[c] = NONE;
		pthread_mutex_unlock(&G.mu);
		ok = 1;
	} else if (r.status != 0 && r.status != 503)
		violation("callback cb-%d-%d (%s): %ld %s", i, c, kid, r.status,
		          r.body ? r.body : "");
	free(r.body);
	return ok;
}

static int
do_isir(CURL *h, int i)
{
	struct chunk *k = &G.chunks[i];
	size_t len = 0;
	char *body;
	struct httpc_reply r;
	json_t *j, *recs, *rec;
	size_t n;
	int ok = 0;

	for (int l = 0; l < CHUNK; l++)
		len += strlen(G.isir[i * CHUNK + l]) + 1;
	body = malloc(len + 1);
	if (body == NULL)
		return 0;
	body[0] = '\0';
	for (int l = 0; l < CHUNK; l++) {
		strcat(body, G.isir[i * CHUNK + l]);
		strcat(body, "\n");
	}
	req(h, port, "POST", "/v1/isir?office=crash-aid", admin, "text/plain",
	    body, NULL, &r);
	free(body);
	if (r.status == 200) {
		j = body_json(&r);
		recs = json_object_get(j, "records");
		if (json_integer_value(json_object_get(j, "rejected")) != 0 ||
		    json_array_size(recs) != CHUNK)
			violation("isir chunk %d: %s", i, r.body);
		pthread_mutex_lock(&G.mu);
		k->nrec = 0;
		json_array_foreach(recs, n, rec)
		{
			const char *u = json_string_value(
			        json_object_get(rec, "fafsa_uuid"));

			if (u && k->nrec < CHUNK)
				snprintf(k->uuid[k->nrec++], sizeof(k->uuid[0]),
				         "%s", u);
		}
		k->state = ACKED;
		G.acked++;
		pthread_mutex_unlock(&G.mu);
		json_decref(j);
		ok = 1;
	} else if (r.status != 0 && r.status != 503)
		violation("isir chunk %d: %ld %s", i, r.status,
		          r.body ? r.body : "");
	free(r.body);
	return ok;
}

static void
do_read(CURL *h, int i)
{
	struct app a;
	char path[128];
	struct httpc_reply r;

	pthread_mutex_lock(&G.mu);
	a = G.apps[i];
	pthread_mutex_unlock(&G.mu);
	snprintf(path, sizeof(path), "/v1/cases/%s", a.id);
	req(h, port, "GET", path, students[a.student], NULL, NULL, NULL, &r);
	if (r.status == 200) {
		pthread_mutex_lock(&G.mu);
		G.reads++;
		pthread_mutex_unlock(&G.mu);
	} else if (r.status != 0 && r.status != 503)
		violation("read app-%d (%s): %ld", i, a.id, r.status);
	free(r.body);
}

static void
do_clock(CURL *h)
{
	struct httpc_reply r;

	req(h, port, "POST", "/v1/clock", admin, NULL,
	    "{\"advance\":\"" CLOCK_STEP "\"}", NULL, &r);
	if (r.status == 200) {
		pthread_mutex_lock(&G.mu);
		G.offset_ms += CLOCK_STEPM;
		G.clock_moves++;
		G.acked++;
		pthread_mutex_unlock(&G.mu);
	}
	free(r.body);
}

/* Picks an application in state want for field (0 create, 1 submit) at
 * random, and claims it (SENT); -1 when a few tries find none. */
static int
claim(unsigned *s, int submit_ready, int *child)
{
	int pick = -1;

	pthread_mutex_lock(&G.mu);
	for (int t = 0; t < 16 && G.napps > 0 && pick < 0; t++) {
		int i = rnd(s, G.napps);
		struct app *a = &G.apps[i];

		if (submit_ready && a->create == ACKED && a->submit == NONE) {
			a->submit = SENT;
			pick = i;
		} else if (!submit_ready && a->submit == ACKED) {
			int c = rnd(s, a->ncampus);

			if (a->cb[c] == NONE && a->kid[c][0] &&
			    a->campus[c] != STAFF_CAMPUS) {
				a->cb[c] = SENT;
				*child = c;
				pick = i;
			}
		}
	}
	pthread_mutex_unlock(&G.mu);
	return pick;
}

static int
new_app(unsigned *s)
{
	int i;

	pthread_mutex_lock(&G.mu);
	if (G.napps >= MAX_APPS) {
		pthread_mutex_unlock(&G.mu);
		return -1;
	}
	i = G.napps++;
	G.apps[i].create = SENT;
	G.apps[i].student = rnd(s, NSTUDENTS);
	G.apps[i].ncampus = 1 + rnd(s, 4);
	for (int c = 0; c < G.apps[i].ncampus; c++) {
		int x, dup;

		do {
			x = rnd(s, NCAMPUSES);
			dup = 0;
			for (int d = 0; d < c; d++)
				dup |= G.apps[i].campus[d] == x;
		} while (dup);
		G.apps[i].campus[c] = x;
	}
	pthread_mutex_unlock(&G.mu);
	return i;
}

static int
random_acked(unsigned *s)
{
	int pick = -1;

	pthread_mutex_lock(&G.mu);
	for (int t = 0; t < 8 && G.napps > 0 && pick < 0; t++) {
		int i = rnd(s, G.napps);

		if (G.apps[i].create == ACKED)
			pick = i;
	}
	pthread_mutex_unlock(&G.mu);
	return pick;
}

/* Decision d of the officer's file; 1 when acknowledged. */
static int
send_decision(CURL *h, int d)
{
	struct staffdec x;
	char path[128], idem[96], body[160];
	const char *hd[2] = {idem, NULL};
	struct httpc_reply r;
	int ok = 0;

	pthread_mutex_lock(&G.mu);
	x = G.decs[d];
	pthread_mutex_unlock(&G.mu);
	snprintf(path, sizeof(path), "/v1/cases/%s/events", x.case_id);
	snprintf(idem, sizeof(idem), "Idempotency-Key: decide-%s", x.case_id);
	snprintf(body, sizeof(body),
	         "{\"type\":\"decide\",\"data\":{\"decision\":\"%s\","
	         "\"sir_deadline\":\"2027-05-01\"}}",
	         decisions[x.dec]);
	req(h, port, "POST", path, staff, NULL, body, hd, &r);
	if (r.status == 200) {
		pthread_mutex_lock(&G.mu);
		G.decs[d].state = ACKED;
		G.apps[x.app].staff[x.c] = ACKED;
		G.apps[x.app].staff_dec[x.c] = x.dec;
		G.acked++;
		pthread_mutex_unlock(&G.mu);
		ok = 1;
	} else if (r.status != 0 && r.status != 503)
		violation("decision on %s: %ld %s", x.case_id, r.status,
		          r.body ? r.body : "");
	free(r.body);
	return ok;
}

/* The officer claims the next file in the campus's review queue and
 * decides it. */
static void
do_staff(CURL *h)
{
	struct httpc_reply r;
	json_t *j, *cs;
	const char *id, *parent, *campus;
	int d = -1;

	req(h, port, "POST", "/v1/queues/admissions_review/claim", staff, NULL,
	    "", NULL, &r);
	if (r.status == 200) {
		j = body_json(&r);
		cs = json_object_get(j, "case");
		id = json_string_value(json_object_get(
		        json_object_get(j, "lease"), "case_id"));
		parent = json_string_value(json_object_get(cs, "parent_id"));
		campus = json_string_value(
		        json_object_get(json_object_get(cs, "data"), "campus"));
		pthread_mutex_lock(&G.mu);
		G.claims++;
		G.acked++;
		if (id && parent && campus && json_object_get(G.byid, parent) &&
		    G.ndecs < MAX_DECS) {
			int i = (int)json_integer_value(
			        json_object_get(G.byid, parent));

			for (int c = 0; c < G.apps[i].ncampus; c++)
				if (!strcmp(campuses[G.apps[i].campus[c]],
				            campus) &&
				    !strcmp(G.apps[i].kid[c], id)) {
					d = G.ndecs++;
					G.decs[d].state = SENT;
					G.decs[d].app = i;
					G.decs[d].c = c;
					G.decs[d].dec = (i * 5 + c) % 3;
					snprintf(G.decs[d].case_id,
					         sizeof(G.decs[d].case_id),
					         "%s", id);
				}
		}
		pthread_mutex_unlock(&G.mu);
		if (d < 0)
			violation("claimed a file of no known application: %s",
			          r.body);
		json_decref(j);
	} else if (r.status != 0 && r.status != 204 && r.status != 503)
		violation("claim: %ld %s", r.status, r.body ? r.body : "");
	free(r.body);
	if (d >= 0)
		send_decision(h, d);
}

struct worker {
	pthread_t th;
	int n;
	unsigned seed;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	CURL *h = curl_easy_init();

	if (h == NULL)
		return NULL;
	while (!atomic_load(&stop_flag)) {
		int op = rnd(&w->seed, 100), i, c = 0;

		if (op < 25) {
			if ((i = new_app(&w->seed)) >= 0)
				do_create(h, i);
		} else if (op < 50) {
			if ((i = claim(&w->seed, 1, NULL)) >= 0)
				do_submit(h, i);
		} else if (op < 70) {
			if ((i = claim(&w->seed, 0, &c)) >= 0)
				do_callback(h, i, c);
		} else if (op < 90) {
			if (w->n == 1 && op >= 84)
				do_staff(h);
			else if ((i = random_acked(&w->seed)) >= 0)
				do_read(h, i);
		} else if (op < 97) {
			pthread_mutex_lock(&G.mu);
			i = G.nchunks < G.maxchunks ? G.nchunks++ : -1;
			if (i >= 0)
				G.chunks[i].state = SENT;
			pthread_mutex_unlock(&G.mu);
			if (i >= 0)
				do_isir(h, i);
		} else if (w->n == 0 && G.offset_ms < CLOCK_MAXM)
			do_clock(h);
	}
	curl_easy_cleanup(h);
	return NULL;
}

/* --- after a restart ----------------------------------------------------- */

/* Every request that got no answer is sent again as it was, until it is
 * answered: a client's retry. */
static void
resend_unanswered(CURL *h)
{
	for (int pass = 0; pass < 50; pass++) {
		int left = 0;

		for (int i = 0; i < G.napps; i++) {
			struct app *a = &G.apps[i];

			if (a->create == SENT) {
				G.resent++;
				left += !do_create(h, i);
			}
			if (a->submit == SENT) {
				G.resent++;
				left += !do_submit(h, i);
			}
			for (int c = 0; c < a->ncampus; c++)
				if (a->cb[c] == SENT) {
					G.resent++;
					left += !do_callback(h, i, c);
				}
		}
		for (int d = 0; d < G.ndecs; d++)
			if (G.decs[d].state == SENT) {
				G.resent++;
				left += !send_decision(h, d);
			}
		for (int i = 0; i < G.nchunks; i++)
			if (G.chunks[i].state == SENT) {
				G.resent++;
				left += !do_isir(h, i);
			}
		if (left == 0)
			return;
		msleep(200);
	}
	violation("requests still unanswered after 50 tries");
}

static void
restore_clock(CURL *h)
{
	char body[64];
	json_t *j;

	if (G.offset_ms == 0)
		return;
	snprintf(body, sizeof(body), "{\"advance\":\"%lldms\"}", G.offset_ms);
	j = must(h, port, "POST", "/v1/clock", admin, body, 200);
	json_decref(j);
}

/* What every acknowledged request made is there exactly once. */
static void
verify(CURL *h, int final)
{
	sqlite3 *db = db_open();
	long long apps = 0, kids = 0, cbs = 0, recs = 0, n;
	int admits;
	char sql[256];

	for (int i = 0; i < G.napps; i++) {
		struct app *a = &G.apps[i];

		if (a->create != ACKED)
			continue;
		apps++;
		n = db_int(db,
		           "SELECT count(*) FROM cases WHERE id = ?1 AND "
		           "workflow = 'student_application'",
		           a->id);
		if (n != 1)
			violation("app-%d (%s): acknowledged, %lld in the "
			          "database",
			          i, a->id, n);
		/* the ones made this cycle, also through the API */
		if (a->cycle == G.cycle) {
			struct httpc_reply r;
			char path[128];

			snprintf(path, sizeof(path), "/v1/cases/%s", a->id);
			req(h, port, "GET", path, students[a->student], NULL,
			    NULL, NULL, &r);
			if (r.status != 200)
				violation("app-%d (%s): GET answers %ld", i,
				          a->id, r.status);
			free(r.body);
		}
		if (a->submit != ACKED)
			continue;
		admits = 0;
		kids += a->ncampus;
		n = db_int(db,
		           "SELECT count(*) FROM history WHERE case_id = ?1 "
		           "AND type = 'submit'",
		           a->id);
		if (n != 1)
			violation("app-%d (%s): %lld submits in its history", i,
			          a->id, n);
		n = db_int(db,
		           "SELECT count(*) FROM cases WHERE parent_id = ?1",
		           a->id);
		if (n != a->ncampus)
			violation("app-%d (%s): %lld campus applications for "
			          "%d campuses",
			          i, a->id, n, a->ncampus);
		for (int c = 0; c < a->ncampus; c++) {
			if (a->kid[c][0] == '\0') {
				violation("app-%d: submitted, no child for %s",
				          i, campuses[a->campus[c]]);
				continue;
			}
			if (a->staff[c] == ACKED) {
				admits += a->staff_dec[c] == 0;
				n = db_int(db,
				           "SELECT count(*) FROM history WHERE "
				           "case_id = ?1 AND type = 'decide'",
				           a->kid[c]);
				if (n != 1)
					violation(
					        "decision on %s: acknowledged, "
					        "%lld in the history",
					        a->kid[c], n);
				/* deciding ended the lease */
				n = db_int(db,
				           "SELECT count(*) FROM leases WHERE "
				           "case_id = ?1",
				           a->kid[c]);
				if (n != 0)
					violation("decision on %s: its lease "
					          "outlived it",
					          a->kid[c]);
			}
			if (a->cb[c] != ACKED)
				continue;
			cbs++;
			admits +=
			        cb_is_decision(i, c) && cb_decision(i, c) == 0;
			n = db_int(
			        db,
			        cb_is_decision(i, c)
			                ? "SELECT count(*) FROM history WHERE "
			                  "case_id = ?1 AND type = 'decide'"
			                : "SELECT count(*) FROM history WHERE "
			                  "case_id = ?1 AND type = "
			                  "'request_documents'",
			        a->kid[c]);
			if (n != 1)
				violation(
				        "callback cb-%d-%d (%s): applied, %lld "
				        "times in the history",
				        i, c, a->kid[c], n);
		}
		/* each admission reached the application once */
		n = db_int(db,
		           "SELECT count(*) FROM history WHERE case_id = ?1 "
		           "AND type = 'child.admitted'",
		           a->id);
		if (n != admits)
			violation(
			        "app-%d (%s): %lld child.admitted, %d campuses "
			        "admitted",
			        i, a->id, n, admits);
	}
	n = db_int(db,
	           "SELECT count(*) FROM cases WHERE workflow = "
	           "'student_application'",
	           NULL);
	if (n != apps)
		violation("%lld student applications stored, %lld sent", n,
		          apps);
	n = db_int(db,
	           "SELECT count(*) FROM cases WHERE workflow = "
	           "'campus_application'",
	           NULL);
	if (n != kids)
		violation("%lld campus applications stored, %lld expected", n,
		          kids);
	n = db_int(db, "SELECT count(*) FROM callbacks", NULL);
	if (n != cbs)
		violation("%lld callbacks stored, %lld applied", n, cbs);
	for (int i = 0; i < G.nchunks; i++) {
		if (G.chunks[i].state != ACKED)
			continue;
		for (int r = 0; r < G.chunks[i].nrec; r++) {
			recs++;
			snprintf(sql, sizeof(sql),
			         "SELECT count(*) FROM isir_files f JOIN cases "
			         "c "
			         "ON c.id = f.case_id WHERE f.fafsa_uuid = ?1 "
			         "AND c.workflow = 'aid_file'");
			n = db_int(db, sql, G.chunks[i].uuid[r]);
			if (n != 1)
				violation("ISIR %s: imported, %lld aid files",
				          G.chunks[i].uuid[r], n);
		}
	}
	n = db_int(db, "SELECT count(*) FROM cases WHERE workflow = 'aid_file'",
	           NULL);
	if (n != recs)
		violation("%lld aid files stored, %lld records imported", n,
		          recs);
	n = db_int(db,
	           "SELECT count(*) FROM (SELECT 1 FROM history WHERE type "
	           "LIKE 'timer.%' GROUP BY case_id, type HAVING count(*) > "
	           "1)",
	           NULL);
	if (n != 0)
		violation("%lld timers fired more than once on a case", n);
	verify_chains(db);
	audit_verify();
	if (final) {
		long long want = db_int(db,
		                        "SELECT count(DISTINCT case_id) FROM "
		                        "history WHERE type = "
		                        "'request_documents'",
		                        NULL);
		long long fired = db_int(db,
		                         "SELECT count(DISTINCT case_id) FROM "
		                         "history WHERE type = "
		                         "'timer.documents_due'",
		                         NULL);

		if (want != fired)
			violation("%lld cases were asked for documents, %lld "
			          "fired documents_due",
			          want, fired);
	}
	/* every read a student got an answer to, in every cycle, left its
	 * disclosure row, though its commit did not wait for an fsync (a
	 * read cut off by the kill may have left one more) */
	n = db_int(db,
	           "SELECT count(*) FROM disclosures WHERE role = 'student' "
	           "AND route = 'GET /v1/cases/{id}'",
	           NULL);
	if (n < G.reads)
		violation("%ld reads of a case answered, %lld on the "
		          "disclosure log",
		          G.reads, n);
	sqlite3_close(db);
}

/* The outbox drains, and the mock got each row's key, no other. */
static void
verify_outbox(CURL *h, long long *unique, long long *dups)
{
	sqlite3 *db;
	json_t *calls, *c, *st;
	size_t i;
	long long rows = -1, pending = -1;

	for (int t = 0; t < 1200; t++) {
		db = db_open();
		pending = db_int(db,
		                 "SELECT count(*) FROM outbox WHERE state <> "
		                 "'delivered'",
		                 NULL);
		sqlite3_close(db);
		if (pending == 0)
			break;
		msleep(100);
	}
	if (pending != 0)
		violation("%lld outbox rows not delivered after 120 s",
		          pending);
	db = db_open();
	rows = db_int(db, "SELECT count(*) FROM outbox", NULL);
	calls = must(h, mock_port, "GET", "/_mock/calls", NULL, NULL, 200);
	json_array_foreach(json_object_get(calls, "calls"), i, c)
	{
		const char *k = json_string_value(json_object_get(c, "key"));

		if (db_int(db,
		           "SELECT count(*) FROM outbox WHERE idem_key = ?1",
		           k ? k : "") != 1)
			violation("the mock got key %s, not in the outbox",
			          k ? k : "(none)");
	}
	st = must(h, mock_port, "GET", "/_mock/stats", NULL, NULL, 200);
	*unique = json_integer_value(json_object_get(st, "unique"));
	*dups = json_integer_value(json_object_get(st, "duplicates"));
	if (*unique != rows)
		violation("the mock got %lld distinct calls, the outbox holds "
		          "%lld",
		          *unique, rows);
	json_decref(st);
	json_decref(calls);
	sqlite3_close(db);
}

/* --- set-up -------------------------------------------------------------- */

static void
setup(CURL *h, int cycles)
{
	char path[700], text[4096], cmd[1400];
	FILE *f;
	json_t *j;
	size_t cap = 0;
	char *line = NULL;
	ssize_t n;
	int nlines = 0, want = cycles * 60 + 40;

	snprintf(dir, sizeof(dir), "/tmp/cairn-crash-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp: %s", strerror(errno));
	snprintf(dbpath, sizeof(dbpath), "%s/var/cairn.db", dir);
	snprintf(cfg, sizeof(cfg), "%s/cairnd.yaml", dir);
	snprintf(logpath, sizeof(logpath), "%s/cairnd.log", dir);
	snprintf(path, sizeof(path), "%s/adapters", dir);
	mkdir(path, 0700);
	mock_start();
	port = free_port();
	snprintf(text, sizeof(text),
	         "name: uc_campus\n"
	         "base_url: http://127.0.0.1:%d/uc\n"
	         "credentials:\n"
	         "  header: Authorization\n"
	         "  scheme: Bearer\n"
	         "  secret: {env: CAIRN_UC_CAMPUS_TOKEN}\n"
	         "timeouts: {connect: 2s, total: 5s}\n"
	         "retry: {max_attempts: 100, initial: 50ms, max: 1s}\n"
	         "concurrency: 16\n"
	         "callbacks:\n"
	         "  secret: {env: CAIRN_UC_CAMPUS_CALLBACK_SECRET}\n"
	         "  window: 5m\n"
	         "  events: [complete, request_documents, decide]\n"
	         "operations:\n"
	         "  send_application:\n"
	         "    method: POST\n"
	         "    path: /applications\n"
	         "    body: {application_id: $case_id, campus: $data.campus}\n"
	         "    response:\n"
	         "      event: $response.next\n"
	         "      events: [complete, request_documents]\n"
	         "      data: {campus_reference: $response.reference?}\n",
	         mock_port);
	snprintf(path, sizeof(path), "%s/adapters/uc_campus.yaml", dir);
	write_file(path, text);
	snprintf(text, sizeof(text),
	         "listen: 127.0.0.1:%d\n"
	         "database: var/cairn.db\n"
	         "definitions:\n"
	         "  workflows: [%s/examples/workflows]\n"
	         "  rules: [%s/examples/rules]\n"
	         "  adapters: [adapters]\n"
	         "  campuses: %s/examples/campuses.yaml\n"
	         "log_level: info\n"
	         "outbox: {poll: 200ms}\n",
	         port, CAIRN_SOURCE_DIR, CAIRN_SOURCE_DIR, CAIRN_SOURCE_DIR);
	write_file(cfg, text);
	setenv("CAIRN_UC_CAMPUS_TOKEN", "crash-loop-token", 1);
	setenv("CAIRN_UC_CAMPUS_CALLBACK_SECRET", CB_SECRET, 1);

	/* ISIR records to import, made by the client as a user would */
	snprintf(path, sizeof(path), "%s/isir.txt", dir);
	snprintf(cmd, sizeof(cmd), "'%s/cairn' isir generate %d > '%s'", bindir,
	         want, path);
	if (system(cmd) != 0)
		die("%s failed", cmd);
	G.isir = calloc((size_t)want, sizeof(char *));
	f = fopen(path, "r");
	if (G.isir == NULL || f == NULL)
		die("cannot read %s", path);
	while (nlines < want && (n = getline(&line, &cap, f)) > 0) {
		line[strcspn(line, "\r\n")] = '\0';
		G.isir[nlines++] = strdup(line);
	}
	free(line);
	fclose(f);
	G.nisir = nlines;
	G.maxchunks = nlines / CHUNK;
	if (G.maxchunks > MAX_CHUNKS)
		G.maxchunks = MAX_CHUNKS;

	cairnd_start(h);
	snprintf(path, sizeof(path), "%s/var/admin.token", dir);
	f = fopen(path, "r");
	if (f == NULL || fgets(admin, sizeof(admin), f) == NULL)
		die("no admin token in %s", path);
	fclose(f);
	admin[strcspn(admin, "\n")] = '\0';
	j = must(h, port, "POST", "/v1/tokens", admin,
	         "{\"role\":\"admissions\",\"scope\":\"uc-merced\"}", 201);
	snprintf(staff, sizeof(staff), "%s",
	         json_string_value(json_object_get(j, "token")));
	json_decref(j);
	for (int s = 0; s < NSTUDENTS; s++) {
		snprintf(text, sizeof(text),
		         "{\"role\":\"student\",\"scope\":\"S-%d\"}", s);
		j = must(h, port, "POST", "/v1/tokens", admin, text, 201);
		snprintf(students[s], sizeof(students[s]), "%s",
		         json_string_value(json_object_get(j, "token")));
		json_decref(j);
	}
}

static void
remove_dir(void)
{
	char cmd[400];

	if (strncmp(dir, "/tmp/cairn-crash-", 17) == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
}

int
main(int argc, char **argv)
{
	int cycles = 0, keep = 0, nclients = 6;
	struct worker *w;
	CURL *h;
	double t0 = now_s();
	long long unique = 0, dups = 0;
	ssize_t n;

	seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--clients") && i + 1 < argc)
			nclients = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--keep"))
			keep = 1;
		else if (cycles == 0 && atoi(argv[i]) > 0)
			cycles = atoi(argv[i]);
		else
			cycles = -1;
	}
	if (cycles <= 0 || nclients < 1 || nclients > 256) {
		fprintf(stderr, "usage: cairn-crash N [--seed S] [--keep] "
		                "[--clients C]\n");
		return 2;
	}
	n = readlink("/proc/self/exe", bindir, sizeof(bindir) - 1);
	if (n <= 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	bindir[n] = '\0';
	*strrchr(bindir, '/') = '\0';
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_ALL);
	G.apps = calloc(MAX_APPS, sizeof(*G.apps));
	G.chunks = calloc(MAX_CHUNKS, sizeof(*G.chunks));
	G.decs = calloc(MAX_DECS, sizeof(*G.decs));
	G.byid = json_object();
	w = calloc((size_t)nclients, sizeof(*w));
	h = curl_easy_init();
	if (G.apps == NULL || G.chunks == NULL || G.decs == NULL ||
	    G.byid == NULL || w == NULL || h == NULL)
		die("out of memory");
	printf("crash loop: %d cycles, %d clients, seed %u, in %s\n", cycles,
	       nclients, seed, dir[0] ? dir : "(tmp)");
	setup(h, cycles);
	printf("  files in %s\n", dir);
	fflush(stdout);
	for (G.cycle = 1; G.cycle <= cycles; G.cycle++) {
		unsigned s = seed + (unsigned)G.cycle;
		/* the kill lands 0.2 to 2.2 s into the mix */
		int run_ms = 200 + rnd(&s, 2000);
		long before = G.acked;

		atomic_store(&stop_flag, 0);
		for (int i = 0; i < nclients; i++) {
			w[i].n = i;
			w[i].seed =
			        seed * 7919u + (unsigned)(G.cycle * 131 + i);
			pthread_create(&w[i].th, NULL, worker_main, &w[i]);
		}
		msleep(run_ms);
		/* no new requests from here; those in flight are cut by the
		 * kill (a client that failed fast would otherwise count
		 * hundreds of "unanswered" requests cairnd never saw) */
		atomic_store(&stop_flag, 1);
		kill(cairnd_pid, SIGKILL);
		waitpid(cairnd_pid, NULL, 0);
		cairnd_pid = 0;
		for (int i = 0; i < nclients; i++)
			pthread_join(w[i].th, NULL);
		integrity_check("after the kill");
		cairnd_start(h);
		resend_unanswered(h);
		restore_clock(h);
		verify(h, 0);
		printf("  cycle %d: killed after %d ms, %ld acknowledged, %ld "
		       "applications so far, violations %ld\n",
		       G.cycle, run_ms, G.acked - before, (long)G.napps,
		       G.violations);
		fflush(stdout);
	}
	G.cycle = cycles;
	/* the end: deliveries finish, every due timer fires */
	verify_outbox(h, &unique, &dups);
	{
		json_t *j = must(h, port, "POST", "/v1/clock", admin,
		                 "{\"advance\":\"15d\"}", 200);
		long long now = json_integer_value(json_object_get(j, "now"));
		long long due = -1;
		char q[128];

		json_decref(j);
		snprintf(q, sizeof(q),
		         "SELECT count(*) FROM timers WHERE due_at <= %lld",
		         now);
		for (int t = 0; t < 600; t++) {
			sqlite3 *db = db_open();

			due = db_int(db, q, NULL);
			sqlite3_close(db);
			if (due == 0)
				break;
			msleep(100);
		}
		if (due != 0)
			violation("%lld timers still due 60 s after the clock "
			          "passed them",
			          due);
	}
	verify(h, 1);
	kill(cairnd_pid, SIGTERM);
	{
		int st;

		waitpid(cairnd_pid, &st, 0);
		cairnd_pid = 0;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			violation("cairnd did not exit 0 on SIGTERM");
	}
	integrity_check("after the last stop");
	kill(mock_pid, SIGKILL);
	waitpid(mock_pid, NULL, 0);
	printf("crash loop: %d cycles in %.1f s: %ld requests acknowledged, "
	       "%ld sent again after a kill, %ld reads, %d applications, %ld "
	       "claims, %d decisions by staff, %d ISIR imports; institution: "
	       "%lld calls, each once (%lld repeats refused by key); "
	       "violations: %ld\n",
	       cycles, now_s() - t0, G.acked, G.resent, G.reads, G.napps,
	       G.claims, G.ndecs, G.nchunks, unique, dups, G.violations);
	if (G.violations == 0 && !keep)
		remove_dir();
	else
		printf("files kept in %s\n", dir);
	curl_easy_cleanup(h);
	curl_global_cleanup();
	for (int i = 0; i < G.nisir; i++)
		free(G.isir[i]);
	free(G.isir);
	free(G.apps);
	free(G.chunks);
	free(G.decs);
	json_decref(G.byid);
	free(w);
	return G.violations ? 1 : 0;
}
