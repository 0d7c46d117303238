/*
 * cmd_serve.c - `dmvgate serve [--listen HOST:PORT] [--config FILE]
 * [--data DIR] [--policy FILE]`: loads the configuration (command-line
 * options override the file) and runs the gateway (server.c) until
 * SIGTERM.  `--check` only parses the configuration.  The databases must
 * be at this binary's schema versions; `--migrate` first applies pending
 * migrations (migrate.c).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "migrate.h"
#include "privdrop.h"
#include "server.h"
#include "util.h"

static const char usage[] =
	"usage: dmvgate serve [--listen HOST:PORT] [--config FILE] [--data DIR]\n"
	"                     [--policy FILE] [--threads N] [--migrate] [--check]\n"
	"                     [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]]\n"
	"                     [--user NAME]\n"
	"Serves the JSON API (docs/api.md).  SIGHUP reloads the policy (a broken\n"
	"file keeps the old one); SIGTERM drains, writes a final checkpoint, exits 0.\n"
	"The configuration file is described in docs/config.md.  --migrate first\n"
	"brings the databases to this binary's schema versions (dmvgate migrate).\n"
	"With a certificate and key it speaks HTTPS; --tls-client-ca asks clients\n"
	"for certificates (agency bind-cert).  As root it needs --user NAME and drops\n"
	"to that user after opening its port and files (docs/security.md).\n";

/* Refuses databases at another schema version than this binary's, unless
 * apply (--migrate) migrates older ones.  0 or -1. */
static int
check_schema(const char *data, int apply)
{
	struct migrate_status ms[MIGRATE_NDB];
	char p[PATH_MAX];
	int r;

	if ((size_t)snprintf(p, sizeof p, "%s/registry.db", data) >= sizeof p || access(p, F_OK) != 0)
		return 0;   /* not initialized: server_run says so */
	if (apply)
		return migrate_apply(data, 0, stderr);
	if ((r = migrate_check(data, ms)) > 0)
		util_errx("serve: the databases in %s are at an older schema version; run "
		    "dmvgate migrate (or serve --migrate)", data);
	return r == 0 ? 0 : -1;
}

int
cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "data", required_argument, NULL, 'd' },
		{ "policy", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "check", no_argument, NULL, 'k' },
		{ "migrate", no_argument, NULL, 'm' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "tls-client-ca", required_argument, NULL, 'A' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = NULL, *cfgpath = NULL, *data = NULL, *pol = NULL, *threads = NULL;
	const char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL, *user = NULL;
	char errs[4096], policy[CONFIG_PATH_MAX];
	struct config cfg;
	int c, check = 0, migrate = 0;
	int64_t n;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'c': cfgpath = optarg; break;
		case 'd': data = optarg; break;
		case 'p': pol = optarg; break;
		case 't': threads = optarg; break;
		case 'k': check = 1; break;
		case 'm': migrate = 1; break;
		case 'C': tls_cert = optarg; break;
		case 'K': tls_key = optarg; break;
		case 'A': tls_ca = optarg; break;
		case 'u': user = optarg; break;
		case 'h': cli_help(usage); return CLI_OK;
		default: return cli_usage_error(usage, "bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error(usage, "unexpected argument \"%s\"", argv[optind]);
	config_defaults(&cfg);
	if (cfgpath != NULL && config_load(&cfg, cfgpath, errs, sizeof errs) < 0) {
		fputs(errs, stderr);
		return CLI_FAIL;
	}
	if (listen != NULL && config_parse_listen(&cfg, listen, strlen(listen)) < 0)
		return cli_usage_error(usage, "invalid --listen \"%s\"", listen);
	if (threads != NULL) {
		if (util_parse_i64(threads, 0, 256, &n) < 0)
			return cli_usage_error(usage, "invalid --threads");
		cfg.threads = (unsigned)n;
	}
	if ((tls_cert != NULL && snprintf(cfg.tls_cert, sizeof cfg.tls_cert, "%s", tls_cert) < 0) ||
	    (tls_key != NULL && snprintf(cfg.tls_key, sizeof cfg.tls_key, "%s", tls_key) < 0) ||
	    (tls_ca != NULL && snprintf(cfg.tls_client_ca, sizeof cfg.tls_client_ca, "%s", tls_ca) < 0) ||
	    (user != NULL && snprintf(cfg.user, sizeof cfg.user, "%s", user) < 0))
		return CLI_FAIL;
	if ((cfg.tls_cert[0] == '\0') != (cfg.tls_key[0] == '\0'))
		return cli_usage_error(usage, "a TLS certificate needs its key, and a key its certificate");
	if (cfg.tls_client_ca[0] != '\0' && cfg.tls_cert[0] == '\0')
		return cli_usage_error(usage, "client certificates need TLS (--tls-cert and --tls-key)");
	if (data != NULL || cfg.data[0] == '\0')
		snprintf(cfg.data, sizeof cfg.data, "%s", cli_datadir(data));
	if (pol != NULL)
		snprintf(policy, sizeof policy, "%s", pol);
	else if (cfg.policy[0] != '\0')
		snprintf(policy, sizeof policy, "%s", cfg.policy);
	else if (config_default_policy(policy, sizeof policy) < 0) {
		util_errx("serve: no policy file found (set \"policy\" in the configuration)");
		return CLI_FAIL;
	}
	if (check) {
		printf("configuration OK: listen %s:%u, data %s, policy %s\n", cfg.listen_host,
		    cfg.listen_port, cfg.data, policy);
		return CLI_OK;
	}
	if (privdrop_precheck(cfg.user, cfg.data) < 0 || check_schema(cfg.data, migrate) < 0 ||
	    privdrop_check_files(cfg.data) < 0)
		return CLI_FAIL;
	return server_run(&cfg, cfg.data, policy) == 0 ? CLI_OK : CLI_FAIL;
}
