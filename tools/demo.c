/*
 * demo.c: cairn-demo, an admissions season in miniature (make demo).
 *
 * Against a fresh cairnd it starts (its own directory, a free loopback
 * port) and three mock institutions (build/cairn-mock-institution, one per
 * example adapter: uc_campus, csu_campus, ccc_college, failing 15% of
 * their calls on purpose), it plays a season through the HTTP API:
 *
 *   1. students apply to 1 to 9 campuses (examples/campuses.yaml) and
 *      submit; each campus application is sent to its institution through
 *      the outbox;
 *   2. counselors' caseloads are loaded; each student's FAFSA identity is
 *      loaded (POST /v1/isir/identities) and the ISIRs are imported (FSA's
 *      test files when present, made-up records for the other students),
 *      so each aid file opens under its student's id;
 *   3. the institutions answer: completeness, documents requests, and
 *      decisions, through signed callbacks the mocks send; students send
 *      the documents asked for (or do not: their counselors keep an alert)
 *      and register at a campus that admitted them;
 *   4. aid officers record each file's academics, then work the queues:
 *      claim the next file, decide, now and then release it; files picked
 *      for verification wait for the student's documents; packaging asks
 *      the Cal Grant and Middle Class Scholarship rules;
 *   5. policy staff dry-run a change of the Cal Grant ceilings over the
 *      stored files, publish it and roll it back;
 *
 * then prints the summary read back from the API (applications by
 * status, alerts, queue work, rule decisions, the dry-run report), stops
 * cairnd and leaves the database with the line that starts it again.
 *
 * With --url and --token it runs against a cairnd that is already
 * running (the example definitions loaded): no mocks; campus admissions
 * staff (admissions tokens) play the institutions through the API.
 *
 *   cairn-demo [--students N] [--dir DIR] [--seed S] [--summary FILE]
 *   cairn-demo --url URL --token ADMIN_TOKEN [--students N] [--summary FILE]
 *              [--tokens FILE]
 *
 * --tokens FILE writes the season's people (mode 0600: they are
 * credentials): its run tag and aid office, each student's id, token and
 * application, the counselors' ids, the aid officers', policy analyst's
 * and (with --url) each campus's admissions tokens, so a test can act as
 * the season's own people (the web console's tests do).
 *
 * Exit 0 when the season ran, 1 when a step failed (what failed is
 * printed), 2 on a usage error.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
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

#include "../adapters/isir.h"
#include "../common/cairn.h"
#include "../common/httpc.h"
#include "../rules/rules.h"
#include "../workflows/workflow.h"

#ifndef CAIRN_SOURCE_DIR
#define CAIRN_SOURCE_DIR "."
#endif
#ifndef CAIRN_BUILD_DIR
#define CAIRN_BUILD_DIR "build"
#endif

#define MAX_STUDENTS 20000
#define MAX_CAMPUSES 9
#define NCOUNSELORS  20
#define NOFFICERS    3
#define AWARD_YEAR   "2025-26"
#define SIR_DEADLINE "2027-05-01"

/* the three example adapters, each reached at its own mock */
enum inst { I_UC, I_CSU, I_CCC, I_N };
static const char *const inst_adapter[I_N] = {"uc_campus", "csu_campus",
                                              "ccc_college"};
static const char *const inst_env[I_N][2] = {
        {"CAIRN_UC_CAMPUS_TOKEN", "CAIRN_UC_CAMPUS_CALLBACK_SECRET"},
        {"CAIRN_CSU_API_KEY", "CAIRN_CSU_CALLBACK_SECRET"},
        {"CAIRN_CCC_TOKEN", "CAIRN_CCC_CALLBACK_SECRET"},
};

struct child {
	char id[40];
	int campus; /* index into G.campus */
	int docs;   /* the institution asked for documents */
	int sent;   /* the student sent them */
	char decision[16];
};

struct student {
	char id[48];
	char token[96];
	char app[40];
	int submitted;
	int n;
	struct child c[MAX_CAMPUSES];
	int registered; /* child index + 1 */
	char aid[40];   /* the student's aid file, when their ISIR matched */
	int has_isir, matched;
};

static struct {
	/* options */
	int nstudents;
	char dir[512];
	char url[256];
	char admin[128];
	char summary_path[512];
	char tokens_path[512];
	char isir_dir[512];
	unsigned seed;
	int fresh; /* we started cairnd and the mocks */
	int clients;
	/* processes */
	pid_t cairnd, mock[I_N];
	int port, mock_port[I_N];
	char secret[I_N][64];
	/* campuses */
	struct wf_campuses *campuses;
	char tag[24];    /* run tag for ids in --url mode */
	char office[48]; /* the aid office: "state-aid", or one per run */
	/* people */
	struct student *st;
	char policy[96];
	char officer[NOFFICERS][96];
	char counselor[NCOUNSELORS][48];
	char admissions_tok[64][96]; /* --url mode: by campus index */
	/* figures */
	atomic_int claims, decisions, releases, empty_claims;
	atomic_int callbacks, callbacks_refused, docs_requested, docs_sent;
	atomic_int registrations, academics, verify_docs, errors;
	int isir_accepted, isir_unchanged, isir_rejected, identities;
	int isir_fsa; /* records read from FSA's test files */
	json_t *dry_run, *publish, *rollback;
	double t0;
} G;

/* --- small things ---------------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
stop_children(void)
{
	if (G.cairnd > 0)
		kill(G.cairnd, SIGKILL);
	for (int i = 0; i < I_N; i++)
		if (G.mock[i] > 0)
			kill(G.mock[i], SIGKILL);
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cairn-demo: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (G.fresh)
		fprintf(stderr, "cairn-demo: cairnd's log: %s/cairnd.log\n",
		        G.dir);
	stop_children();
	exit(1);
}

/* a deterministic draw from the seed and a few integers: the mix does not
 * depend on which thread runs what */
static unsigned
draw(unsigned a, unsigned b, unsigned c)
{
	uint64_t x = (uint64_t)G.seed * 0x9e3779b97f4a7c15ULL ^
	             ((uint64_t)a << 40) ^ ((uint64_t)b << 20) ^ c;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (unsigned)x;
}

static int
pct(unsigned a, unsigned b, unsigned c, int percent)
{
	return (int)(draw(a, b, c) % 100) < percent;
}

static void step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
step(const char *fmt, ...)
{
	va_list ap;

	printf("[%5.1fs] ", cairn_mono_s() - G.t0);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
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

static char *
read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n + 1)) &&
	    fread(p, 1, (size_t)n, f) == (size_t)n) {
		p[n] = '\0';
		if (len)
			*len = (size_t)n;
	} else {
		free(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

/* A file only its owner may read. */
static void
write_secret(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* --- HTTP ------------------------------------------------------------------ */

/* One request to base (a URL without a trailing slash). */
static void
req(CURL *h, const char *base, const char *method, const char *path,
    const char *token, const char *ctype, const char *body, size_t blen,
    const char *idem, struct httpc_reply *r)
{
	char url[1024], line[256];
	const char *extra[2] = {NULL, NULL};

	snprintf(url, sizeof(url), "%s%s", base, path);
	if (idem) {
		snprintf(line, sizeof(line), "Idempotency-Key: %s", idem);
		extra[0] = line;
	}
	httpc_request(h, url, method, token, ctype, body, blen, extra, 120, r);
}

/* A JSON request to cairnd; the parsed reply when the status is one of
 * the wanted (NULL otherwise, with *status set when given). Busy replies
 * (503, no answer) are tried again for a while: a loaded machine is not a
 * failed season. */
static json_t *
api(CURL *h, const char *method, const char *path, const char *token,
    const json_t *body, const char *idem, long want, long *status)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct httpc_reply r = {0};
	json_t *out = NULL;

	for (int attempt = 0; attempt < 20; attempt++) {
		free(r.body);
		req(h, G.url, method, path, token, NULL, text,
		    text ? strlen(text) : 0, idem, &r);
		if (r.status != 0 && r.status != 503)
			break;
		cairn_sleep_ms(100 + attempt * 100);
	}
	free(text);
	if (status)
		*status = r.status;
	if (r.status == want || (want == 200 && r.status == 201))
		out = r.body ? json_loads(r.body, JSON_DECODE_ANY, NULL)
		             : json_object();
	else if (status == NULL)
		die("%s %s: %ld: %s", method, path, r.status,
		    r.body ? r.body : "(no answer)");
	if (out == NULL && (r.status == want || r.status == 201))
		out = json_object();
	free(r.body);
	return out;
}

/* --- a pool of client threads ------------------------------------------ */

typedef void (*work_fn)(CURL *h, int i, void *arg);

struct pool {
	work_fn fn;
	void *arg;
	int n;
	atomic_int next;
};

static void *
pool_main(void *p)
{
	struct pool *pl = p;
	CURL *h = curl_easy_init();
	int i;

	if (h == NULL)
		die("curl_easy_init failed");
	while ((i = atomic_fetch_add(&pl->next, 1)) < pl->n)
		pl->fn(h, i, pl->arg);
	curl_easy_cleanup(h);
	return NULL;
}

/* Runs fn(i) for i in [0, n) on G.clients threads. */
static void
parallel(int n, work_fn fn, void *arg)
{
	struct pool pl = {.fn = fn, .arg = arg, .n = n};
	pthread_t t[64];
	int k = G.clients < 64 ? G.clients : 64;

	atomic_init(&pl.next, 0);
	for (int i = 0; i < k; i++)
		if (pthread_create(&t[i], NULL, pool_main, &pl) != 0)
			die("pthread_create failed");
	for (int i = 0; i < k; i++)
		pthread_join(t[i], NULL);
}

/* --- processes (the fresh season) ---------------------------------------- */

static pid_t
spawn(const char *bin, char *const argv[], const char *log)
{
	int pid = cairn_spawn(bin, argv, log);

	if (pid < 0)
		die("fork: %s", strerror(errno));
	return (pid_t)pid;
}

static void
mock_start(CURL *h, int k)
{
	char bin[700], pf[700], lg[700], base[64], seed[16];
	char *argv[] = {"cairn-mock-institution",
	                "--port",
	                "0",
	                "--port-file",
	                pf,
	                "--seed",
	                seed,
	                NULL};
	struct httpc_reply r;
	const char *cfg = "{\"fail_rate\": 0.15, \"faults\": [\"500\", "
	                  "\"429\", \"reset\"], \"retry_after\": 1}";

	snprintf(bin, sizeof(bin), "%s/cairn-mock-institution",
	         CAIRN_BUILD_DIR);
	snprintf(pf, sizeof(pf), "%s/mock-%s.port", G.dir, inst_adapter[k]);
	snprintf(lg, sizeof(lg), "%s/mock-%s.log", G.dir, inst_adapter[k]);
	snprintf(seed, sizeof(seed), "%u", G.seed + (unsigned)k + 1);
	unlink(pf);
	G.mock[k] = spawn(bin, argv, lg);
	for (int i = 0; i < 1200 && G.mock_port[k] == 0; i++) {
		FILE *f = fopen(pf, "r");

		if (f != NULL) {
			if (fscanf(f, "%d", &G.mock_port[k]) != 1)
				G.mock_port[k] = 0;
			fclose(f);
		}
		if (G.mock_port[k] == 0)
			cairn_sleep_ms(25);
	}
	if (G.mock_port[k] == 0)
		die("the mock institution for %s did not start (see %s)",
		    inst_adapter[k], lg);
	/* faults on purpose: 500s, 429s with Retry-After, connection resets */
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", G.mock_port[k]);
	req(h, base, "POST", "/_mock/config", NULL, NULL, cfg, strlen(cfg),
	    NULL, &r);
	if (r.status != 200)
		die("configuring the %s mock: %ld", inst_adapter[k], r.status);
	free(r.body);
}

/*
 * The example adapter, pointed at its mock and paced for a season of a
 * minute: retries after half a second instead of minutes, no rate limit,
 * a breaker that opens only when the institution is really down. Every
 * other line (operations, mappings, callbacks) is the example's own.
 */
static void
adapter_write(int k)
{
	char src[700], dst[700], *text, *line, *save = NULL;
	size_t cap, n = 0;
	char *out;

	snprintf(src, sizeof(src), "%s/examples/adapters/%s.yaml",
	         CAIRN_SOURCE_DIR, inst_adapter[k]);
	snprintf(dst, sizeof(dst), "%s/adapters/%s.yaml", G.dir,
	         inst_adapter[k]);
	if ((text = read_text(src, NULL)) == NULL)
		die("cannot read %s: %s", src, strerror(errno));
	cap = strlen(text) + 4096;
	out = malloc(cap);
	if (out == NULL)
		die("out of memory");
	n += (size_t)snprintf(out, cap,
	                      "# %s for the demo: written by cairn-demo from "
	                      "examples/adapters/%s.yaml,\n# pointed at its "
	                      "mock institution and paced for a one-minute "
	                      "season.\n",
	                      inst_adapter[k], inst_adapter[k]);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *sub = NULL;
		char buf[256];

		if (!strncmp(line, "base_url:", 9)) {
			const char *path = strstr(line + 17, ":9001");

			snprintf(buf, sizeof(buf),
			         "base_url: http://127.0.0.1:%d%s",
			         G.mock_port[k], path ? path + 5 : "");
			sub = buf;
		} else if (!strncmp(line, "retry:", 6)) {
			sub = "retry: {max_attempts: 30, initial: 500ms, max: "
			      "2s, multiplier: 2, jitter: 0.5}";
		} else if (!strncmp(line, "rate_limit:", 11)) {
			continue;
		} else if (!strncmp(line, "breaker:", 8)) {
			sub = "breaker: {failures: 50, open_for: 2s}";
		} else if (!strncmp(line, "concurrency:", 12)) {
			sub = "concurrency: 16";
		}
		n += (size_t)snprintf(out + n, cap - n, "%s\n",
		                      sub ? sub : line);
	}
	write_text(dst, out);
	free(out);
	free(text);
}

static void
cairnd_start(CURL *h)
{
	char bin[700], cfg[700], lg[700], path[700];
	char *argv[] = {"cairnd", "-c", cfg, NULL};
	FILE *f;

	snprintf(bin, sizeof(bin), "%s/cairnd", CAIRN_BUILD_DIR);
	snprintf(cfg, sizeof(cfg), "%s/cairnd.yaml", G.dir);
	snprintf(lg, sizeof(lg), "%s/cairnd.log", G.dir);
	G.cairnd = spawn(bin, argv, lg);
	for (int i = 0; i < 2400; i++) {
		struct httpc_reply r;
		int st;

		req(h, G.url, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r);
		free(r.body);
		if (r.status == 200)
			break;
		if (waitpid(G.cairnd, &st, WNOHANG) == G.cairnd) {
			G.cairnd = 0;
			die("cairnd exited at start-up");
		}
		if (i == 2399)
			die("cairnd did not answer /healthz within 60 s");
		cairn_sleep_ms(25);
	}
	snprintf(path, sizeof(path), "%s/admin.token", G.dir);
	f = fopen(path, "r");
	if (f == NULL || fgets(G.admin, sizeof(G.admin), f) == NULL)
		die("no admin token in %s", path);
	fclose(f);
	G.admin[strcspn(G.admin, "\r\n")] = '\0';
}

/* Removes the demo's own directory: only one a demo made (it holds the
 * marker), never anything else a mistyped --dir could name. */
static void
dir_reset(void)
{
	char marker[700], cmd[1600];
	struct stat sb;

	snprintf(marker, sizeof(marker), "%s/.cairn-demo", G.dir);
	if (stat(G.dir, &sb) == 0) {
		if (stat(marker, &sb) != 0)
			die("%s exists and was not made by cairn-demo; name "
			    "another --dir",
			    G.dir);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", G.dir);
		if (system(cmd) != 0)
			die("cannot remove %s", G.dir);
	}
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/adapters'", G.dir);
	if (system(cmd) != 0)
		die("cannot make %s", G.dir);
	write_text(marker, "made by cairn-demo; removed by the next run\n");
}

static void
fresh_setup(CURL *h)
{
	char path[700], text[4096], env[2048];
	size_t n = 0;

	dir_reset();
	for (int k = 0; k < I_N; k++) {
		snprintf(G.secret[k], sizeof(G.secret[k]), "demo-%s-%08x",
		         inst_adapter[k], draw(7, (unsigned)k, 0));
		mock_start(h, k);
		adapter_write(k);
		/* the adapters' secrets, so their calls and callbacks are
		 * real: a token per institution, a callback key each */
		setenv(inst_env[k][0], "demo-institution-token", 1);
		setenv(inst_env[k][1], G.secret[k], 1);
		n += (size_t)snprintf(env + n, sizeof(env) - n,
		                      "export %s=demo-institution-token\n"
		                      "export %s=%s\n",
		                      inst_env[k][0], inst_env[k][1],
		                      G.secret[k]);
	}
	G.port = free_port();
	snprintf(G.url, sizeof(G.url), "http://127.0.0.1:%d", G.port);
	snprintf(text, sizeof(text),
	         "# cairnd for the demo season, written by cairn-demo.\n"
	         "# Start it again: . %s/env && %s/cairnd -c %s/cairnd.yaml\n"
	         "listen: 127.0.0.1:%d\n"
	         "database: cairn.db\n"
	         "definitions:\n"
	         "  workflows: [%s/examples/workflows]\n"
	         "  rules: [%s/examples/rules]\n"
	         "  adapters: [adapters]\n"
	         "  campuses: %s/examples/campuses.yaml\n"
	         "log_level: warn\n"
	         "outbox: {poll: 200ms}\n"
	         "# the season's traffic comes from this one machine, a few\n"
	         "# tokens at thousands of requests a second: rate limits off\n"
	         "# (docs/security.md has the defaults a deployment runs)\n"
	         "abuse: {token_rate: 0, address_rate: 0}\n",
	         G.dir, CAIRN_BUILD_DIR, G.dir, G.port, CAIRN_SOURCE_DIR,
	         CAIRN_SOURCE_DIR, CAIRN_SOURCE_DIR);
	snprintf(path, sizeof(path), "%s/cairnd.yaml", G.dir);
	write_text(path, text);
	cairnd_start(h);
	/* what a shell needs to run cairnd on this database again (the
	 * adapters' secrets) and to talk to it (address, admin token):
	 * secrets, so only the owner reads it */
	n += (size_t)snprintf(env + n, sizeof(env) - n,
	                      "export CAIRN_URL=%s\n"
	                      "export CAIRN_TOKEN=%s\n",
	                      G.url, G.admin);
	snprintf(path, sizeof(path), "%s/env", G.dir);
	write_secret(path, env);
}

/* --- people ---------------------------------------------------------------- */

static void
token_new(CURL *h, const char *role, const char *scope, const char *label,
          char *out, size_t len)
{
	json_t *b = json_pack("{s:s, s:s*, s:s}", "role", role, "scope", scope,
	                      "label", label);
	json_t *r = api(h, "POST", "/v1/tokens", G.admin, b, NULL, 201, NULL);

	snprintf(out, len, "%s", jstr(r, "token"));
	json_decref(b);
	json_decref(r);
}

static void
student_token(CURL *h, int i, void *arg)
{
	struct student *s = &G.st[i];

	token_new(h, "student", s->id, "demo student", s->token,
	          sizeof(s->token));
}

static void
people(CURL *h)
{
	json_t *rows = json_array(), *b, *r;
	char label[64];

	for (int i = 0; i < G.nstudents; i++)
		snprintf(G.st[i].id, sizeof(G.st[i].id), "S-%s%04d", G.tag,
		         i + 1);
	parallel(G.nstudents, student_token, NULL);
	token_new(h, "policy", NULL, "demo policy analyst", G.policy,
	          sizeof(G.policy));
	for (int k = 0; k < NOFFICERS; k++) {
		snprintf(label, sizeof(label), "demo aid officer %d", k + 1);
		token_new(h, "aid_officer", G.office, label, G.officer[k],
		          sizeof(G.officer[k]));
	}
	for (int k = 0; k < NCOUNSELORS; k++)
		snprintf(G.counselor[k], sizeof(G.counselor[k]), "C-%s%02d",
		         G.tag, k + 1);
	/* each counselor a caseload of every NCOUNSELORS-th student */
	for (int i = 0; i < G.nstudents; i++)
		json_array_append_new(rows,
		                      json_pack("{s:s, s:s}", "counselor",
		                                G.counselor[i % NCOUNSELORS],
		                                "student", G.st[i].id));
	b = json_pack("{s:o}", "rows", rows);
	r = api(h, "POST", "/v1/caseloads", G.admin, b, NULL, 200, NULL);
	json_decref(b);
	json_decref(r);
	step("%d student tokens, %d counselors' caseloads, %d aid officers, "
	     "a policy analyst",
	     G.nstudents, NCOUNSELORS, NOFFICERS);
}

/* --- applications ---------------------------------------------------------- */

/* 1 to 9 campuses, most students choosing 2 to 5 (about 4 a student, as
 * California's applicants do) */
static int
campus_count(int i)
{
	static const int w[MAX_CAMPUSES] = {8, 16, 20, 18, 14, 9, 7, 5, 3};
	int x = (int)(draw(1, (unsigned)i, 0) % 100), k = 0;

	while (k < MAX_CAMPUSES - 1 && x >= w[k])
		x -= w[k++];
	return k + 1;
}

static void
apply_one(CURL *h, int i, void *arg)
{
	struct student *s = &G.st[i];
	json_t *campuses = json_array(), *b, *r, *ch, *c;
	char idem[96], path[128];
	size_t k;

	s->n = campus_count(i);
	for (int k2 = 0; k2 < s->n; k2++) {
		int pick;

		/* distinct campuses, drawn from the whole list */
		do {
			pick = (int)(draw(2, (unsigned)i,
			                  (unsigned)(k2 * 131 +
			                             s->c[k2].campus)) %
			             (unsigned)G.campuses->n);
			s->c[k2].campus++;
			for (int j = 0; j < k2; j++)
				if (s->c[j].campus == pick)
					pick = -1;
		} while (pick < 0);
		s->c[k2].campus = pick;
		json_array_append_new(campuses,
		                      json_string(G.campuses->v[pick].id));
	}
	b = json_pack("{s:s, s:{s:o, s:s}}", "workflow", "student_application",
	              "data", "campuses", campuses, "award_year", AWARD_YEAR);
	snprintf(idem, sizeof(idem), "demo-%s-%s-app", G.tag, s->id);
	r = api(h, "POST", "/v1/cases", s->token, b, idem, 201, NULL);
	snprintf(s->app, sizeof(s->app), "%s", jstr(r, "id"));
	json_decref(b);
	json_decref(r);
	/* a few students leave the application in draft */
	if (pct(3, (unsigned)i, 0, 4))
		return;
	snprintf(path, sizeof(path), "/v1/cases/%s/events", s->app);
	b = json_pack("{s:s}", "type", "submit");
	r = api(h, "POST", path, s->token, b, NULL, 200, NULL);
	json_decref(b);
	s->submitted = 1;
	ch = json_object_get(json_object_get(r, "case"), "children");
	if (ch == NULL)
		ch = json_object_get(r, "children");
	json_array_foreach(ch, k, c)
	{
		/* keyed by the campus: "campus_application:<campus id>" */
		const char *key = jstr(c, "spawn_key");
		const char *campus =
		        strchr(key, ':') ? strchr(key, ':') + 1 : key;

		for (int j = 0; j < s->n; j++)
			if (!strcmp(G.campuses->v[s->c[j].campus].id, campus))
				snprintf(s->c[j].id, sizeof(s->c[j].id), "%s",
				         jstr(c, "id"));
	}
	json_decref(r);
	for (int j = 0; j < s->n; j++)
		if (s->c[j].id[0] == '\0')
			die("student %s: the campus application for %s is "
			    "not in the submit's reply",
			    s->id, G.campuses->v[s->c[j].campus].id);
}

static void
applications(void)
{
	int apps = 0, submitted = 0;

	parallel(G.nstudents, apply_one, NULL);
	for (int i = 0; i < G.nstudents; i++) {
		submitted += G.st[i].submitted;
		apps += G.st[i].submitted ? G.st[i].n : 0;
	}
	step("%d students applied, %d submitted: %d campus applications "
	     "routed to their institutions",
	     G.nstudents, submitted, apps);
}

/* --- ISIRs: identities, then the files ---------------------------------- */

struct isir_text {
	char *p;
	size_t len, cap;
};

static void
text_add(struct isir_text *t, const char *s, size_t n)
{
	if (t->len + n + 2 > t->cap) {
		t->cap = (t->len + n + 2) * 2;
		t->p = realloc(t->p, t->cap);
		if (t->p == NULL)
			die("out of memory");
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len++] = '\n';
	t->p[t->len] = '\0';
}

/* The identity row of a parsed record for student s (NULL when the
 * record has no usable identity). */
static json_t *
identity_row(const struct isir_record *r, const char *student)
{
	const json_t *isir = json_object_get(r->data, "isir");
	char key[ISIR_IDENTITY_KEY_LEN + 1];

	if (!r->ok || isir_identity_key_of(isir, key) != 0)
		return NULL;
	return json_pack("{s:s, s:O, s:O, s:O}", "student", student,
	                 "last_name", json_object_get(isir, "last_name"),
	                 "date_of_birth",
	                 json_object_get(isir, "date_of_birth"), "ssn_last4",
	                 json_object_get(isir, "ssn_last4"));
}

static void
isir_import(CURL *h, const char *what, const char *text, size_t len)
{
	struct httpc_reply r = {0};
	json_t *rep;
	char path[128];

	snprintf(path, sizeof(path), "/v1/isir");
	for (int attempt = 0; attempt < 20; attempt++) {
		free(r.body);
		/* an aid officer imports into their own office */
		req(h, G.url, "POST", path, G.officer[0], "text/plain", text,
		    len, NULL, &r);
		if (r.status != 503 && r.status != 0)
			break;
		cairn_sleep_ms(200);
	}
	if (r.status != 200)
		die("importing %s: %ld: %s", what, r.status,
		    r.body ? r.body : "(no answer)");
	rep = json_loads(r.body, 0, NULL);
	G.isir_accepted +=
	        (int)json_integer_value(json_object_get(rep, "accepted"));
	G.isir_unchanged +=
	        (int)json_integer_value(json_object_get(rep, "unchanged"));
	G.isir_rejected +=
	        (int)json_integer_value(json_object_get(rep, "rejected"));
	step("ISIRs imported from %s: %lld accepted, %lld unchanged, %lld "
	     "rejected",
	     what, json_integer_value(json_object_get(rep, "accepted")),
	     json_integer_value(json_object_get(rep, "unchanged")),
	     json_integer_value(json_object_get(rep, "rejected")));
	json_decref(rep);
	free(r.body);
}

/*
 * About 70% of the students filed a FAFSA. FSA's test applications (when
 * the files are there) belong to the first students, made-up records to
 * the rest. Every identity is loaded but one in 40, whose ISIR then stays
 * unmatched (its file keeps the ISIR's person UUID), as a student who
 * gave the office a different name would.
 */
static void
isirs(CURL *h)
{
	static const char *const fsa[] = {
	        "applications-2025-26-20240918.txt",
	        "corrections-2025-26-20240918.txt",
	        "corrections-pushed-2025-26-20240918.txt"};
	struct isir_text gen = {0};
	json_t *rows = json_array(), *b, *r;
	char path[1200], rec[ISIR_RECORD_LEN + 1];
	int next = 0; /* the next student to give an ISIR */
	char *files[3] = {NULL, NULL, NULL};
	size_t lens[3] = {0};

	for (int f = 0; f < 3; f++) {
		snprintf(path, sizeof(path), "%s/%s", G.isir_dir, fsa[f]);
		files[f] = read_text(path, &lens[f]);
	}
	if (files[0] != NULL) {
		struct isir_file pf;

		if (isir_parse_file(files[0], lens[0], &pf) != 0)
			die("out of memory parsing %s", fsa[0]);
		for (size_t i = 0; i < pf.n && next < G.nstudents; i++) {
			struct student *s = &G.st[next];
			json_t *row = identity_row(&pf.recs[i], s->id);

			if (row == NULL)
				continue; /* FSA's blank first line */
			s->has_isir = 1;
			s->matched = 1;
			json_array_append_new(rows, row);
			G.isir_fsa++;
			next++;
		}
		isir_file_free(&pf);
		step("FSA's test ISIR files, read in place from %s: %d "
		     "applications for the first students",
		     G.isir_dir, G.isir_fsa);
	} else {
		step("FSA's test ISIR files are not in %s: every ISIR is made "
		     "up (cairn isir generate's records)",
		     G.isir_dir);
	}
	for (int i = next; i < G.nstudents; i++) {
		struct student *s = &G.st[i];
		/* spread: incomes, families and birthdays vary with seq */
		uint64_t seq = 700000 + (uint64_t)i * 79;
		struct isir_record pr;
		json_t *row;

		if (!pct(4, (unsigned)i, 0, 70))
			continue;
		isir_record_synthetic(rec, seq, 1);
		rec[ISIR_RECORD_LEN] = '\0';
		text_add(&gen, rec, ISIR_RECORD_LEN);
		s->has_isir = 1;
		if (pct(5, (unsigned)i, 0, 2)) /* 1 in 40, about */
			continue;
		if (isir_parse_record(rec, ISIR_RECORD_LEN, 1, &pr) != 0)
			die("a made-up ISIR does not parse");
		row = identity_row(&pr, s->id);
		isir_record_clear(&pr);
		if (row == NULL)
			die("a made-up ISIR has no identity");
		json_array_append_new(rows, row);
		s->matched = 1;
	}
	G.identities = (int)json_array_size(rows);
	b = json_pack("{s:o}", "identities", rows);
	r = api(h, "POST", "/v1/isir/identities", G.admin, b, NULL, 200, NULL);
	json_decref(b);
	json_decref(r);
	step("%d students' FAFSA identities loaded (POST /v1/isir/identities)",
	     G.identities);
	for (int f = 0; f < 3; f++) {
		if (files[f] != NULL)
			isir_import(h, fsa[f], files[f], lens[f]);
		free(files[f]);
	}
	/* in files of 100 records, as an office's daily files come, and
	 * under cairnd's request body limit */
	for (size_t off = 0; off < gen.len;) {
		size_t n = gen.len - off, rec1 = ISIR_RECORD_LEN + 1;

		if (n > 100 * rec1)
			n = 100 * rec1;
		isir_import(h, "made-up records", gen.p + off, n);
		off += n;
	}
	free(gen.p);
}

/* --- the institutions ---------------------------------------------------- */

static enum inst
inst_of(int campus)
{
	const char *seg = G.campuses->v[campus].segment;

	return !strcmp(seg, "uc") ? I_UC : !strcmp(seg, "csu") ? I_CSU : I_CCC;
}

/* Sends an institution's event about a campus application: in a fresh
 * season the institution's mock signs it and sends it as a callback; with
 * --url, the campus's admissions staff send it through the API. */
static int
inst_event(CURL *h, int i, int j, const char *event, json_t *data)
{
	struct student *s = &G.st[i];
	struct child *c = &s->c[j];
	enum inst k = inst_of(c->campus);
	json_t *b, *r;
	long st;
	char path[160], evid[160];

	snprintf(evid, sizeof(evid), "%s-%s-%s", inst_adapter[k], c->id, event);
	if (G.fresh) {
		char base[64], url[300];

		snprintf(base, sizeof(base), "http://127.0.0.1:%d",
		         G.mock_port[k]);
		snprintf(url, sizeof(url), "%s/v1/callbacks/%s", G.url,
		         inst_adapter[k]);
		b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "url", url,
		              "secret", G.secret[k], "event_id", evid,
		              "case_id", c->id, "event", event, "data", data);
		{
			char *text = json_dumps(b, JSON_COMPACT);
			struct httpc_reply hr = {0};

			for (int a = 0; a < 20; a++) {
				free(hr.body);
				req(h, base, "POST", "/_mock/callback", NULL,
				    NULL, text, strlen(text), NULL, &hr);
				r = hr.body ? json_loads(hr.body, 0, NULL)
				            : NULL;
				st = json_integer_value(
				        json_object_get(r, "status"));
				json_decref(r);
				if (hr.status == 200 && st != 503 && st != 0)
					break;
				cairn_sleep_ms(100 + a * 100);
			}
			free(text);
			free(hr.body);
		}
		json_decref(b);
	} else {
		int ci = c->campus < 64 ? c->campus : 63;

		snprintf(path, sizeof(path), "/v1/cases/%s/events", c->id);
		b = json_pack("{s:s, s:O}", "type", event, "data", data);
		r = api(h, "POST", path, G.admissions_tok[ci], b, evid, 200,
		        &st);
		json_decref(r);
		json_decref(b);
	}
	json_decref(data);
	if (st == 200) {
		atomic_fetch_add(&G.callbacks, 1);
		return 0;
	}
	/* 409: the case is not where this event applies (a student withdrew,
	 * the call is still being retried): counted, not fatal */
	atomic_fetch_add(&G.callbacks_refused, 1);
	return -1;
}

static void
student_event(CURL *h, struct student *s, const char *case_id, const char *type,
              json_t *data)
{
	char path[128];
	json_t *b = json_pack("{s:s, s:o*}", "type", type, "data", data);
	json_t *r;
	long st;

	snprintf(path, sizeof(path), "/v1/cases/%s/events", case_id);
	r = api(h, "POST", path, s->token, b, NULL, 200, &st);
	json_decref(b);
	json_decref(r);
	if (st != 200)
		atomic_fetch_add(&G.errors, 1);
}

/* Waits until every adapter's outbox backlog is empty (or max_s). */
static void
outbox_drain(CURL *h, double max_s)
{
	double until = cairn_mono_s() + max_s;

	for (;;) {
		json_t *r = api(h, "GET", "/v1/adapters", G.admin, NULL, NULL,
		                200, NULL);
		json_t *a;
		size_t i;
		long backlog = 0;

		json_array_foreach(json_object_get(r, "adapters"), i, a)
		{
			backlog += (long)json_integer_value(
			        json_object_get(a, "backlog"));
		}
		json_decref(r);
		if (backlog == 0 || cairn_mono_s() > until)
			return;
		cairn_sleep_ms(200);
	}
}

/* The status of a case, read back. */
static void
case_status(CURL *h, const char *id, char *out, size_t len)
{
	char path[128];
	json_t *r;
	long st;

	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	r = api(h, "GET", path, G.admin, NULL, NULL, 200, &st);
	snprintf(out, len, "%s", r ? jstr(r, "status") : "");
	json_decref(r);
}

/* Round 1: each campus says the application is complete (a CSU campus by
 * callback; UC and CCC answered the call itself), or asks for documents. */
static void
inst_intake(CURL *h, int i, void *arg)
{
	struct student *s = &G.st[i];

	if (!s->submitted)
		return;
	for (int j = 0; j < s->n; j++) {
		struct child *c = &s->c[j];
		enum inst k = inst_of(c->campus);
		char status[48];

		case_status(h, c->id, status, sizeof(status));
		if (!strcmp(status, "received") && (k == I_CSU || !G.fresh))
			inst_event(h, i, j, "complete", json_object());
		if (k != I_CCC && pct(6, (unsigned)i, (unsigned)j, 22)) {
			if (inst_event(h, i, j, "request_documents",
			               json_pack("{s:[s, s]}", "documents",
			                         "transcript",
			                         "letter of recommendation")) ==
			    0) {
				c->docs = 1;
				atomic_fetch_add(&G.docs_requested, 1);
			}
		}
	}
}

/* Round 2: half the students asked send their documents; the campus
 * accepts them. The others' counselors keep the alert. */
static void
student_documents(CURL *h, int i, void *arg)
{
	struct student *s = &G.st[i];

	for (int j = 0; j < s->n; j++) {
		struct child *c = &s->c[j];

		if (!c->docs || !pct(7, (unsigned)i, (unsigned)j, 50))
			continue;
		student_event(h, s, c->id, "submit_documents", NULL);
		if (inst_event(h, i, j, "accept_documents", json_object()) ==
		    0) {
			c->sent = 1;
			atomic_fetch_add(&G.docs_sent, 1);
		}
	}
}

/* Round 3: the decisions. */
static void
inst_decide(CURL *h, int i, void *arg)
{
	struct student *s = &G.st[i];

	for (int j = 0; j < s->n; j++) {
		struct child *c = &s->c[j];
		enum inst k = inst_of(c->campus);
		unsigned x = draw(8, (unsigned)i, (unsigned)j) % 100;
		const char *d = k == I_CCC ? "admit"
		                : x < 45   ? "admit"
		                : x < 80   ? "deny"
		                           : "waitlist";
		json_t *data;

		if (!s->submitted || (c->docs && !c->sent))
			continue;
		data = !strcmp(d, "admit")
		               ? json_pack("{s:s, s:s}", "decision", d,
		                           "sir_deadline", SIR_DEADLINE)
		               : json_pack("{s:s}", "decision", d);
		if (inst_event(h, i, j, "decide", data) == 0)
			snprintf(c->decision, sizeof(c->decision), "%s", d);
	}
}

/* Round 4: a student admitted somewhere registers at one campus (60%). */
static void
student_register(CURL *h, int i, void *arg)
{
	struct student *s = &G.st[i];

	if (!pct(9, (unsigned)i, 0, 60))
		return;
	for (int j = 0; j < s->n; j++) {
		if (strcmp(s->c[j].decision, "admit") != 0)
			continue;
		student_event(h, s, s->c[j].id, "intend_to_register", NULL);
		s->registered = j + 1;
		atomic_fetch_add(&G.registrations, 1);
		return;
	}
}

static void
institutions(CURL *h)
{
	if (G.fresh) {
		outbox_drain(h, 120);
		step("the institutions took the applications (calls retried "
		     "through their faults)");
	} else {
		/* admissions staff of each campus stand in for its system */
		for (int k = 0; k < G.campuses->n && k < 64; k++)
			token_new(h, "admissions", G.campuses->v[k].id,
			          "demo admissions", G.admissions_tok[k],
			          sizeof(G.admissions_tok[k]));
	}
	parallel(G.nstudents, inst_intake, NULL);
	step("campuses: %d applications complete or asked for documents (%d "
	     "asked)",
	     atomic_load(&G.callbacks), atomic_load(&G.docs_requested));
	parallel(G.nstudents, student_documents, NULL);
	step("students sent documents for %d of them; the others' counselors "
	     "keep an alert",
	     atomic_load(&G.docs_sent));
	parallel(G.nstudents, inst_decide, NULL);
	parallel(G.nstudents, student_register, NULL);
	step("campuses decided; %d students registered at a campus that "
	     "admitted them",
	     atomic_load(&G.registrations));
}

/* --- the aid office -------------------------------------------------------- */

static int
student_index(const char *subject)
{
	char want[64];
	int n;

	/* S-<tag>NNNN */
	n = snprintf(want, sizeof(want), "S-%s", G.tag);
	if (strncmp(subject, want, (size_t)n) != 0)
		return -1;
	n = atoi(subject + n) - 1;
	return n >= 0 && n < G.nstudents && !strcmp(G.st[n].id, subject) ? n
	                                                                 : -1;
}

/* Every case of a workflow (and status, when given), page by page:
 * fn(case, arg) for each. */
static void
each_case(CURL *h, const char *workflow, const char *status,
          void (*fn)(const json_t *c, void *arg), void *arg)
{
	char path[400], cursor[64] = "";

	for (;;) {
		json_t *r, *c;
		size_t i;

		snprintf(path, sizeof(path),
		         "/v1/cases?workflow=%s%s%s&limit=1000%s%s", workflow,
		         status ? "&status=" : "", status ? status : "",
		         cursor[0] ? "&cursor=" : "", cursor);
		r = api(h, "GET", path, G.admin, NULL, NULL, 200, NULL);
		json_array_foreach(json_object_get(r, "cases"), i, c)
		        fn(c, arg);
		snprintf(cursor, sizeof(cursor), "%s", jstr(r, "next"));
		json_decref(r);
		if (cursor[0] == '\0')
			return;
	}
}

static void
aid_file_seen(const json_t *c, void *arg)
{
	int i = student_index(jstr(c, "subject"));

	if (i >= 0 &&
	    !strcmp(jstr(json_object_get(c, "data"), "office"), G.office))
		snprintf(G.st[i].aid, sizeof(G.st[i].aid), "%s", jstr(c, "id"));
}

static void
academics(CURL *h, int i, void *arg)
{
	struct student *s = &G.st[i];
	enum inst k;
	double gpa;
	json_t *b, *r;
	char path[128];
	long st;

	if (s->aid[0] == '\0')
		return;
	k = s->n > 0 ? inst_of(s->c[0].campus) : I_UC;
	/* 1.75 to 4.00 in quarter points: exact in binary, so the JSON
	 * says 3.25, not 3.2499999999999996 */
	gpa = 1.75 + 0.25 * (double)(draw(10, (unsigned)i, 0) % 10);
	b = json_pack("{s:s, s:{s:f, s:n, s:s, s:i}}", "type",
	              "record_academics", "data", "hs_gpa", gpa, "college_gpa",
	              "segment",
	              k == I_UC    ? "uc"
	              : k == I_CSU ? "csu"
	                           : "ccc",
	              "program_months", k == I_CCC ? 24 : 48);
	snprintf(path, sizeof(path), "/v1/cases/%s/events", s->aid);
	r = api(h, "POST", path, G.officer[i % NOFFICERS], b, NULL, 200, &st);
	if (st == 200)
		atomic_fetch_add(&G.academics, 1);
	json_decref(r);
	json_decref(b);
}

/* Claims the next file of queue q; 1 with its id and status, 0 when the
 * queue is empty. */
static int
claim(CURL *h, int officer, const char *q, char *id, char *status,
      unsigned *who)
{
	char path[128];
	json_t *r, *c;
	long st;

	snprintf(path, sizeof(path), "/v1/queues/%s/claim?for=5m", q);
	r = api(h, "POST", path, G.officer[officer], NULL, NULL, 200, &st);
	if (st == 204 || r == NULL) {
		json_decref(r);
		if (st != 204)
			die("claiming from %s: %ld", q, st);
		atomic_fetch_add(&G.empty_claims, 1);
		return 0;
	}
	c = json_object_get(r, "case");
	snprintf(id, 40, "%s", jstr(c, "id"));
	snprintf(status, 48, "%s", jstr(c, "status"));
	/* whose file: the decision drawn for it follows the student (or the
	 * ISIR's person), not the order the officers happened to claim in */
	*who = 2166136261u;
	for (const char *p = jstr(c, "subject"); *p; p++)
		*who = (*who ^ (unsigned char)*p) * 16777619u;
	json_decref(r);
	atomic_fetch_add(&G.claims, 1);
	return 1;
}

static void
decide(CURL *h, int officer, const char *id, const char *type,
       const char *field, const char *value)
{
	char path[128];
	json_t *b =
	        json_pack("{s:s, s:{s:s}}", "type", type, "data", field, value);
	json_t *r;
	long st;

	snprintf(path, sizeof(path), "/v1/cases/%s/events", id);
	r = api(h, "POST", path, G.officer[officer], b, NULL, 200, &st);
	json_decref(b);
	json_decref(r);
	if (st == 200)
		atomic_fetch_add(&G.decisions, 1);
	else
		atomic_fetch_add(&G.errors, 1);
}

/* One officer: the review and verification queues until both are empty.
 * Every ninth file claimed is released unworked (a phone call came), and
 * goes back to the queue for whoever claims next. */
static void
officer_work(CURL *h, int officer, void *arg)
{
	static const char *const queues[] = {"verification", "isir_review"};
	char id[40], status[48], path[128];
	unsigned who;

	for (int q = 0; q < 2;) {
		if (!claim(h, officer, queues[q], id, status, &who)) {
			q++;
			continue;
		}
		if (atomic_load(&G.claims) % 9 == 0) {
			json_t *r;
			long st;

			snprintf(path, sizeof(path), "/v1/cases/%s/lease", id);
			r = api(h, "DELETE", path, G.officer[officer], NULL,
			        NULL, 204, &st);
			json_decref(r);
			if (st == 204 || st == 200)
				atomic_fetch_add(&G.releases, 1);
			q = 0;
			continue;
		}
		if (!strcmp(status, "documents_received"))
			decide(h, officer, id, "review_documents", "outcome",
			       "verified");
		else if (!strcmp(status, "verification_selected"))
			decide(h, officer, id, "review_isir", "next", "verify");
		else
			decide(h, officer, id, "review_isir", "next",
			       pct(11, who, 0, 25) ? "verify" : "package");
		q = 0; /* verification first: its files wait on deadlines */
	}
}

static void
verification_docs(const json_t *c, void *arg)
{
	int i = student_index(jstr(c, "subject"));

	if (i < 0 || !pct(12, (unsigned)i, 0, 80))
		return;
	student_event(arg, &G.st[i], jstr(c, "id"), "submit_documents", NULL);
	atomic_fetch_add(&G.verify_docs, 1);
}

static void
aid_office(CURL *h)
{
	int files = 0;

	each_case(h, "aid_file", NULL, aid_file_seen, NULL);
	for (int i = 0; i < G.nstudents; i++)
		files += G.st[i].aid[0] != '\0';
	parallel(G.nstudents, academics, NULL);
	step("%d students' aid files found under their ids; academics "
	     "recorded on %d",
	     files, atomic_load(&G.academics));
	{
		int saved = G.clients;

		G.clients = NOFFICERS;
		parallel(NOFFICERS, officer_work, NULL);
		each_case(h, "aid_file", "documents_requested",
		          verification_docs, h);
		parallel(NOFFICERS, officer_work, NULL);
		G.clients = saved;
	}
	step("aid officers: %d files claimed, %d decided, %d released; "
	     "students sent verification documents for %d",
	     atomic_load(&G.claims), atomic_load(&G.decisions),
	     atomic_load(&G.releases), atomic_load(&G.verify_docs));
}

/* --- policy staff ---------------------------------------------------------- */

/* The change, a proposal policy staff test: Cal Grant A asks a high
 * school GPA of 3.25 instead of 3.00 in 2025-26, with the tests that pin
 * it (a figure without tests is refused at publishing). */
#define POLICY_OLD "  a_high_school: 3.00"
#define POLICY_NEW "  a_high_school: 3.25"

static const char policy_test[] =
        "# Written by cairn-demo: the proposed 3.25 high school GPA minimum\n"
        "# for Cal Grant A in 2025-26, exactly at it and a quarter under.\n"
        "name: policy_change_gpa\n"
        "award_year: 2025-26\n"
        "today: 2025-01-15\n"
        "base:\n"
        "  student:\n"
        "    dependency: dependent\n"
        "    married: false\n"
        "    has_dependents: false\n"
        "    family_size: 4\n"
        "    income: 60000\n"
        "    assets: 10000\n"
        "    hs_gpa: 3.50\n"
        "    college_gpa: null\n"
        "    ca_resident: true\n"
        "    ab540: false\n"
        "    citizenship: citizen\n"
        "    segment: uc\n"
        "    program_months: 48\n"
        "    birth_date: 2006-05-05\n"
        "    application_date: 2024-10-11\n"
        "cases:\n"
        "  - name: a 3.25 high school GPA meets the proposed minimum\n"
        "    input: {student: {hs_gpa: 3.25}}\n"
        "    expect: {cal_grant_a: eligible}\n"
        "  - name: a 3.00 high school GPA no longer does\n"
        "    input: {student: {hs_gpa: 3.00}}\n"
        "    expect:\n"
        "      cal_grant_a: {outcome: ineligible, reasons: "
        "[gpa_below_minimum]}\n"
        "      cal_grant_b: eligible\n";

static json_t *
policy_change_files(void)
{
	char dir[700];
	struct rs_set *s = NULL;
	json_t *files;
	const char *params;
	char *text, *at;

	snprintf(dir, sizeof(dir), "%s/examples/rules/cal_grant",
	         CAIRN_SOURCE_DIR);
	if (rs_load_dir(dir, NULL, NULL, &s) != 0)
		die("%s does not load", dir);
	files = json_deep_copy(rs_files(s));
	rs_set_free(s);
	params = json_string_value(
	        json_object_get(files, "params/2025-26.yaml"));
	if (params == NULL || (at = strstr(params, POLICY_OLD)) == NULL)
		die("%s/params/2025-26.yaml has no line '%s' to change", dir,
		    POLICY_OLD);
	text = malloc(strlen(params) + 200);
	if (text == NULL)
		die("out of memory");
	sprintf(text, "%.*s%s%s", (int)(at - params), params, POLICY_NEW,
	        at + strlen(POLICY_OLD));
	json_object_set_new(files, "params/2025-26.yaml", json_string(text));
	json_object_set_new(files, "tests/policy_change.yaml",
	                    json_string(policy_test));
	free(text);
	return files;
}

static void
policy(CURL *h)
{
	json_t *files = policy_change_files(), *b;

	b = json_pack("{s:O, s:{s:s, s:s}}", "files", files, "filter",
	              "workflow", "aid_file", "award_year", AWARD_YEAR);
	G.dry_run = api(h, "POST", "/v1/rules/cal_grant/dry-run", G.policy, b,
	                NULL, 200, NULL);
	json_decref(b);
	step("policy: a 3.25 GPA minimum for Cal Grant A, dry-run over %lld "
	     "stored aid files: "
	     "%lld decisions would change",
	     json_integer_value(json_object_get(G.dry_run, "evaluated")),
	     json_integer_value(json_object_get(G.dry_run, "changed")));
	b = json_pack("{s:O}", "files", files);
	G.publish = api(h, "PUT", "/v1/rules/cal_grant", G.policy, b, NULL, 200,
	                NULL);
	json_decref(b);
	step("policy: published cal_grant %.12s (its tests passed)",
	     jstr(G.publish, "version"));
	b = json_object();
	G.rollback = api(h, "POST", "/v1/rules/cal_grant/rollback", G.policy, b,
	                 NULL, 200, NULL);
	json_decref(b);
	step("policy: rolled back to cal_grant %.12s",
	     jstr(G.rollback, "version"));
	json_decref(files);
}

/* --- the summary, read back from the API --------------------------------- */

struct tally {
	json_t *by;  /* {workflow: {status: n}} */
	json_t *dec; /* {rule set: {outcome: n}} */
	json_t *ids; /* this season's case ids, for its alerts */
	int aid_files, matched_files;
};

static void
count(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	json_object_set_new(o, k,
	                    json_integer(v ? json_integer_value(v) + 1 : 1));
}

/* only this season's cases: ours when --url shares a database */
static void
tally_case(const json_t *c, void *arg)
{
	struct tally *t = arg;
	const char *wf = jstr(c, "workflow");
	const json_t *data = json_object_get(c, "data");
	json_t *w;
	const char *k;
	json_t *d;

	if (G.tag[0] && strstr(jstr(c, "subject"), G.tag) == NULL)
		return;
	if (!strcmp(wf, "aid_file") && strcmp(jstr(data, "office"), G.office))
		return;
	json_object_set_new(t->ids, jstr(c, "id"), json_true());
	w = json_object_get(t->by, wf);
	if (w == NULL) {
		w = json_object();
		json_object_set_new(t->by, wf, w);
	}
	count(w, jstr(c, "status"));
	if (strcmp(wf, "aid_file") != 0)
		return;
	t->aid_files++;
	if (!strcmp(jstr(data, "identity"), "matched"))
		t->matched_files++;
	json_object_foreach(json_object_get(data, "eligibility"), k, d)
	{
		json_t *o = json_object_get(t->dec, k);

		if (o == NULL) {
			o = json_object();
			json_object_set_new(t->dec, k, o);
		}
		count(o, json_is_object(d) && json_object_get(d, "outcome")
		                 ? jstr(d, "outcome")
		                 : "recorded");
	}
}

static json_t *
alerts_by_kind(CURL *h, const json_t *ids, int *total)
{
	json_t *by = json_object();
	char path[200], after[32] = "";

	*total = 0;
	for (;;) {
		json_t *r, *a;
		size_t i;

		snprintf(path, sizeof(path),
		         "/v1/alerts?state=all&limit=1000%s%s",
		         after[0] ? "&after=" : "", after);
		r = api(h, "GET", path, G.admin, NULL, NULL, 200, NULL);
		json_array_foreach(json_object_get(r, "alerts"), i, a)
		{
			json_t *k;

			if (!json_object_get(ids, jstr(a, "case_id")))
				continue;
			k = json_object_get(by, jstr(a, "kind"));
			if (k == NULL) {
				k = json_pack("{s:i, s:i}", "open", 0,
				              "resolved", 0);
				json_object_set_new(by, jstr(a, "kind"), k);
			}
			count(k, !strcmp(jstr(a, "state"), "open")
			                 ? "open"
			                 : "resolved");
			(*total)++;
		}
		if (json_is_integer(json_object_get(r, "next")))
			snprintf(
			        after, sizeof(after), "%lld",
			        json_integer_value(json_object_get(r, "next")));
		else
			snprintf(after, sizeof(after), "%s", jstr(r, "next"));
		json_decref(r);
		if (after[0] == '\0')
			return by;
	}
}

static void
print_counts(const char *title, const json_t *o)
{
	const char *k;
	json_t *v;
	int col = 0;

	printf("  %-20s", title);
	json_object_foreach((json_t *)o, k, v)
	{
		if (col && col % 3 == 0)
			printf("\n  %-20s", "");
		printf(" %-22s %5lld", k, json_integer_value(v));
		col++;
	}
	putchar('\n');
}

static json_t *
summary(CURL *h)
{
	struct tally t = {json_object(), json_object(), json_object(), 0, 0};
	json_t *alerts, *queues, *out, *mocks = json_object(), *w;
	int nalerts;
	const char *k;

	each_case(h, "student_application", NULL, tally_case, &t);
	each_case(h, "campus_application", NULL, tally_case, &t);
	each_case(h, "aid_file", NULL, tally_case, &t);
	alerts = alerts_by_kind(h, t.ids, &nalerts);
	json_decref(t.ids);
	queues = api(h, "GET", "/v1/queues", G.officer[0], NULL, NULL, 200,
	             NULL);
	for (int i = 0; G.fresh && i < I_N; i++) {
		char base[64];
		struct httpc_reply r;
		json_t *j;

		snprintf(base, sizeof(base), "http://127.0.0.1:%d",
		         G.mock_port[i]);
		req(h, base, "GET", "/_mock/stats", NULL, NULL, NULL, 0, NULL,
		    &r);
		j = r.body ? json_loads(r.body, 0, NULL) : NULL;
		if (j)
			json_object_set_new(mocks, inst_adapter[i], j);
		free(r.body);
	}
	out = json_pack(
	        "{s:i, s:o, s:o, s:{s:i, s:o}, s:{s:i, s:i, s:i, s:i, s:i, "
	        "s:o}, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:{s:i, s:i, "
	        "s:i, s:i}, s:o, s:O, s:{s:s, s:s}, s:o}",
	        "students", G.nstudents, "cases", t.by, "rule_decisions", t.dec,
	        "alerts", "total", nalerts, "by_kind", alerts, "queue_work",
	        "claims", atomic_load(&G.claims), "decisions",
	        atomic_load(&G.decisions), "releases", atomic_load(&G.releases),
	        "empty_claims", atomic_load(&G.empty_claims), "academics",
	        atomic_load(&G.academics), "queues",
	        json_incref(json_object_get(queues, "queues")) ?: json_null(),
	        "institutions", "events", atomic_load(&G.callbacks), "refused",
	        atomic_load(&G.callbacks_refused), "documents_requested",
	        atomic_load(&G.docs_requested), "documents_sent",
	        atomic_load(&G.docs_sent), "registrations",
	        atomic_load(&G.registrations), "fsa_records", G.isir_fsa,
	        "errors", atomic_load(&G.errors), "isir", "accepted",
	        G.isir_accepted, "unchanged", G.isir_unchanged, "identities",
	        G.identities, "aid_files_matched", t.matched_files, "mocks",
	        mocks, "dry_run", G.dry_run ? G.dry_run : json_null(), "policy",
	        "published", jstr(G.publish, "version"), "rolled_back_to",
	        jstr(G.rollback, "version"), "seconds",
	        json_real(cairn_mono_s() - G.t0));
	json_decref(queues);
	if (out == NULL)
		die("out of memory building the summary");

	printf("\n=== The season in numbers (read back from cairnd) ===\n");
	json_object_foreach(t.by, k, w) print_counts(k, w);
	printf("  alerts: %d in all\n", nalerts);
	json_object_foreach(alerts, k, w)
	{
		printf("    %-24s %4lld open, %4lld resolved\n", k,
		       json_integer_value(json_object_get(w, "open")),
		       json_integer_value(json_object_get(w, "resolved")));
	}
	printf("  queue work: %d files claimed, %d decided, %d released "
	       "unworked\n",
	       atomic_load(&G.claims), atomic_load(&G.decisions),
	       atomic_load(&G.releases));
	json_object_foreach(t.dec, k, w) print_counts(k, w);
	printf("  ISIRs: %d accepted, %d unchanged; %d identities loaded, %d "
	       "of %d aid files matched to a student\n",
	       G.isir_accepted, G.isir_unchanged, G.identities, t.matched_files,
	       t.aid_files);
	json_object_foreach(mocks, k, w)
	{
		const char *fk;
		json_t *fv;
		long long faults = 0;

		json_object_foreach(json_object_get(w, "faults"), fk, fv)
		{
			if (strcmp(fk, "none") != 0)
				faults += json_integer_value(fv);
		}
		printf("  %-12s %lld calls received, %lld unique, %lld "
		       "repeats answered from the first, %lld failed on "
		       "purpose\n",
		       k, json_integer_value(json_object_get(w, "received")),
		       json_integer_value(json_object_get(w, "unique")),
		       json_integer_value(json_object_get(w, "duplicates")),
		       faults);
	}
	printf("  dry run of a 3.25 GPA minimum for Cal Grant A: %lld files "
	       "evaluated, %lld "
	       "decisions would change\n",
	       json_integer_value(json_object_get(G.dry_run, "evaluated")),
	       json_integer_value(json_object_get(G.dry_run, "changed")));
	{
		size_t i;
		json_t *tr;

		json_array_foreach(json_object_get(G.dry_run, "transitions"), i,
		                   tr)
		{
			printf("    %-28s %s -> %s: %lld\n", jstr(tr, "rule"),
			       jstr(tr, "from"), jstr(tr, "to"),
			       json_integer_value(
			               json_object_get(tr, "count")));
		}
	}
	printf("  policy: published %.12s, rolled back to %.12s\n",
	       jstr(G.publish, "version"), jstr(G.rollback, "version"));
	return out;
}

/* --- the season's people, for a test to act as them (--tokens) ---------- */

static void
tokens_write(const char *path)
{
	json_t *students = json_array(), *counselors = json_array();
	json_t *officers = json_array(), *admissions = json_object(), *out;
	int fd, rc;

	for (int i = 0; i < G.nstudents; i++)
		json_array_append_new(
		        students,
		        json_pack("{s:s, s:s, s:s}", "id", G.st[i].id, "token",
		                  G.st[i].token, "application", G.st[i].app));
	for (int k = 0; k < NCOUNSELORS; k++)
		json_array_append_new(counselors, json_string(G.counselor[k]));
	for (int k = 0; k < NOFFICERS; k++)
		json_array_append_new(officers, json_string(G.officer[k]));
	for (int k = 0; !G.fresh && k < G.campuses->n && k < 64; k++)
		json_object_set_new(admissions, G.campuses->v[k].id,
		                    json_string(G.admissions_tok[k]));
	out = json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:o}", "tag", G.tag,
	                "office", G.office, "students", students, "counselors",
	                counselors, "aid_officers", officers, "policy",
	                G.policy, "admissions", admissions);
	if (out == NULL)
		die("out of memory listing the season's tokens");
	/* tokens are credentials: readable by their owner only, from the
	 * first byte (not chmod after writing) */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("cannot write %s: %s", path, strerror(errno));
	rc = json_dumpfd(out, fd, JSON_INDENT(2));
	if (rc == 0 && write(fd, "\n", 1) != 1)
		rc = -1;
	if (close(fd) != 0)
		rc = -1;
	json_decref(out);
	if (rc != 0)
		die("cannot write %s", path);
}

/* --- main ------------------------------------------------------------------ */

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: cairn-demo [--students N] [--dir DIR] [--seed S] "
	        "[--summary FILE]\n"
	        "                  [--isir-dir DIR] [--clients C]\n"
	        "       cairn-demo --url URL --token ADMIN_TOKEN [--students "
	        "N] "
	        "[--summary FILE]\n"
	        "                  [--tokens FILE]\n"
	        "A season in miniature: students apply, ISIRs are imported and "
	        "matched,\ninstitutions decide, aid officers work the queues, "
	        "a policy change is\ndry-run, published and rolled back. "
	        "Without --url it starts its own\ncairnd (in DIR, default "
	        "build/demo) and mock institutions.\n");
}

static void
stop_fresh(void)
{
	int st;

	kill(G.cairnd, SIGTERM);
	if (waitpid(G.cairnd, &st, 0) == G.cairnd &&
	    (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
		fprintf(stderr, "cairn-demo: cairnd did not exit cleanly\n");
	G.cairnd = 0;
	for (int k = 0; k < I_N; k++) {
		kill(G.mock[k], SIGTERM);
		waitpid(G.mock[k], &st, 0);
		G.mock[k] = 0;
	}
}

int
main(int argc, char **argv)
{
	CURL *h;
	json_t *sum;
	char path[700];
	int example = 1;

	G.nstudents = 500;
	G.seed = 2026;
	G.clients = 16;
	snprintf(G.dir, sizeof(G.dir), "%s/demo", CAIRN_BUILD_DIR);
	snprintf(G.isir_dir, sizeof(G.isir_dir), "%s/../shared/data/isir",
	         CAIRN_SOURCE_DIR);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		if (v == NULL) {
			usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(a, "--students"))
			G.nstudents = atoi(v);
		else if (!strcmp(a, "--dir"))
			snprintf(G.dir, sizeof(G.dir), "%s", v);
		else if (!strcmp(a, "--seed"))
			G.seed = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--summary"))
			snprintf(G.summary_path, sizeof(G.summary_path), "%s",
			         v);
		else if (!strcmp(a, "--tokens"))
			snprintf(G.tokens_path, sizeof(G.tokens_path), "%s", v);
		else if (!strcmp(a, "--isir-dir"))
			snprintf(G.isir_dir, sizeof(G.isir_dir), "%s", v);
		else if (!strcmp(a, "--clients"))
			G.clients = atoi(v);
		else if (!strcmp(a, "--url"))
			snprintf(G.url, sizeof(G.url), "%s", v);
		else if (!strcmp(a, "--token"))
			snprintf(G.admin, sizeof(G.admin), "%s", v);
		else {
			usage(stderr);
			return 2;
		}
	}
	if (G.nstudents < 1 || G.nstudents > MAX_STUDENTS || G.clients < 1 ||
	    G.clients > 64 || (G.url[0] != '\0') != (G.admin[0] != '\0')) {
		fprintf(stderr,
		        "cairn-demo: --students 1-%d, --clients 1-64, "
		        "and --url with --token\n",
		        MAX_STUDENTS);
		usage(stderr);
		return 2;
	}
	G.url[strcspn(G.url, "\n")] = '\0';
	if (G.url[0] && G.url[strlen(G.url) - 1] == '/')
		G.url[strlen(G.url) - 1] = '\0';
	G.fresh = G.url[0] == '\0';
	G.st = calloc((size_t)G.nstudents, sizeof(*G.st));
	if (G.st == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (h = curl_easy_init()) == NULL) {
		fprintf(stderr, "cairn-demo: out of memory\n");
		return 1;
	}
	/* a demo run's own ids, when it shares a database with others */
	snprintf(G.office, sizeof(G.office), "state-aid");
	if (!G.fresh) {
		snprintf(G.tag, sizeof(G.tag), "%lx-",
		         (unsigned long)time(NULL) % 0xfffffUL);
		snprintf(G.office, sizeof(G.office), "state-aid-%.6s", G.tag);
		G.office[strlen(G.office) - 1] = '\0'; /* the tag's '-' */
	}
	snprintf(path, sizeof(path), "%s/examples/campuses.yaml",
	         CAIRN_SOURCE_DIR);
	if (wf_campuses_load(path, NULL, NULL, NULL, &G.campuses) != 0 ||
	    G.campuses->n < MAX_CAMPUSES)
		die("cannot load %s", path);
	G.t0 = cairn_mono_s();
	if (G.fresh) {
		fresh_setup(h);
		step("cairnd on %s (database %s/cairn.db) and three mock "
		     "institutions failing 15%% of calls on purpose",
		     G.url, G.dir);
	} else {
		step("cairnd at %s (run tag %s)", G.url, G.tag);
	}
	people(h);
	applications();
	isirs(h);
	institutions(h);
	aid_office(h);
	policy(h);
	if (G.fresh)
		outbox_drain(h, 15);
	sum = summary(h);
	if (G.summary_path[0] &&
	    json_dump_file(sum, G.summary_path, JSON_INDENT(2)) != 0)
		die("cannot write %s", G.summary_path);
	if (G.tokens_path[0])
		tokens_write(G.tokens_path);
	printf("\nThe season took %.1f s.\n", cairn_mono_s() - G.t0);
	for (int i = 0; i < G.nstudents; i++)
		if (G.st[i].aid[0] && G.st[i].registered) {
			example = i + 1;
			break;
		}
	if (G.fresh) {
		stop_fresh();
		printf("\nThe database stays in %s/cairn.db. To explore it:\n\n"
		       "  make demo-run                     # cairnd on it "
		       "again, "
		       "at %s (another terminal)\n"
		       "  . %s/env               # CAIRN_URL and an admin "
		       "CAIRN_TOKEN for it\n",
		       G.dir, G.url, G.dir);
	} else {
		printf("\nExplore it (CAIRN_URL=%s, an admin CAIRN_TOKEN):\n\n",
		       G.url);
	}
	printf("  build/cairn cases timeline %s   # one student's whole "
	       "season: the application,\n"
	       "                                    # every campus's copy and "
	       "the aid file, in order\n"
	       "  build/cairn cases --subject %s    # the same student's "
	       "cases; cases history ID: one case\n"
	       "  build/cairn queue                 # the aid office's queues\n"
	       "  build/cairn rules versions cal_grant   # the policy change "
	       "and its rollback\n",
	       G.st[example - 1].id, G.st[example - 1].id);
	json_decref(sum);
	json_decref(G.dry_run);
	json_decref(G.publish);
	json_decref(G.rollback);
	wf_campuses_free(G.campuses);
	free(G.st);
	curl_easy_cleanup(h);
	curl_global_cleanup();
	return atomic_load(&G.errors) > 0 ? 1 : 0;
}
