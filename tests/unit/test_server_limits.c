/*
 * test_server_limits.c - the gateway's enforcement of `limit` statements:
 * queries and distinct subjects before a lookup, misses and people at one
 * address after it, sliding windows, per user or per agency.
 */
#include "testutil.h"

#include "policy.h"
#include "server_limits.h"

static const char pol_text[] =
    "categories local_police\n"
    "purposes criminal_investigation\n"
    "processes court_order\n"
    "items identity = license_number last_name\n"
    "permit \"p\" cite \"x\" when category == local_police release identity\n"
    "limit \"rate\" per user 5 queries per 1h\n"
    "limit \"sweep\" per user 3 subjects per 1h then suspend\n"
    "limit \"fishing\" per agency 2 misses per 1h\n"
    "limit \"household\" per agency 2 people at one address per 24h\n";

static struct policy *
load(void)
{
	struct policy_errors e;
	struct policy *p;

	policy_errors_init(&e);
	p = policy_load_mem("t.policy", pol_text, sizeof pol_text - 1, &e);
	if (p == NULL)
		fprintf(stderr, "%s", e.text ? e.text : "");
	policy_errors_free(&e);
	assert_non_null(p);
	assert_int_equal(policy_nlimits(p), 4);
	return p;
}

static void
subjects_then_suspend(void **state)
{
	struct policy *p = load();
	struct server_limits *l = server_limits_new();
	struct server_limit_hit hit;
	int64_t now = 1000000000000LL;

	(void)state;
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:A", now, &hit), 0);
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:B", now, &hit), 0);
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:C", now, &hit), 0);
	/* a subject already asked about is not a new one */
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:A", now, &hit), 0);
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:D", now, &hit), 1);
	assert_non_null(strstr(hit.text, "\"sweep\""));
	assert_int_equal(hit.suspend, 1);
	/* another user is counted apart */
	assert_int_equal(server_limits_before(l, p, "u2", "CA0010000", "license:D", now, &hit), 0);
	/* an hour later the window has moved on */
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:D",
	    now + 3601LL * 1000000, &hit), 0);
	server_limits_free(l);
	policy_free(p);
}

static void
queries_per_window(void **state)
{
	struct policy *p = load();
	struct server_limits *l = server_limits_new();
	struct server_limit_hit hit;
	int64_t now = 1000000000000LL;

	(void)state;
	/* 5 queries about the same subject: the rate limit, not the sweep */
	for (int i = 0; i < 5; i++)
		assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:A", now + i, &hit), 0);
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:A", now + 9, &hit), 1);
	assert_non_null(strstr(hit.text, "\"rate\""));
	assert_int_equal(hit.suspend, 0);
	/* a refused request is not counted: still refused, then free later */
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:A",
	    now + 3700LL * 1000000, &hit), 0);
	server_limits_free(l);
	policy_free(p);
}

static void
misses_and_households(void **state)
{
	struct policy *p = load();
	struct server_limits *l = server_limits_new();
	struct server_limit_hit hit;
	int64_t now = 1000000000000LL;
	uint64_t a = server_limits_hash("1 MAIN ST|FRESNO|93701", 22);
	uint64_t pe[3] = { 11, 12, 13 }, ad[3] = { a, a, a };

	(void)state;
	/* two misses by the agency, then its users are stopped before lookups */
	assert_int_equal(server_limits_after(l, p, "u1", "CA0010000", 0, NULL, NULL, 0, now, &hit), 0);
	assert_int_equal(server_limits_after(l, p, "u2", "CA0010000", 0, NULL, NULL, 0, now, &hit), 0);
	assert_int_equal(server_limits_before(l, p, "u3", "CA0010000", "license:Z", now, &hit), 1);
	assert_non_null(strstr(hit.text, "\"fishing\""));
	/* households: two people at one address pass, a third does not */
	assert_int_equal(server_limits_after(l, p, "u1", "CA0020000", 1, &pe[0], &ad[0], 1, now, &hit), 0);
	assert_int_equal(server_limits_after(l, p, "u2", "CA0020000", 1, &pe[1], &ad[1], 1, now, &hit), 0);
	assert_int_equal(server_limits_after(l, p, "u1", "CA0020000", 1, &pe[0], &ad[0], 1, now, &hit), 0);
	assert_int_equal(server_limits_after(l, p, "u1", "CA0020000", 1, &pe[2], &ad[2], 1, now, &hit), 1);
	assert_non_null(strstr(hit.text, "\"household\""));
	/* one answer with three people at one address is refused at once */
	assert_int_equal(server_limits_after(l, p, "u1", "CA0030000", 3, pe, ad, 3, now, &hit), 1);
	server_limits_free(l);
	policy_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(subjects_then_suspend),
		cmocka_unit_test(queries_per_window),
		cmocka_unit_test(misses_and_households),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
