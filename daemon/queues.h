/*
 * queues.h: review queues and their leases, counselors' caseloads, and
 * the alert inbox, on the daemon's side.
 *
 * A status that names a queue makes its cases work for the office that
 * owns them (the case's owner). Staff claim the next file in queue order
 * (deadline risk, priority, age) and hold it under a lease until they
 * decide, release it, or the lease runs out; an expired lease puts the
 * file back and is recorded in the case's history. While a lease runs,
 * only its holder may send staff events to the case.
 */
#ifndef CAIRN_QUEUES_H
#define CAIRN_QUEUES_H

#include <jansson.h>

struct daemon;
struct api_call;

/* Starts the lease timer (the first scan runs on the loop's first turn,
 * after the definitions are loaded). */
int queues_init(struct daemon *d);
void queues_close(struct daemon *d);
/* Whether a lease scan or its commands are still running. */
int queues_busy(const struct daemon *d);
/* Expires every lease that ran out by the daemon's clock, then re-arms. */
void queues_scan(struct daemon *d);

/* Whether counselor is among counselors (a JSON array of ids). */
int queues_in_caseload(const json_t *counselors, const char *counselor);
/* Whether the caller's events wait on a case's lease: every role but the
 * student's own and an institution's. */
int queues_lease_applies(const struct api_call *c);
/* When lease (a store lease object, or null) is held by someone else and
 * has not run out, replies 409 with the holder and the time it runs to,
 * and returns 1 (the call is then over); otherwise 0. */
int queues_lease_blocks(struct api_call *c, const json_t *lease);

#endif
