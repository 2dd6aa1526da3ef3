/*
 * loadgen.c: a closed-loop HTTP/1.1 load generator on libuv, so the
 * benchmarks need nothing beyond what Cairn already builds with.
 *
 *   loadgen -c CONNS -d SECONDS [-w WARMUP_SECONDS] [-H 'Name: value'] URL
 *
 * Each of CONNS connections keeps exactly one GET in flight over keep-alive
 * and sends the next request as soon as the previous response is complete.
 * Responses are parsed just enough to find where they end: the status line,
 * Content-Length, Connection: close, the blank line; a chunked response
 * stops the run with an error rather than being misread. Latency runs from
 * the write of the request to the last byte of the response (a reconnect is
 * not part of it) and goes into a log-linear histogram with microsecond
 * resolution and under 1% relative error. Only requests sent after the
 * warm-up are counted. The run ends by itself after warm-up plus duration
 * and prints one line of key=value pairs.
 *
 * Targets must be IPv4 loopback addresses (127.0.0.0/8 or "localhost"):
 * this machine forbids sending traffic anywhere else.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define MAX_CONNS     10000
#define CONN_BUF      (64 * 1024) /* response head must fit in this */
#define RETRY_MS      10 /* pause before reconnecting after a failure */
#define MAX_HEADERS_H 32

/* --- histogram --------------------------------------------------------- */

/*
 * Values below 2^HIST_SUB_BITS get a bucket each; above, each power of two
 * is split into 2^(HIST_SUB_BITS-1) equal buckets, so a bucket is never
 * wider than 1/128 of its values. Values are clamped at 2^HIST_MAX_BITS-1
 * microseconds (about 19 hours).
 */
#define HIST_SUB_BITS 8
#define HIST_MAX_BITS 36
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_HALF     (HIST_SUB / 2)
#define HIST_BUCKETS  (HIST_SUB + (HIST_MAX_BITS - HIST_SUB_BITS) * HIST_HALF)

struct hist {
	uint64_t counts[HIST_BUCKETS];
	uint64_t n, max, sum;
};

static unsigned
hist_index(uint64_t v)
{
	unsigned m, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	if (v >= (UINT64_C(1) << HIST_MAX_BITS))
		v = (UINT64_C(1) << HIST_MAX_BITS) - 1;
	m = 63 - (unsigned)__builtin_clzll(v);
	shift = m - HIST_SUB_BITS + 1;
	return HIST_SUB + (m - HIST_SUB_BITS) * HIST_HALF +
	       (unsigned)((v >> shift) - HIST_HALF);
}

/* The largest value that falls into bucket i. */
static uint64_t
hist_highest(unsigned i)
{
	unsigned k, shift;
	uint64_t top;

	if (i < HIST_SUB)
		return i;
	k = i - HIST_SUB;
	shift = k / HIST_HALF + 1;
	top = HIST_HALF + k % HIST_HALF;
	return (top << shift) + ((UINT64_C(1) << shift) - 1);
}

static void
hist_record(struct hist *h, uint64_t v)
{
	h->counts[hist_index(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

/* The value at percentile p (0 < p <= 100), never above the true maximum. */
static uint64_t
hist_percentile(const struct hist *h, double p)
{
	uint64_t want, seen = 0, v;
	unsigned i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)ceil(p / 100.0 * (double)h->n);
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= want)
			break;
	}
	v = hist_highest(i < HIST_BUCKETS ? i : HIST_BUCKETS - 1);
	return v < h->max ? v : h->max;
}

/* --- connections ------------------------------------------------------- */

enum parse_state { P_HEAD, P_BODY, P_BODY_EOF };

struct loadgen;

struct conn {
	struct loadgen *lg;
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t retry;
	int tcp_open;      /* tcp initialised and not yet being closed */
	int write_pending; /* wreq in use */
	int send_next;     /* response done while the write was pending */
	int failed;       /* closing because of an error: retry after a pause */
	uint64_t sent_ns; /* when the request in flight was written */
	uint64_t served;  /* responses completed on this connection */
	enum parse_state state;
	int status;
	int close_after; /* the server will close after this response */
	uint64_t body_left;
	size_t got; /* bytes of the current response seen */
	size_t len; /* bytes held in buf */
	char buf[CONN_BUF];
};

struct loadgen {
	uv_loop_t *loop;
	struct sockaddr_in addr;
	uv_buf_t request;
	struct conn *conns;
	int nconns;
	uv_timer_t warm_timer, end_timer;
	int measuring, stopping, fatal;
	uint64_t t0_ns, measure_start_ns, measure_end_ns;
	uint64_t requests, errors, non2xx;
	uint64_t warm_requests, warm_errors;
	uint64_t reconnects;
	char last_error[256];
	struct hist hist;
};

static void conn_connect(struct conn *c);
static void conn_send(struct conn *c);
static void lg_stop(struct loadgen *lg);

static void conn_fail(struct conn *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void __attribute__((format(printf, 2, 0)))
note_verror(struct loadgen *lg, const char *fmt, va_list ap)
{
	if (lg->measuring)
		lg->errors++;
	else
		lg->warm_errors++;
	vsnprintf(lg->last_error, sizeof(lg->last_error), fmt, ap);
}

static void
on_retry(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (!c->lg->stopping)
		conn_connect(c);
}

static void
on_tcp_close(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct loadgen *lg = c->lg;

	if (lg->stopping)
		return;
	lg->reconnects++;
	if (c->failed)
		uv_timer_start(&c->retry, on_retry, RETRY_MS, 0);
	else
		conn_connect(c);
}

/* Closes the connection; a new one replaces it from the close callback. */
static void
conn_drop(struct conn *c, int failed)
{
	if (!c->tcp_open)
		return;
	c->tcp_open = 0;
	c->failed = failed;
	uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
}

static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note_verror(c->lg, fmt, ap);
	va_end(ap);
	conn_drop(c, 1);
}

static void
fatal(struct loadgen *lg, const char *msg)
{
	if (!lg->fatal)
		fprintf(stderr, "loadgen: %s\n", msg);
	lg->fatal = 1;
	lg_stop(lg);
}

static int
header_has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i;

	for (i = 0; i + tl <= n; i++)
		if (strncasecmp(v + i, tok, tl) == 0)
			return 1;
	return 0;
}

/*
 * Parses the response head in c->buf[0..n) (ending with the blank line) and
 * sets status, close_after and the body mode. Returns 0, -1 for a malformed
 * head, -2 for a transfer coding this tool does not read.
 */
static int
parse_head(struct conn *c, size_t n)
{
	const char *p = c->buf, *end = c->buf + n - 2, *eol, *colon, *v;
	int minor, have_len = 0;
	uint64_t clen = 0;

	if (n < 14 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    !isdigit((unsigned char)p[7]) || p[8] != ' ' ||
	    !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
	    !isdigit((unsigned char)p[11]) || (p[12] != ' ' && p[12] != '\r'))
		return -1;
	minor = p[7] - '0';
	c->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	c->close_after = minor == 0;
	eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	if (eol == NULL)
		return -1;
	for (p = eol + 2; p < end; p = eol + 2) {
		size_t vl;

		eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		if (eol == NULL)
			return -1;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL || colon == p)
			return -1;
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		vl = (size_t)(eol - v);
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if ((size_t)(colon - p) == 14 &&
		    strncasecmp(p, "content-length", 14) == 0) {
			uint64_t x = 0;
			size_t i;

			if (vl == 0 || vl > 18)
				return -1;
			for (i = 0; i < vl; i++) {
				if (!isdigit((unsigned char)v[i]))
					return -1;
				x = x * 10 + (uint64_t)(v[i] - '0');
			}
			if (have_len && x != clen)
				return -1;
			clen = x;
			have_len = 1;
		} else if ((size_t)(colon - p) == 17 &&
		           strncasecmp(p, "transfer-encoding", 17) == 0) {
			return -2;
		} else if ((size_t)(colon - p) == 10 &&
		           strncasecmp(p, "connection", 10) == 0) {
			if (header_has_token(v, vl, "close"))
				c->close_after = 1;
			else if (header_has_token(v, vl, "keep-alive"))
				c->close_after = 0;
		}
	}
	if (c->status < 200)
		return -1; /* we never send Expect, so no interim responses */
	if (c->status == 204 || c->status == 304) {
		c->state = P_BODY;
		c->body_left = 0;
	} else if (have_len) {
		c->state = P_BODY;
		c->body_left = clen;
	} else {
		c->state = P_BODY_EOF;
		c->close_after = 1;
	}
	return 0;
}

static void
response_done(struct conn *c)
{
	struct loadgen *lg = c->lg;
	uint64_t now = uv_hrtime();

	if (lg->measuring && c->sent_ns >= lg->measure_start_ns) {
		lg->requests++;
		if (c->status < 200 || c->status > 299)
			lg->non2xx++;
		hist_record(&lg->hist, (now - c->sent_ns + 500) / 1000);
	} else {
		lg->warm_requests++;
	}
	c->served++;
	c->state = P_HEAD;
	c->got = 0;
	if (c->close_after) {
		conn_drop(c, 0);
		return;
	}
	if (c->write_pending)
		c->send_next = 1;
	else
		conn_send(c);
}

/* Consumes what c->buf holds; may close c. */
static void
conn_parse(struct conn *c)
{
	char *eoh;
	size_t n;
	int rc;

	while (c->tcp_open) {
		switch (c->state) {
		case P_HEAD:
			eoh = memmem(c->buf, c->len, "\r\n\r\n", 4);
			if (eoh == NULL) {
				if (c->len == sizeof(c->buf))
					conn_fail(c, "response head too large");
				return;
			}
			n = (size_t)(eoh - c->buf) + 4;
			rc = parse_head(c, n);
			if (rc == -2) {
				fatal(c->lg,
				      "response uses Transfer-Encoding "
				      "(chunked is not supported); stopping");
				return;
			}
			if (rc < 0) {
				conn_fail(c, "malformed response head");
				return;
			}
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			break;
		case P_BODY:
			n = c->len < c->body_left ? c->len : c->body_left;
			c->body_left -= n;
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			if (c->body_left > 0)
				return;
			if (c->len > 0) {
				/* one request in flight, so nothing may follow */
				conn_fail(c, "unexpected bytes after body");
				return;
			}
			response_done(c);
			return;
		case P_BODY_EOF:
			c->len = 0;
			return;
		}
	}
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	buf->base = c->buf + c->len;
	buf->len = sizeof(c->buf) - c->len;
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (nread == 0 || !c->tcp_open)
		return;
	if (nread < 0) {
		if (nread == UV_EOF && c->state == P_BODY_EOF) {
			c->close_after = 1;
			response_done(c);
		} else if (nread == UV_EOF && c->got == 0) {
			conn_fail(c, "server closed the connection before "
			             "responding");
		} else {
			conn_fail(c, "read: %s", uv_strerror((int)nread));
		}
		return;
	}
	c->len += (size_t)nread;
	c->got += (size_t)nread;
	conn_parse(c);
}

static void
on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	c->write_pending = 0;
	if (c->lg->stopping || !c->tcp_open)
		return;
	if (status < 0) {
		conn_fail(c, "write: %s", uv_strerror(status));
		return;
	}
	if (c->send_next)
		conn_send(c);
}

static void
conn_send(struct conn *c)
{
	int rc;

	c->send_next = 0;
	c->state = P_HEAD;
	c->got = 0;
	c->len = 0;
	c->sent_ns = uv_hrtime();
	rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &c->lg->request, 1,
	              on_write);
	if (rc < 0) {
		conn_fail(c, "write: %s", uv_strerror(rc));
		return;
	}
	c->write_pending = 1;
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	int rc;

	if (c->lg->stopping || !c->tcp_open)
		return;
	if (status < 0) {
		conn_fail(c, "connect: %s", uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (rc < 0) {
		conn_fail(c, "read_start: %s", uv_strerror(rc));
		return;
	}
	conn_send(c);
}

static void
conn_connect(struct conn *c)
{
	int rc;

	rc = uv_tcp_init(c->lg->loop, &c->tcp);
	if (rc < 0) {
		fatal(c->lg, uv_strerror(rc));
		return;
	}
	c->tcp.data = c;
	c->creq.data = c;
	c->wreq.data = c;
	c->tcp_open = 1;
	c->write_pending = 0;
	c->send_next = 0;
	c->served = 0;
	c->state = P_HEAD;
	c->len = 0;
	c->got = 0;
	rc = uv_tcp_connect(&c->creq, &c->tcp,
	                    (const struct sockaddr *)&c->lg->addr, on_connect);
	if (rc < 0)
		conn_fail(c, "connect: %s", uv_strerror(rc));
}

/* --- run control ------------------------------------------------------- */

static void
on_warm(uv_timer_t *t)
{
	struct loadgen *lg = t->data;

	lg->measuring = 1;
	lg->measure_start_ns = uv_hrtime();
}

static void
lg_stop(struct loadgen *lg)
{
	int i;

	if (lg->stopping)
		return;
	lg->stopping = 1;
	lg->measure_end_ns = uv_hrtime();
	if (!lg->measuring)
		lg->measure_start_ns = lg->measure_end_ns;
	for (i = 0; i < lg->nconns; i++) {
		struct conn *c = &lg->conns[i];

		if (c->tcp_open) {
			c->tcp_open = 0;
			uv_close((uv_handle_t *)&c->tcp, on_tcp_close);
		}
		uv_close((uv_handle_t *)&c->retry, NULL);
	}
	uv_close((uv_handle_t *)&lg->warm_timer, NULL);
	uv_close((uv_handle_t *)&lg->end_timer, NULL);
}

static void
on_end(uv_timer_t *t)
{
	lg_stop(t->data);
}

/* --- command line ------------------------------------------------------ */

static void
usage(void)
{
	fprintf(stderr,
	        "usage: loadgen -c CONNS -d SECONDS [-w WARMUP_SECONDS] "
	        "[-H 'Name: value']... http://127.0.0.1:PORT/PATH\n");
	exit(2);
}

static double
parse_seconds(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 86400) {
		fprintf(stderr, "loadgen: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

/*
 * Splits "http://host[:port][/path]" and checks that host is IPv4
 * loopback. Fills addr, points *path into url and copies host[:port] into
 * authority for the Host header.
 */
static int
parse_url(const char *url, struct sockaddr_in *addr, const char **path,
          char *authority, size_t alen)
{
	const char *p, *slash, *colon;
	char host[64];
	size_t hl;
	long port = 80;
	struct in_addr in;

	if (strncmp(url, "http://", 7) != 0) {
		fprintf(stderr, "loadgen: only http:// URLs are supported\n");
		return -1;
	}
	p = url + 7;
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	if ((size_t)(slash - p) >= alen) {
		fprintf(stderr, "loadgen: host too long\n");
		return -1;
	}
	memcpy(authority, p, (size_t)(slash - p));
	authority[slash - p] = '\0';
	*path = *slash ? slash : "/";

	colon = strchr(authority, ':');
	hl = colon ? (size_t)(colon - authority) : strlen(authority);
	if (hl == 0 || hl >= sizeof(host)) {
		fprintf(stderr, "loadgen: bad host in %s\n", url);
		return -1;
	}
	memcpy(host, authority, hl);
	host[hl] = '\0';
	if (colon) {
		char *end;

		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || port < 1 ||
		    port > 65535) {
			fprintf(stderr, "loadgen: bad port in %s\n", url);
			return -1;
		}
	}
	if (strcasecmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &in) != 1) {
		fprintf(stderr,
		        "loadgen: host must be an IPv4 loopback address "
		        "(127.x.x.x or localhost), not %s\n",
		        host);
		return -1;
	}
	if ((ntohl(in.s_addr) >> 24) != 127) {
		fprintf(stderr,
		        "loadgen: refusing %s: only loopback targets "
		        "(127.0.0.0/8) are allowed on this machine\n",
		        host);
		return -1;
	}
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_port = htons((uint16_t)port);
	addr->sin_addr = in;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *headers[MAX_HEADERS_H], *path;
	int nheaders = 0, conns = 0, opt, i, rc;
	double dur = -1, warm = 0, secs;
	char authority[256], *req;
	size_t reqlen, off;
	struct loadgen *lg;
	uv_loop_t loop;

	while ((opt = getopt(argc, argv, "c:d:w:H:h")) != -1) {
		switch (opt) {
		case 'c':
			conns = atoi(optarg);
			if (conns < 1 || conns > MAX_CONNS) {
				fprintf(stderr, "loadgen: -c must be 1..%d\n",
				        MAX_CONNS);
				return 2;
			}
			break;
		case 'd':
			dur = parse_seconds(optarg, "duration");
			break;
		case 'w':
			warm = parse_seconds(optarg, "warm-up");
			break;
		case 'H':
			if (nheaders == MAX_HEADERS_H ||
			    strchr(optarg, ':') == NULL ||
			    strpbrk(optarg, "\r\n") != NULL) {
				fprintf(stderr, "loadgen: bad header: %s\n",
				        optarg);
				return 2;
			}
			headers[nheaders++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || conns == 0 || !(dur > 0))
		usage();

	lg = calloc(1, sizeof(*lg));
	if (lg == NULL)
		return 1;
	if (parse_url(argv[optind], &lg->addr, &path, authority,
	              sizeof(authority)) < 0)
		return 2;
	if (strpbrk(path, " \r\n") != NULL) {
		fprintf(stderr, "loadgen: bad path: %s\n", path);
		return 2;
	}

	reqlen = strlen(path) + strlen(authority) + 64;
	for (i = 0; i < nheaders; i++)
		reqlen += strlen(headers[i]) + 2;
	req = malloc(reqlen);
	if (req == NULL)
		return 1;
	off = (size_t)snprintf(req, reqlen, "GET %s HTTP/1.1\r\nHost: %s\r\n",
	                       path, authority);
	for (i = 0; i < nheaders; i++)
		off += (size_t)snprintf(req + off, reqlen - off, "%s\r\n",
		                        headers[i]);
	off += (size_t)snprintf(req + off, reqlen - off, "\r\n");
	lg->request = uv_buf_init(req, (unsigned)off);

	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&loop) < 0)
		return 1;
	lg->loop = &loop;
	lg->nconns = conns;
	lg->conns = calloc((size_t)conns, sizeof(*lg->conns));
	if (lg->conns == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	uv_timer_init(&loop, &lg->warm_timer);
	uv_timer_init(&loop, &lg->end_timer);
	lg->warm_timer.data = lg;
	lg->end_timer.data = lg;
	lg->t0_ns = uv_hrtime();
	if (warm > 0) {
		uv_timer_start(&lg->warm_timer, on_warm,
		               (uint64_t)(warm * 1000 + 0.5), 0);
	} else {
		lg->measuring = 1;
		lg->measure_start_ns = lg->t0_ns;
	}
	uv_timer_start(&lg->end_timer, on_end,
	               (uint64_t)((warm + dur) * 1000 + 0.5), 0);
	for (i = 0; i < conns && !lg->stopping; i++) {
		struct conn *c = &lg->conns[i];

		c->lg = lg;
		uv_timer_init(&loop, &c->retry);
		c->retry.data = c;
		conn_connect(c);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&loop);
	if (rc != 0)
		fprintf(stderr, "loadgen: uv_loop_close: %s\n",
		        uv_strerror(rc));

	secs = (double)(lg->measure_end_ns - lg->measure_start_ns) / 1e9;
	printf("requests=%llu errors=%llu non2xx=%llu rps=%.1f mean_us=%.1f "
	       "p50_us=%llu p90_us=%llu p99_us=%llu p999_us=%llu max_us=%llu "
	       "conns=%d duration_s=%.3f warmup_requests=%llu "
	       "warmup_errors=%llu reconnects=%llu\n",
	       (unsigned long long)lg->requests, (unsigned long long)lg->errors,
	       (unsigned long long)lg->non2xx,
	       secs > 0 ? (double)lg->requests / secs : 0.0,
	       lg->hist.n ? (double)lg->hist.sum / (double)lg->hist.n : 0.0,
	       (unsigned long long)hist_percentile(&lg->hist, 50),
	       (unsigned long long)hist_percentile(&lg->hist, 90),
	       (unsigned long long)hist_percentile(&lg->hist, 99),
	       (unsigned long long)hist_percentile(&lg->hist, 99.9),
	       (unsigned long long)lg->hist.max, conns, secs,
	       (unsigned long long)lg->warm_requests,
	       (unsigned long long)lg->warm_errors,
	       (unsigned long long)lg->reconnects);
	fflush(stdout);
	if (lg->errors + lg->warm_errors > 0 && lg->last_error[0])
		fprintf(stderr, "loadgen: last error: %s\n", lg->last_error);
	rc = lg->fatal ? 2 : lg->requests == 0 ? 1 : 0;
	if (lg->requests == 0 && !lg->fatal)
		fprintf(stderr, "loadgen: no request completed\n");
	free(lg->conns);
	free(req);
	free(lg);
	return rc;
}
