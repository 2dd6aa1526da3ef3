/*
 * test_alertmail.c: alerts by email through a real SMTP conversation: a
 * small SMTP sink on a loopback port takes what cairnd sends; a counselor
 * who asked for each alert gets each, an office that asked for a digest
 * gets one mail when the (test) clock reaches the digest hour.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct td t;

/* --- the sink -------------------------------------------------------------- */

static struct {
	int lfd, port;
	pthread_t th;
	pthread_mutex_t mu;
	char mail[1 << 16]; /* every envelope and message, appended */
	size_t len;
	int msgs;
	volatile int stop;
} sink = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void
sink_put(const char *s, size_t n)
{
	pthread_mutex_lock(&sink.mu);
	if (sink.len + n < sizeof(sink.mail)) {
		memcpy(sink.mail + sink.len, s, n);
		sink.len += n;
		sink.mail[sink.len] = '\0';
	}
	pthread_mutex_unlock(&sink.mu);
}

static void
say(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) < 0)
		return;
}

/* One SMTP session: lines until QUIT; after DATA, text until ".". */
static void
sink_session(int fd)
{
	char buf[8192];
	size_t len = 0;
	int data = 0;

	say(fd, "220 sink ESMTP\r\n");
	for (;;) {
		char *eol;
		ssize_t n;

		while ((eol = data ? strstr(buf, "\r\n.\r\n")
		                   : strstr(buf, "\r\n")) == NULL) {
			struct pollfd p = {fd, POLLIN, 0};

			if (len + 1 >= sizeof(buf) || poll(&p, 1, 10000) <= 0 ||
			    (n = read(fd, buf + len, sizeof(buf) - len - 1)) <=
			            0)
				return;
			len += (size_t)n;
			buf[len] = '\0';
		}
		if (data) {
			size_t k = (size_t)(eol - buf) + 5;

			sink_put(buf, k - 3);
			sink_put("\n.\n", 3);
			pthread_mutex_lock(&sink.mu);
			sink.msgs++;
			pthread_mutex_unlock(&sink.mu);
			memmove(buf, buf + k, len - k + 1);
			len -= k;
			data = 0;
			say(fd, "250 queued\r\n");
			continue;
		}
		*eol = '\0';
		if (!strncasecmp(buf, "EHLO", 4) ||
		    !strncasecmp(buf, "HELO", 4))
			say(fd, "250 sink\r\n");
		else if (!strncasecmp(buf, "MAIL FROM:", 10) ||
		         !strncasecmp(buf, "RSET", 4) ||
		         !strncasecmp(buf, "NOOP", 4))
			say(fd, "250 ok\r\n");
		else if (!strncasecmp(buf, "RCPT TO:", 8)) {
			sink_put(buf, strlen(buf));
			sink_put("\n", 1);
			say(fd, "250 ok\r\n");
		} else if (!strncasecmp(buf, "DATA", 4)) {
			say(fd, "354 go on\r\n");
			data = 1;
		} else if (!strncasecmp(buf, "QUIT", 4)) {
			say(fd, "221 bye\r\n");
			return;
		} else {
			say(fd, "502 not here\r\n");
		}
		{
			size_t k = (size_t)(eol - buf) + 2;

			memmove(buf, buf + k, len - k + 1);
			len -= k;
		}
	}
}

static void *
sink_main(void *arg)
{
	while (!sink.stop) {
		struct pollfd p = {sink.lfd, POLLIN, 0};
		int fd;

		if (poll(&p, 1, 100) <= 0)
			continue;
		fd = accept(sink.lfd, NULL, NULL);
		if (fd < 0)
			continue;
		sink_session(fd);
		close(fd);
	}
	return NULL;
}

static void
sink_start(void)
{
	struct sockaddr_in a = {0};
	socklen_t al = sizeof(a);
	int one = 1;

	sink.lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(sink.lfd >= 0);
	setsockopt(sink.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(sink.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(sink.lfd, 8), 0);
	getsockname(sink.lfd, (struct sockaddr *)&a, &al);
	sink.port = ntohs(a.sin_port);
	pthread_create(&sink.th, NULL, sink_main, NULL);
}

/* Waits until the sink holds want messages; a copy of everything. */
static int
sink_wait(int want, char *out, size_t len)
{
	for (int i = 0; i < 600; i++) {
		int n;

		pthread_mutex_lock(&sink.mu);
		n = sink.msgs;
		snprintf(out, len, "%s", sink.mail);
		pthread_mutex_unlock(&sink.mu);
		if (n >= want)
			return n;
		usleep(25000);
	}
	return -1;
}

/* --- the daemon ------------------------------------------------------------ */

static const char docs_wf[] =
        "name: docs\n"
        "description: a file waiting for a student's documents\n"
        "statuses:\n"
        "  waiting:\n"
        "    initial: true\n"
        "    on_enter:\n"
        "      - alert: {kind: docs_missing, to: counselor, message: "
        "Documents are missing.}\n"
        "      - alert: {kind: office_check, to: office, message: Check "
        "the file.}\n"
        "  done: {terminal: true}\n"
        "transitions:\n"
        "  - on: finish\n"
        "    from: waiting\n"
        "    to: done\n"
        "    roles: [aid_officer]\n";

static void
setup(void)
{
	char yaml[300];

	sink_start();
	snprintf(yaml, sizeof(yaml),
	         "queues:\n"
	         "  smtp_url: smtp://127.0.0.1:%d\n"
	         "  mail_from: cairn@test.example\n"
	         "  mail_poll: 100ms\n",
	         sink.port);
	td_start(&t, yaml);
	td_write_workflow(&t, "docs", docs_wf);
	cr_assert_eq(td_stop(&t), 0);
	td_restart_args(&t, "--test-clock");
}

static void
teardown(void)
{
	td_cleanup(&t);
	sink.stop = 1;
	pthread_join(sink.th, NULL);
	close(sink.lfd);
}

TestSuite(alertmail, .init = setup, .fini = teardown, .timeout = 60);

#define call_json(m, p, tok, b, want) td_call(&t, m, p, tok, b, NULL, want)

Test(alertmail, each_alert_or_a_daily_digest)
{
	const char *office = td_token(&t, "aid_officer", "fresno");
	const char *c1 = td_token(&t, "counselor", "C1");
	const char *c2 = td_token(&t, "counselor", "C2");
	char mail[1 << 16];
	json_t *j;

	json_decref(call_json("PUT", "/v1/counselors/C1/students", t.token,
	                      "{\"students\":[\"S1\"]}", 200));
	/* a counselor sets their own address, and no one else's */
	json_decref(call_json("PUT", "/v1/recipients/counselor:C1", c1,
	                      "{\"email\":\"c1@school.example\"}", 200));
	json_decref(call_json("PUT", "/v1/recipients/counselor:C1", c2,
	                      "{\"email\":\"evil@example.com\"}", 404));
	json_decref(call_json("PUT", "/v1/recipients/counselor:C2", c2,
	                      "{\"email\":\"not an address\"}", 422));
	json_decref(call_json("PUT", "/v1/recipients/nobody:x", t.token,
	                      "{\"email\":\"x@example.com\"}", 422));
	json_decref(call_json("PUT", "/v1/recipients/office:fresno", office,
	                      "{\"email\":\"aid@fresno.example\","
	                      "\"digest\":true}",
	                      200));
	j = call_json("GET", "/v1/recipients/counselor:C1", c1, NULL, 200);
	cr_assert_str_eq(json_string_value(json_object_get(j, "email")),
	                 "c1@school.example");
	json_decref(j);

	json_decref(call_json("POST", "/v1/cases", office,
	                      "{\"workflow\":\"docs\",\"subject\":\"S1\"}",
	                      201));
	/* the counselor's alert comes at once; the office's waits */
	cr_assert_eq(sink_wait(1, mail, sizeof(mail)), 1, "%s", mail);
	cr_assert(strstr(mail, "<c1@school.example>") != NULL, "%s", mail);
	cr_assert(strstr(mail, "Documents are missing.") != NULL, "%s", mail);
	cr_assert(strstr(mail, "Subject: [Cairn] warning: docs_missing") !=
	                  NULL,
	          "%s", mail);
	cr_assert(strstr(mail, "fresno.example") == NULL, "%s", mail);
	usleep(500000); /* a few polls: nothing is sent twice */
	cr_assert_eq(sink_wait(1, mail, sizeof(mail)), 1);

	/* a day later the office's digest goes out, once */
	json_decref(call_json("POST", "/v1/clock", t.token,
	                      "{\"advance\":\"1d\"}", 200));
	cr_assert_eq(sink_wait(2, mail, sizeof(mail)), 2, "%s", mail);
	cr_assert(strstr(mail, "<aid@fresno.example>") != NULL, "%s", mail);
	cr_assert(strstr(mail, "daily digest: 1 open alert") != NULL, "%s",
	          mail);
	cr_assert(strstr(mail, "Check the file.") != NULL, "%s", mail);
	usleep(500000);
	cr_assert_eq(sink_wait(2, mail, sizeof(mail)), 2);
}
