/*
 * test_tls.c: the edge. cairnd behind nginx (Debian's package, run as a
 * child of the test with its own prefix, pid, logs and temp directories,
 * on free ports) with etc/nginx/cairn.conf as shipped, the ports and
 * certificate paths put in; a self-signed certificate made by openssl at
 * test time; curl drives cairnd through it over HTTPS: HTTP/2 with TLS
 * 1.3, TLS 1.2, and TLS 1.0 and 1.1 refused by the server. Then what cairnd
 * does itself: refusing a non-loopback address unless listen_public says
 * TLS is in front, and believing X-Forwarded-For only from a loopback
 * peer.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct td t;
static pid_t nginx_pid;
static int https_port, http_port;
static char out[16384];

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int
have(const char *prog)
{
	char buf[512];

	return run_cmd(buf, sizeof(buf), "command -v %s", prog) == 0;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	cr_assert_not_null(s);
	s[fread(s, 1, (size_t)n, f)] = '\0';
	fclose(f);
	return s;
}

/* Replaces the one occurrence of from in *s (which must be there: the
 * shipped file changed otherwise, and this test with it). */
static void
subst(char **s, const char *from, const char *to)
{
	char *at = strstr(*s, from), *r;
	size_t n;

	cr_assert_not_null(at, "etc/nginx/cairn.conf no longer has '%s'", from);
	n = strlen(*s) - strlen(from) + strlen(to) + 1;
	r = malloc(n);
	cr_assert_not_null(r);
	snprintf(r, n, "%.*s%s%s", (int)(at - *s), *s, to, at + strlen(from));
	free(*s);
	*s = r;
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* 1 once something accepts on 127.0.0.1:port */
static int
accepting(int port)
{
	int fd = tcp_connect(port);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static void
nginx_start(void)
{
	char path[600], buf[1200], *conf;

	/* the certificate: made now, never committed */
	cr_assert_eq(
	        run_cmd(out, sizeof(out),
	                "cd %s && openssl req -x509 -newkey ec "
	                "-pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	                "-keyout tls.key -out tls.pem -days 1 "
	                "-subj /CN=localhost "
	                "-addext subjectAltName=DNS:localhost,IP:127.0.0.1",
	                t.dir),
	        0, "openssl req: %s", out);

	/* the shipped server blocks, pointed at this test's ports and files */
	https_port = free_port();
	http_port = free_port();
	snprintf(path, sizeof(path), "%s/etc/nginx/cairn.conf",
	         CAIRN_SOURCE_DIR);
	conf = slurp(path);
	cr_assert_not_null(conf, "%s: %s", path, strerror(errno));
	snprintf(buf, sizeof(buf), "server 127.0.0.1:%d;", t.port);
	subst(&conf, "server 127.0.0.1:8080;", buf);
	snprintf(buf, sizeof(buf), "listen 127.0.0.1:%d ssl http2;",
	         https_port);
	subst(&conf, "listen 443 ssl http2;", buf);
	subst(&conf, "listen [::]:443 ssl http2;", "");
	snprintf(buf, sizeof(buf), "listen 127.0.0.1:%d;", http_port);
	subst(&conf, "listen 80;", buf);
	subst(&conf, "listen [::]:80;", "");
	snprintf(buf, sizeof(buf), "%s/tls.pem;", t.dir);
	subst(&conf, "/etc/ssl/certs/cairn.pem;", buf);
	snprintf(buf, sizeof(buf), "%s/tls.key;", t.dir);
	subst(&conf, "/etc/ssl/private/cairn.key;", buf);
	snprintf(path, sizeof(path), "%s/cairn.conf", t.dir);
	write_text(path, conf);
	free(conf);

	/* one process, in the foreground, as whoever runs the test; every
	 * file it writes is under the test's directory */
	snprintf(path, sizeof(path), "%s/nginx", t.dir);
	mkdir(path, 0700);
	{
		char main_conf[4096];

		snprintf(main_conf, sizeof(main_conf),
		         "master_process off;\n"
		         "daemon off;\n"
		         "pid %1$s/nginx/nginx.pid;\n"
		         "error_log %1$s/nginx/error.log info;\n"
		         "events { worker_connections 256; }\n"
		         "http {\n"
		         "    access_log %1$s/nginx/access.log;\n"
		         "    client_body_temp_path %1$s/nginx/body;\n"
		         "    proxy_temp_path %1$s/nginx/proxy;\n"
		         "    fastcgi_temp_path %1$s/nginx/fastcgi;\n"
		         "    uwsgi_temp_path %1$s/nginx/uwsgi;\n"
		         "    scgi_temp_path %1$s/nginx/scgi;\n"
		         "    include %1$s/cairn.conf;\n"
		         "}\n",
		         t.dir);
		snprintf(path, sizeof(path), "%s/nginx/nginx.conf", t.dir);
		write_text(path, main_conf);
	}
	nginx_pid = fork();
	cr_assert(nginx_pid >= 0);
	if (nginx_pid == 0) {
		char prefix[600], err[600], log[600];
		int fd;

		snprintf(prefix, sizeof(prefix), "%s/nginx/", t.dir);
		snprintf(err, sizeof(err), "%s/nginx/error.log", t.dir);
		snprintf(log, sizeof(log), "%s/nginx/stderr.log", t.dir);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("nginx", "nginx", "-p", prefix, "-e", err, "-c", path,
		       (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 400; i++) {
		int st;

		if (accepting(https_port))
			return;
		if (waitpid(nginx_pid, &st, WNOHANG) == nginx_pid) {
			nginx_pid = 0;
			run_cmd(out, sizeof(out), "cat %s/nginx/*.log", t.dir);
			cr_assert_fail("nginx exited at start-up: %s", out);
		}
		sleep_ms(25);
	}
	cr_assert_fail("nginx did not accept on %d within 10 s", https_port);
}

static void
nginx_stop(void)
{
	int st;

	if (nginx_pid <= 0)
		return;
	kill(nginx_pid, SIGTERM);
	for (int i = 0; i < 250; i++) {
		if (waitpid(nginx_pid, &st, WNOHANG) == nginx_pid) {
			nginx_pid = 0;
			return;
		}
		sleep_ms(20);
	}
	kill(nginx_pid, SIGKILL);
	waitpid(nginx_pid, &st, 0);
	nginx_pid = 0;
}

static void
teardown(void)
{
	nginx_stop();
	td_cleanup(&t);
}

TestSuite(tls, .fini = teardown, .timeout = 90);

/* curl through nginx; the last line of out is "RESULT status version". */
static int
curl(const char *args, const char *path)
{
	return run_cmd(out, sizeof(out),
	               "curl -sS -v --max-time 20 --cacert %s/tls.pem "
	               "--resolve localhost:%d:127.0.0.1 %s "
	               "-w '\\nRESULT %%{http_code} %%{http_version}\\n' "
	               "'https://localhost:%d%s'",
	               t.dir, https_port, args, https_port, path);
}

/* Waits for cairnd's request log line with this request id. */
static json_t *
log_line(const char *request_id)
{
	for (int i = 0; i < 200; i++) {
		char *log = slurp(t.log), *line, *save = NULL;
		json_t *found = NULL;

		for (line = log ? strtok_r(log, "\n", &save) : NULL;
		     line && !found; line = strtok_r(NULL, "\n", &save)) {
			json_t *j = json_loads(line, 0, NULL);
			const char *rid = json_string_value(
			        json_object_get(j, "request_id"));
			const char *msg =
			        json_string_value(json_object_get(j, "msg"));

			if (rid && msg && !strcmp(rid, request_id) &&
			    !strcmp(msg, "request"))
				found = json_incref(j);
			json_decref(j);
		}
		free(log);
		if (found)
			return found;
		sleep_ms(25);
	}
	cr_assert_fail("no request line for %s in cairnd's log", request_id);
	return NULL;
}

static const char *
client_of(json_t *line)
{
	return json_string_value(json_object_get(line, "client"));
}

/* A test skips, saying why, where nginx or openssl are not installed
 * (scripts/deps.sh installs both, so CI runs it). */
static int
skip_without_tools(void)
{
	if (!have("nginx") || !have("openssl") || !have("curl")) {
		cr_skip_test("nginx, openssl or curl is not installed: run "
		             "scripts/deps.sh as root (apt-get install nginx "
		             "openssl curl) to run the TLS edge test");
		return 1;
	}
	return 0;
}

Test(tls, cairnd_through_nginx_over_https)
{
	char args[1024];
	json_t *line;

	if (skip_without_tools())
		return;
	td_start(&t, NULL);
	nginx_start();

	/* HTTP/2 over TLS 1.3, the certificate verified */
	cr_assert_eq(curl("--http2", "/healthz"), 0, "%s", out);
	cr_assert(strstr(out, "RESULT 200 2") != NULL, "%s", out);
	cr_assert(strstr(out, "SSL connection using TLSv1.3") != NULL, "%s",
	          out);
	cr_assert(strstr(out, "strict-transport-security: max-age=") != NULL,
	          "%s", out);

	/* TLS 1.2 is still accepted, with a forward-secret AEAD suite */
	cr_assert_eq(curl("--http2 --tlsv1.2 --tls-max 1.2", "/healthz"), 0,
	             "%s", out);
	cr_assert(strstr(out, "SSL connection using TLSv1.2 / ECDHE-") != NULL,
	          "%s", out);
	cr_assert(strstr(out, "GCM") != NULL || strstr(out, "CHACHA") != NULL,
	          "%s", out);

	/* a token and a body go through: a POST that creates something */
	snprintf(args, sizeof(args),
	         "--http2 -H 'Authorization: Bearer %s' "
	         "-H 'Content-Type: application/json' "
	         "-d '{\"role\":\"counselor\",\"scope\":\"C-1\"}'",
	         t.token);
	cr_assert_eq(curl(args, "/v1/tokens"), 0, "%s", out);
	cr_assert(strstr(out, "RESULT 201 2") != NULL, "%s", out);
	cr_assert(strstr(out, "\"role\":\"counselor\"") != NULL, "%s", out);

	/* nginx keeps cairnd's body limit: 1 MiB + 1 never reaches it */
	{
		char big[600];
		FILE *f;

		snprintf(big, sizeof(big), "%s/big.json", t.dir);
		f = fopen(big, "w");
		cr_assert_not_null(f);
		for (int i = 0; i < (1 << 20) + 1; i++)
			fputc(' ', f);
		fclose(f);
		snprintf(args, sizeof(args),
		         "--http2 -H 'Authorization: Bearer %s' "
		         "-H 'Content-Type: application/json' "
		         "--data-binary @%s",
		         t.token, big);
		cr_assert_eq(curl(args, "/v1/tokens"), 0, "%s", out);
		cr_assert(strstr(out, "RESULT 413") != NULL, "%s", out);
	}

	/* plain HTTP on the proxy only redirects to HTTPS */
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "curl -sS -o /dev/null -w '%%{http_code} "
	                     "%%{redirect_url}' http://127.0.0.1:%d/healthz",
	                     http_port),
	             0, "%s", out);
	cr_assert(strncmp(out, "301 https://", 12) == 0, "%s", out);

	/* the client's own X-Forwarded-For is replaced by nginx: cairnd
	 * logs the address nginx saw, not what the client claimed */
	cr_assert_eq(curl("--http2 -H 'X-Forwarded-For: 203.0.113.7' "
	                  "-H 'X-Request-Id: tls-spoof-1'",
	                  "/healthz"),
	             0, "%s", out);
	line = log_line("tls-spoof-1");
	cr_assert_str_eq(client_of(line), "127.0.0.1");
	json_decref(line);
}

Test(tls, tls_1_0_and_1_1_are_refused_by_the_server)
{
	const char *versions[] = {"-tls1", "-tls1_1"};

	if (skip_without_tools())
		return;
	td_start(&t, NULL);
	nginx_start();
	for (size_t i = 0; i < 2; i++) {
		/* the client is allowed the old protocol (security level 0),
		 * so a failure is the server's refusal, not the client's */
		int rc = run_cmd(out, sizeof(out),
		                 "openssl s_client -connect 127.0.0.1:%d "
		                 "-servername localhost %s "
		                 "-cipher 'DEFAULT:@SECLEVEL=0' </dev/null",
		                 https_port, versions[i]);

		cr_assert_neq(rc, 0, "%s was accepted: %s", versions[i], out);
		cr_assert(strstr(out, "alert protocol version") != NULL,
		          "%s: not refused by the server: %s", versions[i],
		          out);
	}
	/* and the same client, allowed 1.2, gets in: the refusal above was
	 * about the version alone */
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "openssl s_client -connect 127.0.0.1:%d "
	                     "-servername localhost -tls1_2 "
	                     "-cipher 'DEFAULT:@SECLEVEL=0' </dev/null",
	                     https_port),
	             0, "%s", out);
	cr_assert(strstr(out, "Protocol  : TLSv1.2") != NULL ||
	                  strstr(out, "TLSv1.2") != NULL,
	          "%s", out);
}

/* Rewrites the harness's configuration to listen on host (all
 * interfaces, say) with extra lines after it: everything before the
 * database line is replaced. */
static void
set_listen(const char *host, const char *extra)
{
	char *cfg = slurp(t.cfg), *db, buf[4096];

	cr_assert_not_null(cfg);
	db = strstr(cfg, "database:");
	cr_assert_not_null(db);
	snprintf(buf, sizeof(buf), "listen: '%s:%d'\n%s%s", host, t.port, extra,
	         db);
	write_text(t.cfg, buf);
	free(cfg);
}

Test(tls, a_public_address_needs_tls_in_front_said_explicitly)
{
	td_start(&t, NULL);
	cr_assert_eq(td_stop(&t), 0);

	/* all interfaces, nothing said: refused before anything opens */
	set_listen("0.0.0.0", "");
	cr_assert_eq(run_cmd(out, sizeof(out), "timeout 20 %s -c %s",
	                     td_bin("cairnd"), t.cfg),
	             1, "%s", out);
	cr_assert(strstr(out, "0.0.0.0 is not a loopback address") != NULL,
	          "%s", out);
	cr_assert(strstr(out, "listen_public: behind_tls_proxy") != NULL, "%s",
	          out);
	/* --check says the same, and so does --listen over a loopback file */
	cr_assert_eq(run_cmd(out, sizeof(out), "timeout 20 %s -c %s --check",
	                     td_bin("cairnd"), t.cfg),
	             1, "%s", out);
	cr_assert(strstr(out, "not a loopback address") != NULL, "%s", out);

	/* saying refuse is the same as saying nothing */
	td_cleanup(&t);
	td_start(&t, NULL);
	cr_assert_eq(td_stop(&t), 0);
	set_listen("[::]", "listen_public: refuse\n");
	cr_assert_eq(run_cmd(out, sizeof(out), "timeout 20 %s -c %s",
	                     td_bin("cairnd"), t.cfg),
	             1, "%s", out);
	cr_assert(strstr(out, ":: is not a loopback address") != NULL, "%s",
	          out);

	/* a value that is not a choice is a configuration error at its
	 * line and column */
	td_cleanup(&t);
	td_start(&t, NULL);
	cr_assert_eq(td_stop(&t), 0);
	set_listen("0.0.0.0", "listen_public: yes\n");
	cr_assert_eq(run_cmd(out, sizeof(out), "timeout 20 %s -c %s --check",
	                     td_bin("cairnd"), t.cfg),
	             1, "%s", out);
	cr_assert(strstr(out, "cairnd.yaml:2:16: listen_public: 'yes' is not "
	                      "a choice") != NULL,
	          "%s", out);

	/* loopback by name or by IPv6 needs nothing said */
	td_cleanup(&t);
	td_start(&t, NULL);
	cr_assert_eq(td_stop(&t), 0);
	set_listen("0.0.0.0", "");
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "timeout 20 %s -c %s --check --listen "
	                     "localhost:0",
	                     td_bin("cairnd"), t.cfg),
	             0, "%s", out);
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "timeout 20 %s -c %s --check --listen '[::1]:0'",
	                     td_bin("cairnd"), t.cfg),
	             0, "%s", out);

	/* said explicitly: it starts, and answers */
	set_listen("0.0.0.0", "listen_public: behind_tls_proxy\n");
	td_restart(&t);
	json_decref(td_call(&t, "GET", "/v1/whoami", t.token, NULL, NULL, 200));
}

/* An IPv4 address of this machine that is not loopback, or 0. */
static int
local_address(char *buf, size_t len)
{
	struct ifaddrs *ifs, *i;
	int found = 0;

	if (getifaddrs(&ifs) != 0)
		return 0;
	for (i = ifs; i && !found; i = i->ifa_next) {
		const struct sockaddr_in *a =
		        (const struct sockaddr_in *)i->ifa_addr;

		if (a == NULL || a->sin_family != AF_INET ||
		    (ntohl(a->sin_addr.s_addr) >> 24) == 127)
			continue;
		found = inet_ntop(AF_INET, &a->sin_addr, buf, (socklen_t)len) !=
		        NULL;
	}
	freeifaddrs(ifs);
	return found;
}

/* One GET /healthz from src (NULL: loopback) to dst:port with an
 * X-Forwarded-For header and a request id. */
static void
get_from(const char *src, const char *dst, const char *xff, const char *rid)
{
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "curl -sS --max-time 20 %s%s -o /dev/null "
	                     "-H 'X-Forwarded-For: %s' -H 'X-Request-Id: %s' "
	                     "http://%s:%d/healthz",
	                     src ? "--interface " : "", src ? src : "", xff,
	                     rid, dst, t.port),
	             0, "%s", out);
}

Test(tls, x_forwarded_for_is_believed_only_from_loopback)
{
	char addr[64];
	json_t *line;

	td_start(&t, NULL);
	/* from loopback (the proxy's place): the last entry is the client */
	get_from(NULL, "127.0.0.1", "10.1.2.3, 198.51.100.23", "xff-loop-1");
	line = log_line("xff-loop-1");
	cr_assert_str_eq(client_of(line), "198.51.100.23");
	json_decref(line);
	/* X-Real-IP stands in when there is no X-Forwarded-For */
	cr_assert_eq(run_cmd(out, sizeof(out),
	                     "curl -sS -o /dev/null -H 'X-Real-IP: 192.0.2.77' "
	                     "-H 'X-Request-Id: xff-real-1' "
	                     "http://127.0.0.1:%d/healthz",
	                     t.port),
	             0, "%s", out);
	line = log_line("xff-real-1");
	cr_assert_str_eq(client_of(line), "192.0.2.77");
	json_decref(line);
	/* what is not an address is not logged as one */
	get_from(NULL, "127.0.0.1", "\\\"><script>", "xff-junk-1");
	line = log_line("xff-junk-1");
	cr_assert_str_eq(client_of(line), "127.0.0.1");
	json_decref(line);

	if (!local_address(addr, sizeof(addr))) {
		cr_log_warn("no non-loopback IPv4 address on this machine: "
		            "the remote-peer half of this test did not run");
		return;
	}
	/* from another address: the header is the client's own claim and
	 * the socket's peer is logged instead */
	cr_assert_eq(td_stop(&t), 0);
	set_listen("0.0.0.0", "listen_public: behind_tls_proxy\n");
	td_restart(&t);
	get_from(addr, addr, "198.51.100.99", "xff-remote-1");
	line = log_line("xff-remote-1");
	cr_assert_str_eq(client_of(line), addr);
	json_decref(line);
}
