/*
 * store_int.h - what store.c and store_import.c share and nobody else
 * needs: the schema and the column lists.
 */
#ifndef DMVGATE_STORE_INT_H
#define DMVGATE_STORE_INT_H

#include <sqlite3.h>

#include "field.h"

#define STORE_SCHEMA_VERSION 1

/* Tables (created before a bulk load). */
extern const char store_schema_tables[];
/* Indexes (created after a bulk load). */
extern const char store_schema_indexes[];

/* Is f a column of the driver table (driver fields minus the sensitive). */
int store_is_driver_col(enum field f);

/* Runs a multi-statement SQL script; returns 0 or -1 (message on stderr). */
int store_exec(sqlite3 *db, const char *sql, const char *what);

#endif
