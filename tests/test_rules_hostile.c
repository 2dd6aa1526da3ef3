/*
 * test_rules_hostile.c: rules written to harm the host (the checklist of
 * /work/shared/SANDBOX.md). Each hostile rule shares its file with a
 * harmless one; evaluating the set must give the hostile rule
 * needs_review with its name, line and the reason's code, within its
 * budget, while the harmless rule (evaluated after it, on a fresh state
 * when a limit was broken) stays eligible, the evaluator works for the
 * next input, and the state's memory is back near its baseline. The
 * suite runs under ASan and UBSan in `make check`.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cairn.h"
#include "rules/rules.h"

static const char *const params = "name: hostile_2025_26\nlimit: 10\n";

static void
report(const struct cairn_err *e, int warning, void *data)
{
	char *buf = data, line[700];

	cairn_err_format(e, line, sizeof(line));
	if (buf != NULL && strlen(buf) + strlen(line) + 2 < 4096) {
		strcat(buf, line);
		strcat(buf, "\n");
	}
}

/* A set of one file: the hostile body as rule "bad" (its first line is
 * line 3 of the file), then a harmless rule "good". */
static struct rs_set *
hostile_set(const char *body, char *errors)
{
	struct rs_set *s = NULL;
	char *src;
	json_t *files;
	size_t n = strlen(body) + 512;

	src = malloc(n);
	cr_assert_not_null(src);
	snprintf(
	        src, n,
	        "rule { id = \"bad\", title = \"Bad\", regulation = \"none\",\n"
	        "  check = function(c, s, p)\n"
	        "%s\n"
	        "  end }\n"
	        "rule { id = \"good\", title = \"Good\", regulation = "
	        "\"none\",\n"
	        "  check = function(c, s, p)\n"
	        "    c:at_most(\"n\", s.n, p.limit, \"too_big\", \"{value} > "
	        "{maximum}\")\n"
	        "    c:is_true(\"upper\", string.upper(\"a\") == \"A\" and "
	        "(\"b\"):upper() == \"B\", \"pristine\", \"string library "
	        "changed\")\n"
	        "  end }\n",
	        body);
	files = json_pack("{s:s, s:s}", "hostile.lua", src,
	                  "params/2025-26.yaml", params);
	free(src);
	if (errors)
		errors[0] = '\0';
	rs_load_files("hostile", files, report, errors, &s);
	json_decref(files);
	return s;
}

static void
small_limits(struct rs_limits *l)
{
	rs_limits_default(l);
	l->instructions = 200000;
	l->memory = 8u << 20;
	l->string_max = 64u << 10;
}

static const char *
outcome_of(json_t *out, const char *rule)
{
	return json_string_value(json_object_get(
	        json_object_get(json_object_get(out, "decisions"), rule),
	        "outcome"));
}

static json_t *
first_reason(json_t *out, const char *rule)
{
	return json_array_get(
	        json_object_get(
	                json_object_get(json_object_get(out, "decisions"),
	                                rule),
	                "reasons"),
	        0);
}

/*
 * Runs body as the bad rule: it must end needs_review with one of the
 * codes (space-separated) and a message naming the rule, the file and,
 * when line > 0, that line; the good rule stays eligible; the next
 * evaluation is normal; memory returns near the baseline.
 */
static void
expect_contained(const char *body, const char *codes, int line)
{
	struct rs_limits lim;
	struct rs_set *s;
	struct rs_eval *ev = NULL;
	struct cairn_err e;
	json_t *in = json_pack("{s:i}", "n", 3), *out;
	const char *code, *msg;
	char where[64], errors[4096];
	double t0;
	size_t base;
	int i;

	small_limits(&lim);
	s = hostile_set(body, errors);
	cr_assert_not_null(s, "the set did not load: %s", errors);
	cr_assert_eq(rs_eval_new(s, &lim, &ev, &e), 0, "%s", e.msg);
	base = rs_eval_memory_base(ev);
	for (i = 0; i < 2; i++) {
		t0 = cairn_mono_s();
		out = rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
		cr_assert_not_null(out);
		/* generous: ASan on a loaded machine; the budget is what
		 * stops it, not the clock */
		cr_expect_lt(cairn_mono_s() - t0, 10.0, "took %.1f s",
		             cairn_mono_s() - t0);
		cr_assert_str_eq(outcome_of(out, "bad"), "needs_review", "%s",
		                 json_dumps(out, 0));
		code = json_string_value(
		        json_object_get(first_reason(out, "bad"), "code"));
		msg = json_string_value(
		        json_object_get(first_reason(out, "bad"), "message"));
		cr_assert_not_null(code, "%s", json_dumps(out, 0));
		cr_expect(strstr(codes, code) != NULL, "code %s, wanted %s: %s",
		          code, codes, msg);
		cr_expect(strstr(msg, "rule bad") != NULL, "%s", msg);
		cr_expect(strstr(msg, "hostile.lua") != NULL, "%s", msg);
		if (line > 0) {
			snprintf(where, sizeof(where), "hostile.lua:%d", line);
			cr_expect(strstr(msg, where) != NULL, "%s not in %s",
			          where, msg);
		}
		/* no bleed: the harmless rule after it is right */
		cr_expect_str_eq(outcome_of(out, "good"), "eligible", "%s",
		                 json_dumps(out, 0));
		json_decref(out);
	}
	/* the good rule alone, on whatever state is left */
	out = rs_evaluate(ev, rs_rule_find(s, "good"), in, "2025-26",
	                  "2025-10-01");
	cr_expect_str_eq(outcome_of(out, "good"), "eligible");
	json_decref(out);
	json_object_set_new(in, "n", json_integer(11));
	out = rs_evaluate(ev, rs_rule_find(s, "good"), in, "2025-26",
	                  "2025-10-01");
	cr_expect_str_eq(outcome_of(out, "good"), "ineligible");
	json_decref(out);
	/* memory is back near where a fresh state starts */
	cr_expect_leq(rs_eval_memory(ev), base + (512u << 10),
	              "memory %zu, baseline %zu", rs_eval_memory(ev), base);
	json_decref(in);
	rs_eval_free(ev);
	rs_set_free(s);
}

TestSuite(rules_hostile, .timeout = 120);

/* #6: an infinite loop */
Test(rules_hostile, infinite_loop)
{
	expect_contained("    while true do end", "instruction_limit", 3);
}

/* #7: the budget cannot be swallowed by pcall, xpcall, nesting */
Test(rules_hostile, loop_in_pcall)
{
	expect_contained("    while true do pcall(function() while true do "
	                 "end end) end",
	                 "instruction_limit", 3);
	expect_contained("    while true do xpcall(function() while true do "
	                 "end end, function() while true do end end) end",
	                 "instruction_limit", 0);
	expect_contained("    for i = 1, 10 do pcall(pcall, pcall, function() "
	                 "while true do end end) end\n"
	                 "    c:is_true(\"escaped\", true, \"x\", \"y\")",
	                 "instruction_limit", 0);
}

/* #9: memory bombs */
Test(rules_hostile, string_rep_bomb)
{
	expect_contained("    local s = string.rep(\"x\", 2^30)",
	                 "string_limit", 3);
	/* #5: through the string metatable too */
	expect_contained("    local s = (\"a\"):rep(1e9)", "string_limit", 3);
	expect_contained("    local s = (\"a\"):rep(1000, (\"b\"):rep(1000))",
	                 "string_limit", 3);
}

Test(rules_hostile, concat_bomb)
{
	expect_contained("    local s = \"xy\"\n"
	                 "    while true do s = s .. s end",
	                 "string_limit memory_limit", 4);
	expect_contained("    local t = {}\n"
	                 "    for i = 1, 200 do t[i] = (\"x\"):rep(60000) end\n"
	                 "    local s = table.concat(t)",
	                 "string_limit memory_limit", 0);
}

Test(rules_hostile, table_growth)
{
	expect_contained("    local t = {}\n"
	                 "    for i = 1, 1e9 do t[i] = i end",
	                 "memory_limit instruction_limit", 4);
	expect_contained("    local t = {}\n"
	                 "    local i = 0\n"
	                 "    while true do i = i + 1; t[\"k\" .. i] = {i} end",
	                 "memory_limit instruction_limit", 0);
}

/* #14: recursion */
Test(rules_hostile, deep_recursion)
{
	expect_contained("    local function f(n) return 1 + f(n + 1) end\n"
	                 "    f(1)",
	                 "depth_limit memory_limit rule_error", 0);
	expect_contained("    local function f() return f() end\n"
	                 "    f()",
	                 "instruction_limit", 0);
	expect_contained("    local function f() pcall(f) pcall(f) end\n"
	                 "    f()",
	                 "instruction_limit depth_limit", 0);
}

/* #13: coroutines are not there to dodge the budget */
Test(rules_hostile, coroutines)
{
	expect_contained("    coroutine.wrap(function() while true do end "
	                 "end)()",
	                 "rule_error", 3);
}

/* #8: catastrophic patterns are refused before they run */
Test(rules_hostile, catastrophic_patterns)
{
	double t0 = cairn_mono_s();

	expect_contained("    local s = (\"a\"):rep(1000)\n"
	                 "    local m = s:match((\"a.*\"):rep(10) .. \"b\")",
	                 "rule_error", 4);
	expect_contained("    local s = (\"a\"):rep(20000)\n"
	                 "    local n = select(2, s:gsub(\"a-a-a-b\", \"\"))",
	                 "rule_error", 4);
	expect_contained("    local s = (\"a\"):rep(30000)\n"
	                 "    for w in s:gmatch(\"a*a*b\") do end",
	                 "rule_error", 4);
	expect_contained("    local s = (\"a\"):rep(60000)\n"
	                 "    local i = s:find((\"a\"):rep(500) .. \"b\", 1, "
	                 "true)",
	                 "rule_error", 4);
	cr_expect_lt(cairn_mono_s() - t0, 20.0);
}

/* #1, #2, #10, #15, #19: what is not in the sandbox */
Test(rules_hostile, forbidden_names)
{
	static const char *const absent[] = {"io",
	                                     "os",
	                                     "package",
	                                     "require",
	                                     "load",
	                                     "loadstring",
	                                     "dofile",
	                                     "loadfile",
	                                     "debug",
	                                     "collectgarbage",
	                                     "print",
	                                     "warn",
	                                     "coroutine",
	                                     "setmetatable",
	                                     "getmetatable",
	                                     "rawset",
	                                     "rawget",
	                                     "rawequal",
	                                     "rawlen",
	                                     "string.dump",
	                                     "math.random",
	                                     "math.randomseed",
	                                     "table.move",
	                                     "(\"\").dump",
	                                     "string.pack",
	                                     "_G",
	                                     "module",
	                                     "newproxy",
	                                     "unpack",
	                                     "utf8.dump",
	                                     NULL};
	char body[256];

	for (int i = 0; absent[i]; i++) {
		/* using it is an error at line 3: a nil value */
		snprintf(body, sizeof(body), "    local x = %s.x", absent[i]);
		if (strchr(absent[i], '.') || absent[i][0] == '(')
			snprintf(body, sizeof(body), "    %s(\"x\")",
			         absent[i]);
		expect_contained(body, "rule_error", 3);
	}
}

/* the same, checked as values: each is nil, so the rule says eligible */
Test(rules_hostile, forbidden_names_are_nil)
{
	struct rs_set *s;
	struct rs_eval *ev = NULL;
	struct cairn_err e;
	char errors[4096];
	json_t *in = json_object(), *out;

	s = hostile_set(
	        "    for _, v in ipairs({io == nil, os == nil, debug == nil,\n"
	        "        load == nil, require == nil, package == nil,\n"
	        "        string.dump == nil, (\"\").dump == nil,\n"
	        "        collectgarbage == nil, coroutine == nil,\n"
	        "        setmetatable == nil, rawset == nil}) do\n"
	        "      c:is_true(\"absent\", v, \"present\", \"reachable\")\n"
	        "    end",
	        errors);
	cr_assert_not_null(s, "%s", errors);
	cr_assert_eq(rs_eval_new(s, NULL, &ev, &e), 0);
	out = rs_evaluate(ev, 0, in, "2025-26", "2025-10-01");
	cr_expect_str_eq(outcome_of(out, "bad"), "eligible", "%s",
	                 json_dumps(out, 0));
	json_decref(out);
	json_decref(in);
	rs_eval_free(ev);
	rs_set_free(s);
}

/* #4, #5: built-ins, globals and the string metatable cannot change */
Test(rules_hostile, monkey_patching)
{
	expect_contained("    string.upper = function() return \"A\" end",
	                 "rule_error", 3);
	expect_contained("    math.floor = nil", "rule_error", 3);
	expect_contained("    x = 1", "rule_error", 3);
	expect_contained("    _ENV.string = nil", "rule_error", 3);
	expect_contained("    getmetatable(\"\").__index = {}", "rule_error",
	                 3);
	expect_contained("    local mt = (\"\").__index\n"
	                 "    mt.upper = nil",
	                 "rule_error", 4);
	expect_contained("    for k in pairs(string) do end\n"
	                 "    table.insert(string, 1)",
	                 "rule_error", 0);
}

/* #18: the input is read-only */
Test(rules_hostile, input_is_read_only)
{
	expect_contained("    s.n = 1000", "rule_error", 3);
	expect_contained("    p.limit = 1", "rule_error", 3);
	expect_contained("    local f = pairs(s)\n"
	                 "    local d = select(2, pairs(s))\n"
	                 "    d.n = 1000",
	                 "rule_error", 5);
}

/* #16, #17: hostile error values and results */
Test(rules_hostile, hostile_errors_and_results)
{
	expect_contained("    error({})", "rule_error", 3);
	expect_contained("    error()", "rule_error", 0);
	expect_contained("    error(\"plain\", 0)", "rule_error", 0);
	expect_contained("    return function() end", "no_checks", 0);
	expect_contained("    c:is_true(\"x\", 42, \"c\", \"m\")", "rule_error",
	                 3);
	expect_contained("    c:at_most(\"x\", \"7\", 10, \"c\", \"m\")",
	                 "rule_error", 3);
	expect_contained("    c:at_most(\"x\", 7, nil, \"c\", \"m\")",
	                 "rule_error", 3);
	expect_contained("    c:at_most(\"x\", 70, 10, \"Not A Code\", \"m\")",
	                 "rule_error", 3);
	expect_contained("    c.at_most(\"x\", 7, 10, \"c\", \"m\")",
	                 "rule_error", 3);
	expect_contained("    rule { id = \"late\", title = \"t\", regulation "
	                 "= \"r\", check = function() end }",
	                 "rule_error", 3);
}

/* #15: unpack and select bombs are errors, not crashes */
Test(rules_hostile, unpack_bomb)
{
	expect_contained("    local t = {table.unpack({}, 1, 1e8)}",
	                 "rule_error memory_limit", 3);
	expect_contained("    local n = select(\"#\", table.unpack({}, 1, "
	                 "5e5))",
	                 "rule_error memory_limit", 0);
	expect_contained("    local s = string.format(\"%99999d\", 1)",
	                 "rule_error", 3);
}

/* #20: no addresses in what tostring gives */
Test(rules_hostile, no_addresses)
{
	expect_contained("    error(tostring(print or tostring) .. "
	                 "tostring({}))",
	                 "rule_error", 3);
	{
		struct rs_set *s;
		struct rs_eval *ev = NULL;
		struct cairn_err e;
		json_t *in = json_object(), *out;
		const char *msg;

		s = hostile_set("    error(tostring(tostring) .. tostring({}))",
		                NULL);
		cr_assert_not_null(s);
		cr_assert_eq(rs_eval_new(s, NULL, &ev, &e), 0);
		out = rs_evaluate(ev, 0, in, "2025-26", "2025-10-01");
		msg = json_string_value(
		        json_object_get(first_reason(out, "bad"), "message"));
		cr_expect(strstr(msg, "0x") == NULL, "%s", msg);
		cr_expect(strstr(msg, "functiontable") != NULL, "%s", msg);
		json_decref(out);
		json_decref(in);
		rs_eval_free(ev);
		rs_set_free(s);
	}
}

/* #3: bytecode is refused at load; #14: deeply nested source too */
Test(rules_hostile, bytecode_and_nesting_refused_at_load)
{
	struct rs_set *s = NULL;
	char errors[4096] = "";
	json_t *files;
	char *deep;
	int i;

	files = json_pack("{s:s, s:s}", "b.lua", "\x1bLua\x54\x00 junk",
	                  "params/2025-26.yaml", params);
	/* json_pack stops at the NUL: what is left is still a binary
	 * chunk's signature */
	cr_expect_neq(rs_load_files("b", files, report, errors, &s), 0);
	cr_expect_null(s);
	cr_expect(strstr(errors, "binary chunk") != NULL, "%s", errors);
	json_decref(files);

	deep = malloc(30000);
	cr_assert_not_null(deep);
	strcpy(deep, "local x = ");
	for (i = 0; i < 10000; i++)
		strcat(deep, "(");
	strcat(deep, "1");
	for (i = 0; i < 10000; i++)
		strcat(deep, ")");
	files = json_pack("{s:s, s:s}", "d.lua", deep, "params/2025-26.yaml",
	                  params);
	errors[0] = '\0';
	cr_expect_neq(rs_load_files("d", files, report, errors, &s), 0);
	cr_expect(strstr(errors, "d.lua") != NULL &&
	                  (strstr(errors, "overflow") != NULL ||
	                   strstr(errors, "levels") != NULL),
	          "%s", errors);
	json_decref(files);
	free(deep);

	/* a file whose top level loops forever is refused, not hung */
	files = json_pack("{s:s, s:s}", "l.lua", "while true do end\n",
	                  "params/2025-26.yaml", params);
	errors[0] = '\0';
	cr_expect_neq(rs_load_files("l", files, report, errors, &s), 0);
	cr_expect(strstr(errors, "instruction_limit") != NULL, "%s", errors);
	json_decref(files);
}

/* #21: an evaluator per thread; another set's evaluator never sees what a
 * hostile one did */
Test(rules_hostile, no_bleed_between_sets)
{
	struct rs_set *bad, *good;
	struct rs_eval *evb = NULL, *evg = NULL;
	struct cairn_err e;
	json_t *in = json_pack("{s:i}", "n", 3), *out;

	bad = hostile_set("    string.upper = nil", NULL);
	good = hostile_set("    c:is_true(\"fine\", true, \"c\", \"m\")", NULL);
	cr_assert(bad && good);
	cr_assert_eq(rs_eval_new(bad, NULL, &evb, &e), 0);
	cr_assert_eq(rs_eval_new(good, NULL, &evg, &e), 0);
	out = rs_evaluate(evb, -1, in, "2025-26", "2025-10-01");
	cr_expect_str_eq(outcome_of(out, "bad"), "needs_review");
	json_decref(out);
	out = rs_evaluate(evg, -1, in, "2025-26", "2025-10-01");
	cr_expect_str_eq(outcome_of(out, "bad"), "eligible");
	cr_expect_str_eq(outcome_of(out, "good"), "eligible");
	json_decref(out);
	json_decref(in);
	rs_eval_free(evb);
	rs_eval_free(evg);
	rs_set_free(bad);
	rs_set_free(good);
}

/* A limit broken many times: the state is rebuilt each time and memory
 * does not grow. */
Test(rules_hostile, repeated_breaks_do_not_leak)
{
	struct rs_limits lim;
	struct rs_set *s;
	struct rs_eval *ev = NULL;
	struct cairn_err e;
	json_t *in = json_pack("{s:i}", "n", 3), *out;
	size_t base;

	small_limits(&lim);
	s = hostile_set("    local t = {}\n"
	                "    for i = 1, 1e9 do t[i] = (\"x\"):rep(1000) .. i "
	                "end",
	                NULL);
	cr_assert_not_null(s);
	cr_assert_eq(rs_eval_new(s, &lim, &ev, &e), 0);
	base = rs_eval_memory_base(ev);
	for (int i = 0; i < 10; i++) {
		out = rs_evaluate(ev, -1, in, "2025-26", "2025-10-01");
		cr_expect_str_eq(outcome_of(out, "good"), "eligible");
		json_decref(out);
	}
	cr_expect_geq(rs_eval_resets(ev), 10);
	cr_expect_leq(rs_eval_memory(ev), base + (512u << 10));
	json_decref(in);
	rs_eval_free(ev);
	rs_set_free(s);
}

/* #1: everything a rule can reach, against the committed allow-list; a
 * name added to or removed from the sandbox must be added here on
 * purpose. */
Test(rules_hostile, sandbox_allow_list)
{
	static const char *const allowed =
	        "[\"_VERSION\",\"assert\",\"error\",\"ipairs\",\"math\","
	        "\"math.abs\",\"math.acos\",\"math.asin\",\"math.atan\","
	        "\"math.ceil\",\"math.cos\",\"math.exp\",\"math.floor\","
	        "\"math.fmod\",\"math.huge\",\"math.log\",\"math.max\","
	        "\"math.maxinteger\",\"math.min\",\"math.mininteger\","
	        "\"math.modf\",\"math.pi\",\"math.sin\",\"math.sqrt\","
	        "\"math.tan\",\"math.tointeger\",\"math.type\",\"math.ult\","
	        "\"next\",\"pairs\",\"pcall\",\"select\",\"string\","
	        "\"string.byte\",\"string.char\",\"string.find\","
	        "\"string.format\",\"string.gmatch\",\"string.gsub\","
	        "\"string.len\",\"string.lower\",\"string.match\","
	        "\"string.rep\",\"string.reverse\",\"string.sub\","
	        "\"string.upper\",\"table\",\"table.concat\",\"table.insert\","
	        "\"table.pack\",\"table.remove\",\"table.sort\","
	        "\"table.unpack\",\"tonumber\",\"tostring\",\"type\","
	        "\"utf8\",\"utf8.char\",\"utf8.charpattern\","
	        "\"utf8.codepoint\",\"utf8.codes\",\"utf8.len\","
	        "\"utf8.offset\",\"xpcall\"]";
	json_t *want = json_loads(allowed, 0, NULL);
	json_t *got = rs_sandbox_names();
	size_t i;
	json_t *v;

	cr_assert_not_null(want);
	cr_assert_not_null(got);
	/* the libraries themselves appear by their fields */
	json_array_foreach(want, i, v)
	{
		const char *n = json_string_value(v);

		if (!strcmp(n, "math") || !strcmp(n, "string") ||
		    !strcmp(n, "table") || !strcmp(n, "utf8")) {
			json_array_remove(want, i);
			i--;
		}
	}
	cr_expect(json_equal(want, got), "sandbox names: %s",
	          json_dumps(got, 0));
	cr_expect(strncmp(rs_lua_release(), "Lua 5.4", 7) == 0);
	json_decref(want);
	json_decref(got);
}

/* #11, #12: mangled rule files and parameters (random bytes, and the Cal
 * Grant example with characters cut or swapped) load or are refused, and
 * what loads evaluates to some outcome: never a crash or a hang. */
Test(rules_hostile, mangled_files)
{
	char path[1024];
	FILE *f;
	char *src;
	long n;
	unsigned seed = 4242;
	json_t *in = json_pack(
	        "{s:{s:s, s:i, s:i, s:i, s:f, s:b, s:b, s:s, s:s, s:i, s:s}}",
	        "student", "dependency", "dependent", "family_size", 3,
	        "income", 50000, "assets", 0, "hs_gpa", 3.2, "ca_resident", 1,
	        "ab540", 0, "citizenship", "citizen", "segment", "uc",
	        "program_months", 9, "application_date", "2022-02-01");
	struct rs_limits lim;

	small_limits(&lim);
	snprintf(path, sizeof(path),
	         "%s/examples/rules/cal_grant/cal_grant.lua", CAIRN_SOURCE_DIR);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	src = calloc(1, (size_t)n + 1);
	cr_assert_eq(fread(src, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	for (int round = 0; round < 60; round++) {
		char *m = strdup(src);
		struct rs_set *s = NULL;
		struct rs_eval *ev = NULL;
		struct cairn_err e;
		json_t *files, *out;
		size_t len = strlen(m);

		for (int k = 0; k < 1 + round % 5; k++) {
			size_t a = (size_t)rand_r(&seed) % len;
			size_t b = (size_t)rand_r(&seed) % len;
			char t = m[a];

			if (round % 3 == 0) {
				m[a] = m[b];
				m[b] = t;
			} else if (round % 3 == 1) {
				memmove(m + a, m + a + 1, len - a);
				len--;
			} else {
				m[a] = (char)(32 + rand_r(&seed) % 95);
			}
		}
		files = json_pack(
		        "{s:s, s:s}", "cal_grant.lua", m, "params/2022-23.yaml",
		        round % 2 ? params
		                  : "name: x\ngpa: {a_high_school: 3.0}\n");
		if (rs_load_files("m", files, NULL, NULL, &s) == 0) {
			cr_assert_eq(rs_eval_new(s, &lim, &ev, &e), 0);
			out = rs_evaluate(ev, -1, in, "2022-23", "2022-06-01");
			cr_expect_not_null(out);
			json_decref(out);
			rs_eval_free(ev);
			rs_set_free(s);
		}
		json_decref(files);
		free(m);
	}
	/* random bytes as Lua and as parameters */
	for (int round = 0; round < 40; round++) {
		char buf[512];
		struct rs_set *s = NULL;
		json_t *files;

		for (size_t i = 0; i < sizeof(buf) - 1; i++)
			buf[i] = (char)(1 + rand_r(&seed) % 127);
		buf[sizeof(buf) - 1] = '\0';
		files = json_pack("{s:s, s:s}", "r.lua", buf,
		                  "params/2022-23.yaml",
		                  round % 2 ? buf : params);
		cr_expect_neq(rs_load_files("g", files, NULL, NULL, &s), 0);
		rs_set_free(s);
		json_decref(files);
	}
	free(src);
	json_decref(in);
}
