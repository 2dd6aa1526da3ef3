/*
 * check.h: the validation behind `cairnd --check`, `cairn check` and
 * SIGHUP: every definition directory a configuration names.
 */
#ifndef CAIRN_CHECK_H
#define CAIRN_CHECK_H

#include <stdio.h>

#include "config.h"

struct check_result {
	int errors, warnings, files;
};

/* Checks every definition directory of c. Each problem is reported as
 * "file:line:column: error: message" (or warning) by printing to err_out
 * when it is not NULL and logging otherwise. */
void check_definitions(const struct config *c, FILE *err_out,
                       struct check_result *r);

#endif
