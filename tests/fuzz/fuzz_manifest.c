/*
 * fuzz_manifest.c - libFuzzer target for a backup's MANIFEST, which
 * `dmvgate restore` reads from a directory it did not write (untrusted):
 * the input is written as MANIFEST into a scratch directory that holds
 * nothing else, and backup_check parses it and checks the files it lists
 * (none exist, so every input is refused; what is exercised is the parser
 * and the path checks: no listed path may lead outside the backup).
 * The scratch directory is made once per process and removed at exit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char path[128];

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct backup_info info;
	FILE *f;

	if (dir[0] == '\0') {
		strcpy(dir, "/tmp/dmvgate-fuzz-manifest-XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(path, sizeof path, "%s/MANIFEST", dir);
		atexit(cleanup);
	}
	if ((f = fopen(path, "wb")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	if (backup_check(dir, NULL, &info) == 0)
		abort();   /* nothing but the manifest exists: never a valid backup */
	return 0;
}
