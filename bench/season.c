/*
 * season.c: the application season as one closed-loop load, on libuv with
 * benchlib.h's keep-alive client: students submit and read, institutions
 * call back, aid officers claim and decide, counselors read alerts, in
 * fixed proportions.
 *
 *   season -c CONNS -d SECONDS [-w WARMUP_SECONDS] [-n APPS_PER_CONN]
 *          [-x SUBMIT,CALLBACK,CLAIM,ALERTS,STATUS] [-O OFFICE]
 *          [-A ADAPTER] [-S CALLBACK_SECRET_ENV] [-s SEED]
 *          -T ADMIN_TOKEN_FILE http://127.0.0.1:PORT
 *
 * Set-up (not measured), with the admin token: per connection a student
 * token (scope "season-<pid>-<i>") and an aid officer's token (scope
 * OFFICE, default "season"); 8 counselors' tokens, each with every eighth
 * student in its caseload (PUT /v1/counselors/{id}/students); then each
 * connection submits APPS_PER_CONN (default 4) applications, so the
 * callbacks and the status reads have something to work on. The aid files
 * the officers claim come before this program: import ISIRs into OFFICE
 * (cairn isir import ... --office OFFICE), as bench/run.sh does.
 *
 * Then each connection repeats: draw an operation by the weights of -x
 * (default 10,25,10,15,40 percent), run it, draw again:
 *
 *  submit    a student's application to 4 UC campuses: POST /v1/cases
 *            (201), POST /v1/cases/{id}/events {"type":"submit"} (200);
 *            the 4 campus applications join the institutions' work;
 *  callback  the institution of a campus application calls back, signed
 *            (X-Cairn-Timestamp, X-Cairn-Signature: HMAC-SHA256 of
 *            "timestamp.body" with the adapter's callback secret), through
 *            POST /v1/callbacks/ADAPTER: first "complete" (received ->
 *            under_review), later "decide" (admit with an intent-to-register
 *            deadline, deny or waitlist, in turn), oldest campus
 *            application first; an admit or a waitlist alerts the
 *            student's counselor;
 *  claim     an aid officer claims the next aid file of the isir_review
 *            queue (POST /v1/queues/isir_review/claim, 200) and decides it
 *            (POST /v1/cases/{id}/events review_isir, next=package, which
 *            evaluates the Cal Grant rule on entering packaging); a queue
 *            found empty (204) is counted as claims_empty, not as an op;
 *  alerts    a counselor reads its open alerts (GET /v1/alerts?limit=20);
 *  status    a student reads one of its applications (GET /v1/cases/{id}).
 *
 * An operation's latency runs from its first request's write to its last
 * reply. The callback secret is read from the environment variable named
 * by -S (default CAIRN_UC_CAMPUS_CALLBACK_SECRET), as cairnd reads it.
 *
 * It prints one line of key=value pairs: ops, ops_per_s and the latency
 * percentiles over every operation, then for each kind NAME_ops,
 * NAME_p50_us, NAME_p99_us, NAME_max_us; failed (an unexpected status),
 * claims_empty, the mix, the run's request counts, and maxrss_kb (this
 * program's peak memory). Exit status 0, 1 when nothing completed or the
 * set-up failed, 2 for bad usage. Only IPv4 loopback targets are accepted.
 */
#include <getopt.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "benchlib.h"

#define MAX_CONNS     4096
#define PREFILL_MAX_S 120
#define ID_LEN        36
#define TOKEN_MAX     80
#define NCAMPUS       9
#define NCOUNSELORS   8
#define CAMPUSES      4 /* campuses an application goes to */

static const char *const campuses[NCAMPUS] = {
        "uc-berkeley",    "uc-davis",         "uc-irvine",
        "uc-los-angeles", "uc-merced",        "uc-riverside",
        "uc-san-diego",   "uc-santa-barbara", "uc-santa-cruz"};

enum op { OP_SUBMIT, OP_CALLBACK, OP_CLAIM, OP_ALERTS, OP_STATUS, OP_N };
static const char *const op_names[OP_N] = {"submit", "callback", "claim",
                                           "alerts", "status"};

enum step {
	ST_CREATE,
	ST_SUBMIT,
	ST_CALLBACK,
	ST_CLAIM,
	ST_DECIDE,
	ST_ALERTS,
	ST_STATUS
};

/* a campus application waiting for its institution's next callback */
struct kid {
	char id[ID_LEN + 1];
	int stage; /* 0: "complete" next, 1: "decide" next */
};

struct season;

struct conn {
	struct bl_conn b; /* first: the run's connections are these */
	struct season *sn;
	int idx;
	int idle;
	enum op op;
	enum step step;
	uint64_t op_start_ns;
	unsigned rng;
	unsigned app_seq;
	int prefill_left;
	char app_id[ID_LEN + 1];
	char (*apps)[ID_LEN + 1]; /* this student's applications */
	int napps, appcap;
	struct kid kid; /* the campus application of the callback in flight */
	char student[TOKEN_MAX + 1], officer[TOKEN_MAX + 1];
	char subject[48];
	char body[1024]; /* the request's body, for a request with headers */
};

struct season {
	struct bl_run run; /* first: the ops' stop() gets this */
	struct conn *conns;
	int prefilling, prefilled;
	double warm, dur;
	int weights[OP_N], wsum;
	const char *adapter, *secret;
	char counselor[NCOUNSELORS][TOKEN_MAX + 1];
	uv_timer_t prefill_timer;
	/* the institutions' work: a ring of campus applications */
	struct kid *ring;
	size_t rhead, rlen, rcap;
	uint64_t cb_seq;
	/* counted after the warm-up */
	uint64_t ops, failed, claims_empty, warm_ops, no_kid;
	uint64_t n_op[OP_N];
	struct hist hist, hist_op[OP_N];
};

/* --- the institutions' work ---------------------------------------------- */

static int
ring_push(struct season *sn, const struct kid *k)
{
	if (sn->rlen == sn->rcap) {
		size_t cap = sn->rcap ? 2 * sn->rcap : 4096;
		struct kid *p = malloc(cap * sizeof(*p));

		if (p == NULL)
			return -1;
		for (size_t i = 0; i < sn->rlen; i++)
			p[i] = sn->ring[(sn->rhead + i) % sn->rcap];
		free(sn->ring);
		sn->ring = p;
		sn->rcap = cap;
		sn->rhead = 0;
	}
	sn->ring[(sn->rhead + sn->rlen) % sn->rcap] = *k;
	sn->rlen++;
	return 0;
}

static int
ring_pop(struct season *sn, struct kid *k)
{
	if (sn->rlen == 0)
		return -1;
	*k = sn->ring[sn->rhead];
	sn->rhead = (sn->rhead + 1) % sn->rcap;
	sn->rlen--;
	return 0;
}

/* --- the operations -------------------------------------------------------- */

static void
send_create(struct conn *c)
{
	char body[512];
	size_t off;
	unsigned s = c->app_seq++;

	off = (size_t)snprintf(body, sizeof(body),
	                       "{\"workflow\":\"student_application\","
	                       "\"subject\":\"%s\",\"data\":{\"campuses\":[",
	                       c->subject);
	for (int k = 0; k < CAMPUSES; k++)
		off += (size_t)snprintf(
		        body + off, sizeof(body) - off, "%s\"%s\"",
		        k ? "," : "",
		        campuses[(s + (unsigned)c->idx + (unsigned)k) %
		                 NCAMPUS]);
	snprintf(body + off, sizeof(body) - off, "]}}");
	c->step = ST_CREATE;
	bl_request(&c->b, "POST", "/v1/cases", c->student, body);
	c->op_start_ns = c->b.sent_ns;
}

static void
send_submit(struct conn *c)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s/events", c->app_id);
	c->step = ST_SUBMIT;
	bl_request(&c->b, "POST", path, c->student, "{\"type\":\"submit\"}");
}

/* The institution's signed callback about c->kid. */
static void
send_callback(struct conn *c)
{
	static const char *const dec[] = {"admit", "deny", "waitlist"};
	struct season *sn = c->sn;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char ts[32], sig[2 * EVP_MAX_MD_SIZE + 1], *signed_msg;
	uint64_t n = ++sn->cb_seq;
	int blen, len;

	if (c->kid.stage == 0)
		blen = snprintf(c->body, sizeof(c->body),
		                "{\"event_id\":\"season-%ld-%llu\",\"case_id\":"
		                "\"%s\",\"event\":\"complete\"}",
		                (long)getpid(), (unsigned long long)n,
		                c->kid.id);
	else
		blen = snprintf(c->body, sizeof(c->body),
		                "{\"event_id\":\"season-%ld-%llu\",\"case_id\":"
		                "\"%s\",\"event\":\"decide\",\"data\":{"
		                "\"decision\":\"%s\",\"sir_deadline\":"
		                "\"2027-05-01\"}}",
		                (long)getpid(), (unsigned long long)n,
		                c->kid.id, dec[n % 3]);
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	if (asprintf(&signed_msg, "%s.%s", ts, c->body) < 0) {
		bl_fatal(&sn->run, "out of memory");
		return;
	}
	HMAC(EVP_sha256(), sn->secret, (int)strlen(sn->secret),
	     (const unsigned char *)signed_msg, strlen(signed_msg), mac,
	     &maclen);
	free(signed_msg);
	for (unsigned int i = 0; i < maclen; i++)
		snprintf(sig + 2 * i, 3, "%02x", mac[i]);
	len = snprintf(c->b.req, sizeof(c->b.req),
	               "POST /v1/callbacks/%s HTTP/1.1\r\nHost: %s\r\n"
	               "X-Cairn-Timestamp: %s\r\n"
	               "X-Cairn-Signature: sha256=%s\r\n"
	               "Content-Type: application/json\r\n"
	               "Content-Length: %d\r\n\r\n%s",
	               sn->adapter, sn->run.target.authority, ts, sig, blen,
	               c->body);
	if (len < 0 || (size_t)len >= sizeof(c->b.req)) {
		bl_fatal(&sn->run, "callback request too large");
		return;
	}
	c->step = ST_CALLBACK;
	bl_write(&c->b, c->b.req, (size_t)len);
	c->op_start_ns = c->b.sent_ns;
}

static void
send_claim(struct conn *c)
{
	c->step = ST_CLAIM;
	bl_request(&c->b, "POST", "/v1/queues/isir_review/claim", c->officer,
	           NULL);
	c->op_start_ns = c->b.sent_ns;
}

static void
send_decide(struct conn *c)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s/events", c->app_id);
	c->step = ST_DECIDE;
	bl_request(
	        &c->b, "POST", path, c->officer,
	        "{\"type\":\"review_isir\",\"data\":{\"next\":\"package\"}}");
}

static void
send_alerts(struct conn *c)
{
	c->step = ST_ALERTS;
	bl_request(&c->b, "GET", "/v1/alerts?limit=20",
	           c->sn->counselor[c->idx % NCOUNSELORS], NULL);
	c->op_start_ns = c->b.sent_ns;
}

static void
send_status(struct conn *c)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s",
	         c->apps[rand_r(&c->rng) % (unsigned)c->napps]);
	c->step = ST_STATUS;
	bl_request(&c->b, "GET", path, c->student, NULL);
	c->op_start_ns = c->b.sent_ns;
}

/* Draws the next operation and sends its first request. */
static void
start_op(struct conn *c)
{
	struct season *sn = c->sn;
	int x = (int)(rand_r(&c->rng) % (unsigned)sn->wsum), o = 0;

	while (x >= sn->weights[o])
		x -= sn->weights[o++];
	if (o == OP_CALLBACK && ring_pop(sn, &c->kid) != 0) {
		/* every campus application is decided: a student submits */
		sn->no_kid++;
		o = OP_SUBMIT;
	}
	if (o == OP_STATUS && c->napps == 0)
		o = OP_SUBMIT;
	c->op = (enum op)o;
	switch (c->op) {
	case OP_SUBMIT:
		send_create(c);
		break;
	case OP_CALLBACK:
		send_callback(c);
		break;
	case OP_CLAIM:
		send_claim(c);
		break;
	case OP_ALERTS:
		send_alerts(c);
		break;
	default:
		send_status(c);
	}
}

static void prefill_done(struct season *sn);

static void
conn_next(struct conn *c)
{
	struct season *sn = c->sn;

	c->b.send_next = 0;
	if (sn->run.stopping || !c->b.tcp_open || !c->b.connected)
		return;
	if (sn->prefilling) {
		if (c->step == ST_SUBMIT) {
			send_submit(c);
		} else if (c->prefill_left > 0) {
			send_create(c);
		} else if (!c->idle) {
			c->idle = 1;
			if (++sn->prefilled == sn->run.nconns)
				prefill_done(sn);
		}
		return;
	}
	switch (c->step) {
	case ST_SUBMIT:
		send_submit(c);
		break;
	case ST_DECIDE:
		send_decide(c);
		break;
	default:
		start_op(c);
	}
}

/* The string value of the first "key":"..." in body, into out. */
static int
find_str(const char *body, size_t n, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *p, *q;
	size_t pl;

	pl = (size_t)snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = memmem(body, n, pat, pl);
	if (p == NULL)
		return -1;
	p += pl;
	q = memchr(p, '"', n - (size_t)(p - body));
	if (q == NULL || (size_t)(q - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 0;
}

/* Keeps the application (for status reads) and queues its campus
 * applications for their institutions. */
static int
keep_submitted(struct conn *c, const char *body, size_t n)
{
	struct season *sn = c->sn;
	json_t *o = json_loadb(body, n, 0, NULL), *kids, *k;
	size_t i;

	kids = json_object_get(o, "children");
	if (!json_is_array(kids)) {
		json_decref(o);
		return -1;
	}
	json_array_foreach(kids, i, k)
	{
		const char *id = json_string_value(json_object_get(k, "id"));
		struct kid kd = {.stage = 0};

		if (id == NULL || strlen(id) != ID_LEN)
			continue;
		memcpy(kd.id, id, ID_LEN + 1);
		if (ring_push(sn, &kd) != 0) {
			json_decref(o);
			return -1;
		}
	}
	json_decref(o);
	if (c->napps == c->appcap) {
		int cap = c->appcap ? 2 * c->appcap : 16;
		char(*p)[ID_LEN + 1] =
		        realloc(c->apps, (size_t)cap * sizeof(*p));

		if (p == NULL)
			return -1;
		c->apps = p;
		c->appcap = cap;
	}
	memcpy(c->apps[c->napps++], c->app_id, ID_LEN + 1);
	return 0;
}

/* An operation ended at now: count it, or its failure. */
static void
op_end(struct conn *c, uint64_t now, int ok, const char *what, int status)
{
	struct season *sn = c->sn;

	c->step = ST_CREATE;
	if (sn->prefilling)
		return;
	if (!bl_counting(&sn->run, c->op_start_ns)) {
		if (ok)
			sn->warm_ops++;
		return;
	}
	if (!ok) {
		sn->failed++;
		snprintf(sn->run.last_error, sizeof(sn->run.last_error),
		         "%s: status %d", what, status);
		return;
	}
	sn->ops++;
	sn->n_op[c->op]++;
	hist_record(&sn->hist, (now - c->op_start_ns + 500) / 1000);
	hist_record(&sn->hist_op[c->op], (now - c->op_start_ns + 500) / 1000);
}

static void
response_done(struct bl_conn *b, uint64_t now, const char *body, size_t blen)
{
	struct conn *c = (struct conn *)b;
	struct season *sn = c->sn;
	int status = c->b.status;

	switch (c->step) {
	case ST_CREATE:
		if (status == 201 &&
		    find_str(body, blen, "id", c->app_id, sizeof(c->app_id)) ==
		            0 &&
		    strlen(c->app_id) == ID_LEN)
			c->step = ST_SUBMIT;
		else
			op_end(c, now, 0, "create", status);
		break;
	case ST_SUBMIT:
		if (status == 200 && keep_submitted(c, body, blen) != 0) {
			bl_fatal(&sn->run, "a submit's reply had no children");
			return;
		}
		if (sn->prefilling && status == 200)
			c->prefill_left--;
		op_end(c, now, status == 200, "submit", status);
		break;
	case ST_CALLBACK:
		if (status == 200 && c->kid.stage == 0) {
			c->kid.stage = 1;
			if (ring_push(sn, &c->kid) != 0) {
				bl_fatal(&sn->run, "out of memory");
				return;
			}
		}
		op_end(c, now, status == 200, "callback", status);
		break;
	case ST_CLAIM:
		if (status == 200) {
			json_t *o = json_loadb(body, blen, 0, NULL);
			const char *id = json_string_value(json_object_get(
			        json_object_get(o, "lease"), "case_id"));

			if (id != NULL && strlen(id) == ID_LEN) {
				memcpy(c->app_id, id, ID_LEN + 1);
				c->step = ST_DECIDE;
			} else {
				op_end(c, now, 0, "claim (no case_id)", status);
			}
			json_decref(o);
		} else if (status == 204) {
			if (bl_counting(&sn->run, c->op_start_ns))
				sn->claims_empty++;
			c->step = ST_CREATE;
		} else {
			op_end(c, now, 0, "claim", status);
		}
		break;
	case ST_DECIDE:
		op_end(c, now, status == 200, "review_isir", status);
		break;
	case ST_ALERTS:
		op_end(c, now, status == 200, "alerts", status);
		break;
	case ST_STATUS:
		op_end(c, now, status == 200, "status", status);
		break;
	}
}

/* A request lost with its connection: the operation is abandoned. */
static void
script_abort(struct bl_conn *b)
{
	struct conn *c = (struct conn *)b;

	if (c->step == ST_CALLBACK)
		ring_push(c->sn, &c->kid); /* the event id differs next time */
	c->step = ST_CREATE;
}

/* --- run control ----------------------------------------------------------- */

static void
season_next(struct bl_conn *b)
{
	struct conn *c = (struct conn *)b;

	if (!c->idle)
		conn_next(c);
}

static void
season_stop(struct bl_run *r)
{
	struct season *sn = (struct season *)r;

	uv_close((uv_handle_t *)&sn->prefill_timer, NULL);
}

static const struct bl_ops season_ops = {
        .next = season_next,
        .done = response_done,
        .lost = script_abort,
        .stop = season_stop,
        .keep_body = 1,
};

static void
on_prefill_timeout(uv_timer_t *t)
{
	struct season *sn = t->data;

	bl_fatal(&sn->run,
	         "the set-up did not finish in %d s (%d of %d connections "
	         "done)",
	         PREFILL_MAX_S, sn->prefilled, sn->run.nconns);
}

static void
prefill_done(struct season *sn)
{
	uv_timer_stop(&sn->prefill_timer);
	sn->prefilling = 0;
	bl_start(&sn->run, sn->warm, sn->dur);
	for (int i = 0; i < sn->run.nconns; i++) {
		struct conn *c = &sn->conns[i];

		c->idle = 0;
		c->step = ST_CREATE;
		if (c->b.tcp_open && c->b.connected && !c->b.write_pending &&
		    c->b.sent_ns == 0)
			conn_next(c);
	}
}

/* --- set-up over blocking sockets ------------------------------------------ */

static int
make_token(const struct season *sn, const char *admin, const char *role,
           const char *scope, char out[TOKEN_MAX + 1])
{
	char body[256], *reply;
	int st;

	snprintf(
	        body, sizeof(body),
	        "{\"role\":\"%s\",\"scope\":\"%s\",\"label\":\"bench/season\"}",
	        role, scope);
	st = bl_http(&sn->run.target, "POST", "/v1/tokens", admin, body, 10000,
	             &reply);
	if (st != 201 ||
	    find_str(reply, strlen(reply), "token", out, TOKEN_MAX + 1) != 0) {
		fprintf(stderr,
		        "season: creating a %s token failed (status %d): "
		        "%.300s\n",
		        role, st, reply == NULL ? "no reply" : reply);
		free(reply);
		return -1;
	}
	free(reply);
	return 0;
}

/* Counselor k's caseload: every NCOUNSELORS-th student from k. */
static int
put_caseload(const struct season *sn, const char *admin, int k, int nconns)
{
	size_t cap = 64 + (size_t)nconns * 48, off;
	char *body = malloc(cap), path[96], *reply = NULL;
	int st;

	if (body == NULL)
		return -1;
	off = (size_t)snprintf(body, cap, "{\"students\":[");
	for (int i = k, first = 1; i < nconns; i += NCOUNSELORS, first = 0)
		off += (size_t)snprintf(body + off, cap - off, "%s\"%s\"",
		                        first ? "" : ",", sn->conns[i].subject);
	snprintf(body + off, cap - off, "]}");
	snprintf(path, sizeof(path),
	         "/v1/counselors/season-counselor-%d/students", k);
	st = bl_http(&sn->run.target, "PUT", path, admin, body, 10000, &reply);
	free(body);
	if (st != 200 && st != 204) {
		fprintf(stderr, "season: PUT %s: status %d: %.300s\n", path, st,
		        reply ? reply : "no reply");
		free(reply);
		return -1;
	}
	free(reply);
	return 0;
}

/* --- command line ------------------------------------------------------- */

static void
usage(void)
{
	fprintf(stderr,
	        "usage: season -c CONNS -d SECONDS [-w WARMUP_SECONDS] "
	        "[-n APPS_PER_CONN] [-x SUBMIT,CALLBACK,CLAIM,ALERTS,STATUS] "
	        "[-O OFFICE] [-A ADAPTER] [-S SECRET_ENV] [-s SEED] "
	        "-T ADMIN_TOKEN_FILE http://127.0.0.1:PORT\n");
	exit(2);
}

static int
parse_mix(const char *s, int w[OP_N])
{
	char *end;

	for (int i = 0; i < OP_N; i++) {
		long v = strtol(s, &end, 10);

		if (end == s || v < 0 || v > 1000)
			return -1;
		w[i] = (int)v;
		s = end;
		if (i < OP_N - 1) {
			if (*s != ',')
				return -1;
			s++;
		}
	}
	return *s == '\0' ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const char *admin_file = NULL, *path, *office = "season";
	const char *secret_env = "CAIRN_UC_CAMPUS_CALLBACK_SECRET";
	char admin[TOKEN_MAX + 1], scope[64];
	int conns = 0, per_conn = 4, opt, rc;
	unsigned seed = 1;
	double dur = -1, warm = 0, secs;
	struct season *sn;
	uv_loop_t loop;

	sn = calloc(1, sizeof(*sn));
	if (sn == NULL)
		return 1;
	sn->adapter = "uc_campus";
	parse_mix("10,25,10,15,40", sn->weights);
	while ((opt = getopt(argc, argv, "c:d:w:n:x:O:A:S:s:T:h")) != -1) {
		switch (opt) {
		case 'n':
			per_conn = atoi(optarg);
			if (per_conn < 1 || per_conn > 10000)
				usage();
			break;
		case 'x':
			if (parse_mix(optarg, sn->weights) != 0)
				usage();
			break;
		case 'O':
			office = optarg;
			break;
		case 'A':
			sn->adapter = optarg;
			break;
		case 'S':
			secret_env = optarg;
			break;
		case 's':
			seed = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'T':
			admin_file = optarg;
			break;
		default:
			if (!bl_load_opt("season", opt, optarg, MAX_CONNS,
			                 &conns, &dur, &warm))
				usage();
		}
	}
	for (int i = 0; i < OP_N; i++)
		sn->wsum += sn->weights[i];
	if (optind != argc - 1 || conns == 0 || !(dur > 0) ||
	    admin_file == NULL || sn->wsum == 0 || strlen(office) > 40 ||
	    strlen(sn->adapter) > 64)
		usage();
	sn->secret = getenv(secret_env);
	if (sn->secret == NULL || sn->secret[0] == '\0') {
		fprintf(stderr,
		        "season: %s is not set: the callbacks are signed with "
		        "the adapter's callback secret\n",
		        secret_env);
		return 2;
	}
	sn->warm = warm;
	sn->dur = dur;
	if (bl_parse_url("season", argv[optind], &sn->run.target, &path) != 0 ||
	    (path[0] && path[1])) {
		fprintf(stderr,
		        "season: bad URL %s (want http://127.0.0.1:PORT)\n",
		        argv[optind]);
		return 2;
	}
	if (bl_read_token_file("season", admin_file, admin, sizeof(admin)) != 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);

	sn->conns = calloc((size_t)conns, sizeof(*sn->conns));
	if (sn->conns == NULL)
		return 1;
	for (int i = 0; i < conns; i++) {
		struct conn *c = &sn->conns[i];

		snprintf(c->subject, sizeof(c->subject), "season-%ld-%d",
		         (long)getpid(), i);
		if (make_token(sn, admin, "student", c->subject, c->student) !=
		            0 ||
		    make_token(sn, admin, "aid_officer", office, c->officer) !=
		            0)
			return 1;
		c->sn = sn;
		c->idx = i;
		c->rng = seed * 7919u + (unsigned)i * 104729u;
		c->prefill_left = per_conn;
	}
	for (int k = 0; k < NCOUNSELORS; k++) {
		snprintf(scope, sizeof(scope), "season-counselor-%d", k);
		if (make_token(sn, admin, "counselor", scope,
		               sn->counselor[k]) != 0 ||
		    put_caseload(sn, admin, k, conns) != 0)
			return 1;
	}

	if (uv_loop_init(&loop) < 0)
		return 1;
	bl_init(&sn->run, "season", &season_ops, &loop, sn->conns,
	        sizeof(*sn->conns), conns);
	uv_timer_init(&loop, &sn->prefill_timer);
	sn->prefill_timer.data = sn;
	sn->prefilling = 1;
	uv_timer_start(&sn->prefill_timer, on_prefill_timeout,
	               PREFILL_MAX_S * 1000, 0);
	bl_connect_all(&sn->run);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&loop);
	if (rc != 0)
		fprintf(stderr, "season: uv_loop_close: %s\n", uv_strerror(rc));

	secs = bl_seconds(&sn->run);
	printf("mode=season ops=%llu ops_per_s=%.1f ",
	       (unsigned long long)sn->ops,
	       secs > 0 ? (double)sn->ops / secs : 0.0);
	hist_print(&sn->hist);
	for (int i = 0; i < OP_N; i++)
		printf(" %s_ops=%llu %s_per_s=%.1f %s_p50_us=%llu "
		       "%s_p99_us=%llu %s_max_us=%llu",
		       op_names[i], (unsigned long long)sn->n_op[i],
		       op_names[i], secs > 0 ? (double)sn->n_op[i] / secs : 0.0,
		       op_names[i],
		       (unsigned long long)hist_percentile(&sn->hist_op[i], 50),
		       op_names[i],
		       (unsigned long long)hist_percentile(&sn->hist_op[i], 99),
		       op_names[i], (unsigned long long)sn->hist_op[i].max);
	printf(" mix=%d/%d/%d/%d/%d failed=%llu claims_empty=%llu "
	       "callbacks_waiting=%zu no_callback_work=%llu errors=%llu "
	       "requests=%llu non2xx=%llu req_p50_us=%llu req_p99_us=%llu "
	       "conns=%d duration_s=%.3f warmup_ops=%llu warmup_errors=%llu "
	       "reconnects=%llu maxrss_kb=%ld\n",
	       sn->weights[0], sn->weights[1], sn->weights[2], sn->weights[3],
	       sn->weights[4], (unsigned long long)sn->failed,
	       (unsigned long long)sn->claims_empty, sn->rlen,
	       (unsigned long long)sn->no_kid,
	       (unsigned long long)sn->run.errors,
	       (unsigned long long)sn->run.requests,
	       (unsigned long long)sn->run.non2xx,
	       (unsigned long long)hist_percentile(&sn->run.hist, 50),
	       (unsigned long long)hist_percentile(&sn->run.hist, 99), conns,
	       secs, (unsigned long long)sn->warm_ops,
	       (unsigned long long)sn->run.warm_errors,
	       (unsigned long long)sn->run.reconnects, bl_maxrss_kb());
	fflush(stdout);
	if ((sn->run.errors + sn->run.warm_errors + sn->failed) > 0 &&
	    sn->run.last_error[0])
		fprintf(stderr, "season: last error: %s\n", sn->run.last_error);
	rc = sn->run.fatal ? 1 : sn->ops == 0 ? 1 : 0;
	if (sn->ops == 0 && !sn->run.fatal)
		fprintf(stderr, "season: nothing completed\n");
	for (int i = 0; i < conns; i++)
		free(sn->conns[i].apps);
	free(sn->conns);
	free(sn->ring);
	free(sn);
	return rc;
}
