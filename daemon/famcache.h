/*
 * famcache.h: the committed state of recently written case families, kept
 * on the loop thread so that the next command on a family does not read
 * it back from the store.
 *
 * Every change to a case's stored columns is a command of this process
 * (daemon/cases.c), run under its family's lock and committed before the
 * lock passes on; so the rows a command leaves behind, once its batch has
 * committed, are what a read of the family would return. A command takes
 * its family out of the cache (nobody else can use it meanwhile) and puts
 * it back only after its commit; a command that fails leaves it out, and
 * the next one reads the store. The case updates still name the revision
 * they were read at, so a row whose revision was changed behind the
 * daemon's back (an sqlite3 shell while it runs) fails the command with
 * 409; an edit that leaves the revision alone is not seen by a cached
 * family until a restart, which is why the database is not to be edited
 * while cairnd runs.
 */
#ifndef CAIRN_FAMCACHE_H
#define CAIRN_FAMCACHE_H

#include <stdint.h>

#include <jansson.h>

struct famcache;

/* A cache of at most max families (0: the default). NULL when out of
 * memory (the daemon then reads every family, as before). */
struct famcache *famcache_new(size_t max);
void famcache_free(struct famcache *c);

/* The family of root as a store_family_get result (an array of rows,
 * oldest first), removed from the cache: the caller owns it. NULL when it
 * is not cached. */
json_t *famcache_take(struct famcache *c, const char *root);

/* Keeps rows (an array the cache takes) as the family of root; the least
 * recently put family leaves when the cache is full. rows must be in the
 * store's shape: see famcache_row. */
void famcache_put(struct famcache *c, const char *root, json_t *rows);

/*
 * Whether a family that was read from the store should be kept: 1 when
 * root was read once before (recently) and not kept then. A family is
 * kept from its second read on: most families see a few commands in a
 * season, days apart, and keeping each one after every command only
 * churned the heap (1,024 families are a quarter of a million small
 * allocations); a family busy now is read twice and then kept.
 */
int famcache_admit(struct famcache *c, const char *root);

/* Forgets the family of root, if cached. */
void famcache_drop(struct famcache *c, const char *root);
/* Forgets every family: for a writer other than a command (the retention
 * job's purges), which does not know the families it touched. */
void famcache_clear(struct famcache *c);

/*
 * Row in the shape a read of the store gives it (the columns of the
 * family read in their order, NULL columns as null, the chain head as
 * hex), from a row a command committed; hash is the chain head it
 * wrote (32 bytes), or NULL for a row it did not write (its head stays as
 * read). Returns a new reference, or NULL when the row cannot be described
 * (the family is then not cached).
 */
json_t *famcache_row(json_t *row, const uint8_t *hash);

/* Lookups answered and missed, for the metrics and the tests. */
void famcache_counts(const struct famcache *c, uint64_t *hits,
                     uint64_t *misses);

#endif
