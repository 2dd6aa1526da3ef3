/*
 * router.h: matches a method and path against a table of routes.
 *
 * A pattern is a path whose segments are literals or "{name}" parameters;
 * a parameter matches one non-empty segment of [A-Za-z0-9._:@-]. A path
 * that matches some pattern under another method gets 405 with the
 * methods that would do; one that matches nothing gets 404.
 */
#ifndef CAIRN_ROUTER_H
#define CAIRN_ROUTER_H

#include <stddef.h>

#include "auth.h"

#define ROUTER_MAX_PARAMS 4
#define ROUTER_PARAM_MAX  136

struct api_call; /* defined by the API layer, opaque here */

struct route {
	const char *method;  /* "GET", "POST", ... */
	const char *pattern; /* "/v1/tokens/{id}"; also the metrics label */
	unsigned roles;      /* ROLE_BIT mask; 0 means no token needed */
	int body;            /* expects a JSON body */
	void (*handler)(struct api_call *call);
	/* per role in roles, which of its records the route reaches
	 * (enum auth_scope, indexed by enum role): with roles, one row of
	 * the authorization matrix (docs/security.md) */
	unsigned char scope[ROLE_COUNT];
};

struct route_match {
	int index; /* into the table, or -1 */
	int nparams;
	char params[ROUTER_MAX_PARAMS][ROUTER_PARAM_MAX];
	const char *param_ptrs[ROUTER_MAX_PARAMS];
	char allow[96]; /* "GET, HEAD, POST" when the result is 405 */
};

/*
 * Returns 200 (m->index set), 404, or 405 (m->allow set). HEAD matches a
 * GET route. Paths with empty segments, "." or ".." segments, or a
 * parameter with a character outside the allowed set do not match.
 */
int router_match(const struct route *routes, size_t n, const char *method,
                 const char *path, struct route_match *m);

#endif
