/*
 * isir.c: the 2025-26 ISIR record: the fields Cairn reads (positions from
 * FSA's 2025-26 ISIR Record Layout, Volume 4), their validation, and the
 * case data built from a valid record.
 *
 * A record is checked in three passes, each stopping the next when it
 * fails: the length (a record of the wrong length has every field in the
 * wrong place), the bytes (printable ASCII only; the field holding a bad
 * byte is named), then each field by its type and range, and the
 * relations between fields that no real record can break (a date of birth
 * after the application, more family members in college than in the
 * family, a verification flag without its group).
 *
 * The SSN is the most sensitive value on the record and no workflow
 * matches on it (files are matched by FAFSA UUID): it is validated and
 * only its last four digits are kept, which an officer uses to confirm an
 * identity on the phone and which cannot be turned back into the number.
 */
#include "isir.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "../common/cairn.h"

#define NUM10_MIN (-999999999LL)
#define NUM10_MAX 9999999999LL
#define NUM15_MIN (-99999999999999LL)
#define NUM15_MAX 999999999999999LL
#define ASSET_MAX 9999999LL

/* number, start, length, name, key, type, min, max, codes, required,
 * per_txn */
static const struct isir_field fields[] = {
        {2, 2, 36, "FAFSA UUID", "fafsa_uuid", ISIR_UUID, 0, 0, NULL, 1, 0},
        {3, 38, 36, "Transaction UUID", "transaction_uuid", ISIR_UUID, 0, 0,
         NULL, 0, 1},
        {4, 74, 36, "Person UUID", "person_uuid", ISIR_UUID, 0, 0, NULL, 0, 0},
        {5, 110, 2, "Transaction Number", "transaction", ISIR_TXN, 1, 99, NULL,
         1, 1},
        {6, 112, 1, "Dependency Model", "dependency_model", ISIR_CODE, 0, 0,
         "D|I|X|Y|Z", 1, 0},
        {8, 114, 8, "Application Receipt Date", "application_receipt_date",
         ISIR_DATE, 0, 0, NULL, 0, 0},
        {12, 125, 8, "Transaction Receipt Date", "transaction_receipt_date",
         ISIR_DATE, 0, 0, NULL, 0, 1},
        {13, 133, 8, "Transaction Process Date", "transaction_process_date",
         ISIR_DATE, 0, 0, NULL, 0, 1},
        {18, 176, 6, "SAI", "sai", ISIR_NUM, -1500, 999999, NULL, 0, 0},
        {22, 191, 1, "Max Pell Indicator", "max_pell_indicator", ISIR_TEXT, 0,
         0, NULL, 0, 0},
        {25, 243, 35, "First Name", "first_name", ISIR_TEXT, 0, 0, NULL, 0, 0},
        {26, 278, 15, "Middle Name", "middle_name", ISIR_TEXT, 0, 0, NULL, 0,
         0},
        {27, 293, 35, "Last Name", "last_name", ISIR_TEXT, 0, 0, NULL, 0, 0},
        {28, 328, 10, "Suffix", "suffix", ISIR_TEXT, 0, 0, NULL, 0, 0},
        {29, 338, 8, "Date of Birth", "date_of_birth", ISIR_DATE, 0, 0, NULL, 0,
         0},
        {30, 346, 9, "Social Security Number", "ssn_last4", ISIR_SSN, 0, 0,
         NULL, 0, 0},
        {33, 374, 50, "Email Address", "email", ISIR_TEXT, 0, 0, NULL, 0, 0},
        {40, 558, 1, "Marital Status", "marital_status", ISIR_CODE, 0, 0,
         "1|2|3|4|5|6", 0, 0},
        {46, 564, 1, "Child or Other Dependents?", "child_or_other_dependents",
         ISIR_CODE, 0, 0, "1|2", 0, 0},
        {61, 579, 2, "Revised Family Size", "family_size", ISIR_NUM, 1, 99,
         NULL, 0, 0},
        {62, 581, 2, "Number in College", "number_in_college", ISIR_NUM, 0, 99,
         NULL, 0, 0},
        {63, 583, 1, "Citizenship Status", "citizenship_status", ISIR_CODE, 0,
         0, "1|2|3", 0, 0},
        {65, 593, 2, "State of Legal Residence", "state_of_legal_residence",
         ISIR_TEXT, 0, 0, NULL, 0, 0},
        {69, 603, 1, "High School Completion Status", "high_school_completion",
         ISIR_TEXT, 0, 0, NULL, 0, 0},
        {95, 777, 10, "Adjusted Gross Income", "student_agi", ISIR_NUM,
         NUM10_MIN, NUM10_MAX, NULL, 0, 0},
        {105, 854, 7, "Total of Cash, Savings, and Checking Accounts",
         "student_cash", ISIR_NUM, 0, ASSET_MAX, NULL, 0, 0},
        {106, 861, 7, "Net Worth of Current Investments", "student_investments",
         ISIR_NUM, 0, ASSET_MAX, NULL, 0, 0},
        {107, 868, 7, "Net Worth of Businesses and Investment Farms",
         "student_business_farm", ISIR_NUM, 0, ASSET_MAX, NULL, 0, 0},
        {155, 1389, 10, "Adjusted Gross Income", "spouse_agi", ISIR_NUM,
         NUM10_MIN, NUM10_MAX, NULL, 0, 0},
        {183, 1785, 2, "Revised Family Size", "parent_family_size", ISIR_NUM, 1,
         99, NULL, 0, 0},
        {184, 1787, 2, "Number in College", "parent_number_in_college",
         ISIR_NUM, 0, 99, NULL, 0, 0},
        {205, 1869, 10, "Adjusted Gross Income", "parent_agi", ISIR_NUM,
         NUM10_MIN, NUM10_MAX, NULL, 0, 0},
        {215, 1946, 7, "Total of Cash, Savings, and Checking Accounts",
         "parent_cash", ISIR_NUM, 0, ASSET_MAX, NULL, 0, 0},
        {216, 1953, 7, "Net Worth of Current Investments", "parent_investments",
         ISIR_NUM, 0, ASSET_MAX, NULL, 0, 0},
        {217, 1960, 7, "Net Worth of Businesses and Investment Farms",
         "parent_business_farm", ISIR_NUM, 0, ASSET_MAX, NULL, 0, 0},
        {245, 2361, 10, "Adjusted Gross Income", "other_parent_agi", ISIR_NUM,
         NUM10_MIN, NUM10_MAX, NULL, 0, 0},
        {280, 2782, 2, "Correction Applied against Transaction Number",
         "correction_applied_against", ISIR_NUM, 1, 99, NULL, 0, 1},
        {281, 2784, 1, "Professional Judgment", "professional_judgment",
         ISIR_CODE, 0, 0, "1|2", 0, 0},
        {282, 2785, 1, "Dependency Override Indicator", "dependency_override",
         ISIR_TEXT, 0, 0, NULL, 0, 0},
        {294, 2808, 1, "FPS Pushed ISIR Flag", "fps_pushed", ISIR_CODE, 0, 0,
         "Y|N", 0, 1},
        {296, 2810, 2, "Verification Tracking Flag", "verification_group",
         ISIR_CODE, 0, 0, "V1|V4|V5", 0, 0},
        {297, 2812, 1, "Student Is Selected For Verification",
         "verification_selected", ISIR_CODE, 0, 0, "Y|N|*", 0, 0},
        {568, 3889, 60, "Comment Codes", "comment_codes", ISIR_CODES, 0, 0,
         NULL, 0, 0},
        {573, 3954, 1, "FPS C Flag", "c_flag", ISIR_CODE, 0, 0, "Y|N", 0, 0},
        {576, 3958, 110, "Reject Reason Codes", "reject_reason_codes",
         ISIR_TEXT, 0, 0, NULL, 0, 0},
        {944, 7610, 15, "Student total income", "student_total_income",
         ISIR_NUM, NUM15_MIN, NUM15_MAX, NULL, 0, 0},
        {945, 7625, 15, "Parent total income", "parent_total_income", ISIR_NUM,
         NUM15_MIN, NUM15_MAX, NULL, 0, 0},
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

const struct isir_field *
isir_fields(size_t *n)
{
	*n = NFIELDS;
	return fields;
}

const struct isir_field *
isir_field(int num)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].num == num)
			return &fields[i];
	return NULL;
}

/* --- errors -------------------------------------------------------------- */

static void isir_fail(struct isir_record *r, const struct isir_field *f,
                      const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
isir_fail(struct isir_record *r, const struct isir_field *f, const char *fmt,
          ...)
{
	struct isir_error *e;
	va_list ap;

	r->ok = 0;
	if (r->nerrors == ISIR_MAX_ERRORS)
		return;
	e = &r->errors[r->nerrors++];
	e->field = f ? f->num : 0;
	snprintf(e->name, sizeof(e->name), "%s", f ? f->name : "record");
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
}

/* The field a column (1-based) falls in, for naming a bad byte: the
 * embedded fields first, then "column N" for the rest. */
static const struct isir_field *
field_at(int col)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (col >= fields[i].start &&
		    col < fields[i].start + fields[i].len)
			return &fields[i];
	return NULL;
}

/* --- values ---------------------------------------------------------------- */

/* The field's characters without leading and trailing blanks. */
static size_t
trimmed(const char *rec, const struct isir_field *f, const char **out)
{
	const char *p = rec + f->start - 1;
	size_t n = (size_t)f->len;

	while (n > 0 && *p == ' ') {
		p++;
		n--;
	}
	while (n > 0 && p[n - 1] == ' ')
		n--;
	*out = p;
	return n;
}

static int
all_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return n > 0;
}

static int
days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* A field's value as JSON, or NULL after isir_fail. *blank says whether
 * it was empty (the value is then JSON null). */
static json_t *
field_value(struct isir_record *r, const char *rec, const struct isir_field *f,
            int *blank)
{
	char buf[128];
	const char *p;
	size_t n = trimmed(rec, f, &p);

	*blank = n == 0;
	if (n == 0) {
		if (f->required) {
			isir_fail(r, f, "blank; every record must have one");
			return NULL;
		}
		return f->type == ISIR_CODES ? json_array() : json_null();
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
	switch (f->type) {
	case ISIR_TEXT:
		return json_stringn(p, n);
	case ISIR_UUID: {
		static const int dash[] = {8, 13, 18, 23};

		if (n != 36) {
			isir_fail(r, f, "'%s' is not a UUID", buf);
			return NULL;
		}
		for (size_t i = 0, k = 0; i < 36; i++) {
			int is_dash = k < 4 && (int)i == dash[k];
			char c = buf[i];

			if (is_dash) {
				k++;
				if (c == '-')
					continue;
			} else if ((c >= '0' && c <= '9') ||
			           (c >= 'a' && c <= 'f')) {
				continue;
			} else if (c >= 'A' && c <= 'F') {
				buf[i] = (char)(c - 'A' + 'a');
				continue;
			}
			isir_fail(r, f, "'%s' is not a UUID", buf);
			return NULL;
		}
		return json_string(buf);
	}
	case ISIR_TXN:
		if (n != 2 || !all_digits(buf, 2) || atoi(buf) < 1) {
			isir_fail(r, f,
			          "'%s' is not a transaction number (01 to 99)",
			          buf);
			return NULL;
		}
		return json_integer(atoi(buf));
	case ISIR_NUM: {
		const char *d = buf[0] == '-' ? buf + 1 : buf;
		long long v;

		if (!all_digits(d, strlen(d))) {
			isir_fail(r, f, "'%s' is not a number", buf);
			return NULL;
		}
		v = strtoll(buf, NULL, 10);
		if (v < f->min || v > f->max) {
			isir_fail(r, f,
			          "%lld is impossible: the value must "
			          "be from %lld to %lld",
			          v, (long long)f->min, (long long)f->max);
			return NULL;
		}
		return json_integer(v);
	}
	case ISIR_DATE: {
		int y, m, dd;

		if (n != 8 || !all_digits(buf, 8)) {
			isir_fail(r, f, "'%s' is not a date (CCYYMMDD)", buf);
			return NULL;
		}
		y = (buf[0] - '0') * 1000 + (buf[1] - '0') * 100 +
		    (buf[2] - '0') * 10 + (buf[3] - '0');
		m = (buf[4] - '0') * 10 + (buf[5] - '0');
		dd = (buf[6] - '0') * 10 + (buf[7] - '0');
		if (y < 1900 || y > 2100 || m < 1 || m > 12 || dd < 1 ||
		    dd > days_in_month(y, m)) {
			isir_fail(r, f, "'%s' is not a date (CCYYMMDD)", buf);
			return NULL;
		}
		snprintf(buf, sizeof(buf), "%04d-%02d-%02d", y, m, dd);
		return json_string(buf);
	}
	case ISIR_CODE: {
		const char *c = f->codes;

		while (c && *c) {
			size_t k = strcspn(c, "|");

			if (k == n && !memcmp(c, buf, n))
				return json_string(buf);
			c += k;
			if (*c == '|')
				c++;
		}
		isir_fail(r, f, "'%s' is not one of %s", buf, f->codes);
		return NULL;
	}
	case ISIR_SSN: {
		int area, group, serial;

		/* the SSN itself never leaves this function, even in an
		 * error message */
		if (n != 9 || !all_digits(buf, 9)) {
			isir_fail(r, f, "not nine digits");
			return NULL;
		}
		area = atoi((char[]){buf[0], buf[1], buf[2], 0});
		group = atoi((char[]){buf[3], buf[4], 0});
		serial = atoi(buf + 5);
		if (area == 0 || area == 666 || area >= 900 || group == 0 ||
		    serial == 0) {
			isir_fail(r, f,
			          "impossible: no SSN has an area of 000, 666 "
			          "or 900-999, a group of 00 or a serial of "
			          "0000");
			return NULL;
		}
		return json_string(buf + 5);
	}
	case ISIR_CODES: {
		json_t *a;

		if (n % 3 != 0 || !all_digits(buf, n)) {
			isir_fail(r, f,
			          "'%s' is not a run of three-digit codes",
			          buf);
			return NULL;
		}
		a = json_array();
		for (size_t i = 0; a && i < n; i += 3)
			json_array_append_new(a, json_stringn(buf + i, 3));
		return a;
	}
	}
	return NULL;
}

/* --- the case's view --------------------------------------------------- */

static json_int_t
num(const json_t *isir, const char *key, int *have)
{
	const json_t *v = json_object_get(isir, key);

	if (json_is_integer(v)) {
		*have = 1;
		return json_integer_value(v);
	}
	return 0;
}

static int
code_is(const json_t *isir, const char *key, const char *v)
{
	const char *s = json_string_value(json_object_get(isir, key));

	return s != NULL && strcmp(s, v) == 0;
}

/*
 * The "student" object in the shape of the Cal Grant rule's input, with
 * the members the ISIR provides (hs_gpa, college_gpa, ab540, segment and
 * program_months come from elsewhere). A value the ISIR leaves blank is
 * left out, so the rule says "needs review" rather than guess.
 */
static json_t *
student_view(const json_t *isir)
{
	json_t *s = json_object();
	const char *model =
	        json_string_value(json_object_get(isir, "dependency_model"));
	const char *cit =
	        json_string_value(json_object_get(isir, "citizenship_status"));
	const char *state = json_string_value(
	        json_object_get(isir, "state_of_legal_residence"));
	const char *date = json_string_value(
	        json_object_get(isir, "application_receipt_date"));
	/* D and X are the dependent models; I, Y and Z (provisionally
	 * independent) are computed as independent */
	int dependent = model && (!strcmp(model, "D") || !strcmp(model, "X"));
	int married = code_is(isir, "marital_status", "2") ||
	              code_is(isir, "marital_status", "3");
	json_int_t size, income, assets = 0;
	int have = 0, h1 = 0, h2 = 0, ha = 0;

	if (s == NULL)
		return NULL;
	json_object_set_new(
	        s, "dependency",
	        json_string(dependent ? "dependent" : "independent"));
	size = num(isir, dependent ? "parent_family_size" : "family_size",
	           &have);
	if (have)
		json_object_set_new(s, "family_size", json_integer(size));
	if (!dependent) {
		json_object_set_new(s, "married", json_boolean(married));
		if (code_is(isir, "child_or_other_dependents", "1") ||
		    code_is(isir, "child_or_other_dependents", "2"))
			json_object_set_new(
			        s, "has_dependents",
			        json_boolean(code_is(
			                isir, "child_or_other_dependents",
			                "1")));
		else if (have)
			/* the question left blank: a household larger than
			 * the student (and spouse) has dependents in it */
			json_object_set_new(
			        s, "has_dependents",
			        json_boolean(size > (married ? 2 : 1)));
	}
	/* FSA's total income is the figure its own formula uses; the AGIs
	 * stand in when it is blank */
	income = num(isir,
	             dependent ? "parent_total_income" : "student_total_income",
	             &h1);
	if (!h1)
		income =
		        num(isir, dependent ? "parent_agi" : "student_agi",
		            &h1) +
		        num(isir, dependent ? "other_parent_agi" : "spouse_agi",
		            &h2);
	if (h1 || h2)
		json_object_set_new(s, "income", json_integer(income));
	/* assets as Cal Grant counts them: cash, investments, business and
	 * farm net worth (no home equity or retirement funds on the FAFSA) */
	assets += num(isir, dependent ? "parent_cash" : "student_cash", &ha);
	assets += num(isir,
	              dependent ? "parent_investments" : "student_investments",
	              &ha);
	assets += num(isir,
	              dependent ? "parent_business_farm"
	                        : "student_business_farm",
	              &ha);
	if (ha)
		json_object_set_new(s, "assets", json_integer(assets));
	if (cit != NULL)
		json_object_set_new(s, "citizenship",
		                    json_string(!strcmp(cit, "1") ? "citizen"
		                                : !strcmp(cit, "2")
		                                        ? "eligible_noncitizen"
		                                        : "neither"));
	if (state != NULL)
		json_object_set_new(s, "ca_resident",
		                    json_boolean(!strcmp(state, "CA")));
	if (date != NULL)
		json_object_set_new(s, "application_date", json_string(date));
	return s;
}

/* Relations no real record breaks. */
static void
cross_checks(struct isir_record *r, const json_t *isir)
{
	const char *dob =
	        json_string_value(json_object_get(isir, "date_of_birth"));
	const char *rcv = json_string_value(
	        json_object_get(isir, "application_receipt_date"));
	const char *sel = json_string_value(
	        json_object_get(isir, "verification_selected"));
	const json_t *grp = json_object_get(isir, "verification_group");
	json_int_t size, col;
	int h1 = 0, h2 = 0;

	if (dob && rcv && strcmp(dob, rcv) > 0)
		isir_fail(r, isir_field(29),
		          "%s is impossible: after the application's receipt "
		          "date %s",
		          dob, rcv);
	size = num(isir, "family_size", &h1);
	col = num(isir, "number_in_college", &h2);
	if (h1 && h2 && col > size)
		isir_fail(r, isir_field(62),
		          "%lld in college is impossible in a family of %lld",
		          (long long)col, (long long)size);
	h1 = h2 = 0;
	size = num(isir, "parent_family_size", &h1);
	col = num(isir, "parent_number_in_college", &h2);
	if (h1 && h2 && col > size)
		isir_fail(r, isir_field(184),
		          "%lld in college is impossible in a family of %lld",
		          (long long)col, (long long)size);
	if (sel && !strcmp(sel, "Y") && !json_is_string(grp))
		isir_fail(r, isir_field(296),
		          "blank, but the student is selected for "
		          "verification (field 297 is Y): the group (V1, V4 "
		          "or V5) is missing");
}

/* --- records ------------------------------------------------------------- */

void
isir_record_clear(struct isir_record *r)
{
	json_decref(r->data);
	memset(r, 0, sizeof(*r));
}

int
isir_parse_record(const char *text, size_t len, int line, struct isir_record *r)
{
	json_t *isir, *v, *ver, *stu;
	int bad = 0;

	memset(r, 0, sizeof(*r));
	r->line = line;
	r->ok = 1;
	if (len > 0 && text[len - 1] == '\r')
		len--;
	if (len != ISIR_RECORD_LEN) {
		isir_fail(r, NULL,
		          "wrong length: %zu characters; an ISIR record has "
		          "%d",
		          len, ISIR_RECORD_LEN);
		return CAIRN_EINVALID;
	}
	SHA256((const unsigned char *)text, len, r->hash);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		const struct isir_field *f;
		char where[64];

		if (c >= 0x20 && c < 0x7f)
			continue;
		f = field_at((int)i + 1);
		snprintf(where, sizeof(where), "column %zu", i + 1);
		if (f != NULL)
			isir_fail(r, f, "%s byte 0x%02X at %s",
			          c >= 0x80 ? "non-ASCII" : "control", c,
			          where);
		else
			isir_fail(r, NULL, "%s byte 0x%02X at %s",
			          c >= 0x80 ? "non-ASCII" : "control", c,
			          where);
		bad = 1;
		/* one report per field is enough to find it */
		if (f != NULL)
			i = (size_t)(f->start + f->len - 2);
	}
	if (bad)
		return CAIRN_EINVALID;
	isir = json_object();
	if (isir == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < NFIELDS; i++) {
		int blank;

		v = field_value(r, text, &fields[i], &blank);
		/* a blank field is left out: about half of them are, and
		 * every member is copied and written several times on its
		 * way into the case */
		if (v != NULL && blank)
			json_decref(v);
		else if (v != NULL &&
		         json_object_set_new(isir, fields[i].key, v))
			bad = -1;
		if (fields[i].num == 2 && json_is_string(v))
			snprintf(r->fafsa_uuid, sizeof(r->fafsa_uuid), "%s",
			         json_string_value(v));
		if (fields[i].num == 5 && json_is_integer(v))
			r->transaction = (int)json_integer_value(v);
	}
	if (bad < 0) {
		json_decref(isir);
		return -ENOMEM;
	}
	if (r->ok)
		cross_checks(r, isir);
	if (!r->ok) {
		json_decref(isir);
		return CAIRN_EINVALID;
	}
	ver = json_pack(
	        "{s:b, s:O?, s:O?}", "selected",
	        code_is(isir, "verification_selected", "Y"), "group",
	        json_is_string(json_object_get(isir, "verification_group"))
	                ? json_object_get(isir, "verification_group")
	                : NULL,
	        "flag",
	        json_is_string(json_object_get(isir, "verification_selected"))
	                ? json_object_get(isir, "verification_selected")
	                : NULL);
	stu = student_view(isir);
	r->data = ver && stu ? json_pack("{s:o, s:o, s:o}", "isir", isir,
	                                 "student", stu, "verification", ver)
	                     : NULL;
	if (r->data == NULL) {
		if (!(ver && stu)) {
			json_decref(isir);
			json_decref(ver);
			json_decref(stu);
		}
		return -ENOMEM;
	}
	return 0;
}

int
isir_parse_file(const char *text, size_t len, struct isir_file *f)
{
	size_t cap = len / (ISIR_RECORD_LEN + 1) + 2, off = 0;
	int line = 0;

	memset(f, 0, sizeof(*f));
	f->recs = calloc(cap, sizeof(*f->recs));
	if (f->recs == NULL)
		return -ENOMEM;
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
		int rc;

		if (f->n == cap) {
			struct isir_record *p =
			        realloc(f->recs, 2 * cap * sizeof(*p));

			if (p == NULL) {
				isir_file_free(f);
				return -ENOMEM;
			}
			memset(p + cap, 0, cap * sizeof(*p));
			f->recs = p;
			cap *= 2;
		}
		rc = isir_parse_record(text + off, n, ++line, &f->recs[f->n]);
		if (rc == -ENOMEM) {
			f->n++;
			isir_file_free(f);
			return -ENOMEM;
		}
		if (rc == 0)
			f->accepted++;
		else
			f->rejected++;
		f->n++;
		off += n + (nl ? 1 : 0);
	}
	return 0;
}

void
isir_file_free(struct isir_file *f)
{
	for (size_t i = 0; f->recs && i < f->n; i++)
		isir_record_clear(&f->recs[i]);
	free(f->recs);
	memset(f, 0, sizeof(*f));
}

json_t *
isir_errors_json(const struct isir_record *r)
{
	json_t *a = json_array();

	for (int i = 0; a && i < r->nerrors; i++)
		json_array_append_new(a, json_pack("{s:i, s:s, s:s}", "field",
		                                   r->errors[i].field, "name",
		                                   r->errors[i].name, "reason",
		                                   r->errors[i].reason));
	return a;
}

json_t *
isir_changes(const json_t *before, const json_t *after)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < NFIELDS; i++) {
		const json_t *x = json_object_get(before, fields[i].key);
		const json_t *y = json_object_get(after, fields[i].key);

		if (fields[i].per_txn)
			continue;
		if (x == NULL)
			x = json_null();
		if (y == NULL)
			y = json_null();
		if (json_equal(x, y))
			continue;
		json_array_append_new(
		        a, json_pack("{s:i, s:s, s:s, s:O, s:O}", "field",
		                     fields[i].num, "name", fields[i].name,
		                     "key", fields[i].key, "from", x, "to", y));
	}
	return a;
}

/* --- building records (tests, benchmarks, demo data) ------------------- */

void
isir_record_blank(char rec[ISIR_RECORD_LEN])
{
	memset(rec, ' ', ISIR_RECORD_LEN);
}

int
isir_record_set(char rec[ISIR_RECORD_LEN], int num, const char *value)
{
	const struct isir_field *f = isir_field(num);
	size_t n;

	if (f == NULL)
		return CAIRN_EINVALID;
	n = strlen(value);
	if (n > (size_t)f->len)
		n = (size_t)f->len;
	memset(rec + f->start - 1, ' ', (size_t)f->len);
	memcpy(rec + f->start - 1, value, n);
	return 0;
}

/* --- matching an ISIR's person to a student ------------------------------ */

int
isir_identity_key(const char *last_name, const char *date_of_birth,
                  const char *ssn_last4, char out[ISIR_IDENTITY_KEY_LEN + 1],
                  const char **why)
{
	static const char hexd[] = "0123456789abcdef";
	char buf[128];
	unsigned char h[32];
	size_t n = 0;
	int y, m, d;

	out[0] = '\0';
	if (last_name == NULL || strlen(last_name) > 64) {
		*why = "last_name: expected a name of at most 64 characters";
		return CAIRN_EINVALID;
	}
	for (const char *p = last_name; *p; p++) {
		char c = *p;

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c >= 'A' && c <= 'Z')
			buf[n++] = c;
	}
	if (n == 0) {
		*why = "last_name: expected at least one letter";
		return CAIRN_EINVALID;
	}
	if (date_of_birth == NULL || strlen(date_of_birth) != 10 ||
	    sscanf(date_of_birth, "%4d-%2d-%2d", &y, &m, &d) != 3 ||
	    date_of_birth[4] != '-' || date_of_birth[7] != '-' || y < 1900 ||
	    y > 2100 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) {
		*why = "date_of_birth: expected a date, YYYY-MM-DD";
		return CAIRN_EINVALID;
	}
	if (ssn_last4 == NULL || strlen(ssn_last4) != 4 ||
	    !all_digits(ssn_last4, 4)) {
		*why = "ssn_last4: expected the SSN's last four digits";
		return CAIRN_EINVALID;
	}
	buf[n++] = '|';
	memcpy(buf + n, date_of_birth, 10);
	n += 10;
	buf[n++] = '|';
	memcpy(buf + n, ssn_last4, 4);
	n += 4;
	SHA256((const unsigned char *)buf, n, h);
	for (int k = 0; k < 32; k++) {
		out[2 * k] = hexd[h[k] >> 4];
		out[2 * k + 1] = hexd[h[k] & 15];
	}
	out[ISIR_IDENTITY_KEY_LEN] = '\0';
	return 0;
}

int
isir_identity_key_of(const json_t *isir, char out[ISIR_IDENTITY_KEY_LEN + 1])
{
	const char *why;

	return isir_identity_key(
	        json_string_value(json_object_get(isir, "last_name")),
	        json_string_value(json_object_get(isir, "date_of_birth")),
	        json_string_value(json_object_get(isir, "ssn_last4")), out,
	        &why);
}

void
isir_record_synthetic(char rec[ISIR_RECORD_LEN], uint64_t seq, int txn)
{
	static const char *const first[] = {"Ana",   "Luis",  "Mei",   "Omar",
	                                    "Priya", "Jamal", "Sofia", "Tran"};
	static const char *const last[] = {"Garcia", "Nguyen", "Smith",
	                                   "Lopez",  "Kim",    "Patel"};
	char v[64];
	int dependent = seq % 3 != 0;

	isir_record_blank(rec);
	rec[0] = '6'; /* field 1: the award year's digit, as FSA fills it */
	snprintf(v, sizeof(v), "%08llx-0000-4000-8000-%012llx",
	         (unsigned long long)(seq >> 32) & 0xffffffffULL,
	         (unsigned long long)seq & 0xffffffffffffULL);
	isir_record_set(rec, 2, v);
	snprintf(v, sizeof(v), "%08llx-%04x-4000-8000-%012llx",
	         (unsigned long long)(seq >> 32) & 0xffffffffULL, txn & 0xff,
	         (unsigned long long)seq & 0xffffffffffffULL);
	isir_record_set(rec, 3, v);
	snprintf(v, sizeof(v), "%08llx-1111-4000-8000-%012llx",
	         (unsigned long long)(seq >> 32) & 0xffffffffULL,
	         (unsigned long long)seq & 0xffffffffffffULL);
	isir_record_set(rec, 4, v);
	snprintf(v, sizeof(v), "%02d", txn);
	isir_record_set(rec, 5, v);
	isir_record_set(rec, 6, dependent ? "D" : "I");
	isir_record_set(rec, 8, "20241011");
	isir_record_set(rec, 12, txn > 1 ? "20241111" : "20241011");
	isir_record_set(rec, 13, txn > 1 ? "20241112" : "20241012");
	snprintf(v, sizeof(v), "%d", (int)(seq % 30000) - 1500);
	isir_record_set(rec, 18, v);
	isir_record_set(rec, 25, first[seq % 8]);
	isir_record_set(rec, 27, last[seq % 6]);
	snprintf(v, sizeof(v), "%04d%02d%02d",
	         dependent ? 2006 : 1990 + (int)(seq % 10), 1 + (int)(seq % 12),
	         1 + (int)(seq % 28));
	isir_record_set(rec, 29, v);
	snprintf(v, sizeof(v), "578%02d%04d", 10 + (int)(seq % 89),
	         1 + (int)(seq % 9999));
	isir_record_set(rec, 30, v);
	isir_record_set(rec, 40, dependent ? "1" : seq % 2 ? "2" : "1");
	isir_record_set(rec, 63, "1");
	isir_record_set(rec, 65, "CA");
	isir_record_set(rec, 61, dependent ? "" : "2");
	isir_record_set(rec, 62, dependent ? "" : "1");
	snprintf(v, sizeof(v), "%d", 1000 + (int)(seq % 40000));
	isir_record_set(rec, 105, v);
	if (dependent) {
		isir_record_set(rec, 183, "4");
		isir_record_set(rec, 184, "1");
		snprintf(v, sizeof(v), "%d", 20000 + (int)(seq % 120000));
		isir_record_set(rec, 205, v);
		isir_record_set(rec, 945, v);
		snprintf(v, sizeof(v), "%d", (int)(seq % 90000));
		isir_record_set(rec, 215, v);
	} else {
		snprintf(v, sizeof(v), "%d", 8000 + (int)(seq % 40000));
		isir_record_set(rec, 95, v);
		isir_record_set(rec, 944, v);
	}
	isir_record_set(rec, 297, "N");
	isir_record_set(rec, 568, "146");
	if (txn > 1)
		isir_record_set(rec, 280, "01");
}
