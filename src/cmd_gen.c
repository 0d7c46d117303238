/*
 * cmd_gen.c - `dmvgate gen`: parses options, runs the generator (gen.c)
 * and prints a one-line summary.  A progress bar is drawn on a terminal.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gen.h"
#include "util.h"

static const char gen_usage[] =
    "usage: dmvgate gen --drivers N [--vehicles M] [--seed S] --out DIR\n"
    "                   [--dpc-share F] [--threads T]\n"
    "\n"
    "Writes synthetic DIR/drivers.csv, DIR/history.csv and DIR/vehicles.csv\n"
    "(RFC 4180, UTF-8, header row of canonical field names), creating DIR.\n"
    "The same seed gives byte-identical files on any machine.\n"
    "\n"
    "  --drivers N     number of drivers, 1..100000000\n"
    "  --vehicles M    number of vehicles (default round(1.05 N))\n"
    "  --seed S        64-bit seed, decimal or 0x hex (default 1)\n"
    "  --out DIR       output directory\n"
    "  --dpc-share F   share of DRIVER_PRIVILEGE_CARD licenses, 0..1 (default 0.10)\n"
    "  --threads T     worker threads, 1..16 (default 2; output does not change)\n"
    "  -h, --help      this help\n";

/* Parses a share 0..1 with up to 6 decimals into parts per million. */
static int
parse_share(const char *s, uint32_t *ppm)
{
	uint64_t ip = 0, frac = 0, scale = 1000000;
	const char *p = s;

	if (*p == '\0')
		return -1;
	while (*p >= '0' && *p <= '9') {
		ip = ip * 10 + (uint64_t)(*p - '0');
		if (ip > 1)
			return -1;
		p++;
	}
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9') && p - 1 == s)
			return -1;
		while (*p >= '0' && *p <= '9') {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*p - '0') * scale;
			}
			p++;
		}
	} else if (p == s) {
		return -1;
	}
	if (*p != '\0' || ip * 1000000 + frac > 1000000)
		return -1;
	*ppm = (uint32_t)(ip * 1000000 + frac);
	return 0;
}

int
cmd_gen(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "drivers", required_argument, NULL, 'n' },
		{ "vehicles", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "dpc-share", required_argument, NULL, 'd' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct gen_opts o;
	struct gen_stats st;
	int64_t v;
	int have_n = 0, have_m = 0, c;
	uint64_t m = 0, t0;

	gen_opts_default(&o, 1);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (util_parse_i64(optarg, 1, GEN_MAX_DRIVERS, &v) != 0)
				return cli_usage_error(gen_usage, "gen: --drivers must be 1..%u",
				    GEN_MAX_DRIVERS);
			o.drivers = (uint64_t)v;
			have_n = 1;
			break;
		case 'm':
			if (util_parse_i64(optarg, 0, GEN_MAX_VEHICLES, &v) != 0)
				return cli_usage_error(gen_usage, "gen: --vehicles must be 0..%u",
				    GEN_MAX_VEHICLES);
			m = (uint64_t)v;
			have_m = 1;
			break;
		case 's': {
			char *end;

			errno = 0;
			if (optarg[0] < '0' || optarg[0] > '9')
				return cli_usage_error(gen_usage, "gen: bad --seed '%s'", optarg);
			/* decimal, or hex with 0x; a leading 0 is not octal */
			if (optarg[0] == '0' && (optarg[1] == 'x' || optarg[1] == 'X')) {
				if (!isxdigit((unsigned char)optarg[2]))
					return cli_usage_error(gen_usage, "gen: bad --seed '%s'",
					    optarg);
				o.seed = strtoull(optarg + 2, &end, 16);
			} else {
				o.seed = strtoull(optarg, &end, 10);
			}
			if (errno != 0 || *end != '\0')
				return cli_usage_error(gen_usage, "gen: bad --seed '%s'", optarg);
			break;
		}
		case 'o':
			if (*optarg == '\0')
				return cli_usage_error(gen_usage, "gen: empty --out");
			o.outdir = optarg;
			break;
		case 'd':
			if (parse_share(optarg, &o.dpc_ppm) != 0)
				return cli_usage_error(gen_usage,
				    "gen: --dpc-share must be a number from 0 to 1");
			break;
		case 't':
			if (util_parse_i64(optarg, 1, 16, &v) != 0)
				return cli_usage_error(gen_usage, "gen: --threads must be 1..16");
			o.threads = (unsigned)v;
			break;
		case 'h':
			cli_help(gen_usage);
			return CLI_OK;
		default:
			return cli_usage_error(gen_usage, "gen: unknown or incomplete option '%s'",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error(gen_usage, "gen: unexpected argument '%s'", argv[optind]);
	if (!have_n)
		return cli_usage_error(gen_usage, "gen: --drivers is required");
	if (o.outdir == NULL)
		return cli_usage_error(gen_usage, "gen: --out is required");
	o.vehicles = have_m ? m : gen_default_vehicles(o.drivers);
	if (o.vehicles > o.drivers * 10 + 1000)
		return cli_usage_error(gen_usage,
		    "gen: --vehicles may be at most 10 x drivers + 1000");
	o.progress = 1;

	t0 = util_mono_ns();
	if (gen_run(&o, &st) != 0)
		return CLI_FAIL;
	printf("gen: %llu drivers, %llu history events, %llu vehicles in %s "
	    "(%.1f MB, %.2f s, seed %llu)\n",
	    (unsigned long long)st.drivers, (unsigned long long)st.history,
	    (unsigned long long)st.vehicles, o.outdir, (double)st.bytes / 1e6,
	    (double)(util_mono_ns() - t0) / 1e9, (unsigned long long)o.seed);
	return CLI_OK;
}
