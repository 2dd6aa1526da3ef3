/*
 * sandbox.c: the Lua state a rule set runs in, and its limits.
 *
 * Each evaluator owns one state made with lua_newstate and our allocator,
 * so memory is counted and capped. Only base, string, table, math and utf8
 * are opened, and the rules see a copy of their safe parts through
 * read-only proxies (an empty table whose metatable's __index is the real
 * one, whose __newindex raises, whose __metatable hides it): io, os,
 * package, require, load, dofile, debug, collectgarbage, coroutine,
 * string.dump, setmetatable, rawset and their kin are simply absent. The
 * shared string metatable is pointed at the sandbox's string table and
 * locked. Chunks load as text only.
 *
 * Limits are sticky: when the instruction budget (a count hook, armed
 * for a rule that runs long by the watchdog, watchdog.c), the
 * depth or time limit, the memory cap (the allocator) or the string limit
 * is broken, ev->broken is set, the hook is re-armed to fire at every
 * instruction and raise again, and the pcall/xpcall the rules see re-raise
 * it, so a rule cannot catch the limit and carry on. The caller then
 * drops the whole state (evaluate.c) so memory returns to where it was.
 *
 * Pattern functions refuse work whose worst case is too large: the
 * subject length raised to the number of repetitions in the pattern (the
 * backtracking bound of Lua's matcher), because C functions run without
 * the hook ever firing.
 */
#include "rules_int.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The hook fires every this many instructions. */
#define SB_HOOK_EVERY 1000
/* Worst-case steps a pattern function may be asked to do. */
#define SB_PATTERN_COST 1e7
#define SB_PATTERN_LEN  256
/* JSON nested deeper than this is refused as parameters. */
#define SB_JSON_DEPTH 32
/* Objects and lists an input may hold. */
#define SB_INPUT_OBJECTS 4096
/* Milliseconds one protected call may take, whatever the budget left. */
#define SB_TIME_MS 2000

/* Registry keys (their addresses). */
static char key_env, key_globals, key_sentinel;

struct rs_eval *
sb_ev(lua_State *L)
{
	return *(struct rs_eval **)lua_getextraspace(L);
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *
sb_broken_code(enum sb_broken b)
{
	switch (b) {
	case SB_INSTRUCTIONS:
		return "instruction_limit";
	case SB_MEMORY:
		return "memory_limit";
	case SB_STRING:
		return "string_limit";
	case SB_DEPTH:
		return "depth_limit";
	case SB_TIME:
		return "time_limit";
	default:
		return "rule_error";
	}
}

const char *
sb_broken_what(enum sb_broken b)
{
	switch (b) {
	case SB_INSTRUCTIONS:
		return "ran past its instruction budget";
	case SB_MEMORY:
		return "used more memory than allowed";
	case SB_STRING:
		return "built a string longer than allowed";
	case SB_DEPTH:
		return "called functions nested too deep";
	case SB_TIME:
		return "ran past its time limit";
	default:
		return "failed";
	}
}

/* The innermost Lua function on the stack (a rule file's line), into
 * ev->err_file and err_line. Reads only; safe from the allocator. */
static void
sb_where(struct rs_eval *ev)
{
	lua_Debug ar;
	int level;

	if (ev->L == NULL)
		return;
	for (level = 0; level < 64 && lua_getstack(ev->L, level, &ar);
	     level++) {
		if (!lua_getinfo(ev->L, "Sl", &ar))
			break;
		if (ar.currentline > 0) {
			snprintf(ev->err_file, sizeof(ev->err_file), "%s",
			         ar.short_src);
			ev->err_line = ar.currentline;
			return;
		}
	}
}

static void sb_hook(lua_State *L, lua_Debug *ar);

/* Makes a broken limit sticky: from now on every instruction raises. */
static void
sb_break(struct rs_eval *ev, enum sb_broken why)
{
	if (ev->broken != SB_OK)
		return;
	ev->broken = why;
	atomic_store_explicit(&ev->wd_hooked, 1, memory_order_relaxed);
	if (ev->L != NULL)
		lua_sethook(ev->L, sb_hook, LUA_MASKCOUNT, 1);
}

/* Raises the sentinel that no rule can catch for long. */
static int
sb_rethrow(lua_State *L)
{
	lua_pushlightuserdata(L, &key_sentinel);
	return lua_error(L);
}

static void
sb_hook(lua_State *L, lua_Debug *ar)
{
	struct rs_eval *ev = sb_ev(L);

	if (ev->broken == SB_OK) {
		enum sb_broken why = SB_OK;
		lua_Debug tmp;

		ev->budget -= SB_HOOK_EVERY;
		if (ev->budget <= 0)
			why = SB_INSTRUCTIONS;
		else if (lua_getstack(L, ev->lim.depth_max, &tmp))
			why = SB_DEPTH;
		else if (now_ns() > ev->deadline_ns)
			why = SB_TIME;
		if (why == SB_OK)
			return;
		if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0) {
			snprintf(ev->err_file, sizeof(ev->err_file), "%s",
			         ar->short_src);
			ev->err_line = ar->currentline;
		} else {
			sb_where(ev);
		}
		sb_break(ev, why);
	}
	sb_rethrow(L);
}

/*
 * The allocator: counts every byte, refuses growth past the cap (and,
 * once a limit is broken during a call, any growth), and refuses a new
 * string longer than the string limit. Shrinking and freeing always
 * succeed, as Lua requires.
 */
static void *
sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct rs_eval *ev = ud;
	size_t old = ptr ? osize : 0;
	void *p;

	if (nsize == 0) {
		free(ptr);
		ev->mem -= old;
		return NULL;
	}
	if (nsize > old && ev->running) {
		if (ev->broken != SB_OK)
			return NULL;
		if (ev->mem + (nsize - old) > ev->lim.memory) {
			sb_where(ev);
			sb_break(ev, SB_MEMORY);
			return NULL;
		}
		/* a new string object is osize LUA_TSTRING: its header
		 * and its bytes */
		if (ptr == NULL && osize == LUA_TSTRING && !ev->free_strings &&
		    nsize > ev->lim.string_max + 64) {
			sb_where(ev);
			sb_break(ev, SB_STRING);
			return NULL;
		}
	}
	p = realloc(ptr, nsize);
	if (p == NULL) {
		if (nsize <= old)
			return ptr; /* a shrink that failed: keep the block */
		return NULL;
	}
	ev->mem = ev->mem - old + nsize;
	return p;
}

/* --- the functions rules see ---------------------------------------- */

static int
sb_pcall_fn(lua_State *L)
{
	struct rs_eval *ev = sb_ev(L);
	int st;

	luaL_checkany(L, 1);
	st = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
	if (ev->broken != SB_OK)
		return sb_rethrow(L);
	luaL_checkstack(L, 1, NULL);
	lua_pushboolean(L, st == LUA_OK);
	lua_insert(L, 1);
	return lua_gettop(L);
}

static int
sb_xpcall_fn(lua_State *L)
{
	struct rs_eval *ev = sb_ev(L);
	int n = lua_gettop(L), st;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	/* f, msgh, args -> msgh, f, args */
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 2);
	lua_replace(L, 1);
	lua_replace(L, 2);
	st = lua_pcall(L, n - 2, LUA_MULTRET, 1);
	if (ev->broken != SB_OK)
		return sb_rethrow(L);
	luaL_checkstack(L, 1, NULL);
	lua_pushboolean(L, st == LUA_OK);
	lua_replace(L, 1);
	return lua_gettop(L);
}

/* tostring without addresses (they would leak into explanations and
 * differ between runs) and without running metamethods. */
static int
sb_tostring(lua_State *L)
{
	luaL_checkany(L, 1);
	switch (lua_type(L, 1)) {
	case LUA_TNUMBER:
	case LUA_TSTRING:
	case LUA_TBOOLEAN:
	case LUA_TNIL:
		luaL_tolstring(L, 1, NULL);
		break;
	default:
		lua_pushstring(L, luaL_typename(L, 1));
	}
	return 1;
}

static int
sb_rep(lua_State *L)
{
	struct rs_eval *ev = sb_ev(L);
	size_t l, lsep;
	lua_Integer n;

	luaL_checklstring(L, 1, &l);
	n = luaL_checkinteger(L, 2);
	luaL_optlstring(L, 3, "", &lsep);
	if (n > 0 && (double)l * (double)n + (double)lsep * (double)(n - 1) >
	                     (double)ev->lim.string_max) {
		sb_where(ev);
		sb_break(ev, SB_STRING);
		return sb_rethrow(L);
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* The end of a [set] starting at p[i] == '[', as lstrlib's classEnd. */
static size_t
set_end(const char *p, size_t pl, size_t i)
{
	i++;
	if (i < pl && p[i] == '^')
		i++;
	do {
		if (i >= pl)
			return pl;
		if (p[i++] == '%' && i < pl)
			i++;
	} while (i < pl && p[i] != ']');
	return i < pl ? i + 1 : pl;
}

/*
 * An upper bound of the steps Lua's matcher may take for pattern p on a
 * subject of n bytes: each repetition (*, +, -) may try every length at
 * every start, each ? two ways.
 */
static double
pattern_cost(const char *p, size_t pl, size_t n, int plain, int every_start)
{
	double reps = 0, opts = 0, per_start;
	int anchored = !plain && pl > 0 && p[0] == '^';
	size_t i = anchored ? 1 : 0;

	if (plain)
		return ((double)n + 1) * ((double)pl + 1);
	while (i < pl) {
		char ch = p[i];

		if (ch == '%' && i + 1 < pl) {
			if (p[i + 1] == 'b') {
				i += 4;
				continue;
			}
			if (p[i + 1] == 'f') {
				i += 2;
				if (i < pl && p[i] == '[')
					i = set_end(p, pl, i);
				continue;
			}
			i += 2;
		} else if (ch == '[') {
			i = set_end(p, pl, i);
		} else if (ch == '(' || ch == ')') {
			i++;
			continue;
		} else {
			i++;
		}
		if (i < pl && (p[i] == '*' || p[i] == '+' || p[i] == '-')) {
			reps++;
			i++;
		} else if (i < pl && p[i] == '?') {
			opts++;
			i++;
		}
	}
	per_start = pow((double)n + 1, reps) * pow(2, opts) * ((double)pl + 1);
	return anchored && !every_start ? per_start
	                                : per_start * ((double)n + 1);
}

enum { PAT_FIND, PAT_MATCH, PAT_GMATCH, PAT_GSUB };

static int
sb_pattern(lua_State *L, int kind)
{
	size_t n, pl;
	const char *p;
	int plain;

	luaL_checklstring(L, 1, &n);
	p = luaL_checklstring(L, 2, &pl);
	plain = kind == PAT_FIND && lua_toboolean(L, 4);
	if (!plain && pl > SB_PATTERN_LEN)
		return luaL_error(L, "pattern longer than %d bytes",
		                  SB_PATTERN_LEN);
	if (pattern_cost(p, pl, n, plain,
	                 kind == PAT_GMATCH || kind == PAT_GSUB) >
	    SB_PATTERN_COST)
		return luaL_error(L,
		                  "pattern too complex for a subject of %zu "
		                  "bytes (too many repetitions)",
		                  n);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

static int
sb_find(lua_State *L)
{
	return sb_pattern(L, PAT_FIND);
}

static int
sb_match(lua_State *L)
{
	return sb_pattern(L, PAT_MATCH);
}

static int
sb_gmatch(lua_State *L)
{
	return sb_pattern(L, PAT_GMATCH);
}

static int
sb_gsub(lua_State *L)
{
	return sb_pattern(L, PAT_GSUB);
}

/* --- read-only proxies ------------------------------------------------ */

static int
ro_newindex(lua_State *L)
{
	if (lua_type(L, 2) == LUA_TSTRING)
		return luaL_error(L,
		                  "attempt to change read-only data (field "
		                  "'%s')",
		                  lua_tostring(L, 2));
	return luaL_error(L, "attempt to change read-only data");
}

static int
env_newindex(lua_State *L)
{
	if (lua_type(L, 2) == LUA_TSTRING)
		return luaL_error(L,
		                  "assignment to global '%s': globals are "
		                  "read-only (declare it local)",
		                  lua_tostring(L, 2));
	return luaL_error(L, "globals are read-only");
}

/* The data table behind proxy idx, pushed. */
static void
ro_data(lua_State *L, int idx)
{
	if (!lua_getmetatable(L, idx)) {
		lua_pushnil(L);
		return;
	}
	lua_pushliteral(L, "__index");
	lua_rawget(L, -2);
	lua_remove(L, -2);
}

static int
ro_len(lua_State *L)
{
	ro_data(L, 1);
	lua_pushinteger(L, lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1)
	                                      : 0);
	return 1;
}

static int
ro_next(lua_State *L)
{
	lua_settop(L, 2);
	ro_data(L, 1);
	if (!lua_istable(L, -1))
		return 0;
	lua_pushvalue(L, 2);
	if (lua_next(L, -2))
		return 2;
	lua_pushnil(L);
	return 1;
}

static int
ro_pairs(lua_State *L)
{
	lua_pushcfunction(L, ro_next);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

/* Replaces the table at the top with a read-only proxy of it. */
static void
sb_make_proxy(lua_State *L)
{
	lua_createtable(L, 0, 0); /* data proxy */
	lua_createtable(L, 0, 5); /* data proxy mt */
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, ro_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushcfunction(L, ro_len);
	lua_setfield(L, -2, "__len");
	lua_pushcfunction(L, ro_pairs);
	lua_setfield(L, -2, "__pairs");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_remove(L, -2);
}

void
sb_push_json(lua_State *L, const json_t *v, int depth)
{
	const char *k;
	json_t *x;
	size_t i;

	luaL_checkstack(L, 6, "input nested too deep");
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (depth >= SB_JSON_DEPTH)
			luaL_error(L, "data nested more than %d deep",
			           SB_JSON_DEPTH);
		lua_createtable(L, 0, (int)json_object_size(v));
		json_object_foreach((json_t *)v, k, x)
		{
			if (json_is_null(x))
				continue;
			lua_pushstring(L, k);
			sb_push_json(L, x, depth + 1);
			lua_rawset(L, -3);
		}
		sb_make_proxy(L);
		break;
	case JSON_ARRAY:
		if (depth >= SB_JSON_DEPTH)
			luaL_error(L, "data nested more than %d deep",
			           SB_JSON_DEPTH);
		lua_createtable(L, (int)json_array_size(v), 0);
		json_array_foreach(v, i, x)
		{
			sb_push_json(L, x, depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		sb_make_proxy(L);
		break;
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(v));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(v));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	default:
		lua_pushnil(L);
	}
}

/* The pool's proxy for input slot s and the keys its object had last
 * time, pushed (P K); both made the first time the slot is used. */
static void
pool_slot(lua_State *L, struct rs_eval *ev, int s)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, ev->ref_pool);
	if (lua_rawgeti(L, -1, 2 * (lua_Integer)s) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_createtable(L, 0, 0);
		sb_make_proxy(L);
		lua_pushvalue(L, -1);
		lua_rawseti(L, -3, 2 * (lua_Integer)s);
		lua_createtable(L, 0, 0);
		lua_pushvalue(L, -1);
		lua_rawseti(L, -4, 2 * (lua_Integer)s + 1);
	} else {
		lua_rawgeti(L, -2, 2 * (lua_Integer)s + 1);
	}
	lua_remove(L, -3);
}

static void input_value(lua_State *L, const json_t *x, int *slot);

/*
 * Pushes the read-only view of object v: the proxy of the pool's next
 * slot. When v has the keys, in the same order, of the object the slot
 * held last time (inputs from one source share their shape), its data
 * table is refilled in place: no table is made and no key is hashed
 * into a string again, the keys come from the slot's list. Otherwise
 * the slot gets a new data table and list.
 */
static void
input_object(lua_State *L, const json_t *v, int *slot)
{
	struct rs_eval *ev = sb_ev(L);
	size_t n = json_object_size(v), j = 0, old, kl, ol;
	int s0, P, K, mt, D, same;
	const char *k, *o;
	json_t *x;

	luaL_checkstack(L, 12, "input nested too deep");
	if (*slot >= SB_INPUT_OBJECTS)
		luaL_error(L, "more than %d objects and lists in the input",
		           SB_INPUT_OBJECTS);
	s0 = ++*slot;
	pool_slot(L, ev, s0);
	K = lua_gettop(L);
	P = K - 1;
	lua_getmetatable(L, P);
	mt = lua_gettop(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ev->ref_kindex);
	lua_rawget(L, mt);
	D = lua_gettop(L);
	old = lua_rawlen(L, K);
	same = old == n;
	if (same) {
		json_object_foreach((json_t *)v, k, x)
		{
			lua_rawgeti(L, K, (lua_Integer)++j);
			o = lua_tolstring(L, -1, &ol);
			kl = strlen(k);
			if (o == NULL || ol != kl || memcmp(o, k, kl) != 0) {
				same = 0;
				break;
			}
			input_value(L, x, slot);
			lua_rawset(L, D);
		}
	}
	if (!same) {
		*slot = s0;
		lua_settop(L, mt);
		lua_createtable(L, 0, (int)n);
		D = lua_gettop(L);
		j = 0;
		json_object_foreach((json_t *)v, k, x)
		{
			lua_pushlstring(L, k, strlen(k));
			lua_pushvalue(L, -1);
			lua_rawseti(L, K, (lua_Integer)++j);
			if (json_is_null(x)) {
				lua_pop(L, 1);
				continue;
			}
			input_value(L, x, slot);
			lua_rawset(L, D);
		}
		while (j < old) {
			lua_pushnil(L);
			lua_rawseti(L, K, (lua_Integer)++j);
		}
		lua_rawgeti(L, LUA_REGISTRYINDEX, ev->ref_kindex);
		lua_pushvalue(L, D);
		lua_rawset(L, mt);
	}
	lua_settop(L, P);
}

/* Pushes the read-only view of array v: a new data table behind the
 * proxy of the pool's next slot. */
static void
input_array(lua_State *L, const json_t *v, int *slot)
{
	struct rs_eval *ev = sb_ev(L);
	int s0, P;
	json_t *x;
	size_t i;

	luaL_checkstack(L, 8, "input nested too deep");
	if (*slot >= SB_INPUT_OBJECTS)
		luaL_error(L, "more than %d objects and lists in the input",
		           SB_INPUT_OBJECTS);
	s0 = ++*slot;
	pool_slot(L, ev, s0);
	P = lua_gettop(L) - 1;
	/* the slot's key list no longer describes its data */
	lua_pushboolean(L, 0);
	lua_rawseti(L, -2, 1);
	lua_getmetatable(L, P);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ev->ref_kindex);
	lua_createtable(L, (int)json_array_size(v), 0);
	json_array_foreach(v, i, x)
	{
		input_value(L, x, slot);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_rawset(L, -3);
	lua_settop(L, P);
}

static void
input_value(lua_State *L, const json_t *x, int *slot)
{
	switch (json_typeof(x)) {
	case JSON_OBJECT:
		input_object(L, x, slot);
		break;
	case JSON_ARRAY:
		input_array(L, x, slot);
		break;
	default:
		sb_push_json(L, x, 0);
	}
}

void
sb_input(lua_State *L, const json_t *input)
{
	int slot = 0;

	input_object(L, input, &slot);
	lua_pop(L, 1);
}

/* --- building the state --------------------------------------------- */

/* Copies the named fields of the table at src into the table at dst. */
static void
copy_fields(lua_State *L, int src, int dst, const char *const *names)
{
	src = lua_absindex(L, src);
	dst = lua_absindex(L, dst);
	for (; *names; names++) {
		lua_getfield(L, src, *names);
		lua_setfield(L, dst, *names);
	}
}

/* Sets dst[name] to a closure of fn over src[name] (the original). */
static void
wrap_field(lua_State *L, int src, int dst, const char *name, lua_CFunction fn)
{
	src = lua_absindex(L, src);
	dst = lua_absindex(L, dst);
	lua_getfield(L, src, name);
	lua_pushcclosure(L, fn, 1);
	lua_setfield(L, dst, name);
}

static const char *const base_names[] = {
        "assert", "error", "ipairs",   "next",     "pairs",
        "select", "type",  "tonumber", "_VERSION", NULL};
static const char *const string_names[] = {"byte", "char",  "format",
                                           "len",  "lower", "reverse",
                                           "sub",  "upper", NULL};
static const char *const table_names[] = {"concat", "insert", "pack", "remove",
                                          "sort",   "unpack", NULL};
static const char *const math_names[] = {
        "abs",        "acos",  "asin",       "atan", "ceil", "cos",
        "exp",        "floor", "fmod",       "huge", "log",  "max",
        "maxinteger", "min",   "mininteger", "modf", "pi",   "sin",
        "sqrt",       "tan",   "tointeger",  "type", "ult",  NULL};
static const char *const utf8_names[] = {
        "char", "charpattern", "codepoint", "codes", "len", "offset", NULL};

static int rule_fn(lua_State *L);

/* Runs in a protected call: builds the sandbox in the fresh state. */
static int
sb_open_p(lua_State *L)
{
	static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
	                                {LUA_STRLIBNAME, luaopen_string},
	                                {LUA_TABLIBNAME, luaopen_table},
	                                {LUA_MATHLIBNAME, luaopen_math},
	                                {LUA_UTF8LIBNAME, luaopen_utf8},
	                                {NULL, NULL}};
	struct rs_eval *ev = sb_ev(L);
	const luaL_Reg *lib;
	int G, S, str;

	for (lib = libs; lib->func; lib++) {
		luaL_requiref(L, lib->name, lib->func, 1);
		lua_pop(L, 1);
	}
	lua_pushglobaltable(L);
	G = lua_gettop(L);
	lua_createtable(L, 0, 24); /* S: what rules see as globals */
	S = lua_gettop(L);
	copy_fields(L, G, S, base_names);
	lua_pushcfunction(L, sb_pcall_fn);
	lua_setfield(L, S, "pcall");
	lua_pushcfunction(L, sb_xpcall_fn);
	lua_setfield(L, S, "xpcall");
	lua_pushcfunction(L, sb_tostring);
	lua_setfield(L, S, "tostring");

	/* string: the safe copy, with guarded repetition and patterns */
	lua_getfield(L, G, "string");
	lua_createtable(L, 0, 16);
	str = lua_gettop(L);
	copy_fields(L, -2, str, string_names);
	wrap_field(L, -2, str, "rep", sb_rep);
	wrap_field(L, -2, str, "find", sb_find);
	wrap_field(L, -2, str, "match", sb_match);
	wrap_field(L, -2, str, "gmatch", sb_gmatch);
	wrap_field(L, -2, str, "gsub", sb_gsub);
	/* the metatable every string shares: methods come from the safe
	 * copy, and it cannot be read or replaced */
	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) {
		lua_pushvalue(L, str);
		lua_setfield(L, -2, "__index");
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "__metatable");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	lua_pushvalue(L, str);
	sb_make_proxy(L);
	lua_setfield(L, S, "string");
	lua_pop(L, 2);

	lua_getfield(L, G, "table");
	lua_createtable(L, 0, 8);
	copy_fields(L, -2, -1, table_names);
	sb_make_proxy(L);
	lua_setfield(L, S, "table");
	lua_pop(L, 1);

	lua_getfield(L, G, "math");
	lua_createtable(L, 0, 26);
	copy_fields(L, -2, -1, math_names);
	sb_make_proxy(L);
	lua_setfield(L, S, "math");
	lua_pop(L, 1);

	lua_getfield(L, G, "utf8");
	lua_createtable(L, 0, 8);
	copy_fields(L, -2, -1, utf8_names);
	sb_make_proxy(L);
	lua_setfield(L, S, "utf8");
	lua_pop(L, 1);

	/* rule{} exists while the files load */
	lua_pushcfunction(L, rule_fn);
	lua_setfield(L, S, "rule");
	lua_pushvalue(L, S);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &key_globals);

	/* the environment of every chunk: reads S, refuses writes */
	lua_createtable(L, 0, 0);
	lua_createtable(L, 0, 3);
	lua_pushvalue(L, S);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, env_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &key_env);

	/* the checker: a userdata whose methods and fields (today,
	 * award_year, year) come from a hidden table the host updates */
	rs_checker_methods(L);
	lua_pushvalue(L, -1);
	ev->ref_cdata = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_newuserdatauv(L, 0, 0);
	lua_createtable(L, 0, 3);
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, ro_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	ev->ref_checker = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);

	/* the input's objects: proxies kept for every evaluation, each
	 * filled by sb_input; the first is what the rules get as s */
	lua_createtable(L, 16, 0);
	ev->ref_pool = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushliteral(L, "__index");
	ev->ref_kindex = luaL_ref(L, LUA_REGISTRYINDEX);
	pool_slot(L, ev, 1);
	lua_pop(L, 1);
	ev->ref_input = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

int
sb_open(struct rs_eval *ev, struct cairn_err *e)
{
	lua_State *L;
	int st;

	ev->mem = 0;
	ev->broken = SB_OK;
	ev->running = 0;
	L = lua_newstate(sb_alloc, ev);
	if (L == NULL) {
		cairn_err_set(e, "", 0, 0, "out of memory for a Lua state");
		return CAIRN_EINVALID;
	}
	*(struct rs_eval **)lua_getextraspace(L) = ev;
	ev->L = L;
	/* generational collection suits many short-lived inputs */
	lua_gc(L, LUA_GCGEN, 0, 0);
	lua_pushcfunction(L, sb_open_p);
	ev->running = 1;
	ev->budget = INT64_MAX;
	st = lua_pcall(L, 0, 0, 0);
	ev->running = 0;
	if (st != LUA_OK || ev->broken != SB_OK) {
		cairn_err_set(e, "", 0, 0,
		              "cannot build the sandbox (memory limit %zu "
		              "bytes too small?)",
		              ev->lim.memory);
		sb_close(ev);
		return CAIRN_EINVALID;
	}
	lua_settop(L, 0);
	return 0;
}

void
sb_close(struct rs_eval *ev)
{
	if (ev->L != NULL) {
		ev->running = 0;
		lua_close(ev->L);
	}
	ev->L = NULL;
	ev->broken = SB_OK;
}

/* Only stores and lua_sethook: the watchdog's signal handler calls it. */
void
sb_arm_budget(struct rs_eval *ev)
{
	int every = SB_HOOK_EVERY;

	ev->budget = ev->lim.instructions;
	if (ev->budget < every)
		every = (int)(ev->budget > 0 ? ev->budget : 1);
	ev->deadline_ns = now_ns() + (int64_t)SB_TIME_MS * 1000000;
	atomic_store_explicit(&ev->wd_hooked, 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	lua_sethook(ev->L, sb_hook, LUA_MASKCOUNT, every);
}

void
sb_arm(struct rs_eval *ev)
{
	int every = SB_HOOK_EVERY;

	ev->budget = ev->lim.instructions;
	if (ev->budget < every)
		every = (int)(ev->budget > 0 ? ev->budget : 1);
	ev->deadline_ns = now_ns() + (int64_t)SB_TIME_MS * 1000000;
	lua_sethook(ev->L, sb_hook, LUA_MASKCOUNT, every);
}

/* The message handler of our protected calls: records where the error
 * happened and what it says, reading the error object only if it is a
 * string (never running its metamethods). */
static int
sb_msgh(lua_State *L)
{
	struct rs_eval *ev = sb_ev(L);
	const char *msg;
	size_t n, fl;
	char *end;
	long line;

	if (ev->broken != SB_OK)
		return 1;
	sb_where(ev);
	if (lua_type(L, 1) != LUA_TSTRING) {
		snprintf(ev->err_msg, sizeof(ev->err_msg),
		         "error object is a %s value", luaL_typename(L, 1));
		return 1;
	}
	msg = lua_tolstring(L, 1, &n);
	/* "file:line: message": keep the line, drop the prefix */
	fl = strlen(ev->err_file);
	if (fl > 0 && n > fl + 1 && memcmp(msg, ev->err_file, fl) == 0 &&
	    msg[fl] == ':') {
		line = strtol(msg + fl + 1, &end, 10);
		if (end > msg + fl + 1 && end[0] == ':' && end[1] == ' ') {
			ev->err_line = (int)line;
			msg = end + 2;
		}
	}
	snprintf(ev->err_msg, sizeof(ev->err_msg), "%s", msg);
	return 1;
}

int
sb_call(struct rs_eval *ev, int nargs)
{
	lua_State *L = ev->L;
	int st;

	ev->budget = ev->lim.instructions;
	ev->err_file[0] = '\0';
	ev->err_line = 0;
	ev->err_msg[0] = '\0';
	ev->running = 1;
	st = lua_pcall(L, nargs, 0, 1);
	ev->running = 0;
	if (st == LUA_ERRMEM && ev->broken == SB_OK)
		ev->broken = SB_MEMORY;
	if (st != LUA_OK && ev->broken == SB_OK && ev->err_msg[0] == '\0') {
		if (lua_type(L, -1) == LUA_TSTRING)
			snprintf(ev->err_msg, sizeof(ev->err_msg), "%s",
			         lua_tostring(L, -1));
		else
			snprintf(ev->err_msg, sizeof(ev->err_msg),
			         "error in the error handler");
	}
	lua_settop(L, 1);
	return st;
}

void
sb_push_msgh(lua_State *L)
{
	lua_pushcfunction(L, sb_msgh);
}

int
sb_pcall(struct rs_eval *ev, int nargs)
{
	lua_State *L = ev->L;
	int st, base = lua_gettop(L) - nargs;

	ev->err_file[0] = '\0';
	ev->err_line = 0;
	ev->err_msg[0] = '\0';
	lua_pushcfunction(L, sb_msgh);
	lua_insert(L, base);
	sb_arm(ev);
	ev->running = 1;
	st = lua_pcall(L, nargs, 0, base);
	ev->running = 0;
	lua_sethook(L, NULL, 0, 0);
	if (st == LUA_ERRMEM && ev->broken == SB_OK)
		ev->broken = SB_MEMORY;
	if (st != LUA_OK && ev->broken == SB_OK && ev->err_msg[0] == '\0') {
		if (lua_type(L, -1) == LUA_TSTRING)
			snprintf(ev->err_msg, sizeof(ev->err_msg), "%s",
			         lua_tostring(L, -1));
		else
			snprintf(ev->err_msg, sizeof(ev->err_msg),
			         "error in the error handler");
	}
	lua_settop(L, base - 1);
	return st;
}

/* --- loading rule files --------------------------------------------- */

static int
rule_fn(lua_State *L)
{
	struct rs_eval *ev = sb_ev(L);
	const char *id, *title, *reg;
	lua_Debug ar;
	json_t *r, *o;
	size_t i;
	int line = 0;

	if (ev->loading_rules == NULL)
		return luaL_error(L, "rule{} may only be called at the top "
		                     "of a rule file");
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_pushliteral(L, "id");
	lua_rawget(L, 1);
	lua_pushliteral(L, "title");
	lua_rawget(L, 1);
	lua_pushliteral(L, "regulation");
	lua_rawget(L, 1);
	lua_pushliteral(L, "check");
	lua_rawget(L, 1);
	if (lua_type(L, 2) != LUA_TSTRING)
		return luaL_error(L, "rule{}: id must be a string");
	id = lua_tostring(L, 2);
	if (!rs_name_ok(id))
		return luaL_error(L,
		                  "rule{}: id '%s' is not valid (a lowercase "
		                  "letter, then lowercase letters, digits or "
		                  "'_', at most 64)",
		                  id);
	if (lua_type(L, 3) != LUA_TSTRING || lua_rawlen(L, 3) == 0)
		return luaL_error(L, "rule{} '%s': title must be a string", id);
	if (lua_type(L, 4) != LUA_TSTRING || lua_rawlen(L, 4) == 0)
		return luaL_error(L,
		                  "rule{} '%s': regulation must be a string "
		                  "naming the law or policy it implements",
		                  id);
	if (lua_type(L, 5) != LUA_TFUNCTION)
		return luaL_error(L,
		                  "rule{} '%s': check must be a function(c, s, "
		                  "p)",
		                  id);
	lua_pushnil(L);
	while (lua_next(L, 1)) {
		const char *k = lua_type(L, -2) == LUA_TSTRING
		                        ? lua_tostring(L, -2)
		                        : NULL;

		lua_pop(L, 1);
		if (k == NULL ||
		    (strcmp(k, "id") && strcmp(k, "title") &&
		     strcmp(k, "regulation") && strcmp(k, "check")))
			return luaL_error(L,
			                  "rule{} '%s': unknown field %s%s%s "
			                  "(allowed: id, title, regulation, "
			                  "check)",
			                  id, k ? "'" : "",
			                  k ? k : "(not a name)", k ? "'" : "");
	}
	json_array_foreach(ev->loading_rules, i, o)
	{
		if (!strcmp(json_string_value(json_object_get(o, "id")), id))
			return luaL_error(
			        L,
			        "rule{}: id '%s' is already defined at %s:%d",
			        id,
			        json_string_value(json_object_get(o, "file")),
			        (int)json_integer_value(
			                json_object_get(o, "line")));
	}
	if (ev->nrules >= RS_MAX_RULES)
		return luaL_error(L, "more than %d rules in one set",
		                  RS_MAX_RULES);
	title = lua_tostring(L, 3);
	reg = lua_tostring(L, 4);
	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
		line = ar.currentline;
	r = json_pack("{s:s, s:s, s:s, s:s, s:i}", "id", id, "title", title,
	              "regulation", reg, "file", ev->loading_file, "line",
	              line);
	if (r == NULL || json_array_append_new(ev->loading_rules, r) != 0)
		return luaL_error(L, "out of memory");
	lua_pushvalue(L, 5);
	ev->rule_ref[ev->nrules++] = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

int
sb_load_file(struct rs_eval *ev, const char *path, const char *text, size_t len,
             struct cairn_err *e)
{
	lua_State *L = ev->L;
	char chunk[300];
	int st;

	lua_settop(L, 0);
	snprintf(chunk, sizeof(chunk), "=%s", path);
	ev->loading_file = path;
	ev->running = 1;
	st = luaL_loadbufferx(L, text, len, chunk, "t");
	ev->running = 0;
	if (st != LUA_OK) {
		const char *m = lua_type(L, -1) == LUA_TSTRING
		                        ? lua_tostring(L, -1)
		                        : "out of memory";
		size_t pl = strlen(path);
		int line = 0;
		char *end;

		/* "path:line: message" */
		if (strncmp(m, path, pl) == 0 && m[pl] == ':') {
			long l = strtol(m + pl + 1, &end, 10);

			if (end > m + pl + 1 && end[0] == ':' &&
			    end[1] == ' ') {
				line = (int)l;
				m = end + 2;
			}
		}
		cairn_err_set(e, path, line, 0, "%s", m);
		lua_settop(L, 0);
		return CAIRN_EINVALID;
	}
	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_env);
	if (lua_setupvalue(L, -2, 1) == NULL)
		lua_pop(L, 1);
	st = sb_pcall(ev, 0);
	if (st != LUA_OK) {
		if (ev->broken != SB_OK)
			cairn_err_set(e, path, ev->err_line, 0,
			              "loading the file %s (%s)",
			              sb_broken_what(ev->broken),
			              sb_broken_code(ev->broken));
		else
			cairn_err_set(e, path, ev->err_line, 0, "%s",
			              ev->err_msg);
		return CAIRN_EINVALID;
	}
	return 0;
}

void
sb_seal(struct rs_eval *ev)
{
	lua_State *L = ev->L;

	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_globals);
	lua_pushnil(L);
	lua_setfield(L, -2, "rule");
	lua_pop(L, 1);
	ev->loading_rules = NULL;
}

/* --- the allow-list, for the self-test ---------------------------------- */

static int
names_p(lua_State *L)
{
	json_t *out = lua_touserdata(L, 1);
	int S;

	lua_rawgetp(L, LUA_REGISTRYINDEX, &key_globals);
	S = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, S)) {
		const char *k = lua_tostring(L, -2);

		if (lua_type(L, -1) == LUA_TTABLE && lua_getmetatable(L, -1)) {
			/* a library behind its proxy: list its fields */
			int lib;

			lua_getfield(L, -1, "__index");
			lib = lua_gettop(L);
			lua_pushnil(L);
			while (lua_next(L, lib)) {
				char name[128];

				snprintf(name, sizeof(name), "%s.%s", k,
				         lua_tostring(L, -2));
				json_array_append_new(out, json_string(name));
				lua_pop(L, 1);
			}
			lua_pop(L, 2);
		} else {
			json_array_append_new(out, json_string(k));
		}
		lua_pop(L, 1);
	}
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
	              json_string_value(*(json_t *const *)b));
}

json_t *
rs_sandbox_names(void)
{
	struct rs_eval ev;
	struct cairn_err e;
	json_t *out = json_array(), **v;
	size_t n, i;

	memset(&ev, 0, sizeof(ev));
	rs_limits_default(&ev.lim);
	if (out == NULL || sb_open(&ev, &e) != 0) {
		json_decref(out);
		return NULL;
	}
	sb_seal(&ev);
	lua_settop(ev.L, 0);
	lua_pushcfunction(ev.L, names_p);
	lua_pushlightuserdata(ev.L, out);
	if (sb_pcall(&ev, 1) != LUA_OK) {
		sb_close(&ev);
		json_decref(out);
		return NULL;
	}
	sb_close(&ev);
	/* sorted, so the list can be compared with a committed one */
	n = json_array_size(out);
	v = malloc((n + 1) * sizeof(*v));
	if (v == NULL) {
		json_decref(out);
		return NULL;
	}
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(out, i));
	qsort(v, n, sizeof(*v), name_cmp);
	json_array_clear(out);
	for (i = 0; i < n; i++)
		json_array_append_new(out, v[i]);
	free(v);
	return out;
}

const char *
rs_lua_release(void)
{
	return LUA_RELEASE;
}
