/*
 * isir.c: ISIR files, through isir_parse_file (what cairn isir check and
 * POST /v1/isir run on an office's upload). Every record is either valid
 * with data or rejected with at least one error; the changes between two
 * valid records are computed as a correction would.
 */
#include <jansson.h>

#include "../adapters/isir.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct isir_file f;
	const json_t *prev = NULL;

	if (isir_parse_file((const char *)data, size, &f) != 0)
		return 0;
	FUZZ_ASSERT(f.accepted + f.rejected == f.n);
	for (size_t i = 0; i < f.n; i++) {
		struct isir_record *r = &f.recs[i];

		if (!r->ok) {
			json_t *errs;

			FUZZ_ASSERT(r->data == NULL);
			FUZZ_ASSERT(r->nerrors > 0 &&
			            r->nerrors <= ISIR_MAX_ERRORS);
			errs = isir_errors_json(r);
			FUZZ_ASSERT(errs != NULL);
			json_decref(errs);
			continue;
		}
		FUZZ_ASSERT(r->data != NULL);
		if (prev != NULL) {
			json_t *ch =
			        isir_changes(json_object_get(prev, "isir"),
			                     json_object_get(r->data, "isir"));

			FUZZ_ASSERT(ch != NULL);
			json_decref(ch);
		}
		prev = r->data;
	}
	isir_file_free(&f);
	return 0;
}
