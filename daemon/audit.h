/*
 * audit.h: checking that the history nobody may rewrite was not
 * rewritten. Every case's events form a hash chain (daemon/cases.c,
 * fam_history): each event's hash covers the previous hash and every field
 * of the event, and the case row keeps the last sequence number and hash.
 * audit_verify walks every chain the database holds and names the first
 * broken link of each kind of chain.
 *
 * Chains are kinds listed in one table in audit.c (case history, and the
 * disclosure log: one chain of every read of a student's record), each a
 * walker over the store's read-only audit view.
 */
#ifndef CAIRN_AUDIT_H
#define CAIRN_AUDIT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/cairn.h"

/* The outcome for one kind of chain. */
struct audit_chain_result {
	const char *name;  /* "case history" */
	int64_t chains;    /* chains walked (cases) */
	int64_t links;     /* links checked (events) */
	int64_t broken;    /* chains with a broken link */
	char first[160];   /* the key of the first broken chain, or "" for
			      a log that is one chain (its link is first_seq) */
	int64_t first_seq; /* its first broken link; 0 for the chain's head */
	char what[512];    /* what differs there, for a person */
	/* SHA-256 over every chain's key, length and head hash, in key
	 * order: written down elsewhere, it shows later that no chain was
	 * rewritten as a whole, or removed, since */
	char anchor[65];
};

#define AUDIT_MAX_CHAINS 4

struct audit_report {
	struct audit_chain_result r[AUDIT_MAX_CHAINS];
	int n;
	double seconds;
};

/*
 * Verifies every chain in the database at path (read-only). Returns 0
 * when the walk completed (rep says whether anything is broken), or an
 * error code with err filled when the database could not be read.
 * cancel, if not NULL, is read between links: once it is nonzero the
 * walk stops and returns CAIRN_ECLOSED (another thread may set it).
 */
int audit_verify(const char *path, const atomic_int *cancel,
                 struct audit_report *rep, struct cairn_err *err);

/* 1 when rep found any broken chain. */
int audit_report_broken(const struct audit_report *rep);

/* {"ok", "seconds", "chains": [{"chain", "chains", "links", "broken",
 * "anchor", "first_broken": {"key", "seq", "what"}}]}: what the CLI's
 * --json and GET /v1/audit/verify print. */
json_t *audit_report_json(const struct audit_report *rep);

/*
 * The hash of one history event given the previous one (32 zero bytes
 * before a case's first event): SHA-256 over prev, then
 * "id\nseq\nat\nactor\ntype\nfrom\nto\nversion\n" (that line as
 * snprintf writes it into 512 bytes, as fam_history does), then the
 * payload's JSON text. Returns 0, or -1 when libcrypto fails.
 */
int audit_history_hash(const uint8_t prev[32], const char *case_id, int64_t seq,
                       int64_t at, const char *actor, const char *type,
                       const char *from, const char *to, int version,
                       const char *payload, uint8_t out[32]);

/*
 * Events written since retention (issue 7, item 7) enter the chain by
 * their payload's hash instead of its text: SHA-256 over prev, the same
 * line, then payload_hash (the SHA-256 of the payload's JSON text, kept
 * beside it). Once a retention purge empties the payload, the link still
 * verifies from payload_hash, and every other field is still covered.
 * Returns 0, or -1 when libcrypto fails.
 */
int audit_payload_hash(const char *payload, uint8_t out[32]);
int audit_history_hash2(const uint8_t prev[32], const char *case_id,
                        int64_t seq, int64_t at, const char *actor,
                        const char *type, const char *from, const char *to,
                        int version, const uint8_t payload_hash[32],
                        uint8_t out[32]);

/* The type of the event a retention purge appends; an emptied payload
 * with no such event after it in its chain is a break. */
#define AUDIT_PURGE_EVENT "retention.purged"

#endif
