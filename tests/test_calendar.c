/*
 * test_calendar.c: award-year calendars: Pacific time across the
 * daylight-saving changes, deadlines at the end of their Pacific day,
 * business days that skip weekends and holidays, the newest open year,
 * and calendar files with errors refused at their line.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../daemon/calendar.h"

#define H 3600000LL

/* UTC ms of a UTC wall-clock time. */
static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {0};

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return (int64_t)timegm(&tm) * 1000;
}

Test(calendar, pacific_offsets_follow_daylight_time)
{
	cr_assert_eq(calendar_pacific_offset(utc(2027, 1, 15, 12, 0)), -8 * H);
	cr_assert_eq(calendar_pacific_offset(utc(2027, 7, 15, 12, 0)), -7 * H);
	/* 2027: from March 14, 2:00 PST to November 7, 2:00 PDT */
	cr_assert_eq(calendar_pacific_offset(utc(2027, 3, 14, 10, 0) - 1),
	             -8 * H);
	cr_assert_eq(calendar_pacific_offset(utc(2027, 3, 14, 10, 0)), -7 * H);
	cr_assert_eq(calendar_pacific_offset(utc(2027, 11, 7, 9, 0) - 1),
	             -7 * H);
	cr_assert_eq(calendar_pacific_offset(utc(2027, 11, 7, 9, 0)), -8 * H);
}

Test(calendar, the_examples_load_with_their_deadlines)
{
	struct calendars c;
	struct cairn_err err = {0};
	const struct calendar *y27, *y26;

	cr_assert_eq(calendars_load(CAIRN_SOURCE_DIR "/examples/deadlines", &c,
	                            &err),
	             0, "%s", err.msg);
	cr_assert_eq(c.n, 2);
	y27 = calendars_find(&c, "2027-28", 0);
	y26 = calendars_find(&c, "2026-27", 0);
	cr_assert_not_null(y27);
	cr_assert_not_null(y26);
	/* March 2 ends at 23:59:59.999 PST, May 1 at 23:59:59.999 PDT */
	cr_assert_eq(calendar_deadline(y27, "cal_grant"),
	             utc(2027, 3, 3, 8, 0) - 1);
	cr_assert_eq(calendar_deadline(y27, "sir"), utc(2027, 5, 2, 7, 0) - 1);
	cr_assert_eq(calendar_deadline(y27, "no_such"), 0);
	/* in January 2027 both are open: the newer is the default */
	cr_assert_eq(calendars_find(&c, NULL, utc(2027, 1, 10, 0, 0)), y27);
	cr_assert_eq(calendars_find(&c, NULL, utc(2026, 1, 10, 0, 0)), y26);
	cr_assert_null(calendars_find(&c, NULL, utc(2024, 1, 10, 0, 0)));
	/* Wednesday before Thanksgiving, 10:00 PST, plus two business
	 * days: Thursday and Friday are holidays, then the weekend */
	cr_assert_eq(
	        calendar_add_business_days(y27, utc(2027, 11, 24, 18, 0), 2),
	        utc(2027, 11, 30, 18, 0));
	cr_assert(!calendar_is_business_day(y27, utc(2027, 11, 25, 20, 0)));
	cr_assert(calendar_is_business_day(y27, utc(2027, 11, 29, 20, 0)));
	/* across the change to daylight time the wall clock holds */
	cr_assert_eq(
	        calendar_add_business_days(y26, utc(2027, 3, 12, 17, 0), 1),
	        utc(2027, 3, 15, 16, 0));
	calendars_free(&c);
}

/* Loads a directory holding one calendar file with text; returns the
 * code and fills err. */
static int
load_text(const char *text, struct cairn_err *err)
{
	char dir[] = "/tmp/cairn-cal-XXXXXX", path[128], cmd[160];
	struct calendars c;
	FILE *f;
	int rc;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/year.yaml", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	rc = calendars_load(dir, &c, err);
	calendars_free(&c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
	return rc;
}

Test(calendar, errors_name_their_line)
{
	struct cairn_err err = {0};

	cr_assert_eq(load_text("award_year: 2027-28\n"
	                       "time_zone: America/Los_Angeles\n"
	                       "holidays: [2027-02-30]\n",
	                       &err),
	             CAIRN_EINVALID);
	cr_assert_eq(err.line, 3, "%d: %s", err.line, err.msg);
	cr_assert(strstr(err.msg, "2027-02-30") != NULL, "%s", err.msg);
	cr_assert_eq(load_text("award_year: 2027-28\n"
	                       "time_zone: Europe/Paris\n",
	                       &err),
	             CAIRN_EINVALID);
	cr_assert(strstr(err.msg, "America/Los_Angeles") != NULL, "%s",
	          err.msg);
	cr_assert_eq(load_text("award_year: 2027-29\n"
	                       "time_zone: America/Los_Angeles\n",
	                       &err),
	             CAIRN_EINVALID);
	cr_assert_eq(load_text("award_year: 2027-28\n"
	                       "time_zone: America/Los_Angeles\n"
	                       "deadlines:\n"
	                       "  sir: {date: 2027-05-01, when: soon}\n",
	                       &err),
	             CAIRN_EINVALID);
	cr_assert_eq(err.line, 4, "%d: %s", err.line, err.msg);
	cr_assert_eq(load_text("award_year: 2027-28\n"
	                       "time_zone: America/Los_Angeles\n"
	                       "business_days: [mon, funday]\n",
	                       &err),
	             CAIRN_EINVALID);
	cr_assert_eq(load_text("award_year: 2027-28\n"
	                       "time_zone: America/Los_Angeles\n"
	                       "deadlines:\n"
	                       "  sir: {date: 2027-05-01, roll: "
	                       "next_business_day}\n",
	                       &err),
	             0, "%s", err.msg);
	/* a missing directory is no calendar, not an error */
	{
		struct calendars c;

		cr_assert_eq(calendars_load("/nonexistent/cairn", &c, &err), 0);
		cr_assert_eq(c.n, 0);
	}
}
