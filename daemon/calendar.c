/*
 * calendar.c: award-year calendars (deadlines, business days, holidays)
 * loaded from YAML, and the Pacific-time arithmetic they need. Dates are
 * day numbers (days since 1970-01-01) through Howard Hinnant's civil-date
 * algorithms; Pacific offsets follow the US rules in force since 2007.
 */
#include "calendar.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/yamlfile.h"

#define DAY_MS      86400000LL
#define HOUR_MS     3600000LL
#define CAL_MAX     (256 * 1024)
#define CAL_DEPTH   8
#define CAL_FILES   64
#define MAX_ENTRIES 1000

/* --- dates ------------------------------------------------------------------ */

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int64_t
year_of_days(int64_t z)
{
	int64_t era, y;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	return y + (mp >= 10);
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* 0 Sunday .. 6 Saturday */
static int
weekday(int64_t days)
{
	return (int)(((days % 7) + 11) % 7);
}

/* The day number of the nth (1-based) Sunday of month m of year y. */
static int64_t
nth_sunday(int64_t y, unsigned m, int n)
{
	int64_t first = days_from_civil(y, m, 1);

	return first + (7 - weekday(first)) % 7 + 7 * (n - 1);
}

int64_t
calendar_pacific_offset(int64_t t)
{
	int64_t y = year_of_days(floor_div(t, DAY_MS));
	/* 2:00 standard time = 10:00 UTC; 2:00 daylight time = 9:00 UTC */
	int64_t on = nth_sunday(y, 3, 2) * DAY_MS + 10 * HOUR_MS;
	int64_t off = nth_sunday(y, 11, 1) * DAY_MS + 9 * HOUR_MS;

	return t >= on && t < off ? -7 * HOUR_MS : -8 * HOUR_MS;
}

/* The Pacific day number of t. */
static int64_t
pacific_day(int64_t t)
{
	return floor_div(t + calendar_pacific_offset(t), DAY_MS);
}

/* UTC ms of a Pacific wall-clock time (ms since 1970-01-01 local). */
static int64_t
from_pacific(int64_t local)
{
	return local - calendar_pacific_offset(local + 8 * HOUR_MS);
}

/* "YYYY-MM-DD" to a day number; -1 if not a real date. */
static int
parse_date(const char *s, int64_t *days)
{
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30,
	                                 31, 31, 30, 31, 30, 31};
	unsigned y, m, d;
	char tail;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    sscanf(s, "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3 || y < 1970 ||
	    y > 2999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 &&
	     !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
		return -1;
	*days = days_from_civil(y, m, d);
	return 0;
}

/* --- queries ------------------------------------------------------------------ */

static int
is_holiday(const struct calendar *cal, int64_t day)
{
	int lo = 0, hi = cal->nholidays - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;

		if (cal->holidays[mid] == day)
			return 1;
		if (cal->holidays[mid] < day)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return 0;
}

static int
business_day(const struct calendar *cal, int64_t day)
{
	return (cal->weekdays & (1u << weekday(day))) && !is_holiday(cal, day);
}

int
calendar_is_business_day(const struct calendar *cal, int64_t t)
{
	return business_day(cal, pacific_day(t));
}

int64_t
calendar_add_business_days(const struct calendar *cal, int64_t from, int days)
{
	int64_t local = from + calendar_pacific_offset(from);
	int64_t day = floor_div(local, DAY_MS), tod = local - day * DAY_MS;

	/* a calendar with no business day at all would never end */
	if (cal->weekdays == 0)
		return from + days * DAY_MS;
	while (days > 0) {
		day++;
		if (business_day(cal, day))
			days--;
	}
	return from_pacific(day * DAY_MS + tod);
}

int64_t
calendar_deadline(const struct calendar *cal, const char *name)
{
	for (int i = 0; cal != NULL && name != NULL && i < cal->ndeadlines; i++)
		if (!strcmp(cal->deadlines[i].name, name))
			return cal->deadlines[i].at;
	return 0;
}

const struct calendar *
calendars_find(const struct calendars *c, const char *award_year, int64_t now)
{
	const struct calendar *best = NULL;

	for (int i = 0; i < c->n; i++) {
		if (award_year != NULL) {
			if (!strcmp(c->v[i].award_year, award_year))
				return &c->v[i];
		} else if (now >= c->v[i].start && now <= c->v[i].end &&
		           (best == NULL || c->v[i].start > best->start)) {
			/* years overlap: the newest open one */
			best = &c->v[i];
		}
	}
	return best;
}

/* --- loading -------------------------------------------------------------------- */

struct cload {
	struct yamlfile yf;
	const char *path;
	struct cairn_err *err;
};

static int bad(struct cload *l, const yaml_node_t *n, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
bad(struct cload *l, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cairn_err_set(l->err, l->path, n ? (int)n->start_mark.line + 1 : 0,
	              n ? (int)n->start_mark.column + 1 : 0, "%s", msg);
	return CAIRN_EINVALID;
}

static yaml_node_t *
node(struct cload *l, int i)
{
	return yaml_document_get_node(&l->yf.doc, i);
}

static const char *
scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE
	               ? (const char *)n->data.scalar.value
	               : NULL;
}

static int
cmp_day(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
load_days(struct cload *l, const yaml_node_t *n, struct calendar *cal)
{
	static const char *const names[] = {"sun", "mon", "tue", "wed",
	                                    "thu", "fri", "sat"};

	if (n->type != YAML_SEQUENCE_NODE)
		return bad(l, n,
		           "business_days: expected a list such as [mon, "
		           "tue, wed, thu, fri]");
	cal->weekdays = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++) {
		const yaml_node_t *v = node(l, *it);
		const char *s = scalar(v);
		int k = -1;

		for (int d = 0; s && d < 7; d++)
			if (!strcmp(s, names[d]))
				k = d;
		if (k < 0)
			return bad(
			        l, v,
			        "business_days: '%.32s' is not a day; "
			        "expected sun, mon, tue, wed, thu, fri or sat",
			        s ? s : "?");
		cal->weekdays |= 1u << k;
	}
	return 0;
}

static int
load_holidays(struct cload *l, const yaml_node_t *n, struct calendar *cal)
{
	int cap;

	if (n->type != YAML_SEQUENCE_NODE)
		return bad(l, n,
		           "holidays: expected a list of dates "
		           "(YYYY-MM-DD)");
	cap = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (cap > MAX_ENTRIES)
		return bad(l, n, "holidays: at most %d", MAX_ENTRIES);
	cal->holidays = calloc((size_t)cap + 1, sizeof(int64_t));
	if (cal->holidays == NULL)
		return -ENOMEM;
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++) {
		const yaml_node_t *v = node(l, *it);
		const char *s = scalar(v);
		int64_t day;

		if (s == NULL || parse_date(s, &day) != 0)
			return bad(l, v,
			           "holidays: '%.32s' is not a date "
			           "(YYYY-MM-DD)",
			           s ? s : "?");
		cal->holidays[cal->nholidays++] = day;
	}
	qsort(cal->holidays, (size_t)cal->nholidays, sizeof(int64_t), cmp_day);
	return 0;
}

static int
load_deadline(struct cload *l, const char *name, const yaml_node_t *n,
              struct calendar *cal, struct cal_deadline *dl)
{
	const char *date = NULL, *roll = NULL, *desc = NULL;
	int64_t day;

	if (n->type != YAML_MAPPING_NODE)
		return bad(l, n, "deadline %s: expected {date: YYYY-MM-DD}",
		           name);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		const char *k = scalar(node(l, p->key));
		const yaml_node_t *v = node(l, p->value);

		if (k && !strcmp(k, "date") && scalar(v))
			date = scalar(v);
		else if (k && !strcmp(k, "roll") && scalar(v))
			roll = scalar(v);
		else if (k && !strcmp(k, "description") && scalar(v))
			desc = scalar(v);
		else
			return bad(l, node(l, p->key),
			           "deadline %s: '%.32s' is not a key here; "
			           "expected date, roll, description (each a "
			           "scalar)",
			           name, k ? k : "?");
	}
	if (date == NULL || parse_date(date, &day) != 0)
		return bad(l, n, "deadline %s: date must be YYYY-MM-DD", name);
	if (roll != NULL && strcmp(roll, "next_business_day") &&
	    strcmp(roll, "none"))
		return bad(l, n,
		           "deadline %s: roll is next_business_day or none",
		           name);
	if (strlen(name) >= sizeof(dl->name))
		return bad(l, n, "deadline name too long: %.32s...", name);
	snprintf(dl->name, sizeof(dl->name), "%s", name);
	snprintf(dl->date, sizeof(dl->date), "%s", date);
	snprintf(dl->description, sizeof(dl->description), "%s",
	         desc ? desc : "");
	if (roll != NULL && !strcmp(roll, "next_business_day"))
		for (int i = 0; i < 366 && !business_day(cal, day); i++)
			day++;
	dl->at = from_pacific((day + 1) * DAY_MS) - 1;
	return 0;
}

static int
load_file(const char *path, struct calendar *cal, struct cairn_err *err)
{
	struct cload l = {.path = path, .err = err};
	const yaml_node_t *root, *dls = NULL;
	const char *ay = NULL, *tz = NULL;
	unsigned y1, y2;
	char tail;
	int rc;

	memset(cal, 0, sizeof(*cal));
	snprintf(cal->file, sizeof(cal->file), "%s", path);
	cal->weekdays = 0x3e; /* Monday to Friday */
	rc = yamlfile_init(&l.yf, path, CAL_MAX, CAL_DEPTH, "calendar file",
	                   err);
	if (rc != 0)
		return rc;
	root = yaml_document_get_root_node(&l.yf.doc);
	if (root == NULL || root->type != YAML_MAPPING_NODE) {
		rc = bad(&l, root,
		         "a calendar is a mapping: award_year, "
		         "time_zone, business_days, holidays, "
		         "deadlines");
		goto out;
	}
	/* holidays first: a deadline's roll needs them */
	for (int pass = 0; pass < 2 && rc == 0; pass++)
		for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
		     rc == 0 && p < root->data.mapping.pairs.top; p++) {
			const char *k = scalar(node(&l, p->key));
			const yaml_node_t *v = node(&l, p->value);

			if (k == NULL)
				rc = bad(&l, node(&l, p->key),
				         "keys are names");
			else if (!strcmp(k, "award_year"))
				ay = scalar(v);
			else if (!strcmp(k, "time_zone"))
				tz = scalar(v);
			else if (!strcmp(k, "business_days"))
				rc = pass ? 0 : load_days(&l, v, cal);
			else if (!strcmp(k, "holidays"))
				rc = pass ? 0 : load_holidays(&l, v, cal);
			else if (!strcmp(k, "deadlines"))
				dls = v;
			else
				rc = bad(
				        &l, node(&l, p->key),
				        "'%.32s' is not a key here; expected "
				        "award_year, time_zone, business_days, "
				        "holidays, deadlines",
				        k);
		}
	if (rc != 0)
		goto out;
	if (ay == NULL || strlen(ay) != 7 ||
	    sscanf(ay, "%4u-%2u%c", &y1, &y2, &tail) != 2 ||
	    (y1 + 1) % 100 != y2 || y1 < 1970 || y1 > 2998) {
		rc = bad(&l, root,
		         "award_year: expected YYYY-YY (e.g. 2026-27)");
		goto out;
	}
	if (tz == NULL || strcmp(tz, "America/Los_Angeles") != 0) {
		rc = bad(&l, root,
		         "time_zone: only America/Los_Angeles is "
		         "supported");
		goto out;
	}
	snprintf(cal->award_year, sizeof(cal->award_year), "%s", ay);
	/* open from the day its FAFSA opens (October 1 before) to the last
	 * day of the year's aid (June 30) */
	cal->start = from_pacific(days_from_civil(y1 - 1, 10, 1) * DAY_MS);
	cal->end = from_pacific(days_from_civil(y1 + 1, 7, 1) * DAY_MS) - 1;
	if (dls != NULL) {
		int n;

		if (dls->type != YAML_MAPPING_NODE) {
			rc = bad(&l, dls,
			         "deadlines: a mapping of name to "
			         "{date: YYYY-MM-DD}");
			goto out;
		}
		n = (int)(dls->data.mapping.pairs.top -
		          dls->data.mapping.pairs.start);
		if (n > MAX_ENTRIES) {
			rc = bad(&l, dls, "deadlines: at most %d", MAX_ENTRIES);
			goto out;
		}
		cal->deadlines = calloc((size_t)n + 1, sizeof(*cal->deadlines));
		if (cal->deadlines == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		for (yaml_node_pair_t *p = dls->data.mapping.pairs.start;
		     rc == 0 && p < dls->data.mapping.pairs.top; p++) {
			const char *k = scalar(node(&l, p->key));

			if (k == NULL || calendar_deadline(cal, k) != 0) {
				rc = bad(&l, node(&l, p->key),
				         "deadline names are unique scalars");
				break;
			}
			rc = load_deadline(&l, k, node(&l, p->value), cal,
			                   &cal->deadlines[cal->ndeadlines]);
			if (rc == 0)
				cal->ndeadlines++;
		}
	}
	if (rc == 0)
		rc = yamlfile_expect_end(&l.yf, "a calendar is one mapping",
		                         err);
out:
	yamlfile_close(&l.yf);
	if (rc != 0) {
		free(cal->holidays);
		free(cal->deadlines);
		memset(cal, 0, sizeof(*cal));
	}
	return rc;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
calendars_load(const char *dir, struct calendars *out, struct cairn_err *err)
{
	char *names[CAL_FILES], path[2048];
	struct dirent *e;
	int n = 0, rc = 0;
	DIR *dp;

	memset(out, 0, sizeof(*out));
	if (dir == NULL || dir[0] == '\0')
		return 0;
	if ((dp = opendir(dir)) == NULL) {
		/* no directory: no calendars, so the defaults still start */
		if (errno == ENOENT)
			return 0;
		cairn_err_set(err, dir, 0, 0,
		              "cannot read the calendar directory: %s",
		              strerror(errno));
		return CAIRN_EINVALID;
	}
	while ((e = readdir(dp)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0 ||
		    e->d_name[0] == '.')
			continue;
		if (n == CAL_FILES) {
			cairn_err_set(err, dir, 0, 0,
			              "more than %d calendar files", CAL_FILES);
			rc = CAIRN_EINVALID;
			break;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(dp);
	qsort(names, (size_t)n, sizeof(names[0]), cmp_name);
	if (rc == 0 && n > 0 &&
	    (out->v = calloc((size_t)n, sizeof(*out->v))) == NULL)
		rc = -ENOMEM;
	for (int i = 0; rc == 0 && i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		rc = load_file(path, &out->v[out->n], err);
		if (rc == 0 &&
		    calendars_find(out, out->v[out->n].award_year, 0) != NULL) {
			cairn_err_set(err, path, 0, 0,
			              "a second calendar for award year %s",
			              out->v[out->n].award_year);
			free(out->v[out->n].holidays);
			free(out->v[out->n].deadlines);
			rc = CAIRN_EINVALID;
		}
		if (rc == 0)
			out->n++;
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	if (rc != 0)
		calendars_free(out);
	return rc;
}

void
calendars_free(struct calendars *c)
{
	for (int i = 0; i < c->n; i++) {
		free(c->v[i].holidays);
		free(c->v[i].deadlines);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}
