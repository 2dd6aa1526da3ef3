/*
 * util.c: what the newer command groups share: their option parsing (with
 * --help on every command), --data JSON or @FILE, ids that fit in a path,
 * query strings, times, and aligned tables.
 *
 * Tables are gathered whole and printed once, so every column is as wide
 * as its widest cell and nothing is cut: a listing is read by people, and
 * --json is there for scripts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

int
cli_args(int argc, char **argv, const struct cli_opt *opts, char **pos,
         int maxpos, const char *usage)
{
	int np = 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const struct cli_opt *m = NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return CLI_ARGS_HELP;
		}
		for (int k = 0; opts != NULL && opts[k].name != NULL; k++)
			if (!strcmp(a, opts[k].name))
				m = &opts[k];
		if (m != NULL) {
			if (m->flag) {
				*m->val = "";
			} else if (i + 1 < argc) {
				*m->val = argv[++i];
			} else {
				fprintf(stderr, "cairn: %s needs a value\n%s",
				        a, usage);
				return CLI_ARGS_BAD;
			}
			continue;
		}
		if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "cairn: unknown option %s\n%s", a,
			        usage);
			return CLI_ARGS_BAD;
		}
		if (np == maxpos) {
			fprintf(stderr, "cairn: unexpected '%s'\n%s", a, usage);
			return CLI_ARGS_BAD;
		}
		pos[np++] = argv[i];
	}
	return np;
}

int
cli_wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	return 0;
}

json_t *
cli_data_arg(const char *arg, int *bad)
{
	json_error_t e;
	json_t *d;

	*bad = 0;
	if (arg == NULL)
		return NULL;
	if (arg[0] == '@') {
		d = json_load_file(arg + 1, JSON_REJECT_DUPLICATES, &e);
		if (d == NULL && e.line < 1) {
			fprintf(stderr, "cairn: --data: %s\n", e.text);
			*bad = 1;
			return NULL;
		}
		if (d == NULL) {
			fprintf(stderr, "cairn: --data %s:%d:%d: %s\n", arg + 1,
			        e.line, e.column, e.text);
			*bad = 1;
			return NULL;
		}
	} else {
		d = json_loads(arg, JSON_REJECT_DUPLICATES, &e);
		if (d == NULL) {
			fprintf(stderr,
			        "cairn: --data must be a JSON object: %s (at "
			        "column %d)\n",
			        e.text, e.column);
			*bad = 1;
			return NULL;
		}
	}
	if (!json_is_object(d)) {
		fprintf(stderr, "cairn: --data must be a JSON object\n");
		json_decref(d);
		*bad = 1;
		return NULL;
	}
	return d;
}

int
cli_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._:@-", s[i])))
			return 0;
	return 1;
}

void
cli_query_add(char *q, size_t len, const char *name, const char *v)
{
	size_t n = strlen(q);

	if (v == NULL || n + strlen(name) + 3 >= len)
		return;
	n += (size_t)snprintf(q + n, len - n, "%s%s=", n ? "&" : "?", name);
	for (; *v && n + 4 < len; v++) {
		unsigned char ch = (unsigned char)*v;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~:@", ch))
			q[n++] = (char)ch;
		else
			n += (size_t)snprintf(q + n, len - n, "%%%02X", ch);
	}
	q[n] = '\0';
}

const char *
cli_jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL && s[0] != '\0' ? s : "-";
}

const char *
cli_time(const json_t *ms, char *buf, size_t len)
{
	time_t secs;
	struct tm tm;

	if (!json_is_integer(ms)) {
		snprintf(buf, len, "-");
		return buf;
	}
	secs = (time_t)(json_integer_value(ms) / 1000);
	if (gmtime_r(&secs, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)json_integer_value(ms));
	return buf;
}

int
cli_reply_fail(int st, json_t *r)
{
	int code = cli_fail_reply(st, r);

	json_decref(r);
	return code;
}

/* --- tables ------------------------------------------------------------- */

struct cli_table {
	int ncols, nrows, cap;
	char **cells; /* nrows x ncols, row 0 the header */
	size_t *width;
};

struct cli_table *
cli_table_new(int ncols, const char *const *header)
{
	struct cli_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	t->width = calloc((size_t)ncols, sizeof(*t->width));
	if (t->width == NULL) {
		free(t);
		return NULL;
	}
	cli_table_row(t, header);
	return t;
}

void
cli_table_row(struct cli_table *t, const char *const *cells)
{
	if (t == NULL)
		return;
	if (t->nrows == t->cap) {
		int cap = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cells,
		                   (size_t)cap * (size_t)t->ncols * sizeof(*c));

		if (c == NULL)
			return; /* the row is left out rather than crash */
		t->cells = c;
		t->cap = cap;
	}
	for (int i = 0; i < t->ncols; i++) {
		const char *s = cells[i] != NULL ? cells[i] : "-";
		char *copy = strdup(s);
		size_t w = strlen(s);

		t->cells[t->nrows * t->ncols + i] = copy;
		if (w > t->width[i])
			t->width[i] = w;
	}
	t->nrows++;
}

void
cli_table_print(struct cli_table *t)
{
	if (t == NULL)
		return;
	for (int r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];

			if (s == NULL)
				s = "-";
			if (i == t->ncols - 1)
				printf("%s\n", s);
			else
				printf("%-*s  ", (int)t->width[i], s);
		}
	}
	for (int k = 0; k < t->nrows * t->ncols; k++)
		free(t->cells[k]);
	free(t->cells);
	free(t->width);
	free(t);
}
