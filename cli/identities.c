/*
 * identities.c: cairn isir identities FILE.csv: which student each ISIR
 * belongs to (POST /v1/isir/identities, admin; docs/isir.md, "Matching
 * ISIRs to students").
 *
 * The file has one student a line: student,last_name,date_of_birth,
 * ssn_last4 (a first line naming those columns is skipped; blank lines
 * and lines starting with # too). Every line is checked here for its
 * shape and cairnd checks each value; a bad line is reported with its
 * line number and nothing is loaded. Names with a comma are not
 * supported: the key uses only a name's letters, so "Smith Jr" matches
 * "Smith, Jr." anyway. Exit 0 loaded, 1 refused, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

#define IDENTITY_LINE_MAX 512

/* Splits line into exactly four comma-separated fields, trimmed. */
static int
split4(char *line, char *f[4])
{
	int n = 0;
	char *p = line;

	for (;;) {
		char *comma = strchr(p, ',');
		char *s = p, *e;

		if (n == 4)
			return -1;
		if (comma)
			*comma = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' ||
		                 e[-1] == '\r' || e[-1] == '\n'))
			*--e = '\0';
		f[n++] = s;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return n == 4 ? 0 : -1;
}

int
cli_isir_identities(const struct cli_opts *o, const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char line[IDENTITY_LINE_MAX];
	json_t *rows = json_array(), *body, *rep = NULL, *e;
	int *lines = NULL, lineno = 0, st;
	size_t n = 0, cap = 0, i;

	if (f == NULL) {
		perror(path);
		json_decref(rows);
		return EXIT_FAIL;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *fld[4];

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "%s:%d: a line longer than %d bytes\n",
			        path, lineno, IDENTITY_LINE_MAX - 1);
			goto fail;
		}
		if (line[strspn(line, " \t\r\n")] == '\0' || line[0] == '#')
			continue;
		if (split4(line, fld) != 0) {
			fprintf(stderr,
			        "%s:%d: expected student,last_name,"
			        "date_of_birth,ssn_last4\n",
			        path, lineno);
			goto fail;
		}
		if (n == 0 && !strcmp(fld[0], "student"))
			continue; /* the header */
		if (n == cap) {
			int *more;

			cap = cap ? cap * 2 : 256;
			more = realloc(lines, cap * sizeof(*lines));
			if (more == NULL)
				goto fail;
			lines = more;
		}
		lines[n++] = lineno;
		json_array_append_new(rows,
		                      json_pack("{s:s, s:s, s:s, s:s}",
		                                "student", fld[0], "last_name",
		                                fld[1], "date_of_birth", fld[2],
		                                "ssn_last4", fld[3]));
	}
	if (f != stdin)
		fclose(f);
	f = NULL;
	body = json_pack("{s:o}", "identities", rows);
	rows = NULL;
	st = cli_call(o, "POST", "/v1/isir/identities", body, &rep);
	json_decref(body);
	if (st != 200) {
		/* cairnd names rows by index: say which line */
		json_array_foreach(json_object_get(rep, "errors"), i, e)
		{
			size_t k = (size_t)json_integer_value(
			        json_object_get(e, "index"));

			if (k < n)
				fprintf(stderr, "%s:%d: %s\n", path, lines[k],
				        json_string_value(
				                json_object_get(e, "error")));
		}
		free(lines);
		return cli_reply_fail(st, rep);
	}
	free(lines);
	if (o->json)
		cli_print_json(rep);
	else
		printf("%lld identities loaded\n",
		       json_integer_value(json_object_get(rep, "loaded")));
	json_decref(rep);
	return EXIT_OK;
fail:
	if (f != NULL && f != stdin)
		fclose(f);
	json_decref(rows);
	free(lines);
	return EXIT_FAIL;
}
