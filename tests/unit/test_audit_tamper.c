/*
 * Tamper tests for the audit log: a log of 50 entries with checkpoints is
 * copied and damaged in one way per case (a flipped byte, a deleted entry,
 * two entries swapped, a cut in the middle, a flipped byte with its check
 * bytes fixed up, an older or forged checkpoint, a history whose sizes go
 * backwards);
 * `audit verify` must fail and name the right index, and opening the log
 * for writing must refuse it.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "audit.h"
#include "audit_int.h"
#include "key.h"
#include "util.h"

#define N 50

static char *base;   /* pristine data directory */

static int
setup(void **state)
{
	char p[512];
	struct audit_config cfg;
	struct audit_log *log;
	struct audit_entry e;
	char reason[64];

	(void)state;
	base = test_tmpdir();
	snprintf(p, sizeof p, "%s/checkpoint.key", base);
	assert_int_equal(key_generate(p, "test.local/audit", 0), 0);
	memset(&cfg, 0, sizeof cfg);
	cfg.checkpoint_every_entries = 10;
	snprintf(p, sizeof p, "%s/audit", base);
	log = audit_open(p, &cfg, AUDIT_WRITE);
	assert_non_null(log);
	for (int i = 0; i < N; i++) {
		memset(&e, 0, sizeof e);
		e.kind = AUDIT_QUERY;
		e.ori = "CA0340000";
		e.user = "jrivera";
		e.purpose = "criminal_investigation";
		snprintf(reason, sizeof reason, "case %d", i);
		e.reason = reason;
		e.subjects[0] = "license:D1234567";
		e.nsubjects = 1;
		e.decision = AUDIT_PERMIT;
		assert_int_equal(audit_append_wait(log, &e, NULL), 0);
	}
	audit_close(log);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	test_rmtree(base);
	return 0;
}

/* A fresh copy of the pristine directory; caller frees. */
static char *
copy(void)
{
	char *d = test_tmpdir(), cmd[1024];

	snprintf(cmd, sizeof cmd, "cp -a '%s/.' '%s/'", base, d);
	assert_int_equal(system(cmd), 0);
	return d;
}

static void
read_file(const char *d, const char *name, uint8_t **buf, size_t *len)
{
	char p[512];

	snprintf(p, sizeof p, "%s/audit/%s", d, name);
	assert_int_equal(util_read_file(p, 1 << 24, (char **)buf, len), 0);
}

static void
write_file(const char *d, const char *name, const void *buf, size_t len)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof p, "%s/audit/%s", d, name);
	assert_non_null(f = fopen(p, "wb"));
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static uint64_t
offset_of(const char *d, uint64_t i)
{
	uint8_t *b;
	size_t len;
	uint64_t off;

	read_file(d, "offsets", &b, &len);
	assert_true(len >= (i + 1) * 8);
	off = audit_get_u64(b + i * 8);
	free(b);
	return off;
}

/*
 * verify must fail; returns the result for further checks.  When refuse is
 * set, opening for writing must fail too (the writer checks the entry at
 * the last checkpoint and everything after it, not the whole log: that is
 * what verify is for).
 */
static struct audit_verify_result
expect_fail_w(const char *d, int refuse)
{
	char p[512];
	struct audit_verify_result res;
	struct audit_config cfg;
	struct audit_log *log;

	snprintf(p, sizeof p, "%s/audit", d);
	assert_int_equal(audit_verify(p, NULL, 0, &res), -1);
	fprintf(stderr, "    (verify says: %s)\n", res.error);
	memset(&cfg, 0, sizeof cfg);
	if (refuse) {
		log = audit_open(p, &cfg, AUDIT_WRITE);
		if (log != NULL) {
			audit_close(log);
			fail_msg("opening the damaged log for writing succeeded");
		}
	}
	return res;
}

#define expect_fail(d) expect_fail_w((d), 0)

static void
test_pristine(void **state)
{
	char p[512];
	struct audit_verify_result res;

	(void)state;
	snprintf(p, sizeof p, "%s/audit", base);
	assert_int_equal(audit_verify(p, NULL, 0, &res), 0);
	assert_true(res.entries == N);
	assert_true(res.checkpoints >= 5);
}

static void
test_flip_byte(void **state)
{
	/* flip one byte at several places inside entry 17: header, strings, check bytes */
	static const int where[] = { 4 + 0, 4 + 1, 4 + 12, 4 + 20, 4 + 40, 4 + 70, -1 };

	(void)state;
	for (size_t k = 0; k < UTIL_NELEM(where); k++) {
		char *d = copy();
		uint8_t *b;
		size_t len;
		uint64_t off = offset_of(d, 17), end = offset_of(d, 18);
		struct audit_verify_result res;

		read_file(d, "entries", &b, &len);
		b[where[k] >= 0 ? off + (uint64_t)where[k] : end - 1] ^= 0x01;
		write_file(d, "entries", b, len);
		free(b);
		res = expect_fail(d);
		assert_true(res.bad_index_set);
		assert_true(res.bad_index == 17);
		test_rmtree(d);
	}
}

static void
test_flip_with_fixed_check(void **state)
{
	char *d = copy();
	uint8_t *b, leaf[32];
	size_t len;
	uint64_t off = offset_of(d, 17);
	uint32_t l;
	struct audit_verify_result res;

	(void)state;
	read_file(d, "entries", &b, &len);
	l = audit_get_u32(b + off);
	b[off + 4 + l - 3] ^= 0x20; /* inside the last string */
	audit_leaf_hash(b + off + 4, l, leaf);
	memcpy(b + off + 4 + l, leaf, 4);
	write_file(d, "entries", b, len);
	free(b);
	res = expect_fail(d);
	assert_true(res.bad_index_set && res.bad_index == 17);
	/* and with the stored hashes file rebuilt too, the checkpoints catch it */
	{
		char p[512];

		snprintf(p, sizeof p, "%s/audit/hashes", d);
		assert_int_equal(unlink(p), 0);
		snprintf(p, sizeof p, "%s/audit/offsets", d);
		assert_int_equal(unlink(p), 0);
	}
	res = expect_fail(d);
	assert_true(res.bad_index_set && res.bad_index == 19); /* checkpoint at size 20 */
	test_rmtree(d);
}

static void
test_delete_entry(void **state)
{
	char *d = copy();
	uint8_t *b;
	size_t len;
	uint64_t a = offset_of(d, 17), z = offset_of(d, 18);
	struct audit_verify_result res;

	(void)state;
	read_file(d, "entries", &b, &len);
	memmove(b + a, b + z, len - z);
	write_file(d, "entries", b, len - (z - a));
	free(b);
	res = expect_fail_w(d, 1);
	assert_true(res.bad_index_set && res.bad_index == 17);
	test_rmtree(d);
}

static void
test_reorder(void **state)
{
	char *d = copy();
	uint8_t *b, *tmp;
	size_t len;
	uint64_t a = offset_of(d, 17), m = offset_of(d, 18), z = offset_of(d, 19);
	struct audit_verify_result res;

	(void)state;
	read_file(d, "entries", &b, &len);
	tmp = malloc(z - a);
	memcpy(tmp, b + m, z - m);
	memcpy(tmp + (z - m), b + a, m - a);
	memcpy(b + a, tmp, z - a);
	free(tmp);
	write_file(d, "entries", b, len);
	free(b);
	res = expect_fail(d);
	assert_true(res.bad_index_set && res.bad_index == 17);
	test_rmtree(d);
}

static void
test_truncate_middle(void **state)
{
	char *d = copy();
	uint8_t *b;
	size_t len;
	uint64_t a = offset_of(d, 23);
	struct audit_verify_result res;

	(void)state;
	/* cut the file inside entry 23: everything after is gone */
	read_file(d, "entries", &b, &len);
	write_file(d, "entries", b, a + 9);
	res = expect_fail_w(d, 1);
	assert_true(res.bad_index_set && res.bad_index == 23);
	/* cut 10 bytes out of the middle of entry 23 */
	memmove(b + a + 20, b + a + 30, len - a - 30);
	write_file(d, "entries", b, len - 10);
	free(b);
	res = expect_fail(d);
	assert_true(res.bad_index_set && res.bad_index == 23);
	/* cut at an entry boundary: the checkpoints notice the missing tail */
	test_rmtree(d);
	d = copy();
	read_file(d, "entries", &b, &len);
	write_file(d, "entries", b, offset_of(d, 40));
	free(b);
	res = expect_fail_w(d, 1);
	assert_true(res.bad_index_set && res.bad_index == 40);
	test_rmtree(d);
}

static void
test_older_checkpoint(void **state)
{
	char *d = copy();
	uint8_t *b;
	size_t len;
	uint32_t l;

	(void)state;
	/* replace the published checkpoint with the first one of the history */
	read_file(d, "checkpoints", &b, &len);
	l = audit_get_u32(b);
	write_file(d, "checkpoint", b + 4, l);
	free(b);
	(void)expect_fail(d);
	test_rmtree(d);
}

static void
test_history_rewritten(void **state)
{
	char *d = copy();
	uint8_t *b, *nb;
	size_t len, l1, l2, l3;

	(void)state;
	/* the third history record replaced by the first: sizes go backwards */
	read_file(d, "checkpoints", &b, &len);
	l1 = 8 + audit_get_u32(b);
	l2 = 8 + audit_get_u32(b + l1);
	l3 = 8 + audit_get_u32(b + l1 + l2);
	nb = malloc(len);
	memcpy(nb, b, l1 + l2);
	memcpy(nb + l1 + l2, b, l1);
	memcpy(nb + l1 + l2 + l1, b + l1 + l2 + l3, len - l1 - l2 - l3);
	write_file(d, "checkpoints", nb, len - l3 + l1);
	free(b);
	free(nb);
	(void)expect_fail(d);
	test_rmtree(d);
}

static void
test_forged_checkpoint(void **state)
{
	char *d = copy(), p[512];
	struct key *k;
	char note[AUDIT_NOTE_MAX];
	uint8_t root[32];
	long n;

	(void)state;
	/* a key with the same name but not the log's */
	snprintf(p, sizeof p, "%s/forger.key", d);
	assert_int_equal(key_generate(p, "test.local/audit", 0), 0);
	assert_non_null(k = key_load(p));
	memset(root, 0x42, sizeof root);
	n = audit_checkpoint_sign(k, "test.local/audit", N, root, note, sizeof note);
	assert_true(n > 0);
	key_free(k);
	write_file(d, "checkpoint", note, (size_t)n);
	(void)expect_fail(d);
	test_rmtree(d);
}

static void
test_checkpoints_deleted(void **state)
{
	char *d = copy(), p[512];
	struct audit_verify_result res;

	(void)state;
	snprintf(p, sizeof p, "%s/audit/checkpoints", d);
	assert_int_equal(unlink(p), 0);
	res = expect_fail(d);
	assert_non_null(strstr(res.error, "checkpoint"));
	snprintf(p, sizeof p, "%s/audit/checkpoint", d);
	assert_int_equal(unlink(p), 0);
	res = expect_fail(d);
	assert_non_null(strstr(res.error, "no signed checkpoint"));
	test_rmtree(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pristine),
		cmocka_unit_test(test_flip_byte),
		cmocka_unit_test(test_flip_with_fixed_check),
		cmocka_unit_test(test_delete_entry),
		cmocka_unit_test(test_reorder),
		cmocka_unit_test(test_truncate_middle),
		cmocka_unit_test(test_older_checkpoint),
		cmocka_unit_test(test_history_rewritten),
		cmocka_unit_test(test_forged_checkpoint),
		cmocka_unit_test(test_checkpoints_deleted),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
