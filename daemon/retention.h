/*
 * retention.h: the retention job (issue 7, item 7).
 *
 * With retention.closed_case_years set, once a day (retention.schedule,
 * UTC by the case clock, so a test moving the clock moves it too) the job
 * finds the cases in a terminal status whose last change is more than
 * that many years old and purges (or anonymizes) each: its events'
 * payloads are emptied, its data and subject replaced, its outbox rows,
 * leases, timers and alert texts dropped, and an event "retention.purged"
 * appended to its history, chained like any other. What stays is the
 * audit skeleton: ids, workflow, statuses, owner, times, every event's
 * fields and hashes, so `cairn audit verify` still holds.
 *
 * The job runs on the loop: it reads candidates a page at a time through
 * the store's read pool and writes each case in a batch of its own, a few
 * at a time, so an acknowledged write never waits behind more than a few
 * small transactions.
 */
#ifndef CAIRN_RETENTION_H
#define CAIRN_RETENTION_H

struct daemon;
struct api_call;

/* Arms the daily run when retention is configured. 0 or -ENOMEM. */
int retention_init(struct daemon *d);
/* The case clock moved (POST /v1/clock): a run now due starts. */
void retention_clock_moved(struct daemon *d);
/* Whether a run still has reads or writes in flight. */
int retention_busy(const struct daemon *d);
/* Stops the schedule (a run in flight stops after its current batches)
 * and, once not busy, frees the job. */
void retention_close(struct daemon *d);

#endif
