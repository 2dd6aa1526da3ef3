/*
 * claims.c: the tools of the queue-claim benchmark (bench/claims.sh), one
 * binary with a subcommand each:
 *
 *   claims build -o DIR [-n FILES] [-f OFFICES]
 *   claims load  -c CONNS -d SECONDS [-w WARMUP] [-q QUEUE] [-r RATE]
 *                -T TOKEN_FILE URL
 *
 * build: DIR/cairn.db with FILES (default 1,000,000) queued aid files
 * written through the store's own API (store_batch_case_insert, 5,000 to a
 * batch), so the schema, the queue order index and the binding are the
 * daemon's. Each is a case of the `review` workflow in status `queued`
 * (queue aid_review), owned by one of OFFICES offices (default 1:
 * "office-0"), due 1 to 14 days from now, with a priority 0..9 in its data
 * and created over the last 30 days. DIR/workflows/review.yaml is the
 * workflow, so a cairnd started on DIR knows the queue.
 *
 * load: closed-loop keep-alive load as bench/loadgen.c does it (the same
 * code, bench/benchlib.h): CONNS aid officers of office-0 (a token each,
 * made with the admin token in TOKEN_FILE), each claiming the next file
 * with POST /v1/queues/QUEUE/claim?for=8h as soon as its last claim is
 * answered, or with -r RATE on a fixed schedule that adds up to RATE
 * claims/s (latency then counts from the write of each claim, not from
 * its slot). Every claim is a durable write on the store's writer thread.
 * It prints one line of key=value pairs: claims (200s after the warm-up),
 * empty (204s), claims_per_s and the latency percentiles.
 *
 * Only IPv4 loopback targets are accepted.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "../common/cairn.h"
#include "../store/store.h"
#include "benchlib.h"

#define BATCH     5000
#define IN_FLIGHT 3
#define MAX_CONNS 1024
#define TOKEN_MAX 128

static const char review_wf[] =
        "name: review\n"
        "description: an aid file an officer reviews (bench/claims.c)\n"
        "statuses:\n"
        "  queued: {initial: true, queue: aid_review, sla: 14d}\n"
        "  approved: {terminal: true}\n"
        "  denied: {terminal: true}\n"
        "transitions:\n"
        "  - on: decide\n"
        "    from: queued\n"
        "    to: {field: decision, cases: {approve: approved, deny: "
        "denied}}\n"
        "    roles: [aid_officer]\n";

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "claims: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* --- build ------------------------------------------------------------------ */

static uv_loop_t loop;
static struct store *st;
static int inflight, failed;
static char fail_msg[512];

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

/* A UUIDv7 as daemon/cases.c makes them: 48 bits of ms, then random. */
static void
uuid7(int64_t ms, char out[37])
{
	static const char hexd[] = "0123456789abcdef";
	uint8_t b[16];
	uint64_t r1 = rnd(), r2 = rnd();
	int j = 0;

	for (int i = 0; i < 6; i++)
		b[i] = (uint8_t)((uint64_t)ms >> (40 - 8 * i));
	for (int i = 6; i < 16; i++)
		b[i] = (uint8_t)((i < 11 ? r1 : r2) >> (8 * (i % 8)));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x70);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[j++] = '-';
		out[j++] = hexd[b[i] >> 4];
		out[j++] = hexd[b[i] & 15];
	}
	out[j] = '\0';
}

static int
cmd_build(int argc, char **argv)
{
	const char *dir = NULL;
	long long nfiles = 1000000, noffices = 1;
	struct store_opts o = {0};
	struct cairn_err err = {0};
	char path[4096], buf[1200];
	static const uint8_t zero[32];
	int64_t now = cairn_now_ms();
	struct store_batch *b = NULL;
	FILE *f;
	int opt;

	while ((opt = getopt(argc, argv, "o:n:f:")) != -1) {
		switch (opt) {
		case 'o':
			dir = optarg;
			break;
		case 'n':
			nfiles = atoll(optarg);
			break;
		case 'f':
			noffices = atoll(optarg);
			break;
		default:
			return 2;
		}
	}
	if (dir == NULL || nfiles < 1 || noffices < 1) {
		fprintf(stderr, "usage: claims build -o DIR [-n FILES] "
		                "[-f OFFICES]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/workflows", dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		die("%s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/workflows/review.yaml", dir);
	f = fopen(path, "w");
	if (f == NULL || fputs(review_wf, f) < 0 || fclose(f) != 0)
		die("%s: cannot write", path);

	if (uv_loop_init(&loop) != 0)
		die("uv_loop_init");
	snprintf(path, sizeof(path), "%s/cairn.db", dir);
	o.path = path;
	if (store_open(&loop, &o, &st, &err) != 0) {
		cairn_err_format(&err, buf, sizeof(buf));
		die("store_open %s: %s", path, buf);
	}
	for (long long i = 0; i < nfiles; i++) {
		struct store_case_row c = {0};
		char id[37], subject[32], office[32], data[48];
		int64_t created = now - (int64_t)(rnd() % (30LL * 86400000));

		if (b == NULL && (b = store_batch_new()) == NULL)
			die("out of memory");
		uuid7(created, id);
		snprintf(subject, sizeof(subject), "S%08lld", i);
		snprintf(office, sizeof(office), "office-%lld", i % noffices);
		snprintf(data, sizeof(data), "{\"priority\":%d}",
		         (int)(rnd() % 10));
		c.id = id;
		c.workflow = "review";
		c.version = 1;
		c.status = "queued";
		c.data = data;
		c.root_id = id;
		c.subject = subject;
		c.owner = office;
		c.queue = "aid_review";
		c.due_at =
		        now + 86400000 + (int64_t)(rnd() % (13LL * 86400000));
		c.revision = 1;
		c.history_hash = zero;
		c.created_at = c.updated_at = created;
		if (store_batch_case_insert(b, &c) != 0)
			die("out of memory");
		if ((i + 1) % BATCH == 0 || i + 1 == nfiles) {
			submit(b);
			b = NULL;
		}
	}
	while (inflight > 0)
		uv_run(&loop, UV_RUN_ONCE);
	store_close(st);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (failed)
		die("a batch failed: %s", fail_msg);
	printf("files=%lld offices=%lld\n", nfiles, noffices);
	return 0;
}

/* --- load --------------------------------------------------------------------- */

struct claimer {
	struct bl_conn c; /* first: benchlib's */
	char token[TOKEN_MAX + 1];
	uv_timer_t pace; /* with -r: waits for the next slot */
	uint64_t next_ns;
};

static struct {
	struct bl_run run;
	char path[256];
	uint64_t claims, empty;
	uint64_t interval_ns; /* with -r: between one claimer's claims */
} lg;

static void
send_claim(struct claimer *k)
{
	bl_request(&k->c, "POST", lg.path, k->token, NULL);
}

static void
on_pace(uv_timer_t *t)
{
	struct claimer *k = t->data;

	if (!lg.run.stopping && k->c.connected)
		send_claim(k);
}

/* Closed loop, or with -r each claimer on a fixed schedule (an officer
 * who works a file between claims): a late answer moves the schedule on
 * rather than bunching the claims that follow it. */
static void
load_next(struct bl_conn *c)
{
	struct claimer *k = (struct claimer *)c;
	uint64_t now = uv_hrtime();

	if (lg.interval_ns == 0) {
		send_claim(k);
		return;
	}
	if (uv_is_active((uv_handle_t *)&k->pace))
		return;
	if (k->next_ns == 0)
		k->next_ns = now + rnd() % lg.interval_ns;
	else
		k->next_ns += lg.interval_ns;
	if (k->next_ns + lg.interval_ns < now)
		k->next_ns = now;
	if (k->next_ns <= now)
		send_claim(k);
	else
		uv_timer_start(&k->pace, on_pace,
		               (k->next_ns - now + 999999) / 1000000, 0);
}

static void
load_stop(struct bl_run *r)
{
	for (int i = 0; lg.interval_ns && i < r->nconns; i++)
		uv_close((uv_handle_t *)&((struct claimer *)bl_conn_at(r, i))
		                 ->pace,
		         NULL);
}

static void
load_done(struct bl_conn *c, uint64_t now, const char *body, size_t blen)
{
	if (!lg.run.measuring)
		return;
	if (c->status == 200)
		lg.claims++;
	else if (c->status == 204)
		lg.empty++;
}

static const struct bl_ops load_ops = {
        .next = load_next, .done = load_done, .stop = load_stop};

static int
cmd_load(int argc, char **argv)
{
	const char *tokfile = NULL, *queue = "aid_review";
	char admin[TOKEN_MAX + 1];
	double dur = 0, warm = 0, secs, rate = 0;
	int nconns = 0, opt;
	struct claimer *cs;
	struct bl_run *r = &lg.run;

	while ((opt = getopt(argc, argv, "c:d:w:q:r:T:")) != -1) {
		switch (opt) {
		case 'c':
			nconns = atoi(optarg);
			break;
		case 'd':
			dur = atof(optarg);
			break;
		case 'w':
			warm = atof(optarg);
			break;
		case 'q':
			queue = optarg;
			break;
		case 'r':
			rate = atof(optarg);
			break;
		case 'T':
			tokfile = optarg;
			break;
		default:
			return 2;
		}
	}
	if (nconns < 1 || nconns > MAX_CONNS || !(dur > 0) || warm < 0 ||
	    rate < 0 || tokfile == NULL || optind != argc - 1 ||
	    bl_parse_url("claims", argv[optind], &r->target, NULL) != 0 ||
	    bl_read_token_file("claims", tokfile, admin, sizeof(admin)) != 0) {
		fprintf(stderr, "usage: claims load -c CONNS -d SECONDS "
		                "[-w WARMUP] [-q QUEUE] [-r CLAIMS_PER_S] "
		                "-T TOKEN_FILE "
		                "http://127.0.0.1:PORT\n");
		return 2;
	}
	snprintf(lg.path, sizeof(lg.path), "/v1/queues/%s/claim?for=8h", queue);
	signal(SIGPIPE, SIG_IGN);
	cs = calloc((size_t)nconns, sizeof(*cs));
	if (cs == NULL)
		die("out of memory");
	/* set-up, not measured: an officer's token per connection */
	for (int i = 0; i < nconns; i++) {
		char *out = NULL;
		json_t *j;
		int stc = bl_http(&r->target, "POST", "/v1/tokens", admin,
		                  "{\"role\":\"aid_officer\",\"scope\":"
		                  "\"office-0\",\"label\":\"bench claims\"}",
		                  10000, &out);

		j = out ? json_loads(out, 0, NULL) : NULL;
		if (stc != 201 || !json_is_string(json_object_get(j, "token")))
			die("creating a token: status %d %s", stc,
			    out ? out : "");
		snprintf(cs[i].token, sizeof(cs[i].token), "%s",
		         json_string_value(json_object_get(j, "token")));
		json_decref(j);
		free(out);
	}
	if (uv_loop_init(&loop) != 0)
		die("uv_loop_init");
	bl_init(r, "claims", &load_ops, &loop, (struct bl_conn *)cs,
	        sizeof(*cs), nconns);
	if (rate > 0) {
		lg.interval_ns = (uint64_t)(1e9 * nconns / rate);
		for (int i = 0; i < nconns; i++) {
			uv_timer_init(&loop, &cs[i].pace);
			cs[i].pace.data = &cs[i];
		}
	}
	bl_start(r, warm, dur);
	bl_connect_all(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	secs = bl_seconds(r);
	printf("claims=%llu empty=%llu claims_per_s=%.1f errors=%llu "
	       "non2xx=%llu ",
	       (unsigned long long)lg.claims, (unsigned long long)lg.empty,
	       secs > 0 ? (double)lg.claims / secs : 0.0,
	       (unsigned long long)(r->errors + r->warm_errors),
	       (unsigned long long)r->non2xx);
	hist_print(&r->hist);
	printf(" conns=%d rate=%.0f duration_s=%.3f warmup_requests=%llu\n",
	       nconns, rate, secs, (unsigned long long)r->warm_requests);
	if (r->errors + r->warm_errors && r->last_error[0])
		fprintf(stderr, "claims: last error: %s\n", r->last_error);
	return r->fatal ? 2 : lg.claims == 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 2) {
		if (!strcmp(argv[1], "build"))
			return cmd_build(argc - 1, argv + 1);
		if (!strcmp(argv[1], "load"))
			return cmd_load(argc - 1, argv + 1);
	}
	fprintf(stderr, "usage: claims build|load ...\n(see the comment at "
	                "the top of bench/claims.c)\n");
	return 2;
}
