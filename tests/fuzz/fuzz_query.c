/*
 * fuzz_query.c - libFuzzer target for the /v1/query body mapping: any
 * bytes give a struct query or a 400 error with a known code and a
 * NUL-terminated message, never a crash; an accepted query maps to a
 * store lookup and a subject key; and the one-pass path agrees with the
 * Jansson reference (result, struct query, error code and message).
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

	struct query rq;
	struct query_error re;
	int rc = query_parse((const char *)data, size, &q, &e);

	/* the fast path and the Jansson reference agree on everything */
	if (query_parse_reference((const char *)data, size, &rq, &re) != rc ||
	    memcmp(&q, &rq, sizeof q) != 0 || e.code != re.code ||
	    strcmp(e.message, re.message) != 0)
		abort();
	if (rc == 0) {
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
