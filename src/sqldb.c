/*
 * sqldb.c - a SQLite connection with its statements prepared once from a
 * table (see sqldb.h).
 */
#include "sqldb.h"

#include <string.h>

#include "util.h"

void
sqldb_err(const struct sqldb *d, const char *what)
{
	util_errx("%s: %s: %s", d->what, what, d->db ? sqlite3_errmsg(d->db) : "not open");
}

void
sqldb_close(struct sqldb *d)
{
	if (d->st != NULL)
		for (int i = 0; i < d->n; i++) {
			sqlite3_finalize(d->st[i]);
			d->st[i] = NULL;
		}
	sqlite3_close(d->db);
	d->db = NULL;
}

int
sqldb_open(struct sqldb *d, const char *path, int flags, const char *setup,
    const char *const *sql, sqlite3_stmt **st, int n, const char *what)
{
	char *err = NULL;

	d->db = NULL;
	d->st = st;
	d->sql = sql;
	d->n = n;
	d->what = what;
	memset(st, 0, (size_t)n * sizeof *st);
	if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
	    ((flags & SQLDB_CREATE) ? SQLITE_OPEN_CREATE : 0), NULL) != SQLITE_OK) {
		util_errx("%s: cannot open %s: %s", what, path,
		    d->db ? sqlite3_errmsg(d->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(d->db, 5000);
	if (sqlite3_exec(d->db, setup, NULL, NULL, &err) != SQLITE_OK) {
		util_errx("%s: %s: %s", what, path, err ? err : "schema error");
		sqlite3_free(err);
		goto fail;
	}
	for (int i = 0; i < n; i++) {
		if (sqlite3_prepare_v3(d->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st[i], NULL) !=
		    SQLITE_OK) {
			sqldb_err(d, sql[i]);
			goto fail;
		}
	}
	return 0;
fail:
	sqldb_close(d);
	return -1;
}

sqlite3_stmt *
sqldb_stmt(struct sqldb *d, int i)
{
	sqlite3_reset(d->st[i]);
	sqlite3_clear_bindings(d->st[i]);
	return d->st[i];
}

int
sqldb_exec(struct sqldb *d, int i)
{
	sqlite3_stmt *q = d->st[i];
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		sqldb_err(d, d->sql[i]);
		return -1;
	}
	return 0;
}

void
sqldb_bind_text(sqlite3_stmt *q, int i, const char *s)
{
	sqlite3_bind_text(q, i, s ? s : "", -1, SQLITE_STATIC);
}

void
sqldb_copy_col(sqlite3_stmt *q, int col, char *dst, size_t dstsz)
{
	const unsigned char *t = sqlite3_column_text(q, col);

	if (t == NULL || util_strlcpy(dst, (const char *)t, dstsz) < 0)
		dst[0] = '\0';
}
