/*
 * rules_host.h: the daemon's side of rule sets: which version of each set
 * is live, publishing a new one (compiled, its tests run, recorded, then
 * swapped in between evaluations), rollback, dry runs over stored cases,
 * watching the rule directories, and the decisions the workflow engine
 * asks for.
 *
 * A set's live version is in the store (rule_versions), so what an API
 * upload or a rollback made live survives a restart; the directories are
 * watched for edits, and an edit that does not load or fails its tests
 * changes nothing: it is recorded as rejected, logged, and raised as an
 * alert to the policy role.
 */
#ifndef CAIRN_RULES_HOST_H
#define CAIRN_RULES_HOST_H

#include <jansson.h>

#include "../workflows/workflow.h"

struct daemon;
struct rules_host;

/* At start-up, before requests: loads the live versions from the store,
 * then every set in the configured directories (publishing new versions
 * whose tests pass), and starts watching. Returns 0, or -1 when the store
 * could not be read. */
int rules_host_init(struct daemon *d);
/* Stops watching; publishes and dry runs under way finish on their own
 * (rules_host_busy says when), then rules_host_destroy frees it all after
 * the loop has ended. */
void rules_host_close(struct daemon *d);
int rules_host_busy(const struct daemon *d);
void rules_host_destroy(struct daemon *d);
/* Looks at the directories now (SIGHUP) instead of at the next tick. */
void rules_host_rescan(struct daemon *d);

/*
 * The decision for a workflow's guard or `evaluate` action: rule is
 * "<set>" (every rule of the set; eligible when any rule is) or
 * "<set>.<rule>". The case data is the input; its award_year (else the
 * award year holding today) and today (America/Los_Angeles) are passed
 * to the rule. *detail gets the decision with its explanation, the
 * version, and under "input" what the rule was given (for the history,
 * not the case data). Never fails: anything wrong is needs_review.
 */
enum wf_outcome rules_host_decide(struct daemon *d, const char *rule,
                                  const json_t *data, int64_t now_ms,
                                  json_t **detail);

/* "2026-03-02" for ms in America/Los_Angeles (US daylight time rules). */
void rules_la_date(int64_t ms, char out[11]);
/* The award year a date falls in ("2025-26" from July 1, 2025 to June
 * 30, 2026). */
void rules_award_year(const char *date, char out[8]);

#endif
