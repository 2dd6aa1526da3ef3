/*
 * test_defs.c: the definitions checker (workflows/defs.c): the shipped
 * examples check clean, each class of error is reported at its line and
 * column, names are unique within a kind, directories are walked in sorted
 * order, and hostile input (binary garbage, huge files, deep nesting, alias
 * loops) neither crashes nor hangs it. Files go in a fresh mkdtemp directory
 * that the suite's fini removes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/config.h"
#include "workflows/defs.h"

static char tmpdir[256];

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-defs-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
teardown(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(defs, .init = setup, .fini = teardown);

/* What the checker reported, in order. */
struct defs_test_log {
	int n, nerrors, nwarnings;
	struct cairn_err e[64];
	int warning[64];
};

static void
collect(const struct cairn_err *e, int warning, void *data)
{
	struct defs_test_log *log = data;

	if (warning)
		log->nwarnings++;
	else
		log->nerrors++;
	if (log->n < 64) {
		log->e[log->n] = *e;
		log->warning[log->n] = warning;
	}
	log->n++;
}

/* All reports, one a line, for failure messages. */
static const char *
dump(const struct defs_test_log *log)
{
	static char buf[16384];
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < log->n && i < 64 && off < sizeof(buf) - 1; i++) {
		char line[1200];

		cairn_err_format(&log->e[i], line, sizeof(line));
		off += (size_t)snprintf(
		        buf + off, sizeof(buf) - off, "\n  %s%s",
		        log->warning[i] ? "warning: " : "", line);
	}
	return buf;
}

/* tmpdir/rel, in a buffer of the caller's. */
static char *
tmp_path(char *buf, size_t len, const char *rel)
{
	int n = snprintf(buf, len, "%s/%s", tmpdir, rel);

	cr_assert(n > 0 && (size_t)n < len, "path too long: %s", rel);
	return buf;
}

/* Writes len bytes to tmpdir/rel, making directories on the way. */
static void
write_bytes(const char *rel, const char *s, size_t len)
{
	char path[1024], *p;
	FILE *f;

	tmp_path(path, sizeof(path), rel);
	for (p = path + strlen(tmpdir) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	f = fopen(path, "wb");
	cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(s, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void
write_file(const char *rel, const char *s)
{
	write_bytes(rel, s, strlen(s));
}

/* Checks tmpdir/rel alone as kind, logging to log. */
static int
check_one(const char *kind, const char *rel, struct defs_test_log *log)
{
	char path[1024];

	memset(log, 0, sizeof(*log));
	return defs_check_file(kind, tmp_path(path, sizeof(path), rel), collect,
	                       log);
}

Test(defs, examples_check_clean)
{
	static const struct {
		const char *kind;
		int min_files;
	} t[] = {{"workflows", 2}, {"rules", 2}, {"adapters", 1}};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct defs_test_log log = {0};
		char dir[1024];
		int nfiles = -1, rc;

		snprintf(dir, sizeof(dir), "%s/examples/%s", CAIRN_SOURCE_DIR,
		         t[i].kind);
		rc = defs_check_dir(t[i].kind, dir, collect, &log, &nfiles);
		cr_expect_eq(rc, 0, "%s: %d errors:%s", t[i].kind, rc,
		             dump(&log));
		cr_expect_eq(log.n, 0, "%s: reports:%s", t[i].kind, dump(&log));
		cr_expect_geq(nfiles, t[i].min_files, "%s: %d files", t[i].kind,
		              nfiles);
	}
}

/* What `cairnd --check` does with the shipped configuration. */
Test(defs, example_config_definitions_check_clean)
{
	struct config c;
	struct cairn_err err;
	struct defs_test_log log = {0};
	const char *dirs[CONFIG_MAX_DIRS];
	int i, nfiles, total = 0;

	config_defaults(&c);
	cr_assert_eq(config_load(&c, CAIRN_SOURCE_DIR "/etc/cairnd.yaml", &err),
	             0, "%s", err.msg);
	for (i = 0; i < c.nworkflows; i++)
		dirs[i] = c.workflows[i];
	cr_expect_eq(defs_check_dirs("workflows", dirs, c.nworkflows, collect,
	                             &log, &nfiles),
	             0, "%s", dump(&log));
	total += nfiles;
	for (i = 0; i < c.nrules; i++)
		dirs[i] = c.rules[i];
	cr_expect_eq(defs_check_dirs("rules", dirs, c.nrules, collect, &log,
	                             &nfiles),
	             0, "%s", dump(&log));
	total += nfiles;
	for (i = 0; i < c.nadapters; i++)
		dirs[i] = c.adapters[i];
	cr_expect_eq(defs_check_dirs("adapters", dirs, c.nadapters, collect,
	                             &log, &nfiles),
	             0, "%s", dump(&log));
	total += nfiles;
	cr_expect_geq(total, 5);
}

struct defs_test_file {
	const char *kind;
	const char *name; /* file name under tmpdir */
	const char *text;
	int errors;       /* errors expected */
	int line, column; /* of the first report; 0: not checked */
	const char *msg;  /* a substring of the first report */
};

static const struct defs_test_file defs_test_files[] = {
        /* good files */
        {"adapters", "ok.yaml", "name: ok\ndescription: fine\n", 0, 0, 0, NULL},
        {"adapters", "ok.yml", "---\nname: \"quoted_1\"\n...\n", 0, 0, 0, NULL},
        {"adapters", "a.yaml", "name: a\nx: &anchor [1, 2]\ny: *anchor\n", 0, 0,
         0, NULL},
        {"adapters", "n.yaml",
         "name: a234567890123456789012345678901234567890123456789012345678901"
         "234\n",
         0, 0, 0, NULL},
        /* names */
        {"adapters", "n.yaml", "description: x\n", 1, 1, 1, "missing 'name'"},
        {"adapters", "n.yaml", "description: x\nname: Foo\n", 1, 2, 7,
         "name 'Foo' is not valid"},
        {"adapters", "n.yaml", "name: 1abc\n", 1, 1, 7, "not valid"},
        {"adapters", "n.yaml", "name: a-b\n", 1, 1, 7, "not valid"},
        {"adapters", "n.yaml", "name: ''\n", 1, 1, 7, "not valid"},
        {"adapters", "n.yaml",
         "name: a2345678901234567890123456789012345678901234567890123456789012"
         "345\n",
         1, 1, 7, "not valid"},
        {"adapters", "n.yaml", "name: [a]\n", 1, 1, 7,
         "name must be a string, not a list"},
        {"adapters", "n.yaml", "name:\n  a: b\n", 1, 2, 3,
         "name must be a string, not a mapping"},
        {"adapters", "n.yaml", "name: true\n", 1, 1, 7,
         "name must be a string"},
        {"adapters", "n.yaml", "name: null\n", 1, 1, 7,
         "name must be a string"},
        {"adapters", "n.yaml", "name: !!int abc\n", 1, 1, 7,
         "name must be a string"},
        {"adapters", "n.yaml", "name: \"a\\0b\"\n", 1, 1, 7, "not valid"},
        {"adapters", "n.yaml", "- name: a\n", 1, 1, 1,
         "a definition must be a mapping with a 'name', not a list"},
        {"adapters", "n.yaml", "just words\n", 1, 1, 1, "must be a mapping"},
        /* keys */
        {"adapters", "k.yaml", "name: a\nname: b\n", 1, 2, 1,
         "duplicate key 'name' (first at line 1, column 1)"},
        {"adapters", "k.yaml",
         "name: a\nstatuses:\n  s1: {}\n  s2: {}\n  s1: {}\n", 1, 5, 3,
         "duplicate key 's1' (first at line 3, column 3)"},
        {"adapters", "k.yaml", "name: a\nlist:\n  - {x: 1, y: 2, x: 3}\n", 1, 3,
         18, "duplicate key 'x' (first at line 3, column 6)"},
        {"adapters", "k.yaml", "name: a\n\"x\": 1\n'x': 2\n", 1, 3, 1,
         "duplicate key 'x'"},
        {"adapters", "k.yaml", "name: a\n? [x]\n: 1\n", 1, 2, 3,
         "a key must be a scalar, not a list"},
        {"adapters", "k.yaml", "name: a\nb: {x: 1, x: 2, x: 3}\n", 2, 2, 11,
         "duplicate key 'x' (first at line 2, column 5)"},
        /* YAML syntax, at libyaml's (1-based) mark */
        {"adapters", "s.yaml", "name: a\nlist: [a, b\n", 1, 3, 1,
         "did not find expected ',' or ']'"},
        {"adapters", "s.yaml", "name: a\nx:\n\ty: 1\n", 1, 3, 1,
         "found character that cannot start any token"},
        {"adapters", "s.yaml", "name: a\nx: *nowhere\n", 1, 2, 4,
         "undefined alias"},
        {"adapters", "s.yaml", "name: a\nx: \"\xc3\x28\"\n", 1, 2, 6,
         "invalid trailing UTF-8 octet"},
        {"adapters", "s.yaml", "name: a\n---\nname: b\n", 1, 2, 1,
         "more than one YAML document"},
        {"adapters", "s.yaml", "", 1, 0, 0, "empty definition"},
        {"adapters", "s.yaml", "# only a comment\n", 1, 0, 0,
         "empty definition"},
        /* Lua rule files */
        {"rules", "r.lua", "return 1\n", 0, 0, 0, NULL},
        {"rules", "r.lua", "-- caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\x93\n", 0,
         0, 0, NULL},
        {"rules", "r.lua", "", 1, 0, 0, "empty rule file"},
        {"rules", "r.lua", " \n\t\n", 1, 0, 0, "empty rule file"},
        {"rules", "r.lua", "x = 1\ny = \xff\n", 1, 2, 5, "invalid UTF-8"},
        {"rules", "r.lua", "x = '\xc0\x80'\n", 1, 1, 6, "invalid UTF-8"},
        {"rules", "r.lua", "x = '\xed\xa0\x80'\n", 1, 1, 6, "invalid UTF-8"},
        {"rules", "r.lua", "x = '\xf4\x90\x80\x80'\n", 1, 1, 6,
         "invalid UTF-8"},
        {"rules", "r.lua", "x = '\xe2\x82'", 1, 1, 6, "invalid UTF-8"},
        {"rules", "r.lua", "-- \xc3\xa9\xc3\xa9 \xff\n", 1, 1, 7,
         "invalid UTF-8"},
        /* files that are not definitions of the kind */
        {"adapters", "w.lua", "return 1\n", 1, 0, 0,
         "not a adapter definition (expected *.yaml or *.yml)"},
        {"rules", "notes.txt", "hello\n", 1, 0, 0,
         "not a rule definition (expected *.yaml or *.yml or *.lua)"},
        {"adapters", "yaml", "name: a\n", 1, 0, 0, "not a adapter"},
};

Test(defs, files)
{
	size_t i, n = sizeof(defs_test_files) / sizeof(defs_test_files[0]);

	for (i = 0; i < n; i++) {
		const struct defs_test_file *t = &defs_test_files[i];
		struct defs_test_log log;
		char path[1024];
		int rc;

		/* a fresh name per row: nothing carries over */
		snprintf(path, sizeof(path), "row%zu/%s", i, t->name);
		write_file(path, t->text);
		rc = check_one(t->kind, path, &log);
		cr_expect_eq(rc, t->errors, "[%zu] %s: %d errors, want %d:%s",
		             i, t->text, rc, t->errors, dump(&log));
		cr_expect_eq(rc, log.nerrors, "[%zu] count", i);
		if (t->errors == 0 || log.n == 0)
			continue;
		cr_expect_not_null(strstr(log.e[0].file, path),
		                   "[%zu] file '%s'", i, log.e[0].file);
		if (t->line)
			cr_expect(log.e[0].line == t->line &&
			                  log.e[0].column == t->column,
			          "[%zu] %s: at %d:%d, want %d:%d:%s", i,
			          t->text, log.e[0].line, log.e[0].column,
			          t->line, t->column, dump(&log));
		cr_expect_not_null(strstr(log.e[0].msg, t->msg),
		                   "[%zu] %s: lacks '%s':%s", i, t->text,
		                   t->msg, dump(&log));
	}
}

Test(defs, nul_byte_in_lua)
{
	struct defs_test_log log;

	write_bytes("r.lua", "x = 1\nyz\0 = 2\n", 14);
	cr_expect_eq(check_one("rules", "r.lua", &log), 1);
	cr_expect_eq(log.e[0].line, 2);
	cr_expect_eq(log.e[0].column, 3);
	cr_expect_not_null(strstr(log.e[0].msg, "NUL"), "%s", dump(&log));
}

Test(defs, nul_byte_in_yaml)
{
	struct defs_test_log log;

	write_bytes("w.yaml", "name: a\nx: \0\n", 13);
	cr_expect_eq(check_one("adapters", "w.yaml", &log), 1, "%s",
	             dump(&log));
	cr_expect_eq(log.e[0].line, 2);
	cr_expect_eq(log.e[0].column, 4);
}

Test(defs, missing_file_and_unknown_kind)
{
	struct defs_test_log log;

	cr_expect_eq(check_one("adapters", "nope.yaml", &log), 1);
	cr_expect_not_null(strstr(log.e[0].msg, strerror(ENOENT)), "%s",
	                   dump(&log));
	write_file("w.yaml", "name: a\n");
	cr_expect_eq(check_one("flows", "w.yaml", &log), 1);
	cr_expect_not_null(strstr(log.e[0].msg, "unknown kind"), "%s",
	                   dump(&log));
	cr_expect_eq(defs_check_file(NULL, "x", NULL, NULL), 1);
}

Test(defs, missing_directory)
{
	struct defs_test_log log = {0};
	char dir[1024];
	int nfiles = -1;

	tmp_path(dir, sizeof(dir), "nowhere");
	cr_expect_eq(defs_check_dir("rules", dir, collect, &log, &nfiles), 1);
	cr_expect_eq(nfiles, 0);
	cr_expect_str_eq(log.e[0].file, dir);
	cr_expect_not_null(strstr(log.e[0].msg, strerror(ENOENT)), "%s",
	                   dump(&log));

	/* a file where a directory should be */
	write_file("file", "x");
	memset(&log, 0, sizeof(log));
	tmp_path(dir, sizeof(dir), "file");
	cr_expect_eq(defs_check_dir("rules", dir, collect, &log, NULL), 1);
	cr_expect_not_null(strstr(log.e[0].msg, "not a directory"), "%s",
	                   dump(&log));
}

Test(defs, duplicate_names)
{
	struct defs_test_log log = {0};
	char dir[1024], want[1200];
	int nfiles;

	write_file("w/a.yaml", "name: apply\n");
	write_file("w/b.yaml", "# another\n\nname: apply\n");
	write_file("w/c.yaml", "name: other\n");
	tmp_path(dir, sizeof(dir), "w");
	cr_expect_eq(defs_check_dir("adapters", dir, collect, &log, &nfiles), 1,
	             "%s", dump(&log));
	cr_expect_eq(nfiles, 3);
	cr_assert_eq(log.n, 1, "%s", dump(&log));
	cr_expect_str_eq(log.e[0].file,
	                 tmp_path(want, sizeof(want), "w/b.yaml"));
	cr_expect_eq(log.e[0].line, 3);
	cr_expect_eq(log.e[0].column, 7);
	snprintf(want, sizeof(want),
	         "duplicate adapter name 'apply'; first defined at "
	         "%s/w/a.yaml:1:7",
	         tmpdir);
	cr_expect_str_eq(log.e[0].msg, want);
}

/* Unique across every directory of a kind, not across kinds. */
Test(defs, duplicate_names_across_directories)
{
	struct defs_test_log log = {0};
	char d1[1024], d2[1024], d3[1024];
	const char *dirs[2] = {d1, d2};

	write_file("one/x.yaml", "name: shared\n");
	write_file("two/sub/y.yaml", "name: shared\n");
	write_file("three/z.yaml", "name: shared\n");
	tmp_path(d1, sizeof(d1), "one");
	tmp_path(d2, sizeof(d2), "two/");
	tmp_path(d3, sizeof(d3), "three");
	cr_expect_eq(defs_check_dirs("adapters", dirs, 2, collect, &log, NULL),
	             1, "%s", dump(&log));
	cr_expect_not_null(strstr(log.e[0].file, "two/sub/y.yaml"), "%s",
	                   dump(&log));
	cr_expect_not_null(strstr(log.e[0].msg, "duplicate adapter name"), "%s",
	                   dump(&log));
	memset(&log, 0, sizeof(log));
	cr_expect_eq(defs_check_dir("adapters", d3, collect, &log, NULL), 0);
}

/* Sorted, recursive, dotfiles skipped; other files are warnings. */
Test(defs, directory_walk)
{
	struct defs_test_log log = {0};
	char dir[1024];
	int nfiles;

	write_file("w/c.yaml", "name: C\n");
	write_file("w/a.yaml", "name: A\n");
	write_file("w/b/b.yaml", "name: B\n");
	write_file("w/.hidden.yaml", "\xff\xfe garbage");
	write_file("w/.git/x.yaml", "not: [valid");
	write_file("w/README.md", "# workflows\n");
	tmp_path(dir, sizeof(dir), "w");
	cr_expect_eq(defs_check_dir("adapters", dir, collect, &log, &nfiles), 3,
	             "%s", dump(&log));
	cr_expect_eq(nfiles, 3);
	cr_assert_eq(log.n, 4, "%s", dump(&log));
	cr_expect_str_eq(log.e[0].file,
	                 tmp_path(dir, sizeof(dir), "w/README.md"));
	cr_expect_eq(log.warning[0], 1);
	cr_expect_str_eq(log.e[1].file, tmp_path(dir, sizeof(dir), "w/a.yaml"));
	cr_expect_str_eq(log.e[2].file,
	                 tmp_path(dir, sizeof(dir), "w/b/b.yaml"));
	cr_expect_str_eq(log.e[3].file, tmp_path(dir, sizeof(dir), "w/c.yaml"));
}

Test(defs, rules_layout)
{
	struct defs_test_log log = {0};
	char dir[1024];
	int nfiles;

	write_file("r/set/set.lua", "return {}\n");
	write_file("r/set/params/2025-26.yaml", "name: set_2025_26\n");
	write_file("r/set/tests/basic.yaml", "name: set_basic\n");
	write_file("r/set/stray.yaml", "name: set_stray\n");
	tmp_path(dir, sizeof(dir), "r");
	cr_expect_eq(defs_check_dir("rules", dir, collect, &log, &nfiles), 0,
	             "%s", dump(&log));
	cr_expect_eq(nfiles, 4);
	cr_assert_eq(log.n, 1, "%s", dump(&log));
	cr_expect_eq(log.warning[0], 1);
	cr_expect_not_null(strstr(log.e[0].msg, "params/ or tests/"), "%s",
	                   dump(&log));
}

Test(defs, nesting_depth)
{
	struct defs_test_log log;
	char buf[512];
	int n, i;

	/* the top mapping and 63 lists: 64 levels, accepted */
	n = snprintf(buf, sizeof(buf), "name: a\nx: ");
	for (i = 0; i < DEFS_MAX_DEPTH - 1; i++)
		buf[n++] = '[';
	for (i = 0; i < DEFS_MAX_DEPTH - 1; i++)
		buf[n++] = ']';
	buf[n++] = '\n';
	write_bytes("ok.yaml", buf, (size_t)n);
	cr_expect_eq(check_one("adapters", "ok.yaml", &log), 0, "%s",
	             dump(&log));

	/* one more */
	n = snprintf(buf, sizeof(buf), "name: a\nx: ");
	for (i = 0; i < DEFS_MAX_DEPTH; i++)
		buf[n++] = '[';
	for (i = 0; i < DEFS_MAX_DEPTH; i++)
		buf[n++] = ']';
	buf[n++] = '\n';
	write_bytes("deep.yaml", buf, (size_t)n);
	cr_expect_eq(check_one("adapters", "deep.yaml", &log), 1, "%s",
	             dump(&log));
	cr_expect_eq(log.e[0].line, 2);
	cr_expect_eq(log.e[0].column, 4 + DEFS_MAX_DEPTH - 1);
	cr_expect_not_null(strstr(log.e[0].msg, "nested more than 64"), "%s",
	                   dump(&log));
}

/* libyaml is slow on deep nesting (quadratic): the guard stops it early. */
Test(defs, very_deep_nesting)
{
	size_t depth = 2000000, i;
	char *buf = malloc(2 * depth + 16);
	struct defs_test_log log;
	size_t n;

	cr_assert_not_null(buf);
	n = (size_t)sprintf(buf, "name: a\nx: ");
	for (i = 0; i < depth; i++)
		buf[n++] = '[';
	for (i = 0; i < depth; i++)
		buf[n++] = ']';
	write_bytes("deep.yaml", buf, n);
	free(buf);
	cr_expect_eq(check_one("adapters", "deep.yaml", &log), 1, "%s",
	             dump(&log));
	cr_expect_eq(log.e[0].line, 2);
	cr_expect_eq(log.e[0].column, 4 + DEFS_MAX_DEPTH - 1);
}

/* An anchor inside itself, and a billion laughs: each node is seen once. */
Test(defs, aliases_neither_loop_nor_explode)
{
	struct defs_test_log log;
	char buf[8192];
	int n, i, j;

	write_file("loop.yaml", "name: a\nx: &a [1, *a]\ny: &m {k: *m}\n");
	check_one("adapters", "loop.yaml", &log);

	n = snprintf(buf, sizeof(buf), "name: a\na0: &a0 [x, x, x]\n");
	for (i = 1; i < 40; i++) {
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "a%d: &a%d [",
		              i, i);
		for (j = 0; j < 10; j++)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n,
			              "%s*a%d", j ? ", " : "", i - 1);
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "]\n");
	}
	write_bytes("laughs.yaml", buf, (size_t)n);
	cr_expect_eq(check_one("adapters", "laughs.yaml", &log), 0, "%s",
	             dump(&log));
}

Test(defs, too_large)
{
	size_t len = DEFS_FILE_MAX + 1;
	char *big = malloc(len);
	struct defs_test_log log;

	cr_assert_not_null(big);
	memset(big, '#', len);
	memcpy(big, "name: a\n", 8);
	write_bytes("big.yaml", big, len);
	cr_expect_eq(check_one("adapters", "big.yaml", &log), 1);
	cr_expect_not_null(strstr(log.e[0].msg, "too large"), "%s", dump(&log));
	write_bytes("big.lua", big, len);
	cr_expect_eq(check_one("rules", "big.lua", &log), 1);
	free(big);

	/* exactly at the cap is fine */
	big = malloc(DEFS_FILE_MAX);
	cr_assert_not_null(big);
	memset(big, '#', DEFS_FILE_MAX);
	memcpy(big, "name: a\n", 8);
	write_bytes("cap.yaml", big, DEFS_FILE_MAX);
	free(big);
	cr_expect_eq(check_one("adapters", "cap.yaml", &log), 0, "%s",
	             dump(&log));
}

/* Many keys in one mapping, many of them repeated: sorted, capped. */
Test(defs, many_duplicate_keys)
{
	size_t nkeys = 100000, i, n = 0;
	char *buf = malloc(nkeys * 16 + 16);
	struct defs_test_log log;
	int rc;

	cr_assert_not_null(buf);
	n += (size_t)sprintf(buf, "name: a\n");
	for (i = 0; i < nkeys; i++)
		n += (size_t)sprintf(buf + n, "k%zu: 1\n", i % 50000);
	write_bytes("dups.yaml", buf, n);
	free(buf);
	rc = check_one("adapters", "dups.yaml", &log);
	/* 20 errors, then one saying the rest are not shown */
	cr_expect_eq(rc, 21, "%d:%s", rc, dump(&log));
	cr_expect_eq(log.e[0].line, 50002);
	cr_expect_not_null(strstr(log.e[20].msg, "not shown"), "%s",
	                   dump(&log));
}

/* Random bytes, as YAML and as Lua: errors, never a crash. */
Test(defs, binary_garbage)
{
	char buf[8192];
	struct defs_test_log log;
	unsigned seed = 20250101;
	int round;
	size_t i;

	for (round = 0; round < 50; round++) {
		size_t len = sizeof(buf) >> (round % 8);

		for (i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			buf[i] = (char)(seed >> 16);
		}
		write_bytes("g.yaml", buf, len);
		cr_expect_geq(check_one("adapters", "g.yaml", &log), 1,
		              "round %d", round);
		write_bytes("g.lua", buf, len);
		cr_expect_geq(check_one("rules", "g.lua", &log), 1, "round %d",
		              round);
	}
}

Test(defs, name_valid)
{
	cr_expect(defs_name_valid("a"));
	cr_expect(defs_name_valid("cal_grant_2025_26"));
	cr_expect(defs_name_valid("a_"));
	cr_expect_not(defs_name_valid(""));
	cr_expect_not(defs_name_valid(NULL));
	cr_expect_not(defs_name_valid("_a"));
	cr_expect_not(defs_name_valid("9a"));
	cr_expect_not(defs_name_valid("aB"));
	cr_expect_not(defs_name_valid("a.b"));
	cr_expect_not(defs_name_valid("a b"));
	cr_expect(defs_name_valid("a23456789012345678901234567890123456789012"
	                          "3456789012345678901234"));
	cr_expect_not(defs_name_valid("a2345678901234567890123456789012345678"
	                              "901234567890123456789012345"));
}
