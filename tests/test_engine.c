/*
 * test_engine.c: the workflow engine (workflows/engine.c) without a loader,
 * a loop or a store: definitions are built here in code, shaped like the
 * campus_application and student_application examples, and every event is
 * applied to a case whose data is dumped before and after to prove the
 * engine never changes its input. Rejections are a table; the effects of
 * the accepted events (data, timers, alerts, calls, rules, spawns) are
 * checked one by one.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/auth.h"
#include "../workflows/workflow.h"

/* --- building definitions -------------------------------------------- */

#define NARR(T, ...) ((int)(sizeof((T[]){__VA_ARGS__}) / sizeof(T)))

static void *
dup_mem(const void *p, size_t n)
{
	void *q = malloc(n);

	cr_assert_not_null(q);
	memcpy(q, p, n);
	return q;
}

/* sizeof does not evaluate its operand, so the JSON in the actions is
 * created once. */
#define ACTS(...)                                                              \
	dup_mem((struct wf_action[]){__VA_ARGS__},                             \
	        sizeof((struct wf_action[]){__VA_ARGS__}))
#define ENTER(...)                                                             \
	.enter = ACTS(__VA_ARGS__),                                            \
	.nenter = NARR(struct wf_action, __VA_ARGS__)
#define DO(...)                                                                \
	.actions = ACTS(__VA_ARGS__),                                          \
	.nactions = NARR(struct wf_action, __VA_ARGS__)
#define FROM(...)                                                              \
	.from = dup_mem((int[]){__VA_ARGS__}, sizeof((int[]){__VA_ARGS__})),   \
	.nfrom = NARR(int, __VA_ARGS__)

static json_t *
J(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &err);

	cr_assert_not_null(j, "bad test JSON %s: %s", text, err.text);
	return j;
}

#define SET(f, v)                                                              \
	{                                                                      \
		.kind = WF_ACT_SET, .field = f, .value = J(v)                  \
	}
#define TIMER_AFTER(n, ms)                                                     \
	{                                                                      \
		.kind = WF_ACT_TIMER_START, .timer = n, .after_ms = ms         \
	}
#define TIMER_UNTIL(n, f, e)                                                   \
	{                                                                      \
		.kind = WF_ACT_TIMER_START, .timer = n, .until_field = f,      \
		.event = e                                                     \
	}
#define CANCEL(n)                                                              \
	{                                                                      \
		.kind = WF_ACT_TIMER_CANCEL, .timer = n                        \
	}
#define ALERT(k, s, t, m)                                                      \
	{                                                                      \
		.kind = WF_ACT_ALERT, .alert_kind = k, .severity = s, .to = t, \
		.message = m                                                   \
	}
#define CALL(a, o)                                                             \
	{                                                                      \
		.kind = WF_ACT_CALL, .adapter = a, .operation = o              \
	}
#define EVAL(r, s)                                                             \
	{                                                                      \
		.kind = WF_ACT_RULE, .rule = r, .store_as = s                  \
	}
#define SPAWN(w, f, a)                                                         \
	{                                                                      \
		.kind = WF_ACT_SPAWN, .workflow = w, .for_each = f, .as = a    \
	}

#define DAY_MS (86400000LL)
#define ADM    ROLE_BIT(ROLE_ADMISSIONS)
#define STU    ROLE_BIT(ROLE_STUDENT)
#define CNS    ROLE_BIT(ROLE_COUNSELOR)
#define ADMIN  ROLE_BIT(ROLE_ADMIN)

enum {
	RECEIVED,
	INCOMPLETE,
	UNDER_REVIEW,
	ADMITTED,
	DENIED,
	WAITLISTED,
	WITHDRAWN,
	REGISTERED,
	NCAMPUS
};

/* campus_application, abridged; strings are literals (never freed). */
static struct wf_def *
campus_def(void)
{
	struct wf_status st[NCAMPUS] = {
	        [RECEIVED] = {.name = "received",
	                      .initial = 1,
	                      ENTER(SET("received_at", "\"$now\""),
	                            EVAL("completeness",
	                                 "checks.completeness"))},
	        [INCOMPLETE] = {.name = "incomplete",
	                        ENTER(TIMER_AFTER("documents", 14 * DAY_MS),
	                              ALERT("documents_missing", "warning",
	                                    "counselor",
	                                    "Documents are missing"))},
	        [UNDER_REVIEW] = {.name = "under_review",
	                          .queue = "admissions",
	                          ENTER(CALL("uc_campus", "send_application"))},
	        [ADMITTED] = {.name = "admitted",
	                      ENTER(TIMER_UNTIL("sir", "sir_deadline",
	                                        "sir_deadline_passed"))},
	        [DENIED] = {.name = "denied", .terminal = 1},
	        [WAITLISTED] = {.name = "waitlisted"},
	        [WITHDRAWN] = {.name = "withdrawn", .terminal = 1},
	        [REGISTERED] = {.name = "registered", .terminal = 1},
	};
	struct wf_to_case decide_to[] = {{"admit", ADMITTED},
	                                 {"deny", DENIED},
	                                 {"waitlist", WAITLISTED}};
	struct wf_transition tr[] = {
	        {.on = "request_documents",
	         FROM(RECEIVED, UNDER_REVIEW),
	         .to = INCOMPLETE,
	         .roles = ADM,
	         DO(SET("documents.requested", "\"$event.documents\""),
	            SET("documents.requested_at", "\"$now\""))},
	        {.on = "documents_received",
	         FROM(INCOMPLETE),
	         .to = UNDER_REVIEW,
	         .roles = ADM | STU,
	         DO(CANCEL("documents"))},
	        {.on = "timer.documents",
	         FROM(INCOMPLETE),
	         .to = WITHDRAWN,
	         DO(SET("withdrawn.reason", "\"documents_overdue\""))},
	        {.on = "review",
	         FROM(RECEIVED),
	         .to = UNDER_REVIEW,
	         .roles = ADM,
	         .guard = "complete_application"},
	        {.on = "screen",
	         FROM(RECEIVED),
	         .to = UNDER_REVIEW,
	         .roles = ADM,
	         .guard = "fast_track"},
	        {.on = "screen",
	         FROM(RECEIVED),
	         .to = INCOMPLETE,
	         .roles = ADM},
	        {.on = "decide",
	         FROM(UNDER_REVIEW),
	         .to = -1,
	         .to_field = "decision",
	         .to_cases = dup_mem(decide_to, sizeof(decide_to)),
	         .nto_cases = 3,
	         .roles = ADM,
	         DO(SET("decision.value", "\"$event.decision\""),
	            SET("decision.note", "\"$event.note\""),
	            SET("decision.at", "\"$now\""),
	            SET("decision.reader", "\"$case.reader.name\""),
	            SET("decision.first_campus", "\"$case.campuses.0\""),
	            SET("decision.literal", "{\"a\": [1, \"$now\"]}"))},
	        {.on = "note",
	         FROM(UNDER_REVIEW),
	         .to = UNDER_REVIEW,
	         .roles = ADM | CNS,
	         DO(SET("notes.last", "\"$event.text\""),
	            TIMER_AFTER("followup", DAY_MS))},
	        {.on = "withdraw",
	         FROM(RECEIVED, INCOMPLETE, UNDER_REVIEW, ADMITTED, WAITLISTED),
	         .to = WITHDRAWN,
	         .roles = STU,
	         DO(CANCEL("sir"))},
	        {.on = "intend_to_register",
	         FROM(ADMITTED),
	         .to = REGISTERED,
	         .roles = STU,
	         .guard = "sir_eligible",
	         DO(EVAL("fee_waiver", "fees.waiver"))},
	        {.on = "sir_deadline_passed", FROM(ADMITTED), .to = WITHDRAWN},
	        /* as the loader builds "from: any": every non-terminal */
	        {.on = "reopen",
	         .from_any = 1,
	         FROM(RECEIVED, INCOMPLETE, UNDER_REVIEW, ADMITTED, WAITLISTED),
	         .to = RECEIVED,
	         .roles = ADMIN},
	        {.on = "set_deadline",
	         FROM(ADMITTED),
	         .to = ADMITTED,
	         .roles = ADM,
	         DO(SET("sir_deadline", "\"$event.date\""),
	            TIMER_UNTIL("sir", "sir_deadline", "sir_deadline_passed"))},
	        {.on = "skip",
	         FROM(RECEIVED),
	         .to = INCOMPLETE,
	         .roles = ADM,
	         DO(TIMER_AFTER("x", 1000), CANCEL("x"),
	            TIMER_AFTER("documents", 5))},
	        {.on = "bad_path",
	         FROM(RECEIVED),
	         .to = RECEIVED,
	         .roles = ADMIN,
	         DO(SET("received_at.x", "1"))},
	};
	struct wf_def *d = calloc(1, sizeof(*d));

	cr_assert_not_null(d);
	d->name = "campus_application";
	d->statuses = dup_mem(st, sizeof(st));
	d->nstatuses = NCAMPUS;
	d->initial = RECEIVED;
	d->transitions = dup_mem(tr, sizeof(tr));
	d->ntransitions = (int)(sizeof(tr) / sizeof(tr[0]));
	return d;
}

enum { DRAFT, SUBMITTED, SETTLED, NSTUDENT };

static struct wf_def *
student_def(void)
{
	struct wf_status st[NSTUDENT] = {
	        [DRAFT] = {.name = "draft", .initial = 1},
	        [SUBMITTED] = {.name = "submitted",
	                       ENTER(SPAWN("campus_application", "campuses",
	                                   "campus"))},
	        [SETTLED] = {.name = "settled", .terminal = 1},
	};
	struct wf_transition tr[] = {
	        {.on = "submit", FROM(DRAFT), .to = SUBMITTED, .roles = STU},
	        {.on = "child.admitted",
	         FROM(SUBMITTED),
	         .to = SUBMITTED,
	         .roles = ADMIN,
	         DO(SET("admitted_somewhere", "true"))},
	        {.on = "children.settled", FROM(SUBMITTED), .to = SETTLED},
	        {.on = "recompute", FROM(SUBMITTED), .to = SUBMITTED},
	        {.on = "add_campuses",
	         FROM(SUBMITTED),
	         .to = SUBMITTED,
	         .roles = STU,
	         DO(SPAWN("campus_application", "campuses", "campus"),
	            SPAWN("campus_application", "extra", "campus"))},
	};
	struct wf_def *d = calloc(1, sizeof(*d));

	cr_assert_not_null(d);
	d->name = "student_application";
	d->statuses = dup_mem(st, sizeof(st));
	d->nstatuses = NSTUDENT;
	d->initial = DRAFT;
	d->transitions = dup_mem(tr, sizeof(tr));
	d->ntransitions = (int)(sizeof(tr) / sizeof(tr[0]));
	return d;
}

static void
actions_free(struct wf_action *a, int n)
{
	for (int i = 0; i < n; i++)
		json_decref(a[i].value);
	free(a);
}

static void
def_free(struct wf_def *d)
{
	for (int i = 0; i < d->nstatuses; i++)
		actions_free(d->statuses[i].enter, d->statuses[i].nenter);
	for (int i = 0; i < d->ntransitions; i++) {
		free(d->transitions[i].from);
		free(d->transitions[i].to_cases);
		actions_free(d->transitions[i].actions,
		             d->transitions[i].nactions);
	}
	free(d->statuses);
	free(d->transitions);
	free(d);
}

/* --- a rule set for tests ----------------------------------------------- */

/* The outcome of rule R is the case data's outcomes.R ("eligible" when
 * absent); the detail says which rule saw which status. */
struct rules_log {
	int calls;
	char last_status[64];
	char last_type[64];
};

static enum wf_outcome
fake_rules(const char *rule, const struct wf_case *c, const struct wf_event *ev,
           json_t **detail, void *data)
{
	struct rules_log *log = data;
	json_t *o = json_object_get(json_object_get(c->data, "outcomes"), rule);
	const char *s = json_string_value(o);

	cr_assert_null(*detail);
	if (log) {
		log->calls++;
		snprintf(log->last_status, sizeof(log->last_status), "%s",
		         c->status);
		snprintf(log->last_type, sizeof(log->last_type), "%s",
		         ev->type);
	}
	*detail = json_pack("{s:s, s:s}", "rule", rule, "status", c->status);
	if (!s || strcmp(s, "eligible") == 0)
		return WF_ELIGIBLE;
	if (strcmp(s, "ineligible") == 0)
		return WF_INELIGIBLE;
	if (strcmp(s, "bogus") == 0)
		return (enum wf_outcome)42;
	return WF_NEEDS_REVIEW;
}

/* --- applying events ------------------------------------------------------ */

/* 2024-11-30T12:34:56.789Z */
#define NOW 1732970096789LL

struct run {
	struct wf_def *d;
	json_t *data;
	struct wf_case c;
	struct wf_effects fx;
	char msg[512];
	enum wf_reject rc;
	struct rules_log log;
};

static int
fx_is_empty(const struct wf_effects *fx)
{
	static const struct wf_effects zero;

	return memcmp(fx, &zero, sizeof(zero)) == 0;
}

/*
 * Applies event type (data evdata, may be NULL) from role to a case of d in
 * status with data, and checks that the case's data did not change and that
 * a rejection left fx empty. rules may be NULL.
 */
static void
apply(struct run *r, struct wf_def *d, const char *status, const char *data,
      const char *type, const char *evdata, unsigned role, wf_rule_fn rules,
      const char *parent)
{
	json_t *ev_data = evdata ? J(evdata) : NULL;
	struct wf_event ev = {type, ev_data, role, NOW};
	char *before, *after, *ev_before, *ev_after = NULL;

	memset(r, 0, sizeof(*r));
	r->d = d;
	r->data = J(data);
	r->c = (struct wf_case){.id = "c-1",
	                        .status = status,
	                        .data = r->data,
	                        .subject = "s-1",
	                        .parent_id = parent,
	                        .revision = 3};
	before = json_dumps(r->data, JSON_SORT_KEYS);
	ev_before =
	        ev_data ? json_dumps(ev_data, JSON_SORT_KEYS | JSON_ENCODE_ANY)
	                : NULL;
	memset(&r->fx, 0x5a, sizeof(r->fx)); /* the engine must zero it */
	r->rc = wf_apply(d, &r->c, &ev, rules, &r->log, &r->fx, r->msg,
	                 sizeof(r->msg));
	after = json_dumps(r->data, JSON_SORT_KEYS);
	cr_assert_str_eq(after, before, "%s: the case's data changed", type);
	if (ev_data) {
		ev_after =
		        json_dumps(ev_data, JSON_SORT_KEYS | JSON_ENCODE_ANY);
		cr_assert_str_eq(ev_after, ev_before, "%s: event data changed",
		                 type);
	}
	if (r->rc != WF_OK) {
		cr_assert(fx_is_empty(&r->fx), "%s: rejected but fx not empty",
		          type);
		cr_assert_neq(r->msg[0], '\0', "%s: no message", type);
	} else {
		cr_assert_not_null(r->fx.data);
	}
	free(before);
	free(after);
	free(ev_before);
	free(ev_after);
	json_decref(ev_data);
}

static void
run_free(struct run *r)
{
	wf_effects_free(&r->fx);
	json_decref(r->data);
}

/* The string at a dotted path of the new data ("" when not a string). */
static const char *
fx_str(const struct run *r, const char *a, const char *b)
{
	json_t *v = json_object_get(r->fx.data, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_string(v) ? json_string_value(v) : "";
}

/* --- the rejection and routing table ---------------------------------- */

struct row {
	const char *name;
	int student; /* student_def instead of campus_def */
	const char *status, *data, *type, *evdata;
	unsigned role;
	int no_rules;
	enum wf_reject rc;
	const char *to;  /* expected new status when rc is WF_OK */
	const char *msg; /* substring of the message, when not NULL */
};

#define SIR "{\"sir_deadline\": \"2025-05-01\"}"

static const struct row rows[] = {
        {"allowed", 0, "received", "{}", "request_documents", NULL, ADM, 0,
         WF_OK, "incomplete", NULL},
        {"not allowed names allowed events", 0, "received", "{}", "decide",
         NULL, ADM, 0, WF_REJECT_NOT_ALLOWED, NULL,
         "event 'decide' is not allowed in status 'received'; allowed: "
         "request_documents, review, screen, skip"},
        {"not allowed lists the sender's events", 0, "received", "{}", "decide",
         NULL, STU, 0, WF_REJECT_NOT_ALLOWED, NULL, "; allowed: withdraw"},
        {"not allowed, nothing allowed", 0, "denied", "{}", "withdraw", NULL,
         STU, 0, WF_REJECT_NOT_ALLOWED, NULL, "allowed: none"},
        {"unknown event", 0, "received", "{}", "nonsense", NULL, ADM, 0,
         WF_REJECT_NOT_ALLOWED, NULL, "event 'nonsense' is not allowed"},
        {"unknown status", 0, "limbo", "{}", "withdraw", NULL, STU, 0,
         WF_REJECT_NOT_ALLOWED, NULL, "status 'limbo' is not in workflow"},
        {"role may not", 0, "under_review", "{}", "decide",
         "{\"decision\": \"admit\"}", STU, 0, WF_REJECT_ROLE, NULL,
         "role 'student' may not send 'decide' in status 'under_review'"},
        {"person may not send a system event", 0, "incomplete", "{}",
         "timer.documents", NULL, ADM, 0, WF_REJECT_ROLE, NULL,
         "role 'admissions' may not"},
        {"system sends a timer event", 0, "incomplete", "{}", "timer.documents",
         NULL, 0, 0, WF_OK, "withdrawn", NULL},
        {"system may not send a person's event", 0, "received", "{}",
         "request_documents", NULL, 0, 0, WF_REJECT_ROLE, NULL,
         "the system may not send 'request_documents'"},
        {"system event with roles == 0", 0, "admitted", SIR,
         "sir_deadline_passed", NULL, 0, 0, WF_OK, "withdrawn", NULL},
        {"person may not send roles == 0", 0, "admitted", SIR,
         "sir_deadline_passed", NULL, ADMIN, 0, WF_REJECT_ROLE, NULL, NULL},
        {"two roles listed, second", 0, "incomplete", "{}",
         "documents_received", NULL, STU, 0, WF_OK, "under_review", NULL},
        {"guard eligible", 0, "received",
         "{\"outcomes\": {\"complete_application\": \"eligible\"}}", "review",
         NULL, ADM, 0, WF_OK, "under_review", NULL},
        {"guard ineligible", 0, "received",
         "{\"outcomes\": {\"complete_application\": \"ineligible\"}}", "review",
         NULL, ADM, 0, WF_REJECT_GUARD, NULL,
         "rule 'complete_application' says ineligible: "
         "{\"rule\":\"complete_application\",\"status\":\"received\"}"},
        {"guard needs review", 0, "received",
         "{\"outcomes\": {\"complete_application\": \"needs_review\"}}",
         "review", NULL, ADM, 0, WF_REJECT_GUARD, NULL, "says needs_review"},
        {"guard out-of-range outcome is needs review", 0, "received",
         "{\"outcomes\": {\"complete_application\": \"bogus\"}}", "review",
         NULL, ADM, 0, WF_REJECT_GUARD, NULL, "says needs_review"},
        {"no rules: guard fails closed", 0, "received", "{}", "review", NULL,
         ADM, 1, WF_REJECT_GUARD, NULL,
         "rule 'complete_application' says needs_review"},
        {"no rules: no guard, no problem", 0, "received", "{}",
         "request_documents", NULL, ADM, 1, WF_OK, "incomplete", NULL},
        {"first transition whose guard passes", 0, "received",
         "{\"outcomes\": {\"fast_track\": \"eligible\"}}", "screen", NULL, ADM,
         0, WF_OK, "under_review", NULL},
        {"guard fails, next transition in file order", 0, "received",
         "{\"outcomes\": {\"fast_track\": \"ineligible\"}}", "screen", NULL,
         ADM, 0, WF_OK, "incomplete", NULL},
        {"to by data: admit", 0, "under_review", SIR, "decide",
         "{\"decision\": \"admit\"}", ADM, 0, WF_OK, "admitted", NULL},
        {"to by data: deny", 0, "under_review", "{}", "decide",
         "{\"decision\": \"deny\"}", ADM, 0, WF_OK, "denied", NULL},
        {"to by data: waitlist", 0, "under_review", "{}", "decide",
         "{\"decision\": \"waitlist\"}", ADM, 0, WF_OK, "waitlisted", NULL},
        {"to by data: unknown value", 0, "under_review", "{}", "decide",
         "{\"decision\": \"maybe\"}", ADM, 0, WF_REJECT_DATA, NULL,
         "data field 'decision' must be one of: admit, deny, waitlist"},
        {"to by data: no data", 0, "under_review", "{}", "decide", NULL, ADM, 0,
         WF_REJECT_DATA, NULL, "'decision' must be one of"},
        {"to by data: not a string", 0, "under_review", "{}", "decide",
         "{\"decision\": 1}", ADM, 0, WF_REJECT_DATA, NULL, NULL},
        {"event data not an object", 0, "under_review", "{}", "decide",
         "[\"admit\"]", ADM, 0, WF_REJECT_DATA, NULL,
         "event data is not an object"},
        {"on_enter timer without its date", 0, "under_review", "{}", "decide",
         "{\"decision\": \"admit\"}", ADM, 0, WF_REJECT_DATA, NULL,
         "timer 'sir': case field 'sir_deadline' is not"},
        {"self-transition", 0, "under_review", "{}", "note",
         "{\"text\": \"hi\"}", CNS, 0, WF_OK, "under_review", NULL},
        {"from any: never out of a terminal status", 0, "withdrawn", "{}",
         "reopen", NULL, ADMIN, 0, WF_REJECT_NOT_ALLOWED, NULL, NULL},
        {"from any: out of an open status", 0, "waitlisted", "{}", "reopen",
         NULL, ADMIN, 0, WF_OK, "received", NULL},
        {"set through a non-object", 0, "received",
         "{\"received_at\": \"2024-11-01T00:00:00Z\"}", "bad_path", NULL, ADMIN,
         0, WF_REJECT_DATA, NULL,
         "cannot set 'received_at.x': 'received_at' is not an object"},
        {"system sends child.* whatever the roles", 1, "submitted", "{}",
         "child.admitted", NULL, 0, 0, WF_OK, "submitted", NULL},
        {"listed role sends child.* too", 1, "submitted", "{}",
         "child.admitted", NULL, ADMIN, 0, WF_OK, "submitted", NULL},
        {"children.settled from the system", 1, "submitted", "{}",
         "children.settled", NULL, 0, 0, WF_OK, "settled", NULL},
        {"children.settled from a person", 1, "submitted", "{}",
         "children.settled", NULL, ADMIN, 0, WF_REJECT_ROLE, NULL, NULL},
        {"system-only event, system", 1, "submitted", "{}", "recompute", NULL,
         0, 0, WF_OK, "submitted", NULL},
        {"system-only event, person", 1, "submitted", "{}", "recompute", NULL,
         CNS, 0, WF_REJECT_ROLE, NULL,
         "role 'counselor' may not send 'recompute'"},
        {"spawn list", 1, "draft", "{\"campuses\": [\"uc-davis\"]}", "submit",
         NULL, STU, 0, WF_OK, "submitted", NULL},
        {"spawn list empty", 1, "draft", "{\"campuses\": []}", "submit", NULL,
         STU, 0, WF_OK, "submitted", NULL},
        {"spawn list not a list", 1, "draft", "{\"campuses\": \"uc-davis\"}",
         "submit", NULL, STU, 0, WF_REJECT_DATA, NULL,
         "spawn campus_application: case field 'campuses' is not a list"},
        {"spawn list missing", 1, "draft", "{}", "submit", NULL, STU, 0,
         WF_REJECT_DATA, NULL, "is not a list"},
        {"spawn element not a string", 1, "draft",
         "{\"campuses\": [\"uc-davis\", 7]}", "submit", NULL, STU, 0,
         WF_REJECT_DATA, NULL, "element 1 of 'campuses' is not a non-empty"},
        {"spawn element empty", 1, "draft", "{\"campuses\": [\"\"]}", "submit",
         NULL, STU, 0, WF_REJECT_DATA, NULL, "element 0"},
        {"spawn: second list bad after first spawned", 1, "submitted",
         "{\"campuses\": [\"uc-davis\"], \"extra\": {}}", "add_campuses", NULL,
         STU, 0, WF_REJECT_DATA, NULL, "'extra' is not a list"},
};

Test(engine, table)
{
	struct wf_def *defs[2] = {campus_def(), student_def()};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		struct wf_def *d = defs[w->student];
		struct run r;

		apply(&r, d, w->status, w->data, w->type, w->evdata, w->role,
		      w->no_rules ? NULL : fake_rules, NULL);
		cr_assert_eq(r.rc, w->rc, "%s: rc %d, want %d (%s)", w->name,
		             r.rc, w->rc, r.msg);
		if (w->msg)
			cr_assert(strstr(r.msg, w->msg), "%s: message \"%s\"",
			          w->name, r.msg);
		if (w->rc == WF_OK) {
			cr_assert_str_eq(d->statuses[r.fx.to].name, w->to, "%s",
			                 w->name);
			cr_assert_eq(r.fx.transitioned,
			             strcmp(w->to, w->status) != 0, "%s",
			             w->name);
		}
		run_free(&r);
	}
	def_free(defs[0]);
	def_free(defs[1]);
}

Test(engine, null_message_buffer)
{
	struct wf_def *d = campus_def();
	json_t *data = J("{}");
	struct wf_case c = {.id = "c", .status = "received", .data = data};
	struct wf_event ev = {"decide", NULL, ADM, NOW};
	struct wf_effects fx;

	cr_assert_eq(wf_apply(d, &c, &ev, fake_rules, NULL, &fx, NULL, 0),
	             WF_REJECT_NOT_ALLOWED);
	cr_assert(fx_is_empty(&fx));
	wf_effects_free(&fx);
	json_decref(data);
	def_free(d);
}

/* --- effects ------------------------------------------------------------ */

Test(engine, start_enters_initial_status)
{
	struct wf_def *d = campus_def();
	struct wf_effects fx;
	struct rules_log log = {0};
	json_t *data = J("{\"campus\": \"uc-davis\"}");
	struct wf_case c = {.id = "c", .data = data, .parent_id = "p-1"};
	char msg[256];

	cr_assert_eq(
	        wf_start(d, &c, NOW, fake_rules, &log, &fx, msg, sizeof(msg)),
	        WF_OK, "%s", msg);
	cr_assert_eq(fx.transitioned, 1);
	cr_assert_eq(fx.from, -1);
	cr_assert_eq(fx.to, RECEIVED);
	cr_assert_eq(fx.cancel_all, 0);
	cr_assert_eq(fx.notify_parent, 1);
	cr_assert_eq(fx.terminal, 0);
	cr_assert_str_eq(
	        json_string_value(json_object_get(fx.data, "received_at")),
	        "2024-11-30T12:34:56.789Z");
	cr_assert_str_eq(json_string_value(json_object_get(fx.data, "campus")),
	                 "uc-davis");
	cr_assert_eq(log.calls, 1);
	cr_assert_str_eq(log.last_status, "received");
	cr_assert_str_eq(log.last_type, WF_EVENT_START);
	cr_assert_str_eq(
	        json_string_value(json_object_get(
	                json_object_get(json_object_get(fx.data, "checks"),
	                                "completeness"),
	                "outcome")),
	        "eligible");
	cr_assert_str_eq(
	        json_string_value(json_object_get(
	                json_object_get(fx.rule_results, "completeness"),
	                "outcome")),
	        "eligible");
	cr_assert_eq(json_object_size(data), 1, "input data changed");
	wf_effects_free(&fx);
	cr_assert(fx_is_empty(&fx));
	wf_effects_free(&fx); /* twice is harmless */

	/* a root case; no rules: evaluate says needs_review; NULL data */
	c.parent_id = NULL;
	c.data = NULL;
	cr_assert_eq(wf_start(d, &c, 0, NULL, NULL, &fx, msg, sizeof(msg)),
	             WF_OK);
	cr_assert_eq(fx.notify_parent, 0);
	cr_assert_str_eq(
	        json_string_value(json_object_get(fx.data, "received_at")),
	        "1970-01-01T00:00:00.000Z");
	cr_assert_str_eq(
	        json_string_value(json_object_get(
	                json_object_get(fx.rule_results, "completeness"),
	                "outcome")),
	        "needs_review");
	cr_assert(json_is_null(json_object_get(
	        json_object_get(fx.rule_results, "completeness"), "detail")));
	wf_effects_free(&fx);
	json_decref(data);
	def_free(d);
}

Test(engine, start_rejects_and_leaves_nothing)
{
	struct wf_def *d = student_def();
	struct wf_effects fx;
	json_t *data = J("[1]");
	struct wf_case c = {.id = "c", .data = data};
	char msg[256];

	cr_assert_eq(wf_start(d, &c, NOW, NULL, NULL, &fx, msg, sizeof(msg)),
	             WF_REJECT_DATA);
	cr_assert(fx_is_empty(&fx));
	cr_assert(strstr(msg, "not an object"), "%s", msg);
	json_decref(data);
	def_free(d);
}

Test(engine, set_resolves_references_and_nested_paths)
{
	struct wf_def *d = campus_def();
	struct run r;
	json_t *lit;

	apply(&r, d, "under_review",
	      "{\"reader\": {\"name\": \"R. Ortiz\"}, \"campuses\": "
	      "[\"uc-irvine\", \"uc-davis\"], \"decision\": {\"old\": 1}}",
	      "decide", "{\"decision\": \"deny\"}", ADM, fake_rules, "p-9");
	cr_assert_eq(r.rc, WF_OK, "%s", r.msg);
	cr_assert_str_eq(fx_str(&r, "decision", "value"), "deny");
	cr_assert_str_eq(fx_str(&r, "decision", "at"),
	                 "2024-11-30T12:34:56.789Z");
	cr_assert_str_eq(fx_str(&r, "decision", "reader"), "R. Ortiz");
	cr_assert_str_eq(fx_str(&r, "decision", "first_campus"), "uc-irvine");
	/* a missing $event field is null, and the existing object is kept */
	cr_assert(json_is_null(json_object_get(
	        json_object_get(r.fx.data, "decision"), "note")));
	cr_assert_eq(json_integer_value(json_object_get(
	                     json_object_get(r.fx.data, "decision"), "old")),
	             1);
	/* references are resolved only in a whole string value */
	lit = json_object_get(json_object_get(r.fx.data, "decision"),
	                      "literal");
	cr_assert_str_eq(
	        json_string_value(json_array_get(json_object_get(lit, "a"), 1)),
	        "$now");
	cr_assert_eq(r.fx.transitioned, 1);
	cr_assert_eq(r.fx.from, UNDER_REVIEW);
	cr_assert_eq(r.fx.to, DENIED);
	cr_assert_eq(r.fx.terminal, 1);
	cr_assert_eq(r.fx.cancel_all, 1);
	cr_assert_eq(r.fx.notify_parent, 1);
	cr_assert_eq(r.fx.ntimers, 0);
	cr_assert_null(r.fx.rule_results);
	run_free(&r);

	/* whole-object $event copies, $event with nested path */
	apply(&r, d, "received", "{}", "request_documents",
	      "{\"documents\": [\"transcript\", {\"kind\": \"essay\"}]}", ADM,
	      fake_rules, NULL);
	cr_assert_eq(r.rc, WF_OK, "%s", r.msg);
	cr_assert_eq(
	        json_array_size(json_object_get(
	                json_object_get(r.fx.data, "documents"), "requested")),
	        2);
	cr_assert_str_eq(fx_str(&r, "documents", "requested_at"),
	                 "2024-11-30T12:34:56.789Z");
	cr_assert_eq(r.fx.notify_parent, 0);
	run_free(&r);
	def_free(d);
}

Test(engine, timer_after_alert_and_cancel_all)
{
	struct wf_def *d = campus_def();
	struct run r;

	apply(&r, d, "received", "{}", "request_documents", NULL, ADM,
	      fake_rules, NULL);
	cr_assert_eq(r.rc, WF_OK);
	cr_assert_eq(r.fx.cancel_all, 1);
	cr_assert_eq(r.fx.ntimers, 1);
	cr_assert_str_eq(r.fx.timers[0].name, "documents");
	cr_assert_str_eq(r.fx.timers[0].event, "timer.documents");
	cr_assert_eq(r.fx.timers[0].due_ms, NOW + 14 * DAY_MS);
	cr_assert_eq(r.fx.nalerts, 1);
	cr_assert_str_eq(r.fx.alerts[0].kind, "documents_missing");
	cr_assert_str_eq(r.fx.alerts[0].severity, "warning");
	cr_assert_str_eq(r.fx.alerts[0].to, "counselor");
	cr_assert_str_eq(r.fx.alerts[0].message, "Documents are missing");
	cr_assert(json_is_null(json_object_get(
	        json_object_get(r.fx.data, "documents"), "requested")));
	run_free(&r);

	/* leaving: cancel by name, plus the new status's call */
	apply(&r, d, "incomplete", "{}", "documents_received", NULL, STU,
	      fake_rules, NULL);
	cr_assert_eq(r.rc, WF_OK);
	cr_assert_eq(r.fx.cancel_all, 1);
	cr_assert_eq(r.fx.ncancel, 1);
	cr_assert_str_eq(r.fx.cancel[0], "documents");
	cr_assert_eq(r.fx.ncalls, 1);
	cr_assert_str_eq(r.fx.calls[0].adapter, "uc_campus");
	cr_assert_str_eq(r.fx.calls[0].operation, "send_application");
	run_free(&r);

	/* start then cancel "x" in one go: only the cancel remains; the
	 * on_enter "documents" replaces the transition's one */
	apply(&r, d, "received", "{}", "skip", NULL, ADM, fake_rules, NULL);
	cr_assert_eq(r.rc, WF_OK);
	cr_assert_eq(r.fx.ntimers, 1);
	cr_assert_str_eq(r.fx.timers[0].name, "documents");
	cr_assert_eq(r.fx.timers[0].due_ms, NOW + 14 * DAY_MS);
	cr_assert_eq(r.fx.ncancel, 1);
	cr_assert_str_eq(r.fx.cancel[0], "x");
	run_free(&r);
	def_free(d);
}

Test(engine, self_transition_is_internal)
{
	struct wf_def *d = campus_def();
	struct run r;

	apply(&r, d, "under_review", "{}", "note", "{\"text\": \"call back\"}",
	      ADM, fake_rules, "p-1");
	cr_assert_eq(r.rc, WF_OK);
	cr_assert_eq(r.fx.transitioned, 0);
	cr_assert_eq(r.fx.from, UNDER_REVIEW);
	cr_assert_eq(r.fx.to, UNDER_REVIEW);
	cr_assert_eq(r.fx.cancel_all, 0);
	cr_assert_eq(r.fx.notify_parent, 0);
	cr_assert_eq(r.fx.ncalls, 0, "on_enter ran again");
	cr_assert_eq(r.fx.ntimers, 1);
	cr_assert_str_eq(r.fx.timers[0].name, "followup");
	cr_assert_eq(r.fx.timers[0].due_ms, NOW + DAY_MS);
	cr_assert_str_eq(fx_str(&r, "notes", "last"), "call back");
	run_free(&r);
	def_free(d);
}

struct date_case {
	const char *date;
	int ok;
	int64_t due;
};

static const struct date_case dates[] = {
        {"\"2025-05-01\"", 1, 1746057600000LL},
        {"\"2024-02-29\"", 1, 1709164800000LL},
        {"\"2025-05-01T00:00:00Z\"", 1, 1746057600000LL},
        {"\"2025-05-01t17:00:00z\"", 1, 1746118800000LL},
        {"\"2025-05-01T17:00:00-07:00\"", 1, 1746144000000LL},
        {"\"2025-05-02T05:30:00+05:30\"", 1, 1746144000000LL},
        {"\"2025-05-01T17:00:00.5Z\"", 1, 1746118800500LL},
        {"\"2025-05-01T17:00:00.123456Z\"", 1, 1746118800123LL},
        {"\"1969-12-31T23:59:59.999Z\"", 1, -1},
        {"\"2025-02-29\"", 0, 0},
        {"\"2025-13-01\"", 0, 0},
        {"\"2025-04-31\"", 0, 0},
        {"\"2025-05-01T17:00:00\"", 0, 0},
        {"\"2025-05-01T24:00:00Z\"", 0, 0},
        {"\"2025-05-01T17:60:00Z\"", 0, 0},
        {"\"2025-05-01T17:00:00.Z\"", 0, 0},
        {"\"2025-05-01T17:00:00+0700\"", 0, 0},
        {"\"2025-05-01T17:00:00Z \"", 0, 0},
        {"\"2025-5-1\"", 0, 0},
        {"\"25-05-01\"", 0, 0},
        {"\"2025-05-01 \"", 0, 0},
        {"\"tomorrow\"", 0, 0},
        {"\"\"", 0, 0},
        {"20250501", 0, 0},
        {"null", 0, 0},
};

Test(engine, timer_until_date)
{
	struct wf_def *d = campus_def();

	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		const struct date_case *dc = &dates[i];
		char ev[128];
		struct run r;
		int64_t want = dc->due;
		snprintf(ev, sizeof(ev), "{\"date\": %s}", dc->date);
		apply(&r, d, "admitted", SIR, "set_deadline", ev, ADM,
		      fake_rules, NULL);
		if (!dc->ok) {
			cr_assert_eq(r.rc, WF_REJECT_DATA, "%s: rc %d",
			             dc->date, r.rc);
			cr_assert(strstr(r.msg, "'sir_deadline'"), "%s", r.msg);
		} else {
			cr_assert_eq(r.rc, WF_OK, "%s: %s", dc->date, r.msg);
			cr_assert_eq(r.fx.ntimers, 1);
			cr_assert_str_eq(r.fx.timers[0].name, "sir");
			cr_assert_str_eq(r.fx.timers[0].event,
			                 "sir_deadline_passed");
			cr_assert_eq(r.fx.timers[0].due_ms, want, "%s: %lld",
			             dc->date,
			             (long long)r.fx.timers[0].due_ms);
			cr_assert_eq(r.fx.transitioned, 0);
		}
		run_free(&r);
	}

	/* entering admitted starts the until-timer from the case data */
	{
		struct run r;

		apply(&r, d, "under_review", SIR, "decide",
		      "{\"decision\": \"admit\"}", ADM, fake_rules, "p-1");
		cr_assert_eq(r.rc, WF_OK, "%s", r.msg);
		cr_assert_eq(r.fx.ntimers, 1);
		cr_assert_eq(r.fx.timers[0].due_ms, 1746057600000LL);
		cr_assert_eq(r.fx.cancel_all, 1);
		cr_assert_eq(r.fx.notify_parent, 1);
		run_free(&r);
	}
	def_free(d);
}

Test(engine, evaluate_and_guard_results)
{
	struct wf_def *d = campus_def();
	struct run r;
	json_t *w, *g;

	apply(&r, d, "admitted",
	      "{\"outcomes\": {\"fee_waiver\": \"ineligible\"}}",
	      "intend_to_register", NULL, STU, fake_rules, NULL);
	cr_assert_eq(r.rc, WF_OK, "%s", r.msg);
	cr_assert_eq(r.fx.to, REGISTERED);
	cr_assert_eq(r.fx.terminal, 1);
	g = json_object_get(r.fx.rule_results, "sir_eligible");
	cr_assert_str_eq(json_string_value(json_object_get(g, "outcome")),
	                 "eligible");
	w = json_object_get(r.fx.rule_results, "fee_waiver");
	cr_assert_str_eq(json_string_value(json_object_get(w, "outcome")),
	                 "ineligible");
	/* transition actions run in the status being left */
	cr_assert_str_eq(json_string_value(json_object_get(
	                         json_object_get(w, "detail"), "status")),
	                 "admitted");
	cr_assert(json_equal(
	        w,
	        json_object_get(json_object_get(r.fx.data, "fees"), "waiver")));
	run_free(&r);

	/* NULL rules: the guard fails closed */
	apply(&r, d, "admitted", "{}", "intend_to_register", NULL, STU, NULL,
	      NULL);
	cr_assert_eq(r.rc, WF_REJECT_GUARD);
	cr_assert(strstr(r.msg, "rule 'sir_eligible' says needs_review"), "%s",
	          r.msg);
	run_free(&r);
	def_free(d);
}

Test(engine, spawn_collapses_duplicates)
{
	struct wf_def *d = student_def();
	struct run r;
	static const char *want[] = {"uc-davis", "uc-irvine", "uc-merced"};

	apply(&r, d, "draft",
	      "{\"campuses\": [\"uc-davis\", \"uc-irvine\", \"uc-davis\", "
	      "\"uc-merced\", \"uc-irvine\"]}",
	      "submit", NULL, STU, fake_rules, "never-mind");
	cr_assert_eq(r.rc, WF_OK, "%s", r.msg);
	cr_assert_eq(r.fx.nspawns, 3);
	for (int i = 0; i < 3; i++) {
		char key[64];

		snprintf(key, sizeof(key), "campus_application:%s", want[i]);
		cr_assert_str_eq(r.fx.spawns[i].workflow, "campus_application");
		cr_assert_str_eq(r.fx.spawns[i].key, key);
		cr_assert_eq(json_object_size(r.fx.spawns[i].data), 1);
		cr_assert_str_eq(json_string_value(json_object_get(
		                         r.fx.spawns[i].data, "campus")),
		                 want[i]);
	}
	run_free(&r);

	/* across two spawn actions of one event too */
	apply(&r, d, "submitted",
	      "{\"campuses\": [\"uc-davis\"], \"extra\": [\"uc-merced\", "
	      "\"uc-davis\"]}",
	      "add_campuses", NULL, STU, fake_rules, NULL);
	cr_assert_eq(r.rc, WF_OK, "%s", r.msg);
	cr_assert_eq(r.fx.nspawns, 2);
	cr_assert_str_eq(r.fx.spawns[0].key, "campus_application:uc-davis");
	cr_assert_str_eq(r.fx.spawns[1].key, "campus_application:uc-merced");
	cr_assert_eq(r.fx.transitioned, 0);
	run_free(&r);
	def_free(d);
}

/* --- allowed events ------------------------------------------------------ */

struct allowed_case {
	int student;
	const char *status;
	unsigned role;
	const char *want; /* JSON */
};

static const struct allowed_case allowed[] = {
        {0, "received", ADM,
         "[\"request_documents\", \"review\", \"screen\", \"skip\"]"},
        {0, "received", STU, "[\"withdraw\"]"},
        {0, "received", ADMIN, "[\"reopen\", \"bad_path\"]"},
        {0, "received", 0, "[]"},
        {0, "incomplete", 0, "[\"timer.documents\"]"},
        {0, "incomplete", ADM, "[\"documents_received\"]"},
        {0, "admitted", 0, "[\"sir_deadline_passed\"]"},
        {0, "denied", STU, "[]"},
        {0, "limbo", ADMIN, "[]"},
        {0, NULL, ADMIN, "[]"},
        {1, "submitted", 0,
         "[\"child.admitted\", \"children.settled\", \"recompute\"]"},
        {1, "submitted", ADMIN, "[\"child.admitted\"]"},
        {1, "submitted", STU, "[\"add_campuses\"]"},
};

Test(engine, allowed_events)
{
	struct wf_def *defs[2] = {campus_def(), student_def()};

	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		const struct allowed_case *a = &allowed[i];
		json_t *got =
		        wf_allowed_events(defs[a->student], a->status, a->role);
		json_t *want = J(a->want);
		char *s = json_dumps(got, JSON_COMPACT);

		cr_assert(json_equal(got, want), "%s/%u: %s",
		          a->status ? a->status : "(null)", a->role, s);
		free(s);
		json_decref(got);
		json_decref(want);
	}
	def_free(defs[0]);
	def_free(defs[1]);
}

/* --- corners ------------------------------------------------------------- */

static struct wf_def *
odd_def(void)
{
	struct wf_status st[] = {
	        {.name = "a",
	         .initial = 1,
	         ENTER(SET("copy", "\"$case\""), SET("ev", "\"$event\""),
	               SET("evx", "\"$event.x\""), SET("at", "\"$now\""))},
	        {.name = "b"},
	};
	struct wf_transition tr[] = {
	        {.on = "go",
	         FROM(0),
	         .to = 1,
	         .roles = ADM,
	         DO(SET("whole", "\"$event\""), SET("deep", "\"$case.n.x.y\""),
	            SET("idx", "\"$case.list.9\""), SET("$", "\"$nowhere\""),
	            CANCEL("t"), CANCEL("t"))},
	        {.on = "store_bad",
	         FROM(0),
	         .to = 0,
	         .roles = ADM,
	         DO(EVAL("r", "n.x"))},
	        {.on = "empty_segment",
	         FROM(0),
	         .to = 0,
	         .roles = ADM,
	         DO(SET("a..b", "1"))},
	        {.on = "nowhere", FROM(0), .to = 99, .roles = ADM},
	};
	struct wf_def *d = calloc(1, sizeof(*d));

	cr_assert_not_null(d);
	d->name = "odd";
	d->statuses = dup_mem(st, sizeof(st));
	d->nstatuses = 2;
	d->transitions = dup_mem(tr, sizeof(tr));
	d->ntransitions = (int)(sizeof(tr) / sizeof(tr[0]));
	return d;
}

Test(engine, corners)
{
	struct wf_def *d = odd_def();
	struct wf_effects fx;
	json_t *data = J("{\"n\": 1, \"list\": [1]}");
	struct wf_case c = {.id = "c", .status = "a", .data = data};
	struct wf_event ev = {NULL, NULL, ADM, NOW};
	char msg[256];
	struct run r;

	/* whole-object references; a time before the epoch; no event data */
	cr_assert_eq(wf_start(d, &c, -1, NULL, NULL, &fx, msg, sizeof(msg)),
	             WF_OK);
	cr_assert_str_eq(json_string_value(json_object_get(fx.data, "at")),
	                 "1969-12-31T23:59:59.999Z");
	cr_assert(json_equal(json_object_get(fx.data, "copy"), data));
	cr_assert(json_is_null(json_object_get(fx.data, "ev")));
	cr_assert(json_is_null(json_object_get(fx.data, "evx")));
	wf_effects_free(&fx);

	apply(&r, d, "a", "{\"n\": 1, \"list\": [1]}", "go", "{\"x\": [2]}",
	      ADM, NULL, NULL);
	cr_assert_eq(r.rc, WF_OK, "%s", r.msg);
	{
		json_t *want = J("{\"x\": [2]}");

		cr_assert(
		        json_equal(json_object_get(r.fx.data, "whole"), want));
		json_decref(want);
	}
	cr_assert(json_is_null(json_object_get(r.fx.data, "deep")));
	cr_assert(json_is_null(json_object_get(r.fx.data, "idx")));
	cr_assert_str_eq(fx_str(&r, "$", NULL), "$nowhere");
	cr_assert_eq(r.fx.ncancel, 1, "a name is cancelled once");
	run_free(&r);

	apply(&r, d, "a", "{\"n\": 1}", "store_bad", NULL, ADM, fake_rules,
	      NULL);
	cr_assert_eq(r.rc, WF_REJECT_DATA);
	cr_assert(strstr(r.msg, "'n' is not an object"), "%s", r.msg);
	run_free(&r);

	apply(&r, d, "a", "{}", "empty_segment", NULL, ADM, NULL, NULL);
	cr_assert_eq(r.rc, WF_REJECT_DATA);
	cr_assert(strstr(r.msg, "bad field path 'a..b'"), "%s", r.msg);
	run_free(&r);

	apply(&r, d, "a", "{}", "nowhere", NULL, ADM, NULL, NULL);
	cr_assert_eq(r.rc, WF_REJECT_DATA);
	cr_assert(strstr(r.msg, "target is not a status"), "%s", r.msg);
	run_free(&r);

	/* an event without a type is simply not allowed */
	cr_assert_eq(wf_apply(d, &c, &ev, NULL, NULL, &fx, msg, sizeof(msg)),
	             WF_REJECT_NOT_ALLOWED);
	cr_assert(fx_is_empty(&fx));

	/* a definition without an initial status */
	d->initial = -1;
	cr_assert_eq(wf_start(d, &c, NOW, NULL, NULL, &fx, msg, sizeof(msg)),
	             WF_REJECT_NOT_ALLOWED);
	cr_assert(fx_is_empty(&fx));
	wf_effects_free(NULL);
	json_decref(data);
	def_free(d);
}
