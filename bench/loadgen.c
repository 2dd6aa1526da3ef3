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
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "benchlib.h"

#define MAX_CONNS     10000
#define MAX_HEADERS_H 32

static struct bl_run run;
static uv_buf_t request; /* the same GET on every connection */

static void
lg_next(struct bl_conn *c)
{
	bl_write(c, request.base, request.len);
}

static const struct bl_ops lg_ops = {.next = lg_next};

/* --- command line ------------------------------------------------------ */

static void
usage(void)
{
	fprintf(stderr,
	        "usage: loadgen -c CONNS -d SECONDS [-w WARMUP_SECONDS] "
	        "[-H 'Name: value']... http://127.0.0.1:PORT/PATH\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *headers[MAX_HEADERS_H], *path;
	int nheaders = 0, conns = 0, opt, i, rc;
	double dur = -1, warm = 0, secs;
	char *req;
	size_t reqlen, off;
	struct bl_conn *cs;
	uv_loop_t loop;

	while ((opt = getopt(argc, argv, "c:d:w:H:h")) != -1) {
		switch (opt) {
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
			if (!bl_load_opt("loadgen", opt, optarg, MAX_CONNS,
			                 &conns, &dur, &warm))
				usage();
		}
	}
	if (optind != argc - 1 || conns == 0 || !(dur > 0))
		usage();

	if (bl_parse_url("loadgen", argv[optind], &run.target, &path) < 0)
		return 2;
	if (*path == '\0')
		path = "/";
	if (strpbrk(path, " \r\n") != NULL) {
		fprintf(stderr, "loadgen: bad path: %s\n", path);
		return 2;
	}

	reqlen = strlen(path) + strlen(run.target.authority) + 64;
	for (i = 0; i < nheaders; i++)
		reqlen += strlen(headers[i]) + 2;
	req = malloc(reqlen);
	if (req == NULL)
		return 1;
	off = (size_t)snprintf(req, reqlen, "GET %s HTTP/1.1\r\nHost: %s\r\n",
	                       path, run.target.authority);
	for (i = 0; i < nheaders; i++)
		off += (size_t)snprintf(req + off, reqlen - off, "%s\r\n",
		                        headers[i]);
	off += (size_t)snprintf(req + off, reqlen - off, "\r\n");
	request = uv_buf_init(req, (unsigned)off);

	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&loop) < 0)
		return 1;
	cs = calloc((size_t)conns, sizeof(*cs));
	if (cs == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	bl_init(&run, "loadgen", &lg_ops, &loop, cs, sizeof(*cs), conns);
	bl_start(&run, warm, dur);
	bl_connect_all(&run);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&loop);
	if (rc != 0)
		fprintf(stderr, "loadgen: uv_loop_close: %s\n",
		        uv_strerror(rc));

	secs = bl_seconds(&run);
	printf("requests=%llu errors=%llu non2xx=%llu rps=%.1f ",
	       (unsigned long long)run.requests, (unsigned long long)run.errors,
	       (unsigned long long)run.non2xx,
	       secs > 0 ? (double)run.requests / secs : 0.0);
	hist_print(&run.hist);
	printf(" conns=%d duration_s=%.3f warmup_requests=%llu "
	       "warmup_errors=%llu reconnects=%llu maxrss_kb=%ld\n",
	       conns, secs, (unsigned long long)run.warm_requests,
	       (unsigned long long)run.warm_errors,
	       (unsigned long long)run.reconnects, bl_maxrss_kb());
	fflush(stdout);
	if (run.errors + run.warm_errors > 0 && run.last_error[0])
		fprintf(stderr, "loadgen: last error: %s\n", run.last_error);
	rc = run.fatal ? 2 : run.requests == 0 ? 1 : 0;
	if (run.requests == 0 && !run.fatal)
		fprintf(stderr, "loadgen: no request completed\n");
	free(cs);
	free(req);
	return rc;
}
