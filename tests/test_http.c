/*
 * test_http.c: the HTTP layer of a real cairnd, over real sockets:
 * keep-alive, pipelining, every limit, and clients that misbehave.
 * After each bad request the daemon must still answer.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/cairn.h"
#include "harness.h"

static struct td t;

/* small limits so the tests reach them quickly */
static const char limits[] = "limits:\n"
                             "  max_body: 4KiB\n"
                             "  max_header: 2KiB\n"
                             "  request_timeout: 1s\n"
                             "  idle_timeout: 2s\n"
                             "  max_connections: 6\n";

static void
setup(void)
{
	td_start(&t, limits);
}

static void
teardown(void)
{
	td_cleanup(&t);
}

static void
assert_alive(void)
{
	struct resp r;

	cr_assert_eq(http_do(&t, "GET", "/healthz", NULL, NULL, NULL, 0, &r), 0,
	             "cairnd stopped answering");
	cr_assert_eq(r.status, 200);
	resp_free(&r);
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 30);

Test(http, keep_alive_serves_many_requests_on_one_connection)
{
	int fd = tcp_connect(t.port);
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	struct resp r;

	for (int i = 0; i < 5; i++) {
		send_all(fd, req, sizeof(req) - 1);
		cr_assert_eq(read_response(fd, 2000, &r), 0);
		cr_assert_eq(r.status, 200);
		cr_assert_str_eq(r.body, "{\"status\":\"ok\"}");
		resp_free(&r);
	}
	close(fd);
}

Test(http, pipelined_requests_are_answered_in_order)
{
	int fd = tcp_connect(t.port);
	static const char reqs[] =
	        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: one\r\n\r\n"
	        "GET /v1/whoami HTTP/1.1\r\nHost: x\r\nX-Request-Id: "
	        "two\r\n\r\n"
	        "GET /nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: three\r\n\r\n"
	        "GET /readyz HTTP/1.1\r\nHost: x\r\nX-Request-Id: four\r\n\r\n"
	        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: "
	        "five\r\n\r\n";
	static const int want[] = {200, 401, 404, 200, 200};
	static const char *ids[] = {"one", "two", "three", "four", "five"};
	struct resp r;
	char v[64];

	send_all(fd, reqs, sizeof(reqs) - 1);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(read_response(fd, 2000, &r), 0, "response %d", i);
		cr_assert_eq(r.status, want[i], "response %d: %d", i, r.status);
		cr_assert_str_eq(resp_header(&r, "X-Request-Id", v, sizeof(v)),
		                 ids[i]);
		resp_free(&r);
	}
	close(fd);
}

Test(http, unknown_route_is_404_problem_json)
{
	struct resp r;
	char v[128];

	cr_assert_eq(http_do(&t, "GET", "/v1/nothing", NULL, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 404);
	cr_assert_str_eq(resp_header(&r, "Content-Type", v, sizeof(v)),
	                 "application/problem+json");
	cr_assert(strstr(r.body, "\"type\":\"urn:cairn:problem:not-found\""));
	cr_assert(strstr(r.body, "\"status\":404"));
	cr_assert(strstr(r.body, "\"title\":"));
	cr_assert(strstr(r.body, "\"detail\":"));
	resp_free(&r);
}

Test(http, wrong_method_is_405_with_allow)
{
	struct resp r;
	char v[128];

	cr_assert_eq(http_do(&t, "PUT", "/v1/tokens", t.token,
	                     "application/json", "{}", 2, &r),
	             0);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(resp_header(&r, "Allow", v, sizeof(v)),
	                 "GET, HEAD, POST");
	resp_free(&r);
	cr_assert_eq(http_do(&t, "POST", "/healthz", NULL, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(resp_header(&r, "Allow", v, sizeof(v)), "GET, HEAD");
	resp_free(&r);
}

Test(http, head_sends_headers_without_body)
{
	int fd = tcp_connect(t.port);
	static const char req[] = "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	                          "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char buf[4096];
	ssize_t n, total = 0;

	send_all(fd, req, sizeof(req) - 1);
	/* both responses arrive; the first has Content-Length 15 but no
	 * body, so the second status line follows its blank line at once */
	while (total < (ssize_t)sizeof(buf) - 1) {
		n = recv(fd, buf + total, sizeof(buf) - 1 - (size_t)total, 0);
		if (n <= 0)
			break;
		total += n;
		buf[total] = '\0';
		if (strstr(buf, "{\"status\":\"ok\"}"))
			break;
	}
	buf[total] = '\0';
	char *second = strstr(buf + 1, "HTTP/1.1 200");
	cr_assert(second != NULL);
	cr_assert(strstr(buf, "\r\n\r\nHTTP/1.1 200") == second - 4);
	close(fd);
}

Test(http, headers_too_large_is_431)
{
	char big[4096];
	int fd = tcp_connect(t.port), n;
	struct resp r;

	memset(big, 'a', sizeof(big));
	n = snprintf(big, sizeof(big), "GET /healthz HTTP/1.1\r\nX-Big: ");
	big[n] = 'a';
	memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
	send_all(fd, big, sizeof(big));
	cr_assert_eq(read_response(fd, 2000, &r), 0);
	cr_assert_eq(r.status, 431);
	cr_assert(strstr(r.body, "headers-too-large"));
	resp_free(&r);
	cr_assert(wait_closed(fd, 2000));
	close(fd);
	assert_alive();
}

Test(http, too_many_headers_is_431)
{
	char req[2048];
	size_t n =
	        (size_t)snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\n");
	int fd = tcp_connect(t.port);
	struct resp r;

	for (int i = 0; i < 70; i++)
		n += (size_t)snprintf(req + n, sizeof(req) - n, "H%d: v\r\n",
		                      i);
	n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
	send_all(fd, req, n);
	cr_assert_eq(read_response(fd, 2000, &r), 0);
	cr_assert_eq(r.status, 431);
	resp_free(&r);
	close(fd);
}

Test(http, declared_body_too_large_is_413_before_it_is_sent)
{
	int fd = tcp_connect(t.port);
	static const char req[] = "POST /v1/tokens HTTP/1.1\r\nHost: x\r\n"
	                          "Content-Type: application/json\r\n"
	                          "Content-Length: 1000000\r\n\r\n";
	struct resp r;

	send_all(fd, req, sizeof(req) - 1);
	cr_assert_eq(read_response(fd, 2000, &r), 0);
	cr_assert_eq(r.status, 413);
	cr_assert(strstr(r.body, "body-too-large"));
	resp_free(&r);
	close(fd);
	assert_alive();
}

Test(http, chunked_body_too_large_is_413)
{
	int fd = tcp_connect(t.port);
	static const char head[] = "POST /v1/tokens HTTP/1.1\r\nHost: x\r\n"
	                           "Content-Type: application/json\r\n"
	                           "Transfer-Encoding: chunked\r\n\r\n";
	char chunk[1100];
	struct resp r;

	send_all(fd, head, sizeof(head) - 1);
	memset(chunk, ' ', sizeof(chunk));
	memcpy(chunk, "400\r\n", 5);
	memcpy(chunk + 5 + 0x400, "\r\n", 2);
	for (int i = 0; i < 5; i++)
		send_all(fd, chunk, 5 + 0x400 + 2);
	cr_assert_eq(read_response(fd, 2000, &r), 0);
	cr_assert_eq(r.status, 413);
	resp_free(&r);
	close(fd);
	assert_alive();
}

Test(http, malformed_request_line_is_400)
{
	static const char *bad[] = {
	        "GARBAGE\r\n\r\n",
	        "GET /healthz HTTP/9.9\r\n\r\n",
	        "GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
	        "GET http://elsewhere/healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	        "GET /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: "
	        "2\r\n\r\nab",
	        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = tcp_connect(t.port);
		struct resp r;

		send_all(fd, bad[i], strlen(bad[i]));
		cr_assert_eq(read_response(fd, 2000, &r), 0, "case %zu", i);
		cr_assert_eq(r.status, 400, "case %zu: %d", i, r.status);
		cr_assert(strstr(r.body, "\"status\":400"));
		resp_free(&r);
		cr_assert(wait_closed(fd, 2000), "case %zu stays open", i);
		close(fd);
	}
	assert_alive();
}

Test(http, request_cut_off_halfway_gets_400_and_changes_nothing)
{
	int fd = tcp_connect(t.port);
	static const char part[] = "POST /v1/tokens HTTP/1.1\r\nHost: x\r\n"
	                           "Content-Type: application/json\r\n"
	                           "Content-Length: 40\r\n\r\n{\"role\":";
	struct resp r;
	char auth[200];

	snprintf(auth, sizeof(auth), "%s", t.token);
	send_all(fd, part, sizeof(part) - 1);
	shutdown(fd, SHUT_WR);
	cr_assert_eq(read_response(fd, 2000, &r), 0);
	cr_assert_eq(r.status, 400);
	cr_assert(strstr(r.body, "incomplete-request"));
	resp_free(&r);
	close(fd);
	/* and a request dropped without a word */
	fd = tcp_connect(t.port);
	send_all(fd, part, sizeof(part) - 1);
	close(fd);
	cr_assert_eq(http_do(&t, "GET", "/v1/tokens", auth, NULL, NULL, 0, &r),
	             0);
	cr_assert_eq(r.status, 200);
	/* only the admin token exists */
	cr_assert_eq(strstr(strstr(r.body, "\"id\"") + 1, "\"id\""), NULL);
	resp_free(&r);
}

Test(http, slow_client_gets_408_without_holding_up_others)
{
	int slow = tcp_connect(t.port);
	static const char part[] =
	        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	struct resp r;
	double t0 = cairn_mono_s(), took;

	send_all(slow, part, sizeof(part) - 1);
	/* others are served while it dawdles */
	for (int i = 0; i < 5; i++) {
		double s = cairn_mono_s();

		assert_alive();
		cr_assert_lt(cairn_mono_s() - s, 0.5);
	}
	send_all(slow, "a", 1);
	cr_assert_eq(read_response(slow, 3000, &r), 0);
	took = cairn_mono_s() - t0;
	cr_assert_eq(r.status, 408);
	cr_assert_geq(took, 0.8, "timed out after %.2f s", took);
	cr_assert_lt(took, 2.5, "timed out after %.2f s", took);
	resp_free(&r);
	cr_assert(wait_closed(slow, 2000));
	close(slow);
}

Test(http, idle_connection_is_closed_after_the_idle_timeout)
{
	int fd = tcp_connect(t.port);
	double t0 = cairn_mono_s();

	cr_assert(wait_closed(fd, 5000));
	cr_assert_geq(cairn_mono_s() - t0, 1.5);
	close(fd);
}

Test(http, connection_limit_refuses_with_503)
{
	int fds[6], extra;
	struct resp r;

	for (int i = 0; i < 6; i++) {
		fds[i] = tcp_connect(t.port);
		cr_assert(fds[i] >= 0);
	}
	/* let the server accept them all */
	usleep(100000);
	extra = tcp_connect(t.port);
	cr_assert_eq(read_response(extra, 2000, &r), 0);
	cr_assert_eq(r.status, 503);
	cr_assert(strstr(r.body, "too-many-connections"));
	resp_free(&r);
	close(extra);
	for (int i = 0; i < 6; i++)
		close(fds[i]);
	usleep(100000);
	assert_alive();
}

Test(http, expect_100_continue_is_honoured)
{
	int fd = tcp_connect(t.port);
	char req[512];
	static const char body[] = "{\"role\":\"policy\"}";
	struct resp r;
	int n = snprintf(req, sizeof(req),
	                 "POST /v1/tokens HTTP/1.1\r\nHost: x\r\n"
	                 "Authorization: Bearer %s\r\n"
	                 "Content-Type: application/json\r\n"
	                 "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n",
	                 t.token, sizeof(body) - 1);
	char buf[64];
	ssize_t got;

	send_all(fd, req, (size_t)n);
	got = recv(fd, buf, sizeof(buf) - 1, 0);
	cr_assert_gt(got, 0);
	buf[got] = '\0';
	cr_assert(strncmp(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
	send_all(fd, body, sizeof(body) - 1);
	if ((size_t)got > 25) {
		/* the final response came in the same read: not expected */
		cr_assert_fail("final response before the body was sent");
	}
	cr_assert_eq(read_response(fd, 2000, &r), 0);
	cr_assert_eq(r.status, 201);
	resp_free(&r);
	close(fd);
}

Test(http, request_id_is_echoed_or_made)
{
	int fd = tcp_connect(t.port);
	static const char reqs[] = "GET /healthz HTTP/1.1\r\nHost: "
	                           "x\r\nX-Request-Id: abc-123\r\n\r\n"
	                           "GET /healthz HTTP/1.1\r\nHost: "
	                           "x\r\nX-Request-Id: bad id!\r\n\r\n";
	struct resp r;
	char v[64];

	send_all(fd, reqs, sizeof(reqs) - 1);
	cr_assert_eq(read_response(fd, 2000, &r), 0);
	cr_assert_str_eq(resp_header(&r, "X-Request-Id", v, sizeof(v)),
	                 "abc-123");
	resp_free(&r);
	cr_assert_eq(read_response(fd, 2000, &r), 0);
	cr_assert(resp_header(&r, "X-Request-Id", v, sizeof(v)) != NULL);
	cr_assert_str_neq(v, "bad id!");
	resp_free(&r);
	close(fd);
}

Test(http, sigterm_exits_zero_promptly)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(td_stop(&t), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_lt((double)(b.tv_sec - a.tv_sec), 5.0);
}

Test(http, sigterm_with_idle_and_partial_connections_exits_zero)
{
	int idle = tcp_connect(t.port), partial = tcp_connect(t.port);

	send_all(partial, "GET /healthz HTTP/1.1\r\n", 23);
	usleep(50000);
	cr_assert_eq(td_stop(&t), 0);
	cr_assert(wait_closed(idle, 1000));
	close(idle);
	close(partial);
}

static long
daemon_rss_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)t.pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

Test(http, a_client_that_never_reads_its_replies_is_held_to_bounded_memory)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char burst[sizeof(req) * 256];
	int fd = tcp_connect(t.port);
	long sent = 0, before = daemon_rss_kib(), after;
	struct timespec t0, now;

	for (size_t i = 0; i < 256; i++)
		memcpy(burst + i * (sizeof(req) - 1), req, sizeof(req) - 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* pipeline for up to 3 s, never reading; the kernel's buffers and
	 * cairnd's bounded ones fill, and then sending blocks */
	for (;;) {
		ssize_t n = send(fd, burst, 256 * (sizeof(req) - 1),
		                 MSG_NOSIGNAL | MSG_DONTWAIT);

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= 3)
			break;
		if (n > 0)
			sent += n;
		else
			usleep(10000);
	}
	after = daemon_rss_kib();
	cr_assert_gt(sent, 0);
#ifdef __SANITIZE_ADDRESS__
	/* AddressSanitizer keeps freed memory in quarantine (256 MB), so
	 * the resident size says nothing here; make test measures it */
	before = after;
#endif
	cr_assert_lt(after - before, 64 * 1024,
	             "RSS grew from %ld to %ld KiB after %ld bytes sent",
	             before, after, sent);
	close(fd);
	assert_alive();
}
