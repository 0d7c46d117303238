/*
 * server_limits.c - sliding-window limits for the gateway (see
 * server_limits.h and docs/limits.md).
 *
 * One hash table (grown by doubling) maps "limit id / what / user-or-agency
 * [/ address]" (kept as two 64-bit hashes) to a 120-byte tracker:
 *  - counters (queries, misses) keep SLOTS time slots of window/(SLOTS-1)
 *    each; a slot counts while any part of it lies inside the window, so
 *    an event counts for between one window and one window plus a slot
 *    (never less: the limit can only err towards refusing);
 *  - distinct sets (subjects; people at one address) keep up to count
 *    (item hash, time) pairs, 3 in the tracker and more in an array (with
 *    an open-addressing index from 32 items on, so a big set costs no scan), pruned
 *    as they leave the window (exact; the prune runs when the oldest item
 *    has left, so its O(n) is amortized over the items dropped).
 * Expiry is amortized: every call visits the next SWEEP_STEP buckets and
 * frees the trackers whose newest event left their window.  The memory of
 * trackers and items is charged to a budget; when an event cannot be
 * counted for want of room (after a full sweep), the request is refused
 * (hit.full) and an alert raised at most once a minute: fail closed.
 */
#include "server_limits.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "store.h"
#include "util.h"

#define SLOTS 16
#define INLINE 3                /* items kept in the tracker itself */
#define IDX_MIN 32              /* sets this large get a hash index */
#define SWEEP_STEP 2
#define FULL_ALERT_US (60LL * 1000000)
#define ALERT_IDS (POLICY_MAX_LIMITS * 2)
#define FULL_ID "(state-full)"

struct item {
	uint64_t h;
	int64_t t;
};

enum tkind { T_COUNTER, T_SET };

/*
 * 120 bytes whatever the kind (a 128-byte malloc chunk).  The key is kept
 * as two independent 64-bit hashes of "id/what/user-or-agency/extra": two
 * keys are confused only if both collide (about 2^-128 a pair), and then
 * they count together, towards refusing, never less.
 */
struct tracker {
	struct tracker *next;
	uint64_t h, h2;
	int64_t last_us;            /* newest event, for expiry */
	int64_t alert_until;        /* no new alert for this key before */
	uint32_t window_s;
	uint8_t kind;
	union {
		struct {            /* counter: slot k of width w at c[k % SLOTS] */
			int64_t head;       /* newest slot number used */
			uint32_t c[SLOTS];
		} ctr;
		struct {
			uint32_t n, cap;
			int64_t oldest;     /* no item older: prune only then */
			struct item *items; /* in, or malloc'd when cap > INLINE */
			struct item in[INLINE];
		} set;
	} u;
};

#define TW(t) ((int64_t)(t)->window_s * 1000000)
_Static_assert(sizeof(struct tracker) == 120, "a tracker fills a 128-byte malloc chunk");

struct alert_count {
	char id[POLICY_MAX_NAME + 1];
	uint64_t n;
};

struct server_limits {
	pthread_mutex_t mu;
	struct tracker **b;
	size_t nb;                  /* power of two */
	size_t cursor;              /* next bucket to sweep */
	size_t max_bytes, bytes;
	uint64_t ntrackers, expired, nfull;
	uint64_t gen;               /* bumped by every full sweep (frees trackers) */
	int64_t last_full_sweep, full_alert_until;
	struct alert_count alerts[ALERT_IDS];
	int nalerts;
};

uint64_t
server_limits_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

struct server_limits *
server_limits_new_capped(size_t max_bytes)
{
	struct server_limits *l = util_calloc(1, sizeof *l);

	if (l == NULL)
		return NULL;
	l->nb = 1024;
	l->max_bytes = max_bytes ? max_bytes : SERVER_LIMITS_MAX_BYTES;
	if ((l->b = util_calloc(l->nb, sizeof *l->b)) == NULL ||
	    pthread_mutex_init(&l->mu, NULL) != 0) {
		free(l->b);
		free(l);
		return NULL;
	}
	l->bytes = l->nb * sizeof *l->b;
	return l;
}

struct server_limits *
server_limits_new(void)
{
	return server_limits_new_capped(0);
}

/* A set's array: cap items, then (cap >= IDX_MIN) an open-addressing index
 * of 2 * cap slots holding item position + 1 (0: empty). */
static size_t
set_alloc_bytes(uint32_t cap)
{
	return (size_t)cap * sizeof(struct item) + (cap >= IDX_MIN ? (size_t)cap * 2 * sizeof(uint32_t) : 0);
}

static uint32_t *
set_idx(const struct tracker *t)
{
	return t->u.set.cap >= IDX_MIN ? (uint32_t *)(void *)(t->u.set.items + t->u.set.cap) : NULL;
}

static void
idx_insert(uint32_t *ix, uint32_t mask, uint64_t h, uint32_t pos)
{
	uint32_t j = (uint32_t)(h ^ (h >> 32)) & mask;

	while (ix[j] != 0)
		j = (j + 1) & mask;
	ix[j] = pos + 1;
}

static void
set_reindex(struct tracker *t)
{
	uint32_t *ix = set_idx(t), mask = t->u.set.cap * 2 - 1;

	if (ix == NULL)
		return;
	memset(ix, 0, (size_t)t->u.set.cap * 2 * sizeof *ix);
	for (uint32_t i = 0; i < t->u.set.n; i++)
		idx_insert(ix, mask, t->u.set.items[i].h, i);
}

/* The position of h in the set, or -1. */
static long
set_find(const struct tracker *t, uint64_t h)
{
	const uint32_t *ix = set_idx(t);

	if (ix == NULL) {
		for (uint32_t i = 0; i < t->u.set.n; i++)
			if (t->u.set.items[i].h == h)
				return (long)i;
		return -1;
	}
	for (uint32_t mask = t->u.set.cap * 2 - 1, j = (uint32_t)(h ^ (h >> 32)) & mask; ix[j] != 0;
	    j = (j + 1) & mask)
		if (t->u.set.items[ix[j] - 1].h == h)
			return (long)(ix[j] - 1);
	return -1;
}

static size_t
tracker_bytes(const struct tracker *t)
{
	size_t n = sizeof *t;

	if (t->kind == T_SET && t->u.set.cap > INLINE)
		n += set_alloc_bytes(t->u.set.cap);
	return n;
}

static void
tracker_free(struct server_limits *l, struct tracker *t)
{
	l->bytes -= tracker_bytes(t);
	l->ntrackers--;
	if (t->kind == T_SET && t->u.set.items != t->u.set.in)
		free(t->u.set.items);
	free(t);
}

void
server_limits_free(struct server_limits *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nb; i++)
		while (l->b[i] != NULL) {
			struct tracker *t = l->b[i];
			l->b[i] = t->next;
			tracker_free(l, t);
		}
	free(l->b);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* Frees the idle trackers of bucket i. */
static void
sweep_bucket(struct server_limits *l, size_t i, int64_t now)
{
	struct tracker **pp = &l->b[i];

	while (*pp != NULL) {
		struct tracker *t = *pp;
		if (t->last_us <= now - TW(t) && t->alert_until <= now) {
			*pp = t->next;
			tracker_free(l, t);
			l->expired++;
		} else
			pp = &t->next;
	}
}

static void
sweep_some(struct server_limits *l, int64_t now)
{
	for (int k = 0; k < SWEEP_STEP; k++) {
		sweep_bucket(l, l->cursor, now);
		l->cursor = (l->cursor + 1) & (l->nb - 1);
	}
	/* the next call's buckets' first trackers, while this one works */
	for (size_t k = 0; k < SWEEP_STEP; k++) {
		struct tracker *t = l->b[(l->cursor + k) & (l->nb - 1)];
		if (t != NULL)
			__builtin_prefetch(t);
	}
}

/* Room for add more bytes?  A full sweep first, at most once a second. */
static int
room_for(struct server_limits *l, size_t add, int64_t now)
{
	if (l->bytes + add <= l->max_bytes)
		return 1;
	if (now - l->last_full_sweep >= 1000000 || now < l->last_full_sweep) {
		l->last_full_sweep = now;
		l->gen++;
		for (size_t i = 0; i < l->nb; i++)
			sweep_bucket(l, i, now);
	}
	return l->bytes + add <= l->max_bytes;
}

static void
grow(struct server_limits *l)
{
	size_t nb = l->nb * 2;
	struct tracker **b;

	if (l->bytes + nb * sizeof *b > l->max_bytes || (b = calloc(nb, sizeof *b)) == NULL)
		return;                  /* longer chains, still correct */
	for (size_t i = 0; i < l->nb; i++)
		while (l->b[i] != NULL) {
			struct tracker *t = l->b[i];
			l->b[i] = t->next;
			t->next = b[t->h & (nb - 1)];
			b[t->h & (nb - 1)] = t;
		}
	free(l->b);
	l->bytes += (nb - l->nb) * sizeof *b;
	l->b = b;
	l->nb = nb;
	l->cursor = 0;
}

/* A tracker's key: two hashes of id, what, user or agency, extra. */
struct tkey {
	uint64_t h, h2;
};

static void
key_mix(struct tkey *k, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		k->h ^= c[i];
		k->h *= 1099511628211ULL;
		k->h2 ^= c[i];
		k->h2 *= 0x100000001b3ULL;
		k->h2 ^= k->h2 >> 29;
	}
}

static struct tkey
make_key(const struct policy_limit *lim, const char *user, const char *ori, uint64_t extra)
{
	struct tkey k = { 1469598103934665603ULL, 0x9e3779b97f4a7c15ULL };
	const char *who = lim->scope == POLICY_LIMIT_USER ? user : ori;
	unsigned char w = (unsigned char)lim->what;

	key_mix(&k, lim->id, strlen(lim->id) + 1);     /* with the NUL: a separator */
	key_mix(&k, &w, 1);
	key_mix(&k, who, strlen(who) + 1);
	key_mix(&k, &extra, sizeof extra);
	/* splitmix64 finalizer on the second hash */
	k.h2 ^= k.h2 >> 30;
	k.h2 *= 0xbf58476d1ce4e5b9ULL;
	k.h2 ^= k.h2 >> 27;
	k.h2 *= 0x94d049bb133111ebULL;
	k.h2 ^= k.h2 >> 31;
	return k;
}

/*
 * Finds (or with create, makes) the tracker for key; NULL when absent, or
 * (create) when there is no room: *full is then set.
 */
static struct tracker *
tracker_get(struct server_limits *l, struct tkey k, const struct policy_limit *lim, int create,
    int64_t now, int *full)
{
	uint64_t h = k.h, h2 = k.h2;
	int kind = lim->what == POLICY_LIMIT_SUBJECTS || lim->what == POLICY_LIMIT_PEOPLE_AT_ADDRESS ?
	    T_SET : T_COUNTER;
	struct tracker *t;

	for (t = l->b[h & (l->nb - 1)]; t != NULL; t = t->next)
		if (t->h == h && t->h2 == h2) {
			t->window_s = lim->window;
			return t;
		}
	if (!create)
		return NULL;
	if (!room_for(l, sizeof *t, now) || (t = calloc(1, sizeof *t)) == NULL) {
		*full = 1;
		return NULL;
	}
	t->h = h;
	t->h2 = h2;
	t->kind = (uint8_t)kind;
	t->window_s = lim->window;
	t->last_us = now;
	if (kind == T_SET) {
		t->u.set.items = t->u.set.in;
		t->u.set.cap = INLINE;
	} else
		t->u.ctr.head = -1;
	t->next = l->b[h & (l->nb - 1)];
	l->b[h & (l->nb - 1)] = t;
	l->ntrackers++;
	l->bytes += tracker_bytes(t);
	if (l->ntrackers > l->nb)
		grow(l);
	return t;
}

static int64_t
slot_width(int64_t window_us)
{
	int64_t w = (window_us + SLOTS - 2) / (SLOTS - 1);

	return w > 0 ? w : 1;
}

static uint32_t
counter_sum(const struct tracker *t, int64_t now)
{
	int64_t w = slot_width(TW(t)), lo = (now - TW(t)) / w;
	uint64_t n = 0;

	if (now - TW(t) < 0)
		lo = 0;
	for (int64_t k = t->u.ctr.head; k >= lo && k > t->u.ctr.head - SLOTS && k >= 0; k--)
		n += t->u.ctr.c[k % SLOTS];
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static void
counter_add(struct tracker *t, int64_t now)
{
	int64_t w = slot_width(TW(t)), k = now / w;

	if (k > t->u.ctr.head) {
		for (int64_t j = t->u.ctr.head + 1; j <= k && j <= t->u.ctr.head + SLOTS; j++)
			t->u.ctr.c[j % SLOTS] = 0;
		if (k - t->u.ctr.head > SLOTS)
			memset(t->u.ctr.c, 0, sizeof t->u.ctr.c);
		t->u.ctr.head = k;
	} else if (k <= t->u.ctr.head - SLOTS) {
		k = t->u.ctr.head - SLOTS + 1;   /* older than the ring (rebuild): oldest slot */
	}
	if (t->u.ctr.c[k % SLOTS] < UINT32_MAX)
		t->u.ctr.c[k % SLOTS]++;
	if (now > t->last_us)
		t->last_us = now;
}

/* Drops the items that left the window: O(n), but only when the oldest
 * one has (amortized over the items dropped). */
static void
set_prune(struct tracker *t, int64_t now)
{
	int64_t lim = now - TW(t), oldest = INT64_MAX;
	uint32_t j = 0;

	if (t->u.set.n == 0 || t->u.set.oldest > lim)
		return;
	for (uint32_t i = 0; i < t->u.set.n; i++)
		if (t->u.set.items[i].t > lim) {
			if (t->u.set.items[i].t < oldest)
				oldest = t->u.set.items[i].t;
			t->u.set.items[j++] = t->u.set.items[i];
		}
	t->u.set.n = j;
	t->u.set.oldest = oldest;
	set_reindex(t);
}

static int
set_has(const struct tracker *t, uint64_t h)
{
	return set_find(t, h) >= 0;
}

/* Adds (or refreshes) h; -1 when there is no room. */
static int
set_add(struct server_limits *l, struct tracker *t, uint64_t h, int64_t now)
{
	uint32_t *ix;
	long i;

	if (now > t->last_us)
		t->last_us = now;
	if ((i = set_find(t, h)) >= 0) {
		if (now > t->u.set.items[i].t)
			t->u.set.items[i].t = now;
		return 0;
	}
	if (t->u.set.n == t->u.set.cap) {
		uint32_t ncap = t->u.set.cap <= INLINE ? 8 : t->u.set.cap * 2;
		size_t before = tracker_bytes(t), sz = set_alloc_bytes(ncap);
		struct item *ni;
		if (ncap < t->u.set.cap || ncap > (UINT32_MAX >> 2) || !room_for(l, sz, now))
			return -1;
		if (t->u.set.items == t->u.set.in) {
			if ((ni = malloc(sz)) == NULL)
				return -1;
			memcpy(ni, t->u.set.in, sizeof t->u.set.in);
		} else if ((ni = realloc(t->u.set.items, sz)) == NULL)
			return -1;
		t->u.set.items = ni;
		t->u.set.cap = ncap;
		set_reindex(t);
		l->bytes += tracker_bytes(t) - before;
	}
	if (t->u.set.n == 0 || now < t->u.set.oldest)
		t->u.set.oldest = now;
	t->u.set.items[t->u.set.n].h = h;
	t->u.set.items[t->u.set.n].t = now;
	if ((ix = set_idx(t)) != NULL)
		idx_insert(ix, t->u.set.cap * 2 - 1, h, t->u.set.n);
	t->u.set.n++;
	return 0;
}

static void
count_alert(struct server_limits *l, const char *id)
{
	int i;

	for (i = 0; i < l->nalerts; i++)
		if (strcmp(l->alerts[i].id, id) == 0)
			break;
	if (i == l->nalerts) {
		if (l->nalerts == ALERT_IDS)
			i = ALERT_IDS - 1;   /* the last slot takes the overflow */
		else {
			l->nalerts++;
			if (util_strlcpy(l->alerts[i].id, id, sizeof l->alerts[i].id) < 0)
				l->alerts[i].id[0] = '\0';
		}
	}
	l->alerts[i].n++;
}

static void
fill_hit(struct server_limits *l, struct server_limit_hit *hit, int i,
    const struct policy_limit *lim, struct tracker *t, uint32_t have, int64_t now)
{
	static const char *const what[] = {
		[POLICY_LIMIT_QUERIES] = "queries",
		[POLICY_LIMIT_SUBJECTS] = "subjects",
		[POLICY_LIMIT_PEOPLE_AT_ADDRESS] = "people at one address",
		[POLICY_LIMIT_MISSES] = "misses",
	};

	memset(hit, 0, sizeof *hit);
	hit->index = i;
	hit->suspend = lim->action == POLICY_LIMIT_SUSPEND;
	hit->have = have;
	hit->count = lim->count;
	if (util_strlcpy(hit->id, lim->id, sizeof hit->id) < 0)
		hit->id[0] = '\0';
	if (util_strlcpy(hit->cite, lim->cite ? lim->cite : "", sizeof hit->cite) < 0)
		hit->cite[0] = '\0';
	snprintf(hit->text, sizeof hit->text, "limit \"%s\": %u %s per %u s per %s%s", lim->id,
	    lim->count, (size_t)lim->what < UTIL_NELEM(what) ? what[lim->what] : "?",
	    lim->window, lim->scope == POLICY_LIMIT_USER ? "user" : "agency",
	    hit->suspend ? " (then suspend)" : "");
	/* one alert per limit and key per window, however often it refuses */
	if (t == NULL || now >= t->alert_until) {
		hit->alert = 1;
		if (t != NULL)
			t->alert_until = now + (int64_t)lim->window * 1000000;
		count_alert(l, lim->id);
	}
}

static void
fill_full(struct server_limits *l, struct server_limit_hit *hit, int64_t now)
{
	memset(hit, 0, sizeof *hit);
	hit->index = -1;
	hit->full = 1;
	l->nfull++;
	snprintf(hit->text, sizeof hit->text,
	    "limits: no room to count this request (state over %zu MiB); refused (fail closed)",
	    l->max_bytes >> 20);
	if (now >= l->full_alert_until) {
		hit->alert = 1;
		l->full_alert_until = now + FULL_ALERT_US;
		count_alert(l, FULL_ID);
	}
}

/* The counting part of before(); -1 when full. */
static int
count_before(struct server_limits *l, const struct policy *pol, const char *user,
    const char *ori, uint64_t sh, int64_t now, struct tracker *const *found, uint64_t gen)
{
	int nl = policy_nlimits(pol), full = 0;

	for (int i = 0; i < nl; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		struct tracker *t;
		if (lim == NULL || lim->what == POLICY_LIMIT_PEOPLE_AT_ADDRESS ||
		    lim->what == POLICY_LIMIT_MISSES)
			continue;
		/* the trackers the check found, unless a full sweep ran since */
		if (found != NULL && l->gen == gen && found[i] != NULL)
			t = found[i];
		else if ((t = tracker_get(l, make_key(lim, user, ori, 0), lim, 1, now, &full)) == NULL)
			return -1;
		if (lim->what == POLICY_LIMIT_SUBJECTS) {
			if (set_add(l, t, sh, now) < 0)
				return -1;
		} else
			counter_add(t, now);
	}
	return 0;
}

int
server_limits_before(struct server_limits *l, const struct policy *pol, const char *user,
    const char *ori, const char *subject, int64_t now, struct server_limit_hit *hit)
{
	uint64_t sh = server_limits_hash(subject, strlen(subject)), gen;
	int nl = policy_nlimits(pol), rc = 0, full = 0;
	struct tracker *found[POLICY_MAX_LIMITS];
	struct tkey keys[POLICY_MAX_LIMITS];

	if (nl <= 0)
		return 0;
	if (nl > POLICY_MAX_LIMITS)
		nl = POLICY_MAX_LIMITS;
	/* the keys, outside the lock */
	for (int i = 0; i < nl; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		if (lim != NULL && lim->what != POLICY_LIMIT_PEOPLE_AT_ADDRESS)
			keys[i] = make_key(lim, user, ori, 0);
	}
	pthread_mutex_lock(&l->mu);
	sweep_some(l, now);
	gen = l->gen;
	/* the table is memory-latency bound: fetch every bucket, then every
	 * chain's head, in parallel rather than one miss after another */
	for (int i = 0; i < nl; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		if (lim != NULL && lim->what != POLICY_LIMIT_PEOPLE_AT_ADDRESS)
			__builtin_prefetch(&l->b[keys[i].h & (l->nb - 1)]);
	}
	for (int i = 0; i < nl; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		if (lim != NULL && lim->what != POLICY_LIMIT_PEOPLE_AT_ADDRESS &&
		    l->b[keys[i].h & (l->nb - 1)] != NULL)
			__builtin_prefetch(l->b[keys[i].h & (l->nb - 1)]);
	}
	/* check everything first: a refused request counts nowhere */
	for (int i = 0; i < nl && rc == 0; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		struct tracker *t;
		uint32_t have;
		found[i] = NULL;
		if (lim == NULL || lim->what == POLICY_LIMIT_PEOPLE_AT_ADDRESS)
			continue;
		if ((t = found[i] = tracker_get(l, keys[i], lim, 0, now, &full)) == NULL)
			continue;
		if (lim->what == POLICY_LIMIT_SUBJECTS) {
			set_prune(t, now);
			have = t->u.set.n;
			if (!set_has(t, sh) && have >= lim->count)
				rc = 1;
		} else if ((have = counter_sum(t, now)) >= lim->count)
			rc = 1;
		if (rc)
			fill_hit(l, hit, i, lim, t, have, now);
	}
	if (rc == 0 && count_before(l, pol, user, ori, sh, now, found, gen) < 0) {
		fill_full(l, hit, now);
		rc = 1;
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int
server_limits_need_addresses(const struct policy *pol)
{
	int nl = policy_nlimits(pol);

	for (int i = 0; i < nl; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		if (lim != NULL && lim->what == POLICY_LIMIT_PEOPLE_AT_ADDRESS)
			return 1;
	}
	return 0;
}

/* The counting part of after(); -1 when full. */
static int
count_after(struct server_limits *l, const struct policy *pol, const char *user,
    const char *ori, int nrows, const uint64_t *person, const uint64_t *addr, int n, int64_t now)
{
	int nl = policy_nlimits(pol), full = 0;

	for (int i = 0; i < nl; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		struct tracker *t;
		struct tkey k;
		if (lim == NULL)
			continue;
		if (lim->what == POLICY_LIMIT_MISSES && nrows == 0) {
			k = make_key(lim, user, ori, 0);
			if ((t = tracker_get(l, k, lim, 1, now, &full)) == NULL)
				return -1;
			counter_add(t, now);
		} else if (lim->what == POLICY_LIMIT_PEOPLE_AT_ADDRESS) {
			for (int a = 0; a < n; a++) {
				if (addr[a] == 0)
					continue;
				k = make_key(lim, user, ori, addr[a]);
				if ((t = tracker_get(l, k, lim, 1, now, &full)) == NULL ||
				    set_add(l, t, person[a], now) < 0)
					return -1;
			}
		}
	}
	return 0;
}

int
server_limits_after(struct server_limits *l, const struct policy *pol, const char *user,
    const char *ori, int nrows, const uint64_t *person, const uint64_t *addr, int n,
    int64_t now, struct server_limit_hit *hit)
{
	int nl = policy_nlimits(pol), rc = 0, full = 0;

	if (nl <= 0)
		return 0;
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < nl && rc == 0; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		if (lim == NULL || lim->what != POLICY_LIMIT_PEOPLE_AT_ADDRESS)
			continue;
		for (int a = 0; a < n && rc == 0; a++) {
			struct tracker *t;
			uint32_t others = 0, have;
			struct tkey k;
			if (addr[a] == 0)
				continue;
			k = make_key(lim, user, ori, addr[a]);
			t = tracker_get(l, k, lim, 0, now, &full);
			if (t != NULL)
				set_prune(t, now);
			/* new people of this answer at addr, each counted once */
			for (int j = 0; j < n; j++) {
				int dup = 0;
				if (addr[j] != addr[a] || (t != NULL && set_has(t, person[j])))
					continue;
				for (int m = 0; m < j; m++)
					if (addr[m] == addr[a] && person[m] == person[j])
						dup = 1;
				others += dup ? 0 : 1;
			}
			have = t != NULL ? t->u.set.n : 0;
			if (have + others > lim->count) {
				rc = 1;
				if (t == NULL)   /* keeps the alert state of this address */
					t = tracker_get(l, k, lim, 1, now, &full);
				fill_hit(l, hit, i, lim, t, have, now);
			}
		}
	}
	if (rc == 0 && count_after(l, pol, user, ori, nrows, person, addr, n, now) < 0) {
		fill_full(l, hit, now);
		rc = 1;
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int
server_limits_count(struct server_limits *l, const struct policy *pol, const char *user,
    const char *ori, const char *subject, int nrows, const uint64_t *person,
    const uint64_t *addr, int n, int64_t t_us)
{
	int rc;

	pthread_mutex_lock(&l->mu);
	rc = count_before(l, pol, user, ori, server_limits_hash(subject, strlen(subject)), t_us,
	    NULL, 0);
	if (rc == 0)
		rc = count_after(l, pol, user, ori, nrows, person, addr, n, t_us);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

void
server_limits_get_stats(struct server_limits *l, struct server_limits_stats *st)
{
	pthread_mutex_lock(&l->mu);
	st->trackers = l->ntrackers;
	st->bytes = l->bytes;
	st->expired = l->expired;
	st->full = l->nfull;
	pthread_mutex_unlock(&l->mu);
}

void
server_limits_foreach_alert(struct server_limits *l,
    void (*fn)(void *arg, const char *id, uint64_t n), void *arg)
{
	struct alert_count copy[ALERT_IDS];
	int n;

	pthread_mutex_lock(&l->mu);
	n = l->nalerts;
	memcpy(copy, l->alerts, (size_t)n * sizeof copy[0]);
	pthread_mutex_unlock(&l->mu);
	for (int i = 0; i < n; i++)
		fn(arg, copy[i].id, copy[i].n);
}

/* ---- rebuild from the audit log ---- */

struct rebuild {
	struct server_limits *l;
	const struct policy *pol;
	struct store *st;
	int households;
	int64_t since, now;
	struct server_limits_rebuilt *out;
	int full;
	/* the people of one entry */
	uint64_t person[AUDIT_MAX_SUBJECTS], addr[AUDIT_MAX_SUBJECTS];
	int n;
	int vehicle;
};

static int
people_row(void *arg, const struct store_row *row)
{
	struct rebuild *rb = arg;
	size_t n;
	const char *v = store_row_get(row, rb->vehicle ? FIELD_OWNER_LICENSE_NUMBER :
	    FIELD_LICENSE_NUMBER, &n);
	const char *ak = store_row_addr_key(row);

	if (v == NULL || rb->n >= AUDIT_MAX_SUBJECTS)
		return 0;
	rb->person[rb->n] = server_limits_hash(v, n);
	rb->addr[rb->n] = ak[0] ? server_limits_hash(ak, strlen(ak)) : 0;
	rb->n++;
	return 0;
}

/* "records N" in a permit's detail; -1 when absent (an older entry). */
static int
detail_records(const char *d)
{
	int64_t v;

	if (strncmp(d, "records ", 8) != 0 || util_parse_i64(d + 8, 0, 1000000, &v) < 0)
		return -1;
	return (int)v;
}

static int
rebuild_one(void *arg, const struct audit_record *r)
{
	struct rebuild *rb = arg;
	const struct audit_entry *e = &r->e;
	int nrows;

	rb->out->scanned++;
	if (e->kind != AUDIT_QUERY || e->decision != AUDIT_PERMIT || e->status != 200 ||
	    e->time_us <= rb->since || e->time_us > rb->now || e->nsubjects < 1)
		return 0;
	nrows = detail_records(e->detail);
	rb->n = 0;
	rb->vehicle = strcmp(e->query_type, "vehicle") == 0;
	if (rb->households && rb->st != NULL && nrows != 0) {
		/* the people the answer held, with their addresses as stored today */
		for (int i = 0; i < e->nsubjects && rb->n < AUDIT_MAX_SUBJECTS; i++) {
			struct store_query q;
			const char *s = e->subjects[i];
			const field_mask want = FIELD_BIT(FIELD_LICENSE_NUMBER) |
			    FIELD_BIT(FIELD_OWNER_LICENSE_NUMBER) | FIELD_BIT(FIELD_STREET) |
			    FIELD_BIT(FIELD_CITY) | FIELD_BIT(FIELD_ZIP) | FIELD_BIT(FIELD_OWNER_STREET) |
			    FIELD_BIT(FIELD_OWNER_CITY) | FIELD_BIT(FIELD_OWNER_ZIP);
			memset(&q, 0, sizeof q);
			if (!rb->vehicle && strncmp(s, "license:", 8) == 0) {
				q.type = STORE_DRIVER;
				q.by = STORE_BY_LICENSE;
				q.license_number = s + 8;
			} else if (rb->vehicle && strncmp(s, "vin:", 4) == 0) {
				q.type = STORE_VEHICLE;
				q.by = STORE_BY_VIN;
				q.vin = s + 4;
			} else
				continue;
			if (store_find(rb->st, &q, want, 1, people_row, rb) < 0)
				continue;        /* not found today: not counted */
		}
		rb->out->people += (uint64_t)rb->n;
	}
	if (server_limits_count(rb->l, rb->pol, e->user, e->ori, e->subjects[0], nrows,
	    rb->person, rb->addr, rb->n, e->time_us) < 0)
		rb->full = 1;
	rb->out->counted++;
	return 0;
}

int
server_limits_rebuild(struct server_limits *l, const struct policy *pol,
    struct audit_log *log, struct store *st, int64_t now, struct server_limits_rebuilt *out)
{
	struct server_limits_rebuilt dummy;
	struct audit_record *rec = NULL;
	struct rebuild rb;
	uint64_t lo, hi;
	uint64_t t0 = util_mono_ns();
	int nl = policy_nlimits(pol), rc = -1;

	if (out == NULL)
		out = &dummy;
	memset(out, 0, sizeof *out);
	memset(&rb, 0, sizeof rb);
	for (int i = 0; i < nl; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		if (lim == NULL)
			continue;
		if ((int64_t)lim->window > out->window_s)
			out->window_s = lim->window;
		if (lim->what == POLICY_LIMIT_PEOPLE_AT_ADDRESS)
			rb.households = 1;
	}
	if (out->window_s == 0)
		return 0;
	rb.l = l;
	rb.pol = pol;
	rb.st = st;
	rb.now = now;
	rb.since = now - out->window_s * 1000000;
	rb.out = out;
	/* the first entry of the window: binary search on time (entries are
	 * in time order up to the few ms between a reservation and its
	 * commit; a minute of slack covers that) */
	if ((rec = malloc(sizeof *rec)) == NULL)
		goto out;
	lo = audit_first(log);
	hi = audit_size(log);
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (audit_get(log, mid, rec) < 0)
			break;               /* scan from lo: slower, still right */
		if (rec->e.time_us < rb.since - 60LL * 1000000)
			lo = mid + 1;
		else
			hi = mid;
	}
	out->from_index = lo;
	if (audit_scan(log, lo, UINT64_MAX, rebuild_one, &rb) < 0)
		goto out;
	if (rb.full)
		util_errx("serve: limits: the state filled up while rebuilding; requests are refused "
		    "until it has room (fail closed)");
	rc = 0;
out:
	free(rec);
	out->seconds = (double)(util_mono_ns() - t0) / 1e9;
	return rc;
}
