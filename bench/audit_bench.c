/*
 * audit_bench.c - measures the audit log (`make bench-audit`, run by
 * bench/bench-audit.sh).  Linked with build/rel/libdmvgate.a.
 *
 *   audit_bench init DIR                 key + empty audit directory
 *   audit_bench append DIR THREADS SECS  durable appends, THREADS closed-loop appenders
 *   audit_bench fill DIR N               N entries as fast as possible (async appends)
 *   audit_bench verify DIR               audit_verify throughput
 *   audit_bench prove DIR K              inclusion-proof generation time
 *
 * Entries are realistic query decisions (~300 bytes encoded).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "key.h"
#include "util.h"

static void
make_entry(struct audit_entry *e, long i, char *reason, size_t rsz, char *subj, size_t ssz)
{
	memset(e, 0, sizeof *e);
	e->kind = AUDIT_QUERY;
	e->ori = "CA0340000";
	e->user = "jrivera";
	e->category = "local_police";
	e->channel = "json";
	e->query_type = "driver";
	e->by = "license";
	snprintf(subj, ssz, "license:D%07ld", i % 10000000);
	e->subjects[0] = subj;
	e->nsubjects = 1;
	e->purpose = "criminal_investigation";
	snprintf(reason, rsz, "case 26-%06ld traffic stop", i);
	e->reason = reason;
	e->decision = AUDIT_PERMIT;
	e->status = 200;
	e->rules[0] = "police";
	e->nrules = 1;
	e->items = FIELD_BIT(FIELD_LICENSE_NUMBER) | FIELD_BIT(FIELD_LAST_NAME) |
	    FIELD_BIT(FIELD_FIRST_NAME) | FIELD_BIT(FIELD_DOB) | FIELD_BIT(FIELD_STREET);
	e->has_response = 1;
	memset(e->response_sha256, (int)(i & 0xff), sizeof e->response_sha256);
	e->client_addr = "10.20.30.40";
}

static char *
auditdir(const char *d)
{
	return util_aprintf("%s/audit", d);
}

static int
cmd_init(const char *d)
{
	char *k = util_aprintf("%s/checkpoint.key", d), *a = auditdir(d);

	if (k == NULL || a == NULL || util_mkdirs(a, 0700) < 0 ||
	    key_generate(k, "bench.local/audit", 1) < 0)
		return 1;
	free(k);
	free(a);
	return 0;
}

struct appender {
	struct audit_log *log;
	volatile int *stop;
	long n;
	int id;
	double lat_sum_us;
};

static void *
appender_main(void *arg)
{
	struct appender *a = arg;
	struct audit_entry e;
	char reason[64], subj[32];

	while (!*a->stop) {
		uint64_t t0 = util_mono_ns();

		make_entry(&e, a->id * 1000000L + a->n, reason, sizeof reason, subj, sizeof subj);
		if (audit_append_wait(a->log, &e, NULL) < 0) {
			fprintf(stderr, "append failed\n");
			break;
		}
		a->lat_sum_us += (double)(util_mono_ns() - t0) / 1e3;
		a->n++;
	}
	return NULL;
}

static int
cmd_append(const char *d, int threads, double secs)
{
	char *a = auditdir(d);
	struct audit_log *log = audit_open(a, NULL, AUDIT_WRITE);
	struct appender *ap = calloc((size_t)threads, sizeof *ap);
	pthread_t *th = calloc((size_t)threads, sizeof *th);
	struct audit_stats s0, s1;
	volatile int stop = 0;
	uint64_t t0, t1;
	long total = 0;
	double lat = 0;

	if (log == NULL || ap == NULL || th == NULL)
		return 1;
	audit_get_stats(log, &s0);
	t0 = util_mono_ns();
	for (int i = 0; i < threads; i++) {
		ap[i] = (struct appender){ log, &stop, 0, i, 0 };
		pthread_create(&th[i], NULL, appender_main, &ap[i]);
	}
	usleep((useconds_t)(secs * 1e6));
	stop = 1;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += ap[i].n;
		lat += ap[i].lat_sum_us;
	}
	t1 = util_mono_ns();
	audit_get_stats(log, &s1);
	{
		double el = (double)(t1 - t0) / 1e9;
		uint64_t batches = s1.batches - s0.batches, syncs = s1.syncs - s0.syncs;

		printf("appenders %3d: %8.0f durable appends/s, mean batch %6.1f, %6.0f fdatasyncs/s, "
		    "mean latency %6.0f us, max batch %llu, checkpoints %llu\n", threads, (double)total / el,
		    batches ? (double)(s1.appended - s0.appended) / (double)batches : 0.0,
		    (double)syncs / el, total ? lat / (double)total : 0.0,
		    (unsigned long long)s1.max_batch, (unsigned long long)(s1.checkpoints - s0.checkpoints));
	}
	audit_close(log);
	free(a);
	free(ap);
	free(th);
	return 0;
}

static atomic_long done_count;

static void
fill_done(void *arg, uint64_t index, int status)
{
	(void)arg;
	(void)index;
	if (status == 0)
		atomic_fetch_add(&done_count, 1);
}

static int
cmd_fill(const char *d, long n)
{
	char *a = auditdir(d);
	struct audit_config cfg;
	struct audit_log *log;
	struct audit_entry e;
	char reason[64], subj[32];
	uint64_t t0;
	struct util_progress pg;

	memset(&cfg, 0, sizeof cfg);
	cfg.checkpoint_every_entries = 100000;
	if ((log = audit_open(a, &cfg, AUDIT_WRITE)) == NULL)
		return 1;
	util_progress_init(&pg, "fill", (uint64_t)n);
	t0 = util_mono_ns();
	for (long i = 0; i < n; i++) {
		make_entry(&e, i, reason, sizeof reason, subj, sizeof subj);
		e.time_us = 1764166097000000LL + i * 1000;
		if (audit_append(log, &e, fill_done, NULL, NULL) < 0) {
			fprintf(stderr, "append failed: %s\n", strerror(errno));
			return 1;
		}
		if ((i & 0xfff) == 0)
			util_progress_update(&pg, (uint64_t)i);
	}
	audit_close(log);
	util_progress_done(&pg);
	printf("filled %ld entries in %.2f s (async appends: %.0f/s)\n", (long)atomic_load(&done_count),
	    (double)(util_mono_ns() - t0) / 1e9, (double)n / ((double)(util_mono_ns() - t0) / 1e9));
	free(a);
	return atomic_load(&done_count) == n ? 0 : 1;
}

static int
cmd_verify(const char *d)
{
	char *a = auditdir(d);
	struct audit_verify_result res;
	uint64_t t0 = util_mono_ns();
	double el;

	if (audit_verify(a, NULL, 0, &res) < 0) {
		fprintf(stderr, "verify failed: %s\n", res.error);
		return 1;
	}
	el = (double)(util_mono_ns() - t0) / 1e9;
	printf("audit_verify: %llu entries, %llu checkpoints in %.3f s = %.2fM entries/s\n",
	    (unsigned long long)res.entries, (unsigned long long)res.checkpoints, el,
	    (double)res.entries / el / 1e6);
	free(a);
	return 0;
}

static int
cmd_prove(const char *d, long k)
{
	char *a = auditdir(d);
	struct audit_log *log = audit_open(a, NULL, AUDIT_RDONLY);
	struct audit_checkpoint cp;
	uint8_t proof[AUDIT_PROOF_MAX_HASHES][AUDIT_HASH_SIZE];
	size_t n;
	uint64_t t0, seed = 12345;
	double raw, full;

	if (log == NULL || audit_latest_checkpoint(log, &cp) < 0)
		return 1;
	t0 = util_mono_ns();
	for (long i = 0; i < k; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		if (audit_inclusion_proof(log, (seed >> 11) % cp.size, cp.size, proof, &n) < 0)
			return 1;
	}
	raw = (double)(util_mono_ns() - t0) / 1e3 / (double)k;
	t0 = util_mono_ns();
	for (long i = 0; i < k; i++) {
		char *p;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		if ((p = audit_prove(log, (seed >> 11) % cp.size)) == NULL)
			return 1;
		free(p);
	}
	full = (double)(util_mono_ns() - t0) / 1e3 / (double)k;
	printf("inclusion proof in a tree of %llu: %.1f us (hashes only, %zu hashes), %.1f us "
	    "(full tlog-proof text with entry and checkpoint)\n", (unsigned long long)cp.size, raw, n,
	    full);
	audit_close(log);
	free(a);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "init") == 0)
		return cmd_init(argv[2]);
	if (argc >= 5 && strcmp(argv[1], "append") == 0)
		return cmd_append(argv[2], atoi(argv[3]), atof(argv[4]));
	if (argc >= 4 && strcmp(argv[1], "fill") == 0)
		return cmd_fill(argv[2], atol(argv[3]));
	if (argc >= 3 && strcmp(argv[1], "verify") == 0)
		return cmd_verify(argv[2]);
	if (argc >= 4 && strcmp(argv[1], "prove") == 0)
		return cmd_prove(argv[2], atol(argv[3]));
	fprintf(stderr, "usage: audit_bench init|append|fill|verify|prove ...\n");
	return 2;
}
