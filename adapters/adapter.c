/*
 * adapter.c: loading and validating adapter definitions, and the pure
 * parts of delivery (templates, backoff, the circuit breaker, signatures).
 *
 * A definition is read with libyaml's document API through yamlfile.h and
 * checked key by key: unknown keys, wrong types, bad durations, bad
 * template references and inline secrets are errors at their node's line
 * and column, and loading goes on after an error so one run shows them
 * all. A template reference is checked against the sources that exist
 * where it is used ($response only in a reply mapping); whether a case's
 * data holds a field can only be known per call, and a missing field then
 * fails that call with the field's name.
 */
#include "adapter.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../common/yamlfile.h"
#include "../daemon/config.h"
#include "../workflows/defs.h"

#define ADP_MAX_DEPTH  32
#define ADP_SECRET_MAX 4096
#define ADP_DIR_DEPTH  16

struct aload {
	const char *path;
	char dir[PATH_MAX]; /* the file's directory with '/', or "" */
	yaml_document_t *doc;
	adp_report_cb cb;
	void *data;
	int errors;
	int oom;
};

static void aerr(struct aload *ld, const yaml_node_t *n, int warning,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
aerr(struct aload *ld, const yaml_node_t *n, int warning, const char *fmt, ...)
{
	struct cairn_err e;
	char msg[sizeof(e.msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cairn_err_set(&e, ld->path, n ? (int)n->start_mark.line + 1 : 0,
	              n ? (int)n->start_mark.column + 1 : 0, "%s", msg);
	if (!warning)
		ld->errors++;
	if (ld->cb)
		ld->cb(&e, warning, ld->data);
}

static char *
xdup(struct aload *ld, const char *s)
{
	char *p = s ? strdup(s) : NULL;

	if (s && !p)
		ld->oom = 1;
	return p;
}

static yaml_node_t *
nat(struct aload *ld, int i)
{
	return yaml_document_get_node(ld->doc, i);
}

static const char *
sval(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
	                                   : NULL;
}

/* The value under key k of mapping m, or NULL. */
static yaml_node_t *
mget(struct aload *ld, const yaml_node_t *m, const char *k)
{
	yaml_node_pair_t *p;

	if (m->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const char *key = sval(nat(ld, p->key));

		if (key && !strcmp(key, k))
			return nat(ld, p->value);
	}
	return NULL;
}

/* m must be a mapping whose keys are among allowed; 0 or -1. */
static int
keys_ok(struct aload *ld, const yaml_node_t *m, const char *what,
        const char *const *allowed)
{
	yaml_node_pair_t *p;
	int bad = 0;

	if (m->type != YAML_MAPPING_NODE) {
		aerr(ld, m, 0, "%s must be a mapping, not %s", what,
		     yamlfile_node_kind(m));
		return -1;
	}
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = nat(ld, p->key);
		const char *key = sval(k);
		char list[400] = "";
		int i;

		for (i = 0; key && allowed[i]; i++)
			if (!strcmp(key, allowed[i]))
				break;
		if (key && allowed[i])
			continue;
		for (int j = 0; allowed[j]; j++) {
			if (j)
				strncat(list, ", ",
				        sizeof(list) - strlen(list) - 1);
			strncat(list, allowed[j],
			        sizeof(list) - strlen(list) - 1);
		}
		aerr(ld, k, 0, "unknown key '%.64s' in %s; expected one of: %s",
		     key ? key : "?", what, list);
		bad = 1;
	}
	return bad ? -1 : 0;
}

/* A non-empty string scalar; NULL after reporting. */
static const char *
get_str(struct aload *ld, const yaml_node_t *n, const char *what)
{
	const char *v = sval(n);

	if (v == NULL) {
		aerr(ld, n, 0, "%s must be a string, not %s", what,
		     yamlfile_node_kind(n));
		return NULL;
	}
	if (v[0] == '\0' || strlen(v) != n->data.scalar.length) {
		aerr(ld, n, 0, "%s must be a non-empty string without NUL",
		     what);
		return NULL;
	}
	return v;
}

static int
get_duration(struct aload *ld, const yaml_node_t *n, const char *what,
             int64_t min, int64_t *out)
{
	const char *v = get_str(ld, n, what);
	int64_t ms;

	if (v == NULL)
		return -1;
	if (config_parse_duration(v, &ms) != 0 || ms < min) {
		aerr(ld, n, 0,
		     "%s: '%.40s' is not a duration of at least %lld ms "
		     "(e.g. 250ms, 10s, 5m)",
		     what, v, (long long)min);
		return -1;
	}
	*out = ms;
	return 0;
}

static int
get_int(struct aload *ld, const yaml_node_t *n, const char *what, long min,
        long max, int *out)
{
	const char *v = get_str(ld, n, what);
	char *end;
	long x;

	if (v == NULL)
		return -1;
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || *end || end == v || x < min || x > max) {
		aerr(ld, n, 0,
		     "%s: '%.40s' is not a whole number from %ld to %ld", what,
		     v, min, max);
		return -1;
	}
	*out = (int)x;
	return 0;
}

static int
get_num(struct aload *ld, const yaml_node_t *n, const char *what, double min,
        double max, double *out)
{
	const char *v = get_str(ld, n, what);
	char *end;
	double x;

	if (v == NULL)
		return -1;
	errno = 0;
	x = strtod(v, &end);
	if (errno || *end || end == v || !isfinite(x) || x < min || x > max) {
		aerr(ld, n, 0, "%s: '%.40s' is not a number from %g to %g",
		     what, v, min, max);
		return -1;
	}
	*out = x;
	return 0;
}

/* --- secrets -------------------------------------------------------------- */

/* Reads what a secret names; failure is not an error of the definition
 * (the file may be installed later, the variable set on the server) but a
 * warning, and calls that need it fail with s->why. */
static void
secret_resolve(struct adp_secret *s)
{
	const char *v;
	FILE *f;
	char buf[ADP_SECRET_MAX + 1];
	size_t n;

	s->why[0] = '\0';
	if (s->env) {
		v = getenv(s->env);
		if (v == NULL || v[0] == '\0') {
			snprintf(s->why, sizeof(s->why),
			         "environment variable %.64s is not set",
			         s->env);
			return;
		}
		s->value = strdup(v);
		s->len = s->value ? strlen(v) : 0;
		return;
	}
	f = fopen(s->file, "r");
	if (f == NULL) {
		snprintf(s->why, sizeof(s->why), "cannot read %.100s: %s",
		         s->file, strerror(errno));
		return;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n == 0 || n > ADP_SECRET_MAX) {
		snprintf(s->why, sizeof(s->why), "%.100s is %s", s->file,
		         n ? "too large for a secret" : "empty");
		OPENSSL_cleanse(buf, sizeof(buf));
		return;
	}
	s->value = malloc(n + 1);
	if (s->value) {
		memcpy(s->value, buf, n);
		s->value[n] = '\0';
		s->len = n;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
}

static void
secret_free(struct adp_secret *s)
{
	free(s->env);
	free(s->file);
	if (s->value) {
		OPENSSL_cleanse(s->value, s->len);
		free(s->value);
	}
	memset(s, 0, sizeof(*s));
}

/* {env: NAME} or {file: PATH}; a bare string is refused as an inline
 * secret. */
static void
load_secret(struct aload *ld, const yaml_node_t *n, const char *what,
            struct adp_secret *s)
{
	static const char *const keys[] = {"env", "file", NULL};
	yaml_node_t *env, *file;
	const char *v;
	char path[PATH_MAX];

	if (n->type == YAML_SCALAR_NODE) {
		aerr(ld, n, 0,
		     "%s must name where the secret is ({env: VARIABLE} or "
		     "{file: PATH}); secrets are never written in a "
		     "definition",
		     what);
		return;
	}
	if (keys_ok(ld, n, what, keys) != 0)
		return;
	env = mget(ld, n, "env");
	file = mget(ld, n, "file");
	if ((env == NULL) == (file == NULL)) {
		aerr(ld, n, 0, "%s needs exactly one of env and file", what);
		return;
	}
	if (env) {
		if ((v = get_str(ld, env, "env")) == NULL)
			return;
		for (const char *p = v; *p; p++)
			if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= 'a' && *p <= 'z') ||
			      (p > v && *p >= '0' && *p <= '9'))) {
				aerr(ld, env, 0,
				     "env: '%.64s' is not an environment "
				     "variable name",
				     v);
				return;
			}
		s->env = xdup(ld, v);
	} else {
		if ((v = get_str(ld, file, "file")) == NULL)
			return;
		snprintf(path, sizeof(path), "%s%s", v[0] == '/' ? "" : ld->dir,
		         v);
		s->file = xdup(ld, path);
	}
	secret_resolve(s);
	if (s->value == NULL && s->why[0])
		aerr(ld, n, 1,
		     "%s: %s; what needs it fails until it is "
		     "available",
		     what, s->why);
}

/* --- templates ------------------------------------------------------------ */

enum { CTX_REQUEST = 0, CTX_RESPONSE = 1 };

/* Checks a reference "source.path" (without '$', '?'); NULL if fine,
 * else why not. */
static const char *
ref_check(const char *r, size_t len, int ctx)
{
	static const char *const plain[] = {"case_id", "idempotency_key",
	                                    "adapter", "operation",
	                                    "now",     NULL};
	size_t slen = strcspn(r, ".");

	if (slen > len)
		slen = len;
	if (len == 0)
		return "an empty reference";
	for (int i = 0; plain[i]; i++)
		if (slen == strlen(plain[i]) && !strncmp(r, plain[i], slen))
			return slen == len ? NULL : "this source has no fields";
	if ((slen == 4 && !strncmp(r, "data", 4)) ||
	    (slen == 7 && !strncmp(r, "payload", 7)) ||
	    (slen == 8 && !strncmp(r, "response", 8))) {
		if (slen == 8 && ctx != CTX_RESPONSE)
			return "$response exists only in a reply mapping";
		for (size_t i = slen; i < len; i++) {
			char c = r[i];

			if (c == '.' && (i + 1 == len || r[i + 1] == '.'))
				return "an empty field name";
			if (!(c == '.' || c == '_' || c == '-' ||
			      (c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
				return "field names are letters, digits, "
				       "'_' and '-'";
		}
		return NULL;
	}
	if (slen == 6 && !strncmp(r, "status", 6))
		return ctx == CTX_RESPONSE
		               ? (slen == len ? NULL
		                              : "this source has no fields")
		               : "$status exists only in a reply mapping";
	return "unknown source; expected data, payload, case_id, "
	       "idempotency_key, adapter, operation, now (and response, "
	       "status in a reply mapping)";
}

/* A YAML node as a JSON template, checking every reference in it. */
static json_t *
tmpl_from_yaml(struct aload *ld, yaml_node_t *n, int ctx, int depth)
{
	json_t *o;

	if (depth > ADP_MAX_DEPTH) {
		aerr(ld, n, 0, "template nested too deep");
		return NULL;
	}
	if (n->type == YAML_MAPPING_NODE) {
		yaml_node_pair_t *p;

		o = json_object();
		for (p = n->data.mapping.pairs.start;
		     o && p < n->data.mapping.pairs.top; p++) {
			const char *k = sval(nat(ld, p->key));
			json_t *v;

			if (k == NULL) {
				aerr(ld, nat(ld, p->key), 0,
				     "keys must be strings");
				continue;
			}
			v = tmpl_from_yaml(ld, nat(ld, p->value), ctx,
			                   depth + 1);
			if (v)
				json_object_set_new(o, k, v);
		}
		return o;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;

		o = json_array();
		for (it = n->data.sequence.items.start;
		     o && it < n->data.sequence.items.top; it++) {
			json_t *v = tmpl_from_yaml(ld, nat(ld, *it), ctx,
			                           depth + 1);

			if (v)
				json_array_append_new(o, v);
		}
		return o;
	}
	{
		const char *v = sval(n);
		size_t len = n->data.scalar.length;
		char *end;

		if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
			long long i;
			double d;

			if (len == 0 || !strcmp(v, "~") || !strcmp(v, "null"))
				return json_null();
			if (!strcmp(v, "true"))
				return json_true();
			if (!strcmp(v, "false"))
				return json_false();
			errno = 0;
			i = strtoll(v, &end, 10);
			if (!errno && *end == '\0' && end != v)
				return json_integer(i);
			d = strtod(v, &end);
			if (*end == '\0' && end != v && isfinite(d))
				return json_real(d);
		}
		if (v[0] == '$' && v[1] != '$') {
			size_t rl = len - 1;
			const char *why;

			if (rl > 0 && v[len - 1] == '?')
				rl--;
			if ((why = ref_check(v + 1, rl, ctx)) != NULL)
				aerr(ld, n, 0, "template '%.80s': %s", v, why);
		}
		return json_stringn(v, len);
	}
}

/* Checks ${...} references inside a path or header string. */
static void
check_interp(struct aload *ld, const yaml_node_t *n, const char *s)
{
	const char *p = s, *q, *why;

	while ((p = strstr(p, "${")) != NULL) {
		q = strchr(p, '}');
		if (q == NULL) {
			aerr(ld, n, 0, "'%.80s': '${' without its '}'", s);
			return;
		}
		size_t rl = (size_t)(q - p - 2);

		if (rl > 0 && p[2 + rl - 1] == '?')
			rl--;
		if ((why = ref_check(p + 2, rl, CTX_REQUEST)) != NULL)
			aerr(ld, n, 0, "'%.80s': %s", s, why);
		p = q + 1;
	}
}

/* Looks up a reference (without '$') in ctx; NULL when missing. *owned
 * gets a new reference when the value had to be made. */
static const json_t *
ref_get(const char *r, size_t len, const struct adp_ctx *c, json_t **owned)
{
	size_t slen = strcspn(r, ".");
	const json_t *v;
	char field[256];

	*owned = NULL;
	if (slen > len)
		slen = len;
#define SRC(s) (slen == strlen(s) && !strncmp(r, s, slen))
	if (SRC("case_id"))
		return (*owned = c->case_id ? json_string(c->case_id) : NULL);
	if (SRC("idempotency_key"))
		return (*owned = c->idem_key ? json_string(c->idem_key) : NULL);
	if (SRC("adapter"))
		return (*owned = c->adapter ? json_string(c->adapter) : NULL);
	if (SRC("operation"))
		return (*owned = c->operation ? json_string(c->operation)
		                              : NULL);
	if (SRC("now"))
		return (*owned = json_integer(c->now_ms));
	if (SRC("status"))
		return (*owned = json_integer(c->status));
	if (SRC("data") || SRC("payload"))
		v = c->data;
	else if (SRC("response"))
		v = c->response;
	else
		return NULL;
#undef SRC
	r += slen;
	len -= slen;
	while (v != NULL && len > 0) {
		size_t fl;

		r++, len--; /* the '.' */
		fl = strcspn(r, ".");
		if (fl > len)
			fl = len;
		if (fl >= sizeof(field))
			return NULL;
		memcpy(field, r, fl);
		field[fl] = '\0';
		v = json_is_object(v) ? json_object_get(v, field) : NULL;
		r += fl;
		len -= fl;
	}
	return v;
}

static json_t *
render(const json_t *t, const struct adp_ctx *c, int *missing, char *err,
       size_t errlen)
{
	if (json_is_object(t)) {
		json_t *o = json_object();
		const char *k;
		json_t *v;

		json_object_foreach((json_t *)t, k, v)
		{
			json_t *r = render(v, c, missing, err, errlen);

			if (*missing) {
				json_decref(o);
				return NULL;
			}
			if (r) /* NULL: an optional field that is absent */
				json_object_set_new(o, k, r);
		}
		return o;
	}
	if (json_is_array(t)) {
		json_t *a = json_array();
		size_t i;
		json_t *v;

		json_array_foreach(t, i, v)
		{
			json_t *r = render(v, c, missing, err, errlen);

			if (*missing) {
				json_decref(a);
				return NULL;
			}
			json_array_append_new(a, r ? r : json_null());
		}
		return a;
	}
	if (json_is_string(t)) {
		const char *s = json_string_value(t);
		size_t len = json_string_length(t);

		if (s[0] == '$' && s[1] == '$')
			return json_stringn(s + 1, len - 1);
		if (s[0] == '$') {
			int opt = len > 1 && s[len - 1] == '?';
			json_t *owned;
			const json_t *v =
			        ref_get(s + 1, len - 1 - opt, c, &owned);

			if (v == NULL) {
				if (opt)
					return NULL;
				*missing = 1;
				snprintf(
				        err, errlen,
				        "template '%.*s': the field is missing",
				        (int)(len > 100 ? 100 : len), s);
				return NULL;
			}
			return owned ? owned : json_deep_copy(v);
		}
	}
	return json_deep_copy(t);
}

int
adp_render(const json_t *tmpl, const struct adp_ctx *ctx, json_t **out,
           char *err, size_t errlen)
{
	int missing = 0;

	*out = render(tmpl, ctx, &missing, err, errlen);
	if (missing)
		return -1;
	if (*out == NULL)
		*out = json_null();
	return 0;
}

int
adp_render_str(const char *tmpl, const struct adp_ctx *ctx, char **out,
               char *err, size_t errlen)
{
	size_t cap = strlen(tmpl) + 64, n = 0;
	char *buf = malloc(cap);
	const char *p = tmpl;

	*out = NULL;
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (*p) {
		const char *q;
		char piece[512];
		size_t pl;

		if (p[0] == '$' && p[1] == '{' && (q = strchr(p, '}'))) {
			size_t rl = (size_t)(q - p - 2);
			int opt = rl > 0 && p[2 + rl - 1] == '?';
			json_t *owned;
			const json_t *v = ref_get(p + 2, rl - opt, ctx, &owned);

			if (v == NULL && !opt) {
				snprintf(err, errlen,
				         "'%.100s': ${%.*s} is missing", tmpl,
				         (int)(rl > 80 ? 80 : rl), p + 2);
				free(buf);
				return -1;
			}
			if (v == NULL || json_is_null(v))
				piece[0] = '\0';
			else if (json_is_string(v))
				snprintf(piece, sizeof(piece), "%s",
				         json_string_value(v));
			else if (json_is_integer(v))
				snprintf(piece, sizeof(piece), "%lld",
				         (long long)json_integer_value(v));
			else if (json_is_boolean(v))
				snprintf(piece, sizeof(piece), "%s",
				         json_is_true(v) ? "true" : "false");
			else if (json_is_real(v))
				snprintf(piece, sizeof(piece), "%g",
				         json_real_value(v));
			else {
				json_decref(owned);
				snprintf(err, errlen,
				         "'%.100s': ${%.*s} is not a scalar",
				         tmpl, (int)(rl > 80 ? 80 : rl), p + 2);
				free(buf);
				return -1;
			}
			json_decref(owned);
			p = q + 1;
		} else {
			piece[0] = *p++;
			piece[1] = '\0';
		}
		pl = strlen(piece);
		/* a value may not break a header or a path apart */
		for (size_t i = 0; i < pl; i++)
			if ((unsigned char)piece[i] < 0x20 ||
			    piece[i] == 0x7f) {
				snprintf(err, errlen,
				         "'%.100s': a value holds a control "
				         "character",
				         tmpl);
				free(buf);
				return -1;
			}
		if (n + pl + 1 > cap) {
			char *nb;

			cap = (n + pl + 1) * 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			buf = nb;
		}
		memcpy(buf + n, piece, pl);
		n += pl;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

/* --- operations ------------------------------------------------------------ */

static int
event_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '.'))
			return 0;
	return 1;
}

/* A list of event names; NULL after reporting. */
static json_t *
load_events(struct aload *ld, yaml_node_t *n, const char *what)
{
	yaml_node_item_t *it;
	json_t *a;

	if (n->type != YAML_SEQUENCE_NODE) {
		aerr(ld, n, 0, "%s must be a list of event names", what);
		return NULL;
	}
	a = json_array();
	for (it = n->data.sequence.items.start;
	     a && it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = nat(ld, *it);
		const char *v = get_str(ld, e, what);

		if (v && !event_name_ok(v))
			aerr(ld, e, 0, "'%.64s' is not an event name", v);
		else if (v)
			json_array_append_new(a, json_string(v));
	}
	return a;
}

static void
load_op(struct aload *ld, const char *name, yaml_node_t *n, struct adp_op *op)
{
	static const char *const keys[] = {"description", "method", "path",
	                                   "headers",     "body",   "response",
	                                   "on_failure",  NULL};
	static const char *const rkeys[] = {"event", "events", "data", NULL};
	static const char *const methods[] = {"GET",   "POST",   "PUT",
	                                      "PATCH", "DELETE", NULL};
	yaml_node_t *v;
	const char *s;

	op->name = xdup(ld, name);
	if (!defs_name_valid(name))
		aerr(ld, n, 0,
		     "operation name '%.64s' is not valid: a lowercase letter, "
		     "then lowercase letters, digits or '_'",
		     name);
	if (keys_ok(ld, n, "an operation", keys) != 0)
		return;
	if ((v = mget(ld, n, "method")) == NULL)
		aerr(ld, n, 0, "operation '%s' needs a 'method'", name);
	else if ((s = get_str(ld, v, "method")) != NULL) {
		int i;

		for (i = 0; methods[i] && strcmp(methods[i], s); i++)
			;
		if (methods[i] == NULL)
			aerr(ld, v, 0,
			     "method '%.16s' is not one of GET, POST, PUT, "
			     "PATCH, DELETE",
			     s);
		op->method = xdup(ld, s);
	}
	if ((v = mget(ld, n, "path")) == NULL)
		aerr(ld, n, 0, "operation '%s' needs a 'path'", name);
	else if ((s = get_str(ld, v, "path")) != NULL) {
		if (s[0] != '/')
			aerr(ld, v, 0, "path must start with '/'");
		check_interp(ld, v, s);
		op->path = xdup(ld, s);
	}
	if ((v = mget(ld, n, "headers")) != NULL) {
		yaml_node_pair_t *p;

		if (v->type != YAML_MAPPING_NODE)
			aerr(ld, v, 0,
			     "headers must be a mapping of names to "
			     "values");
		else {
			op->headers = json_object();
			for (p = v->data.mapping.pairs.start;
			     p < v->data.mapping.pairs.top; p++) {
				yaml_node_t *k = nat(ld, p->key),
				            *hv = nat(ld, p->value);
				const char *hk =
				        get_str(ld, k, "a header name");
				const char *hs =
				        get_str(ld, hv, "a header value");

				if (!hk || !hs)
					continue;
				for (const char *c = hk; *c; c++)
					if (*c <= ' ' || *c == ':' ||
					    *c == 0x7f) {
						aerr(ld, k, 0,
						     "'%.64s' is not a header "
						     "name",
						     hk);
						break;
					}
				if (!strcasecmp(hk, "Idempotency-Key") ||
				    !strcasecmp(hk, "Content-Length") ||
				    !strcasecmp(hk, "Host"))
					aerr(ld, k, 0,
					     "header '%s' is set by Cairn", hk);
				for (const char *c = hs; *c; c++)
					if ((unsigned char)*c < 0x20) {
						aerr(ld, hv, 0,
						     "a header value must not "
						     "hold control characters");
						break;
					}
				check_interp(ld, hv, hs);
				json_object_set_new(op->headers, hk,
				                    json_string(hs));
			}
		}
	}
	if ((v = mget(ld, n, "body")) != NULL)
		op->body = tmpl_from_yaml(ld, v, CTX_REQUEST, 0);
	if ((v = mget(ld, n, "on_failure")) != NULL &&
	    (s = get_str(ld, v, "on_failure")) != NULL) {
		if (!event_name_ok(s))
			aerr(ld, v, 0, "'%.64s' is not an event name", s);
		op->on_failure = xdup(ld, s);
	} else {
		op->on_failure = xdup(ld, "call_failed");
	}
	if ((v = mget(ld, n, "response")) != NULL &&
	    keys_ok(ld, v, "response", rkeys) == 0) {
		yaml_node_t *ev = mget(ld, v, "event"),
		            *evs = mget(ld, v, "events"),
		            *data = mget(ld, v, "data");

		if (ev == NULL)
			aerr(ld, v, 0,
			     "response needs an 'event': a name, or "
			     "$response.<field> naming one");
		else if ((s = get_str(ld, ev, "event")) != NULL) {
			if (s[0] == '$') {
				const char *why = ref_check(
				        s + 1, strlen(s + 1), CTX_RESPONSE);

				if (why)
					aerr(ld, ev, 0, "event '%.64s': %s", s,
					     why);
				if (evs == NULL)
					aerr(ld, ev, 0,
					     "an event taken from the reply "
					     "needs 'events': the names it "
					     "may be");
			} else if (!event_name_ok(s)) {
				aerr(ld, ev, 0, "'%.64s' is not an event name",
				     s);
			}
			op->resp_event = xdup(ld, s);
		}
		if (evs != NULL)
			op->resp_events = load_events(ld, evs, "events");
		if (data != NULL) {
			if (data->type != YAML_MAPPING_NODE)
				aerr(ld, data, 0,
				     "response data must be a mapping");
			else
				op->resp_data = tmpl_from_yaml(ld, data,
				                               CTX_RESPONSE, 0);
		}
	}
}

/* --- the definition ------------------------------------------------------------ */

static void
load_top(struct aload *ld, yaml_node_t *root, struct adp_def *d)
{
	static const char *const keys[] = {
	        "name",         "description", "base_url",
	        "credentials",  "timeouts",    "retry",
	        "concurrency",  "rate_limit",  "breaker",
	        "max_response", "sign",        "callbacks",
	        "operations",   NULL};
	yaml_node_t *v, *x;
	const char *s;

	keys_ok(ld, root, "an adapter definition", keys);
	if ((v = mget(ld, root, "name")) == NULL)
		aerr(ld, root, 0, "missing 'name'");
	else if ((s = get_str(ld, v, "name")) != NULL) {
		if (!defs_name_valid(s))
			aerr(ld, v, 0,
			     "name '%.64s' is not valid: a lowercase letter, "
			     "then lowercase letters, digits or '_'",
			     s);
		d->name = xdup(ld, s);
	}
	if ((v = mget(ld, root, "description")) != NULL &&
	    (s = get_str(ld, v, "description")) != NULL)
		d->description = xdup(ld, s);
	if ((v = mget(ld, root, "base_url")) == NULL)
		aerr(ld, root, 0,
		     "missing 'base_url' (http://host:port or "
		     "https://host)");
	else if ((s = get_str(ld, v, "base_url")) != NULL) {
		size_t n = strlen(s);

		if (strncmp(s, "http://", 7) && strncmp(s, "https://", 8))
			aerr(ld, v, 0,
			     "base_url must start with http:// or "
			     "https://");
		else if (strchr(s, '@'))
			aerr(ld, v, 0,
			     "base_url must not hold credentials; use "
			     "'credentials' with a secret by reference");
		else if (strchr(s, '?') || strchr(s, '#') || strchr(s, ' '))
			aerr(ld, v, 0,
			     "base_url must not hold a query, a "
			     "fragment or spaces");
		while (n > 0 && s[n - 1] == '/')
			n--;
		d->base_url = strndup(s, n);
	}
	if ((v = mget(ld, root, "credentials")) != NULL) {
		static const char *const ck[] = {"header", "scheme", "secret",
		                                 NULL};

		if (keys_ok(ld, v, "credentials", ck) == 0) {
			d->cred_header = xdup(
			        ld,
			        (x = mget(ld, v, "header")) &&
			                        (s = get_str(ld, x, "header"))
			                ? s
			                : "Authorization");
			x = mget(ld, v, "scheme");
			d->cred_scheme = xdup(ld, x ? (sval(x) ? sval(x) : "")
			                            : "Bearer");
			if ((x = mget(ld, v, "secret")) == NULL)
				aerr(ld, v, 0,
				     "credentials need a 'secret' ({env: "
				     "VARIABLE} or {file: PATH})");
			else
				load_secret(ld, x, "credentials.secret",
				            &d->cred);
		}
	}
	if ((v = mget(ld, root, "timeouts")) != NULL) {
		static const char *const tk[] = {"connect", "total", NULL};

		if (keys_ok(ld, v, "timeouts", tk) == 0) {
			if ((x = mget(ld, v, "connect")))
				get_duration(ld, x, "timeouts.connect", 1,
				             &d->connect_timeout_ms);
			if ((x = mget(ld, v, "total")))
				get_duration(ld, x, "timeouts.total", 1,
				             &d->timeout_ms);
		}
	}
	if ((v = mget(ld, root, "retry")) != NULL) {
		static const char *const rk[] = {"max_attempts", "initial",
		                                 "max",          "multiplier",
		                                 "jitter",       NULL};

		if (keys_ok(ld, v, "retry", rk) == 0) {
			if ((x = mget(ld, v, "max_attempts")))
				get_int(ld, x, "retry.max_attempts", 1, 1000,
				        &d->max_attempts);
			if ((x = mget(ld, v, "initial")))
				get_duration(ld, x, "retry.initial", 1,
				             &d->backoff_initial_ms);
			if ((x = mget(ld, v, "max")))
				get_duration(ld, x, "retry.max", 1,
				             &d->backoff_max_ms);
			if ((x = mget(ld, v, "multiplier")))
				get_num(ld, x, "retry.multiplier", 1, 10,
				        &d->backoff_multiplier);
			if ((x = mget(ld, v, "jitter")))
				get_num(ld, x, "retry.jitter", 0, 1,
				        &d->jitter);
		}
	}
	if ((v = mget(ld, root, "concurrency")) != NULL)
		get_int(ld, v, "concurrency", 1, 1024, &d->concurrency);
	if ((v = mget(ld, root, "rate_limit")) != NULL) {
		static const char *const rk[] = {"per_second", "burst", NULL};

		if (keys_ok(ld, v, "rate_limit", rk) == 0) {
			if ((x = mget(ld, v, "per_second")) == NULL)
				aerr(ld, v, 0, "rate_limit needs 'per_second'");
			else
				get_num(ld, x, "rate_limit.per_second", 0.001,
				        1e6, &d->rate_per_sec);
			if ((x = mget(ld, v, "burst")))
				get_int(ld, x, "rate_limit.burst", 1, 1000000,
				        &d->rate_burst);
		}
	}
	if ((v = mget(ld, root, "breaker")) != NULL) {
		static const char *const bk[] = {"failures", "open_for", NULL};

		if (keys_ok(ld, v, "breaker", bk) == 0) {
			if ((x = mget(ld, v, "failures")))
				get_int(ld, x, "breaker.failures", 1, 100000,
				        &d->breaker_failures);
			if ((x = mget(ld, v, "open_for")))
				get_duration(ld, x, "breaker.open_for", 1,
				             &d->breaker_open_ms);
		}
	}
	if ((v = mget(ld, root, "max_response")) != NULL &&
	    (s = get_str(ld, v, "max_response")) != NULL &&
	    (config_parse_size(s, &d->max_response_bytes) != 0 ||
	     d->max_response_bytes < 1 || d->max_response_bytes > (64 << 20)))
		aerr(ld, v, 0,
		     "max_response: '%.40s' is not a size from 1 byte to "
		     "64MiB",
		     s);
	if ((v = mget(ld, root, "sign")) != NULL) {
		static const char *const sk[] = {"secret", NULL};

		if (keys_ok(ld, v, "sign", sk) == 0) {
			if ((x = mget(ld, v, "secret")) == NULL)
				aerr(ld, v, 0, "sign needs a 'secret'");
			else
				load_secret(ld, x, "sign.secret", &d->sign);
		}
	}
	if ((v = mget(ld, root, "callbacks")) != NULL) {
		static const char *const ck[] = {"secret", "window", "events",
		                                 NULL};

		if (keys_ok(ld, v, "callbacks", ck) == 0) {
			if ((x = mget(ld, v, "secret")) == NULL)
				aerr(ld, v, 0, "callbacks need a 'secret'");
			else
				load_secret(ld, x, "callbacks.secret",
				            &d->callback_secret);
			if ((x = mget(ld, v, "window")))
				get_duration(ld, x, "callbacks.window", 1000,
				             &d->callback_window_ms);
			if ((x = mget(ld, v, "events")))
				d->callback_events =
				        load_events(ld, x, "callbacks.events");
		}
	}
	if ((v = mget(ld, root, "operations")) == NULL)
		aerr(ld, root, 0, "missing 'operations'");
	else if (v->type != YAML_MAPPING_NODE ||
	         v->data.mapping.pairs.top == v->data.mapping.pairs.start)
		aerr(ld, v, 0,
		     "operations must be a mapping of names to "
		     "operations, with at least one");
	else {
		yaml_node_pair_t *p;
		size_t n = (size_t)(v->data.mapping.pairs.top -
		                    v->data.mapping.pairs.start);

		d->ops = calloc(n, sizeof(*d->ops));
		if (d->ops == NULL) {
			ld->oom = 1;
			return;
		}
		for (p = v->data.mapping.pairs.start;
		     p < v->data.mapping.pairs.top; p++) {
			yaml_node_t *k = nat(ld, p->key);
			const char *on = get_str(ld, k, "an operation name");

			if (on == NULL)
				continue;
			for (int i = 0; i < d->nops; i++)
				if (d->ops[i].name &&
				    !strcmp(d->ops[i].name, on))
					aerr(ld, k, 0,
					     "duplicate operation '%.64s'", on);
			load_op(ld, on, nat(ld, p->value), &d->ops[d->nops++]);
		}
	}
	if (d->backoff_max_ms && d->backoff_initial_ms > d->backoff_max_ms)
		aerr(ld, mget(ld, root, "retry"), 0,
		     "retry.initial is longer than retry.max");
}

static void
def_defaults(struct adp_def *d)
{
	d->connect_timeout_ms = 5000;
	d->timeout_ms = 30000;
	d->max_attempts = 10;
	d->backoff_initial_ms = 1000;
	d->backoff_max_ms = 300000;
	d->backoff_multiplier = 2;
	d->jitter = 0.5;
	d->concurrency = 8;
	d->rate_burst = 0;
	d->breaker_failures = 5;
	d->breaker_open_ms = 30000;
	d->max_response_bytes = 1 << 20;
	d->callback_window_ms = 5 * 60 * 1000;
}

int
adp_def_load(const char *path, adp_report_cb cb, void *data,
             struct adp_def **out)
{
	struct aload ld = {.path = path, .cb = cb, .data = data};
	struct yamlfile yf;
	struct cairn_err e;
	struct adp_def *d;
	yaml_node_t *root;
	const char *slash = strrchr(path, '/');

	if (out)
		*out = NULL;
	if (slash)
		snprintf(ld.dir, sizeof(ld.dir), "%.*s/", (int)(slash - path),
		         path);
	if (yamlfile_init(&yf, path, DEFS_FILE_MAX, DEFS_MAX_DEPTH,
	                  "adapter definition", &e) < 0) {
		if (cb)
			cb(&e, 0, data);
		return CAIRN_ESYNTAX;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		yamlfile_close(&yf);
		return -ENOMEM;
	}
	def_defaults(d);
	d->file = strdup(path);
	ld.doc = &yf.doc;
	root = yaml_document_get_root_node(&yf.doc);
	if (root == NULL)
		aerr(&ld, NULL, 0, "empty adapter definition");
	else
		load_top(&ld, root, d);
	if (d->rate_per_sec > 0 && d->rate_burst == 0)
		d->rate_burst = d->rate_per_sec < 1 ? 1 : (int)d->rate_per_sec;
	if (yamlfile_expect_end(&yf, "an adapter file holds one", &e) < 0) {
		if (cb)
			cb(&e, 0, data);
		ld.errors++;
	}
	yamlfile_close(&yf);
	if (ld.oom && ld.errors == 0)
		aerr(&ld, NULL, 0, "out of memory");
	if (ld.errors || out == NULL) {
		adp_def_free(d);
		return ld.errors ? CAIRN_EINVALID : 0;
	}
	*out = d;
	return 0;
}

void
adp_def_free(struct adp_def *d)
{
	if (d == NULL)
		return;
	for (int i = 0; i < d->nops; i++) {
		struct adp_op *op = &d->ops[i];

		free(op->name);
		free(op->method);
		free(op->path);
		json_decref(op->headers);
		json_decref(op->body);
		free(op->resp_event);
		json_decref(op->resp_events);
		json_decref(op->resp_data);
		free(op->on_failure);
	}
	free(d->ops);
	free(d->name);
	free(d->file);
	free(d->description);
	free(d->base_url);
	free(d->cred_header);
	free(d->cred_scheme);
	secret_free(&d->cred);
	secret_free(&d->sign);
	secret_free(&d->callback_secret);
	json_decref(d->callback_events);
	free(d);
}

const struct adp_op *
adp_op_find(const struct adp_def *d, const char *name)
{
	for (int i = 0; d && i < d->nops; i++)
		if (d->ops[i].name && !strcmp(d->ops[i].name, name))
			return &d->ops[i];
	return NULL;
}

/* --- sets ------------------------------------------------------------------- */

static int
scmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
set_walk(struct adp_set *s, const char *dir, int depth, adp_report_cb cb,
         void *data)
{
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int errors = 0;
	DIR *dd = opendir(dir);

	if (dd == NULL) {
		struct cairn_err e;

		cairn_err_set(&e, dir, 0, 0,
		              "cannot open adapter directory: %s",
		              strerror(errno));
		if (cb)
			cb(&e, 0, data);
		return 1;
	}
	while ((de = readdir(dd)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 16;
			nn = realloc(names, cap * sizeof(*nn));
			if (nn == NULL)
				break;
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(dd);
	if (n > 1)
		qsort(names, n, sizeof(*names), scmp);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		const char *dot = strrchr(names[i], '.');
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < ADP_DIR_DEPTH) {
			errors += set_walk(s, path, depth + 1, cb, data);
		} else if (S_ISREG(st.st_mode) && dot &&
		           (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml"))) {
			struct adp_def *d = NULL, **v;

			if (adp_def_load(path, cb, data, &d) != 0) {
				errors++;
				continue;
			}
			if (adp_set_find(s, d->name) != NULL) {
				struct cairn_err e;

				cairn_err_set(&e, path, 0, 0,
				              "duplicate adapter name '%s'",
				              d->name);
				if (cb)
					cb(&e, 0, data);
				adp_def_free(d);
				errors++;
				continue;
			}
			v = realloc(s->v, (size_t)(s->n + 1) * sizeof(*v));
			if (v == NULL) {
				adp_def_free(d);
				errors++;
				continue;
			}
			s->v = v;
			s->v[s->n++] = d;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return errors;
}

int
adp_set_load(const char *const *dirs, int ndirs, adp_report_cb cb, void *data,
             struct adp_set **out)
{
	struct adp_set *s = calloc(1, sizeof(*s));
	int errors = 0;

	*out = NULL;
	if (s == NULL)
		return -ENOMEM;
	s->refs = 1;
	for (int i = 0; i < ndirs; i++)
		errors += set_walk(s, dirs[i], 0, cb, data);
	if (errors) {
		adp_set_unref(s);
		return CAIRN_EINVALID;
	}
	*out = s;
	return 0;
}

const struct adp_def *
adp_set_find(const struct adp_set *s, const char *name)
{
	for (int i = 0; s && i < s->n; i++)
		if (!strcmp(s->v[i]->name, name))
			return s->v[i];
	return NULL;
}

struct adp_set *
adp_set_ref(struct adp_set *s)
{
	if (s)
		s->refs++;
	return s;
}

void
adp_set_unref(struct adp_set *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	for (int i = 0; i < s->n; i++)
		adp_def_free(s->v[i]);
	free(s->v);
	free(s);
}

/* --- backoff and the breaker ---------------------------------------------- */

int64_t
adp_backoff_ms(const struct adp_def *d, int attempt, uint32_t rnd)
{
	double ms = (double)d->backoff_initial_ms;

	for (int i = 1; i < attempt && ms < (double)d->backoff_max_ms; i++)
		ms *= d->backoff_multiplier;
	if (ms > (double)d->backoff_max_ms)
		ms = (double)d->backoff_max_ms;
	/* "full jitter" on a share of the delay: retries of many calls that
	 * failed together spread out instead of arriving together */
	ms -= ms * d->jitter * ((double)rnd / 4294967296.0);
	return ms < 1 ? 1 : (int64_t)ms;
}

int
adp_breaker_allow(struct adp_breaker *b, int64_t now)
{
	switch (b->state) {
	case ADP_CLOSED:
		return 1;
	case ADP_OPEN:
		if (now < b->open_until)
			return 0;
		b->state = ADP_HALF_OPEN;
		b->probing = 0;
		/* fall through */
	case ADP_HALF_OPEN:
		if (b->probing)
			return 0;
		b->probing = 1;
		return 1;
	}
	return 0;
}

void
adp_breaker_record(struct adp_breaker *b, const struct adp_def *d, int ok,
                   int64_t now)
{
	if (ok) {
		b->state = ADP_CLOSED;
		b->failures = 0;
		b->probing = 0;
		return;
	}
	b->failures++;
	if (b->state == ADP_HALF_OPEN ||
	    (b->state == ADP_CLOSED && b->failures >= d->breaker_failures)) {
		b->state = ADP_OPEN;
		b->open_until = now + d->breaker_open_ms;
		b->probing = 0;
	}
}

const char *
adp_breaker_name(enum adp_breaker_state s)
{
	return s == ADP_CLOSED ? "closed"
	       : s == ADP_OPEN ? "open"
	                       : "half_open";
}

/* --- signatures ---------------------------------------------------------- */

int
adp_sign(const struct adp_secret *s, const char *timestamp, const char *body,
         size_t len, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char mac[32];
	unsigned int n = 0;
	EVP_MAC *m;
	EVP_MAC_CTX *c;
	OSSL_PARAM params[2];
	size_t outl = 0;
	int ok;

	if (s->value == NULL)
		return -1;
	m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	c = m ? EVP_MAC_CTX_new(m) : NULL;
	params[0] = OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = c &&
	     EVP_MAC_init(c, (const unsigned char *)s->value, s->len, params) ==
	             1 &&
	     EVP_MAC_update(c, (const unsigned char *)timestamp,
	                    strlen(timestamp)) == 1 &&
	     EVP_MAC_update(c, (const unsigned char *)".", 1) == 1 &&
	     EVP_MAC_update(c, (const unsigned char *)body, len) == 1 &&
	     EVP_MAC_final(c, mac, &outl, sizeof(mac)) == 1 && outl == 32;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
	if (!ok)
		return -1;
	for (n = 0; n < 32; n++) {
		hex[2 * n] = digits[mac[n] >> 4];
		hex[2 * n + 1] = digits[mac[n] & 15];
	}
	hex[64] = '\0';
	return 0;
}

int
adp_verify(const struct adp_secret *s, const char *timestamp, const char *body,
           size_t len, const char *header)
{
	char want[65], got[65];
	size_t n;

	if (header == NULL || strncmp(header, "sha256=", 7) != 0)
		return 0;
	header += 7;
	n = strlen(header);
	if (n != 64)
		return 0;
	for (size_t i = 0; i < 64; i++)
		got[i] = (char)((header[i] >= 'A' && header[i] <= 'F')
		                        ? header[i] - 'A' + 'a'
		                        : header[i]);
	got[64] = '\0';
	if (adp_sign(s, timestamp, body, len, want) != 0)
		return 0;
	return CRYPTO_memcmp(want, got, 64) == 0;
}
