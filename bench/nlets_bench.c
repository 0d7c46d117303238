/*
 * nlets_bench.c - cost of the Nlets text codec per message: parsing a DQ
 * (by OLN and by NAM/DOB/SEX) or an RQ (by LIC/LIY/LIT and by VIN) into a
 * struct query, and encoding the DR / RR of the records it finds under the
 * law-enforcement release.  Keys are sampled from the CSV files a records.db was imported from; the
 * store lookup is timed too, for scale (median of several passes).
 *
 *   build/rel/nlets_bench DIR/records.db CSVDIR [samples]
 *
 * CSVDIR holds the drivers.csv and vehicles.csv the database was imported
 * from; keys are sampled from them (reservoir sampling, fixed seed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "field.h"
#include "nlets.h"
#include "norm.h"
#include "query.h"
#include "store.h"
#include "util.h"

#define MAXS 20000
#define PASSES 7
#define MSG_MAX 160

struct msgs {
	char text[MAXS][MSG_MAX];
	char home[MAXS][3];
	int n;
};

static struct msgs kinds[4];
static const char *const kind_names[4] = { "DQ by OLN", "DQ by NAM/DOB/SEX", "RQ by LIC/LIY/LIT",
	"RQ by VIN" };

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
ascii_alnum(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return 0;
	return 1;
}


/* Reservoir sampling: the slot for the i-th candidate (0-based), or NULL. */
static char *
reservoir(struct msgs *m, long i, int want, const char *home)
{
	static char scratch[MSG_MAX];
	static uint64_t rng = 88172645463325252ull;
	long j;

	if (m->n < want) {
		memcpy(m->home[m->n], home, 3);
		return m->text[m->n++];
	}
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	j = (long)(rng % (uint64_t)(i + 1));
	if (j >= want)
		return scratch;
	memcpy(m->home[j], home, 3);
	return m->text[j];
}

/* A CSV field as a NUL-terminated string (truncated to sz). */
static void
fcopy(char *dst, size_t sz, const struct csv_field *f)
{
	size_t n = f->len < sz - 1 ? f->len : sz - 1;

	memcpy(dst, f->p, n);
	dst[n] = '\0';
}

/* Samples keys from the CSV files the records.db was imported from. */
static int
sample(const char *csvdir, int want)
{
	char path[1024], lic[40], last[64], first[64], raw[128], dob[16], plate[40], ps[3], vin[40];
	const struct csv_field *f;
	size_t n;
	struct csv *c;
	long i = 0, named = 0;
	int r;

	snprintf(path, sizeof path, "%s/drivers.csv", csvdir);
	if ((c = csv_open(path)) == NULL)
		return -1;
	(void)csv_next(c, &f, &n);   /* header */
	while ((r = csv_next(c, &f, &n)) != 0) {
		size_t fl;

		if (r < 0 || n < 6)
			continue;
		fcopy(lic, sizeof lic, &f[0]);
		snprintf(reservoir(&kinds[0], i, want, "CA"), MSG_MAX,
		    "DQ.CA0340000.CA.*BENCH1.TXT\r\nOLN/%s.PUR/C.ATN/DET J RIVERA", lic);
		i++;
		fcopy(raw, sizeof raw, &f[2]);
		fl = strcspn(raw, " ");
		if (norm_name(f[1].p, f[1].len, last, sizeof last) <= 0 ||
		    norm_name(raw, fl, first, sizeof first) <= 0 || !ascii_alnum(last) ||
		    !ascii_alnum(first) || strlen(last) + strlen(first) > 29 || f[5].len != 10)
			continue;
		fcopy(raw, sizeof raw, &f[5]);
		snprintf(dob, sizeof dob, "%.4s%.2s%.2s", raw, raw + 5, raw + 8);
		snprintf(reservoir(&kinds[1], named, want, "CA"), MSG_MAX,
		    "DQ.CA0340000.CA.TXT\r\nNAM/%s,%s.DOB/%s.SEX/M.PUR/C.ATN/OFC M LEE", last, first, dob);
		named++;
	}
	csv_close(c);

	snprintf(path, sizeof path, "%s/vehicles.csv", csvdir);
	if ((c = csv_open(path)) == NULL)
		return -1;
	(void)csv_next(c, &f, &n);
	i = 0;
	while ((r = csv_next(c, &f, &n)) != 0) {
		if (r < 0 || n < 5)
			continue;
		fcopy(plate, sizeof plate, &f[0]);
		fcopy(ps, sizeof ps, &f[1]);
		fcopy(vin, sizeof vin, &f[4]);
		if (strlen(plate) <= 10 && ascii_alnum(plate) && strlen(ps) == 2)
			snprintf(reservoir(&kinds[2], i, want, ps), MSG_MAX,
			    "RQ.CA0340000.%s.TXT\r\nLIC/%s.LIY/2027.LIT/PC.PUR/C.ATN/OFC M LEE", ps, plate);
		snprintf(reservoir(&kinds[3], i, want, "CA"), MSG_MAX,
		    "RQ.CA0340000.NL.TXT\r\nVIN/%s.PUR/C.ATN/OFC M LEE", vin);
		i++;
	}
	csv_close(c);
	return 0;
}

struct enc {
	struct nlets_writer *w;
	int driver;
	field_mask rel;
	uint64_t ns;
};

static int
encode_row(void *arg, const struct store_row *row)
{
	struct enc *e = arg;
	uint64_t t = util_mono_ns();

	if (e->driver)
		nlets_encode_driver(e->w, row, e->rel);
	else
		nlets_encode_vehicle(e->w, row, e->rel);
	e->ns += util_mono_ns() - t;
	return 0;
}

static int
noop_row(void *arg, const struct store_row *row)
{
	(void)arg;
	(void)row;
	return 0;
}

int
main(int argc, char **argv)
{
	static char out[NLETS_RESPONSE_MAX];
	struct store *s;
	int n = argc > 3 ? atoi(argv[3]) : 10000;
	field_mask drv = (FIELD_MASK_DRIVER & ~FIELD_MASK_SENSITIVE & ~FIELD_BIT(FIELD_PHOTO_ID)) |
	    FIELD_BIT(FIELD_HISTORY);
	field_mask veh = FIELD_MASK_VEHICLE;

	if (argc < 3 || n < 1 || n > MAXS) {
		fprintf(stderr, "usage: nlets_bench RECORDS.DB CSVDIR [samples<=%d]\n", MAXS);
		return 2;
	}
	if (sample(argv[2], n) < 0 || kinds[0].n == 0 || (s = store_open(argv[1], 1)) == NULL) {
		fprintf(stderr, "nlets_bench: cannot read %s\n", argv[1]);
		return 1;
	}
	printf("%-18s %9s %9s %9s %9s %9s %7s %6s\n", "message", "parse", "encode", "parse+enc",
	    "enc-nohis", "lookup", "bytes", "found");
	for (int k = 0; k < 4; k++) {
		struct msgs *m = &kinds[k];
		double parse_us[PASSES], enc_us[PASSES], look_us[PASSES], nh_us[PASSES];
		long found = 0, bytes = 0, bad = 0;

		if (m->n == 0)
			continue;
		for (int p = 0; p < PASSES; p++) {
			uint64_t tparse = 0, tenc = 0, tlook = 0, tnh = 0;

			for (int i = 0; i < m->n; i++) {
				struct nlets_msg msg;
				struct nlets_writer w;
				struct store_query sq;
				struct enc e;
				uint64_t t0 = util_mono_ns(), t1;
				int r;

				if (nlets_parse(m->text[i], strlen(m->text[i]), m->home[i], &msg) != NLETS_OK) {
					bad++;
					continue;
				}
				tparse += util_mono_ns() - t0;
				query_to_store(&msg.q, &sq);

				/* lookup alone, for scale */
				t1 = util_mono_ns();
				r = store_find(s, &sq, msg.key == NLETS_DQ ? drv : veh, 10, noop_row, NULL);
				tlook += util_mono_ns() - t1;

				/* encode: header, rows (timed inside the callback), end */
				e.w = &w;
				e.driver = msg.key == NLETS_DQ;
				e.rel = e.driver ? drv : veh;
				e.ns = 0;
				t1 = util_mono_ns();
				nlets_writer_init(&w, out, sizeof out);
				nlets_begin(&w, &msg);
				e.ns += util_mono_ns() - t1;
				r = store_find(s, &sq, e.rel, 10, encode_row, &e);
				t1 = util_mono_ns();
				if (r == 0)
					nlets_encode_not_on_file(&w);
				r = nlets_finish(&w, 123456789);
				e.ns += util_mono_ns() - t1;
				tenc += e.ns;

				/* encode again without the history (its events are a
				 * second SQLite query, run from inside the encoder) */
				e.rel &= ~FIELD_BIT(FIELD_HISTORY);
				e.ns = 0;
				nlets_writer_init(&w, out, sizeof out);
				nlets_begin(&w, &msg);
				(void)store_find(s, &sq, e.rel, 10, encode_row, &e);
				tnh += e.ns;
				if (p == 0) {
					found += w.records > 0;
					bytes += r > 0 ? r : 0;
				}
			}
			parse_us[p] = (double)tparse / 1e3 / m->n;
			enc_us[p] = (double)tenc / 1e3 / m->n;
			look_us[p] = (double)tlook / 1e3 / m->n;
			nh_us[p] = (double)tnh / 1e3 / m->n;
		}
		qsort(parse_us, PASSES, sizeof parse_us[0], cmp_double);
		qsort(enc_us, PASSES, sizeof enc_us[0], cmp_double);
		qsort(look_us, PASSES, sizeof look_us[0], cmp_double);
		qsort(nh_us, PASSES, sizeof nh_us[0], cmp_double);
		printf("%-18s %7.2fus %7.2fus %7.2fus %7.2fus %7.2fus %7ld %6ld%s\n", kind_names[k],
		    parse_us[PASSES / 2], enc_us[PASSES / 2], parse_us[PASSES / 2] + enc_us[PASSES / 2],
		    nh_us[PASSES / 2], look_us[PASSES / 2], m->n ? bytes / m->n : 0, found,
		    bad ? "  (some messages did not parse!)" : "");
	}
	printf("(median of %d passes; %d, %d, %d, %d messages; encode includes reading the history\n"
	    " events through the store, enc-nohis leaves history out; lookup = store_find alone;\n"
	    " bytes = mean response size)\n",
	    PASSES, kinds[0].n, kinds[1].n, kinds[2].n, kinds[3].n);
	store_close(s);
	return 0;
}
