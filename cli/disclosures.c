/*
 * disclosures.c: cairn disclosures: the disclosure log, every read of a
 * student's record.
 *
 *   cairn disclosures [--subject S] [--case ID] [--reader TOKEN_ID]
 *                     [--since T] [--limit N] [--cursor C] [--all]
 *                                    the log, newest first (admin)
 *   cairn disclosures --me [--since T] [--limit N] [--cursor C] [--all]
 *                                    who looked at my record (a student)
 *
 * T is milliseconds since 1970, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ. One
 * page is printed (and the cursor of the next, on stderr) unless --all
 * follows every page. With --json, each page's reply as cairnd sent it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void
disclosures_usage(FILE *f)
{
	fprintf(f,
	        "usage: cairn disclosures [--subject S] [--case ID] "
	        "[--reader TOKEN_ID]\n"
	        "                         [--since T] [--limit N] [--cursor C] "
	        "[--all]\n"
	        "       cairn disclosures --me [--since T] [--limit N] "
	        "[--cursor C] [--all]\n"
	        "  the disclosure log: every read of a student's record, "
	        "newest first (admin);\n"
	        "  --me: who read my records (a student). T: ms since 1970, "
	        "YYYY-MM-DD or\n"
	        "  YYYY-MM-DDTHH:MM:SSZ. One page unless --all; the next "
	        "page's --cursor is\n"
	        "  printed on stderr.\n");
}

/* Appends "&name=value" (percent-encoded) to q. */
static int
param(char *q, size_t len, const char *name, const char *v)
{
	static const char safe[] = "-_.~:@";
	size_t n = strlen(q);

	if (v == NULL)
		return 0;
	n += (size_t)snprintf(q + n, len - n, "%s%s=", n ? "&" : "", name);
	for (; *v && n + 4 < len; v++) {
		unsigned char ch = (unsigned char)*v;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr(safe, ch))
			q[n++] = (char)ch;
		else
			n += (size_t)snprintf(q + n, len - n, "%%%02X", ch);
	}
	q[n] = '\0';
	return *v ? -1 : 0;
}

static void
print_row(json_t *row, int me)
{
	char when[32];
	time_t s =
	        (time_t)(json_integer_value(json_object_get(row, "at")) / 1000);
	struct tm tm;
	const char *scope = json_string_value(json_object_get(row, "scope"));
	char reader[200];

	gmtime_r(&s, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(reader, sizeof(reader), "%s%s%s",
	         json_string_value(json_object_get(row, "role")),
	         scope && scope[0] ? " " : "", scope ? scope : "");
	if (me)
		printf("%-20s  %-28s  %-30s  %s\n", when, reader,
		       json_string_value(json_object_get(row, "route")),
		       json_string_value(json_object_get(row, "case_id")));
	else
		printf("%-20s  %-28s  %-20s  %-30s  %-36s  %s\n", when, reader,
		       json_string_value(json_object_get(row, "token_id")),
		       json_string_value(json_object_get(row, "route")),
		       json_string_value(json_object_get(row, "case_id")),
		       json_string_value(json_object_get(row, "subject")));
}

int
cli_disclosures(const struct cli_opts *o, int argc, char **argv)
{
	const char *subject = o->subject, *case_id = NULL, *reader = NULL;
	const char *since = NULL, *limit = NULL, *cursor = NULL;
	int me = 0, all = 0, json = o->json, code = EXIT_OK, rows = 0;
	char q[1024], path[1200], next[32] = "";

	if (cli_wants_help(argc, argv)) {
		disclosures_usage(stdout);
		return EXIT_OK;
	}
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (!strcmp(a, "--me"))
			me = 1;
		else if (!strcmp(a, "--all"))
			all = 1;
		else if (!strcmp(a, "--json"))
			json = 1;
		else if (!strcmp(a, "--subject"))
			slot = &subject;
		else if (!strcmp(a, "--case"))
			slot = &case_id;
		else if (!strcmp(a, "--reader"))
			slot = &reader;
		else if (!strcmp(a, "--since"))
			slot = &since;
		else if (!strcmp(a, "--limit"))
			slot = &limit;
		else if (!strcmp(a, "--cursor"))
			slot = &cursor;
		else {
			disclosures_usage(stderr);
			return EXIT_USAGE;
		}
		if (slot != NULL) {
			if (i + 1 >= argc) {
				disclosures_usage(stderr);
				return EXIT_USAGE;
			}
			*slot = argv[++i];
		}
	}
	if (me && (subject || case_id || reader)) {
		fprintf(stderr, "cairn: disclosures --me takes only --since, "
		                "--limit, --cursor and --all\n");
		return EXIT_USAGE;
	}
	if (cursor != NULL)
		snprintf(next, sizeof(next), "%.30s", cursor);
	do {
		json_t *r = NULL, *row;
		size_t i;
		int st;

		q[0] = '\0';
		if (param(q, sizeof(q), "subject", subject) ||
		    param(q, sizeof(q), "case", case_id) ||
		    param(q, sizeof(q), "reader", reader) ||
		    param(q, sizeof(q), "since", since) ||
		    param(q, sizeof(q), "limit", limit) ||
		    param(q, sizeof(q), "cursor", next[0] ? next : NULL)) {
			fprintf(stderr, "cairn: disclosures: an argument is "
			                "too long\n");
			return EXIT_USAGE;
		}
		snprintf(path, sizeof(path), "%s%s%s",
		         me ? "/v1/me/disclosures" : "/v1/disclosures",
		         q[0] ? "?" : "", q);
		st = cli_call(o, "GET", path, NULL, &r);
		if (st < 0)
			return EXIT_UNREACHABLE;
		if (st != 200) {
			code = cli_fail_reply(st, r);
			json_decref(r);
			return code;
		}
		if (json) {
			cli_print_json(r);
		} else {
			if (rows == 0 && json_array_size(json_object_get(
			                         r, "disclosures")) > 0) {
				if (me)
					printf("%-20s  %-28s  %-30s  %s\n",
					       "WHEN", "READER", "ROUTE",
					       "CASE");
				else
					printf("%-20s  %-28s  %-20s  %-30s  "
					       "%-36s  %s\n",
					       "WHEN", "READER", "TOKEN",
					       "ROUTE", "CASE", "SUBJECT");
			}
			json_array_foreach(json_object_get(r, "disclosures"), i,
			                   row)
			{
				print_row(row, me);
				rows++;
			}
		}
		next[0] = '\0';
		if (json_is_integer(json_object_get(r, "next")))
			snprintf(next, sizeof(next), "%lld",
			         (long long)json_integer_value(
			                 json_object_get(r, "next")));
		json_decref(r);
	} while (all && next[0]);
	if (!json && !all && next[0])
		fprintf(stderr, "cairn: more: --cursor %s\n", next);
	if (!json && rows == 0)
		fprintf(stderr, "cairn: no disclosures\n");
	return code;
}
