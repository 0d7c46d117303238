/*
 * server_limits.h - the policy's `limit` statements, enforced by the
 * gateway (429): queries, distinct subjects and misses per user or agency,
 * and distinct people at one address, each within a sliding window.
 *
 * State is kept in memory, keyed by the limit's id (so a policy reload
 * keeps the counts of limits that keep their name) and the user or agency;
 * it starts empty when the server starts.  Only permitted requests count.
 * Thread-safe (one mutex; the work under it is a hash lookup and a scan of
 * at most `count` entries).
 */
#ifndef DMVGATE_SERVER_LIMITS_H
#define DMVGATE_SERVER_LIMITS_H

#include <stdint.h>

#include "policy.h"

#define SERVER_LIMITS_MAX_ENTRIES 100000  /* tracked (limit, key) pairs */

struct server_limits;

/* A limit that stopped a request. */
struct server_limit_hit {
	int index;                 /* the limit statement, in pol */
	int suspend;               /* its action is `then suspend` */
	char text[160];            /* "limit \"sweep\": 200 subjects per 3600 s per user" */
};

/* NULL on allocation failure.  Free with server_limits_free (NULL is fine). */
struct server_limits *server_limits_new(void);
void server_limits_free(struct server_limits *l);

/*
 * Before a permitted lookup: checks and counts the query and its subject
 * key against every `queries`, `subjects` and `misses` limit of pol.
 * Returns 0 when the request may proceed, 1 when a limit stops it (*hit
 * filled; nothing is counted then).
 */
int server_limits_before(struct server_limits *l, const struct policy *pol, const char *user,
    const char *ori, const char *subject, int64_t now_us, struct server_limit_hit *hit);

/*
 * After the lookup, before anything is sent: counts a miss when nrows is
 * 0, and checks the people found (person[i] at address addr[i], hashes;
 * addr 0 = unknown) against every `people at one address` limit.  Returns
 * 0, or 1 when a limit stops the answer (*hit filled).
 */
int server_limits_after(struct server_limits *l, const struct policy *pol, const char *user,
    const char *ori, int nrows, const uint64_t *person, const uint64_t *addr, int n,
    int64_t now_us, struct server_limit_hit *hit);

/* FNV-1a of a string, for person and address keys. */
uint64_t server_limits_hash(const char *s, size_t n);

#endif /* DMVGATE_SERVER_LIMITS_H */
