/*
 * log.h: cairnd's log: one JSON object a line on stderr with time, level,
 * message, and the request id and case id where there is one. Lines are
 * written with a single write(2) so concurrent writers never interleave.
 * Never pass tokens, credentials or sensitive fields here.
 */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

#include <jansson.h>

#include "config.h"

/* Sets the minimum level written; the default is LOG_INFO. Call once at
 * start-up, before other threads run. */
void log_set_level(enum log_level l);
int log_enabled(enum log_level l);

/*
 * Writes one line. request_id and case_id may be NULL. extra, if not NULL,
 * is an object whose members are added to the line; it is borrowed.
 */
void log_write(enum log_level l, const char *request_id, const char *case_id,
               json_t *extra, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

#define log_debug(...) log_write(LOG_DEBUG, NULL, NULL, NULL, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, NULL, NULL, NULL, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, NULL, NULL, NULL, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, NULL, NULL, NULL, __VA_ARGS__)

#endif
