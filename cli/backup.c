/*
 * backup.c: cairn backup: online backups of cairnd's database, and
 * restoring one.
 *
 *   cairn backup [--db PATH] FILE        copy the database (cairnd may be
 *                                        running) into FILE, a new file
 *   cairn backup verify FILE             check a backup: integrity, a
 *                                        schema this binary knows
 *   cairn backup restore FILE --db PATH  check FILE and copy it to PATH,
 *                                        which must not exist
 *
 * The copy is one consistent snapshot taken on a read-only connection
 * (SQLite's backup API inside one read transaction: every commit before
 * it, none after), so it runs beside a live cairnd without stopping its
 * writes. It is written beside FILE, synced, checked with PRAGMA
 * integrity_check and only then given FILE's name: FILE is absent or a
 * whole database, never half of one. Nothing is ever overwritten: a
 * restore goes to a path that does not exist (stop cairnd and move the
 * old database, with its -wal and -shm files, aside first; see
 * docs/operations.md). Exit 0 done, 1 failed (the reason is printed), 2
 * usage. The database defaults to var/cairn.db, as cairnd's does.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "../common/cairn.h"
#include "../store/store.h"
#include "cli.h"

static void
backup_usage(FILE *f)
{
	fprintf(f, "usage: cairn backup [--db PATH] FILE\n"
	           "       cairn backup verify FILE\n"
	           "       cairn backup restore FILE --db PATH\n"
	           "  an online, consistent copy of cairnd's database "
	           "(var/cairn.db by default)\n"
	           "  into FILE, a new file, checked before it gets its "
	           "name; verify checks a\n"
	           "  copy; restore checks one and copies it to PATH, which "
	           "must not exist.\n");
}

static int
backup_report(const struct cli_opts *o, const char *what, const char *path,
              const struct store_file_info *info)
{
	if (o->json) {
		json_t *j = json_pack(
		        "{s:s, s:s, s:i, s:I, s:I, s:s}", "result", what,
		        "file", path, "schema_version", info->schema_version,
		        "cases", (json_int_t)info->cases, "bytes",
		        (json_int_t)info->bytes, "integrity", "ok");

		cli_print_json(j);
		json_decref(j);
		return EXIT_OK;
	}
	printf("%s: %s: %lld cases, %lld bytes, schema version %d, "
	       "integrity ok\n",
	       what, path, (long long)info->cases, (long long)info->bytes,
	       info->schema_version);
	return EXIT_OK;
}

int
cli_backup(const struct cli_opts *o, int argc, char **argv)
{
	const char *db = o->db ? o->db : "var/cairn.db", *file = NULL;
	struct store_file_info info;
	struct cairn_err err = {0};
	int verb = 0, rc; /* 0 backup, 1 verify, 2 restore */
	int db_given = o->db != NULL;

	if (cli_wants_help(argc, argv)) {
		backup_usage(stdout);
		return EXIT_OK;
	}
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--db") && i + 1 < argc) {
			db = argv[++i];
			db_given = 1;
		} else if (i == 0 && !strcmp(argv[i], "verify")) {
			verb = 1;
		} else if (i == 0 && !strcmp(argv[i], "restore")) {
			verb = 2;
		} else if (argv[i][0] != '-' && file == NULL) {
			file = argv[i];
		} else {
			backup_usage(stderr);
			return EXIT_USAGE;
		}
	}
	/* a restore names its target: there is no default to clobber */
	if (file == NULL || (verb == 2 && !db_given)) {
		backup_usage(stderr);
		return EXIT_USAGE;
	}
	if (verb == 1)
		rc = store_file_check(file, 1, &info, &err);
	else if (verb == 2)
		rc = store_backup(file, db, &info, &err);
	else
		rc = store_backup(db, file, &info, &err);
	if (rc != 0) {
		fprintf(stderr, "cairn backup: %s\n",
		        err.msg[0] ? err.msg : cairn_strerror(rc));
		return EXIT_FAIL;
	}
	return backup_report(o,
	                     verb == 1   ? "verified"
	                     : verb == 2 ? "restored"
	                                 : "backed up",
	                     verb == 0   ? file
	                     : verb == 2 ? db
	                                 : file,
	                     &info);
}
