/*
 * sqldb.h - one SQLite connection with a fixed table of statements that
 * are prepared once: the shape the modules in DIR/registry.db (registry,
 * legal process, notices) share.  The caller owns the struct and
 * its statement array; the helpers only spare each module its own copy
 * of open/prepare/reset/step/bind boilerplate.
 */
#ifndef DMVGATE_SQLDB_H
#define DMVGATE_SQLDB_H

#include <stddef.h>

#include <sqlite3.h>

struct sqldb {
	sqlite3 *db;
	sqlite3_stmt **st;          /* n statements, st[i] prepared from sql[i] */
	const char *const *sql;
	int n;
	const char *what;           /* prefix of error messages, e.g. "notices" */
};

#define SQLDB_CREATE 1          /* sqldb_open: create the file if missing */
/*
 * Opens the database at path read-write (flags SQLDB_CREATE: created when
 * missing, else it must exist), with a busy timeout, runs setup (pragmas
 * and CREATE ... IF NOT EXISTS schema) and prepares sql[0..n-1] into st
 * (which must hold n).  Returns 0, or -1 with a message on stderr, d then
 * closed.
 */
int sqldb_open(struct sqldb *d, const char *path, int flags, const char *setup,
    const char *const *sql, sqlite3_stmt **st, int n, const char *what);
/* Finalizes the statements and closes the connection; d may be unopened. */
void sqldb_close(struct sqldb *d);

/* Statement i, reset and with its bindings cleared. */
sqlite3_stmt *sqldb_stmt(struct sqldb *d, int i);
/* Steps statement i once (after sqldb_stmt); 0 on DONE or ROW, else -1
 * with a message.  The statement is reset. */
int sqldb_exec(struct sqldb *d, int i);
/* "WHAT: what: sqlite's message" on stderr. */
void sqldb_err(const struct sqldb *d, const char *what);

/* Binds s (NULL as "") as static text. */
void sqldb_bind_text(sqlite3_stmt *q, int i, const char *s);
/* Copies column col as text into dst (dstsz bytes); "" when NULL or too long. */
void sqldb_copy_col(sqlite3_stmt *q, int col, char *dst, size_t dstsz);

#endif /* DMVGATE_SQLDB_H */
