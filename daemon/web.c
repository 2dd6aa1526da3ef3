/*
 * web.c: GET / and GET /{file}: the web console's files, from memory.
 *
 * The files are compiled in (web.h), so there is no file system path to
 * walk and nothing to traverse: the router gives one segment of
 * [A-Za-z0-9._:@-] (never "." or ".."), and it is looked up by name in a
 * fixed table. Each reply carries an ETag (answering If-None-Match with
 * 304), Cache-Control: no-cache (a browser revalidates, so a new cairnd
 * serves its own console at once), and headers that confine the pages:
 * a Content-Security-Policy that allows scripts, styles and connections
 * only from cairnd itself and no inline script, no framing, no referrer,
 * no sniffing of types.
 */
#include "web.h"

#include <stdio.h>
#include <string.h>

#include "api_int.h"

#define WEB_SECURITY_HEADERS                                                   \
	"Content-Security-Policy: default-src 'none'; script-src 'self'; "     \
	"style-src 'self'; img-src 'self' data:; connect-src 'self'; "         \
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'\r\n"      \
	"X-Content-Type-Options: nosniff\r\n"                                  \
	"Referrer-Policy: no-referrer\r\n"                                     \
	"X-Frame-Options: DENY\r\n"                                            \
	"Cross-Origin-Opener-Policy: same-origin\r\n"                          \
	"Cross-Origin-Resource-Policy: same-origin\r\n"                        \
	"Permissions-Policy: camera=(), microphone=(), geolocation=()\r\n"

static const struct {
	const char *ext;
	const char *type;
} types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".ico", "image/x-icon"},
        {".png", "image/png"},
};

const char *
web_content_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

const struct web_asset *
web_asset_find(const char *path)
{
	const char *name;

	if (path[0] != '/')
		return NULL;
	name = path[1] ? path + 1 : "index.html";
	if (strchr(name, '/') != NULL)
		return NULL;
	for (size_t i = 0; i < web_nassets; i++)
		if (strcmp(web_assets[i].name, name) == 0)
			return &web_assets[i];
	return NULL;
}

/* Whether an If-None-Match value names etag (a list, weak or strong, or
 * "*"). */
static int
etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	if (inm == NULL)
		return 0;
	if (strcmp(inm, "*") == 0)
		return 1;
	for (const char *p = inm; (p = strstr(p, etag)) != NULL; p += n)
		if (p > inm && p[-1] == '"' && p[n] == '"')
			return 1;
	return 0;
}

void
api_h_web(struct api_call *c)
{
	const struct web_asset *a = web_asset_find(c->req->path);
	const char *type = a ? web_content_type(a->name) : NULL;
	char headers[1024];

	if (a == NULL || type == NULL) {
		api_route_unmatched(c->req);
		api_reply_problem(c, 404, "not-found", "no such route or file",
		                  NULL, NULL);
		return;
	}
	snprintf(headers, sizeof(headers),
	         "ETag: \"%s\"\r\nCache-Control: "
	         "no-cache\r\n" WEB_SECURITY_HEADERS,
	         a->etag);
	if (etag_matches(http_req_header(c->req, "If-None-Match"), a->etag)) {
		http_respond(c->req, 304, NULL, headers, NULL, 0);
		api_call_free(c);
		return;
	}
	http_respond(c->req, 200, type, headers, (const char *)a->data, a->len);
	api_call_free(c);
}
