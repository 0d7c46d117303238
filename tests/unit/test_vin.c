/*
 * Unit tests for vin.c: check digits of published VINs (the 49 CFR 565
 * example and others whose computation is shown in public references),
 * rejection of wrong digits, forbidden letters and wrong lengths, and the
 * model-year code.
 */
#include "testutil.h"

#include "util.h"
#include "vin.h"

/*
 * Valid VINs: 1M8GDM9AXKP042788 is the worked example of 49 CFR 565;
 * 1FAPP64R7LH123456 is a worked example (1990 Thunderbird) whose sum 403
 * gives remainder 7; LJCPCBLCX11000237 has sum 186, remainder 10 ('X');
 * 5GZCZ43D13S812715 and 1HGCM82633A004352 (2003 Honda Accord) are widely
 * cited real VINs; seventeen 1s sum to 89, remainder 1.
 */
static const char *const valid_vins[] = {
	"1M8GDM9AXKP042788",
	"1FAPP64R7LH123456",
	"LJCPCBLCX11000237",
	"5GZCZ43D13S812715",
	"1HGCM82633A004352",
	"11111111111111111",
};

static void
test_vin_valid_known(void **state)
{
	(void)state;
	for (size_t i = 0; i < UTIL_NELEM(valid_vins); i++) {
		const char *v = valid_vins[i];

		assert_int_equal(vin_check_digit(v, strlen(v)), v[8]);
		assert_true(vin_valid(v, strlen(v)));
	}
	assert_int_equal(vin_check_digit("1M8GDM9AXKP042788", 17), 'X');
	assert_int_equal(vin_check_digit("1FAPP64R7LH123456", 17), '7');
}

static void
test_vin_wrong_digit(void **state)
{
	char v[18];

	(void)state;
	for (size_t i = 0; i < UTIL_NELEM(valid_vins); i++) {
		const char *alt = "0123456789X";

		memcpy(v, valid_vins[i], 18);
		for (const char *a = alt; *a; a++) {
			v[8] = *a;
			assert_int_equal(vin_valid(v, 17), *a == valid_vins[i][8]);
		}
	}
	/* Real VINs that do not pass the North American check (Wikipedia). */
	assert_false(vin_valid("WP0ZZZ99ZTS392124", 17));
	assert_false(vin_valid("KLATF08Y1VB363636", 17));
	/* A single transcription error changes the digit. */
	assert_false(vin_valid("1M8GDM9AXKP042789", 17));
	assert_false(vin_valid("5GZCZ43D13S812716", 17));
	assert_false(vin_valid("SGZCZ43D13S812715", 17));
}

static void
test_vin_bad_chars_and_length(void **state)
{
	(void)state;
	assert_int_equal(vin_check_digit("1M8GDM9AXKP04278I", 17), 0);
	assert_int_equal(vin_check_digit("1M8GDM9AXKO042788", 17), 0);
	assert_int_equal(vin_check_digit("QM8GDM9AXKP042788", 17), 0);
	assert_int_equal(vin_check_digit("1m8gdm9axkp042788", 17), 0);
	assert_int_equal(vin_check_digit("1M8GDM9A-KP042788", 17), 0);
	assert_false(vin_valid("1M8GDM9AXKP04278I", 17));
	assert_false(vin_valid("1M8GDM9AXKP04278", 16));
	assert_false(vin_valid("1M8GDM9AXKP0427880", 18));
	assert_false(vin_valid("", 0));
	assert_int_equal(vin_check_digit("1M8GDM9AXKP04278", 16), 0);
	assert_int_equal(vin_check_digit(NULL, 17), 0);
	/* Embedded NUL is not a VIN character. */
	assert_false(vin_valid("1M8GDM9AX\0P042788", 17));
}

static void
test_vin_year_code(void **state)
{
	(void)state;
	assert_int_equal(vin_year_code(1980), 'A');
	assert_int_equal(vin_year_code(1989), 'K'); /* 1M8GDM9AXKP042788 */
	assert_int_equal(vin_year_code(1990), 'L'); /* 1FAPP64R7LH123456 */
	assert_int_equal(vin_year_code(2000), 'Y');
	assert_int_equal(vin_year_code(2001), '1');
	assert_int_equal(vin_year_code(2003), '3'); /* 1HGCM82633A004352 */
	assert_int_equal(vin_year_code(2009), '9');
	assert_int_equal(vin_year_code(2010), 'A');
	assert_int_equal(vin_year_code(2026), 'T');
	assert_int_equal(vin_year_code(1979), 0);
	assert_int_equal(vin_year_code(2040), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vin_valid_known),
		cmocka_unit_test(test_vin_wrong_digit),
		cmocka_unit_test(test_vin_bad_chars_and_length),
		cmocka_unit_test(test_vin_year_code),
	};

	return cmocka_run_group_tests_name("vin", tests, NULL, NULL);
}
