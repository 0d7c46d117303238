/*
 * limits_bench.c - the limiter's cost per request (bench/bench-limits.sh).
 *
 * Loads a policy (default: policy/default.policy, whose limits are sweep
 * 200 subjects/1h per user, household 3 people at one address/24h per
 * agency, rate 1000 queries/1h per user, fishing 50 misses/1h per user),
 * makes USERS users of USERS/200 agencies active (5 permitted queries
 * each: distinct subjects, 1 person found at a random address out of a
 * million, 1 in 10 a miss), then times REQUESTS more requests of random
 * users (server_limits_before + server_limits_after, what the server calls
 * for one permitted query) on 1 and 2 threads, on a synthetic clock that
 * stays inside the windows (nothing expires).  Prints ns per request, the
 * state's size (trackers, bytes, bytes per user) and the process's RSS.
 *
 * usage: limits_bench [POLICY [USERS [REQUESTS]]]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "policy.h"
#include "server_limits.h"
#include "util.h"

static struct policy *pol;
static struct server_limits *lim;
static long users, requests;
static const int64_t T0 = 1700000000LL * 1000000;

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One permitted query of user u at time now; 1 when refused. */
static int
one(long u, uint64_t *seed, int64_t now)
{
	char user[32], ori[32], subj[32];
	struct server_limit_hit hit;
	uint64_t person, addr;
	int miss = rnd(seed) % 10 == 0;

	snprintf(user, sizeof user, "user%06ld", u);
	snprintf(ori, sizeof ori, "CA%05ld00", u / 200);
	snprintf(subj, sizeof subj, "license:D%07llu", (unsigned long long)(rnd(seed) % 10000000));
	if (server_limits_before(lim, pol, user, ori, subj, now, &hit) != 0)
		return 1;
	person = server_limits_hash(subj, strlen(subj));
	addr = rnd(seed) % 1000000 + 1;
	return server_limits_after(lim, pol, user, ori, miss ? 0 : 1, &person, &addr, miss ? 0 : 1,
	    now, &hit) != 0;
}

struct worker {
	uint64_t seed;
	long n, refused;
	int64_t t;
};

static void *
work(void *arg)
{
	struct worker *w = arg;

	for (long i = 0; i < w->n; i++)
		w->refused += one((long)(rnd(&w->seed) % (uint64_t)users), &w->seed, w->t + i);
	return NULL;
}

static double
timed(int threads, long n, int64_t t, long *refused)
{
	pthread_t th[2];
	struct worker w[2];
	uint64_t t0 = util_mono_ns();

	for (int i = 0; i < threads; i++) {
		w[i].seed = 0x12345678u + (uint64_t)i * 7919 + (uint64_t)t;
		w[i].n = n / threads;
		w[i].refused = 0;
		w[i].t = t + i;
		if (pthread_create(&th[i], NULL, work, &w[i]) != 0)
			return -1;
	}
	*refused = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		*refused += w[i].refused;
	}
	return (double)(util_mono_ns() - t0) / (double)n;
}

int
main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "policy/default.policy";
	struct policy_errors e;
	struct server_limits_stats st;
	struct rusage ru;
	uint64_t seed = 88172645463325252ULL;
	long refused = 0;
	double ns1, ns2;
	int64_t now = T0;

	users = argc > 2 ? atol(argv[2]) : 100000;
	requests = argc > 3 ? atol(argv[3]) : 1000000;
	if (users < 1 || requests < 2)
		return 2;
	policy_errors_init(&e);
	if ((pol = policy_load(path, &e)) == NULL) {
		fprintf(stderr, "%s", e.text ? e.text : "cannot load the policy\n");
		return 1;
	}
	policy_errors_free(&e);
	/* a budget that this run does not fill: the figure is the cost of
	 * counting, not of refusing (a full state refuses, fail closed) */
	if ((lim = server_limits_new_capped((size_t)1 << 30)) == NULL)
		return 1;
	/* every user active: 5 queries each, 1 ms apart on the synthetic clock */
	for (int k = 0; k < 5; k++)
		for (long u = 0; u < users; u++)
			refused += one(u, &seed, now++ * 10);
	server_limits_get_stats(lim, &st);
	printf("policy %s: %d limits; %ld users active (%ld agencies), 5 queries each, %ld refused\n",
	    path, policy_nlimits(pol), users, (users + 199) / 200, refused);
	printf("state: %llu trackers, %.1f MiB (%.0f bytes per user, households included)\n",
	    (unsigned long long)st.trackers, (double)st.bytes / 1048576.0,
	    (double)st.bytes / (double)users);
	ns1 = timed(1, requests, now * 10, &refused);
	printf("1 thread:  %.0f ns per request (before + after), %ld requests, %ld refused\n",
	    ns1, requests, refused);
	ns2 = timed(2, requests, now * 10 + requests * 2, &refused);
	printf("2 threads: %.0f ns per request of wall time (one mutex), %ld requests, %ld refused\n",
	    ns2, requests, refused);
	server_limits_get_stats(lim, &st);
	getrusage(RUSAGE_SELF, &ru);
	printf("after: %llu trackers, %.1f MiB of limit state; process max RSS %.1f MiB\n",
	    (unsigned long long)st.trackers, (double)st.bytes / 1048576.0, (double)ru.ru_maxrss / 1024.0);
	server_limits_free(lim);
	policy_free(pol);
	return 0;
}
