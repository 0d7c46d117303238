/*
 * vin.c - VIN check digit and model-year code per 49 CFR 565.15: each
 * character is transliterated (digits as themselves, letters A1 B2 C3 D4
 * E5 F6 G7 H8 J1 K2 L3 M4 N5 P7 R9 S2 T3 U4 V5 W6 X7 Y8 Z9; I, O and Q
 * are not allowed), multiplied by its position weight, summed, and the
 * sum taken modulo 11; a remainder of 10 is written 'X'.
 */
#include "vin.h"

static const unsigned char vin_weight[VIN_LEN] = {
	8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2
};

/* Transliterated value of c, or -1 when c may not appear in a VIN. */
static int
vin_value(char c)
{
	static const signed char letters[26] = {
		/* A  B  C  D  E  F  G  H   I  J  K  L  M  N   O  P   Q  R */
		1, 2, 3, 4, 5, 6, 7, 8, -1, 1, 2, 3, 4, 5, -1, 7, -1, 9,
		/* S  T  U  V  W  X  Y  Z */
		2, 3, 4, 5, 6, 7, 8, 9
	};

	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return letters[c - 'A'];
	return -1;
}

char
vin_check_digit(const char *vin, size_t len)
{
	unsigned sum = 0;

	if (vin == NULL || len != VIN_LEN)
		return 0;
	for (size_t i = 0; i < VIN_LEN; i++) {
		int v = vin_value(vin[i]);

		if (v < 0)
			return 0;
		sum += (unsigned)v * vin_weight[i];
	}
	sum %= 11;
	return sum == 10 ? 'X' : (char)('0' + sum);
}

int
vin_valid(const char *vin, size_t len)
{
	char cd = vin_check_digit(vin, len);

	return cd != 0 && vin[8] == cd;
}

char
vin_year_code(int model_year)
{
	static const char codes[] = "ABCDEFGHJKLMNPRSTVWXY123456789";

	if (model_year < 1980 || model_year > 2039)
		return 0;
	return codes[(model_year - 1980) % 30];
}
