/*
 * cairn.h: what every module shares: the project's error codes, the
 * error-info out-parameter that carries a file, line, column and message to
 * a person, and a monotonic/wall clock pair.
 *
 * Functions return 0 on success and a negative code on failure: -errno and
 * UV_E* values pass through unchanged; the codes below are Cairn's own.
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>

enum {
	CAIRN_ESYNTAX = -20001,   /* malformed configuration or definition */
	CAIRN_EINVALID = -20002,  /* well-formed but not acceptable */
	CAIRN_ESTORE = -20003,    /* database error (see the message) */
	CAIRN_EFULL = -20004,     /* disk or database size limit reached */
	CAIRN_ECORRUPT = -20005,  /* quick_check or integrity failure */
	CAIRN_ENOTFOUND = -20006, /* no such record */
	CAIRN_ECONFLICT = -20007, /* uniqueness or revision conflict */
	CAIRN_ECLOSED = -20008,   /* the component is shutting down */
	CAIRN_ENEWER = -20009,    /* database schema newer than this binary */
	CAIRN_EREPLAY = -20010,   /* an idempotency key already recorded */
};

/* Filled by a failing function for a person to read. file may be "". */
struct cairn_err {
	char file[512];
	int line;   /* 1-based; 0 when unknown */
	int column; /* 1-based; 0 when unknown */
	char msg[512];
};

/* Sets every field; fmt is printf-style. e may be NULL. */
void cairn_err_set(struct cairn_err *e, const char *file, int line, int column,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Writes "file:line:column: msg" (omitting what is unknown) into buf. */
void cairn_err_format(const struct cairn_err *e, char *buf, size_t len);

/* A static string naming code (Cairn's own or -errno/UV_E*). */
const char *cairn_strerror(int code);

/* Wall-clock milliseconds since the Unix epoch. */
int64_t cairn_now_ms(void);

/* Monotonic seconds, for how long something took (tools, benchmarks and
 * tests; the daemon's loop has uv_now). */
double cairn_mono_s(void);

/* Sleeps ms milliseconds (less when a signal interrupts it). */
void cairn_sleep_ms(int ms);

/*
 * Starts bin with argv as a child whose stdout and stderr append to log
 * (created 0600), and which the kernel kills when its parent dies (the
 * tools that run cairnd and the mock: a crashed tool leaves no daemon
 * behind). Returns the pid, or -1 when fork fails.
 */
int cairn_spawn(const char *bin, char *const argv[], const char *log);

#endif
