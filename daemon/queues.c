/*
 * queues.c: review queues, leases, caseloads and the alert inbox: the
 * HTTP handlers, and the lease timer that puts abandoned files back.
 *
 * Claims are decided on the store's writer thread (store_batch_lease_claim)
 * so two claimers never get the same file, and a claim touches only the
 * leases table: it never moves the case's revision, so it cannot race the
 * case's own commands. Expiry goes through cases_submit as a history note
 * whose batch also deletes the lease, but only if it is still the one that
 * ran out: a renewal or a decision in between wins.
 */
#include "queues.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../adapters/adapter.h"
#include "../adapters/mail.h"
#include "../adapters/outbox.h"
#include "alertmail.h"
#include "api_int.h"
#include "calendar.h"
#include "cases.h"
#include "daemon.h"
#include "log.h"
#include "privacy.h"

#define LEASE_SCAN_PAGE 64
#define CASELOAD_MAX    100000 /* students in one request */

struct queues {
	struct daemon *d;
	struct calendars cals; /* award years, from queues.deadlines */
	/* office id -> {supervisor, staff}: every roster change goes
	 * through this process, so claims need not read it each time */
	json_t *offices;
	uint64_t offices_gen; /* bumped by each roster change */
	uv_timer_t timer;
	int64_t timer_due; /* 0: not armed */
	int scanning;
	int inflight; /* expiry commands of this scan not yet done */
	int more;     /* look again when this scan ends */
	int expired;  /* leases this scan ended */
	int checked;  /* the alert webhook's adapter was looked for */
	int64_t next_due;
};

/* --- small helpers -------------------------------------------------------- */

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int64_t
jint(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* The value of name in the request's query, percent-decoded into buf;
 * NULL when absent. Returns "" (and sets *bad) when malformed. */
static const char *
query_get(const struct api_call *c, const char *name, char *buf, size_t len,
          int *bad)
{
	const char *q = c->req->query, *p = q;
	size_t nl = strlen(name);

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);

		if (seg > nl && !strncmp(p, name, nl) && p[nl] == '=') {
			const char *v = p + nl + 1;
			size_t o = 0;

			for (; v < p + seg; v++) {
				unsigned x;

				if (o + 1 >= len) {
					*bad = 1;
					return "";
				}
				if (*v == '%') {
					if (v + 2 >= p + seg ||
					    !isxdigit((unsigned char)v[1]) ||
					    !isxdigit((unsigned char)v[2]) ||
					    sscanf(v + 1, "%2x", &x) != 1 ||
					    x == 0) {
						*bad = 1;
						return "";
					}
					buf[o++] = (char)x;
					v += 2;
				} else {
					buf[o++] = *v == '+' ? ' ' : *v;
				}
			}
			buf[o] = '\0';
			return buf;
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

/* Rejects query parameters other than those listed (NULL-terminated). */
static int
query_only(struct api_call *c, const char *const *names)
{
	const char *p = c->req->query;

	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', seg);
		size_t kl = eq ? (size_t)(eq - p) : seg;
		int ok = 0;

		for (int i = 0; names[i]; i++)
			if (strlen(names[i]) == kl && !strncmp(p, names[i], kl))
				ok = 1;
		if (!ok) {
			char d[200], list[120] = "";

			for (int i = 0; names[i]; i++)
				snprintf(list + strlen(list),
				         sizeof(list) - strlen(list), "%s%s",
				         i ? ", " : "", names[i]);
			snprintf(d, sizeof(d),
			         "unknown parameter '%.*s'; expected %s",
			         (int)(kl > 40 ? 40 : kl), p, list);
			api_reply_problem(c, 400, "bad-query", d, NULL, NULL);
			return -1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* Whether the route scopes the caller to an office or campus (its own
 * queues, files and alerts) rather than everything (admin). */
static int
office_scoped(const struct api_call *c)
{
	return api_scope(c) == AUTH_SCOPE_OFFICE ||
	       api_scope(c) == AUTH_SCOPE_CAMPUS;
}

/* The roles that may act on cases waiting in queue q (the roles of the
 * transitions out of every status that names it, in every loaded
 * version); 0 when no loaded workflow names the queue. */
static unsigned
queue_roles(const struct daemon *d, const char *q, int *known)
{
	unsigned roles = 0;

	*known = 0;
	for (int e = 0; e < d->reg.n; e++) {
		const struct wf_entry *en = &d->reg.entries[e];

		for (int v = 0; v < en->nversions; v++) {
			const struct wf_def *def = en->versions[v].def;

			for (int s = 0; s < def->nstatuses; s++) {
				if (def->statuses[s].queue == NULL ||
				    strcmp(def->statuses[s].queue, q) != 0)
					continue;
				*known = 1;
				for (int t = 0; t < def->ntransitions; t++)
					for (int f = 0;
					     f < def->transitions[t].nfrom; f++)
						if (def->transitions[t]
						            .from[f] == s)
							roles |=
							        def->transitions[t]
							                .roles;
			}
		}
	}
	return roles;
}

/*
 * Which office's queue q the caller works: its scope for an office role,
 * ?office= for an admin. Replies and returns NULL when the queue is
 * unknown, not the caller's role's, or (admin) no office is named.
 */
static const char *
queue_owner(struct api_call *c, const char *q, char *buf, size_t len)
{
	int known, bad = 0;
	unsigned roles = queue_roles(c->d, q, &known);
	const char *office;
	char d[256];

	if (!known) {
		snprintf(d, sizeof(d),
		         "no loaded workflow has a queue named '%.64s'", q);
		api_reply_problem(c, 404, "unknown-queue", d, NULL, NULL);
		return NULL;
	}
	if (api_scope(c) != AUTH_SCOPE_NONE) {
		/* the workflows say which roles work a queue */
		if (!(roles & ROLE_BIT(c->who.role))) {
			snprintf(d, sizeof(d),
			         "queue '%.64s' is not worked by the %s role",
			         q, auth_role_name(c->who.role));
			api_reply_problem(c, 403, "not-your-queue", d, NULL,
			                  NULL);
			return NULL;
		}
		snprintf(buf, len, "%s", c->who.scope);
		return buf;
	}
	office = query_get(c, "office", buf, len, &bad);
	if (office == NULL || bad || office[0] == '\0') {
		api_reply_problem(c, 422, "office-required",
		                  "an admin names the office whose queue it "
		                  "is: ?office=<id>",
		                  NULL, NULL);
		return NULL;
	}
	return office;
}

/* ?for=<duration>: the lease length asked for, or the default. */
static int
lease_length(struct api_call *c, int64_t *ms)
{
	char buf[32], d[200];
	int bad = 0;
	const char *v = query_get(c, "for", buf, sizeof(buf), &bad);

	*ms = c->d->cfg.queues.lease_ms;
	if (v == NULL && !bad)
		return 0;
	if (bad || config_parse_duration(v, ms) != 0 || *ms <= 0 ||
	    *ms > c->d->cfg.queues.max_lease_ms) {
		snprintf(d, sizeof(d),
		         "for: expected a duration such as 15m, at most "
		         "%lld minutes",
		         (long long)(c->d->cfg.queues.max_lease_ms / 60000));
		api_reply_problem(c, 422, "invalid-lease", d, NULL, NULL);
		return -1;
	}
	return 0;
}

/* --- what a status can hold ------------------------------------------------ */

static int
has_alert(const struct wf_action *a, int n)
{
	for (int i = 0; i < n; i++)
		/* an evaluation that needs review raises an alert too */
		if (a[i].kind == WF_ACT_ALERT || a[i].kind == WF_ACT_RULE)
			return 1;
	return 0;
}

int
queues_status_may_alert(const struct wf_def *def, int s)
{
	const struct wf_status *st = &def->statuses[s];

	if (st->queue != NULL || has_alert(st->enter, st->nenter))
		return 1;
	for (int t = 0; t < def->ntransitions; t++) {
		const struct wf_transition *tr = &def->transitions[t];
		int leads = tr->to == s;

		for (int k = 0; !leads && k < tr->nto_cases; k++)
			leads = tr->to_cases[k].status == s;
		if (leads && has_alert(tr->actions, tr->nactions))
			return 1;
	}
	return 0;
}

/* --- due times ---------------------------------------------------------------- */

int64_t
queues_due_at(const struct daemon *d, int64_t sla_ms, int queued,
              const json_t *data, int64_t now)
{
	const struct calendars *cals = d->queues ? &d->queues->cals : NULL;
	const struct calendar *cal =
	        cals ? calendars_find(cals, jstr(data, "award_year"), now)
	             : NULL;
	int64_t due = 0, dl;

	if (sla_ms > 0) {
		if (d->cfg.queues.sla_business_days && cal != NULL &&
		    sla_ms % 86400000 == 0)
			due = calendar_add_business_days(
			        cal, now, (int)(sla_ms / 86400000));
		else
			due = now + sla_ms;
	}
	/* the office's work must be done before the student's date */
	if (queued && cal != NULL &&
	    (dl = calendar_deadline(cal, jstr(data, "deadline"))) > 0 &&
	    (due == 0 || dl < due))
		due = dl;
	return due;
}

static void
calendars_reply(struct api_call *c)
{
	const struct calendars *cals = &c->d->queues->cals;
	json_t *out = json_array();

	for (int i = 0; out != NULL && i < cals->n; i++) {
		const struct calendar *cal = &cals->v[i];
		json_t *dls = json_array(), *hol = json_array();

		for (int k = 0; k < cal->ndeadlines; k++)
			json_array_append_new(
			        dls, json_pack("{s:s, s:s, s:I, s:s}", "name",
			                       cal->deadlines[k].name, "date",
			                       cal->deadlines[k].date, "at",
			                       (json_int_t)cal->deadlines[k].at,
			                       "description",
			                       cal->deadlines[k].description));
		for (int k = 0; k < cal->nholidays; k++)
			json_array_append_new(hol,
			                      json_integer(cal->holidays[k]));
		json_array_append_new(
		        out, json_pack("{s:s, s:s, s:I, s:I, s:o, s:o}",
		                       "award_year", cal->award_year,
		                       "time_zone", "America/Los_Angeles",
		                       "opens", (json_int_t)cal->start, "ends",
		                       (json_int_t)cal->end, "deadlines", dls,
		                       "holiday_days", hol));
	}
	api_reply_json(c, 200, json_pack("{s:o}", "calendars", out), NULL);
}

void
api_h_calendars(struct api_call *c)
{
	if (c->d->queues == NULL) {
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
		return;
	}
	calendars_reply(c);
}

/* --- the SLA ladder --------------------------------------------------------- */

static const struct {
	const char *timer, *kind, *severity, *to;
} sla_steps[] = {
        {"sla.warning", "sla_warning", "warning", "office"},
        {"sla.due", "sla_breached", "critical", "office"},
        {"sla.escalate", "sla_escalated", "critical", "supervisor"},
};

int
queues_is_sla_timer(const char *name)
{
	return name != NULL && !strncmp(name, "sla.", 4);
}

/* When step i of the ladder of a case due at `due` comes. */
static int64_t
sla_step_at(const struct daemon *d, int i, int64_t due)
{
	return i == 0   ? due - d->cfg.queues.sla_warn_before_ms
	       : i == 1 ? due
	                : due + d->cfg.queues.sla_escalate_after_ms;
}

/* One timer at a time: the step from `first` on that is still ahead of
 * now (the last one always is set, however late), so entering a status
 * costs one timer row, and each step sets the next when it fires. */
static int
sla_arm(const struct daemon *d, struct store_batch *b, const char *case_id,
        int first, int64_t now, int64_t due, int64_t *earliest)
{
	int i = first;
	int64_t at;

	/* a warning that would come before the case even arrived says
	 * nothing: the SLA is shorter than the warning */
	if (i == 0 && sla_step_at(d, 0, due) <= now)
		i = 1;
	at = sla_step_at(d, i, due);
	if (store_batch_timer_set(b, case_id, sla_steps[i].timer, at,
	                          sla_steps[i].timer) != 0)
		return -ENOMEM;
	if (*earliest == 0 || at < *earliest)
		*earliest = at;
	return 0;
}

int
queues_sla_timers(const struct daemon *d, struct store_batch *b,
                  const char *case_id, int64_t now, int64_t due,
                  int64_t *earliest)
{
	return sla_arm(d, b, case_id, 0, now, due, earliest);
}

int
queues_sla_alert(const struct daemon *d, struct store_batch *b,
                 const json_t *row, const char *timer, int64_t now,
                 int64_t *earliest)
{
	const char *status = jstr(row, "status");
	int64_t due = jint(row, "due_at");
	time_t secs = (time_t)(due / 1000);
	char msg[300], when[40];
	struct tm tm;
	int rc;

	for (int i = 0; i < 3; i++) {
		if (strcmp(timer, sla_steps[i].timer) != 0)
			continue;
		gmtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
		snprintf(msg, sizeof(msg),
		         i == 0   ? "The file in %s is due by %s."
		         : i == 1 ? "The file in %s missed its SLA (due %s)."
		                  : "The file in %s is overdue since %s; "
		                    "escalated to the office's supervisor.",
		         status ? status : "?", when);
		rc = store_batch_alert_add(b, jstr(row, "id"),
		                           sla_steps[i].kind,
		                           sla_steps[i].severity,
		                           sla_steps[i].to, msg, status, now);
		if (rc == 0 && d->cfg.queues.alert_webhook[0])
			rc = store_batch_alert_notify(
			        b, d->cfg.queues.alert_webhook, now);
		/* the next step, while the case still has a due time */
		if (rc == 0 && i < 2 && due > 0)
			rc = sla_arm(d, b, jstr(row, "id"), i + 1, now, due,
			             earliest);
		return rc;
	}
	return 0; /* a step this version does not know: history only */
}

/* --- lease checks on events ---------------------------------------------- */

int
queues_in_caseload(const json_t *counselors, const char *counselor)
{
	size_t i;
	json_t *v;

	json_array_foreach(counselors, i, v)
	{
		if (json_is_string(v) &&
		    !strcmp(json_string_value(v), counselor))
			return 1;
	}
	return 0;
}

int
queues_lease_applies(const struct api_call *c)
{
	/* staff see and honour leases; a student's own events and an
	 * institution's are not held back by them */
	return api_scope(c) != AUTH_SCOPE_OWN &&
	       api_scope(c) != AUTH_SCOPE_ADAPTER;
}

int
queues_lease_blocks(struct api_call *c, const json_t *lease)
{
	char d[256];

	if (!json_is_object(lease) || !queues_lease_applies(c) ||
	    !strcmp(jstr(lease, "holder"), c->who.token_id) ||
	    jint(lease, "until") <= cases_now(c->d))
		return 0;
	snprintf(d, sizeof(d),
	         "the case is leased to %s until %lld; only the lease holder "
	         "may decide it",
	         jstr(lease, "holder"), (long long)jint(lease, "until"));
	api_reply_problem(c, 409, "leased", d,
	                  json_pack("{s:s, s:I}", "holder",
	                            jstr(lease, "holder"), "until",
	                            (json_int_t)jint(lease, "until")),
	                  NULL);
	return 1;
}

/* --- the lease timer -------------------------------------------------------- */

static void leases_due(int status, json_t *res, void *data);

/* Once the adapters are loaded: a webhook that names no loaded adapter,
 * or one without a notify operation, leaves every alert's row waiting in
 * the outbox; say so at once rather than let rows pile up unseen. */
static void
check_webhook(struct queues *q)
{
	const char *name = q->d->cfg.queues.alert_webhook;
	const struct adp_def *def;

	q->checked = 1;
	if (name[0] == '\0')
		return;
	def = outbox_adapter(q->d, name);
	if (def == NULL || adp_op_find(def, "notify") == NULL)
		log_write(LOG_WARN, NULL, NULL, NULL,
		          "queues.alert_webhook: adapter '%s' %s; alerts' "
		          "webhook rows wait in the outbox until it is",
		          name,
		          def == NULL ? "is not loaded"
		                      : "has no operation named notify");
}

static void
on_lease_timer(uv_timer_t *t)
{
	struct queues *q = t->data;

	if (!q->checked)
		check_webhook(q);
	q->timer_due = 0;
	queues_scan(q->d);
}

static void
leases_arm(struct queues *q, int64_t due)
{
	int64_t now = cases_now(q->d);

	if (q->d->stopping || due <= 0)
		return;
	if (q->scanning) {
		if (q->next_due == 0 || due < q->next_due)
			q->next_due = due;
		return;
	}
	if (q->timer_due != 0 && q->timer_due <= due)
		return;
	q->timer_due = due;
	uv_timer_start(&q->timer, on_lease_timer,
	               due > now ? (uint64_t)(due - now) : 0, 0);
}

void
queues_scan(struct daemon *d)
{
	struct queues *q = d->queues;

	if (q == NULL || d->stopping)
		return;
	alertmail_kick(d);
	if (q->scanning) {
		q->more = 1;
		return;
	}
	q->scanning = 1;
	q->more = 0;
	q->expired = 0;
	q->next_due = 0;
	uv_timer_stop(&q->timer);
	q->timer_due = 0;
	if (store_leases_due(d->store, cases_now(d), LEASE_SCAN_PAGE,
	                     leases_due, q) != 0)
		q->scanning = 0;
}

static void
leases_scan_end(struct queues *q)
{
	int64_t due = q->next_due;

	q->scanning = 0;
	if (q->more && q->expired > 0) {
		q->more = 0;
		queues_scan(q->d);
		return;
	}
	if (q->more) {
		/* a page of which none could end (the store failing): try
		 * again in a second rather than spin on the same rows */
		q->more = 0;
		due = cases_now(q->d) + 1000;
	}
	leases_arm(q, due);
}

struct expiry {
	struct queues *q;
	char case_id[40];
	char holder[40];
	int64_t now;
};

static int
expiry_extend(struct store_batch *b, const json_t *row, void *arg)
{
	struct expiry *x = arg;

	return store_batch_lease_expire(b, x->case_id, x->holder, x->now);
}

static void
expiry_done(int status, const char *body, void *arg)
{
	struct expiry *x = arg;
	struct queues *q = x->q;

	if (status == 200) {
		q->expired++;
		log_write(LOG_INFO, NULL, x->case_id, NULL,
		          "lease of %s ran out; the file is back in its queue",
		          x->holder);
	} else if (status == 409) {
		q->expired++; /* nothing left to do for it either */
		log_write(LOG_DEBUG, NULL, x->case_id, NULL,
		          "lease renewed or ended before it could expire");
	} else if (status != 404) {
		/* the lease stays: try again shortly rather than spin */
		log_write(LOG_WARN, NULL, x->case_id, NULL,
		          "lease expiry failed: %s", body ? body : "?");
		if (q->next_due == 0 || cases_now(q->d) + 1000 < q->next_due)
			q->next_due = cases_now(q->d) + 1000;
	}
	free(x);
	if (--q->inflight == 0)
		leases_scan_end(q);
}

static void
leases_due(int status, json_t *res, void *data)
{
	struct queues *q = data;
	struct daemon *d = q->d;
	json_t *due = json_object_get(res, "due"), *l;
	int64_t next;
	size_t i;

	if (status != 0 || d->stopping) {
		json_decref(res);
		q->scanning = 0;
		if (status != 0) {
			log_error("lease scan failed: %s; trying again in a "
			          "second",
			          cairn_strerror(status));
			leases_arm(q, cases_now(d) + 1000);
		}
		return;
	}
	next = json_is_integer(json_object_get(res, "next_due"))
	               ? jint(res, "next_due")
	               : 0;
	if (next > 0 && (q->next_due == 0 || next < q->next_due))
		q->next_due = next;
	if (json_array_size(due) == LEASE_SCAN_PAGE)
		q->more = 1;
	q->inflight = (int)json_array_size(due) + 1;
	json_array_foreach(due, i, l)
	{
		struct expiry *x = calloc(1, sizeof(*x));
		json_t *note;
		struct cases_req r = {0};

		if (x == NULL) {
			q->inflight--;
			continue;
		}
		x->q = q;
		x->now = cases_now(d);
		snprintf(x->case_id, sizeof(x->case_id), "%s",
		         jstr(l, "case_id"));
		snprintf(x->holder, sizeof(x->holder), "%s", jstr(l, "holder"));
		note = json_pack("{s:s, s:I, s:s, s:s}", "holder",
		                 jstr(l, "holder"), "until",
		                 (json_int_t)jint(l, "until"), "queue",
		                 jstr(l, "queue"), "owner", jstr(l, "owner"));
		r.case_id = x->case_id;
		r.type = "lease.expired";
		r.data = note;
		r.actor = "system:leases";
		r.note = 1;
		r.extend = expiry_extend;
		r.done = expiry_done;
		r.arg = x;
		if (note == NULL || cases_submit(d, &r) != 0) {
			free(x);
			q->inflight--;
			q->more = 1;
		}
		json_decref(note);
	}
	json_decref(res);
	if (--q->inflight == 0)
		leases_scan_end(q);
}

int
queues_init(struct daemon *d)
{
	struct queues *q = calloc(1, sizeof(*q));
	struct cairn_err err = {0};
	char msg[1200];

	if (q == NULL)
		return -ENOMEM;
	q->d = d;
	if (calendars_load(d->cfg.queues.deadlines, &q->cals, &err) != 0) {
		cairn_err_format(&err, msg, sizeof(msg));
		log_error("%s", msg);
		free(q);
		return CAIRN_EINVALID;
	}
	if (q->cals.n > 0)
		log_info("%d award-year calendar%s from %s", q->cals.n,
		         q->cals.n == 1 ? "" : "s", d->cfg.queues.deadlines);
	q->offices = json_object();
	if (q->offices == NULL) {
		calendars_free(&q->cals);
		free(q);
		return -ENOMEM;
	}
	uv_timer_init(d->loop, &q->timer);
	q->timer.data = q;
	d->queues = q;
	/* leases that ran out while cairnd was down: after the
	 * definitions load, on the loop's first turn */
	q->timer_due = 1;
	uv_timer_start(&q->timer, on_lease_timer, 0, 0);
	return alertmail_init(d);
}

static void
queues_closed(uv_handle_t *h)
{
	struct queues *q = h->data;

	json_decref(q->offices);
	calendars_free(&q->cals);
	free(q);
}

void
queues_close(struct daemon *d)
{
	struct queues *q = d->queues;

	alertmail_close(d);
	if (q == NULL)
		return;
	d->queues = NULL;
	uv_timer_stop(&q->timer);
	uv_close((uv_handle_t *)&q->timer, queues_closed);
}

int
queues_busy(const struct daemon *d)
{
	return alertmail_busy(d) ||
	       (d->queues != NULL &&
	        (d->queues->scanning || d->queues->inflight > 0));
}

/* --- GET /v1/queues ---------------------------------------------------------- */

struct qlist {
	struct api_call *c;
	int64_t now;
};

static void
summary_read(int status, json_t *res, void *data)
{
	struct api_call *c = data;
	json_t *out, *row, *seen;
	size_t i;

	if (status != 0) {
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	/* every queue the caller's role works shows, empty ones too */
	out = json_array();
	seen = json_object();
	json_array_foreach(res, i, row)
	{
		int known;
		unsigned roles = queue_roles(c->d, jstr(row, "queue"), &known);

		if (api_scope(c) != AUTH_SCOPE_NONE &&
		    !(roles & ROLE_BIT(c->who.role)))
			continue;
		json_object_set_new(seen, jstr(row, "queue"), json_true());
		json_array_append(out, row);
	}
	if (office_scoped(c))
		for (int e = 0; e < c->d->reg.n; e++) {
			const struct wf_entry *en = &c->d->reg.entries[e];
			const struct wf_def *def =
			        en->versions[en->current].def;

			for (int s = 0; s < def->nstatuses; s++) {
				const char *qn = def->statuses[s].queue;
				int known;

				if (qn == NULL ||
				    json_object_get(seen, qn) != NULL ||
				    !(queue_roles(c->d, qn, &known) &
				      ROLE_BIT(c->who.role)))
					continue;
				json_object_set_new(seen, qn, json_true());
				json_array_append_new(
				        out, json_pack("{s:s, s:s, s:i, s:n, "
				                       "s:i, s:i}",
				                       "queue", qn, "owner",
				                       c->who.scope, "depth", 0,
				                       "oldest", "breached", 0,
				                       "claimed", 0));
			}
		}
	json_decref(seen);
	json_decref(res);
	api_reply_json(c, 200,
	               json_pack("{s:o, s:I}", "queues", out, "now",
	                         (json_int_t)cases_now(c->d)),
	               NULL);
}

void
api_h_queue_list(struct api_call *c)
{
	static const char *const params[] = {"office", NULL};
	char buf[AUTH_SCOPE_MAX + 8];
	const char *owner = NULL;
	int bad = 0;

	if (query_only(c, params) != 0)
		return;
	if (office_scoped(c))
		owner = c->who.scope;
	else if ((owner = query_get(c, "office", buf, sizeof(buf), &bad)) &&
	         (bad || owner[0] == '\0')) {
		api_reply_problem(c, 400, "bad-query", "office: an office id",
		                  NULL, NULL);
		return;
	}
	if (store_queue_summary(c->d->store, owner, cases_now(c->d),
	                        summary_read, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

/* --- GET /v1/queues/{q} ------------------------------------------------------ */

static void
items_read(int status, json_t *res, void *data)
{
	struct api_call *c = data;
	int64_t now = cases_now(c->d);
	json_t *row;
	size_t i, n = json_array_size(res);
	struct privacy_record *recs;

	if (status != 0) {
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	/* a queue's page names students and where their files stand:
	 * each is on the disclosure log */
	if ((recs = privacy_records_of(c, res, "id", res)) == NULL)
		return;
	json_array_foreach(res, i, row)
	{
		/* time left to the deadline: negative once it is missed */
		json_object_set_new(
		        row, "time_left_ms",
		        json_is_integer(json_object_get(row, "due_at"))
		                ? json_integer(jint(row, "due_at") - now)
		                : json_null());
		if (json_is_integer(json_object_get(row, "lease_until")) &&
		    jint(row, "lease_until") <= now) {
			/* ran out; the timer is about to put it back */
			json_object_set_new(row, "holder", json_null());
			json_object_set_new(row, "lease_until", json_null());
		}
	}
	/* the rows are copied before this returns */
	privacy_disclose_reply(c, recs, n,
	                       json_pack("{s:s, s:o, s:I}", "queue",
	                                 c->m.params[0], "items", res, "now",
	                                 (json_int_t)now),
	                       0);
	free(recs);
}

void
api_h_queue_get(struct api_call *c)
{
	static const char *const params[] = {"office", "limit", NULL};
	char obuf[AUTH_SCOPE_MAX + 8], lbuf[16];
	const char *owner, *lim;
	int bad = 0, limit = 50;

	if (query_only(c, params) != 0)
		return;
	lim = query_get(c, "limit", lbuf, sizeof(lbuf), &bad);
	if (lim != NULL) {
		limit = atoi(lim);
		if (bad || limit < 1 || limit > 1000) {
			api_reply_problem(
			        c, 400, "bad-query",
			        "limit: a whole number from 1 to 1000", NULL,
			        NULL);
			return;
		}
	}
	owner = queue_owner(c, c->m.params[0], obuf, sizeof(obuf));
	if (owner == NULL)
		return;
	if (store_queue_items(c->d->store, c->m.params[0], owner, limit,
	                      items_read, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

/* --- POST /v1/queues/{q}/claim ------------------------------------------------- */

struct claim {
	struct api_call *c;
	uint64_t gen; /* the roster cache's, when the read began */
	struct store_claim out;
	char queue[ROUTER_PARAM_MAX], owner[AUTH_SCOPE_MAX + 8];
	int64_t at, until;
};

static json_t *
lease_json(const char *case_id, const char *queue, const char *owner,
           const char *holder, int64_t at, int64_t until)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "case_id", case_id,
	                 "queue", queue, "owner", owner, "holder", holder,
	                 "claimed_at", (json_int_t)at, "until",
	                 (json_int_t)until);
}

static void
claimed_case_read(int status, json_t *res, void *data)
{
	struct claim *k = data;
	struct api_call *c = k->c;
	json_t *cs = json_object_get(res, "case");
	json_t *o;

	/* the lease is durable whatever this read says */
	o = json_pack("{s:o}", "lease",
	              lease_json(k->out.case_id, k->queue, k->owner,
	                         c->who.token_id, k->at, k->until));
	free(k);
	if (status == 0 && o != NULL) {
		struct privacy_record rec = {jstr(cs, "id"),
		                             jstr(cs, "subject")};

		json_object_del(cs, "history_hash");
		privacy_redact(c->d, c->who.role, PRIV_CASE,
		               jstr(cs, "workflow"), (int)jint(cs, "version"),
		               cs);
		json_object_set(o, "case", cs);
		/* the file goes out only once its disclosure is durable */
		privacy_disclose_reply(c, &rec, 1, o, 0);
		json_decref(res);
		return;
	}
	json_decref(res);
	if (o == NULL)
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
	else
		api_reply_json(c, 200, o, NULL);
}

static void
claim_committed(int status, const char *msg, void *data)
{
	struct claim *k = data;
	struct api_call *c = k->c;

	if (status != 0) {
		free(k);
		api_reply_store_error(c, status, msg);
		return;
	}
	if (!k->out.found) {
		free(k);
		http_respond(c->req, 204, NULL, NULL, NULL, 0);
		api_call_free(c);
		return;
	}
	if (c->d->queues != NULL)
		leases_arm(c->d->queues, k->until);
	if (store_case_get(c->d->store, k->out.case_id, claimed_case_read, k) !=
	    0)
		claimed_case_read(CAIRN_ECLOSED, NULL, k);
}

/* When the office keeps a roster (res), only those on it (and its
 * supervisor, and admins) claim its files. */
static void
claim_decide(struct claim *k, const json_t *res)
{
	struct api_call *c = k->c;
	const json_t *staff = json_object_get(res, "staff");
	const char *sup = jstr(res, "supervisor");
	struct store_batch *b;

	if (api_scope(c) != AUTH_SCOPE_NONE && json_array_size(staff) > 0 &&
	    !queues_in_caseload(staff, c->who.token_id) &&
	    !(sup && !strcmp(sup, c->who.token_id))) {
		char d[200];

		snprintf(d, sizeof(d),
		         "office %s keeps a staff list and your token is not "
		         "on it",
		         k->owner);
		free(k);
		api_reply_problem(c, 403, "not-on-staff", d, NULL, NULL);
		return;
	}
	b = store_batch_new();
	if (b == NULL ||
	    store_batch_lease_claim(b, k->queue, k->owner, c->who.token_id,
	                            k->at, k->until, &k->out) != 0) {
		free(k);
		store_batch_free(b);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (store_batch_submit(c->d->store, b, claim_committed, k) != 0) {
		free(k);
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
	}
}

static void
claim_office_read(int status, json_t *res, void *data)
{
	struct claim *k = data;
	struct queues *q = k->c->d->queues;

	if (status != 0) {
		struct api_call *c = k->c;

		json_decref(res);
		free(k);
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	/* kept unless a roster changed while it was read */
	if (q != NULL && q->offices_gen == k->gen)
		json_object_set(q->offices, k->owner, res);
	claim_decide(k, res);
	json_decref(res);
}

void
api_h_queue_claim(struct api_call *c)
{
	static const char *const params[] = {"office", "for", NULL};
	struct claim *k;
	const char *owner;
	char obuf[AUTH_SCOPE_MAX + 8];
	int64_t ms;

	if (query_only(c, params) != 0 || lease_length(c, &ms) != 0)
		return;
	owner = queue_owner(c, c->m.params[0], obuf, sizeof(obuf));
	if (owner == NULL)
		return;
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	k->c = c;
	snprintf(k->queue, sizeof(k->queue), "%s", c->m.params[0]);
	snprintf(k->owner, sizeof(k->owner), "%s", owner);
	k->at = cases_now(c->d);
	k->until = k->at + ms;
	{
		const json_t *roster =
		        c->d->queues ? json_object_get(c->d->queues->offices,
		                                       k->owner)
		                     : NULL;

		if (roster != NULL) {
			claim_decide(k, roster);
			return;
		}
	}
	k->gen = c->d->queues ? c->d->queues->offices_gen : 0;
	if (store_office_get(c->d->store, k->owner, 0, claim_office_read, k) !=
	    0) {
		free(k);
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
	}
}

/* --- POST and DELETE /v1/cases/{id}/lease --------------------------------- */

struct lease_op {
	struct api_call *c;
	int release;
	int64_t until;
	json_t *lease; /* as read */
};

static void
lease_op_committed(int status, const char *msg, void *data)
{
	struct lease_op *k = data;
	struct api_call *c = k->c;
	json_t *l = k->lease;

	free(k);
	if (status == CAIRN_ENOTFOUND) {
		json_decref(l);
		api_reply_problem(c, 409, "not-leased",
		                  "the lease ended meanwhile (it ran out, or "
		                  "the case was decided or released)",
		                  NULL, NULL);
		return;
	}
	if (status != 0) {
		json_decref(l);
		api_reply_store_error(c, status, msg);
		return;
	}
	if (json_integer_value(json_object_get(l, "until")) == 0) {
		json_decref(l);
		http_respond(c->req, 204, NULL, NULL, NULL, 0);
		api_call_free(c);
		return;
	}
	if (c->d->queues != NULL)
		leases_arm(c->d->queues, jint(l, "until"));
	api_reply_json(c, 200, l, NULL);
}

/* 409: the lease is someone else's. Ends the call. */
static void
lease_held(struct lease_op *k)
{
	struct api_call *c = k->c;
	char d[256];

	snprintf(d, sizeof(d),
	         "the lease is held by %s until %lld; only its holder may %s "
	         "it",
	         jstr(k->lease, "holder"), (long long)jint(k->lease, "until"),
	         k->release ? "release" : "renew");
	api_reply_problem(c, 409, "lease-held", d,
	                  json_pack("{s:s, s:I}", "holder",
	                            jstr(k->lease, "holder"), "until",
	                            (json_int_t)jint(k->lease, "until")),
	                  NULL);
	json_decref(k->lease);
	free(k);
}

/* Renews or releases the lease read into k->lease (breaking: whoever
 * holds it). Ends the call. */
static void
lease_apply(struct lease_op *k, int breaking)
{
	struct api_call *c = k->c;
	struct store_batch *b = store_batch_new();
	int rc;

	if (b == NULL) {
		rc = -ENOMEM;
	} else if (k->release) {
		rc = store_batch_lease_release(
		        b, c->m.params[0], breaking ? NULL : c->who.token_id);
		json_object_set_new(k->lease, "until", json_integer(0));
	} else {
		rc = store_batch_lease_renew(b, c->m.params[0], c->who.token_id,
		                             k->until);
		json_object_set_new(k->lease, "until", json_integer(k->until));
	}
	if (rc != 0) {
		store_batch_free(b);
		json_decref(k->lease);
		free(k);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (store_batch_submit(c->d->store, b, lease_op_committed, k) != 0) {
		json_decref(k->lease);
		free(k);
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
	}
}

static void
lease_office_read(int status, json_t *res, void *data)
{
	struct lease_op *k = data;
	const char *sup = jstr(res, "supervisor");
	int ok = status == 0 && sup != NULL && sup[0] != '\0' &&
	         !strcmp(sup, k->c->who.token_id);

	json_decref(res);
	if (ok)
		lease_apply(k, 1);
	else
		lease_held(k);
}

static void
lease_case_read(int status, json_t *res, void *data)
{
	struct lease_op *k = data;
	struct api_call *c = k->c;
	const json_t *cs = json_object_get(res, "case");
	json_t *lease = json_object_get(res, "lease");
	struct auth_resource r = {0};

	if (status != 0) {
		json_decref(res);
		free(k);
		api_reply_store_error(c, status,
		                      status == CAIRN_ENOTFOUND
		                              ? "no such case"
		                              : cairn_strerror(status));
		return;
	}
	r.subject = jstr(cs, "subject");
	r.owner = jstr(cs, "owner");
	r.in_caseload = api_scope(c) == AUTH_SCOPE_CASELOAD &&
	                queues_in_caseload(json_object_get(res, "counselors"),
	                                   c->who.scope);
	if (r.owner != NULL && r.owner[0] == '\0')
		r.owner = NULL;
	if (api_authorize(c, &r, "case") != 0) {
		json_decref(res);
		free(k);
		return;
	}
	if (!json_is_object(lease) ||
	    (!k->release && jint(lease, "until") <= cases_now(c->d))) {
		json_decref(res);
		free(k);
		api_reply_problem(c, 409, "not-leased",
		                  "the case is not leased (or its lease ran "
		                  "out): claim it from its queue",
		                  NULL, NULL);
		return;
	}
	k->lease = json_deep_copy(lease);
	json_decref(res);
	if (k->lease == NULL) {
		free(k);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (!strcmp(jstr(k->lease, "holder"), c->who.token_id)) {
		lease_apply(k, 0);
		return;
	}
	/* someone else's: an admin, or the office's supervisor, may break
	 * it to free a stuck file; no one may renew it */
	if (k->release && api_scope(c) == AUTH_SCOPE_NONE) {
		lease_apply(k, 1);
		return;
	}
	if (k->release && office_scoped(c) &&
	    store_office_get(c->d->store, jstr(k->lease, "owner"), 0,
	                     lease_office_read, k) == 0)
		return;
	lease_held(k);
}

static void
lease_op_start(struct api_call *c, int release)
{
	static const char *const renew_params[] = {"for", NULL};
	static const char *const none[] = {NULL};
	struct lease_op *k;
	int64_t ms = 0;

	if (query_only(c, release ? none : renew_params) != 0)
		return;
	if (!release && lease_length(c, &ms) != 0)
		return;
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	k->c = c;
	k->release = release;
	k->until = cases_now(c->d) + ms;
	if (store_case_get(c->d->store, c->m.params[0], lease_case_read, k) !=
	    0) {
		free(k);
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
	}
}

void
api_h_lease_renew(struct api_call *c)
{
	lease_op_start(c, 0);
}

void
api_h_lease_release(struct api_call *c)
{
	lease_op_start(c, 1);
}

/* --- alerts ------------------------------------------------------------------ */

static void
alerts_read(int status, json_t *res, void *data)
{
	struct api_call *c = data;
	json_t *alerts = json_object_get(res, "alerts");
	size_t n = json_array_size(alerts);
	struct privacy_record *recs;

	if (status != 0) {
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	/* an alert names a student and what stands in their file's way:
	 * each is on the disclosure log (the rows are copied before the
	 * call returns) */
	if ((recs = privacy_records_of(c, alerts, "case_id", res)) == NULL)
		return;
	privacy_disclose_reply(c, recs, n, res, 0);
	free(recs);
}

void
api_h_alert_list(struct api_call *c)
{
	static const char *const params[] = {"state", "case", "limit", "after",
	                                     NULL};
	struct store_alert_filter f = {.limit = 100};
	char sbuf[16], cbuf[64], lbuf[16], abuf[24];
	const char *state, *lim, *after;
	int bad = 0;

	if (query_only(c, params) != 0)
		return;
	state = query_get(c, "state", sbuf, sizeof(sbuf), &bad);
	f.case_id = query_get(c, "case", cbuf, sizeof(cbuf), &bad);
	lim = query_get(c, "limit", lbuf, sizeof(lbuf), &bad);
	after = query_get(c, "after", abuf, sizeof(abuf), &bad);
	if (state == NULL || !strcmp(state, "open"))
		f.state = "open";
	else if (!strcmp(state, "resolved"))
		f.state = "resolved";
	else if (!strcmp(state, "all"))
		f.state = NULL;
	else
		bad = 1;
	if (lim != NULL && (atoi(lim) < 1 || atoi(lim) > 1000))
		bad = 1;
	else if (lim != NULL)
		f.limit = atoi(lim);
	if (after != NULL && (after[0] < '0' || after[0] > '9'))
		bad = 1;
	else if (after != NULL)
		f.after = strtoll(after, NULL, 10);
	if (bad) {
		api_reply_problem(c, 400, "bad-query",
		                  "expected state (open, resolved, all), case, "
		                  "limit (1-1000), after (an alert id)",
		                  NULL, NULL);
		return;
	}
	/* the scope narrows every listing */
	switch (api_scope(c)) {
	case AUTH_SCOPE_CASELOAD:
		f.counselor = c->who.scope;
		break;
	case AUTH_SCOPE_OFFICE:
	case AUTH_SCOPE_CAMPUS:
		f.owner = c->who.scope;
		/* alerts addressed to "role:<the caller's role>" */
		f.role = auth_role_name(c->who.role);
		break;
	default:
		break;
	}
	if (store_alerts_list(c->d->store, &f, alerts_read, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

/* Whether the caller may see alert a (a store_alert_get result). */
static int
alert_visible(const struct api_call *c, const json_t *a)
{
	const char *to = jstr(a, "recipient");
	char role_to[40];

	switch (api_scope(c)) {
	case AUTH_SCOPE_NONE:
		return 1;
	case AUTH_SCOPE_CASELOAD:
		return (!strcmp(to, "counselor") ||
		        !strcmp(to, "role:counselor")) &&
		       queues_in_caseload(json_object_get(a, "counselors"),
		                          c->who.scope);
	case AUTH_SCOPE_OFFICE:
	case AUTH_SCOPE_CAMPUS:
		snprintf(role_to, sizeof(role_to), "role:%s",
		         auth_role_name(c->who.role));
		return jstr(a, "owner") &&
		       !strcmp(jstr(a, "owner"), c->who.scope) &&
		       (!strcmp(to, "office") || !strcmp(to, "supervisor") ||
		        !strcmp(to, role_to));
	default:
		return 0;
	}
}

struct alert_op {
	struct api_call *c;
	int resolve;
	int64_t id;
	json_t *alert;
};

static void
alert_op_committed(int status, const char *msg, void *data)
{
	struct alert_op *k = data;
	struct api_call *c = k->c;
	json_t *a = k->alert;

	free(k);
	if (status == CAIRN_ENOTFOUND) {
		json_decref(a);
		api_reply_problem(c, 409, "alert-resolved",
		                  "the alert was resolved meanwhile", NULL,
		                  NULL);
		return;
	}
	if (status != 0) {
		json_decref(a);
		api_reply_store_error(c, status, msg);
		return;
	}
	api_reply_json(c, 200, a, NULL);
}

static void
alert_read(int status, json_t *res, void *data)
{
	struct alert_op *k = data;
	struct api_call *c = k->c;
	struct store_batch *b;
	int64_t now = cases_now(c->d);
	int rc;

	if (status != 0 || !alert_visible(c, res)) {
		json_decref(res);
		free(k);
		if (status != 0 && status != CAIRN_ENOTFOUND)
			api_reply_store_error(c, status,
			                      cairn_strerror(status));
		else
			api_reply_problem(c, 404, "not-found",
			                  "no such alert among yours", NULL,
			                  NULL);
		return;
	}
	if (strcmp(jstr(res, "state"), "open") != 0) {
		json_decref(res);
		free(k);
		api_reply_problem(c, 409, "alert-resolved",
		                  "the alert is resolved already", NULL, NULL);
		return;
	}
	json_object_del(res, "counselors");
	b = store_batch_new();
	rc = b == NULL ? -ENOMEM
	     : k->resolve
	             ? store_batch_alert_resolve(b, k->id, c->who.token_id, now)
	             : store_batch_alert_ack(b, k->id, c->who.token_id, now);
	if (rc != 0) {
		store_batch_free(b);
		json_decref(res);
		free(k);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (k->resolve) {
		json_object_set_new(res, "state", json_string("resolved"));
		json_object_set_new(res, "resolved_at", json_integer(now));
		json_object_set_new(res, "resolved_by",
		                    json_string(c->who.token_id));
	} else {
		json_object_set_new(res, "acked_at", json_integer(now));
		json_object_set_new(res, "acked_by",
		                    json_string(c->who.token_id));
	}
	k->alert = res;
	if (store_batch_submit(c->d->store, b, alert_op_committed, k) != 0) {
		json_decref(res);
		free(k);
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
	}
}

static void
alert_op_start(struct api_call *c, int resolve)
{
	const char *p = c->m.params[0];
	char *end;
	struct alert_op *k;
	long long id = strtoll(p, &end, 10);

	if (*p < '0' || *p > '9' || *end != '\0' || id <= 0) {
		api_reply_problem(c, 404, "not-found",
		                  "alert ids are whole numbers", NULL, NULL);
		return;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	k->c = c;
	k->resolve = resolve;
	k->id = id;
	if (store_alert_get(c->d->store, id, alert_read, k) != 0) {
		free(k);
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
	}
}

void
api_h_alert_ack(struct api_call *c)
{
	alert_op_start(c, 0);
}

void
api_h_alert_resolve(struct api_call *c)
{
	alert_op_start(c, 1);
}

/* --- caseloads ---------------------------------------------------------------- */

static void
caseload_committed(int status, const char *msg, void *data)
{
	struct api_call *c = data;

	if (status != 0) {
		api_reply_store_error(c, status, msg);
		return;
	}
	api_reply_json(c, 200, json_incref(c->body), NULL);
}

/* Checks one id against a role's scope rules; fills why. */
static int
id_ok(enum role r, const json_t *v, const char **why)
{
	if (!json_is_string(v)) {
		*why = "expected a string";
		return 0;
	}
	return auth_scope_check(r, json_string_value(v), why) == 0;
}

void
api_h_caseload_put(struct api_call *c)
{
	const json_t *students = json_object_get(c->body, "students");
	const char *counselor = c->m.params[0], *why = NULL, *key;
	struct store_batch *b;
	int64_t now = cases_now(c->d);
	json_t *v, *reply;
	size_t i;
	int rc;
	char d[300];

	json_object_foreach(c->body, key, v)
	{
		if (strcmp(key, "students") != 0) {
			api_reply_problem(
			        c, 422, "invalid-body",
			        "expected {\"students\": [student id, "
			        "...]}",
			        NULL, NULL);
			return;
		}
	}
	if (auth_scope_check(ROLE_COUNSELOR, counselor, &why) != 0 ||
	    !json_is_array(students) ||
	    json_array_size(students) > CASELOAD_MAX) {
		snprintf(d, sizeof(d),
		         "expected {\"students\": [student id, ...]} (at most "
		         "%d) for a counselor id%s%s",
		         CASELOAD_MAX, why ? ": " : "", why ? why : "");
		api_reply_problem(c, 422, "invalid-body", d, NULL, NULL);
		return;
	}
	json_array_foreach(students, i, v)
	{
		if (!id_ok(ROLE_STUDENT, v, &why)) {
			snprintf(d, sizeof(d), "students[%zu]: %s", i, why);
			api_reply_problem(
			        c, 422, "invalid-body", d,
			        json_pack("{s:I}", "index", (json_int_t)i),
			        NULL);
			return;
		}
	}
	b = store_batch_new();
	rc = b ? store_batch_caseload_clear(b, counselor) : -ENOMEM;
	json_array_foreach(students, i, v)
	{
		if (rc == 0)
			rc = store_batch_caseload_add(
			        b, counselor, json_string_value(v), now);
	}
	reply = json_pack("{s:s, s:O}", "counselor", counselor, "students",
	                  students);
	if (rc != 0 || reply == NULL) {
		store_batch_free(b);
		json_decref(reply);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	/* the reply is the caseload as stored */
	json_decref(c->body);
	c->body = reply;
	if (store_batch_submit(c->d->store, b, caseload_committed, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

/* POST /v1/caseloads {"rows": [{"counselor", "student"}, ...],
 * "partial": bool}: every bad row is reported by index; the good ones go
 * in only when partial is true. */
void
api_h_caseload_import(struct api_call *c)
{
	const json_t *rows = json_object_get(c->body, "rows");
	const json_t *partial = json_object_get(c->body, "partial");
	json_t *errors, *row, *v;
	struct store_batch *b;
	int64_t now = cases_now(c->d);
	const char *key, *why;
	size_t i, good = 0;
	int rc = 0;
	char d[200];

	json_object_foreach(c->body, key, v)
	{
		if (strcmp(key, "rows") && strcmp(key, "partial")) {
			api_reply_problem(
			        c, 422, "invalid-body",
			        "expected {\"rows\": [{\"counselor\": id, "
			        "\"student\": id}, ...], \"partial\": bool}",
			        NULL, NULL);
			return;
		}
	}
	if (!json_is_array(rows) || json_array_size(rows) > CASELOAD_MAX ||
	    (partial != NULL && !json_is_boolean(partial))) {
		snprintf(d, sizeof(d),
		         "expected {\"rows\": [...] (at most %d), \"partial\": "
		         "true or false}",
		         CASELOAD_MAX);
		api_reply_problem(c, 422, "invalid-body", d, NULL, NULL);
		return;
	}
	errors = json_array();
	json_array_foreach(rows, i, row)
	{
		why = NULL;
		if (!json_is_object(row) || json_object_size(row) != 2)
			why = "expected {\"counselor\": id, \"student\": id}";
		else if (id_ok(ROLE_COUNSELOR,
		               json_object_get(row, "counselor"), &why))
			id_ok(ROLE_STUDENT, json_object_get(row, "student"),
			      &why);
		if (why != NULL)
			json_array_append_new(
			        errors, json_pack("{s:I, s:s}", "index",
			                          (json_int_t)i, "error", why));
	}
	if (json_array_size(errors) > 0 && !json_is_true(partial)) {
		snprintf(d, sizeof(d),
		         "%zu of %zu rows are not acceptable; nothing was "
		         "imported (send partial: true to import the others)",
		         json_array_size(errors), json_array_size(rows));
		api_reply_problem(c, 422, "bad-rows", d,
		                  json_pack("{s:o}", "errors", errors), NULL);
		return;
	}
	b = store_batch_new();
	rc = b ? 0 : -ENOMEM;
	json_array_foreach(rows, i, row)
	{
		int skip = 0;
		size_t j;

		json_array_foreach(errors, j, v)
		{
			if ((size_t)jint(v, "index") == i)
				skip = 1;
		}
		if (skip || rc != 0)
			continue;
		rc = store_batch_caseload_add(b, jstr(row, "counselor"),
		                              jstr(row, "student"), now);
		good++;
	}
	if (rc != 0) {
		store_batch_free(b);
		json_decref(errors);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	json_decref(c->body);
	c->body = json_pack("{s:I, s:o}", "imported", (json_int_t)good,
	                    "rejected", errors);
	if (c->body == NULL) {
		store_batch_free(b);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (store_batch_submit(c->d->store, b, caseload_committed, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

static void
caseload_read(int status, json_t *res, void *data)
{
	struct api_call *c = data;

	if (status != 0) {
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	api_reply_json(c, 200,
	               json_pack("{s:s, s:o}", "counselor", c->m.params[0],
	                         "students", res),
	               NULL);
}

void
api_h_caseload_get(struct api_call *c)
{
	struct auth_resource r = {.counselor = c->m.params[0]};

	/* a counselor sees only their own caseload */
	if (api_authorize(c, &r, "caseload") != 0)
		return;
	if (store_caseload_get(c->d->store, c->m.params[0], caseload_read, c) !=
	    0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

/* --- where alerts are mailed ------------------------------------------------ */

/* Whether the caller may read or set recipient id; replies 404 or 422 and
 * returns 0 when not. Admins set any; a counselor or an office its own. */
static int
recipient_ok(struct api_call *c, const char *id)
{
	static const char *const kinds[] = {
	        "counselor:", "office:", "supervisor:"};
	const char *why = NULL, *rest = NULL;
	struct auth_resource r = {0};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strncmp(id, kinds[i], strlen(kinds[i]))) {
			rest = id + strlen(kinds[i]);
			/* a counselor's address is in their own scope, an
			 * office's in the office's; a supervisor's only
			 * an admin sets */
			if (i == 0)
				r.counselor = rest;
			else if (i == 1)
				r.owner = rest;
		}
	if (rest == NULL || auth_scope_check(ROLE_COUNSELOR, rest, &why) != 0) {
		api_reply_problem(c, 422, "invalid-recipient",
		                  "a recipient is counselor:<id>, office:<id> "
		                  "or supervisor:<office>",
		                  NULL, NULL);
		return 0;
	}
	return api_authorize(c, &r, "recipient") == 0;
}

static void
recipient_read(int status, json_t *res, void *data)
{
	struct api_call *c = data;

	if (status != 0) {
		api_reply_store_error(c, status,
		                      status == CAIRN_ENOTFOUND
		                              ? "no address is set"
		                              : cairn_strerror(status));
		return;
	}
	json_object_set_new(res, "digest",
	                    json_boolean(jint(res, "digest") != 0));
	api_reply_json(c, 200, res, NULL);
}

void
api_h_recipient_get(struct api_call *c)
{
	if (!recipient_ok(c, c->m.params[0]))
		return;
	if (store_recipient_get(c->d->store, c->m.params[0], recipient_read,
	                        c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

void
api_h_recipient_put(struct api_call *c)
{
	const char *email = jstr(c->body, "email"), *key;
	const json_t *digest = json_object_get(c->body, "digest");
	struct store_batch *b;
	json_t *v;

	json_object_foreach(c->body, key, v)
	{
		if (strcmp(key, "email") && strcmp(key, "digest")) {
			email = NULL;
			break;
		}
	}
	if (email == NULL || !mail_address_ok(email) ||
	    (digest != NULL && !json_is_boolean(digest))) {
		api_reply_problem(
		        c, 422, "invalid-body",
		        "expected {\"email\": an address, \"digest\": "
		        "true or false}",
		        NULL, NULL);
		return;
	}
	if (!recipient_ok(c, c->m.params[0]))
		return;
	b = store_batch_new();
	if (b == NULL || store_batch_recipient_put(b, c->m.params[0], email,
	                                           json_is_true(digest),
	                                           cases_now(c->d)) != 0) {
		store_batch_free(b);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	/* the reply: the recipient as stored (email and digest point into
	 * the old body, so it goes only after) */
	v = json_pack("{s:s, s:s, s:b}", "id", c->m.params[0], "email", email,
	              "digest", json_is_true(digest));
	json_decref(c->body);
	c->body = v;
	if (c->body == NULL) {
		store_batch_free(b);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (store_batch_submit(c->d->store, b, caseload_committed, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

/* --- offices ------------------------------------------------------------------ */

/* "tok_" and 16 hex digits: a token's public id. */
static int
token_id_ok(const json_t *v)
{
	const char *s = json_string_value(v);

	if (s == NULL || strlen(s) != 20 || strncmp(s, "tok_", 4) != 0)
		return 0;
	for (int i = 4; i < 20; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static void
office_committed(int status, const char *msg, void *data)
{
	struct api_call *c = data;
	struct queues *q = c->d->queues;

	/* the next claim reads the roster again */
	if (q != NULL) {
		q->offices_gen++;
		json_object_del(q->offices, c->m.params[0]);
	}
	caseload_committed(status, msg, data);
}

void
api_h_office_put(struct api_call *c)
{
	const json_t *staff = json_object_get(c->body, "staff");
	const json_t *sup = json_object_get(c->body, "supervisor");
	const char *why = NULL, *key, **ids = NULL;
	struct store_batch *b;
	json_t *v, *reply;
	size_t i, n;
	int rc = 0;

	json_object_foreach(c->body, key, v)
	{
		if (strcmp(key, "staff") && strcmp(key, "supervisor"))
			rc = -1;
	}
	n = json_array_size(staff);
	if (rc != 0 ||
	    auth_scope_check(ROLE_AID_OFFICER, c->m.params[0], &why) ||
	    !json_is_array(staff) || n > 10000 ||
	    (sup != NULL && !json_is_null(sup) && !token_id_ok(sup))) {
		api_reply_problem(
		        c, 422, "invalid-body",
		        "expected {\"staff\": [token id, ...], "
		        "\"supervisor\": token id or null} (token ids "
		        "as tok_ and 16 hex digits)",
		        NULL, NULL);
		return;
	}
	json_array_foreach(staff, i, v)
	{
		if (!token_id_ok(v)) {
			char d[120];

			snprintf(d, sizeof(d),
			         "staff[%zu]: not a token id (tok_ and 16 hex "
			         "digits)",
			         i);
			api_reply_problem(c, 422, "invalid-body", d, NULL,
			                  NULL);
			return;
		}
	}
	ids = calloc(n + 1, sizeof(*ids));
	b = store_batch_new();
	for (i = 0; ids != NULL && i < n; i++)
		ids[i] = json_string_value(json_array_get(staff, i));
	rc = ids == NULL || b == NULL
	             ? -ENOMEM
	             : store_batch_office_put(b, c->m.params[0],
	                                      json_string_value(sup), ids, n,
	                                      cases_now(c->d));
	free(ids);
	reply = json_pack("{s:s, s:s?, s:O}", "id", c->m.params[0],
	                  "supervisor", json_string_value(sup), "staff", staff);
	if (rc != 0 || reply == NULL) {
		store_batch_free(b);
		json_decref(reply);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	json_decref(c->body);
	c->body = reply;
	if (store_batch_submit(c->d->store, b, office_committed, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

static void
office_read(int status, json_t *res, void *data)
{
	struct api_call *c = data;

	if (status != 0) {
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	api_reply_json(c, 200, res, NULL);
}

void
api_h_office_get(struct api_call *c)
{
	struct auth_resource r = {.owner = c->m.params[0]};

	/* an office sees only itself */
	if (api_authorize(c, &r, "office") != 0)
		return;
	if (store_office_get(c->d->store, c->m.params[0], 1, office_read, c) !=
	    0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}
