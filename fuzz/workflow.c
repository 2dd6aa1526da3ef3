/*
 * workflow.c: workflow definitions, through wf_def_load_text (what the
 * daemon runs on every definition file and on every version kept in the
 * store). A definition that loads is also drawn (wf_def_dot), which walks
 * every status and transition the loader accepted, and data holding every
 * field its `fields:` block names is redacted at each class: a reader
 * allowed more never sees fewer values, one allowed everything loses
 * none.
 */
#include <stdlib.h>
#include <string.h>

#include "../workflows/workflow.h"
#include "fuzz.h"

static void
report(const struct cairn_err *e, int warning, void *data)
{
	int *errors = data;

	if (!warning)
		(*errors)++;
}

/* Sets path (dotted) in o to 1, making the objects on the way. */
static void
put(json_t *o, const char *path)
{
	char seg[300];
	const char *dot;

	while ((dot = strchr(path, '.')) != NULL && json_is_object(o)) {
		json_t *next;

		snprintf(seg, sizeof(seg), "%.*s", (int)(dot - path), path);
		next = json_object_get(o, seg);
		if (next == NULL) {
			next = json_object();
			json_object_set_new(o, seg, next);
		}
		o = next;
		path = dot + 1;
	}
	if (json_is_object(o))
		json_object_set_new(o, path, json_integer(1));
}

static void
check_redaction(const struct wf_def *d, int event)
{
	json_t *sample = json_object();
	size_t before = (size_t)-1;

	for (int i = 0; i < d->nfields; i++) {
		char path[600];

		snprintf(path, sizeof(path), "%s%s", d->fields[i].path,
		         d->fields[i].members ? ".member" : "");
		put(sample, path);
	}
	put(sample, "unnamed");
	for (int c = -1; c <= WF_CLASS_RESTRICTED; c++) {
		json_t *o = json_deep_copy(sample);
		size_t n = event ? wf_redact_event(d, o, c)
		                 : wf_redact(d, o, "", c);

		FUZZ_ASSERT(n <= before);
		before = n;
		json_decref(o);
	}
	FUZZ_ASSERT(before == 0);
	json_decref(sample);
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
	check_redaction(d, 0);
	check_redaction(d, 1);
	wf_def_free(d);
	return 0;
}
