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

/* Whether an entry names a field strictly inside path: then an object at
 * path is looked into rather than judged whole. */
static int
named_inside(const struct wf_def *d, const char *path)
{
	size_t n = strlen(path);

	for (int i = 0; d && i < d->nfields; i++) {
		const struct wf_field *f = &d->fields[i];

		if (f->members ? !strcmp(f->path, path) ||
		                         strictly_below(f->path, path, n)
		               : strictly_below(f->path, path, n))
			return 1;
	}
	return 0;
}

static size_t
redact_obj(const struct wf_def *d, json_t *o, char *path, size_t len,
           size_t cap, int ceiling, int depth)
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
			/* a path no entry could name: judged by the
			 * default, like any other unnamed field */
			c = d ? d->default_class : WF_CLASS_DEFAULT;
		} else {
			if (len > 0)
				path[len] = '.';
			memcpy(path + len + (len > 0), key, klen + 1);
			if (json_is_object(v) && depth < 64 &&
			    named_inside(d, path)) {
				n += redact_obj(d, v, path,
				                len + (len > 0) + klen, cap,
				                ceiling, depth + 1);
				path[len] = '\0';
				continue;
			}
			c = wf_field_class(d, path);
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

size_t
wf_redact(const struct wf_def *d, json_t *o, const char *prefix, int ceiling)
{
	char path[512];
	size_t len = prefix ? strlen(prefix) : 0;

	if (!json_is_object(o))
		return 0;
	if (len >= sizeof(path) / 2) {
		/* no entry can name fields this deep: each is judged by the
		 * default class */
		path[0] = '\0';
		return redact_obj(NULL, o, path, 0, sizeof(path), ceiling, 0);
	}
	memcpy(path, prefix ? prefix : "", len + 1);
	return redact_obj(d, o, path, len, sizeof(path), ceiling, 0);
}
