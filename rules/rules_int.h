/*
 * rules_int.h: what the files of the rules library share and nothing
 * outside it sees: the loaded set's fields, the evaluator (one sandboxed
 * Lua state), the results kept in C arrays, and the sandbox's entry
 * points (sandbox.c).
 */
#ifndef CAIRN_RULES_INT_H
#define CAIRN_RULES_INT_H

#include <jansson.h>
#include <lua.h>
#include <stdatomic.h>
#include <stdint.h>

#include "rules.h"

/* A loaded rule set: every field is set once by ruleset.c and never
 * changes, so threads may share it. */
struct rs_set {
	char *name;
	char version[65];
	json_t *files;  /* {relative path: text}, the version's input */
	json_t *rules;  /* [{id, title, regulation, file, line}] */
	json_t *years;  /* ["2022-23", ...] ascending */
	json_t *params; /* {award year: {...}} as read from params/ */
	json_t *tests;  /* [{file, line, name, input, award_year, today,
	                    expect: {rule: {outcome, reasons|null}}}] */
};

/* Why an evaluation was stopped by the host (not a rule's own error). */
enum sb_broken {
	SB_OK = 0,
	SB_INSTRUCTIONS,
	SB_MEMORY,
	SB_STRING,
	SB_DEPTH,
	SB_TIME,
};

/* One recorded check value: a key and a nil, boolean, number or string. */
enum { RV_NIL, RV_BOOL, RV_INT, RV_NUM, RV_STR };
struct rs_value {
	const char *skey; /* a static key, or NULL: key is in the arena */
	uint32_t key;
	uint8_t type;
	union {
		int b;
		long long i;
		double n;
		uint32_t s; /* arena offset */
	} u;
};

enum rs_check_outcome { RC_PASS, RC_FAIL, RC_MISSING, RC_NOTE };

struct rs_check {
	uint32_t name, code, message; /* arena offsets; 0: none */
	uint32_t v0;                  /* first value */
	uint16_t nv;
	uint8_t outcome; /* enum rs_check_outcome */
};

struct rs_decision {
	int rule;        /* index in the set */
	uint8_t outcome; /* enum rs_outcome */
	uint8_t ran;     /* the rule's function ran to its end */
	uint32_t c0, nc; /* its checks */
	/* set when the host decided (an error, a limit, no data) */
	const char *err_code;
	uint32_t err_msg; /* arena offset */
};

/* Past these, one rule's evaluation fails (needs_review). */
#define RS_MAX_CHECKS 1024
#define RS_MAX_VALUES 4096
#define RS_MAX_ARENA  (256 * 1024)
#define RS_MAX_MEMO   32

struct rs_result {
	const struct rs_set *set;
	char award_year[16];
	int ndec;
	struct rs_decision dec[RS_MAX_RULES];
	struct rs_check *checks;
	uint32_t nchecks, capchecks;
	struct rs_value *values;
	uint32_t nvalues, capvalues;
	char *arena; /* offset 0 holds "" */
	uint32_t alen, acap;
	/* c:once: work shared by the rules of one evaluation */
	int nmemo;
	struct rs_memo {
		uint32_t key;    /* arena offset */
		uint32_t c0, nc; /* the checks it recorded */
		uint8_t running; /* its function has not returned */
		uint8_t ret;     /* 0 false, 1 true, 2 nil */
	} memo[RS_MAX_MEMO];
};

/* One evaluator: a sandboxed Lua state and what it needs per call. */
struct rs_eval {
	const struct rs_set *set;
	struct rs_limits lim;
	lua_State *L;
	size_t mem;       /* bytes the state holds */
	size_t mem_base;  /* after loading, for tests */
	int running;      /* inside a protected call of ours */
	int free_strings; /* building input: the string limit is off */
	enum sb_broken broken;
	int64_t budget;      /* instructions left in this call */
	int64_t deadline_ns; /* monotonic */
	/* where the last error or broken limit happened */
	char err_file[128];
	int err_line;
	char err_msg[400];
	/* registry references */
	int nrules;
	int rule_ref[RS_MAX_RULES];
	int ref_checker, ref_cdata, ref_input;
	int ref_pool;   /* the input's proxies and key lists, reused */
	int ref_kindex; /* the string "__index" */
	/* each award year's parameters, by reference, in the set's order */
	int nyears;
	char year_name[RS_MAX_FILES][8];
	int year_ref[RS_MAX_FILES];
	/* loading: the rules a file registered go here */
	json_t *loading_rules;
	const char *loading_file;
	struct cairn_err *load_err;
	/* the evaluation in progress */
	struct rs_result *cur;
	struct rs_decision *cur_dec;
	char cur_year[16], cur_today[16];
	struct rs_result *scratch; /* rs_evaluate's */
	uint64_t resets;
	/* one evaluation in a single protected call (evaluate.c) */
	const json_t *run_input;
	char run_today[16];
	int run_year, run_next, run_last;
	int run_rule;    /* the rule running, -1 while preparing */
	int input_ready; /* this evaluation's input is in the state */
	/* the watchdog (watchdog.c) */
	_Atomic uint64_t wd_seq;  /* odd while a rule runs */
	_Atomic uint64_t wd_want; /* the rule the watchdog saw stuck */
	_Atomic int wd_tid;       /* the thread that runs it */
	_Atomic int wd_hooked;    /* the count hook is armed */
	int wd_on;                /* registered with the watchdog */
	uint64_t wd_seen;         /* the watchdog's last look */
	int wd_phase;             /* seen twice, signalled */
	int64_t wd_cpu0;          /* its thread's CPU time when seen twice */
	unsigned wd_ticks;
	struct rs_eval *wd_prev, *wd_next;
};

/* sandbox.c */
/* Makes ev->L: a state with the sandbox's globals, frozen libraries and
 * string metatable, the checker object; nothing loaded yet. Returns 0 or
 * a negative code with e filled. */
int sb_open(struct rs_eval *ev, struct cairn_err *e);
void sb_close(struct rs_eval *ev);
/* Compiles (text only) and runs one rule file under the limits; the
 * file's rule{} calls append to ev->loading_rules and set rule_ref.
 * Returns 0 or CAIRN_EINVALID with e at the file and line. */
int sb_load_file(struct rs_eval *ev, const char *path, const char *text,
                 size_t len, struct cairn_err *e);
/* Ends loading: rule{} is no longer callable. */
void sb_seal(struct rs_eval *ev);
/* Pushes a JSON value as a read-only Lua value (inside a protected
 * call). */
void sb_push_json(lua_State *L, const json_t *v, int depth);
/* Arms the budget and the time limit for protected calls. */
void sb_arm(struct rs_eval *ev);
/* Arms the count hook with a fresh budget and time limit, now:
 * async-signal-safe (the watchdog's handler calls it). */
void sb_arm_budget(struct rs_eval *ev);
/* The hot path's call: sb_arm done, the message handler (sb_push_msgh)
 * at stack index 1, the function and nargs arguments above it; a fresh
 * instruction budget. Leaves the stack at the handler. */
int sb_call(struct rs_eval *ev, int nargs);
void sb_push_msgh(lua_State *L);
/* Puts JSON object input behind the proxy the rules get as s, reusing
 * the proxies and data tables of the input before it (inside a
 * protected call). */
void sb_input(lua_State *L, const json_t *input);
/* Calls the function at the top of the stack below nargs arguments
 * under the budget; returns its status. Records the error's place. */
int sb_pcall(struct rs_eval *ev, int nargs);
const char *sb_broken_code(enum sb_broken b);
const char *sb_broken_what(enum sb_broken b);

/* watchdog.c: the budget counts only for rules still running after a
 * tick. wd_register at an evaluator's birth (wd_unregister before it is
 * freed); around an evaluation's protected call wd_enter and wd_leave,
 * on the thread that runs it; wd_rule at each rule's start, inside the
 * call (ev->L set). */
void wd_register(struct rs_eval *ev);
void wd_unregister(struct rs_eval *ev);
void wd_enter(struct rs_eval *ev);
void wd_rule(struct rs_eval *ev);
void wd_leave(struct rs_eval *ev);

/* evaluate.c: recording from the checker's methods */
struct rs_eval *sb_ev(lua_State *L);
void rs_result_reset(struct rs_result *r, const struct rs_set *s,
                     const char *award_year);
uint32_t rs_arena_str(struct rs_result *r, const char *s, size_t n);
/* Opens the checker's methods table on the stack (sandbox.c builds the
 * object around it). */
void rs_checker_methods(lua_State *L);

/* evaluate.c: builds ev->L for ev->set (the sandbox, every rule file,
 * the parameters); rules (may be NULL) receives the rules' metadata and
 * errors go to cb. Returns 0 or a negative code (the state closed). */
int rs_eval_build(struct rs_eval *ev, json_t *rules, rs_report_cb cb,
                  void *data);

/* ruleset.c: the number of a YYYY-YY award year's first year, or -1 */
int rs_award_year_first(const char *y);
/* 1 if s is a YYYY-MM-DD date that exists */
int rs_date_valid(const char *s, size_t n);

#endif
