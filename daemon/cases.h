/*
 * cases.h: the daemon's side of workflows: the registry of loaded
 * definitions and their versions, the per-family command serializer that
 * runs the engine and commits its effects in one batch, and the durable
 * timer service (one libuv timer, armed for the earliest due timer).
 */
#ifndef CAIRN_CASES_H
#define CAIRN_CASES_H

#include <jansson.h>
#include <uv.h>

#include "../workflows/workflow.h"

struct daemon;

struct wf_version {
	struct wf_def *def;
	int version;
};

struct wf_entry {
	char *name;
	struct wf_version *versions; /* ascending */
	int nversions;
	int current; /* index of the version new cases start on */
};

struct registry {
	struct wf_entry *entries;
	int n;
};

/*
 * Loads every workflow file of the configuration, gives each a version
 * (the stored number when its hash is known, the next one otherwise, then
 * recorded), and keeps older recorded versions runnable. Errors are logged
 * with file:line:column; returns the number of errors.
 */
int registry_load(struct daemon *d);
/*
 * The same while the loop runs (SIGHUP, the API): prepares the new
 * registry, records new versions without blocking the loop, and swaps the
 * registry in once they are durable; then calls done. Returns the number
 * of errors found before anything changed (done is then not called),
 * -EBUSY while another reload is under way, or 0.
 */
int registry_reload(struct daemon *d, void (*done)(int errors, void *arg),
                    void *arg);
void registry_free(struct registry *r);
/* version 0 means the current one */
const struct wf_version *registry_get(const struct registry *r,
                                      const char *name, int version);

/* Cases and timers. */
int cases_init(struct daemon *d);
void cases_close(struct daemon *d);
/* The daemon's clock: the wall clock plus the test clock's offset. */
int64_t cases_now(const struct daemon *d);
/* Whether a command, a timer scan or a migration is still running: the
 * store must not close under them. */
int cases_busy(const struct daemon *d);
/*
 * A command from inside the daemon (an institution's reply or callback,
 * an ISIR record, an expired lease): it takes the same path as an API
 * request: the case family's serializer, the engine, one batch, the
 * durable commit. Exactly one of case_id (send event `type`) and workflow
 * (create a case for subject) is set.
 */
struct store_batch;
struct cases_req {
	const char *case_id, *type;
	const char *workflow, *subject;
	const json_t *data; /* the event's or new case's data; may be NULL */
	unsigned role;      /* ROLE_BIT it acts as; 0: the system */
	const char *actor;  /* in the history: "adapter:uc_campus" */
	/* a replay with the same key answers the first reply again (a
	 * different type or data under it: 422); NULL: none */
	const char *idem_key;
	/* a create only, may be NULL: an event sent to the new case in the
	 * same command and batch, as role (the ISIR import routes a file
	 * selected for verification this way); then_data may be NULL */
	const char *then_type;
	const json_t *then_data;
	/* may add rows to the command's batch (row: the case as it will be
	 * committed); nonzero fails the command with 503, nothing changed */
	int (*extend)(struct store_batch *b, const json_t *row, void *arg);
	/* the outcome, always called once, after the commit: an HTTP status
	 * (200 event, 201 created, 404, 409, 422, 503) and the case view
	 * (JSON text) on success or what went wrong */
	void (*done)(int status, const char *body, void *arg);
	void *arg;
	/* done gets NULL instead of the case view on success, which is then
	 * never built (a bulk import saves serializing it); not with
	 * idem_key, whose record keeps the view */
	int no_view;
	/* with case_id: only record `type` and data in the case's history
	 * (hash-chained, the revision moves) without running the workflow:
	 * for what happened to a case rather than a request to move it */
	int note;
};
/* 0 (done will be called), or CAIRN_EINVALID, CAIRN_ENOTFOUND (no such
 * workflow), CAIRN_ECLOSED (stopping), -ENOMEM; done is then not
 * called. */
int cases_submit(struct daemon *d, const struct cases_req *r);

/* Fires every timer that is due and re-arms for the next. */
void cases_timers_scan(struct daemon *d);

#endif
