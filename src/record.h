/*
 * record.h - the shape of a valid record: the CSV columns of drivers.csv,
 * history.csv and vehicles.csv, their vocabularies, and the checks the
 * importer applies to every row (dates, enumerations, lengths, VIN check
 * digit).  One definition, used by import, by the store's schema and by
 * the tests.
 */
#ifndef DMVGATE_RECORD_H
#define DMVGATE_RECORD_H

#include <stddef.h>

#include "csv.h"
#include "field.h"

#define RECORD_TEXT_MAX 128     /* longest text field, bytes */

/* Column order of each file: indexes into enum field, and for history
 * its own five columns. */
#define RECORD_DRIVER_COLS 26   /* FIELD_LICENSE_NUMBER .. FIELD_DOCUMENTS */
#define RECORD_VEHICLE_COLS 17  /* FIELD_PLATE .. FIELD_REGISTRATION_STATUS */
#define RECORD_HISTORY_COLS 5

enum record_hcol { RECORD_H_LICENSE, RECORD_H_DATE, RECORD_H_KIND, RECORD_H_CODE, RECORD_H_DESC };
extern const char *const record_history_cols[RECORD_HISTORY_COLS];

/* The field of driver column i (0-based) and vehicle column i. */
enum field record_driver_col(int i);
enum field record_vehicle_col(int i);

/*
 * Validates a row (fields in file column order, n of them).  Returns 0,
 * or -1 with a message naming the column in err (errsz bytes).
 */
int record_check_driver(const struct csv_field *f, size_t n, char *err, size_t errsz);
int record_check_history(const struct csv_field *f, size_t n, char *err, size_t errsz);
int record_check_vehicle(const struct csv_field *f, size_t n, char *err, size_t errsz);

/* 1 when s (len bytes) is a well-formed license number: 1-16 of [A-Z0-9]. */
int record_license_ok(const char *s, size_t len);

#endif /* DMVGATE_RECORD_H */
