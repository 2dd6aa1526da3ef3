/*
 * harness.h: what the integration tests share: a cairnd started in a fresh
 * temporary directory on a free port, raw HTTP over a socket (so malformed,
 * cut-off, slow and pipelined requests can be sent as they are), and
 * running the binaries as a shell would.
 */
#ifndef CAIRN_TEST_HARNESS_H
#define CAIRN_TEST_HARNESS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

struct td {
	pid_t pid;
	int port;
	char dir[256];
	char db[512];
	char cfg[512];
	char log[512];
	char token[128]; /* the first admin token */
};

/* Writes the test configuration (small limits, empty definition dirs) with
 * extra_yaml appended, starts cairnd and waits until /healthz answers.
 * Fails the test if it does not come up. */
void td_start(struct td *t, const char *extra_yaml);
/* Points the (stopped) daemon's configuration at examples/rules, for
 * tests that run the example workflows, whose guards ask those rules. */
void td_use_example_rules(struct td *t);
/* Starts cairnd (as td_start) serving the example aid_file workflow and
 * the Cal Grant rule it evaluates on entering packaging, from copies in
 * its own definitions directory. */
void td_start_aid_file(struct td *t);
/* Writes text as workflow name (defs/workflows/NAME.yaml in t's
 * directory); cairnd reads it when it next starts. */
void td_write_workflow(const struct td *t, const char *name, const char *text);
/* Starts cairnd again on the same directory and database. */
void td_restart(struct td *t);
/* The same, with one more argument for cairnd (e.g. "--test-clock"). */
void td_restart_args(struct td *t, const char *arg);
/* SIGTERM; returns the exit status (or -1 if it outlived 5 seconds). */
int td_stop(struct td *t);
/* Stops cairnd if running and removes the directory. */
void td_cleanup(struct td *t);
/* Starts cairnd on the configuration and database cairn-demo left in
 * demo (as make demo-run does), its stderr appended to demo/log_name:
 * fills t (port, admin token, cfg, log, pid) and waits up to 30 s for
 * /healthz. Fails the test if it exits or does not answer. */
void td_start_on_demo(struct td *t, const char *demo, const char *log_name);
/* Kills cairnd at once if running and removes dir (when set): the
 * teardown of a test whose directory is not td_start's. */
void td_discard(struct td *t, const char *dir);

const char *td_bin(const char *name); /* path of a built binary */

struct resp {
	int status;
	char head[8192]; /* status line and headers */
	char *body;      /* NUL-terminated */
	size_t body_len;
};
void resp_free(struct resp *r);
/* The value of a response header, copied into buf; NULL if absent. */
const char *resp_header(const struct resp *r, const char *name, char *buf,
                        size_t len);

int tcp_connect(int port);
void send_all(int fd, const char *data, size_t len);
/* Reads one response; returns 0, or -1 on EOF/timeout before a full one.
 * Bytes after the response stay buffered in the fd's pending buffer. */
int read_response(int fd, int timeout_ms, struct resp *r);
int read_response_head(int fd, int timeout_ms, struct resp *r, int head_only);
/* 1 when the peer closes within timeout_ms (EOF or reset) */
int wait_closed(int fd, int timeout_ms);

/* One request on a new connection. token and ctype may be NULL. */
int http_do(const struct td *t, const char *method, const char *path,
            const char *token, const char *ctype, const char *body,
            size_t body_len, struct resp *r);

/* http_do with an Idempotency-Key header (idem may be NULL). */
int http_do_idem(const struct td *t, const char *method, const char *path,
                 const char *token, const char *ctype, const char *body,
                 size_t body_len, const char *idem, struct resp *r);

/* A JSON request (body may be NULL) that must answer want; returns the
 * parsed reply (NULL when empty), which the caller frees. */
json_t *td_call(const struct td *t, const char *method, const char *path,
                const char *token, const char *body, const char *idem,
                int want);
/* Case id as GET /v1/cases/{id} gives it to the admin; the caller frees. */
json_t *td_case(const struct td *t, const char *id);
/* The events of case id's history (GET /v1/cases/{id}/history, as the
 * admin), an array the caller frees. */
json_t *td_history(const struct td *t, const char *id);
/* A new token for role (scope may be NULL), made with the admin token;
 * the string stays valid for the next 15 calls. */
const char *td_token(const struct td *t, const char *role, const char *scope);

/* Runs a shell command; the output (stdout and stderr) goes into out.
 * Returns the exit status, or -1. */
int run_cmd(char *out, size_t outlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif
