/*
 * queues.c: the cairn commands of review queues, alerts and caseloads:
 *
 *   cairn queue [Q] [--office O]     the queues, or one queue's files in order
 *   cairn claim Q [--for D] [--office O]   lease the next file (exit 1: none)
 *   cairn renew ID [--for D] | cairn release ID
 *   cairn alerts [--state open|resolved|all] [--case ID]
 *   cairn ack ID | cairn resolve ID
 *   cairn caseload import FILE.csv [--partial] | cairn caseload show C
 *
 * A caseload file has one "counselor,student" pair a line (a first line
 * "counselor,student" is a header; blank lines and lines starting with #
 * are skipped). Every bad line is reported as FILE:LINE: why; without
 * --partial a file with any bad line imports nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "../daemon/auth.h"
#include "cli.h"

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static long long
jint(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* Appends ?name=value (or &...), percent-encoding value. */
static void
qadd(char *q, size_t len, const char *name, const char *v)
{
	size_t n = strlen(q);

	if (v == NULL)
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

/* An id that can go in a path: what the daemon's router accepts. */
static int
path_id_ok(const char *s)
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

/* Splits argv into positional arguments and the options named in opts
 * (each takes a value, except those ending in '!', which are flags set
 * to ""). Returns the number of positionals, or -1 after a message. */
static int
parse(int argc, char **argv, const char *const *opts, const char **vals,
      char **pos, int maxpos, const char *usage)
{
	int np = 0;

	for (int i = 0; i < argc; i++) {
		int matched = 0;

		for (int k = 0; opts[k] != NULL; k++) {
			size_t n = strlen(opts[k]);
			int flag = opts[k][n - 1] == '!';

			if (strncmp(argv[i], opts[k], flag ? n - 1 : n) != 0 ||
			    argv[i][flag ? n - 1 : n] != '\0')
				continue;
			matched = 1;
			if (flag) {
				vals[k] = "";
			} else if (i + 1 < argc) {
				vals[k] = argv[++i];
			} else {
				fprintf(stderr, "cairn: %s needs a value\n%s",
				        argv[i], usage);
				return -1;
			}
		}
		if (matched)
			continue;
		if (argv[i][0] == '-' || np == maxpos) {
			fprintf(stderr, "cairn: unexpected '%s'\n%s", argv[i],
			        usage);
			return -1;
		}
		pos[np++] = argv[i];
	}
	return np;
}

/* "in 2d 3h", "5m ago" for a time relative to now (ms). */
static void
rel_time(long long at, long long now, char *out, size_t len)
{
	long long d = at - now, a = d < 0 ? -d : d;

	if (a >= 86400000LL)
		snprintf(out, len, "%s%lldd%s", d < 0 ? "" : "in ",
		         a / 86400000LL, d < 0 ? " ago" : "");
	else if (a >= 3600000LL)
		snprintf(out, len, "%s%lldh%s", d < 0 ? "" : "in ",
		         a / 3600000LL, d < 0 ? " ago" : "");
	else
		snprintf(out, len, "%s%lldm%s", d < 0 ? "" : "in ", a / 60000LL,
		         d < 0 ? " ago" : "");
}

/* --- queue, claim, renew, release ----------------------------------------- */

static const char queue_usage[] =
        "usage: cairn queue [QUEUE] [--office O] [--limit N]\n";

int
cli_queue(const struct cli_opts *o, int argc, char **argv)
{
	static const char *const opts[] = {"--office", "--limit", NULL};
	const char *vals[2] = {0};
	char *pos[1], q[512] = "", path[700];
	json_t *r = NULL, *row;
	size_t i;
	int np, st;

	if (cli_wants_help(argc, argv)) {
		fputs(queue_usage, stdout);
		return EXIT_OK;
	}
	np = parse(argc, argv, opts, vals, pos, 1, queue_usage);
	if (np < 0)
		return EXIT_USAGE;
	if (np == 1 && !path_id_ok(pos[0])) {
		fprintf(stderr, "cairn: '%s' is not a queue name\n", pos[0]);
		return EXIT_USAGE;
	}
	qadd(q, sizeof(q), "office", vals[0]);
	qadd(q, sizeof(q), "limit", vals[1]);
	snprintf(path, sizeof(path), "/v1/queues%s%s%s", np ? "/" : "",
	         np ? pos[0] : "", q);
	st = cli_call(o, "GET", path, NULL, &r);
	if (st != 200) {
		int code = cli_fail_reply(st, r);

		json_decref(r);
		return code;
	}
	if (o->json) {
		cli_print_json(r);
	} else if (np == 0) {
		printf("%-24s %-16s %8s %8s %9s  %s\n", "QUEUE", "OFFICE",
		       "DEPTH", "CLAIMED", "BREACHED", "OLDEST");
		json_array_foreach(json_object_get(r, "queues"), i, row)
		{
			char age[32] = "-";

			if (json_is_integer(json_object_get(row, "oldest")))
				rel_time(jint(row, "oldest"), jint(r, "now"),
				         age, sizeof(age));
			printf("%-24s %-16s %8lld %8lld %9lld  %s\n",
			       jstr(row, "queue"), jstr(row, "owner"),
			       jint(row, "depth"), jint(row, "claimed"),
			       jint(row, "breached"), age);
		}
	} else {
		printf("%-37s %-20s %-14s %4s %-12s %s\n", "ID", "STATUS",
		       "SUBJECT", "PRIO", "DUE", "HOLDER");
		json_array_foreach(json_object_get(r, "items"), i, row)
		{
			char due[32] = "-";

			if (json_is_integer(json_object_get(row, "due_at")))
				rel_time(jint(row, "due_at"), jint(r, "now"),
				         due, sizeof(due));
			printf("%-37s %-20s %-14s %4lld %-12s %s\n",
			       jstr(row, "id"), jstr(row, "status"),
			       jstr(row, "subject"), jint(row, "priority"), due,
			       jstr(row, "holder"));
		}
	}
	json_decref(r);
	return EXIT_OK;
}

static const char claim_usage[] =
        "usage: cairn claim QUEUE [--for DURATION] [--office O]\n";

int
cli_claim(const struct cli_opts *o, int argc, char **argv)
{
	static const char *const opts[] = {"--for", "--office", NULL};
	const char *vals[2] = {0};
	char *pos[1], q[256] = "", path[512];
	json_t *r = NULL;
	int np, st;

	if (cli_wants_help(argc, argv)) {
		fputs(claim_usage, stdout);
		return EXIT_OK;
	}
	np = parse(argc, argv, opts, vals, pos, 1, claim_usage);
	if (np != 1) {
		if (np == 0)
			fputs(claim_usage, stderr);
		return EXIT_USAGE;
	}
	if (!path_id_ok(pos[0])) {
		fprintf(stderr, "cairn: '%s' is not a queue name\n", pos[0]);
		return EXIT_USAGE;
	}
	qadd(q, sizeof(q), "for", vals[0]);
	qadd(q, sizeof(q), "office", vals[1]);
	snprintf(path, sizeof(path), "/v1/queues/%s/claim%s", pos[0], q);
	st = cli_call(o, "POST", path, NULL, &r);
	if (st == 204) {
		fprintf(stderr, "cairn: queue %s has nothing to claim\n",
		        pos[0]);
		return EXIT_FAIL;
	}
	if (st != 200) {
		int code = cli_fail_reply(st, r);

		json_decref(r);
		return code;
	}
	if (o->json) {
		cli_print_json(r);
	} else {
		json_t *l = json_object_get(r, "lease");
		time_t until = (time_t)(jint(l, "until") / 1000);
		char when[64];

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
		         gmtime(&until));
		printf("%s\tleased until %s\n", jstr(l, "case_id"), when);
	}
	json_decref(r);
	return EXIT_OK;
}

/* renew and release: one case id, an optional --for on renew */
static int
lease_cmd(const struct cli_opts *o, int argc, char **argv, int release)
{
	static const char *const opts[] = {"--for", NULL};
	static const char *const none[] = {NULL};
	const char *vals[1] = {0};
	char *pos[1], q[128] = "", path[400];
	const char *usage = release ? "usage: cairn release CASE_ID\n"
	                            : "usage: cairn renew CASE_ID [--for D]\n";
	json_t *r = NULL;
	int np, st, code = EXIT_OK;
	char when[40];

	if (cli_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	np = parse(argc, argv, release ? none : opts, vals, pos, 1, usage);
	if (np != 1 || !path_id_ok(pos[0])) {
		if (np == 0 || np == 1)
			fputs(usage, stderr);
		return EXIT_USAGE;
	}
	qadd(q, sizeof(q), "for", vals[0]);
	snprintf(path, sizeof(path), "/v1/cases/%s/lease%s", pos[0], q);
	st = cli_call(o, release ? "DELETE" : "POST", path, NULL, &r);
	if (st != (release ? 204 : 200))
		code = cli_fail_reply(st, r);
	else if (!release && o->json)
		cli_print_json(r);
	else if (!release)
		printf("%s\tleased until %s\n", pos[0],
		       cli_time(json_object_get(r, "until"), when,
		                sizeof(when)));
	else
		printf("%s\treleased\n", pos[0]);
	json_decref(r);
	return code;
}

int
cli_release(const struct cli_opts *o, int argc, char **argv)
{
	return lease_cmd(o, argc, argv, 1);
}

int
cli_renew(const struct cli_opts *o, int argc, char **argv)
{
	return lease_cmd(o, argc, argv, 0);
}

/* --- alerts ------------------------------------------------------------------ */

static const char alerts_usage[] =
        "usage: cairn alerts [--state open|resolved|all] [--case ID]\n";

int
cli_alerts(const struct cli_opts *o, int argc, char **argv)
{
	static const char *const opts[] = {"--state", "--case", NULL};
	const char *vals[2] = {0};
	char *pos[1], q[512] = "", path[700];
	json_t *r = NULL, *a;
	size_t i;
	int st;

	if (cli_wants_help(argc, argv)) {
		fputs(alerts_usage, stdout);
		return EXIT_OK;
	}
	if (parse(argc, argv, opts, vals, pos, 0, alerts_usage) != 0)
		return EXIT_USAGE;
	qadd(q, sizeof(q), "state", vals[0]);
	qadd(q, sizeof(q), "case", vals[1]);
	snprintf(path, sizeof(path), "/v1/alerts%s", q);
	st = cli_call(o, "GET", path, NULL, &r);
	if (st != 200) {
		int code = cli_fail_reply(st, r);

		json_decref(r);
		return code;
	}
	if (o->json) {
		cli_print_json(r);
	} else {
		printf("%-6s %-9s %-9s %-24s %-37s %s\n", "ID", "SEVERITY",
		       "STATE", "KIND", "CASE", "MESSAGE");
		json_array_foreach(json_object_get(r, "alerts"), i, a)
		{
			const char *state = jstr(a, "state");

			if (!strcmp(state, "open") &&
			    json_is_integer(json_object_get(a, "acked_at")))
				state = "acked";
			printf("%-6lld %-9s %-9s %-24s %-37s %s\n",
			       jint(a, "id"), jstr(a, "severity"), state,
			       jstr(a, "kind"), jstr(a, "case_id"),
			       jstr(a, "message"));
		}
	}
	json_decref(r);
	return EXIT_OK;
}

static int
alert_cmd(const struct cli_opts *o, int argc, char **argv, const char *verb)
{
	char path[200];
	json_t *r = NULL;
	int st, code = EXIT_OK;

	if (cli_wants_help(argc, argv)) {
		printf("usage: cairn %s ALERT_ID\n"
		       "  %s an alert (ids from cairn alerts)\n",
		       verb, !strcmp(verb, "ack") ? "acknowledge" : "resolve");
		return EXIT_OK;
	}
	if (argc != 1 || strspn(argv[0], "0123456789") != strlen(argv[0]) ||
	    strlen(argv[0]) == 0 || strlen(argv[0]) > 18) {
		fprintf(stderr, "usage: cairn %s ALERT_ID\n", verb);
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/alerts/%s/%s", argv[0], verb);
	st = cli_call(o, "POST", path, NULL, &r);
	if (st != 200)
		code = cli_fail_reply(st, r);
	else if (o->json)
		cli_print_json(r);
	else
		printf("alert %s %s\n", argv[0],
		       !strcmp(verb, "ack") ? "acknowledged" : "resolved");
	json_decref(r);
	return code;
}

int
cli_ack(const struct cli_opts *o, int argc, char **argv)
{
	return alert_cmd(o, argc, argv, "ack");
}

int
cli_resolve(const struct cli_opts *o, int argc, char **argv)
{
	return alert_cmd(o, argc, argv, "resolve");
}

/* --- caseloads --------------------------------------------------------------- */

static const char caseload_usage[] =
        "usage: cairn caseload import FILE.csv [--partial]\n"
        "       cairn caseload show COUNSELOR\n"
        "       cairn caseload set COUNSELOR [STUDENT]...\n"
        "  import: counselor,student lines (admin); without --partial a "
        "file with a\n"
        "  bad line imports nothing. show: a counselor's students (admin, "
        "or the\n"
        "  counselor). set: replace one counselor's students (admin; "
        "none empties).\n";

/* cairn caseload set C S1 S2 ...: PUT the whole list */
static int
caseload_set(const struct cli_opts *o, int argc, char **argv)
{
	json_t *students = json_array(), *body, *r = NULL, *e;
	char path[300];
	size_t i;
	int st, code = EXIT_OK;

	if (argc < 1 || !path_id_ok(argv[0])) {
		fputs(caseload_usage, stderr);
		json_decref(students);
		return EXIT_USAGE;
	}
	for (int k = 1; k < argc; k++) {
		if (argv[k][0] == '-') {
			fprintf(stderr, "cairn: unexpected '%s'\n%s", argv[k],
			        caseload_usage);
			json_decref(students);
			return EXIT_USAGE;
		}
		json_array_append_new(students, json_string(argv[k]));
	}
	body = json_pack("{s:o}", "students", students);
	snprintf(path, sizeof(path), "/v1/counselors/%s/students", argv[0]);
	st = cli_call(o, "PUT", path, body, &r);
	json_decref(body);
	if (st != 200) {
		code = cli_fail_reply(st, r);
	} else if (o->json) {
		cli_print_json(r);
	} else {
		printf("counselor %s: %zu student%s\n", argv[0],
		       json_array_size(json_object_get(r, "students")),
		       json_array_size(json_object_get(r, "students")) == 1
		               ? ""
		               : "s");
		json_array_foreach(json_object_get(r, "students"), i, e)
		        printf("%s\n", json_string_value(e));
	}
	json_decref(r);
	return code;
}

/* Trims blanks and one pair of double quotes around a field, in place. */
static char *
field(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	                 e[-1] == '\n'))
		*--e = '\0';
	if (e - s >= 2 && s[0] == '"' && e[-1] == '"') {
		e[-1] = '\0';
		s++;
	}
	return s;
}

/* Reads the file into rows (and the line of each); bad lines are
 * reported. Returns the number of bad lines, or -1 when the file cannot
 * be read. */
static int
caseload_read(const char *file, json_t *rows, int **lines)
{
	FILE *f = fopen(file, "r");
	char buf[1024];
	int lineno = 0, bad = 0, cap = 0, n = 0;

	if (f == NULL) {
		perror(file);
		return -1;
	}
	while (fgets(buf, sizeof(buf), f) != NULL) {
		char *c, *s, *comma, *why = NULL;
		const char *w = NULL;

		lineno++;
		if (strchr(buf, '\n') == NULL && !feof(f)) {
			int ch;

			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			fprintf(stderr, "%s:%d: line too long\n", file, lineno);
			bad++;
			continue;
		}
		c = buf + strspn(buf, " \t\r\n");
		if (c[0] == '\0' || c[0] == '#')
			continue;
		comma = strchr(c, ',');
		if (comma == NULL || strchr(comma + 1, ',') != NULL) {
			why = "expected two fields: counselor,student";
		} else {
			*comma = '\0';
			s = field(comma + 1);
			c = field(c);
			if (lineno == 1 && !strcasecmp(c, "counselor") &&
			    !strcasecmp(s, "student"))
				continue;
			if (auth_scope_check(ROLE_COUNSELOR, c, &w) != 0)
				fprintf(stderr,
				        "%s:%d: counselor '%.64s': %s\n", file,
				        lineno, c, w);
			else if (auth_scope_check(ROLE_STUDENT, s, &w) != 0)
				fprintf(stderr, "%s:%d: student '%.64s': %s\n",
				        file, lineno, s, w);
			if (w != NULL) {
				bad++;
				continue;
			}
			if (n == cap) {
				int *l;

				cap = cap ? cap * 2 : 256;
				l = realloc(*lines, (size_t)cap * sizeof(int));
				if (l == NULL) {
					fclose(f);
					fprintf(stderr,
					        "cairn: out of memory\n");
					return -1;
				}
				*lines = l;
			}
			(*lines)[n++] = lineno;
			json_array_append_new(rows, json_pack("{s:s, s:s}",
			                                      "counselor", c,
			                                      "student", s));
			continue;
		}
		fprintf(stderr, "%s:%d: %s\n", file, lineno, why);
		bad++;
	}
	fclose(f);
	return bad;
}

int
cli_caseload(const struct cli_opts *o, int argc, char **argv)
{
	static const char *const opts[] = {"--partial!", NULL};
	const char *vals[1] = {0};
	char *pos[2], path[300];
	json_t *rows, *body, *r = NULL, *e;
	int *lines = NULL, np, bad, st, code = EXIT_OK;
	size_t i;

	if (cli_wants_help(argc, argv)) {
		fputs(caseload_usage, stdout);
		return EXIT_OK;
	}
	if (argc >= 1 && !strcmp(argv[0], "set"))
		return caseload_set(o, argc - 1, argv + 1);
	np = parse(argc, argv, opts, vals, pos, 2, caseload_usage);
	if (np == 2 && !strcmp(pos[0], "show") && vals[0] == NULL) {
		if (!path_id_ok(pos[1])) {
			fprintf(stderr, "cairn: '%s' is not a counselor id\n",
			        pos[1]);
			return EXIT_USAGE;
		}
		snprintf(path, sizeof(path), "/v1/counselors/%s/students",
		         pos[1]);
		st = cli_call(o, "GET", path, NULL, &r);
		if (st != 200) {
			code = cli_fail_reply(st, r);
		} else if (o->json) {
			cli_print_json(r);
		} else {
			json_array_foreach(json_object_get(r, "students"), i, e)
			{
				printf("%s\n", json_string_value(e));
			}
		}
		json_decref(r);
		return code;
	}
	if (np != 2 || strcmp(pos[0], "import") != 0) {
		if (np >= 0)
			fputs(caseload_usage, stderr);
		return EXIT_USAGE;
	}
	rows = json_array();
	bad = caseload_read(pos[1], rows, &lines);
	if (bad < 0) {
		json_decref(rows);
		free(lines);
		return EXIT_FAIL;
	}
	if (bad > 0 && vals[0] == NULL) {
		fprintf(stderr,
		        "cairn: %d bad line%s; nothing imported (--partial "
		        "imports the good ones)\n",
		        bad, bad == 1 ? "" : "s");
		json_decref(rows);
		free(lines);
		return EXIT_FAIL;
	}
	body = json_pack("{s:o, s:b}", "rows", rows, "partial",
	                 vals[0] != NULL);
	st = cli_call(o, "POST", "/v1/caseloads", body, &r);
	json_decref(body);
	if (st == 422) {
		/* the daemon's own checks, mapped back to lines */
		json_array_foreach(json_object_get(r, "errors"), i, e)
		{
			long long k = jint(e, "index");

			fprintf(stderr, "%s:%d: %s\n", pos[1],
			        k >= 0 && lines ? lines[k] : 0,
			        jstr(e, "error"));
		}
	}
	if (st != 200) {
		code = cli_fail_reply(st, r);
	} else if (o->json) {
		cli_print_json(r);
	} else {
		printf("imported %lld row%s", jint(r, "imported"),
		       jint(r, "imported") == 1 ? "" : "s");
		if (bad > 0)
			printf(", skipped %d bad line%s", bad,
			       bad == 1 ? "" : "s");
		printf("\n");
	}
	json_decref(r);
	free(lines);
	return code;
}
