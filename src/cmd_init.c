/* cmd_init.c - placeholder replaced below */
#include "cli.h"
#include "util.h"
int cmd_init(int argc, char **argv) { (void)argc; (void)argv; return CLI_FAIL; }
int cmd_import(int argc, char **argv) { (void)argc; (void)argv; return CLI_FAIL; }
int cmd_lookup(int argc, char **argv) { (void)argc; (void)argv; return CLI_FAIL; }
