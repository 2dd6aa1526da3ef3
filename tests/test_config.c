/*
 * test_config.c: the configuration loader (daemon/config.c): defaults, the
 * shipped etc/cairnd.yaml, path resolution, every class of error with its
 * line and column, the all-or-nothing rule, and the duration, size and
 * listen-address parsers, mostly as tables. Each test writes its files in
 * a fresh mkdtemp directory that the suite's fini removes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/config.h"

static char tmpdir[256];

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cairn-config-XXXXXX");
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

TestSuite(config, .init = setup, .fini = teardown);

/* Writes len bytes of s to tmpdir/name; returns the path (static). */
static const char *
write_bytes(const char *name, const char *s, size_t len)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(s, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	return path;
}

static const char *
write_file(const char *name, const char *s)
{
	return write_bytes(name, s, strlen(s));
}

Test(config, defaults)
{
	struct config c;

	config_defaults(&c);
	cr_expect_str_eq(c.file, "");
	cr_expect_str_eq(c.listen_host, "127.0.0.1");
	cr_expect_eq(c.listen_port, 8080);
	cr_expect_str_eq(c.database, "var/cairn.db");
	cr_expect_eq(c.nworkflows, 1);
	cr_expect_str_eq(c.workflows[0], "examples/workflows");
	cr_expect_eq(c.nrules, 1);
	cr_expect_str_eq(c.rules[0], "examples/rules");
	cr_expect_eq(c.nadapters, 1);
	cr_expect_str_eq(c.adapters[0], "examples/adapters");
	cr_expect_eq(c.limits.max_body_bytes, 1048576);
	cr_expect_eq(c.limits.max_header_bytes, 16384);
	cr_expect_eq(c.limits.request_timeout_ms, 30000);
	cr_expect_eq(c.limits.idle_timeout_ms, 60000);
	cr_expect_eq(c.limits.max_connections, 10000);
	cr_expect_eq(c.limits.max_db_bytes, 0);
	cr_expect_eq(c.log_level, LOG_INFO);
}

Test(config, log_level_names)
{
	cr_expect_str_eq(config_log_level_name(LOG_DEBUG), "debug");
	cr_expect_str_eq(config_log_level_name(LOG_INFO), "info");
	cr_expect_str_eq(config_log_level_name(LOG_WARN), "warn");
	cr_expect_str_eq(config_log_level_name(LOG_ERROR), "error");
}

/* The shipped file is the defaults, with paths seen from etc/. */
Test(config, example_file_loads)
{
	const char *path = CAIRN_SOURCE_DIR "/etc/cairnd.yaml";
	struct config c, d;
	struct cairn_err err;
	int rc;

	config_defaults(&c);
	config_defaults(&d);
	rc = config_load(&c, path, &err);
	cr_assert_eq(rc, 0, "%s:%d:%d: %s", err.file, err.line, err.column,
	             err.msg);
	cr_expect_str_eq(c.file, path);
	cr_expect_str_eq(c.listen_host, d.listen_host);
	cr_expect_eq(c.listen_port, d.listen_port);
	cr_expect_str_eq(c.database, CAIRN_SOURCE_DIR "/etc/../var/cairn.db");
	cr_expect_eq(c.nworkflows, 1);
	cr_expect_str_eq(c.workflows[0],
	                 CAIRN_SOURCE_DIR "/etc/../examples/workflows");
	cr_expect_eq(c.nrules, 1);
	cr_expect_str_eq(c.rules[0], CAIRN_SOURCE_DIR "/etc/../examples/rules");
	cr_expect_eq(c.nadapters, 1);
	cr_expect_str_eq(c.adapters[0],
	                 CAIRN_SOURCE_DIR "/etc/../examples/adapters");
	cr_expect_eq(memcmp(&c.limits, &d.limits, sizeof(c.limits)), 0);
	cr_expect_eq(c.log_level, d.log_level);
}

Test(config, every_key)
{
	char want[512];
	struct config c;
	struct cairn_err err;
	const char *path;
	int rc;

	path = write_file("c.yaml", "listen: '[::1]:9090'\n"
	                            "database: /abs/cairn.db\n"
	                            "definitions:\n"
	                            "  workflows: wf\n"
	                            "  rules: [r1, /abs/r2, ../r3]\n"
	                            "  adapters: []\n"
	                            "limits:\n"
	                            "  max_body: 2MB\n"
	                            "  max_header: 8KiB\n"
	                            "  request_timeout: 1500ms\n"
	                            "  idle_timeout: 2m\n"
	                            "  max_connections: 1000000\n"
	                            "  max_database: 10GiB\n"
	                            "log_level: debug\n");
	config_defaults(&c);
	rc = config_load(&c, path, &err);
	cr_assert_eq(rc, 0, "%d:%d: %s", err.line, err.column, err.msg);
	cr_expect_str_eq(c.listen_host, "::1");
	cr_expect_eq(c.listen_port, 9090);
	cr_expect_str_eq(c.database, "/abs/cairn.db");
	cr_expect_eq(c.nworkflows, 1);
	snprintf(want, sizeof(want), "%s/wf", tmpdir);
	cr_expect_str_eq(c.workflows[0], want);
	cr_expect_eq(c.nrules, 3);
	snprintf(want, sizeof(want), "%s/r1", tmpdir);
	cr_expect_str_eq(c.rules[0], want);
	cr_expect_str_eq(c.rules[1], "/abs/r2");
	snprintf(want, sizeof(want), "%s/../r3", tmpdir);
	cr_expect_str_eq(c.rules[2], want);
	cr_expect_eq(c.nadapters, 0);
	cr_expect_eq(c.limits.max_body_bytes, 2000000);
	cr_expect_eq(c.limits.max_header_bytes, 8192);
	cr_expect_eq(c.limits.request_timeout_ms, 1500);
	cr_expect_eq(c.limits.idle_timeout_ms, 120000);
	cr_expect_eq(c.limits.max_connections, 1000000);
	cr_expect_eq(c.limits.max_db_bytes, (int64_t)10 << 30);
	cr_expect_eq(c.log_level, LOG_DEBUG);
}

/* A key the file leaves out keeps what c held, not the default. */
Test(config, file_overrides_only_what_it_names)
{
	struct config c;
	struct cairn_err err;
	const char *path;

	config_defaults(&c);
	c.listen_port = 1234;
	c.limits.max_connections = 7;
	path = write_file("c.yaml", "limits:\n  idle_timeout: 5s\n");
	cr_assert_eq(config_load(&c, path, &err), 0, "%s", err.msg);
	cr_expect_eq(c.listen_port, 1234);
	cr_expect_eq(c.limits.max_connections, 7);
	cr_expect_eq(c.limits.idle_timeout_ms, 5000);
	cr_expect_eq(c.limits.request_timeout_ms, 30000);
}

/* A file named without a directory: relative paths stay as written. */
Test(config, relative_paths_without_directory)
{
	struct config c;
	struct cairn_err err;
	char cwd[1024];

	write_file("c.yaml", "database: x.db\ndefinitions:\n  rules: r\n");
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(tmpdir), 0);
	config_defaults(&c);
	cr_expect_eq(config_load(&c, "c.yaml", &err), 0, "%s", err.msg);
	cr_expect_eq(chdir(cwd), 0);
	cr_expect_str_eq(c.database, "x.db");
	cr_expect_str_eq(c.rules[0], "r");
	cr_expect_str_eq(c.file, "c.yaml");
}

Test(config, relative_paths_from_subdirectory)
{
	struct config c;
	struct cairn_err err;
	char cwd[1024], dir[512];

	snprintf(dir, sizeof(dir), "%s/etc", tmpdir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	write_file("etc/c.yaml", "database: ../var/x.db\n");
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(tmpdir), 0);
	config_defaults(&c);
	cr_expect_eq(config_load(&c, "etc/c.yaml", &err), 0, "%s", err.msg);
	cr_expect_eq(chdir(cwd), 0);
	cr_expect_str_eq(c.database, "etc/../var/x.db");
}

struct config_test_bad {
	const char *yaml;
	int code;
	int line, column; /* 0: not checked */
	const char *msg;  /* a substring of err.msg */
};

/* Every class of error, with where it is reported and what it says. */
static const struct config_test_bad config_test_bad_files[] = {
        /* unknown keys, at every level */
        {"listen: 127.0.0.1:1\nfoo: 1\n", CAIRN_EINVALID, 2, 1,
         "unknown key 'foo' at the top level; expected one of: listen, "
         "database, definitions, limits, log_level"},
        {"limits:\n  max_body: 1MiB\n  foo: 2\n", CAIRN_EINVALID, 3, 3,
         "unknown key 'foo' in limits; expected one of: max_body, max_header, "
         "request_timeout, idle_timeout, max_connections, max_database"},
        {"definitions:\n  workflow: x\n", CAIRN_EINVALID, 2, 3,
         "unknown key 'workflow' in definitions; expected one of: workflows, "
         "rules, adapters"},
        {"[a]: 1\n", CAIRN_EINVALID, 1, 1, "must be words"},
        /* wrong types */
        {"listen: [a, b]\n", CAIRN_EINVALID, 1, 9, "listen must be"},
        {"limits: 5\n", CAIRN_EINVALID, 1, 9,
         "limits must be a mapping of keys to values, not a scalar"},
        {"definitions: [a]\n", CAIRN_EINVALID, 1, 14,
         "definitions must be a mapping"},
        {"definitions:\n  workflows: {a: b}\n", CAIRN_EINVALID, 2, 14,
         "definitions.workflows must be a directory or a list of "
         "directories, not a mapping"},
        {"definitions:\n  rules: [a, [b]]\n", CAIRN_EINVALID, 2, 14,
         "definitions.rules must be a path, not a list"},
        {"definitions:\n  rules:\n", CAIRN_EINVALID, 2, 9, "not empty"},
        {"database:\n", CAIRN_EINVALID, 1, 10, "database must be a path"},
        {"database: {a: 1}\n", CAIRN_EINVALID, 1, 11, "not a mapping"},
        {"log_level: [info]\n", CAIRN_EINVALID, 1, 12, "not a list"},
        {"- listen\n", CAIRN_EINVALID, 1, 1,
         "the configuration must be a mapping"},
        {"just a string\n", CAIRN_EINVALID, 1, 1,
         "the configuration must be a mapping"},
        /* bad values */
        {"listen: 127.0.0.1:70000\n", CAIRN_EINVALID, 1, 9,
         "port 70000 is out of range"},
        {"listen: 127.0.0.1\n", CAIRN_EINVALID, 1, 9, "missing port"},
        {"listen: 'localhost:http'\n", CAIRN_EINVALID, 1, 9,
         "port 'http' is not a number"},
        {"listen: ::1:80\n", CAIRN_EINVALID, 1, 9, "brackets"},
        {"database: \"a\\0b\"\n", CAIRN_EINVALID, 1, 11, "NUL"},
        {"limits:\n  request_timeout: 30\n", CAIRN_EINVALID, 2, 20,
         "'30' is not a duration; expected a whole number followed by ms, "
         "s, m, h or d"},
        {"limits:\n  idle_timeout: 0s\n", CAIRN_EINVALID, 2, 17,
         "greater than zero"},
        {"limits:\n  idle_timeout: -5s\n", CAIRN_EINVALID, 2, 17,
         "not a duration"},
        {"limits:\n  max_body: 0\n", CAIRN_EINVALID, 2, 13,
         "greater than zero"},
        {"limits:\n  max_header: 1XB\n", CAIRN_EINVALID, 2, 15,
         "'1XB' is not a size; expected a whole number of bytes"},
        {"limits:\n  max_database: -1\n", CAIRN_EINVALID, 2, 17, "not a size"},
        {"limits:\n  max_body: 99999999999999999999\n", CAIRN_EINVALID, 2, 13,
         "not a size"},
        {"limits:\n  max_connections: 0\n", CAIRN_EINVALID, 2, 20,
         "from 1 to 1000000"},
        {"limits:\n  max_connections: 1000001\n", CAIRN_EINVALID, 2, 20,
         "from 1 to 1000000"},
        {"limits:\n  max_connections: lots\n", CAIRN_EINVALID, 2, 20,
         "from 1 to 1000000"},
        {"log_level: verbose\n", CAIRN_EINVALID, 1, 12,
         "'verbose' is not a level; expected debug, info, warn or error"},
        {"log_level: INFO\n", CAIRN_EINVALID, 1, 12, "not a level"},
        /* duplicates */
        {"listen: a:1\nlog_level: info\nlisten: b:2\n", CAIRN_ESYNTAX, 3, 1,
         "duplicate key 'listen' at the top level (first at line 1, column "
         "1)"},
        {"limits:\n  max_body: 1\n  max_body: 2\n", CAIRN_ESYNTAX, 3, 3,
         "duplicate key 'max_body' in limits (first at line 2, column 3)"},
        /* YAML syntax, at libyaml's (1-based) mark */
        {"listen: [a\n", CAIRN_ESYNTAX, 2, 1,
         "did not find expected ',' or ']'"},
        {"limits:\n\tmax_body: 1\n", CAIRN_ESYNTAX, 2, 1,
         "found character that cannot start any token"},
        {"a: b: c\n", CAIRN_ESYNTAX, 1, 5, "mapping values are not allowed"},
        {"listen: \"abc\n", CAIRN_ESYNTAX, 2, 1,
         "found unexpected end of stream"},
        {"log_level: *x\n", CAIRN_ESYNTAX, 1, 12, "undefined alias"},
        {"log_level: \xff\n", CAIRN_ESYNTAX, 1, 12, "invalid leading UTF-8"},
        {"log_level: info\n---\nlog_level: warn\n", CAIRN_ESYNTAX, 2, 1,
         "more than one YAML document"},
        {"limits: [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]\n", CAIRN_EINVALID, 1, 24,
         "nested more than 16 levels deep"},
        /* empty */
        {"", CAIRN_EINVALID, 0, 0, "empty configuration"},
        {"# nothing but a comment\n\n", CAIRN_EINVALID, 0, 0,
         "empty configuration"},
        {"---\n", CAIRN_EINVALID, 0, 0, "empty configuration"},
        {"~\n", CAIRN_EINVALID, 0, 0, "empty configuration"},
};

Test(config, errors_say_where_and_what)
{
	size_t i, n = sizeof(config_test_bad_files) /
	              sizeof(config_test_bad_files[0]);

	for (i = 0; i < n; i++) {
		const struct config_test_bad *t = &config_test_bad_files[i];
		struct config c, before;
		struct cairn_err err;
		const char *path;
		int rc;

		path = write_file("bad.yaml", t->yaml);
		config_defaults(&c);
		before = c;
		memset(&err, 0, sizeof(err));
		rc = config_load(&c, path, &err);
		cr_expect_eq(rc, t->code, "[%zu] %s: rc %d, want %d (%s)", i,
		             t->yaml, rc, t->code, err.msg);
		cr_expect_str_eq(err.file, path, "[%zu] err.file", i);
		if (t->line) {
			cr_expect(err.line == t->line &&
			                  err.column == t->column,
			          "[%zu] %s: at %d:%d, want %d:%d (%s)", i,
			          t->yaml, err.line, err.column, t->line,
			          t->column, err.msg);
		}
		cr_expect_not_null(strstr(err.msg, t->msg),
		                   "[%zu] %s: message '%s' lacks '%s'", i,
		                   t->yaml, err.msg, t->msg);
		cr_expect_eq(memcmp(&c, &before, sizeof(c)), 0,
		             "[%zu] config changed on failure", i);
	}
}

/* Everything before the bad key was fine, and none of it is kept. */
Test(config, all_or_nothing)
{
	struct config c, before;
	struct cairn_err err;
	const char *path;

	path = write_file("c.yaml", "listen: 10.0.0.1:99\n"
	                            "database: other.db\n"
	                            "definitions:\n"
	                            "  workflows: [a, b, c]\n"
	                            "limits:\n"
	                            "  max_body: 5MiB\n"
	                            "  max_connections: 0\n"
	                            "log_level: error\n");
	config_defaults(&c);
	before = c;
	cr_assert_eq(config_load(&c, path, &err), CAIRN_EINVALID);
	cr_expect_eq(err.line, 7);
	cr_expect_eq(err.column, 20);
	cr_expect_eq(memcmp(&c, &before, sizeof(c)), 0);
	cr_expect_str_eq(c.listen_host, "127.0.0.1");
	cr_expect_eq(c.nworkflows, 1);

	/* the same for an error found only after the first document */
	path = write_file("c.yaml", "log_level: error\n---\nx: 1\n");
	cr_assert_eq(config_load(&c, path, &err), CAIRN_ESYNTAX);
	cr_expect_eq(memcmp(&c, &before, sizeof(c)), 0);
}

Test(config, too_many_directories)
{
	struct config c;
	struct cairn_err err;
	const char *path;

	path = write_file("c.yaml",
	                  "definitions:\n"
	                  "  adapters: [a, b, c, d, e, f, g, h, i]\n");
	config_defaults(&c);
	cr_assert_eq(config_load(&c, path, &err), CAIRN_EINVALID);
	cr_expect_eq(err.line, 2);
	cr_expect_eq(err.column, 38);
	cr_expect_not_null(strstr(err.msg, "at most 8"), "%s", err.msg);

	path = write_file("c.yaml", "definitions:\n"
	                            "  adapters: [a, b, c, d, e, f, g, h]\n");
	cr_expect_eq(config_load(&c, path, &err), 0, "%s", err.msg);
	cr_expect_eq(c.nadapters, 8);
}

Test(config, path_too_long)
{
	char yaml[4096], want[4400];
	struct config c;
	struct cairn_err err;
	const char *path;
	size_t dirlen = strlen(tmpdir) + 1, i;
	int n;

	/* exactly CONFIG_PATH_MAX - 1 bytes once joined: accepted */
	n = snprintf(yaml, sizeof(yaml), "database: ");
	for (i = 0; i < CONFIG_PATH_MAX - 1 - dirlen; i++)
		yaml[n++] = 'a';
	yaml[n] = '\0';
	snprintf(want, sizeof(want), "%s/%s", tmpdir, yaml + 10);
	path = write_file("c.yaml", yaml);
	config_defaults(&c);
	cr_expect_eq(config_load(&c, path, &err), 0, "%s", err.msg);
	cr_expect_str_eq(c.database, want);

	/* one more: refused, at the value */
	strcat(yaml, "a");
	path = write_file("c.yaml", yaml);
	cr_expect_eq(config_load(&c, path, &err), CAIRN_EINVALID);
	cr_expect_eq(err.line, 1);
	cr_expect_eq(err.column, 11);
	cr_expect_not_null(strstr(err.msg, "too long"), "%s", err.msg);

	/* an absolute path longer than the limit */
	n = snprintf(yaml, sizeof(yaml), "definitions:\n  rules: /");
	for (i = 0; i < CONFIG_PATH_MAX; i++)
		yaml[n++] = 'r';
	yaml[n] = '\0';
	path = write_file("c.yaml", yaml);
	cr_expect_eq(config_load(&c, path, &err), CAIRN_EINVALID);
	cr_expect_eq(err.line, 2);
	cr_expect_eq(err.column, 10);
}

Test(config, file_not_found)
{
	struct config c, before;
	struct cairn_err err;
	char path[512], out[1200], want[1200];
	int rc;

	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	config_defaults(&c);
	before = c;
	rc = config_load(&c, path, &err);
	cr_expect_eq(rc, -ENOENT);
	cr_expect_str_eq(err.file, path);
	cr_expect_eq(err.line, 0);
	cairn_err_format(&err, out, sizeof(out));
	snprintf(want, sizeof(want), "%s: cannot open: %s", path,
	         strerror(ENOENT));
	cr_expect_str_eq(out, want);
	cr_expect_eq(memcmp(&c, &before, sizeof(c)), 0);
}

Test(config, file_unreadable)
{
	struct config c;
	struct cairn_err err;
	const char *path;
	int rc;

	/* a directory is not a configuration file */
	config_defaults(&c);
	rc = config_load(&c, tmpdir, &err);
	cr_expect_lt(rc, 0);
	cr_expect_str_eq(err.file, tmpdir);
	cr_expect_str_eq(err.msg, "not a regular file");

	if (geteuid() == 0)
		return; /* root reads mode 000 files */
	path = write_file("c.yaml", "log_level: info\n");
	cr_assert_eq(chmod(path, 0), 0);
	rc = config_load(&c, path, &err);
	cr_expect_eq(rc, -EACCES);
	cr_expect_not_null(strstr(err.msg, strerror(EACCES)), "%s", err.msg);
}

Test(config, file_too_large)
{
	size_t len = (1 << 20) + 10;
	char *big = malloc(len);
	struct config c;
	struct cairn_err err;
	const char *path;

	cr_assert_not_null(big);
	memset(big, '#', len);
	big[len - 1] = '\n';
	path = write_bytes("c.yaml", big, len);
	free(big);
	config_defaults(&c);
	cr_expect_eq(config_load(&c, path, &err), CAIRN_EINVALID);
	cr_expect_not_null(strstr(err.msg, "too large"), "%s", err.msg);
}

/* libyaml is slow on deep nesting: the guard stops it early. */
Test(config, very_deep_nesting)
{
	size_t depth = 500000, i, n;
	char *buf = malloc(2 * depth + 16);
	struct config c;
	struct cairn_err err;
	const char *path;

	cr_assert_not_null(buf);
	n = (size_t)sprintf(buf, "limits: ");
	for (i = 0; i < depth; i++)
		buf[n++] = '[';
	for (i = 0; i < depth; i++)
		buf[n++] = ']';
	path = write_bytes("c.yaml", buf, n);
	free(buf);
	config_defaults(&c);
	cr_expect_eq(config_load(&c, path, &err), CAIRN_EINVALID);
	cr_expect_eq(err.line, 1);
	cr_expect_eq(err.column, 24);
}

/* Garbage never crashes the loader and always fails it. */
Test(config, binary_garbage)
{
	char buf[4096];
	struct config c;
	struct cairn_err err;
	const char *path;
	unsigned seed = 12345;
	int round;
	size_t i;

	for (round = 0; round < 20; round++) {
		for (i = 0; i < sizeof(buf); i++) {
			seed = seed * 1103515245 + 12345;
			buf[i] = (char)(seed >> 16);
		}
		path = write_bytes("c.yaml", buf, sizeof(buf));
		config_defaults(&c);
		cr_expect_lt(config_load(&c, path, &err), 0, "round %d", round);
	}
}

struct config_test_duration {
	const char *s;
	int ok;
	int64_t ms;
};

Test(config, durations)
{
	static const struct config_test_duration t[] = {
	        {"250ms", 1, 250},
	        {"30s", 1, 30000},
	        {"5m", 1, 300000},
	        {"1h", 1, 3600000},
	        {"2d", 1, 172800000},
	        {"0s", 1, 0},
	        {"0ms", 1, 0},
	        {"007s", 1, 7000},
	        {"9223372036854775807ms", 1, INT64_MAX},
	        {"106751991167d", 1, (int64_t)106751991167 * 86400000},
	        {"106751991168d", 0, 0},         /* overflows in milliseconds */
	        {"9223372036854775808ms", 0, 0}, /* overflows by itself */
	        {"9223372036854775807s", 0, 0},
	        {"", 0, 0},
	        {"s", 0, 0},
	        {"30", 0, 0},
	        {"-5s", 0, 0},
	        {"+5s", 0, 0},
	        {" 5s", 0, 0},
	        {"5s ", 0, 0},
	        {"5 s", 0, 0},
	        {"1.5s", 0, 0},
	        {"5S", 0, 0},
	        {"5sec", 0, 0},
	        {"5us", 0, 0},
	        {"5w", 0, 0},
	        {"1h30m", 0, 0},
	        {"abc", 0, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t ms = -42;
		int rc = config_parse_duration(t[i].s, &ms);

		if (t[i].ok) {
			cr_expect_eq(rc, 0, "'%s' refused", t[i].s);
			cr_expect_eq(ms, t[i].ms, "'%s' -> %lld, want %lld",
			             t[i].s, (long long)ms, (long long)t[i].ms);
		} else {
			cr_expect_eq(rc, CAIRN_EINVALID, "'%s' accepted",
			             t[i].s);
			cr_expect_eq(ms, -42, "'%s' wrote a result", t[i].s);
		}
	}
	cr_expect_eq(config_parse_duration(NULL, &(int64_t){0}),
	             CAIRN_EINVALID);
}

struct config_test_size {
	const char *s;
	int ok;
	int64_t bytes;
};

Test(config, sizes)
{
	static const struct config_test_size t[] = {
	        {"0", 1, 0},
	        {"1048576", 1, 1048576},
	        {"512B", 1, 512},
	        {"16kB", 1, 16000},
	        {"16KB", 1, 16000},
	        {"512KiB", 1, 524288},
	        {"1MB", 1, 1000000},
	        {"1MiB", 1, 1048576},
	        {"2GB", 1, 2000000000},
	        {"2GiB", 1, (int64_t)2 << 30},
	        {"10GiB", 1, (int64_t)10 << 30},
	        {"3TB", 1, (int64_t)3000000000000},
	        {"1TiB", 1, (int64_t)1 << 40},
	        {"9223372036854775807", 1, INT64_MAX},
	        {"9223372036854775807B", 1, INT64_MAX},
	        {"9223372036854775808", 0, 0},
	        {"8589934592GiB", 0, 0},
	        {"8388608TiB", 0, 0},
	        {"8388607TiB", 1, (int64_t)8388607 << 40},
	        {"", 0, 0},
	        {"B", 0, 0},
	        {"MiB", 0, 0},
	        {"-1", 0, 0},
	        {"+1", 0, 0},
	        {"1.5MiB", 0, 0},
	        {"1 MiB", 0, 0},
	        {"1MiB ", 0, 0},
	        {"1mib", 0, 0},
	        {"1kb", 0, 0},
	        {"1Kib", 0, 0},
	        {"1K", 0, 0},
	        {"1M", 0, 0},
	        {"1PB", 0, 0},
	        {"0x10", 0, 0},
	        {"lots", 0, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t b = -42;
		int rc = config_parse_size(t[i].s, &b);

		if (t[i].ok) {
			cr_expect_eq(rc, 0, "'%s' refused", t[i].s);
			cr_expect_eq(b, t[i].bytes, "'%s' -> %lld, want %lld",
			             t[i].s, (long long)b,
			             (long long)t[i].bytes);
		} else {
			cr_expect_eq(rc, CAIRN_EINVALID, "'%s' accepted",
			             t[i].s);
			cr_expect_eq(b, -42, "'%s' wrote a result", t[i].s);
		}
	}
}

struct config_test_listen {
	const char *s;
	const char *host; /* NULL: refused */
	int port;
	const char *msg; /* for refusals: a substring of err.msg */
};

Test(config, listen)
{
	static const struct config_test_listen t[] = {
	        {"127.0.0.1:8080", "127.0.0.1", 8080, NULL},
	        {"0.0.0.0:1", "0.0.0.0", 1, NULL},
	        {"localhost:65535", "localhost", 65535, NULL},
	        {"cairn-1.example.org:443", "cairn-1.example.org", 443, NULL},
	        {"127.0.0.1:0", "127.0.0.1", 0, NULL},
	        {"127.0.0.1:08080", "127.0.0.1", 8080, NULL},
	        {"[::1]:8080", "::1", 8080, NULL},
	        {"[::]:80", "::", 80, NULL},
	        {"[2001:db8::1]:9000", "2001:db8::1", 9000, NULL},
	        {"[::ffff:192.0.2.1]:80", "::ffff:192.0.2.1", 80, NULL},
	        {"[fe80::1%eth0]:80", "fe80::1%eth0", 80, NULL},
	        {"127.0.0.1:65536", NULL, 0, "out of range"},
	        {"127.0.0.1:99999999999999999999999", NULL, 0, "out of range"},
	        {"127.0.0.1", NULL, 0, "missing port"},
	        {"127.0.0.1:", NULL, 0, "missing port"},
	        {"[::1]", NULL, 0, "missing port"},
	        {"[::1]:", NULL, 0, "missing port"},
	        {"[::1]8080", NULL, 0, "missing port"},
	        {"[::1:8080", NULL, 0, "missing ']'"},
	        {"[]:80", NULL, 0, "not an IPv6 address"},
	        {"[1.2.3.4]:80", NULL, 0, "not an IPv6 address"},
	        {"[fe80::1%]:80", NULL, 0, "not an IPv6 address"},
	        {"::1:8080", NULL, 0, "brackets"},
	        {":8080", NULL, 0, "missing host"},
	        {"", NULL, 0, "empty"},
	        {"host:http", NULL, 0, "not a number"},
	        {"host:-1", NULL, 0, "not a number"},
	        {"host:+80", NULL, 0, "not a number"},
	        {"host:80 ", NULL, 0, "not a number"},
	        {"host:8a", NULL, 0, "not a number"},
	        {"ho st:80", NULL, 0, "not a host name"},
	        {"host/x:80", NULL, 0, "not a host name"},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct config c, before;
		struct cairn_err err;
		int rc;

		config_defaults(&c);
		before = c;
		memset(&err, 0, sizeof(err));
		rc = config_set_listen(&c, t[i].s, &err);
		if (t[i].host) {
			cr_expect_eq(rc, 0, "'%s' refused: %s", t[i].s,
			             err.msg);
			cr_expect_str_eq(c.listen_host, t[i].host, "'%s'",
			                 t[i].s);
			cr_expect_eq(c.listen_port, t[i].port, "'%s'", t[i].s);
		} else {
			cr_expect_eq(rc, CAIRN_EINVALID, "'%s' accepted",
			             t[i].s);
			cr_expect_not_null(strstr(err.msg, t[i].msg),
			                   "'%s': '%s' lacks '%s'", t[i].s,
			                   err.msg, t[i].msg);
			cr_expect_eq(memcmp(&c, &before, sizeof(c)), 0,
			             "'%s' changed the config", t[i].s);
		}
	}
}

Test(config, listen_host_length)
{
	char s[300];
	struct config c;
	struct cairn_err err;

	config_defaults(&c);
	memset(s, 'h', 255);
	strcpy(s + 255, ":1");
	cr_expect_eq(config_set_listen(&c, s, &err), 0, "%s", err.msg);
	cr_expect_eq(strlen(c.listen_host), 255);
	memset(s, 'h', 256);
	strcpy(s + 256, ":1");
	cr_expect_eq(config_set_listen(&c, s, &err), CAIRN_EINVALID);
	cr_expect_not_null(strstr(err.msg, "too long"), "%s", err.msg);
}

/* config_load tolerates a NULL err, like every other caller-facing API. */
Test(config, null_err)
{
	struct config c;
	const char *path = write_file("c.yaml", "nope: 1\n");

	config_defaults(&c);
	cr_expect_eq(config_load(&c, path, NULL), CAIRN_EINVALID);
}
