/*
 * config.h: cairnd's configuration: embedded defaults, the YAML file that
 * overrides them, and the command-line flags that override the file.
 */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include <stdint.h>

#include "../common/cairn.h"

#define CONFIG_MAX_DIRS 8
#define CONFIG_PATH_MAX 1024

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* --- abuse limits (daemon/abuse.h; issue 7, item 6) ---------------------
 * Rates are requests per second (0: no limit); bursts what a bucket holds.
 * Bad tokens from one address: the first bad_token_free pass unhindered,
 * then each 401 is held back bad_token_delay, doubling per failure up to
 * bad_token_max_delay; at bad_token_block failures (0: never) the address
 * gets 429 until enough are forgiven, one per bad_token_forgive. */
struct abuse_limits {
	int token_rate;                 /* 100 */
	int token_burst;                /* 500 */
	int address_rate;               /* 300 */
	int address_burst;              /* 1000 */
	int bad_token_free;             /* 5 */
	int64_t bad_token_delay_ms;     /* 250 ms */
	int64_t bad_token_max_delay_ms; /* 8 s */
	int bad_token_block;            /* 20 */
	int64_t bad_token_forgive_ms;   /* 30 s */
};

struct config {
	char file[CONFIG_PATH_MAX];     /* the file read; "" for defaults */
	char listen_host[256];          /* "127.0.0.1" */
	int listen_port;                /* 8080; 0 asks the kernel for one */
	char database[CONFIG_PATH_MAX]; /* "var/cairn.db" */
	/* definition directories, by kind; nworkflows etc. say how many */
	char workflows[CONFIG_MAX_DIRS][CONFIG_PATH_MAX];
	int nworkflows;
	char rules[CONFIG_MAX_DIRS][CONFIG_PATH_MAX];
	int nrules;
	char adapters[CONFIG_MAX_DIRS][CONFIG_PATH_MAX];
	int nadapters;
	/* the campuses spawned children may name; "" for no list */
	char campuses[CONFIG_PATH_MAX];
	struct {
		int64_t max_body_bytes;   /* 1 MiB */
		int64_t max_header_bytes; /* 16 KiB (request line + headers) */
		int64_t request_timeout_ms; /* 30 s: first byte to last byte */
		int64_t idle_timeout_ms; /* 60 s: keep-alive with nothing sent */
		int max_connections;     /* 10000 */
		int64_t max_db_bytes;    /* 0: no cap */
	} limits;
	enum log_level log_level; /* info */
	/* the adapters' outbox worker */
	struct {
		int max_rows;        /* 4096: outbox rows held in memory */
		int64_t poll_ms;     /* 2 s: a look for due rows when idle */
		int max_connections; /* 256: kept open to institutions */
	} outbox;
	/* review queues and alerts (queues.c) */
	struct {
		int64_t lease_ms;       /* 15 min: a claim's lease */
		int64_t max_lease_ms;   /* 8 h: the longest a claim may ask */
		char alert_webhook[72]; /* adapter whose `notify` gets each
					   new alert; "" for none */
		/* the SLA ladder of a queued status: a warning this long
		 * before it is due, an alert when due, an escalation to the
		 * office's supervisor this long after */
		int64_t sla_warn_before_ms;    /* 1 d */
		int64_t sla_escalate_after_ms; /* 1 d */
		/* email: each alert to its recipients' addresses through
		 * this SMTP server, or a daily digest for those who asked */
		char smtp_url[256];   /* "" (the default): no email */
		char mail_from[256];  /* "cairn@localhost" */
		int digest_hour;      /* 14 (UTC): when digests go out */
		int64_t mail_poll_ms; /* 5 s: how often new alerts are sought */
		/* award-year calendars (daemon/calendar.h): "" for none */
		char deadlines[CONFIG_PATH_MAX];
		int sla_business_days; /* 0: an SLA of N days is N*24 h;
					  1: N business days (Pacific) */
	} queues;
	/* the edge: see config_check_listen (default CONFIG_PUBLIC_REFUSE) */
	int listen_public;
	struct abuse_limits abuse;
	/* retention (daemon/retention.h): closed cases older than
	 * closed_case_years (0: off, the default) are purged or anonymized
	 * by a job that runs daily at hour:minute (UTC, by the case clock) */
	struct {
		int closed_case_years;
		int mode;         /* CONFIG_RETENTION_PURGE or _ANONYMIZE */
		int hour, minute; /* 03:30; -1: manual (runs only when
		                     asked, POST /v1/retention/run) */
	} retention;
};

enum { CONFIG_RETENTION_PURGE = 0, CONFIG_RETENTION_ANONYMIZE = 1 };

/* The abuse limits' defaults (in their comments above). */
void config_abuse_defaults(struct abuse_limits *a);

/* Fills c with the embedded defaults (paths relative to the working
 * directory: var/cairn.db, examples/workflows, examples/rules,
 * examples/adapters). */
void config_defaults(struct config *c);

/*
 * Reads the YAML file at path over what c holds. Relative paths in the file
 * are taken relative to the directory holding the file. Unknown keys, wrong
 * types, out-of-range values and YAML syntax errors fail with
 * CAIRN_ESYNTAX or CAIRN_EINVALID and fill err with file, line and column;
 * c is then left as it was (the file is applied all or nothing).
 */
int config_load(struct config *c, const char *path, struct cairn_err *err);

/* Parses "HOST:PORT" ("[::1]:8080" for IPv6) into c. */
int config_set_listen(struct config *c, const char *hostport,
                      struct cairn_err *err);

/* "30s", "5m", "250ms", "1h", "2d" -> milliseconds. */
int config_parse_duration(const char *s, int64_t *ms);
/* "1048576", "512KiB", "1MiB", "2GiB", "1MB", "16kB" -> bytes. */
int config_parse_size(const char *s, int64_t *bytes);

const char *config_log_level_name(enum log_level l);

/* --- the edge: who may reach cairnd -------------------------------------
 *
 * cairnd speaks plain HTTP. Listening on an address other than loopback
 * would put tokens and families' data on the network in clear text, so it
 * is refused unless the configuration says explicitly that TLS is
 * terminated in front (listen_public: behind_tls_proxy; etc/nginx/
 * cairn.conf is such a proxy).
 */
enum { CONFIG_PUBLIC_REFUSE = 0, CONFIG_PUBLIC_BEHIND_TLS_PROXY = 1 };

/* 1 when host is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z)
 * or "localhost"; names are not resolved. */
int config_host_is_loopback(const char *host);
/* 0 when c may listen where it says; else CAIRN_EINVALID and err says why
 * and what to do. */
int config_check_listen(const struct config *c, struct cairn_err *err);

#endif
