/*
 * cmd_audit.c - `dmvgate audit`.  Placeholder until its module lands: it
 * refuses to run rather than pretend.
 */
#include "cli.h"
#include "util.h"

int
cmd_audit(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	util_errx("audit: not implemented yet");
	return CLI_FAIL;
}
