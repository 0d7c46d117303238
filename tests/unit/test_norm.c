/* Unit tests for norm.c: names with accents, hyphens and spaces; addresses. */
#include "testutil.h"

#include "norm.h"

static void
name_is(const char *in, const char *want)
{
	char out[NORM_KEY_MAX];

	assert_true(norm_name(in, strlen(in), out, sizeof out) >= 0);
	assert_string_equal(out, want);
}

static void
test_names(void **state)
{
	(void)state;
	name_is("José", "JOSE");
	name_is("García-López", "GARCIALOPEZ");
	name_is("garcia lopez", "GARCIALOPEZ");
	name_is("O'Brien", "OBRIEN");
	name_is("De La Cruz", "DELACRUZ");
	name_is("Nguyễn", "NGUYEN");
	name_is("Zoë", "ZOE");
	name_is("Muñoz", "MUNOZ");
	name_is("Ibáñez", "IBANEZ");
	name_is("Straße", "STRASSE");
	name_is("Łukasz", "LUKASZ");
	name_is("Æsa", "AESA");
	name_is("Jose\xcc\x81", "JOSE"); /* combining acute accent */
	name_is("  St. John ", "STJOHN");
}

static void
test_name_key(void **state)
{
	char a[NORM_KEY_MAX], b[NORM_KEY_MAX];

	(void)state;
	assert_true(norm_name_key("García-López", strlen("García-López"), "José", strlen("José"),
	    a, sizeof a) > 0);
	assert_true(norm_name_key("GARCIA LOPEZ", 12, "jose", 4, b, sizeof b) > 0);
	assert_string_equal(a, "GARCIALOPEZ|JOSE");
	assert_string_equal(a, b);
}

static void
test_invalid_utf8(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(norm_name("Jos\xc3", 4, out, sizeof out), -1);
	assert_int_equal(norm_name("abc", 3, out, 2), -1); /* does not fit */
}

static void
addr_is(const char *street, const char *city, const char *zip, const char *want)
{
	char out[NORM_KEY_MAX];

	assert_true(norm_address_key(street, strlen(street), city, strlen(city), zip, strlen(zip),
	    out, sizeof out) > 0);
	assert_string_equal(out, want);
}

static void
test_addresses(void **state)
{
	(void)state;
	addr_is("123 Main Street, Apt 4", "Los Angeles", "90012", "123 MAIN ST APT 4|LOS ANGELES|90012");
	addr_is("123 MAIN ST APT 4", "LOS  ANGELES", "90012-1234", "123 MAIN ST APT 4|LOS ANGELES|90012");
	addr_is("88 East Olive Avenue #2", "San José", "95112", "88 E OLIVE AVE 2|SAN JOSE|95112");
	addr_is("1 North Boulevard Unit 7", "Fresno", "93701", "1 N BLVD APT 7|FRESNO|93701");
}

static void
test_plate(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(norm_plate("7abc-123", 8, out, sizeof out), 7);
	assert_string_equal(out, "7ABC123");
	assert_int_equal(norm_plate("7AB'123", 7, out, sizeof out), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_name_key),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_plate),
	};

	return cmocka_run_group_tests_name("norm", tests, NULL, NULL);
}
