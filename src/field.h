/*
 * field.h - the canonical field names of design.md ("Data model"), shared
 * by the CSV files, the record store, the policy language (items), the
 * release step and the audit log (items released).  A set of fields is a
 * 64-bit mask, so policy item sets and releases are bitwise operations.
 *
 * Two pseudo-fields name things that are not columns: FIELD_HISTORY (the
 * driver's history events) and FIELD_PHOTO (the image behind photo_id).
 */
#ifndef DMVGATE_FIELD_H
#define DMVGATE_FIELD_H

#include <stddef.h>
#include <stdint.h>

enum field {
	/* driver */
	FIELD_LICENSE_NUMBER, FIELD_LAST_NAME, FIELD_FIRST_NAME, FIELD_MIDDLE_NAME,
	FIELD_SUFFIX, FIELD_DOB, FIELD_SEX, FIELD_HEIGHT_IN, FIELD_WEIGHT_LB,
	FIELD_EYE_COLOR, FIELD_HAIR_COLOR, FIELD_STREET, FIELD_CITY, FIELD_STATE,
	FIELD_ZIP, FIELD_LICENSE_CLASS, FIELD_LICENSE_KIND, FIELD_STATUS,
	FIELD_RESTRICTIONS, FIELD_ENDORSEMENTS, FIELD_ISSUED, FIELD_EXPIRES,
	FIELD_PHOTO_ID,
	/* driver, sensitive (separate table) */
	FIELD_SSN, FIELD_PLACE_OF_BIRTH, FIELD_DOCUMENTS,
	/* pseudo-fields */
	FIELD_HISTORY, FIELD_PHOTO,
	/* vehicle */
	FIELD_PLATE, FIELD_PLATE_STATE, FIELD_PLATE_TYPE, FIELD_PLATE_EXPIRES,
	FIELD_VIN, FIELD_MAKE, FIELD_MODEL, FIELD_MODEL_YEAR, FIELD_COLOR,
	FIELD_BODY_STYLE, FIELD_OWNER_LICENSE_NUMBER, FIELD_OWNER_NAME,
	FIELD_OWNER_STREET, FIELD_OWNER_CITY, FIELD_OWNER_STATE, FIELD_OWNER_ZIP,
	FIELD_REGISTRATION_STATUS,
	FIELD_COUNT
};

typedef uint64_t field_mask;

#define FIELD_BIT(f) ((field_mask)1 << (f))

enum field_record { FIELD_REC_DRIVER, FIELD_REC_VEHICLE, FIELD_REC_PSEUDO };

struct field_info {
	const char *name;          /* canonical name, e.g. "license_number" */
	enum field_record record;  /* which record it belongs to */
	unsigned sensitive : 1;    /* license_kind, ssn, place_of_birth, documents */
	unsigned integer : 1;      /* released as a JSON number */
};

/* The table, indexed by enum field. */
extern const struct field_info field_info[FIELD_COUNT];

/* Masks of every driver column, every vehicle column, the sensitive set. */
extern const field_mask FIELD_MASK_DRIVER;
extern const field_mask FIELD_MASK_VEHICLE;
extern const field_mask FIELD_MASK_SENSITIVE;

/* Finds a field by name (len bytes, not NUL-terminated); -1 if unknown. */
int field_lookup(const char *name, size_t len);

/*
 * Writes the names of the fields in m, in enum order, separated by sep,
 * into out (size outsz, NUL-terminated).  Returns the length, or -1 when
 * it did not fit.
 */
int field_mask_format(field_mask m, char sep, char *out, size_t outsz);

#endif /* DMVGATE_FIELD_H */
