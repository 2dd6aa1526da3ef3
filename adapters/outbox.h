/*
 * outbox.h: the worker that delivers the outbox: institution calls written
 * in the same transaction as the transition that caused them, sent with
 * libcurl's multi interface on the daemon's loop (no thread of its own,
 * nothing blocking), retried with backoff and jitter behind a circuit
 * breaker per adapter, and either delivered (the reply's event goes to the
 * case in the same transaction as the "delivered" mark) or dead-lettered
 * (an event on the case and an alert to the admin role).
 *
 * Threading: every function runs on the daemon's loop thread.
 */
#ifndef CAIRN_OUTBOX_H
#define CAIRN_OUTBOX_H

#include <jansson.h>

#include "adapter.h"

struct daemon;

/* Loads the adapter definitions of d->cfg and starts the worker, which
 * scans for due rows at once (those a crash left behind). Returns 0, or a
 * negative code after logging the definitions' errors. */
int outbox_start(struct daemon *d);
/* Loads the definitions again (SIGHUP); calls in flight finish with the
 * definitions they started with. Returns 0, or an error (nothing
 * changed). */
int outbox_reload(struct daemon *d);
/* New rows were committed: look for due rows soon. */
void outbox_wake(struct daemon *d);
/* Abandons the calls in flight (their rows stay pending, due again at the
 * next start) and closes the worker's handles. */
void outbox_stop(struct daemon *d);
/* Whether a commit the worker started is still running. */
int outbox_busy(const struct daemon *d);
/* Frees the worker once it is stopped and no longer busy. */
void outbox_free(struct daemon *d);

/* The loaded adapter with that name, or NULL. */
const struct adp_def *outbox_adapter(const struct daemon *d, const char *name);
/* Every loaded adapter's live figures, by name: {name: {breaker, in_flight,
 * queued, attempts, delivered, failed, dead, success_rate, latency_ms:
 * {p50, p90, p99}}}. The caller owns the result. */
json_t *outbox_live_json(const struct daemon *d);

/* Prometheus text for the adapters (calls by outcome, in flight, queued,
 * breaker state); malloc'd, or NULL when out of memory. */
char *outbox_metrics_text(const struct daemon *d);

#endif
