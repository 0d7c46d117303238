/*
 * fuzz_query.c - libFuzzer target for the /v1/query body mapping: any
 * bytes give a struct query or a 400 error with a known code and a
 * NUL-terminated message, never a crash; an accepted query maps to a
 * store lookup and a subject key.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct query q;
	struct query_error e;
	struct store_query sq;
	char subject[256];

	if (query_parse((const char *)data, size, &q, &e) == 0) {
		query_to_store(&q, &sq);
		query_subject(&q, subject, sizeof subject);
		if (q.reason[0] == '\0' || q.purpose[0] == '\0')
			abort();      /* required members let through */
	} else {
		if (e.code == QUERY_OK || strlen(e.message) >= sizeof e.message)
			abort();
		(void)query_err_name(e.code);
	}
	return 0;
}
