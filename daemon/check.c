/*
 * check.c: runs the definitions checker over a configuration's
 * directories, printing for a person at a terminal or logging for the
 * daemon.
 */
#include <stdio.h>

#include "../adapters/adapter.h"
#include "../workflows/defs.h"
#include "../workflows/workflow.h"
#include "calendar.h"
#include "check.h"
#include "log.h"

struct sink {
	FILE *out;
	struct check_result *r;
};

static void
report(const struct cairn_err *e, int warning, void *data)
{
	struct sink *s = data;
	char line[1200];

	cairn_err_format(e, line, sizeof(line));
	if (warning)
		s->r->warnings++;
	else
		s->r->errors++;
	if (s->out != NULL)
		fprintf(s->out, "%s%s\n", warning ? "warning: " : "", line);
	else
		log_write(warning ? LOG_WARN : LOG_ERROR, NULL, NULL, NULL,
		          "%s", line);
}

static void
check_kind(const char *kind, char dirs[][CONFIG_PATH_MAX], int n,
           struct sink *s)
{
	const char *ptrs[CONFIG_MAX_DIRS];
	int files = 0;

	if (n == 0)
		return;
	for (int i = 0; i < n; i++)
		ptrs[i] = dirs[i];
	defs_check_dirs(kind, ptrs, n, report, s, &files);
	s->r->files += files;
}

void
check_definitions(const struct config *c, FILE *err_out, struct check_result *r)
{
	struct sink s = {err_out, r};
	int before;

	r->errors = r->warnings = r->files = 0;
	check_kind("workflows", (char(*)[CONFIG_PATH_MAX])c->workflows,
	           c->nworkflows, &s);
	check_kind("rules", (char(*)[CONFIG_PATH_MAX])c->rules, c->nrules, &s);
	before = r->errors;
	check_kind("adapters", (char(*)[CONFIG_PATH_MAX])c->adapters,
	           c->nadapters, &s);
	/* files of sound form get the adapter format's own checks */
	if (r->errors == before && c->nadapters > 0) {
		const char *dirs[CONFIG_MAX_DIRS];
		struct adp_set *set = NULL;

		for (int i = 0; i < c->nadapters; i++)
			dirs[i] = c->adapters[i];
		adp_set_load(dirs, c->nadapters, report, &s, &set);
		adp_set_unref(set);
	}
	if (c->campuses[0]) {
		struct wf_campuses *cs = NULL;

		r->files++;
		wf_campuses_load(c->campuses, NULL, report, &s, &cs);
		wf_campuses_free(cs);
	}
	if (c->queues.deadlines[0]) {
		struct calendars cals;
		struct cairn_err e = {0};

		if (calendars_load(c->queues.deadlines, &cals, &e) != 0)
			report(&e, 0, &s);
		r->files += cals.n;
		calendars_free(&cals);
	}
}
