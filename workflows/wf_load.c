/*
 * wf_load.c: the workflow loader and validator (see workflow.h and
 * docs/workflows.md). A definition file is read with common/yamlfile (size
 * and nesting capped before libyaml builds the document), walked once
 * against the language's schema into a struct wf_def, and then checked as a
 * graph: every status reachable from the initial one, every open status with
 * a way out that someone or something can actually take, timers that are
 * started where their events are expected. Every problem is reported with
 * the file, line and column of the node at fault.
 *
 * Input is untrusted. Aliases let a small file name the same node many
 * times, so every visit of a node (in the schema walk and in the conversion
 * to JSON) spends from a budget proportional to the document's size, and a
 * file whose aliases would exceed it is refused. Status and transition
 * counts are capped so that the graph checks, some of which are
 * O(statuses x transitions), stay cheap.
 *
 * Also here: wf_def_free, wf_status_find, wf_def_dot and the campus list
 * loader (wf_campuses_load).
 */
#include "workflow.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "../common/yamlfile.h"
#include "../daemon/auth.h"
#include "../daemon/config.h"
#include "defs.h"

/* Problems reported for one file before the rest are summarised. */
#define WF_MAX_REPORTS  50
#define WF_PATH_MAX     256  /* bytes in a data field path */
#define WF_TEXT_MAX     4096 /* bytes in a description or message */
#define WF_MAX_CAMPUSES 5000 /* in one campus list (116 CCCs, 23 CSUs, 9 UCs) */

/* A timer a start_timer action may leave running in a status. */
struct wf_load_timer {
	int status;
	const char *event;
};

/* One load: the document, where reports go, what has been built. */
struct loader {
	const char *path;
	yaml_document_t *doc;
	const struct wf_known *known;
	wf_report_cb cb;
	void *cbdata;
	int nerrors, nwarnings, nreports;
	int oom;
	int stopped; /* the budget ran out: stop walking */
	int broken;  /* statuses or references unresolved: skip the
	                       graph checks, whose findings would be noise */
	long budget; /* node visits left */
	struct wf_def *d;
	int *by_name; /* status indices sorted by name */
	int nspawns;  /* spawn actions anywhere */
	/* every start_timer and cancel_timer action, for the timer checks */
	const struct wf_action **starts, **cancels;
	int nstarts, ncancels, capstarts, capcancels;
	yaml_node_t **tx_nodes; /* transitions[i]'s node, for positions */
};

static const char *const role_list =
        "student, counselor, aid_officer, admissions, institution, policy, "
        "admin";

/* --- reporting ----------------------------------------------------------- */

static void report(struct loader *ld, int warning, int line, int column,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
report(struct loader *ld, int warning, int line, int column, const char *fmt,
       ...)
{
	struct cairn_err e;
	char msg[sizeof(e.msg)];
	va_list ap;

	if (warning)
		ld->nwarnings++;
	else
		ld->nerrors++;
	if (ld->nreports > WF_MAX_REPORTS)
		return;
	if (ld->nreports++ == WF_MAX_REPORTS) {
		cairn_err_set(&e, ld->path, 0, 0,
		              "more than %d problems; the rest are not shown",
		              WF_MAX_REPORTS);
		if (ld->cb)
			ld->cb(&e, 0, ld->cbdata);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cairn_err_set(&e, ld->path, line, column, "%s", msg);
	if (ld->cb)
		ld->cb(&e, warning, ld->cbdata);
}

static struct wf_pos
pos_of(const yaml_node_t *n)
{
	struct wf_pos p = {(int)n->start_mark.line + 1,
	                   (int)n->start_mark.column + 1};

	return p;
}

#define err(ld, n, ...)                                                        \
	report((ld), 0, (int)(n)->start_mark.line + 1,                         \
	       (int)(n)->start_mark.column + 1, __VA_ARGS__)
#define err_at(ld, p, ...)  report((ld), 0, (p).line, (p).column, __VA_ARGS__)
#define warn_at(ld, p, ...) report((ld), 1, (p).line, (p).column, __VA_ARGS__)

static char *
xstrdup(struct loader *ld, const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		ld->oom = 1;
	return p;
}

static void *
xcalloc(struct loader *ld, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		ld->oom = 1;
	return p;
}

/* Spends one node visit; 0 when the budget is gone (reported once). */
static int
spend(struct loader *ld, const yaml_node_t *n)
{
	if (ld->stopped)
		return 0;
	if (--ld->budget >= 0)
		return 1;
	ld->stopped = 1;
	err(ld, n,
	    "aliases expand this file to too many nodes; write the repeated "
	    "parts out");
	return 0;
}

/* --- nodes --------------------------------------------------------------- */

static yaml_node_t *
node(struct loader *ld, int id)
{
	return yaml_document_get_node(ld->doc, id);
}

static const char *
sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static int
is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE &&
	       n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* A plain scalar YAML reads as null: nothing, ~, null. */
static int
is_null(const yaml_node_t *n)
{
	const char *s;

	if (!is_plain(n))
		return 0;
	s = sval(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") ||
	       !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int
is_bool(const yaml_node_t *n, int *out)
{
	const char *s;

	if (!is_plain(n))
		return 0;
	s = sval(n);
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
		*out = 1;
		return 1;
	}
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
		*out = 0;
		return 1;
	}
	return 0;
}

/* A short description of n for "..., not <it>" messages. */
static const char *
shown(const yaml_node_t *n, char *buf, size_t len)
{
	if (n->type != YAML_SCALAR_NODE)
		return yamlfile_node_kind(n);
	if (is_null(n))
		return "empty";
	snprintf(buf, len, "'%.60s'", sval(n));
	return buf;
}

/*
 * The text of scalar n, which must be a string: not a mapping or list, not
 * null, without NUL bytes, at most max bytes. Returns it (borrowed from the
 * document) or NULL after reporting, naming the key as what.
 */
static const char *
get_text(struct loader *ld, const yaml_node_t *n, const char *what, size_t max)
{
	char buf[80];

	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		err(ld, n, "'%s' must be a string, not %s", what,
		    shown(n, buf, sizeof(buf)));
		return NULL;
	}
	if (strlen(sval(n)) != n->data.scalar.length) {
		err(ld, n, "'%s' must not contain NUL bytes", what);
		return NULL;
	}
	if (n->data.scalar.length > max) {
		err(ld, n, "'%s' is too long (at most %zu bytes)", what, max);
		return NULL;
	}
	return sval(n);
}

static int
name_valid(const char *s)
{
	return defs_name_valid(s);
}

/* A name ([a-z][a-z0-9_]{0,63}); NULL after reporting. */
static const char *
get_name(struct loader *ld, const yaml_node_t *n, const char *what)
{
	const char *s = get_text(ld, n, what, WF_PATH_MAX);

	if (s && !name_valid(s)) {
		err(ld, n,
		    "%s '%.80s' is not valid: expected a lowercase letter, "
		    "then "
		    "up to %d lowercase letters, digits or '_'",
		    what, s, DEFS_NAME_MAX - 1);
		return NULL;
	}
	return s;
}

/* A rule reference: a rule set ("cal_grant": every rule of it) or one
 * rule of a set ("cal_grant.cal_grant_a"), each part a name. */
static const char *
get_rule_ref(struct loader *ld, const yaml_node_t *n, const char *what)
{
	const char *s = get_text(ld, n, what, WF_PATH_MAX);
	const char *dot = s ? strchr(s, '.') : NULL;
	char set[DEFS_NAME_MAX + 1];
	int ok = 0;

	if (s == NULL)
		return NULL;
	if (dot == NULL) {
		ok = name_valid(s);
	} else if ((size_t)(dot - s) < sizeof(set)) {
		memcpy(set, s, (size_t)(dot - s));
		set[dot - s] = '\0';
		ok = name_valid(set) && name_valid(dot + 1);
	}
	if (!ok) {
		err(ld, n,
		    "%s '%.80s' is not valid: expected a rule set's name, or "
		    "set.rule (each a lowercase letter, then up to %d "
		    "lowercase letters, digits or '_')",
		    what, s, DEFS_NAME_MAX - 1);
		return NULL;
	}
	return s;
}

/* A dotted path into JSON data: segments of [A-Za-z0-9_-], 1-64 each. */
static int
path_valid(const char *s)
{
	size_t seg = 0;

	if (!*s || strlen(s) > WF_PATH_MAX)
		return 0;
	for (; *s; s++) {
		if (*s == '.') {
			if (seg == 0)
				return 0;
			seg = 0;
			continue;
		}
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
		if (++seg > 64)
			return 0;
	}
	return seg > 0;
}

static const char *
get_path(struct loader *ld, const yaml_node_t *n, const char *what)
{
	const char *s = get_text(ld, n, what, WF_PATH_MAX);

	if (s && !path_valid(s)) {
		err(ld, n,
		    "%s '%.80s' is not a data field: expected names of "
		    "letters, digits, '_' or '-', joined by '.' (e.g. "
		    "decision.reason)",
		    what, s);
		return NULL;
	}
	return s;
}

/*
 * Reads mapping n, whose keys must be among names (NULL-terminated, at most
 * 16); vals[i] is set to the value of names[i], or NULL when absent.
 * Unknown, duplicate and non-scalar keys are reported (the message lists
 * the expected keys) and skipped. Returns 0, or -1 after reporting that n
 * is not a mapping (what names it: "a status").
 */
static int
get_fields(struct loader *ld, const yaml_node_t *n, const char *what,
           const char *const *names, yaml_node_t **vals)
{
	char expected[256];
	size_t off = 0, nnames, i;
	yaml_node_pair_t *p;

	for (nnames = 0; names[nnames]; nnames++)
		vals[nnames] = NULL;
	if (n->type != YAML_MAPPING_NODE) {
		char buf[80];

		err(ld, n, "%s must be a mapping, not %s", what,
		    shown(n, buf, sizeof(buf)));
		return -1;
	}
	expected[0] = '\0';
	for (i = 0; i < nnames && off < sizeof(expected); i++)
		off += (size_t)snprintf(expected + off, sizeof(expected) - off,
		                        "%s%s", i ? ", " : "", names[i]);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(ld, p->key);

		if (!spend(ld, k))
			return -1;
		if (k->type != YAML_SCALAR_NODE) {
			err(ld, k, "a key in %s must be a name, not %s", what,
			    yamlfile_node_kind(k));
			continue;
		}
		for (i = 0; i < nnames; i++)
			if (!strcmp(sval(k), names[i]))
				break;
		if (i == nnames) {
			err(ld, k, "unknown key '%.64s' in %s; expected %s",
			    sval(k), what, expected);
			continue;
		}
		if (vals[i]) {
			err(ld, k, "duplicate key '%s' in %s", names[i], what);
			continue;
		}
		vals[i] = node(ld, p->value);
	}
	return 0;
}

/* --- YAML to JSON ------------------------------------------------------- */

/* A plain scalar as YAML's core schema reads it; others are strings. */
static json_t *
scalar_json(const yaml_node_t *n)
{
	const char *s = sval(n);
	size_t len = n->data.scalar.length, i = 0;
	int b, digits = 0, isfloat = 0;

	if (!is_plain(n))
		return json_stringn(s, len);
	if (is_null(n))
		return json_null();
	if (is_bool(n, &b))
		return json_boolean(b);
	if (s[i] == '-' || s[i] == '+')
		i++;
	for (; s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (s[i] == '.') {
		isfloat = 1;
		for (i++; s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	}
	if (digits && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = ++i;

		isfloat = 1;
		if (s[i] == '-' || s[i] == '+')
			i++;
		e = i;
		for (; s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == e)
			digits = 0;
	}
	if (digits && i == len) {
		char *end;

		errno = 0;
		if (!isfloat) {
			long long v = strtoll(s, &end, 10);

			if (errno == 0 && *end == '\0')
				return json_integer(v);
		} else {
			double v = strtod(s, &end);

			if (errno == 0 && *end == '\0' && isfinite(v))
				return json_real(v);
		}
	}
	return json_stringn(s, len);
}

/*
 * n as JSON (a new reference), or NULL. With complain set, problems
 * (non-scalar keys, duplicate keys) are reported; without, they were
 * reported by the schema walk and are skipped here. Aliases may revisit
 * nodes: depth and the budget bound the work.
 */
static json_t *
to_json(struct loader *ld, const yaml_node_t *n, int depth, int complain)
{
	yaml_node_item_t *it;
	yaml_node_pair_t *p;
	json_t *j;

	if (!spend(ld, n))
		return NULL;
	if (depth > DEFS_MAX_DEPTH) {
		ld->stopped = 1;
		err(ld, n, "aliases nest more than %d levels deep",
		    DEFS_MAX_DEPTH);
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		j = scalar_json(n);
		if (j == NULL)
			ld->oom = 1;
		return j;
	case YAML_SEQUENCE_NODE:
		if ((j = json_array()) == NULL) {
			ld->oom = 1;
			return NULL;
		}
		for (it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			json_t *v =
			        to_json(ld, node(ld, *it), depth + 1, complain);

			if (v == NULL || json_array_append_new(j, v)) {
				json_decref(j);
				return NULL;
			}
		}
		return j;
	default:
		if ((j = json_object()) == NULL) {
			ld->oom = 1;
			return NULL;
		}
		for (p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node(ld, p->key);
			json_t *v;

			if (k->type != YAML_SCALAR_NODE) {
				if (complain)
					err(ld, k,
					    "a key must be a scalar, not %s",
					    yamlfile_node_kind(k));
				continue;
			}
			if (json_object_getn(j, sval(k),
			                     k->data.scalar.length)) {
				if (complain)
					err(ld, k, "duplicate key '%.64s'",
					    sval(k));
				continue;
			}
			v = to_json(ld, node(ld, p->value), depth + 1,
			            complain);
			if (v == NULL ||
			    json_object_setn_new(j, sval(k),
			                         k->data.scalar.length, v)) {
				json_decref(j);
				return NULL;
			}
		}
		return j;
	}
}

/* --- statuses ----------------------------------------------------------- */

static int
by_name_cmp(const void *a, const void *b, void *arg)
{
	const struct wf_def *d = arg;
	int x = *(const int *)a, y = *(const int *)b;
	int c = strcmp(d->statuses[x].name, d->statuses[y].name);

	return c ? c : (x > y) - (x < y);
}

/* Sorts the status indices by name and reports duplicates at the later. */
static void
index_names(struct loader *ld)
{
	struct wf_def *d = ld->d;
	int i;

	ld->by_name = xcalloc(ld, (size_t)d->nstatuses, sizeof(int));
	if (ld->by_name == NULL)
		return;
	for (i = 0; i < d->nstatuses; i++)
		ld->by_name[i] = i;
	qsort_r(ld->by_name, (size_t)d->nstatuses, sizeof(int), by_name_cmp, d);
	for (i = 1; i < d->nstatuses; i++) {
		const struct wf_status *a = &d->statuses[ld->by_name[i - 1]],
		                       *b = &d->statuses[ld->by_name[i]];

		if (strcmp(a->name, b->name))
			continue;
		ld->broken = 1;
		err_at(ld, b->pos,
		       "duplicate status '%s' (first at line %d, column %d)",
		       b->name, a->pos.line, a->pos.column);
	}
}

/* The first status named name, or -1. */
static int
find(struct loader *ld, const char *name)
{
	int lo = 0, hi = ld->d->nstatuses - 1, found = -1;

	if (ld->by_name == NULL)
		return wf_status_find(ld->d, name);
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int c = strcmp(name, ld->d->statuses[ld->by_name[mid]].name);

		if (c == 0)
			found = mid;
		if (c <= 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return found < 0 ? -1 : ld->by_name[found];
}

/* Looks up the status named by scalar n; -1 after reporting. */
static int
status_ref(struct loader *ld, const yaml_node_t *n, const char *what)
{
	char list[200];
	size_t off = 0;
	const char *s = get_text(ld, n, what, WF_PATH_MAX);
	int i, idx;

	if (s == NULL) {
		ld->broken = 1;
		return -1;
	}
	if ((idx = find(ld, s)) >= 0)
		return idx;
	list[0] = '\0';
	for (i = 0; i < ld->d->nstatuses && off < sizeof(list); i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
		                        i ? ", " : "", ld->d->statuses[i].name);
	if (off >= sizeof(list))
		memcpy(list + sizeof(list) - 5, "...", 4);
	err(ld, n, "no status named '%.64s' (statuses: %s)", s, list);
	ld->broken = 1;
	return -1;
}

/* --- actions ------------------------------------------------------------ */

static int
in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return 1;
	return 0;
}

static void
note_action(struct loader *ld, const struct wf_action ***arr, int *n, int *cap,
            const struct wf_action *a)
{
	if (*n == *cap) {
		int ncap = *cap ? *cap * 2 : 16;
		const struct wf_action **p =
		        realloc(*arr, (size_t)ncap * sizeof(*p));

		if (p == NULL) {
			ld->oom = 1;
			return;
		}
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = a;
}

/* An event a timer may fire: a name, or timer.<name>. */
static int
timer_event_valid(const char *s)
{
	return name_valid(s) || (!strncmp(s, "timer.", 6) && name_valid(s + 6));
}

/* A reference in a set value: $now, $event[.path], $case[.path]. */
static int
ref_valid(const char *s)
{
	if (!strcmp(s, "$now") || !strcmp(s, "$event") || !strcmp(s, "$case"))
		return 1;
	if (!strncmp(s, "$event.", 7))
		return path_valid(s + 7);
	if (!strncmp(s, "$case.", 6))
		return path_valid(s + 6);
	return 0;
}

static void
check_rule(struct loader *ld, const yaml_node_t *n, const char *rule)
{
	char set[DEFS_NAME_MAX + 1];

	/* the known list names sets; a set's rules are the set's business */
	snprintf(set, sizeof(set), "%.*s", (int)strcspn(rule, "."), rule);
	if (ld->known && ld->known->rules && !in_list(ld->known->rules, set))
		err(ld, n, "unknown rule set '%s'", set);
}

static void
act_set(struct loader *ld, const yaml_node_t *v, struct wf_action *a, int *na)
{
	yaml_node_pair_t *p;

	if (v->type != YAML_MAPPING_NODE ||
	    v->data.mapping.pairs.start == v->data.mapping.pairs.top) {
		char buf[80];

		err(ld, v,
		    "'set' must be a mapping of data fields to values (e.g. "
		    "{decision: $event.decision}), not %s",
		    shown(v, buf, sizeof(buf)));
		return;
	}
	for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(ld, p->key), *val = node(ld, p->value);
		struct wf_action *s = &a[*na];
		const char *field, *str;
		yaml_node_pair_t *q;
		int dup = 0;

		if (!spend(ld, k))
			return;
		if (k->type != YAML_SCALAR_NODE) {
			err(ld, k, "a field in 'set' must be a name, not %s",
			    yamlfile_node_kind(k));
			continue;
		}
		for (q = v->data.mapping.pairs.start; q < p && !dup; q++) {
			yaml_node_t *k0 = node(ld, q->key);

			dup = k0->type == YAML_SCALAR_NODE &&
			      !strcmp(sval(k0), sval(k));
		}
		if (dup) {
			err(ld, k, "duplicate field '%.64s' in 'set'", sval(k));
			continue;
		}
		if ((field = get_path(ld, k, "field")) == NULL)
			continue;
		s->kind = WF_ACT_SET;
		s->pos = pos_of(k);
		s->field = xstrdup(ld, field);
		s->value = to_json(ld, val, 0, 1);
		(*na)++;
		str = json_string_value(s->value);
		if (str && str[0] == '$' && !ref_valid(str))
			err(ld, val,
			    "'%.64s' is not a reference: expected "
			    "$event.<field>, "
			    "$case.<field> or $now",
			    str);
	}
}

static void
act_start_timer(struct loader *ld, const yaml_node_t *v, struct wf_action *a)
{
	static const char *const keys[] = {"name", "after", "until", "event",
	                                   NULL};
	yaml_node_t *f[4];
	const char *s;
	char buf[80];

	if (get_fields(ld, v, "start_timer", keys, f) < 0)
		return;
	if (f[0] == NULL)
		err(ld, v, "start_timer needs a 'name'");
	else if ((s = get_name(ld, f[0], "timer name")))
		a->timer = xstrdup(ld, s);
	if ((f[1] == NULL) == (f[2] == NULL))
		err(ld, v,
		    "start_timer needs one of 'after' (a duration such as 14d) "
		    "or 'until' (a date field of the case)%s",
		    f[1] ? ", not both" : "");
	if (f[1] && (s = get_text(ld, f[1], "after", 64))) {
		if (config_parse_duration(s, &a->after_ms) < 0 ||
		    a->after_ms <= 0) {
			err(ld, f[1],
			    "after: %s is not a duration; expected a whole "
			    "number greater than zero followed by ms, s, m, h "
			    "or d (e.g. 14d)",
			    shown(f[1], buf, sizeof(buf)));
			a->after_ms = 0;
		}
	}
	if (f[2] && (s = get_path(ld, f[2], "until")))
		a->until_field = xstrdup(ld, s);
	if (f[3] && (s = get_text(ld, f[3], "event", WF_PATH_MAX))) {
		if (!timer_event_valid(s))
			err(ld, f[3],
			    "event '%.80s' is not valid for a timer: expected "
			    "a "
			    "name or timer.<name>",
			    s);
		else
			a->event = xstrdup(ld, s);
	} else if (f[3] == NULL && a->timer) {
		if (asprintf(&a->event, "timer.%s", a->timer) < 0) {
			a->event = NULL;
			ld->oom = 1;
		}
	}
}

static void
act_alert(struct loader *ld, const yaml_node_t *v, struct wf_action *a)
{
	static const char *const keys[] = {"kind", "severity", "to", "message",
	                                   NULL};
	yaml_node_t *f[4];
	const char *s;
	enum role r;

	if (get_fields(ld, v, "alert", keys, f) < 0)
		return;
	if (f[0] == NULL)
		err(ld, v,
		    "alert needs a 'kind' (a name that deduplicates it, e.g. "
		    "documents_overdue)");
	else if ((s = get_name(ld, f[0], "alert kind")))
		a->alert_kind = xstrdup(ld, s);
	a->severity = xstrdup(ld, "warning");
	if (f[1] && (s = get_text(ld, f[1], "severity", 64))) {
		if (strcmp(s, "info") && strcmp(s, "warning") &&
		    strcmp(s, "critical")) {
			err(ld, f[1],
			    "severity '%.64s' is not known; expected info, "
			    "warning or critical",
			    s);
		} else {
			free(a->severity);
			a->severity = xstrdup(ld, s);
		}
	}
	if (f[2] == NULL)
		err(ld, v,
		    "alert needs 'to': counselor, office or role:<role>");
	else if ((s = get_text(ld, f[2], "to", 64))) {
		if (!strcmp(s, "counselor") || !strcmp(s, "office") ||
		    (!strncmp(s, "role:", 5) &&
		     auth_role_parse(s + 5, &r) == 0))
			a->to = xstrdup(ld, s);
		else
			err(ld, f[2],
			    "to: '%.64s' is not known; expected counselor, "
			    "office or role:<role> (roles: %s)",
			    s, role_list);
	}
	if (f[3] == NULL)
		err(ld, v, "alert needs a 'message' for the person it reaches");
	else if ((s = get_text(ld, f[3], "message", WF_TEXT_MAX)))
		a->message = xstrdup(ld, s);
}

static void
act_call(struct loader *ld, const yaml_node_t *v, struct wf_action *a)
{
	static const char *const keys[] = {"adapter", "operation", NULL};
	const char *const *l;
	yaml_node_t *f[2];
	const char *s;
	size_t alen;
	int adapter = 0, op = 0;

	if (get_fields(ld, v, "call", keys, f) < 0)
		return;
	if (f[0] == NULL)
		err(ld, v, "call needs an 'adapter'");
	else if ((s = get_name(ld, f[0], "adapter")))
		a->adapter = xstrdup(ld, s);
	if (f[1] == NULL)
		err(ld, v, "call needs an 'operation'");
	else if ((s = get_name(ld, f[1], "operation")))
		a->operation = xstrdup(ld, s);
	if (!ld->known || !ld->known->adapters || !a->adapter || !a->operation)
		return;
	alen = strlen(a->adapter);
	for (l = ld->known->adapters; *l; l++) {
		if (!strcmp(*l, a->adapter))
			adapter = op = 1;
		else if (!strncmp(*l, a->adapter, alen) && (*l)[alen] == '.') {
			adapter = 1;
			if (!strcmp(*l + alen + 1, a->operation))
				op = 1;
		}
	}
	if (!adapter)
		err(ld, f[0], "unknown adapter '%s'", a->adapter);
	else if (!op)
		err(ld, f[1], "adapter '%s' has no operation '%s'", a->adapter,
		    a->operation);
}

static void
act_evaluate(struct loader *ld, const yaml_node_t *v, struct wf_action *a)
{
	static const char *const keys[] = {"rule", "store_as", NULL};
	yaml_node_t *f[2];
	const char *s;

	if (get_fields(ld, v, "evaluate", keys, f) < 0)
		return;
	if (f[0] == NULL)
		err(ld, v, "evaluate needs a 'rule'");
	else if ((s = get_rule_ref(ld, f[0], "rule"))) {
		a->rule = xstrdup(ld, s);
		check_rule(ld, f[0], s);
	}
	if (f[1] && (s = get_path(ld, f[1], "store_as")))
		a->store_as = xstrdup(ld, s);
}

static void
act_spawn(struct loader *ld, const yaml_node_t *v, struct wf_action *a)
{
	static const char *const keys[] = {"workflow", "for_each", "as", NULL};
	yaml_node_t *f[3];
	const char *s;

	ld->nspawns++;
	if (get_fields(ld, v, "spawn", keys, f) < 0)
		return;
	if (f[0] == NULL)
		err(ld, v, "spawn needs a 'workflow'");
	else if ((s = get_name(ld, f[0], "workflow"))) {
		a->workflow = xstrdup(ld, s);
		if (ld->d->name && !strcmp(s, ld->d->name))
			err(ld, f[0], "a workflow cannot spawn itself");
		else if (ld->known && ld->known->workflows &&
		         !in_list(ld->known->workflows, s))
			err(ld, f[0], "unknown workflow '%s'", s);
	}
	if (f[1] == NULL)
		err(ld, v,
		    "spawn needs 'for_each': the case data field holding the "
		    "list (e.g. campuses)");
	else if ((s = get_path(ld, f[1], "for_each")))
		a->for_each = xstrdup(ld, s);
	if (f[2] == NULL)
		err(ld, v,
		    "spawn needs 'as': the field of each child's data that "
		    "receives its element (e.g. campus)");
	else if ((s = get_name(ld, f[2], "as")))
		a->as = xstrdup(ld, s);
}

static const char *const action_kinds =
        "set, start_timer, cancel_timer, alert, call, evaluate or spawn";

/* Parses list n of actions into *out (what: "on_enter", "actions"). */
static void
parse_actions(struct loader *ld, const yaml_node_t *n, const char *what,
              struct wf_action **out, int *nout)
{
	yaml_node_item_t *it;
	struct wf_action *a;
	size_t cap = 0;
	int na = 0;

	*out = NULL;
	*nout = 0;
	if (is_null(n))
		return;
	if (n->type != YAML_SEQUENCE_NODE) {
		char buf[80];

		err(ld, n, "'%s' must be a list of actions, not %s", what,
		    shown(n, buf, sizeof(buf)));
		return;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *an = node(ld, *it);

		if (an->type == YAML_MAPPING_NODE &&
		    an->data.mapping.pairs.top - an->data.mapping.pairs.start ==
		            1) {
			yaml_node_t *v =
			        node(ld, an->data.mapping.pairs.start->value);

			cap += v->type == YAML_MAPPING_NODE
			               ? (size_t)(v->data.mapping.pairs.top -
			                          v->data.mapping.pairs.start)
			               : 1;
		}
	}
	if (cap > WF_MAX_ACTIONS) {
		err(ld, n, "more than %d actions in one list", WF_MAX_ACTIONS);
		return;
	}
	a = xcalloc(ld, cap, sizeof(*a));
	if (a == NULL)
		return;
	*out = a;
	for (it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top && !ld->stopped; it++) {
		yaml_node_t *an = node(ld, *it), *k, *v;
		struct wf_action *x = &a[na];
		const char *kind;

		if (!spend(ld, an))
			break;
		if (an->type != YAML_MAPPING_NODE ||
		    an->data.mapping.pairs.top - an->data.mapping.pairs.start !=
		            1) {
			char buf[80];

			err(ld, an,
			    "an action is a mapping with one key, its kind "
			    "(%s), "
			    "not %s",
			    action_kinds,
			    an->type == YAML_MAPPING_NODE
			            ? "a mapping of several keys"
			            : shown(an, buf, sizeof(buf)));
			continue;
		}
		k = node(ld, an->data.mapping.pairs.start->key);
		v = node(ld, an->data.mapping.pairs.start->value);
		kind = k->type == YAML_SCALAR_NODE ? sval(k) : "";
		x->pos = pos_of(an);
		if (!strcmp(kind, "set")) {
			act_set(ld, v, a, &na);
			continue;
		}
		if (!strcmp(kind, "start_timer")) {
			x->kind = WF_ACT_TIMER_START;
			act_start_timer(ld, v, x);
			if (x->timer && x->event)
				note_action(ld, &ld->starts, &ld->nstarts,
				            &ld->capstarts, x);
		} else if (!strcmp(kind, "cancel_timer")) {
			const char *s = get_name(ld, v, "timer name");

			x->kind = WF_ACT_TIMER_CANCEL;
			if (s && (x->timer = xstrdup(ld, s)))
				note_action(ld, &ld->cancels, &ld->ncancels,
				            &ld->capcancels, x);
		} else if (!strcmp(kind, "alert")) {
			x->kind = WF_ACT_ALERT;
			act_alert(ld, v, x);
		} else if (!strcmp(kind, "call")) {
			x->kind = WF_ACT_CALL;
			act_call(ld, v, x);
		} else if (!strcmp(kind, "evaluate")) {
			x->kind = WF_ACT_RULE;
			act_evaluate(ld, v, x);
		} else if (!strcmp(kind, "spawn")) {
			x->kind = WF_ACT_SPAWN;
			act_spawn(ld, v, x);
		} else {
			err(ld, k, "unknown action '%.64s'; expected %s",
			    k->type == YAML_SCALAR_NODE ? kind : "(not a name)",
			    action_kinds);
			continue;
		}
		na++;
	}
	*nout = na;
}

/* --- the definition ----------------------------------------------------- */

static void
parse_status(struct loader *ld, const yaml_node_t *v, struct wf_status *st)
{
	static const char *const keys[] = {"initial", "terminal",    "queue",
	                                   "sla",     "description", "on_enter",
	                                   NULL};
	yaml_node_t *f[6];
	const char *s;
	char buf[80];

	if (is_null(v))
		return;
	if (get_fields(ld, v, "a status", keys, f) < 0)
		return;
	if (f[0] && !is_bool(f[0], &st->initial))
		err(ld, f[0], "'initial' must be true or false, not %s",
		    shown(f[0], buf, sizeof(buf)));
	if (f[1] && !is_bool(f[1], &st->terminal))
		err(ld, f[1], "'terminal' must be true or false, not %s",
		    shown(f[1], buf, sizeof(buf)));
	if (f[2] && (s = get_name(ld, f[2], "queue")))
		st->queue = xstrdup(ld, s);
	if (f[3] && (s = get_text(ld, f[3], "sla", 64)) &&
	    (config_parse_duration(s, &st->sla_ms) < 0 || st->sla_ms <= 0)) {
		err(ld, f[3],
		    "sla: '%.64s' is not a duration; expected a whole number "
		    "greater than zero followed by ms, s, m, h or d (e.g. 14d)",
		    s);
		st->sla_ms = 0;
	}
	if (f[4] && (s = get_text(ld, f[4], "description", WF_TEXT_MAX)))
		st->description = xstrdup(ld, s);
	if (f[5])
		parse_actions(ld, f[5], "on_enter", &st->enter, &st->nenter);
}

static void
parse_statuses(struct loader *ld, const yaml_node_t *n)
{
	struct wf_def *d = ld->d;
	yaml_node_pair_t *p;
	size_t npairs;
	int i, ninitial = 0;
	char buf[80];

	if (n->type != YAML_MAPPING_NODE || is_null(n)) {
		err(ld, n,
		    "'statuses' must be a mapping of status names to their "
		    "settings, not %s",
		    shown(n, buf, sizeof(buf)));
		ld->broken = 1;
		return;
	}
	npairs = (size_t)(n->data.mapping.pairs.top -
	                  n->data.mapping.pairs.start);
	if (npairs == 0) {
		err(ld, n, "no statuses; a workflow needs at least one");
		ld->broken = 1;
		return;
	}
	if (npairs > WF_MAX_STATUSES) {
		err(ld, n, "more than %d statuses", WF_MAX_STATUSES);
		ld->broken = 1;
		return;
	}
	d->statuses = xcalloc(ld, npairs, sizeof(*d->statuses));
	if (d->statuses == NULL)
		return;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(ld, p->key);
		struct wf_status *st = &d->statuses[d->nstatuses];
		const char *name;

		if (!spend(ld, k))
			return;
		name = get_name(ld, k, "status name");
		if (name == NULL) {
			ld->broken = 1;
			continue;
		}
		if (!strcmp(name, "any")) {
			err(ld, k,
			    "'any' cannot name a status: 'from: any' means "
			    "every status that is not terminal");
			ld->broken = 1;
			continue;
		}
		st->name = xstrdup(ld, name);
		if (st->name == NULL)
			return;
		st->pos = pos_of(k);
		d->nstatuses++;
		parse_status(ld, node(ld, p->value), st);
	}
	index_names(ld);
	d->initial = -1;
	for (i = 0; i < d->nstatuses; i++) {
		struct wf_status *st = &d->statuses[i];

		if (!st->initial)
			continue;
		if (ninitial++) {
			err_at(ld, st->pos,
			       "more than one initial status: '%s' and '%s' "
			       "(line %d)",
			       d->statuses[d->initial].name, st->name,
			       d->statuses[d->initial].pos.line);
			continue;
		}
		d->initial = i;
		if (st->terminal)
			err_at(ld, st->pos,
			       "the initial status '%s' cannot be terminal",
			       st->name);
	}
	if (ninitial == 0 && !ld->broken) {
		err(ld, n,
		    "no initial status: mark the status a case starts in with "
		    "'initial: true'");
	}
	if (ninitial != 1) {
		d->initial = d->initial < 0 ? 0 : d->initial;
		ld->broken = 1;
	}
}

/* An event a transition may handle (see docs/workflows.md). */
static int
event_valid(const char *s)
{
	if (name_valid(s))
		return 1;
	if (!strncmp(s, "timer.", 6))
		return name_valid(s + 6);
	if (!strncmp(s, "child.", 6))
		return name_valid(s + 6);
	return !strcmp(s, "children.settled");
}

/* Events only the system sends: timers, children. */
static int
system_event(const char *s)
{
	return !strncmp(s, "timer.", 6) || !strncmp(s, "child.", 6) ||
	       !strcmp(s, "children.settled");
}

/* Adds status idx (named at n) to t's from list. */
static void
add_from(struct loader *ld, const yaml_node_t *n, struct wf_transition *t,
         int idx)
{
	int i;

	if (ld->d->statuses[idx].terminal)
		err(ld, n, "'%s' is terminal: no transition may leave it",
		    ld->d->statuses[idx].name);
	for (i = 0; i < t->nfrom; i++)
		if (t->from[i] == idx)
			return;
	t->from[t->nfrom++] = idx;
}

static void
parse_from(struct loader *ld, const yaml_node_t *n, struct wf_transition *t)
{
	struct wf_def *d = ld->d;
	yaml_node_item_t *it;
	size_t max;
	int i, idx;
	char buf[80];

	if (n->type == YAML_SCALAR_NODE && !strcmp(sval(n), "any") &&
	    is_plain(n)) {
		t->from_any = 1;
		t->from = xcalloc(ld, (size_t)d->nstatuses, sizeof(int));
		if (t->from == NULL)
			return;
		for (i = 0; i < d->nstatuses; i++)
			if (!d->statuses[i].terminal)
				t->from[t->nfrom++] = i;
		return;
	}
	if (n->type == YAML_MAPPING_NODE || is_null(n) ||
	    (n->type == YAML_SEQUENCE_NODE &&
	     n->data.sequence.items.start == n->data.sequence.items.top)) {
		err(ld, n,
		    "'from' must be a status, a list of statuses or 'any', not "
		    "%s",
		    n->type == YAML_SEQUENCE_NODE ? "an empty list"
		                                  : shown(n, buf, sizeof(buf)));
		ld->broken = 1;
		return;
	}
	max = n->type == YAML_SEQUENCE_NODE
	              ? (size_t)(n->data.sequence.items.top -
	                         n->data.sequence.items.start)
	              : 1;
	t->from = xcalloc(ld, max, sizeof(int));
	if (t->from == NULL)
		return;
	if (n->type == YAML_SCALAR_NODE) {
		if ((idx = status_ref(ld, n, "from")) >= 0)
			add_from(ld, n, t, idx);
		return;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *s = node(ld, *it);

		if (!spend(ld, s))
			return;
		if (s->type == YAML_SCALAR_NODE && is_plain(s) &&
		    !strcmp(sval(s), "any")) {
			err(ld, s, "'any' stands alone: write 'from: any'");
			ld->broken = 1;
			continue;
		}
		if ((idx = status_ref(ld, s, "from")) >= 0)
			add_from(ld, s, t, idx);
	}
}

static void
parse_to(struct loader *ld, const yaml_node_t *n, struct wf_transition *t)
{
	static const char *const keys[] = {"field", "cases", NULL};
	yaml_node_t *f[2];
	yaml_node_pair_t *p;
	const char *s;
	size_t npairs;

	t->to = -1;
	if (n->type != YAML_MAPPING_NODE) {
		t->to = status_ref(ld, n, "to");
		return;
	}
	if (get_fields(ld, n, "'to'", keys, f) < 0)
		return;
	if (f[0] == NULL)
		err(ld, n,
		    "'to' chosen by the event needs 'field': the event data "
		    "field whose value picks the status");
	else if ((s = get_path(ld, f[0], "field")))
		t->to_field = xstrdup(ld, s);
	if (f[1] == NULL || f[1]->type != YAML_MAPPING_NODE ||
	    f[1]->data.mapping.pairs.start == f[1]->data.mapping.pairs.top) {
		err(ld, f[1] ? f[1] : n,
		    "'to' chosen by the event needs 'cases': a mapping of "
		    "values to statuses (e.g. {admit: admitted})");
		ld->broken = 1;
		return;
	}
	npairs = (size_t)(f[1]->data.mapping.pairs.top -
	                  f[1]->data.mapping.pairs.start);
	t->to_cases = xcalloc(ld, npairs, sizeof(*t->to_cases));
	if (t->to_cases == NULL)
		return;
	for (p = f[1]->data.mapping.pairs.start;
	     p < f[1]->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
		struct wf_to_case *c = &t->to_cases[t->nto_cases];
		int i, idx;

		if (!spend(ld, k))
			return;
		if ((s = get_text(ld, k, "a case", WF_PATH_MAX)) == NULL)
			continue;
		for (i = 0; i < t->nto_cases; i++)
			if (!strcmp(t->to_cases[i].value, s))
				break;
		if (i < t->nto_cases) {
			err(ld, k, "duplicate case '%.64s'", s);
			continue;
		}
		if ((idx = status_ref(ld, v, "a case's status")) < 0)
			continue;
		c->value = xstrdup(ld, s);
		c->status = idx;
		if (c->value)
			t->nto_cases++;
	}
}

static void
parse_roles(struct loader *ld, const yaml_node_t *n, struct wf_transition *t)
{
	yaml_node_item_t *it;
	char buf[80];

	if (n->type == YAML_SCALAR_NODE && !is_null(n)) {
		enum role r;

		if (auth_role_parse(sval(n), &r) == 0)
			t->roles = ROLE_BIT(r);
		else
			err(ld, n, "unknown role '%.64s'; expected one of %s",
			    sval(n), role_list);
		return;
	}
	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.start == n->data.sequence.items.top) {
		err(ld, n,
		    "'roles' must be a list of roles, not %s; leave it out "
		    "for events only the system sends",
		    n->type == YAML_SEQUENCE_NODE ? "an empty list"
		                                  : shown(n, buf, sizeof(buf)));
		return;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *r = node(ld, *it);
		const char *s;
		enum role role;

		if (!spend(ld, r))
			return;
		if ((s = get_text(ld, r, "role", 64)) == NULL)
			continue;
		if (auth_role_parse(s, &role) < 0)
			err(ld, r, "unknown role '%.64s'; expected one of %s",
			    s, role_list);
		else
			t->roles |= ROLE_BIT(role);
	}
}

static void
parse_transition(struct loader *ld, const yaml_node_t *n,
                 struct wf_transition *t)
{
	static const char *const keys[] = {"on",          "from",  "to",
	                                   "roles",       "guard", "actions",
	                                   "description", NULL};
	yaml_node_t *f[7];
	const char *s;

	t->pos = pos_of(n);
	t->to = -1;
	if (get_fields(ld, n, "a transition", keys, f) < 0) {
		ld->broken = 1;
		return;
	}
	if (f[0] == NULL) {
		err(ld, n, "a transition needs 'on': the event it handles");
		ld->broken = 1;
	} else if ((s = get_text(ld, f[0], "on", WF_PATH_MAX)) == NULL) {
		ld->broken = 1;
	} else {
		if (!event_valid(s))
			err(ld, f[0],
			    "event '%.80s' is not valid: expected a name "
			    "(lowercase letters, digits, '_'), timer.<name>, "
			    "child.<status> or children.settled",
			    s);
		t->on = xstrdup(ld, s);
	}
	if (f[1] == NULL) {
		err(ld, n,
		    "a transition needs 'from': a status, a list of statuses "
		    "or 'any'");
		ld->broken = 1;
	} else {
		parse_from(ld, f[1], t);
	}
	if (f[2] == NULL) {
		err(ld, n,
		    "a transition needs 'to': a status, or {field, cases} to "
		    "let the event's data choose");
		ld->broken = 1;
	} else {
		parse_to(ld, f[2], t);
	}
	if (f[3]) {
		if (t->on && system_event(t->on))
			err(ld, f[3],
			    "'%s' is sent by the system only; remove 'roles'",
			    t->on);
		else
			parse_roles(ld, f[3], t);
	}
	if (f[4] && (s = get_rule_ref(ld, f[4], "guard"))) {
		t->guard = xstrdup(ld, s);
		check_rule(ld, f[4], s);
	}
	if (f[5])
		parse_actions(ld, f[5], "actions", &t->actions, &t->nactions);
	if (f[6])
		get_text(ld, f[6], "description", WF_TEXT_MAX);
}

static void
parse_transitions(struct loader *ld, const yaml_node_t *n)
{
	struct wf_def *d = ld->d;
	yaml_node_item_t *it;
	size_t nitems;
	char buf[80];

	if (is_null(n))
		return;
	if (n->type != YAML_SEQUENCE_NODE) {
		err(ld, n, "'transitions' must be a list, not %s",
		    shown(n, buf, sizeof(buf)));
		ld->broken = 1;
		return;
	}
	nitems = (size_t)(n->data.sequence.items.top -
	                  n->data.sequence.items.start);
	if (nitems > WF_MAX_TRANSITIONS) {
		err(ld, n, "more than %d transitions", WF_MAX_TRANSITIONS);
		ld->broken = 1;
		return;
	}
	d->transitions = xcalloc(ld, nitems, sizeof(*d->transitions));
	ld->tx_nodes = xcalloc(ld, nitems, sizeof(*ld->tx_nodes));
	if (d->transitions == NULL || ld->tx_nodes == NULL)
		return;
	for (it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top && !ld->stopped; it++) {
		yaml_node_t *tn = node(ld, *it);

		if (!spend(ld, tn))
			return;
		ld->tx_nodes[d->ntransitions] = tn;
		parse_transition(ld, tn, &d->transitions[d->ntransitions++]);
	}
}

/* --- graph checks ------------------------------------------------------- */

/* The targets of t: its status, or its cases' statuses. */
static int
targets(const struct wf_transition *t, int *out)
{
	int i, n = 0;

	if (t->to >= 0) {
		out[n++] = t->to;
		return n;
	}
	for (i = 0; i < t->nto_cases; i++)
		out[n++] = t->to_cases[i].status;
	return n;
}

static void
check_reachable(struct loader *ld)
{
	struct wf_def *d = ld->d;
	int *queue, *tg, head = 0, tail = 0, i, j, k, n;
	unsigned char *seen;

	queue = xcalloc(ld, (size_t)d->nstatuses, sizeof(int));
	tg = xcalloc(ld, (size_t)d->nstatuses + 1, sizeof(int));
	seen = xcalloc(ld, (size_t)d->nstatuses, 1);
	if (!queue || !tg || !seen)
		goto out;
	seen[d->initial] = 1;
	queue[tail++] = d->initial;
	/* O(statuses x transitions), both capped */
	while (head < tail) {
		int s = queue[head++];

		for (i = 0; i < d->ntransitions; i++) {
			const struct wf_transition *t = &d->transitions[i];

			for (j = 0; j < t->nfrom && t->from[j] != s; j++)
				;
			if (j == t->nfrom)
				continue;
			n = targets(t, tg);
			for (k = 0; k < n; k++) {
				if (seen[tg[k]])
					continue;
				seen[tg[k]] = 1;
				queue[tail++] = tg[k];
			}
		}
	}
	for (i = 0; i < d->nstatuses; i++)
		if (!seen[i])
			err_at(ld, d->statuses[i].pos,
			       "status '%s' cannot be reached from the initial "
			       "status '%s'",
			       d->statuses[i].name,
			       d->statuses[d->initial].name);
out:
	free(queue);
	free(tg);
	free(seen);
}

/* A timer firing ev is started anywhere in the workflow. */
static int
timer_fires(struct loader *ld, const char *ev)
{
	int i;

	for (i = 0; i < ld->nstarts; i++)
		if (!strcmp(ld->starts[i]->event, ev))
			return 1;
	return 0;
}

static int
timer_named(struct loader *ld, const char *name)
{
	int i;

	for (i = 0; i < ld->nstarts; i++)
		if (!strcmp(ld->starts[i]->timer, name))
			return 1;
	return 0;
}

static int
acts_start(const struct wf_action *a, int n, const char *ev)
{
	int i;

	for (i = 0; i < n; i++)
		if (a[i].kind == WF_ACT_TIMER_START && a[i].event &&
		    !strcmp(a[i].event, ev))
			return 1;
	return 0;
}

/*
 * Whether a timer firing ev can be running while a case is in status s:
 * leaving a status cancels its timers, so the timer must be started on
 * entering s or by a transition that lands in s.
 */
static int
timer_running(struct loader *ld, int s, const char *ev)
{
	struct wf_def *d = ld->d;
	int i, j;

	if (acts_start(d->statuses[s].enter, d->statuses[s].nenter, ev))
		return 1;
	for (i = 0; i < d->ntransitions; i++) {
		const struct wf_transition *t = &d->transitions[i];
		int lands = t->to == s;

		for (j = 0; j < t->nto_cases && !lands; j++)
			lands = t->to_cases[j].status == s;
		if (lands && acts_start(t->actions, t->nactions, ev))
			return 1;
	}
	return 0;
}

/* Whether anyone or anything can send t's event in status s. */
static int
can_fire(struct loader *ld, const struct wf_transition *t, int s)
{
	if (t->roles)
		return 1;
	if (!strncmp(t->on, "child.", 6) || !strcmp(t->on, "children.settled"))
		return ld->nspawns > 0;
	return timer_running(ld, s, t->on);
}

static void
check_events(struct loader *ld)
{
	struct wf_def *d = ld->d;
	int i, j;

	for (i = 0; i < d->ntransitions; i++) {
		const struct wf_transition *t = &d->transitions[i];
		const char *on = t->on;

		if (!strncmp(on, "timer.", 6) && !timer_fires(ld, on)) {
			warn_at(ld, t->pos,
			        "no start_timer starts a timer firing '%s'",
			        on);
			continue;
		}
		if ((!strncmp(on, "child.", 6) ||
		     !strcmp(on, "children.settled")) &&
		    ld->nspawns == 0) {
			warn_at(ld, t->pos,
			        "'%s' comes from child cases, but this "
			        "workflow "
			        "spawns none",
			        on);
			continue;
		}
		if (!system_event(on) && t->roles == 0 &&
		    !timer_fires(ld, on)) {
			warn_at(ld, t->pos,
			        "nobody can send '%s': it has no 'roles' and "
			        "no "
			        "timer fires it",
			        on);
			continue;
		}
		if (t->roles || !timer_fires(ld, on) || t->from_any)
			continue;
		for (j = 0; j < t->nfrom; j++)
			if (!timer_running(ld, t->from[j], on)) {
				warn_at(ld, t->pos,
				        "no timer firing '%s' runs in '%s': "
				        "timers stop when their status is "
				        "left, so start it on entering '%s'",
				        on, d->statuses[t->from[j]].name,
				        d->statuses[t->from[j]].name);
				break;
			}
	}
	for (i = 0; i < ld->ncancels; i++)
		if (!timer_named(ld, ld->cancels[i]->timer))
			warn_at(ld, ld->cancels[i]->pos,
			        "cancel_timer '%s': no start_timer starts a "
			        "timer of that name",
			        ld->cancels[i]->timer);
}

/* Open statuses need a way out that someone or something can take. */
static void
check_exits(struct loader *ld)
{
	struct wf_def *d = ld->d;
	int s, i, j;

	for (s = 0; s < d->nstatuses; s++) {
		const struct wf_status *st = &d->statuses[s];
		const struct wf_transition *stuck = NULL;
		int out = 0, live = 0;

		if (st->terminal)
			continue;
		for (i = 0; i < d->ntransitions && !live; i++) {
			const struct wf_transition *t = &d->transitions[i];

			for (j = 0; j < t->nfrom && t->from[j] != s; j++)
				;
			if (j == t->nfrom)
				continue;
			out = 1;
			if (can_fire(ld, t, s))
				live = 1;
			else if (stuck == NULL)
				stuck = t;
		}
		if (!out)
			err_at(ld, st->pos,
			       "status '%s' is not terminal, but no transition "
			       "leaves it: add one, or mark it 'terminal: "
			       "true'",
			       st->name);
		else if (!live)
			warn_at(ld, st->pos,
			        "status '%s' is a wait with no timer and no "
			        "event that can end it: nobody may send '%s' "
			        "and no timer firing it runs here",
			        st->name, stuck->on);
	}
}

static int
tx_cmp(const void *a, const void *b)
{
	const struct wf_transition *x = *(const struct wf_transition *const *)a,
	                           *y = *(const struct wf_transition *const *)b;
	int c = strcmp(x->on, y->on);

	return c ? c : (x > y) - (x < y);
}

/*
 * Transitions are tried in file order; an earlier one without a guard for
 * the same event and status leaves a later one nothing to do.
 */
static void
check_shadowed(struct loader *ld)
{
	struct wf_def *d = ld->d;
	const struct wf_transition **v;
	const struct wf_transition **first;
	int i, j, k, g;

	v = xcalloc(ld, (size_t)d->ntransitions, sizeof(*v));
	first = xcalloc(ld, (size_t)d->nstatuses, sizeof(*first));
	if (!v || !first)
		goto out;
	for (i = 0; i < d->ntransitions; i++)
		v[i] = &d->transitions[i];
	qsort(v, (size_t)d->ntransitions, sizeof(*v), tx_cmp);
	for (g = 0; g < d->ntransitions; g = i) {
		for (i = g; i < d->ntransitions && !strcmp(v[i]->on, v[g]->on);
		     i++) {
			const struct wf_transition *t = v[i];

			for (j = 0; j < t->nfrom; j++) {
				const struct wf_transition *f =
				        first[t->from[j]];

				if (f == NULL || f == t)
					continue;
				err_at(ld, t->pos,
				       "this transition can never be taken "
				       "from "
				       "'%s': the one at line %d, column %d "
				       "handles '%s' there first, without a "
				       "guard",
				       d->statuses[t->from[j]].name,
				       f->pos.line, f->pos.column, t->on);
				break;
			}
			if (t->guard)
				continue;
			for (j = 0; j < t->nfrom; j++)
				if (first[t->from[j]] == NULL)
					first[t->from[j]] = t;
		}
		for (k = g; k < i; k++)
			for (j = 0; j < v[k]->nfrom; j++)
				first[v[k]->from[j]] = NULL;
	}
out:
	free(v);
	free(first);
}

/* --- loading ------------------------------------------------------------ */

static void
hash_bytes(const char *buf, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32) {
		hex[0] = '\0';
		return;
	}
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Entries in one `fields:` block: a real record has a few dozen. */
#define WF_MAX_FIELDS 1000

/*
 * fields: {path: class, ...}: a data path ("isir.ssn_last4"), the members
 * of one ("isir.*"), or "*" (every field no other entry names) mapped to
 * public, internal, sensitive or restricted.
 */
static void
parse_fields(struct loader *ld, const yaml_node_t *n)
{
	struct wf_def *d = ld->d;
	yaml_node_pair_t *p;
	size_t npairs;
	char buf[80];
	int have_default = 0;

	if (n->type != YAML_MAPPING_NODE || is_null(n)) {
		err(ld, n,
		    "'fields' must be a mapping of data fields to classes "
		    "(e.g. isir.ssn_last4: restricted), not %s",
		    shown(n, buf, sizeof(buf)));
		return;
	}
	npairs = (size_t)(n->data.mapping.pairs.top -
	                  n->data.mapping.pairs.start);
	if (npairs > WF_MAX_FIELDS) {
		err(ld, n, "more than %d entries in 'fields'", WF_MAX_FIELDS);
		return;
	}
	d->fields = xcalloc(ld, npairs ? npairs : 1, sizeof(*d->fields));
	if (d->fields == NULL)
		return;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
		const char *key, *cls;
		char path[WF_PATH_MAX + 1];
		enum wf_class c;
		size_t len;
		int members = 0, dup = 0;

		if (!spend(ld, k) || !spend(ld, v))
			return;
		key = get_text(ld, k, "field", WF_PATH_MAX + 2);
		if (key == NULL)
			continue;
		cls = get_text(ld, v, "class", 32);
		if (cls == NULL)
			continue;
		if (wf_class_parse(cls, &c) != 0) {
			err(ld, v,
			    "'%.32s' is not a field class; expected public, "
			    "internal, sensitive or restricted",
			    cls);
			continue;
		}
		if (!strcmp(key, "*")) {
			if (have_default++)
				err(ld, k, "'*' is given twice");
			d->default_class = c;
			continue;
		}
		len = strlen(key);
		if (len > 2 && !strcmp(key + len - 2, ".*")) {
			members = 1;
			len -= 2;
		}
		snprintf(path, sizeof(path), "%.*s", (int)len, key);
		if (len > WF_PATH_MAX || !path_valid(path)) {
			err(ld, k,
			    "field '%.80s' is not a data path: expected names "
			    "of letters, digits, '_' or '-' joined by '.' "
			    "(isir.ssn_last4), optionally ending in '.*' "
			    "(isir.*: every member of isir), or '*' (every "
			    "field not named)",
			    key);
			continue;
		}
		for (int i = 0; i < d->nfields; i++)
			if (d->fields[i].members == members &&
			    !strcmp(d->fields[i].path, path)) {
				err(ld, k,
				    "field '%.80s' is classified twice (first "
				    "at line %d)",
				    key, d->fields[i].pos.line);
				dup = 1;
				break;
			}
		if (dup)
			continue;
		d->fields[d->nfields].path = xstrdup(ld, path);
		if (d->fields[d->nfields].path == NULL)
			return;
		d->fields[d->nfields].members = members;
		d->fields[d->nfields].cls = c;
		d->fields[d->nfields].pos = pos_of(k);
		d->nfields++;
	}
}

static void
parse_def(struct loader *ld, const yaml_node_t *root)
{
	static const char *const keys[] = {"name",     "description",
	                                   "statuses", "transitions",
	                                   "fields",   NULL};
	struct wf_def *d = ld->d;
	yaml_node_t *f[5];
	const char *s;

	if (root->type != YAML_MAPPING_NODE) {
		err(ld, root,
		    "a workflow must be a mapping with name, statuses and "
		    "transitions, not %s",
		    yamlfile_node_kind(root));
		return;
	}
	if (get_fields(ld, root, "a workflow", keys, f) < 0)
		return;
	if (f[0] == NULL)
		err(ld, root,
		    "missing 'name' (a lowercase letter, then up to %d "
		    "lowercase letters, digits or '_')",
		    DEFS_NAME_MAX - 1);
	else if ((s = get_name(ld, f[0], "name")))
		d->name = xstrdup(ld, s);
	if (f[1] && (s = get_text(ld, f[1], "description", WF_TEXT_MAX)))
		d->description = xstrdup(ld, s);
	if (f[2] == NULL) {
		err(ld, root, "missing 'statuses'");
		return;
	}
	parse_statuses(ld, f[2]);
	if (f[3])
		parse_transitions(ld, f[3]);
	if (f[4])
		parse_fields(ld, f[4]);
	if (ld->stopped || ld->oom || ld->broken || d->nstatuses == 0)
		return;
	check_reachable(ld);
	check_exits(ld);
	check_events(ld);
	check_shadowed(ld);
}

static int load_def(const char *path, const char *text, size_t len,
                    const struct wf_known *known, wf_report_cb cb, void *data,
                    struct wf_def **out);

int
wf_def_load(const char *path, const struct wf_known *known, wf_report_cb cb,
            void *data, struct wf_def **out)
{
	return load_def(path, NULL, 0, known, cb, data, out);
}

int
wf_def_load_text(const char *label, const char *text, size_t len,
                 const struct wf_known *known, wf_report_cb cb, void *data,
                 struct wf_def **out)
{
	return load_def(label, text, len, known, cb, data, out);
}

/* From the file at path, or from text when it is not NULL. */
static int
load_def(const char *path, const char *text, size_t len,
         const struct wf_known *known, wf_report_cb cb, void *data,
         struct wf_def **out)
{
	struct yamlfile yf;
	struct cairn_err e;
	struct loader ld;
	yaml_node_t *root;
	struct wf_def *d;
	int rc;

	*out = NULL;
	memset(&ld, 0, sizeof(ld));
	ld.path = path;
	ld.known = known;
	ld.cb = cb;
	ld.cbdata = data;
	if (text != NULL && len > DEFS_FILE_MAX) {
		cairn_err_set(&e, path, 0, 0,
		              "too large for a workflow "
		              "definition");
		rc = CAIRN_EINVALID;
	} else if (text != NULL) {
		rc = yamlfile_init_mem(&yf, path, text, len, DEFS_MAX_DEPTH,
		                       &e);
	} else {
		rc = yamlfile_init(&yf, path, DEFS_FILE_MAX, DEFS_MAX_DEPTH,
		                   "workflow definition", &e);
	}
	if (rc < 0) {
		if (cb)
			cb(&e, 0, data);
		return rc;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->file = strdup(path)) == NULL) {
		free(d);
		yamlfile_close(&yf);
		cairn_err_set(&e, path, 0, 0, "out of memory");
		if (cb)
			cb(&e, 0, data);
		return -ENOMEM;
	}
	d->initial = -1;
	d->default_class = WF_CLASS_DEFAULT;
	ld.d = d;
	ld.doc = &yf.doc;
	ld.budget = 3 * (long)(yf.doc.nodes.top - yf.doc.nodes.start) + 1024;
	hash_bytes(yf.buf, yf.len, d->hash);
	root = yaml_document_get_root_node(&yf.doc);
	if (root == NULL)
		report(&ld, 0, 0, 0,
		       "empty workflow definition; expected a mapping with "
		       "name, statuses and transitions");
	else
		parse_def(&ld, root);
	rc = yamlfile_expect_end(&yf, "a workflow file holds one", &e);
	if (rc < 0)
		report(&ld, 0, e.line, e.column, "%s", e.msg);
	if (ld.nerrors == 0 && !ld.oom && root) {
		d->source = to_json(&ld, root, 0, 0);
		if (d->source == NULL && !ld.stopped)
			ld.oom = 1;
	}
	if (ld.oom)
		report(&ld, 0, 0, 0, "out of memory");
	yamlfile_close(&yf);
	free(ld.by_name);
	free(ld.starts);
	free(ld.cancels);
	free(ld.tx_nodes);
	if (ld.nerrors) {
		wf_def_free(d);
		return ld.oom                ? -ENOMEM
		       : rc == CAIRN_ESYNTAX ? rc
		                             : CAIRN_EINVALID;
	}
	*out = d;
	return 0;
}

/* --- freeing and finding ------------------------------------------------ */

static void
actions_free(struct wf_action *a, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free(a[i].field);
		json_decref(a[i].value);
		free(a[i].timer);
		free(a[i].until_field);
		free(a[i].event);
		free(a[i].alert_kind);
		free(a[i].severity);
		free(a[i].to);
		free(a[i].message);
		free(a[i].adapter);
		free(a[i].operation);
		free(a[i].rule);
		free(a[i].store_as);
		free(a[i].workflow);
		free(a[i].for_each);
		free(a[i].as);
	}
	free(a);
}

void
wf_def_free(struct wf_def *d)
{
	int i, j;

	if (d == NULL)
		return;
	for (i = 0; i < d->nstatuses; i++) {
		free(d->statuses[i].name);
		free(d->statuses[i].queue);
		free(d->statuses[i].description);
		actions_free(d->statuses[i].enter, d->statuses[i].nenter);
	}
	free(d->statuses);
	for (i = 0; i < d->ntransitions; i++) {
		struct wf_transition *t = &d->transitions[i];

		free(t->on);
		free(t->from);
		free(t->to_field);
		for (j = 0; j < t->nto_cases; j++)
			free(t->to_cases[j].value);
		free(t->to_cases);
		free(t->guard);
		actions_free(t->actions, t->nactions);
	}
	free(d->transitions);
	for (i = 0; i < d->nfields; i++)
		free(d->fields[i].path);
	free(d->fields);
	free(d->name);
	free(d->description);
	free(d->file);
	json_decref(d->source);
	free(d);
}

int
wf_status_find(const struct wf_def *d, const char *name)
{
	int i;

	if (d == NULL || name == NULL)
		return -1;
	for (i = 0; i < d->nstatuses; i++)
		if (d->statuses[i].name && !strcmp(d->statuses[i].name, name))
			return i;
	return -1;
}

/* --- Graphviz ----------------------------------------------------------- */

/* s inside a DOT double-quoted string. */
static void
dot_str(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void
dot_duration(FILE *f, int64_t ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"d", 86400000},
	             {"h", 3600000},
	             {"m", 60000},
	             {"s", 1000},
	             {"ms", 1}};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms % units[i].ms == 0) {
			fprintf(f, "%lld%s", (long long)(ms / units[i].ms),
			        units[i].unit);
			return;
		}
}

static void
dot_roles(FILE *f, unsigned roles)
{
	int r, n = 0;

	if (roles == 0) {
		fputs("\\n(system)", f);
		return;
	}
	fputs("\\n[", f);
	for (r = 0; r < ROLE_COUNT; r++)
		if (roles & ROLE_BIT(r))
			fprintf(f, "%s%s", n++ ? ", " : "",
			        auth_role_name((enum role)r));
	fputc(']', f);
}

static void
dot_edge(FILE *f, const struct wf_def *d, const char *from, int to,
         const struct wf_transition *t, const char *value)
{
	fputs("  \"", f);
	dot_str(f, from);
	fputs("\" -> \"", f);
	dot_str(f, d->statuses[to].name);
	fputs("\" [label=\"", f);
	dot_str(f, t->on);
	if (value) {
		fputs("\\n", f);
		dot_str(f, t->to_field);
		fputs(" = ", f);
		dot_str(f, value);
	}
	if (t->guard) {
		fputs("\\nif ", f);
		dot_str(f, t->guard);
	}
	dot_roles(f, t->roles);
	fprintf(f, "\"%s];\n", t->roles ? "" : ", style=dashed");
}

char *
wf_def_dot(const struct wf_def *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int i, j, k, any = 0;

	f = open_memstream(&buf, &len);
	if (f == NULL)
		return NULL;
	fputs("digraph \"", f);
	dot_str(f, d->name ? d->name : "workflow");
	fputs("\" {\n  rankdir=LR;\n"
	      "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
	      "  edge [fontname=\"Helvetica\", fontsize=10];\n"
	      "  \"(start)\" [shape=point, label=\"\"];\n",
	      f);
	for (i = 0; i < d->nstatuses; i++) {
		const struct wf_status *s = &d->statuses[i];

		fputs("  \"", f);
		dot_str(f, s->name);
		fputs("\" [label=\"", f);
		dot_str(f, s->name);
		if (s->queue) {
			fputs("\\nqueue: ", f);
			dot_str(f, s->queue);
		}
		if (s->sla_ms) {
			fputs("\\nSLA ", f);
			dot_duration(f, s->sla_ms);
		}
		fprintf(f, "\"%s];\n", s->terminal ? ", peripheries=2" : "");
	}
	if (d->initial >= 0 && d->initial < d->nstatuses) {
		fputs("  \"(start)\" -> \"", f);
		dot_str(f, d->statuses[d->initial].name);
		fputs("\";\n", f);
	}
	for (i = 0; i < d->ntransitions; i++)
		any |= d->transitions[i].from_any;
	if (any)
		fputs("  \"(any open status)\" [shape=plaintext];\n", f);
	for (i = 0; i < d->ntransitions; i++) {
		const struct wf_transition *t = &d->transitions[i];
		int nfrom = t->from_any ? 1 : t->nfrom;

		for (j = 0; j < nfrom; j++) {
			const char *from =
			        t->from_any ? "(any open status)"
			                    : d->statuses[t->from[j]].name;

			if (t->to >= 0)
				dot_edge(f, d, from, t->to, t, NULL);
			for (k = 0; k < t->nto_cases; k++)
				dot_edge(f, d, from, t->to_cases[k].status, t,
				         t->to_cases[k].value);
		}
	}
	fputs("}\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* --- campuses ----------------------------------------------------------- */

static const char *const segments[] = {"uc", "csu", "ccc", NULL};

/* "uc-berkeley": a segment, '-', then lowercase letters, digits and '-'. */
static int
campus_id_valid(const char *id, const char *segment)
{
	size_t n = strlen(segment), i;

	if (strncmp(id, segment, n) != 0 || id[n] != '-' || !id[n + 1] ||
	    strlen(id) > DEFS_NAME_MAX)
		return 0;
	for (i = n + 1; id[i]; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			return 0;
	return id[i - 1] != '-';
}

static void
parse_campus(struct loader *ld, const yaml_node_t *n, struct wf_campuses *c)
{
	static const char *const keys[] = {"id", "name", "segment", "adapter",
	                                   NULL};
	struct wf_campus *cp = &c->v[c->n];
	yaml_node_t *f[4];
	const char *s;
	int i;

	if (get_fields(ld, n, "a campus", keys, f) < 0)
		return;
	for (i = 0; i < 4; i++)
		if (f[i] == NULL) {
			err(ld, n,
			    "a campus needs '%s' (it has id, name, "
			    "segment and adapter)",
			    keys[i]);
			return;
		}
	if ((s = get_text(ld, f[2], "segment", 16)) == NULL)
		return;
	if (!in_list(segments, s)) {
		err(ld, f[2],
		    "segment '%.16s' is not known; expected uc, csu "
		    "or ccc",
		    s);
		return;
	}
	cp->segment = xstrdup(ld, s);
	if (cp->segment == NULL ||
	    (s = get_text(ld, f[0], "id", DEFS_NAME_MAX)) == NULL)
		goto drop;
	if (!campus_id_valid(s, cp->segment)) {
		err(ld, f[0],
		    "campus id '%.64s' is not valid: expected '%s-' then "
		    "lowercase letters, digits or '-' (e.g. %s-davis)",
		    s, cp->segment, cp->segment);
		goto drop;
	}
	for (i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].id, s)) {
			err(ld, f[0],
			    "duplicate campus '%s' (first at line %d, column "
			    "%d)",
			    s, c->v[i].pos.line, c->v[i].pos.column);
			goto drop;
		}
	if ((cp->id = xstrdup(ld, s)) == NULL)
		goto drop;
	cp->pos = pos_of(f[0]);
	if ((s = get_text(ld, f[1], "name", WF_TEXT_MAX)))
		cp->name = xstrdup(ld, s);
	if ((s = get_name(ld, f[3], "adapter"))) {
		cp->adapter = xstrdup(ld, s);
		if (ld->known && ld->known->adapters &&
		    !in_list(ld->known->adapters, s))
			err(ld, f[3], "unknown adapter '%s'", s);
	}
	c->n++;
	return;
drop:
	free(cp->segment);
	memset(cp, 0, sizeof(*cp));
}

int
wf_campuses_load(const char *path, const struct wf_known *known,
                 wf_report_cb cb, void *data, struct wf_campuses **out)
{
	static const char *const keys[] = {"description", "campuses", NULL};
	struct wf_campuses *c;
	struct yamlfile yf;
	struct cairn_err e;
	struct loader ld;
	yaml_node_t *root, *f[2];
	yaml_node_item_t *it;
	int rc;

	*out = NULL;
	memset(&ld, 0, sizeof(ld));
	ld.path = path;
	ld.known = known;
	ld.cb = cb;
	ld.cbdata = data;
	rc = yamlfile_init(&yf, path, DEFS_FILE_MAX, DEFS_MAX_DEPTH,
	                   "campus list", &e);
	if (rc < 0) {
		if (cb)
			cb(&e, 0, data);
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->file = strdup(path)) == NULL) {
		free(c);
		yamlfile_close(&yf);
		cairn_err_set(&e, path, 0, 0, "out of memory");
		if (cb)
			cb(&e, 0, data);
		return -ENOMEM;
	}
	ld.doc = &yf.doc;
	ld.budget = 3 * (long)(yf.doc.nodes.top - yf.doc.nodes.start) + 1024;
	hash_bytes(yf.buf, yf.len, c->hash);
	root = yaml_document_get_root_node(&yf.doc);
	if (root == NULL)
		report(&ld, 0, 0, 0,
		       "empty campus list; expected a mapping "
		       "with 'campuses'");
	else if (get_fields(&ld, root, "a campus list", keys, f) == 0) {
		if (f[1] == NULL)
			err(&ld, root, "missing 'campuses'");
		else if (f[1]->type != YAML_SEQUENCE_NODE ||
		         f[1]->data.sequence.items.start ==
		                 f[1]->data.sequence.items.top)
			err(&ld, f[1], "'campuses' must be a non-empty list");
		else if (f[1]->data.sequence.items.top -
		                 f[1]->data.sequence.items.start >
		         WF_MAX_CAMPUSES)
			err(&ld, f[1], "more than %d campuses",
			    WF_MAX_CAMPUSES);
		else {
			size_t n = (size_t)(f[1]->data.sequence.items.top -
			                    f[1]->data.sequence.items.start);

			c->v = xcalloc(&ld, n, sizeof(*c->v));
			for (it = f[1]->data.sequence.items.start;
			     c->v && it < f[1]->data.sequence.items.top &&
			     spend(&ld, node(&ld, *it));
			     it++)
				parse_campus(&ld, node(&ld, *it), c);
		}
		if (f[0])
			get_text(&ld, f[0], "description", WF_TEXT_MAX);
	}
	rc = yamlfile_expect_end(&yf, "a campus list file holds one", &e);
	if (rc < 0)
		report(&ld, 0, e.line, e.column, "%s", e.msg);
	if (ld.oom)
		report(&ld, 0, 0, 0, "out of memory");
	yamlfile_close(&yf);
	if (ld.nerrors) {
		wf_campuses_free(c);
		return ld.oom                ? -ENOMEM
		       : rc == CAIRN_ESYNTAX ? rc
		                             : CAIRN_EINVALID;
	}
	*out = c;
	return 0;
}

void
wf_campuses_free(struct wf_campuses *c)
{
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		free(c->v[i].id);
		free(c->v[i].name);
		free(c->v[i].segment);
		free(c->v[i].adapter);
	}
	free(c->v);
	free(c->file);
	free(c);
}

const struct wf_campus *
wf_campus_find(const struct wf_campuses *c, const char *id)
{
	int i;

	if (c == NULL || id == NULL)
		return NULL;
	for (i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].id, id))
			return &c->v[i];
	return NULL;
}
