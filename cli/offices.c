/*
 * offices.c: cairn offices and recipients: who works an office's queues,
 * and where alerts are mailed.
 *
 *   cairn offices show OFFICE
 *   cairn offices set OFFICE --staff TOK[,TOK...] [--supervisor TOK]
 *   cairn recipients show RECIPIENT
 *   cairn recipients set RECIPIENT --email ADDRESS [--digest]
 *
 * An office's roster names token ids (tok_ and 16 hex digits, as cairn
 * token list prints them): its staff, who claim its files, and its
 * supervisor, who gets the escalations. A recipient is counselor:<id>,
 * office:<id> or supervisor:<office>; --digest gathers a day's alerts into
 * one mail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char offices_usage[] =
        "usage: cairn offices show OFFICE\n"
        "       cairn offices set OFFICE --staff TOK[,TOK...] "
        "[--supervisor TOK]\n"
        "  an office's roster: the token ids (tok_..., from cairn token "
        "list) of its\n"
        "  staff and of its supervisor. show: the office's own staff or "
        "admin;\n"
        "  set: admin; it replaces the roster (--staff '' empties it).\n";

static const char recipients_usage[] =
        "usage: cairn recipients show RECIPIENT\n"
        "       cairn recipients set RECIPIENT --email ADDRESS "
        "[--digest]\n"
        "  where alerts are mailed: RECIPIENT is counselor:<id>, "
        "office:<id> or\n"
        "  supervisor:<office>. A counselor or an office reads and sets "
        "its own,\n"
        "  admin any. --digest: one mail a day instead of one an "
        "alert.\n";

/* Shows a reply as "key  value" lines; arrays joined by ", ". */
static void
print_fields(const json_t *r)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)r, k, v)
	{
		if (json_is_array(v)) {
			json_t *e;
			size_t i;

			printf("%-12s", k);
			if (json_array_size(v) == 0)
				printf(" (none)");
			json_array_foreach(v, i, e)
			{
				char *t = json_is_string(e)
				                  ? strdup(json_string_value(e))
				                  : json_dumps(e, JSON_COMPACT);

				printf("%s%s", i ? ", " : " ", t ? t : "?");
				free(t);
			}
			printf("\n");
		} else if (json_is_string(v)) {
			printf("%-12s %s\n", k, json_string_value(v));
		} else if (json_is_null(v)) {
			printf("%-12s -\n", k);
		} else if (json_is_integer(v) && strstr(k, "_at") != NULL) {
			char when[40];

			printf("%-12s %s\n", k,
			       cli_time(v, when, sizeof(when)));
		} else {
			char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			printf("%-12s %s\n", k, t ? t : "?");
			free(t);
		}
	}
}

/* GET or PUT of /v1/<kind>/<id>; body NULL for a GET. */
static int
one(const struct cli_opts *o, const char *kind, const char *id, json_t *body)
{
	char path[300];
	json_t *r = NULL;
	int st;

	snprintf(path, sizeof(path), "/v1/%s/%s", kind, id);
	st = cli_call(o, body ? "PUT" : "GET", path, body, &r);
	json_decref(body);
	if (st != 200)
		return cli_reply_fail(st, r);
	if (o->json)
		cli_print_json(r);
	else
		print_fields(r);
	json_decref(r);
	return EXIT_OK;
}

int
cli_offices(const struct cli_opts *o, int argc, char **argv)
{
	const char *staff = NULL, *sup = NULL;
	const struct cli_opt opts[] = {{"--staff", &staff, 0},
	                               {"--supervisor", &sup, 0},
	                               {NULL, NULL, 0}};
	char *pos[2];
	json_t *body, *list;
	int np;

	np = cli_args(argc, argv, opts, pos, 2, offices_usage);
	if (np == CLI_ARGS_HELP)
		return EXIT_OK;
	if (np != 2 || (strcmp(pos[0], "show") && strcmp(pos[0], "set")) ||
	    (!strcmp(pos[0], "show") && (staff || sup)) ||
	    (!strcmp(pos[0], "set") && staff == NULL)) {
		if (np >= 0)
			fputs(offices_usage, stderr);
		return EXIT_USAGE;
	}
	if (!cli_id_ok(pos[1])) {
		fprintf(stderr, "cairn: '%s' is not an office id\n", pos[1]);
		return EXIT_USAGE;
	}
	if (!strcmp(pos[0], "show"))
		return one(o, "offices", pos[1], NULL);
	list = json_array();
	for (const char *p = staff; *p;) {
		size_t n = strcspn(p, ",");

		if (n > 0)
			json_array_append_new(list, json_stringn(p, n));
		p += n;
		if (*p == ',')
			p++;
	}
	body = json_pack("{s:o}", "staff", list);
	if (sup != NULL)
		json_object_set_new(body, "supervisor",
		                    sup[0] ? json_string(sup) : json_null());
	return one(o, "offices", pos[1], body);
}

int
cli_recipients(const struct cli_opts *o, int argc, char **argv)
{
	const char *email = NULL, *digest = NULL;
	const struct cli_opt opts[] = {{"--email", &email, 0},
	                               {"--digest", &digest, 1},
	                               {NULL, NULL, 0}};
	char *pos[2];
	int np;

	np = cli_args(argc, argv, opts, pos, 2, recipients_usage);
	if (np == CLI_ARGS_HELP)
		return EXIT_OK;
	if (np != 2 || (strcmp(pos[0], "show") && strcmp(pos[0], "set")) ||
	    (!strcmp(pos[0], "show") && (email || digest)) ||
	    (!strcmp(pos[0], "set") && email == NULL)) {
		if (np >= 0)
			fputs(recipients_usage, stderr);
		return EXIT_USAGE;
	}
	if (!cli_id_ok(pos[1])) {
		fprintf(stderr,
		        "cairn: '%s' is not a recipient (counselor:<id>, "
		        "office:<id> or supervisor:<office>)\n",
		        pos[1]);
		return EXIT_USAGE;
	}
	if (!strcmp(pos[0], "show"))
		return one(o, "recipients", pos[1], NULL);
	return one(o, "recipients", pos[1],
	           json_pack("{s:s, s:b}", "email", email, "digest",
	                     digest != NULL));
}
