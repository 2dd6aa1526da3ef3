/*
 * isir.h: ISIR records (the FAFSA data a financial-aid office receives)
 * for award year 2025-26: the part of the record layout Cairn reads, a
 * parser and validator for the fixed-width 7,704-character records, and
 * the extraction of what a financial-aid case needs.
 *
 * Nothing here does I/O or touches the daemon, so the same code checks a
 * file offline (cairn isir check), runs on the daemon's thread pool, and
 * is tested without a loop. Records are untrusted input: every problem is
 * reported per record, with the field's number and name, and never stops
 * the records after it.
 *
 * The layout is embedded (isir_fields), not generated from FSA's layout
 * file: the file gives positions and names but no types or value ranges,
 * which validation needs and which had to be written by hand anyway; and
 * the build must not depend on a file outside the repository. The test
 * suite checks every embedded entry against the layout file when it is
 * present.
 */
#ifndef CAIRN_ISIR_H
#define CAIRN_ISIR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ISIR_RECORD_LEN 7704
#define ISIR_AWARD_YEAR "2025-26"
#define ISIR_MAX_ERRORS 8

enum isir_type {
	ISIR_TEXT,  /* printable ASCII, trimmed */
	ISIR_UUID,  /* 8-4-4-4-12 hexadecimal */
	ISIR_TXN,   /* transaction number 01..99 */
	ISIR_NUM,   /* a whole number, blank when not reported */
	ISIR_DATE,  /* CCYYMMDD, blank when not reported */
	ISIR_CODE,  /* one of a list of values, blank allowed */
	ISIR_SSN,   /* nine digits; only the last four are kept */
	ISIR_CODES, /* a run of three-digit codes (comment codes) */
};

struct isir_field {
	int num;          /* the layout's field number */
	int start;        /* 1-based column */
	int len;          /* characters */
	const char *name; /* as the layout names it */
	const char *key;  /* the member of the case's "isir" object */
	enum isir_type type;
	int64_t min, max;  /* ISIR_NUM: the possible values */
	const char *codes; /* ISIR_CODE: the values, '|' between them */
	int required;      /* blank is an error */
	int per_txn;       /* differs on every transaction: not a "change" */
};

/* The embedded fields in layout order; *n gets how many. */
const struct isir_field *isir_fields(size_t *n);
/* The field with the layout's number num, or NULL. */
const struct isir_field *isir_field(int num);

struct isir_error {
	int field;        /* the layout's number; 0 for the whole record */
	char name[64];    /* the field's name, or "record" */
	char reason[200]; /* for a person */
};

struct isir_record {
	int line; /* 1-based line of the file */
	int ok;   /* valid: data is set */
	char fafsa_uuid[37];
	int transaction;  /* 0 when it could not be read */
	uint8_t hash[32]; /* SHA-256 of the record's 7,704 characters */
	/* {"isir": {...}, "student": {...}, "verification": {...}}: what a
	 * financial-aid case carries; NULL when rejected */
	json_t *data;
	int nerrors;
	struct isir_error errors[ISIR_MAX_ERRORS];
};

/*
 * Parses and validates one record (text: the line without its newline; a
 * trailing carriage return is ignored). Always fills r; returns 0 when the
 * record is valid, CAIRN_EINVALID when it is not (r->errors say why), or
 * -ENOMEM.
 */
int isir_parse_record(const char *text, size_t len, int line,
                      struct isir_record *r);
void isir_record_clear(struct isir_record *r);

/* Every line of a file, in order; an empty last line is not a record. */
struct isir_file {
	struct isir_record *recs;
	size_t n;
	size_t accepted, rejected;
};
/* Returns 0, or -ENOMEM (f is then empty). */
int isir_parse_file(const char *text, size_t len, struct isir_file *f);
void isir_file_free(struct isir_file *f);

/* The errors of r as [{"field", "name", "reason"}]. */
json_t *isir_errors_json(const struct isir_record *r);

/*
 * What a correction changed: the members of two "isir" objects that
 * differ, as [{"field", "name", "key", "from", "to"}] in layout order,
 * leaving out the ones every transaction changes (its number, UUID and
 * dates).
 */
json_t *isir_changes(const json_t *before, const json_t *after);

/*
 * The key that matches an ISIR's person to a student (docs/isir.md,
 * "Matching ISIRs to students"): the SHA-256, in 64 hex digits, of the
 * last name (its ASCII letters only, upper-cased, so "de la Cruz" and
 * "DELACRUZ" agree), the date of birth (YYYY-MM-DD) and the SSN's last
 * four digits. Only the hash is ever stored, so the table of keys holds
 * no name, date or digits a person could read. Returns 0, or
 * CAIRN_EINVALID with *why set when a part is missing or malformed.
 */
#define ISIR_IDENTITY_KEY_LEN 64
int isir_identity_key(const char *last_name, const char *date_of_birth,
                      const char *ssn_last4,
                      char out[ISIR_IDENTITY_KEY_LEN + 1], const char **why);
/* The same key from an "isir" object (last_name, date_of_birth,
 * ssn_last4), as a parsed record carries it. */
int isir_identity_key_of(const json_t *isir,
                         char out[ISIR_IDENTITY_KEY_LEN + 1]);

/*
 * Building records, for tests, benchmarks and demo data: a record of
 * blanks, then a value written into an embedded field (left-justified,
 * cut at the field's length, as FSA writes them). isir_record_set returns
 * CAIRN_EINVALID for a field number that is not embedded.
 */
void isir_record_blank(char rec[ISIR_RECORD_LEN]);
int isir_record_set(char rec[ISIR_RECORD_LEN], int num, const char *value);
/* A valid, made-up record: FAFSA number seq (its UUID is made from seq),
 * transaction txn; every third one independent, the rest dependent. */
void isir_record_synthetic(char rec[ISIR_RECORD_LEN], uint64_t seq, int txn);

#endif
