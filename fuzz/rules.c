/*
 * rules.c: rule sets, through rs_load_files (what the daemon runs on an
 * uploaded rule set and on every version kept in the store). The input
 * is one or more files: a line "--@@ PATH" starts the file PATH; text
 * before the first such line is cal_grant.lua. A set that loads is also
 * evaluated once, rule by rule, on a small case, inside the sandbox's
 * default limits: a hostile rule must end within them.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../rules/rules.h"
#include "fuzz.h"

#define MARK "--@@ "

static void
add_file(json_t *files, const char *path, size_t plen, const char *text,
         size_t len)
{
	char name[128];

	if (plen == 0 || plen >= sizeof(name))
		return;
	memcpy(name, path, plen);
	name[plen] = '\0';
	json_object_set_new(files, name, json_stringn(text, len));
}

static json_t *
split_files(const char *s, size_t n)
{
	json_t *files = json_object();
	const char *path = "cal_grant.lua";
	size_t plen = strlen(path);
	size_t start = 0, i = 0;

	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - s) + 1 : n;

		if ((i == 0 || s[i - 1] == '\n') && n - i >= strlen(MARK) &&
		    memcmp(s + i, MARK, strlen(MARK)) == 0) {
			if (i > start || start > 0)
				add_file(files, path, plen, s + start,
				         i - start);
			path = s + i + strlen(MARK);
			plen = (nl ? (size_t)(nl - s) : n) - (i + strlen(MARK));
			start = end;
		}
		i = end;
	}
	add_file(files, path, plen, s + start, n - start);
	return files;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rs_set *set = NULL;
	struct rs_eval *ev = NULL;
	struct rs_limits lim;
	struct cairn_err e;
	json_t *files;
	json_t *input;

	files = split_files((const char *)data, size);
	if (files == NULL)
		return 0;
	if (rs_load_files("fuzz", files, NULL, NULL, &set) != 0) {
		FUZZ_ASSERT(set == NULL);
		json_decref(files);
		return 0;
	}
	json_decref(files);
	FUZZ_ASSERT(strlen(rs_version(set)) == 64);
	rs_limits_default(&lim);
	/* a tight budget: the fuzzer's rules loop forever often */
	lim.instructions = 200000;
	memset(&e, 0, sizeof(e));
	if (rs_eval_new(set, &lim, &ev, &e) == 0) {
		input = json_pack("{s:{s:s, s:i, s:f, s:b}}", "student",
		                  "dependency", "D", "household_size", 4, "gpa",
		                  3.1, "ca_resident", 1);
		json_t *out =
		        rs_evaluate(ev, -1, input, "2025-26", "2026-03-02");
		json_decref(out);
		json_decref(input);
		rs_eval_free(ev);
	}
	rs_set_free(set);
	return 0;
}
