/*
 * storefix.h: an in-process store for the suites that test the store's
 * API directly (no cairnd): a fresh database in its own temporary
 * directory on a loop of the test's, and a catcher for a read's JSON.
 */
#ifndef CAIRN_TESTS_STOREFIX_H
#define CAIRN_TESTS_STOREFIX_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "../store/store.h"

/* Opens a store in a new /tmp/cairn-<name>-XXXXXX (its path in dir). */
void storefix_open(uv_loop_t *loop, struct store **st, char *dir, size_t dirlen,
                   const char *name);
/* Closes it, drains the loop and removes the directory. */
void storefix_close(uv_loop_t *loop, struct store *st, const char *dir);

/* A store read's outcome: storefix_json is its callback. */
struct storefix_got {
	int done, status;
	json_t *j; /* the caller's reference */
};
void storefix_json(int status, json_t *j, void *data);
/* Runs the loop until g has its outcome. */
void storefix_wait(uv_loop_t *loop, struct storefix_got *g);

#endif
