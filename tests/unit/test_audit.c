/*
 * Unit tests for the audit log: RFC 9162 / Certificate Transparency test
 * vectors (roots, inclusion and consistency proofs of the 8-leaf reference
 * tree), the entry encoding, proofs and checkpoints, and the log itself
 * (append, reopen, read, prove, prune, 16 concurrent appenders).
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "audit.h"
#include "audit_int.h"
#include "key.h"
#include "util.h"

/* CT reference tree: leaf inputs and roots of the first n leaves. */
static const char *const ct_leaves[8] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};
static const char *const ct_roots[8] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};
static const char empty_root[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct vec {
	uint64_t index, size; /* inclusion: index; consistency: old size */
	int n;
	const char *hashes[4];
};
static const struct vec ct_inclusion[] = {
	{ 0, 1, 0, { NULL } },
	{ 0, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, 3, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, 1, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, 3, { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};
static const struct vec ct_consistency[] = {
	{ 1, 1, 0, { NULL } },
	{ 1, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, 2, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 3, 8, 4, { "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
		     "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
		     "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
};

static void
unhex(const char *s, uint8_t *out, size_t n)
{
	assert_int_equal(util_unhex(s, strlen(s), out, n), 0);
}

/* The reference tree's stored hashes, in memory. */
static uint8_t mem_hashes[64][AUDIT_HASH_SIZE];
static uint64_t mem_nhashes;

static int
mem_read(void *arg, uint64_t idx, uint8_t out[AUDIT_HASH_SIZE])
{
	(void)arg;
	if (idx >= mem_nhashes)
		return -1;
	memcpy(out, mem_hashes[idx], AUDIT_HASH_SIZE);
	return 0;
}

static void
ct_leaf(int i, uint8_t out[AUDIT_HASH_SIZE])
{
	uint8_t d[16];
	size_t n = strlen(ct_leaves[i]) / 2;

	if (n > 0)
		unhex(ct_leaves[i], d, n);
	audit_leaf_hash(d, n, out);
}

static void
build_ct(uint64_t n)
{
	struct audit_builder b;
	uint8_t leaf[AUDIT_HASH_SIZE], emit[65][AUDIT_HASH_SIZE];

	audit_builder_init(&b);
	mem_nhashes = 0;
	for (uint64_t i = 0; i < n; i++) {
		int m;

		ct_leaf((int)i, leaf);
		m = audit_builder_add(&b, leaf, emit);
		memcpy(mem_hashes[mem_nhashes], emit, (size_t)m * AUDIT_HASH_SIZE);
		mem_nhashes += (uint64_t)m;
	}
	assert_true(mem_nhashes == audit_stored_count(n));
}

static void
test_ct_roots(void **state)
{
	uint8_t leaves[8][AUDIT_HASH_SIZE], root[AUDIT_HASH_SIZE], want[AUDIT_HASH_SIZE];
	struct audit_hashreader rd = { mem_read, NULL };

	(void)state;
	audit_tree_root(NULL, 0, root);
	unhex(empty_root, want, 32);
	assert_memory_equal(root, want, 32);
	for (int i = 0; i < 8; i++)
		ct_leaf(i, leaves[i]);
	build_ct(8);
	for (int n = 1; n <= 8; n++) {
		unhex(ct_roots[n - 1], want, 32);
		audit_tree_root((const uint8_t (*)[32])leaves, (uint64_t)n, root);
		assert_memory_equal(root, want, 32);
		/* and from the stored hashes of the 8-leaf tree */
		assert_int_equal(audit_subtree_hash(&rd, 0, (uint64_t)n, root), 0);
		assert_memory_equal(root, want, 32);
	}
}

static void
test_ct_inclusion(void **state)
{
	struct audit_hashreader rd = { mem_read, NULL };
	uint8_t proof[AUDIT_PROOF_MAX_HASHES][32], want[32], leaf[32], root[32];
	size_t n;

	(void)state;
	build_ct(8);
	for (size_t v = 0; v < UTIL_NELEM(ct_inclusion); v++) {
		const struct vec *t = &ct_inclusion[v];

		assert_int_equal(audit_gen_inclusion(&rd, t->index, t->size, proof, &n), 0);
		assert_int_equal((int)n, t->n);
		for (int j = 0; j < t->n; j++) {
			unhex(t->hashes[j], want, 32);
			assert_memory_equal(proof[j], want, 32);
		}
		ct_leaf((int)t->index, leaf);
		unhex(ct_roots[t->size - 1], root, 32);
		assert_true(audit_verify_inclusion(t->index, t->size, leaf, (const uint8_t (*)[32])proof, n, root));
		/* wrong index, size, leaf, root, truncated, extended proofs fail */
		assert_false(audit_verify_inclusion(t->index + 1, t->size, leaf, (const uint8_t (*)[32])proof, n, root));
		if (t->index > 0)
			assert_false(audit_verify_inclusion(t->index - 1, t->size, leaf,
			    (const uint8_t (*)[32])proof, n, root));
		assert_false(audit_verify_inclusion(t->index, t->size * 2, leaf, (const uint8_t (*)[32])proof, n, root));
		if (n > 0) {
			assert_false(audit_verify_inclusion(t->index, t->size, leaf, (const uint8_t (*)[32])proof, n - 1, root));
			proof[0][0] ^= 1;
			assert_false(audit_verify_inclusion(t->index, t->size, leaf, (const uint8_t (*)[32])proof, n, root));
			proof[0][0] ^= 1;
		}
		memcpy(proof[n], root, 32);
		assert_false(audit_verify_inclusion(t->index, t->size, leaf, (const uint8_t (*)[32])proof, n + 1, root));
		leaf[0] ^= 1;
		assert_false(audit_verify_inclusion(t->index, t->size, leaf, (const uint8_t (*)[32])proof, n, root));
	}
	/* every (index, size) of the reference tree round-trips */
	for (uint64_t size = 1; size <= 8; size++)
		for (uint64_t i = 0; i < size; i++) {
			ct_leaf((int)i, leaf);
			unhex(ct_roots[size - 1], root, 32);
			assert_int_equal(audit_gen_inclusion(&rd, i, size, proof, &n), 0);
			assert_true(audit_verify_inclusion(i, size, leaf, (const uint8_t (*)[32])proof, n, root));
		}
	assert_false(audit_verify_inclusion(0, 0, leaf, (const uint8_t (*)[32])proof, 0, root));
}

static void
test_ct_consistency(void **state)
{
	struct audit_hashreader rd = { mem_read, NULL };
	uint8_t proof[AUDIT_PROOF_MAX_HASHES][32], want[32], r1[32], r2[32];
	size_t n;

	(void)state;
	build_ct(8);
	for (size_t v = 0; v < UTIL_NELEM(ct_consistency); v++) {
		const struct vec *t = &ct_consistency[v];

		assert_int_equal(audit_gen_consistency(&rd, t->index, t->size, proof, &n), 0);
		assert_int_equal((int)n, t->n);
		for (int j = 0; j < t->n; j++) {
			unhex(t->hashes[j], want, 32);
			assert_memory_equal(proof[j], want, 32);
		}
		unhex(ct_roots[t->index - 1], r1, 32);
		unhex(ct_roots[t->size - 1], r2, 32);
		assert_true(audit_verify_consistency(t->index, t->size, r1, r2, (const uint8_t (*)[32])proof, n));
		if (n > 0) {
			assert_false(audit_verify_consistency(t->index, t->size, r2, r1, (const uint8_t (*)[32])proof, n));
			assert_false(audit_verify_consistency(t->index, t->size, r1, r2, (const uint8_t (*)[32])proof, n - 1));
			assert_false(audit_verify_consistency(t->index + 1, t->size, r1, r2, (const uint8_t (*)[32])proof, n));
			assert_false(audit_verify_consistency(t->index, t->size * 2, r1, r2, (const uint8_t (*)[32])proof, n));
			memcpy(proof[n], r1, 32);
			assert_false(audit_verify_consistency(t->index, t->size, r1, r2, (const uint8_t (*)[32])proof, n + 1));
			proof[0][5] ^= 0x10;
			assert_false(audit_verify_consistency(t->index, t->size, r1, r2, (const uint8_t (*)[32])proof, n));
		}
	}
	for (uint64_t m = 1; m <= 8; m++)
		for (uint64_t s = m; s <= 8; s++) {
			unhex(ct_roots[m - 1], r1, 32);
			unhex(ct_roots[s - 1], r2, 32);
			assert_int_equal(audit_gen_consistency(&rd, m, s, proof, &n), 0);
			assert_true(audit_verify_consistency(m, s, r1, r2, (const uint8_t (*)[32])proof, n));
		}
	/* time travel and mismatched roots fail */
	assert_false(audit_verify_consistency(2, 1, r1, r2, (const uint8_t (*)[32])proof, 0));
	assert_false(audit_verify_consistency(1, 2, r1, r2, (const uint8_t (*)[32])proof, 0));
}

static void
fill_entry(struct audit_entry *e, int i, char *reason, size_t rsz)
{
	memset(e, 0, sizeof *e);
	e->kind = AUDIT_QUERY;
	e->time_us = 1764166097000000LL + i;
	e->ori = "CA0340000";
	e->user = i % 2 ? "jrivera" : "akim";
	e->category = "local_police";
	e->channel = "json";
	e->query_type = "driver";
	e->by = "license";
	e->subjects[0] = i % 3 ? "license:D1234567" : "license:D7654321";
	e->nsubjects = 1;
	e->purpose = "criminal_investigation";
	snprintf(reason, rsz, "case 26-%05d", i);
	e->reason = reason;
	e->legal_process = "";
	e->decision = i % 5 ? AUDIT_PERMIT : AUDIT_DENY;
	e->status = i % 5 ? 200 : 403;
	e->rules[0] = "police";
	e->nrules = 1;
	e->items = FIELD_BIT(FIELD_LICENSE_NUMBER) | FIELD_BIT(FIELD_LAST_NAME);
	e->has_response = 1;
	memset(e->response_sha256, 0xab, 32);
	e->client_addr = "192.0.2.7";
}

static void
test_entry_roundtrip(void **state)
{
	struct audit_entry e;
	static struct audit_record r;
	uint8_t buf[AUDIT_ENTRY_MAX], big[AUDIT_ENTRY_MAX + 10];
	char reason[64], longs[AUDIT_DETAIL_MAX + 2];
	const char *why;
	long n;

	(void)state;
	fill_entry(&e, 7, reason, sizeof reason);
	n = audit_entry_encode(&e, 42, "dmvgate.local/audit", buf, sizeof buf, &why);
	assert_true(n > 0);
	assert_int_equal(audit_entry_decode(buf, (size_t)n, &r, &why), 0);
	assert_true(r.e.index == 42);
	assert_string_equal(r.e.origin, "dmvgate.local/audit");
	assert_string_equal(r.e.reason, "case 26-00007");
	assert_string_equal(r.e.subjects[0], "license:D1234567");
	assert_int_equal(r.e.decision, AUDIT_PERMIT);
	assert_int_equal(r.e.status, 200);
	assert_true(r.e.items == e.items);
	/* canonical: trailing byte, truncation, bad version, unknown kind fail */
	memcpy(big, buf, (size_t)n);
	big[n] = 0;
	assert_int_equal(audit_entry_decode(big, (size_t)n + 1, &r, &why), -1);
	assert_int_equal(audit_entry_decode(buf, (size_t)n - 1, &r, &why), -1);
	buf[0] = 2;
	assert_int_equal(audit_entry_decode(buf, (size_t)n, &r, &why), -1);
	buf[0] = 1;
	buf[1] = 9;
	assert_int_equal(audit_entry_decode(buf, (size_t)n, &r, &why), -1);
	buf[1] = 1;
	buf[29] = 0; /* response hash without its flag */
	assert_int_equal(audit_entry_decode(buf, (size_t)n, &r, &why), -1);
	/* limits */
	memset(longs, 'x', sizeof longs - 1);
	longs[sizeof longs - 1] = '\0';
	e.detail = longs;
	assert_true(audit_entry_encode(&e, 1, "o", buf, sizeof buf, &why) < 0);
	assert_int_equal(errno, EINVAL);
	e.detail = NULL;
	e.reason = "\xff\xfe";
	assert_true(audit_entry_encode(&e, 1, "o", buf, sizeof buf, &why) < 0);
	e.reason = reason;
	e.nsubjects = AUDIT_MAX_SUBJECTS + 1;
	assert_true(audit_entry_encode(&e, 1, "o", buf, sizeof buf, &why) < 0);
}

/* ---- the log ---- */

static char *
make_datadir(void)
{
	char *d = test_tmpdir(), p[512];

	snprintf(p, sizeof p, "%s/checkpoint.key", d);
	assert_int_equal(key_generate(p, "test.local/audit", 0), 0);
	snprintf(p, sizeof p, "%s/audit", d);
	assert_int_equal(mkdir(p, 0700), 0);
	return d;
}

static struct audit_log *
open_log(const char *d, int flags, int cp_every)
{
	char p[512];
	struct audit_config cfg;

	memset(&cfg, 0, sizeof cfg);
	cfg.checkpoint_every_entries = cp_every;
	snprintf(p, sizeof p, "%s/audit", d);
	return audit_open(p, &cfg, flags);
}

static void
append_n(struct audit_log *log, int from, int n)
{
	struct audit_entry e;
	char reason[64];
	uint64_t idx;

	for (int i = from; i < from + n; i++) {
		fill_entry(&e, i, reason, sizeof reason);
		assert_int_equal(audit_append_wait(log, &e, &idx), 0);
		assert_true(idx == (uint64_t)i);
	}
}

static int
verify_dir(const char *d, struct audit_verify_result *res)
{
	char p[512];

	snprintf(p, sizeof p, "%s/audit", d);
	return audit_verify(p, NULL, 0, res);
}

static void
test_log_basic(void **state)
{
	char *d = make_datadir(), *proof, p[512];
	struct audit_log *log, *log2;
	static struct audit_record r;
	static struct audit_proof pf;
	struct audit_checkpoint cp;
	struct audit_verify_result res;
	uint8_t root[32], cproof[64][32];
	size_t n;
	const char *why;
	char *pub = NULL;
	size_t publen;

	(void)state;
	log = open_log(d, AUDIT_WRITE, 10);
	assert_non_null(log);
	/* a second writer is refused with EWOULDBLOCK */
	log2 = open_log(d, AUDIT_WRITE, 10);
	assert_null(log2);
	assert_int_equal(errno, EWOULDBLOCK);
	append_n(log, 0, 37);
	assert_true(audit_size(log) == 37);
	assert_int_equal(audit_get(log, 5, &r), 0);
	assert_string_equal(r.e.reason, "case 26-00005");
	audit_close(log);

	/* reopen read-only: the final checkpoint covers everything */
	log = open_log(d, AUDIT_RDONLY, 0);
	assert_non_null(log);
	assert_true(audit_size(log) == 37);
	assert_int_equal(audit_latest_checkpoint(log, &cp), 0);
	assert_true(cp.size == 37);
	assert_int_equal(audit_root(log, 37, root), 0);
	assert_memory_equal(root, cp.root, 32);
	proof = audit_prove(log, 11);
	assert_non_null(proof);
	snprintf(p, sizeof p, "%s/checkpoint.key.pub", d);
	assert_int_equal(util_read_file(p, 4096, &pub, &publen), 0);
	pub[strcspn(pub, "\n")] = '\0';
	assert_int_equal(audit_proof_parse(proof, strlen(proof), &pf, &why), 0);
	assert_int_equal(audit_proof_check(&pf, pub, &r, &why), 0);
	assert_true(r.e.index == 11);
	/* a different index or a flipped hash fails */
	pf.index = 12;
	assert_int_equal(audit_proof_check(&pf, pub, NULL, &why), -1);
	pf.index = 11;
	pf.hashes[0][3] ^= 1;
	assert_int_equal(audit_proof_check(&pf, pub, NULL, &why), -1);
	free(proof);
	/* consistency between every pair of sizes */
	for (uint64_t a = 1; a <= 37; a += 3) {
		uint8_t r1[32];

		assert_int_equal(audit_root(log, a, r1), 0);
		assert_int_equal(audit_consistency_proof(log, a, 37, cproof, &n), 0);
		assert_true(audit_verify_consistency(a, 37, r1, root, (const uint8_t (*)[32])cproof, n));
	}
	/* tlog-tiles: the level-0 tile 0 holds the leaf hashes */
	{
		uint8_t tile[37 * 32];

		assert_int_equal(audit_tile(log, 0, 0, 37, tile), 0);
		for (int i = 0; i < 37; i++) {
			assert_int_equal(audit_get(log, (uint64_t)i, &r), 0);
			assert_memory_equal(tile + i * 32, r.leaf_hash, 32);
		}
		assert_int_equal(audit_tile(log, 0, 0, 38, tile), -1);
		assert_int_equal(audit_tile(log, 1, 0, 1, tile), -1);
	}
	audit_close(log);
	assert_int_equal(verify_dir(d, &res), 0);
	assert_true(res.entries == 37);
	assert_true(res.checkpoints >= 4);

	/* reopen for writing and continue */
	log = open_log(d, AUDIT_WRITE, 10);
	assert_non_null(log);
	append_n(log, 37, 20);
	audit_close(log);
	assert_int_equal(verify_dir(d, &res), 0);
	assert_true(res.entries == 57);
	free(pub);
	test_rmtree(d);
}

struct thr {
	struct audit_log *log;
	int n;
	uint64_t *got;
};

static void *
thr_main(void *arg)
{
	struct thr *t = arg;
	struct audit_entry e;
	char reason[64];

	for (int i = 0; i < t->n; i++) {
		fill_entry(&e, i, reason, sizeof reason);
		if (audit_append_wait(t->log, &e, &t->got[i]) < 0)
			t->got[i] = UINT64_MAX;
	}
	return NULL;
}

static void
test_log_concurrent(void **state)
{
	enum { T = 16, N = 300 };
	char *d = make_datadir();
	struct audit_log *log = open_log(d, AUDIT_WRITE, 500);
	pthread_t th[T];
	struct thr t[T];
	static uint64_t got[T][N];
	static uint8_t seen[T * N];
	struct audit_verify_result res;
	struct audit_stats st;

	(void)state;
	assert_non_null(log);
	for (int i = 0; i < T; i++) {
		t[i] = (struct thr){ log, N, got[i] };
		assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
	}
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	audit_get_stats(log, &st);
	assert_true(st.appended == T * N);
	{
		/* one fdatasync and one batch-size sample per durable batch */
		uint64_t ns = 0, nb = 0, slow = 0;

		for (int i = 0; i <= AUDIT_SYNC_NB; i++)
			ns += st.sync_bucket[i];
		for (int i = 0; i <= AUDIT_BATCH_NB; i++)
			nb += st.batch_bucket[i];
		for (int i = 0; i < AUDIT_BATCH_NB && audit_batch_bounds[i] < st.max_batch; i++)
			slow += st.batch_bucket[i];
		assert_true(st.batches > 0 && ns == st.batches && nb == st.batches);
		assert_true(st.sync_ns > 0 && st.syncs == st.batches);
		assert_true(slow < st.batches);   /* the largest batch is counted in its bucket */
	}
	audit_close(log);
	memset(seen, 0, sizeof seen);
	for (int i = 0; i < T; i++)
		for (int j = 0; j < N; j++) {
			assert_true(got[i][j] < T * N);
			assert_int_equal(seen[got[i][j]], 0);
			seen[got[i][j]] = 1;
		}
	assert_int_equal(verify_dir(d, &res), 0);
	assert_true(res.entries == T * N);
	test_rmtree(d);
}

static int
count_cb(void *arg, const struct audit_record *r)
{
	(void)r;
	(*(int *)arg)++;
	return 0;
}

static void
test_log_search_prune(void **state)
{
	char *d = make_datadir(), p[512];
	struct audit_log *log = open_log(d, AUDIT_WRITE, 10);
	struct audit_filter f;
	struct audit_verify_result res;
	uint64_t first;
	int n;

	(void)state;
	assert_non_null(log);
	append_n(log, 0, 60);
	audit_close(log);
	log = open_log(d, AUDIT_RDONLY, 0);
	assert_non_null(log);
	audit_filter_init(&f);
	f.subject = "license:D7654321";
	n = 0;
	assert_int_equal(audit_search(log, &f, count_cb, &n), 0);
	assert_int_equal(n, 20); /* i % 3 == 0 */
	audit_filter_init(&f);
	f.user = "akim";
	f.decision = AUDIT_DENY;
	n = 0;
	assert_int_equal(audit_search(log, &f, count_cb, &n), 0);
	assert_int_equal(n, 6); /* even and multiple of 5 */
	audit_filter_init(&f);
	f.from_us = 1764166097000000LL + 10;
	f.to_us = 1764166097000000LL + 20;
	n = 0;
	assert_int_equal(audit_search(log, &f, count_cb, &n), 0);
	assert_int_equal(n, 10);
	audit_close(log);
	/* prune entries before time +25: bodies 0..24 go, the tree verifies */
	snprintf(p, sizeof p, "%s/audit", d);
	log = open_log(d, AUDIT_RDONLY, 0); /* opened before the prune, as a server would be */
	assert_non_null(log);
	assert_int_equal(audit_prune(p, 1764166097000000LL + 25, &first), 0);
	assert_true(first == 25);
	{
		static struct audit_record r0;

		assert_int_equal(audit_get(log, 3, &r0), -1);
		assert_int_equal(errno, ENOENT);
		assert_null(audit_prove(log, 3));
		assert_int_equal(errno, ENOENT);
		assert_int_equal(audit_get(log, 30, &r0), 0);
	}
	audit_close(log);
	if (verify_dir(d, &res) != 0) fprintf(stderr, "verify: %s\n", res.error);
	assert_int_equal(verify_dir(d, &res), 0);
	assert_true(res.entries == 35 && res.pruned == 25);
	log = open_log(d, AUDIT_RDONLY, 0);
	assert_non_null(log);
	{
		static struct audit_record r;
		char *proof;

		assert_int_equal(audit_get(log, 3, &r), -1);
		assert_int_equal(audit_get(log, 30, &r), 0);
		proof = audit_prove(log, 40);
		assert_non_null(proof);
		free(proof);
	}
	audit_filter_init(&f);
	f.subject = "license:D7654321";
	n = 0;
	assert_int_equal(audit_search(log, &f, count_cb, &n), 0);
	assert_int_equal(n, 11); /* multiples of 3 in 25..59 */
	audit_close(log);
	/* writing after a prune still works */
	log = open_log(d, AUDIT_WRITE, 10);
	assert_non_null(log);
	append_n(log, 60, 5);
	audit_close(log);
	assert_int_equal(verify_dir(d, &res), 0);
	test_rmtree(d);
}

static void
test_reserve_void(void **state)
{
	char *d = make_datadir(), p[512];
	struct audit_config cfg;
	struct audit_log *log;
	struct audit_entry e;
	static struct audit_record r;
	char reason[64];
	uint64_t a, b;
	struct audit_verify_result res;

	(void)state;
	memset(&cfg, 0, sizeof cfg);
	cfg.reserve_timeout_ms = 50;
	snprintf(p, sizeof p, "%s/audit", d);
	log = audit_open(p, &cfg, AUDIT_WRITE);
	assert_non_null(log);
	fill_entry(&e, 0, reason, sizeof reason);
	assert_int_equal(audit_reserve(log, &a), 0);
	assert_int_equal(audit_reserve(log, &b), 0);
	assert_true(a == 0 && b == 1);
	/* b commits; a never does: after the timeout a becomes VOID */
	assert_int_equal(audit_commit(log, b, &e, NULL, NULL), 0);
	usleep(200000);
	assert_int_equal(audit_commit(log, a, &e, NULL, NULL), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(audit_append_wait(log, &e, &a), 0);
	assert_true(a == 2);
	assert_int_equal(audit_get(log, 0, &r), 0);
	assert_int_equal(r.e.kind, AUDIT_VOID);
	assert_int_equal(audit_get(log, 1, &r), 0);
	assert_int_equal(r.e.kind, AUDIT_QUERY);

	/* a pre-encoded entry: committed as is, or refused for another index */
	{
		uint8_t enc[AUDIT_ENTRY_MAX], leaf[AUDIT_HASH_SIZE];
		long n;

		assert_int_equal(audit_reserve(log, &a), 0);
		assert_true(a == 3);
		n = audit_entry_encode(&e, a + 1, audit_origin(log), enc, sizeof enc, NULL);
		assert_true(n > 0);
		audit_leaf_hash(enc, (size_t)n, leaf);
		assert_int_equal(audit_commit_encoded(log, a, enc, (size_t)n, leaf, NULL, NULL), -1);
		assert_int_equal(errno, EINVAL);        /* and slot 3 is given up: VOID */
		assert_int_equal(audit_reserve(log, &a), 0);
		assert_true(a == 4);
		n = audit_entry_encode(&e, a, audit_origin(log), enc, sizeof enc, NULL);
		audit_leaf_hash(enc, (size_t)n, leaf);
		assert_int_equal(audit_commit_encoded(log, a, enc, (size_t)n, leaf, NULL, NULL), 0);
		assert_int_equal(audit_append_wait(log, &e, &b), 0);
		assert_true(b == 5);
		assert_int_equal(audit_get(log, 3, &r), 0);
		assert_int_equal(r.e.kind, AUDIT_VOID);
		assert_int_equal(audit_get(log, 4, &r), 0);
		assert_int_equal(r.e.kind, AUDIT_QUERY);
		assert_memory_equal(r.leaf_hash, leaf, AUDIT_HASH_SIZE);
		assert_string_equal(r.e.reason, e.reason);
	}
	audit_close(log);
	assert_int_equal(verify_dir(d, &res), 0);
	assert_true(res.entries == 6);
	test_rmtree(d);
}

struct bg {
	struct audit_log *log;
	volatile int stop;
	long n;
};

static void *
bg_main(void *arg)
{
	struct bg *b = arg;
	struct audit_entry e;
	char reason[64];

	while (!b->stop) {
		fill_entry(&e, (int)(b->n % 1000), reason, sizeof reason);
		if (audit_append_wait(b->log, &e, NULL) < 0)
			break;
		b->n++;
	}
	return NULL;
}

/* Readers (read-only opens, verify, proofs) while 4 threads append. */
static void
test_read_while_writing(void **state)
{
	char *d = make_datadir(), p[512], *pub = NULL;
	struct audit_config cfg;
	struct bg b[4];
	pthread_t th[4];
	uint64_t last = 0;
	size_t publen;
	static struct audit_proof pf;
	static struct audit_record r;
	int rounds = 0;
	uint64_t t_end;

	(void)state;
	memset(&cfg, 0, sizeof cfg);
	cfg.checkpoint_every_ms = 30;
	snprintf(p, sizeof p, "%s/audit", d);
	struct audit_log *w = audit_open(p, &cfg, AUDIT_WRITE);
	assert_non_null(w);
	snprintf(p, sizeof p, "%s/checkpoint.key.pub", d);
	assert_int_equal(util_read_file(p, 4096, &pub, &publen), 0);
	pub[strcspn(pub, "\n")] = '\0';
	for (int i = 0; i < 4; i++) {
		b[i] = (struct bg){ w, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, bg_main, &b[i]), 0);
	}
	t_end = util_mono_ns() + 1500000000ull;
	snprintf(p, sizeof p, "%s/audit", d);
	while (util_mono_ns() < t_end) {
		struct audit_log *rd = audit_open(p, NULL, AUDIT_RDONLY);
		struct audit_checkpoint cp;
		struct audit_verify_result res;
		const char *why;

		assert_non_null(rd);
		assert_true(audit_size(rd) >= last);
		last = audit_size(rd);
		if (audit_latest_checkpoint(rd, &cp) == 0 && cp.size > 0) {
			char *proof = audit_prove(rd, cp.size - 1);

			assert_non_null(proof);
			assert_int_equal(audit_proof_parse(proof, strlen(proof), &pf, &why), 0);
			assert_int_equal(audit_proof_check(&pf, pub, &r, &why), 0);
			free(proof);
		}
		if (last > 0)
			assert_int_equal(audit_get(rd, last - 1, &r), 0);
		audit_close(rd);
		if (audit_verify(p, NULL, 0, &res) != 0)
			fail_msg("verify while writing: %s", res.error);
		rounds++;
	}
	for (int i = 0; i < 4; i++) {
		b[i].stop = 1;
		pthread_join(th[i], NULL);
	}
	audit_close(w);
	assert_true(rounds > 3);
	free(pub);
	test_rmtree(d);
}

/*
 * Fail closed: in a child whose file size limit stops the next write, the
 * batch's waiter is told -1 and every later append is refused (EIO); after
 * reopening (no limit) the log holds exactly the acknowledged entries and
 * verifies.
 */
static off_t
entries_size(const char *d)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof p, "%s/audit/entries", d);
	assert_int_equal(stat(p, &st), 0);
	return st.st_size;
}

/*
 * The writer pads `entries` with zeros ahead of its end (so that a batch's
 * fdatasync has no size to write): readers take the zeros as the end, a
 * copy of a live log (what a crash leaves) reads and verifies whole, a
 * clean close cuts the padding, and a zeroed record header with data after
 * it is damage, not an end.
 */
static void
test_padding(void **state)
{
	char *d = make_datadir(), *c = test_tmpdir(), cmd[1200], p[600];
	struct audit_verify_result res;
	struct audit_log *log, *rd;
	static struct audit_record r;
	off_t live, closed;
	uint8_t b4[4] = { 0 }, junk[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	int fd;

	(void)state;
	log = open_log(d, AUDIT_WRITE, 10);
	assert_non_null(log);
	append_n(log, 0, 30);
	live = entries_size(d);
	assert_true(live >= (off_t)1 << 20);            /* padded ahead */
	/* a reader of the live log stops at the padding */
	rd = open_log(d, AUDIT_RDONLY, 0);
	assert_non_null(rd);
	assert_true(audit_size(rd) == 30);
	assert_int_equal(audit_get(rd, 29, &r), 0);
	audit_close(rd);
	/* a copy taken now is what a crash would leave: padding included */
	snprintf(cmd, sizeof cmd, "cp -a %s/audit %s/checkpoint.key %s/checkpoint.key.pub %s/ && rm -f %s/audit/lock",
	    d, d, d, c, c);
	assert_int_equal(system(cmd), 0);
	audit_close(log);
	closed = entries_size(d);
	assert_true(closed < live);                      /* close cut the padding */
	assert_int_equal(verify_dir(d, &res), 0);
	assert_true(res.entries == 30);

	/* (the copy may also hold a checkpoint record cut mid-write: what a
	 * crash leaves; a reader and the next writer's recovery deal with it,
	 * so the copy is read, not verified, before that recovery) */
	assert_true(entries_size(c) == live);
	rd = open_log(c, AUDIT_RDONLY, 0);               /* padding read as the end */
	assert_non_null(rd);
	assert_true(audit_size(rd) == 30);
	audit_close(rd);
	log = open_log(c, AUDIT_WRITE, 10);              /* recovery cuts it ... */
	assert_non_null(log);
	assert_true(audit_size(log) == 30);
	append_n(log, 30, 5);                            /* ... and goes on */
	audit_close(log);
	assert_int_equal(verify_dir(c, &res), 0);
	assert_true(res.entries == 35);

	/* damage: a zeroed header with data after it is not an end */
	snprintf(p, sizeof p, "%s/audit/entries", c);
	assert_true((fd = open(p, O_RDWR)) >= 0);
	assert_int_equal(pwrite(fd, b4, 4, 0), 4);
	close(fd);
	assert_int_equal(verify_dir(c, &res), -1);
	/* nor are zeros followed by stray bytes at the end */
	assert_int_equal(verify_dir(d, &res), 0);
	snprintf(p, sizeof p, "%s/audit/entries", d);
	assert_true((fd = open(p, O_RDWR)) >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof junk, closed + 5000), (ssize_t)sizeof junk);
	close(fd);
	assert_int_equal(verify_dir(d, &res), -1);
	test_rmtree(d);
	test_rmtree(c);
}

static void
test_fail_closed(void **state)
{
	char *d = make_datadir();
	struct audit_verify_result res;
	struct audit_log *log;
	int status;
	pid_t pid;

	(void)state;
	log = open_log(d, AUDIT_WRITE, 10);
	assert_non_null(log);
	append_n(log, 0, 5);
	audit_close(log);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl;
		struct audit_entry e;
		char reason[64], p[512], big[AUDIT_DETAIL_MAX];
		struct stat st;
		uint64_t idx;

		signal(SIGXFSZ, SIG_IGN);
		if ((log = open_log(d, AUDIT_WRITE, 1000000)) == NULL)
			_exit(10);
		snprintf(p, sizeof p, "%s/audit/entries", d);
		if (stat(p, &st) < 0)
			_exit(11);
		rl.rlim_cur = rl.rlim_max = (rlim_t)st.st_size + 100;
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(12);
		fill_entry(&e, 5, reason, sizeof reason);
		memset(big, 'x', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		e.detail = big;
		if (audit_append_wait(log, &e, &idx) == 0)
			_exit(13); /* must not be acknowledged */
		e.detail = NULL;
		if (audit_append_wait(log, &e, &idx) == 0 || errno != EIO)
			_exit(14); /* the log refuses everything now */
		audit_close(log);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	log = open_log(d, AUDIT_WRITE, 10);
	assert_non_null(log);
	assert_true(audit_size(log) == 5);
	append_n(log, 5, 3);
	audit_close(log);
	assert_int_equal(verify_dir(d, &res), 0);
	assert_true(res.entries == 8);
	test_rmtree(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ct_roots),
		cmocka_unit_test(test_ct_inclusion),
		cmocka_unit_test(test_ct_consistency),
		cmocka_unit_test(test_entry_roundtrip),
		cmocka_unit_test(test_log_basic),
		cmocka_unit_test(test_log_concurrent),
		cmocka_unit_test(test_log_search_prune),
		cmocka_unit_test(test_reserve_void),
		cmocka_unit_test(test_fail_closed),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_read_while_writing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
