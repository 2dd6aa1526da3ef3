/*
 * test_openapi.c: docs/openapi.yaml and the router agree. Every route of
 * daemon/api.c's routes[] has its path and method in the document, and
 * every path and method of the document has a route (path parameters
 * matched by position, whatever their names). For each operation: its
 * path parameters are declared, a route that takes a JSON body has a
 * requestBody, and the routes open without a token are exactly those the
 * document marks with an empty security list.
 *
 * A new route fails this test until it is described: that is the point.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "../daemon/daemon.h"
#include "../daemon/router.h"

static yaml_document_t doc;

static void
load(void)
{
	yaml_parser_t p;
	FILE *f = fopen(CAIRN_SOURCE_DIR "/docs/openapi.yaml", "rb");

	cr_assert_not_null(f, "docs/openapi.yaml cannot be opened");
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	cr_assert(yaml_parser_load(&p, &doc),
	          "docs/openapi.yaml: %s at line %zu, column %zu", p.problem,
	          p.problem_mark.line + 1, p.problem_mark.column + 1);
	yaml_parser_delete(&p);
	fclose(f);
	cr_assert_not_null(yaml_document_get_root_node(&doc),
	                   "docs/openapi.yaml is empty");
}

static void
unload(void)
{
	yaml_document_delete(&doc);
}

TestSuite(openapi, .init = load, .fini = unload);

static const char *
scalar(yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE
	               ? (const char *)n->data.scalar.value
	               : NULL;
}

/* The value of key in mapping m, or NULL. */
static yaml_node_t *
get(yaml_node_t *m, const char *key)
{
	yaml_node_pair_t *pr;

	if (m == NULL || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top;
	     pr++) {
		const char *k = scalar(yaml_document_get_node(&doc, pr->key));

		if (k != NULL && !strcmp(k, key))
			return yaml_document_get_node(&doc, pr->value);
	}
	return NULL;
}

/* Follows a local $ref ("#/components/parameters/CaseId"), once. */
static yaml_node_t *
deref(yaml_node_t *n)
{
	const char *ref = scalar(get(n, "$ref"));
	char buf[256], *part, *save = NULL;
	yaml_node_t *at = yaml_document_get_root_node(&doc);

	if (ref == NULL)
		return n;
	cr_assert(strncmp(ref, "#/", 2) == 0, "$ref '%s' is not local", ref);
	snprintf(buf, sizeof(buf), "%s", ref + 2);
	for (part = strtok_r(buf, "/", &save); part;
	     part = strtok_r(NULL, "/", &save))
		at = get(at, part);
	cr_assert_not_null(at, "$ref '%s' leads nowhere", ref);
	return at;
}

/* "/v1/cases/{id}/events" -> "/v1/cases/{}/events" */
static void
normalize(const char *path, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = path; *p && o + 3 < len; p++) {
		if (*p == '{') {
			const char *e = strchr(p, '}');

			cr_assert_not_null(e, "unclosed parameter in %s", path);
			out[o++] = '{';
			out[o++] = '}';
			p = e;
			continue;
		}
		out[o++] = *p;
	}
	out[o] = '\0';
}

static const char *const methods[] = {"get",  "put",     "post", "delete",
                                      "head", "options", "patch"};

/* The operation for method and a normalized path, or NULL; *path_node
 * gets the path's key as written. */
static yaml_node_t *
find_op(const char *method, const char *norm, const char **written)
{
	yaml_node_t *paths = get(yaml_document_get_root_node(&doc), "paths");
	yaml_node_pair_t *pr;

	for (pr = paths->data.mapping.pairs.start;
	     pr < paths->data.mapping.pairs.top; pr++) {
		const char *k = scalar(yaml_document_get_node(&doc, pr->key));
		char n[512];
		yaml_node_t *item = yaml_document_get_node(&doc, pr->value);

		normalize(k, n, sizeof(n));
		if (strcmp(n, norm) != 0)
			continue;
		for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]);
		     i++)
			if (!strcasecmp(methods[i], method) &&
			    get(item, methods[i]) != NULL) {
				*written = k;
				return get(item, methods[i]);
			}
	}
	return NULL;
}

Test(openapi, every_route_is_described_and_every_description_routed)
{
	size_t n;
	const struct route *r = api_routes(&n);
	yaml_node_t *paths = get(yaml_document_get_root_node(&doc), "paths");
	yaml_node_pair_t *pr;
	char missing[4096] = "", extra[4096] = "";
	int ops = 0;

	cr_assert_str_eq(
	        scalar(get(yaml_document_get_root_node(&doc), "openapi")),
	        "3.1.0");
	cr_assert(paths != NULL && paths->type == YAML_MAPPING_NODE,
	          "no paths in docs/openapi.yaml");
	for (size_t i = 0; i < n; i++) {
		char norm[512];
		const char *w = NULL;

		normalize(r[i].pattern, norm, sizeof(norm));
		if (find_op(r[i].method, norm, &w) == NULL)
			snprintf(missing + strlen(missing),
			         sizeof(missing) - strlen(missing), "  %s %s\n",
			         r[i].method, r[i].pattern);
	}
	for (pr = paths->data.mapping.pairs.start;
	     pr < paths->data.mapping.pairs.top; pr++) {
		const char *k = scalar(yaml_document_get_node(&doc, pr->key));
		yaml_node_t *item = yaml_document_get_node(&doc, pr->value);
		char norm[512];

		normalize(k, norm, sizeof(norm));
		for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]);
		     m++) {
			int found = 0;
			char norm2[512];

			if (get(item, methods[m]) == NULL)
				continue;
			ops++;
			for (size_t i = 0; i < n && !found; i++) {
				normalize(r[i].pattern, norm2, sizeof(norm2));
				found = !strcasecmp(r[i].method, methods[m]) &&
				        !strcmp(norm2, norm);
			}
			if (!found)
				snprintf(extra + strlen(extra),
				         sizeof(extra) - strlen(extra),
				         "  %s %s\n", methods[m], k);
		}
	}
	cr_assert(missing[0] == '\0',
	          "routes of daemon/api.c missing from docs/openapi.yaml:\n%s",
	          missing);
	cr_assert(extra[0] == '\0',
	          "docs/openapi.yaml describes what the router lacks:\n%s",
	          extra);
	cr_assert_eq((size_t)ops, n, "%d operations for %zu routes", ops, n);
}

/* 1 when op (or the path item holding it) declares path parameter name */
static int
declares(yaml_node_t *item, yaml_node_t *op, const char *name)
{
	yaml_node_t *lists[2] = {get(op, "parameters"),
	                         get(item, "parameters")};

	for (int l = 0; l < 2; l++) {
		yaml_node_item_t *it;

		if (lists[l] == NULL || lists[l]->type != YAML_SEQUENCE_NODE)
			continue;
		for (it = lists[l]->data.sequence.items.start;
		     it < lists[l]->data.sequence.items.top; it++) {
			yaml_node_t *p =
			        deref(yaml_document_get_node(&doc, *it));
			const char *in = scalar(get(p, "in"));
			const char *nm = scalar(get(p, "name"));

			if (in && nm && !strcmp(in, "path") &&
			    !strcmp(nm, name))
				return 1;
		}
	}
	return 0;
}

Test(openapi, operations_match_their_routes)
{
	size_t n;
	const struct route *r = api_routes(&n);
	yaml_node_t *paths = get(yaml_document_get_root_node(&doc), "paths");

	for (size_t i = 0; i < n; i++) {
		char norm[512];
		const char *w = NULL;
		yaml_node_t *op, *sec, *resp;

		normalize(r[i].pattern, norm, sizeof(norm));
		op = find_op(r[i].method, norm, &w);
		if (op == NULL)
			continue; /* the other test names it */
		/* each {param} of the path is declared, by its name */
		for (const char *p = strchr(w, '{'); p;
		     p = strchr(p + 1, '{')) {
			char name[64];
			size_t len = strcspn(p + 1, "}");

			snprintf(name, sizeof(name), "%.*s", (int)len, p + 1);
			cr_assert(declares(get(paths, w), op, name),
			          "%s %s: path parameter '%s' is not declared",
			          r[i].method, w, name);
		}
		/* a route that reads a JSON body says what it takes */
		if (r[i].body)
			cr_assert_not_null(
			        get(op, "requestBody"),
			        "%s %s takes a JSON body; no requestBody",
			        r[i].method, w);
		/* open routes, and only they, take no token */
		sec = get(op, "security");
		if (r[i].roles == 0)
			cr_assert(
			        sec != NULL &&
			                sec->type == YAML_SEQUENCE_NODE &&
			                sec->data.sequence.items.top ==
			                        sec->data.sequence.items.start,
			        "%s %s needs no token: give it security: []",
			        r[i].method, w);
		else
			cr_assert(sec == NULL,
			          "%s %s takes a bearer token: no security "
			          "override",
			          r[i].method, w);
		/* at least one 2xx reply, and 401 where a token is needed */
		resp = get(op, "responses");
		cr_assert_not_null(resp, "%s %s: no responses", r[i].method, w);
		{
			int ok = 0;
			yaml_node_pair_t *pr;

			for (pr = resp->data.mapping.pairs.start;
			     pr < resp->data.mapping.pairs.top; pr++) {
				const char *code = scalar(
				        yaml_document_get_node(&doc, pr->key));

				if (code != NULL && code[0] == '2')
					ok = 1;
			}
			cr_assert(ok, "%s %s: no 2xx response", r[i].method, w);
		}
		if (r[i].roles != 0)
			cr_assert_not_null(get(resp, "401"),
			                   "%s %s: no 401 response",
			                   r[i].method, w);
	}
}

Test(openapi, every_reference_resolves)
{
	/* every node: a mapping with $ref must point somewhere */
	for (yaml_node_t *nd = doc.nodes.start; nd < doc.nodes.top; nd++)
		if (nd->type == YAML_MAPPING_NODE && get(nd, "$ref") != NULL)
			deref(nd);
}
