/*
 * cmd_policy.c - `dmvgate policy`.  Placeholder until its module lands: it
 * refuses to run rather than pretend.
 */
#include "cli.h"
#include "util.h"

int
cmd_policy(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	util_errx("policy: not implemented yet");
	return CLI_FAIL;
}
