/*
 * adapter.h: institution adapter definitions (YAML files in the adapter directories, described
 * in docs/adapters.md): where an institution's system is, how Cairn
 * authenticates to it, the operations it offers (method, path, headers, a
 * JSON body built from case data, how a reply maps to an event on the
 * case), and the limits that keep Cairn a good client: timeouts, a retry
 * policy, a circuit breaker, a concurrency limit and a rate limit. Also the
 * pure pieces of delivery that tests check without a network: templates,
 * backoff, the breaker, and the HMAC-SHA256 signature scheme shared by
 * inbound callbacks and signed outbound calls.
 *
 * Secrets (credentials, callback and signing keys) are named by reference
 * (an environment variable or a file) and read when a definition is loaded;
 * their values are kept only in memory and never printed.
 */
#ifndef CAIRN_ADAPTER_H
#define CAIRN_ADAPTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/cairn.h"

typedef void (*adp_report_cb)(const struct cairn_err *e, int warning,
                              void *data);

/* A secret by reference. value is NULL when the variable is unset or the
 * file unreadable; why then says which, for a per-call error. */
struct adp_secret {
	char *env, *file; /* exactly one is set when the secret is */
	char *value;
	size_t len;
	char why[160];
};

struct adp_op {
	char *name;
	char *method;     /* "POST", ... */
	char *path;       /* may hold ${...} references */
	json_t *headers;  /* {name: template string}; may be NULL */
	json_t *body;     /* a JSON template; NULL: no body */
	char *resp_event; /* a fixed event name, or a "$response.x" reference;
			     NULL: the reply maps to no event */
	json_t *resp_events; /* names allowed when resp_event is a reference */
	json_t *resp_data;   /* the event's data template; may be NULL */
	char *on_failure;    /* the event a dead letter sends ("call_failed") */
};

struct adp_def {
	char *name, *file;
	char *description;
	char *base_url; /* http:// or https://, no trailing '/' */
	char *cred_header, *cred_scheme;
	struct adp_secret cred; /* no env/file: no credentials */
	struct adp_secret sign; /* signs outbound calls when set */
	struct adp_secret callback_secret;
	int64_t callback_window_ms;
	json_t *callback_events; /* names a callback may send; NULL: any */
	int64_t connect_timeout_ms, timeout_ms;
	int max_attempts;
	int64_t backoff_initial_ms, backoff_max_ms;
	double backoff_multiplier, jitter; /* jitter: 0..1 of the delay */
	int concurrency;
	double rate_per_sec; /* 0: no rate limit */
	int rate_burst;
	int breaker_failures; /* consecutive failures that open it */
	int64_t breaker_open_ms;
	int64_t max_response_bytes;
	struct adp_op *ops;
	int nops;
};

/*
 * Loads and validates one adapter file. Every problem goes to cb with
 * file:line:column (warnings too, e.g. a secret variable that is not set
 * here). Returns 0 and *out (adp_def_free), or a negative code when there
 * was an error (then *out is NULL). out may be NULL to only check.
 */
int adp_def_load(const char *path, adp_report_cb cb, void *data,
                 struct adp_def **out);
void adp_def_free(struct adp_def *d);
const struct adp_op *adp_op_find(const struct adp_def *d, const char *name);

/* Every adapter under the directories (recursively, *.yaml and *.yml),
 * shared by reference between the worker and the calls it has in
 * flight. */
struct adp_set {
	struct adp_def **v;
	int n;
	int refs;
};
int adp_set_load(const char *const *dirs, int ndirs, adp_report_cb cb,
                 void *data, struct adp_set **out);
const struct adp_def *adp_set_find(const struct adp_set *s, const char *name);
struct adp_set *adp_set_ref(struct adp_set *s);
void adp_set_unref(struct adp_set *s);

/*
 * Templates. A string that is exactly "$source.path" (or "$source.path?":
 * optional) is replaced by that value; "$$x" is the literal "$x"; inside
 * path and header strings "${source.path}" is replaced by the value as
 * text. Sources: data (the case data the call carries; "payload" is the
 * same), case_id, idempotency_key, adapter, operation, now, and, in a
 * reply mapping only, response and status.
 */
struct adp_ctx {
	const json_t *data; /* the outbox row's payload */
	const char *case_id;
	const char *idem_key;
	const char *adapter, *operation;
	int64_t now_ms;
	const json_t *response; /* NULL outside a reply mapping */
	int status;
};
/* 0 and *out, or -1 with err saying which field is missing. */
int adp_render(const json_t *tmpl, const struct adp_ctx *ctx, json_t **out,
               char *err, size_t errlen);
/* The same for a path or header string; *out is malloc'd. */
int adp_render_str(const char *tmpl, const struct adp_ctx *ctx, char **out,
                   char *err, size_t errlen);

/* The delay before attempt number `attempt` (1: the first retry): the
 * initial delay times multiplier^(attempt-1), capped, less up to `jitter`
 * of it chosen by rnd (uniform over 32 bits). */
int64_t adp_backoff_ms(const struct adp_def *d, int attempt, uint32_t rnd);

/* A circuit breaker. Closed: calls go. After breaker_failures failures in
 * a row it opens for breaker_open_ms; then one probe goes (half-open): its
 * success closes it, its failure opens it again. */
enum adp_breaker_state { ADP_CLOSED, ADP_OPEN, ADP_HALF_OPEN };
struct adp_breaker {
	enum adp_breaker_state state;
	int failures;
	int64_t open_until;
	int probing; /* a half-open probe is in flight */
};
/* 1 if a call may start now (taking the probe when half-open). */
int adp_breaker_allow(struct adp_breaker *b, int64_t now);
void adp_breaker_record(struct adp_breaker *b, const struct adp_def *d, int ok,
                        int64_t now);
const char *adp_breaker_name(enum adp_breaker_state s);

/* HMAC-SHA256 over "<timestamp>.<body>" as lowercase hex (65 bytes with
 * the NUL). The header carries "sha256=<hex>". */
int adp_sign(const struct adp_secret *s, const char *timestamp,
             const char *body, size_t len, char hex[65]);
/* 1 if header ("sha256=<hex>") is the signature of timestamp and body,
 * compared in constant time. */
int adp_verify(const struct adp_secret *s, const char *timestamp,
               const char *body, size_t len, const char *header);

#endif
