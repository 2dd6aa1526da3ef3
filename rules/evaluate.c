/*
 * evaluate.c: evaluators and evaluations. An evaluator is one sandboxed
 * state with the set's files loaded and each award year's parameters
 * turned into read-only Lua tables once. An evaluation points the input
 * proxy at the new input, calls each rule's check function under the
 * limits and records every check in C arrays (struct rs_result), so the
 * hot path builds no JSON; rs_result_json turns a result into the
 * decision object of rules.h when someone needs it.
 */
#include "rules_int.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
rs_limits_default(struct rs_limits *l)
{
	l->instructions = 1000000;
	l->memory = 32u << 20;
	l->string_max = 256u << 10;
	l->depth_max = 200;
}

const char *
rs_outcome_name(enum rs_outcome o)
{
	switch (o) {
	case RS_ELIGIBLE:
		return "eligible";
	case RS_INELIGIBLE:
		return "ineligible";
	default:
		return "needs_review";
	}
}

/* --- results ------------------------------------------------------------ */

struct rs_result *
rs_result_new(void)
{
	struct rs_result *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->acap = 4096;
	r->arena = malloc(r->acap);
	r->capchecks = 64;
	r->checks = malloc(r->capchecks * sizeof(*r->checks));
	r->capvalues = 128;
	r->values = malloc(r->capvalues * sizeof(*r->values));
	if (r->arena == NULL || r->checks == NULL || r->values == NULL) {
		rs_result_free(r);
		return NULL;
	}
	r->arena[0] = '\0';
	r->alen = 1;
	return r;
}

void
rs_result_free(struct rs_result *r)
{
	if (r == NULL)
		return;
	free(r->arena);
	free(r->checks);
	free(r->values);
	free(r);
}

void
rs_result_reset(struct rs_result *r, const struct rs_set *s,
                const char *award_year)
{
	size_t n = award_year ? strnlen(award_year, sizeof(r->award_year)) : 0;

	r->set = s;
	/* an award year is 7 characters; a longer one names no year */
	if (n == sizeof(r->award_year))
		n--;
	memcpy(r->award_year, award_year ? award_year : "", n);
	r->award_year[n] = '\0';
	r->ndec = 0;
	r->nchecks = 0;
	r->nvalues = 0;
	r->alen = 1;
	r->nmemo = 0;
}

/* Copies n bytes into the arena; 0 when it is full (the caller fails). */
uint32_t
rs_arena_str(struct rs_result *r, const char *s, size_t n)
{
	uint32_t off;

	if (r->alen + n + 1 > r->acap) {
		size_t cap = r->acap;
		char *a;

		while (cap < r->alen + n + 1)
			cap *= 2;
		if (cap > RS_MAX_ARENA)
			return 0;
		a = realloc(r->arena, cap);
		if (a == NULL)
			return 0;
		r->arena = a;
		r->acap = (uint32_t)cap;
	}
	off = r->alen;
	memcpy(r->arena + off, s, n);
	r->arena[off + n] = '\0';
	r->alen += (uint32_t)n + 1;
	return off;
}

int
rs_result_count(const struct rs_result *r)
{
	return r->ndec;
}

const char *
rs_result_rule(const struct rs_result *r, int i)
{
	if (i < 0 || i >= r->ndec)
		return NULL;
	return json_string_value(json_object_get(
	        json_array_get(r->set->rules, (size_t)r->dec[i].rule), "id"));
}

enum rs_outcome
rs_result_outcome(const struct rs_result *r, int i)
{
	if (i < 0 || i >= r->ndec)
		return RS_NEEDS_REVIEW;
	return (enum rs_outcome)r->dec[i].outcome;
}

/* --- the checker's methods ---------------------------------------------- */

/* The evaluator, after checking the call is c:method(...) inside a
 * rule's check. */
static struct rs_eval *
checking(lua_State *L, const char *method)
{
	struct rs_eval *ev = sb_ev(L);

	if (lua_type(L, 1) != LUA_TUSERDATA)
		luaL_error(L, "call it as c:%s(...), with a colon", method);
	if (ev->cur == NULL)
		luaL_error(L,
		           "c:%s: checks are made only inside a rule's check "
		           "function",
		           method);
	return ev;
}

static uint32_t
arena_or_fail(lua_State *L, struct rs_result *r, const char *s, size_t n)
{
	uint32_t off = rs_arena_str(r, s, n);

	if (off == 0)
		luaL_error(L,
		           "the explanation of this evaluation is too large");
	return off;
}

/* A new check named by the string at idx; returns its index. */
static uint32_t
new_check(lua_State *L, struct rs_eval *ev, int idx, const char *method)
{
	struct rs_result *r = ev->cur;
	struct rs_check *c;
	const char *name;
	size_t n;

	if (lua_type(L, idx) != LUA_TSTRING)
		luaL_error(L,
		           "c:%s: the first argument must be the check's "
		           "name (a string)",
		           method);
	name = lua_tolstring(L, idx, &n);
	if (n == 0 || n > 64)
		luaL_error(L, "c:%s: a check's name is 1 to 64 characters",
		           method);
	if (r->nchecks >= RS_MAX_CHECKS)
		luaL_error(L, "more than %d checks in one evaluation",
		           RS_MAX_CHECKS);
	if (r->nchecks == r->capchecks) {
		struct rs_check *nc = realloc(
		        r->checks, 2 * r->capchecks * sizeof(*r->checks));

		if (nc == NULL)
			luaL_error(L, "out of memory");
		r->checks = nc;
		r->capchecks *= 2;
	}
	c = &r->checks[r->nchecks];
	memset(c, 0, sizeof(*c));
	c->name = arena_or_fail(L, r, name, n);
	c->v0 = r->nvalues;
	ev->cur_dec->nc++;
	return r->nchecks++;
}

/* Records the value at idx under a static key or the string at kidx;
 * returns its Lua type. */
static int
add_value(lua_State *L, struct rs_eval *ev, uint32_t ci, const char *skey,
          int kidx, int idx, const char *method)
{
	struct rs_result *r = ev->cur;
	struct rs_value *v;
	const char *s;
	size_t n;
	int t;

	if (r->nvalues >= RS_MAX_VALUES)
		luaL_error(L, "more than %d check values in one evaluation",
		           RS_MAX_VALUES);
	if (r->nvalues == r->capvalues) {
		struct rs_value *nv = realloc(
		        r->values, 2 * r->capvalues * sizeof(*r->values));

		if (nv == NULL)
			luaL_error(L, "out of memory");
		r->values = nv;
		r->capvalues *= 2;
	}
	v = &r->values[r->nvalues];
	v->skey = skey;
	v->key = 0;
	if (skey == NULL) {
		if (lua_type(L, kidx) != LUA_TSTRING)
			luaL_error(
			        L,
			        "c:%s: values are given as name, value pairs "
			        "(a name must be a string)",
			        method);
		s = lua_tolstring(L, kidx, &n);
		v->key = arena_or_fail(L, r, s, n);
	}
	t = lua_type(L, idx);
	switch (t) {
	case LUA_TNIL:
	case LUA_TNONE:
		v->type = RV_NIL;
		break;
	case LUA_TBOOLEAN:
		v->type = RV_BOOL;
		v->u.b = lua_toboolean(L, idx);
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx)) {
			v->type = RV_INT;
			v->u.i = (long long)lua_tointeger(L, idx);
		} else {
			v->type = RV_NUM;
			v->u.n = lua_tonumber(L, idx);
		}
		break;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &n);
		if (n > 1024)
			luaL_error(L,
			           "c:%s: a recorded string is at most 1024 "
			           "bytes",
			           method);
		v->type = RV_STR;
		v->u.s = arena_or_fail(L, r, s, n);
		break;
	case LUA_TTABLE:
		/* a list or record: its presence is what is recorded, not
		 * its contents (note its fields one by one for more) */
		v->type = RV_STR;
		v->u.s = arena_or_fail(L, r, "(a table)", 9);
		break;
	default:
		luaL_error(L,
		           "c:%s: a recorded value must be nil, a boolean, a "
		           "number, a string or a table, not a %s",
		           method, luaL_typename(L, idx));
	}
	r->nvalues++;
	r->checks[ci].nv++;
	return t;
}

/* The varargs from idx on: name, value, name, value... */
static void
add_pairs(lua_State *L, struct rs_eval *ev, uint32_t ci, int idx,
          const char *method)
{
	int top = lua_gettop(L);

	if ((top - idx + 1) % 2 != 0)
		luaL_error(L, "c:%s: values come in name, value pairs", method);
	for (; idx < top; idx += 2)
		add_value(L, ev, ci, NULL, idx, idx + 1, method);
}

/* Sets the outcome; for anything but a pass, the code and message from
 * the strings at cidx and midx (required). */
static void
set_outcome(lua_State *L, struct rs_eval *ev, uint32_t ci, int outcome,
            int cidx, int midx, const char *method)
{
	struct rs_result *r = ev->cur;
	const char *s;
	size_t n;

	r->checks[ci].outcome = (uint8_t)outcome;
	/* the code and message are read only when they are used: a rule's
	 * tests (and rs_lint) reach its failing branches */
	if (outcome == RC_PASS)
		return;
	if (lua_type(L, cidx) != LUA_TSTRING ||
	    !rs_name_ok(lua_tostring(L, cidx)))
		luaL_error(L,
		           "c:%s: the reason code must be a name (lowercase "
		           "letters, digits, '_')",
		           method);
	if (lua_type(L, midx) != LUA_TSTRING)
		luaL_error(L, "c:%s: the message must be a string", method);
	s = lua_tolstring(L, cidx, &n);
	r->checks[ci].code = arena_or_fail(L, r, s, n);
	s = lua_tolstring(L, midx, &n);
	r->checks[ci].message = arena_or_fail(L, r, s, n);
}

/* A value the check needed was nil: missing_<name>, needs review. */
static void
set_missing(lua_State *L, struct rs_eval *ev, uint32_t ci, const char *why)
{
	struct rs_result *r = ev->cur;
	const char *name = r->arena + r->checks[ci].name;
	char code[80];
	int n;

	n = snprintf(code, sizeof(code), "%s_%s", why, name);
	r->checks[ci].outcome = RC_MISSING;
	r->checks[ci].code = arena_or_fail(L, r, code, (size_t)n);
	if (!strcmp(why, "missing"))
		r->checks[ci].message = arena_or_fail(
		        L, r, "{name} is missing", strlen("{name} is missing"));
	else
		r->checks[ci].message = arena_or_fail(
		        L, r, "{name} is not a date (YYYY-MM-DD)",
		        strlen("{name} is not a date (YYYY-MM-DD)"));
}

/* c:at_least(name, value, minimum, code, message) and at_most */
static int
compare_check(lua_State *L, int at_most)
{
	const char *m = at_most ? "at_most" : "at_least";
	struct rs_eval *ev = checking(L, m);
	struct rs_result *r = ev->cur;
	const struct rs_value *a, *b;
	uint32_t ci, v0;
	int ok, tv, tl;

	if (lua_gettop(L) < 6)
		lua_settop(L, 6);
	ci = new_check(L, ev, 2, m);
	v0 = r->nvalues;
	tv = add_value(L, ev, ci, "value", 0, 3, m);
	tl = add_value(L, ev, ci, at_most ? "maximum" : "minimum", 0, 4, m);
	add_pairs(L, ev, ci, 7, m);
	if (tl == LUA_TNIL)
		luaL_error(L, "c:%s: the %s is nil (a parameter missing?)", m,
		           at_most ? "maximum" : "minimum");
	if (tl != LUA_TNUMBER)
		luaL_error(L, "c:%s: the %s must be a number, not a %s", m,
		           at_most ? "maximum" : "minimum",
		           lua_typename(L, tl));
	if (tv == LUA_TNIL) {
		set_missing(L, ev, ci, "missing");
		lua_pushboolean(L, 0);
		return 1;
	}
	if (tv != LUA_TNUMBER)
		luaL_error(L, "c:%s: the value must be a number, not a %s", m,
		           lua_typename(L, tv));
	/* the value and the limit as recorded: integers and floats
	 * compare in C; an integer against a float as Lua compares them */
	a = &r->values[v0];
	b = &r->values[v0 + 1];
	if (a->type == RV_INT && b->type == RV_INT)
		ok = at_most ? !(b->u.i < a->u.i) : !(a->u.i < b->u.i);
	else if (a->type == RV_NUM && b->type == RV_NUM)
		ok = at_most ? !(b->u.n < a->u.n) : !(a->u.n < b->u.n);
	else
		ok = at_most ? !lua_compare(L, 4, 3, LUA_OPLT)
		             : !lua_compare(L, 3, 4, LUA_OPLT);
	set_outcome(L, ev, ci, ok ? RC_PASS : RC_FAIL, 5, 6, m);
	lua_pushboolean(L, ok);
	return 1;
}

static int
c_at_least(lua_State *L)
{
	return compare_check(L, 0);
}

static int
c_at_most(lua_State *L)
{
	return compare_check(L, 1);
}

/* c:require(name, value, code, message) */
static int
c_require(lua_State *L)
{
	struct rs_eval *ev = checking(L, "require");
	uint32_t ci;
	int ok;

	if (lua_gettop(L) < 5)
		lua_settop(L, 5);
	ci = new_check(L, ev, 2, "require");
	add_value(L, ev, ci, "value", 0, 3, "require");
	add_pairs(L, ev, ci, 6, "require");
	ok = !lua_isnil(L, 3);
	set_outcome(L, ev, ci, ok ? RC_PASS : RC_MISSING, 4, 5, "require");
	lua_pushboolean(L, ok);
	return 1;
}

/* c:on_or_before(name, date, deadline, code, message) */
static int
c_on_or_before(lua_State *L)
{
	const char *m = "on_or_before";
	struct rs_eval *ev = checking(L, m);
	const char *d, *dl;
	size_t n, nl;
	uint32_t ci;
	int ok;

	if (lua_gettop(L) < 6)
		lua_settop(L, 6);
	ci = new_check(L, ev, 2, m);
	add_value(L, ev, ci, "date", 0, 3, m);
	add_value(L, ev, ci, "deadline", 0, 4, m);
	add_pairs(L, ev, ci, 7, m);
	if (lua_type(L, 4) != LUA_TSTRING ||
	    !rs_date_valid(lua_tostring(L, 4), lua_rawlen(L, 4)))
		luaL_error(L, "c:%s: the deadline must be a date YYYY-MM-DD",
		           m);
	if (lua_isnil(L, 3)) {
		set_missing(L, ev, ci, "missing");
		lua_pushboolean(L, 0);
		return 1;
	}
	if (lua_type(L, 3) != LUA_TSTRING ||
	    !rs_date_valid(lua_tostring(L, 3), lua_rawlen(L, 3))) {
		set_missing(L, ev, ci, "invalid");
		lua_pushboolean(L, 0);
		return 1;
	}
	d = lua_tolstring(L, 3, &n);
	dl = lua_tolstring(L, 4, &nl);
	ok = memcmp(d, dl, 10) <= 0;
	set_outcome(L, ev, ci, ok ? RC_PASS : RC_FAIL, 5, 6, m);
	lua_pushboolean(L, ok);
	return 1;
}

/* c:is_true(name, condition, code, message, name, value, ...) */
static int
c_is_true(lua_State *L)
{
	struct rs_eval *ev = checking(L, "is_true");
	uint32_t ci;
	int ok, t;

	if (lua_gettop(L) < 5)
		lua_settop(L, 5);
	ci = new_check(L, ev, 2, "is_true");
	add_pairs(L, ev, ci, 6, "is_true");
	t = lua_type(L, 3);
	if (t == LUA_TNIL) {
		set_missing(L, ev, ci, "missing");
		lua_pushboolean(L, 0);
		return 1;
	}
	if (t != LUA_TBOOLEAN)
		luaL_error(L,
		           "c:is_true: the condition must be a boolean, not "
		           "a %s",
		           lua_typename(L, t));
	ok = lua_toboolean(L, 3);
	set_outcome(L, ev, ci, ok ? RC_PASS : RC_FAIL, 4, 5, "is_true");
	lua_pushboolean(L, ok);
	return 1;
}

/* c:fail(name, code, message, ...) and c:review(...) */
static int
verdict(lua_State *L, int outcome, const char *m)
{
	struct rs_eval *ev = checking(L, m);
	uint32_t ci;

	if (lua_gettop(L) < 4)
		lua_settop(L, 4);
	ci = new_check(L, ev, 2, m);
	add_pairs(L, ev, ci, 5, m);
	set_outcome(L, ev, ci, outcome, 3, 4, m);
	lua_pushboolean(L, 0);
	return 1;
}

static int
c_fail(lua_State *L)
{
	return verdict(L, RC_FAIL, "fail");
}

static int
c_review(lua_State *L)
{
	return verdict(L, RC_MISSING, "review");
}

/* c:note(name, name, value, ...): values for the explanation only */
static int
c_note(lua_State *L)
{
	struct rs_eval *ev = checking(L, "note");
	uint32_t ci;

	if (lua_gettop(L) < 2)
		lua_settop(L, 2);
	ci = new_check(L, ev, 2, "note");
	add_pairs(L, ev, ci, 3, "note");
	ev->cur->checks[ci].outcome = RC_NOTE;
	return 0;
}

/* c:age(birth_date, on_date): whole years, or nil if either is not a
 * date. */
static int
c_age(lua_State *L)
{
	const char *b, *d;
	int by, bm, bd, y, m, dd, age;

	if (lua_type(L, 2) != LUA_TSTRING || lua_type(L, 3) != LUA_TSTRING ||
	    !rs_date_valid(lua_tostring(L, 2), lua_rawlen(L, 2)) ||
	    !rs_date_valid(lua_tostring(L, 3), lua_rawlen(L, 3))) {
		lua_pushnil(L);
		return 1;
	}
	b = lua_tostring(L, 2);
	d = lua_tostring(L, 3);
	sscanf(b, "%4d-%2d-%2d", &by, &bm, &bd);
	sscanf(d, "%4d-%2d-%2d", &y, &m, &dd);
	age = y - by;
	if (m < bm || (m == bm && dd < bd))
		age--;
	lua_pushinteger(L, age);
	return 1;
}

/*
 * c:once(key, fn, ...): runs fn(c, ...) the first time an evaluation asks
 * for key; for every later rule of the same evaluation, the checks fn
 * recorded are copied into the asking rule's decision and its result
 * (true, false or nil) returned, without running it again. For the work
 * rules of a set share (residency, deadlines), which depends on the input
 * and the parameters alone.
 */
static int
c_once(lua_State *L)
{
	struct rs_eval *ev = checking(L, "once");
	struct rs_result *r = ev->cur;
	const char *key;
	struct rs_memo *m;
	uint32_t c0, i;
	size_t kl;
	int nargs;

	if (lua_type(L, 2) != LUA_TSTRING)
		luaL_error(L, "c:once: the first argument is a key (a string)");
	luaL_checktype(L, 3, LUA_TFUNCTION);
	key = lua_tolstring(L, 2, &kl);
	for (int k = 0; k < r->nmemo; k++) {
		m = &r->memo[k];
		if (strcmp(r->arena + m->key, key) != 0)
			continue;
		if (m->running)
			luaL_error(L, "c:once('%s') was called from itself",
			           key);
		if (r->nchecks + m->nc > RS_MAX_CHECKS)
			luaL_error(L, "more than %d checks in one evaluation",
			           RS_MAX_CHECKS);
		while (r->nchecks + m->nc > r->capchecks) {
			struct rs_check *nc =
			        realloc(r->checks,
			                2 * r->capchecks * sizeof(*r->checks));

			if (nc == NULL)
				luaL_error(L, "out of memory");
			r->checks = nc;
			r->capchecks *= 2;
		}
		/* the values stay where they are: only the checks are
		 * copied, pointing at them */
		for (i = 0; i < m->nc; i++)
			r->checks[r->nchecks++] = r->checks[m->c0 + i];
		ev->cur_dec->nc += m->nc;
		if (m->ret == 2)
			lua_pushnil(L);
		else
			lua_pushboolean(L, m->ret);
		return 1;
	}
	if (r->nmemo == RS_MAX_MEMO)
		luaL_error(L, "more than %d keys of c:once in one evaluation",
		           RS_MAX_MEMO);
	m = &r->memo[r->nmemo];
	m->key = arena_or_fail(L, r, key, kl);
	m->running = 1;
	r->nmemo++;
	c0 = r->nchecks;
	/* fn(c, ...) */
	nargs = lua_gettop(L) - 3;
	lua_pushvalue(L, 3);
	lua_pushvalue(L, 1);
	for (int a = 0; a < nargs; a++)
		lua_pushvalue(L, 4 + a);
	lua_call(L, nargs + 1, 1);
	if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
		luaL_error(L,
		           "c:once('%s'): the function returns true, false or "
		           "nothing, not a %s",
		           key, luaL_typename(L, -1));
	m = &r->memo[r->nmemo - 1];
	m->c0 = c0;
	m->nc = r->nchecks - c0;
	m->ret = lua_isnil(L, -1) ? 2 : (uint8_t)lua_toboolean(L, -1);
	m->running = 0;
	return 1;
}

/* After a rule that failed: its c:once calls that never returned are
 * forgotten, so the next rule runs them itself. */
static void
memo_forget_running(struct rs_result *r)
{
	int k = 0;

	for (int i = 0; i < r->nmemo; i++)
		if (!r->memo[i].running)
			r->memo[k++] = r->memo[i];
	r->nmemo = k;
}

void
rs_checker_methods(lua_State *L)
{
	static const luaL_Reg m[] = {{"require", c_require},
	                             {"at_least", c_at_least},
	                             {"at_most", c_at_most},
	                             {"on_or_before", c_on_or_before},
	                             {"is_true", c_is_true},
	                             {"fail", c_fail},
	                             {"review", c_review},
	                             {"note", c_note},
	                             {"age", c_age},
	                             {"once", c_once},
	                             {NULL, NULL}};

	luaL_newlib(L, m);
}

/* --- evaluators ----------------------------------------------------------- */

static int
path_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The set's *.lua paths, sorted, into a new array (count in *n). */
static const char **
lua_paths(const struct rs_set *s, size_t *n)
{
	const char **p;
	const char *k;
	json_t *v;
	size_t cnt = 0;

	p = calloc(json_object_size(s->files) + 1, sizeof(*p));
	if (p == NULL)
		return NULL;
	json_object_foreach(s->files, k, v)
	{
		size_t l = strlen(k);

		if (l > 4 && !strcmp(k + l - 4, ".lua"))
			p[cnt++] = k;
	}
	qsort(p, cnt, sizeof(*p), path_cmp);
	*n = cnt;
	return p;
}

/* Turns every award year's parameters into read-only tables, kept by
 * reference in C so an evaluation finds its year without a lookup. */
static int
years_p(lua_State *L)
{
	struct rs_eval *ev = sb_ev(L);
	const char *k;
	json_t *v;

	ev->nyears = 0;
	json_object_foreach(ev->set->params, k, v)
	{
		if (ev->nyears == RS_MAX_FILES)
			break;
		sb_push_json(L, v, 0);
		snprintf(ev->year_name[ev->nyears],
		         sizeof(ev->year_name[ev->nyears]), "%s", k);
		ev->year_ref[ev->nyears++] = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	return 0;
}

int
rs_eval_build(struct rs_eval *ev, json_t *rules, rs_report_cb cb, void *data)
{
	struct cairn_err e = {0};
	const char **paths;
	size_t n, i;
	int rc = 0, own = rules == NULL;

	ev->nrules = 0;
	rc = sb_open(ev, &e);
	if (rc < 0) {
		if (cb)
			cb(&e, 0, data);
		return rc;
	}
	if (own)
		rules = json_array();
	paths = lua_paths(ev->set, &n);
	if (rules == NULL || paths == NULL) {
		cairn_err_set(&e, "", 0, 0, "out of memory");
		if (cb)
			cb(&e, 0, data);
		rc = -ENOMEM;
		goto out;
	}
	ev->loading_rules = rules;
	for (i = 0; i < n; i++) {
		const char *text = json_string_value(
		        json_object_get(ev->set->files, paths[i]));
		size_t len = json_string_length(
		        json_object_get(ev->set->files, paths[i]));

		if (sb_load_file(ev, paths[i], text, len, &e) < 0) {
			if (cb)
				cb(&e, 0, data);
			rc = CAIRN_EINVALID;
			/* a broken limit leaves the state unusable */
			if (ev->broken != SB_OK)
				break;
		}
	}
	sb_seal(ev);
	if (rc == 0 && ev->set->params != NULL) {
		lua_settop(ev->L, 0);
		lua_pushcfunction(ev->L, years_p);
		if (sb_pcall(ev, 0) != LUA_OK) {
			cairn_err_set(&e, "params", 0, 0,
			              "cannot load the parameters: %s",
			              ev->broken ? sb_broken_what(ev->broken)
			                         : ev->err_msg);
			if (cb)
				cb(&e, 0, data);
			rc = CAIRN_EINVALID;
		}
	}
out:
	free(paths);
	ev->loading_rules = NULL;
	if (own)
		json_decref(rules);
	if (rc == 0) {
		lua_gc(ev->L, LUA_GCCOLLECT, 0);
		ev->mem_base = ev->mem;
		ev->cur_year[0] = ev->cur_today[0] = '\0';
	} else {
		sb_close(ev);
	}
	return rc;
}

int
rs_eval_new(const struct rs_set *s, const struct rs_limits *lim,
            struct rs_eval **out, struct cairn_err *e)
{
	struct rs_eval *ev;
	json_t *rules;
	size_t i;
	int rc;

	*out = NULL;
	ev = calloc(1, sizeof(*ev));
	rules = json_array();
	if (ev == NULL || rules == NULL) {
		free(ev);
		json_decref(rules);
		cairn_err_set(e, "", 0, 0, "out of memory");
		return -ENOMEM;
	}
	ev->set = s;
	if (lim != NULL)
		ev->lim = *lim;
	else
		rs_limits_default(&ev->lim);
	if (ev->lim.instructions <= 0 || ev->lim.memory < (64u << 10) ||
	    ev->lim.depth_max < 10) {
		cairn_err_set(e, "", 0, 0,
		              "limits too small (instructions > 0, memory >= "
		              "64 KiB, depth >= 10)");
		free(ev);
		json_decref(rules);
		return CAIRN_EINVALID;
	}
	rc = rs_eval_build(ev, rules, NULL, NULL);
	if (rc == 0 && json_array_size(rules) != json_array_size(s->rules))
		rc = CAIRN_EINVALID;
	for (i = 0; rc == 0 && i < json_array_size(rules); i++)
		if (!json_equal(
		            json_object_get(json_array_get(rules, i), "id"),
		            json_object_get(json_array_get(s->rules, i), "id")))
			rc = CAIRN_EINVALID;
	json_decref(rules);
	if (rc == 0) {
		ev->scratch = rs_result_new();
		wd_register(ev);
	}
	if (rc != 0 || ev->scratch == NULL) {
		cairn_err_set(e, s->name, 0, 0,
		              "cannot load rule set %s in a new evaluator%s",
		              s->name,
		              rc == CAIRN_EINVALID
		                      ? " (the files or the limits do not "
		                        "allow it)"
		                      : "");
		rs_eval_free(ev);
		return rc ? rc : -ENOMEM;
	}
	*out = ev;
	return 0;
}

void
rs_eval_free(struct rs_eval *ev)
{
	if (ev == NULL)
		return;
	wd_unregister(ev);
	sb_close(ev);
	rs_result_free(ev->scratch);
	free(ev);
}

size_t
rs_eval_memory(const struct rs_eval *ev)
{
	return ev->L ? ev->mem : 0;
}

size_t
rs_eval_memory_base(const struct rs_eval *ev)
{
	return ev->mem_base;
}

uint64_t
rs_eval_resets(const struct rs_eval *ev)
{
	return ev->resets;
}

/* --- one evaluation ------------------------------------------------------- */

/* A decision the host made for rule i: needs review, code, message. */
static void host_decision(struct rs_result *r, int i, const char *code,
                          const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
host_decision(struct rs_result *r, int i, const char *code, const char *fmt,
              ...)
{
	struct rs_decision *d = &r->dec[r->ndec++];
	char msg[600];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	memset(d, 0, sizeof(*d));
	d->rule = i;
	d->outcome = RS_NEEDS_REVIEW;
	d->err_code = code;
	d->err_msg = rs_arena_str(r, msg, (size_t)n);
	d->c0 = r->nchecks;
}

static const char *
rule_id(const struct rs_set *s, int i)
{
	return json_string_value(
	        json_object_get(json_array_get(s->rules, (size_t)i), "id"));
}

/* Drops a state whose limit was broken and builds a fresh one. */
static int
reset_state(struct rs_eval *ev)
{
	sb_close(ev);
	ev->resets++;
	return rs_eval_build(ev, NULL, NULL, NULL);
}

/* Points the input proxy at a new input; sets c.today and the year when
 * they changed. */
static void
prepare(lua_State *L, struct rs_eval *ev, const char *year, const char *today)
{
	ev->free_strings = 1;
	sb_input(L, ev->run_input);
	ev->free_strings = 0;
	if (strcmp(ev->cur_year, year) != 0 ||
	    strcmp(ev->cur_today, today) != 0) {
		/* cleared first: if this fails the next call does it again */
		ev->cur_year[0] = '\0';
		lua_rawgeti(L, LUA_REGISTRYINDEX, ev->ref_cdata);
		lua_pushstring(L, today);
		lua_setfield(L, -2, "today");
		lua_pushstring(L, year);
		lua_setfield(L, -2, "award_year");
		lua_pushinteger(L, rs_award_year_first(year));
		lua_setfield(L, -2, "year");
		lua_pop(L, 1);
		snprintf(ev->cur_year, sizeof(ev->cur_year), "%s", year);
		snprintf(ev->cur_today, sizeof(ev->cur_today), "%s", today);
	}
	ev->input_ready = 1;
}

/* The outcome of a rule that ran to its end, from its checks. */
static void
decide(struct rs_result *r, struct rs_decision *d)
{
	int fail = 0, missing = 0, pass = 0;
	uint32_t i;

	for (i = d->c0; i < d->c0 + d->nc; i++) {
		switch (r->checks[i].outcome) {
		case RC_FAIL:
			fail++;
			break;
		case RC_MISSING:
			missing++;
			break;
		case RC_PASS:
			pass++;
			break;
		default:
			break;
		}
	}
	if (fail)
		d->outcome = RS_INELIGIBLE;
	else if (missing)
		d->outcome = RS_NEEDS_REVIEW;
	else if (pass)
		d->outcome = RS_ELIGIBLE;
	else {
		/* a rule that checked nothing cannot say yes */
		const json_t *meta =
		        json_array_get(r->set->rules, (size_t)d->rule);
		char msg[300];
		int n;

		n = snprintf(
		        msg, sizeof(msg),
		        "rule %s (%s:%d) recorded no check, so it cannot "
		        "decide",
		        json_string_value(json_object_get(meta, "id")),
		        json_string_value(json_object_get(meta, "file")),
		        (int)json_integer_value(json_object_get(meta, "line")));
		d->outcome = RS_NEEDS_REVIEW;
		d->err_code = "no_checks";
		d->err_msg = rs_arena_str(
		        r, msg,
		        n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : 0);
	}
}

/*
 * The evaluation's protected call: the input (unless a call before it
 * put it there), then every rule from run_next to run_last, each called
 * unprotected. A rule's error unwinds this whole call; rs_run records it
 * against run_rule and calls again for the rules after it, so one
 * protected call serves an evaluation whose rules all finish.
 */
static int
run_p(lua_State *L)
{
	struct rs_eval *ev = sb_ev(L);
	struct rs_result *r = ev->cur;

	ev->run_rule = -1;
	if (!ev->input_ready)
		prepare(L, ev, r->award_year, ev->run_today);
	for (; ev->run_next <= ev->run_last; ev->run_next++) {
		int i = ev->run_next;
		struct rs_decision *d = &r->dec[r->ndec++];

		memset(d, 0, sizeof(*d));
		d->rule = i;
		d->c0 = r->nchecks;
		ev->cur_dec = d;
		ev->run_rule = i;
		lua_rawgeti(L, LUA_REGISTRYINDEX, ev->rule_ref[i]);
		lua_rawgeti(L, LUA_REGISTRYINDEX, ev->ref_checker);
		lua_rawgeti(L, LUA_REGISTRYINDEX, ev->ref_input);
		lua_rawgeti(L, LUA_REGISTRYINDEX, ev->year_ref[ev->run_year]);
		wd_rule(ev);
		lua_call(L, 3, 0);
		d->ran = 1;
		decide(r, d);
	}
	ev->run_rule = -1;
	return 0;
}

/* After rule run_rule failed: its decision says why. */
static void
rule_failed(struct rs_eval *ev, struct rs_result *r)
{
	struct rs_decision *d = &r->dec[r->ndec - 1];
	int i = ev->run_rule;
	char msg[700];
	int n;

	memo_forget_running(r);
	d->outcome = RS_NEEDS_REVIEW;
	if (ev->broken != SB_OK) {
		d->err_code = sb_broken_code(ev->broken);
		n = snprintf(msg, sizeof(msg), "rule %s %s at %s:%d",
		             rule_id(ev->set, i), sb_broken_what(ev->broken),
		             ev->err_file[0] ? ev->err_file : "(unknown)",
		             ev->err_line);
	} else {
		d->err_code = "rule_error";
		n = snprintf(msg, sizeof(msg), "rule %s failed at %s:%d: %s",
		             rule_id(ev->set, i),
		             ev->err_file[0] ? ev->err_file : "(unknown)",
		             ev->err_line, ev->err_msg);
	}
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	d->err_msg = rs_arena_str(r, msg, (size_t)n);
}

int
rs_run(struct rs_eval *ev, int rule, const json_t *input,
       const char *award_year, const char *today, struct rs_result *r)
{
	const struct rs_set *s = ev->set;
	int first = rule < 0 ? 0 : rule;
	int last = rule < 0 ? (int)json_array_size(s->rules) - 1 : rule;
	int i, yi = -1;
	lua_State *L;

	rs_result_reset(r, s, award_year);
	if (rule >= (int)json_array_size(s->rules))
		return CAIRN_EINVALID;
	/* the year of the evaluation before, usually */
	if (award_year && ev->run_year < (int)json_array_size(s->years) &&
	    !strcmp(json_string_value(
	                    json_array_get(s->years, (size_t)ev->run_year)),
	            award_year))
		yi = ev->run_year;
	for (i = 0; yi < 0 && award_year && i < (int)json_array_size(s->years);
	     i++)
		if (!strcmp(json_string_value(
		                    json_array_get(s->years, (size_t)i)),
		            award_year))
			yi = i;
	if (yi < 0) {
		for (i = first; i <= last; i++)
			host_decision(r, i, "unknown_award_year",
			              "rule set %s has no parameters for award "
			              "year %.20s",
			              s->name,
			              award_year ? award_year : "(none)");
		return 0;
	}
	if (today == NULL || strlen(today) >= sizeof(ev->run_today) ||
	    !rs_date_valid(today, strlen(today))) {
		for (i = first; i <= last; i++)
			host_decision(r, i, "invalid_today",
			              "today must be a date YYYY-MM-DD, not "
			              "'%.20s'",
			              today ? today : "(none)");
		return 0;
	}
	if (!json_is_object(input)) {
		for (i = first; i <= last; i++)
			host_decision(r, i, "invalid_input",
			              "the input must be a JSON object");
		return 0;
	}
	ev->run_input = input;
	ev->run_year = yi;
	memcpy(ev->run_today, today, strlen(today) + 1);
	ev->run_next = first;
	ev->run_last = last;
	ev->input_ready = 0;
	while (ev->run_next <= last) {
		int st;

		if (ev->L == NULL && reset_state(ev) != 0) {
			host_decision(r, ev->run_next++, "sandbox_unavailable",
			              "the rule sandbox could not be rebuilt");
			ev->input_ready = 0;
			continue;
		}
		/* the years are loaded in the set's order */
		if (strcmp(ev->year_name[yi], award_year) != 0) {
			host_decision(r, ev->run_next++, "sandbox_unavailable",
			              "the parameters of %s are not loaded",
			              award_year);
			continue;
		}
		L = ev->L;
		lua_settop(L, 0);
		sb_push_msgh(L);
		lua_pushcfunction(L, run_p);
		ev->cur = r;
		wd_enter(ev);
		st = sb_call(ev, 0);
		wd_leave(ev);
		ev->cur = NULL;
		ev->cur_dec = NULL;
		if (st == LUA_OK)
			break;
		if (ev->run_rule < 0) {
			/* the input could not be given to the rules */
			const char *code = ev->broken
			                           ? sb_broken_code(ev->broken)
			                           : "invalid_input";

			ev->free_strings = 0;
			for (i = ev->run_next; i <= last; i++)
				host_decision(
				        r, i, code,
				        "the input cannot be given to the "
				        "rules: %s",
				        ev->broken ? sb_broken_what(ev->broken)
				                   : ev->err_msg);
			if (ev->broken)
				sb_close(ev);
			return 0;
		}
		rule_failed(ev, r);
		if (ev->broken != SB_OK) {
			/* the state is dropped; the next rule (or evaluation)
			 * gets a fresh one */
			sb_close(ev);
			ev->input_ready = 0;
		}
		ev->run_next = ev->run_rule + 1;
	}
	return 0;
}

/* --- results as JSON ----------------------------------------------------- */

static json_t *
value_json(const struct rs_result *r, const struct rs_value *v)
{
	switch (v->type) {
	case RV_BOOL:
		return json_boolean(v->u.b);
	case RV_INT:
		return json_integer(v->u.i);
	case RV_NUM:
		return json_real(v->u.n);
	case RV_STR:
		return json_string(r->arena + v->u.s);
	default:
		return json_null();
	}
}

static const char *
value_key(const struct rs_result *r, const struct rs_value *v)
{
	return v->skey ? v->skey : r->arena + v->key;
}

/* Appends value v as text for a message. */
static void
value_text(const struct rs_result *r, const struct rs_value *v, char *buf,
           size_t len)
{
	switch (v->type) {
	case RV_BOOL:
		snprintf(buf, len, "%s", v->u.b ? "yes" : "no");
		break;
	case RV_INT:
		snprintf(buf, len, "%lld", v->u.i);
		break;
	case RV_NUM:
		snprintf(buf, len, "%.2f", v->u.n);
		break;
	case RV_STR:
		snprintf(buf, len, "%s", r->arena + v->u.s);
		break;
	default:
		snprintf(buf, len, "(none)");
	}
}

/* The message of check c with {name} and {key} filled in. */
static json_t *
message_json(const struct rs_result *r, const struct rs_check *c)
{
	const char *m = r->arena + c->message;
	char out[1024], val[256];
	size_t o = 0;

	while (*m && o < sizeof(out) - 1) {
		const char *close;

		if (*m == '{' && (close = strchr(m + 1, '}')) != NULL &&
		    close - m - 1 <= 64) {
			size_t kl = (size_t)(close - m - 1);
			const char *rep = NULL;
			uint32_t i;

			if (kl == 4 && !memcmp(m + 1, "name", 4)) {
				rep = r->arena + c->name;
			} else {
				for (i = c->v0; i < c->v0 + c->nv; i++) {
					const char *k =
					        value_key(r, &r->values[i]);

					if (strlen(k) == kl &&
					    !memcmp(k, m + 1, kl)) {
						value_text(r, &r->values[i],
						           val, sizeof(val));
						rep = val;
						break;
					}
				}
			}
			if (rep != NULL) {
				size_t rl = strlen(rep);

				if (rl > sizeof(out) - 1 - o)
					rl = sizeof(out) - 1 - o;
				memcpy(out + o, rep, rl);
				o += rl;
				m = close + 1;
				continue;
			}
		}
		out[o++] = *m++;
	}
	out[o] = '\0';
	return json_string(out);
}

static const char *const check_outcomes[] = {"pass", "fail", "missing", "note"};

static json_t *
decision_json(const struct rs_result *r, const struct rs_decision *d)
{
	json_t *o = json_object(), *reasons = json_array(),
	       *checks = json_array();
	uint32_t i, j;

	if (o == NULL || reasons == NULL || checks == NULL) {
		json_decref(o);
		json_decref(reasons);
		json_decref(checks);
		return NULL;
	}
	json_object_set_new(
	        o, "outcome",
	        json_string(rs_outcome_name((enum rs_outcome)d->outcome)));
	for (i = d->c0; i < d->c0 + d->nc; i++) {
		const struct rs_check *c = &r->checks[i];
		json_t *cj = json_object(), *vals = json_object();

		for (j = c->v0; j < c->v0 + c->nv; j++)
			json_object_set_new(vals, value_key(r, &r->values[j]),
			                    value_json(r, &r->values[j]));
		json_object_set_new(cj, "name",
		                    json_string(r->arena + c->name));
		json_object_set_new(cj, "outcome",
		                    json_string(check_outcomes[c->outcome]));
		if (c->code)
			json_object_set_new(cj, "code",
			                    json_string(r->arena + c->code));
		json_object_set_new(cj, "values", vals);
		json_array_append_new(checks, cj);
		if ((c->outcome == RC_FAIL || c->outcome == RC_MISSING) &&
		    c->code) {
			json_t *reason = json_object();

			json_object_set_new(reason, "code",
			                    json_string(r->arena + c->code));
			json_object_set_new(reason, "message",
			                    message_json(r, c));
			json_array_append_new(reasons, reason);
		}
	}
	if (d->err_code != NULL) {
		json_t *reason = json_object();

		json_object_set_new(reason, "code", json_string(d->err_code));
		json_object_set_new(reason, "message",
		                    json_string(d->err_msg
		                                        ? r->arena + d->err_msg
		                                        : d->err_code));
		json_array_append_new(reasons, reason);
	}
	json_object_set_new(o, "reasons", reasons);
	json_object_set_new(o, "checks", checks);
	return o;
}

json_t *
rs_result_json(const struct rs_result *r)
{
	json_t *o, *decs;
	int i;

	o = json_object();
	decs = json_object();
	if (o == NULL || decs == NULL) {
		json_decref(o);
		json_decref(decs);
		return NULL;
	}
	json_object_set_new(o, "rule_set", json_string(r->set->name));
	json_object_set_new(o, "version", json_string(r->set->version));
	json_object_set_new(o, "award_year", json_string(r->award_year));
	for (i = 0; i < r->ndec; i++) {
		json_t *d = decision_json(r, &r->dec[i]);

		if (d == NULL) {
			json_decref(o);
			json_decref(decs);
			return NULL;
		}
		json_object_set_new(decs, rule_id(r->set, r->dec[i].rule), d);
	}
	json_object_set_new(o, "decisions", decs);
	return o;
}

json_t *
rs_result_decision_json(const struct rs_result *r, int i)
{
	if (i < 0 || i >= r->ndec)
		return NULL;
	return decision_json(r, &r->dec[i]);
}

json_t *
rs_evaluate(struct rs_eval *ev, int rule, const json_t *input,
            const char *award_year, const char *today)
{
	if (rs_run(ev, rule, input, award_year, today, ev->scratch) != 0) {
		json_t *o =
		        json_pack("{s:s, s:s, s:s?, s:{}}", "rule_set",
		                  ev->set->name, "version", ev->set->version,
		                  "award_year", award_year, "decisions");
		return o;
	}
	return rs_result_json(ev->scratch);
}

enum rs_outcome
rs_combined(const json_t *decisions)
{
	const char *k;
	json_t *d;
	int review = 0, any = 0;

	json_object_foreach((json_t *)decisions, k, d)
	{
		const char *o =
		        json_string_value(json_object_get(d, "outcome"));

		any = 1;
		if (o && !strcmp(o, "eligible"))
			return RS_ELIGIBLE;
		if (o == NULL || strcmp(o, "ineligible") != 0)
			review = 1;
	}
	return review || !any ? RS_NEEDS_REVIEW : RS_INELIGIBLE;
}
