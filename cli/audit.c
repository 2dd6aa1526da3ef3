/*
 * audit.c: cairn audit: checks an auditor runs.
 *
 *   cairn audit verify [--db PATH] [--json]
 *   cairn audit verify --online [--json]    (cairnd walks its database;
 *                                            an admin token)
 *
 * verify walks every hash chain in the database (each case's history,
 * and the disclosure log of every read of a student's record) on
 * a read-only connection of its own, so it never changes the file and may
 * run beside a live cairnd or on a copy, and needs no token: whoever can
 * read the file can check it. Exit status: 0 when every chain holds (a
 * summary and the anchor are printed), 1 when a link is broken (the first
 * is named: case, event, what differs) or the file cannot be read, 2 for a
 * usage error. The database defaults to var/cairn.db, as cairnd's does.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "../common/cairn.h"
#include "../daemon/audit.h"
#include "cli.h"

static void
audit_usage(FILE *f)
{
	fprintf(f, "usage: cairn audit verify [--db PATH] [--json]\n"
	           "       cairn audit verify --online [--json]\n"
	           "  walk every case's history hash chain: offline on a "
	           "database file (read\n"
	           "  only, beside a running cairnd; var/cairn.db by "
	           "default), or --online in\n"
	           "  cairnd (admin). Exit 0 when every chain holds, 1 when "
	           "a link is broken.\n");
}

static int
audit_print_json(const struct audit_report *rep)
{
	json_t *o = audit_report_json(rep);

	cli_print_json(o);
	json_decref(o);
	return audit_report_broken(rep) ? EXIT_FAIL : EXIT_OK;
}

static int
audit_print(const struct audit_report *rep)
{
	for (int i = 0; i < rep->n; i++) {
		const struct audit_chain_result *r = &rep->r[i];

		if (r->broken == 0) {
			printf("%s: %lld chains, %lld links, all hold\n",
			       r->name, (long long)r->chains,
			       (long long)r->links);
			printf("%s: anchor %s\n", r->name, r->anchor);
			continue;
		}
		printf("%s: BROKEN: %lld of %lld chains\n", r->name,
		       (long long)r->broken, (long long)r->chains);
		if (r->first[0] == '\0')
			/* a log that is one chain: its row */
			printf("%s: first broken link: row %lld: %s\n", r->name,
			       (long long)r->first_seq, r->what);
		else if (r->first_seq > 0)
			printf("%s: first broken link: case %s, event %lld: "
			       "%s\n",
			       r->name, r->first, (long long)r->first_seq,
			       r->what);
		else
			printf("%s: first broken link: case %s: %s\n", r->name,
			       r->first, r->what);
	}
	printf("verified in %.2f s\n", rep->seconds);
	return audit_report_broken(rep) ? EXIT_FAIL : EXIT_OK;
}

/* The same summary from cairnd's reply to GET /v1/audit/verify. */
static int
audit_print_reply(json_t *r)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(r, "chains"), i, c)
	{
		const char *name =
		        json_string_value(json_object_get(c, "chain"));
		json_t *fb = json_object_get(c, "first_broken");
		long long chains = json_integer_value(
		                  json_object_get(c, "chains")),
		          links = json_integer_value(
		                  json_object_get(c, "links"));

		if (fb == NULL) {
			printf("%s: %lld chains, %lld links, all hold\n", name,
			       chains, links);
			printf("%s: anchor %s\n", name,
			       json_string_value(json_object_get(c, "anchor")));
			continue;
		}
		printf("%s: BROKEN: %lld of %lld chains\n", name,
		       (long long)json_integer_value(
		               json_object_get(c, "broken")),
		       chains);
		const char *key = json_string_value(json_object_get(fb, "key"));

		if (key == NULL || key[0] == '\0')
			printf("%s: first broken link: row %lld: %s\n", name,
			       (long long)json_integer_value(
			               json_object_get(fb, "seq")),
			       json_string_value(json_object_get(fb, "what")));
		else
			printf("%s: first broken link: case %s, event %lld: "
			       "%s\n",
			       name, key,
			       (long long)json_integer_value(
			               json_object_get(fb, "seq")),
			       json_string_value(json_object_get(fb, "what")));
	}
	printf("verified by cairnd in %.2f s\n",
	       json_real_value(json_object_get(r, "seconds")));
	return json_is_true(json_object_get(r, "ok")) ? EXIT_OK : EXIT_FAIL;
}

static int
audit_verify_online(const struct cli_opts *o, int json)
{
	json_t *r = NULL;
	int st = cli_call(o, "GET", "/v1/audit/verify", NULL, &r);
	int code;

	if (st < 0)
		return EXIT_UNREACHABLE;
	if (st != 200)
		return cli_fail_reply(st, r);
	if (json) {
		cli_print_json(r);
		code = json_is_true(json_object_get(r, "ok")) ? EXIT_OK
		                                              : EXIT_FAIL;
	} else {
		code = audit_print_reply(r);
	}
	json_decref(r);
	return code;
}

static int
audit_cmd_verify(const struct cli_opts *o, int argc, char **argv)
{
	const char *db = o->db ? o->db : "var/cairn.db";
	int json = o->json, online = 0;
	struct audit_report rep;
	struct cairn_err err = {0};
	char buf[1200];

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--db") && i + 1 < argc) {
			db = argv[++i];
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--online")) {
			online = 1;
		} else {
			audit_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (online)
		return audit_verify_online(o, json);
	if (audit_verify(db, NULL, &rep, &err) != 0) {
		cairn_err_format(&err, buf, sizeof(buf));
		fprintf(stderr, "cairn: audit: %s\n", buf);
		return EXIT_FAIL;
	}
	return json ? audit_print_json(&rep) : audit_print(&rep);
}

int
cli_audit(const struct cli_opts *o, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		audit_usage(stdout);
		return EXIT_OK;
	}
	if (argc >= 1 && !strcmp(argv[0], "verify"))
		return audit_cmd_verify(o, argc - 1, argv + 1);
	audit_usage(stderr);
	return EXIT_USAGE;
}
