/*
 * testutil.h - what every cmocka unit test includes: cmocka's required
 * headers in the right order, plus small helpers (temporary directories,
 * the source tree root).
 */
#ifndef DMVGATE_TESTUTIL_H
#define DMVGATE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Creates a fresh temporary directory; returns a malloc'd path. */
static inline char *
test_tmpdir(void)
{
	char tmpl[] = "/tmp/dmvgate-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

/* Removes a directory tree made by test_tmpdir. */
static inline void
test_rmtree(char *dir)
{
	char cmd[512];

	if (dir == NULL)
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
	free(dir);
}

/* The source tree root (for test data files). */
static inline const char *
test_srcdir(void)
{
	const char *s = getenv("DMVGATE_SRCDIR");

	return s ? s : ".";
}

#endif
