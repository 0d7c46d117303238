/*
 * csv.h - a strict, bounded RFC 4180 reader.
 *
 * The file is memory-mapped and records are parsed in place: a field
 * points into the file unless it had doubled quotes, in which case it is
 * unescaped into a per-record scratch buffer.  Both are valid until the
 * next csv_next call.  Limits are checked before any copy: at most
 * CSV_MAX_FIELDS fields, CSV_MAX_FIELD bytes per field, CSV_MAX_RECORD
 * bytes per record.  Fields must be valid UTF-8 without NUL bytes.
 * Line ends may be CRLF or LF.  A malformed record is reported with the
 * line on which it starts, and the reader skips to the next line so that
 * the caller may go on.
 */
#ifndef DMVGATE_CSV_H
#define DMVGATE_CSV_H

#include <stddef.h>

#define CSV_MAX_FIELDS 64
#define CSV_MAX_FIELD 4096
#define CSV_MAX_RECORD 65536

struct csv;

struct csv_field {
	const char *p;
	size_t len;
};

/* Opens and maps path.  NULL on error (message on stderr).  Caller frees
 * with csv_close. */
struct csv *csv_open(const char *path);
/* Reads from a caller-owned buffer that must outlive the reader. */
struct csv *csv_open_mem(const char *name, const char *buf, size_t len);
void csv_close(struct csv *c);

/*
 * Reads the next record.  Returns 1 and sets *fields and *n (owned by the
 * reader, valid until the next call), 0 at end of input, or -1 for a
 * malformed record: csv_error() says why and csv_line() where.
 */
int csv_next(struct csv *c, const struct csv_field **fields, size_t *n);

/* Line number (1-based) where the last record started. */
size_t csv_line(const struct csv *c);
/* Message for the last -1 from csv_next. */
const char *csv_error(const struct csv *c);
/* Bytes consumed so far and the input's size, for progress bars. */
size_t csv_offset(const struct csv *c);
size_t csv_size(const struct csv *c);
const char *csv_name(const struct csv *c);

/* 1 when field f equals the NUL-terminated string s. */
int csv_field_is(const struct csv_field *f, const char *s);

#endif /* DMVGATE_CSV_H */
