/*
 * disclosures.c: reading the disclosure log (daemon/privacy.h writes it).
 *
 *   GET /v1/me/disclosures    a student: who looked at my record (the
 *                             reader's role and scope, when, the route)
 *   GET /v1/disclosures       admin: every row, filtered by subject, case,
 *                             reader (token id) and time
 *
 * Both are paged newest first with a keyset cursor (the row's seq), so a
 * page is one index range however long the log grows.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../store/store.h"
#include "api_int.h"
#include "daemon.h"

#define Q_MAX 5

struct query {
	const char *name[Q_MAX];
	char val[Q_MAX][AUTH_SCOPE_MAX + 8];
	int n;
};

/* Decodes one %XX-and-'+' value into out; -1 when malformed, holding a
 * NUL or longer than len - 1. */
static int
decode(const char *v, size_t vlen, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < vlen; i++) {
		unsigned x;

		if (o + 1 >= len)
			return -1;
		if (v[i] == '%') {
			if (i + 2 >= vlen ||
			    !isxdigit((unsigned char)v[i + 1]) ||
			    !isxdigit((unsigned char)v[i + 2]) ||
			    sscanf(v + i + 1, "%2x", &x) != 1 || x == 0)
				return -1;
			out[o++] = (char)x;
			i += 2;
		} else {
			out[o++] = v[i] == '+' ? ' ' : v[i];
		}
	}
	out[o] = '\0';
	return 0;
}

/* Parses the query against the names allowed (NULL-terminated); replies
 * 400 and returns -1 on an unknown, repeated or malformed parameter. */
static int
query_parse(struct api_call *c, const char *const *names, struct query *q)
{
	const char *p = c->req->query;

	memset(q, 0, sizeof(*q));
	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t seg = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', seg);
		size_t kl = eq ? (size_t)(eq - p) : seg;
		int k = -1;
		char d[200];

		for (int i = 0; names[i]; i++)
			if (strlen(names[i]) == kl && !strncmp(p, names[i], kl))
				k = i;
		if (k < 0 || eq == NULL || q->n == Q_MAX) {
			snprintf(d, sizeof(d),
			         "unknown or malformed parameter '%.*s'",
			         (int)(kl > 40 ? 40 : kl), p);
			api_reply_problem(c, 400, "bad-query", d, NULL, NULL);
			return -1;
		}
		for (int i = 0; i < q->n; i++)
			if (!strcmp(q->name[i], names[k])) {
				snprintf(d, sizeof(d), "'%s' is given twice",
				         names[k]);
				api_reply_problem(c, 400, "bad-query", d, NULL,
				                  NULL);
				return -1;
			}
		if (decode(eq + 1, seg - kl - 1, q->val[q->n],
		           sizeof(q->val[0])) != 0 ||
		    q->val[q->n][0] == '\0') {
			snprintf(d, sizeof(d),
			         "'%s' must be 1 to %d characters, "
			         "percent-encoded",
			         names[k], AUTH_SCOPE_MAX);
			api_reply_problem(c, 400, "bad-query", d, NULL, NULL);
			return -1;
		}
		q->name[q->n++] = names[k];
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

static const char *
query_val(const struct query *q, const char *name)
{
	for (int i = 0; i < q->n; i++)
		if (!strcmp(q->name[i], name))
			return q->val[i];
	return NULL;
}

/* Digits only, into *out; -1 otherwise. */
static int
whole(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* since: milliseconds since the epoch, a date (YYYY-MM-DD, midnight
 * UTC) or a UTC time (YYYY-MM-DDTHH:MM:SSZ). */
static int
since_parse(const char *s, int64_t *out)
{
	struct tm tm;
	const char *end;

	if (whole(s, out) == 0)
		return 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end != NULL && *end == 'T')
		end = strptime(end + 1, "%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*out = (int64_t)timegm(&tm) * 1000;
	return 0;
}

/* The filter's paging (cursor, limit, since); replies 400 on a bad one. */
static int
paging(struct api_call *c, const struct query *q,
       struct store_disclosure_filter *f)
{
	const char *v;
	int64_t n;

	f->limit = 50;
	if ((v = query_val(q, "limit")) != NULL) {
		if (whole(v, &n) != 0 || n < 1 || n > 1000) {
			api_reply_problem(
			        c, 400, "bad-query",
			        "limit: a whole number from 1 to 1000", NULL,
			        NULL);
			return -1;
		}
		f->limit = (int)n;
	}
	if ((v = query_val(q, "cursor")) != NULL &&
	    (whole(v, &f->before) != 0 || f->before < 1)) {
		api_reply_problem(c, 400, "bad-query",
		                  "cursor: the 'next' of the previous page",
		                  NULL, NULL);
		return -1;
	}
	if ((v = query_val(q, "since")) != NULL &&
	    since_parse(v, &f->since) != 0) {
		api_reply_problem(
		        c, 400, "bad-query",
		        "since: milliseconds since 1970, YYYY-MM-DD or "
		        "YYYY-MM-DDTHH:MM:SSZ",
		        NULL, NULL);
		return -1;
	}
	return 0;
}

static void
me_read(int status, json_t *res, void *data)
{
	struct api_call *c = data;
	json_t *rows = json_object_get(res, "disclosures"), *row;
	size_t i;

	if (status != 0) {
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	/* who read it, as an office or a counselor, not which token: a
	 * token id is an operator's handle, not the student's business */
	json_array_foreach(rows, i, row)
	{
		json_object_del(row, "token_id");
		json_object_del(row, "subject");
	}
	api_reply_json(c, 200, json_incref(res), NULL);
	json_decref(res);
}

void
api_h_me_disclosures(struct api_call *c)
{
	static const char *const names[] = {"since", "cursor", "limit", NULL};
	struct store_disclosure_filter f = {0};
	struct query q;

	if (query_parse(c, names, &q) != 0 || paging(c, &q, &f) != 0)
		return;
	/* the route admits students only; their scope is their id */
	f.subject = c->who.scope;
	if (store_disclosure_list(c->d->store, &f, me_read, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

static void
all_read(int status, json_t *res, void *data)
{
	struct api_call *c = data;

	if (status != 0) {
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	api_reply_json_bg(c, 200, res);
}

void
api_h_disclosures_list(struct api_call *c)
{
	static const char *const names[] = {
	        "subject", "case", "reader", "since", "cursor", "limit", NULL};
	struct store_disclosure_filter f = {0};
	struct query q;

	if (query_parse(c, names, &q) != 0 || paging(c, &q, &f) != 0)
		return;
	f.subject = query_val(&q, "subject");
	f.case_id = query_val(&q, "case");
	f.reader = query_val(&q, "reader");
	if (store_disclosure_list(c->d->store, &f, all_read, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}
