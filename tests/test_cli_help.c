/*
 * test_cli_help.c: every cairn command and subcommand answers --help with
 * its usage on stdout and exit 0, without a cairnd; the commands the main
 * usage lists are all walked (a command added to the usage but not to
 * this table fails here); and the usage errors exit 2.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* Every command path of cairn. A new command goes here. */
static const char *const commands[] = {
        "",
        "status",
        "check",
        "token",
        "token create",
        "token list",
        "token revoke",
        "version",
        "cases",
        "cases list",
        "cases show",
        "cases history",
        "cases timeline",
        "cases create",
        "cases event",
        "case",
        "history",
        "send",
        "open",
        "workflows",
        "workflows list",
        "workflows show",
        "workflows reload",
        "workflows migrate",
        "calendars",
        "clock",
        "clock advance",
        "offices",
        "offices show",
        "offices set",
        "recipients",
        "recipients show",
        "recipients set",
        "rules",
        "rules test",
        "rules eval",
        "rules lint",
        "rules list",
        "rules versions",
        "rules publish",
        "rules rollback",
        "rules dry-run",
        "queue",
        "claim",
        "renew",
        "release",
        "alerts",
        "ack",
        "resolve",
        "caseload",
        "caseload import",
        "caseload show",
        "caseload set",
        "adapters",
        "adapters redrive",
        "isir",
        "isir import",
        "isir check",
        "isir generate",
        "isir identities",
        "audit",
        "audit verify",
        "backup",
        "backup verify",
        "backup restore",
        "disclosures",
};

Test(cli_help, every_command_answers_help_with_its_usage)
{
	char out[16384];

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		/* stdout only: the usage must not go to stderr */
		int rc = run_cmd(out, sizeof(out),
		                 "(CAIRN_URL=http://127.0.0.1:1 %s %s --help "
		                 "2>/dev/null)",
		                 td_bin("cairn"), commands[i]);

		cr_assert_eq(rc, 0, "cairn %s --help: exit %d: %s", commands[i],
		             rc, out);
		cr_assert(strncmp(out, "usage: cairn", 12) == 0,
		          "cairn %s --help printed: %s", commands[i], out);
		/* -h is the same */
		rc = run_cmd(out, sizeof(out),
		             "(CAIRN_URL=http://127.0.0.1:1 %s %s -h "
		             "2>/dev/null)",
		             td_bin("cairn"), commands[i]);
		cr_assert_eq(rc, 0, "cairn %s -h: exit %d", commands[i], rc);
		cr_assert(strncmp(out, "usage: cairn", 12) == 0,
		          "cairn %s -h printed: %s", commands[i], out);
	}
}

static int
walked(const char *word)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		size_t n = strlen(word);

		if (!strncmp(commands[i], word, n) &&
		    (commands[i][n] == '\0' || commands[i][n] == ' '))
			return 1;
	}
	return 0;
}

Test(cli_help, every_command_of_the_usage_is_walked)
{
	char out[16384], *line, *save = NULL;
	int seen = 0;

	cr_assert_eq(run_cmd(out, sizeof(out), "%s --help", td_bin("cairn")),
	             0);
	cr_assert(strstr(out, "exit codes: 0 ok, 1 failed"), "%s", out);
	cr_assert(strstr(out, "3 cairnd unreachable"), "%s", out);
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char word[64];

		/* a command line: two spaces, then a lower-case word */
		if (strncmp(line, "  ", 2) != 0 || line[2] < 'a' ||
		    line[2] > 'z')
			continue;
		if (sscanf(line + 2, "%63[a-z-]", word) != 1)
			continue;
		cr_assert(walked(word), "'%s' is in the usage but not walked",
		          word);
		seen++;
	}
	cr_assert_geq(seen, 20, "only %d command lines in the usage", seen);
}

Test(cli_help, usage_errors_exit_2_and_change_nothing)
{
	static const char *const bad[] = {
	        "cases frobnicate",
	        "cases show",
	        "cases show 'a b'",
	        "cases list --limit 0",
	        "cases list --limit 1001",
	        "cases list --all --limit 5",
	        "cases list --bogus",
	        "cases event ID",
	        "cases event ID submit --data '[1]'",
	        "cases event ID submit --data '{'",
	        "cases create app --data @/nonexistent/file.json",
	        "cases timeline",
	        "workflows frobnicate",
	        "workflows show",
	        "workflows migrate",
	        "workflows migrate app --map nomap",
	        "workflows migrate app --to-version x",
	        "clock",
	        "clock advance",
	        "clock back 1d",
	        "offices",
	        "offices set ucb-fao",
	        "recipients set counselor:C-1",
	        "recipients show",
	        "caseload set",
	        "caseload set C-1 --bogus",
	        "calendars extra",
	        "cases list --url",
	};
	char out[8192];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = run_cmd(out, sizeof(out),
		                 "CAIRN_URL=http://127.0.0.1:1 %s %s",
		                 td_bin("cairn"), bad[i]);

		cr_assert_eq(rc, 2, "cairn %s: exit %d (want 2): %s", bad[i],
		             rc, out);
	}
}

Test(cli_help, an_unreachable_cairnd_exits_3)
{
	static const char *const cmds[] = {
	        "cases",
	        "cases list --json",
	        "cases show X",
	        "cases history X",
	        "cases timeline S1",
	        "workflows",
	        "calendars",
	        "clock advance 1d",
	        "offices show o",
	        "recipients show counselor:C-1",
	};
	char out[8192];

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int rc = run_cmd(out, sizeof(out),
		                 "CAIRN_URL=http://127.0.0.1:1 %s %s",
		                 td_bin("cairn"), cmds[i]);

		cr_assert_eq(rc, 3, "cairn %s: exit %d (want 3): %s", cmds[i],
		             rc, out);
		cr_assert(strstr(out, "cannot reach cairnd"), "%s", out);
	}
}

/* --- the man pages ------------------------------------------------------ */

Test(cli_help, the_man_pages_render_without_warnings)
{
	static const char *const pages[] = {"man/cairn.1", "man/cairnd.8"};
	char out[8192];

	for (size_t i = 0; i < 2; i++) {
		/* -ww: every warning; the page itself to /dev/null, so
		 * whatever is printed is a warning */
		int rc = run_cmd(out, sizeof(out),
		                 "groff -man -Tutf8 -ww '%s/%s' >/dev/null",
		                 CAIRN_SOURCE_DIR, pages[i]);

		cr_assert_eq(rc, 0, "%s: groff exit %d: %s", pages[i], rc, out);
		cr_assert_str_empty(out, "%s: %s", pages[i], out);
	}
}

Test(cli_help, the_man_page_documents_every_command_and_exit_code)
{
	char usage[16384], page[131072], *line, *save = NULL;

	cr_assert_eq(
	        run_cmd(usage, sizeof(usage), "%s --help", td_bin("cairn")), 0);
	/* plain text: no bold or underline overstrikes */
	cr_assert_eq(run_cmd(page, sizeof(page),
	                     "groff -man -Tutf8 -P-cbou '%s/man/cairn.1'",
	                     CAIRN_SOURCE_DIR),
	             0, "%s", page);
	for (line = strtok_r(usage, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char word[64], want[80];

		if (strncmp(line, "  ", 2) != 0 || line[2] < 'a' ||
		    line[2] > 'z' || sscanf(line + 2, "%63[a-z-]", word) != 1)
			continue;
		/* a command is a tag: at the start of an indented line */
		snprintf(want, sizeof(want), "\n       %s", word);
		cr_assert(strstr(page, want), "man/cairn.1 lacks '%s'", word);
	}
	for (int code = 0; code <= 4; code++) {
		char want[32];

		snprintf(want, sizeof(want), "\n       %d      ", code);
		cr_assert(strstr(page, want), "man/cairn.1: no exit status %d",
		          code);
	}
	cr_assert(strstr(page, "CAIRN_URL") && strstr(page, "CAIRN_TOKEN"));
}

Test(cli_help, cairnd_man_page_names_every_configuration_key)
{
	char page[131072], line[512];
	FILE *f = fopen(CAIRN_SOURCE_DIR "/etc/cairnd.yaml", "r");
	int keys = 0;

	cr_assert_not_null(f);
	cr_assert_eq(run_cmd(page, sizeof(page),
	                     "groff -man -Tutf8 -P-cbou '%s/man/cairnd.8'",
	                     CAIRN_SOURCE_DIR),
	             0, "%s", page);
	/* every key the documented configuration sets, and the optional
	 * ones shown commented out ("  # smtp_url: smtp://..."): a key, a
	 * colon and one word, unlike the prose around them */
	while (fgets(line, sizeof(line), f) != NULL) {
		char key[64], *p = line + strspn(line, " ");
		int commented = p[0] == '#' && p[1] == ' ';

		if (commented)
			p += 2;
		if (sscanf(p, "%63[a-z_]:", key) != 1 || p[strlen(key)] != ':')
			continue;
		if (commented &&
		    strchr(p + strlen(key) + 1 +
		                   strspn(p + strlen(key) + 1, " "),
		           ' ') != NULL)
			continue;
		keys++;
		cr_assert(strstr(page, key), "man/cairnd.8 lacks the key '%s'",
		          key);
	}
	fclose(f);
	cr_assert_geq(keys, 20, "only %d keys read", keys);
}
