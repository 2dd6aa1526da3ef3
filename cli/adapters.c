/*
 * adapters.c: cairn adapters: the institution adapters' health, and
 * redriving an adapter's dead letters (admin).
 *
 *   cairn adapters                 one line per adapter
 *   cairn adapters redrive NAME    its dead letters are due again
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char adapters_usage_text[] =
        "usage: cairn adapters [list]\n"
        "       cairn adapters redrive NAME\n"
        "  list: each institution adapter's breaker, backlog, dead "
        "letters, calls in\n"
        "  flight, success rate and p99 latency (admin). redrive: make "
        "an adapter's\n"
        "  dead letters due again (admin).\n";

static void
adapters_usage(void)
{
	fputs(adapters_usage_text, stderr);
}

static int
adapters_list(const struct cli_opts *o)
{
	json_t *r = NULL, *a;
	size_t i;
	int st = cli_call(o, "GET", "/v1/adapters", NULL, &r);

	if (st != 200) {
		int code = cli_fail_reply(st, r);

		json_decref(r);
		return code;
	}
	if (o->json) {
		cli_print_json(r);
		json_decref(r);
		return EXIT_OK;
	}
	printf("%-20s %-9s %8s %6s %9s %8s %8s\n", "ADAPTER", "BREAKER",
	       "BACKLOG", "DEAD", "IN FLIGHT", "SUCCESS", "P99 MS");
	json_array_foreach(json_object_get(r, "adapters"), i, a)
	{
		json_t *rate = json_object_get(a, "success_rate");
		json_t *p99 = json_object_get(json_object_get(a, "latency_ms"),
		                              "p99");
		char rs[16] = "-", ps[16] = "-";

		if (json_is_number(rate))
			snprintf(rs, sizeof(rs), "%.1f%%",
			         json_number_value(rate) * 100);
		if (json_is_number(p99))
			snprintf(ps, sizeof(ps), "%.1f",
			         json_number_value(p99));
		printf("%-20s %-9s %8lld %6lld %9lld %8s %8s\n",
		       json_string_value(json_object_get(a, "name")),
		       json_is_true(json_object_get(a, "loaded"))
		               ? json_string_value(
		                         json_object_get(a, "breaker"))
		               : "unloaded",
		       (long long)json_integer_value(
		               json_object_get(a, "backlog")),
		       (long long)json_integer_value(
		               json_object_get(a, "dead_letters")),
		       (long long)json_integer_value(
		               json_object_get(a, "in_flight")),
		       rs, ps);
	}
	json_decref(r);
	return EXIT_OK;
}

int
cli_group_adapters(const struct cli_opts *o, int argc, char **argv)
{
	json_t *r = NULL;
	char path[256];
	int st, code = EXIT_OK;

	if (cli_wants_help(argc, argv)) {
		fputs(adapters_usage_text, stdout);
		return EXIT_OK;
	}
	if (argc == 0 || (argc == 1 && !strcmp(argv[0], "list")))
		return adapters_list(o);
	if (argc != 2 || strcmp(argv[0], "redrive") != 0 ||
	    strlen(argv[1]) > 64) {
		adapters_usage();
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/adapters/%s/redrive", argv[1]);
	st = cli_call(o, "POST", path, NULL, &r);
	if (st != 200)
		code = cli_fail_reply(st, r);
	else if (o->json)
		cli_print_json(r);
	else
		printf("%s: %lld dead letter(s) due again\n", argv[1],
		       (long long)json_integer_value(
		               json_object_get(r, "redriven")));
	json_decref(r);
	return code;
}
