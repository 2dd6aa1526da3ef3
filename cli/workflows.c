/*
 * workflows.c: cairn workflows, calendars and clock: the definitions a
 * running cairnd holds, and its sense of time.
 *
 *   cairn workflows [list] | show NAME [--dot] | reload
 *   cairn workflows migrate NAME [--map OLD=NEW]... [--from-version N]
 *                   [--to-version N] [--dry-run]
 *   cairn calendars
 *   cairn clock advance DURATION        (a cairnd started with
 *                                        --test-clock; admin)
 *
 * A migration is meant to be run twice: with --dry-run to see how many
 * cases of each status would move and which cannot be mapped, then for
 * real. The real run exits 1 when any case failed to move.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char workflows_usage[] =
        "usage: cairn workflows [list]\n"
        "       cairn workflows show NAME [--dot]\n"
        "       cairn workflows reload\n"
        "       cairn workflows migrate NAME [--map OLD=NEW]... "
        "[--from-version N]\n"
        "                       [--to-version N] [--dry-run]\n"
        "\n"
        "  list     the loaded workflows, their versions and hashes\n"
        "  show     a workflow's statuses and transitions (--dot: the "
        "graph as\n"
        "           Graphviz text, for dot -Tsvg)\n"
        "  reload   read the definition files again, as SIGHUP does "
        "(admin, policy);\n"
        "           a file with errors changes nothing and its errors "
        "are printed\n"
        "  migrate  move cases to a newer version (admin, policy): "
        "--map renames a\n"
        "           status (repeat it), --dry-run only counts; exit 1 "
        "when a case\n"
        "           failed to move\n";

/* --- list, show --------------------------------------------------------- */

static void
print_workflows(const json_t *r)
{
	static const char *const head[] = {"WORKFLOW", "VERSION", "VERSIONS",
	                                   "HASH"};
	struct cli_table *t = cli_table_new(4, head);
	json_t *w, *v;
	size_t i, j;

	json_array_foreach(json_object_get(r, "workflows"), i, w)
	{
		char ver[24], vers[24], hash[16] = "-";

		snprintf(ver, sizeof(ver), "%lld",
		         (long long)json_integer_value(
		                 json_object_get(w, "version")));
		snprintf(vers, sizeof(vers), "%zu",
		         json_array_size(json_object_get(w, "versions")));
		json_array_foreach(json_object_get(w, "versions"), j, v)
		{
			if (json_is_true(json_object_get(v, "current")))
				snprintf(hash, sizeof(hash), "%.12s",
				         cli_jstr(v, "hash"));
		}
		const char *row[4] = {cli_jstr(w, "name"), ver, vers, hash};

		cli_table_row(t, row);
	}
	cli_table_print(t);
}

static int
wf_list(const struct cli_opts *o)
{
	json_t *r = NULL;
	int st = cli_call(o, "GET", "/v1/workflows", NULL, &r);

	if (st != 200)
		return cli_reply_fail(st, r);
	if (o->json)
		cli_print_json(r);
	else
		print_workflows(r);
	json_decref(r);
	return EXIT_OK;
}

/* "a, b" from a string or an array of strings */
static void
join(const json_t *v, char *buf, size_t len)
{
	json_t *e;
	size_t i, n = 0;

	buf[0] = '\0';
	if (json_is_string(v)) {
		snprintf(buf, len, "%s", json_string_value(v));
		return;
	}
	json_array_foreach(v, i, e)
	{
		if (json_is_string(e) && n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
			                      i ? ", " : "",
			                      json_string_value(e));
	}
	if (n == 0)
		snprintf(buf, len, "-");
}

/* A transition's target: a status, or "field: a|b|c" when the event's
 * data chooses. */
static void
target(const json_t *to, char *buf, size_t len)
{
	const char *k;
	json_t *v;
	size_t n;

	if (json_is_string(to)) {
		snprintf(buf, len, "%s", json_string_value(to));
		return;
	}
	n = (size_t)snprintf(buf, len, "by %s:", cli_jstr(to, "field"));
	json_object_foreach(json_object_get((json_t *)to, "cases"), k, v)
	{
		if (n < len)
			n += (size_t)snprintf(buf + n, len - n, " %s", k);
	}
}

static void
print_workflow(const json_t *w)
{
	static const char *const shead[] = {"STATUS", "KIND", "QUEUE", "SLA"};
	static const char *const thead[] = {"EVENT", "FROM", "TO", "ROLES",
	                                    "GUARD"};
	struct cli_table *t;
	const char *name;
	json_t *s, *tr;
	size_t i;

	printf("%s, version %lld (hash %.12s)\n", cli_jstr(w, "name"),
	       (long long)json_integer_value(json_object_get(w, "version")),
	       cli_jstr(w, "hash"));
	if (json_is_string(json_object_get(w, "description")))
		printf("%s\n", cli_jstr(w, "description"));
	printf("\n");
	t = cli_table_new(4, shead);
	json_object_foreach(json_object_get((json_t *)w, "statuses"), name, s)
	{
		const char *kind =
		        json_is_true(json_object_get(s, "initial")) ? "initial"
		        : json_is_true(json_object_get(s, "terminal")) ? "final"
		                                                       : "-";
		const char *row[4] = {name, kind, cli_jstr(s, "queue"),
		                      cli_jstr(s, "sla")};

		cli_table_row(t, row);
	}
	cli_table_print(t);
	printf("\n");
	t = cli_table_new(5, thead);
	json_array_foreach(json_object_get(w, "transitions"), i, tr)
	{
		char from[512], to[512], roles[256];
		const char *row[5] = {cli_jstr(tr, "on"), from, to, roles,
		                      cli_jstr(tr, "guard")};

		join(json_object_get(tr, "from"), from, sizeof(from));
		target(json_object_get(tr, "to"), to, sizeof(to));
		join(json_object_get(tr, "roles"), roles, sizeof(roles));
		cli_table_row(t, row);
	}
	cli_table_print(t);
}

static int
wf_show(const struct cli_opts *o, int argc, char **argv)
{
	const char *dot = NULL;
	const struct cli_opt opts[] = {{"--dot", &dot, 1}, {NULL, NULL, 0}};
	char *pos[1], path[300];
	json_t *r = NULL;
	int np, st;

	np = cli_args(argc, argv, opts, pos, 1, workflows_usage);
	if (np == CLI_ARGS_HELP)
		return EXIT_OK;
	if (np != 1 || !cli_id_ok(pos[0])) {
		if (np >= 0)
			fputs(workflows_usage, stderr);
		return EXIT_USAGE;
	}
	if (dot != NULL) {
		char *text = NULL;

		snprintf(path, sizeof(path), "/v1/workflows/%s?format=dot",
		         pos[0]);
		st = cli_call_text(o, "GET", path, &text);
		if (st != 200) {
			json_t *p = text ? json_loads(text, 0, NULL) : NULL;

			free(text);
			return cli_reply_fail(st, p);
		}
		fputs(text, stdout);
		free(text);
		return EXIT_OK;
	}
	snprintf(path, sizeof(path), "/v1/workflows/%s", pos[0]);
	st = cli_call(o, "GET", path, NULL, &r);
	if (st != 200)
		return cli_reply_fail(st, r);
	if (o->json)
		cli_print_json(r);
	else
		print_workflow(r);
	json_decref(r);
	return EXIT_OK;
}

static int
wf_reload(const struct cli_opts *o, int argc, char **argv)
{
	char *pos[1];
	json_t *r = NULL, *e;
	size_t i;
	int np, st;

	np = cli_args(argc, argv, NULL, pos, 0, workflows_usage);
	if (np == CLI_ARGS_HELP)
		return EXIT_OK;
	if (np != 0)
		return EXIT_USAGE;
	st = cli_call(o, "POST", "/v1/workflows/reload", NULL, &r);
	if (st != 200) {
		/* the definitions' own errors, file:line:column each */
		json_array_foreach(json_object_get(r, "errors"), i, e)
		        fprintf(stderr, "%s\n", json_string_value(e));
		return cli_reply_fail(st, r);
	}
	if (o->json)
		cli_print_json(r);
	else
		print_workflows(r);
	json_decref(r);
	return EXIT_OK;
}

/* --- migrate ------------------------------------------------------------- */

static int
wf_migrate(const struct cli_opts *o, int argc, char **argv)
{
	static const char *const head[] = {"STATUS", "CASES", "TO"};
	json_t *map = json_object(), *body, *r = NULL, *v;
	const char *from = NULL, *to = NULL, *dry = NULL, *k;
	char *pos[1], path[300];
	struct cli_table *t;
	int np = 0, st, code = EXIT_OK;
	size_t i;

	/* --map repeats, so it is read here; the rest by cli_args */
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	int nrest = 0;

	if (rest == NULL || map == NULL) {
		free(rest);
		json_decref(map);
		return EXIT_FAIL;
	}
	for (int a = 0; a < argc; a++) {
		char *eq;

		if (strcmp(argv[a], "--map") != 0) {
			rest[nrest++] = argv[a];
			continue;
		}
		if (a + 1 >= argc || (eq = strchr(argv[a + 1], '=')) == NULL ||
		    eq == argv[a + 1] || eq[1] == '\0') {
			fprintf(stderr, "cairn: --map takes OLD=NEW (a "
			                "status of the old version = one of "
			                "the new)\n");
			np = CLI_ARGS_BAD;
			break;
		}
		a++;
		*eq = '\0';
		json_object_set_new(map, argv[a], json_string(eq + 1));
		*eq = '=';
	}
	if (np == 0) {
		const struct cli_opt opts[] = {{"--from-version", &from, 0},
		                               {"--to-version", &to, 0},
		                               {"--dry-run", &dry, 1},
		                               {NULL, NULL, 0}};

		np = cli_args(nrest, rest, opts, pos, 1, workflows_usage);
	}
	free(rest);
	if (np == CLI_ARGS_HELP) {
		json_decref(map);
		return EXIT_OK;
	}
	if (np != 1 || !cli_id_ok(pos[0])) {
		if (np >= 0)
			fputs(workflows_usage, stderr);
		json_decref(map);
		return EXIT_USAGE;
	}
	body = json_pack("{s:o, s:b}", "status_map", map, "dry_run",
	                 dry != NULL);
	for (int w = 0; w < 2; w++) {
		const char *s = w ? to : from;
		char *end;
		long n;

		if (s == NULL)
			continue;
		n = strtol(s, &end, 10);
		if (*s == '\0' || *end != '\0' || n < 1 || n > 1000000) {
			fprintf(stderr,
			        "cairn: --%s-version takes a version "
			        "number\n",
			        w ? "to" : "from");
			json_decref(body);
			return EXIT_USAGE;
		}
		json_object_set_new(body, w ? "to_version" : "from_version",
		                    json_integer(n));
	}
	snprintf(path, sizeof(path), "/v1/workflows/%s/migrations", pos[0]);
	st = cli_call(o, "POST", path, body, &r);
	json_decref(body);
	if (st != 200)
		return cli_reply_fail(st, r);
	if (json_integer_value(json_object_get(r, "failed")) > 0)
		code = EXIT_FAIL;
	if (o->json) {
		cli_print_json(r);
		json_decref(r);
		return code;
	}
	printf("%s to version %lld%s: %lld case(s), %lld mappable, %lld "
	       "unmappable\n",
	       cli_jstr(r, "workflow"),
	       (long long)json_integer_value(json_object_get(r, "to_version")),
	       dry ? " (dry run: nothing moved)" : "",
	       (long long)json_integer_value(json_object_get(r, "cases")),
	       (long long)json_integer_value(json_object_get(r, "mappable")),
	       (long long)json_integer_value(json_object_get(r, "unmappable")));
	if (!dry)
		printf("migrated %lld, failed %lld\n",
		       (long long)json_integer_value(
		               json_object_get(r, "migrated")),
		       (long long)json_integer_value(
		               json_object_get(r, "failed")));
	if (json_object_size(json_object_get(r, "by_status")) > 0) {
		printf("\n");
		t = cli_table_new(3, head);
		json_object_foreach(json_object_get(r, "by_status"), k, v)
		{
			char n[24];
			const char *row[3] = {k, n, cli_jstr(v, "to")};

			snprintf(n, sizeof(n), "%lld",
			         (long long)json_integer_value(
			                 json_object_get(v, "cases")));
			if (!json_is_string(json_object_get(v, "to")))
				row[2] = "(no such status: unmappable)";
			cli_table_row(t, row);
		}
		cli_table_print(t);
	}
	json_array_foreach(json_object_get(r, "unmapped"), i, v)
	{
		if (i == 0)
			printf("\ncases that cannot be mapped (give --map "
			       "for their status):\n");
		printf("  %s  %s (version %lld)\n", cli_jstr(v, "id"),
		       cli_jstr(v, "status"),
		       (long long)json_integer_value(
		               json_object_get(v, "version")));
	}
	json_decref(r);
	return code;
}

int
cli_workflows(const struct cli_opts *o, int argc, char **argv)
{
	if (argc == 0)
		return wf_list(o);
	if (!strcmp(argv[0], "list") || argv[0][0] == '-') {
		char *pos[1];
		int skip = argv[0][0] != '-';
		int np = cli_args(argc - skip, argv + skip, NULL, pos, 0,
		                  workflows_usage);

		if (np == CLI_ARGS_HELP)
			return EXIT_OK;
		return np < 0 ? EXIT_USAGE : wf_list(o);
	}
	if (!strcmp(argv[0], "show"))
		return wf_show(o, argc - 1, argv + 1);
	if (!strcmp(argv[0], "reload"))
		return wf_reload(o, argc - 1, argv + 1);
	if (!strcmp(argv[0], "migrate"))
		return wf_migrate(o, argc - 1, argv + 1);
	fprintf(stderr, "cairn: workflows has no command '%s'\n%s", argv[0],
	        workflows_usage);
	return EXIT_USAGE;
}

/* --- calendars -------------------------------------------------------------- */

static const char calendars_usage[] =
        "usage: cairn calendars\n"
        "  each award year's calendar: when it opens and ends, its "
        "deadlines, and\n"
        "  how many holidays it keeps (business days count around "
        "them)\n";

int
cli_calendars(const struct cli_opts *o, int argc, char **argv)
{
	static const char *const head[] = {"AWARD YEAR", "DEADLINE", "DATE",
	                                   "DESCRIPTION"};
	json_t *r = NULL, *c, *d;
	struct cli_table *t;
	char *pos[1];
	size_t i, j;
	int np, st;

	np = cli_args(argc, argv, NULL, pos, 0, calendars_usage);
	if (np == CLI_ARGS_HELP)
		return EXIT_OK;
	if (np != 0)
		return EXIT_USAGE;
	st = cli_call(o, "GET", "/v1/calendars", NULL, &r);
	if (st != 200)
		return cli_reply_fail(st, r);
	if (o->json) {
		cli_print_json(r);
		json_decref(r);
		return EXIT_OK;
	}
	json_array_foreach(json_object_get(r, "calendars"), i, c)
	{
		char opens[40], ends[40];

		printf("%s%s (%s): %s to %s, %zu holiday(s)\n", i ? "\n" : "",
		       cli_jstr(c, "award_year"), cli_jstr(c, "time_zone"),
		       cli_time(json_object_get(c, "opens"), opens,
		                sizeof(opens)),
		       cli_time(json_object_get(c, "ends"), ends, sizeof(ends)),
		       json_array_size(json_object_get(c, "holiday_days")));
		t = cli_table_new(4, head);
		json_array_foreach(json_object_get(c, "deadlines"), j, d)
		{
			const char *row[4] = {cli_jstr(c, "award_year"),
			                      cli_jstr(d, "name"),
			                      cli_jstr(d, "date"),
			                      cli_jstr(d, "description")};

			cli_table_row(t, row);
		}
		cli_table_print(t);
	}
	json_decref(r);
	return EXIT_OK;
}

/* --- clock ------------------------------------------------------------------ */

static const char clock_usage[] =
        "usage: cairn clock advance DURATION\n"
        "  move the clock of a cairnd started with --test-clock forward "
        "(admin):\n"
        "  DURATION is a number and a unit, ms, s, m, h or d (\"14d\"). "
        "Timers\n"
        "  that come due fire at once. Never for production.\n";

int
cli_clock(const struct cli_opts *o, int argc, char **argv)
{
	char *pos[2], when[40];
	json_t *body, *r = NULL;
	int np, st;

	np = cli_args(argc, argv, NULL, pos, 2, clock_usage);
	if (np == CLI_ARGS_HELP)
		return EXIT_OK;
	if (np != 2 || strcmp(pos[0], "advance") != 0) {
		if (np >= 0)
			fputs(clock_usage, stderr);
		return EXIT_USAGE;
	}
	body = json_pack("{s:s}", "advance", pos[1]);
	st = cli_call(o, "POST", "/v1/clock", body, &r);
	json_decref(body);
	if (st != 200)
		return cli_reply_fail(st, r);
	if (o->json)
		cli_print_json(r);
	else
		printf("cairnd's clock now reads %s (%lld ms ahead)\n",
		       cli_time(json_object_get(r, "now"), when, sizeof(when)),
		       (long long)json_integer_value(
		               json_object_get(r, "offset_ms")));
	json_decref(r);
	return EXIT_OK;
}
