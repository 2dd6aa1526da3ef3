/*
 * workflow.h: workflow definitions (loaded from YAML) and the engine that
 * applies an event to a case. Nothing here does I/O except the loader,
 * which reads the definition file; the engine is a pure function of
 * (definition, case, event, rule results) -> effects, so the heart of
 * Cairn is tested without a loop, a disk or a network.
 *
 * The language is documented in docs/workflows.md.
 */
#ifndef CAIRN_WORKFLOW_H
#define CAIRN_WORKFLOW_H

#include <jansson.h>
#include <stdint.h>

#include "../common/cairn.h"

/* --- definitions ----------------------------------------------------- */

struct wf_pos {
	int line, column; /* 1-based, in the definition file */
};

/* Limits of one definition; a file past them is refused. They keep the
 * validator's graph checks (statuses x transitions) cheap. */
#define WF_MAX_STATUSES    500
#define WF_MAX_TRANSITIONS 2000
#define WF_MAX_ACTIONS     256 /* in one on_enter or actions list */

enum wf_action_kind {
	WF_ACT_SET,          /* set: {field: value, ...} */
	WF_ACT_TIMER_START,  /* start_timer: {name, after | until, event} */
	WF_ACT_TIMER_CANCEL, /* cancel_timer: name */
	WF_ACT_ALERT,        /* alert: {kind, severity, to, message} */
	WF_ACT_CALL,         /* call: {adapter, operation} */
	WF_ACT_RULE,         /* evaluate: {rule, store_as} */
	WF_ACT_SPAWN,        /* spawn: {workflow, for_each, as} */
};

struct wf_action {
	enum wf_action_kind kind;
	struct wf_pos pos;
	/* WF_ACT_SET: field (a dotted path into the case data, e.g.
	 * "decision.reason") and its value: literal JSON, or a string
	 * "$event.<path>" / "$case.<path>" / "$now" resolved at run time */
	char *field;
	json_t *value;
	/* WF_ACT_TIMER_START / CANCEL */
	char *timer;       /* the timer's name, unique per case */
	int64_t after_ms;  /* > 0: due this long after it starts */
	char *until_field; /* or: due at the date in this case data field
			      (RFC 3339 date or date-time, UTC) */
	char *event;       /* the event it fires; default "timer.<name>" */
	/* WF_ACT_ALERT */
	char *alert_kind; /* deduplication kind, e.g. "documents_overdue" */
	char *severity;   /* "info" | "warning" | "critical" */
	char *to;         /* "counselor" | "office" | "role:<role>" */
	char *message;
	/* WF_ACT_CALL */
	char *adapter, *operation;
	/* WF_ACT_RULE */
	char *rule, *store_as;
	/* WF_ACT_SPAWN: one child of `workflow` per element of the list in
	 * case data field `for_each`; the element is put in the child's data
	 * under `as`, and (when a string) is the child's stable key */
	char *workflow, *for_each, *as;
};

struct wf_status {
	char *name;
	struct wf_pos pos;
	int initial, terminal;
	char *queue;    /* the review queue cases in this status belong to */
	int64_t sla_ms; /* 0: none */
	char *description;
	struct wf_action *enter; /* actions on entering the status */
	int nenter;
};

struct wf_to_case {
	char *value; /* a value of the event data field */
	int status;  /* index into statuses */
};

struct wf_transition {
	char *on; /* the event name */
	struct wf_pos pos;
	/* from: any means every status that is not terminal; the loader
	 * sets from_any and also lists those statuses in from, so from and
	 * nfrom alone are always the complete answer */
	int from_any;
	int *from; /* status indices */
	int nfrom;
	int to; /* status index, or -1 when chosen by the event's data */
	/* to: {field: decision, cases: {admit: admitted, deny: denied}} */
	char *to_field;
	struct wf_to_case *to_cases;
	int nto_cases;
	unsigned roles; /* ROLE_BIT mask of who may send it; 0: only the
			   system (timers, children, the engine itself) */
	char *guard;    /* rule that must say eligible; NULL: none */
	struct wf_action *actions;
	int nactions;
};

/* Field sensitivity (docs/workflows.md, "fields"): how much a reader
 * must be trusted with to see a data field. Ordered: a role allowed a
 * class sees every class below it. */
enum wf_class {
	WF_CLASS_PUBLIC = 0,
	WF_CLASS_INTERNAL,
	WF_CLASS_SENSITIVE,
	WF_CLASS_RESTRICTED,
};
/* The class of a field no entry names, when the definition has no "*"
 * entry: sensitive, so a field added without a thought is hidden from
 * counselors and outsiders rather than shown to them. */
#define WF_CLASS_DEFAULT WF_CLASS_SENSITIVE

struct wf_field {
	char *path;  /* "isir.ssn_last4", "isir" (the field and below) */
	int members; /* written "isir.*": the members of path, not path */
	enum wf_class cls;
	struct wf_pos pos;
};

struct wf_def {
	char *name;
	char *description;
	char *file;    /* the path it was loaded from */
	char hash[65]; /* SHA-256 (hex) of the file's bytes */
	int version;   /* assigned by the registry; 0 until then */
	struct wf_status *statuses;
	int nstatuses;
	int initial; /* index of the initial status */
	struct wf_transition *transitions;
	int ntransitions;
	json_t *source; /* the definition as JSON, for GET /v1/workflows */
	struct wf_field *fields; /* the `fields:` block, in file order */
	int nfields;
	enum wf_class default_class; /* "*", or WF_CLASS_DEFAULT */
};

/* What the validator may check references against; any member may be
 * NULL, and a NULL list skips that check. Lists end with NULL. */
struct wf_known {
	const char *const *workflows;
	const char *const *rules;
	const char *const *adapters; /* "adapter" or "adapter.operation" */
};

typedef void (*wf_report_cb)(const struct cairn_err *e, int warning,
                             void *data);

/*
 * Loads and validates one workflow file. Errors and warnings go to cb
 * with file:line:column. Returns 0 and *out (free with wf_def_free), or a
 * negative code when there was an error (then *out is NULL).
 */
int wf_def_load(const char *path, const struct wf_known *known, wf_report_cb cb,
                void *data, struct wf_def **out);
/* The same from text in memory (a version kept in the store); label
 * stands for the file name in messages. */
int wf_def_load_text(const char *label, const char *text, size_t len,
                     const struct wf_known *known, wf_report_cb cb, void *data,
                     struct wf_def **out);
void wf_def_free(struct wf_def *d);

/* "public", "internal", "sensitive", "restricted"; parse returns 0 or
 * -1. */
const char *wf_class_name(enum wf_class c);
int wf_class_parse(const char *s, enum wf_class *out);

/*
 * The class of the data field at path (dotted, e.g. "isir.sai") under d:
 * the most specific entry that names it or a field above it ("isir.sai"
 * over "isir.*" over "isir"), else the default. d may be NULL: the
 * default then.
 */
enum wf_class wf_field_class(const struct wf_def *d, const char *path);

/*
 * Redacts o in place for a reader allowed classes up to ceiling (-1: no
 * class at all): every member of o (at prefix, "" for the case data
 * itself) whose class is above ceiling is replaced by the string
 * "[redacted: <class>]". An object is looked into when an entry names a
 * field inside it; otherwise it is judged as a whole by its own class.
 * Arrays are judged as a whole. Returns the number of values redacted.
 */
size_t wf_redact(const struct wf_def *d, json_t *o, const char *prefix,
                 int ceiling);

/*
 * The same for an event's data (a history payload): a value is judged by
 * the class of the data field of the same path, and of every data field a
 * `set: {field: $event.<path>}` action of d copies it (or a value inside
 * it) to, whichever is higher: {"income": ...} sent to land in
 * student.income is as restricted as student.income.
 */
size_t wf_redact_event(const struct wf_def *d, json_t *payload, int ceiling);

/* The index of a status by name, or -1. */
int wf_status_find(const struct wf_def *d, const char *name);

/* The definition drawn as a Graphviz digraph (malloc'd). */
char *wf_def_dot(const struct wf_def *d);

/* --- campuses -------------------------------------------------------- */

/* One campus a student application can be routed to (examples/campuses.yaml). */
struct wf_campus {
	char *id;      /* "uc-berkeley": its segment, '-', [a-z0-9-] */
	char *name;    /* "University of California, Berkeley" */
	char *segment; /* "uc" | "csu" | "ccc" */
	char *adapter; /* the adapter that reaches it: "uc_campus" */
	struct wf_pos pos;
};

struct wf_campuses {
	char *file;
	char hash[65];       /* SHA-256 (hex) of the file's bytes */
	struct wf_campus *v; /* in file order */
	int n;
};

/*
 * Loads a campus list: a mapping with `campuses:`, a list of {id, name,
 * segment, adapter}. Ids must be unique; adapters are checked against
 * known->adapters when given. Reports and returns as wf_def_load.
 */
int wf_campuses_load(const char *path, const struct wf_known *known,
                     wf_report_cb cb, void *data, struct wf_campuses **out);
void wf_campuses_free(struct wf_campuses *c);

/* The campus with this id, or NULL. */
const struct wf_campus *wf_campus_find(const struct wf_campuses *c,
                                       const char *id);

/* --- the engine ------------------------------------------------------ */

struct wf_case {
	const char *id;
	const char *status;
	const json_t *data; /* an object */
	const char *subject;
	const char *parent_id; /* NULL for a root case */
	int64_t revision;
};

struct wf_event {
	const char *type;
	const json_t *data;  /* an object; may be NULL */
	unsigned actor_role; /* ROLE_BIT of the sender; 0 for the system */
	int64_t now_ms;      /* the clock is an input, never read */
};

/* A rule decision the daemon obtained for the engine. */
enum wf_outcome { WF_ELIGIBLE, WF_INELIGIBLE, WF_NEEDS_REVIEW };
/* *detail starts NULL; the callback may set it to a new reference (the
 * reasons and values the rule looked at), which the engine takes. A guard
 * sees the case as it is; an `evaluate` action sees the status its actions
 * belong to and the data as earlier actions left it. */
typedef enum wf_outcome (*wf_rule_fn)(const char *rule, const struct wf_case *c,
                                      const struct wf_event *ev,
                                      json_t **detail, void *data);

/* The event type the rule callback sees during wf_start (no event data,
 * actor_role 0). */
#define WF_EVENT_START "case.created"

struct wf_timer_effect {
	char *name, *event;
	int64_t due_ms;
};

struct wf_alert_effect {
	char *kind, *severity, *to, *message;
};

struct wf_call_effect {
	char *adapter, *operation;
};

struct wf_spawn_effect {
	char *workflow;
	char *key;    /* stable: "<workflow>:<element>" */
	json_t *data; /* the child's initial data (owned) */
};

struct wf_effects {
	int transitioned;               /* 0: the event was accepted, no move */
	int from, to;                   /* status indices */
	json_t *data;                   /* the case's new data (owned) */
	struct wf_timer_effect *timers; /* to start (replacing same name) */
	int ntimers;
	char **cancel; /* timers to cancel by name */
	int ncancel;
	int cancel_all; /* leaving the status: cancel every timer
				   started on entering it is the daemon's
				   job; this asks for all of the case's */
	struct wf_alert_effect *alerts;
	int nalerts;
	struct wf_call_effect *calls;
	int ncalls;
	struct wf_spawn_effect *spawns;
	int nspawns;
	json_t *rule_results; /* {rule: {outcome, detail}} evaluated */
	int notify_parent;    /* send "child.<to status>" to the parent */
	int terminal;         /* the new status is terminal */
};

enum wf_reject {
	WF_OK = 0,
	WF_REJECT_NOT_ALLOWED, /* no transition for this event here (409) */
	WF_REJECT_ROLE,        /* the sender's role may not (403) */
	WF_REJECT_DATA,        /* the data does not resolve `to`, or a spawn
				  list is not a list of strings (422) */
	WF_REJECT_GUARD,       /* the guard rule did not say eligible (409) */
	WF_ERR_NOMEM,          /* out of memory (500); nothing changed */
};

/*
 * Applies ev to c under d. On success fills fx (release with
 * wf_effects_free) and returns WF_OK. Otherwise returns the reason, and
 * msg (may be NULL) says it for a person; for WF_REJECT_NOT_ALLOWED the
 * message names the events allowed in the current status.
 */
enum wf_reject wf_apply(const struct wf_def *d, const struct wf_case *c,
                        const struct wf_event *ev, wf_rule_fn rules,
                        void *rules_data, struct wf_effects *fx, char *msg,
                        size_t msglen);

/*
 * Notes on wf_apply (see engine.c for the reasons):
 * - fx is zeroed first; on any rejection it is left empty (freeing it is
 *   harmless) and c is never changed.
 * - The system (actor_role 0) may send transitions whose roles are 0 and
 *   any transition on "child.*", "children.settled" or "timer.*"; a person
 *   only transitions whose roles include theirs.
 * - A self-transition (to == from) runs the transition's actions only:
 *   transitioned = 0, no on_enter, no cancel_all, no notify_parent.
 * - A status change sets cancel_all; the daemon applies cancel_all, then
 *   cancel, then timers.
 * - Guard decisions of the transition taken, and `evaluate` results, are in
 *   fx->rule_results.
 */

/* The effects of creating a case: entering the initial status. from is
 * -1, transitioned 1, cancel_all 0, notify_parent when c->parent_id is set.
 * c->status is ignored. */
enum wf_reject wf_start(const struct wf_def *d, const struct wf_case *c,
                        int64_t now_ms, wf_rule_fn rules, void *rules_data,
                        struct wf_effects *fx, char *msg, size_t msglen);

void wf_effects_free(struct wf_effects *fx);

/* The events the given role may send in the given status (a JSON array
 * of distinct names in file order, owned by the caller; empty for an
 * unknown status; NULL only when out of memory). The same test as
 * wf_apply's, so role 0 includes system events on "child.*" etc. */
json_t *wf_allowed_events(const struct wf_def *d, const char *status,
                          unsigned role);

#endif
