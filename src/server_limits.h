/*
 * server_limits.h - the policy's `limit` statements, enforced by the
 * gateway (429): queries, distinct subjects and misses per user or agency,
 * and distinct people at one address, each within a sliding window
 * (docs/limits.md).
 *
 * State is kept in memory, keyed by the limit's id (so a policy reload
 * keeps the counts of limits that keep their name) and the user or agency.
 * At start the server rebuilds it from the audit log's recent window
 * (server_limits_rebuild), so a restart is no way around a limit.  Only
 * permitted requests count.  Idle state expires (amortized: each call
 * visits a few hash buckets); memory is bounded by a byte budget, and a
 * request that cannot be counted for want of room is refused (fail
 * closed: hit.full), never let through uncounted.
 *
 * Thread-safe (one mutex; the work under it is a hash lookup and a scan of
 * at most `count` items of the limits concerned).
 */
#ifndef DMVGATE_SERVER_LIMITS_H
#define DMVGATE_SERVER_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* Default memory budget of the limit state (trackers and their items). */
#define SERVER_LIMITS_MAX_BYTES ((size_t)256 << 20)

struct server_limits;
struct audit_log;
struct store;

/* A limit that stopped a request. */
struct server_limit_hit {
	int index;                 /* the limit statement, in pol; -1 when full */
	int suspend;               /* its action is `then suspend` */
	int full;                  /* refused because the state is full (fail closed) */
	int alert;                 /* first refusal of this limit and key in its
				      window: the caller raises an alert */
	uint32_t have;             /* counted in the window when refused */
	uint32_t count;            /* the limit's N (0 when full) */
	char id[POLICY_MAX_NAME + 1];  /* the limit's id ("" when full) */
	char cite[POLICY_MAX_STRING + 1];  /* its citation ("" when none) */
	char text[200];            /* "limit \"sweep\": 200 subjects per 3600 s per user" */
};

/* Counters, for /metrics and the benchmark. */
struct server_limits_stats {
	uint64_t trackers;         /* (limit, key) pairs tracked now */
	uint64_t bytes;            /* their memory (approximate, malloc'd sizes) */
	uint64_t expired;          /* trackers dropped as idle */
	uint64_t full;             /* requests refused because the state was full */
};

/*
 * NULL on allocation failure.  max_bytes bounds the state (0: the default
 * SERVER_LIMITS_MAX_BYTES).  The caller owns the result: free with
 * server_limits_free (NULL is fine).
 */
struct server_limits *server_limits_new(void);
struct server_limits *server_limits_new_capped(size_t max_bytes);
void server_limits_free(struct server_limits *l);

/*
 * Before a permitted lookup: checks and counts the query and its subject
 * key against every `queries`, `subjects` and `misses` limit of pol.
 * Returns 0 when the request may proceed, 1 when a limit stops it (*hit
 * filled; nothing is counted then) or when the state has no room to count
 * it (*hit with full set).  Strings are borrowed for the call.
 */
int server_limits_before(struct server_limits *l, const struct policy *pol, const char *user,
    const char *ori, const char *subject, int64_t now_us, struct server_limit_hit *hit);

/* Does pol have a `people at one address` limit (so that the caller must
 * compute the addresses of the people it finds for server_limits_after)? */
int server_limits_need_addresses(const struct policy *pol);

/*
 * After the lookup, before anything is sent: counts a miss when nrows is
 * 0, and checks the people found (person[i] at address addr[i], hashes;
 * addr 0 = unknown) against every `people at one address` limit.  Returns
 * 0, or 1 when a limit (or a full state) stops the answer (*hit filled).
 */
int server_limits_after(struct server_limits *l, const struct policy *pol, const char *user,
    const char *ori, int nrows, const uint64_t *person, const uint64_t *addr, int n,
    int64_t now_us, struct server_limit_hit *hit);

/*
 * Counts one permitted request at time t_us without checking anything
 * (what before + after count), for the rebuild.  nrows < 0: unknown (no
 * miss counted).  Returns 0, or -1 when the state is full.
 */
int server_limits_count(struct server_limits *l, const struct policy *pol, const char *user,
    const char *ori, const char *subject, int nrows, const uint64_t *person,
    const uint64_t *addr, int n, int64_t t_us);

/* What a rebuild did. */
struct server_limits_rebuilt {
	uint64_t from_index;       /* first entry read */
	uint64_t scanned;          /* entries read */
	uint64_t counted;          /* permitted queries counted */
	uint64_t people;           /* people re-found in the store (households) */
	int64_t window_s;          /* the longest window of pol */
	double seconds;
};

/*
 * Rebuilds the state from the audit log (borrowed, open): every permitted
 * query entry (status 200) of the last longest-window of pol's limits is
 * counted again: queries, the subject asked for (the entry's first
 * subject), a miss when the entry's detail says "records 0", and, when pol
 * has a `people at one address` limit and st is not NULL, the people the
 * entry's returned license/VIN keys find in the store today with their
 * addresses.  Returns 0 and *out (may be NULL), or -1 (log error).
 */
int server_limits_rebuild(struct server_limits *l, const struct policy *pol,
    struct audit_log *log, struct store *st, int64_t now_us, struct server_limits_rebuilt *out);

/* Statistics (see struct server_limits_stats). */
void server_limits_get_stats(struct server_limits *l, struct server_limits_stats *st);

/*
 * Calls fn(arg, limit id, alerts raised) for every limit id that raised an
 * alert since start ("(state-full)" for refusals of a full state), in no
 * particular order.  fn must not call back into l.
 */
void server_limits_foreach_alert(struct server_limits *l,
    void (*fn)(void *arg, const char *id, uint64_t n), void *arg);

/* FNV-1a of a string, for person and address keys. */
uint64_t server_limits_hash(const char *s, size_t n);

#endif /* DMVGATE_SERVER_LIMITS_H */
