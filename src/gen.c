/*
 * gen.c - the synthetic DMV data generator (see gen.h for the contract).
 *
 * Layout of a run: drivers are cut into chunks of GEN_CHUNK.  Chunk k
 * owns drivers [k*GEN_CHUNK, ...) and the vehicles [M*start/N, M*end/N),
 * whose owners are drawn from that chunk's drivers, so a chunk is
 * self-contained.  Worker threads fill chunks into a small ring of slots
 * (three growable byte buffers each); the calling thread writes the slots
 * to the three files strictly in chunk order.  Each chunk has its own
 * xoshiro256** stream seeded from (seed, k), and only integer arithmetic
 * is used, so the bytes are the same for any thread count or machine.
 *
 * Unique keys come from keyed Feistel permutations (cycle-walking) of a
 * global index: license numbers and photo ids and SSNs from the driver
 * index, VINs from the vehicle index, plates from the vehicle index
 * (passenger) or from (chunk, count within chunk) for the rarer types,
 * whose formats never overlap one another.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "field.h"
#include "gen.h"
#include "util.h"
#include "vin.h"

#define GEN_CHUNK 8192u          /* drivers per chunk */
#define GEN_SLOTS 6u             /* chunks in flight */
#define GEN_ROW_MAX 8192u        /* room reserved before writing any row */
#define GEN_NAME_MAX 64u         /* bytes of a name, UTF-8 */
#define GEN_WTAB_MAX 256u        /* entries of a weighted table */
#define GEN_MAX_THREADS 16u

/* ---------------------------------------------------------------- PRNG */

static uint64_t
gen_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct gen_rng {
	uint64_t s[4];
};

static void
rng_seed(struct gen_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = gen_mix64(seed) ^ gen_mix64(stream + 0x632be59bd9b4e019ULL);

	for (int i = 0; i < 4; i++) {
		x += 0x9e3779b97f4a7c15ULL;
		r->s[i] = gen_mix64(x);
	}
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** */
static inline uint64_t
rng_next(struct gen_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform in [0, n) (multiply-shift; the bias is below 2^-32). */
static inline uint32_t
rng_below(struct gen_rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static inline int32_t
rng_range(struct gen_rng *r, int32_t lo, int32_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int32_t)rng_below(r, (uint32_t)(hi - lo) + 1);
}

/* True with probability p / 10,000. */
static inline int
rng_chance(struct gen_rng *r, uint32_t p)
{
	return rng_below(r, 10000) < p;
}

/* Index into w[0..n) with probability proportional to w[i] (small n). */
static size_t
rng_pick(struct gen_rng *r, const uint32_t *w, size_t n)
{
	uint32_t total = 0, x;

	for (size_t i = 0; i < n; i++)
		total += w[i];
	x = rng_below(r, total);
	for (size_t i = 0; i < n; i++) {
		if (x < w[i])
			return i;
		x -= w[i];
	}
	return n - 1;
}

/* ------------------------------------------------------ weighted tables */

struct wtab {
	uint32_t cum[GEN_WTAB_MAX];
	uint32_t n;
	uint32_t total;
};

static int
wtab_init(struct wtab *t, const uint32_t *w, size_t stride, size_t n)
{
	const unsigned char *p = (const unsigned char *)w;
	uint32_t acc = 0;

	if (n == 0 || n > GEN_WTAB_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint32_t wi;

		memcpy(&wi, p + i * stride, sizeof wi);
		acc += wi;
		t->cum[i] = acc;
	}
	t->n = (uint32_t)n;
	t->total = acc;
	return acc == 0 ? -1 : 0;
}

static uint32_t
wtab_pick(const struct wtab *t, struct gen_rng *r)
{
	uint32_t x = rng_below(r, t->total), lo = 0, hi = t->n - 1;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (t->cum[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

#define WTAB_INIT(t, arr, n) \
	wtab_init((t), &(arr)[0].w, sizeof((arr)[0]), (n))

/* -------------------------------------------------- keyed permutations */

/*
 * A bijection of [0, dom) built from a balanced Feistel network on the
 * smallest even number of bits that covers dom, applied repeatedly until
 * the value falls inside the domain (cycle walking).
 */
struct gen_perm {
	uint64_t dom;
	unsigned half;
	uint64_t mask;
	uint64_t key[4];
};

static void
perm_init(struct gen_perm *p, uint64_t dom, uint64_t seed, uint64_t tag)
{
	unsigned bits = 2;

	while (bits < 62 && ((uint64_t)1 << bits) < dom)
		bits++;
	if (bits & 1)
		bits++;
	p->dom = dom;
	p->half = bits / 2;
	p->mask = ((uint64_t)1 << p->half) - 1;
	for (int i = 0; i < 4; i++)
		p->key[i] = gen_mix64(seed ^ gen_mix64(tag * 4 + (uint64_t)i + 1));
}

static uint64_t
perm_apply(const struct gen_perm *p, uint64_t x)
{
	do {
		uint64_t l = x >> p->half, rr = x & p->mask;

		for (int i = 0; i < 4; i++) {
			uint64_t t = l ^ (gen_mix64(rr ^ p->key[i]) & p->mask);

			l = rr;
			rr = t;
		}
		x = (l << p->half) | rr;
	} while (x >= p->dom);
	return x;
}

/* ------------------------------------------------------- output buffer */

struct gen_buf {
	char *p;
	size_t len, cap;
};

/* Makes room for n more bytes; 0 or -1. */
static int
buf_reserve(struct gen_buf *b, size_t n)
{
	size_t cap;
	char *np;

	if (b->cap - b->len >= n)
		return 0;
	cap = b->cap ? b->cap : 65536;
	while (cap - b->len < n)
		cap *= 2;
	np = realloc(b->p, cap);
	if (np == NULL)
		return -1;
	b->p = np;
	b->cap = cap;
	return 0;
}

static inline void
put_raw(struct gen_buf *b, const char *s, size_t n)
{
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static inline void
put_c(struct gen_buf *b, char c)
{
	b->p[b->len++] = c;
}

static inline void
put_s(struct gen_buf *b, const char *s)
{
	put_raw(b, s, strlen(s));
}

/* A CSV field: quoted only when it holds a comma, quote, CR or LF. */
static void
put_field(struct gen_buf *b, const char *s)
{
	size_t n = strlen(s);
	int quote = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == ',' || c == '"' || c == '\r' || c == '\n') {
			quote = 1;
			break;
		}
	}
	if (!quote) {
		put_raw(b, s, n);
		return;
	}
	put_c(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			put_c(b, '"');
		put_c(b, s[i]);
	}
	put_c(b, '"');
}

/* Exactly width decimal digits of v (leading zeros). */
static inline void
put_digits(struct gen_buf *b, uint64_t v, unsigned width)
{
	for (unsigned i = width; i > 0; i--) {
		b->p[b->len + i - 1] = (char)('0' + v % 10);
		v /= 10;
	}
	b->len += width;
}

static void
put_u(struct gen_buf *b, uint64_t v)
{
	unsigned w = 1;

	for (uint64_t t = v; t >= 10; t /= 10)
		w++;
	put_digits(b, v, w);
}

static void
put_date(struct gen_buf *b, int32_t days)
{
	int y;
	unsigned m, d;

	util_civil_from_days(days, &y, &m, &d);
	put_digits(b, (uint64_t)y, 4);
	put_c(b, '-');
	put_digits(b, m, 2);
	put_c(b, '-');
	put_digits(b, d, 2);
}

#define SEP(b) put_c((b), ',')
#define EOL(b) put_raw((b), "\r\n", 2)

/* ------------------------------------------------------------- context */

static const char *const eye_names[] = {
	"BLK", "BLU", "BRO", "GRY", "GRN", "HAZ", "MAR", "PNK", "DIC", "UNK"
};
/* per 100,000: light and dark profiles */
static const uint32_t eye_light[] = { 500, 35000, 31000, 3000, 13000, 15000, 700, 2, 300, 1498 };
static const uint32_t eye_dark[] = { 15000, 600, 79000, 300, 700, 3200, 500, 2, 100, 598 };

static const char *const hair_names[] = {
	"BAL", "BLK", "BLN", "BRO", "GRY", "RED", "SDY", "WHI", "UNK"
};
static const uint32_t hair_light[] = { 0, 1200, 2600, 4400, 0, 700, 900, 0, 200 };
static const uint32_t hair_dark[] = { 0, 6400, 100, 3300, 0, 50, 50, 0, 100 };

/* Licensed drivers by age band (US pattern), per 10,000. */
static const struct {
	uint8_t lo, hi;
	uint32_t w;
} age_bands[] = {
	{16, 19, 420}, {20, 24, 790}, {25, 29, 870}, {30, 34, 890},
	{35, 39, 870}, {40, 44, 830}, {45, 49, 800}, {50, 54, 820},
	{55, 59, 850}, {60, 64, 830}, {65, 69, 720}, {70, 74, 560},
	{75, 79, 370}, {80, 84, 220}, {85, 89, 110}, {90, 94, 40}, {95, 100, 10},
};

enum { ST_VALID, ST_SUSPENDED, ST_REVOKED, ST_EXPIRED, ST_CANCELLED };
static const char *const status_names[] = {
	"VALID", "SUSPENDED", "REVOKED", "EXPIRED", "CANCELLED"
};
static const uint32_t status_w[] = { 8800, 380, 120, 600, 100 };

enum { KIND_REAL_ID, KIND_STANDARD, KIND_DPC };
static const char *const kind_names[] = {
	"REAL_ID", "STANDARD", "DRIVER_PRIVILEGE_CARD"
};

/* Documents, in the order they are listed. */
enum {
	DOC_US_PASSPORT = 1 << 0, DOC_US_BIRTH = 1 << 1, DOC_FOREIGN_PASSPORT = 1 << 2,
	DOC_CONSULAR_ID = 1 << 3, DOC_ITIN = 1 << 4, DOC_PRC = 1 << 5,
	DOC_EAD = 1 << 6, DOC_SSN_CARD = 1 << 7, DOC_RESIDENCY = 1 << 8,
};
static const char *const doc_names[] = {
	"US_PASSPORT", "US_BIRTH_CERTIFICATE", "FOREIGN_PASSPORT", "CONSULAR_ID",
	"ITIN_LETTER", "PERMANENT_RESIDENT_CARD", "EMPLOYMENT_AUTHORIZATION",
	"SSN_CARD", "PROOF_OF_RESIDENCY",
};

struct gen_event_kind {
	const char *code;
	const char *desc;
	uint32_t w;
};

static const struct gen_event_kind citations[] = {
	{"VC22350", "Unsafe speed for conditions", 300},
	{"VC22349(a)", "Exceeding 65 mph maximum speed limit", 120},
	{"VC21453(a)", "Failure to stop at red signal", 120},
	{"VC22450(a)", "Failure to stop at stop sign", 100},
	{"VC23123.5(a)", "Using a handheld wireless device while driving", 120},
	{"VC21703", "Following too closely", 40},
	{"VC22107", "Unsafe lane change", 60},
	{"VC21658(a)", "Failure to maintain lane", 40},
	{"VC21801(a)", "Failure to yield when turning left", 40},
	{"VC16028(a)", "Failure to provide evidence of financial responsibility", 60},
	{"VC4000(a)(1)", "Driving an unregistered vehicle", 50},
	{"VC27315(d)(1)", "Seat belt not worn", 60},
	{"VC12500(a)", "Driving without a valid license", 30},
	{"VC14601.1(a)", "Driving while license suspended", 20},
	{"VC23103(a)", "Reckless driving", 20},
	{"VC23152(a)", "Driving under the influence of alcohol or drugs", 30},
	{"VC23152(b)", "Driving with a blood alcohol level of 0.08% or more", 20},
	{"VC20002(a)", "Hit and run, property damage", 10},
	{"VC24252(a)", "Lighting equipment not maintained", 30},
	{"VC26708(a)(1)", "Obstructed windshield or side windows", 20},
};
static const struct gen_event_kind accidents[] = {
	{"VC16000", "Collision reported (SR-1), property damage only", 70},
	{"VC16000", "Collision reported (SR-1), injury", 25},
	{"VC20001(a)", "Collision involving injury, failed to stop", 5},
};
static const struct gen_event_kind suspensions[] = {
	{"VC13353.2", "Administrative per se suspension after DUI arrest", 30},
	{"VC13353", "Suspension for refusing a chemical test", 10},
	{"VC12810.5", "Negligent operator suspension (point count)", 25},
	{"VC16070", "Suspension for no insurance after a collision", 15},
	{"VC13365", "Suspension for failure to appear in court", 20},
};
static const struct gen_event_kind revocations[] = {
	{"VC13352(a)(3)", "Revocation after repeat DUI conviction", 50},
	{"VC13350(a)", "Mandatory revocation after conviction", 35},
	{"VC13351.5", "Revocation for assault with a motor vehicle", 15},
};

static const char *const color_names[] = {
	"BLK", "WHI", "SIL", "GRY", "BLU", "RED", "GRN", "BRO", "BGE", "GLD",
	"YEL", "ORG", "PRP"
};
static const uint32_t color_w[] = {
	200, 230, 130, 170, 90, 90, 20, 20, 15, 10, 7, 6, 2
};

enum { PT_PASSENGER, PT_COMMERCIAL, PT_MOTORCYCLE, PT_TRAILER, PT_PERSONALIZED, PT_COUNT };
static const char *const plate_type_names[PT_COUNT] = {
	"PASSENGER", "COMMERCIAL", "MOTORCYCLE", "TRAILER", "PERSONALIZED"
};

/* VIN characters without I O Q (33); the first 32 make the unique tail. */
static const char vin_chars[] = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ";

struct gen_ctx {
	const struct gen_opts *o;
	uint64_t nchunks;
	uint32_t vmax;                  /* vehicles in any one chunk, at most */
	uint32_t cap[PT_COUNT];         /* rare plate types per chunk */
	int32_t ref;                    /* 2026-01-01 as a day number */
	uint32_t dpc_ppm[16];           /* per group */
	struct wtab groups;
	struct wtab last[16], male[16], female[16], born[16];
	struct wtab cities, suffixes, states, models;
	struct gen_perm lic, photo, ssn, vin;
	struct gen_perm plate[PT_COUNT];
	uint32_t model_age_w[47];
};

/* Driver facts the vehicles of the same chunk need. */
struct gen_person {
	char lic[9];
	char last[GEN_NAME_MAX + 1];
	char first[GEN_NAME_MAX + 1];
	char street[64];
	uint16_t city;
	uint16_t zip;
};

/* One chunk's output. */
struct gen_slot {
	struct gen_buf drv, hist, veh;
	uint64_t nhist, nveh;
	uint64_t chunk;                 /* which chunk it holds or waits for */
	int ready;                      /* filled, waiting for the writer */
	int err;
	struct gen_person *people;      /* GEN_CHUNK entries */
};

/* ------------------------------------------------------------ helpers */

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The same month/day n years later (Feb 29 becomes Feb 28). */
static int32_t
add_years(int32_t days, int n)
{
	int y;
	unsigned m, d;

	util_civil_from_days(days, &y, &m, &d);
	y += n;
	if (m == 2 && d == 29 && !is_leap(y))
		d = 28;
	return util_days_from_civil(y, m, d);
}

static int
year_of(int32_t days)
{
	int y;
	unsigned m, d;

	util_civil_from_days(days, &y, &m, &d);
	return y;
}

/* Whole years from dob to day. */
static int
age_at(int32_t dob, int32_t day)
{
	int y1, y2;
	unsigned m1, d1, m2, d2;

	util_civil_from_days(dob, &y1, &m1, &d1);
	util_civil_from_days(day, &y2, &m2, &d2);
	return y2 - y1 - (m2 < m1 || (m2 == m1 && d2 < d1));
}

/* Birthday (month/day of dob) in year y. */
static int32_t
birthday_in(int32_t dob, int y)
{
	int dy;
	unsigned m, d;

	util_civil_from_days(dob, &dy, &m, &d);
	if (m == 2 && d == 29 && !is_leap(y))
		d = 28;
	return util_days_from_civil(y, m, d);
}

/* Irwin-Hall approximation of a standard normal, scaled by 1000. */
static int32_t
rng_normal1000(struct gen_rng *r)
{
	int32_t s = 0;

	for (int i = 0; i < 4; i++)
		s += (int32_t)rng_below(r, 1000);
	return (s - 2000) * 1000 / 577;
}

static void
copy_name(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n > GEN_NAME_MAX)
		n = GEN_NAME_MAX;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static const char *
pick_str(const struct wtab *t, const struct gen_wstr *arr, struct gen_rng *r)
{
	return arr[wtab_pick(t, r)].s;
}

/* ------------------------------------------------------------ addresses */

static void
make_street(struct gen_rng *r, const struct gen_ctx *c, char out[64])
{
	static const char *const dirs[] = { "N", "S", "E", "W" };
	static const uint32_t num_w[] = { 8, 32, 48, 12 };
	struct gen_buf b = { out, 0, 64 };
	uint32_t num;

	switch (rng_pick(r, num_w, 4)) {
	case 0: num = 1 + rng_below(r, 99); break;
	case 1: num = 100 + rng_below(r, 900); break;
	case 2: num = 1000 + rng_below(r, 9000); break;
	default: num = 10000 + rng_below(r, 20000); break;
	}
	put_u(&b, num);
	put_c(&b, ' ');
	if (rng_chance(r, 1500)) {
		put_s(&b, dirs[rng_below(r, 4)]);
		put_c(&b, ' ');
	}
	put_s(&b, gen_street_names[rng_below(r, (uint32_t)gen_nstreet_names)]);
	put_c(&b, ' ');
	put_s(&b, gen_street_suffixes[wtab_pick(&c->suffixes, r)].s);
	if (rng_chance(r, 2800)) {
		put_s(&b, rng_chance(r, 8000) ? " APT " : " UNIT ");
		put_u(&b, 1 + rng_below(r, rng_chance(r, 7000) ? 40 : 400));
	}
	out[b.len] = '\0';
}

static void
put_zip(struct gen_buf *b, unsigned city, unsigned zip)
{
	put_raw(b, gen_cities[city].zips + 5 * zip, 5);
}

static unsigned
pick_zip(struct gen_rng *r, unsigned city)
{
	return rng_below(r, (uint32_t)(strlen(gen_cities[city].zips) / 5));
}

/* ------------------------------------------------------------- drivers */

struct gen_driver {
	unsigned group;
	char sex;
	int32_t dob;
	int age;                        /* whole years at the reference date */
	unsigned status;
	int32_t issued, expires;
	char last[GEN_NAME_MAX + 1];
	char first[GEN_NAME_MAX + 1];
};

static int32_t
pick_age_days(struct gen_rng *r, int lo_years, int hi_years)
{
	/* days from (reference - hi-1 years) to (reference - lo years) */
	int32_t lo = lo_years * 365 + lo_years / 4 + 31;
	int32_t hi = (hi_years + 1) * 365 + (hi_years + 1) / 4 - 1;

	return rng_range(r, lo, hi);
}

static int32_t
pick_age_band(struct gen_rng *r)
{
	uint32_t w[UTIL_NELEM(age_bands)];
	size_t i;

	for (i = 0; i < UTIL_NELEM(age_bands); i++)
		w[i] = age_bands[i].w;
	i = rng_pick(r, w, UTIL_NELEM(age_bands));
	return pick_age_days(r, age_bands[i].lo, age_bands[i].hi);
}

static void
pick_last(struct gen_rng *r, const struct gen_ctx *c, unsigned g, char *out)
{
	const struct gen_group *gr = &gen_groups[g];
	const char *a = pick_str(&c->last[g], gr->last, r);

	/* Compound Hispanic surnames, hyphenated. */
	if (g == 0 && rng_chance(r, 400)) {
		const char *b2 = pick_str(&c->last[g], gr->last, r);

		if (strcmp(a, b2) != 0 && strchr(a, ' ') == NULL &&
		    strlen(a) + strlen(b2) + 1 <= GEN_NAME_MAX) {
			size_t la = strlen(a), lb = strlen(b2);

			memcpy(out, a, la);
			out[la] = '-';
			memcpy(out + la + 1, b2, lb + 1);
			return;
		}
	}
	copy_name(out, a);
}

static const char *
pick_first(struct gen_rng *r, const struct gen_ctx *c, unsigned g, char sex)
{
	const struct gen_group *gr = &gen_groups[g];

	if (sex == 'X')
		sex = rng_chance(r, 5000) ? 'M' : 'F';
	/* Some first names cross groups. */
	if (g != 1 && rng_chance(r, 800))
		g = 1, gr = &gen_groups[1];
	if (sex == 'M')
		return pick_str(&c->male[g], gr->male, r);
	return pick_str(&c->female[g], gr->female, r);
}

static void
put_codes(struct gen_buf *b, const char *const *names, unsigned mask, unsigned n)
{
	int first = 1;

	for (unsigned i = 0; i < n; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (!first)
			put_c(b, ';');
		put_s(b, names[i]);
		first = 0;
	}
}

struct hist_ev {
	int32_t date;
	const char *kind;
	const struct gen_event_kind *ev;
};

static const struct gen_event_kind *
pick_event(struct gen_rng *r, const struct gen_event_kind *t, size_t n)
{
	uint32_t w[32];

	for (size_t i = 0; i < n && i < 32; i++)
		w[i] = t[i].w;
	return &t[rng_pick(r, w, n < 32 ? n : 32)];
}

/* Writes the history rows of one driver; returns how many. */
static unsigned
gen_history(struct gen_rng *r, const struct gen_ctx *c, const struct gen_driver *d,
    const char *lic, struct gen_buf *b)
{
	static const uint32_t count_w[] = { 7600, 1650, 550, 200 };
	struct hist_ev ev[8];
	unsigned n = 0, k;
	int32_t lo = d->issued, hi = c->ref - 1;

	k = (unsigned)rng_pick(r, count_w, 4);
	for (unsigned i = 0; i < k; i++) {
		ev[n].date = rng_range(r, lo, hi);
		if (rng_chance(r, 7800)) {
			ev[n].kind = "citation";
			ev[n].ev = pick_event(r, citations, UTIL_NELEM(citations));
		} else {
			ev[n].kind = "accident";
			ev[n].ev = pick_event(r, accidents, UTIL_NELEM(accidents));
		}
		n++;
	}
	if (d->status == ST_SUSPENDED || (d->status == ST_VALID && rng_chance(r, 200))) {
		const struct gen_event_kind *s = pick_event(r, suspensions, UTIL_NELEM(suspensions));
		int32_t slo = d->status == ST_SUSPENDED ? c->ref - 700 : lo;
		int32_t date = rng_range(r, slo > lo ? slo : lo, hi);

		if (strncmp(s->code, "VC13353", 7) == 0) {
			ev[n].date = date - rng_range(r, 0, 10);
			if (ev[n].date < lo)
				ev[n].date = lo;
			ev[n].kind = "citation";
			ev[n].ev = &citations[15];      /* VC23152(a) */
			n++;
		}
		ev[n].date = date;
		ev[n].kind = "suspension";
		ev[n].ev = s;
		n++;
	}
	if (d->status == ST_REVOKED) {
		const struct gen_event_kind *v = pick_event(r, revocations, UTIL_NELEM(revocations));
		int32_t date = rng_range(r, lo + (hi - lo) / 3, hi);

		ev[n].date = rng_range(r, lo, date);
		ev[n].kind = "citation";
		ev[n].ev = v == &revocations[2] ? &citations[14] : &citations[16];
		n++;
		ev[n].date = date;
		ev[n].kind = "revocation";
		ev[n].ev = v;
		n++;
	}
	/* insertion sort by date; ties keep their order */
	for (unsigned i = 1; i < n; i++) {
		struct hist_ev t = ev[i];
		unsigned j = i;

		while (j > 0 && ev[j - 1].date > t.date) {
			ev[j] = ev[j - 1];
			j--;
		}
		ev[j] = t;
	}
	for (unsigned i = 0; i < n; i++) {
		put_raw(b, lic, 8);
		SEP(b);
		put_date(b, ev[i].date);
		SEP(b);
		put_s(b, ev[i].kind);
		SEP(b);
		put_field(b, ev[i].ev->code);
		SEP(b);
		put_field(b, ev[i].ev->desc);
		EOL(b);
	}
	return n;
}

/* License and photo numbers: a letter and 7 digits; P and 9 digits. */
static void
make_license(const struct gen_ctx *c, uint64_t idx, char out[9])
{
	uint64_t x = perm_apply(&c->lic, idx);
	struct gen_buf b = { out, 0, 9 };

	put_c(&b, (char)('A' + x / 10000000));
	put_digits(&b, x % 10000000, 7);
	out[8] = '\0';
}

static void
put_ssn(struct gen_buf *b, const struct gen_ctx *c, uint64_t idx)
{
	uint64_t x = perm_apply(&c->ssn, idx);
	uint64_t serial = 1 + x % 9999, group = 1 + (x / 9999) % 99;
	uint64_t area = 1 + x / (9999 * 99);      /* 1..898 */

	if (area >= 666)
		area++;                           /* skip 666: 1..899 */
	put_digits(b, area, 3);
	put_c(b, '-');
	put_digits(b, group, 2);
	put_c(b, '-');
	put_digits(b, serial, 4);
}

/*
 * Writes driver idx's row (and history rows) into slot s.  On entry d
 * holds group, sex, dob, age and names, and p the license number and
 * address; the rest (kind, status, dates, documents...) is drawn here
 * and the status and dates are stored back into d.
 */
static void
gen_driver(struct gen_rng *r, const struct gen_ctx *c, struct gen_slot *s,
    uint64_t idx, struct gen_driver *d, struct gen_person *p)
{
	struct gen_buf *b = &s->drv;
	const struct gen_group *gr = &gen_groups[d->group];
	unsigned kind, cls, restr = 0, endo = 0, docs = 0;
	int foreign;
	const char *born;
	int32_t h10, w, n1, sixteen;
	char middle[GEN_NAME_MAX + 1] = "";
	const char *suffix = "";

	/* kind first: it shapes birthplace and documents */
	kind = rng_below(r, 1000000) < c->dpc_ppm[d->group] ? KIND_DPC :
	    rng_chance(r, 6200) ? KIND_REAL_ID : KIND_STANDARD;

	/* status and dates */
	d->status = (unsigned)rng_pick(r, status_w, UTIL_NELEM(status_w));
	sixteen = add_years(d->dob, 16);
	if (d->status == ST_EXPIRED && sixteen > add_years(c->ref, -6) - 1)
		d->status = ST_VALID;
	if (d->status == ST_EXPIRED) {
		int32_t lo = add_years(c->ref, -15), hi = add_years(c->ref, -6);

		d->issued = rng_range(r, sixteen > lo ? sixteen : lo, hi);
	} else {
		int32_t lo = c->ref - 4 * 365 - 300;

		d->issued = rng_range(r, sixteen > lo ? sixteen : lo, c->ref - 1);
	}
	d->expires = birthday_in(d->dob, year_of(d->issued) + 5);

	/* class, restrictions, endorsements */
	{
		static const uint32_t cls_w[] = { 9400, 250, 150, 200 };
		static const char *const cls_names[] = { "C", "A", "B", "M" };

		cls = (unsigned)rng_pick(r, cls_w, 4);
		if ((cls == 1 || cls == 2) && (d->age < 21 || kind == KIND_DPC))
			cls = 0;
		put_raw(b, p->lic, 8);
		SEP(b);
		put_field(b, d->last);
		SEP(b);
		put_field(b, d->first);
		SEP(b);
		if (rng_chance(r, 5500)) {
			const char *m = pick_first(r, c, d->group, d->sex);

			if (strcmp(m, d->first) != 0)
				copy_name(middle, m);
		}
		put_field(b, middle);
		SEP(b);
		if (d->sex == 'M' && rng_chance(r, 300)) {
			static const char *const suf[] = { "JR", "SR", "II", "III", "IV" };
			static const uint32_t suf_w[] = { 55, 15, 10, 15, 5 };

			suffix = suf[rng_pick(r, suf_w, 5)];
		}
		put_s(b, suffix);
		SEP(b);
		put_date(b, d->dob);
		SEP(b);
		put_c(b, d->sex);
		SEP(b);
		/* height and weight */
		n1 = rng_normal1000(r);
		if (d->sex == 'M' || (d->sex == 'X' && rng_chance(r, 5000))) {
			h10 = 695 + n1 * 30 / 1000;
			w = 192 + rng_normal1000(r) * 38 / 1000 + (h10 - 695) * 5 / 10;
		} else {
			h10 = 640 + n1 * 28 / 1000;
			w = 165 + rng_normal1000(r) * 38 / 1000 + (h10 - 640) * 5 / 10;
		}
		if (d->group == 3 || d->group == 5) {
			h10 -= 25;
			w -= 25;
		}
		h10 = (h10 + 5) / 10;
		put_u(b, (uint64_t)(h10 < 54 ? 54 : h10 > 84 ? 84 : h10));
		SEP(b);
		put_u(b, (uint64_t)(w < 90 ? 90 : w > 350 ? 350 : w));
		SEP(b);
		/* eyes and hair */
		{
			int light = rng_chance(r, gr->light);
			uint32_t hw[UTIL_NELEM(hair_names)];

			put_s(b, eye_names[rng_pick(r, light ? eye_light : eye_dark, 10)]);
			SEP(b);
			memcpy(hw, light ? hair_light : hair_dark, sizeof hw);
			if (d->age >= 45) {
				hw[4] = (uint32_t)(d->age - 40) * 120;      /* GRY */
				hw[7] = d->age >= 65 ? (uint32_t)(d->age - 60) * 90 : 0;
			}
			if (d->sex == 'M' && d->age >= 30)
				hw[0] = (uint32_t)(d->age - 25) * 40;       /* BAL */
			put_s(b, hair_names[rng_pick(r, hw, UTIL_NELEM(hair_names))]);
			SEP(b);
		}
		put_field(b, p->street);
		SEP(b);
		put_field(b, gen_cities[p->city].name);
		SEP(b);
		put_raw(b, "CA,", 3);
		put_zip(b, p->city, p->zip);
		SEP(b);
		put_s(b, cls_names[cls]);
		SEP(b);
		put_s(b, kind_names[kind]);
		SEP(b);
		put_s(b, status_names[d->status]);
		SEP(b);
	}
	/* restrictions: B C D E F G L M N P */
	{
		uint32_t lenses = d->age < 40 ? 2800 : d->age < 60 ? 4800 : 6800;

		if (rng_chance(r, lenses))
			restr |= 1u << 0;                  /* B corrective lenses */
		if (d->age >= 75 && rng_chance(r, 600))
			restr |= 1u << 1;                  /* C mechanical aid */
		if (rng_chance(r, 20))
			restr |= 1u << 2;                  /* D prosthetic aid */
		if (rng_chance(r, 150))
			restr |= 1u << 3;                  /* E automatic transmission */
		if (rng_chance(r, 30))
			restr |= 1u << 4;                  /* F outside mirror */
		if (d->age >= 80 && rng_chance(r, 1500))
			restr |= 1u << 5;                  /* G daylight only */
		if (cls == 1 || cls == 2) {
			if (rng_chance(r, 1200))
				restr |= 1u << 6;          /* L no air brakes */
			if (cls == 1 && rng_chance(r, 500))
				restr |= 1u << 7;          /* M no class A passenger */
			if (cls == 2 && rng_chance(r, 500))
				restr |= 1u << 8;          /* N no class A/B passenger */
		}
		if (d->age < 18 && rng_chance(r, 5000))
			restr |= 1u << 9;                  /* P provisional */
		{
			static const char *const rn[] = { "B", "C", "D", "E", "F", "G", "L", "M", "N", "P" };

			put_codes(b, rn, restr, 10);
		}
		SEP(b);
	}
	/* endorsements: H N P S T X, class A/B only */
	if (cls == 1 || cls == 2) {
		static const char *const en[] = { "H", "N", "P", "S", "T", "X" };

		if (rng_chance(r, 800))
			endo |= 1u << 5;                   /* X = H + N */
		else {
			if (rng_chance(r, 1500))
				endo |= 1u << 0;
			if (rng_chance(r, 2000))
				endo |= 1u << 1;
		}
		if (rng_chance(r, 2000))
			endo |= 1u << 2;
		if (cls == 2 && rng_chance(r, 800))
			endo |= 1u << 3;
		if (cls == 1 && rng_chance(r, 2500))
			endo |= 1u << 4;
		put_codes(b, en, endo, 6);
	}
	SEP(b);
	put_date(b, d->issued);
	SEP(b);
	put_date(b, d->expires);
	SEP(b);
	if (!rng_chance(r, 40)) {
		put_c(b, 'P');
		put_digits(b, perm_apply(&c->photo, idx), 9);
	}
	SEP(b);
	/* ssn, place_of_birth, documents */
	if (kind == KIND_DPC) {
		foreign = 1;
	} else {
		foreign = rng_chance(r, gr->foreign_born);
		put_ssn(b, c, idx);
	}
	SEP(b);
	if (foreign)
		born = pick_str(&c->born[d->group], gr->born, r);
	else if (rng_chance(r, 7000))
		born = "CALIFORNIA, USA";
	else
		born = pick_str(&c->states, gen_us_states, r);
	put_field(b, born);
	SEP(b);
	if (kind == KIND_DPC) {
		int consular = d->group == 0 ? rng_chance(r, 5500) : rng_chance(r, 1000);

		if (!consular || rng_chance(r, 3500))
			docs |= DOC_FOREIGN_PASSPORT;
		if (consular)
			docs |= DOC_CONSULAR_ID;
		if (rng_chance(r, 6000))
			docs |= DOC_ITIN;
		docs |= DOC_RESIDENCY;
	} else {
		if (!foreign)
			docs |= rng_chance(r, kind == KIND_REAL_ID ? 3500 : 2500) ?
			    DOC_US_PASSPORT : DOC_US_BIRTH;
		else if (rng_chance(r, kind == KIND_REAL_ID ? 5500 : 4000))
			docs |= DOC_US_PASSPORT;          /* naturalized */
		else if (kind == KIND_REAL_ID || rng_chance(r, 6000))
			docs |= DOC_PRC | (rng_chance(r, 3000) ? DOC_FOREIGN_PASSPORT : 0);
		else
			docs |= DOC_EAD | DOC_FOREIGN_PASSPORT;
		docs |= DOC_SSN_CARD;
		if (kind == KIND_REAL_ID)
			docs |= DOC_RESIDENCY;
	}
	put_codes(b, doc_names, docs, UTIL_NELEM(doc_names));
	EOL(b);

	s->nhist += gen_history(r, c, d, p->lic, &s->hist);
}

/* ------------------------------------------------------------ vehicles */

static void
make_vin(struct gen_rng *r, const struct gen_ctx *c, const struct gen_model *m,
    int year, uint64_t vidx, char out[18])
{
	uint64_t x = perm_apply(&c->vin, vidx);

	memcpy(out, m->wmi, 3);
	for (int i = 3; i < 7; i++)
		out[i] = vin_chars[rng_below(r, 33)];
	/* position 7: a letter for 2010+ model years, a digit before */
	out[6] = year >= 2010 ? vin_chars[10 + rng_below(r, 23)] : vin_chars[rng_below(r, 10)];
	out[7] = vin_chars[x % 32];
	out[8] = '0';
	out[9] = vin_year_code(year);
	out[10] = vin_chars[(x / 32) % 32];
	x /= 1024;
	for (int i = 16; i >= 11; i--) {
		out[i] = (char)('0' + x % 10);
		x /= 10;
	}
	out[17] = '\0';
	out[8] = vin_check_digit(out, 17);
}

/* Writes plate for type t from index x (inside that type's domain). */
static void
put_plate(struct gen_buf *b, unsigned t, uint64_t x)
{
	switch (t) {
	case PT_COMMERCIAL:      /* 1A23456 */
		put_c(b, (char)('1' + x % 9));
		x /= 9;
		put_c(b, (char)('A' + x % 26));
		x /= 26;
		put_digits(b, x, 5);
		break;
	case PT_MOTORCYCLE:      /* 12A3456 */
		put_digits(b, 10 + x % 90, 2);
		x /= 90;
		put_c(b, (char)('A' + x % 26));
		x /= 26;
		put_digits(b, x, 4);
		break;
	case PT_TRAILER:         /* 1AB2345 */
		put_c(b, (char)('1' + x % 9));
		x /= 9;
		put_c(b, (char)('A' + x % 26));
		x /= 26;
		put_c(b, (char)('A' + x % 26));
		x /= 26;
		put_digits(b, x, 4);
		break;
	default:                 /* PASSENGER 1ABC234 */
		put_c(b, (char)('1' + x % 9));
		x /= 9;
		for (int i = 0; i < 3; i++) {
			put_c(b, (char)('A' + x % 26));
			x /= 26;
		}
		put_digits(b, x, 3);
		break;
	}
}

static const uint64_t plate_dom[PT_COUNT] = {
	9ull * 26 * 26 * 26 * 1000, 9ull * 26 * 100000, 90ull * 26 * 10000,
	9ull * 26 * 26 * 10000, 0
};

/*
 * A personalized plate for per-type index k: a word of letters, then k's
 * quotient in decimal without leading zeros (or nothing), so distinct k
 * give distinct plates and none has a standard format (those start with
 * a digit).  Returns 0, or -1 when it would exceed 7 characters.
 */
static int
make_vanity(uint64_t k, char out[8])
{
	const char *w = gen_vanity_words[k % gen_nvanity_words];
	uint64_t q = k / gen_nvanity_words;
	size_t wl = strlen(w), ql = 0;
	struct gen_buf b = { out, 0, 8 };

	for (uint64_t t = q; t > 0; t /= 10)
		ql++;
	if (wl + ql > 7)
		return -1;
	put_raw(&b, w, wl);
	if (q > 0)
		put_digits(&b, q, (unsigned)ql);
	out[b.len] = '\0';
	return 0;
}

static void
gen_vehicles(struct gen_rng *r, const struct gen_ctx *c, struct gen_slot *s,
    uint64_t ndrivers, uint64_t vbeg, uint64_t vend)
{
	uint32_t count[PT_COUNT] = { 0 };
	struct gen_buf *b = &s->veh;

	for (uint64_t v = vbeg; v < vend; v++) {
		const struct gen_model *m = &gen_models[wtab_pick(&c->models, r)];
		const struct gen_person *p = &s->people[rng_below(r, (uint32_t)ndrivers)];
		uint32_t company_p, age;
		int company, year;
		unsigned t;
		char vin[18], vanity[8];
		uint64_t pidx = v;
		int32_t pexp;
		unsigned regst;

		switch (m->body) {
		case GEN_TRUCK: company_p = 8500; break;
		case GEN_TRAILER: company_p = 4000; break;
		case GEN_VAN: company_p = 2500; break;
		case GEN_PICKUP: company_p = 1200; break;
		case GEN_SEDAN: case GEN_COUPE: case GEN_SUV: case GEN_WAGON:
		case GEN_HATCHBACK: case GEN_CONVERTIBLE: case GEN_MOTORCYCLE:
		case GEN_BODY_COUNT:
		default: company_p = 200; break;
		}
		company = rng_chance(r, company_p);

		age = (uint32_t)rng_pick(r, c->model_age_w, UTIL_NELEM(c->model_age_w));
		year = GEN_REF_YEAR - (int)age;
		if (year < m->year_min)
			year = rng_range(r, m->year_min, m->year_min + 4 > m->year_max ?
			    m->year_max : m->year_min + 4);
		if (year > m->year_max)
			year = rng_range(r, m->year_max - 3 < m->year_min ? m->year_min :
			    m->year_max - 3, m->year_max);

		switch (m->body) {
		case GEN_MOTORCYCLE: t = PT_MOTORCYCLE; break;
		case GEN_TRAILER: t = PT_TRAILER; break;
		case GEN_TRUCK: t = PT_COMMERCIAL; break;
		case GEN_PICKUP: case GEN_VAN:
			t = company || rng_chance(r, 500) ? PT_COMMERCIAL :
			    rng_chance(r, 300) ? PT_PERSONALIZED : PT_PASSENGER;
			break;
		case GEN_SEDAN: case GEN_COUPE: case GEN_SUV: case GEN_WAGON:
		case GEN_HATCHBACK: case GEN_CONVERTIBLE: case GEN_BODY_COUNT:
		default:
			t = !company && rng_chance(r, 450) ? PT_PERSONALIZED : PT_PASSENGER;
			break;
		}
		if (t != PT_PASSENGER) {
			if (count[t] >= c->cap[t]) {
				t = PT_PASSENGER;
			} else {
				/* an index is used once, even when it gives no plate */
				pidx = s->chunk * c->cap[t] + count[t]++;
				if (t == PT_PERSONALIZED ?
				    make_vanity(perm_apply(&c->plate[t], pidx), vanity) != 0 :
				    pidx >= plate_dom[t])
					t = PT_PASSENGER, pidx = v;
			}
		}

		/* plate, plate_state, plate_type, plate_expires */
		if (t == PT_PERSONALIZED)
			put_s(b, vanity);
		else
			put_plate(b, t, perm_apply(&c->plate[t], pidx));
		put_raw(b, ",CA,", 4);
		put_s(b, plate_type_names[t]);
		SEP(b);
		{
			static const uint32_t reg_w[] = { 8800, 900, 300 };

			regst = (unsigned)rng_pick(r, reg_w, 3);
			if (regst == 0)
				pexp = rng_range(r, c->ref, c->ref + 364);
			else if (regst == 1) {
				/* not before the model year's sales began */
				int32_t lo = util_days_from_civil(year - 1, 10, 1);

				if (lo < c->ref - 730)
					lo = c->ref - 730;
				if (lo > c->ref - 30)
					lo = c->ref - 30;
				pexp = rng_range(r, lo, c->ref - 1);
			}
			else
				pexp = rng_range(r, c->ref - 180, c->ref + 364);
		}
		put_date(b, pexp);
		SEP(b);
		make_vin(r, c, m, year, v, vin);
		put_raw(b, vin, 17);
		SEP(b);
		put_field(b, m->make);
		SEP(b);
		put_field(b, m->model);
		SEP(b);
		put_u(b, (uint64_t)year);
		SEP(b);
		put_s(b, color_names[rng_pick(r, color_w, UTIL_NELEM(color_w))]);
		SEP(b);
		put_s(b, gen_body_names[m->body]);
		SEP(b);
		if (company) {
			char street[64], name[96];
			unsigned city = wtab_pick(&c->cities, r);
			struct gen_buf nb = { name, 0, sizeof name };

			make_street(r, c, street);
			put_s(&nb, gen_company_words[rng_below(r, (uint32_t)gen_ncompany_words)]);
			put_c(&nb, ' ');
			put_s(&nb, gen_company_kinds[rng_below(r, (uint32_t)gen_ncompany_kinds)]);
			name[nb.len] = '\0';
			SEP(b);
			put_field(b, name);
			SEP(b);
			put_field(b, street);
			SEP(b);
			put_field(b, gen_cities[city].name);
			put_raw(b, ",CA,", 4);
			put_zip(b, city, pick_zip(r, city));
		} else {
			put_raw(b, p->lic, 8);
			SEP(b);
			put_c(b, '"');          /* "LAST, FIRST" always has a comma */
			put_s(b, p->last);
			put_raw(b, ", ", 2);
			put_s(b, p->first);
			put_c(b, '"');
			SEP(b);
			put_field(b, p->street);
			SEP(b);
			put_field(b, gen_cities[p->city].name);
			put_raw(b, ",CA,", 4);
			put_zip(b, p->city, p->zip);
		}
		SEP(b);
		put_s(b, regst == 0 ? "CURRENT" : regst == 1 ? "EXPIRED" : "SUSPENDED");
		EOL(b);
		s->nveh++;
		if (buf_reserve(b, GEN_ROW_MAX) != 0) {
			s->err = ENOMEM;
			return;
		}
	}
}

/* --------------------------------------------------------------- chunks */

/* Fills slot s with chunk k.  Sets s->err on allocation failure. */
static void
gen_chunk(const struct gen_ctx *c, struct gen_slot *s, uint64_t k)
{
	const struct gen_opts *o = c->o;
	uint64_t beg = k * GEN_CHUNK, end = beg + GEN_CHUNK, n;
	struct gen_rng r;
	uint64_t i;

	if (end > o->drivers)
		end = o->drivers;
	n = end - beg;
	s->drv.len = s->hist.len = s->veh.len = 0;
	s->nhist = s->nveh = 0;
	s->err = 0;
	rng_seed(&r, o->seed, k);

	for (i = beg; i < end;) {
		static const uint32_t hh_w[] = { 2800, 3300, 1700, 1300, 650, 250 };
		unsigned size = (unsigned)rng_pick(&r, hh_w, 6) + 1, roommates;
		struct gen_person *head = &s->people[i - beg];
		struct gen_driver hd = { 0 };

		if (size > end - i)
			size = (unsigned)(end - i);
		roommates = size > 1 && rng_chance(&r, 1800);
		head->city = (uint16_t)wtab_pick(&c->cities, &r);
		head->zip = (uint16_t)pick_zip(&r, head->city);
		make_street(&r, c, head->street);

		for (unsigned m = 0; m < size; m++, i++) {
			struct gen_person *p = &s->people[i - beg];
			struct gen_driver d = { 0 };
			int32_t age_days;

			if (buf_reserve(&s->drv, GEN_ROW_MAX) != 0 ||
			    buf_reserve(&s->hist, GEN_ROW_MAX) != 0) {
				s->err = ENOMEM;
				return;
			}
			if (m > 0) {
				memcpy(p->street, head->street, sizeof p->street);
				p->city = head->city;
				p->zip = head->zip;
			}
			make_license(c, i, p->lic);
			d.group = m == 0 || roommates || rng_chance(&r, 1000) ?
			    wtab_pick(&c->groups, &r) : hd.group;
			{
				uint32_t r10000 = rng_below(&r, 10000);

				d.sex = r10000 < 10 ? 'X' : r10000 < 4950 ? 'M' : 'F';
			}
			if (m == 1 && !roommates && hd.sex != 'X' && rng_chance(&r, 8500))
				d.sex = hd.sex == 'M' ? 'F' : 'M';
			/* ages: a couple close in age, then grown children */
			if (m == 0 || roommates) {
				age_days = size >= 3 && !roommates && m == 0 ?
				    pick_age_days(&r, 36, 76) : pick_age_band(&r);
			} else if (m == 1) {
				age_days = (hd.age * 365) + rng_range(&r, -6 * 365, 6 * 365);
				if (age_days < 18 * 365 + 40)
					age_days = 18 * 365 + 40 + rng_range(&r, 0, 700);
			} else if (hd.age >= 38 && rng_chance(&r, 5000)) {
				int hi = hd.age - 20 < 35 ? hd.age - 20 : 35;

				age_days = pick_age_days(&r, 16, hi);
			} else {
				age_days = pick_age_band(&r);
			}
			if (age_days > 100 * 365 + 24)
				age_days = 100 * 365 + 24 - rng_range(&r, 0, 300);
			d.dob = c->ref - age_days;
			d.age = age_at(d.dob, c->ref);
			/* names */
			if (m == 0 || roommates || (m == 1 && rng_chance(&r, 3000)) ||
			    d.group != hd.group)
				pick_last(&r, c, d.group, d.last);
			else
				memcpy(d.last, hd.last, sizeof d.last);
			copy_name(d.first, pick_first(&r, c, d.group, d.sex));

			gen_driver(&r, c, s, i, &d, p);
			memcpy(p->last, d.last, sizeof p->last);
			memcpy(p->first, d.first, sizeof p->first);
			if (m == 0)
				hd = d;
		}
	}

	if (o->vehicles > 0) {
		uint64_t vb = o->vehicles * beg / o->drivers;
		uint64_t ve = o->vehicles * end / o->drivers;

		if (buf_reserve(&s->veh, GEN_ROW_MAX) != 0) {
			s->err = ENOMEM;
			return;
		}
		gen_vehicles(&r, c, s, n, vb, ve);
	}
}

/* ------------------------------------------------------------- threads */

struct gen_run_state {
	const struct gen_ctx *c;
	struct gen_slot slots[GEN_SLOTS];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t next;                  /* next chunk to hand out */
	int stop;
};

static void *
gen_worker(void *arg)
{
	struct gen_run_state *st = arg;

	for (;;) {
		uint64_t k;
		struct gen_slot *s;

		pthread_mutex_lock(&st->mu);
		if (st->stop || st->next >= st->c->nchunks) {
			pthread_mutex_unlock(&st->mu);
			break;
		}
		k = st->next++;
		s = &st->slots[k % GEN_SLOTS];
		while (!st->stop && (s->chunk != k || s->ready))
			pthread_cond_wait(&st->cv, &st->mu);
		if (st->stop) {
			pthread_mutex_unlock(&st->mu);
			break;
		}
		pthread_mutex_unlock(&st->mu);

		gen_chunk(st->c, s, k);

		pthread_mutex_lock(&st->mu);
		s->ready = 1;
		pthread_cond_broadcast(&st->cv);
		pthread_mutex_unlock(&st->mu);
	}
	return NULL;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
open_out(const char *dir, const char *name, char **pathp)
{
	char *path = util_aprintf("%s/%s", dir, name);
	int fd;

	*pathp = path;
	if (path == NULL)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		util_warn("gen: cannot create %s", path);
	return fd;
}

/* Header of columns first..last of field.h, CRLF-terminated. */
static void
put_header(struct gen_buf *b, int first, int last)
{
	for (int f = first; f <= last; f++) {
		if (f != first)
			SEP(b);
		put_s(b, field_info[f].name);
	}
	EOL(b);
}

/* ------------------------------------------------------------ the run */

void
gen_opts_default(struct gen_opts *o, uint64_t drivers)
{
	memset(o, 0, sizeof *o);
	o->drivers = drivers;
	o->vehicles = gen_default_vehicles(drivers);
	o->seed = 1;
	o->dpc_ppm = 100000;
	o->threads = 2;
}

uint64_t
gen_default_vehicles(uint64_t drivers)
{
	return (drivers * 105 + 50) / 100;
}

static int
ctx_init(struct gen_ctx *c, const struct gen_opts *o)
{
	uint64_t rmax = 0;

	c->o = o;
	c->ref = util_days_from_civil(GEN_REF_YEAR, 1, 1);
	c->nchunks = (o->drivers + GEN_CHUNK - 1) / GEN_CHUNK;
	c->vmax = (uint32_t)((o->vehicles * GEN_CHUNK + o->drivers - 1) / o->drivers + 1);
	for (unsigned t = 1; t < PT_COUNT; t++)
		c->cap[t] = c->vmax / 8 + 64;
	c->cap[0] = c->vmax;
	if (gen_ngroups > 16 ||
	    wtab_init(&c->groups, &gen_groups[0].share, sizeof gen_groups[0], gen_ngroups) != 0)
		return -1;
	for (size_t g = 0; g < gen_ngroups; g++) {
		const struct gen_group *gr = &gen_groups[g];

		if (WTAB_INIT(&c->last[g], gr->last, gr->nlast) != 0 ||
		    WTAB_INIT(&c->male[g], gr->male, gr->nmale) != 0 ||
		    WTAB_INIT(&c->female[g], gr->female, gr->nfemale) != 0 ||
		    WTAB_INIT(&c->born[g], gr->born, gr->nborn) != 0)
			return -1;
		if (gr->dpc_share * 10000ull / gr->share > rmax)
			rmax = gr->dpc_share * 10000ull / gr->share;
	}
	if (wtab_init(&c->cities, &gen_cities[0].pop_k, sizeof gen_cities[0], gen_ncities) != 0 ||
	    WTAB_INIT(&c->suffixes, gen_street_suffixes, gen_nstreet_suffixes) != 0 ||
	    WTAB_INIT(&c->states, gen_us_states, gen_nus_states) != 0 ||
	    WTAB_INIT(&c->models, gen_models, gen_nmodels) != 0)
		return -1;
	/*
	 * Share of DPC holders per group: P * R_g with R_g = dpc_share/share,
	 * blended toward a flat P (by L ppm) when a group would pass 100%, so
	 * the population mean stays P.
	 */
	{
		uint64_t p = o->dpc_ppm, l = 0;

		if (p * rmax > 10000000000ull && rmax > 10000)
			l = (p * rmax - 10000000000ull) * 1000000ull / (p * (rmax - 10000));
		for (size_t g = 0; g < gen_ngroups; g++) {
			uint64_t rg = gen_groups[g].dpc_share * 10000ull / gen_groups[g].share;
			uint64_t q = p * ((1000000 - l) * rg + l * 10000) / 10000000000ull;

			c->dpc_ppm[g] = (uint32_t)(q > 1000000 ? 1000000 : q);
		}
	}
	/* vehicle ages: California's fleet averages about 11 years */
	for (unsigned a = 0; a < UTIL_NELEM(c->model_age_w); a++)
		c->model_age_w[a] = a == 0 ? 450 : a <= 10 ? 600 : a <= 15 ? 480 :
		    a <= 20 ? 330 : a <= 25 ? 170 : a <= 30 ? 80 : 25;
	perm_init(&c->lic, 26ull * 10000000, o->seed, 1);
	perm_init(&c->photo, 1000000000ull, o->seed, 2);
	perm_init(&c->ssn, 898ull * 99 * 9999, o->seed, 3);
	perm_init(&c->vin, 1024ull * 1000000, o->seed, 4);
	for (unsigned t = 0; t < PT_PERSONALIZED; t++)
		perm_init(&c->plate[t], plate_dom[t], o->seed, 10 + t);
	perm_init(&c->plate[PT_PERSONALIZED], c->nchunks * c->cap[PT_PERSONALIZED],
	    o->seed, 10 + PT_PERSONALIZED);
	return 0;
}

int
gen_run(const struct gen_opts *o, struct gen_stats *stp)
{
	struct gen_ctx *c = NULL;
	struct gen_run_state *st = NULL;
	struct gen_stats stats = { 0 };
	struct util_progress prog;
	pthread_t tid[GEN_MAX_THREADS];
	unsigned nthreads = 0, want;
	int fd[3] = { -1, -1, -1 };
	char *path[3] = { NULL, NULL, NULL };
	static const char *const names[3] = { "drivers.csv", "history.csv", "vehicles.csv" };
	int rc = -1, mu_ok = 0;
	struct gen_buf hdr = { 0 };

	if (o->drivers < 1 || o->drivers > GEN_MAX_DRIVERS) {
		util_errx("gen: --drivers must be 1..%u", GEN_MAX_DRIVERS);
		return -1;
	}
	if (o->vehicles > GEN_MAX_VEHICLES || o->vehicles > o->drivers * 10 + 1000) {
		util_errx("gen: --vehicles must be at most 10 x drivers + 1000 and %u",
		    GEN_MAX_VEHICLES);
		return -1;
	}
	if (o->dpc_ppm > 1000000 || o->outdir == NULL) {
		util_errx("gen: bad options");
		return -1;
	}
	if (util_mkdirs(o->outdir, 0755) != 0) {
		util_warn("gen: cannot create %s", o->outdir);
		return -1;
	}
	c = util_calloc(1, sizeof *c);
	st = util_calloc(1, sizeof *st);
	if (c == NULL || st == NULL)
		goto out;
	if (ctx_init(c, o) != 0) {
		util_errx("gen: internal table error");
		goto out;
	}
	for (int f = 0; f < 3; f++) {
		fd[f] = open_out(o->outdir, names[f], &path[f]);
		if (fd[f] < 0)
			goto out;
	}
	/* headers */
	if (buf_reserve(&hdr, 4096) != 0)
		goto oom;
	put_header(&hdr, FIELD_LICENSE_NUMBER, FIELD_DOCUMENTS);
	if (write_all(fd[0], hdr.p, hdr.len) != 0)
		goto werr0;
	stats.bytes += hdr.len;
	hdr.len = 0;
	put_s(&hdr, "license_number,date,kind,code,description\r\n");
	if (write_all(fd[1], hdr.p, hdr.len) != 0)
		goto werr1;
	stats.bytes += hdr.len;
	hdr.len = 0;
	put_header(&hdr, FIELD_PLATE, FIELD_REGISTRATION_STATUS);
	if (write_all(fd[2], hdr.p, hdr.len) != 0)
		goto werr2;
	stats.bytes += hdr.len;

	st->c = c;
	for (unsigned i = 0; i < GEN_SLOTS; i++) {
		st->slots[i].chunk = i;
		st->slots[i].people = util_calloc(GEN_CHUNK, sizeof(struct gen_person));
		if (st->slots[i].people == NULL)
			goto out;
	}
	if (pthread_mutex_init(&st->mu, NULL) != 0)
		goto out;
	if (pthread_cond_init(&st->cv, NULL) != 0) {
		pthread_mutex_destroy(&st->mu);
		goto out;
	}
	mu_ok = 1;

	want = o->threads < 1 ? 1 : o->threads > GEN_MAX_THREADS ? GEN_MAX_THREADS : o->threads;
	for (; nthreads < want; nthreads++) {
		if (pthread_create(&tid[nthreads], NULL, gen_worker, st) != 0)
			break;
	}
	if (nthreads == 0) {
		util_errx("gen: cannot start a thread");
		goto out;
	}

	util_progress_init(&prog, "gen", o->drivers);
	prog.enabled = prog.enabled && o->progress;
	for (uint64_t k = 0; k < c->nchunks; k++) {
		struct gen_slot *s = &st->slots[k % GEN_SLOTS];
		int e;

		pthread_mutex_lock(&st->mu);
		while (!s->ready)
			pthread_cond_wait(&st->cv, &st->mu);
		pthread_mutex_unlock(&st->mu);
		if (s->err) {
			util_errx("gen: out of memory");
			goto stop;
		}
		e = write_all(fd[0], s->drv.p, s->drv.len) != 0 ? 0 :
		    write_all(fd[1], s->hist.p, s->hist.len) != 0 ? 1 :
		    write_all(fd[2], s->veh.p, s->veh.len) != 0 ? 2 : -1;
		if (e >= 0) {
			util_warn("gen: write %s", path[e]);
			goto stop;
		}
		stats.bytes += s->drv.len + s->hist.len + s->veh.len;
		stats.history += s->nhist;
		stats.vehicles += s->nveh;
		stats.drivers = (k + 1) * GEN_CHUNK < o->drivers ? (k + 1) * GEN_CHUNK : o->drivers;
		util_progress_update(&prog, stats.drivers);

		pthread_mutex_lock(&st->mu);
		s->ready = 0;
		s->chunk = k + GEN_SLOTS;
		pthread_cond_broadcast(&st->cv);
		pthread_mutex_unlock(&st->mu);
	}
	util_progress_done(&prog);
	rc = 0;
	goto join;
oom:
	util_errx("gen: out of memory");
	goto out;
werr0:
	util_warn("gen: write %s", path[0]);
	goto out;
werr1:
	util_warn("gen: write %s", path[1]);
	goto out;
werr2:
	util_warn("gen: write %s", path[2]);
	goto out;
stop:
	util_progress_done(&prog);
	pthread_mutex_lock(&st->mu);
	st->stop = 1;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
join:
	for (unsigned t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);
out:
	for (int f = 0; f < 3; f++) {
		if (fd[f] >= 0 && close(fd[f]) != 0 && rc == 0) {
			util_warn("gen: close %s", path[f]);
			rc = -1;
		}
		free(path[f]);
	}
	if (st != NULL) {
		if (mu_ok) {
			pthread_cond_destroy(&st->cv);
			pthread_mutex_destroy(&st->mu);
		}
		for (unsigned i = 0; i < GEN_SLOTS; i++) {
			free(st->slots[i].drv.p);
			free(st->slots[i].hist.p);
			free(st->slots[i].veh.p);
			free(st->slots[i].people);
		}
	}
	free(hdr.p);
	free(st);
	free(c);
	if (rc == 0 && stp != NULL)
		*stp = stats;
	return rc;
}
