/*
 * test_migrate.c - schema versions and migrations (migrate.c): a fresh data
 * directory is current; a registry at an older version (crafted: a
 * version-0 registry, made before versions were recorded) is migrated in
 * one step; databases at a newer version, and a records.db too old to
 * migrate, are refused and left untouched; migrate refuses while another
 * process holds the audit log's lock; the registry version migrate.h knows
 * is the one registry.c writes.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>

#include <sqlite3.h>

#include "datadir.h"
#include "migrate.h"
#include "registry.h"
#include "store_int.h"
#include "util.h"


static void
sql(const char *path, const char *text)
{
	sqlite3 *db = NULL;
	char *err = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, text, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", text, err);
	sqlite3_close(db);
}

static char *
fresh(void)
{
	char *dir = test_tmpdir();
	char *data = util_aprintf("%s/data", dir);

	assert_int_equal(datadir_init(data, DATADIR_DEFAULT_ORIGIN, 0), 0);
	free(data);
	return dir;
}

static char *
pathof(const char *dir, const char *file)
{
	return util_aprintf("%s/data/%s", dir, file);
}

static void
test_fresh_datadir_is_usable(void **state)
{
	char *dir = fresh(), *data = util_aprintf("%s/data", dir);
	struct migrate_status st[MIGRATE_NDB];

	(void)state;
	assert_int_equal(migrate_check(data, st), 0);
	/* registry.c writes the version migrate.h knows */
	assert_int_equal(st[MIGRATE_REGISTRY].state, MIGRATE_CURRENT);
	assert_int_equal(st[MIGRATE_REGISTRY].version, MIGRATE_REGISTRY_VERSION);
	/* an initialized records.db before any import */
	assert_int_equal(st[MIGRATE_RECORDS].state, MIGRATE_EMPTY);
	assert_int_equal(migrate_apply(data, 0, NULL), 0);
	free(data);
	test_rmtree(dir);
}

static void
test_old_registry_is_migrated(void **state)
{
	char *dir = fresh(), *data = util_aprintf("%s/data", dir);
	char *reg = pathof(dir, "registry.db");
	struct migrate_status st;
	struct registry *r;

	(void)state;
	/* A registry written before the version was recorded. */
	sql(reg, "DELETE FROM meta WHERE key = 'registry_schema';"
		 "INSERT INTO agencies(ori, name, category, certified_until, created_us)"
		 " VALUES('CA0010000', 'P', 'local_police', 30000, 1);");
	assert_int_equal(migrate_db_status(reg, MIGRATE_REGISTRY, &st), 0);
	assert_int_equal(st.state, MIGRATE_OLDER);
	assert_int_equal(st.version, 0);
	/* dry run changes nothing */
	assert_int_equal(migrate_apply(data, 1, NULL), 0);
	assert_int_equal(migrate_db_status(reg, MIGRATE_REGISTRY, &st), 0);
	assert_int_equal(st.state, MIGRATE_OLDER);
	assert_int_equal(migrate_apply(data, 0, NULL), 0);
	assert_int_equal(migrate_db_status(reg, MIGRATE_REGISTRY, &st), 0);
	assert_int_equal(st.state, MIGRATE_CURRENT);
	assert_int_equal(st.version, MIGRATE_REGISTRY_VERSION);
	/* the data survived and the registry still opens */
	r = registry_open(reg);
	assert_non_null(r);
	registry_close(r);
	/* a second run has nothing to do */
	assert_int_equal(migrate_apply(data, 0, NULL), 0);
	free(reg);
	free(data);
	test_rmtree(dir);
}

static void
test_registry_without_meta_table(void **state)
{
	char *dir = test_tmpdir(), *reg = util_aprintf("%s/registry.db", dir);
	struct migrate_status st;

	(void)state;
	sql(reg, "CREATE TABLE agencies(ori TEXT PRIMARY KEY);"
		 "CREATE TABLE users(userid TEXT PRIMARY KEY);");
	assert_int_equal(migrate_db_status(reg, MIGRATE_REGISTRY, &st), 0);
	assert_int_equal(st.state, MIGRATE_OLDER);
	assert_int_equal(st.version, 0);
	free(reg);
	test_rmtree(dir);
}

static void
test_newer_registry_is_refused(void **state)
{
	char *dir = fresh(), *data = util_aprintf("%s/data", dir);
	char *reg = pathof(dir, "registry.db");
	struct migrate_status st[MIGRATE_NDB], one;

	(void)state;
	sql(reg, "UPDATE meta SET value = 99 WHERE key = 'registry_schema';");
	assert_int_equal(migrate_check(data, st), -1);
	assert_int_equal(st[MIGRATE_REGISTRY].state, MIGRATE_NEWER);
	assert_int_equal(st[MIGRATE_REGISTRY].version, 99);
	assert_int_equal(migrate_apply(data, 0, NULL), -1);
	assert_int_equal(migrate_db_status(reg, MIGRATE_REGISTRY, &one), 0);
	assert_int_equal(one.version, 99);   /* untouched */
	free(reg);
	free(data);
	test_rmtree(dir);
}

static void
test_records_versions(void **state)
{
	char *dir = fresh(), *data = util_aprintf("%s/data", dir);
	char *rec = pathof(dir, "records.db");
	struct migrate_status st[MIGRATE_NDB], one;

	(void)state;
	/* imported by this binary's import: current */
	{
		char *q = util_aprintf("INSERT INTO meta(key, value) VALUES('schema_version', '%d');"
		    "INSERT INTO driver(id, rec) VALUES(1, 'x');", STORE_SCHEMA_VERSION);
		sql(rec, q);
		free(q);
	}
	assert_int_equal(migrate_check(data, st), 0);
	assert_int_equal(st[MIGRATE_RECORDS].state, MIGRATE_CURRENT);
	/* an old import: re-import, not migrate */
	sql(rec, "UPDATE meta SET value = '1' WHERE key = 'schema_version';");
	assert_int_equal(migrate_check(data, st), -1);
	assert_int_equal(st[MIGRATE_RECORDS].state, MIGRATE_REIMPORT);
	assert_int_equal(migrate_apply(data, 0, NULL), -1);
	/* unversioned with rows: also too old */
	sql(rec, "DELETE FROM meta WHERE key = 'schema_version';");
	assert_int_equal(migrate_db_status(rec, MIGRATE_RECORDS, &one), 0);
	assert_int_equal(one.state, MIGRATE_REIMPORT);
	/* from a newer binary: refused, untouched */
	{
		char *q = util_aprintf("INSERT INTO meta(key, value) VALUES('schema_version', '%d');",
		    STORE_SCHEMA_VERSION + 1);
		sql(rec, q);
		free(q);
	}
	assert_int_equal(migrate_check(data, st), -1);
	assert_int_equal(st[MIGRATE_RECORDS].state, MIGRATE_NEWER);
	assert_int_equal(migrate_apply(data, 0, NULL), -1);
	assert_int_equal(migrate_db_status(rec, MIGRATE_RECORDS, &one), 0);
	assert_int_equal(one.version, STORE_SCHEMA_VERSION + 1);
	/* garbage version */
	sql(rec, "UPDATE meta SET value = 'three' WHERE key = 'schema_version';");
	assert_int_equal(migrate_db_status(rec, MIGRATE_RECORDS, &one), 0);
	assert_int_equal(one.state, MIGRATE_BROKEN);
	free(rec);
	free(data);
	test_rmtree(dir);
}

static void
test_not_a_database(void **state)
{
	char *dir = test_tmpdir(), *p = util_aprintf("%s/registry.db", dir);
	struct migrate_status st;
	FILE *f = fopen(p, "w");

	(void)state;
	assert_non_null(f);
	fputs("this is not a SQLite database, not even close to one............\n", f);
	fclose(f);
	assert_int_equal(migrate_db_status(p, MIGRATE_REGISTRY, &st), 0);
	assert_int_equal(st.state, MIGRATE_BROKEN);
	free(p);
	p = util_aprintf("%s/absent.db", dir);
	assert_int_equal(migrate_db_status(p, MIGRATE_RECORDS, &st), 0);
	assert_int_equal(st.state, MIGRATE_MISSING);
	free(p);
	test_rmtree(dir);
}

static void
test_refused_while_log_is_held(void **state)
{
	char *dir = fresh(), *data = util_aprintf("%s/data", dir);
	char *lock = pathof(dir, "audit/lock");
	int fd;

	(void)state;
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	/* flock is per open file: migrate's own open of the lock conflicts */
	errno = 0;
	assert_int_equal(migrate_apply(data, 0, NULL), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	close(fd);
	assert_int_equal(migrate_apply(data, 0, NULL), 0);
	free(lock);
	free(data);
	test_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_datadir_is_usable),
		cmocka_unit_test(test_old_registry_is_migrated),
		cmocka_unit_test(test_registry_without_meta_table),
		cmocka_unit_test(test_newer_registry_is_refused),
		cmocka_unit_test(test_records_versions),
		cmocka_unit_test(test_not_a_database),
		cmocka_unit_test(test_refused_while_log_is_held),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
