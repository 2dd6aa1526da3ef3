/*
 * auth.c: token generation and hashing with OpenSSL's libcrypto, role and
 * scope vocabulary, and auth_authorize, the one place access is decided.
 */
#include "auth.h"

#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../common/cairn.h"

static const char *const role_names[ROLE_COUNT] = {
        [ROLE_STUDENT] = "student",
        [ROLE_COUNSELOR] = "counselor",
        [ROLE_AID_OFFICER] = "aid_officer",
        [ROLE_ADMISSIONS] = "admissions",
        [ROLE_INSTITUTION] = "institution",
        [ROLE_POLICY] = "policy",
        [ROLE_ADMIN] = "admin",
};

const char *
auth_role_name(enum role r)
{
	return (unsigned)r < ROLE_COUNT ? role_names[r] : "unknown";
}

int
auth_role_parse(const char *s, enum role *out)
{
	for (int i = 0; i < ROLE_COUNT; i++) {
		if (strcmp(s, role_names[i]) == 0) {
			*out = (enum role)i;
			return 0;
		}
	}
	return CAIRN_EINVALID;
}

int
auth_scope_check(enum role r, const char *scope, const char **why)
{
	size_t n = strlen(scope);

	if (r == ROLE_ADMIN || r == ROLE_POLICY) {
		if (n == 0)
			return 0;
		*why = "this role takes no scope";
		return CAIRN_EINVALID;
	}
	if (n == 0 || n > AUTH_SCOPE_MAX) {
		*why = "this role needs a scope of 1 to 128 characters "
		       "(student id, counselor id, office, campus or adapter)";
		return CAIRN_EINVALID;
	}
	for (size_t i = 0; i < n; i++) {
		char c = scope[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == ':' || c == '@' || c == '-')) {
			*why = "a scope may hold only letters, digits and . _ "
			       ": @ -";
			return CAIRN_EINVALID;
		}
	}
	return 0;
}

static void
hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void
auth_token_hash(const char *token, size_t len, uint8_t hash[32])
{
	unsigned int n = 32;

	EVP_Digest(token, len, hash, &n, EVP_sha256(), NULL);
}

int
auth_token_new(char token[AUTH_TOKEN_LEN + 1], uint8_t hash[32], char id[32])
{
	uint8_t secret[32], pub[8];

	if (RAND_bytes(secret, sizeof(secret)) != 1 ||
	    RAND_bytes(pub, sizeof(pub)) != 1)
		return CAIRN_ESTORE;
	memcpy(token, AUTH_TOKEN_PREFIX, 6);
	hex(secret, sizeof(secret), token + 6);
	OPENSSL_cleanse(secret, sizeof(secret));
	auth_token_hash(token, AUTH_TOKEN_LEN, hash);
	memcpy(id, "tok_", 4);
	hex(pub, sizeof(pub), id + 4);
	return 0;
}

int
auth_bearer_parse(const char *header, const char **tok, size_t *len)
{
	const char *t;
	size_t n;

	if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
		return -1;
	t = header + 7;
	while (*t == ' ')
		t++;
	n = strlen(t);
	while (n > 0 && t[n - 1] == ' ')
		n--;
	if (n != AUTH_TOKEN_LEN || memcmp(t, AUTH_TOKEN_PREFIX, 6) != 0)
		return -1;
	for (size_t i = 6; i < n; i++)
		if (!((t[i] >= '0' && t[i] <= '9') ||
		      (t[i] >= 'a' && t[i] <= 'f')))
			return -1;
	*tok = t;
	*len = n;
	return 0;
}

static int
same(const char *a, const char *b)
{
	size_t n = strlen(a);

	/* scopes are not secrets, but equal-time comparison costs nothing */
	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

static const char *const scope_names[AUTH_SCOPE_COUNT] = {
        [AUTH_SCOPE_UNSET] = "-",         [AUTH_SCOPE_NONE] = "none",
        [AUTH_SCOPE_OWN] = "own",         [AUTH_SCOPE_CASELOAD] = "caseload",
        [AUTH_SCOPE_OFFICE] = "office",   [AUTH_SCOPE_CAMPUS] = "campus",
        [AUTH_SCOPE_ADAPTER] = "adapter",
};

const char *
auth_scope_name(enum auth_scope s)
{
	return (unsigned)s < AUTH_SCOPE_COUNT ? scope_names[s] : "unknown";
}

static int
same_opt(const char *a, const char *b)
{
	return a != NULL && same(a, b);
}

enum auth_decision
auth_authorize(const struct principal *p, unsigned allowed_roles,
               const unsigned char scopes[ROLE_COUNT],
               const struct auth_resource *res)
{
	enum auth_scope s;

	if ((unsigned)p->role >= ROLE_COUNT ||
	    !(allowed_roles & ROLE_BIT(p->role)))
		return AUTH_FORBIDDEN;
	s = (enum auth_scope)scopes[p->role];
	/* a row that lets a role in without saying how far: refused */
	if (s == AUTH_SCOPE_UNSET || s >= AUTH_SCOPE_COUNT)
		return AUTH_FORBIDDEN;
	if (res == NULL || s == AUTH_SCOPE_NONE)
		return AUTH_ALLOW;
	switch (s) {
	case AUTH_SCOPE_OWN:
		return same_opt(res->subject, p->scope) ? AUTH_ALLOW
		                                        : AUTH_HIDDEN;
	case AUTH_SCOPE_CASELOAD:
		return (res->subject && res->in_caseload) ||
		                       same_opt(res->counselor, p->scope)
		               ? AUTH_ALLOW
		               : AUTH_HIDDEN;
	case AUTH_SCOPE_OFFICE:
	case AUTH_SCOPE_CAMPUS:
		return same_opt(res->owner, p->scope) ? AUTH_ALLOW
		                                      : AUTH_HIDDEN;
	case AUTH_SCOPE_ADAPTER:
		return same_opt(res->adapter, p->scope) ? AUTH_ALLOW
		                                        : AUTH_HIDDEN;
	default:
		return AUTH_HIDDEN;
	}
}
