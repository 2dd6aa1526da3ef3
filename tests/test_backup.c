/*
 * test_backup.c: cairn backup, as docs/operations.md tells an operator to
 * use it. A backup taken while cairnd is running and taking writes is one
 * consistent snapshot: restored and started, cairnd has every write made
 * before the backup began and none made after it ended, its history
 * chains verify, and it takes writes again. A damaged copy fails verify,
 * and neither a backup nor a restore ever overwrites a file.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct td t;

static void
teardown(void)
{
	td_cleanup(&t);
}

static int
count_label(const json_t *tokens, const char *label)
{
	size_t i;
	json_t *k;
	int n = 0;

	json_array_foreach(tokens, i, k)
	{
		const char *l = json_string_value(json_object_get(k, "label"));

		n += l && !strcmp(l, label);
	}
	return n;
}

static void
tokens(const char *label, int n)
{
	char body[200];

	snprintf(body, sizeof(body),
	         "{\"role\":\"student\",\"scope\":\"S-1\",\"label\":\"%s\"}",
	         label);
	for (int i = 0; i < n; i++)
		json_decref(td_call(&t, "POST", "/v1/tokens", t.token, body,
		                    NULL, 201));
}

static json_t *
token_list(void)
{
	json_t *r = td_call(&t, "GET", "/v1/tokens", t.token, NULL, NULL, 200);
	json_t *a = json_incref(json_object_get(r, "tokens"));

	json_decref(r);
	cr_assert(json_is_array(a));
	return a;
}

Test(backup, online_copy_restores_to_a_consistent_snapshot, .fini = teardown,
     .timeout = 120)
{
	char out[8192], copy[600], bad[600];
	json_t *list;
	int during;

	td_start(&t, NULL);
	tokens("before", 5);
	snprintf(copy, sizeof(copy), "%s/backup.db", t.dir);

	/* writes keep coming while the copy is taken */
	cr_assert_eq(
	        run_cmd(out, sizeof(out),
	                "(for i in $(seq 1 150); do curl -s -o /dev/null -H "
	                "'Authorization: Bearer %s' -H 'Content-Type: "
	                "application/json' -d "
	                "'{\"role\":\"student\",\"scope\":\"S-2\",\"label\":"
	                "\"during\"}' http://127.0.0.1:%d/v1/tokens; done) & "
	                "sleep 0.2; '%s' backup --db '%s' '%s'; rc=$?; wait; "
	                "exit $rc",
	                t.token, t.port, td_bin("cairn"), t.db, copy),
	        0, "%s", out);
	cr_assert(strstr(out, "backed up: ") != NULL, "%s", out);
	cr_assert(strstr(out, "integrity ok") != NULL, "%s", out);
	tokens("after", 3);

	/* never overwrites */
	cr_assert_eq(run_cmd(out, sizeof(out), "'%s' backup --db '%s' '%s'",
	                     td_bin("cairn"), t.db, copy),
	             1, "%s", out);
	cr_assert(strstr(out, "never overwrites") != NULL, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out), "'%s' backup verify '%s'",
	                     td_bin("cairn"), copy),
	             0, "%s", out);

	/* the restore, as docs/operations.md says: stop, move aside, restore
	 * to the database's path, start */
	cr_assert_eq(td_stop(&t), 0);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "'%s' backup restore '%s' --db '%s'",
	                     td_bin("cairn"), copy, t.db),
	             1, "a restore over the live file: %s", out);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "mkdir '%s/old' && mv '%s' '%s'-* '%s/old/' "
	                     "2>/dev/null; mv '%s' '%s/old/' 2>/dev/null; "
	                     "'%s' backup restore '%s' --db '%s'",
	                     t.dir, t.db, t.db, t.dir, t.db, t.dir,
	                     td_bin("cairn"), copy, t.db),
	             0, "%s", out);
	cr_assert(strstr(out, "restored: ") != NULL, "%s", out);
	td_restart(&t);
	list = token_list();
	cr_assert_eq(count_label(list, "before"), 5);
	cr_assert_eq(count_label(list, "after"), 0);
	during = count_label(list, "during");
	cr_assert_leq(during, 150);
	json_decref(list);
	/* it takes writes again, and its chains verify */
	tokens("restored", 1);
	list = token_list();
	cr_assert_eq(count_label(list, "restored"), 1);
	json_decref(list);
	cr_assert_eq(run_cmd(out, sizeof(out), "'%s' audit verify --db '%s'",
	                     td_bin("cairn"), t.db),
	             0, "%s", out);

	/* a damaged copy: a page in the middle overwritten */
	snprintf(bad, sizeof(bad), "%s/bad.db", t.dir);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "cp '%s' '%s' && dd if=/dev/urandom of='%s' "
	                     "bs=4096 seek=3 count=2 conv=notrunc 2>/dev/null",
	                     copy, bad, bad),
	             0, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out), "'%s' backup verify '%s'",
	                     td_bin("cairn"), bad),
	             1, "a damaged copy verified: %s", out);
	cr_assert(strstr(out, "cairn backup: ") != NULL, "%s", out);
	/* and something that is not a database at all */
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "'%s' backup verify '%s/cairnd.yaml'",
	                     td_bin("cairn"), t.dir),
	             1, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out), "'%s' backup restore '%s'",
	                     td_bin("cairn"), copy),
	             2, "a restore without --db: %s", out);
}
