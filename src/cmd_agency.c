/*
 * cmd_agency.c - `dmvgate agency add|list|show|suspend|resume|certify|
 * bind-cert|unbind-cert`:
 * the registry of requesting agencies (ORI, category, certification).
 * Each change is audited: written to the audit log at once, or queued for
 * the running server, which writes it within a second.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "policy.h"
#include "registry.h"
#include "server_tls.h"
#include "util.h"

static const char usage[] =
	"usage: dmvgate agency add ORI --name NAME --category CAT --certified-until YYYY-MM-DD\n"
	"       dmvgate agency list\n"
	"       dmvgate agency show ORI\n"
	"       dmvgate agency suspend ORI | resume ORI\n"
	"       dmvgate agency certify ORI --until YYYY-MM-DD\n"
	"       dmvgate agency bind-cert ORI --fingerprint SHA256 | --cert PEM\n"
	"       dmvgate agency unbind-cert ORI --fingerprint SHA256 | --cert PEM\n"
	"options: --data DIR (data directory), --policy FILE (categories are checked\n"
	"against it; default: the server's default policy)\n"
	"ORI: 9 characters A-Z 0-9, the first two a US state or territory code.\n"
	"The certification is the agency's signed statement that it will not use or\n"
	"pass on the data for civil immigration enforcement; once expired, the agency\n"
	"has no access at all.\n"
	"bind-cert: the agency's tokens then work only over TLS connections presenting\n"
	"that client certificate (SHA-256 of its DER form; docs/security.md).\n";

/* Checks a category against the policy (or the default list). */
static int
category_ok(const char *cat, const char *policy_opt)
{
	char path[CONFIG_PATH_MAX];
	struct policy_errors errs;
	struct policy *p;
	int ok = 0;

	if (policy_opt != NULL)
		snprintf(path, sizeof path, "%s", policy_opt);
	else if (config_default_policy(path, sizeof path) < 0)
		path[0] = '\0';
	if (path[0] != '\0') {
		policy_errors_init(&errs);
		p = policy_load(path, &errs);
		if (p != NULL) {
			ok = policy_category_id(p, cat) >= 0;
			if (!ok)
				util_errx("agency: category \"%s\" is not declared by %s", cat, path);
			policy_free(p);
			policy_errors_free(&errs);
			return ok;
		}
		if (policy_opt != NULL) {
			util_errx("agency: cannot load %s:\n%s", path, errs.text ? errs.text : "");
			policy_errors_free(&errs);
			return 0;
		}
		policy_errors_free(&errs);
	}
	for (int i = 0; registry_default_categories[i] != NULL; i++)
		if (strcmp(cat, registry_default_categories[i]) == 0)
			return 1;
	util_errx("agency: unknown category \"%s\"", cat);
	return 0;
}

static int
print_agency(void *arg, const struct registry_agency *a)
{
	char date[11];
	int32_t today = util_today();

	(void)arg;
	util_date_format(a->certified_until, date);
	printf("%-9s  %-20s  %s  %-9s  %s\n", a->ori, a->category, date,
	    a->suspended ? "suspended" : a->certified_until < today ? "expired" : "active", a->name);
	return 0;
}

static int
print_user(void *arg, const struct registry_user *u)
{
	(void)arg;
	printf("  user %-24s  id %s  %s\n", u->userid, u->pubid,
	    u->revoked ? "revoked" : u->locked ? "locked" : "active");
	return 0;
}

int
cmd_agency(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "category", required_argument, NULL, 'c' },
		{ "certified-until", required_argument, NULL, 'u' },
		{ "until", required_argument, NULL, 'u' },
		{ "policy", required_argument, NULL, 'p' },
		{ "fingerprint", required_argument, NULL, 'f' },
		{ "cert", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *name = NULL, *cat = NULL, *until = NULL, *pol = NULL;
	const char *sub, *ori = NULL, *fpr = NULL, *certfile = NULL;
	uint8_t fp[32];
	char path[CONFIG_PATH_MAX];
	struct registry *r = NULL;
	struct registry_agency a;
	int32_t days = 0;
	int c, rc = CLI_FAIL, x;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'n': name = optarg; break;
		case 'c': cat = optarg; break;
		case 'u': until = optarg; break;
		case 'p': pol = optarg; break;
		case 'f': fpr = optarg; break;
		case 'C': certfile = optarg; break;
		case 'h': cli_help(usage); return CLI_OK;
		default: return cli_usage_error(usage, "bad option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(usage, "missing subcommand");
	sub = argv[optind++];
	if (strcmp(sub, "list") != 0) {
		if (optind >= argc)
			return cli_usage_error(usage, "missing ORI");
		ori = argv[optind++];
		if (!registry_ori_valid(ori))
			return cli_usage_error(usage, "invalid ORI \"%s\"", ori);
	}
	if (optind < argc)
		return cli_usage_error(usage, "unexpected argument \"%s\"", argv[optind]);
	if (until != NULL && util_date_parse(until, strlen(until), &days) < 0)
		return cli_usage_error(usage, "invalid date \"%s\" (YYYY-MM-DD)", until);
	snprintf(path, sizeof path, "%s/registry.db", cli_datadir(data));
	if (strcmp(sub, "add") == 0) {
		if (name == NULL || cat == NULL || until == NULL)
			return cli_usage_error(usage, "add needs --name, --category and --certified-until");
		if (strlen(name) == 0 || strlen(name) > REGISTRY_NAME_MAX ||
		    util_utf8_valid(name, strlen(name)) != 0)
			return cli_usage_error(usage, "the name must be 1 to %d bytes of UTF-8", REGISTRY_NAME_MAX);
		if (strlen(cat) > REGISTRY_CATEGORY_MAX || !category_ok(cat, pol))
			return CLI_FAIL;
	} else if (strcmp(sub, "certify") == 0) {
		if (until == NULL)
			return cli_usage_error(usage, "certify needs --until YYYY-MM-DD");
	} else if (strcmp(sub, "bind-cert") == 0 || strcmp(sub, "unbind-cert") == 0) {
		if ((fpr == NULL) == (certfile == NULL))
			return cli_usage_error(usage, "%s needs --fingerprint SHA256 or --cert PEM", sub);
		if (fpr != NULL && server_tls_fingerprint_parse(fpr, fp) < 0)
			return cli_usage_error(usage, "invalid --fingerprint (64 hex digits, ':' allowed)");
		if (certfile != NULL && server_tls_file_fingerprint(certfile, fp) < 0)
			return CLI_FAIL;
	} else if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 &&
	    strcmp(sub, "suspend") != 0 && strcmp(sub, "resume") != 0)
		return cli_usage_error(usage, "unknown subcommand \"%s\"", sub);

	if ((r = registry_open(path)) == NULL)
		return CLI_FAIL;
	if (strcmp(sub, "add") == 0) {
		memset(&a, 0, sizeof a);
		snprintf(a.ori, sizeof a.ori, "%s", ori);
		snprintf(a.name, sizeof a.name, "%s", name);
		snprintf(a.category, sizeof a.category, "%s", cat);
		a.certified_until = days;
		x = registry_agency_add(r, &a);
		if (x == REGISTRY_EXISTS)
			util_errx("agency: %s is already registered", ori);
		if (x != 0)
			goto out;
		printf("agency %s added (%s, certified until %s)\n", ori, cat, until);
	} else if (strcmp(sub, "list") == 0) {
		if (registry_agency_list(r, print_agency, NULL) < 0)
			goto out;
		rc = CLI_OK;
		goto out;
	} else if (strcmp(sub, "show") == 0) {
		x = registry_agency_get(r, ori, &a);
		if (x == REGISTRY_NOTFOUND)
			util_errx("agency: no agency %s", ori);
		if (x != 0)
			goto out;
		print_agency(NULL, &a);
		{
			uint8_t certs[16][32];
			int nc = registry_agency_certs(r, ori, certs, 16);
			if (nc < 0)
				goto out;
			for (int i = 0; i < nc && i < 16; i++) {
				char hex[65];
				util_hex(certs[i], 32, hex);
				printf("  client certificate sha256:%s\n", hex);
			}
		}
		if (registry_user_list(r, ori, print_user, NULL) < 0)
			goto out;
		rc = CLI_OK;
		goto out;
	} else if (strcmp(sub, "bind-cert") == 0 || strcmp(sub, "unbind-cert") == 0) {
		char hex[65];
		int rm = strcmp(sub, "unbind-cert") == 0;
		x = registry_agency_bind_cert(r, ori, fp, rm);
		util_hex(fp, 32, hex);
		if (x == REGISTRY_NOTFOUND)
			util_errx(rm ? "agency: %s has no such certificate" : "agency: no agency %s", ori);
		else if (x == REGISTRY_EXISTS)
			util_errx("agency: %s is already bound to %s", ori, hex);
		if (x != 0)
			goto out;
		printf("agency %s: %s certificate sha256:%s\n", ori, rm ? "unbound" : "bound to", hex);
	} else {
		if (strcmp(sub, "certify") == 0)
			x = registry_agency_certify(r, ori, days);
		else
			x = registry_agency_set_suspended(r, ori, strcmp(sub, "suspend") == 0);
		if (x == REGISTRY_NOTFOUND)
			util_errx("agency: no agency %s", ori);
		if (x != 0)
			goto out;
		printf("agency %s: %s done\n", ori, sub);
	}
	registry_cli_audit(r, cli_datadir(data));
	rc = CLI_OK;
out:
	registry_close(r);
	return rc;
}
