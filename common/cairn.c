/*
 * cairn.c: error-info helpers and the clock shared by every module.
 */
#include "cairn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

void
cairn_err_set(struct cairn_err *e, const char *file, int line, int column,
              const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	snprintf(e->file, sizeof(e->file), "%s", file ? file : "");
	e->line = line;
	e->column = column;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

void
cairn_err_format(const struct cairn_err *e, char *buf, size_t len)
{
	if (e->file[0] && e->line > 0 && e->column > 0)
		snprintf(buf, len, "%s:%d:%d: %s", e->file, e->line, e->column,
		         e->msg);
	else if (e->file[0] && e->line > 0)
		snprintf(buf, len, "%s:%d: %s", e->file, e->line, e->msg);
	else if (e->file[0])
		snprintf(buf, len, "%s: %s", e->file, e->msg);
	else
		snprintf(buf, len, "%s", e->msg);
}

const char *
cairn_strerror(int code)
{
	switch (code) {
	case 0:
		return "ok";
	case CAIRN_ESYNTAX:
		return "syntax error";
	case CAIRN_EINVALID:
		return "invalid";
	case CAIRN_ESTORE:
		return "database error";
	case CAIRN_EFULL:
		return "disk or database size limit reached";
	case CAIRN_ECORRUPT:
		return "database corrupt";
	case CAIRN_ENOTFOUND:
		return "not found";
	case CAIRN_ECONFLICT:
		return "conflict";
	case CAIRN_ECLOSED:
		return "shutting down";
	case CAIRN_EREPLAY:
		return "idempotency key already used";
	case CAIRN_ENEWER:
		return "database schema is newer than this program";
	default:
		if (code < 0 && code > -4096)
			return uv_strerror(code);
		return "unknown error";
	}
}

int64_t
cairn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double
cairn_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
cairn_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int
cairn_spawn(const char *bin, char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, argv);
		_exit(127);
	}
	return (int)pid;
}
