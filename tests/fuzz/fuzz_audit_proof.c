/*
 * libFuzzer target for the proof and checkpoint parsers: a tlog-proof file
 * handed to `audit check-proof` and a checkpoint note are untrusted input.
 * Parses the input as a proof (and checks it against a fixed key) and as a
 * bare checkpoint note.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The verifier the seed corpus was made with (any well-formed key works). */
static const char verifier[] =
    "fuzz.local/audit+b9914e0b+AaiuamdJJoItXoQyCM+bgwxAmrs/lMM8cyA5g86DSf5+";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct audit_proof p;
	static struct audit_checkpoint cp;
	static struct audit_record r;
	const char *why = NULL;

	if (audit_proof_parse((const char *)data, size, &p, &why) == 0)
		(void)audit_proof_check(&p, verifier, &r, &why);
	(void)audit_checkpoint_parse((const char *)data, size, verifier, &cp, &why);
	(void)audit_checkpoint_parse((const char *)data, size, NULL, &cp, &why);
	return 0;
}
