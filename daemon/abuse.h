/*
 * abuse.h: the abuse limits (issue 7, item 6): token buckets per token and
 * per client address, and a count of bad tokens per address that slows
 * that address's 401s down and then refuses it with 429.
 *
 * Everything lives in memory and is touched only on the loop thread: no
 * locks, no I/O. Each kind of key has a fixed table of sets of a few
 * slots, keyed by a hash with a secret seed so a client cannot aim its
 * keys at another's slot; when a set is full the slot idle longest is
 * reused (it had refilled by then, or its failures had been forgiven).
 */
#ifndef CAIRN_ABUSE_H
#define CAIRN_ABUSE_H

#include <stdint.h>

#include "config.h"

enum abuse_kind {
	ABUSE_TOKEN = 0,
	ABUSE_ADDRESS,
	ABUSE_BAD_TOKEN,
	ABUSE_KINDS
};

struct abuse;

/* A limiter for the limits in cfg (copied). NULL when out of memory. */
struct abuse *abuse_new(const struct abuse_limits *cfg);
void abuse_free(struct abuse *a);

/*
 * Takes one request from key's bucket (kind ABUSE_TOKEN or ABUSE_ADDRESS)
 * at now_ms (a monotonic clock): 0 when it may go on, else the whole
 * seconds until the bucket holds a request again (at least 1), for
 * Retry-After. A rate of 0 in the configuration never limits.
 */
int abuse_take(struct abuse *a, enum abuse_kind kind, const char *key,
               int64_t now_ms);

/*
 * Counts a bad token from addr: the milliseconds its 401 is to be held
 * back (0 for the first bad_token_free, then bad_token_delay doubling per
 * failure up to bad_token_max_delay).
 */
int64_t abuse_bad_token(struct abuse *a, const char *addr, int64_t now_ms);

/* 0, or, once addr has bad_token_block failures not yet forgiven, the
 * whole seconds until one more is forgiven (Retry-After). */
int abuse_blocked(struct abuse *a, const char *addr, int64_t now_ms);

#endif
