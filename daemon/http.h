/*
 * http.h: HTTP/1.1 on the libuv loop, parsed by llhttp.
 *
 * The server owns connections and parsing; it knows nothing of routes.
 * Each complete request is handed to one handler function. Requests on a
 * connection are handled one at a time, in order: parsing pauses at the end
 * of each request and resumes once its response is written, which is what
 * keeps pipelined responses in order. Limits: header bytes (431), body
 * bytes (413), a deadline from the first byte of a request to its last
 * (408), an idle deadline between requests (closed quietly), a connection
 * cap (503). Errors the server answers itself are problem+json.
 */
#ifndef CAIRN_HTTP_H
#define CAIRN_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../common/cairn.h"

#define HTTP_MAX_HEADERS 64

struct http_server;
struct http_conn;

struct http_header {
	const char *name; /* as sent; compare case-insensitively */
	const char *value;
};

struct http_req {
	struct http_conn *conn;
	const char *method; /* "GET", ... */
	const char *path;   /* decoded of nothing; without the query */
	const char *query;  /* after '?', or "" */
	struct http_header headers[HTTP_MAX_HEADERS];
	int nheaders;
	const char *body; /* NUL-terminated copy; body_len bytes */
	size_t body_len;
	char request_id[48];
	uint64_t start_ns; /* uv_hrtime() when the request completed */
	int head;          /* a HEAD request: the body is not sent */
	const char *route; /* metrics label, set by the handler */
	const char *peer;  /* the socket peer's address ("unix" for a
	                    * socketpair, "unknown"), for logs */
	int peer_loopback; /* the peer is this machine (the TLS proxy) */
};

struct http_limits {
	int64_t max_body_bytes;
	int64_t max_header_bytes;
	int64_t request_timeout_ms;
	int64_t idle_timeout_ms;
	int max_connections;
};

/* Called for each complete request; the handler must eventually call
 * http_respond exactly once (possibly from a later callback). */
typedef void (*http_handler_fn)(struct http_req *req, void *data);
/* Called after each response is queued, for metrics and logs. */
typedef void (*http_observe_fn)(const struct http_req *req, int status,
                                double seconds, void *data);

struct http_server_opts {
	const char *host;
	int port; /* 0 asks the kernel for one; see http_server_port */
	struct http_limits limits;
	http_handler_fn handler;
	http_observe_fn observe; /* may be NULL */
	void *data;
};

int http_server_start(uv_loop_t *loop, const struct http_server_opts *o,
                      struct http_server **out, struct cairn_err *err);
int http_server_port(const struct http_server *s);
int http_server_connections(const struct http_server *s);

/*
 * Stops accepting, closes idle and half-received connections, lets the
 * requests being handled finish and their responses be written, then calls
 * done and frees the server (its handles close on the loop).
 * http_server_abort closes whatever is left at once (the shutdown deadline).
 */
void http_server_stop(struct http_server *s, void (*done)(void *), void *arg);
void http_server_abort(struct http_server *s);

/* The value of header name (case-insensitive), or NULL. */
const char *http_req_header(const struct http_req *r, const char *name);

/*
 * The client's address for logs: X-Forwarded-For's last entry (or
 * X-Real-IP) when the peer is loopback, that is the TLS proxy in front,
 * and the peer's own address otherwise, so a remote client cannot name
 * itself anything it likes. Returns buf or the request's peer string.
 */
const char *http_req_client(const struct http_req *r, char *buf, size_t size);

/*
 * Serves an already connected stream socket as if it had been accepted
 * (the server takes fd over). For the fuzz target and tests, which drive
 * the parser through a socketpair without a listener's port.
 */
int http_server_adopt(struct http_server *s, uv_os_sock_t fd);

/*
 * Sends a response and ends the request; body is copied. extra_headers,
 * if not NULL, is zero or more complete "Name: value\r\n" lines.
 * The request must not be used afterwards.
 */
void http_respond(struct http_req *r, int status, const char *content_type,
                  const char *extra_headers, const char *body, size_t len);

/* Ends the request by resetting the connection (TCP RST), with no
 * response: how a test server plays a network failing mid-call. */
void http_respond_reset(struct http_req *r);

/*
 * Streaming responses (Server-Sent Events). http_stream_open answers the
 * request with 200 and headers but no length, and keeps the connection
 * open on the loop: the body is what http_stream_write sends, until the
 * connection closes (so the response says Connection: close). It never
 * blocks: writes are queued, and a client that lets more than 256 KiB
 * pile up unread is cut off. `closed` is called exactly once, on the
 * loop, after the connection has closed for whatever reason (the client
 * left, http_stream_end, a write failed, the server stopped); the stream
 * stays valid until then and must not be used after. The server's stop
 * ends every stream. Returns NULL when the request was answered with an
 * error instead (the client already gone, or the server stopping);
 * closed is then never called. The request must not be used after.
 */
struct http_stream;
typedef void (*http_stream_closed_fn)(void *data);
struct http_stream *http_stream_open(struct http_req *r,
                                     const char *content_type,
                                     const char *extra_headers,
                                     http_stream_closed_fn closed, void *data);
/* 0, or -1 when the stream is ending (its closed callback will come). */
int http_stream_write(struct http_stream *s, const char *data, size_t len);
/* Ends the stream once what is queued has been sent. */
void http_stream_end(struct http_stream *s);

/*
 * A problem+json (RFC 9457) response: type is "urn:cairn:problem:" + slug,
 * title the status's reason phrase unless given, detail for a person.
 * extra (borrowed, may be NULL) holds further members, such as the byte
 * position of malformed JSON.
 */
void http_respond_problem(struct http_req *r, int status, const char *slug,
                          const char *detail, json_t *extra,
                          const char *extra_headers);

/* The reason phrase for a status code. */
const char *http_status_text(int status);

#endif
