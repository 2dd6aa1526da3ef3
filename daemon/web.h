/*
 * web.h: the web console's files (web/), embedded into cairnd at build
 * time by scripts/embed-web.sh (build/gen/web_assets.c, never committed),
 * so the one binary serves them with nothing to install or configure.
 */
#ifndef CAIRN_WEB_H
#define CAIRN_WEB_H

#include <stddef.h>

struct web_asset {
	const char *name; /* "index.html": a file of web/, no directory */
	const unsigned char *data;
	size_t len;
	const char *etag; /* the first 16 hex digits of its SHA-256 */
};

extern const struct web_asset web_assets[];
extern const size_t web_nassets;

/* The asset for a request path ("/" is index.html), or NULL. */
const struct web_asset *web_asset_find(const char *path);
/* Its Content-Type, from the name's extension; NULL when the extension
 * is not one the console uses (such a file is never served). */
const char *web_content_type(const char *name);

#endif
