/*
 * registry.c - agencies, users and tokens in DIR/registry.db (see
 * registry.h), and the server's in-memory snapshot used to authenticate
 * every request without touching SQLite.
 *
 * Every statement is prepared once in registry_open from the table below
 * (an allow-list: no SQL is built from input; sqldb.h has the open,
 * prepare, step and bind helpers shared with notice.c and process.c).  A
 * change runs in one IMMEDIATE transaction that bumps meta.changes and
 * queues its audit record, so the change and its audit obligation commit
 * together.
 */
#include "registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nettle/sha2.h>
#include <sqlite3.h>

#include "sqldb.h"

#define REGISTRY_SCHEMA_VERSION 1

const char *const registry_default_categories[] = {
	"local_police", "state_police", "federal_criminal", "federal_immigration",
	"court", "insurer", "employer_cdl", "tow_operator", "dmv", "researcher", NULL
};

static const char *const state_codes[] = {
	"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID",
	"IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS",
	"MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK",
	"OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
	"WI", "WY", "DC", "AS", "GU", "MP", "PR", "VI",
};

static const char schema[] =
	"PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);"
	"CREATE TABLE IF NOT EXISTS agencies("
	" ori TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL,"
	" certified_until INTEGER NOT NULL, suspended INTEGER NOT NULL DEFAULT 0,"
	" created_us INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS users("
	" userid TEXT PRIMARY KEY, ori TEXT NOT NULL REFERENCES agencies(ori),"
	" pubid TEXT NOT NULL UNIQUE, token_sha256 BLOB NOT NULL,"
	" revoked INTEGER NOT NULL DEFAULT 0, locked INTEGER NOT NULL DEFAULT 0,"
	" created_us INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS auth_failures("
	" pubid TEXT NOT NULL, time_us INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS auth_failures_pubid ON auth_failures(pubid, time_us);"
	"CREATE TABLE IF NOT EXISTS pending_audit("
	" id INTEGER PRIMARY KEY, time_us INTEGER NOT NULL, action TEXT NOT NULL,"
	" ori TEXT NOT NULL, userid TEXT NOT NULL, detail TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS agency_certs("
	" ori TEXT NOT NULL REFERENCES agencies(ori), sha256 BLOB NOT NULL,"
	" created_us INTEGER NOT NULL, PRIMARY KEY(ori, sha256));"
	"INSERT OR IGNORE INTO meta(key, value) VALUES('registry_schema', 1);"
	"INSERT OR IGNORE INTO meta(key, value) VALUES('changes', 0);";

enum stmt {
	S_BEGIN, S_COMMIT, S_ROLLBACK, S_BUMP, S_CHANGES, S_QUEUE,
	S_AGENCY_ADD, S_AGENCY_GET, S_AGENCY_LIST, S_AGENCY_SUSPEND, S_AGENCY_CERTIFY,
	S_USER_ADD, S_USER_GET, S_USER_LIST, S_USER_LIST_ORI, S_USER_REVOKE,
	S_USER_UNLOCK, S_FAIL_CLEAR, S_FAIL_ADD, S_FAIL_COUNT, S_USER_BY_PUBID,
	S_USER_LOCK, S_PENDING, S_PENDING_DEL, S_COUNT_AGENCIES, S_COUNT_USERS,
	S_CACHE_USERS, S_CERT_ADD, S_CERT_DEL, S_CACHE_CERTS,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_BUMP] = "UPDATE meta SET value = value + 1 WHERE key = 'changes'",
	[S_CHANGES] = "SELECT value FROM meta WHERE key = 'changes'",
	[S_QUEUE] = "INSERT INTO pending_audit(time_us, action, ori, userid, detail)"
		    " VALUES(?1, ?2, ?3, ?4, ?5)",
	[S_AGENCY_ADD] = "INSERT INTO agencies(ori, name, category, certified_until,"
			 " suspended, created_us) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[S_AGENCY_GET] = "SELECT ori, name, category, certified_until, suspended, created_us"
			 " FROM agencies WHERE ori = ?1",
	[S_AGENCY_LIST] = "SELECT ori, name, category, certified_until, suspended, created_us"
			  " FROM agencies ORDER BY ori",
	[S_AGENCY_SUSPEND] = "UPDATE agencies SET suspended = ?2 WHERE ori = ?1",
	[S_AGENCY_CERTIFY] = "UPDATE agencies SET certified_until = ?2 WHERE ori = ?1",
	[S_USER_ADD] = "INSERT INTO users(userid, ori, pubid, token_sha256, created_us)"
		       " VALUES(?1, ?2, ?3, ?4, ?5)",
	[S_USER_GET] = "SELECT userid, ori, pubid, revoked, locked, created_us"
		       " FROM users WHERE userid = ?1",
	[S_USER_LIST] = "SELECT userid, ori, pubid, revoked, locked, created_us"
			" FROM users ORDER BY ori, userid",
	[S_USER_LIST_ORI] = "SELECT userid, ori, pubid, revoked, locked, created_us"
			    " FROM users WHERE ori = ?1 ORDER BY userid",
	[S_USER_REVOKE] = "UPDATE users SET revoked = 1 WHERE userid = ?1",
	[S_USER_UNLOCK] = "UPDATE users SET locked = 0 WHERE userid = ?1",
	[S_FAIL_CLEAR] = "DELETE FROM auth_failures WHERE pubid = ?1",
	[S_FAIL_ADD] = "INSERT INTO auth_failures(pubid, time_us) VALUES(?1, ?2)",
	[S_FAIL_COUNT] = "SELECT count(*) FROM auth_failures WHERE pubid = ?1 AND time_us > ?2",
	[S_USER_BY_PUBID] = "SELECT userid, ori, locked FROM users WHERE pubid = ?1",
	[S_USER_LOCK] = "UPDATE users SET locked = 1 WHERE pubid = ?1",
	[S_PENDING] = "SELECT id, time_us, action, ori, userid, detail FROM pending_audit"
		      " ORDER BY id LIMIT 16",
	[S_PENDING_DEL] = "DELETE FROM pending_audit WHERE id = ?1",
	[S_COUNT_AGENCIES] = "SELECT count(*) FROM agencies",
	[S_COUNT_USERS] = "SELECT count(*) FROM users WHERE revoked = 0",
	[S_CACHE_USERS] = "SELECT u.pubid, u.userid, u.token_sha256, u.revoked, u.locked,"
			  " a.ori, a.category, a.certified_until, a.suspended, a.name"
			  " FROM users u JOIN agencies a ON a.ori = u.ori ORDER BY u.pubid",
	[S_CERT_ADD] = "INSERT OR IGNORE INTO agency_certs(ori, sha256, created_us)"
		       " SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM agencies WHERE ori = ?1)",
	[S_CERT_DEL] = "DELETE FROM agency_certs WHERE ori = ?1 AND sha256 = ?2",
	[S_CACHE_CERTS] = "SELECT ori, sha256 FROM agency_certs ORDER BY ori",
};

struct registry {
	struct sqldb d;              /* registry.db and the statements below */
	sqlite3_stmt *st[S_COUNT];
};

int
registry_ori_valid(const char *ori)
{
	if (ori == NULL || strlen(ori) != REGISTRY_ORI_LEN)
		return 0;
	for (size_t i = 0; i < REGISTRY_ORI_LEN; i++) {
		char c = ori[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return 0;
	}
	for (size_t i = 0; i < UTIL_NELEM(state_codes); i++)
		if (ori[0] == state_codes[i][0] && ori[1] == state_codes[i][1])
			return 1;
	return 0;
}

int
registry_userid_valid(const char *u)
{
	size_t n;

	if (u == NULL)
		return 0;
	n = strlen(u);
	if (n == 0 || n > REGISTRY_USERID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = u[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' || c == '-'))
			return 0;
	}
	return 1;
}

void
registry_close(struct registry *r)
{
	if (r == NULL)
		return;
	sqldb_close(&r->d);
	free(r);
}

struct registry *
registry_open(const char *path)
{
	struct registry *r = util_calloc(1, sizeof *r);

	if (r == NULL)
		return NULL;
	if (sqldb_open(&r->d, path, SQLDB_CREATE, schema, stmt_sql, r->st, S_COUNT, "registry") < 0) {
		free(r);
		return NULL;
	}
	return r;
}

static void
dberr(struct registry *r, const char *what)
{
	sqldb_err(&r->d, what);
}

/* Statement s, reset and ready for new bindings. */
static sqlite3_stmt *
stmt(struct registry *r, enum stmt s)
{
	return sqldb_stmt(&r->d, (int)s);
}

/* Runs statement s once, with no bindings. */
static int
exec1(struct registry *r, enum stmt s)
{
	(void)sqldb_stmt(&r->d, (int)s);
	return sqldb_exec(&r->d, (int)s);
}

static int
begin(struct registry *r)
{
	return exec1(r, S_BEGIN);
}

/* Queues the audit record, bumps the counter and commits. */
static int
commit_change(struct registry *r, const char *action, const char *ori,
    const char *userid, const char *detail)
{
	sqlite3_stmt *q = stmt(r, S_QUEUE);
	int rc;

	sqlite3_bind_int64(q, 1, util_now_us());
	sqldb_bind_text(q, 2, action);
	sqldb_bind_text(q, 3, ori);        /* NULL binds as "" */
	sqldb_bind_text(q, 4, userid);
	sqldb_bind_text(q, 5, detail);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		dberr(r, "queue audit record");
		goto fail;
	}
	if (exec1(r, S_BUMP) < 0 || exec1(r, S_COMMIT) < 0)
		goto fail;
	return 0;
fail:
	(void)exec1(r, S_ROLLBACK);
	return -1;
}

static void
rollback(struct registry *r)
{
	(void)exec1(r, S_ROLLBACK);
}

/* Column col into dst like sqldb_copy_col, except that text too long is
 * kept truncated rather than emptied: free-text details of audit records. */
static void
copy_detail(sqlite3_stmt *q, int col, char *dst, size_t dstsz)
{
	const unsigned char *t = sqlite3_column_text(q, col);

	if (util_strlcpy(dst, t != NULL ? (const char *)t : "", dstsz) < 0) {
		/* truncated, which is what we want here */
	}
}

static void
read_agency(sqlite3_stmt *q, struct registry_agency *a)
{
	memset(a, 0, sizeof *a);
	sqldb_copy_col(q, 0, a->ori, sizeof a->ori);
	sqldb_copy_col(q, 1, a->name, sizeof a->name);
	sqldb_copy_col(q, 2, a->category, sizeof a->category);
	a->certified_until = (int32_t)sqlite3_column_int(q, 3);
	a->suspended = sqlite3_column_int(q, 4);
	a->created_us = sqlite3_column_int64(q, 5);
}

static void
read_user(sqlite3_stmt *q, struct registry_user *u)
{
	memset(u, 0, sizeof *u);
	sqldb_copy_col(q, 0, u->userid, sizeof u->userid);
	sqldb_copy_col(q, 1, u->ori, sizeof u->ori);
	sqldb_copy_col(q, 2, u->pubid, sizeof u->pubid);
	u->revoked = sqlite3_column_int(q, 3);
	u->locked = sqlite3_column_int(q, 4);
	u->created_us = sqlite3_column_int64(q, 5);
}

int
registry_agency_add(struct registry *r, const struct registry_agency *a)
{
	sqlite3_stmt *q;
	char detail[REGISTRY_DETAIL_MAX], date[11];
	int rc;

	if (!registry_ori_valid(a->ori)) {
		util_errx("registry: invalid ORI");
		return -1;
	}
	if (begin(r) < 0)
		return -1;
	q = stmt(r, S_AGENCY_ADD);
	sqldb_bind_text(q, 1, a->ori);
	sqldb_bind_text(q, 2, a->name);
	sqldb_bind_text(q, 3, a->category);
	sqlite3_bind_int(q, 4, a->certified_until);
	sqlite3_bind_int(q, 5, a->suspended ? 1 : 0);
	sqlite3_bind_int64(q, 6, util_now_us());
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc == SQLITE_CONSTRAINT) {
		rollback(r);
		return REGISTRY_EXISTS;
	}
	if (rc != SQLITE_DONE) {
		dberr(r, "agency add");
		rollback(r);
		return -1;
	}
	util_date_format(a->certified_until, date);
	snprintf(detail, sizeof detail, "category=%s certified_until=%s", a->category, date);
	return commit_change(r, "agency.add", a->ori, NULL, detail);
}

int
registry_agency_get(struct registry *r, const char *ori, struct registry_agency *out)
{
	sqlite3_stmt *q = stmt(r, S_AGENCY_GET);
	int rc;

	sqldb_bind_text(q, 1, ori);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		read_agency(q, out);
		sqlite3_reset(q);
		return 0;
	}
	sqlite3_reset(q);
	if (rc == SQLITE_DONE)
		return REGISTRY_NOTFOUND;
	dberr(r, "agency get");
	return -1;
}

/* Runs an UPDATE keyed by its first parameter within a change. */
static int
update_change(struct registry *r, enum stmt s, const char *key, int64_t val,
    const char *action, const char *ori, const char *userid, const char *detail)
{
	sqlite3_stmt *q;
	int rc;

	if (begin(r) < 0)
		return -1;
	q = stmt(r, s);
	sqldb_bind_text(q, 1, key);
	if (sqlite3_bind_parameter_count(q) >= 2)
		sqlite3_bind_int64(q, 2, val);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		dberr(r, action);
		rollback(r);
		return -1;
	}
	if (sqlite3_changes(r->d.db) == 0) {
		rollback(r);
		return REGISTRY_NOTFOUND;
	}
	return commit_change(r, action, ori, userid, detail);
}

int
registry_agency_set_suspended(struct registry *r, const char *ori, int suspended)
{
	return update_change(r, S_AGENCY_SUSPEND, ori, suspended ? 1 : 0,
	    suspended ? "agency.suspend" : "agency.resume", ori, NULL, "");
}

int
registry_agency_certify(struct registry *r, const char *ori, int32_t until)
{
	char detail[64], date[11];

	util_date_format(until, date);
	snprintf(detail, sizeof detail, "certified_until=%s", date);
	return update_change(r, S_AGENCY_CERTIFY, ori, until, "agency.certify", ori, NULL, detail);
}

int
registry_agency_bind_cert(struct registry *r, const char *ori, const uint8_t sha256[32],
    int remove)
{
	struct registry_agency a;
	sqlite3_stmt *q;
	char detail[96];
	int rc;

	if ((rc = registry_agency_get(r, ori, &a)) != 0)
		return rc;
	memcpy(detail, "sha256=", 7);
	util_hex(sha256, 32, detail + 7);
	if (begin(r) < 0)
		return -1;
	q = stmt(r, remove ? S_CERT_DEL : S_CERT_ADD);
	sqldb_bind_text(q, 1, ori);
	sqlite3_bind_blob(q, 2, sha256, 32, SQLITE_STATIC);
	if (!remove)
		sqlite3_bind_int64(q, 3, util_now_us());
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		dberr(r, "agency bind-cert");
		rollback(r);
		return -1;
	}
	if (sqlite3_changes(r->d.db) == 0) {
		rollback(r);
		return remove ? REGISTRY_NOTFOUND : REGISTRY_EXISTS;
	}
	return commit_change(r, remove ? "agency.unbind_cert" : "agency.bind_cert", ori, NULL,
	    detail);
}

int
registry_agency_certs(struct registry *r, const char *ori, uint8_t (*out)[32], int max)
{
	sqlite3_stmt *q = stmt(r, S_CACHE_CERTS);
	int n = 0, rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const unsigned char *o = sqlite3_column_text(q, 0);
		if (o == NULL || strcmp((const char *)o, ori) != 0 ||
		    sqlite3_column_bytes(q, 1) != 32)
			continue;
		if (n < max)
			memcpy(out[n], sqlite3_column_blob(q, 1), 32);
		n++;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		dberr(r, "agency certs");
		return -1;
	}
	return n;
}

int
registry_agency_list(struct registry *r, registry_agency_cb cb, void *arg)
{
	sqlite3_stmt *q = stmt(r, S_AGENCY_LIST);
	struct registry_agency a;
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		read_agency(q, &a);
		if (cb(arg, &a) != 0)
			break;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		dberr(r, "agency list");
		return -1;
	}
	return 0;
}

static void
b64url(const uint8_t *in, size_t n, char *out)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = al[v >> 18 & 63];
		out[o++] = al[v >> 12 & 63];
		out[o++] = al[v >> 6 & 63];
		out[o++] = al[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = al[v >> 18 & 63];
		out[o++] = al[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = al[v >> 18 & 63];
		out[o++] = al[v >> 12 & 63];
		out[o++] = al[v >> 6 & 63];
	}
	out[o] = '\0';
}

static void
sha256(const void *p, size_t n, uint8_t out[SHA256_DIGEST_SIZE])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, n, p);
	sha256_digest(&c, SHA256_DIGEST_SIZE, out);
}

int
registry_user_add(struct registry *r, const char *ori, const char *userid,
    char token[REGISTRY_TOKEN_MAX])
{
	uint8_t pub[REGISTRY_PUBID_LEN / 2], secret[32], hash[SHA256_DIGEST_SIZE];
	char pubhex[REGISTRY_PUBID_LEN + 1], sec64[48];
	struct registry_agency a;
	sqlite3_stmt *q;
	int rc, ret = -1;

	token[0] = '\0';
	if (!registry_userid_valid(userid)) {
		util_errx("registry: invalid user id (1-%d of A-Z a-z 0-9 . _ @ -)",
		    REGISTRY_USERID_MAX);
		return -1;
	}
	rc = registry_agency_get(r, ori, &a);
	if (rc != 0)
		return rc;
	for (int attempt = 0; attempt < 4; attempt++) {
		if (util_random(pub, sizeof pub) < 0 || util_random(secret, sizeof secret) < 0) {
			util_warn("registry: random");
			goto out;
		}
		util_hex(pub, sizeof pub, pubhex);
		b64url(secret, sizeof secret, sec64);
		snprintf(token, REGISTRY_TOKEN_MAX, "dmv_%s_%s", pubhex, sec64);
		sha256(token, strlen(token), hash);
		if (begin(r) < 0)
			goto out;
		q = stmt(r, S_USER_GET);
		sqldb_bind_text(q, 1, userid);
		rc = sqlite3_step(q);
		sqlite3_reset(q);
		if (rc == SQLITE_ROW) {
			rollback(r);
			ret = REGISTRY_EXISTS;
			goto out;
		}
		q = stmt(r, S_USER_ADD);
		sqldb_bind_text(q, 1, userid);
		sqldb_bind_text(q, 2, ori);
		sqldb_bind_text(q, 3, pubhex);
		sqlite3_bind_blob(q, 4, hash, sizeof hash, SQLITE_STATIC);
		sqlite3_bind_int64(q, 5, util_now_us());
		rc = sqlite3_step(q);
		sqlite3_reset(q);
		if (rc == SQLITE_CONSTRAINT) {     /* public id collision: retry */
			rollback(r);
			continue;
		}
		if (rc != SQLITE_DONE) {
			dberr(r, "user add");
			rollback(r);
			goto out;
		}
		ret = commit_change(r, "user.add", ori, userid, "");
		goto out;
	}
	util_errx("registry: could not allocate a token id");
out:
	util_wipe(secret, sizeof secret);
	util_wipe(sec64, sizeof sec64);
	if (ret != 0)
		util_wipe(token, REGISTRY_TOKEN_MAX);
	return ret;
}

int
registry_user_get(struct registry *r, const char *userid, struct registry_user *out)
{
	sqlite3_stmt *q = stmt(r, S_USER_GET);
	int rc;

	sqldb_bind_text(q, 1, userid);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		read_user(q, out);
		sqlite3_reset(q);
		return 0;
	}
	sqlite3_reset(q);
	if (rc == SQLITE_DONE)
		return REGISTRY_NOTFOUND;
	dberr(r, "user get");
	return -1;
}

int
registry_user_revoke(struct registry *r, const char *userid)
{
	struct registry_user u;
	int rc = registry_user_get(r, userid, &u);

	if (rc != 0)
		return rc;
	return update_change(r, S_USER_REVOKE, userid, 0, "user.revoke", u.ori, userid, "");
}

int
registry_user_unlock(struct registry *r, const char *userid)
{
	struct registry_user u;
	sqlite3_stmt *q;
	int rc = registry_user_get(r, userid, &u);

	if (rc != 0)
		return rc;
	if (begin(r) < 0)
		return -1;
	q = stmt(r, S_USER_UNLOCK);
	sqldb_bind_text(q, 1, userid);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc == SQLITE_DONE) {
		q = stmt(r, S_FAIL_CLEAR);
		sqldb_bind_text(q, 1, u.pubid);
		rc = sqlite3_step(q);
		sqlite3_reset(q);
	}
	if (rc != SQLITE_DONE) {
		dberr(r, "user unlock");
		rollback(r);
		return -1;
	}
	return commit_change(r, "user.unlock", u.ori, userid, "");
}

int
registry_user_list(struct registry *r, const char *ori, registry_user_cb cb, void *arg)
{
	sqlite3_stmt *q = stmt(r, ori ? S_USER_LIST_ORI : S_USER_LIST);
	struct registry_user u;
	int rc;

	if (ori)
		sqldb_bind_text(q, 1, ori);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		read_user(q, &u);
		if (cb(arg, &u) != 0)
			break;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		dberr(r, "user list");
		return -1;
	}
	return 0;
}

static int64_t
scalar(struct registry *r, enum stmt s)
{
	sqlite3_stmt *q = stmt(r, s);
	int64_t v = -1;

	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	else
		dberr(r, stmt_sql[s]);
	sqlite3_reset(q);
	return v;
}

int
registry_counts(struct registry *r, int64_t *agencies, int64_t *users)
{
	*agencies = scalar(r, S_COUNT_AGENCIES);
	*users = scalar(r, S_COUNT_USERS);
	return (*agencies < 0 || *users < 0) ? -1 : 0;
}

int64_t
registry_changes(struct registry *r)
{
	return scalar(r, S_CHANGES);
}

int
registry_drain(struct registry *r, registry_change_cb cb, void *arg)
{
	struct registry_change c[REGISTRY_DRAIN_BATCH];
	sqlite3_stmt *q = stmt(r, S_PENDING);
	int n = 0, rc, done = 0;

	while (n < REGISTRY_DRAIN_BATCH && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		memset(&c[n], 0, sizeof c[n]);
		c[n].id = sqlite3_column_int64(q, 0);
		c[n].time_us = sqlite3_column_int64(q, 1);
		sqldb_copy_col(q, 2, c[n].action, sizeof c[n].action);
		sqldb_copy_col(q, 3, c[n].ori, sizeof c[n].ori);
		sqldb_copy_col(q, 4, c[n].userid, sizeof c[n].userid);
		copy_detail(q, 5, c[n].detail, sizeof c[n].detail);
		n++;
	}
	sqlite3_reset(q);
	for (int i = 0; i < n; i++) {
		if (cb(arg, &c[i]) != 0)
			break;
		q = stmt(r, S_PENDING_DEL);
		sqlite3_bind_int64(q, 1, c[i].id);
		rc = sqlite3_step(q);
		sqlite3_reset(q);
		if (rc != SQLITE_DONE) {
			dberr(r, "drain");
			return -1;
		}
		done++;
	}
	return done;
}

/*
 * Begins a transaction and reads the user of pubid: its userid and ori
 * (buffers of REGISTRY_USERID_MAX+1 and REGISTRY_ORI_LEN+1) and whether it
 * is locked.  Returns 0 inside the transaction, or REGISTRY_NOTFOUND / -1
 * with the transaction rolled back.
 */
static int
begin_with_user(struct registry *r, const char *pubid, char *userid, char *ori, int *was_locked)
{
	sqlite3_stmt *q;
	int rc;

	if (begin(r) < 0)
		return -1;
	q = stmt(r, S_USER_BY_PUBID);
	sqldb_bind_text(q, 1, pubid);
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(q);
		rollback(r);
		return rc == SQLITE_DONE ? REGISTRY_NOTFOUND : -1;
	}
	sqldb_copy_col(q, 0, userid, REGISTRY_USERID_MAX + 1);
	sqldb_copy_col(q, 1, ori, REGISTRY_ORI_LEN + 1);
	*was_locked = sqlite3_column_int(q, 2);
	sqlite3_reset(q);
	return 0;
}

int
registry_auth_failure(struct registry *r, const char *pubid, int64_t now_us, int *locked)
{
	char userid[REGISTRY_USERID_MAX + 1], ori[REGISTRY_ORI_LEN + 1], detail[64];
	sqlite3_stmt *q;
	int64_t n = 0;
	int rc, was_locked;

	*locked = 0;
	if ((rc = begin_with_user(r, pubid, userid, ori, &was_locked)) != 0)
		return rc;
	q = stmt(r, S_FAIL_ADD);
	sqldb_bind_text(q, 1, pubid);
	sqlite3_bind_int64(q, 2, now_us);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto dbfail;
	sqlite3_reset(q);
	q = stmt(r, S_FAIL_COUNT);
	sqldb_bind_text(q, 1, pubid);
	sqlite3_bind_int64(q, 2, now_us - REGISTRY_LOCK_WINDOW_US);
	if (sqlite3_step(q) != SQLITE_ROW)
		goto dbfail;
	n = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	if (!was_locked && n >= REGISTRY_LOCK_FAILURES) {
		q = stmt(r, S_USER_LOCK);
		sqldb_bind_text(q, 1, pubid);
		if (sqlite3_step(q) != SQLITE_DONE)
			goto dbfail;
		sqlite3_reset(q);
		*locked = 1;
		snprintf(detail, sizeof detail, "failures=%lld window=15m", (long long)n);
		return commit_change(r, "user.lock", ori, userid, detail);
	}
	if (exec1(r, S_COMMIT) < 0) {
		rollback(r);
		return -1;
	}
	return 0;
dbfail:
	dberr(r, "auth failure");
	sqlite3_reset(q);
	rollback(r);
	return -1;
}

int
registry_user_lock(struct registry *r, const char *pubid, const char *reason)
{
	char userid[REGISTRY_USERID_MAX + 1], ori[REGISTRY_ORI_LEN + 1];
	sqlite3_stmt *q;
	int rc, was_locked;

	if ((rc = begin_with_user(r, pubid, userid, ori, &was_locked)) != 0)
		return rc;
	q = stmt(r, S_USER_LOCK);
	sqldb_bind_text(q, 1, pubid);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		dberr(r, "user lock");
		rollback(r);
		return -1;
	}
	return commit_change(r, "user.lock", ori, userid, reason);
}

/* ---- the in-memory snapshot ---- */

struct cache_user {
	char pubid[REGISTRY_PUBID_LEN + 1];
	char userid[REGISTRY_USERID_MAX + 1];
	char ori[REGISTRY_ORI_LEN + 1];
	char category[REGISTRY_CATEGORY_MAX + 1];
	char name[REGISTRY_NAME_MAX + 1];
	uint8_t hash[SHA256_DIGEST_SIZE];
	int32_t certified_until;
	unsigned revoked : 1, locked : 1, suspended : 1;
};

/* A client certificate bound to an agency (agency bind-cert). */
struct cache_cert {
	char ori[REGISTRY_ORI_LEN + 1];
	uint8_t sha256[32];
};

struct registry_cache {
	pthread_rwlock_t lock;
	struct cache_cert *certs;     /* sorted by ori */
	size_t ncerts;
	struct cache_user *users;     /* sorted by pubid */
	size_t nusers;
	int64_t nagencies, nactive;
};

void
registry_cache_free(struct registry_cache *c)
{
	if (c == NULL)
		return;
	pthread_rwlock_destroy(&c->lock);
	free(c->users);
	free(c->certs);
	free(c);
}

int
registry_cache_reload(struct registry_cache *c, struct registry *r)
{
	sqlite3_stmt *q = stmt(r, S_CACHE_USERS);
	struct cache_user *v = NULL, *old;
	struct cache_cert *cv = NULL, *oldc;
	size_t n = 0, cap = 0, nc = 0, ccap = 0;
	int64_t na, nu;
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct cache_user *u;
		const void *h;

		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct cache_user *nv = reallocarray(v, ncap, sizeof *v);
			if (nv == NULL) {
				util_errx("out of memory");
				goto fail;
			}
			v = nv;
			cap = ncap;
		}
		u = &v[n];
		memset(u, 0, sizeof *u);
		sqldb_copy_col(q, 0, u->pubid, sizeof u->pubid);
		sqldb_copy_col(q, 1, u->userid, sizeof u->userid);
		h = sqlite3_column_blob(q, 2);
		if (h == NULL || sqlite3_column_bytes(q, 2) != SHA256_DIGEST_SIZE)
			continue;             /* a damaged row authenticates nobody */
		memcpy(u->hash, h, sizeof u->hash);
		u->revoked = sqlite3_column_int(q, 3) != 0;
		u->locked = sqlite3_column_int(q, 4) != 0;
		sqldb_copy_col(q, 5, u->ori, sizeof u->ori);
		sqldb_copy_col(q, 6, u->category, sizeof u->category);
		u->certified_until = (int32_t)sqlite3_column_int(q, 7);
		u->suspended = sqlite3_column_int(q, 8) != 0;
		sqldb_copy_col(q, 9, u->name, sizeof u->name);
		n++;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		dberr(r, "registry reload");
		goto fail;
	}
	if (registry_counts(r, &na, &nu) < 0)
		goto fail;
	q = stmt(r, S_CACHE_CERTS);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (nc == ccap) {
			size_t ncap = ccap ? ccap * 2 : 16;
			struct cache_cert *ncv = reallocarray(cv, ncap, sizeof *cv);
			if (ncv == NULL) {
				util_errx("out of memory");
				goto fail;
			}
			cv = ncv;
			ccap = ncap;
		}
		memset(&cv[nc], 0, sizeof cv[nc]);
		sqldb_copy_col(q, 0, cv[nc].ori, sizeof cv[nc].ori);
		if (sqlite3_column_bytes(q, 1) != 32)
			continue;   /* a damaged row binds nothing that could match */
		memcpy(cv[nc].sha256, sqlite3_column_blob(q, 1), 32);
		nc++;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		dberr(r, "registry reload (certificates)");
		goto fail;
	}
	pthread_rwlock_wrlock(&c->lock);
	old = c->users;
	c->users = v;
	c->nusers = n;
	c->nagencies = na;
	c->nactive = nu;
	oldc = c->certs;
	c->certs = cv;
	c->ncerts = nc;
	pthread_rwlock_unlock(&c->lock);
	free(old);
	free(oldc);
	return 0;
fail:
	sqlite3_reset(q);
	free(v);
	free(cv);
	return -1;
}

int
registry_cache_cert_ok(struct registry_cache *c, const char *ori, const uint8_t *peer)
{
	int bound = 0, match = 0;

	pthread_rwlock_rdlock(&c->lock);
	for (size_t i = 0; i < c->ncerts; i++) {
		if (strcmp(c->certs[i].ori, ori) != 0)
			continue;
		bound = 1;
		/* every binding is compared, in constant time, whatever matched */
		if (peer != NULL && util_ct_memcmp(c->certs[i].sha256, peer, 32) == 0)
			match = 1;
	}
	pthread_rwlock_unlock(&c->lock);
	return !bound || match;
}

struct registry_cache *
registry_cache_new(struct registry *r)
{
	struct registry_cache *c = util_calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	if (pthread_rwlock_init(&c->lock, NULL) != 0) {
		free(c);
		return NULL;
	}
	if (registry_cache_reload(c, r) < 0) {
		registry_cache_free(c);
		return NULL;
	}
	return c;
}

static struct cache_user *
find_user(struct registry_cache *c, const char *pubid)
{
	size_t lo = 0, hi = c->nusers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(c->users[mid].pubid, pubid);
		if (d == 0)
			return &c->users[mid];
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void
registry_cache_lock(struct registry_cache *c, const char *pubid)
{
	struct cache_user *u;

	pthread_rwlock_wrlock(&c->lock);
	u = find_user(c, pubid);
	if (u != NULL)
		u->locked = 1;
	pthread_rwlock_unlock(&c->lock);
}

int
registry_cache_counts(struct registry_cache *c, int64_t *agencies, int64_t *users)
{
	pthread_rwlock_rdlock(&c->lock);
	*agencies = c->nagencies;
	*users = c->nactive;
	pthread_rwlock_unlock(&c->lock);
	return 0;
}

static int
b64url_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

enum registry_auth
registry_cache_auth(struct registry_cache *c, const char *token, size_t len,
    int32_t today, struct registry_principal *p)
{
	uint8_t hash[SHA256_DIGEST_SIZE];
	char pubid[REGISTRY_PUBID_LEN + 1];
	struct cache_user *u;
	enum registry_auth res;

	memset(p, 0, sizeof *p);
	/* dmv_ + 12 hex + _ + 43 base64url */
	if (len != 4 + REGISTRY_PUBID_LEN + 1 + 43 || memcmp(token, "dmv_", 4) != 0 ||
	    token[4 + REGISTRY_PUBID_LEN] != '_')
		return REGISTRY_AUTH_MALFORMED;
	for (size_t i = 0; i < REGISTRY_PUBID_LEN; i++) {
		char ch = token[4 + i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return REGISTRY_AUTH_MALFORMED;
		pubid[i] = ch;
	}
	pubid[REGISTRY_PUBID_LEN] = '\0';
	for (size_t i = 4 + REGISTRY_PUBID_LEN + 1; i < len; i++)
		if (!b64url_char(token[i]))
			return REGISTRY_AUTH_MALFORMED;
	memcpy(p->pubid, pubid, sizeof pubid);
	sha256(token, len, hash);

	pthread_rwlock_rdlock(&c->lock);
	u = find_user(c, pubid);
	if (u == NULL) {
		res = REGISTRY_AUTH_UNKNOWN;
		goto out;
	}
	memcpy(p->userid, u->userid, sizeof p->userid);
	memcpy(p->ori, u->ori, sizeof p->ori);
	memcpy(p->category, u->category, sizeof p->category);
	memcpy(p->name, u->name, sizeof p->name);
	p->locked = u->locked;
	p->certified_until = u->certified_until;
	if (util_ct_memcmp(hash, u->hash, sizeof hash) != 0)
		res = REGISTRY_AUTH_BAD_SECRET;
	else if (u->revoked)
		res = REGISTRY_AUTH_REVOKED;
	else if (u->locked)
		res = REGISTRY_AUTH_LOCKED;
	else if (u->suspended)
		res = REGISTRY_AUTH_SUSPENDED;
	else if (u->certified_until < today)
		res = REGISTRY_AUTH_EXPIRED;
	else
		res = REGISTRY_AUTH_OK;
out:
	pthread_rwlock_unlock(&c->lock);
	util_wipe(hash, sizeof hash);
	return res;
}

const char *
registry_auth_name(enum registry_auth a)
{
	switch (a) {
	case REGISTRY_AUTH_OK: return "ok";
	case REGISTRY_AUTH_MALFORMED: return "malformed_token";
	case REGISTRY_AUTH_UNKNOWN: return "unknown_token";
	case REGISTRY_AUTH_BAD_SECRET: return "bad_secret";
	case REGISTRY_AUTH_REVOKED: return "revoked";
	case REGISTRY_AUTH_LOCKED: return "locked";
	case REGISTRY_AUTH_SUSPENDED: return "agency_suspended";
	case REGISTRY_AUTH_EXPIRED: return "certification_expired";
	case REGISTRY_AUTH_CERTIFICATE: return "certificate_required";
	}
	return "unknown";
}
