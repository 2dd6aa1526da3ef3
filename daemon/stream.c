/*
 * stream.c: GET /v1/stream, Server-Sent Events of case status changes.
 *
 * The hub is a list of open streams, made on the first one. A commit
 * queues one event per changed case (built once, whoever will get it),
 * and on the loop's next turn, after the command's own reply has been
 * written, the queue goes out: the list is walked once per event (a
 * handful of streams, or a thousand at most), deciding for each with
 * auth_authorize on the case's subject and owner, as a read of the case
 * would. Events keep their commit order on every stream. A counselor's
 * caseload is read when the stream opens and again every
 * STREAM_CASELOAD_MS, so a publish never waits on the database; a
 * student added to a caseload shows up in that counselor's open streams
 * within that time.
 *
 * Writes never block: http_stream_write queues, and a client that stops
 * reading is cut off by the HTTP layer. A stream's memory lives until its
 * connection's closed callback and any caseload read of it have both
 * come back.
 */
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "daemon.h"
#include "log.h"

struct sub {
	struct sub *prev, *next;
	struct stream_hub *hub;
	struct http_stream *st; /* NULL once closed */
	struct principal who;
	/* the route's row of the matrix: who may listen, and how far each
	 * role sees (as GET /v1/cases/{id}: policy and institutions none) */
	unsigned roles;
	unsigned char scope[ROLE_COUNT];
	json_t *caseload; /* a counselor's students; NULL for others */
	int64_t caseload_at;
	int reading; /* a caseload read is in flight */
};

struct pend {
	struct pend *next;
	char *subject, *owner; /* NULL when the case has none */
	size_t len;
	char text[]; /* the whole event */
};

struct stream_hub {
	struct daemon *d;
	struct sub *subs;
	int n;
	int reads; /* caseload reads in flight, opens included */
	int stopping;
	uv_timer_t heartbeat;
	int timer_on;
	/* events committed, waiting for the next turn of the loop to go
	 * out: the command's own reply is written first */
	struct pend *pending, **pending_tail;
	uv_timer_t flush;
	int flush_on;
	uint64_t seq; /* the id: of each event */
};

static struct stream_hub *
hub_get(struct daemon *d)
{
	struct stream_hub *h = d->streams;

	if (h != NULL)
		return h;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->d = d;
	uv_timer_init(d->loop, &h->heartbeat);
	h->heartbeat.data = h;
	uv_timer_init(d->loop, &h->flush);
	h->flush.data = h;
	h->pending_tail = &h->pending;
	d->streams = h;
	return h;
}

int
stream_count(const struct daemon *d)
{
	return d->streams ? d->streams->n : 0;
}

static void
sub_free(struct sub *s)
{
	json_decref(s->caseload);
	free(s);
}

static void
on_stream_closed(void *arg)
{
	struct sub *s = arg;
	struct stream_hub *h = s->hub;

	if (s->prev)
		s->prev->next = s->next;
	else
		h->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	h->n--;
	s->st = NULL;
	if (h->n == 0 && h->timer_on) {
		uv_timer_stop(&h->heartbeat);
		h->timer_on = 0;
	}
	if (!s->reading)
		sub_free(s);
}

static void
sub_send(struct sub *s, const char *text, size_t len)
{
	if (s->st != NULL)
		http_stream_write(s->st, text, len);
}

/* --- counselors' caseloads ------------------------------------------------ */

static void
caseload_refreshed(int status, json_t *res, void *data)
{
	struct sub *s = data;

	s->reading = 0;
	s->hub->reads--;
	if (s->st == NULL) {
		json_decref(res);
		sub_free(s);
		return;
	}
	if (status == 0 && json_is_array(res)) {
		json_decref(s->caseload);
		s->caseload = res;
		s->caseload_at = cairn_now_ms();
	} else {
		/* the old list stays: a failed read must not hide a
		 * counselor's students, nor show them others */
		json_decref(res);
	}
}

static void
caseload_refresh(struct sub *s)
{
	struct stream_hub *h = s->hub;

	if (s->reading || h->stopping || h->d->store == NULL)
		return;
	if (store_caseload_get(h->d->store, s->who.scope, caseload_refreshed,
	                       s) == 0) {
		s->reading = 1;
		h->reads++;
	}
}

/* --- heartbeats ---------------------------------------------------------- */

static void
on_heartbeat(uv_timer_t *t)
{
	struct stream_hub *h = t->data;
	int64_t now = cairn_now_ms();
	char line[64];
	int n = snprintf(line, sizeof(line), ": heartbeat %lld\n\n",
	                 (long long)now);

	/* a write may end a stream (a client too slow): its closed
	 * callback comes later, on its own turn of the loop, so the walk
	 * is safe */
	for (struct sub *s = h->subs; s != NULL; s = s->next) {
		sub_send(s, line, (size_t)n);
		if (s->caseload != NULL &&
		    now - s->caseload_at >= STREAM_CASELOAD_MS)
			caseload_refresh(s);
	}
}

/* --- publishing ------------------------------------------------------------ */

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int
sub_sees(const struct sub *s, const struct pend *e)
{
	struct auth_resource r = {.subject = e->subject, .owner = e->owner};

	if (s->who.role == ROLE_COUNSELOR && r.subject != NULL &&
	    s->caseload != NULL) {
		size_t i;
		json_t *v;

		json_array_foreach(s->caseload, i, v)
		{
			if (json_is_string(v) &&
			    !strcmp(json_string_value(v), r.subject)) {
				r.in_caseload = 1;
				break;
			}
		}
	}
	return auth_authorize(&s->who, s->roles, s->scope, &r) == AUTH_ALLOW;
}

/* The event's text: where the case is now, never its data. */
static char *
event_text(struct stream_hub *h, const json_t *row, size_t *len)
{
	json_t *o = json_object();
	static const char *const strs[] = {"id",      "workflow", "status",
	                                   "subject", "owner",    "parent_id",
	                                   "root_id", "queue"};
	char *data, *text = NULL;
	int n;

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		const char *v = jstr(row, strs[i]);

		json_object_set_new(o, strs[i],
		                    v && v[0] ? json_string(v) : json_null());
	}
	json_object_set(o, "revision", json_object_get(row, "revision"));
	json_object_set_new(o, "terminal",
	                    json_boolean(json_integer_value(
	                            json_object_get(row, "terminal"))));
	json_object_set(o, "updated_at", json_object_get(row, "updated_at"));
	data = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (data == NULL)
		return NULL;
	n = asprintf(&text, "event: case\nid: %llu\ndata: %s\n\n",
	             (unsigned long long)++h->seq, data);
	free(data);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return text;
}

static void
pend_free(struct pend *e)
{
	free(e->subject);
	free(e->owner);
	free(e);
}

/* Sends every pending event to the streams that may see its case. */
static void
flush_pending(struct stream_hub *h)
{
	struct pend *e = h->pending, *next;

	h->pending = NULL;
	h->pending_tail = &h->pending;
	for (; e != NULL; e = next) {
		next = e->next;
		for (struct sub *s = h->subs; s != NULL; s = s->next)
			if (s->st != NULL && sub_sees(s, e))
				sub_send(s, e->text, e->len);
		pend_free(e);
	}
}

static void
on_flush(uv_timer_t *t)
{
	struct stream_hub *h = t->data;

	h->flush_on = 0;
	flush_pending(h);
}

static char *
dup_or_null(const char *v)
{
	return v && v[0] ? strdup(v) : NULL;
}

void
stream_case_committed(struct daemon *d, const json_t *row)
{
	struct stream_hub *h = d->streams;
	struct pend *e;
	char *text;
	size_t len = 0;

	if (h == NULL || h->subs == NULL || h->stopping)
		return;
	/* most changes concern no one listening: they cost a scan of the
	 * streams and nothing more */
	{
		struct pend probe = {.subject = (char *)jstr(row, "subject"),
		                     .owner = (char *)jstr(row, "owner")};
		struct sub *sb = h->subs;

		if (probe.owner != NULL && probe.owner[0] == '\0')
			probe.owner = NULL;
		while (sb != NULL && (sb->st == NULL || !sub_sees(sb, &probe)))
			sb = sb->next;
		if (sb == NULL)
			return;
	}
	text = event_text(h, row, &len);
	e = text ? malloc(sizeof(*e) + len + 1) : NULL;
	if (e != NULL) {
		e->next = NULL;
		e->len = len;
		memcpy(e->text, text, len + 1);
		e->subject = dup_or_null(jstr(row, "subject"));
		e->owner = dup_or_null(jstr(row, "owner"));
	}
	free(text);
	if (e == NULL || (jstr(row, "subject") && jstr(row, "subject")[0] &&
	                  e->subject == NULL)) {
		/* without its subject the event could reach the wrong
		 * people: it is dropped, and said so */
		if (e != NULL)
			pend_free(e);
		log_write(LOG_WARN, NULL, jstr(row, "id"), NULL,
		          "stream: out of memory; the event was not sent");
		return;
	}
	*h->pending_tail = e;
	h->pending_tail = &e->next;
	if (!h->flush_on) {
		uv_timer_start(&h->flush, on_flush, 0, 0);
		h->flush_on = 1;
	}
}

void
stream_token_revoked(struct daemon *d, const char *token_id)
{
	struct stream_hub *h = d->streams;
	static const char bye[] =
	        "event: revoked\ndata: {\"reason\":\"the token was "
	        "revoked\"}\n\n";

	if (h == NULL)
		return;
	for (struct sub *s = h->subs; s != NULL; s = s->next) {
		if (s->st == NULL || strcmp(s->who.token_id, token_id) != 0)
			continue;
		http_stream_write(s->st, bye, sizeof(bye) - 1);
		http_stream_end(s->st);
	}
}

static void
on_timer_closed(uv_handle_t *t)
{
}

void
stream_stop(struct daemon *d)
{
	struct stream_hub *h = d->streams;
	static const char bye[] = "event: shutdown\ndata: {\"reason\":\"cairnd "
	                          "is stopping\"}\n\n";

	if (h == NULL || h->stopping)
		return;
	/* what committed before the stop still goes out, then the goodbye */
	flush_pending(h);
	h->stopping = 1;
	for (struct sub *s = h->subs; s != NULL; s = s->next) {
		if (s->st == NULL)
			continue;
		http_stream_write(s->st, bye, sizeof(bye) - 1);
		http_stream_end(s->st);
	}
	uv_timer_stop(&h->heartbeat);
	h->timer_on = 0;
	uv_close((uv_handle_t *)&h->heartbeat, on_timer_closed);
	uv_timer_stop(&h->flush);
	h->flush_on = 0;
	uv_close((uv_handle_t *)&h->flush, on_timer_closed);
}

int
stream_busy(const struct daemon *d)
{
	return d->streams != NULL && d->streams->reads > 0;
}

void
stream_free(struct daemon *d)
{
	/* every connection closed before the loop did, and with it every
	 * stream: only the hub is left */
	if (d->streams == NULL)
		return;
	while (d->streams->pending != NULL) {
		struct pend *e = d->streams->pending;

		d->streams->pending = e->next;
		pend_free(e);
	}
	free(d->streams);
	d->streams = NULL;
}

/* --- GET /v1/stream ---------------------------------------------------------- */

static int
token_streams(const struct stream_hub *h, const char *token_id)
{
	int n = 0;

	for (const struct sub *s = h->subs; s != NULL; s = s->next)
		n += s->st != NULL && !strcmp(s->who.token_id, token_id);
	return n;
}

/* Answers the call with the stream; s is linked in on success and freed
 * otherwise. */
static void
stream_begin(struct api_call *c, struct sub *s)
{
	struct stream_hub *h = s->hub;
	char first[160];
	int n;

	s->st = http_stream_open(c->req, "text/event-stream",
	                         "Cache-Control: no-store\r\n"
	                         "X-Accel-Buffering: no\r\n"
	                         "X-Content-Type-Options: nosniff\r\n",
	                         on_stream_closed, s);
	c->req = NULL;
	api_call_free(c);
	if (s->st == NULL) {
		sub_free(s);
		return;
	}
	s->next = h->subs;
	if (h->subs)
		h->subs->prev = s;
	h->subs = s;
	h->n++;
	if (!h->timer_on) {
		uv_timer_start(&h->heartbeat, on_heartbeat, STREAM_HEARTBEAT_MS,
		               STREAM_HEARTBEAT_MS);
		h->timer_on = 1;
	}
	/* the client knows at once that it is listening, and how often
	 * to expect a sign of life */
	n = snprintf(first, sizeof(first),
	             "retry: 3000\n"
	             "event: ready\ndata: {\"role\":\"%s\",\"heartbeat_ms\":%d}"
	             "\n\n",
	             auth_role_name(s->who.role), STREAM_HEARTBEAT_MS);
	sub_send(s, first, (size_t)n);
}

static void
caseload_first(int status, json_t *res, void *data)
{
	struct api_call *c = data;
	struct stream_hub *h = c->d->streams;
	struct sub *s;

	h->reads--;
	if (status != 0 || !json_is_array(res)) {
		json_decref(res);
		api_reply_store_error(c, status ? status : CAIRN_ESTORE,
		                      "the caseload could not be read");
		return;
	}
	if (h->stopping) {
		json_decref(res);
		api_reply_problem(c, 503, "unavailable",
		                  "the server is shutting down", NULL,
		                  "Retry-After: 5\r\n");
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		json_decref(res);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	s->hub = h;
	s->who = c->who;
	s->roles = c->route->roles;
	memcpy(s->scope, c->route->scope, sizeof(s->scope));
	s->caseload = res;
	s->caseload_at = cairn_now_ms();
	stream_begin(c, s);
}

void
api_h_stream(struct api_call *c)
{
	struct stream_hub *h;
	struct sub *s;
	char d[160];

	if (auth_authorize(&c->who, c->route->roles, c->route->scope, NULL) !=
	    AUTH_ALLOW) {
		api_reply_problem(c, 403, "forbidden",
		                  "this role sees no case, so it has no stream",
		                  NULL, NULL);
		return;
	}
	if (c->req->head) {
		http_respond(c->req, 200, "text/event-stream",
		             "Cache-Control: no-store\r\n", NULL, 0);
		api_call_free(c);
		return;
	}
	h = hub_get(c->d);
	if (h == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	if (h->stopping || c->d->stopping) {
		api_reply_problem(c, 503, "unavailable",
		                  "the server is shutting down", NULL,
		                  "Retry-After: 5\r\n");
		return;
	}
	if (h->n + h->reads >= STREAM_MAX_TOTAL) {
		snprintf(d, sizeof(d),
		         "the server has %d streams open, its most",
		         STREAM_MAX_TOTAL);
		api_reply_problem(c, 429, "too-many-streams", d, NULL,
		                  "Retry-After: 30\r\n");
		return;
	}
	if (token_streams(h, c->who.token_id) >= STREAM_MAX_PER_TOKEN) {
		snprintf(d, sizeof(d),
		         "this token has %d streams open, its most; close "
		         "one first",
		         STREAM_MAX_PER_TOKEN);
		api_reply_problem(c, 429, "too-many-streams", d, NULL,
		                  "Retry-After: 30\r\n");
		return;
	}
	if (c->who.role == ROLE_COUNSELOR) {
		/* the caseload is what a counselor may see: read it first */
		if (store_caseload_get(c->d->store, c->who.scope,
		                       caseload_first, c) != 0) {
			api_reply_problem(c, 503, "storage-unavailable",
			                  "shutting down", NULL, NULL);
			return;
		}
		h->reads++;
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	s->hub = h;
	s->who = c->who;
	s->roles = c->route->roles;
	memcpy(s->scope, c->route->scope, sizeof(s->scope));
	stream_begin(c, s);
}
