/*
 * migrate.h - schema versions of the data directory's databases and the
 * migrations between them (`dmvgate migrate`, `dmvgate serve --migrate`).
 *
 * Each database keeps its version in its meta table: registry.db under
 * meta.registry_schema (registry.c), records.db under meta.schema_version
 * (written by every import, store_import.c).  A binary knows one version
 * of each (MIGRATE_*_VERSION).  A database at an older version is brought
 * forward by the steps in migrate.c, each in one transaction together with
 * its version bump; one at a newer version is refused, so that an older
 * binary never writes a database it does not understand.  records.db is
 * rebuilt by every nightly import, so an old one is not migrated in place:
 * it must be re-imported.
 *
 * Migrations need the data directory to themselves: they take the audit
 * log's lock (DIR/audit/lock), which a running server holds.
 */
#ifndef DMVGATE_MIGRATE_H
#define DMVGATE_MIGRATE_H

#include <stdio.h>

/* The registry version this binary reads and writes.  Keep in step with
 * REGISTRY_SCHEMA_VERSION (registry.c), with a step in migrate.c from the
 * version before; tests/unit/test_migrate.c checks that they agree.  The
 * records version is the store's own STORE_SCHEMA_VERSION (store_int.h):
 * a new one needs no step here, since an old records.db is re-imported. */
#define MIGRATE_REGISTRY_VERSION 1

enum migrate_db {
	MIGRATE_REGISTRY = 0,
	MIGRATE_RECORDS = 1
};
#define MIGRATE_NDB 2

enum migrate_state {
	MIGRATE_CURRENT,   /* at the version this binary knows */
	MIGRATE_EMPTY,     /* records.db never imported (no version, no rows) */
	MIGRATE_OLDER,     /* older; `migrate` brings it forward */
	MIGRATE_REIMPORT,  /* records.db older than this binary reads: re-import */
	MIGRATE_NEWER,     /* newer than this binary knows: refuse */
	MIGRATE_MISSING,   /* the file does not exist */
	MIGRATE_BROKEN     /* not a database or an unreadable version */
};

struct migrate_status {
	const char *file;        /* "registry.db" or "records.db" (static) */
	int version;             /* version found (0: none recorded) */
	int known;               /* this binary's version */
	enum migrate_state state;
};

/* The database file name of which (static string). */
const char *migrate_file(enum migrate_db which);
/* A word for a state: "current", "older", ... (static string). */
const char *migrate_state_name(enum migrate_state s);

/*
 * Reads the version of the database at path, which is a `which` database,
 * into st.  Opens it read-only and changes nothing.  Returns 0 (st filled,
 * whatever the state), or -1 when path cannot be examined at all.
 */
int migrate_db_status(const char *path, enum migrate_db which, struct migrate_status *st);

/*
 * The status of both databases of datadir into st[MIGRATE_NDB].  Returns 0
 * when every database can be used as it is (current, or records.db not yet
 * imported), 1 when some can be migrated (older), or -1 when some cannot
 * (newer, re-import, missing, broken); messages for -1 on stderr.
 */
int migrate_check(const char *datadir, struct migrate_status st[MIGRATE_NDB]);

/*
 * Applies every pending migration of datadir, each step in one
 * transaction with its version bump, printing one line per step to out
 * (may be NULL).  With dry_run, prints what it would do and changes
 * nothing.  Takes the audit log's lock for the duration and refuses (errno
 * EWOULDBLOCK, message on stderr) while a server holds it.  Refuses a
 * database at a newer version or needing a re-import.  Returns 0 or -1.
 */
int migrate_apply(const char *datadir, int dry_run, FILE *out);

#endif /* DMVGATE_MIGRATE_H */
