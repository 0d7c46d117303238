/*
 * audit_int.h - declarations shared by the audit_*.c files only (not part
 * of the module's API): the tlog storage order of tree hashes, the
 * incremental tree builder, proof generation over a hash reader, signing
 * checkpoints, strict base64 and the on-disk record framing.
 */
#ifndef DMVGATE_AUDIT_INT_H
#define DMVGATE_AUDIT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "key.h"

/* Record framing in the entries file: u32 length, entry, first 4 bytes of
 * the leaf hash (a cheap torn-write check). */
#define AUDIT_REC_HDR 4
#define AUDIT_REC_TRAILER 4
#define AUDIT_REC_MAX (AUDIT_REC_HDR + AUDIT_ENTRY_MAX + AUDIT_REC_TRAILER)

/*
 * tlog storage order (golang.org/x/mod/sumdb/tlog): after leaf n come its
 * hash and the hashes of every subtree it completes.  The node at level L,
 * index n is hash number audit_stored_index(L, n) of the hashes file; a
 * tree of n leaves has audit_stored_count(n) = 2n - popcount(n) hashes.
 */
uint64_t audit_stored_index(int level, uint64_t n);
uint64_t audit_stored_count(uint64_t n);

/* The right edge of the tree: enough to append and to compute the root. */
struct audit_builder {
	uint64_t n;
	uint8_t frontier[64][AUDIT_HASH_SIZE];
};
void audit_builder_init(struct audit_builder *b);
/* Appends a leaf; writes the hashes to store (at most 65) in storage order
 * into emit and returns how many. */
int audit_builder_add(struct audit_builder *b, const uint8_t leaf[AUDIT_HASH_SIZE],
    uint8_t (*emit)[AUDIT_HASH_SIZE]);
void audit_builder_root(const struct audit_builder *b, uint8_t out[AUDIT_HASH_SIZE]);
/*
 * Loads a builder for n leaves from stored hashes (the frontier nodes),
 * through rd.  Returns 0 or -1.
 */
struct audit_hashreader {
	/* Reads stored hash number idx; 0 or -1. */
	int (*read)(void *arg, uint64_t idx, uint8_t out[AUDIT_HASH_SIZE]);
	void *arg;
};
int audit_builder_load(struct audit_builder *b, uint64_t n, const struct audit_hashreader *rd);

/* Hash of leaves [lo, hi) of the tree, from stored hashes.  0 or -1. */
int audit_subtree_hash(const struct audit_hashreader *rd, uint64_t lo, uint64_t hi,
    uint8_t out[AUDIT_HASH_SIZE]);
/* RFC 9162 PATH and PROOF from stored hashes.  0 or -1 (EINVAL bad args). */
int audit_gen_inclusion(const struct audit_hashreader *rd, uint64_t index, uint64_t size,
    uint8_t (*proof)[AUDIT_HASH_SIZE], size_t *n);
int audit_gen_consistency(const struct audit_hashreader *rd, uint64_t m, uint64_t size,
    uint8_t (*proof)[AUDIT_HASH_SIZE], size_t *n);

/* Formats and signs a checkpoint into out (outsz >= AUDIT_NOTE_MAX);
 * returns its length or -1. */
long audit_checkpoint_sign(const struct key *k, const char *origin, uint64_t size,
    const uint8_t root[AUDIT_HASH_SIZE], char *out, size_t outsz);

/* Strict, canonical base64 (standard alphabet, padded).  encode writes a
 * NUL (out holds 4*ceil(n/3)+1); decode returns the length or -1. */
void audit_b64_encode(const uint8_t *in, size_t n, char *out);
long audit_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t outsz);

/*
 * Sequential reader of the entries file (audit_reader.c).  audit_rr_next
 * returns AUDIT_REC_OK with *entry/len pointing into the buffer (valid
 * until the next call) and r decoded (r NULL: only the check bytes are
 * verified, leaf receives the leaf hash), AUDIT_REC_END at a clean end
 * (the end of the file, or only zeros up to it: the writer's padding),
 * AUDIT_REC_TORN for an incomplete record at the end, AUDIT_REC_BAD for a
 * whole record that is invalid (*why), AUDIT_REC_IOERR on a read error.
 * *recoff receives the record's offset.
 */
struct audit_recreader {
	int fd;
	uint8_t *buf;
	size_t len, pos;    /* valid bytes, cursor */
	uint64_t base;      /* file offset of buf[0] */
	int eof;
};

enum audit_rec_status { AUDIT_REC_OK, AUDIT_REC_END, AUDIT_REC_TORN, AUDIT_REC_BAD, AUDIT_REC_IOERR };
int audit_rr_init(struct audit_recreader *rr, int fd, uint64_t off);
void audit_rr_free(struct audit_recreader *rr);
/* Makes need bytes available at the cursor: 1, 0 (end of file) or -1. */
int audit_rr_need(struct audit_recreader *rr, size_t need);
/* Only zeros from skip bytes past the cursor to the end of the file: 1, 0 or -1. */
int audit_rr_zero_from(struct audit_recreader *rr, size_t skip);
enum audit_rec_status audit_rr_next(struct audit_recreader *rr, const uint8_t **entry, size_t *len,
    uint64_t *recoff, struct audit_record *r, uint8_t leaf[AUDIT_HASH_SIZE], const char **why);

/* Big-endian helpers. */
static inline uint32_t
audit_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void
audit_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline uint64_t
audit_get_u64(const uint8_t *p)
{
	return (uint64_t)audit_get_u32(p) << 32 | audit_get_u32(p + 4);
}
static inline void
audit_put_u64(uint8_t *p, uint64_t v)
{
	audit_put_u32(p, (uint32_t)(v >> 32));
	audit_put_u32(p + 4, (uint32_t)v);
}

#endif /* DMVGATE_AUDIT_INT_H */
