/*
 * log.c: JSON lines on stderr. The level is the one process-wide setting
 * kept outside the daemon context, because every module logs and it is set
 * once before any thread starts.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;

void
log_set_level(enum log_level l)
{
	min_level = l;
}

int
log_enabled(enum log_level l)
{
	return l >= min_level;
}

static void
format_time(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	size_t n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

void
log_write(enum log_level l, const char *request_id, const char *case_id,
          json_t *extra, const char *fmt, ...)
{
	char ts[40], msg[2048];
	va_list ap;
	json_t *o, *m;
	char *line;
	size_t len;

	if (l < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	format_time(ts, sizeof(ts));

	o = json_object();
	if (o == NULL)
		return;
	json_object_set_new(o, "time", json_string(ts));
	json_object_set_new(o, "level", json_string(config_log_level_name(l)));
	/* json_string rejects invalid UTF-8; fall back to a marker rather
	 * than dropping the line. */
	m = json_string(msg);
	json_object_set_new(o, "msg",
	                    m ? m : json_string("(message not UTF-8)"));
	if (request_id != NULL)
		json_object_set_new(o, "request_id", json_string(request_id));
	if (case_id != NULL)
		json_object_set_new(o, "case_id", json_string(case_id));
	if (extra != NULL)
		json_object_update(o, extra);
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (line == NULL)
		return;
	len = strlen(line);
	line[len] = '\n'; /* replaces the NUL; written by length below */
	if (write(STDERR_FILENO, line, len + 1) < 0) {
		/* nowhere left to report it */
	}
	free(line);
}
