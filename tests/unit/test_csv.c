/* Unit tests for csv.c: quoting, embedded newlines, limits, UTF-8, resync. */
#include "testutil.h"

#include "csv.h"

static struct csv *
mem(const char *s)
{
	struct csv *c = csv_open_mem("t.csv", s, strlen(s));

	assert_non_null(c);
	return c;
}

static void
expect_row(struct csv *c, size_t line, size_t n, const char *const *vals)
{
	const struct csv_field *f;
	size_t got;

	assert_int_equal(csv_next(c, &f, &got), 1);
	assert_int_equal(csv_line(c), line);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(f[i].len, strlen(vals[i]));
		assert_memory_equal(f[i].p, vals[i], f[i].len);
	}
}

static void
test_plain_and_crlf(void **state)
{
	struct csv *c = mem("a,b,c\r\n1,,3\n");
	const char *r1[] = { "a", "b", "c" }, *r2[] = { "1", "", "3" };
	const struct csv_field *f;
	size_t n;

	(void)state;
	expect_row(c, 1, 3, r1);
	expect_row(c, 2, 3, r2);
	assert_int_equal(csv_next(c, &f, &n), 0);
	csv_close(c);
}

static void
test_quoting(void **state)
{
	struct csv *c = mem("\"a,b\",\"say \"\"hi\"\"\",\"\"\n\"line1\nline2\",x\nnext,row\n");
	const char *r1[] = { "a,b", "say \"hi\"", "" };
	const char *r2[] = { "line1\nline2", "x" };
	const char *r3[] = { "next", "row" };

	(void)state;
	expect_row(c, 1, 3, r1);
	expect_row(c, 2, 2, r2);
	expect_row(c, 4, 2, r3); /* line count includes the embedded newline */
	csv_close(c);
}

static void
test_no_trailing_newline(void **state)
{
	struct csv *c = mem("a,b");
	const char *r1[] = { "a", "b" };
	const struct csv_field *f;
	size_t n;

	(void)state;
	expect_row(c, 1, 2, r1);
	assert_int_equal(csv_next(c, &f, &n), 0);
	csv_close(c);
}

static void
expect_error(const char *input, const char *msg, size_t line)
{
	struct csv *c = mem(input);
	const struct csv_field *f;
	size_t n;
	int r;

	while ((r = csv_next(c, &f, &n)) == 1)
		;
	assert_int_equal(r, -1);
	assert_string_equal(csv_error(c), msg);
	assert_int_equal(csv_line(c), line);
	csv_close(c);
}

static void
test_errors(void **state)
{
	char *big = malloc(CSV_MAX_FIELD + 10);

	(void)state;
	expect_error("ok\n\"unterminated\n", "unterminated quoted field", 2);
	expect_error("a\"b,c\n", "quote inside an unquoted field", 1);
	expect_error("\"a\"b,c\n", "unexpected character after closing quote", 1);
	expect_error("x\nJos\xc3,y\n", "invalid UTF-8 or NUL byte", 2);
	expect_error("a\rb\n", "bare carriage return", 1);
	memset(big, 'x', CSV_MAX_FIELD + 1);
	big[CSV_MAX_FIELD + 1] = '\n';
	big[CSV_MAX_FIELD + 2] = '\0';
	expect_error(big, "field too long", 1);
	free(big);
}

static void
test_too_many_fields(void **state)
{
	char buf[CSV_MAX_FIELDS * 2 + 8];
	size_t n = 0;

	(void)state;
	for (int i = 0; i < CSV_MAX_FIELDS + 1; i++) {
		buf[n++] = 'a';
		buf[n++] = ',';
	}
	buf[n - 1] = '\n';
	buf[n] = '\0';
	expect_error(buf, "too many fields", 1);
}

static void
test_resync_after_error(void **state)
{
	struct csv *c = mem("a\"b,c\ngood,row\n");
	const char *r[] = { "good", "row" };
	const struct csv_field *f;
	size_t n;

	(void)state;
	assert_int_equal(csv_next(c, &f, &n), -1);
	expect_row(c, 2, 2, r);
	csv_close(c);
}

static void
test_missing_columns_are_visible(void **state)
{
	struct csv *c = mem("a,b,c\n1,2\n");
	const struct csv_field *f;
	size_t n;

	(void)state;
	assert_int_equal(csv_next(c, &f, &n), 1);
	assert_int_equal(n, 3);
	assert_int_equal(csv_next(c, &f, &n), 1);
	assert_int_equal(n, 2); /* the importer reports the short row */
	csv_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_crlf),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_no_trailing_newline),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_too_many_fields),
		cmocka_unit_test(test_resync_after_error),
		cmocka_unit_test(test_missing_columns_are_visible),
	};

	return cmocka_run_group_tests_name("csv", tests, NULL, NULL);
}
