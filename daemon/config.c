/*
 * config.c: cairnd's configuration. config_defaults() fills in the embedded
 * defaults; config_load() reads a YAML file (libyaml's document API) over
 * them, all or nothing: the file is applied to a copy, and the copy replaces
 * the caller's only when every key has been accepted. Every complaint names
 * the file, the 1-based line and column of the offending node, and what
 * would have been accepted. Relative paths in the file are joined with the
 * file's own directory, so etc/cairnd.yaml can say ../var/cairn.db.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "../adapters/mail.h"
#include "../common/yamlfile.h"

/* A configuration is a page of YAML; anything larger is a mistake. */
#define CONFIG_FILE_MAX (1 << 20)
/* The file itself nests three levels; this is only a guard for libyaml. */
#define CONFIG_MAX_DEPTH 16

/* Everything config_load's helpers need while walking one document. */
struct loader {
	const char *path;          /* the file, as given, for messages */
	char dir[CONFIG_PATH_MAX]; /* its directory with a trailing '/', or
					"" when the path has no '/' */
	yaml_document_t *doc;
	struct cairn_err *err;
};

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
	c->listen_port = 8080;
	snprintf(c->database, sizeof(c->database), "var/cairn.db");
	snprintf(c->workflows[0], sizeof(c->workflows[0]),
	         "examples/workflows");
	c->nworkflows = 1;
	snprintf(c->rules[0], sizeof(c->rules[0]), "examples/rules");
	c->nrules = 1;
	snprintf(c->adapters[0], sizeof(c->adapters[0]), "examples/adapters");
	snprintf(c->campuses, sizeof(c->campuses), "examples/campuses.yaml");
	c->nadapters = 1;
	c->limits.max_body_bytes = 1 << 20;
	c->limits.max_header_bytes = 16 << 10;
	c->limits.request_timeout_ms = 30 * 1000;
	c->limits.idle_timeout_ms = 60 * 1000;
	c->limits.max_connections = 10000;
	c->limits.max_db_bytes = 0;
	c->log_level = LOG_INFO;
	c->outbox.max_rows = 4096;
	c->outbox.poll_ms = 2000;
	c->outbox.max_connections = 256;
	c->queues.lease_ms = 15 * 60 * 1000;
	c->queues.max_lease_ms = 8 * 3600 * 1000;
	c->queues.alert_webhook[0] = '\0';
	c->queues.sla_warn_before_ms = 86400000;
	c->queues.sla_escalate_after_ms = 86400000;
	c->queues.smtp_url[0] = '\0';
	snprintf(c->queues.mail_from, sizeof(c->queues.mail_from),
	         "cairn@localhost");
	c->queues.digest_hour = 14;
	c->queues.mail_poll_ms = 5000;
	snprintf(c->queues.deadlines, sizeof(c->queues.deadlines),
	         "examples/deadlines");
	c->queues.sla_business_days = 0;
	config_abuse_defaults(&c->abuse);
	c->retention.closed_case_years = 0;
	c->retention.mode = CONFIG_RETENTION_PURGE;
	c->retention.hour = 3;
	c->retention.minute = 30;
}

const char *
config_log_level_name(enum log_level l)
{
	switch (l) {
	case LOG_DEBUG:
		return "debug";
	case LOG_INFO:
		return "info";
	case LOG_WARN:
		return "warn";
	case LOG_ERROR:
		return "error";
	}
	return "unknown";
}

/*
 * Reads one or more decimal digits at s into *n, stopping at the first
 * non-digit (returned in *end). Fails on no digits and on int64 overflow;
 * signs and spaces are not digits, so they are refused too.
 */
static int
parse_digits(const char *s, int64_t *n, const char **end)
{
	int64_t v = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		int d = *p - '0';

		if (v > (INT64_MAX - d) / 10)
			return CAIRN_EINVALID;
		v = v * 10 + d;
	}
	if (p == s)
		return CAIRN_EINVALID;
	*n = v;
	*end = p;
	return 0;
}

/* A multiplier for the unit that follows a number. */
struct unit {
	const char *name;
	int64_t mul;
};

/*
 * Parses digits followed by exactly one of the nunits units (as written,
 * case and all) into the number times the unit's multiplier. Fails on
 * anything else and on int64 overflow.
 */
static int
parse_with_unit(const char *s, const struct unit *units, size_t nunits,
                int64_t *out)
{
	const char *p;
	int64_t n;
	size_t i;

	if (s == NULL || parse_digits(s, &n, &p) < 0)
		return CAIRN_EINVALID;
	for (i = 0; i < nunits; i++) {
		if (strcmp(p, units[i].name) != 0)
			continue;
		if (n > INT64_MAX / units[i].mul)
			return CAIRN_EINVALID;
		*out = n * units[i].mul;
		return 0;
	}
	return CAIRN_EINVALID;
}

int
config_parse_duration(const char *s, int64_t *ms)
{
	static const struct unit units[] = {
	        {"ms", 1},      {"s", 1000},     {"m", 60 * 1000},
	        {"h", 3600000}, {"d", 86400000},
	};

	return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]), ms);
}

int
config_parse_size(const char *s, int64_t *bytes)
{
	static const struct unit units[] = {
	        {"", 1},
	        {"B", 1},
	        {"kB", 1000},
	        {"KB", 1000},
	        {"KiB", 1024},
	        {"MB", 1000 * 1000},
	        {"MiB", 1024 * 1024},
	        {"GB", 1000 * 1000 * 1000},
	        {"GiB", 1024 * 1024 * 1024},
	        {"TB", (int64_t)1000 * 1000 * 1000 * 1000},
	        {"TiB", (int64_t)1024 * 1024 * 1024 * 1024},
	};

	return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]),
	                       bytes);
}

/* Host names and IPv4 addresses: letters, digits, '.', '-' and '_'. */
static int
host_chars_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
		      ch == '_'))
			return 0;
	}
	return 1;
}

/* An IPv6 literal, optionally with a %zone suffix. */
static int
ipv6_ok(const char *s, size_t n)
{
	char buf[INET6_ADDRSTRLEN + 1];
	unsigned char addr[16];
	const char *pct = memchr(s, '%', n);
	size_t alen = pct ? (size_t)(pct - s) : n;

	if (alen == 0 || alen >= sizeof(buf))
		return 0;
	if (pct && (pct + 1 == s + n || !host_chars_ok(pct + 1, n - alen - 1)))
		return 0;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	return inet_pton(AF_INET6, buf, addr) == 1;
}

int
config_set_listen(struct config *c, const char *hostport, struct cairn_err *err)
{
	const char *host, *port, *end;
	size_t hlen;
	int64_t p;

	if (hostport == NULL || hostport[0] == '\0') {
		cairn_err_set(err, "", 0, 0,
		              "empty listen address; expected HOST:PORT, "
		              "such as 127.0.0.1:8080 or [::1]:8080");
		return CAIRN_EINVALID;
	}
	if (hostport[0] == '[') {
		const char *close = strchr(hostport, ']');

		if (close == NULL) {
			cairn_err_set(
			        err, "", 0, 0,
			        "missing ']' in listen address '%s'; "
			        "expected [IPV6]:PORT, such as [::1]:8080",
			        hostport);
			return CAIRN_EINVALID;
		}
		host = hostport + 1;
		hlen = (size_t)(close - host);
		if (close[1] != ':') {
			cairn_err_set(
			        err, "", 0, 0,
			        "missing port in listen address '%s'; "
			        "expected [IPV6]:PORT, such as [::1]:8080",
			        hostport);
			return CAIRN_EINVALID;
		}
		port = close + 2;
		if (!ipv6_ok(host, hlen)) {
			cairn_err_set(err, "", 0, 0,
			              "'%.*s' is not an IPv6 address",
			              (int)hlen, host);
			return CAIRN_EINVALID;
		}
	} else {
		const char *colon = strrchr(hostport, ':');

		if (colon == NULL) {
			cairn_err_set(
			        err, "", 0, 0,
			        "missing port in listen address '%s'; "
			        "expected HOST:PORT, such as 127.0.0.1:8080",
			        hostport);
			return CAIRN_EINVALID;
		}
		host = hostport;
		hlen = (size_t)(colon - host);
		port = colon + 1;
		if (memchr(host, ':', hlen) != NULL) {
			cairn_err_set(
			        err, "", 0, 0,
			        "IPv6 addresses in a listen address go in "
			        "brackets, as in [::1]:8080 (got '%s')",
			        hostport);
			return CAIRN_EINVALID;
		}
		if (hlen > 0 && !host_chars_ok(host, hlen)) {
			cairn_err_set(err, "", 0, 0,
			              "'%.*s' is not a host name or address",
			              (int)hlen, host);
			return CAIRN_EINVALID;
		}
	}
	if (hlen == 0) {
		cairn_err_set(err, "", 0, 0,
		              "missing host in listen address '%s'; expected "
		              "HOST:PORT, such as 127.0.0.1:8080",
		              hostport);
		return CAIRN_EINVALID;
	}
	if (hlen >= sizeof(c->listen_host)) {
		cairn_err_set(
		        err, "", 0, 0,
		        "listen host is too long (%zu bytes; at most %zu)",
		        hlen, sizeof(c->listen_host) - 1);
		return CAIRN_EINVALID;
	}
	if (port[0] == '\0') {
		cairn_err_set(err, "", 0, 0,
		              "missing port in listen address '%s'", hostport);
		return CAIRN_EINVALID;
	}
	if (parse_digits(port, &p, &end) < 0 || *end != '\0') {
		/* parse_digits also fails on overflow: say "range" then */
		if (strspn(port, "0123456789") == strlen(port))
			goto range;
		cairn_err_set(err, "", 0, 0,
		              "port '%s' is not a number; expected 0 to 65535",
		              port);
		return CAIRN_EINVALID;
	}
	if (p > 65535)
		goto range;
	memcpy(c->listen_host, host, hlen);
	c->listen_host[hlen] = '\0';
	c->listen_port = (int)p;
	return 0;
range:
	cairn_err_set(err, "", 0, 0,
	              "port %s is out of range; expected 1 to 65535 "
	              "(or 0 to let the system pick one)",
	              port);
	return CAIRN_EINVALID;
}

static int fail(struct loader *ld, int code, const yaml_node_t *n,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Fills ld->err at node n's position and returns code. */
static int
fail(struct loader *ld, int code, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[sizeof(ld->err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		cairn_err_set(ld->err, ld->path, (int)n->start_mark.line + 1,
		              (int)n->start_mark.column + 1, "%s", msg);
	else
		cairn_err_set(ld->err, ld->path, 0, 0, "%s", msg);
	return code;
}

static yaml_node_t *
node_at(struct loader *ld, int index)
{
	return yaml_document_get_node(ld->doc, index);
}

/* YAML's null: an empty or "~"/"null" plain scalar. */
static int
is_null(const yaml_node_t *n)
{
	const char *v = NULL;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* The value of a non-empty scalar; name and what describe it in errors. */
static int
get_scalar(struct loader *ld, const yaml_node_t *n, const char *name,
           const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail(ld, CAIRN_EINVALID, n, "%s must be %s, not %s",
		            name, what, yamlfile_node_kind(n));
	if (is_null(n))
		return fail(ld, CAIRN_EINVALID, n, "%s must be %s, not empty",
		            name, what);
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return fail(ld, CAIRN_EINVALID, n,
		            "%s must not contain a NUL character", name);
	*out = (const char *)n->data.scalar.value;
	return 0;
}

/*
 * Checks that n is a mapping whose keys are scalars taken from allowed (a
 * NULL-terminated list), none twice. where completes "unknown key 'k' ...",
 * e.g. "in limits".
 */
static int
check_mapping(struct loader *ld, const yaml_node_t *n, const char *name,
              const char *where, const char *const *allowed)
{
	yaml_node_pair_t *p, *q;

	if (n->type != YAML_MAPPING_NODE)
		return fail(ld, CAIRN_EINVALID, n,
		            "%s must be a mapping of keys to values, not %s",
		            name, yamlfile_node_kind(n));
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(ld, p->key);
		const char *key;
		char list[256] = "";
		size_t i;

		if (k->type != YAML_SCALAR_NODE)
			return fail(ld, CAIRN_EINVALID, k,
			            "keys %s must be words, not %s", where,
			            yamlfile_node_kind(k));
		key = (const char *)k->data.scalar.value;
		for (i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			for (i = 0; allowed[i]; i++) {
				if (i > 0)
					strcat(list, ", ");
				strcat(list, allowed[i]);
			}
			return fail(ld, CAIRN_EINVALID, k,
			            "unknown key '%.64s' %s; expected one of: "
			            "%s",
			            key, where, list);
		}
		/* keys are known words, so a duplicate shows up within a few
		 * pairs: this loop stays short even on hostile input */
		for (q = n->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = node_at(ld, q->key);

			if (strcmp((const char *)k2->data.scalar.value, key))
				continue;
			return fail(ld, CAIRN_ESYNTAX, k,
			            "duplicate key '%s' %s (first at line %d, "
			            "column %d)",
			            key, where, (int)k2->start_mark.line + 1,
			            (int)k2->start_mark.column + 1);
		}
	}
	return 0;
}

/* Joins a relative path with the configuration file's directory. */
static int
resolve_path(struct loader *ld, const yaml_node_t *n, const char *name,
             char out[CONFIG_PATH_MAX])
{
	const char *v = NULL;
	int rc, len;

	rc = get_scalar(ld, n, name, "a path", &v);
	if (rc < 0)
		return rc;
	if (v[0] == '/')
		len = snprintf(out, CONFIG_PATH_MAX, "%s", v);
	else
		len = snprintf(out, CONFIG_PATH_MAX, "%s%s", ld->dir, v);
	if (len >= CONFIG_PATH_MAX)
		return fail(ld, CAIRN_EINVALID, n,
		            "%s is too long (%d bytes once joined with the "
		            "configuration file's directory; at most %d)",
		            name, len, CONFIG_PATH_MAX - 1);
	return 0;
}

/* definitions.<kind>: one directory, or a list of at most CONFIG_MAX_DIRS. */
static int
load_dirs(struct loader *ld, const yaml_node_t *n, const char *name,
          char dirs[][CONFIG_PATH_MAX], int *ndirs)
{
	yaml_node_item_t *it;
	int count = 0, rc;

	if (n->type == YAML_SCALAR_NODE) {
		if (is_null(n))
			return fail(ld, CAIRN_EINVALID, n,
			            "%s must be a directory or a list of "
			            "directories, not empty",
			            name);
		rc = resolve_path(ld, n, name, dirs[0]);
		if (rc < 0)
			return rc;
		*ndirs = 1;
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(ld, CAIRN_EINVALID, n,
		            "%s must be a directory or a list of directories, "
		            "not %s",
		            name, yamlfile_node_kind(n));
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *item = node_at(ld, *it);

		if (count == CONFIG_MAX_DIRS)
			return fail(ld, CAIRN_EINVALID, item,
			            "%s lists too many directories (at most "
			            "%d)",
			            name, CONFIG_MAX_DIRS);
		rc = resolve_path(ld, item, name, dirs[count]);
		if (rc < 0)
			return rc;
		count++;
	}
	*ndirs = count;
	return 0;
}

static int
load_definitions(struct loader *ld, const yaml_node_t *n, struct config *c)
{
	static const char *const keys[] = {"workflows", "rules", "adapters",
	                                   "campuses", NULL};
	yaml_node_pair_t *p;
	int rc;

	rc = check_mapping(ld, n, "definitions", "in definitions", keys);
	if (rc < 0)
		return rc;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		const char *key =
		        (const char *)node_at(ld, p->key)->data.scalar.value;
		yaml_node_t *v = node_at(ld, p->value);

		if (strcmp(key, "workflows") == 0)
			rc = load_dirs(ld, v, "definitions.workflows",
			               c->workflows, &c->nworkflows);
		else if (strcmp(key, "rules") == 0)
			rc = load_dirs(ld, v, "definitions.rules", c->rules,
			               &c->nrules);
		else if (strcmp(key, "campuses") == 0)
			rc = resolve_path(ld, v, "definitions.campuses",
			                  c->campuses);
		else
			rc = load_dirs(ld, v, "definitions.adapters",
			               c->adapters, &c->nadapters);
		if (rc < 0)
			return rc;
	}
	return 0;
}

#define SIZE_FORMS                                                             \
	"a whole number of bytes, optionally followed by B, kB, KB, KiB, MB, " \
	"MiB, GB, GiB, TB or TiB (e.g. 1MiB)"

/* A size; min is the smallest acceptable value (0 or 1). */
static int
load_size(struct loader *ld, const yaml_node_t *n, const char *name,
          int64_t min, int64_t *out)
{
	const char *v = NULL;
	int64_t b;
	int rc;

	rc = get_scalar(ld, n, name, "a size", &v);
	if (rc < 0)
		return rc;
	if (config_parse_size(v, &b) < 0)
		return fail(ld, CAIRN_EINVALID, n,
		            "%s: '%.64s' is not a size; expected " SIZE_FORMS,
		            name, v);
	if (b < min)
		return fail(ld, CAIRN_EINVALID, n,
		            "%s must be greater than zero; expected a positive "
		            "size such as 1MiB",
		            name);
	*out = b;
	return 0;
}

static int
load_duration(struct loader *ld, const yaml_node_t *n, const char *name,
              int64_t *out)
{
	const char *v = NULL;
	int64_t ms;
	int rc;

	rc = get_scalar(ld, n, name, "a duration", &v);
	if (rc < 0)
		return rc;
	if (config_parse_duration(v, &ms) < 0)
		return fail(ld, CAIRN_EINVALID, n,
		            "%s: '%.64s' is not a duration; expected a whole "
		            "number followed by ms, s, m, h or d (e.g. 30s)",
		            name, v);
	if (ms <= 0)
		return fail(ld, CAIRN_EINVALID, n,
		            "%s must be greater than zero (e.g. 30s)", name);
	*out = ms;
	return 0;
}

/*
 * A block's keys as a table: each scalar key says its kind, where its value
 * goes in struct config and what it accepts; K_OTHER keys are the block's
 * own to load (its other()). The order is the order an unknown key's
 * message lists them in.
 */
enum key_kind {
	K_DURATION, /* int64_t milliseconds, above zero */
	K_SIZE,     /* int64_t bytes, at least lo (0 or 1) */
	K_INT,      /* int, a whole number from lo to hi */
	K_OTHER
};

struct key_spec {
	const char *key;
	enum key_kind kind;
	size_t off; /* offsetof(struct config, the value) */
	/* K_INT: the range; K_SIZE: lo, the least; K_DURATION: bounds (0:
	 * none) refused with "NAME must be MUST_BE" */
	int64_t lo, hi;
	const char *what;    /* K_INT: what it must be (a scalar) */
	const char *bad;     /* K_INT: "NAME: 'VALUE' bad" when out of range */
	const char *must_be; /* K_DURATION: the bound, in words */
	int64_t least;       /* K_INT: after the range, "must be at least" */
	const char *sname;   /* the name get_scalar says, when not NAME */
};

#define CFG(field) offsetof(struct config, field)
#define KEY_DURATION(k, field)                                                 \
	{                                                                      \
		.key = (k), .kind = K_DURATION, .off = CFG(field)              \
	}
#define KEY_SIZE(k, field, min)                                                \
	{                                                                      \
		.key = (k), .kind = K_SIZE, .off = CFG(field), .lo = (min)     \
	}
#define KEY_INT(k, field, from, to, what_, bad_)                               \
	{                                                                      \
		.key = (k), .kind = K_INT, .off = CFG(field), .lo = (from),    \
		.hi = (to), .what = (what_), .bad = (bad_)                     \
	}
#define KEY_OTHER(k)                                                           \
	{                                                                      \
		.key = (k), .kind = K_OTHER                                    \
	}

static int
load_key(struct loader *ld, const yaml_node_t *v, const char *name,
         const struct key_spec *k, struct config *c)
{
	char *dst = (char *)c + k->off;
	const char *s = NULL, *end;
	int64_t m = 0;
	int rc;

	switch (k->kind) {
	case K_DURATION:
		rc = load_duration(ld, v, name, (int64_t *)(void *)dst);
		if (rc == 0 && ((k->lo && *(int64_t *)(void *)dst < k->lo) ||
		                (k->hi && *(int64_t *)(void *)dst > k->hi)))
			rc = fail(ld, CAIRN_EINVALID, v, "%s must be %s", name,
			          k->must_be);
		return rc;
	case K_SIZE:
		return load_size(ld, v, name, k->lo, (int64_t *)(void *)dst);
	case K_INT:
		rc = get_scalar(ld, v, k->sname ? k->sname : name, k->what, &s);
		if (rc == 0 && (parse_digits(s, &m, &end) < 0 || *end != '\0' ||
		                m < k->lo || m > k->hi))
			rc = fail(ld, CAIRN_EINVALID, v, "%s: '%.64s' %s", name,
			          s, k->bad);
		if (rc == 0 && m < k->least)
			rc = fail(ld, CAIRN_EINVALID, v,
			          "%s must be at least %lld", name,
			          (long long)k->least);
		if (rc == 0)
			*(int *)(void *)dst = (int)m;
		return rc;
	default:
		return CAIRN_EINVALID;
	}
}

/* Loads block n (named block) by its table; other() loads the K_OTHER
 * keys. */
static int
load_block(struct loader *ld, const yaml_node_t *n, const char *block,
           const struct key_spec *keys, size_t nkeys, struct config *c,
           int (*other)(struct loader *ld, const char *key,
                        const yaml_node_t *v, struct config *c))
{
	const char *names[24];
	char where[64], name[96];
	yaml_node_pair_t *p;
	int rc;

	if (nkeys >= sizeof(names) / sizeof(names[0]))
		return fail(ld, CAIRN_EINVALID, n, "%s has too many keys",
		            block);
	for (size_t i = 0; i < nkeys; i++)
		names[i] = keys[i].key;
	names[nkeys] = NULL;
	snprintf(where, sizeof(where), "in %s", block);
	rc = check_mapping(ld, n, block, where, names);
	if (rc < 0)
		return rc;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		const char *key =
		        (const char *)node_at(ld, p->key)->data.scalar.value;
		yaml_node_t *v = node_at(ld, p->value);
		size_t i = 0;

		/* check_mapping found it in the table */
		while (strcmp(keys[i].key, key) != 0)
			i++;
		snprintf(name, sizeof(name), "%s.%s", block, key);
		rc = keys[i].kind == K_OTHER
		             ? other(ld, key, v, c)
		             : load_key(ld, v, name, &keys[i], c);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int
load_limits(struct loader *ld, const yaml_node_t *n, struct config *c)
{
	static const struct key_spec keys[] = {
	        KEY_SIZE("max_body", limits.max_body_bytes, 1),
	        KEY_SIZE("max_header", limits.max_header_bytes, 1),
	        KEY_DURATION("request_timeout", limits.request_timeout_ms),
	        KEY_DURATION("idle_timeout", limits.idle_timeout_ms),
	        KEY_INT("max_connections", limits.max_connections, 1, 1000000,
	                "a whole number",
	                "is not acceptable; expected a whole number from 1 to "
	                "1000000"),
	        KEY_SIZE("max_database", limits.max_db_bytes, 0),
	};

	return load_block(ld, n, "limits", keys, sizeof(keys) / sizeof(keys[0]),
	                  c, NULL);
}

/* The queues' keys that are not plain numbers or durations. */
static int
load_queues_other(struct loader *ld, const char *key, const yaml_node_t *v,
                  struct config *c)
{
	int rc;

	if (strcmp(key, "deadlines") == 0) {
		rc = resolve_path(ld, v, "queues.deadlines",
		                  c->queues.deadlines);
	} else if (strcmp(key, "sla_business_days") == 0) {
		const char *s = NULL;

		rc = get_scalar(ld, v, "queues.sla_business_days",
		                "true or false", &s);
		if (rc < 0)
			return rc;
		if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
			return fail(ld, CAIRN_EINVALID, v,
			            "queues.sla_business_days: "
			            "'%.64s' is not true or false",
			            s);
		c->queues.sla_business_days = s[0] == 't';
	} else if (strcmp(key, "smtp_url") == 0 ||
	           strcmp(key, "mail_from") == 0) {
		const char *s = NULL;
		int url = key[0] == 's';

		rc = get_scalar(
		        ld, v, url ? "queues.smtp_url" : "queues.mail_from",
		        url ? "an smtp:// or smtps:// URL" : "an email address",
		        &s);
		if (rc < 0)
			return rc;
		if (url && strncmp(s, "smtp://", 7) != 0 &&
		    strncmp(s, "smtps://", 8) != 0)
			return fail(ld, CAIRN_EINVALID, v,
			            "queues.smtp_url: '%.64s' is not "
			            "an smtp:// or smtps:// URL",
			            s);
		if (!url && !mail_address_ok(s))
			return fail(ld, CAIRN_EINVALID, v,
			            "queues.mail_from: '%.64s' is not "
			            "an email address",
			            s);
		if (strlen(s) >= sizeof(c->queues.smtp_url))
			return fail(ld, CAIRN_EINVALID, v,
			            "queues.%s is too long", key);
		snprintf(url ? c->queues.smtp_url : c->queues.mail_from,
		         sizeof(c->queues.smtp_url), "%s", s);
	} else {
		const char *s = NULL;
		size_t len;

		rc = get_scalar(ld, v, "queues.alert_webhook",
		                "an adapter name", &s);
		if (rc < 0)
			return rc;
		len = strlen(s);
		for (size_t i = 0; i < len; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') ||
			      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
			      s[i] == '-'))
				len = 0;
		if (len == 0 || len >= sizeof(c->queues.alert_webhook))
			return fail(ld, CAIRN_EINVALID, v,
			            "queues.alert_webhook: '%.64s' is "
			            "not an adapter name (lower-case "
			            "letters, digits, _ and -, at most "
			            "%d)",
			            s,
			            (int)sizeof(c->queues.alert_webhook) - 1);
		snprintf(c->queues.alert_webhook,
		         sizeof(c->queues.alert_webhook), "%s", s);
	}
	return rc;
}

/* The queues block: lease lengths and where alerts go beyond the inbox. */
static int
load_queues(struct loader *ld, const yaml_node_t *n, struct config *c)
{
	static const struct key_spec keys[] = {
	        KEY_DURATION("lease", queues.lease_ms),
	        KEY_DURATION("max_lease", queues.max_lease_ms),
	        KEY_OTHER("alert_webhook"),
	        KEY_DURATION("sla_warn_before", queues.sla_warn_before_ms),
	        KEY_DURATION("sla_escalate_after",
	                     queues.sla_escalate_after_ms),
	        KEY_OTHER("smtp_url"),
	        KEY_OTHER("mail_from"),
	        KEY_INT("digest_hour", queues.digest_hour, 0, 23,
	                "an hour from 0 to 23",
	                "is not an hour from 0 to 23 (UTC)"),
	        KEY_DURATION("mail_poll", queues.mail_poll_ms),
	        KEY_OTHER("deadlines"),
	        KEY_OTHER("sla_business_days"),
	};
	int rc;

	rc = load_block(ld, n, "queues", keys, sizeof(keys) / sizeof(keys[0]),
	                c, load_queues_other);
	if (rc < 0)
		return rc;
	if (c->queues.lease_ms > c->queues.max_lease_ms)
		return fail(ld, CAIRN_EINVALID, n,
		            "queues.lease must not be longer than "
		            "queues.max_lease");
	return 0;
}

static int
load_listen(struct loader *ld, const yaml_node_t *n, struct config *c)
{
	struct cairn_err e;
	const char *v = NULL;
	int rc;

	rc = get_scalar(ld, n, "listen", "an address such as 127.0.0.1:8080",
	                &v);
	if (rc < 0)
		return rc;
	rc = config_set_listen(c, v, &e);
	if (rc < 0)
		return fail(ld, rc, n, "listen: %s", e.msg);
	return 0;
}

static int
load_log_level(struct loader *ld, const yaml_node_t *n, struct config *c)
{
	static const enum log_level levels[] = {LOG_DEBUG, LOG_INFO, LOG_WARN,
	                                        LOG_ERROR};
	const char *v = NULL;
	size_t i;
	int rc;

	rc = get_scalar(ld, n, "log_level", "debug, info, warn or error", &v);
	if (rc < 0)
		return rc;
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcmp(v, config_log_level_name(levels[i])) == 0) {
			c->log_level = levels[i];
			return 0;
		}
	}
	return fail(ld, CAIRN_EINVALID, n,
	            "log_level: '%.64s' is not a level; expected debug, info, "
	            "warn or error",
	            v);
}

/* outbox: the adapters' worker (docs/adapters.md). */
static int
load_outbox(struct loader *ld, const yaml_node_t *n, struct config *c)
{
	static const struct key_spec keys[] = {
	        {.key = "max_rows",
	         .kind = K_INT,
	         .off = CFG(outbox.max_rows),
	         .lo = 1,
	         .hi = 1000000,
	         .what = "a whole number",
	         .bad = "is not a whole number from 1 to 1000000",
	         .sname = "max_rows"},
	        {.key = "poll",
	         .kind = K_DURATION,
	         .off = CFG(outbox.poll_ms),
	         .lo = 10,
	         .must_be = "at least 10ms"},
	        {.key = "max_connections",
	         .kind = K_INT,
	         .off = CFG(outbox.max_connections),
	         .lo = 1,
	         .hi = 10000,
	         .what = "a whole number",
	         .bad = "is not a whole number from 1 to 10000",
	         .sname = "max_connections"},
	};

	return load_block(ld, n, "outbox", keys, sizeof(keys) / sizeof(keys[0]),
	                  c, NULL);
}

/* --- the edge ------------------------------------------------------------ */

static int
load_listen_public(struct loader *ld, const yaml_node_t *n, struct config *c)
{
	const char *v = NULL;
	int rc;

	rc = get_scalar(ld, n, "listen_public", "refuse or behind_tls_proxy",
	                &v);
	if (rc < 0)
		return rc;
	if (strcmp(v, "refuse") == 0)
		c->listen_public = CONFIG_PUBLIC_REFUSE;
	else if (strcmp(v, "behind_tls_proxy") == 0)
		c->listen_public = CONFIG_PUBLIC_BEHIND_TLS_PROXY;
	else
		return fail(ld, CAIRN_EINVALID, n,
		            "listen_public: '%.64s' is not a choice; expected "
		            "refuse or behind_tls_proxy",
		            v);
	return 0;
}

int
config_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return 0;
}

int
config_check_listen(const struct config *c, struct cairn_err *err)
{
	if (config_host_is_loopback(c->listen_host) ||
	    c->listen_public == CONFIG_PUBLIC_BEHIND_TLS_PROXY)
		return 0;
	cairn_err_set(err, c->file, 0, 0,
	              "listen: %s is not a loopback address, and cairnd "
	              "speaks plain HTTP: listen on 127.0.0.1 behind a TLS "
	              "proxy (etc/nginx/cairn.conf), or, when TLS is "
	              "terminated in front of this address, say so with "
	              "listen_public: behind_tls_proxy",
	              c->listen_host);
	return CAIRN_EINVALID;
}

/* --- abuse limits ---------------------------------------------------------- */

void
config_abuse_defaults(struct abuse_limits *a)
{
	a->token_rate = 100;
	a->token_burst = 500;
	a->address_rate = 300;
	a->address_burst = 1000;
	a->bad_token_free = 5;
	a->bad_token_delay_ms = 250;
	a->bad_token_max_delay_ms = 8000;
	a->bad_token_block = 20;
	a->bad_token_forgive_ms = 30000;
}

/* abuse: request rates and bad tokens (daemon/abuse.h). */
static int
load_abuse(struct loader *ld, const yaml_node_t *n, struct config *c)
{
/* the counts: 0 to 1000000, a burst at least 1 */
#define ABUSE_INT(k, field, min)                                               \
	{                                                                      \
		.key = (k), .kind = K_INT, .off = CFG(abuse.field), .lo = 0,   \
		.hi = 1000000, .what = "a whole number",                       \
		.bad = "is not a whole number from 0 to 1000000",              \
		.least = (min)                                                 \
	}
	static const struct key_spec keys[] = {
	        ABUSE_INT("token_rate", token_rate, 0),
	        ABUSE_INT("token_burst", token_burst, 1),
	        ABUSE_INT("address_rate", address_rate, 0),
	        ABUSE_INT("address_burst", address_burst, 1),
	        ABUSE_INT("bad_token_free", bad_token_free, 0),
	        KEY_DURATION("bad_token_delay", abuse.bad_token_delay_ms),
	        {.key = "bad_token_max_delay",
	         .kind = K_DURATION,
	         .off = CFG(abuse.bad_token_max_delay_ms),
	         .hi = 60000,
	         .must_be = "at most 60s: a reply held longer only ties up a "
	                    "connection"},
	        ABUSE_INT("bad_token_block", bad_token_block, 0),
	        KEY_DURATION("bad_token_forgive", abuse.bad_token_forgive_ms),
	};
#undef ABUSE_INT

	return load_block(ld, n, "abuse", keys, sizeof(keys) / sizeof(keys[0]),
	                  c, NULL);
}

/* --- retention ------------------------------------------------------------- */

/* retention's mode and schedule ("daily at HH:MM" or manual). */
static int
load_retention_other(struct loader *ld, const char *key, const yaml_node_t *v,
                     struct config *c)
{
	const char *s = NULL;
	int hh, mm, used = 0, rc;

	if (strcmp(key, "mode") == 0) {
		rc = get_scalar(ld, v, "retention.mode", "purge or anonymize",
		                &s);
		if (rc == 0 && strcmp(s, "purge") == 0)
			c->retention.mode = CONFIG_RETENTION_PURGE;
		else if (rc == 0 && strcmp(s, "anonymize") == 0)
			c->retention.mode = CONFIG_RETENTION_ANONYMIZE;
		else if (rc == 0)
			rc = fail(ld, CAIRN_EINVALID, v,
			          "retention.mode: '%.64s' is not a "
			          "choice; expected purge or anonymize",
			          s);
		return rc;
	}
	rc = get_scalar(ld, v, "retention.schedule", "daily at HH:MM", &s);
	/* runs only when asked (POST /v1/retention/run) */
	if (rc == 0 && strcmp(s, "manual") == 0) {
		c->retention.hour = c->retention.minute = -1;
		return 0;
	}
	if (rc == 0 && (sscanf(s, "daily at %2d:%2d%n", &hh, &mm, &used) != 2 ||
	                s[used] != '\0' || strlen(s) != 14 || hh < 0 ||
	                hh > 23 || mm < 0 || mm > 59))
		rc = fail(ld, CAIRN_EINVALID, v,
		          "retention.schedule: '%.64s' is not "
		          "'daily at HH:MM' (UTC, 00:00 to "
		          "23:59) or manual",
		          s);
	if (rc == 0) {
		c->retention.hour = hh;
		c->retention.minute = mm;
	}
	return rc;
}

/* retention: closed_case_years, mode, schedule. */
static int
load_retention(struct loader *ld, const yaml_node_t *n, struct config *c)
{
	static const struct key_spec keys[] = {
	        KEY_INT("closed_case_years", retention.closed_case_years, 0,
	                100, "a whole number of years",
	                "is not a whole number from 0 (off) to 100"),
	        KEY_OTHER("mode"),
	        KEY_OTHER("schedule"),
	};

	return load_block(ld, n, "retention", keys,
	                  sizeof(keys) / sizeof(keys[0]), c,
	                  load_retention_other);
}

static int
load_top(struct loader *ld, const yaml_node_t *root, struct config *c)
{
	static const char *const keys[] = {
	        "listen",    "database",  "definitions", "limits",
	        "log_level", "outbox",    "queues",      "listen_public",
	        "abuse",     "retention", NULL};
	yaml_node_pair_t *p;
	int rc;

	rc = check_mapping(ld, root, "the configuration", "at the top level",
	                   keys);
	if (rc < 0)
		return rc;
	for (p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		const char *key =
		        (const char *)node_at(ld, p->key)->data.scalar.value;
		yaml_node_t *v = node_at(ld, p->value);

		if (strcmp(key, "listen") == 0)
			rc = load_listen(ld, v, c);
		else if (strcmp(key, "database") == 0)
			rc = resolve_path(ld, v, "database", c->database);
		else if (strcmp(key, "definitions") == 0)
			rc = load_definitions(ld, v, c);
		else if (strcmp(key, "limits") == 0)
			rc = load_limits(ld, v, c);
		else if (strcmp(key, "outbox") == 0)
			rc = load_outbox(ld, v, c);
		else if (strcmp(key, "queues") == 0)
			rc = load_queues(ld, v, c);
		else if (strcmp(key, "listen_public") == 0)
			rc = load_listen_public(ld, v, c);
		else if (strcmp(key, "abuse") == 0)
			rc = load_abuse(ld, v, c);
		else if (strcmp(key, "retention") == 0)
			rc = load_retention(ld, v, c);
		else
			rc = load_log_level(ld, v, c);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int
config_load(struct config *c, const char *path, struct cairn_err *err)
{
	struct config *tmp = NULL;
	struct loader ld;
	struct yamlfile yf;
	yaml_node_t *root;
	const char *slash;
	int rc;

	memset(&ld, 0, sizeof(ld));
	ld.path = path;
	ld.err = err;
	ld.doc = &yf.doc;
	if (path == NULL || path[0] == '\0') {
		cairn_err_set(err, "", 0, 0, "no configuration file named");
		return CAIRN_EINVALID;
	}
	if (strlen(path) >= CONFIG_PATH_MAX) {
		cairn_err_set(err, path, 0, 0,
		              "configuration file path is too long (at most "
		              "%d bytes)",
		              CONFIG_PATH_MAX - 1);
		return CAIRN_EINVALID;
	}
	slash = strrchr(path, '/');
	if (slash)
		snprintf(ld.dir, sizeof(ld.dir), "%.*s/", (int)(slash - path),
		         path);

	rc = yamlfile_init(&yf, path, CONFIG_FILE_MAX, CONFIG_MAX_DEPTH,
	                   "configuration file", err);
	if (rc < 0)
		return rc;
	root = yaml_document_get_root_node(&yf.doc);
	if (root == NULL || is_null(root)) {
		cairn_err_set(err, path, 0, 0, "empty configuration");
		rc = CAIRN_EINVALID;
		goto out;
	}

	/* the copy is heap-allocated: struct config is ~27 KB */
	tmp = malloc(sizeof(*tmp));
	if (tmp == NULL) {
		cairn_err_set(err, path, 0, 0, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	*tmp = *c;
	snprintf(tmp->file, sizeof(tmp->file), "%s", path);
	rc = load_top(&ld, root, tmp);
	if (rc < 0)
		goto out;

	/* a second document would be silently ignored: refuse it */
	rc = yamlfile_expect_end(&yf, "a configuration is one mapping", err);
	if (rc == 0)
		*c = *tmp;
out:
	yamlfile_close(&yf);
	free(tmp);
	return rc;
}
