/*
 * cli.c - helpers shared by the cmd_*.c files: the data directory's
 * resolution and usage messages.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "util.h"

const char *
cli_datadir(const char *opt)
{
	const char *env;

	if (opt != NULL && *opt != '\0')
		return opt;
	env = getenv("DMVGATE_DATA");
	if (env != NULL && *env != '\0')
		return env;
	return "./var";
}

void
cli_help(const char *usage)
{
	fputs(usage, stdout);
}

int
cli_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", util_progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage, stderr);
	return CLI_USAGE;
}
