/*
 * stream.h: live updates as Server-Sent Events (GET /v1/stream).
 *
 * A client holds one long response open; each time a command commits,
 * every case it changed is offered to every open stream, and a stream
 * gets the case's new status only when the same scope rules as GET
 * /v1/cases/{id} let its token see that case (auth_authorize: a student
 * their own, a counselor their caseload, an office its own files). The
 * event carries no case data, only where the case is now, so a client
 * reads the case through the API for more. Streams are capped per token
 * and in total, kept alive with heartbeats, ended when their token is
 * revoked, and ended with a last event when cairnd stops.
 */
#ifndef CAIRN_STREAM_H
#define CAIRN_STREAM_H

#include <jansson.h>

struct daemon;

#define STREAM_HEARTBEAT_MS  15000 /* a comment line when nothing else */
#define STREAM_MAX_PER_TOKEN 8     /* a person's tabs and devices */
#define STREAM_MAX_TOTAL     1024
#define STREAM_CASELOAD_MS   30000 /* a counselor's caseload, re-read */

/* After a commit: row is a case as committed (the store's columns).
 * Costs nothing when no stream is open. Loop thread only. */
void stream_case_committed(struct daemon *d, const json_t *row);
/* Ends every stream opened with that token (it was just revoked). */
void stream_token_revoked(struct daemon *d, const char *token_id);
/* cairnd is stopping: each stream gets a last `shutdown` event and ends;
 * new streams are refused. */
void stream_stop(struct daemon *d);
/* Whether a caseload read is in flight: the store must not close. */
int stream_busy(const struct daemon *d);
/* Frees what is left once the loop has closed every handle. */
void stream_free(struct daemon *d);
/* Open streams, for tests and metrics. */
int stream_count(const struct daemon *d);

#endif
