/*
 * process.c - the legal-process registry (see process.h and
 * docs/legal-process.md): tables legal_process, process_subject,
 * process_item and process_use in DIR/registry.db, the copy of each
 * document under DIR/documents/, and the scope check the server runs for
 * a request that cites a process.
 *
 * Every statement is prepared once in process_open from the table below;
 * no SQL is built from input.  Changes run in one IMMEDIATE transaction
 * that also queues their audit record in the registry's pending_audit
 * table and bumps meta.changes, exactly as registry.c does for agencies,
 * so a change and its audit obligation commit together.  Item names are
 * stored as names (not as a field mask) so the stored scope does not
 * depend on the numbering of enum field.
 */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>
#include <sqlite3.h>

#include "record.h"
#include "registry.h"
#include "sqldb.h"
#include "util.h"

static const char *const kind_names[PROCESS_KIND_COUNT] = {
	[PROCESS_JUDICIAL_WARRANT] = "judicial_warrant",
	[PROCESS_COURT_ORDER] = "court_order",
	[PROCESS_JUDICIAL_SUBPOENA] = "judicial_subpoena",
	[PROCESS_GRAND_JURY_SUBPOENA] = "grand_jury_subpoena",
	[PROCESS_ADMINISTRATIVE_SUBPOENA] = "administrative_subpoena",
	[PROCESS_ADMINISTRATIVE_WARRANT] = "administrative_warrant",
};

static const char schema[] =
	"PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
	"CREATE TABLE IF NOT EXISTS legal_process("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, ori TEXT NOT NULL,"
	" court TEXT NOT NULL, case_number TEXT NOT NULL, judge TEXT NOT NULL,"
	" issued INTEGER NOT NULL, expires INTEGER NOT NULL,"
	" max_uses INTEGER NOT NULL DEFAULT 0, uses INTEGER NOT NULL DEFAULT 0,"
	" document_sha256 TEXT NOT NULL, document_name TEXT NOT NULL,"
	" document_size INTEGER NOT NULL, created_us INTEGER NOT NULL,"
	" created_by TEXT NOT NULL, revoked_us INTEGER NOT NULL DEFAULT 0,"
	" revoked_reason TEXT NOT NULL DEFAULT '', revoked_by TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE IF NOT EXISTS process_subject("
	" process_id INTEGER NOT NULL REFERENCES legal_process(id),"
	" license_number TEXT NOT NULL, PRIMARY KEY(process_id, license_number)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS process_item("
	" process_id INTEGER NOT NULL REFERENCES legal_process(id),"
	" item TEXT NOT NULL, PRIMARY KEY(process_id, item)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS process_use("
	" id INTEGER PRIMARY KEY, process_id INTEGER NOT NULL REFERENCES legal_process(id),"
	" time_us INTEGER NOT NULL, ori TEXT NOT NULL, userid TEXT NOT NULL,"
	" subject TEXT NOT NULL, audit_index INTEGER);"
	"CREATE INDEX IF NOT EXISTS process_use_pid ON process_use(process_id);";

enum stmt {
	S_BEGIN, S_COMMIT, S_ROLLBACK, S_BUMP, S_QUEUE,
	S_ADD, S_ADD_SUBJECT, S_ADD_ITEM, S_GET, S_LIST, S_SUBJECTS, S_ITEMS,
	S_COVERS, S_REVOKE, S_USE, S_USE_LOG,
	S_COUNT
};

#define COLS "id, kind, ori, court, case_number, judge, issued, expires, max_uses, uses," \
	" document_sha256, document_name, document_size, created_us, created_by," \
	" revoked_us, revoked_reason, revoked_by"

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_BUMP] = "UPDATE meta SET value = value + 1 WHERE key = 'changes'",
	[S_QUEUE] = "INSERT INTO pending_audit(time_us, action, ori, userid, detail)"
		    " VALUES(?1, ?2, ?3, ?4, ?5)",
	[S_ADD] = "INSERT INTO legal_process(kind, ori, court, case_number, judge, issued,"
		  " expires, max_uses, document_sha256, document_name, document_size,"
		  " created_us, created_by)"
		  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[S_ADD_SUBJECT] = "INSERT OR IGNORE INTO process_subject(process_id, license_number)"
			  " VALUES(?1, ?2)",
	[S_ADD_ITEM] = "INSERT OR IGNORE INTO process_item(process_id, item) VALUES(?1, ?2)",
	[S_GET] = "SELECT " COLS " FROM legal_process WHERE id = ?1",
	[S_LIST] = "SELECT " COLS " FROM legal_process ORDER BY id",
	[S_SUBJECTS] = "SELECT license_number FROM process_subject WHERE process_id = ?1"
		       " ORDER BY license_number",
	[S_ITEMS] = "SELECT item FROM process_item WHERE process_id = ?1",
	[S_COVERS] = "SELECT 1 FROM process_subject WHERE process_id = ?1 AND license_number = ?2",
	[S_REVOKE] = "UPDATE legal_process SET revoked_us = ?2, revoked_reason = ?3,"
		     " revoked_by = ?4 WHERE id = ?1 AND revoked_us = 0",
	[S_USE] = "UPDATE legal_process SET uses = uses + 1 WHERE id = ?1 AND revoked_us = 0"
		  " AND (max_uses = 0 OR uses < max_uses)",
	[S_USE_LOG] = "INSERT INTO process_use(process_id, time_us, ori, userid, subject,"
		      " audit_index) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
};

struct process_db {
	pthread_mutex_t mu;
	struct sqldb d;
	sqlite3_stmt *st[S_COUNT];
	struct registry *reg;     /* for the agency check on add */
};

const char *
process_kind_name(int kind)
{
	if (kind < 0 || kind >= PROCESS_KIND_COUNT)
		return NULL;
	return kind_names[kind];
}

int
process_kind_parse(const char *s)
{
	if (s == NULL)
		return -1;
	for (int i = 0; i < PROCESS_KIND_COUNT; i++)
		if (strcmp(s, kind_names[i]) == 0)
			return i;
	return -1;
}

int64_t
process_id_parse(const char *s)
{
	int64_t v;

	if (s == NULL)
		return -1;
	if ((s[0] == 'L' || s[0] == 'l') && (s[1] == 'P' || s[1] == 'p') && s[2] == '-')
		s += 3;
	if (s[0] < '1' || s[0] > '9')     /* no sign, no leading zero, no space */
		return -1;
	if (util_parse_i64(s, 1, INT64_MAX / 2, &v) < 0)
		return -1;
	return v;
}

void
process_id_format(int64_t id, char out[PROCESS_ID_MAX])
{
	snprintf(out, PROCESS_ID_MAX, "LP-%lld", (long long)id);
}

int
process_items_parse(const char *list, field_mask *mask)
{
	const char *p = list;

	while (*p != '\0') {
		size_t n;
		int f;

		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, ", \t");
		f = field_lookup(p, n);
		if (f < 0) {
			util_errx("unknown item '%.*s' (items are canonical field names,"
			    " history or photo)", (int)(n > 64 ? 64 : n), p);
			return -1;
		}
		*mask |= FIELD_BIT(f);
		p += n;
	}
	return 0;
}

void
process_close(struct process_db *db)
{
	if (db == NULL)
		return;
	sqldb_close(&db->d);
	registry_close(db->reg);
	pthread_mutex_destroy(&db->mu);
	free(db);
}

struct process_db *
process_open(const char *path)
{
	struct process_db *db = util_calloc(1, sizeof *db);

	if (db == NULL)
		return NULL;
	if (pthread_mutex_init(&db->mu, NULL) != 0) {
		free(db);
		return NULL;
	}
	/* The registry creates meta and pending_audit, which changes use. */
	if ((db->reg = registry_open(path)) == NULL)
		goto fail;
	if (sqldb_open(&db->d, path, 0, schema, stmt_sql, db->st, S_COUNT, "legal process") < 0)
		goto fail;
	return db;
fail:
	process_close(db);
	return NULL;
}

/* Queues the audit record of a change, bumps the counter and commits; on
 * failure rolls back.  Called inside a transaction. */
static int
commit_change(struct process_db *db, const char *action, const char *ori, const char *detail)
{
	sqlite3_stmt *q = sqldb_stmt(&db->d, S_QUEUE);
	int rc;

	sqlite3_bind_int64(q, 1, util_now_us());
	sqldb_bind_text(q, 2, action);
	sqldb_bind_text(q, 3, ori);
	sqldb_bind_text(q, 4, "");
	sqldb_bind_text(q, 5, detail);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		sqldb_err(&db->d, "queue audit record");
		goto fail;
	}
	if (sqldb_exec(&db->d, S_BUMP) < 0 || sqldb_exec(&db->d, S_COMMIT) < 0)
		goto fail;
	return 0;
fail:
	(void)sqldb_exec(&db->d, S_ROLLBACK);
	return -1;
}

/* ---- documents ---- */

int
process_store_document(const char *docdir, const char *path, char sha256[65], int64_t *size)
{
	struct sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	char dst[PATH_MAX];
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = -1, rc = -1;

	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		util_warn("document %s", path);
		return PROCESS_INVALID;
	}
	if (fstat(fd, &st) < 0) {
		util_warn("document %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		util_errx("document %s: not a regular file", path);
		rc = PROCESS_INVALID;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > PROCESS_DOC_MAX) {
		util_errx("document %s: size must be 1 byte to %d MiB", path,
		    PROCESS_DOC_MAX / (1024 * 1024));
		rc = PROCESS_INVALID;
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size)) == NULL) {
		util_errx("out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			util_errx("document %s: short read (file changed?)", path);
			goto out;
		}
		got += (size_t)n;
	}
	sha256_init(&ctx);
	sha256_update(&ctx, got, (const uint8_t *)buf);
	sha256_digest(&ctx, sizeof digest, digest);
	util_hex(digest, sizeof digest, sha256);
	if (util_mkdirs(docdir, 0700) < 0) {
		util_warn("%s", docdir);
		goto out;
	}
	if (snprintf(dst, sizeof dst, "%s/%s", docdir, sha256) >= (int)sizeof dst) {
		util_errx("document directory path too long");
		goto out;
	}
	if (util_write_file_atomic(dst, buf, got, 0600) < 0) {
		util_warn("%s", dst);
		goto out;
	}
	*size = (int64_t)got;
	rc = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- registration ---- */

/* 1 when s is 1..max bytes of valid UTF-8 without control characters. */
static int
text_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max || util_utf8_valid(s, n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int
invalid(const char *what)
{
	util_errx("legal process: %s", what);
	return PROCESS_INVALID;
}

static int
validate(struct process_db *db, const struct process_info *in)
{
	struct registry_agency a;
	int rc;

	if (process_kind_name((int)in->kind) == NULL)
		return invalid("unknown kind");
	if (!registry_ori_valid(in->ori))
		return invalid("agency: not a valid ORI");
	if (!text_ok(in->court, PROCESS_TEXT_MAX))
		return invalid("court: must be 1-200 bytes of text");
	if (!text_ok(in->case_number, PROCESS_TEXT_MAX))
		return invalid("case: must be 1-200 bytes of text");
	if (!text_ok(in->judge, PROCESS_TEXT_MAX))
		return invalid("judge: must be 1-200 bytes of text");
	if (in->issued > in->expires)
		return invalid("expires is before issued");
	if (in->nsubjects < 1 || in->nsubjects > PROCESS_MAX_SUBJECTS)
		return invalid("give 1 to 64 subjects");
	for (int i = 0; i < in->nsubjects; i++)
		if (!record_license_ok(in->subjects[i], strlen(in->subjects[i])))
			return invalid("subject: license numbers are 1-16 characters A-Z 0-9");
	if (in->items == 0)
		return invalid("give at least one item");
	if (in->max_uses < 0 || in->max_uses > PROCESS_MAX_USES)
		return invalid("max-uses must be 1 to 1000000");
	if (strlen(in->document_sha256) != 64)
		return invalid("no document");
	rc = registry_agency_get(db->reg, in->ori, &a);
	if (rc == REGISTRY_NOTFOUND) {
		util_errx("legal process: no agency %s in the registry", in->ori);
		return PROCESS_INVALID;
	}
	return rc < 0 ? -1 : 0;
}

int
process_add(struct process_db *db, const struct process_info *in, const char *operator_name,
    int64_t *id)
{
	char detail[REGISTRY_DETAIL_MAX], items[1024], idstr[PROCESS_ID_MAX], d1[11], d2[11];
	sqlite3_stmt *q;
	int64_t pid;
	int rc;

	pthread_mutex_lock(&db->mu);
	if ((rc = validate(db, in)) != 0)
		goto out;
	rc = -1;
	if (sqldb_exec(&db->d, S_BEGIN) < 0)
		goto out;
	q = sqldb_stmt(&db->d, S_ADD);
	sqldb_bind_text(q, 1, kind_names[in->kind]);
	sqldb_bind_text(q, 2, in->ori);
	sqldb_bind_text(q, 3, in->court);
	sqldb_bind_text(q, 4, in->case_number);
	sqldb_bind_text(q, 5, in->judge);
	sqlite3_bind_int(q, 6, in->issued);
	sqlite3_bind_int(q, 7, in->expires);
	sqlite3_bind_int64(q, 8, in->max_uses);
	sqldb_bind_text(q, 9, in->document_sha256);
	sqldb_bind_text(q, 10, in->document_name);
	sqlite3_bind_int64(q, 11, in->document_size);
	sqlite3_bind_int64(q, 12, util_now_us());
	sqldb_bind_text(q, 13, operator_name);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto dbfail;
	sqlite3_reset(q);
	pid = sqlite3_last_insert_rowid(db->d.db);
	for (int i = 0; i < in->nsubjects; i++) {
		q = sqldb_stmt(&db->d, S_ADD_SUBJECT);
		sqlite3_bind_int64(q, 1, pid);
		sqldb_bind_text(q, 2, in->subjects[i]);
		if (sqlite3_step(q) != SQLITE_DONE)
			goto dbfail;
		sqlite3_reset(q);
	}
	for (int f = 0; f < FIELD_COUNT; f++) {
		if (!(in->items & FIELD_BIT(f)))
			continue;
		q = sqldb_stmt(&db->d, S_ADD_ITEM);
		sqlite3_bind_int64(q, 1, pid);
		sqldb_bind_text(q, 2, field_info[f].name);
		if (sqlite3_step(q) != SQLITE_DONE)
			goto dbfail;
		sqlite3_reset(q);
	}
	if (field_mask_format(in->items, ',', items, sizeof items) < 0)
		items[0] = '\0';
	process_id_format(pid, idstr);
	util_date_format(in->issued, d1);
	util_date_format(in->expires, d2);
	snprintf(detail, sizeof detail,
	    "id=%s kind=%s agency=%s issued=%s expires=%s subjects=%d items=%s"
	    " max_uses=%lld document_sha256=%s by=%s",
	    idstr, kind_names[in->kind], in->ori, d1, d2, in->nsubjects, items,
	    (long long)in->max_uses, in->document_sha256, operator_name ? operator_name : "");
	if (commit_change(db, "process.add", in->ori, detail) < 0)
		goto out;
	*id = pid;
	rc = 0;
	goto out;
dbfail:
	sqldb_err(&db->d, "add");
	sqlite3_reset(q);
	(void)sqldb_exec(&db->d, S_ROLLBACK);
out:
	pthread_mutex_unlock(&db->mu);
	return rc;
}

/* Reads the row at q's current position plus its subjects and items. */
static int
read_process(struct process_db *db, sqlite3_stmt *q, struct process_info *p)
{
	sqlite3_stmt *s;
	int rc;

	memset(p, 0, sizeof *p);
	p->id = sqlite3_column_int64(q, 0);
	{
		char kind[64];
		sqldb_copy_col(q, 1, kind, sizeof kind);
		rc = process_kind_parse(kind);
		p->kind = rc < 0 ? PROCESS_KIND_COUNT : (enum process_kind)rc;
	}
	sqldb_copy_col(q, 2, p->ori, sizeof p->ori);
	sqldb_copy_col(q, 3, p->court, sizeof p->court);
	sqldb_copy_col(q, 4, p->case_number, sizeof p->case_number);
	sqldb_copy_col(q, 5, p->judge, sizeof p->judge);
	p->issued = (int32_t)sqlite3_column_int(q, 6);
	p->expires = (int32_t)sqlite3_column_int(q, 7);
	p->max_uses = sqlite3_column_int64(q, 8);
	p->uses = sqlite3_column_int64(q, 9);
	sqldb_copy_col(q, 10, p->document_sha256, sizeof p->document_sha256);
	sqldb_copy_col(q, 11, p->document_name, sizeof p->document_name);
	p->document_size = sqlite3_column_int64(q, 12);
	p->created_us = sqlite3_column_int64(q, 13);
	sqldb_copy_col(q, 14, p->created_by, sizeof p->created_by);
	p->revoked_us = sqlite3_column_int64(q, 15);
	sqldb_copy_col(q, 16, p->revoked_reason, sizeof p->revoked_reason);
	sqldb_copy_col(q, 17, p->revoked_by, sizeof p->revoked_by);

	s = sqldb_stmt(&db->d, S_SUBJECTS);
	sqlite3_bind_int64(s, 1, p->id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && p->nsubjects < PROCESS_MAX_SUBJECTS)
		sqldb_copy_col(s, 0, p->subjects[p->nsubjects++], sizeof p->subjects[0]);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	s = sqldb_stmt(&db->d, S_ITEMS);
	sqlite3_bind_int64(s, 1, p->id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		int f = t ? field_lookup((const char *)t, strlen((const char *)t)) : -1;
		if (f >= 0)
			p->items |= FIELD_BIT(f);
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
get_locked(struct process_db *db, int64_t id, struct process_info *out)
{
	sqlite3_stmt *q = sqldb_stmt(&db->d, S_GET);
	int rc;

	sqlite3_bind_int64(q, 1, id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(q);
		return PROCESS_NOTFOUND;
	}
	if (rc != SQLITE_ROW) {
		sqldb_err(&db->d, "get");
		sqlite3_reset(q);
		return -1;
	}
	rc = read_process(db, q, out);
	sqlite3_reset(q);
	if (rc < 0)
		sqldb_err(&db->d, "get");
	return rc;
}

int
process_get(struct process_db *db, int64_t id, struct process_info *out)
{
	int rc;

	pthread_mutex_lock(&db->mu);
	rc = get_locked(db, id, out);
	pthread_mutex_unlock(&db->mu);
	return rc;
}

int
process_list(struct process_db *db, process_cb cb, void *arg)
{
	struct process_info *p = util_calloc(1, sizeof *p);
	sqlite3_stmt *q;
	int rc = -1, step;

	if (p == NULL)
		return -1;
	pthread_mutex_lock(&db->mu);
	q = sqldb_stmt(&db->d, S_LIST);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		if (read_process(db, q, p) < 0) {
			sqldb_err(&db->d, "list");
			goto out;
		}
		if (cb(arg, p) != 0)
			break;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		sqldb_err(&db->d, "list");
		goto out;
	}
	rc = 0;
out:
	sqlite3_reset(q);
	pthread_mutex_unlock(&db->mu);
	free(p);
	return rc;
}

int
process_revoke(struct process_db *db, int64_t id, const char *reason, const char *operator_name)
{
	char detail[REGISTRY_DETAIL_MAX], idstr[PROCESS_ID_MAX], ori[10];
	struct process_info *p;
	sqlite3_stmt *q;
	int rc;

	if (!text_ok(reason, PROCESS_REASON_MAX))
		return invalid("reason: must be 1-500 bytes of text");
	if ((p = util_calloc(1, sizeof *p)) == NULL)
		return -1;
	pthread_mutex_lock(&db->mu);
	rc = -1;
	if (sqldb_exec(&db->d, S_BEGIN) < 0)
		goto out;
	if ((rc = get_locked(db, id, p)) != 0) {
		(void)sqldb_exec(&db->d, S_ROLLBACK);
		goto out;
	}
	if (p->revoked_us != 0) {
		(void)sqldb_exec(&db->d, S_ROLLBACK);
		rc = PROCESS_REVOKED;
		goto out;
	}
	rc = -1;
	q = sqldb_stmt(&db->d, S_REVOKE);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, util_now_us());
	sqldb_bind_text(q, 3, reason);
	sqldb_bind_text(q, 4, operator_name);
	if (sqlite3_step(q) != SQLITE_DONE) {
		sqldb_err(&db->d, "revoke");
		sqlite3_reset(q);
		(void)sqldb_exec(&db->d, S_ROLLBACK);
		goto out;
	}
	sqlite3_reset(q);
	process_id_format(id, idstr);
	memcpy(ori, p->ori, sizeof ori);
	snprintf(detail, sizeof detail, "id=%s reason=%s by=%s", idstr, reason,
	    operator_name ? operator_name : "");
	rc = commit_change(db, "process.revoke", ori, detail);
out:
	pthread_mutex_unlock(&db->mu);
	free(p);
	return rc;
}

/* ---- the server's check ---- */

int
process_check(struct process_db *db, const char *id_str, const char *ori,
    const char *const *subjects, int nsubjects, int32_t today, struct process_facts *out)
{
	sqlite3_stmt *q;
	char kind[32], pori[16];
	int32_t issued, expires;
	int64_t max_uses, uses, revoked;
	int rc = -1, step;

	memset(out, 0, sizeof *out);
	out->why = "no such legal process";
	out->id = process_id_parse(id_str);
	if (out->id < 0) {
		out->id = 0;
		out->why = "malformed legal process id";
		return 0;
	}
	pthread_mutex_lock(&db->mu);
	q = sqldb_stmt(&db->d, S_GET);
	sqlite3_bind_int64(q, 1, out->id);
	step = sqlite3_step(q);
	if (step == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (step != SQLITE_ROW) {
		sqldb_err(&db->d, "check");
		out->why = "database error";
		goto out;
	}
	sqldb_copy_col(q, 1, kind, sizeof kind);
	sqldb_copy_col(q, 2, pori, sizeof pori);
	issued = (int32_t)sqlite3_column_int(q, 6);
	expires = (int32_t)sqlite3_column_int(q, 7);
	max_uses = sqlite3_column_int64(q, 8);
	uses = sqlite3_column_int64(q, 9);
	revoked = sqlite3_column_int64(q, 15);
	sqlite3_reset(q);
	if (process_kind_parse(kind) < 0) {
		out->why = "unknown kind in the registry";
		rc = 0;
		goto out;
	}
	out->exists = 1;
	memcpy(out->kind, kind, sizeof out->kind);
	out->issued_to_agency = ori != NULL && strcmp(ori, pori) == 0;

	/* items */
	q = sqldb_stmt(&db->d, S_ITEMS);
	sqlite3_bind_int64(q, 1, out->id);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(q, 0);
		int f = t ? field_lookup((const char *)t, strlen((const char *)t)) : -1;
		if (f >= 0)
			out->items |= FIELD_BIT(f);
	}
	sqlite3_reset(q);
	if (step != SQLITE_DONE) {
		sqldb_err(&db->d, "check items");
		goto fail;
	}

	/* every subject must be named, and there must be one */
	out->covers_subject = nsubjects > 0;
	for (int i = 0; i < nsubjects && out->covers_subject; i++) {
		q = sqldb_stmt(&db->d, S_COVERS);
		sqlite3_bind_int64(q, 1, out->id);
		sqldb_bind_text(q, 2, subjects[i]);
		step = sqlite3_step(q);
		sqlite3_reset(q);
		if (step == SQLITE_DONE)
			out->covers_subject = 0;
		else if (step != SQLITE_ROW) {
			sqldb_err(&db->d, "check subject");
			goto fail;
		}
	}

	if (!out->issued_to_agency)
		out->why = "issued to another agency";
	else if (revoked != 0)
		out->why = "revoked";
	else if (today < issued)
		out->why = "not yet valid";
	else if (today > expires)
		out->why = "expired";
	else if (max_uses > 0 && uses >= max_uses)
		out->why = "no uses left";
	else {
		out->valid = 1;
		out->why = "";
	}
	rc = 0;
	goto out;
fail:
	out->valid = out->covers_subject = out->issued_to_agency = 0;
	out->items = 0;
	out->why = "database error";
out:
	pthread_mutex_unlock(&db->mu);
	return rc;
}

int
process_record_use(struct process_db *db, int64_t id, const char *ori, const char *user,
    const char *subject, int64_t time_us, int64_t audit_index)
{
	sqlite3_stmt *q;
	int rc = -1, step;

	pthread_mutex_lock(&db->mu);
	if (sqldb_exec(&db->d, S_BEGIN) < 0)
		goto out;
	q = sqldb_stmt(&db->d, S_USE);
	sqlite3_bind_int64(q, 1, id);
	step = sqlite3_step(q);
	sqlite3_reset(q);
	if (step != SQLITE_DONE) {
		sqldb_err(&db->d, "record use");
		goto rollback;
	}
	if (sqlite3_changes(db->d.db) == 0) {
		q = sqldb_stmt(&db->d, S_GET);
		sqlite3_bind_int64(q, 1, id);
		step = sqlite3_step(q);
		sqlite3_reset(q);
		rc = step == SQLITE_ROW ? PROCESS_USED_UP : step == SQLITE_DONE ?
		    PROCESS_NOTFOUND : -1;
		goto rollback;
	}
	q = sqldb_stmt(&db->d, S_USE_LOG);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, time_us);
	sqldb_bind_text(q, 3, ori);
	sqldb_bind_text(q, 4, user);
	sqldb_bind_text(q, 5, subject);
	if (audit_index >= 0)
		sqlite3_bind_int64(q, 6, audit_index);
	step = sqlite3_step(q);
	sqlite3_reset(q);
	if (step != SQLITE_DONE) {
		sqldb_err(&db->d, "record use");
		goto rollback;
	}
	if (sqldb_exec(&db->d, S_COMMIT) < 0)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	(void)sqldb_exec(&db->d, S_ROLLBACK);
out:
	pthread_mutex_unlock(&db->mu);
	return rc;
}
