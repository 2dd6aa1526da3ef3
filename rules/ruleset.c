/*
 * ruleset.c: loading a rule set: its files (from a directory or from
 * memory), its version (SHA-256 over the sorted relative paths and
 * bytes), its parameter and test YAML files (read with common/yamlfile.h,
 * every error at file:line:column), and its rules, found by running the
 * Lua files once in a scratch sandbox.
 *
 * What a set holds: *.lua at its top, params/<YYYY-YY>.yaml, and
 * tests/NAME.yaml. Anything else in a directory is ignored with a warning,
 * and is not part of the version.
 */
#include "rules_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "../common/yamlfile.h"

#define RS_YAML_DEPTH 32

int
rs_name_ok(const char *s)
{
	size_t i;

	if (s == NULL || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (i = 1; s[i]; i++) {
		if (i >= 64)
			return 0;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	}
	return 1;
}

int
rs_award_year_first(const char *y)
{
	int a, b;

	if (y == NULL || strlen(y) != 7 || y[4] != '-')
		return -1;
	for (int i = 0; i < 7; i++)
		if (i != 4 && (y[i] < '0' || y[i] > '9'))
			return -1;
	a = atoi(y);
	b = atoi(y + 5);
	if (a < 1900 || (a + 1) % 100 != b)
		return -1;
	return a;
}

int
rs_date_valid(const char *s, size_t n)
{
	static const int days[] = {31, 28, 31, 30, 31, 30,
	                           31, 31, 30, 31, 30, 31};
	int y, m, d, i, max;

	if (n != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	    (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (m < 1 || m > 12 || d < 1)
		return 0;
	max = days[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		max = 29;
	return d <= max;
}

/* --- reporting ---------------------------------------------------------- */

struct loader {
	rs_report_cb cb;
	void *data;
	int errors;
	const char *file; /* the YAML file being read */
	yaml_document_t *doc;
};

static void lreport(struct loader *ld, int warning, const char *file, int line,
                    int column, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

static void
lreport(struct loader *ld, int warning, const char *file, int line, int column,
        const char *fmt, ...)
{
	struct cairn_err e;
	char msg[sizeof(e.msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cairn_err_set(&e, file, line, column, "%s", msg);
	if (!warning)
		ld->errors++;
	if (ld->cb)
		ld->cb(&e, warning, ld->data);
}

static void nreport(struct loader *ld, const yaml_node_t *n, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));

/* An error at node n of the YAML file being read. */
static void
nreport(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[480];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lreport(ld, 0, ld->file, (int)n->start_mark.line + 1,
	        (int)n->start_mark.column + 1, "%s", msg);
}

/* --- YAML to JSON --------------------------------------------------------- */

static json_t *
scalar_json(struct loader *ld, yaml_node_t *n)
{
	const char *s = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	char *end;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(s, len);
	if (len == 0 || !strcmp(s, "~") || !strcmp(s, "null") ||
	    !strcmp(s, "Null") || !strcmp(s, "NULL"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	if (strspn(s, "+-0123456789") == len &&
	    strspn(s + (s[0] == '-' || s[0] == '+'), "0123456789") ==
	            len - (s[0] == '-' || s[0] == '+') &&
	    len > (size_t)(s[0] == '-' || s[0] == '+')) {
		long long v;

		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno == ERANGE) {
			nreport(ld, n, "integer %s out of range", s);
			return NULL;
		}
		return json_integer(v);
	}
	if (strspn(s, "+-0123456789.eE") == len && strpbrk(s, "0123456789")) {
		double d = strtod(s, &end);

		if (*end == '\0')
			return json_real(d);
	}
	return json_stringn(s, len);
}

static json_t *
node_json(struct loader *ld, yaml_node_t *n, int depth)
{
	yaml_node_pair_t *p;
	yaml_node_item_t *it;
	json_t *o;

	if (depth > RS_YAML_DEPTH) {
		nreport(ld, n, "nested more than %d deep", RS_YAML_DEPTH);
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		o = scalar_json(ld, n);
		if (o == NULL && ld->errors == 0)
			nreport(ld, n, "not valid UTF-8 text");
		return o;
	case YAML_SEQUENCE_NODE:
		o = json_array();
		for (it = n->data.sequence.items.start;
		     o && it < n->data.sequence.items.top; it++) {
			json_t *v = node_json(
			        ld, yaml_document_get_node(ld->doc, *it),
			        depth + 1);

			if (v == NULL) {
				json_decref(o);
				return NULL;
			}
			json_array_append_new(o, v);
		}
		return o;
	case YAML_MAPPING_NODE:
		o = json_object();
		for (p = n->data.mapping.pairs.start;
		     o && p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k =
			        yaml_document_get_node(ld->doc, p->key);
			json_t *v;
			const char *ks;

			if (k->type != YAML_SCALAR_NODE) {
				nreport(ld, k, "a key must be a scalar");
				json_decref(o);
				return NULL;
			}
			ks = (const char *)k->data.scalar.value;
			if (json_object_get(o, ks) != NULL) {
				nreport(ld, k, "duplicate key '%s'", ks);
				json_decref(o);
				return NULL;
			}
			v = node_json(ld,
			              yaml_document_get_node(ld->doc, p->value),
			              depth + 1);
			if (v == NULL) {
				json_decref(o);
				return NULL;
			}
			json_object_set_new(o, ks, v);
		}
		return o;
	default:
		nreport(ld, n, "empty node");
		return NULL;
	}
}

/* The value node of key in mapping m, or NULL. */
static yaml_node_t *
map_get(yaml_document_t *doc, yaml_node_t *m, const char *key)
{
	yaml_node_pair_t *p;

	if (m == NULL || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, key))
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

/* Refuses keys of mapping m not in allowed (NULL-terminated). */
static int
map_keys_ok(struct loader *ld, yaml_node_t *m, const char *const *allowed,
            const char *list)
{
	yaml_node_pair_t *p;
	int ok = 1;

	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
		const char *const *a;

		if (k->type != YAML_SCALAR_NODE) {
			nreport(ld, k, "a key must be a scalar");
			ok = 0;
			continue;
		}
		for (a = allowed; *a; a++)
			if (!strcmp(*a, (const char *)k->data.scalar.value))
				break;
		if (*a == NULL) {
			nreport(ld, k, "unknown key '%s' (allowed: %s)",
			        (const char *)k->data.scalar.value, list);
			ok = 0;
		}
	}
	return ok;
}

/* A scalar's text if n is a string scalar, else NULL after reporting. */
static const char *
scalar_str(struct loader *ld, yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		nreport(ld, n, "%s must be text, not %s", what,
		        yamlfile_node_kind(n));
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* Merges patch into base (objects recursively, anything else replaced);
 * returns a new value. */
static json_t *
merge(const json_t *base, const json_t *patch)
{
	const char *k;
	json_t *v, *out;

	if (!json_is_object(base) || !json_is_object(patch))
		return json_deep_copy(patch);
	out = json_deep_copy(base);
	json_object_foreach((json_t *)patch, k, v)
	{
		json_t *m = merge(json_object_get(out, k), v);

		json_object_set_new(out, k, m);
	}
	return out;
}

/* --- params and tests ----------------------------------------------------- */

static void
load_params(struct loader *ld, struct rs_set *s, const char *path,
            const char *text)
{
	struct yamlfile yf;
	struct cairn_err e;
	char year[16];
	const char *base = path + strlen("params/");
	const char *dot = strrchr(base, '.');
	yaml_node_t *root, *ay;
	json_t *j;

	snprintf(year, sizeof(year), "%.*s", (int)(dot - base), base);
	if (rs_award_year_first(year) < 0) {
		lreport(ld, 0, path, 0, 0,
		        "a parameter file is named after its award year "
		        "(params/2025-26.yaml), not '%s'",
		        base);
		return;
	}
	if (yamlfile_init_mem(&yf, path, text, strlen(text), RS_YAML_DEPTH,
	                      &e) < 0) {
		lreport(ld, 0, e.file, e.line, e.column, "%s", e.msg);
		return;
	}
	ld->file = path;
	ld->doc = &yf.doc;
	root = yaml_document_get_root_node(&yf.doc);
	if (root == NULL || root->type != YAML_MAPPING_NODE) {
		lreport(ld, 0, path, root ? (int)root->start_mark.line + 1 : 0,
		        root ? (int)root->start_mark.column + 1 : 0,
		        "a parameter file is a mapping");
		goto out;
	}
	ay = map_get(&yf.doc, root, "award_year");
	if (ay != NULL && (ay->type != YAML_SCALAR_NODE ||
	                   strcmp((const char *)ay->data.scalar.value, year))) {
		nreport(ld, ay, "award_year must be %s, the file's name", year);
		goto out;
	}
	j = node_json(ld, root, 0);
	if (j != NULL)
		json_object_set_new(s->params, year, j);
	if (yamlfile_expect_end(&yf, "a parameter file holds one", &e) < 0)
		lreport(ld, 0, e.file, e.line, e.column, "%s", e.msg);
out:
	yamlfile_close(&yf);
}

static int
outcome_ok(const char *o)
{
	return o && (!strcmp(o, "eligible") || !strcmp(o, "ineligible") ||
	             !strcmp(o, "needs_review"));
}

/* expect: {rule: outcome | {outcome, reasons: [code...]}} */
static json_t *
load_expect(struct loader *ld, yaml_node_t *n)
{
	static const char *const keys[] = {"outcome", "reasons", NULL};
	yaml_node_pair_t *p;
	json_t *out = json_object();

	if (n->type != YAML_MAPPING_NODE) {
		nreport(ld, n,
		        "expect is a mapping of rule id to outcome, not %s",
		        yamlfile_node_kind(n));
		json_decref(out);
		return NULL;
	}
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
		const char *rule = scalar_str(ld, k, "a rule id");
		const char *o = NULL;
		json_t *e, *reasons = json_null();

		if (rule == NULL)
			goto bad;
		if (v->type == YAML_SCALAR_NODE) {
			o = (const char *)v->data.scalar.value;
		} else if (v->type == YAML_MAPPING_NODE) {
			yaml_node_t *on = map_get(ld->doc, v, "outcome");
			yaml_node_t *rn = map_get(ld->doc, v, "reasons");

			if (!map_keys_ok(ld, v, keys, "outcome, reasons"))
				goto bad;
			if (on == NULL || on->type != YAML_SCALAR_NODE) {
				nreport(ld, v, "expected outcome missing");
				goto bad;
			}
			o = (const char *)on->data.scalar.value;
			if (rn != NULL) {
				yaml_node_item_t *it;

				if (rn->type != YAML_SEQUENCE_NODE) {
					nreport(ld, rn,
					        "reasons is a list of codes");
					goto bad;
				}
				reasons = json_array();
				for (it = rn->data.sequence.items.start;
				     it < rn->data.sequence.items.top; it++) {
					yaml_node_t *c = yaml_document_get_node(
					        ld->doc, *it);
					const char *cs = scalar_str(
					        ld, c, "a reason code");

					if (cs == NULL || !rs_name_ok(cs)) {
						if (cs)
							nreport(ld, c,
							        "'%s' is not a "
							        "reason code",
							        cs);
						json_decref(reasons);
						goto bad;
					}
					json_array_append_new(reasons,
					                      json_string(cs));
				}
			}
		} else {
			nreport(ld, v,
			        "expected outcome must be text or a "
			        "mapping");
			goto bad;
		}
		if (!outcome_ok(o)) {
			nreport(ld, v,
			        "unknown outcome '%s' (eligible, ineligible or "
			        "needs_review)",
			        o);
			json_decref(reasons);
			goto bad;
		}
		e = json_pack("{s:s, s:o, s:i, s:i}", "outcome", o, "reasons",
		              reasons, "line", (int)k->start_mark.line + 1,
		              "column", (int)k->start_mark.column + 1);
		json_object_set_new(out, rule, e);
	}
	return out;
bad:
	json_decref(out);
	return NULL;
}

static void
load_tests(struct loader *ld, struct rs_set *s, const char *path,
           const char *text)
{
	static const char *const top_keys[] = {
	        "name", "description", "award_year", "today",
	        "base", "cases",       NULL};
	static const char *const case_keys[] = {
	        "name",  "description", "input", "award_year",
	        "today", "expect",      NULL};
	struct yamlfile yf;
	struct cairn_err e;
	yaml_node_t *root, *cases, *n;
	yaml_node_item_t *it;
	const char *dyear = NULL, *dtoday = NULL;
	json_t *base = NULL;
	int errors = ld->errors;

	if (yamlfile_init_mem(&yf, path, text, strlen(text), RS_YAML_DEPTH,
	                      &e) < 0) {
		lreport(ld, 0, e.file, e.line, e.column, "%s", e.msg);
		return;
	}
	ld->file = path;
	ld->doc = &yf.doc;
	root = yaml_document_get_root_node(&yf.doc);
	if (root == NULL || root->type != YAML_MAPPING_NODE) {
		lreport(ld, 0, path, 0, 0,
		        "a test file is a mapping with name and cases");
		goto out;
	}
	if (!map_keys_ok(ld, root, top_keys,
	                 "name, description, award_year, today, base, cases"))
		goto out;
	if ((n = map_get(&yf.doc, root, "award_year")) != NULL)
		dyear = scalar_str(ld, n, "award_year");
	if ((n = map_get(&yf.doc, root, "today")) != NULL)
		dtoday = scalar_str(ld, n, "today");
	if ((n = map_get(&yf.doc, root, "base")) != NULL) {
		if (n->type != YAML_MAPPING_NODE) {
			nreport(ld, n,
			        "base is a mapping (the input every "
			        "case starts from)");
			goto out;
		}
		base = node_json(ld, n, 0);
	}
	cases = map_get(&yf.doc, root, "cases");
	if (cases == NULL || cases->type != YAML_SEQUENCE_NODE) {
		nreport(ld, cases ? cases : root, "cases must be a list");
		goto out;
	}
	for (it = cases->data.sequence.items.start;
	     it < cases->data.sequence.items.top; it++) {
		yaml_node_t *c = yaml_document_get_node(&yf.doc, *it);
		const char *name = NULL, *year = dyear, *today = dtoday;
		json_t *input = NULL, *expect = NULL, *tc;
		char defday[16];

		if (c->type != YAML_MAPPING_NODE) {
			nreport(ld, c, "a test case is a mapping");
			continue;
		}
		if (!map_keys_ok(ld, c, case_keys,
		                 "name, description, input, award_year, "
		                 "today, expect"))
			continue;
		if ((n = map_get(&yf.doc, c, "name")) != NULL)
			name = scalar_str(ld, n, "name");
		if ((n = map_get(&yf.doc, c, "award_year")) != NULL)
			year = scalar_str(ld, n, "award_year");
		if ((n = map_get(&yf.doc, c, "today")) != NULL)
			today = scalar_str(ld, n, "today");
		if (name == NULL) {
			nreport(ld, c, "a test case needs a name");
			continue;
		}
		if (year == NULL || rs_award_year_first(year) < 0) {
			nreport(ld, c,
			        "test case '%s': award_year (YYYY-YY) is "
			        "missing or not valid",
			        name);
			continue;
		}
		if (today == NULL) {
			snprintf(defday, sizeof(defday), "%d-07-01",
			         rs_award_year_first(year));
			today = defday;
		}
		if (!rs_date_valid(today, strlen(today))) {
			nreport(ld, c,
			        "test case '%s': today '%s' is not a date",
			        name, today);
			continue;
		}
		if ((n = map_get(&yf.doc, c, "input")) != NULL) {
			json_t *patch;

			if (n->type != YAML_MAPPING_NODE) {
				nreport(ld, n, "input is a mapping");
				continue;
			}
			patch = node_json(ld, n, 0);
			if (patch == NULL)
				continue;
			input = base ? merge(base, patch) : json_incref(patch);
			json_decref(patch);
		} else {
			input = base ? json_deep_copy(base) : json_object();
		}
		n = map_get(&yf.doc, c, "expect");
		if (n == NULL) {
			nreport(ld, c, "test case '%s' expects nothing", name);
			json_decref(input);
			continue;
		}
		expect = load_expect(ld, n);
		if (expect == NULL) {
			json_decref(input);
			continue;
		}
		tc = json_pack("{s:s, s:i, s:s, s:o, s:s, s:s, s:o}", "file",
		               path, "line", (int)c->start_mark.line + 1,
		               "name", name, "input", input, "award_year", year,
		               "today", today, "expect", expect);
		if (tc)
			json_array_append_new(s->tests, tc);
	}
	if (ld->errors == errors &&
	    yamlfile_expect_end(&yf, "a test file holds one", &e) < 0)
		lreport(ld, 0, e.file, e.line, e.column, "%s", e.msg);
out:
	json_decref(base);
	yamlfile_close(&yf);
}

/* --- the files ------------------------------------------------------------ */

enum rs_kind { K_OTHER, K_LUA, K_PARAMS, K_TESTS };

static int
has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && !strcmp(s + n - m, suf);
}

/* A plain file name: letters, digits, '.', '_', '-', not starting with
 * a dot. */
static int
base_ok(const char *b)
{
	if (b[0] == '\0' || b[0] == '.')
		return 0;
	return strspn(b, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789._-") == strlen(b);
}

static enum rs_kind
path_kind(const char *rel)
{
	const char *slash = strchr(rel, '/');

	if (slash == NULL)
		return base_ok(rel) && has_suffix(rel, ".lua") ? K_LUA
		                                               : K_OTHER;
	if (strchr(slash + 1, '/') != NULL || !base_ok(slash + 1) ||
	    !(has_suffix(slash + 1, ".yaml") || has_suffix(slash + 1, ".yml")))
		return K_OTHER;
	if (slash - rel == 6 && !strncmp(rel, "params", 6))
		return K_PARAMS;
	if (slash - rel == 5 && !strncmp(rel, "tests", 5))
		return K_TESTS;
	return K_OTHER;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* SHA-256 over, for each path in order: the path, a NUL, the length as
 * 8 big-endian bytes, the bytes. */
static int
compute_version(struct rs_set *s, const char **paths, size_t n)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t i;
	int ok;

	if (ctx == NULL)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (i = 0; ok && i < n; i++) {
		json_t *t = json_object_get(s->files, paths[i]);
		uint64_t len = json_string_length(t);
		unsigned char lb[8];

		for (int b = 0; b < 8; b++)
			lb[b] = (unsigned char)(len >> (56 - 8 * b));
		ok = EVP_DigestUpdate(ctx, paths[i], strlen(paths[i]) + 1) &&
		     EVP_DigestUpdate(ctx, lb, 8) &&
		     EVP_DigestUpdate(ctx, json_string_value(t), len);
	}
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok || mdlen != 32)
		return CAIRN_EINVALID;
	for (i = 0; i < 32; i++)
		snprintf(s->version + 2 * i, 3, "%02x", md[i]);
	return 0;
}

void
rs_set_free(struct rs_set *s)
{
	if (s == NULL)
		return;
	free(s->name);
	json_decref(s->files);
	json_decref(s->rules);
	json_decref(s->years);
	json_decref(s->params);
	json_decref(s->tests);
	free(s);
}

/* After the rules are known: every expectation names one. */
static void
check_expectations(struct loader *ld, struct rs_set *s)
{
	size_t i;
	json_t *tc;

	json_array_foreach(s->tests, i, tc)
	{
		const char *k;
		json_t *e;
		const char *year =
		        json_string_value(json_object_get(tc, "award_year"));

		if (json_object_get(s->params, year) == NULL)
			lreport(ld, 0,
			        json_string_value(json_object_get(tc, "file")),
			        (int)json_integer_value(
			                json_object_get(tc, "line")),
			        0,
			        "test case '%s': no parameters for award year "
			        "%s "
			        "(params/%s.yaml)",
			        json_string_value(json_object_get(tc, "name")),
			        year, year);
		json_object_foreach(json_object_get(tc, "expect"), k, e)
		{
			if (rs_rule_find(s, k) < 0)
				lreport(ld, 0,
				        json_string_value(
				                json_object_get(tc, "file")),
				        (int)json_integer_value(
				                json_object_get(e, "line")),
				        (int)json_integer_value(
				                json_object_get(e, "column")),
				        "no rule '%s' in this set", k);
		}
	}
}

int
rs_load_files(const char *name, const json_t *files, rs_report_cb cb,
              void *data, struct rs_set **out)
{
	struct loader ld = {cb, data, 0, NULL, NULL};
	struct rs_set *s;
	const char **paths = NULL;
	const char *k;
	json_t *v;
	size_t n = 0, i, nlua = 0;
	struct rs_eval scratch;
	int rc;

	*out = NULL;
	if (!rs_name_ok(name)) {
		lreport(&ld, 0, name ? name : "", 0, 0,
		        "'%s' is not a valid rule set name (a lowercase "
		        "letter, "
		        "then lowercase letters, digits or '_')",
		        name ? name : "");
		return CAIRN_EINVALID;
	}
	if (!json_is_object(files) || json_object_size(files) == 0) {
		lreport(&ld, 0, name, 0, 0, "a rule set needs files");
		return CAIRN_EINVALID;
	}
	if (json_object_size(files) > RS_MAX_FILES) {
		lreport(&ld, 0, name, 0, 0, "more than %d files in a rule set",
		        RS_MAX_FILES);
		return CAIRN_EINVALID;
	}
	s = calloc(1, sizeof(*s));
	paths = calloc(json_object_size(files), sizeof(*paths));
	if (s == NULL || paths == NULL)
		goto nomem;
	s->name = strdup(name);
	s->files = json_object();
	s->rules = json_array();
	s->years = json_array();
	s->params = json_object();
	s->tests = json_array();
	if (!s->name || !s->files || !s->rules || !s->years || !s->params ||
	    !s->tests)
		goto nomem;
	json_object_foreach((json_t *)files, k, v)
	{
		const char *t = json_string_value(v);
		size_t len = json_string_length(v);

		if (path_kind(k) == K_OTHER) {
			lreport(&ld, 0, k, 0, 0,
			        "not a rule set file (expected NAME.lua, "
			        "params/YYYY-YY.yaml or tests/NAME.yaml)");
			continue;
		}
		if (t == NULL) {
			lreport(&ld, 0, k, 0, 0,
			        "the file's content must be text");
			continue;
		}
		if (len > RS_MAX_FILE_BYTES) {
			lreport(&ld, 0, k, 0, 0, "larger than %d bytes",
			        RS_MAX_FILE_BYTES);
			continue;
		}
		if (memchr(t, '\0', len) != NULL) {
			lreport(&ld, 0, k, 0, 0, "NUL byte in the file");
			continue;
		}
		json_object_set(s->files, k, v);
	}
	if (ld.errors)
		goto fail;
	json_object_foreach(s->files, k, v) paths[n++] = k;
	qsort(paths, n, sizeof(*paths), str_cmp);
	rc = compute_version(s, paths, n);
	if (rc < 0) {
		lreport(&ld, 0, name, 0, 0, "cannot compute the version");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		const char *t =
		        json_string_value(json_object_get(s->files, paths[i]));

		switch (path_kind(paths[i])) {
		case K_LUA:
			nlua++;
			break;
		case K_PARAMS:
			load_params(&ld, s, paths[i], t);
			break;
		case K_TESTS:
			load_tests(&ld, s, paths[i], t);
			break;
		default:
			break;
		}
	}
	if (nlua == 0)
		lreport(&ld, 0, name, 0, 0, "a rule set needs a *.lua file");
	if (json_object_size(s->params) == 0)
		lreport(&ld, 0, name, 0, 0,
		        "a rule set needs parameters for at least one award "
		        "year (params/YYYY-YY.yaml)");
	if (ld.errors)
		goto fail;
	/* the award years, ascending (names sort as years do) */
	for (i = 0; i < n; i++) {
		if (path_kind(paths[i]) == K_PARAMS) {
			char y[16];

			snprintf(y, sizeof(y), "%.7s", paths[i] + 7);
			json_array_append_new(s->years, json_string(y));
		}
	}
	/* the rules: run the files once in a scratch sandbox */
	memset(&scratch, 0, sizeof(scratch));
	scratch.set = s;
	rs_limits_default(&scratch.lim);
	rc = rs_eval_build(&scratch, s->rules, cb, data);
	sb_close(&scratch);
	if (rc < 0) {
		ld.errors++;
		goto fail;
	}
	if (json_array_size(s->rules) == 0) {
		lreport(&ld, 0, name, 0, 0,
		        "no rule{} in any file: a rule set defines rules");
		goto fail;
	}
	check_expectations(&ld, s);
	if (ld.errors)
		goto fail;
	free(paths);
	*out = s;
	return 0;
nomem:
	lreport(&ld, 0, name, 0, 0, "out of memory");
fail:
	free(paths);
	rs_set_free(s);
	return CAIRN_EINVALID;
}

/* Reads one file of a set's directory into files[rel]. */
static void
read_one(struct loader *ld, json_t *files, const char *path, const char *rel)
{
	struct cairn_err e;
	char *buf;
	size_t len;
	json_t *t;

	if (yamlfile_read(path, RS_MAX_FILE_BYTES, "rule set file", &buf, &len,
	                  &e) < 0) {
		lreport(ld, 0, e.file, e.line, e.column, "%s", e.msg);
		return;
	}
	t = json_stringn(buf, len);
	free(buf);
	if (t == NULL) {
		lreport(ld, 0, path, 0, 0, "not valid UTF-8 text");
		return;
	}
	json_object_set_new(files, rel, t);
}

/* Adds the files of dir (rel: its path inside the set, "" at the top). */
static void
read_dir(struct loader *ld, json_t *files, const char *dir, const char *rel)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL) {
		lreport(ld, 0, dir, 0, 0, "cannot open directory: %s",
		        strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX], r[300];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		            (int)sizeof(path) ||
		    snprintf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "",
		             de->d_name) >= (int)sizeof(r)) {
			lreport(ld, 0, dir, 0, 0, "path too long");
			continue;
		}
		if (stat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && rel[0] == '\0' &&
		    (!strcmp(de->d_name, "params") ||
		     !strcmp(de->d_name, "tests"))) {
			read_dir(ld, files, path, de->d_name);
			continue;
		}
		if (!S_ISREG(st.st_mode) || path_kind(r) == K_OTHER) {
			lreport(ld, 1, path, 0, 0,
			        "not part of a rule set (NAME.lua, "
			        "params/YYYY-YY.yaml, tests/NAME.yaml); "
			        "ignored");
			continue;
		}
		if (json_object_size(files) >= RS_MAX_FILES) {
			lreport(ld, 0, path, 0, 0,
			        "more than %d files in a rule set",
			        RS_MAX_FILES);
			break;
		}
		read_one(ld, files, path, r);
	}
	closedir(d);
}

int
rs_load_dir(const char *dir, rs_report_cb cb, void *data, struct rs_set **out)
{
	struct loader ld = {cb, data, 0, NULL, NULL};
	json_t *files = json_object();
	char name[256];
	const char *b;
	size_t l;
	int rc;

	*out = NULL;
	if (files == NULL)
		return -ENOMEM;
	/* the set's name is the directory's */
	l = strlen(dir);
	while (l > 1 && dir[l - 1] == '/')
		l--;
	snprintf(name, sizeof(name), "%.*s", (int)l, dir);
	b = strrchr(name, '/');
	b = b ? b + 1 : name;
	read_dir(&ld, files, dir, "");
	if (ld.errors) {
		json_decref(files);
		return CAIRN_EINVALID;
	}
	rc = rs_load_files(b, files, cb, data, out);
	json_decref(files);
	return rc;
}

const char *
rs_name(const struct rs_set *s)
{
	return s->name;
}

const char *
rs_version(const struct rs_set *s)
{
	return s->version;
}

const json_t *
rs_files(const struct rs_set *s)
{
	return s->files;
}

const json_t *
rs_rules(const struct rs_set *s)
{
	return s->rules;
}

const json_t *
rs_award_years(const struct rs_set *s)
{
	return s->years;
}

int
rs_rule_find(const struct rs_set *s, const char *id)
{
	size_t i;
	json_t *r;

	if (id == NULL)
		return -1;
	json_array_foreach(s->rules, i, r)
	{
		if (!strcmp(json_string_value(json_object_get(r, "id")), id))
			return (int)i;
	}
	return -1;
}
