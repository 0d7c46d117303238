/*
 * key.c - Ed25519 signing keys for checkpoints (see key.h).  Built on
 * Nettle's ed25519_sha512 and base64; the seed is wiped on free.
 */
#include "key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/base64.h>
#include <nettle/eddsa.h>
#include <nettle/sha2.h>

#include "util.h"

#define KEY_FILE_MAX 1024

struct key {
	char name[KEY_NAME_MAX];
	uint8_t seed[ED25519_KEY_SIZE];
	uint8_t pub[ED25519_KEY_SIZE];
	uint32_t id;
	char verifier[KEY_VERIFIER_MAX];
};

void
key_b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t len = BASE64_ENCODE_RAW_LENGTH(n);

	base64_encode_raw(out, n, in);
	out[len] = '\0';
}

long
key_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t outsz)
{
	struct base64_decode_ctx ctx;
	uint8_t buf[512];
	size_t dlen = sizeof buf;

	/* Strict: only canonical padded base64 of a bounded size. */
	if (inlen == 0 || inlen % 4 != 0 || BASE64_DECODE_LENGTH(inlen) > sizeof buf)
		return -1;
	for (size_t i = 0; i < inlen; i++) {
		char c = in[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/' ||
		    (c == '=' && i >= inlen - 2)))
			return -1;
	}
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &dlen, buf, inlen, in) || !base64_decode_final(&ctx))
		return -1;
	if (dlen > outsz)
		return -1;
	memcpy(out, buf, dlen);
	return (long)dlen;
}

uint32_t
key_compute_id(const char *name, const uint8_t pub[32])
{
	struct sha256_ctx c;
	uint8_t d[SHA256_DIGEST_SIZE];
	uint8_t alg = 1;

	sha256_init(&c);
	sha256_update(&c, strlen(name), (const uint8_t *)name);
	sha256_update(&c, 1, (const uint8_t *)"\n");
	sha256_update(&c, 1, &alg);
	sha256_update(&c, 32, pub);
	sha256_digest(&c, sizeof d, d);
	return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
}

static int
valid_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= KEY_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= ' ' || c == '+' || c >= 0x7f)
			return 0;
	}
	return 1;
}

static void
key_finish(struct key *k)
{
	uint8_t kd[33];
	char b64[64];

	ed25519_sha512_public_key(k->pub, k->seed);
	k->id = key_compute_id(k->name, k->pub);
	kd[0] = 1;
	memcpy(kd + 1, k->pub, 32);
	key_b64_encode(kd, sizeof kd, b64);
	snprintf(k->verifier, sizeof k->verifier, "%s+%08x+%s", k->name, k->id, b64);
}

int
key_generate(const char *path, const char *name, int force)
{
	struct key k;
	char *pubpath = NULL, *text = NULL, *pubtext = NULL;
	uint8_t kd[33];
	char b64[64];
	int rc = -1;

	memset(&k, 0, sizeof k);
	if (!valid_name(name)) {
		util_errx("key name '%s' must be 1-%d printable characters without '+' or spaces",
		    name, KEY_NAME_MAX - 1);
		return -1;
	}
	if (!force && access(path, F_OK) == 0) {
		util_errx("%s exists; refusing to overwrite a signing key", path);
		return -1;
	}
	memcpy(k.name, name, strlen(name) + 1);
	if (util_random(k.seed, sizeof k.seed) < 0) {
		util_warn("getrandom");
		goto out;
	}
	key_finish(&k);
	kd[0] = 1;
	memcpy(kd + 1, k.seed, 32);
	key_b64_encode(kd, sizeof kd, b64);
	if ((text = util_aprintf("PRIVATE+KEY+%s+%08x+%s\n", k.name, k.id, b64)) == NULL ||
	    (pubtext = util_aprintf("%s\n", k.verifier)) == NULL ||
	    (pubpath = util_aprintf("%s.pub", path)) == NULL)
		goto out;
	if (util_write_file_atomic(path, text, strlen(text), 0600) < 0) {
		util_warn("%s", path);
		goto out;
	}
	if (util_write_file_atomic(pubpath, pubtext, strlen(pubtext), 0644) < 0) {
		util_warn("%s", pubpath);
		goto out;
	}
	rc = 0;
out:
	util_wipe(kd, sizeof kd);
	util_wipe(b64, sizeof b64);
	util_wipe(&k, sizeof k);
	if (text != NULL)
		util_wipe(text, strlen(text));
	free(text);
	free(pubtext);
	free(pubpath);
	return rc;
}

struct key *
key_load(const char *path)
{
	struct key *k = NULL;
	char *text = NULL, *p, *name, *idstr, *b64, *end;
	size_t len = 0;
	uint8_t kd[64];
	long n;
	struct stat st;

	if (stat(path, &st) < 0) {
		util_warn("%s", path);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		util_errx("%s: signing key must not be readable by group or others (mode 0600)", path);
		return NULL;
	}
	if (util_read_file(path, KEY_FILE_MAX, &text, &len) < 0) {
		util_warn("%s", path);
		return NULL;
	}
	if ((k = util_calloc(1, sizeof *k)) == NULL)
		goto bad;
	/* PRIVATE+KEY+name+id+b64 */
	p = text;
	if ((end = strchr(p, '\n')) != NULL)
		*end = '\0';
	if (strncmp(p, "PRIVATE+KEY+", 12) != 0)
		goto bad;
	name = p + 12;
	if ((idstr = strchr(name, '+')) == NULL)
		goto bad;
	*idstr++ = '\0';
	if ((b64 = strchr(idstr, '+')) == NULL)
		goto bad;
	*b64++ = '\0';
	if (!valid_name(name) || strlen(idstr) != 8)
		goto bad;
	n = key_b64_decode(b64, strlen(b64), kd, sizeof kd);
	if (n != 33 || kd[0] != 1)
		goto bad;
	memcpy(k->name, name, strlen(name) + 1);
	memcpy(k->seed, kd + 1, 32);
	key_finish(k);
	if (strtoul(idstr, NULL, 16) != k->id)
		goto bad;
	util_wipe(kd, sizeof kd);
	util_wipe(text, len);
	free(text);
	return k;
bad:
	util_errx("%s: not a valid signing key", path);
	util_wipe(kd, sizeof kd);
	util_wipe(text, len);
	free(text);
	key_free(k);
	return NULL;
}

void
key_free(struct key *k)
{
	if (k == NULL)
		return;
	util_wipe(k, sizeof *k);
	free(k);
}

const char *
key_name(const struct key *k)
{
	return k->name;
}

const char *
key_verifier(const struct key *k)
{
	return k->verifier;
}

uint32_t
key_id(const struct key *k)
{
	return k->id;
}

void
key_public(const struct key *k, uint8_t pub[32])
{
	memcpy(pub, k->pub, 32);
}

void
key_sign(const struct key *k, const uint8_t *msg, size_t len, uint8_t sig[64])
{
	ed25519_sha512_sign(k->pub, k->seed, len, msg, sig);
}

int
key_verify(const uint8_t pub[32], const uint8_t *msg, size_t len, const uint8_t sig[64])
{
	return ed25519_sha512_verify(pub, len, msg, sig) ? 1 : 0;
}

int
key_parse_verifier(const char *s, char *name, uint32_t *id, uint8_t pub[32])
{
	const char *p1, *p2;
	uint8_t kd[64];
	char idbuf[9];
	char *end;
	size_t nlen;
	long n;

	if ((p1 = strchr(s, '+')) == NULL || (p2 = strchr(p1 + 1, '+')) == NULL)
		return -1;
	nlen = (size_t)(p1 - s);
	if (nlen == 0 || nlen >= KEY_NAME_MAX || p2 - p1 - 1 != 8)
		return -1;
	memcpy(name, s, nlen);
	name[nlen] = '\0';
	if (!valid_name(name))
		return -1;
	memcpy(idbuf, p1 + 1, 8);
	idbuf[8] = '\0';
	*id = (uint32_t)strtoul(idbuf, &end, 16);
	if (*end != '\0')
		return -1;
	n = key_b64_decode(p2 + 1, strlen(p2 + 1), kd, sizeof kd);
	if (n != 33 || kd[0] != 1)
		return -1;
	memcpy(pub, kd + 1, 32);
	if (key_compute_id(name, pub) != *id)
		return -1;
	return 0;
}

/* ---- key history (rotation) ---- */

int
key_parse_verifier_list(const char *list, struct key_verifier *out, int max)
{
	const char *p = list;
	char line[KEY_VERIFIER_MAX];
	int n = 0;

	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len > 0) {
			if (len >= sizeof line || n >= max)
				return -1;
			memcpy(line, p, len);
			line[len] = '\0';
			if (key_parse_verifier(line, out[n].name, &out[n].id, out[n].pub) < 0)
				return -1;
			n++;
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
	return n > 0 ? n : -1;
}

/* Appends the first word of every non-blank line of text to list, newest
 * (last line) first.  Returns 0 or -1 (malformed, message on stderr). */
static int
append_retired(char **list, char *text, const char *path)
{
	char *lines[KEY_LIST_MAX];
	char *save = NULL, *l;
	int n = 0, rc = -1;

	for (l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		char name[KEY_NAME_MAX];
		uint8_t pub[32];
		uint32_t id;

		l[strcspn(l, " \r")] = '\0';
		if (*l == '\0')
			continue;
		if (n >= KEY_LIST_MAX - 1 || key_parse_verifier(l, name, &id, pub) < 0) {
			util_errx("%s: malformed or too many retired keys", path);
			return -1;
		}
		lines[n++] = l;
	}
	while (n > 0) {
		char *t = util_aprintf("%s\n%s", *list, lines[--n]);
		if (t == NULL)
			goto out;
		free(*list);
		*list = t;
	}
	rc = 0;
out:
	return rc;
}

char *
key_history(const char *datadir)
{
	char *pubpath = NULL, *retpath = NULL, *list = NULL, *text = NULL;
	char name[KEY_NAME_MAX];
	uint8_t pub[32];
	uint32_t id;
	size_t len = 0;

	if ((pubpath = util_aprintf("%s/checkpoint.key.pub", datadir)) == NULL ||
	    (retpath = util_aprintf("%s/" KEY_RETIRED, datadir)) == NULL)
		goto bad;
	if (util_read_file(pubpath, KEY_VERIFIER_MAX, &list, &len) < 0) {
		util_warn("%s", pubpath);
		goto bad;
	}
	while (len > 0 && (list[len - 1] == '\n' || list[len - 1] == '\r'))
		list[--len] = '\0';
	if (key_parse_verifier(list, name, &id, pub) < 0) {
		util_errx("%s: not a verifier key", pubpath);
		goto bad;
	}
	if (util_read_file(retpath, (size_t)KEY_LIST_MAX * 2 * KEY_VERIFIER_MAX, &text, &len) < 0) {
		if (errno != ENOENT) {
			util_warn("%s", retpath);
			goto bad;
		}
	} else if (append_retired(&list, text, retpath) < 0)
		goto bad;
	free(text);
	free(pubpath);
	free(retpath);
	return list;
bad:
	free(text);
	free(list);
	free(pubpath);
	free(retpath);
	return NULL;
}
