/*
 * alertmail.h: alerts delivered by email (SMTP through adapters/mail.c):
 * each alert to every address that takes alerts one by one, and a daily
 * digest to those who asked for one. Off unless queues.smtp_url is set.
 */
#ifndef CAIRN_ALERTMAIL_H
#define CAIRN_ALERTMAIL_H

struct daemon;

/* Starts the mailer when queues.smtp_url is set; 0 or -ENOMEM. */
int alertmail_init(struct daemon *d);
void alertmail_close(struct daemon *d);
/* Whether a round (a read, a send, the cursor's write) is under way: the
 * store must not close under it. */
int alertmail_busy(const struct daemon *d);
/* Looks for new alerts now rather than at the next poll (the clock
 * moved, for one). */
void alertmail_kick(struct daemon *d);

#endif
