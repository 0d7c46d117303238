/*
 * vin.h - Vehicle Identification Numbers (49 CFR 565): the check digit in
 * position 9 and the model-year code in position 10.  Used by the
 * generator to build VINs and by the importer to validate them.  No
 * allocation; every function works on a caller's (pointer, length).
 */
#ifndef DMVGATE_VIN_H
#define DMVGATE_VIN_H

#include <stddef.h>

#define VIN_LEN 17

/*
 * Returns the check digit character ('0'..'9' or 'X') for a 17-char VIN,
 * or 0 when len is not 17 or a character is invalid (anything outside
 * 0-9 A-H J-N P R-Z).  Position 9 itself has weight 0 but must still be
 * a valid VIN character.
 */
char vin_check_digit(const char *vin, size_t len);

/* 1 when vin is 17 valid characters with a correct check digit, else 0. */
int vin_valid(const char *vin, size_t len);

/*
 * The position-10 model-year code for model_year (1980..2039: A..Y
 * without I O Q U Z, then 1..9, repeating every 30 years), or 0 outside
 * that range.
 */
char vin_year_code(int model_year);

#endif /* DMVGATE_VIN_H */
