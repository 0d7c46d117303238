/*
 * field.c - the canonical field table (see field.h).
 */
#include "field.h"

#include <string.h>

#define D(n) { n, FIELD_REC_DRIVER, 0, 0 }
#define DI(n) { n, FIELD_REC_DRIVER, 0, 1 }
#define S(n) { n, FIELD_REC_DRIVER, 1, 0 }
#define P(n) { n, FIELD_REC_PSEUDO, 0, 0 }
#define V(n) { n, FIELD_REC_VEHICLE, 0, 0 }
#define VI(n) { n, FIELD_REC_VEHICLE, 0, 1 }

const struct field_info field_info[FIELD_COUNT] = {
	[FIELD_LICENSE_NUMBER] = D("license_number"),
	[FIELD_LAST_NAME] = D("last_name"),
	[FIELD_FIRST_NAME] = D("first_name"),
	[FIELD_MIDDLE_NAME] = D("middle_name"),
	[FIELD_SUFFIX] = D("suffix"),
	[FIELD_DOB] = D("dob"),
	[FIELD_SEX] = D("sex"),
	[FIELD_HEIGHT_IN] = DI("height_in"),
	[FIELD_WEIGHT_LB] = DI("weight_lb"),
	[FIELD_EYE_COLOR] = D("eye_color"),
	[FIELD_HAIR_COLOR] = D("hair_color"),
	[FIELD_STREET] = D("street"),
	[FIELD_CITY] = D("city"),
	[FIELD_STATE] = D("state"),
	[FIELD_ZIP] = D("zip"),
	[FIELD_LICENSE_CLASS] = D("license_class"),
	[FIELD_LICENSE_KIND] = S("license_kind"),
	[FIELD_STATUS] = D("status"),
	[FIELD_RESTRICTIONS] = D("restrictions"),
	[FIELD_ENDORSEMENTS] = D("endorsements"),
	[FIELD_ISSUED] = D("issued"),
	[FIELD_EXPIRES] = D("expires"),
	[FIELD_PHOTO_ID] = D("photo_id"),
	[FIELD_SSN] = S("ssn"),
	[FIELD_PLACE_OF_BIRTH] = S("place_of_birth"),
	[FIELD_DOCUMENTS] = S("documents"),
	[FIELD_HISTORY] = P("history"),
	[FIELD_PHOTO] = P("photo"),
	[FIELD_PLATE] = V("plate"),
	[FIELD_PLATE_STATE] = V("plate_state"),
	[FIELD_PLATE_TYPE] = V("plate_type"),
	[FIELD_PLATE_EXPIRES] = V("plate_expires"),
	[FIELD_VIN] = V("vin"),
	[FIELD_MAKE] = V("make"),
	[FIELD_MODEL] = V("model"),
	[FIELD_MODEL_YEAR] = VI("model_year"),
	[FIELD_COLOR] = V("color"),
	[FIELD_BODY_STYLE] = V("body_style"),
	[FIELD_OWNER_LICENSE_NUMBER] = V("owner_license_number"),
	[FIELD_OWNER_NAME] = V("owner_name"),
	[FIELD_OWNER_STREET] = V("owner_street"),
	[FIELD_OWNER_CITY] = V("owner_city"),
	[FIELD_OWNER_STATE] = V("owner_state"),
	[FIELD_OWNER_ZIP] = V("owner_zip"),
	[FIELD_REGISTRATION_STATUS] = V("registration_status"),
};

const field_mask FIELD_MASK_DRIVER =
    ((FIELD_BIT(FIELD_DOCUMENTS) << 1) - 1);
const field_mask FIELD_MASK_VEHICLE =
    ((FIELD_BIT(FIELD_REGISTRATION_STATUS) << 1) - 1) & ~((FIELD_BIT(FIELD_PHOTO) << 1) - 1);
const field_mask FIELD_MASK_SENSITIVE =
    FIELD_BIT(FIELD_LICENSE_KIND) | FIELD_BIT(FIELD_SSN) |
    FIELD_BIT(FIELD_PLACE_OF_BIRTH) | FIELD_BIT(FIELD_DOCUMENTS);

int
field_lookup(const char *name, size_t len)
{
	for (int i = 0; i < FIELD_COUNT; i++) {
		const char *n = field_info[i].name;
		if (strncmp(n, name, len) == 0 && n[len] == '\0')
			return i;
	}
	return -1;
}

int
field_mask_format(field_mask m, char sep, char *out, size_t outsz)
{
	size_t n = 0;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	for (int i = 0; i < FIELD_COUNT; i++) {
		if (!(m & FIELD_BIT(i)))
			continue;
		size_t l = strlen(field_info[i].name);
		if (n + l + 2 > outsz)
			return -1;
		if (n > 0)
			out[n++] = sep;
		memcpy(out + n, field_info[i].name, l);
		n += l;
		out[n] = '\0';
	}
	return (int)n;
}
