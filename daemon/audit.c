/*
 * audit.c: the walkers behind `cairn audit verify`.
 *
 * A walker keeps the state of the chain it is in (the expected next
 * sequence number and the hash so far) and judges each link as the store
 * hands it over; the first thing that differs in a chain breaks it, and
 * the rest of that chain is not judged (everything after a broken link
 * would differ too). The walk goes on to the next chain so the report can
 * say how many are broken, naming the first.
 */
#include "audit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <uv.h>

#include "../store/store.h"

/* The head line of an event: each field and a newline, cut at 511 bytes
 * as snprintf into a 512-byte buffer cuts it. */
struct line {
	char buf[512];
	size_t len;
};

static void
line_put(struct line *l, const char *s, size_t n)
{
	size_t room = sizeof(l->buf) - 1 - l->len;

	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
line_str(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
	line_put(l, "\n", 1);
}

static void
line_int(struct line *l, int64_t v)
{
	char digits[24];
	size_t i = sizeof(digits);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	digits[--i] = '\n';
	do {
		digits[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		digits[--i] = '-';
	line_put(l, digits + i, sizeof(digits) - i);
}

/* The hash with a digest context and SHA-256 implementation the caller
 * keeps: fetching SHA-256 and allocating a context for each of millions
 * of events cost more than the hashing. */
static int
history_hash(EVP_MD_CTX *md, const EVP_MD *sha, const uint8_t prev[32],
             const char *case_id, int64_t seq, int64_t at, const char *actor,
             const char *type, const char *from, const char *to, int version,
             const void *payload, size_t payload_len, uint8_t out[32])
{
	/* must stay byte for byte what fam_history hashes: its snprintf
	 * into 512 bytes, written out here because snprintf was a fifth of
	 * the whole walk */
	struct line head = {.len = 0};
	unsigned int n = 32;

	line_str(&head, case_id);
	line_int(&head, seq);
	line_int(&head, at);
	line_str(&head, actor);
	line_str(&head, type);
	line_str(&head, from ? from : "");
	line_str(&head, to ? to : "");
	line_int(&head, version);
	if (EVP_DigestInit_ex(md, sha, NULL) != 1 ||
	    EVP_DigestUpdate(md, prev, 32) != 1 ||
	    EVP_DigestUpdate(md, head.buf, head.len) != 1 ||
	    EVP_DigestUpdate(md, payload, payload_len) != 1 ||
	    EVP_DigestFinal_ex(md, out, &n) != 1)
		return -1;
	return 0;
}

int
audit_history_hash(const uint8_t prev[32], const char *case_id, int64_t seq,
                   int64_t at, const char *actor, const char *type,
                   const char *from, const char *to, int version,
                   const char *payload, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = md ? history_hash(md, EVP_sha256(), prev, case_id, seq, at,
	                           actor, type, from, to, version, payload,
	                           strlen(payload), out)
	            : -1;

	EVP_MD_CTX_free(md);
	return rc;
}

int
audit_payload_hash(const char *payload, uint8_t out[32])
{
	unsigned int n = 32;

	return EVP_Digest(payload, strlen(payload), out, &n, EVP_sha256(),
	                  NULL) == 1
	               ? 0
	               : -1;
}

int
audit_history_hash2(const uint8_t prev[32], const char *case_id, int64_t seq,
                    int64_t at, const char *actor, const char *type,
                    const char *from, const char *to, int version,
                    const uint8_t payload_hash[32], uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = md ? history_hash(md, EVP_sha256(), prev, case_id, seq, at,
	                           actor, type, from, to, version, payload_hash,
	                           32, out)
	            : -1;

	EVP_MD_CTX_free(md);
	return rc;
}

static void
hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* --- what every chain walker shares ----------------------------------- */

/* The first member of each walker's state. */
struct walk {
	struct audit_chain_result *res;
	const atomic_int *cancel;
	int cancelled;
	int failed;      /* libcrypto failed: the walk is void */
	const char *key; /* the chain being judged (NULL: the only one) */
	int broken;      /* this chain broke already */
};

/* Records a break in the current chain: the result counts it and names
 * the first one. */
__attribute__((format(printf, 3, 4))) static void
walk_break(struct walk *w, int64_t seq, const char *fmt, ...)
{
	struct audit_chain_result *r = w->res;
	va_list ap;

	w->broken = 1;
	if (r->broken++ > 0)
		return;
	snprintf(r->first, sizeof(r->first), "%s", w->key ? w->key : "");
	r->first_seq = seq;
	va_start(ap, fmt);
	vsnprintf(r->what, sizeof(r->what), fmt, ap);
	va_end(ap);
}

/* 1, and the walk ends as stopped, when the caller asked it to stop. */
static int
walk_stopped(struct walk *w)
{
	if (w->cancel != NULL &&
	    atomic_load_explicit(w->cancel, memory_order_relaxed)) {
		w->cancelled = 1;
		return 1;
	}
	return 0;
}

/* The status of a walk the store finished with rc: a stop or a libcrypto
 * failure on the way makes it void. */
static int
walk_status(const struct walk *w, int rc, struct cairn_err *err)
{
	if (rc == 0 && w->cancelled) {
		cairn_err_set(err, "", 0, 0, "the walk was stopped");
		return CAIRN_ECLOSED;
	}
	if (rc == 0 && w->failed) {
		cairn_err_set(err, "", 0, 0, "SHA-256 failed");
		return -ENOMEM;
	}
	return rc;
}

/* 0 when link seq follows last; else 1, with where the chain breaks in
 * *at and why in what ("event"s of a "history", "row"s of a "log"). */
static int
seq_gap(int64_t last, int64_t seq, const char *item, const char *chain,
        int64_t *at, char *what, size_t cap)
{
	if (seq == last + 1)
		return 0;
	if (seq > last + 1) {
		*at = last + 1;
		snprintf(what, cap,
		         "%s %lld is missing: the %s goes from %lld "
		         "to %lld",
		         item, (long long)(last + 1), chain, (long long)last,
		         (long long)seq);
	} else {
		*at = seq;
		snprintf(what, cap,
		         "%s %lld is out of order: %ss are numbered "
		         "from 1",
		         item, (long long)seq, item);
	}
	return 1;
}

/* 0 when the stored hash is h; else 1, with both for the message in hex
 * (a stored hash of the wrong size as its size). */
static int
hash_differs(const uint8_t h[32], const uint8_t *stored, size_t len,
             char want[65], char got[65])
{
	if (len == 32 && memcmp(h, stored, 32) == 0)
		return 0;
	hex(h, 32, want);
	if (len == 32)
		hex(stored, 32, got);
	else
		snprintf(got, 65, "(%zu bytes)", len);
	return 1;
}

/* --- case history ------------------------------------------------------ */

struct hist_walk {
	struct walk b; /* first */
	EVP_MD_CTX *anchor;
	EVP_MD_CTX *md; /* reused for every link */
	EVP_MD *sha;
	uint8_t hash[32]; /* the chain so far */
	int64_t seq;      /* the last event judged */
	int64_t purged;   /* the last event whose payload was emptied */
	int64_t purge;    /* the last retention purge event */
};

static int
hist_link(const struct store_chain_link *l, void *arg)
{
	struct hist_walk *w = arg;
	uint8_t h[32];
	char want[65], got[65], why[sizeof(w->b.res->what)];
	int64_t at;

	if (walk_stopped(&w->b))
		return 1;
	if (w->b.broken)
		return 0;
	w->b.res->links++;
	w->b.key = l->key;
	if (seq_gap(w->seq, l->seq, "event", "history", &at, why,
	            sizeof(why))) {
		walk_break(&w->b, at, "%s", why);
		return 0;
	}
	w->seq = l->seq;
	if (l->payload_hash_len != 0 && l->payload_hash_len != 32) {
		walk_break(&w->b, l->seq,
		           "event %lld has a payload hash of %zu bytes",
		           (long long)l->seq, l->payload_hash_len);
		return 0;
	}
	if (l->payload_hash_len == 32 && l->payload[0] != '\0') {
		/* the payload must be the one its hash was taken of */
		uint8_t ph[32];
		unsigned int n = 32;

		if (EVP_DigestInit_ex(w->md, w->sha, NULL) != 1 ||
		    EVP_DigestUpdate(w->md, l->payload, strlen(l->payload)) !=
		            1 ||
		    EVP_DigestFinal_ex(w->md, ph, &n) != 1) {
			w->b.failed = 1;
			return 1;
		}
		if (memcmp(ph, l->payload_hash, 32) != 0) {
			walk_break(
			        &w->b, l->seq,
			        "event %lld (%s): its payload does not match "
			        "its hash (the payload was changed)",
			        (long long)l->seq, l->type);
			return 0;
		}
	}
	if (l->payload_hash_len == 32 && l->payload[0] == '\0')
		w->purged = l->seq;
	if (strcmp(l->type, AUDIT_PURGE_EVENT) == 0)
		w->purge = l->seq;
	if (l->payload_hash_len == 32
	            ? history_hash(w->md, w->sha, w->hash, l->key, l->seq,
	                           l->at, l->actor, l->type, l->from_status,
	                           l->to_status, l->version, l->payload_hash,
	                           32, h)
	            : history_hash(w->md, w->sha, w->hash, l->key, l->seq,
	                           l->at, l->actor, l->type, l->from_status,
	                           l->to_status, l->version, l->payload,
	                           strlen(l->payload), h)) {
		w->b.failed = 1;
		return 1;
	}
	if (hash_differs(h, l->hash, l->hash_len, want, got)) {
		walk_break(
		        &w->b, l->seq,
		        "event %lld (%s) does not match its hash: stored "
		        "%.16s..., its fields and the chain before it give "
		        "%.16s... (this event, or one before it, was changed "
		        "or reordered)",
		        (long long)l->seq, l->type, got, want);
		return 0;
	}
	memcpy(w->hash, h, 32);
	return 0;
}

static const uint8_t zero_hash[32];

static int
hist_head(const struct store_chain_head *h, void *arg)
{
	struct hist_walk *w = arg;
	char line[256];
	int n;

	if (walk_stopped(&w->b))
		return 1;
	w->b.res->chains++;
	w->b.key = h->key;
	if (!w->b.broken) {
		if (!h->found)
			walk_break(
			        &w->b, 0,
			        "history of %lld events for a case that does "
			        "not exist (its row was deleted)",
			        (long long)w->seq);
		else if (h->seq > w->seq)
			walk_break(&w->b, w->seq + 1,
			           "the case records %lld events but its "
			           "history ends at %lld (events were deleted)",
			           (long long)h->seq, (long long)w->seq);
		else if (h->seq < w->seq)
			walk_break(&w->b, h->seq + 1,
			           "the case records %lld events but its "
			           "history holds %lld",
			           (long long)h->seq, (long long)w->seq);
		else if (w->seq == 0 ? (h->hash != NULL &&
		                        (h->hash_len != 32 ||
		                         memcmp(h->hash, zero_hash, 32) != 0))
		                     : (h->hash == NULL || h->hash_len != 32 ||
		                        memcmp(h->hash, w->hash, 32) != 0))
			walk_break(&w->b, 0,
			           "the case's recorded head hash is not the "
			           "hash of its last event (%lld)",
			           (long long)w->seq);
		else if (w->purged != 0 && w->purged >= w->purge)
			/* a payload emptied outside a recorded purge: the
			 * link verifies from its hash, but the data is gone
			 * without the history saying so */
			walk_break(&w->b, w->purged,
			           "event %lld's payload was removed, and no "
			           "retention purge after it records that",
			           (long long)w->purged);
	}
	/* the anchor covers what the database says, broken or not */
	n = snprintf(line, sizeof(line), "%s\n%lld\n", h->key,
	             (long long)(h->found ? h->seq : -1));
	if (EVP_DigestUpdate(w->anchor, line, (size_t)n) != 1 ||
	    EVP_DigestUpdate(w->anchor,
	                     h->hash && h->hash_len == 32 ? h->hash : zero_hash,
	                     32) != 1) {
		w->b.failed = 1;
		return 1;
	}
	memset(w->hash, 0, sizeof(w->hash));
	w->seq = 0;
	w->b.broken = 0;
	w->purged = w->purge = 0;
	return 0;
}

static int
verify_case_history(struct store_audit *a, const atomic_int *cancel,
                    struct audit_chain_result *r, struct cairn_err *err)
{
	static const struct store_chain_ops ops = {hist_link, hist_head};
	struct hist_walk w;
	uint8_t digest[32];
	unsigned int n = 32;
	int rc;

	memset(&w, 0, sizeof(w));
	w.b.res = r;
	w.b.cancel = cancel;
	w.anchor = EVP_MD_CTX_new();
	w.md = EVP_MD_CTX_new();
	w.sha = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (w.anchor == NULL || w.md == NULL || w.sha == NULL ||
	    EVP_DigestInit_ex(w.anchor, w.sha, NULL) != 1) {
		EVP_MD_CTX_free(w.anchor);
		EVP_MD_CTX_free(w.md);
		EVP_MD_free(w.sha);
		cairn_err_set(err, "", 0, 0, "SHA-256 is not available");
		return -ENOMEM;
	}
	rc = walk_status(&w.b, store_audit_case_chains(a, &ops, &w, err), err);
	if (rc == 0 && EVP_DigestFinal_ex(w.anchor, digest, &n) == 1)
		hex(digest, 32, r->anchor);
	EVP_MD_CTX_free(w.anchor);
	EVP_MD_CTX_free(w.md);
	EVP_MD_free(w.sha);
	return rc;
}

/* --- the disclosure log ------------------------------------------------ */

/*
 * The log is one chain in seq order (store.h, "the disclosure log"): a
 * row changed, deleted, inserted or reordered breaks it at that row; rows
 * cut from its end are caught by the head kept in meta, which the last
 * row must match.
 */
struct disc_walk {
	struct walk b; /* first */
	uint8_t hash[32];
	int64_t seq;
};

static int
disc_link(const struct store_disclosure_link *l, void *arg)
{
	struct disc_walk *w = arg;
	uint8_t h[32];
	char want[65], got[65], why[sizeof(w->b.res->what)];
	int64_t at;

	if (walk_stopped(&w->b))
		return 1;
	w->b.res->links++;
	if (seq_gap(w->seq, l->seq, "row", "log", &at, why, sizeof(why))) {
		walk_break(&w->b, at, "%s", why);
		return 1;
	}
	if (store_disclosure_hash(w->hash, l->seq, &l->d, h) != 0) {
		w->b.failed = 1;
		return 1;
	}
	if (hash_differs(h, l->hash, l->hash_len, want, got)) {
		walk_break(
		        &w->b, l->seq,
		        "row %lld (%s read case %s through %s) does not "
		        "match its hash: stored %.16s..., its fields and the "
		        "chain before it give %.16s... (this row, or one "
		        "before it, was changed)",
		        (long long)l->seq, l->d.role, l->d.case_id, l->d.route,
		        got, want);
		return 1;
	}
	w->seq = l->seq;
	memcpy(w->hash, h, 32);
	return 0;
}

static int
verify_disclosures(struct store_audit *a, const atomic_int *cancel,
                   struct audit_chain_result *r, struct cairn_err *err)
{
	struct store_disclosure_head head;
	struct disc_walk w;
	char want[128], line[48];
	uint8_t digest[32];
	unsigned int n = 32;
	int rc;

	memset(&w, 0, sizeof(w));
	w.b.res = r;
	w.b.cancel = cancel;
	rc = walk_status(&w.b,
	                 store_audit_disclosures(a, disc_link, &w, &head, err),
	                 err);
	if (rc != 0)
		return rc;
	r->chains = head.exists && (r->links > 0 || head.recorded) ? 1 : 0;
	if (!r->broken && head.exists) {
		hex(w.hash, 32,
		    want + snprintf(want, 24, "%lld:", (long long)w.seq));
		if (!head.recorded && w.seq > 0)
			walk_break(&w.b, w.seq,
			           "the log has %lld rows but no recorded head "
			           "(meta disclosure_head was deleted)",
			           (long long)w.seq);
		else if (head.recorded && strcmp(head.value, want) != 0)
			walk_break(
			        &w.b, w.seq + 1,
			        "the recorded head is %.40s... but the log "
			        "ends at row %lld (rows were deleted from its "
			        "end, or the head was changed)",
			        head.value, (long long)w.seq);
	}
	/* the anchor: the length and the last hash, as the database says */
	n = (unsigned)snprintf(line, sizeof(line), "%lld\n", (long long)w.seq);
	{
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		unsigned int dn = 32;

		if (md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
		    EVP_DigestUpdate(md, line, n) &&
		    EVP_DigestUpdate(md, w.hash, 32) &&
		    EVP_DigestFinal_ex(md, digest, &dn))
			hex(digest, 32, r->anchor);
		EVP_MD_CTX_free(md);
	}
	return 0;
}

/* --- every kind of chain ----------------------------------------------- */

static const struct {
	const char *name;
	int (*verify)(struct store_audit *a, const atomic_int *cancel,
	              struct audit_chain_result *r, struct cairn_err *err);
} chains[] = {
        {"case history", verify_case_history},
        {"disclosure log", verify_disclosures},
};
_Static_assert(sizeof(chains) / sizeof(chains[0]) <= AUDIT_MAX_CHAINS,
               "struct audit_report holds every kind of chain");

int
audit_verify(const char *path, const atomic_int *cancel,
             struct audit_report *rep, struct cairn_err *err)
{
	struct store_audit *a;
	uint64_t t0 = uv_hrtime();
	int rc;

	memset(rep, 0, sizeof(*rep));
	rc = store_audit_open(path, &a, err);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
		struct audit_chain_result *r = &rep->r[rep->n++];

		r->name = chains[i].name;
		rc = chains[i].verify(a, cancel, r, err);
		if (rc != 0)
			break;
	}
	store_audit_close(a);
	rep->seconds = (double)(uv_hrtime() - t0) / 1e9;
	return rc;
}

int
audit_report_broken(const struct audit_report *rep)
{
	for (int i = 0; i < rep->n; i++)
		if (rep->r[i].broken)
			return 1;
	return 0;
}

json_t *
audit_report_json(const struct audit_report *rep)
{
	json_t *list = json_array();

	for (int i = 0; i < rep->n; i++) {
		const struct audit_chain_result *r = &rep->r[i];
		json_t *c = json_pack(
		        "{s:s, s:I, s:I, s:I, s:s}", "chain", r->name, "chains",
		        (json_int_t)r->chains, "links", (json_int_t)r->links,
		        "broken", (json_int_t)r->broken, "anchor", r->anchor);

		if (c != NULL && r->broken)
			json_object_set_new(c, "first_broken",
			                    json_pack("{s:s, s:I, s:s}", "key",
			                              r->first, "seq",
			                              (json_int_t)r->first_seq,
			                              "what", r->what));
		json_array_append_new(list, c);
	}
	return json_pack("{s:b, s:f, s:o}", "ok", !audit_report_broken(rep),
	                 "seconds", rep->seconds, "chains", list);
}
