/*
 * mail.h: one email through an SMTP server with libcurl.
 *
 * mail_send blocks for the whole SMTP conversation (bounded by its
 * timeouts): the daemon calls it on the libuv thread pool, never on the
 * loop thread.
 */
#ifndef CAIRN_MAIL_H
#define CAIRN_MAIL_H

#include <stddef.h>

struct mail_msg {
	const char *url;     /* smtp://host:port or smtps://host:port */
	const char *from;    /* the envelope and header sender */
	const char *to;      /* one recipient address */
	const char *subject; /* one line; CR and LF are dropped */
	const char *body;    /* plain text; lines end in LF or CRLF */
	long timeout_ms;     /* the whole conversation; 0 means 30 s */
};

/*
 * Sends m. Returns 0 once the server accepted the message, or -1 with a
 * reason for a person in err (curl's, or the server's reply).
 */
int mail_send(const struct mail_msg *m, char *err, size_t errlen);

/* Whether s is an address mail_send can put in a header and an envelope:
 * local@domain, printable ASCII, no spaces, brackets, commas or quotes,
 * at most 254 characters. */
int mail_address_ok(const char *s);

#endif
