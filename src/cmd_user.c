/*
 * cmd_user.c - `dmvgate user add|list|revoke|unlock`: users of registered
 * agencies and their API tokens.  `user add` prints the new token as the
 * last line of stdout, once; only its SHA-256 is stored.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "registry.h"
#include "util.h"

static const char usage[] =
	"usage: dmvgate user add --agency ORI USERID   (prints the token once, last line)\n"
	"       dmvgate user list [--agency ORI]\n"
	"       dmvgate user revoke USERID\n"
	"       dmvgate user unlock USERID   (after the CJIS lockout: 5 failures in 15 min)\n"
	"options: --data DIR\n"
	"USERID: 1-64 of A-Z a-z 0-9 . _ @ -; never reused, even after revocation.\n";


static int
print_user(void *arg, const struct registry_user *u)
{
	char t[32];

	(void)arg;
	util_time_format(u->created_us, t);
	printf("%-24s  %-9s  %s  %-7s  created %.10s\n", u->userid, u->ori, u->pubid,
	    u->revoked ? "revoked" : u->locked ? "locked" : "active", t);
	return 0;
}

int
cmd_user(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "agency", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *ori = NULL, *sub, *uid = NULL;
	char path[1024], token[REGISTRY_TOKEN_MAX];
	struct registry *r = NULL;
	int c, rc = CLI_FAIL, x;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'a': ori = optarg; break;
		case 'h': cli_help(usage); return CLI_OK;
		default: return cli_usage_error(usage, "bad option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(usage, "missing subcommand");
	sub = argv[optind++];
	if (strcmp(sub, "list") != 0) {
		if (optind >= argc)
			return cli_usage_error(usage, "missing USERID");
		uid = argv[optind++];
		if (!registry_userid_valid(uid))
			return cli_usage_error(usage, "invalid USERID");
	}
	if (optind < argc)
		return cli_usage_error(usage, "unexpected argument \"%s\"", argv[optind]);
	if (ori != NULL && !registry_ori_valid(ori))
		return cli_usage_error(usage, "invalid ORI \"%s\"", ori);
	if (strcmp(sub, "add") == 0 && ori == NULL)
		return cli_usage_error(usage, "add needs --agency ORI");
	if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 &&
	    strcmp(sub, "revoke") != 0 && strcmp(sub, "unlock") != 0)
		return cli_usage_error(usage, "unknown subcommand \"%s\"", sub);
	snprintf(path, sizeof path, "%s/registry.db", cli_datadir(data));
	if ((r = registry_open(path)) == NULL)
		return CLI_FAIL;
	if (strcmp(sub, "list") == 0) {
		rc = registry_user_list(r, ori, print_user, NULL) < 0 ? CLI_FAIL : CLI_OK;
		goto out;
	}
	if (strcmp(sub, "add") == 0) {
		x = registry_user_add(r, ori, uid, token);
		if (x == REGISTRY_EXISTS)
			util_errx("user: the id %s is taken (ids are never reused)", uid);
		else if (x == REGISTRY_NOTFOUND)
			util_errx("user: no agency %s", ori);
		if (x != 0)
			goto out;
		registry_cli_audit(r, cli_datadir(data));
		printf("user %s of %s added; its token, shown only this once:\n%s\n", uid, ori, token);
		fflush(stdout);
		util_wipe(token, sizeof token);
		rc = CLI_OK;
		goto out;
	}
	x = strcmp(sub, "revoke") == 0 ? registry_user_revoke(r, uid) : registry_user_unlock(r, uid);
	if (x == REGISTRY_NOTFOUND)
		util_errx("user: no user %s", uid);
	if (x != 0)
		goto out;
	printf("user %s: %s done\n", uid, sub);
	registry_cli_audit(r, cli_datadir(data));
	rc = CLI_OK;
out:
	registry_close(r);
	return rc;
}
