/*
 * audit.c: cairn audit: checks an auditor runs.
 *
 *   cairn audit verify [--db PATH] [--json]
 *
 * verify walks every hash chain in the database (each case's history) on
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
	fprintf(f, "usage: cairn audit verify [--db PATH] [--json]\n");
}

static int
audit_print_json(const struct audit_report *rep)
{
	json_t *chains = json_array();
	json_t *o;

	for (int i = 0; i < rep->n; i++) {
		const struct audit_chain_result *r = &rep->r[i];
		json_t *c = json_pack(
		        "{s:s, s:I, s:I, s:I, s:s}", "chain", r->name, "chains",
		        (json_int_t)r->chains, "links", (json_int_t)r->links,
		        "broken", (json_int_t)r->broken, "anchor", r->anchor);

		if (c != NULL && r->broken)
			json_object_set_new(c, "first_broken",
			                    json_pack("{s:s, s:I, s:s}", "key",
			                              r->first, "seq",
			                              (json_int_t)r->first_seq,
			                              "what", r->what));
		json_array_append_new(chains, c);
	}
	o = json_pack("{s:b, s:f, s:o}", "ok", !audit_report_broken(rep),
	              "seconds", rep->seconds, "chains", chains);
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
		if (r->first_seq > 0)
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

static int
audit_cmd_verify(const struct cli_opts *o, int argc, char **argv)
{
	const char *db = o->db ? o->db : "var/cairn.db";
	int json = o->json;
	struct audit_report rep;
	struct cairn_err err = {0};
	char buf[1200];

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--db") && i + 1 < argc) {
			db = argv[++i];
		} else if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else {
			audit_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (audit_verify(db, &rep, &err) != 0) {
		cairn_err_format(&err, buf, sizeof(buf));
		fprintf(stderr, "cairn: audit: %s\n", buf);
		return EXIT_FAIL;
	}
	return json ? audit_print_json(&rep) : audit_print(&rep);
}

int
cli_audit(const struct cli_opts *o, int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "verify"))
		return audit_cmd_verify(o, argc - 1, argv + 1);
	audit_usage(stderr);
	return EXIT_USAGE;
}
