/*
 * fuzz_csv.c - libFuzzer target for the CSV reader and the row validators:
 * any bytes must parse into records or clean errors, never a crash.
 */
#include <stddef.h>
#include <stdint.h>

#include "csv.h"
#include "norm.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csv *c = csv_open_mem("fuzz.csv", (const char *)data, size);
	const struct csv_field *f;
	size_t n;
	char err[160], key[NORM_KEY_MAX];
	int r, rows = 0;

	if (c == NULL)
		return 0;
	while ((r = csv_next(c, &f, &n)) != 0 && rows++ < 10000) {
		if (r < 0)
			continue;
		(void)record_check_driver(f, n, err, sizeof err);
		(void)record_check_history(f, n, err, sizeof err);
		(void)record_check_vehicle(f, n, err, sizeof err);
		if (n >= 2) {
			(void)norm_name_key(f[0].p, f[0].len, f[1].p, f[1].len, key, sizeof key);
			if (n >= 3)
				(void)norm_address_key(f[0].p, f[0].len, f[1].p, f[1].len, f[2].p,
				    f[2].len, key, sizeof key);
		}
	}
	csv_close(c);
	return 0;
}
