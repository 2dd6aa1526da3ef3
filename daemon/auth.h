/*
 * auth.h: tokens, roles, scopes, and the one authorization decision.
 *
 * A token is "cairn_" followed by 64 hex digits (256 random bits); only
 * its SHA-256 is stored. A principal is what a token resolves to: a role
 * and a scope (the student id for a student, the counselor id for a
 * counselor, the office or campus for aid_officer and admissions, the
 * adapter name for institution; none for admin and policy).
 */
#ifndef CAIRN_AUTH_H
#define CAIRN_AUTH_H

#include <stddef.h>
#include <stdint.h>

enum role {
	ROLE_STUDENT = 0,
	ROLE_COUNSELOR,
	ROLE_AID_OFFICER,
	ROLE_ADMISSIONS,
	ROLE_INSTITUTION,
	ROLE_POLICY,
	ROLE_ADMIN,
	ROLE_COUNT
};

#define ROLE_BIT(r) (1u << (r))
#define ROLES_ANY   ((1u << ROLE_COUNT) - 1)

#define AUTH_TOKEN_PREFIX "cairn_"
#define AUTH_TOKEN_LEN    (6 + 64)
#define AUTH_SCOPE_MAX    128

struct principal {
	enum role role;
	char scope[AUTH_SCOPE_MAX + 8];
	char token_id[32];
};

const char *auth_role_name(enum role r);
int auth_role_parse(const char *s, enum role *out); /* 0 or CAIRN_EINVALID */

/*
 * Whether scope suits role: admin and policy take none; every other role
 * needs one of 1..128 characters from [A-Za-z0-9._:@-]. On failure *why
 * says what is expected.
 */
int auth_scope_check(enum role r, const char *scope, const char **why);

/* A new token (NUL-terminated, AUTH_TOKEN_LEN chars), its hash, and a
 * public id ("tok_" + 16 hex). Returns 0 or CAIRN_ESTORE when the random
 * source fails. */
int auth_token_new(char token[AUTH_TOKEN_LEN + 1], uint8_t hash[32],
                   char id[32]);
void auth_token_hash(const char *token, size_t len, uint8_t hash[32]);

/*
 * Extracts the token from an Authorization header value ("Bearer <t>",
 * scheme case-insensitive). Returns 0 and sets *tok and *len, or -1 when the
 * header is not a well-formed bearer token of ours.
 */
int auth_bearer_parse(const char *header, const char **tok, size_t *len);

/*
 * Which of a role's records a route reaches: one column of the route x role
 * x scope matrix (the `scope` of each row of routes[] in daemon/api.c).
 * AUTH_SCOPE_UNSET for a role the row lets in is refused (fail closed).
 */
enum auth_scope {
	AUTH_SCOPE_UNSET = 0,
	AUTH_SCOPE_NONE,     /* no record scope: definitions, the role's
	                        own tools; everything for admin */
	AUTH_SCOPE_OWN,      /* a student's own records */
	AUTH_SCOPE_CASELOAD, /* a counselor's caseload (and own caseload) */
	AUTH_SCOPE_OFFICE,   /* records the aid officer's office owns */
	AUTH_SCOPE_CAMPUS,   /* records the admissions campus owns */
	AUTH_SCOPE_ADAPTER,  /* what concerns the institution's adapter */
	AUTH_SCOPE_COUNT
};

const char *auth_scope_name(enum auth_scope s);

/* What a request touches, for the scope check. NULL fields are absent. */
struct auth_resource {
	const char *subject;   /* the student a record belongs to */
	const char *owner;     /* the office or campus that owns it */
	const char *adapter;   /* the institution adapter it concerns */
	int in_caseload;       /* the subject is in the counselor's caseload */
	const char *counselor; /* the counselor whose caseload it is */
};

enum auth_decision {
	AUTH_ALLOW = 0,
	AUTH_FORBIDDEN, /* 403: the role may not do this */
	AUTH_HIDDEN,    /* 404: out of scope; do not confirm it exists */
};

/*
 * The single authorization decision every route goes through: the role
 * must be among allowed_roles (ROLE_BIT mask) with a scope set for it in
 * scopes (indexed by role), and when res is not NULL that scope must
 * cover res: AUTH_SCOPE_NONE covers everything; OWN a record whose subject
 * is the student; CASELOAD one whose subject is in the counselor's
 * caseload, or the counselor's own caseload; OFFICE and CAMPUS one the
 * principal's office or campus owns; ADAPTER one that concerns the
 * principal's adapter.
 */
enum auth_decision auth_authorize(const struct principal *p,
                                  unsigned allowed_roles,
                                  const unsigned char scopes[ROLE_COUNT],
                                  const struct auth_resource *res);

#endif
