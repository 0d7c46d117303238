/*
 * fuzz_keys.c - libFuzzer target for the verifier-key parsers: a verifier
 * list is untrusted input (`audit verify --key FILE`, `audit check-proof
 * --key`, `restore --key`, GET /v1/checkpoint/keys saved by a third party).
 * Whatever parses must carry a key id that matches its name and key, and
 * base64 that decodes must re-encode and decode to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct key_verifier v[KEY_LIST_MAX];
	uint8_t out[512], again[512];
	char enc[1024];
	char *s;
	long n, m;
	int k;

	if (size > 8192 || (s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	k = key_parse_verifier_list(s, v, KEY_LIST_MAX);
	if (k == 0 || k > KEY_LIST_MAX)
		abort();
	for (int i = 0; i < k; i++)
		if (key_compute_id(v[i].name, v[i].pub) != v[i].id ||
		    strnlen(v[i].name, KEY_NAME_MAX) == KEY_NAME_MAX)
			abort();
	n = key_b64_decode(s, size, out, sizeof out);
	if (n >= 0) {
		if ((size_t)n > sizeof out)
			abort();
		key_b64_encode(out, (size_t)n, enc);
		m = key_b64_decode(enc, strlen(enc), again, sizeof again);
		if (m != n || memcmp(out, again, (size_t)n) != 0)
			abort();
	}
	free(s);
	return 0;
}
