/*
 * outbound.c: outbound calls per second from cairnd's outbox to the local
 * mock institution, over keep-alive.
 *
 *   build/bench/outbound BUILD_DIR [-n CALLS] [-c CONCURRENCY]
 *
 * In a fresh temporary directory it starts build/cairn-mock-institution,
 * queues CALLS outbox rows (as CALLS transitions would have) straight into
 * a new database through the store's API, starts build/cairnd on it with
 * one adapter whose concurrency is CONCURRENCY, and watches the mock until
 * every call has arrived and cairnd has recorded every one as delivered.
 * It prints one line of key=value pairs:
 *
 *   calls=N sent_per_s=R delivered_per_s=D sent_s=.. delivered_s=..
 *   mock_connections=C duplicates=K cairnd_hwm_kb=H
 *
 * sent_per_s counts from the first call the mock saw to the last;
 * delivered_per_s from cairnd's start to the last "delivered" commit.
 * mock_connections is how many connections the mock has open at the end:
 * about CONCURRENCY when connections are reused; cairnd_hwm_kb is
 * cairnd's peak resident set (VmHWM) once every call is recorded. Exit
 * status 0, or 1 when a call is missing, doubled or the run times out.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../store/store.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static size_t
grab(char *p, size_t size, size_t n, void *arg)
{
	char *buf = arg;
	size_t have = strlen(buf), len = size * n;

	if (have + len < 65536) {
		memcpy(buf + have, p, len);
		buf[have + len] = '\0';
	}
	return len;
}

/* GET url as JSON (NULL when it fails). */
static json_t *
get_json(const char *url, const char *token)
{
	static char buf[65536];
	struct curl_slist *h = NULL;
	char auth[256];
	CURL *e = curl_easy_init();
	json_t *j = NULL;

	buf[0] = '\0';
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, grab);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, buf);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	if (curl_easy_perform(e) == CURLE_OK)
		j = json_loads(buf, 0, NULL);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	return j;
}

/* VmHWM of process pid in KiB (its peak resident set), or -1. */
static long
peak_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static pid_t
spawn(const char *log, char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int
read_int_file(const char *path, int tries)
{
	for (int i = 0; i < tries; i++) {
		FILE *f = fopen(path, "r");
		int v;

		if (f && fscanf(f, "%d", &v) == 1) {
			fclose(f);
			return v;
		}
		if (f)
			fclose(f);
		msleep(20);
	}
	return -1;
}

int
main(int argc, char **argv)
{
	const char *build;
	int n = 50000, conc = 64, mport, dport, rc = 1;
	char dir[] = "/tmp/cairn-outbound-XXXXXX", path[4][1024], url[256];
	char bin[2][1024], portarg[16], token[128] = "";
	pid_t mock = 0, cairnd = 0;
	double t0, first = 0, sent_at = 0, done_at = 0;
	json_int_t dups = 0, conns = 0;
	FILE *f;

	if (argc < 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: outbound ABSOLUTE_BUILD_DIR [-n CALLS] "
		                "[-c CONCURRENCY]\n");
		return 2;
	}
	build = argv[1];
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-n"))
			n = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-c"))
			conc = atoi(argv[i + 1]);
	}
	if (n < 1 || conc < 1 || conc > 1024 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "outbound: bad arguments\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGPIPE, SIG_IGN);
	snprintf(bin[0], sizeof(bin[0]), "%s/cairn-mock-institution", build);
	snprintf(bin[1], sizeof(bin[1]), "%s/cairnd", build);
	snprintf(path[0], sizeof(path[0]), "%s/mock.port", dir);
	snprintf(path[1], sizeof(path[1]), "%s/mock.log", dir);
	{
		char *av[] = {bin[0],        "--port", "0",
		              "--port-file", path[0],  NULL};

		mock = spawn(path[1], av);
	}
	mport = read_int_file(path[0], 250);
	if (mport <= 0) {
		fprintf(stderr, "outbound: the mock did not start\n");
		goto out;
	}

	/* the daemon's port: one the kernel hands out, released at once */
	{
		struct sockaddr_in a = {.sin_family = AF_INET};
		socklen_t alen = sizeof(a);
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
			fprintf(stderr, "outbound: no free port\n");
			goto out;
		}
		dport = ntohs(a.sin_port);
		close(fd);
	}
	snprintf(path[2], sizeof(path[2]), "%s/adapters", dir);
	mkdir(path[2], 0700);
	snprintf(path[2], sizeof(path[2]), "%s/workflows", dir);
	mkdir(path[2], 0700);
	snprintf(path[2], sizeof(path[2]), "%s/adapters/inst.yaml", dir);
	f = fopen(path[2], "w");
	fprintf(f,
	        "name: inst\nbase_url: http://127.0.0.1:%d/bench\n"
	        "concurrency: %d\n"
	        "operations:\n  bulk:\n    method: POST\n"
	        "    path: /calls/${case_id}\n    body: $payload\n",
	        mport, conc);
	fclose(f);
	snprintf(path[3], sizeof(path[3]), "%s/cairnd.yaml", dir);
	f = fopen(path[3], "w");
	fprintf(f,
	        "listen: 127.0.0.1:%d\ndatabase: var/cairn.db\n"
	        "definitions: {workflows: [workflows], rules: [], adapters: "
	        "[adapters]}\nlog_level: warn\n",
	        dport);
	fclose(f);

	/* the rows, as transitions would have written them */
	{
		uv_loop_t loop;
		struct store *s;
		struct store_opts o = {0};
		struct cairn_err e;
		struct store_batch *b = store_batch_new();
		char db[1100], id[64], key[96], payload[64];

		snprintf(db, sizeof(db), "%s/var", dir);
		mkdir(db, 0700);
		snprintf(db, sizeof(db), "%s/var/cairn.db", dir);
		o.path = db;
		uv_loop_init(&loop);
		if (store_open(&loop, &o, &s, &e) != 0) {
			fprintf(stderr, "outbound: %s\n", e.msg);
			goto out;
		}
		for (int i = 0; i < n; i++) {
			snprintf(id, sizeof(id), "case-%08d", i);
			snprintf(key, sizeof(key), "%s:1:0:inst.bulk", id);
			snprintf(payload, sizeof(payload), "{\"n\":%d}", i);
			store_batch_outbox_add(b, id, "inst", "bulk", key,
			                       payload, 1);
		}
		if (store_batch_commit_sync(s, b, NULL, 0) != 0) {
			fprintf(stderr, "outbound: cannot queue the rows\n");
			goto out;
		}
		store_close(s);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
	}

	snprintf(portarg, sizeof(portarg), "%d", dport);
	{
		char log[1100];
		char *av[] = {bin[1],          "-c",  path[3],
		              "--rate-limits", "off", NULL};

		snprintf(log, sizeof(log), "%s/cairnd.log", dir);
		t0 = now_s();
		cairnd = spawn(log, av);
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_mock/stats", mport);
	for (;;) {
		json_t *j = get_json(url, NULL);
		json_int_t u = json_integer_value(json_object_get(j, "unique"));

		dups = json_integer_value(json_object_get(j, "duplicates"));
		conns = json_integer_value(json_object_get(j, "connections"));
		json_decref(j);
		if (u > 0 && first == 0)
			first = now_s();
		if (u >= n) {
			sent_at = now_s();
			break;
		}
		if (now_s() - t0 > 300) {
			fprintf(stderr, "outbound: %lld of %d after 300 s\n",
			        (long long)u, n);
			goto out;
		}
		msleep(5);
	}
	snprintf(path[0], sizeof(path[0]), "%s/var/admin.token", dir);
	f = fopen(path[0], "r");
	if (f == NULL || fgets(token, sizeof(token), f) == NULL) {
		fprintf(stderr, "outbound: no admin token\n");
		goto out;
	}
	fclose(f);
	token[strcspn(token, "\n")] = '\0';
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/adapters", dport);
	for (;;) {
		json_t *j = get_json(url, token);
		json_t *a = json_array_get(json_object_get(j, "adapters"), 0);
		json_int_t d = json_integer_value(
		        json_object_get(a, "delivered_total"));

		json_decref(j);
		if (d >= n) {
			done_at = now_s();
			break;
		}
		if (now_s() - t0 > 300) {
			fprintf(stderr, "outbound: %lld recorded of %d\n",
			        (long long)d, n);
			goto out;
		}
		msleep(5);
	}
	printf("calls=%d sent_per_s=%.0f delivered_per_s=%.0f sent_s=%.3f "
	       "delivered_s=%.3f mock_connections=%lld duplicates=%lld "
	       "cairnd_hwm_kb=%ld\n",
	       n, n / (sent_at - first), n / (done_at - t0), sent_at - first,
	       done_at - t0, (long long)conns, (long long)dups,
	       peak_rss_kb(cairnd));
	rc = dups == 0 ? 0 : 1;
out:
	if (cairnd > 0) {
		kill(cairnd, SIGTERM);
		waitpid(cairnd, NULL, 0);
	}
	if (mock > 0) {
		kill(mock, SIGTERM);
		waitpid(mock, NULL, 0);
	}
	{
		char cmd[1200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "outbound: could not remove %s\n", dir);
	}
	curl_global_cleanup();
	return rc;
}
