/*
 * calendar.h: award-year calendars: the dates that matter to students and
 * offices (the Cal Grant deadlines of March 2 and September 2, the May 1
 * Statement of Intent to Register) and the business days between them,
 * as data, one YAML file per award year (examples/deadlines/).
 *
 * Times are in America/Los_Angeles: a deadline falls at the end of its
 * day there (23:59:59.999 Pacific), and business days are Pacific days.
 * The zone's rules are those in force since 2007 (daylight time from the
 * second Sunday of March to the first Sunday of November), computed here
 * rather than read from tzdata, so the daemon needs no zone files and
 * never touches the process's TZ.
 */
#ifndef CAIRN_CALENDAR_H
#define CAIRN_CALENDAR_H

#include <stdint.h>

#include "../common/cairn.h"

struct cal_deadline {
	char name[64];
	char date[11]; /* YYYY-MM-DD as written */
	int64_t at;    /* UTC ms: the end of the (rolled) day, Pacific */
	char description[200];
};

struct calendar {
	char award_year[16]; /* "2026-27": July 1, 2026 to June 30, 2027 */
	char file[2048];
	int64_t start, end; /* UTC ms: open from October 1 before the year
			       (when its FAFSA opens) to its June 30 */
	unsigned weekdays;  /* bit d: day d (0 Sunday) is a business day */
	int64_t *holidays;  /* Pacific day numbers (days since 1970-01-01),
				  sorted */
	int nholidays;
	struct cal_deadline *deadlines;
	int ndeadlines;
};

struct calendars {
	struct calendar *v;
	int n;
};

/*
 * Loads every *.yaml file of dir (none when dir does not exist) into out.
 * A file is
 *
 *   award_year: 2026-27
 *   time_zone: America/Los_Angeles
 *   business_days: [mon, tue, wed, thu, fri]
 *   holidays: [2026-07-03, ...]
 *   deadlines:
 *     cal_grant: {date: 2026-03-02, roll: next_business_day,
 *                 description: ...}
 *
 * roll (optional): a deadline on a day that is not a business day moves
 * to the next one. Returns 0, or a negative code with err filled (file,
 * line, column) and out empty.
 */
int calendars_load(const char *dir, struct calendars *out,
                   struct cairn_err *err);
void calendars_free(struct calendars *c);

/* The calendar of award_year, or (NULL) the newest one open at now;
 * NULL when there is none. */
const struct calendar *calendars_find(const struct calendars *c,
                                      const char *award_year, int64_t now);
/* The deadline's time, or 0 when the calendar has none of that name. */
int64_t calendar_deadline(const struct calendar *cal, const char *name);
/* The same Pacific time of day, days business days after from (weekends
 * and holidays skipped). */
int64_t calendar_add_business_days(const struct calendar *cal, int64_t from,
                                   int days);
/* Whether the Pacific day holding t is a business day. */
int calendar_is_business_day(const struct calendar *cal, int64_t t);
/* The offset of Pacific time from UTC at t (ms): -8 h or -7 h. */
int64_t calendar_pacific_offset(int64_t t);

#endif
