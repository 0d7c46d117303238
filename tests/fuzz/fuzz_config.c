/*
 * fuzz_config.c - libFuzzer target for the server's configuration parser:
 * any bytes parse or give FILE:LINE:COL errors, never a crash, and the
 * error text is always NUL-terminated within its buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char err[256];

	config_defaults(&c);
	if (config_parse(&c, "fuzz.conf", (const char *)data, size, err, sizeof err) == 0) {
		if (err[0] != '\0' || c.listen_port == 0)
			abort();
	} else if (strnlen(err, sizeof err) == sizeof err || strncmp(err, "fuzz.conf:", 10) != 0) {
		abort();
	}
	return 0;
}
