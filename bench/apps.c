/*
 * apps.c: scripted, closed-loop HTTP/1.1 load on Cairn's case API, on
 * libuv, with loadgen.c's machinery from benchlib.h (keep-alive, one
 * request in flight per connection, a log-linear latency histogram, a
 * warm-up that is not counted, a run that ends by itself).
 *
 *   apps -m apps|events -c CONNS -d SECONDS [-w WARMUP_SECONDS]
 *        [-n APPS_PER_CONN] [-k CAMPUSES] -T ADMIN_TOKEN_FILE
 *        http://127.0.0.1:PORT
 *
 * Set-up (not measured): with the admin token it creates one student token
 * per connection (scope "bench-<pid>-<i>") and one admissions token per UC
 * campus (scope the campus id), over plain blocking sockets.
 *
 * -m apps: each connection submits student applications, one after the
 * other. An application is two requests with the connection's student
 * token:
 *
 *     POST /v1/cases  {"workflow":"student_application","subject":S,
 *                      "data":{"campuses":[K campus ids]}}        -> 201
 *     POST /v1/cases/{id}/events  {"type":"submit"}                -> 200
 *
 * and the submit spawns K campus_application children in the same
 * transaction, so each application is 1 + K cases. The K campuses rotate
 * through the nine UC campuses. The latency of an application runs from
 * the write of its POST /v1/cases to the last byte of the submit's reply.
 *
 * -m events: first (not measured) each connection submits APPS_PER_CONN
 * applications as above and keeps the ids of their children. When every
 * connection has its children, the warm-up starts and each connection
 * sends one event at a time to its children in turn, each event the next
 * one of the campus_application lifecycle that loops:
 *
 *     received  --complete (admissions)--------->  under_review
 *     under_review --request_documents (admissions)--> incomplete
 *     incomplete --submit_documents (the student)--> documents_received
 *     documents_received --accept_documents (admissions)--> under_review
 *
 * (admissions with the token scoped to the child's campus), so a run never
 * runs out of work and every event is a real transition that also reaches
 * the parent as child.<status>. A reply other than 200, or a connection
 * lost with the event in flight, makes the connection read that child
 * (GET /v1/cases/{id}) before its next event to it; those reads are not
 * events.
 *
 * It prints one line of key=value pairs: ops is applications or events;
 * p50_us..max_us are per application or per event; req_* per request.
 * Exit status 0, 1 when nothing completed or the set-up failed, 2 for bad
 * usage. Only IPv4 loopback targets are accepted.
 */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "benchlib.h"

#define MAX_CONNS     4096
#define PREFILL_MAX_S 120 /* the set-up of -m events gives up after this */
#define ID_LEN        36
#define TOKEN_MAX     80
#define NCAMPUS       9

static const char *const campuses[NCAMPUS] = {
        "uc-berkeley",    "uc-davis",         "uc-irvine",
        "uc-los-angeles", "uc-merced",        "uc-riverside",
        "uc-san-diego",   "uc-santa-barbara", "uc-santa-cruz"};

/* --- the script ------------------------------------------------------------ */

enum mode { M_APPS, M_EVENTS };
enum phase { PH_PREFILL, PH_RUN };
enum step { ST_CREATE, ST_SUBMIT, ST_EVENT, ST_READ };

/* where a campus_application child stands in the loop */
enum kstate {
	K_RECEIVED,
	K_UNDER_REVIEW,
	K_INCOMPLETE,
	K_DOCS_RECEIVED,
	K_UNKNOWN,  /* read it before sending it anything */
	K_ELSEWHERE /* in a status the loop does not visit: skipped */
};

struct child {
	char id[ID_LEN + 1];
	int campus; /* index into campuses[] */
	enum kstate st;
};

struct loadgen;

struct conn {
	struct bl_conn b; /* first: the run's connections are these */
	struct loadgen *lg;
	int idx;
	int idle;
	enum step step;
	uint64_t op_start_ns; /* write of an application's first request */
	char app_id[ID_LEN + 1];
	unsigned app_seq; /* picks the campuses of the next application */
	int prefill_left; /* applications still to submit (-m events) */
	struct child *kids;
	int nkids, kidcap, next_kid;
	char token[TOKEN_MAX + 1], subject[48];
};

struct loadgen {
	struct bl_run run; /* first: the ops' stop() gets this */
	enum mode mode;
	enum phase phase;
	int ncampus;
	char adm_token[NCAMPUS][TOKEN_MAX + 1];
	struct conn *conns;
	int prefilled;
	double warm, dur;
	uv_timer_t prefill_timer;
	uint64_t prefill_start_ns, prefill_ns;
	/* counted after the warm-up; requests and errors are the run's */
	uint64_t ops, failed, reads, warm_ops, prefill_apps;
	uint64_t ev_count[4];
	struct hist hist_op; /* per application or event */
};

static void conn_next(struct conn *c);

/* What a lost request means for the script. */
static void
script_abort(struct bl_conn *b)
{
	struct conn *c = (struct conn *)b;

	if (c->step == ST_SUBMIT)
		c->step = ST_CREATE; /* that draft is left behind */
	else if (c->step == ST_EVENT && c->nkids > 0)
		c->kids[c->next_kid].st = K_UNKNOWN;
}

static void
send_create(struct conn *c)
{
	struct loadgen *lg = c->lg;
	char body[512];
	size_t off;
	unsigned s = c->app_seq++;

	off = (size_t)snprintf(body, sizeof(body),
	                       "{\"workflow\":\"student_application\","
	                       "\"subject\":\"%s\",\"data\":{\"campuses\":[",
	                       c->subject);
	for (int k = 0; k < lg->ncampus; k++)
		off += (size_t)snprintf(
		        body + off, sizeof(body) - off, "%s\"%s\"",
		        k ? "," : "",
		        campuses[(s + (unsigned)c->idx + (unsigned)k) %
		                 NCAMPUS]);
	snprintf(body + off, sizeof(body) - off, "]}}");
	c->step = ST_CREATE;
	bl_request(&c->b, "POST", "/v1/cases", c->token, body);
	c->op_start_ns = c->b.sent_ns;
}

static void
send_submit(struct conn *c)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s/events", c->app_id);
	c->step = ST_SUBMIT;
	bl_request(&c->b, "POST", path, c->token, "{\"type\":\"submit\"}");
}

/* The next event for child k, or a read of it when its status is unknown. */
static void
send_child(struct conn *c, struct child *k)
{
	struct loadgen *lg = c->lg;
	char path[128];
	const char *tok = lg->adm_token[k->campus], *body;

	if (k->st == K_UNKNOWN) {
		snprintf(path, sizeof(path), "/v1/cases/%s", k->id);
		c->step = ST_READ;
		bl_request(&c->b, "GET", path, c->token, NULL);
		return;
	}
	switch (k->st) {
	case K_RECEIVED:
		body = "{\"type\":\"complete\"}";
		break;
	case K_UNDER_REVIEW:
		body = "{\"type\":\"request_documents\",\"data\":"
		       "{\"documents\":[\"transcript\"]}}";
		break;
	case K_INCOMPLETE:
		body = "{\"type\":\"submit_documents\"}";
		tok = c->token;
		break;
	default:
		body = "{\"type\":\"accept_documents\"}";
		break;
	}
	snprintf(path, sizeof(path), "/v1/cases/%s/events", k->id);
	c->step = ST_EVENT;
	bl_request(&c->b, "POST", path, tok, body);
	c->op_start_ns = c->b.sent_ns;
}

static void prefill_done(struct loadgen *lg);

/* Sends what the script asks next; may leave the connection idle. */
static void
conn_next(struct conn *c)
{
	struct loadgen *lg = c->lg;

	c->b.send_next = 0;
	if (lg->run.stopping || !c->b.tcp_open || !c->b.connected)
		return;
	if (lg->mode == M_APPS || lg->phase == PH_PREFILL) {
		if (lg->mode == M_EVENTS && c->prefill_left <= 0 &&
		    c->step == ST_CREATE) {
			if (!c->idle) {
				c->idle = 1;
				if (++lg->prefilled == lg->run.nconns)
					prefill_done(lg);
			}
			return;
		}
		if (c->step == ST_SUBMIT)
			send_submit(c);
		else
			send_create(c);
		return;
	}
	/* events */
	for (int tries = 0; tries < c->nkids; tries++) {
		struct child *k = &c->kids[c->next_kid];

		if (k->st != K_ELSEWHERE) {
			send_child(c, k);
			return;
		}
		c->next_kid = (c->next_kid + 1) % c->nkids;
	}
	c->idle = 1; /* nothing left to move */
}

static enum kstate
kstate_of(const char *status)
{
	if (status == NULL)
		return K_UNKNOWN;
	if (!strcmp(status, "received"))
		return K_RECEIVED;
	if (!strcmp(status, "under_review"))
		return K_UNDER_REVIEW;
	if (!strcmp(status, "incomplete"))
		return K_INCOMPLETE;
	if (!strcmp(status, "documents_received"))
		return K_DOCS_RECEIVED;
	return K_ELSEWHERE;
}

static int
campus_index(const char *id)
{
	for (int i = 0; id && i < NCAMPUS; i++)
		if (!strcmp(campuses[i], id))
			return i;
	return -1;
}

/* Keeps the children a submit's reply lists (-m events' set-up). */
static int
keep_children(struct conn *c, const char *body, size_t n)
{
	json_error_t e;
	json_t *o = json_loadb(body, n, 0, &e), *kids, *k;
	size_t i;

	kids = json_object_get(o, "children");
	if (!json_is_array(kids)) {
		json_decref(o);
		return -1;
	}
	json_array_foreach(kids, i, k)
	{
		const char *id = json_string_value(json_object_get(k, "id"));
		const char *key =
		        json_string_value(json_object_get(k, "spawn_key"));
		const char *colon = key ? strchr(key, ':') : NULL;
		int campus = campus_index(colon ? colon + 1 : NULL);
		struct child *ch;

		if (id == NULL || strlen(id) != ID_LEN || campus < 0)
			continue;
		if (c->nkids == c->kidcap) {
			int cap = c->kidcap ? 2 * c->kidcap : 16;
			struct child *p =
			        realloc(c->kids, (size_t)cap * sizeof(*p));

			if (p == NULL) {
				json_decref(o);
				return -1;
			}
			c->kids = p;
			c->kidcap = cap;
		}
		ch = &c->kids[c->nkids++];
		memcpy(ch->id, id, ID_LEN + 1);
		ch->campus = campus;
		ch->st = kstate_of(
		        json_string_value(json_object_get(k, "status")));
	}
	json_decref(o);
	return 0;
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

/* A complete response (counted as a request): move the script on. */
static void
response_done(struct bl_conn *b, uint64_t now, const char *body, size_t blen)
{
	struct conn *c = (struct conn *)b;
	struct loadgen *lg = c->lg;
	int status = c->b.status;
	char st[64];

	switch (c->step) {
	case ST_CREATE:
		if (status == 201 &&
		    find_str(body, blen, "id", c->app_id, sizeof(c->app_id)) ==
		            0 &&
		    strlen(c->app_id) == ID_LEN) {
			c->step = ST_SUBMIT;
		} else if (bl_counting(&lg->run, c->op_start_ns)) {
			lg->failed++;
			snprintf(lg->run.last_error, sizeof(lg->run.last_error),
			         "create: status %d", status);
		}
		break;
	case ST_SUBMIT:
		c->step = ST_CREATE;
		if (status != 200) {
			if (bl_counting(&lg->run, c->op_start_ns))
				lg->failed++;
			snprintf(lg->run.last_error, sizeof(lg->run.last_error),
			         "submit: status %d", status);
			break;
		}
		if (lg->phase == PH_PREFILL) {
			lg->prefill_apps++;
			c->prefill_left--;
			if (keep_children(c, body, blen) != 0)
				bl_fatal(&lg->run,
				         "a submit's reply had no children");
		} else if (bl_counting(&lg->run, c->op_start_ns)) {
			lg->ops++;
			hist_record(&lg->hist_op,
			            (now - c->op_start_ns + 500) / 1000);
		} else {
			lg->warm_ops++;
		}
		break;
	case ST_EVENT: {
		struct child *k = &c->kids[c->next_kid];

		if (status == 200) {
			if (bl_counting(&lg->run, c->op_start_ns)) {
				lg->ops++;
				lg->ev_count[k->st]++;
				hist_record(&lg->hist_op,
				            (now - c->op_start_ns + 500) /
				                    1000);
			} else {
				lg->warm_ops++;
			}
			k->st = k->st == K_DOCS_RECEIVED ? K_UNDER_REVIEW
			                                 : k->st + 1;
			c->next_kid = (c->next_kid + 1) % c->nkids;
		} else {
			if (bl_counting(&lg->run, c->op_start_ns))
				lg->failed++;
			snprintf(lg->run.last_error, sizeof(lg->run.last_error),
			         "event: status %d", status);
			k->st = K_UNKNOWN;
		}
		break;
	}
	case ST_READ: {
		struct child *k = &c->kids[c->next_kid];

		if (bl_counting(&lg->run, c->b.sent_ns))
			lg->reads++;
		k->st = status == 200 && find_str(body, blen, "status", st,
		                                  sizeof(st)) == 0
		                ? kstate_of(st)
		                : K_ELSEWHERE;
		if (k->st == K_UNKNOWN)
			k->st = K_ELSEWHERE;
		break;
	}
	}
}

/* --- run control ----------------------------------------------------------- */

/* The run's next(): a connection left idle waits for prefill_done. */
static void
apps_next(struct bl_conn *b)
{
	struct conn *c = (struct conn *)b;

	if (!c->idle)
		conn_next(c);
}

static void
apps_stop(struct bl_run *r)
{
	struct loadgen *lg = (struct loadgen *)r;

	uv_close((uv_handle_t *)&lg->prefill_timer, NULL);
}

static const struct bl_ops apps_ops = {
        .next = apps_next,
        .done = response_done,
        .lost = script_abort,
        .stop = apps_stop,
        .keep_body = 1,
};

static void
on_prefill_timeout(uv_timer_t *t)
{
	struct loadgen *lg = t->data;

	bl_fatal(&lg->run,
	         "the set-up did not finish in %d s (%d of %d connections "
	         "done)",
	         PREFILL_MAX_S, lg->prefilled, lg->run.nconns);
}

/* Starts the measured part: warm-up, then the run. */
static void
run_start(struct loadgen *lg)
{
	lg->phase = PH_RUN;
	bl_start(&lg->run, lg->warm, lg->dur);
}

static void
prefill_done(struct loadgen *lg)
{
	uv_timer_stop(&lg->prefill_timer);
	lg->prefill_ns = uv_hrtime() - lg->prefill_start_ns;
	run_start(lg);
	for (int i = 0; i < lg->run.nconns; i++) {
		struct conn *c = &lg->conns[i];

		c->idle = 0;
		c->next_kid = 0;
		if (c->nkids == 0) {
			bl_fatal(&lg->run,
			         "connection %d has no children to move", i);
			return;
		}
		if (c->b.tcp_open && c->b.connected && !c->b.write_pending &&
		    c->b.sent_ns == 0)
			conn_next(c);
	}
}

/* --- set-up: tokens over blocking sockets ------------------------------- */

static int
make_token(const struct loadgen *lg, const char *admin, const char *role,
           const char *scope, char out[TOKEN_MAX + 1])
{
	char body[256], *reply;
	int st;

	snprintf(body, sizeof(body),
	         "{\"role\":\"%s\",\"scope\":\"%s\",\"label\":\"bench/apps\"}",
	         role, scope);
	st = bl_http(&lg->run.target, "POST", "/v1/tokens", admin, body, 10000,
	             &reply);
	if (st != 201 ||
	    find_str(reply, strlen(reply), "token", out, TOKEN_MAX + 1) != 0) {
		fprintf(stderr,
		        "apps: creating a %s token failed (status %d): "
		        "%.300s\n",
		        role, st, reply == NULL ? "no reply" : reply);
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
	fprintf(stderr, "usage: apps -m apps|events -c CONNS -d SECONDS "
	                "[-w WARMUP_SECONDS] [-n APPS_PER_CONN] [-k CAMPUSES] "
	                "-T ADMIN_TOKEN_FILE http://127.0.0.1:PORT\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *mode = NULL, *admin_file = NULL, *path;
	char admin[TOKEN_MAX + 1];
	int conns = 0, per_conn = 4, ncampus = 4, opt, rc;
	double dur = -1, warm = 0, secs;
	struct loadgen *lg;
	uv_loop_t loop;

	while ((opt = getopt(argc, argv, "m:c:d:w:n:k:T:h")) != -1) {
		switch (opt) {
		case 'm':
			mode = optarg;
			break;
		case 'n':
			per_conn = atoi(optarg);
			if (per_conn < 1 || per_conn > 10000)
				usage();
			break;
		case 'k':
			ncampus = atoi(optarg);
			if (ncampus < 1 || ncampus > NCAMPUS)
				usage();
			break;
		case 'T':
			admin_file = optarg;
			break;
		default:
			if (!bl_load_opt("apps", opt, optarg, MAX_CONNS, &conns,
			                 &dur, &warm))
				usage();
		}
	}
	if (optind != argc - 1 || conns == 0 || !(dur > 0) || mode == NULL ||
	    admin_file == NULL ||
	    (strcmp(mode, "apps") != 0 && strcmp(mode, "events") != 0))
		usage();
	lg = calloc(1, sizeof(*lg));
	if (lg == NULL)
		return 1;
	lg->mode = strcmp(mode, "apps") == 0 ? M_APPS : M_EVENTS;
	lg->ncampus = ncampus;
	lg->warm = warm;
	lg->dur = dur;
	if (bl_parse_url("apps", argv[optind], &lg->run.target, &path) != 0 ||
	    (path[0] && path[1])) {
		fprintf(stderr,
		        "apps: bad URL %s (want http://127.0.0.1:PORT)\n",
		        argv[optind]);
		return 2;
	}
	if (bl_read_token_file("apps", admin_file, admin, sizeof(admin)) != 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);

	lg->conns = calloc((size_t)conns, sizeof(*lg->conns));
	if (lg->conns == NULL)
		return 1;
	for (int i = 0; i < conns; i++) {
		struct conn *c = &lg->conns[i];

		snprintf(c->subject, sizeof(c->subject), "bench-%ld-%d",
		         (long)getpid(), i);
		if (make_token(lg, admin, "student", c->subject, c->token) != 0)
			return 1;
		c->lg = lg;
		c->idx = i;
		c->prefill_left = per_conn;
	}
	if (lg->mode == M_EVENTS)
		for (int i = 0; i < NCAMPUS; i++)
			if (make_token(lg, admin, "admissions", campuses[i],
			               lg->adm_token[i]) != 0)
				return 1;

	if (uv_loop_init(&loop) < 0)
		return 1;
	bl_init(&lg->run, "apps", &apps_ops, &loop, lg->conns,
	        sizeof(*lg->conns), conns);
	uv_timer_init(&loop, &lg->prefill_timer);
	lg->prefill_timer.data = lg;
	lg->prefill_start_ns = uv_hrtime();
	if (lg->mode == M_APPS)
		run_start(lg);
	else
		uv_timer_start(&lg->prefill_timer, on_prefill_timeout,
		               PREFILL_MAX_S * 1000, 0);
	bl_connect_all(&lg->run);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&loop);
	if (rc != 0)
		fprintf(stderr, "apps: uv_loop_close: %s\n", uv_strerror(rc));

	secs = bl_seconds(&lg->run);
	{
		double rate = secs > 0 ? (double)lg->ops / secs : 0.0;

		printf("mode=%s ops=%llu ops_per_s=%.1f", mode,
		       (unsigned long long)lg->ops, rate);
		if (lg->mode == M_APPS)
			printf(" cases_per_s=%.1f campuses=%d",
			       rate * (1 + ncampus), ncampus);
		else
			printf(" complete=%llu request_documents=%llu "
			       "submit_documents=%llu accept_documents=%llu "
			       "reads=%llu prefill_apps=%llu prefill_s=%.2f",
			       (unsigned long long)lg->ev_count[K_RECEIVED],
			       (unsigned long long)lg->ev_count[K_UNDER_REVIEW],
			       (unsigned long long)lg->ev_count[K_INCOMPLETE],
			       (unsigned long long)
			               lg->ev_count[K_DOCS_RECEIVED],
			       (unsigned long long)lg->reads,
			       (unsigned long long)lg->prefill_apps,
			       (double)lg->prefill_ns / 1e9);
		printf(" failed=%llu errors=%llu requests=%llu non2xx=%llu ",
		       (unsigned long long)lg->failed,
		       (unsigned long long)lg->run.errors,
		       (unsigned long long)lg->run.requests,
		       (unsigned long long)lg->run.non2xx);
		hist_print(&lg->hist_op);
		printf(" req_p50_us=%llu req_p99_us=%llu conns=%d "
		       "duration_s=%.3f warmup_ops=%llu warmup_errors=%llu "
		       "reconnects=%llu maxrss_kb=%ld\n",
		       (unsigned long long)hist_percentile(&lg->run.hist, 50),
		       (unsigned long long)hist_percentile(&lg->run.hist, 99),
		       conns, secs, (unsigned long long)lg->warm_ops,
		       (unsigned long long)lg->run.warm_errors,
		       (unsigned long long)lg->run.reconnects, bl_maxrss_kb());
	}
	fflush(stdout);
	if ((lg->run.errors + lg->run.warm_errors + lg->failed) > 0 &&
	    lg->run.last_error[0])
		fprintf(stderr, "apps: last error: %s\n", lg->run.last_error);
	rc = lg->run.fatal ? 1 : lg->ops == 0 ? 1 : 0;
	if (lg->ops == 0 && !lg->run.fatal)
		fprintf(stderr, "apps: nothing completed\n");
	for (int i = 0; i < conns; i++)
		free(lg->conns[i].kids);
	free(lg->conns);
	free(lg);
	return rc;
}
