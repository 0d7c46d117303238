/*
 * store_int.h - what store.c and store_import.c share and nobody else
 * needs: the schema and the column lists.
 */
#ifndef DMVGATE_STORE_INT_H
#define DMVGATE_STORE_INT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "field.h"

#define STORE_SCHEMA_VERSION 3

/* Kinds of lookup key in lookup_key(kind, hash, id).  Literal numbers:
 * they are stored, and KIND() in store.c pastes them into SQL. */
#define STORE_KEY_LICENSE 1
#define STORE_KEY_NAME_DOB 2
#define STORE_KEY_DRIVER_ADDR 3
#define STORE_KEY_PLATE 4
#define STORE_KEY_VIN 5
#define STORE_KEY_OWNER 6
#define STORE_KEY_VEHICLE_ADDR 7
#define STORE_NKEYS 8

/* History events are stored at id = driver id * STORE_HISTORY_SLOTS + n,
 * so a driver's events are one rowid range and need no index. */
#define STORE_HISTORY_SLOTS 1024

/*
 * A record is stored as one text column: its fields in file column order
 * (sensitive ones excluded, they live in driver_sensitive) joined by
 * STORE_SEP.  Fields never contain control characters (record.c), so the
 * separator is unambiguous; this keeps a million-row load to a few
 * columns per insert.
 */
#define STORE_SEP '\x1f'

/*
 * Lookup keys that are long text (normalized name + DOB, address) are
 * indexed by a 64-bit hash; a lookup compares the real key of each
 * candidate, so a collision can never return the wrong person.  Changing
 * this function changes the schema version.
 */
int64_t store_key_hash(const char *s, size_t n);

/* Tables (created before a bulk load). */
extern const char store_schema_tables[];
/* Indexes (created after a bulk load). */
extern const char store_schema_indexes[];

/* Is f a column of the driver table (driver fields minus the sensitive). */
int store_is_driver_col(enum field f);

/* The stored order of a driver's (driver=1) or vehicle's public fields;
 * returns their count and points *order at a static array. */
int store_record_fields(int driver, const enum field **order);

/* Runs a multi-statement SQL script; returns 0 or -1 (message on stderr). */
int store_exec(sqlite3 *db, const char *sql, const char *what);

#endif
