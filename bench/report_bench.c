/*
 * report_bench.c - transparency report generation time (bench/bench-report.sh).
 * Linked with build/rel/libdmvgate.a.
 *
 *   report_bench fill DIR N         a data directory (dmvgate init layout) whose
 *                                   audit log holds N varied entries spread over
 *                                   2026Q3 (categories, purposes, outcomes, rules,
 *                                   channels, legal process, auth failures, alerts)
 *   report_bench run DIR QUARTER POLICY
 *                                   times report_update (one streaming pass) and
 *                                   each renderer, a second (incremental) update,
 *                                   and prints the peak RSS
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "audit.h"
#include "datadir.h"
#include "notice.h"
#include "policy.h"
#include "process.h"
#include "registry.h"
#include "report.h"
#include "util.h"

static atomic_long done_count;

static void
fill_done(void *arg, uint64_t index, int status)
{
	(void)arg;
	(void)index;
	if (status == 0)
		atomic_fetch_add(&done_count, 1);
}

static const char *const cats[] = { "local_police", "state_police", "federal_criminal",
	"federal_immigration", "court", "insurer", "employer_cdl", "tow_operator", "dmv",
	"researcher" };
static const char *const purposes[] = { "criminal_investigation", "traffic_enforcement",
	"court_proceeding", "insurance_claim", "research_statistics", "civil_immigration_enforcement",
	"dmv_administration", "towed_vehicle_notice" };
static const char *const deny_rules[] = { "no-bulk", "immigration-needs-judicial-process",
	"hrpi-restricted-uses", "certification-expired" };

static int
cmd_fill(const char *dir, long n)
{
	char auditdir[4096], reason[64], subj[32], ori[16];
	struct audit_config cfg;
	struct audit_log *log;
	struct audit_entry e;
	struct util_progress pg;
	int64_t t0_us, span_us;
	uint64_t seed = 42, t0 = util_mono_ns();

	if (datadir_init(dir, "bench.local/audit", 1) < 0)
		return 1;
	snprintf(auditdir, sizeof auditdir, "%s/audit", dir);
	memset(&cfg, 0, sizeof cfg);
	cfg.checkpoint_every_entries = 100000;
	if ((log = audit_open(auditdir, &cfg, AUDIT_WRITE)) == NULL)
		return 1;
	if (util_time_parse("2026-07-01", &t0_us) < 0)
		return 1;
	span_us = 92LL * 86400 * 1000000;
	util_progress_init(&pg, "fill", (uint64_t)n);
	for (long i = 0; i < n; i++) {
		uint64_t r;
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		r = seed >> 20;
		memset(&e, 0, sizeof e);
		e.time_us = t0_us + (int64_t)((double)span_us * (double)i / (double)n);
		snprintf(ori, sizeof ori, "CA%04lu0000", (unsigned long)(r % 300));
		e.ori = ori;
		e.user = "officer";
		e.category = cats[r % UTIL_NELEM(cats)];
		e.channel = (r >> 8) % 10 ? "json" : "nlets";
		e.client_addr = "10.1.2.3";
		if ((r >> 12) % 100 == 0) {
			e.kind = AUDIT_AUTH_FAILURE;
			e.decision = AUDIT_DENY;
			e.status = 401;
			e.detail = "bad_secret";
		} else if ((r >> 12) % 1000 == 1) {
			e.kind = AUDIT_ALERT;
			e.detail = "user suspended: limit \"sweep\": 200 subjects per 3600 s per user";
		} else {
			unsigned o = (unsigned)((r >> 16) % 100);
			e.kind = AUDIT_QUERY;
			e.query_type = "driver";
			e.by = "license";
			e.purpose = purposes[(r >> 24) % UTIL_NELEM(purposes)];
			snprintf(reason, sizeof reason, "case 26-%06ld", i);
			e.reason = reason;
			snprintf(subj, sizeof subj, "license:D%07ld", (long)((r >> 28) % 10000000));
			e.subjects[0] = subj;
			e.nsubjects = 1;
			if ((r >> 30) % 50 == 0)
				e.legal_process = (r >> 36) % 2 ? "LP-1" : "LP-7";
			if (o < 80) {
				e.decision = AUDIT_PERMIT;
				e.status = 200;
				e.rules[0] = "law-enforcement";
				e.nrules = 1;
				e.items = FIELD_BIT(FIELD_LAST_NAME) | FIELD_BIT(FIELD_STREET);
			} else if (o < 95) {
				e.decision = AUDIT_DENY;
				e.status = 403;
				e.rules[0] = deny_rules[(r >> 40) % UTIL_NELEM(deny_rules)];
				e.nrules = 1;
				e.detail = "forbidden by rule";
			} else if (o < 98) {
				e.decision = AUDIT_DENY;
				e.status = 429;
				e.detail = "limit \"sweep\": 200 subjects per 3600 s per user (then suspend)";
			} else {
				e.decision = AUDIT_DENY;
				e.status = 400;
				e.purpose = "";
				e.detail = "missing_field: \"reason\" is required";
			}
			e.has_response = 1;
		}
		if (audit_append(log, &e, fill_done, NULL, NULL) < 0) {
			fprintf(stderr, "append failed: %s\n", strerror(errno));
			return 1;
		}
		if ((i & 0xfff) == 0)
			util_progress_update(&pg, (uint64_t)i);
	}
	audit_close(log);
	util_progress_done(&pg);
	printf("filled %ld entries in %.2f s\n", (long)atomic_load(&done_count),
	    (double)(util_mono_ns() - t0) / 1e9);
	return atomic_load(&done_count) == n ? 0 : 1;
}

static double
secs_since(uint64_t t0)
{
	return (double)(util_mono_ns() - t0) / 1e9;
}

static int
cmd_run(const char *dir, const char *quarter, const char *policy_path)
{
	char auditdir[4096], regpath[4096];
	struct report_period p;
	struct report_sources src;
	struct policy_errors errs;
	struct policy *pol;
	struct audit_log *log;
	struct registry *reg;
	struct process_db *proc;
	struct notice_db *nd;
	struct report *r;
	struct rusage ru;
	static const char *const names[] = { "json", "csv", "html" };
	uint64_t t0, entries = 0, size;
	double upd;

	policy_errors_init(&errs);
	if (report_period_quarter(quarter, &p) < 0 || (pol = policy_load(policy_path, &errs)) == NULL)
		return 1;
	snprintf(auditdir, sizeof auditdir, "%s/audit", dir);
	snprintf(regpath, sizeof regpath, "%s/registry.db", dir);
	if ((log = audit_open(auditdir, NULL, AUDIT_RDONLY)) == NULL ||
	    (reg = registry_open(regpath)) == NULL || (proc = process_open(regpath)) == NULL ||
	    (nd = notice_open(dir)) == NULL)
		return 1;
	size = audit_size(log);
	if ((r = report_new(&p, REPORT_K_DEFAULT, 0)) == NULL)
		return 1;
	memset(&src, 0, sizeof src);
	src.log = log;
	src.pol = pol;
	src.reg = reg;
	src.proc = proc;
	src.notices = nd;
	t0 = util_mono_ns();
	if (report_update(r, &src) < 0)
		return 1;
	upd = secs_since(t0);
	(void)report_get(r, "summary", "audit entries in the period", "count", &entries);
	printf("report %s over a log of %llu entries (%llu in the period): computation %.3f s = "
	    "%.2fM entries/s\n", quarter, (unsigned long long)size, (unsigned long long)entries, upd,
	    upd > 0 ? (double)entries / upd / 1e6 : 0.0);
	for (int f = 0; f < 3; f++) {
		char *buf = NULL;
		size_t len = 0;
		t0 = util_mono_ns();
		if (report_render_mem(r, (enum report_format)f, 0, &buf, &len) < 0)
			return 1;
		printf("  render %-4s: %8.3f ms, %zu bytes\n", names[f], secs_since(t0) * 1e3, len);
		free(buf);
	}
	t0 = util_mono_ns();
	if (report_update(r, &src) < 0)
		return 1;
	printf("  second update (nothing new: snapshots only): %.3f ms\n", secs_since(t0) * 1e3);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		printf("  peak RSS %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
	report_free(r);
	notice_close(nd);
	process_close(proc);
	registry_close(reg);
	audit_close(log);
	policy_free(pol);
	policy_errors_free(&errs);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "fill") == 0)
		return cmd_fill(argv[2], atol(argv[3]));
	if (argc == 5 && strcmp(argv[1], "run") == 0)
		return cmd_run(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: report_bench fill DIR N | run DIR QUARTER POLICY\n");
	return 2;
}
