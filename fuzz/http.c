/*
 * http.c: HTTP/1.1 requests, through daemon/http.c's connection code
 * (llhttp, its callbacks, the limits, pipelining, Expect, upgrades and the
 * errors it answers itself). The input arrives on one connection, through
 * a socketpair the server adopts (http_server_adopt), so no port is read
 * and no network is used; then the client's side closes and the loop runs
 * until the server has closed the connection too. The handler answers at
 * once, or from a timer for paths under /later (a reply that comes after
 * more of the input has arrived), with what it parsed, so every
 * request's fields are read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../daemon/http.h"
#include "fuzz.h"

static uv_loop_t *loop;
static struct http_server *server;

struct later {
	uv_timer_t t;
	struct http_req *req;
};

static void
answer(struct http_req *r)
{
	char body[256];
	char client[64];
	int n = 0;

	for (int i = 0; i < r->nheaders; i++)
		n += (int)strlen(r->headers[i].name) +
		     (int)strlen(r->headers[i].value);
	snprintf(body, sizeof(body), "%s %.64s ?%.32s h=%d b=%zu %s\n",
	         r->method, r->path, r->query, n, r->body_len,
	         http_req_client(r, client, sizeof(client)));
	FUZZ_ASSERT(r->path[0] == '/');
	FUZZ_ASSERT(r->body[r->body_len] == '\0');
	if (strcmp(r->path, "/problem") == 0)
		http_respond_problem(r, 422, "invalid-body", r->body, NULL,
		                     NULL);
	else
		http_respond(r, 200, "text/plain", NULL, body, strlen(body));
}

static void
on_later_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
on_later(uv_timer_t *t)
{
	struct later *l = t->data;

	answer(l->req);
	uv_close((uv_handle_t *)&l->t, on_later_closed);
}

static void
handler(struct http_req *r, void *data)
{
	struct later *l;

	if (strncmp(r->path, "/later", 6) != 0) {
		answer(r);
		return;
	}
	l = calloc(1, sizeof(*l));
	FUZZ_ASSERT(l != NULL);
	l->req = r;
	uv_timer_init(loop, &l->t);
	l->t.data = l;
	uv_timer_start(&l->t, on_later, 0, 0);
}

/* The client's side: the input goes in, every reply is read and dropped. */
struct client {
	uv_pipe_t pipe;
	char buf[65536];
	int eof;
	int closed;
};

static void
on_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct client *cl = h->data;

	*b = uv_buf_init(cl->buf, sizeof(cl->buf));
}

static void
on_client_closed(uv_handle_t *h)
{
	struct client *cl = h->data;

	cl->closed = 1;
}

static void
on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct client *cl = s->data;

	if (n < 0) {
		cl->eof = 1;
		uv_close((uv_handle_t *)s, on_client_closed);
	}
}

static void
setup(void)
{
	struct http_server_opts o;
	struct cairn_err err;

	loop = uv_default_loop();
	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = 0;
	/* small limits, so the fuzzer reaches them with small inputs */
	o.limits.max_body_bytes = 4096;
	o.limits.max_header_bytes = 2048;
	o.limits.request_timeout_ms = 2000;
	o.limits.idle_timeout_ms = 2000;
	o.limits.max_connections = 4;
	o.handler = handler;
	if (http_server_start(loop, &o, &server, &err) != 0) {
		fprintf(stderr, "fuzz http: %s\n", err.msg);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	struct client cl;
	size_t off = 0;

	if (server == NULL)
		setup();
	if (size > 65536)
		return 0;
	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	FUZZ_ASSERT(http_server_adopt(server, sv[0]) == 0);
	/* the whole input is in the socket before the server reads: a
	 * unix socket's buffer holds 64 KiB at once */
	while (off < size) {
		ssize_t n = write(sv[1], data + off, size - off);

		if (n < 0 && errno == EINTR)
			continue;
		FUZZ_ASSERT(n > 0);
		off += (size_t)n;
	}
	shutdown(sv[1], SHUT_WR);
	memset(&cl, 0, sizeof(cl));
	uv_pipe_init(loop, &cl.pipe, 0);
	cl.pipe.data = &cl;
	FUZZ_ASSERT(uv_pipe_open(&cl.pipe, sv[1]) == 0);
	uv_read_start((uv_stream_t *)&cl.pipe, on_client_alloc, on_client_read);
	/* the listener keeps the loop alive: run until this connection is
	 * gone on both sides (the server closes after the client's EOF) */
	while (!cl.closed || http_server_connections(server) > 0)
		uv_run(loop, UV_RUN_ONCE);
	return 0;
}
