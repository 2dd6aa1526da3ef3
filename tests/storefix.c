/*
 * storefix.c: the in-process store fixture (storefix.h).
 */
#include "storefix.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

void
storefix_open(uv_loop_t *loop, struct store **st, char *dir, size_t dirlen,
              const char *name)
{
	struct store_opts o = {0};
	struct cairn_err err = {0};
	char path[256];

	snprintf(dir, dirlen, "/tmp/cairn-%s-XXXXXX", name);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/c.db", dir);
	o.path = path;
	uv_loop_init(loop);
	cr_assert_eq(store_open(loop, &o, st, &err), 0, "%s", err.msg);
}

void
storefix_close(uv_loop_t *loop, struct store *st, const char *dir)
{
	char cmd[256];

	store_close(st);
	uv_run(loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(loop), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

void
storefix_json(int status, json_t *j, void *data)
{
	struct storefix_got *g = data;

	g->done = 1;
	g->status = status;
	g->j = j;
}

void
storefix_wait(uv_loop_t *loop, struct storefix_got *g)
{
	while (!g->done)
		uv_run(loop, UV_RUN_ONCE);
}
