/*
 * policy.h - the policy language and decision engine (issue 3).
 *
 * A policy file (docs/policy.md) declares agency categories, purposes,
 * legal-process kinds, item groups and `never` items, then `forbid` and
 * `permit` rules and `limit` statements.  policy_load() parses and checks
 * it and compiles it into an immutable struct policy: every name is
 * interned to a small integer, every set is a 64-bit mask, so that
 * policy_decide() allocates nothing and compares no strings.
 *
 * Semantics: default deny; any matching forbid denies (the decision names
 * every matching forbid); otherwise every matching permit is named and the
 * released fields are the union of their `release` items (intersected with
 * the legal process's items where a rule releases `process.items`), minus
 * the `never` items, restricted to the record type asked for.  A load error,
 * an unknown name or an evaluation error denies (fail closed).
 *
 * Thread safety: a struct policy is immutable once loaded and may be used by
 * any number of threads at once.  struct policy_handle gives the server an
 * atomic swap for SIGHUP reloads.
 */
#ifndef DMVGATE_POLICY_H
#define DMVGATE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "field.h"

/* Input limits (checked at load; exceeding one is a load error). */
#define POLICY_MAX_FILE (1024 * 1024)   /* bytes of policy text */
#define POLICY_MAX_NAME 64              /* bytes in a name */
#define POLICY_MAX_STRING 256           /* bytes in a quoted string */
#define POLICY_MAX_DEPTH 32             /* nesting of ( ) and not */
#define POLICY_MAX_RULES 1024           /* forbid + permit rules */
#define POLICY_MAX_LIMITS 256           /* limit statements */
#define POLICY_MAX_NAMES 63             /* categories, purposes or process kinds */
#define POLICY_MAX_GROUPS 256           /* item groups */
#define POLICY_MAX_ERRORS 100           /* error lines kept in policy_errors */
/* At most this many rules are named in one decision. */
#define POLICY_MAX_DECIDING 64

/* Query type. */
#define POLICY_TYPE_DRIVER 0
#define POLICY_TYPE_VEHICLE 1

/* How the subject is looked up (`by`).  FACE (search by a face image) is
 * not offered by the API; it exists so that a policy can refuse it. */
#define POLICY_BY_LICENSE 0
#define POLICY_BY_NAME_DOB 1
#define POLICY_BY_PLATE 2
#define POLICY_BY_VIN 3
#define POLICY_BY_ADDRESS 4
#define POLICY_BY_LICENSE_KIND 5
#define POLICY_BY_FACE 6
#define POLICY_BY_COUNT 7

/* Requested extras (bits of policy_request.extras). */
#define POLICY_EXTRA_PHOTO 0x1u

/*
 * Errors collected while loading: every error as one line
 * "FILE:LINE:COL: message\n" in text (NUL-terminated), at most
 * POLICY_MAX_ERRORS lines kept; count is the number found.
 * Initialize with policy_errors_init, release with policy_errors_free.
 */
struct policy_errors {
	int count;
	char *text;       /* malloc'd, owned by the struct; NULL when empty */
	size_t len, cap;
};
void policy_errors_init(struct policy_errors *e);
void policy_errors_free(struct policy_errors *e);

struct policy;   /* compiled policy, immutable, opaque */

/*
 * Loads and compiles the policy file at path.  Returns a new policy (the
 * caller owns it: policy_free, or hand it to a policy_handle), or NULL when
 * the file cannot be read or has any error; every error is appended to errs
 * (may be NULL) as "path:line:col: message".
 */
struct policy *policy_load(const char *path, struct policy_errors *errs);
/*
 * Same from memory: name is used in messages, buf need not be
 * NUL-terminated and is not kept (the policy copies what it needs).
 */
struct policy *policy_load_mem(const char *name, const char *buf, size_t len,
    struct policy_errors *errs);
/* Frees a policy (NULL is fine).  Not for a policy held by a handle. */
void policy_free(struct policy *p);

/* Counts: rules (forbid and permit, in file order) and limit statements. */
int policy_nrules(const struct policy *p);
int policy_nlimits(const struct policy *p);
/* Lowercase hex SHA-256 of the policy text (65 bytes with the NUL), owned
 * by the policy; for the audit log and `policy check`. */
const char *policy_digest(const struct policy *p);

/*
 * Name interning, done once per request by the caller (not on the decision
 * path).  name is NUL-terminated and not kept; returns the id, or -1 when
 * the policy does not declare that name.  policy_by_id and policy_type_id
 * take the fixed names (license, name_dob, ...; driver, vehicle);
 * policy_items_mask parses a comma-separated list of fields and item groups
 * into *out (0 on success, -1 on an unknown name).
 */
int policy_category_id(const struct policy *p, const char *name);
int policy_purpose_id(const struct policy *p, const char *name);
int policy_process_kind_id(const struct policy *p, const char *name);
int policy_by_id(const char *name);
int policy_type_id(const char *name);
int policy_items_mask(const struct policy *p, const char *list, field_mask *out);
/* The names behind ids (NULL when out of range); owned by the policy. */
const char *policy_category_name(const struct policy *p, int id);
const char *policy_purpose_name(const struct policy *p, int id);
const char *policy_process_kind_name(const struct policy *p, int id);
const char *policy_by_name(int by);

/* One request, every name already interned. */
struct policy_request {
	int category;              /* agency category id */
	char ori[10];              /* agency ORI, NUL-terminated ("" if none) */
	int certified;             /* agency certification current: 1 / 0 */
	int purpose;               /* purpose id */
	int type;                  /* POLICY_TYPE_* */
	int by;                    /* POLICY_BY_* */
	unsigned extras;           /* POLICY_EXTRA_* bits */
	int process_kind;          /* legal-process kind id, -1 when none cited */
	int process_valid;         /* registered, in force: 1 / 0 */
	int process_issued_to_agency;  /* issued to this agency: 1 / 0 */
	int process_covers_subject;    /* names this subject: 1 / 0 */
	field_mask process_items;  /* the data items the process names */
};

/* Notice deadline units. */
#define POLICY_NOTIFY_DAYS 1
#define POLICY_NOTIFY_BUSINESS_DAYS 2

struct policy_decision {
	int permit;                /* 1 permit, 0 deny */
	int error;                 /* nonzero: evaluation error, permit is 0 */
	int nrules;                /* deciding rules: every matching forbid on a
				      deny, every matching permit on a permit */
	uint16_t rules[POLICY_MAX_DECIDING];  /* rule indexes, file order */
	field_mask released;       /* exactly the fields to release (0 on deny) */
	int notify_days;           /* 0: no notice due; else within N ... */
	int notify_unit;           /* ... POLICY_NOTIFY_DAYS or _BUSINESS_DAYS */
	int notify_rule;           /* rule that imposed the notice, -1 if none */
};

/*
 * Decides req under p and fills *out.  Returns 0, or -1 on an evaluation
 * error (NULL argument, an id out of range): then *out is a deny with
 * error set.  Allocates nothing; safe from any number of threads.
 * Notices are due whenever a matching rule carries `notify` (forbid or
 * permit, whatever the decision): the shortest deadline wins.
 */
int policy_decide(const struct policy *p, const struct policy_request *req,
    struct policy_decision *out);

/* Rule data, by index 0..nrules-1 (NULL / -1 when out of range); strings
 * are owned by the policy. */
const char *policy_rule_id(const struct policy *p, int rule);
const char *policy_rule_cite(const struct policy *p, int rule);
int policy_rule_is_forbid(const struct policy *p, int rule);
int policy_rule_line(const struct policy *p, int rule);

/* limit statements, for the anti-bulk module. */
enum policy_limit_scope { POLICY_LIMIT_USER, POLICY_LIMIT_AGENCY };
enum policy_limit_what {
	POLICY_LIMIT_QUERIES,            /* requests */
	POLICY_LIMIT_SUBJECTS,           /* distinct subjects */
	POLICY_LIMIT_PEOPLE_AT_ADDRESS,  /* distinct people at one address */
	POLICY_LIMIT_MISSES              /* requests that matched no record */
};
enum policy_limit_action { POLICY_LIMIT_DENY, POLICY_LIMIT_SUSPEND };
struct policy_limit {
	const char *id;            /* "sweep"; owned by the policy */
	const char *cite;          /* "" when none */
	enum policy_limit_scope scope;
	enum policy_limit_what what;
	uint32_t count;            /* at most count ... */
	uint32_t window;           /* ... per window seconds */
	enum policy_limit_action action;  /* what happens beyond count */
	int line;                  /* where it was declared */
};
/* The i-th limit statement (file order), owned by the policy; NULL when
 * i is out of range. */
const struct policy_limit *policy_limit(const struct policy *p, int i);

/*
 * Explain support (for `policy explain`, not the hot path): evaluates rule
 * against req and writes a one-paragraph account into out (size outsz,
 * NUL-terminated, truncated if needed): whether it matched and which
 * condition decided it, with its line:col and source text.  Returns 1
 * matched, 0 not matched, -1 evaluation error.
 */
int policy_explain_rule(const struct policy *p, int rule,
    const struct policy_request *req, char *out, size_t outsz);

/*
 * The atomic swap for reloads.  A handle holds the current policy; a
 * reader takes a counted reference with policy_handle_acquire and gives it
 * back with policy_release; the policy stays valid in between even if a
 * reload swaps in a new one.  Thread safe.
 */
struct policy_handle;
/* Creates a handle owning p (must not be NULL).  NULL on allocation failure
 * (p is then freed). */
struct policy_handle *policy_handle_new(struct policy *p);
/* Frees the handle and drops its reference (readers may still hold theirs). */
void policy_handle_free(struct policy_handle *h);
/* Returns the current policy with a reference the caller must release. */
const struct policy *policy_handle_acquire(struct policy_handle *h);
/* Drops a reference from policy_handle_acquire (NULL is fine). */
void policy_release(const struct policy *p);
/*
 * Loads path; on success swaps it in (the old policy is freed when its last
 * reader releases it) and returns 0.  On any error keeps the old policy,
 * appends the errors to errs and returns -1.
 */
int policy_handle_reload(struct policy_handle *h, const char *path,
    struct policy_errors *errs);

#endif /* DMVGATE_POLICY_H */
