/* common.c: the failure path of FUZZ_ASSERT, shared by every target. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

void
fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: property does not hold: %s\n", file, line,
	        what);
	abort();
}
