/*
 * json.c: request bodies, through api_body_parse (the one function every
 * route's JSON body goes through). The first byte picks the Content-Type
 * so the media-type check is fuzzed too. A body that parses must dump and
 * parse back to an equal value: what the daemon stores is what it read.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/daemon.h"
#include "fuzz.h"

static const char *const types[] = {
        "application/json", "application/json; charset=utf-8",
        "APPLICATION/JSON", "application/jsonx",
        "text/plain",       NULL,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_body_error e;
	const char *ct;
	json_t *v = NULL;
	char *text;

	if (size == 0)
		return 0;
	ct = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	data++;
	size--;
	if (api_body_parse(ct, (const char *)data, size, &v, &e) != 0) {
		FUZZ_ASSERT(v == NULL);
		FUZZ_ASSERT(e.status == 400 || e.status == 415 ||
		            e.status == 422);
		FUZZ_ASSERT(memchr(e.detail, '\0', sizeof(e.detail)) != NULL);
		json_decref(e.extra);
		return 0;
	}
	FUZZ_ASSERT(json_is_object(v));
	text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	FUZZ_ASSERT(text != NULL);
	{
		json_error_t je;
		json_t *back = json_loads(text, JSON_REJECT_DUPLICATES, &je);

		FUZZ_ASSERT(back != NULL);
		FUZZ_ASSERT(json_equal(v, back));
		json_decref(back);
	}
	free(text);
	json_decref(v);
	return 0;
}
