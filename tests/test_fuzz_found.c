/*
 * test_fuzz_found.c: what the fuzz targets (fuzz/) found, each kept as a
 * regression test against a real cairnd, besides its input in the replayed
 * corpus. Under make check cairnd runs with AddressSanitizer, where each of
 * these crashed it before the fix.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct td t;

static void
setup(void)
{
	td_start(&t, NULL);
}

static void
teardown(void)
{
	td_cleanup(&t);
}

TestSuite(fuzz_found, .init = setup, .fini = teardown, .timeout = 60);

/*
 * fuzz/http: the request arena held the URL and each header's name as
 * NUL-terminated strings; when a header name's NUL filled the arena to the
 * last byte, the empty-value NUL after it was written one byte past the
 * end. A 1,017-byte target and one header reach exactly that with the
 * arena's first 1,024 bytes; the neighbours of that size are sent too.
 */
Test(fuzz_found, header_name_filling_the_request_arena_exactly)
{
	for (int pad = 1010; pad <= 1024; pad++) {
		char req[2048], path[1100];
		struct resp r;
		int fd;

		memset(path, 'a', sizeof(path));
		path[0] = '/';
		path[pad] = '\0';
		snprintf(req, sizeof(req),
		         "GET %s HTTP/1.1\r\nX-Pad: v\r\nX-Empty:\r\n\r\n",
		         path);
		fd = tcp_connect(t.port);
		cr_assert(fd >= 0);
		send_all(fd, req, strlen(req));
		cr_assert_eq(read_response(fd, 10000, &r), 0,
		             "no response with a %d-byte target", pad);
		cr_assert_eq(r.status, 404);
		resp_free(&r);
		close(fd);
	}
	json_decref(td_call(&t, "GET", "/v1/whoami", t.token, NULL, NULL, 200));
}
