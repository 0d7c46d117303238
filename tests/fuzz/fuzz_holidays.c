/*
 * fuzz_holidays.c - libFuzzer target for the holiday calendar parser
 * (DIR/holidays, used for the notices' business-day due dates): any bytes
 * give a calendar or NULL, never a crash or a leak, and a parsed calendar
 * answers lookups.  (Parse errors go to stderr: run with -close_fd_mask=2.)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "notice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct notice_calendar *c;

	c = notice_calendar_parse("fuzz.holidays", (const char *)data, size);
	if (c != NULL)
		notice_calendar_free(c);
	return 0;
}
