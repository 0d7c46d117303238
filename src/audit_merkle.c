/*
 * audit_merkle.c - RFC 9162 Merkle tree hashing, the incremental builder,
 * inclusion and consistency proofs (generation from stored hashes in tlog
 * order, verification exactly as RFC 9162 §2.1.3.2 and §2.1.4.2), C2SP
 * tlog-checkpoint signed notes and c2sp.org/tlog-proof@v1 texts.  Proofs,
 * notes and checkpoints are untrusted input: every length is bounded and
 * every parse fails with a reason instead of asserting.
 */
#include "audit_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/sha2.h>

#include "key.h"
#include "util.h"

#define B64_HASH_LEN 44
#define PROOF_HEADER "c2sp.org/tlog-proof@v1\n"
/* U+2014 EM DASH and a space open every signature line of a signed note. */
#define NOTE_SIG_PREFIX "\xe2\x80\x94 "

void
audit_node_hash(const uint8_t l[AUDIT_HASH_SIZE], const uint8_t r[AUDIT_HASH_SIZE],
    uint8_t out[AUDIT_HASH_SIZE])
{
	struct sha256_ctx c;
	uint8_t buf[1 + 2 * AUDIT_HASH_SIZE];

	buf[0] = 1;
	memcpy(buf + 1, l, AUDIT_HASH_SIZE);
	memcpy(buf + 1 + AUDIT_HASH_SIZE, r, AUDIT_HASH_SIZE);
	sha256_init(&c);
	sha256_update(&c, sizeof buf, buf);
	sha256_digest(&c, AUDIT_HASH_SIZE, out);
}

uint64_t
audit_stored_index(int level, uint64_t n)
{
	uint64_t i = 0;

	for (int l = level; l > 0; l--)
		n = 2 * n + 1;
	for (; n > 0; n >>= 1)
		i += n;
	return i + (uint64_t)level;
}

uint64_t
audit_stored_count(uint64_t n)
{
	return 2 * n - (uint64_t)__builtin_popcountll(n);
}

void
audit_builder_init(struct audit_builder *b)
{
	memset(b, 0, sizeof *b);
}

int
audit_builder_add(struct audit_builder *b, const uint8_t leaf[AUDIT_HASH_SIZE],
    uint8_t (*emit)[AUDIT_HASH_SIZE])
{
	uint8_t h[AUDIT_HASH_SIZE];
	int l, k = 0;

	memcpy(h, leaf, AUDIT_HASH_SIZE);
	memcpy(emit[k++], h, AUDIT_HASH_SIZE);
	for (l = 0; (b->n >> l) & 1; l++) {
		audit_node_hash(b->frontier[l], h, h);
		memcpy(emit[k++], h, AUDIT_HASH_SIZE);
	}
	memcpy(b->frontier[l], h, AUDIT_HASH_SIZE);
	b->n++;
	return k;
}

void
audit_builder_root(const struct audit_builder *b, uint8_t out[AUDIT_HASH_SIZE])
{
	int have = 0;

	if (b->n == 0) {
		struct sha256_ctx c;

		sha256_init(&c);
		sha256_digest(&c, AUDIT_HASH_SIZE, out);
		return;
	}
	for (int l = 0; l < 64; l++) {
		if (!((b->n >> l) & 1))
			continue;
		if (!have) {
			memcpy(out, b->frontier[l], AUDIT_HASH_SIZE);
			have = 1;
		} else {
			audit_node_hash(b->frontier[l], out, out);
		}
	}
}

int
audit_builder_load(struct audit_builder *b, uint64_t n, const struct audit_hashreader *rd)
{
	audit_builder_init(b);
	for (int l = 0; l < 64; l++) {
		if (!((n >> l) & 1))
			continue;
		/* The complete subtree at level l ending the prefix n >> (l+1) << (l+1). */
		if (rd->read(rd->arg, audit_stored_index(l, (n >> l) - 1), b->frontier[l]) < 0)
			return -1;
	}
	b->n = n;
	return 0;
}

void
audit_tree_root(const uint8_t (*leaves)[AUDIT_HASH_SIZE], uint64_t n, uint8_t out[AUDIT_HASH_SIZE])
{
	struct audit_builder b;
	uint8_t emit[65][AUDIT_HASH_SIZE];

	audit_builder_init(&b);
	for (uint64_t i = 0; i < n; i++)
		(void)audit_builder_add(&b, leaves[i], emit);
	audit_builder_root(&b, out);
}

/* Largest power of two strictly less than n (n >= 2). */
static uint64_t
split_point(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

int
audit_subtree_hash(const struct audit_hashreader *rd, uint64_t lo, uint64_t hi,
    uint8_t out[AUDIT_HASH_SIZE])
{
	uint64_t n = hi - lo, k;
	uint8_t l[AUDIT_HASH_SIZE], r[AUDIT_HASH_SIZE];

	if (hi <= lo) {
		errno = EINVAL;
		return -1;
	}
	if ((n & (n - 1)) == 0 && lo % n == 0) {
		int level = __builtin_ctzll(n);

		return rd->read(rd->arg, audit_stored_index(level, lo >> level), out);
	}
	k = split_point(n);
	if (audit_subtree_hash(rd, lo, lo + k, l) < 0 || audit_subtree_hash(rd, lo + k, hi, r) < 0)
		return -1;
	audit_node_hash(l, r, out);
	return 0;
}

static int
gen_path(const struct audit_hashreader *rd, uint64_t m, uint64_t lo, uint64_t hi,
    uint8_t (*proof)[AUDIT_HASH_SIZE], size_t *n)
{
	uint64_t k;

	if (hi - lo <= 1)
		return 0;
	if (*n >= AUDIT_PROOF_MAX_HASHES) {
		errno = EINVAL;
		return -1;
	}
	k = split_point(hi - lo);
	if (m < lo + k) {
		if (gen_path(rd, m, lo, lo + k, proof, n) < 0)
			return -1;
		return audit_subtree_hash(rd, lo + k, hi, proof[(*n)++]);
	}
	if (gen_path(rd, m, lo + k, hi, proof, n) < 0)
		return -1;
	return audit_subtree_hash(rd, lo, lo + k, proof[(*n)++]);
}

int
audit_gen_inclusion(const struct audit_hashreader *rd, uint64_t index, uint64_t size,
    uint8_t (*proof)[AUDIT_HASH_SIZE], size_t *n)
{
	*n = 0;
	if (index >= size) {
		errno = EINVAL;
		return -1;
	}
	return gen_path(rd, index, 0, size, proof, n);
}

static int
gen_subproof(const struct audit_hashreader *rd, uint64_t m, uint64_t lo, uint64_t hi, int b,
    uint8_t (*proof)[AUDIT_HASH_SIZE], size_t *n)
{
	uint64_t k;

	if (*n >= AUDIT_PROOF_MAX_HASHES) {
		errno = EINVAL;
		return -1;
	}
	if (m == hi - lo) {
		if (b)
			return 0;
		return audit_subtree_hash(rd, lo, hi, proof[(*n)++]);
	}
	k = split_point(hi - lo);
	if (m <= k) {
		if (gen_subproof(rd, m, lo, lo + k, b, proof, n) < 0)
			return -1;
		return audit_subtree_hash(rd, lo + k, hi, proof[(*n)++]);
	}
	if (gen_subproof(rd, m - k, lo + k, hi, 0, proof, n) < 0)
		return -1;
	return audit_subtree_hash(rd, lo, lo + k, proof[(*n)++]);
}

int
audit_gen_consistency(const struct audit_hashreader *rd, uint64_t m, uint64_t size,
    uint8_t (*proof)[AUDIT_HASH_SIZE], size_t *n)
{
	*n = 0;
	if (m > size) {
		errno = EINVAL;
		return -1;
	}
	if (m == 0 || m == size)
		return 0;
	return gen_subproof(rd, m, 0, size, 1, proof, n);
}

int
audit_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[AUDIT_HASH_SIZE],
    const uint8_t (*proof)[AUDIT_HASH_SIZE], size_t n, const uint8_t root[AUDIT_HASH_SIZE])
{
	uint64_t fn, sn;
	uint8_t r[AUDIT_HASH_SIZE];

	if (index >= size)
		return 0;
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, AUDIT_HASH_SIZE);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			audit_node_hash(proof[i], r, r);
			if (!(fn & 1)) {
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else {
			audit_node_hash(r, proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, AUDIT_HASH_SIZE) == 0;
}

int
audit_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t root1[AUDIT_HASH_SIZE],
    const uint8_t root2[AUDIT_HASH_SIZE], const uint8_t (*proof)[AUDIT_HASH_SIZE], size_t n)
{
	uint8_t fr[AUDIT_HASH_SIZE], sr[AUDIT_HASH_SIZE];
	uint64_t fn, sn;
	size_t i = 0;

	if (size1 > size2)
		return 0;
	if (size1 == size2)
		return n == 0 && memcmp(root1, root2, AUDIT_HASH_SIZE) == 0;
	if (size1 == 0)
		return n == 0;
	if (n == 0)
		return 0;
	/* When size1 is a power of two, the proof starts implicitly with root1. */
	if ((size1 & (size1 - 1)) == 0) {
		memcpy(fr, root1, AUDIT_HASH_SIZE);
	} else {
		memcpy(fr, proof[0], AUDIT_HASH_SIZE);
		i = 1;
	}
	memcpy(sr, fr, AUDIT_HASH_SIZE);
	fn = size1 - 1;
	sn = size2 - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < n; i++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			audit_node_hash(proof[i], fr, fr);
			audit_node_hash(proof[i], sr, sr);
			if (!(fn & 1)) {
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else {
			audit_node_hash(sr, proof[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(fr, root1, AUDIT_HASH_SIZE) == 0 &&
	    memcmp(sr, root2, AUDIT_HASH_SIZE) == 0;
}

/* ---- base64 ---- */

void
audit_b64_encode(const uint8_t *in, size_t n, char *out)
{
	base64_encode_raw(out, n, in);
	out[BASE64_ENCODE_RAW_LENGTH(n)] = '\0';
}

#define B64_IN_MAX 22000

long
audit_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t outsz)
{
	struct base64_decode_ctx ctx;
	uint8_t small_tmp[BASE64_DECODE_LENGTH(256) + 8], *tmp = small_tmp;
	char small_re[256 + 8], *re = small_re;
	size_t dlen;
	long rc = -1;

	if (inlen == 0 || inlen % 4 != 0 || inlen > B64_IN_MAX)
		return -1;
	if (inlen > 256) { /* an entry in a proof: heap, not the stack */
		tmp = malloc(BASE64_DECODE_LENGTH(inlen) + 8);
		re = malloc(inlen + 8);
		if (tmp == NULL || re == NULL)
			goto out;
	}
	dlen = BASE64_DECODE_LENGTH(inlen) + 8;
	for (size_t i = 0; i < inlen; i++) {
		char c = in[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '/' || (c == '=' && i >= inlen - 2)))
			goto out;
	}
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &dlen, tmp, inlen, in) || !base64_decode_final(&ctx))
		goto out;
	if (dlen > outsz)
		goto out;
	/* Canonical: re-encoding gives back exactly the input. */
	audit_b64_encode(tmp, dlen, re);
	if (strlen(re) != inlen || memcmp(re, in, inlen) != 0)
		goto out;
	memcpy(out, tmp, dlen);
	rc = (long)dlen;
out:
	if (tmp != small_tmp)
		free(tmp);
	if (re != small_re)
		free(re);
	return rc;
}

/* ---- checkpoints (signed notes) ---- */

long
audit_checkpoint_sign(const struct key *k, const char *origin, uint64_t size,
    const uint8_t root[AUDIT_HASH_SIZE], char *out, size_t outsz)
{
	char rootb64[B64_HASH_LEN + 1], sigb64[100];
	uint8_t sig[4 + 64];
	int blen, n;

	audit_b64_encode(root, AUDIT_HASH_SIZE, rootb64);
	blen = snprintf(out, outsz, "%s\n%llu\n%s\n", origin, (unsigned long long)size, rootb64);
	if (blen < 0 || (size_t)blen >= outsz)
		return -1;
	audit_put_u32(sig, key_id(k));
	key_sign(k, (const uint8_t *)out, (size_t)blen, sig + 4);
	audit_b64_encode(sig, sizeof sig, sigb64);
	n = snprintf(out + blen, outsz - (size_t)blen, "\n" NOTE_SIG_PREFIX "%s %s\n", key_name(k),
	    sigb64);
	if (n < 0 || (size_t)n >= outsz - (size_t)blen)
		return -1;
	return blen + n;
}

/* Finds the end of the line starting at p (before end); NULL if none. */
static const char *
line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl;
}

static int
parse_u64_strict(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * The next verifier of a verifier list (key.h) at *p, skipping blank
 * lines: 1 (stored in kv, *p advanced), 0 at the end, -1 malformed.
 */
static int
verifier_next(const char **p, struct key_verifier *kv)
{
	char line[KEY_VERIFIER_MAX];
	const char *s = *p, *nl;
	size_t len;

	for (;;) {
		if (*s == '\0')
			return 0;
		nl = strchr(s, '\n');
		len = nl != NULL ? (size_t)(nl - s) : strlen(s);
		*p = nl != NULL ? nl + 1 : s + len;
		if (len > 0 && s[len - 1] == '\r')
			len--;
		if (len > 0)
			break;
		s = *p;
	}
	if (len >= sizeof line)
		return -1;
	memcpy(line, s, len);
	line[len] = '\0';
	return key_parse_verifier(line, kv->name, &kv->id, kv->pub) < 0 ? -1 : 1;
}

int
audit_checkpoint_parse(const char *text, size_t len, const char *verifier,
    struct audit_checkpoint *cp, const char **why)
{
	const char *p = text, *end = text + len, *nl, *body_end, *name, *sp, *vp;
	struct key_verifier kv;
	uint8_t sig[128];
	size_t n;
	long sl;
	int good = 0, nsigs = 0, nv = 0, r;

	memset(cp, 0, sizeof *cp);
	if (len == 0 || len >= AUDIT_NOTE_MAX) {
		*why = "checkpoint too long or empty";
		return -1;
	}
	if (memchr(text, '\0', len) != NULL || util_utf8_valid(text, len) != 0) {
		*why = "checkpoint is not UTF-8 text";
		return -1;
	}
	/* origin */
	if ((nl = line_end(p, end)) == NULL || nl == p || (size_t)(nl - p) >= sizeof cp->origin) {
		*why = "bad origin line";
		return -1;
	}
	memcpy(cp->origin, p, (size_t)(nl - p));
	p = nl + 1;
	/* size */
	if ((nl = line_end(p, end)) == NULL || parse_u64_strict(p, (size_t)(nl - p), &cp->size) < 0) {
		*why = "bad size line";
		return -1;
	}
	p = nl + 1;
	/* root */
	if ((nl = line_end(p, end)) == NULL || nl - p != B64_HASH_LEN ||
	    audit_b64_decode(p, B64_HASH_LEN, cp->root, AUDIT_HASH_SIZE) != AUDIT_HASH_SIZE) {
		*why = "bad root hash line";
		return -1;
	}
	p = nl + 1;
	/* No extension lines: the blank line follows. */
	if (p >= end || *p != '\n') {
		*why = "missing blank line after the root (extension lines are not accepted)";
		return -1;
	}
	body_end = p; /* the signed text is [text, body_end) */
	p++;
	/* verifier may be a list (key history, key.h): any key in it may sign */
	for (vp = verifier; vp != NULL && (r = verifier_next(&vp, &kv)) != 0; nv++) {
		if (r < 0) {
			*why = "bad verifier key";
			return -1;
		}
	}
	if (verifier != NULL && nv == 0) {
		*why = "bad verifier key";
		return -1;
	}
	while (p < end) {
		if ((nl = line_end(p, end)) == NULL) {
			*why = "unterminated signature line";
			return -1;
		}
		n = strlen(NOTE_SIG_PREFIX);
		if ((size_t)(nl - p) < n || memcmp(p, NOTE_SIG_PREFIX, n) != 0) {
			*why = "bad signature line";
			return -1;
		}
		name = p + n;
		if ((sp = memchr(name, ' ', (size_t)(nl - name))) == NULL || sp == name) {
			*why = "bad signature line";
			return -1;
		}
		sl = audit_b64_decode(sp + 1, (size_t)(nl - sp - 1), sig, sizeof sig);
		if (sl < 5) {
			*why = "bad signature encoding";
			return -1;
		}
		nsigs++;
		for (vp = verifier; vp != NULL && sl == 68 && verifier_next(&vp, &kv) == 1;) {
			if ((size_t)(sp - name) != strlen(kv.name) ||
			    memcmp(name, kv.name, (size_t)(sp - name)) != 0 ||
			    audit_get_u32(sig) != kv.id)
				continue;
			if (!key_verify(kv.pub, (const uint8_t *)text, (size_t)(body_end - text), sig + 4)) {
				*why = "signature does not verify";
				return -1;
			}
			good = 1;
			break;
		}
		p = nl + 1;
	}
	if (nsigs == 0) {
		*why = "no signature";
		return -1;
	}
	if (verifier != NULL && !good) {
		*why = "no signature by the expected key";
		return -1;
	}
	memcpy(cp->text, text, len);
	cp->text[len] = '\0';
	cp->textlen = len;
	return 0;
}

/* ---- tlog-proof ---- */

int
audit_proof_parse(const char *text, size_t len, struct audit_proof *p, const char **why)
{
	const char *s = text, *end = text + len, *nl;
	long n;

	memset(p, 0, sizeof *p);
	if (len > AUDIT_PROOF_TEXT_MAX) {
		*why = "proof too long";
		return -1;
	}
	if (len < strlen(PROOF_HEADER) || memcmp(s, PROOF_HEADER, strlen(PROOF_HEADER)) != 0) {
		*why = "not a c2sp.org/tlog-proof@v1 proof";
		return -1;
	}
	s += strlen(PROOF_HEADER);
	if ((nl = line_end(s, end)) == NULL || nl - s < 6 || memcmp(s, "extra ", 6) != 0) {
		*why = "missing extra line (the entry)";
		return -1;
	}
	n = audit_b64_decode(s + 6, (size_t)(nl - s - 6), p->entry, sizeof p->entry);
	if (n <= 0) {
		*why = "bad extra (entry) encoding";
		return -1;
	}
	p->entrylen = (size_t)n;
	s = nl + 1;
	if ((nl = line_end(s, end)) == NULL || nl - s < 6 || memcmp(s, "index ", 6) != 0 ||
	    parse_u64_strict(s + 6, (size_t)(nl - s - 6), &p->index) < 0) {
		*why = "bad index line";
		return -1;
	}
	s = nl + 1;
	for (;;) {
		if ((nl = line_end(s, end)) == NULL) {
			*why = "missing blank line before the checkpoint";
			return -1;
		}
		if (nl == s)
			break;
		if (p->nhashes >= AUDIT_PROOF_MAX_HASHES) {
			*why = "too many proof hashes";
			return -1;
		}
		if (nl - s != B64_HASH_LEN ||
		    audit_b64_decode(s, B64_HASH_LEN, p->hashes[p->nhashes], AUDIT_HASH_SIZE) !=
			AUDIT_HASH_SIZE) {
			*why = "bad proof hash line";
			return -1;
		}
		p->nhashes++;
		s = nl + 1;
	}
	s = nl + 1;
	if (audit_checkpoint_parse(s, (size_t)(end - s), NULL, &p->cp, why) < 0)
		return -1;
	return 0;
}

int
audit_proof_check(struct audit_proof *p, const char *verifier, struct audit_record *rec,
    const char **why)
{
	struct audit_checkpoint cp;
	struct audit_record *r = rec;
	int rc = -1;

	if (r == NULL && (r = malloc(sizeof *r)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	if (audit_checkpoint_parse(p->cp.text, p->cp.textlen, verifier, &cp, why) < 0)
		goto out;
	if (audit_entry_decode(p->entry, p->entrylen, r, why) < 0)
		goto out;
	if (r->e.index != p->index) {
		*why = "the entry's index differs from the proof's index";
		goto out;
	}
	if (p->index >= cp.size) {
		*why = "index beyond the checkpoint's tree size";
		goto out;
	}
	if (!audit_verify_inclusion(p->index, cp.size, r->leaf_hash,
	    (const uint8_t (*)[AUDIT_HASH_SIZE])p->hashes, p->nhashes, cp.root)) {
		*why = "inclusion proof does not verify against the checkpoint";
		goto out;
	}
	rc = 0;
out:
	if (r != rec)
		free(r);
	return rc;
}
