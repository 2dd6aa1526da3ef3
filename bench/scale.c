/*
 * scale.c: the tools of the scale benchmark (bench/scale.sh), one binary
 * with a subcommand each:
 *
 *   scale build  -o DIR [-n CASES] [-t TIMERS] [-s SAMPLE] [-r REPO_ROOT]
 *   scale timers -o DIR -n COUNT -a AFTER_MS -w WINDOW_MS [-k SKIP]
 *   scale ready  -u URL -z T0_NS [-m TIMEOUT_MS]
 *   scale load   -m get|list -c CONNS -d SECONDS [-w WARMUP] -T TOKEN_FILE
 *                -f IDS_FILE URL
 *   scale verify -T TOKEN_FILE -f IDS_FILE URL
 *   scale lag    URL
 *   scale build-aid -o DIR [-n CASES]
 *   scale rules-body DIR [WORKFLOW]
 *
 * build: a database of CASES cases (default 1,000,000) written through the
 * store's own API (store_open, store_batch_case_insert and friends, 2,000
 * applications to a batch, a few batches in flight), so the schema, the
 * indexes and the binding are the daemon's. The cases look like what
 * cairnd writes for bench/apps: student_application parents with 4
 * campus_application children each (campuses rotating through the nine UC
 * campuses, subject S0000001..., owner the campus, root_id, parent_id and
 * spawn_key set), spread over the last 60 days. The children's statuses
 * are received / under_review / incomplete / admitted / denied; every
 * incomplete, admitted and denied child carries the timer its status
 * starts (documents_due, sir_deadline, appeal_window), all in the future,
 * TIMERS of them in all (default 100,000: half documents_due). A parent
 * with an admitted child is in offer_received, the others in submitted.
 * Each case gets the history cairnd would have written (created, submit,
 * child.<status> on the parent, the campus's moves), hash-chained the way
 * daemon/cases.c chains it. The example workflow files are recorded as
 * version 1 with the SHA-256 of their bytes, so cairnd starting on the
 * database sees its own versions; an admin token is created and written
 * to DIR/admin.token. Writes DIR/cairn.db, DIR/ids.txt (a uniform sample
 * of case ids, SAMPLE of them, default 100,000) and DIR/incomplete.txt
 * (the ids of the incomplete children, whose documents_due timers the
 * timers step moves).
 *
 * timers: with cairnd stopped, moves the documents_due timers of COUNT
 * incomplete cases (from line SKIP of DIR/incomplete.txt) to fall evenly
 * between AFTER_MS and AFTER_MS + WINDOW_MS from now (store_batch_timer_set)
 * and writes their ids to DIR/near.txt.
 *
 * ready: polls GET /readyz every 2 ms until it answers 200 and prints the
 * milliseconds since T0_NS (CLOCK_REALTIME nanoseconds, `date +%s%N`).
 *
 * load: closed-loop keep-alive load as bench/loadgen.c does it (the same
 * code, bench/benchlib.h), but each request names a random id of IDS_FILE:
 * GET /v1/cases/{id} (-m get), or a page of the listing GET
 * /v1/cases?workflow=campus_application&status=under_review&limit=50&
 * cursor={id} (-m list).
 *
 * verify: for each id of IDS_FILE reads GET /v1/cases/{id}/history and
 * counts the cases whose timer.documents_due event moved them to
 * documents_overdue; the lag of each (event time minus due time) gives
 * exact percentiles.
 *
 * lag: reads cairn_timer_lag_seconds from /metrics and estimates p50 and
 * p99 from its buckets (linear within a bucket, as Prometheus's
 * histogram_quantile does).
 *
 * Every subcommand prints one line of key=value pairs. Only IPv4 loopback
 * targets are accepted.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <openssl/evp.h>

#include "benchlib.h"
#include "common/cairn.h"
#include "daemon/auth.h"
#include "rules/rules.h"
#include "store/store.h"

#define DAY_MS     (86400 * INT64_C(1000))
#define NCAMPUS    9
#define KIDS       4
#define ID_LEN     36
#define TOKEN_MAX  80
#define MAX_CONNS  4096
#define APPS_BATCH 2000 /* applications (5 cases each) per store batch */
#define IN_FLIGHT  3    /* batches queued for the writer at once */

static const char *const campuses[NCAMPUS] = {
        "uc-berkeley",    "uc-davis",         "uc-irvine",
        "uc-los-angeles", "uc-merced",        "uc-riverside",
        "uc-san-diego",   "uc-santa-barbara", "uc-santa-cruz"};

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "scale: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* --- a small fast PRNG (xorshift64*) --------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* uniform in [0, 1) */
static double
rndf(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* --- files ------------------------------------------------------------------ */

/* Reads a file of one id a line; *n gets the count. */
static char **
read_ids(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	char line[128], **ids = NULL;
	size_t cap = 0;

	*n = 0;
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 1024;
			ids = realloc(ids, cap * sizeof(*ids));
			if (ids == NULL)
				die("out of memory");
		}
		if ((ids[(*n)++] = strdup(line)) == NULL)
			die("out of memory");
	}
	fclose(f);
	if (*n == 0)
		die("%s: no ids", path);
	return ids;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		die("%s: %s", path, strerror(errno));
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
		die("%s: read failed", path);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* --- the store, synchronously --------------------------------------------- */

static uv_loop_t loop;
static struct store *st;
static int inflight, failed;
static char fail_msg[512];

static void
open_store(const char *path)
{
	struct store_opts o = {0};
	struct cairn_err err = {0};
	char buf[1200];

	if (uv_loop_init(&loop) != 0)
		die("uv_loop_init");
	o.path = path;
	if (store_open(&loop, &o, &st, &err) != 0) {
		cairn_err_format(&err, buf, sizeof(buf));
		die("store_open %s: %s", path, buf);
	}
}

static void
close_store(void)
{
	while (inflight > 0)
		uv_run(&loop, UV_RUN_ONCE);
	store_close(st);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (failed)
		die("a batch failed: %s", fail_msg);
}

static void
batch_done(int status, const char *msg, void *data)
{
	inflight--;
	if (status != 0) {
		failed++;
		snprintf(fail_msg, sizeof(fail_msg), "%s", msg ? msg : "error");
	}
}

static void
submit(struct store_batch *b)
{
	if (store_batch_submit(st, b, batch_done, NULL) != 0)
		die("store_batch_submit failed");
	inflight++;
	while (inflight >= IN_FLIGHT)
		uv_run(&loop, UV_RUN_ONCE);
	if (failed)
		die("a batch failed: %s", fail_msg);
}

/* --- build ------------------------------------------------------------------ */

static const char hexd[] = "0123456789abcdef";

/* A UUIDv7 as daemon/cases.c makes them: 48 bits of ms, then random. */
static void
uuid7(int64_t ms, char out[37])
{
	uint8_t u[16];
	uint64_t r1 = rnd(), r2 = rnd();
	char *o = out;

	memcpy(u + 6, &r1, 8);
	memcpy(u + 14, &r2, 2);
	for (int i = 0; i < 6; i++)
		u[i] = (uint8_t)((uint64_t)ms >> (40 - 8 * i));
	u[6] = (uint8_t)(0x70 | (u[6] & 0x0f));
	u[8] = (uint8_t)(0x80 | (u[8] & 0x3f));
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hexd[u[i] >> 4];
		*o++ = hexd[u[i] & 15];
	}
	*o = '\0';
}

/* RFC 3339 in UTC with milliseconds, as cairnd's $now */
static void
iso_ms(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03uZ", (unsigned)(ms % 1000) % 1000u);
}

/* A case while it is built: its row, and its history chain. */
struct bcase {
	char id[37];
	int64_t seq;
	uint8_t hash[32];
	int64_t last_at;
};

static uint64_t n_history;

/* Appends a history event, chained as fam_history in daemon/cases.c. */
static void
hist(struct store_batch *b, struct bcase *c, int64_t at, const char *actor,
     const char *type, const char *from, const char *to, const char *payload)
{
	struct store_history_row h = {0};
	char head[512];
	uint8_t phash[32];
	unsigned int n = 32;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	c->seq++;
	snprintf(head, sizeof(head), "%s\n%lld\n%lld\n%s\n%s\n%s\n%s\n%d\n",
	         c->id, (long long)c->seq, (long long)at, actor, type,
	         from ? from : "", to ? to : "", 1);
	/* the payload by its hash, as cairnd writes it since retention */
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, payload, strlen(payload)) != 1 ||
	    EVP_DigestFinal_ex(md, phash, &n) != 1 ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, c->hash, 32) != 1 ||
	    EVP_DigestUpdate(md, head, strlen(head)) != 1 ||
	    EVP_DigestUpdate(md, phash, 32) != 1 ||
	    EVP_DigestFinal_ex(md, c->hash, &n) != 1)
		die("sha256 failed");
	EVP_MD_CTX_free(md);
	h.case_id = c->id;
	h.seq = c->seq;
	h.at = at;
	h.actor = actor;
	h.type = type;
	h.from_status = from;
	h.to_status = to;
	h.payload = payload;
	h.workflow_version = 1;
	h.hash = c->hash;
	h.payload_hash = phash;
	if (store_batch_history_append(b, &h) != 0)
		die("out of memory");
	c->last_at = at;
	n_history++;
}

/* A moment in [max(created, now - max_ago), now]. */
static int64_t
recent(int64_t created, int64_t now, int64_t max_ago)
{
	int64_t lo = created > now - max_ago ? created : now - max_ago;

	return lo + (int64_t)((double)(now - lo) * rndf());
}

enum kst { K_RECEIVED, K_UNDER_REVIEW, K_INCOMPLETE, K_ADMITTED, K_DENIED };
static const char *const kst_name[] = {"received", "under_review", "incomplete",
                                       "admitted", "denied"};

/* an event on the parent, to be sorted by time */
struct pev {
	int64_t at;
	int kid;
	const char *status;
};

static int
pev_cmp(const void *a, const void *b)
{
	const struct pev *x = a, *y = b;

	return x->at < y->at ? -1 : x->at > y->at ? 1 : x->kid - y->kid;
}

/* Records every file of examples/workflows as version 1, hash = SHA-256
 * of its bytes (registry_record in daemon/cases.c). */
static int
put_workflows(struct store_batch *b, const char *root, int64_t now)
{
	char dir[2048], path[4096];
	DIR *dh;
	struct dirent *de;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/examples/workflows", root);
	if ((dh = opendir(dir)) == NULL)
		die("%s: %s", dir, strerror(errno));
	while ((de = readdir(dh)) != NULL) {
		size_t len = strlen(de->d_name), tl;
		unsigned char md[32];
		unsigned int mdl = 32;
		char hex[65], name[128], *text, *p;

		if (de->d_name[0] == '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		text = slurp(path, &tl);
		if (EVP_Digest(text, tl, md, &mdl, EVP_sha256(), NULL) != 1)
			die("sha256 failed");
		for (int i = 0; i < 32; i++) {
			hex[2 * i] = hexd[md[i] >> 4];
			hex[2 * i + 1] = hexd[md[i] & 15];
		}
		hex[64] = '\0';
		/* the top-level "name:" line */
		p = text;
		name[0] = '\0';
		while (p && *p) {
			if (!strncmp(p, "name:", 5)) {
				p += 5;
				while (*p == ' ')
					p++;
				snprintf(name, sizeof(name), "%.*s",
				         (int)strcspn(p, " \r\n#"), p);
				break;
			}
			p = strchr(p, '\n');
			if (p)
				p++;
		}
		if (name[0] == '\0')
			die("%s: no top-level name:", path);
		if (store_batch_workflow_put(b, name, 1, hex, text, now) != 0)
			die("out of memory");
		free(text);
		n++;
	}
	closedir(dh);
	return n;
}

/* Commits b with an admin token added and writes the token to
 * DIR/admin.token (mode 0600, as cairnd writes it). */
static void
admin_token(struct store_batch *b, const char *dir, const char *label,
            int64_t now)
{
	char path[4096], token[AUTH_TOKEN_LEN + 1];
	struct store_token tok;
	FILE *ft;

	memset(&tok, 0, sizeof(tok));
	if (b == NULL || auth_token_new(token, tok.hash, tok.id) != 0)
		die("auth_token_new failed");
	snprintf(tok.role, sizeof(tok.role), "admin");
	snprintf(tok.label, sizeof(tok.label), "%s", label);
	tok.created_at = now;
	if (store_batch_token_create(b, &tok) != 0)
		die("out of memory");
	if (store_batch_commit_sync(st, b, fail_msg, sizeof(fail_msg)) != 0)
		die("admin token: %s", fail_msg);
	snprintf(path, sizeof(path), "%s/admin.token", dir);
	if ((ft = fopen(path, "w")) == NULL)
		die("%s: %s", path, strerror(errno));
	fchmod(fileno(ft), 0600);
	fprintf(ft, "%s\n", token);
	fclose(ft);
}

static int
cmd_build(int argc, char **argv)
{
	const char *dir = NULL, *root = ".";
	long long ncases = 1000000, ntimers = 100000, nsample = 100000;
	char path[4096];
	int opt;

	while ((opt = getopt(argc, argv, "o:n:t:s:r:")) != -1) {
		switch (opt) {
		case 'o':
			dir = optarg;
			break;
		case 'n':
			ncases = atoll(optarg);
			break;
		case 't':
			ntimers = atoll(optarg);
			break;
		case 's':
			nsample = atoll(optarg);
			break;
		case 'r':
			root = optarg;
			break;
		default:
			return 2;
		}
	}
	if (dir == NULL || ncases < 5 || ntimers < 0 || nsample < 1) {
		fprintf(stderr, "usage: scale build -o DIR [-n CASES] "
		                "[-t TIMERS] [-s SAMPLE] [-r REPO_ROOT]\n");
		return 2;
	}

	long long apps = ncases / (1 + KIDS), nkids = apps * KIDS;
	if (ntimers > nkids / 2)
		ntimers = nkids / 2;
	/* timers by the status that starts them: half documents_due
	 * (incomplete), a quarter sir_deadline (admitted), a quarter
	 * appeal_window (denied); the other children are received (3/7) or
	 * under review (4/7) */
	long long need[3] = {ntimers / 2, ntimers / 4,
	                     ntimers - ntimers / 2 - ntimers / 4};
	long long left = nkids, counts[5] = {0};
	double p_sample = (double)nsample / (double)(apps * (1 + KIDS));
	double t0 = cairn_mono_s();
	int64_t now = cairn_now_ms(), span = 60 * DAY_MS;
	struct store_batch *b;
	FILE *fids, *finc;
	int nwf;

	snprintf(path, sizeof(path), "%s/cairn.db", dir);
	{
		struct stat sb;

		if (stat(path, &sb) == 0)
			die("%s exists; build into an empty directory", path);
	}
	rng_state ^= (uint64_t)now * 0x9e3779b97f4a7c15ull;
	open_store(path);

	/* the workflows and an admin token first */
	b = store_batch_new();
	nwf = put_workflows(b, root, now);
	admin_token(b, dir, "bench/scale", now);

	snprintf(path, sizeof(path), "%s/ids.txt", dir);
	if ((fids = fopen(path, "w")) == NULL)
		die("%s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/incomplete.txt", dir);
	if ((finc = fopen(path, "w")) == NULL)
		die("%s: %s", path, strerror(errno));

	b = store_batch_new();
	for (long long a = 0; a < apps; a++) {
		int64_t created =
		        now - span +
		        (int64_t)((double)span * (double)a / (double)apps);
		struct bcase par = {0}, kid[KIDS];
		struct store_case_row row;
		struct pev pe[KIDS * 3];
		int npe = 0, first = (int)(a % NCAMPUS), admitted = 0;
		char subject[24], student[24], buf[1024], data[1024], t1[32],
		        t2[32], sir[16];
		int64_t sir_due = 0;

		snprintf(subject, sizeof(subject), "S%07lld", a + 1);
		snprintf(student, sizeof(student), "tok_%016llx",
		         (unsigned long long)(a * 2654435761u));
		uuid7(created, par.id);
		iso_ms(created, t1);

		/* the parent's first two events */
		{
			int o = snprintf(buf, sizeof(buf), "{\"campuses\":[");

			for (int k = 0; k < KIDS; k++)
				o += snprintf(buf + o, sizeof(buf) - (size_t)o,
				              "%s\"%s\"", k ? "," : "",
				              campuses[(first + k) % NCAMPUS]);
			snprintf(buf + o, sizeof(buf) - (size_t)o, "]}");
		}
		hist(b, &par, created, student, "created", NULL, "draft", buf);
		hist(b, &par, created, student, "submit", "draft", "submitted",
		     "{}");
		/* parent data: campuses and submitted_at */
		snprintf(data, sizeof(data), "%.*s,\"submitted_at\":\"%s\"}",
		         (int)strlen(buf) - 1, buf, t1);

		for (int k = 0; k < KIDS; k++) {
			const char *campus = campuses[(first + k) % NCAMPUS];
			char adm[24], key[64], kdata[512];
			int64_t m1 = 0, m2 = 0, due = 0, tdue = 0;
			const char *queue = NULL, *tname = NULL;
			double u = rndf();
			enum kst s;

			/* selection sampling: exact counts of each status
			 * that carries a timer */
			if (u * (double)left < (double)need[0]) {
				s = K_INCOMPLETE;
				need[0]--;
			} else if (u * (double)left <
			           (double)(need[0] + need[1])) {
				s = K_ADMITTED;
				need[1]--;
			} else if (u * (double)left <
			           (double)(need[0] + need[1] + need[2])) {
				s = K_DENIED;
				need[2]--;
			} else {
				s = rndf() < 3.0 / 7 ? K_RECEIVED
				                     : K_UNDER_REVIEW;
			}
			left--;
			counts[s]++;
			snprintf(adm, sizeof(adm), "tok_adm%09d",
			         (first + k) % NCAMPUS);
			snprintf(key, sizeof(key), "campus_application:%s",
			         campus);
			uuid7(created, kid[k].id);
			kid[k].seq = 0;
			memset(kid[k].hash, 0, 32);
			snprintf(buf, sizeof(buf), "{\"campus\":\"%s\"}",
			         campus);
			hist(b, &kid[k], created, student, "created", NULL,
			     "received", buf);
			pe[npe++] = (struct pev){created, k, "received"};
			snprintf(kdata, sizeof(kdata), "{\"campus\":\"%s\"}",
			         campus);
			switch (s) {
			case K_RECEIVED:
				queue = "admissions_intake";
				due = created + 7 * DAY_MS;
				break;
			case K_UNDER_REVIEW:
				m1 = recent(created, now, span);
				hist(b, &kid[k], m1, adm, "complete",
				     "received", "under_review", "{}");
				queue = "admissions_review";
				due = m1 + 30 * DAY_MS;
				break;
			case K_INCOMPLETE:
				m1 = recent(created, now, 13 * DAY_MS);
				hist(b, &kid[k], m1, adm, "request_documents",
				     "received", "incomplete",
				     "{\"documents\":[\"transcript\"]}");
				snprintf(kdata, sizeof(kdata),
				         "{\"campus\":\"%s\",\"documents_"
				         "requested\":[\"transcript\"]}",
				         campus);
				tname = "documents_due";
				tdue = m1 + 14 * DAY_MS;
				break;
			case K_ADMITTED:
			case K_DENIED:
				m2 = recent(created, now,
				            s == K_DENIED ? 20 * DAY_MS : span);
				m1 = created +
				     (int64_t)((double)(m2 - created) * rndf());
				hist(b, &kid[k], m1, adm, "complete",
				     "received", "under_review", "{}");
				pe[npe++] = (struct pev){m1, k, "under_review"};
				iso_ms(m2, t2);
				if (s == K_ADMITTED) {
					/* the intent-to-register deadline,
					 * 60 to 150 days out */
					time_t tt;
					struct tm tm;

					sir_due = now +
					          (60 + (int64_t)(rnd() % 90)) *
					                  DAY_MS;
					sir_due -= sir_due % DAY_MS;
					tt = (time_t)(sir_due / 1000);
					gmtime_r(&tt, &tm);
					strftime(sir, sizeof(sir), "%Y-%m-%d",
					         &tm);
					snprintf(buf, sizeof(buf),
					         "{\"decision\":\"admit\","
					         "\"sir_deadline\":\"%s\"}",
					         sir);
					snprintf(kdata, sizeof(kdata),
					         "{\"admitted_at\":\"%s\","
					         "\"campus\":\"%s\","
					         "\"decided_at\":\"%s\","
					         "\"decision\":\"admit\","
					         "\"sir_deadline\":\"%s\"}",
					         t2, campus, t2, sir);
					tname = "sir_deadline";
					tdue = sir_due;
				} else {
					snprintf(buf, sizeof(buf),
					         "{\"decision\":\"deny\"}");
					snprintf(kdata, sizeof(kdata),
					         "{\"campus\":\"%s\","
					         "\"decided_at\":\"%s\","
					         "\"decision\":\"deny\"}",
					         campus, t2);
					tname = "appeal_window";
					tdue = m2 + 21 * DAY_MS;
				}
				hist(b, &kid[k], m2, adm, "decide",
				     "under_review", kst_name[s], buf);
				break;
			}
			if (m1 && s != K_ADMITTED && s != K_DENIED)
				pe[npe++] = (struct pev){m1, k, kst_name[s]};
			if (m2)
				pe[npe++] = (struct pev){m2, k, kst_name[s]};
			if (s == K_ADMITTED)
				admitted = 1;

			memset(&row, 0, sizeof(row));
			row.id = kid[k].id;
			row.workflow = "campus_application";
			row.version = 1;
			row.status = kst_name[s];
			row.data = kdata;
			row.parent_id = par.id;
			row.root_id = par.id;
			row.spawn_key = key;
			row.subject = subject;
			row.owner = campus;
			row.queue = queue;
			row.due_at = due;
			row.revision = kid[k].seq;
			row.history_seq = kid[k].seq;
			row.history_hash = kid[k].hash;
			row.created_at = created;
			row.updated_at = kid[k].last_at;
			/* inserted after the parent, below */
			if (tname != NULL) {
				char ev[64];

				snprintf(ev, sizeof(ev), "timer.%s", tname);
				if (store_batch_timer_set(b, kid[k].id, tname,
				                          tdue, ev) != 0)
					die("out of memory");
			}
			if (s == K_INCOMPLETE)
				fprintf(finc, "%s\n", kid[k].id);
			if (rndf() < p_sample)
				fprintf(fids, "%s\n", kid[k].id);
			/* keep the row for after the parent: the row's
			 * strings live in locals, so insert now; the
			 * order within a transaction does not matter */
			if (store_batch_case_insert(b, &row) != 0)
				die("out of memory");
		}

		/* the parent hears of every child move, in time order */
		qsort(pe, (size_t)npe, sizeof(pe[0]), pev_cmp);
		{
			const char *pst = "submitted";

			for (int e = 0; e < npe; e++) {
				char type[64];
				int moves = !strcmp(pe[e].status, "admitted");

				snprintf(type, sizeof(type), "child.%s",
				         pe[e].status);
				snprintf(
				        buf, sizeof(buf),
				        "{\"child\":\"%s\",\"key\":\"campus_"
				        "application:%s\",\"status\":\"%s\"}",
				        kid[pe[e].kid].id,
				        campuses[(first + pe[e].kid) % NCAMPUS],
				        pe[e].status);
				char who[24];

				/* the actor of the command that moved the
				 * child: the student, or the campus */
				snprintf(who, sizeof(who), "tok_adm%09d",
				         (first + pe[e].kid) % NCAMPUS);
				hist(b, &par, pe[e].at,
				     pe[e].at == created ? student : who, type,
				     moves ? pst : NULL,
				     moves ? "offer_received" : NULL, buf);
				if (moves)
					pst = "offer_received";
			}
		}
		memset(&row, 0, sizeof(row));
		row.id = par.id;
		row.workflow = "student_application";
		row.version = 1;
		row.status = admitted ? "offer_received" : "submitted";
		row.data = data;
		row.root_id = par.id;
		row.subject = subject;
		row.owner = "";
		row.revision = par.seq;
		row.open_children = KIDS;
		row.history_seq = par.seq;
		row.history_hash = par.hash;
		row.created_at = created;
		row.updated_at = par.last_at;
		if (store_batch_case_insert(b, &row) != 0)
			die("out of memory");
		if (rndf() < p_sample)
			fprintf(fids, "%s\n", par.id);

		if ((a + 1) % APPS_BATCH == 0 || a + 1 == apps) {
			submit(b);
			b = a + 1 < apps ? store_batch_new() : NULL;
			if ((a + 1) % (APPS_BATCH * 20) == 0)
				fprintf(stderr,
				        "scale: %lld of %lld cases, %.0f s\n",
				        (a + 1) * (1 + KIDS), apps * (1 + KIDS),
				        cairn_mono_s() - t0);
		}
	}
	if (b != NULL)
		store_batch_free(b);
	close_store();
	fclose(fids);
	fclose(finc);

	{
		struct stat sb;
		long long bytes = 0;

		snprintf(path, sizeof(path), "%s/cairn.db", dir);
		if (stat(path, &sb) == 0)
			bytes = (long long)sb.st_size;
		snprintf(path, sizeof(path), "%s/cairn.db-wal", dir);
		if (stat(path, &sb) == 0)
			bytes += (long long)sb.st_size;
		printf("cases=%lld applications=%lld history=%llu timers=%lld "
		       "received=%lld under_review=%lld incomplete=%lld "
		       "admitted=%lld denied=%lld workflows=%d db_bytes=%lld "
		       "build_s=%.1f\n",
		       apps * (1 + KIDS), apps, (unsigned long long)n_history,
		       ntimers, counts[K_RECEIVED], counts[K_UNDER_REVIEW],
		       counts[K_INCOMPLETE], counts[K_ADMITTED],
		       counts[K_DENIED], nwf, bytes, cairn_mono_s() - t0);
	}
	return 0;
}

/* --- timers ----------------------------------------------------------------- */

static int
cmd_timers(int argc, char **argv)
{
	const char *dir = NULL;
	long long count = 10000, skip = 0, after = -1, window = 5000;
	char path[4096];
	size_t nids;
	char **ids;
	struct store_batch *b;
	FILE *f;
	int64_t now;
	int opt;

	while ((opt = getopt(argc, argv, "o:n:a:w:k:")) != -1) {
		switch (opt) {
		case 'o':
			dir = optarg;
			break;
		case 'n':
			count = atoll(optarg);
			break;
		case 'a':
			after = atoll(optarg);
			break;
		case 'w':
			window = atoll(optarg);
			break;
		case 'k':
			skip = atoll(optarg);
			break;
		default:
			return 2;
		}
	}
	if (dir == NULL || count < 1 || after < 0 || window < 1) {
		fprintf(stderr, "usage: scale timers -o DIR -n COUNT "
		                "-a AFTER_MS -w WINDOW_MS [-k SKIP]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/incomplete.txt", dir);
	ids = read_ids(path, &nids);
	if ((size_t)(skip + count) > nids)
		die("%s has %zu ids; %lld + %lld wanted", path, nids, skip,
		    count);
	snprintf(path, sizeof(path), "%s/cairn.db", dir);
	open_store(path);
	snprintf(path, sizeof(path), "%s/near.txt", dir);
	if ((f = fopen(path, "w")) == NULL)
		die("%s: %s", path, strerror(errno));
	/* after store_open, which reads the whole file once (quick_check) */
	now = cairn_now_ms();
	b = store_batch_new();
	for (long long i = 0; i < count; i++) {
		int64_t due = now + after + window * i / count;

		if (store_batch_timer_set(b, ids[skip + i], "documents_due",
		                          due, "timer.documents_due") != 0)
			die("out of memory");
		fprintf(f, "%s\n", ids[skip + i]);
	}
	fclose(f);
	if (store_batch_commit_sync(st, b, fail_msg, sizeof(fail_msg)) != 0)
		die("timers: %s", fail_msg);
	close_store();
	printf("timers=%lld first_due_ms=%lld window_ms=%lld\n", count,
	       (long long)(now + after), window);
	return 0;
}

/* --- blocking HTTP ------------------------------------------------------------ */

/* where ready, verify, lag and load send their requests */
static struct bl_target target;

/* --- ready ---------------------------------------------------------------------- */

static int
cmd_ready(int argc, char **argv)
{
	const char *url = NULL;
	long long t0 = 0, timeout = 60000;
	struct timespec ts;
	int opt;

	while ((opt = getopt(argc, argv, "u:z:m:")) != -1) {
		switch (opt) {
		case 'u':
			url = optarg;
			break;
		case 'z':
			t0 = atoll(optarg);
			break;
		case 'm':
			timeout = atoll(optarg);
			break;
		default:
			return 2;
		}
	}
	if (url == NULL || t0 <= 0 ||
	    bl_parse_url("scale", url, &target, NULL) != 0) {
		fprintf(stderr, "usage: scale ready -u http://127.0.0.1:PORT "
		                "-z T0_NS [-m TIMEOUT_MS]\n");
		return 2;
	}
	for (;;) {
		char *body;
		int status = bl_http(&target, "GET", "/readyz", NULL, NULL,
		                     2000, &body);
		long long ns;

		free(body);
		clock_gettime(CLOCK_REALTIME, &ts);
		ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
		if (status == 200) {
			printf("ready_ms=%.1f\n", (double)(ns - t0) / 1e6);
			return 0;
		}
		if ((ns - t0) / 1000000 > timeout) {
			printf("ready_ms=timeout\n");
			return 1;
		}
		usleep(2000);
	}
}

/* --- verify ------------------------------------------------------------------------ */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmd_verify(int argc, char **argv)
{
	const char *tokfile = NULL, *idfile = NULL;
	char token[TOKEN_MAX + 1], path[256];
	size_t nids, moved = 0, bad = 0, nl = 0;
	char **ids;
	int64_t *lags;
	int opt;

	while ((opt = getopt(argc, argv, "T:f:")) != -1) {
		switch (opt) {
		case 'T':
			tokfile = optarg;
			break;
		case 'f':
			idfile = optarg;
			break;
		default:
			return 2;
		}
	}
	if (tokfile == NULL || idfile == NULL || optind != argc - 1 ||
	    bl_parse_url("scale", argv[optind], &target, NULL) != 0 ||
	    bl_read_token_file("scale", tokfile, token, sizeof(token)) != 0) {
		fprintf(stderr,
		        "usage: scale verify -T TOKEN_FILE -f IDS URL\n");
		return 2;
	}
	ids = read_ids(idfile, &nids);
	lags = calloc(nids, sizeof(*lags));
	if (lags == NULL)
		die("out of memory");
	for (size_t i = 0; i < nids; i++) {
		char *body;
		json_t *j, *evs, *e;
		size_t k;
		int status, found = 0;

		snprintf(path, sizeof(path), "/v1/cases/%s/history", ids[i]);
		status = bl_http(&target, "GET", path, token, NULL, 10000,
		                 &body);
		if (status != 200) {
			bad++;
			free(body);
			continue;
		}
		j = json_loads(body, 0, NULL);
		free(body);
		evs = json_object_get(j, "events");
		json_array_foreach(evs, k, e)
		{
			const char *type =
			        json_string_value(json_object_get(e, "type"));
			const char *to = json_string_value(
			        json_object_get(e, "to_status"));
			json_t *pl = json_object_get(e, "payload");
			json_int_t at =
			        json_integer_value(json_object_get(e, "at"));
			json_int_t due = json_integer_value(
			        json_object_get(pl, "due_at"));

			if (type && !strcmp(type, "timer.documents_due") &&
			    to && !strcmp(to, "documents_overdue")) {
				found = 1;
				if (due > 0)
					lags[nl++] = at - due;
			}
		}
		json_decref(j);
		if (found)
			moved++;
	}
	qsort(lags, nl, sizeof(*lags), cmp_i64);
#define PCT(p) (nl ? lags[(size_t)ceil((p) / 100.0 * (double)nl) - 1] : -1)
	printf("cases=%zu moved=%zu read_errors=%zu lag_n=%zu "
	       "event_lag_p50_ms=%lld event_lag_p99_ms=%lld "
	       "event_lag_max_ms=%lld\n",
	       nids, moved, bad, nl, (long long)PCT(50), (long long)PCT(99),
	       (long long)(nl ? lags[nl - 1] : -1));
#undef PCT
	return moved == nids ? 0 : 1;
}

/* --- lag (from /metrics) ------------------------------------------------------ */

static int
cmd_lag(int argc, char **argv)
{
	double le[64], cum[64], total = 0;
	int nb = 0, status;
	char *body, *line, *save = NULL;

	if (argc != 2 || bl_parse_url("scale", argv[1], &target, NULL) != 0) {
		fprintf(stderr, "usage: scale lag http://127.0.0.1:PORT\n");
		return 2;
	}
	status = bl_http(&target, "GET", "/metrics", NULL, NULL, 10000, &body);
	if (status != 200)
		die("GET /metrics: status %d", status);
	for (line = strtok_r(body, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *pfx = "cairn_timer_lag_seconds_bucket{le=\"";
		char *q;

		if (strncmp(line, pfx, strlen(pfx)) != 0)
			continue;
		q = line + strlen(pfx);
		if (nb == 64)
			break;
		le[nb] =
		        strncmp(q, "+Inf", 4) == 0 ? INFINITY : strtod(q, NULL);
		q = strchr(q, ' ');
		cum[nb] = q ? strtod(q + 1, NULL) : 0;
		nb++;
	}
	free(body);
	if (nb == 0)
		die("no cairn_timer_lag_seconds in /metrics");
	total = cum[nb - 1];
	printf("lag_count=%.0f", total);
	for (int pi = 0; pi < 2; pi++) {
		double q = pi == 0 ? 0.5 : 0.99, want = q * total, v = NAN,
		       upper = NAN;

		for (int i = 0; total > 0 && i < nb; i++) {
			if (cum[i] >= want) {
				double lo = i ? le[i - 1] : 0,
				       below = i ? cum[i - 1] : 0;

				upper = le[i];
				if (isinf(le[i]))
					v = lo; /* as histogram_quantile */
				else
					v = lo + (le[i] - lo) * (want - below) /
					                 (cum[i] - below);
				break;
			}
		}
		printf(" lag_p%s_ms=%.1f lag_p%s_bucket_le_ms=%g",
		       pi ? "99" : "50", v * 1000, pi ? "99" : "50",
		       upper * 1000);
	}
	printf("\n");
	return 0;
}

/* --- load: closed-loop keep-alive, a random id each request ----------------- */

static struct {
	struct bl_run run;
	int list; /* -m list */
	char **ids;
	size_t nids;
	char token[TOKEN_MAX + 1];
} lg;

/* The run's next(): a GET of a random id, or a page of the listing from
 * it. */
static void
load_next(struct bl_conn *c)
{
	const char *id = lg.ids[rnd() % lg.nids];
	char path[256];

	if (lg.list)
		snprintf(path, sizeof(path),
		         "/v1/cases?workflow=campus_application&"
		         "status=under_review&limit=50&cursor=%s",
		         id);
	else
		snprintf(path, sizeof(path), "/v1/cases/%s", id);
	bl_request(c, "GET", path, lg.token, NULL);
}

static const struct bl_ops load_ops = {.next = load_next};

static int
cmd_load(int argc, char **argv)
{
	const char *mode = NULL, *tokfile = NULL, *idfile = NULL;
	double dur = 0, warm = 0, secs;
	int nconns = 0, opt;
	struct bl_conn *cs;
	struct bl_run *r = &lg.run;

	while ((opt = getopt(argc, argv, "m:c:d:w:T:f:")) != -1) {
		switch (opt) {
		case 'm':
			mode = optarg;
			break;
		case 'c':
			nconns = atoi(optarg);
			break;
		case 'd':
			dur = atof(optarg);
			break;
		case 'w':
			warm = atof(optarg);
			break;
		case 'T':
			tokfile = optarg;
			break;
		case 'f':
			idfile = optarg;
			break;
		default:
			return 2;
		}
	}
	if (mode == NULL || (strcmp(mode, "get") && strcmp(mode, "list")) ||
	    nconns < 1 || nconns > MAX_CONNS || !(dur > 0) || warm < 0 ||
	    tokfile == NULL || idfile == NULL || optind != argc - 1 ||
	    bl_parse_url("scale", argv[optind], &r->target, NULL) != 0 ||
	    bl_read_token_file("scale", tokfile, lg.token, sizeof(lg.token)) !=
	            0) {
		fprintf(stderr, "usage: scale load -m get|list -c CONNS "
		                "-d SECONDS [-w WARMUP] -T TOKEN_FILE "
		                "-f IDS_FILE http://127.0.0.1:PORT\n");
		return 2;
	}
	lg.list = !strcmp(mode, "list");
	lg.ids = read_ids(idfile, &lg.nids);
	rng_state ^= uv_hrtime();
	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&loop) != 0)
		die("uv_loop_init");
	cs = calloc((size_t)nconns, sizeof(*cs));
	if (cs == NULL)
		die("out of memory");
	bl_init(r, "scale", &load_ops, &loop, cs, sizeof(*cs), nconns);
	bl_start(r, warm, dur);
	bl_connect_all(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	secs = bl_seconds(r);
	printf("mode=%s requests=%llu errors=%llu non2xx=%llu rps=%.1f ", mode,
	       (unsigned long long)r->requests,
	       (unsigned long long)(r->errors + r->warm_errors),
	       (unsigned long long)r->non2xx,
	       secs > 0 ? (double)r->requests / secs : 0.0);
	hist_print(&r->hist);
	printf(" conns=%d duration_s=%.3f bytes_per_req=%.0f "
	       "warmup_requests=%llu reconnects=%llu\n",
	       nconns, secs,
	       r->requests + r->warm_requests
	               ? (double)r->bytes /
	                         (double)(r->requests + r->warm_requests)
	               : 0.0,
	       (unsigned long long)r->warm_requests,
	       (unsigned long long)r->reconnects);
	if (r->errors + r->warm_errors && r->last_error[0])
		fprintf(stderr, "scale: last error: %s\n", r->last_error);
	return r->fatal ? 2 : r->requests == 0 ? 1 : 0;
}

/* --- build-aid: financial-aid files for the rules dry run ------------------ */

/*
 * build-aid: a database of CASES aid_file cases in packaging, each with
 * the Cal Grant input ({"award_year": "2022-23", "student": {...}}) drawn
 * at random around the 2022-23 ceilings and GPA minimums, so a candidate
 * rule version changes some outcomes; an admin token in DIR/admin.token.
 * No history: the dry run reads only the cases.
 */
static int
cmd_build_aid(int argc, char **argv)
{
	const char *dir = NULL;
	long long ncases = 1000000;
	char path[4096];
	struct store_batch *b;
	int64_t now = cairn_now_ms();
	double t0 = cairn_mono_s();
	uint8_t zero[32] = {0};
	int opt;

	while ((opt = getopt(argc, argv, "o:n:")) != -1) {
		if (opt == 'o')
			dir = optarg;
		else if (opt == 'n')
			ncases = atoll(optarg);
		else
			return 2;
	}
	if (dir == NULL || ncases < 1) {
		fprintf(stderr, "usage: scale build-aid -o DIR [-n CASES]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/cairn.db", dir);
	rng_state ^= (uint64_t)now * 0x9e3779b97f4a7c15ull;
	open_store(path);
	admin_token(store_batch_new(), dir, "bench/scale build-aid", now);

	b = store_batch_new();
	for (long long i = 0; i < ncases; i++) {
		static const char *const seg[] = {"uc", "csu", "ccc",
		                                  "private"};
		struct store_case_row row = {0};
		char id[37], subject[24], data[768];
		int indep = rndf() < 0.25, fam = 1 + (int)(rnd() % 6);
		double gpa = 1.8 + 2.2 * rndf();

		uuid7(now - (ncases - i), id);
		snprintf(subject, sizeof(subject), "S%08lld", i + 1);
		snprintf(data, sizeof(data),
		         "{\"award_year\":\"2022-23\",\"student\":{"
		         "\"dependency\":\"%s\",\"married\":%s,"
		         "\"has_dependents\":%s,\"family_size\":%d,"
		         "\"income\":%d,\"assets\":%d,\"hs_gpa\":%.2f,"
		         "\"college_gpa\":null,\"ca_resident\":true,"
		         "\"ab540\":false,\"citizenship\":\"citizen\","
		         "\"segment\":\"%s\",\"program_months\":9,"
		         "\"application_date\":\"2022-0%d-%02d\"}}",
		         indep ? "independent" : "dependent",
		         indep && rndf() < 0.3 ? "true" : "false",
		         indep && rndf() < 0.3 ? "true" : "false", fam,
		         (int)(120000 * rndf()), (int)(100000 * rndf()), gpa,
		         seg[rnd() % 4], 1 + (int)(rnd() % 3),
		         1 + (int)(rnd() % 28));
		row.id = id;
		row.workflow = "aid_file";
		row.version = 1;
		row.status = "packaging";
		row.data = data;
		row.root_id = id;
		row.subject = subject;
		row.owner = "fa-ucla";
		row.queue = "packaging";
		row.revision = 1;
		row.history_hash = zero;
		row.created_at = row.updated_at = now;
		if (store_batch_case_insert(b, &row) != 0)
			die("out of memory");
		if ((i + 1) % 2000 == 0 || i + 1 == ncases) {
			submit(b);
			b = i + 1 < ncases ? store_batch_new() : NULL;
		}
	}
	if (b != NULL)
		store_batch_free(b);
	close_store();
	printf("cases=%lld build_s=%.1f\n", ncases, cairn_mono_s() - t0);
	return 0;
}

/* rules-body DIR [WORKFLOW]: prints {"files": {...}} of the rule set in
 * DIR (and "filter": {"workflow": WORKFLOW}), a body for PUT
 * /v1/rules/{set} or POST .../dry-run. */
static int
cmd_rules_body(int argc, char **argv)
{
	struct rs_set *set = NULL;
	json_t *body;
	char *text;

	if (argc < 2) {
		fprintf(stderr, "usage: scale rules-body DIR [WORKFLOW]\n");
		return 2;
	}
	if (rs_load_dir(argv[1], NULL, NULL, &set) != 0)
		die("%s does not load as a rule set (cairn rules lint)",
		    argv[1]);
	body = json_pack("{s:O}", "files", rs_files(set));
	if (argc >= 3)
		json_object_set_new(body, "filter",
		                    json_pack("{s:s}", "workflow", argv[2]));
	text = json_dumps(body, JSON_COMPACT);
	if (text == NULL)
		die("out of memory");
	puts(text);
	free(text);
	json_decref(body);
	rs_set_free(set);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 2) {
		const char *c = argv[1];

		if (!strcmp(c, "build"))
			return cmd_build(argc - 1, argv + 1);
		if (!strcmp(c, "timers"))
			return cmd_timers(argc - 1, argv + 1);
		if (!strcmp(c, "ready"))
			return cmd_ready(argc - 1, argv + 1);
		if (!strcmp(c, "load"))
			return cmd_load(argc - 1, argv + 1);
		if (!strcmp(c, "verify"))
			return cmd_verify(argc - 1, argv + 1);
		if (!strcmp(c, "lag"))
			return cmd_lag(argc - 1, argv + 1);
		if (!strcmp(c, "build-aid"))
			return cmd_build_aid(argc - 1, argv + 1);
		if (!strcmp(c, "rules-body"))
			return cmd_rules_body(argc - 1, argv + 1);
	}
	fprintf(stderr, "usage: scale build|timers|ready|load|verify|lag|"
	                "build-aid|rules-body "
	                "...\n(see the comment at the top of "
	                "bench/scale.c)\n");
	return 2;
}
