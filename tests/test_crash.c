/*
 * test_crash.c: the crash-consistency loop, short (issue 9): three cycles
 * of a season mix against cairnd, each ended by SIGKILL at a random
 * moment, then every check tests/crash/crash.c lists. A failure prints the
 * violations and the seed that repeats the mix (tests/crash/run 3 --seed
 * S). The long run is `tests/crash/run 100`.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

Test(crash, three_sigkills_lose_and_duplicate_nothing, .timeout = 240)
{
	static char out[1 << 16];
	int rc = run_cmd(out, sizeof(out), "'%s/tests/crash/run' 3 --clients 4",
	                 CAIRN_SOURCE_DIR);

	cr_log_info("%s", out);
	cr_assert_eq(rc, 0, "the crash loop found violations:\n%s", out);
	cr_assert_not_null(strstr(out, "violations: 0"), "%s", out);
}
