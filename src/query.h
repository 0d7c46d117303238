/*
 * query.h - a /v1/query JSON body mapped to an internal query, with
 * precise 400 errors (docs/api.md, "Errors").
 *
 * The mapping is strict: the body is one JSON object of at most
 * QUERY_MAX_DEPTH nesting; every member must be known, of the right type
 * and within its length limit, and the lookup keys must be exactly those
 * the `by` needs; `reason` is required.  Names (purpose, process) are
 * checked for shape here and against the policy by the caller.
 *
 * A struct query holds its own copies of every string (fixed buffers, no
 * allocation), so it can outlive the JSON text it was parsed from.
 */
#ifndef DMVGATE_QUERY_H
#define DMVGATE_QUERY_H

#include <stddef.h>

#include "store.h"

#define QUERY_MAX_DEPTH 3         /* object > include array > string */
#define QUERY_MAX_MEMBERS 24

/* Value limits, bytes. */
#define QUERY_KEY_MAX 32          /* license_number, plate, vin */
#define QUERY_NAME_MAX 64         /* last_name, first_name, city */
#define QUERY_STREET_MAX 128
#define QUERY_WORD_MAX 64         /* purpose, legal_process */
#define QUERY_REASON_MAX 256

/* Error codes (the "code" of a 400 body). */
enum query_err {
	QUERY_OK = 0,
	QUERY_ERR_JSON,           /* not valid JSON / UTF-8 */
	QUERY_ERR_DEPTH,          /* nested too deep */
	QUERY_ERR_NOT_OBJECT,     /* top level is not an object */
	QUERY_ERR_UNKNOWN_FIELD,
	QUERY_ERR_MISSING_FIELD,
	QUERY_ERR_TYPE,           /* member of the wrong JSON type */
	QUERY_ERR_VALUE,          /* not an allowed value / malformed */
	QUERY_ERR_LENGTH,         /* too long or empty */
	QUERY_ERR_FIELD_NOT_ALLOWED, /* a lookup key the `by` does not use */
};

struct query {
	enum store_type type;
	enum store_by by;
	char type_name[8];        /* "driver" | "vehicle" */
	char by_name[16];         /* "license", ... */
	char license_number[QUERY_KEY_MAX + 1];
	char last_name[QUERY_NAME_MAX + 1], first_name[QUERY_NAME_MAX + 1];
	char dob[11];
	char plate[QUERY_KEY_MAX + 1], plate_state[3];
	char vin[QUERY_KEY_MAX + 1];
	char street[QUERY_STREET_MAX + 1], city[QUERY_NAME_MAX + 1], zip[11];
	char license_kind[QUERY_KEY_MAX + 1];
	char purpose[QUERY_WORD_MAX + 1];
	char reason[QUERY_REASON_MAX + 1];
	char legal_process[QUERY_WORD_MAX + 1];   /* "" when none */
	int photo;                /* include: ["photo"] */
};

/* An error: a code and a one-line message naming the member. */
struct query_error {
	enum query_err code;
	char message[160];
};

/*
 * Parses body (len bytes, untrusted) into q.  Returns 0, or -1 with *err
 * filled.  No allocation survives the call.
 */
int query_parse(const char *body, size_t len, struct query *q, struct query_error *err);
/*
 * The same mapping through Jansson alone.  query_parse takes a one-pass
 * path for the common body (a flat object of plain ASCII strings) and
 * this one for everything else; fuzz_query checks they agree.
 */
int query_parse_reference(const char *body, size_t len, struct query *q, struct query_error *err);

/* The stable name of a code, e.g. "unknown_field". */
const char *query_err_name(enum query_err e);

/* Fills a store lookup whose strings point into q. */
void query_to_store(const struct query *q, struct store_query *sq);

/*
 * Writes the subject key asked for (e.g. "license:D1234567",
 * "plate:CA:7ABC123", "name_dob:DOE/JOHN/1980-01-02") into out.
 */
void query_subject(const struct query *q, char *out, size_t outsz);

#endif /* DMVGATE_QUERY_H */
