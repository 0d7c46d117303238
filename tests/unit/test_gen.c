/*
 * Unit tests for gen.c: determinism (same seed same bytes, any thread
 * count; another seed other bytes), row and field counts, vocabularies,
 * the DRIVER_PRIVILEGE_CARD share and the documents/SSN that go with it,
 * valid and unique VINs, plate formats per type, households.  The files
 * are read back with a small RFC 4180 splitter of the test's own.
 */
#include "testutil.h"

#include <regex.h>

#include "gen.h"
#include "util.h"
#include "vin.h"

#define MAXF 32

/* One CSV file in memory and a cursor over its records. */
struct rd {
	char *buf;
	size_t len, pos;
	char *f[MAXF];      /* fields of the current record (NUL-terminated) */
	int n;
	char scratch[8192];
};

static void
rd_open(struct rd *r, const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	memset(r, 0, sizeof *r);
	assert_int_equal(util_read_file(path, (size_t)1 << 30, &r->buf, &r->len), 0);
}

/* Next record into r->f / r->n; 0 at end of file. */
static int
rd_next(struct rd *r)
{
	size_t o = 0;

	if (r->pos >= r->len)
		return 0;
	r->n = 0;
	for (;;) {
		int quoted = 0;

		assert_true(r->n < MAXF);
		r->f[r->n++] = r->scratch + o;
		if (r->pos < r->len && r->buf[r->pos] == '"') {
			quoted = 1;
			r->pos++;
		}
		for (;;) {
			char c;

			assert_true(r->pos < r->len);
			c = r->buf[r->pos];
			if (quoted) {
				if (c == '"') {
					if (r->pos + 1 < r->len && r->buf[r->pos + 1] == '"') {
						r->scratch[o++] = '"';
						r->pos += 2;
						continue;
					}
					quoted = 0;
					r->pos++;
					continue;
				}
			} else if (c == ',' || c == '\r') {
				break;
			} else {
				/* unquoted fields never hold a quote or LF */
				assert_true(c != '"' && c != '\n');
			}
			r->scratch[o++] = c;
			r->pos++;
			assert_true(o < sizeof r->scratch - 1);
		}
		r->scratch[o++] = '\0';
		if (r->buf[r->pos] == ',') {
			r->pos++;
			continue;
		}
		/* CRLF ends the record */
		assert_true(r->pos + 1 < r->len && r->buf[r->pos + 1] == '\n');
		r->pos += 2;
		return 1;
	}
}

static void
rd_close(struct rd *r)
{
	free(r->buf);
}

static int
in_list(const char *s, const char *list)
{
	size_t n = strlen(s);

	for (const char *p = list; *p;) {
		const char *e = strchr(p, ' ');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && memcmp(p, s, n) == 0)
			return 1;
		p += l;
		if (*p == ' ')
			p++;
	}
	return 0;
}

/* Every ';'-separated code of s is in list (s may be empty). */
static int
codes_in(const char *s, const char *list)
{
	char tmp[512], *save = NULL;

	if (*s == '\0')
		return 1;
	snprintf(tmp, sizeof tmp, "%s", s);
	for (char *t = strtok_r(tmp, ";", &save); t; t = strtok_r(NULL, ";", &save))
		if (!in_list(t, list))
			return 0;
	return 1;
}

static int
has_code(const char *s, const char *code)
{
	char tmp[512], *save = NULL;

	snprintf(tmp, sizeof tmp, "%s", s);
	for (char *t = strtok_r(tmp, ";", &save); t; t = strtok_r(NULL, ";", &save))
		if (strcmp(t, code) == 0)
			return 1;
	return 0;
}

static int
matches(const char *re, const char *s)
{
	regex_t rx;
	int ok;

	assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
	ok = regexec(&rx, s, 0, NULL, 0) == 0;
	regfree(&rx);
	return ok;
}

static char *
run_gen(uint64_t drivers, uint64_t seed, unsigned threads, uint32_t dpc_ppm,
    struct gen_stats *st)
{
	struct gen_opts o;
	char *dir = test_tmpdir();

	gen_opts_default(&o, drivers);
	o.seed = seed;
	o.threads = threads;
	o.dpc_ppm = dpc_ppm;
	o.outdir = dir;
	assert_int_equal(gen_run(&o, st), 0);
	return dir;
}

static int
same_file(const char *d1, const char *d2, const char *name)
{
	struct rd a, b;
	int same;

	rd_open(&a, d1, name);
	rd_open(&b, d2, name);
	same = a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0;
	rd_close(&a);
	rd_close(&b);
	return same;
}

static void
test_gen_deterministic(void **state)
{
	struct gen_stats s1, s2, s3, s4;
	char *a = run_gen(20000, 42, 1, 100000, &s1);
	char *b = run_gen(20000, 42, 4, 100000, &s2);
	char *c = run_gen(20000, 43, 2, 100000, &s3);
	char *d = run_gen(20000, 42, 2, 100000, &s4);

	(void)state;
	assert_true(same_file(a, b, "drivers.csv"));
	assert_true(same_file(a, b, "history.csv"));
	assert_true(same_file(a, b, "vehicles.csv"));
	assert_true(same_file(a, d, "drivers.csv"));
	assert_true(same_file(a, d, "vehicles.csv"));
	assert_false(same_file(a, c, "drivers.csv"));
	assert_false(same_file(a, c, "vehicles.csv"));
	assert_int_equal(s1.bytes, s2.bytes);
	assert_int_equal(s1.history, s2.history);
	assert_int_not_equal(s1.bytes, s3.bytes);
	test_rmtree(a);
	test_rmtree(b);
	test_rmtree(c);
	test_rmtree(d);
}

static void
test_gen_drivers(void **state)
{
	static const char hdr[] = "license_number,last_name,first_name,middle_name,suffix,"
	    "dob,sex,height_in,weight_lb,eye_color,hair_color,street,city,state,zip,"
	    "license_class,license_kind,status,restrictions,endorsements,issued,expires,"
	    "photo_id,ssn,place_of_birth,documents\r\n";
	struct gen_stats st;
	char *dir = run_gen(30000, 7, 2, 100000, &st);
	struct rd r;
	uint64_t rows = 0, dpc = 0, accented = 0, hyphen = 0, apostrophe = 0, space = 0;

	(void)state;
	assert_int_equal(st.drivers, 30000);
	rd_open(&r, dir, "drivers.csv");
	assert_true(r.len > sizeof hdr && memcmp(r.buf, hdr, sizeof hdr - 1) == 0);
	assert_int_equal(util_utf8_valid(r.buf, r.len), 0);
	assert_true(rd_next(&r));
	while (rd_next(&r)) {
		char **f = r.f;
		int32_t dob, issued, expires;

		rows++;
		assert_int_equal(r.n, 26);
		for (int i = 0; i < r.n; i++) {
			assert_true(strlen(f[i]) <= 128);
			for (const char *p = f[i]; *p; p++)
				assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
		}
		assert_true(matches("^[A-Z][0-9]{7}$", f[0]));
		assert_true(strlen(f[1]) > 0 && strlen(f[1]) <= 64);
		assert_true(strlen(f[2]) > 0 && strlen(f[2]) <= 64);
		assert_true(strlen(f[3]) <= 64);
		accented += strstr(f[1], "\xc3") != NULL || strstr(f[2], "\xc3") != NULL;
		hyphen += strchr(f[1], '-') != NULL;
		apostrophe += strchr(f[1], '\'') != NULL;
		space += strchr(f[1], ' ') != NULL;
		assert_true(in_list(f[4], "JR SR II III IV") || f[4][0] == '\0');
		assert_int_equal(util_date_parse(f[5], strlen(f[5]), &dob), 0);
		assert_true(in_list(f[6], "M F X"));
		assert_true(atoi(f[7]) >= 54 && atoi(f[7]) <= 84);
		assert_true(atoi(f[8]) >= 90 && atoi(f[8]) <= 350);
		assert_true(in_list(f[9], "BLK BLU BRO GRY GRN HAZ MAR PNK DIC UNK"));
		assert_true(in_list(f[10], "BAL BLK BLN BRO GRY RED SDY WHI UNK"));
		assert_true(matches("^[0-9]+ [A-Z0-9 ]+$", f[11]));
		assert_true(strlen(f[12]) > 0);
		assert_string_equal(f[13], "CA");
		assert_true(matches("^9[0-9]{4}$", f[14]));
		assert_true(in_list(f[15], "A B C M"));
		assert_true(in_list(f[16], "REAL_ID STANDARD DRIVER_PRIVILEGE_CARD"));
		assert_true(in_list(f[17], "VALID SUSPENDED REVOKED EXPIRED CANCELLED"));
		assert_true(codes_in(f[18], "B C D E F G L M N P"));
		assert_true(codes_in(f[19], "H N P S T X"));
		if (f[19][0] != '\0')
			assert_true(in_list(f[15], "A B"));
		assert_int_equal(util_date_parse(f[20], strlen(f[20]), &issued), 0);
		assert_int_equal(util_date_parse(f[21], strlen(f[21]), &expires), 0);
		assert_true(issued <= expires);
		assert_true(issued >= dob + 16 * 365);
		assert_true(f[22][0] == '\0' || matches("^P[0-9]{9}$", f[22]));
		assert_true(codes_in(f[25], "US_PASSPORT US_BIRTH_CERTIFICATE FOREIGN_PASSPORT "
		    "CONSULAR_ID ITIN_LETTER PERMANENT_RESIDENT_CARD EMPLOYMENT_AUTHORIZATION "
		    "SSN_CARD PROOF_OF_RESIDENCY"));
		assert_true(has_code(f[25], "PROOF_OF_RESIDENCY") ||
		    strcmp(f[16], "STANDARD") == 0);
		if (strcmp(f[16], "DRIVER_PRIVILEGE_CARD") == 0) {
			dpc++;
			assert_string_equal(f[23], "");
			assert_true(has_code(f[25], "FOREIGN_PASSPORT") ||
			    has_code(f[25], "CONSULAR_ID"));
			assert_false(has_code(f[25], "SSN_CARD"));
			assert_false(has_code(f[25], "US_PASSPORT"));
			assert_null(strstr(f[24], ", USA"));
		} else {
			assert_true(matches("^[0-9]{3}-[0-9]{2}-[0-9]{4}$", f[23]));
			assert_false(strncmp(f[23], "000", 3) == 0 || strncmp(f[23], "666", 3) == 0 ||
			    f[23][0] == '9');
			assert_false(strncmp(f[23] + 4, "00", 2) == 0);
			assert_false(strcmp(f[23] + 7, "0000") == 0);
			assert_true(has_code(f[25], "SSN_CARD"));
			assert_true(has_code(f[25], "US_PASSPORT") ||
			    has_code(f[25], "US_BIRTH_CERTIFICATE") ||
			    has_code(f[25], "PERMANENT_RESIDENT_CARD") ||
			    has_code(f[25], "EMPLOYMENT_AUTHORIZATION"));
			if (strstr(f[24], ", USA") != NULL)
				assert_true(has_code(f[25], "US_PASSPORT") ||
				    has_code(f[25], "US_BIRTH_CERTIFICATE"));
		}
	}
	assert_int_equal(rows, 30000);
	/* ~10% driver privilege cards */
	assert_true(dpc >= 2550 && dpc <= 3450);
	assert_true(accented > 300);
	assert_true(hyphen > 10);
	assert_true(apostrophe > 5);
	assert_true(space > 10);
	rd_close(&r);
	test_rmtree(dir);
}

static void
count_dpc(uint32_t ppm, uint64_t *dpc, uint64_t *rows)
{
	char *dir = run_gen(20000, 3, 2, ppm, NULL);
	struct rd r;

	*dpc = *rows = 0;
	rd_open(&r, dir, "drivers.csv");
	assert_true(rd_next(&r));
	while (rd_next(&r)) {
		(*rows)++;
		*dpc += strcmp(r.f[16], "DRIVER_PRIVILEGE_CARD") == 0;
	}
	rd_close(&r);
	test_rmtree(dir);
}

static void
test_gen_dpc_share(void **state)
{
	uint64_t dpc, rows;

	(void)state;
	count_dpc(0, &dpc, &rows);
	assert_int_equal(rows, 20000);
	assert_int_equal(dpc, 0);
	count_dpc(500000, &dpc, &rows);
	assert_true(dpc >= 9400 && dpc <= 10600);
	count_dpc(1000000, &dpc, &rows);
	assert_int_equal(dpc, 20000);
}

/* Sorts strings for duplicate detection. */
static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_gen_vehicles(void **state)
{
	static const char hdr[] = "plate,plate_state,plate_type,plate_expires,vin,make,"
	    "model,model_year,color,body_style,owner_license_number,owner_name,"
	    "owner_street,owner_city,owner_state,owner_zip,registration_status\r\n";
	struct gen_stats st;
	char *dir = run_gen(20000, 11, 2, 100000, &st);
	struct rd r;
	uint64_t rows = 0, owned = 0, types[5] = { 0 };
	char **plates, **vins;

	(void)state;
	assert_int_equal(st.vehicles, 21000);
	plates = calloc(21000, sizeof *plates);
	vins = calloc(21000, sizeof *vins);
	assert_non_null(plates);
	assert_non_null(vins);
	rd_open(&r, dir, "vehicles.csv");
	assert_true(memcmp(r.buf, hdr, sizeof hdr - 1) == 0);
	assert_true(rd_next(&r));
	while (rd_next(&r)) {
		char **f = r.f;
		int year = atoi(f[7]);

		assert_int_equal(r.n, 17);
		assert_true(rows < 21000);
		if (strcmp(f[2], "PASSENGER") == 0) {
			types[0]++;
			assert_true(matches("^[1-9][A-Z]{3}[0-9]{3}$", f[0]));
		} else if (strcmp(f[2], "COMMERCIAL") == 0) {
			types[1]++;
			assert_true(matches("^[1-9][A-Z][0-9]{5}$", f[0]));
		} else if (strcmp(f[2], "MOTORCYCLE") == 0) {
			types[2]++;
			assert_true(matches("^[0-9]{2}[A-Z][0-9]{4}$", f[0]));
		} else if (strcmp(f[2], "TRAILER") == 0) {
			types[3]++;
			assert_true(matches("^[1-9][A-Z]{2}[0-9]{4}$", f[0]));
		} else {
			assert_string_equal(f[2], "PERSONALIZED");
			types[4]++;
			assert_true(matches("^[A-Z0-9]{2,7}$", f[0]));
		}
		assert_string_equal(f[1], "CA");
		assert_true(vin_valid(f[4], strlen(f[4])));
		assert_true(year >= 1980 && year <= 2026);
		assert_int_equal(f[4][9], vin_year_code(year));
		assert_true(in_list(f[8], "BLK WHI SIL GRY BLU RED GRN BRO BGE GLD YEL ORG PRP"));
		assert_true(in_list(f[9], "SEDAN COUPE SUV PICKUP VAN WAGON HATCHBACK "
		    "CONVERTIBLE MOTORCYCLE TRAILER TRUCK"));
		if (f[10][0] != '\0') {
			owned++;
			assert_true(matches("^[A-Z][0-9]{7}$", f[10]));
			assert_non_null(strstr(f[11], ", "));
		}
		assert_true(strlen(f[11]) > 0);
		assert_string_equal(f[14], "CA");
		assert_true(matches("^9[0-9]{4}$", f[15]));
		assert_true(in_list(f[16], "CURRENT EXPIRED SUSPENDED"));
		plates[rows] = strdup(f[0]);
		vins[rows] = strdup(f[4]);
		rows++;
	}
	assert_int_equal(rows, 21000);
	for (int t = 0; t < 5; t++)
		assert_true(types[t] > 0);
	assert_true(owned > rows * 8 / 10);
	qsort(plates, rows, sizeof *plates, cmp_str);
	qsort(vins, rows, sizeof *vins, cmp_str);
	for (uint64_t i = 1; i < rows; i++) {
		assert_string_not_equal(plates[i - 1], plates[i]);
		assert_string_not_equal(vins[i - 1], vins[i]);
	}
	for (uint64_t i = 0; i < rows; i++) {
		free(plates[i]);
		free(vins[i]);
	}
	free(plates);
	free(vins);
	rd_close(&r);
	test_rmtree(dir);
}

static void
test_gen_history_and_households(void **state)
{
	struct gen_stats st;
	char *dir = run_gen(10000, 5, 2, 100000, &st);
	struct rd r;
	char **lic, prev[16] = "";
	char last_addr[160] = "";
	uint64_t rows = 0, i = 0, run = 1, big = 0;
	size_t cur = 0;

	(void)state;
	lic = calloc(10000, sizeof *lic);
	assert_non_null(lic);
	rd_open(&r, dir, "drivers.csv");
	assert_true(rd_next(&r));
	while (rd_next(&r)) {
		char a[160];

		lic[i++] = strdup(r.f[0]);
		/* households are written together: count runs of one address */
		snprintf(a, sizeof a, "%s|%s|%s", r.f[11], r.f[12], r.f[14]);
		if (strcmp(a, last_addr) == 0) {
			if (++run == 3)
				big++;
		} else {
			run = 1;
		}
		memcpy(last_addr, a, sizeof a);
	}
	rd_close(&r);
	assert_int_equal(i, 10000);
	assert_true(big > 100);     /* many addresses with 3+ residents */

	/* history follows drivers.csv order, grouped per driver */
	rd_open(&r, dir, "history.csv");
	assert_true(rd_next(&r));
	assert_string_equal(r.f[0], "license_number");
	while (rd_next(&r)) {
		assert_int_equal(r.n, 5);
		rows++;
		if (strcmp(r.f[0], prev) != 0) {
			while (cur < i && strcmp(lic[cur], r.f[0]) != 0)
				cur++;
			assert_true(cur < i);
			snprintf(prev, sizeof prev, "%s", r.f[0]);
		}
		assert_true(in_list(r.f[2], "citation accident suspension revocation"));
		assert_true(strlen(r.f[3]) > 0 && strlen(r.f[3]) <= 16);
		assert_true(strlen(r.f[4]) <= 128);
		assert_true(strcmp(r.f[1], "2026-01-01") < 0);
	}
	assert_int_equal(rows, st.history);
	assert_true(rows >= 3000 && rows <= 6000);   /* 0.3-0.6 per driver */
	rd_close(&r);
	for (i = 0; i < 10000; i++)
		free(lic[i]);
	free(lic);
	test_rmtree(dir);
}

static void
test_gen_small_and_limits(void **state)
{
	struct gen_opts o;
	struct gen_stats st;
	char *dir = test_tmpdir();

	(void)state;
	gen_opts_default(&o, 1);
	assert_int_equal(o.vehicles, 1);
	assert_int_equal(gen_default_vehicles(1000000), 1050000);
	assert_int_equal(gen_default_vehicles(10), 11);     /* 10.5 rounds up */
	o.outdir = dir;
	assert_int_equal(gen_run(&o, &st), 0);
	assert_int_equal(st.drivers, 1);
	assert_int_equal(st.vehicles, 1);
	o.vehicles = 0;
	assert_int_equal(gen_run(&o, &st), 0);
	assert_int_equal(st.vehicles, 0);
	o.drivers = 0;
	assert_int_equal(gen_run(&o, &st), -1);
	o.drivers = 10;
	o.vehicles = 5000;
	assert_int_equal(gen_run(&o, &st), -1);
	o.vehicles = 10;
	o.dpc_ppm = 1000001;
	assert_int_equal(gen_run(&o, &st), -1);
	test_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gen_deterministic),
		cmocka_unit_test(test_gen_drivers),
		cmocka_unit_test(test_gen_dpc_share),
		cmocka_unit_test(test_gen_vehicles),
		cmocka_unit_test(test_gen_history_and_households),
		cmocka_unit_test(test_gen_small_and_limits),
	};

	return cmocka_run_group_tests_name("gen", tests, NULL, NULL);
}
