/*
 * engine.c: the workflow engine. A pure function of (definition, case,
 * event, rule decisions) -> effects: it reads no clock (the event carries
 * the time), draws no random numbers, does no I/O and never changes the
 * case it is given. The daemon commits the effects it returns in one
 * transaction, or nothing when it returns a rejection.
 *
 * Choices the header leaves open, made here:
 *
 * - Who may send: a transition whose roles mask is 0 belongs to the
 *   system; a person's role must be in the mask. The system (actor_role 0)
 *   may also send any transition on "child.*", "children.settled" and
 *   "timer.*", whatever its mask, because those events only ever come
 *   from the daemon. wf_allowed_events uses the same test, so the list a
 *   client sees is exactly what wf_apply would accept from that role.
 * - Transitions are tried in file order; the first one whose event, from
 *   and role fit and whose guard says eligible wins. A `to` chosen by the
 *   event's data that does not resolve rejects the event; it does not fall
 *   through to a later transition.
 * - A self-transition (to == from) is internal: it runs the transition's
 *   actions only. It does not re-enter the status, so the status's on_enter
 *   actions do not run again, no timer is cancelled, transitioned is 0 and
 *   the parent is not told. An author who wants a timer restarted says so
 *   with start_timer in the transition's actions (same name replaces).
 * - Actions run in order, transition actions first, then the new status's
 *   on_enter actions, on one working copy of the data: "$case.<path>" and
 *   `evaluate` see what earlier actions set.
 * - Timers within one set of effects: a later start of the same name
 *   replaces an earlier one; a cancel removes an earlier start and is also
 *   listed in fx->cancel for timers already stored. The daemon applies
 *   cancel_all, then cancel, then timers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/auth.h"
#include "workflow.h"

/* One application of an event: what every action needs to see. */
struct run {
	const struct wf_def *d;
	const struct wf_case *c;
	const struct wf_event *ev;
	wf_rule_fn rules;
	void *rules_data;
	struct wf_effects *fx;
	int status; /* the status the running actions belong to */
	char *msg;
	size_t msglen;
};

static enum wf_reject fail(struct run *r, enum wf_reject why, const char *fmt,
                           ...) __attribute__((format(printf, 3, 4)));

static enum wf_reject
fail(struct run *r, enum wf_reject why, const char *fmt, ...)
{
	va_list ap;

	if (r->msg && r->msglen) {
		va_start(ap, fmt);
		vsnprintf(r->msg, r->msglen, fmt, ap);
		va_end(ap);
	}
	return why;
}

static enum wf_reject
nomem(struct run *r)
{
	return fail(r, WF_ERR_NOMEM, "out of memory");
}

static int
status_index(const struct wf_def *d, const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < d->nstatuses; i++)
		if (strcmp(d->statuses[i].name, name) == 0)
			return i;
	return -1;
}

static int
from_covers(const struct wf_transition *t, int status)
{
	/* "from: any" means every status that is not terminal; the loader
	 * lists them in from, which is what is checked */
	for (int i = 0; i < t->nfrom; i++)
		if (t->from[i] == status)
			return 1;
	return 0;
}

static int
system_event(const char *on)
{
	return strncmp(on, "child.", 6) == 0 ||
	       strcmp(on, "children.settled") == 0 ||
	       strncmp(on, "timer.", 6) == 0;
}

/* Whether a sender of role (a ROLE_BIT, or 0 for the system) may send t. */
static int
may_send(const struct wf_transition *t, unsigned role)
{
	if (role == 0)
		return t->roles == 0 || system_event(t->on);
	return (t->roles & role) != 0;
}

/* "the system" or "role 'student'", for messages. */
static const char *
role_label(unsigned role, char buf[64])
{
	if (role == 0)
		return "the system";
	snprintf(buf, 64, "role '%s'",
	         auth_role_name((enum role)__builtin_ctz(role)));
	return buf;
}

static const char *
outcome_name(enum wf_outcome o)
{
	switch (o) {
	case WF_ELIGIBLE:
		return "eligible";
	case WF_INELIGIBLE:
		return "ineligible";
	default:
		return "needs_review";
	}
}

/* --- dates --------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int
days_in_month(int y, int m)
{
	static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return n[m - 1];
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" for a time in milliseconds (UTC). */
static void
format_rfc3339(int64_t ms, char buf[40])
{
	int64_t days = ms / 86400000, rem = ms % 86400000, y;
	int m, d;

	if (rem < 0) {
		rem += 86400000;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	snprintf(buf, 40, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y,
	         m, d, (int)(rem / 3600000), (int)(rem / 60000 % 60),
	         (int)(rem / 1000 % 60), (int)(rem % 1000));
}

static int
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * Parses an RFC 3339 date ("2025-05-01", midnight UTC) or date-time
 * ("2025-05-01T17:00:00Z", "...T09:00:00.5-08:00"; a date-time needs its
 * offset). Fractions beyond milliseconds are truncated.
 */
static int
parse_rfc3339(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;

	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	s += 10;
	if (*s) {
		if (*s != 'T' && *s != 't')
			return -1;
		if (digits(s + 1, 2, &h) || s[3] != ':' ||
		    digits(s + 4, 2, &mi) || s[6] != ':' ||
		    digits(s + 7, 2, &sec))
			return -1;
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		s += 9;
		if (*s == '.') {
			int n = 0;

			for (s++; *s >= '0' && *s <= '9'; s++, n++)
				if (n < 3)
					frac = frac * 10 + (*s - '0');
			if (n == 0)
				return -1;
			for (; n < 3; n++)
				frac *= 10;
		}
		if (*s == 'Z' || *s == 'z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			int oh, om, sign = *s == '-' ? -1 : 1;

			if (digits(s + 1, 2, &oh) || s[3] != ':' ||
			    digits(s + 4, 2, &om) || oh > 23 || om > 59)
				return -1;
			off = sign * (oh * 60 + om);
			s += 6;
		} else {
			return -1;
		}
		if (*s)
			return -1;
	}
	*out = (((days_from_civil(y, mo, d) * 24 + h) * 60 + mi - off) * 60 +
	        sec) * 1000 +
	       frac;
	return 0;
}

/* --- paths into JSON ---------------------------------------------------- */

/* The value at a dotted path ("a.b.0.c": numbers index arrays), or NULL. */
static json_t *
path_get(const json_t *root, const char *path)
{
	json_t *cur = (json_t *)root;
	const char *p = path;

	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (json_is_object(cur)) {
			cur = json_object_getn(cur, p, n);
		} else if (json_is_array(cur) && n > 0 && n < 10 &&
		           strspn(p, "0123456789") >= n) {
			cur = json_array_get(cur, strtoul(p, NULL, 10));
		} else {
			return NULL;
		}
		if (!dot)
			return cur;
		p = dot + 1;
	}
	return NULL;
}

/*
 * Sets the dotted path field in root to v (stolen, also on failure),
 * creating objects along the way. A segment that exists and is not an
 * object rejects the data rather than be overwritten.
 */
static enum wf_reject
path_set(struct run *r, json_t *root, const char *field, json_t *v)
{
	json_t *cur = root;
	const char *p = field;

	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		json_t *next;

		if (n == 0) {
			json_decref(v);
			return fail(r, WF_REJECT_DATA, "bad field path '%s'",
			            field);
		}
		if (!dot) {
			if (json_object_setn_new(cur, p, n, v))
				return nomem(r);
			return WF_OK;
		}
		next = json_object_getn(cur, p, n);
		if (!next) {
			next = json_object();
			if (!next || json_object_setn_new(cur, p, n, next)) {
				json_decref(v);
				return nomem(r);
			}
		} else if (!json_is_object(next)) {
			json_decref(v);
			return fail(r, WF_REJECT_DATA,
			            "cannot set '%s': '%.*s' is not an object",
			            field, (int)(dot - field), field);
		}
		cur = next;
		p = dot + 1;
	}
}

/* "$event" / "$event.<path>" style references: the path after it, or NULL
 * when s is not one. */
static const char *
ref_path(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(s, prefix, n) != 0)
		return NULL;
	if (s[n] == '\0')
		return "";
	return s[n] == '.' ? s + n + 1 : NULL;
}

static json_t *
copy_or_null(const json_t *v)
{
	return v ? json_deep_copy(v) : json_null();
}

/* A set action's value, resolved (a new reference; NULL: out of memory). */
static json_t *
resolve_value(struct run *r, const json_t *value)
{
	const char *s, *path;
	char buf[40];

	if (!value)
		return json_null();
	if (!json_is_string(value))
		return json_deep_copy(value);
	s = json_string_value(value);
	if (strcmp(s, "$now") == 0) {
		format_rfc3339(r->ev->now_ms, buf);
		return json_string(buf);
	}
	if ((path = ref_path(s, "$event"))) {
		if (!r->ev->data)
			return json_null();
		return copy_or_null(*path ? path_get(r->ev->data, path)
		                          : r->ev->data);
	}
	if ((path = ref_path(s, "$case")))
		return copy_or_null(*path ? path_get(r->fx->data, path)
		                          : r->fx->data);
	return json_deep_copy(value);
}

/* --- effects ------------------------------------------------------------ */

/* Makes room for one more element of size sz in *arr (of *n elements). */
static void *
push(void *arr_p, int *n, size_t sz)
{
	void **arr = arr_p;
	char *p = realloc(*arr, ((size_t)*n + 1) * sz);

	if (!p)
		return NULL;
	*arr = p;
	memset(p + (size_t)*n * sz, 0, sz);
	return p + (size_t)(*n)++ * sz;
}

static char *
dup_or_null(const char *s, int *oom)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	if (!p)
		*oom = 1;
	return p;
}

static void
timer_free(struct wf_timer_effect *t)
{
	free(t->name);
	free(t->event);
}

static void
drop_timer(struct wf_effects *fx, const char *name)
{
	for (int i = 0; i < fx->ntimers; i++) {
		if (strcmp(fx->timers[i].name, name) == 0) {
			timer_free(&fx->timers[i]);
			memmove(&fx->timers[i], &fx->timers[i + 1],
			        (size_t)(fx->ntimers - i - 1) *
			                sizeof(fx->timers[0]));
			fx->ntimers--;
			return;
		}
	}
}

/* Asks the rule callback; a NULL callback fails closed (needs review). */
static enum wf_outcome
rule_eval(struct run *r, const char *rule, const struct wf_case *c,
          json_t **detail)
{
	enum wf_outcome o;

	*detail = NULL;
	if (!r->rules)
		return WF_NEEDS_REVIEW;
	o = r->rules(rule, c, r->ev, detail, r->rules_data);
	if (o != WF_ELIGIBLE && o != WF_INELIGIBLE)
		o = WF_NEEDS_REVIEW;
	return o;
}

/* {outcome, detail}, stealing detail. */
static json_t *
rule_result(enum wf_outcome o, json_t *detail)
{
	return json_pack("{s:s, s:o}", "outcome", outcome_name(o), "detail",
	                 detail ? detail : json_null());
}

static enum wf_reject
record_rule(struct run *r, const char *rule, json_t *res)
{
	if (!r->fx->rule_results && !(r->fx->rule_results = json_object())) {
		json_decref(res);
		return nomem(r);
	}
	if (json_object_set_new(r->fx->rule_results, rule, res))
		return nomem(r);
	return WF_OK;
}

static enum wf_reject
act_set(struct run *r, const struct wf_action *a)
{
	json_t *v = resolve_value(r, a->value);

	if (!v)
		return nomem(r);
	if (!a->field) {
		json_decref(v);
		return fail(r, WF_REJECT_DATA, "set without a field");
	}
	return path_set(r, r->fx->data, a->field, v);
}

static enum wf_reject
act_timer_start(struct run *r, const struct wf_action *a)
{
	struct wf_timer_effect *t;
	int64_t due;
	int oom = 0;

	if (a->until_field) {
		const json_t *v = path_get(r->fx->data, a->until_field);
		const char *s = json_string_value(v);

		if (!s || parse_rfc3339(s, &due))
			return fail(r, WF_REJECT_DATA,
			            "timer '%s': case field '%s' is not an RFC "
			            "3339 date or date-time",
			            a->timer, a->until_field);
	} else {
		due = r->ev->now_ms + a->after_ms;
	}
	drop_timer(r->fx, a->timer);
	t = push(&r->fx->timers, &r->fx->ntimers, sizeof(*t));
	if (!t)
		return nomem(r);
	t->due_ms = due;
	t->name = dup_or_null(a->timer, &oom);
	if (a->event) {
		t->event = dup_or_null(a->event, &oom);
	} else if (asprintf(&t->event, "timer.%s", a->timer) < 0) {
		t->event = NULL;
		oom = 1;
	}
	return oom ? nomem(r) : WF_OK;
}

static enum wf_reject
act_timer_cancel(struct run *r, const struct wf_action *a)
{
	char **slot;
	int oom = 0;

	drop_timer(r->fx, a->timer);
	for (int i = 0; i < r->fx->ncancel; i++)
		if (strcmp(r->fx->cancel[i], a->timer) == 0)
			return WF_OK;
	slot = push(&r->fx->cancel, &r->fx->ncancel, sizeof(*slot));
	if (!slot)
		return nomem(r);
	*slot = dup_or_null(a->timer, &oom);
	return oom ? nomem(r) : WF_OK;
}

static enum wf_reject
act_alert(struct run *r, const struct wf_action *a)
{
	struct wf_alert_effect *al;
	int oom = 0;

	al = push(&r->fx->alerts, &r->fx->nalerts, sizeof(*al));
	if (!al)
		return nomem(r);
	al->kind = dup_or_null(a->alert_kind, &oom);
	al->severity = dup_or_null(a->severity, &oom);
	al->to = dup_or_null(a->to, &oom);
	al->message = dup_or_null(a->message, &oom);
	return oom ? nomem(r) : WF_OK;
}

static enum wf_reject
act_call(struct run *r, const struct wf_action *a)
{
	struct wf_call_effect *cl;
	int oom = 0;

	cl = push(&r->fx->calls, &r->fx->ncalls, sizeof(*cl));
	if (!cl)
		return nomem(r);
	cl->adapter = dup_or_null(a->adapter, &oom);
	cl->operation = dup_or_null(a->operation, &oom);
	return oom ? nomem(r) : WF_OK;
}

/* evaluate: the rule sees the data as earlier actions left it. */
static enum wf_reject
act_rule(struct run *r, const struct wf_action *a)
{
	struct wf_case now = *r->c;
	json_t *detail, *res, *copy;
	enum wf_outcome o;
	enum wf_reject rc;

	now.status = r->d->statuses[r->status].name;
	now.data = r->fx->data;
	o = rule_eval(r, a->rule, &now, &detail);
	res = rule_result(o, detail);
	if (!res)
		return nomem(r);
	if (a->store_as) {
		copy = json_deep_copy(res);
		if (!copy) {
			json_decref(res);
			return nomem(r);
		}
		/* what the rule was given belongs in the history, not in the
		 * data it came from */
		json_object_del(json_object_get(copy, "detail"), "input");
		rc = path_set(r, r->fx->data, a->store_as, copy);
		if (rc != WF_OK) {
			json_decref(res);
			return rc;
		}
	}
	return record_rule(r, a->rule, res);
}

static enum wf_reject
act_spawn(struct run *r, const struct wf_action *a)
{
	const json_t *list = path_get(r->fx->data, a->for_each);
	const json_t *el;
	size_t i;

	if (!json_is_array(list))
		return fail(r, WF_REJECT_DATA,
		            "spawn %s: case field '%s' is not a list",
		            a->workflow, a->for_each);
	json_array_foreach(list, i, el)
	{
		if (!json_is_string(el) || json_string_length(el) == 0)
			return fail(r, WF_REJECT_DATA,
			            "spawn %s: element %zu of '%s' is not a "
			            "non-empty string",
			            a->workflow, i, a->for_each);
	}
	json_array_foreach(list, i, el)
	{
		const char *s = json_string_value(el);
		struct wf_spawn_effect *sp;
		char *key;
		int dup = 0;

		if (asprintf(&key, "%s:%s", a->workflow, s) < 0)
			return nomem(r);
		for (int k = 0; k < r->fx->nspawns && !dup; k++)
			dup = strcmp(r->fx->spawns[k].key, key) == 0;
		if (dup) {
			free(key);
			continue;
		}
		sp = push(&r->fx->spawns, &r->fx->nspawns, sizeof(*sp));
		if (!sp) {
			free(key);
			return nomem(r);
		}
		sp->key = key;
		sp->workflow = strdup(a->workflow);
		sp->data = a->as ? json_pack("{s:s}", a->as, s) : json_object();
		if (!sp->workflow || !sp->data)
			return nomem(r);
	}
	return WF_OK;
}

static enum wf_reject
run_actions(struct run *r, const struct wf_action *acts, int n)
{
	enum wf_reject rc = WF_OK;

	for (int i = 0; i < n && rc == WF_OK; i++) {
		const struct wf_action *a = &acts[i];

		switch (a->kind) {
		case WF_ACT_SET:
			rc = act_set(r, a);
			break;
		case WF_ACT_TIMER_START:
			rc = act_timer_start(r, a);
			break;
		case WF_ACT_TIMER_CANCEL:
			rc = act_timer_cancel(r, a);
			break;
		case WF_ACT_ALERT:
			rc = act_alert(r, a);
			break;
		case WF_ACT_CALL:
			rc = act_call(r, a);
			break;
		case WF_ACT_RULE:
			rc = act_rule(r, a);
			break;
		case WF_ACT_SPAWN:
			rc = act_spawn(r, a);
			break;
		default:
			rc = fail(r, WF_REJECT_DATA, "unknown action kind %d",
			          (int)a->kind);
		}
	}
	return rc;
}

/* Fills fx->data with a copy of the case's data. */
static enum wf_reject
copy_data(struct run *r)
{
	if (r->c->data && !json_is_object(r->c->data))
		return fail(r, WF_REJECT_DATA, "case data is not an object");
	r->fx->data = r->c->data ? json_deep_copy(r->c->data) : json_object();
	return r->fx->data ? WF_OK : nomem(r);
}

/* The effects of entering status `to` (from `from`, -1 at creation) after
 * the transition actions acts. */
static enum wf_reject
enter(struct run *r, int from, int to, const struct wf_action *acts, int nacts)
{
	struct wf_effects *fx = r->fx;
	enum wf_reject rc;
	int moves = from != to;

	fx->from = from;
	fx->to = to;
	fx->transitioned = moves;
	fx->cancel_all = moves && from >= 0;
	fx->terminal = r->d->statuses[to].terminal;
	fx->notify_parent = moves && r->c->parent_id != NULL;
	r->status = from >= 0 ? from : to;
	rc = run_actions(r, acts, nacts);
	if (rc != WF_OK || !moves)
		return rc;
	r->status = to;
	return run_actions(r, r->d->statuses[to].enter,
	                   r->d->statuses[to].nenter);
}

static void
start_run(struct run *r, const struct wf_def *d, const struct wf_case *c,
          const struct wf_event *ev, wf_rule_fn rules, void *rules_data,
          struct wf_effects *fx, char *msg, size_t msglen)
{
	memset(r, 0, sizeof(*r));
	r->d = d;
	r->c = c;
	r->ev = ev;
	r->rules = rules;
	r->rules_data = rules_data;
	r->fx = fx;
	r->msg = msg;
	r->msglen = msglen;
	memset(fx, 0, sizeof(*fx));
	if (msg && msglen)
		msg[0] = '\0';
}

static enum wf_reject
finish(struct run *r, enum wf_reject rc)
{
	if (rc != WF_OK) {
		wf_effects_free(r->fx);
		if (r->msg && r->msglen && !r->msg[0])
			fail(r, rc, "rejected");
	}
	return rc;
}

/* Writes the allowed-events message for the NOT_ALLOWED rejection. */
static enum wf_reject
not_allowed(struct run *r, int status)
{
	const char *sname = r->d->statuses[status].name;
	json_t *names = wf_allowed_events(r->d, sname, r->ev->actor_role);
	char list[512] = "none";
	size_t used = 0, i;
	json_t *n;

	if (names && json_array_size(names) > 0) {
		list[0] = '\0';
		json_array_foreach(names, i, n)
		{
			int w = snprintf(list + used, sizeof(list) - used,
			                 "%s%s", i ? ", " : "",
			                 json_string_value(n));
			if (w < 0 || (size_t)w >= sizeof(list) - used)
				break;
			used += (size_t)w;
		}
	}
	json_decref(names);
	return fail(r, WF_REJECT_NOT_ALLOWED,
	            "event '%s' is not allowed in status '%s'; allowed: %s",
	            r->ev->type, sname, list);
}

/* Resolves a `to` chosen by the event's data. */
static enum wf_reject
choose_to(struct run *r, const struct wf_transition *t, int *to)
{
	const char *v;
	char list[512];
	size_t used = 0;

	if (!t->to_field) {
		*to = t->to;
		return WF_OK;
	}
	v = json_string_value(path_get(r->ev->data, t->to_field));
	for (int i = 0; v && i < t->nto_cases; i++) {
		if (strcmp(t->to_cases[i].value, v) == 0) {
			*to = t->to_cases[i].status;
			return WF_OK;
		}
	}
	list[0] = '\0';
	for (int i = 0; i < t->nto_cases; i++) {
		int w = snprintf(list + used, sizeof(list) - used, "%s%s",
		                 i ? ", " : "", t->to_cases[i].value);
		if (w < 0 || (size_t)w >= sizeof(list) - used)
			break;
		used += (size_t)w;
	}
	return fail(r, WF_REJECT_DATA,
	            "event '%s': data field '%s' must be one of: %s",
	            r->ev->type, t->to_field, list);
}

enum wf_reject
wf_apply(const struct wf_def *d, const struct wf_case *c,
         const struct wf_event *ev, wf_rule_fn rules, void *rules_data,
         struct wf_effects *fx, char *msg, size_t msglen)
{
	const struct wf_transition *win = NULL;
	json_t *guard_res = NULL;
	enum wf_reject rc;
	struct run r;
	int cur, to = -1, matched = 0, permitted = 0;
	enum wf_outcome last = WF_NEEDS_REVIEW;
	const char *last_guard = NULL;
	char detail_s[200] = "", role_s[64];

	start_run(&r, d, c, ev, rules, rules_data, fx, msg, msglen);
	cur = status_index(d, c->status);
	if (cur < 0)
		return finish(&r,
		              fail(&r, WF_REJECT_NOT_ALLOWED,
		                   "the case's status '%s' is not in "
		                   "workflow '%s'",
		                   c->status ? c->status : "(none)", d->name));
	if (!ev->type)
		return finish(&r, not_allowed(&r, cur));
	if (ev->data && !json_is_object(ev->data))
		return finish(&r, fail(&r, WF_REJECT_DATA,
		                       "event data is not an object"));

	for (int i = 0; i < d->ntransitions && !win; i++) {
		const struct wf_transition *t = &d->transitions[i];
		json_t *detail;

		if (strcmp(t->on, ev->type) != 0 || !from_covers(t, cur))
			continue;
		matched = 1;
		if (!may_send(t, ev->actor_role))
			continue;
		permitted = 1;
		if (!t->guard) {
			win = t;
			break;
		}
		last = rule_eval(&r, t->guard, c, &detail);
		last_guard = t->guard;
		if (last == WF_ELIGIBLE) {
			win = t;
			guard_res = rule_result(last, detail);
			if (!guard_res)
				return finish(&r, nomem(&r));
			break;
		}
		if (detail &&
		    json_is_string(json_object_get(detail, "summary"))) {
			/* the rule's reasons, as the host put them for people */
			snprintf(detail_s, sizeof(detail_s), ": %s",
			         json_string_value(
			                 json_object_get(detail, "summary")));
			json_decref(detail);
		} else if (detail) {
			char *s = json_dumps(detail,
			                     JSON_COMPACT | JSON_ENCODE_ANY);

			snprintf(detail_s, sizeof(detail_s), ": %s",
			         s ? s : "");
			free(s);
			json_decref(detail);
		} else {
			detail_s[0] = '\0';
		}
	}
	if (!matched)
		return finish(&r, not_allowed(&r, cur));
	if (!permitted)
		return finish(&r, fail(&r, WF_REJECT_ROLE,
		                       "%s may not send '%s' in status '%s'",
		                       role_label(ev->actor_role, role_s),
		                       ev->type, d->statuses[cur].name));
	if (!win)
		return finish(&r, fail(&r, WF_REJECT_GUARD,
		                       "event '%s' refused: rule '%s' says "
		                       "%s%s",
		                       ev->type, last_guard, outcome_name(last),
		                       detail_s));

	rc = choose_to(&r, win, &to);
	if (rc == WF_OK && (to < 0 || to >= d->nstatuses))
		rc = fail(&r, WF_REJECT_DATA,
		          "event '%s': the transition's target is not a status "
		          "of workflow '%s'",
		          ev->type, d->name);
	if (rc != WF_OK || (rc = copy_data(&r)) != WF_OK) {
		json_decref(guard_res);
		return finish(&r, rc);
	}
	if (guard_res && (rc = record_rule(&r, win->guard, guard_res)) != WF_OK)
		return finish(&r, rc);
	rc = enter(&r, cur, to, win->actions, win->nactions);
	return finish(&r, rc);
}

enum wf_reject
wf_start(const struct wf_def *d, const struct wf_case *c, int64_t now_ms,
         wf_rule_fn rules, void *rules_data, struct wf_effects *fx, char *msg,
         size_t msglen)
{
	struct wf_event ev = {.type = WF_EVENT_START, .now_ms = now_ms};
	enum wf_reject rc;
	struct run r;

	start_run(&r, d, c, &ev, rules, rules_data, fx, msg, msglen);
	if (d->initial < 0 || d->initial >= d->nstatuses)
		return finish(&r, fail(&r, WF_REJECT_NOT_ALLOWED,
		                       "workflow '%s' has no initial status",
		                       d->name));
	rc = copy_data(&r);
	if (rc == WF_OK)
		rc = enter(&r, -1, d->initial, NULL, 0);
	return finish(&r, rc);
}

void
wf_effects_free(struct wf_effects *fx)
{
	if (!fx)
		return;
	json_decref(fx->data);
	for (int i = 0; i < fx->ntimers; i++)
		timer_free(&fx->timers[i]);
	free(fx->timers);
	for (int i = 0; i < fx->ncancel; i++)
		free(fx->cancel[i]);
	free(fx->cancel);
	for (int i = 0; i < fx->nalerts; i++) {
		free(fx->alerts[i].kind);
		free(fx->alerts[i].severity);
		free(fx->alerts[i].to);
		free(fx->alerts[i].message);
	}
	free(fx->alerts);
	for (int i = 0; i < fx->ncalls; i++) {
		free(fx->calls[i].adapter);
		free(fx->calls[i].operation);
	}
	free(fx->calls);
	for (int i = 0; i < fx->nspawns; i++) {
		free(fx->spawns[i].workflow);
		free(fx->spawns[i].key);
		json_decref(fx->spawns[i].data);
	}
	free(fx->spawns);
	json_decref(fx->rule_results);
	memset(fx, 0, sizeof(*fx));
}

json_t *
wf_allowed_events(const struct wf_def *d, const char *status, unsigned role)
{
	int s = status_index(d, status);
	json_t *out = json_array();

	if (!out || s < 0)
		return out;
	for (int i = 0; i < d->ntransitions; i++) {
		const struct wf_transition *t = &d->transitions[i];
		int seen = 0;

		if (!from_covers(t, s) || !may_send(t, role))
			continue;
		for (int k = 0; k < i && !seen; k++)
			seen = strcmp(d->transitions[k].on, t->on) == 0 &&
			       from_covers(&d->transitions[k], s) &&
			       may_send(&d->transitions[k], role);
		if (!seen && json_array_append_new(out, json_string(t->on))) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}
