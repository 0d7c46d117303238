/*
 * record.c - row validation for the three CSV files (see record.h).  The
 * vocabularies are those design.md and the generator use; a value outside
 * them is a bad row, reported and skipped by the importer.
 */
#include "record.h"

#include <stdio.h>
#include <string.h>

#include "util.h"
#include "vin.h"

const char *const record_history_cols[RECORD_HISTORY_COLS] = {
	"license_number", "date", "kind", "code", "description"
};

enum field
record_driver_col(int i)
{
	return (enum field)(FIELD_LICENSE_NUMBER + i);
}

enum field
record_vehicle_col(int i)
{
	return (enum field)(FIELD_PLATE + i);
}

static const char *const v_sex[] = { "M", "F", "X", NULL };
static const char *const v_eye[] = { "BLK", "BLU", "BRO", "GRY", "GRN", "HAZ", "MAR", "PNK",
	"DIC", "UNK", NULL };
static const char *const v_hair[] = { "BAL", "BLK", "BLN", "BRO", "GRY", "RED", "SDY", "WHI",
	"UNK", NULL };
static const char *const v_class[] = { "A", "B", "C", "M", NULL };
static const char *const v_kind[] = { "REAL_ID", "STANDARD", "DRIVER_PRIVILEGE_CARD", NULL };
static const char *const v_status[] = { "VALID", "SUSPENDED", "REVOKED", "EXPIRED",
	"CANCELLED", NULL };
static const char *const v_docs[] = { "US_PASSPORT", "US_BIRTH_CERTIFICATE",
	"FOREIGN_PASSPORT", "CONSULAR_ID", "ITIN_LETTER", "PERMANENT_RESIDENT_CARD",
	"EMPLOYMENT_AUTHORIZATION", "SSN_CARD", "PROOF_OF_RESIDENCY", NULL };
static const char *const v_restr[] = { "B", "C", "D", "E", "F", "G", "L", "M", "N", "P", NULL };
static const char *const v_endorse[] = { "H", "N", "P", "S", "T", "X", NULL };
static const char *const v_hkind[] = { "citation", "accident", "suspension", "revocation", NULL };
static const char *const v_ptype[] = { "PASSENGER", "COMMERCIAL", "MOTORCYCLE", "TRAILER",
	"PERSONALIZED", NULL };
static const char *const v_body[] = { "SEDAN", "COUPE", "SUV", "PICKUP", "VAN", "WAGON",
	"HATCHBACK", "CONVERTIBLE", "MOTORCYCLE", "TRAILER", "TRUCK", NULL };
static const char *const v_color[] = { "BLK", "WHI", "SIL", "GRY", "BLU", "RED", "GRN", "BRO",
	"BGE", "GLD", "YEL", "ORG", "PRP", NULL };
static const char *const v_regstat[] = { "CURRENT", "EXPIRED", "SUSPENDED", NULL };

static int
in_vocab(const struct csv_field *f, const char *const *v)
{
	/* Called for every enumerated field of every row: compare the first
	 * byte, then the rest, without strlen. */
	if (f->len == 0)
		return 0;
	for (; *v != NULL; v++)
		if ((*v)[0] == f->p[0] && strncmp(*v, f->p, f->len) == 0 && (*v)[f->len] == '\0')
			return 1;
	return 0;
}

/* A ';'-separated list of vocabulary words (possibly empty). */
static int
list_ok(const struct csv_field *f, const char *const *v)
{
	size_t i = 0;

	while (i < f->len) {
		size_t j = i;
		struct csv_field w;

		while (j < f->len && f->p[j] != ';')
			j++;
		w.p = f->p + i;
		w.len = j - i;
		if (!in_vocab(&w, v))
			return 0;
		i = j + 1;
		if (j < f->len && i == f->len)
			return 0; /* trailing ';' */
	}
	return 1;
}

static int
no_controls(const struct csv_field *f)
{
	for (size_t i = 0; i < f->len; i++)
		if ((unsigned char)f->p[i] < 0x20 || f->p[i] == 0x7f)
			return 0;
	return 1;
}

static int
digits_only(const struct csv_field *f, size_t min, size_t max)
{
	if (f->len < min || f->len > max)
		return 0;
	for (size_t i = 0; i < f->len; i++)
		if (f->p[i] < '0' || f->p[i] > '9')
			return 0;
	return 1;
}

static int
int_in(const struct csv_field *f, long lo, long hi)
{
	long v = 0;

	if (!digits_only(f, 1, 4))
		return 0;
	for (size_t i = 0; i < f->len; i++)
		v = v * 10 + (f->p[i] - '0');
	return v >= lo && v <= hi;
}

int
record_license_ok(const char *s, size_t len)
{
	if (len < 1 || len > 16)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}

static int
date_ok(const struct csv_field *f, int32_t *d)
{
	return util_date_parse(f->p, f->len, d) == 0;
}

static int
ssn_ok(const struct csv_field *f)
{
	const char *p = f->p;
	int area;

	if (f->len == 0)
		return 1;
	if (f->len != 11 || p[3] != '-' || p[6] != '-')
		return 0;
	for (int i = 0; i < 11; i++)
		if (i != 3 && i != 6 && (p[i] < '0' || p[i] > '9'))
			return 0;
	area = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	if (area == 0 || area == 666 || area >= 900)
		return 0;
	if (p[4] == '0' && p[5] == '0')
		return 0;
	return memcmp(p + 7, "0000", 4) != 0;
}

#define BAD(...) do { snprintf(err, errsz, __VA_ARGS__); return -1; } while (0)

static int
text_fields_ok(const struct csv_field *f, size_t n, enum field (*col)(int), char *err,
    size_t errsz)
{
	for (size_t i = 0; i < n; i++) {
		if (f[i].len > RECORD_TEXT_MAX)
			BAD("%s: longer than %d bytes", field_info[col((int)i)].name, RECORD_TEXT_MAX);
		if (!no_controls(&f[i]))
			BAD("%s: control character", field_info[col((int)i)].name);
	}
	return 0;
}

int
record_check_driver(const struct csv_field *f, size_t n, char *err, size_t errsz)
{
	int32_t dob, issued, expires;

	if (n != RECORD_DRIVER_COLS)
		BAD("expected %d fields, found %zu", RECORD_DRIVER_COLS, n);
	if (text_fields_ok(f, n, record_driver_col, err, errsz))
		return -1;
#define F(x) (&f[(x) - FIELD_LICENSE_NUMBER])
	if (!record_license_ok(F(FIELD_LICENSE_NUMBER)->p, F(FIELD_LICENSE_NUMBER)->len))
		BAD("license_number: must be 1-16 characters A-Z 0-9");
	if (F(FIELD_LAST_NAME)->len == 0 || F(FIELD_LAST_NAME)->len > 64)
		BAD("last_name: must be 1-64 bytes");
	if (F(FIELD_FIRST_NAME)->len == 0 || F(FIELD_FIRST_NAME)->len > 64)
		BAD("first_name: must be 1-64 bytes");
	if (F(FIELD_MIDDLE_NAME)->len > 64)
		BAD("middle_name: longer than 64 bytes");
	if (F(FIELD_SUFFIX)->len > 8)
		BAD("suffix: longer than 8 bytes");
	if (!date_ok(F(FIELD_DOB), &dob))
		BAD("dob: not a date (YYYY-MM-DD)");
	if (!in_vocab(F(FIELD_SEX), v_sex))
		BAD("sex: must be M, F or X");
	if (!int_in(F(FIELD_HEIGHT_IN), 20, 108))
		BAD("height_in: must be 20-108");
	if (!int_in(F(FIELD_WEIGHT_LB), 30, 999))
		BAD("weight_lb: must be 30-999");
	if (!in_vocab(F(FIELD_EYE_COLOR), v_eye))
		BAD("eye_color: unknown code");
	if (!in_vocab(F(FIELD_HAIR_COLOR), v_hair))
		BAD("hair_color: unknown code");
	if (F(FIELD_STREET)->len == 0 || F(FIELD_CITY)->len == 0)
		BAD("street and city are required");
	if (F(FIELD_STATE)->len != 2)
		BAD("state: must be a 2-letter code");
	if (!digits_only(F(FIELD_ZIP), 5, 5))
		BAD("zip: must be 5 digits");
	if (!in_vocab(F(FIELD_LICENSE_CLASS), v_class))
		BAD("license_class: must be A, B, C or M");
	if (!in_vocab(F(FIELD_LICENSE_KIND), v_kind))
		BAD("license_kind: must be REAL_ID, STANDARD or DRIVER_PRIVILEGE_CARD");
	if (!in_vocab(F(FIELD_STATUS), v_status))
		BAD("status: unknown value");
	if (!list_ok(F(FIELD_RESTRICTIONS), v_restr))
		BAD("restrictions: unknown code");
	if (!list_ok(F(FIELD_ENDORSEMENTS), v_endorse))
		BAD("endorsements: unknown code");
	if (!date_ok(F(FIELD_ISSUED), &issued))
		BAD("issued: not a date (YYYY-MM-DD)");
	if (!date_ok(F(FIELD_EXPIRES), &expires))
		BAD("expires: not a date (YYYY-MM-DD)");
	if (issued > expires)
		BAD("issued: after expires");
	if (issued < dob)
		BAD("issued: before dob");
	if (F(FIELD_PHOTO_ID)->len > 32)
		BAD("photo_id: longer than 32 bytes");
	if (!ssn_ok(F(FIELD_SSN)))
		BAD("ssn: must be empty or NNN-NN-NNNN");
	if (F(FIELD_PLACE_OF_BIRTH)->len > 64)
		BAD("place_of_birth: longer than 64 bytes");
	if (!list_ok(F(FIELD_DOCUMENTS), v_docs))
		BAD("documents: unknown document kind");
#undef F
	return 0;
}

int
record_check_history(const struct csv_field *f, size_t n, char *err, size_t errsz)
{
	int32_t d;

	if (n != RECORD_HISTORY_COLS)
		BAD("expected %d fields, found %zu", RECORD_HISTORY_COLS, n);
	for (size_t i = 0; i < n; i++) {
		if (f[i].len > RECORD_TEXT_MAX)
			BAD("%s: longer than %d bytes", record_history_cols[i], RECORD_TEXT_MAX);
		if (!no_controls(&f[i]))
			BAD("%s: control character", record_history_cols[i]);
	}
	if (!record_license_ok(f[RECORD_H_LICENSE].p, f[RECORD_H_LICENSE].len))
		BAD("license_number: must be 1-16 characters A-Z 0-9");
	if (!date_ok(&f[RECORD_H_DATE], &d))
		BAD("date: not a date (YYYY-MM-DD)");
	if (!in_vocab(&f[RECORD_H_KIND], v_hkind))
		BAD("kind: must be citation, accident, suspension or revocation");
	if (f[RECORD_H_CODE].len == 0 || f[RECORD_H_CODE].len > 16)
		BAD("code: must be 1-16 bytes");
	return 0;
}

int
record_check_vehicle(const struct csv_field *f, size_t n, char *err, size_t errsz)
{
	int32_t d;

	if (n != RECORD_VEHICLE_COLS)
		BAD("expected %d fields, found %zu", RECORD_VEHICLE_COLS, n);
	if (text_fields_ok(f, n, record_vehicle_col, err, errsz))
		return -1;
#define F(x) (&f[(x) - FIELD_PLATE])
	if (F(FIELD_PLATE)->len < 1 || F(FIELD_PLATE)->len > 8 ||
	    !record_license_ok(F(FIELD_PLATE)->p, F(FIELD_PLATE)->len))
		BAD("plate: must be 1-8 characters A-Z 0-9");
	if (F(FIELD_PLATE_STATE)->len != 2)
		BAD("plate_state: must be a 2-letter code");
	if (!in_vocab(F(FIELD_PLATE_TYPE), v_ptype))
		BAD("plate_type: unknown value");
	if (!date_ok(F(FIELD_PLATE_EXPIRES), &d))
		BAD("plate_expires: not a date (YYYY-MM-DD)");
	if (!vin_valid(F(FIELD_VIN)->p, F(FIELD_VIN)->len))
		BAD("vin: not 17 valid characters with a correct check digit");
	if (F(FIELD_MAKE)->len == 0 || F(FIELD_MODEL)->len == 0)
		BAD("make and model are required");
	if (!int_in(F(FIELD_MODEL_YEAR), 1900, 2100))
		BAD("model_year: must be 1900-2100");
	if (!in_vocab(F(FIELD_COLOR), v_color))
		BAD("color: unknown code");
	if (!in_vocab(F(FIELD_BODY_STYLE), v_body))
		BAD("body_style: unknown value");
	if (F(FIELD_OWNER_LICENSE_NUMBER)->len != 0 &&
	    !record_license_ok(F(FIELD_OWNER_LICENSE_NUMBER)->p, F(FIELD_OWNER_LICENSE_NUMBER)->len))
		BAD("owner_license_number: must be empty or 1-16 characters A-Z 0-9");
	if (F(FIELD_OWNER_NAME)->len == 0)
		BAD("owner_name: required");
	if (F(FIELD_OWNER_ZIP)->len != 0 && !digits_only(F(FIELD_OWNER_ZIP), 5, 5))
		BAD("owner_zip: must be 5 digits");
	if (!in_vocab(F(FIELD_REGISTRATION_STATUS), v_regstat))
		BAD("registration_status: unknown value");
#undef F
	return 0;
}
