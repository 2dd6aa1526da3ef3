/*
 * rules.h: eligibility rule sets in Lua and the sandbox they run in.
 *
 * A rule set is a directory (examples/rules/cal_grant/): *.lua files that
 * define rules, params/<award year>.yaml parameter tables, and
 * tests/NAME.yaml test cases. Its version is the SHA-256 of its files (sorted
 * relative paths and bytes), so the same files are always the same
 * version. A loaded set (struct rs_set) is immutable and may be shared by
 * threads; evaluating it takes an evaluator (struct rs_eval), one
 * sandboxed Lua state used by one thread at a time.
 *
 * Nothing here touches the daemon: the daemon (daemon/rules_host.c) keeps
 * the live versions, stores them, and calls rs_evaluate from the engine's
 * rule callback; the CLI calls the same functions offline.
 *
 * The author's side (what a rule file may say) is docs/rules.md.
 */
#ifndef CAIRN_RULES_H
#define CAIRN_RULES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/cairn.h"

/* What a rule set may hold; a set past them is refused at load. */
#define RS_MAX_FILES      64
#define RS_MAX_FILE_BYTES (1024 * 1024)
#define RS_MAX_RULES      64

/*
 * The limits of one evaluation; rs_limits_default fills the defaults.
 * The instruction budget (and the time limit) of a rule start counting
 * only once the rule has used a millisecond of CPU time: a watchdog
 * thread (one for the process, started by the first evaluation) then
 * arms Lua's count hook on the thread running it, with SIGURG, so rules
 * run without the hook's per-instruction cost. A rule that finishes
 * within that millisecond is never stopped by the budget; one that runs
 * away always is. Loading a file counts from its first instruction.
 * Evaluators may run on any thread; SIGURG is unblocked on a thread the
 * first time it evaluates, and a handler the process had for it is
 * still called for SIGURGs that are not the watchdog's.
 */
struct rs_limits {
	int64_t instructions; /* VM instructions per rule, once counting */
	size_t memory;        /* bytes the Lua state may hold in all */
	size_t string_max;    /* longest string a rule may build */
	int depth_max;        /* Lua call depth */
};
void rs_limits_default(struct rs_limits *l);

enum rs_outcome { RS_ELIGIBLE, RS_INELIGIBLE, RS_NEEDS_REVIEW };
const char *rs_outcome_name(enum rs_outcome o); /* "eligible", ... */

struct rs_set;

/* Errors and warnings while loading: file:line:column in e. */
typedef void (*rs_report_cb)(const struct cairn_err *e, int warning,
                             void *data);

/*
 * Loads a rule set from its directory: reads every file, computes the
 * version, compiles each Lua file in a scratch sandbox (text only, never
 * bytecode) and registers its rules, parses every params/ and tests/
 * file. Errors go to cb (may be NULL); returns 0 and *out, or a negative
 * CAIRN_E* code and *out NULL. The set's name is the directory's name.
 */
int rs_load_dir(const char *dir, rs_report_cb cb, void *data,
                struct rs_set **out);
/* The same from files in memory: {relative path: text}, as rs_files
 * returns them (a version kept in the store, an upload). */
int rs_load_files(const char *name, const json_t *files, rs_report_cb cb,
                  void *data, struct rs_set **out);
void rs_set_free(struct rs_set *s);

const char *rs_name(const struct rs_set *s);
const char *rs_version(const struct rs_set *s); /* 64 hex digits */
/* {relative path: text} of every file, for storing a version. */
const json_t *rs_files(const struct rs_set *s);
/* The rules in file order: [{id, title, regulation, file, line}]. */
const json_t *rs_rules(const struct rs_set *s);
/* The award years it has parameters for, ascending (["2022-23", ...]). */
const json_t *rs_award_years(const struct rs_set *s);
/* The index of a rule by id, or -1. */
int rs_rule_find(const struct rs_set *s, const char *id);

struct rs_eval;

int rs_eval_new(const struct rs_set *s, const struct rs_limits *lim,
                struct rs_eval **out, struct cairn_err *e);
void rs_eval_free(struct rs_eval *ev);

/*
 * Evaluates one rule (rule >= 0) or every rule (rule < 0) of the set for
 * input (a JSON object: the case data) in award_year ("2025-26") on
 * today ("2026-03-02"; rules never read a clock). Never fails: a rule
 * that errors or breaks a limit, an unknown award year, or missing data
 * the rule needs gives needs_review with the reason (rule name, file and
 * line for an error). Returns
 *
 *   {"rule_set", "version", "award_year", "decisions": {rule id: D}}
 *
 * with D = {"outcome", "reasons": [{"code", "message"}],
 *           "checks": [{"name", "outcome", "values": {...}}]}
 * (NULL only when out of memory). After a limit was broken the evaluator
 * has dropped its Lua state and made a fresh one, so memory returns to
 * where it was.
 */
json_t *rs_evaluate(struct rs_eval *ev, int rule, const json_t *input,
                    const char *award_year, const char *today);

/*
 * The fast path under rs_evaluate: the same evaluation recorded in C
 * arrays (a struct rs_result, reused from call to call) instead of JSON.
 * rs_run returns 0 (the result holds one decision per rule evaluated,
 * with the same never-fails semantics as rs_evaluate) or CAIRN_EINVALID
 * for a rule index out of range. A result stays valid until the next
 * rs_run into it; rs_result_json builds rs_evaluate's object from it.
 */
struct rs_result;
struct rs_result *rs_result_new(void);
void rs_result_free(struct rs_result *r);
int rs_run(struct rs_eval *ev, int rule, const json_t *input,
           const char *award_year, const char *today, struct rs_result *r);
int rs_result_count(const struct rs_result *r);
const char *rs_result_rule(const struct rs_result *r, int i); /* its id */
enum rs_outcome rs_result_outcome(const struct rs_result *r, int i);
json_t *rs_result_json(const struct rs_result *r);
/* One decision D of a result (a dry run's examples), or NULL. */
json_t *rs_result_decision_json(const struct rs_result *r, int i);

/* Bytes the evaluator's Lua state holds now, and right after it was
 * built; how many times a broken limit made it start over. */
size_t rs_eval_memory(const struct rs_eval *ev);
size_t rs_eval_memory_base(const struct rs_eval *ev);
uint64_t rs_eval_resets(const struct rs_eval *ev);

/* Every name a rule can reach in the sandbox, sorted ("assert", ...,
 * "string.upper", ...): what the self-test compares with the allow-list.
 * NULL when out of memory. */
json_t *rs_sandbox_names(void);
/* The Lua the rules run on ("Lua 5.4.4"), for the start-up log. */
const char *rs_lua_release(void);

/* 1 if s is a valid rule set, rule or reason-code name:
 * [a-z][a-z0-9_]{0,63}. */
int rs_name_ok(const char *s);

/* The combined outcome of a decisions object: eligible when any rule is,
 * else needs_review when any is, else ineligible. */
enum rs_outcome rs_combined(const json_t *decisions);

/*
 * Runs the set's tests (tests/NAME.yaml). Returns the number of failures (0:
 * all pass, -1: could not run) and *report:
 * {"passed": N, "failed": N, "cases": [{"file", "line", "name",
 *  "ok", "expected": {...}, "actual": {...}}]}.
 */
int rs_run_tests(const struct rs_set *s, const struct rs_limits *lim,
                 json_t **report);

/* Lint: warnings a set loads with (a rule that never records a check, a
 * parameter no rule reads, a test file no rule's id appears in...). */
int rs_lint(const struct rs_set *s, rs_report_cb cb, void *data);

#endif
