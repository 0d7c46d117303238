/*
 * test_server_limits.c - the gateway's enforcement of `limit` statements:
 * queries and distinct subjects before a lookup, misses and people at one
 * address after it, sliding windows, per user or per agency; one alert per
 * limit and key per window; counting for the rebuild; idle state expiring;
 * the byte budget refusing (fail closed) when full.
 */
#include "testutil.h"

#include <sys/stat.h>

#include "audit.h"
#include "key.h"
#include "policy.h"
#include "server_limits.h"
#include "util.h"

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

static void
count_sweep(void *arg, const char *id, uint64_t n)
{
	if (strcmp(id, "sweep") == 0)
		*(int *)arg += (int)n;
}

static void
count_full(void *arg, const char *id, uint64_t n)
{
	if (strcmp(id, "(state-full)") == 0)
		*(int *)arg += (int)n;
}
static void
alerts_once_per_window(void **state)
{
	struct policy *p = load();
	struct server_limits *l = server_limits_new();
	struct server_limit_hit hit;
	int64_t now = 1000000000000LL, h = 3600LL * 1000000;
	int n = 0;

	(void)state;
	for (int i = 0; i < 3; i++) {
		char subj[32];
		snprintf(subj, sizeof subj, "license:S%d", i);
		assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", subj, now, &hit), 0);
	}
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:X", now, &hit), 1);
	assert_int_equal(hit.alert, 1);
	assert_string_equal(hit.id, "sweep");
	assert_string_equal(hit.cite, "");
	assert_int_equal(hit.have, 3);
	assert_int_equal(hit.count, 3);
	/* the same requester refused again in the window: no second alert */
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:Y", now + 1, &hit), 1);
	assert_int_equal(hit.alert, 0);
	/* another user tripping the same limit is another alert */
	for (int i = 0; i < 3; i++) {
		char subj[32];
		snprintf(subj, sizeof subj, "license:T%d", i);
		assert_int_equal(server_limits_before(l, p, "u2", "CA0010000", subj, now, &hit), 0);
	}
	assert_int_equal(server_limits_before(l, p, "u2", "CA0010000", "license:Z", now, &hit), 1);
	assert_int_equal(hit.alert, 1);
	/* a window (and a counter slot) later u1 may trip it again, and alerts again */
	for (int i = 0; i < 3; i++) {
		char subj[32];
		snprintf(subj, sizeof subj, "license:U%d", i);
		assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", subj, now + h + h / 15 + 2, &hit), 0);
	}
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:V", now + h + h / 15 + 2, &hit), 1);
	assert_int_equal(hit.alert, 1);
	server_limits_foreach_alert(l, count_sweep, &n);
	assert_int_equal(n, 3);
	server_limits_free(l);
	policy_free(p);
}

static void
counter_window_slides(void **state)
{
	struct policy *p = load();
	struct server_limits *l = server_limits_new();
	struct server_limit_hit hit;
	int64_t now = 1000000000000LL, h = 3600LL * 1000000;

	(void)state;
	/* 5 queries spread over the hour, all about one subject */
	for (int i = 0; i < 5; i++)
		assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:A",
		    now + i * (h / 5), &hit), 0);
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:A",
	    now + h - 1, &hit), 1);
	/* never less than a window: the first query still counts right after
	 * its hour ... */
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:A",
	    now + h + 1, &hit), 1);
	/* ... and is gone a slot (1/15 window) later: one more is allowed */
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:A",
	    now + h + h / 15 + 1000000, &hit), 0);
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:A",
	    now + h + h / 15 + 1000001, &hit), 1);
	server_limits_free(l);
	policy_free(p);
}

static void
count_then_enforce(void **state)
{
	struct policy *p = load();
	struct server_limits *l = server_limits_new();
	struct server_limit_hit hit;
	int64_t now = 1000000000000LL;
	uint64_t pe[2] = { 21, 22 }, ad[2] = { 77, 77 };

	(void)state;
	/* what a rebuild does: count past permits without checking */
	assert_int_equal(server_limits_count(l, p, "u1", "CA0010000", "license:A", 1, NULL, NULL, 0,
	    now - 10), 0);
	assert_int_equal(server_limits_count(l, p, "u1", "CA0010000", "license:B", 0, NULL, NULL, 0,
	    now - 9), 0);
	assert_int_equal(server_limits_count(l, p, "u1", "CA0010000", "license:C", 2, pe, ad, 2,
	    now - 8), 0);
	/* unknown row count (an entry without "records N"): no miss */
	assert_int_equal(server_limits_count(l, p, "u2", "CA0010000", "license:C", -1, NULL, NULL, 0,
	    now - 8), 0);
	/* three subjects counted: the fourth is refused */
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:D", now, &hit), 1);
	assert_string_equal(hit.id, "sweep");
	/* one miss counted for the agency: one more trips the fishing limit */
	assert_int_equal(server_limits_after(l, p, "u3", "CA0010000", 0, NULL, NULL, 0, now, &hit), 0);
	assert_int_equal(server_limits_before(l, p, "u3", "CA0010000", "license:E", now, &hit), 1);
	assert_string_equal(hit.id, "fishing");
	/* two people at address 77: a third is over the household limit */
	pe[0] = 23;
	assert_int_equal(server_limits_after(l, p, "u9", "CA0010000", 1, pe, ad, 1, now, &hit), 1);
	assert_string_equal(hit.id, "household");
	server_limits_free(l);
	policy_free(p);
}

static void
idle_state_expires(void **state)
{
	struct policy *p = load();
	struct server_limits *l = server_limits_new();
	struct server_limit_hit hit;
	struct server_limits_stats st;
	int64_t now = 1000000000000LL, day = 86400LL * 1000000;
	char user[32];

	(void)state;
	for (int i = 0; i < 5000; i++) {
		snprintf(user, sizeof user, "user%d", i);
		assert_int_equal(server_limits_before(l, p, user, "CA0010000", "license:A", now, &hit), 0);
	}
	server_limits_get_stats(l, &st);
	assert_true(st.trackers >= 10000);     /* rate + sweep per user, + agency */
	assert_true(st.bytes > 5000 * 100);
	/* a day later, one active user: each call frees a few idle buckets */
	for (int i = 0; i < 10000; i++)
		assert_int_equal(server_limits_before(l, p, "busy", "CA0020000", "license:B",
		    now + day + i, &hit), i < 5 ? 0 : 1);
	server_limits_get_stats(l, &st);
	assert_true(st.trackers <= 3);
	assert_true(st.expired >= 10000);
	server_limits_free(l);
	policy_free(p);
}

static void
full_state_fails_closed(void **state)
{
	struct policy *p = load();
	struct server_limits *l = server_limits_new_capped(256 * 1024);
	struct server_limit_hit hit;
	struct server_limits_stats st;
	int64_t now = 1000000000000LL, h = 3600LL * 1000000;
	char user[32];
	int i, refused = -1, n = 0;

	(void)state;
	for (i = 0; i < 100000; i++) {
		snprintf(user, sizeof user, "user%d", i);
		if (server_limits_before(l, p, user, "CA0010000", "license:A", now, &hit) != 0) {
			refused = i;
			break;
		}
	}
	assert_true(refused > 100);
	assert_int_equal(hit.full, 1);
	assert_int_equal(hit.index, -1);
	assert_int_equal(hit.alert, 1);
	assert_non_null(strstr(hit.text, "fail closed"));
	server_limits_get_stats(l, &st);
	assert_true(st.bytes <= 256 * 1024);
	assert_int_equal(st.full, 1);
	/* still full: refused again, without a second alert within a minute */
	assert_int_equal(server_limits_before(l, p, "new", "CA0010000", "license:A", now + 1, &hit), 1);
	assert_int_equal(hit.full, 1);
	assert_int_equal(hit.alert, 0);
	/* a user already tracked is still counted (no new memory) */
	assert_int_equal(server_limits_before(l, p, "user0", "CA0010000", "license:A", now + 2, &hit), 0);
	/* a window later the idle state is swept and new users fit again */
	assert_int_equal(server_limits_before(l, p, "new", "CA0010000", "license:A", now + 2 * h, &hit), 0);
	server_limits_foreach_alert(l, count_full, &n);
	assert_int_equal(n, 1);
	server_limits_free(l);
	policy_free(p);
}

static void
big_sets_indexed(void **state)
{
	static const char txt[] =
	    "categories local_police\npurposes criminal_investigation\n"
	    "items identity = license_number\n"
	    "permit \"p\" cite \"x\" when category == local_police release identity\n"
	    "limit \"big\" per user 1000 subjects per 1h\n";
	struct policy_errors e;
	struct policy *p;
	struct server_limits *l = server_limits_new();
	struct server_limit_hit hit;
	int64_t now = 1000000000000LL, h = 3600LL * 1000000;
	char subj[32];

	(void)state;
	policy_errors_init(&e);
	p = policy_load_mem("big.policy", txt, sizeof txt - 1, &e);
	policy_errors_free(&e);
	assert_non_null(p);
	/* 500 subjects, then 500 more half an hour later: the set is full */
	for (int i = 0; i < 1000; i++) {
		snprintf(subj, sizeof subj, "license:B%d", i);
		assert_int_equal(server_limits_before(l, p, "u", "CA0010000", subj,
		    now + (i < 500 ? 0 : h / 2) + i, &hit), 0);
	}
	assert_int_equal(server_limits_before(l, p, "u", "CA0010000", "license:new", now + h / 2 + 2000,
	    &hit), 1);
	for (int i = 0; i < 1000; i += 97) {      /* every one is known, none is new */
		snprintf(subj, sizeof subj, "license:B%d", i);
		assert_int_equal(server_limits_before(l, p, "u", "CA0010000", subj, now + h / 2 + 3000,
		    &hit), 0);
	}
	/* an hour after the first 500 (not re-asked) they are gone: 500 - the
	 * re-asked ones (i = 0, 97, ..., 485: 6) new subjects fit, then no more */
	for (int i = 0; i < 494; i++) {
		snprintf(subj, sizeof subj, "license:C%d", i);
		assert_int_equal(server_limits_before(l, p, "u", "CA0010000", subj, now + h + 1000000 + i,
		    &hit), 0);
	}
	assert_int_equal(server_limits_before(l, p, "u", "CA0010000", "license:D", now + h + 2000000,
	    &hit), 1);
	/* the later ones are still known after the prune rebuilt the index */
	assert_int_equal(server_limits_before(l, p, "u", "CA0010000", "license:B999", now + h + 2000001,
	    &hit), 0);
	assert_int_equal(server_limits_before(l, p, "u", "CA0010000", "license:C7", now + h + 2000002,
	    &hit), 0);
	server_limits_free(l);
	policy_free(p);
}

/* A permitted query entry as the server writes it. */
static void
append_permit(struct audit_log *log, const char *user, const char *subject, const char *detail,
    int64_t t, int status)
{
	struct audit_entry e;

	memset(&e, 0, sizeof e);
	e.kind = AUDIT_QUERY;
	e.time_us = t;
	e.ori = "CA0010000";
	e.user = user;
	e.channel = "json";
	e.query_type = "driver";
	e.by = "license";
	e.subjects[0] = subject;
	e.nsubjects = 1;
	e.purpose = "criminal_investigation";
	e.decision = status == 200 ? AUDIT_PERMIT : AUDIT_DENY;
	e.status = status;
	e.detail = detail;
	assert_int_equal(audit_append_wait(log, &e, NULL), 0);
}

static void
rebuild_from_the_log(void **state)
{
	struct policy *p = load();
	struct server_limits *l = server_limits_new();
	struct server_limit_hit hit;
	struct server_limits_rebuilt rb;
	struct audit_log *log;
	int64_t now = util_now_us(), h = 3600LL * 1000000;
	char *d = test_tmpdir(), path[512];

	(void)state;
	snprintf(path, sizeof path, "%s/checkpoint.key", d);
	assert_int_equal(key_generate(path, "test.local/audit", 0), 0);
	snprintf(path, sizeof path, "%s/audit", d);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_non_null(log = audit_open(path, NULL, AUDIT_WRITE));
	/* two days ago: outside every window (the longest is 24h) */
	for (int i = 0; i < 50; i++)
		append_permit(log, "u1", "license:OLD", "records 1", now - 48 * h + i, 200);
	/* within the hour: u1 asked about 3 subjects (the sweep limit), the
	 * agency had 1 miss (fishing: 2); a 429 and a deny count nothing */
	append_permit(log, "u1", "license:A", "records 1", now - h / 2, 200);
	append_permit(log, "u1", "license:B", "records 1", now - h / 2 + 1, 200);
	append_permit(log, "u2", "license:C", "records 0", now - h / 2 + 2, 200);
	append_permit(log, "u1", "license:C", "", now - h / 2 + 3, 200);
	append_permit(log, "u3", "license:E", "limit \"sweep\": ...", now - h / 2 + 4, 429);
	append_permit(log, "u3", "license:F", "no rule", now - h / 2 + 5, 403);
	assert_int_equal(server_limits_rebuild(l, p, log, NULL, now, &rb), 0);
	assert_int_equal(rb.window_s, 86400);
	assert_int_equal(rb.counted, 4);
	assert_true(rb.from_index >= 40 && rb.from_index <= 50);   /* the binary search */
	/* the sweep limit (3 subjects per user): u1 is full */
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:D", now, &hit), 1);
	assert_string_equal(hit.id, "sweep");
	assert_int_equal(server_limits_before(l, p, "u1", "CA0010000", "license:A", now, &hit), 0);
	/* fishing (2 misses per agency): one rebuilt, one more trips it */
	assert_int_equal(server_limits_after(l, p, "u3", "CA0010000", 0, NULL, NULL, 0, now, &hit), 0);
	assert_int_equal(server_limits_before(l, p, "u3", "CA0010000", "license:G", now, &hit), 1);
	assert_string_equal(hit.id, "fishing");
	audit_close(log);
	test_rmtree(d);
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
		cmocka_unit_test(alerts_once_per_window),
		cmocka_unit_test(counter_window_slides),
		cmocka_unit_test(count_then_enforce),
		cmocka_unit_test(idle_state_expires),
		cmocka_unit_test(full_state_fails_closed),
		cmocka_unit_test(big_sets_indexed),
		cmocka_unit_test(rebuild_from_the_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
