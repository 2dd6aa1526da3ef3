/*
 * test_isir.c: the ISIR record parser on records built from the embedded
 * layout (isir_record_synthetic, then one field changed per case): every
 * field type accepted and refused, wrong lengths, bytes that are not
 * printable ASCII, impossible values and relations, the verification
 * flag and groups, the Cal Grant view of dependent and independent
 * students, and what a correction changed. The embedded layout is
 * checked against FSA's layout file when ../shared/data/isir holds it.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../adapters/isir.h"
#include "../common/cairn.h"

#define ISIR_DATA "/work/shared/data/isir"

TestSuite(isir);

static char rec[ISIR_RECORD_LEN + 1];

/* A valid record of FAFSA seq, transaction txn, with field num set to v
 * (num 0: none). */
static void
build(uint64_t seq, int txn, int num, const char *v)
{
	isir_record_synthetic(rec, seq, txn);
	rec[ISIR_RECORD_LEN] = '\0';
	if (num > 0)
		cr_assert_eq(isir_record_set(rec, num, v), 0);
}

static int
parse(struct isir_record *r)
{
	return isir_parse_record(rec, ISIR_RECORD_LEN, 7, r);
}

/* The record is refused with an error on field num whose reason holds
 * what. */
static void
expect_refused(int num, const char *what)
{
	struct isir_record r;
	int found = 0;

	cr_assert_eq(parse(&r), CAIRN_EINVALID, "field %d accepted", num);
	cr_assert_eq(r.ok, 0);
	cr_assert_null(r.data);
	cr_assert_eq(r.line, 7);
	for (int i = 0; i < r.nerrors; i++)
		if (r.errors[i].field == num &&
		    strstr(r.errors[i].reason, what) != NULL)
			found = 1;
	cr_assert(found, "no error on field %d saying '%s' (first: %d %s)", num,
	          what, r.nerrors ? r.errors[0].field : -1,
	          r.nerrors ? r.errors[0].reason : "");
	if (num > 0)
		cr_assert_str_eq(r.errors[0].name, isir_field(num)->name);
	isir_record_clear(&r);
}

static const json_t *
isir_of(const struct isir_record *r)
{
	return json_object_get(r->data, "isir");
}

static const json_t *
student_of(const struct isir_record *r)
{
	return json_object_get(r->data, "student");
}

Test(isir, a_synthetic_record_is_valid_and_extracted)
{
	struct isir_record r;
	const json_t *i, *s;

	build(1, 1, 0, NULL);
	cr_assert_eq(parse(&r), 0, "%s", r.nerrors ? r.errors[0].reason : "");
	cr_assert(r.ok);
	cr_assert_eq(r.transaction, 1);
	cr_assert_str_eq(r.fafsa_uuid, "00000000-0000-4000-8000-000000000001");
	i = isir_of(&r);
	cr_assert_str_eq(json_string_value(json_object_get(i, "fafsa_uuid")),
	                 r.fafsa_uuid);
	cr_assert_eq(json_integer_value(json_object_get(i, "transaction")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(
	                         i, "application_receipt_date")),
	                 "2024-10-11");
	cr_assert_str_eq(json_string_value(json_object_get(i, "first_name")),
	                 "Luis");
	/* numbers are integers; blank fields are left out */
	cr_assert(json_is_integer(json_object_get(i, "sai")));
	cr_assert_null(json_object_get(i, "middle_name"));
	/* the SSN: only its last four digits */
	cr_assert_str_eq(json_string_value(json_object_get(i, "ssn_last4")),
	                 "0002");
	cr_assert_null(json_object_get(i, "ssn"));
	{
		char *all = json_dumps(r.data, 0);

		cr_assert_null(strstr(all, "578110002"), "the SSN leaked: %s",
		               all);
		free(all);
	}
	s = student_of(&r);
	cr_assert_str_eq(json_string_value(json_object_get(s, "dependency")),
	                 "dependent");
	cr_assert_eq(json_integer_value(json_object_get(s, "family_size")), 4);
	cr_assert(json_is_true(json_object_get(s, "ca_resident")));
	cr_assert_str_eq(json_string_value(json_object_get(s, "citizenship")),
	                 "citizen");
	cr_assert_str_eq(
	        json_string_value(json_object_get(s, "application_date")),
	        "2024-10-11");
	/* dependent: the parents' total income and assets */
	cr_assert_eq(
	        json_integer_value(json_object_get(s, "income")),
	        json_integer_value(json_object_get(i, "parent_total_income")));
	cr_assert_eq(json_integer_value(json_object_get(s, "assets")),
	             json_integer_value(json_object_get(i, "parent_cash")));
	cr_assert_null(json_object_get(s, "hs_gpa"));
	cr_assert_null(json_object_get(s, "married"));
	isir_record_clear(&r);
}

Test(isir, an_independent_student_uses_their_own_figures)
{
	struct isir_record r;
	const json_t *s;

	build(3, 1, 0, NULL); /* every third one is independent */
	cr_assert_eq(isir_record_set(rec, 40, "2"), 0); /* married */
	cr_assert_eq(isir_record_set(rec, 61, "3"), 0);
	cr_assert_eq(isir_record_set(rec, 944, "41000"), 0);
	cr_assert_eq(isir_record_set(rec, 105, "500"), 0);
	cr_assert_eq(isir_record_set(rec, 106, "250"), 0);
	cr_assert_eq(parse(&r), 0);
	s = student_of(&r);
	cr_assert_str_eq(json_string_value(json_object_get(s, "dependency")),
	                 "independent");
	cr_assert(json_is_true(json_object_get(s, "married")));
	/* three people, a married couple: a dependent among them */
	cr_assert(json_is_true(json_object_get(s, "has_dependents")));
	cr_assert_eq(json_integer_value(json_object_get(s, "family_size")), 3);
	cr_assert_eq(json_integer_value(json_object_get(s, "income")), 41000);
	cr_assert_eq(json_integer_value(json_object_get(s, "assets")), 750);
	isir_record_clear(&r);
	/* the answer to field 46 wins over the household's size */
	build(3, 1, 46, "2");
	cr_assert_eq(isir_record_set(rec, 61, "5"), 0);
	cr_assert_eq(parse(&r), 0);
	cr_assert(json_is_false(
	        json_object_get(student_of(&r), "has_dependents")));
	isir_record_clear(&r);
	/* Y and Z are independent models, X dependent */
	build(3, 1, 6, "Z");
	cr_assert_eq(parse(&r), 0);
	cr_assert_str_eq(json_string_value(
	                         json_object_get(student_of(&r), "dependency")),
	                 "independent");
	isir_record_clear(&r);
	build(1, 1, 6, "X");
	cr_assert_eq(parse(&r), 0);
	cr_assert_str_eq(json_string_value(
	                         json_object_get(student_of(&r), "dependency")),
	                 "dependent");
	isir_record_clear(&r);
}

Test(isir, wrong_lengths_are_refused_whole)
{
	struct isir_record r;
	static const size_t lens[] = {0, 1, ISIR_RECORD_LEN - 1,
	                              ISIR_RECORD_LEN + 1};

	build(1, 1, 0, NULL);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		char *buf = malloc(lens[k] + 1);

		memset(buf, ' ', lens[k]);
		memcpy(buf, rec,
		       lens[k] < ISIR_RECORD_LEN ? lens[k] : ISIR_RECORD_LEN);
		cr_assert_eq(isir_parse_record(buf, lens[k], 3, &r),
		             CAIRN_EINVALID);
		cr_assert_eq(r.nerrors, 1);
		cr_assert_eq(r.errors[0].field, 0);
		cr_assert_str_eq(r.errors[0].name, "record");
		cr_assert(strstr(r.errors[0].reason, "wrong length") != NULL);
		cr_assert(strstr(r.errors[0].reason, "7704") != NULL);
		isir_record_clear(&r);
		free(buf);
	}
	/* a carriage return before the newline is not part of the record */
	{
		char buf[ISIR_RECORD_LEN + 1];

		memcpy(buf, rec, ISIR_RECORD_LEN);
		buf[ISIR_RECORD_LEN] = '\r';
		cr_assert_eq(isir_parse_record(buf, sizeof(buf), 1, &r), 0);
		isir_record_clear(&r);
	}
}

Test(isir, bytes_outside_printable_ascii_name_their_field)
{
	struct isir_record r;

	build(1, 1, 0, NULL);
	/* "José" in UTF-8 in the first name (field 25, columns 243-277) */
	memcpy(rec + 242, "Jos\xc3\xa9", 5);
	cr_assert_eq(parse(&r), CAIRN_EINVALID);
	cr_assert_eq(r.nerrors, 1, "one error per field, got %d", r.nerrors);
	cr_assert_eq(r.errors[0].field, 25);
	cr_assert_str_eq(r.errors[0].name, "First Name");
	cr_assert(strstr(r.errors[0].reason, "non-ASCII byte 0xC3 at column "
	                                     "246") != NULL,
	          "%s", r.errors[0].reason);
	isir_record_clear(&r);
	/* a control character in a field the layout names but Cairn does
	 * not read: the column is given */
	build(1, 1, 0, NULL);
	rec[5000] = '\t';
	cr_assert_eq(parse(&r), CAIRN_EINVALID);
	cr_assert_eq(r.errors[0].field, 0);
	cr_assert(strstr(r.errors[0].reason, "control byte 0x09 at column "
	                                     "5001") != NULL,
	          "%s", r.errors[0].reason);
	isir_record_clear(&r);
	/* a NUL byte inside the record */
	build(1, 1, 0, NULL);
	rec[176] = '\0';
	cr_assert_eq(parse(&r), CAIRN_EINVALID);
	cr_assert_eq(r.errors[0].field, 18);
	isir_record_clear(&r);
}

Test(isir, every_field_type_refuses_what_it_cannot_hold)
{
	/* UUID */
	build(1, 1, 2, "not-a-uuid");
	expect_refused(2, "is not a UUID");
	build(1, 1, 2, "00000000-0000-4000-8000-00000000000g");
	expect_refused(2, "is not a UUID");
	build(1, 1, 2, "");
	expect_refused(2, "blank");
	/* transaction number */
	build(1, 1, 5, "00");
	expect_refused(5, "transaction number");
	build(1, 1, 5, "1A");
	expect_refused(5, "transaction number");
	/* numbers */
	build(1, 1, 18, "12a4");
	expect_refused(18, "is not a number");
	build(1, 1, 18, "-2000");
	expect_refused(18, "impossible");
	build(1, 1, 18, "-");
	expect_refused(18, "is not a number");
	build(1, 1, 61, "0");
	expect_refused(61, "impossible");
	build(1, 1, 215, "-5");
	expect_refused(215, "impossible");
	/* dates */
	build(1, 1, 29, "20060230");
	expect_refused(29, "is not a date");
	build(1, 1, 29, "20061301");
	expect_refused(29, "is not a date");
	build(1, 1, 8, "2024101");
	expect_refused(8, "is not a date");
	build(1, 1, 8, "18991231");
	expect_refused(8, "is not a date");
	/* codes */
	build(1, 1, 6, "Q");
	expect_refused(6, "is not one of D|I|X|Y|Z");
	build(1, 1, 63, "4");
	expect_refused(63, "is not one of 1|2|3");
	build(1, 1, 297, "M");
	expect_refused(297, "is not one of Y|N|*");
	build(1, 1, 296, "V2");
	expect_refused(296, "is not one of V1|V4|V5");
	/* SSN: impossible numbers, and never the number in the message */
	build(1, 1, 30, "000123456");
	expect_refused(30, "impossible");
	build(1, 1, 30, "666123456");
	expect_refused(30, "impossible");
	build(1, 1, 30, "57811000");
	expect_refused(30, "not nine digits");
	/* comment codes come in threes */
	build(1, 1, 568, "14");
	expect_refused(568, "three-digit codes");
}

Test(isir, impossible_relations_between_fields)
{
	/* born after the application arrived */
	build(1, 1, 29, "20250101");
	expect_refused(29, "after the application's receipt date");
	/* more in college than in the family */
	build(3, 1, 62, "3");
	expect_refused(62, "impossible in a family of 2");
	build(1, 1, 184, "5");
	expect_refused(184, "impossible in a family of 4");
	/* selected for verification without a group */
	build(1, 1, 297, "Y");
	expect_refused(296, "group (V1, V4 or V5) is missing");
}

Test(isir, verification_flag_and_groups)
{
	static const char *const groups[] = {"V1", "V4", "V5"};
	struct isir_record r;
	const json_t *v;

	for (int k = 0; k < 3; k++) {
		build(1, 1, 297, "Y");
		cr_assert_eq(isir_record_set(rec, 296, groups[k]), 0);
		cr_assert_eq(parse(&r), 0);
		v = json_object_get(r.data, "verification");
		cr_assert(json_is_true(json_object_get(v, "selected")));
		cr_assert_str_eq(json_string_value(json_object_get(v, "group")),
		                 groups[k]);
		isir_record_clear(&r);
	}
	/* '*' is a flag, not a selection */
	build(1, 1, 297, "*");
	cr_assert_eq(parse(&r), 0);
	v = json_object_get(r.data, "verification");
	cr_assert(json_is_false(json_object_get(v, "selected")));
	cr_assert_str_eq(json_string_value(json_object_get(v, "flag")), "*");
	isir_record_clear(&r);
	/* not selected */
	build(1, 1, 0, NULL);
	cr_assert_eq(parse(&r), 0);
	v = json_object_get(r.data, "verification");
	cr_assert(json_is_false(json_object_get(v, "selected")));
	cr_assert(json_is_null(json_object_get(v, "group")) ||
	          json_object_get(v, "group") == NULL);
	isir_record_clear(&r);
}

Test(isir, a_correction_names_the_fields_it_changed)
{
	struct isir_record a, b;
	json_t *ch, *c;
	size_t i;
	int saw_income = 0, saw_size = 0, saw_sai = 0;

	build(2, 1, 0, NULL);
	cr_assert_eq(parse(&a), 0);
	build(2, 2, 183, "5");
	cr_assert_eq(isir_record_set(rec, 205, "61000"), 0);
	cr_assert_eq(isir_record_set(rec, 18, ""), 0);
	cr_assert_eq(parse(&b), 0);
	ch = isir_changes(isir_of(&a), isir_of(&b));
	json_array_foreach(ch, i, c)
	{
		int f = (int)json_integer_value(json_object_get(c, "field"));

		/* transaction number, UUID and dates change every time */
		cr_assert(f != 3 && f != 5 && f != 12 && f != 13 && f != 280,
		          "field %d reported as a change", f);
		cr_assert_not_null(json_object_get(c, "name"));
		if (f == 205) {
			saw_income = 1;
			cr_assert_eq(
			        json_integer_value(json_object_get(c, "to")),
			        61000);
		}
		if (f == 183) {
			saw_size = 1;
			cr_assert_eq(
			        json_integer_value(json_object_get(c, "from")),
			        4);
		}
		if (f == 18) {
			saw_sai = 1;
			cr_assert(json_is_null(json_object_get(c, "to")));
		}
	}
	cr_assert(saw_income && saw_size && saw_sai);
	json_decref(ch);
	/* the same record twice: no change */
	ch = isir_changes(isir_of(&a), isir_of(&a));
	cr_assert_eq(json_array_size(ch), 0);
	json_decref(ch);
	isir_record_clear(&a);
	isir_record_clear(&b);
}

Test(isir, a_file_is_read_line_by_line_and_every_record_reported)
{
	char *text = malloc(4 * (ISIR_RECORD_LEN + 2) + 16);
	struct isir_file f;
	size_t off = 0;

	build(1, 1, 0, NULL);
	memcpy(text + off, rec, ISIR_RECORD_LEN);
	off += ISIR_RECORD_LEN;
	text[off++] = '\n';
	memcpy(text + off, "short\r\n", 7); /* line 2: wrong length */
	off += 7;
	build(2, 1, 18, "x");
	memcpy(text + off, rec, ISIR_RECORD_LEN); /* line 3: bad SAI */
	off += ISIR_RECORD_LEN;
	text[off++] = '\n';
	build(3, 1, 0, NULL);
	memcpy(text + off, rec, ISIR_RECORD_LEN); /* line 4, no newline */
	off += ISIR_RECORD_LEN;
	cr_assert_eq(isir_parse_file(text, off, &f), 0);
	cr_assert_eq(f.n, 4);
	cr_assert_eq(f.accepted, 2);
	cr_assert_eq(f.rejected, 2);
	cr_assert(f.recs[0].ok && f.recs[3].ok);
	cr_assert_eq(f.recs[1].line, 2);
	cr_assert_eq(f.recs[1].errors[0].field, 0);
	cr_assert_eq(f.recs[2].errors[0].field, 18);
	cr_assert_eq(f.recs[3].line, 4);
	isir_file_free(&f);
	/* a trailing newline ends the last record; it starts none */
	text[off++] = '\n';
	cr_assert_eq(isir_parse_file(text, off, &f), 0);
	cr_assert_eq(f.n, 4);
	isir_file_free(&f);
	cr_assert_eq(isir_parse_file("", 0, &f), 0);
	cr_assert_eq(f.n, 0);
	isir_file_free(&f);
	free(text);
}

/* Every embedded field against FSA's layout file: number, start, length
 * and name. */
Test(isir, the_embedded_layout_matches_fsas_layout_file)
{
	FILE *f = fopen(ISIR_DATA "/isir-2025-26-layout.tsv", "r");
	char line[1024];
	size_t n, seen = 0;
	const struct isir_field *fl = isir_fields(&n);

	if (f == NULL)
		cr_skip_test("%s/isir-2025-26-layout.tsv is not here: the "
		             "embedded layout is not cross-checked",
		             ISIR_DATA);
	while (fgets(line, sizeof(line), f) != NULL) {
		int num, start, len;
		char name[512] = "";

		if (sscanf(line, "%d\t%d\t%d\t%511[^\t\n]", &num, &start, &len,
		           name) < 3)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (fl[i].num != num)
				continue;
			cr_expect_eq(fl[i].start, start, "field %d start", num);
			cr_expect_eq(fl[i].len, len, "field %d length", num);
			cr_expect_str_eq(fl[i].name, name, "field %d name",
			                 num);
			seen++;
		}
	}
	fclose(f);
	cr_assert_eq(seen, n, "%zu of %zu embedded fields found", seen, n);
}

/* The real test files: every record accepted or refused with a reason. */
Test(isir, the_real_test_files_parse)
{
	static const char *const files[] = {
	        "applications-2025-26-20240918.txt",
	        "corrections-2025-26-20240918.txt",
	        "corrections-pushed-2025-26-20240918.txt"};
	static const size_t valid[] = {77, 8, 4};

	for (int k = 0; k < 3; k++) {
		char path[512];
		FILE *f;
		char *text;
		long len;
		struct isir_file file;

		snprintf(path, sizeof(path), "%s/%s", ISIR_DATA, files[k]);
		f = fopen(path, "rb");
		if (f == NULL)
			cr_skip_test("%s is not here: the real ISIR files are "
			             "not tested",
			             path);
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		fseek(f, 0, SEEK_SET);
		text = malloc((size_t)len);
		cr_assert_eq(fread(text, 1, (size_t)len, f), (size_t)len);
		fclose(f);
		cr_assert_eq(isir_parse_file(text, (size_t)len, &file), 0);
		cr_assert_eq(file.accepted, valid[k], "%s: %zu valid", files[k],
		             file.accepted);
		/* the one refused record of each file is its first line:
		 * 7,704 blanks */
		cr_assert_eq(file.rejected, 1);
		cr_assert_eq(file.recs[0].ok, 0);
		cr_assert_eq(file.recs[0].errors[0].field, 2);
		isir_file_free(&file);
		free(text);
	}
}
