/*
 * rules.c: the rules library in process, on one thread: the Cal Grant
 * example (A, B and C, every check and value recorded) evaluated over and
 * over with inputs that vary, through the fast path (rs_run into a reused
 * result) and through rs_evaluate (the same plus the decision JSON). Also
 * what publishing costs before the daemon's part: loading the set
 * (reading, hashing, compiling in a scratch sandbox) and running its
 * tests.
 *
 *   build/bench/rules [-d SECONDS] [-s RULES_DIR] [-f] [-n COUNT]
 *
 * (-f: the fast path only. -n: exactly COUNT fast-path evaluations and
 * nothing else timed, so that `perf stat -e instructions` or callgrind
 * over two counts gives instructions per evaluation on a busy machine.)
 *
 * Prints one line of key=value pairs: rate and latency percentiles per
 * path, the load and test times in milliseconds. run_cpu_per_s is the
 * fast path's rate by the thread's CPU time rather than the wall clock:
 * on a shared machine, time spent preempted is not the library's. The
 * rules' watchdog is a second thread, so glibc's malloc runs its
 * multi-threaded path here as in cairnd, which the JSON of rs_evaluate
 * feels (rs_run allocates nothing).
 *
 * The floor under all of it: bare_lua_per_s is a bare call into Lua from
 * C (lua_pcall of `function(x) return x end` with one integer), on one
 * thread, in batches of 1,000 between clock reads. maxrss_kb is this
 * process's peak memory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../rules/rules.h"

#define NINPUTS 64

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long
maxrss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Inputs around the 2022-23 boundaries, so every outcome and most
 * checks' branches are taken. */
static json_t *
make_input(int i)
{
	static const char *const seg[] = {"uc", "csu", "ccc", "private"};
	json_t *s = json_pack(
	        "{s:s, s:b, s:b, s:i, s:i, s:i, s:b, s:b, s:s, s:s, s:i, s:s}",
	        "dependency", i % 5 == 0 ? "independent" : "dependent",
	        "married", i % 10 == 0, "has_dependents", i % 15 == 0,
	        "family_size", 2 + i % 6, "income", 30000 + (i * 1543) % 80000,
	        "assets", (i * 2711) % 95000, "ca_resident", i % 7 != 0,
	        "ab540", i % 11 == 0, "citizenship",
	        i % 9 == 0 ? "neither" : "citizen", "segment", seg[i % 4],
	        "program_months", 3 + i % 30, "application_date",
	        i % 8 == 0 ? "2022-03-03" : "2022-02-15");

	if (i % 13 == 0) {
		json_object_set_new(s, "hs_gpa", json_null());
		json_object_set_new(s, "college_gpa", json_null());
	} else {
		json_object_set_new(s, "hs_gpa",
		                    json_real(2.0 + (i % 21) / 10.0));
		json_object_set_new(s, "college_gpa",
		                    i % 3 ? json_null() : json_real(2.4));
	}
	return json_pack("{s:o}", "student", s);
}

/* Bare Lua calls per second over about secs seconds, or -1. */
static double
bare_lua(double secs)
{
	lua_State *L = luaL_newstate();
	int64_t t0, t1, end;
	long long n = 0;
	int ref;

	if (L == NULL)
		return -1;
	if (luaL_dostring(L, "return function(x) return x end") != LUA_OK) {
		lua_close(L);
		return -1;
	}
	ref = luaL_ref(L, LUA_REGISTRYINDEX);
	t0 = now_ns();
	end = t0 + (int64_t)(secs * 1e9);
	do {
		for (int i = 0; i < 1000; i++) {
			lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
			lua_pushinteger(L, n + i);
			if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
				lua_close(L);
				return -1;
			}
			lua_pop(L, 1);
		}
		n += 1000;
		t1 = now_ns();
	} while (t1 < end);
	lua_close(L);
	return (double)n / ((double)(t1 - t0) / 1e9);
}

struct stats {
	double rate, p50, p99, p999, max;
};

static void
percentiles(uint32_t *lat, size_t n, double secs, struct stats *st)
{
	qsort(lat, n, sizeof(*lat), cmp_u32);
	st->rate = (double)n / secs;
	st->p50 = lat[n / 2] / 1000.0;
	st->p99 = lat[(size_t)((double)n * 0.99)] / 1000.0;
	st->p999 = lat[(size_t)((double)n * 0.999)] / 1000.0;
	st->max = lat[n - 1] / 1000.0;
}

int
main(int argc, char **argv)
{
	const char *dir = "examples/rules/cal_grant";
	double secs = 3;
	struct rs_limits lim;
	struct rs_set *s = NULL;
	struct rs_eval *ev = NULL;
	struct rs_result *res;
	struct cairn_err e;
	json_t *in[NINPUTS], *rep = NULL;
	uint32_t *lat;
	size_t cap, n;
	int64_t t0, t1, end, c0;
	double load_ms, tests_ms, run_cpu;
	struct stats run, evs;
	int opt, i, outcomes[3] = {0, 0, 0}, fast_only = 0;
	long count = 0;

	while ((opt = getopt(argc, argv, "d:s:fn:")) != -1) {
		if (opt == 'f')
			fast_only = 1;
		else if (opt == 'n')
			count = atol(optarg);
		else if (opt == 'd')
			secs = atof(optarg);
		else if (opt == 's')
			dir = optarg;
		else {
			fprintf(stderr,
			        "usage: rules [-d SECONDS] [-s DIR] [-f] "
			        "[-n COUNT]\n");
			return 2;
		}
	}
	if (secs <= 0)
		secs = 3;
	t0 = now_ns();
	if (rs_load_dir(dir, NULL, NULL, &s) != 0) {
		fprintf(stderr, "rules: %s does not load\n", dir);
		return 1;
	}
	t1 = now_ns();
	load_ms = (double)(t1 - t0) / 1e6;
	rs_limits_default(&lim);
	t0 = now_ns();
	if (rs_run_tests(s, &lim, &rep) < 0) {
		fprintf(stderr, "rules: the tests of %s do not pass\n", dir);
		return 1;
	}
	tests_ms = (double)(now_ns() - t0) / 1e6;
	json_decref(rep);
	if (rs_eval_new(s, &lim, &ev, &e) != 0) {
		fprintf(stderr, "rules: %s\n", e.msg);
		return 1;
	}
	res = rs_result_new();
	for (i = 0; i < NINPUTS; i++)
		in[i] = make_input(i);
	cap = (size_t)(secs * 3e6) + 1000;
	lat = malloc(cap * sizeof(*lat));
	if (res == NULL || lat == NULL)
		return 1;

	if (count > 0) {
		for (i = 0; i < count; i++)
			rs_run(ev, -1, in[i % NINPUTS], "2022-23", "2022-06-01",
			       res);
		printf("count=%ld resets=%llu\n", count,
		       (unsigned long long)rs_eval_resets(ev));
		return 0;
	}

	/* warm-up */
	for (i = 0; i < 20000; i++)
		rs_run(ev, -1, in[i % NINPUTS], "2022-23", "2022-06-01", res);

	/* the fast path */
	n = 0;
	c0 = cpu_ns();
	t0 = now_ns();
	end = t0 + (int64_t)(secs * 1e9);
	for (t1 = t0; t1 < end && n < cap;) {
		int64_t a = t1;

		rs_run(ev, -1, in[n % NINPUTS], "2022-23", "2022-06-01", res);
		t1 = now_ns();
		lat[n++] = (uint32_t)(t1 - a);
		for (i = 0; i < rs_result_count(res); i++)
			outcomes[rs_result_outcome(res, i)]++;
	}
	run_cpu = (double)n / ((double)(cpu_ns() - c0) / 1e9);
	percentiles(lat, n, (double)(t1 - t0) / 1e9, &run);

	/* rs_evaluate: the same with the decision JSON built and freed */
	n = 0;
	t0 = now_ns();
	end = fast_only ? t0 : t0 + (int64_t)(secs * 1e9);
	for (t1 = t0; t1 < end && n < cap;) {
		int64_t a = t1;
		json_t *d = rs_evaluate(ev, -1, in[n % NINPUTS], "2022-23",
		                        "2022-06-01");

		json_decref(d);
		t1 = now_ns();
		lat[n++] = (uint32_t)(t1 - a);
	}
	if (n > 0)
		percentiles(lat, n, (double)(t1 - t0 + 1) / 1e9, &evs);
	else
		memset(&evs, 0, sizeof(evs));

	printf("run_per_s=%.0f run_cpu_per_s=%.0f run_p50_us=%.2f "
	       "run_p99_us=%.2f "
	       "run_p999_us=%.2f run_max_us=%.1f evaluate_per_s=%.0f "
	       "evaluate_p50_us=%.2f evaluate_p99_us=%.2f load_ms=%.2f "
	       "tests_ms=%.2f eligible=%d ineligible=%d needs_review=%d "
	       "resets=%llu bare_lua_per_s=%.0f maxrss_kb=%ld\n",
	       run.rate, run_cpu, run.p50, run.p99, run.p999, run.max, evs.rate,
	       evs.p50, evs.p99, load_ms, tests_ms, outcomes[0], outcomes[1],
	       outcomes[2], (unsigned long long)rs_eval_resets(ev),
	       bare_lua(secs < 1 ? secs : 1), maxrss_kb());
	for (i = 0; i < NINPUTS; i++)
		json_decref(in[i]);
	free(lat);
	rs_result_free(res);
	rs_eval_free(ev);
	rs_set_free(s);
	return 0;
}
