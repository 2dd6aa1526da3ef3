/*
 * rules_host.c: live rule-set versions, publishing, rollback, dry runs and
 * the directory watch (see rules_host.h).
 *
 * Threads: the loop thread owns every struct here and evaluates with each
 * set's loop evaluator. Loading a version, running its tests and dry runs
 * happen on the thread pool with evaluators of their own; a loaded
 * version (struct rver) is immutable and reference counted on the loop
 * thread, so a dry run keeps the version it started with even if another
 * is published meanwhile. The swap itself is one pointer assignment on the
 * loop thread, so it always falls between two evaluations.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>

#include "../rules/rules.h"
#include "api_int.h"
#include "daemon.h"
#include "log.h"
#include "privacy.h"
#include "rules_host.h"

#define WATCH_INTERVAL_MS 500
#define MAX_SETS          256
#define DRY_EXAMPLES      5

/* One loaded version; freed when the last reference goes. */
struct rver {
	struct rs_set *set;
	int refs;
};

struct rset {
	char *name;
	char *dir;             /* its directory, or NULL when only uploaded */
	struct rver *live;     /* NULL: no version has passed yet */
	struct rs_eval *ev;    /* the loop thread's evaluator of live */
	json_t *versions;      /* [{version, state, source, created_at,
			       published_at, tests, error}] oldest first */
	json_t *files;         /* {version: {path: text}} of every version */
	char fingerprint[65];  /* of the directory when last looked at */
	json_t *last_failure;  /* the latest rejection, or NULL */
	int publishing, again; /* a publish is under way / wanted again */
};

struct rules_host {
	struct daemon *d;
	struct rset *sets;
	int n;
	uv_timer_t watch;
	int scanning;
	int closing;
	int inflight; /* publishes and dry runs on the thread pool */
	uint64_t evaluations, failures;
};

static struct rs_limits host_limits;

/* --- dates ---------------------------------------------------------------- */

static int64_t
utc_at(int y, int mon, int day, int hour)
{
	struct tm tm = {0};

	tm.tm_year = y - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	return (int64_t)timegm(&tm);
}

/* The day of the month of the n-th Sunday of a month. */
static int
nth_sunday(int y, int mon, int n)
{
	struct tm tm;
	time_t t = (time_t)utc_at(y, mon, 1, 12);

	gmtime_r(&t, &tm);
	return 1 + (7 - tm.tm_wday) % 7 + 7 * (n - 1);
}

void
rules_la_date(int64_t ms, char out[11])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	int64_t start, end;
	int y;

	gmtime_r(&(time_t){t - 8 * 3600}, &tm);
	y = tm.tm_year + 1900;
	/* since 2007: from 2:00 PST on the second Sunday of March to 2:00
	 * PDT on the first Sunday of November */
	start = utc_at(y, 3, nth_sunday(y, 3, 2), 10);
	end = utc_at(y, 11, nth_sunday(y, 11, 1), 9);
	t += (t >= start && t < end) ? -7 * 3600 : -8 * 3600;
	gmtime_r(&t, &tm);
	{
		char buf[48];

		snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday);
		memcpy(out, buf, 10);
		out[10] = '\0';
	}
}

void
rules_award_year(const char *date, char out[8])
{
	int y = atoi(date), m = atoi(date + 5);

	if (m < 7)
		y--;
	snprintf(out, 8, "%04d-%02d", (y % 10000 + 10000) % 10000,
	         ((y + 1) % 100 + 100) % 100);
}

/* --- versions ------------------------------------------------------------- */

static struct rver *
rver_new(struct rs_set *s)
{
	struct rver *v = calloc(1, sizeof(*v));

	if (v == NULL) {
		rs_set_free(s);
		return NULL;
	}
	v->set = s;
	v->refs = 1;
	return v;
}

static void
rver_put(struct rver *v)
{
	if (v != NULL && --v->refs == 0) {
		rs_set_free(v->set);
		free(v);
	}
}

static struct rset *
set_find(struct rules_host *h, const char *name)
{
	for (int i = 0; i < h->n; i++)
		if (!strcmp(h->sets[i].name, name))
			return &h->sets[i];
	return NULL;
}

static int
set_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static struct rset *
set_add(struct rules_host *h, const char *name)
{
	struct rset *s = set_find(h, name), *grown;

	if (s != NULL)
		return s;
	if (h->n == MAX_SETS)
		return NULL;
	grown = realloc(h->sets, (size_t)(h->n + 1) * sizeof(*grown));
	if (grown == NULL)
		return NULL;
	h->sets = grown;
	s = &h->sets[h->n];
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	s->versions = json_array();
	s->files = json_object();
	if (s->name == NULL || s->versions == NULL || s->files == NULL) {
		free(s->name);
		json_decref(s->versions);
		json_decref(s->files);
		return NULL;
	}
	h->n++;
	return s;
}

static json_t *
version_meta(struct rset *s, const char *version)
{
	size_t i;
	json_t *v;

	json_array_foreach(s->versions, i, v)
	{
		const char *x =
		        json_string_value(json_object_get(v, "version"));

		if (x && !strcmp(x, version))
			return v;
	}
	return NULL;
}

/* Records what the store now says about a version, in memory too. */
static void
version_note(struct rset *s, const char *version, const char *state,
             const char *source, const json_t *tests, const char *error,
             int64_t at)
{
	json_t *m = version_meta(s, version);
	size_t i;
	json_t *v;

	if (!strcmp(state, "live"))
		json_array_foreach(s->versions, i, v)
		{
			const char *st =
			        json_string_value(json_object_get(v, "state"));

			if (st && !strcmp(st, "live"))
				json_object_set_new(v, "state",
				                    json_string("previous"));
		}
	if (m == NULL) {
		m = json_pack("{s:s, s:s, s:s, s:I, s:n}", "version", version,
		              "state", state, "source", source, "created_at",
		              (json_int_t)at, "published_at");
		if (m == NULL || json_array_append_new(s->versions, m) != 0)
			return;
	}
	json_object_set_new(m, "state", json_string(state));
	if (!strcmp(state, "live"))
		json_object_set_new(m, "published_at", json_integer(at));
	if (tests != NULL)
		json_object_set_new(
		        m, "tests",
		        json_pack("{s:O?, s:O?}", "passed",
		                  json_object_get(tests, "passed"), "failed",
		                  json_object_get(tests, "failed")));
	json_object_set_new(m, "error",
	                    error ? json_string(error) : json_null());
}

/* --- loading and testing, off the loop ----------------------------------- */

struct load_report {
	json_t *errors;
};

static void
load_report(const struct cairn_err *e, int warning, void *data)
{
	struct load_report *r = data;
	json_t *o;

	if (warning)
		return;
	o = json_pack("{s:s, s:i, s:i, s:s}", "file", e->file, "line", e->line,
	              "column", e->column, "message", e->msg);
	if (o != NULL)
		json_array_append_new(r->errors, o);
}

/* A candidate version: loaded, compiled and tested on a pool thread. */
struct cand {
	char *dir;     /* from a directory, or */
	json_t *files; /* from files in memory */
	char name[72];
	struct rs_set *set; /* on success */
	json_t *errors;     /* load errors [{file, line, column, message}] */
	json_t *tests;      /* the test report */
	int failures;       /* failed tests; -1: could not run */
};

static void
cand_run(struct cand *c)
{
	struct load_report rep;
	int rc;

	c->errors = json_array();
	rep.errors = c->errors;
	rc = c->dir ? rs_load_dir(c->dir, load_report, &rep, &c->set)
	            : rs_load_files(c->name, c->files, load_report, &rep,
	                            &c->set);
	if (rc != 0) {
		if (json_array_size(c->errors) == 0)
			json_array_append_new(c->errors,
			                      json_pack("{s:s}", "message",
			                                cairn_strerror(rc)));
		c->set = NULL;
		c->failures = -1;
		return;
	}
	c->failures = rs_run_tests(c->set, &host_limits, &c->tests);
}

static void
cand_free(struct cand *c)
{
	free(c->dir);
	json_decref(c->files);
	rs_set_free(c->set);
	json_decref(c->errors);
	json_decref(c->tests);
	memset(c, 0, sizeof(*c));
}

/* Why a candidate was rejected, for a person. */
static void
cand_reason(const struct cand *c, char *buf, size_t len)
{
	json_t *e = json_array_get(c->errors, 0);

	if (c->set == NULL && e != NULL) {
		const char *file =
		        json_string_value(json_object_get(e, "file"));

		snprintf(buf, len, "%s%s%lld%s%s", file ? file : "",
		         file && *file ? ":" : "",
		         (long long)json_integer_value(
		                 json_object_get(e, "line")),
		         file && *file ? ": " : "",
		         json_string_value(json_object_get(e, "message")));
	} else if (c->set == NULL) {
		snprintf(buf, len, "the rule set could not be loaded");
	} else if (c->failures < 0) {
		snprintf(buf, len, "its tests could not be run");
	} else {
		snprintf(buf, len, "%d of its tests failed", c->failures);
	}
}

/* --- publishing ----------------------------------------------------------- */

enum pub_kind { PUB_DIR, PUB_UPLOAD, PUB_ROLLBACK };

struct pub {
	uv_work_t w;
	struct rules_host *h;
	enum pub_kind kind;
	struct cand c;
	struct rs_eval *ev; /* for the loop, made off it */
	struct api_call *call;
	char version[65];
	char error[512];
	int64_t t0;
	int counted; /* in h->inflight */
};

static void publish_next(struct rules_host *h, struct rset *s);

static void
pub_work(uv_work_t *w)
{
	struct pub *p = w->data;
	struct cairn_err e = {0};

	cand_run(&p->c);
	if (p->c.set != NULL && p->c.failures == 0 &&
	    rs_eval_new(p->c.set, &host_limits, &p->ev, &e) != 0) {
		p->ev = NULL;
		p->c.failures = -1;
	}
}

static void
pub_free(struct pub *p)
{
	if (p->counted)
		p->h->inflight--;
	cand_free(&p->c);
	if (p->ev)
		rs_eval_free(p->ev);
	free(p);
}

static void
pub_reply_failure(struct pub *p, struct rset *s)
{
	json_t *x;

	if (p->call == NULL)
		return;
	x = json_pack("{s:s, s:s?, s:O, s:O?}", "rule_set", s->name, "version",
	              p->version[0] ? p->version : NULL, "errors",
	              p->c.errors ? p->c.errors : json_null(), "tests",
	              p->c.tests);
	api_reply_problem(p->call, 422, "rules-rejected", p->error, x, NULL);
	p->call = NULL;
}

struct pub_commit {
	struct pub *p;
	struct rset *s; /* index may move if sets grow: found again by name */
	char name[72];
	int live;
};

static void
pub_committed(int status, const char *msg, void *data)
{
	struct pub_commit *pc = data;
	struct pub *p = pc->p;
	struct rules_host *h = p->h;
	struct rset *s = set_find(h, pc->name);
	int64_t now = cairn_now_ms();

	if (s == NULL) { /* cannot happen: sets are never removed */
		pub_free(p);
		free(pc);
		return;
	}
	s->publishing = 0;
	if (status != 0) {
		log_error("rules %s: version %.12s could not be recorded: %s",
		          s->name, p->version, msg ? msg : "");
		if (p->call != NULL)
			api_reply_problem(p->call, 503, "storage-unavailable",
			                  msg ? msg : "the store failed", NULL,
			                  NULL);
		p->call = NULL;
	} else if (pc->live) {
		struct rver *v = rver_new(p->c.set);
		const char *source = p->kind == PUB_DIR      ? "file"
		                     : p->kind == PUB_UPLOAD ? "api"
		                                             : "rollback";

		p->c.set = NULL;
		if (v == NULL) {
			log_error("rules %s: out of memory", s->name);
		} else {
			/* the swap: between two evaluations, by construction */
			rver_put(s->live);
			if (s->ev)
				rs_eval_free(s->ev);
			s->live = v;
			s->ev = p->ev;
			p->ev = NULL;
			json_decref(s->last_failure);
			s->last_failure = NULL;
			if (json_object_get(s->files, p->version) == NULL)
				json_object_set(s->files, p->version,
				                (json_t *)rs_files(v->set));
			version_note(s, p->version, "live", source, p->c.tests,
			             NULL, now);
			log_info("rules %s: version %.12s is live (%s, %.1f "
			         "ms)",
			         s->name, p->version, source,
			         (double)(now - p->t0));
		}
		if (p->call != NULL)
			api_reply_json(p->call, 200,
			               json_pack("{s:s, s:s, s:s, s:O?}",
			                         "rule_set", s->name, "version",
			                         p->version, "state", "live",
			                         "tests", p->c.tests),
			               NULL);
		p->call = NULL;
	} else {
		json_decref(s->last_failure);
		s->last_failure =
		        json_pack("{s:s?, s:s, s:I, s:O?, s:O?}", "version",
		                  p->version[0] ? p->version : NULL, "error",
		                  p->error, "at", (json_int_t)now, "errors",
		                  p->c.errors, "tests", p->c.tests);
		if (p->version[0])
			version_note(s, p->version, "rejected",
			             p->kind == PUB_DIR ? "file" : "api",
			             p->c.tests, p->error, now);
		pub_reply_failure(p, s);
	}
	pub_free(p);
	free(pc);
	if (s->again)
		publish_next(h, s);
}

static void
pub_done(uv_work_t *w, int status)
{
	struct pub *p = w->data;
	struct rules_host *h = p->h;
	struct rset *s = set_find(h, p->c.name);
	struct store_batch *b;
	struct pub_commit *pc;
	char *files = NULL, *tests = NULL;
	int live, rc = 0;

	if (s == NULL || h->closing || status != 0) {
		if (s)
			s->publishing = 0;
		if (p->call)
			api_reply_problem(p->call, 503, "storage-unavailable",
			                  "shutting down", NULL, NULL);
		p->call = NULL;
		pub_free(p);
		return;
	}
	if (p->c.set != NULL)
		snprintf(p->version, sizeof(p->version), "%s",
		         rs_version(p->c.set));
	live = p->c.set != NULL && p->c.failures == 0 && p->ev != NULL;
	if (live && s->live && !strcmp(rs_version(s->live->set), p->version)) {
		/* the live version already: nothing to publish */
		s->publishing = 0;
		if (p->call)
			api_reply_json(p->call, 200,
			               json_pack("{s:s, s:s, s:s}", "rule_set",
			                         s->name, "version", p->version,
			                         "state", "live"),
			               NULL);
		p->call = NULL;
		pub_free(p);
		if (s->again)
			publish_next(h, s);
		return;
	}
	if (!live) {
		cand_reason(&p->c, p->error, sizeof(p->error));
		log_write(LOG_ERROR, NULL, NULL, p->c.errors,
		          "rules %s: version %.12s rejected, the live version "
		          "stays: %s",
		          s->name, p->version[0] ? p->version : "(unloadable)",
		          p->error);
	}
	b = store_batch_new();
	pc = calloc(1, sizeof(*pc));
	if (p->c.set != NULL)
		files = json_dumps(rs_files(p->c.set),
		                   JSON_COMPACT | JSON_SORT_KEYS);
	if (p->c.tests != NULL)
		tests = json_dumps(p->c.tests, JSON_COMPACT);
	if (b == NULL || pc == NULL) {
		rc = -ENOMEM;
	} else {
		if (p->version[0])
			rc = store_batch_rule_put(
			        b, s->name, p->version, files ? files : "{}",
			        p->kind == PUB_DIR      ? "file"
			        : p->kind == PUB_UPLOAD ? "api"
			                                : "rollback",
			        live ? "live" : "rejected", tests,
			        live ? NULL : p->error, cairn_now_ms());
		if (rc == 0 && !live) {
			char alert_case[96], msg[700];

			/* one open alert per set; the policy role's inbox */
			snprintf(alert_case, sizeof(alert_case), "rule_set:%s",
			         s->name);
			snprintf(msg, sizeof(msg),
			         "A new version of rule set %s was rejected "
			         "and the live version stays: %s",
			         s->name, p->error);
			rc = store_batch_alert_add(
			        b, alert_case, "rules_rejected", "warning",
			        "role:policy", msg, NULL, cairn_now_ms());
		}
	}
	free(files);
	free(tests);
	if (rc != 0) {
		if (b)
			store_batch_free(b);
		free(pc);
		s->publishing = 0;
		if (p->call)
			api_reply_problem(p->call, 503, "overloaded",
			                  "out of memory", NULL, NULL);
		p->call = NULL;
		pub_free(p);
		return;
	}
	pc->p = p;
	pc->live = live;
	snprintf(pc->name, sizeof(pc->name), "%s", s->name);
	if (store_batch_submit(h->d->store, b, pub_committed, pc) != 0) {
		s->publishing = 0;
		if (p->call)
			api_reply_problem(p->call, 503, "storage-unavailable",
			                  "shutting down", NULL, NULL);
		p->call = NULL;
		pub_free(p);
		free(pc);
	}
}

/* Starts publishing p for s; a set publishes one version at a time. */
static int
publish_start(struct rules_host *h, struct rset *s, struct pub *p)
{
	p->h = h;
	p->w.data = p;
	p->t0 = cairn_now_ms();
	snprintf(p->c.name, sizeof(p->c.name), "%s", s->name);
	s->publishing = 1;
	if (uv_queue_work(h->d->loop, &p->w, pub_work, pub_done) != 0) {
		s->publishing = 0;
		return -1;
	}
	h->inflight++;
	p->counted = 1;
	return 0;
}

/* Publishes what the set's directory holds now. */
static void
publish_next(struct rules_host *h, struct rset *s)
{
	struct pub *p;

	s->again = 0;
	if (s->dir == NULL || h->closing)
		return;
	if (s->publishing) {
		s->again = 1;
		return;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->c.dir = strdup(s->dir)) == NULL) {
		free(p);
		return;
	}
	p->kind = PUB_DIR;
	if (publish_start(h, s, p) != 0)
		pub_free(p);
}

/* --- watching the directories ------------------------------------------- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every file under dir (two levels: params/, tests/) to md. */
static void
fingerprint_dir(EVP_MD_CTX *md, const char *dir, int depth)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (dh == NULL)
		return;
	while ((de = readdir(dh)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **g;

			cap = cap ? cap * 2 : 16;
			g = realloc(names, cap * sizeof(*g));
			if (g == NULL)
				break;
			names = g;
		}
		if ((names[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(dh);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[4096], line[4300];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < 2) {
				fingerprint_dir(md, path, depth + 1);
			} else if (S_ISREG(st.st_mode)) {
				snprintf(line, sizeof(line),
				         "%s\n%lld\n%lld.%09ld\n", path,
				         (long long)st.st_size,
				         (long long)st.st_mtim.tv_sec,
				         st.st_mtim.tv_nsec);
				EVP_DigestUpdate(md, line, strlen(line));
			}
		}
		free(names[i]);
	}
	free(names);
}

struct watch {
	uv_work_t w;
	struct rules_host *h;
	int ndirs;
	char (*dirs)[CONFIG_PATH_MAX];
	json_t *found; /* {set name: {dir, fingerprint}} */
};

static void
watch_work(uv_work_t *w)
{
	struct watch *wt = w->data;

	wt->found = json_object();
	for (int i = 0; wt->found && i < wt->ndirs; i++) {
		DIR *dh = opendir(wt->dirs[i]);
		struct dirent *de;

		if (dh == NULL)
			continue;
		while ((de = readdir(dh)) != NULL) {
			char path[4096], hex[65];
			unsigned char sum[32];
			unsigned int len = 32;
			struct stat st;
			EVP_MD_CTX *md;

			if (de->d_name[0] == '.' || !set_name_ok(de->d_name))
				continue;
			snprintf(path, sizeof(path), "%s/%s", wt->dirs[i],
			         de->d_name);
			if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode) ||
			    json_object_get(wt->found, de->d_name))
				continue;
			md = EVP_MD_CTX_new();
			if (md == NULL ||
			    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
				EVP_MD_CTX_free(md);
				continue;
			}
			fingerprint_dir(md, path, 1);
			EVP_DigestFinal_ex(md, sum, &len);
			EVP_MD_CTX_free(md);
			for (int k = 0; k < 32; k++)
				snprintf(hex + 2 * k, 3, "%02x", sum[k]);
			json_object_set_new(wt->found, de->d_name,
			                    json_pack("{s:s, s:s}", "dir", path,
			                              "fingerprint", hex));
		}
		closedir(dh);
	}
}

static void
watch_done(uv_work_t *w, int status)
{
	struct watch *wt = w->data;
	struct rules_host *h = wt->h;
	const char *name;
	json_t *v;

	h->scanning = 0;
	h->inflight--;
	if (status == 0 && !h->closing && wt->found != NULL) {
		json_object_foreach(wt->found, name, v)
		{
			const char *fp = json_string_value(
			        json_object_get(v, "fingerprint"));
			struct rset *s = set_add(h, name);

			if (s == NULL || fp == NULL ||
			    !strcmp(s->fingerprint, fp))
				continue;
			snprintf(s->fingerprint, sizeof(s->fingerprint), "%s",
			         fp);
			if (s->dir == NULL)
				s->dir = strdup(json_string_value(
				        json_object_get(v, "dir")));
			publish_next(h, s);
		}
	}
	json_decref(wt->found);
	free(wt);
}

static void
watch_tick(uv_timer_t *t)
{
	struct rules_host *h = t->data;
	struct watch *wt;

	if (h->scanning || h->closing || h->d->cfg.nrules == 0)
		return;
	wt = calloc(1, sizeof(*wt));
	if (wt == NULL)
		return;
	wt->h = h;
	wt->ndirs = h->d->cfg.nrules;
	wt->dirs = h->d->cfg.rules;
	wt->w.data = wt;
	h->scanning = 1;
	if (uv_queue_work(h->d->loop, &wt->w, watch_work, watch_done) != 0) {
		h->scanning = 0;
		free(wt);
		return;
	}
	h->inflight++;
}

void
rules_host_rescan(struct daemon *d)
{
	if (d->rules != NULL)
		watch_tick(&d->rules->watch);
}

/* --- start-up -------------------------------------------------------------- */

/* The stored versions, and the live one of each set loaded. */
static int
load_stored(struct rules_host *h)
{
	json_t *rows = NULL, *row;
	size_t i;
	int rc = store_rules_sync(h->d->store, &rows);

	if (rc != 0) {
		log_error("rules: the stored versions cannot be read: %s",
		          cairn_strerror(rc));
		return -1;
	}
	json_array_foreach(rows, i, row)
	{
		const char *name =
		        json_string_value(json_object_get(row, "rule_set"));
		const char *ver =
		        json_string_value(json_object_get(row, "version"));
		const char *state =
		        json_string_value(json_object_get(row, "state"));
		const char *ftext =
		        json_string_value(json_object_get(row, "files"));
		const char *ttext =
		        json_string_value(json_object_get(row, "tests"));
		struct rset *s = name ? set_add(h, name) : NULL;
		json_t *files = ftext ? json_loads(ftext, 0, NULL) : NULL;
		json_t *tests = ttext ? json_loads(ttext, 0, NULL) : NULL;
		json_t *m;

		if (s == NULL || ver == NULL || state == NULL) {
			json_decref(files);
			json_decref(tests);
			continue;
		}
		m = json_pack("{s:s, s:s, s:O?, s:O?, s:O?, s:O?}", "version",
		              ver, "state", state, "source",
		              json_object_get(row, "source"), "created_at",
		              json_object_get(row, "created_at"),
		              "published_at",
		              json_object_get(row, "published_at"), "error",
		              json_object_get(row, "error"));
		if (m != NULL && tests != NULL)
			json_object_set_new(
			        m, "tests",
			        json_pack("{s:O?, s:O?}", "passed",
			                  json_object_get(tests, "passed"),
			                  "failed",
			                  json_object_get(tests, "failed")));
		if (m != NULL)
			json_array_append_new(s->versions, m);
		if (files != NULL)
			json_object_set(s->files, ver, files);
		if (!strcmp(state, "live") && files != NULL) {
			struct rs_set *set = NULL;
			struct cairn_err e = {0};
			struct load_report rep = {json_array()};

			if (rs_load_files(name, files, load_report, &rep,
			                  &set) == 0 &&
			    (s->live = rver_new(set)) != NULL &&
			    rs_eval_new(set, &host_limits, &s->ev, &e) != 0) {
				rver_put(s->live);
				s->live = NULL;
				s->ev = NULL;
			}
			if (s->live == NULL)
				log_error("rules %s: the stored live version "
				          "%.12s no longer loads",
				          name, ver);
			json_decref(rep.errors);
		}
		json_decref(files);
		json_decref(tests);
	}
	json_decref(rows);
	return 0;
}

/*
 * A set's directory at start-up: a version never seen before is published
 * (if its tests pass); one the store knows stays as the store says, so a
 * rollback or an upload outlives a restart.
 */
static void
load_dir_sync(struct rules_host *h, const char *name, const char *dir)
{
	struct rset *s = set_add(h, name);
	struct pub p = {0};

	if (s == NULL)
		return;
	if (s->dir == NULL)
		s->dir = strdup(dir);
	p.c.dir = strdup(dir);
	snprintf(p.c.name, sizeof(p.c.name), "%s", name);
	p.w.data = &p;
	pub_work(&p.w);
	if (p.c.set != NULL) {
		const char *ver = rs_version(p.c.set);
		json_t *m = version_meta(s, ver);

		if (s->live != NULL && m != NULL) {
			cand_free(&p.c);
			if (p.ev)
				rs_eval_free(p.ev);
			return;
		}
	}
	/* new: record and swap in as at run time, synchronously */
	{
		struct pub *q = calloc(1, sizeof(*q));

		if (q == NULL) {
			cand_free(&p.c);
			if (p.ev)
				rs_eval_free(p.ev);
			return;
		}
		*q = p;
		q->h = h;
		q->kind = PUB_DIR;
		q->t0 = cairn_now_ms();
		q->w.data = q;
		s->publishing = 1;
		pub_done(&q->w, 0);
		while (s->publishing)
			uv_run(h->d->loop, UV_RUN_ONCE);
	}
}

int
rules_host_init(struct daemon *d)
{
	struct rules_host *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return -1;
	rs_limits_default(&host_limits);
	h->d = d;
	d->rules = h;
	uv_timer_init(d->loop, &h->watch);
	h->watch.data = h;
	if (load_stored(h) != 0)
		return -1;
	for (int i = 0; i < d->cfg.nrules; i++) {
		DIR *dh = opendir(d->cfg.rules[i]);
		struct dirent *de;
		char **names = NULL;
		size_t n = 0, cap = 0;

		if (dh == NULL)
			continue;
		while ((de = readdir(dh)) != NULL) {
			char path[4096];
			struct stat st;

			snprintf(path, sizeof(path), "%s/%s", d->cfg.rules[i],
			         de->d_name);
			if (de->d_name[0] == '.' || !set_name_ok(de->d_name) ||
			    stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
				continue;
			if (n == cap) {
				char **g;

				cap = cap ? cap * 2 : 8;
				g = realloc(names, cap * sizeof(*g));
				if (g == NULL)
					break;
				names = g;
			}
			if ((names[n] = strdup(de->d_name)) != NULL)
				n++;
		}
		closedir(dh);
		qsort(names, n, sizeof(*names), cmp_str);
		for (size_t k = 0; k < n; k++) {
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", d->cfg.rules[i],
			         names[k]);
			if (set_find(h, names[k]) == NULL ||
			    set_find(h, names[k])->dir == NULL)
				load_dir_sync(h, names[k], path);
			free(names[k]);
		}
		free(names);
	}
	/* the first tick records the fingerprints the start-up load saw */
	uv_timer_start(&h->watch, watch_tick, 0, WATCH_INTERVAL_MS);
	return 0;
}

void
rules_host_close(struct daemon *d)
{
	struct rules_host *h = d->rules;

	if (h == NULL)
		return;
	if (h->closing)
		return;
	h->closing = 1;
	uv_timer_stop(&h->watch);
	uv_close((uv_handle_t *)&h->watch, NULL);
}

int
rules_host_busy(const struct daemon *d)
{
	return d->rules != NULL && d->rules->inflight > 0;
}

/* Frees everything; only once nothing is in flight (the loop ended). */
static void
rules_host_free(struct rules_host *h)
{
	for (int i = 0; i < h->n; i++) {
		struct rset *s = &h->sets[i];

		if (s->ev)
			rs_eval_free(s->ev);
		rver_put(s->live);
		free(s->name);
		free(s->dir);
		json_decref(s->versions);
		json_decref(s->files);
		json_decref(s->last_failure);
	}
	free(h->sets);
	free(h);
}

void
rules_host_destroy(struct daemon *d)
{
	if (d->rules != NULL)
		rules_host_free(d->rules);
	d->rules = NULL;
}

/* --- decisions --------------------------------------------------------------
 */

/* The reasons of the decisions that are not eligible, in words: what a
 * refusal tells the person who sent the event. */
static json_t *
decision_summary(const json_t *res, const char *only)
{
	const json_t *decisions = json_object_get(res, "decisions");
	char buf[600];
	size_t len = 0;
	const char *rule;
	json_t *d;

	buf[0] = '\0';
	json_object_foreach((json_t *)decisions, rule, d)
	{
		size_t i;
		json_t *r;

		if (only != NULL && strcmp(rule, only))
			continue;
		json_array_foreach(json_object_get(d, "reasons"), i, r)
		{
			const char *m = json_string_value(
			        json_object_get(r, "message"));

			if (m != NULL && len < sizeof(buf) - 1)
				len += (size_t)snprintf(
				        buf + len, sizeof(buf) - len, "%s%s",
				        len ? "; " : "", m);
		}
	}
	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	return json_string(len ? buf : "no reason given");
}

enum wf_outcome
rules_host_decide(struct daemon *d, const char *rule, const json_t *data,
                  int64_t now_ms, json_t **detail)
{
	struct rules_host *h = d->rules;
	char set[72], today[11], year[8];
	const char *dot = strchr(rule, '.');
	const char *ay = json_string_value(json_object_get(data, "award_year"));
	struct rset *s;
	json_t *res;
	enum rs_outcome o;
	int idx = -1;

	snprintf(set, sizeof(set), "%.*s", dot ? (int)(dot - rule) : 71, rule);
	rules_la_date(now_ms, today);
	if (ay == NULL) {
		rules_award_year(today, year);
		ay = year;
	}
	s = h ? set_find(h, set) : NULL;
	if (s == NULL || s->live == NULL || s->ev == NULL) {
		*detail = json_pack("{s:s, s:s, s:s, s:s}", "rule_set", set,
		                    "award_year", ay, "today", today, "error",
		                    s ? "the rule set has no live version"
		                      : "no such rule set");
		return WF_NEEDS_REVIEW;
	}
	if (dot != NULL && (idx = rs_rule_find(s->live->set, dot + 1)) < 0) {
		*detail = json_pack("{s:s, s:s, s:s, s:s, s:s}", "rule_set",
		                    set, "version", rs_version(s->live->set),
		                    "award_year", ay, "today", today, "error",
		                    "the rule set has no such rule");
		return WF_NEEDS_REVIEW;
	}
	h->evaluations++;
	res = rs_evaluate(s->ev, idx, data, ay, today);
	if (res == NULL) {
		h->failures++;
		*detail = json_pack("{s:s, s:s}", "rule_set", set, "error",
		                    "out of memory");
		return WF_NEEDS_REVIEW;
	}
	if (idx >= 0) {
		json_t *one = json_object_get(json_object_get(res, "decisions"),
		                              dot + 1);
		const char *name =
		        json_string_value(json_object_get(one, "outcome"));

		o = name && !strcmp(name, "eligible")     ? RS_ELIGIBLE
		    : name && !strcmp(name, "ineligible") ? RS_INELIGIBLE
		                                          : RS_NEEDS_REVIEW;
	} else {
		o = rs_combined(json_object_get(res, "decisions"));
	}
	json_object_set_new(res, "today", json_string(today));
	if (o != RS_ELIGIBLE)
		json_object_set_new(
		        res, "summary",
		        decision_summary(res, idx >= 0 ? dot + 1 : NULL));
	json_object_set_new(res, "input", json_deep_copy(data));
	*detail = res;
	return o == RS_ELIGIBLE     ? WF_ELIGIBLE
	       : o == RS_INELIGIBLE ? WF_INELIGIBLE
	                            : WF_NEEDS_REVIEW;
}

/* --- the HTTP routes ------------------------------------------------------- */

static json_t *
set_summary(const struct rset *s)
{
	return json_pack(
	        "{s:s, s:s?, s:O?, s:O, s:O, s:O?}", "name", s->name, "version",
	        s->live ? rs_version(s->live->set) : NULL, "published_at",
	        json_object_get(s->live ? version_meta((struct rset *)s,
	                                               rs_version(s->live->set))
	                                : NULL,
	                        "published_at"),
	        "rules", s->live ? rs_rules(s->live->set) : json_array(),
	        "award_years",
	        s->live ? rs_award_years(s->live->set) : json_array(),
	        "last_failure", s->last_failure);
}

void
api_h_rules_list(struct api_call *c)
{
	struct rules_host *h = c->d->rules;
	json_t *arr = json_array();

	for (int i = 0; h && arr && i < h->n; i++)
		json_array_append_new(arr, set_summary(&h->sets[i]));
	api_reply_json(c, 200, json_pack("{s:o}", "rule_sets", arr), NULL);
}

static struct rset *
set_or_404(struct api_call *c)
{
	struct rset *s =
	        c->d->rules ? set_find(c->d->rules, c->m.params[0]) : NULL;

	if (s == NULL)
		api_reply_problem(c, 404, "not-found", "no such rule set", NULL,
		                  NULL);
	return s;
}

void
api_h_rules_versions(struct api_call *c)
{
	struct rset *s = set_or_404(c);

	if (s == NULL)
		return;
	api_reply_json(
	        c, 200,
	        json_pack("{s:s, s:s?, s:O, s:O?}", "rule_set", s->name, "live",
	                  s->live ? rs_version(s->live->set) : NULL, "versions",
	                  s->versions, "last_failure", s->last_failure),
	        NULL);
}

/* GET /v1/rules/{set}/files?version=V: a version's files (the live one
 * without ?version), so an editor such as the web console can start
 * from what is published. */
void
api_h_rules_files(struct api_call *c)
{
	struct rset *s = set_or_404(c);
	const char *q, *want;
	char ver[80] = "";
	json_t *files;

	if (s == NULL)
		return;
	q = c->req->query;
	if (!strncmp(q, "version=", 8) && strlen(q + 8) < sizeof(ver) &&
	    strspn(q + 8, "0123456789abcdef") == strlen(q + 8))
		snprintf(ver, sizeof(ver), "%s", q + 8);
	else if (q[0] != '\0') {
		api_reply_problem(c, 400, "bad-query",
		                  "the one parameter is version=<hex version>",
		                  NULL, NULL);
		return;
	}
	want = ver[0] ? ver : s->live ? rs_version(s->live->set) : NULL;
	files = want ? json_object_get(s->files, want) : NULL;
	if (files == NULL) {
		api_reply_problem(c, 404, "not-found",
		                  "no such version of this rule set", NULL,
		                  NULL);
		return;
	}
	api_reply_json(c, 200,
	               json_pack("{s:s, s:s, s:O}", "rule_set", s->name,
	                         "version", want, "files", files),
	               NULL);
}

/* {"files": {relative path: text}} as the body names them. */
static json_t *
body_files(struct api_call *c)
{
	json_t *files = json_object_get(c->body, "files");
	const char *k;
	json_t *v;

	if (!json_is_object(files) || json_object_size(files) == 0) {
		api_reply_problem(c, 422, "invalid-body",
		                  "expected {\"files\": {relative path: text}}",
		                  NULL, NULL);
		return NULL;
	}
	json_object_foreach(files, k, v)
	{
		if (!json_is_string(v) || strstr(k, "..") || k[0] == '/') {
			char d[200];

			snprintf(d, sizeof(d),
			         "file '%.80s': expected a relative path (no "
			         "..) holding text",
			         k);
			api_reply_problem(c, 422, "invalid-body", d, NULL,
			                  NULL);
			return NULL;
		}
	}
	return files;
}

/* Publishes files for an API call, which the outcome answers. */
static void
publish_call(struct api_call *c, struct rules_host *h, struct rset *s,
             enum pub_kind kind, json_t *files)
{
	struct pub *p;

	if (s->publishing) {
		api_reply_problem(c, 409, "busy",
		                  "a version of this rule set is being "
		                  "published; retry",
		                  NULL, NULL);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	p->kind = kind;
	p->c.files = json_incref(files);
	p->call = c;
	if (publish_start(h, s, p) != 0) {
		p->call = NULL;
		pub_free(p);
		api_reply_problem(c, 503, "overloaded", "cannot queue work",
		                  NULL, NULL);
	}
}

/* POST /v1/rules/{set}/test: {"files"} loaded, compiled and tested as
 * an upload would be, on the thread pool, and nothing recorded or
 * published: an editor's "run the tests" before it publishes. 200 with
 * {"ok", "version", "errors", "tests"} whatever the outcome. */
struct test_work {
	uv_work_t w;
	struct rules_host *h;
	struct api_call *call;
	struct cand c;
};

static void
test_work_run(uv_work_t *w)
{
	struct test_work *t = w->data;

	cand_run(&t->c);
}

static void
test_work_done(uv_work_t *w, int status)
{
	struct test_work *t = w->data;
	json_t *o;

	t->h->inflight--;
	o = json_pack("{s:s, s:s?, s:b, s:O, s:O?}", "rule_set", t->c.name,
	              "version", t->c.set ? rs_version(t->c.set) : NULL, "ok",
	              t->c.failures == 0, "errors", t->c.errors, "tests",
	              t->c.tests);
	api_reply_json(t->call, 200, o, NULL);
	cand_free(&t->c);
	free(t);
}

void
api_h_rules_test(struct api_call *c)
{
	struct rules_host *h = c->d->rules;
	struct test_work *t;
	json_t *files;

	if (!set_name_ok(c->m.params[0])) {
		api_reply_problem(c, 422, "invalid-name",
		                  "a rule set's name is 1 to 64 of a-z, 0-9 "
		                  "and _",
		                  NULL, NULL);
		return;
	}
	if ((files = body_files(c)) == NULL)
		return;
	if (h == NULL || h->closing) {
		api_reply_problem(c, 503, "unavailable", "shutting down", NULL,
		                  "Retry-After: 5\r\n");
		return;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	t->h = h;
	t->call = c;
	t->w.data = t;
	t->c.files = json_incref(files);
	snprintf(t->c.name, sizeof(t->c.name), "%.64s", c->m.params[0]);
	if (uv_queue_work(c->d->loop, &t->w, test_work_run, test_work_done) !=
	    0) {
		cand_free(&t->c);
		free(t);
		api_reply_problem(c, 503, "overloaded", "cannot queue work",
		                  NULL, NULL);
		return;
	}
	h->inflight++;
}

void
api_h_rules_put(struct api_call *c)
{
	struct rules_host *h = c->d->rules;
	json_t *files;
	struct rset *s;

	if (!set_name_ok(c->m.params[0])) {
		api_reply_problem(c, 422, "invalid-name",
		                  "a rule set's name is 1 to 64 of a-z, 0-9 "
		                  "and _",
		                  NULL, NULL);
		return;
	}
	if ((files = body_files(c)) == NULL)
		return;
	s = set_find(h, c->m.params[0]);
	if (s == NULL && (s = set_add(h, c->m.params[0])) == NULL) {
		api_reply_problem(c, 503, "overloaded", "too many rule sets",
		                  NULL, NULL);
		return;
	}
	publish_call(c, h, s, PUB_UPLOAD, files);
}

void
api_h_rules_rollback(struct api_call *c)
{
	struct rules_host *h = c->d->rules;
	struct rset *s = set_or_404(c);
	const char *want =
	        json_string_value(json_object_get(c->body, "version"));
	const char *live;
	json_t *files, *v;
	size_t i;

	if (s == NULL)
		return;
	live = s->live ? rs_version(s->live->set) : NULL;
	if (want == NULL) {
		/* the newest version published before the live one */
		int64_t best = -1;

		json_array_foreach(s->versions, i, v)
		{
			const char *st =
			        json_string_value(json_object_get(v, "state"));
			const char *ver = json_string_value(
			        json_object_get(v, "version"));
			int64_t at = json_integer_value(
			        json_object_get(v, "published_at"));

			if (st && !strcmp(st, "previous") && at > best &&
			    !(live && !strcmp(ver, live))) {
				best = at;
				want = ver;
			}
		}
		if (want == NULL) {
			api_reply_problem(c, 409, "nothing-to-roll-back-to",
			                  "no earlier version of this rule set "
			                  "was ever live",
			                  NULL, NULL);
			return;
		}
	}
	files = json_object_get(s->files, want);
	v = version_meta(s, want);
	if (files == NULL || v == NULL) {
		api_reply_problem(c, 404, "not-found",
		                  "no such version of this rule set", NULL,
		                  NULL);
		return;
	}
	if (!strcmp(json_string_value(json_object_get(v, "state")),
	            "rejected")) {
		api_reply_problem(c, 409, "version-rejected",
		                  "that version failed its tests and was never "
		                  "live",
		                  NULL, NULL);
		return;
	}
	publish_call(c, h, s, PUB_ROLLBACK, files);
}

/* --- dry runs ---------------------------------------------------------- */

/* A dry run scans the cases in DRY_PARTS slices at once, each on its own
 * pool thread with its own evaluators, and adds them up at the end. */
#define DRY_PARTS 2

struct dry_trans {
	char rule[72], from[16], to[16];
	int64_t count;
	json_t *examples;
};

struct dry;

struct dry_part {
	struct dry *y;
	struct rs_eval *ev_from, *ev_to;
	struct rs_result *ra, *rb;
	int64_t cases, evaluated, changed, skipped;
	struct dry_trans *tr;
	int ntr, cap;
	int oom;
	int status;
	char msg[256];
};

struct dry {
	uv_work_t w;
	struct api_call *call;
	struct rules_host *h;
	char name[72];
	struct rver *from; /* the live version (a reference) */
	struct cand c;     /* the candidate */
	struct rver *to_v; /* or an earlier version, loaded from files */
	struct dry_part parts[DRY_PARTS];
	int parts_left;
	char award_year[8]; /* "": each case's own */
	char today[11];
	char workflow[72], status[72];
	int include_terminal;
	int64_t t0;
	char error[512];
	int counted; /* in h->inflight */
};

/* The reasons a decision gave, from a result (for an example). */
static json_t *
result_reasons(const struct rs_result *r, const char *rule)
{
	json_t *all = rs_result_json(r);
	json_t *reasons = json_object_get(
	        json_object_get(json_object_get(all, "decisions"), rule),
	        "reasons");

	json_incref(reasons);
	json_decref(all);
	return reasons;
}

static struct dry_trans *
trans_get(struct dry_trans **tr, int *n, int *cap, const char *rule,
          const char *from, const char *to)
{
	struct dry_trans *t;

	for (int i = 0; i < *n; i++)
		if (!strcmp((*tr)[i].rule, rule) &&
		    !strcmp((*tr)[i].from, from) && !strcmp((*tr)[i].to, to))
			return &(*tr)[i];
	if (*n == *cap) {
		int c = *cap ? *cap * 2 : 8;
		struct dry_trans *g = realloc(*tr, (size_t)c * sizeof(*g));

		if (g == NULL)
			return NULL;
		*tr = g;
		*cap = c;
	}
	t = &(*tr)[(*n)++];
	memset(t, 0, sizeof(*t));
	snprintf(t->rule, sizeof(t->rule), "%s", rule);
	snprintf(t->from, sizeof(t->from), "%s", from);
	snprintf(t->to, sizeof(t->to), "%s", to);
	t->examples = json_array();
	return t;
}

static void
dry_count(struct dry_part *p, const char *rule, const char *from,
          const char *to, const char *id, const struct rs_result *r)
{
	struct dry_trans *t =
	        trans_get(&p->tr, &p->ntr, &p->cap, rule, from, to);

	if (t == NULL) {
		p->oom = 1;
		return;
	}
	t->count++;
	if (json_array_size(t->examples) < DRY_EXAMPLES) {
		json_t *reasons = r ? result_reasons(r, rule) : NULL;

		json_array_append_new(
		        t->examples,
		        json_pack("{s:s, s:o}", "case", id, "reasons",
		                  reasons ? reasons : json_array()));
	}
}

static int
dry_row(const char *id, const char *workflow, const char *status,
        const char *data, size_t len, void *arg)
{
	struct dry_part *p = arg;
	struct dry *y = p->y;
	json_t *in = json_loadb(data, len, 0, NULL);
	const char *ay;
	char year[8];
	int changed = 0, na, nb;

	p->cases++;
	if (in == NULL) {
		p->skipped++;
		return 0;
	}
	ay = json_string_value(json_object_get(in, "award_year"));
	if (ay == NULL) {
		rules_award_year(y->today, year);
		ay = year;
	}
	if (y->award_year[0] && strcmp(ay, y->award_year)) {
		json_decref(in);
		return 0;
	}
	/* the fast path: outcomes in C arrays, JSON only for examples */
	if (rs_run(p->ev_from, -1, in, ay, y->today, p->ra) != 0 ||
	    rs_run(p->ev_to, -1, in, ay, y->today, p->rb) != 0) {
		json_decref(in);
		p->skipped++;
		return 0;
	}
	json_decref(in);
	p->evaluated++;
	na = rs_result_count(p->ra);
	nb = rs_result_count(p->rb);
	for (int j = 0; j < nb; j++) {
		const char *rule = rs_result_rule(p->rb, j);
		const char *to = rs_outcome_name(rs_result_outcome(p->rb, j));
		const char *from = "absent";

		for (int k = 0; k < na; k++)
			if (!strcmp(rs_result_rule(p->ra, k), rule))
				from = rs_outcome_name(
				        rs_result_outcome(p->ra, k));
		if (strcmp(from, to)) {
			dry_count(p, rule, from, to, id, p->rb);
			changed = 1;
		}
	}
	for (int k = 0; k < na; k++) {
		const char *rule = rs_result_rule(p->ra, k);
		int found = 0;

		for (int j = 0; j < nb; j++)
			found |= !strcmp(rs_result_rule(p->rb, j), rule);
		if (!found) {
			dry_count(p, rule,
			          rs_outcome_name(rs_result_outcome(p->ra, k)),
			          "absent", id, NULL);
			changed = 1;
		}
	}
	p->changed += changed;
	return p->oom;
}

static void
dry_free(struct dry *y)
{
	if (y->counted)
		y->h->inflight--;
	rver_put(y->from);
	rver_put(y->to_v);
	cand_free(&y->c);
	for (int i = 0; i < DRY_PARTS; i++) {
		struct dry_part *p = &y->parts[i];

		if (p->ev_from)
			rs_eval_free(p->ev_from);
		if (p->ev_to)
			rs_eval_free(p->ev_to);
		if (p->ra)
			rs_result_free(p->ra);
		if (p->rb)
			rs_result_free(p->rb);
		for (int k = 0; k < p->ntr; k++)
			json_decref(p->tr[k].examples);
		free(p->tr);
	}
	free(y);
}

static int
cmp_trans(const void *a, const void *b)
{
	const struct dry_trans *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->rule, y->rule);
}

/* Adds the slices up and answers, once the last one is done. */
static void
dry_part_done(int status, const char *msg, void *data)
{
	struct dry_part *part = data;
	struct dry *y = part->y;
	const struct rs_set *to = y->to_v ? y->to_v->set : y->c.set;
	struct dry_trans *tr = NULL;
	int ntr = 0, cap = 0, oom = 0;
	int64_t cases = 0, evaluated = 0, changed = 0, skipped = 0;
	json_t *arr;

	part->status = status;
	snprintf(part->msg, sizeof(part->msg), "%s", msg ? msg : "");
	if (--y->parts_left > 0)
		return;
	for (int i = 0; i < DRY_PARTS; i++) {
		struct dry_part *p = &y->parts[i];

		if (p->status != 0 || p->oom) {
			api_reply_problem(y->call, 503, "storage-unavailable",
			                  p->oom      ? "out of memory"
			                  : p->msg[0] ? p->msg
			                              : "the scan failed",
			                  NULL, NULL);
			dry_free(y);
			return;
		}
		cases += p->cases;
		evaluated += p->evaluated;
		changed += p->changed;
		skipped += p->skipped;
		for (int k = 0; k < p->ntr; k++) {
			struct dry_trans *t =
			        trans_get(&tr, &ntr, &cap, p->tr[k].rule,
			                  p->tr[k].from, p->tr[k].to);
			size_t j;
			json_t *ex;

			if (t == NULL) {
				oom = 1;
				break;
			}
			t->count += p->tr[k].count;
			json_array_foreach(p->tr[k].examples, j, ex)
			{
				if (json_array_size(t->examples) < DRY_EXAMPLES)
					json_array_append(t->examples, ex);
			}
		}
	}
	/* an example names a case and why its decision flips: the reasons'
	 * messages quote the student's values, which the reader's role may
	 * not see */
	for (int i = 0; i < ntr; i++) {
		size_t j;
		json_t *ex;

		json_array_foreach(tr[i].examples, j, ex)
		{
			privacy_redact(y->call->d, y->call->who.role,
			               PRIV_REASONS, NULL, 0,
			               json_object_get(ex, "reasons"));
		}
	}
	arr = json_array();
	qsort(tr, (size_t)ntr, sizeof(*tr), cmp_trans);
	for (int i = 0; arr && i < ntr; i++)
		json_array_append_new(
		        arr,
		        json_pack("{s:s, s:s, s:s, s:I, s:O}", "rule",
		                  tr[i].rule, "from", tr[i].from, "to",
		                  tr[i].to, "count", (json_int_t)tr[i].count,
		                  "examples", tr[i].examples));
	for (int i = 0; i < ntr; i++)
		json_decref(tr[i].examples);
	free(tr);
	if (oom || arr == NULL) {
		json_decref(arr);
		api_reply_problem(y->call, 503, "overloaded", "out of memory",
		                  NULL, NULL);
		dry_free(y);
		return;
	}
	api_reply_json_bg(
	        y->call, 200,
	        json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:I}",
	                  "rule_set", y->name, "from_version",
	                  rs_version(y->from->set), "to_version",
	                  rs_version(to), "today", y->today, "cases",
	                  (json_int_t)cases, "evaluated", (json_int_t)evaluated,
	                  "changed", (json_int_t)changed, "unreadable",
	                  (json_int_t)skipped, "transitions", arr, "elapsed_ms",
	                  (json_int_t)(cairn_now_ms() - y->t0)));
	y->call = NULL;
	dry_free(y);
}

/* Off the loop: load the candidate (if uploaded) and make each slice's
 * evaluators. */
static void
dry_prepare(uv_work_t *w)
{
	struct dry *y = w->data;
	struct cairn_err e = {0};

	if (y->to_v == NULL) {
		struct load_report rep = {json_array()};

		y->c.errors = rep.errors;
		if (rs_load_files(y->name, y->c.files, load_report, &rep,
		                  &y->c.set) != 0) {
			y->c.set = NULL;
			cand_reason(&y->c, y->error, sizeof(y->error));
			return;
		}
	}
	for (int i = 0; i < DRY_PARTS; i++) {
		struct dry_part *p = &y->parts[i];

		p->y = y;
		p->ra = rs_result_new();
		p->rb = rs_result_new();
		if (p->ra == NULL || p->rb == NULL) {
			snprintf(y->error, sizeof(y->error), "out of memory");
			return;
		}
		if (rs_eval_new(y->from->set, &host_limits, &p->ev_from, &e) !=
		            0 ||
		    rs_eval_new(y->to_v ? y->to_v->set : y->c.set, &host_limits,
		                &p->ev_to, &e) != 0) {
			snprintf(y->error, sizeof(y->error), "%s",
			         e.msg[0] ? e.msg : "cannot make an evaluator");
			return;
		}
	}
}

static void
dry_prepared(uv_work_t *w, int status)
{
	struct dry *y = w->data;

	if (status != 0 || y->error[0]) {
		api_reply_problem(y->call, status ? 503 : 422,
		                  status ? "overloaded" : "rules-rejected",
		                  status ? "cancelled" : y->error,
		                  json_pack("{s:O?}", "errors", y->c.errors),
		                  NULL);
		dry_free(y);
		return;
	}
	for (int i = 0; i < DRY_PARTS; i++) {
		if (store_case_scan(y->h->d->store,
		                    y->workflow[0] ? y->workflow : NULL,
		                    y->status[0] ? y->status : NULL,
		                    y->include_terminal, i, DRY_PARTS, dry_row,
		                    dry_part_done, &y->parts[i]) != 0) {
			/* the slices already started answer for it */
			y->parts[i].status = CAIRN_ECLOSED;
			snprintf(y->parts[i].msg, sizeof(y->parts[i].msg),
			         "shutting down");
			y->parts_left--;
		}
	}
	if (y->parts_left == 0) {
		y->parts_left = 1;
		dry_part_done(CAIRN_ECLOSED, "shutting down", &y->parts[0]);
	}
}

static int
filter_str(struct api_call *c, const json_t *filter, const char *key, char *out,
           size_t len)
{
	json_t *v = json_object_get(filter, key);

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) >= len) {
		char d[160];

		snprintf(d, sizeof(d), "filter.%s: expected a short string",
		         key);
		api_reply_problem(c, 422, "invalid-body", d, NULL, NULL);
		return -1;
	}
	snprintf(out, len, "%s", json_string_value(v));
	return 0;
}

void
api_h_rules_dry_run(struct api_call *c)
{
	struct rules_host *h = c->d->rules;
	struct rset *s = set_or_404(c);
	const json_t *filter = json_object_get(c->body, "filter");
	const char *ver =
	        json_string_value(json_object_get(c->body, "version"));
	json_t *files = json_object_get(c->body, "files");
	const char *today =
	        json_string_value(json_object_get(c->body, "today"));
	struct dry *y;

	if (s == NULL)
		return;
	if (s->live == NULL) {
		api_reply_problem(c, 409, "no-live-version",
		                  "the rule set has no live version to compare "
		                  "with",
		                  NULL, NULL);
		return;
	}
	if ((ver == NULL) == (files == NULL) ||
	    (filter != NULL && !json_is_object(filter))) {
		api_reply_problem(c, 422, "invalid-body",
		                  "expected {\"files\": {path: text}} or "
		                  "{\"version\": hex}, and optionally "
		                  "\"filter\": {workflow, status, award_year, "
		                  "include_terminal}",
		                  NULL, NULL);
		return;
	}
	if (files != NULL && body_files(c) == NULL)
		return;
	y = calloc(1, sizeof(*y));
	if (y == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	y->call = c;
	y->h = h;
	y->t0 = cairn_now_ms();
	y->parts_left = DRY_PARTS;
	snprintf(y->name, sizeof(y->name), "%s", s->name);
	if (filter_str(c, filter, "workflow", y->workflow,
	               sizeof(y->workflow)) ||
	    filter_str(c, filter, "status", y->status, sizeof(y->status)) ||
	    filter_str(c, filter, "award_year", y->award_year,
	               sizeof(y->award_year))) {
		y->call = NULL;
		dry_free(y);
		return;
	}
	y->include_terminal =
	        json_is_true(json_object_get(filter, "include_terminal"));
	if (today != NULL && strlen(today) == 10)
		snprintf(y->today, sizeof(y->today), "%s", today);
	else
		rules_la_date(cases_now(c->d), y->today);
	y->from = s->live;
	y->from->refs++;
	if (ver != NULL) {
		json_t *vf = json_object_get(s->files, ver);

		if (vf == NULL) {
			api_reply_problem(c, 404, "not-found",
			                  "no such version of this rule set",
			                  NULL, NULL);
			y->call = NULL;
			dry_free(y);
			return;
		}
		if (!strcmp(ver, rs_version(s->live->set))) {
			y->to_v = s->live;
			y->to_v->refs++;
		} else {
			y->c.files = json_incref(vf);
		}
	} else {
		y->c.files = json_incref(files);
	}
	y->w.data = y;
	if (uv_queue_work(c->d->loop, &y->w, dry_prepare, dry_prepared) != 0) {
		y->call = NULL;
		dry_free(y);
		api_reply_problem(c, 503, "overloaded", "cannot queue work",
		                  NULL, NULL);
		return;
	}
	h->inflight++;
	y->counted = 1;
}
