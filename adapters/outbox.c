/*
 * outbox.c: the outbox worker (see outbox.h).
 *
 * Rows come from the store in pages of due rows (oldest first) and wait in
 * memory in a queue per adapter; a row stays in memory, and is never read
 * into a second call, from the moment it is read until the commit that
 * records its outcome has completed. Each adapter's queue drains as its
 * concurrency limit, rate limit (a token bucket) and circuit breaker allow.
 *
 * libcurl's multi interface runs on the loop: CURLMOPT_SOCKETFUNCTION
 * starts and stops a uv_poll_t per socket, CURLMOPT_TIMERFUNCTION arms one
 * uv_timer_t, and finished transfers are collected after every
 * curl_multi_socket_action. The multi handle keeps connections open
 * between calls (keep-alive), so a busy adapter reuses them.
 *
 * Exactly once, as the institution sees it: every attempt of a row carries
 * the same Idempotency-Key (the row's key), so a retry after a lost reply,
 * or a re-send after a crash between a reply and its commit, is one call
 * to an institution that deduplicates. The reply's event and the
 * "delivered" mark go into one transaction (cases_submit's extend hook),
 * so the event is never lost and never applied twice: the mark requires
 * the row to be still pending.
 */
#include "outbox.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <openssl/crypto.h>

#include "../daemon/daemon.h"
#include "../daemon/log.h"

#define OB_LAT_RING 1024

struct orow {
	int64_t id;
	char *case_id, *adapter, *operation, *idem_key;
	json_t *payload;
	int attempts;
	struct orow *next;
};

/* What the worker knows of one adapter; kept across reloads by name. */
struct astate {
	char name[72];
	struct adp_breaker br;
	int inflight;
	double tokens;
	uint64_t refill_ns;
	struct orow *qhead, *qtail;
	int nq;
	uint64_t attempts, delivered, failed, dead;
	double lat[OB_LAT_RING]; /* ms, of the last calls that got a reply */
	int nlat, ilat;
	struct astate *next;
};

struct xfer {
	CURL *easy;
	struct outbox *ob;
	struct orow *row;
	struct astate *as;
	struct adp_set *set; /* holds the definitions for the call */
	const struct adp_def *def;
	const struct adp_op *op;
	struct curl_slist *hdrs;
	char *body;
	char *resp;
	size_t rlen, rcap;
	int too_big;
	int64_t retry_after_ms;
	uint64_t t0;
	char errbuf[CURL_ERROR_SIZE];
	struct xfer *prev, *next;
};

struct osock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct outbox *ob;
};

struct outbox {
	struct daemon *d;
	CURLM *multi;
	uv_timer_t curl_timer, scan_timer, kick_timer;
	int timers_open;
	struct adp_set *set;
	struct astate *states;
	struct xfer *xfers; /* in flight */
	/* ids of the rows in memory: open addressing, 0 is empty */
	int64_t *ids;
	size_t idcap, nids;
	int scanning, rescan, full;
	uint64_t last_scan; /* uv_now when the latest scan began */
	int64_t *known;     /* the ids listed for a scan (known_ids) */
	size_t nknown, known_cap;
	int64_t *retire; /* ids done while a scan was under way */
	size_t nretire, retire_cap;
	int pending; /* commits and case commands not yet done */
	int stopping;
	uint64_t rnd;
	int max_rows;
	int64_t poll_ms;
};

/* --- small things ----------------------------------------------------------- */

static uint32_t
ob_rand(struct outbox *ob)
{
	/* xorshift64*: jitter needs spread, not secrecy */
	ob->rnd ^= ob->rnd >> 12;
	ob->rnd ^= ob->rnd << 25;
	ob->rnd ^= ob->rnd >> 27;
	return (uint32_t)((ob->rnd * 2685821657736338717ULL) >> 32);
}

static int64_t
ob_now(const struct outbox *ob)
{
	return cases_now(ob->d);
}

static size_t
id_slot(const struct outbox *ob, int64_t id)
{
	return (size_t)((uint64_t)id * 11400714819323198485ULL) &
	       (ob->idcap - 1);
}

static int
id_has(const struct outbox *ob, int64_t id)
{
	for (size_t i = id_slot(ob, id);; i = (i + 1) & (ob->idcap - 1)) {
		if (ob->ids[i] == id)
			return 1;
		if (ob->ids[i] == 0)
			return 0;
	}
}

static void
id_add(struct outbox *ob, int64_t id)
{
	size_t i = id_slot(ob, id);

	while (ob->ids[i] != 0)
		i = (i + 1) & (ob->idcap - 1);
	ob->ids[i] = id;
	ob->nids++;
}

/* Backward-shift deletion keeps lookups correct without tombstones. */
static void
id_del(struct outbox *ob, int64_t id)
{
	size_t i = id_slot(ob, id), j, k, mask = ob->idcap - 1;

	while (ob->ids[i] != id) {
		if (ob->ids[i] == 0)
			return;
		i = (i + 1) & mask;
	}
	ob->ids[i] = 0;
	ob->nids--;
	for (j = (i + 1) & mask; ob->ids[j] != 0; j = (j + 1) & mask) {
		k = id_slot(ob, ob->ids[j]);
		if ((j > i && (k <= i || k > j)) ||
		    (j < i && (k <= i && k > j))) {
			ob->ids[i] = ob->ids[j];
			ob->ids[j] = 0;
			i = j;
		}
	}
}

static void
row_free(struct orow *r)
{
	if (r == NULL)
		return;
	free(r->case_id);
	free(r->adapter);
	free(r->operation);
	free(r->idem_key);
	json_decref(r->payload);
	free(r);
}

/* The row's outcome is committed (or abandoned): forget it. A scan that
 * began before the commit may still return it as pending, so while one
 * is under way its id stays known until that scan's rows are in. */
static void
row_done(struct outbox *ob, struct orow *r)
{
	if (ob->scanning && !ob->stopping) {
		if (ob->nretire == ob->retire_cap) {
			size_t cap = ob->retire_cap ? ob->retire_cap * 2 : 256;
			int64_t *v = realloc(ob->retire, cap * sizeof(*v));

			if (v == NULL) {
				/* without memory, a re-send (same key) is the
				 * lesser harm */
				id_del(ob, r->id);
				row_free(r);
				return;
			}
			ob->retire = v;
			ob->retire_cap = cap;
		}
		ob->retire[ob->nretire++] = r->id;
	} else {
		id_del(ob, r->id);
	}
	row_free(r);
	if (!ob->stopping && ob->full && (int)ob->nids < ob->max_rows / 2) {
		ob->full = 0;
		outbox_wake(ob->d);
	}
}

static struct astate *
astate_get(struct outbox *ob, const char *name)
{
	struct astate *a;

	for (a = ob->states; a; a = a->next)
		if (!strcmp(a->name, name))
			return a;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->refill_ns = uv_hrtime();
	a->tokens = -1; /* filled to the burst on first use */
	a->next = ob->states;
	ob->states = a;
	return a;
}

/* --- recording outcomes ---------------------------------------------------- */

/* Scans no more often than this when woken (see scan_soon). */
#define OUTBOX_SCAN_GAP_MS 20

struct mark {
	struct outbox *ob;
	struct orow *row;
	char what[24];
	int64_t due_at; /* a retry's next attempt; 0: none */
};

static void on_scan_timer(uv_timer_t *t);

static void
mark_done(int status, const char *msg, void *data)
{
	struct mark *m = data;
	struct outbox *ob = m->ob;

	if (status != 0 && status != CAIRN_ECONFLICT)
		log_write(LOG_ERROR, NULL, m->row->case_id, NULL,
		          "outbox row %lld (%s): recording '%s' failed: %s",
		          (long long)m->row->id, m->row->idem_key, m->what,
		          msg ? msg : cairn_strerror(status));
	ob->pending--;
	row_done(ob, m->row);
	/* a retry comes due on time: the scan timer waits no longer than it
	 * (nothing else changed for the scan to find) */
	if (!ob->stopping && status == 0 && m->due_at > 0) {
		int64_t in = m->due_at - ob_now(ob);
		uint64_t delay = in > 0 ? (uint64_t)in : 0;
		uint64_t now = uv_now(ob->d->loop);

		/* and no sooner than the gap between scans allows */
		if (now + delay < ob->last_scan + OUTBOX_SCAN_GAP_MS)
			delay = ob->last_scan + OUTBOX_SCAN_GAP_MS - now;

		if (!uv_is_active((uv_handle_t *)&ob->scan_timer) ||
		    uv_timer_get_due_in(&ob->scan_timer) > delay)
			uv_timer_start(&ob->scan_timer, on_scan_timer, delay,
			               0);
	}
	free(m);
}

/* Commits a mark on its own; alert (may be NULL) goes with a dead one. */
static void
mark_submit(struct outbox *ob, struct orow *r, const char *state,
            int add_attempts, int64_t due_at, int http_status,
            const char *error, const char *alert)
{
	struct store_batch *b = store_batch_new();
	struct mark *m = calloc(1, sizeof(*m));
	int64_t now = ob_now(ob);

	if (b == NULL || m == NULL ||
	    store_batch_outbox_mark(b, r->id, state, add_attempts, due_at,
	                            http_status, error, now) != 0 ||
	    (alert != NULL &&
	     store_batch_alert_add(b, r->case_id, "adapter_dead_letter",
	                           "critical", "admin", alert, NULL,
	                           now) != 0)) {
		store_batch_free(b);
		free(m);
		log_write(LOG_ERROR, NULL, r->case_id, NULL,
		          "outbox row %lld: out of memory recording '%s'",
		          (long long)r->id, state);
		row_done(ob, r);
		return;
	}
	m->ob = ob;
	m->row = r;
	m->due_at = !strcmp(state, "pending") ? due_at : 0;
	snprintf(m->what, sizeof(m->what), "%s", state);
	if (store_batch_submit(ob->d->store, b, mark_done, m) != 0) {
		free(m);
		row_done(ob, r);
		return;
	}
	ob->pending++;
}

/* A case command whose batch also records the row's outcome. */
struct outcome {
	struct outbox *ob;
	struct orow *row;
	const char *state; /* "delivered" or "dead" */
	int http_status;
	char *error;
	char *alert;
	char event[72];
};

static int
outcome_extend(struct store_batch *b, const json_t *row, void *arg)
{
	struct outcome *o = arg;
	int64_t now = ob_now(o->ob);

	if (store_batch_outbox_mark(b, o->row->id, o->state, 1, 0,
	                            o->http_status, o->error, now) != 0)
		return -1;
	if (o->alert != NULL &&
	    store_batch_alert_add(b, o->row->case_id, "adapter_dead_letter",
	                          "critical", "admin", o->alert, NULL,
	                          now) != 0)
		return -1;
	return 0;
}

static void
outcome_free(struct outcome *o)
{
	free(o->error);
	free(o->alert);
	free(o);
}

static void
outcome_done(int status, const char *body, void *arg)
{
	struct outcome *o = arg;
	struct outbox *ob = o->ob;
	char note[600];

	ob->pending--;
	if (status < 300) {
		row_done(ob, o->row);
		outcome_free(o);
		if (!ob->stopping)
			outbox_wake(ob->d);
		return;
	}
	/* the case refused the event (it moved on, or is gone): the row's
	 * outcome is recorded all the same, with why */
	snprintf(note, sizeof(note), "%s%sevent '%s' not applied (%d): %.400s",
	         o->error ? o->error : "", o->error ? "; " : "", o->event,
	         status, body ? body : "");
	log_write(LOG_WARN, NULL, o->row->case_id, NULL,
	          "outbox row %lld (%s): %s", (long long)o->row->id,
	          o->row->idem_key, note);
	if (ob->stopping) {
		row_done(ob, o->row);
	} else {
		mark_submit(ob, o->row, o->state, 1, 0, o->http_status, note,
		            o->alert);
	}
	outcome_free(o);
}

/* Sends event (with data) to the row's case with the outcome in the same
 * batch; falls back to the mark alone when no command can start. */
static void
outcome_submit(struct outbox *ob, struct orow *r, const char *state,
               int http_status, const char *error, const char *alert,
               const char *event, const json_t *data, unsigned role)
{
	struct outcome *o = calloc(1, sizeof(*o));
	struct cases_req q = {0};
	char actor[96];
	int rc;

	if (o == NULL || (error && !(o->error = strdup(error))) ||
	    (alert && !(o->alert = strdup(alert)))) {
		if (o)
			outcome_free(o);
		mark_submit(ob, r, state, 1, 0, http_status, error, alert);
		return;
	}
	o->ob = ob;
	o->row = r;
	o->state = state;
	o->http_status = http_status;
	snprintf(o->event, sizeof(o->event), "%s", event);
	snprintf(actor, sizeof(actor), "adapter:%s", r->adapter);
	q.case_id = r->case_id;
	q.type = event;
	q.data = data;
	q.role = role;
	q.actor = actor;
	q.extend = outcome_extend;
	q.done = outcome_done;
	q.arg = o;
	rc = cases_submit(ob->d, &q);
	if (rc != 0) {
		char note[300];

		snprintf(note, sizeof(note), "%s%sevent '%s' not sent: %s",
		         error ? error : "", error ? "; " : "", event,
		         cairn_strerror(rc));
		mark_submit(ob, r, state, 1, 0, http_status, note, alert);
		outcome_free(o);
		return;
	}
	ob->pending++;
}

/* The last attempt failed, or the failure is not one to retry. */
static void
dead_letter(struct outbox *ob, struct orow *r, const struct adp_op *op,
            int http_status, const char *error, struct astate *as)
{
	char alert[700];
	json_t *data;

	if (as)
		as->dead++;
	snprintf(alert, sizeof(alert),
	         "The call %s.%s for case %s failed for good after %d "
	         "attempt(s): %.400s. Fix the cause, then redrive it with "
	         "POST /v1/adapters/%s/redrive.",
	         r->adapter, r->operation, r->case_id, r->attempts + 1, error,
	         r->adapter);
	log_write(LOG_ERROR, NULL, r->case_id, NULL,
	          "outbox row %lld (%s): dead letter: %s", (long long)r->id,
	          r->idem_key, error);
	data = json_pack("{s:s, s:s, s:s, s:i, s:s}", "adapter", r->adapter,
	                 "operation", r->operation, "idempotency_key",
	                 r->idem_key, "attempts", r->attempts + 1, "error",
	                 error);
	if (data && http_status > 0)
		json_object_set_new(data, "status", json_integer(http_status));
	outcome_submit(ob, r, "dead", http_status, error, alert,
	               op && op->on_failure ? op->on_failure : "call_failed",
	               data, 0);
	json_decref(data);
}

/* A failure worth retrying: again after a backoff, or dead at the last. */
static void
retry_or_die(struct outbox *ob, struct orow *r, const struct adp_def *def,
             const struct adp_op *op, int http_status, const char *error,
             int64_t retry_after_ms, struct astate *as)
{
	int64_t delay;

	if (r->attempts + 1 >= def->max_attempts) {
		dead_letter(ob, r, op, http_status, error, as);
		return;
	}
	delay = adp_backoff_ms(def, r->attempts + 1, ob_rand(ob));
	if (retry_after_ms > delay)
		delay = retry_after_ms < def->backoff_max_ms
		                ? retry_after_ms
		                : def->backoff_max_ms;
	mark_submit(ob, r, "pending", 1, ob_now(ob) + delay, http_status, error,
	            NULL);
}

/* --- replies ------------------------------------------------------------------- */

static int
event_allowed(const json_t *list, const char *ev)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i,
	                   v) if (!strcmp(json_string_value(v), ev)) return 1;
	return 0;
}

/* A 2xx reply: the call is delivered; its event, if the operation maps
 * one, goes to the case in the same batch. */
static void
delivered(struct outbox *ob, struct xfer *x, int code)
{
	const struct adp_op *op = x->op;
	struct orow *r = x->row;
	struct adp_ctx ctx = {0};
	json_t *resp = NULL, *evdata = NULL, *evname = NULL;
	json_error_t je;
	char err[400];
	const char *ev;

	if (op->resp_event == NULL) {
		mark_submit(ob, r, "delivered", 1, 0, code, NULL, NULL);
		return;
	}
	if (x->too_big) {
		snprintf(err, sizeof(err),
		         "the reply is larger than max_response (%lld "
		         "bytes); not mapped to an event",
		         (long long)x->def->max_response_bytes);
		goto unusable;
	}
	resp = json_loadb(x->resp ? x->resp : "", x->rlen,
	                  JSON_REJECT_DUPLICATES, &je);
	if (resp == NULL) {
		/* not jansson's text: it quotes the reply's bytes, which
		 * may hold a student's data, and this goes to the log */
		snprintf(err, sizeof(err),
		         "the reply is not JSON (at byte %d, line %d); not "
		         "mapped to an event",
		         je.position, je.line);
		goto unusable;
	}
	ctx.data = r->payload;
	ctx.case_id = r->case_id;
	ctx.idem_key = r->idem_key;
	ctx.adapter = r->adapter;
	ctx.operation = r->operation;
	ctx.now_ms = ob_now(ob);
	ctx.response = resp;
	ctx.status = code;
	ev = op->resp_event;
	if (ev[0] == '$') {
		json_t *tmpl = json_string(ev);

		if (adp_render(tmpl, &ctx, &evname, err, sizeof(err)) != 0) {
			json_decref(tmpl);
			goto unusable;
		}
		json_decref(tmpl);
		if (!json_is_string(evname) ||
		    !event_allowed(op->resp_events,
		                   json_string_value(evname))) {
			char *t = json_dumps(evname, JSON_ENCODE_ANY);

			snprintf(err, sizeof(err),
			         "the reply names event %.80s, not one of the "
			         "operation's 'events'",
			         t ? t : "?");
			free(t);
			goto unusable;
		}
		ev = json_string_value(evname);
	}
	if (op->resp_data != NULL &&
	    adp_render(op->resp_data, &ctx, &evdata, err, sizeof(err)) != 0)
		goto unusable;
	outcome_submit(ob, r, "delivered", code, NULL, NULL, ev, evdata,
	               ROLE_BIT(ROLE_INSTITUTION));
	json_decref(evname);
	json_decref(evdata);
	json_decref(resp);
	return;
unusable:
	/* the institution has the call (it said so); what it answered
	 * cannot become an event, and sending again would not change that */
	log_write(LOG_WARN, NULL, r->case_id, NULL, "outbox row %lld (%s): %s",
	          (long long)r->id, r->idem_key, err);
	mark_submit(ob, r, "delivered", 1, 0, code, err, NULL);
	json_decref(evname);
	json_decref(evdata);
	json_decref(resp);
}

/* Retry-After: delay-seconds or an HTTP-date; -1 when absent or bad. */
static int64_t
parse_retry_after(const char *v)
{
	char *end;
	long long s;
	struct tm tm = {0};

	while (*v == ' ')
		v++;
	s = strtoll(v, &end, 10);
	if (end != v && (*end == '\0' || *end == '\r' || *end == ' ') && s >= 0)
		return s * 1000;
	if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL) {
		int64_t at = (int64_t)timegm(&tm) * 1000 - cairn_now_ms();

		return at > 0 ? at : 0;
	}
	return -1;
}

static void
latency(struct astate *as, double ms)
{
	as->lat[as->ilat] = ms;
	as->ilat = (as->ilat + 1) % OB_LAT_RING;
	if (as->nlat < OB_LAT_RING)
		as->nlat++;
}

static void dispatch(struct outbox *ob);

static void
xfer_free(struct outbox *ob, struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		ob->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	curl_multi_remove_handle(ob->multi, x->easy);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->hdrs);
	free(x->body);
	free(x->resp);
	adp_set_unref(x->set);
	free(x);
}

/* "HTTP <code>: <the start of the body>", printable ASCII only: it goes
 * into logs, an alert and the dead letter's event data. */
static void
status_text(char *err, size_t len, long code, const struct xfer *x)
{
	char body[201];
	size_t n = x->rlen < 200 ? x->rlen : 200;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)x->resp[i];

		body[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	body[n] = '\0';
	snprintf(err, len, "HTTP %ld%s%s", code, n ? ": " : "", body);
}

static void
finished(struct outbox *ob, struct xfer *x, CURLcode res)
{
	struct astate *as = x->as;
	struct orow *r = x->row;
	long code = 0;
	char err[400];
	int64_t now = ob_now(ob);

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	as->inflight--;
	as->attempts++;
	if (res == CURLE_OK || (res == CURLE_WRITE_ERROR && x->too_big)) {
		latency(as, (double)(uv_hrtime() - x->t0) / 1e6);
		if (code >= 200 && code < 300) {
			as->delivered++;
			adp_breaker_record(&as->br, x->def, 1, now);
			delivered(ob, x, (int)code);
		} else if (code == 429 || code == 408 || code >= 500) {
			as->failed++;
			/* 429 is the institution pacing us, not failing */
			if (code != 429)
				adp_breaker_record(&as->br, x->def, 0, now);
			else if (as->br.state == ADP_HALF_OPEN)
				as->br.probing = 0;
			status_text(err, sizeof(err), code, x);
			retry_or_die(ob, r, x->def, x->op, (int)code, err,
			             x->retry_after_ms, as);
		} else {
			/* any other answer will not change on a retry */
			as->failed++;
			adp_breaker_record(&as->br, x->def, 1, now);
			status_text(err, sizeof(err), code, x);
			dead_letter(ob, r, x->op, (int)code, err, as);
		}
	} else {
		as->failed++;
		adp_breaker_record(&as->br, x->def, 0, now);
		snprintf(err, sizeof(err), "%s: %s", curl_easy_strerror(res),
		         x->errbuf[0] ? x->errbuf : "no reply");
		retry_or_die(ob, r, x->def, x->op, 0, err, -1, as);
	}
	x->row = NULL;
	xfer_free(ob, x);
}

static void
collect(struct outbox *ob)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(ob->multi, &left)) != NULL) {
		struct xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
		finished(ob, x, m->data.result);
	}
	dispatch(ob);
}

/* --- libcurl on libuv ------------------------------------------------------ */

static void
sock_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	struct osock *s = p->data;
	struct outbox *ob = s->ob;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(ob->multi, s->fd, flags, &running);
	collect(ob);
}

static int
curl_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct outbox *ob = userp;
	struct osock *s = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			uv_poll_stop(&s->poll);
			uv_close((uv_handle_t *)&s->poll, sock_closed);
			curl_multi_assign(ob->multi, fd, NULL);
		}
		return 0;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		s->fd = fd;
		s->ob = ob;
		s->poll.data = s;
		if (uv_poll_init_socket(ob->d->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		curl_multi_assign(ob->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, on_poll);
	return 0;
}

static void
on_curl_timer(uv_timer_t *t)
{
	struct outbox *ob = t->data;
	int running;

	curl_multi_socket_action(ob->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect(ob);
}

static int
curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct outbox *ob = userp;

	if (ob->stopping)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&ob->curl_timer);
	else
		uv_timer_start(&ob->curl_timer, on_curl_timer,
		               (uint64_t)timeout_ms, 0);
	return 0;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if ((int64_t)(x->rlen + len) > x->def->max_response_bytes) {
		x->too_big = 1;
		return 0; /* CURLE_WRITE_ERROR: stop reading */
	}
	if (x->rlen + len + 1 > x->rcap) {
		size_t cap = (x->rlen + len + 1) * 2;
		char *nb = realloc(x->resp, cap);

		if (nb == NULL)
			return 0;
		x->resp = nb;
		x->rcap = cap;
	}
	memcpy(x->resp + x->rlen, p, len);
	x->rlen += len;
	x->resp[x->rlen] = '\0';
	return len;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	char line[128];

	if (len > 12 && len < sizeof(line) &&
	    !strncasecmp(p, "Retry-After:", 12)) {
		memcpy(line, p + 12, len - 12);
		line[len - 12] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		x->retry_after_ms = parse_retry_after(line);
	}
	return len;
}

/* --- starting calls --------------------------------------------------------- */

static int add_header(struct xfer *x, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static int
add_header(struct xfer *x, const char *fmt, ...)
{
	char *h = NULL;
	struct curl_slist *l;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&h, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	l = curl_slist_append(x->hdrs, h);
	/* a credential may be in it; libcurl made its own copy */
	OPENSSL_cleanse(h, (size_t)n);
	free(h);
	if (l == NULL)
		return -1;
	x->hdrs = l;
	return 0;
}

static void park(struct outbox *ob, struct orow *r);

/* Builds and starts the call for r; on a failure that no retry can fix
 * (a template naming a missing field) the row is dead-lettered at once. */
static void
start_call(struct outbox *ob, struct astate *as, struct orow *r)
{
	const struct adp_def *def = adp_set_find(ob->set, r->adapter);
	const struct adp_op *op = adp_op_find(def, r->operation);
	struct adp_ctx ctx = {0};
	struct xfer *x;
	char err[400], *path = NULL, *url = NULL;
	json_t *body = NULL;
	const char *k;
	json_t *v;

	if (def == NULL) { /* a reload took the adapter away */
		park(ob, r);
		return;
	}
	if (op == NULL) {
		snprintf(err, sizeof(err), "adapter '%s' has no operation '%s'",
		         r->adapter, r->operation);
		dead_letter(ob, r, NULL, 0, err, as);
		return;
	}
	ctx.data = r->payload;
	ctx.case_id = r->case_id;
	ctx.idem_key = r->idem_key;
	ctx.adapter = r->adapter;
	ctx.operation = r->operation;
	ctx.now_ms = ob_now(ob);
	if (adp_render_str(op->path, &ctx, &path, err, sizeof(err)) != 0 ||
	    (op->body &&
	     adp_render(op->body, &ctx, &body, err, sizeof(err)) != 0)) {
		free(path);
		dead_letter(ob, r, op, 0, err, as);
		return;
	}
	if ((def->cred.env || def->cred.file) && def->cred.value == NULL) {
		snprintf(err, sizeof(err), "credentials unavailable: %s",
		         def->cred.why);
		goto soft_fail;
	}
	if ((def->sign.env || def->sign.file) && def->sign.value == NULL) {
		snprintf(err, sizeof(err), "signing secret unavailable: %s",
		         def->sign.why);
		goto soft_fail;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL || (x->easy = curl_easy_init()) == NULL) {
		free(x);
		snprintf(err, sizeof(err), "out of memory");
		goto soft_fail;
	}
	x->ob = ob;
	x->row = r;
	x->as = as;
	x->set = adp_set_ref(ob->set);
	x->def = def;
	x->op = op;
	if (body != NULL)
		x->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(body);
	body = NULL;
	if (asprintf(&url, "%s%s", def->base_url, path) < 0)
		url = NULL;
	free(path);
	path = NULL;
	{
		int bad = url == NULL;

		bad |= add_header(x, "Idempotency-Key: %s", r->idem_key);
		bad |= add_header(x, "Expect:");
		if (x->body)
			bad |= add_header(x, "Content-Type: application/json");
		if (def->cred.value)
			bad |= add_header(x, "%s: %s%s%s", def->cred_header,
			                  def->cred_scheme,
			                  def->cred_scheme[0] ? " " : "",
			                  def->cred.value);
		if (def->sign.value) {
			char ts[24], hex[65];
			const char *b = x->body ? x->body : "";

			snprintf(ts, sizeof(ts), "%lld",
			         (long long)(cairn_now_ms() / 1000));
			if (adp_sign(&def->sign, ts, b, strlen(b), hex) != 0)
				bad = 1;
			bad |= add_header(x, "X-Cairn-Timestamp: %s", ts);
			bad |= add_header(x, "X-Cairn-Signature: sha256=%s",
			                  hex);
		}
		json_object_foreach(op->headers, k, v)
		{
			char *hv = NULL;

			if (adp_render_str(json_string_value(v), &ctx, &hv, err,
			                   sizeof(err)) != 0) {
				free(url);
				xfer_free(ob, x);
				dead_letter(ob, r, op, 0, err, as);
				return;
			}
			bad |= add_header(x, "%s: %s", k, hv);
			free(hv);
		}
		if (bad) {
			free(url);
			x->row = NULL;
			xfer_free(ob, x);
			snprintf(err, sizeof(err), "out of memory");
			goto soft_fail;
		}
	}
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, op->method);
	if (x->body) {
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE,
		                 (long)strlen(x->body));
	} else if (!strcmp(op->method, "GET")) {
		curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)def->connect_timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)def->timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "cairn/" CAIRN_VERSION);
	x->retry_after_ms = -1;
	x->t0 = uv_hrtime();
	x->next = ob->xfers;
	if (ob->xfers)
		ob->xfers->prev = x;
	ob->xfers = x;
	as->inflight++;
	if (curl_multi_add_handle(ob->multi, x->easy) != CURLM_OK) {
		as->inflight--;
		x->row = NULL;
		xfer_free(ob, x);
		snprintf(err, sizeof(err), "cannot start the call");
		goto soft_fail;
	}
	return;
soft_fail:
	free(path);
	json_decref(body);
	/* not the institution's failure: no breaker, but an attempt, so a
	 * lasting cause ends in a dead letter an operator sees */
	{
		const struct adp_def *dd = def;

		retry_or_die(ob, r, dd, op, 0, err, -1, as);
	}
}

/* Takes tokens from the adapter's bucket; 0 ms when a call may go now,
 * else how long until one may. */
static int64_t
rate_wait(struct astate *as, const struct adp_def *def)
{
	uint64_t now = uv_hrtime();

	if (def->rate_per_sec <= 0)
		return 0;
	if (as->tokens < 0)
		as->tokens = def->rate_burst;
	as->tokens += (double)(now - as->refill_ns) / 1e9 * def->rate_per_sec;
	if (as->tokens > def->rate_burst)
		as->tokens = def->rate_burst;
	as->refill_ns = now;
	if (as->tokens >= 1) {
		as->tokens -= 1;
		return 0;
	}
	return (int64_t)((1 - as->tokens) / def->rate_per_sec * 1000) + 1;
}

static void on_kick(uv_timer_t *t);

static void
dispatch(struct outbox *ob)
{
	int64_t wait = -1, now = ob_now(ob);
	struct astate *as;

	if (ob->stopping)
		return;
	for (as = ob->states; as; as = as->next) {
		const struct adp_def *def = adp_set_find(ob->set, as->name);

		while (def == NULL && as->qhead) {
			struct orow *r = as->qhead;

			as->qhead = r->next;
			if (as->qhead == NULL)
				as->qtail = NULL;
			as->nq--;
			park(ob, r);
		}

		while (def && as->qhead && as->inflight < def->concurrency) {
			struct orow *r;
			int64_t w;

			if (!adp_breaker_allow(&as->br, now)) {
				w = as->br.state == ADP_OPEN
				            ? as->br.open_until - now
				            : 50;
				if (wait < 0 || w < wait)
					wait = w < 1 ? 1 : w;
				break;
			}
			if ((w = rate_wait(as, def)) > 0) {
				if (as->br.state == ADP_HALF_OPEN)
					as->br.probing = 0;
				if (wait < 0 || w < wait)
					wait = w;
				break;
			}
			r = as->qhead;
			as->qhead = r->next;
			if (as->qhead == NULL)
				as->qtail = NULL;
			as->nq--;
			r->next = NULL;
			start_call(ob, as, r);
		}
	}
	if (wait >= 0)
		uv_timer_start(&ob->kick_timer, on_kick, (uint64_t)wait, 0);
}

static void
on_kick(uv_timer_t *t)
{
	dispatch(t->data);
}

/* --- scanning ------------------------------------------------------------------ */

static void scan(struct outbox *ob);

static void
on_scan_timer(uv_timer_t *t)
{
	scan(t->data);
}

/* Scans no more often than every OUTBOX_SCAN_GAP_MS when woken: a scan
 * reads every due row, those already queued in memory too, so scanning
 * after every commit read the same thousands of rows back to back while
 * an institution was down, and took the thread pool from the case
 * commands. A new call is found at most that much later. */
static void
scan_soon(struct outbox *ob)
{
	uint64_t now = uv_now(ob->d->loop);
	uint64_t at = ob->last_scan + OUTBOX_SCAN_GAP_MS;
	uint64_t delay = at > now ? at - now : 0;

	if (uv_is_active((uv_handle_t *)&ob->scan_timer) &&
	    uv_timer_get_due_in(&ob->scan_timer) <= delay)
		return; /* due as soon already */
	uv_timer_start(&ob->scan_timer, on_scan_timer, delay, 0);
}

/* Rows whose adapter is not loaded wait (a reload may add it); they are
 * put off rather than failed, and looked at again a minute later. */
static void
park(struct outbox *ob, struct orow *r)
{
	char err[200];

	snprintf(err, sizeof(err),
	         "no adapter named '%.64s' is loaded; waiting for one",
	         r->adapter);
	mark_submit(ob, r, "pending", 0, ob_now(ob) + 60000, 0, err, NULL);
}

static void
scanned(int status, json_t *res, void *data)
{
	struct outbox *ob = data;
	json_t *due = json_object_get(res, "due"), *v;
	json_t *next = json_object_get(res, "next_due");
	int64_t now = ob_now(ob), wait = ob->poll_ms;
	/* the due rows, those held already (left out of "due") too */
	size_t i, n = (size_t)json_integer_value(json_object_get(res, "seen"));

	ob->pending--;
	if (ob->stopping) {
		ob->scanning = 0;
		json_decref(res);
		return;
	}
	if (status != 0) {
		ob->scanning = 0;
		for (i = 0; i < ob->nretire; i++)
			id_del(ob, ob->retire[i]);
		ob->nretire = 0;
		log_write(LOG_WARN, NULL, NULL, NULL,
		          "outbox: reading due rows failed: %s",
		          cairn_strerror(status));
		json_decref(res);
		uv_timer_start(&ob->scan_timer, on_scan_timer, 1000, 0);
		return;
	}
	json_array_foreach(due, i, v)
	{
		int64_t id = json_integer_value(json_object_get(v, "id"));
		const char *ad =
		        json_string_value(json_object_get(v, "adapter"));
		struct orow *r;
		struct astate *as;

		if (id <= 0 || id_has(ob, id))
			continue;
		if ((int)ob->nids >= ob->max_rows) {
			ob->full = 1;
			break;
		}
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			break;
		r->id = id;
		r->case_id = strdup(
		        json_string_value(json_object_get(v, "case_id")));
		r->adapter = strdup(ad ? ad : "");
		r->operation = strdup(
		        json_string_value(json_object_get(v, "operation")));
		r->idem_key = strdup(
		        json_string_value(json_object_get(v, "idem_key")));
		r->payload = json_incref(json_object_get(v, "payload"));
		r->attempts =
		        (int)json_integer_value(json_object_get(v, "attempts"));
		if (!r->case_id || !r->adapter || !r->operation ||
		    !r->idem_key) {
			row_free(r);
			break;
		}
		if (!json_is_object(r->payload)) {
			json_decref(r->payload);
			r->payload = json_object();
		}
		id_add(ob, id);
		if (adp_set_find(ob->set, r->adapter) == NULL ||
		    (as = astate_get(ob, r->adapter)) == NULL) {
			park(ob, r);
			continue;
		}
		if (as->qtail)
			as->qtail->next = r;
		else
			as->qhead = r;
		as->qtail = r;
		as->nq++;
	}
	/* the rows that were done meanwhile were skipped above: forget them */
	ob->scanning = 0;
	for (i = 0; i < ob->nretire; i++)
		id_del(ob, ob->retire[i]);
	ob->nretire = 0;
	if ((int)n >= ob->max_rows && !ob->full)
		wait = 0; /* a full page: more are due */
	else if (json_is_integer(next) && json_integer_value(next) - now < wait)
		wait = json_integer_value(next) - now;
	json_decref(res);
	if (!ob->full) {
		uv_timer_start(&ob->scan_timer, on_scan_timer,
		               (uint64_t)(wait < 0 ? 0 : wait), 0);
		if (ob->rescan)
			scan_soon(ob);
	}
	ob->rescan = 0;
	dispatch(ob);
}

/* The ids in memory, listed for a scan to leave out (the store copies
 * them): 0 when out of memory. */
static int
known_ids(struct outbox *ob)
{
	if (ob->known_cap < ob->nids) {
		int64_t *v = realloc(ob->known, ob->nids * sizeof(*v));

		if (v == NULL)
			return 0;
		ob->known = v;
		ob->known_cap = ob->nids;
	}
	ob->nknown = 0;
	for (size_t i = 0; i < ob->idcap && ob->nknown < ob->nids; i++)
		if (ob->ids[i] != 0)
			ob->known[ob->nknown++] = ob->ids[i];
	return 1;
}

static void
scan(struct outbox *ob)
{
	if (ob->stopping)
		return;
	if (ob->scanning) {
		ob->rescan = 1;
		return;
	}
	if ((int)ob->nids >= ob->max_rows) {
		ob->full = 1;
		return;
	}
	ob->last_scan = uv_now(ob->d->loop);
	if (!known_ids(ob) ||
	    store_outbox_due(ob->d->store, ob_now(ob), ob->max_rows, ob->known,
	                     ob->nknown, scanned, ob) != 0) {
		uv_timer_start(&ob->scan_timer, on_scan_timer, 1000, 0);
		return;
	}
	ob->scanning = 1;
	ob->pending++;
}

/* --- the public functions ------------------------------------------------------ */

/* Errors only: check_definitions, which runs first at start and on
 * SIGHUP, has reported the warnings already. */
static void
load_report(const struct cairn_err *e, int warning, void *data)
{
	char line[1200];

	if (warning)
		return;

	cairn_err_format(e, line, sizeof(line));
	log_write(LOG_ERROR, NULL, NULL, NULL, "%s", line);
}

static int
load_set(struct daemon *d, struct adp_set **out)
{
	const char *dirs[CONFIG_MAX_DIRS];

	for (int i = 0; i < d->cfg.nadapters; i++)
		dirs[i] = d->cfg.adapters[i];
	return adp_set_load(dirs, d->cfg.nadapters, load_report, NULL, out);
}

int
outbox_start(struct daemon *d)
{
	struct outbox *ob;
	static int curl_ready;
	int rc;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return CAIRN_EINVALID;
		curl_ready = 1;
	}
	ob = calloc(1, sizeof(*ob));
	if (ob == NULL)
		return -ENOMEM;
	ob->d = d;
	ob->max_rows = d->cfg.outbox.max_rows;
	ob->poll_ms = d->cfg.outbox.poll_ms;
	ob->rnd = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^
	          0x9e3779b97f4a7c15ULL;
	ob->idcap = 16;
	while (ob->idcap < (size_t)ob->max_rows * 2)
		ob->idcap <<= 1;
	ob->ids = calloc(ob->idcap, sizeof(*ob->ids));
	if (ob->ids == NULL) {
		free(ob);
		return -ENOMEM;
	}
	rc = load_set(d, &ob->set);
	if (rc != 0) {
		free(ob->ids);
		free(ob);
		return rc;
	}
	ob->multi = curl_multi_init();
	if (ob->multi == NULL) {
		adp_set_unref(ob->set);
		free(ob->ids);
		free(ob);
		return -ENOMEM;
	}
	curl_multi_setopt(ob->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
	curl_multi_setopt(ob->multi, CURLMOPT_SOCKETDATA, ob);
	curl_multi_setopt(ob->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(ob->multi, CURLMOPT_TIMERDATA, ob);
	curl_multi_setopt(ob->multi, CURLMOPT_MAXCONNECTS,
	                  (long)d->cfg.outbox.max_connections);
	uv_timer_init(d->loop, &ob->curl_timer);
	uv_timer_init(d->loop, &ob->scan_timer);
	uv_timer_init(d->loop, &ob->kick_timer);
	ob->curl_timer.data = ob->scan_timer.data = ob->kick_timer.data = ob;
	ob->timers_open = 3;
	d->outbox = ob;
	if (ob->set->n > 0)
		log_info("outbox: %d adapter(s) loaded", ob->set->n);
	scan(ob);
	return 0;
}

int
outbox_reload(struct daemon *d)
{
	struct outbox *ob = d->outbox;
	struct adp_set *s = NULL;
	int rc;

	if (ob == NULL)
		return CAIRN_ECLOSED;
	rc = load_set(d, &s);
	if (rc != 0)
		return rc;
	adp_set_unref(ob->set);
	ob->set = s;
	outbox_wake(d);
	return 0;
}

void
outbox_wake(struct daemon *d)
{
	struct outbox *ob = d->outbox;

	if (ob == NULL || ob->stopping)
		return;
	if (ob->scanning)
		ob->rescan = 1;
	else if (!ob->full)
		scan_soon(ob);
}

/* The outbox is freed only once its three timers have closed: libuv
 * still holds them until their close callbacks have run. */
static void
timer_closed(uv_handle_t *h)
{
	struct outbox *ob = h->data;

	ob->timers_open--;
}

void
outbox_stop(struct daemon *d)
{
	struct outbox *ob = d->outbox;
	struct astate *as;

	if (ob == NULL || ob->stopping)
		return;
	ob->stopping = 1;
	/* abandoned calls: their rows are still pending in the store */
	while (ob->xfers) {
		struct xfer *x = ob->xfers;

		x->as->inflight--;
		row_done(ob, x->row);
		x->row = NULL;
		xfer_free(ob, x);
	}
	for (as = ob->states; as; as = as->next)
		while (as->qhead) {
			struct orow *r = as->qhead;

			as->qhead = r->next;
			row_done(ob, r);
		}
	curl_multi_cleanup(ob->multi); /* closes the sockets' polls */
	ob->multi = NULL;
	uv_close((uv_handle_t *)&ob->curl_timer, timer_closed);
	uv_close((uv_handle_t *)&ob->scan_timer, timer_closed);
	uv_close((uv_handle_t *)&ob->kick_timer, timer_closed);
}

int
outbox_busy(const struct daemon *d)
{
	return d->outbox != NULL &&
	       (d->outbox->pending > 0 ||
	        (d->outbox->stopping && d->outbox->timers_open > 0));
}

void
outbox_free(struct daemon *d)
{
	struct outbox *ob = d->outbox;

	if (ob == NULL)
		return;
	while (ob->states) {
		struct astate *as = ob->states;

		ob->states = as->next;
		free(as);
	}
	adp_set_unref(ob->set);
	free(ob->ids);
	free(ob->retire);
	free(ob->known);
	free(ob);
	d->outbox = NULL;
}

const struct adp_def *
outbox_adapter(const struct daemon *d, const char *name)
{
	return d->outbox ? adp_set_find(d->outbox->set, name) : NULL;
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

json_t *
outbox_live_json(const struct daemon *d)
{
	struct outbox *ob = d->outbox;
	json_t *o = json_object();

	for (int i = 0; ob && o && i < ob->set->n; i++) {
		const struct adp_def *def = ob->set->v[i];
		struct astate *as = astate_get(ob, def->name);
		double lat[OB_LAT_RING];
		json_t *a, *l = json_null();

		if (as == NULL)
			continue;
		if (as->nlat > 0) {
			memcpy(lat, as->lat, sizeof(double) * (size_t)as->nlat);
			qsort(lat, (size_t)as->nlat, sizeof(double), dcmp);
			l = json_pack("{s:f, s:f, s:f}", "p50",
			              lat[(as->nlat - 1) * 50 / 100], "p90",
			              lat[(as->nlat - 1) * 90 / 100], "p99",
			              lat[(as->nlat - 1) * 99 / 100]);
		}
		a = json_pack("{s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:o}",
		              "base_url", def->base_url, "breaker",
		              adp_breaker_name(as->br.state), "in_flight",
		              as->inflight, "queued", as->nq, "attempts",
		              (json_int_t)as->attempts, "delivered",
		              (json_int_t)as->delivered, "failed",
		              (json_int_t)as->failed, "dead_lettered",
		              (json_int_t)as->dead, "latency_ms", l);
		if (a)
			json_object_set_new(
			        a, "success_rate",
			        as->attempts ? json_real((double)as->delivered /
			                                 (double)as->attempts)
			                     : json_null());
		json_object_set_new(o, def->name, a);
	}
	return o;
}

char *
outbox_metrics_text(const struct daemon *d)
{
	struct outbox *ob = d->outbox;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct astate *as;

	if (f == NULL)
		return NULL;
	fputs("# HELP cairn_adapter_calls_total Institution call attempts by "
	      "outcome, since start.\n"
	      "# TYPE cairn_adapter_calls_total counter\n",
	      f);
	for (as = ob ? ob->states : NULL; as; as = as->next) {
		fprintf(f,
		        "cairn_adapter_calls_total{adapter=\"%s\",outcome="
		        "\"delivered\"} %llu\n",
		        as->name, (unsigned long long)as->delivered);
		fprintf(f,
		        "cairn_adapter_calls_total{adapter=\"%s\",outcome="
		        "\"failed\"} %llu\n",
		        as->name, (unsigned long long)as->failed);
		fprintf(f,
		        "cairn_adapter_calls_total{adapter=\"%s\",outcome="
		        "\"dead_letter\"} %llu\n",
		        as->name, (unsigned long long)as->dead);
	}
	fputs("# HELP cairn_adapter_in_flight Calls waiting on the "
	      "institution.\n"
	      "# TYPE cairn_adapter_in_flight gauge\n",
	      f);
	for (as = ob ? ob->states : NULL; as; as = as->next)
		fprintf(f, "cairn_adapter_in_flight{adapter=\"%s\"} %d\n",
		        as->name, as->inflight);
	fputs("# HELP cairn_adapter_queued Due calls held back by the "
	      "concurrency limit, the rate limit or the breaker.\n"
	      "# TYPE cairn_adapter_queued gauge\n",
	      f);
	for (as = ob ? ob->states : NULL; as; as = as->next)
		fprintf(f, "cairn_adapter_queued{adapter=\"%s\"} %d\n",
		        as->name, as->nq);
	fputs("# HELP cairn_adapter_breaker_open 1 when the adapter's circuit "
	      "breaker is open or half-open.\n"
	      "# TYPE cairn_adapter_breaker_open gauge\n",
	      f);
	for (as = ob ? ob->states : NULL; as; as = as->next)
		fprintf(f, "cairn_adapter_breaker_open{adapter=\"%s\"} %d\n",
		        as->name, as->br.state != ADP_CLOSED);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
