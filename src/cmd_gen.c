/*
 * cmd_gen.c - `dmvgate gen`.  Placeholder until its module lands: it
 * refuses to run rather than pretend.
 */
#include "cli.h"
#include "util.h"

int
cmd_gen(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	util_errx("gen: not implemented yet");
	return CLI_FAIL;
}
