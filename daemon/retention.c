/*
 * retention.c: the retention job (see retention.h).
 */
#include "retention.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "audit.h"
#include "daemon.h"
#include "famcache.h"
#include "log.h"

#define RET_PAGE   64 /* candidates read at once */
#define RET_WINDOW 4  /* cases being written at once, a batch each */
#define DAY_MS     86400000LL
/* a year of the schedule's arithmetic: 365.25 days */
#define YEAR_MS (DAY_MS * 365 + DAY_MS / 4)

struct waiter {
	struct api_call *c;
	struct waiter *next;
};

struct retention {
	struct daemon *d;
	uv_timer_t timer;
	int64_t next_run; /* case clock, ms */
	int closing;
	/* the run in progress */
	int running;
	int64_t now, cutoff;
	int64_t after_at;
	char after_id[64];
	json_t *page;
	size_t next; /* the page's next row */
	int reading, inflight;
	int64_t purged, resealed, broken, conflicts, failed;
	struct waiter *waiters;
};

static int64_t
jint(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The next HH:MM (UTC) after now; never for a manual schedule. */
static int64_t
next_run_after(const struct daemon *d, int64_t now)
{
	int64_t at;

	if (d->cfg.retention.hour < 0)
		return INT64_MAX;
	at = now - now % DAY_MS +
	     ((int64_t)d->cfg.retention.hour * 60 + d->cfg.retention.minute) *
	             60000;

	return at > now ? at : at + DAY_MS;
}

static void ret_arm(struct retention *r);
static void run_start(struct retention *r);

static void
on_timer(uv_timer_t *t)
{
	struct retention *r = t->data;

	if (r->closing || r->d->stopping)
		return;
	if (cases_now(r->d) >= r->next_run) {
		r->next_run = next_run_after(r->d, cases_now(r->d));
		run_start(r);
	}
	ret_arm(r);
}

/* The timer for the next run; long waits are cut into hours, so a clock
 * that jumps (NTP, the test clock) is noticed. */
static void
ret_arm(struct retention *r)
{
	int64_t wait = r->next_run - cases_now(r->d);

	if (r->next_run == INT64_MAX)
		return;
	if (wait < 0)
		wait = 0;
	if (wait > 3600000)
		wait = 3600000;
	uv_timer_start(&r->timer, on_timer, (uint64_t)wait, 0);
}

int
retention_init(struct daemon *d)
{
	struct retention *r;

	if (d->cfg.retention.closed_case_years <= 0)
		return 0;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->d = d;
	uv_timer_init(d->loop, &r->timer);
	r->timer.data = r;
	r->next_run = next_run_after(d, cases_now(d));
	d->retention = r;
	ret_arm(r);
	if (d->cfg.retention.hour < 0)
		log_info("retention: cases closed more than %d year(s) are %s "
		         "when asked (POST /v1/retention/run)",
		         d->cfg.retention.closed_case_years,
		         d->cfg.retention.mode == CONFIG_RETENTION_ANONYMIZE
		                 ? "anonymized"
		                 : "purged");
	else
		log_info("retention: cases closed more than %d year(s) are %s "
		         "daily at %02d:%02d UTC",
		         d->cfg.retention.closed_case_years,
		         d->cfg.retention.mode == CONFIG_RETENTION_ANONYMIZE
		                 ? "anonymized"
		                 : "purged",
		         d->cfg.retention.hour, d->cfg.retention.minute);
	return 0;
}

void
retention_clock_moved(struct daemon *d)
{
	if (d->retention != NULL && !d->retention->closing)
		on_timer(&d->retention->timer);
}

int
retention_busy(const struct daemon *d)
{
	const struct retention *r = d->retention;

	return r != NULL && (r->reading || r->inflight > 0);
}

static void
ret_freed(uv_handle_t *h)
{
	free(h->data);
}

void
retention_close(struct daemon *d)
{
	struct retention *r = d->retention;

	if (r == NULL)
		return;
	r->closing = 1;
	uv_timer_stop(&r->timer);
	if (retention_busy(d))
		return;
	json_decref(r->page);
	r->page = NULL;
	d->retention = NULL;
	uv_close((uv_handle_t *)&r->timer, ret_freed);
}

/* --- a run -------------------------------------------------------------- */

static json_t *
report(const struct retention *r)
{
	return json_pack(
	        "{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "mode",
	        r->d->cfg.retention.mode == CONFIG_RETENTION_ANONYMIZE
	                ? "anonymize"
	                : "purge",
	        "closed_case_years", r->d->cfg.retention.closed_case_years,
	        "cutoff", (json_int_t)r->cutoff, "purged",
	        (json_int_t)r->purged, "resealed", (json_int_t)r->resealed,
	        "broken", (json_int_t)r->broken, "conflicts",
	        (json_int_t)r->conflicts, "failed", (json_int_t)r->failed,
	        "next_run", (json_int_t)r->next_run);
}

static void
run_end(struct retention *r)
{
	struct waiter *w = r->waiters;

	r->running = 0;
	r->waiters = NULL;
	json_decref(r->page);
	r->page = NULL;
	log_write(r->failed || r->broken ? LOG_WARN : LOG_INFO, NULL, NULL,
	          NULL,
	          "retention: %lld case(s) %s (%lld of them resealed first), "
	          "%lld left for a later run (%lld changed meanwhile, %lld "
	          "failed), %lld kept whole because their history does not "
	          "verify",
	          (long long)r->purged,
	          r->d->cfg.retention.mode == CONFIG_RETENTION_ANONYMIZE
	                  ? "anonymized"
	                  : "purged",
	          (long long)r->resealed, (long long)(r->conflicts + r->failed),
	          (long long)r->conflicts, (long long)r->failed,
	          (long long)r->broken);
	while (w != NULL) {
		struct waiter *next = w->next;

		api_reply_json(w->c, 200, report(r), NULL);
		free(w);
		w = next;
	}
	if (r->closing)
		retention_close(r->d);
}

static void pump(struct retention *r);

static void
page_read(int status, json_t *res, void *data)
{
	struct retention *r = data;

	r->reading = 0;
	if (status != 0) {
		json_decref(res);
		log_warn("retention: reading the closed cases failed: %s",
		         cairn_strerror(status));
		r->failed++;
		run_end(r);
		return;
	}
	json_decref(r->page);
	r->page = res;
	r->next = 0;
	if (json_array_size(res) == 0) {
		run_end(r);
		return;
	}
	pump(r);
}

static void
read_page(struct retention *r)
{
	r->reading = 1;
	if (store_retention_due(r->d->store, r->cutoff, r->after_at,
	                        r->after_id, RET_PAGE, page_read, r) != 0) {
		r->reading = 0;
		r->failed++;
		run_end(r);
	}
}

/* One purge's batch: which run, and whether it reseals the chain. */
struct purge_ctx {
	struct retention *r;
	int resealed;
};

static void
purge_done(int status, const char *msg, void *data)
{
	struct purge_ctx *ctx = data;
	struct retention *r = ctx->r;

	r->inflight--;
	if (status == 0) {
		/* a purge is no command: a family kept in memory may hold the
		 * case as it was (a child of a live application), so none is
		 * trusted after it */
		famcache_clear(r->d->famcache);
		r->purged++;
		r->resealed += ctx->resealed;
	} else if (status == CAIRN_ECONFLICT) {
		r->conflicts++;
	} else {
		r->failed++;
		log_warn("retention: a purge failed: %s",
		         msg ? msg : cairn_strerror(status));
	}
	free(ctx);
	pump(r);
}

static int
unhex(const char *h, uint8_t out[32])
{
	if (h == NULL || strlen(h) != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		unsigned v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* What an anonymized case keeps of its data: numbers and true/false at
 * the top level (amounts, counts, flags, for reports), never a string,
 * list or object (names, ids, addresses, free text). */
static json_t *
anonymized(const json_t *data)
{
	json_t *o = json_object(), *v;
	const char *k;

	json_object_foreach((json_t *)data, k, v)
	{
		if (k[0] != '_' && (json_is_number(v) || json_is_boolean(v)))
			json_object_set(o, k, v);
	}
	return o;
}

/*
 * A case whose history has links over payload texts (written before
 * payload hashes) is verified as it stands, then each link is rewritten
 * as one over its payload's hash (the same fields, chained anew), in the
 * purge's own batch; the purge event names the head it replaced.
 */
struct reseal {
	struct retention *r;
	json_t *row;
	size_t n;
	struct relink {
		int64_t seq;
		uint8_t old[32], hash[32], ph[32];
	} * ev;
	uint8_t head[32]; /* the new chain's */
	char old_head[65];
};

static void
hexs(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Builds and submits the purge of one candidate row (after its chain was
 * resealed, rs is not NULL). */
static int
purge_one(struct retention *r, const json_t *row, const struct reseal *rs)
{
	int anon = r->d->cfg.retention.mode == CONFIG_RETENTION_ANONYMIZE;
	const char *id = jstr(row, "id");
	json_t *data =
	        anon ? anonymized(json_object_get(row, "data")) : json_object();
	json_t *payload = json_pack(
	        "{s:s, s:i, s:I, s:I}", "mode", anon ? "anonymize" : "purge",
	        "closed_case_years", r->d->cfg.retention.closed_case_years,
	        "closed_at", (json_int_t)jint(row, "updated_at"), "events",
	        (json_int_t)jint(row, "history_seq"));
	char *data_text = NULL, *payload_text = NULL;
	uint8_t prev[32] = {0}, hash[32], phash[32];
	struct store_history_row ev = {0};
	struct store_purge p = {0};
	struct store_batch *b = NULL;
	struct purge_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc = -ENOMEM;

	if (payload != NULL && rs != NULL)
		json_object_set_new(payload, "resealed_from",
		                    json_string(rs->old_head));
	if (data != NULL)
		json_object_set_new(data, "_retention",
		                    json_pack("{s:s, s:I}", "mode",
		                              anon ? "anonymize" : "purge",
		                              "at", (json_int_t)r->now));
	data_text =
	        data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	payload_text =
	        payload ? json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS)
	                : NULL;
	if (ctx == NULL || id == NULL || data_text == NULL ||
	    payload_text == NULL)
		goto out;
	ctx->r = r;
	ctx->resealed = rs != NULL;
	/* a case with no history yet chains from 32 zero bytes */
	if (rs != NULL)
		memcpy(prev, rs->head, 32);
	else if (jstr(row, "history_hash") != NULL &&
	         unhex(jstr(row, "history_hash"), prev) != 0) {
		rc = CAIRN_EINVALID;
		goto out;
	}
	ev.case_id = id;
	ev.seq = jint(row, "history_seq") + 1;
	ev.at = r->now;
	ev.actor = "system:retention";
	ev.type = AUDIT_PURGE_EVENT;
	ev.payload = payload_text;
	ev.workflow_version = (int)jint(row, "version");
	if (audit_payload_hash(payload_text, phash) != 0 ||
	    audit_history_hash2(prev, id, ev.seq, ev.at, ev.actor, ev.type,
	                        NULL, NULL, ev.workflow_version, phash,
	                        hash) != 0)
		goto out;
	ev.hash = hash;
	ev.payload_hash = phash;
	p.case_id = id;
	p.revision = jint(row, "revision");
	p.data = data_text;
	p.subject = anon ? "anonymous" : "purged";
	p.event = &ev;
	b = store_batch_new();
	if (b == NULL)
		goto out;
	for (size_t i = 0; rs != NULL && i < rs->n; i++)
		if (store_batch_history_reseal(b, id, rs->ev[i].seq,
		                               rs->ev[i].old, rs->ev[i].hash,
		                               rs->ev[i].ph) != 0)
			goto out;
	if (store_batch_case_purge(b, &p) != 0)
		goto out;
	r->inflight++;
	rc = store_batch_submit(r->d->store, b, purge_done, ctx);
	b = NULL; /* the store owns it now */
	if (rc != 0) {
		r->inflight--;
		goto out;
	}
	ctx = NULL; /* purge_done frees it */
out:
	free(ctx);
	if (b != NULL)
		store_batch_free(b);
	json_decref(data);
	json_decref(payload);
	free(data_text);
	free(payload_text);
	return rc;
}

static void
reseal_free(struct reseal *rs)
{
	json_decref(rs->row);
	free(rs->ev);
	free(rs);
}

/* Verifies the stored chain in events (reseal_read) and computes the
 * new one into rs; 0, or -1 when the chain does not hold. */
static int
reseal_plan(struct reseal *rs, const json_t *events)
{
	uint8_t prev[32] = {0}, next[32] = {0}, stored[32], head[32];
	const char *id = jstr(rs->row, "id");
	const json_t *e;
	size_t i;

	rs->n = json_array_size(events);
	rs->ev = calloc(rs->n ? rs->n : 1, sizeof(*rs->ev));
	if (rs->ev == NULL || id == NULL)
		return -1;
	json_array_foreach(events, i, e)
	{
		struct relink *l = &rs->ev[i];
		const char *text = jstr(e, "payload_text");
		const char *ph_hex = jstr(e, "payload_hash");
		const char *actor = jstr(e, "actor"), *type = jstr(e, "type");
		const char *from = jstr(e, "from_status");
		const char *to = jstr(e, "to_status");
		int version = (int)jint(e, "workflow_version");
		int64_t at = jint(e, "at");
		uint8_t h[32];

		l->seq = jint(e, "seq");
		if (l->seq != (int64_t)i + 1 || text == NULL || actor == NULL ||
		    type == NULL || unhex(jstr(e, "hash"), stored) != 0)
			return -1;
		if (ph_hex != NULL) {
			/* already over its hash: the payload must match it */
			uint8_t check[32];

			if (unhex(ph_hex, l->ph) != 0 ||
			    (text[0] != '\0' &&
			     (audit_payload_hash(text, check) != 0 ||
			      memcmp(check, l->ph, 32) != 0)) ||
			    audit_history_hash2(prev, id, l->seq, at, actor,
			                        type, from, to, version, l->ph,
			                        h) != 0)
				return -1;
		} else if (audit_history_hash(prev, id, l->seq, at, actor, type,
		                              from, to, version, text,
		                              h) != 0 ||
		           audit_payload_hash(text, l->ph) != 0) {
			return -1;
		}
		if (memcmp(h, stored, 32) != 0)
			return -1;
		memcpy(prev, h, 32);
		memcpy(l->old, stored, 32);
		if (audit_history_hash2(next, id, l->seq, at, actor, type, from,
		                        to, version, l->ph, l->hash) != 0)
			return -1;
		memcpy(next, l->hash, 32);
	}
	/* and it ends where the case says */
	if ((int64_t)rs->n != jint(rs->row, "history_seq") ||
	    unhex(jstr(rs->row, "history_hash"), head) != 0 ||
	    memcmp(head, prev, 32) != 0)
		return -1;
	memcpy(rs->head, next, 32);
	hexs(prev, 32, rs->old_head);
	return 0;
}

static void pump(struct retention *r);

static void
reseal_read(int status, json_t *res, void *data)
{
	struct reseal *rs = data;
	struct retention *r = rs->r;

	r->inflight--;
	if (status != 0) {
		r->failed++;
	} else if (reseal_plan(rs, res) != 0) {
		r->broken++;
		log_warn("retention: case %s's history does not verify as it "
		         "stands; kept whole (cairn audit verify names the "
		         "break)",
		         jstr(rs->row, "id"));
	} else if (purge_one(r, rs->row, rs) != 0) {
		r->failed++;
	}
	json_decref(res);
	reseal_free(rs);
	pump(r);
}

/* Reads the case's events to reseal its chain before the purge. */
static void
reseal_start(struct retention *r, json_t *row)
{
	struct reseal *rs = calloc(1, sizeof(*rs));

	if (rs == NULL) {
		r->failed++;
		return;
	}
	rs->r = r;
	rs->row = json_incref(row);
	r->inflight++;
	if (store_retention_history(r->d->store, jstr(row, "id"), reseal_read,
	                            rs) != 0) {
		r->inflight--;
		r->failed++;
		reseal_free(rs);
	}
}

/* Starts writes up to the window; the next page once this one is done. */
static void
pump(struct retention *r)
{
	while (!r->d->stopping && r->inflight < RET_WINDOW &&
	       r->next < json_array_size(r->page)) {
		const json_t *row = json_array_get(r->page, r->next++);

		r->after_at = jint(row, "updated_at");
		snprintf(r->after_id, sizeof(r->after_id), "%s",
		         jstr(row, "id") ? jstr(row, "id") : "");
		/* links over payload texts cannot lose them and still
		 * verify: they are resealed over the payloads' hashes first */
		if (jint(row, "legacy_events") > 0) {
			reseal_start(r, (json_t *)row);
			continue;
		}
		if (purge_one(r, row, NULL) != 0)
			r->failed++;
	}
	if (r->inflight > 0)
		return;
	if (!r->d->stopping && r->next >= json_array_size(r->page))
		read_page(r);
	else if (r->d->stopping || r->next >= json_array_size(r->page))
		run_end(r);
}

static void
idem_expired(int status, const char *msg, void *data)
{
	struct retention *r = data;

	r->inflight--;
	if (status != 0)
		log_warn("retention: expiring old idempotency records "
		         "failed: %s",
		         msg ? msg : cairn_strerror(status));
	if (r->d->stopping)
		run_end(r);
	else
		read_page(r);
}

static void
run_start(struct retention *r)
{
	struct store_batch *b;

	if (r->running)
		return;
	r->running = 1;
	r->now = cases_now(r->d);
	r->cutoff = r->now -
	            (int64_t)r->d->cfg.retention.closed_case_years * YEAR_MS;
	r->after_at = -1;
	r->after_id[0] = '\0';
	r->purged = r->resealed = r->broken = r->conflicts = r->failed = 0;
	log_info("retention: a run for cases closed before %lld",
	         (long long)r->cutoff);
	/* replies kept for Idempotency-Key hold case views: they go first */
	b = store_batch_new();
	if (b != NULL && store_batch_idempotency_expire(b, r->cutoff) == 0) {
		r->inflight++;
		if (store_batch_submit(r->d->store, b, idem_expired, r) == 0)
			return;
		r->inflight--;
		b = NULL;
	}
	if (b != NULL)
		store_batch_free(b);
	read_page(r);
}

/* --- POST /v1/retention/run ---------------------------------------------- */

void
api_h_retention_run(struct api_call *c)
{
	struct retention *r = c->d->retention;
	struct waiter *w;

	if (r == NULL || r->closing) {
		api_reply_problem(c, 409, "retention-off",
		                  "retention is off: set "
		                  "retention.closed_case_years in the "
		                  "configuration",
		                  NULL, NULL);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	w->c = c;
	w->next = r->waiters;
	r->waiters = w;
	run_start(r);
}
