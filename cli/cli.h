/*
 * cli.h: what the files of the cairn command share: the global options,
 * the exit codes, one HTTP call to cairnd, and printing.
 *
 * A command group with its own file (cli/rules.c: cairn rules ...) is a
 * cli_group_fn listed in main.c's groups table; it gets the arguments
 * after its name, its own options among them, and returns an exit code.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
	EXIT_AUTH = 4,
};

struct cli_opts {
	const char *url, *token, *db, *role, *scope, *label;
	const char *subject, *data, *workflow, *status, *queue;
	const char *idem;
	int json;
};

typedef int (*cli_group_fn)(const struct cli_opts *o, int argc, char **argv);

/*
 * One request to cairnd (body may be NULL). Returns the HTTP status, or -1
 * when cairnd could not be reached (the reason is printed). *out gets the
 * parsed JSON reply or NULL.
 */
int cli_call(const struct cli_opts *o, const char *method, const char *path,
             json_t *body, json_t **out);
/* Prints a problem+json reply and maps the status to an exit code. */
int cli_fail_reply(int status, json_t *reply);
void cli_print_json(json_t *j);

/*
 * The same call for a reply that is not JSON (a graph as DOT text):
 * *text gets the body (NUL-terminated, the caller frees it) or NULL.
 */
int cli_call_text(const struct cli_opts *o, const char *method,
                  const char *path, char **text);

/* --- util.c: what the command groups share ------------------------------ */

/* One option of a command: a name ("--limit") and where its value goes;
 * a flag takes no value and is set to "". */
struct cli_opt {
	const char *name;
	const char **val;
	int flag;
};

#define CLI_ARGS_HELP (-2) /* --help: the usage went to stdout */
#define CLI_ARGS_BAD  (-1) /* said why, and the usage, on stderr */

/*
 * Splits argv into at most maxpos positional arguments (into pos) and the
 * options of opts (NULL-name terminated). Returns the number of
 * positionals, CLI_ARGS_HELP after printing usage on -h or --help, or
 * CLI_ARGS_BAD after saying what is wrong.
 */
int cli_args(int argc, char **argv, const struct cli_opt *opts, char **pos,
             int maxpos, const char *usage);
/* 1 when -h or --help is among the arguments */
int cli_wants_help(int argc, char **argv);
/* --data: a JSON object, or @FILE holding one. NULL with *bad = 0 when
 * arg is NULL; NULL with *bad = 1 after saying why it is not usable. */
json_t *cli_data_arg(const char *arg, int *bad);
/* 1 when s can go in a path: what cairnd's router accepts in an {id} */
int cli_id_ok(const char *s);
/* Appends ?name=value (or &name=value), percent-encoded; v NULL: nothing */
void cli_query_add(char *q, size_t len, const char *name, const char *v);
/* A member's string, or "-" when absent, null or empty. */
const char *cli_jstr(const json_t *o, const char *k);
/* Milliseconds since the epoch as "2026-11-28 20:45:46Z" (UTC), or "-". */
const char *cli_time(const json_t *ms, char *buf, size_t len);
/* cli_fail_reply, then frees the reply: the exit code of a refused call */
int cli_reply_fail(int status, json_t *reply);

/* An aligned table: gathered whole, then printed with each column as
 * wide as its widest cell; cli_table_print frees it. */
struct cli_table;
struct cli_table *cli_table_new(int ncols, const char *const *header);
void cli_table_row(struct cli_table *t, const char *const *cells);
void cli_table_print(struct cli_table *t);

/* cairn cases, case, history, send, open (cli/cases.c) */
int cli_cases(const struct cli_opts *o, int argc, char **argv);
int cli_case_alias(const struct cli_opts *o, int argc, char **argv);
int cli_history_alias(const struct cli_opts *o, int argc, char **argv);
int cli_send_alias(const struct cli_opts *o, int argc, char **argv);
int cli_open_alias(const struct cli_opts *o, int argc, char **argv);
/* cairn workflows, calendars, clock (cli/workflows.c) */
int cli_workflows(const struct cli_opts *o, int argc, char **argv);
int cli_calendars(const struct cli_opts *o, int argc, char **argv);
int cli_clock(const struct cli_opts *o, int argc, char **argv);
/* cairn offices, recipients (cli/offices.c) */
int cli_offices(const struct cli_opts *o, int argc, char **argv);
int cli_recipients(const struct cli_opts *o, int argc, char **argv);

/* cairn isir ... (cli/isir.c) */
int cli_isir(const struct cli_opts *o, int argc, char **argv);
/* cairn audit ... (cli/audit.c) */
int cli_audit(const struct cli_opts *o, int argc, char **argv);
int cli_backup(const struct cli_opts *o, int argc, char **argv);
/* cairn isir identities FILE.csv (identities.c) */
int cli_isir_identities(const struct cli_opts *o, const char *path);
/* The command groups (one file each). */
int cli_group_adapters(const struct cli_opts *o, int argc, char **argv);
/* Queues, leases, alerts and caseloads (queues.c). */
int cli_queue(const struct cli_opts *o, int argc, char **argv);
int cli_claim(const struct cli_opts *o, int argc, char **argv);
int cli_renew(const struct cli_opts *o, int argc, char **argv);
int cli_release(const struct cli_opts *o, int argc, char **argv);
int cli_alerts(const struct cli_opts *o, int argc, char **argv);
int cli_ack(const struct cli_opts *o, int argc, char **argv);
int cli_resolve(const struct cli_opts *o, int argc, char **argv);
int cli_caseload(const struct cli_opts *o, int argc, char **argv);
/* The disclosure log (disclosures.c). */
int cli_disclosures(const struct cli_opts *o, int argc, char **argv);

#endif
