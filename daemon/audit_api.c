/*
 * audit_api.c: GET /v1/audit/verify (admin): cairn audit verify, run by
 * the daemon on its own database.
 *
 * The walk reads the whole history (seconds for a million cases), so it
 * runs on the thread pool over a read-only connection of its own, and one
 * at a time: the pool also serves every read the API makes, and a second
 * walk would take a second of its threads for nothing new (409). A timer
 * on the loop watches for shutdown and tells the walk to stop, so
 * SIGTERM still ends cairnd within its deadline.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "audit.h"
#include "log.h"

#define AUDIT_WATCH_MS 100

struct audit_job {
	uv_work_t w;
	uv_timer_t watch;
	struct api_call *c;
	atomic_int cancel;
	struct audit_report rep;
	struct cairn_err err;
	int rc;
};

static void
audit_work(uv_work_t *w)
{
	struct audit_job *j = w->data;

	j->rc = audit_verify(j->c->d->cfg.database, &j->cancel, &j->rep,
	                     &j->err);
}

static void
audit_watch_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
audit_done(uv_work_t *w, int status)
{
	struct audit_job *j = w->data;
	struct api_call *c = j->c;

	c->d->audits--;
	uv_close((uv_handle_t *)&j->watch, audit_watch_closed);
	if (status != 0 || j->rc == CAIRN_ECLOSED) {
		api_reply_problem(c, 503, "shutting-down",
		                  "cairnd is stopping; the audit was not "
		                  "finished",
		                  NULL, NULL);
		return;
	}
	if (j->rc != 0) {
		log_write(LOG_ERROR, c->req->request_id, NULL, NULL,
		          "audit verify: %s", j->err.msg);
		api_reply_problem(c, 500, "audit-failed", j->err.msg, NULL,
		                  NULL);
		return;
	}
	if (audit_report_broken(&j->rep))
		log_write(LOG_WARN, c->req->request_id, NULL, NULL,
		          "audit verify: %s broken at case %s: %s",
		          j->rep.r[0].name, j->rep.r[0].first,
		          j->rep.r[0].what);
	api_reply_json(c, 200, audit_report_json(&j->rep), NULL);
}

static void
audit_watch(uv_timer_t *t)
{
	struct audit_job *j = t->data;

	if (j->c->d->stopping)
		atomic_store(&j->cancel, 1);
}

void
api_h_audit_verify(struct api_call *c)
{
	struct audit_job *j;

	if (c->d->audits > 0) {
		api_reply_problem(c, 409, "audit-running",
		                  "an audit is running already; its result "
		                  "will be the same",
		                  NULL, NULL);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	j->c = c;
	atomic_init(&j->cancel, 0);
	j->w.data = j;
	j->watch.data = j;
	uv_timer_init(c->d->loop, &j->watch);
	if (uv_queue_work(c->d->loop, &j->w, audit_work, audit_done) != 0) {
		uv_close((uv_handle_t *)&j->watch, audit_watch_closed);
		api_reply_problem(c, 503, "overloaded",
		                  "the audit could not be started", NULL, NULL);
		return;
	}
	c->d->audits++;
	uv_timer_start(&j->watch, audit_watch, AUDIT_WATCH_MS, AUDIT_WATCH_MS);
}
