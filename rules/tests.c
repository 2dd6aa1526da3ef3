/*
 * tests.c: running a rule set's own test cases, and the linter.
 *
 * A test case names an input, an award year, a day, and for some rules
 * the outcome expected (and, if given, exactly which reason codes). The
 * linter reads the Lua text with a small tokenizer: thresholds belong in
 * the parameter files, so a numeric literal other than 0 and 1 that is
 * compared, or passed to c:at_least / c:at_most, is worth a warning.
 */
#include "rules_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reason codes of a decision object, as a sorted array. */
static json_t *
codes_of(const json_t *d)
{
	json_t *out = json_array(), *r;
	size_t i, j;

	json_array_foreach(json_object_get(d, "reasons"), i, r)
	{
		json_t *c = json_object_get(r, "code");
		int dup = 0;
		json_t *x;

		json_array_foreach(out, j, x) dup |= json_equal(x, c);
		if (!dup)
			json_array_append(out, c);
	}
	/* insertion sort: a handful of codes */
	for (i = 1; i < json_array_size(out); i++)
		for (j = i;
		     j > 0 &&
		     strcmp(json_string_value(json_array_get(out, j - 1)),
		            json_string_value(json_array_get(out, j))) > 0;
		     j--) {
			json_t *a = json_incref(json_array_get(out, j - 1));

			json_array_set(out, j - 1, json_array_get(out, j));
			json_array_set_new(out, j, a);
		}
	return out;
}

static int
same_codes(const json_t *want, const json_t *got)
{
	json_t *w = json_array(), *x;
	size_t i;
	int eq;

	json_array_foreach(want, i, x) json_array_append(w, x);
	{
		json_t *d = json_pack("{s:o}", "reasons", json_array());
		json_t *sorted;

		json_array_foreach(w, i, x)
		        json_array_append_new(json_object_get(d, "reasons"),
		                              json_pack("{s:O}", "code", x));
		sorted = codes_of(d);
		eq = json_equal(sorted, got);
		json_decref(sorted);
		json_decref(d);
	}
	json_decref(w);
	return eq;
}

int
rs_run_tests(const struct rs_set *s, const struct rs_limits *lim,
             json_t **report)
{
	struct rs_eval *ev = NULL;
	struct rs_result *res = NULL;
	struct cairn_err e;
	json_t *cases, *tc;
	int passed = 0, failed = 0;
	size_t i;

	*report = NULL;
	if (rs_eval_new(s, lim, &ev, &e) != 0)
		return -1;
	res = rs_result_new();
	cases = json_array();
	if (res == NULL || cases == NULL) {
		rs_eval_free(ev);
		rs_result_free(res);
		json_decref(cases);
		return -1;
	}
	json_array_foreach(s->tests, i, tc)
	{
		const char *rule;
		json_t *want, *got, *exp_all = json_object(),
		                    *act_all = json_object(), *decisions;
		int ok = 1;

		rs_run(ev, -1, json_object_get(tc, "input"),
		       json_string_value(json_object_get(tc, "award_year")),
		       json_string_value(json_object_get(tc, "today")), res);
		got = rs_result_json(res);
		decisions = json_object_get(got, "decisions");
		json_object_foreach(json_object_get(tc, "expect"), rule, want)
		{
			json_t *d = json_object_get(decisions, rule);
			json_t *codes = codes_of(d);
			json_t *wr = json_object_get(want, "reasons");
			const char *wo = json_string_value(
			        json_object_get(want, "outcome"));
			const char *ao = json_string_value(
			        json_object_get(d, "outcome"));
			json_t *act, *msgs = json_array(), *r;
			size_t j;
			int this_ok =
			        ao && !strcmp(wo, ao) &&
			        (json_is_null(wr) || same_codes(wr, codes));

			json_object_set_new(exp_all, rule,
			                    json_pack("{s:s, s:O}", "outcome",
			                              wo, "reasons", wr));
			json_array_foreach(json_object_get(d, "reasons"), j, r)
			        json_array_append(
			                msgs, json_object_get(r, "message"));
			act = json_pack("{s:s, s:o, s:o}", "outcome",
			                ao ? ao : "none", "reasons", codes,
			                "messages", msgs);
			json_object_set_new(act_all, rule, act);
			ok &= this_ok;
		}
		json_decref(got);
		if (ok)
			passed++;
		else
			failed++;
		json_array_append_new(
		        cases,
		        json_pack("{s:O, s:O, s:O, s:b, s:o, s:o}", "file",
		                  json_object_get(tc, "file"), "line",
		                  json_object_get(tc, "line"), "name",
		                  json_object_get(tc, "name"), "ok", ok,
		                  "expected", exp_all, "actual", act_all));
	}
	rs_result_free(res);
	rs_eval_free(ev);
	*report = json_pack("{s:i, s:i, s:o}", "passed", passed, "failed",
	                    failed, "cases", cases);
	return *report ? failed : -1;
}

/* --- lint ----------------------------------------------------------------- */

enum tok_type { T_NAME, T_NUMBER, T_STRING, T_OP, T_END };

struct tok {
	enum tok_type type;
	const char *p;
	size_t n;
	int line, column;
};

struct lexer {
	const char *s, *end;
	int line;
	const char *line_start;
};

/* Skips a long bracket [==[ ... ]==] starting at p (at '['); returns the
 * end, or NULL if p does not open one. */
static const char *
long_bracket(struct lexer *lx, const char *p)
{
	int level = 0;
	const char *q = p + 1;

	while (q < lx->end && *q == '=') {
		level++;
		q++;
	}
	if (q >= lx->end || *q != '[')
		return NULL;
	for (q++; q < lx->end; q++) {
		if (*q == '\n') {
			lx->line++;
			lx->line_start = q + 1;
		} else if (*q == ']') {
			const char *r = q + 1;
			int l = 0;

			while (r < lx->end && *r == '=') {
				l++;
				r++;
			}
			if (l == level && r < lx->end && *r == ']')
				return r + 1;
		}
	}
	return lx->end;
}

static int
next_tok(struct lexer *lx, struct tok *t)
{
	const char *p = lx->s;

	for (;;) {
		while (p < lx->end && isspace((unsigned char)*p)) {
			if (*p == '\n') {
				lx->line++;
				lx->line_start = p + 1;
			}
			p++;
		}
		if (p + 1 < lx->end && p[0] == '-' && p[1] == '-') {
			const char *q;

			p += 2;
			if (p < lx->end && *p == '[' &&
			    (q = long_bracket(lx, p)) != NULL) {
				p = q;
				continue;
			}
			while (p < lx->end && *p != '\n')
				p++;
			continue;
		}
		break;
	}
	t->p = p;
	t->line = lx->line;
	t->column = (int)(p - lx->line_start) + 1;
	if (p >= lx->end) {
		t->type = T_END;
		t->n = 0;
		lx->s = p;
		return 0;
	}
	if (isalpha((unsigned char)*p) || *p == '_') {
		while (p < lx->end && (isalnum((unsigned char)*p) || *p == '_'))
			p++;
		t->type = T_NAME;
	} else if (isdigit((unsigned char)*p) ||
	           (*p == '.' && p + 1 < lx->end &&
	            isdigit((unsigned char)p[1]))) {
		while (p < lx->end &&
		       (isalnum((unsigned char)*p) || *p == '.' ||
		        ((*p == '+' || *p == '-') &&
		         (p[-1] == 'e' || p[-1] == 'E' || p[-1] == 'p' ||
		          p[-1] == 'P'))))
			p++;
		t->type = T_NUMBER;
	} else if (*p == '"' || *p == '\'') {
		char q = *p++;

		while (p < lx->end && *p != q && *p != '\n') {
			if (*p == '\\' && p + 1 < lx->end)
				p++;
			p++;
		}
		if (p < lx->end && *p == q)
			p++;
		t->type = T_STRING;
	} else if (*p == '[' && long_bracket(lx, p) != NULL) {
		p = long_bracket(lx, p);
		t->type = T_STRING;
	} else {
		static const char *const two[] = {
		        "<=", ">=", "==", "~=", "..", "::", "//", NULL};
		const char *const *o;

		t->type = T_OP;
		for (o = two; *o; o++)
			if (p + 1 < lx->end && p[0] == (*o)[0] &&
			    p[1] == (*o)[1])
				break;
		p += *o ? 2 : 1;
	}
	t->n = (size_t)(p - t->p);
	lx->s = p;
	return 1;
}

static int
is_cmp(const struct tok *t)
{
	if (t->type != T_OP)
		return 0;
	if (t->n == 1)
		return t->p[0] == '<' || t->p[0] == '>';
	return t->n == 2 && (!memcmp(t->p, "<=", 2) || !memcmp(t->p, ">=", 2) ||
	                     !memcmp(t->p, "==", 2) || !memcmp(t->p, "~=", 2));
}

static int
tok_is(const struct tok *t, const char *s)
{
	return t->n == strlen(s) && !memcmp(t->p, s, t->n);
}

struct linter {
	rs_report_cb cb;
	void *data;
	int warnings;
};

static void lwarn(struct linter *li, const char *file, int line, int column,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
lwarn(struct linter *li, const char *file, int line, int column,
      const char *fmt, ...)
{
	struct cairn_err e;
	char msg[sizeof(e.msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cairn_err_set(&e, file, line, column, "%s", msg);
	li->warnings++;
	if (li->cb)
		li->cb(&e, 1, li->data);
}

static void
lint_lua(struct linter *li, const char *path, const char *text)
{
	struct lexer lx = {text, text + strlen(text), 1, text};
	struct tok prev2 = {T_END, "", 0, 0, 0}, prev = {T_END, "", 0, 0, 0};
	struct tok t;
	int call_depth = 0; /* inside c:at_least( / c:at_most( */
	int depth = 0;

	while (next_tok(&lx, &t)) {
		if (t.type == T_OP && tok_is(&t, "(")) {
			depth++;
			if (prev.type == T_NAME &&
			    (tok_is(&prev, "at_least") ||
			     tok_is(&prev, "at_most")) &&
			    call_depth == 0)
				call_depth = depth;
		} else if (t.type == T_OP && tok_is(&t, ")")) {
			if (depth == call_depth)
				call_depth = 0;
			depth--;
		}
		if (t.type == T_NAME && tok_is(&t, "pairs") &&
		    !(prev.type == T_OP &&
		      (tok_is(&prev, ".") || tok_is(&prev, ":"))))
			lwarn(li, path, t.line, t.column,
			      "pairs() visits keys in no fixed order; use "
			      "ipairs() on lists so decisions are "
			      "reproducible");
		if (t.type == T_NUMBER) {
			char num[64];
			double v;
			const struct tok *before =
			        prev.type == T_OP && tok_is(&prev, "-") ? &prev2
			                                                : &prev;
			struct lexer peek = lx;
			struct tok after;

			snprintf(num, sizeof(num), "%.*s", (int)t.n, t.p);
			v = strtod(num, NULL);
			next_tok(&peek, &after);
			if (v != 0 && v != 1 &&
			    (is_cmp(before) || is_cmp(&after) ||
			     (call_depth && depth == call_depth)))
				lwarn(li, path, t.line, t.column,
				      "the literal %s is compared: thresholds "
				      "belong in the parameter files "
				      "(params/YYYY-YY.yaml)",
				      num);
		}
		prev2 = prev;
		prev = t;
	}
}

/* 1 if name appears as a whole word in any Lua file of the set. */
static int
mentioned(const struct rs_set *s, const char *name)
{
	const char *k;
	json_t *v;
	size_t n = strlen(name);

	json_object_foreach(s->files, k, v)
	{
		const char *t = json_string_value(v), *p = t;
		size_t kl = strlen(k);

		if (kl < 4 || strcmp(k + kl - 4, ".lua"))
			continue;
		while ((p = strstr(p, name)) != NULL) {
			int left = p == t || !(isalnum((unsigned char)p[-1]) ||
			                       p[-1] == '_');
			int right =
			        !(isalnum((unsigned char)p[n]) || p[n] == '_');

			if (left && right)
				return 1;
			p += n;
		}
	}
	return 0;
}

/* The line of the first "key:" in text, or 0. */
static int
key_line(const char *text, const char *key)
{
	const char *p = text;
	size_t n = strlen(key);
	int line = 1;

	for (; *p; p++) {
		if (*p == '\n')
			line++;
		if (!strncmp(p, key, n) && p[n] == ':' &&
		    (p == text ||
		     !(isalnum((unsigned char)p[-1]) || p[-1] == '_')))
			return line;
	}
	return 0;
}

/* Every key of the parameters at v that no rule file names. */
static void
lint_params(struct linter *li, const struct rs_set *s, const char *file,
            const char *text, const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, x) lint_params(li, s, file, text, x);
		return;
	}
	json_object_foreach((json_t *)v, k, x)
	{
		/* a file's own labels are for people */
		if (!strcmp(k, "name") || !strcmp(k, "award_year") ||
		    !strcmp(k, "rule_set") || !strcmp(k, "description"))
			continue;
		if (!mentioned(s, k))
			lwarn(li, file, key_line(text, k), 0,
			      "parameter '%s' is read by no rule", k);
		lint_params(li, s, file, text, x);
	}
}

int
rs_lint(const struct rs_set *s, rs_report_cb cb, void *data)
{
	struct linter li = {cb, data, 0};
	const char *k;
	json_t *v, *r, *tc;
	size_t i, j;
	int *tested, *checked;
	size_t nrules = json_array_size(s->rules);
	struct rs_eval *ev = NULL;
	struct rs_result *res = NULL;
	struct cairn_err e;

	json_object_foreach(s->files, k, v)
	{
		size_t kl = strlen(k);

		if (kl > 4 && !strcmp(k + kl - 4, ".lua"))
			lint_lua(&li, k, json_string_value(v));
	}
	json_object_foreach(s->params, k, v)
	{
		char file[64];

		snprintf(file, sizeof(file), "params/%s.yaml", k);
		if (json_object_get(s->files, file) == NULL)
			snprintf(file, sizeof(file), "params/%s.yml", k);
		lint_params(&li, s, file,
		            json_string_value(json_object_get(s->files, file))
		                    ?: "",
		            v);
	}
	tested = calloc(nrules + 1, sizeof(int));
	checked = calloc(nrules + 1, sizeof(int));
	if (tested == NULL || checked == NULL) {
		free(tested);
		free(checked);
		return li.warnings;
	}
	if (rs_eval_new(s, NULL, &ev, &e) == 0)
		res = rs_result_new();
	json_array_foreach(s->tests, i, tc)
	{
		json_object_foreach(json_object_get(tc, "expect"), k, v)
		{
			int ri = rs_rule_find(s, k);

			if (ri >= 0)
				tested[ri] = 1;
		}
		if (res == NULL)
			continue;
		rs_run(ev, -1, json_object_get(tc, "input"),
		       json_string_value(json_object_get(tc, "award_year")),
		       json_string_value(json_object_get(tc, "today")), res);
		for (j = 0; j < (size_t)res->ndec; j++) {
			const struct rs_decision *d = &res->dec[j];
			uint32_t c;

			for (c = d->c0; c < d->c0 + d->nc; c++)
				if (res->checks[c].outcome != RC_NOTE)
					checked[d->rule] = 1;
		}
	}
	json_array_foreach(s->rules, i, r)
	{
		const char *file =
		        json_string_value(json_object_get(r, "file"));
		int line = (int)json_integer_value(json_object_get(r, "line"));
		const char *id = json_string_value(json_object_get(r, "id"));

		if (!tested[i])
			lwarn(&li, file, line, 0,
			      "rule '%s' has no test case (tests/*.yaml)", id);
		else if (res != NULL && !checked[i])
			lwarn(&li, file, line, 0,
			      "rule '%s' recorded no check in any test case",
			      id);
	}
	rs_result_free(res);
	rs_eval_free(ev);
	free(tested);
	free(checked);
	return li.warnings;
}
