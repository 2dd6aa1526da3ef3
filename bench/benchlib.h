/*
 * benchlib.h: what the HTTP benchmark tools (loadgen.c, apps.c and the load
 * of scale.c) share. Header-only, every function static: the Makefile builds
 * each bench/NAME.c into its own binary from that one file and libcairn.a.
 *
 *  - a log-linear latency histogram with microsecond resolution;
 *  - command-line helpers: seconds, a token file, loopback-only URLs;
 *  - one blocking HTTP request on a fresh connection (set-up and probes);
 *  - closed-loop keep-alive HTTP/1.1 load on libuv: each connection keeps
 *    exactly one request in flight and the program's next() writes the
 *    next one as soon as the previous response is complete. Responses are
 *    parsed just enough to find where they end: the status line,
 *    Content-Length, Connection, the blank line (without Content-Length the
 *    body runs to the close; a chunked response stops the run rather than
 *    being misread). Latency runs from the write of the request to the last
 *    byte of the response (a reconnect is not part of it); only requests
 *    written after the warm-up are counted, and the run ends by itself
 *    after warm-up plus duration. A connection that fails is counted as an
 *    error, closed and replaced after a pause.
 *
 * Targets must be IPv4 loopback addresses (127.0.0.0/8 or "localhost"):
 * this machine forbids sending traffic anywhere else.
 */
#ifndef CAIRN_BENCH_BENCHLIB_H
#define CAIRN_BENCH_BENCHLIB_H

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#define BL_CONN_BUF (64 * 1024) /* a response head must fit in this */
#define BL_REQ_BUF  2048        /* a request written with bl_request */
#define BL_RETRY_MS 10          /* pause before reconnecting after a failure */

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

static inline unsigned
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
static inline uint64_t
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

static inline void
hist_record(struct hist *h, uint64_t v)
{
	h->counts[hist_index(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

/* The value at percentile p (0 < p <= 100), never above the true maximum. */
static inline uint64_t
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

/* Prints "mean_us=... p50_us=... p90_us=... p99_us=... p999_us=...
 * max_us=..." (no space before or after). */
static inline void
hist_print(const struct hist *h)
{
	printf("mean_us=%.1f p50_us=%llu p90_us=%llu p99_us=%llu "
	       "p999_us=%llu max_us=%llu",
	       h->n ? (double)h->sum / (double)h->n : 0.0,
	       (unsigned long long)hist_percentile(h, 50),
	       (unsigned long long)hist_percentile(h, 90),
	       (unsigned long long)hist_percentile(h, 99),
	       (unsigned long long)hist_percentile(h, 99.9),
	       (unsigned long long)h->max);
}

/* The peak resident set of this process in KiB (the load generator's own
 * memory, reported beside cairnd's), or -1. */
static inline long
bl_maxrss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* --- command line ------------------------------------------------------ */

/* Seconds in [0, 86400]; exits 2 with a message naming what otherwise. */
static inline double
bl_parse_seconds(const char *prog, const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 86400) {
		fprintf(stderr, "%s: bad %s: %s\n", prog, what, s);
		exit(2);
	}
	return v;
}

/*
 * The options loadgen and apps share: -c CONNS (1..max_conns), -d SECONDS,
 * -w WARMUP_SECONDS. Returns 1 when opt was one of them (a bad value exits
 * 2 with a message), 0 otherwise.
 */
static inline int
bl_load_opt(const char *prog, int opt, const char *arg, int max_conns,
            int *conns, double *dur, double *warm)
{
	switch (opt) {
	case 'c':
		*conns = atoi(arg);
		if (*conns < 1 || *conns > max_conns) {
			fprintf(stderr, "%s: -c must be 1..%d\n", prog,
			        max_conns);
			exit(2);
		}
		return 1;
	case 'd':
		*dur = bl_parse_seconds(prog, arg, "duration");
		return 1;
	case 'w':
		*warm = bl_parse_seconds(prog, arg, "warm-up");
		return 1;
	}
	return 0;
}

/* The first cap - 1 bytes of the file at path, trailing white space cut. */
static inline int
bl_read_token_file(const char *prog, const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	n = fread(out, 1, cap - 1, f);
	fclose(f);
	out[n] = '\0';
	while (n > 0 && isspace((unsigned char)out[n - 1]))
		out[--n] = '\0';
	return n > 0 ? 0 : -1;
}

/* Where requests go. */
struct bl_target {
	struct sockaddr_in addr;
	char authority[256]; /* host[:port] as given, for the Host header */
};

/*
 * Splits "http://host[:port][/path]" and checks that host is IPv4
 * loopback. Fills t and, unless path is NULL, points *path into url at the
 * path ("" when there is none). Returns 0, or -1 after a message.
 */
static inline int
bl_parse_url(const char *prog, const char *url, struct bl_target *t,
             const char **path)
{
	const char *p, *slash, *colon;
	char host[64];
	size_t hl;
	long port = 80;
	struct in_addr in;

	if (strncmp(url, "http://", 7) != 0) {
		fprintf(stderr, "%s: only http:// URLs are supported\n", prog);
		return -1;
	}
	p = url + 7;
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	if ((size_t)(slash - p) >= sizeof(t->authority)) {
		fprintf(stderr, "%s: host too long\n", prog);
		return -1;
	}
	memcpy(t->authority, p, (size_t)(slash - p));
	t->authority[slash - p] = '\0';
	if (path)
		*path = slash;

	colon = strchr(t->authority, ':');
	hl = colon ? (size_t)(colon - t->authority) : strlen(t->authority);
	if (hl == 0 || hl >= sizeof(host)) {
		fprintf(stderr, "%s: bad host in %s\n", prog, url);
		return -1;
	}
	memcpy(host, t->authority, hl);
	host[hl] = '\0';
	if (colon) {
		char *end;

		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || port < 1 ||
		    port > 65535) {
			fprintf(stderr, "%s: bad port in %s\n", prog, url);
			return -1;
		}
	}
	if (strcasecmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &in) != 1) {
		fprintf(stderr,
		        "%s: host must be an IPv4 loopback address "
		        "(127.x.x.x or localhost), not %s\n",
		        prog, host);
		return -1;
	}
	if ((ntohl(in.s_addr) >> 24) != 127) {
		fprintf(stderr,
		        "%s: refusing %s: only loopback targets "
		        "(127.0.0.0/8) are allowed on this machine\n",
		        prog, host);
		return -1;
	}
	memset(&t->addr, 0, sizeof(t->addr));
	t->addr.sin_family = AF_INET;
	t->addr.sin_port = htons((uint16_t)port);
	t->addr.sin_addr = in;
	return 0;
}

/* --- requests ---------------------------------------------------------- */

/*
 * Formats "METHOD path HTTP/1.1" with Host, Connection: close if close,
 * Authorization: Bearer token unless token is NULL, and a JSON body unless
 * body is NULL. Returns the length, or -1 when it does not fit in cap.
 */
static inline int
bl_format_request(char *buf, size_t cap, const char *authority,
                  const char *method, const char *path, const char *token,
                  const char *body, int close)
{
	int n, m;

	n = snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%s%s", method,
	             path, authority, close ? "Connection: close\r\n" : "",
	             token ? "Authorization: Bearer " : "", token ? token : "",
	             token ? "\r\n" : "");
	if (n < 0 || (size_t)n >= cap)
		return -1;
	if (body)
		m = snprintf(buf + n, cap - (size_t)n,
		             "Content-Type: application/json\r\n"
		             "Content-Length: %zu\r\n\r\n%s",
		             strlen(body), body);
	else
		m = snprintf(buf + n, cap - (size_t)n, "\r\n");
	if (m < 0 || (size_t)m >= cap - (size_t)n)
		return -1;
	return n + m;
}

/*
 * One request on a fresh blocking connection, read to its close; the body
 * of the reply into *out (malloc'd, or NULL). Returns the status, or -1.
 */
static inline int
bl_http(const struct bl_target *t, const char *method, const char *path,
        const char *token, const char *body, int timeout_ms, char **out)
{
	char req[1024], *buf = NULL, *p;
	size_t got = 0, cap = 0;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	int fd, n, status;

	*out = NULL;
	n = bl_format_request(req, sizeof(req), t->authority, method, path,
	                      token, body, 1);
	if (n < 0)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&t->addr, sizeof(t->addr)) !=
	            0 ||
	    write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r;

		if (cap - got < 4096) {
			cap = cap ? cap * 2 : 16384;
			if ((p = realloc(buf, cap)) == NULL) {
				free(buf);
				close(fd);
				return -1;
			}
			buf = p;
		}
		r = read(fd, buf + got, cap - got - 1);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (buf == NULL)
		return -1;
	buf[got] = '\0';
	if (got < 12 || sscanf(buf, "HTTP/1.%*d %d", &status) != 1 ||
	    (p = strstr(buf, "\r\n\r\n")) == NULL) {
		free(buf);
		return -1;
	}
	memmove(buf, p + 4, strlen(p + 4) + 1);
	*out = buf;
	return status;
}

/* --- closed-loop keep-alive load --------------------------------------- */

enum bl_state { BL_HEAD, BL_BODY, BL_BODY_EOF };

struct bl_run;

/* A connection; a program that needs more per connection puts this first
 * in its own struct and gives bl_init that struct's size. */
struct bl_conn {
	struct bl_run *run; /* NULL until bl_connect_all reaches it */
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uv_timer_t retry;
	int tcp_open;      /* tcp initialised and not yet being closed */
	int connected;     /* ... and connected, reading */
	int write_pending; /* wreq in use */
	int send_next;     /* response done while the write was pending */
	int failed;       /* closing because of an error: retry after a pause */
	uint64_t sent_ns; /* when the request in flight was written; 0: none */
	/* the response being read */
	enum bl_state state;
	int status;
	int close_after; /* the server will close after this response */
	uint64_t body_left;
	size_t head_len; /* with keep_body: the head's bytes at buf's start */
	size_t got;      /* bytes of the current response seen */
	size_t len;      /* bytes held in buf */
	char req[BL_REQ_BUF];
	char buf[BL_CONN_BUF];
};

struct bl_ops {
	/* Writes the next request (bl_request, bl_write) or leaves c idle. */
	void (*next)(struct bl_conn *c);
	/* Optional: the response to the request written at c->sent_ns is
	 * complete (bl_done has counted it); body and blen with keep_body. */
	void (*done)(struct bl_conn *c, uint64_t now, const char *body,
	             size_t blen);
	/* Optional: the request in flight is lost with its connection. */
	void (*lost)(struct bl_conn *c);
	/* Optional: closes what the program added to the loop (bl_stop). */
	void (*stop)(struct bl_run *r);
	/* Hold each whole response in buf (it must fit) for done(). */
	int keep_body;
};

struct bl_run {
	const char *prog; /* the start of every message */
	const struct bl_ops *ops;
	uv_loop_t *loop;
	struct bl_target target;
	char *conns;      /* nconns connections, conn_size bytes apart */
	size_t conn_size; /* each starting with a struct bl_conn */
	int nconns;
	uv_timer_t warm_timer, end_timer;
	int measuring, stopping, fatal;
	uint64_t measure_start_ns, measure_end_ns;
	/* requests written after the warm-up, and their latency */
	uint64_t requests, non2xx, warm_requests;
	struct hist hist;
	uint64_t errors, warm_errors, reconnects;
	uint64_t bytes; /* read, warm-up included */
	char last_error[256];
};

static inline void bl_connect(struct bl_conn *c);
static inline void bl_stop(struct bl_run *r);

static inline struct bl_conn *
bl_conn_at(const struct bl_run *r, int i)
{
	return (struct bl_conn *)(void *)(r->conns + (size_t)i * r->conn_size);
}

/* Whether what started at since_ns counts (it came after the warm-up). */
static inline int
bl_counting(const struct bl_run *r, uint64_t since_ns)
{
	return r->measuring && since_ns >= r->measure_start_ns;
}

static inline void __attribute__((format(printf, 2, 3)))
bl_fatal(struct bl_run *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->fatal) {
		fprintf(stderr, "%s: ", r->prog);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	r->fatal = 1;
	bl_stop(r);
}

static inline void
bl_on_retry(uv_timer_t *t)
{
	struct bl_conn *c = t->data;

	if (!c->run->stopping)
		bl_connect(c);
}

static inline void
bl_on_tcp_close(uv_handle_t *h)
{
	struct bl_conn *c = h->data;
	struct bl_run *r = c->run;

	if (r->stopping)
		return;
	r->reconnects++;
	if (c->failed)
		uv_timer_start(&c->retry, bl_on_retry, BL_RETRY_MS, 0);
	else
		bl_connect(c);
}

/* Closes the connection; a new one replaces it from the close callback. */
static inline void
bl_drop(struct bl_conn *c, int failed)
{
	if (!c->tcp_open)
		return;
	c->tcp_open = 0;
	c->failed = failed;
	uv_close((uv_handle_t *)&c->tcp, bl_on_tcp_close);
}

/* Counts an error, keeps its message, drops c to retry after a pause. */
static inline void __attribute__((format(printf, 2, 3)))
bl_fail(struct bl_conn *c, const char *fmt, ...)
{
	struct bl_run *r = c->run;
	va_list ap;

	if (r->measuring)
		r->errors++;
	else
		r->warm_errors++;
	va_start(ap, fmt);
	vsnprintf(r->last_error, sizeof(r->last_error), fmt, ap);
	va_end(ap);
	if (c->sent_ns != 0 && r->ops->lost)
		r->ops->lost(c);
	c->sent_ns = 0;
	bl_drop(c, 1);
}

static inline void
bl_on_write(uv_write_t *req, int status)
{
	struct bl_conn *c = req->data;

	c->write_pending = 0;
	if (c->run->stopping || !c->tcp_open)
		return;
	if (status < 0) {
		bl_fail(c, "write: %s", uv_strerror(status));
		return;
	}
	if (c->send_next) {
		c->send_next = 0;
		c->run->ops->next(c);
	}
}

/* Writes the request req[0..n) (which must outlive the write). */
static inline void
bl_write(struct bl_conn *c, const char *req, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)req, (unsigned)n);
	int rc;

	c->send_next = 0;
	c->state = BL_HEAD;
	c->head_len = 0;
	c->got = 0;
	c->len = 0;
	c->sent_ns = uv_hrtime();
	rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, bl_on_write);
	if (rc < 0) {
		bl_fail(c, "write: %s", uv_strerror(rc));
		return;
	}
	c->write_pending = 1;
}

/* Writes method path with token (NULL: none) and body (NULL: none). */
static inline void
bl_request(struct bl_conn *c, const char *method, const char *path,
           const char *token, const char *body)
{
	int n = bl_format_request(c->req, sizeof(c->req),
	                          c->run->target.authority, method, path, token,
	                          body, 0);

	if (n < 0) {
		bl_fatal(c->run, "request too large");
		return;
	}
	bl_write(c, c->req, (size_t)n);
}

static inline int
bl_header_has_token(const char *v, size_t n, const char *tok)
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
static inline int
bl_parse_head(struct bl_conn *c, size_t n)
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
			if (bl_header_has_token(v, vl, "close"))
				c->close_after = 1;
			else if (bl_header_has_token(v, vl, "keep-alive"))
				c->close_after = 0;
		}
	}
	if (c->status < 200)
		return -1; /* we never send Expect, so no interim responses */
	if (c->status == 204 || c->status == 304) {
		c->state = BL_BODY;
		c->body_left = 0;
	} else if (have_len) {
		c->state = BL_BODY;
		c->body_left = clen;
	} else {
		c->state = BL_BODY_EOF;
		c->close_after = 1;
	}
	return 0;
}

/* The response is complete: count it, tell the program, send the next. */
static inline void
bl_done(struct bl_conn *c)
{
	struct bl_run *r = c->run;
	uint64_t now = uv_hrtime();

	if (bl_counting(r, c->sent_ns)) {
		r->requests++;
		if (c->status < 200 || c->status > 299)
			r->non2xx++;
		hist_record(&r->hist, (now - c->sent_ns + 500) / 1000);
	} else {
		r->warm_requests++;
	}
	if (r->ops->done)
		r->ops->done(c, now, c->buf + c->head_len,
		             r->ops->keep_body ? c->len - c->head_len : 0);
	c->sent_ns = 0;
	c->state = BL_HEAD;
	c->head_len = 0;
	c->got = 0;
	c->len = 0;
	if (!c->tcp_open)
		return;
	if (c->close_after) {
		bl_drop(c, 0);
		return;
	}
	if (c->write_pending)
		c->send_next = 1;
	else
		r->ops->next(c);
}

/* Consumes what c->buf holds; may close c. */
static inline void
bl_parse(struct bl_conn *c)
{
	int keep = c->run->ops->keep_body;
	char *eoh;
	size_t n;
	int rc;

	while (c->tcp_open) {
		switch (c->state) {
		case BL_HEAD:
			eoh = memmem(c->buf, c->len, "\r\n\r\n", 4);
			if (eoh == NULL) {
				if (c->len == sizeof(c->buf))
					bl_fail(c, "response head too large");
				return;
			}
			if (c->sent_ns == 0) {
				bl_fail(c, "a response to no request");
				return;
			}
			n = (size_t)(eoh - c->buf) + 4;
			rc = bl_parse_head(c, n);
			if (rc == -2) {
				bl_fatal(
				        c->run,
				        "response uses Transfer-Encoding "
				        "(chunked is not supported); stopping");
				return;
			}
			if (rc < 0) {
				bl_fail(c, "malformed response head");
				return;
			}
			if (!keep) {
				memmove(c->buf, c->buf + n, c->len - n);
				c->len -= n;
			} else if (c->state == BL_BODY &&
			           c->body_left > sizeof(c->buf) - n) {
				bl_fail(c, "response too large");
				return;
			} else {
				c->head_len = n;
			}
			break;
		case BL_BODY:
			if (keep) {
				if (c->len - c->head_len < c->body_left)
					return;
				n = c->len - c->head_len - c->body_left;
			} else {
				n = c->len < c->body_left ? c->len
				                          : c->body_left;
				c->body_left -= n;
				memmove(c->buf, c->buf + n, c->len - n);
				c->len -= n;
				if (c->body_left > 0)
					return;
				n = c->len;
			}
			if (n > 0) {
				/* one request in flight, so nothing may follow */
				bl_fail(c, "unexpected bytes after body");
				return;
			}
			bl_done(c);
			return;
		case BL_BODY_EOF:
			if (!keep)
				c->len = 0;
			else if (c->len == sizeof(c->buf))
				bl_fail(c, "response too large");
			return;
		}
	}
}

static inline void
bl_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct bl_conn *c = h->data;

	buf->base = c->buf + c->len;
	buf->len = sizeof(c->buf) - c->len;
}

static inline void
bl_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct bl_conn *c = s->data;

	if (nread == 0 || !c->tcp_open)
		return;
	if (nread < 0) {
		if (nread == UV_EOF && c->state == BL_BODY_EOF) {
			c->close_after = 1;
			bl_done(c);
		} else if (nread == UV_EOF && c->sent_ns == 0) {
			bl_drop(c, 0); /* an idle keep-alive closed */
		} else if (nread == UV_EOF && c->got == 0) {
			bl_fail(c, "server closed the connection before "
			           "responding");
		} else {
			bl_fail(c, "read: %s", uv_strerror((int)nread));
		}
		return;
	}
	c->len += (size_t)nread;
	c->got += (size_t)nread;
	c->run->bytes += (uint64_t)nread;
	bl_parse(c);
}

static inline void
bl_on_connect(uv_connect_t *req, int status)
{
	struct bl_conn *c = req->data;
	int rc;

	if (c->run->stopping || !c->tcp_open)
		return;
	if (status < 0) {
		bl_fail(c, "connect: %s", uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	c->connected = 1;
	rc = uv_read_start((uv_stream_t *)&c->tcp, bl_on_alloc, bl_on_read);
	if (rc < 0) {
		bl_fail(c, "read_start: %s", uv_strerror(rc));
		return;
	}
	c->run->ops->next(c);
}

static inline void
bl_connect(struct bl_conn *c)
{
	struct bl_run *r = c->run;
	int rc;

	rc = uv_tcp_init(r->loop, &c->tcp);
	if (rc < 0) {
		bl_fatal(r, "%s", uv_strerror(rc));
		return;
	}
	c->tcp.data = c;
	c->creq.data = c;
	c->wreq.data = c;
	c->tcp_open = 1;
	c->connected = 0;
	c->write_pending = 0;
	c->send_next = 0;
	c->sent_ns = 0;
	c->state = BL_HEAD;
	c->head_len = 0;
	c->len = 0;
	c->got = 0;
	rc = uv_tcp_connect(&c->creq, &c->tcp,
	                    (const struct sockaddr *)&r->target.addr,
	                    bl_on_connect);
	if (rc < 0)
		bl_fail(c, "connect: %s", uv_strerror(rc));
}

/* --- run control ------------------------------------------------------- */

static inline void
bl_stop(struct bl_run *r)
{
	if (r->stopping)
		return;
	r->stopping = 1;
	r->measure_end_ns = uv_hrtime();
	if (!r->measuring)
		r->measure_start_ns = r->measure_end_ns;
	for (int i = 0; i < r->nconns; i++) {
		struct bl_conn *c = bl_conn_at(r, i);

		if (c->tcp_open) {
			c->tcp_open = 0;
			uv_close((uv_handle_t *)&c->tcp, bl_on_tcp_close);
		}
		if (c->run != NULL)
			uv_close((uv_handle_t *)&c->retry, NULL);
	}
	uv_close((uv_handle_t *)&r->warm_timer, NULL);
	uv_close((uv_handle_t *)&r->end_timer, NULL);
	if (r->ops->stop)
		r->ops->stop(r);
}

/*
 * Readies r for nconns zeroed connections of conn_size bytes each at conns
 * (r itself zeroed, with its target set): the timers on loop. Nothing
 * starts before bl_start and bl_connect_all.
 */
static inline void
bl_init(struct bl_run *r, const char *prog, const struct bl_ops *ops,
        uv_loop_t *loop, void *conns, size_t conn_size, int nconns)
{
	r->prog = prog;
	r->ops = ops;
	r->loop = loop;
	r->conns = conns;
	r->conn_size = conn_size;
	r->nconns = nconns;
	uv_timer_init(loop, &r->warm_timer);
	uv_timer_init(loop, &r->end_timer);
	r->warm_timer.data = r;
	r->end_timer.data = r;
}

static inline void
bl_on_warm(uv_timer_t *t)
{
	struct bl_run *r = t->data;

	r->measuring = 1;
	r->measure_start_ns = uv_hrtime();
}

static inline void
bl_on_end(uv_timer_t *t)
{
	bl_stop(t->data);
}

/* Starts the clock: warm seconds of warm-up, then dur measured. */
static inline void
bl_start(struct bl_run *r, double warm, double dur)
{
	if (warm > 0) {
		uv_timer_start(&r->warm_timer, bl_on_warm,
		               (uint64_t)(warm * 1000 + 0.5), 0);
	} else {
		r->measuring = 1;
		r->measure_start_ns = uv_hrtime();
	}
	uv_timer_start(&r->end_timer, bl_on_end,
	               (uint64_t)((warm + dur) * 1000 + 0.5), 0);
}

/* Opens every connection; each sends its first request once connected. */
static inline void
bl_connect_all(struct bl_run *r)
{
	for (int i = 0; i < r->nconns && !r->stopping; i++) {
		struct bl_conn *c = bl_conn_at(r, i);

		c->run = r;
		uv_timer_init(r->loop, &c->retry);
		c->retry.data = c;
		bl_connect(c);
	}
}

/* The measured seconds, once the run has stopped. */
static inline double
bl_seconds(const struct bl_run *r)
{
	return (double)(r->measure_end_ns - r->measure_start_ns) / 1e9;
}

#endif
