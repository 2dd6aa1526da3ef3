/*
 * test_rules_watchdog.c: the instruction budget armed by the watchdog
 * (rules/watchdog.c). A rule that uses little CPU is never stopped by the
 * budget, however small; a rule that runs away is always stopped, on the
 * thread that calls, on other threads (one that blocks every signal
 * too), several at once, and in a child process after fork.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rules/rules.h"

/* Rule "work" runs the body, then passes one check; "fine" passes. */
static struct rs_set *
make_set(const char *body)
{
	struct rs_set *s = NULL;
	char src[2048];
	json_t *files;

	snprintf(src, sizeof(src),
	         "rule { id = \"work\", title = \"Work\", regulation = "
	         "\"none\",\n"
	         "  check = function(c, s, p)\n"
	         "%s\n"
	         "    c:is_true(\"done\", true, \"x\", \"y\")\n"
	         "  end }\n"
	         "rule { id = \"fine\", title = \"Fine\", regulation = "
	         "\"none\",\n"
	         "  check = function(c, s, p)\n"
	         "    c:is_true(\"fine\", true, \"x\", \"y\")\n"
	         "  end }\n",
	         body);
	files = json_pack("{s:s, s:s}", "w.lua", src, "params/2025-26.yaml",
	                  "name: w\n");
	cr_assert_eq(rs_load_files("w", files, NULL, NULL, &s), 0);
	json_decref(files);
	return s;
}

static const char *
outcome(json_t *out, const char *rule)
{
	return json_string_value(json_object_get(
	        json_object_get(json_object_get(out, "decisions"), rule),
	        "outcome"));
}

static const char *
first_code(json_t *out, const char *rule)
{
	return json_string_value(json_object_get(
	        json_array_get(
	                json_object_get(
	                        json_object_get(
	                                json_object_get(out, "decisions"),
	                                rule),
	                        "reasons"),
	                0),
	        "code"));
}

TestSuite(rules_watchdog, .timeout = 120);

/* A budget far below what the rule runs: the count never starts for a
 * rule that uses a few microseconds of CPU, so it decides normally every
 * time (with the hook armed from the first instruction, as before the
 * watchdog, every one of these would be instruction_limit). */
Test(rules_watchdog, short_rules_are_never_stopped)
{
	struct rs_set *s = make_set("    local n = 0\n"
	                            "    for i = 1, 2000 do n = n + i end");
	struct rs_limits lim;
	struct rs_eval *ev = NULL;
	struct cairn_err e;
	json_t *in = json_object(), *out;

	rs_limits_default(&lim);
	lim.instructions = 200;
	cr_assert_eq(rs_eval_new(s, &lim, &ev, &e), 0, "%s", e.msg);
	for (int i = 0; i < 200; i++) {
		out = rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
		cr_assert_str_eq(outcome(out, "work"), "eligible", "%s",
		                 json_dumps(out, 0));
		cr_assert_str_eq(outcome(out, "fine"), "eligible");
		json_decref(out);
	}
	cr_expect_eq(rs_eval_resets(ev), 0);
	json_decref(in);
	rs_eval_free(ev);
	rs_set_free(s);
}

/* A rule that runs past the watchdog's CPU time (600,000 instructions:
 * milliseconds) but needs fewer instructions in all than the budget is
 * not stopped either, whenever the count starts. */
Test(rules_watchdog, long_rules_within_budget_finish)
{
	struct rs_set *s = make_set("    local n = 0\n"
	                            "    for i = 1, 150000 do n = n + i end");
	struct rs_eval *ev = NULL;
	struct cairn_err e;
	json_t *in = json_object(), *out;

	cr_assert_eq(rs_eval_new(s, NULL, &ev, &e), 0, "%s", e.msg);
	out = rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
	cr_expect_str_eq(outcome(out, "work"), "eligible", "%s",
	                 json_dumps(out, 0));
	json_decref(out);
	json_decref(in);
	rs_eval_free(ev);
	rs_set_free(s);
}

struct runaway {
	struct rs_set *s;
	int block_signals;
	int rounds;
	int stopped; /* rounds that ended instruction_limit, fine eligible */
};

static void *
runaway_thread(void *arg)
{
	struct runaway *r = arg;
	struct rs_limits lim;
	struct rs_eval *ev = NULL;
	struct cairn_err e;
	json_t *in = json_object();

	if (r->block_signals) {
		sigset_t all;

		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, NULL);
	}
	rs_limits_default(&lim);
	lim.instructions = 100000;
	if (rs_eval_new(r->s, &lim, &ev, &e) != 0)
		return NULL;
	for (int i = 0; i < r->rounds; i++) {
		json_t *out = rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
		const char *code = first_code(out, "work");

		if (code && !strcmp(code, "instruction_limit") &&
		    !strcmp(outcome(out, "fine"), "eligible"))
			r->stopped++;
		json_decref(out);
	}
	json_decref(in);
	rs_eval_free(ev);
	return NULL;
}

/* Runaway rules on threads other than the first, one of which blocks
 * every signal, all at once: each is stopped every time. */
Test(rules_watchdog, runaways_on_other_threads)
{
	struct rs_set *s = make_set("    while true do end");
	struct runaway r[3];
	pthread_t t[3];

	for (int i = 0; i < 3; i++) {
		r[i] = (struct runaway){s, i == 1, 3, 0};
		cr_assert_eq(pthread_create(&t[i], NULL, runaway_thread, &r[i]),
		             0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(r[i].stopped, 3, "thread %d: %d of 3 stopped", i,
		             r[i].stopped);
	}
	rs_set_free(s);
}

/* After fork the child has no watchdog thread until its first rule;
 * a runaway rule there is stopped all the same. */
Test(rules_watchdog, after_fork)
{
	struct rs_set *s = make_set("    while true do pcall(function() "
	                            "while true do end end) end");
	struct runaway parent = {s, 0, 1, 0};
	struct timespec pause = {0, 20 * 1000000L};
	pid_t pid;
	int st = 0, waited = 0;

	runaway_thread(&parent);
	cr_assert_eq(parent.stopped, 1);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct runaway child = {s, 0, 2, 0};

		runaway_thread(&child);
		_exit(child.stopped == 2 ? 0 : 1);
	}
	/* generous: a loaded machine, a sanitized build */
	while (waitpid(pid, &st, WNOHANG) == 0 && waited < 3000) {
		nanosleep(&pause, NULL);
		waited++;
	}
	if (waited == 3000) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		cr_assert_fail("the child's runaway rule was not stopped");
	}
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
	rs_set_free(s);
}
