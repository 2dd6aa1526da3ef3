/*
 * defs.c: the definitions checker (see defs.h). It walks definition
 * directories in sorted order and checks each file for what can be checked
 * before the workflow language, the rule sandbox and the adapter format
 * exist: YAML files are parsed with libyaml's document API and must hold
 * one document, a mapping at the top with a valid `name`, and no duplicate
 * keys at any depth; Lua rule files must be non-empty UTF-8 text without
 * NUL bytes. Input is untrusted: files are capped at DEFS_FILE_MAX, nesting
 * at DEFS_MAX_DEPTH, and the walk of a YAML document visits each node once,
 * so aliases can neither loop nor multiply the work.
 */
#include "defs.h"
#include "workflow.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "../common/yamlfile.h"

/* Directories nest at most this deep below a definitions directory (a
 * symbolic link loop ends here). */
#define DEFS_DIR_DEPTH 16
/* Errors reported for one file before the rest are summarised. */
#define DEFS_FILE_ERRORS 20

struct defs_name {
	char *name;
	char *file;
	int line, column;
};

/* One run of the checker: a kind, where reports go, what was seen. */
struct checker {
	const char *kind; /* "workflows" */
	const char *what; /* "workflow" */
	defs_report_cb cb;
	void *data;
	int errors;
	int nfiles;
	int unique; /* remember names and refuse duplicates */
	struct defs_name *names;
	size_t nnames, cap;
	/* workflow files that passed the generic checks, for the workflow
	 * language's own pass once every name is known */
	char **wf_files;
	size_t nwf, wfcap;
};

/* The YAML file being checked. */
struct yfile {
	struct checker *ck;
	const char *path;
	yaml_document_t *doc;
	unsigned char *seen; /* per node: visited by walk() */
	int nerr;
	int too_deep;
};

static const struct {
	const char *kind;
	const char *what;
} kinds[] = {
        {"workflows", "workflow"},
        {"rules", "rule"},
        {"adapters", "adapter"},
};

static void report(struct checker *ck, int warning, const char *file, int line,
                   int column, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

static void
report(struct checker *ck, int warning, const char *file, int line, int column,
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
		ck->errors++;
	if (ck->cb)
		ck->cb(&e, warning, ck->data);
}

static void yreport(struct yfile *yf, const yaml_node_t *n, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));

/* An error at node n of the file; past DEFS_FILE_ERRORS, one summary. */
static void
yreport(struct yfile *yf, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (yf->nerr > DEFS_FILE_ERRORS)
		return;
	if (yf->nerr++ == DEFS_FILE_ERRORS) {
		report(yf->ck, 0, yf->path, 0, 0,
		       "more than %d errors; the rest are not shown",
		       DEFS_FILE_ERRORS);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report(yf->ck, 0, yf->path, (int)n->start_mark.line + 1,
	       (int)n->start_mark.column + 1, "%s", msg);
}

int
defs_name_valid(const char *s)
{
	size_t i;

	if (s == NULL || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (i = 1; s[i]; i++) {
		if (i >= DEFS_NAME_MAX)
			return 0;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	}
	return 1;
}

/* Reports a failure of a yamlfile_* function (always an error). */
static void
report_err(struct checker *ck, const struct cairn_err *e)
{
	report(ck, 0, e->file, e->line, e->column, "%s", e->msg);
}

/* A mapping key while looking for duplicates. */
struct key {
	const yaml_node_t *node;
	size_t pos; /* index of the pair */
};

static int
key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	size_t lx = x->node->data.scalar.length,
	       ly = y->node->data.scalar.length;
	int c = memcmp(x->node->data.scalar.value, y->node->data.scalar.value,
	               lx < ly ? lx : ly);

	if (c)
		return c;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * Reports duplicate scalar keys in mapping n, each at the later key and
 * pointing at the first; sorting keeps a mapping of many keys from costing
 * the square of their number. Non-scalar keys are errors.
 */
static void
check_keys(struct yfile *yf, const yaml_node_t *n)
{
	yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
	size_t npairs = (size_t)(n->data.mapping.pairs.top - pairs);
	struct key *keys;
	size_t *first;
	size_t i, nkeys = 0;

	if (npairs == 0)
		return;
	keys = calloc(npairs, sizeof(*keys));
	first = calloc(npairs, sizeof(*first));
	if (keys == NULL || first == NULL) {
		free(keys);
		free(first);
		report(yf->ck, 0, yf->path, 0, 0, "out of memory");
		return;
	}
	for (i = 0; i < npairs; i++) {
		yaml_node_t *k = yaml_document_get_node(yf->doc, pairs[i].key);

		first[i] = i;
		if (k->type != YAML_SCALAR_NODE) {
			yreport(yf, k, "a key must be a scalar, not %s",
			        yamlfile_node_kind(k));
			continue;
		}
		keys[nkeys].node = k;
		keys[nkeys].pos = i;
		nkeys++;
	}
	qsort(keys, nkeys, sizeof(*keys), key_cmp);
	for (i = 1; i < nkeys; i++) {
		const yaml_node_t *a = keys[i - 1].node, *b = keys[i].node;

		if (a->data.scalar.length == b->data.scalar.length &&
		    memcmp(a->data.scalar.value, b->data.scalar.value,
		           a->data.scalar.length) == 0)
			first[keys[i].pos] = first[keys[i - 1].pos];
	}
	/* report in document order */
	for (i = 0; i < npairs; i++) {
		const yaml_node_t *k, *k1;

		if (first[i] == i)
			continue;
		k = yaml_document_get_node(yf->doc, pairs[i].key);
		k1 = yaml_document_get_node(yf->doc, pairs[first[i]].key);
		yreport(yf, k,
		        "duplicate key '%.64s' (first at line %d, column %d)",
		        (const char *)k->data.scalar.value,
		        (int)k1->start_mark.line + 1,
		        (int)k1->start_mark.column + 1);
	}
	free(keys);
	free(first);
}

/* Visits every node reachable from n once; depth counts the collections
 * that enclose n. Recursion is bounded by DEFS_MAX_DEPTH. */
static void
walk(struct yfile *yf, yaml_node_t *n, int depth)
{
	size_t id = (size_t)(n - yf->doc->nodes.start);
	yaml_node_item_t *it;
	yaml_node_pair_t *p;

	if (yf->seen[id] || n->type == YAML_SCALAR_NODE)
		return;
	yf->seen[id] = 1;
	if (depth + 1 > DEFS_MAX_DEPTH) {
		if (!yf->too_deep)
			yreport(yf, n, "nested more than %d levels deep",
			        DEFS_MAX_DEPTH);
		yf->too_deep = 1;
		return;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		for (it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++)
			walk(yf, yaml_document_get_node(yf->doc, *it),
			     depth + 1);
		return;
	}
	check_keys(yf, n);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		walk(yf, yaml_document_get_node(yf->doc, p->key), depth + 1);
		walk(yf, yaml_document_get_node(yf->doc, p->value), depth + 1);
	}
}

/* Remembers name for kind; a name seen before is reported at node n. */
static void
note_name(struct yfile *yf, const char *name, const yaml_node_t *n)
{
	struct checker *ck = yf->ck;
	struct defs_name *d;
	size_t i;

	/* linear: a kind has tens of definitions, not thousands */
	for (i = 0; i < ck->nnames; i++) {
		d = &ck->names[i];
		if (strcmp(d->name, name) != 0)
			continue;
		yreport(yf, n,
		        "duplicate %s name '%s'; first defined at %s:%d:%d",
		        ck->what, name, d->file, d->line, d->column);
		return;
	}
	if (ck->nnames == ck->cap) {
		size_t ncap = ck->cap ? ck->cap * 2 : 16;
		struct defs_name *nn = realloc(ck->names, ncap * sizeof(*nn));

		if (nn == NULL) {
			report(ck, 0, yf->path, 0, 0, "out of memory");
			return;
		}
		ck->names = nn;
		ck->cap = ncap;
	}
	d = &ck->names[ck->nnames];
	d->name = strdup(name);
	d->file = strdup(yf->path);
	if (d->name == NULL || d->file == NULL) {
		free(d->name);
		free(d->file);
		report(ck, 0, yf->path, 0, 0, "out of memory");
		return;
	}
	d->line = (int)n->start_mark.line + 1;
	d->column = (int)n->start_mark.column + 1;
	ck->nnames++;
}

/* The top of a definition: a mapping with a valid string `name`. */
static void
check_top(struct yfile *yf, const yaml_node_t *root)
{
	yaml_node_pair_t *p;
	yaml_node_t *v = NULL;
	const char *name;

	if (root->type != YAML_MAPPING_NODE) {
		yreport(yf, root,
		        "a definition must be a mapping with a 'name', not %s",
		        yamlfile_node_kind(root));
		return;
	}
	for (p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(yf->doc, p->key);

		if (k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, "name") == 0) {
			v = yaml_document_get_node(yf->doc, p->value);
			break;
		}
	}
	if (v == NULL) {
		yreport(yf, root,
		        "missing 'name' (a lowercase letter, then up to %d "
		        "lowercase letters, digits or '_')",
		        DEFS_NAME_MAX - 1);
		return;
	}
	if (v->type != YAML_SCALAR_NODE) {
		yreport(yf, v, "name must be a string, not %s",
		        yamlfile_node_kind(v));
		return;
	}
	name = (const char *)v->data.scalar.value;
	if ((v->tag && strcmp((const char *)v->tag, YAML_STR_TAG) != 0) ||
	    (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	     (strcmp(name, "true") == 0 || strcmp(name, "false") == 0 ||
	      strcmp(name, "null") == 0))) {
		yreport(yf, v, "name must be a string, not '%s'", name);
		return;
	}
	if (strlen(name) != v->data.scalar.length || !defs_name_valid(name)) {
		yreport(yf, v,
		        "name '%.80s' is not valid: expected a lowercase "
		        "letter, then up to %d lowercase letters, digits or "
		        "'_'",
		        name, DEFS_NAME_MAX - 1);
		return;
	}
	if (yf->ck->unique)
		note_name(yf, name, v);
}

/* Queues a clean workflow file for the language pass. */
static void
note_workflow_file(struct checker *ck, const char *path)
{
	if (ck->nwf == ck->wfcap) {
		size_t ncap = ck->wfcap ? ck->wfcap * 2 : 16;
		char **nn = realloc(ck->wf_files, ncap * sizeof(*nn));

		if (nn == NULL) {
			report(ck, 0, path, 0, 0, "out of memory");
			return;
		}
		ck->wf_files = nn;
		ck->wfcap = ncap;
	}
	if ((ck->wf_files[ck->nwf] = strdup(path)) != NULL)
		ck->nwf++;
}

static void
wf_report(const struct cairn_err *e, int warning, void *data)
{
	struct checker *ck = data;

	if (!warning)
		ck->errors++;
	if (ck->cb != NULL)
		ck->cb(e, warning, ck->data);
}

/*
 * The workflow language's checks (statuses, transitions, reachability,
 * references) on every file that passed the generic ones, with every
 * workflow name of this run known, so a spawn of an unknown workflow is
 * caught.
 */
static void
check_workflows(struct checker *ck)
{
	const char **names = calloc(ck->nnames + 1, sizeof(*names));
	struct wf_known known = {0};

	if (names == NULL) {
		report(ck, 0, "", 0, 0, "out of memory");
		return;
	}
	for (size_t i = 0; i < ck->nnames; i++)
		names[i] = ck->names[i].name;
	known.workflows = names;
	for (size_t i = 0; i < ck->nwf; i++) {
		struct wf_def *def = NULL;

		wf_def_load(ck->wf_files[i], ck->unique ? &known : NULL,
		            wf_report, ck, &def);
		wf_def_free(def);
	}
	free(names);
}

static void
check_yaml(struct checker *ck, const char *path)
{
	int errors_before = ck->errors;
	struct yamlfile yfile;
	struct cairn_err e;
	struct yfile yf;
	yaml_node_t *root;
	size_t nnodes;

	if (yamlfile_init(&yfile, path, DEFS_FILE_MAX, DEFS_MAX_DEPTH,
	                  "definition file", &e) < 0) {
		report_err(ck, &e);
		return;
	}
	memset(&yf, 0, sizeof(yf));
	yf.ck = ck;
	yf.path = path;
	yf.doc = &yfile.doc;
	root = yaml_document_get_root_node(&yfile.doc);
	if (root == NULL) {
		report(ck, 0, path, 0, 0,
		       "empty definition; expected a mapping with a 'name'");
		goto out;
	}
	nnodes = (size_t)(yfile.doc.nodes.top - yfile.doc.nodes.start);
	yf.seen = calloc(nnodes, 1);
	if (yf.seen == NULL) {
		report(ck, 0, path, 0, 0, "out of memory");
		goto out;
	}
	check_top(&yf, root);
	walk(&yf, root, 0);
	free(yf.seen);

	/* a second document would be ignored by every loader: refuse it */
	if (yamlfile_expect_end(&yfile, "a definition file holds one", &e) < 0)
		report_err(ck, &e);
	if (ck->errors == errors_before && !strcmp(ck->kind, "workflows"))
		note_workflow_file(ck, path);
out:
	yamlfile_close(&yfile);
}

/*
 * Length of the valid UTF-8 sequence at s (n bytes left), or 0 if it is
 * not one: overlong forms, surrogates and code points past U+10FFFF are
 * refused.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* A Lua rule file: compiled later, in the sandbox; here only its text. */
static void
check_lua(struct checker *ck, const char *path)
{
	const unsigned char *s;
	size_t len, i = 0;
	int line = 1, column = 1, blank = 1;
	struct cairn_err e;
	char *buf;

	if (yamlfile_read(path, DEFS_FILE_MAX, "definition file", &buf, &len,
	                  &e) < 0) {
		report_err(ck, &e);
		return;
	}
	s = (const unsigned char *)buf;
	while (i < len) {
		size_t n;

		if (s[i] == '\0') {
			report(ck, 0, path, line, column,
			       "NUL byte in a rule file");
			goto out;
		}
		n = utf8_len(s + i, len - i);
		if (n == 0) {
			report(ck, 0, path, line, column,
			       "invalid UTF-8 (byte 0x%02x)", s[i]);
			goto out;
		}
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			blank = 0;
		if (s[i] == '\n') {
			line++;
			column = 1;
		} else {
			column++;
		}
		i += n;
	}
	if (blank)
		report(ck, 0, path, 0, 0, "empty rule file");
out:
	free(buf);
}

enum ftype { FT_OTHER, FT_YAML, FT_LUA };

static enum ftype
file_type(const char *path)
{
	const char *base = strrchr(path, '/');
	const char *dot;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	if (dot == NULL || dot == base)
		return FT_OTHER;
	if (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0)
		return FT_YAML;
	if (strcmp(dot, ".lua") == 0)
		return FT_LUA;
	return FT_OTHER;
}

/* 1 if a directory component of rel is params or tests. */
static int
in_params_or_tests(const char *rel)
{
	const char *p = rel, *slash;

	while ((slash = strchr(p, '/')) != NULL) {
		size_t n = (size_t)(slash - p);

		if ((n == 6 && memcmp(p, "params", 6) == 0) ||
		    (n == 5 && memcmp(p, "tests", 5) == 0))
			return 1;
		p = slash + 1;
	}
	return 0;
}

/*
 * Checks path as a definition of ck's kind. rel is the part of path below
 * the definitions directory (path itself for a lone file). In a directory
 * walk (walking = 1) a file of another type is a warning, alone an error.
 */
static void
check_path(struct checker *ck, const char *path, const char *rel, int walking)
{
	int rules = strcmp(ck->kind, "rules") == 0;
	enum ftype t = file_type(path);

	if (t == FT_OTHER || (t == FT_LUA && !rules)) {
		report(ck, walking, path, 0, 0,
		       "not a %s definition (expected *.yaml or *.yml%s)%s",
		       ck->what, rules ? " or *.lua" : "",
		       walking ? "; ignored" : "");
		return;
	}
	ck->nfiles++;
	if (t == FT_LUA) {
		check_lua(ck, path);
		return;
	}
	if (rules && !in_params_or_tests(rel))
		report(ck, 1, path, 0, 0,
		       "YAML files in a rules directory belong in params/ or "
		       "tests/");
	check_yaml(ck, path);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
walk_dir(struct checker *ck, const char *dir, size_t rootlen, int depth)
{
	char **names = NULL, **nn;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (d == NULL) {
		report(ck, 0, dir, 0, 0, "cannot open directory: %s",
		       strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL)
				break;
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			break;
		n++;
	}
	if (de != NULL)
		report(ck, 0, dir, 0, 0, "out of memory listing directory");
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), str_cmp);
	for (i = 0; i < n; i++) {
		char path[PATH_MAX];
		struct stat st;
		size_t dl = strlen(dir);
		int len;

		len = snprintf(path, sizeof(path), "%s%s%s", dir,
		               dl && dir[dl - 1] == '/' ? "" : "/", names[i]);
		if (len < 0 || (size_t)len >= sizeof(path)) {
			report(ck, 0, dir, 0, 0, "path too long below here");
			continue;
		}
		if (stat(path, &st) < 0) {
			report(ck, 0, path, 0, 0, "%s", strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			if (depth + 1 >= DEFS_DIR_DEPTH)
				report(ck, 0, path, 0, 0,
				       "directories nested more than %d deep",
				       DEFS_DIR_DEPTH);
			else
				walk_dir(ck, path, rootlen, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			check_path(ck, path, path + rootlen, 1);
		} else {
			report(ck, 1, path, 0, 0,
			       "not a regular file or directory; ignored");
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Sets up ck for kind; 0, or -1 after reporting an unknown kind. */
static int
checker_init(struct checker *ck, const char *kind, defs_report_cb cb,
             void *data)
{
	size_t i;

	memset(ck, 0, sizeof(*ck));
	ck->cb = cb;
	ck->data = data;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (kind && strcmp(kind, kinds[i].kind) == 0) {
			ck->kind = kinds[i].kind;
			ck->what = kinds[i].what;
			return 0;
		}
	}
	ck->kind = "";
	ck->what = "";
	report(ck, 0, "", 0, 0,
	       "unknown kind of definition '%s'; expected workflows, rules or "
	       "adapters",
	       kind ? kind : "(null)");
	return -1;
}

static void
checker_close(struct checker *ck)
{
	size_t i;

	for (i = 0; i < ck->nnames; i++) {
		free(ck->names[i].name);
		free(ck->names[i].file);
	}
	free(ck->names);
	for (i = 0; i < ck->nwf; i++)
		free(ck->wf_files[i]);
	free(ck->wf_files);
}

int
defs_check_dirs(const char *kind, const char *const *dirs, int ndirs,
                defs_report_cb cb, void *data, int *nfiles)
{
	struct checker ck;
	int i;

	if (nfiles)
		*nfiles = 0;
	if (checker_init(&ck, kind, cb, data) < 0)
		return ck.errors;
	ck.unique = 1;
	for (i = 0; i < ndirs; i++) {
		const char *dir = dirs[i];
		struct stat st;
		size_t rootlen = strlen(dir);

		if (stat(dir, &st) < 0) {
			report(&ck, 0, dir, 0, 0,
			       "cannot open %s directory: %s", ck.what,
			       strerror(errno));
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			report(&ck, 0, dir, 0, 0, "not a directory");
			continue;
		}
		/* rel (for params/ and tests/) starts after "dir/" */
		if (rootlen && dir[rootlen - 1] != '/')
			rootlen++;
		walk_dir(&ck, dir, rootlen, 0);
	}
	check_workflows(&ck);
	checker_close(&ck);
	if (nfiles)
		*nfiles = ck.nfiles;
	return ck.errors;
}

int
defs_check_dir(const char *kind, const char *dir, defs_report_cb cb, void *data,
               int *nfiles)
{
	return defs_check_dirs(kind, &dir, 1, cb, data, nfiles);
}

int
defs_check_file(const char *kind, const char *path, defs_report_cb cb,
                void *data)
{
	struct checker ck;

	if (checker_init(&ck, kind, cb, data) < 0)
		return ck.errors;
	check_path(&ck, path, path, 0);
	check_workflows(&ck);
	checker_close(&ck);
	return ck.errors;
}
