/*
 * workflow.c: workflow definitions, through wf_def_load_text (what the
 * daemon runs on every definition file and on every version kept in the
 * store). A definition that loads is also drawn (wf_def_dot), which walks
 * every status and transition the loader accepted.
 */
#include <stdlib.h>

#include "../workflows/workflow.h"
#include "fuzz.h"

static void
report(const struct cairn_err *e, int warning, void *data)
{
	int *errors = data;

	if (!warning)
		(*errors)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wf_def *d = NULL;
	int errors = 0;
	int rc;

	rc = wf_def_load_text("fuzz.yaml", (const char *)data, size, NULL,
	                      report, &errors, &d);
	if (rc != 0) {
		FUZZ_ASSERT(d == NULL);
		return 0;
	}
	FUZZ_ASSERT(d != NULL);
	FUZZ_ASSERT(errors == 0);
	free(wf_def_dot(d));
	wf_def_free(d);
	return 0;
}
