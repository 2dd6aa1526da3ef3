/*
 * router.c: a linear walk over the route table. The table is a few dozen
 * entries; a walk with early exits on the first differing byte costs less
 * than building anything cleverer.
 */
#include "router.h"

#include <stdio.h>
#include <string.h>

static int
param_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
	       c == '@' || c == '-';
}

/* Matches path against pattern; fills params. Returns 1 on a match. */
static int
match_pattern(const char *pat, const char *path, struct route_match *m)
{
	int np = 0;

	while (*pat && *path) {
		if (*pat == '{') {
			const char *end = strchr(pat, '}');
			size_t n = 0;

			if (end == NULL || np == ROUTER_MAX_PARAMS)
				return 0;
			while (path[n] && path[n] != '/') {
				if (!param_char(path[n]))
					return 0;
				n++;
			}
			if (n == 0 || n >= ROUTER_PARAM_MAX)
				return 0;
			if ((n == 1 && path[0] == '.') ||
			    (n == 2 && path[0] == '.' && path[1] == '.'))
				return 0;
			memcpy(m->params[np], path, n);
			m->params[np][n] = '\0';
			m->param_ptrs[np] = m->params[np];
			np++;
			pat = end + 1;
			path += n;
			continue;
		}
		if (*pat != *path)
			return 0;
		pat++;
		path++;
	}
	if (*pat || *path)
		return 0;
	m->nparams = np;
	return 1;
}

static int
method_is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static void
allow_add(struct route_match *m, const char *method)
{
	size_t len = strlen(m->allow);

	/* GET brings HEAD along */
	if (strstr(m->allow, method) != NULL)
		return;
	snprintf(m->allow + len, sizeof(m->allow) - len, "%s%s",
	         len ? ", " : "", method);
}

int
router_match(const struct route *routes, size_t n, const char *method,
             const char *path, struct route_match *m)
{
	int path_known = 0;
	const char *want = method_is(method, "HEAD") ? "GET" : method;

	m->index = -1;
	m->nparams = 0;
	m->allow[0] = '\0';
	if (path[0] != '/' || strstr(path, "//") != NULL)
		return 404;
	for (size_t i = 0; i < n; i++) {
		struct route_match tmp;

		if (!match_pattern(routes[i].pattern, path, &tmp))
			continue;
		if (method_is(routes[i].method, want)) {
			*m = tmp;
			m->index = (int)i;
			m->allow[0] = '\0';
			return 200;
		}
		path_known = 1;
	}
	if (!path_known)
		return 404;
	for (size_t i = 0; i < n; i++) {
		struct route_match tmp;

		if (!match_pattern(routes[i].pattern, path, &tmp))
			continue;
		allow_add(m, routes[i].method);
		if (method_is(routes[i].method, "GET"))
			allow_add(m, "HEAD");
	}
	return 405;
}
