/*
 * cases.c: cairn cases: the cases a token may see, one case, its history,
 * a student's whole timeline, opening a case and sending it an event.
 *
 *   cairn cases [list] [--workflow W] [--status S] [--subject STUDENT]
 *               [--queue Q] [--limit N] [--after CURSOR] [--all]
 *   cairn cases show ID | history ID | timeline STUDENT
 *   cairn cases create WORKFLOW [--subject S] [--data JSON|@FILE]
 *               [--idempotency-key K]
 *   cairn cases event ID TYPE [--data JSON|@FILE] [--idempotency-key K]
 *
 * The timeline is what a counselor or an auditor asks for: every case of
 * one student (the application, each campus's copy of it, the aid files),
 * their histories read one by one and merged by time into one list. It
 * sees what the token sees: a counselor gets the students of their
 * caseload, a student themselves.
 *
 * The older spellings (cairn case ID, history ID, send ID EVENT, open
 * WORKFLOW) stay as they were, JSON out, so scripts written for them keep
 * working.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char cases_usage[] =
        "usage: cairn cases [list] [--workflow W] [--status S] [--subject "
        "STUDENT]\n"
        "                   [--queue Q] [--limit N] [--after CURSOR] "
        "[--all]\n"
        "       cairn cases show ID\n"
        "       cairn cases history ID\n"
        "       cairn cases timeline STUDENT\n"
        "       cairn cases create WORKFLOW [--subject S] [--data "
        "JSON|@FILE]\n"
        "                   [--idempotency-key K]\n"
        "       cairn cases event ID TYPE [--data JSON|@FILE] "
        "[--idempotency-key K]\n"
        "\n"
        "  list      the cases your token may see, a page at a time "
        "(--limit 1-1000,\n"
        "            50 by default; --after the cursor the last page "
        "printed;\n"
        "            --all every page)\n"
        "  show      a case: status, data, children, the events you may "
        "send now\n"
        "  history   a case's events in order: when, event, from -> to, "
        "actor\n"
        "  timeline  every case of one student merged into one "
        "chronological list\n"
        "  create    open a case (a student opens their own; --subject "
        "for others)\n"
        "  event     send an event; the same --idempotency-key again "
        "replays the reply\n"
        "\n"
        "--json prints cairnd's JSON. Exit codes: 0 ok, 1 refused or not "
        "found,\n"
        "2 usage, 3 cairnd unreachable, 4 not authenticated or not "
        "allowed.\n";

/* --- list --------------------------------------------------------------- */

/* One page of GET /v1/cases (after: the cursor, may be NULL). */
static int
list_page(const struct cli_opts *o, const char *const *filter, int limit,
          const char *after, json_t **out)
{
	static const char *const names[] = {"workflow", "status", "subject",
	                                    "queue"};
	char q[1600] = "", path[1700], lim[16];
	int st;

	for (int i = 0; i < 4; i++)
		cli_query_add(q, sizeof(q), names[i], filter[i]);
	if (limit > 0) {
		snprintf(lim, sizeof(lim), "%d", limit);
		cli_query_add(q, sizeof(q), "limit", lim);
	}
	cli_query_add(q, sizeof(q), "cursor", after);
	snprintf(path, sizeof(path), "/v1/cases%s", q);
	st = cli_call(o, "GET", path, NULL, out);
	return st;
}

/*
 * Every page of a listing, concatenated into one {"cases": [...],
 * "next": null}. Returns the HTTP status of the failing page, or 200.
 */
static int
list_all(const struct cli_opts *o, const char *const *filter, json_t **out)
{
	json_t *all = json_array(), *page = NULL;
	char cursor[128] = "";
	int st;

	*out = NULL;
	for (;;) {
		const char *next;

		st = list_page(o, filter, 1000, cursor[0] ? cursor : NULL,
		               &page);
		if (st != 200) {
			json_decref(all);
			*out = page;
			return st;
		}
		json_array_extend(all, json_object_get(page, "cases"));
		next = json_string_value(json_object_get(page, "next"));
		if (next == NULL || strlen(next) >= sizeof(cursor) ||
		    !strcmp(next, cursor)) {
			json_decref(page);
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", next);
		json_decref(page);
	}
	*out = json_pack("{s:o, s:n}", "cases", all, "next");
	return 200;
}

static void
print_cases(const json_t *cases)
{
	static const char *const head[] = {"ID",      "WORKFLOW", "STATUS",
	                                   "SUBJECT", "OWNER",    "UPDATED"};
	struct cli_table *t = cli_table_new(6, head);
	json_t *c;
	size_t i;

	json_array_foreach(cases, i, c)
	{
		char when[40];
		const char *row[6] = {cli_jstr(c, "id"),
		                      cli_jstr(c, "workflow"),
		                      cli_jstr(c, "status"),
		                      cli_jstr(c, "subject"),
		                      cli_jstr(c, "owner"),
		                      cli_time(json_object_get(c, "updated_at"),
		                               when, sizeof(when))};

		cli_table_row(t, row);
	}
	cli_table_print(t);
}

/* A whole number in [lo, hi], or -1 */
static long
number(const char *s, long lo, long hi)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return -1;
	v = strtol(s, &end, 10);
	return *end == '\0' && v >= lo && v <= hi ? v : -1;
}

static int
cases_list(const struct cli_opts *o, int argc, char **argv)
{
	const char *filter[4] = {o->workflow, o->status, o->subject, o->queue};
	const char *limit = NULL, *after = NULL, *all = NULL;
	const struct cli_opt opts[] = {{"--workflow", &filter[0], 0},
	                               {"--status", &filter[1], 0},
	                               {"--subject", &filter[2], 0},
	                               {"--queue", &filter[3], 0},
	                               {"--limit", &limit, 0},
	                               {"--after", &after, 0},
	                               {"--cursor", &after, 0},
	                               {"--all", &all, 1},
	                               {NULL, NULL, 0}};
	json_t *r = NULL;
	char *pos[1];
	long lim = 0;
	int np, st;

	np = cli_args(argc, argv, opts, pos, 0, cases_usage);
	if (np == CLI_ARGS_HELP)
		return EXIT_OK;
	if (np < 0)
		return EXIT_USAGE;
	if (limit != NULL && (lim = number(limit, 1, 1000)) < 0) {
		fprintf(stderr, "cairn: --limit must be 1 to 1000\n");
		return EXIT_USAGE;
	}
	if (all != NULL && (limit != NULL || after != NULL)) {
		fprintf(stderr, "cairn: --all reads every page; it takes no "
		                "--limit or --after\n");
		return EXIT_USAGE;
	}
	st = all != NULL ? list_all(o, filter, &r)
	                 : list_page(o, filter, (int)lim, after, &r);
	if (st != 200)
		return cli_reply_fail(st, r);
	if (o->json) {
		cli_print_json(r);
	} else {
		const char *next =
		        json_string_value(json_object_get(r, "next"));

		print_cases(json_object_get(r, "cases"));
		/* on stderr, so the table stays clean for a pipe */
		if (next != NULL)
			fprintf(stderr,
			        "cairn: more: cairn cases list --after %s\n",
			        next);
	}
	json_decref(r);
	return EXIT_OK;
}

/* --- show --------------------------------------------------------------- */

static void
kv(const char *k, const char *v)
{
	printf("%-10s %s\n", k, v != NULL ? v : "-");
}

static void
print_case(const json_t *c)
{
	const json_t *kids = json_object_get(c, "children");
	const json_t *lease = json_object_get(c, "lease");
	json_t *e;
	char buf[64], when[40];
	char *data;
	size_t i;

	kv("case", cli_jstr(c, "id"));
	snprintf(buf, sizeof(buf), "%s, version %lld", cli_jstr(c, "workflow"),
	         (long long)json_integer_value(json_object_get(c, "version")));
	kv("workflow", buf);
	snprintf(buf, sizeof(buf), "%s%s", cli_jstr(c, "status"),
	         json_is_true(json_object_get(c, "terminal")) ? " (final)"
	                                                      : "");
	kv("status", buf);
	kv("subject", cli_jstr(c, "subject"));
	kv("owner", cli_jstr(c, "owner"));
	kv("queue", cli_jstr(c, "queue"));
	kv("due", cli_time(json_object_get(c, "due_at"), when, sizeof(when)));
	if (json_is_string(json_object_get(c, "parent_id")))
		kv("parent", cli_jstr(c, "parent_id"));
	kv("created",
	   cli_time(json_object_get(c, "created_at"), when, sizeof(when)));
	kv("updated",
	   cli_time(json_object_get(c, "updated_at"), when, sizeof(when)));
	if (json_is_object(lease)) {
		char until[40];

		snprintf(buf, sizeof(buf), "%s until %s",
		         cli_jstr(lease, "holder"),
		         cli_time(json_object_get(lease, "until"), until,
		                  sizeof(until)));
		kv("leased", buf);
	}
	data = json_dumps(json_object_get(c, "data"),
	                  JSON_COMPACT | JSON_PRESERVE_ORDER);
	kv("data", data);
	free(data);
	printf("%-10s", "may send");
	if (json_array_size(json_object_get(c, "allowed_events")) == 0)
		printf(" (nothing now)");
	json_array_foreach(json_object_get(c, "allowed_events"), i, e)
	        printf(" %s", json_string_value(e));
	printf("\n");
	if (json_array_size(kids) > 0) {
		static const char *const head[] = {"CHILD", "WORKFLOW",
		                                   "STATUS", "KEY"};
		struct cli_table *t = cli_table_new(4, head);

		printf("\n");
		json_array_foreach(kids, i, e)
		{
			const char *row[4] = {cli_jstr(e, "id"),
			                      cli_jstr(e, "workflow"),
			                      cli_jstr(e, "status"),
			                      cli_jstr(e, "spawn_key")};

			cli_table_row(t, row);
		}
		cli_table_print(t);
	}
}

static int
get_case(const struct cli_opts *o, const char *id, const char *suffix,
         json_t **out)
{
	char path[300];

	snprintf(path, sizeof(path), "/v1/cases/%s%s", id, suffix);
	return cli_call(o, "GET", path, NULL, out);
}

static int
one_id(int argc, char **argv, char **id)
{
	char *pos[1];
	int np = cli_args(argc, argv, NULL, pos, 1, cases_usage);

	if (np == CLI_ARGS_HELP)
		return EXIT_OK;
	if (np != 1) {
		if (np == 0)
			fputs(cases_usage, stderr);
		return EXIT_USAGE;
	}
	if (!cli_id_ok(pos[0])) {
		fprintf(stderr, "cairn: '%s' is not a case id\n", pos[0]);
		return EXIT_USAGE;
	}
	*id = pos[0];
	return -1;
}

static int
cases_show(const struct cli_opts *o, int argc, char **argv)
{
	char *id = NULL;
	json_t *r = NULL;
	int code = one_id(argc, argv, &id), st;

	if (code >= 0)
		return code;
	st = get_case(o, id, "", &r);
	if (st != 200)
		return cli_reply_fail(st, r);
	if (o->json)
		cli_print_json(r);
	else
		print_case(r);
	json_decref(r);
	return EXIT_OK;
}

/* --- history and timeline ----------------------------------------------- */

/*
 * "draft -> submitted"; for an event that changes no status, what it
 * says instead: a child's new status ("uc-davis: received"), a rule set's
 * outcome ("application_complete: eligible").
 */
static void
from_to(const json_t *e, char *buf, size_t len)
{
	const char *from = json_string_value(json_object_get(e, "from_status"));
	const char *to = json_string_value(json_object_get(e, "to_status"));
	const char *type = json_string_value(json_object_get(e, "type"));
	json_t *payload = json_object_get(e, "payload");

	if (from != NULL || to != NULL) {
		snprintf(buf, len, "%s -> %s", from ? from : "(new)",
		         to ? to : "-");
		return;
	}
	snprintf(buf, len, "-");
	if (type != NULL && !strncmp(type, "child.", 6) &&
	    json_is_string(json_object_get(payload, "status"))) {
		const char *key = cli_jstr(payload, "key");
		const char *colon = strrchr(key, ':');

		snprintf(buf, len, "%s: %s", colon ? colon + 1 : key,
		         cli_jstr(payload, "status"));
	} else if (type != NULL && !strcmp(type, "rules.decided") &&
	           json_is_object(payload)) {
		const char *k;
		json_t *v;
		size_t n = 0;

		json_object_foreach(payload, k, v)
		{
			if (n + 1 < len &&
			    json_is_string(json_object_get(v, "outcome")))
				n += (size_t)snprintf(buf + n, len - n,
				                      "%s%s: %s", n ? ", " : "",
				                      k,
				                      cli_jstr(v, "outcome"));
		}
		if (n == 0)
			snprintf(buf, len, "-");
	}
}

static int
cases_history(const struct cli_opts *o, int argc, char **argv)
{
	static const char *const head[] = {"SEQ", "WHEN (UTC)", "EVENT",
	                                   "CHANGE", "ACTOR"};
	char *id = NULL;
	json_t *r = NULL, *e;
	struct cli_table *t;
	size_t i;
	int code = one_id(argc, argv, &id), st;

	if (code >= 0)
		return code;
	st = get_case(o, id, "/history", &r);
	if (st != 200)
		return cli_reply_fail(st, r);
	if (o->json) {
		cli_print_json(r);
		json_decref(r);
		return EXIT_OK;
	}
	t = cli_table_new(5, head);
	json_array_foreach(json_object_get(r, "events"), i, e)
	{
		char seq[24], when[40], ft[400];
		const char *row[5] = {seq, when, cli_jstr(e, "type"), ft,
		                      cli_jstr(e, "actor")};

		snprintf(seq, sizeof(seq), "%lld",
		         (long long)json_integer_value(
		                 json_object_get(e, "seq")));
		cli_time(json_object_get(e, "at"), when, sizeof(when));
		from_to(e, ft, sizeof(ft));
		cli_table_row(t, row);
	}
	cli_table_print(t);
	json_decref(r);
	return EXIT_OK;
}

/* "campus_application uc-davis": the workflow and what tells this case
 * from its siblings (the campus of its spawn key, else its owner) */
static json_t *
case_label(const json_t *c)
{
	const char *key = json_string_value(json_object_get(c, "spawn_key"));
	const char *owner = json_string_value(json_object_get(c, "owner"));
	const char *colon = key ? strrchr(key, ':') : NULL;
	const char *which = colon                       ? colon + 1
	                    : owner != NULL && owner[0] ? owner
	                                                : NULL;

	return json_sprintf("%s%s%s", cli_jstr(c, "workflow"), which ? " " : "",
	                    which ? which : "");
}

/* Sorts events by time, then case id (a parent's id is older than its
 * children's), then sequence: one student's story in the order it
 * happened. */
static int
event_cmp(const void *pa, const void *pb)
{
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	json_int_t ta = json_integer_value(json_object_get(a, "at"));
	json_int_t tb = json_integer_value(json_object_get(b, "at"));
	int c;

	if (ta != tb)
		return ta < tb ? -1 : 1;
	c = strcmp(cli_jstr(a, "case"), cli_jstr(b, "case"));
	if (c != 0)
		return c;
	ta = json_integer_value(json_object_get(a, "seq"));
	tb = json_integer_value(json_object_get(b, "seq"));
	return ta < tb ? -1 : ta > tb;
}

static json_t *
timeline_sorted(json_t *events)
{
	size_t n = json_array_size(events);
	json_t **v = calloc(n + 1, sizeof(*v)), *out = json_array();

	if (v == NULL || out == NULL) {
		free(v);
		json_decref(out);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(events, i);
	qsort(v, n, sizeof(*v), event_cmp);
	for (size_t i = 0; i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	return out;
}

static void
timeline_print(const char *student, const json_t *cases, const json_t *ev)
{
	static const char *const chead[] = {"CASE", "WORKFLOW", "STATUS",
	                                    "UPDATED"};
	static const char *const ehead[] = {"WHEN (UTC)", "CASE", "EVENT",
	                                    "CHANGE", "ACTOR"};
	struct cli_table *t = cli_table_new(4, chead);
	json_t *c, *e;
	size_t i;

	printf("student %s: %zu case%s, %zu event%s\n\n", student,
	       json_array_size(cases), json_array_size(cases) == 1 ? "" : "s",
	       json_array_size(ev), json_array_size(ev) == 1 ? "" : "s");
	json_array_foreach(cases, i, c)
	{
		char when[40];
		const char *row[4] = {cli_jstr(c, "id"), cli_jstr(c, "label"),
		                      cli_jstr(c, "status"),
		                      cli_time(json_object_get(c, "updated_at"),
		                               when, sizeof(when))};

		cli_table_row(t, row);
	}
	cli_table_print(t);
	printf("\n");
	t = cli_table_new(5, ehead);
	json_array_foreach(ev, i, e)
	{
		char when[40], ft[400];
		const char *row[5] = {when, cli_jstr(e, "label"),
		                      cli_jstr(e, "type"), ft,
		                      cli_jstr(e, "actor")};

		cli_time(json_object_get(e, "at"), when, sizeof(when));
		from_to(e, ft, sizeof(ft));
		cli_table_row(t, row);
	}
	cli_table_print(t);
}

static int
cases_timeline(const struct cli_opts *o, int argc, char **argv)
{
	const char *filter[4] = {NULL, NULL, NULL, NULL};
	json_t *list = NULL, *cases, *events, *sorted, *c;
	char *pos[1];
	size_t i;
	int np, st, code = EXIT_OK;

	np = cli_args(argc, argv, NULL, pos, 1, cases_usage);
	if (np == CLI_ARGS_HELP)
		return EXIT_OK;
	if (np != 1) {
		if (np == 0)
			fputs(cases_usage, stderr);
		return EXIT_USAGE;
	}
	if (!cli_id_ok(pos[0])) {
		fprintf(stderr, "cairn: '%s' is not a student id\n", pos[0]);
		return EXIT_USAGE;
	}
	filter[2] = pos[0];
	st = list_all(o, filter, &list);
	if (st != 200)
		return cli_reply_fail(st, list);
	cases = json_object_get(list, "cases");
	if (json_array_size(cases) == 0) {
		/* out of scope and absent look the same, as in the API */
		fprintf(stderr,
		        "cairn: no cases of student %s that you may "
		        "see\n",
		        pos[0]);
		json_decref(list);
		return EXIT_FAIL;
	}
	events = json_array();
	json_array_foreach(cases, i, c)
	{
		json_t *h = NULL, *e, *label = case_label(c);
		const char *id = json_string_value(json_object_get(c, "id"));
		size_t j;

		json_object_set_new(c, "label", label);
		/* the data stays in the listing: the timeline is events */
		json_object_del(c, "data");
		if (id == NULL || !cli_id_ok(id))
			continue;
		st = get_case(o, id, "/history", &h);
		if (st != 200) {
			/* a case that went away meanwhile is left out; any
			 * other failure ends the timeline */
			if (st == 404) {
				json_decref(h);
				continue;
			}
			code = cli_reply_fail(st, h);
			break;
		}
		json_array_foreach(json_object_get(h, "events"), j, e)
		{
			json_object_set_new(e, "case", json_string(id));
			json_object_set(e, "workflow",
			                json_object_get(c, "workflow"));
			json_object_set(e, "label", label);
			json_array_append(events, e);
		}
		json_decref(h);
	}
	if (code != EXIT_OK) {
		json_decref(events);
		json_decref(list);
		return code;
	}
	sorted = timeline_sorted(events);
	json_decref(events);
	if (sorted == NULL) {
		fprintf(stderr, "cairn: out of memory\n");
		json_decref(list);
		return EXIT_FAIL;
	}
	if (o->json) {
		json_t *out = json_pack("{s:s, s:O, s:o}", "subject", pos[0],
		                        "cases", cases, "events", sorted);

		cli_print_json(out);
		json_decref(out);
	} else {
		timeline_print(pos[0], cases, sorted);
		json_decref(sorted);
	}
	json_decref(list);
	return EXIT_OK;
}

/* --- create and event ----------------------------------------------------- */

/* Sends body; prints the case in the reply (as show does, or its JSON).
 * legacy: the older commands' output, JSON always. */
static int
send_case(struct cli_opts *o, const char *path, json_t *body, int want,
          int legacy)
{
	json_t *r = NULL;
	int st = cli_call(o, "POST", path, body, &r);

	json_decref(body);
	if (st != want)
		return cli_reply_fail(st, r);
	if (o->json || legacy)
		cli_print_json(r);
	else
		print_case(r);
	json_decref(r);
	return EXIT_OK;
}

static int
cases_create(const struct cli_opts *go, int argc, char **argv, int legacy)
{
	struct cli_opts o = *go;
	const struct cli_opt opts[] = {{"--subject", &o.subject, 0},
	                               {"--data", &o.data, 0},
	                               {"--idempotency-key", &o.idem, 0},
	                               {NULL, NULL, 0}};
	json_t *data, *body;
	char *pos[1];
	int np, bad;

	np = cli_args(argc, argv, opts, pos, 1, cases_usage);
	if (np == CLI_ARGS_HELP)
		return EXIT_OK;
	if (np != 1) {
		if (np == 0)
			fputs(cases_usage, stderr);
		return EXIT_USAGE;
	}
	data = cli_data_arg(o.data, &bad);
	if (bad)
		return EXIT_USAGE;
	body = json_pack("{s:s}", "workflow", pos[0]);
	if (o.subject != NULL)
		json_object_set_new(body, "subject", json_string(o.subject));
	if (data != NULL)
		json_object_set_new(body, "data", data);
	return send_case(&o, "/v1/cases", body, 201, legacy);
}

static int
cases_event(const struct cli_opts *go, int argc, char **argv, int legacy)
{
	struct cli_opts o = *go;
	const struct cli_opt opts[] = {{"--data", &o.data, 0},
	                               {"--idempotency-key", &o.idem, 0},
	                               {NULL, NULL, 0}};
	json_t *data, *body;
	char *pos[2], path[300];
	int np, bad;

	np = cli_args(argc, argv, opts, pos, 2, cases_usage);
	if (np == CLI_ARGS_HELP)
		return EXIT_OK;
	if (np != 2) {
		if (np >= 0)
			fputs(cases_usage, stderr);
		return EXIT_USAGE;
	}
	if (!cli_id_ok(pos[0])) {
		fprintf(stderr, "cairn: '%s' is not a case id\n", pos[0]);
		return EXIT_USAGE;
	}
	data = cli_data_arg(o.data, &bad);
	if (bad)
		return EXIT_USAGE;
	body = json_pack("{s:s}", "type", pos[1]);
	if (data != NULL)
		json_object_set_new(body, "data", data);
	snprintf(path, sizeof(path), "/v1/cases/%s/events", pos[0]);
	return send_case(&o, path, body, 200, legacy);
}

int
cli_cases(const struct cli_opts *o, int argc, char **argv)
{
	if (argc == 0 || argv[0][0] == '-')
		return cases_list(o, argc, argv);
	if (!strcmp(argv[0], "list"))
		return cases_list(o, argc - 1, argv + 1);
	if (!strcmp(argv[0], "show"))
		return cases_show(o, argc - 1, argv + 1);
	if (!strcmp(argv[0], "history"))
		return cases_history(o, argc - 1, argv + 1);
	if (!strcmp(argv[0], "timeline"))
		return cases_timeline(o, argc - 1, argv + 1);
	if (!strcmp(argv[0], "create"))
		return cases_create(o, argc - 1, argv + 1, 0);
	if (!strcmp(argv[0], "event"))
		return cases_event(o, argc - 1, argv + 1, 0);
	fprintf(stderr, "cairn: cases has no command '%s'\n%s", argv[0],
	        cases_usage);
	return EXIT_USAGE;
}

/* --- the older spellings, JSON out as before ------------------------------- */

static int
legacy_get(const struct cli_opts *o, int argc, char **argv, const char *suffix)
{
	char *id = NULL;
	json_t *r = NULL;
	int code = one_id(argc, argv, &id), st;

	if (code >= 0)
		return code;
	st = get_case(o, id, suffix, &r);
	if (st != 200)
		return cli_reply_fail(st, r);
	cli_print_json(r);
	json_decref(r);
	return EXIT_OK;
}

int
cli_case_alias(const struct cli_opts *o, int argc, char **argv)
{
	return legacy_get(o, argc, argv, "");
}

int
cli_history_alias(const struct cli_opts *o, int argc, char **argv)
{
	return legacy_get(o, argc, argv, "/history");
}

int
cli_send_alias(const struct cli_opts *o, int argc, char **argv)
{
	return cases_event(o, argc, argv, 1);
}

int
cli_open_alias(const struct cli_opts *o, int argc, char **argv)
{
	return cases_create(o, argc, argv, 1);
}
