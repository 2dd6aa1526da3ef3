/*
 * daemon.h: the one context cairnd runs on, reached through handle->data,
 * and the API layer that turns requests into store operations.
 */
#ifndef CAIRN_DAEMON_H
#define CAIRN_DAEMON_H

#include <uv.h>

#include "../store/store.h"
#include "auth.h"
#include "cases.h"
#include "config.h"
#include "http.h"
#include "metrics.h"
#include "rules_host.h"

#define TOKEN_CACHE_SIZE   4096 /* slots; a direct-mapped cache */
#define TOKEN_CACHE_TTL_MS 10000

struct token_cache_entry {
	uint8_t hash[32];
	struct principal p;
	int64_t expires_ms; /* 0: empty */
};

struct daemon {
	uv_loop_t *loop;
	struct config cfg;
	struct store *store;
	struct http_server *http;
	struct metrics metrics;
	struct token_cache_entry *token_cache;
	uint64_t token_generation; /* bumped by every revocation */
	int stopping;
	uv_signal_t sigint, sigterm, sighup;
	uv_timer_t shutdown_timer;
	uv_timer_t idle_timer; /* waits for commands before the store closes */

	/* workflows and cases (cases.c) */
	struct registry reg;
	struct rules_host *rules;     /* rules_host.c */
	struct wf_campuses *campuses; /* NULL: no list configured */
	struct family *families;      /* commands queued per case family */
	struct famcache *famcache;    /* families as last committed */
	int nfamilies_busy;
	uv_timer_t wf_timer;  /* armed for the earliest due timer */
	int64_t wf_timer_due; /* 0: not armed */
	int timers_scanning;
	int timers_inflight;     /* a scan's timer commands not yet done */
	int timers_more;         /* the scan saw a full page: scan again */
	int64_t timers_next_due; /* the earliest timer after the scan's */
	int64_t timers_pending;  /* the earliest timer set during a scan */
	int timers_fired;        /* timer commands of this scan that worked */
	int migrations;          /* migrations running */
	int reloading;           /* a reload's versions are being recorded */
	int test_clock;          /* --test-clock: POST /v1/clock may move it */
	int64_t clock_offset_ms;

	/* institution adapters (adapters/outbox.c) */
	struct outbox *outbox; /* NULL until started */
	/* queues, leases, alerts (queues.c), alerts by email (alertmail.c) */
	struct queues *queues;
	struct alertmail *alertmail;

	int audits; /* GET /v1/audit/verify walks running (audit_api.c) */

	/* abuse limits (abuse.c): buckets, and 401s held back (api.c) */
	struct abuse *abuse;
	struct held_reply *held;
	/* the retention job (retention.c); NULL when off */
	struct retention *retention;
	struct stream_hub *streams; /* GET /v1/stream (stream.c); NULL
				       until the first stream */
};

/* The HTTP handler and observer for a daemon (data is the daemon). */
void api_handle(struct http_req *req, void *data);
void api_observe(const struct http_req *req, int status, double seconds,
                 void *data);

/* Sends every 401 held back for a bad token now (when stopping, so a
 * stop is not held up by them). */
void api_abuse_stop(struct daemon *d);

/* Forgets every cached token, e.g. after a revocation. */
void api_token_cache_clear(struct daemon *d);

/*
 * The body checks every JSON route shares: the content type must be
 * application/json (415), the text strict JSON (400, with the byte
 * position, line and column in e->extra), the value an object (422).
 * Returns 0 with *out set (the caller owns it), or -1 with e filled; the
 * caller owns e->extra (may be NULL).
 */
struct api_body_error {
	int status;
	const char *slug;
	char detail[300];
	json_t *extra;
};
int api_body_parse(const char *content_type, const char *body, size_t len,
                   json_t **out, struct api_body_error *e);

/* The routes, for tests and documentation. */
const struct route *api_routes(size_t *n);

#endif
