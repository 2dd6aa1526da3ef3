/*
 * test_abuse.c: the abuse limits (issue 7, item 6) over HTTP against a
 * real cairnd: a token's burst runs out into 429 with Retry-After while
 * another token goes on, the bucket refills; an address's burst likewise,
 * the probes exempt, another address unaffected (the address a TLS proxy
 * forwards, believed only when the configuration says a proxy is in
 * front); bad tokens from one address slow its 401s down without holding
 * the loop, then get 429, and another address is not touched.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../daemon/abuse.h"
#include "harness.h"

static struct td t;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Sends GET path with token (may be NULL) and X-Forwarded-For xff (may be
 * NULL) on a new connection; returns the connection, the reply unread. */
static int
send_get(const char *path, const char *token, const char *xff)
{
	char req[1024];
	int fd = tcp_connect(t.port), n;

	cr_assert_geq(fd, 0, "cannot connect");
	n = snprintf(req, sizeof(req),
	             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
	             "close\r\n%s%s%s%s%s%s\r\n",
	             path, token ? "Authorization: Bearer " : "",
	             token ? token : "", token ? "\r\n" : "",
	             xff ? "X-Forwarded-For: " : "", xff ? xff : "",
	             xff ? "\r\n" : "");
	send_all(fd, req, (size_t)n);
	return fd;
}

/* GET path; the status, and Retry-After's value in *retry (or -1). */
static int
get(const char *path, const char *token, const char *xff, int *retry)
{
	struct resp r;
	char buf[32];
	int fd = send_get(path, token, xff), status;

	cr_assert_eq(read_response(fd, 30000, &r), 0, "GET %s: no reply", path);
	close(fd);
	status = r.status;
	if (retry != NULL)
		*retry = resp_header(&r, "Retry-After", buf, sizeof(buf))
		                 ? atoi(buf)
		                 : -1;
	if (status == 429) {
		cr_assert(strstr(r.head, "application/problem+json") != NULL,
		          "a 429 is problem+json: %s", r.head);
		cr_assert(strstr(r.body, "problem:rate-limited") != NULL, "%s",
		          r.body);
	}
	resp_free(&r);
	return status;
}

static int
log_has(const struct td *d, const char *what)
{
	char out[256];

	return run_cmd(out, sizeof(out), "grep -q '%s' '%s'", what, d->log) ==
	       0;
}

static void
fini(void)
{
	td_cleanup(&t);
}

Test(abuse, a_token_runs_out_another_goes_on_and_it_refills, .fini = fini,
     .timeout = 120)
{
	const char *a, *b;
	int retry = 0, i, status = 0;
	int64_t until;

	/* a slow refill: the burst cannot refill within the test's loop
	 * even on a loaded machine */
	td_start(&t, "abuse:\n  token_rate: 1\n  token_burst: 5\n"
	             "  address_rate: 0\n");
	a = td_token(&t, "counselor", "C1");
	b = td_token(&t, "counselor", "C2");
	for (i = 0; i < 5; i++)
		cr_assert_eq(get("/v1/whoami", a, NULL, NULL), 200,
		             "request %d of the burst", i + 1);
	/* the burst is spent: 429 until the bucket refills, saying when;
	 * a refill of one may have come meanwhile on a slow machine */
	for (i = 0; i < 3 && status != 429; i++)
		status = get("/v1/whoami", a, NULL, &retry);
	cr_assert_eq(status, 429);
	cr_assert_geq(retry, 1);
	cr_assert_leq(retry, 2);
	/* another token is not touched by the first's use */
	cr_assert_eq(get("/v1/whoami", b, NULL, NULL), 200);
	/* the probes never count */
	cr_assert_eq(get("/healthz", a, NULL, NULL), 200);
	/* it refills, at 1 a second */
	until = now_ms() + 30000;
	while ((status = get("/v1/whoami", a, NULL, NULL)) == 429 &&
	       now_ms() < until)
		sleep_ms(200);
	cr_assert_eq(status, 200, "the bucket did not refill");
	cr_assert_eq(td_stop(&t), 0);
}

Test(abuse, an_address_runs_out_the_probes_and_other_addresses_do_not,
     .fini = fini, .timeout = 120)
{
	int retry = 0, status = 0, i;
	int64_t until;

	/* behind a TLS proxy (here: requests from loopback naming the
	 * client in X-Forwarded-For, as etc/nginx/cairn.conf does) */
	td_start(&t, "listen_public: behind_tls_proxy\n"
	             "abuse:\n  address_rate: 1\n  address_burst: 8\n"
	             "  token_rate: 0\n");
	for (i = 0; i < 8; i++)
		cr_assert_eq(get("/v1/whoami", t.token, "10.0.0.1", NULL), 200,
		             "request %d of the burst", i + 1);
	for (i = 0; i < 3 && status != 429; i++)
		status = get("/v1/whoami", t.token, "10.0.0.1", &retry);
	cr_assert_eq(status, 429);
	cr_assert_geq(retry, 1);
	/* a path that matches no route counts too, and is refused first */
	cr_assert_eq(get("/nope", NULL, "10.0.0.1", NULL), 429);
	/* the probes are exempt */
	cr_assert_eq(get("/healthz", NULL, "10.0.0.1", NULL), 200);
	cr_assert_eq(get("/readyz", NULL, "10.0.0.1", NULL), 200);
	/* another client behind the proxy is not, and the same token from
	 * there works: it is the address that ran out */
	cr_assert_eq(get("/v1/whoami", t.token, "10.0.0.2", NULL), 200);
	until = now_ms() + 30000;
	while ((status = get("/v1/whoami", t.token, "10.0.0.1", NULL)) == 429 &&
	       now_ms() < until)
		sleep_ms(200);
	cr_assert_eq(status, 200, "the address's bucket did not refill");
	cr_assert_eq(td_stop(&t), 0);
}

Test(abuse, forwarded_addresses_are_not_believed_without_a_proxy, .fini = fini,
     .timeout = 120)
{
	int status = 0, i;

	/* no proxy said to be in front: X-Forwarded-For is the client's
	 * word, and a new value each time must not buy a new bucket */
	td_start(&t, "abuse:\n  address_rate: 1\n  address_burst: 6\n");
	for (i = 0; i < 6; i++)
		cr_assert_eq(get("/v1/whoami", t.token,
		                 i % 2 ? "10.9.9.1" : "10.9.9.2", NULL),
		             200);
	for (i = 0; i < 3 && status != 429; i++)
		status = get("/v1/whoami", t.token, "10.9.9.3", NULL);
	cr_assert_eq(status, 429);
}

Test(abuse, bad_tokens_slow_an_address_down_then_get_429, .fini = fini,
     .timeout = 180)
{
	static const char bad[] = "cairn_"
	                          "00000000000000000000000000000000"
	                          "00000000000000000000000000000000";
	const char *good;
	int retry = 0, status, fd, probe;
	int64_t t0, took;
	struct resp r;

	td_start(&t, "listen_public: behind_tls_proxy\n"
	             "abuse:\n  bad_token_free: 2\n  bad_token_delay: 400ms\n"
	             "  bad_token_max_delay: 1600ms\n  bad_token_block: 6\n"
	             "  bad_token_forgive: 10m\n");
	good = td_token(&t, "student", "S1");
	/* the first two bad tokens are answered at once */
	for (int i = 0; i < 2; i++)
		cr_assert_eq(get("/v1/whoami", bad, "10.1.1.1", NULL), 401);
	/* the third is held 400 ms, the fourth 800 ms */
	t0 = now_ms();
	cr_assert_eq(get("/v1/whoami", bad, "10.1.1.1", NULL), 401);
	took = now_ms() - t0;
	cr_assert_geq(took, 350, "the third bad token took %lld ms",
	              (long long)took);
	t0 = now_ms();
	cr_assert_eq(get("/v1/whoami", bad, "10.1.1.1", NULL), 401);
	took = now_ms() - t0;
	cr_assert_geq(took, 750, "the fourth bad token took %lld ms",
	              (long long)took);
	/* a malformed header from there counts as a bad token too; while
	 * its reply is held (1.6 s), the loop answers others */
	fd = send_get("/v1/whoami", "not-a-token", "10.1.1.1");
	t0 = now_ms();
	probe = get("/v1/whoami", good, "10.1.1.2", NULL);
	cr_assert_eq(probe, 200);
	cr_assert_eq(read_response(fd, 30000, &r), 0);
	close(fd);
	cr_assert_eq(r.status, 401);
	resp_free(&r);
	cr_assert_geq(now_ms() - t0, 1500, "the fifth was not held back");
	/* the sixth fills the count: from then on, 429 even with a good
	 * token, until failures are forgiven (one per 10 minutes) */
	cr_assert_eq(get("/v1/whoami", bad, "10.1.1.1", NULL), 401);
	status = get("/v1/whoami", good, "10.1.1.1", &retry);
	cr_assert_eq(status, 429);
	cr_assert_geq(retry, 500, "Retry-After %d", retry);
	/* the probes still answer there, and another address is fine */
	cr_assert_eq(get("/healthz", NULL, "10.1.1.1", NULL), 200);
	cr_assert_eq(get("/v1/whoami", good, "10.1.1.3", NULL), 200);
	/* a request with no token at all is not a guess: it is not
	 * counted (from a fresh address, answered at once, as often as
	 * asked) */
	for (int i = 0; i < 10; i++)
		cr_assert_eq(get("/v1/whoami", NULL, "10.1.1.4", NULL), 401);
	cr_assert_eq(get("/v1/whoami", good, "10.1.1.4", NULL), 200);
	cr_assert_eq(td_stop(&t), 0);
}

Test(abuse, a_stop_does_not_wait_for_held_replies, .fini = fini, .timeout = 120)
{
	static const char bad[] = "cairn_"
	                          "11111111111111111111111111111111"
	                          "11111111111111111111111111111111";
	int fd;
	struct resp r;
	int64_t t0, until;

	td_start(&t, "abuse:\n  bad_token_free: 0\n  bad_token_delay: 60s\n"
	             "  bad_token_max_delay: 60s\n");
	fd = send_get("/v1/whoami", bad, NULL);
	/* the request reached cairnd, which holds its reply, before the
	 * stop */
	until = now_ms() + 30000;
	while (!log_has(&t, "its 401 is held back") && now_ms() < until)
		sleep_ms(50);
	cr_assert(log_has(&t, "its 401 is held back"));
	t0 = now_ms();
	cr_assert_eq(td_stop(&t), 0);
	cr_assert_lt(now_ms() - t0, 30000);
	cr_assert_eq(read_response(fd, 5000, &r), 0,
	             "the held reply was not sent at the stop");
	cr_assert_eq(r.status, 401);
	resp_free(&r);
	close(fd);
}

/* --- the limiter itself, on a clock the test holds ------------------------ */

Test(abuse_unit, buckets_refill_at_their_rate_and_keys_are_apart)
{
	struct abuse_limits l;
	struct abuse *a;

	config_abuse_defaults(&l);
	l.token_rate = 2;
	l.token_burst = 3;
	a = abuse_new(&l);
	cr_assert_not_null(a);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(abuse_take(a, ABUSE_TOKEN, "tok_a", 1000), 0);
	cr_assert_eq(abuse_take(a, ABUSE_TOKEN, "tok_a", 1000), 1);
	cr_assert_eq(abuse_take(a, ABUSE_TOKEN, "tok_b", 1000), 0);
	/* half a second brings one back at 2 a second, not two */
	cr_assert_eq(abuse_take(a, ABUSE_TOKEN, "tok_a", 1500), 0);
	cr_assert_eq(abuse_take(a, ABUSE_TOKEN, "tok_a", 1500), 1);
	/* a long rest refills to the burst, no further */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(abuse_take(a, ABUSE_TOKEN, "tok_a", 100000), 0);
	cr_assert_eq(abuse_take(a, ABUSE_TOKEN, "tok_a", 100000), 1);
	/* a token id and an address of the same text are different keys */
	cr_assert_eq(abuse_take(a, ABUSE_ADDRESS, "tok_a", 100000), 0);
	abuse_free(a);
}

Test(abuse_unit, a_rate_of_zero_never_limits_and_many_keys_fit)
{
	struct abuse_limits l;
	struct abuse *a;
	char key[32];
	int limited = 0;

	config_abuse_defaults(&l);
	l.token_rate = 0;
	l.address_rate = 1;
	l.address_burst = 1;
	a = abuse_new(&l);
	for (int i = 0; i < 10000; i++)
		cr_assert_eq(abuse_take(a, ABUSE_TOKEN, "tok_a", 0), 0);
	/* 5000 addresses at once: each has its own bucket (the table
	 * holds 8192), so none is limited by another's use */
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "10.0.%d.%d", i / 250, i % 250);
		limited += abuse_take(a, ABUSE_ADDRESS, key, 0) != 0;
	}
	cr_assert_leq(limited, 50, "%d of 5000 fresh addresses limited",
	              limited);
	abuse_free(a);
}

Test(abuse_unit, bad_tokens_delay_doubles_caps_blocks_and_is_forgiven)
{
	struct abuse_limits l;
	struct abuse *a;

	config_abuse_defaults(&l);
	l.bad_token_free = 2;
	l.bad_token_delay_ms = 100;
	l.bad_token_max_delay_ms = 500;
	l.bad_token_block = 6;
	l.bad_token_forgive_ms = 1000;
	a = abuse_new(&l);
	cr_assert_eq(abuse_bad_token(a, "10.0.0.1", 0), 0);
	cr_assert_eq(abuse_bad_token(a, "10.0.0.1", 0), 0);
	cr_assert_eq(abuse_bad_token(a, "10.0.0.1", 0), 100);
	cr_assert_eq(abuse_bad_token(a, "10.0.0.1", 0), 200);
	cr_assert_eq(abuse_bad_token(a, "10.0.0.1", 0), 400);
	cr_assert_eq(abuse_blocked(a, "10.0.0.1", 0), 0);
	cr_assert_eq(abuse_bad_token(a, "10.0.0.1", 0), 500);
	cr_assert_eq(abuse_blocked(a, "10.0.0.1", 0), 1);
	cr_assert_eq(abuse_blocked(a, "10.0.0.2", 0), 0);
	/* one failure forgiven a second: unblocked after one */
	cr_assert_eq(abuse_blocked(a, "10.0.0.1", 1100), 0);
	abuse_free(a);
}

Test(abuse_unit, the_configuration_block_is_checked)
{
	static const char *const bad[] = {
	        "abuse:\n  token_rate: -1\n",
	        "abuse:\n  token_rate: lots\n",
	        "abuse:\n  token_burst: 0\n",
	        "abuse:\n  bad_token_delay: 5\n",
	        "abuse:\n  bad_token_max_delay: 2m\n",
	        "abuse:\n  nope: 1\n",
	        "abuse: 5\n",
	};
	char path[] = "/tmp/cairn-abuse-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	close(fd);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config c;
		struct cairn_err e = {0};
		FILE *f = fopen(path, "w");

		fputs(bad[i], f);
		fclose(f);
		config_defaults(&c);
		cr_assert_neq(config_load(&c, path, &e), 0, "%s", bad[i]);
		cr_assert_eq(c.abuse.token_rate, 100, "applied in part");
		cr_assert_gt(e.line, 0, "%s: %s", bad[i], e.msg);
	}
	{
		struct config c;
		struct cairn_err e = {0};
		FILE *f = fopen(path, "w");

		fputs("abuse:\n  token_rate: 7\n  bad_token_forgive: 1m\n", f);
		fclose(f);
		config_defaults(&c);
		cr_assert_eq(config_load(&c, path, &e), 0, "%s", e.msg);
		cr_assert_eq(c.abuse.token_rate, 7);
		cr_assert_eq(c.abuse.bad_token_forgive_ms, 60000);
		cr_assert_eq(c.abuse.address_rate, 300);
	}
	unlink(path);
}
