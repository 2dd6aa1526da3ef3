/*
 * isir.c: cairn isir: ISIR files.
 *
 *   cairn isir import FILE [--office O] [--records N] [--json]
 *   cairn isir check FILE [--json]          (offline: validate only)
 *   cairn isir generate N [--first SEQ] [--transaction T]
 *
 * import sends the file to cairnd (POST /v1/isir) in requests of N
 * records (128 by default: just under cairnd's default 1 MiB body limit),
 * in four streams side by side; the records of one FAFSA always share a
 * stream, which sends one request at a time, so a FAFSA's transactions
 * arrive in file order. A 770 MB file of 100,000 records goes as about 782
 * requests and is never held in memory whole. The replies are put back
 * together in the file's order, with its own line numbers. A line far longer than a record is reported here as rejected
 * (wrong length) instead of being sent. Exit status: 0 when every record
 * was accepted or unchanged, 1 when any was rejected or a request failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "../adapters/isir.h"
#include "../common/cairn.h"
#include "cli.h"

#define CHUNK_DEFAULT 128
/* longer lines are not records whatever they hold: not sent */
#define LINE_SEND_MAX (2 * ISIR_RECORD_LEN)

struct buf {
	char *p;
	size_t len, cap;
};

static int
buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		char *q;

		while (cap < b->len + n + 1)
			cap *= 2;
		q = realloc(b->p, cap);
		if (q == NULL)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static size_t
on_data(char *ptr, size_t size, size_t n, void *data)
{
	return buf_add(data, ptr, size * n) == 0 ? size * n : 0;
}

/*
 * The import: each line goes to one of STREAMS streams by its FAFSA UUID,
 * so every transaction of a FAFSA travels in one stream, in file order;
 * each stream sends one request at a time, the streams side by side (one
 * curl multi handle), which keeps cairnd's writer busy between requests.
 */
#define STREAMS 4

struct stream {
	struct import *im;
	CURL *h;
	struct curl_slist *hdrs;
	struct buf fill, sending; /* records being gathered, and in flight */
	int *fill_lines, *send_lines; /* the file's line of each record */
	size_t nfill, nsend;
	struct buf reply;
	int busy;
};

struct import {
	const struct cli_opts *o;
	char url[2048], auth[160];
	size_t per_request;
	CURLM *multi;
	struct stream st[STREAMS];
	json_t *records;
	json_int_t accepted, unchanged, rejected;
	int code; /* the first failure's exit code */
};

/* Folds a finished request's reply in. */
static void
stream_done(struct stream *s, CURLcode rc)
{
	struct import *im = s->im;
	long status = -1;
	json_t *r = NULL, *rec;
	size_t k;

	if (rc != CURLE_OK) {
		fprintf(stderr, "cairn: cannot reach cairnd at %s: %s\n",
		        im->o->url, curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
		r = json_loadb(s->reply.p ? s->reply.p : "", s->reply.len, 0,
		               NULL);
	}
	s->busy = 0;
	s->reply.len = 0;
	if (status != 200) {
		if (im->code == EXIT_OK) {
			im->code = cli_fail_reply((int)status, r);
			if (status == 413)
				fprintf(stderr,
				        "cairn: send fewer records a request "
				        "(--records N; now %zu)\n",
				        im->per_request);
		}
		json_decref(r);
		return;
	}
	im->accepted += json_integer_value(json_object_get(r, "accepted"));
	im->unchanged += json_integer_value(json_object_get(r, "unchanged"));
	im->rejected += json_integer_value(json_object_get(r, "rejected"));
	json_array_foreach(json_object_get(r, "records"), k, rec)
	{
		json_int_t l = json_integer_value(json_object_get(rec, "line"));

		if (l >= 1 && (size_t)l <= s->nsend)
			json_object_set_new(rec, "line",
			                    json_integer(s->send_lines[l - 1]));
		json_array_append(im->records, rec);
	}
	json_decref(r);
}

/* Runs the transfers until stream s (or, with s NULL, every stream) is
 * idle. */
static int
import_idle(const struct import *im, const struct stream *s)
{
	int busy = 0;

	for (int i = 0; i < STREAMS; i++)
		busy |= im->st[i].busy;
	return s ? !s->busy : !busy;
}

static void
import_wait(struct import *im, struct stream *s)
{
	while (!import_idle(im, s)) {
		int running, left;
		CURLMsg *m;

		curl_multi_perform(im->multi, &running);
		while ((m = curl_multi_info_read(im->multi, &left)) != NULL) {
			struct stream *done = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
			                  (char **)&done);
			curl_multi_remove_handle(im->multi, m->easy_handle);
			stream_done(done, m->data.result);
		}
		if (!import_idle(im, s))
			curl_multi_poll(im->multi, NULL, 0, 100, NULL);
	}
}

/* Sends what stream s gathered (after its previous request is done). */
static void
stream_send(struct stream *s)
{
	struct import *im = s->im;
	struct buf tb;
	int *tl;

	import_wait(im, s);
	if (s->nfill == 0 || im->code != EXIT_OK)
		return;
	tb = s->sending;
	s->sending = s->fill;
	s->fill = tb;
	s->fill.len = 0;
	tl = s->send_lines;
	s->send_lines = s->fill_lines;
	s->fill_lines = tl;
	s->nsend = s->nfill;
	s->nfill = 0;
	if (s->h == NULL) {
		s->h = curl_easy_init();
		if (s->h == NULL) {
			im->code = EXIT_FAIL;
			return;
		}
		s->hdrs = curl_slist_append(NULL, "Content-Type: text/plain");
		s->hdrs = curl_slist_append(s->hdrs, "Expect:");
		if (im->o->token != NULL)
			s->hdrs = curl_slist_append(s->hdrs, im->auth);
		curl_easy_setopt(s->h, CURLOPT_URL, im->url);
		curl_easy_setopt(s->h, CURLOPT_POST, 1L);
		curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT, 5L);
		curl_easy_setopt(s->h, CURLOPT_TIMEOUT, 300L);
		curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(s->h, CURLOPT_WRITEDATA, &s->reply);
		curl_easy_setopt(s->h, CURLOPT_PRIVATE, (char *)s);
		curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
	}
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDS,
	                 s->sending.p ? s->sending.p : "");
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE,
	                 (curl_off_t)s->sending.len);
	s->busy = 1;
	if (curl_multi_add_handle(im->multi, s->h) != CURLM_OK) {
		s->busy = 0;
		im->code = EXIT_FAIL;
	}
}

/* The stream of a line: by its FAFSA UUID (columns 2-37). */
static struct stream *
stream_of(struct import *im, const char *line, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 1; i < 37 && i < len; i++)
		h = (h ^ (unsigned char)line[i]) * 16777619u;
	return &im->st[h % STREAMS];
}

static int
import_line(struct import *im, const char *line, size_t len, int lineno)
{
	struct stream *s;

	if (len > LINE_SEND_MAX) {
		char reason[160];

		snprintf(reason, sizeof(reason),
		         "wrong length: %zu characters; an ISIR record has %d",
		         len, ISIR_RECORD_LEN);
		im->rejected++;
		json_array_append_new(
		        im->records,
		        json_pack("{s:i, s:n, s:n, s:s, s:n, s:[{s:i, s:s, "
		                  "s:s}]}",
		                  "line", lineno, "fafsa_uuid", "transaction",
		                  "result", "rejected", "case", "errors",
		                  "field", 0, "name", "record", "reason",
		                  reason));
		return 0;
	}
	s = stream_of(im, line, len);
	if (s->fill_lines == NULL) {
		s->fill_lines = calloc(im->per_request, sizeof(int));
		s->send_lines = calloc(im->per_request, sizeof(int));
		if (s->fill_lines == NULL || s->send_lines == NULL)
			return -1;
	}
	s->fill_lines[s->nfill++] = lineno;
	if (buf_add(&s->fill, line, len) != 0 ||
	    buf_add(&s->fill, "\n", 1) != 0)
		return -1;
	if (s->nfill == im->per_request)
		stream_send(s);
	return 0;
}

static int
cmp_line(const void *a, const void *b)
{
	json_int_t x = json_integer_value(
	        json_object_get(*(json_t *const *)a, "line"));
	json_int_t y = json_integer_value(
	        json_object_get(*(json_t *const *)b, "line"));

	return (x > y) - (x < y);
}

/* The records in the file's order. */
static json_t *
sorted_records(json_t *records)
{
	size_t n = json_array_size(records);
	json_t **v = calloc(n ? n : 1, sizeof(*v)), *out = json_array();

	for (size_t i = 0; v && i < n; i++)
		v[i] = json_array_get(records, i);
	if (v != NULL)
		qsort(v, n, sizeof(*v), cmp_line);
	for (size_t i = 0; v && out && i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	return out;
}

static void
print_rejections(json_t *records)
{
	size_t k, e;
	json_t *rec, *err;

	json_array_foreach(records, k, rec)
	{
		if (strcmp(json_string_value(json_object_get(rec, "result"))
		                   ?: "",
		           "rejected") != 0)
			continue;
		json_array_foreach(json_object_get(rec, "errors"), e, err)
		{
			json_int_t f = json_integer_value(
			        json_object_get(err, "field"));

			if (f > 0)
				printf("line %lld: rejected: field %lld (%s): "
				       "%s\n",
				       (long long)json_integer_value(
				               json_object_get(rec, "line")),
				       (long long)f,
				       json_string_value(
				               json_object_get(err, "name")),
				       json_string_value(
				               json_object_get(err, "reason")));
			else
				printf("line %lld: rejected: %s\n",
				       (long long)json_integer_value(
				               json_object_get(rec, "line")),
				       json_string_value(
				               json_object_get(err, "reason")));
		}
	}
}

static int
cmd_import(const struct cli_opts *o, const char *path, const char *office,
           long per_request)
{
	struct import im = {.o = o, .per_request = (size_t)per_request};
	FILE *f = fopen(path, "rb");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, code;
	json_t *sorted;

	if (f == NULL) {
		fprintf(stderr, "cairn: %s: %s\n", path, strerror(errno));
		return EXIT_FAIL;
	}
	snprintf(im.url, sizeof(im.url), "%s/v1/isir%s%s", o->url,
	         office ? "?office=" : "", office ? office : "");
	if (o->token != NULL)
		snprintf(im.auth, sizeof(im.auth), "Authorization: Bearer %s",
		         o->token);
	im.records = json_array();
	im.multi = curl_multi_init();
	for (int i = 0; i < STREAMS; i++)
		im.st[i].im = &im;
	while (im.code == EXIT_OK && (len = getline(&line, &cap, f)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (import_line(&im, line, (size_t)len, ++lineno) != 0) {
			fprintf(stderr, "cairn: out of memory\n");
			im.code = EXIT_FAIL;
		}
	}
	if (im.code == EXIT_OK && ferror(f)) {
		fprintf(stderr, "cairn: %s: %s\n", path, strerror(errno));
		im.code = EXIT_FAIL;
	}
	for (int i = 0; im.code == EXIT_OK && i < STREAMS; i++)
		stream_send(&im.st[i]);
	import_wait(&im, NULL);
	fclose(f);
	free(line);
	code = im.code;
	sorted = sorted_records(im.records);
	if (code == EXIT_OK || im.accepted + im.unchanged + im.rejected > 0) {
		if (o->json) {
			json_t *r = json_pack(
			        "{s:I, s:I, s:I, s:O}", "accepted", im.accepted,
			        "unchanged", im.unchanged, "rejected",
			        im.rejected, "records", sorted);

			cli_print_json(r);
			json_decref(r);
		} else {
			printf("%s: %lld accepted, %lld unchanged, %lld "
			       "rejected%s\n",
			       path, (long long)im.accepted,
			       (long long)im.unchanged, (long long)im.rejected,
			       code == EXIT_OK ? "" : " before the failure");
			print_rejections(sorted);
		}
	}
	if (code == EXIT_OK && im.rejected > 0)
		code = EXIT_FAIL;
	json_decref(sorted);
	json_decref(im.records);
	for (int i = 0; i < STREAMS; i++) {
		struct stream *s = &im.st[i];

		if (s->h != NULL)
			curl_easy_cleanup(s->h);
		curl_slist_free_all(s->hdrs);
		free(s->fill.p);
		free(s->sending.p);
		free(s->reply.p);
		free(s->fill_lines);
		free(s->send_lines);
	}
	curl_multi_cleanup(im.multi);
	OPENSSL_cleanse(im.auth, sizeof(im.auth));
	return code;
}

/* Validates line by line, so a file of any size is never held whole. */
static int
cmd_check(const struct cli_opts *o, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *line = NULL;
	size_t cap = 0, valid = 0, rejected = 0;
	ssize_t len;
	int lineno = 0, code = EXIT_OK;
	json_t *recs = json_array();

	if (f == NULL) {
		fprintf(stderr, "cairn: %s: %s\n", path, strerror(errno));
		json_decref(recs);
		return EXIT_FAIL;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct isir_record r;
		json_t *tx;
		int rc;

		if (len > 0 && line[len - 1] == '\n')
			len--;
		rc = isir_parse_record(line, (size_t)len, ++lineno, &r);
		if (rc == -ENOMEM) {
			fprintf(stderr, "cairn: out of memory\n");
			code = EXIT_FAIL;
			break;
		}
		rc == 0 ? valid++ : rejected++;
		/* only the rejected ones are listed unless --json asks */
		if (r.ok && !o->json) {
			isir_record_clear(&r);
			continue;
		}
		tx = r.transaction ? json_integer(r.transaction) : NULL;
		json_array_append_new(
		        recs, json_pack("{s:i, s:s?, s:o?, s:s, s:o}", "line",
		                        r.line, "fafsa_uuid",
		                        r.fafsa_uuid[0] ? r.fafsa_uuid : NULL,
		                        "transaction", tx, "result",
		                        r.ok ? "valid" : "rejected", "errors",
		                        isir_errors_json(&r)));
		isir_record_clear(&r);
	}
	if (code == EXIT_OK && ferror(f)) {
		fprintf(stderr, "cairn: %s: %s\n", path, strerror(errno));
		code = EXIT_FAIL;
	}
	fclose(f);
	free(line);
	if (code == EXIT_OK && o->json) {
		json_t *r = json_pack("{s:I, s:I, s:O}", "valid",
		                      (json_int_t)valid, "rejected",
		                      (json_int_t)rejected, "records", recs);

		cli_print_json(r);
		json_decref(r);
	} else if (code == EXIT_OK) {
		printf("%s: %zu valid, %zu rejected\n", path, valid, rejected);
		print_rejections(recs);
	}
	json_decref(recs);
	return code != EXIT_OK ? code : rejected > 0 ? EXIT_FAIL : EXIT_OK;
}

static int
cmd_generate(long count, long first, long txn)
{
	char rec[ISIR_RECORD_LEN + 1];

	rec[ISIR_RECORD_LEN] = '\n';
	for (long i = 0; i < count; i++) {
		isir_record_synthetic(rec, (uint64_t)(first + i), (int)txn);
		if (fwrite(rec, 1, sizeof(rec), stdout) != sizeof(rec)) {
			perror("cairn: writing");
			return EXIT_FAIL;
		}
	}
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

static const char isir_usage_text[] =
        "usage: cairn isir import FILE [--office O] [--records N] "
        "[--json]\n"
        "       cairn isir check FILE [--json]\n"
        "       cairn isir generate N [--first SEQ] [--transaction T]\n"
        "       cairn isir identities FILE.csv [--json]\n"
        "  import: send an ISIR file to cairnd (aid_officer for their "
        "office, or\n"
        "  admin naming --office); each record becomes or updates an "
        "aid_file case.\n"
        "  check: validate the records offline. generate: N made-up "
        "valid records.\n"
        "  identities: load which student each ISIR belongs to (admin): "
        "lines of\n"
        "  student,last_name,date_of_birth,ssn_last4; all or nothing.\n"
        "  Exit 1 when any record was rejected.\n";

static int
isir_usage(void)
{
	fputs(isir_usage_text, stderr);
	return EXIT_USAGE;
}

static int
number_arg(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int
cli_isir(const struct cli_opts *o, int argc, char **argv)
{
	struct cli_opts mine = *o;
	const char *args[3] = {NULL, NULL, NULL}, *office = NULL;
	long per = CHUNK_DEFAULT, first = 1, txn = 1;
	int nargs = 0;

	if (cli_wants_help(argc, argv)) {
		fputs(isir_usage_text, stdout);
		return EXIT_OK;
	}
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--json")) {
			mine.json = 1;
		} else if (!strcmp(a, "--office") && i + 1 < argc) {
			office = argv[++i];
		} else if (!strcmp(a, "--records") && i + 1 < argc) {
			if (number_arg(argv[++i], 1, 100000, &per) != 0)
				return isir_usage();
		} else if (!strcmp(a, "--first") && i + 1 < argc) {
			if (number_arg(argv[++i], 0, 1L << 40, &first) != 0)
				return isir_usage();
		} else if (!strcmp(a, "--transaction") && i + 1 < argc) {
			if (number_arg(argv[++i], 1, 99, &txn) != 0)
				return isir_usage();
		} else if (a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "cairn: isir: unknown option %s\n", a);
			return isir_usage();
		} else if (nargs < 2) {
			args[nargs++] = a;
		} else {
			return isir_usage();
		}
	}
	if (nargs == 2 && !strcmp(args[0], "import"))
		return cmd_import(&mine, args[1], office, per);
	if (nargs == 2 && !strcmp(args[0], "check"))
		return cmd_check(&mine, args[1]);
	if (nargs == 2 && !strcmp(args[0], "identities"))
		return cli_isir_identities(&mine, args[1]);
	if (nargs == 2 && !strcmp(args[0], "generate")) {
		long count;

		if (number_arg(args[1], 0, 100000000, &count) != 0)
			return isir_usage();
		return cmd_generate(count, first, txn);
	}
	return isir_usage();
}
