/*
 * harness.c: starts and stops real cairnd processes and speaks raw HTTP to
 * them. Every daemon runs in its own mkdtemp directory on a port the kernel
 * picked, so tests run side by side.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CAIRN_BUILD_DIR
#define CAIRN_BUILD_DIR "build"
#endif

const char *
td_bin(const char *name)
{
	static char path[4][512];
	static int next;
	const char *dir = getenv("CAIRN_BUILD_DIR");
	char *p = path[next++ % 4];

	snprintf(p, 512, "%s/%s", dir ? dir : CAIRN_BUILD_DIR, name);
	return p;
}

static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0);
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int
healthy(const struct td *t)
{
	struct resp r;
	int ok;

	if (http_do(t, "GET", "/healthz", NULL, NULL, NULL, 0, &r) != 0)
		return 0;
	ok = r.status == 200;
	resp_free(&r);
	return ok;
}

/* 1 when the log, from byte off on, says cairnd listens on t's port: a
 * /healthz answer alone could come from another test's daemon that took
 * the port first. */
static int
listening(const struct td *t, long off)
{
	char out[256];

	return run_cmd(out, sizeof(out),
	               "tail -c +%ld '%s' | grep -q 'listening on "
	               "[^ ]*:%d\\b'",
	               off + 1, t->log, t->port) == 0;
}

static void
spawn(struct td *t, const char *arg)
{
	for (int attempt = 0;; attempt++) {
		struct stat sb;
		long off = stat(t->log, &sb) == 0 ? (long)sb.st_size : 0;
		pid_t pid = fork();
		int i;

		cr_assert(pid >= 0);
		if (pid == 0) {
			int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND,
			              0600);

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execl(td_bin("cairnd"), "cairnd", "-c", t->cfg, arg,
			      (char *)NULL);
			_exit(127);
		}
		t->pid = pid;
		for (i = 0; i < 200; i++) {
			int st;

			if (healthy(t) && listening(t, off))
				return;
			if (waitpid(pid, &st, WNOHANG) == pid) {
				char out[4096];

				t->pid = 0;
				run_cmd(out, sizeof(out), "cat %s", t->log);
				/* the free port was taken meanwhile (tests run
				 * in parallel): another one */
				if (strstr(out, "address already in use") &&
				    attempt < 5) {
					char cmd[128];

					t->port = free_port();
					snprintf(cmd, sizeof(cmd),
					         "127.0.0.1:%d", t->port);
					cr_assert_eq(
					        run_cmd(out, sizeof(out),
					                "sed -i 's/^listen: "
					                ".*/listen: "
					                "%s/' '%s'",
					                cmd, t->cfg),
					        0);
					break;
				}
				cr_assert_fail("cairnd exited at start-up: %s",
				               out);
			}
			sleep_ms(25);
		}
		if (i == 200)
			break;
	}
	cr_assert_fail("cairnd did not answer /healthz within 5 s");
}

void
td_start(struct td *t, const char *extra_yaml)
{
	FILE *f;
	char tok[512];

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/cairn-test-XXXXXX");
	cr_assert(mkdtemp(t->dir) != NULL);
	t->port = free_port();
	snprintf(t->db, sizeof(t->db), "%s/var/cairn.db", t->dir);
	snprintf(t->cfg, sizeof(t->cfg), "%s/cairnd.yaml", t->dir);
	snprintf(t->log, sizeof(t->log), "%s/cairnd.log", t->dir);
	snprintf(tok, sizeof(tok), "%s/defs", t->dir);
	mkdir(tok, 0700);
	snprintf(tok, sizeof(tok), "%s/defs/workflows", t->dir);
	mkdir(tok, 0700);
	f = fopen(t->cfg, "w");
	cr_assert(f != NULL);
	fprintf(f,
	        "listen: 127.0.0.1:%d\n"
	        "database: var/cairn.db\n"
	        "definitions:\n"
	        "  workflows: [defs/workflows]\n"
	        "  rules: []\n"
	        "  adapters: []\n"
	        "  campuses: %s/examples/campuses.yaml\n"
	        "log_level: debug\n"
	        "%s%s",
	        t->port, CAIRN_SOURCE_DIR,
	        /* tests send bursts and bad tokens from one address; the
	         * abuse limits' own tests set theirs */
	        extra_yaml && strstr(extra_yaml, "abuse:")
	                ? ""
	                : "abuse:\n  token_rate: 0\n  address_rate: 0\n"
	                  "  bad_token_free: 1000000\n  bad_token_block: 0\n",
	        extra_yaml ? extra_yaml : "");
	fclose(f);
	spawn(t, NULL);
	snprintf(tok, sizeof(tok), "%s/var/admin.token", t->dir);
	f = fopen(tok, "r");
	cr_assert(f != NULL, "no admin.token beside the database");
	cr_assert(fgets(t->token, sizeof(t->token), f) != NULL);
	fclose(f);
	t->token[strcspn(t->token, "\n")] = '\0';
}

void
td_use_example_rules(struct td *t)
{
	char out[2048];

	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "sed -i 's|rules: \\[\\]|rules: "
	                     "[%s/examples/rules]|' '%s' && grep -q "
	                     "examples/rules '%s'",
	                     CAIRN_SOURCE_DIR, t->cfg, t->cfg),
	             0, "configuring the example rules: %s", out);
}

void
td_write_workflow(const struct td *t, const char *name, const char *text)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/defs/workflows/%s.yaml", t->dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

void
td_start_aid_file(struct td *t)
{
	char out[4096];

	td_start(t, NULL);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "cp '%s'/examples/workflows/aid_file.yaml "
	                     "'%s/defs/workflows/' && mkdir -p '%s/defs/rules' "
	                     "&& cp -r '%s'/examples/rules/cal_grant "
	                     "'%s/defs/rules/' && sed -i 's|rules: \\[\\]|"
	                     "rules: [defs/rules]|' '%s'",
	                     CAIRN_SOURCE_DIR, t->dir, t->dir, CAIRN_SOURCE_DIR,
	                     t->dir, t->cfg),
	             0, "configuring the aid_file example: %s", out);
	cr_assert_eq(td_stop(t), 0);
	td_restart(t);
}

void
td_restart(struct td *t)
{
	spawn(t, NULL);
}

void
td_restart_args(struct td *t, const char *arg)
{
	spawn(t, arg);
}

/* The last lines of the daemon's log, into the test's output. */
static void
td_log_tail(const struct td *t)
{
	char out[4096];

	run_cmd(out, sizeof(out), "tail -5 '%s'", t->log);
	cr_log_warn("cairnd did not stop cleanly; its log ends:\n%s", out);
}

int
td_stop(struct td *t)
{
	int st;

	if (t->pid <= 0)
		return -1;
	kill(t->pid, SIGTERM);
	for (int i = 0; i < 250; i++) {
		if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
			int rc = WIFEXITED(st) ? WEXITSTATUS(st)
			                       : 128 + WTERMSIG(st);

			t->pid = 0;
			if (rc !=
			    0) /* what the daemon said last, for the test log */
				td_log_tail(t);
			return rc;
		}
		sleep_ms(20);
	}
	kill(t->pid, SIGKILL);
	waitpid(t->pid, &st, 0);
	t->pid = 0;
	td_log_tail(t);
	return -1;
}

void
td_cleanup(struct td *t)
{
	char out[256];

	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
		t->pid = 0;
	}
	if (t->dir[0] && strncmp(t->dir, "/tmp/cairn-test-", 16) == 0)
		run_cmd(out, sizeof(out), "rm -rf '%s'", t->dir);
}

void
td_start_on_demo(struct td *t, const char *demo, const char *log_name)
{
	char path[512], line[256];
	FILE *f;

	memset(t, 0, sizeof(*t));
	snprintf(t->cfg, sizeof(t->cfg), "%s/cairnd.yaml", demo);
	snprintf(t->log, sizeof(t->log), "%s/%s", demo, log_name);
	f = fopen(t->cfg, "r");
	cr_assert_not_null(f, "%s", t->cfg);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "listen: 127.0.0.1:%d", &t->port) == 1)
			break;
	fclose(f);
	cr_assert_gt(t->port, 0, "no listen: line in %s", t->cfg);
	snprintf(path, sizeof(path), "%s/admin.token", demo);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	cr_assert_not_null(fgets(t->token, sizeof(t->token), f));
	fclose(f);
	t->token[strcspn(t->token, "\n")] = '\0';
	t->pid = fork();
	cr_assert_geq(t->pid, 0);
	if (t->pid == 0) {
		if (freopen(t->log, "a", stderr) == NULL)
			_exit(126);
		execl(td_bin("cairnd"), "cairnd", "-c", t->cfg, (char *)NULL);
		_exit(127);
	}
	/* a demo database is larger than a test's, and the machine busy */
	for (int i = 0; i < 600; i++) {
		if (healthy(t))
			return;
		if (i % 10 == 0 && waitpid(t->pid, NULL, WNOHANG) == t->pid) {
			t->pid = 0;
			cr_assert_fail(
			        "cairnd exited at start-up on %s (see %s)",
			        demo, t->log);
		}
		sleep_ms(50);
	}
	cr_assert_fail("cairnd did not answer on %s within 30 s", demo);
}

void
td_discard(struct td *t, const char *dir)
{
	char out[512];

	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
		t->pid = 0;
	}
	if (dir[0])
		run_cmd(out, sizeof(out), "rm -rf '%s'", dir);
}

/* --- raw HTTP ---------------------------------------------------------- */

int
tcp_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void
send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the peer may have closed: tests read that */
		data += n;
		len -= (size_t)n;
	}
}

/* Per-fd leftovers, for pipelined responses read one at a time; one set
 * per thread, so tests may run clients on several threads. The buffer
 * grows to hold a whole reply (a demo season's page of 20 aid files is
 * over 128 KiB), up to PEND_MAX; it is on the heap, since static TLS that
 * large would be carved out of every thread the tests start. */
#define PEND_MAX (16u << 20)
static __thread struct {
	int fd;
	char *buf;
	size_t len, cap;
} pend;

static int
fill(int fd, int timeout_ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	ssize_t n;

	if (pend.fd != fd) {
		pend.fd = fd;
		pend.len = 0;
	}
	if (pend.len == pend.cap) {
		size_t cap = pend.cap ? pend.cap * 2 : 128u << 10;
		char *b = cap <= PEND_MAX ? realloc(pend.buf, cap) : NULL;

		if (b == NULL)
			return -1;
		pend.buf = b;
		pend.cap = cap;
	}
	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	n = recv(fd, pend.buf + pend.len, pend.cap - pend.len, 0);
	if (n <= 0)
		return -1;
	pend.len += (size_t)n;
	return 0;
}

int
read_response(int fd, int timeout_ms, struct resp *r)
{
	return read_response_head(fd, timeout_ms, r, 0);
}

/* A reply to HEAD has a Content-Length but no body: head_only skips it. */
int
read_response_head(int fd, int timeout_ms, struct resp *r, int head_only)
{
	char *end;
	size_t hlen, clen = 0;
	char v[64];

	memset(r, 0, sizeof(*r));
	if (pend.fd != fd) {
		pend.fd = fd;
		pend.len = 0;
	}
	for (;;) {
		end = pend.len ? memmem(pend.buf, pend.len, "\r\n\r\n", 4)
		               : NULL;
		if (end != NULL)
			break;
		if (fill(fd, timeout_ms) != 0)
			return -1;
	}
	hlen = (size_t)(end - pend.buf) + 4;
	if (hlen >= sizeof(r->head))
		return -1;
	memcpy(r->head, pend.buf, hlen);
	r->head[hlen] = '\0';
	if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
		return -1;
	if (r->status == 100) {
		memmove(pend.buf, pend.buf + hlen, pend.len - hlen);
		pend.len -= hlen;
		return read_response_head(fd, timeout_ms, r, head_only);
	}
	if (!head_only && resp_header(r, "Content-Length", v, sizeof(v)))
		clen = strtoul(v, NULL, 10);
	while (pend.len < hlen + clen)
		if (fill(fd, timeout_ms) != 0)
			return -1;
	r->body = malloc(clen + 1);
	memcpy(r->body, pend.buf + hlen, clen);
	r->body[clen] = '\0';
	r->body_len = clen;
	memmove(pend.buf, pend.buf + hlen + clen, pend.len - hlen - clen);
	pend.len -= hlen + clen;
	return 0;
}

int
wait_closed(int fd, int timeout_ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	char b[4096];

	for (;;) {
		if (poll(&p, 1, timeout_ms) <= 0)
			return 0;
		ssize_t n = recv(fd, b, sizeof(b), 0);

		if (n <= 0)
			return 1;
	}
}

void
resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

const char *
resp_header(const struct resp *r, const char *name, char *buf, size_t len)
{
	const char *p = strstr(r->head, "\r\n");
	size_t n = strlen(name);

	while (p != NULL && p[2] != '\r') {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			size_t vl;

			while (*v == ' ')
				v++;
			vl = strcspn(v, "\r");
			snprintf(buf, len, "%.*s", (int)vl, v);
			return buf;
		}
		p = strstr(p, "\r\n");
	}
	return NULL;
}

int
http_do(const struct td *t, const char *method, const char *path,
        const char *token, const char *ctype, const char *body, size_t body_len,
        struct resp *r)
{
	return http_do_idem(t, method, path, token, ctype, body, body_len, NULL,
	                    r);
}

int
http_do_idem(const struct td *t, const char *method, const char *path,
             const char *token, const char *ctype, const char *body,
             size_t body_len, const char *idem, struct resp *r)
{
	char head[2048];
	int fd = tcp_connect(t->port), n, rc;

	if (fd < 0)
		return -1;
	n = snprintf(
	        head, sizeof(head),
	        "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
	        "%s%s%s%s%s%s%s%s%s"
	        "Content-Length: %zu\r\n\r\n",
	        method, path, token ? "Authorization: Bearer " : "",
	        token ? token : "", token ? "\r\n" : "",
	        ctype ? "Content-Type: " : "", ctype ? ctype : "",
	        ctype ? "\r\n" : "", idem ? "Idempotency-Key: " : "",
	        idem ? idem : "", idem ? "\r\n" : "", body_len);
	send_all(fd, head, (size_t)n);
	if (body_len)
		send_all(fd, body, body_len);
	rc = read_response_head(fd, 5000, r, strcmp(method, "HEAD") == 0);
	close(fd);
	return rc;
}

json_t *
td_call(const struct td *t, const char *method, const char *path,
        const char *token, const char *body, const char *idem, int want)
{
	struct resp r;
	json_t *j;

	cr_assert_eq(http_do_idem(t, method, path, token,
	                          body ? "application/json" : NULL, body,
	                          body ? strlen(body) : 0, idem, &r),
	             0, "%s %s: no response", method, path);
	cr_assert_eq(r.status, want, "%s %s %s: want %d, got %d %s", method,
	             path, body ? body : "", want, r.status, r.body);
	j = r.body_len ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
	resp_free(&r);
	return j;
}

json_t *
td_case(const struct td *t, const char *id)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	return td_call(t, "GET", path, t->token, NULL, NULL, 200);
}

json_t *
td_history(const struct td *t, const char *id)
{
	char path[160];
	json_t *j, *ev;

	snprintf(path, sizeof(path), "/v1/cases/%s/history", id);
	j = td_call(t, "GET", path, t->token, NULL, NULL, 200);
	ev = json_incref(json_object_get(j, "events"));
	json_decref(j);
	cr_assert(json_is_array(ev), "no events in the history of %s", id);
	return ev;
}

const char *
td_token(const struct td *t, const char *role, const char *scope)
{
	static char tok[16][128];
	static int n;
	char body[256];
	json_t *j;
	char *out = tok[n++ % 16];

	snprintf(body, sizeof(body), "{\"role\":\"%s\"%s%s%s}", role,
	         scope ? ",\"scope\":\"" : "", scope ? scope : "",
	         scope ? "\"" : "");
	j = td_call(t, "POST", "/v1/tokens", t->token, body, NULL, 201);
	snprintf(out, 128, "%s",
	         json_string_value(json_object_get(j, "token")));
	json_decref(j);
	return out;
}

int
run_cmd(char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	FILE *p;
	size_t n = 0;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	while (n + 1 < outlen) {
		size_t k = fread(out + n, 1, outlen - n - 1, p);

		if (k == 0)
			break;
		n += k;
	}
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
