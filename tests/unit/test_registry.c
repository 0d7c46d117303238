/*
 * test_registry.c - the agency/user registry: validation, tokens (shown
 * once, stored hashed), the in-memory authentication snapshot, the CJIS
 * lockout, and the audit queue of changes.
 */
#include "testutil.h"

#include "registry.h"
#include "util.h"

struct fx {
	char *dir;
	struct registry *r;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char path[512];

	f->dir = test_tmpdir();
	snprintf(path, sizeof path, "%s/registry.db", f->dir);
	f->r = registry_open(path);
	assert_non_null(f->r);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	registry_close(f->r);
	test_rmtree(f->dir);
	free(f);
	return 0;
}

static void
add_agency(struct registry *r, const char *ori, const char *cat, int32_t until)
{
	struct registry_agency a;

	memset(&a, 0, sizeof a);
	strcpy(a.ori, ori);
	strcpy(a.name, "Test Agency");
	strcpy(a.category, cat);
	a.certified_until = until;
	assert_int_equal(registry_agency_add(r, &a), 0);
}

static void
ori_validation(void **state)
{
	(void)state;
	assert_true(registry_ori_valid("CA0340000"));
	assert_true(registry_ori_valid("NY1234ABC"));
	assert_true(registry_ori_valid("PR0000000"));
	assert_false(registry_ori_valid("ZZ0340000"));   /* not a state */
	assert_false(registry_ori_valid("CA034000"));    /* 8 chars */
	assert_false(registry_ori_valid("CA03400000"));  /* 10 chars */
	assert_false(registry_ori_valid("ca0340000"));   /* lower case */
	assert_false(registry_ori_valid("CA03-0000"));
	assert_false(registry_ori_valid(""));
	assert_true(registry_userid_valid("j.rivera@ca"));
	assert_false(registry_userid_valid("bad user"));
	assert_false(registry_userid_valid(""));
}

static void
agency_lifecycle(void **state)
{
	struct fx *f = *state;
	struct registry_agency a, dup;
	int64_t before = registry_changes(f->r);

	add_agency(f->r, "CA0340000", "local_police", util_today() + 30);
	assert_true(registry_changes(f->r) > before);
	memset(&dup, 0, sizeof dup);
	strcpy(dup.ori, "CA0340000");
	strcpy(dup.category, "court");
	assert_int_equal(registry_agency_add(f->r, &dup), REGISTRY_EXISTS);
	assert_int_equal(registry_agency_get(f->r, "CA0340000", &a), 0);
	assert_string_equal(a.category, "local_police");
	assert_int_equal(a.suspended, 0);
	assert_int_equal(registry_agency_set_suspended(f->r, "CA0340000", 1), 0);
	assert_int_equal(registry_agency_get(f->r, "CA0340000", &a), 0);
	assert_int_equal(a.suspended, 1);
	assert_int_equal(registry_agency_certify(f->r, "CA0340000", 12345), 0);
	assert_int_equal(registry_agency_get(f->r, "CA0340000", &a), 0);
	assert_int_equal(a.certified_until, 12345);
	assert_int_equal(registry_agency_get(f->r, "NY0000000", &a), REGISTRY_NOTFOUND);
	assert_int_equal(registry_agency_set_suspended(f->r, "NY0000000", 1), REGISTRY_NOTFOUND);
}

static int
count_change(void *arg, const struct registry_change *c)
{
	int *n = arg;

	assert_true(c->action[0] != '\0');
	(*n)++;
	return 0;
}

static void
changes_are_queued_for_audit(void **state)
{
	struct fx *f = *state;
	char token[REGISTRY_TOKEN_MAX];
	int n = 0;

	add_agency(f->r, "CA0340000", "local_police", util_today() + 30);
	assert_int_equal(registry_user_add(f->r, "CA0340000", "alice", token), 0);
	assert_int_equal(registry_agency_set_suspended(f->r, "CA0340000", 1), 0);
	assert_int_equal(registry_drain(f->r, count_change, &n), 3);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(registry_drain(f->r, count_change, &n), 0);
}

static void
tokens_and_auth(void **state)
{
	struct fx *f = *state;
	char token[REGISTRY_TOKEN_MAX], bad[REGISTRY_TOKEN_MAX];
	struct registry_cache *c;
	struct registry_principal p;
	struct registry_user u;
	int32_t today = util_today();

	add_agency(f->r, "CA0340000", "local_police", today + 30);
	assert_int_equal(registry_user_add(f->r, "CA0340000", "alice", token), 0);
	assert_int_equal(strncmp(token, "dmv_", 4), 0);
	assert_int_equal(strlen(token), 4 + 12 + 1 + 43);
	assert_int_equal(registry_user_add(f->r, "CA0340000", "alice", bad), REGISTRY_EXISTS);
	assert_int_equal(registry_user_add(f->r, "NY0000000", "bob", bad), REGISTRY_NOTFOUND);
	assert_int_equal(registry_user_get(f->r, "alice", &u), 0);
	assert_int_equal(strncmp(token + 4, u.pubid, 12), 0);

	c = registry_cache_new(f->r);
	assert_non_null(c);
	assert_int_equal(registry_cache_auth(c, token, strlen(token), today, &p), REGISTRY_AUTH_OK);
	assert_string_equal(p.userid, "alice");
	assert_string_equal(p.ori, "CA0340000");
	assert_string_equal(p.category, "local_police");

	strcpy(bad, token);
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(registry_cache_auth(c, bad, strlen(bad), today, &p), REGISTRY_AUTH_BAD_SECRET);
	assert_string_equal(p.userid, "alice");       /* attributed */
	assert_int_equal(registry_cache_auth(c, "dmv_x", 5, today, &p), REGISTRY_AUTH_MALFORMED);
	assert_int_equal(registry_cache_auth(c, "", 0, today, &p), REGISTRY_AUTH_MALFORMED);
	memcpy(bad, token, strlen(token) + 1);
	memcpy(bad + 4, "000000000000", 12);
	assert_int_equal(registry_cache_auth(c, bad, strlen(bad), today, &p), REGISTRY_AUTH_UNKNOWN);

	/* expired certification, suspension, revocation: after a reload */
	assert_int_equal(registry_cache_auth(c, token, strlen(token), today + 31, &p), REGISTRY_AUTH_EXPIRED);
	assert_int_equal(registry_agency_set_suspended(f->r, "CA0340000", 1), 0);
	assert_int_equal(registry_cache_auth(c, token, strlen(token), today, &p), REGISTRY_AUTH_OK);
	assert_int_equal(registry_cache_reload(c, f->r), 0);
	assert_int_equal(registry_cache_auth(c, token, strlen(token), today, &p), REGISTRY_AUTH_SUSPENDED);
	assert_int_equal(registry_agency_set_suspended(f->r, "CA0340000", 0), 0);
	assert_int_equal(registry_user_revoke(f->r, "alice"), 0);
	assert_int_equal(registry_cache_reload(c, f->r), 0);
	assert_int_equal(registry_cache_auth(c, token, strlen(token), today, &p), REGISTRY_AUTH_REVOKED);
	registry_cache_free(c);
}

static void
lockout_after_five_failures_in_fifteen_minutes(void **state)
{
	struct fx *f = *state;
	char token[REGISTRY_TOKEN_MAX], pubid[13];
	struct registry_cache *c;
	struct registry_principal p;
	struct registry_user u;
	int64_t now = util_now_us();
	int locked = 0;

	add_agency(f->r, "CA0340000", "local_police", util_today() + 30);
	assert_int_equal(registry_user_add(f->r, "CA0340000", "alice", token), 0);
	memcpy(pubid, token + 4, 12);
	pubid[12] = '\0';
	/* four old failures outside the window do not count */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(registry_auth_failure(f->r, pubid, now - REGISTRY_LOCK_WINDOW_US - 1000, &locked), 0);
		assert_int_equal(locked, 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(registry_auth_failure(f->r, pubid, now + i, &locked), 0);
		assert_int_equal(locked, 0);
	}
	assert_int_equal(registry_auth_failure(f->r, pubid, now + 10, &locked), 0);
	assert_int_equal(locked, 1);
	assert_int_equal(registry_user_get(f->r, "alice", &u), 0);
	assert_int_equal(u.locked, 1);
	c = registry_cache_new(f->r);
	assert_int_equal(registry_cache_auth(c, token, strlen(token), util_today(), &p), REGISTRY_AUTH_LOCKED);
	assert_int_equal(registry_user_unlock(f->r, "alice"), 0);
	assert_int_equal(registry_cache_reload(c, f->r), 0);
	assert_int_equal(registry_cache_auth(c, token, strlen(token), util_today(), &p), REGISTRY_AUTH_OK);
	/* unlock cleared the history: one new failure does not relock */
	assert_int_equal(registry_auth_failure(f->r, pubid, now + 20, &locked), 0);
	assert_int_equal(locked, 0);
	assert_int_equal(registry_auth_failure(f->r, "ffffffffffff", now, &locked), REGISTRY_NOTFOUND);
	/* a limit's `then suspend` locks the same way, with its reason */
	assert_int_equal(registry_user_lock(f->r, pubid, "limit \"sweep\""), 0);
	assert_int_equal(registry_cache_reload(c, f->r), 0);
	assert_int_equal(registry_cache_auth(c, token, strlen(token), util_today(), &p), REGISTRY_AUTH_LOCKED);
	assert_int_equal(p.locked, 1);
	assert_int_equal(registry_user_lock(f->r, "ffffffffffff", "x"), REGISTRY_NOTFOUND);
	registry_cache_free(c);
}

static void
token_hash_only_is_stored(void **state)
{
	struct fx *f = *state;
	char token[REGISTRY_TOKEN_MAX], path[512], cmd[1200];
	FILE *p;
	char line[256];
	int found = 0;

	add_agency(f->r, "CA0340000", "local_police", util_today() + 30);
	assert_int_equal(registry_user_add(f->r, "CA0340000", "alice", token), 0);
	registry_close(f->r);
	snprintf(path, sizeof path, "%s/registry.db", f->dir);
	/* the secret part must not appear anywhere in the database files */
	snprintf(cmd, sizeof cmd, "cat '%s'* | grep -c -F '%s'", path, token + 17);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fgets(line, sizeof line, p) != NULL)
		found = atoi(line);
	pclose(p);
	assert_int_equal(found, 0);
	f->r = registry_open(path);
	assert_non_null(f->r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ori_validation),
		cmocka_unit_test_setup_teardown(agency_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(changes_are_queued_for_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(tokens_and_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(lockout_after_five_failures_in_fifteen_minutes, setup, teardown),
		cmocka_unit_test_setup_teardown(token_hash_only_is_stored, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
