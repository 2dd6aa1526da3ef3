/*
 * stream.c: what live updates cost. Opens S streams (GET /v1/stream, as
 * admin tokens, 8 a token), then creates N cases one after another and
 * times, for each, from the moment the create is sent to the moment the
 * last of the S streams has its event (fan-out latency), and the create's
 * own round trip. The same N creates with no stream open first give the
 * command path's cost without any listener, for comparison.
 *
 *   build/bench/stream URL TOKEN_FILE [-s STREAMS] [-n CREATES] [-m MODE]
 *
 * With -p PID (cairnd's), the CPU time cairnd spent per create is printed
 * too, with and without the streams (cpu_us_per_create_nostream,
 * cpu_us_per_create): on a shared machine that is steadier than any wall
 * clock figure.
 *
 * MODE admin (the default): every stream is an admin's and sees every
 * case, the worst case of the fan-out. MODE student: each stream is
 * another student's, and every case created is the first student's, so
 * one stream gets each event and the others must get none: the cost of
 * the scope checks with many people watching their own records.
 *
 * Prints key=value lines: creates_nostream_p50_ms, creates_nostream_p99_ms,
 * creates_p50_ms, creates_p99_ms (with the streams open),
 * fanout_p50_ms, fanout_p99_ms, deliveries_per_s (events written to
 * streams per second of the run).
 */
#include <poll.h>
#include <time.h>

#include "benchlib.h"

static const char *prog = "stream";

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct sse {
	int fd;
	uint64_t events; /* "event: case" seen */
	char tail[16];   /* the last bytes read, for a match across reads */
	size_t tail_len;
};

static const char needle[] = "event: case\n";

/* Reads what is there; counts the events. -1 when the stream closed. */
static int
sse_read(struct sse *s)
{
	char buf[65536 + 16];
	ssize_t n;

	memcpy(buf, s->tail, s->tail_len);
	n = recv(s->fd, buf + s->tail_len, 65536, MSG_DONTWAIT);
	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	size_t len = s->tail_len + (size_t)n;
	for (char *p = buf; (p = memmem(p, len - (size_t)(p - buf), needle,
	                                sizeof(needle) - 1)) != NULL;
	     p += sizeof(needle) - 1)
		s->events++;
	s->tail_len = len < sizeof(needle) - 1 ? len : sizeof(needle) - 1;
	memcpy(s->tail, buf + len - s->tail_len, s->tail_len);
	return 0;
}

static int
sse_open(const struct bl_target *t, const char *token, struct sse *s)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
	                 "GET /v1/stream HTTP/1.1\r\nHost: %s\r\n"
	                 "Authorization: Bearer %s\r\n\r\n",
	                 t->authority, token);
	char buf[4096];
	size_t got = 0;
	uint64_t end = now_us() + 30000000u;

	memset(s, 0, sizeof(*s));
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->fd < 0 ||
	    connect(s->fd, (const struct sockaddr *)&t->addr,
	            sizeof(t->addr)) != 0 ||
	    send(s->fd, req, (size_t)n, 0) != n)
		return -1;
	/* until the ready event: the stream is registered by then */
	while (now_us() < end) {
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, 1000) <= 0)
			continue;
		r = recv(s->fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
		buf[got] = '\0';
		if (strstr(buf, "event: ready\n"))
			return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
		if (got >= sizeof(buf) - 1)
			return -1;
	}
	return -1;
}

/* Creates one case; returns the round trip in µs, or 0 on failure. */
/* cairnd's user + system CPU time in µs, from /proc; 0 when unknown */
static uint64_t
cpu_us(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after the command's closing parenthesis: state is field 3, utime
	 * and stime are fields 14 and 15 */
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
	           &st) != 2)
		return 0;
	return (ut + st) * 1000000ull /
	       (unsigned long long)sysconf(_SC_CLK_TCK);
}

static int one_subject; /* -m student: every case is S-bench-0's */

static uint64_t
create(const struct bl_target *t, const char *token, int i)
{
	char body[256];
	uint64_t t0 = now_us();
	int st;

	snprintf(body, sizeof(body),
	         "{\"workflow\":\"student_application\",\"subject\":"
	         "\"S-bench-%d\",\"data\":{\"campuses\":[\"uc-davis\"]}}",
	         one_subject ? 0 : i);
	char *out = NULL;

	st = bl_http(t, "POST", "/v1/cases", token, body, 30000, &out);
	free(out);
	return st == 201 ? now_us() - t0 : 0;
}

int
main(int argc, char **argv)
{
	struct bl_target t;
	char admin[160];
	int nstreams = 500, ncreates = 300, pid = 0;
	uint64_t cpu0, cpu_nostream, cpu_streams;
	struct sse *ss;
	struct pollfd *pfd;
	int *idx;
	char(*toks)[160];
	int ntoks;
	struct hist c0 = {0}, c1 = {0}, fan = {0};
	uint64_t run0, delivered = 0;

	if (argc < 3) {
		fprintf(stderr,
		        "usage: %s URL TOKEN_FILE [-s STREAMS] [-n N]\n", prog);
		return 2;
	}
	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-s"))
			nstreams = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-n"))
			ncreates = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-p"))
			pid = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-m"))
			one_subject = !strcmp(argv[i + 1], "student");
	}
	if (nstreams < 1 || nstreams > 1024 || ncreates < 1) {
		fprintf(stderr, "%s: -s 1..1024, -n at least 1\n", prog);
		return 2;
	}
	if (bl_parse_url(prog, argv[1], &t, NULL) != 0 ||
	    bl_read_token_file(prog, argv[2], admin, sizeof(admin)) != 0)
		return 2;

	/* without a stream */
	cpu0 = cpu_us(pid);
	for (int i = 0; i < ncreates; i++) {
		uint64_t us = create(&t, admin, i);

		if (us == 0) {
			fprintf(stderr, "%s: a create failed\n", prog);
			return 1;
		}
		hist_record(&c0, us);
	}

	cpu_nostream = cpu_us(pid) - cpu0;

	/* the streams: 8 a token (the server's cap), or a student each */
	ntoks = one_subject ? nstreams : (nstreams + 7) / 8;
	toks = calloc((size_t)ntoks, sizeof(*toks));
	ss = calloc((size_t)nstreams, sizeof(*ss));
	pfd = calloc((size_t)nstreams, sizeof(*pfd));
	idx = calloc((size_t)nstreams, sizeof(*idx));
	for (int i = 0; i < ntoks; i++) {
		char *out = NULL, *p, tb[160];
		int st;

		if (one_subject)
			snprintf(tb, sizeof(tb),
			         "{\"role\":\"student\",\"scope\":"
			         "\"S-bench-%d\"}",
			         i);
		else
			snprintf(tb, sizeof(tb), "{\"role\":\"admin\"}");
		st = bl_http(&t, "POST", "/v1/tokens", admin, tb, 30000, &out);

		p = out ? strstr(out, "\"token\":\"") : NULL;
		if (st != 201 || p == NULL) {
			fprintf(stderr, "%s: cannot make a token (%d)\n", prog,
			        st);
			return 1;
		}
		snprintf(toks[i], sizeof(toks[i]), "%.70s", p + 9);
		free(out);
	}
	for (int i = 0; i < nstreams; i++) {
		if (sse_open(&t, toks[one_subject ? i : i / 8], &ss[i]) != 0) {
			fprintf(stderr, "%s: stream %d did not open\n", prog,
			        i);
			return 1;
		}
	}

	run0 = now_us();
	cpu0 = cpu_us(pid);
	for (int i = 0; i < ncreates; i++) {
		uint64_t t0 = now_us(), us;
		uint64_t want = (uint64_t)i + 1;
		int behind = nstreams;

		us = create(&t, admin, ncreates + i);
		if (us == 0) {
			fprintf(stderr, "%s: a create failed\n", prog);
			return 1;
		}
		hist_record(&c1, us);
		/* until every stream has this case's event; poll, so the
		 * waiting costs cairnd no CPU on the shared cores */
		while (behind > 0) {
			int np = 0;

			for (int j = 0; j < (one_subject ? 1 : nstreams); j++) {
				if (ss[j].events >= want)
					continue;
				pfd[np].fd = ss[j].fd;
				pfd[np].events = POLLIN;
				pfd[np].revents = 0;
				idx[np++] = j;
			}
			behind = np;
			if (np == 0)
				break;
			if (now_us() - t0 > 30000000u) {
				fprintf(stderr, "%s: events did not arrive\n",
				        prog);
				return 1;
			}
			if (poll(pfd, (nfds_t)np, 100) <= 0)
				continue;
			for (int k = 0; k < np; k++) {
				if (!pfd[k].revents)
					continue;
				if (sse_read(&ss[idx[k]]) != 0) {
					fprintf(stderr,
					        "%s: stream %d closed\n", prog,
					        idx[k]);
					return 1;
				}
			}
		}
		hist_record(&fan, now_us() - t0);
		delivered += one_subject ? 1 : (uint64_t)nstreams;
	}
	if (one_subject) {
		/* the other students saw nothing: a last create of S-bench-0's
		 * has reached stream 0, so anything sent to the others before
		 * it has been sent too (one loop thread, in order) */
		for (int j = 1; j < nstreams; j++) {
			if (sse_read(&ss[j]) != 0 || ss[j].events != 0) {
				fprintf(stderr,
				        "%s: stream %d saw another student's "
				        "case\n",
				        prog, j);
				return 1;
			}
		}
	}
	double secs = (double)(now_us() - run0) / 1e6;

	cpu_streams = cpu_us(pid) - cpu0;

	printf("mode=%s streams=%d creates=%d creates_nostream_p50_ms=%.3f "
	       "creates_nostream_p99_ms=%.3f creates_p50_ms=%.3f "
	       "creates_p99_ms=%.3f fanout_p50_ms=%.3f fanout_p99_ms=%.3f "
	       "deliveries_per_s=%.0f cpu_us_per_create_nostream=%.0f "
	       "cpu_us_per_create=%.0f\n",
	       one_subject ? "student" : "admin", nstreams, ncreates,
	       hist_percentile(&c0, 50) / 1000.0,
	       hist_percentile(&c0, 99) / 1000.0,
	       hist_percentile(&c1, 50) / 1000.0,
	       hist_percentile(&c1, 99) / 1000.0,
	       hist_percentile(&fan, 50) / 1000.0,
	       hist_percentile(&fan, 99) / 1000.0, (double)delivered / secs,
	       (double)cpu_nostream / ncreates, (double)cpu_streams / ncreates);
	for (int i = 0; i < nstreams; i++)
		close(ss[i].fd);
	free(ss);
	free(pfd);
	free(idx);
	free(toks);
	return 0;
}
