/*
 * httpc.c: one blocking request on libcurl's easy interface (httpc.h).
 */
#include "httpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t
on_body(char *p, size_t sz, size_t n, void *u)
{
	struct httpc_reply *r = u;
	char *b = realloc(r->body, r->len + sz * n + 1);

	if (b == NULL)
		return 0; /* libcurl fails the transfer: no answer */
	memcpy(b + r->len, p, sz * n);
	r->len += sz * n;
	b[r->len] = '\0';
	r->body = b;
	return sz * n;
}

void
httpc_request(CURL *h, const char *url, const char *method, const char *token,
              const char *ctype, const char *body, size_t blen,
              const char *const *extra, long timeout_s, struct httpc_reply *r)
{
	struct curl_slist *l = NULL;
	char line[256];

	memset(r, 0, sizeof(*r));
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		l = curl_slist_append(l, line);
	}
	if (body) {
		snprintf(line, sizeof(line), "Content-Type: %s",
		         ctype ? ctype : "application/json");
		l = curl_slist_append(l, line);
		l = curl_slist_append(l, "Expect:");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)blen);
	}
	for (int i = 0; extra && extra[i]; i++)
		l = curl_slist_append(l, extra[i]);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
	if (curl_easy_perform(h) != CURLE_OK)
		r->status = 0;
	else
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(l);
}
