/*
 * main.c: cairnd. Reads the configuration (embedded defaults, then -c
 * FILE, then --listen and --db), checks the definitions, opens the store,
 * creates the first admin token on an empty database, serves HTTP, and
 * shuts down cleanly on SIGINT or SIGTERM: stop accepting, finish the
 * requests in flight, let the writer commit, close the database, exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "../adapters/outbox.h"
#include "abuse.h"
#include "check.h"
#include "daemon.h"
#include "log.h"
#include "retention.h"
#include "stream.h"

#define SHUTDOWN_GRACE_MS 4000 /* then in-flight connections are cut */

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: cairnd [-c FILE] [--listen HOST:PORT] [--db PATH] "
	        "[--check]\n"
	        "  -c, --config FILE    configuration (default: embedded "
	        "defaults)\n"
	        "  --listen HOST:PORT   override the listen address\n"
	        "  --db PATH            override the database path\n"
	        "  --check              validate the configuration and every "
	        "definition, then exit\n"
	        "  --test-clock         let an admin move the clock forward "
	        "(POST /v1/clock); for tests\n"
	        "  --rate-limits off    no per-token or per-address request "
	        "rates; for benchmarks\n"
	        "  --version            print the version\n");
}

/* Makes the directory holding path (one level), private to the owner. */
static int
ensure_parent_dir(const char *path)
{
	char tmp[CONFIG_PATH_MAX];
	char *dir;
	struct stat st;

	snprintf(tmp, sizeof(tmp), "%s", path);
	dir = dirname(tmp);
	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* admin.token beside the database */
static void
admin_token_path(const char *db, char *out, size_t len)
{
	char tmp[CONFIG_PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", db);
	snprintf(out, len, "%s/admin.token", dirname(tmp));
}

/* Writes the file whole or not at all: temp file, fsync, rename. */
static int
write_secret_file(const char *path, const char *text)
{
	char tmp[CONFIG_PATH_MAX + 32];
	size_t len = strlen(text);
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) != 0 || write(fd, text, len) != (ssize_t)len ||
	    write(fd, "\n", 1) != 1 || fsync(fd) != 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/*
 * On first start with an empty database: a new admin token, written to
 * admin.token first and committed second, so a crash in between leaves a
 * file with an unusable token that the next start replaces, never a
 * usable token nobody knows.
 */
static int
bootstrap_admin(struct daemon *d)
{
	int64_t n;
	struct store_token t;
	char token[AUTH_TOKEN_LEN + 1], path[CONFIG_PATH_MAX + 16], msg[512];
	struct store_batch *b;
	int rc;

	rc = store_token_count_sync(d->store, &n);
	if (rc != 0 || n > 0)
		return rc;
	memset(&t, 0, sizeof(t));
	if (auth_token_new(token, t.hash, t.id) != 0)
		return CAIRN_ESTORE;
	snprintf(t.role, sizeof(t.role), "admin");
	snprintf(t.label, sizeof(t.label), "created on first start");
	t.created_at = cairn_now_ms();
	admin_token_path(d->cfg.database, path, sizeof(path));
	rc = write_secret_file(path, token);
	OPENSSL_cleanse(token, sizeof(token));
	if (rc != 0) {
		log_error("cannot write %s: %s", path, strerror(-rc));
		return rc;
	}
	b = store_batch_new();
	if (b == NULL || store_batch_token_create(b, &t) != 0) {
		if (b)
			store_batch_free(b);
		return -ENOMEM;
	}
	rc = store_batch_commit_sync(d->store, b, msg, sizeof(msg));
	if (rc != 0) {
		unlink(path);
		log_error("cannot store the first admin token: %s", msg);
		return rc;
	}
	log_info("first start: created admin token %s in %s", t.id, path);
	fprintf(stderr,
	        "\ncairnd: first start on an empty database. An admin token is "
	        "in %s (mode 0600).\n"
	        "  export CAIRN_TOKEN=$(cat %s)\n"
	        "  curl -H \"Authorization: Bearer $CAIRN_TOKEN\" "
	        "http://%s:%d/v1/whoami\n\n",
	        path, path, d->cfg.listen_host, d->cfg.listen_port);
	return 0;
}

static void
on_handle_closed(uv_handle_t *h)
{
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, on_handle_closed);
}

/* The last step of a stop: once no command is left (a timer or a
 * migration may outlive the HTTP requests), the writer drains its queue,
 * commits, and the database closes. */
static void
close_when_idle(uv_timer_t *t)
{
	struct daemon *d = t->data;

	rules_host_close(d); /* no new publishes or watching */
	retention_close(d);  /* no new runs; frees once idle */
	if (cases_busy(d) || rules_host_busy(d) || outbox_busy(d) ||
	    retention_busy(d) || stream_busy(d)) {
		uv_timer_start(&d->idle_timer, close_when_idle, 5, 0);
		return;
	}
	uv_close((uv_handle_t *)&d->idle_timer, on_handle_closed);
	outbox_free(d);
	cases_close(d);
	store_close(d->store);
	d->store = NULL;
	uv_close((uv_handle_t *)&d->sigint, on_handle_closed);
	uv_close((uv_handle_t *)&d->sigterm, on_handle_closed);
	uv_close((uv_handle_t *)&d->sighup, on_handle_closed);
	uv_close((uv_handle_t *)&d->shutdown_timer, on_handle_closed);
	log_info("stopped");
}

static void
http_stopped(void *arg)
{
	struct daemon *d = arg;

	d->http = NULL;
	uv_timer_init(d->loop, &d->idle_timer);
	d->idle_timer.data = d;
	close_when_idle(&d->idle_timer);
}

static void
on_shutdown_deadline(uv_timer_t *t)
{
	struct daemon *d = t->data;

	if (d->http != NULL) {
		log_warn("shutdown deadline: closing %d connection(s)",
		         http_server_connections(d->http));
		http_server_abort(d->http);
	}
}

static void
on_stop_signal(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (d->stopping)
		return;
	d->stopping = 1;
	log_info("%s: stopping; finishing requests in flight",
	         signum == SIGINT ? "SIGINT" : "SIGTERM");
	uv_timer_start(&d->shutdown_timer, on_shutdown_deadline,
	               SHUTDOWN_GRACE_MS, 0);
	/* calls in flight are abandoned: their rows are due at next start */
	outbox_stop(d);
	/* 401s held back for bad tokens go out now: none holds the stop */
	api_abuse_stop(d);
	stream_stop(d); /* live streams get a last event and end */
	http_server_stop(d->http, http_stopped, d);
}

static void
sighup_done(int errors, void *arg)
{
	log_write(errors ? LOG_ERROR : LOG_INFO, NULL, NULL, NULL,
	          errors ? "SIGHUP: the new versions could not be recorded; "
	                   "the definitions loaded before stay in force"
	                 : "SIGHUP: definitions reloaded");
}

static void
on_sighup(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;
	struct check_result r;
	int rc;

	/* a definition with errors changes nothing: what was loaded stays */
	check_definitions(&d->cfg, NULL, &r);
	if (r.errors) {
		log_error("SIGHUP: %d file(s), %d error(s), %d warning(s); the "
		          "definitions loaded before stay in force",
		          r.files, r.errors, r.warnings);
		return;
	}
	if (outbox_reload(d) != 0)
		log_error("SIGHUP: the adapter definitions could not be "
		          "loaded; the ones loaded before stay in force");
	rules_host_rescan(d);
	rc = registry_reload(d, sighup_done, NULL);
	if (rc == -EBUSY)
		log_warn("SIGHUP: a reload is already under way");
	else if (rc != 0)
		log_error("SIGHUP: the definitions could not be loaded; the "
		          "ones loaded before stay in force");
}

static int
run(struct daemon *d)
{
	struct cairn_err err = {0};
	struct store_opts so = {0};
	struct http_server_opts ho = {0};
	struct check_result cr;
	char buf[1200];
	int rc;

	check_definitions(&d->cfg, NULL, &cr);
	if (cr.errors) {
		log_error("%d error(s) in the definitions; not starting "
		          "(run cairnd --check for the list)",
		          cr.errors);
		return 1;
	}
	rc = ensure_parent_dir(d->cfg.database);
	if (rc != 0) {
		log_error("cannot create the directory of %s: %s",
		          d->cfg.database, strerror(-rc));
		return 1;
	}
	so.path = d->cfg.database;
	so.max_db_bytes = d->cfg.limits.max_db_bytes;
	rc = store_open(d->loop, &so, &d->store, &err);
	if (rc != 0) {
		cairn_err_format(&err, buf, sizeof(buf));
		log_error("cannot open the database: %s", buf);
		return 1;
	}
	if (bootstrap_admin(d) != 0) {
		store_close(d->store);
		uv_run(d->loop, UV_RUN_DEFAULT);
		return 1;
	}
	if (cases_init(d) != 0) {
		log_error("not starting: the queues' configuration has errors "
		          "(see above)");
		cases_close(d);
		store_close(d->store);
		uv_run(d->loop, UV_RUN_DEFAULT);
		return 1;
	}
	if (rules_host_init(d) != 0) {
		log_error("the rule sets cannot be loaded; not starting");
		rules_host_close(d);
		cases_close(d);
		store_close(d->store);
		uv_run(d->loop, UV_RUN_DEFAULT);
		return 1;
	}
	if (registry_load(d) != 0) {
		log_error("the workflow definitions have errors; not starting "
		          "(run cairnd --check for the list)");
		rules_host_close(d);
		cases_close(d);
		store_close(d->store);
		uv_run(d->loop, UV_RUN_DEFAULT);
		return 1;
	}

	if (outbox_start(d) != 0) {
		log_error("the adapter definitions could not be loaded; not "
		          "starting (run cairnd --check for the list)");
		cases_close(d);
		store_close(d->store);
		uv_run(d->loop, UV_RUN_DEFAULT);
		return 1;
	}

	ho.host = d->cfg.listen_host;
	ho.port = d->cfg.listen_port;
	ho.limits.max_body_bytes = d->cfg.limits.max_body_bytes;
	ho.limits.max_header_bytes = d->cfg.limits.max_header_bytes;
	ho.limits.request_timeout_ms = d->cfg.limits.request_timeout_ms;
	ho.limits.idle_timeout_ms = d->cfg.limits.idle_timeout_ms;
	ho.limits.max_connections = d->cfg.limits.max_connections;
	ho.handler = api_handle;
	ho.observe = api_observe;
	ho.data = d;
	rc = http_server_start(d->loop, &ho, &d->http, &err);
	if (rc != 0) {
		log_error("%s", err.msg);
		outbox_stop(d);
		while (outbox_busy(d))
			uv_run(d->loop, UV_RUN_ONCE);
		outbox_free(d);
		rules_host_close(d);
		cases_close(d);
		store_close(d->store);
		uv_run(d->loop, UV_RUN_DEFAULT);
		return 1;
	}

	uv_signal_init(d->loop, &d->sigint);
	uv_signal_init(d->loop, &d->sigterm);
	uv_signal_init(d->loop, &d->sighup);
	uv_timer_init(d->loop, &d->shutdown_timer);
	d->sigint.data = d->sigterm.data = d->sighup.data = d;
	d->shutdown_timer.data = d;
	uv_signal_start(&d->sigint, on_stop_signal, SIGINT);
	uv_signal_start(&d->sigterm, on_stop_signal, SIGTERM);
	uv_signal_start(&d->sighup, on_sighup, SIGHUP);

	{
		json_t *x = json_pack(
		        "{s:s, s:i, s:s, s:i}", "host", d->cfg.listen_host,
		        "port", http_server_port(d->http), "database",
		        d->cfg.database, "definition_files", cr.files);

		log_write(LOG_INFO, NULL, NULL, x, "listening on %s:%d",
		          d->cfg.listen_host, http_server_port(d->http));
		json_decref(x);
	}
	/* timers that came due while cairnd was down fire now, once */
	cases_timers_scan(d);
	if (retention_init(d) != 0)
		log_warn("retention: out of memory; no runs until restarted");
	uv_run(d->loop, UV_RUN_DEFAULT);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct daemon d; /* large; not on the stack */
	struct cairn_err err = {0};
	const char *cfg_path = NULL, *listen = NULL, *db = NULL;
	int check_only = 0, rc, rates_off = 0;
	char buf[1200];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if ((!strcmp(a, "-c") || !strcmp(a, "--config")) &&
		    i + 1 < argc)
			cfg_path = argv[++i];
		else if (!strcmp(a, "--listen") && i + 1 < argc)
			listen = argv[++i];
		else if (!strcmp(a, "--db") && i + 1 < argc)
			db = argv[++i];
		else if (!strcmp(a, "--check"))
			check_only = 1;
		else if (!strcmp(a, "--test-clock"))
			d.test_clock = 1;
		else if (!strcmp(a, "--rate-limits") && i + 1 < argc &&
		         !strcmp(argv[i + 1], "off") && ++i)
			rates_off = 1;
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("cairnd %s\n", CAIRN_VERSION);
			return 0;
		} else {
			fprintf(stderr,
			        "cairnd: unknown or incomplete "
			        "argument '%s'\n",
			        a);
			usage(stderr);
			return 2;
		}
	}

	config_defaults(&d.cfg);
	if (cfg_path != NULL && config_load(&d.cfg, cfg_path, &err) != 0) {
		cairn_err_format(&err, buf, sizeof(buf));
		fprintf(stderr, "%s\n", buf);
		return 1;
	}
	if (listen != NULL && config_set_listen(&d.cfg, listen, &err) != 0) {
		fprintf(stderr, "cairnd: --listen: %s\n", err.msg);
		return 2;
	}
	if (db != NULL) {
		if (strlen(db) >= sizeof(d.cfg.database) || db[0] == '\0') {
			fprintf(stderr,
			        "cairnd: --db: path empty or too long\n");
			return 2;
		}
		snprintf(d.cfg.database, sizeof(d.cfg.database), "%s", db);
	}

	if (rates_off)
		d.cfg.abuse.token_rate = d.cfg.abuse.address_rate = 0;

	/* after --listen: the address actually used is the one judged */
	if (config_check_listen(&d.cfg, &err) != 0) {
		cairn_err_format(&err, buf, sizeof(buf));
		fprintf(stderr, "cairnd: %s\n", buf);
		return 1;
	}
	if (check_only) {
		struct check_result r;

		check_definitions(&d.cfg, stderr, &r);
		printf("%s: %d definition file(s), %d error(s), %d "
		       "warning(s)\n",
		       cfg_path ? cfg_path : "(embedded defaults)", r.files,
		       r.errors, r.warnings);
		return r.errors ? 1 : 0;
	}

	signal(SIGPIPE, SIG_IGN);
	/* the database, its WAL and the token file hold families' data and
	 * secrets: owner only */
	umask(077);
	log_set_level(d.cfg.log_level);
	d.loop = uv_default_loop();
	d.token_cache = calloc(TOKEN_CACHE_SIZE, sizeof(*d.token_cache));
	if (d.token_cache == NULL)
		return 1;
	metrics_init(&d.metrics);
	d.abuse = abuse_new(&d.cfg.abuse);
	if (d.abuse == NULL)
		return 1;
	rc = run(&d);
	uv_walk(d.loop, close_walk, NULL);
	uv_run(d.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(d.loop) != 0)
		log_warn("event loop closed with handles still open");
	rules_host_destroy(&d);
	abuse_free(d.abuse);
	stream_free(&d);
	free(d.token_cache);
	return rc;
}
