/*
 * defs.h: the definitions checker behind `cairnd --check` and `cairn check`.
 * It validates what can be validated before the workflow language, the rule
 * sandbox and the adapter format exist: every definition file is readable,
 * at most DEFS_FILE_MAX bytes, well-formed (one YAML document whose top is a
 * mapping with a valid, unique `name`, no duplicate keys; Lua rule files
 * non-empty UTF-8 text without NUL bytes). Problems go to a callback, each
 * with file, line and column; the functions return how many were errors.
 */
#ifndef CAIRN_DEFS_H
#define CAIRN_DEFS_H

#include "../common/cairn.h"

#define DEFS_FILE_MAX  (4 << 20) /* bytes in one definition file */
#define DEFS_MAX_DEPTH 64        /* nesting of YAML lists and mappings */
#define DEFS_NAME_MAX  64        /* name: [a-z][a-z0-9_]{0,63} */

/*
 * Called once per problem found; warning is 1 for something worth saying
 * that does not fail the check (a file that is not a definition, a YAML file
 * in a rules directory outside params/ and tests/), 0 for an error. e is
 * valid only during the call.
 */
typedef void (*defs_report_cb)(const struct cairn_err *e, int warning,
                               void *data);

/*
 * Checks every definition file under the ndirs directories dirs, recursively
 * and in sorted order (dotfiles skipped), as definitions of kind
 * ("workflows", "rules" or "adapters"). Names must be unique across all of
 * the directories; a duplicate is reported at the second file, pointing at
 * the first. A missing or unreadable directory is an error. Returns the
 * number of errors (>= 0) and, if nfiles is not NULL, sets it to the number
 * of definition files checked. cb may be NULL.
 */
int defs_check_dirs(const char *kind, const char *const *dirs, int ndirs,
                    defs_report_cb cb, void *data, int *nfiles);

/* defs_check_dirs() with one directory. */
int defs_check_dir(const char *kind, const char *dir, defs_report_cb cb,
                   void *data, int *nfiles);

/*
 * Checks one file of kind: *.yaml and *.yml files as YAML definitions,
 * *.lua files when kind is "rules"; anything else is an error. Returns the
 * number of errors. Uniqueness of names needs the other files and is left
 * to defs_check_dirs().
 */
int defs_check_file(const char *kind, const char *path, defs_report_cb cb,
                    void *data);

/* 1 if s is a valid definition name ([a-z][a-z0-9_]{0,63}), else 0. */
int defs_name_valid(const char *s);

#endif
