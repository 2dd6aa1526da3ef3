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

/* cairn isir ... (cli/isir.c) */
int cli_isir(const struct cli_opts *o, int argc, char **argv);
/* cairn audit ... (cli/audit.c) */
int cli_audit(const struct cli_opts *o, int argc, char **argv);
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
