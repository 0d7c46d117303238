/*
 * fuzz_process_input.c - libFuzzer target for the small parsers of
 * operator and requester input around legal process and the registry:
 * process ids ("LP-7"), item lists, process kinds, dates, RFC 3339 times,
 * certificate fingerprints (agency bind-cert), ORIs and user ids.  The
 * first byte picks the parser; the rest is the NUL-terminated input.
 * Invariants: ids are >= 1 and re-format to a string that parses back to
 * the same id; a parsed date formats back to YYYY-MM-DD that parses to the
 * same day.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process.h"
#include "registry.h"
#include "server_tls.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, buf[64];
	field_mask mask = 0;
	int64_t id, us;
	int32_t day, day2;
	uint8_t fp[32];

	if (size < 1 || size > 4096 || (s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 7) {
	case 0:
		if ((id = process_id_parse(s)) != -1) {
			char f[PROCESS_ID_MAX];
			if (id < 1)
				abort();
			process_id_format(id, f);
			if (process_id_parse(f) != id)
				abort();
		}
		break;
	case 1:
		(void)process_items_parse(s, &mask);
		break;
	case 2:
		if (process_kind_parse(s) >= PROCESS_KIND_COUNT)
			abort();
		break;
	case 3:
		if (util_date_parse(s, strlen(s), &day) == 0) {
			util_date_format(day, buf);
			if (util_date_parse(buf, strlen(buf), &day2) != 0 || day2 != day)
				abort();
		}
		break;
	case 4:
		(void)util_time_parse(s, &us);
		break;
	case 5:
		(void)server_tls_fingerprint_parse(s, fp);
		break;
	default:
		(void)registry_ori_valid(s);
		(void)registry_userid_valid(s);
		break;
	}
	free(s);
	return 0;
}
