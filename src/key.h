/*
 * key.h - Ed25519 signing keys in the signed-note key format used by C2SP
 * tlog-checkpoint (golang.org/x/mod/sumdb/note):
 *
 *   signer   PRIVATE+KEY+<name>+<id>+<base64(0x01 || 32-byte seed)>
 *   verifier <name>+<id>+<base64(0x01 || 32-byte public key)>
 *
 * where <id> is 8 hex digits: the first 4 bytes (big-endian) of
 * SHA-256(name || "\n" || 0x01 || public key).  The private half never
 * leaves this module: no function returns or prints it.
 */
#ifndef DMVGATE_KEY_H
#define DMVGATE_KEY_H

#include <stddef.h>
#include <stdint.h>

#define KEY_NAME_MAX 128       /* longest key name (the log origin) */
#define KEY_VERIFIER_MAX 256   /* longest verifier string, with NUL */

struct key;

/*
 * Creates a new key named name and writes the signer to path with mode
 * 0600 and the verifier to path + ".pub" (0644).  Refuses to overwrite
 * an existing file unless force.  Returns 0 or -1 (message on stderr).
 */
int key_generate(const char *path, const char *name, int force);

/* Loads the signer at path; NULL on error (message on stderr).  The
 * caller owns the result and frees it with key_free (which wipes it). */
struct key *key_load(const char *path);
void key_free(struct key *k);

const char *key_name(const struct key *k);
/* The verifier string (see above); owned by k. */
const char *key_verifier(const struct key *k);
uint32_t key_id(const struct key *k);
void key_public(const struct key *k, uint8_t pub[32]);

/* Signs msg; writes the 64-byte Ed25519 signature. */
void key_sign(const struct key *k, const uint8_t *msg, size_t len, uint8_t sig[64]);

/*
 * Parses a verifier string.  name must have KEY_NAME_MAX bytes.  Returns 0,
 * or -1 when the string is malformed or its id does not match its key.
 */
int key_parse_verifier(const char *s, char *name, uint32_t *id, uint8_t pub[32])
    __attribute__((warn_unused_result));
/* Computes the key id for a name and public key. */
uint32_t key_compute_id(const char *name, const uint8_t pub[32]);
/* Returns 1 when sig is a valid signature of msg by pub, else 0. */
int key_verify(const uint8_t pub[32], const uint8_t *msg, size_t len, const uint8_t sig[64])
    __attribute__((warn_unused_result));

/* Base64 (standard alphabet, padded).  enc writes a NUL; out must hold
 * BASE64_ENCODE_RAW_LENGTH(n)+1.  dec returns decoded length or -1. */
void key_b64_encode(const uint8_t *in, size_t n, char *out);
long key_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t outsz);

/*
 * Key history (key rotation, `dmvgate keys rotate`).  The current signer is
 * DIR/checkpoint.key (verifier DIR/checkpoint.key.pub); every earlier
 * verifier is a line of DIR/keys/retired, oldest first:
 *
 *   <verifier> retired <YYYY-MM-DDTHH:MM:SSZ> size <N>
 *
 * A "verifier list" is one or more verifier strings separated by '\n'
 * (blank lines ignored), current key first.  audit_checkpoint_parse and
 * audit_verify accept such a list: a checkpoint signed by any key in it
 * verifies.
 */
#define KEY_DIR "keys"
#define KEY_RETIRED "keys/retired"
#define KEY_LIST_MAX 64        /* verifiers in one list */

struct key_verifier {
	char name[KEY_NAME_MAX];
	uint32_t id;
	uint8_t pub[32];
};

/*
 * Parses a verifier list into out (at most max).  Returns the number of
 * verifiers (>= 1), or -1 when a line is malformed, the list is empty or
 * longer than max.
 */
int key_parse_verifier_list(const char *list, struct key_verifier *out, int max)
    __attribute__((warn_unused_result));

/*
 * The key history of data directory datadir as a verifier list: the
 * current verifier, then the retired ones, newest first.  Returns a
 * malloc'd, NUL-terminated string (no trailing newline) that the caller
 * frees, or NULL (message on stderr) when checkpoint.key.pub is missing or
 * a line is malformed.  Public keys only.
 */
char *key_history(const char *datadir);

#endif /* DMVGATE_KEY_H */
