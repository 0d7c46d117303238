/*
 * libFuzzer target for the audit entry decoder (audit_entry_decode): the
 * audit file is untrusted input.  Besides "no crash, no UB", it checks the
 * encoding is canonical: whatever decodes must re-encode to the very same
 * bytes, and the JSON printer must accept every decoded entry.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct audit_record r;
	static uint8_t out[AUDIT_ENTRY_MAX];
	const char *why = NULL;
	long n;

	if (audit_entry_decode(data, size, &r, &why) != 0)
		return 0;
	n = audit_entry_encode(&r.e, r.e.index, "", out, sizeof out, &why);
	if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0)
		abort(); /* decoded but not canonical */
	{
		FILE *f = fopen("/dev/null", "w");

		if (f != NULL) {
			(void)audit_record_json(f, &r);
			fclose(f);
		}
	}
	return 0;
}
