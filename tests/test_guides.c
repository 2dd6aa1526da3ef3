/*
 * test_guides.c: the guides' steps work as written. Each guide in docs/
 * marks the shell blocks a script can follow with the info string
 * "sh test"; they are taken out in order, joined into one bash script
 * (set -eu: the first failing command fails the guide, and the output
 * names it), and run against a cairnd serving a small demo season
 * (cairn-demo's database, as `make demo` leaves it), in a scratch
 * directory holding copies of etc/ and examples/, with `cairn` and
 * `cairnd` on the PATH and the token of the guide's reader in
 * CAIRN_TOKEN. Also: the operations guide documents every configuration
 * key daemon/config.c accepts, and the systemd unit passes
 * systemd-analyze (when the tool is there).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifndef CAIRN_SOURCE_DIR
#define CAIRN_SOURCE_DIR "."
#endif

static char dir[256];
static struct td t; /* port and admin token of the demo's cairnd */

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	return p;
}

static void
teardown(void)
{
	td_discard(&t, dir);
}

/* A 20-student season, then cairnd on what it left (as make demo-run). */
static void
season(void)
{
	char out[16384], path[512];

	snprintf(dir, sizeof(dir), "/tmp/cairn-guides-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "'%s' --students 20 --seed 11 --dir '%s/demo' "
	                     "--clients 4",
	                     td_bin("cairn-demo"), dir),
	             0, "%s", out);
	snprintf(path, sizeof(path), "%s/demo", dir);
	td_start_on_demo(&t, path, "cairnd-guides.log");
}

/*
 * Runs the "sh test" blocks of docs/<guide> in a scratch directory of
 * its own, with CAIRN_TOKEN set to token. Returns the script's output
 * in out; fails the test, with the output, when the script fails.
 */
static void
run_guide(const char *guide, const char *token, char *out, size_t outlen)
{
	char path[700], work[600], script[700];
	char *text, *line, *save = NULL;
	FILE *f;
	int in = 0, blocks = 0, rc;
	const char *officer = td_token(&t, "aid_officer", "state-aid");
	char officer_tok[128];

	snprintf(officer_tok, sizeof(officer_tok), "%s", officer);
	snprintf(path, sizeof(path), "%s/docs/%s", CAIRN_SOURCE_DIR, guide);
	text = slurp(path);
	snprintf(work, sizeof(work), "%s/%s.d", dir, guide);
	cr_assert_eq(run_cmd(out, outlen,
	                     "mkdir -p '%s' && cp -r '%s/etc' '%s/examples' "
	                     "'%s/'",
	                     work, CAIRN_SOURCE_DIR, CAIRN_SOURCE_DIR, work),
	             0, "%s", out);
	snprintf(script, sizeof(script), "%s/guide.sh", work);
	f = fopen(script, "w");
	cr_assert_not_null(f);
	fprintf(f, "set -eu\nset -o pipefail\n");
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!in && !strcmp(line, "```sh test")) {
			in = 1;
			blocks++;
			fprintf(f, "echo '--- %s, block %d'\n", guide, blocks);
			continue;
		}
		if (in && !strcmp(line, "```")) {
			in = 0;
			continue;
		}
		if (in)
			fprintf(f, "%s\n", line);
	}
	fclose(f);
	free(text);
	cr_assert_eq(in, 0, "%s: a tested block is not closed", guide);
	cr_assert_geq(blocks, 3, "%s: only %d tested blocks", guide, blocks);
	rc = run_cmd(
	        out, outlen,
	        "cd '%s' && PATH='%s':\"$PATH\" "
	        "CAIRN_URL=http://127.0.0.1:%d CAIRN_TOKEN='%s' "
	        "ADMIN_TOKEN='%s' OFFICER='%s' CAIRN_DB='%s/demo/cairn.db' "
	        "bash '%s' 2>&1",
	        work,
	        getenv("CAIRN_BUILD_DIR") ? getenv("CAIRN_BUILD_DIR")
	                                  : CAIRN_BUILD_DIR,
	        t.port, token, t.token, officer_tok, dir, script);
	cr_assert_eq(rc, 0, "%s failed as written (exit %d):\n%s", guide, rc,
	             out);
}

Test(guides, each_guide_works_as_written, .fini = teardown, .timeout = 240)
{
	static char out[262144];
	char tok[128];

	season();

	/* policy staff: change, test, dry-run, publish, roll back, explain */
	snprintf(tok, sizeof(tok), "%s", td_token(&t, "policy", NULL));
	run_guide("guide-policy-staff.md", tok, out, sizeof(out));
	cr_assert(strstr(out, "-> ineligible") != NULL,
	          "the dry run moved nobody:\n%s", out);
	cr_assert(strstr(out, "\"summary\"") != NULL, "%s", out);

	/* the aid office: identities, import, claim, decide, verify,
	 * release */
	snprintf(tok, sizeof(tok), "%s",
	         td_token(&t, "aid_officer", "state-aid"));
	run_guide("guide-aid-office.md", tok, out, sizeof(out));
	cr_assert(strstr(out, "3 accepted") != NULL, "%s", out);
	cr_assert(strstr(out, "S-9001") != NULL,
	          "the imported ISIR did not open under S-9001:\n%s", out);
	cr_assert(strstr(out, "rules.decided") != NULL, "%s", out);

	/* a counselor: caseload, alerts, the timeline */
	snprintf(tok, sizeof(tok), "%s", td_token(&t, "counselor", "C-01"));
	run_guide("guide-counselor.md", tok, out, sizeof(out));
	cr_assert(strstr(out, "S-0001") != NULL, "%s", out);
	cr_assert(strstr(out, "campus_application") != NULL, "%s", out);

	/* operations: the configuration check, a backup and its restore,
	 * the health and metrics endpoints */
	run_guide("operations.md", t.token, out, sizeof(out));
	cr_assert(strstr(out, "backed up: ") != NULL, "%s", out);
	cr_assert(strstr(out, "restored: ") != NULL, "%s", out);
}

/*
 * Every key config.c accepts (its keys[] tables) is in the reference. A
 * table is a NULL-terminated list of names, or a struct key_spec table
 * whose entries name their key first, as "(\"key\"" (the KEY_* macros)
 * or ".key = \"key\"", beside strings that are messages.
 */
Test(guides, operations_documents_every_configuration_key)
{
	char path[600];
	char *src, *doc, *p;
	int keys = 0;

	snprintf(path, sizeof(path), "%s/daemon/config.c", CAIRN_SOURCE_DIR);
	src = slurp(path);
	snprintf(path, sizeof(path), "%s/docs/operations.md", CAIRN_SOURCE_DIR);
	doc = slurp(path);
	for (p = strstr(src, "keys[] = {"); p; p = strstr(p, "keys[] = {")) {
		char *end = strstr(p, "};");
		char *names = strstr(p, "NULL}");
		int specs;

		cr_assert_not_null(end);
		specs = names == NULL || names > end;
		for (char *q = strchr(p, '"'); q && q < end;
		     q = strchr(q, '"')) {
			char key[64], want[80];
			char *close = strchr(q + 1, '"');

			cr_assert_not_null(close);
			if (specs && q[-1] != '(' &&
			    !(q - p > 7 && strncmp(q - 7, ".key = ", 7) == 0)) {
				q = close + 1;
				continue;
			}
			snprintf(key, sizeof(key), "%.*s", (int)(close - q - 1),
			         q + 1);
			snprintf(want, sizeof(want), "| `%s` |", key);
			cr_assert(strstr(doc, want) != NULL,
			          "docs/operations.md has no row for the "
			          "configuration key %s",
			          key);
			keys++;
			q = close + 1;
		}
		p = end;
	}
	cr_assert_geq(keys, 25, "only %d keys found in daemon/config.c", keys);
	free(src);
	free(doc);
}

/* The unit file is valid and hardened, as systemd itself judges it. */
Test(guides, the_systemd_unit_is_valid_and_hardened)
{
	char out[16384];
	double exposure = 99;
	const char *p;

	if (run_cmd(out, sizeof(out), "command -v systemd-analyze") != 0)
		cr_skip_test("systemd-analyze is not installed");
	/* the installed paths, pointed at this build */
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "d=$(mktemp -d) && sed -e 's|/usr/local/bin/"
	                     "cairnd|%s|g' -e 's|^Documentation=.*||' "
	                     "'%s/etc/cairnd.service' > $d/cairnd.service && "
	                     "systemd-analyze verify $d/cairnd.service 2>&1; "
	                     "rc=$?; rm -rf $d; exit $rc",
	                     td_bin("cairnd"), CAIRN_SOURCE_DIR),
	             0, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "systemd-analyze security --offline=yes "
	                     "'%s/etc/cairnd.service' 2>&1",
	                     CAIRN_SOURCE_DIR),
	             0, "%s", out);
	p = strstr(out, "Overall exposure level for cairnd.service: ");
	cr_assert_not_null(p, "%s", out);
	cr_assert_eq(sscanf(p + strlen("Overall exposure level for "
	                               "cairnd.service: "),
	                    "%lf", &exposure),
	             1);
	cr_assert_leq(exposure, 2.0, "exposure %.1f:\n%s", exposure, out);
}
