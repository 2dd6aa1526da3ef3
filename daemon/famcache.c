/*
 * famcache.c: recently committed case families, on the loop thread (see
 * famcache.h for why the rows here are what the store holds).
 *
 * The map is a jansson object: its keys keep the order they were set in,
 * so the first key is the family put longest ago, the one to evict.
 * Reading a family from the store cost the daemon more than anything else
 * per event (a thread-pool round trip, the SQL, and the JSON parse of
 * every row); a hit hands the rows over as they are, without a copy.
 */
#include <string.h>

#include "famcache.h"

/* families kept: a full cache in the events benchmark (1,280 families
 * busy) left cairnd at 49.5 MiB peak RSS */
#define FAMCACHE_DEFAULT_MAX 1024

struct famcache {
	json_t *map;  /* root id -> array of rows */
	json_t *seen; /* root ids read from the store once, not kept */
	size_t max;
	uint64_t hits, misses;
};

struct famcache *
famcache_new(size_t max)
{
	struct famcache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->map = json_object();
	c->seen = json_object();
	if (c->map == NULL || c->seen == NULL) {
		json_decref(c->map);
		json_decref(c->seen);
		free(c);
		return NULL;
	}
	c->max = max ? max : FAMCACHE_DEFAULT_MAX;
	return c;
}

void
famcache_free(struct famcache *c)
{
	if (c == NULL)
		return;
	json_decref(c->map);
	json_decref(c->seen);
	free(c);
}

json_t *
famcache_take(struct famcache *c, const char *root)
{
	json_t *rows;

	if (c == NULL || root == NULL || root[0] == '\0')
		return NULL;
	rows = json_object_get(c->map, root);
	if (rows == NULL) {
		c->misses++;
		return NULL;
	}
	json_incref(rows);
	json_object_del(c->map, root);
	c->hits++;
	return rows;
}

/* Removes the oldest keys of o until it has room for one more. */
static void
make_room(json_t *o, size_t max)
{
	while (json_object_size(o) >= max) {
		const char *oldest = json_object_iter_key(json_object_iter(o));

		if (oldest == NULL || json_object_del(o, oldest) != 0)
			break;
	}
}

int
famcache_admit(struct famcache *c, const char *root)
{
	if (c == NULL || root == NULL || root[0] == '\0')
		return 0;
	if (json_object_get(c->seen, root) != NULL) {
		json_object_del(c->seen, root);
		return 1;
	}
	/* the roots alone: 4 times as many as the families kept */
	make_room(c->seen, 4 * c->max);
	json_object_set_new_nocheck(c->seen, root, json_null());
	return 0;
}

void
famcache_put(struct famcache *c, const char *root, json_t *rows)
{
	if (c == NULL || root == NULL || root[0] == '\0' || rows == NULL) {
		json_decref(rows);
		return;
	}
	/* set anew, so it moves to the end: the most recent */
	json_object_del(c->map, root);
	make_room(c->map, c->max);
	json_object_set_new_nocheck(c->map, root, rows);
}

void
famcache_drop(struct famcache *c, const char *root)
{
	if (c != NULL && root != NULL)
		json_object_del(c->map, root);
}

void
famcache_clear(struct famcache *c)
{
	if (c != NULL)
		json_object_clear(c->map);
}

void
famcache_counts(const struct famcache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c ? c->hits : 0;
	*misses = c ? c->misses : 0;
}

/* --- rows in the store's shape ----------------------------------------- */

enum col_kind {
	COL_TEXT,    /* a string, never NULL */
	COL_TEXT_OR, /* a string or NULL */
	COL_OWNER,   /* a string; stored as '' when there is none */
	COL_INT,     /* an integer */
	COL_INT_OR,  /* an integer; 0 is stored as NULL */
	COL_DATA,    /* a JSON object, stored as its text */
	COL_HASH,    /* the chain head, a blob read back as hex */
};

/* The family read's columns (STORE_CASE_COLS in store/store.c), in its
 * order, with what the command's bindings (fam_flush) store for each. */
static const struct {
	const char *name;
	enum col_kind kind;
} cols[] = {
        {"id", COL_TEXT},           {"workflow", COL_TEXT},
        {"version", COL_INT},       {"status", COL_TEXT},
        {"data", COL_DATA},         {"parent_id", COL_TEXT_OR},
        {"root_id", COL_TEXT},      {"spawn_key", COL_TEXT_OR},
        {"subject", COL_TEXT},      {"owner", COL_OWNER},
        {"queue", COL_TEXT_OR},     {"due_at", COL_INT_OR},
        {"revision", COL_INT},      {"terminal", COL_INT},
        {"open_children", COL_INT}, {"history_seq", COL_INT},
        {"history_hash", COL_HASH}, {"created_at", COL_INT},
        {"updated_at", COL_INT},
};

static const char hexdigits[] = "0123456789abcdef";

static json_t *
col_value(json_t *v, enum col_kind kind, const uint8_t *hash)
{
	char hex[65];

	switch (kind) {
	case COL_TEXT:
		return json_is_string(v) ? json_incref(v) : NULL;
	case COL_TEXT_OR:
		return json_is_string(v) ? json_incref(v) : json_null();
	case COL_OWNER:
		return json_is_string(v) ? json_incref(v) : json_string("");
	case COL_INT:
		return json_is_integer(v) ? json_incref(v)
		                          : json_integer(json_integer_value(v));
	case COL_INT_OR:
		return json_integer_value(v) != 0
		               ? json_integer(json_integer_value(v))
		               : json_null();
	case COL_DATA:
		/* a fresh copy unless the row is its only holder: the next
		 * command changes these rows in place */
		if (!json_is_object(v))
			return NULL;
		return v->refcount == 1 ? json_incref(v) : json_deep_copy(v);
	case COL_HASH:
		if (hash == NULL) /* not written: as it was read */
			return json_is_string(v) ? json_incref(v) : json_null();
		for (int i = 0; i < 32; i++) {
			hex[2 * i] = hexdigits[hash[i] >> 4];
			hex[2 * i + 1] = hexdigits[hash[i] & 15];
		}
		hex[64] = '\0';
		return json_stringn_nocheck(hex, 64);
	}
	return NULL;
}

json_t *
famcache_row(json_t *row, const uint8_t *hash)
{
	json_t *out = json_object();

	if (out == NULL || !json_is_object(row))
		goto fail;
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		json_t *v = col_value(json_object_get(row, cols[i].name),
		                      cols[i].kind, hash);

		if (v == NULL ||
		    json_object_set_new_nocheck(out, cols[i].name, v) != 0)
			goto fail;
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}
