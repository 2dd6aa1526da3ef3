/*
 * apps.c: scripted, closed-loop HTTP/1.1 load on Cairn's case API, on
 * libuv, in the manner of loadgen.c (keep-alive, one request in flight per
 * connection, a log-linear latency histogram, a warm-up that is not
 * counted, a run that ends by itself).
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
#include <arpa/inet.h>
#include <ctype.h>
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
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#define MAX_CONNS     4096
#define CONN_BUF      (64 * 1024) /* a whole response must fit */
#define REQ_BUF       2048
#define RETRY_MS      10
#define PREFILL_MAX_S 120 /* the set-up of -m events gives up after this */
#define ID_LEN        36
#define TOKEN_MAX     80
#define NCAMPUS       9

static const char *const campuses[NCAMPUS] = {
        "uc-berkeley",    "uc-davis",         "uc-irvine",
        "uc-los-angeles", "uc-merced",        "uc-riverside",
        "uc-san-diego",   "uc-santa-barbara", "uc-santa-cruz"};

/* --- histogram (as in loadgen.c) ----------------------------------------- */

#define HIST_SUB_BITS 8
#define HIST_MAX_BITS 36
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_HALF     (HIST_SUB / 2)
#define HIST_BUCKETS  (HIST_SUB + (HIST_MAX_BITS - HIST_SUB_BITS) * HIST_HALF)

struct hist {
	uint64_t counts[HIST_BUCKETS];
	uint64_t n, max, sum;
};

static unsigned
hist_index(uint64_t v)
{
	unsigned m, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	if (v >= (UINT64_C(1) << HIST_MAX_BITS))
		v = (UINT64_C(1) << HIST_MAX_BITS) - 1;
	m = 63 - (unsigned)__builtin_clzll(v);
	shift = m - HIST_SUB_BITS + 1;
	return HIST_SUB + (m - HIST_SUB_BITS) * HIST_HALF +
	       (unsigned)((v >> shift) - HIST_HALF);
}

static uint64_t
hist_highest(unsigned i)
{
	unsigned k, shift;
	uint64_t top;

	if (i < HIST_SUB)
		return i;
	k = i - HIST_SUB;
	shift = k / HIST_HALF + 1;
	top = HIST_HALF + k % HIST_HALF;
	return (top << shift) + ((UINT64_C(1) << shift) - 1);
}

static void
hist_record(struct hist *h, uint64_t v)
{
	h->counts[hist_index(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

static uint64_t
hist_percentile(const struct hist *h, double p)
{
	uint64_t want, seen = 0, v;
	unsigned i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)ceil(p / 100.0 * (double)h->n);
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= want)
			break;
	}
	v = hist_highest(i < HIST_BUCKETS ? i : HIST_BUCKETS - 1);
	return v < h->max ? v : h->max;
}

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

enum parse_state { P_HEAD, P_BODY };

struct loadgen;

struct conn {
	struct loadgen *lg;
	int idx;
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t retry;
	int tcp_open, connected, write_pending, send_next, failed, idle;
	/* the response being read */
	enum parse_state state;
	int status, close_after;
	size_t head_len, body_len;
	size_t len;
	/* the request in flight */
	uint64_t sent_ns;
	size_t reqlen;
	/* the script */
	enum step step;
	uint64_t op_start_ns; /* write of an application's first request */
	char app_id[ID_LEN + 1];
	unsigned app_seq; /* picks the campuses of the next application */
	int prefill_left; /* applications still to submit (-m events) */
	struct child *kids;
	int nkids, kidcap, next_kid;
	char token[TOKEN_MAX + 1], subject[48];
	char req[REQ_BUF];
	char buf[CONN_BUF];
};

struct loadgen {
	uv_loop_t *loop;
	enum mode mode;
	enum phase phase;
	struct sockaddr_in addr;
	char authority[64];
	int ncampus;
	char adm_token[NCAMPUS][TOKEN_MAX + 1];
	struct conn *conns;
	int nconns, prefilled;
	double warm, dur;
	uv_timer_t warm_timer, end_timer, prefill_timer;
	int measuring, stopping, fatal;
	uint64_t measure_start_ns, measure_end_ns, prefill_start_ns;
	uint64_t prefill_ns;
	/* counted after the warm-up */
	uint64_t ops, failed, requests, errors, non2xx, reads;
	uint64_t warm_ops, warm_errors, reconnects, prefill_apps;
	uint64_t ev_count[4];
	char last_error[256];
	struct hist hist_op, hist_req;
};

static void conn_connect(struct conn *c);
static void conn_next(struct conn *c);
static void lg_stop(struct loadgen *lg);
static void conn_fail(struct conn *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static int
counting(const struct loadgen *lg, uint64_t since_ns)
{
	return lg->measuring && lg->phase == PH_RUN &&
	       since_ns >= lg->measure_start_ns;
}

static void fatal(struct loadgen *lg, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
fatal(struct loadgen *lg, const char *fmt, ...)
{
	va_list ap;

	if (!lg->fatal) {
		fprintf(stderr, "apps: ");
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	lg->fatal = 1;
	lg_stop(lg);
}

static void
on_retry(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (!c->lg->stopping)
		conn_connect(c);
}

static void
on_tcp_close(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (c->lg->stopping)
		return;
	c->lg->reconnects++;
	if (c->failed)
		uv_timer_start(&c->retry, on_retry, RETRY_MS, 0);
	else
		conn_connect(c);
}

/* What a lost request means for the script. */
static void
script_abort(struct conn *c)
{
	if (c->step == ST_SUBMIT)
		c->step = ST_CREATE; /* that draft is left behind */
	else if (c->step == ST_EVENT && c->nkids > 0)
		c->kids[c->next_kid].st = K_UNKNOWN;
}

static void
conn_drop(struct conn *c, int failed)
{
	if (!c->tcp_open)
		return;
	c->tcp_open = 0;
	c->failed = failed;
	uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
}

static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	struct loadgen *lg = c->lg;
	va_list ap;

	if (counting(lg, lg->measure_start_ns))
		lg->errors++;
	else
		lg->warm_errors++;
	va_start(ap, fmt);
	vsnprintf(lg->last_error, sizeof(lg->last_error), fmt, ap);
	va_end(ap);
	if (c->sent_ns != 0)
		script_abort(c);
	c->sent_ns = 0;
	conn_drop(c, 1);
}

/* --- requests ------------------------------------------------------------ */

static void
on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	c->write_pending = 0;
	if (c->lg->stopping || !c->tcp_open)
		return;
	if (status < 0) {
		conn_fail(c, "write: %s", uv_strerror(status));
		return;
	}
	if (c->send_next)
		conn_next(c);
}

/* Writes method path with token and body (NULL: none). */
static void
conn_request(struct conn *c, const char *method, const char *path,
             const char *token, const char *body)
{
	struct loadgen *lg = c->lg;
	size_t bl = body ? strlen(body) : 0;
	uv_buf_t b;
	int n, rc;

	if (body)
		n = snprintf(c->req, sizeof(c->req),
		             "%s %s HTTP/1.1\r\nHost: %s\r\n"
		             "Authorization: Bearer %s\r\n"
		             "Content-Type: application/json\r\n"
		             "Content-Length: %zu\r\n\r\n%s",
		             method, path, lg->authority, token, bl, body);
	else
		n = snprintf(c->req, sizeof(c->req),
		             "%s %s HTTP/1.1\r\nHost: %s\r\n"
		             "Authorization: Bearer %s\r\n\r\n",
		             method, path, lg->authority, token);
	if (n < 0 || (size_t)n >= sizeof(c->req)) {
		fatal(lg, "request too large");
		return;
	}
	c->reqlen = (size_t)n;
	c->state = P_HEAD;
	c->len = 0;
	c->sent_ns = uv_hrtime();
	b = uv_buf_init(c->req, (unsigned)n);
	rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (rc < 0) {
		conn_fail(c, "write: %s", uv_strerror(rc));
		return;
	}
	c->write_pending = 1;
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
	conn_request(c, "POST", "/v1/cases", c->token, body);
	c->op_start_ns = c->sent_ns;
}

static void
send_submit(struct conn *c)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s/events", c->app_id);
	c->step = ST_SUBMIT;
	conn_request(c, "POST", path, c->token, "{\"type\":\"submit\"}");
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
		conn_request(c, "GET", path, c->token, NULL);
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
	conn_request(c, "POST", path, tok, body);
	c->op_start_ns = c->sent_ns;
}

static void prefill_done(struct loadgen *lg);

/* Sends what the script asks next; may leave the connection idle. */
static void
conn_next(struct conn *c)
{
	struct loadgen *lg = c->lg;

	c->send_next = 0;
	if (lg->stopping || !c->tcp_open || !c->connected)
		return;
	if (lg->mode == M_APPS || lg->phase == PH_PREFILL) {
		if (lg->mode == M_EVENTS && c->prefill_left <= 0 &&
		    c->step == ST_CREATE) {
			if (!c->idle) {
				c->idle = 1;
				if (++lg->prefilled == lg->nconns)
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

/* A complete response is in c->buf: move the script on. */
static void
response_done(struct conn *c)
{
	struct loadgen *lg = c->lg;
	uint64_t now = uv_hrtime();
	const char *body = c->buf + c->head_len;
	size_t blen = c->body_len;
	int ok2xx = c->status >= 200 && c->status <= 299;
	char st[64];

	if (counting(lg, c->sent_ns)) {
		lg->requests++;
		if (!ok2xx)
			lg->non2xx++;
		hist_record(&lg->hist_req, (now - c->sent_ns + 500) / 1000);
	}
	switch (c->step) {
	case ST_CREATE:
		if (c->status == 201 &&
		    find_str(body, blen, "id", c->app_id, sizeof(c->app_id)) ==
		            0 &&
		    strlen(c->app_id) == ID_LEN) {
			c->step = ST_SUBMIT;
		} else if (counting(lg, c->op_start_ns)) {
			lg->failed++;
			snprintf(lg->last_error, sizeof(lg->last_error),
			         "create: status %d", c->status);
		}
		break;
	case ST_SUBMIT:
		c->step = ST_CREATE;
		if (c->status != 200) {
			if (counting(lg, c->op_start_ns))
				lg->failed++;
			snprintf(lg->last_error, sizeof(lg->last_error),
			         "submit: status %d", c->status);
			break;
		}
		if (lg->phase == PH_PREFILL) {
			lg->prefill_apps++;
			c->prefill_left--;
			if (keep_children(c, body, blen) != 0)
				fatal(lg, "a submit's reply had no children");
		} else if (counting(lg, c->op_start_ns)) {
			lg->ops++;
			hist_record(&lg->hist_op,
			            (now - c->op_start_ns + 500) / 1000);
		} else {
			lg->warm_ops++;
		}
		break;
	case ST_EVENT: {
		struct child *k = &c->kids[c->next_kid];

		if (c->status == 200) {
			if (counting(lg, c->op_start_ns)) {
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
			if (counting(lg, c->op_start_ns))
				lg->failed++;
			snprintf(lg->last_error, sizeof(lg->last_error),
			         "event: status %d", c->status);
			k->st = K_UNKNOWN;
		}
		break;
	}
	case ST_READ: {
		struct child *k = &c->kids[c->next_kid];

		if (counting(lg, c->sent_ns))
			lg->reads++;
		k->st = c->status == 200 && find_str(body, blen, "status", st,
		                                     sizeof(st)) == 0
		                ? kstate_of(st)
		                : K_ELSEWHERE;
		if (k->st == K_UNKNOWN)
			k->st = K_ELSEWHERE;
		break;
	}
	}
	c->sent_ns = 0;
	c->state = P_HEAD;
	c->len = 0;
	if (c->close_after) {
		conn_drop(c, 0);
		return;
	}
	if (c->write_pending)
		c->send_next = 1;
	else
		conn_next(c);
}

/* --- responses (the head parsed as loadgen.c does) ----------------------- */

static int
header_has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i;

	for (i = 0; i + tl <= n; i++)
		if (strncasecmp(v + i, tok, tl) == 0)
			return 1;
	return 0;
}

static int
parse_head(struct conn *c, size_t n)
{
	const char *p = c->buf, *end = c->buf + n - 2, *eol, *colon, *v;
	int have_len = 0;
	uint64_t clen = 0;

	if (n < 14 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
	    !isdigit((unsigned char)p[11]))
		return -1;
	c->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	c->close_after = p[7] == '0';
	eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	if (eol == NULL)
		return -1;
	for (p = eol + 2; p < end; p = eol + 2) {
		size_t vl;

		eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		if (eol == NULL)
			return -1;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL || colon == p)
			return -1;
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		vl = (size_t)(eol - v);
		if ((size_t)(colon - p) == 14 &&
		    strncasecmp(p, "content-length", 14) == 0) {
			clen = strtoull(v, NULL, 10);
			have_len = 1;
		} else if ((size_t)(colon - p) == 17 &&
		           strncasecmp(p, "transfer-encoding", 17) == 0) {
			return -2;
		} else if ((size_t)(colon - p) == 10 &&
		           strncasecmp(p, "connection", 10) == 0) {
			if (header_has_token(v, vl, "close"))
				c->close_after = 1;
		}
	}
	if (c->status < 200)
		return -1;
	if (c->status == 204 || c->status == 304)
		clen = 0;
	else if (!have_len)
		return -2; /* every Cairn reply has a Content-Length */
	if (clen > CONN_BUF - n)
		return -3;
	c->head_len = n;
	c->body_len = (size_t)clen;
	c->state = P_BODY;
	return 0;
}

static void
conn_parse(struct conn *c)
{
	char *eoh;
	int rc;

	if (c->state == P_HEAD) {
		eoh = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (eoh == NULL) {
			if (c->len == sizeof(c->buf))
				conn_fail(c, "response head too large");
			return;
		}
		rc = parse_head(c, (size_t)(eoh - c->buf) + 4);
		if (rc == -2) {
			fatal(c->lg, "a response without Content-Length");
			return;
		}
		if (rc < 0) {
			conn_fail(c, rc == -3 ? "response too large"
			                      : "malformed response head");
			return;
		}
	}
	if (c->len < c->head_len + c->body_len)
		return;
	if (c->len > c->head_len + c->body_len) {
		conn_fail(c, "unexpected bytes after the body");
		return;
	}
	if (c->sent_ns == 0) {
		conn_fail(c, "a response to no request");
		return;
	}
	response_done(c);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	buf->base = c->buf + c->len;
	buf->len = sizeof(c->buf) - c->len;
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (nread == 0 || !c->tcp_open)
		return;
	if (nread < 0) {
		if (nread == UV_EOF && c->sent_ns == 0) {
			conn_drop(c, 0); /* an idle keep-alive closed */
			return;
		}
		conn_fail(c, "read: %s", uv_strerror((int)nread));
		return;
	}
	c->len += (size_t)nread;
	conn_parse(c);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	int rc;

	if (c->lg->stopping || !c->tcp_open)
		return;
	if (status < 0) {
		conn_fail(c, "connect: %s", uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	c->connected = 1;
	rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (rc < 0) {
		conn_fail(c, "read_start: %s", uv_strerror(rc));
		return;
	}
	if (!c->idle)
		conn_next(c);
}

static void
conn_connect(struct conn *c)
{
	int rc;

	rc = uv_tcp_init(c->lg->loop, &c->tcp);
	if (rc < 0) {
		fatal(c->lg, "%s", uv_strerror(rc));
		return;
	}
	c->tcp.data = c;
	c->creq.data = c;
	c->wreq.data = c;
	c->tcp_open = 1;
	c->connected = 0;
	c->write_pending = 0;
	c->send_next = 0;
	c->sent_ns = 0;
	c->state = P_HEAD;
	c->len = 0;
	rc = uv_tcp_connect(&c->creq, &c->tcp,
	                    (const struct sockaddr *)&c->lg->addr, on_connect);
	if (rc < 0)
		conn_fail(c, "connect: %s", uv_strerror(rc));
}

/* --- run control ----------------------------------------------------------- */

static void
on_warm(uv_timer_t *t)
{
	struct loadgen *lg = t->data;

	lg->measuring = 1;
	lg->measure_start_ns = uv_hrtime();
}

static void
on_end(uv_timer_t *t)
{
	lg_stop(t->data);
}

static void
on_prefill_timeout(uv_timer_t *t)
{
	struct loadgen *lg = t->data;

	fatal(lg,
	      "the set-up did not finish in %d s (%d of %d connections "
	      "done)",
	      PREFILL_MAX_S, lg->prefilled, lg->nconns);
}

/* Starts the measured part: warm-up, then the run. */
static void
run_start(struct loadgen *lg)
{
	lg->phase = PH_RUN;
	if (lg->warm > 0) {
		uv_timer_start(&lg->warm_timer, on_warm,
		               (uint64_t)(lg->warm * 1000 + 0.5), 0);
	} else {
		lg->measuring = 1;
		lg->measure_start_ns = uv_hrtime();
	}
	uv_timer_start(&lg->end_timer, on_end,
	               (uint64_t)((lg->warm + lg->dur) * 1000 + 0.5), 0);
}

static void
prefill_done(struct loadgen *lg)
{
	uv_timer_stop(&lg->prefill_timer);
	lg->prefill_ns = uv_hrtime() - lg->prefill_start_ns;
	run_start(lg);
	for (int i = 0; i < lg->nconns; i++) {
		struct conn *c = &lg->conns[i];

		c->idle = 0;
		c->next_kid = 0;
		if (c->nkids == 0) {
			fatal(lg, "connection %d has no children to move", i);
			return;
		}
		if (c->tcp_open && c->connected && !c->write_pending &&
		    c->sent_ns == 0)
			conn_next(c);
	}
}

static void
lg_stop(struct loadgen *lg)
{
	if (lg->stopping)
		return;
	lg->stopping = 1;
	lg->measure_end_ns = uv_hrtime();
	if (!lg->measuring)
		lg->measure_start_ns = lg->measure_end_ns;
	for (int i = 0; i < lg->nconns; i++) {
		struct conn *c = &lg->conns[i];

		if (c->tcp_open) {
			c->tcp_open = 0;
			uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
		}
		if (c->lg != NULL)
			uv_close((uv_handle_t *)&c->retry, NULL);
	}
	uv_close((uv_handle_t *)&lg->warm_timer, NULL);
	uv_close((uv_handle_t *)&lg->end_timer, NULL);
	uv_close((uv_handle_t *)&lg->prefill_timer, NULL);
}

/* --- set-up: tokens over blocking sockets ------------------------------- */

/* One request on a fresh connection; the body of the reply into out.
 * Returns the status, or -1. */
static int
sync_http(const struct loadgen *lg, const char *method, const char *path,
          const char *token, const char *body, char *out, size_t cap)
{
	char req[1024], *p;
	size_t got = 0;
	struct timeval tv = {10, 0};
	int fd, n, status;

	n = snprintf(req, sizeof(req),
	             "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	             "Authorization: Bearer %s\r\n"
	             "Content-Type: application/json\r\n"
	             "Content-Length: %zu\r\n\r\n%s",
	             method, path, lg->authority, token, strlen(body), body);
	if (n < 0 || (size_t)n >= sizeof(req))
		return -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&lg->addr, sizeof(lg->addr)) !=
	            0 ||
	    write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	while (got < cap - 1) {
		ssize_t r = read(fd, out + got, cap - 1 - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	out[got] = '\0';
	if (got < 12 || sscanf(out, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	p = strstr(out, "\r\n\r\n");
	if (p == NULL)
		return -1;
	memmove(out, p + 4, strlen(p + 4) + 1);
	return status;
}

static int
make_token(const struct loadgen *lg, const char *admin, const char *role,
           const char *scope, char out[TOKEN_MAX + 1])
{
	char body[256], reply[4096];
	int st;

	snprintf(body, sizeof(body),
	         "{\"role\":\"%s\",\"scope\":\"%s\",\"label\":\"bench/apps\"}",
	         role, scope);
	st = sync_http(lg, "POST", "/v1/tokens", admin, body, reply,
	               sizeof(reply));
	if (st != 201 ||
	    find_str(reply, strlen(reply), "token", out, TOKEN_MAX + 1) != 0) {
		fprintf(stderr,
		        "apps: creating a %s token failed (status %d): "
		        "%.300s\n",
		        role, st, st < 0 ? "no reply" : reply);
		return -1;
	}
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

static double
parse_seconds(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 86400) {
		fprintf(stderr, "apps: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

static int
parse_url(const char *url, struct loadgen *lg)
{
	const char *p;
	char host[64];
	long port = 80;
	struct in_addr in;
	size_t hl;
	char *colon;

	if (strncmp(url, "http://", 7) != 0)
		return -1;
	p = url + 7;
	hl = strcspn(p, "/");
	if (hl == 0 || hl >= sizeof(lg->authority) || (p[hl] && p[hl + 1]))
		return -1;
	memcpy(lg->authority, p, hl);
	lg->authority[hl] = '\0';
	snprintf(host, sizeof(host), "%s", lg->authority);
	colon = strchr(host, ':');
	if (colon) {
		*colon = '\0';
		port = strtol(colon + 1, NULL, 10);
		if (port < 1 || port > 65535)
			return -1;
	}
	if (strcasecmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &in) != 1 ||
	    (ntohl(in.s_addr) >> 24) != 127) {
		fprintf(stderr, "apps: only IPv4 loopback targets "
		                "(127.0.0.0/8, localhost) are allowed\n");
		return -1;
	}
	memset(&lg->addr, 0, sizeof(lg->addr));
	lg->addr.sin_family = AF_INET;
	lg->addr.sin_port = htons((uint16_t)port);
	lg->addr.sin_addr = in;
	return 0;
}

static int
read_token_file(const char *path, char out[TOKEN_MAX + 1])
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "apps: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(out, 1, TOKEN_MAX, f);
	fclose(f);
	out[n] = '\0';
	while (n > 0 && isspace((unsigned char)out[n - 1]))
		out[--n] = '\0';
	return n > 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const char *mode = NULL, *admin_file = NULL;
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
		case 'c':
			conns = atoi(optarg);
			if (conns < 1 || conns > MAX_CONNS) {
				fprintf(stderr, "apps: -c must be 1..%d\n",
				        MAX_CONNS);
				return 2;
			}
			break;
		case 'd':
			dur = parse_seconds(optarg, "duration");
			break;
		case 'w':
			warm = parse_seconds(optarg, "warm-up");
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
	if (parse_url(argv[optind], lg) != 0) {
		fprintf(stderr,
		        "apps: bad URL %s (want http://127.0.0.1:PORT)\n",
		        argv[optind]);
		return 2;
	}
	if (read_token_file(admin_file, admin) != 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);

	lg->nconns = conns;
	lg->conns = calloc((size_t)conns, sizeof(*lg->conns));
	if (lg->conns == NULL)
		return 1;
	for (int i = 0; i < conns; i++) {
		struct conn *c = &lg->conns[i];

		snprintf(c->subject, sizeof(c->subject), "bench-%ld-%d",
		         (long)getpid(), i);
		if (make_token(lg, admin, "student", c->subject, c->token) != 0)
			return 1;
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
	lg->loop = &loop;
	uv_timer_init(&loop, &lg->warm_timer);
	uv_timer_init(&loop, &lg->end_timer);
	uv_timer_init(&loop, &lg->prefill_timer);
	lg->warm_timer.data = lg->end_timer.data = lg->prefill_timer.data = lg;
	lg->prefill_start_ns = uv_hrtime();
	if (lg->mode == M_APPS)
		run_start(lg);
	else
		uv_timer_start(&lg->prefill_timer, on_prefill_timeout,
		               PREFILL_MAX_S * 1000, 0);
	for (int i = 0; i < conns && !lg->stopping; i++) {
		struct conn *c = &lg->conns[i];

		c->lg = lg;
		uv_timer_init(&loop, &c->retry);
		c->retry.data = c;
		conn_connect(c);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&loop);
	if (rc != 0)
		fprintf(stderr, "apps: uv_loop_close: %s\n", uv_strerror(rc));

	secs = (double)(lg->measure_end_ns - lg->measure_start_ns) / 1e9;
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
		printf(" failed=%llu errors=%llu requests=%llu non2xx=%llu "
		       "mean_us=%.1f p50_us=%llu p90_us=%llu p99_us=%llu "
		       "p999_us=%llu max_us=%llu req_p50_us=%llu "
		       "req_p99_us=%llu conns=%d duration_s=%.3f "
		       "warmup_ops=%llu warmup_errors=%llu reconnects=%llu\n",
		       (unsigned long long)lg->failed,
		       (unsigned long long)lg->errors,
		       (unsigned long long)lg->requests,
		       (unsigned long long)lg->non2xx,
		       lg->hist_op.n
		               ? (double)lg->hist_op.sum / (double)lg->hist_op.n
		               : 0.0,
		       (unsigned long long)hist_percentile(&lg->hist_op, 50),
		       (unsigned long long)hist_percentile(&lg->hist_op, 90),
		       (unsigned long long)hist_percentile(&lg->hist_op, 99),
		       (unsigned long long)hist_percentile(&lg->hist_op, 99.9),
		       (unsigned long long)lg->hist_op.max,
		       (unsigned long long)hist_percentile(&lg->hist_req, 50),
		       (unsigned long long)hist_percentile(&lg->hist_req, 99),
		       conns, secs, (unsigned long long)lg->warm_ops,
		       (unsigned long long)lg->warm_errors,
		       (unsigned long long)lg->reconnects);
	}
	fflush(stdout);
	if ((lg->errors + lg->warm_errors + lg->failed) > 0 &&
	    lg->last_error[0])
		fprintf(stderr, "apps: last error: %s\n", lg->last_error);
	rc = lg->fatal ? 1 : lg->ops == 0 ? 1 : 0;
	if (lg->ops == 0 && !lg->fatal)
		fprintf(stderr, "apps: nothing completed\n");
	for (int i = 0; i < conns; i++)
		free(lg->conns[i].kids);
	free(lg->conns);
	free(lg);
	return rc;
}
