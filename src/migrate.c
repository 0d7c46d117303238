/*
 * migrate.c - schema versions and migrations of registry.db and records.db
 * (see migrate.h).
 *
 * A migration is a step from version N to N+1 of one database: a function
 * run inside one IMMEDIATE transaction that also writes the new version, so
 * a crash leaves the database at N or at N+1, never between.  Steps are
 * listed in order in the table below; a new schema version of the registry
 * adds one line there (and bumps MIGRATE_REGISTRY_VERSION with
 * REGISTRY_SCHEMA_VERSION).  records.db has no steps: it is rebuilt by the
 * nightly import, so an old one is re-imported rather than migrated.
 */
#include "migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "datadir.h"
#include "store_int.h"
#include "util.h"

/* Where each database keeps its version (meta(key, value)). */
static const struct {
	const char *file;
	const char *key;
	int known;
} dbs[MIGRATE_NDB] = {
	[MIGRATE_REGISTRY] = { DATADIR_REGISTRY, "registry_schema", MIGRATE_REGISTRY_VERSION },
	[MIGRATE_RECORDS] = { DATADIR_RECORDS, "schema_version", STORE_SCHEMA_VERSION },
};

/*
 * Registry version 0 -> 1: registries written before the schema carried a
 * version.  Their tables are those of version 1; the step checks that this
 * is a registry and records the version.
 */
static int
registry_v0_to_v1(sqlite3 *db, const char *path)
{
	sqlite3_stmt *st = NULL;
	int n = 0, rc = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
	    " AND name IN ('agencies', 'users')", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		util_errx("%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	n = sqlite3_column_int(st, 0);
	if (n != 2) {
		util_errx("%s: not a registry (no agencies and users tables)", path);
		goto out;
	}
	if (sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);"
	    "INSERT OR IGNORE INTO meta(key, value) VALUES('changes', 0);",
	    NULL, NULL, NULL) != SQLITE_OK) {
		util_errx("%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

struct step {
	enum migrate_db db;
	int from;                 /* leaves the database at from + 1 */
	const char *what;         /* one line for the operator */
	int (*fn)(sqlite3 *db, const char *path);
};

static const struct step steps[] = {
	{ MIGRATE_REGISTRY, 0, "record the schema version (registries made before versions)",
	  registry_v0_to_v1 },
};

const char *
migrate_file(enum migrate_db which)
{
	return dbs[which].file;
}

const char *
migrate_state_name(enum migrate_state s)
{
	switch (s) {
	case MIGRATE_CURRENT: return "current";
	case MIGRATE_EMPTY: return "empty (no extract imported yet)";
	case MIGRATE_OLDER: return "older: run dmvgate migrate";
	case MIGRATE_REIMPORT: return "older than this binary reads: re-import the extract";
	case MIGRATE_NEWER: return "newer than this binary knows: use a newer dmvgate";
	case MIGRATE_MISSING: return "missing";
	case MIGRATE_BROKEN: return "not readable";
	}
	return "unknown";
}

/* Reads meta[key] as a version into *v (0 when absent).  0 or -1. */
static int
read_version(sqlite3 *db, const char *key, int *v)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, r;

	*v = 0;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
	    " AND name = 'meta'", -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		goto out;
	if (sqlite3_column_int(st, 0) == 0) {
		rc = 0;   /* no meta table: unversioned */
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (r != SQLITE_ROW)
		goto out;
	if (sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
		sqlite3_int64 x = sqlite3_column_int64(st, 0);
		if (x < 1 || x > INT_MAX)
			goto out;
		*v = (int)x;
	} else if (sqlite3_column_type(st, 0) == SQLITE_TEXT) {
		int64_t x;
		if (util_parse_i64((const char *)sqlite3_column_text(st, 0), 1, INT_MAX, &x) < 0)
			goto out;
		*v = (int)x;
	} else
		goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* 1 when records.db holds no driver (or has no driver table), 0 when it
 * does, -1 on error. */
static int
records_empty(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
	    " AND name = 'driver'", -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		goto out;
	if (sqlite3_column_int(st, 0) == 0) {
		rc = 1;
		goto out;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "SELECT EXISTS(SELECT 1 FROM driver)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto out;
	rc = sqlite3_column_int(st, 0) ? 0 : 1;
out:
	sqlite3_finalize(st);
	return rc;
}

int
migrate_db_status(const char *path, enum migrate_db which, struct migrate_status *st)
{
	sqlite3 *db = NULL;
	int v = 0, e;

	memset(st, 0, sizeof *st);
	st->file = dbs[which].file;
	st->known = dbs[which].known;
	if (access(path, F_OK) != 0) {
		st->state = MIGRATE_MISSING;
		return 0;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		st->state = MIGRATE_BROKEN;
		return 0;
	}
	sqlite3_busy_timeout(db, 5000);
	if (read_version(db, dbs[which].key, &v) < 0) {
		st->state = MIGRATE_BROKEN;
		goto out;
	}
	st->version = v;
	if (v > st->known)
		st->state = MIGRATE_NEWER;
	else if (v == st->known)
		st->state = MIGRATE_CURRENT;
	else if (which == MIGRATE_RECORDS) {
		e = v == 0 ? records_empty(db) : 0;
		st->state = e < 0 ? MIGRATE_BROKEN : e == 1 ? MIGRATE_EMPTY : MIGRATE_REIMPORT;
	} else
		st->state = MIGRATE_OLDER;
out:
	sqlite3_close(db);
	return 0;
}

int
migrate_check(const char *datadir, struct migrate_status st[MIGRATE_NDB])
{
	char path[PATH_MAX];
	int rc = 0;

	for (int i = 0; i < MIGRATE_NDB; i++) {
		if (datadir_path(datadir, dbs[i].file, path, sizeof path) < 0 ||
		    migrate_db_status(path, (enum migrate_db)i, &st[i]) < 0)
			return -1;
		switch (st[i].state) {
		case MIGRATE_CURRENT:
		case MIGRATE_EMPTY:
			break;
		case MIGRATE_OLDER:
			if (rc == 0)
				rc = 1;
			break;
		case MIGRATE_REIMPORT:
		case MIGRATE_NEWER:
		case MIGRATE_MISSING:
		case MIGRATE_BROKEN:
			util_errx("%s: schema version %d, this dmvgate knows %d: %s", path,
			    st[i].version, st[i].known, migrate_state_name(st[i].state));
			rc = -1;
			break;
		}
	}
	return rc;
}

/* Runs one step on the database at path: fn and the version bump in one
 * transaction.  0 or -1 (rolled back). */
static int
run_step(const char *path, const struct step *s)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -1, began = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		util_errx("%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		util_errx("%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	began = 1;
	if (s->fn(db, path) < 0)
		goto out;
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", -1,
	    &st, NULL) != SQLITE_OK) {
		util_errx("%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(st, 1, dbs[s->db].key, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, s->from + 1);
	if (sqlite3_step(st) != SQLITE_DONE ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		util_errx("%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	began = 0;
	rc = 0;
out:
	sqlite3_finalize(st);
	if (began)
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* Takes DIR/audit/lock; returns its fd or -1 (errno EWOULDBLOCK: held). */
static int
lock_datadir(const char *datadir)
{
	char path[PATH_MAX];
	int fd, e;

	if ((size_t)snprintf(path, sizeof path, "%s/%s/lock", datadir, DATADIR_AUDIT) >= sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		util_warn("%s", path);
		return -1;
	}
	/* Run as root on a directory another user owns (the service's): a lock
	 * file created here must stay usable by that user. */
	if (geteuid() == 0) {
		struct stat dst, lst;
		if (stat(datadir, &dst) == 0 && fstat(fd, &lst) == 0 && lst.st_uid != dst.st_uid &&
		    fchown(fd, dst.st_uid, dst.st_gid) < 0)
			util_warn("%s: chown", path);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		if (e == EWOULDBLOCK)
			util_errx("%s: the audit log is held by a running server (or another command); "
			    "stop it (systemctl stop dmvgate) and run this again", datadir);
		else
			util_warn("%s", path);
		(void)close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
migrate_apply(const char *datadir, int dry_run, FILE *out)
{
	struct migrate_status st[MIGRATE_NDB];
	char path[PATH_MAX];
	int fd = -1, rc = -1;

	if (datadir_check(datadir) < 0)
		return -1;
	if ((fd = lock_datadir(datadir)) < 0)
		return -1;
	if (migrate_check(datadir, st) < 0)
		goto out;
	for (int i = 0; i < MIGRATE_NDB; i++) {
		int v = st[i].version;

		if (datadir_path(datadir, dbs[i].file, path, sizeof path) < 0)
			goto out;
		if (st[i].state == MIGRATE_OLDER) {
			for (size_t k = 0; k < UTIL_NELEM(steps) && v < st[i].known; k++) {
				if (steps[k].db != (enum migrate_db)i || steps[k].from != v)
					continue;
				if (out != NULL)
					fprintf(out, "%s: version %d -> %d: %s%s\n", dbs[i].file, v, v + 1,
					    steps[k].what, dry_run ? " (dry run)" : "");
				if (!dry_run && run_step(path, &steps[k]) < 0)
					goto out;
				v++;
			}
			if (v != st[i].known) {
				util_errx("%s: no migration from version %d", path, v);
				goto out;
			}
		}
		if (out != NULL)
			fprintf(out, "%s: version %d%s\n", dbs[i].file, dry_run ? st[i].version : v,
			    st[i].state == MIGRATE_EMPTY ? " (empty: no extract imported yet)" :
			    dry_run && st[i].state == MIGRATE_OLDER ? " (older)" : " (current)");
	}
	rc = 0;
out:
	(void)close(fd);
	return rc;
}
