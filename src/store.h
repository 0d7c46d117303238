/*
 * store.h - the records store: drivers, their history events, vehicles and
 * photo references in one SQLite database (DIR/records.db).
 *
 * The sensitive driver fields (license_kind, ssn, place_of_birth,
 * documents) live in a separate table that a lookup reads only when the
 * caller's field mask asks for them: the query path passes the mask the
 * policy decision released, so an unreleased field is never even read.
 *
 * A struct store is one connection with its statements prepared once; it
 * is not thread-safe: give each thread its own (they are cheap).  Lookups
 * hand rows to a callback; a row's values are valid only during the call.
 */
#ifndef DMVGATE_STORE_H
#define DMVGATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "field.h"

struct store;
struct store_row;

enum store_type { STORE_DRIVER, STORE_VEHICLE };
enum store_by {
	STORE_BY_LICENSE,       /* license_number */
	STORE_BY_NAME_DOB,      /* last_name, first_name, dob (exact, normalized) */
	STORE_BY_PLATE,         /* plate, plate_state */
	STORE_BY_VIN,           /* vin */
	STORE_BY_ADDRESS,       /* street, city, zip (normalized) */
	STORE_BY_LICENSE_KIND,  /* license_kind */
};

/* A lookup.  Unused keys are NULL.  Strings are NUL-terminated. */
struct store_query {
	enum store_type type;
	enum store_by by;
	const char *license_number;
	const char *last_name, *first_name, *dob;
	const char *plate, *plate_state;
	const char *vin;
	const char *street, *city, *zip;
	const char *license_kind;
};

/*
 * Opens DIR/records.db (path given).  readonly opens it read-only (the
 * server); otherwise the schema is created when missing.  Returns NULL on
 * error with a message on stderr.  The caller frees with store_close.
 */
struct store *store_open(const char *path, int readonly);
void store_close(struct store *s);

/*
 * Runs a lookup, calling cb once per matching record (at most max_rows).
 * want is the set of fields the caller may see: only those columns are
 * read (sensitive ones from their own table; FIELD_HISTORY adds the
 * history events, see store_row_history).  cb returns 0 to go on, non-zero
 * to stop.  Returns the number of rows delivered, or -1 on error.
 * A query whose `by` does not fit its type (e.g. a vehicle by name) or
 * whose keys are missing returns -1.
 */
typedef int (*store_row_cb)(void *arg, const struct store_row *row);
int store_find(struct store *s, const struct store_query *q, field_mask want,
    unsigned max_rows, store_row_cb cb, void *arg);

/*
 * A field's value in the current row: a pointer (not NUL-terminated
 * necessarily; use len) or NULL when the field is absent, empty or not in
 * the mask.  Valid until the callback returns.
 */
const char *store_row_get(const struct store_row *r, enum field f, size_t *len);
/* The normalized address key of the row's person or owner ("" if none). */
const char *store_row_addr_key(const struct store_row *r);

/* History events of the row's driver (only when FIELD_HISTORY was wanted). */
struct store_event {
	const char *date, *kind, *code, *description;
};
typedef int (*store_event_cb)(void *arg, const struct store_event *ev);
int store_row_history(const struct store_row *r, store_event_cb cb, void *arg);

/* Counts of the loaded records (for /metrics and summaries); -1 on error. */
int64_t store_count(struct store *s, enum store_type t);

/*
 * Path to a photo's image file for a photo_id, or NULL when none.  The
 * string is owned by the store and valid until the next call.
 */
const char *store_photo_path(struct store *s, const char *photo_id);

/*
 * 1 when the database file at the opened path was replaced (a re-import
 * renamed a new file over it) or removed: the caller should close this
 * store and open a new one.  Costs one stat(2).
 */
int store_stale(struct store *s);

/*
 * Bulk import of DIR/drivers.csv (required), DIR/history.csv and
 * DIR/vehicles.csv (optional) into a new database written next to dbpath
 * and renamed over it when complete, so readers see the old records or
 * the new ones, never half a load.  Every row is validated; a bad row is
 * reported on stderr as "file:line: message" and skipped, or with strict
 * the import stops there and nothing is replaced.
 */
struct store_import_stats {
	uint64_t drivers, history, vehicles;   /* rows loaded */
	uint64_t rejected;                      /* rows skipped */
	double seconds;
};
int store_import(const char *dbpath, const char *dir, int strict,
    struct store_import_stats *stats);

#endif /* DMVGATE_STORE_H */
