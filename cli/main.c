/*
 * cairn: the command-line client of cairnd and the offline toolbox.
 *
 * Online commands talk to CAIRN_URL (default http://127.0.0.1:8080) with
 * CAIRN_TOKEN through libcurl; offline ones (check, token create --db) use
 * the same code as the daemon. Exit codes, for scripts:
 *   0 success, 1 failure (the server refused, or the check found errors),
 *   2 usage error, 3 cairnd unreachable, 4 not authenticated or not allowed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "../daemon/auth.h"
#include "../daemon/check.h"
#include "../daemon/config.h"
#include "../store/store.h"

#include "cli.h"

/* The command groups that live in their own files (cli/<group>.c): each
 * reads its own arguments and options after its name. */
int cli_rules(const struct cli_opts *o, int argc, char **argv);
int cli_rules_check(const char *dir); /* cli/rules.c, for cmd_check */
static const struct {
	const char *name;
	cli_group_fn fn;
} groups[] = {
        {"cases", cli_cases},
        {"case", cli_case_alias},
        {"history", cli_history_alias},
        {"send", cli_send_alias},
        {"open", cli_open_alias},
        {"workflows", cli_workflows},
        {"calendars", cli_calendars},
        {"clock", cli_clock},
        {"offices", cli_offices},
        {"recipients", cli_recipients},
        {"adapters", cli_group_adapters},
        {"rules", cli_rules},
        {"isir", cli_isir},
        {"queue", cli_queue},
        {"claim", cli_claim},
        {"renew", cli_renew},
        {"release", cli_release},
        {"alerts", cli_alerts},
        {"ack", cli_ack},
        {"resolve", cli_resolve},
        {"caseload", cli_caseload},
        {"audit", cli_audit},
        {"backup", cli_backup},
        {"disclosures", cli_disclosures},
        {NULL, NULL},
};

static const char usage_text[] =
        "usage: cairn [--url URL] [--token TOKEN] [--json] COMMAND [ARGS]\n"
        "\n"
        "cases and workflows:\n"
        "  cases [list] [--workflow W] [--status S] [--subject STUDENT] "
        "[--queue Q]\n"
        "        [--limit N] [--after CURSOR] [--all]\n"
        "                               the cases you may see\n"
        "  cases show ID | history ID   a case; its events in order\n"
        "  cases timeline STUDENT       every case of a student, one "
        "timeline\n"
        "  cases create WORKFLOW [--subject S] [--data JSON|@FILE] "
        "[--idempotency-key K]\n"
        "  cases event ID TYPE [--data JSON|@FILE] [--idempotency-key K]\n"
        "  workflows list | show NAME [--dot] | reload\n"
        "  workflows migrate NAME [--map OLD=NEW]... [--from-version N]\n"
        "        [--to-version N] [--dry-run]\n"
        "  calendars                    award-year calendars and "
        "deadlines\n"
        "  clock advance DURATION       move a --test-clock cairnd "
        "forward (admin)\n"
        "rules:\n"
        "  rules test|eval|lint ...     rule sets, offline\n"
        "  rules list|versions|publish|rollback|dry-run ...\n"
        "                               rule sets in cairnd (cairn rules "
        "--help)\n"
        "work and people:\n"
        "  queue [Q] [--office O] [--limit N]\n"
        "                               the queues, or one queue's files "
        "in order\n"
        "  claim Q [--for D] [--office O]   lease the next file (exit 1: "
        "none left)\n"
        "  renew ID [--for D] | release ID  keep or give back a leased "
        "file\n"
        "  alerts [--state S] [--case ID]   your alerts (open by "
        "default)\n"
        "  ack ID | resolve ID          acknowledge or resolve an alert\n"
        "  caseload import FILE.csv [--partial] | caseload show C\n"
        "  caseload set C [STUDENT]...  counselors' students (admin)\n"
        "  offices show ID | offices set ID --staff TOK[,TOK] "
        "[--supervisor TOK]\n"
        "  recipients show ID | recipients set ID --email E "
        "[--digest]\n"
        "                               where alerts are mailed\n"
        "institutions and ISIRs:\n"
        "  adapters [redrive NAME]      adapters' health; redrive dead "
        "letters (admin)\n"
        "  isir import FILE [--office O] [--records N]\n"
        "  isir check FILE | isir generate N\n"
        "  isir identities FILE.csv     which student each ISIR belongs to "
        "(admin)\n"
        "administration:\n"
        "  status                       health, readiness and who you "
        "are\n"
        "  check PATH                   validate a configuration file or "
        "a definitions\n"
        "                               directory (offline)\n"
        "  token create --role R [--scope S] [--label L] [--db PATH]\n"
        "  token list | token revoke ID\n"
        "  audit verify [--db PATH | --online]\n"
        "                               check every history hash chain\n"
        "  backup [--db PATH] FILE | backup verify FILE\n"
        "  backup restore FILE --db PATH\n"
        "                               online copies of the database "
        "(offline tool)\n"
        "  disclosures [--subject S] [--case ID] [--reader TOKEN_ID] "
        "[--since T] [--all]\n"
        "                               who read students' records "
        "(admin; --me: a\n"
        "                               student's own)\n"
        "  version\n"
        "\n"
        "Every command takes --help. --json prints cairnd's JSON instead of "
        "a table.\n"
        "Older spellings still work: case ID, history ID, send ID EVENT, "
        "open WORKFLOW.\n"
        "\n"
        "environment: CAIRN_URL (default http://127.0.0.1:8080), "
        "CAIRN_TOKEN\n"
        "exit codes: 0 ok, 1 failed (refused, not found, a check or "
        "verify found\n"
        "errors), 2 usage, 3 cairnd unreachable, 4 not authenticated or "
        "not allowed\n";

static void
usage(FILE *f)
{
	fputs(usage_text, f);
}

/* The commands that live in this file, each with its own --help. */
static const struct {
	const char *name, *text;
} command_usage[] = {
        {"status", "usage: cairn status\n"
                   "  cairnd's health and readiness, and who your token "
                   "is (exit 1 when\n"
                   "  cairnd cannot take a write, 3 when it cannot be "
                   "reached)\n"},
        {"check", "usage: cairn check PATH\n"
                  "  validate a cairnd configuration file, or a "
                  "directory holding workflows/,\n"
                  "  rules/ and adapters/ (and campuses.yaml), offline; "
                  "problems are printed\n"
                  "  as file:line:column: message (exit 1 when there are "
                  "errors)\n"},
        {"token", "usage: cairn token create --role ROLE [--scope S] "
                  "[--label L] [--db PATH]\n"
                  "       cairn token list\n"
                  "       cairn token revoke ID\n"
                  "  roles: student, counselor, aid_officer, admissions, "
                  "institution, policy,\n"
                  "  admin. create prints the token, once; with --db it "
                  "writes straight into\n"
                  "  that database (bootstrapping, no cairnd needed). "
                  "list and revoke: admin.\n"},
        {"version", "usage: cairn version\n"},
};

static void
command_help(const char *name, FILE *f)
{
	for (size_t i = 0; i < sizeof(command_usage) / sizeof(command_usage[0]);
	     i++)
		if (!strcmp(command_usage[i].name, name)) {
			fputs(command_usage[i].text, f);
			return;
		}
	usage(f);
}

/* --- HTTP ----------------------------------------------------------------- */

struct buf {
	char *p;
	size_t len;
};

static size_t
on_data(char *ptr, size_t size, size_t n, void *data)
{
	struct buf *b = data;
	size_t add = size * n;
	char *p = realloc(b->p, b->len + add + 1);

	if (p == NULL)
		return 0;
	memcpy(p + b->len, ptr, add);
	b->p = p;
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

/* One request; the reply's body goes into b (the caller frees b->p). */
static int
http_call(const struct cli_opts *o, const char *method, const char *path,
          json_t *body, struct buf *b)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char url[2048], auth[128];
	char *text = NULL;
	long status = -1;
	CURLcode rc;

	if (h == NULL)
		return -1;
	snprintf(url, sizeof(url), "%s%s", o->url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	if (o->token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		         o->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (o->idem != NULL) {
		char ik[200];

		snprintf(ik, sizeof(ik), "Idempotency-Key: %.150s", o->idem);
		hdrs = curl_slist_append(hdrs, ik);
	}
	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		hdrs = curl_slist_append(hdrs,
		                         "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text ? text : "");
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK)
		fprintf(stderr, "cairn: cannot reach cairnd at %s: %s\n",
		        o->url, curl_easy_strerror(rc));
	else
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	OPENSSL_cleanse(auth, sizeof(auth));
	free(text);
	return (int)status;
}

int
cli_call(const struct cli_opts *o, const char *method, const char *path,
         json_t *body, json_t **out)
{
	struct buf b = {0};
	int status = http_call(o, method, path, body, &b);

	*out = NULL;
	if (status >= 0 && b.len > 0)
		*out = json_loadb(b.p, b.len, 0, NULL);
	free(b.p);
	return status;
}

int
cli_call_text(const struct cli_opts *o, const char *method, const char *path,
              char **text)
{
	struct buf b = {0};
	int status = http_call(o, method, path, NULL, &b);

	*text = NULL;
	if (status >= 0 && b.p != NULL)
		*text = b.p;
	else
		free(b.p);
	return status;
}

/* Prints a problem+json reply and maps the status to an exit code. */
int
cli_fail_reply(int status, json_t *reply)
{
	const char *detail =
	        json_string_value(json_object_get(reply, "detail"));
	const char *title = json_string_value(json_object_get(reply, "title"));

	if (status < 0)
		return EXIT_UNREACHABLE;
	fprintf(stderr, "cairn: %d %s%s%s\n", status, title ? title : "",
	        detail ? ": " : "", detail ? detail : "");
	return status == 401 || status == 403 ? EXIT_AUTH : EXIT_FAIL;
}

void
cli_print_json(json_t *j)
{
	char *t = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (t != NULL)
		printf("%s\n", t);
	free(t);
}

/* --- commands ----------------------------------------------------------- */

static int
cmd_status(const struct cli_opts *o)
{
	json_t *ready = NULL, *who = NULL, *h = NULL;
	int hst, rst, wst = 0, code = EXIT_OK;

	hst = cli_call(o, "GET", "/healthz", NULL, &h);
	json_decref(h);
	if (hst < 0)
		return EXIT_UNREACHABLE;
	rst = cli_call(o, "GET", "/readyz", NULL, &ready);
	if (o->token != NULL)
		wst = cli_call(o, "GET", "/v1/whoami", NULL, &who);
	if (hst != 200 || rst != 200)
		code = EXIT_FAIL;
	if (o->token != NULL && wst != 200)
		code = wst == 401 || wst == 403 ? EXIT_AUTH : EXIT_FAIL;
	if (o->json) {
		json_t *out = json_pack("{s:s, s:b, s:b, s:O?, s:O?}", "url",
		                        o->url, "alive", hst == 200, "ready",
		                        rst == 200, "database", ready, "you",
		                        wst == 200 ? who : NULL);

		cli_print_json(out);
		json_decref(out);
	} else {
		printf("cairnd at %s: %s\n", o->url,
		       hst == 200 ? "alive" : "unwell");
		printf("database: %s\n", rst == 200 ? "writable" : "NOT ready");
		if (rst != 200)
			cli_fail_reply(rst, ready);
		if (o->token == NULL) {
			printf("token: none (set CAIRN_TOKEN or --token)\n");
		} else if (wst == 200) {
			const char *scope = json_string_value(
			        json_object_get(who, "scope"));

			printf("you: %s%s%s (token %s)\n",
			       json_string_value(json_object_get(who, "role")),
			       scope ? ", scope " : "", scope ? scope : "",
			       json_string_value(
			               json_object_get(who, "token_id")));
		}
	}
	if (o->token != NULL && wst != 200)
		cli_fail_reply(wst, who);
	json_decref(ready);
	json_decref(who);
	return code;
}

static int
is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
cmd_check(const char *path)
{
	struct config c;
	struct cairn_err err = {0};
	struct check_result r;
	char buf[1200];

	config_defaults(&c);
	if (is_dir(path)) {
		/* a definitions root such as examples/ */
		static const char *const kinds[] = {"workflows", "rules",
		                                    "adapters"};
		int found = 0;

		c.nworkflows = c.nrules = c.nadapters = 0;
		for (int i = 0; i < 3; i++) {
			char sub[CONFIG_PATH_MAX];

			if (snprintf(sub, sizeof(sub), "%s/%s", path,
			             kinds[i]) >= (int)sizeof(sub)) {
				fprintf(stderr, "%s: path too long\n", path);
				return EXIT_FAIL;
			}
			if (!is_dir(sub))
				continue;
			found++;
			if (i == 0)
				memcpy(c.workflows[c.nworkflows++], sub,
				       sizeof(sub));
			else if (i == 1)
				memcpy(c.rules[c.nrules++], sub, sizeof(sub));
			else
				memcpy(c.adapters[c.nadapters++], sub,
				       sizeof(sub));
		}
		/* the campus list beside them, when there is one */
		if (snprintf(c.campuses, sizeof(c.campuses), "%s/campuses.yaml",
		             path) >= (int)sizeof(c.campuses) ||
		    access(c.campuses, F_OK) != 0)
			c.campuses[0] = '\0';
		else
			found++;
		if (!found) {
			fprintf(stderr,
			        "%s: no workflows/, rules/ or adapters/ "
			        "directory here\n",
			        path);
			return EXIT_FAIL;
		}
	} else if (config_load(&c, path, &err) != 0) {
		cairn_err_format(&err, buf, sizeof(buf));
		fprintf(stderr, "%s\n", buf);
		return EXIT_FAIL;
	}
	check_definitions(&c, stderr, &r);
	/* rule sets: compiled in the sandbox and their tests run */
	for (int i = 0; r.errors == 0 && i < c.nrules; i++)
		r.errors += cli_rules_check(c.rules[i]);
	printf("%s: %d definition file(s), %d error(s), %d warning(s)\n", path,
	       r.files, r.errors, r.warnings);
	return r.errors ? EXIT_FAIL : EXIT_OK;
}

static int
token_create_offline(const struct cli_opts *o, enum role role)
{
	uv_loop_t loop;
	struct store *s;
	struct store_opts so = {.path = o->db};
	struct cairn_err err = {0};
	struct store_token t;
	struct store_batch *b;
	char token[AUTH_TOKEN_LEN + 1], msg[512], buf[1200];
	int rc;

	memset(&t, 0, sizeof(t));
	uv_loop_init(&loop);
	rc = store_open(&loop, &so, &s, &err);
	if (rc != 0) {
		cairn_err_format(&err, buf, sizeof(buf));
		fprintf(stderr, "cairn: %s\n", buf);
		uv_loop_close(&loop);
		return EXIT_FAIL;
	}
	if (auth_token_new(token, t.hash, t.id) != 0) {
		fprintf(stderr, "cairn: no randomness available\n");
		rc = -1;
	} else {
		snprintf(t.role, sizeof(t.role), "%s", auth_role_name(role));
		snprintf(t.scope, sizeof(t.scope), "%s",
		         o->scope ? o->scope : "");
		snprintf(t.label, sizeof(t.label), "%s",
		         o->label ? o->label : "created offline");
		t.created_at = cairn_now_ms();
		b = store_batch_new();
		if (b == NULL || store_batch_token_create(b, &t) != 0) {
			if (b)
				store_batch_free(b);
			rc = -1;
			snprintf(msg, sizeof(msg), "out of memory");
		} else {
			rc = store_batch_commit_sync(s, b, msg, sizeof(msg));
		}
		if (rc != 0)
			fprintf(stderr, "cairn: cannot store the token: %s\n",
			        msg);
	}
	store_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (rc != 0)
		return EXIT_FAIL;
	if (o->json) {
		json_t *j =
		        json_pack("{s:s, s:s, s:s, s:s}", "id", t.id, "token",
		                  token, "role", t.role, "scope", t.scope);

		cli_print_json(j);
		json_decref(j);
	} else {
		printf("%s\n", token);
		fprintf(stderr, "cairn: created token %s (role %s%s%s)\n", t.id,
		        t.role, t.scope[0] ? ", scope " : "", t.scope);
	}
	OPENSSL_cleanse(token, sizeof(token));
	return EXIT_OK;
}

static int
cmd_token(const struct cli_opts *o, int argc, char **argv)
{
	json_t *r = NULL, *body;
	int st;

	if (argc < 1) {
		command_help("token", stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[0], "create")) {
		enum role role;
		const char *why = NULL;

		if (o->role == NULL || auth_role_parse(o->role, &role) != 0) {
			fprintf(stderr,
			        "cairn: token create needs --role, one of "
			        "student, counselor, aid_officer, admissions, "
			        "institution, policy, admin\n");
			return EXIT_USAGE;
		}
		if (auth_scope_check(role, o->scope ? o->scope : "", &why)) {
			fprintf(stderr, "cairn: --scope for role %s: %s\n",
			        o->role, why);
			return EXIT_USAGE;
		}
		if (o->db != NULL)
			return token_create_offline(o, role);
		body = json_pack("{s:s}", "role", o->role);
		if (o->scope)
			json_object_set_new(body, "scope",
			                    json_string(o->scope));
		if (o->label)
			json_object_set_new(body, "label",
			                    json_string(o->label));
		st = cli_call(o, "POST", "/v1/tokens", body, &r);
		json_decref(body);
		if (st != 201) {
			int code = cli_fail_reply(st, r);

			json_decref(r);
			return code;
		}
		if (o->json)
			cli_print_json(r);
		else
			printf("%s\n",
			       json_string_value(json_object_get(r, "token")));
		json_decref(r);
		return EXIT_OK;
	}
	if (!strcmp(argv[0], "list")) {
		json_t *t;
		size_t i;

		st = cli_call(o, "GET", "/v1/tokens", NULL, &r);
		if (st != 200) {
			int code = cli_fail_reply(st, r);

			json_decref(r);
			return code;
		}
		if (o->json) {
			cli_print_json(r);
		} else {
			printf("%-21s %-12s %-24s %s\n", "ID", "ROLE", "SCOPE",
			       "STATE");
			json_array_foreach(json_object_get(r, "tokens"), i, t)
			{
				printf("%-21s %-12s %-24s %s\n",
				       json_string_value(
				               json_object_get(t, "id")),
				       json_string_value(
				               json_object_get(t, "role")),
				       json_string_value(
				               json_object_get(t, "scope")),
				       json_is_null(
				               json_object_get(t, "revoked_at"))
				               ? "active"
				               : "revoked");
			}
		}
		json_decref(r);
		return EXIT_OK;
	}
	if (!strcmp(argv[0], "revoke") && argc == 2) {
		char path[256];

		snprintf(path, sizeof(path), "/v1/tokens/%.64s", argv[1]);
		st = cli_call(o, "DELETE", path, NULL, &r);
		if (st != 204) {
			int code = cli_fail_reply(st, r);

			json_decref(r);
			return code;
		}
		fprintf(stderr, "cairn: revoked %s\n", argv[1]);
		return EXIT_OK;
	}
	command_help("token", stderr);
	return EXIT_USAGE;
}

/*
 * Takes --json, --url URL and --token TOKEN out of a group's arguments
 * (in place), so every group accepts them wherever they are. Returns the
 * arguments left, or -1 after saying a value is missing.
 */
static int
strip_globals(struct cli_opts *o, int argc, char **argv)
{
	int n = 0;

	for (int i = 0; i < argc; i++) {
		const char **slot = NULL;

		if (!strcmp(argv[i], "--json")) {
			o->json = 1;
			continue;
		}
		if (!strcmp(argv[i], "--url"))
			slot = &o->url;
		else if (!strcmp(argv[i], "--token"))
			slot = &o->token;
		if (slot == NULL) {
			argv[n++] = argv[i];
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "cairn: %s needs a value\n", argv[i]);
			return -1;
		}
		*slot = argv[++i];
	}
	return n;
}

int
main(int argc, char **argv)
{
	struct cli_opts o = {0};
	char *args[16];
	int nargs = 0, code;
	int group = -1, group_argc = 0, help = 0;
	char **group_argv = NULL;

	o.url = getenv("CAIRN_URL") ? getenv("CAIRN_URL")
	                            : "http://127.0.0.1:8080";
	o.token = getenv("CAIRN_TOKEN");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (!strcmp(a, "--url"))
			slot = &o.url;
		else if (!strcmp(a, "--token"))
			slot = &o.token;
		else if (!strcmp(a, "--db"))
			slot = &o.db;
		else if (!strcmp(a, "--role"))
			slot = &o.role;
		else if (!strcmp(a, "--scope"))
			slot = &o.scope;
		else if (!strcmp(a, "--label"))
			slot = &o.label;
		else if (!strcmp(a, "--subject"))
			slot = &o.subject;
		else if (!strcmp(a, "--data"))
			slot = &o.data;
		else if (!strcmp(a, "--workflow"))
			slot = &o.workflow;
		else if (!strcmp(a, "--status"))
			slot = &o.status;
		else if (!strcmp(a, "--queue"))
			slot = &o.queue;
		else if (!strcmp(a, "--idempotency-key"))
			slot = &o.idem;
		else if (!strcmp(a, "--json")) {
			o.json = 1;
			continue;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			help = 1;
			continue;
		} else if (a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "cairn: unknown option %s\n", a);
			return EXIT_USAGE;
		}
		if (slot != NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "cairn: %s needs a value\n", a);
				return EXIT_USAGE;
			}
			*slot = argv[++i];
			continue;
		}
		for (int g = 0; nargs == 0 && groups[g].name != NULL; g++)
			if (!strcmp(a, groups[g].name)) {
				group = g;
				group_argc = argc - i - 1;
				group_argv = argv + i + 1;
			}
		if (group >= 0)
			break;
		if (nargs == (int)(sizeof(args) / sizeof(args[0]))) {
			fprintf(stderr, "cairn: too many arguments\n");
			return EXIT_USAGE;
		}
		args[nargs++] = argv[i];
	}
	if (help && group < 0) {
		/* cairn --help, or cairn token --help: that command's */
		if (nargs == 0)
			usage(stdout);
		else
			command_help(args[0], stdout);
		return EXIT_OK;
	}
	if (group >= 0) {
		/* the global options may come after the command too:
		 * cairn cases list --json */
		group_argc = strip_globals(&o, group_argc, group_argv);
		if (group_argc < 0)
			return EXIT_USAGE;
	}
	if (o.token != NULL && o.token[0] == '\0')
		o.token = NULL;
	{
		/* "http://host:8080/" and "http://host:8080" are one place */
		static char url[1024];
		size_t n;

		snprintf(url, sizeof(url), "%s", o.url);
		n = strlen(url);
		while (n > 0 && url[n - 1] == '/')
			url[--n] = '\0';
		o.url = url;
	}
	if (group >= 0) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		code = groups[group].fn(&o, group_argc, group_argv);
		curl_global_cleanup();
		return code;
	}
	if (nargs == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!strcmp(args[0], "status") && nargs == 1)
		code = cmd_status(&o);
	else if (!strcmp(args[0], "check") && nargs == 2)
		code = cmd_check(args[1]);
	else if (!strcmp(args[0], "token"))
		code = cmd_token(&o, nargs - 1, args + 1);
	else if (!strcmp(args[0], "version")) {
		printf("cairn %s\n", CAIRN_VERSION);
		code = EXIT_OK;
	} else {
		usage(stderr);
		code = EXIT_USAGE;
	}
	curl_global_cleanup();
	return code;
}
