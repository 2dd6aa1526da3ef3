/*
 * alertmail.c: alerts by email. Every queues.mail_poll the mailer reads
 * the alerts raised since its cursor (a meta row, so a restart resumes
 * where it stopped) with the addresses each goes to, sends them one by
 * one through SMTP (adapters/mail.c, on the libuv thread pool: the SMTP
 * conversation blocks), and moves the cursor past each alert once every
 * address of it took it. A failure stops the round; the next one retries
 * from the first alert not fully sent. Recipients who asked for a digest
 * get instead one mail a day, at queues.digest_hour (UTC), listing their
 * alerts still open from the last day.
 */
#include "alertmail.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../adapters/mail.h"
#include "cases.h"
#include "daemon.h"
#include "log.h"

#define MAIL_PAGE   100
#define DAY_MS      86400000LL
#define BACKOFF_MAX 60000

struct alertmail {
	struct daemon *d;
	uv_timer_t timer;
	int busy;           /* a round is running */
	int64_t cursor;     /* the last alert fully mailed */
	int cursor_loaded;  /* read from the meta table */
	int64_t backoff_ms; /* after a failure */
	int64_t next_digest;
	/* the round: rows to send, one at a time */
	json_t *rows;
	size_t next;
	int64_t last;    /* the last alert id the page looked at */
	int64_t sent_to; /* alerts below this id are fully sent */
	int failed;
	int digest;     /* the round is the digest's */
	int was_digest; /* the last round was */
	uv_work_t work;
	struct mail_msg msg;
	char *to, *subject, *body;
	int rc;
	char err[256];
};

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static int64_t
jint(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* The first digest_hour (UTC) at or after now. */
static int64_t
next_digest_at(int64_t now, int hour)
{
	int64_t day = now - now % DAY_MS, at = day + hour * 3600000LL;

	return at > now ? at : at + DAY_MS;
}

static void round_next(struct alertmail *m);
static void round_start(struct alertmail *m);

static void
on_timer(uv_timer_t *t)
{
	round_start(t->data);
}

static void
arm(struct alertmail *m, int64_t ms)
{
	if (!m->d->stopping)
		uv_timer_start(&m->timer, on_timer, (uint64_t)(ms > 0 ? ms : 0),
		               0);
}

static void
mail_work(uv_work_t *w)
{
	struct alertmail *m = w->data;

	m->rc = mail_send(&m->msg, m->err, sizeof(m->err));
}

static void cursor_saved(int status, const char *msg, void *data);

/* The round is over: keep the cursor, then wait for the next. */
static void
round_end(struct alertmail *m)
{
	struct store_batch *b;
	char v[32];

	json_decref(m->rows);
	m->rows = NULL;
	m->was_digest = m->digest;
	if (m->digest) {
		m->digest = 0;
		if (!m->failed)
			m->next_digest += DAY_MS;
	}
	if (m->sent_to > m->cursor) {
		m->cursor = m->sent_to;
		snprintf(v, sizeof(v), "%lld", (long long)m->cursor);
		b = store_batch_new();
		if (b != NULL &&
		    store_batch_meta_put(b, "mail.cursor", v) == 0 &&
		    store_batch_submit(m->d->store, b, cursor_saved, m) == 0)
			return;
		store_batch_free(b);
	}
	cursor_saved(0, NULL, m);
}

static void
cursor_saved(int status, const char *msg, void *data)
{
	struct alertmail *m = data;

	if (status != 0)
		log_error("mail: cannot save the cursor: %s",
		          msg ? msg : cairn_strerror(status));
	m->busy = 0;
	if (m->d->stopping)
		return;
	if (m->failed) {
		m->failed = 0;
		m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : 1000;
		if (m->backoff_ms > BACKOFF_MAX)
			m->backoff_ms = BACKOFF_MAX;
		arm(m, m->backoff_ms);
		return;
	}
	m->backoff_ms = 0;
	/* alerts were found: there may be more at once */
	arm(m,
	    m->last > 0 || m->was_digest ? 0 : m->d->cfg.queues.mail_poll_ms);
}

static void
mail_after(uv_work_t *w, int status)
{
	struct alertmail *m = w->data;
	const json_t *row = json_array_get(m->rows, m->next);

	free(m->to);
	free(m->subject);
	free(m->body);
	m->to = m->subject = m->body = NULL;
	if (status != 0 || m->rc != 0) {
		log_write(LOG_WARN, NULL, jstr(row, "case_id"), NULL,
		          "mail to %s failed: %s; trying again later",
		          jstr(row, "email"),
		          status != 0 ? uv_strerror(status) : m->err);
		m->failed = 1;
		round_end(m);
		return;
	}
	m->next++;
	round_next(m);
}

static int
send_one(struct alertmail *m, const char *to, char *subject, char *body)
{
	m->to = strdup(to);
	m->subject = subject;
	m->body = body;
	if (m->to == NULL || subject == NULL || body == NULL) {
		free(m->to);
		free(subject);
		free(body);
		m->to = m->subject = m->body = NULL;
		return -ENOMEM;
	}
	m->msg.url = m->d->cfg.queues.smtp_url;
	m->msg.from = m->d->cfg.queues.mail_from;
	m->msg.to = m->to;
	m->msg.subject = m->subject;
	m->msg.body = m->body;
	/* a stop waits for a send in flight: keep it short */
	m->msg.timeout_ms = 10000;
	m->work.data = m;
	return uv_queue_work(m->d->loop, &m->work, mail_work, mail_after);
}

/* One alert to one address, or (digest) one recipient's alerts. */
static void
round_next(struct alertmail *m)
{
	size_t n = json_array_size(m->rows);
	const json_t *row;
	char *subject = NULL, *body = NULL;

	if (m->d->stopping) {
		json_decref(m->rows);
		m->rows = NULL;
		m->busy = 0;
		return;
	}
	if (m->next >= n) {
		if (!m->digest)
			m->sent_to = m->last;
		round_end(m);
		return;
	}
	row = json_array_get(m->rows, m->next);
	if (!m->digest) {
		/* every alert before this one is fully sent */
		if (jint(row, "id") - 1 > m->sent_to)
			m->sent_to = jint(row, "id") - 1;
		if (asprintf(&subject, "[Cairn] %s: %s", jstr(row, "severity"),
		             jstr(row, "kind")) < 0)
			subject = NULL;
		if (asprintf(&body,
		             "%s\n\nCase: %s\nStudent: %s\nOffice: %s\n"
		             "Status: %s\nAlert: %lld (%s, %s)\n",
		             jstr(row, "message"), jstr(row, "case_id"),
		             jstr(row, "subject"), jstr(row, "owner"),
		             jstr(row, "status"), (long long)jint(row, "id"),
		             jstr(row, "kind"), jstr(row, "severity")) < 0)
			body = NULL;
	} else {
		/* the rows of one recipient are together */
		const char *rid = jstr(row, "rid");
		size_t end = m->next, len = 0, cap = 4096;
		int count = 0;

		body = malloc(cap);
		while (body != NULL && end < n &&
		       !strcmp(jstr(json_array_get(m->rows, end), "rid"),
		               rid)) {
			const json_t *a = json_array_get(m->rows, end);
			char line[700];
			int k = snprintf(
			        line, sizeof(line),
			        "- [%s] %s: %s (case %s, student %s)\n",
			        jstr(a, "severity"), jstr(a, "kind"),
			        jstr(a, "message"), jstr(a, "case_id"),
			        jstr(a, "subject"));

			if (k > 0 && len + (size_t)k + 1 > cap) {
				char *nb = realloc(body, cap * 2 + (size_t)k);

				if (nb == NULL) {
					free(body);
					body = NULL;
					break;
				}
				body = nb;
				cap = cap * 2 + (size_t)k;
			}
			if (body != NULL && k > 0) {
				memcpy(body + len, line, (size_t)k + 1);
				len += (size_t)k;
			}
			count++;
			end++;
		}
		if (asprintf(&subject, "[Cairn] daily digest: %d open alert%s",
		             count, count == 1 ? "" : "s") < 0)
			subject = NULL;
		/* the whole group goes in one mail: skip to its last row */
		m->next = end - 1;
	}
	if (send_one(m, jstr(row, "email"), subject, body) != 0) {
		m->failed = 1;
		round_end(m);
	}
}

static void
rows_read(int status, json_t *res, void *data)
{
	struct alertmail *m = data;

	if (status != 0) {
		log_error("mail: cannot read alerts: %s",
		          cairn_strerror(status));
		json_decref(res);
		m->failed = 1;
		round_end(m);
		return;
	}
	if (m->digest) {
		m->rows = res;
	} else {
		m->rows = json_incref(json_object_get(res, "mail"));
		m->last = jint(res, "last");
		json_decref(res);
	}
	m->next = 0;
	round_next(m);
}

static void
cursor_read(int status, json_t *res, void *data)
{
	struct alertmail *m = data;

	if (status == 0) {
		m->cursor = strtoll(jstr(res, "value"), NULL, 10);
		m->cursor_loaded = 1;
	} else if (status == CAIRN_ENOTFOUND) {
		m->cursor_loaded = 1;
	}
	json_decref(res);
	m->busy = 0;
	arm(m, m->cursor_loaded ? 0 : 1000);
}

static void
round_start(struct alertmail *m)
{
	int64_t now = cases_now(m->d);
	int rc;

	if (m->busy || m->d->stopping)
		return;
	m->busy = 1;
	if (!m->cursor_loaded) {
		if (store_meta_get(m->d->store, "mail.cursor", cursor_read,
		                   m) != 0)
			m->busy = 0;
		return;
	}
	m->failed = 0;
	m->last = 0;
	m->sent_to = m->cursor;
	if (now >= m->next_digest) {
		m->digest = 1;
		rc = store_mail_digest(m->d->store, m->next_digest - DAY_MS,
		                       rows_read, m);
	} else {
		rc = store_mail_pending(m->d->store, m->cursor, MAIL_PAGE,
		                        rows_read, m);
	}
	if (rc != 0) {
		m->busy = 0;
		m->digest = 0;
	}
}

int
alertmail_init(struct daemon *d)
{
	struct alertmail *m;

	if (d->cfg.queues.smtp_url[0] == '\0')
		return 0;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->d = d;
	m->next_digest =
	        next_digest_at(cases_now(d), d->cfg.queues.digest_hour);
	uv_timer_init(d->loop, &m->timer);
	m->timer.data = m;
	d->alertmail = m;
	arm(m, 0);
	return 0;
}

void
alertmail_kick(struct daemon *d)
{
	struct alertmail *m = d->alertmail;

	if (m != NULL && !m->busy)
		arm(m, 0);
}

static void
closed(uv_handle_t *h)
{
	free(h->data);
}

void
alertmail_close(struct daemon *d)
{
	struct alertmail *m = d->alertmail;

	if (m == NULL)
		return;
	d->alertmail = NULL;
	uv_timer_stop(&m->timer);
	uv_close((uv_handle_t *)&m->timer, closed);
}

int
alertmail_busy(const struct daemon *d)
{
	return d->alertmail != NULL && d->alertmail->busy;
}
