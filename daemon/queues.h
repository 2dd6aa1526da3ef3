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
#include <stdint.h>

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

/*
 * The SLA ladder of a case entering a queued status due at `due`, one
 * timer at a time: sla.warning (queues.sla_warn_before earlier, when that
 * is still ahead), then sla.due, then sla.escalate
 * (queues.sla_escalate_after later), each step setting the next when it
 * fires. *earliest is lowered to the timer set. Returns 0 or -ENOMEM.
 */
struct store_batch;
int queues_sla_timers(const struct daemon *d, struct store_batch *b,
                      const char *case_id, int64_t now, int64_t due,
                      int64_t *earliest);
/* Whether a timer is one of the ladder's. */
int queues_is_sla_timer(const char *name);
/* The ladder's step for timer on the case row: an alert to the office
 * (warning, then critical), or to its supervisor, deduplicated by kind
 * and resolved when the case leaves the status like any alert; and the
 * next step's timer (*earliest lowered to it). */
int queues_sla_alert(const struct daemon *d, struct store_batch *b,
                     const json_t *row, const char *timer, int64_t now,
                     int64_t *earliest);

/*
 * When a case entering a status is due (0: never): its SLA from now (in
 * business days of its award year's calendar when queues.sla_business_days
 * is set), or, for a queued status, the deadline its data names
 * ("deadline", in the calendar of data's "award_year" or the newest open
 * one) when that comes first.
 */
int64_t queues_due_at(const struct daemon *d, int64_t sla_ms, int queued,
                      const json_t *data, int64_t now);

/* Whether cases in status s of def can have open alerts raised there: it
 * names a queue (the SLA ladder), or an alert action enters it (its
 * on_enter, or a transition that can lead to it). */
struct wf_def;
int queues_status_may_alert(const struct wf_def *def, int s);

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
