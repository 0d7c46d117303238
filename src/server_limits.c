/*
 * server_limits.c - sliding-window limits for the gateway (see
 * server_limits.h).
 *
 * One hash table maps "limit id / user-or-agency [/ address]" to a tracker:
 *  - counters (queries, misses) keep 64 time slots of window/64 each, so a
 *    limit of any size costs 1 KiB and the window slides in 1/64 steps;
 *  - distinct sets (subjects; people at one address) keep up to count
 *    (item hash, last seen) pairs, pruned as they leave the window.
 * Trackers idle for a whole window are swept when the table grows past
 * SERVER_LIMITS_MAX_ENTRIES; if it is still full, new keys are not tracked
 * (fail open for memory, logged once) rather than refusing service.
 */
#include "server_limits.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define NSLOTS 64
#define NBUCKETS 4096
#define DISTINCT_MAX 65536

struct item {
	uint64_t h;
	int64_t t;
};

struct tracker {
	struct tracker *next;
	uint64_t h;
	char key[160];
	int64_t last_us;            /* last event, for sweeping */
	int64_t window_us;
	int distinct;               /* 1: items[], 0: slots */
	/* counters */
	int64_t slot_start[NSLOTS];
	uint32_t slot_count[NSLOTS];
	/* distinct */
	uint32_t n, cap;
	struct item *items;
};

struct server_limits {
	pthread_mutex_t mu;
	struct tracker *b[NBUCKETS];
	size_t ntrackers;
	int warned;
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
server_limits_new(void)
{
	struct server_limits *l = util_calloc(1, sizeof *l);

	if (l != NULL && pthread_mutex_init(&l->mu, NULL) != 0) {
		free(l);
		return NULL;
	}
	return l;
}

static void
tracker_free(struct tracker *t)
{
	free(t->items);
	free(t);
}

void
server_limits_free(struct server_limits *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < NBUCKETS; i++)
		while (l->b[i] != NULL) {
			struct tracker *t = l->b[i];
			l->b[i] = t->next;
			tracker_free(t);
		}
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static void
sweep(struct server_limits *l, int64_t now)
{
	for (size_t i = 0; i < NBUCKETS; i++) {
		struct tracker **pp = &l->b[i];
		while (*pp != NULL) {
			struct tracker *t = *pp;
			if (t->last_us < now - t->window_us) {
				*pp = t->next;
				tracker_free(t);
				l->ntrackers--;
			} else
				pp = &t->next;
		}
	}
}

/* Finds (or with create, makes) the tracker for key; NULL if untracked. */
static struct tracker *
tracker_get(struct server_limits *l, const char *key, const struct policy_limit *lim,
    int distinct, int create, int64_t now)
{
	uint64_t h = server_limits_hash(key, strlen(key));
	struct tracker *t;

	for (t = l->b[h % NBUCKETS]; t != NULL; t = t->next)
		if (t->h == h && strcmp(t->key, key) == 0)
			return t;
	if (!create)
		return NULL;
	if (l->ntrackers >= SERVER_LIMITS_MAX_ENTRIES) {
		sweep(l, now);
		if (l->ntrackers >= SERVER_LIMITS_MAX_ENTRIES) {
			if (!l->warned)
				util_errx("serve: limits: %d keys tracked, new ones are not",
				    SERVER_LIMITS_MAX_ENTRIES);
			l->warned = 1;
			return NULL;
		}
	}
	t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->h = h;
	if (util_strlcpy(t->key, key, sizeof t->key) < 0) {
		/* a truncated key still separates users in practice */
	}
	t->window_us = (int64_t)lim->window * 1000000;
	t->distinct = distinct;
	t->next = l->b[h % NBUCKETS];
	l->b[h % NBUCKETS] = t;
	l->ntrackers++;
	return t;
}

static int64_t
slot_width(const struct tracker *t)
{
	int64_t w = t->window_us / NSLOTS;

	return w > 0 ? w : 1;
}

static uint64_t
counter_sum(const struct tracker *t, int64_t now)
{
	uint64_t n = 0;

	for (int i = 0; i < NSLOTS; i++)
		if (t->slot_start[i] > now - t->window_us)
			n += t->slot_count[i];
	return n;
}

static void
counter_add(struct tracker *t, int64_t now)
{
	int64_t w = slot_width(t), start = now - now % w;
	int i = (int)((now / w) % NSLOTS);

	if (t->slot_start[i] != start) {
		t->slot_start[i] = start;
		t->slot_count[i] = 0;
	}
	t->slot_count[i]++;
	t->last_us = now;
}

static void
distinct_prune(struct tracker *t, int64_t now)
{
	uint32_t j = 0;

	for (uint32_t i = 0; i < t->n; i++)
		if (t->items[i].t > now - t->window_us)
			t->items[j++] = t->items[i];
	t->n = j;
}

static int
distinct_has(const struct tracker *t, uint64_t h)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->items[i].h == h)
			return 1;
	return 0;
}

static void
distinct_add(struct tracker *t, uint64_t h, int64_t now)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->items[i].h == h) {
			t->items[i].t = now;
			t->last_us = now;
			return;
		}
	if (t->n == t->cap) {
		uint32_t ncap = t->cap ? t->cap * 2 : 16;
		struct item *ni;
		if (ncap > DISTINCT_MAX)
			return;
		ni = reallocarray(t->items, ncap, sizeof *ni);
		if (ni == NULL)
			return;
		t->items = ni;
		t->cap = ncap;
	}
	t->items[t->n].h = h;
	t->items[t->n].t = now;
	t->n++;
	t->last_us = now;
}

static void
fill_hit(struct server_limit_hit *hit, int i, const struct policy_limit *lim)
{
	static const char *const what[] = {
		[POLICY_LIMIT_QUERIES] = "queries",
		[POLICY_LIMIT_SUBJECTS] = "subjects",
		[POLICY_LIMIT_PEOPLE_AT_ADDRESS] = "people at one address",
		[POLICY_LIMIT_MISSES] = "misses",
	};

	hit->index = i;
	hit->suspend = lim->action == POLICY_LIMIT_SUSPEND;
	snprintf(hit->text, sizeof hit->text, "limit \"%s\": %u %s per %u s per %s%s", lim->id,
	    lim->count, (size_t)lim->what < UTIL_NELEM(what) ? what[lim->what] : "?",
	    lim->window, lim->scope == POLICY_LIMIT_USER ? "user" : "agency",
	    hit->suspend ? " (then suspend)" : "");
}

static void
make_key(char *out, size_t outsz, const struct policy_limit *lim, const char *user,
    const char *ori, uint64_t extra)
{
	snprintf(out, outsz, "%s/%d/%s/%llx", lim->id, (int)lim->what,
	    lim->scope == POLICY_LIMIT_USER ? user : ori, (unsigned long long)extra);
}

int
server_limits_before(struct server_limits *l, const struct policy *pol, const char *user,
    const char *ori, const char *subject, int64_t now, struct server_limit_hit *hit)
{
	uint64_t sh = server_limits_hash(subject, strlen(subject));
	int nl = policy_nlimits(pol), rc = 0;
	char key[160];

	pthread_mutex_lock(&l->mu);
	/* check everything first: a refused request counts nowhere */
	for (int i = 0; i < nl && rc == 0; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		struct tracker *t;
		if (lim == NULL || lim->what == POLICY_LIMIT_PEOPLE_AT_ADDRESS)
			continue;
		make_key(key, sizeof key, lim, user, ori, 0);
		t = tracker_get(l, key, lim, lim->what == POLICY_LIMIT_SUBJECTS, 0, now);
		if (t == NULL)
			continue;
		if (lim->what == POLICY_LIMIT_SUBJECTS) {
			distinct_prune(t, now);
			if (!distinct_has(t, sh) && t->n >= lim->count)
				rc = 1;
		} else if (counter_sum(t, now) >= lim->count) {
			rc = 1;
		}
		if (rc)
			fill_hit(hit, i, lim);
	}
	for (int i = 0; i < nl && rc == 0; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		struct tracker *t;
		if (lim == NULL || lim->what == POLICY_LIMIT_PEOPLE_AT_ADDRESS ||
		    lim->what == POLICY_LIMIT_MISSES)
			continue;
		make_key(key, sizeof key, lim, user, ori, 0);
		t = tracker_get(l, key, lim, lim->what == POLICY_LIMIT_SUBJECTS, 1, now);
		if (t == NULL)
			continue;
		if (lim->what == POLICY_LIMIT_SUBJECTS)
			distinct_add(t, sh, now);
		else
			counter_add(t, now);
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int
server_limits_after(struct server_limits *l, const struct policy *pol, const char *user,
    const char *ori, int nrows, const uint64_t *person, const uint64_t *addr, int n,
    int64_t now, struct server_limit_hit *hit)
{
	int nl = policy_nlimits(pol), rc = 0;
	char key[160];

	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < nl && rc == 0; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		if (lim == NULL || lim->what != POLICY_LIMIT_PEOPLE_AT_ADDRESS)
			continue;
		for (int k = 0; k < n && rc == 0; k++) {
			struct tracker *t;
			uint32_t others = 0;
			if (addr[k] == 0)
				continue;
			make_key(key, sizeof key, lim, user, ori, addr[k]);
			t = tracker_get(l, key, lim, 1, 0, now);
			if (t != NULL)
				distinct_prune(t, now);
			/* new people of this answer at addr, each counted once */
			for (int j = 0; j < n; j++) {
				int dup = 0;
				if (addr[j] != addr[k] || (t != NULL && distinct_has(t, person[j])))
					continue;
				for (int m = 0; m < j; m++)
					if (addr[m] == addr[k] && person[m] == person[j])
						dup = 1;
				others += dup ? 0 : 1;
			}
			if ((t != NULL ? t->n : 0) + others > lim->count) {
				rc = 1;
				fill_hit(hit, i, lim);
			}
		}
	}
	for (int i = 0; i < nl && rc == 0; i++) {
		const struct policy_limit *lim = policy_limit(pol, i);
		struct tracker *t;
		if (lim == NULL)
			continue;
		if (lim->what == POLICY_LIMIT_MISSES && nrows == 0) {
			make_key(key, sizeof key, lim, user, ori, 0);
			if ((t = tracker_get(l, key, lim, 0, 1, now)) != NULL)
				counter_add(t, now);
		} else if (lim->what == POLICY_LIMIT_PEOPLE_AT_ADDRESS) {
			for (int k = 0; k < n; k++) {
				if (addr[k] == 0)
					continue;
				make_key(key, sizeof key, lim, user, ori, addr[k]);
				if ((t = tracker_get(l, key, lim, 1, 1, now)) != NULL)
					distinct_add(t, person[k], now);
			}
		}
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}
