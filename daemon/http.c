/*
 * http.c: the HTTP/1.1 server on the loop thread.
 *
 * Each connection owns a uv_tcp_t, a uv_timer_t for its deadlines, an input
 * buffer and an llhttp parser. llhttp reports spans of the input; they are
 * copied at once into the request's arena (bounded by the header limit) and
 * body buffer (bounded by the body limit), so the input buffer can be
 * compacted freely. on_message_complete pauses the parser: one request is
 * handled at a time, and the bytes after it wait in the input buffer until
 * the response is queued. That is all pipelining needs to stay in order.
 *
 * A connection's memory is freed only after both its handles have closed
 * and no request of it is being handled, so a handler may answer after the
 * client has gone away.
 */
#include "http.h"

#include <errno.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#define IN_INITIAL    8192
#define WRITE_HIGH    (1 << 20) /* stop parsing while this much is unsent */
#define ARENA_INITIAL 1024
/* a stream's client that has this much unsent is too slow: cut it off
 * rather than buffer without bound (it reconnects and reads afresh) */
#define STREAM_HIGH (256 * 1024)

enum conn_state {
	C_IDLE,     /* between requests */
	C_READING,  /* inside a request */
	C_HANDLING, /* the handler has the request */
};

struct http_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct http_server_opts o;
	llhttp_settings_t settings;
	struct http_conn *conns; /* doubly linked */
	int nconns;
	int stopping;
	int listener_closed;
	void (*done)(void *);
	void *done_arg;
	char id_prefix[12];
	uint64_t id_counter;
};

struct http_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct http_server *srv;
	struct http_conn *prev, *next;
	llhttp_t parser;
	enum conn_state state;

	char *in; /* unparsed input */
	size_t in_len, in_cap;

	/* the request being read: url and headers live in the arena as
	 * NUL-terminated strings at recorded offsets */
	char *arena;
	size_t arena_len, arena_cap;
	size_t url_off;
	size_t hdr_name_off[HTTP_MAX_HEADERS], hdr_value_off[HTTP_MAX_HEADERS];
	int nhdr;
	int in_field; /* the last span was a header field */
	int64_t hdr_bytes;
	char *body;
	size_t body_len, body_cap;
	int keep_alive;
	int upgrade;
	int err_status; /* set by a callback that stopped the parser */
	const char *err_detail;

	struct http_req req;
	int writes_pending;
	int reading;
	int in_process;  /* inside conn_process: respond must not re-enter */
	int close_after; /* close once the queued writes are sent */
	int closing;
	int closed_handles;
	/* a streaming response (http_stream_open): the connection stays in
	 * C_HANDLING until it closes, then stream_closed is called once */
	int streaming;
	http_stream_closed_fn stream_closed;
	void *stream_data;
	char peer[64];     /* the socket peer's address, "unix" or "unknown" */
	int peer_loopback; /* a proxy on this machine: XFF is believed */
};

struct write_req {
	uv_write_t w;
	struct http_conn *conn;
	size_t len;
	char data[];
};

static void conn_process(struct http_conn *c);
static void conn_close(struct http_conn *c);
static void conn_read_start(struct http_conn *c);

const char *
http_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 507:
		return "Insufficient Storage";
	default:
		return "Unknown";
	}
}

/* --- buffers ------------------------------------------------------------ */

static int
grow(char **buf, size_t *cap, size_t need, size_t initial)
{
	size_t n = *cap ? *cap : initial;
	char *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n);
	if (p == NULL)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

/* Appends a span to the arena, NUL-terminated so it can end a string;
 * spans of one token arrive in pieces, hence the overwrite of the NUL. */
static int
arena_append(struct http_conn *c, const char *at, size_t len)
{
	if (grow(&c->arena, &c->arena_cap, c->arena_len + len + 1,
	         ARENA_INITIAL) < 0)
		return -1;
	memcpy(c->arena + c->arena_len, at, len);
	c->arena_len += len;
	c->arena[c->arena_len] = '\0';
	return 0;
}

static int
arena_end_token(struct http_conn *c)
{
	if (arena_append(c, "", 0) < 0)
		return -1;
	c->arena_len++; /* keep the NUL */
	return 0;
}

static int
fail(struct http_conn *c, int status, const char *detail)
{
	c->err_status = status;
	c->err_detail = detail;
	return -1;
}

static int
count_header_bytes(struct http_conn *c, size_t len)
{
	c->hdr_bytes += (int64_t)len;
	if (c->hdr_bytes > c->srv->o.limits.max_header_bytes)
		return fail(c, 431,
		            "the request line and headers exceed the "
		            "server's limit");
	return 0;
}

/* --- llhttp callbacks ------------------------------------------------- */

static void on_timer(uv_timer_t *t);

/* (Re)arms the connection's one deadline. */
static void
timer_start(struct http_conn *c, int64_t ms)
{
	uv_timer_start(&c->timer, on_timer, (uint64_t)ms, 0);
}

static int
on_message_begin(llhttp_t *p)
{
	struct http_conn *c = p->data;

	c->state = C_READING;
	c->arena_len = 0;
	c->nhdr = 0;
	c->in_field = 0;
	c->hdr_bytes = 0;
	c->body_len = 0;
	c->url_off = 0;
	c->err_status = 0;
	timer_start(c, c->srv->o.limits.request_timeout_ms);
	return 0;
}

static int
on_url(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (count_header_bytes(c, len) < 0 || arena_append(c, at, len) < 0)
		return -1;
	return 0;
}

static int
on_url_complete(llhttp_t *p)
{
	return arena_end_token(p->data);
}

static int
on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (!c->in_field) {
		if (c->nhdr == HTTP_MAX_HEADERS)
			return fail(c, 431, "too many header fields");
		c->hdr_name_off[c->nhdr] = c->arena_len;
		c->in_field = 1;
	}
	/* 4 more bytes of ": " and CRLF per header, as sent */
	if (count_header_bytes(c, len + 4) < 0 || arena_append(c, at, len) < 0)
		return -1;
	return 0;
}

static int
on_header_field_complete(llhttp_t *p)
{
	struct http_conn *c = p->data;

	if (arena_end_token(c) < 0)
		return -1;
	c->hdr_value_off[c->nhdr] = c->arena_len;
	/* an empty value may get no span: its NUL must exist now. The name's
	 * NUL can fill the arena exactly, so this one may need room (found
	 * by fuzz/http: a one-byte heap overflow) */
	if (arena_append(c, "", 0) < 0)
		return -1;
	return 0;
}

static int
on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (count_header_bytes(c, len) < 0 || arena_append(c, at, len) < 0)
		return -1;
	return 0;
}

static int
on_header_value_complete(llhttp_t *p)
{
	struct http_conn *c = p->data;

	/* an empty value has no span: make sure its NUL exists */
	if (arena_end_token(c) < 0)
		return -1;
	c->nhdr++;
	c->in_field = 0;
	return 0;
}

static const char *
conn_header(struct http_conn *c, const char *name)
{
	for (int i = 0; i < c->nhdr; i++)
		if (strcasecmp(c->arena + c->hdr_name_off[i], name) == 0)
			return c->arena + c->hdr_value_off[i];
	return NULL;
}

static void conn_write_raw(struct http_conn *c, const char *data, size_t len);

static int
on_headers_complete(llhttp_t *p)
{
	struct http_conn *c = p->data;
	const char *expect;

	if ((p->flags & F_CONTENT_LENGTH) &&
	    p->content_length > (uint64_t)c->srv->o.limits.max_body_bytes)
		return fail(c, 413,
		            "the request body exceeds the server's "
		            "limit");
	expect = conn_header(c, "Expect");
	if (expect != NULL) {
		if (strcasecmp(expect, "100-continue") != 0)
			return fail(c, 417,
			            "only 'Expect: 100-continue' is "
			            "supported");
		if (p->http_major == 1 && p->http_minor == 1)
			conn_write_raw(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	}
	return 0;
}

static int
on_body(llhttp_t *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->body_len + len > (size_t)c->srv->o.limits.max_body_bytes)
		return fail(c, 413,
		            "the request body exceeds the server's "
		            "limit");
	if (grow(&c->body, &c->body_cap, c->body_len + len + 1, 1024) < 0)
		return -1;
	memcpy(c->body + c->body_len, at, len);
	c->body_len += len;
	return 0;
}

static int
on_message_complete(llhttp_t *p)
{
	struct http_conn *c = p->data;

	c->keep_alive = llhttp_should_keep_alive(p);
	c->upgrade = p->upgrade;
	return HPE_PAUSED;
}

/* --- responses ---------------------------------------------------------- */

static void
on_write(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;
	struct http_conn *c = wr->conn;

	free(wr);
	c->writes_pending--;
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->close_after && c->writes_pending == 0) {
		conn_close(c);
		return;
	}
	/* parsing may have stopped for a client that was not reading */
	if (c->state != C_HANDLING && !c->in_process)
		conn_process(c);
}

static void
conn_write_raw(struct http_conn *c, const char *data, size_t len)
{
	struct write_req *wr;
	uv_buf_t b;

	if (c->closing)
		return;
	wr = malloc(sizeof(*wr) + len);
	if (wr == NULL) {
		conn_close(c);
		return;
	}
	wr->conn = c;
	wr->len = len;
	memcpy(wr->data, data, len);
	b = uv_buf_init(wr->data, (unsigned)len);
	if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
		free(wr);
		conn_close(c);
		return;
	}
	c->writes_pending++;
}

static void
conn_maybe_free(struct http_conn *c)
{
	struct http_server *s = c->srv;

	if (c->closed_handles < 2 || c->state == C_HANDLING)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	free(c->in);
	free(c->arena);
	free(c->body);
	free(c);
	if (s->stopping && s->nconns == 0 && s->listener_closed && s->done) {
		void (*done)(void *) = s->done;
		void *arg = s->done_arg;

		s->done = NULL;
		free(s);
		done(arg);
	}
}

static void
on_conn_closed(uv_handle_t *h)
{
	struct http_conn *c = h->data;

	c->closed_handles++;
	if (c->closed_handles == 2 && c->streaming) {
		/* the owner learns of the end once, after the handles are
		 * closed, so it can never be called back from inside its own
		 * http_stream_write or http_stream_end */
		http_stream_closed_fn fn = c->stream_closed;
		void *arg = c->stream_data;

		c->streaming = 0;
		c->state = C_IDLE;
		if (fn != NULL)
			fn(arg);
	}
	conn_maybe_free(c);
}

static void
conn_close(struct http_conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void
request_finish(struct http_conn *c, int status)
{
	struct http_server *s = c->srv;

	if (s->o.observe != NULL)
		s->o.observe(&c->req, status,
		             (double)(uv_hrtime() - c->req.start_ns) / 1e9,
		             s->o.data);
	c->state = C_IDLE;
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	if (c->close_after) {
		if (c->writes_pending == 0)
			conn_close(c);
		return;
	}
	timer_start(c, s->o.limits.idle_timeout_ms);
	if (!c->in_process)
		conn_process(c);
}

void
http_respond(struct http_req *r, int status, const char *content_type,
             const char *extra_headers, const char *body, size_t len)
{
	struct http_conn *c = r->conn;
	char head[1024];
	int n;
	int close = !c->keep_alive || c->upgrade || c->srv->stopping ||
	            c->close_after;
	struct write_req *wr;
	uv_buf_t b;
	size_t send_len = r->head ? 0 : len;

	if (close)
		c->close_after = 1;
	if (c->closing) {
		request_finish(c, status);
		return;
	}
	n = snprintf(head, sizeof(head),
	             "HTTP/1.1 %d %s\r\n"
	             "Content-Length: %zu\r\n"
	             "%s%s%s"
	             "X-Request-Id: %s\r\n"
	             "%s%s"
	             "\r\n",
	             status, http_status_text(status), len,
	             content_type ? "Content-Type: " : "",
	             content_type ? content_type : "",
	             content_type ? "\r\n" : "", r->request_id,
	             close ? "Connection: close\r\n"
	                   : (c->parser.http_minor == 0
	                              ? "Connection: keep-alive\r\n"
	                              : ""),
	             extra_headers ? extra_headers : "");
	if (n < 0 || (size_t)n >= sizeof(head)) {
		conn_close(c);
		request_finish(c, status);
		return;
	}
	wr = malloc(sizeof(*wr) + (size_t)n + send_len);
	if (wr == NULL) {
		conn_close(c);
		request_finish(c, status);
		return;
	}
	wr->conn = c;
	wr->len = (size_t)n + send_len;
	memcpy(wr->data, head, (size_t)n);
	if (send_len)
		memcpy(wr->data + n, body, send_len);
	b = uv_buf_init(wr->data, (unsigned)wr->len);
	if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
		free(wr);
		conn_close(c);
	} else {
		c->writes_pending++;
	}
	request_finish(c, status);
}

void
http_respond_reset(struct http_req *r)
{
	struct http_conn *c = r->conn;

	c->close_after = 1;
	if (!c->closing) {
		c->closing = 1;
		if (uv_tcp_close_reset(&c->tcp, on_conn_closed) != 0)
			uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
		uv_close((uv_handle_t *)&c->timer, on_conn_closed);
	}
	request_finish(c, 0);
}

/* --- streaming responses ------------------------------------------------ */

struct http_stream *
http_stream_open(struct http_req *r, const char *content_type,
                 const char *extra_headers, http_stream_closed_fn closed,
                 void *data)
{
	struct http_conn *c = r->conn;
	struct http_server *s = c->srv;
	char head[1024];
	int n;

	if (c->closing || c->close_after || s->stopping) {
		/* the client is gone, or the server is going: no stream */
		http_respond_problem(r, 503, "unavailable",
		                     "the server is shutting down", NULL,
		                     "Retry-After: 5\r\n");
		return NULL;
	}
	/* no Content-Length: the body runs until the connection closes,
	 * which is also how a stream ends, so the connection is not kept */
	n = snprintf(head, sizeof(head),
	             "HTTP/1.1 200 OK\r\n"
	             "Content-Type: %s\r\n"
	             "X-Request-Id: %s\r\n"
	             "Connection: close\r\n"
	             "%s"
	             "\r\n",
	             content_type, r->request_id,
	             extra_headers ? extra_headers : "");
	if (n < 0 || (size_t)n >= sizeof(head)) {
		http_respond_problem(r, 500, "internal",
		                     "the stream's headers are too long", NULL,
		                     NULL);
		return NULL;
	}
	c->streaming = 1;
	c->stream_closed = closed;
	c->stream_data = data;
	uv_timer_stop(&c->timer);
	if (s->o.observe != NULL)
		s->o.observe(r, 200, (double)(uv_hrtime() - r->start_ns) / 1e9,
		             s->o.data);
	conn_write_raw(c, head, (size_t)n);
	/* reading goes on, to learn when the client leaves */
	if (!c->closing && !c->reading)
		conn_read_start(c);
	return (struct http_stream *)c;
}

int
http_stream_write(struct http_stream *st, const char *data, size_t len)
{
	struct http_conn *c = (struct http_conn *)st;

	if (c->closing || c->close_after)
		return -1;
	if (c->tcp.write_queue_size > STREAM_HIGH) {
		conn_close(c);
		return -1;
	}
	conn_write_raw(c, data, len);
	return c->closing ? -1 : 0;
}

void
http_stream_end(struct http_stream *st)
{
	struct http_conn *c = (struct http_conn *)st;

	if (c->closing || c->close_after)
		return;
	c->close_after = 1;
	if (c->writes_pending == 0)
		conn_close(c);
}

void
http_respond_problem(struct http_req *r, int status, const char *slug,
                     const char *detail, json_t *extra,
                     const char *extra_headers)
{
	char type[128];
	json_t *o = json_object();
	char *text;

	snprintf(type, sizeof(type), "urn:cairn:problem:%s", slug);
	if (o != NULL) {
		json_object_set_new(o, "type", json_string(type));
		json_object_set_new(o, "title",
		                    json_string(http_status_text(status)));
		json_object_set_new(o, "status", json_integer(status));
		if (detail != NULL) {
			json_t *d = json_string(detail);

			json_object_set_new(
			        o, "detail",
			        d ? d : json_string("(detail not UTF-8)"));
		}
		json_object_set_new(o, "request_id",
		                    json_string(r->request_id));
		if (extra != NULL)
			json_object_update(o, extra);
	}
	text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (text == NULL) {
		static const char fallback[] =
		        "{\"type\":\"urn:cairn:problem:internal\","
		        "\"title\":\"Internal Server Error\",\"status\":500}";
		http_respond(r, 500, "application/problem+json", NULL, fallback,
		             sizeof(fallback) - 1);
		return;
	}
	http_respond(r, status, "application/problem+json", extra_headers, text,
	             strlen(text));
	free(text);
}

const char *
http_req_header(const struct http_req *r, const char *name)
{
	for (int i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* Whether s is a printable address a proxy could have written (IPv4,
 * IPv6, with no spaces or control bytes): anything else is not logged. */
static int
addr_plausible(const char *s, size_t n)
{
	if (n == 0 || n >= 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F') || ch == '.' || ch == ':'))
			return 0;
	}
	return 1;
}

const char *
http_req_client(const struct http_req *r, char *buf, size_t size)
{
	const char *xff, *last;
	size_t n;

	if (!r->peer_loopback)
		return r->peer;
	/* the proxy appends the address it saw to whatever the client
	 * sent, so only the last entry is the proxy's word */
	xff = http_req_header(r, "X-Forwarded-For");
	if (xff == NULL) {
		const char *real = http_req_header(r, "X-Real-IP");

		if (real == NULL || !addr_plausible(real, strlen(real)))
			return r->peer;
		snprintf(buf, size, "%s", real);
		return buf;
	}
	last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	while (*last == ' ' || *last == '\t')
		last++;
	n = strlen(last);
	while (n > 0 && (last[n - 1] == ' ' || last[n - 1] == '\t'))
		n--;
	if (!addr_plausible(last, n) || n + 1 > size)
		return r->peer;
	memcpy(buf, last, n);
	buf[n] = '\0';
	return buf;
}

/* --- dispatch ----------------------------------------------------------- */

static int
request_id_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char ch = s[n];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		      ch == '.' || ch == ':'))
			return 0;
	}
	return n > 0 && n < 40;
}

static void
request_prepare(struct http_conn *c)
{
	struct http_req *r = &c->req;
	struct http_server *s = c->srv;
	char *url = c->arena ? c->arena + c->url_off : (char *)"";
	char *q;
	const char *rid;

	memset(r, 0, sizeof(*r));
	r->conn = c;
	r->method = llhttp_method_name((llhttp_method_t)c->parser.method);
	r->head = c->parser.method == HTTP_HEAD;
	q = strchr(url, '?');
	if (q != NULL) {
		*q = '\0';
		r->query = q + 1;
	} else {
		r->query = "";
	}
	r->path = url;
	for (int i = 0; i < c->nhdr; i++) {
		r->headers[i].name = c->arena + c->hdr_name_off[i];
		r->headers[i].value = c->arena + c->hdr_value_off[i];
	}
	r->nheaders = c->nhdr;
	r->peer = c->peer;
	r->peer_loopback = c->peer_loopback;
	if (grow(&c->body, &c->body_cap, c->body_len + 1, 1024) == 0)
		c->body[c->body_len] = '\0';
	r->body = c->body ? c->body : "";
	r->body_len = c->body_len;
	r->start_ns = uv_hrtime();
	rid = http_req_header(r, "X-Request-Id");
	if (rid != NULL && request_id_valid(rid))
		snprintf(r->request_id, sizeof(r->request_id), "%s", rid);
	else
		snprintf(r->request_id, sizeof(r->request_id), "%s-%llx",
		         s->id_prefix, (unsigned long long)++s->id_counter);
}

static void
conn_fail(struct http_conn *c, int status, const char *slug, const char *detail)
{
	/* the stream can no longer be parsed: answer and close */
	request_prepare(c);
	c->state = C_HANDLING;
	c->close_after = 1;
	uv_timer_stop(&c->timer);
	http_respond_problem(&c->req, status, slug, detail, NULL, NULL);
}

static void
conn_process(struct http_conn *c)
{
	struct http_server *s = c->srv;
	size_t off = 0;

	c->in_process = 1;
	while (!c->closing && !c->close_after && c->state != C_HANDLING &&
	       off < c->in_len) {
		llhttp_errno_t e;

		if (c->tcp.write_queue_size > WRITE_HIGH) {
			/* the client is not reading its replies: stop
			 * reading its requests too, until it catches up */
			if (c->reading) {
				uv_read_stop((uv_stream_t *)&c->tcp);
				c->reading = 0;
			}
			break;
		}
		e = llhttp_execute(&c->parser, c->in + off, c->in_len - off);
		if (e == HPE_OK) {
			off = c->in_len;
			break;
		}
		if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
			off = (size_t)(llhttp_get_error_pos(&c->parser) -
			               c->in);
			if (e == HPE_PAUSED_UPGRADE) {
				/* what follows is another protocol, which we
				 * do not speak: answer this request, close */
				c->upgrade = 1;
				llhttp_resume_after_upgrade(&c->parser);
			} else {
				llhttp_resume(&c->parser);
			}
			if (c->parser.method == HTTP_CONNECT) {
				conn_fail(c, 405, "method-not-allowed",
				          "CONNECT is not supported");
				break;
			}
			request_prepare(c);
			if (c->req.path[0] != '/') {
				conn_fail(c, 400, "bad-request",
				          "the request target must be a path "
				          "starting with '/'");
				break;
			}
			c->state = C_HANDLING;
			uv_timer_stop(&c->timer);
			s->o.handler(&c->req, s->o.data);
			continue;
		}
		/* a parse error, or a limit a callback enforced */
		if (c->err_status)
			conn_fail(c, c->err_status,
			          c->err_status == 413   ? "body-too-large"
			          : c->err_status == 431 ? "headers-too-large"
			          : c->err_status == 417 ? "expectation-failed"
			                                 : "bad-request",
			          c->err_detail);
		else
			conn_fail(c, 400, "malformed-request",
			          llhttp_get_error_reason(&c->parser));
		off = c->in_len;
		break;
	}
	c->in_process = 0;
	if (c->closing)
		return;
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	if (c->close_after)
		return;
	/* the handler may have answered at once: parse what is buffered */
	if (c->state != C_HANDLING && c->in_len > 0 &&
	    c->tcp.write_queue_size <= WRITE_HIGH) {
		conn_process(c);
		return;
	}
	/* read while there is room; a pipelining client that sends more than
	 * a request's worth while one is handled waits for us */
	if (!c->reading && c->tcp.write_queue_size <= WRITE_HIGH &&
	    c->in_len < (size_t)(s->o.limits.max_header_bytes +
	                         s->o.limits.max_body_bytes)) {
		conn_read_start(c);
	}
}

/* --- connections -------------------------------------------------------- */

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct http_conn *c = h->data;

	if (grow(&c->in, &c->in_cap, c->in_len + 4096, IN_INITIAL) < 0) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = c->in + c->in_len;
	buf->len = c->in_cap - c->in_len;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void
conn_read_start(struct http_conn *c)
{
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
		c->reading = 1;
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct http_conn *c = st->data;
	size_t limit = (size_t)(c->srv->o.limits.max_header_bytes +
	                        c->srv->o.limits.max_body_bytes);

	if (nread > 0 && c->streaming) {
		/* a stream's client has nothing more to say: what it sends
		 * is dropped, and reading goes on only to see it leave */
		return;
	}
	if (nread > 0) {
		c->in_len += (size_t)nread;
		/* unparsed input is bounded whatever the state: a request
		 * and its body at most */
		if (c->in_len >= limit) {
			uv_read_stop(st);
			c->reading = 0;
		}
		if (c->state == C_HANDLING || c->in_process)
			return;
		conn_process(c);
		return;
	}
	if (nread == 0)
		return;
	/* EOF or an error */
	uv_read_stop(st);
	c->reading = 0;
	if (c->streaming) {
		conn_close(c);
		return;
	}
	if (nread == UV_EOF && c->state == C_READING && !c->closing &&
	    !c->close_after) {
		/* cut off halfway: say so, the client may still read */
		conn_fail(c, 400, "incomplete-request",
		          "the connection ended before the request was "
		          "complete");
		return;
	}
	if (c->state == C_HANDLING || c->writes_pending > 0) {
		c->close_after = 1;
		if (nread != UV_EOF)
			conn_close(c);
		return;
	}
	conn_close(c);
}

static void
on_timer(uv_timer_t *t)
{
	struct http_conn *c = t->data;

	if (c->state == C_READING && !c->close_after) {
		conn_fail(c, 408, "request-timeout",
		          "the request was not received in time");
		return;
	}
	conn_close(c);
}

/* Past the connection cap: a short answer and a close, without parsing. */
static void
on_refused_closed(uv_handle_t *h)
{
	free(h);
}

static void
refuse_connection(struct http_server *s)
{
	static const char body[] =
	        "{\"type\":\"urn:cairn:problem:too-many-connections\","
	        "\"title\":\"Service Unavailable\",\"status\":503,"
	        "\"detail\":\"the server is at its connection limit\"}";
	char resp[512];
	int n = snprintf(resp, sizeof(resp),
	                 "HTTP/1.1 503 Service Unavailable\r\n"
	                 "Content-Type: application/problem+json\r\n"
	                 "Connection: close\r\nRetry-After: 1\r\n"
	                 "Content-Length: %zu\r\n\r\n%s",
	                 sizeof(body) - 1, body);
	uv_tcp_t *t = malloc(sizeof(*t));
	uv_buf_t b = uv_buf_init(resp, (unsigned)n);

	if (t == NULL)
		return;
	uv_tcp_init(s->loop, t);
	/* best effort: a fresh socket's send buffer takes this at once */
	if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)t) == 0)
		uv_try_write((uv_stream_t *)t, &b, 1);
	uv_close((uv_handle_t *)t, on_refused_closed);
}

/* A new connection's memory and handles, linked into the server. */
static struct http_conn *
conn_new(struct http_server *s)
{
	struct http_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->srv = s;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->timer.timer_cb = on_timer;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	return c;
}

/*
 * Records the peer's address: the log names the client, and only a
 * loopback peer (the TLS proxy in front) is believed when it says, in
 * X-Forwarded-For, who its client was.
 */
static void
conn_set_peer(struct http_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	/* a peer that cannot be named is not believed */
	snprintf(c->peer, sizeof(c->peer), "unknown");
	c->peer_loopback = 0;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_UNIX) {
		/* a socketpair or a unix socket: this machine */
		snprintf(c->peer, sizeof(c->peer), "unix");
		c->peer_loopback = 1;
	} else if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

		uv_ip4_name(a, c->peer, sizeof(c->peer));
		c->peer_loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
		static const unsigned char v4mapped[12] = {
		        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		const unsigned char *b = a->sin6_addr.s6_addr;

		uv_ip6_name(a, c->peer, sizeof(c->peer));
		c->peer_loopback =
		        IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ||
		        (memcmp(b, v4mapped, sizeof(v4mapped)) == 0 &&
		         b[12] == 127);
	}
}

/* Starts serving a connection whose socket is open. */
static void
conn_start(struct http_conn *c)
{
	struct http_server *s = c->srv;

	conn_set_peer(c);
	llhttp_init(&c->parser, HTTP_REQUEST, &s->settings);
	c->parser.data = c;
	c->keep_alive = 1;
	uv_timer_start(&c->timer, on_timer,
	               (uint64_t)s->o.limits.idle_timeout_ms, 0);
	conn_read_start(c);
}

static void
on_connection(uv_stream_t *l, int status)
{
	struct http_server *s = l->data;
	struct http_conn *c;

	if (status < 0 || s->stopping)
		return;
	if (s->nconns >= s->o.limits.max_connections) {
		refuse_connection(s);
		return;
	}
	c = conn_new(s);
	if (c == NULL) {
		refuse_connection(s);
		return;
	}
	if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	conn_start(c);
}

int
http_server_adopt(struct http_server *s, uv_os_sock_t fd)
{
	struct http_conn *c;
	int rc;

	if (s->stopping)
		return UV_ECANCELED;
	c = conn_new(s);
	if (c == NULL)
		return UV_ENOMEM;
	rc = uv_tcp_open(&c->tcp, fd);
	if (rc < 0) {
		conn_close(c);
		return rc;
	}
	conn_start(c);
	return 0;
}

/* --- the server ----------------------------------------------------------- */

static void
on_failed_listener_closed(uv_handle_t *h)
{
	free(h->data);
}

int
http_server_start(uv_loop_t *loop, const struct http_server_opts *o,
                  struct http_server **out, struct cairn_err *err)
{
	struct http_server *s;
	struct sockaddr_storage addr;
	unsigned char rnd[4];
	int rc;

	memset(&addr, 0, sizeof(addr));
	if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&addr) != 0 &&
	    uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&addr) != 0) {
		uv_getaddrinfo_t gai;
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM};

		rc = uv_getaddrinfo(loop, &gai, NULL, o->host, NULL, &hints);
		if (rc != 0) {
			cairn_err_set(err, "", 0, 0, "cannot resolve %s: %s",
			              o->host, uv_strerror(rc));
			return rc;
		}
		memcpy(&addr, gai.addrinfo->ai_addr, gai.addrinfo->ai_addrlen);
		if (addr.ss_family == AF_INET)
			((struct sockaddr_in *)&addr)->sin_port =
			        htons((uint16_t)o->port);
		else
			((struct sockaddr_in6 *)&addr)->sin6_port =
			        htons((uint16_t)o->port);
		uv_freeaddrinfo(gai.addrinfo);
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->loop = loop;
	s->o = *o;
	llhttp_settings_init(&s->settings);
	s->settings.on_message_begin = on_message_begin;
	s->settings.on_url = on_url;
	s->settings.on_url_complete = on_url_complete;
	s->settings.on_header_field = on_header_field;
	s->settings.on_header_field_complete = on_header_field_complete;
	s->settings.on_header_value = on_header_value;
	s->settings.on_header_value_complete = on_header_value_complete;
	s->settings.on_headers_complete = on_headers_complete;
	s->settings.on_body = on_body;
	s->settings.on_message_complete = on_message_complete;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	snprintf(s->id_prefix, sizeof(s->id_prefix), "%02x%02x%02x%02x", rnd[0],
	         rnd[1], rnd[2], rnd[3]);

	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, 1024,
		               on_connection);
	if (rc != 0) {
		cairn_err_set(err, "", 0, 0, "cannot listen on %s:%d: %s",
		              o->host, o->port, uv_strerror(rc));
		/* the handle is closed with the server still allocated;
		 * freeing it in the close callback keeps libuv's rule */
		uv_close((uv_handle_t *)&s->listener,
		         on_failed_listener_closed);
		return rc;
	}
	*out = s;
	return 0;
}

int
http_server_port(const struct http_server *s)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int
http_server_connections(const struct http_server *s)
{
	return s->nconns;
}

static void
on_listener_closed(uv_handle_t *h)
{
	struct http_server *s = h->data;

	s->listener_closed = 1;
	if (s->nconns == 0 && s->done) {
		void (*done)(void *) = s->done;
		void *arg = s->done_arg;

		s->done = NULL;
		free(s);
		done(arg);
	}
}

void
http_server_stop(struct http_server *s, void (*done)(void *), void *arg)
{
	struct http_conn *c, *next;

	s->stopping = 1;
	s->done = done;
	s->done_arg = arg;
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		if (c->streaming) {
			/* a stream has no end of its own: it ends now,
			 * after what is queued for it is sent */
			http_stream_end((struct http_stream *)c);
			continue;
		}
		if (c->state == C_HANDLING || c->writes_pending > 0)
			c->close_after = 1;
		else
			conn_close(c);
	}
	uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

void
http_server_abort(struct http_server *s)
{
	for (struct http_conn *c = s->conns; c != NULL; c = c->next)
		conn_close(c);
}
