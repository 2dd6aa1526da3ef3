/*
 * httpc.h: one blocking HTTP request with libcurl's easy interface, for
 * the programs that drive cairnd from outside (the demo season, the
 * crash loop): the same headers, body handling and "no answer" rule in
 * one place. cairnd itself never blocks: its outbound calls run on
 * libcurl's multi interface (adapters/outbox.c).
 */
#ifndef CAIRN_HTTPC_H
#define CAIRN_HTTPC_H

#include <stddef.h>

#include <curl/curl.h>

struct httpc_reply {
	long status; /* 0: no answer (refused, reset, cut off, timed out) */
	char *body;  /* NUL-terminated; NULL when empty; the caller frees */
	size_t len;
};

/*
 * Sends method url on h (reset first) and waits at most timeout_s for the
 * whole reply. token, when not NULL, goes as a bearer token; a body of
 * blen bytes goes with ctype (application/json when NULL) and no
 * "Expect: 100-continue"; extra is a NULL-terminated list of further
 * header lines, or NULL.
 */
void httpc_request(CURL *h, const char *url, const char *method,
                   const char *token, const char *ctype, const char *body,
                   size_t blen, const char *const *extra, long timeout_s,
                   struct httpc_reply *r);

#endif
