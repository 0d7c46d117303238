/*
 * registry.h - who may ask: agencies (ORI, category, certification,
 * suspension) and their users with API tokens, in DIR/registry.db.
 *
 * A token is `dmv_<id>_<secret>`: <id> is 12 lower-case hex digits naming
 * the user publicly (so a wrong secret can be attributed to a user for the
 * CJIS AC-7 lockout), <secret> is 32 random bytes in base64url.  Only
 * SHA-256 of the whole token is stored; it is shown once, at creation.
 *
 * Every change runs in one transaction that also bumps the `changes`
 * counter in `meta` (a running server polls it and reloads within a
 * second) and queues an audit record in `pending_audit`.  The caller then
 * tries to write the queued records to the audit log itself (CLI, no
 * server) or leaves them for the server, which drains the table.
 *
 * The server does not query SQLite per request: it authenticates against
 * a struct registry_cache, an in-memory snapshot reloaded on change.
 *
 * A struct registry is one SQLite connection; it is not thread-safe.
 * A struct registry_cache is thread-safe.
 */
#ifndef DMVGATE_REGISTRY_H
#define DMVGATE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define REGISTRY_ORI_LEN 9
#define REGISTRY_NAME_MAX 200        /* agency name, bytes */
#define REGISTRY_CATEGORY_MAX 64
#define REGISTRY_USERID_MAX 64       /* [A-Za-z0-9._@-]{1,64} */
#define REGISTRY_PUBID_LEN 12        /* hex digits of the token's public id */
#define REGISTRY_TOKEN_MAX 128       /* longest token accepted, with NUL */
#define REGISTRY_LOCK_FAILURES 5     /* CJIS AC-7: 5 invalid attempts ... */
#define REGISTRY_LOCK_WINDOW_US (15LL * 60 * 1000000)  /* ... in 15 minutes */
#define REGISTRY_DETAIL_MAX 2048
#define REGISTRY_DRAIN_BATCH 16      /* records per registry_drain call */

/* Results besides 0 / -1 (errors print a message on stderr). */
#define REGISTRY_EXISTS (-2)         /* the ORI or user id is taken */
#define REGISTRY_NOTFOUND (-3)       /* no such ORI or user */

struct registry;
struct registry_cache;

struct registry_agency {
	char ori[REGISTRY_ORI_LEN + 1];
	char name[REGISTRY_NAME_MAX + 1];
	char category[REGISTRY_CATEGORY_MAX + 1];
	int32_t certified_until;      /* day number (util_date_parse) */
	int suspended;
	int64_t created_us;
};

struct registry_user {
	char userid[REGISTRY_USERID_MAX + 1];
	char ori[REGISTRY_ORI_LEN + 1];
	char pubid[REGISTRY_PUBID_LEN + 1];
	int revoked;
	int locked;
	int64_t created_us;
};

/* An audit record of a registry change, as queued in pending_audit. */
struct registry_change {
	int64_t id;                   /* row id in pending_audit */
	int64_t time_us;
	char action[32];              /* e.g. "agency.add", "user.lock" */
	char ori[REGISTRY_ORI_LEN + 1];
	char userid[REGISTRY_USERID_MAX + 1];
	char detail[REGISTRY_DETAIL_MAX];
};

/* Default agency categories (used when no policy is available). */
extern const char *const registry_default_categories[];

/*
 * Validators.  An ORI is exactly 9 characters [A-Z0-9] whose first two are
 * a US state or territory code.  A user id is 1..64 of [A-Za-z0-9._@-].
 * Return 1 when valid, else 0.
 */
int registry_ori_valid(const char *ori);
int registry_userid_valid(const char *userid);

/*
 * Opens (creating if needed, with the schema) the registry database at
 * path.  NULL on error with a message on stderr.  Free with registry_close.
 */
struct registry *registry_open(const char *path);
void registry_close(struct registry *r);

/* Agencies.  a is copied.  Return 0, -1, REGISTRY_EXISTS or _NOTFOUND. */
int registry_agency_add(struct registry *r, const struct registry_agency *a);
int registry_agency_get(struct registry *r, const char *ori, struct registry_agency *out);
int registry_agency_set_suspended(struct registry *r, const char *ori, int suspended);
int registry_agency_certify(struct registry *r, const char *ori, int32_t until);
/* Calls cb for each agency in ORI order; cb returns non-zero to stop. */
/*
 * Binds (remove = 0) or unbinds (remove = 1) the client certificate whose
 * DER encoding has SHA-256 sha256 to agency ori (`agency bind-cert`,
 * docs/security.md): once an agency has a binding, its tokens authenticate
 * only over a TLS connection presenting one of its bound certificates.
 * Audited as agency.bind_cert / agency.unbind_cert.  Returns 0,
 * REGISTRY_NOTFOUND (no such agency, or no such binding to remove),
 * REGISTRY_EXISTS (already bound) or -1.
 */
int registry_agency_bind_cert(struct registry *r, const char *ori, const uint8_t sha256[32],
    int remove);
/* Copies up to max fingerprints bound to ori into out (caller's array);
 * returns how many are bound (may exceed max), or -1. */
int registry_agency_certs(struct registry *r, const char *ori, uint8_t (*out)[32], int max);
typedef int (*registry_agency_cb)(void *arg, const struct registry_agency *a);
int registry_agency_list(struct registry *r, registry_agency_cb cb, void *arg);

/*
 * Adds a user of agency ori and writes its new token (NUL-terminated) into
 * token (REGISTRY_TOKEN_MAX bytes); the caller shows it once and wipes it.
 * Returns 0, -1, REGISTRY_EXISTS (user id taken, even by a revoked user:
 * identifiers are never reused) or REGISTRY_NOTFOUND (no such agency).
 */
int registry_user_add(struct registry *r, const char *ori, const char *userid,
    char token[REGISTRY_TOKEN_MAX]);
int registry_user_get(struct registry *r, const char *userid, struct registry_user *out);
int registry_user_revoke(struct registry *r, const char *userid);
/* Clears the lock and the failure history.  0, -1 or REGISTRY_NOTFOUND. */
int registry_user_unlock(struct registry *r, const char *userid);
typedef int (*registry_user_cb)(void *arg, const struct registry_user *u);
/* Lists users, of one agency when ori is not NULL. */
int registry_user_list(struct registry *r, const char *ori, registry_user_cb cb, void *arg);

/* Row counts for /metrics: agencies and active (not revoked) users. */
int registry_counts(struct registry *r, int64_t *agencies, int64_t *users);

/* The change counter (bumped by every change); -1 on error. */
int64_t registry_changes(struct registry *r);

/*
 * Pending audit records of registry changes, oldest first.  cb returns 0
 * when the record is durably in the audit log (it is then deleted), non-
 * zero to stop.  Returns the number drained, or -1.
 */
typedef int (*registry_change_cb)(void *arg, const struct registry_change *c);
int registry_drain(struct registry *r, registry_change_cb cb, void *arg);

/*
 * For CLI commands: writes the queued audit records of registry changes to
 * the audit log of datadir with audit_append_once (registry_audit.c).
 * When a server holds the log they stay queued for it.  Returns the number
 * written, REGISTRY_QUEUED when the server will write them, or -1 (the
 * records stay queued; message on stderr).
 */
/*
 * Fills e with the audit entry of one queued change; its strings point
 * into c and t, which must outlive e.  Used by the CLI's flush and by the
 * server's drain, so both record a change the same way.
 */
struct audit_entry;
struct registry_entry_text {
	char qtype[32];
	char detail[REGISTRY_DETAIL_MAX + 40];
};
void registry_change_entry(const struct registry_change *c, struct audit_entry *e,
    struct registry_entry_text *t);

#define REGISTRY_QUEUED (-4)
int registry_flush_audit(struct registry *r, const char *datadir);
/* The same for a CLI command: says on stderr when records stay queued. */
void registry_cli_audit(struct registry *r, const char *datadir);

/*
 * Records one failed authentication of the user with public id pubid at
 * now_us; when it is the REGISTRY_LOCK_FAILURES-th within the window the
 * user is locked (and a "user.lock" change queued).  Stores 1 in *locked
 * when this call locked the user.  Returns 0, -1 or REGISTRY_NOTFOUND.
 */
int registry_auth_failure(struct registry *r, const char *pubid, int64_t now_us, int *locked);

/*
 * Locks the user with public id pubid (as the lockout does) for reason,
 * e.g. a policy limit with `then suspend`; an administrator releases it
 * with registry_user_unlock.  Returns 0, -1 or REGISTRY_NOTFOUND.
 */
int registry_user_lock(struct registry *r, const char *pubid, const char *reason);

/* ---- the server's in-memory snapshot ---- */

enum registry_auth {
	REGISTRY_AUTH_OK,
	REGISTRY_AUTH_MALFORMED,      /* not a dmv_ token at all */
	REGISTRY_AUTH_UNKNOWN,        /* no user with that public id */
	REGISTRY_AUTH_BAD_SECRET,     /* known user, wrong secret (counts to lockout) */
	REGISTRY_AUTH_REVOKED,
	REGISTRY_AUTH_LOCKED,
	REGISTRY_AUTH_SUSPENDED,      /* the agency is suspended */
	REGISTRY_AUTH_EXPIRED,        /* the agency's certification has expired */
	REGISTRY_AUTH_CERTIFICATE,    /* the agency is bound to client certificates (bind-cert)
	                               * and the connection presented none of them */
};

/* Who made a request, filled by registry_cache_auth (even on most failures
 * that name a user, so the audit entry can attribute them). */
struct registry_principal {
	char userid[REGISTRY_USERID_MAX + 1];
	char pubid[REGISTRY_PUBID_LEN + 1];
	char ori[REGISTRY_ORI_LEN + 1];
	char category[REGISTRY_CATEGORY_MAX + 1];
	char name[REGISTRY_NAME_MAX + 1];    /* the agency's name */
	int32_t certified_until;
	int locked;                          /* the user is locked already */
};

/*
 * Creates a cache loaded from r.  NULL on error.  The caller frees it with
 * registry_cache_free; r stays owned by the caller.
 */
struct registry_cache *registry_cache_new(struct registry *r);
void registry_cache_free(struct registry_cache *c);
/* Reloads the snapshot from r (atomically for readers).  0 or -1. */
int registry_cache_reload(struct registry_cache *c, struct registry *r);
/* Marks a user locked at once (before the next reload). */
void registry_cache_lock(struct registry_cache *c, const char *pubid);
int registry_cache_counts(struct registry_cache *c, int64_t *agencies, int64_t *users);

/*
 * Authenticates token (len bytes, untrusted) as of day `today`.  Fills p
 * as far as the token could be attributed.  Thread-safe; no I/O.
 */
enum registry_auth registry_cache_auth(struct registry_cache *c, const char *token,
    size_t len, int32_t today, struct registry_principal *p);
/*
 * The certificate binding check: returns 1 when agency ori has no bound
 * certificate, or when peer (SHA-256 of the DER certificate the client
 * presented, 32 bytes; NULL when none) is one of its bound certificates
 * (constant-time comparisons); 0 otherwise.  Thread-safe; no I/O.
 */
int registry_cache_cert_ok(struct registry_cache *c, const char *ori, const uint8_t *peer);
/* A short stable name for a result, e.g. "bad_secret". */
const char *registry_auth_name(enum registry_auth a);

#endif /* DMVGATE_REGISTRY_H */
