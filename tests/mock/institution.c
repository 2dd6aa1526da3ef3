/*
 * institution.c: cairn-mock-institution, a stand-in for a campus's
 * admissions system, for the tests, the benchmarks and the demo. It is a
 * real HTTP server on loopback (daemon/http.h's, on its own libuv loop):
 *
 * - Every call must carry an Idempotency-Key. A key seen before gets the
 *   first answer again and is counted as a duplicate, as a real
 *   institution that deduplicates would do; a new key is recorded once.
 * - New calls are answered with a decision: {"reference", "next",
 *   "decision"} (what "next" and "decision" say is configurable).
 * - Faults on demand, at a random rate or for the next calls: 500s, 429s
 *   with Retry-After, timeouts (no answer for hang_ms), slow answers,
 *   connection resets, garbage and huge bodies. A timeout or a reset
 *   happens before or after the call is recorded, at random, so a lost
 *   reply to a call the institution did take is played too.
 * - It sends signed callbacks (HMAC-SHA256 over "timestamp.body").
 *
 * Control API, under /_mock/ (JSON):
 *   GET  /_mock/stats      {received, unique, duplicates, connections
 *                          (open now), faults: {...}}
 *   GET  /_mock/calls      {"calls": [{key, method, path, body, raw,
 *                          attempts, authorization, signature,
 *                          timestamp}]}
 *   POST /_mock/config     {fail_rate, faults: ["500", "429", "timeout",
 *                          "reset", "slow", "garbage", "huge"], fail_next:
 *                          [...], slow_ms, hang_ms, retry_after, next,
 *                          decision, status}
 *   POST /_mock/reset      forget every call and figure
 *   POST /_mock/callback   {url, secret, event_id, case_id, event, data,
 *                          timestamp?}: sends it signed; answers {status,
 *                          body} as cairnd answered
 *
 *   cairn-mock-institution [--port N] [--port-file FILE] [--fail-rate R]
 *                          [--faults 500,timeout,reset] [--seed N]
 */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../../daemon/http.h"

enum fault {
	F_NONE,
	F_500,
	F_429,
	F_TIMEOUT,
	F_RESET,
	F_SLOW,
	F_GARBAGE,
	F_HUGE,
	F_N
};
static const char *const fault_names[F_N] = {
        "none", "500", "429", "timeout", "reset", "slow", "garbage", "huge"};

struct mock {
	uv_loop_t *loop;
	struct http_server *srv;
	json_t *calls; /* key -> {method, path, body, attempts, answer} */
	json_t *order; /* keys in arrival order */
	uint64_t received, duplicates, faulted[F_N];
	double fail_rate;
	int faults[F_N]; /* the kinds the random rate draws from */
	int nfaults;
	enum fault next[64]; /* forced, for the next calls */
	int nnext;
	int64_t slow_ms, hang_ms, retry_after;
	char next_event[64], decision[64];
	int status;
	uint64_t rnd;
	uv_signal_t sigterm, sigint;
};

static uint32_t
rnd32(struct mock *m)
{
	m->rnd ^= m->rnd >> 12;
	m->rnd ^= m->rnd << 25;
	m->rnd ^= m->rnd >> 27;
	return (uint32_t)((m->rnd * 2685821657736338717ULL) >> 32);
}

static enum fault
fault_parse(const char *s)
{
	for (int i = 1; i < F_N; i++)
		if (!strcmp(s, fault_names[i]))
			return (enum fault)i;
	return F_NONE;
}

static int
faults_parse(struct mock *m, const char *list)
{
	char buf[256], *tok, *save = NULL;

	m->nfaults = 0;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		enum fault f = fault_parse(tok);

		if (f == F_NONE)
			return -1;
		m->faults[m->nfaults++] = f;
	}
	return 0;
}

static void
reply_json(struct http_req *r, int status, json_t *o, const char *hdrs)
{
	char *t = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	http_respond(r, status, "application/json", hdrs, t ? t : "{}",
	             t ? strlen(t) : 2);
	free(t);
}

/* --- delayed answers ---------------------------------------------------------- */

struct later {
	uv_timer_t t;
	struct http_req *req;
	int status;
	char *body;
};

static void
later_closed(uv_handle_t *h)
{
	struct later *l = h->data;

	free(l->body);
	free(l);
}

static void
later_fire(uv_timer_t *t)
{
	struct later *l = t->data;

	http_respond(l->req, l->status, "application/json", NULL, l->body,
	             strlen(l->body));
	uv_close((uv_handle_t *)t, later_closed);
}

static void
answer_later(struct mock *m, struct http_req *r, int64_t ms, int status,
             const char *body)
{
	struct later *l = calloc(1, sizeof(*l));

	if (l == NULL || (l->body = strdup(body)) == NULL) {
		free(l);
		http_respond(r, status, "application/json", NULL, body,
		             strlen(body));
		return;
	}
	l->req = r;
	l->status = status;
	uv_timer_init(m->loop, &l->t);
	l->t.data = l;
	uv_timer_start(&l->t, later_fire, (uint64_t)ms, 0);
}

/* --- the institution ------------------------------------------------------------ */

static enum fault
draw_fault(struct mock *m)
{
	if (m->nnext > 0) {
		enum fault f = m->next[0];

		memmove(m->next, m->next + 1,
		        sizeof(m->next[0]) * (size_t)--m->nnext);
		return f;
	}
	if (m->nfaults > 0 && m->fail_rate > 0 &&
	    (double)rnd32(m) / 4294967296.0 < m->fail_rate)
		return (enum fault)m->faults[rnd32(m) % (uint32_t)m->nfaults];
	return F_NONE;
}

static void
institution(struct mock *m, struct http_req *r)
{
	const char *key = http_req_header(r, "Idempotency-Key");
	const char *auth = http_req_header(r, "Authorization");
	const char *sig = http_req_header(r, "X-Cairn-Signature");
	const char *ts = http_req_header(r, "X-Cairn-Timestamp");
	enum fault f;
	json_t *rec, *answer;
	int after;
	char *text;

	m->received++;
	if (key == NULL || key[0] == '\0') {
		http_respond(r, 400, "application/json", NULL,
		             "{\"error\":\"Idempotency-Key is required\"}", 39);
		return;
	}
	f = draw_fault(m);
	m->faulted[f]++;
	/* a network failure either loses the call or only its reply */
	after = (f == F_TIMEOUT || f == F_RESET) && (rnd32(m) & 1);
	switch (f) {
	case F_500:
		http_respond(r, 500, "application/json", NULL,
		             "{\"error\":\"internal\"}", 20);
		return;
	case F_429: {
		char h[64];

		snprintf(h, sizeof(h), "Retry-After: %lld\r\n",
		         (long long)m->retry_after);
		http_respond(r, 429, "application/json", h,
		             "{\"error\":\"slow down\"}", 21);
		return;
	}
	case F_TIMEOUT:
		if (!after) {
			answer_later(m, r, m->hang_ms, 504,
			             "{\"error\":\"too late\"}");
			return;
		}
		break;
	case F_RESET:
		if (!after) {
			http_respond_reset(r);
			return;
		}
		break;
	default:
		break;
	}
	rec = json_object_get(m->calls, key);
	if (rec != NULL) {
		m->duplicates++;
		json_object_set_new(
		        rec, "attempts",
		        json_integer(json_integer_value(
		                             json_object_get(rec, "attempts")) +
		                     1));
		answer = json_incref(json_object_get(rec, "answer"));
	} else {
		json_t *body =
		        json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);

		answer = json_pack("{s:s+, s:s, s:s}", "reference", "M-", key,
		                   "next", m->next_event, "decision",
		                   m->decision);
		rec = json_pack(
		        "{s:s, s:s, s:o, s:s%, s:i, s:O, s:s?, s:s?, "
		        "s:s?}",
		        "method", r->method, "path", r->path, "body",
		        body ? body : json_stringn(r->body, r->body_len), "raw",
		        r->body ? r->body : "", r->body_len, "attempts", 1,
		        "answer", answer, "authorization", auth, "signature",
		        sig, "timestamp", ts);
		json_object_set_new(m->calls, key, rec);
		json_array_append_new(m->order, json_string(key));
	}
	if (f == F_TIMEOUT) {
		json_decref(answer);
		answer_later(m, r, m->hang_ms, 504, "{\"error\":\"too late\"}");
		return;
	}
	if (f == F_RESET) {
		json_decref(answer);
		http_respond_reset(r);
		return;
	}
	if (f == F_GARBAGE) {
		json_decref(answer);
		http_respond(r, m->status, "application/json", NULL,
		             "<html>oops", 10);
		return;
	}
	if (f == F_HUGE) {
		size_t n = 4 << 20;
		char *big = malloc(n);

		json_decref(answer);
		if (big) {
			memset(big, 'x', n);
			big[0] = '"';
			big[n - 1] = '"';
		}
		http_respond(r, m->status, "application/json", NULL,
		             big ? big : "\"\"", big ? n : 2);
		free(big);
		return;
	}
	text = json_dumps(answer, JSON_COMPACT);
	json_decref(answer);
	if (f == F_SLOW)
		answer_later(m, r, m->slow_ms, m->status, text ? text : "{}");
	else
		http_respond(r, m->status, "application/json", NULL,
		             text ? text : "{}", text ? strlen(text) : 2);
	free(text);
}

/* --- control ------------------------------------------------------------------- */

static void
ctl_stats(struct mock *m, struct http_req *r)
{
	json_t *f = json_object();

	for (int i = 1; i < F_N; i++)
		json_object_set_new(f, fault_names[i],
		                    json_integer((json_int_t)m->faulted[i]));
	reply_json(r, 200,
	           json_pack("{s:I, s:I, s:I, s:i, s:o}", "received",
	                     (json_int_t)m->received, "unique",
	                     (json_int_t)json_object_size(m->calls),
	                     "duplicates", (json_int_t)m->duplicates,
	                     "connections", http_server_connections(m->srv),
	                     "faults", f),
	           NULL);
}

static void
ctl_calls(struct mock *m, struct http_req *r)
{
	json_t *out = json_array();
	size_t i;
	json_t *k;

	json_array_foreach(m->order, i, k)
	{
		json_t *c = json_deep_copy(
		        json_object_get(m->calls, json_string_value(k)));

		json_object_set(c, "key", k);
		json_object_del(c, "answer");
		json_array_append_new(out, c);
	}
	reply_json(r, 200, json_pack("{s:o}", "calls", out), NULL);
}

static int
ctl_config(struct mock *m, const json_t *b, char *err, size_t len)
{
	const json_t *v, *x;
	size_t i;

	if ((v = json_object_get(b, "fail_rate")))
		m->fail_rate = json_number_value(v);
	if ((v = json_object_get(b, "faults"))) {
		m->nfaults = 0;
		json_array_foreach(v, i, x)
		{
			enum fault f = fault_parse(
			        json_string_value(x) ? json_string_value(x)
			                             : "");

			if (f == F_NONE || m->nfaults == F_N) {
				snprintf(err, len, "unknown fault");
				return -1;
			}
			m->faults[m->nfaults++] = f;
		}
	}
	return 0;
}

static void
ctl_config_req(struct mock *m, struct http_req *r)
{
	json_t *b = json_loadb(r->body, r->body_len, 0, NULL), *v;
	char err[100] = "";
	size_t i;
	json_t *x;

	if (!json_is_object(b) || ctl_config(m, b, err, sizeof(err)) != 0) {
		json_decref(b);
		reply_json(
		        r, 400,
		        json_pack("{s:s}", "error", err[0] ? err : "bad JSON"),
		        NULL);
		return;
	}
	if ((v = json_object_get(b, "fail_next"))) {
		m->nnext = 0;
		json_array_foreach(v, i, x) if (m->nnext < 64)
		        m->next[m->nnext++] = fault_parse(
		        json_string_value(x) ? json_string_value(x) : "");
	}
	if ((v = json_object_get(b, "slow_ms")))
		m->slow_ms = json_integer_value(v);
	if ((v = json_object_get(b, "hang_ms")))
		m->hang_ms = json_integer_value(v);
	if ((v = json_object_get(b, "retry_after")))
		m->retry_after = json_integer_value(v);
	if ((v = json_object_get(b, "status")))
		m->status = (int)json_integer_value(v);
	if ((v = json_object_get(b, "next")) && json_is_string(v))
		snprintf(m->next_event, sizeof(m->next_event), "%s",
		         json_string_value(v));
	if ((v = json_object_get(b, "decision")) && json_is_string(v))
		snprintf(m->decision, sizeof(m->decision), "%s",
		         json_string_value(v));
	json_decref(b);
	reply_json(r, 200, json_pack("{s:b}", "ok", 1), NULL);
}

static size_t
collect_body(char *p, size_t size, size_t n, void *arg)
{
	json_t *s = arg;
	size_t len = size * n;
	char *cat = NULL;

	if (asprintf(&cat, "%s%.*s", json_string_value(s), (int)len, p) < 0)
		return 0;
	json_string_set(s, cat);
	free(cat);
	return len;
}

/* Sends a signed callback. Blocking, which a test server can afford. */
static void
ctl_callback(struct http_req *r)
{
	json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
	const char *url = json_string_value(json_object_get(b, "url"));
	const char *secret = json_string_value(json_object_get(b, "secret"));
	json_t *payload, *got = json_string("");
	char ts[32], hex[65], hdr[2][128];
	unsigned char mac[32];
	unsigned int maclen = 0;
	struct curl_slist *h = NULL;
	char *text, *signed_text;
	long code = 0;
	CURL *e;

	if (!url || !secret) {
		json_decref(b);
		json_decref(got);
		reply_json(r, 400, json_pack("{s:s}", "error", "url, secret"),
		           NULL);
		return;
	}
	payload = json_pack("{s:O?, s:O?, s:O?, s:O?}", "event_id",
	                    json_object_get(b, "event_id"), "case_id",
	                    json_object_get(b, "case_id"), "event",
	                    json_object_get(b, "event"), "data",
	                    json_object_get(b, "data"));
	text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (json_is_integer(json_object_get(b, "timestamp")))
		snprintf(ts, sizeof(ts), "%lld",
		         (long long)json_integer_value(
		                 json_object_get(b, "timestamp")));
	else
		snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	if (asprintf(&signed_text, "%s.%s", ts, text) < 0)
		signed_text = NULL;
	HMAC(EVP_sha256(), secret, (int)strlen(secret),
	     (const unsigned char *)signed_text, strlen(signed_text), mac,
	     &maclen);
	free(signed_text);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", mac[i]);
	snprintf(hdr[0], sizeof(hdr[0]), "X-Cairn-Timestamp: %s", ts);
	snprintf(hdr[1], sizeof(hdr[1]), "X-Cairn-Signature: sha256=%s", hex);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, hdr[0]);
	h = curl_slist_append(h, hdr[1]);
	e = curl_easy_init();
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, got);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	free(text);
	json_decref(b);
	reply_json(r, 200,
	           json_pack("{s:i, s:o}", "status", (int)code, "body", got),
	           NULL);
}

static void
handle(struct http_req *r, void *data)
{
	struct mock *m = data;

	if (strncmp(r->path, "/_mock/", 7) != 0) {
		institution(m, r);
		return;
	}
	if (!strcmp(r->path, "/_mock/stats"))
		ctl_stats(m, r);
	else if (!strcmp(r->path, "/_mock/calls"))
		ctl_calls(m, r);
	else if (!strcmp(r->path, "/_mock/config") &&
	         !strcmp(r->method, "POST"))
		ctl_config_req(m, r);
	else if (!strcmp(r->path, "/_mock/callback") &&
	         !strcmp(r->method, "POST"))
		ctl_callback(r);
	else if (!strcmp(r->path, "/_mock/reset") &&
	         !strcmp(r->method, "POST")) {
		json_object_clear(m->calls);
		json_array_clear(m->order);
		m->received = m->duplicates = 0;
		memset(m->faulted, 0, sizeof(m->faulted));
		reply_json(r, 200, json_pack("{s:b}", "ok", 1), NULL);
	} else
		http_respond(r, 404, "application/json", NULL,
		             "{\"error\":\"no such control\"}", 27);
}

static void
stopped(void *arg)
{
	struct mock *m = arg;

	uv_close((uv_handle_t *)&m->sigterm, NULL);
	uv_close((uv_handle_t *)&m->sigint, NULL);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct mock *m = s->data;

	uv_signal_stop(&m->sigterm);
	uv_signal_stop(&m->sigint);
	http_server_stop(m->srv, stopped, m);
}

int
main(int argc, char **argv)
{
	static struct mock m;
	struct http_server_opts o = {0};
	struct cairn_err err;
	const char *port_file = NULL;
	int port = 9001;

	m.fail_rate = 0;
	m.slow_ms = 200;
	m.hang_ms = 30000;
	m.retry_after = 1;
	m.status = 200;
	snprintf(m.next_event, sizeof(m.next_event), "complete");
	snprintf(m.decision, sizeof(m.decision), "admit");
	m.rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20) ^ 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--port") && v)
			port = atoi(argv[++i]);
		else if (!strcmp(a, "--port-file") && v)
			port_file = argv[++i];
		else if (!strcmp(a, "--fail-rate") && v)
			m.fail_rate = atof(argv[++i]);
		else if (!strcmp(a, "--seed") && v)
			m.rnd = strtoull(argv[++i], NULL, 10) | 1;
		else if (!strcmp(a, "--hang-ms") && v)
			m.hang_ms = atoll(argv[++i]);
		else if (!strcmp(a, "--faults") && v) {
			if (faults_parse(&m, argv[++i]) != 0) {
				fprintf(stderr, "unknown fault in %s\n", v);
				return 2;
			}
		} else {
			fprintf(stderr,
			        "usage: cairn-mock-institution [--port N] "
			        "[--port-file FILE] [--fail-rate R] [--faults "
			        "500,429,timeout,reset,slow,garbage,huge] "
			        "[--hang-ms N] [--seed N]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	m.loop = uv_default_loop();
	m.calls = json_object();
	m.order = json_array();
	o.host = "127.0.0.1";
	o.port = port;
	o.limits.max_body_bytes = 1 << 20;
	o.limits.max_header_bytes = 16 << 10;
	o.limits.request_timeout_ms = 30000;
	o.limits.idle_timeout_ms = 120000;
	o.limits.max_connections = 4096;
	o.handler = handle;
	o.data = &m;
	if (http_server_start(m.loop, &o, &m.srv, &err) != 0) {
		fprintf(stderr, "cairn-mock-institution: %s\n", err.msg);
		return 1;
	}
	if (port_file) {
		char tmp[1024];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		f = fopen(tmp, "w");
		if (f == NULL ||
		    fprintf(f, "%d\n", http_server_port(m.srv)) < 0 ||
		    fclose(f) != 0 || rename(tmp, port_file) != 0) {
			fprintf(stderr, "cannot write %s\n", port_file);
			return 1;
		}
	}
	fprintf(stderr, "cairn-mock-institution listening on 127.0.0.1:%d\n",
	        http_server_port(m.srv));
	uv_signal_init(m.loop, &m.sigterm);
	uv_signal_init(m.loop, &m.sigint);
	m.sigterm.data = m.sigint.data = &m;
	uv_signal_start(&m.sigterm, on_signal, SIGTERM);
	uv_signal_start(&m.sigint, on_signal, SIGINT);
	uv_run(m.loop, UV_RUN_DEFAULT);
	json_decref(m.calls);
	json_decref(m.order);
	curl_global_cleanup();
	return 0;
}
