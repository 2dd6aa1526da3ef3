/*
 * adapter.c: institution adapter definitions, through adp_def_load (what
 * cairnd and cairn check run on every adapter file). The loader reads a
 * path, so each input is written to one file in a private directory first.
 * A definition that loads has each operation's path, headers and body
 * rendered against a small case, with a response for the reply mapping,
 * as the outbox worker would; backoff is computed for a few attempts.
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../adapters/adapter.h"
#include "fuzz.h"

static char dir[64];
static char path[256];

/* The private directory goes when the process does. */
static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void
report(const struct cairn_err *e, int warning, void *data)
{
	int *errors = data;

	if (!warning)
		(*errors)++;
}

static void
setup(void)
{
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/cairn-fuzz-adapter-XXXXXX");
	FUZZ_ASSERT(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/fuzz.yaml", dir);
	atexit(cleanup);
	/* a secret may name any file: never let one be the fuzzer's stdin */
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
}

static void
render_op(const struct adp_def *d, const struct adp_op *op, const json_t *data)
{
	struct adp_ctx ctx = {
	        .data = data,
	        .case_id = "0190f0a0-0000-7000-8000-000000000001",
	        .idem_key = "key-1",
	        .adapter = d->name,
	        .operation = op->name,
	        .now_ms = 1767225600000,
	};
	char err[256], *s = NULL;
	json_t *out = NULL;
	json_t *resp =
	        json_pack("{s:s, s:{s:i}}", "decision", "admit", "id", "n", 1);

	if (adp_render_str(op->path, &ctx, &s, err, sizeof(err)) == 0)
		free(s);
	if (op->headers != NULL) {
		const char *k;
		json_t *v;

		json_object_foreach(op->headers, k, v)
		{
			if (json_is_string(v) &&
			    adp_render_str(json_string_value(v), &ctx, &s, err,
			                   sizeof(err)) == 0)
				free(s);
		}
	}
	if (op->body != NULL &&
	    adp_render(op->body, &ctx, &out, err, sizeof(err)) == 0)
		json_decref(out);
	ctx.response = resp;
	ctx.status = 200;
	if (op->resp_data != NULL &&
	    adp_render(op->resp_data, &ctx, &out, err, sizeof(err)) == 0)
		json_decref(out);
	json_decref(resp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	struct adp_def *d = NULL;
	json_t *data;
	FILE *f;
	int errors = 0;

	if (path[0] == '\0')
		setup();
	f = fopen(path, "w");
	FUZZ_ASSERT(f != NULL);
	FUZZ_ASSERT(fwrite(in, 1, size, f) == size);
	FUZZ_ASSERT(fclose(f) == 0);
	if (adp_def_load(path, report, &errors, &d) != 0) {
		FUZZ_ASSERT(d == NULL);
		return 0;
	}
	FUZZ_ASSERT(d != NULL && errors == 0);
	data = json_pack("{s:s, s:s, s:[s], s:{s:i}}", "student_id", "S1",
	                 "campus", "uc-davis", "documents", "transcript",
	                 "scores", "gpa", 4);
	for (int i = 0; i < d->nops; i++) {
		FUZZ_ASSERT(adp_op_find(d, d->ops[i].name) != NULL);
		render_op(d, &d->ops[i], data);
	}
	json_decref(data);
	for (int a = 1; a <= 4; a++)
		FUZZ_ASSERT(adp_backoff_ms(d, a, 0x9e3779b9u) >= 0);
	adp_def_free(d);
	return 0;
}
