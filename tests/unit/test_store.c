/*
 * Unit tests for the record store: import of small extracts (valid rows,
 * bad rows, duplicates, strict mode, atomic replacement) and lookups by
 * every key, with the sensitive table read only when the mask asks.
 */
#include "testutil.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include "field.h"
#include "store.h"
#include "util.h"
#include "vin.h"

#define DHDR "license_number,last_name,first_name,middle_name,suffix,dob,sex,height_in," \
	     "weight_lb,eye_color,hair_color,street,city,state,zip,license_class,license_kind," \
	     "status,restrictions,endorsements,issued,expires,photo_id,ssn,place_of_birth,documents\r\n"
#define HHDR "license_number,date,kind,code,description\r\n"
#define VHDR "plate,plate_state,plate_type,plate_expires,vin,make,model,model_year,color," \
	     "body_style,owner_license_number,owner_name,owner_street,owner_city,owner_state," \
	     "owner_zip,registration_status\r\n"

static void
write_file(const char *dir, const char *name, const char *text)
{
	char *p = util_aprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

/* A valid VIN: a fixed pattern with its check digit computed. */
static void
make_vin(char vin[18], int serial)
{
	snprintf(vin, 18, "1HGCM826%c3A%06d", '0', serial);
	vin[8] = vin_check_digit(vin, 17);
}

struct fixture {
	char *dir, *csvdir, *db;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	char drivers[4096], vehicles[2048], v1[18], v2[18];

	fx->dir = test_tmpdir();
	fx->csvdir = util_aprintf("%s/csv", fx->dir);
	fx->db = util_aprintf("%s/records.db", fx->dir);
	mkdir(fx->csvdir, 0700);
	snprintf(drivers, sizeof drivers, "%s%s%s%s%s", DHDR,
	    "D1234567,García-López,José,Luis,JR,1980-02-29,M,70,180,BRO,BLK,123 Main Street Apt 4,"
	    "Los Angeles,CA,90012,C,REAL_ID,VALID,B,,2020-01-02,2028-02-29,P000000001,"
	    "123-45-6789,\"CALIFORNIA, USA\",US_PASSPORT;SSN_CARD;PROOF_OF_RESIDENCY\r\n",
	    "D7654321,Nguyễn,Thi,,,1990-05-05,F,63,120,BRO,BLK,123 MAIN ST APT 4,LOS ANGELES,CA,"
	    "90012,C,DRIVER_PRIVILEGE_CARD,VALID,,,2021-03-04,2025-05-05,P000000002,,"
	    "\"HANOI, VIETNAM\",FOREIGN_PASSPORT;PROOF_OF_RESIDENCY\r\n",
	    /* bad rows: a bad date, then a duplicate license number */
	    "D1111111,Smith,Ann,,,1990-02-30,F,63,120,BRO,BLK,1 A St,Fresno,CA,93701,C,STANDARD,"
	    "VALID,,,2021-03-04,2025-05-05,,,,\r\n",
	    "D1234567,Dup,Row,,,1990-01-01,F,63,120,BRO,BLK,1 A St,Fresno,CA,93701,C,STANDARD,"
	    "VALID,,,2021-03-04,2025-05-05,,,,\r\n");
	write_file(fx->csvdir, "drivers.csv", drivers);
	write_file(fx->csvdir, "history.csv", HHDR
	    "D1234567,2022-07-01,citation,VC22350,Unsafe speed\r\n"
	    "D1234567,2023-01-15,accident,ACC,Property damage only\r\n"
	    "D9999999,2023-01-15,citation,VC22350,No such driver\r\n");
	make_vin(v1, 1);
	make_vin(v2, 2);
	snprintf(vehicles, sizeof vehicles, VHDR
	    "7ABC123,CA,PASSENGER,2027-01-01,%s,HONDA,ACCORD,2003,SIL,SEDAN,D1234567,"
	    "\"GARCIA-LOPEZ, JOSE\",123 Main St Apt 4,Los Angeles,CA,90012,CURRENT\r\n"
	    "8XYZ999,CA,PASSENGER,2027-01-01,%s,HONDA,CIVIC,2003,BLK,SEDAN,,ACME INC,"
	    "1 Industrial Way,Fresno,CA,93701,CURRENT\r\n"
	    "9BAD000,CA,PASSENGER,2027-01-01,1HGCM82633A004353,HONDA,CIVIC,2003,BLK,SEDAN,,X,"
	    "1 Industrial Way,Fresno,CA,93701,CURRENT\r\n", v1, v2);
	write_file(fx->csvdir, "vehicles.csv", vehicles);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	free(fx->csvdir);
	free(fx->db);
	test_rmtree(fx->dir);
	free(fx);
	return 0;
}

static void
do_import(struct fixture *fx)
{
	struct store_import_stats st;

	assert_int_equal(store_import(fx->db, fx->csvdir, 0, &st), 0);
	assert_int_equal(st.drivers, 2);
	assert_int_equal(st.history, 2);
	assert_int_equal(st.vehicles, 2);
	assert_int_equal(st.rejected, 4); /* bad date, duplicate, unknown driver, bad VIN */
}

struct got {
	int n;
	char lic[8][32];
	int has_kind, has_ssn, has_history;
	int nevents;
};

static int
count_event(void *arg, const struct store_event *ev)
{
	struct got *g = arg;

	assert_non_null(ev->date);
	g->nevents++;
	return 0;
}

static int
collect(void *arg, const struct store_row *r)
{
	struct got *g = arg;
	size_t len;
	const char *v = store_row_get(r, FIELD_LICENSE_NUMBER, &len);

	if (v == NULL)
		v = store_row_get(r, FIELD_PLATE, &len);
	if (v != NULL && g->n < 8)
		snprintf(g->lic[g->n], sizeof g->lic[0], "%.*s", (int)len, v);
	if (store_row_get(r, FIELD_LICENSE_KIND, &len) != NULL)
		g->has_kind = 1;
	if (store_row_get(r, FIELD_SSN, &len) != NULL)
		g->has_ssn = 1;
	store_row_history(r, count_event, g);
	g->n++;
	return 0;
}

static void
test_import_and_lookups(void **state)
{
	struct fixture *fx = *state;
	struct store *s;
	struct store_query q;
	struct got g;
	field_mask pub = FIELD_MASK_DRIVER & ~FIELD_MASK_SENSITIVE;

	do_import(fx);
	s = store_open(fx->db, 1);
	assert_non_null(s);
	assert_int_equal(store_count(s, STORE_DRIVER), 2);
	assert_int_equal(store_count(s, STORE_VEHICLE), 2);

	/* by license, public fields only: the sensitive table is not read */
	memset(&q, 0, sizeof q);
	memset(&g, 0, sizeof g);
	q.type = STORE_DRIVER;
	q.by = STORE_BY_LICENSE;
	q.license_number = "D1234567";
	assert_int_equal(store_find(s, &q, pub, 10, collect, &g), 1);
	assert_string_equal(g.lic[0], "D1234567");
	assert_false(g.has_kind);
	assert_false(g.has_ssn);
	assert_int_equal(g.nevents, 0);

	/* with sensitive fields and history in the mask */
	memset(&g, 0, sizeof g);
	assert_int_equal(store_find(s, &q, pub | FIELD_MASK_SENSITIVE | FIELD_BIT(FIELD_HISTORY),
	    10, collect, &g), 1);
	assert_true(g.has_kind);
	assert_true(g.has_ssn);
	assert_int_equal(g.nevents, 2);

	/* many history lookups: the store builds its map of drivers with
	 * events on the way (after 256); answers are the same before and after */
	q.license_number = "D7654321";                 /* no events */
	for (int i = 0; i < 600; i++) {
		memset(&g, 0, sizeof g);
		q.license_number = i % 2 ? "D7654321" : "D1234567";
		assert_int_equal(store_find(s, &q, pub | FIELD_BIT(FIELD_HISTORY), 10, collect, &g), 1);
		assert_int_equal(g.nevents, i % 2 ? 0 : 2);
	}
	q.license_number = "D1234567";

	/* not found */
	memset(&g, 0, sizeof g);
	q.license_number = "D0000000";
	assert_int_equal(store_find(s, &q, pub, 10, collect, &g), 0);

	/* by name + dob, normalized */
	memset(&g, 0, sizeof g);
	q.by = STORE_BY_NAME_DOB;
	q.last_name = "GARCIA LOPEZ";
	q.first_name = "jose";
	q.dob = "1980-02-29";
	assert_int_equal(store_find(s, &q, pub, 10, collect, &g), 1);
	assert_string_equal(g.lic[0], "D1234567");
	q.dob = "1980-03-01";
	assert_int_equal(store_find(s, &q, pub, 10, collect, &g), 0);

	/* by address: a household of two; the cap limits the rows */
	memset(&g, 0, sizeof g);
	q.by = STORE_BY_ADDRESS;
	q.street = "123 main street, apartment 4";
	q.city = "Los Angeles";
	q.zip = "90012";
	assert_int_equal(store_find(s, &q, pub, 10, collect, &g), 2);
	assert_int_equal(store_find(s, &q, pub, 1, collect, &g), 1);

	/* by license kind */
	memset(&g, 0, sizeof g);
	q.by = STORE_BY_LICENSE_KIND;
	q.license_kind = "DRIVER_PRIVILEGE_CARD";
	assert_int_equal(store_find(s, &q, pub, 10, collect, &g), 1);
	assert_string_equal(g.lic[0], "D7654321");

	/* vehicles by plate (normalized) and by VIN */
	memset(&q, 0, sizeof q);
	memset(&g, 0, sizeof g);
	q.type = STORE_VEHICLE;
	q.by = STORE_BY_PLATE;
	q.plate = "7abc-123";
	q.plate_state = "CA";
	assert_int_equal(store_find(s, &q, FIELD_MASK_VEHICLE, 10, collect, &g), 1);
	assert_string_equal(g.lic[0], "7ABC123");
	q.by = STORE_BY_VIN;
	{
		char v[18];
		make_vin(v, 2);
		q.vin = v;
		assert_int_equal(store_find(s, &q, FIELD_MASK_VEHICLE, 10, collect, &g), 1);
	}
	/* a vehicle cannot be asked for by name */
	q.by = STORE_BY_NAME_DOB;
	assert_int_equal(store_find(s, &q, FIELD_MASK_VEHICLE, 10, collect, &g), -1);
	store_close(s);
}

struct pob {
	char v[64];
	int ssn;
};

static int
get_pob(void *arg, const struct store_row *r)
{
	struct pob *p = arg;
	size_t len;
	const char *v = store_row_get(r, FIELD_PLACE_OF_BIRTH, &len);

	snprintf(p->v, sizeof p->v, "%.*s", (int)len, v ? v : "");
	p->ssn = store_row_get(r, FIELD_SSN, &len) != NULL;
	return 0;
}

/* A holder without an SSN: the empty field keeps its place in the record. */
static void
test_sensitive_empty_fields(void **state)
{
	struct fixture *fx = *state;
	struct store_query q = { .type = STORE_DRIVER, .by = STORE_BY_LICENSE,
		.license_number = "D7654321" };
	struct pob p;
	struct store *s;

	do_import(fx);
	s = store_open(fx->db, 1);
	assert_non_null(s);
	memset(&p, 0, sizeof p);
	assert_int_equal(store_find(s, &q, FIELD_MASK_SENSITIVE, 1, get_pob, &p), 1);
	assert_string_equal(p.v, "HANOI, VIETNAM");
	assert_false(p.ssn);
	store_close(s);
}

/*
 * Lookup keys are hashes: a key that points at another record (as a hash
 * collision would) must never return that record.  Point D7654321's
 * license key at D1234567's row as well, and ask for D7654321.
 */
static void
test_hash_collision_never_returns_another_person(void **state)
{
	struct fixture *fx = *state;
	struct store_query q = { .type = STORE_DRIVER, .by = STORE_BY_LICENSE,
		.license_number = "D7654321" };
	field_mask pub = FIELD_MASK_DRIVER & ~FIELD_MASK_SENSITIVE;
	struct store *s;
	struct got g;
	sqlite3 *db;

	do_import(fx);
	assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	    "INSERT INTO lookup_key SELECT kind, hash, 1 FROM lookup_key"
	    " WHERE kind = 1 AND id = 2", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);
	s = store_open(fx->db, 1);
	assert_non_null(s);
	memset(&g, 0, sizeof g);
	assert_int_equal(store_find(s, &q, pub, 10, collect, &g), 1);
	assert_string_equal(g.lic[0], "D7654321");
	store_close(s);
}

static void
test_strict_keeps_old(void **state)
{
	struct fixture *fx = *state;
	struct store_import_stats st;
	struct store *s;

	do_import(fx);
	s = store_open(fx->db, 1);
	assert_non_null(s);
	assert_false(store_stale(s));
	/* strict stops at the first bad row: the old file stays */
	assert_int_equal(store_import(fx->db, fx->csvdir, 1, &st), -1);
	assert_false(store_stale(s));
	/* a successful re-import replaces the file: open handles see it */
	assert_int_equal(store_import(fx->db, fx->csvdir, 0, &st), 0);
	assert_true(store_stale(s));
	assert_int_equal(store_count(s, STORE_DRIVER), 2); /* old handle still reads */
	store_close(s);
}

/* Vehicles are read by a second thread: its strict stop must fail the
 * whole import too, and keep nothing. */
static void
test_strict_stops_on_a_vehicle(void **state)
{
	struct fixture *fx = *state;
	struct store_import_stats st;
	char drivers[2048];

	snprintf(drivers, sizeof drivers, "%s%s", DHDR,
	    "D7654321,Nguyen,Thi,,,1990-05-05,F,63,120,BRO,BLK,1 A St,Fresno,CA,93701,C,"
	    "STANDARD,VALID,,,2021-03-04,2025-05-05,,,,\r\n");
	write_file(fx->csvdir, "drivers.csv", drivers);
	write_file(fx->csvdir, "history.csv", HHDR);
	assert_int_equal(store_import(fx->db, fx->csvdir, 1, &st), -1);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(access(fx->db, F_OK), -1);
	assert_int_equal(store_import(fx->db, fx->csvdir, 0, &st), 0);
	assert_int_equal(st.drivers, 1);
	assert_int_equal(st.vehicles, 2);
	assert_int_equal(st.rejected, 1);
}

static void
test_bad_header(void **state)
{
	struct fixture *fx = *state;
	struct store_import_stats st;

	write_file(fx->csvdir, "drivers.csv", "license_number,last_name\r\nD1,X\r\n");
	assert_int_equal(store_import(fx->db, fx->csvdir, 0, &st), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_import_and_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strict_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sensitive_empty_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_collision_never_returns_another_person,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_strict_stops_on_a_vehicle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
