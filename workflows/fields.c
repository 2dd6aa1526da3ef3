/*
 * fields.c: field sensitivity. A workflow's `fields:` block gives data
 * paths a class (public, internal, sensitive, restricted); this file
 * answers "what class is this field" and redacts a JSON object for a
 * reader allowed classes up to a ceiling. Pure: no I/O, no roles (the
 * daemon maps a role to its ceiling, daemon/privacy.c).
 */
#include <stdio.h>
#include <string.h>

#include "workflow.h"

static const char *const class_names[] = {"public", "internal", "sensitive",
                                          "restricted"};

const char *
wf_class_name(enum wf_class c)
{
	return (unsigned)c < 4 ? class_names[c] : "restricted";
}

int
wf_class_parse(const char *s, enum wf_class *out)
{
	for (int i = 0; i < 4; i++) {
		if (!strcmp(s, class_names[i])) {
			*out = (enum wf_class)i;
			return 0;
		}
	}
	return -1;
}

/* Whether path is p or lies below it ("isir.sai" below "isir"). */
static int
at_or_below(const char *path, const char *p, size_t plen)
{
	return !strncmp(path, p, plen) &&
	       (path[plen] == '\0' || path[plen] == '.');
}

static int
strictly_below(const char *path, const char *p, size_t plen)
{
	return !strncmp(path, p, plen) && path[plen] == '.';
}

static int
segments(const char *p)
{
	int n = 1;

	for (; *p; p++)
		n += *p == '.';
	return n;
}

enum wf_class
wf_field_class(const struct wf_def *d, const char *path)
{
	enum wf_class cls = d ? d->default_class : WF_CLASS_DEFAULT;
	int best = 0;

	if (d == NULL)
		return cls;
	for (int i = 0; i < d->nfields; i++) {
		const struct wf_field *f = &d->fields[i];
		size_t n = strlen(f->path);
		/* a deeper entry is more specific; at one depth, "a.*" (which
		 * speaks of a's members) is more specific than "a" */
		int spec = 2 * segments(f->path) + f->members;

		if (spec <= best)
			continue;
		if (f->members ? strictly_below(path, f->path, n)
		               : at_or_below(path, f->path, n)) {
			best = spec;
			cls = f->cls;
		}
	}
	return cls;
}

/* The data field an action copies from the event path src ("$event.src"),
 * for each `set` action of the definition. */
static int
each_event_copy(const struct wf_def *d,
                int (*fn)(const char *src, const char *dst, void *arg),
                void *arg)
{
	for (int i = 0; d && i < d->ntransitions + d->nstatuses; i++) {
		const struct wf_action *a;
		int n;

		if (i < d->ntransitions) {
			a = d->transitions[i].actions;
			n = d->transitions[i].nactions;
		} else {
			a = d->statuses[i - d->ntransitions].enter;
			n = d->statuses[i - d->ntransitions].nenter;
		}
		for (int j = 0; j < n; j++) {
			const char *v = json_string_value(a[j].value);

			if (a[j].kind != WF_ACT_SET || a[j].field == NULL ||
			    v == NULL || strncmp(v, "$event.", 7) != 0)
				continue;
			if (fn(v + 7, a[j].field, arg))
				return 1;
		}
	}
	return 0;
}

struct event_lookup {
	const struct wf_def *d;
	const char *path;
	size_t len;
	enum wf_class cls;
};

/* An event's value at path lands in the data at dst (and below): it
 * carries the class it will have there. */
static int
event_class_of(const char *src, const char *dst, void *arg)
{
	struct event_lookup *e = arg;
	size_t n = strlen(src);
	char full[1024];
	enum wf_class c;

	if (at_or_below(e->path, src, n)) {
		/* path is src or inside it: the same place under dst */
		snprintf(full, sizeof(full), "%s%s", dst, e->path + n);
		c = wf_field_class(e->d, full);
	} else if (strictly_below(src, e->path, e->len)) {
		/* path holds src: at least dst's class */
		c = wf_field_class(e->d, dst);
	} else {
		return 0;
	}
	if (c > e->cls)
		e->cls = c;
	return 0;
}

static enum wf_class
event_class(const struct wf_def *d, const char *path)
{
	struct event_lookup e = {d, path, strlen(path),
	                         wf_field_class(d, path)};

	each_event_copy(d, event_class_of, &e);
	return e.cls;
}

static int named_inside(const struct wf_def *d, const char *path, int event);

/* Whether an event's object at path must be looked into: a value inside
 * it is copied into the data, or it lands where entries name fields
 * inside. */
static int
copied_from_inside(const char *src, const char *dst, void *arg)
{
	const struct event_lookup *e = arg;
	size_t n = strlen(src);
	char full[1024];

	if (strictly_below(src, e->path, e->len))
		return 1;
	if (!at_or_below(e->path, src, n))
		return 0;
	snprintf(full, sizeof(full), "%s%s", dst, e->path + n);
	return named_inside(e->d, full, 0);
}

/* Whether an entry names a field strictly inside path: then an object at
 * path is looked into rather than judged whole. For an event, also when
 * an action copies a value from inside it into the data. */
static int
named_inside(const struct wf_def *d, const char *path, int event)
{
	size_t n = strlen(path);

	for (int i = 0; d && i < d->nfields; i++) {
		const struct wf_field *f = &d->fields[i];

		if (f->members ? !strcmp(f->path, path) ||
		                         strictly_below(f->path, path, n)
		               : strictly_below(f->path, path, n))
			return 1;
	}
	if (event) {
		struct event_lookup e = {d, path, n, WF_CLASS_PUBLIC};

		return each_event_copy(d, copied_from_inside, &e);
	}
	return 0;
}

static size_t
redact_obj(const struct wf_def *d, json_t *o, char *path, size_t len,
           size_t cap, int ceiling, int depth, int event)
{
	const char *key;
	json_t *v;
	void *it;
	size_t n = 0;

	for (it = json_object_iter(o); it != NULL;
	     it = json_object_iter_next(o, it)) {
		size_t klen;
		enum wf_class c;
		char marker[32];

		key = json_object_iter_key(it);
		v = json_object_iter_value(it);
		klen = strlen(key);
		if (len + klen + 2 > cap) {
			/* a key longer than any entry: no entry names it, but
			 * "parent.*" and "parent" may; a byte no entry holds
			 * stands for it */
			key = "\x01";
			klen = 1;
		}
		if (len + klen + 2 > cap) {
			/* deeper than any entry reaches: the most careful
			 * answer */
			c = WF_CLASS_RESTRICTED;
		} else {
			if (len > 0)
				path[len] = '.';
			memcpy(path + len + (len > 0), key, klen + 1);
			if (json_is_object(v) && depth < 64 &&
			    named_inside(d, path, event)) {
				n += redact_obj(d, v, path,
				                len + (len > 0) + klen, cap,
				                ceiling, depth + 1, event);
				path[len] = '\0';
				continue;
			}
			c = event ? event_class(d, path)
			          : wf_field_class(d, path);
			path[len] = '\0';
		}
		if ((int)c <= ceiling)
			continue;
		snprintf(marker, sizeof(marker), "[redacted: %s]",
		         wf_class_name(c));
		json_object_iter_set_new(o, it, json_string(marker));
		n++;
	}
	return n;
}

static size_t
redact(const struct wf_def *d, json_t *o, const char *prefix, int ceiling,
       int event)
{
	char path[512];
	size_t len = prefix ? strlen(prefix) : 0;

	if (!json_is_object(o))
		return 0;
	if (len >= sizeof(path) / 2) {
		/* no entry can name fields this deep: each is judged by the
		 * default class */
		path[0] = '\0';
		return redact_obj(NULL, o, path, 0, sizeof(path), ceiling, 0,
		                  0);
	}
	memcpy(path, prefix ? prefix : "", len + 1);
	return redact_obj(d, o, path, len, sizeof(path), ceiling, 0, event);
}

size_t
wf_redact(const struct wf_def *d, json_t *o, const char *prefix, int ceiling)
{
	return redact(d, o, prefix, ceiling, 0);
}

size_t
wf_redact_event(const struct wf_def *d, json_t *payload, int ceiling)
{
	return redact(d, payload, "", ceiling, 1);
}
