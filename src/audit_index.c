/*
 * audit_index.c - the search index of the audit log: SQLite database
 * DIR/audit/index.db mapping subject keys, agency ORIs, users and times to
 * entry indices.  It is derived data, never on the durability path: the
 * writer does not touch it; readers bring it up to date from the log when
 * they search (audit_index_sync) in large transactions, and `audit reindex`
 * rebuilds it.  The log stays the source of truth: every hit is re-read
 * from the log and re-checked against the filter before it is returned.
 * The index remembers the leaf hash of its last entry, so a log that was
 * cut back (torn tail) or replaced is noticed and the index rebuilt.
 */
#include "audit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util.h"

#define INDEX_COMMIT_EVERY 50000

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=OFF;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS entry(idx INTEGER PRIMARY KEY, t INTEGER NOT NULL,"
    " kind INTEGER NOT NULL, decision INTEGER NOT NULL, ori TEXT NOT NULL, user TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS entry_ori ON entry(ori, idx);"
    "CREATE INDEX IF NOT EXISTS entry_user ON entry(user, idx);"
    "CREATE INDEX IF NOT EXISTS entry_t ON entry(t);"
    "CREATE TABLE IF NOT EXISTS subject(key TEXT NOT NULL, idx INTEGER NOT NULL,"
    " PRIMARY KEY(key, idx)) WITHOUT ROWID;";

void
audit_filter_init(struct audit_filter *f)
{
	memset(f, 0, sizeof *f);
	f->decision = -1;
}

int
audit_filter_match(const struct audit_filter *f, const struct audit_record *r)
{
	const struct audit_entry *e = &r->e;

	if (f->ori != NULL && strcmp(f->ori, e->ori) != 0)
		return 0;
	if (f->user != NULL && strcmp(f->user, e->user) != 0)
		return 0;
	if (f->from_us != 0 && e->time_us < f->from_us)
		return 0;
	if (f->to_us != 0 && e->time_us >= f->to_us)
		return 0;
	if (f->decision >= 0 && (int)e->decision != f->decision)
		return 0;
	if (f->kind != 0 && (int)e->kind != f->kind)
		return 0;
	if (f->subject != NULL) {
		int found = 0;

		for (int i = 0; i < e->nsubjects && !found; i++)
			found = strcmp(e->subjects[i], f->subject) == 0;
		if (!found)
			return 0;
	}
	return 1;
}

static sqlite3 *
index_open(struct audit_log *log)
{
	char *p = util_aprintf("%s/index.db", audit_dir(log));
	sqlite3 *db = NULL;
	char *err = NULL;

	if (p == NULL)
		return NULL;
	if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		util_errx("%s: %s", p, db ? sqlite3_errmsg(db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(db, 10000);
	if (sqlite3_exec(db, schema, NULL, NULL, &err) != SQLITE_OK) {
		util_errx("%s: %s", p, err ? err : "schema");
		sqlite3_free(err);
		goto fail;
	}
	free(p);
	return db;
fail:
	sqlite3_close(db);
	free(p);
	return NULL;
}

static int
exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		util_errx("audit index: %s: %s", sql, err ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int
meta_get(sqlite3 *db, const char *k, char *out, size_t outsz)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	out[0] = '\0';
	if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k=?", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		if (v != NULL && util_strlcpy(out, v, outsz) == 0)
			rc = 0;
	} else {
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static int
meta_set(sqlite3 *db, const char *k, const char *v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(k,v) VALUES(?,?)", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, v, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
	return rc;
}

struct ictx {
	struct util_progress pg;
	uint64_t start;
	sqlite3 *db;
	sqlite3_stmt *ins_e, *ins_s;
	uint64_t n, next;
	uint8_t last_leaf[AUDIT_HASH_SIZE];
};

static int
save_progress(struct ictx *c)
{
	char num[32], hex[2 * AUDIT_HASH_SIZE + 1];

	snprintf(num, sizeof num, "%llu", (unsigned long long)c->next);
	util_hex(c->last_leaf, AUDIT_HASH_SIZE, hex);
	return meta_set(c->db, "next", num) < 0 || meta_set(c->db, "leaf", hex) < 0 ? -1 : 0;
}

static int
index_cb(void *arg, const struct audit_record *r)
{
	struct ictx *c = arg;
	const struct audit_entry *e = &r->e;

	sqlite3_reset(c->ins_e);
	sqlite3_bind_int64(c->ins_e, 1, (sqlite3_int64)e->index);
	sqlite3_bind_int64(c->ins_e, 2, e->time_us);
	sqlite3_bind_int(c->ins_e, 3, (int)e->kind);
	sqlite3_bind_int(c->ins_e, 4, (int)e->decision);
	sqlite3_bind_text(c->ins_e, 5, e->ori, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->ins_e, 6, e->user, -1, SQLITE_STATIC);
	if (sqlite3_step(c->ins_e) != SQLITE_DONE)
		goto err;
	for (int i = 0; i < e->nsubjects; i++) {
		sqlite3_reset(c->ins_s);
		sqlite3_bind_text(c->ins_s, 1, e->subjects[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(c->ins_s, 2, (sqlite3_int64)e->index);
		if (sqlite3_step(c->ins_s) != SQLITE_DONE)
			goto err;
	}
	c->next = e->index + 1;
	memcpy(c->last_leaf, r->leaf_hash, AUDIT_HASH_SIZE);
	if ((c->n & 0x3fff) == 0)
		util_progress_update(&c->pg, c->n);
	if (++c->n % INDEX_COMMIT_EVERY == 0) {
		if (save_progress(c) < 0 || exec(c->db, "COMMIT; BEGIN IMMEDIATE") < 0)
			return -1;
	}
	return 0;
err:
	util_errx("audit index: %s", sqlite3_errmsg(c->db));
	return -1;
}

int
audit_index_sync(struct audit_log *log, int rebuild, uint64_t *indexed)
{
	struct ictx c;
	char buf[80];
	int64_t next = 0;
	uint64_t first = audit_first(log), size = audit_size(log);
	int rc = -1, in_tx = 0;

	memset(&c, 0, sizeof c);
	if ((c.db = index_open(log)) == NULL)
		return -1;
	if (exec(c.db, "BEGIN IMMEDIATE") < 0)
		goto out;
	in_tx = 1;
	if (meta_get(c.db, "next", buf, sizeof buf) < 0)
		goto out;
	if (buf[0] != '\0' && util_parse_i64(buf, 0, INT64_MAX, &next) < 0)
		rebuild = 1;
	if (!rebuild && next > 0 && (uint64_t)next - 1 >= first) {
		struct audit_record *r = malloc(sizeof *r);
		char hex[2 * AUDIT_HASH_SIZE + 1];

		if (r == NULL)
			goto out;
		/* The log must still hold the entry the index ended with. */
		if (meta_get(c.db, "leaf", buf, sizeof buf) < 0 || (uint64_t)next > size ||
		    audit_get(log, (uint64_t)next - 1, r) < 0)
			rebuild = 1;
		else {
			util_hex(r->leaf_hash, AUDIT_HASH_SIZE, hex);
			if (strcmp(hex, buf) != 0)
				rebuild = 1;
		}
		free(r);
	}
	if (rebuild) {
		if (exec(c.db, "DELETE FROM entry; DELETE FROM subject; DELETE FROM meta") < 0)
			goto out;
		next = 0;
	}
	if ((uint64_t)next < first)
		next = (int64_t)first;
	{
		char sql[160];

		snprintf(sql, sizeof sql, "DELETE FROM entry WHERE idx < %llu; DELETE FROM subject WHERE idx < %llu",
		    (unsigned long long)first, (unsigned long long)first);
		if (exec(c.db, sql) < 0)
			goto out;
	}
	if (sqlite3_prepare_v2(c.db, "INSERT OR REPLACE INTO entry(idx,t,kind,decision,ori,user) "
	    "VALUES(?,?,?,?,?,?)", -1, &c.ins_e, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c.db, "INSERT OR IGNORE INTO subject(key,idx) VALUES(?,?)", -1, &c.ins_s,
	    NULL) != SQLITE_OK) {
		util_errx("audit index: %s", sqlite3_errmsg(c.db));
		goto out;
	}
	c.next = (uint64_t)next;
	/* a bar on a terminal when there is much to catch up on */
	util_progress_init(&c.pg, "indexing", size > (uint64_t)next ? size - (uint64_t)next : 0);
	c.pg.enabled = c.pg.enabled && c.pg.total > 50000;
	if (audit_scan(log, (uint64_t)next, UINT64_MAX, index_cb, &c) < 0) {
		util_progress_done(&c.pg);
		goto out;
	}
	util_progress_done(&c.pg);
	if (c.n > 0 && save_progress(&c) < 0)
		goto out;
	if (exec(c.db, "COMMIT") < 0)
		goto out;
	in_tx = 0;
	if (indexed != NULL)
		*indexed = c.next;
	rc = 0;
out:
	if (in_tx)
		(void)sqlite3_exec(c.db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(c.ins_e);
	sqlite3_finalize(c.ins_s);
	sqlite3_close(c.db);
	return rc;
}

struct sctx {
	const struct audit_filter *f;
	int (*fn)(void *, const struct audit_record *);
	void *arg;
};

static int
scan_cb(void *arg, const struct audit_record *r)
{
	struct sctx *c = arg;

	if (!audit_filter_match(c->f, r))
		return 0;
	return c->fn(c->arg, r);
}

int
audit_search(struct audit_log *log, const struct audit_filter *f,
    int (*fn)(void *arg, const struct audit_record *r), void *arg)
{
	struct sctx c = { f, fn, arg };
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	uint64_t *idx = NULL;
	size_t n = 0, cap = 0;
	struct audit_record *r = NULL;
	const char *sql;
	const char *key;
	int rc = -1, s;

	if (f->subject == NULL && f->ori == NULL && f->user == NULL && f->from_us == 0 && f->to_us == 0)
		return audit_scan(log, 0, UINT64_MAX, scan_cb, &c);
	if (audit_index_sync(log, 0, NULL) < 0 || (db = index_open(log)) == NULL) {
		util_errx("audit: the search index is unavailable; scanning the whole log");
		return audit_scan(log, 0, UINT64_MAX, scan_cb, &c);
	}
	if (f->subject != NULL) {
		sql = "SELECT idx FROM subject WHERE key=? ORDER BY idx";
		key = f->subject;
	} else if (f->user != NULL) {
		sql = "SELECT idx FROM entry WHERE user=? ORDER BY idx";
		key = f->user;
	} else if (f->ori != NULL) {
		sql = "SELECT idx FROM entry WHERE ori=? ORDER BY idx";
		key = f->ori;
	} else {
		/* time range only */
		sql = "SELECT idx FROM entry WHERE t >= ? AND t < ? ORDER BY idx";
		key = NULL;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		util_errx("audit index: %s", sqlite3_errmsg(db));
		goto out;
	}
	if (key != NULL) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_int64(st, 1, f->from_us);
		sqlite3_bind_int64(st, 2, f->to_us != 0 ? f->to_us : INT64_MAX);
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 256;
			uint64_t *p = realloc(idx, nc * sizeof *idx);

			if (p == NULL)
				goto out;
			idx = p;
			cap = nc;
		}
		idx[n++] = (uint64_t)sqlite3_column_int64(st, 0);
	}
	if (s != SQLITE_DONE) {
		util_errx("audit index: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	sqlite3_close(db);
	db = NULL;
	if ((r = malloc(sizeof *r)) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		int k;

		if (audit_get(log, idx[i], r) < 0) {
			if (errno == ENOENT)
				continue; /* pruned since it was indexed */
			goto out;
		}
		if (!audit_filter_match(f, r))
			continue;
		if ((k = fn(arg, r)) != 0) {
			rc = k > 0 ? 0 : -1;
			goto out;
		}
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(idx);
	free(r);
	return rc;
}
