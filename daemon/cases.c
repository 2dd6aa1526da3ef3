/*
 * cases.c: runs the workflow engine against stored cases.
 *
 * A command (create a case, send an event, fire a timer) takes the lock of
 * the case's family: the root application and every case spawned under
 * it. Family commands run one at a time, so a child's decision and the
 * parent's reaction to it never race; different families run side by
 * side. Under the lock the whole family is read (an application and its
 * campuses are a handful of rows), the engine is applied in memory, child
 * status changes cascade to the parent as child.<status> events and
 * children.settled, and every resulting row (cases, history, timers,
 * outbox, alerts, the idempotency record) goes into one batch: one
 * transaction, durable before the reply. Each case update carries the
 * revision it was read at, so a writer elsewhere can never be overwritten.
 */
#include "cases.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../adapters/outbox.h"
#include "../common/yamlfile.h"
#include "api_int.h"
#include "check.h"
#include "daemon.h"
#include "famcache.h"
#include "log.h"
#include "privacy.h"
#include "queues.h"
#include "retention.h"
#include "stream.h"

#define CASCADE_MAX 8 /* parent notifications deep; a family is shallow */

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int64_t
jint(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* --- the registry --------------------------------------------------- */

static void
registry_report(const struct cairn_err *e, int warning, void *data)
{
	char line[1200];

	cairn_err_format(e, line, sizeof(line));
	log_write(warning ? LOG_WARN : LOG_ERROR, NULL, NULL, NULL, "%s", line);
	if (!warning)
		++*(int *)data;
}

static void
registry_report_quiet(const struct cairn_err *e, int warning, void *data)
{
}

void
registry_free(struct registry *r)
{
	for (int i = 0; i < r->n; i++) {
		for (int j = 0; j < r->entries[i].nversions; j++)
			wf_def_free(r->entries[i].versions[j].def);
		free(r->entries[i].versions);
		free(r->entries[i].name);
	}
	free(r->entries);
	r->entries = NULL;
	r->n = 0;
}

static struct wf_entry *
registry_entry(struct registry *r, const char *name, int create)
{
	struct wf_entry *e;

	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->entries[i].name, name))
			return &r->entries[i];
	if (!create)
		return NULL;
	e = realloc(r->entries, (size_t)(r->n + 1) * sizeof(*e));
	if (e == NULL)
		return NULL;
	r->entries = e;
	e = &r->entries[r->n++];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	e->current = -1;
	return e->name ? e : NULL;
}

static int
registry_add(struct wf_entry *e, struct wf_def *def, int version)
{
	struct wf_version *v;
	int i;

	v = realloc(e->versions, (size_t)(e->nversions + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	e->versions = v;
	for (i = e->nversions; i > 0 && v[i - 1].version > version; i--)
		v[i] = v[i - 1];
	v[i].def = def;
	v[i].version = version;
	def->version = version;
	e->nversions++;
	return i;
}

const struct wf_version *
registry_get(const struct registry *r, const char *name, int version)
{
	for (int i = 0; i < r->n; i++) {
		const struct wf_entry *e = &r->entries[i];

		if (strcmp(e->name, name) != 0)
			continue;
		if (version == 0)
			return e->current >= 0 ? &e->versions[e->current]
			                       : NULL;
		for (int j = 0; j < e->nversions; j++)
			if (e->versions[j].version == version)
				return &e->versions[j];
		return NULL;
	}
	return NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.yaml / *.yml file under dir, recursively, sorted; dotfiles
 * skipped, as the definitions checker walks them. */
static int
list_yaml(const char *dir, char ***out, int *n, int *cap)
{
	DIR *dh = opendir(dir);
	struct dirent *de;

	if (dh == NULL)
		return -errno;
	while ((de = readdir(dh)) != NULL) {
		char path[2048];
		size_t len = strlen(de->d_name);
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			list_yaml(path, out, n, cap);
			continue;
		}
		if (!(len > 5 && !strcmp(de->d_name + len - 5, ".yaml")) &&
		    !(len > 4 && !strcmp(de->d_name + len - 4, ".yml")))
			continue;
		if (*n == *cap) {
			char **p;

			*cap = *cap ? *cap * 2 : 16;
			p = realloc(*out, (size_t)*cap * sizeof(*p));
			if (p == NULL)
				break;
			*out = p;
		}
		if (((*out)[*n] = strdup(path)) != NULL)
			++*n;
	}
	closedir(dh);
	if (*n > 1)
		qsort(*out, (size_t)*n, sizeof(**out), cmp_str);
	return 0;
}

/* Adds a newly seen definition, under the next version number, to the
 * batch that records it with the file's text, so cases pinned to it can
 * run after the file changes. */
static int
registry_record(struct store_batch *b, const struct wf_def *def, int version)
{
	struct cairn_err e = {0};
	char *text = NULL;
	size_t len;
	int rc;

	rc = yamlfile_read(def->file, 4 << 20, "workflow definition", &text,
	                   &len, &e);
	if (rc == 0 && strlen(text) != len)
		rc = CAIRN_EINVALID; /* a NUL byte: the loader refused it */
	if (rc == 0)
		rc = store_batch_workflow_put(b, def->name, version, def->hash,
		                              text, cairn_now_ms());
	free(text);
	if (rc != 0)
		log_error("cannot record workflow %s version %d: %s", def->name,
		          version, e.msg[0] ? e.msg : "out of memory");
	else
		log_info("workflow %s: new version %d (%.12s)", def->name,
		         version, def->hash);
	return rc;
}

/* Loads the files of the configuration as the current versions. */
static int
registry_load_files(struct daemon *d, struct registry *next, json_t *stored,
                    struct store_batch *b, int *nnew)
{
	int errors = 0;

	for (int k = 0; k < d->cfg.nworkflows; k++) {
		char **files = NULL;
		int nfiles = 0, cap = 0;

		if (list_yaml(d->cfg.workflows[k], &files, &nfiles, &cap) !=
		    0) {
			log_error("%s: cannot list the directory",
			          d->cfg.workflows[k]);
			errors++;
			continue;
		}
		for (int f = 0; f < nfiles; f++) {
			struct wf_def *def = NULL;
			struct wf_entry *e;
			int version = 0, max = 0;
			size_t i;
			json_t *row;

			if (wf_def_load(files[f], NULL, registry_report,
			                &errors, &def) != 0 ||
			    def == NULL)
				continue;
			e = registry_entry(next, def->name, 1);
			if (e == NULL || e->current >= 0) {
				if (e != NULL)
					log_error("%s: a second workflow named "
					          "'%s'",
					          files[f], def->name);
				errors++;
				wf_def_free(def);
				continue;
			}
			json_array_foreach(stored, i, row)
			{
				const char *n = jstr(row, "name");
				int v = (int)jint(row, "version");

				if (n == NULL || strcmp(n, def->name) != 0)
					continue;
				if (v > max)
					max = v;
				if (!strcmp(jstr(row, "hash"), def->hash))
					version = v;
			}
			if (version == 0) {
				version = max + 1;
				if (registry_record(b, def, version) != 0) {
					errors++;
					wf_def_free(def);
					continue;
				}
				++*nnew;
			}
			e->current = registry_add(e, def, version);
			if (e->current < 0) {
				wf_def_free(def);
				errors++;
			}
		}
		for (int f = 0; f < nfiles; f++)
			free(files[f]);
		free(files);
	}
	return errors;
}

/* Every other recorded version, from the text kept in the store: cases
 * started on it keep running on it until they are migrated. */
static void
registry_load_stored(struct registry *next, json_t *stored)
{
	size_t i;
	json_t *row;

	json_array_foreach(stored, i, row)
	{
		const char *name = jstr(row, "name"),
		           *src = jstr(row, "source");
		int version = (int)jint(row, "version");
		struct wf_def *def = NULL;
		struct wf_entry *e;
		char label[160];
		int at;

		if (name == NULL || src == NULL ||
		    registry_get(next, name, version) != NULL)
			continue;
		snprintf(label, sizeof(label), "%s version %d (stored)", name,
		         version);
		if (wf_def_load_text(label, src, strlen(src), NULL,
		                     registry_report_quiet, NULL, &def) != 0) {
			log_warn("%s no longer loads; its cases wait for a "
			         "migration",
			         label);
			continue;
		}
		e = registry_entry(next, name, 1);
		at = e ? registry_add(e, def, version) : -1;
		if (at < 0) {
			wf_def_free(def);
			continue;
		}
		if (e->current >= at)
			e->current++;
	}
}

/* What a load prepares before anything changes: the registry and campus
 * list to swap in, and the batch recording new versions (empty when none
 * is new). */
struct reload {
	struct daemon *d;
	struct registry next;
	struct wf_campuses *campuses;
	struct store_batch *b;
	int nnew;
	void (*done)(int errors, void *arg);
	void *arg;
};

static int
registry_prepare(struct daemon *d, struct reload *r)
{
	json_t *stored = NULL;
	int errors;

	memset(&r->next, 0, sizeof(r->next));
	r->campuses = NULL;
	r->nnew = 0;
	r->b = store_batch_new();
	if (r->b == NULL)
		return 1;
	/* a small table, read once per reload */
	if (store_workflows_sync(d->store, &stored) != 0)
		stored = json_array();
	errors = registry_load_files(d, &r->next, stored, r->b, &r->nnew);
	if (d->cfg.campuses[0] &&
	    wf_campuses_load(d->cfg.campuses, NULL, registry_report, &errors,
	                     &r->campuses) != 0)
		errors += errors ? 0 : 1;
	if (errors == 0)
		registry_load_stored(&r->next, stored);
	json_decref(stored);
	return errors;
}

static void
registry_discard(struct reload *r)
{
	registry_free(&r->next);
	wf_campuses_free(r->campuses);
	if (r->b != NULL)
		store_batch_free(r->b);
	r->b = NULL;
}

static void
registry_swap(struct daemon *d, struct reload *r)
{
	registry_free(&d->reg);
	d->reg = r->next;
	wf_campuses_free(d->campuses);
	d->campuses = r->campuses;
	memset(&r->next, 0, sizeof(r->next));
	r->campuses = NULL;
}

int
registry_load(struct daemon *d)
{
	struct reload r = {0};
	char msg[256] = "";
	int errors = registry_prepare(d, &r), rc;

	if (errors) {
		registry_discard(&r);
		return errors;
	}
	/* start-up only: the loop is not running yet, so waiting for the
	 * commit here blocks nobody */
	rc = store_batch_commit_sync(d->store, r.b, msg, sizeof(msg));
	r.b = NULL;
	if (rc != 0) {
		log_error("cannot record the new workflow versions: %s", msg);
		registry_discard(&r);
		return 1;
	}
	registry_swap(d, &r);
	return 0;
}

static void
reload_committed(int status, const char *msg, void *data)
{
	struct reload *r = data;
	struct daemon *d = r->d;

	d->reloading = 0;
	if (status != 0) {
		log_error("cannot record the new workflow versions: %s",
		          msg ? msg : cairn_strerror(status));
		registry_discard(r);
	} else {
		registry_swap(d, r);
	}
	r->done(status != 0, r->arg);
	free(r);
}

int
registry_reload(struct daemon *d, void (*done)(int errors, void *arg),
                void *arg)
{
	struct reload *r;
	struct store_batch *b;
	int errors;

	if (d->reloading)
		return -EBUSY;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->d = d;
	r->done = done;
	r->arg = arg;
	errors = registry_prepare(d, r);
	if (errors) {
		registry_discard(r);
		free(r);
		return errors;
	}
	/* never wait for the store on the loop thread: the new registry goes
	 * in once its versions are durable */
	b = r->b;
	r->b = NULL;
	d->reloading = 1;
	if (store_batch_submit(d->store, b, reload_committed, r) != 0) {
		d->reloading = 0;
		registry_discard(r);
		free(r);
		return CAIRN_ECLOSED;
	}
	return 0;
}

/* --- small helpers --------------------------------------------------- */

int64_t
cases_now(const struct daemon *d)
{
	return cairn_now_ms() + d->clock_offset_ms;
}

static const char hexd[] = "0123456789abcdef";

/* A UUIDv7: 48 bits of milliseconds, then randomness; sorts by time. */
static void
uuid7(int64_t ms, char out[37])
{
	uint8_t u[16];
	char *o = out;

	if (RAND_bytes(u, sizeof(u)) != 1)
		memset(u, 0x5a, sizeof(u));
	for (int i = 0; i < 6; i++)
		u[i] = (uint8_t)((uint64_t)ms >> (40 - 8 * i));
	u[6] = (uint8_t)(0x70 | (u[6] & 0x0f));
	u[8] = (uint8_t)(0x80 | (u[8] & 0x3f));
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hexd[u[i] >> 4];
		*o++ = hexd[u[i] & 15];
	}
	*o = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* n bytes from 2n hex digits; -1 when h is short or not hex. */
static int
unhex(const char *h, uint8_t *out, size_t n)
{
	if (h == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(h[2 * i]), lo;

		if (hi < 0 || (lo = hexval(h[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* --- a family in memory ------------------------------------------------ */

struct fcase {
	json_t *row;      /* the stored columns, updated in place */
	int64_t read_rev; /* revision as read; 0 for a new case */
	int dirty;
	uint8_t hash[32]; /* the last history event's hash */
};

struct fam {
	struct daemon *d;
	struct fcase *cs;
	int n, cap;
	struct store_batch *b;
	int64_t now;
	int64_t earliest_timer; /* 0: none set */
	const char *actor;
	int outbox_rows; /* calls queued: wake the outbox after the commit */
	int err_status;  /* HTTP status of a failure */
	char err[512];
	json_t *err_extra;
};

static void
fam_free(struct fam *f)
{
	for (int i = 0; i < f->n; i++)
		json_decref(f->cs[i].row);
	free(f->cs);
	if (f->b)
		store_batch_free(f->b);
	json_decref(f->err_extra);
	memset(f, 0, sizeof(*f));
}

static int
fam_add(struct fam *f, json_t *row, int is_new)
{
	struct fcase *c;

	if (f->n == f->cap) {
		int cap = f->cap ? f->cap * 2 : 8;

		c = realloc(f->cs, (size_t)cap * sizeof(*c));
		if (c == NULL)
			return -1;
		f->cs = c;
		f->cap = cap;
	}
	c = &f->cs[f->n];
	memset(c, 0, sizeof(*c));
	c->row = row;
	c->read_rev = is_new ? 0 : jint(row, "revision");
	c->dirty = is_new;
	if (!is_new)
		unhex(jstr(row, "history_hash"), c->hash, 32);
	return f->n++;
}

static int
fam_find(const struct fam *f, const char *id)
{
	for (int i = 0; id && i < f->n; i++)
		if (!strcmp(jstr(f->cs[i].row, "id"), id))
			return i;
	return -1;
}

static int fam_fail(struct fam *f, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
fam_fail(struct fam *f, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->err, sizeof(f->err), fmt, ap);
	va_end(ap);
	f->err_status = status;
	return -1;
}

/* Appends a history event to case i, chaining its hash. */
static int
fam_history(struct fam *f, int i, const char *type, const char *from,
            const char *to, const json_t *payload)
{
	struct fcase *c = &f->cs[i];
	char *text =
	        payload ? json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS)
	                : strdup("{}");
	int64_t seq = jint(c->row, "history_seq") + 1;
	int version = (int)jint(c->row, "version");
	const char *id = jstr(c->row, "id");
	struct store_history_row h = {0};
	EVP_MD_CTX *md;
	char head[512];
	uint8_t payload_hash[32];
	unsigned int n = 32;
	int rc;

	if (text == NULL)
		return -1;
	/* the chain: previous hash, then every field of this event, the
	 * payload by its hash, so a retention purge may empty it later and
	 * the link still verifies (audit_history_hash2) */
	snprintf(head, sizeof(head), "%s\n%lld\n%lld\n%s\n%s\n%s\n%s\n%d\n", id,
	         (long long)seq, (long long)f->now, f->actor, type,
	         from ? from : "", to ? to : "", version);
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, text, strlen(text)) != 1 ||
	    EVP_DigestFinal_ex(md, payload_hash, &n) != 1 ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, c->hash, 32) != 1 ||
	    EVP_DigestUpdate(md, head, strlen(head)) != 1 ||
	    EVP_DigestUpdate(md, payload_hash, 32) != 1 ||
	    EVP_DigestFinal_ex(md, c->hash, &n) != 1) {
		EVP_MD_CTX_free(md);
		free(text);
		return -1;
	}
	EVP_MD_CTX_free(md);
	h.case_id = id;
	h.seq = seq;
	h.at = f->now;
	h.actor = f->actor;
	h.type = type;
	h.from_status = from;
	h.to_status = to;
	h.payload = text;
	h.workflow_version = version;
	h.hash = c->hash;
	h.payload_hash = payload_hash;
	rc = store_batch_history_append(f->b, &h);
	free(text);
	json_object_set_new(c->row, "history_seq", json_integer(seq));
	c->dirty = 1;
	return rc;
}

static int apply_event(struct fam *f, int i, const char *type,
                       const json_t *data, unsigned role, int depth,
                       json_t **allowed);
static int cases_spawn(struct fam *f, int parent, const struct wf_version *v,
                       const char *key, const json_t *data);

/* Moves case i into the shape fx describes and queues what fx asks. */
static int
apply_effects(struct fam *f, int i, const struct wf_def *def,
              struct wf_effects *fx, const char *event, const json_t *payload,
              int depth)
{
	struct fcase *c = &f->cs[i];
	const char *id = jstr(c->row, "id");
	const char *from = fx->from >= 0 ? def->statuses[fx->from].name : NULL;
	const struct wf_status *to = &def->statuses[fx->to];
	char key[256];
	int rc = 0;

	json_object_set(c->row, "data", fx->data);
	if (fx->transitioned) {
		json_object_set_new(c->row, "status", json_string(to->name));
		json_object_set_new(c->row, "queue",
		                    to->queue ? json_string(to->queue)
		                              : json_null());
		int64_t due = queues_due_at(f->d, to->sla_ms, to->queue != NULL,
		                            fx->data, f->now);

		json_object_set_new(c->row, "due_at",
		                    due ? json_integer(due) : json_null());
		json_object_set_new(c->row, "terminal",
		                    json_integer(to->terminal));
	}
	json_object_set_new(c->row, "revision",
	                    json_integer(jint(c->row, "revision") + 1));
	json_object_set_new(c->row, "updated_at", json_integer(f->now));
	c->dirty = 1;
	if (fam_history(f, i, event, from, fx->transitioned ? to->name : NULL,
	                payload) != 0)
		return -1;
	/* every decision on the record: rule-set version, award year, the
	 * checks and the input it was given */
	if (json_object_size(fx->rule_results) > 0 &&
	    fam_history(f, i, "rules.decided", NULL, NULL, fx->rule_results) !=
	            0)
		return -1;
	/* leaving a status ends what belonged to it: a lease taken in
	 * another queue, alerts raised in another status */
	if (fx->transitioned && c->read_rev != 0 && fx->from >= 0) {
		/* only statuses that can have them: a leave costs the
		 * writer a statement even when there is nothing to end */
		if (def->statuses[fx->from].queue != NULL)
			rc |= store_batch_lease_leave(f->b, id, to->queue);
		if (queues_status_may_alert(def, fx->from))
			rc |= store_batch_alerts_leave(f->b, id, to->name,
			                               f->now);
	}
	if (fx->cancel_all)
		rc |= store_batch_timer_cancel(f->b, id, NULL);
	for (int k = 0; k < fx->ncancel; k++)
		rc |= store_batch_timer_cancel(f->b, id, fx->cancel[k]);
	for (int k = 0; k < fx->ntimers; k++) {
		rc |= store_batch_timer_set(f->b, id, fx->timers[k].name,
		                            fx->timers[k].due_ms,
		                            fx->timers[k].event);
		if (f->earliest_timer == 0 ||
		    fx->timers[k].due_ms < f->earliest_timer)
			f->earliest_timer = fx->timers[k].due_ms;
	}
	/* a queued status's SLA: the ladder's timers (cancelled, like the
	 * workflow's, when the case leaves the status) */
	if (fx->transitioned && to->queue != NULL && jint(c->row, "due_at") > 0)
		rc |= queues_sla_timers(f->d, f->b, id, f->now,
		                        jint(c->row, "due_at"),
		                        &f->earliest_timer);
	/* a rule that could not decide asks a person: an alert to the
	 * office, one open per rule and case, ended when the case moves on */
	{
		const char *rule;
		json_t *res;

		json_object_foreach(fx->rule_results, rule, res)
		{
			const char *o = jstr(res, "outcome");
			const char *why =
			        jstr(json_object_get(res, "detail"), "summary");
			char kind[160], msg[700];

			if (o == NULL || strcmp(o, "needs_review"))
				continue;
			snprintf(kind, sizeof(kind), "rule_review:%.120s",
			         rule);
			snprintf(msg, sizeof(msg),
			         "Rule %.120s could not decide and needs a "
			         "person's review: %.500s",
			         rule, why ? why : "no reason given");
			rc |= store_batch_alert_add(f->b, id, kind, "warning",
			                            "office", msg, to->name,
			                            f->now);
			if (f->d->cfg.queues.alert_webhook[0])
				rc |= store_batch_alert_notify(
				        f->b, f->d->cfg.queues.alert_webhook,
				        f->now);
		}
	}
	for (int k = 0; k < fx->nalerts; k++) {
		rc |= store_batch_alert_add(
		        f->b, id, fx->alerts[k].kind, fx->alerts[k].severity,
		        fx->alerts[k].to, fx->alerts[k].message, to->name,
		        f->now);
		if (f->d->cfg.queues.alert_webhook[0])
			rc |= store_batch_alert_notify(
			        f->b, f->d->cfg.queues.alert_webhook, f->now);
	}
	for (int k = 0; k < fx->ncalls; k++) {
		char *body = json_dumps(fx->data, JSON_COMPACT);
		const char *adapter = fx->calls[k].adapter;
		const char *campus = jstr(fx->data, "campus");
		const struct wf_campus *cp =
		        f->d->campuses && campus
		                ? wf_campus_find(f->d->campuses, campus)
		                : NULL;

		/* a campus's case reaches that campus's system: the campus
		 * list names its adapter (a CSU campus is not a UC one) */
		if (cp != NULL && cp->adapter != NULL)
			adapter = cp->adapter;
		/* stable across retries: the case and its history event */
		snprintf(key, sizeof(key), "%s:%lld:%d:%s.%s", id,
		         (long long)jint(c->row, "history_seq"), k, adapter,
		         fx->calls[k].operation);
		rc |= store_batch_outbox_add(f->b, id, adapter,
		                             fx->calls[k].operation, key,
		                             body ? body : "{}", f->now);
		free(body);
		f->outbox_rows++;
	}
	if (rc != 0)
		return -1;
	/* a campus must be one the system routes to, before any child */
	for (int k = 0; f->d->campuses && k < fx->nspawns; k++) {
		const char *campus = jstr(fx->spawns[k].data, "campus");

		if (campus && !wf_campus_find(f->d->campuses, campus))
			return fam_fail(f, 422,
			                "unknown campus '%.64s'; the campuses "
			                "are listed in %s",
			                campus, f->d->cfg.campuses);
	}
	for (int k = 0; k < fx->nspawns; k++) {
		const struct wf_version *cv =
		        registry_get(&f->d->reg, fx->spawns[k].workflow, 0);
		int exists = 0;

		for (int j = 0; j < f->n; j++)
			if (!strcmp(jstr(f->cs[j].row, "parent_id")
			                    ? jstr(f->cs[j].row, "parent_id")
			                    : "",
			            id) &&
			    jstr(f->cs[j].row, "spawn_key") &&
			    !strcmp(jstr(f->cs[j].row, "spawn_key"),
			            fx->spawns[k].key))
				exists = 1;
		if (exists)
			continue; /* a retry: that child is there already */
		if (cv == NULL)
			return fam_fail(f, 422, "workflow '%s' is not loaded",
			                fx->spawns[k].workflow);
		if (cases_spawn(f, i, cv, fx->spawns[k].key,
		                fx->spawns[k].data) < 0)
			return -1;
	}
	c = &f->cs[i]; /* spawning may have moved the family's array */
	if (fx->notify_parent && depth < CASCADE_MAX) {
		int p = fam_find(f, jstr(c->row, "parent_id"));

		if (p >= 0) {
			char ev[160];
			json_t *pl = json_pack("{s:s, s:s?, s:s}", "child", id,
			                       "key", jstr(c->row, "spawn_key"),
			                       "status", to->name);

			snprintf(ev, sizeof(ev), "child.%s", to->name);
			if (to->terminal)
				json_object_set_new(
				        f->cs[p].row, "open_children",
				        json_integer(jint(f->cs[p].row,
				                          "open_children") -
				                     1));
			rc = apply_event(f, p, ev, pl, 0, depth + 1, NULL);
			json_decref(pl);
			if (rc != 0)
				return -1;
			if (to->terminal &&
			    jint(f->cs[p].row, "open_children") == 0 &&
			    apply_event(f, p, "children.settled", NULL, 0,
			                depth + 1, NULL) != 0)
				return -1;
		}
	}
	return 0;
}

/* --- starting cases ------------------------------------------------------ */

/* The engine's rule callback: the live version of the rule set decides
 * (rules_host.c); data is the command's family. */
static enum wf_outcome
fam_rule(const char *rule, const struct wf_case *c, const struct wf_event *ev,
         json_t **detail, void *data)
{
	struct fam *f = data;

	return rules_host_decide(f->d, rule, c->data, ev->now_ms, detail);
}

static void
case_view_common(const json_t *row, struct wf_case *wc)
{
	memset(wc, 0, sizeof(*wc));
	wc->id = jstr(row, "id");
	wc->status = jstr(row, "status");
	wc->data = json_object_get(row, "data");
	wc->subject = jstr(row, "subject");
	wc->parent_id = jstr(row, "parent_id");
	wc->revision = jint(row, "revision");
}

static json_t *
new_row(struct fam *f, const char *id, const struct wf_version *v,
        const char *subject, const char *owner, const char *parent,
        const char *root, const char *key, const json_t *data)
{
	const struct wf_def *def = v->def;

	return json_pack("{s:s, s:s, s:i, s:s, s:O, s:s?, s:s, s:s?, s:s, s:s,"
	                 " s:n, s:n, s:I, s:i, s:i, s:I, s:n, s:I, s:I}",
	                 "id", id, "workflow", def->name, "version", v->version,
	                 "status", def->statuses[def->initial].name, "data",
	                 data, "parent_id", parent, "root_id", root,
	                 "spawn_key", key, "subject", subject, "owner", owner,
	                 "queue", "due_at", "revision", (json_int_t)0,
	                 "terminal", 0, "open_children", 0, "history_seq",
	                 (json_int_t)0, "history_hash", "created_at",
	                 (json_int_t)f->now, "updated_at", (json_int_t)f->now);
}

static int
start_case(struct fam *f, int i, const struct wf_def *def,
           const json_t *payload, int depth)
{
	struct wf_case wc;
	struct wf_effects fx;
	char msg[512];
	enum wf_reject r;
	int rc;

	memset(&fx, 0, sizeof(fx));
	case_view_common(f->cs[i].row, &wc);
	r = wf_start(def, &wc, f->now, fam_rule, f, &fx, msg, sizeof(msg));
	if (r != WF_OK)
		return fam_fail(f, 422, "%s", msg);
	rc = apply_effects(f, i, def, &fx, "created", payload, depth);
	wf_effects_free(&fx);
	return rc;
}

/* The office or campus a case belongs to: its data's campus or office. */
static const char *
owner_of(const json_t *data, const char *fallback)
{
	const char *o = jstr(data, "campus");

	if (o == NULL)
		o = jstr(data, "office");
	return o ? o : fallback;
}

static int
cases_spawn(struct fam *f, int parent, const struct wf_version *v,
            const char *key, const json_t *data)
{
	const json_t *prow = f->cs[parent].row;
	char id[37];
	json_t *row;
	int i;

	uuid7(f->now, id);
	row = new_row(f, id, v, jstr(prow, "subject"), owner_of(data, ""),
	              jstr(prow, "id"), jstr(prow, "root_id"), key, data);
	if (row == NULL || (i = fam_add(f, row, 1)) < 0) {
		json_decref(row);
		return fam_fail(f, 503, "out of memory");
	}
	json_object_set_new(
	        f->cs[parent].row, "open_children",
	        json_integer(jint(f->cs[parent].row, "open_children") + 1));
	return start_case(f, i, v->def, data, 1);
}

static int
apply_event(struct fam *f, int i, const char *type, const json_t *data,
            unsigned role, int depth, json_t **allowed)
{
	const json_t *row = f->cs[i].row;
	const struct wf_version *v = registry_get(
	        &f->d->reg, jstr(row, "workflow"), (int)jint(row, "version"));
	struct wf_case wc;
	struct wf_event ev = {type, data, role, f->now};
	struct wf_effects fx;
	char msg[512];
	enum wf_reject r;
	int rc;

	if (v == NULL)
		return fam_fail(
		        f, 503, "version %lld of workflow '%s' is not loaded",
		        (long long)jint(row, "version"), jstr(row, "workflow"));
	memset(&fx, 0, sizeof(fx));
	case_view_common(row, &wc);
	r = wf_apply(v->def, &wc, &ev, fam_rule, f, &fx, msg, sizeof(msg));
	if (r != WF_OK && depth > 0) {
		/* what the system tells a case is on its record even when
		 * its status does not move */
		json_object_set_new(f->cs[i].row, "revision",
		                    json_integer(jint(row, "revision") + 1));
		return fam_history(f, i, type, NULL, NULL, data);
	}
	switch (r) {
	case WF_OK:
		break;
	case WF_REJECT_NOT_ALLOWED:
	case WF_REJECT_GUARD:
		if (allowed != NULL)
			*allowed = wf_allowed_events(v->def, wc.status, role);
		return fam_fail(f, 409, "%s", msg);
	case WF_REJECT_ROLE:
		return fam_fail(f, 403, "%s", msg);
	case WF_REJECT_DATA:
		return fam_fail(f, 422, "%s", msg);
	case WF_ERR_NOMEM:
		return fam_fail(f, 503, "out of memory");
	}
	rc = apply_effects(f, i, v->def, &fx, type, data, depth);
	wf_effects_free(&fx);
	return rc;
}

/* Every changed case into the batch, inserted or updated against the
 * revision it was read at. */
static int
fam_flush(struct fam *f)
{
	for (int i = 0; i < f->n; i++) {
		const json_t *r = f->cs[i].row;
		struct store_case_row c = {0};
		int rc;

		if (!f->cs[i].dirty)
			continue;
		c.id = jstr(r, "id");
		c.workflow = jstr(r, "workflow");
		c.version = (int)jint(r, "version");
		c.status = jstr(r, "status");
		c.data = NULL;
		c.parent_id = jstr(r, "parent_id");
		c.root_id = jstr(r, "root_id");
		c.spawn_key = jstr(r, "spawn_key");
		c.subject = jstr(r, "subject");
		c.owner = jstr(r, "owner");
		c.queue = jstr(r, "queue");
		c.due_at = jint(r, "due_at");
		c.revision = jint(r, "revision");
		c.terminal = (int)jint(r, "terminal");
		c.open_children = (int)jint(r, "open_children");
		c.history_seq = jint(r, "history_seq");
		c.history_hash = f->cs[i].hash;
		c.created_at = jint(r, "created_at");
		c.updated_at = jint(r, "updated_at");
		char *data =
		        json_dumps(json_object_get(r, "data"), JSON_COMPACT);
		if (data == NULL)
			return -1;
		c.data = data;
		rc = f->cs[i].read_rev == 0
		             ? store_batch_case_insert(f->b, &c)
		             : store_batch_case_update(f->b, &c,
		                                       f->cs[i].read_rev);
		free(data);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int
cmp_spawn_key(const void *a, const void *b)
{
	const char *x = jstr(*(json_t *const *)a, "spawn_key");
	const char *y = jstr(*(json_t *const *)b, "spawn_key");

	return strcmp(x ? x : "", y ? y : "");
}

/*
 * What a client sees of a case, the same whether it comes from a command's
 * family or from a read: the row (without its chain hash), its children by
 * spawn key, and the events the caller's role may send now, its data
 * redacted for reader (NULL: a command from inside the daemon, which sees
 * everything). kids holds child rows (any columns; borrowed).
 */
static json_t *
case_view(const struct daemon *d, const json_t *row, json_t *const *kids,
          size_t nkids, unsigned role, const struct principal *reader)
{
	const struct wf_version *v = registry_get(
	        &d->reg, jstr(row, "workflow"), (int)jint(row, "version"));
	json_t *o = json_deep_copy(row), *arr = json_array();
	json_t **sorted = calloc(nkids ? nkids : 1, sizeof(*sorted));

	if (o == NULL || arr == NULL || sorted == NULL) {
		json_decref(o);
		json_decref(arr);
		free(sorted);
		return NULL;
	}
	memcpy(sorted, kids, nkids * sizeof(*sorted));
	if (nkids > 1)
		qsort(sorted, nkids, sizeof(*sorted), cmp_spawn_key);
	for (size_t j = 0; j < nkids; j++) {
		const json_t *k = sorted[j];

		json_array_append_new(
		        arr, json_pack("{s:s, s:s, s:s, s:s?, s:b, s:I}", "id",
		                       jstr(k, "id"), "workflow",
		                       jstr(k, "workflow"), "status",
		                       jstr(k, "status"), "spawn_key",
		                       jstr(k, "spawn_key"), "terminal",
		                       (int)jint(k, "terminal"), "updated_at",
		                       (json_int_t)jint(k, "updated_at")));
	}
	free(sorted);
	json_object_del(o, "history_hash");
	json_object_set_new(o, "terminal",
	                    json_boolean(jint(row, "terminal") != 0));
	json_object_set_new(o, "children", arr);
	json_object_set_new(
	        o, "allowed_events",
	        v ? wf_allowed_events(v->def, jstr(row, "status"), role)
	          : json_array());
	if (reader != NULL)
		privacy_redact(d, reader->role, PRIV_CASE,
		               jstr(row, "workflow"), (int)jint(row, "version"),
		               o);
	return o;
}

/* The view of case i of a family. */
static json_t *
fam_view(const struct fam *f, int i, unsigned role,
         const struct principal *reader)
{
	const char *id = jstr(f->cs[i].row, "id");
	json_t **kids = calloc((size_t)f->n + 1, sizeof(*kids)), *o;
	size_t n = 0;

	if (kids == NULL)
		return NULL;
	for (int j = 0; j < f->n; j++) {
		const char *p = jstr(f->cs[j].row, "parent_id");

		if (p != NULL && !strcmp(p, id))
			kids[n++] = f->cs[j].row;
	}
	o = case_view(f->d, f->cs[i].row, kids, n, role, reader);
	free(kids);
	return o;
}

/* --- families: one command at a time ------------------------------------ */

struct pending {
	void (*run)(void *arg);
	void *arg;
	struct pending *next;
};

struct family {
	char root[40];
	struct pending *head, *tail;
	struct family *next;
};

/* Runs run(arg) once no other command of the family root is running.
 * The busy list holds one entry per family with a command in flight, so
 * it is as long as the number of concurrent clients: a list will do. */
static void
family_lock(struct daemon *d, const char *root, struct pending *node,
            void (*run)(void *), void *arg)
{
	struct family *fm;
	struct pending *p;

	for (fm = d->families; fm != NULL; fm = fm->next) {
		if (strcmp(fm->root, root) != 0)
			continue;
		/* the waiting node lives in the command: queueing never
		 * allocates, so it never has to run a command unlocked */
		p = node;
		p->run = run;
		p->arg = arg;
		p->next = NULL;
		if (fm->tail)
			fm->tail->next = p;
		else
			fm->head = p;
		fm->tail = p;
		return;
	}
	fm = calloc(1, sizeof(*fm));
	if (fm != NULL) {
		snprintf(fm->root, sizeof(fm->root), "%s", root);
		fm->next = d->families;
		d->families = fm;
	}
	run(arg);
}

static void
family_unlock(struct daemon *d, const char *root)
{
	struct family **pp, *fm;
	struct pending *p;

	for (pp = &d->families; (fm = *pp) != NULL; pp = &fm->next) {
		if (strcmp(fm->root, root) != 0)
			continue;
		p = fm->head;
		if (p == NULL) {
			*pp = fm->next;
			free(fm);
			return;
		}
		fm->head = p->next;
		if (fm->head == NULL)
			fm->tail = NULL;
		p->run(p->arg);
		return;
	}
}

/* --- commands ---------------------------------------------------------- */

enum cmd_kind { CMD_CREATE, CMD_EVENT, CMD_TIMER, CMD_MIGRATE };

struct migration;

struct cmd {
	struct daemon *d;
	struct pending wait; /* its place in its family's queue */
	enum cmd_kind kind;
	struct api_call *call; /* NULL for a timer */
	char case_id[40], root[40];
	char *type;
	json_t *data;
	char workflow[72]; /* CMD_CREATE: looked up when it runs, since a
			      reload may replace the registry meanwhile */
	char *subject;
	unsigned role;
	char actor[48];
	char *idem_key;
	uint8_t body_hash[32];
	int idem_locked; /* the key is being checked again under the lock */
	char *timer_name;
	int64_t timer_due;
	struct fam fam;
	char *response; /* the reply text, also kept for the idempotency key */
	int response_status;
	int64_t earliest_timer;
	/* CMD_MIGRATE: move from (version, status) to (version, status) */
	struct migration *mig;
	int from_version, to_version;
	char from_status[72], to_status[72];
	/* a command from inside the daemon (cases_submit): no call */
	int (*extend)(struct store_batch *b, const json_t *row, void *arg);
	void (*done)(int status, const char *body, void *arg);
	void *arg;
	char *then_type; /* CMD_CREATE: an event right after, same batch */
	json_t *then_data;
	int no_view; /* cases_submit's caller needs no case view */
	int note;    /* record the event in the history only (cases_req) */
	/* the event must be refused if, at the commit, someone other than
	 * the sender holds the case's lease */
	int lease_check;
	int fam_cached; /* its family came from d->famcache */
};

static void migration_case_done(struct migration *m, int ok);
static void timers_arm(struct daemon *d, int64_t due);
static void timer_cmd_done(struct cmd *k, int ok);

static void
cmd_free(struct cmd *k)
{
	fam_free(&k->fam);
	free(k->type);
	json_decref(k->data);
	free(k->subject);
	free(k->idem_key);
	free(k->timer_name);
	free(k->response);
	free(k->then_type);
	json_decref(k->then_data);
	free(k);
}

/* Ends a command: releases its family and answers. */
static void
cmd_finish(struct cmd *k, int status, const char *slug, const char *detail,
           json_t *extra)
{
	struct daemon *d = k->d;
	char root[40];

	snprintf(root, sizeof(root), "%s", k->root);
	if (k->call != NULL) {
		if (status < 300 && k->response != NULL) {
			http_respond(k->call->req, status, "application/json",
			             NULL, k->response, strlen(k->response));
			api_call_free(k->call);
		} else {
			/* a 503 is temporary: say when to try again */
			api_reply_problem(k->call, status, slug, detail,
			                  extra ? json_incref(extra) : NULL,
			                  status == 503 ? "Retry-After: 5\r\n"
			                                : NULL);
		}
		k->call = NULL;
	} else if (k->done != NULL) {
		k->done(status,
		        status < 300 ? k->response
		                     : (detail ? detail
		                        : slug ? slug
		                               : ""),
		        k->arg);
		k->done = NULL;
	}
	if (k->kind == CMD_MIGRATE)
		migration_case_done(k->mig, status < 300);
	if (k->kind == CMD_TIMER) {
		if (status >= 300)
			log_write(LOG_ERROR, NULL, k->case_id, NULL,
			          "timer %s: %s", k->timer_name,
			          detail ? detail : "failed");
		timer_cmd_done(k, status < 300);
	}
	cmd_free(k);
	if (root[0])
		family_unlock(d, root);
}

static const char *
slug_for(int status)
{
	switch (status) {
	case 403:
		return "forbidden";
	case 404:
		return "not-found";
	case 409:
		return "not-allowed-now";
	case 422:
		return "invalid-body";
	default:
		return "storage-unavailable";
	}
}

static void
cmd_fail(struct cmd *k)
{
	json_t *extra = k->fam.err_extra;

	k->fam.err_extra = NULL;
	cmd_finish(k, k->fam.err_status ? k->fam.err_status : 503,
	           slug_for(k->fam.err_status),
	           k->fam.err[0] ? k->fam.err : "out of memory", extra);
	json_decref(extra);
}

static void cmd_replay(struct cmd *k);

/* After k's commit: its family as a read would now return it (rows by
 * created_at, then id), for the family's next command (famcache.h). */
static void
fam_keep(struct cmd *k)
{
	struct fam *f = &k->fam;
	int ord[64];
	json_t *rows;

	if (k->root[0] == '\0' || f->n == 0 || k->kind == CMD_CREATE ||
	    k->d->stopping || (size_t)f->n > sizeof(ord) / sizeof(ord[0]))
		return;
	if (k->d->famcache == NULL &&
	    (k->d->famcache = famcache_new(0)) == NULL)
		return;
	/* a family read from the store is kept from its second read on */
	if (!k->fam_cached && !famcache_admit(k->d->famcache, k->root))
		return;
	for (int i = 0; i < f->n; i++) {
		int j = i;
		int64_t at = jint(f->cs[i].row, "created_at");
		const char *id = jstr(f->cs[i].row, "id");

		/* a row the command did not write must be as it was read */
		if (id == NULL ||
		    (!f->cs[i].dirty &&
		     jint(f->cs[i].row, "revision") != f->cs[i].read_rev))
			return;
		while (j > 0) {
			const json_t *p = f->cs[ord[j - 1]].row;

			if (jint(p, "created_at") < at ||
			    (jint(p, "created_at") == at &&
			     strcmp(jstr(p, "id"), id) < 0))
				break;
			ord[j] = ord[j - 1];
			j--;
		}
		ord[j] = i;
	}
	rows = json_array();
	for (int i = 0; rows != NULL && i < f->n; i++) {
		const struct fcase *c = &f->cs[ord[i]];

		if (json_array_append_new(
		            rows, famcache_row(c->row, c->dirty ? c->hash
		                                                : NULL)) != 0) {
			json_decref(rows);
			rows = NULL;
		}
	}
	if (rows != NULL)
		famcache_put(k->d->famcache, k->root, rows);
}

static void
cmd_committed(int status, const char *msg, void *data)
{
	struct cmd *k = data;

	if (status == 0) {
		for (int i = 0; i < k->fam.n; i++) /* live streams */
			if (k->fam.cs[i].dirty)
				stream_case_committed(k->d, k->fam.cs[i].row);
		fam_keep(k);
		if (k->earliest_timer)
			timers_arm(k->d, k->earliest_timer);
		if (k->fam.outbox_rows)
			outbox_wake(k->d);
		cmd_finish(k, k->response_status, NULL, NULL, NULL);
		return;
	}
	if (status == CAIRN_EREPLAY && k->idem_key != NULL) {
		/* the same key committed first, from another request */
		cmd_replay(k);
		return;
	}
	if (k->kind == CMD_TIMER && status == CAIRN_ENOTFOUND) {
		/* the timer was cancelled or re-armed meanwhile */
		cmd_finish(k, 200, NULL, NULL, NULL);
		return;
	}
	/* a full disk is told apart, as api_reply_store_error does: the
	 * operator frees space, nothing else is wrong */
	cmd_finish(k, status == CAIRN_ECONFLICT ? 409 : 503,
	           status == CAIRN_ECONFLICT ? "conflict"
	           : status == CAIRN_EFULL   ? "storage-full"
	                                     : "storage-unavailable",
	           msg ? msg : cairn_strerror(status), NULL);
}

/* Puts the family's changes, the reply and its key in one batch. */
static void
cmd_commit(struct cmd *k, int i, int http_status)
{
	json_t *view = i >= 0 && !k->no_view
	                       ? fam_view(&k->fam, i, k->role,
	                                  k->call ? &k->call->who : NULL)
	                       : NULL;

	if (i >= 0 && !k->no_view) {
		k->response =
		        view ? json_dumps(view,
		                          JSON_COMPACT | JSON_PRESERVE_ORDER)
		             : NULL;
		json_decref(view);
		if (k->response == NULL) {
			fam_fail(&k->fam, 503, "out of memory");
			cmd_fail(k);
			return;
		}
	}
	k->response_status = http_status;
	k->earliest_timer = k->fam.earliest_timer;
	/* the reply shows the case to its sender: a disclosure, recorded
	 * in the same transaction as the change */
	if (k->call != NULL && i >= 0 && !k->no_view) {
		struct privacy_record rec = {jstr(k->fam.cs[i].row, "id"),
		                             jstr(k->fam.cs[i].row, "subject")};

		if (privacy_batch_disclose(k->fam.b, k->call, &rec, 1) != 0) {
			fam_fail(&k->fam, 503, "out of memory");
			cmd_fail(k);
			return;
		}
	}
	if (k->extend != NULL && i >= 0 &&
	    k->extend(k->fam.b, k->fam.cs[i].row, k->arg) != 0) {
		if (k->fam.err_status == 0)
			fam_fail(&k->fam, 503, "out of memory");
		cmd_fail(k);
		return;
	}
	if (k->lease_check && i >= 0 &&
	    store_batch_lease_guard(k->fam.b, k->case_id, k->actor,
	                            k->fam.now) != 0) {
		fam_fail(&k->fam, 503, "out of memory");
		cmd_fail(k);
		return;
	}
	if (fam_flush(&k->fam) != 0 ||
	    (k->idem_key != NULL &&
	     store_batch_idem_put(k->fam.b, k->idem_key, k->body_hash,
	                          http_status, k->response, k->fam.now) != 0)) {
		fam_fail(&k->fam, 503, "out of memory");
		cmd_fail(k);
		return;
	}
	struct store_batch *b = k->fam.b;

	k->fam.b = NULL;
	if (store_batch_submit(k->d->store, b, cmd_committed, k) != 0)
		cmd_finish(k, 503, "storage-unavailable", "shutting down",
		           NULL);
}

/* Moves case i of k's family to the version and status the migration
 * planned, if it is still where the plan found it. */
static int
migrate_case(struct cmd *k, int i)
{
	struct fam *f = &k->fam;
	json_t *row = f->cs[i].row;
	const struct wf_version *v =
	        registry_get(&k->d->reg, jstr(row, "workflow"), k->to_version);
	const struct wf_status *to;
	json_t *pl;
	int st, rc, p, was_terminal;

	if (v == NULL || jint(row, "version") != k->from_version ||
	    strcmp(jstr(row, "status"), k->from_status) != 0)
		return -1;
	st = wf_status_find(v->def, k->to_status);
	if (st < 0)
		return -1;
	to = &v->def->statuses[st];
	was_terminal = jint(row, "terminal") != 0;
	json_object_set_new(row, "version", json_integer(k->to_version));
	json_object_set_new(row, "status", json_string(to->name));
	json_object_set_new(row, "queue",
	                    to->queue ? json_string(to->queue) : json_null());
	json_object_set_new(row, "terminal", json_integer(to->terminal));
	json_object_set_new(row, "revision",
	                    json_integer(jint(row, "revision") + 1));
	json_object_set_new(row, "updated_at", json_integer(f->now));
	pl = json_pack("{s:i, s:i}", "from_version", k->from_version,
	               "to_version", k->to_version);
	rc = fam_history(f, i, "workflow.migrated", k->from_status, to->name,
	                 pl);
	json_decref(pl);
	if (rc != 0)
		return rc;
	/* timers belong to the status that started them */
	if (strcmp(k->from_status, to->name) != 0 &&
	    store_batch_timer_cancel(f->b, k->case_id, NULL) != 0)
		return -1;
	/* the parent counts its open children and settles on the last */
	p = fam_find(f, jstr(row, "parent_id"));
	if (p >= 0 && was_terminal != (to->terminal != 0)) {
		int64_t open = jint(f->cs[p].row, "open_children") +
		               (to->terminal ? -1 : 1);

		json_object_set_new(f->cs[p].row, "open_children",
		                    json_integer(open < 0 ? 0 : open));
		json_object_set_new(
		        f->cs[p].row, "revision",
		        json_integer(jint(f->cs[p].row, "revision") + 1));
		f->cs[p].dirty = 1;
		if (to->terminal && open == 0)
			rc = apply_event(f, p, "children.settled", NULL, 0, 1,
			                 NULL);
	}
	return rc;
}

static void
fam_loaded(int status, json_t *rows, void *data)
{
	struct cmd *k = data;
	struct fam *f = &k->fam;
	size_t n;
	json_t *row;
	int i = -1;

	if (status != 0 && status != CAIRN_ENOTFOUND) {
		fam_fail(f, 503, "%s", cairn_strerror(status));
		cmd_fail(k);
		return;
	}
	f->d = k->d;
	f->now = cases_now(k->d);
	f->actor = k->actor;
	f->b = store_batch_new();
	json_array_foreach(rows, n, row)
	{
		if (fam_add(f, json_incref(row), 0) < 0)
			json_decref(row);
	}
	json_decref(rows);
	/* a timer's row goes first: what the event then does (leaving the
	 * status cancels its timers) must not hide that it fired, once */
	if (f->b == NULL ||
	    (k->kind == CMD_TIMER &&
	     store_batch_timer_fired(f->b, k->case_id, k->timer_name,
	                             k->timer_due) != 0)) {
		fam_fail(f, 503, "out of memory");
		cmd_fail(k);
		return;
	}
	switch (k->kind) {
	case CMD_CREATE: {
		const struct wf_version *v =
		        registry_get(&k->d->reg, k->workflow, 0);
		json_t *r = v ? new_row(f, k->case_id, v, k->subject,
		                        owner_of(k->data, ""), NULL, k->case_id,
		                        NULL, k->data)
		              : NULL;

		if (v == NULL) {
			fam_fail(f, 422, "workflow '%s' is no longer loaded",
			         k->workflow);
			cmd_fail(k);
			return;
		}
		if (r == NULL || (i = fam_add(f, r, 1)) < 0 ||
		    start_case(f, i, v->def, k->data, 0) != 0 ||
		    (k->then_type != NULL &&
		     apply_event(f, i, k->then_type, k->then_data, k->role, 0,
		                 NULL) != 0)) {
			if (f->err_status == 0)
				fam_fail(f, 503, "out of memory");
			cmd_fail(k);
			return;
		}
		cmd_commit(k, i, 201);
		return;
	}
	case CMD_MIGRATE:
		i = fam_find(f, k->case_id);
		if (i < 0 || migrate_case(k, i) != 0) {
			if (f->err_status == 0)
				fam_fail(f, 409, "the case moved meanwhile");
			cmd_fail(k);
			return;
		}
		cmd_commit(k, -1, 200);
		return;
	case CMD_EVENT:
	case CMD_TIMER: {
		json_t *allowed = NULL;

		i = fam_find(f, k->case_id);
		if (i < 0) {
			fam_fail(f, 404, "no such case");
			cmd_fail(k);
			return;
		}
		/* the SLA ladder's steps are the daemon's, not the
		 * workflow's: an alert and a line in the history */
		if (k->kind == CMD_TIMER &&
		    queues_is_sla_timer(k->timer_name)) {
			json_object_set_new(
			        f->cs[i].row, "revision",
			        json_integer(jint(f->cs[i].row, "revision") +
			                     1));
			json_object_set_new(f->cs[i].row, "updated_at",
			                    json_integer(f->now));
			if (fam_history(f, i, k->type, NULL, NULL, k->data) !=
			            0 ||
			    queues_sla_alert(f->d, f->b, f->cs[i].row,
			                     k->timer_name, f->now,
			                     &f->earliest_timer) != 0) {
				fam_fail(f, 503, "out of memory");
				cmd_fail(k);
				return;
			}
			cmd_commit(k, -1, 200);
			return;
		}
		if (k->note) {
			/* on the record, chained like any event, but not the
			 * workflow's to decide on */
			json_object_set_new(
			        f->cs[i].row, "revision",
			        json_integer(jint(f->cs[i].row, "revision") +
			                     1));
			json_object_set_new(f->cs[i].row, "updated_at",
			                    json_integer(f->now));
			if (fam_history(f, i, k->type, NULL, NULL, k->data) !=
			    0) {
				fam_fail(f, 503, "out of memory");
				cmd_fail(k);
				return;
			}
			cmd_commit(k, i, 200);
			return;
		}
		if (apply_event(f, i, k->type, k->data, k->role,
		                k->kind == CMD_TIMER ? 1 : 0, &allowed) != 0) {
			if (allowed != NULL)
				f->err_extra =
				        json_pack("{s:o}", "allowed", allowed);
			cmd_fail(k);
			return;
		}
		cmd_commit(k, k->kind == CMD_TIMER ? -1 : i, 200);
		return;
	}
	}
}

static void idem_found(int status, json_t *rec, void *data);

static void
cmd_run(void *arg)
{
	struct cmd *k = arg;

	/* a retry that waited for the lock behind the first request finds
	 * that request's answer here, now that it has committed */
	if (k->idem_key != NULL && !k->idem_locked) {
		k->idem_locked = 1;
		if (store_idem_get(k->d->store, k->idem_key, idem_found, k) !=
		    0)
			cmd_finish(k, 503, "storage-unavailable",
			           "shutting down", NULL);
		return;
	}
	if (k->kind == CMD_CREATE) {
		fam_loaded(0, json_array(), k);
		return;
	}
	/* the family as the last command on it left it, if still cached */
	json_t *rows = famcache_take(k->d->famcache, k->root);

	if (rows != NULL) {
		k->fam_cached = 1;
		fam_loaded(0, rows, k);
		return;
	}
	if (store_family_get(k->d->store, k->root, fam_loaded, k) != 0)
		cmd_finish(k, 503, "storage-unavailable", "shutting down",
		           NULL);
}

/* The first reply to a key, replayed; another body under it is 422. */
static void
idem_found(int status, json_t *rec, void *data)
{
	struct cmd *k = data;
	char hex[65];

	if (status == CAIRN_ENOTFOUND && k->root[0] == '\0') {
		/* a replay whose record is gone: nothing to answer with */
		json_decref(rec);
		cmd_finish(k, 409, "conflict", "the request conflicted; retry",
		           NULL);
		return;
	}
	if (status == CAIRN_ENOTFOUND) {
		json_decref(rec);
		if (k->idem_locked)
			cmd_run(k); /* still new under the lock: run it */
		else
			family_lock(k->d, k->root, &k->wait, cmd_run, k);
		return;
	}
	/* from here on the command runs nothing: give the family back */
	if (k->idem_locked) {
		char root[40];

		snprintf(root, sizeof(root), "%s", k->root);
		k->root[0] = '\0';
		family_unlock(k->d, root);
	}
	k->root[0] = '\0';
	if (status != 0) {
		cmd_finish(k, 503, "storage-unavailable",
		           cairn_strerror(status), NULL);
		return;
	}
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", k->body_hash[i]);
	if (strcmp(hex, jstr(rec, "body_hash") ? jstr(rec, "body_hash") : "")) {
		json_decref(rec);
		cmd_finish(k, 422, "idempotency-key-reused",
		           "this Idempotency-Key was used with a different "
		           "request body",
		           NULL);
		return;
	}
	free(k->response);
	k->response =
	        strdup(jstr(rec, "response") ? jstr(rec, "response") : "{}");
	k->kind = CMD_EVENT;
	cmd_finish(k, (int)jint(rec, "status"), NULL, NULL, NULL);
	json_decref(rec);
}

static void
cmd_replay(struct cmd *k)
{
	/* release the family first: the replay holds no lock */
	char root[40];

	snprintf(root, sizeof(root), "%s", k->root);
	k->root[0] = '\0';
	family_unlock(k->d, root);
	if (store_idem_get(k->d->store, k->idem_key, idem_found, k) != 0)
		cmd_finish(k, 503, "storage-unavailable", "shutting down",
		           NULL);
}

/* Starts a command: the idempotency check first, then the family. */
static void
cmd_start(struct cmd *k)
{
	if (k->idem_key != NULL) {
		if (store_idem_get(k->d->store, k->idem_key, idem_found, k) !=
		    0) {
			k->root[0] = '\0';
			cmd_finish(k, 503, "storage-unavailable",
			           "shutting down", NULL);
		}
		return;
	}
	family_lock(k->d, k->root, &k->wait, cmd_run, k);
}

/* --- timers ------------------------------------------------------------ */

static void timers_scan_done(int status, json_t *res, void *data);

static void
on_wf_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;

	d->wf_timer_due = 0;
	cases_timers_scan(d);
}

/* Arms the one timer for due, unless it is armed for sooner already. */
static void
timers_arm(struct daemon *d, int64_t due)
{
	int64_t now = cases_now(d);

	if (d->stopping)
		return;
	if (d->timers_scanning) {
		/* a timer set while a scan runs (often by the timer that
		 * fired): the scan arms for it when it ends */
		if (d->timers_pending == 0 || due < d->timers_pending)
			d->timers_pending = due;
		return;
	}
	if (d->wf_timer_due != 0 && d->wf_timer_due <= due)
		return;
	d->wf_timer_due = due;
	uv_timer_start(&d->wf_timer, on_wf_timer,
	               due > now ? (uint64_t)(due - now) : 0, 0);
}

void
cases_timers_scan(struct daemon *d)
{
	if (d->stopping)
		return;
	if (d->timers_scanning) {
		/* the clock moved or a timer came due mid-scan: look again
		 * when this scan ends */
		d->timers_more = 1;
		return;
	}
	d->timers_scanning = 1;
	uv_timer_stop(&d->wf_timer);
	d->wf_timer_due = 0;
	if (store_timers_due(d->store, cases_now(d), 64, timers_scan_done, d) !=
	    0)
		d->timers_scanning = 0;
}

static void
timers_scan_end(struct daemon *d)
{
	int64_t due = d->timers_next_due, pending = d->timers_pending;

	d->timers_scanning = 0;
	d->timers_pending = 0;
	if (d->timers_more && d->timers_fired > 0) {
		d->timers_more = 0;
		cases_timers_scan(d);
		return;
	}
	if (d->timers_more) {
		/* a full page of which none could fire (a version that is
		 * not loaded, the store failing): try again in a second
		 * rather than spin on the same rows */
		d->timers_more = 0;
		due = cases_now(d) + 1000;
	}
	if (pending > 0 && (due <= 0 || pending < due))
		due = pending;
	if (due > 0)
		timers_arm(d, due);
}

static void
timer_cmd_done(struct cmd *k, int ok)
{
	if (ok)
		k->d->timers_fired++;
	if (--k->d->timers_inflight == 0)
		timers_scan_end(k->d);
}

static void
timer_case_read(int status, json_t *res, void *data)
{
	struct cmd *k = data;
	const json_t *cs = json_object_get(res, "case");

	if (status != 0 || jstr(cs, "root_id") == NULL) {
		/* the case is gone: drop the timer with nothing to run */
		json_decref(res);
		k->root[0] = '\0';
		cmd_finish(k, 200, NULL, NULL, NULL);
		return;
	}
	snprintf(k->root, sizeof(k->root), "%s", jstr(cs, "root_id"));
	json_decref(res);
	family_lock(k->d, k->root, &k->wait, cmd_run, k);
}

static void
timers_scan_done(int status, json_t *res, void *data)
{
	struct daemon *d = data;
	json_t *due = json_object_get(res, "due"), *t;
	size_t i;

	if (status != 0 || d->stopping) {
		json_decref(res);
		d->timers_scanning = 0;
		if (status != 0) {
			log_error("timer scan failed: %s; trying again in a "
			          "second",
			          cairn_strerror(status));
			timers_arm(d, cases_now(d) + 1000);
		}
		return;
	}
	d->timers_fired = 0;
	d->timers_next_due = jint(res, "next_due");
	d->timers_more |= json_array_size(due) == 64;
	d->timers_inflight = (int)json_array_size(due) + 1;
	json_array_foreach(due, i, t)
	{
		struct cmd *k = calloc(1, sizeof(*k));

		if (k == NULL) {
			d->timers_inflight--;
			continue;
		}
		k->d = d;
		k->kind = CMD_TIMER;
		snprintf(k->case_id, sizeof(k->case_id), "%s",
		         jstr(t, "case_id"));
		k->type = strdup(jstr(t, "event"));
		k->timer_name = strdup(jstr(t, "name"));
		k->timer_due = jint(t, "due_at");
		metrics_observe_timer_lag(
		        &d->metrics,
		        (double)(cases_now(d) - k->timer_due) / 1000.0);
		k->data = json_pack("{s:s, s:I}", "timer", jstr(t, "name"),
		                    "due_at", (json_int_t)k->timer_due);
		snprintf(k->actor, sizeof(k->actor), "timer");
		log_write(LOG_DEBUG, NULL, k->case_id, NULL, "timer %s due",
		          k->timer_name ? k->timer_name : "?");
		if (store_case_get(d->store, k->case_id, timer_case_read, k) !=
		    0) {
			cmd_free(k);
			d->timers_inflight--;
		}
	}
	json_decref(res);
	if (--d->timers_inflight == 0)
		timers_scan_end(d);
}

int
cases_busy(const struct daemon *d)
{
	return d->families != NULL || d->timers_scanning ||
	       d->timers_inflight > 0 || d->migrations > 0 || queues_busy(d);
}

int
cases_init(struct daemon *d)
{
	uv_timer_init(d->loop, &d->wf_timer);
	d->wf_timer.data = d;
	return queues_init(d);
}

void
cases_close(struct daemon *d)
{
	queues_close(d);
	uv_timer_stop(&d->wf_timer);
	if (!uv_is_closing((uv_handle_t *)&d->wf_timer))
		uv_close((uv_handle_t *)&d->wf_timer, NULL);
	famcache_free(d->famcache);
	d->famcache = NULL;
	registry_free(&d->reg);
	wf_campuses_free(d->campuses);
	d->campuses = NULL;
}

/* --- the HTTP handlers ---------------------------------------------------- */

static unsigned
role_bit(const struct api_call *c)
{
	return ROLE_BIT(c->who.role);
}

static int
ident_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == ':' || ch == '@' || ch == '-'))
			return 0;
	}
	return 1;
}

/* Reads Idempotency-Key into k (scoped to the caller's token, so one
 * client's key never answers another's request) and hashes the request.
 * Returns -1 after replying when the key is malformed. */
static int
cmd_idempotency(struct cmd *k, struct api_call *c)
{
	const char *key = http_req_header(c->req, "Idempotency-Key");
	EVP_MD_CTX *md;
	unsigned int n = 32;

	if (key == NULL)
		return 0;
	if (strlen(key) == 0 || strlen(key) > 128) {
		api_reply_problem(c, 400, "bad-idempotency-key",
		                  "Idempotency-Key must be 1 to 128 "
		                  "characters",
		                  NULL, NULL);
		return -1;
	}
	if (asprintf(&k->idem_key, "%s:%s", c->who.token_id, key) < 0) {
		k->idem_key = NULL;
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return -1;
	}
	md = EVP_MD_CTX_new();
	if (md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(md, c->req->method, strlen(c->req->method));
		EVP_DigestUpdate(md, c->req->path, strlen(c->req->path));
		EVP_DigestUpdate(md, c->req->body, c->req->body_len);
		EVP_DigestFinal_ex(md, k->body_hash, &n);
	}
	EVP_MD_CTX_free(md);
	return 0;
}

static struct cmd *
cmd_new(struct api_call *c, enum cmd_kind kind)
{
	struct cmd *k = calloc(1, sizeof(*k));

	if (k == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return NULL;
	}
	k->d = c->d;
	k->kind = kind;
	k->call = c;
	k->role = role_bit(c);
	snprintf(k->actor, sizeof(k->actor), "%s", c->who.token_id);
	if (cmd_idempotency(k, c) != 0) {
		k->call = NULL;
		cmd_free(k);
		return NULL;
	}
	return k;
}

/* --- commands from inside the daemon ------------------------------------ */

static void
submit_case_read(int status, json_t *res, void *data)
{
	struct cmd *k = data;
	const json_t *cs = json_object_get(res, "case");

	if (status != 0) {
		json_decref(res);
		k->root[0] = '\0';
		cmd_finish(k, status == CAIRN_ENOTFOUND ? 404 : 503,
		           status == CAIRN_ENOTFOUND ? "not-found"
		                                     : "storage-unavailable",
		           status == CAIRN_ENOTFOUND ? "no such case"
		                                     : cairn_strerror(status),
		           NULL);
		return;
	}
	snprintf(k->case_id, sizeof(k->case_id), "%s", jstr(cs, "id"));
	snprintf(k->root, sizeof(k->root), "%s", jstr(cs, "root_id"));
	json_decref(res);
	cmd_start(k);
}

int
cases_submit(struct daemon *d, const struct cases_req *r)
{
	struct cmd *k;
	const struct wf_version *ver = NULL;

	if (r->done == NULL || (r->case_id == NULL) == (r->workflow == NULL) ||
	    (r->case_id != NULL && r->type == NULL) ||
	    (r->workflow != NULL && r->subject == NULL) ||
	    (r->data != NULL && !json_is_object(r->data)) ||
	    (r->then_data != NULL && !json_is_object(r->then_data)) ||
	    (r->no_view && r->idem_key != NULL))
		return CAIRN_EINVALID;
	if (r->workflow != NULL &&
	    (ver = registry_get(&d->reg, r->workflow, 0)) == NULL)
		return CAIRN_ENOTFOUND;
	if (d->stopping)
		return CAIRN_ECLOSED;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	k->d = d;
	k->kind = r->workflow ? CMD_CREATE : CMD_EVENT;
	k->role = r->role;
	snprintf(k->actor, sizeof(k->actor), "%s",
	         r->actor ? r->actor : "system");
	k->extend = r->extend;
	k->done = r->done;
	k->arg = r->arg;
	k->no_view = r->no_view;
	k->note = r->note && r->case_id != NULL;
	k->data = r->data ? json_deep_copy(r->data) : json_object();
	if (r->idem_key != NULL) {
		char *text = json_dumps(k->data, JSON_COMPACT | JSON_SORT_KEYS);
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		unsigned int n = 32;

		k->idem_key = strdup(r->idem_key);
		if (md != NULL && text != NULL &&
		    EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
			const char *what = r->type ? r->type : r->workflow;

			EVP_DigestUpdate(md, what, strlen(what));
			EVP_DigestUpdate(md, "\n", 1);
			EVP_DigestUpdate(md, text, strlen(text));
			EVP_DigestFinal_ex(md, k->body_hash, &n);
		}
		EVP_MD_CTX_free(md);
		free(text);
		if (k->idem_key == NULL) {
			k->done = NULL;
			cmd_free(k);
			return -ENOMEM;
		}
	}
	if (k->data == NULL) {
		k->done = NULL;
		cmd_free(k);
		return -ENOMEM;
	}
	if (k->kind == CMD_CREATE && r->then_type != NULL &&
	    ((k->then_type = strdup(r->then_type)) == NULL ||
	     (k->then_data = r->then_data ? json_deep_copy(r->then_data)
	                                  : json_object()) == NULL)) {
		k->done = NULL;
		cmd_free(k);
		return -ENOMEM;
	}
	if (k->kind == CMD_CREATE) {
		snprintf(k->workflow, sizeof(k->workflow), "%s",
		         ver->def->name);
		k->subject = strdup(r->subject);
		uuid7(cases_now(d), k->case_id);
		snprintf(k->root, sizeof(k->root), "%s", k->case_id);
		cmd_start(k);
		return 0;
	}
	k->type = strdup(r->type);
	if (store_case_get(d->store, r->case_id, submit_case_read, k) != 0) {
		k->done = NULL;
		cmd_free(k);
		return CAIRN_ECLOSED;
	}
	return 0;
}

void
api_h_case_create(struct api_call *c)
{
	const char *wf = jstr(c->body, "workflow");
	const char *subject = jstr(c->body, "subject");
	json_t *data = json_object_get(c->body, "data");
	const char *key;
	json_t *v;
	struct cmd *k;
	enum auth_scope scope = api_scope(c);
	int office = scope == AUTH_SCOPE_OFFICE || scope == AUTH_SCOPE_CAMPUS;
	struct auth_resource r = {0};

	json_object_foreach(c->body, key, v)
	{
		if (strcmp(key, "workflow") && strcmp(key, "subject") &&
		    strcmp(key, "data")) {
			char d[160];

			snprintf(d, sizeof(d),
			         "unknown member '%.64s'; expected workflow, "
			         "subject, data",
			         key);
			api_reply_problem(c, 422, "invalid-body", d, NULL,
			                  NULL);
			return;
		}
	}
	/* a student's own cases need not name the student */
	if (scope == AUTH_SCOPE_OWN && subject == NULL)
		subject = c->who.scope;
	if (wf == NULL || !ident_ok(subject, 128) ||
	    (data != NULL && !json_is_object(data))) {
		api_reply_problem(c, 422, "invalid-body",
		                  "expected {\"workflow\": name, \"subject\": "
		                  "student id, \"data\": {...}}",
		                  NULL, NULL);
		return;
	}
	/* a student opens cases for themselves, an office or campus for
	 * itself (one it names in data.campus or data.office, or its own
	 * when it names none); a case not yet made has nothing to hide, so
	 * out of scope is 403 here */
	r.subject = subject;
	r.owner = owner_of(data, office ? c->who.scope : NULL);
	if (auth_authorize(&c->who, c->route->roles, c->route->scope, &r) !=
	    AUTH_ALLOW) {
		api_reply_problem(c, 403, "forbidden",
		                  office ? "an office may open cases only for "
		                           "itself: data.campus or data.office "
		                           "must be your scope"
		                         : "a student may open cases only for "
		                           "themselves",
		                  NULL, NULL);
		return;
	}
	const struct wf_version *ver = registry_get(&c->d->reg, wf, 0);

	if (ver == NULL) {
		char d[200];

		snprintf(d, sizeof(d), "no workflow named '%.64s' is loaded",
		         wf);
		api_reply_problem(c, 422, "unknown-workflow", d, NULL, NULL);
		return;
	}
	k = cmd_new(c, CMD_CREATE);
	if (k == NULL)
		return;
	snprintf(k->workflow, sizeof(k->workflow), "%s", ver->def->name);
	k->subject = strdup(subject);
	k->data = data ? json_deep_copy(data) : json_object();
	if (office && owner_of(k->data, NULL) == NULL)
		json_object_set_new(k->data, "office",
		                    json_string(c->who.scope));
	uuid7(cases_now(c->d), k->case_id);
	snprintf(k->root, sizeof(k->root), "%s", k->case_id);
	cmd_start(k);
}

static struct auth_resource
case_resource(const json_t *cs)
{
	struct auth_resource r = {0};

	r.subject = jstr(cs, "subject");
	r.owner = jstr(cs, "owner");
	if (r.owner != NULL && r.owner[0] == '\0')
		r.owner = NULL;
	return r;
}

/* The scope check on a stored case (res: a store_case_get result): 0, or
 * -1 after a 404 (never 403, so a case out of scope is not confirmed to
 * exist). */
static int
case_visible(struct api_call *c, const json_t *res)
{
	struct auth_resource r = case_resource(json_object_get(res, "case"));

	r.in_caseload = api_scope(c) == AUTH_SCOPE_CASELOAD &&
	                queues_in_caseload(json_object_get(res, "counselors"),
	                                   c->who.scope);
	return api_authorize(c, &r, "case");
}

/* After a case read: 1 when it is there and in the caller's scope;
 * otherwise the reply (404, or the store's error) is sent, res freed. */
static int
case_read_ok(struct api_call *c, int status, json_t *res)
{
	if (status != 0) {
		json_decref(res);
		api_reply_store_error(c, status,
		                      status == CAIRN_ENOTFOUND
		                              ? "no such case"
		                              : cairn_strerror(status));
		return 0;
	}
	if (case_visible(c, res) != 0) {
		json_decref(res);
		return 0;
	}
	return 1;
}

static void
event_case_read(int status, json_t *res, void *data)
{
	struct api_call *c = data;
	const json_t *cs = json_object_get(res, "case");
	const char *type = jstr(c->body, "type");
	json_t *evdata = json_object_get(c->body, "data");
	struct cmd *k;

	if (!case_read_ok(c, status, res))
		return;
	/* a leased file's decisions are its holder's; a student's own
	 * events and an institution's callbacks are not held back */
	if (queues_lease_blocks(c, json_object_get(res, "lease"))) {
		json_decref(res);
		return;
	}
	k = cmd_new(c, CMD_EVENT);
	if (k == NULL) {
		json_decref(res);
		return;
	}
	k->lease_check = queues_lease_applies(c);
	snprintf(k->case_id, sizeof(k->case_id), "%s", jstr(cs, "id"));
	snprintf(k->root, sizeof(k->root), "%s", jstr(cs, "root_id"));
	json_decref(res);
	k->type = strdup(type);
	k->data = evdata ? json_deep_copy(evdata) : json_object();
	cmd_start(k);
}

void
api_h_case_event(struct api_call *c)
{
	const char *type = jstr(c->body, "type");
	json_t *data = json_object_get(c->body, "data");
	const char *key;
	json_t *v;

	json_object_foreach(c->body, key, v)
	{
		if (strcmp(key, "type") && strcmp(key, "data")) {
			api_reply_problem(
			        c, 422, "invalid-body",
			        "expected {\"type\": event, \"data\": "
			        "{...}}",
			        NULL, NULL);
			return;
		}
	}
	if (type == NULL || (data != NULL && !json_is_object(data))) {
		api_reply_problem(c, 422, "invalid-body",
		                  "expected {\"type\": event name, \"data\": "
		                  "an object}",
		                  NULL, NULL);
		return;
	}
	/* the engine's own events come from the engine, never a client */
	if (!strncmp(type, "child.", 6) || !strncmp(type, "timer.", 6) ||
	    !strcmp(type, "children.settled")) {
		api_reply_problem(c, 403, "forbidden",
		                  "child.*, timer.* and children.settled are "
		                  "sent by Cairn itself",
		                  NULL, NULL);
		return;
	}
	if (store_case_get(c->d->store, c->m.params[0], event_case_read, c) !=
	    0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

static void
case_read(int status, json_t *res, void *data)
{
	struct api_call *c = data;
	json_t *cs = json_object_get(res, "case");

	if (!case_read_ok(c, status, res))
		return;
	{
		json_t *kids = json_object_get(res, "children");
		size_t n = json_array_size(kids);
		json_t **arr = calloc(n + 1, sizeof(*arr));
		json_t *view = NULL;

		for (size_t j = 0; arr != NULL && j < n; j++)
			arr[j] = json_array_get(kids, j);
		if (arr != NULL)
			view = case_view(c->d, cs, arr, n, role_bit(c),
			                 &c->who);
		free(arr);
		/* who works the file, for those its lease concerns */
		if (view != NULL && queues_lease_applies(c))
			json_object_set(view, "lease",
			                json_object_get(res, "lease"));
		if (view == NULL) {
			json_decref(res);
			api_reply_problem(c, 503, "overloaded", "out of memory",
			                  NULL, NULL);
		} else {
			struct privacy_record rec = {jstr(cs, "id"),
			                             jstr(cs, "subject")};

			privacy_disclose_reply(c, &rec, 1, view, 0);
			json_decref(res);
		}
	}
}

void
api_h_case_get(struct api_call *c)
{
	if (store_case_get(c->d->store, c->m.params[0], case_read, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

/* A history read: the case it belongs to, for the redaction and the
 * disclosure log. */
struct history_read {
	struct api_call *c;
	json_t *cs; /* the case row */
};

static void
history_read(int status, json_t *res, void *data)
{
	struct history_read *h = data;
	struct api_call *c = h->c;
	json_t *cs = h->cs;
	struct privacy_record rec = {jstr(cs, "id"), jstr(cs, "subject")};

	free(h);
	if (status != 0) {
		json_decref(cs);
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	privacy_redact(c->d, c->who.role, PRIV_HISTORY, jstr(cs, "workflow"),
	               (int)jint(cs, "version"), res);
	privacy_disclose_reply(
	        c, &rec, 1,
	        json_pack("{s:s, s:o}", "case", c->m.params[0], "events", res),
	        1);
	json_decref(cs);
}

static void
history_case_read(int status, json_t *res, void *data)
{
	struct api_call *c = data;
	struct history_read *h;

	if (!case_read_ok(c, status, res))
		return;
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		json_decref(res);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	h->c = c;
	h->cs = json_incref(json_object_get(res, "case"));
	json_decref(res);
	if (store_case_history(c->d->store, c->m.params[0], history_read, h) !=
	    0) {
		json_decref(h->cs);
		free(h);
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
	}
}

void
api_h_case_history(struct api_call *c)
{
	if (store_case_get(c->d->store, c->m.params[0], history_case_read, c) !=
	    0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

/* Decodes %XX and '+' in place; -1 on a malformed escape or a NUL. */
static int
url_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '+') {
			*o++ = ' ';
		} else if (*s == '%') {
			unsigned v;

			if (!s[1] || !s[2] || sscanf(s + 1, "%2x", &v) != 1 ||
			    v == 0)
				return -1;
			*o++ = (char)v;
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return 0;
}

static void
list_read(int status, json_t *res, void *data)
{
	struct api_call *c = data;
	json_t *cases = json_object_get(res, "cases"), *cs;
	struct privacy_record *recs;
	size_t i, n = json_array_size(cases);

	if (status != 0) {
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	/* every case of the page is a record read: each is on the
	 * disclosure log and each is redacted for the reader (readers
	 * whose role sees every class take list_text instead) */
	if ((recs = privacy_records_of(c, cases, "id", res)) == NULL)
		return;
	json_array_foreach(cases, i, cs)
	{
		privacy_redact(c->d, c->who.role, PRIV_CASE,
		               jstr(cs, "workflow"), (int)jint(cs, "version"),
		               cs);
	}
	/* the rows are copied before this returns; res goes with the
	 * reply (serialized on the pool: nothing else may hold it) */
	privacy_disclose_reply(c, recs, n, res, 1);
	free(recs);
}

/*
 * A page for a reader whose role sees every field class: no redaction
 * would change it, so it is written as text on the reader thread, which
 * also builds its disclosure rows (one per case) into b. The loop thread
 * only submits b and sends the text once b is committed.
 */
struct list_text {
	struct api_call *c;
	struct store_batch *b;
};

static void
list_text_read(int status, json_t *res, void *data)
{
	struct list_text *lt = data;
	struct api_call *c = lt->c;
	struct store_batch *b = lt->b;

	free(lt);
	if (status != 0) {
		store_batch_free(b);
		api_reply_store_error(c, status, cairn_strerror(status));
		return;
	}
	privacy_disclose_text_reply(c, b, res);
}

static void
list_text(struct api_call *c, struct store_case_filter *f)
{
	struct list_text *lt = calloc(1, sizeof(*lt));
	struct store_disclosure tmpl;
	char route[160];

	if (lt == NULL || (lt->b = store_batch_new()) == NULL) {
		free(lt);
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	lt->c = c;
	privacy_disclosure_of(c, &tmpl, route, sizeof(route));
	f->as_text = 1;
	f->disclose = &tmpl;
	f->disclose_to = lt->b;
	if (store_case_list(c->d->store, f, list_text_read, lt) != 0) {
		store_batch_free(lt->b);
		free(lt);
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
	}
}

void
api_h_case_list(struct api_call *c)
{
	struct store_case_filter f = {.limit = 50};
	char q[2048], *save = NULL, *kv;

	if (strlen(c->req->query) >= sizeof(q)) {
		api_reply_problem(c, 400, "bad-query", "query too long", NULL,
		                  NULL);
		return;
	}
	snprintf(q, sizeof(q), "%s", c->req->query);
	for (kv = strtok_r(q, "&", &save); kv;
	     kv = strtok_r(NULL, "&", &save)) {
		char *v = strchr(kv, '=');

		if (v == NULL || url_decode(v + 1) != 0) {
			api_reply_problem(c, 400, "bad-query",
			                  "each parameter must be name=value, "
			                  "percent-encoded",
			                  NULL, NULL);
			return;
		}
		*v++ = '\0';
		if (!strcmp(kv, "workflow"))
			f.workflow = v;
		else if (!strcmp(kv, "status"))
			f.status = v;
		else if (!strcmp(kv, "subject"))
			f.subject = v;
		else if (!strcmp(kv, "queue"))
			f.queue = v;
		else if (!strcmp(kv, "cursor"))
			f.after = v;
		else if (!strcmp(kv, "limit") && atoi(v) >= 1 &&
		         atoi(v) <= 1000)
			f.limit = atoi(v);
		else {
			char d[160];

			snprintf(d, sizeof(d),
			         "unknown or invalid parameter '%.40s'; "
			         "expected "
			         "workflow, status, subject, queue, cursor, "
			         "limit (1-1000)",
			         kv);
			api_reply_problem(c, 400, "bad-query", d, NULL, NULL);
			return;
		}
	}
	/* the scope narrows every listing */
	switch (api_scope(c)) {
	case AUTH_SCOPE_OWN:
		f.subject = c->who.scope;
		break;
	case AUTH_SCOPE_OFFICE:
	case AUTH_SCOPE_CAMPUS:
		f.owner = c->who.scope;
		break;
	case AUTH_SCOPE_CASELOAD:
		f.counselor = c->who.scope;
		break;
	case AUTH_SCOPE_NONE:
		break;
	default:
		api_reply_problem(c, 403, "forbidden",
		                  "this role has no case listing", NULL, NULL);
		return;
	}
	if (privacy_ceiling(c->who.role) >= WF_CLASS_RESTRICTED) {
		list_text(c, &f);
		return;
	}
	if (store_case_list(c->d->store, &f, list_read, c) != 0)
		api_reply_problem(c, 503, "storage-unavailable",
		                  "shutting down", NULL, NULL);
}

static json_t *
versions_json(const struct wf_entry *e)
{
	json_t *a = json_array();

	for (int j = 0; a && j < e->nversions; j++)
		json_array_append_new(a,
		                      json_pack("{s:i, s:s, s:b}", "version",
		                                e->versions[j].version, "hash",
		                                e->versions[j].def->hash,
		                                "current", j == e->current));
	return a;
}

void
api_h_workflow_list(struct api_call *c)
{
	json_t *a = json_array();

	for (int i = 0; a && i < c->d->reg.n; i++) {
		const struct wf_entry *e = &c->d->reg.entries[i];
		const struct wf_def *def =
		        e->current >= 0 ? e->versions[e->current].def : NULL;

		json_array_append_new(
		        a,
		        json_pack("{s:s, s:s?, s:i, s:o}", "name", e->name,
		                  "description", def ? def->description : NULL,
		                  "version", def ? def->version : 0, "versions",
		                  versions_json(e)));
	}
	api_reply_json(c, 200, json_pack("{s:o}", "workflows", a), NULL);
}

void
api_h_workflow_get(struct api_call *c)
{
	const struct wf_version *v =
	        registry_get(&c->d->reg, c->m.params[0], 0);
	const struct wf_entry *e = NULL;
	json_t *o;

	if (v == NULL) {
		api_reply_problem(c, 404, "not-found", "no such workflow", NULL,
		                  NULL);
		return;
	}
	for (int i = 0; i < c->d->reg.n; i++)
		if (!strcmp(c->d->reg.entries[i].name, c->m.params[0]))
			e = &c->d->reg.entries[i];
	if (strstr(c->req->query, "format=dot") != NULL) {
		char *dot = wf_def_dot(v->def);

		if (dot == NULL) {
			api_reply_problem(c, 503, "overloaded", "out of memory",
			                  NULL, NULL);
			return;
		}
		http_respond(c->req, 200, "text/vnd.graphviz", NULL, dot,
		             strlen(dot));
		free(dot);
		api_call_free(c);
		return;
	}
	o = json_deep_copy(v->def->source);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	json_object_set_new(o, "version", json_integer(v->version));
	json_object_set_new(o, "hash", json_string(v->def->hash));
	json_object_set_new(o, "versions", versions_json(e));
	api_reply_json(c, 200, o, NULL);
}

void
api_h_clock(struct api_call *c)
{
	const char *adv = jstr(c->body, "advance");
	int64_t ms;

	if (!c->d->test_clock) {
		api_reply_problem(c, 404, "not-found",
		                  "the test clock is off (start cairnd with "
		                  "--test-clock)",
		                  NULL, NULL);
		return;
	}
	if (adv == NULL || config_parse_duration(adv, &ms) != 0) {
		api_reply_problem(c, 422, "invalid-body",
		                  "expected {\"advance\": \"14d\"} (ms, s, m, "
		                  "h, d)",
		                  NULL, NULL);
		return;
	}
	c->d->clock_offset_ms += ms;
	log_info("test clock moved forward by %s", adv);
	cases_timers_scan(c->d);
	queues_scan(c->d);
	retention_clock_moved(c->d);
	api_reply_json(c, 200,
	               json_pack("{s:I, s:I}", "now",
	                         (json_int_t)cases_now(c->d), "offset_ms",
	                         (json_int_t)c->d->clock_offset_ms),
	               NULL);
}

/* --- migrations ---------------------------------------------------------- */

#define MIGRATION_PAGE     500 /* cases read, and moved at once, per step */
#define MIGRATION_UNMAPPED 100 /* ids of unmappable cases in the report */

struct migration {
	struct daemon *d;
	struct api_call *c;
	char name[72];
	int from_version; /* 0: every version but the target */
	int to_version;
	json_t *map; /* {old status: new status} */
	int dry_run;
	char cursor[40];
	int more;
	json_t *by_status; /* {status: {cases, to}} */
	json_t *unmapped;
	int64_t seen, mappable, unmappable, migrated, failed;
	int inflight;
};

static void migration_page(struct migration *m);

static void
migration_reply(struct migration *m)
{
	json_t *o = json_pack(
	        "{s:s, s:i, s:b, s:I, s:I, s:I, s:O, s:O}", "workflow", m->name,
	        "to_version", m->to_version, "dry_run", m->dry_run, "cases",
	        (json_int_t)m->seen, "mappable", (json_int_t)m->mappable,
	        "unmappable", (json_int_t)m->unmappable, "by_status",
	        m->by_status, "unmapped", m->unmapped);

	if (o != NULL && !m->dry_run) {
		json_object_set_new(o, "migrated", json_integer(m->migrated));
		json_object_set_new(o, "failed", json_integer(m->failed));
	}
	if (!m->dry_run)
		log_info("workflow %s: %lld case(s) migrated to version %d, "
		         "%lld failed, %lld unmappable",
		         m->name, (long long)m->migrated, m->to_version,
		         (long long)m->failed, (long long)m->unmappable);
	api_reply_json(m->c, 200, o, NULL);
	m->d->migrations--;
	json_decref(m->map);
	json_decref(m->by_status);
	json_decref(m->unmapped);
	free(m);
}

/* The page's moves are done: the next page, or the report. */
static void
migration_next(struct migration *m)
{
	if (m->more && !m->d->stopping)
		migration_page(m);
	else
		migration_reply(m);
}

static void
migration_case_done(struct migration *m, int ok)
{
	if (ok)
		m->migrated++;
	else
		m->failed++;
	if (--m->inflight == 0)
		migration_next(m);
}

static void
migration_listed(int status, json_t *res, void *data)
{
	struct migration *m = data;
	const struct wf_version *target =
	        registry_get(&m->d->reg, m->name, m->to_version);
	json_t *row;
	size_t i;

	if (status != 0 || target == NULL) {
		json_decref(res);
		m->more = 0;
		m->failed++;
		migration_reply(m);
		return;
	}
	m->inflight = 1; /* this function's own hold */
	json_array_foreach(json_object_get(res, "cases"), i, row)
	{
		const char *st = jstr(row, "status");
		const char *to = jstr(m->map, st) ? jstr(m->map, st) : st;
		int v = (int)jint(row, "version");
		int ok = wf_status_find(target->def, to) >= 0;
		json_t *entry = json_object_get(m->by_status, st);
		struct cmd *k;

		if (v == m->to_version ||
		    (m->from_version && v != m->from_version))
			continue;
		m->seen++;
		if (entry == NULL) {
			entry = json_pack("{s:i, s:s?}", "cases", 0, "to",
			                  ok ? to : NULL);
			json_object_set_new(m->by_status, st, entry);
		}
		json_object_set_new(entry, "cases",
		                    json_integer(jint(entry, "cases") + 1));
		if (!ok) {
			m->unmappable++;
			if (json_array_size(m->unmapped) < MIGRATION_UNMAPPED)
				json_array_append_new(
				        m->unmapped,
				        json_pack("{s:s, s:s, s:i}", "id",
				                  jstr(row, "id"), "status", st,
				                  "version", v));
			continue;
		}
		m->mappable++;
		if (m->dry_run)
			continue;
		k = calloc(1, sizeof(*k));
		if (k == NULL) {
			m->failed++;
			continue;
		}
		k->d = m->d;
		k->kind = CMD_MIGRATE;
		k->mig = m;
		k->from_version = v;
		k->to_version = m->to_version;
		snprintf(k->case_id, sizeof(k->case_id), "%s", jstr(row, "id"));
		snprintf(k->root, sizeof(k->root), "%s", jstr(row, "root_id"));
		snprintf(k->from_status, sizeof(k->from_status), "%s", st);
		snprintf(k->to_status, sizeof(k->to_status), "%s", to);
		snprintf(k->actor, sizeof(k->actor), "%s", m->c->who.token_id);
		m->inflight++;
		family_lock(m->d, k->root, &k->wait, cmd_run, k);
	}
	m->more = !json_is_null(json_object_get(res, "next"));
	if (m->more)
		snprintf(m->cursor, sizeof(m->cursor), "%s", jstr(res, "next"));
	json_decref(res);
	if (--m->inflight == 0)
		migration_next(m);
}

static void
migration_page(struct migration *m)
{
	struct store_case_filter f = {.workflow = m->name,
	                              .after = m->cursor[0] ? m->cursor : NULL,
	                              .limit = MIGRATION_PAGE};

	if (store_case_list(m->d->store, &f, migration_listed, m) != 0) {
		m->more = 0;
		migration_reply(m);
	}
}

void
api_h_workflow_migrate(struct api_call *c)
{
	const struct wf_version *target;
	json_t *map = json_object_get(c->body, "status_map");
	json_t *dry = json_object_get(c->body, "dry_run");
	json_t *fromv = json_object_get(c->body, "from_version");
	json_t *tov = json_object_get(c->body, "to_version");
	struct migration *m;
	const char *key;
	json_t *v;
	char d[256];

	json_object_foreach(c->body, key, v)
	{
		if (strcmp(key, "status_map") && strcmp(key, "dry_run") &&
		    strcmp(key, "from_version") && strcmp(key, "to_version")) {
			snprintf(d, sizeof(d),
			         "unknown member '%.64s'; expected status_map, "
			         "dry_run, from_version, to_version",
			         key);
			api_reply_problem(c, 422, "invalid-body", d, NULL,
			                  NULL);
			return;
		}
	}
	if ((map && !json_is_object(map)) || (dry && !json_is_boolean(dry)) ||
	    (fromv && !json_is_integer(fromv)) ||
	    (tov && !json_is_integer(tov))) {
		api_reply_problem(
		        c, 422, "invalid-body",
		        "expected {\"status_map\": {old: new}, "
		        "\"dry_run\": true|false, \"from_version\": n, "
		        "\"to_version\": n}",
		        NULL, NULL);
		return;
	}
	target = registry_get(&c->d->reg, c->m.params[0],
	                      tov ? (int)json_integer_value(tov) : 0);
	if (target == NULL) {
		api_reply_problem(c, 404, "not-found",
		                  "no such workflow or version", NULL, NULL);
		return;
	}
	json_object_foreach(map, key, v)
	{
		if (!json_is_string(v) ||
		    wf_status_find(target->def, json_string_value(v)) < 0) {
			snprintf(d, sizeof(d),
			         "status_map['%.64s'] must name a status of "
			         "version %d",
			         key, target->version);
			api_reply_problem(c, 422, "invalid-body", d, NULL,
			                  NULL);
			return;
		}
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	c->d->migrations++;
	m->d = c->d;
	m->c = c;
	snprintf(m->name, sizeof(m->name), "%s", target->def->name);
	m->to_version = target->version;
	m->from_version = fromv ? (int)json_integer_value(fromv) : 0;
	m->map = map ? json_incref(map) : json_object();
	m->dry_run = dry ? json_is_true(dry) : 0;
	m->by_status = json_object();
	m->unmapped = json_array();
	migration_page(m);
}

/* POST /v1/workflows/reload: what SIGHUP does, with the outcome in the
 * reply. A definition with errors changes nothing; the errors come back
 * as file:line:column lines. */
static void
reload_done(int errors, void *arg)
{
	struct api_call *c = arg;

	if (errors) {
		api_reply_problem(c, 503, "storage-unavailable",
		                  "the new versions could not be recorded; the "
		                  "versions loaded before stay in force",
		                  NULL, NULL);
		return;
	}
	log_info("definitions reloaded through the API by %s", c->who.token_id);
	api_h_workflow_list(c);
}

void
api_h_workflow_reload(struct api_call *c)
{
	struct check_result r;
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	json_t *lines;
	int rc;

	if (mem == NULL) {
		api_reply_problem(c, 503, "overloaded", "out of memory", NULL,
		                  NULL);
		return;
	}
	check_definitions(&c->d->cfg, mem, &r);
	fclose(mem);
	lines = json_array();
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save))
		json_array_append_new(lines, json_string(l));
	free(text);
	if (r.errors == 0) {
		rc = registry_reload(c->d, reload_done, c);
		if (rc == 0) {
			json_decref(lines);
			return; /* reload_done replies */
		}
		if (rc == -EBUSY) {
			json_decref(lines);
			api_reply_problem(c, 409, "reload-under-way",
			                  "another reload is under way", NULL,
			                  NULL);
			return;
		}
	}
	api_reply_problem(c, 422, "invalid-definitions",
	                  "the definitions have errors; the versions loaded "
	                  "before stay in force",
	                  json_pack("{s:o}", "errors", lines), NULL);
}
