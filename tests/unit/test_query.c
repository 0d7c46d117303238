/*
 * test_query.c - the /v1/query body mapping: every `by`, and a precise
 * error code for each kind of malformed request.
 */
#include "testutil.h"

#include "query.h"

static enum query_err
parse(const char *body, struct query *q)
{
	struct query_error e;

	if (query_parse(body, strlen(body), q, &e) == 0)
		return QUERY_OK;
	assert_true(e.message[0] != '\0');
	return e.code;
}

#define BASE "\"purpose\":\"criminal_investigation\",\"reason\":\"case 1\""

static void
valid_queries(void **state)
{
	struct query q;
	struct store_query sq;
	char subj[128];

	(void)state;
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1234567\","
	    BASE ",\"legal_process\":\"LP-7\"}", &q), QUERY_OK);
	assert_int_equal(q.type, STORE_DRIVER);
	assert_int_equal(q.by, STORE_BY_LICENSE);
	assert_string_equal(q.license_number, "D1234567");
	assert_string_equal(q.legal_process, "LP-7");
	assert_string_equal(q.reason, "case 1");
	query_to_store(&q, &sq);
	assert_string_equal(sq.license_number, "D1234567");
	assert_null(sq.vin);
	query_subject(&q, subj, sizeof subj);
	assert_string_equal(subj, "license:D1234567");

	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"name_dob\",\"last_name\":\"O'Brien\","
	    "\"first_name\":\"Ana María\",\"dob\":\"1980-02-29\"," BASE ",\"include\":[\"photo\"]}", &q), QUERY_OK);
	assert_int_equal(q.photo, 1);
	assert_int_equal(parse("{\"type\":\"vehicle\",\"by\":\"plate\",\"plate\":\"7ABC123\","
	    "\"plate_state\":\"ca\"," BASE "}", &q), QUERY_OK);
	assert_string_equal(q.plate_state, "CA");
	query_subject(&q, subj, sizeof subj);
	assert_string_equal(subj, "plate:CA:7ABC123");
	assert_int_equal(parse("{\"type\":\"vehicle\",\"by\":\"vin\",\"vin\":\"1HGCM82633A004352\"," BASE "}", &q), QUERY_OK);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"address\",\"street\":\"1 Main St\","
	    "\"city\":\"Fresno\",\"zip\":\"93701-1234\"," BASE "}", &q), QUERY_OK);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license_kind\","
	    "\"license_kind\":\"DRIVER_PRIVILEGE_CARD\"," BASE "}", &q), QUERY_OK);
	assert_int_equal(parse("{\"type\":\"vehicle\",\"by\":\"license\",\"license_number\":\"D1\"," BASE "}", &q), QUERY_OK);
}

static void
precise_errors(void **state)
{
	struct query q;
	char deep[64];

	(void)state;
	assert_int_equal(parse("", &q), QUERY_ERR_JSON);
	assert_int_equal(parse("{", &q), QUERY_ERR_JSON);
	assert_int_equal(parse("[]", &q), QUERY_ERR_NOT_OBJECT);
	assert_int_equal(parse("\"x\"", &q), QUERY_ERR_NOT_OBJECT);  /* JSON, not an object */
	assert_int_equal(parse("null", &q), QUERY_ERR_NOT_OBJECT);
	memset(deep, '[', sizeof deep - 1);
	deep[sizeof deep - 1] = '\0';
	assert_int_equal(parse(deep, &q), QUERY_ERR_DEPTH);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\","
	    "\"purpose\":\"x\"}", &q), QUERY_ERR_MISSING_FIELD);           /* no reason */
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\","
	    BASE ",\"ssn\":\"1\"}", &q), QUERY_ERR_UNKNOWN_FIELD);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":7,"
	    BASE "}", &q), QUERY_ERR_TYPE);
	assert_int_equal(parse("{\"type\":\"truck\",\"by\":\"license\",\"license_number\":\"D1\","
	    BASE "}", &q), QUERY_ERR_VALUE);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"face\",\"license_number\":\"D1\","
	    BASE "}", &q), QUERY_ERR_VALUE);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"plate\",\"plate\":\"X\",\"plate_state\":\"CA\","
	    BASE "}", &q), QUERY_ERR_VALUE);                             /* driver by plate */
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\","
	    "\"vin\":\"X\"," BASE "}", &q), QUERY_ERR_FIELD_NOT_ALLOWED);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"name_dob\",\"last_name\":\"A\","
	    "\"first_name\":\"B\"," BASE "}", &q), QUERY_ERR_MISSING_FIELD);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"name_dob\",\"last_name\":\"A\","
	    "\"first_name\":\"B\",\"dob\":\"1980-02-30\"," BASE "}", &q), QUERY_ERR_VALUE);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"\","
	    BASE "}", &q), QUERY_ERR_LENGTH);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":"
	    "\"D123456789012345678901234567890123\"," BASE "}", &q), QUERY_ERR_LENGTH);
	assert_int_equal(parse("{\"type\":\"driver\",\"type\":\"driver\",\"by\":\"license\","
	    "\"license_number\":\"D1\"," BASE "}", &q), QUERY_ERR_JSON);  /* duplicate */
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\","
	    BASE ",\"include\":[\"fingerprints\"]}", &q), QUERY_ERR_VALUE);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\","
	    BASE ",\"include\":\"photo\"}", &q), QUERY_ERR_TYPE);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\","
	    "\"purpose\":\"Crim Inv\",\"reason\":\"r\"}", &q), QUERY_ERR_VALUE);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\","
	    "\"purpose\":\"x\",\"reason\":\"a\\u0000b\"}", &q), QUERY_ERR_JSON);
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\","
	    "\"purpose\":\"x\",\"reason\":\"\xc3\x28\"}", &q), QUERY_ERR_JSON);  /* bad UTF-8 */
	assert_int_equal(parse("{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\","
	    "\"purpose\":\"x\",\"reason\":\"tab\\there\"}", &q), QUERY_ERR_VALUE);
}

static void
error_names(void **state)
{
	(void)state;
	assert_string_equal(query_err_name(QUERY_ERR_UNKNOWN_FIELD), "unknown_field");
	assert_string_equal(query_err_name(QUERY_ERR_MISSING_FIELD), "missing_field");
	assert_string_equal(query_err_name((enum query_err)99), "error");
}

/* query_parse's one-pass path gives what the Jansson reference gives. */
static void
fast_path_matches_reference(void **state)
{
	static const char *const bodies[] = {
		"{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1234567\"," BASE "}",
		" \r\n\t{ \"type\" : \"driver\" , \"by\":\"license\",\"license_number\":\"D1\","
		    BASE " } \n",
		"{\"type\":\"vehicle\",\"by\":\"plate\",\"plate\":\"7ABC123\",\"plate_state\":\"ca\","
		    BASE "}",
		"{\"type\":\"driver\",\"by\":\"name_dob\",\"last_name\":\"O'Brien\",\"first_name\":\"Ana\","
		    "\"dob\":\"1980-02-29\"," BASE ",\"include\":[ \"photo\" ]}",
		/* escapes, non-ASCII, other types: the reference path decides */
		"{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D\\u0031\"," BASE "}",
		"{\"type\":\"driver\",\"by\":\"name_dob\",\"last_name\":\"Nguy\xe1\xbb\x85n\","
		    "\"first_name\":\"Thi\",\"dob\":\"1990-05-05\"," BASE "}",
		"{\"type\":\"driver\",\"by\":\"license\",\"license_number\":7," BASE "}",
		"{\"type\":\"driver\",\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\","
		    BASE "}",
		"{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\"," BASE "} x",
		"{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\"}",
		"{\"type\":\"driver\",\"by\":\"license\",\"license_number\":\"D1\",\"include\":[]," BASE "}",
		"{}", "[]", "", "{\"type\":\"driver\",}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		struct query a, b;
		struct query_error ea, eb;
		size_t n = strlen(bodies[i]);
		int ra = query_parse(bodies[i], n, &a, &ea), rb = query_parse_reference(bodies[i], n, &b, &eb);

		assert_int_equal(ra, rb);
		assert_memory_equal(&a, &b, sizeof a);
		assert_int_equal(ea.code, eb.code);
		assert_string_equal(ea.message, eb.message);
		if (i < 4)
			assert_int_equal(ra, 0);        /* the four plain bodies are accepted */
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_queries),
		cmocka_unit_test(precise_errors),
		cmocka_unit_test(error_names),
		cmocka_unit_test(fast_path_matches_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
