/*
 * mail.c: one email through SMTP with libcurl's easy interface. The
 * message is built here (Date, From, To, Subject, a plain-text body with
 * CRLF line ends and dot-stuffing left to curl), and curl speaks SMTP.
 * Blocking: the caller runs it off the loop thread.
 */
#include "mail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

struct upload {
	const char *p;
	size_t left;
};

static size_t
on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t k = size * n < u->left ? size * n : u->left;

	memcpy(buf, u->p, k);
	u->p += k;
	u->left -= k;
	return k;
}

int
mail_address_ok(const char *s)
{
	const char *at;
	size_t n = s ? strlen(s) : 0;

	if (n < 3 || n > 254 || (at = strchr(s, '@')) == NULL || at == s ||
	    at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || strchr("<>(),;:\"[]\\", s[i]))
			return 0;
	return 1;
}

/* Appends text to the message with CRLF line ends. */
static void
put_crlf(char *out, size_t cap, size_t *len, const char *text)
{
	for (; *text && *len + 3 < cap; text++) {
		if (*text == '\r')
			continue;
		if (*text == '\n')
			out[(*len)++] = '\r';
		out[(*len)++] = *text;
	}
	out[*len] = '\0';
}

int
mail_send(const struct mail_msg *m, char *err, size_t errlen)
{
	char ebuf[CURL_ERROR_SIZE] = "", subject[256], date[64];
	struct curl_slist *rcpt = NULL;
	struct upload u;
	size_t cap, len = 0, j = 0;
	char *msg;
	time_t now = time(NULL);
	struct tm tm;
	CURLcode rc;
	CURL *h;

	if (!mail_address_ok(m->from) || !mail_address_ok(m->to)) {
		snprintf(err, errlen, "not an email address: %s",
		         mail_address_ok(m->from) ? m->to : m->from);
		return -1;
	}
	for (const char *s = m->subject; *s && j + 1 < sizeof(subject); s++)
		if (*s != '\r' && *s != '\n')
			subject[j++] = *s;
	subject[j] = '\0';
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	cap = strlen(m->body) * 2 + 1024;
	msg = malloc(cap);
	if (msg == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	len = (size_t)snprintf(msg, cap,
	                       "Date: %s\r\nFrom: %s\r\nTo: %s\r\n"
	                       "Subject: %s\r\nMIME-Version: 1.0\r\n"
	                       "Content-Type: text/plain; charset=utf-8\r\n"
	                       "\r\n",
	                       date, m->from, m->to, subject);
	put_crlf(msg, cap, &len, m->body);
	if (len < 2 || msg[len - 1] != '\n')
		put_crlf(msg, cap, &len, "\n");
	u.p = msg;
	u.left = len;

	h = curl_easy_init();
	if (h == NULL) {
		free(msg);
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	rcpt = curl_slist_append(rcpt, m->to);
	curl_easy_setopt(h, CURLOPT_URL, m->url);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, m->from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &u);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
	                 m->timeout_ms > 0 ? m->timeout_ms : 30000L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	/* STARTTLS when the server offers it (smtps:// is TLS from the start) */
	curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK)
		snprintf(err, errlen, "%s",
		         ebuf[0] ? ebuf : curl_easy_strerror(rc));
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	free(msg);
	return rc == CURLE_OK ? 0 : -1;
}
