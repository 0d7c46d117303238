/* Unit tests for util.c: dates, times, hex, UTF-8, parsing, atomic files. */
#include "testutil.h"

#include <sys/stat.h>

#include "field.h"
#include "key.h"
#include "util.h"

static void
test_date_roundtrip(void **state)
{
	int32_t d;
	char buf[11];

	(void)state;
	assert_int_equal(util_date_parse("1970-01-01", 10, &d), 0);
	assert_int_equal(d, 0);
	assert_int_equal(util_date_parse("2024-02-29", 10, &d), 0);
	util_date_format(d, buf);
	assert_string_equal(buf, "2024-02-29");
	assert_int_equal(util_date_parse("1969-12-31", 10, &d), 0);
	assert_int_equal(d, -1);
	assert_int_equal(util_weekday(0), 4); /* Thursday */
	assert_int_equal(util_date_parse("2026-11-26", 10, &d), 0);
	assert_int_equal(util_weekday(d), 4);
}

static void
test_date_rejects(void **state)
{
	int32_t d;
	const char *bad[] = { "2023-02-29", "2024-13-01", "2024-00-10", "2024-1-01",
		"2024/01/01", "abcd-ef-gh", "1799-12-31", "2024-04-31", "" };

	(void)state;
	for (size_t i = 0; i < UTIL_NELEM(bad); i++)
		assert_int_equal(util_date_parse(bad[i], strlen(bad[i]), &d), -1);
}

static void
test_time(void **state)
{
	char buf[32];
	int64_t us;

	(void)state;
	util_time_format(1764166097123456LL, buf);
	assert_string_equal(buf, "2025-11-26T14:08:17.123456Z");
	assert_int_equal(util_time_parse(buf, &us), 0);
	assert_true(us == 1764166097123456LL);
	assert_int_equal(util_time_parse("2025-11-26", &us), 0);
	assert_true(us == 1764115200000000LL);
	assert_int_equal(util_time_parse("2025-11-26T25:00:00Z", &us), -1);
}

static void
test_hex(void **state)
{
	uint8_t in[3] = { 0x00, 0xab, 0xff }, out[3];
	char hx[7];

	(void)state;
	util_hex(in, 3, hx);
	assert_string_equal(hx, "00abff");
	assert_int_equal(util_unhex("00ABff", 6, out, 3), 0);
	assert_memory_equal(in, out, 3);
	assert_int_equal(util_unhex("00abfg", 6, out, 3), -1);
	assert_int_equal(util_unhex("00ab", 4, out, 3), -1);
}

static void
test_utf8(void **state)
{
	(void)state;
	assert_int_equal(util_utf8_valid("Jos\xc3\xa9", 5), 0);
	assert_int_equal(util_utf8_valid("Nguy\xe1\xbb\x85n", 8), 0);
	assert_int_equal(util_utf8_valid("\xc3", 1), -1);          /* truncated */
	assert_int_equal(util_utf8_valid("\xc0\xaf", 2), -1);      /* overlong */
	assert_int_equal(util_utf8_valid("\xed\xa0\x80", 3), -1);  /* surrogate */
	assert_int_equal(util_utf8_valid("a\0b", 3), -1);          /* NUL */
	assert_int_equal(util_utf8_valid("\xff", 1), -1);
}

static void
test_parse_i64(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(util_parse_i64("42", 0, 100, &v), 0);
	assert_true(v == 42);
	assert_int_equal(util_parse_i64("101", 0, 100, &v), -1);
	assert_int_equal(util_parse_i64("4x", 0, 100, &v), -1);
	assert_int_equal(util_parse_i64("", 0, 100, &v), -1);
	assert_int_equal(util_parse_i64(" 4", 0, 100, &v), -1);
}

static void
test_atomic_file(void **state)
{
	char *dir = test_tmpdir(), *path, *buf;
	size_t len;
	struct stat st;

	(void)state;
	path = util_aprintf("%s/f", dir);
	assert_int_equal(util_write_file_atomic(path, "hello", 5, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(util_read_file(path, 100, &buf, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "hello");
	free(buf);
	assert_int_equal(util_read_file(path, 4, &buf, &len), -1);
	free(path);
	test_rmtree(dir);
}

static void
test_fields(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(field_lookup("license_kind", 12), FIELD_LICENSE_KIND);
	assert_int_equal(field_lookup("license_kin", 11), -1);
	assert_int_equal(field_lookup("vin", 3), FIELD_VIN);
	assert_true(FIELD_MASK_DRIVER & FIELD_BIT(FIELD_SSN));
	assert_false(FIELD_MASK_DRIVER & FIELD_BIT(FIELD_VIN));
	assert_true(FIELD_MASK_VEHICLE & FIELD_BIT(FIELD_PLATE));
	assert_true(FIELD_MASK_VEHICLE & FIELD_BIT(FIELD_REGISTRATION_STATUS));
	assert_false(FIELD_MASK_VEHICLE & FIELD_BIT(FIELD_PHOTO));
	for (int i = 0; i < FIELD_COUNT; i++)
		assert_non_null(field_info[i].name);
	assert_int_equal(field_mask_format(FIELD_BIT(FIELD_SSN) | FIELD_BIT(FIELD_DOB), ' ', buf,
	    sizeof buf), 7);
	assert_string_equal(buf, "dob ssn");
}

static void
test_key_sign_verify(void **state)
{
	char *dir = test_tmpdir(), *path;
	struct key *k;
	uint8_t sig[64], pub[32], pub2[32];
	char name[KEY_NAME_MAX];
	uint32_t id;
	struct stat st;

	(void)state;
	path = util_aprintf("%s/k", dir);
	assert_int_equal(key_generate(path, "example.org/log", 0), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(key_generate(path, "example.org/log", 0), -1); /* no overwrite */
	k = key_load(path);
	assert_non_null(k);
	key_sign(k, (const uint8_t *)"msg", 3, sig);
	key_public(k, pub);
	assert_int_equal(key_verify(pub, (const uint8_t *)"msg", 3, sig), 1);
	assert_int_equal(key_verify(pub, (const uint8_t *)"msh", 3, sig), 0);
	assert_int_equal(key_parse_verifier(key_verifier(k), name, &id, pub2), 0);
	assert_string_equal(name, "example.org/log");
	assert_int_equal(id, key_id(k));
	assert_memory_equal(pub, pub2, 32);
	key_free(k);
	chmod(path, 0644);
	assert_null(key_load(path)); /* world-readable key refused */
	free(path);
	test_rmtree(dir);
}

static void
test_u64_dec(void **state)
{
	char out[24];

	(void)state;
	assert_int_equal(util_u64_dec(out, 0), 1);
	assert_string_equal(out, "0");
	assert_int_equal(util_u64_dec(out, 9), 1);
	assert_int_equal(util_u64_dec(out, 10), 2);
	assert_string_equal(out, "10");
	assert_int_equal(util_u64_dec(out, 1234567), 7);
	assert_string_equal(out, "1234567");
	assert_int_equal(util_u64_dec(out, UINT64_MAX), 20);
	assert_string_equal(out, "18446744073709551615");
}

static void
test_bucket(void **state)
{
	static const double b[] = { 1, 2, 4 };

	(void)state;
	assert_int_equal(util_bucket(b, 3, 0.5), 0);
	assert_int_equal(util_bucket(b, 3, 1), 0);      /* bounds are inclusive */
	assert_int_equal(util_bucket(b, 3, 1.5), 1);
	assert_int_equal(util_bucket(b, 3, 4), 2);
	assert_int_equal(util_bucket(b, 3, 5), 3);      /* +Inf */
	assert_int_equal(util_bucket(b, 0, 5), 0);
}

static void
test_utf8_valid_fast_path(void **state)
{
	(void)state;
	assert_int_equal(util_utf8_valid("plain ascii ~\x7f", 14), 0);
	assert_int_equal(util_utf8_valid("Nguy\xe1\xbb\x85n", 8), 0);
	assert_int_equal(util_utf8_valid("a\0b", 3), -1);          /* NUL */
	assert_int_equal(util_utf8_valid("ab\xc3", 3), -1);        /* truncated */
	assert_int_equal(util_utf8_valid("\xc0\xaf", 2), -1);      /* overlong */
	assert_int_equal(util_utf8_valid("\xed\xa0\x80", 3), -1);  /* surrogate */
	assert_int_equal(util_utf8_valid("x\x80", 2), -1);         /* stray continuation */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_date_roundtrip),
		cmocka_unit_test(test_date_rejects),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_u64_dec),
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_utf8_valid_fast_path),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_parse_i64),
		cmocka_unit_test(test_atomic_file),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_key_sign_verify),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
